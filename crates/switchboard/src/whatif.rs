//! `switchboard whatif`: the simulator on a forecast and a rota, with the
//! changes a manager asks about (more demand, callbacks taken, a site off
//! the air).

use crate::args;
use anyhow::{bail, Result};
use serde_json::json;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct WhatIfArgs {
    /// Forecast CSV (`date,interval_start,calls`, e.g. from `forecast`).
    #[arg(long)]
    forecast: PathBuf,
    /// Rota CSV: `who,date,start,end[,break_start,break_end[,site]]`.
    #[arg(long)]
    rota: PathBuf,
    #[arg(long, allow_hyphen_values = true)]
    aht: String,
    #[arg(long, allow_hyphen_values = true)]
    patience: String,
    #[arg(long, default_value = "80/20")]
    target: String,
    /// Change in demand, e.g. +30% or -10%.
    #[arg(long, allow_hyphen_values = true, default_value = "+0%")]
    demand: String,
    /// Share of callers who take a callback when offered (after 2 minutes).
    #[arg(long, default_value = "0")]
    callback_acceptance: String,
    /// A site whose shifts are lost (off the air).
    #[arg(long)]
    site_off_air: Option<String>,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[arg(long)]
    json: bool,
}

/// A planning error, naming the file it came from.
fn in_file(path: &std::path::Path, e: plan::PlanError) -> anyhow::Error {
    match e {
        plan::PlanError::Line { line, problem } => {
            anyhow::anyhow!("{} line {line}: {problem}", path.display())
        }
        plan::PlanError::Invalid(m) => anyhow::anyhow!("{}: {m}", path.display()),
    }
}

pub fn run(a: WhatIfArgs) -> Result<String> {
    let aht = args::duration_secs("--aht", &a.aht)?;
    let patience = args::duration_secs("--patience", &a.patience)?;
    let target = args::target("--target", &a.target)?;
    let demand = {
        let d = a.demand.trim().trim_end_matches('%');
        let v: f64 = d
            .parse()
            .map_err(|_| anyhow::anyhow!("--demand: '{}' is not a change like +30%", a.demand))?;
        if !(v > -100.0 && v <= 1000.0) {
            bail!("--demand: must be above -100% and at most +1000%");
        }
        1.0 + v / 100.0
    };
    let accept = args::fraction("--callback-acceptance", &a.callback_acceptance, true)?;
    let read = |p: &std::path::Path| crate::csv::read_limited(p, 64 * 1024 * 1024);
    let profile = plan::parse_profile(&read(&a.forecast)?).map_err(|e| in_file(&a.forecast, e))?;
    let shifts = plan::parse_rota(&read(&a.rota)?).map_err(|e| in_file(&a.rota, e))?;
    let service = plan::Service {
        aht_seconds: aht,
        patience_seconds: Some(patience),
        target: target.0,
        target_seconds: target.1,
        shrinkage: 0.0,
        max_occupancy: None,
    };
    let what = plan::WhatIf {
        demand_factor: demand,
        callback_acceptance: accept,
        site_off_air: a.site_off_air.clone(),
        seed: a.seed,
    };
    let r = plan::simulate(&profile, &shifts, &service, &what).map_err(|e| in_file(&a.rota, e))?;
    let name = format!(
        "what-if: demand {}, callbacks {:.0}%{}",
        a.demand,
        accept * 100.0,
        a.site_off_air
            .as_ref()
            .map_or(String::new(), |s| format!(", {s} off the air"))
    );
    let by_interval: Vec<_> = r
        .intervals
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (d, t) = profile.when(i);
            json!({
                "date": d.to_string(), "interval_start": t,
                "offered": p.offered, "service_level": p.service_level,
                "abandonment_rate": p.abandonment_rate, "callbacks_requested": p.callbacks_requested,
                "asa_seconds": p.asa_seconds,
            })
        })
        .collect();
    let o = &r.overall;
    let mut out = String::new();
    if a.json {
        out = serde_json::to_string_pretty(&json!({
            "scenario": name, "agents": r.agents, "shifts_lost": r.shifts_lost,
            "offered": o.offered, "service_level": o.service_level,
            "abandonment_rate": o.abandonment_rate, "asa_seconds": o.asa_seconds,
            "callbacks_requested": o.callbacks_requested, "callbacks_within_target": r.callbacks_within_target,
            "intervals": by_interval,
        }))? + "\n";
    } else {
        let pct = |v: Option<f64>| v.map_or("-".into(), |x| format!("{:.1}%", x * 100.0));
        let _ = writeln!(
            out,
            "{} — {} agents on the rota{}",
            name,
            r.agents,
            if r.shifts_lost > 0 {
                format!(", {} shifts lost", r.shifts_lost)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "offered {}, service level {}, abandonment {}, ASA {}, callbacks requested {} ({} within 10 min)",
            o.offered,
            pct(o.service_level),
            pct(o.abandonment_rate),
            o.asa_seconds.map_or("-".into(), |x| format!("{x:.1} s")),
            o.callbacks_requested,
            pct(r.callbacks_within_target)
        );
        let _ = writeln!(
            out,
            "\ndate,interval_start,offered,service_level,abandonment_rate,callbacks_requested"
        );
        for v in &by_interval {
            let f = |k: &str| v[k].as_f64().map_or(String::new(), |x| format!("{x:.3}"));
            let _ = writeln!(
                out,
                "{},{},{},{},{},{}",
                v["date"].as_str().unwrap_or(""),
                v["interval_start"].as_str().unwrap_or(""),
                v["offered"],
                f("service_level"),
                f("abandonment_rate"),
                v["callbacks_requested"]
            );
        }
    }
    Ok(out)
}
