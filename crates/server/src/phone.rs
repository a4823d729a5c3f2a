//! The browser phone's HTTP side: the agent desktop sends its WebRTC
//! offer and gets the answer, reads (or waits for) its phone's status,
//! and disconnects. The media and the calls are the voice edge's
//! (`voice::Voice::browser_offer`); this adapter only checks who asks
//! and translates.

use crate::error::{body, error, tryr, Body};
use crate::{App, Caller};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::AgentId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The browser's session description (`RTCSessionDescription`).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Description {
    /// `offer` (from the browser) or `answer` (ours).
    #[serde(rename = "type")]
    kind: String,
    /// The SDP.
    #[schemars(length(max = 32768))]
    sdp: String,
}

/// What the desktop shows of its phone.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PhoneStatus {
    /// `disconnected`, `connecting` or `connected`.
    state: String,
    /// The codec negotiated (`PCMA` or `PCMU`) once connected.
    codec: Option<String>,
    /// The contact ringing the phone.
    ringing: Option<u64>,
    /// The contact on the line.
    call: Option<u64>,
    /// Why the last connection ended, if it failed.
    error: Option<String>,
    /// Audio packets from the browser and to it (this connection).
    packets_in: u64,
    packets_out: u64,
    /// Changes counted: pass it back as `?seen=` to wait for the next.
    version: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusQuery {
    /// Wait (up to 20 s) until the status differs from this version.
    #[serde(default)]
    seen: Option<u64>,
}

fn me(c: &Caller) -> Result<AgentId, Response> {
    c.agent.ok_or_else(|| {
        error(
            StatusCode::CONFLICT,
            "you do not work as an agent, so you have no phone to connect".into(),
        )
    })
}

fn voice(edge: &crate::VoiceEdge) -> Result<std::sync::Arc<voice::Voice>, Response> {
    edge.0.clone().ok_or_else(|| {
        error(
            StatusCode::CONFLICT,
            "this server has no telephony (its SIP edge is off)".into(),
        )
    })
}

/// A phone that is not there, and why (if anything needs saying).
fn no_phone(why: Option<&str>) -> Response {
    Json(status_of(
        voice::LineStatus {
            state: "disconnected",
            error: why.map(Into::into),
            ..Default::default()
        },
        0,
    ))
    .into_response()
}

fn status_of(s: voice::LineStatus, version: u64) -> PhoneStatus {
    PhoneStatus {
        state: s.state.into(),
        codec: s.codec.map(Into::into),
        ringing: s.ringing,
        call: s.call,
        error: s.error,
        packets_in: s.packets_in,
        packets_out: s.packets_out,
        version,
    }
}

/// `POST /api/v1/me/phone`: the browser's offer; answers our answer.
pub(crate) async fn connect(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Extension(edge): Extension<crate::VoiceEdge>,
    b: Body<Description>,
) -> Response {
    let b = tryr!(body(b));
    let agent = match me(&c) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let v = match voice(&edge) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if b.kind != "offer" {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "type: the browser sends an \"offer\", not {:?}",
                b.kind.chars().take(20).collect::<String>()
            ),
        );
    }
    if b.sdp.len() > voice::MAX_OFFER {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("sdp: at most {} bytes", voice::MAX_OFFER),
        );
    }
    match v.browser_offer(c.org, agent, &b.sdp).await {
        Ok(sdp) => {
            let audit = c.audit("connect browser phone", format!("agent {agent}"));
            tryr!(app
                .dir(move |d| d.audit(&audit))
                .await
                .map_err(crate::error::api));
            Json(Description {
                kind: "answer".into(),
                sdp,
            })
            .into_response()
        }
        Err(e @ voice::PhoneError::Network(_)) => {
            tracing::error!("browser phone: {e}");
            error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

/// `GET /api/v1/me/phone`: my browser phone's status (`?seen=` waits
/// for a change).
pub(crate) async fn status(
    Extension(c): Extension<Caller>,
    Extension(edge): Extension<crate::VoiceEdge>,
    Query(q): Query<StatusQuery>,
) -> Response {
    let Some(agent) = c.agent else {
        return no_phone(Some("you do not work as an agent, so you have no phone"));
    };
    let Some(v) = edge.0.clone() else {
        return no_phone(Some("this server has no telephony"));
    };
    let wait = if q.seen.is_some() {
        std::time::Duration::from_secs(20)
    } else {
        std::time::Duration::ZERO
    };
    let version = v
        .browser_changed(c.org, agent, q.seen.unwrap_or(u64::MAX), wait)
        .await;
    Json(status_of(v.browser_status(c.org, agent), version)).into_response()
}

/// `DELETE /api/v1/me/phone`: disconnect my browser phone.
pub(crate) async fn disconnect(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Extension(edge): Extension<crate::VoiceEdge>,
) -> Response {
    if let (Some(v), Some(agent)) = (edge.0.clone(), c.agent) {
        v.browser_disconnect(c.org, agent);
        let audit = c.audit("disconnect browser phone", format!("agent {agent}"));
        tryr!(app
            .dir(move |d| d.audit(&audit))
            .await
            .map_err(crate::error::api));
        return Json(status_of(v.browser_status(c.org, agent), 0)).into_response();
    }
    no_phone(None)
}

/// Keys for the caller.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysBody {
    /// 1 to 32 of 0-9, *, #, A-D.
    #[schemars(length(min = 1, max = 32))]
    keys: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct KeysSent {
    /// How many keys were queued to the caller.
    sent: usize,
}

/// `POST /api/v1/me/phone/keys`: key digits to the caller on my browser
/// phone (RFC 4733 on the caller's leg).
pub(crate) async fn keys(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Extension(edge): Extension<crate::VoiceEdge>,
    b: Body<KeysBody>,
) -> Response {
    let b = tryr!(body(b));
    let n = b.keys.chars().count();
    if n == 0
        || n > 32
        || !b
            .keys
            .chars()
            .all(|k| matches!(k, '0'..='9' | '*' | '#' | 'A'..='D' | 'a'..='d'))
    {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "keys: 1 to 32 of 0-9, *, # and A-D".into(),
        );
    }
    let agent = match me(&c) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let v = match voice(&edge) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(why) = v.browser_keys(c.org, agent, &b.keys) {
        return error(StatusCode::CONFLICT, why);
    }
    // The keys themselves are not kept: they may be a PIN.
    let audit = c.audit("send keys", format!("agent {agent}: {n} keys"));
    tryr!(app
        .dir(move |d| d.audit(&audit))
        .await
        .map_err(crate::error::api));
    Json(KeysSent { sent: n }).into_response()
}
