//! What is happening now: agents and queues as a wallboard shows them,
//! live KPIs, a queue's waiting list, the live event stream and the
//! telephony journal.

use crate::error::tryr;
use crate::{error, wire, App, Caller};
use app::live::Encoding;
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
    /// A phone or browser softphone is connected: real calls may be
    /// offered to them (a real call waits for such an agent).
    phone: bool,
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

/// The agents of a snapshot as the API shows them.
fn agents_of(l: &app::live::Live) -> Agents {
    Agents {
        agents: l
            .agents
            .iter()
            .map(|r| Agent {
                id: r.def.id.0,
                name: r.def.name.clone(),
                team: r.def.team.0,
                site: r.def.site.0,
                skills: r.def.skills.iter().map(|(s, l)| (s.0, *l)).collect(),
                status: r.word.clone(),
                detail: (&r.view.status).into(),
                since: r.since.map(|s| s.0),
                seconds_in_state: r.since.map(|s| l.at.since(s).0.max(0) / 1000),
                work: wire::work(&r.view.work),
                phone: r.view.endpoint,
            })
            .collect(),
    }
}

fn queues_of(l: &app::live::Live) -> Queues {
    Queues {
        queues: l
            .wallboard
            .queues
            .iter()
            .map(|q| Queue {
                id: q.queue.0,
                name: q.name.clone(),
                priority: q.priority,
                target: (&q.target).into(),
                waiting: q.waiting,
            })
            .collect(),
    }
}

fn json_bytes<T: Serialize>(v: &T) -> bytes::Bytes {
    serde_json::to_vec(v).expect("wire types serialise").into()
}

/// An answer of JSON bytes made once per snapshot.
fn json_answer(b: bytes::Bytes) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], b).into_response()
}

/// The organisation's agents as a wallboard or a transfer list shows them:
/// status, since when, presence, work in hand. From the read model.
pub(crate) async fn list_agents(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
) -> Response {
    match app.live(c.org).await {
        Ok(l) => json_answer(l.encoded(Encoding::Agents, |l| json_bytes(&agents_of(l)))),
        Err(e) => crate::error::api(e),
    }
}

/// The organisation's queues: id, name, priority, target, waiting now.
pub(crate) async fn list_queues(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
) -> Response {
    match app.live(c.org).await {
        Ok(l) => json_answer(l.encoded(Encoding::Queues, |l| json_bytes(&queues_of(l)))),
        Err(e) => crate::error::api(e),
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
    /// Answered contacts clinically assessed (target at least 50%).
    clinical_assessed: Option<f64>,
    /// Clinical callbacks answered within their timeframe (target 90%).
    clinical_callbacks_in_timeframe: Option<f64>,
    /// Hand-overs to a clinician made warm (target 75%).
    clinical_warm_transfer: Option<f64>,
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
            clinical_assessed: w.clinical_assessed,
            clinical_callbacks_in_timeframe: w.clinical_callbacks_in_timeframe,
            clinical_warm_transfer: w.clinical_warm_transfer,
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
    /// Booked for later and not yet due (not in the line, not offered).
    callbacks_booked: u32,
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
    /// Agents by status in one word: `offline`, `ready`, `not_ready`,
    /// `busy`, `wrap_up` ...
    agents_by_state: std::collections::BTreeMap<String, u32>,
}

impl From<&app::live::Live> for Kpis {
    fn from(l: &app::live::Live) -> Kpis {
        let w = &l.wallboard;
        Kpis {
            agents_by_state: w.agents_by_state.clone(),
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
                    callbacks_booked: q.callbacks_booked,
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

/// The wallboard's figures, from the read model.
pub(crate) async fn get_kpis(State(app): State<App>, Extension(c): Extension<Caller>) -> Response {
    match app.live(c.org).await {
        Ok(l) => json_answer(l.encoded(Encoding::Kpis, |l| json_bytes(&Kpis::from(l)))),
        Err(e) => crate::error::api(e),
    }
}

/// One server-sent event of JSON bytes, made once per snapshot.
fn frame(event: &str, json: &[u8]) -> bytes::Bytes {
    let mut b = Vec::with_capacity(json.len() + event.len() + 16);
    b.extend_from_slice(b"event: ");
    b.extend_from_slice(event.as_bytes());
    b.extend_from_slice(b"\ndata: ");
    b.extend_from_slice(json);
    b.extend_from_slice(b"\n\n");
    b.into()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamQuery {
    /// Also the agents, each an `agents` event (at most one a second): for
    /// a wallboard with the agents' table. The `kpis` events carry the
    /// agents by state whatever this says.
    #[serde(default)]
    agents: Option<bool>,
}

/// At most this often a `kpis` event to one subscriber...
const KPIS_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// ... and an `agents` event.
const AGENTS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// A comment line this long after the last event keeps proxies from
/// closing an idle stream.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// The wallboard's subscription: a `kpis` event (the JSON of `GET
/// /api/v1/kpis`) whenever the figures change, at most four a second, and
/// with `?agents=true` an `agents` event (the JSON of `GET
/// /api/v1/agents`) whenever an agent changes, at most one a second, for
/// callers who may read the agents. The first of each comes at once.
/// Every subscriber gets the same bytes, made once per snapshot; a slow
/// subscriber skips to the latest snapshot, never builds a backlog. Ends
/// when the server stops.
pub(crate) async fn get_kpis_stream(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let agents = q.agents.unwrap_or(false);
    if agents && !c.may(app::auth::Perm::QueueRead) {
        return error(
            StatusCode::FORBIDDEN,
            "agents: this role may not read the agents".into(),
        );
    }
    let rx = match app.live_stream(c.org) {
        Ok(rx) => rx,
        Err(e) => return crate::error::api(e),
    };
    let Some((_, stop)) = app.subscribe(c.org).await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping".into(),
        );
    };
    use tokio::time::Instant;
    struct S {
        rx: tokio::sync::watch::Receiver<std::sync::Arc<app::live::Live>>,
        stop: tokio::sync::watch::Receiver<bool>,
        agents: bool,
        /// The snapshot time and agents' version last sent.
        sent: (Option<i64>, Option<u64>),
        /// When the next of each may go.
        next: (Instant, Instant),
    }
    let now = Instant::now();
    let state = S {
        rx,
        stop,
        agents,
        sent: (None, None),
        next: (now, now),
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        // Each call of this closure yields one item: the keep-alive counts
        // from the last.
        let last_sent = Instant::now();
        loop {
            if *st.stop.borrow() {
                return None;
            }
            let l = st.rx.borrow_and_update().clone();
            let now = Instant::now();
            let mut out: Vec<bytes::Bytes> = Vec::new();
            // A new snapshot (by a change, or by time alone as waits grow).
            let kpis_due = st.sent.0 != Some(l.at.0);
            let agents_due = st.agents && st.sent.1 != Some(l.agents_version);
            if kpis_due && now >= st.next.0 {
                out.push(l.encoded(Encoding::KpisFrame, |l| {
                    frame(
                        "kpis",
                        &l.encoded(Encoding::Kpis, |l| json_bytes(&Kpis::from(l))),
                    )
                }));
                st.sent.0 = Some(l.at.0);
                st.next.0 = now + KPIS_EVERY;
            }
            if agents_due && now >= st.next.1 {
                out.push(l.encoded(Encoding::AgentsFrame, |l| {
                    frame(
                        "agents",
                        &l.encoded(Encoding::Agents, |l| json_bytes(&agents_of(l))),
                    )
                }));
                st.sent.1 = Some(l.agents_version);
                st.next.1 = now + AGENTS_EVERY;
            }
            if !out.is_empty() {
                let body: bytes::Bytes = if out.len() == 1 {
                    out.pop().unwrap_or_default()
                } else {
                    out.concat().into()
                };
                return Some((Ok::<_, std::convert::Infallible>(body), st));
            }
            // Something held back by the pace, or nothing to send.
            let kpis_wait = (st.sent.0 != Some(l.at.0)).then_some(st.next.0);
            let agents_wait =
                (st.agents && st.sent.1 != Some(l.agents_version)).then_some(st.next.1);
            let until = match (kpis_wait, agents_wait) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                r = st.rx.changed(), if until.is_none() => if r.is_err() { return None },
                _ = st.stop.changed() => return None,
                _ = tokio::time::sleep_until(until.unwrap_or(now)), if until.is_some() => {}
                _ = tokio::time::sleep_until(last_sent + KEEP_ALIVE), if until.is_none() => {
                    return Some((Ok(bytes::Bytes::from_static(b": keep-alive\n\n")), st));
                }
            }
        }
    });
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/event-stream"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

pub(crate) async fn get_waiting(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
) -> Response {
    let q = QueueId(id);
    match app.live_waiting(c.org, q).await {
        Ok(Some(v)) => Json(Waiting {
            queue: id,
            waiting: v.iter().map(|c| c.0).collect(),
        })
        .into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("unknown queue {q}")),
        Err(e) => crate::error::api(e),
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
    /// The call's recording now: off, on, paused ("" before recording
    /// existed).
    #[serde(default)]
    recording: String,
    /// The recordings made of the call (ids for `/api/v1/recordings`).
    #[serde(default)]
    recordings: Vec<u64>,
    /// Why a recording could not be made (the call went on unrecorded).
    #[serde(default)]
    recording_error: Option<String>,
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
