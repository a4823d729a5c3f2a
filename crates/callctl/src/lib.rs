//! Call control: one contact's journey as a pure state machine.
//!
//! The voice edge used to run a call as one long async function with a
//! dozen mutable locals; here the same journey is a value that takes
//! inputs (`handle(now, input)`, `handle_timeout(now)`) and gives commands
//! (`poll_output()`), with `poll_timeout()` saying when it next needs the
//! clock — the shape of `routing::Engine` and `flow::Call`. The async task
//! around it only moves I/O: it turns SIP signals, media events and the
//! routing engine's news into [`Input`]s, carries out each [`Output`], and
//! answers the outputs that ask a question (joining a queue, booking a
//! callback, accepting the call for an agent, reading the queue position)
//! with the matching input before it reads anything else.
//!
//! What a call asks of the contact centre is the same for every channel
//! ([`EngineRequest`]: join a queue, keep a place for a callback, accept
//! for an agent, end, abandon, mark an agent not ready), and so is what the
//! routing engine tells it (`Offered`, `OfferGone`, `AnsweredAtDesk`,
//! `AgentHold`, `ContactEnded`). A web chat, an email thread or a text
//! conversation is another [`Conversation`] with its own channel inputs
//! and the same engine half.

mod call;
pub mod chat;
pub mod mail;
pub mod ringback;
pub mod script;
pub mod thread;

pub use call::{Clip, DialError, DialId, Input, Output, PhoneState, Setup, VoiceCall};
pub use ringback::{RingBack, RingBackInput, RingBackOutput};

use model::{AgentId, ContactId, Timestamp};
use std::collections::BTreeMap;

/// The clip tag of the silence played before hanging up, so that a goodbye
/// is heard in full: its end hangs the call up.
pub const HANG_UP_TAG: u64 = u64::MAX;
/// Longest a call stays in the IVR or the queue (a bound on stuck calls), ms.
pub const MAX_CALL_MS: i64 = 4 * 3600 * 1000;
/// How often a queued caller's position is read, ms.
pub const POSITION_EVERY_MS: i64 = 2000;
/// The shortest and longest an agent's phone rings for one offer, ms.
pub const RING_MIN_MS: i64 = 1000;
pub const RING_MAX_MS: i64 = 120_000;
/// The attribute that marks a contact as a call of the SIP edge (so a
/// restart knows which calls it dropped).
pub const VIA: (&str, &str) = ("via", "sip");
/// Most nodes, keys, announcements and missed agents a journal keeps.
pub const MAX_JOURNAL_ITEMS: usize = 200;

/// The shape every channel's conversation machine has.
pub trait Conversation {
    type Input;
    type Output;
    /// One input at `now` (never earlier than the last `now`).
    fn handle(&mut self, now: Timestamp, input: Self::Input);
    /// Time passed: fire what is due at `now`.
    fn handle_timeout(&mut self, now: Timestamp);
    fn poll_output(&mut self) -> Option<Self::Output>;
    /// When `handle_timeout` is next needed (None: never, until an input).
    fn poll_timeout(&self) -> Option<Timestamp>;
    /// The conversation is over: nothing more will come out.
    fn is_done(&self) -> bool;
}

/// Which queue a contact joins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueRef {
    /// The queue of the service the number belongs to.
    Service,
    /// A queue the flow names.
    Named(String),
}

/// What a conversation asks of the contact centre (the routing engine).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineRequest {
    /// Join a queue as a new contact. Answered with `Input::Joined`.
    Join {
        queue: QueueRef,
        priority: i32,
        /// The contact's attributes: never patient data.
        attributes: Vec<(String, String)>,
    },
    /// Keep the contact's place and ring `to` back when it reaches an
    /// agent. Answered with `Input::CallbackBooked`.
    BookCallback { contact: ContactId, to: String },
    /// The agent's phone answered: the agent takes the contact. Answered
    /// with `Input::Accepted`.
    Accept {
        dial: DialId,
        agent: AgentId,
        contact: ContactId,
    },
    /// Where the contact stands in its queue. Answered with
    /// `Input::Position`.
    ReadPosition { contact: ContactId },
    /// The agent missed an offer (their phone did not answer or is gone):
    /// not ready, so the engine offers the contact to someone else.
    NotReady { agent: AgentId },
    /// The conversation with an agent is over (the agent wraps up).
    End { contact: ContactId },
    /// The caller left before an agent answered.
    Abandon { contact: ContactId },
    /// The engine's news about this contact no longer concern this call.
    Forget { contact: ContactId },
}

/// Where a call stands, as the journal shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stage {
    #[default]
    InIvr,
    Queued,
    RingingAgent,
    RingingCaller,
    Connected,
    Ended,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::InIvr => "in_ivr",
            Stage::Queued => "queued",
            Stage::RingingAgent => "ringing_agent",
            Stage::RingingCaller => "ringing_caller",
            Stage::Connected => "connected",
            Stage::Ended => "ended",
        }
    }
}

/// What the call journal shows of a call: no patient data (digits
/// collected for an attribute show as '•').
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Journal {
    pub contact: Option<ContactId>,
    /// Nodes entered, in order (and self-service actions done).
    pub path: Vec<String>,
    pub keys: String,
    /// Queue positions announced.
    pub announced: Vec<u32>,
    pub callback_requested: bool,
    pub agent: Option<AgentId>,
    /// Agents whose phones did not answer.
    pub missed_by: Vec<AgentId>,
    pub bridged: bool,
    pub stage: Stage,
    /// How it ended: abandoned_in_ivr, abandoned_in_queue,
    /// callback_requested, completed, ended_by_caller, ended_by_agent,
    /// ended_by_the_service, too_long, refused ...
    pub outcome: Option<String>,
    /// The caller holds the call (re-INVITE sendonly/inactive).
    pub held: bool,
    /// The agent holds the call from the desktop: the caller hears music.
    pub agent_hold: bool,
    /// A leg's media came from another address than its SDP said.
    pub nat: bool,
    /// How the caller's leg ended, as signalling said (hung up, cancelled).
    pub ended: Option<&'static str>,
    /// The call's recording now.
    pub recording: Recording,
    /// Recordings made of the call (a stopped one and a new start make two).
    pub recordings: u32,
}

/// When a service records its calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecordingPolicy {
    #[default]
    Never,
    /// From the moment an agent's phone is on the line; the agent may
    /// pause it, not stop it.
    Always,
    /// When the agent starts it.
    OnDemand,
}

/// What the agent asks of the call's recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordingAction {
    Start,
    Pause,
    Resume,
    Stop,
}

/// A call's recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Recording {
    #[default]
    Off,
    On,
    Paused,
}

impl RecordingAction {
    pub fn parse(s: &str) -> Option<RecordingAction> {
        Some(match s {
            "start" => RecordingAction::Start,
            "pause" => RecordingAction::Pause,
            "resume" => RecordingAction::Resume,
            "stop" => RecordingAction::Stop,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordingAction::Start => "start",
            RecordingAction::Pause => "pause",
            RecordingAction::Resume => "resume",
            RecordingAction::Stop => "stop",
        }
    }
}

impl Recording {
    pub fn as_str(self) -> &'static str {
        match self {
            Recording::Off => "off",
            Recording::On => "on",
            Recording::Paused => "paused",
        }
    }
}

/// The attributes that hold patient data in a book of flows: whatever a
/// collect node fills with an NHS number or a date of birth, under any
/// name. They never go on a contact (see [`contact_attributes`]).
pub fn private_attributes(book: &flow::FlowBook) -> std::collections::BTreeSet<String> {
    book.flows
        .values()
        .flat_map(|c| c.flow.nodes.values())
        .filter_map(|n| match n {
            flow::Node::Collect {
                attribute,
                validate: flow::DigitRule::NhsNumber | flow::DigitRule::DateOfBirth,
                ..
            } => Some(attribute.clone()),
            _ => None,
        })
        .collect()
}

/// The attributes a call's contact carries: the flow's, less what is
/// patient data (kept in the directory, never on a contact), marked as a
/// call of the SIP edge.
pub fn contact_attributes(
    attributes: BTreeMap<String, String>,
    private: &std::collections::BTreeSet<String>,
) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = attributes
        .into_iter()
        .filter(|(k, _)| k != "nhs_number" && !private.contains(k))
        .collect();
    v.push((VIA.0.to_string(), VIA.1.to_string()));
    v
}

/// How a flow's outcome reads in the journal.
pub fn outcome_name(o: flow::Outcome) -> &'static str {
    use flow::Outcome as O;
    match o {
        O::InFlow => "in_flow",
        O::Queued => "queued",
        O::Answered => "answered",
        O::CallbackRequested => "callback_requested",
        O::SelfServed => "self_served",
        O::Voicemail => "voicemail",
        O::Transferred => "transferred",
        O::Completed => "completed",
        O::AbandonedInFlow => "abandoned_in_flow",
        O::AbandonedInQueue => "abandoned_in_queue",
        O::Stopped => "stopped",
    }
}
