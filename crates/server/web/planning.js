// @ts-check
// Planning: a forecast of arrivals from the queue's own history (or an
// uploaded file), back-tested; the staff it needs against an uploaded
// rota, suggested shifts or a weekly rota, and what-if scenarios.

import { session, $, el, api, errorOf, fmtSecs, pct, showFieldErrors, label } from '/ui.js';
import { lineChart } from '/charts.js';

/** @template {keyof import('/ui.js').Schemas} K @typedef {import('/ui.js').Schema<K>} Schema */
/** @template [T=any] @typedef {import('/ui.js').Answer<T>} Answer */
/** @typedef {Schema<'PlanAnswer'>} PlanAnswer */

/** A field's dates, comma-separated. @param {string} id @returns {string[]} */
const dateList = (id) => $(id).value.split(',').map((s) => s.trim()).filter(Boolean);

async function planningPage() {
  const form = $('#plan-form');
  /** @type {Answer<Schema<'Config'>>} */
  const c = await api('GET', '/api/v1/config');
  if (c.ok) c.data.queues.forEach((q) => $('#p-queue').append(el('option', { value: q.id }, q.name)));
  /** A chosen file's text (null: none chosen). @param {{ files?: FileList }} input @returns {Promise<string | null>} */
  const readFile = (input) => new Promise((ok, fail) => {
    const f = input.files[0];
    if (!f) return ok(null);
    const r = new FileReader();
    r.onload = () => ok(/** @type {string} */ (r.result));
    r.onerror = () => fail(new Error('the file cannot be read'));
    r.readAsText(f);
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    showFieldErrors(form, '');
    /** @param {string} id */
    const num = (id) => Number($(id).value);
    /** @type {Partial<Schema<'Plan'>>} */
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
    /** @type {Answer<PlanAnswer>} */
    const res = await api('POST', '/api/v1/planning', body);
    $('#p-run').disabled = false;
    if (!res.ok) { $('#results').replaceChildren(); showFieldErrors(form, errorOf(res)); return; }
    renderPlan(res.data);
  });
}

/**
 * The forecast: its method and why, its accuracy in the back-tests, the
 * days left out as unlike their weekday, and notes.
 * @param {PlanAnswer} p
 */
function forecastSection(p) {
  /** @param {number | null} lo @param {number | null} hi */
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
  return el('section', { class: 'card', id: 'plan-method' }, el('h2', {}, 'Forecast'),
    el('p', {}, `Method: ${label(p.method)}${p.combined.length ? ` (${p.combined.map(label).join(', ')})` : ''} — ${p.why}. Source: ${p.source}. Handle time: ${p.handle_time}.`),
    p.backtest.length ? [el('p', {}, `Accuracy over ${p.origins.length} back-tests of ${p.test_days} days each, from ${p.origins[0]} to ${p.origins[p.origins.length - 1]}, on ordinary days; each back-test saw only the days before it:`), acc] : '',
    p.coverage80 !== null ? el('p', {}, `The 80% band held ${pct(p.coverage80)} and the 95% band ${pct(p.coverage95)} of what happened in the back-tests.`) : '',
    p.holidays_in_horizon.length ? el('p', {}, `Holidays ahead: ${p.holidays_in_horizon.join(', ')}.`) : '',
    odd, p.notes.length ? el('ul', { id: 'plan-notes' }, p.notes.map((n) => el('li', {}, n))) : '');
}

/** The last back-test: the forecast against what happened. @param {Schema<'BacktestPoint'>[]} bs */
function backtestSection(bs) {
  return el('section', { class: 'card' }, el('h2', {}, 'Forecast against actual (the last back-test)'),
    lineChart(bs.map((r) => `${r.date.slice(5)} ${r.interval_start}`),
      [{ name: 'actual calls', values: bs.map((r) => r.actual), colour: '#0b0c0c' },
        { name: 'forecast', values: bs.map((r) => r.forecast), colour: '#1d4f91', dash: '6 3' }],
      'Actual calls and the forecast per interval over the last back-test'));
}

/**
 * The forecast calls and the staff they need against the rota, per
 * interval; how far the rota (and any suggested shifts) covers it.
 * @param {PlanAnswer} p
 * @param {string[]} labels
 */
function requirementSection(p, labels) {
  const iv = p.intervals;
  return el('section', { class: 'card', id: 'plan-requirement' }, el('h2', {}, 'Staff required against the rota'),
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
    p.suggested_shifts ? el('p', { id: 'plan-suggested' }, `${p.suggested_shifts.length} suggested 8-hour shifts bring it to ${pct(p.coverage_with_suggestions.covered_share)} covered.`) : '');
}

/** A suggested weekly rota: its lines and what they cover. @param {Schema<'WeeklyRota'>} w */
function weeklySection(w) {
  return el('section', { class: 'card', id: 'plan-weekly' }, el('h2', {}, 'Suggested weekly rota'),
    el('p', {}, `${w.lines.length} weekly lines (${w.people} people over a ${w.cycle_weeks}-week cycle), ${Math.round(w.paid_hours_per_week)} paid hours a week, ${w.lines_working_weekends} working weekends: they cover ${pct(w.coverage.covered_share)} of the requirement, ${w.coverage.understaffed_slots} intervals short.`),
    el('table', {}, el('thead', {}, el('tr', {}, ['Line', 'Start', 'End', 'Days', 'Breaks'].map((h) => el('th', {}, h)))),
      el('tbody', {}, w.lines.slice(0, 200).map((l, i) => el('tr', {}, el('td', {}, String(i + 1)), el('td', {}, l.start), el('td', {}, l.end + (l.night ? ' (next day)' : '')),
        el('td', {}, l.days), el('td', {}, l.breaks.map((b) => b ?? '—').join(' ')))))));
}

/**
 * A what-if scenario's predicted service, overall and per interval.
 * @param {Schema<'WhatIf'>} whatif
 * @param {Schema<'Interval'>[]} iv
 * @param {string[]} labels
 */
function whatifSection(whatif, iv, labels) {
  const o = whatif.overall;
  return el('section', { class: 'card', id: 'plan-whatif' }, el('h2', {}, `What if: ${whatif.scenario.replace(/^what-if: /, '')}`),
    el('p', {}, `${whatif.agents} people on the rota${whatif.shifts_lost ? `, ${whatif.shifts_lost} shifts lost` : ''}. Predicted: service level ${pct(o.service_level)}, abandonment ${pct(o.abandonment_rate)}, mean time to answer ${o.asa_seconds === null ? '—' : fmtSecs(o.asa_seconds)}, ${o.callbacks_requested} callbacks.`),
    lineChart(labels, [{ name: 'predicted service level', values: iv.map((r) => r.predicted?.service_level ?? null), colour: '#1d4f91' },
      { name: 'predicted abandonment', values: iv.map((r) => r.predicted?.abandonment_rate ?? null), colour: '#b10e1e', dash: '5 3' }],
    'Predicted service level and abandonment per interval', 1));
}

/** The plan's answer, section by section. @param {PlanAnswer} p */
function renderPlan(p) {
  const out = [forecastSection(p)];
  if (p.backtest_series.length) out.push(backtestSection(p.backtest_series));
  const iv = p.intervals;
  const labels = iv.map((r) => `${r.date.slice(5)} ${r.interval_start}`);
  out.push(requirementSection(p, labels));
  if (p.weekly_rota) out.push(weeklySection(p.weekly_rota));
  if (p.whatif) out.push(whatifSection(p.whatif, iv, labels));
  $('#results').replaceChildren(...out);
}

session.then((me) => { if (me) planningPage(); });
