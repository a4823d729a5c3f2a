//! Planning, from a forecast to the floor: the staff each interval needs
//! (Erlang A with the service's targets, shrinkage and maximum occupancy),
//! a rota's coverage of that, and what-if runs of the simulator on the
//! forecast and the rota (more demand, callbacks taken, a site off the
//! air). Pure: text in, figures out; the CLI (`switchboard staff`, `rota`,
//! `whatif`) and the server's planning API share it.

use jiff::civil::Date;
use model::{AgentId, Channel, DurationMs, QueueId, SiteId, SkillId, TeamId, Timestamp};
use routing::{
    AgentDef, Capacity, Config, OverflowAction, OverflowStep, QueueDef, ServiceTarget, SiteDef,
    SkillDef, SkillReq, TeamDef,
};
use serde::Serialize;
use sim::{Arrivals, Break, Dist, Scenario, Shift as SimShift, Stream};
use std::collections::BTreeMap;
use wfm::rota::PlannedShift;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// A line of an input, counted from 1.
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: String },
    #[error("{0}")]
    Invalid(String),
}

fn line(line: usize, problem: impl Into<String>) -> PlanError {
    PlanError::Line {
        line,
        problem: problem.into(),
    }
}

/// `HH:MM` as minutes after midnight.
pub fn minutes(s: &str) -> Option<i64> {
    let t: jiff::civil::Time = format!("{s}:00").parse().ok()?;
    Some(t.hour() as i64 * 60 + t.minute() as i64)
}

/// The non-blank lines' fields, trimmed of spaces and quotes, with their
/// line numbers.
pub fn csv_rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            (
                i + 1,
                l.split(',').map(|x| x.trim().trim_matches('"')).collect(),
            )
        })
}

/// Most rows a planning input may have.
pub const MAX_ROWS: usize = 200_000;

/// A forecast (`date,interval_start,calls`): where it starts, its
/// interval in minutes and the calls per interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub start: Date,
    pub start_minute: i64,
    pub step_minutes: i64,
    pub calls: Vec<f64>,
}

impl Profile {
    /// The date and `HH:MM` of interval `i`.
    pub fn when(&self, i: usize) -> (Date, String) {
        let m = self.start_minute + i as i64 * self.step_minutes;
        let d = self
            .start
            .checked_add(jiff::Span::new().days(m.div_euclid(1440)))
            .unwrap_or(self.start);
        let mm = m.rem_euclid(1440);
        (d, format!("{:02}:{:02}", mm / 60, mm % 60))
    }
}

/// Reads `date,interval_start,calls` rows (a header line is skipped) that
/// follow one another with no gaps.
pub fn parse_profile(text: &str) -> Result<Profile, PlanError> {
    let mut start: Option<(Date, i64)> = None;
    let mut step = 0i64;
    let mut calls = Vec::new();
    for (n, r) in csv_rows(text) {
        if start.is_none() && calls.is_empty() && r.first() == Some(&"date") {
            continue;
        }
        if calls.len() >= MAX_ROWS {
            return Err(line(n, format!("more than {MAX_ROWS} rows")));
        }
        if r.len() < 3 {
            return Err(line(n, "expected date,interval_start,calls"));
        }
        let d: Date = r[0]
            .parse()
            .map_err(|_| line(n, format!("'{}' is not a date", r[0])))?;
        let m = minutes(r[1]).ok_or_else(|| line(n, format!("'{}' is not a time", r[1])))?;
        let c: f64 = r[2]
            .parse()
            .map_err(|_| line(n, format!("'{}' is not a number", r[2])))?;
        if !(c.is_finite() && c >= 0.0) {
            return Err(line(n, "calls must be zero or more"));
        }
        match start {
            None => start = Some((d, m)),
            Some(s0) => {
                let at = (d - s0.0).get_days() as i64 * 1440 + m - s0.1;
                if step == 0 {
                    step = at;
                }
                if step <= 0 || at != step * calls.len() as i64 {
                    return Err(line(n, "intervals must follow one another with no gaps"));
                }
            }
        }
        calls.push(c);
    }
    let Some((start, start_minute)) = start else {
        return Err(PlanError::Invalid("no rows".into()));
    };
    if calls.len() < 2 || 1440 % step != 0 {
        return Err(PlanError::Invalid(
            "needs at least two intervals a whole fraction of a day apart".into(),
        ));
    }
    Ok(Profile {
        start,
        start_minute,
        step_minutes: step,
        calls,
    })
}

/// One planned shift as the rota gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub who: String,
    pub date: Date,
    pub start: i64,
    /// After `start` (a night shift's end is on the next day).
    pub end: i64,
    pub break_: Option<(i64, i64)>,
    pub site: Option<String>,
}

/// Reads `who,date,start,end[,break_start,break_end[,site]]` rows (a
/// header line is skipped).
pub fn parse_rota(text: &str) -> Result<Vec<Shift>, PlanError> {
    let mut out = Vec::new();
    for (n, r) in csv_rows(text) {
        if out.is_empty() && r.first() == Some(&"who") {
            continue;
        }
        if out.len() >= MAX_ROWS {
            return Err(line(n, format!("more than {MAX_ROWS} shifts")));
        }
        if !(r.len() == 4 || r.len() == 6 || r.len() == 7) {
            return Err(line(
                n,
                "expected who,date,start,end[,break_start,break_end[,site]]",
            ));
        }
        if r[0].is_empty() || r[0].len() > 100 {
            return Err(line(n, "who: 1 to 100 characters"));
        }
        let date: Date = r[1]
            .parse()
            .map_err(|_| line(n, format!("'{}' is not a date", r[1])))?;
        let t = |s: &str, what: &str| {
            minutes(s).ok_or_else(|| line(n, format!("{what} '{s}' is not a time like 08:30")))
        };
        let start = t(r[2], "start")?;
        let mut end = t(r[3], "end")?;
        if end <= start {
            end += 1440;
        }
        let break_ = if r.len() >= 6 && !r[4].is_empty() {
            let mut b0 = t(r[4], "break start")?;
            let mut b1 = t(r[5], "break end")?;
            if b0 < start {
                b0 += 1440;
            }
            if b1 <= b0 {
                b1 += 1440;
            }
            if b0 < start || b1 > end {
                return Err(line(n, "the break is outside the shift"));
            }
            Some((b0, b1))
        } else {
            None
        };
        out.push(Shift {
            who: r[0].to_string(),
            date,
            start,
            end,
            break_,
            site: r.get(6).filter(|s| !s.is_empty()).map(|s| s.to_string()),
        });
    }
    Ok(out)
}

/// The shifts in the profile's interval slots (for coverage).
pub fn in_slots(p: &Profile, shifts: &[Shift]) -> Vec<PlannedShift> {
    let slot = |date: Date, m: i64| {
        let at = (date - p.start).get_days() as i64 * 1440 + m - p.start_minute;
        at.div_euclid(p.step_minutes).max(0) as usize
    };
    shifts
        .iter()
        .map(|s| PlannedShift {
            who: s.who.clone(),
            start: slot(s.date, s.start),
            end: slot(s.date, s.end),
            breaks: s
                .break_
                .map(|(b0, b1)| vec![(slot(s.date, b0), slot(s.date, b1))])
                .unwrap_or_default(),
        })
        .collect()
}

/// What a service asks of its staffing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    pub aht_seconds: f64,
    /// Mean patience (Erlang A); none: Erlang C.
    pub patience_seconds: Option<f64>,
    /// Service level as a fraction (0.8) within `target_seconds`.
    pub target: f64,
    pub target_seconds: f64,
    pub shrinkage: f64,
    pub max_occupancy: Option<f64>,
}

impl Service {
    pub fn validate(&self) -> Result<(), PlanError> {
        let bad = |m: &str| Err(PlanError::Invalid(m.into()));
        if !(self.aht_seconds > 0.0 && self.aht_seconds <= 86_400.0) {
            return bad("aht_seconds: above 0 and at most a day");
        }
        if let Some(p) = self.patience_seconds {
            if !(p > 0.0 && p <= 86_400.0) {
                return bad("patience_seconds: above 0 and at most a day");
            }
        }
        if !(self.target > 0.0 && self.target < 1.0) {
            return bad("target: a fraction between 0 and 1, e.g. 0.8");
        }
        if !(self.target_seconds >= 0.0 && self.target_seconds <= 86_400.0) {
            return bad("target_seconds: 0 to a day");
        }
        if !(0.0..0.95).contains(&self.shrinkage) {
            return bad("shrinkage: 0 to 0.95");
        }
        if let Some(o) = self.max_occupancy {
            if !(o > 0.0 && o <= 1.0) {
                return bad("max_occupancy: above 0 and at most 1");
            }
        }
        Ok(())
    }
}

/// Staff each interval needs: agents on the phones, and people to
/// schedule once shrinkage is allowed for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Need {
    pub agents: u32,
    pub scheduled: u32,
    pub service_level: f64,
}

/// Staff required per interval; `aht` (seconds per interval, e.g. a
/// handle-time forecast) replaces the service's single handle time where
/// given.
pub fn requirement(p: &Profile, s: &Service, aht: Option<&[f64]>) -> Result<Vec<Need>, PlanError> {
    s.validate()?;
    if let Some(a) = aht {
        if a.len() != p.calls.len() || a.iter().any(|x| !(*x > 0.0 && *x <= 86_400.0)) {
            return Err(PlanError::Invalid(
                "aht: one handle time per interval, above 0 and at most a day".into(),
            ));
        }
    }
    let secs = p.step_minutes as f64 * 60.0;
    let c = wfm::Constraints {
        service_level: Some(s.target),
        max_occupancy: s.max_occupancy,
        max_abandon: None,
        max_asa_seconds: None,
    };
    p.calls
        .iter()
        .enumerate()
        .map(|(i, &calls)| {
            if calls <= 0.0 {
                return Ok(Need {
                    agents: 0,
                    scheduled: 0,
                    service_level: 1.0,
                });
            }
            let params = wfm::Params {
                arrival_rate: calls / secs,
                aht: aht.map_or(s.aht_seconds, |a| a[i]),
                patience: s.patience_seconds,
                target_seconds: s.target_seconds,
                sl_definition: wfm::SlDefinition::All,
            };
            let perf =
                wfm::required_agents(&params, &c).map_err(|e| PlanError::Invalid(e.to_string()))?;
            let scheduled = wfm::scheduled_staff(perf.agents, s.shrinkage)
                .map_err(|e| PlanError::Invalid(e.to_string()))?;
            Ok(Need {
                agents: perf.agents,
                scheduled,
                service_level: perf.service_level,
            })
        })
        .collect()
}

/// The change a manager asks about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    /// 1.3 = 30% more calls.
    pub demand_factor: f64,
    /// Share of callers who take a callback when offered (after 2 minutes).
    pub callback_acceptance: f64,
    /// A site whose shifts are lost.
    pub site_off_air: Option<String>,
    pub seed: u64,
}

/// Predicted figures of one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Predicted {
    pub offered: u64,
    pub service_level: Option<f64>,
    pub abandonment_rate: Option<f64>,
    pub asa_seconds: Option<f64>,
    pub callbacks_requested: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub agents: usize,
    pub shifts_lost: usize,
    pub overall: Predicted,
    pub callbacks_within_target: Option<f64>,
    /// One per profile interval, in order.
    pub intervals: Vec<Predicted>,
}

fn predicted(row: &kpi::Row) -> Predicted {
    Predicted {
        offered: row.counts.offered,
        service_level: row.figures.service_level,
        abandonment_rate: row.figures.abandonment_rate,
        asa_seconds: row.figures.asa_seconds,
        callbacks_requested: row.counts.callbacks_requested,
    }
}

/// Runs the simulator (the production routing engine) on the profile and
/// the rota, changed as `w` says.
pub fn simulate(
    p: &Profile,
    shifts: &[Shift],
    s: &Service,
    w: &WhatIf,
) -> Result<Outcome, PlanError> {
    s.validate()?;
    if !(w.demand_factor > 0.0 && w.demand_factor <= 11.0) {
        return Err(PlanError::Invalid(
            "demand: above -100% and at most +1000%".into(),
        ));
    }
    if !(0.0..=1.0).contains(&w.callback_acceptance) {
        return Err(PlanError::Invalid(
            "callback_acceptance: a fraction from 0 to 1".into(),
        ));
    }
    let step = p.step_minutes;
    let per_hour: Vec<f64> = p
        .calls
        .iter()
        .map(|c| c * w.demand_factor * 60.0 / step as f64)
        .collect();
    let duration = DurationMs(p.calls.len() as i64 * step * 60_000);
    let mut agents: BTreeMap<String, AgentId> = BTreeMap::new();
    let mut rota = Vec::new();
    let mut lost = 0;
    for sh in shifts {
        if w.site_off_air.is_some() && sh.site == w.site_off_air {
            lost += 1;
            continue;
        }
        let base = (sh.date - p.start).get_days() as i64 * 1440 - p.start_minute;
        let (st, en) = ((base + sh.start) * 60_000, (base + sh.end) * 60_000);
        if en <= 0 || st >= duration.0 {
            continue;
        }
        let n = agents.len() as u32 + 1;
        let id = *agents.entry(sh.who.clone()).or_insert(AgentId(n));
        let breaks = sh
            .break_
            .map(|(b0, b1)| Break {
                start: Timestamp((base + b0) * 60_000),
                length: DurationMs((b1 - b0) * 60_000),
            })
            .into_iter()
            .filter(|b| b.start.0 >= st.max(0))
            .collect();
        rota.push(SimShift {
            agent: id,
            start: Timestamp(st.max(0)),
            end: Timestamp(en),
            breaks,
        });
    }
    if agents.is_empty() {
        return Err(PlanError::Invalid(
            "rota: no shifts in the forecast's period".into(),
        ));
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
        within: DurationMs((s.target_seconds * 1000.0) as i64),
        percent: (s.target * 100.0).round() as u8,
    };
    q.max_waiting = 1_000_000;
    if w.callback_acceptance > 0.0 {
        q.overflow = vec![OverflowStep {
            after: DurationMs::from_secs(120),
            action: OverflowAction::OfferCallback,
        }];
    }
    let sc = Scenario {
        name: format!(
            "what-if: demand {:+.0}%, callbacks {:.0}%{}",
            (w.demand_factor - 1.0) * 100.0,
            w.callback_acceptance * 100.0,
            w.site_off_air
                .as_ref()
                .map_or(String::new(), |s| format!(", {s} off the air"))
        ),
        seed: w.seed,
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
            handle: Dist::Exponential {
                mean: s.aht_seconds,
            },
            patience: s.patience_seconds.map(|mean| Dist::Exponential { mean }),
            callback_acceptance: w.callback_acceptance,
            retrial: None,
            transfer: None,
            answer_delay: Dist::ZERO,
            flow: None,
            choices: BTreeMap::new(),
        }],
        rota,
        clinical_queues: Vec::new(),
        per_agent_figures: false,
        measure_expected_wait: false,
        flows: Vec::new(),
    };
    let r = sim::run(&sc, &mut |_| {}).map_err(|e| PlanError::Invalid(e.to_string()))?;
    let mut intervals: Vec<Predicted> = vec![
        Predicted {
            offered: 0,
            service_level: None,
            abandonment_rate: None,
            asa_seconds: None,
            callbacks_requested: 0,
        };
        p.calls.len()
    ];
    for row in r.rows() {
        if row.dimension != kpi::Dimension::Overall {
            continue;
        }
        if let Some(t) = row.interval_start {
            let i = (t.0 / (step * 60_000)) as usize;
            if i < intervals.len() {
                intervals[i] = predicted(&row);
            }
        }
    }
    Ok(Outcome {
        scenario: sc.name,
        agents: agents.len(),
        shifts_lost: lost,
        overall: predicted(&r.overall),
        callbacks_within_target: r.overall.figures.callbacks_within_target,
        intervals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(calls: f64) -> String {
        let mut s = String::from("date,interval_start,calls\n");
        for h in 8..18 {
            for m in [0, 30] {
                s.push_str(&format!("2026-11-23,{h:02}:{m:02},{calls}\n"));
            }
        }
        s
    }

    #[test]
    fn inputs_are_checked_line_by_line() {
        assert_eq!(
            parse_profile("date,interval_start,calls\n2026-11-23,08:00,5\n2026-11-23,09:00,5\n2026-11-23,09:30,5\n"),
            Err(PlanError::Line { line: 4, problem: "intervals must follow one another with no gaps".into() })
        );
        assert!(matches!(
            parse_profile("2026-11-23,08:00,-1\n"),
            Err(PlanError::Line { line: 1, .. })
        ));
        assert!(matches!(
            parse_rota("who,date,start,end\nann,2026-11-23,8am,16:00\n"),
            Err(PlanError::Line { line: 2, .. })
        ));
        let r = parse_rota("ann,2026-11-23,22:00,06:00\n").unwrap();
        assert_eq!(
            (r[0].start, r[0].end),
            (22 * 60, 30 * 60),
            "a night shift ends the next day"
        );
    }

    #[test]
    fn more_demand_needs_more_staff_and_hurts_the_same_rota() {
        let p = parse_profile(&day(40.0)).unwrap();
        let s = Service {
            aht_seconds: 240.0,
            patience_seconds: Some(120.0),
            target: 0.8,
            target_seconds: 20.0,
            shrinkage: 0.3,
            max_occupancy: Some(0.9),
        };
        let need = requirement(&p, &s, None).unwrap();
        let busier = requirement(&parse_profile(&day(52.0)).unwrap(), &s, None).unwrap();
        let longer = requirement(&p, &s, Some(&[300.0; 20])).unwrap();
        assert!(
            longer[0].agents > need[0].agents,
            "longer calls need more people"
        );
        assert!(busier[0].agents > need[0].agents);
        assert!(need[0].scheduled > need[0].agents, "shrinkage");
        // A rota that meets today's need.
        let rota: String = (0..need[0].agents)
            .map(|i| format!("p{i},2026-11-23,08:00,18:00\n"))
            .collect();
        let shifts = parse_rota(&rota).unwrap();
        let w = |f: f64| WhatIf {
            demand_factor: f,
            callback_acceptance: 0.0,
            site_off_air: None,
            seed: 7,
        };
        let base = simulate(&p, &shifts, &s, &w(1.0)).unwrap();
        let surge = simulate(&p, &shifts, &s, &w(1.3)).unwrap();
        assert_eq!(base.intervals.len(), 20);
        assert!(surge.overall.offered > base.overall.offered);
        assert!(surge.overall.service_level < base.overall.service_level);
        let cover = wfm::rota::coverage(
            &need.iter().map(|n| n.agents).collect::<Vec<_>>(),
            &wfm::rota::on_duty(p.calls.len(), &in_slots(&p, &shifts)),
        );
        assert_eq!(cover.covered_share, 1.0);
    }
}
