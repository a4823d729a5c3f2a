//! One organisation's state beside its engine: the live KPIs, the live
//! stream, the wallboard's read model.

use crate::reports;
use model::{AgentId, Timestamp};
use routing::{Engine, Record};

use tokio::sync::broadcast;

/// One organisation's engine and what is kept beside it: the live KPIs
/// and the live stream's sender.
pub struct Tenant {
    pub engine: Engine,
    pub kpi: kpi::Kpi,
    pub hub: broadcast::Sender<Record>,
    /// Each agent's status as last seen, and since when (the wallboard's
    /// "time in state").
    pub agent_since: std::collections::HashMap<AgentId, (String, Timestamp)>,
    /// KPI intervals before this are kept in the store, not in `kpi`
    /// (see [`crate::KPI_IN_MEMORY`]).
    pub kpi_before: Option<Timestamp>,
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

impl Tenant {
    pub fn new(engine: Engine, kpi: kpi::Kpi) -> Tenant {
        Tenant {
            engine,
            kpi,
            hub: broadcast::channel(4096).0,
            agent_since: Default::default(),
            kpi_before: None,
        }
    }

    pub(crate) fn publish(&mut self, r: Record) {
        self.kpi.observe(&r);
        if let Some(a) = event_agent(&r.event) {
            if let Some(v) = self.engine.agent(a) {
                let word = status_word(&v.status);
                let e = self.agent_since.entry(a).or_insert((String::new(), r.at));
                if e.0 != word {
                    *e = (word, r.at);
                }
            }
        }
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

    /// The wallboard figures: whole-run KPIs overall and per queue, and
    /// what is waiting now.
    pub fn snapshot(&mut self, now: Timestamp) -> Wallboard {
        self.kpi.close(now);
        let report = self.kpi.report();
        // Today (the London day) and the last 30 minutes (the 15-minute
        // intervals that started in them), per queue and overall.
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
            let f = c.figures();
            Window {
                offered: c.offered,
                answered: c.answered,
                abandoned: c.abandoned,
                service_level: f.service_level,
                abandonment_rate: f.abandonment_rate,
                asa_seconds: f.asa_seconds,
            }
        };
        let engine = &self.engine;
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
                // Callbacks owed: waiting callbacks, and those past 80% of
                // the 10-minute callback target (at risk of breaching it).
                let (mut pending, mut at_risk) = (0, 0);
                for (arrived_at, deadline) in engine.waiting_callbacks(q.id) {
                    pending += 1;
                    if at_risk_by(arrived_at, deadline, now) {
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
        }
    }
}

/// A window's headline figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub service_level: Option<f64>,
    pub abandonment_rate: Option<f64>,
    pub asa_seconds: Option<f64>,
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
}

/// A callback waiting longer than this (80% of the 10-minute target) is
/// at risk of breaching it.
const CALLBACK_AT_RISK_MS: i64 = 8 * 60 * 1000;
/// A clinical callback this close to its own deadline (or past it) is at
/// risk.
const DEADLINE_AT_RISK_MS: i64 = 15 * 60 * 1000;

/// Whether a waiting callback is at risk: a clinical callback by its own
/// deadline (from the disposition), any other by the 10-minute target.
pub fn callback_at_risk(c: &routing::ContactView, now: Timestamp) -> bool {
    let deadline = c
        .attributes
        .iter()
        .find(|(k, _)| k == "deadline")
        .map(|(_, v)| v.as_str());
    at_risk_by(c.arrived_at, deadline, now)
}

/// The same from when the callback arrived and its deadline attribute.
fn at_risk_by(arrived_at: Timestamp, deadline: Option<&str>, now: Timestamp) -> bool {
    match deadline.and_then(|v| v.parse::<jiff::Timestamp>().ok()) {
        Some(d) => d.as_millisecond() - now.0 <= DEADLINE_AT_RISK_MS,
        None => now.since(arrived_at).0 >= CALLBACK_AT_RISK_MS,
    }
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
