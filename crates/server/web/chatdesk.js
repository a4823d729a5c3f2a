// @ts-check
// The agent's side of web chat on the agent desktop: one panel per chat
// contact, kept across the card's re-renders (offered → active → wrap-up:
// the same live element moves into the new card). Each panel long-polls
// GET /api/v1/chats/{contact}, shows every message once and in order,
// the patient typing and what the patient has seen, and (while the chat is
// with this agent) writes, says the agent is typing, and sends read
// receipts. Protocol: docs/chat.md ("The agent's API").
//
// window.chatDesk = { panel(contact, phase, agentId), forget(contact),
// unreadTotal() }; phase is 'offered', 'active' or 'wrap_up'.
// Self-contained (it imports nothing: it loads before agent.js); all text
// goes in with textContent only.

const WAIT_S = 20;
/** Long-polls held at once: the server speaks HTTP/1.1 (six connections
 * per origin in browsers, one of them the event stream), so panels beyond
 * these poll briefly every POLL_MS instead of holding a connection. */
const MAX_WAITING = 3;
const POLL_MS = 1500;
const RETRY_MS = 1000;
const RETRY_MAX_MS = 10000;
const TYPING_EVERY_MS = 3000;
/** The server counts the patient as typing for 5 s after a signal. */
const TYPING_SHOWN_MS = 5500;
const READ_EVERY_MS = 1000;
const ALERTS = 'switchboard.offer-alerts';
const MAX_TEXT = 4000;

const ORIGINAL_TITLE = document.title;
const panels = new Map(); // contact -> state
let waiting = 0;
let titled = false;

/** The organisation's quick replies, read once per page. */
let quickList = null;
function quickReplies() {
  if (!quickList) {
    quickList = call('GET', '/api/v1/quick-replies').then((r) => (r.ok ? r.data.replies : []));
  }
  return quickList;
}

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
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** Calls the API: {ok, status, data}; status 0 when the server cannot be
 * reached (or the call was cancelled). A lost session goes to log-in. */
async function call(method, path, body, signal) {
  /** @type {RequestInit & { headers: Record<string, string> }} */
  const init = { method, credentials: 'same-origin', headers: {}, signal };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  let text;
  try {
    r = await fetch(path, init);
    text = await r.text();
  } catch {
    return { ok: false, status: 0, data: { error: 'the server cannot be reached' } };
  }
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (r.status === 401) location.href = '/?next=' + encodeURIComponent(location.pathname);
  return { ok: r.ok, status: r.status, data };
}

const errorOf = (res) => (res.data && res.data.error) || `failed (${res.status})`;
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const hhmm = (ms) => new Date(ms).toLocaleTimeString('en-GB', { timeZone: 'Europe/London', hour: '2-digit', minute: '2-digit' });

function newId() {
  if (window.crypto?.randomUUID) return crypto.randomUUID();
  // Outside a secure context: a version-4 UUID by hand.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** What a message says, as one line of text. */
function words(body) {
  switch (body?.kind) {
    case 'text': return body.text;
    case 'choice': return `Options shown: ${(body.options || []).map((o) => o.label).join(' / ')}`;
    case 'field': return `Asked for: ${body.label}`;
    case 'position': return `Waiting: number ${body.position}`;
    case 'joined': return `${body.name} joined`;
    case 'idle': return `Patient warned: no reply, chat ends at ${hhmm(body.ends_at)}`;
    case 'ended': return body.reason || 'The chat has ended.';
    case 'file': return `File: ${body.name} (${fileSize(body.size)})`;
    default: return '(a message this desktop cannot show)';
  }
}

/** A file's size as people read it: 1 KB at least, MB from 1 MB. */
function fileSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024 * 1024) return `${Math.max(1, Math.round(n / 1024))} KB`;
  const mb = n / (1024 * 1024);
  return `${mb < 10 ? mb.toFixed(1) : Math.round(mb)} MB`;
}

function whoOf(m, agentId) {
  if (m.from === 'patient') return 'Patient';
  if (m.from === 'agent') return m.agent === agentId ? 'You' : (m.name || 'Agent');
  return 'Service';
}

function bubble(m, agentId, s) {
  const mine = m.from === 'agent' && m.agent === agentId;
  const file = m.body?.kind === 'file' && s;
  return el('div', { class: `chat-msg from-${m.from === 'patient' || m.from === 'agent' ? m.from : 'system'}${mine ? ' mine' : ''}${file ? ' chat-file-msg' : ''}`,
    dataset: { seq: m.seq } },
  el('p', { class: 'chat-meta' }, el('span', { class: 'chat-who' }, whoOf(m, agentId)), ' ',
    el('time', { class: 'chat-time', datetime: new Date(m.at).toISOString() }, hhmm(m.at))),
  file ? fileNodes(s, m.body) : el('p', { class: 'chat-text' }, words(m.body)));
}

// --- files the patient sent ------------------------------------------------------

/** A file's bytes as an object URL, fetched once per panel (each fetch is
 * audited) and revoked when the panel is forgotten. */
function fileUrl(s, body) {
  let got = s.files.get(body.id);
  if (!got) {
    got = (async () => {
      let r;
      try {
        r = await fetch(`/api/v1/chats/${s.contact}/files/${encodeURIComponent(body.id)}`,
          { credentials: 'same-origin', signal: s.filesAbort.signal });
      } catch {
        throw new Error(s.forgotten ? 'forgotten' : 'the server cannot be reached');
      }
      if (r.status === 401) location.href = '/?next=' + encodeURIComponent(location.pathname);
      if (!r.ok) {
        let why = '';
        try { why = (await r.json()).error || ''; } catch { /* not JSON */ }
        throw new Error(why || `failed (${r.status})`);
      }
      const blob = await r.blob();
      if (s.forgotten) throw new Error('forgotten');
      const url = URL.createObjectURL(blob);
      s.urls.push(url);
      return url;
    })();
    s.files.set(body.id, got);
    // A failure is not kept: the next look asks again.
    got.catch(() => { if (s.files.get(body.id) === got) s.files.delete(body.id); });
  }
  return got;
}

/** The file downloaded under its own name (the browser's download). */
async function openFile(s, body, button, error) {
  button.setAttribute('aria-disabled', 'true');
  error.textContent = '';
  try {
    const url = await fileUrl(s, body);
    const a = el('a', { href: url, download: body.name || 'file', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (e) {
    if (!s.forgotten) error.textContent = `The file could not be opened: ${e.message}`;
  } finally {
    button.removeAttribute('aria-disabled');
  }
}

/** A file in the log: a photo as a picture (fetched now), a PDF as its name
 * and size; each with a button that opens it. */
function fileNodes(s, body) {
  const name = String(body.name ?? '') || 'file';
  const image = typeof body.mime === 'string' && body.mime.startsWith('image/');
  const error = el('p', { class: 'field-error chat-file-error' });
  const button = el('button', { type: 'button', class: 'secondary chat-file-open', 'aria-label': `Open ${name}` }, 'Open');
  button.addEventListener('click', () => {
    if (button.getAttribute('aria-disabled') !== 'true') openFile(s, body, button, error);
  });
  const line = el('p', { class: 'chat-text chat-file' }, el('span', { 'aria-hidden': 'true' }, '📎 '), name, ` (${fileSize(body.size)})`);
  if (!image) return [line, el('p', { class: 'chat-file-actions' }, button), error];
  const img = el('img', { class: 'chat-image', alt: `Photo from the patient: ${name}`, hidden: true });
  const loading = el('p', { class: 'chat-pending' }, 'Loading the photo…');
  img.addEventListener('load', () => { img.hidden = false; loading.remove(); atBottom(s); });
  img.addEventListener('error', () => { loading.textContent = 'The photo cannot be shown here: open it instead.'; });
  fileUrl(s, body).then((url) => { img.src = url; }, (e) => {
    if (s.forgotten) return;
    loading.textContent = '';
    loading.remove();
    error.textContent = `The photo could not be loaded: ${e.message}`;
  });
  return [img, loading, line, el('p', { class: 'chat-file-actions' }, button), error];
}

// --- one panel -------------------------------------------------------------------

function make(contact, agentId) {
  const c = String(contact);
  const s = {
    contact, agentId, phase: 'offered', stage: null,
    last: 0, loaded: false, stopped: false, forgotten: false, gone: false,
    abort: new AbortController(),
    files: new Map(), // file id -> Promise of its object URL
    urls: [], // object URLs made, revoked on forget
    filesAbort: new AbortController(), // outlives the poll: files open after the end
    unread: 0, patientMax: 0, readSent: 0, readTimer: null, readAt: 0,
    patientRead: 0, agentMsgs: [], // [seq, node] of agents' messages, in order
    pending: new Map(), // message id -> its bubble, until the poll brings it
    retry: null, // {id, text} of a send that failed
    sending: false, typingAt: 0, typingTimer: null, stick: true,
  };
  s.log = el('div', { role: 'log', 'aria-label': 'Chat with the patient', class: 'chat-log', tabindex: '0' });
  s.seen = el('p', { class: 'chat-seen' }, 'Seen');
  s.typing = el('p', { class: 'chat-typing', 'aria-live': 'polite', hidden: true }, 'The patient is typing…');
  s.badge = el('span', { class: 'chat-unread', hidden: true });
  s.note = el('p', { class: 'hint chat-note' });
  s.conn = el('p', { class: 'hint chat-conn', role: 'status' });
  s.input = el('textarea', { id: `chat-input-${c}`, class: 'chat-input', rows: 3, maxlength: MAX_TEXT,
    'aria-describedby': `chat-hint-${c} chat-error-${c}` });
  s.send = el('button', { type: 'button', class: 'chat-send' }, 'Send');
  s.error = el('p', { class: 'field-error', role: 'alert', id: `chat-error-${c}` });
  // Quick replies (the admin's list): one picked is put in the box, to
  // change before sending.
  s.quick = el('select', { id: `chat-quick-${c}`, class: 'chat-quick' }, el('option', { value: '' }, 'Choose…'));
  quickReplies().then((list) => {
    s.quick.append(...list.map((r, i) => el('option', { value: String(i) }, r.title)));
    s.quickRow.hidden = list.length === 0;
  });
  s.quick.addEventListener('change', async () => {
    const list = await quickReplies();
    const r = list[Number(s.quick.value)];
    if (r && s.quick.value !== '') {
      s.input.value = s.input.value.trim() ? `${s.input.value.trimEnd()} ${r.text}` : r.text;
      s.retry = null;
      s.input.focus();
    }
    s.quick.value = '';
  });
  s.quickRow = el('div', { class: 'chat-quick-row', hidden: true },
    el('label', { for: `chat-quick-${c}` }, 'Quick reply'), s.quick);
  s.compose = el('div', { class: 'chat-compose', hidden: true },
    s.quickRow,
    el('label', { for: `chat-input-${c}` }, 'Reply to the patient'),
    el('p', { class: 'hint', id: `chat-hint-${c}` }, 'Enter sends; Shift+Enter starts a new line.'),
    s.input, el('div', { class: 'row' }, s.send));
  s.node = el('div', { class: 'chat-panel', role: 'region', 'aria-label': `Chat, contact ${c}`, dataset: { contact: c } },
    el('p', { class: 'chat-bar' }, el('strong', {}, 'Chat'), ' ', s.badge),
    s.log, s.typing, s.note, s.conn, s.compose, s.error);

  s.log.addEventListener('scroll', () => {
    s.stick = s.log.scrollHeight - s.log.scrollTop - s.log.clientHeight < 40;
  });
  s.node.addEventListener('focusin', () => clearUnread(s));
  s.input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send(s);
    }
  });
  s.input.addEventListener('input', () => typing(s));
  s.send.addEventListener('click', () => send(s));
  return s;
}

/** Writable only while the chat is with this agent and not over. */
function mode(s) {
  const writable = s.phase === 'active' && s.stage !== 'ended' && !s.gone;
  s.node.dataset.phase = s.phase;
  s.compose.hidden = !writable;
  s.note.textContent = writable ? ''
    : s.phase === 'offered' ? (s.gone || s.stage === 'ended' ? 'The chat has ended.' : 'Read-only: accept to reply.')
      : 'The chat has ended: read-only.';
  s.note.hidden = writable;
  if (s.stage === 'ended' || s.gone) showTyping(s, false);
}

function showTyping(s, on) {
  clearTimeout(s.typingTimer);
  s.typing.hidden = !on;
  if (on) s.typingTimer = setTimeout(() => { s.typing.hidden = true; }, TYPING_SHOWN_MS);
}

function atBottom(s) {
  if (s.stick) s.log.scrollTop = s.log.scrollHeight;
}

/** Where new numbered messages go: before the first still-pending one. */
function insert(s, node) {
  const first = s.log.querySelector('.chat-msg.pending');
  s.log.insertBefore(node, first);
}

/** The "Seen" marker: under the last agent's message the patient has seen. */
function placeSeen(s) {
  for (let k = s.agentMsgs.length - 1; k >= 0; k--) {
    const [seq, node] = s.agentMsgs[k];
    if (seq <= s.patientRead) {
      if (s.seen.parentNode !== node) node.append(s.seen);
      return;
    }
  }
  s.seen.remove();
}

/** A poll's answer: new messages once each, in order; typing; seen. */
function apply(s, view) {
  const first = !s.loaded;
  s.loaded = true;
  if (first) s.conn.textContent = '';
  s.stage = view.stage;
  let fromPatient = 0;
  for (const m of view.messages || []) {
    if (m.seq <= s.last) continue;
    s.last = m.seq;
    const wait = m.id !== undefined && s.pending.get(m.id);
    let node;
    if (wait) {
      // Our own message back from the server: the pending bubble becomes it.
      s.pending.delete(m.id);
      node = bubble(m, s.agentId, s);
      wait.replaceWith(node);
      const before = s.log.querySelector('.chat-msg.pending');
      if (before && (before.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING)) s.log.insertBefore(node, before);
    } else {
      node = bubble(m, s.agentId, s);
      insert(s, node);
    }
    if (s.retry && m.id === s.retry.id) {
      // A send that seemed to fail had arrived: it is not sent twice.
      if (s.input.value === s.retry.text) s.input.value = '';
      s.retry = null;
      s.error.textContent = '';
    }
    if (m.from === 'agent') s.agentMsgs.push([m.seq, node]);
    if (m.from === 'patient') { fromPatient++; s.patientMax = m.seq; }
  }
  s.patientRead = Math.max(s.patientRead, view.patient_read || 0);
  placeSeen(s);
  showTyping(s, !!view.patient_typing && !fromPatient && view.stage !== 'ended');
  mode(s);
  atBottom(s);
  if (fromPatient && !first) arrived(s, fromPatient);
  markRead(s);
}

/** New words from the patient: unread unless the agent is in the box. */
function arrived(s, n) {
  const inBox = document.activeElement === s.input;
  if (!document.hidden && inBox) return;
  s.unread += n;
  badge(s);
  if (localStorage.getItem(ALERTS) !== 'off') window.chime?.();
  const a = document.getElementById('announce');
  if (a) {
    a.textContent = '';
    setTimeout(() => { a.textContent = `New message from the patient in chat contact ${s.contact}`; }, 50);
  }
  retitle();
}

function badge(s) {
  s.badge.hidden = s.unread === 0;
  s.badge.textContent = s.unread ? `${s.unread} unread` : '';
}

function clearUnread(s) {
  if (!s.unread) return;
  s.unread = 0;
  badge(s);
  retitle();
}

function unreadTotal() {
  let n = 0;
  for (const s of panels.values()) n += s.unread;
  return n;
}

/** The page's title says so while hidden with unread messages. */
function retitle() {
  const n = unreadTotal();
  if (document.hidden && n > 0) {
    document.title = `(${n}) New message — ${ORIGINAL_TITLE}`;
    titled = true;
  } else if (titled) {
    titled = false;
    if (document.title.includes(' New message — ')) document.title = ORIGINAL_TITLE;
  }
}

/** Read receipts: what is shown, while the page is in view and the chat is
 * this agent's (not while it is only offered), at most once a second. */
function markRead(s) {
  const may = () => !s.stopped && !s.gone && s.phase === 'active' && document.visibilityState === 'visible'
    && s.patientMax > s.readSent;
  if (!may() || s.readTimer) return;
  s.readTimer = setTimeout(async () => {
    s.readTimer = null;
    if (!may()) return;
    const seq = s.last;
    const before = s.readSent;
    s.readAt = Date.now();
    s.readSent = seq;
    const res = await call('POST', `/api/v1/chats/${s.contact}/read`, { seq });
    // Not noted: sent again with the next answer.
    if (!res.ok && s.readSent === seq) s.readSent = before;
  }, Math.max(0, READ_EVERY_MS - (Date.now() - s.readAt)));
}

function typing(s) {
  if (s.compose.hidden || !s.input.value.trim()) return;
  const now = Date.now();
  if (now - s.typingAt < TYPING_EVERY_MS) return;
  s.typingAt = now;
  call('POST', `/api/v1/chats/${s.contact}/typing`);
}

async function send(s) {
  if (s.sending || s.compose.hidden) return;
  const text = s.input.value;
  if (!text.trim()) {
    s.error.textContent = 'Message: write something to send';
    return;
  }
  // Sent again after a failure, unchanged: the same id (stored once).
  const id = s.retry && s.retry.text === text ? s.retry.id : newId();
  s.sending = true;
  s.input.readOnly = true;
  s.send.setAttribute('aria-disabled', 'true');
  s.error.textContent = '';
  const wait = el('div', { class: 'chat-msg from-agent mine pending', dataset: { id } },
    el('p', { class: 'chat-meta' }, el('span', { class: 'chat-who' }, 'You'), ' ',
      el('span', { class: 'chat-pending' }, 'Sending…')),
    el('p', { class: 'chat-text' }, text));
  s.pending.set(id, wait);
  s.log.append(wait);
  s.stick = true;
  atBottom(s);
  const res = await call('POST', `/api/v1/chats/${s.contact}/messages`, { id, text });
  s.sending = false;
  s.input.readOnly = false;
  s.send.removeAttribute('aria-disabled');
  if (s.forgotten) return;
  if (!res.ok) {
    if (s.pending.get(id) === wait) { s.pending.delete(id); wait.remove(); }
    s.retry = { id, text };
    s.error.textContent = errorOf(res);
    return;
  }
  s.retry = null;
  if (s.input.value === text) s.input.value = '';
  s.typingAt = 0;
  // Already shown (sent again, or the poll was quicker), or no poll to
  // bring it: the pending bubble goes or stays as sent.
  if (s.pending.get(id) === wait) {
    const seq = res.data?.seq;
    if (seq !== undefined && seq <= s.last) { s.pending.delete(id); wait.remove(); }
    else if (s.stopped) { s.pending.delete(id); wait.classList.remove('pending'); wait.querySelector('.chat-pending').textContent = 'Sent'; }
  }
  if (document.activeElement !== s.input && !s.compose.hidden) s.input.focus();
}

/** The long-poll: answers come early when the patient types or reads, so
 * the next asks at once; a lost server is asked again after 1 s, doubling
 * to 10 s. Stops on forget, 404 (the chat is gone) or once ended. */
async function loop(s) {
  let retry = RETRY_MS;
  while (!s.stopped) {
    const ended = s.stage === 'ended';
    const first = !s.loaded;
    // The history at once; then wait for what comes next.
    const long = !ended && !first && waiting < MAX_WAITING;
    if (long) waiting++;
    const started = Date.now();
    let res;
    try {
      res = await call('GET', `/api/v1/chats/${s.contact}?after=${s.last}&wait=${long ? WAIT_S : 0}`, undefined, s.abort.signal);
    } finally {
      if (long) waiting--;
    }
    if (s.stopped) return;
    if (res.status === 404) {
      s.gone = true;
      s.conn.textContent = s.loaded ? '' : 'This chat is over: there is nothing to show.';
      mode(s);
      return stop(s);
    }
    if (res.ok && res.data) {
      retry = RETRY_MS;
      s.conn.textContent = '';
      const before = s.last;
      apply(s, res.data);
      if (res.data.stage === 'ended' && s.last >= (res.data.last || 0)) {
        if (ended) return stop(s);
        continue; // one last read, for a message stored as it ended
      }
      if (!long && !first && s.last >= (res.data.last || 0)) await sleep(POLL_MS);
      else if (long && s.last === before && Date.now() - started < 250) await sleep(250);
      continue;
    }
    if (res.status === 0 || res.status === 429 || res.status >= 500) {
      s.conn.textContent = 'The chat cannot be reached: trying again…';
      await sleep(retry);
      retry = Math.min(retry * 2, RETRY_MAX_MS);
      continue;
    }
    // Refused (e.g. the chat is no longer this agent's): say why, stop.
    s.conn.textContent = '';
    s.error.textContent = errorOf(res);
    s.gone = true;
    mode(s);
    return stop(s);
  }
}

function stop(s) {
  s.stopped = true;
  s.abort.abort();
  clearTimeout(s.readTimer);
  s.readTimer = null;
}

// --- the desktop's interface ------------------------------------------------------

function panel(contact, phase, agentId) {
  let s = panels.get(contact);
  if (!s) {
    s = make(contact, agentId);
    panels.set(contact, s);
    s.phase = phase;
    mode(s);
    s.conn.textContent = 'Loading the conversation…';
    loop(s);
  } else {
    s.phase = phase;
    mode(s);
    markRead(s);
  }
  // The element moves into a new card: keep the reader's place in the log.
  const top = s.log.scrollTop;
  setTimeout(() => {
    if (s.stick) s.log.scrollTop = s.log.scrollHeight;
    else s.log.scrollTop = top;
  }, 0);
  return s.node;
}

function forget(contact) {
  const s = panels.get(contact);
  if (!s) return;
  s.forgotten = true;
  stop(s);
  s.filesAbort.abort();
  for (const url of s.urls) URL.revokeObjectURL(url);
  s.urls = [];
  s.files.clear();
  clearTimeout(s.typingTimer);
  panels.delete(contact);
  retitle();
}

function onScreen(node) {
  if (!node.isConnected) return false;
  const r = node.getBoundingClientRect();
  return r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth && r.width > 0;
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') {
    for (const s of panels.values()) {
      if (onScreen(s.node)) clearUnread(s);
      markRead(s);
    }
  }
  retitle();
});

window.chatDesk = { panel, forget, unreadTotal };
