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

mod config;
mod figures;
mod live;
mod names;
pub use config::*;
pub use figures::*;
pub use live::*;
pub use names::*;

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
    /// A machine-readable name for the problem, where one is defined
    /// (e.g. the DoS search's `invalid_age`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
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
        /// By when it must be answered (a clinical callback).
        #[serde(skip_serializing_if = "Option::is_none")]
        deadline: Option<Millis>,
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
    /// The agent took more time: the wrap-up now ends at `until`.
    WrapUpExtended {
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
                deadline,
            } => Event::CallbackScheduled {
                contact: c(contact),
                queue: q(queue),
                due_at: due_at.0,
                deadline: deadline.map(|d| d.0),
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
            E::WrapUpExtended {
                agent,
                contact,
                until,
            } => Event::WrapUpExtended {
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
                Role::Quality,
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
            &[dos::Sex::Male, dos::Sex::Female, dos::Sex::Indeterminate],
            &[Sex::Male, Sex::Female, Sex::Indeterminate],
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
                deadline: None,
            },
            E::CallbackScheduled {
                contact: c,
                queue: q,
                due_at: t,
                deadline: Some(t),
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
            E::WrapUpExtended {
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
