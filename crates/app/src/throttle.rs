//! The log-in throttle: slows password guessing without letting a
//! stranger lock the real user out (OWASP's Authentication Cheat Sheet and
//! "Slow Down Online Guessing Attacks with Device Cookies").
//!
//! Three counts, each over a sliding window:
//! - **per account, strangers only**: failures from clients the account has
//!   not logged in from before earn an exponential back-off (2 s, 4 s, 8 s
//!   … up to 15 min) that applies to strangers only. A client that proves
//!   an earlier log-in to this account (a signed device cookie; for a SIP
//!   phone, the address it registered from) is not held back by what
//!   strangers did;
//! - **per device**: a device that keeps failing loses that trust;
//! - **per address**: only the address actually failing is slowed (behind
//!   a proxy, the client's own address as the trusted proxy reports it).
//!
//! Failures and refusals are tallied per (account, address) for the audit
//! trail, which gets one summary row per pair per period
//! ([`LoginLimiter::take_summary`]) rather than one row per attempt, so a
//! flood of guesses cannot grow the audit log without bound.
//!
//! Pure: the time is an argument; no I/O.

use model::Timestamp;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// Failures an account takes from strangers before they must wait.
pub const FREE_TRIES_PER_ACCOUNT: usize = 5;
/// The first wait; it doubles with every further failure.
pub const FIRST_BACKOFF_MS: i64 = 2000;
/// The longest wait.
pub const MAX_BACKOFF_MS: i64 = 15 * 60 * 1000;
/// Failures one address may make, across accounts, in the window.
pub const MAX_FAILURES_PER_ADDRESS: usize = 20;
/// Failures a known device may make before it counts as a stranger.
pub const MAX_FAILURES_PER_DEVICE: usize = 5;
/// How long a failure counts.
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Keys remembered at most per count (the stale ones go first).
const MAX_KEYS: usize = 100_000;
/// (account, address) pairs tallied for one audit summary; beyond this,
/// attempts are counted together as "others".
pub const MAX_TALLIED: usize = 1000;

/// One log-in attempt as the throttle sees it.
#[derive(Clone, Copy, Debug)]
pub struct Attempt<'a> {
    /// The account name as typed.
    pub account: &'a str,
    /// The client's address.
    pub addr: &'a str,
    /// A client this account has logged in from before, as proven by the
    /// caller: the id of a device cookie whose signature checked out for
    /// this account, or (SIP) the address a phone registered from. `None`:
    /// a stranger.
    pub device: Option<&'a str>,
}

/// What happened to the attempts of one (account, address) pair.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// The account as typed, made printable ([`printable_account`]).
    pub account: String,
    pub addr: String,
    /// Wrong password or unknown account.
    pub bad_credentials: u64,
    /// Refused before the password was checked.
    pub rate_limited: u64,
    pub first: Timestamp,
    pub last: Timestamp,
}

impl Tally {
    /// The audit record's outcome: `refused: 3 bad credentials, 12 rate
    /// limited`.
    pub fn outcome(&self) -> String {
        let mut parts = Vec::new();
        if self.bad_credentials > 0 {
            parts.push(format!("{} bad credentials", self.bad_credentials));
        }
        if self.rate_limited > 0 {
            parts.push(format!("{} rate limited", self.rate_limited));
        }
        format!("refused: {}", parts.join(", "))
    }
}

#[derive(Default)]
struct Strikes(VecDeque<i64>);

impl Strikes {
    fn recent(&mut self, now: Timestamp) -> usize {
        while self
            .0
            .front()
            .is_some_and(|&t| now.0 - t >= FAILURE_WINDOW_MS)
        {
            self.0.pop_front();
        }
        self.0.len()
    }
}

fn strike(map: &mut HashMap<String, Strikes>, key: &str, now: Timestamp) {
    if map.len() >= MAX_KEYS && !map.contains_key(key) {
        map.retain(|_, s| s.0.back().is_some_and(|&t| now.0 - t < FAILURE_WINDOW_MS));
        if map.len() >= MAX_KEYS {
            // Still full of live keys: forget them all rather than grow.
            map.clear();
        }
    }
    let s = map.entry(key.to_string()).or_default();
    s.0.push_back(now.0);
    // Only the newest failures matter to any rule.
    if s.0.len() > 64 {
        s.0.pop_front();
    }
}

fn recent(map: &mut HashMap<String, Strikes>, key: &str, now: Timestamp) -> usize {
    map.get_mut(key).map_or(0, |s| s.recent(now))
}

/// The throttle's state; see the module's notes.
#[derive(Default)]
pub struct LoginLimiter {
    /// Failures per account, from strangers.
    accounts: HashMap<String, Strikes>,
    /// Failures per address.
    addresses: HashMap<String, Strikes>,
    /// Failures per known device.
    devices: HashMap<String, Strikes>,
    /// (account, address) pairs that logged in (for clients with no
    /// cookie: SIP phones).
    sources: HashSet<(String, String)>,
    tally: BTreeMap<(String, String), Tally>,
    others: Tally,
}

impl LoginLimiter {
    /// Whether the attempt's device still counts as known (it has not
    /// failed too often itself).
    fn trusted(&mut self, a: &Attempt, now: Timestamp) -> bool {
        match a.device {
            Some(d) => recent(&mut self.devices, d, now) < MAX_FAILURES_PER_DEVICE,
            None => false,
        }
    }

    /// How long (ms) the attempt must wait, if it may not go ahead now. A
    /// refusal is tallied for the audit summary.
    pub fn check(&mut self, a: &Attempt, now: Timestamp) -> Option<i64> {
        let wait = self.wait(a, now);
        if wait.is_some() {
            self.tally(a, now).rate_limited += 1;
        }
        wait
    }

    fn wait(&mut self, a: &Attempt, now: Timestamp) -> Option<i64> {
        if self.trusted(a, now) {
            return None;
        }
        let mut wait: Option<i64> = None;
        let mut later = |ms: i64| wait = Some(wait.map_or(ms, |w| w.max(ms)));
        let n = recent(&mut self.accounts, a.account, now);
        if n >= FREE_TRIES_PER_ACCOUNT {
            let doublings = (n - FREE_TRIES_PER_ACCOUNT).min(20) as u32;
            let backoff = (FIRST_BACKOFF_MS << doublings).min(MAX_BACKOFF_MS);
            let last = self.accounts[a.account].0.back().copied().unwrap_or(now.0);
            if now.0 < last + backoff {
                later(last + backoff - now.0);
            }
        }
        let n = recent(&mut self.addresses, a.addr, now);
        if n >= MAX_FAILURES_PER_ADDRESS {
            // Free again when enough of the address's failures age out.
            let q = &self.addresses[a.addr].0;
            let freeing = q[q.len() - MAX_FAILURES_PER_ADDRESS];
            later((freeing + FAILURE_WINDOW_MS - now.0).max(1));
        }
        wait
    }

    /// The password did not match (or the account does not exist).
    pub fn failed(&mut self, a: &Attempt, now: Timestamp) {
        let trusted = self.trusted(a, now);
        if let Some(d) = a.device {
            strike(&mut self.devices, d, now);
        }
        if !trusted {
            strike(&mut self.accounts, a.account, now);
        }
        strike(&mut self.addresses, a.addr, now);
        self.tally(a, now).bad_credentials += 1;
    }

    /// The attempt logged in. The device's own failures are forgiven and
    /// the address is remembered as known to the account; what strangers
    /// did to the account still counts against strangers.
    pub fn succeeded(&mut self, a: &Attempt) {
        if let Some(d) = a.device {
            self.devices.remove(d);
        }
        if self.sources.len() >= MAX_KEYS {
            self.sources.clear();
        }
        self.sources
            .insert((a.account.to_string(), a.addr.to_string()));
    }

    /// Whether this account logged in from this address before (for
    /// clients with no device cookie: SIP phones).
    pub fn known_source(&self, account: &str, addr: &str) -> bool {
        self.sources
            .contains(&(account.to_string(), addr.to_string()))
    }

    fn tally(&mut self, a: &Attempt, now: Timestamp) -> &mut Tally {
        let key = (printable_account(a.account), a.addr.to_string());
        let t = if self.tally.len() >= MAX_TALLIED && !self.tally.contains_key(&key) {
            if self.others.first.0 == 0 {
                self.others.first = now;
            }
            &mut self.others
        } else {
            self.tally.entry(key.clone()).or_insert_with(|| Tally {
                account: key.0,
                addr: key.1,
                first: now,
                ..Tally::default()
            })
        };
        t.last = now;
        t
    }

    /// What was refused since the last summary, one tally per (account,
    /// address), the overflow last as account and address `(others)`;
    /// the counts start again.
    pub fn take_summary(&mut self) -> Vec<Tally> {
        let mut out: Vec<Tally> = std::mem::take(&mut self.tally).into_values().collect();
        let others = std::mem::take(&mut self.others);
        if others.bad_credentials + others.rate_limited > 0 {
            out.push(Tally {
                account: "(others)".into(),
                addr: "(others)".into(),
                ..others
            });
        }
        out
    }
}

/// The audit records for a summary: one per (account, address), `actor`
/// the account behind `actor_prefix` (`login:`, `sip:`).
pub fn audit_records(
    tallies: Vec<Tally>,
    action: &str,
    actor_prefix: &str,
) -> Vec<store::AuditRecord> {
    tallies
        .into_iter()
        .map(|t| store::AuditRecord {
            at: t.last,
            org: None,
            actor: format!("{actor_prefix}{}", t.account),
            action: action.into(),
            subject: format!(
                "attempts from {} to {}",
                crate::time::iso(t.first),
                crate::time::iso(t.last)
            ),
            patient: None,
            purpose: None,
            origin: Some(t.addr.clone()),
            outcome: t.outcome(),
        })
        .collect()
}

/// An account name as typed, safe to put in a record: at most 64
/// characters kept, letters, digits and `. - _ @` as they are, anything
/// else (control characters, spaces, quotes) escaped as `\u{..}`.
pub fn printable_account(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == 64 {
            out.push('…');
            break;
        }
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
            out.push(c);
        } else {
            out.extend(c.escape_unicode());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: fn(i64) -> Timestamp = Timestamp;

    fn stranger<'a>(account: &'a str, addr: &'a str) -> Attempt<'a> {
        Attempt {
            account,
            addr,
            device: None,
        }
    }

    /// Strangers' failures earn strangers a doubling wait; the owner's
    /// known device logs in throughout.
    #[test]
    fn strangers_back_off_exponentially_and_the_owners_device_is_not_held_back() {
        let mut l = LoginLimiter::default();
        // Five free failures from five addresses (a botnet).
        for i in 0..FREE_TRIES_PER_ACCOUNT as i64 {
            let addr = format!("198.51.100.{i}");
            let a = stranger("sam", &addr);
            assert_eq!(l.check(&a, T(i)), None);
            l.failed(&a, T(i));
        }
        // The next stranger waits 2 s after the last failure, from any address.
        let a = stranger("sam", "203.0.113.9");
        assert_eq!(l.check(&a, T(4)), Some(2000));
        assert_eq!(l.check(&a, T(2004)), None);
        l.failed(&a, T(2004));
        assert_eq!(l.check(&a, T(2005)), Some(3999), "doubled");
        // The owner's browser, with its device cookie, is never held back.
        let owner = Attempt {
            account: "sam",
            addr: "203.0.113.9",
            device: Some("dev-1"),
        };
        assert_eq!(l.check(&owner, T(2005)), None);
        // Another account is untouched.
        assert_eq!(l.check(&stranger("kim", "203.0.113.10"), T(2005)), None);
        // The wait is capped, and failures age out of the window.
        for i in 0..30 {
            l.failed(&a, T(3000 + i));
        }
        let w = l.check(&a, T(3030)).unwrap();
        assert!(w <= MAX_BACKOFF_MS, "{w}");
        assert_eq!(l.check(&a, T(3030 + FAILURE_WINDOW_MS)), None);
    }

    #[test]
    fn only_the_failing_address_is_slowed() {
        let mut l = LoginLimiter::default();
        for i in 0..MAX_FAILURES_PER_ADDRESS {
            l.failed(&stranger(&format!("u{i}"), "198.51.100.7"), T(100));
        }
        assert!(l.check(&stranger("new", "198.51.100.7"), T(101)).is_some());
        assert_eq!(l.check(&stranger("new", "198.51.100.8"), T(101)), None);
        // A known device behind the same address still gets in.
        let known = Attempt {
            account: "new",
            addr: "198.51.100.7",
            device: Some("d"),
        };
        assert_eq!(l.check(&known, T(101)), None);
    }

    #[test]
    fn a_device_that_keeps_failing_is_treated_as_a_stranger() {
        let mut l = LoginLimiter::default();
        let dev = Attempt {
            account: "sam",
            addr: "192.0.2.1",
            device: Some("stolen"),
        };
        for i in 0..MAX_FAILURES_PER_DEVICE as i64 {
            assert_eq!(l.check(&dev, T(i)), None);
            l.failed(&dev, T(i));
        }
        // Its failures counted for the account only once it lost trust.
        assert_eq!(l.check(&dev, T(10)), None, "the account has no strikes yet");
        for i in 0..FREE_TRIES_PER_ACCOUNT as i64 {
            l.failed(&dev, T(20 + i));
        }
        assert!(l.check(&dev, T(30)).is_some());
        // A success forgives the device and remembers the address.
        l.succeeded(&dev);
        assert!(l.known_source("sam", "192.0.2.1"));
        assert!(!l.known_source("sam", "192.0.2.2"));
        assert_eq!(l.check(&dev, T(31)), None);
    }

    #[test]
    fn refusals_are_tallied_per_account_and_address_with_a_bounded_overflow() {
        let mut l = LoginLimiter::default();
        let a = stranger("bob\u{1b}[31m", "192.0.2.5");
        for i in 0..8 {
            if l.check(&a, T(i)).is_none() {
                l.failed(&a, T(i));
            }
        }
        for i in 0..MAX_TALLIED + 10 {
            l.failed(&stranger(&format!("x{i}"), "192.0.2.6"), T(50));
        }
        let s = l.take_summary();
        assert_eq!(s.len(), MAX_TALLIED + 1);
        let bob = s.iter().find(|t| t.addr == "192.0.2.5").unwrap();
        assert_eq!(bob.account, "bob\\u{1b}\\u{5b}31m");
        assert_eq!((bob.bad_credentials, bob.rate_limited), (5, 3), "{bob:?}");
        assert_eq!(bob.outcome(), "refused: 5 bad credentials, 3 rate limited");
        assert_eq!((bob.first, bob.last), (T(0), T(7)));
        let others = s.last().unwrap();
        assert_eq!(
            (others.account.as_str(), others.bad_credentials),
            ("(others)", 11)
        );
        assert!(l.take_summary().is_empty(), "counts start again");
    }

    #[test]
    fn printable_accounts_escape_everything_but_name_characters() {
        assert_eq!(printable_account("kent.agent"), "kent.agent");
        assert_eq!(printable_account("a b\n"), "a\\u{20}b\\u{a}");
        assert_eq!(printable_account(&"x".repeat(100)).chars().count(), 65);
    }
}
