//! The forecasting methods: each takes a cleaned history (holidays and
//! anomalous days already refilled) and gives the next `h` intervals.
//! Weeks and days are counted back from the end of the history, so a
//! history may start or end at any interval.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The same interval last week (a baseline).
    SeasonalNaive,
    /// Mean of the same weekday and interval over the last 8 weeks (the
    /// spreadsheet baseline).
    WeekdayMean,
    /// Mean of the same weekday and interval over the last 6 weeks.
    SeasonalAverage,
    /// Median of the same weekday and interval over the last 8 weeks:
    /// robust to one odd week.
    WeekdayMedian,
    /// The weekly shape of the last 12 weeks, each week as a share of its
    /// own level, times a smoothed recent level: follows a level that
    /// moves without losing the shape.
    ScaledProfile,
    /// The weekly shape of up to 26 weeks (as shares of each week's
    /// level) times a slowly smoothed level: the least noise where demand
    /// keeps its shape.
    LongProfile,
    /// Each weekday's total smoothed over the last 8 same weekdays, spread
    /// over the day by that weekday's intraday shares.
    DayProfile,
    /// Double-seasonal additive Holt-Winters (daily and weekly cycles).
    HoltWinters,
    /// Short history: mean of the same interval over the last days.
    DailyAverage,
    /// The mean of the methods that did best in an inner back-test.
    Combination,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::SeasonalNaive => "seasonal-naive",
            Method::WeekdayMean => "weekday-mean",
            Method::SeasonalAverage => "seasonal-average",
            Method::WeekdayMedian => "weekday-median",
            Method::ScaledProfile => "scaled-profile",
            Method::DayProfile => "day-profile",
            Method::LongProfile => "long-profile",
            Method::HoltWinters => "holt-winters",
            Method::DailyAverage => "daily-average",
            Method::Combination => "combination",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Self::CANDIDATES.iter().copied().find(|m| m.as_str() == s)
    }

    /// The methods `auto` weighs against each other.
    pub const CANDIDATES: [Method; 8] = [
        Method::SeasonalNaive,
        Method::WeekdayMean,
        Method::SeasonalAverage,
        Method::WeekdayMedian,
        Method::ScaledProfile,
        Method::DayProfile,
        Method::LongProfile,
        Method::HoltWinters,
    ];

    /// Whole weeks of history the method needs.
    pub fn weeks_needed(self) -> usize {
        match self {
            Method::DailyAverage => 0,
            Method::HoltWinters => 2,
            _ => 1,
        }
    }
}

/// Weeks averaged by the seasonal average.
pub const SEASONAL_WEEKS: usize = 6;
/// Weeks of the weekday mean and median baselines.
pub const WEEKDAY_WEEKS: usize = 8;

/// Runs one method on `y` (slots of `day` per day) for `h` intervals.
pub fn run(method: Method, y: &[f64], h: usize, day: usize) -> Vec<f64> {
    let week = 7 * day;
    match method {
        Method::SeasonalNaive => past(y, h, week, 1, mean),
        Method::WeekdayMean => past(y, h, week, WEEKDAY_WEEKS, mean),
        Method::SeasonalAverage => past(y, h, week, SEASONAL_WEEKS, mean),
        Method::WeekdayMedian => past(y, h, week, WEEKDAY_WEEKS, median),
        Method::ScaledProfile => scaled_profile(y, h, week, 12, 0.2),
        Method::DayProfile => day_profile(y, h, day, 8, 0.15),
        Method::LongProfile => scaled_profile(y, h, 7 * day, 26, 0.15),
        Method::HoltWinters => holt_winters(y, h, day),
        Method::DailyAverage => past(y, h, day, 14, mean),
        Method::Combination => past(y, h, week, WEEKDAY_WEEKS, mean),
    }
}

fn mean(v: &mut [f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The median (sorts `v`).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Each future slot from the same slot in the last `count` periods of
/// `period` slots the history has (0 where it has none).
fn past(y: &[f64], h: usize, period: usize, count: usize, f: fn(&mut [f64]) -> f64) -> Vec<f64> {
    let n = y.len();
    let mut buf = Vec::with_capacity(count);
    (0..h)
        .map(|i| {
            buf.clear();
            let mut back = n + i;
            while back >= period && buf.len() < count {
                back -= period;
                if back < n {
                    buf.push(y[back]);
                }
            }
            if buf.is_empty() {
                0.0
            } else {
                f(&mut buf)
            }
        })
        .collect()
}

/// The weekly shape as shares of each week's level over the last `k`
/// weeks, times the weekly level smoothed exponentially (α) from the
/// oldest of those weeks to the newest.
fn scaled_profile(y: &[f64], h: usize, week: usize, k: usize, alpha: f64) -> Vec<f64> {
    let n = y.len();
    let k = k.min(n / week);
    if k == 0 {
        return past(y, h, week, 1, mean);
    }
    let mut shape = vec![0.0; week];
    let mut weeks = 0usize;
    let mut level = None::<f64>;
    for j in (1..=k).rev() {
        let b = &y[n - week * j..n - week * (j - 1)];
        let l = b.iter().sum::<f64>() / week as f64;
        level = Some(match level {
            None => l,
            Some(prev) => alpha * l + (1.0 - alpha) * prev,
        });
        if l > 0.0 {
            for (s, v) in shape.iter_mut().zip(b) {
                *s += v / l;
            }
            weeks += 1;
        }
    }
    let level = level.unwrap_or(0.0);
    if weeks == 0 {
        return vec![0.0; h];
    }
    // The shape's slot p is the slot p after the start of a week ending at n.
    (0..h)
        .map(|i| level * shape[i % week] / weeks as f64)
        .collect()
}

/// Each future day's total from the last `k` same weekdays, smoothed (α,
/// oldest to newest), spread by their pooled intraday shares.
fn day_profile(y: &[f64], h: usize, day: usize, k: usize, alpha: f64) -> Vec<f64> {
    let n = y.len();
    let week = 7 * day;
    let k = k.min(n / week);
    if k == 0 {
        return past(y, h, week, 1, mean);
    }
    let mut out = Vec::with_capacity(h);
    let days = h.div_ceil(day);
    for b in 0..days {
        let off = (b % 7) * day;
        let mut level = None::<f64>;
        let mut shares = vec![0.0; day];
        for j in (1..=k).rev() {
            let start = n - week * j + off;
            let block = &y[start..start + day];
            let total: f64 = block.iter().sum();
            level = Some(match level {
                None => total,
                Some(prev) => alpha * total + (1.0 - alpha) * prev,
            });
            for (s, v) in shares.iter_mut().zip(block) {
                *s += v;
            }
        }
        let sum: f64 = shares.iter().sum();
        let level = level.unwrap_or(0.0);
        for s in &shares {
            out.push(if sum > 0.0 { level * s / sum } else { 0.0 });
        }
    }
    out.truncate(h);
    out
}

/// Double-seasonal additive Holt-Winters with smoothing (α, δ, ω), fitted
/// from the first week; the forecast and the in-sample one-step squared
/// error. Seasonal indexes are counted back from the end of the history.
fn holt_winters_with(
    y: &[f64],
    h: usize,
    day: usize,
    alpha: f64,
    delta: f64,
    omega: f64,
) -> (Vec<f64>, f64) {
    let m1 = day;
    let m2 = 7 * m1;
    let n = y.len();
    // Phase so that slot n is index 0 of both cycles.
    let ph = |t: usize, m: usize| (t + m - n % m) % m;
    let level0 = y[..m2].iter().sum::<f64>() / m2 as f64;
    let mut weekly = vec![0.0; m2];
    for (t, v) in y[..m2].iter().enumerate() {
        weekly[ph(t, m2)] = v - level0;
    }
    let mut daily = vec![0.0; m1];
    let mut level = level0;
    let mut sse = 0.0;
    for (t, &yt) in y.iter().enumerate().skip(m2) {
        let (di, wi) = (ph(t, m1), ph(t, m2));
        let pred = level + daily[di] + weekly[wi];
        sse += (yt - pred).powi(2);
        let new_level = alpha * (yt - daily[di] - weekly[wi]) + (1.0 - alpha) * level;
        daily[di] = delta * (yt - new_level - weekly[wi]) + (1.0 - delta) * daily[di];
        weekly[wi] = omega * (yt - new_level - daily[di]) + (1.0 - omega) * weekly[wi];
        level = new_level;
    }
    let f = (0..h)
        .map(|i| (level + daily[i % m1] + weekly[i % m2]).max(0.0))
        .collect();
    (f, sse)
}

/// Holt-Winters with its smoothing constants chosen by in-sample error.
fn holt_winters(y: &[f64], h: usize, day: usize) -> Vec<f64> {
    if y.len() < 7 * day + 1 {
        return past(y, h, 7 * day, 1, mean);
    }
    const GRID: [f64; 4] = [0.01, 0.05, 0.1, 0.2];
    let mut best: Option<(f64, (f64, f64, f64))> = None;
    for a in GRID {
        for d in GRID {
            for w in GRID {
                let (_, sse) = holt_winters_with(y, 0, day, a, d, w);
                if best.is_none_or(|(b, _)| sse < b) {
                    best = Some((sse, (a, d, w)));
                }
            }
        }
    }
    let (_, (a, d, w)) = best.expect("grid is not empty");
    holt_winters_with(y, h, day, a, d, w).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_methods_repeat_a_fixed_week() {
        // Three identical weeks of 2 slots a day: every method gives it back.
        let week: Vec<f64> = (0..14).map(|i| (i % 5 + 1) as f64).collect();
        let y: Vec<f64> = week.iter().cycle().take(14 * 3).copied().collect();
        for m in Method::CANDIDATES {
            let f = run(m, &y, 14, 2);
            for (a, b) in f.iter().zip(&week) {
                assert!((a - b).abs() < 1e-6, "{m:?}: {f:?}");
            }
        }
    }

    #[test]
    fn the_median_ignores_one_odd_week_and_the_mean_does_not() {
        let mut y = vec![10.0; 7 * 8];
        for v in &mut y[7 * 3..7 * 4] {
            *v = 90.0;
        }
        assert_eq!(run(Method::WeekdayMedian, &y, 7, 1), vec![10.0; 7]);
        assert_eq!(run(Method::WeekdayMean, &y, 7, 1), vec![20.0; 7]);
    }
}
