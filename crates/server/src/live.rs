//! What is happening now: agents and queues as a wallboard shows them,
//! live KPIs, a queue's waiting list, the live event stream and the
//! telephony journal.

use crate::{error, App, Caller};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::QueueId;
use serde::Deserialize;
use serde_json::json;

/// The organisation's agents as a wallboard or a transfer list shows them:
/// status, since when, presence, work in hand.
pub(crate) async fn list_agents(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
) -> Response {
    let r = app
        .read(c.org, |t, now| {
            let config = t.engine.config();
            config
                .agents
                .iter()
                .filter_map(|a| {
                    let v = t.engine.agent(a.id)?;
                    let word = app::status_word(&v.status);
                    let since = t
                        .agent_since
                        .get(&a.id)
                        .filter(|s| s.0 == word)
                        .map(|s| s.1);
                    Some(json!({
                        "id": a.id,
                        "name": a.name,
                        "team": a.team,
                        "site": a.site,
                        "skills": a.skills,
                        "status": word,
                        "detail": v.status,
                        "since": since,
                        "seconds_in_state": since.map(|s| now.since(s).0.max(0) / 1000),
                        "work": v.work,
                    }))
                })
                .collect::<Vec<_>>()
        })
        .await;
    match r {
        Ok(v) => Json(json!({ "agents": v })).into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

/// The organisation's queues: id, name, priority, target, waiting now.
pub(crate) async fn list_queues(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
) -> Response {
    let r = app
        .read(c.org, |t, _| {
            t.engine
                .config()
                .queues
                .iter()
                .map(|q| {
                    json!({
                        "id": q.id,
                        "name": q.name,
                        "priority": q.priority,
                        "target": { "within_seconds": q.target.within.0 / 1000, "percent": q.target.percent },
                        "waiting": t.engine.queue_view(q.id).map_or(0, |v| v.waiting),
                    })
                })
                .collect::<Vec<_>>()
        })
        .await;
    match r {
        Ok(v) => Json(json!({ "queues": v })).into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

pub(crate) async fn get_kpis(State(app): State<App>, Extension(c): Extension<Caller>) -> Response {
    match app.read(c.org, |t, now| t.snapshot(now)).await {
        Ok(v) => Json(v).into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

pub(crate) async fn get_waiting(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
) -> Response {
    let q = QueueId(id);
    let r = app
        .read(c.org, move |t, _| {
            t.engine.queue_view(q).map(|_| t.engine.waiting_in_order(q))
        })
        .await;
    match r {
        Ok(Some(v)) => Json(json!({ "queue": id, "waiting": v })).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("unknown queue {q}")),
        Err(r) => crate::error::Answer::answer(r),
    }
}

/// The live stream of the caller's organisation: every event as it
/// happens, one `record` event each (JSON of the engine's `Record`),
/// `lagged` with a count if this client fell behind by more than the
/// buffer. Ends when the server stops.
pub(crate) async fn get_events(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let Some(state) = app.subscribe(c.org).await else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown organisation {}", c.org),
        );
    };
    let stream = futures_util::stream::unfold(state, |(mut rx, mut stop)| async move {
        if *stop.borrow() {
            return None;
        }
        let ev = tokio::select! {
            r = rx.recv() => match r {
                Ok(r) => Event::default().event("record").json_data(&r).ok()?,
                Err(RecvError::Lagged(n)) => Event::default().event("lagged").data(n.to_string()),
                Err(RecvError::Closed) => return None,
            },
            _ = stop.changed() => return None,
        };
        Some((Ok::<_, std::convert::Infallible>(ev), (rx, stop)))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

// --- configuration -------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct JournalQuery {
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/v1/voice/calls`: the organisation's recent calls.
pub(crate) async fn voice_calls(
    Extension(c): Extension<Caller>,
    Extension(edge): Extension<crate::VoiceEdge>,
    Query(q): Query<JournalQuery>,
) -> Response {
    let limit = q.limit.unwrap_or(100).min(voice::JOURNAL);
    let calls = match &edge.0 {
        Some(v) => Some(v.journal(c.org, limit).await),
        None => None,
    };
    Json(json!({
        "sip": edge.0.as_ref().map(|v| v.sip_address()),
        "calls": calls.unwrap_or_default(),
    }))
    .into_response()
}
