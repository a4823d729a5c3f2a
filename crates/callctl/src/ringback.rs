//! A callback reaching an agent: ring the agent's phone, then the
//! caller's number, and bridge them.

use crate::{
    Clip, Conversation, DialError, DialId, EngineRequest, Journal, PhoneState, Stage, MAX_CALL_MS,
    RING_MAX_MS, RING_MIN_MS,
};
use model::{AgentId, ContactId, DurationMs, Timestamp};
use std::collections::VecDeque;
use std::fmt;

/// How long the caller's phone rings, ms.
pub const CALLER_RING_MS: i64 = 45_000;
/// The agent's phone, and the caller's.
pub const AGENT: DialId = DialId(1);
pub const CALLER: DialId = DialId(2);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingBackInput {
    /// Ringing a phone ended: answered (media running) or not.
    Dialled {
        dial: DialId,
        result: Result<(), DialError>,
    },
    /// The engine's answer to `Accept`.
    Accepted { ok: bool },
    /// An answered phone hung up.
    HungUp { dial: DialId },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingBackOutput {
    /// Ring the agent's phone (`AGENT`) or the caller's number (`CALLER`).
    Dial {
        dial: DialId,
        ring: DurationMs,
    },
    StopDialing {
        dial: DialId,
    },
    /// Play to an answered phone.
    Play {
        dial: DialId,
        clip: Clip,
    },
    /// Relay audio both ways between the two answered phones.
    Bridge,
    HangUp {
        dial: DialId,
    },
    /// The callback was taken: the caller's number need not be kept for
    /// a restart any longer.
    Taken,
    Engine(EngineRequest),
    Save,
    Done,
}

/// One callback being rung.
#[derive(Debug)]
pub struct RingBack {
    contact: ContactId,
    agent: AgentId,
    now: Timestamp,
    deadline: Timestamp,
    /// Phones answered (and not yet hung up).
    up: [bool; 2],
    ringing: [bool; 2],
    done: bool,
    journal: Journal,
    out: VecDeque<RingBackOutput>,
}

impl RingBack {
    /// The engine offered the callback `contact` to `agent` until
    /// `expires_at`.
    pub fn start(
        now: Timestamp,
        contact: ContactId,
        agent: AgentId,
        expires_at: Timestamp,
        phone: PhoneState,
    ) -> RingBack {
        let mut r = RingBack {
            contact,
            agent,
            now,
            deadline: now.plus(DurationMs(MAX_CALL_MS)),
            up: [false; 2],
            ringing: [false; 2],
            done: false,
            journal: Journal {
                contact: Some(contact),
                stage: Stage::RingingAgent,
                ..Journal::default()
            },
            out: VecDeque::new(),
        };
        match phone {
            PhoneState::Registered => {
                let ring = expires_at
                    .since(now)
                    .as_ms()
                    .clamp(RING_MIN_MS, RING_MAX_MS);
                r.ringing[0] = true;
                r.out.push_back(RingBackOutput::Dial {
                    dial: AGENT,
                    ring: DurationMs(ring),
                });
            }
            PhoneState::Gone => {
                // The agent's phone is gone: not ready; the engine offers
                // the callback to someone else.
                r.journal.missed_by.push(agent);
                r.engine(EngineRequest::NotReady { agent });
                r.end("agent_phone_gone");
            }
            // Answered at the desktop: the agent rings the caller
            // themselves; there is nothing for the edge to do.
            PhoneState::Desk => {
                r.done = true;
                r.out.push_back(RingBackOutput::Done);
            }
        }
        r
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    fn engine(&mut self, r: EngineRequest) {
        self.out.push_back(RingBackOutput::Engine(r));
    }

    fn ix(dial: DialId) -> Option<usize> {
        match dial {
            AGENT => Some(0),
            CALLER => Some(1),
            _ => None,
        }
    }

    /// Ends the call: every phone still up is hung up, every one still
    /// ringing stopped.
    fn end(&mut self, outcome: &str) {
        if self.done {
            return;
        }
        if self.journal.outcome.is_none() {
            self.journal.outcome = Some(outcome.to_string());
        }
        self.journal.stage = Stage::Ended;
        for (i, dial) in [AGENT, CALLER].into_iter().enumerate() {
            if self.ringing[i] {
                self.ringing[i] = false;
                self.out.push_back(RingBackOutput::StopDialing { dial });
            }
            if self.up[i] {
                self.up[i] = false;
                self.out.push_back(RingBackOutput::HangUp { dial });
            }
        }
        self.out.push_back(RingBackOutput::Save);
        self.out.push_back(RingBackOutput::Done);
        self.done = true;
    }

    /// The agent has the contact: it ends with the call.
    fn end_contact(&mut self, outcome: &str) {
        self.engine(EngineRequest::End {
            contact: self.contact,
        });
        self.end(outcome);
    }

    fn input(&mut self, input: RingBackInput) {
        match input {
            RingBackInput::Dialled { dial, result } => {
                let Some(i) = Self::ix(dial) else { return };
                if !self.ringing[i] {
                    // Called off: an answer now is let go.
                    if result.is_ok() {
                        self.out.push_back(RingBackOutput::HangUp { dial });
                    }
                    return;
                }
                self.ringing[i] = false;
                match (dial, result) {
                    (AGENT, Ok(())) => {
                        self.up[0] = true;
                        self.engine(EngineRequest::Accept {
                            dial: AGENT,
                            agent: self.agent,
                            contact: self.contact,
                        });
                    }
                    (AGENT, Err(_)) => {
                        self.journal.missed_by.push(self.agent);
                        self.engine(EngineRequest::NotReady { agent: self.agent });
                        self.end("agent_did_not_answer");
                    }
                    (_, Ok(())) => {
                        self.up[1] = true;
                        self.out.push_back(RingBackOutput::Bridge);
                        self.journal.bridged = true;
                        self.journal.stage = Stage::Connected;
                        self.out.push_back(RingBackOutput::Save);
                    }
                    (_, Err(e)) => {
                        let why = match e {
                            DialError::Cancelled => "cancelled".to_string(),
                            DialError::Failed(f) => f,
                        };
                        self.end_contact(&format!("caller_did_not_answer: {why}"));
                    }
                }
            }
            RingBackInput::Accepted { ok } => {
                if !self.up[0] || self.journal.agent.is_some() {
                    return;
                }
                if !ok {
                    // The offer went meanwhile (it expired, or the caller's
                    // place was taken back).
                    self.end("offer_gone");
                    return;
                }
                self.journal.agent = Some(self.agent);
                self.journal.stage = Stage::RingingCaller;
                self.out.push_back(RingBackOutput::Taken);
                self.out.push_back(RingBackOutput::Play {
                    dial: AGENT,
                    clip: Clip::Prompt("sys-callback-hello".into()),
                });
                self.ringing[1] = true;
                self.out.push_back(RingBackOutput::Dial {
                    dial: CALLER,
                    ring: DurationMs(CALLER_RING_MS),
                });
            }
            RingBackInput::HungUp { dial } => {
                let Some(i) = Self::ix(dial) else { return };
                if !self.up[i] {
                    return;
                }
                self.up[i] = false;
                let by = if dial == AGENT {
                    "ended_by_agent"
                } else {
                    "ended_by_caller"
                };
                if self.journal.agent.is_some() {
                    self.end_contact(by);
                } else {
                    // Hung up before the engine gave them the contact.
                    self.end(by);
                }
            }
        }
    }
}

impl Conversation for RingBack {
    type Input = RingBackInput;
    type Output = RingBackOutput;

    fn handle(&mut self, now: Timestamp, input: RingBackInput) {
        self.now = self.now.max(now);
        if self.done {
            // A phone that answers after the end is let go.
            if let RingBackInput::Dialled {
                dial,
                result: Ok(()),
            } = input
            {
                self.out.push_back(RingBackOutput::HangUp { dial });
            }
            return;
        }
        self.input(input);
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        if !self.done && self.now >= self.deadline {
            if self.journal.agent.is_some() {
                self.end_contact("too_long");
            } else {
                self.end("too_long");
            }
        }
    }

    fn poll_output(&mut self) -> Option<RingBackOutput> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        (!self.done).then_some(self.deadline)
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

impl fmt::Display for RingBackOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = |d: &DialId| if *d == AGENT { "agent" } else { "caller" };
        match self {
            RingBackOutput::Dial { dial, ring } => write!(f, "dial {} for {ring}", who(dial)),
            RingBackOutput::StopDialing { dial } => write!(f, "stop dialing {}", who(dial)),
            RingBackOutput::Play { dial, clip } => write!(f, "play {clip} to {}", who(dial)),
            RingBackOutput::Bridge => write!(f, "bridge agent and caller"),
            RingBackOutput::HangUp { dial } => write!(f, "hang up {}", who(dial)),
            RingBackOutput::Taken => write!(f, "callback taken"),
            RingBackOutput::Engine(r) => {
                write!(f, "{}", crate::Output::Engine(r.clone()))
            }
            RingBackOutput::Save => write!(f, "save"),
            RingBackOutput::Done => write!(f, "done"),
        }
    }
}
