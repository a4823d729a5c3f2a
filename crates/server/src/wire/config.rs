//! The routing configuration as the API reads and writes it.

use super::*;

macro_rules! named {
    ($($(#[$m:meta])* $name:ident),*) => {$(
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub id: u32,
            pub name: String,
        }
    )*};
}

named!(
    /// A skill queues require and agents have, by level.
    SkillDef,
    /// A team of agents (queues may serve only some teams).
    TeamDef,
    /// A site agents work at (a site can go off the air).
    SiteDef
);

/// A queue's skill requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillReq {
    pub skill: u32,
    #[schemars(range(max = 10))]
    pub min_level: u8,
}

/// The service level: `percent` answered within `within` milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceTarget {
    pub within: i64,
    #[schemars(range(max = 100))]
    pub percent: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    LongestIdle,
    MostSkilled,
    LeastOccupied,
    RoundRobin,
}

/// Priority grows by one every `every` milliseconds, up to `max_boost`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Aging {
    pub every: i64,
    pub max_boost: i32,
}

/// What happens to a new contact when the queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    Reject,
    Voicemail,
    Queue(u32),
}

/// After `after` milliseconds of waiting, `action`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverflowStep {
    pub after: i64,
    pub action: OverflowAction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverflowAction {
    RelaxSkill { skill: u32, min_level: u8 },
    AddTeams(Vec<u32>),
    AnyTeam,
    OfferCallback,
    Voicemail,
    MoveToQueue(u32),
}

/// A queue: priority, target, requirements, overflow, limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueDef {
    pub id: u32,
    pub name: String,
    pub priority: i32,
    pub target: ServiceTarget,
    pub requirements: Vec<SkillReq>,
    /// Only these teams may answer; none: any.
    pub teams: Option<Vec<u32>>,
    pub overflow: Vec<OverflowStep>,
    pub strategy: Strategy,
    pub aging: Option<Aging>,
    /// An offer not accepted in this many milliseconds goes elsewhere.
    pub offer_timeout: i64,
    /// Milliseconds of wrap-up after each contact.
    pub wrap_up: i64,
    pub max_waiting: u32,
    pub when_full: WhenFull,
    /// Answered by clinicians: contacts answered here count as clinically
    /// assessed (the clinical KPIs).
    #[serde(default)]
    pub clinical: bool,
}

/// How many contacts of each medium an agent takes at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    pub voice: u8,
    pub chat: u8,
    pub email: u8,
    pub sms: u8,
    /// A call takes the agent whole.
    pub voice_exclusive: bool,
}

/// An agent: team, site, skills `[[skill, level], ...]`, capacity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentDef {
    pub id: u32,
    pub name: String,
    pub team: u32,
    pub site: u32,
    pub skills: Vec<(u32, u8)>,
    pub capacity: Capacity,
    #[serde(default)]
    pub auto_answer: bool,
}

/// The configuration's limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Limits {
    pub max_live_contacts: u32,
    pub max_agents: u32,
    pub max_queues: u32,
    pub max_skills: u32,
    pub max_teams: u32,
    pub max_sites: u32,
    pub max_contact_requirements: u32,
    pub max_contact_attributes: u32,
    pub max_attribute_bytes: u32,
    pub max_overflow_steps: u32,
    pub max_skills_per_agent: u32,
    pub max_directed_per_agent: u32,
    pub max_capacity_per_media: u8,
    pub max_name_bytes: u32,
}

/// The routing configuration in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Config {
    pub limits: Limits,
    pub skills: Vec<SkillDef>,
    pub teams: Vec<TeamDef>,
    pub sites: Vec<SiteDef>,
    pub queues: Vec<QueueDef>,
    pub agents: Vec<AgentDef>,
}

impl From<&routing::Config> for Config {
    fn from(c: &routing::Config) -> Config {
        let l = &c.limits;
        Config {
            limits: Limits {
                max_live_contacts: l.max_live_contacts,
                max_agents: l.max_agents,
                max_queues: l.max_queues,
                max_skills: l.max_skills,
                max_teams: l.max_teams,
                max_sites: l.max_sites,
                max_contact_requirements: l.max_contact_requirements,
                max_contact_attributes: l.max_contact_attributes,
                max_attribute_bytes: l.max_attribute_bytes,
                max_overflow_steps: l.max_overflow_steps,
                max_skills_per_agent: l.max_skills_per_agent,
                max_directed_per_agent: l.max_directed_per_agent,
                max_capacity_per_media: l.max_capacity_per_media,
                max_name_bytes: l.max_name_bytes,
            },
            skills: c
                .skills
                .iter()
                .map(|s| SkillDef {
                    id: s.id.0,
                    name: s.name.clone(),
                })
                .collect(),
            teams: c
                .teams
                .iter()
                .map(|s| TeamDef {
                    id: s.id.0,
                    name: s.name.clone(),
                })
                .collect(),
            sites: c
                .sites
                .iter()
                .map(|s| SiteDef {
                    id: s.id.0,
                    name: s.name.clone(),
                })
                .collect(),
            queues: c.queues.iter().map(QueueDef::from).collect(),
            agents: c.agents.iter().map(AgentDef::from).collect(),
        }
    }
}

impl From<&routing::QueueDef> for QueueDef {
    fn from(q: &routing::QueueDef) -> QueueDef {
        use routing::{OverflowAction as O, Strategy as S, WhenFull as W};
        QueueDef {
            id: q.id.0,
            name: q.name.clone(),
            priority: q.priority,
            target: ServiceTarget {
                within: q.target.within.0,
                percent: q.target.percent,
            },
            requirements: q
                .requirements
                .iter()
                .map(|r| SkillReq {
                    skill: r.skill.0,
                    min_level: r.min_level,
                })
                .collect(),
            teams: q.teams.as_ref().map(|t| t.iter().map(|t| t.0).collect()),
            overflow: q
                .overflow
                .iter()
                .map(|s| OverflowStep {
                    after: s.after.0,
                    action: match &s.action {
                        O::RelaxSkill { skill, min_level } => OverflowAction::RelaxSkill {
                            skill: skill.0,
                            min_level: *min_level,
                        },
                        O::AddTeams(t) => OverflowAction::AddTeams(t.iter().map(|t| t.0).collect()),
                        O::AnyTeam => OverflowAction::AnyTeam,
                        O::OfferCallback => OverflowAction::OfferCallback,
                        O::Voicemail => OverflowAction::Voicemail,
                        O::MoveToQueue(x) => OverflowAction::MoveToQueue(x.0),
                    },
                })
                .collect(),
            strategy: match q.strategy {
                S::LongestIdle => Strategy::LongestIdle,
                S::MostSkilled => Strategy::MostSkilled,
                S::LeastOccupied => Strategy::LeastOccupied,
                S::RoundRobin => Strategy::RoundRobin,
            },
            aging: q.aging.map(|a| Aging {
                every: a.every.0,
                max_boost: a.max_boost,
            }),
            offer_timeout: q.offer_timeout.0,
            wrap_up: q.wrap_up.0,
            max_waiting: q.max_waiting,
            when_full: match q.when_full {
                W::Reject => WhenFull::Reject,
                W::Voicemail => WhenFull::Voicemail,
                W::Queue(x) => WhenFull::Queue(x.0),
            },
            clinical: q.clinical,
        }
    }
}

impl From<QueueDef> for routing::QueueDef {
    fn from(q: QueueDef) -> routing::QueueDef {
        use routing::{OverflowAction as O, Strategy as S, WhenFull as W};
        routing::QueueDef {
            id: QueueId(q.id),
            name: q.name,
            priority: q.priority,
            target: routing::ServiceTarget {
                within: DurationMs(q.target.within),
                percent: q.target.percent,
            },
            requirements: q
                .requirements
                .iter()
                .map(|r| routing::SkillReq {
                    skill: SkillId(r.skill),
                    min_level: r.min_level,
                })
                .collect(),
            teams: q.teams.map(|t| t.into_iter().map(TeamId).collect()),
            overflow: q
                .overflow
                .into_iter()
                .map(|s| routing::OverflowStep {
                    after: DurationMs(s.after),
                    action: match s.action {
                        OverflowAction::RelaxSkill { skill, min_level } => O::RelaxSkill {
                            skill: SkillId(skill),
                            min_level,
                        },
                        OverflowAction::AddTeams(t) => {
                            O::AddTeams(t.into_iter().map(TeamId).collect())
                        }
                        OverflowAction::AnyTeam => O::AnyTeam,
                        OverflowAction::OfferCallback => O::OfferCallback,
                        OverflowAction::Voicemail => O::Voicemail,
                        OverflowAction::MoveToQueue(x) => O::MoveToQueue(QueueId(x)),
                    },
                })
                .collect(),
            strategy: match q.strategy {
                Strategy::LongestIdle => S::LongestIdle,
                Strategy::MostSkilled => S::MostSkilled,
                Strategy::LeastOccupied => S::LeastOccupied,
                Strategy::RoundRobin => S::RoundRobin,
            },
            aging: q.aging.map(|a| routing::Aging {
                every: DurationMs(a.every),
                max_boost: a.max_boost,
            }),
            offer_timeout: DurationMs(q.offer_timeout),
            wrap_up: DurationMs(q.wrap_up),
            max_waiting: q.max_waiting,
            when_full: match q.when_full {
                WhenFull::Reject => W::Reject,
                WhenFull::Voicemail => W::Voicemail,
                WhenFull::Queue(x) => W::Queue(QueueId(x)),
            },
            clinical: q.clinical,
        }
    }
}

impl From<&routing::AgentDef> for AgentDef {
    fn from(a: &routing::AgentDef) -> AgentDef {
        let c = a.capacity;
        AgentDef {
            id: a.id.0,
            name: a.name.clone(),
            team: a.team.0,
            site: a.site.0,
            skills: a.skills.iter().map(|(s, l)| (s.0, *l)).collect(),
            capacity: Capacity {
                voice: c.voice,
                chat: c.chat,
                email: c.email,
                sms: c.sms,
                voice_exclusive: c.voice_exclusive,
            },
            auto_answer: a.auto_answer,
        }
    }
}

impl From<AgentDef> for routing::AgentDef {
    fn from(a: AgentDef) -> routing::AgentDef {
        let c = a.capacity;
        routing::AgentDef {
            id: AgentId(a.id),
            name: a.name,
            team: TeamId(a.team),
            site: SiteId(a.site),
            skills: a.skills.into_iter().map(|(s, l)| (SkillId(s), l)).collect(),
            capacity: routing::Capacity {
                voice: c.voice,
                chat: c.chat,
                email: c.email,
                sms: c.sms,
                voice_exclusive: c.voice_exclusive,
            },
            auto_answer: a.auto_answer,
        }
    }
}
