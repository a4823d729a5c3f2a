//! Web chat over HTTP: the patient's side (public: the entry point's
//! state, starting a conversation, its WebSocket, the transcript) and the
//! agent's (`/api/v1/chats/{contact}`: read, write, typing, read
//! receipts). Protocol: `docs/chat.md`. The conversations themselves are
//! `chat::Chats`'.

use crate::chat::{self, Chats, Conv, Identity, Signal, WireMessage};
use crate::error::{body, coded, error, tryr, Body};
use crate::net::Client;
use crate::{App, Caller};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use callctl::chat::{ChatInput, Refusal};
use model::{ContactId, OrgId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Longest reason, name.
const MAX_REASON: usize = 500;
const MAX_NAME: usize = 100;
/// Conversations one address may start in [`STARTS_MS`].
const STARTS: usize = 20;
const STARTS_MS: i64 = 10 * 60_000;
/// Largest frame the socket reads.
pub(crate) const MAX_FRAME: usize = 16 * 1024;
/// How long a new socket has to say hello.
pub(crate) const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// Longest an agent's read waits for a new message.
const MAX_WAIT_S: u64 = 25;
/// Most messages one read answers.
pub(crate) const PAGE: usize = 500;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntryQuery {
    /// The chat entry point's address (`data-entry` of the widget).
    address: String,
}

/// Another way to reach the service.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Way {
    /// `phone`, `email` or `web`.
    kind: String,
    address: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct EntryInfo {
    /// The service's name.
    service: String,
    /// Whether it takes chats now.
    open: bool,
    /// Its other entry points (phone numbers first).
    other_ways: Vec<Way>,
}

async fn entry_service(
    app: &App,
    address: &str,
) -> Result<(OrgId, u32, app::services::ServiceDef), Response> {
    let a = app::services::canonical(app::services::Kind::Chat, address)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("address: {e}")))?;
    let a2 = a.clone();
    let found = app
        .dir(move |d| d.service_at("chat", &a2))
        .await
        .map_err(crate::error::api)?;
    let Some((org, id, def)) = found else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no chat entry point {a}"),
        ));
    };
    let def = app::services::ServiceDef::parse(&def).ok_or_else(|| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the service's definition does not read".into(),
        )
    })?;
    Ok((org, id, def))
}

fn other_ways(def: &app::services::ServiceDef) -> Vec<Way> {
    let mut v: Vec<Way> = def
        .entry_points
        .iter()
        .filter(|e| e.kind != app::services::Kind::Chat)
        .map(|e| Way {
            kind: e.kind.name().into(),
            address: e.address.clone(),
        })
        .collect();
    v.sort_by_key(|w| w.kind != "phone");
    v
}

/// `GET /chat/v1/entry`: the service behind a chat entry point, open or not.
pub(crate) async fn entry(State(app): State<App>, q: Query<EntryQuery>) -> Response {
    let (_, _, def) = match entry_service(&app, &q.address).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    Json(EntryInfo {
        service: def.name.clone(),
        open: def.open_now(),
        other_ways: other_ways(&def),
    })
    .into_response()
}

/// The pre-chat form.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartBody {
    /// The chat entry point's address.
    #[schemars(length(min = 1, max = 64))]
    entry: String,
    /// What the patient needs help with (1–500 characters).
    #[schemars(length(min = 1, max = 500))]
    reason: String,
    #[serde(default)]
    #[schemars(length(max = 100))]
    name: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    date_of_birth: Option<String>,
    /// Ten digits with a valid check digit (spaces allowed).
    #[serde(default)]
    nhs_number: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Started {
    conversation: u64,
    /// The conversation's only key: kept by the page, never shown.
    token: String,
}

pub(crate) fn no_controls(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

fn check_start(b: &StartBody, today: jiff::civil::Date) -> Result<Identity, String> {
    let reason = b.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(format!("reason: 1 to {MAX_REASON} characters"));
    }
    if !no_controls(reason) {
        return Err("reason: no control characters".into());
    }
    let name = match b.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) if n.chars().count() > MAX_NAME || !no_controls(n) || n.contains('\n') => {
            return Err(format!("name: at most {MAX_NAME} characters on one line"))
        }
        n => n.map(str::to_string),
    };
    let date_of_birth = match b
        .date_of_birth
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        Some(d) => {
            let date: jiff::civil::Date = d
                .parse()
                .map_err(|_| format!("date_of_birth: {d:?} is not a date (YYYY-MM-DD)"))?;
            if date > today || date.year() < 1900 {
                return Err("date_of_birth: between 1900 and today".into());
            }
            Some(date.to_string())
        }
        None => None,
    };
    let nhs_number = match b
        .nhs_number
        .as_deref()
        .map(|n| n.replace([' ', '-'], ""))
        .filter(|n| !n.is_empty())
    {
        Some(n) => Some(
            model::NhsNumber::parse(&n)
                .map_err(|e| format!("nhs_number: {e}"))?
                .expose()
                .to_string(),
        ),
        None => None,
    };
    Ok(Identity {
        name,
        date_of_birth,
        nhs_number,
    })
}

/// `POST /chat/v1/conversations`: the pre-chat form; a new conversation.
pub(crate) async fn start(
    State(app): State<App>,
    Extension(chats): Extension<Arc<Chats>>,
    Extension(client): Extension<Client>,
    b: Body<StartBody>,
) -> Response {
    let b = tryr!(body(b));
    let today = jiff::Timestamp::from_millisecond(chat::now_ms())
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
        .unwrap_or_default();
    let identity = match check_start(&b, today) {
        Ok(i) => i,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e),
    };
    let (org, service, def) = match entry_service(&app, &b.entry).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !def.open_now() {
        return coded(
            StatusCode::CONFLICT,
            "closed",
            format!("{} is closed now", def.name),
        );
    }
    if chats.open_count() >= chat::MAX_OPEN {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many chats are open: please try again in a few minutes".into(),
        );
    }
    // Floods from one address: a few conversations in ten minutes.
    {
        let now = chat::now_ms();
        let mut starts = chats.starts.lock().unwrap_or_else(|p| p.into_inner());
        if starts.len() > 100_000 {
            starts.retain(|_, q| q.back().is_some_and(|&t| now - t < STARTS_MS));
        }
        let q = starts.entry(client.addr.to_string()).or_default();
        while q.front().is_some_and(|&t| now - t >= STARTS_MS) {
            q.pop_front();
        }
        if q.len() >= STARTS {
            return coded(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many",
                format!("at most {STARTS} chats from one address in 10 minutes"),
            );
        }
        q.push_back(now);
    }
    let token = app::auth::hex(&app::auth::random_bytes::<32>());
    let token_hash = app::auth::secret_hash(&token);
    let reason = b.reason.trim().to_string();
    let nhs = identity.nhs_number.clone();
    let kek_app = app.clone();
    let ident = identity.clone();
    let th = token_hash.clone();
    let made = app
        .dir(move |d| {
            let id = d.next_chat_id()?;
            let (key, wrapped) = chat::new_key(&kek_app, org, id);
            let sealed = (ident.name.is_some()
                || ident.date_of_birth.is_some()
                || ident.nhs_number.is_some())
            .then(|| chat::seal_identity(&key, org, id, &ident));
            let audit = store::AuditRecord {
                at: app::wall_clock(),
                org: Some(org),
                actor: "patient (web chat)".into(),
                action: "chat.start".into(),
                subject: format!("chat {id}"),
                patient: nhs,
                purpose: None,
                origin: None,
                outcome: "ok".into(),
            };
            d.create_chat(
                id,
                &store::chat::NewChat {
                    org,
                    service,
                    token_hash: th.as_bytes(),
                    wrapped_key: &wrapped,
                    identity: sealed.as_deref(),
                    started: app::wall_clock(),
                    medium: "web",
                },
                &audit,
            )?;
            Ok((id, key))
        })
        .await;
    let (id, key) = match made {
        Ok(x) => x,
        Err(e) => return crate::error::api(e),
    };
    chats.start(id, org, &def, key, token_hash, &reason, identity);
    (
        StatusCode::CREATED,
        Json(Started {
            conversation: id,
            token,
        }),
    )
        .into_response()
}

pub(crate) fn bearer(h: &HeaderMap) -> Option<&str> {
    h.get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// `GET /chat/v1/transcript`: the conversation as text, for the patient.
pub(crate) async fn transcript(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "Authorization: Bearer and the conversation's token".into(),
        );
    };
    let hash = app::auth::secret_hash(token);
    let found = app
        .dir(move |d| {
            let Some(row) = d.chat_by_token(hash.as_bytes())? else {
                return Ok(None);
            };
            let msgs = d.chat_messages(row.id, 0, callctl::chat::MAX_MESSAGES as usize + 1)?;
            Ok(Some((row, msgs)))
        })
        .await;
    let (row, msgs) = match found {
        Ok(Some(x)) => x,
        Ok(None) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "no conversation has this token".into(),
            )
        }
        Err(e) => return crate::error::api(e),
    };
    let Ok(key) = app::seal::unwrap(
        &app.kek,
        &format!("chat:{}:{}", row.org.0, row.id),
        &row.wrapped_key,
    ) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the conversation does not open".into(),
        );
    };
    let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the conversation does not open".into(),
        );
    };
    let mut out = format!("Chat {} — transcript\n\n", row.id);
    for m in &msgs {
        if let Some(w) = chat::open_message(&key, row.org, row.id, m) {
            out.push_str(&transcript_line(&w));
        }
    }
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"chat-transcript.txt\"",
            ),
        ],
        out,
    )
        .into_response()
}

fn transcript_line(w: &WireMessage) -> String {
    let when = jiff::Timestamp::from_millisecond(w.at)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap_or(jiff::tz::TimeZone::UTC))
                .strftime("%d/%m/%Y %H:%M")
                .to_string()
        })
        .unwrap_or_default();
    let who = match w.from.as_str() {
        "patient" => "You".to_string(),
        "agent" => w.name.clone().unwrap_or_else(|| "Adviser".into()),
        _ => "Service".to_string(),
    };
    use crate::chat::WireBody as B;
    let what = match &w.body {
        B::Text { text } => text.clone(),
        B::Choice { options } => format!(
            "Options: {}",
            options
                .iter()
                .map(|o| o.label.clone())
                .collect::<Vec<_>>()
                .join(" / ")
        ),
        B::Field { label, .. } => format!("Please type: {label}"),
        B::Position {
            position,
            expected_wait_s,
        } => format!(
            "You were number {position} in the queue (expected wait about {} min).",
            (expected_wait_s + 59) / 60
        ),
        B::Joined { name } => format!("{name} joined the chat."),
        B::Idle { .. } => "No reply for a while: the chat would end unless you wrote.".into(),
        B::Ended { reason } => reason.clone(),
        B::File { name, size, .. } => format!("Sent a file: {name} ({size} bytes)"),
    };
    format!("[{when}] {who}: {what}\n")
}

// --- the agent's side --------------------------------------------------

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadQuery {
    /// The last number the desktop has (0: from the start).
    #[serde(default)]
    after: Option<u64>,
    /// Wait up to this many seconds (at most 25) for a message after it.
    #[serde(default)]
    wait: Option<u64>,
}

/// A chat as the desktop shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ChatView {
    conversation: u64,
    /// `in_flow`, `joining`, `queued`, `with_agent` or `ended`.
    stage: String,
    /// Messages after `after`, in order.
    messages: Vec<WireMessage>,
    /// The patient is typing (in the last 5 s).
    patient_typing: bool,
    /// The patient has seen up to this number.
    patient_read: u64,
    /// The last number stored.
    last: u64,
    /// `web`, `email` or `sms`.
    medium: String,
    /// An email thread's or text exchange's messages that went out, and
    /// how far each got.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    deliveries: Vec<Delivery>,
}

/// How far a message that goes out by email or text got.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub(crate) struct Delivery {
    seq: u64,
    /// `due` (waiting to be sent, or to be tried again), `sending`, `sent`
    /// or `failed` (refused for good).
    state: String,
    /// The provider's word: `delivered`, `permanent-failure`,
    /// `temporary-failure`, `technical-failure`, or `bounced` (a delivery
    /// failure report came back).
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery: Option<String>,
    /// Why it was not sent (yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The deliveries of conversation `chat`'s messages.
pub(crate) async fn deliveries(app: &App, chat: u64) -> Vec<Delivery> {
    app.dir(move |d| d.outbound_of_chat(chat))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| {
            Some(Delivery {
                seq: o.seq?,
                state: o.state,
                delivery: o.delivery,
                error: o.last_error,
            })
        })
        .collect()
}

pub(crate) async fn conv_for(
    app: &App,
    chats: &Chats,
    c: &Caller,
    contact: u64,
) -> Result<Arc<Conv>, Response> {
    let id = ContactId(contact);
    // Agents and clinicians: only a chat offered to them or with them.
    if c.role.works_as_agent() {
        crate::contacts::own_contact(app, c, id).await?;
    }
    chats.by_contact(c.org, id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            format!("contact {contact} is not a chat in progress"),
        )
    })
}

fn view(conv: &Conv, after: u64) -> ChatView {
    let s = conv.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
    ChatView {
        conversation: conv.id,
        stage: if s.ended {
            "ended".into()
        } else {
            s.stage.into()
        },
        messages: conv
            .after(after, PAGE)
            .iter()
            .map(|m| (**m).clone())
            .collect(),
        patient_typing: s
            .patient_typing_at
            .is_some_and(|t| chat::now_ms() - t < chat::TYPING_MS),
        patient_read: s.patient_read,
        last: *conv.last.borrow(),
        medium: conv.medium.into(),
        deliveries: Vec::new(),
    }
}

/// `GET /api/v1/chats/{contact}`: the chat's messages after `after`.
pub(crate) async fn read(
    State(app): State<App>,
    Extension(chats): Extension<Arc<Chats>>,
    Extension(c): Extension<Caller>,
    Path(contact): Path<u64>,
    q: Query<ReadQuery>,
) -> Response {
    let conv = match conv_for(&app, &chats, &c, contact).await {
        Ok(x) => x,
        // Over: read back from the store (an agent in wrap-up, a
        // supervisor looking back).
        Err(r) if r.status() == StatusCode::NOT_FOUND => {
            return stored_view(&app, &c, contact, q.after.unwrap_or(0)).await
        }
        Err(r) => return r,
    };
    // Each reader's first read of a conversation is audited.
    if conv.first_read_by(&c.actor) {
        let mut a = c.audit("chat.read", format!("contact {contact} (chat {})", conv.id));
        a.patient = conv
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .nhs_number
            .clone();
        if let Err(e) = app.dir(move |d| d.audit_chat_read(&a)).await {
            return crate::error::api(e);
        }
    }
    let after = q.after.unwrap_or(0);
    let wait = q.wait.unwrap_or(0).min(MAX_WAIT_S);
    if wait > 0 && *conv.last.borrow() <= after {
        let mut last = conv.last.clone();
        let mut signals = conv.signals.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(wait), async {
            loop {
                tokio::select! {
                    r = last.changed() => { if r.is_err() || *last.borrow() > after { return; } }
                    s = signals.recv() => match s {
                        Ok(Signal::PatientTyping | Signal::Read { patient: true, .. }) => return,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                        _ => {}
                    }
                }
            }
        })
        .await;
    }
    let mut v = view(&conv, after);
    if conv.thread.is_some() {
        v.deliveries = deliveries(&app, conv.id).await;
    }
    Json(v).into_response()
}

/// An ended chat as the store has it (every read audited).
async fn stored_view(app: &App, c: &Caller, contact: u64, after: u64) -> Response {
    let org = c.org;
    let found = app
        .dir(move |d| {
            let Some(row) = d.chat_by_contact(org, ContactId(contact))? else {
                return Ok(None);
            };
            let msgs = d.chat_messages(row.id, after, PAGE)?;
            Ok(Some((row, msgs)))
        })
        .await;
    let (row, msgs) = match found {
        Ok(Some(x)) => x,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("contact {contact} is not a chat"),
            )
        }
        Err(e) => return crate::error::api(e),
    };
    let Some(key) = app::seal::unwrap(
        &app.kek,
        &format!("chat:{}:{}", row.org.0, row.id),
        &row.wrapped_key,
    )
    .ok()
    .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok()) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the conversation does not open".into(),
        );
    };
    let nhs = row
        .identity
        .as_deref()
        .and_then(|i| {
            app::seal::decrypt_with(&key, &format!("chat-identity:{}:{}", row.org.0, row.id), i)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Identity>(&b).ok())
        .and_then(|i| i.nhs_number);
    let mut a = c.audit(
        "chat.read",
        format!("contact {contact} (chat {}, ended)", row.id),
    );
    a.patient = nhs;
    if let Err(e) = app.dir(move |d| d.audit_chat_read(&a)).await {
        return crate::error::api(e);
    }
    let messages: Vec<WireMessage> = msgs
        .iter()
        .filter_map(|m| chat::open_message(&key, row.org, row.id, m))
        .collect();
    let last = messages.last().map_or(after, |m| m.seq);
    Json(ChatView {
        conversation: row.id,
        stage: if row.ended.is_some() {
            "ended"
        } else {
            "interrupted"
        }
        .into(),
        messages,
        patient_typing: false,
        patient_read: 0,
        last,
        deliveries: if row.medium == "web" {
            Vec::new()
        } else {
            deliveries(app, row.id).await
        },
        medium: row.medium,
    })
    .into_response()
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SayBody {
    /// The desktop's own id for the message (1–64 characters): sent again,
    /// it is stored once.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    id: Option<String>,
    /// 1–4,000 characters, shown to the patient as text.
    #[schemars(length(min = 1, max = 4000))]
    text: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Said {
    /// The number it is stored as.
    seq: u64,
}

pub(crate) fn refused(r: Refusal) -> Response {
    let status = match r {
        Refusal::NotYours => StatusCode::FORBIDDEN,
        Refusal::Ended | Refusal::NotNow | Refusal::Full => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    coded(status, r.code(), r.message())
}

/// `POST /api/v1/chats/{contact}/messages`: the agent writes.
pub(crate) async fn say(
    State(app): State<App>,
    Extension(chats): Extension<Arc<Chats>>,
    Extension(c): Extension<Caller>,
    Path(contact): Path<u64>,
    b: Body<SayBody>,
) -> Response {
    let b = tryr!(body(b));
    let conv = match conv_for(&app, &chats, &c, contact).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(agent) = c.agent else {
        return error(
            StatusCode::CONFLICT,
            "you do not work as an agent, so you cannot write in a chat".into(),
        );
    };
    if !conv.flood_ok(false, chat::now_ms()) {
        return coded(
            StatusCode::TOO_MANY_REQUESTS,
            "too_fast",
            format!(
                "at most {} messages in {} seconds",
                chat::BURST,
                chat::BURST_MS / 1000
            ),
        );
    }
    match conv
        .send(ChatInput::AgentText {
            agent,
            id: b.id,
            text: b.text,
        })
        .await
    {
        Ok(seq) => Json(Said { seq }).into_response(),
        Err(r) => refused(r),
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Noted {
    ok: bool,
}

/// `POST /api/v1/chats/{contact}/typing`: the agent is typing.
pub(crate) async fn typing(
    State(app): State<App>,
    Extension(chats): Extension<Arc<Chats>>,
    Extension(c): Extension<Caller>,
    Path(contact): Path<u64>,
) -> Response {
    let conv = match conv_for(&app, &chats, &c, contact).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let _ = conv.signals.send(Signal::AgentTyping);
    Json(Noted { ok: true }).into_response()
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadBody {
    /// The agent has seen up to this number.
    seq: u64,
}

/// `POST /api/v1/chats/{contact}/read`: the agent has seen up to `seq`.
pub(crate) async fn seen(
    State(app): State<App>,
    Extension(chats): Extension<Arc<Chats>>,
    Extension(c): Extension<Caller>,
    Path(contact): Path<u64>,
    b: Body<ReadBody>,
) -> Response {
    let b = tryr!(body(b));
    let conv = match conv_for(&app, &chats, &c, contact).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let seq = {
        let mut s = conv.state.lock().unwrap_or_else(|p| p.into_inner());
        s.agent_read = s.agent_read.max(b.seq.min(*conv.last.borrow()));
        s.agent_read
    };
    let _ = conv.signals.send(Signal::Read {
        patient: false,
        seq,
    });
    Json(Noted { ok: true }).into_response()
}

// --- quick replies -----------------------------------------------------

/// Most quick replies an organisation keeps; longest title and text.
const MAX_QUICK: usize = 100;
const MAX_QUICK_TITLE: usize = 60;
const MAX_QUICK_TEXT: usize = 1000;

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuickReply {
    /// What the agent picks it by (1–60 characters).
    #[schemars(length(min = 1, max = 60))]
    title: String,
    /// What it writes (1–1,000 characters); the agent can change it before
    /// sending.
    #[schemars(length(min = 1, max = 1000))]
    text: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuickReplies {
    #[schemars(length(max = 100))]
    replies: Vec<QuickReply>,
}

/// `GET /api/v1/quick-replies`: the organisation's quick replies.
pub(crate) async fn quick_replies(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
) -> Response {
    let org = c.org;
    match app.dir(move |d| d.quick_replies(org)).await {
        Ok(r) => Json(QuickReplies {
            replies: r
                .into_iter()
                .map(|(title, text)| QuickReply { title, text })
                .collect(),
        })
        .into_response(),
        Err(e) => crate::error::api(e),
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Saved {
    /// How many are kept now.
    saved: usize,
}

/// `PUT /api/v1/quick-replies`: replace them (admins); audited.
pub(crate) async fn set_quick_replies(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<QuickReplies>,
) -> Response {
    let b = tryr!(body(b));
    if b.replies.len() > MAX_QUICK {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("replies: at most {MAX_QUICK}"),
        );
    }
    let mut rows = Vec::with_capacity(b.replies.len());
    for (i, r) in b.replies.into_iter().enumerate() {
        let title = r.title.trim().to_string();
        let text = r.text.trim().to_string();
        if title.is_empty()
            || title.chars().count() > MAX_QUICK_TITLE
            || title.contains('\n')
            || !no_controls(&title)
        {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("replies[{i}].title: 1 to {MAX_QUICK_TITLE} characters on one line"),
            );
        }
        if text.is_empty() || text.chars().count() > MAX_QUICK_TEXT || !no_controls(&text) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("replies[{i}].text: 1 to {MAX_QUICK_TEXT} characters"),
            );
        }
        if rows.iter().any(|(t, _): &(String, String)| t == &title) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("replies[{i}].title: {title:?} is used twice"),
            );
        }
        rows.push((title, text));
    }
    let audit = c.audit(
        "chat.quick_replies",
        format!("{} quick replies", rows.len()),
    );
    let org = c.org;
    let n = rows.len();
    match app
        .dir(move |d| d.set_quick_replies(org, &rows, &audit))
        .await
    {
        Ok(()) => Json(Saved { saved: n }).into_response(),
        Err(e) => crate::error::api(e),
    }
}
