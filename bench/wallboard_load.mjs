// The wallboard at NHS 111 scale (issue 25), against a running server that
// bench/wallboard_load.sh started: fills the demo trust with AGENTS ready
// agents and WAITING waiting email contacts, then measures
//   1. the routing probe: a voice call arrives (POST /contacts, committed,
//      routed at once to a free agent: the answer carries the offer) and is
//      abandoned (a second committed write), 50 a second, with nothing else
//      going on, then while 100 wallboards are subscribed and 20
//      integrations poll GET /kpis as fast as they can;
//   2. 1,000 wallboards subscribed: how long after a contact arrives every
//      one of them shows it.
// Prints one line per figure (p50/p99 in ms). Old servers without the
// subscription (MODE=poll): the wallboards poll /kpis every 200 ms, as the
// page then did.
//
// Usage: SB_COOKIE=... SB_ADMIN=... SB_BEARER=... node bench/wallboard_load.mjs HOST:PORT
import http from 'node:http';
import { readFileSync } from 'node:fs';

const [addr] = process.argv.slice(2);
const [host, port] = addr.split(':');
const AGENTS = Number(process.env.AGENTS || 5000);
const WAITING = Number(process.env.WAITING || 50000);
const MODE = process.env.MODE || 'stream';
const PID = process.env.PID;
const cookie = process.env.SB_COOKIE;
const admin = process.env.SB_ADMIN;
const bearer = process.env.SB_BEARER;
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function req(method, path, body, auth) {
  return new Promise((ok, fail) => {
    const headers = { 'content-type': 'application/json' };
    if (auth.startsWith('Bearer ')) headers.authorization = auth; else headers.cookie = auth;
    const data = body === undefined ? undefined : JSON.stringify(body);
    if (data) headers['content-length'] = Buffer.byteLength(data);
    const r = http.request({ host, port: Number(port), method, path, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    r.on('error', fail);
    if (data) r.write(data);
    r.end();
  });
}

async function must(method, path, body, auth, want = [200, 201]) {
  const r = await req(method, path, body, auth);
  if (!want.includes(r.status)) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 300)}`);
  return r.text ? JSON.parse(r.text) : null;
}

/** Runs `f(i)` for i in 0..n with `c` at a time. */
async function pool(n, c, f) {
  let next = 0;
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < n) { const i = next++; await f(i); }
  }));
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const ms = (x) => x.toFixed(2);
const rss = () => {
  if (!PID) return 'n/a';
  const m = readFileSync(`/proc/${PID}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return `${Math.round(Number(m[1]) / 1024)} MiB`;
};
const now = () => Number(process.hrtime.bigint()) / 1e6;

// --- set-up -----------------------------------------------------------------
const queues = (await must('GET', '/api/v1/queues', undefined, cookie)).queues;
const qid = (name) => queues.find((q) => q.name === name).id;
const PHYSIO = qid('Physiotherapy');
// The waiting contacts go to the queues none of the new agents serve
// (each demo queue holds at most 10,000).
const PARKED = queues.filter((q) => q.name !== 'Physiotherapy').map((q) => q.id);
const before = (await must('GET', '/api/v1/agents', undefined, cookie)).agents;
await pool(before.length, 8, (i) => must('POST', `/api/v1/agents/${before[i].id}/presence`, { presence: 'offline' }, cookie));
let t = now();
await pool(AGENTS, 16, (i) => must('PUT', `/api/v1/agents/${10001 + i}`, {
  id: 10001 + i, name: `Agent ${10001 + i}`, team: 1, site: 1, skills: [[3, 1]],
  capacity: { voice: 1, chat: 0, email: 0, sms: 0, voice_exclusive: true },
}, admin));
await pool(AGENTS, 16, (i) => must('POST', `/api/v1/agents/${10001 + i}/presence`, { presence: 'ready' }, cookie));
console.log(`set-up: ${AGENTS} agents created and ready in ${((now() - t) / 1000).toFixed(1)} s`);
t = now();
await pool(WAITING, 32, (i) => must('POST', '/api/v1/contacts', { queue: PARKED[i % PARKED.length], channel: 'email' }, bearer));
const board = await must('GET', '/api/v1/kpis', undefined, cookie);
const waitingNow = board.queues.reduce((s, q) => s + q.waiting, 0);
console.log(`set-up: ${WAITING} email contacts in ${((now() - t) / 1000).toFixed(1)} s; waiting now ${waitingNow}; server RSS ${rss()}`);

// --- the routing probe ------------------------------------------------------
async function probe(seconds, rate) {
  const arrive = []; const abandon = []; let unrouted = 0;
  const end = now() + seconds * 1000;
  let due = now();
  while (now() < end) {
    const t0 = now();
    const r = await must('POST', '/api/v1/contacts', { queue: PHYSIO, channel: 'voice' }, bearer);
    arrive.push(now() - t0);
    if (!r.events.some((e) => e.event && e.event.offered)) unrouted++;
    const t1 = now();
    await must('POST', `/api/v1/contacts/${r.id}/abandon`, undefined, bearer);
    abandon.push(now() - t1);
    due += 1000 / rate;
    const wait = due - now();
    if (wait > 0) await new Promise((ok) => setTimeout(ok, wait));
  }
  return { arrive, abandon, unrouted };
}
const line = (name, p) => console.log(`${name}: arrive+route p50=${ms(pct(p.arrive, 50))} p99=${ms(pct(p.arrive, 99))} ms; ` +
  `abandon (write) p50=${ms(pct(p.abandon, 50))} p99=${ms(pct(p.abandon, 99))} ms; samples=${p.arrive.length} not routed=${p.unrouted}`);

line('idle', await probe(15, 50));

// --- wallboards subscribed, integrations polling ------------------------------
/** A subscribed wallboard: counts `kpis` frames, keeps the last. */
function subscribe(onFrame) {
  return new Promise((ok, fail) => {
    const r = http.request({ host, port: Number(port), path: '/api/v1/kpis/stream', headers: { cookie } }, (res) => {
      if (res.statusCode !== 200) { fail(new Error(`stream ${res.statusCode}`)); return; }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        let at;
        while ((at = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, at); buf = buf.slice(at + 2);
          if (block.startsWith('event: kpis\ndata: ')) onFrame(block.slice(18));
        }
      });
      ok(r);
    });
    r.on('error', fail);
    r.end();
  });
}
/** A wallboard of the old page: GET /kpis every 200 ms. */
function poller(stop, onFrame) {
  return (async () => {
    while (!stop.done) {
      const r = await req('GET', '/api/v1/kpis', undefined, cookie);
      onFrame(r.text);
      await new Promise((ok) => setTimeout(ok, 200));
    }
  })();
}

async function wallboards(n, onFrame) {
  const stop = { done: false };
  const conns = [];
  if (MODE === 'stream') {
    for (let i = 0; i < n; i += 100) {
      conns.push(...await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, k) => subscribe((f) => onFrame(i + k, f)))));
    }
  } else {
    for (let i = 0; i < n; i++) conns.push(poller(stop, (f) => onFrame(i, f)));
  }
  return () => { stop.done = true; for (const c of conns) if (c.destroy) c.destroy(); };
}

let frames = 0;
const closeBoards = await wallboards(100, () => { frames++; });
const stopPolls = { done: false };
let polls = 0;
const pollers = Array.from({ length: 20 }, async () => {
  while (!stopPolls.done) { await req('GET', '/api/v1/kpis', undefined, cookie); polls++; }
});
await new Promise((ok) => setTimeout(ok, 1000));
frames = 0; polls = 0;
const loaded = await probe(15, 50);
const rate = (x) => Math.round(x / 15);
line('100 wallboards + 20 integrations polling', loaded);
console.log(`  meanwhile: integrations' GET /kpis ${rate(polls)}/s, wallboard frames ${rate(frames)}/s in all; server RSS ${rss()}`);
stopPolls.done = true;
await Promise.all(pollers);
closeBoards();

// --- 1,000 wallboards ------------------------------------------------------
const N = 1000;
const lastWaiting = new Float64Array(N);
const seenAt = new Float64Array(N);
let target = -1; let posted = 0;
const close = await wallboards(N, (i, f) => {
  if (seenAt[i] || target < 0) return;
  try {
    const k = JSON.parse(f);
    const w = k.today.offered;
    lastWaiting[i] = w;
    if (w >= target) seenAt[i] = now();
  } catch { /* an error answer */ }
});
await new Promise((ok) => setTimeout(ok, 2000));
const b0 = await must('GET', '/api/v1/kpis', undefined, cookie);
// A call arrives (and is offered to a free agent): today's offered
// count goes up by one on every wallboard.
target = b0.today.offered + 1;
posted = now();
await must('POST', '/api/v1/contacts', { queue: PHYSIO, channel: 'voice' }, bearer);
const deadline = now() + 30000;
while (seenAt.some((x) => !x) && now() < deadline) await new Promise((ok) => setTimeout(ok, 20));
const lags = [...seenAt].filter((x) => x).map((x) => x - posted);
console.log(`${N} wallboards (${MODE}): a new contact shown on ${lags.length}/${N}: p50=${ms(pct(lags, 50))} p99=${ms(pct(lags, 99))} max=${ms(Math.max(...lags))} ms after the POST; server RSS ${rss()}`);
close();
agent.destroy();
process.exit(0);
