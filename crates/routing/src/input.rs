//! What the outside world tells the engine.

use crate::config::{AgentDef, Config, QueueDef, SiteDef, SkillDef, SkillReq, TeamDef};
use model::{AgentId, Channel, ContactId, Priority, QueueId, SiteId, SkillId, Timestamp};
use serde::{Deserialize, Serialize};

/// A new contact as the edge (telephony, chat, API, flow) describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewContact {
    pub id: ContactId,
    pub queue: QueueId,
    pub channel: Channel,
    /// Added to the queue's priority (e.g. a known palliative patient).
    #[serde(default)]
    pub priority: Priority,
    /// Skills needed on top of the queue's own (e.g. a language).
    #[serde(default)]
    pub requirements: Vec<SkillReq>,
    /// Language the contact needs: the same as requiring that skill at level 1.
    #[serde(default)]
    pub language: Option<SkillId>,
    /// Free-form attributes (number called, flow choices); carried, not
    /// routed on. May hold patient data: never logged by the engine.
    #[serde(default)]
    pub attributes: Vec<(String, String)>,
    /// The contact carries live media that only an agent with a connected
    /// endpoint (a registered phone, a browser softphone) can take: a
    /// real phone call. Offered to no one else ([`Input::SetEndpoint`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_endpoint: bool,
}

impl NewContact {
    pub fn new(id: ContactId, queue: QueueId, channel: Channel) -> NewContact {
        NewContact {
            id,
            queue,
            channel,
            priority: 0,
            requirements: Vec::new(),
            language: None,
            attributes: Vec::new(),
            needs_endpoint: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotReadyReason {
    Break,
    Lunch,
    Training,
    Meeting,
    Admin,
    /// Set by the engine when an offer rang out unanswered.
    MissedOffer,
    /// Set by the engine when the agent rejected an offer.
    Declined,
    Other(String),
}

/// The state an agent (or supervisor) asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Offline,
    Ready,
    NotReady(NotReadyReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    /// The first agent stays with the contact until the second accepts.
    Warm,
    /// Handed over at once: the first agent goes to wrap-up.
    Cold,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferTarget {
    Queue(QueueId),
    Agent(AgentId),
}

/// The most one extension adds, and the longest a wrap-up can be made to
/// run from now, ms.
pub const MAX_WRAP_UP_EXTENSION_MS: i64 = 10 * 60 * 1000;
pub const MAX_WRAP_UP_MS: i64 = 30 * 60 * 1000;

/// Every input the engine takes. Each is applied whole or refused whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    // Contacts.
    Arrive(NewContact),
    /// A callback booked for a time; it joins its queue then, placed by
    /// that time.
    ScheduleCallback {
        contact: NewContact,
        due_at: Timestamp,
        /// By when it must be answered (a clinical callback: its
        /// disposition's timeframe). Reported on, not routed on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<Timestamp>,
    },
    /// The caller hung up (or a chat closed) before being answered; for a
    /// callback, the callback is cancelled.
    Abandon {
        contact: ContactId,
    },
    /// A waiting caller takes a callback: they hang up, their place is kept.
    RequestCallback {
        contact: ContactId,
    },
    SetPriority {
        contact: ContactId,
        priority: Priority,
    },
    // Agents working.
    Accept {
        agent: AgentId,
        contact: ContactId,
    },
    Reject {
        agent: AgentId,
        contact: ContactId,
    },
    Hold {
        contact: ContactId,
    },
    Resume {
        contact: ContactId,
    },
    Transfer {
        contact: ContactId,
        to: TransferTarget,
        mode: TransferMode,
    },
    CancelTransfer {
        contact: ContactId,
    },
    /// The contact is finished; the agent goes to wrap-up.
    End {
        contact: ContactId,
    },
    WrapUpDone {
        agent: AgentId,
        contact: ContactId,
    },
    /// The agent needs more time to wrap up (WCAG 2.2.1: a time limit the
    /// person can extend): the wrap-up ends `by` later than it would
    /// (from now if it was about to end), at most [`MAX_WRAP_UP_MS`] from
    /// now.
    ExtendWrapUp {
        agent: AgentId,
        contact: ContactId,
        by: model::DurationMs,
    },
    SetPresence {
        agent: AgentId,
        presence: Presence,
    },
    /// The agent's phone registered or its browser softphone connected
    /// (true), or it went away (false): whether contacts that need an
    /// endpoint may be offered to them. Offers already ringing stay (the
    /// call finds the phone gone).
    SetEndpoint {
        agent: AgentId,
        connected: bool,
    },
    /// A site goes off the air (flood, power cut) or comes back.
    SetSiteOnAir {
        site: SiteId,
        on_air: bool,
    },
    // Live configuration.
    AddSkill(SkillDef),
    AddTeam(TeamDef),
    AddSite(SiteDef),
    UpsertQueue(QueueDef),
    RemoveQueue {
        queue: QueueId,
        move_waiting_to: Option<QueueId>,
    },
    UpsertAgent(AgentDef),
    RemoveAgent {
        agent: AgentId,
    },
    /// Replace the whole configuration (validated first; refused whole).
    ReplaceConfig(Config),
}
