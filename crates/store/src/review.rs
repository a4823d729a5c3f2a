//! What an auditor reviews: break-glass reads (a patient's record read
//! with no contact about them, and the reason given) and the patient
//! reads of a period, for the unusual-access report. Each query is itself
//! audited in the same transaction.

use crate::directory::Directory;
use crate::{append_audit_tx, audit_row, AuditRecord, StoreError};
use model::{ContactId, NhsNumber, OrgId, Timestamp};
use rusqlite::params;

/// The outcome a break-glass read is recorded with.
pub const BREAK_GLASS: &str = "ok: break-glass";

impl Directory {
    /// The contacts of the organisation whose caller gave this NHS number.
    pub fn contacts_of_patient(
        &self,
        org: OrgId,
        nhs: &NhsNumber,
    ) -> Result<Vec<ContactId>, StoreError> {
        let mut q = self.db.prepare_cached(
            "SELECT contact FROM contact_callers WHERE org = ?1 AND nhs_number = ?2 ORDER BY contact DESC LIMIT 1000",
        )?;
        let rows = q.query_map(params![org.0, nhs.expose()], |r| {
            Ok(ContactId(r.get::<_, i64>(0)? as u64))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Audit records of one organisation with this outcome (newest
    /// first), or every record naming a patient since `since`.
    pub fn review(
        &mut self,
        org: OrgId,
        break_glass_only: bool,
        since: Timestamp,
        limit: usize,
        audit: &AuditRecord,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let tx = self.immediate()?;
        let records = {
            let sql = if break_glass_only {
                "SELECT seq, at_ms, org, actor, action, subject, patient, purpose, origin, outcome
                 FROM audit_log WHERE org = ?1 AND outcome = ?4 AND at_ms >= ?2 ORDER BY seq DESC LIMIT ?3"
            } else {
                "SELECT seq, at_ms, org, actor, action, subject, patient, purpose, origin, outcome
                 FROM audit_log WHERE org = ?1 AND patient IS NOT NULL AND at_ms >= ?2 AND ?4 = ?4
                 ORDER BY seq DESC LIMIT ?3"
            };
            let mut st = tx.prepare_cached(sql)?;
            let rows = st.query_map(
                params![org.0, since.as_ms(), limit as i64, BREAK_GLASS],
                audit_row,
            )?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(records)
    }

    /// The organisation's audit records since `since` (oldest first, at
    /// most `limit`) with their places in the chain, for an export;
    /// audited.
    pub fn audit_export(
        &mut self,
        org: OrgId,
        since: Timestamp,
        limit: usize,
        audit: &AuditRecord,
    ) -> Result<Vec<(u64, AuditRecord)>, StoreError> {
        let tx = self.immediate()?;
        let records = {
            let mut st = tx.prepare_cached(
                "SELECT seq, at_ms, org, actor, action, subject, patient, purpose, origin, outcome
                 FROM audit_log WHERE org = ?1 AND at_ms >= ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = st.query_map(params![org.0, since.as_ms(), limit as i64], |row| {
                Ok((row.get::<_, i64>(0)? as u64, audit_row(row)?))
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(records)
    }

    /// Referrals waiting to be delivered, per organisation.
    pub fn referral_backlog(&self) -> Result<Vec<(OrgId, u64)>, StoreError> {
        let mut q = self.db.prepare_cached(
            "SELECT org, COUNT(*) FROM referrals WHERE status = 'pending' GROUP BY org ORDER BY org",
        )?;
        let rows = q.query_map([], |r| Ok((OrgId(r.get(0)?), r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}
