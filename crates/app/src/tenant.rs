//! One organisation's state beside its engine: the live KPIs, the live
//! stream, and the published read model every read endpoint answers from
//! (see [`crate::live`]).

use crate::board::{self, Board, Facts};
use crate::live::{AgentRow, Live, LiveShared};
use crate::reports;
use model::{AgentId, DurationMs, QueueId, Timestamp};
use routing::{Engine, Event, Record};
use rustc_hash::FxHashSet;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::broadcast;

/// One organisation's engine and what is kept beside it: the live KPIs,
/// the live stream's sender and the read model.
pub struct Tenant {
    pub engine: Engine,
    pub kpi: kpi::Kpi,
    pub hub: broadcast::Sender<Record>,
    /// KPI intervals before this are kept in the store, not in `kpi`
    /// (see [`crate::KPI_IN_MEMORY`]).
    pub kpi_before: Option<Timestamp>,
    pub(crate) live: LiveState,
}

/// The read model's working state, kept by the engine task.
pub(crate) struct LiveState {
    pub(crate) board: Board,
    /// Records applied so far (the version readers wait for).
    pub(crate) version: u64,
    /// Each agent's row as last built, in id order.
    agents: BTreeMap<AgentId, Arc<AgentRow>>,
    /// Agents whose rows need building again (or all of them).
    dirty_agents: FxHashSet<AgentId>,
    all_dirty: bool,
    agents_version: u64,
    agent_list: Arc<Vec<Arc<AgentRow>>>,
    by_state: BTreeMap<String, u32>,
    /// The queues, as configured (refreshed when configuration changes).
    queues: Vec<routing::QueueDef>,
    /// Each agent's status as last seen, and since when (the wallboard's
    /// "time in state").
    since: rustc_hash::FxHashMap<AgentId, (String, Timestamp)>,
    /// When the last snapshot was published, and of which version.
    pub(crate) last: Option<(Timestamp, u64)>,
    pub(crate) shared: Arc<LiveShared>,
}

/// The agent an event is about, if any.
fn event_agent(e: &routing::Event) -> Option<AgentId> {
    use routing::Event::*;
    match e {
        Offered { agent, .. }
        | Answered { agent, .. }
        | OfferRejected { agent, .. }
        | OfferTimedOut { agent, .. }
        | OfferWithdrawn { agent, .. }
        | HoldStarted { agent, .. }
        | HoldEnded { agent, .. }
        | Ended { agent, .. }
        | WrapUpStarted { agent, .. }
        | WrapUpExtended { agent, .. }
        | WrapUpEnded { agent, .. }
        | PresenceChanged { agent, .. } => Some(*agent),
        Transferred { to, .. } => Some(*to),
        _ => None,
    }
}

/// An agent's status as one word (`not_ready` with its reason apart).
pub fn status_word(s: &routing::AgentStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| match v {
            serde_json::Value::String(w) => Some(w),
            serde_json::Value::Object(m) => m.keys().next().cloned(),
            _ => None,
        })
        .unwrap_or_default()
}

/// Snapshots are published at most this often while things change...
pub(crate) const PUBLISH_EVERY: DurationMs = DurationMs(100);
/// ... or this often while a reader waits for a change it must see.
pub(crate) const PUBLISH_HURRIED: DurationMs = DurationMs(10);
/// With contacts waiting, a snapshot at least this often (waits grow).
pub(crate) const PUBLISH_IDLE: DurationMs = DurationMs(1000);
/// A waiting list is kept in the snapshots this long after it was asked for.
const WANTED_FOR: DurationMs = DurationMs(60_000);

impl Tenant {
    pub fn new(engine: Engine, kpi: kpi::Kpi) -> Tenant {
        let now = engine.now();
        let board = Board::rebuild(&engine, now);
        let shared = Arc::new(LiveShared::new());
        let mut t = Tenant {
            engine,
            kpi,
            hub: broadcast::channel(4096).0,
            kpi_before: None,
            live: LiveState {
                board,
                version: 0,
                agents: BTreeMap::new(),
                dirty_agents: FxHashSet::default(),
                all_dirty: true,
                agents_version: 0,
                agent_list: Arc::default(),
                by_state: BTreeMap::new(),
                queues: Vec::new(),
                since: Default::default(),
                last: None,
                shared,
            },
        };
        t.live.queues = t.engine.config().queues;
        t.publish_live(now);
        t
    }

    /// The readers' side of this organisation's read model.
    pub fn shared(&self) -> Arc<LiveShared> {
        self.live.shared.clone()
    }

    /// Rebuilds this agent's row at the next publish (a change with no
    /// event, such as their phone connecting).
    pub(crate) fn agent_changed(&mut self, a: AgentId) {
        self.live.dirty_agents.insert(a);
        // A new version: a snapshot is due, and a read after this sees it.
        self.live.version += 1;
        self.live
            .shared
            .applied
            .store(self.live.version, Ordering::Release);
    }

    /// Feeds one record the engine produced (after it is durable): the KPIs,
    /// the board, the agents' rows and the live stream.
    pub fn publish(&mut self, r: Record) {
        if matches!(r.event, routing::Event::Reconfigured { .. }) {
            self.kpi.follow_config(&self.engine.config());
        }
        self.kpi.observe(&r);
        match r.event {
            Event::Offered { .. } => {
                self.live.shared.offers.fetch_add(1, Ordering::Relaxed);
            }
            Event::OfferRejected { .. } | Event::OfferTimedOut { .. } => {
                self.live
                    .shared
                    .offers_missed
                    .fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        let engine = &self.engine;
        self.live.board.observe(&r, |id| Facts::of(engine, id));
        if let Some(a) = event_agent(&r.event) {
            if let Some(v) = self.engine.agent(a) {
                let word = status_word(&v.status);
                let e = self.live.since.entry(a).or_insert((String::new(), r.at));
                if e.0 != word {
                    *e = (word, r.at);
                }
            }
            self.live.dirty_agents.insert(a);
        }
        if let Event::Reconfigured { .. } = r.event {
            self.live.all_dirty = true;
            self.live.queues = self.engine.config().queues;
        }
        self.live.version += 1;
        self.live
            .shared
            .applied
            .store(self.live.version, Ordering::Release);
        // No subscribers is fine.
        let _ = self.hub.send(r);
    }

    pub(crate) fn fire_timers(&mut self, now: Timestamp) {
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            let _ = self.engine.handle_timeout(now);
        }
        while let Some(r) = self.engine.poll_output() {
            self.publish(r);
        }
    }

    /// When this organisation's next snapshot is due, if one is.
    pub(crate) fn publish_due(&self) -> Option<Timestamp> {
        let (at, version) = self.live.last?;
        let hurry = self.live.shared.hurry.load(Ordering::Acquire);
        let mut due: Option<Timestamp> = None;
        let mut consider = |t: Timestamp| due = Some(due.map_or(t, |d| d.min(t)));
        if version != self.live.version {
            consider(at.plus(if hurry {
                PUBLISH_HURRIED
            } else {
                PUBLISH_EVERY
            }));
        } else if hurry {
            // A reader asked for a waiting list not in the snapshot yet.
            consider(at.plus(PUBLISH_HURRIED));
        }
        if self.live.board.waiting() > 0 {
            consider(at.plus(PUBLISH_IDLE));
        }
        if let Some(t) = self.live.board.next_change() {
            consider(t.max(at.plus(PUBLISH_EVERY)));
        }
        due
    }

    /// Publishes a snapshot if one is due at `now`.
    pub(crate) fn maybe_publish(&mut self, now: Timestamp) {
        if self.publish_due().is_some_and(|t| t <= now) {
            self.publish_live(now);
        }
    }

    fn agent_row(&self, a: AgentId) -> Option<AgentRow> {
        let def = self.engine.agent_def(a)?.clone();
        let view = self.engine.agent(a)?;
        let word = status_word(&view.status);
        let since = self.live.since.get(&a).filter(|s| s.0 == word).map(|s| s.1);
        Some(AgentRow {
            def,
            view,
            word,
            since,
        })
    }

    /// Builds the read model's snapshot as of `now` and publishes it. The
    /// cost does not grow with what waits: agents' rows are rebuilt only
    /// for agents that changed, the figures come from the board (kept by
    /// events) and from the KPI series of the queues (bounded by the
    /// intervals in memory), and waiting lists only for the queues someone
    /// asked for in the last minute.
    pub fn publish_live(&mut self, now: Timestamp) -> Arc<Live> {
        let started = std::time::Instant::now();
        let now = now.max(self.engine.now());
        self.live.board.advance(now);
        // Agents.
        let changed: Vec<AgentId> = if self.live.all_dirty {
            self.live.agents.clear();
            self.live.by_state.clear();
            self.engine.agent_ids()
        } else {
            self.live.dirty_agents.iter().copied().collect()
        };
        let agents_changed = !changed.is_empty();
        for a in changed {
            if let Some(old) = self.live.agents.remove(&a) {
                if let Some(n) = self.live.by_state.get_mut(&old.word) {
                    *n -= 1;
                    if *n == 0 {
                        self.live.by_state.remove(&old.word);
                    }
                }
            }
            if let Some(row) = self.agent_row(a) {
                *self.live.by_state.entry(row.word.clone()).or_default() += 1;
                self.live.agents.insert(a, Arc::new(row));
            }
        }
        self.live.dirty_agents.clear();
        self.live.all_dirty = false;
        if agents_changed {
            self.live.agents_version += 1;
            self.live.agent_list = Arc::new(self.live.agents.values().cloned().collect());
        }
        // Waiting lists asked for.
        let wanted: Vec<QueueId> = {
            let mut w = self
                .live
                .shared
                .wanted
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            w.retain(|_, at| now.since(*at) < WANTED_FOR);
            w.keys().copied().collect()
        };
        let waiting = wanted
            .into_iter()
            .filter(|&q| self.engine.queue_view(q).is_some())
            .map(|q| (q, Arc::new(self.engine.waiting_in_order(q))))
            .collect();
        let wallboard = self.wallboard(now);
        let live = Live {
            version: self.live.version,
            at: now,
            wallboard,
            agents_version: self.live.agents_version,
            agents: self.live.agent_list.clone(),
            waiting,
            encoded: Default::default(),
        };
        self.live.last = Some((now, self.live.version));
        self.live.shared.hurry.store(false, Ordering::Release);
        let live = Arc::new(live);
        self.live.shared.tx.send_replace(live.clone());
        tracing::debug!(
            target: "app::live",
            "snapshot {} built in {} µs",
            live.version,
            started.elapsed().as_micros()
        );
        live
    }

    /// The wallboard figures from the read model: whole-run KPIs overall
    /// and per queue, today and the last 30 minutes, and what is waiting.
    fn wallboard(&mut self, now: Timestamp) -> Wallboard {
        self.kpi.close(now);
        let end = now.plus(DurationMs(1));
        let day = crate::time::london_day_start(now);
        let recent = Timestamp(now.0 - 30 * 60 * 1000);
        let kpi = &self.kpi;
        let window = |d: &kpi::Dimension, from: Timestamp| {
            let mut c = kpi.sum_between(d, from, end, false);
            Window::of(&mut c)
        };
        let queues = self
            .live
            .queues
            .iter()
            .map(|q| {
                let dim = kpi::Dimension::Queue(q.id);
                let now_q = self.live.board.queue(q.id);
                let mut all =
                    kpi.sum_between(&dim, Timestamp(i64::MIN / 4), Timestamp(i64::MAX / 4), true);
                let whole_run = (all != kpi::Counts::default()).then(|| kpi::Row {
                    figures: all.figures(),
                    dimension: dim.clone(),
                    interval_start: None,
                    counts: all,
                });
                QueueBoard {
                    queue: q.id,
                    name: q.name.clone(),
                    priority: q.priority,
                    target: q.target,
                    today: window(&dim, day),
                    last_30_minutes: window(&dim, recent),
                    callbacks_pending: now_q.callbacks_pending as u32,
                    callbacks_at_risk: now_q.callbacks_at_risk as u32,
                    callbacks_booked: now_q.callbacks_booked as u32,
                    waiting: now_q.waiting,
                    longest_wait_seconds: now_q
                        .oldest_arrival
                        .map(|t| now.since(t).0.max(0) as f64 / 1000.0),
                    ready_agents: self
                        .engine
                        .queue_view(q.id)
                        .map_or(0, |v| v.ready_agents.iter().sum::<usize>()),
                    whole_run,
                }
            })
            .collect();
        Wallboard {
            at: now,
            overall: self.kpi.overall(),
            today: window(&kpi::Dimension::Overall, day),
            last_30_minutes: window(&kpi::Dimension::Overall, recent),
            queues,
            agents_by_state: self.live.by_state.clone(),
        }
    }

    /// The same figures recomputed from the engine's and the KPIs' whole
    /// state, by scanning: the reference the read model is tested against.
    /// Not for serving (it walks every waiting contact).
    pub fn recomputed_wallboard(&mut self, now: Timestamp) -> Wallboard {
        self.kpi.close(now);
        let report = self.kpi.report();
        let today = reports::rows(
            report.clone(),
            crate::time::london_day_start(now),
            now.plus(model::DurationMs(1)),
            true,
        );
        let recent = reports::rows(
            report.clone(),
            Timestamp(now.0 - 30 * 60 * 1000),
            now.plus(model::DurationMs(1)),
            false,
        );
        let window = |rows: &[kpi::Row], d: &kpi::Dimension| {
            let mut c = kpi::Counts::default();
            rows.iter()
                .filter(|r| &r.dimension == d)
                .for_each(|r| c.merge(&r.counts));
            Window::of(&mut c)
        };
        let engine = &self.engine;
        let mut by_state = BTreeMap::new();
        for a in engine.agent_ids() {
            if let Some(v) = engine.agent(a) {
                *by_state.entry(status_word(&v.status)).or_default() += 1;
            }
        }
        let queues = engine
            .config()
            .queues
            .iter()
            .map(|q| {
                let row = report.iter().find(|r| {
                    r.interval_start.is_none() && r.dimension == kpi::Dimension::Queue(q.id)
                });
                let view = engine.queue_view(q.id);
                let dim = kpi::Dimension::Queue(q.id);
                let (mut pending, mut at_risk) = (0, 0);
                for (arrived_at, deadline) in engine.waiting_callbacks(q.id) {
                    pending += 1;
                    if board::at_risk_from(arrived_at, deadline.and_then(board::parse_deadline))
                        <= now
                    {
                        at_risk += 1;
                    }
                }
                QueueBoard {
                    queue: q.id,
                    name: q.name.clone(),
                    priority: q.priority,
                    target: q.target,
                    today: window(&today, &dim),
                    last_30_minutes: window(&recent, &dim),
                    callbacks_pending: pending,
                    callbacks_at_risk: at_risk,
                    callbacks_booked: engine.booked_callbacks(q.id).len() as u32,
                    waiting: view.as_ref().map_or(0, |v| v.waiting),
                    longest_wait_seconds: view
                        .as_ref()
                        .and_then(|v| v.oldest_arrival)
                        .map(|t| now.since(t).0.max(0) as f64 / 1000.0),
                    ready_agents: view
                        .as_ref()
                        .map_or(0, |v| v.ready_agents.iter().sum::<usize>()),
                    whole_run: row.cloned(),
                }
            })
            .collect();
        Wallboard {
            at: now,
            overall: self.kpi.overall(),
            today: window(&today, &kpi::Dimension::Overall),
            last_30_minutes: window(&recent, &kpi::Dimension::Overall),
            queues,
            agents_by_state: by_state,
        }
    }
}

/// A window's headline figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Window {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub service_level: Option<f64>,
    pub abandonment_rate: Option<f64>,
    pub asa_seconds: Option<f64>,
    /// Answered contacts clinically assessed (NHS 111: at least 50%).
    pub clinical_assessed: Option<f64>,
    /// Clinical callbacks answered within their timeframe (90%).
    pub clinical_callbacks_in_timeframe: Option<f64>,
    /// Hand-overs to a clinician made warm (75%).
    pub clinical_warm_transfer: Option<f64>,
}

impl Window {
    fn of(c: &mut kpi::Counts) -> Window {
        let f = c.figures();
        Window {
            offered: c.offered,
            answered: c.answered,
            abandoned: c.abandoned,
            service_level: f.service_level,
            abandonment_rate: f.abandonment_rate,
            asa_seconds: f.asa_seconds,
            clinical_assessed: f.clinical_intervention_rate,
            clinical_callbacks_in_timeframe: f.clinical_callbacks_in_timeframe,
            clinical_warm_transfer: f.clinical_warm_transfer,
        }
    }
}

/// One queue on the wallboard.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueBoard {
    pub queue: model::QueueId,
    pub name: String,
    pub priority: model::Priority,
    pub target: routing::ServiceTarget,
    pub today: Window,
    pub last_30_minutes: Window,
    /// Callbacks waiting.
    pub callbacks_pending: u32,
    /// Of those, at risk of breaching their target.
    pub callbacks_at_risk: u32,
    /// Callbacks booked for later, not yet due.
    pub callbacks_booked: u32,
    pub waiting: usize,
    pub longest_wait_seconds: Option<f64>,
    pub ready_agents: usize,
    /// Since the server started.
    pub whole_run: Option<kpi::Row>,
}

/// The wallboard: overall since the start, today and the last 30 minutes,
/// each queue now.
#[derive(Clone, Debug, PartialEq)]
pub struct Wallboard {
    pub at: Timestamp,
    pub overall: kpi::Row,
    pub today: Window,
    pub last_30_minutes: Window,
    pub queues: Vec<QueueBoard>,
    /// Agents by their status in one word (`ready`, `busy`, `offline` ...).
    pub agents_by_state: BTreeMap<String, u32>,
}

/// Whether a waiting callback is at risk: a clinical callback by its own
/// deadline (from the disposition), any other by the 10-minute target.
pub fn callback_at_risk(c: &routing::ContactView, now: Timestamp) -> bool {
    let deadline = c
        .attributes
        .iter()
        .find(|(k, _)| k == "deadline")
        .and_then(|(_, v)| board::parse_deadline(v));
    board::at_risk_from(c.arrived_at, deadline) <= now
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time as reports_time;

    fn callback(
        arrived_ms_ago: i64,
        deadline_in_ms: Option<i64>,
        now: Timestamp,
    ) -> routing::ContactView {
        let at = Timestamp(now.0 - arrived_ms_ago);
        routing::ContactView {
            id: model::ContactId(1),
            queue: model::QueueId(7),
            channel: model::Channel::Callback,
            priority: 0,
            effective_priority: 0,
            arrived_at: at,
            entered_queue_at: at,
            step: 0,
            state: routing::ContactState::Waiting,
            routing: routing::ContactState::Waiting,
            transfer_pending: false,
            answered: false,
            attributes: deadline_in_ms
                .map(|d| {
                    vec![(
                        "deadline".to_string(),
                        reports_time::iso(Timestamp(now.0 + d)),
                    )]
                })
                .unwrap_or_default(),
        }
    }

    #[test]
    fn clinical_callbacks_are_at_risk_by_their_own_deadline() {
        let now = Timestamp(1_795_392_000_000);
        let min = 60_000;
        // A clinical callback booked long ago but due in an hour: fine.
        assert!(!callback_at_risk(
            &callback(200 * min, Some(60 * min), now),
            now
        ));
        // Due in ten minutes, or overdue: at risk, however recently booked.
        assert!(callback_at_risk(&callback(min, Some(10 * min), now), now));
        assert!(callback_at_risk(&callback(min, Some(-5 * min), now), now));
        // An ordinary callback: the 10-minute target (at risk from 8).
        assert!(!callback_at_risk(&callback(5 * min, None, now), now));
        assert!(callback_at_risk(&callback(9 * min, None, now), now));
    }
}
