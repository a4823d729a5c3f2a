//! Quality scoring's records: scorecards (their definition as JSON, kept
//! for good once used: an evaluation names the version it was scored on)
//! and evaluations (answers, score, the evaluator; the comment sealed as
//! notes are). Every write is audited in its transaction.

use crate::directory::Directory;
use crate::{append_audit_tx, AuditRecord, Sealed, StoreError};
use model::{AgentId, ContactId, OrgId, Timestamp};
use rusqlite::{params, OptionalExtension};

/// A scorecard as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScorecardRow {
    pub id: u32,
    /// Its definition (`app::quality::Scorecard` as JSON).
    pub definition: String,
    pub changed: Timestamp,
}

/// An evaluation as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct EvaluationRow {
    pub id: u64,
    pub scorecard: u32,
    /// The scorecard's definition it was scored on.
    pub definition: String,
    pub recording: u64,
    pub contact: Option<ContactId>,
    pub agent: AgentId,
    /// Who scored it (`user:7 (name)`), and their user id.
    pub evaluator: String,
    pub evaluator_user: u32,
    pub at: Timestamp,
    /// The answers (`{question: answer}` as JSON).
    pub answers: String,
    pub score: f64,
    /// The fail-all questions that failed (JSON list).
    pub failed: String,
    /// Each question's marks as a fraction (JSON object).
    pub by_question: String,
    pub comment: Option<Sealed>,
}

/// Which evaluations to read.
#[derive(Clone, Debug, Default)]
pub struct EvaluationQuery {
    pub agent: Option<AgentId>,
    pub recording: Option<u64>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: usize,
}

const COLUMNS: &str = "id, scorecard, definition, recording, contact, agent, evaluator, evaluator_user, at_ms, answers, score, failed, by_question, comment_key, comment";

fn evaluation(r: &rusqlite::Row) -> rusqlite::Result<EvaluationRow> {
    let key: Option<Vec<u8>> = r.get(13)?;
    let text: Option<Vec<u8>> = r.get(14)?;
    Ok(EvaluationRow {
        id: r.get::<_, i64>(0)? as u64,
        scorecard: r.get(1)?,
        definition: r.get(2)?,
        recording: r.get::<_, i64>(3)? as u64,
        contact: r.get::<_, Option<i64>>(4)?.map(|c| ContactId(c as u64)),
        agent: AgentId(r.get(5)?),
        evaluator: r.get(6)?,
        evaluator_user: r.get(7)?,
        at: Timestamp(r.get(8)?),
        answers: r.get(9)?,
        score: r.get(10)?,
        failed: r.get(11)?,
        by_question: r.get(12)?,
        comment: match (key, text) {
            (Some(wrapped_key), Some(text)) => Some(Sealed { wrapped_key, text }),
            _ => None,
        },
    })
}

impl Directory {
    /// Creates or replaces a scorecard; true if created.
    pub fn put_scorecard(
        &mut self,
        org: OrgId,
        id: u32,
        definition: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let existed: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM scorecards WHERE org = ?1 AND id = ?2)",
            params![org.0, id],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO scorecards (org, id, definition, changed_ms) VALUES (?1, ?2, ?3, ?4)",
            params![org.0, id, definition, at.0],
        )?;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(!existed)
    }

    pub fn scorecards(&self, org: OrgId) -> Result<Vec<ScorecardRow>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT id, definition, changed_ms FROM scorecards WHERE org = ?1 ORDER BY id",
        )?;
        let rows = st.query_map(params![org.0], |r| {
            Ok(ScorecardRow {
                id: r.get(0)?,
                definition: r.get(1)?,
                changed: Timestamp(r.get(2)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn scorecard(&self, org: OrgId, id: u32) -> Result<Option<ScorecardRow>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT id, definition, changed_ms FROM scorecards WHERE org = ?1 AND id = ?2",
                params![org.0, id],
                |r| {
                    Ok(ScorecardRow {
                        id: r.get(0)?,
                        definition: r.get(1)?,
                        changed: Timestamp(r.get(2)?),
                    })
                },
            )
            .optional()?)
    }

    /// Stores an evaluation (its id is the next of the organisation's),
    /// audited; answers its id.
    pub fn add_evaluation(
        &mut self,
        org: OrgId,
        e: &EvaluationRow,
        audit: &AuditRecord,
    ) -> Result<u64, StoreError> {
        let tx = self.immediate()?;
        let id: i64 = tx.query_row(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM evaluations WHERE org = ?1",
            params![org.0],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO evaluations (org, id, scorecard, definition, recording, contact, agent, evaluator, evaluator_user, at_ms, answers, score, failed, by_question, comment_key, comment)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![
                org.0,
                id,
                e.scorecard,
                e.definition,
                e.recording as i64,
                e.contact.map(|c| c.0 as i64),
                e.agent.0,
                e.evaluator,
                e.evaluator_user,
                e.at.0,
                e.answers,
                e.score,
                e.failed,
                e.by_question,
                e.comment.as_ref().map(|c| c.wrapped_key.clone()),
                e.comment.as_ref().map(|c| c.text.clone()),
            ],
        )?;
        let mut audit = audit.clone();
        audit.subject = format!("evaluation {id} of recording {}", e.recording);
        append_audit_tx(&tx, &audit)?;
        tx.commit()?;
        Ok(id as u64)
    }

    /// Evaluations matching `q`, newest first.
    pub fn evaluations(
        &self,
        org: OrgId,
        q: &EvaluationQuery,
    ) -> Result<Vec<EvaluationRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM evaluations WHERE org = ?1
               AND (?2 IS NULL OR agent = ?2)
               AND (?3 IS NULL OR recording = ?3)
               AND (?4 IS NULL OR at_ms >= ?4)
               AND (?5 IS NULL OR at_ms < ?5)
             ORDER BY at_ms DESC, id DESC LIMIT ?6"
        );
        let mut st = self.db.prepare_cached(&sql)?;
        let rows = st.query_map(
            params![
                org.0,
                q.agent.map(|a| a.0),
                q.recording.map(|r| r as i64),
                q.from.map(|t| t.0),
                q.to.map(|t| t.0),
                q.limit as i64
            ],
            evaluation,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
