//! Web chat: the patient's files (images and PDF), sealed on the disk,
//! fetched by the patient and the agent (docs/chat.md, "Files").

use crate::chat::{self, Chats, Conv};
use crate::chat_api::*;
use crate::error::{coded, error, tryr};
use crate::{App, Caller};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use callctl::chat::ChatInput;
use model::OrgId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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
    let file = match store(&chats, &conv, &bytes).await {
        Ok(f) => f,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e),
    };
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

/// Stores a file of conversation `conv` (sealed, on the disk, synced)
/// before the message that names it; its id.
pub(crate) async fn store(chats: &Chats, conv: &Conv, bytes: &[u8]) -> Result<String, String> {
    let file = app::auth::hex(&app::auth::random_bytes::<16>());
    let path = file_path(chats, conv.id, &file).ok_or("file id")?;
    let sealed = app::seal::encrypt_with(&conv.key, &file_aad(conv.org, conv.id, &file), bytes);
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
    match written {
        Ok(Ok(())) => Ok(file),
        _ => Err("the file could not be stored".into()),
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
