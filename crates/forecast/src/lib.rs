//! Demand forecasting: arrivals per interval for the coming days and weeks.
//!
//! Pure: rows in, forecast out. Several methods (seasonal averages and
//! medians, a scaled weekly profile, weekday totals with intraday shares,
//! double-seasonal Holt-Winters), judged by a rolling-origin back-test the
//! models never saw; `auto` combines the best three, chosen at every
//! origin from an inner back-test on the weeks before it, so its own
//! back-test score is honest. Holidays (England and Wales built in, and a
//! list per service) and days found not to look like their weekday are
//! refilled for fitting and left out of scoring; holidays ahead are
//! forecast from the holidays behind. 80% and 95% bands come from the
//! back-test errors.

pub mod bands;
pub mod clean;
pub mod methods;
pub mod series;

pub use bands::Bands;
pub use clean::{Anomaly, DayKind, Known};
pub use methods::Method;
pub use series::{parse_history, Row, Series, MAX_ROWS};

use jiff::civil::{Date, Weekday};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    #[error("row {row}: {problem}")]
    Row { row: usize, problem: String },
    #[error("the history has no rows")]
    Empty,
    #[error("interval: {0}")]
    Interval(String),
    #[error("horizon: {0}")]
    Horizon(String),
    #[error("{0}")]
    Other(String),
}

/// Which method to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Auto,
    Only(Method),
}

/// How to forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub choice: Choice,
    /// The England and Wales bank holidays count as holidays.
    pub england_and_wales: bool,
    /// The service's own holidays (another calendar, local closures).
    pub holidays: Vec<Date>,
    /// Dates not to learn from or score (an outage, an event).
    pub exclude: Vec<Date>,
    /// Dates the planner says are ordinary, though they look odd.
    pub ordinary: Vec<Date>,
    /// Look for days that do not look like their weekday.
    pub detect_anomalies: bool,
    /// Back-test origins (most).
    pub origins: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            choice: Choice::Auto,
            england_and_wales: true,
            holidays: Vec::new(),
            exclude: Vec::new(),
            ordinary: Vec::new(),
            detect_anomalies: true,
            origins: ORIGINS,
        }
    }
}

/// Days each back-test forecasts.
pub const TEST_DAYS: usize = 14;
/// Back-test origins by default, a week apart.
pub const ORIGINS: usize = 8;
/// Most origins asked for.
pub const MAX_ORIGINS: usize = 52;
/// Longest forecast: a year.
pub const MAX_HORIZON_DAYS: usize = 366;
/// Least history fitted at a back-test origin.
pub const MIN_TRAIN_DAYS: usize = 28;
/// Inner back-tests of `auto`: this many weeks before each origin.
pub const INNER_WEEKS_BACK: [usize; 3] = [2, 3, 4];
/// Methods combined by `auto`.
pub const COMBINED: usize = 3;
/// Most dates in one list.
pub const MAX_DATES: usize = 10_000;

/// A spread over back-test origins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    fn of(v: &[f64]) -> Spread {
        if v.is_empty() {
            return Spread {
                mean: 0.0,
                min: 0.0,
                median: 0.0,
                max: 0.0,
            };
        }
        let mut s = v.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        let n = s.len();
        Spread {
            mean: s.iter().sum::<f64>() / n as f64,
            min: s[0],
            median: methods::median(&mut s.clone()),
            max: s[n - 1],
        }
    }
}

/// Back-test accuracy of one method over all origins: means, with the
/// spread over origins. Scored on ordinary days (holidays, excluded and
/// anomalous days left out); `*_all_days` score every day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accuracy {
    pub method: Method,
    /// Σ|error| / Σ actual, per interval.
    pub wape_interval: f64,
    /// Mean of |error| / actual over intervals with calls.
    pub mape_interval: f64,
    pub wape_day: f64,
    pub mape_day: f64,
    pub wape_interval_spread: Spread,
    pub wape_day_spread: Spread,
    pub wape_interval_all_days: f64,
    pub wape_day_all_days: f64,
}

/// One back-test: what the chosen method said from `origin` for
/// [`TEST_DAYS`] days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub origin: Date,
    /// Index of the first forecast interval in the series.
    pub start: usize,
    pub values: Vec<f64>,
    /// For `auto`: the methods combined at this origin.
    pub combined: Vec<Method>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub method: Method,
    /// For a combination: the methods averaged.
    pub combined: Vec<Method>,
    /// Why the method was chosen, or the fallback taken.
    pub why: String,
    /// Back-test accuracy: the method used first, then every candidate.
    pub backtest: Vec<Accuracy>,
    pub test_days: usize,
    /// The back-test origins (the first day of each test).
    pub origins: Vec<Date>,
    /// The method used, at each origin.
    pub runs: Vec<Run>,
    /// The forecast, per future interval, from the end of the history.
    pub values: Vec<f64>,
    pub bands: Bands,
    /// Days found not to look like their weekday: refilled for fitting,
    /// not scored. Confirm them (`exclude`) or reject them (`ordinary`).
    pub anomalies: Vec<Anomaly>,
    pub holidays_in_history: Vec<Date>,
    pub holidays_in_horizon: Vec<Date>,
    /// Repairs, fallbacks and how holidays ahead were forecast.
    pub notes: Vec<String>,
}

struct Ctx<'a> {
    s: &'a Series,
    known: Known,
    day: usize,
}

/// How a holiday ahead is forecast: from the holidays behind.
enum HolidayEffect {
    /// Σ actual / Σ ordinary-day estimate over past holidays, and their
    /// pooled intraday shares when they had calls enough.
    Learned {
        ratio: f64,
        shares: Option<Vec<f64>>,
        from: usize,
    },
    /// No holiday behind: the mean of the last 4 Sundays, per slot.
    AsSunday(Vec<f64>),
}

impl<'a> Ctx<'a> {
    /// Forecasts `h` intervals from value `o` by each of `methods`, fitted
    /// on the values before `o` cleaned with what is known before `o`.
    fn fit_at(
        &self,
        o: usize,
        h: usize,
        methods: &[Method],
    ) -> (Vec<Vec<f64>>, Option<HolidayEffect>) {
        let (kind, _) = clean::classify(self.s, o, &self.known);
        let y = clean::refill(self.s, o, &kind);
        let ahead: Vec<usize> = (0..h)
            .filter(|&i| self.known.holidays.contains(&self.s.when(o + i).0))
            .collect();
        let effect = (!ahead.is_empty()).then(|| self.effect(o, &kind, &y));
        let out = methods
            .iter()
            .map(|&m| {
                let mut f = methods::run(m, &y, h, self.day);
                if let Some(e) = &effect {
                    self.apply(e, o, &mut f);
                }
                f
            })
            .collect();
        (out, effect)
    }

    fn effect(&self, o: usize, kind: &[DayKind], y: &[f64]) -> HolidayEffect {
        let day = self.day;
        let (_, complete) = clean::day_totals(self.s, o);
        let base = |d: usize| d * day - self.s.first_slot;
        let (mut act, mut est, mut from) = (0.0, 0.0, 0usize);
        let mut shares = vec![0.0; day];
        for d in 0..kind.len() {
            if kind[d] == DayKind::Holiday && complete[d] {
                for (k, share) in shares.iter_mut().enumerate() {
                    let i = base(d) + k;
                    act += self.s.values[i];
                    est += y[i];
                    *share += self.s.values[i];
                }
                from += 1;
            }
        }
        if from > 0 && est > 0.0 {
            let shares =
                (act >= 10.0 * day as f64).then(|| shares.iter().map(|v| v / act).collect());
            return HolidayEffect::Learned {
                ratio: act / est,
                shares,
                from,
            };
        }
        // The last 4 Sundays (cleaned), slot by slot.
        let mut sum = vec![0.0; day];
        let mut k = 0;
        for d in (0..kind.len()).rev() {
            if k == 4 {
                break;
            }
            if complete[d] && self.s.date_of_day(d).weekday() == Weekday::Sunday {
                for (j, v) in sum.iter_mut().enumerate() {
                    *v += y[base(d) + j];
                }
                k += 1;
            }
        }
        HolidayEffect::AsSunday(
            sum.iter()
                .map(|v| if k > 0 { v / k as f64 } else { 0.0 })
                .collect(),
        )
    }

    fn apply(&self, e: &HolidayEffect, o: usize, f: &mut [f64]) {
        let day = self.day;
        let mut i = 0;
        while i < f.len() {
            let (date, _) = self.s.when(o + i);
            let slot = (self.s.first_slot + o + i) % day;
            let len = (day - slot).min(f.len() - i);
            if self.known.holidays.contains(&date) {
                let part = &mut f[i..i + len];
                match e {
                    HolidayEffect::Learned { ratio, shares, .. } => match shares {
                        Some(sh) if slot == 0 && len == day => {
                            let total: f64 = part.iter().sum::<f64>() * ratio;
                            for (k, v) in part.iter_mut().enumerate() {
                                *v = total * sh[k];
                            }
                        }
                        _ => part.iter_mut().for_each(|v| *v *= ratio),
                    },
                    HolidayEffect::AsSunday(sun) => {
                        for (k, v) in part.iter_mut().enumerate() {
                            *v = sun[slot + k];
                        }
                    }
                }
            }
            i += len;
        }
    }

    /// The methods `auto` combines at origin `o`, ranked in back-tests
    /// from 2, 3 and 4 weeks before `o` (windows that end by `o`) on the
    /// days known to be ordinary before `o`: the best [`COMBINED`] by
    /// interval WAPE give the shape through each day, the best by daily
    /// WAPE each day's total.
    fn choose_at(&self, o: usize) -> Option<(Vec<Method>, Vec<Method>)> {
        let day = self.day;
        let (kind, _) = clean::classify(self.s, o, &self.known);
        let k = Method::CANDIDATES.len();
        let (mut by_interval, mut by_day) = (vec![0.0; k], vec![0.0; k]);
        let mut inner = 0;
        for weeks_back in INNER_WEEKS_BACK {
            let back = weeks_back * 7 * day;
            if o < back || o - back < 21 * day {
                continue;
            }
            let io = o - back;
            let (fcs, _) = self.fit_at(io, TEST_DAYS * day, &Method::CANDIDATES);
            for (m, f) in fcs.iter().enumerate() {
                let sc = score(self.s, io, f, |d| kind.get(d).copied());
                by_interval[m] += sc.wape_interval;
                by_day[m] += sc.wape_day;
            }
            inner += 1;
        }
        if inner == 0 {
            return None;
        }
        let best = |t: &[f64]| {
            let mut order: Vec<usize> = (0..t.len()).collect();
            order.sort_by(|&a, &b| t[a].total_cmp(&t[b]).then(a.cmp(&b)));
            order
                .iter()
                .take(COMBINED)
                .map(|&m| Method::CANDIDATES[m])
                .collect::<Vec<_>>()
        };
        Some((best(&by_interval), best(&by_day)))
    }

    /// The forecast of `choice` from `o` for `h` intervals, what it
    /// combined (shape, then daily totals), and every candidate's forecast.
    #[allow(clippy::type_complexity)]
    fn forecast_at(
        &self,
        o: usize,
        h: usize,
        choice: Choice,
    ) -> (Vec<f64>, Vec<Method>, Vec<Method>, Vec<Vec<f64>>) {
        match choice {
            Choice::Only(m) => {
                let (f, _) = self.fit_at(o, h, &[m]);
                (f[0].clone(), Vec::new(), Vec::new(), f)
            }
            Choice::Auto => {
                let (fcs, _) = self.fit_at(o, h, &Method::CANDIDATES);
                let (shape, level) = self
                    .choose_at(o)
                    .unwrap_or_else(|| (vec![Method::WeekdayMean], vec![Method::WeekdayMean]));
                let mean_of = |members: &[Method]| {
                    let mut out = vec![0.0; h];
                    for m in members {
                        let k = Method::CANDIDATES
                            .iter()
                            .position(|c| c == m)
                            .expect("a candidate");
                        for (o, v) in out.iter_mut().zip(&fcs[k]) {
                            *o += v / members.len() as f64;
                        }
                    }
                    out
                };
                let mut out = mean_of(&shape);
                let totals = mean_of(&level);
                // Each day's total from the daily ranking, its shape from the
                // interval ranking.
                let mut i = 0;
                while i < h {
                    let d = self.s.day_of(o + i);
                    let mut j = i;
                    while j < h && self.s.day_of(o + j) == d {
                        j += 1;
                    }
                    let (c, t): (f64, f64) = (out[i..j].iter().sum(), totals[i..j].iter().sum());
                    if c > 0.0 {
                        out[i..j].iter_mut().for_each(|v| *v *= t / c);
                    }
                    i = j;
                }
                (out, shape, level, fcs)
            }
        }
    }
}

/// Scores of one forecast from value `o` against the series, on the days
/// `kind_of` says are ordinary (and on all days).
struct Score {
    wape_interval: f64,
    mape_interval: f64,
    wape_day: f64,
    mape_day: f64,
    wape_interval_all: f64,
    wape_day_all: f64,
    /// Intervals scored: (forecast, actual).
    scored: Vec<(f64, f64)>,
}

fn score(s: &Series, o: usize, f: &[f64], kind_of: impl Fn(usize) -> Option<DayKind>) -> Score {
    let day = s.slots_per_day;
    let n = f.len().min(s.values.len().saturating_sub(o));
    let (mut ae, mut at, mut ape, mut apn) = (0.0, 0.0, 0.0, 0usize);
    let (mut ae_all, mut at_all) = (0.0, 0.0);
    let mut days: Vec<(f64, f64, bool, usize)> = Vec::new(); // (actual, forecast, ordinary, slots)
    let mut scored = Vec::new();
    for (i, &p) in f.iter().enumerate().take(n) {
        let a = s.values[o + i];
        let d = s.day_of(o + i);
        let ordinary = kind_of(d).is_none_or(|k| k == DayKind::Ordinary);
        ae_all += (a - p).abs();
        at_all += a;
        if ordinary {
            ae += (a - p).abs();
            at += a;
            if a > 0.0 {
                ape += (a - p).abs() / a;
                apn += 1;
            }
            scored.push((p, a));
        }
        let k = d - s.day_of(o);
        if days.len() <= k {
            days.push((0.0, 0.0, ordinary, 0));
        }
        days[k].0 += a;
        days[k].1 += p;
        days[k].3 += 1;
    }
    let whole: Vec<&(f64, f64, bool, usize)> = days.iter().filter(|d| d.3 == day).collect();
    let wape = |v: &[&&(f64, f64, bool, usize)]| {
        let t: f64 = v.iter().map(|d| d.0).sum();
        if t > 0.0 {
            v.iter().map(|d| (d.0 - d.1).abs()).sum::<f64>() / t
        } else {
            0.0
        }
    };
    let ord: Vec<&&(f64, f64, bool, usize)> = whole.iter().filter(|d| d.2).collect();
    let all: Vec<&&(f64, f64, bool, usize)> = whole.iter().collect();
    let with_calls: Vec<f64> = ord
        .iter()
        .filter(|d| d.0 > 0.0)
        .map(|d| (d.0 - d.1).abs() / d.0)
        .collect();
    Score {
        wape_interval: if at > 0.0 { ae / at } else { 0.0 },
        mape_interval: if apn > 0 { ape / apn as f64 } else { 0.0 },
        wape_day: wape(&ord),
        mape_day: if with_calls.is_empty() {
            0.0
        } else {
            with_calls.iter().sum::<f64>() / with_calls.len() as f64
        },
        wape_interval_all: if at_all > 0.0 { ae_all / at_all } else { 0.0 },
        wape_day_all: wape(&all),
        scored,
    }
}

fn accuracy(method: Method, scores: &[Score]) -> Accuracy {
    let m = |f: fn(&Score) -> f64| scores.iter().map(f).sum::<f64>() / scores.len().max(1) as f64;
    let wi: Vec<f64> = scores.iter().map(|s| s.wape_interval).collect();
    let wd: Vec<f64> = scores.iter().map(|s| s.wape_day).collect();
    Accuracy {
        method,
        wape_interval: m(|s| s.wape_interval),
        mape_interval: m(|s| s.mape_interval),
        wape_day: m(|s| s.wape_day),
        mape_day: m(|s| s.mape_day),
        wape_interval_spread: Spread::of(&wi),
        wape_day_spread: Spread::of(&wd),
        wape_interval_all_days: m(|s| s.wape_interval_all),
        wape_day_all_days: m(|s| s.wape_day_all),
    }
}

fn union(a: &[Method], b: &[Method]) -> Vec<Method> {
    let mut out = a.to_vec();
    out.extend(b.iter().filter(|m| !a.contains(m)));
    out
}

fn names(ms: &[Method]) -> String {
    ms.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
}

/// Forecasts `horizon_days` of intervals after the history.
pub fn forecast(
    s: &Series,
    horizon_days: usize,
    opts: &Options,
) -> Result<Forecast, ForecastError> {
    if horizon_days == 0 || horizon_days > MAX_HORIZON_DAYS {
        return Err(ForecastError::Horizon(format!(
            "must be 1 to {MAX_HORIZON_DAYS} days"
        )));
    }
    if opts.origins == 0 || opts.origins > MAX_ORIGINS {
        return Err(ForecastError::Other(format!(
            "origins: must be 1 to {MAX_ORIGINS}"
        )));
    }
    for (name, list) in [
        ("holidays", &opts.holidays),
        ("exclude", &opts.exclude),
        ("ordinary", &opts.ordinary),
    ] {
        if list.len() > MAX_DATES {
            return Err(ForecastError::Other(format!(
                "{name}: more than {MAX_DATES} dates"
            )));
        }
    }
    let day = s.slots_per_day;
    let n = s.values.len();
    if n < day {
        return Err(ForecastError::Other(
            "the history is shorter than a day".into(),
        ));
    }
    let horizon = horizon_days * day;
    let last_date = s.when(n + horizon).0;
    let mut known = Known {
        holidays: opts.holidays.iter().copied().collect(),
        excluded: opts.exclude.iter().copied().collect(),
        ordinary: opts.ordinary.iter().copied().collect(),
        detect: opts.detect_anomalies,
    };
    if opts.england_and_wales {
        known
            .holidays
            .extend(flow::holidays::england_and_wales_between(
                s.first_date,
                last_date,
            ));
    }
    let ctx = Ctx { s, known, day };
    let mut notes = s.notes.clone();
    let (kind, anomalies) = clean::classify(s, n, &ctx.known);
    let holidays_in_history: Vec<Date> = (0..kind.len())
        .filter(|&d| kind[d] == DayKind::Holiday)
        .map(|d| s.date_of_day(d))
        .collect();
    let holidays_in_horizon: Vec<Date> = ctx
        .known
        .holidays
        .iter()
        .copied()
        .filter(|d| *d >= s.when(n).0 && *d < last_date)
        .collect();
    let days_of_history = n / day;
    // Too short for weekly methods: a daily average.
    if days_of_history < MIN_TRAIN_DAYS {
        let (kind, _) = clean::classify(s, n, &ctx.known);
        let y = clean::refill(s, n, &kind);
        let values = methods::run(Method::DailyAverage, &y, horizon, day);
        return Ok(Forecast {
            method: Method::DailyAverage,
            combined: Vec::new(),
            why: format!("history of {days_of_history} days is shorter than 4 weeks: daily average of the last days, without a back-test"),
            backtest: Vec::new(),
            test_days: 0,
            origins: Vec::new(),
            runs: Vec::new(),
            bands: bands::bands(&values, &[]),
            values,
            anomalies,
            holidays_in_history,
            holidays_in_horizon,
            notes,
        });
    }
    // Origins a week apart, the last a whole test before the last whole day.
    let end = n - (s.first_slot + n) % day;
    let test = TEST_DAYS * day;
    let mut origins: Vec<usize> = (0..opts.origins)
        .filter_map(|k| end.checked_sub(test + k * 7 * day))
        .filter(|&o| o >= MIN_TRAIN_DAYS * day)
        .collect();
    origins.reverse();
    if origins.len() < opts.origins {
        notes.push(format!(
            "{} back-test origin{} of the {} asked: the history has {} whole days, and each origin needs {} days before it and {} after",
            origins.len(),
            if origins.len() == 1 { "" } else { "s" },
            opts.origins,
            end / day,
            MIN_TRAIN_DAYS,
            TEST_DAYS
        ));
    }
    let candidates: Vec<Method> = match opts.choice {
        Choice::Auto => Method::CANDIDATES.to_vec(),
        Choice::Only(m) => vec![m],
    };
    let truth = |d: usize| kind.get(d).copied();
    let mut chosen_scores = Vec::new();
    let mut each: Vec<Vec<Score>> = candidates.iter().map(|_| Vec::new()).collect();
    let mut runs = Vec::new();
    for &o in &origins {
        let (f, shape, level, fcs) = ctx.forecast_at(o, test, opts.choice);
        chosen_scores.push(score(s, o, &f, truth));
        if opts.choice == Choice::Auto {
            for (k, fc) in fcs.iter().enumerate() {
                each[k].push(score(s, o, fc, truth));
            }
        }
        runs.push(Run {
            origin: s.when(o).0,
            start: o,
            values: f,
            combined: union(&shape, &level),
        });
    }
    let (values, shape, level, _) = ctx.forecast_at(n, horizon, opts.choice);
    let combined = union(&shape, &level);
    let method = match opts.choice {
        Choice::Auto => Method::Combination,
        Choice::Only(m) => m,
    };
    let mut backtest = Vec::new();
    if !origins.is_empty() {
        backtest.push(accuracy(method, &chosen_scores));
        if opts.choice == Choice::Auto {
            for (k, m) in candidates.iter().enumerate() {
                backtest.push(accuracy(*m, &each[k]));
            }
        }
    }
    let errors: Vec<bands::Errors> = chosen_scores
        .iter()
        .map(|sc| bands::Errors {
            forecast: sc.scored.iter().map(|x| x.0).collect(),
            actual: sc.scored.iter().map(|x| x.1).collect(),
        })
        .collect();
    let bands = bands::bands(&values, &errors);
    let why = match opts.choice {
        Choice::Auto if combined.len() > 1 => format!(
            "auto: the shape through each day from the mean of the {} methods with the lowest interval WAPE ({}), each day's total from the {} with the lowest daily WAPE ({}), in back-tests from 2, 3 and 4 weeks before the end; the same rule at every back-test origin",
            shape.len(),
            names(&shape),
            level.len(),
            names(&level)
        ),
        Choice::Auto => "auto: the history is too short to compare methods; the weekday mean".into(),
        Choice::Only(_) => "as asked".into(),
    };
    if !holidays_in_horizon.is_empty() {
        let (_, effect) = ctx.fit_at(n, horizon, &[]);
        notes.push(match effect {
            Some(HolidayEffect::Learned { ratio, shares, from }) => format!(
                "holidays ahead ({}) forecast from the {from} holiday{} in the history: {:.0}% of an ordinary day{}",
                holidays_in_horizon.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
                if from == 1 { "" } else { "s" },
                ratio * 100.0,
                if shares.is_some() { ", with their own shape through the day" } else { "" }
            ),
            _ => format!(
                "holidays ahead ({}) forecast as the mean of the last 4 Sundays: the history has no holiday to learn from",
                holidays_in_horizon.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    if !anomalies.is_empty() {
        notes.push(format!(
            "{} day{} not like {} weekday refilled for fitting and left out of scoring: {}",
            anomalies.len(),
            if anomalies.len() == 1 { "" } else { "s" },
            if anomalies.len() == 1 { "its" } else { "their" },
            anomalies
                .iter()
                .map(|a| format!("{} ({:.0}% of usual)", a.date, a.ratio * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(Forecast {
        method,
        combined,
        why,
        backtest,
        test_days: if origins.is_empty() { 0 } else { TEST_DAYS },
        origins: runs.iter().map(|r| r.origin).collect(),
        runs,
        values,
        bands,
        anomalies,
        holidays_in_history,
        holidays_in_horizon,
        notes,
    })
}

/// An early warning that demand runs above forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurgeWarning {
    /// Actual / forecast over the window.
    pub ratio: f64,
    pub actual: f64,
    pub forecast: f64,
    /// First interval of the window (index into the day's intervals).
    pub window_start: usize,
}

/// Compares the day so far with its forecast over the last `window`
/// intervals: a warning when actual arrivals exceed the forecast by more
/// than `margin` (0.2 = 20%) and the forecast expected at least
/// `min_calls` in the window (so a quiet night's noise does not alarm).
/// `actual` holds the intervals completed so far; `forecast` the whole day.
pub fn surge(
    actual: &[f64],
    forecast: &[f64],
    window: usize,
    margin: f64,
    min_calls: f64,
) -> Option<SurgeWarning> {
    let done = actual.len().min(forecast.len());
    if window == 0 || done < window {
        return None;
    }
    let from = done - window;
    let a: f64 = actual[from..done].iter().sum();
    let f: f64 = forecast[from..done].iter().sum();
    (f >= min_calls && a > f * (1.0 + margin)).then_some(SurgeWarning {
        ratio: a / f,
        actual: a,
        forecast: f,
        window_start: from,
    })
}

#[cfg(test)]
mod surge_tests {
    use super::*;

    #[test]
    fn warns_when_the_last_hours_run_above_forecast() {
        let forecast = vec![50.0; 48];
        let mut actual = vec![50.0; 20];
        assert_eq!(surge(&actual, &forecast, 4, 0.2, 100.0), None);
        actual.extend([65.0, 66.0, 64.0, 70.0]);
        let w = surge(&actual, &forecast, 4, 0.2, 100.0).expect("a surge");
        assert!((w.ratio - 265.0 / 200.0).abs() < 1e-12);
        assert_eq!(w.window_start, 20);
        // Quiet intervals never alarm, however the ratio looks.
        assert_eq!(surge(&[3.0, 4.0], &[1.0, 1.0], 2, 0.2, 10.0), None);
        assert_eq!(surge(&actual, &forecast, 0, 0.2, 0.0), None);
    }
}
