//! The discrete-event simulator: the production routing engine and the KPI
//! engine on a virtual clock, with seeded randomness.
//!
//! Pure: no threads, no clock, no I/O. A heap of timed actions (arrivals,
//! ends of handling, patience running out, shifts and breaks) is merged with
//! the routing engine's own wake-ups; every engine event goes to the KPI
//! engine and back to the simulated callers and agents. Same scenario and
//! seed, same output, bit for bit.

mod dist;
mod scenario;

pub use dist::Dist;
pub use scenario::{
    quick_scenario, Arrivals, Break, Retrial, Scenario, Shift, Stream, TransferPlan, MAX_DURATION,
};

use kpi::{Kpi, KpiConfig, Row};
use model::rng::SplitMix64;
use model::{AgentId, Channel, ContactId, DurationMs, Timestamp};
use routing::{
    Engine, Event, Input, NewContact, NotReadyReason, Presence, Record, TransferMode,
    TransferTarget,
};
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("scenario: {0}")]
    Scenario(String),
    #[error("routing configuration: {0}")]
    Config(#[from] routing::ConfigError),
    #[error("the routing engine refused an input the simulator made ({0}): this is a bug")]
    Refused(String),
    #[error("limit reached: {0}")]
    Limit(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Arrival(u32),
    Accept(AgentId, ContactId),
    End(ContactId),
    TransferNow(ContactId),
    Patience(ContactId),
    Presence(AgentId, u8),
    /// A flow prompt finished playing.
    FlowPrompt(ContactId),
    /// The caller presses the keys chosen for the current flow node.
    FlowKeys(ContactId),
    /// A flow timer (no-input timeout, announcement) may be due.
    FlowTimer(ContactId),
}

const READY: u8 = 0;
const OFFLINE: u8 = 1;
const BREAK: u8 = 2;

#[derive(Clone, Copy, Debug)]
struct Caller {
    stream: u32,
    handle_ms: i64,
    patience_ms: Option<i64>,
    answered: bool,
    transfer_after_ms: Option<i64>,
    transferred: bool,
    callback: bool,
    /// The expected wait announced when the caller started waiting, ms.
    announced: Option<i64>,
}

/// How well the expected wait announced to waiting callers matched the
/// wait they had (callers who were answered; those who hung up are left
/// out, having no actual wait to compare).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExpectedWaitAccuracy {
    pub samples: u64,
    pub abs_error_ms: u64,
    pub announced_ms: u64,
    pub actual_ms: u64,
}

impl ExpectedWaitAccuracy {
    pub fn mean_abs_error_seconds(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.abs_error_ms as f64 / self.samples as f64 / 1000.0)
    }
    pub fn mean_announced_seconds(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.announced_ms as f64 / self.samples as f64 / 1000.0)
    }
    pub fn mean_actual_seconds(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.actual_ms as f64 / self.samples as f64 / 1000.0)
    }
}

/// What callers did in the call flows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IvrStats {
    /// Callers who started in a flow.
    pub started: u64,
    /// How they left it.
    pub outcomes: BTreeMap<String, u64>,
    pub time_in_ivr_ms: u64,
    pub left: u64,
    pub self_service_completed: u64,
    /// Visits per "flow/node" (the IVR path).
    pub visits: BTreeMap<String, u64>,
}

impl IvrStats {
    pub fn mean_time_in_ivr_seconds(&self) -> Option<f64> {
        (self.left > 0).then(|| self.time_in_ivr_ms as f64 / self.left as f64 / 1000.0)
    }
}

/// A caller in a call flow.
struct InFlow {
    call: flow::Call,
    /// The flow asked for keys: answer when the prompt ends.
    listening: bool,
    /// Keys chosen, to press at the next FlowKeys.
    keys: String,
}

/// The outcome of one run.
pub struct SimResult {
    /// Callers in the call flows (empty without flows).
    pub ivr: IvrStats,
    /// Announced against actual waits (when the scenario measures them).
    pub expected_wait: ExpectedWaitAccuracy,
    /// The KPI engine at the end of the run; `rows()` gives its report.
    pub kpi: Kpi,
    /// The overall figures over arrivals after the warm-up.
    pub overall: Row,
    /// Simulation events handled: actions from the agenda, engine wake-ups,
    /// and events from the engine.
    pub events_processed: u64,
    pub engine_inputs: u64,
    pub calls: u64,
    /// Simulated time at the end (all work drained).
    pub ended_at: Timestamp,
}

impl std::fmt::Debug for SimResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimResult")
            .field("calls", &self.calls)
            .field("overall", &self.overall)
            .finish_non_exhaustive()
    }
}

impl SimResult {
    /// The KPI report: every row per interval, and the totals (built on
    /// demand: on a long run it is large).
    pub fn rows(&self) -> Vec<Row> {
        self.kpi.report()
    }
}

/// Most live callers at once (a guard against a runaway scenario).
pub const MAX_LIVE_CALLERS: usize = 5_000_000;

struct Sim<'a> {
    sc: &'a Scenario,
    engine: Engine,
    kpi: Kpi,
    agenda: BinaryHeap<Reverse<(Timestamp, u64, Action)>>,
    seq: u64,
    callers: FxHashMap<ContactId, Caller>,
    next_contact: u64,
    rng_arrival: Vec<SplitMix64>,
    /// Each stream's next first-time arrival, kept out of the heap (one per
    /// stream, always due in order).
    next_arrival: Vec<Option<Timestamp>>,
    /// The rota's presence changes in time order, taken by a cursor (a year
    /// of shifts would otherwise crowd the agenda heap).
    rota: Vec<(Timestamp, Action)>,
    rota_next: usize,
    /// Agents whose phones answer by themselves (the engine accepts).
    auto_answer: rustc_hash::FxHashSet<AgentId>,
    ew: ExpectedWaitAccuracy,
    book: Option<Arc<flow::FlowBook>>,
    in_flow: FxHashMap<ContactId, InFlow>,
    ivr: IvrStats,
    rng_flow: SplitMix64,
    rng_work: SplitMix64,
    events: u64,
    inputs: u64,
    calls: u64,
}

fn stream_seed(seed: u64, stream: u64, purpose: u64) -> u64 {
    let mut r = SplitMix64::new(
        seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ purpose.wrapping_mul(0xD1B5_4A32_D192_ED03),
    );
    r.next_u64()
}

impl<'a> Sim<'a> {
    fn push(&mut self, at: Timestamp, a: Action) {
        self.seq += 1;
        self.agenda.push(Reverse((at, self.seq, a)));
    }

    fn input(&mut self, now: Timestamp, input: Input) -> Result<(), SimError> {
        self.inputs += 1;
        if let Err(e) = self.engine.handle(now, input) {
            return Err(SimError::Refused(e.to_string()));
        }
        self.pump(now)
    }

    /// Takes the engine's events: to the KPI engine, and to the simulated
    /// people, which may make more inputs at the same time.
    fn pump(&mut self, now: Timestamp) -> Result<(), SimError> {
        // A reaction may make more inputs, whose events are taken (in log
        // order) by the nested call before this loop goes on.
        while let Some(r) = self.engine.poll_output() {
            self.events += 1;
            self.kpi.observe(&r);
            self.react(now, &r)?;
        }
        Ok(())
    }

    fn react(&mut self, now: Timestamp, r: &Record) -> Result<(), SimError> {
        match r.event {
            Event::Offered { contact, agent, .. } => {
                if self.auto_answer.contains(&agent) {
                    return Ok(());
                }
                let Some(c) = self.callers.get(&contact) else {
                    return Ok(());
                };
                let delay = self.sc.streams[c.stream as usize]
                    .answer_delay
                    .sample_ms(&mut self.rng_work);
                if delay <= 0 {
                    self.input(now, Input::Accept { agent, contact })?;
                } else {
                    self.push(now.plus(DurationMs(delay)), Action::Accept(agent, contact));
                }
            }
            Event::Answered {
                contact, waited, ..
            } => {
                if let Some(c) = self.callers.get_mut(&contact) {
                    c.answered = true;
                    if let Some(a) = c.announced.take() {
                        self.ew.samples += 1;
                        self.ew.abs_error_ms += (a - waited.0).unsigned_abs();
                        self.ew.announced_ms += a.max(0) as u64;
                        self.ew.actual_ms += waited.0.max(0) as u64;
                    }
                    let c = *c;
                    match c.transfer_after_ms {
                        Some(t) => self.push(now.plus(DurationMs(t)), Action::TransferNow(contact)),
                        None => self.push(now.plus(DurationMs(c.handle_ms)), Action::End(contact)),
                    }
                }
            }
            Event::Transferred { contact, .. } => {
                if let Some(c) = self.callers.get_mut(&contact) {
                    c.transferred = true;
                    let s = &self.sc.streams[c.stream as usize];
                    let plan = s
                        .transfer
                        .as_ref()
                        .expect("transferred streams have a plan");
                    let ms = plan.handle.sample_ms(&mut self.rng_work).max(1);
                    self.push(now.plus(DurationMs(ms)), Action::End(contact));
                }
            }
            Event::CallbackOffered { contact, .. } => {
                if let Some(c) = self.callers.get(&contact) {
                    let p = self.sc.streams[c.stream as usize].callback_acceptance;
                    // The offer may already have found an agent in the same
                    // instant: only a caller still waiting can take it.
                    let waiting = || {
                        self.engine
                            .contact(contact)
                            .is_some_and(|v| v.state == routing::ContactState::Waiting)
                    };
                    if p > 0.0 && self.rng_work.chance(p) && waiting() {
                        self.callers.get_mut(&contact).expect("caller").callback = true;
                        self.input(now, Input::RequestCallback { contact })?;
                    }
                }
            }
            Event::Abandoned { contact, .. } => {
                if let Some(c) = self.callers.remove(&contact) {
                    if let Some(rt) = &self.sc.streams[c.stream as usize].retrial {
                        if self.rng_work.chance(rt.probability) {
                            let d = rt.delay.sample_ms(&mut self.rng_work).max(1);
                            self.push(
                                now.plus(DurationMs(d)),
                                Action::Arrival(c.stream | RETRIAL_BIT),
                            );
                        }
                    }
                }
            }
            Event::Ended { contact, .. }
            | Event::Voicemail { contact, .. }
            | Event::Refused { contact, .. }
            | Event::Cancelled { contact, .. } => {
                self.callers.remove(&contact);
            }
            Event::PresenceChanged {
                agent,
                presence: Presence::NotReady(NotReadyReason::MissedOffer | NotReadyReason::Declined),
            } => {
                self.push(
                    now.plus(DurationMs::from_secs(30)),
                    Action::Presence(agent, READY),
                );
            }
            _ => {}
        }
        Ok(())
    }

    fn arrival(&mut self, now: Timestamp, tag: u32, end: Timestamp) -> Result<(), SimError> {
        let si = (tag & !RETRIAL_BIT) as usize;
        let retrial = tag & RETRIAL_BIT != 0;
        let s = &self.sc.streams[si];
        if !retrial {
            // The next arrival of this stream.
            self.next_arrival[si] = s
                .arrivals
                .next_after(now, &mut self.rng_arrival[si])
                .filter(|&t| t < end);
        }
        if self.callers.len() >= MAX_LIVE_CALLERS {
            return Err(SimError::Limit(format!(
                "more than {MAX_LIVE_CALLERS} callers in the system at once"
            )));
        }
        self.calls += 1;
        self.next_contact += 1;
        let id = ContactId(self.next_contact);
        let s = &self.sc.streams[si];
        let handle_ms = s.handle.sample_ms(&mut self.rng_work).max(1);
        let patience_ms = s
            .patience
            .as_ref()
            .map(|p| p.sample_ms(&mut self.rng_work).max(0));
        let transfer_after_ms = match &s.transfer {
            Some(t) if self.rng_work.chance(t.probability) => Some(handle_ms),
            _ => None,
        };
        self.callers.insert(
            id,
            Caller {
                stream: si as u32,
                handle_ms,
                patience_ms,
                answered: false,
                transfer_after_ms,
                transferred: false,
                callback: false,
                announced: None,
            },
        );
        if let Some(flow_id) = s.flow.clone() {
            let book = self
                .book
                .clone()
                .expect("flows are loaded when a stream names one");
            let call = flow::Call::start(book, &flow_id, BTreeMap::new(), now)
                .map_err(|e| SimError::Scenario(format!("stream '{}': {e}", s.name)))?;
            self.ivr.started += 1;
            self.in_flow.insert(
                id,
                InFlow {
                    call,
                    listening: false,
                    keys: String::new(),
                },
            );
            return self.flow_pump(now, id);
        }
        let mut nc = NewContact::new(id, s.queue, s.channel);
        nc.priority = s.priority;
        self.join_queue(now, id, nc)
    }

    /// The caller joins a routing queue (after the flow, or straight away).
    fn join_queue(
        &mut self,
        now: Timestamp,
        id: ContactId,
        nc: NewContact,
    ) -> Result<(), SimError> {
        self.input(now, Input::Arrive(nc))?;
        if self.sc.measure_expected_wait && self.callers.get(&id).is_some_and(|c| !c.answered) {
            let w = self.engine.expected_wait(id).map(|(_, w)| w.0);
            if let Some(c) = self.callers.get_mut(&id) {
                c.announced = w;
            }
        }
        // Patience matters only to callers still waiting.
        if let Some(c) = self.callers.get(&id) {
            if let (false, Some(p)) = (c.answered, c.patience_ms) {
                self.push(now.plus(DurationMs(p)), Action::Patience(id));
            }
        }
        Ok(())
    }

    /// Carries out what the flow asked for, and times its next step.
    fn flow_pump(&mut self, now: Timestamp, id: ContactId) -> Result<(), SimError> {
        let Some(f) = self.in_flow.get_mut(&id) else {
            return Ok(());
        };
        let mut outs = Vec::new();
        while let Some(o) = f.call.poll_output() {
            outs.push(o);
        }
        let done = f.call.is_done() || f.call.outcome() == flow::Outcome::Queued;
        let timer = f.call.poll_timeout();
        let stream = self.callers.get(&id).map(|c| c.stream);
        for o in outs {
            match o {
                flow::Output::Play { text, .. } => {
                    // About 15 characters a second, at least a second.
                    let ms = (text.chars().count() as i64 * 66).max(1000);
                    self.push(now.plus(DurationMs(ms)), Action::FlowPrompt(id));
                }
                flow::Output::Listen { .. } => {
                    if let Some(f) = self.in_flow.get_mut(&id) {
                        f.listening = true;
                    }
                }
                flow::Output::Enqueue {
                    queue,
                    priority,
                    require,
                    ..
                } => {
                    let nc = self.contact_for(id, stream, &queue, priority, &require, None)?;
                    self.join_queue(now, id, nc)?;
                }
                flow::Output::RequestCallback { queue, .. } => {
                    let nc =
                        self.contact_for(id, stream, &queue, 0, &[], Some(Channel::Callback))?;
                    if let Some(c) = self.callers.get_mut(&id) {
                        c.callback = true;
                    }
                    self.join_queue(now, id, nc)?;
                }
                flow::Output::Event(flow::FlowEvent::Entered { flow, node, .. })
                    if self.ivr.visits.len() < 10_000 =>
                {
                    *self.ivr.visits.entry(format!("{flow}/{node}")).or_default() += 1;
                }
                flow::Output::Event(flow::FlowEvent::SelfServiceCompleted { .. }) => {
                    self.ivr.self_service_completed += 1
                }
                flow::Output::Event(flow::FlowEvent::Left {
                    outcome,
                    time_in_ivr,
                }) => {
                    self.ivr.left += 1;
                    self.ivr.time_in_ivr_ms += time_in_ivr.0.max(0) as u64;
                    let name = serde_plain_outcome(outcome);
                    *self.ivr.outcomes.entry(name).or_default() += 1;
                }
                _ => {}
            }
        }
        if done {
            let left = self.in_flow.remove(&id);
            // Callers who did not reach a queue are finished.
            if left.is_some_and(|f| {
                f.call.outcome() != flow::Outcome::Queued
                    && f.call.outcome() != flow::Outcome::CallbackRequested
            }) {
                self.callers.remove(&id);
            }
        } else if let Some(t) = timer {
            self.push(t, Action::FlowTimer(id));
        }
        Ok(())
    }

    /// A routing contact for a caller leaving a flow for `queue`.
    fn contact_for(
        &self,
        id: ContactId,
        stream: Option<u32>,
        queue: &str,
        priority: i32,
        require: &[String],
        channel: Option<Channel>,
    ) -> Result<NewContact, SimError> {
        let cfg = &self.sc.routing;
        let q =
            cfg.queues.iter().find(|q| q.name == queue).ok_or_else(|| {
                SimError::Scenario(format!("a flow names unknown queue '{queue}'"))
            })?;
        let s = stream.map(|i| &self.sc.streams[i as usize]);
        let mut nc = NewContact::new(
            id,
            q.id,
            channel.or(s.map(|s| s.channel)).unwrap_or(Channel::Voice),
        );
        nc.priority = priority + s.map_or(0, |s| s.priority);
        for r in require {
            let (name, level) = r.rsplit_once(':').unwrap_or((r, "1"));
            let skill = cfg.skills.iter().find(|k| k.name == name).ok_or_else(|| {
                SimError::Scenario(format!("a flow requires unknown skill '{name}'"))
            })?;
            nc.requirements.push(routing::SkillReq {
                skill: skill.id,
                min_level: level.parse().unwrap_or(1),
            });
        }
        Ok(nc)
    }

    /// The keys a caller presses at the current node, by the stream's
    /// choices (valid digits for a collect node unless "invalid" is drawn).
    fn choose_keys(&mut self, id: ContactId) -> Option<String> {
        let f = self.in_flow.get(&id)?;
        let stream = &self.sc.streams[self.callers.get(&id)?.stream as usize];
        let at = format!("{}/{}", f.call.flow_id(), f.call.node());
        let choices = stream.choices.get(&at);
        let mut draw = self.rng_flow.unit();
        let mut pick = |default: Option<&str>| -> Option<String> {
            if let Some(c) = choices {
                for (k, p) in c {
                    if draw < *p {
                        return (k != "none").then(|| k.clone());
                    }
                    draw -= p;
                }
                return None;
            }
            default.map(str::to_string)
        };
        match f.call.current_node().clone() {
            flow::Node::Menu { options, .. } => pick(options.keys().next().map(String::as_str)),
            flow::Node::OfferCallback { .. } => pick(None),
            flow::Node::Collect { validate, .. } => {
                let valid = pick(Some("valid")).is_none_or(|k| k != "invalid");
                Some(match (validate, valid) {
                    (flow::DigitRule::NhsNumber, true) => "9990000018".into(),
                    (flow::DigitRule::NhsNumber, false) => "9990000019".into(),
                    (flow::DigitRule::DateOfBirth, true) => "01011980".into(),
                    (flow::DigitRule::DateOfBirth, false) => "99999999".into(),
                    (flow::DigitRule::Digits { min, .. }, true) => "1".repeat(min as usize),
                    (flow::DigitRule::Digits { max, .. }, false) => "1".repeat(max as usize + 1),
                })
            }
            _ => None,
        }
    }

    fn flow_input(
        &mut self,
        now: Timestamp,
        id: ContactId,
        input: flow::Input,
    ) -> Result<(), SimError> {
        if let Some(f) = self.in_flow.get_mut(&id) {
            if !f.call.is_done() {
                f.call
                    .handle(now, input)
                    .map_err(|e| SimError::Refused(format!("flow: {e}")))?;
            }
        }
        self.flow_pump(now, id)
    }

    fn act(&mut self, now: Timestamp, a: Action, end: Timestamp) -> Result<(), SimError> {
        match a {
            Action::FlowPrompt(id) => {
                self.flow_input(now, id, flow::Input::PromptFinished)?;
                let listening = self.in_flow.get(&id).is_some_and(|f| f.listening);
                if listening {
                    if let Some(f) = self.in_flow.get_mut(&id) {
                        f.listening = false;
                    }
                    if let Some(keys) = self.choose_keys(id) {
                        if let Some(f) = self.in_flow.get_mut(&id) {
                            f.keys = keys;
                        }
                        // A second or two to decide.
                        let think = 1000 + self.rng_flow.below(1500) as i64;
                        self.push(now.plus(DurationMs(think)), Action::FlowKeys(id));
                    }
                }
            }
            Action::FlowKeys(id) => {
                let keys = self
                    .in_flow
                    .get_mut(&id)
                    .map(|f| std::mem::take(&mut f.keys))
                    .unwrap_or_default();
                for k in keys.chars() {
                    self.flow_input(now, id, flow::Input::Key(k))?;
                }
            }
            Action::FlowTimer(id) => {
                if let Some(f) = self.in_flow.get_mut(&id) {
                    f.call
                        .handle_timeout(now)
                        .map_err(|e| SimError::Refused(format!("flow: {e}")))?;
                }
                self.flow_pump(now, id)?;
            }
            Action::Arrival(tag) => self.arrival(now, tag, end)?,
            Action::Accept(agent, contact) => {
                // The offer may have been withdrawn meanwhile.
                let offered = self
                    .engine
                    .contact(contact)
                    .is_some_and(|c| c.routing == routing::ContactState::Offered(agent));
                if offered {
                    self.input(now, Input::Accept { agent, contact })?;
                }
            }
            Action::End(contact) => {
                if self.callers.contains_key(&contact) {
                    self.input(now, Input::End { contact })?;
                }
            }
            Action::TransferNow(contact) => {
                if let Some(c) = self.callers.get(&contact) {
                    let plan = self.sc.streams[c.stream as usize]
                        .transfer
                        .as_ref()
                        .expect("plan");
                    let (queue, mode) = (plan.queue, plan.mode);
                    self.input(
                        now,
                        Input::Transfer {
                            contact,
                            to: TransferTarget::Queue(queue),
                            mode,
                        },
                    )?;
                    if mode == TransferMode::Cold {
                        // Nothing more for the first agent.
                    }
                }
            }
            Action::Patience(contact) => {
                if let Some(c) = self.callers.get(&contact) {
                    let live = matches!(
                        self.sc.streams[c.stream as usize].channel,
                        Channel::Voice | Channel::Chat
                    );
                    if !c.answered && !c.callback && live {
                        self.input(now, Input::Abandon { contact })?;
                    }
                }
            }
            Action::Presence(agent, p) => {
                let presence = match p {
                    READY => Presence::Ready,
                    OFFLINE => Presence::Offline,
                    _ => Presence::NotReady(NotReadyReason::Break),
                };
                self.input(now, Input::SetPresence { agent, presence })?;
            }
        }
        Ok(())
    }
}

const RETRIAL_BIT: u32 = 1 << 31;

fn serde_plain_outcome(o: flow::Outcome) -> String {
    format!("{o:?}")
}

/// The scenario's flows, checked and saved into a book (queues and skills
/// from the routing configuration; any self-service action is accepted).
fn flow_book(sc: &Scenario) -> Result<Option<Arc<flow::FlowBook>>, SimError> {
    if sc.flows.is_empty() {
        return Ok(None);
    }
    let mut actions = std::collections::BTreeSet::new();
    for f in &sc.flows {
        for n in f.nodes.values() {
            if let flow::Node::SelfService { action, .. } = n {
                actions.insert(action.clone());
            }
        }
    }
    let catalog = flow::Catalog {
        queues: sc.routing.queues.iter().map(|q| q.name.clone()).collect(),
        skills: sc.routing.skills.iter().map(|s| s.name.clone()).collect(),
        prompts: None,
        actions,
    };
    let mut book = flow::FlowBook::default();
    for f in &sc.flows {
        book = book.save(f.clone(), &catalog).map_err(|issues| {
            SimError::Scenario(
                issues
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
    }
    Ok(Some(Arc::new(book)))
}

/// Runs a scenario. `progress` is told the share of simulated time done, now
/// and then (for a progress bar); it must not change anything.
pub fn run(sc: &Scenario, progress: &mut dyn FnMut(f64)) -> Result<SimResult, SimError> {
    sc.validate()?;
    let start = Timestamp::ZERO;
    let end = start.plus(sc.duration);
    let engine = Engine::new(sc.routing.clone(), start)?;
    let mut kcfg = KpiConfig::from_routing(sc.interval, &sc.routing);
    kcfg.clinical_queues = sc.clinical_queues.iter().copied().collect();
    kcfg.by_agent = sc.per_agent_figures;
    kcfg.by_team = sc.per_agent_figures;
    kcfg.by_channel = sc
        .streams
        .iter()
        .map(|s| s.channel)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    kcfg.by_queue = sc.routing.queues.len() > 1;
    kcfg.by_service = false;
    let mut sim = Sim {
        sc,
        engine,
        kpi: Kpi::new(kcfg),
        agenda: BinaryHeap::new(),
        seq: 0,
        callers: FxHashMap::default(),
        next_contact: 0,
        rng_arrival: (0..sc.streams.len())
            .map(|i| SplitMix64::new(stream_seed(sc.seed, i as u64, 1)))
            .collect(),
        rng_work: SplitMix64::new(stream_seed(sc.seed, 0, 2)),
        next_arrival: vec![None; sc.streams.len()],
        rota: Vec::new(),
        rota_next: 0,
        auto_answer: sc
            .routing
            .agents
            .iter()
            .filter(|a| a.auto_answer)
            .map(|a| a.id)
            .collect(),
        ew: ExpectedWaitAccuracy::default(),
        book: flow_book(sc)?,
        in_flow: FxHashMap::default(),
        ivr: IvrStats::default(),
        rng_flow: SplitMix64::new(stream_seed(sc.seed, 0, 3)),
        events: 0,
        inputs: 0,
        calls: 0,
    };
    // Rota: who works when. No rota: everyone ready from the start.
    let mut rota: Vec<(Timestamp, u64, Action)> = Vec::new();
    if sc.rota.is_empty() {
        for a in &sc.routing.agents {
            rota.push((start, rota.len() as u64, Action::Presence(a.id, READY)));
        }
    } else {
        for sh in &sc.rota {
            rota.push((
                sh.start,
                rota.len() as u64,
                Action::Presence(sh.agent, READY),
            ));
            for b in &sh.breaks {
                rota.push((
                    b.start,
                    rota.len() as u64,
                    Action::Presence(sh.agent, BREAK),
                ));
                rota.push((
                    b.start.plus(b.length),
                    rota.len() as u64,
                    Action::Presence(sh.agent, READY),
                ));
            }
            rota.push((
                sh.end,
                rota.len() as u64,
                Action::Presence(sh.agent, OFFLINE),
            ));
        }
    }
    rota.sort_unstable_by_key(|&(t, i, _)| (t, i));
    sim.rota = rota.into_iter().map(|(t, _, a)| (t, a)).collect();
    for (i, s) in sc.streams.iter().enumerate() {
        sim.next_arrival[i] = s
            .arrivals
            .next_after(start, &mut sim.rng_arrival[i])
            .filter(|&t| t < end);
    }
    let report_every = (sc.duration.0 / 200).max(1);
    let mut next_report = start.plus(DurationMs(report_every));
    loop {
        // At equal times: the rota, the agenda, then first-time arrivals (by
        // stream), then the engine's own timers.
        let rota_at = sim.rota.get(sim.rota_next).map(|(t, _)| *t);
        let mut next_action = sim.agenda.peek().map(|Reverse((t, _, _))| *t);
        let from_rota = rota_at.is_some_and(|r| next_action.is_none_or(|a| r <= a));
        if from_rota {
            next_action = rota_at;
        }
        let mut arrival: Option<(Timestamp, usize)> = None;
        for (i, t) in sim.next_arrival.iter().enumerate() {
            if let Some(t) = *t {
                if arrival.is_none_or(|(b, _)| t < b) {
                    arrival = Some((t, i));
                }
            }
        }
        if let Some((t, i)) = arrival {
            if !from_rota && next_action.is_none_or(|a| t < a)
                || from_rota && next_action.is_some_and(|a| t < a)
            {
                next_action = Some(t);
            } else {
                arrival = None;
            }
            let _ = i;
        }
        let next_timer = sim.engine.poll_timeout();
        let now = match (next_action, next_timer) {
            (Some(a), Some(t)) => a.min(t),
            (Some(a), None) => a,
            (None, Some(t)) => t,
            (None, None) => break,
        };
        // After the end, only work already under way runs on.
        if now >= next_report {
            progress((now.since(start).0 as f64 / sc.duration.0 as f64).min(1.0));
            next_report = now.plus(DurationMs(report_every));
        }
        if next_timer == Some(now) && next_action.is_none_or(|a| a > now) {
            sim.events += 1;
            sim.engine
                .handle_timeout(now)
                .map_err(|e| SimError::Refused(e.to_string()))?;
            sim.pump(now)?;
            continue;
        }
        let action = match arrival {
            Some((_, i)) => Action::Arrival(i as u32),
            None if from_rota => {
                sim.rota_next += 1;
                sim.rota[sim.rota_next - 1].1
            }
            None => sim.agenda.pop().expect("peeked").0 .2,
        };
        sim.events += 1;
        sim.act(now, action, end)?;
        // Once the period is over and nobody is left, stop the shifts too.
        if now >= end && sim.callers.is_empty() {
            break;
        }
    }
    progress(1.0);
    let ended_at = sim.engine.now();
    sim.kpi.close(ended_at.max(end));
    let overall = sim.kpi.overall_between(start.plus(sc.warmup), end);
    Ok(SimResult {
        ivr: sim.ivr.clone(),
        expected_wait: sim.ew.clone(),
        kpi: sim.kpi,
        overall,
        events_processed: sim.events,
        engine_inputs: sim.inputs,
        calls: sim.calls,
        ended_at,
    })
}
