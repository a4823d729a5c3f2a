//! What is happening now: agents and queues as a wallboard shows them,
//! live KPIs, a queue's waiting list, the live event stream and the
//! telephony journal.

use crate::error::tryr;
use crate::{error, wire, App, Caller};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::QueueId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An agent as the wallboard shows them.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Agent {
    id: u32,
    name: String,
    team: u32,
    site: u32,
    /// `[[skill, level], ...]`
    skills: Vec<(u32, u8)>,
    /// In one word: offline, ready, not ready, busy, wrap-up ...
    status: String,
    /// As routing has it.
    detail: wire::AgentStatus,
    /// In this status since (none: since before the server started).
    since: Option<wire::Millis>,
    seconds_in_state: Option<i64>,
    work: Vec<wire::Work>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Agents {
    agents: Vec<Agent>,
}

/// The service level target: `percent` answered within `within_seconds`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Target {
    within_seconds: i64,
    percent: u8,
}

impl From<&routing::ServiceTarget> for Target {
    fn from(t: &routing::ServiceTarget) -> Target {
        Target {
            within_seconds: t.within.0 / 1000,
            percent: t.percent,
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Queue {
    id: u32,
    name: String,
    priority: i32,
    target: Target,
    /// Waiting now.
    waiting: usize,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Queues {
    queues: Vec<Queue>,
}

/// A queue's waiting contacts, first in line first.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Waiting {
    queue: u32,
    waiting: Vec<u64>,
}

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
                    Some(Agent {
                        id: a.id.0,
                        name: a.name.clone(),
                        team: a.team.0,
                        site: a.site.0,
                        skills: a.skills.iter().map(|(s, l)| (s.0, *l)).collect(),
                        status: word.to_string(),
                        detail: (&v.status).into(),
                        since: since.map(|s| s.0),
                        seconds_in_state: since.map(|s| now.since(s).0.max(0) / 1000),
                        work: wire::work(&v.work),
                    })
                })
                .collect::<Vec<_>>()
        })
        .await;
    match r {
        Ok(agents) => Json(Agents { agents }).into_response(),
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
                .map(|q| Queue {
                    id: q.id.0,
                    name: q.name.clone(),
                    priority: q.priority,
                    target: (&q.target).into(),
                    waiting: t.engine.queue_view(q.id).map_or(0, |v| v.waiting),
                })
                .collect::<Vec<_>>()
        })
        .await;
    match r {
        Ok(queues) => Json(Queues { queues }).into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

/// A window's headline figures.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Window {
    offered: u64,
    answered: u64,
    abandoned: u64,
    service_level: Option<f64>,
    abandonment_rate: Option<f64>,
    asa_seconds: Option<f64>,
}

impl From<&app::Window> for Window {
    fn from(w: &app::Window) -> Window {
        Window {
            offered: w.offered,
            answered: w.answered,
            abandoned: w.abandoned,
            service_level: w.service_level,
            abandonment_rate: w.abandonment_rate,
            asa_seconds: w.asa_seconds,
        }
    }
}

/// One queue on the wallboard.
#[derive(Serialize, JsonSchema)]
pub(crate) struct QueueBoard {
    queue: u32,
    name: String,
    priority: i32,
    target: Target,
    today: Window,
    last_30_minutes: Window,
    callbacks_pending: u32,
    /// Past 80% of the 10-minute target, or near a clinical deadline.
    callbacks_at_risk: u32,
    waiting: usize,
    longest_wait_seconds: Option<f64>,
    ready_agents: usize,
    /// Since the server started.
    counts: Option<wire::Counts>,
    figures: Option<wire::Figures>,
}

/// The wallboard: overall since the start, today (London), the last 30
/// minutes, and each queue now.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Kpis {
    at: wire::Millis,
    overall: wire::Row,
    today: Window,
    last_30_minutes: Window,
    queues: Vec<QueueBoard>,
}

impl From<&app::Wallboard> for Kpis {
    fn from(w: &app::Wallboard) -> Kpis {
        Kpis {
            at: w.at.0,
            overall: (&w.overall).into(),
            today: (&w.today).into(),
            last_30_minutes: (&w.last_30_minutes).into(),
            queues: w
                .queues
                .iter()
                .map(|q| QueueBoard {
                    queue: q.queue.0,
                    name: q.name.clone(),
                    priority: q.priority,
                    target: (&q.target).into(),
                    today: (&q.today).into(),
                    last_30_minutes: (&q.last_30_minutes).into(),
                    callbacks_pending: q.callbacks_pending,
                    callbacks_at_risk: q.callbacks_at_risk,
                    waiting: q.waiting,
                    longest_wait_seconds: q.longest_wait_seconds,
                    ready_agents: q.ready_agents,
                    counts: q.whole_run.as_ref().map(|r| (&r.counts).into()),
                    figures: q.whole_run.as_ref().map(|r| (&r.figures).into()),
                })
                .collect(),
        }
    }
}

pub(crate) async fn get_kpis(State(app): State<App>, Extension(c): Extension<Caller>) -> Response {
    match app.read(c.org, |t, now| t.snapshot(now)).await {
        Ok(v) => Json(Kpis::from(&v)).into_response(),
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
        Ok(Some(v)) => Json(Waiting {
            queue: id,
            waiting: v.iter().map(|c| c.0).collect(),
        })
        .into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("unknown queue {q}")),
        Err(r) => crate::error::Answer::answer(r),
    }
}

/// The live stream of the caller's organisation: every event as it
/// happens, one `record` event each (JSON of a [`wire::Record`]),
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
                Ok(r) => Event::default()
                    .event("record")
                    .json_data(wire::Record::from(&r))
                    .ok()?,
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

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JournalQuery {
    /// At most this many calls (100; at most 2,000).
    #[serde(default)]
    #[schemars(range(max = 2000))]
    limit: Option<usize>,
}

/// A call in the telephony journal.
#[derive(Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub(crate) struct Call {
    id: u64,
    org: u32,
    /// RFC 3339.
    started_at: String,
    ended_at: Option<String>,
    /// Which run of the server carried it.
    run: u64,
    dialled: String,
    /// `inbound` or `outbound`.
    direction: String,
    contact: Option<u64>,
    flow: Option<String>,
    /// Call flow nodes entered, in order.
    path: Vec<String>,
    /// Keys received (digits collected for an attribute show as '•').
    keys: String,
    /// Queue positions announced.
    announced: Vec<u32>,
    callback_requested: bool,
    agent: Option<u32>,
    /// Agents whose phones did not answer.
    missed_by: Vec<u32>,
    bridged: bool,
    /// in_ivr, queued, ringing_agent, connected, ended.
    state: String,
    /// How it ended: abandoned_in_ivr, abandoned_in_queue,
    /// callback_requested, completed, ended_by_caller, ended_by_agent, ...
    outcome: Option<String>,
    codec: Option<String>,
    /// The caller holds the call.
    held: bool,
    /// The agent holds the call: the caller hears music.
    agent_hold: bool,
    /// A leg's media came from another address than its SDP said (NAT).
    nat: bool,
    /// How the caller's leg ended: hung up, cancelled, timed out.
    ended: Option<String>,
}

/// The telephony journal.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Calls {
    /// The SIP address calls come in on (none: no SIP edge).
    sip: Option<String>,
    /// Newest first.
    calls: Vec<Call>,
}

/// `GET /api/v1/voice/calls`: the organisation's recent calls.
pub(crate) async fn voice_calls(
    Extension(c): Extension<Caller>,
    Extension(edge): Extension<crate::VoiceEdge>,
    q: Result<Query<JournalQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let limit = q.limit.unwrap_or(100);
    if limit > voice::JOURNAL {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit: at most {}", voice::JOURNAL),
        );
    }
    let calls = match &edge.0 {
        Some(v) => Some(v.journal(c.org, limit).await),
        None => None,
    };
    Json(Calls {
        sip: edge.0.as_ref().map(|v| v.sip_address()),
        calls: calls
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| serde_json::from_value(c).ok())
            .collect(),
    })
    .into_response()
}
