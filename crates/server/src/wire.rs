//! The API's own types: what goes over the wire, separate from the engine's
//! types. Each engine type a request or an answer carries has its mirror
//! here, with the conversion; the OpenAPI document's schemas are derived
//! from these types (schemars), so the document says what the server
//! really sends and accepts. An engine change that would change the API
//! stops at a conversion here instead of reaching clients unnoticed; the
//! tests pin the mirrors to the engine's serialisation so the wire does not
//! change by accident either.

use model::{AgentId, ContactId, DurationMs, QueueId, SiteId, SkillId, TeamId, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// The id of what was created.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Created {
    pub id: u32,
}

/// A failure: what was wrong, in words.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    pub error: String,
}

/// An input made durable: the engine's decisions, in order.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Submitted {
    /// The id the server chose for a new contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub events: Vec<Record>,
}

/// One event with its time and its place in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Record {
    pub seq: u64,
    pub at: Millis,
    pub event: Event,
}

impl From<&routing::Record> for Record {
    fn from(r: &routing::Record) -> Record {
        Record {
            seq: r.seq,
            at: r.at.0,
            event: Event::from(&r.event),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Voice,
    Chat,
    Email,
    Sms,
    Callback,
    Outbound,
}

impl From<model::Channel> for Channel {
    fn from(c: model::Channel) -> Channel {
        use model::Channel as C;
        match c {
            C::Voice => Channel::Voice,
            C::Chat => Channel::Chat,
            C::Email => Channel::Email,
            C::Sms => Channel::Sms,
            C::Callback => Channel::Callback,
            C::Outbound => Channel::Outbound,
        }
    }
}

impl From<Channel> for model::Channel {
    fn from(c: Channel) -> model::Channel {
        use model::Channel as C;
        match c {
            Channel::Voice => C::Voice,
            Channel::Chat => C::Chat,
            Channel::Email => C::Email,
            Channel::Sms => C::Sms,
            Channel::Callback => C::Callback,
            Channel::Outbound => C::Outbound,
        }
    }
}

/// Why an agent is not ready.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotReadyReason {
    Break,
    Lunch,
    Training,
    Meeting,
    Admin,
    MissedOffer,
    Declined,
    Other(String),
}

/// `"offline"`, `"ready"` or `{"not_ready": reason}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Offline,
    Ready,
    NotReady(NotReadyReason),
}

impl From<&routing::Presence> for Presence {
    fn from(p: &routing::Presence) -> Presence {
        use routing::NotReadyReason as N;
        match p {
            routing::Presence::Offline => Presence::Offline,
            routing::Presence::Ready => Presence::Ready,
            routing::Presence::NotReady(r) => Presence::NotReady(match r {
                N::Break => NotReadyReason::Break,
                N::Lunch => NotReadyReason::Lunch,
                N::Training => NotReadyReason::Training,
                N::Meeting => NotReadyReason::Meeting,
                N::Admin => NotReadyReason::Admin,
                N::MissedOffer => NotReadyReason::MissedOffer,
                N::Declined => NotReadyReason::Declined,
                N::Other(s) => NotReadyReason::Other(s.clone()),
            }),
        }
    }
}

impl From<Presence> for routing::Presence {
    fn from(p: Presence) -> routing::Presence {
        use routing::NotReadyReason as N;
        match p {
            Presence::Offline => routing::Presence::Offline,
            Presence::Ready => routing::Presence::Ready,
            Presence::NotReady(r) => routing::Presence::NotReady(match r {
                NotReadyReason::Break => N::Break,
                NotReadyReason::Lunch => N::Lunch,
                NotReadyReason::Training => N::Training,
                NotReadyReason::Meeting => N::Meeting,
                NotReadyReason::Admin => N::Admin,
                NotReadyReason::MissedOffer => N::MissedOffer,
                NotReadyReason::Declined => N::Declined,
                NotReadyReason::Other(s) => N::Other(s),
            }),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    /// The agent stays until the other side accepts.
    Warm,
    /// The contact goes at once.
    Cold,
}

impl From<routing::TransferMode> for TransferMode {
    fn from(m: routing::TransferMode) -> TransferMode {
        match m {
            routing::TransferMode::Warm => TransferMode::Warm,
            routing::TransferMode::Cold => TransferMode::Cold,
        }
    }
}

impl From<TransferMode> for routing::TransferMode {
    fn from(m: TransferMode) -> routing::TransferMode {
        match m {
            TransferMode::Warm => routing::TransferMode::Warm,
            TransferMode::Cold => routing::TransferMode::Cold,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferTarget {
    Queue(u32),
    Agent(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    Abandoned,
    AgentUnavailable,
    SiteOffAir,
    TransferCancelled,
    Reconfigured,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MoveReason {
    Overflow,
    QueueFull,
    QueueRemoved,
    Transfer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoicemailReason {
    Overflow,
    QueueFull,
}

/// What the engine decided (ids are numbers; times are milliseconds since
/// the Unix epoch; durations are milliseconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Arrived {
        contact: u64,
        queue: u32,
        channel: Channel,
        priority: i32,
    },
    CallbackScheduled {
        contact: u64,
        queue: u32,
        due_at: Millis,
    },
    Queued {
        contact: u64,
        queue: u32,
        step: u8,
        for_agent: Option<u32>,
    },
    OverflowStep {
        contact: u64,
        queue: u32,
        step: u8,
    },
    CallbackOffered {
        contact: u64,
        queue: u32,
    },
    CallbackRequested {
        contact: u64,
        queue: u32,
    },
    PriorityChanged {
        contact: u64,
        from: i32,
        to: i32,
    },
    Moved {
        contact: u64,
        from: u32,
        to: u32,
        reason: MoveReason,
    },
    Offered {
        contact: u64,
        agent: u32,
        queue: u32,
        expires_at: Millis,
    },
    Answered {
        contact: u64,
        agent: u32,
        queue: u32,
        channel: Channel,
        waited: i64,
    },
    OfferRejected {
        contact: u64,
        agent: u32,
    },
    OfferTimedOut {
        contact: u64,
        agent: u32,
    },
    OfferWithdrawn {
        contact: u64,
        agent: u32,
        reason: WithdrawReason,
    },
    HoldStarted {
        contact: u64,
        agent: u32,
    },
    HoldEnded {
        contact: u64,
        agent: u32,
    },
    TransferRequested {
        contact: u64,
        from: u32,
        to: TransferTarget,
        mode: TransferMode,
    },
    Transferred {
        contact: u64,
        from: u32,
        to: u32,
        queue: u32,
        mode: TransferMode,
    },
    TransferCancelled {
        contact: u64,
        queue: u32,
    },
    Ended {
        contact: u64,
        agent: u32,
        queue: u32,
    },
    Abandoned {
        contact: u64,
        queue: u32,
        waited: i64,
    },
    Cancelled {
        contact: u64,
        queue: u32,
    },
    Voicemail {
        contact: u64,
        queue: u32,
        reason: VoicemailReason,
    },
    Refused {
        contact: u64,
        queue: u32,
    },
    WrapUpStarted {
        agent: u32,
        contact: u64,
        until: Millis,
    },
    WrapUpEnded {
        agent: u32,
        contact: u64,
    },
    PresenceChanged {
        agent: u32,
        presence: Presence,
    },
    SiteOnAir {
        site: u32,
        on_air: bool,
    },
    Reconfigured {
        what: String,
    },
}

fn wr(r: routing::WithdrawReason) -> WithdrawReason {
    use routing::WithdrawReason as W;
    match r {
        W::Abandoned => WithdrawReason::Abandoned,
        W::AgentUnavailable => WithdrawReason::AgentUnavailable,
        W::SiteOffAir => WithdrawReason::SiteOffAir,
        W::TransferCancelled => WithdrawReason::TransferCancelled,
        W::Reconfigured => WithdrawReason::Reconfigured,
    }
}

fn mr(r: routing::MoveReason) -> MoveReason {
    use routing::MoveReason as M;
    match r {
        M::Overflow => MoveReason::Overflow,
        M::QueueFull => MoveReason::QueueFull,
        M::QueueRemoved => MoveReason::QueueRemoved,
        M::Transfer => MoveReason::Transfer,
    }
}

impl From<&routing::Event> for Event {
    fn from(e: &routing::Event) -> Event {
        use routing::Event as E;
        let (c, a, q) = (|c: ContactId| c.0, |a: AgentId| a.0, |q: QueueId| q.0);
        match e.clone() {
            E::Arrived {
                contact,
                queue,
                channel,
                priority,
            } => Event::Arrived {
                contact: c(contact),
                queue: q(queue),
                channel: channel.into(),
                priority,
            },
            E::CallbackScheduled {
                contact,
                queue,
                due_at,
            } => Event::CallbackScheduled {
                contact: c(contact),
                queue: q(queue),
                due_at: due_at.0,
            },
            E::Queued {
                contact,
                queue,
                step,
                for_agent,
            } => Event::Queued {
                contact: c(contact),
                queue: q(queue),
                step,
                for_agent: for_agent.map(a),
            },
            E::OverflowStep {
                contact,
                queue,
                step,
            } => Event::OverflowStep {
                contact: c(contact),
                queue: q(queue),
                step,
            },
            E::CallbackOffered { contact, queue } => Event::CallbackOffered {
                contact: c(contact),
                queue: q(queue),
            },
            E::CallbackRequested { contact, queue } => Event::CallbackRequested {
                contact: c(contact),
                queue: q(queue),
            },
            E::PriorityChanged { contact, from, to } => Event::PriorityChanged {
                contact: c(contact),
                from,
                to,
            },
            E::Moved {
                contact,
                from,
                to,
                reason,
            } => Event::Moved {
                contact: c(contact),
                from: q(from),
                to: q(to),
                reason: mr(reason),
            },
            E::Offered {
                contact,
                agent,
                queue,
                expires_at,
            } => Event::Offered {
                contact: c(contact),
                agent: a(agent),
                queue: q(queue),
                expires_at: expires_at.0,
            },
            E::Answered {
                contact,
                agent,
                queue,
                channel,
                waited,
            } => Event::Answered {
                contact: c(contact),
                agent: a(agent),
                queue: q(queue),
                channel: channel.into(),
                waited: waited.0,
            },
            E::OfferRejected { contact, agent } => Event::OfferRejected {
                contact: c(contact),
                agent: a(agent),
            },
            E::OfferTimedOut { contact, agent } => Event::OfferTimedOut {
                contact: c(contact),
                agent: a(agent),
            },
            E::OfferWithdrawn {
                contact,
                agent,
                reason,
            } => Event::OfferWithdrawn {
                contact: c(contact),
                agent: a(agent),
                reason: wr(reason),
            },
            E::HoldStarted { contact, agent } => Event::HoldStarted {
                contact: c(contact),
                agent: a(agent),
            },
            E::HoldEnded { contact, agent } => Event::HoldEnded {
                contact: c(contact),
                agent: a(agent),
            },
            E::TransferRequested {
                contact,
                from,
                to,
                mode,
            } => Event::TransferRequested {
                contact: c(contact),
                from: a(from),
                to: match to {
                    routing::TransferTarget::Queue(x) => TransferTarget::Queue(x.0),
                    routing::TransferTarget::Agent(x) => TransferTarget::Agent(x.0),
                },
                mode: mode.into(),
            },
            E::Transferred {
                contact,
                from,
                to,
                queue,
                mode,
            } => Event::Transferred {
                contact: c(contact),
                from: a(from),
                to: a(to),
                queue: q(queue),
                mode: mode.into(),
            },
            E::TransferCancelled { contact, queue } => Event::TransferCancelled {
                contact: c(contact),
                queue: q(queue),
            },
            E::Ended {
                contact,
                agent,
                queue,
            } => Event::Ended {
                contact: c(contact),
                agent: a(agent),
                queue: q(queue),
            },
            E::Abandoned {
                contact,
                queue,
                waited,
            } => Event::Abandoned {
                contact: c(contact),
                queue: q(queue),
                waited: waited.0,
            },
            E::Cancelled { contact, queue } => Event::Cancelled {
                contact: c(contact),
                queue: q(queue),
            },
            E::Voicemail {
                contact,
                queue,
                reason,
            } => Event::Voicemail {
                contact: c(contact),
                queue: q(queue),
                reason: match reason {
                    routing::VoicemailReason::Overflow => VoicemailReason::Overflow,
                    routing::VoicemailReason::QueueFull => VoicemailReason::QueueFull,
                },
            },
            E::Refused { contact, queue } => Event::Refused {
                contact: c(contact),
                queue: q(queue),
            },
            E::WrapUpStarted {
                agent,
                contact,
                until,
            } => Event::WrapUpStarted {
                agent: a(agent),
                contact: c(contact),
                until: until.0,
            },
            E::WrapUpEnded { agent, contact } => Event::WrapUpEnded {
                agent: a(agent),
                contact: c(contact),
            },
            E::PresenceChanged { agent, presence } => Event::PresenceChanged {
                agent: a(agent),
                presence: Presence::from(&presence),
            },
            E::SiteOnAir { site, on_air } => Event::SiteOnAir {
                site: site.0,
                on_air,
            },
            E::Reconfigured { what } => Event::Reconfigured { what },
        }
    }
}

// --- the routing configuration ------------------------------------------

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

// --- what is happening now -----------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Media {
    Voice,
    Chat,
    Email,
    Sms,
}

impl From<model::Media> for Media {
    fn from(m: model::Media) -> Media {
        match m {
            model::Media::Voice => Media::Voice,
            model::Media::Chat => Media::Chat,
            model::Media::Email => Media::Email,
            model::Media::Sms => Media::Sms,
        }
    }
}

/// Where a contact is: scheduled, waiting (for anyone or one agent),
/// offered to an agent, or with one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactState {
    Scheduled { due_at: Millis },
    Waiting,
    WaitingForAgent(u32),
    Offered(u32),
    InProgress { agent: u32, on_hold: bool },
}

impl From<&routing::ContactState> for ContactState {
    fn from(s: &routing::ContactState) -> ContactState {
        use routing::ContactState as S;
        match s {
            S::Scheduled { due_at } => ContactState::Scheduled { due_at: due_at.0 },
            S::Waiting => ContactState::Waiting,
            S::WaitingForAgent(a) => ContactState::WaitingForAgent(a.0),
            S::Offered(a) => ContactState::Offered(a.0),
            S::InProgress { agent, on_hold } => ContactState::InProgress {
                agent: agent.0,
                on_hold: *on_hold,
            },
        }
    }
}

/// A live contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Contact {
    pub id: u64,
    pub queue: u32,
    pub channel: Channel,
    pub priority: i32,
    /// With ageing.
    pub effective_priority: i32,
    pub arrived_at: Millis,
    pub entered_queue_at: Millis,
    /// Overflow steps taken.
    pub step: u8,
    pub state: ContactState,
    /// Where routing has it (while with an agent: where a transfer is).
    pub routing: ContactState,
    pub transfer_pending: bool,
    pub answered: bool,
    /// `[[name, value], ...]`: reference, caller, entry point, ...
    pub attributes: Vec<(String, String)>,
}

impl From<&routing::ContactView> for Contact {
    fn from(v: &routing::ContactView) -> Contact {
        Contact {
            id: v.id.0,
            queue: v.queue.0,
            channel: v.channel.into(),
            priority: v.priority,
            effective_priority: v.effective_priority,
            arrived_at: v.arrived_at.0,
            entered_queue_at: v.entered_queue_at.0,
            step: v.step,
            state: (&v.state).into(),
            routing: (&v.routing).into(),
            transfer_pending: v.transfer_pending,
            answered: v.answered,
            attributes: v.attributes.clone(),
        }
    }
}

/// An agent's status as routing sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Offline,
    Available,
    Reserved,
    Busy,
    WrapUp,
    NotReady(NotReadyReason),
}

impl From<&routing::AgentStatus> for AgentStatus {
    fn from(s: &routing::AgentStatus) -> AgentStatus {
        use routing::AgentStatus as S;
        match s {
            S::Offline => AgentStatus::Offline,
            S::Available => AgentStatus::Available,
            S::Reserved => AgentStatus::Reserved,
            S::Busy => AgentStatus::Busy,
            S::WrapUp => AgentStatus::WrapUp,
            S::NotReady(r) => match Presence::from(&routing::Presence::NotReady(r.clone())) {
                Presence::NotReady(r) => AgentStatus::NotReady(r),
                _ => unreachable!("not ready stays not ready"),
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkPhase {
    Offered,
    Active,
    WrapUp { until: Millis },
}

/// One contact in an agent's hands: `[contact, medium, phase]`.
pub type Work = (u64, Media, WorkPhase);

pub fn work(w: &[(ContactId, model::Media, routing::WorkPhase)]) -> Vec<Work> {
    w.iter()
        .map(|(c, m, p)| {
            let p = match p {
                routing::WorkPhase::Offered => WorkPhase::Offered,
                routing::WorkPhase::Active => WorkPhase::Active,
                routing::WorkPhase::WrapUp { until } => WorkPhase::WrapUp { until: until.0 },
            };
            (c.0, (*m).into(), p)
        })
        .collect()
}

// --- names the server reads ---------------------------------------------
//
// Enumerations of the core that requests carry: their schemas (requests
// read them into the core's own types; the tests check both spell every
// name alike).

/// What a person is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Clinician,
    Supervisor,
    Admin,
    Auditor,
    /// An integration token's (not an account's).
    Integration,
}

/// What an integration token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Contacts,
    Patients,
    Directory,
}

/// A service's capacity: red, amber or green.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rag {
    Green,
    Amber,
    Red,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

impl From<dos::Rag> for Rag {
    fn from(r: dos::Rag) -> Rag {
        match r {
            dos::Rag::Green => Rag::Green,
            dos::Rag::Amber => Rag::Amber,
            dos::Rag::Red => Rag::Red,
        }
    }
}

impl From<Rag> for dos::Rag {
    fn from(r: Rag) -> dos::Rag {
        match r {
            Rag::Green => dos::Rag::Green,
            Rag::Amber => dos::Rag::Amber,
            Rag::Red => dos::Rag::Red,
        }
    }
}

impl From<Sex> for dos::Sex {
    fn from(s: Sex) -> dos::Sex {
        match s {
            Sex::Male => dos::Sex::Male,
            Sex::Female => dos::Sex::Female,
        }
    }
}

impl From<Role> for app::auth::Role {
    fn from(r: Role) -> app::auth::Role {
        use app::auth::Role as R;
        match r {
            Role::Agent => R::Agent,
            Role::Clinician => R::Clinician,
            Role::Supervisor => R::Supervisor,
            Role::Admin => R::Admin,
            Role::Auditor => R::Auditor,
            Role::Integration => R::Integration,
        }
    }
}

impl From<app::auth::Role> for Role {
    fn from(r: app::auth::Role) -> Role {
        use app::auth::Role as R;
        match r {
            R::Agent => Role::Agent,
            R::Clinician => Role::Clinician,
            R::Supervisor => Role::Supervisor,
            R::Admin => Role::Admin,
            R::Auditor => Role::Auditor,
            R::Integration => Role::Integration,
        }
    }
}

impl From<Scope> for app::auth::Scope {
    fn from(s: Scope) -> app::auth::Scope {
        use app::auth::Scope as S;
        match s {
            Scope::Contacts => S::Contacts,
            Scope::Patients => S::Patients,
            Scope::Directory => S::Directory,
        }
    }
}

impl From<app::auth::Scope> for Scope {
    fn from(s: app::auth::Scope) -> Scope {
        use app::auth::Scope as S;
        match s {
            S::Contacts => Scope::Contacts,
            S::Patients => Scope::Patients,
            S::Directory => Scope::Directory,
        }
    }
}

/// The NHS Directory of Services' own CheckCapacitySummary answer (its
/// schema is the NHS's; the DoS crate's tests hold its samples).
#[derive(Serialize)]
#[serde(transparent)]
pub struct DosShape(pub dos::DosResponse);

impl JsonSchema for DosShape {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CheckCapacitySummary".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "The NHS DoS CheckCapacitySummary response shape",
            "required": ["CheckCapacitySummaryResult"],
            "properties": {
                "CheckCapacitySummaryResult": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["idField", "nameField", "postcodeField", "serviceTypeField"],
                        "properties": {
                            "idField": { "type": "integer" },
                            "nameField": { "type": "string" },
                            "postcodeField": { "type": "string" },
                            "serviceTypeField": { "type": "object" },
                        },
                    },
                },
            },
        })
    }
}

/// A ten-digit NHS number with a valid check digit.
#[derive(JsonSchema)]
#[schemars(transparent)]
pub struct NhsNumber(#[schemars(regex(pattern = r"^[0-9]{10}$"))] pub String);

/// A phone number, E.164 or UK national.
#[derive(JsonSchema)]
#[schemars(transparent)]
pub struct PhoneNumber(#[schemars(length(min = 1, max = 32))] pub String);

// --- KPIs ------------------------------------------------------------------

/// What happened in a period: contacts offered, answered, abandoned, and
/// the time spent (milliseconds). See `kpi::Counts` for each definition.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Counts {
    pub offered: u64,
    pub answered: u64,
    pub answered_within_target: u64,
    pub abandoned: u64,
    pub abandoned_short: u64,
    pub abandoned_under_30s: u64,
    pub abandoned_30_to_60s: u64,
    pub abandoned_over_60s: u64,
    pub abandoned_after_target: u64,
    pub voicemail: u64,
    pub refused: u64,
    pub wait_ms_answered_total: u64,
    pub handled: u64,
    pub talk_ms: u64,
    pub hold_ms: u64,
    pub wrap_ms: u64,
    pub callbacks_requested: u64,
    pub callbacks_made: u64,
    pub callbacks_made_within_target: u64,
    pub transfers_warm: u64,
    pub transfers_cold: u64,
    pub clinical: u64,
    pub completed: u64,
    pub completed_first_contact: u64,
    pub busy_ms: u64,
    pub idle_ms: u64,
    pub not_ready_ms: u64,
}

impl From<&kpi::Counts> for Counts {
    fn from(c: &kpi::Counts) -> Counts {
        Counts {
            offered: c.offered,
            answered: c.answered,
            answered_within_target: c.answered_within_target,
            abandoned: c.abandoned,
            abandoned_short: c.abandoned_short,
            abandoned_under_30s: c.abandoned_under_30s,
            abandoned_30_to_60s: c.abandoned_30_to_60s,
            abandoned_over_60s: c.abandoned_over_60s,
            abandoned_after_target: c.abandoned_after_target,
            voicemail: c.voicemail,
            refused: c.refused,
            wait_ms_answered_total: c.wait_ms_answered_total,
            handled: c.handled,
            talk_ms: c.talk_ms,
            hold_ms: c.hold_ms,
            wrap_ms: c.wrap_ms,
            callbacks_requested: c.callbacks_requested,
            callbacks_made: c.callbacks_made,
            callbacks_made_within_target: c.callbacks_made_within_target,
            transfers_warm: c.transfers_warm,
            transfers_cold: c.transfers_cold,
            clinical: c.clinical,
            completed: c.completed,
            completed_first_contact: c.completed_first_contact,
            busy_ms: c.busy_ms,
            idle_ms: c.idle_ms,
            not_ready_ms: c.not_ready_ms,
        }
    }
}

/// The NHS figures from the counts (ratios 0 to 1, times in seconds;
/// none where nothing was counted). See `kpi::Figures` for each
/// definition.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Figures {
    pub service_level: Option<f64>,
    pub service_level_of_answered: Option<f64>,
    pub service_level_excluding_early_abandons: Option<f64>,
    pub abandonment_rate: Option<f64>,
    pub asa_seconds: Option<f64>,
    pub p95_answer_seconds: Option<f64>,
    pub aht_seconds: Option<f64>,
    pub talk_seconds: Option<f64>,
    pub hold_seconds: Option<f64>,
    pub wrap_seconds: Option<f64>,
    pub callbacks_within_target: Option<f64>,
    pub clinical_intervention_rate: Option<f64>,
    pub first_contact_resolution: Option<f64>,
    pub occupancy: Option<f64>,
    pub utilisation: Option<f64>,
}

impl From<&kpi::Figures> for Figures {
    fn from(f: &kpi::Figures) -> Figures {
        Figures {
            service_level: f.service_level,
            service_level_of_answered: f.service_level_of_answered,
            service_level_excluding_early_abandons: f.service_level_excluding_early_abandons,
            abandonment_rate: f.abandonment_rate,
            asa_seconds: f.asa_seconds,
            p95_answer_seconds: f.p95_answer_seconds,
            aht_seconds: f.aht_seconds,
            talk_seconds: f.talk_seconds,
            hold_seconds: f.hold_seconds,
            wrap_seconds: f.wrap_seconds,
            callbacks_within_target: f.callbacks_within_target,
            clinical_intervention_rate: f.clinical_intervention_rate,
            first_contact_resolution: f.first_contact_resolution,
            occupancy: f.occupancy,
            utilisation: f.utilisation,
        }
    }
}

/// What a row is about.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Dimension {
    Overall,
    Queue(u32),
    Service(String),
    Channel(Channel),
    Team(u32),
    Agent(u32),
}

impl From<&kpi::Dimension> for Dimension {
    fn from(d: &kpi::Dimension) -> Dimension {
        use kpi::Dimension as D;
        match d {
            D::Overall => Dimension::Overall,
            D::Queue(q) => Dimension::Queue(q.0),
            D::Service(s) => Dimension::Service(s.clone()),
            D::Channel(c) => Dimension::Channel((*c).into()),
            D::Team(t) => Dimension::Team(t.0),
            D::Agent(a) => Dimension::Agent(a.0),
        }
    }
}

/// One row of a KPI report.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Row {
    pub dimension: Dimension,
    /// Start of the interval or day; none for the whole run.
    pub interval_start: Option<Millis>,
    pub counts: Counts,
    pub figures: Figures,
}

impl From<&kpi::Row> for Row {
    fn from(r: &kpi::Row) -> Row {
        Row {
            dimension: (&r.dimension).into(),
            interval_start: r.interval_start.map(|t| t.0),
            counts: (&r.counts).into(),
            figures: (&r.figures).into(),
        }
    }
}

/// A timestamp as the wire carries it.
pub fn millis(t: Timestamp) -> Millis {
    t.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::to_value;

    /// The mirrors serialise exactly as the engine's types do: the web app
    /// and integrations saw the engine's shapes before the mirrors existed.
    #[test]
    fn mirrors_serialise_as_the_engine_does() {
        let config = routing::demo::kent_community_trust();
        assert_eq!(
            to_value(Config::from(&config)).unwrap(),
            to_value(&config).unwrap()
        );
        for q in &config.queues {
            let back: routing::QueueDef = QueueDef::from(q).into();
            assert_eq!(&back, q);
        }
        for a in &config.agents {
            let back: routing::AgentDef = AgentDef::from(a).into();
            assert_eq!(&back, a);
        }
        let mut q = config.queues[0].clone();
        q.aging = Some(routing::Aging {
            every: DurationMs(1000),
            max_boost: 5,
        });
        q.teams = Some(vec![TeamId(1)]);
        q.when_full = routing::WhenFull::Queue(QueueId(2));
        q.overflow = vec![
            routing::OverflowStep {
                after: DurationMs(5),
                action: routing::OverflowAction::RelaxSkill {
                    skill: SkillId(1),
                    min_level: 2,
                },
            },
            routing::OverflowStep {
                after: DurationMs(6),
                action: routing::OverflowAction::AddTeams(vec![TeamId(3)]),
            },
            routing::OverflowStep {
                after: DurationMs(7),
                action: routing::OverflowAction::MoveToQueue(QueueId(4)),
            },
        ];
        assert_eq!(to_value(QueueDef::from(&q)).unwrap(), to_value(&q).unwrap());
        assert_eq!(routing::QueueDef::from(QueueDef::from(&q)), q);
    }

    /// The enumerations the server reads spell every name as the core's
    /// own types do.
    #[test]
    fn read_names_match_the_core() {
        fn same<A: Serialize, B: Serialize>(a: &[A], b: &[B]) {
            assert_eq!(to_value(a).unwrap(), to_value(b).unwrap());
        }
        use app::auth::{Role as R, Scope as S};
        same(
            &app::auth::Role::ALL,
            &[
                Role::Agent,
                Role::Clinician,
                Role::Supervisor,
                Role::Admin,
                Role::Auditor,
                Role::Integration,
            ],
        );
        same(
            &[S::Contacts, S::Patients, S::Directory],
            &[Scope::Contacts, Scope::Patients, Scope::Directory],
        );
        let _ = R::Agent;
        same(
            &[dos::Rag::Green, dos::Rag::Amber, dos::Rag::Red],
            &[Rag::Green, Rag::Amber, Rag::Red],
        );
        same(
            &[dos::Sex::Male, dos::Sex::Female],
            &[Sex::Male, Sex::Female],
        );
        let channels: Vec<Channel> = model::Channel::ALL.iter().map(|&c| c.into()).collect();
        same(&model::Channel::ALL, &channels);
    }

    #[test]
    fn kpi_rows_serialise_as_the_engine_does() {
        let mut counts = kpi::Counts {
            offered: 10,
            answered: 9,
            answered_within_target: 8,
            abandoned: 1,
            talk_ms: 90_000,
            handled: 9,
            waits_ms: vec![1000, 2000],
            ..Default::default()
        };
        for dimension in [
            kpi::Dimension::Overall,
            kpi::Dimension::Queue(QueueId(2)),
            kpi::Dimension::Service("111".into()),
            kpi::Dimension::Channel(model::Channel::Sms),
            kpi::Dimension::Team(TeamId(1)),
            kpi::Dimension::Agent(AgentId(4)),
        ] {
            let r = kpi::Row {
                figures: counts.figures(),
                dimension,
                interval_start: Some(Timestamp(900_000)),
                counts: counts.clone(),
            };
            assert_eq!(to_value(Row::from(&r)).unwrap(), to_value(&r).unwrap());
        }
    }

    #[test]
    fn events_serialise_as_the_engine_does() {
        use routing::Event as E;
        let (c, a, q) = (ContactId(7), AgentId(3), QueueId(2));
        let t = Timestamp(1_700_000_000_000);
        let events = vec![
            E::Arrived {
                contact: c,
                queue: q,
                channel: model::Channel::Chat,
                priority: 5,
            },
            E::CallbackScheduled {
                contact: c,
                queue: q,
                due_at: t,
            },
            E::Queued {
                contact: c,
                queue: q,
                step: 1,
                for_agent: Some(a),
            },
            E::Queued {
                contact: c,
                queue: q,
                step: 0,
                for_agent: None,
            },
            E::OverflowStep {
                contact: c,
                queue: q,
                step: 2,
            },
            E::CallbackOffered {
                contact: c,
                queue: q,
            },
            E::CallbackRequested {
                contact: c,
                queue: q,
            },
            E::PriorityChanged {
                contact: c,
                from: 1,
                to: -2,
            },
            E::Moved {
                contact: c,
                from: q,
                to: QueueId(9),
                reason: routing::MoveReason::QueueFull,
            },
            E::Offered {
                contact: c,
                agent: a,
                queue: q,
                expires_at: t,
            },
            E::Answered {
                contact: c,
                agent: a,
                queue: q,
                channel: model::Channel::Voice,
                waited: DurationMs(12),
            },
            E::OfferRejected {
                contact: c,
                agent: a,
            },
            E::OfferTimedOut {
                contact: c,
                agent: a,
            },
            E::OfferWithdrawn {
                contact: c,
                agent: a,
                reason: routing::WithdrawReason::SiteOffAir,
            },
            E::HoldStarted {
                contact: c,
                agent: a,
            },
            E::HoldEnded {
                contact: c,
                agent: a,
            },
            E::TransferRequested {
                contact: c,
                from: a,
                to: routing::TransferTarget::Agent(AgentId(4)),
                mode: routing::TransferMode::Warm,
            },
            E::TransferRequested {
                contact: c,
                from: a,
                to: routing::TransferTarget::Queue(q),
                mode: routing::TransferMode::Cold,
            },
            E::Transferred {
                contact: c,
                from: a,
                to: AgentId(4),
                queue: q,
                mode: routing::TransferMode::Cold,
            },
            E::TransferCancelled {
                contact: c,
                queue: q,
            },
            E::Ended {
                contact: c,
                agent: a,
                queue: q,
            },
            E::Abandoned {
                contact: c,
                queue: q,
                waited: DurationMs(9),
            },
            E::Cancelled {
                contact: c,
                queue: q,
            },
            E::Voicemail {
                contact: c,
                queue: q,
                reason: routing::VoicemailReason::Overflow,
            },
            E::Refused {
                contact: c,
                queue: q,
            },
            E::WrapUpStarted {
                agent: a,
                contact: c,
                until: t,
            },
            E::WrapUpEnded {
                agent: a,
                contact: c,
            },
            E::PresenceChanged {
                agent: a,
                presence: routing::Presence::Ready,
            },
            E::PresenceChanged {
                agent: a,
                presence: routing::Presence::NotReady(routing::NotReadyReason::Other("x".into())),
            },
            E::PresenceChanged {
                agent: a,
                presence: routing::Presence::NotReady(routing::NotReadyReason::MissedOffer),
            },
            E::SiteOnAir {
                site: SiteId(1),
                on_air: false,
            },
            E::Reconfigured {
                what: "queue q2".into(),
            },
        ];
        for (seq, e) in events.into_iter().enumerate() {
            let r = routing::Record {
                seq: seq as u64,
                at: t,
                event: e,
            };
            assert_eq!(
                to_value(Record::from(&r)).unwrap(),
                to_value(&r).unwrap(),
                "{r:?}"
            );
        }
    }
}
