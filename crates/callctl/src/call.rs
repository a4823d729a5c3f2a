//! An inbound call after it is answered: the flow, the queue, the agent's
//! phone, the bridge and the hang-up.

use crate::{
    contact_attributes, outcome_name, Conversation, EngineRequest, Journal, QueueRef, Recording,
    RecordingAction, RecordingPolicy, Stage, HANG_UP_TAG, MAX_CALL_MS, MAX_JOURNAL_ITEMS,
    POSITION_EVERY_MS, RING_MAX_MS, RING_MIN_MS,
};
use flow::{Call as Flow, FlowEvent, Input as FlowInput, Node, Output as FlowOutput};
use model::{AgentId, ContactId, DurationMs, Timestamp};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// One attempt at ringing an agent's phone (a call may ring several:
/// missed offers, transfers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DialId(pub u32);

impl fmt::Display for DialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "d{}", self.0)
    }
}

/// What the caller's leg plays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clip {
    /// A prompt by name (a flow's, or one of the system's `sys-*`).
    Prompt(String),
    /// "You are number N in the queue".
    Position(u32),
    /// A short silence (the hang-up clip).
    Silence,
}

/// An agent's phone, when the engine offers them a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneState {
    /// A phone is registered: ring it.
    Registered,
    /// The agent used a phone but it is no longer registered.
    Gone,
    /// The agent answers at the desktop (no phone to ring).
    Desk,
}

/// Why ringing an agent's phone ended without an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialError {
    /// The call called it off (`Output::StopDialing`).
    Cancelled,
    /// It was refused, not answered in time, or its answer was unusable.
    Failed(String),
}

/// What happens to a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    // The caller's leg.
    /// A key, by SIP INFO or RTP telephone-event.
    Key(char),
    /// The caller's leg ended (BYE, CANCEL; None: signalling went away).
    CallerHungUp(Option<&'static str>),
    /// The caller held (true) or resumed (false) the call.
    CallerHold(bool),
    /// A clip played with this tag ended.
    PlayFinished(u64),
    /// The caller's media came from another address (NAT) and is followed.
    MediaLatched,
    /// The caller's media stopped.
    MediaStopped,
    // The routing engine's news.
    Offered {
        agent: AgentId,
        expires_at: Timestamp,
        phone: PhoneState,
    },
    OfferGone {
        agent: AgentId,
    },
    /// The agent answered from the desktop.
    AnsweredAtDesk {
        agent: AgentId,
    },
    /// The agent put the caller on hold (true) or took them off.
    AgentHold(bool),
    /// The contact ended (the agent ended it, or the service cleared it).
    ContactEnded,
    // Answers to requests.
    Joined(Result<ContactId, String>),
    CallbackBooked(bool),
    Accepted {
        dial: DialId,
        ok: bool,
    },
    Position(Option<(u32, DurationMs)>),
    // Agents' phones.
    /// Ringing ended: answered (with media running) or not.
    Dialled {
        dial: DialId,
        result: Result<(), DialError>,
    },
    /// A bridged agent's phone hung up.
    AgentHungUp {
        dial: DialId,
    },
    /// The agent asks something of the call's recording (the desktop).
    Recording(RecordingAction),
    /// A recording could not be started (its file or record could not be
    /// made): the call goes on unrecorded.
    RecordingFailed,
}

/// What the call asks its edge to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Appends a clip to what the caller hears; `tag` comes back in
    /// `Input::PlayFinished`.
    Play {
        clip: Clip,
        tag: Option<u64>,
    },
    /// Drops what is queued to play.
    Clear,
    /// Loops this prompt whenever nothing else plays (None: silence).
    Music(Option<String>),
    /// Ring an agent's phone for at most `ring`.
    Dial {
        dial: DialId,
        agent: AgentId,
        ring: DurationMs,
    },
    /// Stop ringing (an answer after this is hung up).
    StopDialing {
        dial: DialId,
    },
    /// Relay audio both ways between the caller and this answered phone.
    Bridge {
        dial: DialId,
    },
    /// Stop relaying (the agent holds the caller).
    Unbridge {
        dial: DialId,
    },
    /// Hang up an answered agent's phone.
    HangUpAgent {
        dial: DialId,
    },
    /// Hang up the caller's leg (BYE if it is still up).
    HangUpCaller,
    Engine(EngineRequest),
    /// Start, pause, resume or stop recording the caller (left) and the
    /// bridged agent's phone (right).
    Record(RecordingAction),
    /// The agent's recording request was refused, and why.
    RecordingRefused(&'static str),
    /// Write the journal as it stands (a crash then loses no call).
    Save,
    /// The call is over.
    Done,
}

/// What the edge found out before answering.
#[derive(Debug)]
pub struct Setup {
    /// The service's flow, started; None: straight to the service's queue.
    pub flow: Option<Flow>,
    /// The service is open now (matters only without a flow).
    pub open: bool,
    /// Where a callback rings the caller, if anywhere.
    pub callback_to: Option<String>,
    /// Attributes that hold patient data: never put on a contact.
    pub private: BTreeSet<String>,
    /// When the service records calls (the caller is told first).
    pub recording: RecordingPolicy,
}

/// Why the call is ending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gone {
    TooLong,
    HungUp,
    FlowEnded,
    MediaStopped,
    EndedByService,
    /// The agent ended it (their phone, or the desktop).
    Agent,
}

/// A question asked, whose answer is awaited before the flow's next
/// output is carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Awaiting {
    /// Joining the queue for the flow's Enqueue.
    Join,
    /// Joining the queue so that a callback can keep the place.
    JoinForCallback {
        to: String,
    },
    Booking {
        contact: ContactId,
    },
}

/// One inbound call.
#[derive(Debug)]
pub struct VoiceCall {
    flow: Option<Flow>,
    callback_to: Option<String>,
    private: BTreeSet<String>,
    now: Timestamp,
    deadline: Timestamp,
    contact: Option<ContactId>,
    answered: bool,
    play_tag: u64,
    /// The prompt whose end the flow waits for.
    waiting_tag: Option<u64>,
    hanging_up: bool,
    awaiting: Option<Awaiting>,
    /// The phone being rung now.
    dialing: Option<(DialId, AgentId)>,
    /// An answer being accepted (the engine asked).
    accepting: Option<(DialId, AgentId)>,
    /// The agent's phone the caller is bridged to.
    bridged: Option<(DialId, AgentId)>,
    next_dial: u32,
    next_position: Option<Timestamp>,
    reading_position: bool,
    announced_once: bool,
    /// No flow: the first position is said once.
    announce_without_flow: bool,
    gone: Option<Gone>,
    done: bool,
    recording: RecordingPolicy,
    journal: Journal,
    out: VecDeque<Output>,
}

impl VoiceCall {
    /// The call is answered and its media runs.
    pub fn start(now: Timestamp, setup: Setup) -> VoiceCall {
        let Setup {
            flow,
            open,
            callback_to,
            private,
            recording,
        } = setup;
        let mut c = VoiceCall {
            flow,
            callback_to,
            private,
            now,
            deadline: now.plus(DurationMs(MAX_CALL_MS)),
            contact: None,
            answered: false,
            play_tag: 0,
            waiting_tag: None,
            hanging_up: false,
            awaiting: None,
            dialing: None,
            accepting: None,
            bridged: None,
            next_dial: 0,
            next_position: None,
            reading_position: false,
            announced_once: false,
            announce_without_flow: false,
            gone: None,
            done: false,
            recording,
            journal: Journal::default(),
            out: VecDeque::new(),
        };
        if recording != RecordingPolicy::Never {
            // Callers are told before anything is recorded.
            c.play(Clip::Prompt("sys-recorded".into()), None);
        }
        if c.flow.is_none() {
            if open {
                c.announce_without_flow = true;
                c.join(QueueRef::Service, 0, BTreeMap::new(), Awaiting::Join);
                c.out.push_back(Output::Music(Some("hold-1".into())));
            } else {
                c.play(Clip::Prompt("sys-closed".into()), None);
                c.hang_up_soon();
            }
        }
        c.run_flow();
        c
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn contact(&self) -> Option<ContactId> {
        self.contact
    }

    fn play(&mut self, clip: Clip, tag: Option<u64>) {
        self.out.push_back(Output::Play { clip, tag });
    }

    /// Plays the hang-up clip: when it ends, the call ends.
    fn hang_up_soon(&mut self) {
        self.hanging_up = true;
        self.play(Clip::Silence, Some(HANG_UP_TAG));
    }

    fn sorry_and_hang_up(&mut self) {
        self.play(Clip::Prompt("sys-sorry".into()), None);
        self.hang_up_soon();
    }

    fn engine(&mut self, r: EngineRequest) {
        self.out.push_back(Output::Engine(r));
    }

    fn join(
        &mut self,
        queue: QueueRef,
        priority: i32,
        attributes: BTreeMap<String, String>,
        why: Awaiting,
    ) {
        let attributes = contact_attributes(attributes, &self.private);
        self.awaiting = Some(why);
        self.engine(EngineRequest::Join {
            queue,
            priority,
            attributes,
        });
    }

    fn push_capped<T>(v: &mut Vec<T>, x: T) {
        if v.len() < MAX_JOURNAL_ITEMS {
            v.push(x);
        }
    }

    fn flow_input(&mut self, input: FlowInput) {
        let now = self.now;
        if let Some(f) = self.flow.as_mut() {
            // An input the flow cannot take (it has ended) changes nothing.
            let _ = f.handle(now, input);
        }
    }

    /// Carries out what the flow asked for, up to the next question whose
    /// answer is awaited.
    fn run_flow(&mut self) {
        while self.awaiting.is_none() && !self.done {
            let Some(o) = self.flow.as_mut().and_then(|f| f.poll_output()) else {
                return;
            };
            self.flow_output(o);
        }
    }

    fn flow_output(&mut self, o: FlowOutput) {
        match o {
            FlowOutput::Play { prompt, .. } => {
                self.play_tag += 1;
                self.waiting_tag = Some(self.play_tag);
                self.play(Clip::Prompt(prompt), Some(self.play_tag));
            }
            FlowOutput::Listen { .. } => {}
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
                self.join(q, priority, attributes, Awaiting::Join);
            }
            // A call on its way out (the queue refused it) hears no music.
            FlowOutput::HoldMusic { .. } if self.hanging_up => {}
            FlowOutput::HoldMusic { music } => {
                self.out.push_back(Output::Music(Some(
                    music.unwrap_or_else(|| "hold-1".into()),
                )));
            }
            FlowOutput::Announce { position, .. } => self.announce(position),
            FlowOutput::RequestCallback { queue, attributes } => {
                match (self.contact, self.callback_to.clone()) {
                    (_, None) => self.callback_done(false),
                    (Some(c), Some(to)) => self.book(c, to),
                    // Offered before the queue: join it, then keep the place.
                    (None, Some(to)) => self.join(
                        QueueRef::Named(queue),
                        0,
                        attributes,
                        Awaiting::JoinForCallback { to },
                    ),
                }
            }
            FlowOutput::SelfService { action, .. } => {
                Self::push_capped(&mut self.journal.path, format!("self_service:{action}"));
            }
            FlowOutput::RecordVoicemail { .. } | FlowOutput::Transfer { .. } => {
                self.sorry_and_hang_up();
            }
            FlowOutput::HangUp => {
                if !self.hanging_up {
                    self.hang_up_soon();
                }
            }
            FlowOutput::Event(FlowEvent::Entered { node, .. }) => {
                Self::push_capped(&mut self.journal.path, node);
            }
            FlowOutput::Event(FlowEvent::Left { outcome, .. }) => {
                if self.journal.outcome.is_none() && outcome != flow::Outcome::Queued {
                    self.journal.outcome = Some(outcome_name(outcome).into());
                }
            }
            FlowOutput::Event(_) => {}
        }
    }

    fn announce(&mut self, position: u32) {
        Self::push_capped(&mut self.journal.announced, position);
        self.play(Clip::Position(position), None);
    }

    fn book(&mut self, contact: ContactId, to: String) {
        self.awaiting = Some(Awaiting::Booking { contact });
        self.engine(EngineRequest::BookCallback { contact, to });
    }

    /// After a callback was asked for: only one that was booked is
    /// promised. The flow hangs up next either way (the clear removes any
    /// hang-up clip, so the flow's hang-up queues it again).
    fn callback_done(&mut self, booked: bool) {
        if !booked {
            self.journal.outcome = Some("callback_not_booked".into());
        }
        self.out.push_back(Output::Clear);
        self.out.push_back(Output::Music(None));
        let said = if booked {
            "sys-callback-booked"
        } else {
            "sys-sorry"
        };
        self.play(Clip::Prompt(said.into()), None);
        self.hanging_up = false;
    }

    fn new_dial(&mut self) -> DialId {
        self.next_dial += 1;
        DialId(self.next_dial)
    }

    fn key(&mut self, k: char) {
        if self.bridged.is_some() {
            return;
        }
        let Some(f) = self.flow.as_mut() else {
            Self::push_capped_key(&mut self.journal.keys, k);
            return;
        };
        let collecting = matches!(f.current_node(), Node::Collect { .. });
        let before = (f.flow_id().to_string(), f.node().to_string());
        let moved = f.handle(self.now, FlowInput::Key(k)).is_ok()
            && (f.flow_id(), f.node()) != (before.0.as_str(), before.1.as_str());
        Self::push_capped_key(&mut self.journal.keys, if collecting { '•' } else { k });
        if moved {
            // Barge-in: the key took the caller to another node (a menu,
            // a queue, a goodbye), so what was playing for the last one
            // stops (its end is no longer awaited). A key the node ignores
            // (a goodbye being played) or keeps (digits being collected)
            // stops nothing.
            self.waiting_tag = None;
            self.out.push_back(Output::Clear);
        }
    }

    fn push_capped_key(keys: &mut String, k: char) {
        if keys.chars().count() < MAX_JOURNAL_ITEMS {
            keys.push(k);
        }
    }

    fn connected(&mut self, agent: AgentId) {
        self.answered = true;
        self.journal.agent = Some(agent);
        self.journal.stage = Stage::Connected;
        self.out.push_back(Output::Clear);
        self.out.push_back(Output::Music(None));
    }

    fn input(&mut self, input: Input) {
        match input {
            Input::Key(k) => self.key(k),
            Input::CallerHungUp(why) => {
                self.journal.ended = why;
                self.gone.get_or_insert(Gone::HungUp);
            }
            Input::CallerHold(h) => self.journal.held = h,
            Input::PlayFinished(HANG_UP_TAG) => {
                self.gone.get_or_insert(Gone::FlowEnded);
            }
            Input::PlayFinished(t) => {
                if self.waiting_tag == Some(t) {
                    self.waiting_tag = None;
                    self.flow_input(FlowInput::PromptFinished);
                }
            }
            Input::MediaLatched => self.journal.nat = true,
            Input::RecordingFailed => {
                if self.journal.recording != Recording::Off {
                    self.journal.recording = Recording::Off;
                    self.journal.recordings = self.journal.recordings.saturating_sub(1);
                }
            }
            Input::Recording(action) => match self.recording_refusal(action) {
                Some(why) => self.out.push_back(Output::RecordingRefused(why)),
                None => self.set_recording(action),
            },
            Input::MediaStopped => {
                self.gone.get_or_insert(Gone::MediaStopped);
            }
            Input::Offered {
                agent,
                expires_at,
                phone,
            } => match phone {
                PhoneState::Registered => {
                    let dial = self.new_dial();
                    self.journal.stage = Stage::RingingAgent;
                    let ring = expires_at
                        .since(self.now)
                        .as_ms()
                        .clamp(RING_MIN_MS, RING_MAX_MS);
                    if let Some((old, _)) = self.dialing.replace((dial, agent)) {
                        self.out.push_back(Output::StopDialing { dial: old });
                    }
                    self.out.push_back(Output::Dial {
                        dial,
                        agent,
                        ring: DurationMs(ring),
                    });
                }
                PhoneState::Gone => {
                    // The agent's phone is gone: not ready; the engine
                    // offers the call to someone else.
                    Self::push_capped(&mut self.journal.missed_by, agent);
                    self.engine(EngineRequest::NotReady { agent });
                }
                PhoneState::Desk => {}
            },
            Input::OfferGone { agent } => {
                if let Some((dial, a)) = self.dialing {
                    if a == agent {
                        self.dialing = None;
                        self.out.push_back(Output::StopDialing { dial });
                        self.journal.stage = Stage::Queued;
                    }
                }
            }
            Input::AnsweredAtDesk { agent } => {
                if self.contact.is_some() && !self.answered {
                    self.connected(agent);
                    self.flow_input(FlowInput::AgentConnected);
                }
            }
            Input::AgentHold(on) => {
                if let Some((dial, _)) = self.bridged {
                    if on {
                        self.out.push_back(Output::Unbridge { dial });
                        self.out.push_back(Output::Music(Some("hold-1".into())));
                    } else {
                        self.out.push_back(Output::Music(None));
                        self.out.push_back(Output::Bridge { dial });
                    }
                }
                self.journal.agent_hold = on;
            }
            Input::ContactEnded => {
                if self.answered {
                    self.journal.outcome = Some("ended_by_agent".into());
                    self.gone.get_or_insert(Gone::Agent);
                } else if let Some(c) = self.contact.take() {
                    // The service ended the contact before an answer (a
                    // supervisor cleared it): the call ends too.
                    self.engine(EngineRequest::Forget { contact: c });
                    self.journal.outcome = Some("ended_by_the_service".into());
                    self.gone.get_or_insert(Gone::EndedByService);
                }
            }
            Input::Joined(result) => self.joined(result),
            Input::CallbackBooked(ok) => {
                let Some(Awaiting::Booking { contact }) = self.awaiting.take() else {
                    return;
                };
                if ok {
                    self.journal.callback_requested = true;
                    self.journal.outcome = Some("callback_requested".into());
                    self.engine(EngineRequest::Forget { contact });
                    self.contact = None;
                }
                self.callback_done(ok);
            }
            Input::Accepted { dial, ok } => {
                if self.accepting.map(|(d, _)| d) != Some(dial) {
                    return;
                }
                let (_, agent) = self.accepting.take().expect("checked");
                if !ok {
                    self.out.push_back(Output::HangUpAgent { dial });
                    return;
                }
                self.connected(agent);
                self.out.push_back(Output::Bridge { dial });
                self.journal.bridged = true;
                if self.recording == RecordingPolicy::Always
                    && self.journal.recording == Recording::Off
                {
                    self.set_recording(RecordingAction::Start);
                }
                self.out.push_back(Output::Save);
                self.flow_input(FlowInput::AgentConnected);
                // A transfer: the new agent's phone took the call, so the
                // last agent's phone is hung up.
                if let Some((old, _)) = self.bridged.replace((dial, agent)) {
                    self.out.push_back(Output::HangUpAgent { dial: old });
                }
            }
            Input::Position(pos) => {
                self.reading_position = false;
                if self.contact.is_none() || self.answered {
                    return;
                }
                match (pos, self.flow.is_some()) {
                    (Some((p, w)), true) => {
                        if !self.announced_once {
                            // The first position is said on joining.
                            self.announced_once = true;
                            self.announce(p);
                        }
                        self.flow_input(FlowInput::QueueUpdate {
                            position: p,
                            expected_wait: w,
                        });
                    }
                    (Some((p, _)), false) if self.announce_without_flow => {
                        self.announce_without_flow = false;
                        self.announce(p);
                    }
                    _ => {}
                }
            }
            Input::Dialled { dial, result } => {
                // Only the phone being rung now counts; an answer to an
                // earlier offer (or one called off) is put away.
                let current = self.dialing.filter(|(d, _)| *d == dial);
                let Some((_, agent)) = current else {
                    if result.is_ok() {
                        self.out.push_back(Output::HangUpAgent { dial });
                    }
                    return;
                };
                self.dialing = None;
                match result {
                    Ok(()) => match self.contact {
                        Some(contact) => {
                            self.accepting = Some((dial, agent));
                            self.engine(EngineRequest::Accept {
                                dial,
                                agent,
                                contact,
                            });
                        }
                        None => self.out.push_back(Output::HangUpAgent { dial }),
                    },
                    Err(DialError::Cancelled) => {}
                    Err(DialError::Failed(_)) => {
                        // The phone did not answer: not ready; the engine
                        // takes the offer back and the caller keeps their
                        // place.
                        Self::push_capped(&mut self.journal.missed_by, agent);
                        self.journal.stage = Stage::Queued;
                        self.engine(EngineRequest::NotReady { agent });
                    }
                }
            }
            Input::AgentHungUp { dial } => {
                if self.bridged.map(|(d, _)| d) == Some(dial) {
                    // The agent hung up their phone: the contact ends (the
                    // agent goes to wrap-up) and so does the caller's leg.
                    self.bridged = None;
                    if let Some(c) = self.contact {
                        self.engine(EngineRequest::End { contact: c });
                        self.contact = None;
                        self.engine(EngineRequest::Forget { contact: c });
                    }
                    self.journal.outcome = Some("ended_by_agent".into());
                    self.gone.get_or_insert(Gone::Agent);
                }
            }
        }
    }

    fn joined(&mut self, result: Result<ContactId, String>) {
        match (self.awaiting.take(), result) {
            (Some(Awaiting::Join), Ok(c)) => {
                self.contact = Some(c);
                self.journal.contact = Some(c);
                self.journal.stage = Stage::Queued;
                self.out.push_back(Output::Save);
                self.next_position = Some(self.now);
            }
            (Some(Awaiting::Join), Err(e)) => {
                self.journal.outcome = Some(format!("refused by the queue: {e}"));
                self.sorry_and_hang_up();
            }
            (Some(Awaiting::JoinForCallback { to }), Ok(c)) => {
                self.contact = Some(c);
                self.journal.contact = Some(c);
                self.book(c, to);
            }
            (Some(Awaiting::JoinForCallback { .. }), Err(_)) => self.callback_done(false),
            (other, result) => {
                // Not asked: a contact the call does not want is let go.
                self.awaiting = other;
                if let Ok(c) = result {
                    self.engine(EngineRequest::Abandon { contact: c });
                    self.engine(EngineRequest::Forget { contact: c });
                }
            }
        }
    }

    /// Why the agent may not do `action` to the recording now, if not.
    fn recording_refusal(&self, action: RecordingAction) -> Option<&'static str> {
        use Recording as R;
        use RecordingAction as A;
        if self.recording == RecordingPolicy::Never {
            return Some("this service does not record calls");
        }
        if self.bridged.is_none() || self.gone.is_some() {
            return Some("the call is not connected to an agent's phone");
        }
        match (action, self.journal.recording) {
            (A::Start, R::Off) | (A::Pause, R::On) | (A::Resume, R::Paused) => None,
            (A::Stop, _) if self.recording == RecordingPolicy::Always => {
                Some("this service records every call: pause the recording instead")
            }
            (A::Stop, R::On | R::Paused) => None,
            (A::Start, _) => Some("the call is being recorded already"),
            (A::Pause, R::Paused) => Some("the recording is paused already"),
            (A::Resume, R::On) => Some("the recording is not paused"),
            (_, R::Off) => Some("the call is not being recorded"),
        }
    }

    fn set_recording(&mut self, action: RecordingAction) {
        use RecordingAction as A;
        self.journal.recording = match action {
            A::Start | A::Resume => Recording::On,
            A::Pause => Recording::Paused,
            A::Stop => Recording::Off,
        };
        if action == A::Start {
            self.journal.recordings += 1;
        }
        self.out.push_back(Output::Record(action));
    }

    /// The call is over: tell the engine and the other leg.
    fn finish(&mut self) {
        if self.journal.recording != Recording::Off {
            self.set_recording(RecordingAction::Stop);
        }
        let gone = self.gone.expect("finishing");
        let caller_gone = gone != Gone::Agent;
        if caller_gone {
            if let Some(f) = self.flow.as_mut() {
                if !f.is_done() {
                    let _ = f.handle(self.now, FlowInput::HangUp);
                }
            }
        }
        if let Some((dial, _)) = self.dialing.take() {
            self.out.push_back(Output::StopDialing { dial });
        }
        let outcome = match (self.contact, self.answered) {
            (Some(c), true) => {
                if caller_gone {
                    self.engine(EngineRequest::End { contact: c });
                    "ended_by_caller"
                } else {
                    "ended_by_agent"
                }
            }
            (Some(c), false) => {
                self.engine(EngineRequest::Abandon { contact: c });
                "abandoned_in_queue"
            }
            (None, _) => match gone {
                Gone::EndedByService => "ended_by_the_service",
                Gone::Agent => "ended_by_agent",
                Gone::HungUp => "abandoned_in_ivr",
                Gone::TooLong => "too_long",
                Gone::FlowEnded | Gone::MediaStopped => "completed",
            },
        };
        if let Some(c) = self.contact.take() {
            self.engine(EngineRequest::Forget { contact: c });
        }
        let o = &mut self.journal.outcome;
        if o.is_none()
            || matches!(
                o.as_deref(),
                Some("answered" | "abandoned_in_flow" | "abandoned_in_queue" | "completed")
            )
        {
            *o = Some(outcome.to_string());
        }
        self.journal.stage = Stage::Ended;
        if let Some((dial, _)) = self.bridged.take() {
            self.out.push_back(Output::HangUpAgent { dial });
        }
        self.out.push_back(Output::HangUpCaller);
        self.out.push_back(Output::Done);
        self.done = true;
    }

    /// Answers that come after the end are let go.
    fn after_the_end(&mut self, input: Input) {
        match input {
            Input::Joined(Ok(c)) => {
                self.out
                    .push_back(Output::Engine(EngineRequest::Abandon { contact: c }));
                self.out
                    .push_back(Output::Engine(EngineRequest::Forget { contact: c }));
            }
            Input::Dialled {
                dial,
                result: Ok(()),
            }
            | Input::Accepted { dial, ok: true } => {
                self.out.push_back(Output::HangUpAgent { dial });
            }
            _ => {}
        }
    }

    fn settle(&mut self) {
        self.run_flow();
        if self.gone.is_some() && !self.done && self.awaiting.is_none() {
            self.finish();
        }
    }
}

impl Conversation for VoiceCall {
    type Input = Input;
    type Output = Output;

    fn handle(&mut self, now: Timestamp, input: Input) {
        self.now = self.now.max(now);
        if self.done {
            self.after_the_end(input);
            return;
        }
        self.input(input);
        self.settle();
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        if self.done {
            return;
        }
        let now = self.now;
        if now >= self.deadline {
            self.journal
                .outcome
                .get_or_insert_with(|| "too_long".into());
            self.gone.get_or_insert(Gone::TooLong);
        }
        if let Some(f) = self.flow.as_mut() {
            if f.poll_timeout().is_some_and(|t| t <= now) {
                let _ = f.handle_timeout(now);
            }
        }
        if let (Some(at), Some(c)) = (self.next_position, self.contact) {
            if at <= now && !self.answered && !self.reading_position {
                self.reading_position = true;
                self.next_position = Some(now.plus(DurationMs(POSITION_EVERY_MS)));
                self.engine(EngineRequest::ReadPosition { contact: c });
            }
        }
        self.settle();
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        if self.done {
            return None;
        }
        let flow = self.flow.as_ref().and_then(|f| f.poll_timeout());
        let position = self
            .next_position
            .filter(|_| self.contact.is_some() && !self.answered && !self.reading_position);
        [Some(self.deadline), flow, position]
            .into_iter()
            .flatten()
            .min()
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

impl fmt::Display for Clip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clip::Prompt(p) => write!(f, "{p}"),
            Clip::Position(n) => write!(f, "position {n}"),
            Clip::Silence => write!(f, "silence"),
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Play { clip, tag: None } => write!(f, "play {clip}"),
            Output::Play {
                clip,
                tag: Some(HANG_UP_TAG),
            } => write!(f, "play {clip} then hang up"),
            Output::Play { clip, tag: Some(t) } => write!(f, "play {clip} #{t}"),
            Output::Clear => write!(f, "clear"),
            Output::Music(Some(m)) => write!(f, "music {m}"),
            Output::Music(None) => write!(f, "music off"),
            Output::Dial { dial, agent, ring } => {
                write!(f, "dial {dial} agent {} for {ring}", agent.0)
            }
            Output::StopDialing { dial } => write!(f, "stop dialing {dial}"),
            Output::Bridge { dial } => write!(f, "bridge {dial}"),
            Output::Unbridge { dial } => write!(f, "unbridge {dial}"),
            Output::HangUpAgent { dial } => write!(f, "hang up {dial}"),
            Output::HangUpCaller => write!(f, "hang up caller"),
            Output::Record(a) => write!(f, "record {}", a.as_str()),
            Output::RecordingRefused(why) => write!(f, "recording refused: {why}"),
            Output::Save => write!(f, "save"),
            Output::Done => write!(f, "done"),
            Output::Engine(r) => match r {
                EngineRequest::Join {
                    queue,
                    priority,
                    attributes,
                } => {
                    let q = match queue {
                        QueueRef::Service => "the service's queue".to_string(),
                        QueueRef::Named(n) => format!("'{n}'"),
                    };
                    let a: Vec<String> =
                        attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    write!(f, "join {q} priority {priority} [{}]", a.join(", "))
                }
                EngineRequest::BookCallback { contact, to } => {
                    write!(f, "book callback c{} to {to}", contact.0)
                }
                EngineRequest::Accept {
                    dial,
                    agent,
                    contact,
                } => write!(f, "accept c{} for agent {} ({dial})", contact.0, agent.0),
                EngineRequest::ReadPosition { contact } => {
                    write!(f, "read position of c{}", contact.0)
                }
                EngineRequest::NotReady { agent } => write!(f, "agent {} not ready", agent.0),
                EngineRequest::End { contact } => write!(f, "end c{}", contact.0),
                EngineRequest::Abandon { contact } => write!(f, "abandon c{}", contact.0),
                EngineRequest::Forget { contact } => write!(f, "forget c{}", contact.0),
            },
        }
    }
}
