//! `switchboard serve`: the routing engines behind an authenticated HTTP
//! API, with every input committed to the store before it is acknowledged,
//! and the engines rebuilt from the store at start-up.
//!
//! Each organisation (tenant) has its own engine, live KPIs and live
//! stream: nothing one organisation does is visible to another, by
//! construction. One task owns the engines and the store (no locks around
//! an engine); HTTP handlers send it commands. Time comes from the wall
//! clock here, at the edge, and goes into the engines as an input.
//!
//! Every request is authenticated (a session cookie for people, a bearer
//! token for integrations) and authorised against the route table
//! ([`routes::routes`]): the permission each route needs, checked before the
//! handler runs. The OpenAPI document is generated from the same table.

// Handler helpers return axum's `Response` as their error: it is what a
// handler answers with, and these are cold paths (a refused request).
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod demo;
pub mod dosload;
mod handlers;
mod people;
mod planning;
mod referral;
mod reports;
pub mod routes;
pub mod seed;
mod services;
mod snapshots;
mod triage;
mod voice;
mod web;

use snapshots::Snapshots;
pub use snapshots::KPI_IN_MEMORY;
pub use voice::VoiceOptions;

use auth::{Perm, Role, Scope};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use model::{AgentId, OrgId, Timestamp};
use routing::{Engine, Input, Record, RoutingError};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use store::directory::Directory;
use store::{AuditRecord, CallerIdentity, SqliteStore, Store};
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
    /// Seed the demo organisations and users (`serve --demo`).
    pub demo: bool,
    /// Simulated callers and agents (`serve --demo`, unless switched off).
    pub traffic: Option<demo::DemoOptions>,
    /// The SIP edge (telephony), if on.
    pub voice: Option<VoiceOptions>,
    /// A snapshot of an organisation's state after this many logged
    /// inputs (and on a clean shutdown), so a restart replays only the
    /// tail of the log.
    pub snapshot_every: u64,
}

/// Logged inputs between snapshots unless told otherwise: at ~2 µs an
/// input, a restart replays at most ~0.2 s of tail.
pub const SNAPSHOT_EVERY: u64 = 100_000;

/// One organisation's engine and what is kept beside it: the live KPIs
/// and the live stream's sender.
pub(crate) struct Tenant {
    pub(crate) engine: Engine,
    pub(crate) kpi: kpi::Kpi,
    pub(crate) hub: broadcast::Sender<Record>,
    /// Each agent's status as last seen, and since when (the wallboard's
    /// "time in state").
    pub(crate) agent_since: std::collections::HashMap<AgentId, (String, Timestamp)>,
    /// KPI intervals before this are kept in the store, not in `kpi`
    /// (see [`KPI_IN_MEMORY`]).
    pub(crate) kpi_before: Option<Timestamp>,
}

/// The agent an event is about, if any.
fn event_agent(e: &routing::Event) -> Option<AgentId> {
    use routing::Event::*;
    match e {
        Offered { agent, .. }
        | Answered { agent, .. }
        | OfferRejected { agent, .. }
        | OfferTimedOut { agent, .. }
        | OfferWithdrawn { agent, .. }
        | HoldStarted { agent, .. }
        | HoldEnded { agent, .. }
        | Ended { agent, .. }
        | WrapUpStarted { agent, .. }
        | WrapUpEnded { agent, .. }
        | PresenceChanged { agent, .. } => Some(*agent),
        Transferred { to, .. } => Some(*to),
        _ => None,
    }
}

/// An agent's status as one word (`not_ready` with its reason apart).
pub(crate) fn status_word(s: &routing::AgentStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| match v {
            serde_json::Value::String(w) => Some(w),
            serde_json::Value::Object(m) => m.keys().next().cloned(),
            _ => None,
        })
        .unwrap_or_default()
}

impl Tenant {
    pub(crate) fn new(engine: Engine, kpi: kpi::Kpi) -> Tenant {
        Tenant {
            engine,
            kpi,
            hub: broadcast::channel(4096).0,
            agent_since: Default::default(),
            kpi_before: None,
        }
    }

    fn publish(&mut self, r: Record) {
        self.kpi.observe(&r);
        if let Some(a) = event_agent(&r.event) {
            if let Some(v) = self.engine.agent(a) {
                let word = status_word(&v.status);
                let e = self.agent_since.entry(a).or_insert((String::new(), r.at));
                if e.0 != word {
                    *e = (word, r.at);
                }
            }
        }
        // No subscribers is fine.
        let _ = self.hub.send(r);
    }

    fn fire_timers(&mut self, now: Timestamp) {
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            let _ = self.engine.handle_timeout(now);
        }
        while let Some(r) = self.engine.poll_output() {
            self.publish(r);
        }
    }

    /// The wallboard figures: whole-run KPIs overall and per queue, and
    /// what is waiting now.
    pub(crate) fn snapshot(&mut self, now: Timestamp) -> serde_json::Value {
        self.kpi.close(now);
        let report = self.kpi.report();
        // Today (the London day) and the last 30 minutes (the 15-minute
        // intervals that started in them), per queue and overall.
        let today = reports::rows(
            report.clone(),
            reports::london_day_start(now),
            now.plus(model::DurationMs(1)),
            true,
        );
        let recent = reports::rows(
            report.clone(),
            Timestamp(now.0 - 30 * 60 * 1000),
            now.plus(model::DurationMs(1)),
            false,
        );
        let window = |rows: &[kpi::Row], d: &kpi::Dimension| {
            let mut c = kpi::Counts::default();
            rows.iter()
                .filter(|r| &r.dimension == d)
                .for_each(|r| c.merge(&r.counts));
            let f = c.figures();
            json!({ "offered": c.offered, "answered": c.answered, "abandoned": c.abandoned,
                    "service_level": f.service_level, "abandonment_rate": f.abandonment_rate,
                    "asa_seconds": f.asa_seconds })
        };
        let engine = &self.engine;
        let queues: Vec<serde_json::Value> = engine
            .config()
            .queues
            .iter()
            .map(|q| {
                let row = report.iter().find(|r| {
                    r.interval_start.is_none() && r.dimension == kpi::Dimension::Queue(q.id)
                });
                let view = engine.queue_view(q.id);
                let dim = kpi::Dimension::Queue(q.id);
                // Callbacks owed: waiting callbacks, and those past 80% of
                // the 10-minute callback target (at risk of breaching it).
                let (mut pending, mut at_risk) = (0, 0);
                if view.as_ref().is_some_and(|v| v.waiting <= 10_000) {
                    for id in engine.waiting_in_order(q.id) {
                        if let Some(c) = engine.contact(id) {
                            if c.channel == model::Channel::Callback {
                                pending += 1;
                                if callback_at_risk(&c, now) {
                                    at_risk += 1;
                                }
                            }
                        }
                    }
                }
                json!({
                    "queue": q.id,
                    "name": q.name,
                    "priority": q.priority,
                    "target": { "within_seconds": q.target.within.0 / 1000, "percent": q.target.percent },
                    "today": window(&today, &dim),
                    "last_30_minutes": window(&recent, &dim),
                    "callbacks_pending": pending,
                    "callbacks_at_risk": at_risk,
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
        json!({
            "at": now,
            "overall": self.kpi.overall(),
            "today": window(&today, &kpi::Dimension::Overall),
            "last_30_minutes": window(&recent, &kpi::Dimension::Overall),
            "queues": queues,
        })
    }
}

/// A callback waiting longer than this (80% of the 10-minute target) is
/// at risk of breaching it.
const CALLBACK_AT_RISK_MS: i64 = 8 * 60 * 1000;
/// A clinical callback this close to its own deadline (or past it) is at
/// risk.
const DEADLINE_AT_RISK_MS: i64 = 15 * 60 * 1000;

/// Whether a waiting callback is at risk: a clinical callback by its own
/// deadline (from the disposition), any other by the 10-minute target.
pub(crate) fn callback_at_risk(c: &routing::ContactView, now: Timestamp) -> bool {
    let deadline = c
        .attributes
        .iter()
        .find(|(k, _)| k == "deadline")
        .and_then(|(_, v)| v.parse::<jiff::Timestamp>().ok());
    match deadline {
        Some(d) => d.as_millisecond() - now.0 <= DEADLINE_AT_RISK_MS,
        None => now.since(c.arrived_at).0 >= CALLBACK_AT_RISK_MS,
    }
}

type ReadFn = Box<dyn FnOnce(Option<&mut Tenant>, Timestamp) + Send>;

/// An input for one organisation's engine, with what is committed with it.
pub(crate) struct Submit {
    pub(crate) org: OrgId,
    pub(crate) input: Input,
    /// Written in the same transaction as the input (configuration changes,
    /// supervisor actions).
    pub(crate) audit: Option<AuditRecord>,
    /// Who is calling, for an arrival: kept if the engine accepts it.
    pub(crate) caller: Option<CallerIdentity>,
    /// The outcome code of a wrap-up: kept if the engine accepts it.
    pub(crate) outcome: Option<String>,
    pub(crate) reply: oneshot::Sender<Result<Vec<Record>, RoutingError>>,
}

pub(crate) enum Command {
    Input(Box<Submit>),
    /// A read of one organisation's state, run on the engine task.
    Read(OrgId, ReadFn),
    /// Subscribes to an organisation's live stream.
    Subscribe(OrgId, oneshot::Sender<Option<broadcast::Receiver<Record>>>),
    /// Writes a snapshot of every organisation changed since its last one
    /// and stops the task (a clean shutdown).
    Stop(oneshot::Sender<()>),
}

pub(crate) fn wall_clock() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Timestamp(ms)
}

/// Most inputs committed in one transaction (one fsync).
const MAX_BATCH: usize = 256;

/// Writes the snapshots due on the blocking pool, taking the writer's turn
/// like a commit (the engine task waits; the runtime goes on). The state
/// goes to the blocking thread and comes back; None if that thread failed
/// (the task then stops: the log still holds everything).
async fn write_snapshots(
    mut snapshots: Snapshots,
    mut tenants: BTreeMap<OrgId, Tenant>,
    mut store: SqliteStore,
    writer: &Arc<Mutex<Directory>>,
    all: bool,
) -> Option<(Snapshots, BTreeMap<OrgId, Tenant>, SqliteStore)> {
    if !snapshots.due(all) {
        return Some((snapshots, tenants, store));
    }
    let turn = writer.clone();
    tokio::task::spawn_blocking(move || {
        let _turn = turn.lock().unwrap_or_else(|p| p.into_inner());
        snapshots.write(&mut tenants, &mut store, all);
        (snapshots, tenants, store)
    })
    .await
    .map_err(|e| tracing::error!("the snapshot writer failed, stopping: {e}"))
    .ok()
}

/// The engines' owner: applies commands in order, fires timers when they
/// fall due. Inputs that arrive together are applied, then committed in
/// one transaction (with their audit records and caller identities), and
/// only then acknowledged and published: a crash never loses an
/// acknowledged input. If the commit fails the task stops (nothing is
/// acknowledged) and the next start replays the log. Refused inputs are
/// logged too and are refused again, identically, on replay.
async fn engine_task(
    mut tenants: BTreeMap<OrgId, Tenant>,
    mut store: SqliteStore,
    mut rx: mpsc::Receiver<Command>,
    mut snapshots: Snapshots,
    // One SQLite file has one writer at a time: the directory's work and
    // the engine's commits take turns through the directory's mutex
    // (waiting for SQLite's own lock would sleep in busy-timeout steps of
    // up to 100 ms).
    writer: Arc<Mutex<Directory>>,
) {
    // State rebuilt by replaying a tail is worth a snapshot at the next
    // chance.
    snapshots.changed.extend(tenants.keys().copied());
    let mut held_back: Option<Command> = None;
    loop {
        let now = wall_clock();
        let next = tenants
            .values()
            .filter_map(|t| t.engine.poll_timeout())
            .min();
        let sleep = match next {
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
                    for t in tenants.values_mut() {
                        let now = wall_clock().max(t.engine.now());
                        t.fire_timers(now);
                    }
                    continue;
                }
            },
        };
        match cmd {
            Command::Input(first) => {
                let mut batch = vec![*first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Command::Input(s)) => batch.push(*s),
                        Ok(other) => {
                            held_back = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let now = wall_clock();
                let mut commit = store::Batch::default();
                let mut results = Vec::with_capacity(batch.len());
                for s in &mut batch {
                    let _org = tracing::debug_span!("org", org = s.org.0).entered();
                    let Some(t) = tenants.get_mut(&s.org) else {
                        // An organisation created after this server
                        // started: not served until a restart. The reply
                        // is dropped (the client gets 503).
                        results.push(None);
                        continue;
                    };
                    let at = now.max(t.engine.now());
                    t.fire_timers(at);
                    commit.inputs.push((s.org, at, s.input.clone()));
                    let r = t
                        .engine
                        .handle(at, s.input.clone())
                        .map(|()| t.engine.drain_output().collect::<Vec<_>>());
                    if let Err(e) = &r {
                        // Engine errors name contacts by id only.
                        tracing::debug!("input refused: {e}");
                    }
                    if let Some(mut a) = s.audit.take() {
                        a.at = at;
                        if let Err(e) = &r {
                            a.outcome = format!("refused: {e}");
                        }
                        commit.audit.push(a);
                    }
                    // Who is calling goes with the contact it came with, and
                    // only with it: a contact that brings no identity clears
                    // any kept under its id.
                    if let (Ok(_), Some(id)) = (&r, store::new_contact_id(&s.input)) {
                        commit.callers.push((s.org, id, s.caller.take()));
                    }
                    if let (Ok(_), Input::WrapUpDone { agent, contact }, Some(code)) =
                        (&r, &s.input, s.outcome.take())
                    {
                        commit.outcomes.push(store::Outcome {
                            org: s.org,
                            contact: *contact,
                            agent: *agent,
                            code,
                            at,
                        });
                    }
                    results.push(Some(r));
                }
                // The commit (and its fsync) on the blocking pool: the
                // runtime's one thread goes on with HTTP and the media
                // ticks meanwhile. The engine waits, as before: nothing
                // is acknowledged before it is durable.
                let turn = writer.clone();
                let done = tokio::task::spawn_blocking(move || {
                    let _turn = turn.lock().unwrap_or_else(|p| p.into_inner());
                    let r = store.append(&commit);
                    (store, commit, r)
                })
                .await;
                let appended;
                (store, commit, appended) = match done {
                    Ok(back) => back,
                    Err(e) => {
                        tracing::error!("the commit did not finish, stopping: {e}");
                        return;
                    }
                };
                match appended {
                    Ok(seq) => {
                        snapshots.seq = seq;
                        snapshots.since_last += commit.inputs.len() as u64;
                        snapshots
                            .changed
                            .extend(commit.inputs.iter().map(|(o, _, _)| *o));
                    }
                    Err(e) => {
                        // Not durable: acknowledge nothing and stop; the next
                        // start rebuilds from what was committed.
                        tracing::error!("cannot commit inputs, stopping: {e}");
                        return;
                    }
                }
                for (s, r) in batch.into_iter().zip(results) {
                    let Some(r) = r else { continue };
                    if let (Ok(records), Some(t)) = (&r, tenants.get_mut(&s.org)) {
                        records.iter().cloned().for_each(|x| t.publish(x));
                    }
                    let _ = s.reply.send(r);
                }
                match write_snapshots(snapshots, tenants, store, &writer, false).await {
                    Some(back) => (snapshots, tenants, store) = back,
                    None => return,
                }
            }
            Command::Read(org, f) => {
                let now = wall_clock();
                match tenants.get_mut(&org) {
                    Some(t) => {
                        let now = now.max(t.engine.now());
                        t.fire_timers(now);
                        f(Some(t), now)
                    }
                    None => f(None, now),
                }
            }
            Command::Subscribe(org, reply) => {
                let _ = reply.send(tenants.get(&org).map(|t| t.hub.subscribe()));
            }
            Command::Stop(done) => {
                // The state goes with the snapshots; the task ends here.
                let _ = write_snapshots(snapshots, tenants, store, &writer, true).await;
                let _ = done.send(());
                return;
            }
        }
    }
}

/// Who is making a request, once authenticated.
#[derive(Clone, Debug)]
pub struct Caller {
    pub org: OrgId,
    pub role: Role,
    /// For the audit trail: `user:7 (sam.jones)` or `token:3 (gp-system)`.
    pub actor: String,
    pub user: Option<u32>,
    /// The agent this person works as.
    pub agent: Option<AgentId>,
    /// An integration token's scopes (none for people).
    pub scopes: Option<Vec<Scope>>,
    /// The hash of the session id (people).
    pub session: Option<String>,
    /// The client's address.
    pub origin: String,
}

impl Caller {
    fn may(&self, perm: Perm) -> bool {
        auth::allows(self.role, perm)
            && (perm == Perm::Session
                || self
                    .scopes
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|x| x.covers(perm))))
    }

    /// Agents and clinicians act only as themselves.
    pub(crate) fn as_agent(&self, agent: AgentId) -> Result<(), Response> {
        if self.role.works_as_agent() && self.agent != Some(agent) {
            return Err(error(
                StatusCode::FORBIDDEN,
                format!("a {} acts only as their own agent", self.role.name()),
            ));
        }
        Ok(())
    }

    pub(crate) fn audit(&self, action: &str, subject: String) -> AuditRecord {
        AuditRecord {
            at: wall_clock(),
            org: Some(self.org),
            actor: self.actor.clone(),
            action: action.into(),
            subject,
            patient: None,
            purpose: None,
            origin: Some(self.origin.clone()),
            outcome: "ok".into(),
        }
    }
}

/// Everything the handlers share.
/// Everything the handlers share: cheap to clone (one reference count),
/// as every request clones it through the gate.
#[derive(Clone)]
pub struct App(Arc<AppInner>);

impl std::ops::Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

pub struct AppInner {
    tx: mpsc::Sender<Command>,
    stop: tokio::sync::watch::Receiver<bool>,
    pub(crate) dir: Arc<Mutex<Directory>>,
    pub(crate) limiter: Arc<Mutex<auth::LoginLimiter>>,
    cache: Arc<Mutex<auth::CredentialCache<Caller>>>,
    pub(crate) published: planning::Published,
    pub(crate) clinical: Arc<triage::Clinical>,
    /// Wakes the referral outbox worker.
    pub(crate) outbox: Arc<tokio::sync::Notify>,
    pub(crate) sessions: auth::SessionPolicy,
    /// The SIP edge, once started.
    pub(crate) voice: std::sync::OnceLock<Arc<voice::Voice>>,
    /// Where new contacts' ids come from.
    pub(crate) ids: Arc<ContactIds>,
    /// Planning runs: one at a time, off the request runtime.
    pub(crate) planning: Arc<planning::PlanningGate>,
}

pub(crate) fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

pub(crate) fn store_error(e: store::StoreError) -> Response {
    match e {
        store::StoreError::Conflict(m) => error(StatusCode::CONFLICT, m),
        e => {
            tracing::error!("store: {e}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage is unavailable".into(),
            )
        }
    }
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

const STOPPED: &str = "the engine has stopped";

/// Contact ids. The server chooses every contact's id, never a client (a
/// reused id once showed the previous patient's screen pop), from the
/// store's persisted sequence: it starts past every id in the log, and an
/// id taken but never logged is skipped, not reused.
#[derive(Debug)]
pub(crate) struct ContactIds(std::sync::atomic::AtomicU64);

impl ContactIds {
    pub(crate) fn starting_at(next: u64) -> ContactIds {
        ContactIds(std::sync::atomic::AtomicU64::new(next.max(1)))
    }

    pub(crate) fn next(&self) -> model::ContactId {
        model::ContactId(self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl App {
    /// Sends an input to the caller's engine; answers with its events once
    /// it is durable.
    pub(crate) async fn input(
        &self,
        c: &Caller,
        input: Input,
        audit: Option<AuditRecord>,
        caller: Option<CallerIdentity>,
        ok: StatusCode,
    ) -> Response {
        self.submit(c, input, audit, caller, None, ok).await
    }

    /// [`App::input`] with a wrap-up outcome.
    pub(crate) async fn submit(
        &self,
        c: &Caller,
        input: Input,
        audit: Option<AuditRecord>,
        caller: Option<CallerIdentity>,
        outcome: Option<String>,
        ok: StatusCode,
    ) -> Response {
        let new_id = store::new_contact_id(&input);
        let (reply, rx) = oneshot::channel();
        let submit = Submit {
            org: c.org,
            input,
            audit,
            caller,
            outcome,
            reply,
        };
        if self
            .tx
            .send(Command::Input(Box::new(submit)))
            .await
            .is_err()
        {
            return error(StatusCode::SERVICE_UNAVAILABLE, STOPPED.into());
        }
        match rx.await {
            Ok(Ok(events)) => match new_id {
                // A new contact's answer names the id the server chose.
                Some(id) => (ok, Json(json!({ "id": id, "events": events }))).into_response(),
                None => (ok, Json(json!({ "events": events }))).into_response(),
            },
            Ok(Err(e)) => routing_error(e),
            Err(_) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the input could not be made durable".into(),
            ),
        }
    }

    /// Applies an input from the server itself (the voice edge) to an
    /// organisation's engine; answers once it is durable.
    pub(crate) async fn apply(
        &self,
        org: OrgId,
        input: Input,
        caller: Option<CallerIdentity>,
    ) -> Result<Vec<Record>, String> {
        let (reply, rx) = oneshot::channel();
        let submit = Submit {
            org,
            input,
            audit: None,
            caller,
            outcome: None,
            reply,
        };
        self.tx
            .send(Command::Input(Box::new(submit)))
            .await
            .map_err(|_| STOPPED.to_string())?;
        match rx.await {
            Ok(Ok(events)) => Ok(events),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the input could not be made durable".into()),
        }
    }

    /// The id of the organisation's queue with this name.
    pub(crate) async fn queue_named(&self, org: OrgId, name: &str) -> Option<model::QueueId> {
        let name = name.to_string();
        self.read(org, move |t, _| {
            t.engine
                .config()
                .queues
                .iter()
                .find(|q| q.name == name)
                .map(|q| q.id)
        })
        .await
        .ok()
        .flatten()
    }

    /// What call flows may name: every organisation's queues and skills.
    pub(crate) async fn flow_catalog(&self, orgs: &[OrgId]) -> flow::Catalog {
        let mut c = flow::Catalog {
            actions: ["wheelchair_return".to_string()].into(),
            ..Default::default()
        };
        for &org in orgs {
            if let Ok((q, s)) = self
                .read(org, |t, _| {
                    let cfg = t.engine.config();
                    (
                        cfg.queues
                            .iter()
                            .map(|q| q.name.clone())
                            .collect::<Vec<_>>(),
                        cfg.skills
                            .iter()
                            .map(|s| s.name.clone())
                            .collect::<Vec<_>>(),
                    )
                })
                .await
            {
                c.queues.extend(q);
                c.skills.extend(s);
            }
        }
        c
    }

    /// Runs `f` on the organisation's state on the engine task.
    pub(crate) async fn read<R: Send + 'static>(
        &self,
        org: OrgId,
        f: impl FnOnce(&mut Tenant, Timestamp) -> R + Send + 'static,
    ) -> Result<R, Response> {
        let (reply, rx) = oneshot::channel();
        let run: ReadFn = Box::new(move |t, now| {
            let _ = reply.send(t.map(|t| f(t, now)));
        });
        let gone = || error(StatusCode::SERVICE_UNAVAILABLE, STOPPED.into());
        self.tx
            .send(Command::Read(org, run))
            .await
            .map_err(|_| gone())?;
        rx.await
            .map_err(|_| gone())?
            .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("unknown organisation {org}")))
    }

    pub(crate) async fn subscribe(
        &self,
        org: OrgId,
    ) -> Option<(
        broadcast::Receiver<Record>,
        tokio::sync::watch::Receiver<bool>,
    )> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Subscribe(org, reply)).await.ok()?;
        Some((rx.await.ok()??, self.stop.clone()))
    }

    /// Runs `f` on the directory on the blocking pool, off the runtime's
    /// threads: SQLite waits for its disk, and routing and the 20 ms media
    /// ticks must not wait with it. None if the server is stopping.
    pub(crate) async fn with_directory<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Directory) -> R + Send + 'static,
    ) -> Option<R> {
        let dir = self.dir.clone();
        let r = tokio::task::spawn_blocking(move || {
            f(&mut dir.lock().unwrap_or_else(|p| p.into_inner()))
        })
        .await;
        match r {
            Ok(r) => Some(r),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => None,
        }
    }

    /// The directory's work on the blocking pool, as a handler wants it:
    /// a store error, or a server that is stopping, is the answer.
    pub(crate) async fn dir<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Directory) -> Result<R, store::StoreError> + Send + 'static,
    ) -> Result<R, Response> {
        match self.with_directory(f).await {
            Some(r) => r.map_err(store_error),
            None => Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is stopping".into(),
            )),
        }
    }

    /// The directory itself, for a thread that may wait for the disk (the
    /// SIP registrar on the blocking pool); the runtime uses [`App::dir`].
    pub(crate) fn directory(&self) -> std::sync::MutexGuard<'_, Directory> {
        self.dir.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Who is calling: a bearer token, else a session cookie; `None` if
    /// neither is present or valid.
    async fn authenticate(&self, headers: &HeaderMap, origin: String) -> Result<Caller, Response> {
        let unauthorised = |m: &str| error(StatusCode::UNAUTHORIZED, m.into());
        let (hash, is_token) = match headers.get(axum::http::header::AUTHORIZATION) {
            Some(v) => match v.to_str().unwrap_or("").strip_prefix("Bearer ") {
                Some(secret) => (auth::secret_hash(secret.trim()), true),
                None => return Err(unauthorised("Authorization: use a Bearer token")),
            },
            None => match people::session_cookie(headers) {
                Some(sid) => (auth::secret_hash(&sid), false),
                None => return Err(unauthorised("log in first")),
            },
        };
        let now = wall_clock();
        // A credential seen before: no database round trip. Anything that
        // ends a session or a token clears the cache first.
        if let Some(mut c) = self.cache().check(&hash, now, &self.sessions) {
            c.origin = origin;
            return Ok(c);
        }
        let generation = self.cache().generation;
        // The rows, read on the blocking pool; the decisions, here.
        let h = hash.clone();
        let (token, session) = self
            .dir(move |dir| {
                if is_token {
                    return Ok((dir.token_by_hash(&h)?, None));
                }
                let session = dir.session(&h)?;
                let user = match &session {
                    Some(s) => dir.user(s.user)?,
                    None => None,
                };
                Ok((None, Some((session, user))))
            })
            .await?;
        let (caller, created, persisted) = if is_token {
            match token {
                Some(t) if !t.revoked => (
                    Caller {
                        org: t.org,
                        role: Role::Integration,
                        actor: format!("token:{} ({})", t.id, t.name),
                        user: None,
                        agent: None,
                        scopes: Some(t.scopes.split(' ').filter_map(Scope::parse).collect()),
                        session: None,
                        origin,
                    },
                    None,
                    now,
                ),
                _ => return Err(unauthorised("the token is unknown or revoked")),
            }
        } else {
            let (session, user) = session.unwrap_or((None, None));
            let Some(s) = session.filter(|s| !s.revoked) else {
                return Err(unauthorised("the session has ended; log in again"));
            };
            if !self.sessions.is_live(s.created, s.last_seen, now) {
                return Err(unauthorised("the session has expired; log in again"));
            }
            let Some(u) = user else {
                return Err(unauthorised("the account no longer exists"));
            };
            if u.disabled {
                return Err(unauthorised("the account is disabled"));
            }
            let Some(role) = Role::parse(&u.role) else {
                return Err(unauthorised("the account has no valid role"));
            };
            let c = Caller {
                org: u.org,
                role,
                actor: format!("user:{} ({})", u.id, u.username),
                user: Some(u.id),
                agent: u.agent,
                scopes: None,
                session: Some(hash.clone()),
                origin,
            };
            (c, Some(s.created), s.last_seen)
        };
        self.cache()
            .remember(generation, hash, caller.clone(), created, persisted, now);
        Ok(caller)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, auth::CredentialCache<Caller>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Before anything that ends sessions or tokens: forget every
    /// credential checked so far.
    pub(crate) fn forget_credentials(&self) {
        self.cache().clear();
    }

    /// Writes the idle clock of sessions that were used since it was last
    /// written, at most once a minute each.
    async fn persist_idle_clocks(&self) {
        let due = self.cache().due_touches();
        if due.is_empty() {
            return;
        }
        let _ = self
            .with_directory(move |dir| {
                for (hash, at) in due {
                    let _ = dir.touch_session(&hash, at);
                }
            })
            .await;
    }
}

/// `serve --demo` on first run: the trust's Directory of Services from
/// the real ODS extracts in `../shared/data`, when they are there (the
/// demo works without them; the directory is then empty).
fn demo_directory(dir: &mut Directory) {
    let shared = std::path::Path::new("../shared/data");
    let read = |f: &str| std::fs::read_to_string(shared.join(f)).ok();
    let (Some(practices), Some(centroids)) = (
        read("ods-gp-practices-epraccur-2020.csv"),
        read("uk-outcode-centroids-2014.csv"),
    ) else {
        tracing::info!("demo: no ../shared/data ODS extracts here, so the Directory of Services is empty (switchboard dos import fills it)");
        return;
    };
    let trusts = read("ods-nhs-trusts-etr-2021.csv");
    let Ok(set) = triage::demo_pathways() else {
        return;
    };
    match dosload::build(&set, &practices, trusts.as_deref(), &centroids)
        .and_then(|imp| dosload::save(dir, OrgId(1), &imp, "demo").map(|()| imp))
    {
        Ok(imp) => tracing::info!(
            "demo: Directory of Services from ../shared/data: {} GP practices, {} emergency departments ({} rows skipped)",
            imp.practices,
            imp.eds,
            imp.skipped.len()
        ),
        Err(e) => tracing::warn!("demo: could not build the Directory of Services: {e}"),
    }
}

/// A state-changing request carried by a cookie must come from our own
/// pages: refused if the browser says it is cross-site, or if its Origin
/// is not this server.
fn csrf_check(method: &Method, headers: &HeaderMap) -> Result<(), Response> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let forbid = |m: &str| Err(error(StatusCode::FORBIDDEN, m.into()));
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return forbid("cross-site request refused");
        }
    }
    if let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) {
        let host = headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split("://").nth(1).unwrap_or("");
        if origin_host != host {
            return forbid("request from another origin refused");
        }
    }
    Ok(())
}

/// The gate in front of every route: authenticates the caller, checks the
/// route's permission (and a cookie request's origin), and hands the
/// handler a [`Caller`]. `None`: a public route (log-in, health).
pub(crate) async fn gate(
    State((app, perm)): State<(App, Option<Perm>)>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    // The route's template, never the path or query as sent (a query may
    // carry an NHS number).
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("-", |m| m.as_str())
        .to_string();
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        route = %route,
        org = tracing::field::Empty,
        role = tracing::field::Empty
    );
    let started = std::time::Instant::now();
    let r = tracing::Instrument::instrument(gated(app, perm, addr, req, next), span.clone()).await;
    let r = json_rejection(r).await;
    let status = r.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if r.status().is_server_error() {
        tracing::warn!(parent: &span, status, ms, "answered with a server error");
    } else {
        tracing::debug!(parent: &span, status, ms, "answered");
    }
    r
}

/// The framework's own refusals (a path id that is not a number, a query
/// that does not parse, a body that is not JSON) come as plain text: the
/// API answers every error as `{"error": ...}`, naming the problem.
async fn json_rejection(r: Response) -> Response {
    let plain = r
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/plain"));
    if !r.status().is_client_error() || !plain {
        return r;
    }
    let status = r.status();
    let text = match axum::body::to_bytes(r.into_body(), 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    error(status, text)
}

async fn gated(
    app: App,
    perm: Option<Perm>,
    addr: SocketAddr,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(perm) = perm else {
        req.extensions_mut().insert(Origin(addr.ip().to_string()));
        return next.run(req).await;
    };
    let caller = match app.authenticate(req.headers(), addr.ip().to_string()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let span = tracing::Span::current();
    span.record("org", caller.org.0);
    span.record("role", caller.role.name());
    if caller.session.is_some() {
        if let Err(r) = csrf_check(req.method(), req.headers()) {
            return r;
        }
    }
    if !caller.may(perm) {
        return error(
            StatusCode::FORBIDDEN,
            format!("the {} role may not do this", caller.role.name()),
        );
    }
    req.extensions_mut().insert(caller);
    let r = next.run(req).await;
    app.persist_idle_clocks().await;
    r
}

/// The client's address, for public routes.
#[derive(Clone, Debug)]
pub(crate) struct Origin(pub(crate) String);

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Opens the store (seeding the demo organisations on first run with
/// `--demo`), rebuilds every organisation's engine from it, and serves
/// until SIGTERM or Ctrl-C.
pub async fn serve(opts: Options) -> Result<(), ServerError> {
    let mut st = SqliteStore::open(&opts.data)?;
    let mut dir = Directory::open(&opts.data)?;
    let demo_people = if opts.demo {
        seed::demo(&mut st, &mut dir)?
    } else {
        Vec::new()
    };
    if st.organisations()?.is_empty() {
        tracing::info!(
            "no organisation yet: run `switchboard bootstrap --data {}` to create one and its first admin",
            opts.data.display()
        );
    }
    let started = std::time::Instant::now();
    let recovery = store::recover_all(&st, &|config| {
        kpi::Kpi::new(kpi::KpiConfig::from_routing(
            model::DurationMs::from_secs(15 * 60),
            config,
        ))
    })?;
    for note in &recovery.notes {
        tracing::warn!("{note}");
    }
    let mut tenants = BTreeMap::new();
    let (mut live, mut replayed, mut from_snapshots) = (0, 0, 0);
    for (org, r) in recovery.tenants {
        live += r.state.engine.live_contacts();
        replayed += r.replayed;
        from_snapshots += usize::from(r.snapshot.is_some());
        let mut t = Tenant::new(r.state.engine, r.state.kpi);
        // History already in the store leaves memory (a replay from
        // further back than the last snapshot rebuilds it there).
        t.kpi_before = st.kpi_retired_before(org)?;
        if let Some(b) = t.kpi_before {
            let _ = t.kpi.retire(b);
        }
        let now = wall_clock().max(t.engine.now());
        t.fire_timers(now);
        tenants.insert(org, t);
    }
    tracing::info!(
        "recovered {} organisations ({from_snapshots} from snapshots) with {live} live contacts from {}, replaying {replayed} log entries, in {:.0} ms",
        tenants.len(),
        opts.data.display(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let first = tenants
        .iter()
        .next()
        .map(|(o, t)| (*o, t.engine.config(), t.hub.subscribe()));
    if opts.demo && dir.dos_services()?.is_empty() {
        demo_directory(&mut dir);
    }
    let clinical = triage::load(&dir).map_err(ServerError::Other)?;
    let org_ids: Vec<OrgId> = tenants.keys().copied().collect();
    let ids = Arc::new(ContactIds::starting_at(st.next_contact_id()?));
    let (tx, rx) = mpsc::channel(1024);
    let dir = Arc::new(Mutex::new(dir));
    let task = tokio::spawn(engine_task(
        tenants,
        st,
        rx,
        Snapshots::every(opts.snapshot_every, recovery.last_seq),
        dir.clone(),
    ));
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let driver = match (opts.traffic, first) {
        (Some(d), Some((org, config, events))) => {
            tracing::info!(
                "demo: {:.1} simulated calls a minute, simulated agents answering",
                d.calls_per_minute
            );
            let people = demo_people.iter().filter_map(|p| p.agent).collect();
            Some(tokio::spawn(demo::drive(
                tx.clone(),
                ids.clone(),
                org,
                events,
                config,
                people,
                d,
            )))
        }
        _ => None,
    };
    let app = App(Arc::new(AppInner {
        tx,
        stop,
        dir,
        limiter: Arc::default(),
        cache: Arc::default(),
        published: Arc::default(),
        clinical,
        outbox: Arc::default(),
        sessions: auth::SessionPolicy::default(),
        voice: std::sync::OnceLock::new(),
        ids,
        planning: Arc::new(planning::PlanningGate::new()),
    }));
    if let Some(v) = opts.voice {
        let required = v.required;
        match voice::start(app.clone(), v, &org_ids).await {
            Ok(edge) => {
                let _ = app.voice.set(edge);
            }
            Err(e) if required => return Err(ServerError::Other(format!("SIP: {e}"))),
            Err(e) => tracing::warn!("SIP edge not started: {e}"),
        }
    }
    let outbox = tokio::spawn(referral::worker(app.clone(), app.outbox.clone()));
    let app_voice = app.clone();
    let app_tx = app.tx.clone();
    let router = routes::router(app);
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| ServerError::Listen {
            addr: opts.listen,
            problem: e.to_string(),
        })?;
    tracing::info!("listening on http://{}", opts.listen);
    if !demo_people.is_empty() {
        tracing::info!(
            "demo log-ins (password \"{}\", demo accounts only):",
            seed::DEMO_PASSWORD
        );
        for p in &demo_people {
            tracing::info!("  {:<22} {}", p.username, p.what);
        }
    }
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
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
    if let Some(v) = app_voice.voice.get() {
        v.stop();
    }
    // A last snapshot, so the next start replays nothing.
    let (done, stopped) = oneshot::channel();
    if app_tx.send(Command::Stop(done)).await.is_ok() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), stopped).await;
    }
    task.abort();
    outbox.abort();
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callback(
        arrived_ms_ago: i64,
        deadline_in_ms: Option<i64>,
        now: Timestamp,
    ) -> routing::ContactView {
        let at = Timestamp(now.0 - arrived_ms_ago);
        routing::ContactView {
            id: model::ContactId(1),
            queue: model::QueueId(7),
            channel: model::Channel::Callback,
            priority: 0,
            effective_priority: 0,
            arrived_at: at,
            entered_queue_at: at,
            step: 0,
            state: routing::ContactState::Waiting,
            routing: routing::ContactState::Waiting,
            transfer_pending: false,
            answered: false,
            attributes: deadline_in_ms
                .map(|d| vec![("deadline".to_string(), reports::iso(Timestamp(now.0 + d)))])
                .unwrap_or_default(),
        }
    }

    #[test]
    fn clinical_callbacks_are_at_risk_by_their_own_deadline() {
        let now = Timestamp(1_795_392_000_000);
        let min = 60_000;
        // A clinical callback booked long ago but due in an hour: fine.
        assert!(!callback_at_risk(
            &callback(200 * min, Some(60 * min), now),
            now
        ));
        // Due in ten minutes, or overdue: at risk, however recently booked.
        assert!(callback_at_risk(&callback(min, Some(10 * min), now), now));
        assert!(callback_at_risk(&callback(min, Some(-5 * min), now), now));
        // An ordinary callback: the 10-minute target (at risk from 8).
        assert!(!callback_at_risk(&callback(5 * min, None, now), now));
        assert!(callback_at_risk(&callback(9 * min, None, now), now));
    }
}
