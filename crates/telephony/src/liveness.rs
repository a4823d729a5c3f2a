//! Is the far end of a media leg still there? RTP has no keep-alive of
//! its own, but a live phone sends a packet every 20 ms (or comfort
//! noise), so a leg that has gone quiet for long is a phone that went away
//! without a BYE (a dropped network, a crashed app). And an address that
//! never sends anything back may not be a phone at all: an INVITE is not
//! authenticated, so its SDP could point our 50 packets a second at a
//! third party. Pure: the caller gives the times (ms on any clock).

/// How long each state may last without a packet from the far end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Silence, once the far end has been heard, before the leg is dead.
    pub silence_ms: i64,
    /// The same while the far end holds the call (an `inactive` hold
    /// sends no RTP at all, so it is given longer).
    pub held_ms: i64,
    /// How long we send to an address that has never sent us anything;
    /// after that we stop (and the leg dies at `silence_ms` unless a
    /// packet comes).
    pub unproven_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            silence_ms: 30_000,
            held_ms: 600_000,
            unproven_ms: 5_000,
        }
    }
}

/// One leg's far end, as far as its packets tell.
#[derive(Clone, Debug)]
pub struct Liveness {
    limits: Limits,
    /// When the leg started, or was last held or resumed.
    since: i64,
    heard: Option<i64>,
    held: bool,
}

impl Liveness {
    pub fn new(now: i64, limits: Limits) -> Liveness {
        Liveness {
            limits,
            since: now,
            heard: None,
            held: false,
        }
    }

    /// A valid packet came from the far end.
    pub fn heard(&mut self, now: i64) {
        self.heard = Some(self.heard.map_or(now, |h| h.max(now)));
    }

    /// The far end held (true) or resumed (false) the call: the silence
    /// allowed changes, counted from now.
    pub fn held(&mut self, on: bool, now: i64) {
        if on != self.held {
            self.held = on;
            self.since = self.since.max(now);
        }
    }

    /// Whether we may send to the far end: it has answered at least once,
    /// or the leg is young.
    pub fn may_send(&self, now: i64) -> bool {
        self.heard.is_some() || now - self.since < self.limits.unproven_ms
    }

    /// Whether the far end is gone: nothing heard for longer than allowed.
    pub fn gone(&self, now: i64) -> bool {
        let last = self.heard.unwrap_or(self.since).max(self.since);
        let allowed = if self.held {
            self.limits.held_ms
        } else {
            self.limits.silence_ms
        };
        now - last > allowed
    }
}

#[cfg(test)]
mod tests {
    use super::{Limits, Liveness};

    const L: Limits = Limits {
        silence_ms: 30_000,
        held_ms: 600_000,
        unproven_ms: 5_000,
    };

    #[test]
    fn a_leg_that_never_answers_is_sent_to_briefly_then_dies() {
        let l = Liveness::new(1_000, L);
        assert!(l.may_send(1_000));
        assert!(l.may_send(5_999));
        assert!(!l.may_send(6_000));
        assert!(!l.gone(31_000));
        assert!(l.gone(31_001));
    }

    #[test]
    fn a_leg_heard_from_lives_until_it_is_quiet_for_the_limit() {
        let mut l = Liveness::new(0, L);
        l.heard(100);
        assert!(l.may_send(1_000_000), "once heard, always sent to");
        l.heard(50_000);
        l.heard(40_000); // late delivery does not move it back
        assert!(!l.gone(80_000));
        assert!(l.gone(80_001));
        l.heard(80_001);
        assert!(!l.gone(80_002));
    }

    #[test]
    fn a_held_leg_may_be_silent_for_longer_counted_from_the_hold() {
        let mut l = Liveness::new(0, L);
        l.heard(10_000);
        l.held(true, 20_000);
        assert!(!l.gone(50_000));
        assert!(!l.gone(620_000));
        assert!(l.gone(620_001));
        // Resumed: the ordinary limit again, counted from the resume.
        l.held(false, 100_000);
        assert!(!l.gone(130_000));
        assert!(l.gone(130_001));
        // Holding again at the same state changes nothing.
        l.held(false, 125_000);
        assert!(l.gone(130_001));
    }
}
