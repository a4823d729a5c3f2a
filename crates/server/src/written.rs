//! Email threads and text exchanges at the edge: what the two transports
//! share. A thread is a conversation of [`crate::chat::Chats`] (its
//! messages sealed and stored, read and written from the agent's desktop
//! like a chat) run by a [`callctl::thread::Thread`]; this module keeps its
//! particulars (the patient's address, the subject, the chain of mail ids,
//! sealed in the conversation's row), turns a message that must go out into
//! a sealed outbox envelope, and takes an incoming message into its thread
//! (a live one, a resolved one opened again, or a new one).

use crate::chat::{lock, Chats, Conv, Identity, Machine, Spawn};
use crate::App;
use app::seal;
use callctl::chat::{Body, ChatInput};
use callctl::thread::{Medium, Thread};
use model::{OrgId, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The medium a stored conversation's `medium` names (None: a web chat).
pub(crate) fn medium(s: &str) -> Option<Medium> {
    match s {
        "email" => Some(Medium::Email),
        "sms" => Some(Medium::Sms),
        _ => None,
    }
}

/// Most mail ids a thread keeps for its replies' References.
const MAX_CHAIN: usize = 40;

/// A thread's particulars, sealed in its row.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ThreadMeta {
    /// The patient's address: an email address or a mobile number.
    pub address: String,
    /// Which sender answers: the mailbox's address, or `notify`.
    pub route: String,
    /// Our address (email) the replies come from.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub subject: String,
    /// The thread's mail ids (the patient's and ours), oldest first.
    #[serde(default)]
    pub chain: Vec<String>,
    /// The patient's last mail's id (a reply's In-Reply-To).
    #[serde(default)]
    pub answering: Option<String>,
}

fn meta_aad(org: OrgId, chat: u64) -> String {
    format!("thread-meta:{}:{chat}", org.0)
}

impl ThreadMeta {
    pub fn seal(&self, key: &[u8; 32], org: OrgId, chat: u64) -> Vec<u8> {
        seal::encrypt_with(
            key,
            &meta_aad(org, chat),
            &serde_json::to_vec(self).unwrap_or_default(),
        )
    }

    pub fn open(key: &[u8; 32], org: OrgId, chat: u64, sealed: &[u8]) -> Option<ThreadMeta> {
        let plain = seal::decrypt_with(key, &meta_aad(org, chat), sealed).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// A mail id joins the chain (the oldest beyond [`MAX_CHAIN`] go, the
    /// root stays).
    pub fn remember(&mut self, id: &str) {
        if self.chain.iter().any(|c| c == id) {
            return;
        }
        self.chain.push(id.to_string());
        if self.chain.len() > MAX_CHAIN {
            self.chain.remove(1);
        }
    }
}

/// What an outbox row sends, sealed under the key-encryption key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Envelope {
    Email {
        to: String,
        from: String,
        subject: String,
        /// Ours, without angle brackets.
        message_id: String,
        in_reply_to: Option<String>,
        references: Vec<String>,
        text: String,
        /// Sent by the service itself (an acknowledgement): marked
        /// `Auto-Submitted: auto-replied`.
        automatic: bool,
    },
    Sms {
        to: String,
        text: String,
    },
    /// A campaign's message: a Notify template and its personalisation.
    Template {
        /// `sms` or `email`.
        medium: String,
        to: String,
        template: String,
        personalisation: std::collections::BTreeMap<String, String>,
        /// The campaign's quiet hours (`HH:MM`, `HH:MM`, London): a
        /// message late for its time (a backlog, an outage) still waits.
        #[serde(default)]
        quiet: Option<(String, String)>,
    },
}

fn envelope_aad(org: OrgId, reference: &str) -> String {
    format!("outbox:{}:{reference}", org.0)
}

pub(crate) fn seal_envelope(app: &App, org: OrgId, reference: &str, e: &Envelope) -> String {
    seal::seal_to_text(
        &app.kek,
        &envelope_aad(org, reference),
        &serde_json::to_vec(e).unwrap_or_default(),
    )
}

pub(crate) fn open_envelope(
    app: &App,
    org: OrgId,
    reference: &str,
    sealed: &str,
) -> Option<Envelope> {
    let plain = seal::open_text(&app.kek, &envelope_aad(org, reference), sealed).ok()?;
    serde_json::from_slice(&plain).ok()
}

/// A lookup key for a thread (see [`seal::keyed_hash`]).
pub(crate) fn key(app: &App, org: OrgId, parts: &[&str]) -> Vec<u8> {
    let org = org.0.to_string();
    let mut all = vec![org.as_str()];
    all.extend_from_slice(parts);
    seal::keyed_hash(&app.kek, &all)
}

/// The key that finds the thread an email with id `mail_id` to or from
/// `address` belongs to.
pub(crate) fn mail_key(app: &App, org: OrgId, address: &str, mail_id: &str) -> Vec<u8> {
    key(app, org, &["mail", &address.to_ascii_lowercase(), mail_id])
}

/// The key that says thread `chat` is `address`'s (its subject tag).
pub(crate) fn owner_key(app: &App, org: OrgId, address: &str, chat: u64) -> Vec<u8> {
    key(
        app,
        org,
        &["owner", &address.to_ascii_lowercase(), &chat.to_string()],
    )
}

/// The key that finds a mobile number's latest thread.
pub(crate) fn phone_key(app: &App, org: OrgId, number: &str) -> Vec<u8> {
    key(app, org, &["phone", number])
}

/// The outbox row (and the keys that find the thread from replies to it)
/// for message `seq` of thread `chat`, which says `text`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn outgoing(
    app: &App,
    org: OrgId,
    chat: u64,
    medium: &str,
    meta: &mut ThreadMeta,
    seq: u64,
    at: Timestamp,
    text: &str,
    automatic: bool,
) -> (store::written::NewOutbound, Vec<Vec<u8>>) {
    let reference = format!("sb-{}-{chat}-{seq}", org.0);
    let mut keys = Vec::new();
    let envelope = if medium == "email" {
        let domain = meta
            .from
            .rsplit_once('@')
            .map_or("switchboard.invalid", |(_, d)| d)
            .to_string();
        let message_id = format!(
            "{reference}.{}@{domain}",
            app::auth::hex(&app::auth::random_bytes::<6>())
        );
        let (in_reply_to, references) =
            callctl::mail::reply_headers(&meta.chain, meta.answering.as_deref());
        meta.remember(&message_id);
        keys.push(mail_key(app, org, &meta.address, &message_id));
        Envelope::Email {
            to: meta.address.clone(),
            from: meta.from.clone(),
            subject: callctl::mail::reply_subject(&meta.subject, chat),
            message_id,
            in_reply_to,
            references,
            text: text.to_string(),
            automatic,
        }
    } else {
        Envelope::Sms {
            to: meta.address.clone(),
            text: text.to_string(),
        }
    };
    let row = store::written::NewOutbound {
        org,
        reference: reference.clone(),
        chat: Some(chat),
        seq: Some(seq),
        medium: medium.to_string(),
        route: meta.route.clone(),
        envelope: seal_envelope(app, org, &reference, &envelope),
        created: at,
        due: None,
    };
    (row, keys)
}

/// Where an incoming message goes.
#[derive(Debug)]
pub(crate) enum Target {
    /// Into this thread (live, or resolved and opened again).
    Join(u64),
    /// A new thread of this service, with its particulars and the
    /// acknowledgement to send (None: none).
    New {
        service: u32,
        meta: ThreadMeta,
        acknowledgement: Option<String>,
    },
}

/// An incoming email or text.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub org: OrgId,
    pub medium: Medium,
    pub target: Target,
    /// Its id for the thread (one seen again is not stored twice).
    pub input_id: String,
    /// Its words (or a file already stored).
    pub body: Body,
    /// An email's Message-ID (joins the chain and is answered).
    pub mail_id: Option<String>,
    /// Keys that find the thread from now on, stored with the message.
    pub keys: Vec<Vec<u8>>,
    /// What the audit record says it was (`email.received`, `sms.received`).
    pub action: &'static str,
}

/// Why an incoming message could not be taken (it is left where it was,
/// to be taken again).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReceiveError {
    #[error("the store failed: {0}")]
    Store(String),
    #[error("thread {0} is not this organisation's")]
    NotFound(u64),
    #[error("service {0} has no definition")]
    NoService(u32),
    #[error("the thread refused the message: {0}")]
    Refused(String),
}

/// Takes an incoming message into its thread; its number there once it is
/// stored (the caller may then say it has it: mark the mail read, answer
/// the callback).
pub(crate) async fn receive(chats: &Arc<Chats>, inc: Incoming) -> Result<(u64, u64), ReceiveError> {
    let app = chats.app().clone();
    let Incoming {
        org,
        medium,
        target,
        input_id,
        body,
        mail_id,
        keys,
        action,
    } = inc;
    // One incoming message at a time: two for one resolved thread (or
    // from one new number) must not start two tasks for it.
    let _turn = chats.receiving.lock().await;
    let conv = match target {
        Target::Join(chat) => match chats.by_id(chat) {
            Some(c) if c.org == org => c,
            Some(_) => return Err(ReceiveError::NotFound(chat)),
            None => match reopen(chats, org, chat, &input_id).await? {
                Reopened::Live(c) => c,
                Reopened::Already(seq) => return Ok((chat, seq)),
            },
        },
        Target::New {
            service,
            meta,
            acknowledgement,
        } => create(chats, org, medium, service, meta, acknowledgement, action).await?,
    };
    if let Some(t) = &conv.thread {
        let mut m = lock(t);
        if let Some(id) = &mail_id {
            m.remember(id);
            m.answering = Some(id.clone());
        }
    }
    conv.add_keys(keys);
    let input = match body {
        Body::File(file) => ChatInput::File {
            id: Some(input_id),
            file,
        },
        Body::Text(text) => ChatInput::Text {
            id: Some(input_id),
            text,
        },
        _ => return Err(ReceiveError::Refused("not a message".into())),
    };
    let seq = conv
        .send(input)
        .await
        .map_err(|r| ReceiveError::Refused(r.message()))?;
    let _ = app;
    Ok((conv.id, seq))
}

/// A stored thread made live again.
enum Reopened {
    Live(Arc<Conv>),
    /// The message is stored already, as this number (taken twice).
    Already(u64),
}

/// A resolved thread opened again by the patient's message (one whose
/// task stopped without its end is carried on as it was).
async fn reopen(
    chats: &Arc<Chats>,
    org: OrgId,
    chat: u64,
    input_id: &str,
) -> Result<Reopened, ReceiveError> {
    let app = chats.app();
    let row = app
        .with_directory(move |d| d.chat_by_id(chat))
        .await
        .ok_or_else(|| ReceiveError::Store("stopped".into()))?
        .map_err(|e| ReceiveError::Store(e.to_string()))?
        .filter(|r| r.org == org)
        .ok_or(ReceiveError::NotFound(chat))?;
    let m = medium(&row.medium).ok_or(ReceiveError::NotFound(chat))?;
    let l = chats
        .load(&row)
        .await
        .ok_or(ReceiveError::NoService(row.service))?;
    // Taken twice (a retried callback, a mail fetched again): stored once.
    if let Some(&(_, _, seq)) = l
        .ids
        .iter()
        .find(|(s, id, _)| *s == callctl::chat::Sender::Patient && id == input_id)
    {
        return Ok(Reopened::Already(seq));
    }
    let next = l.log.len() as u64 + 1;
    let now = app::wall_clock();
    let thread = if row.ended.is_some() {
        let change = store::chat::ChatChange {
            reopened: true,
            ..Default::default()
        };
        app.with_directory(move |d| d.append_chat(chat, &[], &change))
            .await
            .ok_or_else(|| ReceiveError::Store("stopped".into()))?
            .map_err(|e| ReceiveError::Store(e.to_string()))?;
        Thread::waiting(now, m, next, l.ids, None)
    } else {
        // Not ended, not live: carried on where the store says it was.
        let agent = row.agent.zip(row.agent_name.clone());
        Thread::resume(now, m, next, l.ids, row.contact, agent)
    };
    Ok(Reopened::Live(chats.spawn(
        Spawn {
            id: chat,
            org,
            queue: l.queue,
            max_attachment: l.max_attachment,
            key: l.key,
            token_hash: None,
            identity: l.identity,
            log: l.log,
            thread: l.thread,
        },
        Machine::Thread(thread),
    )))
}

/// A new thread's row (audited) and its task.
async fn create(
    chats: &Arc<Chats>,
    org: OrgId,
    medium: Medium,
    service: u32,
    meta: ThreadMeta,
    acknowledgement: Option<String>,
    action: &'static str,
) -> Result<Arc<Conv>, ReceiveError> {
    let app = chats.app().clone();
    let def = app
        .with_directory(move |d| d.services(org))
        .await
        .and_then(Result::ok)
        .unwrap_or_default()
        .into_iter()
        .find(|(sid, _)| *sid == service)
        .and_then(|(_, def)| app::services::ServiceDef::parse(&def))
        .ok_or(ReceiveError::NoService(service))?;
    let token = app::auth::hex(&app::auth::random_bytes::<24>());
    let token_hash = app::auth::secret_hash(&token);
    let now = app::wall_clock();
    let app2 = app.clone();
    let meta2 = meta.clone();
    let hash2 = token_hash.clone();
    let m = medium.as_str();
    let (id, key) = app
        .with_directory(move |d| {
            let id = d.next_chat_id()?;
            let (key, wrapped) = crate::chat::new_key(&app2, org, id);
            let audit = store::AuditRecord {
                at: now,
                org: Some(org),
                actor: format!("{m} sender"),
                action: action.into(),
                subject: format!("thread {id} (service {service})"),
                patient: None,
                purpose: None,
                origin: None,
                outcome: "ok".into(),
            };
            d.create_chat(
                id,
                &store::chat::NewChat {
                    org,
                    service,
                    token_hash: hash2.as_bytes(),
                    wrapped_key: &wrapped,
                    identity: None,
                    started: now,
                    medium: m,
                },
                &audit,
            )?;
            d.append_chat(
                id,
                &[],
                &store::chat::ChatChange {
                    meta: Some(meta2.seal(&key, org, id)),
                    keys: vec![owner_key(&app2, org, &meta2.address, id)],
                    ..Default::default()
                },
            )?;
            Ok::<_, store::StoreError>((id, key))
        })
        .await
        .ok_or_else(|| ReceiveError::Store("stopped".into()))?
        .map_err(|e| ReceiveError::Store(e.to_string()))?;
    let acknowledgement = acknowledgement.map(|a| a.replace("{reference}", &format!("SB-{id}")));
    let thread = Thread::waiting(now, medium, 1, Vec::new(), acknowledgement);
    Ok(chats.spawn(
        Spawn {
            id,
            org,
            queue: def.queue(),
            max_attachment: def.max_attachment_bytes(),
            key,
            token_hash: Some(token_hash),
            identity: Identity::default(),
            log: Vec::new(),
            thread: Some(meta),
        },
        Machine::Thread(thread),
    ))
}
