// Switchboard's web application: one module for every page (the page is
// named by <body data-page>). Plain DOM, no framework, no build step.
// Everything shown comes from the API; text goes in with textContent only.

const $ = (s, root = document) => root.querySelector(s);
const page = document.body.dataset.page;

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

/** Calls the API; answers {ok, status, data}. A lost session goes to log-in. */
async function api(method, path, body) {
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

const errorOf = (res) => (res.data && res.data.error) || `failed (${res.status})`;

/** The first event of a record: [kind, fields]. */
const eventOf = (r) => Object.entries(r.event)[0];

const PAGES = {
  agent: { title: 'Agent desktop', roles: ['agent', 'clinician'] },
  wallboard: { title: 'Wallboard', roles: ['supervisor'] },
  admin: { title: 'Administration', roles: ['admin'] },
  reports: { title: 'Reports', roles: ['supervisor', 'admin'] },
  planning: { title: 'Planning', roles: ['supervisor', 'admin'] },
  directory: { title: 'Directory of Services', roles: ['supervisor', 'admin'] },
  recordings: { title: 'Recordings', roles: ['supervisor', 'quality'] },
  audit: { title: 'Audit', roles: ['auditor'] },
  account: { title: 'My log-in', roles: ['agent', 'clinician', 'supervisor', 'admin', 'auditor', 'quality'] },
};

/** base64url ⇄ bytes, as WebAuthn's JSON carries them. */
function toBytes(s) {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}
function fromBytes(buf) {
  let s = '';
  for (const x of new Uint8Array(buf)) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function homeFor(role) {
  return Object.entries(PAGES).find(([, p]) => p.roles.includes(role))?.[0];
}

/** Who is logged in; the page shows only if the role may use it. */
async function guard() {
  const res = await api('GET', '/api/v1/session');
  if (!res.ok) return null;
  const me = res.data;
  const nav = $('#nav');
  for (const [name, p] of Object.entries(PAGES)) {
    if (!p.roles.includes(me.role)) continue;
    nav.append(el('a', { href: '/' + name, 'aria-current': name === page ? 'page' : null }, p.title));
  }
  $('#who').textContent = `${me.actor.replace(/^user:\d+ \((.*)\)$/, '$1')} · ${me.role}`;
  $('#logout').addEventListener('click', async () => {
    await api('DELETE', '/api/v1/session');
    location.href = '/';
  });
  if (!PAGES[page].roles.includes(me.role)) {
    $('#refused').append(el('p', { class: 'refused', role: 'alert' },
      `You do not have access to this page. It is for: ${PAGES[page].roles.join(', ')}; you are logged in as ${me.role}.`));
    return null;
  }
  $('#content').hidden = false;
  return me;
}

/** A server-sent event stream with the connection badge: `handlers` by
 * event name, each given the event's JSON; `onOpen` when (re)connected. */
function stream(url, handlers, onOpen) {
  const badge = $('#stream');
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

/** The live stream: `onRecord` for each event; `catchUp` when (re)connected
 * or after falling behind, to fetch the current state again. */
function live(onRecord, catchUp) {
  stream('/api/v1/events', { record: onRecord, lagged: () => catchUp() }, catchUp);
}

/** Runs `f` at most once per `ms`, soon after the first call. */
function throttle(f, ms) {
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

const fmtSecs = (s) => {
  if (s === null || s === undefined) return '—';
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
};
const pct = (x) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)}%`);
const nhs = (n) => `${n.slice(0, 3)} ${n.slice(3, 6)} ${n.slice(6)}`;

/** Shows a server error next to the field it names ("field: problem"). */
function showFieldErrors(form, message) {
  form.querySelectorAll('.field-error').forEach((e) => { e.textContent = ''; });
  const m = /^([a-z_]+): (.*)$/.exec(message || '');
  const target = m && form.querySelector(`.field-error[data-for="${m[1]}"]`);
  (target || form.querySelector('.field-error[data-for="_"]')).textContent = message;
}

// --- log-in ------------------------------------------------------------------

async function loginPage() {
  const form = $('#login');
  const go = (role) => {
    const next = new URLSearchParams(location.search).get('next');
    const home = homeFor(role);
    location.href = next && next.startsWith('/') && !next.startsWith('//') ? next : '/' + (home || 'reports');
  };
  // After a new authenticator is confirmed: its recovery codes, once.
  const showRecovery = (codes, role) => {
    $('#mfa').hidden = true;
    const list = $('#recovery-codes');
    list.replaceChildren(...codes.map((c) => el('li', {}, el('code', {}, c))));
    $('#recovery').hidden = false;
    $('#recovery-done').addEventListener('click', () => go(role));
    $('#recovery-done').focus();
  };
  // The second step: a code (setting the authenticator up first if the
  // role requires one and there is none yet).
  const secondStep = async (res) => {
    const ticket = res.data.ticket;
    form.hidden = true;
    const mfa = $('#mfa');
    if (res.data.mfa === 'enrol') {
      const e = await api('POST', '/api/v1/session/mfa/enrol', { ticket });
      if (!e.ok) { form.hidden = false; $('#login-error').textContent = errorOf(e); return; }
      $('#mfa-secret').textContent = e.data.secret;
      $('#mfa-uri').textContent = e.data.uri;
      $('#mfa-enrol').hidden = false;
    }
    mfa.hidden = false;
    const methods = res.data.methods || [];
    const byPasskey = methods.includes('passkey') && window.PublicKeyCredential;
    if (res.data.mfa === 'code' && !methods.includes('totp')) $('#mfa-by-code').hidden = true;
    if (byPasskey) {
      const button = $('#mfa-passkey');
      button.hidden = false;
      button.addEventListener('click', async () => {
        const o = await api('POST', '/api/v1/session/passkey/options', { ticket });
        if (!o.ok) { $('#mfa-error').textContent = errorOf(o); return; }
        const pk = o.data.public_key;
        let cred;
        try {
          cred = await navigator.credentials.get({ publicKey: {
            ...pk,
            challenge: toBytes(pk.challenge),
            allowCredentials: pk.allowCredentials.map((c) => ({ ...c, id: toBytes(c.id) })),
          } });
        } catch (x) {
          $('#mfa-error').textContent = `No passkey was used: ${x.message}`;
          return;
        }
        const r = await api('POST', '/api/v1/session/passkey', {
          ticket,
          id: fromBytes(cred.rawId),
          client_data_json: fromBytes(cred.response.clientDataJSON),
          authenticator_data: fromBytes(cred.response.authenticatorData),
          signature: fromBytes(cred.response.signature),
        });
        if (!r.ok) { $('#mfa-error').textContent = errorOf(r); return; }
        go(r.data.role);
      });
    }
    if ($('#mfa-by-code').hidden) $('#mfa-passkey').focus();
    else $('#mfa-code').focus();
    mfa.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const code = $('#mfa-code');
      const r = await api('POST', '/api/v1/session/mfa', { ticket, code: code.value.trim() });
      if (!r.ok) {
        $('#mfa-error').textContent = errorOf(r);
        code.setAttribute('aria-invalid', 'true');
        code.focus();
        return;
      }
      if (r.data.recovery_codes) showRecovery(r.data.recovery_codes, r.data.role);
      else go(r.data.role);
    });
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const res = await api('POST', '/api/v1/session', {
      username: $('#username').value.trim(),
      password: $('#password').value,
    });
    if (!res.ok) {
      $('#login-error').textContent = errorOf(res);
      return;
    }
    if (res.data.mfa) { secondStep(res); return; }
    go(res.data.role);
  });
  $('#username').focus();
}

// --- agent desktop -------------------------------------------------------------

const OUTCOMES = ['resolved', 'advice_given', 'booked', 'referred', 'callback_booked', 'transferred', 'no_action', 'other'];
const label = (s) => s.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

/** The agent's own quality scores and feedback, newest first. */
async function myScores() {
  const res = await api('GET', '/api/v1/me/evaluations');
  if (!res.ok || !res.data.evaluations.length) return;
  $('#my-scores').hidden = false;
  $('#score-rows').replaceChildren(...res.data.evaluations.map((e) => el('tr', {},
    el('td', {}, e.at.slice(0, 10)), el('td', {}, e.scorecard_name),
    el('td', {}, `${e.score.toFixed(1)}%${e.failed.length ? ` (not met: ${e.failed.join(', ')})` : ''}`),
    el('td', {}, e.comment || ''))));
}

async function agentPage(me) {
  if (me.agent === null || me.agent === undefined) {
    $('#refused').append(el('p', { class: 'refused' }, 'Your account does not work as an agent.'));
    $('#content').hidden = true;
    return;
  }
  const agentId = me.agent;
  let agents = [];
  let queues = [];
  myScores();
  const known = new Map(); // contact -> {queue, expires, timeline: [], pop}
  const cards = new Map(); // contact -> {phase, node}
  const info = (c) => {
    if (!known.has(c)) known.set(c, { timeline: [] });
    return known.get(c);
  };
  const queueName = (q) => queues.find((x) => x.id === q)?.name || `queue ${q}`;
  const agentName = (a) => agents.find((x) => x.id === a)?.name || `agent ${a}`;

  async function post(path, body) {
    const res = await api('POST', path, body);
    if (!res.ok) alert(errorOf(res));
    refresh();
    return res;
  }

  function popView(c) {
    const box = el('div', { class: 'pop-box', 'aria-live': 'polite' });
    const i = info(c);
    const fill = (p) => {
      box.replaceChildren();
      if (!p) { box.append(el('p', {}, 'Looking up the caller…')); return; }
      if (p.error) { box.append(el('p', { class: 'notice error' }, p.error)); return; }
      // The number the caller rang from (UK numbers shown as dialled here).
      if (p.caller_number) {
        const n = p.caller_number.startsWith('+44') ? `0${p.caller_number.slice(3)}` : p.caller_number;
        box.append(el('p', { class: 'caller-number' }, 'Calling from ', el('strong', {}, n.replace(/^(0\d{4})(\d{6})$/, '$1 $2'))));
      }
      if (p.match === 'none') { box.append(el('div', { class: 'pop none' }, 'No matching patient.')); return; }
      const one = (pt) => el('div', {},
        el('strong', { class: 'patient-name' }, pt.name), ' · NHS ', nhs(pt.nhs_number),
        ' · born ', pt.date_of_birth, pt.gp_practice ? ` · GP ${pt.gp_practice}` : '');
      if (p.match === 'single') { box.append(el('div', { class: 'pop' }, el('p', {}, 'Matched patient'), one(p.patients[0]))); return; }
      const list = el('fieldset', {}, el('legend', {}, `${p.patients.length} possible patients share this number: confirm who is calling`));
      p.patients.forEach((pt, k) => {
        const id = `cand-${c}-${k}`;
        list.append(el('div', {}, el('input', { type: 'radio', name: `cand-${c}`, id,
          checked: i.chosen === k, onchange: () => { i.chosen = k; } }), el('label', { for: id, class: 'inline' }, one(pt))));
      });
      box.append(el('div', { class: 'pop candidates' }, list));
    };
    fill(i.pop);
    if (!i.pop) {
      api('GET', `/api/v1/contacts/${c}/screen-pop`).then((res) => {
        i.pop = res.ok ? res.data : { error: errorOf(res) };
        fill(i.pop);
      });
    }
    return box;
  }

  /** The assessment (triage) of contact `c`, then the Directory of
   * Services search for its disposition. */
  function assessView(c) {
    const i = info(c);
    i.triage = i.triage || { answers: [], state: { age_group: 'adult', sex: 'female' } };
    const t = i.triage;
    const box = el('div', { class: 'assess-body', 'aria-live': 'polite' });
    const age = el('select', { id: `t-age-${c}` }, ['adult', 'child'].map((v) => el('option', { value: v, selected: t.state.age_group === v }, label(v))));
    const sex = el('select', { id: `t-sex-${c}` }, ['female', 'male'].map((v) => el('option', { value: v, selected: t.state.sex === v }, label(v))));
    const step = async (save) => {
      t.state = { age_group: age.value, sex: sex.value };
      const res = await api('POST', `/api/v1/contacts/${c}/triage`, { state: t.state, answers: t.answers, save: !!save });
      if (!res.ok) { box.replaceChildren(el('p', { class: 'field-error', role: 'alert' }, errorOf(res))); return; }
      render(res.data, save);
    };
    const render = (r, saved) => {
      const parts = [];
      if (r.demo) parts.push(el('p', { class: 'notice' }, 'Demo pathways: not clinical advice.'));
      if (r.steps.length) parts.push(el('ol', { class: 'timeline', 'aria-label': 'Answers given' }, r.steps.map((s) => el('li', {}, `${s.question} — ${s.answer_text}`))));
      if (r.now.question) {
        const q = r.now.question;
        parts.push(el('p', { class: 'triage-question' }, el('strong', {}, q.text)));
        parts.push(el('div', { class: 'row' }, q.answers.map((a, k) => el('button', { type: 'button', class: 'secondary triage-answer',
          onclick: () => { t.answers.push(k); step(); } }, a))));
      } else {
        const e = r.now.ended;
        const d = e.disposition;
        t.ended = e;
        parts.push(el('div', { class: 'pop triage-disposition' }, el('strong', {}, `${d.code}: ${d.wording}`),
          d.clinician_required ? el('p', {}, 'A clinician must be involved: transfer warm to the clinical queue, or book a clinical callback within the timeframe.') : ''));
        if (d.clinician_required && saved) parts.push(clinicalView(c));
        parts.push(el('div', { class: 'row' },
          el('button', { type: 'button', class: 'save-triage', disabled: saved || null, onclick: () => step(true) }, saved ? 'Assessment saved' : 'Save assessment')));
        parts.push(searchView(c, e));
      }
      if (t.answers.length) {
        parts.push(el('button', { type: 'button', class: 'secondary', onclick: () => { t.answers.pop(); t.ended = null; step(); } }, 'Back one question'));
      }
      box.replaceChildren(...parts);
    };
    const begin = el('button', { type: 'button', class: 'begin-triage', onclick: () => { t.answers = []; step(); } }, 'Start assessment');
    return el('details', { class: 'assess' }, el('summary', {}, 'Assess (triage)'),
      el('div', { class: 'row' }, el('div', {}, el('label', { for: `t-age-${c}` }, 'Age group'), age),
        el('div', {}, el('label', { for: `t-sex-${c}` }, 'Sex'), sex), begin), box);
  }

  /** For a disposition that needs a clinician: a warm transfer to the
   * clinical queue now, or a clinical callback by the deadline. */
  function clinicalView(c) {
    const clinicalQueue = queues.find((q) => /clinical/i.test(q.name)) || queues[0];
    const msg = el('p', { class: 'field-error', role: 'status' });
    const callback = async () => {
      const res = await api('POST', `/api/v1/contacts/${c}/clinical-callback`, { queue: clinicalQueue.id });
      msg.textContent = res.ok ? `Clinical callback booked: a clinician will call back by ${new Date(res.data.deadline).toLocaleTimeString('en-GB')}.` : errorOf(res);
    };
    const transfer = async () => {
      const res = await api('POST', `/api/v1/contacts/${c}/transfer`, { queue: clinicalQueue.id, mode: 'warm', from_agent: agentId });
      msg.textContent = res.ok ? `Waiting for a clinician in ${clinicalQueue.name}; stay on the line.` : errorOf(res);
    };
    return el('div', { class: 'row clinical' },
      el('button', { type: 'button', class: 'clinical-transfer', onclick: transfer }, `Transfer warm to ${clinicalQueue.name}`),
      el('button', { type: 'button', class: 'secondary clinical-callback', onclick: callback }, 'Book clinical callback'), msg);
  }

  function searchView(c, ended) {
    const postcode = el('input', { id: `dos-postcode-${c}`, size: 9, autocomplete: 'off' });
    const years = el('input', { id: `dos-age-${c}`, size: 4, inputmode: 'numeric', value: '40' });
    // The DoS way: days (0–31), months (1–23) or years (2–129).
    const unit = el('select', { id: `dos-age-unit-${c}` },
      el('option', { value: 'y' }, 'years'), el('option', { value: 'm' }, 'months'), el('option', { value: 'd' }, 'days'));
    const gp = el('input', { id: `dos-gp-${c}`, size: 8, placeholder: 'ODS code' });
    const out = el('div', { class: 'dos-results', 'aria-live': 'polite' });
    const run = async () => {
      const info = { postcode: postcode.value, age: `${years.value.trim()}${unit.value}`, sex: $(`#t-sex-${c}`).value,
        symptom_group: ended.symptom_group, discriminators: ended.discriminators, disposition: ended.disposition.code };
      if (gp.value.trim()) info.gp_practice = gp.value.trim().toUpperCase();
      const res = await api('POST', '/api/v1/dos/search', info);
      if (!res.ok) { out.replaceChildren(el('p', { class: 'field-error', role: 'alert' }, errorOf(res))); return; }
      const r = res.data;
      const refer = (x, status) => async () => {
        status.textContent = 'Sending…';
        const res = await api('POST', `/api/v1/contacts/${c}/referrals`, { service: x.found.id });
        if (!res.ok) { status.textContent = errorOf(res); return; }
        // The outbox sends it; show when the service has it.
        const watch = async () => {
          const l = await api('GET', `/api/v1/contacts/${c}/referrals`);
          const mine = l.ok && l.data.referrals.find((r) => r.id === res.data.id);
          if (!mine) return;
          status.textContent = mine.status === 'delivered' ? 'Referral delivered.'
            : `Referral waiting to be delivered (${mine.attempts} tries${mine.last_error ? `; ${mine.last_error}` : ''}).`;
          if (mine.status !== 'delivered') setTimeout(watch, 1000);
        };
        watch();
      };
      const list = el('ol', { class: 'dos-list' }, r.results.map((x) => {
        const status = el('span', { class: 'referral-status', role: 'status' });
        return el('li', { dataset: { service: x.found.id } },
          el('strong', {}, x.found.name), ` — ${x.found.distance_km} km, ${x.postcode}`, x.phone ? `, ${x.phone}` : '',
          x.found.capacity !== 'green' ? ` (capacity ${x.found.capacity})` : '', x.found.catch_all ? ' (nearest emergency department: nothing else matched)' : '',
          ' ', el('button', { type: 'button', class: 'secondary refer', onclick: refer(x, status) }, `Refer to ${x.found.name}`), ' ', status);
      }));
      out.replaceChildren(el('p', {}, `${r.results.length} services (searched ${r.services_searched} within ${r.distance_km} km).`), list,
        r.gaps.length ? el('p', { class: 'notice' }, `${r.gaps.length} services nearby failed one rule (gaps), e.g. ${r.gaps.slice(0, 3).map((g) => `${g.name}: ${label(g.failed)}`).join('; ')}.`) : '');
    };
    return el('div', { class: 'dos' }, el('h3', {}, 'Directory of Services'),
      el('div', { class: 'row' },
        el('div', {}, el('label', { for: `dos-postcode-${c}` }, 'Patient postcode'), postcode),
        el('div', {}, el('label', { for: `dos-age-${c}` }, 'Age'), years),
        el('div', {}, el('label', { for: `dos-age-unit-${c}` }, 'Age in'), unit),
        el('div', {}, el('label', { for: `dos-gp-${c}` }, 'Registered practice'), gp),
        el('button', { type: 'button', class: 'dos-search', onclick: run }, 'Find services')), out);
  }

  /** A phone call's recording: start (on demand), pause, resume, stop, as
   * the service allows; the server's answer says what happened or why not. */
  function recordingView(c) {
    const said = el('p', { class: 'hint', role: 'status' });
    const act = async (action, done) => {
      const res = await api('POST', `/api/v1/contacts/${c}/recording`, { action });
      said.textContent = res.ok ? done : errorOf(res);
    };
    return el('div', { class: 'row recording' },
      el('button', { type: 'button', class: 'secondary', onclick: () => act('start', 'Recording started.') }, 'Start recording'),
      el('button', { type: 'button', class: 'secondary', onclick: () => act('pause', 'Recording paused: nothing is recorded until you resume.') }, 'Pause recording'),
      el('button', { type: 'button', class: 'secondary', onclick: () => act('resume', 'Recording resumed.') }, 'Resume recording'),
      el('button', { type: 'button', class: 'secondary', onclick: () => act('stop', 'Recording stopped.') }, 'Stop recording'),
      said);
  }

  function timelineView(c) {
    const list = el('ol', { class: 'timeline', 'aria-label': 'What happened' });
    for (const line of info(c).timeline) list.append(el('li', {}, line));
    return list;
  }

  function card(c, media, phase) {
    const i = info(c);
    // Web chat: the conversation's panel (chatdesk.js), one live element
    // per contact, moved into each new card as the phase changes.
    // Email threads and texts are read and answered in the same panel.
    const written = ['chat', 'email', 'sms'].includes(media);
    const chat = written && window.chatDesk
      ? window.chatDesk.panel(c, typeof phase === 'string' ? phase : 'wrap_up', agentId) : '';
    const head = el('h2', {}, `${label(media)} contact ${c}`, i.queue !== undefined ? ` — ${queueName(i.queue)}` : '');
    if (phase === 'offered') {
      const count = el('span', { class: 'countdown', dataset: { until: i.expires || '' } });
      const accept = el('button', { type: 'button', class: 'accept', 'aria-keyshortcuts': 'Alt+Shift+A', onclick: () => post(`/api/v1/contacts/${c}/accept`, { agent: agentId }) }, 'Accept');
      const node = el('section', { class: 'card offer', dataset: { contact: c, phase } }, head,
        el('p', {}, 'Incoming. ', i.expires ? ['Rings out in ', count] : ''),
        popView(c),
        chat, // chat: the conversation so far, read-only until accepted
        el('div', { class: 'row' }, accept,
          el('button', { type: 'button', class: 'secondary reject', 'aria-keyshortcuts': 'Alt+Shift+J', onclick: () => post(`/api/v1/contacts/${c}/reject`, { agent: agentId }) }, 'Reject')),
        timelineView(c));
      // Chat: an offer does not take the focus from a chat being written.
      setTimeout(() => { if (!document.activeElement?.closest?.('.chat-panel')) accept.focus(); }, 0);
      return node;
    }
    if (phase === 'active') {
      // People who could take it now first, then the busy, then the rest.
      const rank = (a) => (a.status === 'available' ? 0 : typeof a.status === 'string' && a.status !== 'offline' ? 1 : a.status === 'offline' ? 3 : 2);
      const people = agents.filter((a) => a.id !== agentId).sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
      const target = el('select', { id: `to-${c}`, 'aria-describedby': `to-msg-${c}` }, el('option', { value: '' }, 'Choose…'),
        el('optgroup', { label: 'Queues' }, queues.map((q) => el('option', { value: `q:${q.id}` }, q.name))),
        el('optgroup', { label: 'People (available first)' }, people.map((a) =>
          el('option', { value: `a:${a.id}` }, `${a.name} (${label(a.status)})`))));
      // Typing in the search narrows the list (names and queues); one
      // match is chosen at once.
      const findCount = el('span', { class: 'hint', id: `to-find-count-${c}`, role: 'status' });
      const find = el('input', { id: `to-find-${c}`, type: 'search', size: 14, autocomplete: 'off', 'aria-controls': `to-${c}`,
        'aria-describedby': `to-find-count-${c}` });
      find.addEventListener('input', () => {
        const words = find.value.trim().toLowerCase();
        const options = [...target.querySelectorAll('option')].filter((o) => o.value);
        let shown = 0;
        for (const o of options) {
          const hit = !words || o.textContent.toLowerCase().includes(words);
          o.hidden = !hit;
          o.disabled = !hit;
          if (hit) shown += 1;
        }
        const hits = options.filter((o) => !o.hidden);
        if (hits.length === 1) target.value = hits[0].value;
        else if (target.selectedOptions[0]?.hidden) target.value = '';
        findCount.textContent = words ? `${shown} match${shown === 1 ? '' : 'es'}` : '';
      });
      const transferMsg = el('p', { class: 'field-error', id: `to-msg-${c}`, role: 'alert' });
      const mode = el('select', { id: `mode-${c}` }, el('option', { value: 'warm' }, 'Warm (stay on until they answer)'), el('option', { value: 'cold' }, 'Cold'));
      const transfer = () => {
        if (!target.value) {
          transferMsg.textContent = 'Transfer to: choose a queue or a person';
          target.setAttribute('aria-invalid', 'true');
          target.focus();
          return;
        }
        transferMsg.textContent = '';
        target.removeAttribute('aria-invalid');
        const [kind, id] = target.value.split(':');
        const body = { mode: mode.value, from_agent: agentId };
        body[kind === 'q' ? 'queue' : 'agent'] = Number(id);
        post(`/api/v1/contacts/${c}/transfer`, body);
      };
      const when = el('input', { id: `cb-when-${c}`, type: 'datetime-local' });
      const cbQueue = el('select', { id: `cb-queue-${c}` }, queues.map((q) => el('option', { value: q.id, selected: q.id === i.queue }, q.name)));
      const urgency = el('select', { id: `cb-urgency-${c}` }, el('option', { value: 0 }, 'Routine'),
        el('option', { value: 20 }, 'Soon'), el('option', { value: 50 }, 'Urgent'));
      const cbMsg = el('p', { class: 'field-error', role: 'status' });
      const book = async () => {
        if (!when.value) { cbMsg.textContent = 'due_at: choose when to call back'; return; }
        const due = new Date(when.value);
        const res = await api('POST', '/api/v1/callbacks', { queue: Number(cbQueue.value), due_at: due.toISOString(),
          priority: Number(urgency.value), from_contact: c });
        cbMsg.textContent = res.ok ? `Callback booked for ${due.toLocaleString('en-GB')}.` : errorOf(res);
      };
      // The call bar: the service, how long they waited, how long with me,
      // how long on hold; one hold toggle.
      const held = !!i.heldAt;
      const hold = el('button', { type: 'button', class: 'secondary hold-toggle', 'aria-pressed': String(held), 'aria-keyshortcuts': 'Alt+Shift+H',
        onclick: () => post(`/api/v1/contacts/${c}/${i.heldAt ? 'resume' : 'hold'}`) }, held ? 'Resume' : 'Hold');
      const bar = el('p', { class: 'call-bar' },
        el('strong', {}, i.queue !== undefined ? queueName(i.queue) : label(media)),
        i.waited !== undefined ? ` · waited ${fmtSecs(i.waited)}` : '',
        ' · with you ', el('span', { class: 'since', dataset: { since: i.answeredAt || Date.now() } }),
        el('span', { class: 'hold-time', hidden: !held || null }, ' · on hold ', el('span', { class: 'since', dataset: { since: i.heldAt || '' } })));
      return el('section', { class: 'card', dataset: { contact: c, phase } }, head, bar,
        popView(c),
        chat, // chat: writable while active; hold means nothing in a chat
        el('div', { class: 'row' }, written ? '' : hold,
          el('button', { type: 'button', class: 'danger end', 'aria-keyshortcuts': 'Alt+Shift+E', onclick: () => post(`/api/v1/contacts/${c}/end`) }, 'End')),
        media === 'voice' ? recordingView(c) : '',
        el('div', { class: 'row' },
          el('div', {}, el('label', { for: `to-find-${c}` }, 'Find a queue or person'), find, ' ', findCount),
          el('div', {}, el('label', { for: `to-${c}` }, 'Transfer to'), target),
          el('div', {}, el('label', { for: `mode-${c}` }, 'How'), mode),
          el('button', { type: 'button', class: 'transfer', onclick: transfer }, 'Transfer')), transferMsg,
        assessView(c),
        el('details', {}, el('summary', {}, 'Book a callback'),
          el('div', { class: 'row' },
            el('div', {}, el('label', { for: `cb-when-${c}` }, 'When'), when),
            el('div', {}, el('label', { for: `cb-queue-${c}` }, 'Queue'), cbQueue),
            el('div', {}, el('label', { for: `cb-urgency-${c}` }, 'Urgency'), urgency),
            el('button', { type: 'button', class: 'book', onclick: book }, 'Book callback')), cbMsg),
        timelineView(c));
    }
    // wrap-up: an outcome chosen (never a silent default), notes, and a
    // time limit the agent can extend (WCAG 2.2.1), warned 20 s before.
    const outcome = el('select', { id: `outcome-${c}`, 'aria-describedby': `wrap-err-${c}` }, el('option', { value: '' }, 'Choose an outcome…'),
      OUTCOMES.map((o) => el('option', { value: o }, label(o))));
    const err = el('p', { class: 'field-error', role: 'alert', id: `wrap-err-${c}` });
    const notes = el('textarea', { id: `notes-${c}`, rows: 3, maxlength: 4000, 'aria-describedby': `notes-hint-${c}` });
    const done = async () => {
      if (!outcome.value) {
        err.textContent = 'Outcome: choose what came of the contact';
        outcome.setAttribute('aria-invalid', 'true');
        outcome.focus();
        return;
      }
      const res = await api('POST', `/api/v1/contacts/${c}/wrap-up-done`, { agent: agentId, outcome: outcome.value, notes: notes.value });
      if (!res.ok) err.textContent = errorOf(res);
      refresh();
    };
    const more = async () => {
      const res = await api('POST', `/api/v1/contacts/${c}/wrap-up-extend`, { agent: agentId, seconds: 60 });
      err.textContent = res.ok ? '' : errorOf(res);
    };
    const until = typeof phase === 'object' ? phase.wrap_up.until : null;
    return el('section', { class: 'card', dataset: { contact: c, phase: 'wrap_up' } }, head,
      el('p', {}, 'Wrap-up', until ? ['; ends by itself in ', el('span', { class: 'countdown wrap-countdown', dataset: { until } }), ' ',
        el('button', { type: 'button', class: 'secondary more-time', onclick: more }, 'More time (+1 minute)')] : ''),
      chat, // chat: the history, read-only
      el('div', { class: 'row' }, el('div', {}, el('label', { for: `outcome-${c}` }, 'Outcome'), outcome),
        el('button', { type: 'button', class: 'wrap-done', onclick: done }, 'Wrap-up done')),
      el('div', { class: 'notes' }, el('label', { for: `notes-${c}` }, 'Notes'),
        el('p', { class: 'hint', id: `notes-hint-${c}` }, 'Encrypted when saved; every read is recorded.'), notes), err,
      timelineView(c));
  }

  /** An offer's alerts, unless the agent switched them off: a chime (the
   * browser phone rings calls itself), the page's title, and a browser
   * notification when the page is not in view; always said to screen
   * readers. */
  function alertOffer(c, media) {
    const what = `Incoming ${label(media).toLowerCase()} contact${info(c).queue !== undefined ? ` for ${queueName(info(c).queue)}` : ''}`;
    $('#announce').textContent = what;
    if (localStorage.getItem(ALERTS) === 'off') return;
    if (!(media === 'voice' && window.softphone?.on)) chime();
    if (document.hidden && window.Notification?.permission === 'granted') {
      const n = new Notification('Switchboard', { body: what, tag: `offer-${c}` });
      n.onclick = () => { window.focus(); n.close(); };
    }
  }

  function render(view) {
    $('#my-status').textContent = label(view.status);
    $('#my-status').className = `status ${view.status}`;
    const since = $('#my-since');
    since.dataset.since = view.seconds_in_state !== null ? String(Date.now() - view.seconds_in_state * 1000) : '';
    since.textContent = view.seconds_in_state !== null ? `for ${fmtSecs(view.seconds_in_state)}` : '';
    const seen = new Set();
    const work = $('#work');
    for (const [c, media, phase] of view.work) {
      const key = typeof phase === 'string' ? phase : 'wrap_up';
      seen.add(c);
      const old = cards.get(c);
      if (old && old.phase === key) continue;
      const node = card(c, media, phase);
      // Focus follows the work when it was on the card being replaced
      // (or nowhere): the call's heading, then the wrap-up's outcome.
      const had = old && (old.node.contains(document.activeElement) || document.activeElement === document.body);
      if (old) old.node.replaceWith(node); else work.append(node);
      cards.set(c, { phase: key, node });
      if (key === 'offered' && !old) alertOffer(c, media);
      if (had && key !== 'offered') {
        const h = node.querySelector(key === 'wrap_up' ? 'select' : 'h2');
        if (h) { if (h.tagName === 'H2') h.tabIndex = -1; h.focus(); }
      }
    }
    for (const [c, old] of cards) {
      if (!seen.has(c)) { old.node.remove(); cards.delete(c); window.chatDesk?.forget(c); }
    }
    $('#no-work').hidden = view.work.length > 0;
    const offers = view.work.filter(([, , p]) => p === 'offered').length;
    // Chat: the chat desk's "(N) New message" title stays while the page is hidden.
    if (offers || !(document.hidden && window.chatDesk?.unreadTotal())) document.title = offers ? `(${offers}) Incoming — ${TITLE}` : TITLE;
  }

  /** The hold toggle and hold timer of contact `c`'s card, as it is now. */
  function updateHold(c) {
    const node = cards.get(c)?.node;
    const b = node?.querySelector('.hold-toggle');
    if (!b) return;
    const i = info(c);
    b.textContent = i.heldAt ? 'Resume' : 'Hold';
    b.setAttribute('aria-pressed', String(!!i.heldAt));
    const t = node.querySelector('.hold-time');
    t.hidden = !i.heldAt;
    t.querySelector('.since').dataset.since = i.heldAt || '';
  }

  const refresh = throttle(async () => {
    const res = await api('GET', '/api/v1/agents');
    if (!res.ok) return;
    agents = res.data.agents;
    const mine = agents.find((a) => a.id === agentId);
    if (mine) render(mine);
  }, 100);

  const q = await api('GET', '/api/v1/queues');
  queues = q.ok ? q.data.queues : [];

  /** The queue strip: how many wait in each queue now, the busiest
   * first (queues with nobody waiting are counted in one line). */
  const strip = throttle(async () => {
    const res = await api('GET', '/api/v1/queues');
    if (!res.ok) return;
    queues = res.data.queues;
    const busy = queues.filter((x) => x.waiting > 0).sort((a, b) => b.waiting - a.waiting || a.name.localeCompare(b.name));
    const quiet = queues.length - busy.length;
    $('#queue-strip').replaceChildren(
      ...busy.map((x) => el('li', { class: 'chip', dataset: { queue: x.id } }, el('strong', {}, x.waiting), ` waiting in ${x.name}`)),
      el('li', { class: 'chip quiet' }, busy.length ? `${quiet} other queues: nobody waiting` : 'Nobody waiting in any queue'));
  }, 1000);
  strip();

  $('#set-state').addEventListener('click', async () => {
    const v = $('#state').value;
    const presence = v === 'ready' || v === 'offline' ? v : { not_ready: v };
    const res = await api('POST', `/api/v1/agents/${agentId}/presence`, { presence });
    $('#state-error').textContent = res.ok ? '' : errorOf(res);
    refresh();
  });

  const time = (r) => new Date(r.at).toLocaleTimeString('en-GB');
  live((r) => {
    const [kind, e] = eventOf(r);
    const c = e.contact;
    // Anything that changes who waits where redraws the queue strip.
    if (['queued', 'answered', 'abandoned', 'cancelled', 'ended', 'callback_requested', 'moved', 'voicemail', 'refused'].includes(kind)) strip();
    if (c === undefined) {
      if (e.agent === agentId) refresh();
      return;
    }
    const mineNow = cards.has(c) || e.agent === agentId || e.to === agentId || e.from === agentId;
    if (!mineNow && !known.has(c)) return;
    const i = info(c);
    if (e.queue !== undefined) i.queue = e.queue;
    if (kind === 'offered' && e.agent === agentId) i.expires = e.expires_at;
    if (kind === 'answered') { i.answeredAt = r.at; i.waited = e.waited / 1000; }
    if (kind === 'hold_started') { i.heldAt = r.at; updateHold(c); }
    if (kind === 'hold_ended') { i.heldAt = null; updateHold(c); }
    if (kind === 'wrap_up_extended' && e.agent === agentId) {
      const span = cards.get(c)?.node.querySelector('.wrap-countdown');
      if (span) { span.dataset.until = e.until; delete span.dataset.warned; }
    }
    const who = e.agent !== undefined ? agentName(e.agent) : '';
    const words = {
      offered: `offered to ${who}`, answered: `answered by ${who} after ${fmtSecs(e.waited / 1000)}`,
      hold_started: 'put on hold', hold_ended: 'taken off hold',
      transfer_requested: `transfer asked (${e.mode})`, transferred: `transferred to ${agentName(e.to)}`,
      ended: 'ended', wrap_up_started: 'wrap-up started', wrap_up_extended: 'more time to wrap up', queued: `waiting in ${queueName(e.queue)}`,
    };
    if (words[kind]) i.timeline.push(`${time(r)} ${words[kind]}`);
    if (mineNow) refresh();
  }, refresh);

  setInterval(() => {
    document.querySelectorAll('.countdown').forEach((s) => {
      const until = Number(s.dataset.until);
      if (until) s.textContent = fmtSecs((until - Date.now()) / 1000);
      // A wrap-up about to end says so once, with how to keep it.
      if (until && s.classList.contains('wrap-countdown') && until - Date.now() <= 20000 && !s.dataset.warned) {
        s.dataset.warned = '1';
        $('#announce').textContent = 'Wrap-up ends in 20 seconds: choose More time to keep working on it.';
      }
    });
    // Timers that count up: in this state, with the caller, on hold.
    document.querySelectorAll('[data-since]').forEach((s) => {
      const since = Number(s.dataset.since);
      if (since) s.textContent = `${s.id === 'my-since' ? 'for ' : ''}${fmtSecs(Math.max(0, (Date.now() - since) / 1000))}`;
    });
  }, 250);

  // Keyboard shortcuts (listed on the page, under "Keyboard shortcuts"):
  // Alt+Shift and a letter, so they never take a letter being typed.
  /** The card the agent is working in: the one with focus, or the only
   * one in this phase. */
  const cardIn = (phase) => {
    const focused = document.activeElement?.closest?.(`section.card[data-phase="${phase}"]`);
    if (focused) return focused;
    const all = [...document.querySelectorAll(`#work section.card[data-phase="${phase}"]`)];
    return all.length === 1 ? all[0] : null;
  };
  const press = (node, selector, missing) => {
    const b = node?.querySelector(selector);
    if (b && !b.disabled) { b.click(); return; }
    $('#announce').textContent = missing;
  };
  document.addEventListener('keydown', (e) => {
    if (!e.altKey || !e.shiftKey || e.ctrlKey || e.metaKey) return;
    const k = e.code.startsWith('Key') ? e.code.slice(3) : '';
    const actions = {
      A: () => press(document.querySelector('#work section.offer'), 'button.accept', 'No offer to accept.'),
      J: () => press(document.querySelector('#work section.offer'), 'button.reject', 'No offer to reject.'),
      H: () => press(cardIn('active'), 'button.hold-toggle', 'No call to hold: put focus in the call first.'),
      E: () => press(cardIn('active'), 'button.end', 'Nothing to end: put focus in the contact first.'),
      W: () => {
        const sel = document.querySelector('#work section.card[data-phase="wrap_up"] select');
        if (sel) sel.focus(); else $('#announce').textContent = 'No wrap-up waiting.';
      },
      R: () => { $('#state').value = 'ready'; $('#set-state').click(); },
      K: () => { const d = $('#shortcuts'); d.open = true; d.querySelector('summary').focus(); },
    };
    if (!actions[k]) return;
    e.preventDefault();
    actions[k]();
  });

  // Alerts on offers: on unless switched off (remembered in this browser);
  // switching them on asks for notifications.
  const alerts = $('#alerts');
  alerts.checked = localStorage.getItem(ALERTS) !== 'off';
  alerts.addEventListener('change', () => {
    localStorage.setItem(ALERTS, alerts.checked ? 'on' : 'off');
    if (alerts.checked && window.Notification?.permission === 'default') Notification.requestPermission().catch(() => {});
  });
}

const ALERTS = 'switchboard.offer-alerts';
const TITLE = document.title;
window.chime = chime; // chat: chatdesk.js chimes for a patient's message

/** A short two-note chime (WebAudio), for an offer (and, via window, a
 * chat message: chatdesk.js). */
function chime() {
  try {
    chime.ctx = chime.ctx || new AudioContext();
    const ctx = chime.ctx;
    const t = ctx.currentTime;
    [[660, 0], [880, 0.18]].forEach(([f, at]) => {
      const o = ctx.createOscillator();
      const g = ctx.createGain();
      o.frequency.value = f;
      g.gain.setValueAtTime(0.12, t + at);
      g.gain.exponentialRampToValueAtTime(0.001, t + at + 0.35);
      o.connect(g).connect(ctx.destination);
      o.start(t + at);
      o.stop(t + at + 0.4);
    });
  } catch { /* no audio here */ }
}

// --- wallboard -------------------------------------------------------------------

function rag(sl, target) {
  if (sl === null || sl === undefined) return ['none', 'no calls yet'];
  const p = sl * 100;
  if (p >= target) return ['green', 'on target'];
  if (p >= target - 10) return ['amber', 'near target'];
  return ['red', 'below target'];
}

async function wallboardPage() {
  let fetchedAt = Date.now();
  let config = null;
  const tile = (key, title) => {
    let node = document.querySelector(`[data-tile="${key}"]`);
    if (node) return node;
    node = el('section', { class: 'card tile', dataset: { tile: key }, 'aria-label': title },
      el('h2', {}, title),
      el('div', {}, el('span', { class: 'big waiting' }, '0'), ' waiting'),
      el('dl', {},
        el('dt', {}, 'Longest wait'), el('dd', { class: 'longest' }, '—'),
        el('dt', {}, 'Service level today'), el('dd', {}, el('span', { class: 'sl-today' }, '—'), ' ', el('span', { class: 'rag none' }, '')),
        el('dt', {}, 'Last 30 minutes'), el('dd', { class: 'sl-recent' }, '—'),
        el('dt', {}, 'Answered today'), el('dd', { class: 'answered' }, '0'),
        el('dt', {}, 'Abandoned today'), el('dd', { class: 'abandoned' }, '—'),
        el('dt', {}, 'Callbacks owed'), el('dd', { class: 'callbacks' }, '0'),
        el('dt', {}, 'Agents free'), el('dd', { class: 'ready' }, '0')));
    return node;
  };
  const set = (node, cls, text) => { node.querySelector('.' + cls).textContent = text; };
  function fill(node, q, today, recent, target) {
    set(node, 'waiting', q.waiting ?? '');
    set(node, 'longest', q.longest_wait_seconds === null || q.longest_wait_seconds === undefined ? '—' : fmtSecs(q.longest_wait_seconds));
    set(node, 'sl-today', pct(today.service_level));
    const [colour, words] = rag(today.service_level, target);
    const r = node.querySelector('.rag');
    r.className = `rag ${colour}`;
    r.textContent = target ? `${words} (${target}%)` : words;
    set(node, 'sl-recent', pct(recent.service_level));
    set(node, 'answered', today.answered);
    set(node, 'abandoned', `${today.abandoned} (${pct(today.abandonment_rate)} of calls, not counting those who hung up within 5 s)`);
    set(node, 'callbacks', q.callbacks_pending === undefined ? '—' : `${q.callbacks_pending}${q.callbacks_at_risk ? `, ${q.callbacks_at_risk} at risk` : ''}${q.callbacks_booked ? `; ${q.callbacks_booked} booked for later` : ''}`);
    set(node, 'ready', q.ready_agents ?? '—');
  }

  // The figures and the agents are pushed as they change (the same
  // snapshot every wallboard gets); nothing here polls.
  function showKpis(k) {
    {
      const qs = $('#queues');
      for (const q of k.queues) {
        const node = tile(`q${q.queue}`, q.name);
        node.dataset.queue = q.queue;
        if (!node.isConnected) qs.append(node);
        fill(node, q, q.today, q.last_30_minutes, q.target.percent);
      }
      const all = tile('all', 'All queues');
      if (!all.isConnected) $('#overall').append(all);
      const waiting = k.queues.reduce((s, q) => s + q.waiting, 0);
      const callbacks = k.queues.reduce((s, q) => s + q.callbacks_pending, 0);
      const booked = k.queues.reduce((s, q) => s + (q.callbacks_booked || 0), 0);
      fill(all, { waiting, longest_wait_seconds: Math.max(0, ...k.queues.map((q) => q.longest_wait_seconds || 0)) || null,
        callbacks_pending: callbacks, callbacks_booked: booked, ready_agents: '—' }, k.today, k.last_30_minutes, null);
      showClinical(k.today);
    }
  }
  /** The NHS 111 clinical figures today, each against its target. */
  function showClinical(today) {
    let node = document.querySelector('[data-tile="clinical"]');
    if (!node) {
      node = el('section', { class: 'card tile', dataset: { tile: 'clinical' }, 'aria-label': 'Clinical figures today' },
        el('h2', {}, 'Clinical figures today'), el('dl', {}));
      $('#overall').append(node);
    }
    const rows = [
      ['Assessed by a clinician', today.clinical_assessed, 50, 'of answered calls'],
      ['Clinical callbacks within their timeframe', today.clinical_callbacks_in_timeframe, 90, 'of callbacks answered or missed'],
      ['Warm transfers to a clinician', today.clinical_warm_transfer, 75, 'of hand-overs to a clinician'],
    ];
    node.querySelector('dl').replaceChildren(...rows.flatMap(([name, v, target, of]) => {
      const [colour, words] = rag(v, target);
      return [el('dt', {}, name), el('dd', { dataset: { figure: name } }, `${pct(v)} ${of} `,
        el('span', { class: `rag ${colour}` }, v === null || v === undefined ? 'none yet' : `${words} (${target}%)`))];
    }));
  }
  function showAgents(a) {
    {
      fetchedAt = Date.now();
      const body = $('#agents');
      const rows = a.agents.filter((x) => x.status !== 'offline' || x.seconds_in_state !== null);
      body.replaceChildren(...rows.map((x) => el('tr', { dataset: { agent: x.id, seconds: x.seconds_in_state ?? '' } },
        el('td', {}, x.name, x.status !== 'offline' && !x.phone ? el('span', { class: 'hint', title: 'Real calls are not offered to them' }, ' (no phone)') : ''),
        el('td', {}, teamName(x.team)),
        el('td', {}, el('span', { class: `status ${x.status}` }, label(x.status)),
          typeof x.detail === 'object' && x.detail.not_ready ? ` (${label(String(x.detail.not_ready))})` : ''),
        el('td', { class: 'in-state' }, fmtSecs(x.seconds_in_state)),
        el('td', {}, x.work.map(([c]) => `contact ${c}`).join(', ')),
        el('td', {}, x.status === 'offline' ? '' : logOutButton(x)))));
      const counts = {};
      for (const x of a.agents) counts[x.status] = (counts[x.status] || 0) + 1;
      $('#agents-summary').textContent = `(${Object.entries(counts).filter(([s]) => s !== 'offline').map(([s, n]) => `${n} ${label(s).toLowerCase()}`).join(', ') || 'none logged in'})`;
      const sel = $('#move-agent');
      if (!sel.options.length) a.agents.forEach((x) => sel.append(el('option', { value: x.id }, x.name)));
    }
  }

  /** A team's name from the configuration (its number if unnamed). */
  function teamName(id) {
    return config?.teams?.find((t) => t.id === id)?.name || `team ${id}`;
  }
  /** Logging someone out asks first: the button becomes a confirmation,
   * which outlives the table being redrawn by the stream. */
  const confirming = new Set();
  function logOutButton(x) {
    const cell = el('span', {});
    const draw = (focus) => {
      if (!confirming.has(x.id)) {
        cell.replaceChildren(el('button', { type: 'button', class: 'secondary', onclick: () => { confirming.add(x.id); draw(true); } }, `Log ${x.name} out`));
      } else {
        cell.replaceChildren(el('span', {}, `Log ${x.name} out? Their contacts stay where they are. `),
          el('button', { type: 'button', class: 'warning', onclick: async () => {
            confirming.delete(x.id);
            const res = await api('POST', `/api/v1/agents/${x.id}/presence`, { presence: 'offline' });
            $('#agents-status').textContent = res.ok ? `${x.name} logged out.` : errorOf(res);
          } }, `Yes, log ${x.name} out`),
          el('button', { type: 'button', class: 'secondary', onclick: () => { confirming.delete(x.id); draw(true); } }, 'Cancel'));
      }
      if (focus) /** @type {HTMLElement} */ (cell.querySelector('button')).focus();
    };
    draw(false);
    return cell;
  }

  const c = await api('GET', '/api/v1/config');
  if (c.ok) {
    config = c.data;
    config.queues.forEach((q) => $('#move-queue').append(el('option', { value: q.id }, q.name)));
    config.queues.forEach((q) => $('#prio-queue').append(el('option', { value: q.id }, q.name)));
  }
  /** The queue's waiting contacts to pick from, longest waiting first. */
  async function waitingContacts() {
    const res = await api('GET', `/api/v1/contacts?queue=${$('#prio-queue').value}&limit=1000`);
    const sel = $('#prio-contact');
    if (!res.ok) { $('#priority-error').textContent = errorOf(res); return; }
    const now = Date.now();
    const waiting = res.data.contacts.filter((x) => x.state === 'waiting').sort((a, b) => a.entered_queue_at - b.entered_queue_at);
    sel.replaceChildren(...(waiting.length ? waiting.map((x) => el('option', { value: x.id },
      `${label(x.channel)} contact ${x.id}, waiting ${fmtSecs(Math.max(0, Math.round((now - x.entered_queue_at) / 1000)))}, priority ${x.priority}`))
      : [el('option', { value: '' }, 'Nobody is waiting in this queue')]));
  }
  $('#prio-queue').addEventListener('change', waitingContacts);
  $('#prio-contact').addEventListener('focus', waitingContacts);
  if (config) await waitingContacts();
  $('#priority-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const id = $('#prio-contact').value;
    const text = $('#prio-value').value.trim();
    const field = $('#prio-value');
    field.removeAttribute('aria-invalid');
    if (!id) { $('#priority-error').textContent = 'contact: nobody is waiting in this queue'; return; }
    if (!/^-?\d{1,6}$/.test(text)) {
      field.setAttribute('aria-invalid', 'true');
      $('#priority-error').textContent = 'priority: give a whole number, e.g. 10 (higher is answered first)';
      field.focus();
      return;
    }
    const priority = Number(text);
    const res = await api('POST', `/api/v1/contacts/${id}/priority`, { priority });
    $('#priority-error').textContent = res.ok ? `Contact ${id} now has priority ${priority}.` : errorOf(res);
    if (res.ok) await waitingContacts();
  });
  $('#move-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = config.queues.find((x) => String(x.id) === $('#move-queue').value);
    const body = { skills: q.requirements.map((r) => [r.skill, Math.max(1, r.min_level)]) };
    if (q.teams && q.teams.length) body.team = q.teams[0];
    const res = await api('POST', `/api/v1/agents/${$('#move-agent').value}/skills`, body);
    $('#move-error').textContent = res.ok ? `Moved to ${q.name}.` : errorOf(res);
  });
  stream('/api/v1/kpis/stream?agents=true', { kpis: showKpis, agents: showAgents });
  // Demand above the published forecast: say so at the top.
  const surge = async () => {
    const r = await api('GET', '/api/v1/planning/surge');
    const box = $('#surge');
    if (r.ok && r.data.warning) {
      const w = r.data.warning;
      box.replaceChildren(el('p', { class: 'notice error', role: 'alert' },
        `Demand is running ${Math.round((w.ratio - 1) * 100)}% above forecast over the last hour (${w.actual} calls against ${Math.round(w.forecast)} forecast). Consider escalating.`));
    } else box.replaceChildren();
  };
  surge();
  setInterval(surge, 60000);
  // Web chats: in progress now (who waits for a reply, and how long),
  // and the last 24 hours' chat figures (docs/kpis.md, "Web chat").
  const chats = async () => {
    const [live, rep] = await Promise.all([api('GET', '/api/v1/chats'), api('GET', '/api/v1/reports/chats')]);
    if (!live.ok || !rep.ok) return;
    let node = document.querySelector('[data-tile="chats"]');
    if (!node) {
      node = el('section', { class: 'card tile', dataset: { tile: 'chats' }, 'aria-label': 'Web chats' },
        el('h2', {}, 'Web chats'), el('dl', {}));
      $('#overall').append(node);
    }
    const now = Date.now();
    const unanswered = live.data.chats.filter((x) => x.stage === 'with_agent' && x.waiting_since);
    const longest = unanswered.length ? Math.max(...unanswered.map((x) => now - x.waiting_since)) / 1000 : null;
    const r = rep.data;
    const secs = (v) => (v === null || v === undefined ? '—' : fmtSecs(v));
    const rows = [
      ['Waiting for an agent', live.data.waiting],
      ['With agents', live.data.with_agents],
      ['Patients waiting for a reply', unanswered.length ? `${unanswered.length}, longest ${fmtSecs(longest)}` : '0'],
      ['First response (24 h)', secs(r.first_response_s)],
      ['Response time (24 h)', secs(r.response_s)],
      ['Chats abandoned (24 h)', r.abandonment_pct === null ? '—' : `${r.abandoned} (${r.abandonment_pct}%)`],
      ['Most chats at once (24 h)', r.agents.length ? Math.max(...r.agents.map((a) => a.concurrency_max)) : '—'],
    ];
    node.querySelector('dl').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { dataset: { figure: k } }, String(v))]));
  };
  chats();
  setInterval(chats, 5000);
  // Email, texts and satisfaction over the last 24 hours (docs/kpis.md,
  // "Email and text messages", "Satisfaction").
  const written = async () => {
    const [w, c] = await Promise.all([api('GET', '/api/v1/reports/written'), api('GET', '/api/v1/reports/csat')]);
    if (!w.ok || !c.ok) return;
    let node = document.querySelector('[data-tile="written"]');
    if (!node) {
      node = el('section', { class: 'card tile', dataset: { tile: 'written' }, 'aria-label': 'Email, texts and satisfaction' },
        el('h2', {}, 'Email, texts and satisfaction'), el('dl', {}));
      $('#overall').append(node);
    }
    const rows = [];
    for (const m of w.data.media) {
      const name = m.medium === 'email' ? 'Email' : 'Texts';
      rows.push([`${name}: conversations (24 h)`, m.threads]);
      rows.push([`${name}: answered within one working day`,
        m.within_one_working_day_pct === null ? '—' : `${m.within_one_working_day_pct}% of ${m.waits_due}`]);
      rows.push([`${name}: still unanswered`, m.unanswered]);
      rows.push([`${name}: not delivered`, m.failed + m.delivery_failures]);
    }
    const o = c.data.overall;
    rows.push(['Satisfied (CSAT, 24 h)', o.replies
      ? `${(o.satisfied * 100).toFixed(1)}% of ${o.replies} replies (target over 90%)` : '— (no replies yet)']);
    node.querySelector('dl').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { dataset: { figure: k } }, String(v))]));
  };
  written();
  setInterval(written, 15000);
  // Time in state ticks between updates.
  setInterval(() => {
    const extra = (Date.now() - fetchedAt) / 1000;
    document.querySelectorAll('#agents tr').forEach((tr) => {
      if (tr.dataset.seconds !== '') tr.querySelector('.in-state').textContent = fmtSecs(Number(tr.dataset.seconds) + extra);
    });
  }, 1000);
}

// --- administration -------------------------------------------------------------

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** "mon-fri 08:00-18:30" lines into weekly sessions; throws naming the line. */
function parseHours(text) {
  const weekly = [];
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const m = /^([a-z,-]+)\s+(\d\d:\d\d)-(\d\d:\d\d)$/i.exec(line);
    if (!m) throw new Error(`hours: "${line}" is not like "mon-fri 08:00-18:30"`);
    const days = [];
    for (const part of m[1].toLowerCase().split(',')) {
      const [from, to] = part.split('-');
      const i = DAYS.indexOf(from);
      const j = to === undefined ? i : DAYS.indexOf(to);
      if (i < 0 || j < 0 || j < i) throw new Error(`hours: "${part}" is not a day or range of days (mon..sun)`);
      days.push(...DAYS.slice(i, j + 1));
    }
    weekly.push({ days, open: m[2], close: m[3] });
  }
  return weekly;
}

function showHours(h) {
  if (!h) return 'always open';
  return h.weekly.map((s) => `${s.days.join(',')} ${s.open}-${s.close}`).join('; ') || 'closed';
}

const skillsText = (skills) => skills.map(([s, l]) => `${s}:${l}`).join(', ');
function parseSkills(text) {
  const out = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+):(\d+)$/.exec(part);
    if (!m) throw new Error(`skills: "${part}" is not skill:level`);
    out.push([Number(m[1]), Number(m[2])]);
  }
  return out;
}
const nextId = (items) => items.reduce((m, x) => Math.max(m, x.id), 0) + 1;

async function adminPage() {
  let config = null;
  const nameOf = (list, id) => list.find((x) => x.id === id)?.name ?? id;

  async function loadConfig() {
    const res = await api('GET', '/api/v1/config');
    if (res.ok) config = res.data;
    return res.ok;
  }

  function queuesTable() {
    $('#queue-rows').replaceChildren(...config.queues.map((q) => {
      const prio = el('input', { id: `prio-${q.id}`, value: q.priority, inputmode: 'numeric', size: 6, 'aria-label': `${q.name} priority` });
      const within = el('input', { id: `within-${q.id}`, value: q.target.within / 1000, inputmode: 'numeric', size: 6, 'aria-label': `${q.name} target seconds` });
      const percent = el('input', { id: `percent-${q.id}`, value: q.target.percent, inputmode: 'numeric', size: 4, 'aria-label': `${q.name} target percent` });
      const json = el('textarea', { rows: 8, cols: 60, 'aria-label': `${q.name} as JSON` }, JSON.stringify(q, null, 1));
      const msg = el('p', { class: 'field-error', role: 'alert' });
      const put = async (def) => {
        const r = await api('PUT', `/api/v1/queues/${q.id}`, def);
        msg.textContent = r.ok ? 'Saved: in force now.' : errorOf(r);
        if (r.ok) { Object.assign(q, def); json.value = JSON.stringify(q, null, 1); }
      };
      const save = () => {
        const def = { ...q, priority: Number(prio.value), target: { within: Math.round(Number(within.value) * 1000), percent: Number(percent.value) } };
        if (![def.priority, def.target.within, def.target.percent].every(Number.isFinite)) {
          msg.textContent = 'priority and target: numbers only';
          return;
        }
        put(def);
      };
      const saveJson = () => {
        let def;
        try { def = JSON.parse(json.value); } catch (e) { msg.textContent = `JSON: ${e.message}`; return; }
        put(def);
      };
      const steps = q.overflow.map((s) => `after ${s.after / 1000} s: ${typeof s.action === 'string' ? label(s.action) : label(Object.keys(s.action)[0])}`);
      return el('tr', { dataset: { queue: q.id } }, el('th', { scope: 'row' }, q.name), el('td', {}, prio), el('td', {}, within),
        el('td', {}, percent),
        el('td', {}, steps.length ? el('ol', {}, steps.map((t) => el('li', {}, t))) : 'none',
          el('details', {}, el('summary', {}, 'Edit everything (overflow steps too) as JSON'), json,
            el('button', { type: 'button', class: 'secondary', onclick: saveJson }, `Save ${q.name} JSON`))),
        el('td', {}, el('button', { type: 'button', class: 'save', onclick: save }, `Save ${q.name}`), msg));
    }));
  }

  function agentsTable() {
    $('#skill-legend').textContent = config.skills.map((k) => `${k.id} ${k.name}`).join(', ');
    const teamSelect = (id, value, name) => el('select', { id, 'aria-label': name }, config.teams.map((t) => el('option', { value: t.id, selected: t.id === value }, t.name)));
    const siteSelect = (id, value, name) => el('select', { id, 'aria-label': name }, config.sites.map((t) => el('option', { value: t.id, selected: t.id === value }, t.name)));
    $('#agent-rows').replaceChildren(...config.agents.map((a) => {
      const team = teamSelect(`team-${a.id}`, a.team, `${a.name} team`);
      const site = siteSelect(`site-${a.id}`, a.site, `${a.name} site`);
      const skills = el('input', { id: `skills-${a.id}`, value: skillsText(a.skills), 'aria-label': `${a.name} skills` });
      const msg = el('p', { class: 'field-error', role: 'alert' });
      const save = async () => {
        let parsed;
        try { parsed = parseSkills(skills.value); } catch (e) { msg.textContent = e.message; return; }
        const def = { ...a, team: Number(team.value), site: Number(site.value), skills: parsed };
        const r = await api('PUT', `/api/v1/agents/${a.id}`, def);
        msg.textContent = r.ok ? 'Saved: in force now.' : errorOf(r);
        if (r.ok) Object.assign(a, def);
      };
      return el('tr', { dataset: { agent: a.id } }, el('th', { scope: 'row' }, a.name), el('td', {}, team), el('td', {}, site),
        el('td', {}, skills), el('td', {}, el('button', { type: 'button', onclick: save }, `Save ${a.name}`), msg));
    }));
    for (const [sel, list] of [['#a-team', config.teams], ['#a-site', config.sites], ['#sv-queue', config.queues]]) {
      $(sel).replaceChildren(...list.map((x) => el('option', { value: x.id }, x.name)));
    }
    for (const [sel, list] of [['#team-list', config.teams], ['#site-list', config.sites], ['#skill-list', config.skills]]) {
      $(sel).replaceChildren(...list.map((x) => el('li', {}, `${x.id}: ${x.name}`)));
    }
  }

  async function usersTable() {
    const res = await api('GET', '/api/v1/users');
    if (!res.ok) return;
    $('#user-rows').replaceChildren(...res.data.users.map((u) => el('tr', {},
      el('td', {}, u.username, u.demo ? ' (demo)' : ''), el('td', {}, u.display_name), el('td', {}, u.role),
      el('td', {}, u.agent ?? ''), el('td', {}, u.disabled ? 'disabled' : 'active'),
      el('td', {}, el('button', { type: 'button', class: 'secondary', onclick: async () => {
        const r = await api('POST', `/api/v1/users/${u.id}/${u.disabled ? 'enable' : 'disable'}`);
        if (!r.ok) alert(errorOf(r));
        usersTable();
      } }, u.disabled ? `Enable ${u.username}` : `Disable ${u.username}`)))));
  }

  let services = [];
  async function servicesTable() {
    const res = await api('GET', '/api/v1/services');
    if (!res.ok) return;
    services = res.data.services;
    $('#service-rows').replaceChildren(...services.map((s) => el('tr', { dataset: { service: s.id } },
      el('td', {}, `${s.id}: ${s.service.name}`), el('td', {}, nameOf(config.queues, s.service.queue)),
      el('td', {}, s.service.entry_points.map((e) => `${e.kind} ${e.address}`).join(', ')),
      el('td', {}, `${s.open_now ? 'open' : 'closed'} (${showHours(s.service.hours)})`))));
    if (!services.length) $('#service-rows').append(el('tr', {}, el('td', { colspan: 4 }, 'No services yet.')));
    if (!$('#sv-id').value) $('#sv-id').value = nextId(services);
  }

  const userForm = $('#user-form');
  userForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const agent = $('#u-agent').value.trim();
    const body = { username: $('#u-username').value.trim(), display_name: $('#u-name').value.trim(),
      role: $('#u-role').value, password: $('#u-password').value };
    if (agent) {
      if (!/^\d+$/.test(agent)) { showFieldErrors(userForm, 'agent: an agent id (digits)'); return; }
      body.agent = Number(agent);
    }
    const res = await api('POST', '/api/v1/users', body);
    if (!res.ok) { showFieldErrors(userForm, errorOf(res)); return; }
    showFieldErrors(userForm, '');
    userForm.reset();
    usersTable();
  });

  const agentForm = $('#agent-form');
  agentForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    let skills;
    try { skills = parseSkills($('#a-skills').value); } catch (err) { showFieldErrors(agentForm, err.message); return; }
    const name = $('#a-name').value.trim();
    if (!name) { showFieldErrors(agentForm, 'name: give the agent a name'); return; }
    const id = nextId(config.agents);
    const def = { id, name, team: Number($('#a-team').value), site: Number($('#a-site').value), skills,
      capacity: { voice: 1, chat: 0, email: 0, sms: 0, voice_exclusive: true }, auto_answer: false };
    const res = await api('PUT', `/api/v1/agents/${id}`, def);
    if (!res.ok) { showFieldErrors(agentForm, errorOf(res)); return; }
    showFieldErrors(agentForm, '');
    agentForm.reset();
    await loadConfig();
    agentsTable();
  });

  for (const [form, input, path, list] of [['#team-form', '#t-name', '/api/v1/teams', 'teams'],
    ['#site-form', '#s-name', '/api/v1/sites', 'sites'], ['#skill-form', '#k-name', '/api/v1/skills', 'skills']]) {
    $(form).addEventListener('submit', async (e) => {
      e.preventDefault();
      const name = $(input).value.trim();
      if (!name) { showFieldErrors($(form), 'name: give it a name'); return; }
      const res = await api('POST', path, { id: nextId(config[list]), name });
      if (!res.ok) { showFieldErrors($(form), errorOf(res)); return; }
      showFieldErrors($(form), '');
      $(input).value = '';
      await loadConfig();
      agentsTable();
    });
  }

  const serviceForm = $('#service-form');
  serviceForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const id = $('#sv-id').value.trim();
    if (!/^\d+$/.test(id)) { showFieldErrors(serviceForm, 'id: a service number (digits)'); return; }
    const entry_points = [];
    for (const line of $('#sv-entry').value.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const [kind, ...rest] = line.split(/\s+/);
      if (!['phone', 'email', 'chat', 'web'].includes(kind) || !rest.length) {
        showFieldErrors(serviceForm, `entry_points: "${line}" is not like "phone 01622 000 002"`);
        return;
      }
      entry_points.push({ kind, address: rest.join(' ') });
    }
    const body = { name: $('#sv-name').value.trim(), queue: Number($('#sv-queue').value), entry_points };
    try {
      const weekly = parseHours($('#sv-hours').value);
      const holidays = $('#sv-holidays').value.split('\n').map((l) => l.trim()).filter(Boolean);
      if (weekly.length || holidays.length) body.hours = { weekly, bank_holidays: holidays };
    } catch (err) { showFieldErrors(serviceForm, err.message); return; }
    const res = await api('PUT', `/api/v1/services/${id}`, body);
    if (!res.ok) { showFieldErrors(serviceForm, errorOf(res)); return; }
    showFieldErrors(serviceForm, '');
    serviceForm.reset();
    servicesTable();
  });

  if (await loadConfig()) {
    queuesTable();
    agentsTable();
  }
  await Promise.all([usersTable(), servicesTable()]);

  // Quick replies: a title and a text a row; saved as a whole.
  const quickRow = (r = { title: '', text: '' }) => {
    const n = document.querySelectorAll('.quick-row').length + 1;
    const row = el('div', { class: 'row quick-row' },
      el('div', {}, el('label', { for: `qr-title-${n}` }, `Title ${n}`), el('input', { id: `qr-title-${n}`, class: 'qr-title', maxlength: 60, value: r.title })),
      el('div', {}, el('label', { for: `qr-text-${n}` }, `Text ${n}`), el('textarea', { id: `qr-text-${n}`, class: 'qr-text', rows: 2, cols: 50, maxlength: 1000 }, r.text)),
      el('button', { type: 'button', class: 'secondary', onclick: () => row.remove() }, `Remove reply ${n}`));
    $('#quick-rows').append(row);
    return row;
  };
  const qr = await api('GET', '/api/v1/quick-replies');
  if (qr.ok) qr.data.replies.forEach((r) => quickRow(r));
  $('#quick-add').addEventListener('click', () => quickRow().querySelector('input').focus());
  $('#quick-save').addEventListener('click', async () => {
    const replies = [...document.querySelectorAll('.quick-row')].map((row) => ({
      title: row.querySelector('.qr-title').value, text: row.querySelector('.qr-text').value,
    })).filter((r) => r.title.trim() || r.text.trim());
    const res = await api('PUT', '/api/v1/quick-replies', { replies });
    $('#quick-status').textContent = res.ok ? `Saved ${res.data.saved} quick replies.` : errorOf(res);
  });
}

// --- reports ------------------------------------------------------------------------

/** Bars of counts with their labels: [[label, count], ...]. */
function bandChart(bands, what) {
  const total = bands.reduce((s, b) => s + b[1], 0);
  if (!total) return el('p', {}, `No ${what} in this period.`);
  return barChart(bands.map(([l, n]) => ({ label: l, offered: n, within: n })), `${what} by band`);
}

function barChart(rows, description) {
  // Bars at most 70 units wide: a short period is not one wall of colour.
  const pad = 36; const H = 260;
  const W = Math.min(900, Math.max(360, rows.length * 70 + pad * 2));
  const max = Math.max(1, ...rows.map((r) => r.offered));
  const bw = (W - pad * 2) / Math.max(1, rows.length);
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', description || 'Calls offered (light) and answered within target (dark) per period');
  const add = (tag, attrs, text) => {
    const n = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text) n.textContent = text;
    svg.append(n);
  };
  add('line', { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, stroke: '#0b0c0c' });
  add('text', { x: 4, y: pad - 8, 'font-size': 12 }, `${max} calls`);
  rows.forEach((r, k) => {
    const x = pad + k * bw;
    const h = (v) => ((H - pad * 2) * v) / max;
    add('rect', { x: x + 2, y: H - pad - h(r.offered), width: Math.max(1, bw - 4), height: h(r.offered), fill: '#9fb8d9' });
    add('rect', { x: x + 2, y: H - pad - h(r.within), width: Math.max(1, bw - 4), height: h(r.within), fill: '#1d4f91' });
    if (rows.length <= 31 || k % Math.ceil(rows.length / 24) === 0) {
      add('text', { x: x + 2, y: H - pad + 14, 'font-size': 11 }, r.label);
    }
  });
  return svg;
}

async function reportsPage() {
  const now = new Date();
  const iso = (d) => d.toISOString().slice(0, 16);
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  $('#r-from').value = iso(start);
  $('#r-to').value = iso(new Date(now.getTime() + 60000));
  async function show() {
    const from = `${$('#r-from').value}:00Z`;
    const to = `${$('#r-to').value}:00Z`;
    const by = $('#r-by').value;
    const qs = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&by=${by}`;
    $('#csv').href = `/api/v1/reports/kpis?${qs}&format=csv`;
    const res = await api('GET', `/api/v1/reports/kpis?${qs}`);
    if (!res.ok) { $('#report-error').textContent = errorOf(res); return; }
    $('#report-error').textContent = '';
    const overall = res.data.rows.filter((r) => r.dimension.kind === 'overall');
    // Volume by hour (or by day), against answered within target.
    const buckets = new Map();
    for (const r of overall) {
      const t = new Date(r.interval_start);
      const key = by === 'day' ? t.toISOString().slice(0, 10) : `${t.toISOString().slice(0, 13)}:00`;
      const b = buckets.get(key) || { label: by === 'day' ? key.slice(5) : key.slice(11, 16), offered: 0, within: 0 };
      b.offered += r.counts.offered;
      b.within += r.counts.answered_within_target;
      buckets.set(key, b);
    }
    $('#volume-chart').replaceChildren(buckets.size ? barChart([...buckets.values()]) : el('p', {}, 'No calls in this period.'));
    $('#answer-chart').replaceChildren(bandChart(res.data.answer_bands, 'answered calls'));
    $('#abandon-chart').replaceChildren(bandChart(res.data.abandon_bands, 'abandoned calls'));
    $('#report-rows').replaceChildren(...overall.map((r) => el('tr', {},
      el('td', {}, new Date(r.interval_start).toISOString().replace('T', ' ').slice(0, 16)),
      el('td', {}, r.counts.offered), el('td', {}, r.counts.answered), el('td', {}, r.counts.answered_within_target),
      el('td', {}, r.counts.abandoned), el('td', {}, pct(r.figures.service_level)), el('td', {}, pct(r.figures.abandonment_rate)),
      el('td', {}, r.figures.asa_seconds?.toFixed(1) ?? '—'), el('td', {}, r.figures.p95_answer_seconds?.toFixed(0) ?? '—'),
      el('td', {}, r.figures.aht_seconds?.toFixed(0) ?? '—'))));
    const fd = await api('GET', `/api/v1/reports/triage?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    {
      const sum = (k) => overall.reduce((s, r) => s + (r.counts[k] || 0), 0);
      const ratio = (n, d) => (d > 0 ? n / d : null);
      const answered = sum('answered');
      const cbDone = sum('clinical_callbacks_made') + sum('clinical_callbacks_missed');
      const handOvers = sum('clinical_transfers_warm') + sum('clinical_transfers_cold') + sum('clinical_callbacks_booked');
      const t = fd.ok ? fd.data : null;
      const rows = [
        ['Calls assessed by a clinician', ratio(sum('clinical'), answered), 'at least 50%', `${sum('clinical')} of ${answered} answered`],
        ['Clinical callbacks within their timeframe', ratio(sum('clinical_callbacks_in_time'), cbDone), '90%', `${sum('clinical_callbacks_in_time')} of ${cbDone} answered or missed`],
        ['Warm transfers of clinical calls', ratio(sum('clinical_transfers_warm'), handOvers), '75%', `${sum('clinical_transfers_warm')} of ${handOvers} hand-overs`],
        ['Self care after clinical input', t ? t.self_care_after_clinical_input_share : null, 'at least 15%', t ? `${t.self_care_after_clinical_input} of ${t.assessed_by_a_clinician} clinicians' assessments` : '—'],
      ];
      $('#fd-clinical').replaceChildren(...rows.map(([name, v, target, counted]) => el('tr', {},
        el('td', {}, name), el('td', {}, pct(v)), el('td', {}, target), el('td', {}, counted))));
    }
    if (fd.ok) {
      const t = fd.data;
      $('#fd-summary').textContent = `${t.assessments} assessments; ${t.needing_a_clinician} needed a clinician (${pct(t.needing_a_clinician_share)}).`;
      $('#fd-dispositions').replaceChildren(...Object.entries(t.dispositions).map(([k, n]) => el('li', {}, `${k}: ${n}`)));
      $('#fd-shares').replaceChildren(...Object.entries(t.shares).map(([k, v]) => el('li', {}, `${label(k)}: ${pct(v)}`)));
      $('#fd-gaps').replaceChildren(...(t.gaps.length ? t.gaps.slice(0, 30).map((g) => el('tr', {},
        el('td', {}, g.district), el('td', {}, g.service_type), el('td', {}, label(g.failed)), el('td', {}, g.searches), el('td', {}, g.services)))
        : [el('tr', {}, el('td', { colspan: 5 }, 'No gaps recorded in this period.'))]));
    }
    const period = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    $('#chat-csv').href = `/api/v1/reports/chats?${period}&format=csv`;
    const ch = await api('GET', `/api/v1/reports/chats?${period}`);
    if (ch.ok) {
      const r = ch.data;
      const secs = (v) => (v === null || v === undefined ? '—' : fmtSecs(v));
      const rows = [
        ['Chats started', r.started], ['Reached a queue', r.queued], ['Answered', r.answered],
        ['Abandoned before an agent', r.abandonment_pct === null ? r.abandoned : `${r.abandoned} (${r.abandonment_pct}%)`],
        ['First response (mean)', secs(r.first_response_s)], ['Response time (mean)', secs(r.response_s)],
        ['Handle time (mean)', secs(r.handle_s)],
        ...r.agents.map((a) => [`Agent ${a.agent}: chats at once`, `${a.concurrency_mean} on average, ${a.concurrency_max} at most`]),
      ];
      $('#chat-figures').replaceChildren(...rows.map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, String(v)))));
    }
    const o = await api('GET', `/api/v1/reports/outcomes?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    if (o.ok) {
      $('#outcomes').replaceChildren(...(o.data.outcomes.length ? o.data.outcomes.map((x) => el('li', {}, `${label(x.code)}: ${x.count}`)) : [el('li', {}, 'None recorded.')]));
    }
  }
  $('#report-form').addEventListener('submit', (e) => { e.preventDefault(); show(); });
  await show();
}

// --- planning -------------------------------------------------------------------------

/** Lines over the same x: series = [{name, values, colour, dash}]. */
function lineChart(labels, series, description, yMax) {
  const W = 900; const H = 280; const pad = 40;
  const max = yMax ?? Math.max(1, ...series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined)));
  const x = (i) => pad + ((W - 2 * pad) * i) / Math.max(1, labels.length - 1);
  const y = (v) => H - pad - ((H - 2 * pad) * v) / max;
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', description);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text) n.textContent = text;
    svg.append(n);
  };
  add('line', { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, stroke: '#0b0c0c' });
  add('text', { x: 2, y: pad - 6, 'font-size': 12 }, yMax === 1 ? '100%' : `${Math.round(max)}`);
  const every = Math.max(1, Math.ceil(labels.length / 12));
  labels.forEach((l, i) => { if (i % every === 0) add('text', { x: x(i), y: H - pad + 14, 'font-size': 10 }, l); });
  series.forEach((s, k) => {
    // One line per run of known values: no line is drawn across a gap.
    let run = [];
    const flush = () => {
      if (run.length) add('polyline', { points: run.join(' '), fill: 'none', stroke: s.colour, 'stroke-width': 2, 'stroke-dasharray': s.dash || '' });
      run = [];
    };
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) flush(); else run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    });
    flush();
    if (!s.name) return;
    add('rect', { x: pad + k * 220, y: 6, width: 14, height: 4, fill: s.colour });
    add('text', { x: pad + 18 + k * 220, y: 12, 'font-size': 12 }, s.name);
  });
  return svg;
}

const dateList = (id) => $(id).value.split(',').map((s) => s.trim()).filter(Boolean);

async function planningPage() {
  const form = $('#plan-form');
  const c = await api('GET', '/api/v1/config');
  if (c.ok) c.data.queues.forEach((q) => $('#p-queue').append(el('option', { value: q.id }, q.name)));
  const readFile = (input) => new Promise((ok, fail) => {
    const f = input.files[0];
    if (!f) return ok(null);
    const r = new FileReader();
    r.onload = () => ok(r.result);
    r.onerror = () => fail(new Error('the file cannot be read'));
    r.readAsText(f);
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    showFieldErrors(form, '');
    const num = (id) => Number($(id).value);
    const body = {
      interval_minutes: num('#p-interval'), horizon_days: num('#p-horizon'), method: $('#p-method').value,
      exclude: dateList('#p-exclude'), holidays: dateList('#p-holidays'), ordinary: dateList('#p-ordinary'),
      calendar: $('#p-calendar').value,
      service: { aht_seconds: num('#p-aht'), patience_seconds: num('#p-patience'), target: num('#p-target') / 100,
        target_seconds: num('#p-within'), shrinkage: num('#p-shrinkage') / 100, max_occupancy: num('#p-occupancy') / 100 },
      suggest: $('#p-suggest').checked, suggest_weekly: $('#p-weekly').checked, publish: $('#p-publish').checked,
    };
    if ($('#src-file').checked) {
      body.history_csv = await readFile($('#p-history'));
      if (!body.history_csv) { showFieldErrors(form, 'history_csv: choose a history file, or use own arrivals'); return; }
    } else if ($('#p-queue').value) {
      body.queue = Number($('#p-queue').value);
    }
    const rota = await readFile($('#p-rota'));
    if (rota) {
      body.rota_csv = rota;
      body.whatif = { demand_percent: num('#p-demand'), callback_acceptance: num('#p-callbacks') / 100,
        site_off_air: $('#p-site').value.trim() || null };
    }
    $('#p-run').disabled = true;
    $('#results').replaceChildren(el('p', { class: 'notice' }, 'Planning…'));
    const res = await api('POST', '/api/v1/planning', body);
    $('#p-run').disabled = false;
    if (!res.ok) { $('#results').replaceChildren(); showFieldErrors(form, errorOf(res)); return; }
    renderPlan(res.data);
  });
}

function renderPlan(p) {
  const out = [];
  const range = (lo, hi) => `${pct(lo)}–${pct(hi)}`;
  const acc = el('table', {}, el('thead', {}, el('tr', {}, ['Method', 'WAPE per interval', 'best–worst back-test', 'WAPE per day', 'best–worst back-test', 'Every day counted (interval / day)'].map((h) => el('th', {}, h)))),
    el('tbody', {}, p.backtest.map((b, i) => el('tr', {}, el('td', {}, label(b.method) + (i === 0 ? ' (used)' : '')),
      el('td', {}, pct(b.wape_interval)), el('td', {}, range(b.wape_interval_min, b.wape_interval_max)),
      el('td', {}, pct(b.wape_day)), el('td', {}, range(b.wape_day_min, b.wape_day_max)),
      el('td', {}, `${pct(b.wape_interval_all_days)} / ${pct(b.wape_day_all_days)}`)))));
  const odd = p.anomalies.length
    ? el('div', { id: 'plan-anomalies' }, el('p', {}, `${p.anomalies.length} days did not look like their weekday: refilled for fitting and left out of the scores. Add a date to "ordinary" to keep it, or to "leave out" to confirm it.`),
      el('ul', {}, p.anomalies.map((a) => el('li', {}, `${a.date}: ${Math.round(a.calls)} calls, about ${Math.round(a.expected)} usual (${pct(a.ratio)})`))))
    : '';
  out.push(el('section', { class: 'card', id: 'plan-method' }, el('h2', {}, 'Forecast'),
    el('p', {}, `Method: ${label(p.method)}${p.combined.length ? ` (${p.combined.map(label).join(', ')})` : ''} — ${p.why}. Source: ${p.source}. Handle time: ${p.handle_time}.`),
    p.backtest.length ? [el('p', {}, `Accuracy over ${p.origins.length} back-tests of ${p.test_days} days each, from ${p.origins[0]} to ${p.origins[p.origins.length - 1]}, on ordinary days; each back-test saw only the days before it:`), acc] : '',
    p.coverage80 !== null ? el('p', {}, `The 80% band held ${pct(p.coverage80)} and the 95% band ${pct(p.coverage95)} of what happened in the back-tests.`) : '',
    p.holidays_in_horizon.length ? el('p', {}, `Holidays ahead: ${p.holidays_in_horizon.join(', ')}.`) : '',
    odd, p.notes.length ? el('ul', { id: 'plan-notes' }, p.notes.map((n) => el('li', {}, n))) : ''));
  if (p.backtest_series.length) {
    const bs = p.backtest_series;
    out.push(el('section', { class: 'card' }, el('h2', {}, 'Forecast against actual (the last back-test)'),
      lineChart(bs.map((r) => `${r.date.slice(5)} ${r.interval_start}`),
        [{ name: 'actual calls', values: bs.map((r) => r.actual), colour: '#0b0c0c' },
          { name: 'forecast', values: bs.map((r) => r.forecast), colour: '#1d4f91', dash: '6 3' }],
        'Actual calls and the forecast per interval over the last back-test')));
  }
  const iv = p.intervals;
  const labels = iv.map((r) => `${r.date.slice(5)} ${r.interval_start}`);
  out.push(el('section', { class: 'card', id: 'plan-requirement' }, el('h2', {}, 'Staff required against the rota'),
    lineChart(labels, [{ name: 'forecast calls', values: iv.map((r) => r.forecast), colour: '#1d4f91' },
      { name: '80% band', values: iv.map((r) => r.lo80), colour: '#9fb8d9', dash: '2 2' },
      { name: '', values: iv.map((r) => r.hi80), colour: '#9fb8d9', dash: '2 2' },
      { name: '95% band', values: iv.map((r) => r.hi95), colour: '#c8d6ea', dash: '1 3' }],
    'Forecast calls per interval with the 80% band (dotted, both edges) and the top of the 95% band'),
    lineChart(labels, [{ name: 'people required', values: iv.map((r) => r.required), colour: '#b10e1e' },
      { name: 'for the 80% band top', values: iv.map((r) => r.required_hi80), colour: '#d4351c', dash: '2 2' },
      { name: 'people on the rota', values: iv.map((r) => r.on_duty), colour: '#00703c', dash: '5 3' }],
    'People required for the forecast and for the top of its 80% band, and people on the rota, per interval'),
    p.intervals.some((r) => r.on_duty > 0)
      ? el('p', {}, `The rota covers ${pct(p.coverage.covered_share)} of the requirement: ${p.coverage.understaffed_slots} intervals short (${p.coverage.short} person-intervals), ${p.coverage.overstaffed_slots} over.`)
      : el('p', {}, 'No rota uploaded: the requirement is shown alone.'),
    p.suggested_shifts ? el('p', { id: 'plan-suggested' }, `${p.suggested_shifts.length} suggested 8-hour shifts bring it to ${pct(p.coverage_with_suggestions.covered_share)} covered.`) : ''));
  if (p.weekly_rota) {
    const w = p.weekly_rota;
    out.push(el('section', { class: 'card', id: 'plan-weekly' }, el('h2', {}, 'Suggested weekly rota'),
      el('p', {}, `${w.lines.length} weekly lines (${w.people} people over a ${w.cycle_weeks}-week cycle), ${Math.round(w.paid_hours_per_week)} paid hours a week, ${w.lines_working_weekends} working weekends: they cover ${pct(w.coverage.covered_share)} of the requirement, ${w.coverage.understaffed_slots} intervals short.`),
      el('table', {}, el('thead', {}, el('tr', {}, ['Line', 'Start', 'End', 'Days', 'Breaks'].map((h) => el('th', {}, h)))),
        el('tbody', {}, w.lines.slice(0, 200).map((l, i) => el('tr', {}, el('td', {}, String(i + 1)), el('td', {}, l.start), el('td', {}, l.end + (l.night ? ' (next day)' : '')),
          el('td', {}, l.days), el('td', {}, l.breaks.map((b) => b ?? '—').join(' '))))))));
  }
  if (p.whatif) {
    const o = p.whatif.overall;
    out.push(el('section', { class: 'card', id: 'plan-whatif' }, el('h2', {}, `What if: ${p.whatif.scenario.replace(/^what-if: /, '')}`),
      el('p', {}, `${p.whatif.agents} people on the rota${p.whatif.shifts_lost ? `, ${p.whatif.shifts_lost} shifts lost` : ''}. Predicted: service level ${pct(o.service_level)}, abandonment ${pct(o.abandonment_rate)}, mean time to answer ${o.asa_seconds === null ? '—' : fmtSecs(o.asa_seconds)}, ${o.callbacks_requested} callbacks.`),
      lineChart(labels, [{ name: 'predicted service level', values: iv.map((r) => r.predicted?.service_level ?? null), colour: '#1d4f91' },
        { name: 'predicted abandonment', values: iv.map((r) => r.predicted?.abandonment_rate ?? null), colour: '#b10e1e', dash: '5 3' }],
      'Predicted service level and abandonment per interval', 1)));
  }
  $('#results').replaceChildren(...out);
}

// --- start ----------------------------------------------------------------------------

/** The logged-in caller once the page may show (null: the log-in page,
 * or refused). Pages in their own module (directory.js) wait for it. */
export const session = (async () => {
  if (page === 'login') { loginPage(); return null; }
  const me = await guard();
  if (!me) return null;
  const run = ({ agent: agentPage, wallboard: wallboardPage, admin: adminPage, reports: reportsPage, planning: planningPage })[page];
  if (run) run(me);
  return me;
})();

// The shared API and DOM layer, for the pages in their own modules.
export { $, el, api, errorOf, pct, label, toBytes, fromBytes };
