//! Typed errors of the routing engine.

use model::{AgentId, ContactId, QueueId, SiteId, SkillId, TeamId, Timestamp};

/// A configuration that cannot be loaded. Each variant names the item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{item}: unknown skill {skill}")]
    UnknownSkill { item: String, skill: SkillId },
    #[error("{item}: unknown team {team}")]
    UnknownTeam { item: String, team: TeamId },
    #[error("{item}: unknown site {site}")]
    UnknownSite { item: String, site: SiteId },
    #[error("{item}: unknown queue {queue}")]
    UnknownQueue { item: String, queue: QueueId },
    #[error("{kind} {id} is defined twice")]
    DuplicateId { kind: &'static str, id: String },
    #[error("more than {limit} {kind}s")]
    TooMany { kind: &'static str, limit: u32 },
    #[error("{item}: overflow step {step} (after {after_ms} ms) is out of order: steps must come strictly later than the one before, after 0 ms and within 24 h")]
    OverflowOutOfOrder {
        item: String,
        step: usize,
        after_ms: i64,
    },
    #[error("{item}: overflow moves contacts round in a circle (through queue {via})")]
    OverflowCycle { item: String, via: QueueId },
    #[error("{item}: capacity is zero for every channel")]
    ZeroCapacity { item: String },
    #[error("{item}: {field} {problem}")]
    Invalid {
        item: String,
        field: String,
        problem: String,
    },
    #[error("{item} is still in use: {by}")]
    InUse { item: String, by: String },
}

impl ConfigError {
    pub(crate) fn invalid(item: &str, field: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            item: item.to_string(),
            field: field.to_string(),
            problem: problem.into(),
        }
    }
}

/// An input the engine refused. A refused input changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("time went backwards: input at {now:?} after {last:?}")]
    TimeWentBackwards { now: Timestamp, last: Timestamp },
    #[error("unknown contact {0} (never seen, or already ended)")]
    UnknownContact(ContactId),
    #[error("contact {0} already exists")]
    DuplicateContact(ContactId),
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    #[error("unknown site {0}")]
    UnknownSite(SiteId),
    #[error("contact {contact} is not offered to agent {agent}")]
    NoSuchOffer { contact: ContactId, agent: AgentId },
    #[error("contact {0} is not waiting")]
    NotWaiting(ContactId),
    #[error("contact {0} is not being handled by an agent")]
    NotActive(ContactId),
    #[error("contact {0} is already on hold")]
    AlreadyOnHold(ContactId),
    #[error("contact {0} is not on hold")]
    NotOnHold(ContactId),
    #[error("contact {0} already has a transfer under way")]
    TransferPending(ContactId),
    #[error("contact {0} has no warm transfer under way")]
    NoTransferPending(ContactId),
    #[error("agent {agent} is not wrapping up contact {contact}")]
    NotInWrapUp { agent: AgentId, contact: ContactId },
    #[error("more wrap-up time: between 1 s and {max_s} s at a time, not {ms} ms")]
    BadWrapUpExtension { ms: i64, max_s: i64 },
    #[error("agent {0} still has contacts (offered, in progress or in wrap-up)")]
    AgentHasWork(AgentId),
    #[error("queue {queue} still has {count} contacts and no queue to move them to was given")]
    QueueNotEmpty { queue: QueueId, count: usize },
    #[error("contact {contact}: {problem}")]
    InvalidContact { contact: ContactId, problem: String },
    #[error("limit reached: {what} (at most {limit})")]
    LimitReached { what: &'static str, limit: u64 },
    #[error("configuration refused: {0}")]
    Config(#[from] ConfigError),
}
