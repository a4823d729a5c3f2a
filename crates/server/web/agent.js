// @ts-check
// The agent desktop: my state, the work offered to me and in hand (a card
// per contact: offered → active → wrap-up), the caller's screen pop, the
// assessment and Directory of Services search, transfers and callbacks,
// the queue strip, alerts and keyboard shortcuts. Web chats, emails and
// texts are read and answered in chatdesk.js's panel (window.chatDesk);
// the browser phone is softphone.js (window.softphone).

import { session, $, el, api, errorOf, eventOf, live, throttle, fmtSecs, nhs, label, ukTime, ukDateTime, ukTimeSecs, fromUkLocal } from '/ui.js';

/** @template {keyof import('/ui.js').Schemas} K @typedef {import('/ui.js').Schema<K>} Schema */
/** @template [T=any] @typedef {import('/ui.js').Answer<T>} Answer */
/** @typedef {Schema<'Agent'>} Agent */
/** @typedef {Schema<'Queue'>} Queue */
/** @typedef {Schema<'Media'>} Media */
/** @typedef {Schema<'WorkPhase'>} WorkPhase */
/** What the screen pop says of the caller (or why it cannot). @typedef {Partial<Schema<'ScreenPop'>> & { error?: string }} Pop */
/** An assessment's answer, its `now` a question or the end. @typedef {Omit<Schema<'Assessment'>, 'now'> & { now: OneOf<Schema<'Now'>> }} Assessed */
/** @typedef {OneOf<Schema<'Now'>>['ended']} Ended */
/**
 * What this page knows of a contact, from the live stream and its own
 * look-ups: kept while the contact is with the agent.
 * @typedef {{
 *   timeline: string[], queue?: number, expires?: number, answeredAt?: number, waited?: number,
 *   heldAt?: number | null, pop?: Pop, chosen?: number,
 *   triage?: { answers: number[], state: { age_group: string, sex: string }, ended?: Ended | null },
 * }} Known
 */

/** The agent's own quality scores and feedback, newest first. */
async function myScores() {
  /** @type {Answer<Schema<'Evaluations'>>} */
  const res = await api('GET', '/api/v1/me/evaluations');
  if (!res.ok || !res.data.evaluations.length) return;
  $('#my-scores').hidden = false;
  $('#score-rows').replaceChildren(...res.data.evaluations.map((e) => el('tr', {},
    el('td', {}, e.at.slice(0, 10)), el('td', {}, e.scorecard_name),
    el('td', {}, `${e.score.toFixed(1)}%${e.failed.length ? ` (not met: ${e.failed.join(', ')})` : ''}`),
    el('td', {}, e.comment || ''))));
}

/** @param {import('/ui.js').Me} me */
async function agentPage(me) {
  if (me.agent === null || me.agent === undefined) {
    $('#refused').append(el('p', { class: 'refused' }, 'Your account does not work as an agent.'));
    $('#content').hidden = true;
    return;
  }
  const agentId = me.agent;
  /** @type {Agent[]} */
  let agents = [];
  /** @type {Queue[]} */
  let queues = [];
  myScores();
  /** @type {Map<number, Known>} */
  const known = new Map(); // contact -> {queue, expires, timeline: [], pop}
  /** @type {Map<number, { phase: string, node: HTMLElement }>} */
  const cards = new Map(); // contact -> {phase, node}
  /** @param {number} c @returns {Known} */
  const info = (c) => {
    if (!known.has(c)) known.set(c, { timeline: [] });
    return known.get(c);
  };
  /** @param {number} q */
  const queueName = (q) => queues.find((x) => x.id === q)?.name || `queue ${q}`;
  /** @param {number} a */
  const agentName = (a) => agents.find((x) => x.id === a)?.name || `agent ${a}`;

  /** Posts, says any error, and redraws. @param {string} path @param {unknown} [body] */
  async function post(path, body) {
    const res = await api('POST', path, body);
    if (!res.ok) alert(errorOf(res));
    refresh();
    return res;
  }

  /** The caller's screen pop on contact `c`'s card. @param {number} c */
  function popView(c) {
    const box = el('div', { class: 'pop-box', 'aria-live': 'polite' });
    const i = info(c);
    /** @param {Pop} p */
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
      /** @param {Schema<'PatientEntry'>} pt */
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
      api('GET', `/api/v1/contacts/${c}/screen-pop`).then((/** @type {Answer<Schema<'ScreenPop'>>} */ res) => {
        i.pop = res.ok ? res.data : { error: errorOf(res) };
        fill(i.pop);
      });
    }
    return box;
  }

  /** The assessment (triage) of contact `c`, then the Directory of
   * Services search for its disposition.
   * @param {number} c */
  function assessView(c) {
    const i = info(c);
    i.triage = i.triage || { answers: [], state: { age_group: 'adult', sex: 'female' } };
    const t = i.triage;
    const box = el('div', { class: 'assess-body', 'aria-live': 'polite' });
    const age = el('select', { id: `t-age-${c}` }, ['adult', 'child'].map((v) => el('option', { value: v, selected: t.state.age_group === v }, label(v))));
    const sex = el('select', { id: `t-sex-${c}` }, ['female', 'male'].map((v) => el('option', { value: v, selected: t.state.sex === v }, label(v))));
    /** @param {boolean} [save] */
    const step = async (save) => {
      t.state = { age_group: age.value, sex: sex.value };
      /** @type {Answer<Assessed>} */
      const res = await api('POST', `/api/v1/contacts/${c}/triage`, { state: t.state, answers: t.answers, save: !!save });
      if (!res.ok) { box.replaceChildren(el('p', { class: 'field-error', role: 'alert' }, errorOf(res))); return; }
      render(res.data, save);
    };
    /** @param {Assessed} r @param {boolean} saved */
    const render = (r, saved) => {
      /** @type {HTMLElement[]} */
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
   * clinical queue now, or a clinical callback by the deadline.
   * @param {number} c */
  function clinicalView(c) {
    const clinicalQueue = queues.find((q) => /clinical/i.test(q.name)) || queues[0];
    const msg = el('p', { class: 'field-error', role: 'status' });
    const callback = async () => {
      /** @type {Answer<Schema<'ClinicalCallbackBooked'>>} */
      const res = await api('POST', `/api/v1/contacts/${c}/clinical-callback`, { queue: clinicalQueue.id });
      msg.textContent = res.ok ? `Clinical callback booked: a clinician will call back by ${ukTime(res.data.deadline)}.` : errorOf(res);
    };
    const transfer = async () => {
      const res = await api('POST', `/api/v1/contacts/${c}/transfer`, { queue: clinicalQueue.id, mode: 'warm', from_agent: agentId });
      msg.textContent = res.ok ? `Waiting for a clinician in ${clinicalQueue.name}; stay on the line.` : errorOf(res);
    };
    return el('div', { class: 'row clinical' },
      el('button', { type: 'button', class: 'clinical-transfer', onclick: transfer }, `Transfer warm to ${clinicalQueue.name}`),
      el('button', { type: 'button', class: 'secondary clinical-callback', onclick: callback }, 'Book clinical callback'), msg);
  }

  /**
   * The Directory of Services search for contact `c`'s disposition, and
   * a referral to a service found.
   * @param {number} c
   * @param {Ended} ended
   */
  function searchView(c, ended) {
    const postcode = el('input', { id: `dos-postcode-${c}`, size: 9, autocomplete: 'off' });
    const years = el('input', { id: `dos-age-${c}`, size: 4, inputmode: 'numeric', value: '40' });
    // The DoS way: days (0–31), months (1–23) or years (2–129).
    const unit = el('select', { id: `dos-age-unit-${c}` },
      el('option', { value: 'y' }, 'years'), el('option', { value: 'm' }, 'months'), el('option', { value: 'd' }, 'days'));
    const gp = el('input', { id: `dos-gp-${c}`, size: 8, placeholder: 'ODS code' });
    const out = el('div', { class: 'dos-results', 'aria-live': 'polite' });
    const run = async () => {
      /** @type {Partial<Schema<'DosSearch'>>} */
      const info = { postcode: postcode.value, age: `${years.value.trim()}${unit.value}`, sex: $(`#t-sex-${c}`).value,
        symptom_group: ended.symptom_group, discriminators: ended.discriminators, disposition: ended.disposition.code };
      if (gp.value.trim()) info.gp_practice = gp.value.trim().toUpperCase();
      /** @type {Answer<Schema<'Search'>>} */
      const res = await api('POST', '/api/v1/dos/search', info);
      if (!res.ok) { out.replaceChildren(el('p', { class: 'field-error', role: 'alert' }, errorOf(res))); return; }
      const r = res.data;
      /** @param {Schema<'SearchResult'>} x @param {HTMLElement} status */
      const refer = (x, status) => async () => {
        status.textContent = 'Sending…';
        /** @type {Answer<Schema<'Referred'>>} */
        const res = await api('POST', `/api/v1/contacts/${c}/referrals`, { service: x.found.id });
        if (!res.ok) { status.textContent = errorOf(res); return; }
        // The outbox sends it; show when the service has it.
        const watch = async () => {
          /** @type {Answer<Schema<'Referrals'>>} */
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
   * the service allows; the server's answer says what happened or why not.
   * @param {number} c */
  function recordingView(c) {
    const said = el('p', { class: 'hint', role: 'status' });
    /** @param {'start' | 'pause' | 'resume' | 'stop'} action @param {string} done */
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

  /** What happened to contact `c`, as this page saw it. @param {number} c */
  function timelineView(c) {
    const list = el('ol', { class: 'timeline', 'aria-label': 'What happened' });
    for (const line of info(c).timeline) list.append(el('li', {}, line));
    return list;
  }

  /**
   * Contact `c`'s card in its phase: an offer, active, or wrap-up.
   * @param {number} c
   * @param {Media} media
   * @param {WorkPhase} phase
   * @returns {HTMLElement}
   */
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
      /** @param {Agent} a */
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
        remember(target.value);
        /** @type {{ mode: string, from_agent: number, queue?: number, agent?: number }} */
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
        const due = fromUkLocal(when.value);
        const res = await api('POST', '/api/v1/callbacks', { queue: Number(cbQueue.value), due_at: due.toISOString(),
          priority: Number(urgency.value), from_contact: c });
        cbMsg.textContent = res.ok ? `Callback booked for ${ukDateTime(due)}.` : errorOf(res);
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
          el('button', { type: 'button', class: 'transfer', onclick: transfer }, 'Transfer')),
        quickView(target, () => $('button.transfer', /** @type {ParentNode} */ (target.closest('section')))), transferMsg,
        assessView(c),
        el('details', {}, el('summary', {}, 'Book a callback'),
          el('div', { class: 'row' },
            el('div', {}, el('label', { for: `cb-when-${c}` }, 'When (UK time)'), when),
            el('div', {}, el('label', { for: `cb-queue-${c}` }, 'Queue'), cbQueue),
            el('div', {}, el('label', { for: `cb-urgency-${c}` }, 'Urgency'), urgency),
            el('button', { type: 'button', class: 'book', onclick: book }, 'Book callback')), cbMsg),
        timelineView(c));
    }
    // wrap-up: an outcome chosen (never a silent default), notes, and a
    // time limit the agent can extend (WCAG 2.2.1), warned 20 s before.
    const outcome = el('select', { id: `outcome-${c}`, 'aria-describedby': `wrap-err-${c}` }, el('option', { value: '' }, 'Choose an outcome…'),
      me.outcomes.map((o) => el('option', { value: o.code }, o.label)));
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
   * readers.
   * @param {number} c
   * @param {Media} media */
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

  /** My state and my work, as the agents' list has it. @param {Agent} view */
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
        const h = $(key === 'wrap_up' ? 'select' : 'h2', node);
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

  /** The hold toggle and hold timer of contact `c`'s card, as it is now. @param {number} c */
  function updateHold(c) {
    const node = cards.get(c)?.node;
    const b = node?.querySelector('.hold-toggle');
    if (!b) return;
    const i = info(c);
    b.textContent = i.heldAt ? 'Resume' : 'Hold';
    b.setAttribute('aria-pressed', String(!!i.heldAt));
    const t = $('.hold-time', node);
    t.hidden = !i.heldAt;
    $('.since', t).dataset.since = String(i.heldAt || '');
  }

  const refresh = throttle(async () => {
    /** @type {Answer<Schema<'Agents'>>} */
    const res = await api('GET', '/api/v1/agents');
    if (!res.ok) return;
    agents = res.data.agents;
    const mine = agents.find((a) => a.id === agentId);
    if (mine) render(mine);
  }, 100);

  /** @type {Answer<Schema<'Queues'>>} */
  const q = await api('GET', '/api/v1/queues');
  queues = q.ok ? q.data.queues : [];

  /** The queue strip: how many wait in each of my queues now (those whose
   * contacts can be offered to me, as the server works out from my skills
   * and team), the busiest first; queues that reach me only after an
   * overflow step say when; everyone else's queues in one line. */
  const strip = throttle(async () => {
    /** @type {[Answer<Schema<'Queues'>>, Answer<Schema<'MyQueues'>>]} */
    const [res, mine] = await Promise.all([api('GET', '/api/v1/queues'), api('GET', '/api/v1/me/queues')]);
    if (!res.ok) return;
    queues = res.data.queues;
    const after = new Map((mine.ok ? mine.data.queues : []).map((m) => [m.id, m.after_seconds]));
    const own = queues.filter((x) => after.has(x.id))
      .sort((a, b) => after.get(a.id) - after.get(b.id) || b.waiting - a.waiting || a.name.localeCompare(b.name));
    const others = queues.filter((x) => !after.has(x.id));
    const othersWaiting = others.reduce((n, x) => n + x.waiting, 0);
    $('#queue-strip').replaceChildren(...[
      ...own.map((x) => el('li', { class: x.waiting > 0 ? 'chip' : 'chip quiet', dataset: { queue: x.id } },
        el('strong', {}, x.waiting), ` waiting in ${x.name}`, after.get(x.id) > 0 ? ` (mine after ${fmtSecs(after.get(x.id))})` : '')),
      own.length ? null : el('li', { class: 'chip quiet' }, 'No queue can offer you contacts with your skills now: ask your supervisor'),
      others.length ? el('li', { class: 'chip quiet' }, `${others.length} other queues: ${othersWaiting ? `${othersWaiting} waiting` : 'nobody waiting'}`) : null,
    ].filter(Boolean));
  }, 1000);
  strip();

  $('#set-state').addEventListener('click', async () => {
    const v = $('#state').value;
    const presence = v === 'ready' || v === 'offline' ? v : { not_ready: v };
    const res = await api('POST', `/api/v1/agents/${agentId}/presence`, { presence });
    $('#state-error').textContent = res.ok ? '' : errorOf(res);
    refresh();
  });

  /** @param {import('/ui.js').EventRecord} r */
  const time = (r) => ukTimeSecs(r.at);
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
      const span = /** @type {HTMLElement} */ (cards.get(c)?.node.querySelector('.wrap-countdown'));
      if (span) { span.dataset.until = e.until; delete span.dataset.warned; }
    }
    const who = e.agent !== undefined ? agentName(e.agent) : '';
    /** @type {Record<string, string>} */
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
    /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('.countdown')).forEach((s) => {
      const until = Number(s.dataset.until);
      if (until) s.textContent = fmtSecs((until - Date.now()) / 1000);
      // A wrap-up about to end says so once, with how to keep it.
      if (until && s.classList.contains('wrap-countdown') && until - Date.now() <= 20000 && !s.dataset.warned) {
        s.dataset.warned = '1';
        $('#announce').textContent = 'Wrap-up ends in 20 seconds: choose More time to keep working on it.';
      }
    });
    // Timers that count up: in this state, with the caller, on hold.
    /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[data-since]')).forEach((s) => {
      const since = Number(s.dataset.since);
      if (since) s.textContent = `${s.id === 'my-since' ? 'for ' : ''}${fmtSecs(Math.max(0, (Date.now() - since) / 1000))}`;
    });
  }, 250);

  // Keyboard shortcuts (listed on the page, under "Keyboard shortcuts"):
  // Alt+Shift and a letter, so they never take a letter being typed.
  /** The card the agent is working in: the one with focus, or the only
   * one in this phase.
   * @param {string} phase */
  const cardIn = (phase) => {
    const focused = document.activeElement?.closest?.(`section.card[data-phase="${phase}"]`);
    if (focused) return focused;
    const all = [...document.querySelectorAll(`#work section.card[data-phase="${phase}"]`)];
    return all.length === 1 ? all[0] : null;
  };
  /** Clicks `selector` in `node`, else says `missing`. @param {Element} node @param {string} selector @param {string} missing */
  const press = (node, selector, missing) => {
    const b = /** @type {HTMLButtonElement} */ (node?.querySelector(selector));
    if (b && !b.disabled) { b.click(); return; }
    $('#announce').textContent = missing;
  };
  document.addEventListener('keydown', (e) => {
    if (!e.altKey || !e.shiftKey || e.ctrlKey || e.metaKey) return;
    const k = e.code.startsWith('Key') ? e.code.slice(3) : '';
    /** @type {Record<string, () => void>} */
    const actions = {
      A: () => press(document.querySelector('#work section.offer'), 'button.accept', 'No offer to accept.'),
      J: () => press(document.querySelector('#work section.offer'), 'button.reject', 'No offer to reject.'),
      H: () => press(cardIn('active'), 'button.hold-toggle', 'No call to hold: put focus in the call first.'),
      E: () => press(cardIn('active'), 'button.end', 'Nothing to end: put focus in the contact first.'),
      W: () => {
        const sel = $('#work section.card[data-phase="wrap_up"] select');
        if (sel) sel.focus(); else $('#announce').textContent = 'No wrap-up waiting.';
      },
      R: () => { $('#state').value = 'ready'; $('#set-state').click(); },
      K: () => { const d = $('#shortcuts'); d.open = true; $('summary', d).focus(); },
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

const RECENT = 'switchboard.recent-transfers';

/** Keeps a transfer destination ("q:3", "a:7") first among the recent. @param {string} v */
function remember(v) {
  const recent = [v, ...JSON.parse(localStorage.getItem(RECENT) || '[]').filter((/** @type {string} */ x) => x !== v)].slice(0, 3);
  localStorage.setItem(RECENT, JSON.stringify(recent));
}

/**
 * Quick destinations beside the transfer picker: the clinical queues and
 * the last three places this browser transferred to. A press chooses it
 * in the picker and moves to Transfer (one more press sends it).
 * @param {HTMLSelectElement} target
 * @param {() => HTMLElement} button
 */
function quickView(target, button) {
  const options = [...target.querySelectorAll('option')].filter((o) => o.value);
  const recent = JSON.parse(localStorage.getItem(RECENT) || '[]');
  const picks = [...options.filter((o) => o.value.startsWith('q:') && /clinic/i.test(o.textContent || '')).map((o) => o.value), ...recent]
    .filter((v, i, all) => all.indexOf(v) === i && options.some((o) => o.value === v)).slice(0, 4);
  if (!picks.length) return '';
  return el('div', { class: 'row quick', role: 'group', 'aria-label': 'Quick transfer destinations' },
    el('span', { class: 'hint' }, 'Quick:'),
    picks.map((v) => {
      const o = options.find((x) => x.value === v);
      return el('button', { type: 'button', class: 'secondary quick-to', dataset: { to: v },
        onclick: () => { target.value = v; target.removeAttribute('aria-invalid'); button().focus(); } }, (o?.textContent || v).replace(/ \(.*\)$/, ''));
    }));
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
/** The audio context, made on the first chime. @type {AudioContext | undefined} */
chime.ctx = undefined;

session.then((me) => { if (me) agentPage(me); });
