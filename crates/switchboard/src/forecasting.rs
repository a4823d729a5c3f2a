//! `switchboard forecast`: arrivals per interval from a history CSV.

use crate::args;
use anyhow::{bail, Result};
use forecast::{Choice, Method, Options, Row, Series};
use jiff::civil::Date;
use serde_json::json;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ForecastArgs {
    /// History CSV: `date,interval_start,calls` (e.g. the shared bank data).
    #[arg(long)]
    history: PathBuf,
    /// Interval of the forecast, e.g. 30m (finer history is summed).
    #[arg(long)]
    interval: String,
    /// How far ahead, e.g. 14d.
    #[arg(long)]
    horizon: String,
    /// auto (the best three combined, chosen by back-test), or one of
    /// seasonal-naive, weekday-mean, seasonal-average, weekday-median,
    /// scaled-profile, day-profile, holt-winters.
    #[arg(long, default_value = "auto")]
    method: String,
    /// Bank holidays known without listing them: england-and-wales or none.
    #[arg(long, default_value = "england-and-wales")]
    calendar: String,
    /// The service's own holidays (another calendar, local closures),
    /// e.g. 1999-09-11,1999-09-20: learned from behind, forecast ahead.
    #[arg(long, value_delimiter = ',')]
    holidays: Vec<String>,
    /// Dates to leave out of fitting and scoring (an outage, an event),
    /// e.g. 1999-04-02,1999-05-31.
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// Dates that look odd but are ordinary: not treated as anomalies.
    #[arg(long, value_delimiter = ',')]
    ordinary: Vec<String>,
    /// Do not look for days unlike their weekday.
    #[arg(long)]
    no_anomalies: bool,
    /// Back-test origins, a week apart, each forecasting 14 days.
    #[arg(long, default_value_t = forecast::ORIGINS)]
    origins: usize,
    /// Print the back-test (every method, every origin) instead of the
    /// forecast; with --json, each origin's forecast too.
    #[arg(long)]
    backtest: bool,
    #[arg(long)]
    json: bool,
}

/// Largest history file read.
const MAX_BYTES: u64 = crate::csv::MAX_BYTES;

fn read_rows(path: &std::path::Path) -> Result<Vec<Row>> {
    let text = crate::csv::read_limited(path, MAX_BYTES)?;
    forecast::parse_history(&text)
        .map_err(|(line, problem)| anyhow::anyhow!("{} line {line}: {problem}", path.display()))
}

fn dates(flag: &str, list: &[String]) -> Result<Vec<Date>> {
    list.iter()
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            d.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{flag}: '{d}' is not a date like 1999-04-02"))
        })
        .collect()
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn run(a: ForecastArgs) -> Result<String> {
    let interval = args::duration_secs("--interval", &a.interval)?;
    if interval.fract() != 0.0 || (interval as i64) % 60 != 0 {
        bail!("--interval: must be whole minutes, got {}", a.interval);
    }
    let horizon = args::duration_secs("--horizon", &a.horizon)?;
    if horizon.fract() != 0.0 || (horizon as i64) % 86_400 != 0 {
        bail!("--horizon: must be whole days, e.g. 14d, got {}", a.horizon);
    }
    let choice = match a.method.as_str() {
        "auto" => Choice::Auto,
        m => Choice::Only(Method::parse(m).ok_or_else(|| {
            anyhow::anyhow!(
                "--method: '{m}' is not auto or one of {}",
                Method::CANDIDATES.map(|m| m.as_str()).join(", ")
            )
        })?),
    };
    let england_and_wales = match a.calendar.as_str() {
        "england-and-wales" => true,
        "none" => false,
        c => bail!("--calendar: '{c}' is not england-and-wales or none"),
    };
    if a.origins == 0 || a.origins > forecast::MAX_ORIGINS {
        bail!("--origins: must be 1 to {}", forecast::MAX_ORIGINS);
    }
    let opts = Options {
        choice,
        england_and_wales,
        holidays: dates("--holidays", &a.holidays)?,
        exclude: dates("--exclude", &a.exclude)?,
        ordinary: dates("--ordinary", &a.ordinary)?,
        detect_anomalies: !a.no_anomalies,
        origins: a.origins,
    };
    let rows = read_rows(&a.history)?;
    let series = Series::from_rows(&rows, (interval as u32) / 60)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.history.display()))?;
    let started = std::time::Instant::now();
    let f = forecast::forecast(&series, (horizon as usize) / 86_400, &opts)?;
    let took = started.elapsed();
    let n = series.values.len();
    let stamp = |i: usize| {
        let (d, t) = series.when(i);
        (d.to_string(), format!("{:02}:{:02}", t.hour(), t.minute()))
    };
    let mut out = String::new();
    let summary = json!({
        "method": f.method.as_str(),
        "combined": f.combined.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "why": f.why,
        "test_days": f.test_days,
        "origins": f.origins.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        "backtest": f.backtest,
        "coverage80": f.bands.coverage80,
        "coverage95": f.bands.coverage95,
        "bands": f.bands.model,
        "anomalies": f.anomalies,
        "holidays_in_history": f.holidays_in_history,
        "holidays_in_horizon": f.holidays_in_horizon,
        "excluded_dates": opts.exclude,
        "notes": f.notes,
        "seconds": took.as_secs_f64(),
    });
    if a.json {
        let mut v = summary;
        if a.backtest {
            v["runs"] = f
                .runs
                .iter()
                .map(|r| {
                    json!({
                        "origin": r.origin.to_string(),
                        "combined": r.combined.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                        "forecast": r.values.iter().map(|x| r2(*x)).collect::<Vec<_>>(),
                        "actual": series.values[r.start..(r.start + r.values.len()).min(n)].to_vec(),
                    })
                })
                .collect();
        } else {
            v["forecast"] = f
                .values
                .iter()
                .enumerate()
                .map(|(h, x)| {
                    let (d, t) = stamp(n + h);
                    json!({ "date": d, "interval_start": t, "calls": r2(*x),
                        "lo80": r2(f.bands.lo80[h]), "hi80": r2(f.bands.hi80[h]),
                        "lo95": r2(f.bands.lo95[h]), "hi95": r2(f.bands.hi95[h]) })
                })
                .collect();
        }
        return Ok(serde_json::to_string_pretty(&v)? + "\n");
    }
    let mut report = String::new();
    let _ = writeln!(report, "method {} ({})", f.method.as_str(), f.why);
    let _ = writeln!(
        report,
        "back-test: {} origins ({}), {} days each, scored on ordinary days",
        f.origins.len(),
        f.origins
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        f.test_days
    );
    for b in &f.backtest {
        let _ = writeln!(
            report,
            "back-test {:<17} WAPE {} per interval ({}-{}), {} per day ({}-{}); MAPE {} per interval, {} per day; all days: WAPE {} per interval, {} per day",
            b.method.as_str(),
            pct(b.wape_interval),
            pct(b.wape_interval_spread.min),
            pct(b.wape_interval_spread.max),
            pct(b.wape_day),
            pct(b.wape_day_spread.min),
            pct(b.wape_day_spread.max),
            pct(b.mape_interval),
            pct(b.mape_day),
            pct(b.wape_interval_all_days),
            pct(b.wape_day_all_days),
        );
    }
    if let (Some(c80), Some(c95)) = (f.bands.coverage80, f.bands.coverage95) {
        let _ = writeln!(
            report,
            "bands: the 80% band held {} and the 95% band {} of back-test intervals (each origin's band fitted on the others)",
            pct(c80),
            pct(c95)
        );
    }
    for note in &f.notes {
        let _ = writeln!(report, "note: {note}");
    }
    if a.backtest {
        return Ok(report);
    }
    eprint!("{report}");
    out.push_str("date,interval_start,calls,lo80,hi80,lo95,hi95\n");
    for (h, v) in f.values.iter().enumerate() {
        let (d, t) = stamp(n + h);
        let _ = writeln!(
            out,
            "{d},{t},{v:.2},{:.2},{:.2},{:.2},{:.2}",
            f.bands.lo80[h], f.bands.hi80[h], f.bands.lo95[h], f.bands.hi95[h]
        );
    }
    Ok(out)
}
