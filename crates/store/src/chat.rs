//! Web chats: each conversation's row (its token's hash, its data key
//! wrapped under the key-encryption key, its contact and agent, how it
//! ended) and its messages, numbered 1, 2, 3 … and sealed (the edge
//! encrypts each body under the conversation's key before it gets here).
//! A message is stored before it is delivered; the numbers are a primary
//! key, so a message is never stored twice under one number.

use crate::directory::Directory;
use crate::{append_audit_tx, AuditRecord, StoreError};
use model::{AgentId, ContactId, OrgId, Timestamp};
use rusqlite::{params, OptionalExtension};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS chats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org INTEGER NOT NULL,
    service INTEGER NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    wrapped_key BLOB NOT NULL,
    identity BLOB,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER,
    contact INTEGER,
    agent INTEGER,
    agent_name TEXT,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS chats_contact ON chats (org, contact);
-- Every contact a conversation has had (an email thread opened again by
-- the patient's reply is a new contact of the same thread).
CREATE TABLE IF NOT EXISTS chat_contacts (
    org INTEGER NOT NULL,
    contact INTEGER NOT NULL,
    chat INTEGER NOT NULL,
    PRIMARY KEY (org, contact)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quick_replies (
    org INTEGER NOT NULL,
    position INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (org, position)
);
CREATE TABLE IF NOT EXISTS chat_messages (
    chat INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    sender TEXT NOT NULL,
    agent INTEGER,
    client_id TEXT,
    body BLOB NOT NULL,
    PRIMARY KEY (chat, seq)
) WITHOUT ROWID;
";

/// Columns added since the table was first made (a database of an
/// earlier version gains them; every old row is a web chat).
pub(crate) fn upgrade(db: &rusqlite::Connection) -> Result<(), StoreError> {
    for (col, def) in [("medium", "TEXT NOT NULL DEFAULT 'web'"), ("meta", "BLOB")] {
        let missing: bool = db.query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM pragma_table_info('chats') WHERE name = ?1)",
            params![col],
            |r| r.get(0),
        )?;
        if missing {
            db.execute_batch(&format!("ALTER TABLE chats ADD COLUMN {col} {def}"))?;
        }
    }
    Ok(())
}

/// A new conversation.
pub struct NewChat<'a> {
    pub org: OrgId,
    pub service: u32,
    pub token_hash: &'a [u8],
    pub wrapped_key: &'a [u8],
    /// What the patient said of themselves, sealed (None: nothing).
    pub identity: Option<&'a [u8]>,
    pub started: Timestamp,
    /// `web`, `email` or `sms`.
    pub medium: &'a str,
}

/// A conversation as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatRow {
    pub id: u64,
    pub org: OrgId,
    pub service: u32,
    pub wrapped_key: Vec<u8>,
    pub identity: Option<Vec<u8>>,
    pub started: Timestamp,
    pub ended: Option<Timestamp>,
    pub contact: Option<ContactId>,
    pub agent: Option<AgentId>,
    pub agent_name: Option<String>,
    pub outcome: Option<String>,
    /// `web`, `email` or `sms`.
    pub medium: String,
    /// A thread's sealed particulars (the patient's address, the subject,
    /// the mail ids of the thread), rewritten as they change.
    pub meta: Option<Vec<u8>>,
}

/// One message as stored: its body sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessageRow {
    pub seq: u64,
    pub at: Timestamp,
    /// `patient`, `agent` or `system`.
    pub sender: String,
    pub agent: Option<AgentId>,
    pub client_id: Option<String>,
    pub body: Vec<u8>,
}

/// What changed in a conversation's row with its messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatChange {
    pub contact: Option<ContactId>,
    pub agent: Option<(AgentId, String)>,
    pub ended: Option<(Timestamp, String)>,
    /// A resolved thread opened again: not ended, no agent.
    pub reopened: bool,
    /// The thread's particulars, sealed, replaced.
    pub meta: Option<Vec<u8>>,
    /// Messages that go out to the patient, written with them.
    pub outbox: Vec<crate::written::NewOutbound>,
    /// Keys that find the thread again (see [`crate::written`]).
    pub keys: Vec<Vec<u8>>,
}

const CHAT_COLUMNS: &str = "id, org, service, wrapped_key, identity, started_ms, ended_ms, contact, agent, agent_name, outcome, medium, meta";

fn chat_row(r: &rusqlite::Row<'_>) -> Result<ChatRow, rusqlite::Error> {
    Ok(ChatRow {
        id: r.get::<_, i64>(0)? as u64,
        org: OrgId(r.get(1)?),
        service: r.get(2)?,
        wrapped_key: r.get(3)?,
        identity: r.get(4)?,
        started: Timestamp(r.get(5)?),
        ended: r.get::<_, Option<i64>>(6)?.map(Timestamp),
        contact: r.get::<_, Option<i64>>(7)?.map(|c| ContactId(c as u64)),
        agent: r.get::<_, Option<u32>>(8)?.map(AgentId),
        agent_name: r.get(9)?,
        outcome: r.get(10)?,
        medium: r.get(11)?,
        meta: r.get(12)?,
    })
}

impl Directory {
    /// The next conversation's id (ids are never used twice: they name
    /// the sealed bodies' keys).
    pub fn next_chat_id(&self) -> Result<u64, StoreError> {
        // The highest id ever used (deleted ones too: AUTOINCREMENT keeps
        // it), plus one.
        Ok(self.db.query_row(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'chats'), 0),
                        COALESCE((SELECT MAX(id) FROM chats), 0)) + 1",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Creates a conversation under `id` (from [`Directory::next_chat_id`],
    /// taken under the same writer's turn), with its audit record.
    pub fn create_chat(
        &mut self,
        id: u64,
        c: &NewChat<'_>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        tx.execute(
            "INSERT INTO chats (id, org, service, token_hash, wrapped_key, identity, started_ms, medium)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                id as i64,
                c.org.0,
                c.service,
                c.token_hash,
                c.wrapped_key,
                c.identity,
                c.started.0,
                c.medium
            ],
        )?;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    /// Stores messages and the change in the conversation's row, in one
    /// transaction; durable when it returns.
    pub fn append_chat(
        &mut self,
        chat: u64,
        messages: &[ChatMessageRow],
        change: &ChatChange,
    ) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO chat_messages (chat, seq, at_ms, sender, agent, client_id, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for m in messages {
                st.execute(params![
                    chat as i64,
                    m.seq as i64,
                    m.at.0,
                    m.sender,
                    m.agent.map(|a| a.0),
                    m.client_id,
                    m.body
                ])?;
            }
        }
        if change.reopened {
            tx.execute(
                "UPDATE chats SET ended_ms = NULL, outcome = NULL, agent = NULL, agent_name = NULL,
                        contact = NULL WHERE id = ?1",
                params![chat as i64],
            )?;
        }
        if let Some(c) = change.contact {
            tx.execute(
                "UPDATE chats SET contact = ?2 WHERE id = ?1",
                params![chat as i64, c.0 as i64],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO chat_contacts (org, contact, chat)
                 SELECT org, ?2, id FROM chats WHERE id = ?1",
                params![chat as i64, c.0 as i64],
            )?;
        }
        if let Some(m) = &change.meta {
            tx.execute(
                "UPDATE chats SET meta = ?2 WHERE id = ?1",
                params![chat as i64, m],
            )?;
        }
        crate::written::add_outbound_tx(&tx, chat, &change.outbox)?;
        crate::written::add_keys_tx(&tx, chat, &change.keys)?;
        if let Some((a, name)) = &change.agent {
            tx.execute(
                "UPDATE chats SET agent = ?2, agent_name = ?3 WHERE id = ?1",
                params![chat as i64, a.0, name],
            )?;
        }
        if let Some((at, outcome)) = &change.ended {
            tx.execute(
                "UPDATE chats SET ended_ms = ?2, outcome = ?3 WHERE id = ?1",
                params![chat as i64, at.0, outcome],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A conversation by its id.
    pub fn chat_by_id(&self, chat: u64) -> Result<Option<ChatRow>, StoreError> {
        Ok(self
            .db
            .query_row(
                &format!("SELECT {CHAT_COLUMNS} FROM chats WHERE id = ?1"),
                params![chat as i64],
                chat_row,
            )
            .optional()?)
    }

    /// The conversation whose token hashes to `token_hash`.
    pub fn chat_by_token(&self, token_hash: &[u8]) -> Result<Option<ChatRow>, StoreError> {
        Ok(self
            .db
            .query_row(
                &format!("SELECT {CHAT_COLUMNS} FROM chats WHERE token_hash = ?1"),
                params![token_hash],
                chat_row,
            )
            .optional()?)
    }

    /// The conversation of a contact of `org`.
    pub fn chat_by_contact(
        &self,
        org: OrgId,
        contact: ContactId,
    ) -> Result<Option<ChatRow>, StoreError> {
        Ok(self
            .db
            .query_row(
                &format!(
                    "SELECT {CHAT_COLUMNS} FROM chats WHERE org = ?1 AND (contact = ?2 OR id =
                     (SELECT chat FROM chat_contacts WHERE org = ?1 AND contact = ?2))"
                ),
                params![org.0, contact.0 as i64],
                chat_row,
            )
            .optional()?)
    }

    /// A conversation's token hash (to find it again after a restart).
    pub fn chat_token_hash(&self, chat: u64) -> Result<Option<String>, StoreError> {
        let h: Option<Vec<u8>> = self
            .db
            .query_row(
                "SELECT token_hash FROM chats WHERE id = ?1",
                params![chat as i64],
                |r| r.get(0),
            )
            .optional()?;
        Ok(h.and_then(|b| String::from_utf8(b).ok()))
    }

    /// Conversations that have not ended (to carry on after a restart).
    pub fn open_chats(&self) -> Result<Vec<ChatRow>, StoreError> {
        let mut st = self.db.prepare(&format!(
            "SELECT {CHAT_COLUMNS} FROM chats WHERE ended_ms IS NULL ORDER BY id"
        ))?;
        let rows = st.query_map([], chat_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Up to `limit` messages after `after`, in order.
    pub fn chat_messages(
        &self,
        chat: u64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessageRow>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT seq, at_ms, sender, agent, client_id, body FROM chat_messages
             WHERE chat = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = st.query_map(params![chat as i64, after as i64, limit as i64], |r| {
            Ok(ChatMessageRow {
                seq: r.get::<_, i64>(0)? as u64,
                at: Timestamp(r.get(1)?),
                sender: r.get(2)?,
                agent: r.get::<_, Option<u32>>(3)?.map(AgentId),
                client_id: r.get(4)?,
                body: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The conversations of `org` started in `from..to` (at most `limit`),
    /// each with its messages' times and senders (`patient`, `agent`,
    /// `system`; the agent's id for an agent's words and for a join): what
    /// the chat figures need, nothing sealed.
    #[allow(clippy::type_complexity)]
    pub fn chat_timelines(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<(ChatRow, Vec<(Timestamp, String, Option<AgentId>)>)>, StoreError> {
        let rows: Vec<ChatRow> = {
            let mut st = self.db.prepare(&format!(
                "SELECT {CHAT_COLUMNS} FROM chats WHERE org = ?1 AND started_ms >= ?2 AND started_ms < ?3
                 ORDER BY started_ms LIMIT ?4"
            ))?;
            let r = st.query_map(params![org.0, from.0, to.0, limit as i64], chat_row)?;
            r.collect::<Result<_, _>>()?
        };
        let mut st = self.db.prepare_cached(
            "SELECT at_ms, sender, agent FROM chat_messages WHERE chat = ?1 ORDER BY seq",
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let msgs = st
                .query_map(params![row.id as i64], |r| {
                    Ok((
                        Timestamp(r.get(0)?),
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<u32>>(2)?.map(AgentId),
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            out.push((row, msgs));
        }
        Ok(out)
    }

    /// The organisation's quick replies (title, text), in order.
    pub fn quick_replies(&self, org: OrgId) -> Result<Vec<(String, String)>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT title, body FROM quick_replies WHERE org = ?1 ORDER BY position",
        )?;
        let rows = st.query_map(params![org.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replaces the organisation's quick replies, with its audit record.
    pub fn set_quick_replies(
        &mut self,
        org: OrgId,
        replies: &[(String, String)],
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        tx.execute("DELETE FROM quick_replies WHERE org = ?1", params![org.0])?;
        for (i, (title, body)) in replies.iter().enumerate() {
            tx.execute(
                "INSERT INTO quick_replies (org, position, title, body) VALUES (?1, ?2, ?3, ?4)",
                params![org.0, i as i64, title, body],
            )?;
        }
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    /// Ended conversations of `org`'s `service` that ended before
    /// `before` (at most `limit`), oldest first.
    pub fn chats_ended_before(
        &self,
        org: OrgId,
        service: u32,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT id FROM chats WHERE org = ?1 AND service = ?2 AND ended_ms IS NOT NULL
               AND ended_ms < ?3 ORDER BY ended_ms LIMIT ?4",
        )?;
        let rows = st.query_map(params![org.0, service, before.0, limit as i64], |r| {
            r.get::<_, i64>(0)
        })?;
        Ok(rows
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|i| i as u64)
            .collect())
    }

    /// Deletes a conversation: its messages and its row (with the row goes
    /// its wrapped key: its files no longer open), audited.
    pub fn delete_chat(&mut self, chat: u64, audit: &AuditRecord) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        tx.execute(
            "DELETE FROM chat_messages WHERE chat = ?1",
            params![chat as i64],
        )?;
        tx.execute(
            "DELETE FROM chat_contacts WHERE chat = ?1",
            params![chat as i64],
        )?;
        crate::written::delete_thread_tx(&tx, chat)?;
        tx.execute("DELETE FROM chats WHERE id = ?1", params![chat as i64])?;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    /// Writes an audit record on its own (a read of a conversation).
    pub fn audit_chat_read(&mut self, audit: &AuditRecord) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit() -> AuditRecord {
        AuditRecord {
            at: Timestamp(1),
            org: Some(OrgId(1)),
            actor: "patient".into(),
            action: "chat.start".into(),
            subject: "chat 1".into(),
            patient: None,
            purpose: None,
            origin: None,
            outcome: "ok".into(),
        }
    }

    #[test]
    fn messages_are_numbered_once_and_read_back_in_order_and_a_row_follows_its_changes() {
        let dir = tempdir();
        crate::SqliteStore::open(&dir).expect("store");
        let mut d = Directory::open(&dir).expect("directory");
        let id = d.next_chat_id().unwrap();
        assert_eq!(id, 1);
        d.create_chat(
            id,
            &NewChat {
                org: OrgId(1),
                service: 3,
                token_hash: b"h1",
                wrapped_key: b"k",
                identity: None,
                started: Timestamp(10),
                medium: "web",
            },
            &audit(),
        )
        .unwrap();
        let m = |seq: u64| ChatMessageRow {
            seq,
            at: Timestamp(10 + seq as i64),
            sender: "patient".into(),
            agent: None,
            client_id: Some(format!("c{seq}")),
            body: vec![seq as u8],
        };
        d.append_chat(id, &[m(1), m(2)], &ChatChange::default())
            .unwrap();
        // The same number again is refused, and nothing of that write stays.
        assert!(d
            .append_chat(
                id,
                &[m(3), m(2)],
                &ChatChange {
                    contact: Some(ContactId(9)),
                    ..ChatChange::default()
                }
            )
            .is_err());
        d.append_chat(
            id,
            &[m(3)],
            &ChatChange {
                contact: Some(ContactId(9)),
                agent: Some((AgentId(4), "Sam".into())),
                ..ChatChange::default()
            },
        )
        .unwrap();
        let seqs: Vec<u64> = d
            .chat_messages(id, 1, 10)
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, [2, 3]);
        let row = d.chat_by_token(b"h1").unwrap().expect("found");
        assert_eq!(row.contact, Some(ContactId(9)));
        assert_eq!(row.agent_name.as_deref(), Some("Sam"));
        assert_eq!(d.open_chats().unwrap().len(), 1);
        d.append_chat(
            id,
            &[],
            &ChatChange {
                ended: Some((Timestamp(99), "ended_by_agent".into())),
                ..ChatChange::default()
            },
        )
        .unwrap();
        assert!(d.open_chats().unwrap().is_empty());
        assert_eq!(
            d.chat_by_contact(OrgId(1), ContactId(9))
                .unwrap()
                .and_then(|r| r.outcome),
            Some("ended_by_agent".into())
        );
        assert_eq!(d.next_chat_id().unwrap(), 2);
        // Deleted (its retention ran out), its id is still never used again.
        d.delete_chat(id, &audit()).unwrap();
        assert!(d.chat_by_token(b"h1").unwrap().is_none());
        assert!(d.chat_messages(id, 0, 10).unwrap().is_empty());
        assert_eq!(d.next_chat_id().unwrap(), 2);
    }

    fn tempdir() -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!(
            "sb-chat-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}
