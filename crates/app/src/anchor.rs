//! Checkpoints of the audit chain's head, kept apart from the database.
//!
//! The hash chain shows a record changed, removed or reordered, but not
//! the newest records cut off the end: what is left is still a valid
//! chain. So the server writes the head (sequence number and hash) to a
//! checkpoint file outside the database whenever it moved (every few
//! seconds and at shutdown), each line signed with HMAC-SHA256 under a key
//! of its own, and copies it into its log. `audit verify` then checks the
//! database reaches the newest checkpoint with the same hash there.
//!
//! The checks are pure (lines in, a verdict out); [`Anchors`] is the
//! file.

use crate::auth::{hex, mac, same};
use model::Timestamp;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The audit chain's head at a moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    /// The hex SHA-256 of record `seq` in the chain.
    pub hash: String,
    pub at: Timestamp,
}

fn signature(key: &[u8; 32], c: &Checkpoint) -> String {
    hex(&mac(
        key,
        &[
            b"audit checkpoint v1",
            c.seq.to_string().as_bytes(),
            c.hash.as_bytes(),
            c.at.0.to_string().as_bytes(),
        ],
    ))
}

/// The checkpoint as a line of the file: `v1 SEQ HASH AT_MS MAC`.
pub fn line(key: &[u8; 32], c: &Checkpoint) -> String {
    format!("v1 {} {} {} {}\n", c.seq, c.hash, c.at.0, signature(key, c))
}

/// The checkpoints in a file's text, each signature checked; an error
/// names the line and what is wrong with it.
pub fn parse(key: &[u8; 32], text: &str) -> Result<Vec<Checkpoint>, String> {
    let mut out: Vec<Checkpoint> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let n = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split(' ').collect();
        let [v, seq, hash, at, sig] = f[..] else {
            return Err(format!(
                "checkpoint line {n}: not a checkpoint (v1 SEQ HASH AT_MS MAC)"
            ));
        };
        let (Ok(seq), Ok(at)) = (seq.parse::<u64>(), at.parse::<i64>()) else {
            return Err(format!(
                "checkpoint line {n}: the sequence number or time is not a number"
            ));
        };
        if v != "v1" || hash.len() != 64 {
            return Err(format!("checkpoint line {n}: not a version 1 checkpoint"));
        }
        let c = Checkpoint {
            seq,
            hash: hash.to_string(),
            at: Timestamp(at),
        };
        if !same(signature(key, &c).as_bytes(), sig.as_bytes()) {
            return Err(format!(
                "checkpoint line {n}: not signed with this server's checkpoint key (forged, changed, or another key)"
            ));
        }
        if out.last().is_some_and(|p| p.seq > c.seq) {
            return Err(format!(
                "checkpoint line {n}: goes back from record {} to {} (lines reordered)",
                out.last().map_or(0, |p| p.seq),
                c.seq
            ));
        }
        out.push(c);
    }
    Ok(out)
}

/// What the checkpoints say of the audit log in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The log reaches the newest checkpoint with the same hash there.
    Reaches { checkpoint: u64, at: Timestamp },
    /// No checkpoint yet (a cut tail cannot be told).
    NoCheckpoints,
    /// The log ends before the newest checkpoint: its tail was cut.
    Cut {
        log_ends: u64,
        checkpoint: u64,
        at: Timestamp,
    },
    /// The record at the checkpoint is not the one checkpointed: the
    /// chain was rewritten.
    Rewritten { seq: u64, at: Timestamp },
}

/// Checks the newest checkpoint against the log: `last_seq` is the last
/// record in it, `hash_at` the hash of a record.
pub fn check(
    checkpoints: &[Checkpoint],
    last_seq: u64,
    hash_at: impl Fn(u64) -> Option<String>,
) -> Verdict {
    let Some(c) = checkpoints.last() else {
        return Verdict::NoCheckpoints;
    };
    if last_seq < c.seq {
        return Verdict::Cut {
            log_ends: last_seq,
            checkpoint: c.seq,
            at: c.at,
        };
    }
    match hash_at(c.seq) {
        Some(h) if h == c.hash => Verdict::Reaches {
            checkpoint: c.seq,
            at: c.at,
        },
        _ => Verdict::Rewritten {
            seq: c.seq,
            at: c.at,
        },
    }
}

/// The checkpoint file, written by the server.
pub struct Anchors {
    path: PathBuf,
    key: [u8; 32],
    /// The newest record checkpointed.
    last: u64,
}

impl Anchors {
    /// Opens the file at `path` (created 0600 when first written), with
    /// the key; picks up from its newest checkpoint. A file that does not
    /// check out is an error: the server does not start over it.
    pub fn open(path: &Path, key: [u8; 32]) -> Result<Anchors, String> {
        let last = match std::fs::read_to_string(path) {
            Ok(text) => parse(&key, &text)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .last()
                .map_or(0, |c| c.seq),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(Anchors {
            path: path.to_path_buf(),
            key,
            last,
        })
    }

    /// The checkpoints written so far (none before the first).
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, String> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => {
                parse(&self.key, &text).map_err(|e| format!("{}: {e}", self.path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(format!("{}: {e}", self.path.display())),
        }
    }

    /// Appends a checkpoint if the head moved since the last one (and
    /// syncs it to disk); the checkpoint written, if any.
    pub fn record(
        &mut self,
        head: Option<(u64, String)>,
        now: Timestamp,
    ) -> Result<Option<Checkpoint>, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let Some((seq, hash)) = head else {
            return Ok(None);
        };
        if seq <= self.last {
            return Ok(None);
        }
        let c = Checkpoint { seq, hash, at: now };
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        f.write_all(line(&self.key, &c).as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.last = seq;
        Ok(Some(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [9; 32];

    fn cp(seq: u64) -> Checkpoint {
        Checkpoint {
            seq,
            hash: format!("{seq:064x}"),
            at: Timestamp(1_000 * seq as i64),
        }
    }

    #[test]
    fn checkpoints_read_back_and_forgeries_are_named() {
        let text = format!("{}{}", line(&KEY, &cp(3)), line(&KEY, &cp(40)));
        assert_eq!(parse(&KEY, &text).unwrap(), vec![cp(3), cp(40)]);
        let e = parse(&[1; 32], &text).unwrap_err();
        assert!(e.starts_with("checkpoint line 1: not signed"), "{e}");
        let changed = text.replace(" 40 ", " 41 ");
        assert!(parse(&KEY, &changed)
            .unwrap_err()
            .starts_with("checkpoint line 2: not signed"));
        let reordered = format!("{}{}", line(&KEY, &cp(40)), line(&KEY, &cp(3)));
        assert!(parse(&KEY, &reordered)
            .unwrap_err()
            .contains("goes back from record 40 to 3"));
        assert!(parse(&KEY, "v1 x")
            .unwrap_err()
            .contains("not a checkpoint"));
    }

    #[test]
    fn a_cut_tail_and_a_rewritten_chain_are_found() {
        let cps = [cp(3), cp(40)];
        let hash = |s: u64| Some(format!("{s:064x}"));
        assert_eq!(
            check(&cps, 45, hash),
            Verdict::Reaches {
                checkpoint: 40,
                at: Timestamp(40_000)
            }
        );
        assert_eq!(
            check(&cps, 5, hash),
            Verdict::Cut {
                log_ends: 5,
                checkpoint: 40,
                at: Timestamp(40_000)
            }
        );
        assert_eq!(
            check(&cps, 45, |_| Some("0".repeat(64))),
            Verdict::Rewritten {
                seq: 40,
                at: Timestamp(40_000)
            }
        );
        assert_eq!(check(&[], 45, hash), Verdict::NoCheckpoints);
    }

    #[test]
    fn the_file_gets_a_line_only_when_the_head_moves() {
        let path = std::env::temp_dir().join(format!("sb-anchors-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut a = Anchors::open(&path, KEY).unwrap();
        let head = |s: u64| Some((s, format!("{s:064x}")));
        assert!(a.record(head(7), Timestamp(1)).unwrap().is_some());
        assert!(
            a.record(head(7), Timestamp(2)).unwrap().is_none(),
            "not moved"
        );
        assert!(a.record(None, Timestamp(2)).unwrap().is_none());
        assert!(a.record(head(9), Timestamp(3)).unwrap().is_some());
        let again = Anchors::open(&path, KEY).unwrap();
        assert_eq!(again.last, 9, "picks up where it was");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(parse(&KEY, &text).unwrap().len(), 2);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(Anchors::open(&path, [2; 32]).is_err(), "another key");
        let _ = std::fs::remove_file(&path);
    }
}
