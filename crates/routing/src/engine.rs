//! The routing engine: a deterministic, clock-free state machine.
//!
//! `handle(now, input)` applies one input; `handle_timeout(now)` fires due
//! timers; `poll_output()` drains the events; `poll_timeout()` says when the
//! engine next needs to be woken. See ARCHITECTURE.md for the selection order.

use crate::config::{
    self, AgentDef, Config, Limits, OverflowAction, QueueDef, Registry, SiteDef, SkillDef,
    Strategy, TeamDef, WhenFull,
};
use crate::error::{ConfigError, RoutingError};
use crate::event::{Event, MoveReason, Record, VoicemailReason, WithdrawReason};
use crate::input::{Input, NewContact, NotReadyReason, Presence, TransferMode, TransferTarget};
use crate::ready::ReadyIndex;
use crate::slab::{Ix, Slab};
use model::{
    AgentId, Channel, ContactId, Media, Priority, QueueId, SiteId, SkillId, SkillLevel, TeamId,
    Timestamp,
};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

/// Largest magnitude of a queue or contact priority.
pub const PRIORITY_LIMIT: Priority = 1_000_000;
/// Most distinct requirement sets the engine interns.
const MAX_REQSETS: usize = 100_000;
/// How far ahead a callback may be booked.
const MAX_BOOKING_AHEAD: model::DurationMs = model::DurationMs(366 * 24 * 3600 * 1000);

/// Contacts of one queue that every agent treats alike: same overflow
/// step, medium, contact priority and extra requirements. Within a class,
/// the earliest arrival is always the best, so a class is a FIFO by place.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash, Serialize, Deserialize)]
pub(crate) struct ClassKey {
    pub step: u8,
    pub media: Media,
    pub priority: Priority,
    pub reqset: u32,
    /// 1 + the agent who is transferring the contact (never offered it
    /// back while the transfer is under way); 0 for none.
    pub excluded: u32,
}

/// A contact's place: original arrival time, then arrival sequence.
pub(crate) type Place = (Timestamp, u64, Ix);

/// Ready-agent index key: strategy key (two numbers), then agent id.
pub(crate) type ReadyKey = (i64, i64, AgentId, Ix);

/// Requirements in force at one overflow step: skill levels and teams.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StepRule {
    pub reqs: Vec<(u32, SkillLevel)>,
    /// Sorted team indices; `None`: any team.
    pub teams: Option<Vec<u32>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Queue {
    pub def: QueueDef,
    pub rules: Vec<StepRule>,
    pub primary_skill: Option<u32>,
    pub waiting: BTreeMap<ClassKey, BTreeSet<Place>>,
    pub waiting_count: usize,
    /// Moving average of handle time (answer to end, plus wrap-up), ms;
    /// `None` until a contact of this queue has ended.
    pub handle_ms_avg: Option<f64>,
    /// Moving share of contacts leaving this queue's line by hanging up
    /// rather than being answered (for expected-wait estimates).
    pub abandon_share_avg: f64,
    /// Agents that could serve this queue at its loosest step (sorted).
    pub candidates: Vec<Ix>,
    /// Per medium: agents ready with free capacity, in strategy order.
    pub ready: [ReadyIndex; Media::COUNT],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Routing {
    /// Not waiting for anyone (being handled, or between states).
    Idle,
    Scheduled {
        due_at: Timestamp,
    },
    Waiting(ClassKey),
    /// Waiting for one named agent.
    Directed(Ix),
    Offered {
        agent: Ix,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Handler {
    pub agent: Ix,
    pub on_hold: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct PendingTransfer {
    pub mode: TransferMode,
    pub from: AgentId,
    pub from_ix: Ix,
    pub prev_queue: Ix,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Contact {
    pub id: ContactId,
    pub channel: Channel,
    pub queue: Ix,
    pub priority: Priority,
    pub reqset: u32,
    pub arrived_at: Timestamp,
    pub seq: u64,
    pub entered_at: Timestamp,
    pub step: u8,
    pub routing: Routing,
    pub handler: Option<Handler>,
    pub transfer: Option<PendingTransfer>,
    pub directed: Option<Ix>,
    pub answered: bool,
    /// When the current agent answered (for handle-time estimates).
    pub answered_at: Timestamp,
    pub gen: u32,
    /// When the next overflow step falls due, while waiting.
    pub step_due: Option<Timestamp>,
    /// The deadline of the step timer in the heap for this contact, if any.
    pub step_armed: Option<Timestamp>,
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Phase {
    Offered,
    Active,
    WrapUp { gen: u32, until: Timestamp },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Item {
    pub contact: ContactId,
    pub media: Media,
    pub phase: Phase,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Agent {
    pub def: AgentDef,
    pub team: u32,
    pub site: u32,
    pub levels: Vec<SkillLevel>,
    pub presence: Presence,
    pub cap: [u8; Media::COUNT],
    pub load: [u8; Media::COUNT],
    pub voice_exclusive: bool,
    pub items: Vec<Item>,
    pub idle_since: Timestamp,
    pub last_offer: u64,
    pub candidates: Vec<Ix>,
    pub memberships: Vec<(Ix, Media, ReadyKey)>,
    pub directed: Vec<Ix>,
    /// A phone or softphone is connected ([`Input::SetEndpoint`]).
    pub endpoint: bool,
}

/// The requirement a contact that needs an endpoint carries in its
/// requirement set, as if it were a skill at level 1 that an agent has
/// while their phone or softphone is connected.
pub(crate) const ENDPOINT: u32 = u32::MAX;

impl Agent {
    pub fn level(&self, skill: u32) -> SkillLevel {
        if skill == ENDPOINT {
            return SkillLevel::from(self.endpoint);
        }
        self.levels.get(skill as usize).copied().unwrap_or(0)
    }
    fn total_load(&self) -> u32 {
        self.load.iter().map(|&l| l as u32).sum()
    }
    /// Free capacity for one more contact of medium `m`.
    pub fn can_take(&self, m: Media) -> bool {
        let i = m.index();
        if self.load[i] >= self.cap[i] {
            return false;
        }
        if self.voice_exclusive {
            if m == Media::Voice {
                self.total_load() == 0
            } else {
                self.load[Media::Voice.index()] == 0
            }
        } else {
            true
        }
    }
    fn occupancy_permille(&self) -> i64 {
        let cap: u32 = self.cap.iter().map(|&c| c as u32).sum();
        if cap == 0 {
            return 1000;
        }
        (self.total_load() as i64 * 1000) / cap as i64
    }
    /// The agent's item for this contact in a phase that `phase` accepts.
    /// An agent can hold two items for one contact (still wrapping it up
    /// when it is transferred back to them), so every lookup names the
    /// phase it means.
    fn item_pos(&self, contact: ContactId, phase: impl Fn(&Phase) -> bool) -> Option<usize> {
        self.items
            .iter()
            .position(|it| it.contact == contact && phase(&it.phase))
    }
}

/// Can this agent serve contacts needing `rule` plus `extra`?
pub(crate) fn eligible(a: &Agent, rule: &StepRule, extra: &[(u32, SkillLevel)]) -> bool {
    if let Some(teams) = &rule.teams {
        if teams.binary_search(&a.team).is_err() {
            return false;
        }
    }
    rule.reqs.iter().all(|&(s, l)| a.level(s) >= l) && extra.iter().all(|&(s, l)| a.level(s) >= l)
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[repr(u8)]
enum TimerKind {
    // At equal times: callbacks fall due and overflow steps apply first,
    // then offers ring out, then wrap-ups end.
    Due,
    Step,
    Offer,
    WrapUp,
}

/// A timer: 32 bytes, ordered by time, then kind, then the order set.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
struct Timer {
    at: Timestamp,
    /// Kind in the top byte, sequence number below: one comparison orders
    /// by kind then by the order the timers were set.
    order: u64,
    contact: ContactId,
    /// Contact index (contact timers) or agent index (wrap-up).
    target: Ix,
    /// Generation that must still match for the timer to be live (contact
    /// generation, or the wrap-up's; unused for overflow steps).
    gen: u32,
}

/// The engine's timers. Ring-outs and wrap-ups always fall a fixed span
/// after the moment they are set, and time only moves forward, so each span
/// keeps its timers in a FIFO already in deadline order: setting and
/// dropping them is O(1). Everything else goes in a binary heap. The next
/// timer is the earliest of the heap's top and the FIFOs' fronts, in the
/// same total order (time, kind, order set) as a single heap would give.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Timers {
    heap: BinaryHeap<Reverse<Timer>>,
    /// Keyed by (kind, span): at equal times kinds order differently.
    fifos: Vec<((TimerKind, i64), VecDeque<Timer>)>,
}

/// Most distinct fixed spans kept as FIFOs; more go to the heap.
const MAX_TIMER_FIFOS: usize = 32;

impl Timers {
    fn push_heap(&mut self, t: Timer) {
        self.heap.push(Reverse(t));
    }

    fn push_span(&mut self, span: i64, t: Timer) {
        let key = (t.kind(), span);
        if let Some((_, q)) = self.fifos.iter_mut().find(|(k, _)| *k == key) {
            debug_assert!(q.back().is_none_or(|b| *b <= t));
            q.push_back(t);
        } else if self.fifos.len() < MAX_TIMER_FIFOS {
            self.fifos.push((key, VecDeque::from([t])));
        } else {
            self.push_heap(t);
        }
    }

    /// Where the earliest timer is: `None` for the heap, or a FIFO index.
    fn earliest(&self) -> Option<(Timer, Option<usize>)> {
        let mut best = self.heap.peek().map(|Reverse(t)| (*t, None));
        for (i, (_, q)) in self.fifos.iter().enumerate() {
            if let Some(&t) = q.front() {
                if best.is_none_or(|(b, _)| t < b) {
                    best = Some((t, Some(i)));
                }
            }
        }
        best
    }

    fn peek(&self) -> Option<Timer> {
        self.earliest().map(|(t, _)| t)
    }

    fn pop(&mut self) -> Option<Timer> {
        let (t, from) = self.earliest()?;
        match from {
            None => {
                self.heap.pop();
            }
            Some(i) => {
                self.fifos[i].1.pop_front();
            }
        }
        Some(t)
    }
}

impl Timer {
    fn kind(&self) -> TimerKind {
        match self.order >> 56 {
            0 => TimerKind::Due,
            1 => TimerKind::Step,
            2 => TimerKind::Offer,
            _ => TimerKind::WrapUp,
        }
    }
}

/// The routing engine. One owner; `&mut self` for every change.
///
/// Serialisable whole, for snapshots ([`Engine::snapshot`]): a restored
/// engine goes on exactly as the one it was taken from.
#[derive(Debug, Serialize, Deserialize)]
pub struct Engine {
    pub(crate) limits: Limits,
    pub(crate) now: Timestamp,
    event_seq: u64,
    arrival_seq: u64,
    timer_seq: u64,
    offer_seq: u64,
    wrap_seq: u32,
    pub(crate) skills: Vec<SkillDef>,
    pub(crate) skill_ix: FxHashMap<SkillId, u32>,
    pub(crate) teams: Vec<TeamDef>,
    pub(crate) team_ix: FxHashMap<TeamId, u32>,
    pub(crate) sites: Vec<SiteDef>,
    pub(crate) site_ix: FxHashMap<SiteId, u32>,
    pub(crate) site_on_air: Vec<bool>,
    pub(crate) queues: Vec<Option<Queue>>,
    pub(crate) queue_ix: FxHashMap<QueueId, Ix>,
    pub(crate) agents: Slab<Agent>,
    pub(crate) agent_ix: FxHashMap<AgentId, Ix>,
    pub(crate) contacts: Slab<Contact>,
    pub(crate) contact_ix: FxHashMap<ContactId, Ix>,
    pub(crate) reqsets: Vec<Vec<(u32, SkillLevel)>>,
    reqset_ix: FxHashMap<Vec<(u32, SkillLevel)>, u32>,
    timers: Timers,
    out: VecDeque<Record>,
    /// Scratch buffer for re-indexing agents.
    #[serde(skip)]
    scratch: Vec<(Ix, Media, ReadyKey)>,
}

impl Registry for Engine {
    fn has_skill(&self, s: SkillId) -> bool {
        self.skill_ix.contains_key(&s)
    }
    fn has_team(&self, t: TeamId) -> bool {
        self.team_ix.contains_key(&t)
    }
    fn has_site(&self, s: SiteId) -> bool {
        self.site_ix.contains_key(&s)
    }
    fn has_queue(&self, q: QueueId) -> bool {
        self.queue_ix.contains_key(&q)
    }
    fn move_target(&self, q: QueueId) -> Option<QueueId> {
        self.queue_ix
            .get(&q)
            .and_then(|&ix| config::final_move(&self.queue(ix).def))
    }
}

impl Engine {
    /// An engine with this configuration (validated first), at time `now`.
    pub fn new(config: Config, now: Timestamp) -> Result<Engine, ConfigError> {
        config.validate()?;
        let mut e = Engine {
            limits: config.limits.clone(),
            now,
            event_seq: 0,
            arrival_seq: 0,
            timer_seq: 0,
            offer_seq: 0,
            wrap_seq: 0,
            skills: Vec::new(),
            skill_ix: FxHashMap::default(),
            teams: Vec::new(),
            team_ix: FxHashMap::default(),
            sites: Vec::new(),
            site_ix: FxHashMap::default(),
            site_on_air: Vec::new(),
            queues: Vec::new(),
            queue_ix: FxHashMap::default(),
            agents: Slab::default(),
            agent_ix: FxHashMap::default(),
            contacts: Slab::default(),
            contact_ix: FxHashMap::default(),
            reqsets: vec![Vec::new()],
            reqset_ix: FxHashMap::default(),
            timers: Timers::default(),
            out: VecDeque::new(),
            scratch: Vec::new(),
        };
        e.reqset_ix.insert(Vec::new(), 0);
        e.apply_config(config);
        e.out.clear();
        Ok(e)
    }

    // ----- the sans-IO surface -------------------------------------------

    /// The engine's current time: the latest `now` it was given.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Advances time to `now` (firing due timers), then applies `input`.
    /// A refused input changes nothing but the time.
    pub fn handle(&mut self, now: Timestamp, input: Input) -> Result<(), RoutingError> {
        self.advance(now)?;
        let r = self.apply(input);
        self.prune_timers();
        r
    }

    /// Advances time to `now`, firing every timer due by then.
    pub fn handle_timeout(&mut self, now: Timestamp) -> Result<(), RoutingError> {
        self.advance(now)?;
        self.prune_timers();
        Ok(())
    }

    /// When the engine next needs `handle_timeout`, if ever.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.peek().map(|t| t.at)
    }

    /// The next event, oldest first.
    pub fn poll_output(&mut self) -> Option<Record> {
        self.out.pop_front()
    }

    /// All pending events.
    pub fn drain_output(&mut self) -> impl Iterator<Item = Record> + '_ {
        self.out.drain(..)
    }

    /// Number of events waiting to be polled.
    pub fn pending_output(&self) -> usize {
        self.out.len()
    }

    fn advance(&mut self, now: Timestamp) -> Result<(), RoutingError> {
        if now < self.now {
            return Err(RoutingError::TimeWentBackwards {
                now,
                last: self.now,
            });
        }
        while let Some(t) = self.timers.peek() {
            if t.at > now {
                break;
            }
            let t = self.pop_timer().expect("peeked");
            // Each timer fires at its own time, so decisions are exact even
            // when the caller wakes the engine late.
            self.now = t.at;
            self.fire(t);
        }
        self.now = now;
        Ok(())
    }

    fn timer_live(&self, t: &Timer) -> bool {
        match t.kind() {
            TimerKind::Step => match self.contacts.get(t.target) {
                Some(c) if c.id == t.contact => {
                    matches!(c.routing, Routing::Waiting(_)) && c.step_due == Some(t.at)
                }
                _ => false,
            },
            kind @ (TimerKind::Due | TimerKind::Offer) => match self.contacts.get(t.target) {
                Some(c) if c.id == t.contact && c.gen == t.gen => matches!(
                    (kind, c.routing),
                    (TimerKind::Due, Routing::Scheduled { .. })
                        | (TimerKind::Offer, Routing::Offered { .. })
                ),
                _ => false,
            },
            TimerKind::WrapUp => self.agents.get(t.target).is_some_and(|a| {
                a.items.iter().any(|it| {
                    it.contact == t.contact
                        && matches!(it.phase, Phase::WrapUp { gen, .. } if gen == t.gen)
                })
            }),
        }
    }

    /// Pops the earliest timer, keeping each contact's record of its armed
    /// step timer true.
    fn pop_timer(&mut self) -> Option<Timer> {
        let t = self.timers.pop()?;
        if t.kind() == TimerKind::Step {
            if let Some(c) = self.contacts.get_mut(t.target) {
                if c.id == t.contact && c.step_armed == Some(t.at) {
                    c.step_armed = None;
                }
            }
        }
        Some(t)
    }

    fn prune_timers(&mut self) {
        while let Some(t) = self.timers.peek() {
            if self.timer_live(&t) {
                break;
            }
            self.pop_timer();
        }
    }

    fn push_timer(
        &mut self,
        at: Timestamp,
        kind: TimerKind,
        target: Ix,
        contact: ContactId,
        gen: u32,
    ) {
        self.timer_seq += 1;
        debug_assert!(self.timer_seq < 1 << 56);
        let t = Timer {
            at,
            order: ((kind as u64) << 56) | self.timer_seq,
            contact,
            target,
            gen,
        };
        match kind {
            TimerKind::Offer | TimerKind::WrapUp => self.timers.push_span(at.since(self.now).0, t),
            TimerKind::Due | TimerKind::Step => self.timers.push_heap(t),
        }
    }

    fn fire(&mut self, t: Timer) {
        if !self.timer_live(&t) {
            return;
        }
        match t.kind() {
            TimerKind::Due => {
                let c = self.contacts.at_mut(t.target);
                c.routing = Routing::Idle;
                c.arrived_at = t.at;
                c.entered_at = t.at;
                self.enqueue(t.target, true);
            }
            TimerKind::Step => {
                self.unlink_waiting(t.target);
                self.enqueue(t.target, false);
            }
            TimerKind::Offer => {
                let Routing::Offered { agent } = self.contacts.at(t.target).routing else {
                    unreachable!("live offer timer")
                };
                let cid = self.contacts.at(t.target).id;
                let aid = self.agents.at(agent).def.id;
                self.release_offer(t.target, agent);
                self.emit(Event::OfferTimedOut {
                    contact: cid,
                    agent: aid,
                });
                self.set_presence_internal(agent, Presence::NotReady(NotReadyReason::MissedOffer));
                self.enqueue(t.target, true);
            }
            TimerKind::WrapUp => {
                let pos = self
                    .agents
                    .at(t.target)
                    .item_pos(
                        t.contact,
                        |p| matches!(p, Phase::WrapUp { gen, .. } if *gen == t.gen),
                    )
                    .expect("live wrap-up");
                self.free_item(t.target, pos);
            }
        }
    }

    pub(crate) fn emit(&mut self, event: Event) {
        self.event_seq += 1;
        self.out.push_back(Record {
            seq: self.event_seq,
            at: self.now,
            event,
        });
    }

    // ----- look-ups --------------------------------------------------------

    pub(crate) fn queue(&self, ix: Ix) -> &Queue {
        self.queues[ix as usize].as_ref().expect("live queue")
    }

    fn queue_mut(&mut self, ix: Ix) -> &mut Queue {
        self.queues[ix as usize].as_mut().expect("live queue")
    }

    fn contact_of(&self, id: ContactId) -> Result<Ix, RoutingError> {
        self.contact_ix
            .get(&id)
            .copied()
            .ok_or(RoutingError::UnknownContact(id))
    }

    fn agent_of(&self, id: AgentId) -> Result<Ix, RoutingError> {
        self.agent_ix
            .get(&id)
            .copied()
            .ok_or(RoutingError::UnknownAgent(id))
    }

    fn queue_of(&self, id: QueueId) -> Result<Ix, RoutingError> {
        self.queue_ix
            .get(&id)
            .copied()
            .ok_or(RoutingError::UnknownQueue(id))
    }

    pub(crate) fn aging_boost(q: &Queue, arrived_at: Timestamp, now: Timestamp) -> Priority {
        match q.def.aging {
            None => 0,
            Some(a) => {
                let waited = now.since(arrived_at).0.max(0);
                let steps = waited / a.every.0;
                steps.min(a.max_boost as i64) as Priority
            }
        }
    }

    /// Effective priority of a contact in queue `q` now.
    pub(crate) fn effective_priority(&self, q: &Queue, c: &Contact) -> Priority {
        q.def.priority + c.priority + Self::aging_boost(q, c.arrived_at, self.now)
    }

    fn offerable(&self, a: &Agent) -> bool {
        a.presence == Presence::Ready && self.site_on_air[a.site as usize]
    }

    // ----- the routing core ------------------------------------------------

    /// Removes a waiting contact from its class or from its agent's list.
    fn unlink_waiting(&mut self, cix: Ix) {
        let c = self.contacts.at(cix);
        let place = (c.arrived_at, c.seq, cix);
        let qix = c.queue;
        match c.routing {
            Routing::Waiting(key) => {
                let q = self.queue_mut(qix);
                let class = q.waiting.get_mut(&key).expect("class of a waiting contact");
                let removed = class.remove(&place);
                debug_assert!(removed);
                if class.is_empty() {
                    q.waiting.remove(&key);
                }
                q.waiting_count -= 1;
            }
            Routing::Directed(aix) => {
                let a = self.agents.at_mut(aix);
                let pos = a
                    .directed
                    .iter()
                    .position(|&x| x == cix)
                    .expect("directed contact");
                a.directed.remove(pos);
            }
            _ => unreachable!("unlink_waiting on a contact that is not waiting"),
        }
        let c = self.contacts.at_mut(cix);
        c.routing = Routing::Idle;
        c.gen = c.gen.wrapping_add(1);
    }

    /// Applies overflow steps that are due. Returns false if the contact
    /// left (voicemail).
    fn advance_steps(&mut self, cix: Ix) -> bool {
        loop {
            let c = self.contacts.at(cix);
            let q = self.queue(c.queue);
            let steps = &q.def.overflow;
            let step = (c.step as usize).min(steps.len());
            if step >= steps.len() || c.entered_at.plus(steps[step].after) > self.now {
                let c = self.contacts.at_mut(cix);
                c.step = step as u8;
                return true;
            }
            let action = steps[step].action.clone();
            let (cid, qid, qix) = (c.id, q.def.id, c.queue);
            let live_caller = c.channel == Channel::Voice && c.handler.is_none();
            self.contacts.at_mut(cix).step = step as u8 + 1;
            self.emit(Event::OverflowStep {
                contact: cid,
                queue: qid,
                step: step as u8 + 1,
            });
            match action {
                OverflowAction::OfferCallback if live_caller => self.emit(Event::CallbackOffered {
                    contact: cid,
                    queue: qid,
                }),
                OverflowAction::Voicemail if live_caller => {
                    self.finish_contact(
                        cix,
                        Event::Voicemail {
                            contact: cid,
                            queue: qid,
                            reason: VoicemailReason::Overflow,
                        },
                    );
                    return false;
                }
                OverflowAction::MoveToQueue(to) => {
                    let to_ix = self.queue_ix[&to];
                    debug_assert_ne!(to_ix, qix);
                    let now = self.now;
                    let c = self.contacts.at_mut(cix);
                    c.queue = to_ix;
                    c.entered_at = now;
                    c.step = 0;
                    self.emit(Event::Moved {
                        contact: cid,
                        from: qid,
                        to,
                        reason: MoveReason::Overflow,
                    });
                }
                _ => {}
            }
        }
    }

    /// Puts an idle contact in line (its queue, or its named agent's list),
    /// applying due overflow steps, and tries to offer it at once.
    fn enqueue(&mut self, cix: Ix, announce: bool) {
        debug_assert_eq!(self.contacts.at(cix).routing, Routing::Idle);
        if let Some(aix) = self.contacts.at(cix).directed {
            let c = self.contacts.at_mut(cix);
            c.routing = Routing::Directed(aix);
            c.gen = c.gen.wrapping_add(1);
            let (cid, qix) = (c.id, c.queue);
            self.agents.at_mut(aix).directed.push(cix);
            if announce {
                let qid = self.queue(qix).def.id;
                let for_agent = Some(self.agents.at(aix).def.id);
                self.emit(Event::Queued {
                    contact: cid,
                    queue: qid,
                    step: 0,
                    for_agent,
                });
            }
            self.match_contact(cix);
            return;
        }
        if !self.advance_steps(cix) {
            return;
        }
        let c = self.contacts.at(cix);
        let key = ClassKey {
            step: c.step,
            media: c.channel.media(),
            priority: c.priority,
            reqset: c.reqset,
            excluded: c
                .handler
                .map(|h| h.agent)
                .or(c.transfer.map(|t| t.from_ix))
                .map_or(0, |a| a + 1),
        };
        let place = (c.arrived_at, c.seq, cix);
        let (cid, qix, entered_at, step) = (c.id, c.queue, c.entered_at, c.step);
        // Fast path: an agent is free for it now. By stability nobody else
        // eligible for that agent waits, so it goes straight to the offer
        // without entering the line (same events as entering and leaving).
        if let Some(aix) = self.first_ready_agent(qix, key) {
            if announce {
                let qid = self.queue(qix).def.id;
                self.emit(Event::Queued {
                    contact: cid,
                    queue: qid,
                    step,
                    for_agent: None,
                });
            }
            let c = self.contacts.at_mut(cix);
            c.step_due = None;
            self.offer(cix, aix);
            return;
        }
        let q = self.queue_mut(qix);
        q.waiting.entry(key).or_default().insert(place);
        q.waiting_count += 1;
        let next_step_at = q
            .def
            .overflow
            .get(step as usize)
            .map(|s| entered_at.plus(s.after));
        let qid = q.def.id;
        let c = self.contacts.at_mut(cix);
        c.routing = Routing::Waiting(key);
        c.gen = c.gen.wrapping_add(1);
        c.step_due = next_step_at;
        if announce {
            self.emit(Event::Queued {
                contact: cid,
                queue: qid,
                step,
                for_agent: None,
            });
        }
        self.match_contact(cix);
        // Only a contact still waiting needs its next overflow step timed.
        if let Some(at) = next_step_at {
            let c = self.contacts.at_mut(cix);
            // One heap entry serves a deadline however often the contact
            // leaves and rejoins the line.
            if matches!(c.routing, Routing::Waiting(_)) && c.step_armed != Some(at) {
                c.step_armed = Some(at);
                self.push_timer(at, TimerKind::Step, cix, cid, 0);
            }
        }
    }

    /// Contact-side decision: a contact just became available; offer it to
    /// the first eligible ready agent in its queue's strategy order. By the
    /// engine's stability invariant no ready agent with room has an eligible
    /// waiting contact, so no better-placed contact is passed over.
    fn match_contact(&mut self, cix: Ix) {
        let c = self.contacts.at(cix);
        let media = c.channel.media();
        let found = match c.routing {
            Routing::Directed(aix) => {
                let a = self.agents.at(aix);
                (self.offerable(a) && a.can_take(media)).then_some(aix)
            }
            Routing::Waiting(key) => self.first_ready_agent(c.queue, key),
            _ => None,
        };
        if let Some(aix) = found {
            self.offer(cix, aix);
        }
    }

    /// The first ready agent with room, in the queue's strategy order, that
    /// may take contacts of this class.
    fn first_ready_agent(&self, qix: Ix, key: ClassKey) -> Option<Ix> {
        let q = self.queue(qix);
        let rule = &q.rules[key.step as usize];
        let extra = &self.reqsets[key.reqset as usize];
        q.ready[key.media.index()]
            .find(|&(_, _, _, aix)| {
                aix + 1 != key.excluded && eligible(self.agents.at(aix), rule, extra)
            })
            .map(|&(_, _, _, aix)| aix)
    }

    /// Agent-side decision: an agent gained room; offer it the best eligible
    /// waiting contact across every queue it can serve, repeatedly while it
    /// has room. Best = highest effective priority, then earliest place.
    fn match_agent(&mut self, aix: Ix) {
        loop {
            let a = self.agents.at(aix);
            if !self.offerable(a) || !Media::ALL.iter().any(|&m| a.can_take(m)) {
                return;
            }
            type Rank = (Priority, Reverse<Timestamp>, Reverse<u64>);
            let mut best: Option<(Rank, Ix)> = None;
            for &qix in &a.candidates {
                let q = self.queue(qix);
                if q.waiting_count == 0 {
                    continue;
                }
                for (key, places) in &q.waiting {
                    if !a.can_take(key.media)
                        || key.excluded == aix + 1
                        || !eligible(
                            a,
                            &q.rules[key.step as usize],
                            &self.reqsets[key.reqset as usize],
                        )
                    {
                        continue;
                    }
                    let &(arrived, seq, cix) = places.first().expect("classes are never empty");
                    let eff =
                        q.def.priority + key.priority + Self::aging_boost(q, arrived, self.now);
                    let rank = (eff, Reverse(arrived), Reverse(seq));
                    if best.is_none_or(|(r, _)| rank > r) {
                        best = Some((rank, cix));
                    }
                }
            }
            for &cix in &a.directed {
                let c = self.contacts.at(cix);
                if !a.can_take(c.channel.media()) {
                    continue;
                }
                let eff = self.effective_priority(self.queue(c.queue), c);
                let rank = (eff, Reverse(c.arrived_at), Reverse(c.seq));
                if best.is_none_or(|(r, _)| rank > r) {
                    best = Some((rank, cix));
                }
            }
            match best {
                Some((_, cix)) => self.offer(cix, aix),
                None => return,
            }
        }
    }

    /// An agent may have gained room: it looks for work first, and only
    /// then takes its place in the ready indexes (so an agent that finds
    /// work at once never enters and leaves them).
    fn agent_has_room(&mut self, aix: Ix) {
        self.match_agent(aix);
        self.reindex_agent(aix);
    }

    fn offer(&mut self, cix: Ix, aix: Ix) {
        if self.contacts.at(cix).routing != Routing::Idle {
            self.unlink_waiting(cix);
        }
        let c = self.contacts.at(cix);
        let media = c.channel.media();
        let (cid, qix) = (c.id, c.queue);
        let q = self.queue(qix);
        let expires_at = self.now.plus(q.def.offer_timeout);
        let qid = q.def.id;
        self.offer_seq += 1;
        let offer_seq = self.offer_seq;
        let a = self.agents.at_mut(aix);
        debug_assert!(a.can_take(media));
        a.items.push(Item {
            contact: cid,
            media,
            phase: Phase::Offered,
        });
        a.load[media.index()] += 1;
        a.last_offer = offer_seq;
        let aid = a.def.id;
        let c = self.contacts.at_mut(cix);
        c.routing = Routing::Offered { agent: aix };
        c.gen = c.gen.wrapping_add(1);
        let gen = c.gen;
        let auto_answer = self.agents.at(aix).def.auto_answer;
        if !auto_answer {
            self.push_timer(expires_at, TimerKind::Offer, cix, cid, gen);
        }
        self.emit(Event::Offered {
            contact: cid,
            agent: aid,
            queue: qid,
            expires_at,
        });
        self.reindex_agent(aix);
        if auto_answer {
            // The agent's phone answers by itself, in the same instant.
            self.accept_ix(aix, cix);
        }
    }

    /// Takes back an offer: the agent's slot frees, the contact goes idle.
    /// The caller decides what happens to both next.
    fn release_offer(&mut self, cix: Ix, aix: Ix) {
        let cid = self.contacts.at(cix).id;
        let a = self.agents.at_mut(aix);
        let pos = a
            .item_pos(cid, |p| *p == Phase::Offered)
            .expect("offered item");
        let it = a.items.remove(pos);
        debug_assert_eq!(it.phase, Phase::Offered);
        a.load[it.media.index()] -= 1;
        let c = self.contacts.at_mut(cix);
        c.routing = Routing::Idle;
        c.gen = c.gen.wrapping_add(1);
    }

    /// Withdraws an offer; the agent may take other work at once.
    fn withdraw_offer(&mut self, cix: Ix, reason: WithdrawReason) -> Ix {
        let Routing::Offered { agent } = self.contacts.at(cix).routing else {
            unreachable!("withdraw_offer on a contact that is not offered")
        };
        let cid = self.contacts.at(cix).id;
        let aid = self.agents.at(agent).def.id;
        self.release_offer(cix, agent);
        self.emit(Event::OfferWithdrawn {
            contact: cid,
            agent: aid,
            reason,
        });
        agent
    }

    /// Re-keys an agent in the ready indexes of every queue it can serve.
    fn reindex_agent(&mut self, aix: Ix) {
        let mut new = std::mem::take(&mut self.scratch);
        new.clear();
        let a = self.agents.at(aix);
        if self.offerable(a) {
            for &qix in &a.candidates {
                let q = self.queue(qix);
                for m in Media::ALL {
                    if a.cap[m.index()] > 0 && a.can_take(m) {
                        new.push((qix, m, ready_key(q, a, aix)));
                    }
                }
            }
        }
        let old = std::mem::take(&mut self.agents.at_mut(aix).memberships);
        // Both lists are sorted by (queue, medium): merge them.
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            let o = old.get(i);
            let n = new.get(j);
            match (o, n) {
                (Some(o), Some(n)) if o == n => {
                    i += 1;
                    j += 1;
                }
                (Some(o), Some(n)) if (o.0, o.1) <= (n.0, n.1) => {
                    self.queue_mut(o.0).ready[o.1.index()].remove(&o.2);
                    i += 1;
                }
                (Some(o), None) => {
                    self.queue_mut(o.0).ready[o.1.index()].remove(&o.2);
                    i += 1;
                }
                (_, Some(n)) => {
                    let n = *n;
                    self.queue_mut(n.0).ready[n.1.index()].insert(n.2);
                    j += 1;
                }
                (None, None) => unreachable!(),
            }
        }
        self.scratch = old;
        self.agents.at_mut(aix).memberships = new;
    }

    /// A finished contact leaves the engine with its terminal event.
    fn finish_contact(&mut self, cix: Ix, terminal: Event) {
        debug_assert!(terminal.terminal().is_some());
        let c = self.contacts.remove(cix);
        debug_assert!(matches!(
            c.routing,
            Routing::Idle | Routing::Scheduled { .. }
        ));
        self.contact_ix.remove(&c.id);
        self.emit(terminal);
    }

    /// An agent's active item is done: wrap-up starts (or the slot frees).
    fn finish_item(&mut self, aix: Ix, cid: ContactId, wrap_up: model::DurationMs) {
        let now = self.now;
        let a = self.agents.at_mut(aix);
        let pos = a
            .item_pos(cid, |p| *p == Phase::Active)
            .expect("active item");
        debug_assert_eq!(a.items[pos].phase, Phase::Active);
        if wrap_up.0 > 0 {
            self.wrap_seq = self.wrap_seq.wrapping_add(1);
            let gen = self.wrap_seq;
            let a = self.agents.at_mut(aix);
            let until = now.plus(wrap_up);
            a.items[pos].phase = Phase::WrapUp { gen, until };
            let aid = a.def.id;
            self.push_timer(until, TimerKind::WrapUp, aix, cid, gen);
            self.emit(Event::WrapUpStarted {
                agent: aid,
                contact: cid,
                until,
            });
        } else {
            self.free_item(aix, pos);
        }
    }

    /// Frees an agent's slot (end of wrap-up) and looks for new work.
    fn free_item(&mut self, aix: Ix, pos: usize) {
        let now = self.now;
        let a = self.agents.at_mut(aix);
        let it = a.items.remove(pos);
        a.load[it.media.index()] -= 1;
        a.idle_since = now;
        let aid = a.def.id;
        debug_assert!(matches!(it.phase, Phase::WrapUp { .. } | Phase::Active));
        self.emit(Event::WrapUpEnded {
            agent: aid,
            contact: it.contact,
        });
        self.agent_has_room(aix);
    }

    fn set_presence_internal(&mut self, aix: Ix, presence: Presence) {
        let a = self.agents.at_mut(aix);
        if a.presence == presence {
            return;
        }
        let becomes_ready = presence == Presence::Ready;
        if becomes_ready {
            a.idle_since = self.now;
        }
        a.presence = presence.clone();
        let aid = a.def.id;
        self.emit(Event::PresenceChanged {
            agent: aid,
            presence,
        });
        if becomes_ready {
            self.agent_has_room(aix);
        } else {
            // Out of the ready indexes first, so offers taken back below
            // cannot come straight back to this agent.
            self.reindex_agent(aix);
            self.withdraw_all_offers(aix, WithdrawReason::AgentUnavailable);
        }
    }

    /// Takes back every offer ringing at this agent; the contacts go back
    /// in line with their places kept.
    fn withdraw_all_offers(&mut self, aix: Ix, reason: WithdrawReason) {
        let offered: Vec<ContactId> = self
            .agents
            .at(aix)
            .items
            .iter()
            .filter(|it| it.phase == Phase::Offered)
            .map(|it| it.contact)
            .collect();
        // Take them all back first, then put them in line best first, so a
        // lower-ranked one cannot reach a free agent before a better one.
        let mut back: Vec<(Reverse<Priority>, Timestamp, u64, Ix)> =
            Vec::with_capacity(offered.len());
        for cid in offered {
            let cix = self.contact_ix[&cid];
            self.withdraw_offer(cix, reason);
            let c = self.contacts.at(cix);
            back.push((
                Reverse(self.effective_priority(self.queue(c.queue), c)),
                c.arrived_at,
                c.seq,
                cix,
            ));
        }
        back.sort_unstable();
        for (_, _, _, cix) in back {
            self.enqueue(cix, true);
        }
    }

    fn intern_reqs(&mut self, id: ContactId, nc: &NewContact) -> Result<u32, RoutingError> {
        if nc.requirements.is_empty() && nc.language.is_none() && !nc.needs_endpoint {
            return Ok(0);
        }
        let bad = |problem: String| RoutingError::InvalidContact {
            contact: id,
            problem,
        };
        if nc.requirements.len() + nc.language.is_some() as usize
            > self.limits.max_contact_requirements as usize
        {
            return Err(bad(format!(
                "more than {} requirements",
                self.limits.max_contact_requirements
            )));
        }
        let mut reqs: Vec<(u32, SkillLevel)> = Vec::with_capacity(nc.requirements.len() + 1);
        let all = nc
            .requirements
            .iter()
            .map(|r| (r.skill, r.min_level))
            .chain(nc.language.map(|l| (l, 1)));
        for (skill, level) in all {
            let Some(&six) = self.skill_ix.get(&skill) else {
                return Err(bad(format!("requires unknown skill {skill}")));
            };
            if level == 0 || level > model::SKILL_LEVEL_MAX {
                return Err(bad(format!(
                    "requires skill {skill} at level {level}, outside 1..=10"
                )));
            }
            match reqs.iter_mut().find(|(s, _)| *s == six) {
                Some(r) => r.1 = r.1.max(level),
                None => reqs.push((six, level)),
            }
        }
        if nc.needs_endpoint {
            reqs.push((ENDPOINT, 1));
        }
        reqs.sort_unstable();
        if let Some(&ix) = self.reqset_ix.get(&reqs) {
            return Ok(ix);
        }
        if self.reqsets.len() >= MAX_REQSETS {
            return Err(RoutingError::LimitReached {
                what: "distinct requirement sets",
                limit: MAX_REQSETS as u64,
            });
        }
        let ix = self.reqsets.len() as u32;
        self.reqsets.push(reqs.clone());
        self.reqset_ix.insert(reqs, ix);
        Ok(ix)
    }

    fn check_new_contact(&self, nc: &NewContact) -> Result<Ix, RoutingError> {
        if self.contact_ix.contains_key(&nc.id) {
            return Err(RoutingError::DuplicateContact(nc.id));
        }
        let qix = self.queue_of(nc.queue)?;
        if self.contacts.len() >= self.limits.max_live_contacts as usize {
            return Err(RoutingError::LimitReached {
                what: "live contacts",
                limit: self.limits.max_live_contacts as u64,
            });
        }
        let bad = |problem: String| RoutingError::InvalidContact {
            contact: nc.id,
            problem,
        };
        if nc.priority.abs() > PRIORITY_LIMIT {
            return Err(bad(format!(
                "priority {} beyond ±{PRIORITY_LIMIT}",
                nc.priority
            )));
        }
        if nc.attributes.len() > self.limits.max_contact_attributes as usize {
            return Err(bad(format!(
                "more than {} attributes",
                self.limits.max_contact_attributes
            )));
        }
        let max = self.limits.max_attribute_bytes as usize;
        if let Some((k, _)) = nc
            .attributes
            .iter()
            .find(|(k, v)| k.len() > max || v.len() > max)
        {
            return Err(bad(format!(
                "attribute '{}' is longer than {max} bytes",
                truncate(k, 40)
            )));
        }
        Ok(qix)
    }

    fn create_contact(&mut self, nc: NewContact, qix: Ix, reqset: u32, routing: Routing) -> Ix {
        self.arrival_seq += 1;
        let id = nc.id;
        let cix = self.contacts.insert(Contact {
            id,
            channel: nc.channel,
            queue: qix,
            priority: nc.priority,
            reqset,
            arrived_at: self.now,
            seq: self.arrival_seq,
            entered_at: self.now,
            step: 0,
            routing,
            handler: None,
            transfer: None,
            directed: None,
            answered: false,
            answered_at: Timestamp::ZERO,
            gen: 0,
            step_due: None,
            step_armed: None,
            attributes: nc.attributes,
        });
        self.contact_ix.insert(id, cix);
        cix
    }

    // ----- inputs ------------------------------------------------------------

    fn apply(&mut self, input: Input) -> Result<(), RoutingError> {
        match input {
            Input::Arrive(nc) => self.arrive(nc),
            Input::ScheduleCallback {
                contact,
                due_at,
                deadline,
            } => self.schedule_callback(contact, due_at, deadline),
            Input::Abandon { contact } => self.abandon(contact),
            Input::RequestCallback { contact } => self.request_callback(contact),
            Input::SetPriority { contact, priority } => self.set_priority(contact, priority),
            Input::Accept { agent, contact } => self.accept(agent, contact),
            Input::Reject { agent, contact } => self.reject(agent, contact),
            Input::Hold { contact } => self.hold(contact, true),
            Input::Resume { contact } => self.hold(contact, false),
            Input::Transfer { contact, to, mode } => self.transfer(contact, to, mode),
            Input::CancelTransfer { contact } => self.cancel_transfer(contact),
            Input::End { contact } => self.end(contact),
            Input::WrapUpDone { agent, contact } => self.wrap_up_done(agent, contact),
            Input::ExtendWrapUp { agent, contact, by } => self.extend_wrap_up(agent, contact, by),
            Input::SetPresence { agent, presence } => {
                let aix = self.agent_of(agent)?;
                if let Presence::NotReady(NotReadyReason::Other(s)) = &presence {
                    if s.is_empty() || s.len() > self.limits.max_name_bytes as usize {
                        return Err(ConfigError::invalid(
                            &format!("agent {agent}"),
                            "not-ready reason",
                            "must be 1 to 200 bytes",
                        )
                        .into());
                    }
                }
                self.set_presence_internal(aix, presence);
                Ok(())
            }
            Input::SetEndpoint { agent, connected } => {
                let aix = self.agent_of(agent)?;
                let a = self.agents.at_mut(aix);
                if a.endpoint != connected {
                    a.endpoint = connected;
                    if connected {
                        // Contacts that waited for a phone may now come.
                        self.agent_has_room(aix);
                    }
                }
                Ok(())
            }
            Input::SetSiteOnAir { site, on_air } => self.set_site_on_air(site, on_air),
            Input::AddSkill(d) => self.add_skill(d),
            Input::AddTeam(d) => self.add_team(d),
            Input::AddSite(d) => self.add_site(d),
            Input::UpsertQueue(d) => {
                config::validate_queue(&d, self, &self.limits)?;
                if !self.queue_ix.contains_key(&d.id)
                    && self.queue_ix.len() >= self.limits.max_queues as usize
                {
                    return Err(ConfigError::TooMany {
                        kind: "queue",
                        limit: self.limits.max_queues,
                    }
                    .into());
                }
                let what = format!("{} saved", config::queue_label(&d));
                self.apply_queue(d);
                self.emit(Event::Reconfigured { what });
                Ok(())
            }
            Input::RemoveQueue {
                queue,
                move_waiting_to,
            } => self.remove_queue(queue, move_waiting_to),
            Input::UpsertAgent(d) => {
                config::validate_agent(&d, self, &self.limits)?;
                if !self.agent_ix.contains_key(&d.id)
                    && self.agent_ix.len() >= self.limits.max_agents as usize
                {
                    return Err(ConfigError::TooMany {
                        kind: "agent",
                        limit: self.limits.max_agents,
                    }
                    .into());
                }
                let what = format!("{} saved", config::agent_label(&d));
                self.apply_agent(d);
                self.emit(Event::Reconfigured { what });
                Ok(())
            }
            Input::RemoveAgent { agent } => self.remove_agent(agent),
            Input::ReplaceConfig(c) => self.replace_config(c),
        }
    }

    fn arrive(&mut self, nc: NewContact) -> Result<(), RoutingError> {
        let qix = self.check_new_contact(&nc)?;
        let reqset = self.intern_reqs(nc.id, &nc)?;
        let (id, channel, priority) = (nc.id, nc.channel, nc.priority);
        let q = self.queue(qix);
        let (qid, full, when_full) = (
            q.def.id,
            q.waiting_count >= q.def.max_waiting as usize,
            q.def.when_full,
        );
        let cix = self.create_contact(nc, qix, reqset, Routing::Idle);
        self.emit(Event::Arrived {
            contact: id,
            queue: qid,
            channel,
            priority,
        });
        if full {
            match when_full {
                WhenFull::Queue(other) => {
                    let oix = self.queue_ix[&other];
                    let o = self.queue(oix);
                    if o.waiting_count < o.def.max_waiting as usize {
                        self.contacts.at_mut(cix).queue = oix;
                        self.emit(Event::Moved {
                            contact: id,
                            from: qid,
                            to: other,
                            reason: MoveReason::QueueFull,
                        });
                        self.enqueue(cix, true);
                        return Ok(());
                    }
                    self.finish_contact(
                        cix,
                        Event::Refused {
                            contact: id,
                            queue: qid,
                        },
                    );
                }
                WhenFull::Voicemail if channel == Channel::Voice => self.finish_contact(
                    cix,
                    Event::Voicemail {
                        contact: id,
                        queue: qid,
                        reason: VoicemailReason::QueueFull,
                    },
                ),
                _ => self.finish_contact(
                    cix,
                    Event::Refused {
                        contact: id,
                        queue: qid,
                    },
                ),
            }
            return Ok(());
        }
        self.enqueue(cix, true);
        Ok(())
    }

    fn schedule_callback(
        &mut self,
        mut nc: NewContact,
        due_at: Timestamp,
        deadline: Option<Timestamp>,
    ) -> Result<(), RoutingError> {
        nc.channel = Channel::Callback;
        let qix = self.check_new_contact(&nc)?;
        if due_at.since(self.now) > MAX_BOOKING_AHEAD {
            return Err(RoutingError::InvalidContact {
                contact: nc.id,
                problem: "callback booked more than 366 days ahead".to_string(),
            });
        }
        let reqset = self.intern_reqs(nc.id, &nc)?;
        let (id, priority) = (nc.id, nc.priority);
        let qid = self.queue(qix).def.id;
        let cix = self.create_contact(nc, qix, reqset, Routing::Idle);
        self.emit(Event::Arrived {
            contact: id,
            queue: qid,
            channel: Channel::Callback,
            priority,
        });
        self.emit(Event::CallbackScheduled {
            contact: id,
            queue: qid,
            due_at,
            deadline,
        });
        if due_at <= self.now {
            self.enqueue(cix, true);
        } else {
            let c = self.contacts.at_mut(cix);
            c.routing = Routing::Scheduled { due_at };
            c.gen = c.gen.wrapping_add(1);
            let gen = c.gen;
            self.push_timer(due_at, TimerKind::Due, cix, id, gen);
        }
        Ok(())
    }

    fn abandon(&mut self, id: ContactId) -> Result<(), RoutingError> {
        let cix = self.contact_of(id)?;
        let c = self.contacts.at(cix);
        if c.handler.is_some() {
            return Err(RoutingError::NotWaiting(id));
        }
        let qid = self.queue(c.queue).def.id;
        let waited = self.now.since(c.arrived_at);
        let is_callback = c.channel == Channel::Callback;
        let mut freed_agent = None;
        match c.routing {
            Routing::Scheduled { .. } => {
                let c = self.contacts.at_mut(cix);
                c.routing = Routing::Idle;
            }
            Routing::Waiting(_) | Routing::Directed(_) => self.unlink_waiting(cix),
            Routing::Offered { .. } => {
                freed_agent = Some(self.withdraw_offer(cix, WithdrawReason::Abandoned));
            }
            Routing::Idle => unreachable!("a live contact without handler is in line"),
        }
        if !is_callback {
            let q = self.queue_mut(self.contacts.at(cix).queue);
            q.abandon_share_avg += (1.0 - q.abandon_share_avg) * 0.02;
        }
        let terminal = if is_callback {
            Event::Cancelled {
                contact: id,
                queue: qid,
            }
        } else {
            Event::Abandoned {
                contact: id,
                queue: qid,
                waited,
            }
        };
        self.finish_contact(cix, terminal);
        if let Some(aix) = freed_agent {
            self.agent_has_room(aix);
        }
        Ok(())
    }

    fn request_callback(&mut self, id: ContactId) -> Result<(), RoutingError> {
        let cix = self.contact_of(id)?;
        let c = self.contacts.at(cix);
        if c.handler.is_some() || !matches!(c.routing, Routing::Waiting(_) | Routing::Directed(_)) {
            return Err(RoutingError::NotWaiting(id));
        }
        if c.channel != Channel::Voice {
            return Err(RoutingError::InvalidContact {
                contact: id,
                problem: format!(
                    "only a waiting voice call can take a callback, not a {} contact",
                    c.channel
                ),
            });
        }
        let qid = self.queue(c.queue).def.id;
        // Callback and voice share the voice medium: the class is unchanged.
        self.contacts.at_mut(cix).channel = Channel::Callback;
        self.emit(Event::CallbackRequested {
            contact: id,
            queue: qid,
        });
        Ok(())
    }

    fn set_priority(&mut self, id: ContactId, priority: Priority) -> Result<(), RoutingError> {
        let cix = self.contact_of(id)?;
        if priority.abs() > PRIORITY_LIMIT {
            return Err(RoutingError::InvalidContact {
                contact: id,
                problem: format!("priority {priority} beyond ±{PRIORITY_LIMIT}"),
            });
        }
        let c = self.contacts.at_mut(cix);
        let from = c.priority;
        if from == priority {
            return Ok(());
        }
        c.priority = priority;
        if let Routing::Waiting(key) = c.routing {
            // Move to the class of the new priority, keeping the place and
            // the step timer. Eligibility is unchanged, so nothing to match.
            let place = (c.arrived_at, c.seq, cix);
            let new_key = ClassKey { priority, ..key };
            c.routing = Routing::Waiting(new_key);
            let qix = c.queue;
            let q = self.queue_mut(qix);
            let class = q.waiting.get_mut(&key).expect("class");
            class.remove(&place);
            if class.is_empty() {
                q.waiting.remove(&key);
            }
            q.waiting.entry(new_key).or_default().insert(place);
        }
        self.emit(Event::PriorityChanged {
            contact: id,
            from,
            to: priority,
        });
        Ok(())
    }

    fn offered_to(&self, aid: AgentId, cid: ContactId) -> Result<(Ix, Ix), RoutingError> {
        let aix = self.agent_of(aid)?;
        let cix = self.contact_of(cid)?;
        match self.contacts.at(cix).routing {
            Routing::Offered { agent } if agent == aix => Ok((aix, cix)),
            _ => Err(RoutingError::NoSuchOffer {
                contact: cid,
                agent: aid,
            }),
        }
    }

    fn accept(&mut self, aid: AgentId, cid: ContactId) -> Result<(), RoutingError> {
        let (aix, cix) = self.offered_to(aid, cid)?;
        self.accept_ix(aix, cix);
        Ok(())
    }

    fn accept_ix(&mut self, aix: Ix, cix: Ix) {
        let aid = self.agents.at(aix).def.id;
        let c = self.contacts.at_mut(cix);
        let cid = c.id;
        c.routing = Routing::Idle;
        c.gen = c.gen.wrapping_add(1);
        let old_handler = c.handler.replace(Handler {
            agent: aix,
            on_hold: false,
        });
        let transfer = c.transfer.take();
        let first = !c.answered;
        c.answered = true;
        c.answered_at = self.now;
        let (channel, qix, waited) = (c.channel, c.queue, self.now.since(c.arrived_at));
        if first {
            let q = self.queue_mut(qix);
            q.abandon_share_avg -= q.abandon_share_avg * 0.02;
        }
        let a = self.agents.at_mut(aix);
        let pos = a
            .item_pos(cid, |p| *p == Phase::Offered)
            .expect("offered item");
        a.items[pos].phase = Phase::Active;
        let q = self.queue(qix);
        let (qid, wrap) = (q.def.id, q.def.wrap_up);
        match (transfer, old_handler) {
            (Some(t), Some(old)) => {
                self.emit(Event::Transferred {
                    contact: cid,
                    from: t.from,
                    to: aid,
                    queue: qid,
                    mode: t.mode,
                });
                // Warm transfer complete: the first agent wraps up now.
                let prev_wrap = self.queues[t.prev_queue as usize]
                    .as_ref()
                    .map_or(wrap, |q| q.def.wrap_up);
                self.finish_item(old.agent, cid, prev_wrap);
            }
            (Some(t), None) => self.emit(Event::Transferred {
                contact: cid,
                from: t.from,
                to: aid,
                queue: qid,
                mode: t.mode,
            }),
            (None, _) if first => self.emit(Event::Answered {
                contact: cid,
                agent: aid,
                queue: qid,
                channel,
                waited,
            }),
            (None, _) => {}
        }
    }

    fn reject(&mut self, aid: AgentId, cid: ContactId) -> Result<(), RoutingError> {
        let (aix, cix) = self.offered_to(aid, cid)?;
        self.release_offer(cix, aix);
        self.emit(Event::OfferRejected {
            contact: cid,
            agent: aid,
        });
        // The agent is not offered the same contact straight back: a reject
        // makes the agent not ready until they say otherwise.
        self.set_presence_internal(aix, Presence::NotReady(NotReadyReason::Declined));
        self.reindex_agent(aix);
        self.enqueue(cix, true);
        Ok(())
    }

    fn active(&self, cid: ContactId) -> Result<(Ix, Handler), RoutingError> {
        let cix = self.contact_of(cid)?;
        match self.contacts.at(cix).handler {
            Some(h) => Ok((cix, h)),
            None => Err(RoutingError::NotActive(cid)),
        }
    }

    fn hold(&mut self, cid: ContactId, on: bool) -> Result<(), RoutingError> {
        let (cix, h) = self.active(cid)?;
        if h.on_hold == on {
            return Err(if on {
                RoutingError::AlreadyOnHold(cid)
            } else {
                RoutingError::NotOnHold(cid)
            });
        }
        self.contacts.at_mut(cix).handler = Some(Handler { on_hold: on, ..h });
        let aid = self.agents.at(h.agent).def.id;
        self.emit(if on {
            Event::HoldStarted {
                contact: cid,
                agent: aid,
            }
        } else {
            Event::HoldEnded {
                contact: cid,
                agent: aid,
            }
        });
        Ok(())
    }

    fn transfer(
        &mut self,
        cid: ContactId,
        to: TransferTarget,
        mode: TransferMode,
    ) -> Result<(), RoutingError> {
        let (cix, h) = self.active(cid)?;
        let c = self.contacts.at(cix);
        if c.routing != Routing::Idle {
            return Err(RoutingError::TransferPending(cid));
        }
        let from_queue = c.queue;
        let target = match to {
            TransferTarget::Queue(q) => Ok(self.queue_of(q)?),
            TransferTarget::Agent(a) => {
                let aix = self.agent_of(a)?;
                if aix == h.agent {
                    return Err(RoutingError::InvalidContact {
                        contact: cid,
                        problem: format!("cannot transfer to agent {a}, who already has it"),
                    });
                }
                if self.agents.at(aix).directed.len() >= self.limits.max_directed_per_agent as usize
                {
                    return Err(RoutingError::LimitReached {
                        what: "contacts waiting for one agent",
                        limit: self.limits.max_directed_per_agent as u64,
                    });
                }
                Err(aix)
            }
        };
        let from = self.agents.at(h.agent).def.id;
        self.emit(Event::TransferRequested {
            contact: cid,
            from,
            to,
            mode,
        });
        let now = self.now;
        let c = self.contacts.at_mut(cix);
        c.transfer = Some(PendingTransfer {
            mode,
            from,
            from_ix: h.agent,
            prev_queue: from_queue,
        });
        c.entered_at = now;
        c.step = 0;
        match target {
            Ok(qix) => {
                c.queue = qix;
                c.directed = None;
                if qix != from_queue {
                    let (from_id, to_id) = (self.queue(from_queue).def.id, self.queue(qix).def.id);
                    self.emit(Event::Moved {
                        contact: cid,
                        from: from_id,
                        to: to_id,
                        reason: MoveReason::Transfer,
                    });
                }
            }
            Err(aix) => c.directed = Some(aix),
        }
        if mode == TransferMode::Cold {
            self.contacts.at_mut(cix).handler = None;
            let wrap = self.queue(from_queue).def.wrap_up;
            self.finish_item(h.agent, cid, wrap);
        }
        self.enqueue(cix, true);
        Ok(())
    }

    /// Stops a warm transfer under way; the contact stays with its agent.
    fn cancel_transfer(&mut self, cid: ContactId) -> Result<(), RoutingError> {
        let (cix, _) = self.active(cid)?;
        let c = self.contacts.at(cix);
        if c.transfer.is_none() || c.routing == Routing::Idle {
            return Err(RoutingError::NoTransferPending(cid));
        }
        self.stop_transfer(cix);
        let qid = self.queue(self.contacts.at(cix).queue).def.id;
        self.emit(Event::TransferCancelled {
            contact: cid,
            queue: qid,
        });
        Ok(())
    }

    fn stop_transfer(&mut self, cix: Ix) {
        let mut freed = None;
        match self.contacts.at(cix).routing {
            Routing::Offered { .. } => {
                freed = Some(self.withdraw_offer(cix, WithdrawReason::TransferCancelled))
            }
            Routing::Waiting(_) | Routing::Directed(_) => self.unlink_waiting(cix),
            _ => {}
        }
        let c = self.contacts.at_mut(cix);
        if let Some(t) = c.transfer.take() {
            c.queue = t.prev_queue;
        }
        c.directed = None;
        if let Some(aix) = freed {
            self.agent_has_room(aix);
        }
    }

    fn end(&mut self, cid: ContactId) -> Result<(), RoutingError> {
        let (cix, h) = self.active(cid)?;
        if self.contacts.at(cix).routing != Routing::Idle {
            self.stop_transfer(cix);
        }
        let c = self.contacts.at(cix);
        let handled = self.now.since(c.answered_at).0.max(0) as f64;
        let qix = c.queue;
        let q = self.queue_mut(qix);
        let (qid, wrap) = (q.def.id, q.def.wrap_up);
        // Handle time for expected-wait estimates: a moving average over
        // roughly the last 50 contacts of the queue.
        let sample = handled + wrap.0 as f64;
        q.handle_ms_avg = Some(match q.handle_ms_avg {
            None => sample,
            Some(avg) => avg + (sample - avg) * 0.02,
        });
        let aid = self.agents.at(h.agent).def.id;
        self.contacts.at_mut(cix).handler = None;
        self.finish_contact(
            cix,
            Event::Ended {
                contact: cid,
                agent: aid,
                queue: qid,
            },
        );
        self.finish_item(h.agent, cid, wrap);
        Ok(())
    }

    fn wrap_up_done(&mut self, aid: AgentId, cid: ContactId) -> Result<(), RoutingError> {
        let aix = self.agent_of(aid)?;
        let a = self.agents.at(aix);
        match a.item_pos(cid, |p| matches!(p, Phase::WrapUp { .. })) {
            Some(pos) => {
                self.free_item(aix, pos);
                Ok(())
            }
            _ => Err(RoutingError::NotInWrapUp {
                agent: aid,
                contact: cid,
            }),
        }
    }

    /// More time to wrap up: the wrap-up's end moves `by` later (from now
    /// if it is nearly over), never beyond [`MAX_WRAP_UP_MS`] from now; the
    /// old timer goes stale (a new generation).
    fn extend_wrap_up(
        &mut self,
        aid: AgentId,
        cid: ContactId,
        by: model::DurationMs,
    ) -> Result<(), RoutingError> {
        if by.0 < 1000 || by.0 > crate::input::MAX_WRAP_UP_EXTENSION_MS {
            return Err(RoutingError::BadWrapUpExtension {
                ms: by.0,
                max_s: crate::input::MAX_WRAP_UP_EXTENSION_MS / 1000,
            });
        }
        let aix = self.agent_of(aid)?;
        let now = self.now;
        let a = self.agents.at(aix);
        let Some(pos) = a.item_pos(cid, |p| matches!(p, Phase::WrapUp { .. })) else {
            return Err(RoutingError::NotInWrapUp {
                agent: aid,
                contact: cid,
            });
        };
        let Phase::WrapUp { until, .. } = a.items[pos].phase else {
            unreachable!("found in wrap-up")
        };
        let longest = now.plus(model::DurationMs(crate::input::MAX_WRAP_UP_MS));
        let until = until.max(now).plus(by).min(longest);
        self.wrap_seq = self.wrap_seq.wrapping_add(1);
        let gen = self.wrap_seq;
        self.agents.at_mut(aix).items[pos].phase = Phase::WrapUp { gen, until };
        self.push_timer(until, TimerKind::WrapUp, aix, cid, gen);
        self.emit(Event::WrapUpExtended {
            agent: aid,
            contact: cid,
            until,
        });
        Ok(())
    }

    fn set_site_on_air(&mut self, site: SiteId, on_air: bool) -> Result<(), RoutingError> {
        let six = *self
            .site_ix
            .get(&site)
            .ok_or(RoutingError::UnknownSite(site))?;
        if self.site_on_air[six as usize] == on_air {
            return Ok(());
        }
        self.site_on_air[six as usize] = on_air;
        self.emit(Event::SiteOnAir { site, on_air });
        let mut at_site: Vec<(Timestamp, AgentId, Ix)> = self
            .agents
            .iter()
            .filter(|(_, a)| a.site == six)
            .map(|(ix, a)| (a.idle_since, a.def.id, ix))
            .collect();
        at_site.sort_unstable();
        for &(_, _, aix) in &at_site {
            self.reindex_agent(aix);
        }
        for &(_, _, aix) in &at_site {
            if on_air {
                // Longest idle first.
                self.match_agent(aix);
            } else {
                self.withdraw_all_offers(aix, WithdrawReason::SiteOffAir);
            }
        }
        Ok(())
    }

    // ----- live configuration ---------------------------------------------

    fn add_skill(&mut self, d: SkillDef) -> Result<(), RoutingError> {
        if self.skill_ix.contains_key(&d.id) {
            return Err(ConfigError::DuplicateId {
                kind: "skill",
                id: d.id.to_string(),
            }
            .into());
        }
        if self.skills.len() >= self.limits.max_skills as usize {
            return Err(ConfigError::TooMany {
                kind: "skill",
                limit: self.limits.max_skills,
            }
            .into());
        }
        let c = Config {
            limits: self.limits.clone(),
            skills: vec![d.clone()],
            ..Config::default()
        };
        c.validate()?;
        self.emit(Event::Reconfigured {
            what: format!("skill {} '{}' added", d.id, d.name),
        });
        self.skill_ix.insert(d.id, self.skills.len() as u32);
        self.skills.push(d);
        Ok(())
    }

    fn add_team(&mut self, d: TeamDef) -> Result<(), RoutingError> {
        if self.team_ix.contains_key(&d.id) {
            return Err(ConfigError::DuplicateId {
                kind: "team",
                id: d.id.to_string(),
            }
            .into());
        }
        if self.teams.len() >= self.limits.max_teams as usize {
            return Err(ConfigError::TooMany {
                kind: "team",
                limit: self.limits.max_teams,
            }
            .into());
        }
        let c = Config {
            limits: self.limits.clone(),
            teams: vec![d.clone()],
            ..Config::default()
        };
        c.validate()?;
        self.emit(Event::Reconfigured {
            what: format!("team {} '{}' added", d.id, d.name),
        });
        self.team_ix.insert(d.id, self.teams.len() as u32);
        self.teams.push(d);
        Ok(())
    }

    fn add_site(&mut self, d: SiteDef) -> Result<(), RoutingError> {
        if self.site_ix.contains_key(&d.id) {
            return Err(ConfigError::DuplicateId {
                kind: "site",
                id: d.id.to_string(),
            }
            .into());
        }
        if self.sites.len() >= self.limits.max_sites as usize {
            return Err(ConfigError::TooMany {
                kind: "site",
                limit: self.limits.max_sites,
            }
            .into());
        }
        let c = Config {
            limits: self.limits.clone(),
            sites: vec![d.clone()],
            ..Config::default()
        };
        c.validate()?;
        self.emit(Event::Reconfigured {
            what: format!("site {} '{}' added", d.id, d.name),
        });
        self.site_ix.insert(d.id, self.sites.len() as u32);
        self.sites.push(d);
        self.site_on_air.push(true);
        Ok(())
    }

    fn step_rules(&self, d: &QueueDef) -> Vec<StepRule> {
        let mut reqs: Vec<(u32, SkillLevel)> = d
            .requirements
            .iter()
            .map(|r| (self.skill_ix[&r.skill], r.min_level))
            .collect();
        let mut teams: Option<Vec<u32>> = d
            .teams
            .as_ref()
            .map(|ts| ts.iter().map(|t| self.team_ix[t]).collect());
        let norm = |reqs: &Vec<(u32, SkillLevel)>, teams: &Option<Vec<u32>>| {
            let mut r: Vec<_> = reqs.iter().copied().filter(|&(_, l)| l > 0).collect();
            r.sort_unstable();
            let t = teams.clone().map(|mut t| {
                t.sort_unstable();
                t.dedup();
                t
            });
            StepRule { reqs: r, teams: t }
        };
        let mut rules = vec![norm(&reqs, &teams)];
        for step in &d.overflow {
            match &step.action {
                OverflowAction::RelaxSkill { skill, min_level } => {
                    let six = self.skill_ix[skill];
                    for r in reqs.iter_mut().filter(|r| r.0 == six) {
                        r.1 = *min_level;
                    }
                }
                OverflowAction::AddTeams(ts) => {
                    if let Some(cur) = teams.as_mut() {
                        cur.extend(ts.iter().map(|t| self.team_ix[t]));
                    }
                }
                OverflowAction::AnyTeam => teams = None,
                _ => {}
            }
            rules.push(norm(&reqs, &teams));
        }
        rules
    }

    /// Saves a queue that was validated; re-sorts its waiting contacts under
    /// the new rules. Defined effects for contacts already waiting: each
    /// keeps its place and the number of overflow steps it has passed
    /// (capped at the new number of steps); steps already due under the new
    /// timings take effect at once, in order; then each is matched again.
    fn apply_queue(&mut self, d: QueueDef) {
        let rules = self.step_rules(&d);
        let primary_skill = d.requirements.first().map(|r| self.skill_ix[&r.skill]);
        let loosest = rules.last().expect("at least one rule").clone();
        let candidates: Vec<Ix> = self
            .agents
            .iter()
            .filter(|(_, a)| eligible(a, &loosest, &[]))
            .map(|(ix, _)| ix)
            .collect();
        let qix = match self.queue_ix.get(&d.id) {
            Some(&qix) => qix,
            None => {
                let qix = self.queues.len() as Ix;
                self.queues.push(Some(Queue {
                    def: d.clone(),
                    rules: Vec::new(),
                    primary_skill: None,
                    waiting: BTreeMap::new(),
                    waiting_count: 0,
                    handle_ms_avg: None,
                    abandon_share_avg: 0.0,
                    candidates: Vec::new(),
                    ready: std::array::from_fn(|_| ReadyIndex::new(d.strategy)),
                }));
                self.queue_ix.insert(d.id, qix);
                qix
            }
        };
        let q = self.queue_mut(qix);
        q.def = d;
        q.rules = rules;
        q.primary_skill = primary_skill;
        let old_candidates = std::mem::replace(&mut q.candidates, candidates.clone());
        // The strategy may have changed: new indexes of the right kind.
        let strategy = q.def.strategy;
        for s in q.ready.iter_mut() {
            *s = ReadyIndex::new(strategy);
        }
        let waiting: Vec<Place> = std::mem::take(&mut q.waiting)
            .into_values()
            .flatten()
            .collect();
        q.waiting_count = 0;
        // Agents: drop the old memberships in this queue, then re-index.
        for &aix in &old_candidates {
            let a = self.agents.at_mut(aix);
            a.candidates.retain(|&x| x != qix);
            a.memberships.retain(|m| m.0 != qix);
        }
        for &aix in &candidates {
            let a = self.agents.at_mut(aix);
            if let Err(pos) = a.candidates.binary_search(&qix) {
                a.candidates.insert(pos, qix);
            }
        }
        let mut touched: Vec<Ix> = old_candidates.into_iter().chain(candidates).collect();
        touched.sort_unstable();
        touched.dedup();
        for &aix in &touched {
            self.reindex_agent(aix);
        }
        // Contacts: back in line under the new rules, best first.
        for &(_, _, cix) in &waiting {
            let c = self.contacts.at_mut(cix);
            c.routing = Routing::Idle;
            c.gen = c.gen.wrapping_add(1);
        }
        let mut order: Vec<(Reverse<Priority>, Timestamp, u64, Ix)> = waiting
            .iter()
            .map(|&(at, seq, cix)| {
                let c = self.contacts.at(cix);
                (
                    Reverse(self.effective_priority(self.queue(qix), c)),
                    at,
                    seq,
                    cix,
                )
            })
            .collect();
        order.sort_unstable();
        for (_, _, _, cix) in order {
            self.enqueue(cix, false);
        }
        // Agents newly able to serve may take contacts of this queue only
        // through the contacts above; they take others' through match_agent.
        for &aix in &touched {
            if self.agents.get(aix).is_some() {
                self.match_agent(aix);
            }
        }
    }

    fn live_contacts_of_queue(&self, qix: Ix) -> Vec<Ix> {
        let mut v: Vec<(u64, Ix)> = self
            .contacts
            .iter()
            .filter(|(_, c)| c.queue == qix || c.transfer.is_some_and(|t| t.prev_queue == qix))
            .map(|(ix, c)| (c.seq, ix))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, ix)| ix).collect()
    }

    fn queue_users(&self, qid: QueueId) -> Option<String> {
        self.queues.iter().flatten().find_map(|q| {
            let uses =
                config::final_move(&q.def) == Some(qid) || q.def.when_full == WhenFull::Queue(qid);
            (uses && q.def.id != qid).then(|| config::queue_label(&q.def))
        })
    }

    fn remove_queue(&mut self, qid: QueueId, move_to: Option<QueueId>) -> Result<(), RoutingError> {
        self.remove_queue_checked(qid, move_to, true)
    }

    /// `check_users`: refuse while another queue overflows into it. A whole
    /// configuration replacement passes false: the new configuration was
    /// validated whole, and queues dropped together may point at each other.
    fn remove_queue_checked(
        &mut self,
        qid: QueueId,
        move_to: Option<QueueId>,
        check_users: bool,
    ) -> Result<(), RoutingError> {
        let qix = self.queue_of(qid)?;
        if let Some(by) = self.queue_users(qid).filter(|_| check_users) {
            return Err(ConfigError::InUse {
                item: config::queue_label(&self.queue(qix).def),
                by,
            }
            .into());
        }
        let live = self.live_contacts_of_queue(qix);
        let to_ix = match move_to {
            Some(t) if t == qid => {
                return Err(ConfigError::invalid(
                    &format!("queue {qid}"),
                    "move_waiting_to",
                    "is the queue being removed",
                )
                .into())
            }
            Some(t) => Some(self.queue_of(t)?),
            None if !live.is_empty() => {
                return Err(RoutingError::QueueNotEmpty {
                    queue: qid,
                    count: live.len(),
                });
            }
            None => None,
        };
        let label = config::queue_label(&self.queue(qix).def);
        for cix in live {
            let to_ix = to_ix.expect("checked above");
            let to_id = self.queue(to_ix).def.id;
            let c = self.contacts.at(cix);
            let cid = c.id;
            if let Some(t) = c.transfer {
                if t.prev_queue == qix {
                    self.contacts.at_mut(cix).transfer = Some(PendingTransfer {
                        prev_queue: to_ix,
                        ..t
                    });
                }
            }
            if self.contacts.at(cix).queue != qix {
                continue;
            }
            let mut freed = None;
            let requeue = match self.contacts.at(cix).routing {
                Routing::Offered { .. } => {
                    freed = Some(self.withdraw_offer(cix, WithdrawReason::Reconfigured));
                    true
                }
                Routing::Waiting(_) | Routing::Directed(_) => {
                    self.unlink_waiting(cix);
                    true
                }
                Routing::Scheduled { .. } | Routing::Idle => false,
            };
            let now = self.now;
            let c = self.contacts.at_mut(cix);
            c.queue = to_ix;
            if requeue {
                c.entered_at = now;
                c.step = 0;
            }
            self.emit(Event::Moved {
                contact: cid,
                from: qid,
                to: to_id,
                reason: MoveReason::QueueRemoved,
            });
            if requeue {
                self.enqueue(cix, true);
            }
            if let Some(aix) = freed {
                self.agent_has_room(aix);
            }
        }
        let q = self.queues[qix as usize].take().expect("live queue");
        self.queue_ix.remove(&qid);
        for aix in q.candidates {
            let a = self.agents.at_mut(aix);
            a.candidates.retain(|&x| x != qix);
            a.memberships.retain(|m| m.0 != qix);
        }
        self.emit(Event::Reconfigured {
            what: format!("{label} removed"),
        });
        Ok(())
    }

    fn apply_agent(&mut self, d: AgentDef) {
        let max_skill = d
            .skills
            .iter()
            .map(|(s, _)| self.skill_ix[s] as usize + 1)
            .max()
            .unwrap_or(0);
        let mut levels = vec![0; max_skill];
        for (s, l) in &d.skills {
            levels[self.skill_ix[s] as usize] = *l;
        }
        let (team, site) = (self.team_ix[&d.team], self.site_ix[&d.site]);
        let cap = d.capacity.as_array();
        let voice_exclusive = d.capacity.voice_exclusive;
        let aix = match self.agent_ix.get(&d.id) {
            Some(&aix) => {
                let a = self.agents.at_mut(aix);
                a.def = d;
                a.team = team;
                a.site = site;
                a.levels = levels;
                a.cap = cap;
                a.voice_exclusive = voice_exclusive;
                aix
            }
            None => {
                let id = d.id;
                let aix = self.agents.insert(Agent {
                    def: d,
                    team,
                    site,
                    levels,
                    presence: Presence::Offline,
                    cap,
                    load: [0; Media::COUNT],
                    voice_exclusive,
                    items: Vec::new(),
                    idle_since: self.now,
                    last_offer: 0,
                    candidates: Vec::new(),
                    memberships: Vec::new(),
                    directed: Vec::new(),
                    endpoint: false,
                });
                self.agent_ix.insert(id, aix);
                aix
            }
        };
        let a = self.agents.at(aix);
        let new: Vec<Ix> = self
            .queues
            .iter()
            .enumerate()
            .filter_map(|(qix, q)| q.as_ref().map(|q| (qix as Ix, q)))
            .filter(|(_, q)| eligible(a, q.rules.last().expect("rules"), &[]))
            .map(|(qix, _)| qix)
            .collect();
        let old = std::mem::replace(&mut self.agents.at_mut(aix).candidates, new.clone());
        for qix in old.iter().filter(|q| !new.contains(q)) {
            self.queue_mut(*qix).candidates.retain(|&x| x != aix);
        }
        for qix in new.iter().filter(|q| !old.contains(q)) {
            let c = &mut self.queue_mut(*qix).candidates;
            if let Err(pos) = c.binary_search(&aix) {
                c.insert(pos, aix);
            }
        }
        self.agent_has_room(aix);
    }

    fn remove_agent(&mut self, aid: AgentId) -> Result<(), RoutingError> {
        let aix = self.agent_of(aid)?;
        if !self.agents.at(aix).items.is_empty() {
            return Err(RoutingError::AgentHasWork(aid));
        }
        self.agents.at_mut(aix).presence = Presence::Offline;
        self.reindex_agent(aix);
        // Contacts waiting for this agent go back to their queues.
        let directed = std::mem::take(&mut self.agents.at_mut(aix).directed);
        for &cix in &directed {
            let c = self.contacts.at_mut(cix);
            c.routing = Routing::Idle;
            c.directed = None;
        }
        let a = self.agents.remove(aix);
        self.agent_ix.remove(&aid);
        for qix in a.candidates {
            self.queue_mut(qix).candidates.retain(|&x| x != aix);
        }
        self.emit(Event::Reconfigured {
            what: format!("{} removed", config::agent_label(&a.def)),
        });
        for cix in directed {
            self.enqueue(cix, true);
        }
        Ok(())
    }

    fn apply_config(&mut self, c: Config) {
        self.limits = c.limits;
        for d in c.skills {
            match self.skill_ix.get(&d.id) {
                Some(&ix) => self.skills[ix as usize] = d,
                None => {
                    self.skill_ix.insert(d.id, self.skills.len() as u32);
                    self.skills.push(d);
                }
            }
        }
        for d in c.teams {
            match self.team_ix.get(&d.id) {
                Some(&ix) => self.teams[ix as usize] = d,
                None => {
                    self.team_ix.insert(d.id, self.teams.len() as u32);
                    self.teams.push(d);
                }
            }
        }
        for d in c.sites {
            match self.site_ix.get(&d.id) {
                Some(&ix) => self.sites[ix as usize] = d,
                None => {
                    self.site_ix.insert(d.id, self.sites.len() as u32);
                    self.sites.push(d);
                    self.site_on_air.push(true);
                }
            }
        }
        let keep_queues: BTreeSet<QueueId> = c.queues.iter().map(|q| q.id).collect();
        let keep_agents: BTreeSet<AgentId> = c.agents.iter().map(|a| a.id).collect();
        for d in c.queues {
            self.apply_queue(d);
        }
        for d in c.agents {
            self.apply_agent(d);
        }
        let mut gone_agents: Vec<AgentId> = self
            .agent_ix
            .keys()
            .copied()
            .filter(|a| !keep_agents.contains(a))
            .collect();
        gone_agents.sort_unstable();
        for a in gone_agents {
            self.remove_agent(a).expect("pre-checked: no work");
        }
        let mut gone_queues: Vec<QueueId> = self
            .queue_ix
            .keys()
            .copied()
            .filter(|q| !keep_queues.contains(q))
            .collect();
        gone_queues.sort_unstable();
        for q in gone_queues {
            self.remove_queue_checked(q, None, false)
                .expect("pre-checked: empty");
        }
    }

    fn replace_config(&mut self, c: Config) -> Result<(), RoutingError> {
        c.validate()?;
        // Everything the new configuration drops must be free to go.
        let keep_agents: BTreeSet<AgentId> = c.agents.iter().map(|a| a.id).collect();
        for (_, a) in self.agents.iter() {
            if !keep_agents.contains(&a.def.id) && !a.items.is_empty() {
                return Err(RoutingError::AgentHasWork(a.def.id));
            }
        }
        let keep_queues: BTreeSet<QueueId> = c.queues.iter().map(|q| q.id).collect();
        for (&qid, &qix) in &self.queue_ix {
            if keep_queues.contains(&qid) {
                continue;
            }
            let n = self.live_contacts_of_queue(qix).len();
            if n > 0 {
                return Err(RoutingError::QueueNotEmpty {
                    queue: qid,
                    count: n,
                });
            }
        }
        if self.contacts.len() > c.limits.max_live_contacts as usize {
            return Err(ConfigError::invalid(
                "limits",
                "max_live_contacts",
                "is below the contacts alive now",
            )
            .into());
        }
        let summary = format!(
            "configuration replaced: {} queues, {} agents, {} skills",
            c.queues.len(),
            c.agents.len(),
            c.skills.len()
        );
        self.apply_config(c);
        self.emit(Event::Reconfigured { what: summary });
        Ok(())
    }
}

fn ready_key(q: &Queue, a: &Agent, aix: Ix) -> ReadyKey {
    let idle = a.idle_since.0;
    let (k1, k2) = match q.def.strategy {
        Strategy::LongestIdle => (idle, 0),
        Strategy::MostSkilled => (-(q.primary_skill.map_or(0, |s| a.level(s)) as i64), idle),
        Strategy::LeastOccupied => (a.occupancy_permille(), idle),
        Strategy::RoundRobin => (a.last_offer as i64, 0),
    };
    (k1, k2, a.def.id, aix)
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
