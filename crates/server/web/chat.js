// @ts-check
// The patient's chat page (served at /chat/, usually inside the widget's
// iframe on a trust's website). Standalone: plain DOM, no framework, no
// build step, nothing inline (the page runs under `default-src 'self'`).
// The protocol is docs/chat.md. Every text from the server or the patient
// goes in with textContent, never as HTML.

const $ = (s, root = document) => root.querySelector(s);

/** An element with attributes and children (strings become text). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const entry = (new URLSearchParams(location.search).get('entry') || '').trim();
const STORE = `switchboard.chat.${entry}`;
const SOCKET_URL = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/chat/v1/socket`;
const MAX_TEXT = 4000;
const MAX_REASON = 500;
/** The largest file the page tries to send (the service's own limit,
 * 5 MiB unless set, is the server's to enforce). */
const MAX_FILE = 20 * 1024 * 1024;
const ATTACH_HINT = 'A photo (PNG, JPEG, GIF or WebP) or a PDF document.';
const TYPING_EVERY_MS = 3000;
const AGENT_TYPING_MS = 6000;
const QUIET_MS = 30000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10000;
const OPEN = 1;
/** Stands for the leave frame among the frames awaiting an answer. */
const LEAVE = '(leave)';
const CONNECTING = 0;

/** Everything the page knows; nothing of it outlives the page but the
 * token in sessionStorage. */
const S = {
  service: '',
  open: true,
  otherWays: [],
  session: null, // {conversation, token}
  ws: null,
  connected: false, // the socket is open and hello has been sent
  everConnected: false,
  connectingSince: 0,
  attempt: 0,
  retryTimer: null,
  lastSeq: 0,
  messages: [], // {seq, from, text}, as shown
  pending: new Map(), // id -> {id, frame, text, node, acked, echoed, failed, upload?, file?}
  failedUploads: new Map(), // id -> a file's item that seemed not to arrive
  noFiles: false, // the service takes no files
  awaiting: [], // ids sent on this socket and not yet answered, in order
  seqToId: new Map(), // acked before their echo came
  ended: false,
  agentName: '',
  agentRead: 0,
  readSent: 0,
  readTimer: null,
  lastFrameAt: 0,
  lastPingAt: 0,
  lastTypingSent: 0,
  typingTimer: null,
  unread: 0,
  baseTitle: document.title,
  choice: null, // {seq, buttons}
  leaveWanted: false,
  checkingToken: false,
};

// For the end-to-end tests: read-only.
window.__chat = Object.freeze({
  get lastSeq() { return S.lastSeq; },
  get connected() { return S.connected; },
  get messages() { return S.messages.map((m) => ({ ...m })); },
});

// ---------------------------------------------------------------------------
// Small helpers.

const hhmm = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** A file's size as people read it: 1 KB at least, MB from 1 MB. */
function fileSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024 * 1024) return `${Math.max(1, Math.round(n / 1024))} KB`;
  const mb = n / (1024 * 1024);
  return `${mb < 10 ? mb.toFixed(1) : Math.round(mb)} MB`;
}

function readSession() {
  try {
    const raw = sessionStorage.getItem(STORE);
    if (!raw) return null;
    const s = JSON.parse(raw);
    return s && typeof s.token === 'string' && s.token ? s : null;
  } catch {
    return null;
  }
}
function saveSession(s) {
  try { sessionStorage.setItem(STORE, JSON.stringify(s)); } catch { /* storage blocked: this page only */ }
}
function clearSession() {
  try { sessionStorage.removeItem(STORE); } catch { /* nothing kept */ }
}

/** The server's refusal as {code, message}: `{error: "...", code?}` (and,
 * defensively, `{error: {code, message}}`). */
async function refusal(r) {
  let data = null;
  try { data = await r.json(); } catch { /* not JSON */ }
  const e = data && data.error;
  if (e && typeof e === 'object') return { code: e.code || null, message: e.message || '', data };
  return { code: (data && data.code) || null, message: typeof e === 'string' ? e : '', data };
}

/** NHS number: ten digits, the last a modulus 11 check digit. */
function nhsValid(digits) {
  if (!/^\d{10}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(digits[i]) * (10 - i);
  const check = 11 - (sum % 11);
  if (check === 10) return false;
  return (check === 11 ? 0 : check) === Number(digits[9]);
}

function localToday() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------
// Screens.

const SCREENS = ['loading', 'unavailable', 'closed', 'start', 'chat'];
function show(name, focus) {
  for (const s of SCREENS) $(`#${s}`).hidden = s !== name;
  document.body.classList.toggle('chatting', name === 'chat');
  if (focus) focus.focus();
}

function setService(name) {
  S.service = name || 'Chat';
  $('#service').textContent = S.service;
  S.baseTitle = `Chat — ${S.service}`;
  document.title = S.baseTitle;
}

function unavailable(text, canRetry) {
  $('#unavailable-text').textContent = text;
  $('#retry').hidden = !canRetry;
  show('unavailable', $('#unavailable-title'));
}

/** A UK number as people write it (+441632960002 → 01632 960002). */
function ukNumber(e164) {
  const m = /^\+44(\d{10})$/.exec(e164);
  if (!m) return e164;
  const n = `0${m[1]}`;
  if (/^02/.test(n)) return `${n.slice(0, 3)} ${n.slice(3, 7)} ${n.slice(7)}`;
  if (/^0[389]/.test(n)) return `${n.slice(0, 4)} ${n.slice(4, 7)} ${n.slice(7)}`;
  return `${n.slice(0, 5)} ${n.slice(5)}`;
}

/** One other way in, or null if it means nothing to a patient (a web
 * entry point's address is a name, not a page). */
function otherWayItem(w) {
  const kind = String(w.kind || '').toLowerCase();
  const address = String(w.address || '').trim();
  if (!address) return null;
  if (kind === 'phone') {
    const num = address.replace(/[^+\d]/g, '');
    return el('li', {}, 'Phone: ', num ? el('a', { href: `tel:${num}` }, ukNumber(address)) : address);
  }
  if (kind === 'email') {
    return el('li', {}, 'Email: ', /^[^\s@]+@[^\s@]+$/.test(address) ? el('a', { href: `mailto:${address}` }, address) : address);
  }
  if (kind === 'web') {
    try {
      const u = new URL(address);
      if (u.protocol === 'https:' || u.protocol === 'http:') return el('li', {}, 'Website: ', el('a', { href: u.href }, address));
    } catch { /* a name, not a page */ }
    return null;
  }
  return null;
}

function showClosed(ways) {
  if (Array.isArray(ways)) S.otherWays = ways;
  const list = $('#other-ways');
  const items = S.otherWays.map(otherWayItem).filter(Boolean);
  list.replaceChildren(...items);
  $('#other-ways-box').hidden = items.length === 0;
  show('closed', $('#closed-title'));
}

// ---------------------------------------------------------------------------
// Start: the entry point, then the form or the conversation.

async function load() {
  show('loading');
  if (!entry) {
    unavailable('The link to this chat is incomplete. Please go back to the website you came from and try again.');
    return;
  }
  let r;
  try {
    r = await fetch(`/chat/v1/entry?address=${encodeURIComponent(entry)}`, { headers: { accept: 'application/json' } });
  } catch {
    unavailable('We could not reach the chat service. Check your internet connection and try again.', true);
    return;
  }
  if (r.status === 404) {
    unavailable('This chat is not available. Please go back to the website you came from to find other ways to contact us.');
    return;
  }
  if (!r.ok) {
    unavailable(`Something went wrong on our side (error ${r.status}). Please try again in a few minutes.`, true);
    return;
  }
  let data;
  try { data = await r.json(); } catch { data = {}; }
  const service = typeof data.service === 'string' ? data.service : data.service && data.service.name;
  setService(service);
  S.open = data.open !== false;
  S.otherWays = Array.isArray(data.other_ways) ? data.other_ways : [];
  S.session = readSession();
  if (S.session) { startConversation(); return; }
  if (!S.open) { showClosed(); return; }
  showForm();
}

function showForm(notice) {
  $('#start-notice').textContent = notice || '';
  $('#dob').max = localToday();
  $('#start-button').disabled = false;
  $('#start-button').textContent = 'Start chat';
  show('start', notice ? $('#start-title') : null);
}

const FIELDS = {
  reason: { input: '#reason', error: '#reason-error', box: '#reason-field' },
  name: { input: '#name', error: '#name-error', box: '#name-field' },
  date_of_birth: { input: '#dob', error: '#dob-error', box: '#dob-field' },
  nhs_number: { input: '#nhs', error: '#nhs-error', box: '#nhs-field' },
};

function clearErrors() {
  for (const f of Object.values(FIELDS)) {
    $(f.error).textContent = '';
    $(f.input).removeAttribute('aria-invalid');
    $(f.box).classList.remove('has-error');
  }
  $('#error-summary').hidden = true;
  $('#error-list').replaceChildren();
  $('#start-error').textContent = '';
}

/** Errors by field name: next to each field, and a summary linking them. */
function showErrors(errors) {
  const names = Object.keys(errors);
  if (!names.length) return;
  for (const n of names) {
    const f = FIELDS[n];
    $(f.error).textContent = errors[n];
    $(f.input).setAttribute('aria-invalid', 'true');
    $(f.box).classList.add('has-error');
  }
  $('#error-list').replaceChildren(...names.map((n) => el('li', {},
    el('a', { href: FIELDS[n].input, onclick: (e) => { e.preventDefault(); $(FIELDS[n].input).focus(); } }, errors[n]))));
  $('#error-summary').hidden = false;
  $(FIELDS[names[0]].input).focus();
}

function validate() {
  const errors = {};
  const reason = $('#reason').value.trim();
  if (!reason) errors.reason = 'Tell us what you would like help with.';
  else if ([...reason].length > MAX_REASON) errors.reason = `What you would like help with must be ${MAX_REASON} characters or fewer.`;
  const dob = $('#dob').value;
  if ($('#dob').validity && $('#dob').validity.badInput) errors.date_of_birth = 'Enter your date of birth as a real date, or leave it blank.';
  else if (dob) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(dob)) errors.date_of_birth = 'Enter your date of birth as a real date, or leave it blank.';
    else if (dob > localToday()) errors.date_of_birth = 'Your date of birth must be in the past.';
    else if (dob < '1900-01-01') errors.date_of_birth = 'Your date of birth must be after 1 January 1900.';
  }
  const nhsRaw = $('#nhs').value.trim();
  if (nhsRaw) {
    const digits = nhsRaw.replace(/\s+/g, '');
    if (!/^\d{10}$/.test(digits)) errors.nhs_number = 'Enter your NHS number as 10 digits, like 485 777 3456, or leave it blank.';
    else if (!nhsValid(digits)) errors.nhs_number = 'This is not a valid NHS number. Check the digits, or leave it blank.';
  }
  return errors;
}

async function submitForm(e) {
  e.preventDefault();
  clearErrors();
  const errors = validate();
  if (Object.keys(errors).length) {
    showErrors(errors);
    return;
  }
  const body = { entry, reason: $('#reason').value.trim() };
  const name = $('#name').value.trim();
  if (name) body.name = name;
  if ($('#dob').value) body.date_of_birth = $('#dob').value;
  const nhs = $('#nhs').value.replace(/\s+/g, '');
  if (nhs) body.nhs_number = nhs;
  const button = $('#start-button');
  button.disabled = true;
  button.textContent = 'Starting…';
  let r;
  try {
    r = await fetch('/chat/v1/conversations', {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body),
    });
  } catch {
    r = null;
  }
  button.disabled = false;
  button.textContent = 'Start chat';
  if (!r) {
    $('#start-error').textContent = 'We could not reach the chat service. Check your internet connection and try again.';
    return;
  }
  if (r.ok) {
    let data = {};
    try { data = await r.json(); } catch { /* checked below */ }
    if (!data.token) {
      $('#start-error').textContent = 'Something went wrong starting the chat. Please try again.';
      return;
    }
    S.session = { conversation: data.conversation, token: data.token };
    saveSession(S.session);
    $('#prechat').reset();
    startConversation();
    return;
  }
  const why = await refusal(r);
  if (r.status === 409 && why.code === 'closed') {
    const ways = why.data && (why.data.other_ways || (why.data.error && why.data.error.other_ways));
    showClosed(Array.isArray(ways) ? ways : undefined);
    return;
  }
  if (r.status === 404) {
    unavailable('This chat is not available. Please go back to the website you came from to find other ways to contact us.');
    return;
  }
  // "field: what is wrong" names a field of the form: shown next to it.
  const m = /^\s*(reason|name|date_of_birth|nhs_number)\s*:\s*(.+)$/s.exec(why.message || '');
  if (m) {
    const text = m[2].trim();
    showErrors({ [m[1]]: text.charAt(0).toUpperCase() + text.slice(1) });
    return;
  }
  $('#start-error').textContent = r.status === 429
    ? 'Too many chats have been started from here. Please wait a minute and try again.'
    : (why.message || `Something went wrong (error ${r.status}). Please try again.`);
}

// ---------------------------------------------------------------------------
// The conversation.

const list = () => $('#messages');
const logBox = () => $('#log');

function startConversation() {
  resetConversation();
  show('chat', logBox());
  setConn();
  connect();
}

/** Forgets the conversation shown (not the token). */
function resetConversation() {
  dropSocket();
  clearTimeout(S.retryTimer);
  S.retryTimer = null;
  S.attempt = 0;
  S.everConnected = false;
  S.lastSeq = 0;
  S.messages = [];
  S.pending.clear();
  S.failedUploads.clear();
  S.noFiles = false;
  S.awaiting = [];
  S.seqToId.clear();
  S.ended = false;
  S.agentName = '';
  S.agentRead = 0;
  S.readSent = 0;
  S.choice = null;
  S.leaveWanted = false;
  S.unread = 0;
  document.title = S.baseTitle;
  list().replaceChildren();
  $('#log').hidden = false;
  setTyping('');
  $('#ended').hidden = true;
  $('#download-error').textContent = '';
  $('#download-status').textContent = '';
  $('#send-error').textContent = '';
  $('#field-hint').textContent = '';
  $('#composer').hidden = false;
  $('#text').disabled = false;
  $('#send').disabled = false;
  $('#attach').disabled = false;
  $('#attach').value = '';
  $('#attach-hint').textContent = ATTACH_HINT;
  $('#text').inputMode = 'text';
  $('#leave-box').hidden = false;
  $('#leave').hidden = false;
  $('#leave').disabled = false;
  $('#leave-confirm').hidden = true;
  setConn();
}

/** The socket refused the token: a conversation that is over (its
 * transcript still answers) shows as ended; otherwise it is gone. */
async function tokenRefused() {
  const session = S.session;
  S.checkingToken = true;
  dropSocket();
  clearTimeout(S.retryTimer);
  S.retryTimer = null;
  if (!session) return;
  let over = false;
  try {
    const r = await fetch('/chat/v1/transcript', { method: 'GET', headers: { authorization: `Bearer ${session.token}` } });
    over = r.ok;
  } catch { /* unknown: treated as gone */ }
  S.checkingToken = false;
  if (S.session !== session) return;
  if (!over) { conversationLost(); return; }
  if (!S.ended) {
    if (!S.messages.length) $('#log').hidden = true;
    showEnded('This chat has ended. You can still download its transcript.');
  }
}

/** The token was refused: the conversation is gone for this page. */
function conversationLost() {
  clearSession();
  S.session = null;
  resetConversation();
  showForm('Your chat could not be found; please start a new one.');
}

// --- The socket --------------------------------------------------------------

function setConn() {
  const c = $('#conn');
  const want = S.session && !S.ended && !S.connected && $('#chat').hidden === false;
  const text = want ? (S.everConnected ? 'Reconnecting…' : 'Connecting…') : '';
  if (c.textContent !== text) c.textContent = text;
}

function connect() {
  if (!S.session || S.ended || S.checkingToken) return;
  if (S.ws && (S.ws.readyState === OPEN || S.ws.readyState === CONNECTING)) return;
  clearTimeout(S.retryTimer);
  S.retryTimer = null;
  let sock;
  try {
    sock = new WebSocket(SOCKET_URL);
  } catch {
    scheduleReconnect();
    return;
  }
  S.ws = sock;
  S.connectingSince = Date.now();
  sock.onopen = () => {
    if (S.ws !== sock) return;
    S.attempt = 0;
    S.lastFrameAt = Date.now();
    S.awaiting = [];
    sock.send(JSON.stringify({ type: 'hello', token: S.session.token, after: S.lastSeq }));
    S.connected = true;
    S.everConnected = true;
    setConn();
    // What the server has not acknowledged goes again, with the same ids
    // (stored once); what has come back already need not.
    for (const item of [...S.pending.values()]) {
      if (item.echoed && !item.acked) { S.pending.delete(item.id); continue; }
      if (!item.acked && !item.failed) sendItem(item);
    }
    if (S.leaveWanted) {
      S.leaveWanted = false;
      if (sendFrame({ type: 'leave' })) S.awaiting.push(LEAVE);
    }
    S.readSent = Math.min(S.readSent, S.lastSeq);
    scheduleRead();
  };
  sock.onmessage = (e) => {
    if (S.ws !== sock) return;
    S.lastFrameAt = Date.now();
    let f;
    try { f = JSON.parse(e.data); } catch { return; }
    if (f && typeof f === 'object') onFrame(f);
  };
  sock.onerror = () => { /* the close follows */ };
  sock.onclose = () => {
    if (S.ws !== sock) return;
    S.ws = null;
    S.connected = false;
    setConn();
    scheduleReconnect();
  };
}

/** Lets go of the socket at once (its late events are ignored). */
function dropSocket() {
  const old = S.ws;
  S.ws = null;
  S.connected = false;
  if (old) {
    try { old.close(); } catch { /* already closing */ }
  }
}

function scheduleReconnect() {
  if (!S.session || S.ended || S.retryTimer) return;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** S.attempt);
  S.attempt += 1;
  const delay = base / 2 + Math.random() * (base / 2);
  S.retryTimer = setTimeout(() => {
    S.retryTimer = null;
    // No network at all: wait for the `online` event (or the next try).
    if (navigator.onLine === false) { scheduleReconnect(); return; }
    connect();
  }, delay);
}

/** Reconnects now unless the socket is open or opening. */
function checkSocket() {
  if (!S.session || S.ended) return;
  if (S.ws && (S.ws.readyState === OPEN || S.ws.readyState === CONNECTING)) return;
  if (S.ws) dropSocket();
  clearTimeout(S.retryTimer);
  S.retryTimer = null;
  connect();
}

/** Starts over on a new socket, resuming after the last message shown. */
function reconnectNow() {
  dropSocket();
  setConn();
  clearTimeout(S.retryTimer);
  S.retryTimer = null;
  connect();
}

function sendFrame(frame) {
  if (!S.connected || !S.ws || S.ws.readyState !== OPEN) return false;
  try {
    S.ws.send(JSON.stringify(frame));
    return true;
  } catch {
    return false;
  }
}

function sendItem(item) {
  if (item.upload) return; // a file goes by its own request
  if (sendFrame(item.frame)) S.awaiting.push(item.id);
}

// Every few seconds: a quiet open socket is nudged (a read receipt the
// server ignores if nothing is new), a dead one is replaced.
setInterval(() => {
  if (!S.session || S.ended) return;
  const now = Date.now();
  const ws = S.ws;
  if (!ws) {
    if (!S.retryTimer && navigator.onLine !== false) connect();
    return;
  }
  if (ws.readyState === CONNECTING) {
    if (now - S.connectingSince > 15000) reconnectNow();
    return;
  }
  if (ws.readyState !== OPEN) { checkSocket(); return; }
  if (now - S.lastFrameAt > QUIET_MS && now - S.lastPingAt > QUIET_MS) {
    S.lastPingAt = now;
    sendFrame({ type: 'read', seq: S.lastSeq });
  } else if (S.lastPingAt > S.lastFrameAt && now - S.lastPingAt > 10000 && ws.bufferedAmount > 0) {
    // The nudge has not even left the browser in 10 s: the line is dead.
    reconnectNow();
  }
}, 5000);

addEventListener('online', checkSocket);
addEventListener('focus', checkSocket);
addEventListener('offline', () => {
  // The socket cannot be trusted any more; reconnect when back online.
  if (!S.ws) return;
  dropSocket();
  setConn();
  scheduleReconnect();
});
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState !== 'visible') return;
  checkSocket();
  S.unread = 0;
  document.title = S.baseTitle;
  scheduleRead();
});

// --- Frames from the server ------------------------------------------------

function onFrame(f) {
  switch (f.type) {
    case 'message': onMessage(f); break;
    case 'ack': onAck(f); break;
    case 'typing': if (f.who !== 'patient') agentTyping(); break;
    case 'read': onRead(f.seq); break;
    case 'error': onError(f); break;
    default: break;
  }
}

function onMessage(m) {
  if (!Number.isInteger(m.seq) || m.seq <= S.lastSeq) return; // shown already
  if (m.seq > S.lastSeq + 1) {
    // A gap (it should not happen): ask again from the last one shown.
    reconnectNow();
    return;
  }
  const nearBottom = isNearBottom();
  S.lastSeq = m.seq;
  render(m);
  if (nearBottom || m.from === 'patient') scrollToEnd();
  if (m.from !== 'patient' && document.visibilityState === 'hidden') {
    S.unread += 1;
    document.title = `(${S.unread}) New message — ${S.service}`;
  }
  scheduleRead();
}

function onAck(f) {
  S.awaiting = S.awaiting.filter((x) => x !== f.id);
  const item = S.pending.get(f.id);
  if (!item) return;
  item.acked = true;
  if (item.echoed) { S.pending.delete(item.id); return; }
  if (Number.isInteger(f.seq) && f.seq <= S.lastSeq) {
    // Stored and shown already, as a message of its own: the pending
    // bubble goes.
    S.pending.delete(item.id);
    item.node.remove();
    return;
  }
  if (Number.isInteger(f.seq)) S.seqToId.set(f.seq, item.id);
  setState(item.node, 'Sent');
}

function onRead(seq) {
  if (!Number.isInteger(seq) || seq <= S.agentRead) return;
  S.agentRead = seq;
  updateSeen();
}

const FRIENDLY = {
  too_fast: 'You are sending messages too quickly. Please wait a few seconds and try again.',
  too_long: `Your message is too long. Messages can be up to ${MAX_TEXT.toLocaleString('en-GB')} characters.`,
  not_now: 'That choice is not available now. Please type your message instead.',
  ended: 'This chat has ended, so you cannot send more messages.',
  bad_frame: 'Something went wrong sending that. Please try again.',
};

function onError(f) {
  if (f.code === 'token') { tokenRefused(); return; }
  $('#send-error').textContent = f.message || FRIENDLY[f.code] || 'Something went wrong. Please try again.';
  if (f.code !== 'bad_frame') {
    // The server answers each frame before it reads the next, and a
    // stored message comes back before that answer: the oldest message
    // neither stored nor refused yet is the one refused.
    const id = S.awaiting.shift();
    const item = id && S.pending.get(id);
    if (item && !item.acked && !item.echoed) markFailed(item);
  }
}

// --- Rendering ---------------------------------------------------------------

/** The words of a message body, as shown (and as the tests read them). */
function describe(body) {
  switch (body.kind) {
    case 'text': return String(body.text ?? '');
    case 'choice': return (body.options || []).map((o) => String(o.label ?? '')).join(' / ');
    case 'field': return String(body.label ?? '');
    case 'position': {
      const s = Number(body.expected_wait_s) || 0;
      const mins = Math.max(1, Math.round(s / 60));
      const wait = s <= 0 ? 'less than a minute' : `about ${mins} minute${mins === 1 ? '' : 's'}`;
      return `You are number ${body.position} in the queue. Expected wait: ${wait}`;
    }
    case 'joined': return `${body.name || 'Someone'} has joined the chat`;
    case 'idle': return `You have not written for a while. The chat will end at ${hhmm(body.ends_at)} unless you reply.`;
    case 'ended': return String(body.reason || 'The chat has ended.');
    case 'file': return String(body.name ?? '');
    default: return '';
  }
}

function whoOf(m) {
  if (m.from === 'patient') return 'You';
  if (m.from === 'agent') return m.name || S.agentName || 'Staff';
  return S.service || 'The service';
}

function metaLine(who, at, state) {
  const d = new Date(at);
  return el('p', { class: 'meta' },
    el('span', { class: 'who' }, who), el('span', { class: 'visually-hidden' }, ', at'), ' ',
    el('time', { datetime: Number.isNaN(d.getTime()) ? null : d.toISOString() }, Number.isNaN(d.getTime()) ? '' : hhmm(d)),
    el('span', { class: 'state' }, state || ''));
}

function setState(node, text) {
  const s = node.querySelector('.state');
  if (s) s.textContent = text ? ` · ${text}` : '';
}

function render(m) {
  const body = m.body && typeof m.body === 'object' ? m.body : { kind: 'text', text: '' };
  const text = describe(body);
  S.messages.push({ seq: m.seq, from: m.from, text });
  // A later message closes the menu before it.
  if (S.choice && m.seq > S.choice.seq) closeChoice();
  if (body.kind !== 'field') {
    $('#field-hint').textContent = '';
    $('#text').inputMode = 'text';
  }
  if (m.from === 'agent') {
    if (m.name) S.agentName = m.name;
    setTyping('');
  }
  if (body.kind === 'joined' && body.name) S.agentName = body.name;

  const claimed = m.from === 'patient' ? claimPending(m, text) : null;
  const node = claimed || el('li');
  node.className = `msg from-${['patient', 'agent', 'system'].includes(m.from) ? m.from : 'system'} kind-${body.kind || 'unknown'}`;
  node.dataset.seq = String(m.seq);
  delete node.dataset.id;
  if (claimed && (body.kind === 'text' || !body.kind)) {
    // The bubble shown while sending becomes the stored message in place
    // (rebuilt, the log would read it out a second time).
    setState(node, '');
    const t = node.querySelector('time');
    const d = new Date(m.at);
    if (t && !Number.isNaN(d.getTime())) {
      t.dateTime = d.toISOString();
      if (t.textContent !== hhmm(d)) t.textContent = hhmm(d);
    }
    const p = node.querySelector('.text');
    if (p && p.textContent !== text) p.textContent = text;
  } else {
    node.replaceChildren(metaLine(whoOf(m), m.at, ''), ...bodyNodes(body, text, m.seq));
  }
  // Confirmed messages go in seq order, before any still being sent.
  list().insertBefore(node, list().querySelector('li.pending'));

  if (body.kind === 'field') {
    const n = Number(body.digits);
    $('#field-hint').textContent = n > 0 ? `Type the ${n} digits in the message box and press Send.` : 'Type your answer in the message box and press Send.';
    $('#text').inputMode = 'numeric';
  }
  if (body.kind === 'ended') showEnded(text);
  updateSeen();
}

function bodyNodes(body, text, seq) {
  switch (body.kind) {
    case 'text':
    case 'position':
    case 'joined':
      return [el('p', { class: 'text' }, text)];
    case 'choice': {
      const options = Array.isArray(body.options) ? body.options : [];
      const buttons = options.map((o) => el('button', { type: 'button', class: 'choice', dataset: { key: String(o.key) } }, String(o.label ?? '')));
      const group = el('div', { class: 'choices', role: 'group', 'aria-label': 'Choose one' }, buttons);
      buttons.forEach((b, i) => b.addEventListener('click', () => choose(options[i], seq)));
      S.choice = { seq, buttons };
      if (S.ended) closeChoice();
      return [el('p', { class: 'text' }, 'Choose one:'), group];
    }
    case 'field':
      return [el('p', { class: 'text' }, text)];
    case 'idle':
      return [el('p', { class: 'text warning' }, el('strong', {}, 'Warning: '), text)];
    case 'ended':
      return [el('p', { class: 'text' }, text)];
    case 'file': return fileNodes(body);
    default:
      return [el('p', { class: 'text' }, 'This message cannot be shown here.')];
  }
}

/** A file in the conversation: its name and size, and a button that
 * downloads it (by the token; the server always sends it as a download). */
function fileNodes(body) {
  const name = String(body.name ?? '') || 'file';
  const id = String(body.id ?? '');
  const button = el('button', { type: 'button', class: 'secondary small file-download', 'aria-label': `Download ${name}` }, 'Download');
  button.addEventListener('click', () => downloadFile(id, name, button));
  return [
    el('p', { class: 'text file-line' }, el('span', { 'aria-hidden': 'true' }, '📎 '), el('span', { class: 'file-name' }, name),
      ` (${fileSize(body.size)})`),
    el('div', { class: 'file-actions' }, button),
  ];
}

async function downloadFile(id, name, button) {
  const err = $('#send-error');
  if (!S.session) { err.textContent = 'The file is no longer available.'; return; }
  if (!/^[0-9a-f]{32}$/.test(id)) { err.textContent = `“${name}” cannot be downloaded.`; return; }
  // Busy, but keeps the focus (a disabled button would drop it).
  if (button.getAttribute('aria-disabled') === 'true') return;
  button.setAttribute('aria-disabled', 'true');
  try {
    let r;
    try {
      r = await fetch(`/chat/v1/attachments/${id}`, { headers: { authorization: `Bearer ${S.session.token}` } });
    } catch {
      err.textContent = 'We could not reach the chat service. Check your internet connection and try again.';
      return;
    }
    if (!r.ok) {
      const why = await refusal(r);
      err.textContent = `“${name}” could not be downloaded: ${why.message || `error ${r.status}`}.`;
      return;
    }
    const blob = await r.blob();
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: name, class: 'visually-hidden', tabindex: '-1' }, name);
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    if (err.textContent.includes(name)) err.textContent = '';
  } catch {
    err.textContent = `“${name}” could not be downloaded. Please try again.`;
  } finally {
    button.removeAttribute('aria-disabled');
  }
}

function closeChoice() {
  if (!S.choice) return;
  const hadFocus = S.choice.buttons.includes(document.activeElement);
  for (const b of S.choice.buttons) b.disabled = true;
  S.choice = null;
  if (hadFocus) (S.ended ? $('#ended-title') : $('#text')).focus();
}

/** The bubble already shown for one of the patient's own messages, if
 * this message is it: by its id (the server sends it back), the ack's
 * seq, else the oldest of the same words. */
function claimPending(m, text) {
  const isFile = m.body && m.body.kind === 'file';
  let item = typeof m.id === 'string' ? S.pending.get(m.id) || null : null;
  if (!item && isFile && typeof m.id === 'string' && S.failedUploads.has(m.id)) {
    // A file that seemed lost on the way had arrived after all.
    item = S.failedUploads.get(m.id);
    S.failedUploads.delete(m.id);
    item.echoed = true;
    item.acked = true;
    return item.node;
  }
  const byAck = S.seqToId.get(m.seq);
  if (byAck) {
    item = item || S.pending.get(byAck) || null;
    S.seqToId.delete(m.seq);
  }
  if (!item) {
    const open = [...S.pending.values()].filter((i) => !i.acked && !i.echoed && !i.failed && !i.upload === !isFile);
    // A menu choice may come back in other words than its label.
    item = open.find((i) => i.text === text) || (open[0] && open[0].frame.type === 'choose' ? open[0] : null);
  }
  if (!item) return null;
  item.echoed = true;
  S.awaiting = S.awaiting.filter((x) => x !== item.id);
  if (item.acked) S.pending.delete(item.id);
  return item.node;
}

function updateSeen() {
  let target = null;
  for (let i = S.messages.length - 1; i >= 0; i--) {
    const m = S.messages[i];
    if (m.from === 'patient' && m.seq <= S.agentRead) { target = m.seq; break; }
  }
  const old = list().querySelector('.seen');
  if (target === null) { if (old) old.remove(); return; }
  const node = list().querySelector(`li[data-seq="${target}"]`);
  if (!node) return;
  if (old && old.parentNode === node) return;
  if (old) old.remove();
  node.append(el('p', { class: 'seen' }, 'Seen'));
}

function setTyping(text) {
  clearTimeout(S.typingTimer);
  const t = $('#typing');
  if (t.textContent !== text) t.textContent = text;
}

function agentTyping() {
  if (S.ended) return;
  setTyping(`${S.agentName || 'Someone'} is typing…`);
  S.typingTimer = setTimeout(() => setTyping(''), AGENT_TYPING_MS);
}

function isNearBottom() {
  const b = logBox();
  return b.scrollHeight - b.scrollTop - b.clientHeight < 80;
}
function scrollToEnd() {
  const b = logBox();
  b.scrollTop = b.scrollHeight;
}

function scheduleRead() {
  clearTimeout(S.readTimer);
  S.readTimer = setTimeout(() => {
    if (document.visibilityState !== 'visible' || !S.connected) return;
    if (S.lastSeq > S.readSent && sendFrame({ type: 'read', seq: S.lastSeq })) S.readSent = S.lastSeq;
  }, 250);
}

// --- Sending -----------------------------------------------------------------

/** Shows a message of the patient's at once ("Sending…") and sends it now
 * or on the next connection, until the server acknowledges it. */
function queueOut(frame, text) {
  const node = el('li', { class: 'msg from-patient pending', dataset: { id: frame.id } },
    metaLine('You', Date.now(), ''), el('p', { class: 'text' }, text));
  setState(node, 'Sending…');
  const item = { id: frame.id, frame, text, node, acked: false, echoed: false, failed: false };
  S.pending.set(frame.id, item);
  list().append(node);
  scrollToEnd();
  sendItem(item);
}

function markFailed(item) {
  item.failed = true;
  S.pending.delete(item.id);
  item.node.classList.remove('pending');
  item.node.classList.add('failed');
  setState(item.node, 'Not sent');
  if (item.upload) { uploadNotSent(item); return; }
  if (item.frame.type === 'text' && !S.ended) {
    item.node.append(el('button', {
      type: 'button', class: 'secondary small', onclick: () => {
        item.node.remove();
        $('#send-error').textContent = '';
        queueOut({ type: 'text', id: newId(), text: item.text }, item.text);
      },
    }, 'Send again'));
  }
}

function sendText() {
  const box = $('#text');
  const text = box.value.trim();
  if (!text) {
    $('#send-error').textContent = 'Type a message first.';
    box.focus();
    return;
  }
  if (text.length > MAX_TEXT) {
    $('#send-error').textContent = FRIENDLY.too_long;
    box.focus();
    return;
  }
  $('#send-error').textContent = '';
  box.value = '';
  queueOut({ type: 'text', id: newId(), text }, text);
  box.focus();
}

function choose(option, seq) {
  if (S.ended || !S.choice || S.choice.seq !== seq) return;
  closeChoice();
  $('#send-error').textContent = '';
  queueOut({ type: 'choose', id: newId(), key: option.key }, String(option.label ?? ''));
  $('#text').focus();
}

// --- Files ---------------------------------------------------------------------

/** A file chosen: shown at once ("Sending…") and sent by its own request;
 * the message that names it comes back on the socket with the same id. */
function attachChosen() {
  const input = $('#attach');
  const file = input.files && input.files[0];
  input.value = ''; // the same file may be chosen again
  if (!file) return;
  const err = $('#send-error');
  if (S.ended || !S.session) { err.textContent = FRIENDLY.ended; return; }
  if (S.noFiles) { err.textContent = 'This service does not take files in its chats.'; return; }
  if (file.size === 0) { err.textContent = `“${file.name}” is empty, so it was not sent.`; return; }
  if (file.size > MAX_FILE) {
    err.textContent = `“${file.name}” is too big to send (${fileSize(file.size)}). Files can be up to ${fileSize(MAX_FILE)}.`;
    return;
  }
  err.textContent = '';
  const id = newId();
  const node = el('li', { class: 'msg from-patient pending kind-file', dataset: { id } },
    metaLine('You', Date.now(), ''), el('p', { class: 'text file-line' }, ''));
  const item = { id, frame: { type: 'file', id }, text: file.name, node, file, upload: true,
    acked: false, echoed: false, failed: false, retryable: true };
  list().append(node);
  scrollToEnd();
  upload(item);
}

/** Sends (or sends again, with the same id: stored once) a file. */
async function upload(item) {
  const session = S.session;
  if (!session || S.ended) return;
  const { node, file } = item;
  Object.assign(item, { acked: false, echoed: false, failed: false, retryable: true });
  S.failedUploads.delete(item.id);
  S.pending.set(item.id, item);
  node.classList.remove('failed');
  node.classList.add('pending');
  for (const b of node.querySelectorAll('button')) b.remove();
  setState(node, 'Sending…');
  node.querySelector('.text').textContent = `Sending ${file.name}…`;
  let r;
  try {
    r = await fetch(`/chat/v1/attachments?name=${encodeURIComponent(file.name)}&id=${encodeURIComponent(item.id)}`, {
      method: 'POST', headers: { authorization: `Bearer ${session.token}` }, body: file,
    });
  } catch {
    if (S.session === session) {
      uploadFailed(item, `“${file.name}” was not sent: we could not reach the chat service. Check your internet connection and try again.`, true);
    }
    return;
  }
  if (S.session !== session) return;
  if (r.ok) {
    let data = null;
    try { data = await r.json(); } catch { /* stored all the same */ }
    uploaded(item, data && data.seq);
    return;
  }
  const why = await refusal(r);
  if (S.session !== session) return;
  const [message, retry] = uploadRefused(r.status, why, file.name);
  uploadFailed(item, message, retry);
}

/** What a refusal of a file says to the patient, and whether trying the
 * same file again could work. */
function uploadRefused(status, why, name) {
  if (status === 429 || why.code === 'too_fast') return [FRIENDLY.too_fast, true];
  if (why.code === 'ended') return [FRIENDLY.ended, false];
  if (status === 413) {
    const m = /(\d+)\s*bytes/.exec(why.message || '');
    return [`“${name}” is too big to send.${m ? ` Files can be up to ${fileSize(Number(m[1]))} here.` : ''}`, false];
  }
  if (status === 409 && !why.code) {
    S.noFiles = true;
    $('#attach').disabled = true;
    $('#attach-hint').textContent = 'This service does not take files in its chats.';
  }
  let text = String(why.message || '').trim() || `error ${status}`;
  if (!/[.!?]$/.test(text)) text += '.';
  return [`“${name}” was not sent: ${text}`, status >= 500];
}

function uploadFailed(item, message, retry) {
  $('#send-error').textContent = message;
  if (item.failed) return; // marked already (the chat ended meanwhile)
  item.retryable = retry;
  markFailed(item);
}

/** A file's bubble marked "Not sent": the same file again if that could
 * work, else another file. */
function uploadNotSent(item) {
  const near = isNearBottom();
  S.failedUploads.set(item.id, item);
  const name = item.file.name;
  item.node.querySelector('.text').textContent = `📎 ${name}`;
  if (S.ended) return;
  if (item.retryable) {
    item.node.append(el('button', {
      type: 'button', class: 'secondary small', 'aria-label': `Try again to send ${name}`, onclick: () => {
        $('#send-error').textContent = '';
        upload(item);
      },
    }, 'Try again'));
  } else if (!S.noFiles) {
    item.node.append(el('button', {
      type: 'button', class: 'secondary small', onclick: () => {
        S.failedUploads.delete(item.id);
        item.node.remove();
        const input = $('#attach');
        input.focus();
        input.click();
      },
    }, 'Choose another file'));
  }
  if (near) scrollToEnd();
}

/** The server stored the file as message `seq`. */
function uploaded(item, seq) {
  if (item.failed || S.pending.get(item.id) !== item) return;
  item.acked = true;
  if (item.echoed) { S.pending.delete(item.id); return; }
  if (Number.isInteger(seq) && seq <= S.lastSeq) {
    // Shown already, as a message of its own.
    S.pending.delete(item.id);
    item.node.remove();
    return;
  }
  if (Number.isInteger(seq)) S.seqToId.set(seq, item.id);
  setState(item.node, 'Sent');
  item.node.querySelector('.text').textContent = `📎 ${item.file.name}`;
}

function typed() {
  const now = Date.now();
  if (!$('#text').value || now - S.lastTypingSent < TYPING_EVERY_MS) return;
  if (sendFrame({ type: 'typing' })) S.lastTypingSent = now;
}

// --- The end -------------------------------------------------------------

function showEnded(reason) {
  const composerHadFocus = $('#chat').contains(document.activeElement) && document.activeElement !== logBox();
  S.ended = true;
  clearTimeout(S.retryTimer);
  S.retryTimer = null;
  closeChoice();
  setTyping('');
  for (const item of [...S.pending.values()]) if (!item.acked && !item.echoed) markFailed(item);
  $('#text').disabled = true;
  $('#send').disabled = true;
  $('#attach').disabled = true;
  $('#composer').hidden = true;
  $('#leave-box').hidden = true;
  $('#field-hint').textContent = '';
  $('#ended-reason').textContent = reason || 'The chat has ended.';
  $('#ended').hidden = false;
  scrollToEnd();
  setConn();
  if (composerHadFocus || document.activeElement === document.body) $('#ended-title').focus();
}

async function downloadTranscript() {
  const status = $('#download-status');
  const err = $('#download-error');
  status.textContent = '';
  err.textContent = '';
  if (!S.session) { err.textContent = 'The transcript is no longer available.'; return; }
  let r;
  try {
    r = await fetch('/chat/v1/transcript', { headers: { authorization: `Bearer ${S.session.token}` } });
  } catch {
    err.textContent = 'We could not reach the chat service. Check your internet connection and try again.';
    return;
  }
  if (!r.ok) {
    const why = await refusal(r);
    err.textContent = why.message ? `The transcript could not be downloaded: ${why.message}` : `The transcript could not be downloaded (error ${r.status}).`;
    return;
  }
  const text = await r.text();
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
  const a = el('a', { href: url, download: 'chat-transcript.txt', class: 'visually-hidden', tabindex: '-1' }, 'Transcript');
  $('#ended').append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  status.textContent = 'The transcript has been downloaded as chat-transcript.txt.';
}

function restart() {
  clearSession();
  S.session = null;
  resetConversation();
  $('#start-notice').textContent = '';
  load().then(() => {
    const focus = $('#start').hidden ? null : $('#reason');
    if (focus) focus.focus();
  });
}

// --- Leaving -------------------------------------------------------------

function askLeave() {
  $('#leave').hidden = true;
  $('#leave-confirm').hidden = false;
  $('#leave-yes').focus();
}
function cancelLeave() {
  $('#leave-confirm').hidden = true;
  $('#leave').hidden = false;
  $('#leave').focus();
}
function leave() {
  $('#leave-confirm').hidden = true;
  $('#leave').hidden = false;
  $('#leave').disabled = true;
  $('#leave').textContent = 'Ending…';
  if (sendFrame({ type: 'leave' })) S.awaiting.push(LEAVE);
  else {
    S.leaveWanted = true;
    checkSocket();
  }
  $('#text').focus();
}

// ---------------------------------------------------------------------------
// Wiring.

$('#prechat').addEventListener('submit', submitForm);
$('#retry').addEventListener('click', load);
$('#composer').addEventListener('submit', (e) => { e.preventDefault(); sendText(); });
$('#text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    sendText();
  }
});
$('#text').addEventListener('input', typed);
$('#attach').addEventListener('change', attachChosen);
$('#leave').addEventListener('click', askLeave);
$('#leave-no').addEventListener('click', cancelLeave);
$('#leave-yes').addEventListener('click', leave);
$('#download').addEventListener('click', downloadTranscript);
$('#restart').addEventListener('click', restart);
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape' || e.defaultPrevented) return;
  if (!$('#leave-confirm').hidden) { cancelLeave(); return; }
  // Inside the widget's frame: Escape closes the panel (the host page
  // cannot see keys pressed in here).
  if (window.parent !== window) window.parent.postMessage({ switchboard: 'chat-close' }, '*');
});

load();
