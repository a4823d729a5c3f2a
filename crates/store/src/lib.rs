//! Durable storage: the routing engine's input log (the source of truth —
//! the engine is deterministic, so replaying the timed inputs rebuilds its
//! state exactly), snapshots of each organisation's engine and KPI state
//! (so a restart replays only the log's tail) and a hash-chained audit log.
//!
//! The log is versioned: each entry carries the format it was written in
//! ([`LOG_FORMAT`]), and a log from a newer Switchboard is refused with a
//! message rather than misread. A snapshot is only a cache of the log: one
//! that is damaged, or was written in another state format
//! ([`STATE_FORMAT`]), is passed over (and the reason said) and the log is
//! replayed from further back.
//!
//! Each organisation (tenant) has its own configuration and its own
//! engine; the log records which organisation each input belongs to, so
//! one organisation's state never mixes with another's.
//!
//! `Store` is the interface the server's engine task uses; `SqliteStore`
//! the embedded default. [`directory::Directory`] holds people, sessions,
//! tokens and patients on a second connection to the same database. SQL is kept portable for a PostgreSQL backend behind the same
//! trait. Driver types never leave this crate: errors are `StoreError`.

pub mod chat;
pub mod directory;
mod mfa;
mod notes;
pub mod pg;
pub mod quality;
pub mod recordings;
pub mod review;
pub mod written;
pub use mfa::{Passkey, Totp};
pub use notes::StoredNote;

use kpi::Kpi;
use model::{ContactId, NhsNumber, OrgId, PhoneNumber, Timestamp};
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
    #[error("{0}")]
    Conflict(String),
    /// The database was written by a newer Switchboard.
    #[error("{0}")]
    TooNew(String),
}

/// The format log entries are written in now. Entry `input` is the JSON
/// of a [`routing::Input`] as this version spells it. Raise it (and teach
/// [`decode_input`] the old one) when that spelling changes incompatibly;
/// `tests/fixtures/log-v1.sql` is a log written in format 1 that every
/// later version must still read.
pub const LOG_FORMAT: u32 = 1;

/// The format of snapshot state (postcard of [`TenantState`]). Any change
/// to the engine's or the KPI engine's fields changes it: the test
/// `the_snapshot_layout_is_pinned` fails until this is raised, so an old
/// snapshot is never misread (it is passed over, and the log replayed).
pub const STATE_FORMAT: u32 = 4;

/// One organisation's state as a snapshot holds it.
#[derive(Serialize, Deserialize)]
pub struct TenantState {
    pub engine: Engine,
    pub kpi: Kpi,
}

impl TenantState {
    /// The snapshot bytes of an engine and its KPIs (the same bytes as a
    /// `TenantState` holding them).
    pub fn encode(engine: &Engine, kpi: &Kpi) -> Result<Vec<u8>, StoreError> {
        postcard::to_allocvec(&(engine, kpi)).map_err(|e| StoreError::Db(format!("snapshot: {e}")))
    }

    /// State from snapshot bytes, checked: every byte used, the engine's
    /// indexes consistent.
    pub fn decode(bytes: &[u8]) -> Result<TenantState, String> {
        let (state, rest): (TenantState, _) =
            postcard::take_from_bytes(bytes).map_err(|e| format!("cannot be decoded ({e})"))?;
        if !rest.is_empty() {
            return Err(format!("has {} bytes left over", rest.len()));
        }
        state
            .engine
            .check_consistency()
            .map_err(|e| format!("is inconsistent ({e})"))?;
        Ok(state)
    }
}

/// KPI intervals closed for good, taken out of memory to be kept in the
/// store with the snapshot that no longer holds them (see
/// [`kpi::Kpi::retire`]).
#[derive(Debug, Clone, Default)]
pub struct Retired {
    /// Every interval before this is in the store, none after.
    pub before: Timestamp,
    pub rows: Vec<(kpi::Dimension, Timestamp, kpi::Counts)>,
}

/// A snapshot found: where it stands, and the state.
pub type Snapshot = (SnapshotInfo, TenantState);

/// How a snapshot was written and where it stands in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub org: OrgId,
    /// The last log entry the state includes.
    pub seq: u64,
    pub at: Timestamp,
    pub bytes: usize,
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
    /// The organisation whose data it was (none for system actions).
    pub org: Option<OrgId>,
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

/// Who is calling, as the contact arrived: the caller's number and an NHS
/// number if the caller gave one (in the IVR, or a web form). Matched
/// against the patient directory for the screen pop. Redacted in logs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CallerIdentity {
    pub phone: Option<PhoneNumber>,
    pub nhs_number: Option<NhsNumber>,
}

/// How a contact ended, as the agent recorded it at wrap-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub org: OrgId,
    pub contact: ContactId,
    pub agent: model::AgentId,
    /// One of the outcome codes (e.g. `resolved`, `booked`).
    pub code: String,
    pub at: Timestamp,
    /// The agent's wrap-up notes, sealed (`app::seal`); never serialised.
    #[serde(skip)]
    pub note: Option<Sealed>,
}

/// A text sealed at rest: its data key wrapped under the key-encryption
/// key (nonce, ciphertext, tag) and the text under the data key (nonce,
/// ciphertext, tag). Nothing here can be read without the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub wrapped_key: Vec<u8>,
    pub text: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.text.len())
    }
}

/// What one commit writes.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub inputs: Vec<(OrgId, Timestamp, Input)>,
    pub audit: Vec<AuditRecord>,
    /// Who is calling, for each new contact: `None` removes any identity
    /// kept under that id, so an identity never outlives its contact.
    pub callers: Vec<(OrgId, ContactId, Option<CallerIdentity>)>,
    pub outcomes: Vec<Outcome>,
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
    /// The organisations, in id order.
    fn organisations(&self) -> Result<Vec<(OrgId, String)>, StoreError>;
    /// Creates an organisation whose log starts from `config` at `at`.
    fn create_organisation(
        &mut self,
        name: &str,
        config: &Config,
        at: Timestamp,
    ) -> Result<OrgId, StoreError>;
    /// The configuration an organisation's log starts from, and when.
    fn initial_config(&self, org: OrgId) -> Result<Option<(Config, Timestamp)>, StoreError>;
    /// Appends timed inputs, each for its organisation, in one transaction
    /// with what goes with them (audit records, callers' identities,
    /// wrap-up outcomes); durable when it returns (commit before
    /// acknowledging). Returns the last sequence number.
    fn append(&mut self, batch: &Batch) -> Result<u64, StoreError>;
    /// Every logged input of every organisation after sequence number
    /// `after`, in order.
    fn for_each_input(
        &self,
        after: u64,
        f: &mut dyn FnMut(u64, OrgId, Timestamp, Input),
    ) -> Result<u64, StoreError>;
    /// Keeps `engine` and `kpi` as organisation `org`'s state after log
    /// entry `seq`, with the KPI intervals `retired` from it, in one
    /// transaction (and drops all but the two latest snapshots of it).
    fn save_snapshot(
        &mut self,
        org: OrgId,
        seq: u64,
        engine: &Engine,
        kpi: &Kpi,
        retired: &Retired,
    ) -> Result<SnapshotInfo, StoreError>;
    /// Where an organisation's KPI history in the store ends: its
    /// intervals before this are kept there, not in memory.
    fn kpi_retired_before(&self, org: OrgId) -> Result<Option<Timestamp>, StoreError>;
    /// The latest usable snapshot of `org`, with a note for each later
    /// one passed over and why.
    fn latest_snapshot(&self, org: OrgId) -> Result<(Option<Snapshot>, Vec<String>), StoreError>;
    /// The last sequence number in the log (0 if empty).
    fn last_seq(&self) -> Result<u64, StoreError>;
    fn append_audit(&mut self, record: &AuditRecord) -> Result<u64, StoreError>;
    /// The next unused contact id: above every contact id in the log (a
    /// persisted sequence, moved on by [`Store::append`]).
    fn next_contact_id(&self) -> Result<u64, StoreError>;
    fn verify_audit(&self) -> Result<AuditCheck, StoreError>;
}

/// Rebuilds one organisation's engine from a store: its latest snapshot
/// (or initial configuration), then every later logged input of that
/// organisation replayed in order. Inputs the engine refused when they
/// were first given are refused again, identically.
pub fn recover(store: &dyn Store, org: OrgId) -> Result<Engine, StoreError> {
    let mut all = recover_all(store, &|c| {
        Kpi::new(kpi::KpiConfig::from_routing(
            model::DurationMs::from_secs(15 * 60),
            c,
        ))
    })?;
    all.tenants
        .remove(&org)
        .map(|t| t.state.engine)
        .ok_or(StoreError::Empty)
}

/// One organisation's state rebuilt, and how.
pub struct Recovered {
    pub state: TenantState,
    /// The snapshot it started from, if any.
    pub snapshot: Option<SnapshotInfo>,
    /// Log entries replayed on top.
    pub replayed: u64,
}

/// Every organisation's state, and what the operator should know about
/// how it was rebuilt (snapshots passed over).
pub struct Recovery {
    pub tenants: std::collections::BTreeMap<OrgId, Recovered>,
    pub notes: Vec<String>,
    /// The last sequence number in the log.
    pub last_seq: u64,
}

/// Every organisation's engine and KPIs, rebuilt in one pass over the
/// log's tail: each starts from its latest usable snapshot (or from its
/// initial configuration, with `fresh_kpi` of it) and replays the entries
/// after it, its KPIs observing every event.
pub fn recover_all(
    store: &dyn Store,
    fresh_kpi: &dyn Fn(&Config) -> Kpi,
) -> Result<Recovery, StoreError> {
    let mut tenants = std::collections::BTreeMap::new();
    let mut notes = Vec::new();
    for (org, _) in store.organisations()? {
        let (found, mut passed) = store.latest_snapshot(org)?;
        notes.append(&mut passed);
        let recovered = match found {
            Some((info, state)) => Recovered {
                state,
                snapshot: Some(info),
                replayed: 0,
            },
            None => {
                let (config, at) = store.initial_config(org)?.ok_or(StoreError::Empty)?;
                let engine = Engine::new(config.clone(), at).map_err(|e| StoreError::Decode {
                    seq: 0,
                    problem: format!("{org}: {e}"),
                })?;
                Recovered {
                    state: TenantState {
                        engine,
                        kpi: fresh_kpi(&config),
                    },
                    snapshot: None,
                    replayed: 0,
                }
            }
        };
        tenants.insert(org, recovered);
    }
    let from = tenants
        .values()
        .map(|t: &Recovered| t.snapshot.as_ref().map_or(0, |s| s.seq))
        .min()
        .unwrap_or(0);
    let mut problem = None;
    store.for_each_input(
        from,
        &mut |seq, org, t, input| match tenants.get_mut(&org) {
            Some(r) if r.snapshot.as_ref().is_some_and(|s| seq <= s.seq) => {}
            Some(r) => {
                let TenantState { engine, kpi } = &mut r.state;
                let _ = engine.handle(t, input);
                let out: Vec<_> = engine.drain_output().collect();
                for rec in &out {
                    // The KPIs follow configuration changes, as live.
                    if matches!(rec.event, routing::Event::Reconfigured { .. }) {
                        kpi.follow_config(&engine.config());
                    }
                    kpi.observe(rec);
                }
                r.replayed += 1;
            }
            None => {
                problem.get_or_insert(StoreError::Decode {
                    seq,
                    problem: format!("input for unknown organisation {org}"),
                });
            }
        },
    )?;
    match problem {
        Some(p) => Err(p),
        None => Ok(Recovery {
            tenants,
            notes,
            last_seq: store.last_seq()?,
        }),
    }
}

/// Contact ids the sequence hands out stay below this (2^53), so every
/// JSON client, JavaScript's included, reads them exactly. Ids at or above
/// it in an old log (clinical callbacks once took ids from 2^62) do not
/// move the sequence: it can never reach them.
pub const MAX_SEQUENTIAL_ID: u64 = 1 << 53;

/// The id of the contact an input brings in, if it brings one.
pub fn new_contact_id(input: &Input) -> Option<ContactId> {
    match input {
        Input::Arrive(nc) | Input::ScheduleCallback { contact: nc, .. } => Some(nc.id),
        _ => None,
    }
}

/// The embedded SQLite store: one file in the data directory.
pub struct SqliteStore {
    db: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS organisations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS input_log (
    seq INTEGER PRIMARY KEY,
    org INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    input TEXT NOT NULL,
    v INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS kpi_history (
    org INTEGER NOT NULL,
    dimension TEXT NOT NULL,
    interval_ms INTEGER NOT NULL,
    counts TEXT NOT NULL,
    waits BLOB NOT NULL,
    PRIMARY KEY (org, interval_ms, dimension)
);
CREATE TABLE IF NOT EXISTS kpi_retired (org INTEGER PRIMARY KEY, before_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    org INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    format INTEGER NOT NULL,
    written_by TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (org, seq)
);
CREATE TABLE IF NOT EXISTS contact_callers (
    org INTEGER NOT NULL,
    contact INTEGER NOT NULL,
    phone TEXT,
    nhs_number TEXT,
    PRIMARY KEY (org, contact)
);
CREATE TABLE IF NOT EXISTS contact_outcomes (
    org INTEGER NOT NULL,
    contact INTEGER NOT NULL,
    agent INTEGER NOT NULL,
    code TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (org, contact, agent)
);
CREATE TABLE IF NOT EXISTS contact_notes (
    org INTEGER NOT NULL,
    contact INTEGER NOT NULL,
    agent INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    wrapped_key BLOB NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (org, contact, agent)
);
CREATE TABLE IF NOT EXISTS recordings (
    org INTEGER NOT NULL,
    id INTEGER NOT NULL,
    contact INTEGER,
    agent INTEGER,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER,
    bytes INTEGER NOT NULL DEFAULT 0,
    paused_ms INTEGER NOT NULL DEFAULT 0,
    expires_ms INTEGER NOT NULL,
    wrapped_key BLOB,
    destroyed_ms INTEGER,
    file TEXT NOT NULL,
    PRIMARY KEY (org, id)
);
CREATE INDEX IF NOT EXISTS recordings_expiry ON recordings (expires_ms) WHERE wrapped_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS recordings_contact ON recordings (org, contact);
CREATE TABLE IF NOT EXISTS recording_holds (
    org INTEGER NOT NULL,
    id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    held_by TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (org, id)
);
CREATE TABLE IF NOT EXISTS scorecards (
    org INTEGER NOT NULL,
    id INTEGER NOT NULL,
    definition TEXT NOT NULL,
    changed_ms INTEGER NOT NULL,
    PRIMARY KEY (org, id)
);
CREATE TABLE IF NOT EXISTS evaluations (
    org INTEGER NOT NULL,
    id INTEGER NOT NULL,
    scorecard INTEGER NOT NULL,
    definition TEXT NOT NULL,
    recording INTEGER NOT NULL,
    contact INTEGER,
    agent INTEGER NOT NULL,
    evaluator TEXT NOT NULL,
    evaluator_user INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    answers TEXT NOT NULL,
    score REAL NOT NULL,
    failed TEXT NOT NULL,
    by_question TEXT NOT NULL,
    comment_key BLOB,
    comment BLOB,
    PRIMARY KEY (org, id)
);
CREATE INDEX IF NOT EXISTS evaluations_agent ON evaluations (org, agent, at_ms);
CREATE INDEX IF NOT EXISTS evaluations_recording ON evaluations (org, recording);
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    org INTEGER,
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

pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(crate) fn audit_hash(prev: &str, seq: u64, r: &AuditRecord) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &seq.to_string(),
        &r.at.as_ms().to_string(),
        &r.org.map_or(String::new(), |o| o.0.to_string()),
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
        let db = Connection::open(private_db_file(dir)?)?;
        // Durable on commit; readers do not block the writer.
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        let old: bool = db.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'input_log')
               AND NOT EXISTS (SELECT 1 FROM pragma_table_info('input_log') WHERE name = 'org')",
            [],
            |r| r.get(0),
        )?;
        if old {
            return Err(StoreError::Db(format!(
                "{} was written by an older Switchboard (before organisations); start with a new --data directory",
                dir.display()
            )));
        }
        let has_meta: bool = db.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'meta')",
            [],
            |r| r.get(0),
        )?;
        let format: Option<String> = if has_meta {
            db.query_row("SELECT value FROM meta WHERE key = 'log_format'", [], |r| {
                r.get(0)
            })
            .optional()?
        } else {
            None
        };
        if let Some(f) = format {
            match f.parse::<u32>() {
                Ok(f) if f <= LOG_FORMAT => {}
                _ => {
                    return Err(StoreError::TooNew(format!(
                        "{} holds a log in format {f}, written by a newer Switchboard; this one reads formats up to {LOG_FORMAT}: run the newer version (nothing was changed)",
                        dir.display()
                    )))
                }
            }
        }
        db.execute_batch(SCHEMA)?;
        db.execute_batch(directory::SCHEMA)?;
        // A log written before entries carried their format: all of it is
        // format 1.
        let unversioned: bool = db.query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM pragma_table_info('input_log') WHERE name = 'v')",
            [],
            |r| r.get(0),
        )?;
        if unversioned {
            db.execute_batch("ALTER TABLE input_log ADD COLUMN v INTEGER NOT NULL DEFAULT 1")?;
        }
        db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('log_format', ?1)",
            params![LOG_FORMAT.to_string()],
        )?;
        // A log written before the contact id sequence: start it past
        // every contact id the log holds (clients chose them then). Once
        // only: this reads the whole log.
        let sequenced: bool = db.query_row(
            "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'next_contact_id')",
            [],
            |r| r.get(0),
        )?;
        if !sequenced {
            db.execute(
                "INSERT INTO meta (key, value)
                 SELECT 'next_contact_id', CAST(COALESCE(MAX(id), 0) + 1 AS TEXT)
                 FROM (SELECT COALESCE(
                     json_extract(input, '$.arrive.id'),
                     json_extract(input, '$.schedule_callback.contact.id')) AS id
                     FROM input_log)
                 WHERE id < ?1",
                params![MAX_SEQUENTIAL_ID as i64],
            )?;
        }
        Ok(SqliteStore { db })
    }
}

/// The database file in `dir`, readable by the server's user only: the
/// folder is made 0700 if we create it, and the file (with its WAL and
/// shared-memory files, which SQLite creates with the file's mode) is
/// 0600, made so if an older version left it readable by others.
pub fn private_db_file(dir: &Path) -> Result<std::path::PathBuf, StoreError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let fail = |what: &Path, e: std::io::Error| {
        StoreError::Db(format!("cannot create {}: {e}", what.display()))
    };
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail(dir, e))?;
    }
    let file = dir.join("switchboard.db");
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&file)
        .map_err(|e| fail(&file, e))?;
    for name in ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"] {
        let path = dir.join(name);
        if let Ok(m) = std::fs::metadata(&path) {
            if m.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| fail(&path, e))?;
            }
        }
    }
    Ok(file)
}

/// Appends one audit record inside `tx`, chained to the one before.
pub(crate) fn append_audit_tx(
    tx: &rusqlite::Transaction<'_>,
    r: &AuditRecord,
) -> Result<u64, StoreError> {
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
        "INSERT INTO audit_log (seq, at_ms, org, actor, action, subject, patient, purpose, origin, outcome, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![seq as i64, r.at.as_ms(), r.org.map(|o| o.0), r.actor, r.action, r.subject, r.patient, r.purpose, r.origin, r.outcome, prev, hash],
    )?;
    Ok(seq)
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    seq: u64,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Decode {
        seq,
        problem: e.to_string(),
    })
}

/// A log entry's input from its stored form, by the format it was
/// written in.
pub fn decode_input(seq: u64, format: u32, text: &str) -> Result<Input, StoreError> {
    match format {
        1 => decode(seq, text),
        f => Err(StoreError::TooNew(format!(
            "log entry {seq} is in format {f}, written by a newer Switchboard; this one reads formats up to {LOG_FORMAT}"
        ))),
    }
}

/// A stored snapshot if this version can use it, else the note saying
/// why it is passed over (a newer format, damaged, unreadable).
pub(crate) fn usable_snapshot(
    org: OrgId,
    seq: u64,
    at: Timestamp,
    format: u32,
    by: &str,
    sum: &str,
    bytes: &[u8],
) -> Result<Snapshot, String> {
    let passed = |why: String| {
        format!(
            "{org}: the snapshot after log entry {seq} (written by Switchboard {by}) {why}; the log is replayed from further back instead"
        )
    };
    if format != STATE_FORMAT {
        return Err(passed(format!(
            "is in state format {format}, this version's is {STATE_FORMAT}"
        )));
    }
    if sha256_hex(bytes) != sum {
        return Err(passed("is damaged (its checksum does not match)".into()));
    }
    let state = TenantState::decode(bytes).map_err(passed)?;
    let info = SnapshotInfo {
        org,
        seq,
        at,
        bytes: bytes.len(),
    };
    Ok((info, state))
}

/// The contact id sequence's next value after a batch: past every new
/// contact id it used (ids beyond the sequential range are left alone).
pub(crate) fn next_contact_after(batch: &Batch) -> Option<u64> {
    batch
        .inputs
        .iter()
        .filter_map(|(_, _, i)| new_contact_id(i))
        .filter(|id| id.0 < MAX_SEQUENTIAL_ID)
        .max()
        .map(|max| max.0 + 1)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Db(e.to_string()))
}

impl Store for SqliteStore {
    fn organisations(&self) -> Result<Vec<(OrgId, String)>, StoreError> {
        let mut st = self
            .db
            .prepare("SELECT id, name FROM organisations ORDER BY id")?;
        let rows = st.query_map([], |r| Ok((OrgId(r.get(0)?), r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn create_organisation(
        &mut self,
        name: &str,
        config: &Config,
        at: Timestamp,
    ) -> Result<OrgId, StoreError> {
        let tx = self.db.transaction()?;
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM organisations WHERE name = ?1)",
            params![name],
            |r| r.get(0),
        )?;
        if taken {
            return Err(StoreError::Conflict(format!(
                "an organisation named {name:?} exists"
            )));
        }
        tx.execute(
            "INSERT INTO organisations (name, config, at_ms) VALUES (?1, ?2, ?3)",
            params![name, encode(config)?, at.as_ms()],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(OrgId(id as u32))
    }

    fn initial_config(&self, org: OrgId) -> Result<Option<(Config, Timestamp)>, StoreError> {
        let v: Option<(String, i64)> = self
            .db
            .query_row(
                "SELECT config, at_ms FROM organisations WHERE id = ?1",
                params![org.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((v, at)) = v else { return Ok(None) };
        Ok(Some((decode(0, &v)?, Timestamp(at))))
    }

    fn append(&mut self, batch: &Batch) -> Result<u64, StoreError> {
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO input_log (org, at_ms, input, v) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (org, t, input) in &batch.inputs {
                st.execute(params![org.0, t.as_ms(), encode(input)?, LOG_FORMAT])?;
            }
        }
        for r in &batch.audit {
            append_audit_tx(&tx, r)?;
        }
        for o in &batch.outcomes {
            tx.execute(
                "INSERT OR REPLACE INTO contact_outcomes (org, contact, agent, code, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![o.org.0, o.contact.0 as i64, o.agent.0, o.code, o.at.as_ms()],
            )?;
            if let Some(n) = &o.note {
                tx.execute(
                    "INSERT OR REPLACE INTO contact_notes (org, contact, agent, at_ms, wrapped_key, sealed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![o.org.0, o.contact.0 as i64, o.agent.0, o.at.as_ms(), n.wrapped_key, n.text],
                )?;
            }
        }
        for (org, contact, who) in &batch.callers {
            match who {
                Some(who) => tx.execute(
                    "INSERT OR REPLACE INTO contact_callers (org, contact, phone, nhs_number) VALUES (?1, ?2, ?3, ?4)",
                    params![
                        org.0,
                        contact.0 as i64,
                        who.phone.as_ref().map(|p| p.expose().to_string()),
                        who.nhs_number.map(|n| n.expose())
                    ],
                )?,
                None => tx.execute(
                    "DELETE FROM contact_callers WHERE org = ?1 AND contact = ?2",
                    params![org.0, contact.0 as i64],
                )?,
            };
        }
        // The contact id sequence moves past every id this batch used.
        if let Some(next) = next_contact_after(batch) {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('next_contact_id', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value
                 WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
                params![next.to_string()],
            )?;
        }
        let last: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM input_log", [], |r| {
            r.get(0)
        })?;
        tx.commit()?;
        Ok(last as u64)
    }

    fn for_each_input(
        &self,
        after: u64,
        f: &mut dyn FnMut(u64, OrgId, Timestamp, Input),
    ) -> Result<u64, StoreError> {
        let mut st = self.db.prepare(
            "SELECT seq, org, at_ms, input, v FROM input_log WHERE seq > ?1 ORDER BY seq",
        )?;
        let mut rows = st.query(params![after as i64])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let org: u32 = row.get(1)?;
            let at: i64 = row.get(2)?;
            let text: String = row.get(3)?;
            let input = decode_input(seq as u64, row.get(4)?, &text)?;
            f(seq as u64, OrgId(org), Timestamp(at), input);
            n += 1;
        }
        Ok(n)
    }

    fn save_snapshot(
        &mut self,
        org: OrgId,
        seq: u64,
        engine: &Engine,
        kpi: &Kpi,
        retired: &Retired,
    ) -> Result<SnapshotInfo, StoreError> {
        let bytes = TenantState::encode(engine, kpi)?;
        let at = engine.now();
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO kpi_history (org, dimension, interval_ms, counts, waits)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (d, start, c) in &retired.rows {
                let waits: Vec<u8> = c.waits_ms.iter().flat_map(|w| w.to_le_bytes()).collect();
                st.execute(params![org.0, encode(d)?, start.as_ms(), encode(c)?, waits])?;
            }
        }
        tx.execute(
            "INSERT INTO kpi_retired (org, before_ms) VALUES (?1, ?2)
             ON CONFLICT (org) DO UPDATE SET before_ms = MAX(before_ms, excluded.before_ms)",
            params![org.0, retired.before.as_ms()],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO snapshots (org, seq, at_ms, format, written_by, sha256, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                org.0,
                seq as i64,
                at.as_ms(),
                STATE_FORMAT,
                env!("CARGO_PKG_VERSION"),
                sha256_hex(&bytes),
                bytes
            ],
        )?;
        tx.execute(
            "DELETE FROM snapshots WHERE org = ?1 AND seq < (
                 SELECT MIN(seq) FROM (SELECT seq FROM snapshots WHERE org = ?1 ORDER BY seq DESC LIMIT 2))",
            params![org.0],
        )?;
        tx.commit()?;
        Ok(SnapshotInfo {
            org,
            seq,
            at,
            bytes: bytes.len(),
        })
    }

    fn latest_snapshot(&self, org: OrgId) -> Result<(Option<Snapshot>, Vec<String>), StoreError> {
        let mut st = self.db.prepare(
            "SELECT seq, at_ms, format, written_by, sha256, state FROM snapshots
             WHERE org = ?1 ORDER BY seq DESC",
        )?;
        let mut rows = st.query(params![org.0])?;
        let mut notes = Vec::new();
        while let Some(row) = rows.next()? {
            let seq = row.get::<_, i64>(0)? as u64;
            let at = Timestamp(row.get(1)?);
            let format: u32 = row.get(2)?;
            let by: String = row.get(3)?;
            let sum: String = row.get(4)?;
            let bytes: Vec<u8> = row.get(5)?;
            match usable_snapshot(org, seq, at, format, &by, &sum, &bytes) {
                Ok(snapshot) => return Ok((Some(snapshot), notes)),
                Err(note) => notes.push(note),
            }
        }
        Ok((None, notes))
    }

    fn kpi_retired_before(&self, org: OrgId) -> Result<Option<Timestamp>, StoreError> {
        let v: Option<i64> = self
            .db
            .query_row(
                "SELECT before_ms FROM kpi_retired WHERE org = ?1",
                params![org.0],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.map(Timestamp))
    }

    fn last_seq(&self) -> Result<u64, StoreError> {
        let last: i64 =
            self.db
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM input_log", [], |r| {
                    r.get(0)
                })?;
        Ok(last as u64)
    }

    fn next_contact_id(&self) -> Result<u64, StoreError> {
        let v: Option<String> = self
            .db
            .query_row(
                "SELECT value FROM meta WHERE key = 'next_contact_id'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match v {
            Some(v) => v.parse().map_err(|_| StoreError::Decode {
                seq: 0,
                problem: format!("the contact id sequence holds {v:?}, not a number"),
            }),
            None => Ok(1),
        }
    }

    fn append_audit(&mut self, r: &AuditRecord) -> Result<u64, StoreError> {
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let seq = append_audit_tx(&tx, r)?;
        tx.commit()?;
        Ok(seq)
    }

    fn verify_audit(&self) -> Result<AuditCheck, StoreError> {
        verify_audit_chain(&self.db)
    }
}

/// Checks the whole audit chain in the database: every record present,
/// each following the one before, none changed since written.
pub(crate) fn verify_audit_chain(db: &rusqlite::Connection) -> Result<AuditCheck, StoreError> {
    let mut st = db.prepare(
        "SELECT seq, at_ms, org, actor, action, subject, patient, purpose, origin, outcome, prev_hash, hash FROM audit_log ORDER BY seq",
    )?;
    let mut rows = st.query([])?;
    let mut chain = ChainCheck::default();
    while let Some(row) = rows.next()? {
        let seq = row.get::<_, i64>(0)? as u64;
        let r = audit_row(row)?;
        if let Some(broken) = chain.next(seq, &r, &row.get::<_, String>(10)?, row.get(11)?) {
            return Ok(broken);
        }
    }
    Ok(chain.end())
}

/// The audit chain checked record by record, in sequence order (the
/// same rules whatever the database).
#[derive(Default)]
pub(crate) struct ChainCheck {
    /// The records so far, and the hash of the last.
    records: u64,
    prev: Option<String>,
}

impl ChainCheck {
    /// The next record: `None` if it fits the chain, else why not.
    pub(crate) fn next(
        &mut self,
        seq: u64,
        r: &AuditRecord,
        stored_prev: &str,
        stored_hash: String,
    ) -> Option<AuditCheck> {
        let expect_seq = self.records + 1;
        let prev = self.prev.as_deref().unwrap_or(GENESIS);
        if seq != expect_seq {
            return Some(AuditCheck::Broken {
                seq: expect_seq,
                problem: format!("record {expect_seq} is missing"),
            });
        }
        if stored_prev != prev {
            return Some(AuditCheck::Broken {
                seq,
                problem: "does not follow the record before it (removed or reordered)".into(),
            });
        }
        if audit_hash(prev, seq, r) != stored_hash {
            return Some(AuditCheck::Broken {
                seq,
                problem: "was changed after it was written".into(),
            });
        }
        self.prev = Some(stored_hash);
        self.records = expect_seq;
        None
    }

    pub(crate) fn end(self) -> AuditCheck {
        AuditCheck::Intact {
            records: self.records,
        }
    }
}

/// An audit record from a row of `seq, at_ms, org, actor, action, subject,
/// patient, purpose, origin, outcome, ...`.
pub(crate) fn audit_row(row: &rusqlite::Row<'_>) -> Result<AuditRecord, rusqlite::Error> {
    Ok(AuditRecord {
        at: Timestamp(row.get(1)?),
        org: row.get::<_, Option<u32>>(2)?.map(OrgId),
        actor: row.get(3)?,
        action: row.get(4)?,
        subject: row.get(5)?,
        patient: row.get(6)?,
        purpose: row.get(7)?,
        origin: row.get(8)?,
        outcome: row.get(9)?,
    })
}
