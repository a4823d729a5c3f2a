//! Figures for email threads and text exchanges, from each thread's
//! messages: how quickly the patient hears from a person (the first
//! response), whether each wait is answered within one working day (NHS
//! SBS's "95%+ digital channel response within one working day"), how
//! many messages a conversation takes, and how many of ours failed to
//! arrive. Working days are the caller's to say (Europe/London, bank
//! holidays): `deadline(t)` is when a wait that began at `t` is due.
//! Definitions: docs/kpis.md ("Email and text messages").

use crate::chat::{Mean, Side};
use model::Timestamp;

/// One thread, as the figures need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    pub started: Timestamp,
    /// Its messages in order (the service's own, such as the
    /// acknowledgement, are `System` and are not a response).
    pub messages: Vec<(Timestamp, Side)>,
}

/// The figures of a set of threads of one medium.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WrittenFigures {
    pub threads: u64,
    pub patient_messages: u64,
    pub agent_messages: u64,
    /// Patient and agent messages per thread.
    pub messages_per_thread: f64,
    /// From the first patient message to the first agent message after it.
    pub first_response: Mean,
    /// Median of the same, seconds (None: none answered).
    pub first_response_median_s: Option<f64>,
    /// Threads whose patient has had no agent message yet.
    pub unanswered: u64,
    /// Waits (a patient message after the last agent message, or the
    /// first) whose deadline has passed or that were answered.
    pub waits_due: u64,
    /// Of those, answered by an agent before the deadline.
    pub waits_answered_in_time: u64,
    /// `waits_answered_in_time / waits_due` (None: none due).
    pub within_one_working_day: Option<f64>,
}

pub fn figures(
    threads: &[Thread],
    now: Timestamp,
    deadline: impl Fn(Timestamp) -> Timestamp,
) -> WrittenFigures {
    let mut f = WrittenFigures::default();
    let mut firsts: Vec<f64> = Vec::new();
    for t in threads {
        f.threads += 1;
        let mut first_patient = None;
        let mut first_answer = None;
        // The wait in progress: when it began.
        let mut waiting: Option<Timestamp> = None;
        for &(at, side) in &t.messages {
            match side {
                Side::Patient => {
                    f.patient_messages += 1;
                    first_patient.get_or_insert(at);
                    waiting.get_or_insert(at);
                }
                Side::Agent(_) => {
                    f.agent_messages += 1;
                    if first_patient.is_some() && first_answer.is_none() {
                        first_answer = Some(at);
                    }
                    if let Some(w) = waiting.take() {
                        f.waits_due += 1;
                        if at <= deadline(w) {
                            f.waits_answered_in_time += 1;
                        }
                    }
                }
                Side::System => {}
            }
        }
        if let Some(w) = waiting {
            // Still waiting: missed once its deadline has passed.
            if now > deadline(w) {
                f.waits_due += 1;
            }
        }
        match (first_patient, first_answer) {
            (Some(p), Some(a)) => {
                f.first_response.add(a.0 - p.0);
                firsts.push((a.0 - p.0).max(0) as f64 / 1000.0);
            }
            (Some(_), None) => f.unanswered += 1,
            _ => {}
        }
    }
    if f.threads > 0 {
        f.messages_per_thread = (f.patient_messages + f.agent_messages) as f64 / f.threads as f64;
    }
    firsts.sort_by(f64::total_cmp);
    f.first_response_median_s = match firsts.len() {
        0 => None,
        n if n % 2 == 1 => Some(firsts[n / 2]),
        n => Some((firsts[n / 2 - 1] + firsts[n / 2]) / 2.0),
    };
    f.within_one_working_day =
        (f.waits_due > 0).then(|| f.waits_answered_in_time as f64 / f.waits_due as f64);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::AgentId;

    const H: i64 = 3_600_000;

    #[test]
    fn waits_are_answered_in_time_or_not_and_open_ones_count_once_due() {
        // Deadline: a day after (the caller says what a working day is).
        let deadline = |t: Timestamp| Timestamp(t.0 + 24 * H);
        let a = Side::Agent(AgentId(1));
        let threads = vec![
            // Acknowledged (system), answered in 2 hours; a second wait
            // answered in 30 hours (late).
            Thread {
                started: Timestamp(0),
                messages: vec![
                    (Timestamp(0), Side::Patient),
                    (Timestamp(1), Side::System),
                    (Timestamp(2 * H), a),
                    (Timestamp(3 * H), Side::Patient),
                    (Timestamp(4 * H), Side::Patient),
                    (Timestamp(33 * H), a),
                ],
            },
            // Never answered, due long ago: a missed wait.
            Thread {
                started: Timestamp(0),
                messages: vec![(Timestamp(0), Side::Patient)],
            },
            // Waiting, not yet due: not counted.
            Thread {
                started: Timestamp(99 * H),
                messages: vec![(Timestamp(99 * H), Side::Patient)],
            },
        ];
        let f = figures(&threads, Timestamp(100 * H), deadline);
        assert_eq!(f.threads, 3);
        assert_eq!((f.patient_messages, f.agent_messages), (5, 2));
        assert!((f.messages_per_thread - 7.0 / 3.0).abs() < 1e-9);
        assert_eq!(f.first_response.count, 1);
        assert_eq!(f.first_response_median_s, Some(7200.0));
        assert_eq!(f.unanswered, 2);
        assert_eq!((f.waits_due, f.waits_answered_in_time), (3, 1));
        assert_eq!(f.within_one_working_day, Some(1.0 / 3.0));
        assert_eq!(
            figures(&[], Timestamp(0), deadline).within_one_working_day,
            None
        );
    }
}
