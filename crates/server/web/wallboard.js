// @ts-check
// The wallboard: each queue's figures against its target (pushed by the
// KPI stream, with the agents), worst first, with the last 4 hours'
// trends; the clinical, chat, email and text figures; and the
// supervisor's actions, each asked before it is done: log an agent out,
// change a waiting contact's priority, move an agent to a queue. Made to
// fit one 1920 × 1080 screen for a trust of about eight queues.

import { session, $, el, api, errorOf, stream, fmtSecs, pct, label } from '/ui.js';

/** @template {keyof import('/ui.js').Schemas} K @typedef {import('/ui.js').Schema<K>} Schema */
/** @template [T=any] @typedef {import('/ui.js').Answer<T>} Answer */
/** @typedef {Schema<'Agent'>} Agent */
/** @typedef {Schema<'Row'>} Row */
/**
 * A tile's figures: a queue's (QueueBoard), or all queues' together.
 * @typedef {{ waiting?: number, longest_wait_seconds?: number | null, callbacks_pending?: number,
 *   callbacks_at_risk?: number, callbacks_booked?: number, ready_agents?: number | string }} TileFigures
 */

/**
 * A share's colour against its target (percent), and in words.
 * @param {number | null | undefined} sl
 * @param {number} target
 * @returns {[string, string]}
 */
function rag(sl, target) {
  if (sl === null || sl === undefined) return ['none', 'no calls yet'];
  const p = sl * 100;
  if (p >= target) return ['green', 'on target'];
  if (p >= target - 10) return ['amber', 'near target'];
  return ['red', 'below target'];
}

/** The order of the queue tiles: below target first, no calls last. @type {Record<string, number>} */
const RANK = { red: 0, amber: 1, green: 2, none: 3 };

/** The agents' states in the counts, in this order (any other after). */
const STATES = ['available', 'busy', 'reserved', 'wrap_up', 'not_ready', 'offline'];

/** The trends' interval (the KPI engine's) and how many: 4 hours. */
const STEP = 15 * 60 * 1000;
const STEPS = 16;

/** A time as RFC 3339 to the second. @param {number} ms */
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * An SVG element with attributes (the page's Content-Security-Policy
 * allows no inline style: presentation attributes only).
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 * @returns {SVGElement}
 */
function svgEl(tag, attrs) {
  const n = /** @type {SVGElement} */ (document.createElementNS('http://www.w3.org/2000/svg', tag));
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  return n;
}

/**
 * A sparkline of one value per interval (null: none in it), with its
 * words for those who cannot see it; an optional dashed target line.
 * One line per run of known values: no line across a gap.
 * @param {(number | null)[]} values
 * @param {number} max
 * @param {string} description
 * @param {number | null} [target]
 * @returns {SVGElement}
 */
function sparkline(values, max, description, target) {
  const W = 160; const H = 36; const pad = 3;
  const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', class: 'wb-spark', role: 'img',
    'aria-label': description, focusable: 'false' });
  /** @param {number} i */
  const x = (i) => pad + ((W - 2 * pad) * i) / Math.max(1, values.length - 1);
  /** @param {number} v */
  const y = (v) => H - pad - ((H - 2 * pad) * Math.min(v, max)) / max;
  const fine = { 'vector-effect': 'non-scaling-stroke' };
  svg.append(svgEl('line', { x1: 0, y1: H - pad, x2: W, y2: H - pad, stroke: '#aeb7bd', 'stroke-width': 1, ...fine }));
  if (target !== null && target !== undefined) {
    svg.append(svgEl('line', { x1: 0, y1: y(target), x2: W, y2: y(target), stroke: '#4c6272', 'stroke-width': 1,
      'stroke-dasharray': '4 3', class: 'wb-target', ...fine }));
  }
  /** @type {number[]} */
  let run = [];
  const flush = () => {
    if (run.length === 1) {
      // One interval alone: a short dash, so it shows.
      const i = run[0];
      svg.append(svgEl('line', { x1: x(i) - 2, y1: y(values[i]), x2: x(i) + 2, y2: y(values[i]), stroke: '#005eb8',
        'stroke-width': 3, 'stroke-linecap': 'round', ...fine }));
    } else if (run.length) {
      svg.append(svgEl('polyline', { points: run.map((i) => `${x(i).toFixed(1)},${y(values[i]).toFixed(1)}`).join(' '),
        fill: 'none', stroke: '#005eb8', 'stroke-width': 2, 'stroke-linejoin': 'round', ...fine }));
    }
    run = [];
  };
  values.forEach((v, i) => { if (v === null || v === undefined) flush(); else run.push(i); });
  flush();
  return svg;
}

/**
 * Known values' first, last, lowest and highest.
 * @param {(number | null)[]} values
 */
function span(values) {
  const known = values.filter((v) => v !== null && v !== undefined);
  return { first: known[0], last: known[known.length - 1], min: Math.min(...known), max: Math.max(...known), n: known.length };
}

async function wallboardPage() {
  $('#wb-key').hidden = false;
  let fetchedAt = Date.now();
  /** @type {Schema<'Config'>} */
  let config = null;
  /** The last 4 hours by interval: rows by tile key ("all", "q5"), from when. */
  /** @type {{ from: number, rows: Map<string, Row[]> } | null} */
  let trend = null;

  /**
   * A figure of a tile: its name and a value in an element of class `cls`
   * (`wide`: the tile's whole width).
   * @param {string} name @param {string} cls @param {string} [text] @param {boolean} [wide]
   */
  const pair = (name, cls, text = '—', wide = false) => el('div', { class: wide ? 'wb-wide' : null }, el('dt', {}, name), el('dd', { class: cls }, text));
  /** The tile `key` (made the first time). @param {string} key @param {string} title @returns {HTMLElement} */
  const tile = (key, title) => {
    let node = /** @type {HTMLElement} */ (document.querySelector(`[data-tile="${key}"]`));
    if (node) return node;
    node = el('section', { class: 'card tile wb-tile', dataset: { tile: key, status: 'none' }, 'aria-label': title },
      el('div', { class: 'wb-head' }, el('h2', {}, title), el('span', { class: 'rag none' }, '')),
      el('div', { class: 'wb-now' },
        el('p', {}, el('span', { class: 'big waiting' }, '0'), ' waiting'),
        el('p', {}, el('span', { class: 'big sl-today' }, '—'), ' service level today'),
        el('p', {}, el('span', { class: 'mid sl-recent' }, '—'), ' last 30 min')),
      el('dl', { class: 'wb-figs' },
        pair('Longest wait', 'longest'),
        pair('Agents free', 'ready', '0'),
        pair('Answered today', 'answered', '0'),
        pair('Callbacks owed', 'callbacks', '0'),
        pair('Abandoned today', 'abandoned', '—', true)),
      el('div', { class: 'wb-trends' }));
    return node;
  };
  /** @param {HTMLElement} node @param {string} cls @param {string | number} text */
  const set = (node, cls, text) => { node.querySelector('.' + cls).textContent = /** @type {string} */ (text); };
  /**
   * @param {HTMLElement} node
   * @param {TileFigures} q
   * @param {Schema<'Window'>} today
   * @param {Schema<'Window'>} recent
   * @param {number | null} target
   */
  function fill(node, q, today, recent, target) {
    set(node, 'waiting', q.waiting ?? '');
    set(node, 'longest', q.longest_wait_seconds === null || q.longest_wait_seconds === undefined ? '—' : fmtSecs(q.longest_wait_seconds));
    set(node, 'sl-today', pct(today.service_level));
    if (target !== null) {
      const [colour, words] = rag(today.service_level, target);
      const r = node.querySelector('.rag');
      r.className = `rag ${colour}`;
      r.textContent = `${words} (${target}%)`;
      node.dataset.status = colour;
      node.dataset.target = String(target);
    }
    node.dataset.waiting = String(q.waiting ?? 0);
    set(node, 'sl-recent', pct(recent.service_level));
    set(node, 'answered', today.answered);
    set(node, 'abandoned', today.abandonment_rate === null || today.abandonment_rate === undefined ? today.abandoned
      : `${today.abandoned} (${pct(today.abandonment_rate)} of calls)`);
    set(node, 'callbacks', q.callbacks_pending === undefined ? '—' : `${q.callbacks_pending}${q.callbacks_at_risk ? `, ${q.callbacks_at_risk} at risk` : ''}${q.callbacks_booked ? `; ${q.callbacks_booked} booked for later` : ''}`);
    set(node, 'ready', q.ready_agents ?? '—');
  }

  // The overview's tiles, always in this order.
  const all = tile('all', 'All queues');
  /** @param {string} key @param {string} title */
  const plain = (key, title) => el('section', { class: 'card tile wb-tile wb-plain', dataset: { tile: key }, 'aria-label': title },
    el('h2', {}, title), el('dl', {}));
  $('#overall').append(all, plain('clinical', 'Clinical figures today'), plain('chats', 'Web chats'),
    plain('written', 'Email, texts and satisfaction'));

  // The figures and the agents are pushed as they change (the same
  // snapshot every wallboard gets); nothing here polls.
  /** @param {Schema<'Kpis'>} k */
  function showKpis(k) {
    const qs = $('#queues');
    k.queues.forEach((q, i) => {
      const node = tile(`q${q.queue}`, q.name);
      node.dataset.queue = String(q.queue);
      node.dataset.order = String(i);
      const fresh = !node.isConnected;
      if (fresh) qs.append(node);
      fill(node, q, q.today, q.last_30_minutes, q.target.percent);
      if (fresh) drawTrend(node);
    });
    // A queue taken out of the configuration takes its tile with it.
    const live = new Set(k.queues.map((q) => String(q.queue)));
    /** @type {NodeListOf<HTMLElement>} */ (qs.querySelectorAll('[data-tile]')).forEach((t) => { if (!live.has(t.dataset.queue)) t.remove(); });
    order();
    const waiting = k.queues.reduce((s, q) => s + q.waiting, 0);
    const callbacks = k.queues.reduce((s, q) => s + q.callbacks_pending, 0);
    const atRisk = k.queues.reduce((s, q) => s + (q.callbacks_at_risk || 0), 0);
    const booked = k.queues.reduce((s, q) => s + (q.callbacks_booked || 0), 0);
    fill(all, { waiting, longest_wait_seconds: Math.max(0, ...k.queues.map((q) => q.longest_wait_seconds || 0)) || null,
      callbacks_pending: callbacks, callbacks_at_risk: atRisk, callbacks_booked: booked,
      ready_agents: k.agents_by_state ? k.agents_by_state.available || 0 : '—' }, k.today, k.last_30_minutes, null);
    // All queues: how many are below or near their targets, in words.
    /** @type {Record<string, number>} */
    const by = { red: 0, amber: 0, green: 0, none: 0 };
    /** @type {NodeListOf<HTMLElement>} */ (qs.querySelectorAll('[data-tile]')).forEach((t) => { by[t.dataset.status] += 1; });
    const r = all.querySelector('.rag');
    const [colour, words] = by.red ? ['red', `${by.red} below target${by.amber ? `, ${by.amber} near` : ''}`]
      : by.amber ? ['amber', `${by.amber} near target`]
        : by.green ? ['green', 'all on target'] : ['none', 'no calls yet'];
    r.className = `rag ${colour}`;
    r.textContent = words;
    all.dataset.status = colour;
    showClinical(k.today);
  }
  /** The queue tiles in status order: red, amber, green, no calls; then
   * most waiting; then as configured. Moved only when the order changes. */
  function order() {
    const qs = $('#queues');
    const now = /** @type {HTMLElement[]} */ ([...qs.children]);
    const sorted = [...now].sort((a, b) => (RANK[a.dataset.status] ?? 3) - (RANK[b.dataset.status] ?? 3)
      || Number(b.dataset.waiting) - Number(a.dataset.waiting) || Number(a.dataset.order) - Number(b.dataset.order));
    if (sorted.some((t, i) => t !== now[i])) qs.append(...sorted);
  }
  /** The NHS 111 clinical figures today, each against its target. @param {Schema<'Window'>} today */
  function showClinical(today) {
    const node = /** @type {HTMLElement} */ (document.querySelector('[data-tile="clinical"]'));
    /** @type {[string, number | null, number, string][]} */
    const rows = [
      ['Assessed by a clinician', today.clinical_assessed, 50, 'of answered calls'],
      ['Clinical callbacks within their timeframe', today.clinical_callbacks_in_timeframe, 90, 'of callbacks answered or missed'],
      ['Warm transfers to a clinician', today.clinical_warm_transfer, 75, 'of hand-overs to a clinician'],
    ];
    node.querySelector('dl').replaceChildren(...rows.map(([name, v, target, of]) => {
      const [colour, words] = rag(v, target);
      return el('div', {}, el('dt', {}, name), el('dd', { dataset: { figure: name } }, `${pct(v)} ${of} `,
        el('span', { class: `rag ${colour}` }, v === null || v === undefined ? 'none yet' : `${words} (${target}%)`)));
    }));
  }

  // The last 4 hours, by 15 minutes: service level and mean wait to
  // answer, overall and by queue, as sparklines (every minute).
  async function trends() {
    const now = Date.now();
    const from = Math.floor(now / STEP) * STEP - (STEPS - 1) * STEP;
    /** @type {Answer<Schema<'KpiReport'>>} */
    const res = await api('GET', `/api/v1/reports/kpis?by=interval&from=${encodeURIComponent(iso(from))}&to=${encodeURIComponent(iso(now))}`);
    if (!res.ok) return;
    /** @type {Map<string, Row[]>} */
    const rows = new Map();
    for (const r of res.data.rows) {
      const key = r.dimension.kind === 'overall' ? 'all' : r.dimension.kind === 'queue' ? `q${r.dimension.id}` : null;
      if (!key) continue;
      if (!rows.has(key)) rows.set(key, []);
      rows.get(key).push(r);
    }
    trend = { from, rows };
    /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('.wb-trends')).forEach((box) => drawTrend(/** @type {HTMLElement} */ (box.closest('[data-tile]'))));
  }
  /** A tile's two sparklines (or, with no calls, says so). @param {HTMLElement} node */
  function drawTrend(node) {
    if (!trend) return;
    const box = node.querySelector('.wb-trends');
    /** @type {(number | null)[]} */
    const sl = Array(STEPS).fill(null);
    /** @type {(number | null)[]} */
    const asa = Array(STEPS).fill(null);
    for (const r of trend.rows.get(node.dataset.tile) || []) {
      const i = Math.round((r.interval_start - trend.from) / STEP);
      if (i < 0 || i >= STEPS) continue;
      sl[i] = r.figures.service_level ?? null;
      asa[i] = r.figures.asa_seconds ?? null;
    }
    const s = span(sl);
    if (!s.n) {
      box.replaceChildren(el('p', { class: 'wb-none' }, 'No calls in the last 4 hours'));
      return;
    }
    const target = node.dataset.target ? Number(node.dataset.target) : null;
    const slWords = `Service level, last 4 hours: ${pct(s.first)} → ${pct(s.last)} (lowest ${pct(s.min)}${target !== null ? `; target ${target}%` : ''})`;
    const a = span(asa);
    const waitChart = a.n
      ? sparkline(asa, Math.max(10, a.max), `Mean wait to answer, last 4 hours: ${fmtSecs(a.first)} → ${fmtSecs(a.last)} (longest ${fmtSecs(a.max)})`)
      : el('p', { class: 'wb-none' }, 'No calls answered');
    box.replaceChildren(
      el('figure', { class: 'wb-spark-fig' }, el('figcaption', {}, 'Service level, 4 h'),
        sparkline(sl, 1, slWords, target !== null ? target / 100 : null)),
      el('figure', { class: 'wb-spark-fig' }, el('figcaption', {}, 'Mean wait, 4 h'), waitChart));
  }

  /** @param {Schema<'Agents'>} a */
  function showAgents(a) {
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
    // The counts at a glance, always in the same order (the table is behind the click).
    /** @type {Record<string, number>} */
    const counts = {};
    for (const x of a.agents) counts[x.status] = (counts[x.status] || 0) + 1;
    const states = [...STATES, ...Object.keys(counts).filter((s) => !STATES.includes(s))];
    $('#agents-summary').replaceChildren(...states.flatMap((s, i) => [
      i ? el('span', { class: 'sr-only' }, ', ') : '',
      el('span', { class: `wb-count ${s}`, dataset: { state: s } }, el('b', {}, String(counts[s] || 0)), ` ${label(s).toLowerCase()}`)]));
    const sel = $('#move-agent');
    if (!sel.options.length) a.agents.forEach((x) => sel.append(el('option', { value: x.id }, x.name)));
  }

  /** A team's name from the configuration (its number if unnamed). @param {number} id */
  function teamName(id) {
    return config?.teams?.find((t) => t.id === id)?.name || `team ${id}`;
  }
  /** Logging someone out asks first: the button becomes a confirmation,
   * which outlives the table being redrawn by the stream. */
  /** @type {Set<number>} */
  const confirming = new Set();
  /** @param {Agent} x */
  function logOutButton(x) {
    const cell = el('span', {});
    /** @param {boolean} focus */
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

  /**
   * Asks before an action, in the form's confirmation box: the question,
   * "Yes, …" and Cancel; nothing is sent until Yes. Either answer closes
   * it and gives the focus back to the form's button; so does changing
   * the form.
   * @param {HTMLFormElement} form
   * @param {HTMLElement} box
   * @param {string} question
   * @param {string} yes
   * @param {() => Promise<void>} act
   */
  function ask(form, box, question, yes, act) {
    const back = () => {
      box.hidden = true;
      box.replaceChildren();
      /** @type {HTMLElement} */ (form.querySelector('button[type=submit]')).focus();
    };
    box.replaceChildren(el('p', { id: box.getAttribute('aria-labelledby') }, question),
      el('div', { class: 'row' },
        el('button', { type: 'button', class: 'warning', onclick: async () => { back(); await act(); } }, yes),
        el('button', { type: 'button', class: 'secondary', onclick: back }, 'Cancel')));
    box.hidden = false;
    /** @type {HTMLElement} */ (box.querySelector('button')).focus();
  }
  /** Changing a form withdraws the question asked about it. @param {HTMLFormElement} form @param {HTMLElement} box */
  const withdrawOnChange = (form, box) => {
    const off = () => { box.hidden = true; box.replaceChildren(); };
    form.addEventListener('input', off);
    form.addEventListener('change', off);
  };

  /** @type {Answer<Schema<'Config'>>} */
  const c = await api('GET', '/api/v1/config');
  if (c.ok) {
    config = c.data;
    config.queues.forEach((q) => $('#move-queue').append(el('option', { value: q.id }, q.name)));
    config.queues.forEach((q) => $('#prio-queue').append(el('option', { value: q.id }, q.name)));
  }
  /** The queue's waiting contacts to pick from, longest waiting first
   * (the one picked stays picked while it waits). */
  async function waitingContacts() {
    /** @type {Answer<Schema<'Contacts'>>} */
    const res = await api('GET', `/api/v1/contacts?queue=${$('#prio-queue').value}&limit=1000`);
    const sel = $('#prio-contact');
    if (!res.ok) { $('#priority-error').textContent = errorOf(res); return; }
    const picked = sel.value;
    const now = Date.now();
    const waiting = res.data.contacts.filter((x) => x.state === 'waiting').sort((a, b) => a.entered_queue_at - b.entered_queue_at);
    sel.replaceChildren(...(waiting.length ? waiting.map((x) => el('option', { value: x.id },
      `${label(x.channel)} contact ${x.id}, waiting ${fmtSecs(Math.max(0, Math.round((now - x.entered_queue_at) / 1000)))}, priority ${x.priority}`))
      : [el('option', { value: '' }, 'Nobody is waiting in this queue')]));
    if (picked && waiting.some((x) => String(x.id) === picked)) sel.value = picked;
  }
  $('#prio-queue').addEventListener('change', waitingContacts);
  $('#prio-contact').addEventListener('focus', waitingContacts);
  if (config) await waitingContacts();
  const prioForm = /** @type {HTMLFormElement} */ ($('#priority-form'));
  const prioBox = $('#priority-confirm');
  withdrawOnChange(prioForm, prioBox);
  prioForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const id = $('#prio-contact').value;
    const text = $('#prio-value').value.trim();
    const field = $('#prio-value');
    field.removeAttribute('aria-invalid');
    $('#priority-error').textContent = '';
    $('#priority-status').textContent = '';
    if (!id) { $('#priority-error').textContent = 'contact: nobody is waiting in this queue'; return; }
    if (!/^-?\d{1,6}$/.test(text)) {
      field.setAttribute('aria-invalid', 'true');
      $('#priority-error').textContent = 'priority: give a whole number, e.g. 10 (higher is answered first)';
      field.focus();
      return;
    }
    const priority = Number(text);
    ask(prioForm, prioBox, `Give contact ${id} priority ${priority}? Contacts with a higher priority are answered first.`,
      `Yes, give contact ${id} priority ${priority}`, async () => {
        const res = await api('POST', `/api/v1/contacts/${id}/priority`, { priority });
        if (!res.ok) { $('#priority-error').textContent = errorOf(res); return; }
        $('#priority-status').textContent = `Contact ${id} now has priority ${priority}.`;
        await waitingContacts();
      });
  });
  const moveForm = /** @type {HTMLFormElement} */ ($('#move-form'));
  const moveBox = $('#move-confirm');
  withdrawOnChange(moveForm, moveBox);
  moveForm.addEventListener('submit', (e) => {
    e.preventDefault();
    $('#move-error').textContent = '';
    $('#move-status').textContent = '';
    const q = config?.queues.find((x) => String(x.id) === $('#move-queue').value);
    const agent = $('#move-agent').value;
    if (!q || !agent) { $('#move-error').textContent = 'agent: pick an agent and a queue'; return; }
    const who = $('#move-agent').selectedOptions[0]?.textContent || `agent ${agent}`;
    /** @type {{ skills: number[][], team?: number }} */
    const body = { skills: q.requirements.map((r) => [r.skill, Math.max(1, r.min_level)]) };
    if (q.teams && q.teams.length) body.team = q.teams[0];
    ask(moveForm, moveBox, `Move ${who} to ${q.name}? Their skills become the ones ${q.name} needs${body.team !== undefined ? ` and their team ${teamName(body.team)}` : ''}.`,
      `Yes, move ${who}`, async () => {
        const res = await api('POST', `/api/v1/agents/${agent}/skills`, body);
        if (res.ok) $('#move-status').textContent = `${who} moved to ${q.name}.`;
        else $('#move-error').textContent = errorOf(res);
      });
  });
  stream('/api/v1/kpis/stream?agents=true', { kpis: showKpis, agents: showAgents });
  trends();
  setInterval(trends, 60000);
  // Demand above the published forecast: say so at the top.
  const surge = async () => {
    /** @type {Answer<Schema<'Surge'>>} */
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
  /** A tile's figures as name and value. @param {string} key @param {[string, string | number][]} rows */
  const figures = (key, rows) => {
    document.querySelector(`[data-tile="${key}"] dl`).replaceChildren(...rows.map(([k, v]) =>
      el('div', {}, el('dt', {}, k), el('dd', { dataset: { figure: k } }, String(v)))));
  };
  // Web chats: in progress now (who waits for a reply, and how long),
  // and the last 24 hours' chat figures (docs/kpis.md, "Web chat").
  const chats = async () => {
    /** @type {[Answer<Schema<'LiveChats'>>, Answer<Schema<'ChatReport'>>]} */
    const [live, rep] = await Promise.all([api('GET', '/api/v1/chats'), api('GET', '/api/v1/reports/chats')]);
    if (!live.ok || !rep.ok) return;
    const now = Date.now();
    const unanswered = live.data.chats.filter((x) => x.stage === 'with_agent' && x.waiting_since);
    const longest = unanswered.length ? Math.max(...unanswered.map((x) => now - x.waiting_since)) / 1000 : null;
    const r = rep.data;
    /** @param {number | null} v */
    const secs = (v) => (v === null || v === undefined ? '—' : fmtSecs(v));
    figures('chats', [
      ['Waiting for an agent', live.data.waiting],
      ['With agents', live.data.with_agents],
      ['Patients waiting for a reply', unanswered.length ? `${unanswered.length}, longest ${fmtSecs(longest)}` : '0'],
      ['First response (24 h)', secs(r.first_response_s)],
      ['Response time (24 h)', secs(r.response_s)],
      ['Chats abandoned (24 h)', r.abandonment_pct === null ? '—' : `${r.abandoned} (${r.abandonment_pct}%)`],
      ['Most chats at once (24 h)', r.agents.length ? Math.max(...r.agents.map((a) => a.concurrency_max)) : '—'],
    ]);
  };
  chats();
  setInterval(chats, 5000);
  // Email, texts and satisfaction over the last 24 hours (docs/kpis.md,
  // "Email and text messages", "Satisfaction"): a small table, a column
  // a medium.
  const written = async () => {
    /** @type {[Answer<Schema<'WrittenReport'>>, Answer<Schema<'CsatReport'>>]} */
    const [w, c] = await Promise.all([api('GET', '/api/v1/reports/written'), api('GET', '/api/v1/reports/csat')]);
    if (!w.ok || !c.ok) return;
    const node = /** @type {HTMLElement} */ (document.querySelector('[data-tile="written"]'));
    const media = w.data.media.map((m) => ({ m, name: m.medium === 'email' ? 'Email' : 'Texts' }));
    /** @type {[string, string, (m: Schema<'WrittenReport'>['media'][number]) => string | number][]} */
    const lines = [
      ['Conversations', 'conversations (24 h)', (m) => m.threads],
      ['Answered within one working day', 'answered within one working day',
        (m) => (m.within_one_working_day_pct === null ? '—' : `${m.within_one_working_day_pct}% of ${m.waits_due}`)],
      ['Still unanswered', 'still unanswered', (m) => m.unanswered],
      ['Not delivered', 'not delivered', (m) => m.failed + m.delivery_failures],
    ];
    let table = node.querySelector('table');
    if (!table) {
      table = el('table', { class: 'wb-mini' });
      node.querySelector('h2').after(table);
    }
    table.hidden = !media.length;
    table.replaceChildren(
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Last 24 h'), ...media.map(({ name }) => el('th', { scope: 'col' }, name)))),
      el('tbody', {}, ...lines.map(([head, key, f]) => el('tr', {}, el('th', { scope: 'row' }, head),
        ...media.map(({ m, name }) => el('td', { dataset: { figure: `${name}: ${key}` } }, String(f(m))))))));
    const o = c.data.overall;
    figures('written', [['Satisfied (CSAT, 24 h)', o.replies
      ? `${(o.satisfied * 100).toFixed(1)}% of ${o.replies} replies (target over 90%)` : '— (no replies yet)']]);
  };
  written();
  setInterval(written, 15000);
  // Time in state ticks between updates.
  setInterval(() => {
    const extra = (Date.now() - fetchedAt) / 1000;
    /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('#agents tr')).forEach((tr) => {
      if (tr.dataset.seconds !== '') tr.querySelector('.in-state').textContent = fmtSecs(Number(tr.dataset.seconds) + extra);
    });
  }, 1000);
}

session.then((me) => { if (me) wallboardPage(); });
