//! An email thread or a text-message exchange, as a pure state machine:
//! the written conversation that does not happen live. Messages arrive
//! when the patient sends them (hours or days apart), wait in the universal
//! queue as one contact, are answered by an agent, and the agent's words
//! go out by mail or text. When the agent finishes the contact the thread
//! is **resolved**, not over: the patient's next message on it opens it
//! again as a new contact, with the whole history before the agent.
//!
//! It speaks the chat's language ([`ChatInput`], [`ChatOutput`],
//! [`Message`]), so the agent's desktop reads and writes a thread as it
//! does a chat; what differs is what happens:
//! - no flow, no place in the queue every 15 s, no idle or absence timers
//!   (a mail is not a page left open);
//! - the first message of a new thread may be acknowledged with a
//!   reference (the service's words), sent out like an agent's;
//! - every message that must reach the patient is followed by
//!   [`ChatOutput::Send`]: the edge stores the message and its outbox
//!   row in one write, then delivers from the outbox;
//! - the sender's id is the mail's Message-ID or the text's provider id, so
//!   the same mail fetched twice is acknowledged, not stored twice;
//! - a refused join (no such queue) is tried again every minute: a written
//!   message is never dropped for want of a queue.

use crate::chat::{Body, ChatInput, ChatOutput, Message, Refusal, Sender, Stage};
use crate::chat::{MAX_CLIENT_ID, MAX_MESSAGES};
use crate::{Conversation, EngineRequest, QueueRef};
use model::{AgentId, ContactId, Timestamp};
use std::collections::{HashMap, VecDeque};

/// Longest message, in characters (an email's text part; a text message
/// is far shorter).
pub const MAX_THREAD_TEXT_CHARS: usize = 100_000;
/// Longest text an agent sends by SMS (GOV.UK Notify's limit: six
/// fragments).
pub const MAX_SMS_CHARS: usize = 918;
/// How long after a refused join it is tried again, ms.
pub const REJOIN_MS: i64 = 60_000;

/// How the thread reaches the patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Medium {
    Email,
    Sms,
}

impl Medium {
    pub fn as_str(self) -> &'static str {
        match self {
            Medium::Email => "email",
            Medium::Sms => "sms",
        }
    }

    pub fn channel(self) -> model::Channel {
        match self {
            Medium::Email => model::Channel::Email,
            Medium::Sms => model::Channel::Sms,
        }
    }
}

/// An email thread or an exchange of texts.
#[derive(Debug)]
pub struct Thread {
    medium: Medium,
    stage: Stage,
    now: Timestamp,
    next_seq: u64,
    /// (sender, sender's id) → the number it was stored as.
    ids: HashMap<(Sender, String), u64>,
    /// A refused join is tried again at this time (the stage is then
    /// `InFlow`: neither queued nor resolved).
    rejoin_at: Option<Timestamp>,
    /// Waiting for the message that starts (or opens) it.
    waiting: bool,
    /// Sent after the first message of a new thread.
    acknowledgement: Option<String>,
    /// The patient's messages were said to be waiting for a queue.
    refused_told: bool,
    /// The contact of this opening is over (the agent finished it).
    resolved: bool,
    names: HashMap<AgentId, String>,
    out: VecDeque<ChatOutput>,
}

impl Thread {
    fn empty(now: Timestamp, medium: Medium, next_seq: u64) -> Thread {
        Thread {
            medium,
            stage: Stage::InFlow,
            now,
            next_seq: next_seq.max(1),
            ids: HashMap::new(),
            rejoin_at: None,
            waiting: false,
            acknowledgement: None,
            refused_told: false,
            resolved: false,
            names: HashMap::new(),
            out: VecDeque::new(),
        }
    }

    /// A thread waiting for the patient's message: a new one (`next_seq`
    /// 1, no ids, the acknowledgement to send back after the first message,
    /// or None: none, e.g. to an automatic mail) or a resolved one that the
    /// patient's reply opens again (its next number and the ids stored).
    /// The message, handed in as [`ChatInput::Text`] or
    /// [`ChatInput::File`], joins the queue.
    pub fn waiting(
        now: Timestamp,
        medium: Medium,
        next_seq: u64,
        ids: Vec<(Sender, String, u64)>,
        acknowledgement: Option<String>,
    ) -> Thread {
        let mut t = Thread::empty(now, medium, next_seq);
        for (s, id, seq) in ids {
            t.ids.insert((s, id), seq);
        }
        t.acknowledgement = acknowledgement;
        t.waiting = true;
        t
    }

    /// A thread carried on after a restart: its next number, the ids
    /// already stored, and its contact and agent as the store has them (no
    /// contact: the join was under way, and is made again).
    pub fn resume(
        now: Timestamp,
        medium: Medium,
        next_seq: u64,
        ids: Vec<(Sender, String, u64)>,
        contact: Option<ContactId>,
        agent: Option<(AgentId, String)>,
    ) -> Thread {
        let mut t = Thread::empty(now, medium, next_seq);
        for (s, id, seq) in ids {
            t.ids.insert((s, id), seq);
        }
        t.stage = match (contact, agent) {
            (Some(c), Some((a, name))) => {
                t.names.insert(a, name);
                Stage::WithAgent(c, a)
            }
            (Some(c), None) => Stage::Queued(c),
            (None, _) => {
                t.join();
                Stage::Joining
            }
        };
        t
    }

    pub fn medium(&self) -> Medium {
        self.medium
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    pub fn contact(&self) -> Option<ContactId> {
        match self.stage {
            Stage::Queued(c) | Stage::WithAgent(c, _) => Some(c),
            _ => None,
        }
    }

    /// "resolved" once the agent has finished the contact.
    pub fn outcome(&self) -> Option<&'static str> {
        self.resolved.then_some("resolved")
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether `input` would be taken (the edge asks first and tells the
    /// sender why not).
    pub fn check(&self, input: &ChatInput) -> Result<(), Refusal> {
        let id_ok = |id: &Option<String>| match id {
            Some(i) if i.is_empty() || i.len() > MAX_CLIENT_ID => Err(Refusal::BadId),
            _ => Ok(()),
        };
        let text_ok = |t: &str| {
            if t.trim().is_empty() {
                Err(Refusal::Empty)
            } else if t.chars().count() > MAX_THREAD_TEXT_CHARS {
                Err(Refusal::TooLong)
            } else {
                Ok(())
            }
        };
        let room = || {
            if self.next_seq > MAX_MESSAGES {
                Err(Refusal::Full)
            } else {
                Ok(())
            }
        };
        match input {
            ChatInput::Text { id, text } => {
                id_ok(id)?;
                text_ok(text)?;
                room()
            }
            ChatInput::File { id, .. } => {
                id_ok(id)?;
                room()
            }
            ChatInput::AgentText { agent, id, text } => {
                id_ok(id)?;
                text_ok(text)?;
                if self.medium == Medium::Sms && text.trim().chars().count() > MAX_SMS_CHARS {
                    return Err(Refusal::TooLong);
                }
                room()?;
                match self.stage {
                    Stage::WithAgent(_, a) if a == *agent => Ok(()),
                    Stage::Ended => Err(Refusal::Ended),
                    _ => Err(Refusal::NotYours),
                }
            }
            // Buttons, typing, presence and leaving are a live page's.
            ChatInput::Choose { .. } | ChatInput::Leave => Err(Refusal::NotNow),
            _ => Ok(()),
        }
    }

    fn post(&mut self, from: Sender, body: Body, client_id: Option<String>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(i) = &client_id {
            self.ids.insert((from, i.clone()), seq);
        }
        self.out.push_back(ChatOutput::Post(Message {
            seq,
            at: self.now,
            from,
            body,
            client_id,
        }));
    }

    /// The message just posted goes out to the patient.
    fn send_last(&mut self) {
        self.out.push_back(ChatOutput::Send {
            seq: self.next_seq - 1,
        });
    }

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

    fn join(&mut self) {
        self.stage = Stage::Joining;
        self.rejoin_at = None;
        self.resolved = false;
        self.out.push_back(ChatOutput::Engine(EngineRequest::Join {
            queue: QueueRef::Service,
            priority: 0,
            attributes: vec![("via".to_string(), self.medium.as_str().to_string())],
        }));
    }

    /// A patient's message (text or file): stored; a resolved thread (or
    /// one whose join was refused) goes back to the queue.
    fn patient(&mut self, body: Body, id: Option<String>) {
        if self.ack_repeat(Sender::Patient, &id) {
            return;
        }
        self.post(Sender::Patient, body, id);
        if let Some(a) = self.acknowledgement.take() {
            self.post(Sender::System, Body::Text(a), None);
            self.send_last();
        }
        if std::mem::take(&mut self.waiting)
            || self.stage == Stage::Ended
            || self.rejoin_at.is_some()
        {
            self.join();
        }
    }
}

impl Conversation for Thread {
    type Input = ChatInput;
    type Output = ChatOutput;

    fn handle(&mut self, now: Timestamp, input: ChatInput) {
        self.now = self.now.max(now);
        if self.check(&input).is_err() {
            return;
        }
        match input {
            ChatInput::Text { id, text } => self.patient(Body::Text(text.trim().to_string()), id),
            ChatInput::File { id, file } => self.patient(Body::File(file), id),
            ChatInput::AgentText { agent, id, text } => {
                let from = Sender::Agent(agent);
                if !self.ack_repeat(from, &id) {
                    self.post(from, Body::Text(text.trim().to_string()), id);
                    self.send_last();
                }
            }
            ChatInput::Joined(Ok(c)) => {
                if self.stage == Stage::Joining {
                    self.refused_told = false;
                    self.stage = Stage::Queued(c);
                }
            }
            ChatInput::Joined(Err(e)) => {
                if self.stage == Stage::Joining {
                    // Kept, and tried again: never dropped. Said once.
                    self.stage = Stage::InFlow;
                    self.rejoin_at = Some(Timestamp(now.0 + REJOIN_MS));
                    if std::mem::replace(&mut self.refused_told, true) {
                        return;
                    }
                    self.post(
                        Sender::System,
                        Body::Text(format!(
                            "Could not join the queue ({e}); trying again in a minute."
                        )),
                        None,
                    );
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
                self.post(Sender::System, Body::Joined { agent, name }, None);
            }
            ChatInput::ContactEnded => {
                let Some(c) = self.contact() else { return };
                let who = match self.stage {
                    Stage::WithAgent(_, a) => self
                        .names
                        .get(&a)
                        .map(|n| format!("{n} resolved the conversation."))
                        .unwrap_or_else(|| "Resolved.".into()),
                    _ => "Closed by the service.".into(),
                };
                self.resolved = true;
                self.post(Sender::System, Body::Ended { reason: who }, None);
                self.out
                    .push_back(ChatOutput::Engine(EngineRequest::Forget { contact: c }));
                self.stage = Stage::Ended;
                self.out.push_back(ChatOutput::Done);
            }
            // A thread has no place to tell, nobody typing, no page.
            ChatInput::Position(_)
            | ChatInput::Typing
            | ChatInput::Connected(_)
            | ChatInput::Choose { .. }
            | ChatInput::Leave => {}
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        if self.rejoin_at.is_some_and(|t| now >= t) {
            self.join();
        }
    }

    fn poll_output(&mut self) -> Option<ChatOutput> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        self.rejoin_at
    }

    fn is_done(&self) -> bool {
        self.stage == Stage::Ended
    }
}
