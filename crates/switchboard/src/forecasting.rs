//! `switchboard forecast`: arrivals per interval from a history CSV.

use crate::args;
use anyhow::{bail, Result};
use forecast::{Choice, Method, Row, Series};
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
    /// auto (best in the back-test), seasonal-average or holt-winters.
    #[arg(long, default_value = "auto")]
    method: String,
    /// Dates to leave out of the history (holidays, known events), e.g.
    /// 1999-04-02,1999-05-31.
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
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
        "seasonal-average" => Choice::Only(Method::SeasonalAverage),
        "holt-winters" => Choice::Only(Method::HoltWinters),
        m => bail!("--method: '{m}' is not auto, seasonal-average or holt-winters"),
    };
    let exclude: Vec<Date> = a
        .exclude
        .iter()
        .map(|d| {
            d.parse()
                .map_err(|_| anyhow::anyhow!("--exclude: '{d}' is not a date like 1999-04-02"))
        })
        .collect::<Result<_>>()?;
    let rows = read_rows(&a.history)?;
    let series = Series::from_rows(&rows, (interval as u32) / 60)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.history.display()))?;
    let series = series.without_dates(&exclude);
    let f = forecast::forecast(&series, (horizon as usize) / 86_400, choice)?;
    let n = series.values.len();
    let mut out = String::new();
    if a.json {
        let rows: Vec<serde_json::Value> = f
            .values
            .iter()
            .enumerate()
            .map(|(h, v)| {
                let (d, t) = series.when(n + h);
                json!({ "date": d.to_string(), "interval_start": format!("{:02}:{:02}", t.hour(), t.minute()), "calls": (v * 100.0).round() / 100.0 })
            })
            .collect();
        let v = json!({ "method": f.method.as_str(), "why": f.why, "test_days": f.test_days, "backtest": f.backtest, "excluded_dates": a.exclude, "forecast": rows });
        out = serde_json::to_string_pretty(&v)? + "\n";
    } else {
        out.push_str("date,interval_start,calls\n");
        for (h, v) in f.values.iter().enumerate() {
            let (d, t) = series.when(n + h);
            let _ = writeln!(out, "{d},{:02}:{:02},{:.2}", t.hour(), t.minute(), v);
        }
        eprintln!("method {} ({})", f.method.as_str(), f.why);
        for b in &f.backtest {
            eprintln!(
                "back-test {:<17} WAPE {:.1}% per interval, {:.1}% per day; MAPE {:.1}% per interval, {:.1}% per day",
                b.method.as_str(),
                b.wape_interval * 100.0,
                b.wape_day * 100.0,
                b.mape_interval * 100.0,
                b.mape_day * 100.0
            );
        }
    }
    Ok(out)
}
