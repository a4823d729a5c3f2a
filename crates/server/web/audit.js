// @ts-check
// The auditor's page: who accessed a patient's record, unusual access
// (many patients, out of hours, break-glass) and the break-glass reads
// with their reasons. Each look-up is audited by the server.

import { session, $, el, api, errorOf } from '/ui.js';

/** @template {keyof import('/ui.js').Schemas} K @typedef {import('/ui.js').Schema<K>} Schema */
/** @template [T=any] @typedef {import('/ui.js').Answer<T>} Answer */

const when = (ms) => new Date(ms).toLocaleString('en-GB', { timeZone: 'Europe/London', dateStyle: 'medium', timeStyle: 'medium' }) + ' UK time';
const nhs = (n) => (n && n.length === 10 ? `${n.slice(0, 3)} ${n.slice(3, 6)} ${n.slice(6)}` : n || '—');
const empty = (cols, text) => el('tr', {}, el('td', { colspan: cols }, text));

/** Marks a field wrong (or right again) with its message. */
function field(input, message, out) {
  out.textContent = message || '';
  if (message) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
}

async function patient() {
  const input = $('#nhs');
  const digits = input.value.replace(/\s+/g, '');
  if (!/^\d{10}$/.test(digits)) {
    field(input, 'NHS number: ten digits, such as 999 000 0018', $('#nhs-error'));
    input.focus();
    return;
  }
  /** @type {Answer<Schema<'AuditRecords'>>} */
  const res = await api('GET', `/api/v1/audit/patients/${digits}?limit=1000`);
  if (!res.ok) { field(input, `NHS number: ${errorOf(res)}`, $('#nhs-error')); return; }
  field(input, '', $('#nhs-error'));
  const rows = res.data.records;
  $('#patient-rows').replaceChildren(...(rows.length ? rows.map((r) => el('tr', {},
    el('td', {}, when(r.at)), el('td', {}, r.actor), el('td', {}, r.action),
    el('td', {}, r.purpose || '—'), el('td', {}, r.origin || '—'), el('td', {}, r.outcome)))
    : [empty(6, `No one accessed ${nhs(digits)}'s record.`)]));
}

async function review() {
  const input = $('#hours');
  const hours = Number(input.value.trim());
  if (!Number.isInteger(hours) || hours < 1 || hours > 2160) {
    field(input, 'Hours: a whole number from 1 to 2,160 (90 days)', $('#hours-error'));
    input.focus();
    return;
  }
  field(input, '', $('#hours-error'));
  /** @type {[Answer<Schema<'UnusualReport'>>, Answer<Schema<'Reviewed'>>]} */
  const [unusual, glass] = await Promise.all([
    api('GET', `/api/v1/audit/unusual?hours=${hours}`),
    api('GET', `/api/v1/audit/break-glass?hours=${hours}`),
  ]);
  if (!unusual.ok || !glass.ok) { field(input, errorOf(unusual.ok ? glass : unusual), $('#hours-error')); return; }
  const a = unusual.data.access;
  $('#unusual-rows').replaceChildren(...(a.length ? a.map((x) => el('tr', { class: x.flags.length ? 'unusual' : null },
    el('td', {}, x.actor), el('td', {}, x.reads), el('td', {}, x.patients), el('td', {}, x.out_of_hours),
    el('td', {}, x.break_glass), el('td', {}, x.flags.length ? x.flags.join('; ') : 'nothing unusual')))
    : [empty(6, 'No one read a patient\'s record in the period.')]));
  const g = glass.data.records;
  $('#glass-rows').replaceChildren(...(g.length ? g.map((r) => el('tr', {},
    el('td', {}, when(r.at)), el('td', {}, r.actor), el('td', {}, nhs(r.patient)), el('td', {}, r.purpose || '—')))
    : [empty(4, 'No break-glass reads in the period.')]));
}

/** The chain checked now by the server (every record, the newest checkpoint). */
async function chain() {
  const box = $('#chain-status');
  box.replaceChildren(el('p', {}, 'Checking…'));
  /** @type {Answer<Schema<'ChainStatus'>>} */
  const res = await api('GET', '/api/v1/audit/chain');
  if (!res.ok) { box.replaceChildren(el('p', { class: 'notice error' }, `The chain could not be checked: ${errorOf(res)}`)); return; }
  const c = res.data;
  const checkpoint = {
    reaches: c.checkpoint.at ? `It reaches the checkpoint of record ${c.checkpoint.seq} (${when(c.checkpoint.at)}) with the same hash.` : '',
    none: 'No checkpoint has been written yet, so records cut off the end could not be told.',
    cut: '', rewritten: '',
  }[c.checkpoint.verdict] || '';
  box.replaceChildren(c.intact
    ? el('p', { class: 'notice' }, el('strong', {}, 'Intact. '), `${c.records.toLocaleString('en-GB')} records, each following the one before, none changed. ${checkpoint} Checked ${when(c.checked_at)}.`)
    : el('p', { class: 'notice error' }, el('strong', {}, 'Broken. '), `${c.problem}. Checked ${when(c.checked_at)}. Report this to the Caldicott guardian and the trust's IT security lead, and keep the database file as it is.`));
}

/** Records of the period whose words hold the search text, newest first. */
async function trail() {
  const text = $('#trail-text').value.trim().toLowerCase();
  const hoursInput = $('#trail-hours');
  const hours = Number(hoursInput.value.trim());
  if (!Number.isInteger(hours) || hours < 1 || hours > 2160) {
    field(hoursInput, 'Hours: a whole number from 1 to 2,160 (90 days)', $('#trail-error'));
    hoursInput.focus();
    return;
  }
  field(hoursInput, '', $('#trail-error'));
  const res = await api('GET', `/api/v1/audit/events?hours=${hours}`);
  if (!res.ok) { field(hoursInput, errorOf(res), $('#trail-error')); return; }
  const found = (res.data.entry || []).map((/** @type {any} */ e) => e.resource).map((/** @type {any} */ r) => ({
    at: Date.parse(r.recorded),
    who: r.agent?.[0]?.who?.display || '—',
    what: r.subtype?.[0]?.code || '—',
    subject: r.entity?.[0]?.description || '—',
    outcome: r.outcomeDesc || '—',
  })).filter((/** @type {any} */ r) => !text || [r.who, r.what, r.subject, r.outcome].some((w) => w.toLowerCase().includes(text)))
    .reverse();
  const shown = found.slice(0, 500);
  $('#trail-count').textContent = `${found.length.toLocaleString('en-GB')} records found${found.length > shown.length ? `; the newest ${shown.length} shown` : ''}.`;
  $('#trail-rows').replaceChildren(...(shown.length ? shown.map((r) => el('tr', {},
    el('td', {}, when(r.at)), el('td', {}, r.who), el('td', {}, r.what), el('td', {}, r.subject), el('td', {}, r.outcome)))
    : [empty(5, 'No records match.')]));
}

session.then((me) => {
  if (!me) return;
  chain();
  $('#chain-check').addEventListener('click', chain);
  $('#trail-form').addEventListener('submit', (e) => { e.preventDefault(); trail(); });
  $('#patient-form').addEventListener('submit', (e) => { e.preventDefault(); patient(); });
  $('#period-form').addEventListener('submit', (e) => { e.preventDefault(); review(); });
  review();
});
