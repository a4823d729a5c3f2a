//! The interpreter: one call's (or chat's) walk through a flow, as a pure
//! state machine. Inputs are keys, "prompt finished", time passing, caller
//! hang-up and queue news; outputs are commands for the edge (play, listen,
//! enqueue, announce, transfer, hang up) and events for the KPI engine.
//!
//! Protocol: after a `Play` the edge sends `PromptFinished` (a chat sends
//! it at once). Keys may come at any time while a menu or collect node is
//! current (barge-in). `poll_timeout` says when to call `handle_timeout`.

use crate::model::{DigitRule, Node};
use crate::validate::{Checked, FlowBook};
use model::{DurationMs, NhsNumber, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Visits to one node in one call before the interpreter stops the loop.
pub const MAX_VISITS: u32 = 10;
/// Nodes run for one input before the interpreter gives up (a bug guard:
/// validation already forbids loops that never wait).
pub const MAX_STEPS_PER_INPUT: u32 = 200;
/// Attributes a call may carry, and their sizes.
pub const MAX_ATTRIBUTES: usize = 64;
pub const MAX_ATTRIBUTE_BYTES: usize = 512;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A key: '0'-'9', '*' or '#'.
    Key(char),
    PromptFinished,
    /// The caller hung up (or closed the chat).
    HangUp,
    /// The queue's news for this caller.
    QueueUpdate {
        position: u32,
        expected_wait: DurationMs,
    },
    /// An agent took the call: the flow's part is over.
    AgentConnected,
}

/// How a call left the flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still in the flow.
    InFlow,
    /// Waiting in a queue (the flow's work is done until an agent answers).
    Queued,
    Answered,
    CallbackRequested,
    SelfServed,
    Voicemail,
    Transferred,
    /// The flow hung up (closed message, end of a menu).
    Completed,
    /// The caller hung up in the IVR.
    AbandonedInFlow,
    /// The caller hung up while queued.
    AbandonedInQueue,
    /// A loop or step limit stopped the call (reported for the editor).
    Stopped,
}

/// Events for the KPI engine.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FlowEvent {
    /// The IVR path: each node the call entered.
    Entered {
        flow: String,
        version: u32,
        node: String,
    },
    SelfServiceCompleted {
        action: String,
    },
    /// The call left the flow (to a queue, an agent, or the end).
    Left {
        outcome: Outcome,
        time_in_ivr: DurationMs,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Output {
    Play {
        prompt: String,
        text: String,
    },
    /// Wait for up to `max_digits` keys (a chat shows buttons for `options`).
    Listen {
        max_digits: u8,
        options: Vec<String>,
    },
    Enqueue {
        queue: String,
        priority: i32,
        require: Vec<String>,
        attributes: BTreeMap<String, String>,
    },
    HoldMusic {
        music: Option<String>,
    },
    Announce {
        position: u32,
        expected_wait: DurationMs,
    },
    /// Keep the caller's place in `queue` and call them back.
    RequestCallback {
        queue: String,
        attributes: BTreeMap<String, String>,
    },
    SelfService {
        action: String,
        attributes: BTreeMap<String, String>,
    },
    RecordVoicemail {
        box_name: String,
    },
    Transfer {
        number: String,
    },
    HangUp,
    Event(FlowEvent),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Playing a node's prompt; keys may barge in.
    Prompting,
    /// Prompt done; waiting for keys until the timer.
    Listening,
    /// In a queue: announcements on the timer, a callback key.
    Queued,
    /// Playing a final prompt, then hanging up.
    Closing,
    Done,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InterpError {
    #[error("flow '{0}' is not in the book")]
    UnknownFlow(String),
    #[error("the call has ended")]
    Ended,
    #[error("time went backwards")]
    TimeWentBackwards,
    #[error("'{0}' is not a telephone key")]
    BadKey(char),
    #[error("too many attributes, or one too long")]
    AttributeLimit,
}

/// One call's walk through the flows.
#[derive(Debug)]
pub struct Call {
    book: Arc<FlowBook>,
    flow: Arc<Checked>,
    /// Sub-flow returns: (flow, node to go to on return).
    stack: Vec<(Arc<Checked>, String)>,
    node: String,
    phase: Phase,
    retries: u8,
    digits: String,
    attributes: BTreeMap<String, String>,
    priority: i32,
    require: Vec<String>,
    started: Timestamp,
    now: Timestamp,
    timer: Option<Timestamp>,
    visits: BTreeMap<(String, String), u32>,
    queue: Option<(String, Option<u32>)>,
    position: Option<(u32, DurationMs)>,
    outcome: Outcome,
    out: VecDeque<Output>,
}

impl Call {
    /// Starts a call on `flow_id` in this book (kept for the whole call:
    /// saving a new version does not change a call in progress).
    pub fn start(
        book: Arc<FlowBook>,
        flow_id: &str,
        attributes: BTreeMap<String, String>,
        now: Timestamp,
    ) -> Result<Call, InterpError> {
        let flow = book
            .get(flow_id)
            .ok_or_else(|| InterpError::UnknownFlow(flow_id.to_string()))?;
        if attributes.len() > MAX_ATTRIBUTES
            || attributes
                .iter()
                .any(|(k, v)| k.len() + v.len() > MAX_ATTRIBUTE_BYTES)
        {
            return Err(InterpError::AttributeLimit);
        }
        let node = flow.flow.start.clone();
        let mut c = Call {
            book,
            flow,
            stack: Vec::new(),
            node,
            phase: Phase::Prompting,
            retries: 0,
            digits: String::new(),
            attributes,
            priority: 0,
            require: Vec::new(),
            started: now,
            now,
            timer: None,
            visits: BTreeMap::new(),
            queue: None,
            position: None,
            outcome: Outcome::InFlow,
            out: VecDeque::new(),
        };
        c.run(None);
        Ok(c)
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timer
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.attributes
    }

    /// The node the call is at (for agents' screens and tests).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The flow the call is in now (a sub-flow while in one).
    pub fn flow_id(&self) -> &str {
        &self.flow.flow.id
    }

    /// The definition of the current node.
    pub fn current_node(&self) -> &Node {
        &self.flow.flow.nodes[&self.node]
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    fn advance(&mut self, now: Timestamp) -> Result<(), InterpError> {
        if now < self.now {
            return Err(InterpError::TimeWentBackwards);
        }
        self.now = now;
        Ok(())
    }

    pub fn handle_timeout(&mut self, now: Timestamp) -> Result<(), InterpError> {
        self.advance(now)?;
        match self.timer {
            Some(t) if t <= now => {
                self.timer = None;
                match self.phase {
                    Phase::Listening => self.no_more_keys(),
                    Phase::Queued => {
                        if let Some((_, Some(every))) = &self.queue {
                            let every = *every;
                            if let Some((position, expected_wait)) = self.position {
                                self.out.push_back(Output::Announce {
                                    position,
                                    expected_wait,
                                });
                            }
                            // Keep to the schedule; skip any the edge woke us too late for.
                            let mut next = t.plus(DurationMs(every as i64));
                            while next <= now {
                                next = next.plus(DurationMs(every as i64));
                            }
                            self.timer = Some(next);
                        }
                    }
                    _ => {}
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub fn handle(&mut self, now: Timestamp, input: Input) -> Result<(), InterpError> {
        self.advance(now)?;
        if self.phase == Phase::Done {
            return Err(InterpError::Ended);
        }
        match input {
            Input::HangUp => {
                let outcome = if self.phase == Phase::Queued {
                    Outcome::AbandonedInQueue
                } else {
                    Outcome::AbandonedInFlow
                };
                self.finish(outcome, false);
            }
            Input::AgentConnected => self.finish(Outcome::Answered, false),
            Input::QueueUpdate {
                position,
                expected_wait,
            } => self.position = Some((position, expected_wait)),
            Input::PromptFinished => match self.phase {
                Phase::Prompting => self.prompt_done(),
                Phase::Closing => self.finish(self.closing_outcome(), true),
                _ => {}
            },
            Input::Key(k) => {
                if !matches!(k, '0'..='9' | '*' | '#') {
                    return Err(InterpError::BadKey(k));
                }
                self.key(k);
            }
        }
        Ok(())
    }

    fn closing_outcome(&self) -> Outcome {
        match self.outcome {
            Outcome::InFlow => Outcome::Completed,
            o => o,
        }
    }

    fn current(&self) -> Node {
        self.flow.flow.nodes[&self.node].clone()
    }

    fn prompt_done(&mut self) {
        match self.current() {
            Node::Menu { timeout_ms, .. } | Node::Collect { timeout_ms, .. } => {
                self.phase = Phase::Listening;
                self.timer = Some(self.now.plus(DurationMs(timeout_ms as i64)));
            }
            Node::OfferCallback { .. } => {
                self.phase = Phase::Listening;
                self.timer = Some(self.now.plus(DurationMs::from_secs(5)));
            }
            Node::Play { next, .. } => self.run(Some(next)),
            Node::SelfService { next, .. } => self.run(Some(next)),
            Node::Voicemail { box_name, .. } => {
                self.out.push_back(Output::RecordVoicemail { box_name });
                self.finish(Outcome::Voicemail, false);
            }
            _ => {}
        }
    }

    fn key(&mut self, k: char) {
        if !matches!(
            self.phase,
            Phase::Prompting | Phase::Listening | Phase::Queued
        ) {
            return;
        }
        match self.current() {
            Node::Menu { options, .. } if self.phase != Phase::Queued => {
                match options.get(&k.to_string()) {
                    Some(next) => {
                        self.retries = 0;
                        self.run(Some(next.clone()));
                    }
                    None => self.retry(),
                }
            }
            Node::Collect {
                validate,
                timeout_ms,
                ..
            } if self.phase != Phase::Queued => {
                let max = match validate {
                    DigitRule::NhsNumber => 10,
                    DigitRule::DateOfBirth => 8,
                    DigitRule::Digits { max, .. } => max as usize,
                };
                if k == '#' {
                    self.no_more_keys();
                } else if k != '*' {
                    self.digits.push(k);
                    if self.digits.len() >= max {
                        self.no_more_keys();
                    } else if self.phase == Phase::Listening {
                        // The wait restarts with every key (inter-digit timeout).
                        self.timer = Some(self.now.plus(DurationMs(timeout_ms as i64)));
                    }
                }
            }
            Node::OfferCallback {
                queue, declined, ..
            } if self.phase != Phase::Queued => {
                if k == '1' {
                    self.out.push_back(Output::RequestCallback {
                        queue,
                        attributes: self.attributes.clone(),
                    });
                    self.finish(Outcome::CallbackRequested, true);
                } else {
                    self.run(Some(declined));
                }
            }
            Node::Queue {
                callback_key: Some(ck),
                queue,
                ..
            } if self.phase == Phase::Queued && ck == k.to_string() => {
                self.out.push_back(Output::RequestCallback {
                    queue,
                    attributes: self.attributes.clone(),
                });
                self.finish(Outcome::CallbackRequested, true);
            }
            _ => {}
        }
    }

    /// The caller stopped pressing keys (timeout, '#', or enough digits).
    fn no_more_keys(&mut self) {
        self.timer = None;
        match self.current() {
            Node::Menu { .. } => self.retry(),
            Node::Collect {
                validate,
                attribute,
                next,
                ..
            } => {
                let digits = std::mem::take(&mut self.digits);
                if !digits.is_empty() && valid(&validate, &digits, self.now) {
                    self.retries = 0;
                    self.attributes.insert(attribute, digits);
                    self.run(Some(next));
                } else {
                    self.retry();
                }
            }
            Node::OfferCallback { declined, .. } => self.run(Some(declined)),
            _ => {}
        }
    }

    /// No key, a wrong key, or digits that failed: prompt again, or after
    /// the retries go to the failure branch.
    fn retry(&mut self) {
        self.digits.clear();
        let (retries, failure) = match self.current() {
            Node::Menu {
                retries, failure, ..
            }
            | Node::Collect {
                retries, failure, ..
            } => (retries, failure),
            _ => return,
        };
        if self.retries < retries {
            self.retries += 1;
            self.enter_prompt();
        } else {
            self.retries = 0;
            self.run(Some(failure));
        }
    }

    fn enter_prompt(&mut self) {
        self.timer = None;
        self.phase = Phase::Prompting;
        match self.current() {
            Node::Menu {
                prompt,
                text,
                options,
                ..
            } => {
                self.out.push_back(Output::Play { prompt, text });
                self.out.push_back(Output::Listen {
                    max_digits: 1,
                    options: options.keys().cloned().collect(),
                });
            }
            Node::Collect {
                prompt,
                text,
                validate,
                ..
            } => {
                let max_digits = match validate {
                    DigitRule::NhsNumber => 10,
                    DigitRule::DateOfBirth => 8,
                    DigitRule::Digits { max, .. } => max,
                };
                self.out.push_back(Output::Play { prompt, text });
                self.out.push_back(Output::Listen {
                    max_digits,
                    options: Vec::new(),
                });
            }
            _ => {}
        }
    }

    fn finish(&mut self, outcome: Outcome, say_goodbye: bool) {
        if self.phase == Phase::Done {
            return;
        }
        self.outcome = outcome;
        self.timer = None;
        self.phase = Phase::Done;
        if say_goodbye
            || matches!(
                outcome,
                Outcome::Completed | Outcome::Stopped | Outcome::CallbackRequested
            )
        {
            self.out.push_back(Output::HangUp);
        }
        self.out.push_back(Output::Event(FlowEvent::Left {
            outcome,
            time_in_ivr: self.now.since(self.started),
        }));
    }

    /// Runs nodes from `next` (or the current node when `None`) until one
    /// waits for the caller, the edge or time.
    fn run(&mut self, next: Option<String>) {
        if let Some(n) = next {
            self.node = n;
        }
        for _ in 0..MAX_STEPS_PER_INPUT {
            let key = (self.flow.flow.id.clone(), self.node.clone());
            let visits = self.visits.entry(key).or_insert(0);
            *visits += 1;
            if *visits > MAX_VISITS {
                self.finish(Outcome::Stopped, true);
                return;
            }
            self.out.push_back(Output::Event(FlowEvent::Entered {
                flow: self.flow.flow.id.clone(),
                version: self.flow.version,
                node: self.node.clone(),
            }));
            self.retries = 0;
            self.digits.clear();
            match self.current() {
                Node::Play { prompt, text, .. } => {
                    self.phase = Phase::Prompting;
                    self.out.push_back(Output::Play { prompt, text });
                    return;
                }
                Node::Menu { .. } | Node::Collect { .. } => {
                    self.enter_prompt();
                    return;
                }
                Node::Hours {
                    calendar,
                    open,
                    closed,
                } => {
                    let is_open = self
                        .flow
                        .hours
                        .get(&calendar)
                        .is_some_and(|h| h.is_open(self.now));
                    self.node = if is_open { open } else { closed };
                }
                Node::Branch {
                    attribute,
                    any_of,
                    then,
                    otherwise,
                } => {
                    let hit = match self.attributes.get(&attribute) {
                        None => false,
                        Some(v) => any_of.is_empty() || any_of.iter().any(|a| a == v),
                    };
                    self.node = if hit { then } else { otherwise };
                }
                Node::Set {
                    attributes,
                    priority,
                    require,
                    next,
                } => {
                    for (k, v) in attributes {
                        if self.attributes.len() < MAX_ATTRIBUTES
                            || self.attributes.contains_key(&k)
                        {
                            self.attributes.insert(k, v);
                        }
                    }
                    if let Some(p) = priority {
                        self.priority = p;
                    }
                    for r in require {
                        if !self.require.contains(&r) {
                            self.require.push(r);
                        }
                    }
                    self.node = next;
                }
                Node::SelfService {
                    action,
                    needs,
                    confirm_prompt,
                    confirm_text,
                    failure,
                    ..
                } => {
                    if needs.iter().all(|n| self.attributes.contains_key(n)) {
                        self.out.push_back(Output::SelfService {
                            action: action.clone(),
                            attributes: self.attributes.clone(),
                        });
                        self.out
                            .push_back(Output::Event(FlowEvent::SelfServiceCompleted { action }));
                        self.outcome = Outcome::SelfServed;
                        self.phase = Phase::Prompting;
                        self.out.push_back(Output::Play {
                            prompt: confirm_prompt,
                            text: confirm_text,
                        });
                        return;
                    }
                    self.node = failure;
                }
                Node::Queue {
                    queue,
                    music,
                    announce_every_ms,
                    ..
                } => {
                    self.out.push_back(Output::Enqueue {
                        queue: queue.clone(),
                        priority: self.priority,
                        require: self.require.clone(),
                        attributes: self.attributes.clone(),
                    });
                    self.out.push_back(Output::HoldMusic { music });
                    self.queue = Some((queue, announce_every_ms));
                    self.phase = Phase::Queued;
                    self.outcome = Outcome::Queued;
                    self.timer = announce_every_ms.map(|a| self.now.plus(DurationMs(a as i64)));
                    self.out.push_back(Output::Event(FlowEvent::Left {
                        outcome: Outcome::Queued,
                        time_in_ivr: self.now.since(self.started),
                    }));
                    return;
                }
                Node::OfferCallback { prompt, text, .. } => {
                    self.phase = Phase::Prompting;
                    self.out.push_back(Output::Play { prompt, text });
                    self.out.push_back(Output::Listen {
                        max_digits: 1,
                        options: vec!["1".into()],
                    });
                    return;
                }
                Node::Voicemail { prompt, text, .. } => {
                    self.phase = Phase::Prompting;
                    self.out.push_back(Output::Play { prompt, text });
                    return;
                }
                Node::Transfer { number } => {
                    self.out.push_back(Output::Transfer { number });
                    self.finish(Outcome::Transferred, false);
                    return;
                }
                Node::Subflow { flow, next } => {
                    let Some(sub) = self.book.get(&flow) else {
                        self.finish(Outcome::Stopped, true);
                        return;
                    };
                    let back = std::mem::replace(&mut self.flow, sub);
                    self.stack.push((back, next));
                    self.node = self.flow.flow.start.clone();
                }
                Node::Return => match self.stack.pop() {
                    Some((flow, next)) => {
                        self.flow = flow;
                        self.node = next;
                    }
                    None => {
                        self.finish(self.closing_outcome(), true);
                        return;
                    }
                },
                Node::HangUp { prompt, text } => match prompt {
                    Some(p) => {
                        self.phase = Phase::Closing;
                        self.out.push_back(Output::Play {
                            prompt: p,
                            text: text.unwrap_or_default(),
                        });
                        return;
                    }
                    None => {
                        self.finish(self.closing_outcome(), true);
                        return;
                    }
                },
            }
        }
        self.finish(Outcome::Stopped, true);
    }
}

/// Are these digits what the rule wants?
pub fn valid(rule: &DigitRule, digits: &str, now: Timestamp) -> bool {
    match rule {
        DigitRule::NhsNumber => NhsNumber::parse(digits).is_ok(),
        DigitRule::Digits { min, max } => {
            (*min as usize..=*max as usize).contains(&digits.len())
                && digits.chars().all(|c| c.is_ascii_digit())
        }
        DigitRule::DateOfBirth => {
            if digits.len() != 8 {
                return false;
            }
            let (d, m, y) = (&digits[0..2], &digits[2..4], &digits[4..8]);
            let Ok(date) = format!("{y}-{m}-{d}").parse::<jiff::civil::Date>() else {
                return false;
            };
            let Ok(ts) = jiff::Timestamp::from_millisecond(now.as_ms()) else {
                return false;
            };
            let today = ts.to_zoned(jiff::tz::TimeZone::UTC).date();
            date <= today && date.year() >= 1890
        }
    }
}
