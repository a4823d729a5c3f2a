//! Routing configuration: skills, teams, sites, queues with overflow steps,
//! agents with skills and capacity — and its validation.

use crate::error::ConfigError;
use model::{AgentId, DurationMs, Priority, QueueId, SiteId, SkillId, SkillLevel, TeamId};
use model::{Media, SKILL_LEVEL_MAX};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Hard limits. Every collection the engine keeps is bounded by one of these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Contacts alive at once (scheduled, waiting, offered or in progress).
    pub max_live_contacts: u32,
    pub max_agents: u32,
    pub max_queues: u32,
    pub max_skills: u32,
    pub max_teams: u32,
    pub max_sites: u32,
    /// Skill requirements one contact may add to its queue's.
    pub max_contact_requirements: u32,
    /// Attributes one contact may carry, and their sizes in bytes.
    pub max_contact_attributes: u32,
    pub max_attribute_bytes: u32,
    pub max_overflow_steps: u32,
    pub max_skills_per_agent: u32,
    /// Contacts waiting for one named agent (directed transfers).
    pub max_directed_per_agent: u32,
    /// Per-medium capacity of one agent.
    pub max_capacity_per_media: u8,
    pub max_name_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_live_contacts: 2_000_000,
            max_agents: 100_000,
            max_queues: 10_000,
            max_skills: 10_000,
            max_teams: 10_000,
            max_sites: 1_000,
            max_contact_requirements: 8,
            max_contact_attributes: 32,
            max_attribute_bytes: 512,
            max_overflow_steps: 16,
            max_skills_per_agent: 256,
            max_directed_per_agent: 100,
            max_capacity_per_media: 32,
            max_name_bytes: 200,
        }
    }
}

/// The whole routing configuration, as loaded at start-up or replaced live.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub skills: Vec<SkillDef>,
    #[serde(default)]
    pub teams: Vec<TeamDef>,
    #[serde(default)]
    pub sites: Vec<SiteDef>,
    #[serde(default)]
    pub queues: Vec<QueueDef>,
    #[serde(default)]
    pub agents: Vec<AgentDef>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillDef {
    pub id: SkillId,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamDef {
    pub id: TeamId,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteDef {
    pub id: SiteId,
    pub name: String,
}

/// "Needs `skill` at level `min_level` or above."
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SkillReq {
    pub skill: SkillId,
    pub min_level: SkillLevel,
}

/// Service-level target: `percent`% of contacts answered within `within`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTarget {
    pub within: DurationMs,
    pub percent: u8,
}

/// How an agent is chosen among the eligible, available agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent whose capacity freed up longest ago.
    #[default]
    LongestIdle,
    /// The highest level in the queue's first required skill; then longest idle.
    MostSkilled,
    /// The lowest share of capacity in use; then longest idle.
    LeastOccupied,
    /// The agent offered a contact longest ago (across all queues).
    RoundRobin,
}

/// Priority aging: the effective priority of a waiting contact rises by one
/// for every `every` it has waited since arrival, by at most `max_boost`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aging {
    pub every: DurationMs,
    pub max_boost: Priority,
}

/// What a queue does when `max_waiting` contacts already wait in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// The contact is refused (the edge plays a busy message).
    #[default]
    Reject,
    /// The contact is sent to voicemail.
    Voicemail,
    /// The contact goes to another queue (which must not be full itself).
    Queue(QueueId),
}

/// One overflow step: `after` the contact entered the queue, `action`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverflowStep {
    pub after: DurationMs,
    pub action: OverflowAction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverflowAction {
    /// Also accept agents with `skill` at `min_level` or above (lower than
    /// the queue's own requirement; 0 drops the requirement).
    RelaxSkill {
        skill: SkillId,
        min_level: SkillLevel,
    },
    /// Also offer to agents of these teams.
    AddTeams(Vec<TeamId>),
    /// Offer to agents of any team.
    AnyTeam,
    /// Tell the edge to offer the caller a callback that keeps their place
    /// (live voice callers only).
    OfferCallback,
    /// Send the caller to voicemail (live voice callers only; terminal).
    Voicemail,
    /// Move the contact to another queue, keeping its place (original
    /// arrival time). Must be the last step.
    MoveToQueue(QueueId),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDef {
    pub id: QueueId,
    pub name: String,
    /// Higher is served first, across every queue an agent serves.
    pub priority: Priority,
    pub target: ServiceTarget,
    /// Every contact of this queue needs all of these (before overflow).
    pub requirements: Vec<SkillReq>,
    /// Only agents of these teams (before overflow); `None`: any team.
    pub teams: Option<Vec<TeamId>>,
    pub overflow: Vec<OverflowStep>,
    pub strategy: Strategy,
    pub aging: Option<Aging>,
    /// Ring-no-answer timeout of an offer.
    pub offer_timeout: DurationMs,
    /// After-contact work time; the agent may finish it earlier.
    pub wrap_up: DurationMs,
    /// Most contacts waiting at once; arrivals beyond go `when_full`.
    pub max_waiting: u32,
    pub when_full: WhenFull,
    /// Answered by clinicians: a contact answered here (or handed over to
    /// it) counts as clinically assessed in the KPIs. Not routed on.
    #[serde(default)]
    pub clinical: bool,
}

impl QueueDef {
    /// When this queue's contacts can be offered to `agent`: `Some(0)`
    /// from the start, `Some(after)` only once an overflow step has
    /// widened who may take them, `None` never (the agent's skills and
    /// team fall short even at the last step; a contact moved to another
    /// queue is that queue's).
    pub fn serves(&self, agent: &AgentDef) -> Option<DurationMs> {
        let mut reqs = self.requirements.clone();
        let mut teams = self.teams.clone();
        let fits = |reqs: &[SkillReq], teams: &Option<Vec<TeamId>>| {
            teams.as_ref().is_none_or(|t| t.contains(&agent.team))
                && reqs.iter().all(|r| {
                    r.min_level == 0
                        || agent
                            .skills
                            .iter()
                            .any(|&(s, l)| s == r.skill && l >= r.min_level)
                })
        };
        if fits(&reqs, &teams) {
            return Some(DurationMs(0));
        }
        for step in &self.overflow {
            match &step.action {
                OverflowAction::RelaxSkill { skill, min_level } => {
                    for r in reqs.iter_mut().filter(|r| r.skill == *skill) {
                        r.min_level = r.min_level.min(*min_level);
                    }
                }
                OverflowAction::AddTeams(more) => {
                    if let Some(t) = teams.as_mut() {
                        t.extend(more.iter().copied());
                    }
                }
                OverflowAction::AnyTeam => teams = None,
                OverflowAction::OfferCallback => {}
                OverflowAction::Voicemail | OverflowAction::MoveToQueue(_) => return None,
            }
            if fits(&reqs, &teams) {
                return Some(step.after);
            }
        }
        None
    }

    /// A queue with common defaults: 20 s ring timeout, no wrap-up, 10 000
    /// waiting at most, 80% in 20 s.
    pub fn new(id: QueueId, name: &str, requirements: Vec<SkillReq>) -> QueueDef {
        QueueDef {
            id,
            name: name.to_string(),
            priority: 0,
            target: ServiceTarget {
                within: DurationMs::from_secs(20),
                percent: 80,
            },
            requirements,
            teams: None,
            overflow: Vec::new(),
            strategy: Strategy::LongestIdle,
            aging: None,
            offer_timeout: DurationMs::from_secs(20),
            wrap_up: DurationMs::ZERO,
            max_waiting: 10_000,
            when_full: WhenFull::Reject,
            clinical: false,
        }
    }
}

/// How many contacts of each medium an agent handles at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub voice: u8,
    pub chat: u8,
    pub email: u8,
    pub sms: u8,
    /// A phone call excludes everything else, and anything else excludes a
    /// phone call.
    pub voice_exclusive: bool,
}

impl Capacity {
    pub const VOICE_ONLY: Capacity = Capacity {
        voice: 1,
        chat: 0,
        email: 0,
        sms: 0,
        voice_exclusive: true,
    };
    /// 1 call, or up to 3 chats and 2 emails at once.
    pub const BLENDED: Capacity = Capacity {
        voice: 1,
        chat: 3,
        email: 2,
        sms: 0,
        voice_exclusive: true,
    };
    pub fn get(&self, m: Media) -> u8 {
        match m {
            Media::Voice => self.voice,
            Media::Chat => self.chat,
            Media::Email => self.email,
            Media::Sms => self.sms,
        }
    }
    pub fn as_array(&self) -> [u8; Media::COUNT] {
        [self.voice, self.chat, self.email, self.sms]
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentDef {
    pub id: AgentId,
    pub name: String,
    pub team: TeamId,
    pub site: SiteId,
    pub skills: Vec<(SkillId, SkillLevel)>,
    pub capacity: Capacity,
    /// The agent's phone or desktop answers every offer at once (auto
    /// answer): an offer is accepted in the same instant it is made.
    #[serde(default)]
    pub auto_answer: bool,
}

/// What a queue or agent may refer to: the engine's current registry, or a
/// config being validated as a whole.
pub(crate) trait Registry {
    fn has_skill(&self, s: SkillId) -> bool;
    fn has_team(&self, t: TeamId) -> bool;
    fn has_site(&self, s: SiteId) -> bool;
    fn has_queue(&self, q: QueueId) -> bool;
    /// Where queue `q` sends contacts by a final MoveToQueue step, if anywhere.
    fn move_target(&self, q: QueueId) -> Option<QueueId>;
}

fn check_name(item: &str, name: &str, limits: &Limits) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        return Err(ConfigError::invalid(item, "name", "is empty"));
    }
    if name.len() > limits.max_name_bytes as usize {
        return Err(ConfigError::invalid(
            item,
            "name",
            format!("is longer than {} bytes", limits.max_name_bytes),
        ));
    }
    Ok(())
}

fn check_level(
    item: &str,
    field: &str,
    level: SkillLevel,
    min: SkillLevel,
) -> Result<(), ConfigError> {
    if level < min || level > SKILL_LEVEL_MAX {
        return Err(ConfigError::invalid(
            item,
            field,
            format!("level {level} is outside {min}..={SKILL_LEVEL_MAX}"),
        ));
    }
    Ok(())
}

pub(crate) fn queue_label(q: &QueueDef) -> String {
    format!("queue {} '{}'", q.id, q.name)
}

pub(crate) fn agent_label(a: &AgentDef) -> String {
    format!("agent {} '{}'", a.id, a.name)
}

const MAX_TIMEOUT_MS: i64 = 24 * 3600 * 1000;
const MAX_WAITING_PER_QUEUE: u32 = 10_000_000;

/// Checks one queue against the registry (skills, teams, queues it names).
pub(crate) fn validate_queue(
    q: &QueueDef,
    reg: &dyn Registry,
    limits: &Limits,
) -> Result<(), ConfigError> {
    let item = queue_label(q);
    check_name(&item, &q.name, limits)?;
    if q.target.percent == 0 || q.target.percent > 100 {
        return Err(ConfigError::invalid(
            &item,
            "target.percent",
            format!("{}% is not within 1..=100", q.target.percent),
        ));
    }
    if q.target.within.0 <= 0 || q.target.within.0 > MAX_TIMEOUT_MS {
        return Err(ConfigError::invalid(
            &item,
            "target.within",
            "must be above 0 and at most 24 h",
        ));
    }
    if q.offer_timeout.0 <= 0 || q.offer_timeout.0 > MAX_TIMEOUT_MS {
        return Err(ConfigError::invalid(
            &item,
            "offer_timeout",
            "must be above 0 and at most 24 h",
        ));
    }
    if q.wrap_up.0 < 0 || q.wrap_up.0 > MAX_TIMEOUT_MS {
        return Err(ConfigError::invalid(
            &item,
            "wrap_up",
            "must be within 0..=24 h",
        ));
    }
    if q.max_waiting == 0 || q.max_waiting > MAX_WAITING_PER_QUEUE {
        return Err(ConfigError::invalid(
            &item,
            "max_waiting",
            format!("must be within 1..={MAX_WAITING_PER_QUEUE}"),
        ));
    }
    if q.priority.abs() > crate::engine::PRIORITY_LIMIT {
        return Err(ConfigError::invalid(
            &item,
            "priority",
            format!(
                "{} is beyond ±{}",
                q.priority,
                crate::engine::PRIORITY_LIMIT
            ),
        ));
    }
    if let Some(a) = q.aging {
        if a.max_boost > crate::engine::PRIORITY_LIMIT {
            return Err(ConfigError::invalid(
                &item,
                "aging",
                format!(
                    "max_boost {} is above {}",
                    a.max_boost,
                    crate::engine::PRIORITY_LIMIT
                ),
            ));
        }
        if a.every.0 <= 0 || a.max_boost < 0 {
            return Err(ConfigError::invalid(
                &item,
                "aging",
                "needs every > 0 and max_boost >= 0",
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for r in &q.requirements {
        if !reg.has_skill(r.skill) {
            return Err(ConfigError::UnknownSkill {
                item,
                skill: r.skill,
            });
        }
        if !seen.insert(r.skill) {
            return Err(ConfigError::invalid(
                &item,
                "requirements",
                format!("skill {} is listed twice", r.skill),
            ));
        }
        check_level(&item, "requirements", r.min_level, 1)?;
    }
    if q.requirements.len() > limits.max_contact_requirements as usize * 2 {
        return Err(ConfigError::invalid(
            &item,
            "requirements",
            "too many requirements",
        ));
    }
    if let Some(teams) = &q.teams {
        if teams.is_empty() {
            return Err(ConfigError::invalid(
                &item,
                "teams",
                "is an empty list (use no list for any team)",
            ));
        }
        for &t in teams {
            if !reg.has_team(t) {
                return Err(ConfigError::UnknownTeam { item, team: t });
            }
        }
    }
    if let WhenFull::Queue(target) = q.when_full {
        if target == q.id {
            return Err(ConfigError::invalid(
                &item,
                "when_full",
                "names the queue itself",
            ));
        }
        if !reg.has_queue(target) {
            return Err(ConfigError::UnknownQueue {
                item,
                queue: target,
            });
        }
    }
    if q.overflow.len() > limits.max_overflow_steps as usize {
        return Err(ConfigError::invalid(
            &item,
            "overflow",
            format!("more than {} steps", limits.max_overflow_steps),
        ));
    }
    let mut levels: BTreeMap<SkillId, SkillLevel> = q
        .requirements
        .iter()
        .map(|r| (r.skill, r.min_level))
        .collect();
    let mut prev_after = 0i64;
    for (i, step) in q.overflow.iter().enumerate() {
        let step_no = i + 1;
        if step.after.0 <= prev_after || step.after.0 > MAX_TIMEOUT_MS {
            return Err(ConfigError::OverflowOutOfOrder {
                item,
                step: step_no,
                after_ms: step.after.0,
            });
        }
        prev_after = step.after.0;
        let terminal = matches!(
            step.action,
            OverflowAction::Voicemail | OverflowAction::MoveToQueue(_)
        );
        if terminal && step_no != q.overflow.len() {
            return Err(ConfigError::invalid(
                &item,
                &format!("overflow step {step_no}"),
                "voicemail or a move to another queue must be the last step",
            ));
        }
        match &step.action {
            OverflowAction::RelaxSkill { skill, min_level } => {
                if !reg.has_skill(*skill) {
                    return Err(ConfigError::UnknownSkill {
                        item,
                        skill: *skill,
                    });
                }
                match levels.get_mut(skill) {
                    None => {
                        return Err(ConfigError::invalid(
                            &item,
                            &format!("overflow step {step_no}"),
                            format!("relaxes skill {skill}, which the queue does not require"),
                        ))
                    }
                    Some(cur) if *min_level >= *cur => {
                        return Err(ConfigError::invalid(
                            &item,
                            &format!("overflow step {step_no}"),
                            format!("relaxes skill {skill} to level {min_level}, not below the level {cur} already in force"),
                        ))
                    }
                    Some(cur) => *cur = *min_level,
                }
            }
            OverflowAction::AddTeams(teams) => {
                if teams.is_empty() {
                    return Err(ConfigError::invalid(
                        &item,
                        &format!("overflow step {step_no}"),
                        "adds no teams",
                    ));
                }
                for &t in teams {
                    if !reg.has_team(t) {
                        return Err(ConfigError::UnknownTeam { item, team: t });
                    }
                }
            }
            OverflowAction::MoveToQueue(target) => {
                if *target == q.id {
                    return Err(ConfigError::invalid(
                        &item,
                        &format!("overflow step {step_no}"),
                        "moves to the queue itself",
                    ));
                }
                if !reg.has_queue(*target) {
                    return Err(ConfigError::UnknownQueue {
                        item,
                        queue: *target,
                    });
                }
                // Follow the chain of final moves: it must not come back.
                let mut seen = BTreeSet::from([q.id]);
                let mut cur = *target;
                loop {
                    if !seen.insert(cur) {
                        return Err(ConfigError::OverflowCycle { item, via: cur });
                    }
                    match reg.move_target(cur) {
                        Some(next) => cur = next,
                        None => break,
                    }
                }
            }
            OverflowAction::AnyTeam | OverflowAction::OfferCallback | OverflowAction::Voicemail => {
            }
        }
    }
    Ok(())
}

pub(crate) fn validate_agent(
    a: &AgentDef,
    reg: &dyn Registry,
    limits: &Limits,
) -> Result<(), ConfigError> {
    let item = agent_label(a);
    check_name(&item, &a.name, limits)?;
    if !reg.has_team(a.team) {
        return Err(ConfigError::UnknownTeam { item, team: a.team });
    }
    if !reg.has_site(a.site) {
        return Err(ConfigError::UnknownSite { item, site: a.site });
    }
    if a.skills.len() > limits.max_skills_per_agent as usize {
        return Err(ConfigError::invalid(
            &item,
            "skills",
            format!("more than {} skills", limits.max_skills_per_agent),
        ));
    }
    let mut seen = BTreeSet::new();
    for &(s, level) in &a.skills {
        if !reg.has_skill(s) {
            return Err(ConfigError::UnknownSkill { item, skill: s });
        }
        if !seen.insert(s) {
            return Err(ConfigError::invalid(
                &item,
                "skills",
                format!("skill {s} is listed twice"),
            ));
        }
        check_level(&item, "skills", level, 1)?;
    }
    let cap = a.capacity.as_array();
    if cap.iter().all(|&c| c == 0) {
        return Err(ConfigError::ZeroCapacity { item });
    }
    if let Some(m) = Media::ALL
        .iter()
        .find(|m| cap[m.index()] > limits.max_capacity_per_media)
    {
        return Err(ConfigError::invalid(
            &item,
            "capacity",
            format!("{m} capacity above {}", limits.max_capacity_per_media),
        ));
    }
    Ok(())
}

/// A config being validated as a whole answers look-ups from itself.
struct ConfigRegistry<'a> {
    skills: BTreeSet<SkillId>,
    teams: BTreeSet<TeamId>,
    sites: BTreeSet<SiteId>,
    queues: BTreeMap<QueueId, &'a QueueDef>,
}

impl Registry for ConfigRegistry<'_> {
    fn has_skill(&self, s: SkillId) -> bool {
        self.skills.contains(&s)
    }
    fn has_team(&self, t: TeamId) -> bool {
        self.teams.contains(&t)
    }
    fn has_site(&self, s: SiteId) -> bool {
        self.sites.contains(&s)
    }
    fn has_queue(&self, q: QueueId) -> bool {
        self.queues.contains_key(&q)
    }
    fn move_target(&self, q: QueueId) -> Option<QueueId> {
        self.queues.get(&q).and_then(|d| final_move(d))
    }
}

pub(crate) fn final_move(q: &QueueDef) -> Option<QueueId> {
    match q.overflow.last().map(|s| &s.action) {
        Some(OverflowAction::MoveToQueue(t)) => Some(*t),
        _ => None,
    }
}

fn unique<K: Ord + Copy>(
    kind: &'static str,
    ids: impl Iterator<Item = K>,
    show: impl Fn(K) -> String,
    limit: u32,
) -> Result<BTreeSet<K>, ConfigError> {
    let mut set = BTreeSet::new();
    for id in ids {
        if !set.insert(id) {
            return Err(ConfigError::DuplicateId { kind, id: show(id) });
        }
    }
    if set.len() > limit as usize {
        return Err(ConfigError::TooMany { kind, limit });
    }
    Ok(set)
}

impl Config {
    /// Checks the whole configuration; the first problem found is returned,
    /// naming the item.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        let skills = unique(
            "skill",
            self.skills.iter().map(|s| s.id),
            |i| i.to_string(),
            l.max_skills,
        )?;
        let teams = unique(
            "team",
            self.teams.iter().map(|s| s.id),
            |i| i.to_string(),
            l.max_teams,
        )?;
        let sites = unique(
            "site",
            self.sites.iter().map(|s| s.id),
            |i| i.to_string(),
            l.max_sites,
        )?;
        unique(
            "queue",
            self.queues.iter().map(|s| s.id),
            |i| i.to_string(),
            l.max_queues,
        )?;
        unique(
            "agent",
            self.agents.iter().map(|s| s.id),
            |i| i.to_string(),
            l.max_agents,
        )?;
        for s in &self.skills {
            check_name(&format!("skill {}", s.id), &s.name, l)?;
        }
        for t in &self.teams {
            check_name(&format!("team {}", t.id), &t.name, l)?;
        }
        for s in &self.sites {
            check_name(&format!("site {}", s.id), &s.name, l)?;
        }
        let reg = ConfigRegistry {
            skills,
            teams,
            sites,
            queues: self.queues.iter().map(|q| (q.id, q)).collect(),
        };
        for q in &self.queues {
            validate_queue(q, &reg, l)?;
        }
        for a in &self.agents {
            validate_agent(a, &reg, l)?;
        }
        Ok(())
    }
}
