//! Demand forecasting: arrivals per interval for the coming days and weeks.
//!
//! Pure: rows in, forecast out. Two methods — a seasonal average of recent
//! weeks, and double-seasonal (daily and weekly) additive Holt-Winters —
//! each back-tested on the last weeks of the history the model never saw
//! (WAPE and MAPE per interval and per day); `auto` picks the better.

use jiff::civil::{Date, Time};
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

/// One history row: the start of an interval and its calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub date: Date,
    pub start: Time,
    pub calls: f64,
}

/// Reads a history CSV (`date,interval_start,calls`; a header line is
/// skipped): `(line, problem)` for the first line that does not parse.
pub fn parse_history(text: &str) -> Result<Vec<Row>, (usize, String)> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (i == 0 && line.starts_with("date")) {
            continue;
        }
        if rows.len() >= MAX_ROWS {
            return Err((i + 1, format!("more than {MAX_ROWS} rows")));
        }
        let f: Vec<&str> = line
            .split(',')
            .map(|x| x.trim().trim_matches('"'))
            .collect();
        let at = |problem: String| (i + 1, problem);
        if f.len() != 3 {
            return Err(at(format!(
                "expected date,interval_start,calls, got {} fields",
                f.len()
            )));
        }
        let date: Date = f[0]
            .parse()
            .map_err(|_| at(format!("'{}' is not a date like 1999-01-31", f[0])))?;
        let start: Time = format!("{}:00", f[1])
            .parse()
            .map_err(|_| at(format!("'{}' is not a time like 08:30", f[1])))?;
        let calls: f64 = f[2]
            .parse()
            .map_err(|_| at(format!("calls '{}' is not a number", f[2])))?;
        rows.push(Row { date, start, calls });
    }
    Ok(rows)
}

/// Calls per interval, contiguous from `first` (a date and slot).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub first_date: Date,
    /// Slot of the first value within its day.
    pub first_slot: usize,
    pub slots_per_day: usize,
    pub values: Vec<f64>,
    /// Intervals whose values were replaced (excluded dates): used to fit,
    /// never to score a back-test.
    pub excluded: Vec<bool>,
}

/// Most history rows accepted.
pub const MAX_ROWS: usize = 5_000_000;

impl Series {
    /// Builds a series at `interval_minutes` from rows at a finer or equal
    /// interval (summed). Rows must be in order, with no gaps or
    /// duplicates, and counts zero or more.
    pub fn from_rows(rows: &[Row], interval_minutes: u32) -> Result<Series, ForecastError> {
        if rows.is_empty() {
            return Err(ForecastError::Empty);
        }
        if rows.len() > MAX_ROWS {
            return Err(ForecastError::Other(format!("more than {MAX_ROWS} rows")));
        }
        if interval_minutes == 0 || 1440 % interval_minutes != 0 {
            return Err(ForecastError::Interval(format!(
                "{interval_minutes} minutes does not divide a day"
            )));
        }
        let minute = |t: Time| t.hour() as i64 * 60 + t.minute() as i64;
        // The history's own step, from its first two rows.
        let step = if rows.len() > 1 {
            let d = (rows[1].date - rows[0].date).get_days() as i64 * 1440 + minute(rows[1].start)
                - minute(rows[0].start);
            if d <= 0 {
                return Err(ForecastError::Row {
                    row: 3,
                    problem: "is not after the row before it".into(),
                });
            }
            d
        } else {
            interval_minutes as i64
        };
        if interval_minutes as i64 % step != 0 {
            return Err(ForecastError::Interval(format!(
                "{interval_minutes} minutes is not a whole number of the history's {step}-minute intervals"
            )));
        }
        let per = interval_minutes as i64 / step;
        let mut values = Vec::with_capacity(rows.len() / per as usize + 1);
        let first_abs = minute(rows[0].start);
        if first_abs % interval_minutes as i64 != 0 {
            return Err(ForecastError::Row {
                row: 2,
                problem: format!(
                    "starts at {}, not on a {interval_minutes}-minute boundary",
                    rows[0].start
                ),
            });
        }
        let mut expect = (rows[0].date, first_abs);
        for (i, r) in rows.iter().enumerate() {
            let line = i + 2; // 1-based, after the header
            if !(r.calls.is_finite() && r.calls >= 0.0) {
                return Err(ForecastError::Row {
                    row: line,
                    problem: format!("calls {} is not zero or more", r.calls),
                });
            }
            let at = (r.date, minute(r.start));
            if at != expect {
                let problem = if at < expect {
                    "is out of order or a duplicate".to_string()
                } else {
                    format!(
                        "leaves a gap: expected {} {:02}:{:02}",
                        expect.0,
                        expect.1 / 60,
                        expect.1 % 60
                    )
                };
                return Err(ForecastError::Row { row: line, problem });
            }
            if (i as i64) % per == 0 {
                values.push(0.0);
            }
            *values.last_mut().expect("pushed") += r.calls;
            let next = expect.1 + step;
            expect = if next >= 1440 {
                (
                    expect
                        .0
                        .tomorrow()
                        .map_err(|e| ForecastError::Other(e.to_string()))?,
                    next - 1440,
                )
            } else {
                (expect.0, next)
            };
        }
        if rows.len() as i64 % per != 0 {
            values.pop(); // a last, incomplete interval
        }
        let excluded = vec![false; values.len()];
        Ok(Series {
            first_date: rows[0].date,
            first_slot: (first_abs / interval_minutes as i64) as usize,
            slots_per_day: (1440 / interval_minutes) as usize,
            values,
            excluded,
        })
    }

    /// Day of week (Monday 0) and slot of value `i`.
    fn phase(&self, i: usize) -> (usize, usize) {
        let abs = self.first_slot + i;
        let day = abs / self.slots_per_day;
        let dow = (self.first_date.weekday().to_monday_zero_offset() as usize + day) % 7;
        (dow, abs % self.slots_per_day)
    }

    /// Date and start time of value `i` (including future ones).
    pub fn when(&self, i: usize) -> (Date, Time) {
        let abs = self.first_slot + i;
        let date = self
            .first_date
            .checked_add(jiff::Span::new().days((abs / self.slots_per_day) as i64))
            .expect("dates in range");
        let m = (abs % self.slots_per_day) * (1440 / self.slots_per_day);
        (date, Time::constant((m / 60) as i8, (m % 60) as i8, 0, 0))
    }

    /// The same series with excluded dates replaced by the average of the
    /// same weekday and slot over the other weeks (holidays, known events).
    pub fn without_dates(&self, dates: &[Date]) -> Series {
        if dates.is_empty() {
            return self.clone();
        }
        let excluded: Vec<bool> = (0..self.values.len())
            .map(|i| dates.contains(&self.when(i).0))
            .collect();
        let mut sum = vec![0.0; 7 * self.slots_per_day];
        let mut n = vec![0u32; 7 * self.slots_per_day];
        for (i, v) in self.values.iter().enumerate() {
            if !excluded[i] {
                let (d, s) = self.phase(i);
                sum[d * self.slots_per_day + s] += v;
                n[d * self.slots_per_day + s] += 1;
            }
        }
        let mut out = self.clone();
        out.excluded = excluded.clone();
        for (i, v) in out.values.iter_mut().enumerate() {
            if excluded[i] {
                let (d, s) = self.phase(i);
                let k = d * self.slots_per_day + s;
                *v = if n[k] > 0 { sum[k] / n[k] as f64 } else { 0.0 };
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Mean of the same weekday and interval over the last weeks.
    SeasonalAverage,
    /// Double-seasonal additive Holt-Winters (daily and weekly cycles).
    HoltWinters,
    /// Short history: mean of the same interval over the last days.
    DailyAverage,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::SeasonalAverage => "seasonal-average",
            Method::HoltWinters => "holt-winters",
            Method::DailyAverage => "daily-average",
        }
    }
}

/// Weeks averaged by the seasonal average.
pub const SEASONAL_WEEKS: usize = 6;

fn seasonal_average(s: &Series, horizon: usize) -> Vec<f64> {
    average_of_past(s, horizon, 7 * s.slots_per_day, SEASONAL_WEEKS)
}

fn daily_average(s: &Series, horizon: usize) -> Vec<f64> {
    average_of_past(s, horizon, s.slots_per_day, 14)
}

/// Each future slot is the mean of the same slot in the last `count`
/// periods of `period` slots that the history has (0 where it has none).
fn average_of_past(s: &Series, horizon: usize, period: usize, count: usize) -> Vec<f64> {
    let n = s.values.len();
    (0..horizon)
        .map(|h| {
            let mut sum = 0.0;
            let mut k = 0;
            let mut back = n + h;
            while back >= period && k < count {
                back -= period;
                if back < n {
                    sum += s.values[back];
                    k += 1;
                }
            }
            if k > 0 {
                sum / k as f64
            } else {
                0.0
            }
        })
        .collect()
}

/// Double-seasonal additive Holt-Winters with smoothing (α, δ, ω), fitted
/// from the first week; returns the forecast and the in-sample one-step
/// squared error.
fn holt_winters_with(
    s: &Series,
    horizon: usize,
    alpha: f64,
    delta: f64,
    omega: f64,
) -> (Vec<f64>, f64) {
    let m1 = s.slots_per_day;
    let m2 = 7 * m1;
    let y = &s.values;
    let n = y.len();
    let level0 = y[..m2].iter().sum::<f64>() / m2 as f64;
    let mut weekly: Vec<f64> = y[..m2].iter().map(|v| v - level0).collect();
    let mut daily = vec![0.0; m1];
    let mut level = level0;
    let mut sse = 0.0;
    for (t, &yt) in y.iter().enumerate().skip(m2) {
        let (di, wi) = (t % m1, t % m2);
        let pred = level + daily[di] + weekly[wi];
        sse += (yt - pred).powi(2);
        let new_level = alpha * (yt - daily[di] - weekly[wi]) + (1.0 - alpha) * level;
        daily[di] = delta * (yt - new_level - weekly[wi]) + (1.0 - delta) * daily[di];
        weekly[wi] = omega * (yt - new_level - daily[di]) + (1.0 - omega) * weekly[wi];
        level = new_level;
    }
    let f = (0..horizon)
        .map(|h| (level + daily[(n + h) % m1] + weekly[(n + h) % m2]).max(0.0))
        .collect();
    (f, sse)
}

/// Holt-Winters with its smoothing constants chosen by in-sample error.
fn holt_winters(s: &Series, horizon: usize) -> Vec<f64> {
    const GRID: [f64; 4] = [0.01, 0.05, 0.1, 0.2];
    let mut best: Option<(f64, (f64, f64, f64))> = None;
    for a in GRID {
        for d in GRID {
            for w in GRID {
                let (_, sse) = holt_winters_with(s, 0, a, d, w);
                if best.is_none_or(|(b, _)| sse < b) {
                    best = Some((sse, (a, d, w)));
                }
            }
        }
    }
    let (_, (a, d, w)) = best.expect("grid is not empty");
    holt_winters_with(s, horizon, a, d, w).0
}

fn run(method: Method, s: &Series, horizon: usize) -> Vec<f64> {
    match method {
        Method::SeasonalAverage => seasonal_average(s, horizon),
        Method::HoltWinters => holt_winters(s, horizon),
        Method::DailyAverage => daily_average(s, horizon),
    }
}

/// Accuracy on held-back data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accuracy {
    pub method: Method,
    /// Σ|error| / Σ actual, per interval.
    pub wape_interval: f64,
    /// Mean of |error| / actual over intervals with calls.
    pub mape_interval: f64,
    pub wape_day: f64,
    pub mape_day: f64,
}

/// Scores a forecast on the intervals not excluded (whole days only for
/// the daily figures).
fn accuracy(
    method: Method,
    actual: &[f64],
    forecast: &[f64],
    excluded: &[bool],
    slots_per_day: usize,
) -> Accuracy {
    let keep: Vec<usize> = (0..actual.len()).filter(|&i| !excluded[i]).collect();
    let a: Vec<f64> = keep.iter().map(|&i| actual[i]).collect();
    let f: Vec<f64> = keep.iter().map(|&i| forecast[i]).collect();
    let day_ok: Vec<bool> = excluded
        .chunks(slots_per_day)
        .map(|c| c.iter().all(|x| !x))
        .collect();
    let days = |v: &[f64]| {
        v.chunks(slots_per_day)
            .zip(&day_ok)
            .filter(|(_, ok)| **ok)
            .map(|(c, _)| c.iter().sum::<f64>())
            .collect::<Vec<_>>()
    };
    let (ad, fd) = (days(actual), days(forecast));
    scores(method, &a, &f, &ad, &fd)
}

fn scores(method: Method, actual: &[f64], forecast: &[f64], ad: &[f64], fd: &[f64]) -> Accuracy {
    let wape = |a: &[f64], f: &[f64]| {
        let s: f64 = a.iter().sum();
        if s > 0.0 {
            a.iter().zip(f).map(|(x, y)| (x - y).abs()).sum::<f64>() / s
        } else {
            0.0
        }
    };
    let mape = |a: &[f64], f: &[f64]| {
        let v: Vec<f64> = a
            .iter()
            .zip(f)
            .filter(|(x, _)| **x > 0.0)
            .map(|(x, y)| (x - y).abs() / x)
            .collect();
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    Accuracy {
        method,
        wape_interval: wape(actual, forecast),
        mape_interval: mape(actual, forecast),
        wape_day: wape(ad, fd),
        mape_day: mape(ad, fd),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub method: Method,
    /// Why the method was chosen ("auto: lowest WAPE in the back-test", or a
    /// fallback for a short history).
    pub why: String,
    /// Back-test accuracy of every method tried, on the last `test_days`.
    pub backtest: Vec<Accuracy>,
    pub test_days: usize,
    /// The forecast, per future interval, from the end of the history.
    pub values: Vec<f64>,
}

/// Which method to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Auto,
    Only(Method),
}

/// Days held back to test on.
pub const TEST_DAYS: usize = 14;
/// Longest forecast: a year.
pub const MAX_HORIZON_DAYS: usize = 366;

/// Forecasts `horizon_days` of intervals after the history.
pub fn forecast(
    s: &Series,
    horizon_days: usize,
    choice: Choice,
) -> Result<Forecast, ForecastError> {
    if horizon_days == 0 || horizon_days > MAX_HORIZON_DAYS {
        return Err(ForecastError::Horizon(format!(
            "must be 1 to {MAX_HORIZON_DAYS} days"
        )));
    }
    let day = s.slots_per_day;
    let horizon = horizon_days * day;
    let n = s.values.len();
    let weeks = n / (7 * day);
    // Too short for weekly methods and a back-test: a daily average.
    if weeks < 2 + TEST_DAYS / 7 {
        if n < day {
            return Err(ForecastError::Other(
                "the history is shorter than a day".into(),
            ));
        }
        let note = format!("history of {} days is shorter than {} weeks: daily average of the last days, without a back-test", n / day, 2 + TEST_DAYS / 7);
        return Ok(Forecast {
            method: Method::DailyAverage,
            why: note,
            backtest: Vec::new(),
            test_days: 0,
            values: run(Method::DailyAverage, s, horizon),
        });
    }
    let test = TEST_DAYS * day;
    let train = Series {
        values: s.values[..n - test].to_vec(),
        ..s.clone()
    };
    let actual = &s.values[n - test..];
    let candidates: Vec<Method> = match choice {
        Choice::Auto => vec![Method::SeasonalAverage, Method::HoltWinters],
        Choice::Only(m) => vec![m],
    };
    let mask = &s.excluded[n - test..];
    let backtest: Vec<Accuracy> = candidates
        .iter()
        .map(|&m| accuracy(m, actual, &run(m, &train, test), mask, day))
        .collect();
    let best = backtest
        .iter()
        .min_by(|a, b| {
            a.wape_interval
                .partial_cmp(&b.wape_interval)
                .expect("finite")
        })
        .expect("at least one method")
        .method;
    let why = match choice {
        Choice::Auto => {
            format!("auto: lowest interval WAPE over the last {TEST_DAYS} days held back")
        }
        Choice::Only(_) => "as asked".to_string(),
    };
    Ok(Forecast {
        method: best,
        why,
        backtest,
        test_days: TEST_DAYS,
        values: run(best, s, horizon),
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
