//! What waits now, per queue, kept by the routing engine's events: the
//! contacts waiting and the longest wait, the callbacks owed and those at
//! risk of breaching their target. At-risk callbacks are found through a
//! time-ordered index of when each becomes at risk, so the passage of time
//! alone moves them, and nothing is ever scanned: an event costs
//! O(log n), a queue's figures O(1). Exact at any size: there is no cap.
//!
//! Pure and clock-injected, like the engine: events and times in, figures
//! out. The engine supplies, through a look-up, the facts the events do not
//! carry (a contact's place in line, its channel and its clinical
//! deadline). [`Board::rebuild`] makes the same board from an engine's
//! state (after a restart); the property test in `tests/board.rs` checks
//! the two against each other and against the engine's own counts after
//! random inputs.

use model::{Channel, ContactId, QueueId, Timestamp};
use routing::{Engine, Event, Record};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

/// A callback waiting longer than this (80% of the 10-minute target) is
/// at risk of breaching it.
pub const CALLBACK_AT_RISK_MS: i64 = 8 * 60 * 1000;
/// A clinical callback this close to its own deadline (or past it) is at
/// risk.
pub const DEADLINE_AT_RISK_MS: i64 = 15 * 60 * 1000;

/// When a waiting callback becomes at risk: a clinical callback by its own
/// deadline (from the disposition), any other by the 10-minute target from
/// when it joined the line (for a booked callback, when it fell due).
pub fn at_risk_from(arrived_at: Timestamp, deadline: Option<Timestamp>) -> Timestamp {
    match deadline {
        Some(d) => Timestamp(d.0.saturating_sub(DEADLINE_AT_RISK_MS)),
        None => Timestamp(arrived_at.0.saturating_add(CALLBACK_AT_RISK_MS)),
    }
}

/// A `deadline` attribute (RFC 3339) as a time; None if it is not one.
pub fn parse_deadline(v: &str) -> Option<Timestamp> {
    v.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| Timestamp(t.as_millisecond()))
}

/// What the board needs of a contact joining a line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Facts {
    /// Its place: when it arrived (a booked callback: when it fell due).
    pub arrived_at: Timestamp,
    pub channel: Channel,
    /// A clinical callback's deadline.
    pub deadline: Option<Timestamp>,
}

impl Facts {
    /// The engine's facts about a contact.
    pub fn of(e: &Engine, id: ContactId) -> Option<Facts> {
        e.contact_facts(id).map(|(arrived_at, channel, d)| Facts {
            arrived_at,
            channel,
            deadline: d.and_then(parse_deadline),
        })
    }
}

/// A contact in a line.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    queue: QueueId,
    facts: Facts,
    /// A callback: when it becomes at risk.
    risk_from: Option<Timestamp>,
    /// A callback already at risk.
    risky: bool,
}

#[derive(Clone, Debug, Default)]
struct Line {
    /// (place, contact): the first is the longest waiting.
    places: BTreeSet<(Timestamp, ContactId)>,
    callbacks: usize,
    at_risk: usize,
}

/// One queue now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueNow {
    pub waiting: usize,
    /// The place of the longest waiting contact.
    pub oldest_arrival: Option<Timestamp>,
    pub callbacks_pending: usize,
    pub callbacks_at_risk: usize,
    /// Callbacks booked for later, not yet due (not in the line).
    pub callbacks_booked: usize,
}

/// The board: what waits in every queue.
#[derive(Clone, Debug, Default)]
pub struct Board {
    waiting: FxHashMap<ContactId, Waiting>,
    lines: FxHashMap<QueueId, Line>,
    /// Callbacks not yet at risk, by when they will be.
    safe: BTreeSet<(Timestamp, ContactId)>,
    /// Callbacks booked for later and not yet due, with their queue.
    booked: FxHashMap<ContactId, QueueId>,
    booked_in: FxHashMap<QueueId, usize>,
    now: Timestamp,
}

impl Board {
    /// The board of an engine's state as it stands: every contact in a
    /// queue's line, with its facts. `now` is the time of that state.
    pub fn rebuild(e: &Engine, now: Timestamp) -> Board {
        let mut b = Board {
            now,
            ..Board::default()
        };
        for q in e.config().queues {
            for id in e.waiting_in_order(q.id) {
                if let Some(f) = Facts::of(e, id) {
                    b.join(id, q.id, f);
                }
            }
            for id in e.booked_callbacks(q.id) {
                b.book(id, q.id);
            }
        }
        b
    }

    /// Applies one record. `facts` is asked, only for a contact joining a
    /// line or becoming a callback, what the event does not say.
    pub fn observe(&mut self, r: &Record, facts: impl Fn(ContactId) -> Option<Facts>) {
        self.advance(r.at);
        match &r.event {
            Event::Queued {
                contact,
                queue,
                for_agent: None,
                ..
            } => {
                self.leave(*contact);
                self.unbook(*contact);
                let f = facts(*contact).unwrap_or(Facts {
                    arrived_at: r.at,
                    channel: Channel::Voice,
                    deadline: None,
                });
                self.join(*contact, *queue, f);
            }
            // Waiting for one named agent: not in the queue's line.
            Event::Queued { contact, .. }
            | Event::Offered { contact, .. }
            | Event::Answered { contact, .. } => {
                self.leave(*contact);
            }
            Event::Moved { contact, to, .. } => {
                if let Some(w) = self.leave(*contact) {
                    self.join(*contact, *to, w.facts);
                }
                if self.booked.contains_key(contact) {
                    self.unbook(*contact);
                    self.book(*contact, *to);
                }
            }
            Event::CallbackScheduled {
                contact,
                queue,
                due_at,
                ..
            } if *due_at > r.at => self.book(*contact, *queue),
            Event::CallbackRequested { contact, .. } => {
                if let Some(w) = self.leave(*contact) {
                    let f = facts(*contact).unwrap_or(Facts {
                        channel: Channel::Callback,
                        ..w.facts
                    });
                    self.join(*contact, w.queue, f);
                }
            }
            e => {
                if let Some((contact, _)) = e.terminal() {
                    self.leave(contact);
                    self.unbook(contact);
                }
            }
        }
    }

    fn book(&mut self, id: ContactId, q: QueueId) {
        if self.booked.insert(id, q).is_none() {
            *self.booked_in.entry(q).or_default() += 1;
        }
    }

    fn unbook(&mut self, id: ContactId) {
        if let Some(q) = self.booked.remove(&id) {
            if let Some(n) = self.booked_in.get_mut(&q) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Moves time on: callbacks whose at-risk time has come are at risk.
    pub fn advance(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        while let Some(&(t, id)) = self.safe.first() {
            if t > self.now {
                break;
            }
            self.safe.pop_first();
            if let Some(w) = self.waiting.get_mut(&id) {
                w.risky = true;
                if let Some(l) = self.lines.get_mut(&w.queue) {
                    l.at_risk += 1;
                }
            }
        }
    }

    /// When the next waiting callback becomes at risk.
    pub fn next_change(&self) -> Option<Timestamp> {
        self.safe.first().map(|x| x.0)
    }

    /// A queue's figures at the board's time.
    pub fn queue(&self, q: QueueId) -> QueueNow {
        let booked = self.booked_in.get(&q).copied().unwrap_or(0);
        let Some(l) = self.lines.get(&q) else {
            return QueueNow {
                callbacks_booked: booked,
                ..QueueNow::default()
            };
        };
        QueueNow {
            waiting: l.places.len(),
            oldest_arrival: l.places.first().map(|x| x.0),
            callbacks_pending: l.callbacks,
            callbacks_at_risk: l.at_risk,
            callbacks_booked: booked,
        }
    }

    /// Contacts waiting in every queue.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    fn join(&mut self, id: ContactId, queue: QueueId, facts: Facts) {
        let line = self.lines.entry(queue).or_default();
        line.places.insert((facts.arrived_at, id));
        let mut w = Waiting {
            queue,
            facts,
            risk_from: None,
            risky: false,
        };
        if facts.channel == Channel::Callback {
            let t = at_risk_from(facts.arrived_at, facts.deadline);
            line.callbacks += 1;
            w.risk_from = Some(t);
            if t <= self.now {
                w.risky = true;
                line.at_risk += 1;
            } else {
                self.safe.insert((t, id));
            }
        }
        self.waiting.insert(id, w);
    }

    fn leave(&mut self, id: ContactId) -> Option<Waiting> {
        let w = self.waiting.remove(&id)?;
        if let Some(line) = self.lines.get_mut(&w.queue) {
            line.places.remove(&(w.facts.arrived_at, id));
            if let Some(t) = w.risk_from {
                line.callbacks -= 1;
                if w.risky {
                    line.at_risk -= 1;
                } else {
                    self.safe.remove(&(t, id));
                }
            }
            if line.places.is_empty() {
                self.lines.remove(&w.queue);
            }
        }
        Some(w)
    }
}
