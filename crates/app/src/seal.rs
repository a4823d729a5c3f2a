//! Free text at rest (wrap-up notes; later chat and email bodies), sealed
//! with a key of its own: each record's text is encrypted with AES-256-GCM
//! under a fresh 256-bit data key, and the data key is itself encrypted
//! (wrapped) under the key-encryption key, which is kept apart from the
//! database (a file or an environment variable). The record's identity
//! (organisation, contact, agent) is authenticated with it, so a sealed
//! text moved to another record does not open. Deleting the record
//! deletes its wrapped key: nothing can open the text after that.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;

pub use store::Sealed;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the sealed text does not open with this key-encryption key (another key, or the record was changed or moved)")]
    DoesNotOpen,
    #[error("the sealed text is not valid text")]
    NotText,
}

/// The key-encryption key.
#[derive(Clone)]
pub struct Kek([u8; 32]);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(…)")
    }
}

impl Kek {
    pub fn new(bytes: [u8; 32]) -> Kek {
        Kek(bytes)
    }

    /// From 64 hex digits (an environment variable).
    pub fn from_hex(s: &str) -> Result<Kek, String> {
        let s = s.trim();
        if s.len() != 64 {
            return Err(format!(
                "a key-encryption key is 64 hex digits, this one has {}",
                s.len()
            ));
        }
        let k: [u8; 32] = crate::auth::unhex(s)
            .and_then(|v| v.try_into().ok())
            .ok_or("a key-encryption key is 64 hex digits (0-9, a-f)")?;
        Ok(Kek(k))
    }
}

fn key(bytes: &[u8]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("a 256-bit key"))
}

fn encrypt(k: &LessSafeKey, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let nonce_bytes = crate::auth::random_bytes::<NONCE_LEN>();
    let mut buf = plain.to_vec();
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce_bytes),
        Aad::from(aad),
        &mut buf,
    )
    .expect("AES-GCM seals any length we allow");
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&buf);
    out
}

fn decrypt(k: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    if sealed.len() < NONCE_LEN {
        return Err(SealError::DoesNotOpen);
    }
    let (n, rest) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(n).map_err(|_| SealError::DoesNotOpen)?;
    let mut buf = rest.to_vec();
    let plain = k
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| SealError::DoesNotOpen)?;
    Ok(plain.to_vec())
}

/// Seals `text` for the record named by `aad` (e.g. `note:ORG:CONTACT:AGENT`).
pub fn seal(kek: &Kek, aad: &str, text: &str) -> Sealed {
    let data_key = crate::auth::random_bytes::<32>();
    Sealed {
        text: encrypt(&key(&data_key), aad.as_bytes(), text.as_bytes()),
        wrapped_key: encrypt(&key(&kek.0), format!("key:{aad}").as_bytes(), &data_key),
    }
}

/// A data key wrapped under the key-encryption key for the record named
/// by `aad` (a recording's key, kept in the database).
pub fn wrap(kek: &Kek, aad: &str, data_key: &[u8]) -> Vec<u8> {
    encrypt(&key(&kek.0), format!("key:{aad}").as_bytes(), data_key)
}

/// What [`wrap`] wrapped.
pub fn unwrap(kek: &Kek, aad: &str, wrapped: &[u8]) -> Result<Vec<u8>, SealError> {
    decrypt(&key(&kek.0), format!("key:{aad}").as_bytes(), wrapped)
}

/// Bytes encrypted under a data key of the caller's (a conversation's,
/// wrapped once with [`wrap`]) for the record named by `aad`.
pub fn encrypt_with(data_key: &[u8; 32], aad: &str, plain: &[u8]) -> Vec<u8> {
    encrypt(&key(data_key), aad.as_bytes(), plain)
}

/// What [`encrypt_with`] encrypted.
pub fn decrypt_with(data_key: &[u8; 32], aad: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    decrypt(&key(data_key), aad.as_bytes(), sealed)
}

/// Opens a sealed text of the record named by `aad`.
pub fn open(kek: &Kek, aad: &str, s: &Sealed) -> Result<String, SealError> {
    let data_key = decrypt(
        &key(&kek.0),
        format!("key:{aad}").as_bytes(),
        &s.wrapped_key,
    )?;
    if data_key.len() != 32 {
        return Err(SealError::DoesNotOpen);
    }
    let plain = decrypt(&key(&data_key), aad.as_bytes(), &s.text)?;
    String::from_utf8(plain).map_err(|_| SealError::NotText)
}

/// Bytes sealed for the record named by `aad`, as one line of text
/// (`sealed1:` and the wrapped key and the text, base64url) for a text
/// column.
pub fn seal_to_text(kek: &Kek, aad: &str, bytes: &[u8]) -> String {
    let data_key = crate::auth::random_bytes::<32>();
    let text = encrypt(&key(&data_key), aad.as_bytes(), bytes);
    let wrapped = encrypt(&key(&kek.0), format!("key:{aad}").as_bytes(), &data_key);
    format!(
        "sealed1:{}.{}",
        crate::webauthn::b64(&wrapped),
        crate::webauthn::b64(&text)
    )
}

/// Opens what [`seal_to_text`] made.
pub fn open_text(kek: &Kek, aad: &str, stored: &str) -> Result<Vec<u8>, SealError> {
    let rest = stored
        .strip_prefix("sealed1:")
        .ok_or(SealError::DoesNotOpen)?;
    let (w, t) = rest.split_once('.').ok_or(SealError::DoesNotOpen)?;
    let wrapped = crate::webauthn::unb64("key", w).map_err(|_| SealError::DoesNotOpen)?;
    let text = crate::webauthn::unb64("text", t).map_err(|_| SealError::DoesNotOpen)?;
    let data_key = decrypt(&key(&kek.0), format!("key:{aad}").as_bytes(), &wrapped)?;
    if data_key.len() != 32 {
        return Err(SealError::DoesNotOpen);
    }
    decrypt(&key(&data_key), aad.as_bytes(), &text)
}

/// Checks a note as typed: at most [`MAX_NOTE_CHARS`] characters, no
/// control characters but new lines and tabs.
pub fn check_note(s: &str) -> Result<(), String> {
    if s.chars().count() > MAX_NOTE_CHARS {
        return Err(format!("notes: at most {MAX_NOTE_CHARS} characters"));
    }
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("notes: no control characters".into());
    }
    Ok(())
}

/// A keyed hash (HMAC-SHA-256 under a key derived from the
/// key-encryption key) of `parts`: a lookup key for something that must
/// not be stored in the clear (a patient's address with a mail's id, a
/// phone number). The same parts give the same key; without the KEK the
/// keys say nothing.
pub fn keyed_hash(kek: &Kek, parts: &[&str]) -> Vec<u8> {
    let derived = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &kek.0),
        b"switchboard lookup keys v1",
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref());
    let mut ctx = ring::hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p.as_bytes());
    }
    ctx.sign().as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_opens_only_with_its_key_and_for_its_record() {
        let kek = Kek::new([1; 32]);
        let s = seal(
            &kek,
            "note:1:42:3",
            "Caller's mother is her carer; ring after 2 pm.",
        );
        assert_eq!(
            open(&kek, "note:1:42:3", &s).unwrap(),
            "Caller's mother is her carer; ring after 2 pm."
        );
        assert!(
            !String::from_utf8_lossy(&s.text).contains("carer"),
            "not in clear"
        );
        assert_eq!(
            open(&Kek::new([2; 32]), "note:1:42:3", &s),
            Err(SealError::DoesNotOpen)
        );
        assert_eq!(
            open(&kek, "note:1:43:3", &s),
            Err(SealError::DoesNotOpen),
            "moved to another contact"
        );
        let mut changed = s.clone();
        let last = changed.text.len() - 1;
        changed.text[last] ^= 1;
        assert_eq!(
            open(&kek, "note:1:42:3", &changed),
            Err(SealError::DoesNotOpen)
        );
        let again = seal(
            &kek,
            "note:1:42:3",
            "Caller's mother is her carer; ring after 2 pm.",
        );
        assert_ne!(again.text, s.text, "a fresh key and nonce each time");
    }

    #[test]
    fn bytes_sealed_as_text_open_only_for_their_record() {
        let kek = Kek::new([1; 32]);
        let s = seal_to_text(&kek, "totp:7", b"twenty bytes secret!");
        assert!(s.starts_with("sealed1:"), "{s}");
        assert_eq!(
            open_text(&kek, "totp:7", &s).unwrap(),
            b"twenty bytes secret!"
        );
        assert_eq!(open_text(&kek, "totp:8", &s), Err(SealError::DoesNotOpen));
        assert_eq!(
            open_text(&Kek::new([2; 32]), "totp:7", &s),
            Err(SealError::DoesNotOpen)
        );
        assert_eq!(
            open_text(&kek, "totp:7", "abcd"),
            Err(SealError::DoesNotOpen)
        );
    }

    #[test]
    fn keys_from_hex_and_notes_checked() {
        assert!(Kek::from_hex(&"ab".repeat(32)).is_ok());
        assert!(Kek::from_hex("abc").unwrap_err().contains("64 hex digits"));
        assert!(Kek::from_hex(&"zz".repeat(32)).is_err());
        assert!(check_note("line one\nline two\tand a tab").is_ok());
        assert!(check_note("bell\u{7}").unwrap_err().contains("control"));
        assert!(check_note(&"x".repeat(MAX_NOTE_CHARS + 1)).is_err());
        assert_eq!(format!("{:?}", Kek::new([9; 32])), "Kek(…)");
    }

    #[test]
    fn keyed_hashes_depend_on_the_key_and_every_part() {
        let a = Kek::new([1; 32]);
        let b = Kek::new([2; 32]);
        let h = keyed_hash(&a, &["phone", "+447700900001"]);
        assert_eq!(h, keyed_hash(&a, &["phone", "+447700900001"]));
        assert_ne!(h, keyed_hash(&b, &["phone", "+447700900001"]));
        assert_ne!(h, keyed_hash(&a, &["phone", "+447700900002"]));
        // Parts are length-prefixed: moving a boundary changes the key.
        assert_ne!(keyed_hash(&a, &["ab", "c"]), keyed_hash(&a, &["a", "bc"]));
    }
}
