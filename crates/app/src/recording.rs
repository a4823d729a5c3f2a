//! Call recordings at rest: a recording is 16-bit stereo PCM (caller on
//! the left, agent on the right) sealed as a stream of chunks, each
//! encrypted with AES-256-GCM under the recording's own random key. The
//! chunk's number and whether it is the last are authenticated with it
//! (the STREAM construction), so chunks cannot be reordered, dropped or
//! cut from the end without the stream failing to open. The recording's
//! key is wrapped under the key-encryption key and kept in the database;
//! destroying that wrapped key erases the recording, wherever copies of
//! the file went. The WAV header is made when the recording is played, so
//! a recording cut short by a crash has no header to finalise.

use crate::seal::{Kek, SealError};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

/// The first bytes of a sealed recording file.
pub const MAGIC: &[u8; 8] = b"SBREC1\n\0";
/// Samples a second, per channel.
pub const RATE: u32 = 8000;
/// Most bytes in one sealed chunk's plain text (a chunk is about a second).
pub const MAX_CHUNK: usize = 1 << 20;
/// Longest retention a service may set, in days (a hundred years).
pub const MAX_RETENTION_DAYS: f64 = 36_525.0;

fn key(bytes: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("a 256-bit key"))
}

fn nonce(index: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn chunk_aad(aad: &str, index: u64, last: bool) -> Vec<u8> {
    format!("{aad}:{index}:{}", u8::from(last)).into_bytes()
}

/// What a recording's seal is bound to: a file moved to another
/// recording does not open.
pub fn aad(org: u32, recording: u64) -> String {
    format!("recording:{org}:{recording}")
}

/// Seals a recording chunk by chunk.
pub struct StreamSealer {
    key: LessSafeKey,
    aad: String,
    next: u64,
    done: bool,
}

impl StreamSealer {
    pub fn new(data_key: &[u8; 32], aad: &str) -> StreamSealer {
        StreamSealer {
            key: key(data_key),
            aad: aad.to_string(),
            next: 0,
            done: false,
        }
    }

    /// The next chunk as stored: its length (4 bytes, big-endian), then
    /// the cipher text and tag. `last` closes the stream.
    pub fn seal(&mut self, plain: &[u8], last: bool) -> Vec<u8> {
        assert!(!self.done, "a closed stream is not sealed again");
        assert!(plain.len() <= MAX_CHUNK, "chunks are at most MAX_CHUNK");
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                nonce(self.next),
                Aad::from(chunk_aad(&self.aad, self.next, last)),
                &mut buf,
            )
            .expect("AES-GCM seals any chunk we make");
        self.next += 1;
        self.done = last;
        let mut out = (buf.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&buf);
        out
    }
}

/// Why a sealed recording does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("not a sealed recording")]
    NotARecording,
    #[error("a chunk does not open with this key (another key, or the file was changed)")]
    DoesNotOpen,
    #[error("the recording was cut short (it ends after {0} chunks without its last)")]
    CutShort(u64),
}

/// The plain PCM of a whole sealed file (with its [`MAGIC`]).
pub fn open_stream(data_key: &[u8; 32], aad: &str, file: &[u8]) -> Result<Vec<u8>, OpenError> {
    let mut rest = file.strip_prefix(MAGIC).ok_or(OpenError::NotARecording)?;
    let k = key(data_key);
    let mut out = Vec::new();
    let mut index = 0u64;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(OpenError::CutShort(index));
        }
        let len = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        if len > MAX_CHUNK + 16 {
            return Err(OpenError::DoesNotOpen);
        }
        if rest.len() < 4 + len {
            return Err(OpenError::CutShort(index));
        }
        let sealed = &rest[4..4 + len];
        rest = &rest[4 + len..];
        let last = rest.is_empty();
        let mut buf = sealed.to_vec();
        let plain = k
            .open_in_place(
                nonce(index),
                Aad::from(chunk_aad(aad, index, last)),
                &mut buf,
            )
            .map_err(|_| {
                // The data ends here but this chunk was not sealed as the
                // last: the end was cut off.
                let mut again = sealed.to_vec();
                let not_last = k
                    .open_in_place(
                        nonce(index),
                        Aad::from(chunk_aad(aad, index, false)),
                        &mut again,
                    )
                    .is_ok();
                if last && not_last {
                    OpenError::CutShort(index + 1)
                } else {
                    OpenError::DoesNotOpen
                }
            })?;
        out.extend_from_slice(plain);
        index += 1;
    }
    if index == 0 {
        return Err(OpenError::CutShort(0));
    }
    Ok(out)
}

/// A recording's key, wrapped under the key-encryption key.
pub fn wrap_key(kek: &Kek, aad: &str, data_key: &[u8; 32]) -> Vec<u8> {
    crate::seal::wrap(kek, aad, data_key)
}

/// The recording's key from its wrapped form.
pub fn unwrap_key(kek: &Kek, aad: &str, wrapped: &[u8]) -> Result<[u8; 32], SealError> {
    crate::seal::unwrap(kek, aad, wrapped)?
        .try_into()
        .map_err(|_| SealError::DoesNotOpen)
}

/// A canonical WAV header for 16-bit PCM at [`RATE`] with `channels`
/// channels and `data_bytes` bytes of samples.
pub fn wav_header(channels: u16, data_bytes: u32) -> [u8; 44] {
    let block = channels * 2;
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_bytes.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(RATE * u32::from(block)).to_le_bytes());
    h[32..34].copy_from_slice(&block.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

/// When a recording made at `started_ms` is destroyed, `days` later.
pub fn expires_at(started_ms: i64, days: f64) -> i64 {
    let ms = (days.clamp(0.0, MAX_RETENTION_DAYS) * 86_400_000.0) as i64;
    started_ms.saturating_add(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(chunks: &[&[u8]]) -> Vec<u8> {
        let mut s = StreamSealer::new(&[7; 32], "recording:1:2");
        let mut file = MAGIC.to_vec();
        for (i, c) in chunks.iter().enumerate() {
            file.extend(s.seal(c, i + 1 == chunks.len()));
        }
        file
    }

    #[test]
    fn a_stream_opens_whole_and_only_whole() {
        let file = sealed(&[b"one ", b"two ", b"three"]);
        assert_eq!(
            open_stream(&[7; 32], "recording:1:2", &file).unwrap(),
            b"one two three"
        );
        // Another key, another recording's binding.
        assert_eq!(
            open_stream(&[8; 32], "recording:1:2", &file),
            Err(OpenError::DoesNotOpen)
        );
        assert_eq!(
            open_stream(&[7; 32], "recording:1:3", &file),
            Err(OpenError::DoesNotOpen)
        );
        // The last chunk cut off: the stream says so.
        let first_two = {
            let mut s = StreamSealer::new(&[7; 32], "recording:1:2");
            let mut f = MAGIC.to_vec();
            f.extend(s.seal(b"one ", false));
            f.extend(s.seal(b"two ", false));
            f
        };
        assert_eq!(
            open_stream(&[7; 32], "recording:1:2", &first_two),
            Err(OpenError::CutShort(2))
        );
        assert_eq!(
            open_stream(&[7; 32], "recording:1:2", &file[..file.len() - 3]),
            Err(OpenError::CutShort(2))
        );
        // A byte changed; chunks swapped; not a recording at all.
        let mut changed = file.clone();
        changed[20] ^= 1;
        assert_eq!(
            open_stream(&[7; 32], "recording:1:2", &changed),
            Err(OpenError::DoesNotOpen)
        );
        assert_eq!(
            open_stream(&[7; 32], "recording:1:2", b"RIFF...."),
            Err(OpenError::NotARecording)
        );
        assert_eq!(
            open_stream(&[7; 32], "recording:1:2", MAGIC),
            Err(OpenError::CutShort(0))
        );
    }

    #[test]
    fn the_key_is_wrapped_for_its_recording() {
        let kek = Kek::new([3; 32]);
        let w = wrap_key(&kek, "recording:1:2", &[9; 32]);
        assert_eq!(unwrap_key(&kek, "recording:1:2", &w), Ok([9; 32]));
        assert!(unwrap_key(&kek, "recording:1:3", &w).is_err());
        assert!(unwrap_key(&Kek::new([4; 32]), "recording:1:2", &w).is_err());
    }

    #[test]
    fn the_wav_header_is_canonical_and_expiry_is_clamped() {
        let h = wav_header(2, 32_000);
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()), 32_036);
        assert_eq!(u16::from_le_bytes(h[22..24].try_into().unwrap()), 2);
        assert_eq!(u32::from_le_bytes(h[28..32].try_into().unwrap()), 32_000);
        assert_eq!(u16::from_le_bytes(h[32..34].try_into().unwrap()), 4);
        assert_eq!(expires_at(1_000, 1.0), 86_401_000);
        assert_eq!(expires_at(0, -5.0), 0);
        assert_eq!(expires_at(0, 1e9), expires_at(0, MAX_RETENTION_DAYS));
    }
}
