//! Scenario files (TOML): names instead of ids, durations as "8m", rates as
//! "41.5/min". Read here at the edge and turned into a `sim::Scenario`.
//! The format is documented in docs/scenarios.md.

use crate::args;
use anyhow::{bail, Context, Result};
use model::{AgentId, Channel, DurationMs, QueueId, SiteId, SkillId, TeamId, Timestamp};
use routing::{
    AgentDef, Capacity, Config, OverflowAction, OverflowStep, QueueDef, ServiceTarget, SiteDef,
    SkillDef, SkillReq, Strategy, TeamDef, TransferMode,
};
use serde::Deserialize;
use sim::{Arrivals, Break, Dist, Retrial, Scenario, Shift, Stream, TransferPlan};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    #[serde(default = "one")]
    seed: u64,
    duration: String,
    #[serde(default)]
    warmup: Option<String>,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    clinical_queues: Vec<String>,
    #[serde(default)]
    per_agent_figures: bool,
    #[serde(default)]
    measure_expected_wait: bool,
    #[serde(default)]
    skills: Vec<Named>,
    #[serde(default)]
    teams: Vec<Named>,
    #[serde(default)]
    sites: Vec<Named>,
    queues: Vec<FileQueue>,
    agents: Vec<FileAgents>,
    demand: Vec<FileDemand>,
    /// Call-flow files (JSON), relative to the scenario file; sub-flows
    /// before the flows that call them.
    #[serde(default)]
    flows: Vec<String>,
}

fn one() -> u64 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileQueue {
    name: String,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    teams: Option<Vec<String>>,
    #[serde(default)]
    strategy: Option<Strategy>,
    #[serde(default)]
    offer_timeout: Option<String>,
    #[serde(default)]
    wrap_up: Option<String>,
    #[serde(default)]
    max_waiting: Option<u32>,
    #[serde(default)]
    overflow: Vec<FileStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStep {
    after: String,
    #[serde(default)]
    relax: Option<String>,
    #[serde(default)]
    add_teams: Option<Vec<String>>,
    #[serde(default)]
    any_team: bool,
    #[serde(default)]
    offer_callback: bool,
    #[serde(default)]
    voicemail: bool,
    #[serde(default)]
    move_to: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAgents {
    name: String,
    #[serde(default = "one_u32")]
    count: u32,
    team: String,
    site: String,
    skills: Vec<String>,
    #[serde(default)]
    capacity: Option<String>,
    #[serde(default)]
    shifts: Vec<FileShift>,
    /// Phones answer offers at once.
    #[serde(default)]
    auto_answer: bool,
}

fn one_u32() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShift {
    start: String,
    end: String,
    #[serde(default)]
    breaks: Vec<FileBreak>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBreak {
    at: String,
    length: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDist {
    dist: String,
    #[serde(default)]
    mean: Option<String>,
    #[serde(default)]
    cv: Option<f64>,
    #[serde(default)]
    min: Option<String>,
    #[serde(default)]
    max: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    values: Option<Vec<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDemand {
    name: String,
    /// The queue (not needed when a flow decides it).
    #[serde(default)]
    queue: Option<String>,
    /// A call flow the callers go through first.
    #[serde(default)]
    flow: Option<String>,
    /// "flow/node" → key → probability.
    #[serde(default)]
    choices: BTreeMap<String, BTreeMap<String, f64>>,
    #[serde(default)]
    channel: Option<Channel>,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    rate: Option<String>,
    #[serde(default)]
    per_hour: Option<Vec<f64>>,
    #[serde(default)]
    profile_interval: Option<String>,
    #[serde(default)]
    csv: Option<String>,
    handle: FileDist,
    #[serde(default)]
    patience: Option<FileDist>,
    #[serde(default)]
    callback_acceptance: f64,
    #[serde(default)]
    retrial: Option<FileRetrial>,
    #[serde(default)]
    transfer: Option<FileTransfer>,
    #[serde(default)]
    answer_delay: Option<FileDist>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetrial {
    probability: f64,
    delay: FileDist,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTransfer {
    probability: f64,
    queue: String,
    #[serde(default)]
    mode: Option<TransferMode>,
    handle: FileDist,
}

fn dur(field: &str, s: &str) -> Result<DurationMs> {
    Ok(DurationMs(
        (args::duration_secs(field, s)? * 1000.0).round() as i64,
    ))
}

/// "08:30" → ms after midnight.
fn clock(field: &str, s: &str) -> Result<i64> {
    let (h, m) = s
        .split_once(':')
        .with_context(|| format!("{field}: '{s}' is not a time like 08:30"))?;
    let (h, m): (i64, i64) = (
        h.parse()
            .with_context(|| format!("{field}: bad hour in '{s}'"))?,
        m.parse()
            .with_context(|| format!("{field}: bad minutes in '{s}'"))?,
    );
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || (h == 24 && m > 0) {
        bail!("{field}: '{s}' is not a time of day");
    }
    Ok((h * 60 + m) * 60_000)
}

fn dist(field: &str, d: &FileDist) -> Result<Dist> {
    let need = |v: &Option<String>, what: &str| -> Result<f64> {
        args::duration_secs(
            &format!("{field}.{what}"),
            v.as_deref()
                .with_context(|| format!("{field}: needs {what}"))?,
        )
    };
    let out = match d.dist.as_str() {
        "fixed" => Dist::Fixed { secs: need(&d.value, "value")? },
        "exponential" => Dist::Exponential { mean: need(&d.mean, "mean")? },
        "lognormal" => Dist::Lognormal { mean: need(&d.mean, "mean")?, cv: d.cv.with_context(|| format!("{field}: needs cv"))? },
        "uniform" => Dist::Uniform { min: need(&d.min, "min")?, max: need(&d.max, "max")? },
        "empirical" => Dist::Empirical { values: d.values.clone().with_context(|| format!("{field}: needs values (seconds)"))? },
        other => bail!("{field}: unknown distribution '{other}' (fixed, exponential, lognormal, uniform, empirical)"),
    };
    out.validate(field).map_err(|e| anyhow::anyhow!(e))?;
    Ok(out)
}

/// A CSV of `date,interval_start,calls` rows → calls per hour per interval.
fn csv_rates(field: &str, path: &Path, interval: DurationMs) -> Result<Vec<f64>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{field}: cannot read {}", path.display()))?;
    let mut rates = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (i == 0 && line.starts_with("date")) {
            continue;
        }
        let calls = line
            .rsplit(',')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        let v: f64 = calls.parse().with_context(|| {
            format!(
                "{} line {}: calls '{calls}' is not a number",
                path.display(),
                i + 1
            )
        })?;
        if !(v.is_finite() && v >= 0.0) {
            bail!(
                "{} line {}: calls must be zero or more",
                path.display(),
                i + 1
            );
        }
        rates.push(v * 3_600_000.0 / interval.0 as f64);
        if rates.len() > 1_000_000 {
            bail!("{}: more than 1,000,000 rows", path.display());
        }
    }
    if rates.is_empty() {
        bail!("{field}: {} has no rows", path.display());
    }
    Ok(rates)
}

/// Reads a scenario; `duration` (from `--hours`) replaces the file's, so
/// that the rota is laid out for the whole run.
pub fn load(path: &Path, duration: Option<DurationMs>) -> Result<Scenario> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > 16 * 1024 * 1024 {
        bail!("{} is larger than 16 MiB", path.display());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let f: File = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid scenario", path.display()))?;
    convert(f, path.parent().unwrap_or(Path::new(".")), duration)
}

fn convert(f: File, base: &Path, duration_override: Option<DurationMs>) -> Result<Scenario> {
    let ids = |list: &[Named], kind: &str| -> Result<BTreeMap<String, u32>> {
        let mut m = BTreeMap::new();
        for (i, n) in list.iter().enumerate() {
            if m.insert(n.name.clone(), i as u32 + 1).is_some() {
                bail!("{kind} '{}' is defined twice", n.name);
            }
        }
        Ok(m)
    };
    let skills = ids(&f.skills, "skill")?;
    let teams = ids(&f.teams, "team")?;
    let sites = ids(&f.sites, "site")?;
    let queue_ids: BTreeMap<String, u32> = f
        .queues
        .iter()
        .enumerate()
        .map(|(i, q)| (q.name.clone(), i as u32 + 1))
        .collect();
    let find = |m: &BTreeMap<String, u32>, kind: &str, name: &str, field: &str| -> Result<u32> {
        m.get(name)
            .copied()
            .with_context(|| format!("{field}: unknown {kind} '{name}'"))
    };
    let skill_req = |s: &str, field: &str| -> Result<(SkillId, u8)> {
        let (name, level) = s
            .rsplit_once(':')
            .with_context(|| format!("{field}: '{s}' is not SKILL:LEVEL"))?;
        let level: u8 = level
            .parse()
            .with_context(|| format!("{field}: bad level in '{s}'"))?;
        Ok((SkillId(find(&skills, "skill", name, field)?), level))
    };
    let duration = match duration_override {
        Some(d) => d,
        None => dur("duration", &f.duration)?,
    };
    // Checked before the rota is laid out day by day.
    if duration > sim::MAX_DURATION {
        bail!("duration: at most ten years");
    }
    let mut queues = Vec::new();
    for q in &f.queues {
        let field = format!("queues '{}'", q.name);
        let reqs = q
            .requires
            .iter()
            .map(|s| {
                skill_req(s, &format!("{field}.requires"))
                    .map(|(skill, min_level)| SkillReq { skill, min_level })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut d = QueueDef::new(QueueId(queue_ids[&q.name]), &q.name, reqs);
        d.priority = q.priority;
        if let Some(t) = &q.target {
            let (sl, secs) = args::target(&format!("{field}.target"), t)?;
            d.target = ServiceTarget {
                within: DurationMs((secs * 1000.0).round() as i64),
                percent: (sl * 100.0).round() as u8,
            };
        }
        if let Some(ts) = &q.teams {
            d.teams = Some(
                ts.iter()
                    .map(|t| find(&teams, "team", t, &field).map(TeamId))
                    .collect::<Result<_>>()?,
            );
        }
        if let Some(s) = q.strategy {
            d.strategy = s;
        }
        if let Some(t) = &q.offer_timeout {
            d.offer_timeout = dur(&format!("{field}.offer_timeout"), t)?;
        }
        if let Some(t) = &q.wrap_up {
            d.wrap_up = if t.trim() == "0" {
                DurationMs(0)
            } else {
                dur(&format!("{field}.wrap_up"), t)?
            };
        }
        if let Some(m) = q.max_waiting {
            d.max_waiting = m;
        }
        for (i, st) in q.overflow.iter().enumerate() {
            let sf = format!("{field}.overflow[{i}]");
            let set = [
                st.relax.is_some(),
                st.add_teams.is_some(),
                st.any_team,
                st.offer_callback,
                st.voicemail,
                st.move_to.is_some(),
            ];
            if set.iter().filter(|&&x| x).count() != 1 {
                bail!("{sf}: give exactly one of relax, add_teams, any_team, offer_callback, voicemail, move_to");
            }
            let action = if let Some(r) = &st.relax {
                let (skill, min_level) = skill_req(r, &sf)?;
                OverflowAction::RelaxSkill { skill, min_level }
            } else if let Some(ts) = &st.add_teams {
                OverflowAction::AddTeams(
                    ts.iter()
                        .map(|t| find(&teams, "team", t, &sf).map(TeamId))
                        .collect::<Result<_>>()?,
                )
            } else if st.any_team {
                OverflowAction::AnyTeam
            } else if st.offer_callback {
                OverflowAction::OfferCallback
            } else if st.voicemail {
                OverflowAction::Voicemail
            } else {
                OverflowAction::MoveToQueue(QueueId(find(
                    &queue_ids,
                    "queue",
                    st.move_to.as_deref().unwrap_or(""),
                    &sf,
                )?))
            };
            d.overflow.push(OverflowStep {
                after: dur(&format!("{sf}.after"), &st.after)?,
                action,
            });
        }
        queues.push(d);
    }
    let mut agents = Vec::new();
    let mut rota = Vec::new();
    let days = (duration.0 + 86_399_999) / 86_400_000;
    for g in &f.agents {
        let field = format!("agents '{}'", g.name);
        if g.count == 0 || g.count > 100_000 {
            bail!("{field}.count must be from 1 to 100000");
        }
        let capacity = match g.capacity.as_deref().unwrap_or("voice") {
            "voice" => Capacity::VOICE_ONLY,
            "blended" => Capacity::BLENDED,
            other => bail!("{field}.capacity: '{other}' is not voice or blended"),
        };
        let skills_of = g
            .skills
            .iter()
            .map(|s| skill_req(s, &format!("{field}.skills")))
            .collect::<Result<Vec<_>>>()?;
        for k in 0..g.count {
            let id = AgentId(agents.len() as u32 + 1);
            agents.push(AgentDef {
                id,
                name: if g.count == 1 {
                    g.name.clone()
                } else {
                    format!("{} {}", g.name, k + 1)
                },
                team: TeamId(find(&teams, "team", &g.team, &field)?),
                site: SiteId(find(&sites, "site", &g.site, &field)?),
                skills: skills_of.clone(),
                capacity,
                auto_answer: g.auto_answer,
            });
            for day in 0..days {
                let base = day * 86_400_000;
                for (i, sh) in g.shifts.iter().enumerate() {
                    let sf = format!("{field}.shifts[{i}]");
                    // A shift that ends at or before its start ends the next
                    // day (a night shift); so do its breaks after midnight.
                    let s = clock(&sf, &sh.start)?;
                    let mut e = clock(&sf, &sh.end)?;
                    if e <= s {
                        e += 86_400_000;
                    }
                    let breaks = sh
                        .breaks
                        .iter()
                        .map(|b| {
                            let mut at = clock(&sf, &b.at)?;
                            if at < s {
                                at += 86_400_000;
                            }
                            Ok(Break {
                                start: Timestamp(base + at),
                                length: dur(&format!("{sf}.breaks.length"), &b.length)?,
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    rota.push(Shift {
                        agent: id,
                        start: Timestamp(base + s),
                        end: Timestamp(base + e),
                        breaks,
                    });
                }
            }
        }
    }
    if agents.iter().any(|a| rota.iter().any(|s| s.agent == a.id))
        && agents.iter().any(|a| !rota.iter().any(|s| s.agent == a.id))
    {
        bail!("agents: give every group shifts, or none (then everyone works all the time)");
    }
    let mut streams = Vec::new();
    for d in &f.demand {
        let field = format!("demand '{}'", d.name);
        let arrivals = match (&d.rate, &d.per_hour, &d.csv) {
            (Some(r), None, None) => Arrivals::Poisson {
                per_hour: args::rate_per_sec(&format!("{field}.rate"), r)? * 3600.0,
            },
            (None, Some(v), None) => Arrivals::Profile {
                interval: dur(
                    &format!("{field}.profile_interval"),
                    d.profile_interval.as_deref().unwrap_or("1h"),
                )?,
                per_hour: v.clone(),
            },
            (None, None, Some(p)) => {
                let interval = dur(
                    &format!("{field}.profile_interval"),
                    d.profile_interval.as_deref().unwrap_or("30m"),
                )?;
                Arrivals::Profile {
                    interval,
                    per_hour: csv_rates(&field, &base.join(p), interval)?,
                }
            }
            _ => bail!("{field}: give exactly one of rate, per_hour or csv"),
        };
        let transfer = match &d.transfer {
            None => None,
            Some(t) => Some(TransferPlan {
                probability: t.probability,
                queue: QueueId(find(
                    &queue_ids,
                    "queue",
                    &t.queue,
                    &format!("{field}.transfer"),
                )?),
                mode: t.mode.unwrap_or(TransferMode::Warm),
                handle: dist(&format!("{field}.transfer.handle"), &t.handle)?,
            }),
        };
        streams.push(Stream {
            name: d.name.clone(),
            queue: match (&d.queue, &d.flow) {
                (Some(q), _) => QueueId(find(&queue_ids, "queue", q, &field)?),
                // A flow decides the queue; this one is never used.
                (None, Some(_)) => QueueId(1),
                (None, None) => bail!("{field}: give a queue, or a flow"),
            },
            channel: d.channel.unwrap_or(Channel::Voice),
            priority: d.priority,
            arrivals,
            handle: dist(&format!("{field}.handle"), &d.handle)?,
            patience: d
                .patience
                .as_ref()
                .map(|p| dist(&format!("{field}.patience"), p))
                .transpose()?,
            callback_acceptance: d.callback_acceptance,
            retrial: d
                .retrial
                .as_ref()
                .map(|r| {
                    Ok::<_, anyhow::Error>(Retrial {
                        probability: r.probability,
                        delay: dist(&format!("{field}.retrial.delay"), &r.delay)?,
                    })
                })
                .transpose()?,
            transfer,
            answer_delay: d
                .answer_delay
                .as_ref()
                .map(|a| dist(&format!("{field}.answer_delay"), a))
                .transpose()?
                .unwrap_or(Dist::ZERO),
            flow: d.flow.clone(),
            choices: d.choices.clone(),
        });
    }
    let clinical_queues = f
        .clinical_queues
        .iter()
        .map(|q| find(&queue_ids, "queue", q, "clinical_queues").map(QueueId))
        .collect::<Result<Vec<_>>>()?;
    let limits = routing::Limits {
        max_live_contacts: 10_000_000,
        ..Default::default()
    };
    Ok(Scenario {
        name: f.name,
        seed: f.seed,
        duration,
        warmup: f
            .warmup
            .as_deref()
            .map(|w| {
                if w.trim() == "0" {
                    Ok(DurationMs(0))
                } else {
                    dur("warmup", w)
                }
            })
            .transpose()?
            .unwrap_or(DurationMs(0)),
        interval: f
            .interval
            .as_deref()
            .map(|i| dur("interval", i))
            .transpose()?
            .unwrap_or(DurationMs::from_secs(1800)),
        routing: Config {
            limits,
            skills: f
                .skills
                .iter()
                .enumerate()
                .map(|(i, s)| SkillDef {
                    id: SkillId(i as u32 + 1),
                    name: s.name.clone(),
                })
                .collect(),
            teams: f
                .teams
                .iter()
                .enumerate()
                .map(|(i, s)| TeamDef {
                    id: TeamId(i as u32 + 1),
                    name: s.name.clone(),
                })
                .collect(),
            sites: f
                .sites
                .iter()
                .enumerate()
                .map(|(i, s)| SiteDef {
                    id: SiteId(i as u32 + 1),
                    name: s.name.clone(),
                })
                .collect(),
            queues,
            agents,
        },
        streams,
        rota,
        clinical_queues,
        per_agent_figures: f.per_agent_figures,
        measure_expected_wait: f.measure_expected_wait,
        flows: f
            .flows
            .iter()
            .map(|p| crate::flows::read(&base.join(p)))
            .collect::<Result<Vec<_>>>()?,
    })
}
