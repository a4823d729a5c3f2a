//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): the
//! authenticator apps' six digits every 30 seconds, HMAC-SHA1 as every app
//! supports. A code is accepted for the current step or one either side
//! (clock drift), and never twice: a step at or before the last one used
//! is refused. Recovery codes stand in when the phone is lost, each once.
//!
//! Pure: the time is an argument.

use crate::auth::{hex, random_bytes, same, secret_hash};
use model::Timestamp;

/// Seconds a code lives.
pub const STEP_S: i64 = 30;
/// Steps either side of now that are accepted.
pub const DRIFT_STEPS: i64 = 1;
/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// A shared secret: 20 random bytes (RFC 4226's recommended length).
pub fn new_secret() -> [u8; 20] {
    random_bytes::<20>()
}

/// The step a moment falls in.
pub fn step_at(now: Timestamp) -> i64 {
    now.0.div_euclid(1000 * STEP_S)
}

/// The six-digit code for a step (RFC 4226 §5.3 dynamic truncation).
pub fn code(secret: &[u8], step: i64) -> String {
    use hmac::{KeyInit, Mac};
    let mut m = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret)
        .expect("HMAC takes a key of any length");
    m.update(&(step as u64).to_be_bytes());
    let h = m.finalize().into_bytes();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    format!("{:06}", bin % 1_000_000)
}

/// Why a code was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not six digits.
    Malformed,
    /// Not the code for now or a step either side.
    Wrong,
    /// The code of a step already used (a replay, or the same code twice).
    Used,
}

/// The step a code belongs to, if it is right for `now` (± [`DRIFT_STEPS`])
/// and newer than `last_used`.
pub fn verify(secret: &[u8], typed: &str, now: Timestamp, last_used: i64) -> Result<i64, Refused> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != 6 || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refused::Malformed);
    }
    let now = step_at(now);
    let mut matched = None;
    for step in now - DRIFT_STEPS..=now + DRIFT_STEPS {
        if same(code(secret, step).as_bytes(), typed.as_bytes()) {
            matched = Some(step);
        }
    }
    match matched {
        None => Err(Refused::Wrong),
        Some(s) if s <= last_used => Err(Refused::Used),
        Some(s) => Ok(s),
    }
}

/// RFC 4648 base32 without padding, as authenticator apps take secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(char::from(ALPHABET[((buffer >> (bits - 5)) & 31) as usize]));
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app reads (from a QR code or
/// typed), issuer and account percent-encoded.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period={STEP_S}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

/// New recovery codes (`xxxxx-xxxxx`, 40 random bits each) and what is
/// stored for them (their hashes).
pub fn recovery_codes() -> (Vec<String>, Vec<String>) {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let h = hex(&random_bytes::<5>());
            format!("{}-{}", &h[..5], &h[5..])
        })
        .collect();
    let hashes = codes.iter().map(|c| recovery_hash(c)).collect();
    (codes, hashes)
}

/// What is stored for a recovery code as typed (case and dashes aside).
pub fn recovery_hash(typed: &str) -> String {
    let norm: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    secret_hash(&format!("recovery:{norm}"))
}

/// Whether what was typed looks like a recovery code rather than a TOTP.
pub fn looks_like_recovery(typed: &str) -> bool {
    typed.chars().filter(|c| c.is_ascii_alphanumeric()).count() == 10
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B (SHA-1 key "12345678901234567890"), the last
    /// six of each eight-digit value.
    #[test]
    fn the_rfc_6238_test_vectors() {
        let key = b"12345678901234567890";
        for (t, want) in [
            (59i64, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code(key, step_at(Timestamp(t * 1000))), want, "T = {t}");
        }
    }

    #[test]
    fn one_step_either_side_and_never_twice() {
        let key = [3u8; 20];
        let now = Timestamp(1_700_000_000_000);
        let s = step_at(now);
        assert_eq!(verify(&key, &code(&key, s), now, 0), Ok(s));
        assert_eq!(verify(&key, &code(&key, s - 1), now, 0), Ok(s - 1));
        assert_eq!(verify(&key, &code(&key, s + 1), now, 0), Ok(s + 1));
        assert_eq!(
            verify(&key, &code(&key, s - 2), now, 0),
            Err(Refused::Wrong)
        );
        assert_eq!(verify(&key, &code(&key, s), now, s), Err(Refused::Used));
        assert_eq!(
            verify(&key, &code(&key, s - 1), now, s),
            Err(Refused::Used),
            "an older step after a newer"
        );
        assert_eq!(verify(&key, "12345", now, 0), Err(Refused::Malformed));
        assert_eq!(verify(&key, "abcdef", now, 0), Err(Refused::Malformed));
        let spaced = format!("{} {}", &code(&key, s)[..3], &code(&key, s)[3..]);
        assert_eq!(verify(&key, &spaced, now, 0), Ok(s), "typed as 123 456");
    }

    #[test]
    fn base32_and_the_uri_apps_read() {
        // RFC 4648 §10.
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        let uri = otpauth_uri("Switchboard Kent", "kent.admin", b"12345678901234567890");
        assert_eq!(uri, "otpauth://totp/Switchboard%20Kent:kent.admin?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Switchboard%20Kent&algorithm=SHA1&digits=6&period=30");
    }

    #[test]
    fn recovery_codes_match_however_typed() {
        let (codes, hashes) = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(codes
            .iter()
            .all(|c| c.len() == 11 && looks_like_recovery(c)));
        assert_eq!(
            recovery_hash(&codes[0].to_uppercase().replace('-', " ")),
            hashes[0]
        );
        assert!(!looks_like_recovery("123456"));
    }
}
