//! SIP digest authentication (RFC 3261 §22, RFC 2617 `qop=auth`), on the
//! registrar's side: a stateless nonce that expires, and the check of a
//! phone's answer against the HA1 kept for the account.

use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::collections::BTreeMap;

/// How long a nonce is good for, ms.
pub const NONCE_LIFETIME_MS: i64 = 5 * 60 * 1000;
/// Longest Authorization header read.
pub const MAX_HEADER_BYTES: usize = 4096;

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn md5_hex(s: &str) -> String {
    hex(&Md5::digest(s.as_bytes()))
}

/// HA1 = MD5(username:realm:password), what the registrar keeps.
pub fn ha1(username: &str, realm: &str, password: &str) -> String {
    md5_hex(&format!("{username}:{realm}:{password}"))
}

/// The digest answer to a challenge: with `qop=auth` given (nc, cnonce),
/// else the RFC 2069 form. (What a phone computes; the registrar checks it.)
pub fn response(
    ha1: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    qop_auth: Option<(&str, &str)>,
) -> String {
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    match qop_auth {
        Some((nc, cnonce)) => md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// A nonce carrying its issue time, signed with the server's secret.
pub fn nonce(secret: &[u8], now_ms: i64) -> String {
    let ts = format!("{:x}", now_ms.max(0));
    format!("{ts}.{}", mac(secret, &ts))
}

fn mac(secret: &[u8], ts: &str) -> String {
    let mut h = Sha256::new();
    h.update(secret);
    h.update(ts.as_bytes());
    hex(&h.finalize()[..16])
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("the Authorization header is not a Digest header")]
    NotDigest,
    #[error("the Authorization header is too long")]
    TooLong,
    #[error("the Authorization header has no {0}")]
    Missing(&'static str),
    #[error("unsupported digest algorithm {0}")]
    Algorithm(String),
    #[error("unsupported qop {0}")]
    Qop(String),
    #[error("the nonce is not ours or has expired")]
    StaleNonce,
    #[error("wrong credentials")]
    Wrong,
}

/// A parsed `Authorization: Digest ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub params: BTreeMap<String, String>,
}

impl Credentials {
    pub fn parse(header: &str) -> Result<Credentials, DigestError> {
        if header.len() > MAX_HEADER_BYTES {
            return Err(DigestError::TooLong);
        }
        let h = header.trim();
        let rest = h
            .get(..6)
            .filter(|p| p.eq_ignore_ascii_case("digest"))
            .map(|_| &h[6..])
            .ok_or(DigestError::NotDigest)?;
        let mut params = BTreeMap::new();
        let mut s = rest.trim_start();
        while !s.is_empty() {
            let Some(eq) = s.find('=') else { break };
            let key = s[..eq].trim().to_ascii_lowercase();
            s = s[eq + 1..].trim_start();
            let value;
            if let Some(q) = s.strip_prefix('"') {
                let end = q.find('"').ok_or(DigestError::NotDigest)?;
                value = q[..end].to_string();
                s = &q[end + 1..];
            } else {
                let end = s.find(',').unwrap_or(s.len());
                value = s[..end].trim().to_string();
                s = &s[end..];
            }
            params.insert(key, value);
            s = s.trim_start().strip_prefix(',').unwrap_or(s).trim_start();
        }
        Ok(Credentials { params })
    }

    pub fn get(&self, k: &'static str) -> Result<&str, DigestError> {
        self.params
            .get(k)
            .map(String::as_str)
            .ok_or(DigestError::Missing(k))
    }

    pub fn username(&self) -> Result<&str, DigestError> {
        self.get("username")
    }

    /// Checks the answer for `method`, with the account's HA1, a nonce of
    /// ours no older than [`NONCE_LIFETIME_MS`], and our realm.
    pub fn verify(
        &self,
        method: &str,
        realm: &str,
        ha1: &str,
        secret: &[u8],
        now_ms: i64,
    ) -> Result<(), DigestError> {
        if let Some(a) = self.params.get("algorithm") {
            if !a.eq_ignore_ascii_case("md5") {
                return Err(DigestError::Algorithm(a.clone()));
            }
        }
        if self.get("realm")? != realm {
            return Err(DigestError::Wrong);
        }
        let nonce = self.get("nonce")?;
        let (ts, m) = nonce.split_once('.').ok_or(DigestError::StaleNonce)?;
        let issued = i64::from_str_radix(ts, 16).map_err(|_| DigestError::StaleNonce)?;
        if mac(secret, ts) != m || now_ms - issued > NONCE_LIFETIME_MS || issued > now_ms + 60_000 {
            return Err(DigestError::StaleNonce);
        }
        let uri = self.get("uri")?;
        let expected = match self.params.get("qop").map(String::as_str) {
            None => response(ha1, nonce, method, uri, None),
            Some(q) if q.eq_ignore_ascii_case("auth") => response(
                ha1,
                nonce,
                method,
                uri,
                Some((self.get("nc")?, self.get("cnonce")?)),
            ),
            Some(q) => return Err(DigestError::Qop(q.to_string())),
        };
        let given = self.get("response")?.to_ascii_lowercase();
        // Compare without an early exit.
        let same = given.len() == expected.len()
            && given
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(())
        } else {
            Err(DigestError::Wrong)
        }
    }
}

/// The `WWW-Authenticate` challenge value.
pub fn challenge(realm: &str, nonce: &str, stale: bool) -> String {
    format!(
        "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"{}",
        if stale { ", stale=true" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_example_answer() {
        // RFC 2617 §3.5 (HTTP, but the same computation).
        let ha = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        let ha2 = md5_hex("GET:/dir/index.html");
        let r = md5_hex(&format!(
            "{ha}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"
        ));
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn verifies_a_phone_and_refuses_the_rest() {
        let secret = b"s3cret";
        let now = 1_800_000_000_000;
        let n = nonce(secret, now);
        let ha = ha1("kent.agent", "switchboard", "switchboard-demo");
        let uri = "sip:127.0.0.1:5060";
        let ha2 = md5_hex(&format!("REGISTER:{uri}"));
        let resp = md5_hex(&format!("{ha}:{n}:00000001:abc:auth:{ha2}"));
        let header = format!(
            "Digest username=\"kent.agent\",realm=\"switchboard\", nonce=\"{n}\", uri=\"{uri}\", response=\"{resp}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"abc\""
        );
        let c = Credentials::parse(&header).unwrap();
        assert_eq!(c.username().unwrap(), "kent.agent");
        assert_eq!(
            c.verify("REGISTER", "switchboard", &ha, secret, now + 1000),
            Ok(())
        );
        let other = ha1("kent.agent", "switchboard", "wrong");
        assert_eq!(
            c.verify("REGISTER", "switchboard", &other, secret, now),
            Err(DigestError::Wrong)
        );
        assert_eq!(
            c.verify(
                "REGISTER",
                "switchboard",
                &ha,
                secret,
                now + NONCE_LIFETIME_MS + 1
            ),
            Err(DigestError::StaleNonce)
        );
        assert_eq!(
            c.verify("REGISTER", "switchboard", &ha, b"other", now),
            Err(DigestError::StaleNonce)
        );
        assert_eq!(
            c.verify("INVITE", "switchboard", &ha, secret, now),
            Err(DigestError::Wrong)
        );
        assert_eq!(Credentials::parse("Basic abc"), Err(DigestError::NotDigest));
        assert_eq!(
            Credentials::parse(&"Digest a=b,".repeat(1000)),
            Err(DigestError::TooLong)
        );
        // Without qop (RFC 2069 style).
        let r2 = md5_hex(&format!("{ha}:{n}:{ha2}"));
        let h2 = format!("Digest username=\"kent.agent\", realm=\"switchboard\", nonce=\"{n}\", uri=\"{uri}\", response=\"{r2}\"");
        assert_eq!(
            Credentials::parse(&h2)
                .unwrap()
                .verify("REGISTER", "switchboard", &ha, secret, now),
            Ok(())
        );
    }
}
