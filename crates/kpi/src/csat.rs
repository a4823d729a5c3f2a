//! Customer satisfaction (CSAT) from the text surveys sent after contacts:
//! how many were sent, how many answered, the mean score (1-5) and the
//! share of replies that were satisfied (4 or 5), the figure NHS SBS sets a
//! target of 90% for. By queue, team, agent and channel. Definitions:
//! docs/kpis.md ("Satisfaction").

use std::collections::BTreeMap;

/// One survey, as the figures need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub queue: u32,
    pub team: Option<u32>,
    pub agent: Option<u32>,
    pub channel: String,
    /// The reply, 1-5 (None: none came).
    pub score: Option<u8>,
}

/// The figures of a set of surveys.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Csat {
    pub sent: u64,
    pub replies: u64,
    /// Mean score of the replies (0 when none).
    pub mean: f64,
    /// Replies of 4 or 5, as a share of the replies (None: no replies).
    pub satisfied: Option<f64>,
    /// Replies as a share of those sent.
    pub response_rate: Option<f64>,
    sum: u64,
    happy: u64,
}

impl Csat {
    fn add(&mut self, score: Option<u8>) {
        self.sent += 1;
        if let Some(s) = score.filter(|s| (1..=5).contains(s)) {
            self.replies += 1;
            self.sum += u64::from(s);
            if s >= 4 {
                self.happy += 1;
            }
        }
        self.mean = if self.replies > 0 {
            self.sum as f64 / self.replies as f64
        } else {
            0.0
        };
        self.satisfied = (self.replies > 0).then(|| self.happy as f64 / self.replies as f64);
        self.response_rate = Some(self.replies as f64 / self.sent as f64);
    }
}

/// CSAT overall and by queue, team, agent and channel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CsatReport {
    pub overall: Csat,
    pub by_queue: BTreeMap<u32, Csat>,
    pub by_team: BTreeMap<u32, Csat>,
    pub by_agent: BTreeMap<u32, Csat>,
    pub by_channel: BTreeMap<String, Csat>,
}

pub fn report(surveys: &[Sent]) -> CsatReport {
    let mut r = CsatReport::default();
    for s in surveys {
        r.overall.add(s.score);
        r.by_queue.entry(s.queue).or_default().add(s.score);
        if let Some(t) = s.team {
            r.by_team.entry(t).or_default().add(s.score);
        }
        if let Some(a) = s.agent {
            r.by_agent.entry(a).or_default().add(s.score);
        }
        r.by_channel
            .entry(s.channel.clone())
            .or_default()
            .add(s.score);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(queue: u32, agent: u32, channel: &str, score: Option<u8>) -> Sent {
        Sent {
            queue,
            team: Some(1),
            agent: Some(agent),
            channel: channel.into(),
            score,
        }
    }

    #[test]
    fn satisfied_is_the_share_of_replies_of_four_or_five_and_unanswered_surveys_count_only_as_sent()
    {
        let r = report(&[
            s(2, 1, "voice", Some(5)),
            s(2, 1, "voice", Some(4)),
            s(2, 8, "sms", Some(2)),
            s(4, 8, "sms", None),
            // Not a score: counted as sent, not as a reply.
            s(4, 8, "sms", Some(9)),
        ]);
        assert_eq!(r.overall.sent, 5);
        assert_eq!(r.overall.replies, 3);
        assert!((r.overall.mean - 11.0 / 3.0).abs() < 1e-9);
        assert_eq!(r.overall.satisfied, Some(2.0 / 3.0));
        assert_eq!(r.overall.response_rate, Some(0.6));
        assert_eq!(r.by_agent[&1].satisfied, Some(1.0));
        assert_eq!(r.by_agent[&8].satisfied, Some(0.0));
        assert_eq!(r.by_queue[&4].satisfied, None);
        assert_eq!(r.by_channel["voice"].replies, 2);
        assert_eq!(r.by_team[&1].sent, 5);
        assert_eq!(report(&[]).overall, Csat::default());
    }
}
