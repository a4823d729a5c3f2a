//! WebAuthn (passkeys) as a relying party: registering a credential and
//! checking an assertion at log-in, per the W3C Web Authentication Level 2
//! procedures (§7.1 and §7.2), for ES256 (P-256) and RS256 keys. The
//! signatures are checked by *ring*; the CBOR by `ciborium`. Attestation
//! statements are not verified (we ask for none: a passkey is trusted as
//! the person's own device, not as a certified model).
//!
//! Challenges carry their own proof: purpose, account, expiry and a
//! random part, MAC'd with the server's key, so any node can check one
//! and no state is kept between the two halves of a ceremony.
//!
//! Pure: the time and the key are arguments.

use crate::auth::{mac, random_bytes, same};
use sha2::{Digest, Sha256};

/// How long a ceremony may take.
pub const CHALLENGE_MS: i64 = 5 * 60 * 1000;
/// COSE algorithm numbers we accept.
pub const ES256: i64 = -7;
pub const RS256: i64 = -257;
/// Most credentials one account keeps.
pub const MAX_PASSKEYS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebauthnError {
    #[error("{0}: not base64url")]
    Encoding(&'static str),
    #[error("clientDataJSON: {0}")]
    ClientData(String),
    #[error("the challenge is not ours, is for something else, or has expired")]
    Challenge,
    #[error("the origin {0} is not this server's")]
    Origin(String),
    #[error("authenticatorData: {0}")]
    AuthData(String),
    #[error("attestationObject: {0}")]
    Attestation(String),
    #[error("the public key: {0}")]
    Key(String),
    #[error("the signature does not verify")]
    Signature,
    #[error("the authenticator's signature counter went backwards: the credential may be cloned")]
    Counter,
}

use WebauthnError as E;

/// What a ceremony is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Register,
    LogIn,
}

/// A challenge for `user`'s ceremony, valid [`CHALLENGE_MS`].
pub fn challenge(key: &[u8; 32], purpose: Purpose, user: u32, now_ms: i64) -> Vec<u8> {
    let mut c = vec![purpose as u8];
    c.extend_from_slice(&user.to_be_bytes());
    c.extend_from_slice(&(now_ms + CHALLENGE_MS).to_be_bytes());
    c.extend_from_slice(&random_bytes::<16>());
    let m = mac(key, &[b"webauthn challenge", &c]);
    c.extend_from_slice(&m);
    c
}

fn check_challenge(
    key: &[u8; 32],
    c: &[u8],
    purpose: Purpose,
    user: u32,
    now_ms: i64,
) -> Result<(), WebauthnError> {
    if c.len() != 1 + 4 + 8 + 16 + 32 {
        return Err(E::Challenge);
    }
    let (body, m) = c.split_at(c.len() - 32);
    if !same(&mac(key, &[b"webauthn challenge", body]), m)
        || body[0] != purpose as u8
        || body[1..5] != user.to_be_bytes()
    {
        return Err(E::Challenge);
    }
    let expires = i64::from_be_bytes(body[5..13].try_into().map_err(|_| E::Challenge)?);
    if now_ms >= expires {
        return Err(E::Challenge);
    }
    Ok(())
}

/// base64url without padding, as WebAuthn's JSON carries bytes.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(what: &'static str, s: &str) -> Result<Vec<u8>, WebauthnError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| E::Encoding(what))
}

/// Who the relying party is and what the ceremony expects.
#[derive(Clone, Debug)]
pub struct Expect<'a> {
    /// The RP ID: this server's host name (not an IP address).
    pub rp_id: &'a str,
    /// The origin the browser must report (`https://host[:port]`).
    pub origin: &'a str,
    pub key: &'a [u8; 32],
    pub user: u32,
    pub now_ms: i64,
}

fn client_data(e: &Expect, raw: &[u8], kind: &str, purpose: Purpose) -> Result<(), WebauthnError> {
    let v: serde_json::Value =
        serde_json::from_slice(raw).map_err(|_| E::ClientData("not JSON".into()))?;
    if v["type"] != kind {
        return Err(E::ClientData(format!("type is not {kind}")));
    }
    let c = v["challenge"]
        .as_str()
        .ok_or_else(|| E::ClientData("no challenge".into()))?;
    check_challenge(e.key, &unb64("challenge", c)?, purpose, e.user, e.now_ms)?;
    let origin = v["origin"].as_str().unwrap_or("");
    if origin != e.origin {
        return Err(E::Origin(origin.chars().take(100).collect()));
    }
    if v["tokenBinding"]["status"] == "present" {
        return Err(E::ClientData("token binding is not supported".into()));
    }
    Ok(())
}

/// The parts of authenticatorData (§6.1).
struct AuthData<'a> {
    flags: u8,
    sign_count: u32,
    /// Attested credential data and extensions, if any.
    rest: &'a [u8],
}

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

fn auth_data<'a>(e: &Expect, a: &'a [u8]) -> Result<AuthData<'a>, WebauthnError> {
    if a.len() < 37 {
        return Err(E::AuthData("shorter than 37 bytes".into()));
    }
    if !same(&a[..32], &Sha256::digest(e.rp_id.as_bytes())) {
        return Err(E::AuthData(format!("not made for {}", e.rp_id)));
    }
    let flags = a[32];
    if flags & UP == 0 {
        return Err(E::AuthData("the user was not present".into()));
    }
    if flags & UV == 0 {
        return Err(E::AuthData(
            "the user was not verified (PIN or biometric)".into(),
        ));
    }
    Ok(AuthData {
        flags,
        sign_count: u32::from_be_bytes([a[33], a[34], a[35], a[36]]),
        rest: &a[37..],
    })
}

/// A credential public key (COSE, RFC 8152 §13), checked usable.
fn cose_key(bytes: &[u8]) -> Result<(i64, usize), WebauthnError> {
    use ciborium::Value;
    let mut reader = bytes;
    let v: Value = ciborium::from_reader(&mut reader).map_err(|_| E::Key("not CBOR".into()))?;
    let used = bytes.len() - reader.len();
    let map = v.as_map().ok_or_else(|| E::Key("not a COSE key".into()))?;
    let get = |k: i64| {
        map.iter()
            .find(|(key, _)| {
                key.as_integer()
                    .is_some_and(|i| i128::from(i) == i128::from(k))
            })
            .map(|(_, v)| v)
    };
    let int = |k: i64| get(k).and_then(|v| v.as_integer()).map(i128::from);
    let alg = int(3).ok_or_else(|| E::Key("no algorithm".into()))?;
    match (int(1), alg) {
        (Some(2), a) if a == i128::from(ES256) => {
            let (Some(1), Some(x), Some(y)) = (
                int(-1),
                get(-2).and_then(|v| v.as_bytes()),
                get(-3).and_then(|v| v.as_bytes()),
            ) else {
                return Err(E::Key("ES256 needs a P-256 point".into()));
            };
            if x.len() != 32 || y.len() != 32 {
                return Err(E::Key("a P-256 coordinate is not 32 bytes".into()));
            }
            Ok((ES256, used))
        }
        (Some(3), a) if a == i128::from(RS256) => {
            let (Some(n), Some(e)) = (
                get(-1).and_then(|v| v.as_bytes()),
                get(-2).and_then(|v| v.as_bytes()),
            ) else {
                return Err(E::Key("RS256 needs n and e".into()));
            };
            if n.len() < 256 || e.is_empty() {
                return Err(E::Key("an RSA key under 2048 bits".into()));
            }
            Ok((RS256, used))
        }
        _ => Err(E::Key(format!("algorithm {alg} is not ES256 or RS256"))),
    }
}

fn verify_signature(cose: &[u8], message: &[u8], signature: &[u8]) -> Result<(), WebauthnError> {
    use ciborium::Value;
    use ring::signature as sig;
    let v: Value = ciborium::from_reader(cose).map_err(|_| E::Key("not CBOR".into()))?;
    let map = v.as_map().ok_or_else(|| E::Key("not a COSE key".into()))?;
    let bytes = |k: i64| {
        map.iter()
            .find(|(key, _)| {
                key.as_integer()
                    .is_some_and(|i| i128::from(i) == i128::from(k))
            })
            .and_then(|(_, v)| v.as_bytes())
            .cloned()
            .unwrap_or_default()
    };
    let (alg, _) = cose_key(cose)?;
    let ok = if alg == ES256 {
        let mut point = vec![0x04];
        point.extend(bytes(-2));
        point.extend(bytes(-3));
        sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_ASN1, &point)
            .verify(message, signature)
            .is_ok()
    } else {
        sig::RsaPublicKeyComponents {
            n: bytes(-1),
            e: bytes(-2),
        }
        .verify(&sig::RSA_PKCS1_2048_8192_SHA256, message, signature)
        .is_ok()
    };
    ok.then_some(()).ok_or(E::Signature)
}

/// A credential registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    pub id: Vec<u8>,
    /// The COSE public key, as the authenticator gave it.
    pub public_key: Vec<u8>,
    pub alg: i64,
    pub sign_count: u32,
}

/// §7.1: checks a new credential (clientDataJSON and attestationObject as
/// the browser gave them).
pub fn register(
    e: &Expect,
    client_data_json: &[u8],
    attestation_object: &[u8],
) -> Result<Registered, WebauthnError> {
    use ciborium::Value;
    client_data(e, client_data_json, "webauthn.create", Purpose::Register)?;
    let v: Value =
        ciborium::from_reader(attestation_object).map_err(|_| E::Attestation("not CBOR".into()))?;
    let auth = v
        .as_map()
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| k.as_text() == Some("authData"))
                .and_then(|(_, v)| v.as_bytes())
        })
        .ok_or_else(|| E::Attestation("no authData".into()))?;
    let a = auth_data(e, auth)?;
    if a.flags & AT == 0 || a.rest.len() < 18 {
        return Err(E::AuthData("no attested credential".into()));
    }
    let len = usize::from(u16::from_be_bytes([a.rest[16], a.rest[17]]));
    if len == 0 || len > 1023 || a.rest.len() < 18 + len {
        return Err(E::AuthData("a credential id of a bad length".into()));
    }
    let id = a.rest[18..18 + len].to_vec();
    let key_bytes = &a.rest[18 + len..];
    let (alg, used) = cose_key(key_bytes)?;
    Ok(Registered {
        id,
        public_key: key_bytes[..used].to_vec(),
        alg,
        sign_count: a.sign_count,
    })
}

/// §7.2: checks an assertion by a registered credential; the new
/// signature counter.
pub fn authenticate(
    e: &Expect,
    public_key: &[u8],
    stored_count: u32,
    client_data_json: &[u8],
    authenticator_data: &[u8],
    signature: &[u8],
) -> Result<u32, WebauthnError> {
    client_data(e, client_data_json, "webauthn.get", Purpose::LogIn)?;
    let a = auth_data(e, authenticator_data)?;
    let mut message = authenticator_data.to_vec();
    message.extend_from_slice(&Sha256::digest(client_data_json));
    verify_signature(public_key, &message, signature)?;
    if (a.sign_count != 0 || stored_count != 0) && a.sign_count <= stored_count {
        return Err(E::Counter);
    }
    Ok(a.sign_count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

    const KEY: [u8; 32] = [4; 32];

    /// A software authenticator: a P-256 key, the data a browser sends.
    struct Token {
        pair: EcdsaKeyPair,
        id: Vec<u8>,
    }

    impl Token {
        fn new() -> Token {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
            Token {
                pair: EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_ASN1_SIGNING,
                    pkcs8.as_ref(),
                    &rng,
                )
                .unwrap(),
                id: vec![7; 16],
            }
        }
        fn cose(&self) -> Vec<u8> {
            use ciborium::Value as V;
            let p = self.pair.public_key().as_ref();
            let m = V::Map(vec![
                (V::Integer(1.into()), V::Integer(2.into())),
                (V::Integer(3.into()), V::Integer((-7).into())),
                (V::Integer((-1).into()), V::Integer(1.into())),
                (V::Integer((-2).into()), V::Bytes(p[1..33].to_vec())),
                (V::Integer((-3).into()), V::Bytes(p[33..].to_vec())),
            ]);
            let mut out = Vec::new();
            ciborium::into_writer(&m, &mut out).unwrap();
            out
        }
        fn auth_data(&self, rp: &str, flags: u8, count: u32, attested: bool) -> Vec<u8> {
            let mut a = Sha256::digest(rp.as_bytes()).to_vec();
            a.push(flags);
            a.extend_from_slice(&count.to_be_bytes());
            if attested {
                a.extend_from_slice(&[0; 16]);
                a.extend_from_slice(&(self.id.len() as u16).to_be_bytes());
                a.extend_from_slice(&self.id);
                a.extend(self.cose());
            }
            a
        }
        fn client(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
            serde_json::json!({"type": kind, "challenge": b64(challenge), "origin": origin})
                .to_string()
                .into_bytes()
        }
        fn attestation(&self, auth: Vec<u8>) -> Vec<u8> {
            use ciborium::Value as V;
            let m = V::Map(vec![
                (V::Text("fmt".into()), V::Text("none".into())),
                (V::Text("attStmt".into()), V::Map(vec![])),
                (V::Text("authData".into()), V::Bytes(auth)),
            ]);
            let mut out = Vec::new();
            ciborium::into_writer(&m, &mut out).unwrap();
            out
        }
        fn sign(&self, auth: &[u8], client: &[u8]) -> Vec<u8> {
            let mut msg = auth.to_vec();
            msg.extend_from_slice(&Sha256::digest(client));
            self.pair
                .sign(&SystemRandom::new(), &msg)
                .unwrap()
                .as_ref()
                .to_vec()
        }
    }

    fn expect(now: i64) -> Expect<'static> {
        Expect {
            rp_id: "localhost",
            origin: "http://localhost:8080",
            key: &KEY,
            user: 3,
            now_ms: now,
        }
    }

    #[test]
    fn a_passkey_registers_and_logs_in_and_forgeries_fail() {
        let t = Token::new();
        let now = 1_000_000;
        let e = expect(now);
        let ch = challenge(&KEY, Purpose::Register, 3, now);
        let client = Token::client("webauthn.create", &ch, e.origin);
        let reg = register(
            &e,
            &client,
            &t.attestation(t.auth_data("localhost", UP | UV | AT, 0, true)),
        )
        .unwrap();
        assert_eq!(
            (reg.id.clone(), reg.alg, reg.sign_count),
            (t.id.clone(), ES256, 0)
        );
        // Wrong origin, wrong RP, no user verification, a log-in challenge, an expired one.
        let bad_origin = Token::client("webauthn.create", &ch, "https://evil.example");
        assert_eq!(
            register(
                &e,
                &bad_origin,
                &t.attestation(t.auth_data("localhost", UP | UV | AT, 0, true))
            ),
            Err(E::Origin("https://evil.example".into()))
        );
        assert!(matches!(
            register(
                &e,
                &client,
                &t.attestation(t.auth_data("evil.example", UP | UV | AT, 0, true))
            ),
            Err(E::AuthData(_))
        ));
        assert!(matches!(
            register(
                &e,
                &client,
                &t.attestation(t.auth_data("localhost", UP | AT, 0, true))
            ),
            Err(E::AuthData(_))
        ));
        let login_ch = challenge(&KEY, Purpose::LogIn, 3, now);
        let wrong_purpose = Token::client("webauthn.create", &login_ch, e.origin);
        assert_eq!(
            register(
                &e,
                &wrong_purpose,
                &t.attestation(t.auth_data("localhost", UP | UV | AT, 0, true))
            ),
            Err(E::Challenge)
        );
        assert_eq!(
            register(
                &expect(now + CHALLENGE_MS),
                &client,
                &t.attestation(t.auth_data("localhost", UP | UV | AT, 0, true))
            ),
            Err(E::Challenge)
        );
        assert_eq!(
            register(
                &Expect {
                    user: 4,
                    ..e.clone()
                },
                &client,
                &t.attestation(t.auth_data("localhost", UP | UV | AT, 0, true))
            ),
            Err(E::Challenge),
            "another account's challenge"
        );
        // Log in.
        let ch = challenge(&KEY, Purpose::LogIn, 3, now);
        let client = Token::client("webauthn.get", &ch, e.origin);
        let auth = t.auth_data("localhost", UP | UV, 5, false);
        let sig = t.sign(&auth, &client);
        assert_eq!(
            authenticate(&e, &reg.public_key, 0, &client, &auth, &sig),
            Ok(5)
        );
        assert_eq!(
            authenticate(&e, &reg.public_key, 5, &client, &auth, &sig),
            Err(E::Counter),
            "a replayed or cloned counter"
        );
        let mut forged = sig.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(
            authenticate(&e, &reg.public_key, 0, &client, &auth, &forged),
            Err(E::Signature)
        );
        let other = Token::new();
        assert_eq!(
            authenticate(&e, &other.cose(), 0, &client, &auth, &sig),
            Err(E::Signature),
            "another key"
        );
        let create_type = Token::client("webauthn.create", &ch, e.origin);
        assert!(matches!(
            authenticate(
                &e,
                &reg.public_key,
                0,
                &create_type,
                &auth,
                &t.sign(&auth, &create_type)
            ),
            Err(E::ClientData(_))
        ));
    }

    #[test]
    fn keys_of_other_kinds_are_refused_by_name() {
        use ciborium::Value as V;
        let mut out = Vec::new();
        let m = V::Map(vec![
            (V::Integer(1.into()), V::Integer(1.into())),
            (V::Integer(3.into()), V::Integer((-8).into())),
        ]);
        ciborium::into_writer(&m, &mut out).unwrap();
        assert_eq!(
            cose_key(&out),
            Err(E::Key("algorithm -8 is not ES256 or RS256".into()))
        );
        assert!(unb64("x", "!!").is_err());
        assert_eq!(unb64("x", &b64(b"hello")).unwrap(), b"hello");
    }
}
