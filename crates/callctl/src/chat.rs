//! A web chat's conversation, as a pure state machine: the service's flow
//! shown as messages and buttons, the queue with its place, the agent, the
//! patient's silence, and the end — the same engine half as a call
//! ([`EngineRequest`]), another channel half.
//!
//! Every message the conversation shows comes out as [`ChatOutput::Post`]
//! with the next sequence number (1, 2, 3 … with no gaps): the edge stores
//! it and only then delivers it, so a reader who knows the last number it
//! has gets exactly what it missed. Words from the patient or the agent
//! may carry the sender's own id: one sent again (after a lost connection)
//! is acknowledged with the number it was stored under, not stored twice.
//!
//! Time is the edge's: `handle(now, …)`, `handle_timeout(now)`,
//! `poll_timeout()`. The flow's own key timers are not used (a person
//! reading a chat takes longer than a caller listening to a menu); the
//! patient's silence is timed instead, when it is their turn to write.

use crate::{Conversation, EngineRequest, QueueRef};
use flow::{Call as Flow, Input as FlowInput, Node, Output as FlowOutput};
use model::{AgentId, ContactId, DurationMs, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Longest message, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Most messages one conversation holds.
pub const MAX_MESSAGES: u64 = 5000;
/// Longest a sender's own message id, in bytes.
pub const MAX_CLIENT_ID: usize = 64;
/// How often a waiting patient's place is read, ms.
pub const POSITION_EVERY_MS: i64 = 15_000;
/// Longest a conversation lasts, ms (a bound on one that never ends).
pub const MAX_CHAT_MS: i64 = 12 * 3600 * 1000;
/// The attribute that marks a contact as a web chat (so a restart finds
/// the conversations it must carry on).
pub const VIA: (&str, &str) = ("via", "chat");

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sender {
    Patient,
    Agent(AgentId),
    /// The service: the flow's words, the queue, joins and ends.
    System,
}

/// A button of a menu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub key: String,
    pub label: String,
}

/// What a message says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Text(String),
    /// A menu's options, as buttons.
    Choice(Vec<Choice>),
    /// The flow asks for digits (`label` says which).
    Field {
        digits: u8,
        label: String,
    },
    /// The patient's place in the queue.
    Position {
        position: u32,
        expected_wait: DurationMs,
    },
    /// An agent took the chat.
    Joined {
        agent: AgentId,
        name: String,
    },
    /// The patient has been quiet: the chat ends at `ends_at` unless they
    /// write.
    Idle {
        ends_at: Timestamp,
    },
    /// The conversation is over.
    Ended {
        reason: String,
    },
    /// A file the patient sent (stored apart, sealed; checked by content).
    File(Attachment),
}

/// A file sent in a chat, as its message names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The stored file's id (32 hex digits).
    pub id: String,
    /// The name the patient's file had (shown, never used as a path).
    pub name: String,
    /// Its type, from its content: `image/png`, `image/jpeg`, `image/gif`,
    /// `image/webp` or `application/pdf`.
    pub mime: String,
    pub size: u64,
}

/// One message, as stored and delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub seq: u64,
    pub at: Timestamp,
    pub from: Sender,
    pub body: Body,
    /// The sender's own id for it, if it gave one.
    pub client_id: Option<String>,
}

/// How long the patient's silence and absence are borne.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Silence, when it is the patient's turn, before the warning.
    pub idle_warn: DurationMs,
    /// From the warning to the end.
    pub idle_grace: DurationMs,
    /// Waiting in the queue with no page connected before the chat is
    /// taken as abandoned.
    pub gone_after: DurationMs,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            idle_warn: DurationMs(5 * 60_000),
            idle_grace: DurationMs(2 * 60_000),
            gone_after: DurationMs(10 * 60_000),
        }
    }
}

/// What happens to a chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatInput {
    // The patient's page.
    Text {
        id: Option<String>,
        text: String,
    },
    /// A menu button, by key.
    Choose {
        id: Option<String>,
        key: String,
    },
    /// The patient is typing (not stored: it only shows they are there).
    Typing,
    /// Whether any page of the patient's is connected.
    Connected(bool),
    /// The patient ends the chat.
    Leave,
    /// The patient sent a file (already stored).
    File {
        id: Option<String>,
        file: Attachment,
    },
    // The agent's desktop.
    AgentText {
        agent: AgentId,
        id: Option<String>,
        text: String,
    },
    // The routing engine's news, and answers to requests.
    Joined(Result<ContactId, String>),
    Position(Option<(u32, DurationMs)>),
    /// An agent took the chat (again after a transfer: another agent).
    Answered {
        agent: AgentId,
        name: String,
    },
    /// The contact ended in the engine (the agent ended it, the service
    /// cleared it).
    ContactEnded,
}

/// Why an input is refused (the sender is told; nothing changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Empty,
    TooLong,
    BadId,
    /// The conversation is over.
    Ended,
    /// A button when no menu is shown, or a key the menu has not.
    NotNow,
    /// The conversation holds all the messages it may.
    Full,
    /// Only the agent with the chat writes in it.
    NotYours,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Empty => "empty",
            Refusal::TooLong => "too_long",
            Refusal::BadId => "bad_frame",
            Refusal::Ended => "ended",
            Refusal::NotNow => "not_now",
            Refusal::Full => "full",
            Refusal::NotYours => "not_yours",
        }
    }

    pub fn message(self) -> String {
        match self {
            Refusal::Empty => "the message is empty".into(),
            Refusal::TooLong => format!(
                "the message is too long (a web chat's: {MAX_TEXT_CHARS} characters; a text: {}; an email: {})",
                crate::thread::MAX_SMS_CHARS,
                crate::thread::MAX_THREAD_TEXT_CHARS
            ),
            Refusal::BadId => format!("a message id is 1 to {MAX_CLIENT_ID} bytes"),
            Refusal::Ended => "the conversation has ended".into(),
            Refusal::NotNow => "there is no such choice now".into(),
            Refusal::Full => format!("a conversation holds at most {MAX_MESSAGES} messages"),
            Refusal::NotYours => "this chat is not with you".into(),
        }
    }
}

/// What the chat asks its edge to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatOutput {
    /// Store this message, then deliver it.
    Post(Message),
    /// A message sent again: it is already stored as `seq`.
    Ack {
        id: String,
        seq: u64,
    },
    Engine(EngineRequest),
    /// An email thread's or a text exchange's message `seq` (just posted)
    /// goes out to the patient: stored with its outbox row, then sent.
    Send {
        seq: u64,
    },
    /// The conversation is over.
    Done,
}

/// Where a chat stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    InFlow,
    /// Asked to join a queue; the answer is awaited.
    Joining,
    Queued(ContactId),
    WithAgent(ContactId, AgentId),
    Ended,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::InFlow => "in_flow",
            Stage::Joining => "joining",
            Stage::Queued(_) => "queued",
            Stage::WithAgent(..) => "with_agent",
            Stage::Ended => "ended",
        }
    }
}

/// Why the chat ends, as the patient reads it, and for the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    PatientLeft,
    Idle,
    Gone,
    TooLong,
    FlowEnded,
    NotByChat,
    Refused,
    ByAgent,
    ByService,
}

/// A web chat.
#[derive(Debug)]
pub struct Chat {
    timing: Timing,
    flow: Option<Flow>,
    stage: Stage,
    now: Timestamp,
    started: Timestamp,
    next_seq: u64,
    /// (sender, sender's id) → the number it was stored as.
    ids: HashMap<(Sender, String), u64>,
    /// When it became the patient's turn to write (None: it is not).
    turn_since: Option<Timestamp>,
    /// The warning was given: the chat ends at this time.
    idle_ends: Option<Timestamp>,
    /// When the last page went away (None: one is connected).
    gone_since: Option<Timestamp>,
    next_position: Option<Timestamp>,
    told_position: Option<(u32, DurationMs)>,
    /// The patient left while the join was awaited: abandon once joined.
    leave_when_joined: Option<Why>,
    /// The options shown now (key → label), if a menu is waiting.
    menu: Option<BTreeMap<String, String>>,
    /// Digits are asked for.
    field: bool,
    names: HashMap<AgentId, String>,
    private: BTreeSet<String>,
    outcome: Option<&'static str>,
    out: VecDeque<ChatOutput>,
}

impl Chat {
    /// A new chat: the service's flow started (None: straight to the
    /// service's queue), the patient's reason as their first message.
    /// `private` names flow attributes that hold patient data (never put
    /// on the contact).
    pub fn start(
        now: Timestamp,
        timing: Timing,
        flow: Option<Flow>,
        reason: &str,
        private: BTreeSet<String>,
    ) -> Chat {
        let mut c = Chat::empty(now, timing, 1, private);
        c.gone_since = Some(now);
        c.post(Sender::Patient, Body::Text(reason.trim().to_string()), None);
        c.flow = flow;
        if c.flow.is_some() {
            c.run_flow();
        } else {
            c.join(QueueRef::Service, 0, BTreeMap::new());
        }
        c
    }

    /// A chat carried on after a restart: its next sequence number, the
    /// ids already stored, its contact and agent as the store has them.
    /// One that was still in the flow (whose place there is lost) joins the
    /// service's queue.
    pub fn resume(
        now: Timestamp,
        timing: Timing,
        next_seq: u64,
        ids: Vec<(Sender, String, u64)>,
        contact: Option<ContactId>,
        agent: Option<(AgentId, String)>,
    ) -> Chat {
        let mut c = Chat::empty(now, timing, next_seq.max(1), BTreeSet::new());
        c.gone_since = Some(now);
        for (s, id, seq) in ids {
            c.ids.insert((s, id), seq);
        }
        match (contact, agent) {
            (Some(ct), Some((a, name))) => {
                c.names.insert(a, name);
                c.stage = Stage::WithAgent(ct, a);
            }
            (Some(ct), None) => {
                c.stage = Stage::Queued(ct);
                c.next_position = Some(now);
            }
            (None, _) => {
                c.say("Sorry, we lost your place in the conversation for a moment. You are now waiting for the next person free.");
                c.join(QueueRef::Service, 0, BTreeMap::new());
            }
        }
        c
    }

    fn empty(now: Timestamp, timing: Timing, next_seq: u64, private: BTreeSet<String>) -> Chat {
        Chat {
            timing,
            flow: None,
            stage: Stage::InFlow,
            now,
            started: now,
            next_seq,
            ids: HashMap::new(),
            turn_since: None,
            idle_ends: None,
            gone_since: None,
            next_position: None,
            told_position: None,
            leave_when_joined: None,
            menu: None,
            field: false,
            names: HashMap::new(),
            private,
            outcome: None,
            out: VecDeque::new(),
        }
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The contact in the routing engine, once joined.
    pub fn contact(&self) -> Option<ContactId> {
        match self.stage {
            Stage::Queued(c) | Stage::WithAgent(c, _) => Some(c),
            _ => None,
        }
    }

    /// How it ended (None while it goes on).
    pub fn outcome(&self) -> Option<&'static str> {
        self.outcome
    }

    /// The number the next message will have.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether `input` would be taken; the edge asks before handing it
    /// over, and tells the sender why not.
    pub fn check(&self, input: &ChatInput) -> Result<(), Refusal> {
        let id_ok = |id: &Option<String>| match id {
            Some(i) if i.is_empty() || i.len() > MAX_CLIENT_ID => Err(Refusal::BadId),
            _ => Ok(()),
        };
        let text_ok = |t: &str| {
            if t.trim().is_empty() {
                Err(Refusal::Empty)
            } else if t.chars().count() > MAX_TEXT_CHARS {
                Err(Refusal::TooLong)
            } else {
                Ok(())
            }
        };
        let open = || {
            if self.stage == Stage::Ended {
                Err(Refusal::Ended)
            } else if self.next_seq > MAX_MESSAGES {
                Err(Refusal::Full)
            } else {
                Ok(())
            }
        };
        match input {
            ChatInput::Text { id, text } => {
                id_ok(id)?;
                text_ok(text)?;
                open()
            }
            ChatInput::Choose { id, key } => {
                id_ok(id)?;
                open()?;
                if self.is_repeat(Sender::Patient, id) {
                    return Ok(());
                }
                match &self.menu {
                    Some(m) if m.contains_key(key) => Ok(()),
                    _ => Err(Refusal::NotNow),
                }
            }
            ChatInput::AgentText { agent, id, text } => {
                id_ok(id)?;
                text_ok(text)?;
                open()?;
                match self.stage {
                    Stage::WithAgent(_, a) if a == *agent => Ok(()),
                    _ => Err(Refusal::NotYours),
                }
            }
            ChatInput::File { id, .. } => {
                id_ok(id)?;
                open()
            }
            ChatInput::Leave | ChatInput::Typing => open(),
            _ => Ok(()),
        }
    }

    fn is_repeat(&self, s: Sender, id: &Option<String>) -> bool {
        id.as_ref()
            .is_some_and(|i| self.ids.contains_key(&(s, i.clone())))
    }

    /// A repeat is acknowledged with its stored number (true), not stored
    /// again.
    fn ack_repeat(&mut self, s: Sender, id: &Option<String>) -> bool {
        let Some(i) = id else { return false };
        match self.ids.get(&(s, i.clone())) {
            Some(&seq) => {
                self.out.push_back(ChatOutput::Ack { id: i.clone(), seq });
                true
            }
            None => false,
        }
    }

    fn post(&mut self, from: Sender, body: Body, client_id: Option<String>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(i) = &client_id {
            self.ids.insert((from, i.clone()), seq);
        }
        // Whose turn: a prompt for input or the agent's words make it the
        // patient's; the patient's own words end it.
        match (&from, &body) {
            (Sender::Patient, _) => {
                self.turn_since = None;
                self.idle_ends = None;
            }
            (Sender::Agent(_), Body::Text(_))
            | (Sender::System, Body::Choice(_) | Body::Field { .. })
                if self.turn_since.is_none() =>
            {
                self.turn_since = Some(self.now);
            }
            _ => {}
        }
        self.out.push_back(ChatOutput::Post(Message {
            seq,
            at: self.now,
            from,
            body,
            client_id,
        }));
    }

    fn say(&mut self, text: &str) {
        self.post(Sender::System, Body::Text(text.to_string()), None);
    }

    fn join(&mut self, queue: QueueRef, priority: i32, attributes: BTreeMap<String, String>) {
        self.stage = Stage::Joining;
        self.menu = None;
        self.field = false;
        self.turn_since = None;
        self.idle_ends = None;
        let mut attributes: Vec<(String, String)> = attributes
            .into_iter()
            .filter(|(k, _)| k != "nhs_number" && !self.private.contains(k))
            .collect();
        attributes.push((VIA.0.to_string(), VIA.1.to_string()));
        self.out.push_back(ChatOutput::Engine(EngineRequest::Join {
            queue,
            priority,
            attributes,
        }));
    }

    fn feed(&mut self, input: FlowInput) {
        let now = self.now;
        if let Some(f) = self.flow.as_mut() {
            let _ = f.handle(now, input);
        }
        self.run_flow();
    }

    /// Carries out what the flow asked for.
    fn run_flow(&mut self) {
        while self.stage == Stage::InFlow {
            let Some(o) = self.flow.as_mut().and_then(|f| f.poll_output()) else {
                return;
            };
            match o {
                FlowOutput::Play { text, .. } => {
                    if !text.trim().is_empty() {
                        self.say(&text);
                    }
                    // A chat has read it at once.
                    let now = self.now;
                    if let Some(f) = self.flow.as_mut() {
                        let _ = f.handle(now, FlowInput::PromptFinished);
                    }
                }
                FlowOutput::Listen { max_digits, .. } => self.listen(max_digits),
                FlowOutput::Enqueue {
                    queue,
                    priority,
                    attributes,
                    ..
                } => {
                    let q = if queue.is_empty() {
                        QueueRef::Service
                    } else {
                        QueueRef::Named(queue)
                    };
                    self.join(q, priority, attributes);
                }
                FlowOutput::RequestCallback { .. }
                | FlowOutput::RecordVoicemail { .. }
                | FlowOutput::Transfer { .. } => {
                    self.say("Sorry, this part of the service cannot be reached by chat. Please call us instead.");
                    self.finish(Why::NotByChat);
                }
                FlowOutput::HangUp => self.finish(Why::FlowEnded),
                FlowOutput::HoldMusic { .. }
                | FlowOutput::Announce { .. }
                | FlowOutput::SelfService { .. }
                | FlowOutput::Event(_) => {}
            }
        }
    }

    /// The flow waits for keys: a menu's buttons, digits asked for, or a
    /// callback offer (a chat has no number to call back: declined).
    fn listen(&mut self, max_digits: u8) {
        let node = self.flow.as_ref().map(|f| f.current_node().clone());
        match node {
            Some(Node::Menu {
                options, labels, ..
            }) => {
                let shown: BTreeMap<String, String> = options
                    .keys()
                    .map(|k| {
                        (
                            k.clone(),
                            labels.get(k).cloned().unwrap_or_else(|| k.clone()),
                        )
                    })
                    .collect();
                // Buttons in the order a caller would hear them: 1-9, 0, *, #.
                let mut keys: Vec<&String> = shown.keys().collect();
                keys.sort_by_key(|k| match k.as_str() {
                    "0" => 10,
                    "*" => 11,
                    "#" => 12,
                    d => d.parse::<u8>().unwrap_or(13),
                });
                let choices = keys
                    .into_iter()
                    .map(|k| Choice {
                        key: k.clone(),
                        label: shown[k].clone(),
                    })
                    .collect();
                self.menu = Some(shown);
                self.post(Sender::System, Body::Choice(choices), None);
            }
            Some(Node::Collect { validate, .. }) => {
                let label = match validate {
                    flow::DigitRule::NhsNumber => "NHS number (10 digits)".to_string(),
                    flow::DigitRule::DateOfBirth => "Date of birth (DD MM YYYY)".to_string(),
                    flow::DigitRule::Digits { .. } => format!("Up to {max_digits} digits"),
                };
                self.field = true;
                self.post(
                    Sender::System,
                    Body::Field {
                        digits: max_digits,
                        label,
                    },
                    None,
                );
            }
            Some(Node::OfferCallback { .. }) => self.feed(FlowInput::Key('2')),
            _ => {}
        }
    }

    fn choose(&mut self, key: &str, id: Option<String>) {
        let Some(menu) = self.menu.take() else { return };
        let label = menu.get(key).cloned().unwrap_or_else(|| key.to_string());
        self.post(Sender::Patient, Body::Text(label), id);
        if let Some(k) = key.chars().next() {
            self.feed(FlowInput::Key(k));
        }
    }

    fn patient_text(&mut self, text: String, id: Option<String>) {
        let t = text.trim().to_string();
        if self.stage == Stage::InFlow {
            // Words that name a button (its key or its label) choose it.
            if let Some(menu) = &self.menu {
                let hit = menu
                    .iter()
                    .find(|(k, l)| t == **k || t.eq_ignore_ascii_case(l))
                    .map(|(k, _)| k.clone());
                if let Some(k) = hit {
                    self.menu = None;
                    self.post(Sender::Patient, Body::Text(t), id);
                    if let Some(c) = k.chars().next() {
                        self.feed(FlowInput::Key(c));
                    }
                    return;
                }
                let options = menu.clone();
                self.post(Sender::Patient, Body::Text(t), id);
                self.say("Please choose one of these:");
                let mut choices: Vec<Choice> = options
                    .into_iter()
                    .map(|(key, label)| Choice { key, label })
                    .collect();
                choices.sort_by_key(|c| match c.key.as_str() {
                    "0" => 10,
                    "*" => 11,
                    "#" => 12,
                    d => d.parse::<u8>().unwrap_or(13),
                });
                self.post(Sender::System, Body::Choice(choices), None);
                return;
            }
            if self.field {
                let digits: String = t
                    .chars()
                    .filter(|c| !matches!(c, ' ' | '-' | '/' | '.'))
                    .collect();
                self.post(Sender::Patient, Body::Text(t), id);
                if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                    self.say("Please type digits only.");
                    self.turn_since = Some(self.now);
                    return;
                }
                self.field = false;
                let now = self.now;
                if let Some(f) = self.flow.as_mut() {
                    for c in digits.chars() {
                        let _ = f.handle(now, FlowInput::Key(c));
                    }
                    // Fewer digits than asked for: '#' says that is all
                    // (enough digits already moved the flow on; '#' is
                    // then a key the next node ignores or reads).
                    if matches!(f.current_node(), Node::Collect { .. }) {
                        let _ = f.handle(now, FlowInput::Key('#'));
                    }
                }
                self.run_flow();
                return;
            }
        }
        self.post(Sender::Patient, Body::Text(t), id);
    }

    /// The chat ends for `why`: the engine is told what the contact's end
    /// is (a waiting chat is abandoned, one with an agent ended).
    fn finish(&mut self, why: Why) {
        if self.stage == Stage::Ended {
            return;
        }
        let reason = match why {
            Why::PatientLeft => "You ended the chat.".to_string(),
            Why::Idle => "The chat ended because there was no reply.".to_string(),
            Why::Gone => "The chat ended because you left the page.".to_string(),
            Why::TooLong => "The chat has reached its time limit.".to_string(),
            Why::FlowEnded | Why::NotByChat => "The chat has ended.".to_string(),
            Why::Refused => {
                "Sorry, we cannot take your chat now. Please try again later or call us.".into()
            }
            Why::ByAgent => match self.stage {
                Stage::WithAgent(_, a) => format!(
                    "{} ended the chat.",
                    self.names
                        .get(&a)
                        .cloned()
                        .unwrap_or_else(|| "The adviser".into())
                ),
                _ => "The chat has ended.".into(),
            },
            Why::ByService => "The chat has ended.".into(),
        };
        let request = match (self.stage, why) {
            (_, Why::ByAgent | Why::ByService) => None,
            (Stage::Queued(c), _) => Some(EngineRequest::Abandon { contact: c }),
            (Stage::WithAgent(c, _), _) => Some(EngineRequest::End { contact: c }),
            (Stage::Joining, _) => {
                self.leave_when_joined = Some(why);
                None
            }
            _ => None,
        };
        self.outcome = Some(match (self.stage, why) {
            (_, Why::Refused) => "refused",
            (_, Why::NotByChat) => "not_by_chat",
            (_, Why::FlowEnded) => "completed",
            (_, Why::ByAgent) => "ended_by_agent",
            (_, Why::ByService) => "ended_by_the_service",
            (_, Why::TooLong) => "too_long",
            (Stage::WithAgent(..), Why::Idle) => "idle",
            (Stage::WithAgent(..), _) => "ended_by_patient",
            (Stage::InFlow, _) => "abandoned_in_flow",
            _ => "abandoned_in_queue",
        });
        let contact = self.contact();
        if let Some(r) = request {
            self.out.push_back(ChatOutput::Engine(r));
        }
        self.post(Sender::System, Body::Ended { reason }, None);
        if let Some(c) = contact {
            self.out
                .push_back(ChatOutput::Engine(EngineRequest::Forget { contact: c }));
        }
        self.stage = Stage::Ended;
        self.menu = None;
        self.field = false;
        self.turn_since = None;
        self.idle_ends = None;
        self.gone_since = None;
        self.next_position = None;
        if self.leave_when_joined.is_none() {
            self.out.push_back(ChatOutput::Done);
        }
    }
}

impl Conversation for Chat {
    type Input = ChatInput;
    type Output = ChatOutput;

    fn handle(&mut self, now: Timestamp, input: ChatInput) {
        self.now = self.now.max(now);
        // The answer to a join comes even after the patient left.
        if let ChatInput::Joined(r) = &input {
            if let Some(why) = self.leave_when_joined.take() {
                if let Ok(c) = r {
                    self.out
                        .push_back(ChatOutput::Engine(EngineRequest::Abandon { contact: *c }));
                    self.out
                        .push_back(ChatOutput::Engine(EngineRequest::Forget { contact: *c }));
                }
                let _ = why;
                self.out.push_back(ChatOutput::Done);
                return;
            }
        }
        if self.stage == Stage::Ended || self.check(&input).is_err() {
            return;
        }
        match input {
            ChatInput::Text { id, text } => {
                if !self.ack_repeat(Sender::Patient, &id) {
                    self.patient_text(text, id);
                }
            }
            ChatInput::Choose { id, key } => {
                if !self.ack_repeat(Sender::Patient, &id) {
                    self.choose(&key, id);
                }
            }
            ChatInput::File { id, file } => {
                if !self.ack_repeat(Sender::Patient, &id) {
                    self.post(Sender::Patient, Body::File(file), id);
                }
            }
            ChatInput::Typing => {
                if self.turn_since.is_some() {
                    self.turn_since = Some(now);
                    self.idle_ends = None;
                }
            }
            ChatInput::Connected(on) => {
                self.gone_since = if on { None } else { Some(now) };
            }
            ChatInput::Leave => self.finish(Why::PatientLeft),
            ChatInput::AgentText { agent, id, text } => {
                let from = Sender::Agent(agent);
                if !self.ack_repeat(from, &id) {
                    self.post(from, Body::Text(text.trim().to_string()), id);
                }
            }
            ChatInput::Joined(Ok(c)) => {
                if self.stage == Stage::Joining {
                    self.stage = Stage::Queued(c);
                    self.next_position = Some(now);
                    self.out
                        .push_back(ChatOutput::Engine(EngineRequest::ReadPosition {
                            contact: c,
                        }));
                }
            }
            ChatInput::Joined(Err(_)) => {
                if self.stage == Stage::Joining {
                    self.finish(Why::Refused);
                }
            }
            ChatInput::Position(p) => {
                if let (Stage::Queued(_), Some((position, wait))) = (self.stage, p) {
                    let changed = self.told_position.is_none_or(|(tp, _)| tp != position);
                    if changed {
                        self.told_position = Some((position, wait));
                        self.post(
                            Sender::System,
                            Body::Position {
                                position,
                                expected_wait: wait,
                            },
                            None,
                        );
                    }
                }
            }
            ChatInput::Answered { agent, name } => {
                let c = match self.stage {
                    Stage::Queued(c) => c,
                    Stage::WithAgent(c, a) if a != agent => c,
                    _ => return,
                };
                self.names.insert(agent, name.clone());
                self.stage = Stage::WithAgent(c, agent);
                self.next_position = None;
                self.gone_since = None;
                self.post(Sender::System, Body::Joined { agent, name }, None);
            }
            ChatInput::ContactEnded => {
                let why = if matches!(self.stage, Stage::WithAgent(..)) {
                    Why::ByAgent
                } else {
                    Why::ByService
                };
                self.finish(why);
            }
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        if self.stage == Stage::Ended {
            return;
        }
        if now.0 - self.started.0 >= MAX_CHAT_MS {
            self.finish(Why::TooLong);
            return;
        }
        if let Some(end) = self.idle_ends {
            if now >= end {
                self.finish(Why::Idle);
                return;
            }
        } else if let Some(t) = self.turn_since {
            if now.0 - t.0 >= self.timing.idle_warn.0 {
                let ends_at = Timestamp(now.0 + self.timing.idle_grace.0);
                self.idle_ends = Some(ends_at);
                // Not the patient's words: the turn stays theirs.
                self.post(Sender::System, Body::Idle { ends_at }, None);
            }
        }
        if let Some(g) = self.gone_since {
            let waiting = matches!(
                self.stage,
                Stage::Queued(_) | Stage::Joining | Stage::InFlow
            );
            if waiting && now.0 - g.0 >= self.timing.gone_after.0 {
                self.finish(Why::Gone);
                return;
            }
        }
        if let (Some(t), Stage::Queued(c)) = (self.next_position, self.stage) {
            if now >= t {
                self.next_position = Some(Timestamp(now.0 + POSITION_EVERY_MS));
                self.out
                    .push_back(ChatOutput::Engine(EngineRequest::ReadPosition {
                        contact: c,
                    }));
            }
        }
    }

    fn poll_output(&mut self) -> Option<ChatOutput> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        if self.stage == Stage::Ended {
            return None;
        }
        let idle = match (self.idle_ends, self.turn_since) {
            (Some(e), _) => Some(e),
            (None, Some(t)) => Some(Timestamp(t.0 + self.timing.idle_warn.0)),
            _ => None,
        };
        let gone = self
            .gone_since
            .map(|g| Timestamp(g.0 + self.timing.gone_after.0));
        [
            Some(Timestamp(self.started.0 + MAX_CHAT_MS)),
            idle,
            gone,
            self.next_position,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn is_done(&self) -> bool {
        self.stage == Stage::Ended && self.leave_when_joined.is_none()
    }
}
