//! `switchboard whatif`: the simulator on a forecast and a rota, with the
//! changes a manager asks about (more demand, callbacks taken, a site off
//! the air).

use crate::args;
use anyhow::{bail, Result};
use jiff::civil::Date;
use model::{AgentId, Channel, DurationMs, QueueId, SiteId, SkillId, TeamId, Timestamp};
use routing::{
    AgentDef, Capacity, Config, OverflowAction, OverflowStep, QueueDef, ServiceTarget, SiteDef,
    SkillDef, SkillReq, TeamDef,
};
use serde_json::json;
use sim::{Arrivals, Break, Dist, Scenario, Shift, Stream};
use std::collections::BTreeMap;
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
    // Forecast → a rate per interval from its first interval.
    let rows = crate::csv::rows(&a.forecast)?;
    let mut start: Option<(Date, i64)> = None;
    let mut step = 0i64;
    let mut rates = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if i == 0 && r.first().is_some_and(|h| h == "date") {
            continue;
        }
        let bad = |p: String| anyhow::anyhow!("{} line {}: {p}", a.forecast.display(), i + 1);
        if r.len() < 3 {
            return Err(bad("expected date,interval_start,calls".into()));
        }
        let d: Date = r[0]
            .parse()
            .map_err(|_| bad(format!("'{}' is not a date", r[0])))?;
        let m =
            crate::csv::minutes(&r[1]).ok_or_else(|| bad(format!("'{}' is not a time", r[1])))?;
        let calls: f64 = r[2]
            .parse()
            .map_err(|_| bad(format!("'{}' is not a number", r[2])))?;
        if !(calls.is_finite() && calls >= 0.0) {
            return Err(bad("calls must be zero or more".into()));
        }
        match start {
            None => start = Some((d, m)),
            Some(s0) => {
                let at = (d - s0.0).get_days() as i64 * 1440 + m - s0.1;
                if step == 0 {
                    step = at;
                }
                if step <= 0 || at != step * rates.len() as i64 {
                    return Err(bad("intervals must follow one another with no gaps".into()));
                }
            }
        }
        rates.push(calls);
    }
    let Some(s0) = start else {
        bail!("{}: no rows", a.forecast.display())
    };
    if rates.len() < 2 || 1440 % step != 0 {
        bail!(
            "{}: needs at least two intervals a whole fraction of a day apart",
            a.forecast.display()
        );
    }
    let per_hour: Vec<f64> = rates
        .iter()
        .map(|c| c * demand * 60.0 / step as f64)
        .collect();
    let duration = DurationMs(rates.len() as i64 * step * 60_000);
    // Rota → agents and shifts.
    let mut agents: BTreeMap<String, AgentId> = BTreeMap::new();
    let mut shifts = Vec::new();
    let mut lost = 0;
    for (i, r) in crate::csv::rows(&a.rota)?.iter().enumerate() {
        if i == 0 && r.first().is_some_and(|h| h == "who") {
            continue;
        }
        let bad = |p: String| anyhow::anyhow!("{} line {}: {p}", a.rota.display(), i + 1);
        if !(r.len() == 4 || r.len() == 6 || r.len() == 7) {
            return Err(bad(
                "expected who,date,start,end[,break_start,break_end[,site]]".into(),
            ));
        }
        if let (Some(off), Some(site)) = (&a.site_off_air, r.get(6)) {
            if off == site {
                lost += 1;
                continue;
            }
        }
        let d: Date = r[1]
            .parse()
            .map_err(|_| bad(format!("'{}' is not a date", r[1])))?;
        let base = (d - s0.0).get_days() as i64 * 1440 - s0.1;
        let (s, mut e) = (
            crate::csv::minutes(&r[2]).ok_or_else(|| bad("bad start".into()))?,
            crate::csv::minutes(&r[3]).ok_or_else(|| bad("bad end".into()))?,
        );
        if e <= s {
            e += 1440;
        }
        let n = agents.len() as u32 + 1;
        let id = *agents.entry(r[0].clone()).or_insert(AgentId(n));
        let mut breaks = Vec::new();
        if r.len() >= 6 && !r[4].is_empty() {
            let mut b0 = crate::csv::minutes(&r[4]).ok_or_else(|| bad("bad break start".into()))?;
            let mut b1 = crate::csv::minutes(&r[5]).ok_or_else(|| bad("bad break end".into()))?;
            if b0 < s {
                b0 += 1440;
            }
            if b1 <= b0 {
                b1 += 1440;
            }
            breaks.push(Break {
                start: Timestamp((base + b0) * 60_000),
                length: DurationMs((b1 - b0) * 60_000),
            });
        }
        let (st, en) = ((base + s) * 60_000, (base + e) * 60_000);
        if en <= 0 || st >= duration.0 {
            continue;
        }
        shifts.push(Shift {
            agent: id,
            start: Timestamp(st.max(0)),
            end: Timestamp(en),
            breaks: breaks
                .into_iter()
                .filter(|b| b.start.0 >= st.max(0))
                .collect(),
        });
    }
    if agents.is_empty() {
        bail!("{}: no shifts in the forecast's period", a.rota.display());
    }
    let mut q = QueueDef::new(
        QueueId(1),
        "Calls",
        vec![SkillReq {
            skill: SkillId(1),
            min_level: 1,
        }],
    );
    q.target = ServiceTarget {
        within: DurationMs((target.1 * 1000.0) as i64),
        percent: (target.0 * 100.0).round() as u8,
    };
    q.max_waiting = 1_000_000;
    if accept > 0.0 {
        q.overflow = vec![OverflowStep {
            after: DurationMs::from_secs(120),
            action: OverflowAction::OfferCallback,
        }];
    }
    let sc = Scenario {
        name: format!(
            "what-if: demand {}, callbacks {:.0}%{}",
            a.demand,
            accept * 100.0,
            a.site_off_air
                .as_ref()
                .map_or(String::new(), |s| format!(", {s} off the air"))
        ),
        seed: a.seed,
        duration,
        warmup: DurationMs(0),
        interval: DurationMs(step * 60_000),
        routing: Config {
            limits: routing::Limits {
                max_live_contacts: 10_000_000,
                ..Default::default()
            },
            skills: vec![SkillDef {
                id: SkillId(1),
                name: "calls".into(),
            }],
            teams: vec![TeamDef {
                id: TeamId(1),
                name: "team".into(),
            }],
            sites: vec![SiteDef {
                id: SiteId(1),
                name: "site".into(),
            }],
            queues: vec![q],
            agents: agents
                .iter()
                .map(|(name, &id)| AgentDef {
                    id,
                    name: name.clone(),
                    team: TeamId(1),
                    site: SiteId(1),
                    skills: vec![(SkillId(1), 1)],
                    capacity: Capacity::VOICE_ONLY,
                    auto_answer: true,
                })
                .collect(),
        },
        streams: vec![Stream {
            name: "forecast".into(),
            queue: QueueId(1),
            channel: Channel::Voice,
            priority: 0,
            arrivals: Arrivals::Profile {
                interval: DurationMs(step * 60_000),
                per_hour,
            },
            handle: Dist::Exponential { mean: aht },
            patience: Some(Dist::Exponential { mean: patience }),
            callback_acceptance: accept,
            retrial: None,
            transfer: None,
            answer_delay: Dist::ZERO,
            flow: None,
            choices: BTreeMap::new(),
        }],
        rota: shifts,
        clinical_queues: Vec::new(),
        per_agent_figures: false,
        measure_expected_wait: false,
        flows: Vec::new(),
    };
    let r = sim::run(&sc, &mut |_| {})?;
    let mut out = String::new();
    let o = &r.overall;
    let by_interval: Vec<_> = r
        .rows()
        .into_iter()
        .filter(|row| row.dimension == kpi::Dimension::Overall && row.interval_start.is_some())
        .map(|row| {
            let m = s0.1 + row.interval_start.expect("interval").0 / 60_000;
            let d = s0.0.checked_add(jiff::Span::new().days(m.div_euclid(1440))).expect("date");
            let mm = m.rem_euclid(1440);
            json!({
                "date": d.to_string(), "interval_start": format!("{:02}:{:02}", mm / 60, mm % 60),
                "offered": row.counts.offered, "service_level": row.figures.service_level,
                "abandonment_rate": row.figures.abandonment_rate, "callbacks_requested": row.counts.callbacks_requested,
                "asa_seconds": row.figures.asa_seconds,
            })
        })
        .collect();
    if a.json {
        out = serde_json::to_string_pretty(&json!({
            "scenario": sc.name, "agents": agents.len(), "shifts_lost": lost,
            "offered": o.counts.offered, "service_level": o.figures.service_level,
            "abandonment_rate": o.figures.abandonment_rate, "asa_seconds": o.figures.asa_seconds,
            "callbacks_requested": o.counts.callbacks_requested, "callbacks_within_target": o.figures.callbacks_within_target,
            "intervals": by_interval,
        }))? + "\n";
    } else {
        let pct = |v: Option<f64>| v.map_or("-".into(), |x| format!("{:.1}%", x * 100.0));
        let _ = writeln!(
            out,
            "{} — {} agents on the rota{}",
            sc.name,
            agents.len(),
            if lost > 0 {
                format!(", {lost} shifts lost")
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "offered {}, service level {}, abandonment {}, ASA {}, callbacks requested {} ({} within 10 min)",
            o.counts.offered,
            pct(o.figures.service_level),
            pct(o.figures.abandonment_rate),
            o.figures.asa_seconds.map_or("-".into(), |x| format!("{x:.1} s")),
            o.counts.callbacks_requested,
            pct(o.figures.callbacks_within_target)
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
