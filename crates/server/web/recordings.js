// @ts-check
// Supervisors and the quality team find a call's recording by contact,
// agent, the caller's number or time, play it here or download it, and
// score it against a scorecard. The audio is fetched only when asked for
// (each fetch is a listen, audited by the server).

import { session, $, el, api, errorOf, fromUkLocal, ukDateTime } from '/ui.js';

/** @template {keyof import('/ui.js').Schemas} K @typedef {import('/ui.js').Schema<K>} Schema */
/** @template [T=any] @typedef {import('/ui.js').Answer<T>} Answer */

/** A UK-time field's value as the API's instant. @param {string} v */
const utc = (v) => (v ? fromUkLocal(v).toISOString() : null);
/** @param {string} iso */
const when = (iso) => ukDateTime(iso);
const length = (s) => `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, '0')}`;

let scorecards = [];

/** The form that scores recording `r` against a scorecard: every question
 * answered (yes/no/not applicable, or points), a comment for the agent. */
function scoreForm(r) {
  const form = el('form', { class: 'score', novalidate: true });
  const pick = el('select', { id: `sc-${r.id}` }, scorecards.map((c) => el('option', { value: c.id }, c.scorecard.name)));
  const questions = el('div', {});
  const said = el('p', { class: 'field-error', role: 'alert' });
  const draw = () => {
    const card = scorecards.find((c) => String(c.id) === pick.value)?.scorecard;
    questions.replaceChildren(...(card?.sections || []).map((s) => el('fieldset', {}, el('legend', {}, s.name),
      ...s.questions.map((q) => {
        const id = `q-${r.id}-${q.id}`;
        const choices = q.scale !== undefined && q.scale !== null
          ? Array.from({ length: q.scale + 1 }, (_, n) => [String(n), String(n)])
          : [['yes', 'Yes'], ['no', 'No']];
        if (q.not_applicable) choices.push(['na', 'Not applicable']);
        return el('div', { class: 'row' }, el('label', { for: id }, `${q.text}${q.fail_all ? ' (fails the call if not met)' : ''}`),
          el('select', { id, dataset: { question: q.id } }, el('option', { value: '' }, 'Choose…'),
            choices.map(([v, t]) => el('option', { value: v }, t))));
      }))));
  };
  pick.addEventListener('change', draw);
  draw();
  const comment = el('textarea', { id: `comment-${r.id}`, rows: 2, maxlength: 4000 });
  form.append(el('div', { class: 'row' }, el('label', { for: `sc-${r.id}` }, 'Scorecard'), pick), questions,
    el('label', { for: `comment-${r.id}` }, 'Feedback for the agent'), comment,
    el('button', { type: 'submit' }, 'Save score'), said);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const answers = {};
    for (const s of questions.querySelectorAll('select')) {
      if (!s.value) { said.textContent = `answers.${s.dataset.question}: choose an answer`; s.focus(); return; }
      answers[s.dataset.question] = /^\d+$/.test(s.value) ? Number(s.value) : s.value;
    }
    const res = await api('POST', '/api/v1/evaluations', { recording: r.id, scorecard: Number(pick.value), answers, comment: comment.value });
    said.textContent = res.ok ? `Scored ${res.data.score.toFixed(1)}%${res.data.failed.length ? ` (failed: ${res.data.failed.join(', ')})` : ''}.` : errorOf(res);
  });
  return form;
}

function row(r) {
  const cell = el('td', {});
  if (r.state === 'available') {
    const src = `/api/v1/recordings/${r.id}/audio`;
    const play = el('button', { type: 'button', class: 'secondary play', 'aria-label': `Play recording ${r.id}` }, 'Play');
    play.addEventListener('click', () => {
      const audio = el('audio', { controls: true, preload: 'auto', src, 'aria-label': `Recording ${r.id}` });
      play.replaceWith(audio);
      audio.play().catch(() => {});
    });
    cell.append(play, ' ', el('a', { href: src, download: `recording-${r.id}.wav` }, 'Download'));
    const holdSaid = el('span', { class: 'hint', role: 'status' }, r.hold ? ` Kept past its retention: ${r.hold}` : '');
    const reason = el('input', { id: `hold-${r.id}`, size: 24, placeholder: 'e.g. complaint 2026/114' });
    const setHold = async (on) => {
      const res = on ? await api('PUT', `/api/v1/recordings/${r.id}/hold`, { reason: reason.value })
        : await api('DELETE', `/api/v1/recordings/${r.id}/hold`);
      holdSaid.textContent = res.ok ? (on ? ` Kept past its retention: ${reason.value}` : ' Hold released: its retention applies.') : ` ${errorOf(res)}`;
    };
    cell.append(el('details', {}, el('summary', {}, 'Keep past its retention'),
      el('label', { for: `hold-${r.id}` }, 'Why (a complaint, an incident)'), reason,
      el('button', { type: 'button', class: 'secondary', onclick: () => setHold(true) }, 'Keep'),
      el('button', { type: 'button', class: 'secondary', onclick: () => setHold(false) }, 'Release')), holdSaid);
    if (scorecards.length && r.agent !== null) {
      cell.append(el('details', {}, el('summary', {}, 'Score this call'), scoreForm(r)));
    }
  } else {
    cell.append(r.state === 'destroyed' ? `Destroyed ${when(r.destroyed_at || '')} (retention)` : 'Still being recorded');
  }
  return el('tr', { dataset: { recording: r.id } },
    el('td', {}, String(r.id)), el('td', {}, r.contact ?? '—'), el('td', {}, r.agent ?? '—'),
    el('td', {}, when(r.started_at)), el('td', {}, length(r.seconds) + (r.paused_seconds ? ` (${Math.round(r.paused_seconds)} s paused)` : '')),
    el('td', {}, when(r.expires_at)), cell);
}

async function find() {
  const q = new URLSearchParams();
  for (const [id, key] of [['#f-contact', 'contact'], ['#f-agent', 'agent'], ['#f-number', 'number']]) {
    const v = $(id).value.trim();
    if (v) q.set(key, v);
  }
  for (const [id, key] of [['#f-from', 'from'], ['#f-to', 'to']]) {
    const v = utc($(id).value);
    if (v) q.set(key, v);
  }
  /** @type {Answer<Schema<'Recordings'>>} */
  const res = await api('GET', `/api/v1/recordings?${q}`);
  const error = $('#find-error');
  if (!res.ok) { error.textContent = errorOf(res); return; }
  error.textContent = '';
  const rows = res.data.recordings;
  $('#rec-rows').replaceChildren(...(rows.length ? rows.map(row)
    : [el('tr', {}, el('td', { colspan: 7 }, 'No recordings match.'))]));
}

session.then(async (me) => {
  if (!me) return;
  /** @type {Answer<Schema<'Scorecards'>>} */
  const cards = await api('GET', '/api/v1/scorecards');
  if (cards.ok) scorecards = cards.data.scorecards;
  $('#find-form').addEventListener('submit', (e) => { e.preventDefault(); find(); });
  find();
});
