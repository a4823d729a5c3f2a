//! Figures for web chats, from each conversation's timeline (when it
//! started, when an agent joined, who wrote when, when it ended): the
//! routing engine sees a chat as one contact, but how quickly the patient
//! hears from a person, and how many chats an agent carries at once, are
//! in the messages. Definitions: docs/kpis.md ("Web chat").

use model::{AgentId, Timestamp};
use std::collections::BTreeMap;

/// Who wrote a message, as far as the figures care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Patient,
    Agent(AgentId),
    System,
}

/// One conversation, as the figures need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    pub started: Timestamp,
    /// When an agent first joined (None: nobody did).
    pub answered: Option<(Timestamp, AgentId)>,
    /// None while it goes on.
    pub ended: Option<Timestamp>,
    /// How it ended (`abandoned_in_queue`, `abandoned_in_flow`,
    /// `ended_by_agent` …).
    pub outcome: Option<String>,
    /// Messages in order: when, and from whom.
    pub messages: Vec<(Timestamp, Side)>,
    /// Agents who took part, with when they joined (after a transfer,
    /// more than one).
    pub joins: Vec<(Timestamp, AgentId)>,
}

/// A mean and how many it is of.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mean {
    pub count: u64,
    pub seconds: f64,
}

impl Mean {
    pub(crate) fn add(&mut self, ms: i64) {
        let s = ms.max(0) as f64 / 1000.0;
        self.seconds += (s - self.seconds) / (self.count + 1) as f64;
        self.count += 1;
    }
}

/// The figures of a set of conversations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatFigures {
    /// Conversations started.
    pub started: u64,
    /// That reached a queue (not ended in the flow, not refused).
    pub queued: u64,
    /// Taken by an agent.
    pub answered: u64,
    /// Left by the patient (or timed out) before an agent joined, of those
    /// that reached a queue.
    pub abandoned: u64,
    /// Abandoned ÷ queued, %.
    pub abandonment_pct: Option<f64>,
    /// From the patient's first message to the first words of an agent.
    pub first_response: Mean,
    /// From a patient's message (the first of those since the agent last
    /// wrote) to the agent's next words, while an agent has the chat.
    pub response: Mean,
    /// From an agent joining to the end.
    pub handle: Mean,
    /// Conversations each agent had at once, averaged over the time they
    /// had at least one, and the most at any time, per agent.
    pub concurrency: BTreeMap<AgentId, Concurrency>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Concurrency {
    /// Time-weighted mean number of chats while at least one was open.
    pub mean: f64,
    pub max: u32,
    /// Seconds with at least one chat.
    pub busy_seconds: f64,
}

/// The figures of `timelines`; a conversation still going on counts up to
/// `now`.
pub fn figures(timelines: &[Timeline], now: Timestamp) -> ChatFigures {
    let mut f = ChatFigures::default();
    // Per agent: (time, +1 / -1) edges of the chats they held.
    let mut edges: BTreeMap<AgentId, Vec<(i64, i32)>> = BTreeMap::new();
    for t in timelines {
        f.started += 1;
        let outcome = t.outcome.as_deref().unwrap_or("");
        let reached_queue = t.answered.is_some()
            || matches!(outcome, "abandoned_in_queue")
            || (t.ended.is_none() && !t.joins.is_empty());
        if reached_queue || outcome == "abandoned_in_queue" {
            f.queued += 1;
        }
        if outcome == "abandoned_in_queue" && t.answered.is_none() {
            f.abandoned += 1;
        }
        let end = t.ended.unwrap_or(now).0;
        if let Some((at, _)) = t.answered {
            f.answered += 1;
            f.handle.add(end - at.0);
            let first_patient = t
                .messages
                .iter()
                .find(|(_, s)| *s == Side::Patient)
                .map_or(t.started, |(a, _)| *a);
            if let Some((first_agent, _)) =
                t.messages.iter().find(|(_, s)| matches!(s, Side::Agent(_)))
            {
                f.first_response.add(first_agent.0 - first_patient.0);
            }
            // Response times: a patient's words waiting for an agent's.
            let mut waiting: Option<Timestamp> = None;
            for (when, side) in &t.messages {
                if *when < at {
                    continue;
                }
                match side {
                    Side::Patient => {
                        waiting.get_or_insert(*when);
                    }
                    Side::Agent(_) => {
                        if let Some(w) = waiting.take() {
                            f.response.add(when.0 - w.0);
                        }
                    }
                    Side::System => {}
                }
            }
        }
        // Each agent holds the chat from their join to the next join (a
        // transfer) or the end.
        for (i, (from, agent)) in t.joins.iter().enumerate() {
            let to = t.joins.get(i + 1).map_or(end, |(n, _)| n.0);
            if to > from.0 {
                let e = edges.entry(*agent).or_default();
                e.push((from.0, 1));
                e.push((to, -1));
            }
        }
    }
    if f.queued > 0 {
        f.abandonment_pct = Some(100.0 * f.abandoned as f64 / f.queued as f64);
    }
    for (agent, mut e) in edges {
        // Ends before starts at the same instant.
        e.sort();
        let (mut level, mut last, mut area, mut busy, mut max) = (0i32, 0i64, 0f64, 0f64, 0u32);
        for (t, d) in e {
            if level > 0 {
                let dt = (t - last) as f64 / 1000.0;
                area += level as f64 * dt;
                busy += dt;
            }
            level += d;
            max = max.max(level.max(0) as u32);
            last = t;
        }
        f.concurrency.insert(
            agent,
            Concurrency {
                mean: if busy > 0.0 { area / busy } else { 0.0 },
                max,
                busy_seconds: busy,
            },
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp(s * 1000)
    }

    #[test]
    fn response_times_concurrency_and_abandonment_from_three_chats() {
        let a = AgentId(1);
        let b = AgentId(2);
        let chats = vec![
            // Answered at 60 by a; the patient wrote at 0, 70 and 75; a at
            // 90 and 130; the patient again at 100; ended at 200.
            Timeline {
                started: t(0),
                answered: Some((t(60), a)),
                ended: Some(t(200)),
                outcome: Some("ended_by_agent".into()),
                messages: vec![
                    (t(0), Side::Patient),
                    (t(1), Side::System),
                    (t(60), Side::System),
                    (t(70), Side::Patient),
                    (t(75), Side::Patient),
                    (t(90), Side::Agent(a)),
                    (t(100), Side::Patient),
                    (t(130), Side::Agent(a)),
                ],
                joins: vec![(t(60), a)],
            },
            // Answered at 100 by a, transferred to b at 150, ended at 250.
            Timeline {
                started: t(50),
                answered: Some((t(100), a)),
                ended: Some(t(250)),
                outcome: Some("ended_by_patient".into()),
                messages: vec![(t(50), Side::Patient), (t(110), Side::Agent(a))],
                joins: vec![(t(100), a), (t(150), b)],
            },
            // Left the queue.
            Timeline {
                started: t(10),
                answered: None,
                ended: Some(t(40)),
                outcome: Some("abandoned_in_queue".into()),
                messages: vec![(t(10), Side::Patient)],
                joins: vec![],
            },
            // Ended in the flow: not queued.
            Timeline {
                started: t(10),
                answered: None,
                ended: Some(t(12)),
                outcome: Some("completed".into()),
                messages: vec![(t(10), Side::Patient)],
                joins: vec![],
            },
        ];
        let f = figures(&chats, t(1000));
        assert_eq!((f.started, f.queued, f.answered, f.abandoned), (4, 3, 2, 1));
        assert!((f.abandonment_pct.unwrap() - 100.0 / 3.0).abs() < 1e-9);
        // First responses: 90 - 0 and 110 - 50.
        assert_eq!(f.first_response.count, 2);
        assert!((f.first_response.seconds - 75.0).abs() < 1e-9);
        // Responses: 70→90 (20), 100→130 (30); the second chat's patient
        // wrote only before the agent joined (its first response).
        assert_eq!(f.response.count, 2);
        assert!((f.response.seconds - 25.0).abs() < 1e-9);
        // Handle: 140 and 150.
        assert!((f.handle.seconds - 145.0).abs() < 1e-9);
        // a: one chat 60–100, two 100–150, one 150–200: mean 190/140.
        let ca = f.concurrency[&a];
        assert_eq!(ca.max, 2);
        assert!((ca.busy_seconds - 140.0).abs() < 1e-9);
        assert!((ca.mean - 190.0 / 140.0).abs() < 1e-9, "{ca:?}");
        let cb = f.concurrency[&b];
        assert_eq!((cb.max, cb.busy_seconds), (1, 100.0));
    }
}
