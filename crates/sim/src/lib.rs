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
use std::collections::BinaryHeap;

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

/// The outcome of one run.
pub struct SimResult {
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
        let mut nc = NewContact::new(id, s.queue, s.channel);
        nc.priority = s.priority;
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

    fn act(&mut self, now: Timestamp, a: Action, end: Timestamp) -> Result<(), SimError> {
        match a {
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
        expected_wait: sim.ew.clone(),
        kpi: sim.kpi,
        overall,
        events_processed: sim.events,
        engine_inputs: sim.inputs,
        calls: sim.calls,
        ended_at,
    })
}
