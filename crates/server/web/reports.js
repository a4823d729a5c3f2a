// @ts-check
// Reports: the KPIs of a period by hour or day (charts, a table, CSV),
// the clinical figures against their targets, triage and Directory of
// Services gaps, web chats and wrap-up outcomes.

import { session, $, el, api, errorOf, fmtSecs, pct, label, toUkLocal, fromUkLocal, ukDateTime } from '/ui.js';
import { barChart, bandChart } from '/charts.js';

/** @template {keyof import('/ui.js').Schemas} K @typedef {import('/ui.js').Schema<K>} Schema */
/** @template [T=any] @typedef {import('/ui.js').Answer<T>} Answer */

async function reportsPage() {
  // The fields are UK wall-clock time (GMT or BST as the date has it):
  // today from midnight in London, to now.
  const now = new Date();
  $('#r-from').value = `${toUkLocal(now).slice(0, 10)}T00:00`;
  $('#r-to').value = toUkLocal(new Date(now.getTime() + 60000));
  async function show() {
    const from = fromUkLocal($('#r-from').value).toISOString();
    const to = fromUkLocal($('#r-to').value).toISOString();
    const by = $('#r-by').value;
    const qs = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&by=${by}`;
    $('#csv').href = `/api/v1/reports/kpis?${qs}&format=csv`;
    /** @type {Answer<Schema<'KpiReport'>>} */
    const res = await api('GET', `/api/v1/reports/kpis?${qs}`);
    if (!res.ok) { $('#report-error').textContent = errorOf(res); return; }
    $('#report-error').textContent = '';
    const overall = res.data.rows.filter((r) => r.dimension.kind === 'overall');
    // Volume by hour (or by day), against answered within target.
    /** @type {Map<string, import('/charts.js').Bar>} */
    const buckets = new Map();
    for (const r of overall) {
      const uk = toUkLocal(r.interval_start);
      const key = by === 'day' ? uk.slice(0, 10) : `${uk.slice(0, 13)}:00`;
      const b = buckets.get(key) || { label: by === 'day' ? key.slice(5) : key.slice(11, 16), offered: 0, within: 0 };
      b.offered += r.counts.offered;
      b.within += r.counts.answered_within_target;
      buckets.set(key, b);
    }
    $('#volume-chart').replaceChildren(buckets.size ? barChart([...buckets.values()]) : el('p', {}, 'No calls in this period.'));
    $('#answer-chart').replaceChildren(bandChart(res.data.answer_bands, 'answered calls'));
    $('#abandon-chart').replaceChildren(bandChart(res.data.abandon_bands, 'abandoned calls'));
    $('#report-rows').replaceChildren(...overall.map((r) => el('tr', {},
      el('td', {}, ukDateTime(r.interval_start)),
      el('td', {}, r.counts.offered), el('td', {}, r.counts.answered), el('td', {}, r.counts.answered_within_target),
      el('td', {}, r.counts.abandoned), el('td', {}, pct(r.figures.service_level)), el('td', {}, pct(r.figures.abandonment_rate)),
      el('td', {}, r.figures.asa_seconds?.toFixed(1) ?? '—'), el('td', {}, r.figures.p95_answer_seconds?.toFixed(0) ?? '—'),
      el('td', {}, r.figures.aht_seconds?.toFixed(0) ?? '—'))));
    /** @type {Answer<Schema<'TriageReport'>>} */
    const fd = await api('GET', `/api/v1/reports/triage?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    {
      /** @param {keyof Schema<'Counts'>} k */
      const sum = (k) => overall.reduce((s, r) => s + (r.counts[k] || 0), 0);
      /** @param {number} n @param {number} d */
      const ratio = (n, d) => (d > 0 ? n / d : null);
      const answered = sum('answered');
      const cbDone = sum('clinical_callbacks_made') + sum('clinical_callbacks_missed');
      const handOvers = sum('clinical_transfers_warm') + sum('clinical_transfers_cold') + sum('clinical_callbacks_booked');
      const t = fd.ok ? fd.data : null;
      /** @type {[string, number | null, string, string][]} */
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
    /** @type {Answer<Schema<'ChatReport'>>} */
    const ch = await api('GET', `/api/v1/reports/chats?${period}`);
    if (ch.ok) {
      const r = ch.data;
      /** @param {number | null} v */
      const secs = (v) => (v === null || v === undefined ? '—' : fmtSecs(v));
      /** @type {(string | number)[][]} */
      const rows = [
        ['Chats started', r.started], ['Reached a queue', r.queued], ['Answered', r.answered],
        ['Abandoned before an agent', r.abandonment_pct === null ? r.abandoned : `${r.abandoned} (${r.abandonment_pct}%)`],
        ['First response (mean)', secs(r.first_response_s)], ['Response time (mean)', secs(r.response_s)],
        ['Handle time (mean)', secs(r.handle_s)],
        ...r.agents.map((a) => [`Agent ${a.agent}: chats at once`, `${a.concurrency_mean} on average, ${a.concurrency_max} at most`]),
      ];
      $('#chat-figures').replaceChildren(...rows.map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, String(v)))));
    }
    /** @type {Answer<Schema<'OutcomeReport'>>} */
    const o = await api('GET', `/api/v1/reports/outcomes?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    if (o.ok) {
      $('#outcomes').replaceChildren(...(o.data.outcomes.length ? o.data.outcomes.map((x) => el('li', {}, `${label(x.code)}: ${x.count}`)) : [el('li', {}, 'None recorded.')]));
    }
  }
  $('#report-form').addEventListener('submit', (e) => { e.preventDefault(); show(); });
  await show();
}

session.then((me) => { if (me) reportsPage(); });
