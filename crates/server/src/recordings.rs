//! Call recordings: found by contact, agent, number or time; played or
//! downloaded as a WAV (caller left, agent right), opened with the
//! key-encryption key and audited with the contact's patient on every
//! listen; started, paused, resumed and stopped from the agent's desktop.

use crate::error::{body, tryr, Body};
use crate::{error, App, Caller};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::{AgentId, ContactId, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most recordings one list answers.
const MAX_LIST: usize = 1000;
/// Largest recording served (about 8 hours of stereo audio).
const MAX_BYTES: u64 = 1 << 30;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordingQuery {
    /// Recordings of this contact.
    #[serde(default)]
    contact: Option<u64>,
    /// Recordings with this agent on the line.
    #[serde(default)]
    agent: Option<u32>,
    /// Recordings of calls from this number (as the caller's phone gave
    /// it, e.g. +447700900123).
    #[serde(default)]
    #[schemars(length(max = 32))]
    number: Option<String>,
    /// Started at or after (RFC 3339).
    #[serde(default)]
    from: Option<String>,
    /// Started before (RFC 3339).
    #[serde(default)]
    to: Option<String>,
    /// At most this many, newest first (100; at most 1,000).
    #[serde(default)]
    #[schemars(range(max = 1000))]
    limit: Option<usize>,
}

/// A recording, as listed.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Recording {
    id: u64,
    contact: Option<u64>,
    agent: Option<u32>,
    /// RFC 3339, UTC.
    started_at: String,
    /// None while it is being recorded.
    ended_at: Option<String>,
    /// Length in seconds (pauses included, as silence).
    seconds: f64,
    /// Seconds recorded as silence while paused.
    paused_seconds: f64,
    /// When its key is destroyed (the service's retention).
    expires_at: String,
    /// recording, available, destroyed.
    state: String,
    /// When its key was destroyed, if it was.
    destroyed_at: Option<String>,
    /// Kept past its retention, and why (none: destroyed when it expires).
    hold: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Recordings {
    recordings: Vec<Recording>,
}

fn view(r: store::recordings::RecordingRow) -> Recording {
    let state = match (&r.wrapped_key, r.ended) {
        (None, _) => "destroyed",
        (Some(_), None) => "recording",
        (Some(_), Some(_)) => "available",
    };
    Recording {
        id: r.id,
        contact: r.contact.map(|c| c.0),
        agent: r.agent.map(|a| a.0),
        started_at: app::time::iso(r.started),
        ended_at: r.ended.map(app::time::iso),
        seconds: r.bytes as f64 / 4.0 / f64::from(app::recording::RATE),
        paused_seconds: r.paused_ms as f64 / 1000.0,
        expires_at: app::time::iso(r.expires),
        state: state.into(),
        destroyed_at: r.destroyed.map(app::time::iso),
        hold: r.hold,
    }
}

/// An optional RFC 3339 query parameter, named when malformed.
pub(crate) fn instant(field: &str, s: Option<String>) -> Result<Option<Timestamp>, Response> {
    s.map(|s| crate::reports::parse_time(field, &s)).transpose()
}

/// `GET /api/v1/recordings`.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<Query<RecordingQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_LIST {
        return error(StatusCode::BAD_REQUEST, format!("limit: 1 to {MAX_LIST}"));
    }
    let number = match q.number {
        Some(n) => Some(tryr!(app::services::canonical(
            app::services::Kind::Phone,
            &n
        )
        .map_err(|m| error(StatusCode::BAD_REQUEST, format!("number: {m}"))))),
        None => None,
    };
    let query = store::recordings::RecordingQuery {
        contact: q.contact.map(ContactId),
        agent: q.agent.map(AgentId),
        number,
        from: tryr!(instant("from", q.from)),
        to: tryr!(instant("to", q.to)),
        limit,
    };
    let org = c.org;
    let rows = tryr!(app
        .dir(move |d| d.recordings(org, &query))
        .await
        .map_err(crate::error::api));
    Json(Recordings {
        recordings: rows.into_iter().map(view).collect(),
    })
    .into_response()
}

/// `GET /api/v1/recordings/{recording}/audio`: the WAV, opened; audited
/// with the contact's patient.
pub(crate) async fn audio(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Extension(edge): Extension<crate::VoiceEdge>,
    Path(id): Path<u64>,
) -> Response {
    let Some(folder) = edge.0.as_ref().map(|v| v.recordings_folder()) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown recording {id} (no telephony here)"),
        );
    };
    let caller = c.clone();
    let found = tryr!(app
        .dir(move |d| {
            let row = d.recording(caller.org, id)?;
            let Some(row) = row else { return Ok(None) };
            let mut audit = caller.audit("listen to recording", format!("recording {id}"));
            audit.patient = match row.contact {
                Some(contact) => d
                    .contact_caller(caller.org, contact)?
                    .and_then(|w| w.nhs_number)
                    .map(|n| n.expose()),
                None => None,
            };
            audit.purpose = Some("call recording".into());
            d.recording_for_listening(caller.org, id, &audit)
        })
        .await
        .map_err(crate::error::api));
    let Some(row) = found else {
        return error(StatusCode::NOT_FOUND, format!("unknown recording {id}"));
    };
    let Some(wrapped) = row.wrapped_key else {
        return error(
            StatusCode::GONE,
            format!(
                "recording {id} was destroyed at {} (its retention ran out)",
                row.destroyed.map(app::time::iso).unwrap_or_default()
            ),
        );
    };
    if row.ended.is_none() {
        return error(
            StatusCode::CONFLICT,
            format!("recording {id} is still being made"),
        );
    }
    if row.bytes > MAX_BYTES {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("recording {id} is too long to serve"),
        );
    }
    let aad = app::recording::aad(c.org.0, id);
    let kek = app.kek.clone();
    let path = folder.join(&row.file);
    let opened = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let key = app::recording::unwrap_key(&kek, &aad, &wrapped).map_err(|e| e.to_string())?;
        let file = std::fs::read(&path).map_err(|e| format!("its file cannot be read: {e}"))?;
        let pcm = app::recording::open_stream(&key, &aad, &file).map_err(|e| e.to_string())?;
        let mut wav = app::recording::wav_header(2, pcm.len() as u32).to_vec();
        wav.extend_from_slice(&pcm);
        Ok(wav)
    })
    .await;
    match opened.unwrap_or_else(|e| Err(e.to_string())) {
        Ok(wav) => (
            [
                (header::CONTENT_TYPE, "audio/wav".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"recording-{id}.wav\""),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            wav,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("recording {id} did not open: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("recording {id} cannot be opened: {e}; check the server's key-encryption key (SWITCHBOARD_KEK or --kek-file)"),
            )
        }
    }
}

/// Why a recording is kept past its retention.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HoldBody {
    /// A complaint, an incident, a request from the coroner… (5 to 500
    /// characters).
    #[schemars(length(min = 5, max = 500))]
    reason: String,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Held {
    recording: u64,
    hold: Option<String>,
}

async fn set_hold(app: &App, c: &Caller, id: u64, reason: Option<String>) -> Response {
    let action = if reason.is_some() {
        "hold recording"
    } else {
        "release recording hold"
    };
    let mut audit = c.audit(action, format!("recording {id}"));
    audit.purpose = reason.clone();
    let (org, by, at, r) = (c.org, c.actor.clone(), app::wall_clock(), reason.clone());
    let done = tryr!(app
        .dir(move |d| d.hold_recording(org, id, r.as_deref().map(|r| (r, by.as_str())), at, &audit))
        .await
        .map_err(crate::error::api));
    if !done {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown recording {id}, or destroyed already"),
        );
    }
    Json(Held {
        recording: id,
        hold: reason,
    })
    .into_response()
}

/// `PUT /api/v1/recordings/{recording}/hold`: kept past its retention
/// until the hold is released; audited with the reason.
pub(crate) async fn hold(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    b: Body<HoldBody>,
) -> Response {
    let b = tryr!(body(b));
    let reason = b.reason.trim().to_string();
    if !(5..=500).contains(&reason.chars().count()) || reason.chars().any(char::is_control) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason: 5 to 500 characters, no control characters".into(),
        );
    }
    set_hold(&app, &c, id, Some(reason)).await
}

/// `DELETE /api/v1/recordings/{recording}/hold`: the recording's retention
/// applies again (destroyed at once if it has run out); audited.
pub(crate) async fn release(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    set_hold(&app, &c, id, None).await
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ControlBody {
    /// start (a service that records on demand), pause, resume, or stop
    /// (on demand only; a service that records every call is paused).
    #[schemars(regex(pattern = "^(start|pause|resume|stop)$"))]
    action: String,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Controlled {
    contact: u64,
    action: String,
}

/// `POST /api/v1/contacts/{contact}/recording`: the agent on a call
/// starts, pauses, resumes or stops its recording; audited.
pub(crate) async fn control(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Extension(edge): Extension<crate::VoiceEdge>,
    Path(id): Path<u64>,
    b: Body<ControlBody>,
) -> Response {
    let b = tryr!(body(b));
    if !["start", "pause", "resume", "stop"].contains(&b.action.as_str()) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "action: start, pause, resume or stop, not {:?}",
                b.action.chars().take(40).collect::<String>()
            ),
        );
    }
    let contact = ContactId(id);
    tryr!(crate::contacts::own_contact(&app, &c, contact).await);
    let Some(v) = edge.0.clone() else {
        return error(
            StatusCode::CONFLICT,
            format!("contact {id} is not a phone call"),
        );
    };
    match v.recording_request(c.org, contact, &b.action).await {
        Ok(()) => {
            let audit = c.audit(&format!("{} recording", b.action), format!("contact {id}"));
            tryr!(app
                .dir(move |d| d.audit(&audit))
                .await
                .map_err(crate::error::api));
            Json(Controlled {
                contact: id,
                action: b.action,
            })
            .into_response()
        }
        Err(voice::RecordingError::NoCall) => error(
            StatusCode::CONFLICT,
            format!("contact {id} is not a phone call in progress"),
        ),
        Err(voice::RecordingError::Refused(why)) => error(StatusCode::CONFLICT, why),
    }
}
