//! Web chat over HTTP: the patient's side (public: the entry point's
//! state, starting a conversation, its WebSocket, the transcript) and the
//! agent's (`/api/v1/chats/{contact}`: read, write, typing, read
//! receipts). Protocol: `docs/chat.md`. The conversations themselves are
//! `chat::Chats`'.

use crate::chat::{self, Chats, Conv, Identity, Signal, WireMessage};
use crate::error::{body, coded, error, tryr, Body};
use crate::net::Client;
use crate::{App, Caller};
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
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
const MAX_FRAME: usize = 16 * 1024;
/// How long a new socket has to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// Longest an agent's read waits for a new message.
const MAX_WAIT_S: u64 = 25;
/// Most messages one read answers.
const PAGE: usize = 500;

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

fn no_controls(s: &str) -> bool {
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

fn bearer(h: &HeaderMap) -> Option<&str> {
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

// --- the socket --------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Frame {
    Hello {
        token: String,
        #[serde(default)]
        after: u64,
    },
    Text {
        #[serde(default)]
        id: Option<String>,
        text: String,
    },
    Choose {
        #[serde(default)]
        id: Option<String>,
        key: String,
    },
    Typing,
    Read {
        seq: u64,
    },
    Leave,
}

fn frame_error(code: &str, message: &str) -> WsMessage {
    WsMessage::Text(
        serde_json::json!({"type": "error", "code": code, "message": message})
            .to_string()
            .into(),
    )
}

fn message_frame(w: &WireMessage) -> WsMessage {
    let mut v = serde_json::to_value(w).unwrap_or_default();
    v["type"] = "message".into();
    WsMessage::Text(v.to_string().into())
}

/// `GET /chat/v1/socket`: the patient's WebSocket (`docs/chat.md`).
pub(crate) async fn socket(
    Extension(chats): Extension<Arc<Chats>>,
    ws: WebSocketUpgrade,
) -> Response {
    // Small buffers: thousands of patients wait at once, mostly quiet.
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |s| patient(chats, s))
}

async fn patient(chats: Arc<Chats>, mut ws: WebSocket) {
    // The first frame says who: the token and the last number the page has.
    let hello = tokio::time::timeout(HELLO_WITHIN, ws.recv()).await;
    let (token, mut sent) = match hello {
        Ok(Some(Ok(WsMessage::Text(t)))) => match serde_json::from_str::<Frame>(&t) {
            Ok(Frame::Hello { token, after }) => (token, after),
            _ => {
                let _ = ws
                    .send(frame_error("bad_frame", "the first frame is a hello"))
                    .await;
                return;
            }
        },
        _ => return,
    };
    let hash = app::auth::secret_hash(&token);
    let Some(conv) = chats.by_token(&hash) else {
        // Over or unknown: an ended conversation's messages come from the
        // store, then the socket closes.
        let _ = ws
            .send(frame_error(
                "token",
                "no conversation in progress has this token",
            ))
            .await;
        let _ = ws.send(WsMessage::Close(None)).await;
        return;
    };
    {
        let mut s = conv.state.lock().unwrap_or_else(|p| p.into_inner());
        s.sockets += 1;
        if s.sockets == 1 {
            conv.tell(ChatInput::Connected(true));
        }
    }
    struct Gone(Arc<Conv>);
    impl Drop for Gone {
        fn drop(&mut self) {
            let mut s = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
            s.sockets = s.sockets.saturating_sub(1);
            if s.sockets == 0 {
                self.0.tell(ChatInput::Connected(false));
            }
        }
    }
    let _gone = Gone(conv.clone());
    let mut last = conv.last.clone();
    let mut signals = conv.signals.subscribe();
    loop {
        // Everything stored after what this page has, in order.
        let news = conv.after(sent, PAGE);
        for w in &news {
            if ws.send(message_frame(w)).await.is_err() {
                return;
            }
            sent = w.seq;
        }
        if news.len() == PAGE {
            continue;
        }
        let ended = conv.state.lock().map(|s| s.ended).unwrap_or(true);
        if ended && conv.after(sent, 1).is_empty() {
            let _ = ws.send(WsMessage::Close(None)).await;
            return;
        }
        tokio::select! {
            changed = last.changed() => {
                if changed.is_err() {
                    // The conversation's task is over: send what is left.
                    for w in conv.after(sent, usize::MAX) {
                        let _ = ws.send(message_frame(&w)).await;
                    }
                    let _ = ws.send(WsMessage::Close(None)).await;
                    return;
                }
            }
            s = signals.recv() => {
                let f = match s {
                    Ok(Signal::Ack { id, seq }) => serde_json::json!({"type": "ack", "id": id, "seq": seq}),
                    Ok(Signal::AgentTyping) => serde_json::json!({"type": "typing", "who": "agent"}),
                    Ok(Signal::Read { patient: false, seq }) => serde_json::json!({"type": "read", "seq": seq}),
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => continue,
                };
                if ws.send(WsMessage::Text(f.to_string().into())).await.is_err() {
                    return;
                }
            }
            m = ws.recv() => {
                let t = match m {
                    Some(Ok(WsMessage::Text(t))) => t,
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                if let Some(reply) = patient_frame(&conv, &t).await {
                    if ws.send(reply).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// One frame from the patient's page; an error frame if it is refused.
async fn patient_frame(conv: &Arc<Conv>, t: &str) -> Option<WsMessage> {
    let f = match serde_json::from_str::<Frame>(t) {
        Ok(f) => f,
        Err(e) => {
            return Some(frame_error(
                "bad_frame",
                &format!("not a frame of docs/chat.md: {e}"),
            ))
        }
    };
    let now = chat::now_ms();
    let input = match f {
        Frame::Hello { .. } => return Some(frame_error("bad_frame", "hello only once")),
        Frame::Typing => {
            conv.state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .patient_typing_at = Some(now);
            let _ = conv.signals.send(Signal::PatientTyping);
            conv.tell(ChatInput::Typing);
            return None;
        }
        Frame::Read { seq } => {
            let seq = {
                let mut s = conv.state.lock().unwrap_or_else(|p| p.into_inner());
                s.patient_read = s.patient_read.max(seq.min(*conv.last.borrow()));
                s.patient_read
            };
            let _ = conv.signals.send(Signal::Read { patient: true, seq });
            return None;
        }
        Frame::Leave => ChatInput::Leave,
        Frame::Text { id, text } => ChatInput::Text { id, text },
        Frame::Choose { id, key } => ChatInput::Choose { id, key },
    };
    if matches!(input, ChatInput::Text { .. } | ChatInput::Choose { .. })
        && !conv.flood_ok(true, now)
    {
        return Some(frame_error(
            "too_fast",
            &format!(
                "You are sending messages too quickly: at most {} in {} seconds.",
                chat::BURST,
                chat::BURST_MS / 1000
            ),
        ));
    }
    match conv.send(input).await {
        Ok(_) => None,
        Err(r) => Some(frame_error(r.code(), &r.message())),
    }
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
}

async fn conv_for(
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
    Json(view(&conv, after)).into_response()
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

fn refused(r: Refusal) -> Response {
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

// --- figures and the live list ------------------------------------------

/// Most conversations one report reads.
const REPORT_MAX: usize = 200_000;

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ChatAgentRow {
    agent: u32,
    /// Chats held at once, averaged over the time with at least one.
    concurrency_mean: f64,
    concurrency_max: u32,
    /// Seconds with at least one chat.
    busy_s: f64,
}

/// Web chat figures (docs/kpis.md, "Web chat").
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ChatReport {
    from: String,
    to: String,
    started: u64,
    queued: u64,
    answered: u64,
    abandoned: u64,
    abandonment_pct: Option<f64>,
    /// Mean seconds from the patient's first message to an agent's first words.
    first_response_s: Option<f64>,
    /// Mean seconds from a patient's message to the agent's next words.
    response_s: Option<f64>,
    /// Mean seconds from an agent joining to the end.
    handle_s: Option<f64>,
    agents: Vec<ChatAgentRow>,
}

fn timeline(
    row: &store::chat::ChatRow,
    msgs: &[(model::Timestamp, String, Option<model::AgentId>)],
) -> kpi::chat::Timeline {
    use kpi::chat::Side;
    let mut joins = Vec::new();
    let messages = msgs
        .iter()
        .map(|(at, sender, agent)| {
            let side = match (sender.as_str(), agent) {
                ("patient", _) => Side::Patient,
                ("agent", Some(a)) => Side::Agent(*a),
                ("system", Some(a)) => {
                    joins.push((*at, *a));
                    Side::System
                }
                _ => Side::System,
            };
            (*at, side)
        })
        .collect();
    kpi::chat::Timeline {
        started: row.started,
        answered: joins.first().copied(),
        ended: row.ended,
        outcome: row.outcome.clone(),
        messages,
        joins,
    }
}

fn mean(m: kpi::chat::Mean) -> Option<f64> {
    (m.count > 0).then_some((m.seconds * 10.0).round() / 10.0)
}

/// `GET /api/v1/reports/chats`: web chat figures for a period.
pub(crate) async fn report(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<Query<crate::reports::ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let (from, to) = tryr!(crate::reports::period(&q));
    let as_csv = match q.format() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return error(StatusCode::BAD_REQUEST, "format: json or csv".into()),
    };
    let org = c.org;
    let rows = match app
        .dir(move |d| d.chat_timelines(org, from, to, REPORT_MAX))
        .await
    {
        Ok(r) => r,
        Err(e) => return crate::error::api(e),
    };
    let timelines: Vec<_> = rows.iter().map(|(r, m)| timeline(r, m)).collect();
    let f = kpi::chat::figures(&timelines, app::wall_clock());
    let report = ChatReport {
        from: crate::reports::iso(from),
        to: crate::reports::iso(to),
        started: f.started,
        queued: f.queued,
        answered: f.answered,
        abandoned: f.abandoned,
        abandonment_pct: f.abandonment_pct.map(|p| (p * 10.0).round() / 10.0),
        first_response_s: mean(f.first_response),
        response_s: mean(f.response),
        handle_s: mean(f.handle),
        agents: f
            .concurrency
            .iter()
            .map(|(a, c)| ChatAgentRow {
                agent: a.0,
                concurrency_mean: (c.mean * 100.0).round() / 100.0,
                concurrency_max: c.max,
                busy_s: c.busy_seconds.round(),
            })
            .collect(),
    };
    if as_csv {
        let o = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
        let mut out = String::from("dimension,agent,started,queued,answered,abandoned,abandonment_pct,first_response_s,response_s,handle_s,concurrency_mean,concurrency_max\n");
        out.push_str(&format!(
            "overall,,{},{},{},{},{},{},{},{},,\n",
            report.started,
            report.queued,
            report.answered,
            report.abandoned,
            o(report.abandonment_pct),
            o(report.first_response_s),
            o(report.response_s),
            o(report.handle_s)
        ));
        for a in &report.agents {
            out.push_str(&format!(
                "agent,{},,,,,,,,,{},{}\n",
                a.agent, a.concurrency_mean, a.concurrency_max
            ));
        }
        return (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"chats.csv\"",
                ),
            ],
            out,
        )
            .into_response();
    }
    Json(report).into_response()
}

/// A chat in progress, as the wallboard shows it (no patient data).
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct LiveChat {
    contact: Option<u64>,
    /// `in_flow`, `joining`, `queued` or `with_agent`.
    stage: String,
    agent: Option<u32>,
    /// Milliseconds since the epoch.
    started: i64,
    /// The patient wrote last and waits for an answer, since (ms).
    waiting_since: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct LiveChats {
    /// Chats in the flow or waiting for an agent.
    waiting: usize,
    /// Chats with an agent.
    with_agents: usize,
    chats: Vec<LiveChat>,
}

/// `GET /api/v1/chats`: the organisation's chats in progress.
pub(crate) async fn live(
    Extension(chats): Extension<Arc<Chats>>,
    Extension(c): Extension<Caller>,
) -> Response {
    let list: Vec<LiveChat> = chats
        .live(c.org)
        .into_iter()
        .map(|(s, started, waiting_since)| LiveChat {
            contact: s.contact.map(|c| c.0),
            stage: s.stage.into(),
            agent: s.agent,
            started,
            waiting_since,
        })
        .collect();
    Json(LiveChats {
        waiting: list.iter().filter(|c| c.stage != "with_agent").count(),
        with_agents: list.iter().filter(|c| c.stage == "with_agent").count(),
        chats: list,
    })
    .into_response()
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

// --- files -------------------------------------------------------------

/// The file types a chat takes, by their first bytes (never by the name
/// or the type the browser claims).
pub(crate) fn sniff(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else if b.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}

/// A file's name as shown: its last path part, no control characters, at
/// most 100 characters.
fn clean_name(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let cleaned: String = last.chars().filter(|c| !c.is_control()).take(100).collect();
    (!cleaned.is_empty() && cleaned != "." && cleaned != "..").then_some(cleaned)
}

fn file_path(chats: &Chats, chat: u64, file: &str) -> Option<std::path::PathBuf> {
    (file.len() == 32
        && file
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then(|| chats.files.join(chat.to_string()).join(file))
}

fn file_aad(org: OrgId, chat: u64, file: &str) -> String {
    format!("chat-file:{}:{chat}:{file}", org.0)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadQuery {
    /// The file's name (shown to the agent; 1–100 characters).
    name: String,
    /// The page's own id for the message (sent again, stored once).
    #[serde(default)]
    id: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Uploaded {
    /// The message that carries the file.
    seq: u64,
    /// The file's id.
    file: String,
}

/// `POST /chat/v1/attachments?name=`: the patient sends a file (the body,
/// as it is), by the conversation's token.
pub(crate) async fn upload(
    Extension(chats): Extension<Arc<Chats>>,
    headers: HeaderMap,
    q: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    bytes: axum::body::Bytes,
) -> Response {
    let Query(q) = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let Some(token) = bearer(&headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "Authorization: Bearer and the conversation's token".into(),
        );
    };
    let Some(conv) = chats.by_token(&app::auth::secret_hash(token)) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "no conversation in progress has this token".into(),
        );
    };
    if conv.max_attachment == 0 {
        return error(
            StatusCode::CONFLICT,
            "this service takes no files in its chats".into(),
        );
    }
    if bytes.len() as u64 > conv.max_attachment {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a file is at most {} bytes here", conv.max_attachment),
        );
    }
    if bytes.is_empty() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "the file is empty".into());
    }
    let Some(name) = clean_name(&q.name) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name: 1 to 100 characters".into(),
        );
    };
    let Some(mime) = sniff(&bytes) else {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "only images (PNG, JPEG, GIF, WebP) and PDF documents, by their content".into(),
        );
    };
    if !conv.flood_ok(true, chat::now_ms()) {
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
    let file = app::auth::hex(&app::auth::random_bytes::<16>());
    let Some(path) = file_path(&chats, conv.id, &file) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "file id".into());
    };
    let sealed = app::seal::encrypt_with(&conv.key, &file_aad(conv.org, conv.id, &file), &bytes);
    // Stored (and on the disk) before the message that names it.
    let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("part");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&sealed)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the file could not be stored".into(),
        );
    }
    let size = bytes.len() as u64;
    match conv
        .send(ChatInput::File {
            id: q.id,
            file: callctl::chat::Attachment {
                id: file.clone(),
                name,
                mime: mime.into(),
                size,
            },
        })
        .await
    {
        Ok(seq) => Json(Uploaded { seq, file }).into_response(),
        Err(r) => refused(r),
    }
}

/// A stored file opened, as an answer (always a download, never run).
fn file_answer(bytes: Vec<u8>) -> Response {
    let mime = sniff(&bytes).unwrap_or("application/octet-stream");
    let ext = match mime {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    let mut r = (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"chat-file.{ext}\""),
            ),
        ],
        bytes,
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        axum::http::HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    r
}

async fn read_file(
    chats: &Chats,
    org: OrgId,
    chat: u64,
    key: [u8; 32],
    file: &str,
) -> Result<Vec<u8>, Response> {
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            format!("no file {file} in this chat"),
        )
    };
    let path = file_path(chats, chat, file).ok_or_else(not_found)?;
    let sealed = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(not_found)?;
    app::seal::decrypt_with(&key, &file_aad(org, chat, file), &sealed).map_err(|_| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the file does not open".into(),
        )
    })
}

/// `GET /chat/v1/attachments/{file}`: a file of the patient's own
/// conversation, by its token (ended conversations too, until deleted).
pub(crate) async fn patient_file(
    State(app): State<App>,
    Extension(chats): Extension<Arc<Chats>>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "Authorization: Bearer and the conversation's token".into(),
        );
    };
    let hash = app::auth::secret_hash(token);
    let row = match app.dir(move |d| d.chat_by_token(hash.as_bytes())).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "no conversation has this token".into(),
            )
        }
        Err(e) => return crate::error::api(e),
    };
    let key = match app::seal::unwrap(
        &app.kek,
        &format!("chat:{}:{}", row.org.0, row.id),
        &row.wrapped_key,
    )
    .ok()
    .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
    {
        Some(k) => k,
        None => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the conversation does not open".into(),
            )
        }
    };
    match read_file(&chats, row.org, row.id, key, &file).await {
        Ok(b) => file_answer(b),
        Err(r) => r,
    }
}

/// `GET /api/v1/chats/{contact}/files/{file}`: a file the patient sent in
/// a chat with me; audited.
pub(crate) async fn agent_file(
    State(app): State<App>,
    Extension(chats): Extension<Arc<Chats>>,
    Extension(c): Extension<Caller>,
    Path((contact, file)): Path<(u64, String)>,
) -> Response {
    let conv = match conv_for(&app, &chats, &c, contact).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let bytes = match read_file(&chats, conv.org, conv.id, conv.key, &file).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut a = c.audit(
        "chat.file.read",
        format!("contact {contact} (chat {}) file {file}", conv.id),
    );
    a.patient = conv
        .state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .nhs_number
        .clone();
    if let Err(e) = app.dir(move |d| d.audit_chat_read(&a)).await {
        return crate::error::api(e);
    }
    file_answer(bytes)
}
