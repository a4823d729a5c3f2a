// End-to-end web chat journeys in real headless Chromium against a real
// `switchboard serve --demo` on loopback: a patient on a phone-sized page
// and an agent on the desktop, with the patient's network cut mid-chat.
//
// Usage: node e2e/chat.mjs path/to/switchboard
// Screenshots go to e2e/artifacts/chat-*.png (not committed). With
// @axe-core/playwright in e2e/node_modules the chat page is also checked
// for WCAG 2.1 A/AA problems; without it those checks are skipped, said so.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

// ---------------------------------------------------------------------------
// What the journey assumes of the demo (change here if the seed changes).

/** The demo agent who takes the chat. The journey makes sure, through the
 * configuration API, that this agent has the menu's skill and room for a
 * chat (the seed's kent.agent is Alice: wheelchairs, voice only). */
const AGENT_USER = 'kent.agent';
/** The demo's chat entry point (the wheelchair service: its flow has a menu and no opening hours, so the journey runs at any time of day). */
const ENTRY = 'chat-wheelchairs';
/** The flow's menu button the patient presses, and the skill it needs. */
const MENU_LABEL = 'Speak to an adviser';
const MENU_SKILL = 'Wheelchair service';
const PASSWORD = 'switchboard-demo';
/** Every wait's bound. */
const WAIT = 15000;

// ---------------------------------------------------------------------------

const bin = process.argv[2];
if (!bin) throw new Error('usage: node e2e/chat.mjs path/to/switchboard');
const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
mkdirSync(artifacts, { recursive: true });

const freePort = () => new Promise((ok) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); });
});
const port = await freePort();
const sipPort = await freePort();
const base = `http://127.0.0.1:${port}`;
const data = mkdtempSync(join(tmpdir(), 'sb-e2e-chat-'));
const server = spawn(bin, ['serve', '--demo', '--demo-calls-per-minute', '0', '--sip', `127.0.0.1:${sipPort}`, '--data', data,
  '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'ignore'] });
const stop = () => { server.kill('SIGKILL'); rmSync(data, { recursive: true, force: true }); };

async function waitHealthy() {
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`${base}/healthz`)).ok) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the server did not start');
}

/** An API client with a session cookie. */
async function client(username) {
  const r = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }) });
  assert.equal(r.status, 200, `log in ${username}`);
  const cookie = r.headers.get('set-cookie').split(';')[0];
  return async (method, path, body) => {
    const res = await fetch(base + path, { method, headers: { cookie, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { json = text; }
    return { status: res.status, body: json };
  };
}
async function ok(res, what) {
  const r = await res;
  assert.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A valid NHS number from the test range 999 000 0000–999 999 9999
 * (never issued to anyone): modulus 11 check digit. */
function testNhsNumber(from) {
  for (let n = from; n < 999999999; n++) {
    const nine = String(n).padStart(9, '0');
    let sum = 0;
    for (let i = 0; i < 9; i++) sum += Number(nine[i]) * (10 - i);
    const check = 11 - (sum % 11);
    if (check === 10) continue;
    const ten = nine + String(check === 11 ? 0 : check);
    return `${ten.slice(0, 3)} ${ten.slice(3, 6)} ${ten.slice(6)}`;
  }
  throw new Error('no test number');
}
const NHS = testNhsNumber(999123456);
assert.match(NHS, /^999 \d{3} \d{4}$/);

let AxeBuilder = null;
try {
  AxeBuilder = (await import('@axe-core/playwright')).default;
} catch {
  console.log('note: @axe-core/playwright is not in e2e/node_modules: the accessibility (axe) checks are skipped');
}
/** WCAG 2.1 A and AA problems axe finds on the page, as a failure. */
async function axe(page, what) {
  if (!AxeBuilder) return;
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const found = r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(found, [], `axe found accessibility problems (${what}):\n  ${found.join('\n  ')}`);
  console.log(`axe: ${what}: no violations (${r.passes.length} rules passed)`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

const results = [];
const open = [];
let pageErrors = [];
/** Uncaught errors and CSP refusals in any page: each fails the journey. */
function watch(page, who) {
  page.on('pageerror', (e) => pageErrors.push(`[${who}] ${e.message}`));
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to (apply|execute|load|connect|frame)/i.test(m.text())) pageErrors.push(`[${who}] ${m.text()}`);
  });
}
const shot = (page, name, fullPage = true) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage });

async function journey(name, f) {
  const t0 = Date.now();
  pageErrors = [];
  try {
    await f();
    assert.deepEqual(pageErrors, [], `errors in the page: ${pageErrors.join('; ')}`);
    results.push({ name, ok: true });
    console.log(`PASS ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${e.stack || e}`);
    for (const [who, page] of open) {
      if (!page.isClosed()) await shot(page, `chat-failed-${results.length}-${who}`).catch(() => {});
    }
  }
  for (const [, page] of open) await page.context().close().catch(() => {});
  open.length = 0;
}

/** The agent, logged in through the log-in page, on the desktop. */
async function agentDesktop(username) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB', timezoneId: 'Europe/London' });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  watch(page, username);
  open.push([username, page]);
  await page.goto(base + '/');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(base + '/agent');
  await page.locator('#stream.live').waitFor();
  return page;
}

async function setState(page, value) {
  await page.getByLabel('Set state').selectOption(value);
  await page.getByRole('button', { name: 'Set state' }).click();
  // Ready may be Reserved at once: a waiting chat is offered straight away.
  await page.locator('#my-status', { hasText: value === 'ready' ? /Available|Reserved/ : 'Offline' }).waitFor();
}

/** The patient: a phone-sized browser of their own. */
async function patientPage() {
  const context = await browser.newContext({ viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true,
    locale: 'en-GB', timezoneId: 'Europe/London', acceptDownloads: true });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  watch(page, 'patient');
  open.push(['patient', page]);
  return page;
}

/** The demo's agent can take a chat of the menu's queue: the skill and a
 * chat's room (the seed gives them). */
async function agentCanChat(admin, agentId) {
  const config = await ok(admin('GET', '/api/v1/config'), 'config');
  const skill = config.skills.find((s) => s.name === MENU_SKILL);
  assert.ok(skill, `no skill named ${MENU_SKILL} in the demo`);
  const def = config.agents.find((a) => a.id === agentId);
  assert.ok(def, `no agent a${agentId} in the configuration`);
  const has = def.skills.some(([s, level]) => s === skill.id && level >= 1);
  assert.ok(has && def.capacity.chat >= 1, `the demo's ${AGENT_USER} (a${agentId}) should take ${MENU_SKILL} chats: ${JSON.stringify(def)}`);
}

/** The chat's messages as the page holds them: in order, each once. */
async function checkExactlyOnce(page, texts) {
  const msgs = await page.evaluate(() => window.__chat.messages);
  for (let i = 1; i < msgs.length; i++) {
    assert.ok(msgs[i].seq > msgs[i - 1].seq, `messages out of order or repeated at ${i}: ${JSON.stringify(msgs.map((m) => m.seq))}`);
  }
  assert.deepEqual(msgs.map((m) => m.seq), msgs.map((_, i) => msgs[0].seq + i), `a gap in the messages: ${JSON.stringify(msgs.map((m) => m.seq))}`);
  const at = [];
  for (const t of texts) {
    const found = msgs.filter((m) => m.text === t);
    assert.equal(found.length, 1, `"${t}" shown ${found.length} times in window.__chat.messages, not once`);
    at.push(msgs.indexOf(found[0]));
    const bubbles = await page.locator('#messages li.msg').filter({ hasText: t }).count();
    assert.equal(bubbles, 1, `"${t}" shown in ${bubbles} bubbles, not one`);
  }
  for (let i = 1; i < at.length; i++) assert.ok(at[i] > at[i - 1], `"${texts[i]}" shown before "${texts[i - 1]}"`);
  return msgs;
}

try {
  await waitHealthy();
  const admin = await client('kent.admin');
  const agentApi = await client(AGENT_USER);
  const me = await ok(agentApi('GET', '/api/v1/session'), 'session');
  assert.ok(Number.isInteger(me.agent), `${AGENT_USER} is not an agent`);
  await agentCanChat(admin, me.agent);

  await journey('a patient chats from a phone: a menu, the queue, an agent; the network drops and comes back; the transcript', async () => {
    const REASON = 'My knee has been swollen since a fall on Tuesday';
    const HELLO = 'Hello, how can I help?';
    const MINE = 'It hurts when I walk downstairs';
    const AWAY = ['Can you put any weight on it?', 'Is the swelling getting worse?'];
    const CLINICIAN = 'I am Hana, a nurse practitioner: tell me about the swelling.';
    const PHOTO = 'knee.png';
    /** A valid 1 x 1 PNG. */
    const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

    const patient = await patientPage();
    const agent = await agentDesktop(AGENT_USER);

    // The pre-chat form, named for the service.
    await patient.goto(`${base}/chat/?entry=${ENTRY}`);
    const reason = patient.getByLabel('What would you like help with?');
    await reason.waitFor();
    const service = (await patient.locator('h1').textContent()).trim();
    assert.notEqual(service, 'Chat', 'the page is named for the service');
    assert.equal(await patient.locator('h1').count(), 1, 'one h1');
    assert.equal(await patient.evaluate(() => document.documentElement.scrollWidth <= innerWidth), true, 'no sideways scrolling');
    // A wrong check digit is refused at the field, before the server.
    await reason.fill(REASON);
    const nhs = patient.getByLabel('NHS number (optional)');
    const wrong = NHS.slice(0, -1) + String((Number(NHS.slice(-1)) + 1) % 10);
    await nhs.fill(wrong);
    await patient.getByRole('button', { name: 'Start chat' }).click();
    await patient.locator('#nhs-error', { hasText: 'not a valid NHS number' }).waitFor();
    assert.equal(await nhs.getAttribute('aria-invalid'), 'true');
    assert.match(await nhs.getAttribute('aria-describedby'), /nhs-error/);
    await axe(patient, 'the pre-chat form, with an error');
    await shot(patient, 'chat-form');
    await nhs.fill(NHS);
    await patient.getByLabel('Your name (optional)').fill('Test Patient');
    await patient.getByLabel('Date of birth (optional)').fill('1980-03-31');
    await patient.getByRole('button', { name: 'Start chat' }).click();

    // The flow's menu, then the queue.
    const menu = patient.getByRole('button', { name: MENU_LABEL, exact: true });
    await menu.waitFor();
    await shot(patient, 'chat-menu', false);
    await menu.click();
    await patient.getByText(/You are number \d+ in the queue\. Expected wait: (about \d+ minutes?|less than a minute)/).first().waitFor();
    assert.equal(await menu.isDisabled(), true, 'the menu is closed once chosen');
    await shot(patient, 'chat-queue', false);

    // The agent takes it and sees why the patient wrote.
    await setState(agent, 'ready');
    const offer = agent.locator('section.offer').first();
    await offer.waitFor();
    const contact = await offer.getAttribute('data-contact');
    // Accepted by the keyboard shortcut the desktop lists.
    await agent.locator('#shortcuts summary', { hasText: 'Keyboard shortcuts' }).waitFor();
    assert.equal(await offer.locator('button.accept').getAttribute('aria-keyshortcuts'), 'Alt+Shift+A');
    await agent.keyboard.press('Alt+Shift+A');
    const card = agent.locator(`section[data-contact="${contact}"][data-phase="active"]`);
    const panel = card.locator('.chat-panel');
    await panel.waitFor();
    await panel.getByText(REASON).first().waitFor();
    await panel.locator('textarea').fill(HELLO);
    await panel.locator('.chat-send').click();
    await panel.locator('[role=log]').getByText(HELLO).first().waitFor();

    // The patient sees who joined and what they wrote.
    await patient.getByText(/has joined the chat/).first().waitFor();
    await patient.locator('#messages li.msg', { hasText: HELLO }).waitFor();

    // The patient types (the agent sees it) and sends with Enter.
    const box = patient.getByLabel('Your message');
    await box.click();
    await box.pressSequentially(MINE, { delay: 15 });
    await panel.locator('.chat-typing').filter({ hasText: /\S/ }).waitFor({ state: 'visible' });
    await box.press('Enter');
    await patient.locator('#messages li.msg.from-patient:not(.pending)', { hasText: MINE }).waitFor();
    await panel.locator('[role=log]').getByText(MINE).first().waitFor();
    await shot(agent, 'chat-agent');
    await axe(patient, 'the conversation');
    await axe(agent, 'the agent desktop with a chat');
    await shot(patient, 'chat-conversation', false);
    await checkExactlyOnce(patient, [HELLO, MINE]);

    // The patient sends a photo: it shows as sent in their log and as a
    // picture in the agent's panel (fetched by the agent's session, shown
    // from a blob: URL under the page's CSP).
    const attach = patient.getByLabel('Attach a photo or PDF');
    assert.equal(await attach.getAttribute('type'), 'file', 'the label names the file input');
    await attach.setInputFiles({ name: PHOTO, mimeType: 'image/png', buffer: PNG });
    const photoBubble = patient.locator('#messages li.msg.from-patient.kind-file[data-seq]', { hasText: PHOTO });
    await photoBubble.waitFor();
    assert.equal(await photoBubble.evaluate((n) => n.classList.contains('pending') || n.classList.contains('failed')), false,
      'the photo\'s bubble is neither pending nor failed');
    assert.equal(await patient.locator('#messages li.msg', { hasText: `Sending ${PHOTO}` }).count(), 0, 'the pending bubble became the message');
    const image = panel.locator('img.chat-image');
    await image.waitFor({ state: 'attached' });
    assert.equal(await image.getAttribute('alt'), `Photo from the patient: ${PHOTO}`);
    try {
      await agent.waitForFunction((img) => img.complete && img.naturalWidth > 0, await image.elementHandle(), { timeout: WAIT });
    } catch {
      throw new Error('the photo did not load in the agent\'s panel (is blob: in the CSP\'s img-src? is GET /api/v1/chats/{contact}/files/{file} allowed?)');
    }
    assert.match(await image.getAttribute('src'), /^blob:/);
    await panel.getByRole('button', { name: `Open ${PHOTO}` }).waitFor();
    // The patient downloads their own file back, by the token.
    const gotPhoto = patient.waitForEvent('download', { timeout: WAIT });
    await photoBubble.getByRole('button', { name: `Download ${PHOTO}` }).click();
    const photoFile = await gotPhoto;
    assert.equal(photoFile.suggestedFilename(), PHOTO);
    assert.deepEqual(readFileSync(await photoFile.path()), PNG, 'the downloaded photo is the one sent');
    await shot(agent, 'chat-agent-photo');
    // A text file is refused by its content (415): said in the alert, the bubble not sent.
    await attach.setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await patient.locator('#send-error[role=alert]', { hasText: /notes\.txt.*(PDF|image)/i }).waitFor();
    await patient.locator('#messages li.msg.failed', { hasText: 'notes.txt' }).filter({ hasText: 'Not sent' }).waitFor();
    await shot(patient, 'chat-file-refused', false);
    await checkExactlyOnce(patient, [HELLO, MINE, PHOTO]);

    // The patient's network goes; the agent writes twice; it comes back.
    await patient.context().setOffline(true);
    try {
      await patient.waitForFunction(() => window.__chat.connected === false, null, { timeout: 5000 });
    } catch {
      throw new Error('the chat page did not notice it went offline (window.__chat.connected stayed true)');
    }
    await patient.locator('#conn', { hasText: 'Reconnecting' }).waitFor();
    await shot(patient, 'chat-offline', false);
    for (const t of AWAY) {
      await panel.locator('textarea').fill(t);
      await panel.locator('.chat-send').click();
      await panel.locator('[role=log]').getByText(t).first().waitFor();
    }
    await patient.waitForTimeout(1000);
    assert.equal(await patient.locator('#messages li.msg').filter({ hasText: AWAY[0] }).count(), 0, 'nothing arrives while offline');
    await patient.context().setOffline(false);
    await patient.waitForFunction(() => window.__chat.connected === true);
    for (const t of AWAY) await patient.locator('#messages li.msg', { hasText: t }).waitFor();
    await patient.waitForTimeout(500); // time for a duplicate to show, if one were coming
    await checkExactlyOnce(patient, [HELLO, MINE, PHOTO, ...AWAY]);
    assert.equal((await patient.locator('#conn').textContent()).trim(), '', 'the reconnecting line is gone');
    await shot(patient, 'chat-reconnected', false);

    // Alice passes the patient to Hana, a clinician (a cold transfer to
    // her by name): Hana's desktop shows the whole conversation so far,
    // she writes, and the patient is told who joined.
    const clinician = await agentDesktop('kent.clinician');
    await setState(clinician, 'ready');
    // Found by typing her name in the transfer search: one match, chosen.
    await card.getByLabel('Find a queue or person').fill('hana');
    assert.equal(await card.locator(`#to-${contact}`).inputValue(), 'a:8', 'typing a name chooses the one match');
    await card.locator(`#mode-${contact}`).selectOption('cold');
    await card.locator('button.transfer').click();
    const hanaOffer = clinician.locator(`section.offer[data-contact="${contact}"]`);
    await hanaOffer.waitFor();
    await hanaOffer.locator('.chat-panel [role=log]').getByText(REASON).first().waitFor();
    await hanaOffer.locator('button.accept').click();
    const hanaCard = clinician.locator(`section[data-contact="${contact}"][data-phase="active"]`);
    const hanaPanel = hanaCard.locator('.chat-panel');
    for (const t of [REASON, MINE, ...AWAY]) await hanaPanel.locator('[role=log]').getByText(t).first().waitFor();
    await hanaPanel.locator('textarea').fill(CLINICIAN);
    await hanaPanel.locator('.chat-send').click();
    await patient.getByText(/Hana has joined the chat/).first().waitFor();
    await patient.locator('#messages li.msg', { hasText: CLINICIAN }).waitFor();
    await checkExactlyOnce(patient, [HELLO, MINE, PHOTO, ...AWAY, CLINICIAN]);
    await shot(clinician, 'chat-clinician');

    // The clinician ends it; the patient is told and keeps a transcript.
    await hanaCard.locator('button.end').click();
    await patient.getByRole('heading', { name: 'The chat has ended' }).waitFor();
    assert.equal(await box.isDisabled(), true, 'no writing after the end');
    const download = patient.waitForEvent('download', { timeout: WAIT });
    await patient.getByRole('button', { name: 'Download transcript' }).click();
    const file = await download;
    assert.equal(file.suggestedFilename(), 'chat-transcript.txt');
    const transcript = readFileSync(await file.path(), 'utf8');
    for (const t of [REASON, HELLO, MINE, ...AWAY, CLINICIAN]) assert.ok(transcript.includes(t), `the transcript lacks "${t}":\n${transcript}`);
    await shot(patient, 'chat-ended', false);
    await patient.getByRole('button', { name: 'Start a new chat' }).waitFor();

    // The agent finishes (not the chat's business: told, not failed).
    try {
      const wrap = agent.locator(`section[data-contact="${contact}"][data-phase="wrap_up"]`);
      await wrap.getByLabel('Outcome').selectOption('advice_given', { timeout: 5000 });
      await wrap.getByRole('button', { name: 'Wrap-up done' }).click({ timeout: 5000 });
      await setState(agent, 'offline');
    } catch (e) {
      console.log(`note: the agent's wrap-up after the chat did not complete: ${e.message.split('\n')[0]}`);
    }
  });

  await journey('a patient uses the chat by keyboard alone: the form, a menu button, a message, leaving', async () => {
    const patient = await patientPage();
    await patient.goto(`${base}/chat/?entry=${ENTRY}`);
    await patient.locator('#reason').waitFor();
    /** Tab (forwards) until the focused element matches, at most 40 presses. */
    const tabTo = async (selector) => {
      for (let i = 0; i < 40; i++) {
        if (await patient.evaluate((sel) => document.activeElement?.matches(sel) ?? false, selector)) return;
        await patient.keyboard.press('Tab');
      }
      throw new Error(`Tab never reached ${selector}`);
    };
    await tabTo('#reason');
    await patient.keyboard.type('I need a new cushion for my wheelchair');
    await tabTo('#start-button');
    await patient.keyboard.press('Enter');
    // The menu's buttons take focus by Tab and act on Enter.
    const button = patient.getByRole('button', { name: MENU_LABEL, exact: true });
    await button.waitFor();
    const label = await button.evaluate((b) => { b.dataset.target = '1'; return b.textContent; });
    assert.equal(label.trim(), MENU_LABEL);
    await tabTo('button[data-target="1"]');
    await patient.keyboard.press('Enter');
    await patient.getByText(/You are number \d+ in the queue/).first().waitFor();
    await tabTo('#text');
    await patient.keyboard.type('Typed without a mouse');
    await patient.keyboard.press('Enter');
    await patient.locator('#messages li.msg.from-patient:not(.pending)', { hasText: 'Typed without a mouse' }).waitFor();
    // Leaving: the End chat control and its confirmation, by keyboard.
    const end = patient.getByRole('button', { name: 'End chat' });
    await end.evaluate((b) => { b.dataset.target = 'end'; });
    await tabTo('button[data-target="end"]');
    await patient.keyboard.press('Enter');
    const confirm = patient.getByRole('button', { name: /Yes, end/i });
    await confirm.waitFor();
    await confirm.evaluate((b) => { b.dataset.target = 'yes'; });
    await tabTo('button[data-target="yes"]');
    await patient.keyboard.press('Enter');
    await patient.getByRole('heading', { name: 'The chat has ended' }).waitFor();
    await shot(patient, 'chat-keyboard-ended', false);
  });

  await journey('the widget adds its button to a page with a strict CSP and opens the chat in a frame; Escape closes it', async () => {
    // The trust's page on another origin allows only Switchboard's script and frame.
    const hostPort = await freePort();
    const host = createHttpServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8',
        'content-security-policy': `default-src 'none'; script-src ${base}; frame-src ${base}` });
      res.end(`<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>A trust</title></head>
<body><main><h1>Community physiotherapy</h1><p>Ask us a question.</p></main>
<script src="${base}/chat/widget.js" data-entry="${ENTRY}" data-service="the community services" async></script></body></html>`);
    }).listen(hostPort, '127.0.0.1');
    try {
      const context = await browser.newContext({ viewport: { width: 320, height: 640 }, locale: 'en-GB' });
      context.setDefaultTimeout(WAIT);
      const page = await context.newPage();
      watch(page, 'trust-site');
      open.push(['trust-site', page]);
      // localhost: another origin than Switchboard's 127.0.0.1.
      await page.goto(`http://localhost:${hostPort}/`);
      const button = page.getByRole('button', { name: 'Chat with us' });
      await button.waitFor();
      assert.equal(await button.getAttribute('aria-expanded'), 'false');
      const panelId = await button.getAttribute('aria-controls');
      await button.focus();
      await page.keyboard.press('Enter');
      const frameEl = page.locator('iframe[title="Chat with the community services"]');
      await frameEl.waitFor();
      assert.equal(await frameEl.getAttribute('src'), `${base}/chat/?entry=${ENTRY}`);
      assert.equal(await page.locator(`#${panelId}`).isVisible(), true);
      const frame = page.frameLocator('iframe[title="Chat with the community services"]');
      try {
        await frame.getByLabel('What would you like help with?').waitFor();
      } catch {
        throw new Error('the chat page did not load in the widget\'s frame (is /chat/ sent with frame-ancestors \'none\' or X-Frame-Options: DENY?)');
      }
      const box = await frameEl.boundingBox();
      assert.ok(box.width <= 320 && box.x >= 0, `the frame fits a 320 px screen: ${JSON.stringify(box)}`);
      await shot(page, 'chat-widget', false);
      // Escape inside the chat closes the panel and gives focus back to the button.
      await frame.getByLabel('What would you like help with?').focus();
      await page.keyboard.press('Escape');
      await page.getByRole('button', { name: 'Chat with us' }).waitFor();
      assert.equal(await page.locator(`#${panelId}`).isVisible(), false);
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-expanded')), 'false', 'focus back on the button');
    } finally {
      host.close();
    }
  });
} finally {
  await browser.close();
  stop();
}

const failed = results.filter((r) => !r.ok);
console.log(`${results.length - failed.length}/${results.length} chat journeys passed; screenshots in ${artifacts}`);
process.exit(failed.length ? 1 : 0);
