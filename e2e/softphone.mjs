// Drives the agent desktop's browser phone in headless Chromium for
// crates/switchboard/tests/softphone.rs. Its fake microphone plays a tone
// (a WAV made with sox). Logs in, turns the phone on, sets Available,
// then carries out the test's commands, one per line on stdin, and
// answers each with one JSON line on stdout:
//   status            the phone's status as the page knows it
//   answer            waits for a ringing offer card and clicks Accept
//   far MS            what the agent hears for MS ms: the strongest
//                     frequency of each 100 ms sample (WebAudio analyser)
//   keys DIGITS       types DIGITS into "Keys to send" and sends them
//   mute | unmute     the page's Mute button
//   hold | resume | end   the call card's buttons
//   reconnect         what the page does when the network comes back:
//                     a new peer connection replaces the old one
//   quit
// Usage: node e2e/softphone.mjs BASE USER PASSWORD TONE.wav
import { chromium } from 'playwright-core';
import readline from 'node:readline';

const [base, user, password, tone] = process.argv.slice(2);
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${tone}`,
    '--autoplay-policy=no-user-gesture-required'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));

try {
  await page.goto(`${base}/`);
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${base}/agent`);
  await page.locator('#stream.live').waitFor();
  await page.getByRole('button', { name: 'Use this browser as my phone' }).click();
  await page.waitForFunction(() => window.softphone.status.state === 'connected', null, { timeout: 20000 });
  await page.getByLabel('Set state').selectOption('ready');
  await page.getByRole('button', { name: 'Set state' }).click();
  // Available, or already offered a call that was waiting.
  await page.locator('#my-status', { hasText: /Available|Reserved/ }).waitFor();
  // The microphone list (Chromium's fake devices) and the level meter.
  await page.waitForFunction(() => document.querySelectorAll('#phone-mic option').length > 1, null, { timeout: 10000 });
  say({
    ready: true,
    status: await page.evaluate(() => window.softphone.status),
    microphones: await page.locator('#phone-mic option').allTextContents(),
  });
} catch (e) {
  say({ error: String(e.stack || e), errors });
  await browser.close();
  process.exit(1);
}

const card = () => page.locator('#work section.card').first();
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const [cmd, arg] = line.trim().split(/\s+/);
  try {
    if (cmd === 'quit') break;
    if (cmd === 'status') {
      say({ status: await page.evaluate(() => window.softphone.status), errors });
    } else if (cmd === 'answer') {
      await page.waitForFunction(() => !!window.softphone.status.ringing, null, { timeout: 30000 });
      const ringing = await page.evaluate(() => window.softphone.status.ringing);
      await page.locator('section.card.offer button.accept').click();
      await page.waitForFunction(() => !!window.softphone.status.call, null, { timeout: 10000 });
      say({ answered: ringing, status: await page.evaluate(() => window.softphone.status) });
    } else if (cmd === 'far') {
      const samples = await page.evaluate(async (ms) => {
        const out = [];
        for (let t = 0; t < ms; t += 100) {
          out.push(window.softphone.far());
          await new Promise((r) => setTimeout(r, 100));
        }
        return out;
      }, Number(arg || 2000));
      say({ far: samples });
    } else if (cmd === 'keys') {
      await page.getByLabel('Keys to send to the caller').fill(arg);
      await page.getByRole('button', { name: 'Send keys' }).click();
      await page.locator('#phone-keys-said', { hasText: /Sent|not|no / }).waitFor();
      say({ done: cmd, said: await page.locator('#phone-keys-said').textContent() });
    } else if (cmd === 'mute' || cmd === 'unmute') {
      const want = cmd === 'mute' ? 'Mute' : 'Unmute';
      await page.locator('#phone-mute', { hasText: want }).click();
      await page.waitForTimeout(500);
      say({ done: cmd, muted: await page.evaluate(() => window.softphone.muted), level: await page.locator('#phone-level').evaluate((m) => m.value) });
    } else if (cmd === 'hold' || cmd === 'resume' || cmd === 'end') {
      const name = { hold: 'Hold', resume: 'Resume', end: 'End' }[cmd];
      await card().getByRole('button', { name, exact: true }).click();
      say({ done: cmd });
    } else if (cmd === 'reconnect') {
      const before = await page.evaluate(() => window.softphone.status.version);
      // What the page does when the browser's network comes back.
      await page.evaluate(() => window.dispatchEvent(new Event('online')));
      await page.waitForFunction((v) => window.softphone.status.version !== v && window.softphone.status.state === 'connected', before, { timeout: 20000 });
      say({ done: cmd, status: await page.evaluate(() => window.softphone.status) });
    } else {
      say({ error: `unknown command ${cmd}` });
    }
  } catch (e) {
    say({ error: String(e.stack || e), errors });
  }
}
await browser.close();
