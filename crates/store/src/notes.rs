//! Wrap-up notes, sealed (`app::seal`): read with their audit record in
//! one transaction, deleted with theirs (and with the row goes the wrapped
//! key: nothing opens the text after that).

use crate::directory::Directory;
use crate::{append_audit_tx, AuditRecord, Sealed, StoreError};
use model::{AgentId, ContactId, OrgId, Timestamp};
use rusqlite::params;

/// One agent's note on a contact, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredNote {
    pub agent: AgentId,
    pub at: Timestamp,
    pub sealed: Sealed,
}

impl Directory {
    /// Whether the organisation has a record of this contact: a wrap-up
    /// outcome or a caller's identity (a live contact is the engine's).
    pub fn contact_on_record(&self, org: OrgId, contact: ContactId) -> Result<bool, StoreError> {
        Ok(self.db.query_row(
            "SELECT EXISTS (SELECT 1 FROM contact_outcomes WHERE org = ?1 AND contact = ?2)
                 OR EXISTS (SELECT 1 FROM contact_callers WHERE org = ?1 AND contact = ?2)",
            params![org.0, contact.0 as i64],
            |r| r.get(0),
        )?)
    }

    /// A contact's notes (oldest first), audited in the same transaction.
    pub fn read_notes(
        &mut self,
        org: OrgId,
        contact: ContactId,
        audit: &AuditRecord,
    ) -> Result<Vec<StoredNote>, StoreError> {
        let tx = self.immediate()?;
        let notes = {
            let mut q = tx.prepare(
                "SELECT agent, at_ms, wrapped_key, sealed FROM contact_notes
                 WHERE org = ?1 AND contact = ?2 ORDER BY at_ms, agent",
            )?;
            let rows = q.query_map(params![org.0, contact.0 as i64], |r| {
                Ok(StoredNote {
                    agent: AgentId(r.get(0)?),
                    at: Timestamp(r.get(1)?),
                    sealed: Sealed {
                        wrapped_key: r.get(2)?,
                        text: r.get(3)?,
                    },
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(notes)
    }

    /// Deletes a contact's notes and their keys; how many, audited.
    pub fn delete_notes(
        &mut self,
        org: OrgId,
        contact: ContactId,
        audit: &AuditRecord,
    ) -> Result<usize, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "DELETE FROM contact_notes WHERE org = ?1 AND contact = ?2",
            params![org.0, contact.0 as i64],
        )?;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(n)
    }
}
