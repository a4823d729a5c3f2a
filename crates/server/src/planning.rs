//! Planning over HTTP: a forecast (from an uploaded history, or the
//! organisation's own arrivals), the staff each interval needs, a rota's
//! coverage with suggested shifts, and a what-if run of the simulator —
//! one request, figures per interval for the charts. The published
//! forecast feeds the surge warning on the wallboard.

use crate::error::{body, tryr, Body};
use crate::{error, App, Caller};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use forecast::{Choice, Method, Options, Series};
use jiff::civil::{Date, Time};
use model::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PlanService")]
pub(crate) struct ServiceBody {
    aht_seconds: f64,
    #[serde(default)]
    patience_seconds: Option<f64>,
    /// e.g. 0.8
    target: f64,
    target_seconds: f64,
    #[serde(default)]
    shrinkage: f64,
    #[serde(default)]
    max_occupancy: Option<f64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WhatIfBody {
    /// +30 for 30% more calls.
    #[serde(default)]
    demand_percent: f64,
    #[serde(default)]
    callback_acceptance: f64,
    #[serde(default)]
    site_off_air: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Plan")]
pub(crate) struct PlanBody {
    /// `date,interval_start,calls`; none: the organisation's own arrivals.
    #[serde(default)]
    history_csv: Option<String>,
    #[serde(default = "thirty")]
    interval_minutes: u32,
    #[serde(default = "seven")]
    horizon_days: usize,
    #[serde(default)]
    method: Option<String>,
    /// Dates left out of fitting and scoring (an outage, an event).
    #[serde(default)]
    exclude: Vec<String>,
    /// The service's own holidays, beside the calendar's: learned from
    /// the history, forecast ahead from past holidays.
    #[serde(default)]
    holidays: Vec<String>,
    /// Dates that look odd but are ordinary (anomalies rejected).
    #[serde(default)]
    ordinary: Vec<String>,
    /// `england-and-wales` (default) or `none`.
    #[serde(default)]
    calendar: Option<String>,
    /// Look for days unlike their weekday (default true).
    #[serde(default = "yes")]
    detect_anomalies: bool,
    /// Back-test origins, a week apart (default 8).
    #[serde(default = "eight")]
    origins: usize,
    service: ServiceBody,
    /// `who,date,start,end[,break_start,break_end[,site]]`.
    #[serde(default)]
    rota_csv: Option<String>,
    /// Also suggest shifts that close the gaps.
    #[serde(default)]
    suggest: bool,
    /// Also suggest a whole weekly rota: 8-hour lines, 5 days on in a row,
    /// a 4-week cycle (needs a horizon of 7 days or more).
    #[serde(default)]
    suggest_weekly: bool,
    #[serde(default)]
    whatif: Option<WhatIfBody>,
    /// Keep this forecast for the wallboard's surge warning.
    #[serde(default)]
    publish: bool,
    /// Own arrivals of one queue only (default: all).
    #[serde(default)]
    queue: Option<u32>,
    /// Own arrivals of one channel only (default: all).
    #[serde(default)]
    channel: Option<crate::wire::Channel>,
}

fn yes() -> bool {
    true
}
fn eight() -> usize {
    forecast::ORIGINS
}
fn thirty() -> u32 {
    30
}
fn seven() -> usize {
    7
}

/// Largest planning request (a history of months at 6-minute intervals).
pub const MAX_PLAN_BYTES: usize = 16 * 1024 * 1024;

/// Handle time observed in one 15-minute interval.
#[derive(Default, Clone, Copy)]
struct Handled {
    contacts: u64,
    ms: u64,
}

/// The organisation's own arrivals per 15-minute interval (UTC) of one
/// dimension, from the first day with a contact to the last complete
/// interval; and the handle time observed, by interval start.
fn own_history(
    report: Vec<kpi::Row>,
    now: Timestamp,
    dim: &kpi::Dimension,
) -> (Vec<forecast::Row>, std::collections::BTreeMap<i64, Handled>) {
    const STEP: i64 = 15 * 60 * 1000;
    let mut by_start: std::collections::BTreeMap<i64, f64> = Default::default();
    let mut handled: std::collections::BTreeMap<i64, Handled> = Default::default();
    for r in report {
        if let (true, Some(t)) = (&r.dimension == dim, r.interval_start) {
            *by_start.entry(t.0).or_default() += r.counts.offered as f64;
            let h = handled.entry(t.0).or_default();
            h.contacts += r.counts.handled;
            h.ms += r.counts.talk_ms + r.counts.hold_ms + r.counts.wrap_ms;
        }
    }
    let Some((&first, _)) = by_start.iter().next() else {
        return (Vec::new(), handled);
    };
    // Whole days from the first day's midnight, so the slots line up.
    let first = first - first.rem_euclid(86_400_000);
    let last = now.0 - now.0.rem_euclid(STEP);
    let mut out = Vec::new();
    let mut t = first;
    while t < last {
        let ts = jiff::Timestamp::from_millisecond(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
        out.push(forecast::Row {
            date: dt.date(),
            start: dt.time(),
            calls: by_start.get(&t).copied().unwrap_or(0.0),
        });
        t += STEP;
    }
    (out, handled)
}

/// Handle time per future interval: the mean observed at the same weekday
/// and time of day (over the interval's 15-minute parts), else the mean of
/// everything observed, else the service's own figure.
fn handle_time(
    handled: &std::collections::BTreeMap<i64, Handled>,
    profile: &plan::Profile,
    start_ms: i64,
    default: f64,
) -> (Vec<f64>, &'static str) {
    const WEEK: i64 = 7 * 86_400_000;
    const STEP: i64 = 15 * 60 * 1000;
    let total = handled.values().fold(Handled::default(), |a, h| Handled {
        contacts: a.contacts + h.contacts,
        ms: a.ms + h.ms,
    });
    if total.contacts == 0 {
        return (
            vec![default; profile.calls.len()],
            "the service's handle time (none observed yet)",
        );
    }
    let overall = total.ms as f64 / total.contacts as f64 / 1000.0;
    let mut by_phase: HashMap<i64, Handled> = HashMap::new();
    for (&t, h) in handled {
        let e = by_phase.entry(t.rem_euclid(WEEK)).or_default();
        e.contacts += h.contacts;
        e.ms += h.ms;
    }
    let step = profile.step_minutes * 60_000;
    let v = (0..profile.calls.len() as i64)
        .map(|i| {
            let mut h = Handled::default();
            let mut t = start_ms + i * step;
            while t < start_ms + (i + 1) * step {
                if let Some(x) = by_phase.get(&t.rem_euclid(WEEK)) {
                    h.contacts += x.contacts;
                    h.ms += x.ms;
                }
                t += STEP;
            }
            if h.contacts > 0 {
                h.ms as f64 / h.contacts as f64 / 1000.0
            } else {
                overall
            }
        })
        .map(|x| x.max(1.0))
        .collect();
    (
        v,
        "observed: mean by weekday and time of day, else the overall mean",
    )
}

/// A number as JSON can carry it (none for NaN or infinite).
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// How well a method forecast the held-back days (weighted and mean
/// absolute percentage errors, by interval and by day).
#[derive(Serialize, JsonSchema)]
pub(crate) struct Accuracy {
    method: &'static str,
    /// Means over the back-test origins, on ordinary days.
    wape_interval: Option<f64>,
    mape_interval: Option<f64>,
    wape_day: Option<f64>,
    mape_day: Option<f64>,
    /// The best and worst origin.
    wape_interval_min: Option<f64>,
    wape_interval_max: Option<f64>,
    wape_day_min: Option<f64>,
    wape_day_max: Option<f64>,
    /// Scored on every day, holidays and anomalies included.
    wape_interval_all_days: Option<f64>,
    wape_day_all_days: Option<f64>,
}

/// A day found not to look like its weekday.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Anomaly {
    date: String,
    calls: Option<f64>,
    /// The median of the same weekday in the weeks around it.
    expected: Option<f64>,
    ratio: Option<f64>,
}

/// The chosen method's forecast for a held-back interval, and what
/// happened.
#[derive(Serialize, JsonSchema)]
pub(crate) struct BacktestPoint {
    date: String,
    /// `HH:MM`.
    interval_start: String,
    actual: Option<f64>,
    forecast: Option<f64>,
}

/// What the simulation predicts for an interval or the whole run.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Predicted {
    offered: u64,
    service_level: Option<f64>,
    abandonment_rate: Option<f64>,
    asa_seconds: Option<f64>,
    callbacks_requested: u64,
}

impl From<&plan::Predicted> for Predicted {
    fn from(p: &plan::Predicted) -> Predicted {
        Predicted {
            offered: p.offered,
            service_level: p.service_level,
            abandonment_rate: p.abandonment_rate,
            asa_seconds: p.asa_seconds,
            callbacks_requested: p.callbacks_requested,
        }
    }
}

/// One interval of the plan.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Interval {
    date: String,
    /// `HH:MM`.
    interval_start: String,
    /// Contacts expected.
    forecast: Option<f64>,
    /// The 80% and 95% prediction intervals.
    lo80: Option<f64>,
    hi80: Option<f64>,
    lo95: Option<f64>,
    hi95: Option<f64>,
    aht_seconds: Option<f64>,
    /// Agents needed on the phones (Erlang C / A).
    agents: u32,
    /// Agents to schedule (with shrinkage).
    required: u32,
    /// Agents needed, and to schedule, for the top of the 80% band.
    agents_hi80: u32,
    required_hi80: u32,
    /// On the rota.
    on_duty: u32,
    /// With a what-if: the simulation's prediction.
    predicted: Option<Predicted>,
}

/// How the rota covers what is required.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Coverage {
    /// Σ min(on duty, required) / Σ required: 1.0 is fully covered.
    covered_share: Option<f64>,
    understaffed_slots: usize,
    overstaffed_slots: usize,
    /// Person-slots short, and person-slots spare.
    short: u64,
    spare: u64,
}

impl From<&wfm::rota::Coverage> for Coverage {
    fn from(c: &wfm::rota::Coverage) -> Coverage {
        Coverage {
            covered_share: finite(c.covered_share),
            understaffed_slots: c.understaffed_slots,
            overstaffed_slots: c.overstaffed_slots,
            short: c.short,
            spare: c.spare,
        }
    }
}

/// A shift suggested to close a gap.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Shift {
    date: String,
    start: String,
    end: String,
}

/// One weekly line: a person's week, repeated.
#[derive(Serialize, JsonSchema)]
pub(crate) struct WeeklyLine {
    /// `HH:MM`.
    start: String,
    end: String,
    /// Days worked, e.g. `Mon Tue Wed Thu Fri`.
    days: String,
    night: bool,
    /// Each day's break start, `HH:MM` (None: no break).
    breaks: Vec<Option<String>>,
}

/// A suggested weekly rota.
#[derive(Serialize, JsonSchema)]
pub(crate) struct WeeklyRota {
    lines: Vec<WeeklyLine>,
    /// People over the cycle (one per line).
    people: usize,
    cycle_weeks: usize,
    paid_hours_per_week: f64,
    lines_working_weekends: usize,
    /// Coverage of the requirement over the horizon by the lines alone.
    coverage: Coverage,
}

/// A what-if simulation's outcome.
#[derive(Serialize, JsonSchema)]
pub(crate) struct WhatIf {
    scenario: String,
    agents: usize,
    shifts_lost: usize,
    overall: Predicted,
    callbacks_within_target: Option<f64>,
}

/// A plan: forecast, staff required, rota coverage, suggestions and a
/// what-if.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Plan {
    source: &'static str,
    dimension: crate::wire::Dimension,
    /// Where the handle time came from.
    handle_time: &'static str,
    /// `combination` (auto), one method's name, or `daily-average`.
    method: &'static str,
    /// The methods averaged, for a combination.
    combined: Vec<&'static str>,
    why: String,
    /// The method used first, then every candidate.
    backtest: Vec<Accuracy>,
    test_days: usize,
    /// First day of each back-test.
    origins: Vec<String>,
    /// Share of back-test intervals inside the 80% and 95% bands.
    coverage80: Option<f64>,
    coverage95: Option<f64>,
    anomalies: Vec<Anomaly>,
    holidays_in_history: Vec<String>,
    holidays_in_horizon: Vec<String>,
    /// Repairs, fallbacks and how holidays ahead were forecast.
    notes: Vec<String>,
    backtest_series: Vec<BacktestPoint>,
    intervals: Vec<Interval>,
    coverage: Coverage,
    suggested_shifts: Option<Vec<Shift>>,
    coverage_with_suggestions: Option<Coverage>,
    /// With `suggest_weekly`: the weekly lines and their coverage.
    weekly_rota: Option<WeeklyRota>,
    whatif: Option<WhatIf>,
    /// Kept for the surge warning.
    published: bool,
}

/// Arrivals past the forecast by more than the margin.
#[derive(Serialize, JsonSchema)]
pub(crate) struct SurgeWarning {
    /// Actual over forecast.
    ratio: Option<f64>,
    actual: f64,
    forecast: f64,
    /// The window's first interval (from the forecast's start).
    window_start: usize,
}

/// The surge warning against the published forecast.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Surge {
    /// Whether a forecast was published.
    forecast: bool,
    margin: Option<f64>,
    window_minutes: Option<u32>,
    warning: Option<SurgeWarning>,
}

fn hhmm(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

pub(crate) async fn plan(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<PlanBody>,
) -> Response {
    let b = tryr!(body(b));
    let bad = |m: String| error(StatusCode::UNPROCESSABLE_ENTITY, m);
    let choice = match b.method.as_deref() {
        None | Some("auto") => Choice::Auto,
        Some(m) => match Method::parse(m) {
            Some(m) => Choice::Only(m),
            None => {
                return bad(format!(
                    "method: '{m}' is not auto or one of {}",
                    Method::CANDIDATES.map(|m| m.as_str()).join(", ")
                ))
            }
        },
    };
    let mut lists: [Vec<Date>; 3] = Default::default();
    for (k, (name, list)) in [
        ("exclude", &b.exclude),
        ("holidays", &b.holidays),
        ("ordinary", &b.ordinary),
    ]
    .into_iter()
    .enumerate()
    {
        if list.len() > forecast::MAX_DATES {
            return bad(format!("{name}: more than {} dates", forecast::MAX_DATES));
        }
        for d in list {
            match d.parse::<Date>() {
                Ok(d) => lists[k].push(d),
                Err(_) => return bad(format!("{name}: '{d}' is not a date like 2026-12-25")),
            }
        }
    }
    let [exclude, holidays, ordinary] = lists;
    let england_and_wales = match b.calendar.as_deref() {
        None | Some("england-and-wales") => true,
        Some("none") => false,
        Some(c) => return bad(format!("calendar: '{c}' is not england-and-wales or none")),
    };
    if b.origins == 0 || b.origins > forecast::MAX_ORIGINS {
        return bad(format!("origins: must be 1 to {}", forecast::MAX_ORIGINS));
    }
    let opts = Options {
        choice,
        england_and_wales,
        holidays,
        exclude,
        ordinary,
        detect_anomalies: b.detect_anomalies,
        origins: b.origins,
    };
    let own = b.history_csv.is_none();
    if !own && (b.queue.is_some() || b.channel.is_some()) {
        return bad("queue: a queue or channel applies to the server's own arrivals, not an uploaded history".into());
    }
    let dim = match (b.queue, b.channel) {
        (None, None) => kpi::Dimension::Overall,
        (Some(q), None) => kpi::Dimension::Queue(model::QueueId(q)),
        (None, Some(ch)) => kpi::Dimension::Channel(ch.into()),
        (Some(_), Some(_)) => return bad("channel: give a queue or a channel, not both".into()),
    };
    let mut observed = Default::default();
    // An uploaded history is parsed with the rest of the run, off the
    // runtime; the organisation's own is read here.
    let own_rows = match &b.history_csv {
        Some(_) => None,
        None => Some({
            let report = tryr!(
                crate::reports::interval_rows(
                    &app,
                    c.org,
                    Timestamp(i64::MIN),
                    Timestamp(i64::MAX)
                )
                .await
            );
            let (rows, handled) = own_history(report.0, report.1, &dim);
            observed = handled;
            if rows.is_empty() {
                return bad("history_csv: no arrivals recorded here yet; upload a history".into());
            }
            rows
        }),
    };
    // The forecast, staffing, rota and simulation: CPU work, off the
    // runtime that serves requests and routes calls, one run at a time.
    let org = c.org;
    let app_c = app.clone();
    let compute = move || -> Response {
        let bad = |m: String| error(StatusCode::UNPROCESSABLE_ENTITY, m);
        let rows = match (own_rows, &b.history_csv) {
            (Some(rows), _) => rows,
            (None, text) => tryr!(forecast::parse_history(text.as_deref().unwrap_or(""))
                .map_err(|(line, p)| bad(format!("history_csv: line {line}: {p}")))),
        };
        if own && b.interval_minutes % 15 != 0 {
            return bad("interval_minutes: a multiple of 15 for the server's own history".into());
        }
        let series = tryr!(
            Series::from_rows(&rows, b.interval_minutes).map_err(|e| bad(format!(
                "history{}: {e}",
                if own { " (own arrivals)" } else { "_csv" }
            )))
        );
        let f = tryr!(
            forecast::forecast(&series, b.horizon_days, &opts).map_err(|e| bad(match e {
                forecast::ForecastError::Horizon(_) => format!("horizon_days: {e}"),
                _ => format!("history: {e}"),
            }))
        );
        // The last back-test: what the method said for the last days held
        // back, against what happened.
        let n = series.values.len();
        let mut backtest_series = Vec::new();
        if let Some(run) = f.runs.last() {
            for (k, v) in run.values.iter().enumerate() {
                let i = run.start + k;
                if i >= n {
                    break;
                }
                let (d, t) = series.when(i);
                backtest_series.push(BacktestPoint {
                    date: d.to_string(),
                    interval_start: hhmm(t),
                    actual: finite(series.values[i]),
                    forecast: finite((v * 100.0).round() / 100.0),
                });
            }
        }
        let (d0, t0) = series.when(n);
        let profile = plan::Profile {
            start: d0,
            start_minute: t0.hour() as i64 * 60 + t0.minute() as i64,
            step_minutes: b.interval_minutes as i64,
            calls: f.values.clone(),
        };
        let service = plan::Service {
            aht_seconds: b.service.aht_seconds,
            patience_seconds: b.service.patience_seconds,
            target: b.service.target,
            target_seconds: b.service.target_seconds,
            shrinkage: b.service.shrinkage,
            max_occupancy: b.service.max_occupancy,
        };
        let start_ms = d0
            .to_datetime(t0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_or(0, |z| z.timestamp().as_millisecond());
        let (aht, aht_how) = if own {
            handle_time(&observed, &profile, start_ms, service.aht_seconds)
        } else {
            (
                vec![service.aht_seconds; profile.calls.len()],
                "the service's handle time",
            )
        };
        let need = tryr!(plan::requirement(&profile, &service, Some(&aht))
            .map_err(|e| bad(format!("service: {e}"))));
        let upper = plan::Profile {
            calls: f.bands.hi80.clone(),
            ..profile.clone()
        };
        let need_hi = tryr!(plan::requirement(&upper, &service, Some(&aht))
            .map_err(|e| bad(format!("service: {e}"))));
        let shifts = match &b.rota_csv {
            Some(text) => tryr!(plan::parse_rota(text).map_err(|e| bad(format!("rota_csv: {e}")))),
            None => Vec::new(),
        };
        let slots = profile.calls.len();
        let on_duty = wfm::rota::on_duty(slots, &plan::in_slots(&profile, &shifts));
        let required: Vec<u32> = need.iter().map(|x| x.scheduled).collect();
        let coverage = wfm::rota::coverage(&required, &on_duty);
        let weekly_rota = if b.suggest_weekly {
            let step = b.interval_minutes as usize;
            let day = 1440 / step;
            let week = 7 * day;
            if slots < week {
                return bad("suggest_weekly: needs a horizon_days of 7 or more".into());
            }
            if step < 15 {
                return bad("suggest_weekly: needs interval_minutes of 15 or more".into());
            }
            let mut need = vec![0u32; week];
            for (i, &r) in required.iter().enumerate() {
                need[i % week] = need[i % week].max(r);
            }
            let rules = wfm::weekly::WeeklyRules {
                day,
                lengths: vec![8 * 60 / step],
                start_every: (30 / step).max(1),
                days_on: 5,
                break_len: 30 / step,
                break_after: 120 / step,
                break_before_end: 120 / step,
                break_from_length: 360 / step,
                max_lines: 20_000,
            };
            let plan_w = wfm::weekly::suggest_week(&need, &vec![0; week], &rules);
            let with: Vec<u32> = (0..slots).map(|i| plan_w.on_duty[i % week]).collect();
            let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            let wd0 = profile.start.weekday().to_monday_zero_offset() as usize;
            let m0 = profile.start_minute as usize;
            let at = |slot: usize| {
                let m = (m0 + slot * step) % 1440;
                format!("{:02}:{:02}", m / 60, m % 60)
            };
            let lines: Vec<WeeklyLine> = plan_w
                .lines
                .iter()
                .map(|l| WeeklyLine {
                    start: at(l.start),
                    end: at(l.start + l.length),
                    days: l
                        .days()
                        .map(|d| names[(wd0 + d + (m0 + l.start * step) / 1440) % 7])
                        .collect::<Vec<_>>()
                        .join(" "),
                    night: (m0 + l.start * step) % 1440 + l.length * step > 1440,
                    breaks: l
                        .breaks
                        .iter()
                        .map(|b| b.map(|b| at(l.start + b)))
                        .collect(),
                })
                .collect();
            let weekend = lines
                .iter()
                .filter(|l| l.days.contains("Sat") || l.days.contains("Sun"))
                .count();
            Some(WeeklyRota {
                people: wfm::weekly::cycle(&plan_w.lines, 4).len(),
                cycle_weeks: 4,
                paid_hours_per_week: plan_w.slots_worked as f64 * step as f64 / 60.0,
                lines_working_weekends: weekend,
                coverage: Coverage::from(&wfm::rota::coverage(&required, &with)),
                lines,
            })
        } else {
            None
        };
        let (suggested, after) = if b.suggest {
            let rules = wfm::rota::ShiftRules {
                length: (8 * 60 / b.interval_minutes).max(1) as usize,
                start_every: (60 / b.interval_minutes).max(1) as usize,
                max_new: 500,
            };
            let s = wfm::rota::suggest(&required, &on_duty, &rules);
            let mut with = on_duty.clone();
            for &(start, end) in &s {
                for x in with.iter_mut().take(end.min(slots)).skip(start) {
                    *x += 1;
                }
            }
            let list: Vec<_> = s
                .iter()
                .map(|&(start, end)| {
                    let (d, t) = profile.when(start);
                    let (_, e) = profile.when(end);
                    Shift {
                        date: d.to_string(),
                        start: t,
                        end: e,
                    }
                })
                .collect();
            (
                Some(list),
                Some(Coverage::from(&wfm::rota::coverage(&required, &with))),
            )
        } else {
            (None, None)
        };
        let whatif = match (&b.whatif, shifts.is_empty()) {
            (Some(w), false) => {
                let what = plan::WhatIf {
                    demand_factor: 1.0 + w.demand_percent / 100.0,
                    callback_acceptance: w.callback_acceptance,
                    site_off_air: w.site_off_air.clone(),
                    seed: 7,
                };
                Some(tryr!(plan::simulate(&profile, &shifts, &service, &what)
                    .map_err(|e| bad(format!("whatif: {e}")))))
            }
            (Some(_), true) => return bad("whatif: needs a rota_csv to simulate".into()),
            _ => None,
        };
        if b.publish {
            let start = start_ms;
            // Per 15 minutes, the unit of the live counts.
            let per = (b.interval_minutes / 15).max(1) as usize;
            let spread: Vec<f64> = f
                .values
                .iter()
                .flat_map(|v| std::iter::repeat_n(v / per as f64, per))
                .collect();
            if own {
                app_c
                    .published
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(org, (start, spread));
            }
        }
        let intervals: Vec<_> = (0..slots)
            .map(|i| {
                let (d, t) = profile.when(i);
                Interval {
                    date: d.to_string(),
                    interval_start: t,
                    forecast: finite((f.values[i] * 100.0).round() / 100.0),
                    lo80: finite((f.bands.lo80[i] * 100.0).round() / 100.0),
                    hi80: finite((f.bands.hi80[i] * 100.0).round() / 100.0),
                    lo95: finite((f.bands.lo95[i] * 100.0).round() / 100.0),
                    hi95: finite((f.bands.hi95[i] * 100.0).round() / 100.0),
                    aht_seconds: finite((aht[i] * 10.0).round() / 10.0),
                    agents: need[i].agents,
                    required: need[i].scheduled,
                    agents_hi80: need_hi[i].agents,
                    required_hi80: need_hi[i].scheduled,
                    on_duty: on_duty[i],
                    predicted: whatif
                        .as_ref()
                        .map(|w: &plan::Outcome| Predicted::from(&w.intervals[i])),
                }
            })
            .collect();
        Json(Plan {
            source: if own {
                "own arrivals (UTC, 15-minute counts)"
            } else {
                "history_csv"
            },
            dimension: crate::wire::Dimension::from(&dim),
            handle_time: aht_how,
            method: f.method.as_str(),
            combined: f.combined.iter().map(|m| m.as_str()).collect(),
            why: f.why.clone(),
            backtest: f
                .backtest
                .iter()
                .map(|a| Accuracy {
                    method: a.method.as_str(),
                    wape_interval: finite(a.wape_interval),
                    mape_interval: finite(a.mape_interval),
                    wape_day: finite(a.wape_day),
                    mape_day: finite(a.mape_day),
                    wape_interval_min: finite(a.wape_interval_spread.min),
                    wape_interval_max: finite(a.wape_interval_spread.max),
                    wape_day_min: finite(a.wape_day_spread.min),
                    wape_day_max: finite(a.wape_day_spread.max),
                    wape_interval_all_days: finite(a.wape_interval_all_days),
                    wape_day_all_days: finite(a.wape_day_all_days),
                })
                .collect(),
            test_days: f.test_days,
            origins: f.origins.iter().map(|d| d.to_string()).collect(),
            coverage80: f.bands.coverage80.and_then(finite),
            coverage95: f.bands.coverage95.and_then(finite),
            anomalies: f
                .anomalies
                .iter()
                .map(|a| Anomaly {
                    date: a.date.to_string(),
                    calls: finite(a.calls),
                    expected: finite(a.expected),
                    ratio: finite(a.ratio),
                })
                .collect(),
            holidays_in_history: f
                .holidays_in_history
                .iter()
                .map(|d| d.to_string())
                .collect(),
            holidays_in_horizon: f
                .holidays_in_horizon
                .iter()
                .map(|d| d.to_string())
                .collect(),
            notes: f.notes.clone(),
            backtest_series,
            intervals,
            coverage: Coverage::from(&coverage),
            suggested_shifts: suggested,
            coverage_with_suggestions: after,
            weekly_rota,
            whatif: whatif.as_ref().map(|w| WhatIf {
                scenario: w.scenario.clone(),
                agents: w.agents,
                shifts_lost: w.shifts_lost,
                overall: Predicted::from(&w.overall),
                callbacks_within_target: w.callbacks_within_target,
            }),
            published: b.publish && own,
        })
        .into_response()
    };
    run_planning(&app, compute).await
}

/// Most planning runs waiting for their turn; more are refused (503).
const PLANNING_QUEUE: usize = 4;

/// Runs a planning computation on the blocking pool, one at a time (the
/// server has few cores, and routing must not wait for them); callers
/// queue behind it, up to [`PLANNING_QUEUE`], then get 503 with
/// Retry-After.
pub(crate) async fn run_planning(
    app: &App,
    compute: impl FnOnce() -> Response + Send + 'static,
) -> Response {
    let gate = app.planning.clone();
    let waiting = gate
        .waiting
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _left = app::planning::Leave(&gate.waiting);
    if waiting >= PLANNING_QUEUE {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("planning: {PLANNING_QUEUE} runs are already waiting; try again shortly"),
        );
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("10"),
        );
        return r;
    }
    let Ok(permit) = gate.runs.clone().acquire_owned().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "planning: stopping".into());
    };
    match tokio::task::spawn_blocking(move || {
        let r = compute();
        drop(permit);
        r
    })
    .await
    {
        Ok(r) => r,
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "planning: the run failed".into(),
        ),
    }
}

/// Surge warning: today's arrivals against the published forecast over the
/// last hour (four 15-minute intervals), warning past 20% above.
pub(crate) async fn surge(State(app): State<App>, Extension(c): Extension<Caller>) -> Response {
    let published = app
        .published
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&c.org)
        .cloned();
    let Some((start, forecast)) = published else {
        return Json(Surge {
            forecast: false,
            margin: None,
            window_minutes: None,
            warning: None,
        })
        .into_response();
    };
    let report = tryr!(
        crate::reports::interval_rows(&app, c.org, Timestamp(start), Timestamp(i64::MAX)).await
    );
    const STEP: i64 = 15 * 60 * 1000;
    let now = report.1 .0;
    let done = ((now - start) / STEP).max(0) as usize;
    let mut actual = vec![0.0; done.min(forecast.len())];
    for r in report.0 {
        if let (kpi::Dimension::Overall, Some(t)) = (&r.dimension, r.interval_start) {
            let i = (t.0 - start).div_euclid(STEP);
            if i >= 0 && (i as usize) < actual.len() {
                actual[i as usize] += r.counts.offered as f64;
            }
        }
    }
    let w = forecast::surge(&actual, &forecast, 4, 0.2, 8.0);
    Json(Surge {
        forecast: true,
        margin: Some(0.2),
        window_minutes: Some(60),
        warning: w.map(|w| SurgeWarning {
            ratio: finite(w.ratio),
            actual: w.actual,
            forecast: w.forecast,
            window_start: w.window_start,
        }),
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: i64, offered: u64, handled: u64, talk_s: u64) -> kpi::Row {
        let mut counts = kpi::Counts {
            offered,
            handled,
            talk_ms: talk_s * 1000,
            ..Default::default()
        };
        kpi::Row {
            figures: counts.figures(),
            dimension: kpi::Dimension::Overall,
            interval_start: Some(Timestamp(t)),
            counts,
        }
    }

    #[test]
    fn own_arrivals_fill_quiet_intervals_and_handle_time_follows_the_week() {
        const Q: i64 = 15 * 60 * 1000;
        const DAY: i64 = 86_400_000;
        // 2026-11-23 (a Monday) 09:00 and 09:15, then the next day 09:00.
        let monday = 1_795_392_000_000; // 2026-11-23T00:00:00Z
        let report = vec![
            row(monday + 36 * Q, 4, 4, 4 * 300),
            row(monday + 37 * Q, 2, 2, 2 * 120),
            row(monday + DAY + 36 * Q, 1, 1, 60),
        ];
        let now = Timestamp(monday + DAY + 40 * Q + 5);
        let (rows, handled) = own_history(report, now, &kpi::Dimension::Overall);
        assert_eq!(
            rows.len(),
            96 + 40,
            "whole first day, then up to the last complete interval"
        );
        assert_eq!(rows[0].date.to_string(), "2026-11-23");
        assert_eq!(
            (rows[36].calls, rows[37].calls, rows[38].calls),
            (4.0, 2.0, 0.0)
        );
        // Next Monday 09:00–09:30 (one 30-minute interval): the Monday mean;
        // 10:00: nothing seen then, so the overall mean.
        let profile = plan::Profile {
            start: "2026-11-30".parse().unwrap(),
            start_minute: 9 * 60,
            step_minutes: 30,
            calls: vec![10.0, 10.0, 10.0],
        };
        let (aht, _) = handle_time(&handled, &profile, monday + 7 * DAY + 36 * Q, 999.0);
        assert!((aht[0] - (1200.0 + 240.0) / 6.0).abs() < 1e-9, "{aht:?}");
        assert!(
            (aht[2] - (1200.0 + 240.0 + 60.0) / 7.0).abs() < 1e-9,
            "{aht:?}"
        );
        // Nothing observed at all: the service's figure.
        let (aht, how) = handle_time(&Default::default(), &profile, 0, 240.0);
        assert_eq!((aht[0], how.starts_with("the service's")), (240.0, true));
    }
}
