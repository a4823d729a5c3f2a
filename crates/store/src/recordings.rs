//! Call recordings' records: who, when, how long, until when kept, the
//! wrapped key (the sealed audio is a file beside the database). Read with
//! their audit record in one transaction; destroyed by dropping the key.

use crate::directory::Directory;
use crate::{append_audit_tx, AuditRecord, StoreError};
use model::{AgentId, ContactId, OrgId, Timestamp};
use rusqlite::{params, OptionalExtension};

/// A recording as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingRow {
    pub id: u64,
    pub contact: Option<ContactId>,
    pub agent: Option<AgentId>,
    pub started: Timestamp,
    pub ended: Option<Timestamp>,
    /// Bytes of 16-bit stereo PCM (4 a sample pair).
    pub bytes: u64,
    /// Time recorded as silence while paused (ms).
    pub paused_ms: i64,
    pub expires: Timestamp,
    /// None once destroyed.
    pub wrapped_key: Option<Vec<u8>>,
    pub destroyed: Option<Timestamp>,
    /// The sealed file, relative to the recordings folder.
    pub file: String,
    /// Kept past its retention, and why (a complaint, an incident).
    pub hold: Option<String>,
}

/// Which recordings to list.
#[derive(Clone, Debug, Default)]
pub struct RecordingQuery {
    pub contact: Option<ContactId>,
    pub agent: Option<AgentId>,
    /// The caller's number as the contact recorded it (canonical).
    pub number: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: usize,
}

const COLUMNS: &str = "r.id, r.contact, r.agent, r.started_ms, r.ended_ms, r.bytes, r.paused_ms, r.expires_ms, r.wrapped_key, r.destroyed_ms, r.file,
    (SELECT h.reason FROM recording_holds h WHERE h.org = r.org AND h.id = r.id)";

fn row(r: &rusqlite::Row) -> rusqlite::Result<RecordingRow> {
    Ok(RecordingRow {
        id: r.get::<_, i64>(0)? as u64,
        contact: r.get::<_, Option<i64>>(1)?.map(|c| ContactId(c as u64)),
        agent: r.get::<_, Option<u32>>(2)?.map(AgentId),
        started: Timestamp(r.get(3)?),
        ended: r.get::<_, Option<i64>>(4)?.map(Timestamp),
        bytes: r.get::<_, i64>(5)? as u64,
        paused_ms: r.get(6)?,
        expires: Timestamp(r.get(7)?),
        wrapped_key: r.get(8)?,
        destroyed: r.get::<_, Option<i64>>(9)?.map(Timestamp),
        file: r.get(10)?,
        hold: r.get(11)?,
    })
}

impl Directory {
    /// A recording begins: its row, with its wrapped key, before any audio
    /// is written (a crash leaves a record of what was being recorded).
    pub fn add_recording(&mut self, org: OrgId, r: &RecordingRow) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO recordings (org, id, contact, agent, started_ms, expires_ms, wrapped_key, file)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                org.0,
                r.id as i64,
                r.contact.map(|c| c.0 as i64),
                r.agent.map(|a| a.0),
                r.started.0,
                r.expires.0,
                r.wrapped_key,
                r.file
            ],
        )?;
        Ok(())
    }

    /// A recording ended: how much was written and paused.
    pub fn finish_recording(
        &mut self,
        org: OrgId,
        id: u64,
        ended: Timestamp,
        bytes: u64,
        paused_ms: i64,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE recordings SET ended_ms = ?3, bytes = ?4, paused_ms = ?5 WHERE org = ?1 AND id = ?2",
            params![org.0, id as i64, ended.0, bytes as i64, paused_ms],
        )?;
        Ok(())
    }

    /// Recordings matching `q`, newest first.
    pub fn recordings(
        &self,
        org: OrgId,
        q: &RecordingQuery,
    ) -> Result<Vec<RecordingRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM recordings r
             LEFT JOIN contact_callers c ON c.org = r.org AND c.contact = r.contact
             WHERE r.org = ?1
               AND (?2 IS NULL OR r.contact = ?2)
               AND (?3 IS NULL OR r.agent = ?3)
               AND (?4 IS NULL OR c.phone = ?4)
               AND (?5 IS NULL OR r.started_ms >= ?5)
               AND (?6 IS NULL OR r.started_ms < ?6)
             ORDER BY r.started_ms DESC, r.id DESC LIMIT ?7"
        );
        let mut st = self.db.prepare_cached(&sql)?;
        let rows = st.query_map(
            params![
                org.0,
                q.contact.map(|c| c.0 as i64),
                q.agent.map(|a| a.0),
                q.number,
                q.from.map(|t| t.0),
                q.to.map(|t| t.0),
                q.limit as i64
            ],
            row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One recording, read for listening: audited in the same transaction.
    pub fn recording_for_listening(
        &mut self,
        org: OrgId,
        id: u64,
        audit: &AuditRecord,
    ) -> Result<Option<RecordingRow>, StoreError> {
        let tx = self.immediate()?;
        let found = tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM recordings r WHERE r.org = ?1 AND r.id = ?2"),
                params![org.0, id as i64],
                row,
            )
            .optional()?;
        if found.is_some() {
            append_audit_tx(&tx, audit)?;
        }
        tx.commit()?;
        Ok(found)
    }

    /// One recording's row (no audio: no audit needed).
    pub fn recording(&self, org: OrgId, id: u64) -> Result<Option<RecordingRow>, StoreError> {
        Ok(self
            .db
            .query_row(
                &format!("SELECT {COLUMNS} FROM recordings r WHERE r.org = ?1 AND r.id = ?2"),
                params![org.0, id as i64],
                row,
            )
            .optional()?)
    }

    /// Keeps a recording past its retention (`Some(reason)`) or lets it
    /// go (`None`), audited; false if there is no such recording, or it
    /// was destroyed already.
    pub fn hold_recording(
        &mut self,
        org: OrgId,
        id: u64,
        hold: Option<(&str, &str)>,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let live: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM recordings WHERE org = ?1 AND id = ?2 AND wrapped_key IS NOT NULL)",
            params![org.0, id as i64],
            |r| r.get(0),
        )?;
        if !live {
            return Ok(false);
        }
        match hold {
            Some((reason, by)) => tx.execute(
                "INSERT OR REPLACE INTO recording_holds (org, id, reason, held_by, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![org.0, id as i64, reason, by, at.0],
            )?,
            None => tx.execute(
                "DELETE FROM recording_holds WHERE org = ?1 AND id = ?2",
                params![org.0, id as i64],
            )?,
        };
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(true)
    }

    /// Destroys the keys of recordings whose retention ran out by `now`
    /// (at most `limit`), each audited; answers (org, id, file) of each,
    /// for the files to be deleted.
    pub fn destroy_expired_recordings(
        &mut self,
        now: Timestamp,
        limit: usize,
        audit: impl Fn(OrgId, u64) -> AuditRecord,
    ) -> Result<Vec<(OrgId, u64, String)>, StoreError> {
        let tx = self.immediate()?;
        let due: Vec<(OrgId, u64, String)> = {
            let mut st = tx.prepare(
                "SELECT org, id, file FROM recordings r
                 WHERE wrapped_key IS NOT NULL AND expires_ms <= ?1
                   AND NOT EXISTS (SELECT 1 FROM recording_holds h WHERE h.org = r.org AND h.id = r.id)
                 ORDER BY expires_ms LIMIT ?2",
            )?;
            let rows = st.query_map(params![now.0, limit as i64], |r| {
                Ok((OrgId(r.get(0)?), r.get::<_, i64>(1)? as u64, r.get(2)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        for (org, id, _) in &due {
            tx.execute(
                "UPDATE recordings SET wrapped_key = NULL, destroyed_ms = ?3 WHERE org = ?1 AND id = ?2",
                params![org.0, *id as i64, now.0],
            )?;
            append_audit_tx(&tx, &audit(*org, *id))?;
        }
        tx.commit()?;
        Ok(due)
    }
}
