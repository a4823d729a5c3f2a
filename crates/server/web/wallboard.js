// @ts-check
// The wallboard: each queue's figures against its target (pushed by the
// KPI stream, with the agents), the clinical, chat, email and text
// figures, and the supervisor's actions: log an agent out, change a
// waiting contact's priority, move an agent to a queue.

import { session, $, el, api, errorOf, stream, fmtSecs, pct, label } from '/ui.js';

/** @template {keyof import('/ui.js').Schemas} K @typedef {import('/ui.js').Schema<K>} Schema */
/** @template [T=any] @typedef {import('/ui.js').Answer<T>} Answer */
/** @typedef {Schema<'Agent'>} Agent */
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

async function wallboardPage() {
  let fetchedAt = Date.now();
  /** @type {Schema<'Config'>} */
  let config = null;
  /** The tile `key` (made the first time). @param {string} key @param {string} title @returns {HTMLElement} */
  const tile = (key, title) => {
    let node = /** @type {HTMLElement} */ (document.querySelector(`[data-tile="${key}"]`));
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
  /** @param {Schema<'Kpis'>} k */
  function showKpis(k) {
    {
      const qs = $('#queues');
      for (const q of k.queues) {
        const node = tile(`q${q.queue}`, q.name);
        node.dataset.queue = String(q.queue);
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
  /** The NHS 111 clinical figures today, each against its target. @param {Schema<'Window'>} today */
  function showClinical(today) {
    let node = /** @type {HTMLElement} */ (document.querySelector('[data-tile="clinical"]'));
    if (!node) {
      node = el('section', { class: 'card tile', dataset: { tile: 'clinical' }, 'aria-label': 'Clinical figures today' },
        el('h2', {}, 'Clinical figures today'), el('dl', {}));
      $('#overall').append(node);
    }
    /** @type {[string, number | null, number, string][]} */
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
  /** @param {Schema<'Agents'>} a */
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
      /** @type {Record<string, number>} */
      const counts = {};
      for (const x of a.agents) counts[x.status] = (counts[x.status] || 0) + 1;
      $('#agents-summary').textContent = `(${Object.entries(counts).filter(([s]) => s !== 'offline').map(([s, n]) => `${n} ${label(s).toLowerCase()}`).join(', ') || 'none logged in'})`;
      const sel = $('#move-agent');
      if (!sel.options.length) a.agents.forEach((x) => sel.append(el('option', { value: x.id }, x.name)));
    }
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

  /** @type {Answer<Schema<'Config'>>} */
  const c = await api('GET', '/api/v1/config');
  if (c.ok) {
    config = c.data;
    config.queues.forEach((q) => $('#move-queue').append(el('option', { value: q.id }, q.name)));
    config.queues.forEach((q) => $('#prio-queue').append(el('option', { value: q.id }, q.name)));
  }
  /** The queue's waiting contacts to pick from, longest waiting first. */
  async function waitingContacts() {
    /** @type {Answer<Schema<'Contacts'>>} */
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
    /** @type {{ skills: number[][], team?: number }} */
    const body = { skills: q.requirements.map((r) => [r.skill, Math.max(1, r.min_level)]) };
    if (q.teams && q.teams.length) body.team = q.teams[0];
    const res = await api('POST', `/api/v1/agents/${$('#move-agent').value}/skills`, body);
    $('#move-error').textContent = res.ok ? `Moved to ${q.name}.` : errorOf(res);
  });
  stream('/api/v1/kpis/stream?agents=true', { kpis: showKpis, agents: showAgents });
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
  // Web chats: in progress now (who waits for a reply, and how long),
  // and the last 24 hours' chat figures (docs/kpis.md, "Web chat").
  const chats = async () => {
    /** @type {[Answer<Schema<'LiveChats'>>, Answer<Schema<'ChatReport'>>]} */
    const [live, rep] = await Promise.all([api('GET', '/api/v1/chats'), api('GET', '/api/v1/reports/chats')]);
    if (!live.ok || !rep.ok) return;
    let node = /** @type {HTMLElement} */ (document.querySelector('[data-tile="chats"]'));
    if (!node) {
      node = el('section', { class: 'card tile', dataset: { tile: 'chats' }, 'aria-label': 'Web chats' },
        el('h2', {}, 'Web chats'), el('dl', {}));
      $('#overall').append(node);
    }
    const now = Date.now();
    const unanswered = live.data.chats.filter((x) => x.stage === 'with_agent' && x.waiting_since);
    const longest = unanswered.length ? Math.max(...unanswered.map((x) => now - x.waiting_since)) / 1000 : null;
    const r = rep.data;
    /** @param {number | null} v */
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
    /** @type {[Answer<Schema<'WrittenReport'>>, Answer<Schema<'CsatReport'>>]} */
    const [w, c] = await Promise.all([api('GET', '/api/v1/reports/written'), api('GET', '/api/v1/reports/csat')]);
    if (!w.ok || !c.ok) return;
    let node = /** @type {HTMLElement} */ (document.querySelector('[data-tile="written"]'));
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
    /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('#agents tr')).forEach((tr) => {

      if (tr.dataset.seconds !== '') tr.querySelector('.in-state').textContent = fmtSecs(Number(tr.dataset.seconds) + extra);
    });
  }, 1000);
}

session.then((me) => { if (me) wallboardPage(); });
