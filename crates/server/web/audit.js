// The auditor's page: who accessed a patient's record, unusual access
// (many patients, out of hours, break-glass) and the break-glass reads
// with their reasons. Each look-up is audited by the server.

import { session, $, el, api, errorOf } from '/app.js';

const when = (ms) => new Date(ms).toLocaleString('en-GB', { timeZone: 'Europe/London', dateStyle: 'medium', timeStyle: 'medium' });
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

session.then((me) => {
  if (!me) return;
  $('#patient-form').addEventListener('submit', (e) => { e.preventDefault(); patient(); });
  $('#period-form').addEventListener('submit', (e) => { e.preventDefault(); review(); });
  review();
});
