//! Multi-factor authentication's records: each account's TOTP secret
//! (pending until a first code confirms it) and the last step used, its
//! recovery codes (hashed, each used once), and each organisation's
//! policy of which roles must use it. Every change is written with its
//! audit record in one transaction.

use crate::directory::Directory;
use crate::{append_audit_tx, AuditRecord, StoreError};
use model::{OrgId, Timestamp};
use rusqlite::{params, OptionalExtension};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS mfa_totp (
    user_id INTEGER PRIMARY KEY,
    secret TEXT NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 0,
    last_step INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS mfa_recovery (
    user_id INTEGER NOT NULL,
    hash TEXT NOT NULL,
    used_ms INTEGER,
    PRIMARY KEY (user_id, hash)
);
CREATE TABLE IF NOT EXISTS mfa_policy (
    org INTEGER PRIMARY KEY,
    roles TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS passkeys (
    cred_id BLOB PRIMARY KEY,
    user_id INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    sign_count INTEGER NOT NULL,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    last_used_ms INTEGER
);
CREATE INDEX IF NOT EXISTS passkeys_user ON passkeys (user_id);
";

/// A registered passkey (WebAuthn credential).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passkey {
    pub id: Vec<u8>,
    pub user: u32,
    /// COSE.
    pub public_key: Vec<u8>,
    pub sign_count: u32,
    pub name: String,
    pub created: Timestamp,
    pub last_used: Option<Timestamp>,
}

/// An account's authenticator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Totp {
    /// The shared secret, hex.
    pub secret: String,
    /// A code has confirmed the person's app has it.
    pub confirmed: bool,
    /// The newest step a code was accepted for (never accepted again).
    pub last_step: i64,
}

impl Directory {
    pub fn totp(&self, user: u32) -> Result<Option<Totp>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT secret, confirmed, last_step FROM mfa_totp WHERE user_id = ?1",
                [user],
                |r| {
                    Ok(Totp {
                        secret: r.get(0)?,
                        confirmed: r.get(1)?,
                        last_step: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// A new secret waiting for its first code (replaces a pending one; an
    /// account with a confirmed one keeps it: reset it first).
    pub fn begin_totp(
        &mut self,
        user: u32,
        secret: &str,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let confirmed: bool = tx
            .query_row(
                "SELECT confirmed FROM mfa_totp WHERE user_id = ?1",
                [user],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(false);
        if confirmed {
            return Ok(false);
        }
        tx.execute(
            "INSERT OR REPLACE INTO mfa_totp (user_id, secret, confirmed, last_step) VALUES (?1, ?2, 0, 0)",
            params![user, secret],
        )?;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(true)
    }

    /// Records the step of an accepted code, if it is newer than the last
    /// (false: another request used it first); confirms a pending secret
    /// and stores its recovery codes' hashes, in one transaction.
    pub fn use_totp_step(
        &mut self,
        user: u32,
        step: i64,
        confirm_with: Option<&[String]>,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE mfa_totp SET last_step = ?2, confirmed = confirmed OR ?3
             WHERE user_id = ?1 AND last_step < ?2",
            params![user, step, confirm_with.is_some()],
        )?;
        if n == 0 {
            return Ok(false);
        }
        if let Some(hashes) = confirm_with {
            tx.execute("DELETE FROM mfa_recovery WHERE user_id = ?1", [user])?;
            for h in hashes {
                tx.execute(
                    "INSERT INTO mfa_recovery (user_id, hash) VALUES (?1, ?2)",
                    params![user, h],
                )?;
            }
        }
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(true)
    }

    /// Uses a recovery code (by its hash) once; false if unknown or used.
    pub fn use_recovery_code(
        &mut self,
        user: u32,
        hash: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE mfa_recovery SET used_ms = ?3 WHERE user_id = ?1 AND hash = ?2 AND used_ms IS NULL",
            params![user, hash, at.as_ms()],
        )?;
        if n == 0 {
            return Ok(false);
        }
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(true)
    }

    /// Recovery codes not used yet.
    pub fn recovery_codes_left(&self, user: u32) -> Result<u32, StoreError> {
        Ok(self.db.query_row(
            "SELECT COUNT(*) FROM mfa_recovery WHERE user_id = ?1 AND used_ms IS NULL",
            [user],
            |r| r.get(0),
        )?)
    }

    /// An account's passkeys, oldest first.
    pub fn passkeys(&self, user: u32) -> Result<Vec<Passkey>, StoreError> {
        let mut q = self.db.prepare_cached(
            "SELECT cred_id, user_id, public_key, sign_count, name, created_ms, last_used_ms
             FROM passkeys WHERE user_id = ?1 ORDER BY created_ms, cred_id",
        )?;
        let rows = q.query_map([user], |r| {
            Ok(Passkey {
                id: r.get(0)?,
                user: r.get(1)?,
                public_key: r.get(2)?,
                sign_count: r.get(3)?,
                name: r.get(4)?,
                created: Timestamp(r.get(5)?),
                last_used: r.get::<_, Option<i64>>(6)?.map(Timestamp),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Adds a passkey unless its id is known (any account) or the account
    /// has `max` already; whether it was added.
    pub fn add_passkey(
        &mut self,
        p: &Passkey,
        max: usize,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let (taken, count): (bool, i64) = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM passkeys WHERE cred_id = ?1),
                    (SELECT COUNT(*) FROM passkeys WHERE user_id = ?2)",
            params![p.id, p.user],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if taken || count as usize >= max {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO passkeys (cred_id, user_id, public_key, sign_count, name, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![p.id, p.user, p.public_key, p.sign_count, p.name, p.created.as_ms()],
        )?;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(true)
    }

    /// Records a log-in by a passkey: its new signature counter, if the
    /// stored one is still `was` (false: another log-in used it first).
    pub fn use_passkey(
        &mut self,
        id: &[u8],
        was: u32,
        now: u32,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE passkeys SET sign_count = ?3, last_used_ms = ?4 WHERE cred_id = ?1 AND sign_count = ?2",
            params![id, was, now, at.as_ms()],
        )?;
        if n == 0 {
            return Ok(false);
        }
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(true)
    }

    /// Removes an account's authenticator, passkeys and recovery codes (an
    /// admin's reset for a lost phone) and ends its sessions.
    pub fn reset_mfa(&mut self, user: u32, audit: &AuditRecord) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        tx.execute("DELETE FROM passkeys WHERE user_id = ?1", [user])?;
        tx.execute("DELETE FROM mfa_totp WHERE user_id = ?1", [user])?;
        tx.execute("DELETE FROM mfa_recovery WHERE user_id = ?1", [user])?;
        tx.execute("UPDATE sessions SET revoked = 1 WHERE user_id = ?1", [user])?;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    /// The role names that must use MFA in an organisation.
    pub fn mfa_roles(&self, org: OrgId) -> Result<Vec<String>, StoreError> {
        let roles: Option<String> = self
            .db
            .query_row(
                "SELECT roles FROM mfa_policy WHERE org = ?1",
                [org.0],
                |r| r.get(0),
            )
            .optional()?;
        Ok(roles
            .unwrap_or_default()
            .split(' ')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect())
    }

    pub fn set_mfa_roles(
        &mut self,
        org: OrgId,
        roles: &[String],
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        tx.execute(
            "INSERT OR REPLACE INTO mfa_policy (org, roles) VALUES (?1, ?2)",
            params![org.0, roles.join(" ")],
        )?;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }
}
