//! What is happening now: contacts, agents' status and work.

use super::*;

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
