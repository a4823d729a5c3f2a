//! `switchboard staff`: Erlang C / Erlang A staffing from the command line.

use crate::args;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::fmt::Write;
use std::path::PathBuf;
use wfm::{Constraints, Model, Params, Performance, SlDefinition};

#[derive(clap::Args, Debug)]
pub struct StaffArgs {
    /// Calls offered in one interval (single-interval mode).
    #[arg(long, allow_hyphen_values = true)]
    calls: Option<f64>,
    /// A CSV of `date,interval_start,calls` rows: one staffing row per
    /// interval (per-interval mode, instead of --calls).
    #[arg(long, conflicts_with = "calls")]
    calls_csv: Option<PathBuf>,
    /// Length of an interval, e.g. 30m.
    #[arg(long, allow_hyphen_values = true)]
    interval: String,
    /// Mean handle time, e.g. 180s.
    #[arg(long, allow_hyphen_values = true)]
    aht: String,
    /// Service-level target: percent / seconds, e.g. 80/20.
    #[arg(long)]
    target: String,
    /// Mean patience before callers hang up (switches to Erlang A).
    #[arg(long, allow_hyphen_values = true)]
    patience: Option<String>,
    #[arg(long)]
    max_occupancy: Option<String>,
    #[arg(long)]
    max_abandon: Option<String>,
    /// Mean answer time not to exceed, e.g. 20s.
    #[arg(long)]
    max_asa: Option<String>,
    /// Share of paid time not on the phones (breaks, training, leave).
    #[arg(long)]
    shrinkage: Option<String>,
    /// Evaluate this staffing instead of finding the minimum.
    #[arg(long)]
    agents: Option<u32>,
    /// all: answered in time / all calls; answered: / answered calls;
    /// exclude-early-abandons: / (answered + abandoned after the threshold).
    #[arg(long, default_value = "all")]
    sl_definition: String,
    #[arg(long)]
    json: bool,
}

struct Setup {
    interval_secs: f64,
    aht: f64,
    patience: Option<f64>,
    target_sl: f64,
    target_secs: f64,
    sl_definition: SlDefinition,
    constraints: Constraints,
    shrinkage: f64,
}

fn setup(a: &StaffArgs) -> Result<Setup> {
    let interval_secs = args::duration_secs("--interval", &a.interval)?;
    let aht = args::duration_secs("--aht", &a.aht)?;
    let (target_sl, target_secs) = args::target("--target", &a.target)?;
    let patience = a
        .patience
        .as_deref()
        .map(|p| args::duration_secs("--patience", p))
        .transpose()?;
    let sl_definition = SlDefinition::parse(&a.sl_definition).with_context(|| {
        format!(
            "--sl-definition: '{}' is not all, answered or exclude-early-abandons",
            a.sl_definition
        )
    })?;
    let constraints = Constraints {
        service_level: Some(target_sl),
        max_occupancy: a
            .max_occupancy
            .as_deref()
            .map(|v| args::fraction("--max-occupancy", v, true))
            .transpose()?,
        max_abandon: a
            .max_abandon
            .as_deref()
            .map(|v| args::fraction("--max-abandon", v, true))
            .transpose()?,
        max_asa_seconds: a
            .max_asa
            .as_deref()
            .map(|v| args::duration_secs("--max-asa", v))
            .transpose()?,
    };
    if constraints.max_abandon.is_some() && patience.is_none() {
        bail!("--max-abandon needs --patience (Erlang C assumes nobody hangs up)");
    }
    let shrinkage = a
        .shrinkage
        .as_deref()
        .map(|v| args::fraction("--shrinkage", v, false))
        .transpose()?
        .unwrap_or(0.0);
    if a.agents == Some(0) {
        bail!("--agents: must be at least 1");
    }
    Ok(Setup {
        interval_secs,
        aht,
        patience,
        target_sl,
        target_secs,
        sl_definition,
        constraints,
        shrinkage,
    })
}

fn solve(s: &Setup, calls: f64, agents: Option<u32>) -> Result<(Performance, u32)> {
    if !(calls.is_finite() && calls >= 0.0) {
        bail!("--calls: must be zero or more, got {calls}");
    }
    let p = Params {
        arrival_rate: calls / s.interval_secs,
        aht: s.aht,
        patience: s.patience,
        target_seconds: s.target_secs,
        sl_definition: s.sl_definition,
    };
    let perf = match agents {
        Some(n) => wfm::evaluate(&p, n)?,
        None => wfm::required_agents(&p, &s.constraints)?,
    };
    let scheduled = wfm::scheduled_staff(perf.agents, s.shrinkage)?;
    Ok((perf, scheduled))
}

fn to_json(perf: &Performance, scheduled: u32, s: &Setup) -> serde_json::Value {
    json!({
        "model": match perf.model { Model::ErlangC => "erlang_c", Model::ErlangA => "erlang_a" },
        "offered_load_erlangs": perf.offered_load_erlangs,
        "agents": perf.agents,
        "scheduled_staff": scheduled,
        "service_level": perf.service_level,
        "probability_wait": perf.probability_wait,
        "asa_seconds": perf.asa_seconds,
        "occupancy": perf.occupancy,
        "abandon_probability": perf.abandon_probability,
        "mean_wait_all_seconds": perf.mean_wait_all_seconds,
        "sl_definition": perf.sl_definition.as_str(),
        "target": { "service_level": s.target_sl, "seconds": s.target_secs },
        "meets_target": s.constraints.met_by(perf),
        "shrinkage": s.shrinkage,
    })
}

pub fn run(a: StaffArgs) -> Result<String> {
    let s = setup(&a)?;
    let mut out = String::new();
    match (&a.calls, &a.calls_csv) {
        (Some(calls), None) => {
            if !(calls.is_finite() && *calls > 0.0) {
                bail!("--calls: must be above zero, got {calls}");
            }
            let (perf, scheduled) = solve(&s, *calls, a.agents)?;
            if a.json {
                out = serde_json::to_string_pretty(&to_json(&perf, scheduled, &s))? + "\n";
            } else {
                let model = match perf.model {
                    Model::ErlangC => "Erlang C (callers wait as long as it takes)",
                    Model::ErlangA => "Erlang A (callers hang up after a mean patience)",
                };
                let how = if a.agents.is_some() {
                    "as given"
                } else {
                    "the fewest meeting every constraint"
                };
                let _ = writeln!(out, "model                {model}");
                let _ = writeln!(
                    out,
                    "offered load         {:.3} Erlangs ({calls} calls in {}, AHT {} s)",
                    perf.offered_load_erlangs, a.interval, s.aht
                );
                let _ = writeln!(out, "agents               {} ({how})", perf.agents);
                let _ = writeln!(
                    out,
                    "scheduled staff      {} (shrinkage {:.0}%)",
                    scheduled,
                    s.shrinkage * 100.0
                );
                let _ = writeln!(
                    out,
                    "service level        {:.2}% within {} s (target {:.0}%; definition: {})",
                    perf.service_level * 100.0,
                    s.target_secs,
                    s.target_sl * 100.0,
                    perf.sl_definition.as_str()
                );
                let _ = writeln!(
                    out,
                    "probability of wait  {:.2}%",
                    perf.probability_wait * 100.0
                );
                let _ = writeln!(
                    out,
                    "ASA                  {:.2} s (mean wait of answered calls)",
                    perf.asa_seconds
                );
                let _ = writeln!(out, "occupancy            {:.1}%", perf.occupancy * 100.0);
                match perf.abandon_probability {
                    Some(p) => {
                        let _ = writeln!(out, "abandonment          {:.2}%", p * 100.0);
                    }
                    None => {
                        let _ = writeln!(out, "abandonment          - (Erlang C: nobody hangs up)");
                    }
                }
                let _ = writeln!(
                    out,
                    "meets the target     {}",
                    if s.constraints.met_by(&perf) {
                        "yes"
                    } else {
                        "NO"
                    }
                );
            }
        }
        (None, Some(path)) => {
            let (rows, has_band) = read_calls_csv(path)?;
            let mut results = Vec::new();
            let solve_or_none = |calls: f64| -> Result<Option<(Performance, u32)>> {
                Ok(if calls == 0.0 {
                    None
                } else {
                    Some(solve(&s, calls, a.agents)?)
                })
            };
            for (date, start, calls, hi) in &rows {
                let r = solve_or_none(*calls)?;
                let upper = hi.map(solve_or_none).transpose()?.flatten();
                results.push((date, start, calls, r, *hi, upper));
            }
            let staff_of = |r: &Option<(Performance, u32)>| {
                r.as_ref().map_or((0, 0), |(p, sch)| (p.agents, *sch))
            };
            if a.json {
                let v: Vec<serde_json::Value> = results
                    .iter()
                    .map(|(d, st, c, r, hi, upper)| {
                        let mut obj = match r {
                            Some((perf, sch)) => to_json(perf, *sch, &s),
                            None => json!({ "agents": 0, "scheduled_staff": 0 }),
                        };
                        obj["date"] = json!(d);
                        obj["interval_start"] = json!(st);
                        obj["calls"] = json!(c);
                        if let Some(hi) = hi {
                            let (ag, sch) = staff_of(upper);
                            obj["hi80"] =
                                json!({ "calls": hi, "agents": ag, "scheduled_staff": sch });
                        }
                        obj
                    })
                    .collect();
                out = serde_json::to_string_pretty(&v)? + "\n";
            } else {
                out.push_str("date,interval_start,calls,agents,scheduled_staff,service_level,asa_seconds,occupancy,abandon_probability");
                out.push_str(if has_band {
                    ",calls_hi80,agents_hi80,scheduled_staff_hi80\n"
                } else {
                    "\n"
                });
                for (d, st, c, r, hi, upper) in results {
                    let band = match hi {
                        Some(hi) => {
                            let (ag, sch) = staff_of(&upper);
                            format!(",{hi},{ag},{sch}")
                        }
                        None => String::new(),
                    };
                    match r {
                        Some((p, sch)) => {
                            let _ = writeln!(
                                out,
                                "{d},{st},{c},{},{sch},{:.4},{:.2},{:.4},{}{band}",
                                p.agents,
                                p.service_level,
                                p.asa_seconds,
                                p.occupancy,
                                p.abandon_probability
                                    .map_or(String::new(), |x| format!("{x:.4}"))
                            );
                        }
                        None => {
                            let _ = writeln!(out, "{d},{st},{c},0,0,,,,{band}");
                        }
                    }
                }
            }
        }
        _ => bail!("give --calls N (one interval) or --calls-csv FILE (one row per interval)"),
    }
    Ok(out)
}

/// Most rows read from a CSV of calls per interval.
const MAX_ROWS: usize = 1_000_000;

/// The rows of a calls CSV: `date,interval_start,calls`, or the
/// forecast's own output with its bands (`...,lo80,hi80,lo95,hi95`), whose
/// `hi80` is staffed beside the forecast. Whether the band was there.
#[allow(clippy::type_complexity)]
fn read_calls_csv(
    path: &std::path::Path,
) -> Result<(Vec<(String, String, f64, Option<f64>)>, bool)> {
    let text = crate::csv::read_limited(path, crate::csv::MAX_BYTES)?;
    let mut rows = Vec::new();
    let mut width = 3;
    let mut band: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if i == 0 && line.starts_with("date") {
            let names = crate::csv::fields(line);
            width = names.len();
            band = names.iter().position(|n| *n == "hi80");
            if width != 3 && band.is_none() {
                bail!(
                    "{} line 1: expected date,interval_start,calls or the forecast's date,interval_start,calls,lo80,hi80,lo95,hi95",
                    path.display()
                );
            }
            continue;
        }
        let f = crate::csv::fields(line);
        if f.len() != width {
            bail!(
                "{} line {}: expected {}, got {} fields",
                path.display(),
                i + 1,
                if width == 3 {
                    "date,interval_start,calls".to_string()
                } else {
                    format!("{width} fields like the header")
                },
                f.len()
            );
        }
        let number = |k: usize, what: &str| -> Result<f64> {
            let x: f64 = f[k].parse().map_err(|_| {
                anyhow::anyhow!(
                    "{} line {}: {what} '{}' is not a number",
                    path.display(),
                    i + 1,
                    f[k]
                )
            })?;
            if !(x.is_finite() && x >= 0.0) {
                bail!(
                    "{} line {}: {what} must be zero or more, got {}",
                    path.display(),
                    i + 1,
                    f[k]
                );
            }
            Ok(x)
        };
        let calls = number(2, "calls")?;
        let hi = band.map(|k| number(k, "hi80")).transpose()?;
        rows.push((f[0].to_string(), f[1].to_string(), calls, hi));
        if rows.len() > MAX_ROWS {
            bail!("{}: more than {MAX_ROWS} rows", path.display());
        }
    }
    if rows.is_empty() {
        bail!("{}: no rows", path.display());
    }
    Ok((rows, band.is_some()))
}
