//! What a simulation runs: the routing configuration, the demand, the rota.

use crate::dist::Dist;
use crate::SimError;
use model::rng::SplitMix64;
use model::{AgentId, Channel, DurationMs, Priority, QueueId, SiteId, SkillId, TeamId, Timestamp};
use routing::{
    AgentDef, Capacity, Config, QueueDef, ServiceTarget, SiteDef, SkillDef, SkillReq, TeamDef,
    TransferMode,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How contacts of a stream arrive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrivals {
    /// Poisson at a constant rate.
    Poisson { per_hour: f64 },
    /// Poisson with a rate per interval, repeating from the start after the
    /// last interval (e.g. 48 half-hours for a day, 336 for a week). Rates
    /// read from a CSV of real arrivals per interval come in this form.
    Profile {
        interval: DurationMs,
        per_hour: Vec<f64>,
    },
}

impl Arrivals {
    fn validate(&self, field: &str) -> Result<(), String> {
        let ok = |v: f64| v.is_finite() && (0.0..=10_000_000.0).contains(&v);
        match self {
            Arrivals::Poisson { per_hour } if !(ok(*per_hour) && *per_hour > 0.0) => Err(format!(
                "{field}.per_hour must be above zero (and at most 10,000,000)"
            )),
            Arrivals::Profile { interval, per_hour } => {
                if interval.0 <= 0 {
                    return Err(format!("{field}.interval must be above zero"));
                }
                if per_hour.is_empty() || per_hour.len() > 1_000_000 {
                    return Err(format!("{field}.per_hour needs 1 to 1,000,000 rates"));
                }
                if let Some(i) = per_hour.iter().position(|v| !ok(*v)) {
                    return Err(format!("{field}.per_hour[{i}] must be zero or more"));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The next arrival strictly after `now`, if the rate is ever above 0.
    pub fn next_after(&self, now: Timestamp, r: &mut SplitMix64) -> Option<Timestamp> {
        match self {
            Arrivals::Poisson { per_hour } => {
                let gap = r.exp(3_600_000.0 / per_hour).round().max(1.0) as i64;
                Some(now.plus(DurationMs(gap)))
            }
            Arrivals::Profile { interval, per_hour } => {
                if per_hour.iter().all(|&v| v == 0.0) {
                    return None;
                }
                // Integrate the rate until an Exp(1) amount is used up.
                let mut need = r.exp(1.0);
                let len = interval.0;
                let mut t = now.0 as f64 + 1.0;
                loop {
                    let idx = ((t as i64).div_euclid(len)) as usize % per_hour.len();
                    let rate_per_ms = per_hour[idx] / 3_600_000.0;
                    let seg_end = ((t as i64).div_euclid(len) + 1) as f64 * len as f64;
                    let cap = rate_per_ms * (seg_end - t);
                    if rate_per_ms > 0.0 && cap >= need {
                        return Some(Timestamp(
                            (t + need / rate_per_ms).round().max(now.0 as f64 + 1.0) as i64,
                        ));
                    }
                    need -= cap;
                    t = seg_end;
                }
            }
        }
    }

    /// Mean arrivals per hour over one cycle.
    pub fn mean_per_hour(&self) -> f64 {
        match self {
            Arrivals::Poisson { per_hour } => *per_hour,
            Arrivals::Profile { per_hour, .. } => {
                per_hour.iter().sum::<f64>() / per_hour.len() as f64
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Retrial {
    /// Share of abandoned callers who call again.
    pub probability: f64,
    pub delay: Dist,
}

/// Some of a stream's contacts go on to a second queue (e.g. a clinician).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferPlan {
    pub probability: f64,
    pub queue: QueueId,
    pub mode: TransferMode,
    /// Handle time with the second agent.
    pub handle: Dist,
}

/// One stream of demand.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    pub name: String,
    pub queue: QueueId,
    pub channel: Channel,
    pub priority: Priority,
    pub arrivals: Arrivals,
    pub handle: Dist,
    /// `None`: nobody hangs up.
    pub patience: Option<Dist>,
    /// Share who take a callback when the queue offers one.
    pub callback_acceptance: f64,
    pub retrial: Option<Retrial>,
    pub transfer: Option<TransferPlan>,
    /// How long agents take to pick up an offer.
    pub answer_delay: Dist,
    /// A call flow (IVR) the caller goes through first (a flow id in the
    /// scenario's `flows`); the flow's queue node decides the queue.
    #[serde(default)]
    pub flow: Option<String>,
    /// What callers do in the flow: "flow/node" → key → probability. Menus:
    /// keys, and "none" for silence (the rest of the probability is
    /// silence too). Digit collection: "valid" / "invalid".
    #[serde(default)]
    pub choices: BTreeMap<String, BTreeMap<String, f64>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Break {
    pub start: Timestamp,
    pub length: DurationMs,
}

/// One agent's shift: logged in from `start` to `end`, with breaks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    pub agent: AgentId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub breaks: Vec<Break>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    /// Arrivals run from 0 for this long; work under way then runs on.
    pub duration: DurationMs,
    /// Arrivals before this are left out of the overall figures.
    pub warmup: DurationMs,
    /// KPI interval.
    pub interval: DurationMs,
    pub routing: Config,
    pub streams: Vec<Stream>,
    /// Empty: every agent is ready all the time.
    pub rota: Vec<Shift>,
    pub clinical_queues: Vec<QueueId>,
    /// Keep per-agent and per-team figures (costs memory on long runs).
    pub per_agent_figures: bool,
    /// Compare the expected wait announced to each caller who has to wait
    /// with the wait they then had (costs a little per waiting caller).
    #[serde(default)]
    pub measure_expected_wait: bool,
    /// Call flows streams may start in (sub-flows before their callers).
    #[serde(default)]
    pub flows: Vec<flow::Flow>,
}

/// Longest simulated period.
pub const MAX_DURATION: DurationMs = DurationMs(10 * 366 * 86_400_000);

impl Scenario {
    pub fn validate(&self) -> Result<(), SimError> {
        let e = |s: String| Err(SimError::Scenario(s));
        if self.duration.0 <= 0 || self.duration > MAX_DURATION {
            return e("duration must be above zero and at most ten years".into());
        }
        if self.warmup.0 < 0 || self.warmup >= self.duration {
            return e("warmup must be zero or more and shorter than the duration".into());
        }
        if self.interval.0 <= 0 || self.interval.0 > 86_400_000 {
            return e("interval must be above zero and at most a day".into());
        }
        if self.streams.is_empty() {
            return e("there are no demand streams".into());
        }
        self.routing.validate()?;
        let has_queue = |q: QueueId| self.routing.queues.iter().any(|d| d.id == q);
        for (i, s) in self.streams.iter().enumerate() {
            let f = format!("streams[{i}] '{}'", s.name);
            if !has_queue(s.queue) {
                return e(format!("{f}: unknown queue {}", s.queue));
            }
            s.arrivals
                .validate(&format!("{f}.arrivals"))
                .map_err(SimError::Scenario)?;
            s.handle
                .validate(&format!("{f}.handle"))
                .map_err(SimError::Scenario)?;
            if s.handle.mean() <= 0.0 {
                return e(format!("{f}.handle: mean must be above zero"));
            }
            if let Some(p) = &s.patience {
                p.validate(&format!("{f}.patience"))
                    .map_err(SimError::Scenario)?;
            }
            s.answer_delay
                .validate(&format!("{f}.answer_delay"))
                .map_err(SimError::Scenario)?;
            let prob = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
            if !prob(s.callback_acceptance) {
                return e(format!("{f}.callback_acceptance must be within 0..=1"));
            }
            if let Some(r) = &s.retrial {
                if !prob(r.probability) {
                    return e(format!("{f}.retrial.probability must be within 0..=1"));
                }
                r.delay
                    .validate(&format!("{f}.retrial.delay"))
                    .map_err(SimError::Scenario)?;
            }
            if let Some(flow_id) = &s.flow {
                if !self.flows.iter().any(|x| &x.id == flow_id) {
                    return e(format!("{f}.flow: unknown flow '{flow_id}'"));
                }
            }
            for (node, keys) in &s.choices {
                let total: f64 = keys.values().sum();
                if keys.values().any(|p| !prob(*p)) || total > 1.0 + 1e-9 || keys.len() > 16 {
                    return e(format!("{f}.choices['{node}']: probabilities must each be within 0..=1 and add up to at most 1"));
                }
            }
            if let Some(t) = &s.transfer {
                if !prob(t.probability) {
                    return e(format!("{f}.transfer.probability must be within 0..=1"));
                }
                if !has_queue(t.queue) {
                    return e(format!("{f}.transfer: unknown queue {}", t.queue));
                }
                t.handle
                    .validate(&format!("{f}.transfer.handle"))
                    .map_err(SimError::Scenario)?;
            }
        }
        let agents: std::collections::BTreeSet<AgentId> =
            self.routing.agents.iter().map(|a| a.id).collect();
        for (i, sh) in self.rota.iter().enumerate() {
            if !agents.contains(&sh.agent) {
                return e(format!("rota[{i}]: unknown agent {}", sh.agent));
            }
            if sh.end <= sh.start {
                return e(format!(
                    "rota[{i}] (agent {}): the shift ends before it starts",
                    sh.agent
                ));
            }
            for b in &sh.breaks {
                if b.start < sh.start || b.start.plus(b.length) > sh.end || b.length.0 <= 0 {
                    return e(format!(
                        "rota[{i}] (agent {}): a break falls outside the shift",
                        sh.agent
                    ));
                }
            }
        }
        for q in &self.clinical_queues {
            if !has_queue(*q) {
                return e(format!("clinical_queues: unknown queue {q}"));
            }
        }
        Ok(())
    }
}

/// The single-queue study model of `switchboard simulate` without a
/// scenario file: Poisson arrivals, exponential handle times and patience,
/// `agents` identical agents, first come first served.
pub fn quick_scenario(
    arrivals_per_sec: f64,
    aht_secs: f64,
    agents: u32,
    patience_secs: Option<f64>,
    target: (f64, f64),
    duration: DurationMs,
    seed: u64,
) -> Scenario {
    let q = QueueId(1);
    let mut queue = QueueDef::new(
        q,
        "Queue",
        vec![SkillReq {
            skill: SkillId(1),
            min_level: 1,
        }],
    );
    queue.target = ServiceTarget {
        within: DurationMs((target.1 * 1000.0).round() as i64),
        percent: (target.0 * 100.0).round().clamp(1.0, 100.0) as u8,
    };
    queue.offer_timeout = DurationMs::from_secs(3600);
    queue.max_waiting = 10_000_000;
    let routing = Config {
        limits: routing::Limits {
            max_live_contacts: 10_000_000,
            max_agents: 1_000_000,
            ..Default::default()
        },
        skills: vec![SkillDef {
            id: SkillId(1),
            name: "calls".into(),
        }],
        teams: vec![TeamDef {
            id: TeamId(1),
            name: "agents".into(),
        }],
        sites: vec![SiteDef {
            id: SiteId(1),
            name: "site".into(),
        }],
        queues: vec![queue],
        agents: (1..=agents)
            .map(|i| AgentDef {
                id: AgentId(i),
                name: format!("agent {i}"),
                team: TeamId(1),
                site: SiteId(1),
                skills: vec![(SkillId(1), 1)],
                capacity: Capacity::VOICE_ONLY,
                // Answer delay is zero in this model: phones answer at once.
                auto_answer: true,
            })
            .collect(),
    };
    Scenario {
        name: "single queue".into(),
        seed,
        duration,
        warmup: DurationMs(0),
        interval: DurationMs::from_secs(86_400),
        routing,
        streams: vec![Stream {
            name: "calls".into(),
            queue: q,
            channel: Channel::Voice,
            priority: 0,
            arrivals: Arrivals::Poisson {
                per_hour: arrivals_per_sec * 3600.0,
            },
            handle: Dist::Exponential { mean: aht_secs },
            patience: patience_secs.map(|p| Dist::Exponential { mean: p }),
            callback_acceptance: 0.0,
            retrial: None,
            transfer: None,
            answer_delay: Dist::ZERO,
            flow: None,
            choices: BTreeMap::new(),
        }],
        rota: Vec::new(),
        clinical_queues: Vec::new(),
        per_agent_figures: false,
        measure_expected_wait: true,
        flows: Vec::new(),
    }
}
