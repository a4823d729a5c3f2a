//! People, sessions, integration tokens and the patient directory, on a
//! connection of their own (the engine task keeps the other), so that
//! checking a session never waits behind the routing log.
//!
//! Every read and write of patient data here takes the audit record that
//! goes with it and writes both in one transaction: there is no way to
//! read a patient without leaving a trace.

use crate::{append_audit_tx, audit_row, decode, encode, AuditRecord, StoreError};
use model::{AgentId, NhsNumber, OrgId, Patient, Timestamp};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    org INTEGER NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    agent INTEGER,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    demo INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS voice_calls (
    id INTEGER PRIMARY KEY,
    org INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS voice_calls_org ON voice_calls (org, id);
CREATE TABLE IF NOT EXISTS sip_credentials (
    user_id INTEGER PRIMARY KEY,
    ha1 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY,
    org INTEGER NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS services (
    org INTEGER NOT NULL,
    id INTEGER NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (org, id)
);
CREATE TABLE IF NOT EXISTS entry_points (
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    org INTEGER NOT NULL,
    service INTEGER NOT NULL,
    PRIMARY KEY (kind, address)
);
CREATE TABLE IF NOT EXISTS dos_services (
    org INTEGER NOT NULL,
    id INTEGER NOT NULL,
    service TEXT NOT NULL,
    PRIMARY KEY (org, id)
);
CREATE TABLE IF NOT EXISTS dos_settings (
    org INTEGER PRIMARY KEY,
    settings TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dos_centroids (
    district TEXT PRIMARY KEY,
    easting REAL NOT NULL,
    northing REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS triage_journeys (
    id INTEGER PRIMARY KEY,
    org INTEGER NOT NULL,
    contact INTEGER NOT NULL,
    journey TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS referrals (
    id INTEGER PRIMARY KEY,
    org INTEGER NOT NULL,
    contact INTEGER NOT NULL,
    service INTEGER NOT NULL,
    url TEXT NOT NULL,
    bundle TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at_ms INTEGER NOT NULL,
    last_error TEXT,
    created_ms INTEGER NOT NULL,
    delivered_ms INTEGER
);
CREATE TABLE IF NOT EXISTS dos_gaps (
    org INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    district TEXT NOT NULL,
    type_id INTEGER NOT NULL,
    failed TEXT NOT NULL,
    services INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS appointments (
    id INTEGER PRIMARY KEY,
    org INTEGER NOT NULL,
    service INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    contact INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    UNIQUE (org, service, start_ms)
);
CREATE TABLE IF NOT EXISTS patients (
    org INTEGER NOT NULL,
    nhs_number TEXT NOT NULL,
    record TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (org, nhs_number)
);
CREATE TABLE IF NOT EXISTS patient_phones (
    org INTEGER NOT NULL,
    phone TEXT NOT NULL,
    nhs_number TEXT NOT NULL,
    PRIMARY KEY (org, phone, nhs_number)
);
";

/// Gaps of a period: (postcode district, service type, failed rule,
/// searches, services).
pub type GapRow = (String, u32, String, u64, u64);

/// One person's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: u32,
    pub org: OrgId,
    pub username: String,
    pub display_name: String,
    /// One of the server's role names.
    pub role: String,
    /// The agent this person works as, if any.
    pub agent: Option<AgentId>,
    /// The argon2id PHC string.
    pub password_hash: String,
    pub disabled: bool,
    /// A demo account (`serve --demo`), with a published password.
    pub demo: bool,
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub org: OrgId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: &'a str,
    pub agent: Option<AgentId>,
    pub password_hash: &'a str,
    pub demo: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: u32,
    pub created: Timestamp,
    pub last_seen: Timestamp,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: u32,
    pub org: OrgId,
    pub name: String,
    /// Space-separated scope names.
    pub scopes: String,
    pub created: Timestamp,
    pub revoked: bool,
}

pub struct Directory {
    pub(crate) db: Connection,
}

const USER_COLUMNS: &str =
    "id, org, username, display_name, role, agent, password_hash, disabled, demo";

fn user_row(r: &rusqlite::Row<'_>) -> Result<User, rusqlite::Error> {
    Ok(User {
        id: r.get(0)?,
        org: OrgId(r.get(1)?),
        username: r.get(2)?,
        display_name: r.get(3)?,
        role: r.get(4)?,
        agent: r.get::<_, Option<u32>>(5)?.map(AgentId),
        password_hash: r.get(6)?,
        disabled: r.get(7)?,
        demo: r.get(8)?,
    })
}

fn token_row(r: &rusqlite::Row<'_>) -> Result<Token, rusqlite::Error> {
    Ok(Token {
        id: r.get(0)?,
        org: OrgId(r.get(1)?),
        name: r.get(2)?,
        scopes: r.get(3)?,
        created: Timestamp(r.get(4)?),
        revoked: r.get(5)?,
    })
}

impl Directory {
    /// Opens the database in `dir` (the engine's [`crate::SqliteStore`]
    /// creates it; open that first).
    pub fn open(dir: &Path) -> Result<Directory, StoreError> {
        let db = Connection::open(crate::private_db_file(dir)?)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        db.execute_batch(SCHEMA)?;
        db.execute_batch(crate::mfa::SCHEMA)?;
        db.execute_batch(crate::chat::SCHEMA)?;
        crate::chat::upgrade(&db)?;
        db.execute_batch(crate::written::SCHEMA)?;
        Ok(Directory { db })
    }

    pub(crate) fn immediate(&mut self) -> Result<rusqlite::Transaction<'_>, StoreError> {
        Ok(self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    // --- people ---------------------------------------------------------

    /// Creates an account, with its audit record, in one transaction.
    pub fn create_user(
        &mut self,
        u: &NewUser<'_>,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<u32, StoreError> {
        let tx = self.immediate()?;
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE username = ?1)",
            params![u.username],
            |r| r.get(0),
        )?;
        if taken {
            return Err(StoreError::Conflict(format!(
                "the username {:?} is taken",
                u.username
            )));
        }
        tx.execute(
            "INSERT INTO users (org, username, display_name, role, agent, password_hash, demo, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![u.org.0, u.username, u.display_name, u.role, u.agent.map(|a| a.0), u.password_hash, u.demo, at.as_ms()],
        )?;
        let id = tx.last_insert_rowid() as u32;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(id)
    }

    pub fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .db
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"),
                params![username],
                user_row,
            )
            .optional()?)
    }

    pub fn user(&self, id: u32) -> Result<Option<User>, StoreError> {
        Ok(self
            .db
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                params![id],
                user_row,
            )
            .optional()?)
    }

    pub fn users(&self, org: OrgId) -> Result<Vec<User>, StoreError> {
        let mut st = self.db.prepare(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE org = ?1 ORDER BY id"
        ))?;
        let rows = st.query_map(params![org.0], user_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Any account at all (a first-run bootstrap is refused once there is).
    pub fn has_users(&self) -> Result<bool, StoreError> {
        Ok(self
            .db
            .query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?)
    }

    /// Disables an account (or enables it again) and, either way, ends
    /// its sessions; with its audit record.
    pub fn set_disabled(
        &mut self,
        id: u32,
        disabled: bool,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        self.change_account(id, "disabled", &disabled, audit)
    }

    /// Changes a password and ends every session of the account.
    pub fn set_password(
        &mut self,
        id: u32,
        password_hash: &str,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        self.change_account(id, "password_hash", &password_hash, audit)
    }

    /// Sets one column of an account and ends all its sessions, with the
    /// audit record, in one transaction.
    fn change_account(
        &mut self,
        id: u32,
        column: &'static str,
        value: &dyn rusqlite::ToSql,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        tx.execute(
            &format!("UPDATE users SET {column} = ?2 WHERE id = ?1"),
            params![id, value],
        )?;
        tx.execute(
            "UPDATE sessions SET revoked = 1 WHERE user_id = ?1",
            params![id],
        )?;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    // --- sessions -------------------------------------------------------

    /// Stores a new session under the hash of its id (the id itself is
    /// only ever in the person's cookie).
    pub fn create_session(
        &mut self,
        id_hash: &str,
        user: u32,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        tx.execute(
            "INSERT INTO sessions (id_hash, user_id, created_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?3)",
            params![id_hash, user, at.as_ms()],
        )?;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    pub fn session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT user_id, created_ms, last_seen_ms, revoked FROM sessions WHERE id_hash = ?1",
                params![id_hash],
                |r| {
                    Ok(Session {
                        user: r.get(0)?,
                        created: Timestamp(r.get(1)?),
                        last_seen: Timestamp(r.get(2)?),
                        revoked: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn touch_session(&mut self, id_hash: &str, at: Timestamp) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE sessions SET last_seen_ms = ?2 WHERE id_hash = ?1",
            params![id_hash, at.as_ms()],
        )?;
        Ok(())
    }

    pub fn revoke_session(&mut self, id_hash: &str, audit: &AuditRecord) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        tx.execute(
            "UPDATE sessions SET revoked = 1 WHERE id_hash = ?1",
            params![id_hash],
        )?;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    // --- integration tokens ---------------------------------------------

    pub fn create_token(
        &mut self,
        org: OrgId,
        name: &str,
        scopes: &str,
        secret_hash: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<u32, StoreError> {
        let tx = self.immediate()?;
        tx.execute(
            "INSERT INTO api_tokens (org, name, secret_hash, scopes, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![org.0, name, secret_hash, scopes, at.as_ms()],
        )?;
        let id = tx.last_insert_rowid() as u32;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(id)
    }

    pub fn token_by_hash(&self, secret_hash: &str) -> Result<Option<Token>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT id, org, name, scopes, created_ms, revoked FROM api_tokens WHERE secret_hash = ?1",
                params![secret_hash],
                token_row,
            )
            .optional()?)
    }

    pub fn tokens(&self, org: OrgId) -> Result<Vec<Token>, StoreError> {
        let mut st = self.db.prepare(
            "SELECT id, org, name, scopes, created_ms, revoked FROM api_tokens WHERE org = ?1 ORDER BY id",
        )?;
        let rows = st.query_map(params![org.0], token_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes one of `org`'s tokens; false if it has no such token.
    pub fn revoke_token(
        &mut self,
        org: OrgId,
        id: u32,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE api_tokens SET revoked = 1 WHERE id = ?1 AND org = ?2",
            params![id, org.0],
        )?;
        if n == 0 {
            return Ok(false);
        }
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(true)
    }

    /// Who a contact's caller is, as recorded when it arrived.
    pub fn contact_caller(
        &self,
        org: OrgId,
        contact: model::ContactId,
    ) -> Result<Option<crate::CallerIdentity>, StoreError> {
        let row: Option<(Option<String>, Option<String>)> = self
            .db
            .query_row(
                "SELECT phone, nhs_number FROM contact_callers WHERE org = ?1 AND contact = ?2",
                params![org.0, contact.0 as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((phone, nhs)) = row else {
            return Ok(None);
        };
        let bad = |what: &str| StoreError::Decode {
            seq: 0,
            problem: format!("contact {contact}: stored {what} does not parse"),
        };
        Ok(Some(crate::CallerIdentity {
            phone: phone
                .map(|p| model::PhoneNumber::parse(&p).map_err(|_| bad("phone")))
                .transpose()?,
            nhs_number: nhs
                .map(|n| NhsNumber::parse(&n).map_err(|_| bad("NHS number")))
                .transpose()?,
        }))
    }

    /// Outcome codes recorded between `from` and `to`: (code, count), most
    /// frequent first.
    pub fn outcome_counts(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT code, COUNT(*) FROM contact_outcomes WHERE org = ?1 AND at_ms >= ?2 AND at_ms < ?3
             GROUP BY code ORDER BY COUNT(*) DESC, code",
        )?;
        let rows = st.query_map(params![org.0, from.as_ms(), to.as_ms()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// An organisation's KPI intervals kept in the store (closed for good,
    /// taken out of memory), starting in `from..to`.
    pub fn kpi_history(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(kpi::Dimension, Timestamp, kpi::Counts)>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT dimension, interval_ms, counts, waits FROM kpi_history
             WHERE org = ?1 AND interval_ms >= ?2 AND interval_ms < ?3",
        )?;
        let mut rows = st.query(params![org.0, from.as_ms(), to.as_ms()])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let d: String = r.get(0)?;
            let start = Timestamp(r.get(1)?);
            let c: String = r.get(2)?;
            let waits: Vec<u8> = r.get(3)?;
            let mut counts: kpi::Counts = crate::decode(0, &c)?;
            counts.waits_ms = waits
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            out.push((crate::decode(0, &d)?, start, counts));
        }
        Ok(out)
    }

    // --- services and entry points ---------------------------------------

    /// Creates or replaces a service (its definition as JSON) and the entry
    /// points that reach it, with the audit record, in one transaction.
    /// An entry point another service (of any organisation) already uses is
    /// a conflict, and nothing is written. True if the service was new.
    pub fn put_service(
        &mut self,
        org: OrgId,
        id: u32,
        definition: &str,
        entry_points: &[(String, String)],
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        for (kind, address) in entry_points {
            let owner: Option<(u32, u32)> = tx
                .query_row(
                    "SELECT org, service FROM entry_points WHERE kind = ?1 AND address = ?2",
                    params![kind, address],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if owner.is_some_and(|o| o != (org.0, id)) {
                return Err(StoreError::Conflict(format!(
                    "entry_points: the {kind} entry point {address} is already in use"
                )));
            }
        }
        let existed: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM services WHERE org = ?1 AND id = ?2)",
            params![org.0, id],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO services (org, id, definition) VALUES (?1, ?2, ?3)",
            params![org.0, id, definition],
        )?;
        tx.execute(
            "DELETE FROM entry_points WHERE org = ?1 AND service = ?2",
            params![org.0, id],
        )?;
        for (kind, address) in entry_points {
            tx.execute(
                "INSERT INTO entry_points (kind, address, org, service) VALUES (?1, ?2, ?3, ?4)",
                params![kind, address, org.0, id],
            )?;
        }
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(!existed)
    }

    /// The organisation's services: (id, definition JSON), in id order.
    pub fn services(&self, org: OrgId) -> Result<Vec<(u32, String)>, StoreError> {
        let mut st = self
            .db
            .prepare_cached("SELECT id, definition FROM services WHERE org = ?1 ORDER BY id")?;
        let rows = st.query_map(params![org.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The service of `org` an entry point reaches: (id, definition JSON).
    pub fn service_for(
        &self,
        org: OrgId,
        kind: &str,
        address: &str,
    ) -> Result<Option<(u32, String)>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT s.id, s.definition FROM entry_points e JOIN services s
                   ON s.org = e.org AND s.id = e.service
                 WHERE e.kind = ?1 AND e.address = ?2 AND e.org = ?3",
                params![kind, address, org.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The service any organisation's entry point `address` reaches:
    /// (organisation, service id, definition JSON). Entry points are unique
    /// across organisations.
    pub fn service_at(
        &self,
        kind: &str,
        address: &str,
    ) -> Result<Option<(OrgId, u32, String)>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT s.org, s.id, s.definition FROM entry_points e JOIN services s
                   ON s.org = e.org AND s.id = e.service
                 WHERE e.kind = ?1 AND e.address = ?2",
                params![kind, address],
                |r| Ok((OrgId(r.get(0)?), r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    /// Keeps the record of a finished call (the telephony journal: path,
    /// keys with collected digits masked, agent, outcome; no caller data).
    /// Several in one transaction (the voice edge writes them in batches).
    pub fn add_voice_calls(&mut self, records: &[(OrgId, u64, String)]) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO voice_calls (id, org, record) VALUES (?1, ?2, ?3)",
            )?;
            for (org, id, record) in records {
                st.execute(params![*id as i64, org.0, record])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The organisation's finished calls, newest first.
    pub fn voice_calls(&self, org: OrgId, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT record FROM voice_calls WHERE org = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![org.0, limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The digest HA1 of an account's SIP phone, if one is set.
    pub fn sip_ha1(&self, user: u32) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT ha1 FROM sip_credentials WHERE user_id = ?1",
                params![user],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Sets (or replaces) an account's SIP digest HA1.
    pub fn set_sip_ha1(&mut self, user: u32, ha1: &str) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT OR REPLACE INTO sip_credentials (user_id, ha1) VALUES (?1, ?2)",
            params![user, ha1],
        )?;
        Ok(())
    }

    /// Removes a service and its entry points; false if `org` has none
    /// with this id.
    pub fn delete_service(
        &mut self,
        org: OrgId,
        id: u32,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "DELETE FROM services WHERE org = ?1 AND id = ?2",
            params![org.0, id],
        )?;
        if n == 0 {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM entry_points WHERE org = ?1 AND service = ?2",
            params![org.0, id],
        )?;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(true)
    }

    // --- patients -------------------------------------------------------

    /// Creates or replaces a patient's entry (and the phone numbers that
    /// find it), with the audit record, in one transaction. True if the
    /// patient was new.
    pub fn put_patient(
        &mut self,
        org: OrgId,
        p: &Patient,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let nhs = p.nhs_number.expose();
        let tx = self.immediate()?;
        let existed: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM patients WHERE org = ?1 AND nhs_number = ?2)",
            params![org.0, nhs],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO patients (org, nhs_number, record, updated_ms) VALUES (?1, ?2, ?3, ?4)",
            params![org.0, nhs, encode(p)?, at.as_ms()],
        )?;
        tx.execute(
            "DELETE FROM patient_phones WHERE org = ?1 AND nhs_number = ?2",
            params![org.0, nhs],
        )?;
        for phone in &p.phones {
            tx.execute(
                "INSERT OR IGNORE INTO patient_phones (org, phone, nhs_number) VALUES (?1, ?2, ?3)",
                params![org.0, phone.expose(), nhs],
            )?;
        }
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(!existed)
    }

    /// The patients of `org` with this NHS number or this phone number
    /// (at most `limit`), each read audited with `audit` (its `patient`
    /// and `outcome` filled in) in the same transaction. A search that
    /// finds no one is audited too.
    pub fn find_patients(
        &mut self,
        org: OrgId,
        nhs: Option<&NhsNumber>,
        phone: Option<&model::PhoneNumber>,
        limit: usize,
        audit: &AuditRecord,
    ) -> Result<Vec<Patient>, StoreError> {
        let tx = self.immediate()?;
        let mut found: Vec<Patient> = Vec::new();
        {
            let mut by_nhs = tx
                .prepare_cached("SELECT record FROM patients WHERE org = ?1 AND nhs_number = ?2")?;
            let mut by_phone = tx.prepare_cached(
                "SELECT p.record FROM patient_phones ph JOIN patients p
                   ON p.org = ph.org AND p.nhs_number = ph.nhs_number
                 WHERE ph.org = ?1 AND ph.phone = ?2 ORDER BY p.nhs_number LIMIT ?3",
            )?;
            let mut texts: Vec<String> = Vec::new();
            if let Some(n) = nhs {
                if let Some(t) = by_nhs
                    .query_row(params![org.0, n.expose()], |r| r.get(0))
                    .optional()?
                {
                    texts.push(t);
                }
            }
            if let Some(ph) = phone {
                let rows = by_phone.query_map(params![org.0, ph.expose(), limit as i64], |r| {
                    r.get::<_, String>(0)
                })?;
                for t in rows {
                    texts.push(t?);
                }
            }
            for t in texts {
                let p: Patient = decode(0, &t)?;
                if found.len() < limit && !found.iter().any(|f| f.nhs_number == p.nhs_number) {
                    found.push(p);
                }
            }
        }
        if found.is_empty() {
            let mut r = audit.clone();
            r.outcome = "no match".into();
            r.patient = nhs.map(|n| n.expose());
            append_audit_tx(&tx, &r)?;
        }
        for p in &found {
            let mut r = audit.clone();
            r.patient = Some(p.nhs_number.expose());
            append_audit_tx(&tx, &r)?;
        }
        tx.commit()?;
        Ok(found)
    }

    /// "Who accessed patient X": every audit record about this patient in
    /// `org`, oldest first (at most `limit`), the question itself audited
    /// in the same transaction.
    pub fn audit_for_patient(
        &mut self,
        org: OrgId,
        nhs: &NhsNumber,
        limit: usize,
        audit: &AuditRecord,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let tx = self.immediate()?;
        let records = {
            let mut st = tx.prepare_cached(
                "SELECT seq, at_ms, org, actor, action, subject, patient, purpose, origin, outcome
                 FROM audit_log WHERE org = ?1 AND patient = ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = st.query_map(params![org.0, nhs.expose(), limit as i64], audit_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(records)
    }

    // --- Directory of Services and triage ---------------------------------

    /// Replaces the organisation's DoS services (JSON each) and adds the
    /// postcode-district centroids, with the audit record, in one
    /// transaction.
    pub fn replace_dos(
        &mut self,
        org: OrgId,
        services: &[(u64, String)],
        settings: Option<&str>,
        centroids: &[(String, f64, f64)],
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        tx.execute("DELETE FROM dos_services WHERE org = ?1", params![org.0])?;
        tx.execute("DELETE FROM dos_settings WHERE org = ?1", params![org.0])?;
        if let Some(s) = settings {
            tx.execute(
                "INSERT INTO dos_settings (org, settings) VALUES (?1, ?2)",
                params![org.0, s],
            )?;
        }
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO dos_services (org, id, service) VALUES (?1, ?2, ?3)",
            )?;
            for (id, json) in services {
                st.execute(params![org.0, *id as i64, json])?;
            }
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO dos_centroids (district, easting, northing) VALUES (?1, ?2, ?3)",
            )?;
            for (d, e, n) in centroids {
                st.execute(params![d, e, n])?;
            }
        }
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    /// Every organisation's DoS services (JSON each), in the order they
    /// were added (a directory file's order).
    pub fn dos_services(&self) -> Result<Vec<(OrgId, String)>, StoreError> {
        let mut st = self
            .db
            .prepare("SELECT org, service FROM dos_services ORDER BY org, rowid")?;
        let rows = st.query_map([], |r| Ok((OrgId(r.get(0)?), r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every organisation's directory-wide settings (JSON: ranking
    /// strategies, bank holidays, search distances, service types, valid
    /// SG/SD pairs).
    pub fn dos_settings(&self) -> Result<Vec<(OrgId, String)>, StoreError> {
        let mut st = self
            .db
            .prepare("SELECT org, settings FROM dos_settings ORDER BY org")?;
        let rows = st.query_map([], |r| Ok((OrgId(r.get(0)?), r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds one DoS service (JSON) with its audit record; false if the
    /// organisation already has one with that id.
    pub fn insert_dos_service(
        &mut self,
        org: OrgId,
        id: u64,
        json: &str,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "INSERT OR IGNORE INTO dos_services (org, id, service) VALUES (?1, ?2, ?3)",
            params![org.0, id as i64, json],
        )?;
        if n == 0 {
            return Ok(false);
        }
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(true)
    }

    /// The audit records of an organisation with this action whose
    /// subject starts with `subject_prefix`, newest first.
    pub fn audit_by_subject(
        &self,
        org: OrgId,
        action: &str,
        subject_prefix: &str,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut st = self.db.prepare(
            "SELECT seq, at_ms, org, actor, action, subject, patient, purpose, origin, outcome
             FROM audit_log WHERE org = ?1 AND action = ?2 AND substr(subject, 1, length(?3)) = ?3
             ORDER BY seq DESC LIMIT ?4",
        )?;
        let rows = st.query_map(
            params![org.0, action, subject_prefix, limit as i64],
            crate::audit_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The audit records of an organisation with any of these actions,
    /// newest first.
    pub fn audit_of_actions(
        &self,
        org: OrgId,
        actions: &[&str],
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut st = self.db.prepare(
            "SELECT seq, at_ms, org, actor, action, subject, patient, purpose, origin, outcome
             FROM audit_log WHERE org = ?1 AND action IN (SELECT value FROM json_each(?2))
             ORDER BY seq DESC LIMIT ?3",
        )?;
        let list = serde_json::to_string(actions).unwrap_or_else(|_| "[]".into());
        let rows = st.query_map(params![org.0, list, limit as i64], crate::audit_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Checks the whole audit chain (see [`crate::Store::verify_audit`]).
    pub fn verify_audit(&self) -> Result<crate::AuditCheck, StoreError> {
        crate::verify_audit_chain(&self.db)
    }

    /// Every postcode-district centroid: (district, easting, northing).
    pub fn dos_centroids(&self) -> Result<Vec<(String, f64, f64)>, StoreError> {
        let mut st = self
            .db
            .prepare("SELECT district, easting, northing FROM dos_centroids")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Saves a finished triage journey (JSON) of a contact with its audit
    /// record, in one transaction; returns its id.
    pub fn save_journey(
        &mut self,
        org: OrgId,
        contact: model::ContactId,
        journey: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<u64, StoreError> {
        let tx = self.immediate()?;
        tx.execute(
            "INSERT INTO triage_journeys (org, contact, journey, at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![org.0, contact.0 as i64, journey, at.as_ms()],
        )?;
        let id = tx.last_insert_rowid() as u64;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(id)
    }

    /// A contact's saved journeys (JSON), oldest first, the read audited.
    pub fn journeys(
        &mut self,
        org: OrgId,
        contact: model::ContactId,
        audit: &AuditRecord,
    ) -> Result<Vec<String>, StoreError> {
        let tx = self.immediate()?;
        let out = {
            let mut st = tx.prepare_cached(
                "SELECT journey FROM triage_journeys WHERE org = ?1 AND contact = ?2 ORDER BY id",
            )?;
            let rows = st.query_map(params![org.0, contact.0 as i64], |r| r.get(0))?;
            rows.collect::<Result<Vec<String>, _>>()?
        };
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(out)
    }

    /// Replaces one DoS service's stored JSON (e.g. its referral endpoint),
    /// with the audit record; false if `org` has no such service.
    pub fn update_dos_service(
        &mut self,
        org: OrgId,
        id: u64,
        json: &str,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE dos_services SET service = ?3 WHERE org = ?1 AND id = ?2",
            params![org.0, id as i64, json],
        )?;
        if n == 0 {
            return Ok(false);
        }
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(true)
    }

    /// Puts a referral in the outbox (to be sent until delivered), with
    /// its audit record, in one transaction; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn create_referral(
        &mut self,
        org: OrgId,
        contact: model::ContactId,
        service: u64,
        url: &str,
        bundle: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<u64, StoreError> {
        let tx = self.immediate()?;
        tx.execute(
            "INSERT INTO referrals (org, contact, service, url, bundle, status, next_at_ms, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
            params![org.0, contact.0 as i64, service as i64, url, bundle, at.as_ms()],
        )?;
        let id = tx.last_insert_rowid() as u64;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(id)
    }

    /// Referrals due to be sent now: (id, url, bundle, attempts).
    pub fn due_referrals(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(u64, String, String, u32)>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT id, url, bundle, attempts FROM referrals
             WHERE status = 'pending' AND next_at_ms <= ?1 ORDER BY next_at_ms, id LIMIT ?2",
        )?;
        let rows = st.query_map(params![now.as_ms(), limit as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a send: delivered, or failed with when to try again.
    pub fn referral_attempt(
        &mut self,
        id: u64,
        now: Timestamp,
        outcome: Result<(), (String, Timestamp)>,
    ) -> Result<(), StoreError> {
        match outcome {
            Ok(()) => self.db.execute(
                "UPDATE referrals SET status = 'delivered', attempts = attempts + 1, delivered_ms = ?2, last_error = NULL WHERE id = ?1",
                params![id as i64, now.as_ms()],
            )?,
            Err((e, next)) => self.db.execute(
                "UPDATE referrals SET attempts = attempts + 1, last_error = ?2, next_at_ms = ?3 WHERE id = ?1",
                params![id as i64, e, next.as_ms()],
            )?,
        };
        Ok(())
    }

    /// A contact's referrals: (id, service, status, attempts, last error,
    /// created, delivered).
    #[allow(clippy::type_complexity)]
    pub fn referrals(
        &self,
        org: OrgId,
        contact: model::ContactId,
    ) -> Result<
        Vec<(
            u64,
            u64,
            String,
            u32,
            Option<String>,
            Timestamp,
            Option<Timestamp>,
        )>,
        StoreError,
    > {
        let mut st = self.db.prepare_cached(
            "SELECT id, service, status, attempts, last_error, created_ms, delivered_ms FROM referrals
             WHERE org = ?1 AND contact = ?2 ORDER BY id",
        )?;
        let rows = st.query_map(params![org.0, contact.0 as i64], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                Timestamp(r.get(5)?),
                r.get::<_, Option<i64>>(6)?.map(Timestamp),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a search's gaps: (district, service type, failed filter,
    /// how many services).
    pub fn log_gaps(
        &mut self,
        org: OrgId,
        at: Timestamp,
        gaps: &[(String, u32, String, u32)],
    ) -> Result<(), StoreError> {
        if gaps.is_empty() {
            return Ok(());
        }
        let tx = self.immediate()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO dos_gaps (org, at_ms, district, type_id, failed, services) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (d, t, f, n) in gaps {
                st.execute(params![org.0, at.as_ms(), d, t, f, n])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Gaps recorded in a period: (district, type, filter, searches,
    /// services), most first.
    pub fn gaps(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<GapRow>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT district, type_id, failed, COUNT(*), SUM(services) FROM dos_gaps
             WHERE org = ?1 AND at_ms >= ?2 AND at_ms < ?3
             GROUP BY district, type_id, failed ORDER BY COUNT(*) DESC, district LIMIT 500",
        )?;
        let rows = st.query_map(params![org.0, from.as_ms(), to.as_ms()], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<_, i64>(3)? as u64,
                r.get::<_, i64>(4)? as u64,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When gaps were recorded in a period, and how many services each
    /// time: (time, services).
    pub fn gap_times(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, u64)>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT at_ms, SUM(services) FROM dos_gaps WHERE org = ?1 AND at_ms >= ?2 AND at_ms < ?3 GROUP BY at_ms",
        )?;
        let rows = st.query_map(params![org.0, from.as_ms(), to.as_ms()], |r| {
            Ok((Timestamp(r.get(0)?), r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Saved journeys in a period (JSON), for reports (not patient reads:
    /// only their codes are counted).
    pub fn journeys_between(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, String)>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT at_ms, journey FROM triage_journeys WHERE org = ?1 AND at_ms >= ?2 AND at_ms < ?3 ORDER BY id",
        )?;
        let rows = st.query_map(params![org.0, from.as_ms(), to.as_ms()], |r| {
            Ok((Timestamp(r.get(0)?), r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Books a slot, with its audit record, in one transaction; a slot
    /// already booked is a conflict and nothing is written.
    pub fn book(
        &mut self,
        org: OrgId,
        service: u64,
        start: Timestamp,
        contact: model::ContactId,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<u64, StoreError> {
        let tx = self.immediate()?;
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM appointments WHERE org = ?1 AND service = ?2 AND start_ms = ?3)",
            params![org.0, service as i64, start.as_ms()],
            |r| r.get(0),
        )?;
        if taken {
            return Err(StoreError::Conflict(
                "start: that slot is already booked".into(),
            ));
        }
        tx.execute(
            "INSERT INTO appointments (org, service, start_ms, contact, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![org.0, service as i64, start.as_ms(), contact.0 as i64, at.as_ms()],
        )?;
        let id = tx.last_insert_rowid() as u64;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(id)
    }

    /// Booked slot starts of a service in `[from, to)`.
    pub fn booked(
        &self,
        org: OrgId,
        service: u64,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT start_ms FROM appointments WHERE org = ?1 AND service = ?2 AND start_ms >= ?3 AND start_ms < ?4",
        )?;
        let rows = st.query_map(
            params![org.0, service as i64, from.as_ms(), to.as_ms()],
            |r| r.get(0),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Appends one audit record on its own (a refused request, a log-in).
    /// The audit chain's newest record: its sequence number and hash.
    pub fn audit_head(&self) -> Result<Option<(u64, String)>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .optional()?)
    }

    /// The hash of audit record `seq`, if there is one.
    pub fn audit_hash_at(&self, seq: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT hash FROM audit_log WHERE seq = ?1",
                [seq as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn audit(&mut self, r: &AuditRecord) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        append_audit_tx(&tx, r)?;
        tx.commit()?;
        Ok(())
    }
}
