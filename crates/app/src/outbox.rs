//! The referral outbox's retry policy, pure: when a failed delivery is
//! tried again. The server's worker only carries it out.

/// The first retry's wait.
pub const FIRST_RETRY_MS: i64 = 2_000;
/// The longest wait between attempts (a receiver down for a day is tried
/// every 5 minutes, and its referrals are delivered within 5 minutes of
/// its return).
pub const MAX_RETRY_MS: i64 = 300_000;

/// How long to wait after a failed attempt that had `earlier` attempts
/// before it: 2, 4, 8 … seconds, doubling, at most 5 minutes.
pub fn retry_after_ms(earlier: u32) -> i64 {
    (FIRST_RETRY_MS << earlier.min(16)).min(MAX_RETRY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_two_seconds_to_five_minutes_and_stay_there() {
        let waits: Vec<i64> = (0..12).map(|n| retry_after_ms(n) / 1000).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300]);
        assert_eq!(retry_after_ms(u32::MAX), MAX_RETRY_MS);
    }
}
