//! Email and text messages: the outbox every outgoing message is written
//! to before it is sent (with the message itself, in the same transaction),
//! the keys that find a thread again from an incoming mail or text, and
//! each mailbox's read position.
//!
//! An outbox row is `due` until a sender takes it: it is marked `sending`
//! (durably) before the provider is asked, then `sent` with the provider's
//! id, or `due` again at a later time, or `failed` for good. A row left
//! `sending` by a crash is settled by asking the provider by the row's
//! reference where the provider can say (Notify), else sent again with the
//! same Message-ID (email: a receiver sees the same message). Envelopes
//! (recipient, subject, words) are sealed by the edge; the row's
//! `reference` names the seal.

use crate::directory::Directory;
use crate::StoreError;
use model::{OrgId, Timestamp};
use rusqlite::{params, OptionalExtension};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS written_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org INTEGER NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    chat INTEGER,
    seq INTEGER,
    medium TEXT NOT NULL,
    route TEXT NOT NULL,
    envelope TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    sent_ms INTEGER,
    provider_id TEXT,
    delivery TEXT,
    delivery_ms INTEGER,
    last_error TEXT,
    -- A campaign's row: the campaign, its line in the file, and the
    -- recipient's lookup key (for opt-outs).
    campaign INTEGER,
    line INTEGER,
    recipient_key BLOB
);
CREATE INDEX IF NOT EXISTS written_outbox_campaign ON written_outbox (campaign, line);
CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org INTEGER NOT NULL,
    name TEXT NOT NULL,
    medium TEXT NOT NULL,
    template TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    recipients INTEGER NOT NULL
);
-- Satisfaction surveys: one per contact, its reply 1-5 once it comes.
CREATE TABLE IF NOT EXISTS surveys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org INTEGER NOT NULL,
    contact INTEGER NOT NULL,
    key BLOB NOT NULL,
    queue INTEGER NOT NULL,
    team INTEGER,
    agent INTEGER,
    channel TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    score INTEGER,
    answered_ms INTEGER,
    UNIQUE (org, contact)
);
CREATE INDEX IF NOT EXISTS surveys_key ON surveys (org, key, sent_ms);
CREATE INDEX IF NOT EXISTS surveys_sent ON surveys (org, sent_ms);
-- Recipients who said STOP: never sent a campaign's message again.
CREATE TABLE IF NOT EXISTS opt_outs (
    org INTEGER NOT NULL,
    key BLOB NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (org, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS written_outbox_due ON written_outbox (state, next_ms);
CREATE INDEX IF NOT EXISTS written_outbox_provider ON written_outbox (provider_id);
CREATE INDEX IF NOT EXISTS written_outbox_chat ON written_outbox (chat, seq);
CREATE TABLE IF NOT EXISTS thread_keys (
    key BLOB PRIMARY KEY,
    chat INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS thread_keys_chat ON thread_keys (chat);
CREATE TABLE IF NOT EXISTS mail_cursors (
    mailbox TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL
);
";

/// Longest a provider's id or an error kept, in bytes.
const MAX_NOTE: usize = 300;

/// A message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOutbound {
    pub org: OrgId,
    /// Unique: the provider's reference, and the envelope's seal's name.
    pub reference: String,
    pub chat: Option<u64>,
    pub seq: Option<u64>,
    /// `email` or `sms`.
    pub medium: String,
    /// Which sender: a mailbox's address, or `notify`.
    pub route: String,
    /// Sealed by the edge.
    pub envelope: String,
    pub created: Timestamp,
    /// When it may go (none: at once).
    pub due: Option<Timestamp>,
}

/// A campaign's recipient row: its line, when it goes, the recipient's
/// lookup key, and whether it is skipped (opted out) from the start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignRow {
    pub out: NewOutbound,
    pub line: u32,
    pub at: Timestamp,
    pub recipient_key: Vec<u8>,
    pub skipped: bool,
}

/// A campaign as made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Campaign {
    pub id: u64,
    pub org: OrgId,
    pub name: String,
    pub medium: String,
    pub template: String,
    pub created: Timestamp,
    pub created_by: String,
    pub recipients: u64,
}

/// A satisfaction survey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Survey {
    pub org: OrgId,
    pub contact: u64,
    /// The recipient's lookup key.
    pub key: Vec<u8>,
    pub queue: u32,
    pub team: Option<u32>,
    pub agent: Option<u32>,
    pub channel: String,
    pub sent: Timestamp,
    pub expires: Timestamp,
    pub score: Option<u8>,
    pub answered: Option<Timestamp>,
}

/// One recipient's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientResult {
    pub line: u32,
    pub state: String,
    pub delivery: Option<String>,
    pub error: Option<String>,
    pub next: Timestamp,
}

/// An outbox row as the sender sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    pub id: u64,
    pub org: OrgId,
    pub reference: String,
    pub chat: Option<u64>,
    pub seq: Option<u64>,
    pub medium: String,
    pub route: String,
    pub envelope: String,
    pub state: String,
    pub attempts: u32,
    pub provider_id: Option<String>,
    pub delivery: Option<String>,
    pub last_error: Option<String>,
    pub created: Timestamp,
    pub sent: Option<Timestamp>,
    pub campaign: Option<u64>,
    pub recipient_key: Option<Vec<u8>>,
}

const OUT_COLUMNS: &str = "id, org, reference, chat, seq, medium, route, envelope, state, attempts, provider_id, delivery, last_error, created_ms, sent_ms, campaign, recipient_key";

fn out_row(r: &rusqlite::Row<'_>) -> Result<Outbound, rusqlite::Error> {
    Ok(Outbound {
        id: r.get::<_, i64>(0)? as u64,
        org: OrgId(r.get(1)?),
        reference: r.get(2)?,
        chat: r.get::<_, Option<i64>>(3)?.map(|c| c as u64),
        seq: r.get::<_, Option<i64>>(4)?.map(|c| c as u64),
        medium: r.get(5)?,
        route: r.get(6)?,
        envelope: r.get(7)?,
        state: r.get(8)?,
        attempts: r.get(9)?,
        provider_id: r.get(10)?,
        delivery: r.get(11)?,
        last_error: r.get(12)?,
        created: Timestamp(r.get(13)?),
        sent: r.get::<_, Option<i64>>(14)?.map(Timestamp),
        campaign: r.get::<_, Option<i64>>(15)?.map(|c| c as u64),
        recipient_key: r.get(16)?,
    })
}

/// How many outbox rows are in one medium, state and delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundCount {
    pub medium: String,
    pub state: String,
    pub delivery: Option<String>,
    pub count: u64,
}

/// What became of one attempt to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The provider took it (its id for the message, if it gives one).
    Sent { provider_id: Option<String> },
    /// Try again at `retry_at`.
    Later { error: String, retry_at: Timestamp },
    /// Never (the provider refused it for good).
    Failed { error: String },
    /// Not sent: the recipient opted out.
    Skipped { reason: String },
}

fn clip(s: &str) -> String {
    let mut end = s.len().min(MAX_NOTE);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

pub(crate) fn add_outbound_tx(
    tx: &rusqlite::Transaction<'_>,
    chat: u64,
    rows: &[NewOutbound],
) -> Result<(), StoreError> {
    let mut st = tx.prepare_cached(
        "INSERT INTO written_outbox (org, reference, chat, seq, medium, route, envelope, state, created_ms, next_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'due', ?8, ?9)",
    )?;
    for o in rows {
        st.execute(params![
            o.org.0,
            o.reference,
            o.chat.or((chat != 0).then_some(chat)).map(|c| c as i64),
            o.seq.map(|s| s as i64),
            o.medium,
            o.route,
            o.envelope,
            o.created.0,
            o.due.unwrap_or(o.created).0
        ])?;
    }
    Ok(())
}

pub(crate) fn add_keys_tx(
    tx: &rusqlite::Transaction<'_>,
    chat: u64,
    keys: &[Vec<u8>],
) -> Result<(), StoreError> {
    let mut st =
        tx.prepare_cached("INSERT OR REPLACE INTO thread_keys (key, chat) VALUES (?1, ?2)")?;
    for k in keys {
        st.execute(params![k, chat as i64])?;
    }
    Ok(())
}

pub(crate) fn delete_thread_tx(
    tx: &rusqlite::Transaction<'_>,
    chat: u64,
) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM thread_keys WHERE chat = ?1",
        params![chat as i64],
    )?;
    // What was sent stays counted; what it said goes.
    tx.execute(
        "UPDATE written_outbox SET envelope = '' WHERE chat = ?1 AND state IN ('sent', 'failed')",
        params![chat as i64],
    )?;
    Ok(())
}

impl Directory {
    /// The thread a key finds (keys are the edge's keyed hashes of a
    /// sender and a message id, or of a phone number).
    pub fn thread_by_key(&self, key: &[u8]) -> Result<Option<u64>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT chat FROM thread_keys WHERE key = ?1",
                params![key],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|c| c as u64))
    }

    /// Adds keys that find `chat` (an incoming mail's own id, once it is
    /// stored).
    pub fn add_thread_keys(&mut self, chat: u64, keys: &[Vec<u8>]) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        add_keys_tx(&tx, chat, keys)?;
        tx.commit()?;
        Ok(())
    }

    /// Messages to send not tied to a conversation (reminders, surveys),
    /// in one transaction.
    pub fn add_outbound(&mut self, rows: &[NewOutbound]) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO written_outbox (org, reference, chat, seq, medium, route, envelope, state, created_ms, next_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'due', ?8, ?9)",
            )?;
            for o in rows {
                st.execute(params![
                    o.org.0,
                    o.reference,
                    o.chat.map(|c| c as i64),
                    o.seq.map(|s| s as i64),
                    o.medium,
                    o.route,
                    o.envelope,
                    o.created.0,
                    o.due.unwrap_or(o.created).0
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Makes a campaign and its recipients' rows, with its audit record,
    /// in one transaction: all of it or nothing. Its id.
    pub fn create_campaign(
        &mut self,
        c: &Campaign,
        rows: &[CampaignRow],
        audit: &crate::AuditRecord,
    ) -> Result<u64, StoreError> {
        let tx = self.immediate()?;
        tx.execute(
            "INSERT INTO campaigns (org, name, medium, template, created_ms, created_by, recipients)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                c.org.0,
                c.name,
                c.medium,
                c.template,
                c.created.0,
                c.created_by,
                rows.len() as i64
            ],
        )?;
        let id = tx.last_insert_rowid();
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO written_outbox (org, reference, medium, route, envelope, state, next_ms, created_ms,
                                             campaign, line, recipient_key, last_error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for r in rows {
                st.execute(params![
                    r.out.org.0,
                    r.out.reference,
                    r.out.medium,
                    r.out.route,
                    if r.skipped {
                        ""
                    } else {
                        r.out.envelope.as_str()
                    },
                    if r.skipped { "skipped" } else { "due" },
                    r.at.0,
                    r.out.created.0,
                    id,
                    r.line,
                    r.recipient_key,
                    r.skipped.then_some("the recipient opted out (STOP)")
                ])?;
            }
        }
        crate::append_audit_tx(&tx, audit)?;
        tx.commit()?;
        Ok(id as u64)
    }

    /// A campaign of `org`, with every recipient's result in line order.
    pub fn campaign(
        &self,
        org: OrgId,
        id: u64,
    ) -> Result<Option<(Campaign, Vec<RecipientResult>)>, StoreError> {
        let c = self
            .db
            .query_row(
                "SELECT id, org, name, medium, template, created_ms, created_by, recipients
                 FROM campaigns WHERE id = ?1 AND org = ?2",
                params![id as i64, org.0],
                |r| {
                    Ok(Campaign {
                        id: r.get::<_, i64>(0)? as u64,
                        org: OrgId(r.get(1)?),
                        name: r.get(2)?,
                        medium: r.get(3)?,
                        template: r.get(4)?,
                        created: Timestamp(r.get(5)?),
                        created_by: r.get(6)?,
                        recipients: r.get::<_, i64>(7)? as u64,
                    })
                },
            )
            .optional()?;
        let Some(c) = c else { return Ok(None) };
        let mut st = self.db.prepare_cached(
            "SELECT line, state, delivery, last_error, next_ms FROM written_outbox
             WHERE campaign = ?1 ORDER BY line",
        )?;
        let rows = st.query_map(params![id as i64], |r| {
            Ok(RecipientResult {
                line: r.get(0)?,
                state: r.get(1)?,
                delivery: r.get(2)?,
                error: r.get(3)?,
                next: Timestamp(r.get(4)?),
            })
        })?;
        Ok(Some((c, rows.collect::<Result<_, _>>()?)))
    }

    /// Writes a survey and its text's outbox row in one transaction; false
    /// (and nothing written) if the contact has one already.
    pub fn create_survey(&mut self, s: &Survey, out: &NewOutbound) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "INSERT OR IGNORE INTO surveys (org, contact, key, queue, team, agent, channel, sent_ms, expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                s.org.0,
                s.contact as i64,
                s.key,
                s.queue,
                s.team,
                s.agent,
                s.channel,
                s.sent.0,
                s.expires.0
            ],
        )?;
        if n == 1 {
            add_outbound_tx(&tx, 0, std::slice::from_ref(out))?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    /// Whether the recipient behind `key` was sent a survey since `since`.
    pub fn surveyed_since(
        &self,
        org: OrgId,
        key: &[u8],
        since: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self.db.query_row(
            "SELECT EXISTS (SELECT 1 FROM surveys WHERE org = ?1 AND key = ?2 AND sent_ms >= ?3)",
            params![org.0, key, since.0],
            |r| r.get(0),
        )?)
    }

    /// Records a reply `score` from the recipient behind `key` to their
    /// latest unanswered survey still open at `now`; false if none is.
    pub fn answer_survey(
        &mut self,
        org: OrgId,
        key: &[u8],
        score: u8,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let id: Option<i64> = tx
            .query_row(
                "SELECT id FROM surveys WHERE org = ?1 AND key = ?2 AND score IS NULL AND expires_ms > ?3
                 ORDER BY sent_ms DESC LIMIT 1",
                params![org.0, key, now.0],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = id else { return Ok(false) };
        tx.execute(
            "UPDATE surveys SET score = ?2, answered_ms = ?3 WHERE id = ?1",
            params![id, score, now.0],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// `org`'s surveys sent in `from..to`.
    pub fn surveys(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Survey>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT org, contact, key, queue, team, agent, channel, sent_ms, expires_ms, score, answered_ms
             FROM surveys WHERE org = ?1 AND sent_ms >= ?2 AND sent_ms < ?3 ORDER BY sent_ms",
        )?;
        let rows = st.query_map(params![org.0, from.0, to.0], |r| {
            Ok(Survey {
                org: OrgId(r.get(0)?),
                contact: r.get::<_, i64>(1)? as u64,
                key: r.get(2)?,
                queue: r.get(3)?,
                team: r.get(4)?,
                agent: r.get(5)?,
                channel: r.get(6)?,
                sent: Timestamp(r.get(7)?),
                expires: Timestamp(r.get(8)?),
                score: r.get(9)?,
                answered: r.get::<_, Option<i64>>(10)?.map(Timestamp),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The recipient behind `key` said STOP: never sent a campaign's
    /// message again (their rows still due are skipped).
    pub fn add_opt_out(
        &mut self,
        org: OrgId,
        key: &[u8],
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let tx = self.immediate()?;
        tx.execute(
            "INSERT OR IGNORE INTO opt_outs (org, key, at_ms) VALUES (?1, ?2, ?3)",
            params![org.0, key, at.0],
        )?;
        let n = tx.execute(
            "UPDATE written_outbox SET state = 'skipped', envelope = '',
                    last_error = 'the recipient opted out (STOP)'
             WHERE org = ?1 AND recipient_key = ?2 AND campaign IS NOT NULL AND state = 'due'",
            params![org.0, key],
        )?;
        tx.commit()?;
        Ok(n as u64)
    }

    /// Whether the recipient behind `key` opted out.
    pub fn opted_out(&self, org: OrgId, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.db.query_row(
            "SELECT EXISTS (SELECT 1 FROM opt_outs WHERE org = ?1 AND key = ?2)",
            params![org.0, key],
            |r| r.get(0),
        )?)
    }

    /// Up to `limit` rows due by `now` of `route`, oldest first.
    pub fn due_outbound(
        &self,
        route: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Outbound>, StoreError> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {OUT_COLUMNS} FROM written_outbox
             WHERE state = 'due' AND route = ?1 AND next_ms <= ?2
             ORDER BY campaign IS NOT NULL, next_ms, id LIMIT ?3"
        ))?;
        let rows = st.query_map(params![route, now.0, limit as i64], out_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Rows of `route` a crash left `sending`.
    pub fn sending_outbound(&self, route: &str) -> Result<Vec<Outbound>, StoreError> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {OUT_COLUMNS} FROM written_outbox WHERE state = 'sending' AND route = ?1 ORDER BY id"
        ))?;
        let rows = st.query_map(params![route], out_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Marks a row `sending` (one more attempt) before the provider is
    /// asked; false if it was not due (another sender took it).
    pub fn outbound_sending(&mut self, id: u64) -> Result<bool, StoreError> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE written_outbox SET state = 'sending', attempts = attempts + 1
             WHERE id = ?1 AND state = 'due'",
            params![id as i64],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// What the attempt on row `id` came to.
    pub fn outbound_attempt(
        &mut self,
        id: u64,
        now: Timestamp,
        a: &Attempt,
    ) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        match a {
            Attempt::Sent { provider_id } => tx.execute(
                "UPDATE written_outbox SET state = 'sent', sent_ms = ?2, provider_id = ?3, last_error = NULL
                 WHERE id = ?1",
                params![id as i64, now.0, provider_id.as_deref().map(clip)],
            )?,
            Attempt::Later { error, retry_at } => tx.execute(
                "UPDATE written_outbox SET state = 'due', next_ms = ?2, last_error = ?3 WHERE id = ?1",
                params![id as i64, retry_at.0, clip(error)],
            )?,
            Attempt::Failed { error } => tx.execute(
                "UPDATE written_outbox SET state = 'failed', last_error = ?2 WHERE id = ?1",
                params![id as i64, clip(error)],
            )?,
            Attempt::Skipped { reason } => tx.execute(
                "UPDATE written_outbox SET state = 'skipped', envelope = '', last_error = ?2 WHERE id = ?1",
                params![id as i64, clip(reason)],
            )?,
        };
        tx.commit()?;
        Ok(())
    }

    /// A delivery receipt: the row the provider's id or our reference
    /// names gets its status. The row, if there is one.
    pub fn outbound_delivery(
        &mut self,
        org: Option<OrgId>,
        provider_id: Option<&str>,
        reference: Option<&str>,
        status: &str,
        at: Timestamp,
    ) -> Result<Option<Outbound>, StoreError> {
        let tx = self.immediate()?;
        let id: Option<i64> = tx
            .query_row(
                "SELECT id FROM written_outbox WHERE ((?1 IS NOT NULL AND provider_id = ?1)
                    OR (?2 IS NOT NULL AND reference = ?2)) AND (?3 IS NULL OR org = ?3)
                 ORDER BY id LIMIT 1",
                params![provider_id, reference, org.map(|o| o.0)],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = id else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE written_outbox SET delivery = ?2, delivery_ms = ?3 WHERE id = ?1",
            params![id, clip(status), at.0],
        )?;
        let row = tx.query_row(
            &format!("SELECT {OUT_COLUMNS} FROM written_outbox WHERE id = ?1"),
            params![id],
            out_row,
        )?;
        tx.commit()?;
        Ok(Some(row))
    }

    /// A row by its reference.
    pub fn outbound_by_reference(&self, reference: &str) -> Result<Option<Outbound>, StoreError> {
        Ok(self
            .db
            .query_row(
                &format!("SELECT {OUT_COLUMNS} FROM written_outbox WHERE reference = ?1"),
                params![reference],
                out_row,
            )
            .optional()?)
    }

    /// The outbox rows of a conversation, in order of their messages.
    pub fn outbound_of_chat(&self, chat: u64) -> Result<Vec<Outbound>, StoreError> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {OUT_COLUMNS} FROM written_outbox WHERE chat = ?1 ORDER BY seq, id"
        ))?;
        let rows = st.query_map(params![chat as i64], out_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Counts of `org`'s rows created in `from..to` by medium, state and
    /// delivery.
    pub fn outbound_counts(
        &self,
        org: OrgId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<OutboundCount>, StoreError> {
        let mut st = self.db.prepare_cached(
            "SELECT medium, state, delivery, COUNT(*) FROM written_outbox
             WHERE org = ?1 AND created_ms >= ?2 AND created_ms < ?3
             GROUP BY medium, state, delivery ORDER BY medium, state, delivery",
        )?;
        let rows = st.query_map(params![org.0, from.0, to.0], |r| {
            Ok(OutboundCount {
                medium: r.get(0)?,
                state: r.get(1)?,
                delivery: r.get(2)?,
                count: r.get::<_, i64>(3)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A mailbox's read position: (UIDVALIDITY, the last UID taken).
    pub fn mail_cursor(&self, mailbox: &str) -> Result<Option<(u32, u32)>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT uidvalidity, last_uid FROM mail_cursors WHERE mailbox = ?1",
                params![mailbox],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    pub fn set_mail_cursor(
        &mut self,
        mailbox: &str,
        uidvalidity: u32,
        last_uid: u32,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO mail_cursors (mailbox, uidvalidity, last_uid) VALUES (?1, ?2, ?3)
             ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = ?2, last_uid = ?3",
            params![mailbox, uidvalidity, last_uid],
        )?;
        Ok(())
    }
}
