//! The web chat edge: one task per conversation runs its
//! [`callctl::chat::Chat`] and carries out what it asks — every message
//! sealed and stored before anyone is told of it, the routing engine's
//! joins, reads and ends, the engine's news (an agent took the chat, the
//! contact ended) turned into inputs. Readers (the patient's sockets, the
//! agents' desktops) wait on the conversation's last stored number and
//! read what is after theirs, so each gets every message once, in order,
//! however often they reconnect. Typing and read receipts are not stored.
//!
//! The chat decides; this edge only translates and stores.

use crate::App;
use app::seal;
use callctl::chat::{Body, Chat, ChatInput, ChatOutput, Message, Refusal, Sender, Timing};
use callctl::thread::Thread;
use callctl::{Conversation, EngineRequest, QueueRef};
use model::{Channel, ContactId, OrgId, Timestamp};
use routing::{Input, NewContact};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// Most conversations open at once (a bound on memory: each holds its
/// messages).
pub const MAX_OPEN: usize = 20_000;
/// Messages a conversation takes from one side in [`BURST_MS`].
pub const BURST: usize = 10;
pub const BURST_MS: i64 = 10_000;
/// How long a typing signal shows.
pub const TYPING_MS: i64 = 5_000;

/// A conversation's machine: a live web chat, or an email thread or text
/// exchange (the same inputs and outputs, other rules).
#[derive(Debug)]
pub(crate) enum Machine {
    Web(Box<Chat>),
    Thread(Thread),
}

macro_rules! both {
    ($m:expr, $x:ident => $e:expr) => {
        match $m {
            Machine::Web($x) => $e,
            Machine::Thread($x) => $e,
        }
    };
}

impl Machine {
    fn check(&self, i: &ChatInput) -> Result<(), Refusal> {
        both!(self, m => m.check(i))
    }
    fn handle(&mut self, now: model::Timestamp, i: ChatInput) {
        both!(self, m => m.handle(now, i))
    }
    fn handle_timeout(&mut self, now: model::Timestamp) {
        both!(self, m => m.handle_timeout(now))
    }
    fn poll_output(&mut self) -> Option<ChatOutput> {
        both!(self, m => m.poll_output())
    }
    fn poll_timeout(&self) -> Option<model::Timestamp> {
        both!(self, m => m.poll_timeout())
    }
    fn is_done(&self) -> bool {
        both!(self, m => m.is_done())
    }
    fn stage(&self) -> callctl::chat::Stage {
        both!(self, m => m.stage())
    }
    fn contact(&self) -> Option<ContactId> {
        both!(self, m => m.contact())
    }
    fn outcome(&self) -> Option<&'static str> {
        both!(self, m => m.outcome())
    }
}

/// An input for a conversation's task, and where its answer goes.
type Inbox = (ChatInput, Option<oneshot::Sender<Result<u64, Refusal>>>);

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A message as readers get it (the socket's `message` frame, the
/// desktop's list).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct WireMessage {
    pub seq: u64,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// `patient`, `agent` or `system`.
    pub from: String,
    /// The agent's id, for an agent's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<u32>,
    /// The agent's name as the patient sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub body: WireBody,
    /// The sender's own id for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum WireBody {
    Text {
        text: String,
    },
    Choice {
        options: Vec<WireChoice>,
    },
    Field {
        digits: u8,
        label: String,
    },
    Position {
        position: u32,
        expected_wait_s: i64,
    },
    Joined {
        name: String,
    },
    Idle {
        ends_at: i64,
    },
    Ended {
        reason: String,
    },
    /// A file the patient sent: fetched by its id.
    File {
        id: String,
        name: String,
        mime: String,
        size: u64,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct WireChoice {
    pub key: String,
    pub label: String,
}

fn wire_body(b: &Body) -> WireBody {
    match b {
        Body::Text(t) => WireBody::Text { text: t.clone() },
        Body::Choice(c) => WireBody::Choice {
            options: c
                .iter()
                .map(|c| WireChoice {
                    key: c.key.clone(),
                    label: c.label.clone(),
                })
                .collect(),
        },
        Body::Field { digits, label } => WireBody::Field {
            digits: *digits,
            label: label.clone(),
        },
        Body::Position {
            position,
            expected_wait,
        } => WireBody::Position {
            position: *position,
            expected_wait_s: expected_wait.0 / 1000,
        },
        Body::Joined { name, .. } => WireBody::Joined { name: name.clone() },
        Body::Idle { ends_at } => WireBody::Idle { ends_at: ends_at.0 },
        Body::Ended { reason } => WireBody::Ended {
            reason: reason.clone(),
        },
        Body::File(f) => WireBody::File {
            id: f.id.clone(),
            name: f.name.clone(),
            mime: f.mime.clone(),
            size: f.size,
        },
    }
}

/// What is sealed and stored of a message (its sender is a column).
#[derive(Serialize, Deserialize)]
struct Stored {
    body: WireBody,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

fn aad(org: OrgId, chat: u64, seq: u64) -> String {
    format!("chat:{}:{chat}:{seq}", org.0)
}

/// Signals that are not stored.
#[derive(Clone, Debug)]
pub(crate) enum Signal {
    /// The page's message `id` is stored as `seq`.
    Ack {
        id: String,
        seq: u64,
    },
    AgentTyping,
    PatientTyping,
    /// The patient (true) or the agent has seen up to `seq`.
    Read {
        patient: bool,
        seq: u64,
    },
}

/// The live side of a conversation, shared by its task and its readers.
pub(crate) struct Conv {
    pub id: u64,
    pub org: OrgId,
    pub(crate) key: [u8; 32],
    /// The largest file the patient may send (the service's rule).
    pub max_attachment: u64,
    /// `web`, `email` or `sms`.
    pub medium: &'static str,
    /// An email thread's or text exchange's particulars (None: a web chat).
    pub thread: Option<Mutex<crate::written::ThreadMeta>>,
    tx: mpsc::UnboundedSender<Inbox>,
    /// Every message stored, in order (index = seq - 1).
    log: Mutex<Vec<Arc<WireMessage>>>,
    /// The last stored number.
    pub last: watch::Receiver<u64>,
    last_tx: watch::Sender<u64>,
    pub signals: broadcast::Sender<Signal>,
    pub state: Mutex<ConvState>,
    /// Recent messages from each side, for the flood limit.
    burst: Mutex<(VecDeque<i64>, VecDeque<i64>)>,
    /// Who has read it (an audit record each, once).
    readers: Mutex<HashSet<String>>,
    /// Lookup keys of a thread to store with its next messages.
    keys_next: Mutex<Vec<Vec<u8>>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ConvState {
    pub stage: &'static str,
    pub contact: Option<ContactId>,
    pub patient_read: u64,
    pub agent_read: u64,
    pub patient_typing_at: Option<i64>,
    pub sockets: usize,
    pub ended: bool,
    /// The NHS number the patient gave (for the audit trail only).
    pub nhs_number: Option<String>,
    /// The names agents joined with, by agent id.
    pub names: HashMap<u32, String>,
    /// The agent with the chat now.
    pub agent: Option<u32>,
    /// When it started, and since when the patient waits for an answer
    /// (their words last), ms.
    pub started: i64,
    pub waiting_since: Option<i64>,
}

impl Conv {
    /// Messages after `after`, at most `limit`.
    pub fn after(&self, after: u64, limit: usize) -> Vec<Arc<WireMessage>> {
        let log = lock(&self.log);
        let from = (after as usize).min(log.len());
        log[from..].iter().take(limit).cloned().collect()
    }

    /// Hands an input to the conversation and waits until what it made is
    /// stored: the number of the sender's message (0 if nothing was).
    pub async fn send(&self, input: ChatInput) -> Result<u64, Refusal> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((input, Some(tx)))
            .map_err(|_| Refusal::Ended)?;
        rx.await.unwrap_or(Err(Refusal::Ended))
    }

    /// An input that needs no answer (presence, typing).
    pub fn tell(&self, input: ChatInput) {
        let _ = self.tx.send((input, None));
    }

    /// Whether one more message from this side fits the flood limit.
    pub fn flood_ok(&self, patient: bool, now: i64) -> bool {
        let mut b = lock(&self.burst);
        let q = if patient { &mut b.0 } else { &mut b.1 };
        while q.front().is_some_and(|&t| now - t >= BURST_MS) {
            q.pop_front();
        }
        if q.len() >= BURST {
            return false;
        }
        q.push_back(now);
        true
    }

    /// Keys that find this thread, stored with its next messages.
    pub fn add_keys(&self, keys: Vec<Vec<u8>>) {
        lock(&self.keys_next).extend(keys);
    }

    /// True the first time `who` reads this conversation.
    pub fn first_read_by(&self, who: &str) -> bool {
        lock(&self.readers).insert(who.to_string())
    }
}

/// The patient's own account of themselves, from the pre-chat form.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub name: Option<String>,
    pub date_of_birth: Option<String>,
    pub nhs_number: Option<String>,
}

/// What a conversation's task starts with.
pub(crate) struct Spawn {
    pub id: u64,
    pub org: OrgId,
    pub queue: model::QueueId,
    pub max_attachment: u64,
    pub key: [u8; 32],
    pub token_hash: Option<String>,
    pub identity: Identity,
    /// The messages stored so far.
    pub log: Vec<Arc<WireMessage>>,
    pub thread: Option<crate::written::ThreadMeta>,
}

/// A stored conversation read back (see [`Chats::load`]).
pub(crate) struct Loaded {
    pub key: [u8; 32],
    pub log: Vec<Arc<WireMessage>>,
    pub ids: Vec<(Sender, String, u64)>,
    pub identity: Identity,
    pub queue: model::QueueId,
    pub max_attachment: u64,
    pub thread: Option<crate::written::ThreadMeta>,
}

/// Every conversation in progress.
pub struct Chats {
    app: App,
    /// Where the patients' files are kept (sealed), one folder a chat.
    pub(crate) files: std::path::PathBuf,
    book: Option<Arc<flow::FlowBook>>,
    private: BTreeSet<String>,
    pub(crate) timing: Timing,
    convs: Mutex<HashMap<u64, Arc<Conv>>>,
    by_token: Mutex<HashMap<String, u64>>,
    by_contact: Mutex<HashMap<(OrgId, ContactId), u64>>,
    watched: Mutex<HashSet<OrgId>>,
    /// Conversations started per address, for the flood limit.
    pub(crate) starts: Mutex<HashMap<String, VecDeque<i64>>>,
    /// Wakes the email and text senders: something was put in the outbox.
    pub(crate) outbox_wake: Arc<tokio::sync::Notify>,
    /// GOV.UK Notify, if configured (its callbacks need it).
    pub(crate) notify: std::sync::OnceLock<Arc<crate::notify::Notify>>,
    /// Incoming emails and texts are taken one at a time.
    pub(crate) receiving: tokio::sync::Mutex<()>,
}

impl Chats {
    pub(crate) fn new(
        app: App,
        voice: Option<&Arc<voice::Voice>>,
        timing: Timing,
        files: std::path::PathBuf,
    ) -> Arc<Chats> {
        Arc::new(Chats {
            app,
            files,
            book: voice.map(|v| v.book()),
            private: voice.map(|v| v.private_attributes()).unwrap_or_default(),
            timing,
            convs: Mutex::default(),
            by_token: Mutex::default(),
            by_contact: Mutex::default(),
            watched: Mutex::default(),
            starts: Mutex::default(),
            outbox_wake: Arc::default(),
            notify: std::sync::OnceLock::new(),
            receiving: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn app(&self) -> &App {
        &self.app
    }

    pub(crate) fn open_count(&self) -> usize {
        lock(&self.convs).len()
    }

    /// The organisation's chats in progress: state, start, and since when
    /// the patient waits for an answer.
    pub(crate) fn live(&self, org: OrgId) -> Vec<(ConvState, i64, Option<i64>)> {
        let convs: Vec<Arc<Conv>> = lock(&self.convs)
            .values()
            .filter(|c| c.org == org)
            .cloned()
            .collect();
        let mut v: Vec<_> = convs
            .iter()
            .map(|c| {
                let s = lock(&c.state).clone();
                let (started, waiting) = (s.started, s.waiting_since);
                (s, started, waiting)
            })
            .filter(|(s, _, _)| !s.ended)
            .collect();
        v.sort_by_key(|(_, started, _)| *started);
        v
    }

    pub(crate) fn by_token(&self, hash: &str) -> Option<Arc<Conv>> {
        let id = *lock(&self.by_token).get(hash)?;
        lock(&self.convs).get(&id).cloned()
    }

    pub(crate) fn by_contact(&self, org: OrgId, contact: ContactId) -> Option<Arc<Conv>> {
        let id = *lock(&self.by_contact).get(&(org, contact))?;
        lock(&self.convs).get(&id).cloned()
    }

    /// Starts a new conversation (its row is stored already).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        self: &Arc<Self>,
        id: u64,
        org: OrgId,
        service: &app::services::ServiceDef,
        key: [u8; 32],
        token_hash: String,
        reason: &str,
        identity: Identity,
    ) {
        let now = app::wall_clock();
        let flow = service.flow().and_then(|f| {
            let book = self.book.clone()?;
            let mut attributes = std::collections::BTreeMap::new();
            attributes.insert("channel".to_string(), "chat".to_string());
            flow::Call::start(book, f, attributes, now).ok()
        });
        let chat = Chat::start(now, self.timing, flow, reason, self.private.clone());
        self.spawn(
            Spawn {
                id,
                org,
                queue: service.queue(),
                max_attachment: service.max_attachment_bytes(),
                key,
                token_hash: Some(token_hash),
                identity,
                log: Vec::new(),
                thread: None,
            },
            Machine::Web(Box::new(chat)),
        );
    }

    /// Starts a conversation's task (one already live is answered
    /// instead: never two tasks for one conversation).
    pub(crate) fn spawn(self: &Arc<Self>, sp: Spawn, chat: Machine) -> Arc<Conv> {
        if let Some(live) = lock(&self.convs).get(&sp.id) {
            return live.clone();
        }
        let Spawn {
            id,
            org,
            queue,
            max_attachment,
            key,
            token_hash,
            identity,
            log,
            thread,
        } = sp;
        self.watch(org);
        let (tx, rx) = mpsc::unbounded_channel();
        let last_seq = log.len() as u64;
        let (last_tx, last) = watch::channel(last_seq);
        let (signals, _) = broadcast::channel(256);
        let started = log.first().map_or_else(now_ms, |m| m.at);
        let names = log
            .iter()
            .filter_map(|w| match (&w.body, w.agent) {
                (WireBody::Joined { name }, Some(a)) => Some((a, name.clone())),
                _ => None,
            })
            .collect();
        let medium = match (&chat, &thread) {
            (Machine::Web(_), _) => "web",
            (Machine::Thread(t), _) => t.medium().as_str(),
        };
        let conv = Arc::new(Conv {
            id,
            org,
            key,
            max_attachment,
            medium,
            thread: thread.map(Mutex::new),
            tx,
            log: Mutex::new(log),
            last,
            last_tx,
            signals,
            state: Mutex::new(ConvState {
                stage: chat.stage().as_str(),
                contact: chat.contact(),
                nhs_number: identity.nhs_number.clone(),
                names,
                started,
                ..ConvState::default()
            }),
            burst: Mutex::default(),
            readers: Mutex::default(),
            keys_next: Mutex::default(),
        });
        if let Some(h) = token_hash {
            lock(&self.by_token).insert(h, id);
        }
        if let Some(c) = chat.contact() {
            lock(&self.by_contact).insert((org, c), id);
        }
        lock(&self.convs).insert(id, conv.clone());
        let me = self.clone();
        let span = tracing::info_span!("chat", org = org.0, chat = id);
        let c2 = conv.clone();
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                me.run(c2, chat, rx, queue, identity).await;
            },
            span,
        ));
        conv
    }

    /// A live conversation by its id.
    pub(crate) fn by_id(&self, id: u64) -> Option<Arc<Conv>> {
        lock(&self.convs).get(&id).cloned()
    }

    /// A stored conversation read back: its key, its messages opened, the
    /// senders' ids, the patient's identity, its service's queue and file
    /// limit, and a thread's particulars. None if its key or its service
    /// is gone.
    pub(crate) async fn load(&self, row: &store::chat::ChatRow) -> Option<Loaded> {
        let key = seal::unwrap(
            &self.app.kek,
            &format!("chat:{}:{}", row.org.0, row.id),
            &row.wrapped_key,
        )
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok());
        let Some(key) = key else {
            tracing::warn!(chat = row.id, "a conversation's key does not open");
            return None;
        };
        let id = row.id;
        let stored = self
            .app
            .with_directory(move |d| {
                d.chat_messages(id, 0, callctl::chat::MAX_MESSAGES as usize + 1)
            })
            .await
            .and_then(Result::ok)
            .unwrap_or_default();
        let mut log = Vec::with_capacity(stored.len());
        let mut ids = Vec::new();
        for m in &stored {
            let Some(w) = open_message(&key, row.org, id, m) else {
                break;
            };
            if let Some(cid) = &m.client_id {
                let s = match (m.sender.as_str(), m.agent) {
                    ("agent", Some(a)) => Sender::Agent(a),
                    _ => Sender::Patient,
                };
                ids.push((s, cid.clone(), m.seq));
            }
            log.push(Arc::new(w));
        }
        let identity: Identity = row
            .identity
            .as_deref()
            .and_then(|s| {
                seal::decrypt_with(&key, &format!("chat-identity:{}:{id}", row.org.0), s).ok()
            })
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let org = row.org;
        let service = row.service;
        let (queue, max_attachment) = self
            .app
            .with_directory(move |d| d.services(org))
            .await
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .find(|(sid, _)| *sid == service)
            .and_then(|(_, def)| app::services::ServiceDef::parse(&def))
            .map(|d| (d.queue(), d.max_attachment_bytes()))?;
        let thread = row
            .meta
            .as_deref()
            .and_then(|m| crate::written::ThreadMeta::open(&key, org, id, m));
        Some(Loaded {
            key,
            log,
            ids,
            identity,
            queue,
            max_attachment,
            thread,
        })
    }

    /// Carries on every conversation that had not ended when the server
    /// stopped: its messages read back, its chat resumed where the store
    /// says it was (a contact the engine no longer has ends it).
    pub(crate) async fn resume_all(self: &Arc<Self>) -> usize {
        let rows = self
            .app
            .with_directory(|d| d.open_chats())
            .await
            .and_then(Result::ok)
            .unwrap_or_default();
        let mut n = 0;
        for row in rows {
            let Some(l) = self.load(&row).await else {
                continue;
            };
            let id = row.id;
            // The engine's word on the contact: still there, and with whom.
            let live = match row.contact {
                Some(c) => self
                    .app
                    .read(row.org, move |t, _| t.engine.contact(c).is_some())
                    .await
                    .unwrap_or(false),
                None => true,
            };
            let now = app::wall_clock();
            let next = l.log.len() as u64 + 1;
            let agent = row.agent.zip(row.agent_name.clone());
            let machine = match crate::written::medium(&row.medium) {
                None => Machine::Web(Box::new(Chat::resume(
                    now,
                    self.timing,
                    next,
                    l.ids,
                    row.contact,
                    agent,
                ))),
                Some(m) => {
                    if l.log.is_empty() {
                        // Made, but its first message never stored: nothing
                        // to carry on.
                        let end = store::chat::ChatChange {
                            ended: Some((now, "empty".into())),
                            ..Default::default()
                        };
                        let _ = self
                            .app
                            .with_directory(move |d| d.append_chat(id, &[], &end))
                            .await;
                        continue;
                    }
                    Machine::Thread(Thread::resume(now, m, next, l.ids, row.contact, agent))
                }
            };
            let token = self
                .app
                .with_directory(move |d| d.chat_token_hash(id))
                .await
                .and_then(Result::ok)
                .flatten();
            self.spawn(
                Spawn {
                    id,
                    org: row.org,
                    queue: l.queue,
                    max_attachment: l.max_attachment,
                    key: l.key,
                    token_hash: token,
                    identity: l.identity,
                    log: l.log,
                    thread: l.thread,
                },
                machine,
            );
            if !live {
                if let Some(c) = self.by_contact(row.org, row.contact.unwrap_or(ContactId(0))) {
                    c.tell(ChatInput::ContactEnded);
                }
            }
            n += 1;
        }
        n
    }

    /// Deletes ended conversations whose service's retention has run out
    /// (messages, row, files), at start-up and every 10 minutes.
    pub(crate) fn sweep_forever(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
            // The first tick is now: start-up has just swept.
            every.tick().await;
            loop {
                every.tick().await;
                let Some(me) = me.upgrade() else { break };
                me.sweep().await;
            }
        });
    }

    /// One sweep; how many conversations it deleted.
    pub(crate) async fn sweep(&self) -> usize {
        let mut deleted = 0;
        for &org in &self.app.orgs {
            let services = self
                .app
                .with_directory(move |d| d.services(org))
                .await
                .and_then(Result::ok)
                .unwrap_or_default();
            for (sid, def) in services {
                let Some(days) = app::services::ServiceDef::parse(&def)
                    .and_then(|d| d.chat)
                    .and_then(|c| c.retention_days)
                else {
                    continue;
                };
                let before = Timestamp(now_ms() - (days * 86_400_000.0) as i64);
                let ids = self
                    .app
                    .with_directory(move |d| d.chats_ended_before(org, sid, before, 1000))
                    .await
                    .and_then(Result::ok)
                    .unwrap_or_default();
                for id in ids {
                    let audit = store::AuditRecord {
                        at: app::wall_clock(),
                        org: Some(org),
                        actor: "system".into(),
                        action: "chat.delete".into(),
                        subject: format!("chat {id} (service {sid}: kept {days} days)"),
                        patient: None,
                        purpose: Some("retention".into()),
                        origin: None,
                        outcome: "ok".into(),
                    };
                    let dir = self.files.join(id.to_string());
                    let ok = self
                        .app
                        .with_directory(move |d| {
                            let r = d.delete_chat(id, &audit);
                            if r.is_ok() {
                                let _ = std::fs::remove_dir_all(&dir);
                            }
                            r
                        })
                        .await
                        .is_some_and(|r| r.is_ok());
                    if ok {
                        deleted += 1;
                    }
                }
            }
        }
        if deleted > 0 {
            tracing::info!(
                chats = deleted,
                "web chats deleted: their retention ran out"
            );
        }
        deleted
    }

    /// The engine's news for the organisation's chats.
    fn watch(self: &Arc<Self>, org: OrgId) {
        if !lock(&self.watched).insert(org) {
            return;
        }
        let me = Arc::downgrade(self);
        let app = self.app.clone();
        tokio::spawn(async move {
            let Some((mut rx, _)) = app.subscribe(org).await else {
                return;
            };
            loop {
                let r = match rx.recv().await {
                    Ok(r) => r,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                };
                let Some(me) = me.upgrade() else { break };
                me.news(org, r.event).await;
            }
        });
    }

    async fn news(&self, org: OrgId, e: routing::Event) {
        use routing::Event as E;
        let (contact, input) = match e {
            E::Answered { contact, agent, .. }
            | E::Transferred {
                contact, to: agent, ..
            } => {
                if self.by_contact(org, contact).is_none() {
                    return;
                }
                let name = self
                    .app
                    .read(org, move |t, _| {
                        t.engine
                            .config()
                            .agents
                            .iter()
                            .find(|a| a.id == agent)
                            .map(|a| a.name.clone())
                    })
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                // Patients see the first name only.
                let first = name
                    .split_whitespace()
                    .next()
                    .unwrap_or("An adviser")
                    .to_string();
                (contact, ChatInput::Answered { agent, name: first })
            }
            E::Ended { contact, .. }
            | E::Abandoned { contact, .. }
            | E::Cancelled { contact, .. } => (contact, ChatInput::ContactEnded),
            _ => return,
        };
        if let Some(c) = self.by_contact(org, contact) {
            c.tell(input);
        }
    }

    async fn run(
        self: Arc<Self>,
        conv: Arc<Conv>,
        mut chat: Machine,
        mut rx: mpsc::UnboundedReceiver<Inbox>,
        queue: model::QueueId,
        identity: Identity,
    ) {
        let mut pending: Vec<Message> = Vec::new();
        // Of the pending messages, those that go out (with them, in the
        // same write, their outbox rows).
        let mut sends: Vec<u64> = Vec::new();
        let mut reply: Option<oneshot::Sender<Result<u64, Refusal>>> = None;
        loop {
            // Carry out what the chat asked: messages stored in one write
            // before anything else is done, answers fed back at once.
            let mut mine = 0;
            while let Some(o) = chat.poll_output() {
                match o {
                    ChatOutput::Post(m) => {
                        // The sender's own message: its number is the answer.
                        if mine == 0 && !matches!(m.from, Sender::System) {
                            mine = m.seq;
                        }
                        pending.push(m);
                    }
                    ChatOutput::Send { seq } => sends.push(seq),
                    other => {
                        if !self.flush(&conv, &chat, &mut pending, &mut sends).await {
                            return self.broken(&conv, reply.take());
                        }
                        match other {
                            ChatOutput::Ack { id, seq } => {
                                mine = seq;
                                let _ = conv.signals.send(Signal::Ack { id, seq });
                            }
                            ChatOutput::Engine(r) => {
                                if let Some(answer) = self.engine(&conv, r, queue, &identity).await
                                {
                                    chat.handle(app::wall_clock(), answer);
                                }
                            }
                            ChatOutput::Done => {}
                            ChatOutput::Post(_) | ChatOutput::Send { .. } => unreachable!(),
                        }
                    }
                }
            }
            if !self.flush(&conv, &chat, &mut pending, &mut sends).await {
                return self.broken(&conv, reply.take());
            }
            if let Some(r) = reply.take() {
                let _ = r.send(Ok(mine));
            }
            {
                let mut s = lock(&conv.state);
                s.stage = chat.stage().as_str();
                s.contact = chat.contact().or(s.contact);
            }
            if chat.is_done() {
                break;
            }
            let sleep_for = chat
                .poll_timeout()
                .map(
                    |t| std::time::Duration::from_millis((t.0 - app::wall_clock().0).max(0) as u64),
                )
                .unwrap_or(std::time::Duration::from_secs(3600));
            tokio::select! {
                _ = tokio::time::sleep(sleep_for) => chat.handle_timeout(app::wall_clock()),
                m = rx.recv() => match m {
                    None => break,
                    Some((input, r)) => {
                        if let Err(why) = chat.check(&input) {
                            if let Some(r) = r {
                                let _ = r.send(Err(why));
                            }
                            continue;
                        }
                        reply = r;
                        chat.handle(app::wall_clock(), input);
                    }
                }
            }
        }
        // Over: readers still read it (until nobody holds it), new ones
        // from the store.
        lock(&conv.state).ended = true;
        let mut by_token = lock(&self.by_token);
        by_token.retain(|_, v| *v != conv.id);
        drop(by_token);
        lock(&self.by_contact).retain(|_, v| *v != conv.id);
        lock(&self.convs).remove(&conv.id);
    }

    /// A conversation whose messages cannot be stored stops: nothing is
    /// delivered that was not stored.
    fn broken(&self, conv: &Arc<Conv>, reply: Option<oneshot::Sender<Result<u64, Refusal>>>) {
        tracing::error!("a chat's messages could not be stored: the conversation stops");
        if let Some(r) = reply {
            let _ = r.send(Err(Refusal::Ended));
        }
        lock(&conv.state).ended = true;
        lock(&self.by_token).retain(|_, v| *v != conv.id);
        lock(&self.by_contact).retain(|_, v| *v != conv.id);
        lock(&self.convs).remove(&conv.id);
    }

    /// Stores the pending messages (sealed) with the row's changes, then
    /// publishes them. False if the store failed.
    async fn flush(
        &self,
        conv: &Arc<Conv>,
        chat: &Machine,
        pending: &mut Vec<Message>,
        sends: &mut Vec<u64>,
    ) -> bool {
        if pending.is_empty() {
            return true;
        }
        let mut change = store::chat::ChatChange::default();
        // A thread: what goes out (envelopes sealed, outbox rows), the
        // keys that find it again, its particulars (its mail ids) — all in
        // the messages' write.
        if let Some(t) = &conv.thread {
            let mut meta = lock(t);
            for seq in sends.drain(..) {
                let Some(m) = pending.iter().find(|m| m.seq == seq) else {
                    continue;
                };
                if let Body::Text(text) = &m.body {
                    let (row, keys) = crate::written::outgoing(
                        &self.app,
                        conv.org,
                        conv.id,
                        conv.medium,
                        &mut meta,
                        seq,
                        m.at,
                        text,
                        m.from == Sender::System,
                    );
                    change.outbox.push(row);
                    change.keys.extend(keys);
                }
            }
            change
                .keys
                .extend(std::mem::take(&mut *lock(&conv.keys_next)));
            change.meta = Some(meta.seal(&conv.key, conv.org, conv.id));
        }
        sends.clear();
        let mut rows = Vec::with_capacity(pending.len());
        let mut wires = Vec::with_capacity(pending.len());
        for m in pending.drain(..) {
            let name = match (&m.from, &m.body) {
                (_, Body::Joined { agent, name }) => {
                    change.agent = Some((*agent, name.clone()));
                    lock(&conv.state).names.insert(agent.0, name.clone());
                    Some(name.clone())
                }
                (Sender::Agent(a), _) => lock(&conv.state).names.get(&a.0).cloned(),
                _ => None,
            };
            if let Body::Ended { .. } = &m.body {
                change.ended = Some((m.at, chat.outcome().unwrap_or("ended").to_string()));
            }
            let body = wire_body(&m.body);
            let stored = Stored {
                body: body.clone(),
                name: name.clone(),
            };
            let plain = serde_json::to_vec(&stored).unwrap_or_default();
            let (sender, agent) = match (m.from, &m.body) {
                (Sender::Patient, _) => ("patient", None),
                (Sender::Agent(a), _) => ("agent", Some(a)),
                (Sender::System, Body::Joined { agent, .. }) => ("system", Some(*agent)),
                (Sender::System, _) => ("system", None),
            };
            rows.push(store::chat::ChatMessageRow {
                seq: m.seq,
                at: m.at,
                sender: sender.into(),
                agent,
                client_id: m.client_id.clone(),
                body: seal::encrypt_with(&conv.key, &aad(conv.org, conv.id, m.seq), &plain),
            });
            wires.push(WireMessage {
                seq: m.seq,
                at: m.at.0,
                from: sender.into(),
                agent: agent.map(|a| a.0),
                name,
                body,
                id: m.client_id,
            });
        }
        if change.contact.is_none() {
            change.contact = chat
                .contact()
                .filter(|c| lock(&conv.state).contact != Some(*c));
        }
        let id = conv.id;
        let wake = !change.outbox.is_empty();
        let ok = matches!(
            self.app
                .with_directory(move |d| d.append_chat(id, &rows, &change))
                .await,
            Some(Ok(()))
        );
        if !ok {
            return false;
        }
        if wake {
            self.outbox_wake.notify_waiters();
            self.outbox_wake.notify_one();
        }
        let mut last = 0;
        {
            let mut log = lock(&conv.log);
            let mut st = lock(&conv.state);
            for w in &wires {
                match (w.from.as_str(), &w.body) {
                    ("patient", _) => {
                        st.waiting_since.get_or_insert(w.at);
                    }
                    ("agent", _) => st.waiting_since = None,
                    (_, WireBody::Joined { .. }) => st.agent = w.agent,
                    _ => {}
                }
            }
            drop(st);
            for w in wires {
                last = w.seq;
                let acked = w.id.clone().filter(|_| w.from != "system");
                log.push(Arc::new(w));
                if let Some(id) = acked {
                    let _ = conv.signals.send(Signal::Ack { id, seq: last });
                }
            }
        }
        let _ = conv.last_tx.send(last);
        true
    }

    /// Carries out an engine request; the answer, if it has one.
    async fn engine(
        &self,
        conv: &Arc<Conv>,
        r: EngineRequest,
        service_queue: model::QueueId,
        identity: &Identity,
    ) -> Option<ChatInput> {
        let org = conv.org;
        match r {
            EngineRequest::Join {
                queue,
                priority,
                attributes,
            } => {
                let q = match &queue {
                    QueueRef::Service => Some(service_queue),
                    QueueRef::Named(name) => self.app.queue_named(org, name).await,
                };
                let Some(q) = q else {
                    return Some(ChatInput::Joined(Err("no such queue".into())));
                };
                let id = self.app.ids.next();
                let channel = match crate::written::medium(conv.medium) {
                    Some(m) => m.channel(),
                    None => Channel::Chat,
                };
                let mut nc = NewContact::new(id, q, channel);
                nc.priority = priority;
                nc.attributes = attributes;
                lock(&self.by_contact).insert((org, id), conv.id);
                let who = identity
                    .nhs_number
                    .as_deref()
                    .and_then(|n| model::NhsNumber::parse(n).ok())
                    .map(|n| store::CallerIdentity {
                        phone: None,
                        nhs_number: Some(n),
                    });
                match self.app.apply(org, Input::Arrive(nc), who).await {
                    Ok(_) => {
                        // The row knows its contact before anything else
                        // is said (a restart finds it).
                        let cid = conv.id;
                        let _ = self
                            .app
                            .with_directory(move |d| {
                                d.append_chat(
                                    cid,
                                    &[],
                                    &store::chat::ChatChange {
                                        contact: Some(id),
                                        ..Default::default()
                                    },
                                )
                            })
                            .await;
                        lock(&conv.state).contact = Some(id);
                        Some(ChatInput::Joined(Ok(id)))
                    }
                    Err(e) => {
                        lock(&self.by_contact).remove(&(org, id));
                        Some(ChatInput::Joined(Err(e.to_string())))
                    }
                }
            }
            EngineRequest::ReadPosition { contact } => {
                let pos = self
                    .app
                    .read(org, move |t, _| t.engine.expected_wait(contact))
                    .await
                    .ok()
                    .flatten()
                    .map(|(p, w)| (u32::try_from(p).unwrap_or(u32::MAX), w));
                Some(ChatInput::Position(pos))
            }
            EngineRequest::End { contact } => {
                let _ = self.app.apply(org, Input::End { contact }, None).await;
                None
            }
            EngineRequest::Abandon { contact } => {
                let _ = self.app.apply(org, Input::Abandon { contact }, None).await;
                None
            }
            EngineRequest::Forget { contact } => {
                lock(&self.by_contact).remove(&(org, contact));
                None
            }
            EngineRequest::BookCallback { .. }
            | EngineRequest::Accept { .. }
            | EngineRequest::NotReady { .. } => None,
        }
    }
}

/// A stored message opened (None: its seal does not open).
pub(crate) fn open_message(
    key: &[u8; 32],
    org: OrgId,
    chat: u64,
    m: &store::chat::ChatMessageRow,
) -> Option<WireMessage> {
    let plain = seal::decrypt_with(key, &aad(org, chat, m.seq), &m.body).ok()?;
    let s: Stored = serde_json::from_slice(&plain).ok()?;
    Some(WireMessage {
        seq: m.seq,
        at: m.at.0,
        from: m.sender.clone(),
        agent: m.agent.map(|a| a.0),
        name: s.name,
        body: s.body,
        id: m.client_id.clone(),
    })
}

/// A new conversation's key, wrapped for its row.
pub(crate) fn new_key(app: &App, org: OrgId, chat: u64) -> ([u8; 32], Vec<u8>) {
    let key = app::auth::random_bytes::<32>();
    let wrapped = seal::wrap(&app.kek, &format!("chat:{}:{chat}", org.0), &key);
    (key, wrapped)
}

/// The patient's identity sealed under the conversation's key.
pub(crate) fn seal_identity(key: &[u8; 32], org: OrgId, chat: u64, i: &Identity) -> Vec<u8> {
    seal::encrypt_with(
        key,
        &format!("chat-identity:{}:{chat}", org.0),
        &serde_json::to_vec(i).unwrap_or_default(),
    )
}

/// Now, in milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    let t: Timestamp = app::wall_clock();
    t.0
}
