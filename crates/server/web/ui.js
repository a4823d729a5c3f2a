// @ts-check
// Switchboard's staff web application: the layer every page shares (the
// API, the DOM, the session, the live stream, formatting). Each page has
// its own module (login.js, agent.js, wallboard.js ...) importing this one
// as '/ui.js' (always that URL: a module loaded under two URLs runs
// twice); the page is named by <body data-page>. Plain DOM, no framework,
// no build step. Everything shown comes from the API; text goes in with
// textContent only.

/** @typedef {import('./api').components['schemas']} Schemas */
/**
 * A schema of the API's OpenAPI document (api.d.ts, generated), e.g.
 * `Schema<'Me'>`.
 * @template {keyof Schemas} K
 * @typedef {Schemas[K]} Schema
 */
/** @typedef {Schema<'Me'>} Me */
/** @typedef {Schema<'Role'>} Role */
/**
 * What `api()` answers: `data` is the JSON body (the schema `T` when ok,
 * `{error}` when not).
 * @template [T=any]
 * @typedef {{ ok: boolean, status: number, data: T }} Answer
 */
/**
 * What `$` finds: an element, and (the pages know their own markup) any
 * of the form controls, links and details they read through it, so
 * `.value`, `.checked`, `.href`, `.open` and `.reset()` need no cast at
 * every use; a cast to the exact element type still works.
 * @typedef {HTMLElement & {
 *   value?: any, checked?: boolean, disabled?: boolean, files?: FileList,
 *   options?: HTMLOptionsCollection, selectedOptions?: HTMLCollectionOf<HTMLOptionElement>,
 *   href?: string, open?: boolean, reset?: () => void,
 * }} Found
 */
/** @typedef {Node | string | number | boolean | null | undefined} Leaf */
/** An element's child: a node, text (numbers too), nothing, or a list of these. @typedef {Leaf | Leaf[]} Child */

/**
 * The first element matching selector `s` (in `root`, else the page).
 * @param {string} s
 * @param {ParentNode} [root]
 * @returns {Found}
 */
export const $ = (s, root = document) => /** @type {Found} */ (root.querySelector(s));

/** The page: <body data-page>. */
export const page = document.body.dataset.page;

/**
 * An element with attributes and children (strings become text).
 * `on…` attributes add listeners; `dataset` sets data-*; true is an empty
 * attribute; undefined, null and false leave it out.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any>} [attrs]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs = {}, ...children) {
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

/**
 * Calls the API; answers {ok, status, data}. A lost session goes to log-in.
 * The answer's `data` is untyped here: the caller says what it reads
 * with a type on the variable, e.g. `@type {Answer<Schema<'Agents'>>}`.
 * @param {'GET' | 'POST' | 'PUT' | 'DELETE'} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<Answer>}
 */
export async function api(method, path, body) {
  /** @type {RequestInit & { headers: Record<string, string> }} */
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    return { ok: false, status: 0, data: { error: 'the server cannot be reached' } };
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (r.status === 401 && page !== 'login') {
    location.href = '/?next=' + encodeURIComponent(location.pathname);
  }
  return { ok: r.ok, status: r.status, data };
}

/** @param {Answer} res @returns {string} */
export const errorOf = (res) => (res.data && res.data.error) || `failed (${res.status})`;

/**
 * The first event of a record: [kind, fields].
 * @param {{ event: object }} r
 * @returns {[string, any]}
 */
export const eventOf = (r) => /** @type {[string, any]} */ (Object.entries(r.event)[0]);

/**
 * base64url ⇄ bytes, as WebAuthn's JSON carries them.
 * @param {string} s
 * @returns {Uint8Array}
 */
export function toBytes(s) {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}
/** @param {ArrayBuffer} buf @returns {string} */
export function fromBytes(buf) {
  let s = '';
  for (const x of new Uint8Array(buf)) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Where a role starts after logging in: the first page the server lists
 * for the session (it knows which pages each role may open).
 * @returns {Promise<string | undefined>}
 */
export async function home() {
  /** @type {Answer<Me>} */
  const res = await api('GET', '/api/v1/session');
  return res.ok ? res.data.pages[0]?.name : undefined;
}

/**
 * Who is logged in; the page shows only if the role may use it (the
 * pages a role may open come from the server with the session).
 * @returns {Promise<Me | null>}
 */
export async function guard() {
  /** @type {Answer<Me>} */
  const res = await api('GET', '/api/v1/session');
  if (!res.ok) return null;
  const me = res.data;
  const nav = $('#nav');
  for (const p of me.pages) {
    nav.append(el('a', { href: '/' + p.name, 'aria-current': p.name === page ? 'page' : null }, p.title));
  }
  $('#who').textContent = `${me.actor.replace(/^user:\d+ \((.*)\)$/, '$1')} · ${me.role}`;
  $('#logout').addEventListener('click', async () => {
    await api('DELETE', '/api/v1/session');
    location.href = '/';
  });
  if (!me.pages.some((p) => p.name === page)) {
    $('#refused').append(el('p', { class: 'refused', role: 'alert' },
      `You do not have access to this page: you are logged in as ${me.role}. `,
      me.pages.length ? el('a', { href: '/' + me.pages[0].name }, `Go to ${me.pages[0].title}`) : null));
    return null;
  }
  $('#content').hidden = false;
  keyboardScroll();
  return me;
}

/**
 * A box that scrolls sideways (a wide table on a phone: WCAG 1.4.10 lets
 * data tables scroll in their own box) must be reachable by keyboard to
 * be scrolled: each such card or table box is made focusable, and named,
 * as it becomes scrollable.
 */
function keyboardScroll() {
  const mark = () => {
    for (const box of document.querySelectorAll('section.card, .table-scroll')) {
      const scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute('tabindex')) {
        box.setAttribute('tabindex', '0');
        box.setAttribute('data-scrolls', '');
        if (!box.hasAttribute('aria-label') && !box.hasAttribute('aria-labelledby')) {
          const h = box.querySelector('h2, h3');
          box.setAttribute('aria-label', `${h ? h.textContent : 'Table'} (scrolls sideways)`);
        }
      } else if (!scrolls && box.hasAttribute('data-scrolls')) {
        box.removeAttribute('tabindex');
        box.removeAttribute('data-scrolls');
      }
    }
  };
  const again = throttle(mark, 250);
  new MutationObserver(again).observe(document.body, { childList: true, subtree: true });
  window.addEventListener('resize', again);
  mark();
}

/**
 * A server-sent event stream with the connection badge: `handlers` by
 * event name, each given the event's JSON; `onOpen` when (re)connected.
 * @param {string} url
 * @param {Record<string, (data: any) => void>} handlers
 * @param {() => void} [onOpen]
 */
export function stream(url, handlers, onOpen) {
  const badge = $('#stream');
  /** @type {EventSource} */
  let es;
  const lost = () => {
    badge.textContent = 'Connection lost — reconnecting…';
    badge.className = 'stream lost';
  };
  const connect = () => {
    es = new EventSource(url);
    es.onopen = () => {
      badge.textContent = 'Live';
      badge.className = 'stream live';
      if (onOpen) onOpen();
    };
    for (const [name, f] of Object.entries(handlers)) es.addEventListener(name, (e) => f(JSON.parse(e.data)));
    es.onerror = () => {
      lost();
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
    };
  };
  connect();
}

/** @typedef {Schema<'Record'>} EventRecord */
/**
 * The live stream: `onRecord` for each event; `catchUp` when (re)connected
 * or after falling behind, to fetch the current state again.
 * @param {(r: EventRecord) => void} onRecord
 * @param {() => void} catchUp
 */
export function live(onRecord, catchUp) {
  stream('/api/v1/events', { record: onRecord, lagged: () => catchUp() }, catchUp);
}

/**
 * Runs `f` at most once per `ms`, soon after the first call.
 * @param {() => unknown} f
 * @param {number} ms
 * @returns {() => void}
 */
export function throttle(f, ms) {
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  let again = false;
  return () => {
    if (timer) { again = true; return; }
    timer = setTimeout(async function run() {
      again = false;
      await f();
      if (again) { again = false; timer = setTimeout(run, ms); } else timer = null;
    }, 0);
  };
}

/** Seconds as "5 s", "2 min 5 s", "1 h 2 min"; none: "—". @param {number | null | undefined} s @returns {string} */
export const fmtSecs = (s) => {
  if (s === null || s === undefined) return '—';
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
};
/** A share as "12.5%"; none: "—". @param {number | null | undefined} x @returns {string} */
export const pct = (x) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)}%`);
/** An NHS number as "485 777 3456". @param {string} n @returns {string} */
export const nhs = (n) => `${n.slice(0, 3)} ${n.slice(3, 6)} ${n.slice(6)}`;

/**
 * Shows a server error next to the field it names ("field: problem"),
 * marks that field invalid (aria-invalid, described by its message) and
 * puts the NHS error summary at the top of the form, focused.
 * @param {ParentNode} form
 * @param {string} message
 */
export function showFieldErrors(form, message) {
  form.querySelectorAll('.field-error').forEach((e) => { e.textContent = ''; });
  const m = /^([a-z_]+): (.*)$/.exec(message || '');
  const target = m && form.querySelector(`.field-error[data-for="${m[1]}"]`);
  if (!message) { errorSummary(form, []); return; }
  const at = target || form.querySelector('.field-error[data-for="_"]');
  if (at) at.textContent = message;
  // The field the message is about: the control beside its message.
  /** @type {HTMLElement | null} */
  const field = target ? target.parentElement.querySelector('input, select, textarea') : null;
  if (field && target) {
    if (!target.id) target.id = `${field.id || m[1]}-error`;
    const described = (field.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
    if (!described.includes(target.id)) field.setAttribute('aria-describedby', [...described, target.id].join(' '));
  }
  errorSummary(form, [{ text: message, field }]);
}

/**
 * The NHS error summary: "There is a problem" and a list of the problems
 * at the top of `form`, each a link that moves to its field; the fields
 * are marked invalid, the summary takes the focus. No problems: removed.
 * @param {ParentNode} form
 * @param {{ text: string, field?: HTMLElement | null }[]} problems
 */
export function errorSummary(form, problems) {
  const root = /** @type {HTMLElement} */ (form instanceof HTMLFormElement || !(form instanceof Document) ? form : document.body);
  root.querySelectorAll('[aria-invalid="true"]').forEach((f) => f.removeAttribute('aria-invalid'));
  root.querySelector(':scope > .error-summary')?.remove();
  if (!problems.length) return;
  const heading = `error-summary-${Math.random().toString(36).slice(2, 8)}`;
  const box = el('div', { class: 'error-summary', role: 'alert', tabindex: '-1', 'aria-labelledby': heading },
    el('h2', { id: heading }, 'There is a problem'),
    el('ul', {}, problems.map((p) => {
      if (p.field) p.field.setAttribute('aria-invalid', 'true');
      const f = p.field;
      return el('li', {}, f && f.id
        ? el('a', { href: '#' + f.id, onclick: (/** @type {Event} */ e) => { e.preventDefault(); f.focus(); } }, p.text)
        : p.text);
    })));
  root.prepend(box);
  box.focus();
}

/** "not_ready" → "Not ready". @param {string} s @returns {string} */
export const label = (s) => s.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

const LONDON = 'Europe/London';
const dateTime = new Intl.DateTimeFormat('en-GB', { timeZone: LONDON, day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
const timeOnly = new Intl.DateTimeFormat('en-GB', { timeZone: LONDON, hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
const timeSecs = new Intl.DateTimeFormat('en-GB', { timeZone: LONDON, hour: '2-digit', minute: '2-digit', second: '2-digit' });
/** A moment as UK time with its zone: "8 Dec 2026, 14:05 GMT". @param {number | string | Date} t @returns {string} */
export const ukDateTime = (t) => dateTime.format(new Date(t));
/** A moment's UK time of day with its zone: "14:05 BST". @param {number | string | Date} t @returns {string} */
export const ukTime = (t) => timeOnly.format(new Date(t));
/** A moment's UK time of day to the second, no zone (a journal's lines). @param {number | string | Date} t @returns {string} */
export const ukTimeSecs = (t) => timeSecs.format(new Date(t));

/**
 * UK wall-clock time as a datetime-local field holds it ("2026-12-08T14:05"),
 * for a moment.
 * @param {number | Date} t
 * @returns {string}
 */
export function toUkLocal(t) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', { timeZone: LONDON, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(t)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/**
 * The moment a UK wall-clock time names (a datetime-local field's
 * "2026-07-01T09:00" in London: BST or GMT as it was then).
 * @param {string} local
 * @returns {Date}
 */
export function fromUkLocal(local) {
  const asUtc = new Date(`${local}:00Z`);
  // London is UTC or UTC+1: try both and keep the one that reads back.
  for (const hours of [0, 1]) {
    const t = new Date(asUtc.getTime() - hours * 3600000);
    if (toUkLocal(t) === local) return t;
  }
  return asUtc;
}

/** The logged-in caller once the page may show (null: the log-in page,
 * or refused). Each page's module waits for it. */
export const session = page === 'login' ? Promise.resolve(null) : guard();
