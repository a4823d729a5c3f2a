// @ts-check
// The DoS lead's page: find a service, edit its profile and opening times
// (with the week at a glance), set its capacity, see its change history
// and the gaps recorded for its kind of service nearby. Every change goes
// through the API, which checks it and names the field of any problem.

import { session, $, el, api, errorOf, label } from '/ui.js';

/** @template {keyof import('/ui.js').Schemas} K @typedef {import('/ui.js').Schema<K>} Schema */
/** @template [T=any] @typedef {import('/ui.js').Answer<T>} Answer */

const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'], ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];

/** "09:00-13:00, 14:00-18:00" → [["09:00","13:00"],["14:00","18:00"]]; the
 * server checks the times themselves. */
function parseSessions(text) {
  return text.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const [a, b] = s.split('-').map((x) => x.trim());
    return [a || '', b || ''];
  });
}
const showSessions = (list) => (list || []).map(([a, b]) => `${a}-${b}`).join(', ');

/** The week as bars over 24 hours, for reading at a glance. */
function weekView(opening) {
  const table = el('table', { class: 'week' },
    el('caption', {}, opening.open_all_hours ? 'Open all hours' : 'Opening times this week (London time)'),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Day'), el('th', { scope: 'col' }, 'Open'))));
  const body = el('tbody', {});
  for (const [key, name] of DAYS) {
    const sessions = opening.open_all_hours ? [['00:00', '23:59']] : (opening.weekly?.[key] || []);
    // An SVG bar (attributes, not inline styles: the page's CSP allows
    // no inline style).
    const ns = 'http://www.w3.org/2000/svg';
    const bar = document.createElementNS(ns, 'svg');
    bar.setAttribute('viewBox', '0 0 1440 10');
    bar.setAttribute('preserveAspectRatio', 'none');
    bar.setAttribute('class', 'day-bar');
    bar.setAttribute('aria-hidden', 'true');
    for (const [a, b] of sessions) {
      const m = (t) => { const [h, mm] = t.split(':').map(Number); return h * 60 + mm; };
      const from = m(a); const to = b === '23:59' ? 1440 : m(b);
      const r = document.createElementNS(ns, 'rect');
      for (const [k, v] of Object.entries({ x: from, y: 0, width: Math.max(0, to - from), height: 10 })) r.setAttribute(k, String(v));
      bar.append(r);
    }
    body.append(el('tr', {}, el('th', { scope: 'row' }, name),
      el('td', {}, bar, el('span', { class: 'day-text' }, sessions.length ? showSessions(sessions) : 'Closed'))));
  }
  table.append(body);
  return table;
}

function directoryPage() {
  let current = null; // {id, service}
  const form = /** @type {HTMLFormElement} */ ($('#svc-form'));
  const week = $('#svc-week');
  for (const [key, name] of DAYS) {
    week.append(el('div', {}, el('label', { for: `svc-w-${key}` }, name),
      el('input', { id: `svc-w-${key}`, 'data-field': `opening.weekly.${key}`, autocomplete: 'off' })));
  }

  async function find(q) {
    /** @type {Answer<Schema<'ServiceList'>>} */
    const res = await api('GET', `/api/v1/dos/services?limit=50&q=${encodeURIComponent(q)}`);
    if (!res.ok) { $('#find-summary').textContent = errorOf(res); return; }
    const { total, services } = res.data;
    $('#find-summary').textContent = total > services.length ? `${total} services match; the first ${services.length} are shown.` : `${total} service${total === 1 ? '' : 's'} found.`;
    $('#find-results').replaceChildren(...services.map((s) => el('tr', {},
      el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => open(s.id) }, s.service.name)),
      el('td', {}, s.service.id), el('td', {}, s.type_name || String(s.service.type_id)),
      el('td', {}, label(s.service.status)), el('td', {}, el('span', { class: `rag ${s.capacity_now}` }, label(s.capacity_now))))));
  }

  function fill(s) {
    $('#svc-title').textContent = `${s.name} (${s.id})`;
    /** @type {HTMLInputElement} */ ($('#svc-name')).value = s.name;
    const status = /** @type {HTMLSelectElement} */ ($('#svc-status'));
    if (![...status.options].some((o) => o.value === s.status)) status.append(el('option', { value: s.status }, label(s.status)));
    status.value = s.status;
    /** @type {HTMLInputElement} */ ($('#svc-age-min')).value = String(s.age_min_days);
    /** @type {HTMLInputElement} */ ($('#svc-age-max')).value = String(s.age_max_days);
    for (const g of ['M', 'F', 'I']) /** @type {HTMLInputElement} */ ($(`#svc-g-${g}`)).checked = s.genders.includes(g);
    /** @type {HTMLInputElement} */ ($('#svc-dx')).value = s.dispositions.join(', ');
    /** @type {HTMLInputElement} */ ($('#svc-sgsd')).value = s.sg_sd.map(([g, d]) => `${g}:${d}`).join(', ');
    /** @type {HTMLInputElement} */ ($('#svc-24h')).checked = !!s.opening.open_all_hours;
    for (const [key] of DAYS) /** @type {HTMLInputElement} */ ($(`#svc-w-${key}`)).value = showSessions(s.opening.weekly?.[key]);
    /** @type {HTMLInputElement} */ ($('#svc-bh')).value = showSessions(s.opening.bank_holiday);
    /** @type {HTMLTextAreaElement} */ ($('#svc-dated')).value = Object.entries(s.opening.specified || {})
      .map(([d, list]) => `${d} ${list.length ? showSessions(list) : 'closed'}`).join('\n');
    $('#svc-weekview').replaceChildren(weekView(s.opening));
  }

  /** A whole number from a box, or an error naming the field. */
  function whole(id, field) {
    const text = /** @type {HTMLInputElement} */ ($(id)).value.trim();
    if (!/^\d+$/.test(text)) throw new Error(`${field}: give a whole number of days`);
    return Number(text);
  }

  /** The profile as the form says, on top of what was loaded (throws an
   * error naming the field for what the form can tell is wrong). */
  function fromForm() {
    const s = structuredClone(current.service);
    s.name = /** @type {HTMLInputElement} */ ($('#svc-name')).value;
    s.status = /** @type {HTMLSelectElement} */ ($('#svc-status')).value;
    s.age_min_days = whole('#svc-age-min', 'age_min_days');
    s.age_max_days = whole('#svc-age-max', 'age_max_days');
    s.genders = ['M', 'F', 'I'].filter((g) => /** @type {HTMLInputElement} */ ($(`#svc-g-${g}`)).checked);
    s.dispositions = /** @type {HTMLInputElement} */ ($('#svc-dx')).value.split(',').map((x) => x.trim()).filter(Boolean);
    s.sg_sd = /** @type {HTMLInputElement} */ ($('#svc-sgsd')).value.split(',').map((x) => x.trim()).filter(Boolean)
      .map((p) => {
        const m = /^(\d+)\s*:\s*(\d+)$/.exec(p);
        if (!m) throw new Error(`sg_sd: '${p}' is not SG:SD (two numbers, e.g. 1003:4303)`);
        return [Number(m[1]), Number(m[2])];
      });
    const opening = { open_all_hours: /** @type {HTMLInputElement} */ ($('#svc-24h')).checked, weekly: {} };
    for (const [key] of DAYS) {
      const list = parseSessions(/** @type {HTMLInputElement} */ ($(`#svc-w-${key}`)).value);
      if (list.length) opening.weekly[key] = list;
    }
    const bh = parseSessions(/** @type {HTMLInputElement} */ ($('#svc-bh')).value);
    if (bh.length) opening.bank_holiday = bh;
    const dated = {};
    for (const line of /** @type {HTMLTextAreaElement} */ ($('#svc-dated')).value.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const [date, ...rest] = line.split(/\s+/);
      const what = rest.join(' ');
      dated[date] = /^closed$/i.test(what) ? [] : parseSessions(what);
    }
    if (Object.keys(dated).length) opening.specified = dated;
    s.opening = opening;
    return s;
  }

  /** The server's "field: problem" shown in the summary and at the field. */
  function showError(message) {
    form.querySelectorAll('[aria-invalid]').forEach((n) => { n.removeAttribute('aria-invalid'); n.removeAttribute('aria-describedby'); });
    form.querySelectorAll('.field-error').forEach((n) => n.remove());
    const box = $('#svc-errors');
    if (!message) { box.hidden = true; return; }
    const field = (message.split(': ')[0] || '').replace(/\[\d+\]$/, '');
    const target = [...form.querySelectorAll('[data-field]')].find((n) => field === n.getAttribute('data-field') || field.startsWith(`${n.getAttribute('data-field')}.`))
      || [...form.querySelectorAll('[data-field]')].find((n) => field.startsWith(String(n.getAttribute('data-field'))));
    const list = $('#svc-error-list');
    list.replaceChildren(el('li', {}, target ? el('a', { href: `#${target.id}` }, message) : message));
    if (target) {
      const id = `${target.id}-error`;
      target.setAttribute('aria-invalid', 'true');
      target.setAttribute('aria-describedby', id);
      target.insertAdjacentElement('beforebegin', el('p', { class: 'field-error', id }, message));
    }
    box.hidden = false;
    box.focus();
  }

  async function open(id, saved) {
    /** @type {Answer<Schema<'ServiceDetail'>>} */
    const res = await api('GET', `/api/v1/dos/services/${id}`);
    if (!res.ok) { $('#find-summary').textContent = errorOf(res); return; }
    current = { id, service: res.data.service };
    $('#service').hidden = false;
    $('#svc-saved').textContent = saved || `Capacity now: ${label(res.data.capacity_now)}.`;
    showError(null);
    fill(res.data.service);
    $('#svc-history').replaceChildren(...(res.data.history.length
      ? res.data.history.map((h) => el('li', {}, `${new Date(h.at).toLocaleString('en-GB', { timeZone: 'Europe/London' })} (London), ${h.actor.replace(/^user:\d+ \((.*)\)$/, '$1')}: ${h.what}`))
      : [el('li', {}, 'No changes recorded.')]));
    gaps(res.data.service);
    /** @type {HTMLElement} */ ($('#svc-title')).focus();
  }

  async function gaps(s) {
    const to = new Date(); const from = new Date(to.getTime() - 7 * 86400000);
    /** @type {Answer<Schema<'TriageReport'>>} */
    const res = await api('GET', `/api/v1/reports/triage?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`);
    const district = (s.postcode || '').toUpperCase().replace(/\s+/g, '').slice(0, -3);
    const rows = res.ok ? res.data.gaps.filter((g) => g.service_type === s.type_id && (!district || g.district === district)) : [];
    $('#svc-gaps').replaceChildren(...(rows.length
      ? rows.map((g) => el('li', {}, `${g.district}: ${g.services} services of this type failed only "${label(g.failed)}" over ${g.searches} searches`))
      : [el('li', {}, res.ok ? 'None recorded.' : errorOf(res))]));
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let profile;
    try { profile = fromForm(); } catch (err) { showError(String(/** @type {Error} */ (err).message)); $('#svc-saved').textContent = 'Not saved: the profile is as it was.'; return; }
    const res = await api('PUT', `/api/v1/dos/services/${current.id}`, profile);
    if (!res.ok) { showError(errorOf(res)); $('#svc-saved').textContent = 'Not saved: the profile is as it was.'; return; }
    showError(null);
    await open(current.id, res.data.changed.length
      ? `Saved. Changed: ${res.data.changed.join(', ')}. In force for the next search.` : 'Nothing changed.');
  });
  $('#cap-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { rag: /** @type {HTMLSelectElement} */ ($('#cap-rag')).value, reset_minutes: Number(/** @type {HTMLInputElement} */ ($('#cap-minutes')).value) };
    const res = await api('PUT', `/api/v1/dos/services/${current.id}/capacity`, body);
    $('#cap-result').textContent = res.ok ? `Capacity ${label(body.rag)} until ${new Date(res.data.capacity.reset_at).toLocaleString('en-GB', { timeZone: 'Europe/London' })} (London).` : errorOf(res);
    // What is shown (and saved next) is what is stored.
    if (res.ok) await open(current.id);
  });
  $('#find-form').addEventListener('submit', (e) => { e.preventDefault(); find(/** @type {HTMLInputElement} */ ($('#find-q')).value); });
  find('');
}

session.then((me) => { if (me && document.body.dataset.page === 'directory') directoryPage(); });
