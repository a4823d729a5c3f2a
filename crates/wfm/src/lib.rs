//! Workforce maths: Erlang B, C and A, service level under each
//! definition, staffing to constraints, shrinkage.
//!
//! Pure: no I/O, no clock. Service-level definitions: `docs/kpis.md`;
//! the methods: ARCHITECTURE.md (`crates/wfm`).

mod erlang;
pub mod rota;
pub mod weekly;

pub use erlang::{erlang_b, erlang_c};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WfmError {
    #[error("{field} must be {rule}, got {value}")]
    Invalid {
        field: &'static str,
        rule: &'static str,
        value: f64,
    },
    #[error("{agents} agents can never serve {load:.3} Erlangs without abandonment (Erlang C needs more agents than Erlangs)")]
    Unstable { agents: u32, load: f64 },
    #[error("no staffing up to {max} agents meets the constraints")]
    Unreachable { max: u32 },
    #[error("too large: {0}")]
    TooLarge(&'static str),
}

/// Which calls a service level counts (see docs/kpis.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SlDefinition {
    /// Answered within the threshold / all arrivals (abandoned count against).
    #[default]
    All,
    /// Answered within the threshold / answered.
    Answered,
    /// Answered within the threshold / (answered + abandoned after the
    /// threshold): abandons inside the threshold are left out.
    ExcludeEarlyAbandons,
}

impl SlDefinition {
    pub fn as_str(self) -> &'static str {
        match self {
            SlDefinition::All => "all",
            SlDefinition::Answered => "answered",
            SlDefinition::ExcludeEarlyAbandons => "exclude_early_abandons",
        }
    }
    pub fn parse(s: &str) -> Option<SlDefinition> {
        match s {
            "all" => Some(SlDefinition::All),
            "answered" => Some(SlDefinition::Answered),
            "exclude-early-abandons" | "exclude_early_abandons" => {
                Some(SlDefinition::ExcludeEarlyAbandons)
            }
            _ => None,
        }
    }
}

/// The traffic and the target to staff for.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Arrivals per second.
    pub arrival_rate: f64,
    /// Mean handle time, seconds.
    pub aht: f64,
    /// Mean patience, seconds (`None`: callers never hang up — Erlang C).
    pub patience: Option<f64>,
    /// Service-level threshold, seconds.
    pub target_seconds: f64,
    pub sl_definition: SlDefinition,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    ErlangC,
    ErlangA,
}

/// What a staffing level gives.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Performance {
    pub model: Model,
    pub offered_load_erlangs: f64,
    pub agents: u32,
    pub service_level: f64,
    pub probability_wait: f64,
    /// Mean wait of answered calls, seconds.
    pub asa_seconds: f64,
    /// Share of agent time busy: answered load / agents.
    pub occupancy: f64,
    /// `None` for Erlang C.
    pub abandon_probability: Option<f64>,
    /// Mean wait over all arrivals, seconds.
    pub mean_wait_all_seconds: f64,
    pub sl_definition: SlDefinition,
}

/// Limits on the inputs, so every answer comes quickly.
pub const MAX_AGENTS: u32 = 100_000;

impl Params {
    pub fn offered_load(&self) -> f64 {
        self.arrival_rate * self.aht
    }

    pub fn validate(&self) -> Result<(), WfmError> {
        let pos = |field, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(WfmError::Invalid {
                    field,
                    rule: "a positive number",
                    value: v,
                })
            }
        };
        pos("arrival rate", self.arrival_rate)?;
        pos("aht", self.aht)?;
        if let Some(p) = self.patience {
            pos("patience", p)?;
        }
        if !(self.target_seconds.is_finite() && self.target_seconds >= 0.0) {
            return Err(WfmError::Invalid {
                field: "target time",
                rule: "zero or more seconds",
                value: self.target_seconds,
            });
        }
        if self.offered_load() > MAX_AGENTS as f64 * 0.9 {
            return Err(WfmError::TooLarge("offered load above 90,000 Erlangs"));
        }
        Ok(())
    }
}

/// The performance of `agents` agents for this traffic.
pub fn evaluate(p: &Params, agents: u32) -> Result<Performance, WfmError> {
    p.validate()?;
    if agents == 0 {
        return Err(WfmError::Invalid {
            field: "agents",
            rule: "at least 1",
            value: 0.0,
        });
    }
    if agents > MAX_AGENTS {
        return Err(WfmError::Invalid {
            field: "agents",
            rule: "at most 100000",
            value: agents as f64,
        });
    }
    let a = p.offered_load();
    let n = agents as f64;
    let t = p.target_seconds;
    match p.patience {
        None => {
            let c = erlang_c(a, agents)?;
            let sl = 1.0 - c * (-(n - a) * t / p.aht).exp();
            let asa = c * p.aht / (n - a);
            Ok(Performance {
                model: Model::ErlangC,
                offered_load_erlangs: a,
                agents,
                service_level: sl,
                probability_wait: c,
                asa_seconds: asa,
                occupancy: a / n,
                abandon_probability: None,
                mean_wait_all_seconds: asa,
                sl_definition: p.sl_definition,
            })
        }
        Some(patience) => {
            let r = erlang::erlang_a(p.arrival_rate, 1.0 / p.aht, 1.0 / patience, agents, t)?;
            let answered = 1.0 - r.p_abandon;
            let sl = match p.sl_definition {
                SlDefinition::All => r.answered_within,
                SlDefinition::Answered => r.answered_within / answered,
                SlDefinition::ExcludeEarlyAbandons => {
                    r.answered_within / (answered + r.p_abandon - r.abandoned_within)
                }
            };
            Ok(Performance {
                model: Model::ErlangA,
                offered_load_erlangs: a,
                agents,
                service_level: sl.clamp(0.0, 1.0),
                probability_wait: r.p_wait,
                asa_seconds: r.asa,
                occupancy: (a * answered / n).min(1.0),
                abandon_probability: Some(r.p_abandon),
                mean_wait_all_seconds: r.mean_wait_all,
                sl_definition: p.sl_definition,
            })
        }
    }
}

/// Constraints a staffing must meet; `None` means no constraint.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Constraints {
    /// Service level at least this (0..=1).
    pub service_level: Option<f64>,
    pub max_occupancy: Option<f64>,
    pub max_abandon: Option<f64>,
    pub max_asa_seconds: Option<f64>,
}

impl Constraints {
    fn check_ranges(&self) -> Result<(), WfmError> {
        let unit = |field, v: Option<f64>, rule| match v {
            Some(x) if !(x.is_finite() && x > 0.0 && x <= 1.0) => Err(WfmError::Invalid {
                field,
                rule,
                value: x,
            }),
            _ => Ok(()),
        };
        unit(
            "target service level",
            self.service_level,
            "above 0% and at most 100%",
        )?;
        unit("max occupancy", self.max_occupancy, "above 0 and at most 1")?;
        unit("max abandon", self.max_abandon, "above 0 and at most 1")?;
        if let Some(x) = self.max_asa_seconds {
            if !(x.is_finite() && x > 0.0) {
                return Err(WfmError::Invalid {
                    field: "max ASA",
                    rule: "a positive number of seconds",
                    value: x,
                });
            }
        }
        Ok(())
    }

    pub fn met_by(&self, perf: &Performance) -> bool {
        self.service_level
            .is_none_or(|s| perf.service_level >= s - 1e-12)
            && self
                .max_occupancy
                .is_none_or(|o| perf.occupancy <= o + 1e-12)
            && self
                .max_abandon
                .is_none_or(|m| perf.abandon_probability.unwrap_or(0.0) <= m + 1e-12)
            && self
                .max_asa_seconds
                .is_none_or(|m| perf.asa_seconds <= m + 1e-9)
    }
}

/// The smallest number of agents meeting every constraint. All the
/// measures improve as agents are added, so the answer is found by a
/// doubling search and then bisection.
pub fn required_agents(p: &Params, c: &Constraints) -> Result<Performance, WfmError> {
    p.validate()?;
    c.check_ranges()?;
    let a = p.offered_load();
    let lowest = if p.patience.is_none() {
        (a.floor() as u32) + 1
    } else {
        1
    };
    let ok = |n: u32| -> Result<Option<Performance>, WfmError> {
        match evaluate(p, n) {
            Ok(perf) => Ok(c.met_by(&perf).then_some(perf)),
            // Too few agents for a huge queue to be worth modelling: they
            // certainly miss the target.
            Err(WfmError::TooLarge(_)) => Ok(None),
            Err(e) => Err(e),
        }
    };
    if let Some(perf) = ok(lowest)? {
        return Ok(perf);
    }
    // Find an upper bound that meets the constraints.
    let mut lo = lowest; // fails
    let mut step = ((a.sqrt() as u32).max(1)).max(lowest / 8);
    let mut hi = lowest.saturating_add(step);
    let best = loop {
        if hi > MAX_AGENTS {
            return Err(WfmError::Unreachable { max: MAX_AGENTS });
        }
        if let Some(perf) = ok(hi)? {
            break perf;
        }
        lo = hi;
        step = step.saturating_mul(2);
        hi = hi.saturating_add(step);
    };
    let (mut hi, mut best) = (hi, best);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match ok(mid)? {
            Some(perf) => {
                hi = mid;
                best = perf;
            }
            None => lo = mid,
        }
    }
    Ok(best)
}

/// Staff to schedule so that `agents` are on the phones after shrinkage
/// (breaks, training, leave): ceil(agents / (1 − shrinkage)).
pub fn scheduled_staff(agents: u32, shrinkage: f64) -> Result<u32, WfmError> {
    if !(shrinkage.is_finite() && (0.0..1.0).contains(&shrinkage)) {
        return Err(WfmError::Invalid {
            field: "shrinkage",
            rule: "at least 0 and below 1",
            value: shrinkage,
        });
    }
    Ok((agents as f64 / (1.0 - shrinkage) - 1e-9).ceil() as u32)
}
