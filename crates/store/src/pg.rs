//! PostgreSQL behind the same [`Store`] trait as SQLite (issue 18's first
//! part): the input log, snapshots, the KPI history, callers' identities,
//! wrap-up outcomes and notes, and the audit chain, with the same rules
//! and the same answers (`tests/conformance.rs` runs one suite against
//! both). Durable when a call returns: PostgreSQL's commit (synchronous
//! commit, its default) comes before the answer.
//!
//! Sequence numbers (the log's and the audit chain's) are given out under
//! a table lock inside the writing transaction, not by a PostgreSQL
//! sequence: a sequence leaves gaps when a transaction rolls back, and
//! both chains must have none.
//!
//! Not yet here: the directory's tables (people, patients, the Directory
//! of Services, chats, outboxes), the lease with its fencing epoch, and
//! `serve --store postgres://…`; see the closing notes.

use crate::{
    decode, decode_input, encode, next_contact_after, sha256_hex, usable_snapshot, AuditCheck,
    AuditRecord, Batch, ChainCheck, Retired, Snapshot, SnapshotInfo, Store, StoreError,
    TenantState, LOG_FORMAT, STATE_FORMAT,
};
use kpi::Kpi;
use model::{OrgId, Timestamp};
use postgres::{Client, NoTls, Transaction};
use routing::{Config, Engine, Input};
use std::sync::Mutex;

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        // The server's message only (a DETAIL line could quote values).
        match e.as_db_error() {
            Some(db) => StoreError::Db(format!(
                "PostgreSQL: {} ({})",
                db.message(),
                db.code().code()
            )),
            None => StoreError::Db(format!("PostgreSQL: {e}")),
        }
    }
}

/// The schema this version writes; a database of a newer one is refused.
pub const PG_SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS organisations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS input_log (
    seq BIGINT PRIMARY KEY,
    org INTEGER NOT NULL,
    at_ms BIGINT NOT NULL,
    input TEXT NOT NULL,
    v INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kpi_history (
    org INTEGER NOT NULL,
    dimension TEXT NOT NULL,
    interval_ms BIGINT NOT NULL,
    counts TEXT NOT NULL,
    waits BYTEA NOT NULL,
    PRIMARY KEY (org, interval_ms, dimension)
);
CREATE TABLE IF NOT EXISTS kpi_retired (org INTEGER PRIMARY KEY, before_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    org INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    format INTEGER NOT NULL,
    written_by TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    state BYTEA NOT NULL,
    PRIMARY KEY (org, seq)
);
CREATE TABLE IF NOT EXISTS contact_callers (
    org INTEGER NOT NULL,
    contact BIGINT NOT NULL,
    phone TEXT,
    nhs_number TEXT,
    PRIMARY KEY (org, contact)
);
CREATE TABLE IF NOT EXISTS contact_outcomes (
    org INTEGER NOT NULL,
    contact BIGINT NOT NULL,
    agent INTEGER NOT NULL,
    code TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (org, contact, agent)
);
CREATE TABLE IF NOT EXISTS contact_notes (
    org INTEGER NOT NULL,
    contact BIGINT NOT NULL,
    agent INTEGER NOT NULL,
    at_ms BIGINT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    sealed BYTEA NOT NULL,
    PRIMARY KEY (org, contact, agent)
);
CREATE TABLE IF NOT EXISTS audit_log (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
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

/// The store on a PostgreSQL database.
pub struct PgStore {
    db: Mutex<Client>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`), creates the
    /// schema if the database is empty, and refuses a database another,
    /// newer Switchboard wrote. A wrong or unreachable URL is an error
    /// naming it (without its password).
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let shown = without_password(url);
        let mut db = Client::connect(url, NoTls)
            .map_err(|e| StoreError::Db(format!("PostgreSQL at {shown}: {}", reason(&e))))?;
        let mut tx = db.transaction()?;
        // One schema change at a time, whoever starts first.
        tx.execute("SELECT pg_advisory_xact_lock(727274)", &[])?;
        tx.batch_execute(SCHEMA)?;
        let found: Option<String> = tx
            .query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])?
            .map(|r| r.get(0));
        match found.as_deref().map(str::parse::<i64>) {
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', $1)",
                    &[&PG_SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(Ok(v)) if v <= PG_SCHEMA_VERSION => {}
            Some(v) => {
                return Err(StoreError::TooNew(format!(
                    "the PostgreSQL database at {shown} has schema version {}, written by a newer Switchboard; this one knows up to {PG_SCHEMA_VERSION}",
                    v.map_or_else(|_| "(unreadable)".to_string(), |v| v.to_string())
                )))
            }
        }
        tx.commit()?;
        Ok(PgStore { db: Mutex::new(db) })
    }

    fn client(&self) -> std::sync::MutexGuard<'_, Client> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `url` with any password replaced, for messages.
fn without_password(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let user = &url[s + 3..at];
            match user.split_once(':') {
                Some((name, _)) => format!("{}{name}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Why a connection failed, in words (not the driver's debug form).
fn reason(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s = format!("{s}: {inner}");
                source = inner.source();
            }
            s
        }
    }
}

fn appended_audit(tx: &mut Transaction<'_>, r: &AuditRecord) -> Result<u64, StoreError> {
    tx.execute("LOCK TABLE audit_log IN EXCLUSIVE MODE", &[])?;
    let last = tx.query_opt(
        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
        &[],
    )?;
    let (seq, prev) = match last {
        Some(row) => (row.get::<_, i64>(0) as u64 + 1, row.get::<_, String>(1)),
        None => (1, crate::GENESIS.to_string()),
    };
    let hash = crate::audit_hash(&prev, seq, r);
    tx.execute(
        "INSERT INTO audit_log (seq, at_ms, org, actor, action, subject, patient, purpose, origin, outcome, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &(seq as i64),
            &r.at.as_ms(),
            &r.org.map(|o| o.0 as i32),
            &r.actor,
            &r.action,
            &r.subject,
            &r.patient,
            &r.purpose,
            &r.origin,
            &r.outcome,
            &prev,
            &hash,
        ],
    )?;
    Ok(seq)
}

fn audit_record(row: &postgres::Row) -> AuditRecord {
    AuditRecord {
        at: Timestamp(row.get(1)),
        org: row.get::<_, Option<i32>>(2).map(|o| OrgId(o as u32)),
        actor: row.get(3),
        action: row.get(4),
        subject: row.get(5),
        patient: row.get(6),
        purpose: row.get(7),
        origin: row.get(8),
        outcome: row.get(9),
    }
}

impl Store for PgStore {
    fn organisations(&self) -> Result<Vec<(OrgId, String)>, StoreError> {
        let rows = self
            .client()
            .query("SELECT id, name FROM organisations ORDER BY id", &[])?;
        Ok(rows
            .iter()
            .map(|r| (OrgId(r.get::<_, i32>(0) as u32), r.get(1)))
            .collect())
    }

    fn create_organisation(
        &mut self,
        name: &str,
        config: &Config,
        at: Timestamp,
    ) -> Result<OrgId, StoreError> {
        let mut db = self.client();
        let mut tx = db.transaction()?;
        tx.execute("LOCK TABLE organisations IN EXCLUSIVE MODE", &[])?;
        if tx
            .query_opt("SELECT 1 FROM organisations WHERE name = $1", &[&name])?
            .is_some()
        {
            return Err(StoreError::Conflict(format!(
                "an organisation named {name:?} exists"
            )));
        }
        let id: i32 = tx
            .query_one("SELECT COALESCE(MAX(id), 0) + 1 FROM organisations", &[])?
            .get(0);
        tx.execute(
            "INSERT INTO organisations (id, name, config, at_ms) VALUES ($1, $2, $3, $4)",
            &[&id, &name, &encode(config)?, &at.as_ms()],
        )?;
        tx.commit()?;
        Ok(OrgId(id as u32))
    }

    fn initial_config(&self, org: OrgId) -> Result<Option<(Config, Timestamp)>, StoreError> {
        let row = self.client().query_opt(
            "SELECT config, at_ms FROM organisations WHERE id = $1",
            &[&(org.0 as i32)],
        )?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((
            decode(0, &row.get::<_, String>(0))?,
            Timestamp(row.get(1)),
        )))
    }

    fn append(&mut self, batch: &Batch) -> Result<u64, StoreError> {
        let mut db = self.client();
        let mut tx = db.transaction()?;
        // One writer at a time gives out log numbers: no gaps, in order.
        tx.execute("LOCK TABLE input_log IN EXCLUSIVE MODE", &[])?;
        let mut seq: i64 = tx
            .query_one("SELECT COALESCE(MAX(seq), 0) FROM input_log", &[])?
            .get(0);
        if !batch.inputs.is_empty() {
            let st = tx.prepare(
                "INSERT INTO input_log (seq, org, at_ms, input, v) VALUES ($1, $2, $3, $4, $5)",
            )?;
            for (org, t, input) in &batch.inputs {
                seq += 1;
                tx.execute(
                    &st,
                    &[
                        &seq,
                        &(org.0 as i32),
                        &t.as_ms(),
                        &encode(input)?,
                        &(LOG_FORMAT as i32),
                    ],
                )?;
            }
        }
        for r in &batch.audit {
            appended_audit(&mut tx, r)?;
        }
        for o in &batch.outcomes {
            tx.execute(
                "INSERT INTO contact_outcomes (org, contact, agent, code, at_ms) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (org, contact, agent) DO UPDATE SET code = excluded.code, at_ms = excluded.at_ms",
                &[&(o.org.0 as i32), &(o.contact.0 as i64), &(o.agent.0 as i32), &o.code, &o.at.as_ms()],
            )?;
            if let Some(n) = &o.note {
                tx.execute(
                    "INSERT INTO contact_notes (org, contact, agent, at_ms, wrapped_key, sealed) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (org, contact, agent) DO UPDATE SET at_ms = excluded.at_ms,
                         wrapped_key = excluded.wrapped_key, sealed = excluded.sealed",
                    &[&(o.org.0 as i32), &(o.contact.0 as i64), &(o.agent.0 as i32), &o.at.as_ms(), &n.wrapped_key, &n.text],
                )?;
            }
        }
        for (org, contact, who) in &batch.callers {
            match who {
                Some(who) => tx.execute(
                    "INSERT INTO contact_callers (org, contact, phone, nhs_number) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (org, contact) DO UPDATE SET phone = excluded.phone, nhs_number = excluded.nhs_number",
                    &[
                        &(org.0 as i32),
                        &(contact.0 as i64),
                        &who.phone.as_ref().map(|p| p.expose().to_string()),
                        &who.nhs_number.map(|n| n.expose().to_string()),
                    ],
                )?,
                None => tx.execute(
                    "DELETE FROM contact_callers WHERE org = $1 AND contact = $2",
                    &[&(org.0 as i32), &(contact.0 as i64)],
                )?,
            };
        }
        if let Some(next) = next_contact_after(batch) {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('next_contact_id', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value
                 WHERE CAST(meta.value AS BIGINT) < CAST(excluded.value AS BIGINT)",
                &[&next.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(seq as u64)
    }

    fn for_each_input(
        &self,
        after: u64,
        f: &mut dyn FnMut(u64, OrgId, Timestamp, Input),
    ) -> Result<u64, StoreError> {
        let mut db = self.client();
        let mut n = 0;
        // In pages, so a long log is never held in memory at once.
        let mut from = after as i64;
        loop {
            let rows = db.query(
                "SELECT seq, org, at_ms, input, v FROM input_log WHERE seq > $1 ORDER BY seq LIMIT 10000",
                &[&from],
            )?;
            if rows.is_empty() {
                return Ok(n);
            }
            for row in &rows {
                let seq: i64 = row.get(0);
                let input = decode_input(
                    seq as u64,
                    row.get::<_, i32>(4) as u32,
                    &row.get::<_, String>(3),
                )?;
                f(
                    seq as u64,
                    OrgId(row.get::<_, i32>(1) as u32),
                    Timestamp(row.get(2)),
                    input,
                );
                n += 1;
                from = seq;
            }
        }
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
        let o = org.0 as i32;
        let mut db = self.client();
        let mut tx = db.transaction()?;
        let st = tx.prepare(
            "INSERT INTO kpi_history (org, dimension, interval_ms, counts, waits) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (org, interval_ms, dimension) DO UPDATE SET counts = excluded.counts, waits = excluded.waits",
        )?;
        for (d, start, c) in &retired.rows {
            let waits: Vec<u8> = c.waits_ms.iter().flat_map(|w| w.to_le_bytes()).collect();
            tx.execute(&st, &[&o, &encode(d)?, &start.as_ms(), &encode(c)?, &waits])?;
        }
        tx.execute(
            "INSERT INTO kpi_retired (org, before_ms) VALUES ($1, $2)
             ON CONFLICT (org) DO UPDATE SET before_ms = GREATEST(kpi_retired.before_ms, excluded.before_ms)",
            &[&o, &retired.before.as_ms()],
        )?;
        tx.execute(
            "INSERT INTO snapshots (org, seq, at_ms, format, written_by, sha256, state)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (org, seq) DO UPDATE SET at_ms = excluded.at_ms, format = excluded.format,
                 written_by = excluded.written_by, sha256 = excluded.sha256, state = excluded.state",
            &[
                &o,
                &(seq as i64),
                &at.as_ms(),
                &(STATE_FORMAT as i32),
                &env!("CARGO_PKG_VERSION"),
                &sha256_hex(&bytes),
                &bytes,
            ],
        )?;
        tx.execute(
            "DELETE FROM snapshots WHERE org = $1 AND seq < (
                 SELECT MIN(seq) FROM (SELECT seq FROM snapshots WHERE org = $1 ORDER BY seq DESC LIMIT 2) AS kept)",
            &[&o],
        )?;
        tx.commit()?;
        Ok(SnapshotInfo {
            org,
            seq,
            at,
            bytes: bytes.len(),
        })
    }

    fn kpi_retired_before(&self, org: OrgId) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .client()
            .query_opt(
                "SELECT before_ms FROM kpi_retired WHERE org = $1",
                &[&(org.0 as i32)],
            )?
            .map(|r| Timestamp(r.get(0))))
    }

    fn latest_snapshot(&self, org: OrgId) -> Result<(Option<Snapshot>, Vec<String>), StoreError> {
        let rows = self.client().query(
            "SELECT seq, at_ms, format, written_by, sha256, state FROM snapshots
             WHERE org = $1 ORDER BY seq DESC",
            &[&(org.0 as i32)],
        )?;
        let mut notes = Vec::new();
        for row in &rows {
            let bytes: Vec<u8> = row.get(5);
            match usable_snapshot(
                org,
                row.get::<_, i64>(0) as u64,
                Timestamp(row.get(1)),
                row.get::<_, i32>(2) as u32,
                &row.get::<_, String>(3),
                &row.get::<_, String>(4),
                &bytes,
            ) {
                Ok(snapshot) => return Ok((Some(snapshot), notes)),
                Err(note) => notes.push(note),
            }
        }
        Ok((None, notes))
    }

    fn last_seq(&self) -> Result<u64, StoreError> {
        let last: i64 = self
            .client()
            .query_one("SELECT COALESCE(MAX(seq), 0) FROM input_log", &[])?
            .get(0);
        Ok(last as u64)
    }

    fn append_audit(&mut self, record: &AuditRecord) -> Result<u64, StoreError> {
        let mut db = self.client();
        let mut tx = db.transaction()?;
        let seq = appended_audit(&mut tx, record)?;
        tx.commit()?;
        Ok(seq)
    }

    fn next_contact_id(&self) -> Result<u64, StoreError> {
        let v: Option<String> = self
            .client()
            .query_opt("SELECT value FROM meta WHERE key = 'next_contact_id'", &[])?
            .map(|r| r.get(0));
        match v {
            Some(v) => v.parse().map_err(|_| StoreError::Decode {
                seq: 0,
                problem: format!("the contact id sequence holds {v:?}, not a number"),
            }),
            None => Ok(1),
        }
    }

    fn verify_audit(&self) -> Result<AuditCheck, StoreError> {
        let mut db = self.client();
        let mut chain = ChainCheck::default();
        let mut from: i64 = 0;
        loop {
            let rows = db.query(
                "SELECT seq, at_ms, org, actor, action, subject, patient, purpose, origin, outcome, prev_hash, hash
                 FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 10000",
                &[&from],
            )?;
            if rows.is_empty() {
                return Ok(chain.end());
            }
            for row in &rows {
                let seq: i64 = row.get(0);
                if let Some(broken) = chain.next(
                    seq as u64,
                    &audit_record(row),
                    &row.get::<_, String>(10),
                    row.get(11),
                ) {
                    return Ok(broken);
                }
                from = seq;
            }
        }
    }
}
