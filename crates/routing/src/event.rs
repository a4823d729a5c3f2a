//! What the engine decided. The event log is the source of truth: KPIs and
//! state are rebuilt from it.

use crate::input::{NotReadyReason, Presence, TransferMode, TransferTarget};
use model::{AgentId, Channel, ContactId, DurationMs, Priority, QueueId, SiteId, Timestamp};
use serde::{Deserialize, Serialize};

/// One event with its time and its place in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub at: Timestamp,
    pub event: Event,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    /// The caller hung up while the agent's phone rang.
    Abandoned,
    /// The agent went offline or not ready.
    AgentUnavailable,
    /// The agent's site went off the air.
    SiteOffAir,
    /// The warm transfer was cancelled or the contact ended.
    TransferCancelled,
    /// Configuration changed (queue removed).
    Reconfigured,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveReason {
    Overflow,
    QueueFull,
    QueueRemoved,
    Transfer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoicemailReason {
    Overflow,
    QueueFull,
}

/// The one terminal state every contact ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Terminal {
    /// Handled and ended by an agent.
    Completed,
    /// The caller left before being answered.
    Abandoned,
    /// A callback (booked or virtual hold) was cancelled before it was made.
    Cancelled,
    Voicemail,
    /// Refused: the queue was full.
    Refused,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Arrived {
        contact: ContactId,
        queue: QueueId,
        channel: Channel,
        priority: Priority,
    },
    CallbackScheduled {
        contact: ContactId,
        queue: QueueId,
        due_at: Timestamp,
        /// By when it must be answered, if it has a deadline (a clinical
        /// callback).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<Timestamp>,
    },
    /// The contact joined the queue's waiting list (arrival, callback due,
    /// transfer, overflow move, back after an offer).
    Queued {
        contact: ContactId,
        queue: QueueId,
        step: u8,
        /// Waiting for this named agent (a directed transfer).
        for_agent: Option<AgentId>,
    },
    /// An overflow step took effect (`step` counts from 1).
    OverflowStep {
        contact: ContactId,
        queue: QueueId,
        step: u8,
    },
    /// The edge should offer the caller a callback.
    CallbackOffered {
        contact: ContactId,
        queue: QueueId,
    },
    /// The caller took a callback and hung up; the place is kept.
    CallbackRequested {
        contact: ContactId,
        queue: QueueId,
    },
    PriorityChanged {
        contact: ContactId,
        from: Priority,
        to: Priority,
    },
    Moved {
        contact: ContactId,
        from: QueueId,
        to: QueueId,
        reason: MoveReason,
    },
    Offered {
        contact: ContactId,
        agent: AgentId,
        queue: QueueId,
        expires_at: Timestamp,
    },
    /// First answer of a contact by an agent; `waited` is from arrival.
    Answered {
        contact: ContactId,
        agent: AgentId,
        queue: QueueId,
        channel: Channel,
        waited: DurationMs,
    },
    OfferRejected {
        contact: ContactId,
        agent: AgentId,
    },
    OfferTimedOut {
        contact: ContactId,
        agent: AgentId,
    },
    OfferWithdrawn {
        contact: ContactId,
        agent: AgentId,
        reason: WithdrawReason,
    },
    HoldStarted {
        contact: ContactId,
        agent: AgentId,
    },
    HoldEnded {
        contact: ContactId,
        agent: AgentId,
    },
    TransferRequested {
        contact: ContactId,
        from: AgentId,
        to: TransferTarget,
        mode: TransferMode,
    },
    /// A transfer completed: `to` accepted.
    Transferred {
        contact: ContactId,
        from: AgentId,
        to: AgentId,
        queue: QueueId,
        mode: TransferMode,
    },
    /// The warm transfer was stopped; the contact is back in `queue` with
    /// its agent.
    TransferCancelled {
        contact: ContactId,
        queue: QueueId,
    },
    /// Terminal: an agent ended the contact.
    Ended {
        contact: ContactId,
        agent: AgentId,
        queue: QueueId,
    },
    /// Terminal: left before an answer.
    Abandoned {
        contact: ContactId,
        queue: QueueId,
        waited: DurationMs,
    },
    /// Terminal: a callback was cancelled before it was made.
    Cancelled {
        contact: ContactId,
        queue: QueueId,
    },
    /// Terminal.
    Voicemail {
        contact: ContactId,
        queue: QueueId,
        reason: VoicemailReason,
    },
    /// Terminal: the queue was full.
    Refused {
        contact: ContactId,
        queue: QueueId,
    },
    WrapUpStarted {
        agent: AgentId,
        contact: ContactId,
        until: Timestamp,
    },
    /// The agent's slot for this contact is free again: after wrap-up, or
    /// at once where the queue has none.
    /// The agent asked for more time: the wrap-up now ends at `until`.
    WrapUpExtended {
        agent: AgentId,
        contact: ContactId,
        until: Timestamp,
    },
    WrapUpEnded {
        agent: AgentId,
        contact: ContactId,
    },
    PresenceChanged {
        agent: AgentId,
        presence: Presence,
    },
    SiteOnAir {
        site: SiteId,
        on_air: bool,
    },
    /// Configuration changed; `what` says what, in words.
    Reconfigured {
        what: String,
    },
}

impl Event {
    /// The contact's terminal state, if this event is one.
    pub fn terminal(&self) -> Option<(ContactId, Terminal)> {
        match *self {
            Event::Ended { contact, .. } => Some((contact, Terminal::Completed)),
            Event::Abandoned { contact, .. } => Some((contact, Terminal::Abandoned)),
            Event::Cancelled { contact, .. } => Some((contact, Terminal::Cancelled)),
            Event::Voicemail { contact, .. } => Some((contact, Terminal::Voicemail)),
            Event::Refused { contact, .. } => Some((contact, Terminal::Refused)),
            _ => None,
        }
    }
}

impl NotReadyReason {
    pub fn as_str(&self) -> &str {
        match self {
            NotReadyReason::Break => "break",
            NotReadyReason::Lunch => "lunch",
            NotReadyReason::Training => "training",
            NotReadyReason::Meeting => "meeting",
            NotReadyReason::Admin => "admin",
            NotReadyReason::MissedOffer => "missed offer",
            NotReadyReason::Declined => "declined",
            NotReadyReason::Other(s) => s,
        }
    }
}
