//! Durable storage: the routing engine's input log (the source of truth —
//! the engine is deterministic, so replaying the timed inputs rebuilds its
//! state exactly) and a hash-chained audit log.
//!
//! `Store` is the interface the server uses; `SqliteStore` the embedded
//! default. SQL is kept portable for a PostgreSQL backend behind the same
//! trait. Driver types never leave this crate: errors are `StoreError`.

use model::Timestamp;
use routing::{Config, Engine, Input};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(String),
    #[error("log record {seq} cannot be read: {problem}")]
    Decode { seq: u64, problem: String },
    #[error("the store holds no configuration yet")]
    Empty,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

/// One audit record: who did what to which (patient's) data, when, from
/// where, why, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// Patient identifier if patient data was involved (stored, never
    /// logged).
    pub patient: Option<String>,
    pub purpose: Option<String>,
    pub origin: Option<String>,
    pub outcome: String,
}

/// The result of checking the audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditCheck {
    Intact {
        records: u64,
    },
    /// The first record that does not fit the chain, and why.
    Broken {
        seq: u64,
        problem: String,
    },
}

/// What the server needs from storage.
pub trait Store {
    /// The configuration the log starts from, and when.
    fn initial_config(&self) -> Result<Option<(Config, Timestamp)>, StoreError>;
    fn set_initial_config(&mut self, config: &Config, at: Timestamp) -> Result<(), StoreError>;
    /// Appends timed inputs in one transaction, durable when it returns
    /// (commit before acknowledging). Returns the last sequence number.
    fn append_inputs(&mut self, batch: &[(Timestamp, Input)]) -> Result<u64, StoreError>;
    /// Every logged input, in order.
    fn for_each_input(&self, f: &mut dyn FnMut(u64, Timestamp, Input)) -> Result<u64, StoreError>;
    fn append_audit(&mut self, record: &AuditRecord) -> Result<u64, StoreError>;
    fn verify_audit(&self) -> Result<AuditCheck, StoreError>;
}

/// Rebuilds the engine from a store: its initial configuration, then every
/// logged input replayed in order. Inputs the engine refused when they were
/// first given are refused again, identically.
pub fn recover(store: &dyn Store) -> Result<Engine, StoreError> {
    recover_observing(store, &mut |_| {})
}

/// [`recover`], handing every event the replay gives to `observe` (the
/// server rebuilds its live KPIs this way).
pub fn recover_observing(
    store: &dyn Store,
    observe: &mut dyn FnMut(&routing::Record),
) -> Result<Engine, StoreError> {
    let (config, at) = store.initial_config()?.ok_or(StoreError::Empty)?;
    let mut engine = Engine::new(config, at).map_err(|e| StoreError::Decode {
        seq: 0,
        problem: e.to_string(),
    })?;
    store.for_each_input(&mut |_, t, input| {
        let _ = engine.handle(t, input);
        engine.drain_output().for_each(|r| observe(&r));
    })?;
    Ok(engine)
}

/// The embedded SQLite store: one file in the data directory.
pub struct SqliteStore {
    db: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS input_log (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    input TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    patient TEXT,
    purpose TEXT,
    origin TEXT,
    outcome TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
";

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn audit_hash(prev: &str, seq: u64, r: &AuditRecord) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &seq.to_string(),
        &r.at.as_ms().to_string(),
        &r.actor,
        &r.action,
        &r.subject,
        r.patient.as_deref().unwrap_or("\u{0}"),
        r.purpose.as_deref().unwrap_or("\u{0}"),
        r.origin.as_deref().unwrap_or("\u{0}"),
        &r.outcome,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl SqliteStore {
    /// Opens (creating if needed) `switchboard.db` in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Db(format!("cannot create {}: {e}", dir.display())))?;
        let db = Connection::open(dir.join("switchboard.db"))?;
        // Durable on commit; readers do not block the writer.
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(SCHEMA)?;
        Ok(SqliteStore { db })
    }
}

impl Store for SqliteStore {
    fn initial_config(&self) -> Result<Option<(Config, Timestamp)>, StoreError> {
        let v: Option<String> = self
            .db
            .query_row(
                "SELECT value FROM meta WHERE key = 'initial_config'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let Some(v) = v else { return Ok(None) };
        let (c, at): (Config, i64) = serde_json::from_str(&v).map_err(|e| StoreError::Decode {
            seq: 0,
            problem: e.to_string(),
        })?;
        Ok(Some((c, Timestamp(at))))
    }

    fn set_initial_config(&mut self, config: &Config, at: Timestamp) -> Result<(), StoreError> {
        let v = serde_json::to_string(&(config, at.as_ms()))
            .map_err(|e| StoreError::Db(e.to_string()))?;
        self.db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('initial_config', ?1)",
            params![v],
        )?;
        Ok(())
    }

    fn append_inputs(&mut self, batch: &[(Timestamp, Input)]) -> Result<u64, StoreError> {
        let tx = self.db.transaction()?;
        {
            let mut st =
                tx.prepare_cached("INSERT INTO input_log (at_ms, input) VALUES (?1, ?2)")?;
            for (t, input) in batch {
                let json =
                    serde_json::to_string(input).map_err(|e| StoreError::Db(e.to_string()))?;
                st.execute(params![t.as_ms(), json])?;
            }
        }
        let last: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM input_log", [], |r| {
            r.get(0)
        })?;
        tx.commit()?;
        Ok(last as u64)
    }

    fn for_each_input(&self, f: &mut dyn FnMut(u64, Timestamp, Input)) -> Result<u64, StoreError> {
        let mut st = self
            .db
            .prepare("SELECT seq, at_ms, input FROM input_log ORDER BY seq")?;
        let mut rows = st.query([])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let at: i64 = row.get(1)?;
            let text: String = row.get(2)?;
            let input: Input = serde_json::from_str(&text).map_err(|e| StoreError::Decode {
                seq: seq as u64,
                problem: e.to_string(),
            })?;
            f(seq as u64, Timestamp(at), input);
            n += 1;
        }
        Ok(n)
    }

    fn append_audit(&mut self, r: &AuditRecord) -> Result<u64, StoreError> {
        let tx = self.db.transaction()?;
        let last: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let (seq, prev) = match last {
            Some((s, h)) => (s as u64 + 1, h),
            None => (1, GENESIS.to_string()),
        };
        let hash = audit_hash(&prev, seq, r);
        tx.execute(
            "INSERT INTO audit_log (seq, at_ms, actor, action, subject, patient, purpose, origin, outcome, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![seq as i64, r.at.as_ms(), r.actor, r.action, r.subject, r.patient, r.purpose, r.origin, r.outcome, prev, hash],
        )?;
        tx.commit()?;
        Ok(seq)
    }

    fn verify_audit(&self) -> Result<AuditCheck, StoreError> {
        let mut st = self.db.prepare(
            "SELECT seq, at_ms, actor, action, subject, patient, purpose, origin, outcome, prev_hash, hash FROM audit_log ORDER BY seq",
        )?;
        let mut rows = st.query([])?;
        let mut expect_seq = 1u64;
        let mut prev = GENESIS.to_string();
        while let Some(row) = rows.next()? {
            let seq = row.get::<_, i64>(0)? as u64;
            let r = AuditRecord {
                at: Timestamp(row.get(1)?),
                actor: row.get(2)?,
                action: row.get(3)?,
                subject: row.get(4)?,
                patient: row.get(5)?,
                purpose: row.get(6)?,
                origin: row.get(7)?,
                outcome: row.get(8)?,
            };
            let (stored_prev, stored_hash): (String, String) = (row.get(9)?, row.get(10)?);
            if seq != expect_seq {
                return Ok(AuditCheck::Broken {
                    seq: expect_seq,
                    problem: format!("record {expect_seq} is missing"),
                });
            }
            if stored_prev != prev {
                return Ok(AuditCheck::Broken {
                    seq,
                    problem: "does not follow the record before it (removed or reordered)".into(),
                });
            }
            if audit_hash(&prev, seq, &r) != stored_hash {
                return Ok(AuditCheck::Broken {
                    seq,
                    problem: "was changed after it was written".into(),
                });
            }
            prev = stored_hash;
            expect_seq += 1;
        }
        Ok(AuditCheck::Intact {
            records: expect_seq - 1,
        })
    }
}
