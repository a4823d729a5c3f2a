//! `switchboard serve`: the routing engine behind an HTTP API, with every
//! input committed to the store before it is acknowledged, and the engine
//! rebuilt from the store at start-up.
//!
//! One task owns the engine and the store (no locks around the engine); the
//! HTTP handlers send it commands. Time comes from the wall clock here, at
//! the edge, and goes into the engine as an input.
//!
//! Every event the engine gives (for an input or a timer) feeds the live
//! KPIs (`GET /api/v1/kpis`) and the live stream (`GET /api/v1/events`,
//! server-sent events). `--demo` adds simulated callers and agents
//! ([`demo`]) that go through the same channel as HTTP, so their inputs are
//! committed and replayed like any other.
//!
//! Still to come (the server issue): authentication, organisations, the
//! full API, audit of patient data.

pub mod demo;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use model::{AgentId, Channel, ContactId, Priority, QueueId, Timestamp};
use routing::{Engine, Input, NewContact, Presence, Record, RoutingError};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use store::{SqliteStore, Store};
use tokio::sync::broadcast;
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot listen on {addr}: {problem}")]
    Listen { addr: SocketAddr, problem: String },
    #[error("{0}")]
    Other(String),
}

pub struct Options {
    pub data: PathBuf,
    pub listen: SocketAddr,
    /// Simulated callers and agents (`serve --demo`).
    pub demo: Option<demo::DemoOptions>,
}

enum Command {
    Input(Input, oneshot::Sender<Result<Vec<Record>, RoutingError>>),
    Contact(ContactId, oneshot::Sender<Option<routing::ContactView>>),
    Waiting(QueueId, oneshot::Sender<Vec<ContactId>>),
    Kpis(oneshot::Sender<serde_json::Value>),
}

/// What the engine task keeps besides the engine: the live KPIs and the
/// live stream's sender.
struct Live {
    kpi: kpi::Kpi,
    hub: broadcast::Sender<Record>,
}

impl Live {
    fn publish(&mut self, r: Record) {
        self.kpi.observe(&r);
        // No subscribers is fine.
        let _ = self.hub.send(r);
    }

    /// The wallboard figures: whole-run KPIs overall and per queue, and
    /// what is waiting now.
    fn snapshot(&mut self, engine: &Engine, now: Timestamp) -> serde_json::Value {
        self.kpi.close(now);
        let report = self.kpi.report();
        let queues: Vec<serde_json::Value> = engine
            .config()
            .queues
            .iter()
            .map(|q| {
                let row = report.iter().find(|r| {
                    r.interval_start.is_none() && r.dimension == kpi::Dimension::Queue(q.id)
                });
                let view = engine.queue_view(q.id);
                json!({
                    "queue": q.id,
                    "name": q.name,
                    "waiting": view.as_ref().map_or(0, |v| v.waiting),
                    "longest_wait_seconds": view
                        .as_ref()
                        .and_then(|v| v.oldest_arrival)
                        .map(|t| now.since(t).0.max(0) as f64 / 1000.0),
                    "ready_agents": view.as_ref().map_or(0, |v| v.ready_agents.iter().sum::<usize>()),
                    "counts": row.map(|r| &r.counts),
                    "figures": row.map(|r| &r.figures),
                })
            })
            .collect();
        json!({ "at": now, "overall": self.kpi.overall(), "queues": queues })
    }
}

fn wall_clock() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Timestamp(ms)
}

/// Most inputs committed in one transaction (one fsync).
const MAX_BATCH: usize = 256;

/// The engine's owner: applies commands in order, fires timers when they
/// fall due. An input is committed to the store before it is applied and
/// acknowledged (inputs that arrive together share one commit), so a
/// crash never loses an acknowledged input; refused inputs are logged too
/// and are refused again, identically, on replay.
async fn engine_task(
    mut engine: Engine,
    mut store: SqliteStore,
    mut live: Live,
    mut rx: mpsc::Receiver<Command>,
) {
    let mut held_back: Option<Command> = None;
    loop {
        let now = wall_clock().max(engine.now());
        let sleep = match engine.poll_timeout() {
            Some(t) if t > now => std::time::Duration::from_millis((t.0 - now.0) as u64),
            Some(_) => std::time::Duration::ZERO,
            None => std::time::Duration::from_secs(3600),
        };
        let cmd = match held_back.take() {
            Some(cmd) => cmd,
            None => tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => cmd,
                    None => return,
                },
                _ = tokio::time::sleep(sleep) => {
                    let _ = engine.handle_timeout(wall_clock().max(engine.now()));
                    engine.drain_output().for_each(|x| live.publish(x));
                    continue;
                }
            },
        };
        let now = wall_clock().max(engine.now());
        match cmd {
            Command::Input(input, reply) => {
                // Group commit: the inputs already waiting join this one in
                // a single transaction; none is applied or acknowledged
                // before the whole batch is durable. A query that was
                // waiting among them is kept for after, in its order.
                let mut batch = vec![(input, reply)];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Command::Input(i, r)) => batch.push((i, r)),
                        Ok(other) => {
                            held_back = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let log: Vec<(Timestamp, Input)> =
                    batch.iter().map(|(i, _)| (now, i.clone())).collect();
                if let Err(e) = store.append_inputs(&log) {
                    // Not durable: refuse and stop rather than diverge.
                    eprintln!("error: cannot commit inputs, stopping: {e}");
                    return;
                }
                for (input, reply) in batch {
                    let r = engine
                        .handle(now, input)
                        .map(|()| engine.drain_output().collect::<Vec<_>>());
                    if let Ok(records) = &r {
                        records.iter().cloned().for_each(|x| live.publish(x));
                    }
                    let _ = reply.send(r);
                }
            }
            Command::Contact(id, reply) => {
                let _ = engine.handle_timeout(now);
                engine.drain_output().for_each(|x| live.publish(x));
                let _ = reply.send(engine.contact(id));
            }
            Command::Waiting(q, reply) => {
                let _ = engine.handle_timeout(now);
                engine.drain_output().for_each(|x| live.publish(x));
                let _ = reply.send(engine.waiting_in_order(q));
            }
            Command::Kpis(reply) => {
                let _ = engine.handle_timeout(now);
                engine.drain_output().for_each(|x| live.publish(x));
                let _ = reply.send(live.snapshot(&engine, now));
            }
        }
    }
}

#[derive(Clone)]
struct App {
    tx: mpsc::Sender<Command>,
    hub: broadcast::Sender<Record>,
    stop: tokio::sync::watch::Receiver<bool>,
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn routing_error(e: RoutingError) -> Response {
    let status = match e {
        RoutingError::UnknownContact(_)
        | RoutingError::UnknownAgent(_)
        | RoutingError::UnknownQueue(_)
        | RoutingError::UnknownSite(_) => StatusCode::NOT_FOUND,
        RoutingError::InvalidContact { .. }
        | RoutingError::Config(_)
        | RoutingError::LimitReached { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::CONFLICT,
    };
    error(status, e.to_string())
}

impl App {
    async fn input(&self, input: Input, ok: StatusCode) -> Response {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Input(input, reply)).await.is_err() {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the engine has stopped".into(),
            );
        }
        match rx.await {
            Ok(Ok(events)) => (ok, Json(json!({ "events": events }))).into_response(),
            Ok(Err(e)) => routing_error(e),
            Err(_) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the input could not be made durable".into(),
            ),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewContactBody {
    id: u64,
    queue: u32,
    #[serde(default = "voice")]
    channel: Channel,
    #[serde(default)]
    priority: Priority,
}

fn voice() -> Channel {
    Channel::Voice
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentBody {
    agent: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresenceBody {
    presence: Presence,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    /// A queue id or an agent id (exactly one).
    #[serde(default)]
    queue: Option<u32>,
    #[serde(default)]
    agent: Option<u32>,
    mode: routing::TransferMode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriorityBody {
    priority: Priority,
}

type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// The shape of every command handler: a refused body gets the extractor's
/// status and text (400 syntax, 422 shape, 413 size); a body that parses
/// but makes no sense gets the status and message from `make`; otherwise the input
/// goes to the engine and `ok` answers an applied one.
async fn command<T>(
    app: &App,
    body: Body<T>,
    ok: StatusCode,
    make: impl FnOnce(T) -> Result<Input, (StatusCode, String)>,
) -> Response {
    match body.map(|Json(b)| make(b)) {
        Ok(Ok(input)) => app.input(input, ok).await,
        Ok(Err((status, message))) => error(status, message),
        Err(e) => error(e.status(), e.body_text()),
    }
}

async fn create_contact(State(app): State<App>, body: Body<NewContactBody>) -> Response {
    command(&app, body, StatusCode::CREATED, |b| {
        let mut nc = NewContact::new(ContactId(b.id), QueueId(b.queue), b.channel);
        nc.priority = b.priority;
        Ok(Input::Arrive(nc))
    })
    .await
}

async fn accept(State(app): State<App>, Path(id): Path<u64>, body: Body<AgentBody>) -> Response {
    command(&app, body, StatusCode::OK, |b| {
        Ok(Input::Accept {
            agent: AgentId(b.agent),
            contact: ContactId(id),
        })
    })
    .await
}

async fn reject(State(app): State<App>, Path(id): Path<u64>, body: Body<AgentBody>) -> Response {
    command(&app, body, StatusCode::OK, |b| {
        Ok(Input::Reject {
            agent: AgentId(b.agent),
            contact: ContactId(id),
        })
    })
    .await
}

async fn wrapped(State(app): State<App>, Path(id): Path<u64>, body: Body<AgentBody>) -> Response {
    command(&app, body, StatusCode::OK, |b| {
        Ok(Input::WrapUpDone {
            agent: AgentId(b.agent),
            contact: ContactId(id),
        })
    })
    .await
}

async fn presence(
    State(app): State<App>,
    Path(id): Path<u32>,
    body: Body<PresenceBody>,
) -> Response {
    command(&app, body, StatusCode::OK, |b| {
        Ok(Input::SetPresence {
            agent: AgentId(id),
            presence: b.presence,
        })
    })
    .await
}

async fn transfer(
    State(app): State<App>,
    Path(id): Path<u64>,
    body: Body<TransferBody>,
) -> Response {
    command(&app, body, StatusCode::OK, |b| {
        let to = match (b.queue, b.agent) {
            (Some(q), None) => routing::TransferTarget::Queue(QueueId(q)),
            (None, Some(a)) => routing::TransferTarget::Agent(AgentId(a)),
            _ => {
                return Err((
                    StatusCode::BAD_REQUEST,
                    "give exactly one of queue or agent".into(),
                ))
            }
        };
        Ok(Input::Transfer {
            contact: ContactId(id),
            to,
            mode: b.mode,
        })
    })
    .await
}

async fn set_priority(
    State(app): State<App>,
    Path(id): Path<u64>,
    body: Body<PriorityBody>,
) -> Response {
    command(&app, body, StatusCode::OK, |b| {
        Ok(Input::SetPriority {
            contact: ContactId(id),
            priority: b.priority,
        })
    })
    .await
}

/// Commands on a contact that carry no body.
async fn on_contact(app: &App, id: u64, make: fn(ContactId) -> Input) -> Response {
    app.input(make(ContactId(id)), StatusCode::OK).await
}

async fn end(State(app): State<App>, Path(id): Path<u64>) -> Response {
    on_contact(&app, id, |contact| Input::End { contact }).await
}

async fn abandon(State(app): State<App>, Path(id): Path<u64>) -> Response {
    on_contact(&app, id, |contact| Input::Abandon { contact }).await
}

async fn hold(State(app): State<App>, Path(id): Path<u64>) -> Response {
    on_contact(&app, id, |contact| Input::Hold { contact }).await
}

async fn resume(State(app): State<App>, Path(id): Path<u64>) -> Response {
    on_contact(&app, id, |contact| Input::Resume { contact }).await
}

async fn callback(State(app): State<App>, Path(id): Path<u64>) -> Response {
    on_contact(&app, id, |contact| Input::RequestCallback { contact }).await
}

async fn get_contact(State(app): State<App>, Path(id): Path<u64>) -> Response {
    let (reply, rx) = oneshot::channel();
    let _ = app.tx.send(Command::Contact(ContactId(id), reply)).await;
    match rx.await {
        Ok(Some(v)) => Json(v).into_response(),
        _ => error(StatusCode::NOT_FOUND, format!("unknown contact c{id}")),
    }
}

async fn get_kpis(State(app): State<App>) -> Response {
    let (reply, rx) = oneshot::channel();
    let _ = app.tx.send(Command::Kpis(reply)).await;
    match rx.await {
        Ok(v) => Json(v).into_response(),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the engine has stopped".into(),
        ),
    }
}

/// The live stream: every event as it happens, one `record` event each
/// (JSON of the engine's `Record`), `lagged` with a count if this client
/// fell behind by more than the buffer. Ends when the server stops.
async fn get_events(
    State(app): State<App>,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use broadcast::error::RecvError;
    let state = (app.hub.subscribe(), app.stop.clone());
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
        Some((Ok(ev), (rx, stop)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn get_waiting(State(app): State<App>, Path(id): Path<u32>) -> Response {
    let (reply, rx) = oneshot::channel();
    let _ = app.tx.send(Command::Waiting(QueueId(id), reply)).await;
    match rx.await {
        Ok(v) => Json(json!({ "queue": id, "waiting": v })).into_response(),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the engine has stopped".into(),
        ),
    }
}

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Opens the store (seeding the demo organisation on first run), rebuilds
/// the engine from it, and serves until SIGTERM or Ctrl-C.
pub async fn serve(opts: Options) -> Result<(), ServerError> {
    let mut st = SqliteStore::open(&opts.data)?;
    if st.initial_config()?.is_none() {
        st.set_initial_config(&routing::demo::kent_community_trust(), wall_clock())?;
    }
    let started = std::time::Instant::now();
    let (config, _) = st.initial_config()?.ok_or(store::StoreError::Empty)?;
    let mut live = Live {
        kpi: kpi::Kpi::new(kpi::KpiConfig::from_routing(
            model::DurationMs::from_secs(15 * 60),
            &config,
        )),
        hub: broadcast::channel(4096).0,
    };
    let mut engine = store::recover_observing(&st, &mut |r| live.kpi.observe(r))?;
    let _ = engine.handle_timeout(wall_clock().max(engine.now()));
    engine.drain_output().for_each(|x| live.publish(x));
    eprintln!(
        "recovered {} live contacts from {} in {:.0} ms",
        engine.live_contacts(),
        opts.data.display(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let (tx, rx) = mpsc::channel(1024);
    let hub = live.hub.clone();
    let config = engine.config();
    let task = tokio::spawn(engine_task(engine, st, live, rx));
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let driver = opts.demo.map(|d| {
        eprintln!(
            "demo: {:.1} simulated calls a minute, agents answering",
            d.calls_per_minute
        );
        tokio::spawn(demo::drive(tx.clone(), hub.subscribe(), config, d))
    });
    let app = App { tx, hub, stop };
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/contacts", post(create_contact))
        .route("/api/v1/contacts/{id}", get(get_contact))
        .route("/api/v1/contacts/{id}/accept", post(accept))
        .route("/api/v1/contacts/{id}/end", post(end))
        .route("/api/v1/contacts/{id}/abandon", post(abandon))
        .route("/api/v1/contacts/{id}/reject", post(reject))
        .route("/api/v1/contacts/{id}/hold", post(hold))
        .route("/api/v1/contacts/{id}/resume", post(resume))
        .route("/api/v1/contacts/{id}/callback", post(callback))
        .route("/api/v1/contacts/{id}/wrap-up-done", post(wrapped))
        .route("/api/v1/contacts/{id}/transfer", post(transfer))
        .route("/api/v1/contacts/{id}/priority", post(set_priority))
        .route("/api/v1/agents/{id}/presence", post(presence))
        .route("/api/v1/queues/{id}/waiting", get(get_waiting))
        .route("/api/v1/kpis", get(get_kpis))
        .route("/api/v1/events", get(get_events))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| ServerError::Listen {
            addr: opts.listen,
            problem: e.to_string(),
        })?;
    eprintln!("listening on http://{}", opts.listen);
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            // End the live streams so their connections close.
            let _ = stopping.send(true);
            if let Some(d) = &driver {
                d.abort();
            }
        })
        .await
        .map_err(|e| ServerError::Other(e.to_string()))?;
    task.abort();
    eprintln!("stopped");
    Ok(())
}
