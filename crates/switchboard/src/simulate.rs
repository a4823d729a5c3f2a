//! `switchboard simulate`: the discrete-event simulator from the command
//! line — a quick single-queue mode, or a scenario file.

use crate::args;
use anyhow::{bail, Context, Result};
use model::DurationMs;
use serde_json::{json, Value};
use sim::{Scenario, SimResult};
use std::fmt::Write;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// A scenario file (TOML; see docs/scenarios.md). Without it, the quick
    /// single-queue mode runs from the options below.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Quick mode: arrival rate, e.g. 4.2/min.
    #[arg(long, allow_hyphen_values = true)]
    arrival_rate: Option<String>,
    /// Quick mode: mean handle time (exponential), e.g. 120s.
    #[arg(long, allow_hyphen_values = true)]
    aht: Option<String>,
    /// Quick mode: number of agents.
    #[arg(long)]
    agents: Option<u32>,
    /// Quick mode: mean patience (exponential); none: nobody hangs up.
    #[arg(long, allow_hyphen_values = true)]
    patience: Option<String>,
    /// Quick mode: service-level target, e.g. 80/20.
    #[arg(long, default_value = "80/20")]
    target: String,
    /// Hours to simulate (quick mode); with --scenario, overrides its
    /// duration.
    #[arg(long, allow_hyphen_values = true)]
    hours: Option<f64>,
    /// Seed of every random stream (overrides the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Independent replications (seeds seed, seed+1, ...), run on all cores;
    /// the report gives means and 95% confidence intervals.
    #[arg(long, default_value_t = 1)]
    replications: u32,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Also write the per-interval KPI report as CSV to this file (written
    /// whole or not at all; with replications, the first one's).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Also report the overall figures interval by interval.
    #[arg(long)]
    intervals: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn quick(a: &SimulateArgs) -> Result<Scenario> {
    let rate = args::rate_per_sec(
        "--arrival-rate",
        a.arrival_rate
            .as_deref()
            .context("--arrival-rate is needed without --scenario")?,
    )?;
    let aht = args::duration_secs(
        "--aht",
        a.aht
            .as_deref()
            .context("--aht is needed without --scenario")?,
    )?;
    let agents = a.agents.context("--agents is needed without --scenario")?;
    if agents == 0 || agents > 100_000 {
        bail!("--agents: must be from 1 to 100000, got {agents}");
    }
    let patience = a
        .patience
        .as_deref()
        .map(|p| args::duration_secs("--patience", p))
        .transpose()?;
    if patience.is_none() && agents as f64 <= rate * aht {
        bail!(
            "--agents: {agents} agents can never serve {:.2} Erlangs when nobody hangs up (the queue would grow without end); give more agents or --patience",
            rate * aht
        );
    }
    let target = args::target("--target", &a.target)?;
    let hours = a.hours.context("--hours is needed without --scenario")?;
    if !(hours.is_finite() && hours > 0.0 && hours <= 87_840.0) {
        bail!("--hours: must be above 0 and at most 87840 (ten years), got {hours}");
    }
    Ok(sim::quick_scenario(
        rate,
        aht,
        agents,
        patience,
        target,
        DurationMs((hours * 3_600_000.0).round() as i64),
        a.seed.unwrap_or(1),
    ))
}

/// Student t quantile (97.5%) for small degrees of freedom; 1.96 beyond.
fn t975(df: u32) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    if df == 0 {
        f64::NAN
    } else if df as usize <= T.len() {
        T[df as usize - 1]
    } else {
        1.96
    }
}

fn summary(r: &SimResult, wall: f64) -> Value {
    let c = &r.overall.counts;
    let f = &r.overall.figures;
    json!({
        "offered": c.offered,
        "answered": c.answered,
        "abandoned": c.abandoned,
        "answered_within_target": c.answered_within_target,
        "service_level": f.service_level,
        "service_level_of_answered": f.service_level_of_answered,
        "service_level_excluding_early_abandons": f.service_level_excluding_early_abandons,
        "abandonment_rate": f.abandonment_rate,
        "abandon_rate": if c.offered > 0 { Some(c.abandoned as f64 / c.offered as f64) } else { None },
        "asa_seconds": f.asa_seconds,
        "p95_answer_seconds": f.p95_answer_seconds,
        "occupancy": f.occupancy,
        "aht_seconds": f.aht_seconds,
        "callbacks_requested": c.callbacks_requested,
        "events_processed": r.events_processed,
        "calls": r.calls,
        "wall_seconds": wall,
        "calls_per_second": r.calls as f64 / wall.max(1e-9),
        "ivr": if r.ivr.started > 0 { json!({
            "started": r.ivr.started,
            "outcomes": r.ivr.outcomes,
            "mean_time_in_ivr_seconds": r.ivr.mean_time_in_ivr_seconds(),
            "self_service_completed": r.ivr.self_service_completed,
            "path": r.ivr.visits,
        }) } else { Value::Null },
        "expected_wait": {
            "samples": r.expected_wait.samples,
            "mean_abs_error_seconds": r.expected_wait.mean_abs_error_seconds(),
            "mean_announced_seconds": r.expected_wait.mean_announced_seconds(),
            "mean_actual_seconds": r.expected_wait.mean_actual_seconds(),
        },
        "events_per_second": r.events_processed as f64 / wall.max(1e-9),
    })
}

fn progress_bar(enabled: bool) -> impl FnMut(f64) {
    let mut last = -1i32;
    let started = Instant::now();
    move |f: f64| {
        if !enabled {
            return;
        }
        let pct = (f * 100.0) as i32;
        if pct != last && started.elapsed().as_millis() > 500 {
            last = pct;
            let bar: String = (0..40)
                .map(|i| if i * 100 / 40 < pct { '#' } else { '.' })
                .collect();
            eprint!("\r  simulating [{bar}] {pct:>3}%");
            if pct >= 100 {
                eprintln!();
            }
        }
    }
}

/// Writes a file whole: to a temporary name beside it, then renamed.
fn write_whole(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn csv_of(r: &SimResult) -> String {
    let mut out = String::from(
        "dimension,interval_start_ms,offered,answered,answered_within_target,abandoned,abandoned_short,service_level,abandonment_rate,asa_seconds,p95_answer_seconds,aht_seconds,occupancy,callbacks_requested,callbacks_made\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.6}"));
    for row in &r.rows() {
        let c = &row.counts;
        let f = &row.figures;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            row.dimension,
            row.interval_start
                .map_or("total".to_string(), |t| t.0.to_string()),
            c.offered,
            c.answered,
            c.answered_within_target,
            c.abandoned,
            c.abandoned_short,
            opt(f.service_level),
            opt(f.abandonment_rate),
            opt(f.asa_seconds),
            opt(f.p95_answer_seconds),
            opt(f.aht_seconds),
            opt(f.occupancy),
            c.callbacks_requested,
            c.callbacks_made
        );
    }
    out
}

/// One replication's result and its wall time.
type Replication = Result<(SimResult, f64), sim::SimError>;

pub fn run(a: SimulateArgs) -> Result<String> {
    let mut sc = match &a.scenario {
        Some(path) => {
            let hours = match a.hours {
                Some(h) if !(h.is_finite() && h > 0.0 && h <= 87_840.0) => {
                    bail!("--hours: must be above 0 and at most 87840 (ten years), got {h}")
                }
                Some(h) => Some(DurationMs((h * 3_600_000.0).round() as i64)),
                None => None,
            };
            crate::scenario_file::load(path, hours)?
        }
        None => quick(&a)?,
    };
    if let Some(seed) = a.seed {
        sc.seed = seed;
    }
    if a.scenario.is_some() && a.hours.is_some() {
        sc.warmup = sc.warmup.min(DurationMs(sc.duration.0 / 2));
    }
    if a.replications == 0 || a.replications > 1000 {
        bail!(
            "--replications: must be from 1 to 1000, got {}",
            a.replications
        );
    }
    sc.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let show = !a.quiet && std::io::stderr().is_terminal();
    let started = Instant::now();
    let results: Vec<(SimResult, f64)> = if a.replications == 1 {
        let t0 = Instant::now();
        let r = sim::run(&sc, &mut progress_bar(show))?;
        vec![(r, t0.elapsed().as_secs_f64())]
    } else {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(a.replications as usize);
        let seeds: Vec<u64> = (0..a.replications as u64)
            .map(|i| sc.seed.wrapping_add(i))
            .collect();
        let chunks: Vec<Vec<u64>> = (0..threads)
            .map(|t| seeds.iter().copied().skip(t).step_by(threads).collect())
            .collect();
        let mut all: Vec<(u64, Replication)> = std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    let sc = sc.clone();
                    s.spawn(move || {
                        chunk
                            .into_iter()
                            .map(|seed| {
                                let mut one = sc.clone();
                                one.seed = seed;
                                let t0 = Instant::now();
                                (
                                    seed,
                                    sim::run(&one, &mut |_| {})
                                        .map(|r| (r, t0.elapsed().as_secs_f64())),
                                )
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("replication thread"))
                .collect()
        });
        all.sort_by_key(|(seed, _)| *seed);
        all.into_iter()
            .map(|(_, r)| r)
            .collect::<Result<Vec<_>, _>>()?
    };
    let wall = started.elapsed().as_secs_f64();
    if let Some(path) = &a.csv {
        write_whole(path, &csv_of(&results[0].0))?;
    }
    let mut out = String::new();
    if results.len() == 1 {
        let (r, w) = &results[0];
        let mut s = summary(r, *w);
        let by = breakdown(&sc, r);
        let per_interval = if a.intervals {
            intervals(r)
        } else {
            Vec::new()
        };
        if a.json {
            if a.intervals {
                s["intervals"] = Value::Array(per_interval.clone());
            }
            if !by.is_empty() {
                s["breakdown"] = Value::Array(
                    by.iter()
                        .map(|(name, v)| json!({ "name": name, "figures": v }))
                        .collect(),
                );
            }
            out = serde_json::to_string_pretty(&s)? + "\n";
        } else {
            let _ = writeln!(out, "scenario             {} (seed {})", sc.name, sc.seed);
            text_summary(&mut out, &s);
            if a.intervals {
                interval_table(&mut out, &per_interval);
            }
            if !by.is_empty() {
                let _ = writeln!(
                    out,
                    "\n{:<32} {:>8} {:>8} {:>9} {:>9} {:>9} {:>10}",
                    "", "offered", "answered", "SL", "abandon", "ASA", "p95 wait"
                );
                for (name, v) in &by {
                    let pct = |k: &str| {
                        v[k].as_f64()
                            .map_or("-".into(), |x| format!("{:.1}%", x * 100.0))
                    };
                    let secs = |k: &str| v[k].as_f64().map_or("-".into(), |x| format!("{x:.1}s"));
                    let _ = writeln!(
                        out,
                        "{:<32} {:>8} {:>8} {:>9} {:>9} {:>9} {:>10}",
                        name,
                        v["offered"].as_u64().unwrap_or(0),
                        v["answered"].as_u64().unwrap_or(0),
                        pct("service_level"),
                        pct("abandonment_rate"),
                        secs("asa_seconds"),
                        secs("p95_answer_seconds")
                    );
                }
            }
        }
    } else {
        // Mean and 95% CI of each figure over the replications.
        let keys = [
            "service_level",
            "service_level_excluding_early_abandons",
            "abandon_rate",
            "abandonment_rate",
            "asa_seconds",
            "p95_answer_seconds",
            "occupancy",
            "aht_seconds",
            "offered",
            "answered",
            "abandoned",
            "answered_within_target",
            "events_processed",
            "calls",
        ];
        let n = results.len() as f64;
        let mut obj = serde_json::Map::new();
        for k in keys {
            let v: Vec<f64> = results
                .iter()
                .filter_map(|(r, w)| summary(r, *w)[k].as_f64())
                .collect();
            if v.len() < 2 {
                continue;
            }
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let sd =
                (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt();
            let half = t975(v.len() as u32 - 1) * sd / (v.len() as f64).sqrt();
            obj.insert(
                k.to_string(),
                json!({ "mean": m, "ci95_low": m - half, "ci95_high": m + half }),
            );
        }
        obj.insert("replications".into(), json!(n));
        obj.insert("wall_seconds".into(), json!(wall));
        let v = Value::Object(obj);
        if a.json {
            out = serde_json::to_string_pretty(&v)? + "\n";
        } else {
            let _ = writeln!(
                out,
                "scenario {} — {} replications (seeds {}..), means with 95% confidence intervals",
                sc.name, n, sc.seed
            );
            for (k, x) in v.as_object().expect("object") {
                if let Some(m) = x.get("mean") {
                    let _ = writeln!(
                        out,
                        "  {k:<22} {:>12.4}  [{:.4}, {:.4}]",
                        m.as_f64().unwrap_or(f64::NAN),
                        x["ci95_low"].as_f64().unwrap_or(f64::NAN),
                        x["ci95_high"].as_f64().unwrap_or(f64::NAN)
                    );
                }
            }
            let _ = writeln!(out, "  wall time {wall:.2} s");
        }
    }
    Ok(out)
}

/// The overall figures per interval; `start` as "day D hh:mm" from the
/// start of the run.
fn intervals(r: &SimResult) -> Vec<Value> {
    r.rows()
        .iter()
        .filter(|row| row.dimension == kpi::Dimension::Overall)
        .filter_map(|row| {
            let t = row.interval_start?.0;
            let (c, f) = (&row.counts, &row.figures);
            let mins = t / 60_000;
            Some(json!({
                "start": format!("day {} {:02}:{:02}", mins / 1440 + 1, (mins % 1440) / 60, mins % 60),
                "start_ms": t,
                "offered": c.offered, "answered": c.answered, "abandoned": c.abandoned,
                "service_level": f.service_level, "abandonment_rate": f.abandonment_rate,
                "asa_seconds": f.asa_seconds, "p95_answer_seconds": f.p95_answer_seconds,
                "occupancy": f.occupancy, "aht_seconds": f.aht_seconds,
            }))
        })
        .collect()
}

fn interval_table(out: &mut String, rows: &[Value]) {
    let _ = writeln!(
        out,
        "\n{:<16} {:>8} {:>8} {:>9} {:>9} {:>9} {:>10}",
        "interval", "offered", "answered", "SL", "abandon", "ASA", "occupancy"
    );
    for v in rows {
        let pct = |k: &str| {
            v[k].as_f64()
                .map_or("-".into(), |x| format!("{:.1}%", x * 100.0))
        };
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>8} {:>9} {:>9} {:>9} {:>10}",
            v["start"].as_str().unwrap_or(""),
            v["offered"].as_u64().unwrap_or(0),
            v["answered"].as_u64().unwrap_or(0),
            pct("service_level"),
            pct("abandonment_rate"),
            v["asa_seconds"]
                .as_f64()
                .map_or("-".into(), |x| format!("{x:.1}s")),
            pct("occupancy")
        );
    }
}

/// Whole-run figures per queue and channel, when there is more than one.
fn breakdown(sc: &Scenario, r: &SimResult) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let channels: std::collections::BTreeSet<_> = sc.streams.iter().map(|s| s.channel).collect();
    if sc.routing.queues.len() < 2 && channels.len() < 2 {
        return out;
    }
    for row in r.rows().iter().filter(|row| row.interval_start.is_none()) {
        let name = match &row.dimension {
            kpi::Dimension::Queue(q) => format!(
                "queue {}",
                sc.routing
                    .queues
                    .iter()
                    .find(|d| d.id == *q)
                    .map_or("?", |d| d.name.as_str())
            ),
            kpi::Dimension::Channel(c) => format!("channel {c}"),
            _ => continue,
        };
        let (c, f) = (&row.counts, &row.figures);
        out.push((
            name,
            json!({
                "offered": c.offered, "answered": c.answered, "abandoned": c.abandoned,
                "service_level": f.service_level, "abandonment_rate": f.abandonment_rate,
                "asa_seconds": f.asa_seconds, "p95_answer_seconds": f.p95_answer_seconds,
                "aht_seconds": f.aht_seconds, "callbacks_requested": c.callbacks_requested,
                "transfers_warm": c.transfers_warm, "clinical": c.clinical,
            }),
        ));
    }
    out
}

fn secs_of(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.1} s"))
}

fn text_summary(out: &mut String, s: &Value) {
    let pct = |k: &str| {
        s[k].as_f64()
            .map_or("-".into(), |v| format!("{:.2}%", v * 100.0))
    };
    let secs = |k: &str| s[k].as_f64().map_or("-".into(), |v| format!("{v:.2} s"));
    let _ = writeln!(out, "offered              {}", s["offered"]);
    let _ = writeln!(
        out,
        "answered             {} ({} within target)",
        s["answered"], s["answered_within_target"]
    );
    let _ = writeln!(
        out,
        "abandoned            {} ({})",
        s["abandoned"],
        pct("abandon_rate")
    );
    let _ = writeln!(
        out,
        "service level        {} (answered within target / offered)",
        pct("service_level")
    );
    let _ = writeln!(out, "ASA                  {}", secs("asa_seconds"));
    let _ = writeln!(out, "95th pct answer      {}", secs("p95_answer_seconds"));
    let _ = writeln!(out, "occupancy            {}", pct("occupancy"));
    let _ = writeln!(out, "AHT                  {}", secs("aht_seconds"));
    if let Some(ivr) = s["ivr"].as_object() {
        let outcomes: Vec<String> = ivr["outcomes"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| format!("{k} {v}")).collect())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "call flows           {} callers; {}; mean time in the IVR {}; {} self service",
            ivr["started"],
            outcomes.join(", "),
            secs_of(&ivr["mean_time_in_ivr_seconds"]),
            ivr["self_service_completed"]
        );
    }
    if s["expected_wait"]["samples"].as_u64().unwrap_or(0) > 0 {
        let ew = &s["expected_wait"];
        let _ = writeln!(
            out,
            "expected wait        announced {} vs actual {} on average, mean absolute error {} ({} callers who waited and were answered)",
            secs_of(&ew["mean_announced_seconds"]),
            secs_of(&ew["mean_actual_seconds"]),
            secs_of(&ew["mean_abs_error_seconds"]),
            ew["samples"]
        );
    }
    let _ = writeln!(
        out,
        "run                  {} calls, {} events in {:.2} s wall ({:.0} calls/s)",
        s["calls"],
        s["events_processed"],
        s["wall_seconds"].as_f64().unwrap_or(0.0),
        s["calls_per_second"].as_f64().unwrap_or(0.0)
    );
}
