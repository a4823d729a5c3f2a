// How many live-stream subscribers one server holds while events flow (a
// faster client than sse_subscribers.py: Node's event loop, raw sockets).
// Opens N connections to GET /api/v1/events, creates M contacts, counts
// the `record` events every subscriber received. The server chooses the
// contacts' ids.
//
// Usage: SB_COOKIE=... SB_BEARER=... node bench/sse_subscribers.mjs HOST:PORT N M
import net from 'node:net';

const [addr, nArg, mArg] = process.argv.slice(2);
const [host, port] = addr.split(':');
const n = Number(nArg);
const m = Number(mArg);
const cookie = process.env.SB_COOKIE || '';
const bearer = process.env.SB_BEARER || '';
const counts = new Uint32Array(n);
const sockets = [];

function subscribe(i) {
  return new Promise((ok, fail) => {
    const s = net.connect(Number(port), host, () => {
      s.write(`GET /api/v1/events HTTP/1.1\r\nHost: ${host}\r\nCookie: ${cookie}\r\n\r\n`);
      ok();
    });
    s.on('error', fail);
    let tail = '';
    s.on('data', (d) => {
      const text = tail + d.toString('latin1');
      let k = 0;
      let at = text.indexOf('event: record', 0);
      while (at >= 0) { k++; at = text.indexOf('event: record', at + 13); }
      counts[i] += k;
      tail = text.slice(-12);
    });
    sockets.push(s);
  });
}

function post(body) {
  return new Promise((ok, fail) => {
    const s = net.connect(Number(port), host, () => {
      s.write(`POST /api/v1/contacts HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${bearer}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    });
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('end', () => ok({ status: Number(out.split(' ')[1]), events: (out.match(/"seq":/g) || []).length }));
    s.on('error', fail);
  });
}

const t0 = Date.now();
for (let i = 0; i < n; i += 200) {
  await Promise.all(Array.from({ length: Math.min(200, n - i) }, (_, k) => subscribe(i + k)));
}
const opened = Date.now() - t0;
await new Promise((r) => setTimeout(r, 1000));
let sent = 0;
const t1 = Date.now();
for (let k = 0; k < m; k++) {
  const r = await post(`{"queue":${2 + (k % 5)}}`);
  if (r.status !== 201) throw new Error(`status ${r.status}`);
  sent += r.events;
}
const deadline = Date.now() + 60_000;
const slowest = () => counts.reduce((a, b) => Math.min(a, b), Infinity);
while (slowest() < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
const took = (Date.now() - t1) / 1000;
console.log(`subscribers=${n} opened_in_ms=${opened} events_sent=${sent} slowest_got=${slowest()} ` +
  `all_got_all=${slowest() >= sent} seconds=${took.toFixed(2)} deliveries_per_s=${Math.round((n * sent) / took)}`);
for (const s of sockets) s.destroy();
process.exit(0);
