//! Contacts, agents, queues, configuration, KPIs, the live stream and the
//! patient directory. Every handler runs behind [`crate::gate`], so the
//! caller is authenticated and holds the route's permission; what is left
//! here is the per-object check (an agent acts as themselves; an id is
//! looked up in the caller's own organisation only, so another
//! organisation's id is simply not found).

use crate::{error, App, Caller};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::{AgentId, Channel, ContactId, NhsNumber, Patient, PhoneNumber, Priority, QueueId};
use routing::{Input, NewContact, Presence};
use serde::Deserialize;
use serde_json::json;
use store::CallerIdentity;

pub(crate) type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// A body the extractor refused: its status and text (400 syntax, 422
/// shape, 413 size, 415 type).
pub(crate) fn body<T>(b: Body<T>) -> Result<T, Response> {
    b.map(|Json(v)| v)
        .map_err(|e| error(e.status(), e.body_text()))
}

macro_rules! tryr {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return $crate::error::Answer::answer(r),
        }
    };
}
pub(crate) use tryr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewContactBody {
    /// Refused: the server chooses contact ids (see [`REFERENCE`]).
    #[serde(default, deserialize_with = "present")]
    id: bool,
    /// The client's own reference for the contact (its call id, its case
    /// number), kept as the contact's attribute `reference`.
    #[serde(default)]
    reference: Option<String>,
    /// The queue, or an entry point of a service (exactly one).
    #[serde(default)]
    queue: Option<u32>,
    #[serde(default)]
    entry_point: Option<String>,
    #[serde(default = "voice")]
    channel: Channel,
    #[serde(default)]
    priority: Priority,
    /// The caller's number (CLI), for the screen pop.
    #[serde(default)]
    caller_number: Option<PhoneNumber>,
    /// An NHS number the caller gave (IVR, web form).
    #[serde(default)]
    nhs_number: Option<NhsNumber>,
}

/// True for a field that is in the body at all, whatever its value
/// (`null` included): such a field is refused, not quietly ignored.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// The answer to a client that tries to choose a contact's id.
const REFERENCE: &str =
    "id: contact ids are chosen by the server (the answer names it); send your own as reference";

/// Longest client reference kept on a contact.
const MAX_REFERENCE: usize = 100;

/// A client's reference, checked, as the contact's attributes.
fn reference(r: Option<String>) -> Result<Vec<(String, String)>, Response> {
    match r {
        None => Ok(Vec::new()),
        Some(r) if r.is_empty() || r.chars().count() > MAX_REFERENCE => Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("reference: between 1 and {MAX_REFERENCE} characters"),
        )),
        Some(r) if r.chars().any(char::is_control) => Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reference: no control characters".into(),
        )),
        Some(r) => Ok(vec![("reference".into(), r)]),
    }
}

fn voice() -> Channel {
    Channel::Voice
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentBody {
    agent: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PresenceBody {
    presence: Presence,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransferBody {
    /// The agent handing over (their own id, for an agent).
    #[serde(default)]
    from_agent: Option<u32>,
    /// A queue id or an agent id (exactly one).
    #[serde(default)]
    queue: Option<u32>,
    #[serde(default)]
    agent: Option<u32>,
    mode: routing::TransferMode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriorityBody {
    priority: Priority,
}

/// The contact's agent (offered, or talking), if any.
fn agent_of(s: &routing::ContactState) -> Option<AgentId> {
    use routing::ContactState::*;
    match *s {
        Offered(a) | InProgress { agent: a, .. } | WaitingForAgent(a) => Some(a),
        _ => None,
    }
}

/// Whether the contact is with this agent: talking to them, offered to
/// them, or being transferred (warm) to them while its agent holds it.
fn is_with(v: &routing::ContactView, agent: Option<AgentId>) -> bool {
    agent.is_some() && (agent_of(&v.state) == agent || agent_of(&v.routing) == agent)
}

/// For agents and clinicians: the contact must be theirs (offered to them
/// or with them). A contact of another organisation is not found.
pub(crate) async fn own_contact(app: &App, c: &Caller, id: ContactId) -> Result<(), Response> {
    let view = app
        .read(c.org, move |t, _| t.engine.contact(id))
        .await
        .map_err(crate::error::api)?;
    let Some(view) = view else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("unknown contact {id}"),
        ));
    };
    if c.role.works_as_agent() && !is_with(&view, c.agent) {
        return Err(error(
            StatusCode::FORBIDDEN,
            format!("contact {id} is not with you"),
        ));
    }
    Ok(())
}

pub(crate) async fn create_contact(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<NewContactBody>,
) -> Response {
    let b = tryr!(body(b));
    if b.id {
        return error(StatusCode::UNPROCESSABLE_ENTITY, REFERENCE.into());
    }
    let attributes = tryr!(reference(b.reference));
    let queue = match (b.queue, &b.entry_point) {
        (Some(q), None) => QueueId(q),
        (None, Some(e)) => tryr!(app::services::resolve(&app, &c, b.channel, e).await),
        _ => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "queue: give exactly one of queue or entry_point".into(),
            )
        }
    };
    let mut nc = NewContact::new(app.ids.next(), queue, b.channel);
    nc.priority = b.priority;
    nc.attributes = attributes;
    let who = (b.caller_number.is_some() || b.nhs_number.is_some()).then_some(CallerIdentity {
        phone: b.caller_number,
        nhs_number: b.nhs_number,
    });
    crate::error::submitted(
        StatusCode::CREATED,
        app.input(&c, Input::Arrive(nc), None, who).await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallbackBody {
    /// Refused: the server chooses contact ids.
    #[serde(default, deserialize_with = "present")]
    id: bool,
    /// The client's own reference, kept as the attribute `reference`.
    #[serde(default)]
    reference: Option<String>,
    queue: u32,
    /// When to call back (RFC 3339); it joins the queue then, placed by
    /// that time.
    due_at: String,
    /// Clinical urgency: added to the queue's priority.
    #[serde(default)]
    priority: Priority,
    /// The contact this callback follows up: its caller (number, NHS
    /// number) is carried over for the screen pop.
    #[serde(default)]
    from_contact: Option<u64>,
    #[serde(default)]
    caller_number: Option<PhoneNumber>,
    #[serde(default)]
    nhs_number: Option<NhsNumber>,
}

/// Furthest ahead a callback can be booked.
const MAX_CALLBACK_DAYS: i64 = 90;

/// Books a callback for a time (an agent promising to ring back, a
/// clinician's timed callback by urgency, an integration's appointment).
pub(crate) async fn book_callback(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<CallbackBody>,
) -> Response {
    let b = tryr!(body(b));
    if b.id {
        return error(StatusCode::UNPROCESSABLE_ENTITY, REFERENCE.into());
    }
    let attributes = tryr!(reference(b.reference));
    let now = crate::wall_clock();
    let Ok(due) = b.due_at.parse::<jiff::Timestamp>() else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "due_at: not an RFC 3339 time such as 2026-11-22T14:30:00Z".into(),
        );
    };
    let due = model::Timestamp(due.as_millisecond());
    if due.0 > now.0 + MAX_CALLBACK_DAYS * 24 * 3600 * 1000 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("due_at: at most {MAX_CALLBACK_DAYS} days ahead"),
        );
    }
    let mut who = CallerIdentity {
        phone: b.caller_number,
        nhs_number: b.nhs_number,
    };
    if let Some(from) = b.from_contact {
        tryr!(own_contact(&app, &c, ContactId(from)).await);
        let org = c.org;
        let known = tryr!(
            app.dir(move |d| d.contact_caller(org, ContactId(from)))
                .await
        );
        if let Some(k) = known {
            who.phone = who.phone.or(k.phone);
            who.nhs_number = who.nhs_number.or(k.nhs_number);
        }
    }
    let mut nc = NewContact::new(app.ids.next(), QueueId(b.queue), Channel::Callback);
    nc.priority = b.priority;
    nc.attributes = attributes;
    let who = (who.phone.is_some() || who.nhs_number.is_some()).then_some(who);
    let input = Input::ScheduleCallback {
        contact: nc,
        due_at: due.max(now),
    };
    crate::error::submitted(StatusCode::CREATED, app.input(&c, input, None, who).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    #[serde(default)]
    queue: Option<u32>,
    #[serde(default)]
    limit: Option<usize>,
}

/// Most contacts one list returns.
const MAX_LIST: usize = 1000;

pub(crate) async fn list_contacts(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_LIST {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit: between 1 and {MAX_LIST}"),
        );
    }
    let queue = q.queue.map(QueueId);
    let agent = c.role.works_as_agent().then_some(c.agent).flatten();
    let agent_only = c.role.works_as_agent();
    let r = app
        .read(c.org, move |t, _| {
            t.engine
                .contact_ids()
                .into_iter()
                .filter_map(|id| t.engine.contact(id))
                .filter(|v| queue.is_none_or(|q| v.queue == q))
                .filter(|v| !agent_only || is_with(v, agent))
                .take(limit)
                .collect::<Vec<_>>()
        })
        .await;
    match r {
        Ok(v) => Json(json!({ "contacts": v })).into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

pub(crate) async fn get_contact(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    tryr!(own_contact(&app, &c, ContactId(id)).await);
    match app
        .read(c.org, move |t, _| t.engine.contact(ContactId(id)))
        .await
    {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("unknown contact c{id}")),
        Err(r) => crate::error::Answer::answer(r),
    }
}

/// Accept, reject, wrap-up done: the body names the agent. A contact this
/// organisation does not have (live, or in the agent's wrap-up) is not
/// found, whatever state the agent is in.
async fn agent_command(
    app: &App,
    c: &Caller,
    contact: ContactId,
    b: Body<AgentBody>,
    make: impl FnOnce(AgentId) -> Input,
) -> Response {
    let b = tryr!(body(b));
    agent_act(app, c, contact, AgentId(b.agent), None, make).await
}

async fn agent_act(
    app: &App,
    c: &Caller,
    contact: ContactId,
    agent: AgentId,
    outcome: Option<String>,
    make: impl FnOnce(AgentId) -> Input,
) -> Response {
    tryr!(c.as_agent(agent));
    let known = app
        .read(c.org, move |t, _| {
            t.engine.contact(contact).is_some()
                || t.engine
                    .agent(agent)
                    .is_some_and(|a| a.work.iter().any(|w| w.0 == contact))
        })
        .await;
    if !tryr!(known) {
        return error(StatusCode::NOT_FOUND, format!("unknown contact {contact}"));
    }
    crate::error::submitted(
        StatusCode::OK,
        app.submit(c, make(agent), None, None, outcome).await,
    )
}

/// The outcome codes an agent chooses from at wrap-up.
pub const OUTCOMES: [&str; 8] = [
    "resolved",
    "advice_given",
    "booked",
    "referred",
    "callback_booked",
    "transferred",
    "no_action",
    "other",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WrapUpBody {
    agent: u32,
    /// One of [`OUTCOMES`].
    #[serde(default)]
    outcome: Option<String>,
}

pub(crate) async fn accept(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    b: Body<AgentBody>,
) -> Response {
    agent_command(&app, &c, ContactId(id), b, |agent| Input::Accept {
        agent,
        contact: ContactId(id),
    })
    .await
}

pub(crate) async fn reject(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    b: Body<AgentBody>,
) -> Response {
    agent_command(&app, &c, ContactId(id), b, |agent| Input::Reject {
        agent,
        contact: ContactId(id),
    })
    .await
}

pub(crate) async fn wrapped(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    b: Body<WrapUpBody>,
) -> Response {
    let b = tryr!(body(b));
    if let Some(o) = &b.outcome {
        if !OUTCOMES.contains(&o.as_str()) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("outcome: one of {}", OUTCOMES.join(", ")),
            );
        }
    }
    let contact = ContactId(id);
    agent_act(&app, &c, contact, AgentId(b.agent), b.outcome, |agent| {
        Input::WrapUpDone { agent, contact }
    })
    .await
}

pub(crate) async fn presence(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
    b: Body<PresenceBody>,
) -> Response {
    let b = tryr!(body(b));
    tryr!(c.as_agent(AgentId(id)));
    // A supervisor changing someone else's state (logging them out) is
    // audited.
    let audit =
        (!c.role.works_as_agent()).then(|| c.audit("set agent presence", format!("agent a{id}")));
    crate::error::submitted(
        StatusCode::OK,
        app.input(
            &c,
            Input::SetPresence {
                agent: AgentId(id),
                presence: b.presence,
            },
            audit,
            None,
        )
        .await,
    )
}

pub(crate) async fn transfer(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    b: Body<TransferBody>,
) -> Response {
    let b = tryr!(body(b));
    let to = match (b.queue, b.agent) {
        (Some(q), None) => routing::TransferTarget::Queue(QueueId(q)),
        (None, Some(a)) => routing::TransferTarget::Agent(AgentId(a)),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "give exactly one of queue or agent".into(),
            )
        }
    };
    if let Some(from) = b.from_agent {
        tryr!(c.as_agent(AgentId(from)));
    }
    tryr!(own_contact(&app, &c, ContactId(id)).await);
    crate::error::submitted(
        StatusCode::OK,
        app.input(
            &c,
            Input::Transfer {
                contact: ContactId(id),
                to,
                mode: b.mode,
            },
            None,
            None,
        )
        .await,
    )
}

pub(crate) async fn set_priority(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    b: Body<PriorityBody>,
) -> Response {
    let b = tryr!(body(b));
    let audit = c.audit(
        "change priority",
        format!("contact c{id} to {}", b.priority),
    );
    crate::error::submitted(
        StatusCode::OK,
        app.input(
            &c,
            Input::SetPriority {
                contact: ContactId(id),
                priority: b.priority,
            },
            Some(audit),
            None,
        )
        .await,
    )
}

/// Commands on a contact that carry no body; agents only on their own.
async fn on_contact(app: &App, c: &Caller, id: u64, make: fn(ContactId) -> Input) -> Response {
    tryr!(own_contact(app, c, ContactId(id)).await);
    crate::error::submitted(
        StatusCode::OK,
        app.input(c, make(ContactId(id)), None, None).await,
    )
}

pub(crate) async fn end(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    on_contact(&app, &c, id, |contact| Input::End { contact }).await
}

pub(crate) async fn abandon(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    on_contact(&app, &c, id, |contact| Input::Abandon { contact }).await
}

pub(crate) async fn hold(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    on_contact(&app, &c, id, |contact| Input::Hold { contact }).await
}

pub(crate) async fn resume(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    on_contact(&app, &c, id, |contact| Input::Resume { contact }).await
}

pub(crate) async fn callback(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    on_contact(&app, &c, id, |contact| Input::RequestCallback { contact }).await
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

pub(crate) async fn get_config(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
) -> Response {
    match app.read(c.org, |t, _| t.engine.config()).await {
        Ok(v) => Json(v).into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

/// A configuration change: applied at once in the running engine (or
/// refused whole, naming the problem), audited in the same transaction.
async fn config_change(app: &App, c: &Caller, input: Input, what: String) -> Response {
    let audit = c.audit("change configuration", what);
    crate::error::submitted(StatusCode::OK, app.input(c, input, Some(audit), None).await)
}

fn path_matches<T: PartialEq + std::fmt::Display>(path: T, body: T) -> Result<(), Response> {
    if path != body {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("id: the body's id {body} is not the path's {path}"),
        ));
    }
    Ok(())
}

pub(crate) async fn put_queue(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
    b: Body<routing::QueueDef>,
) -> Response {
    let q = tryr!(body(b));
    tryr!(path_matches(QueueId(id), q.id));
    config_change(&app, &c, Input::UpsertQueue(q), format!("queue q{id}")).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoveQueueQuery {
    #[serde(default)]
    move_waiting_to: Option<u32>,
}

pub(crate) async fn delete_queue(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
    q: Result<Query<RemoveQueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let input = Input::RemoveQueue {
        queue: QueueId(id),
        move_waiting_to: q.move_waiting_to.map(QueueId),
    };
    config_change(&app, &c, input, format!("remove queue q{id}")).await
}

pub(crate) async fn put_agent(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
    b: Body<routing::AgentDef>,
) -> Response {
    let a = tryr!(body(b));
    tryr!(path_matches(AgentId(id), a.id));
    config_change(&app, &c, Input::UpsertAgent(a), format!("agent a{id}")).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SkillsBody {
    /// The agent's skills from now on: `[[skill, level], ...]`.
    skills: Vec<(model::SkillId, model::SkillLevel)>,
    /// Their team from now on (queues may serve only some teams).
    #[serde(default)]
    team: Option<model::TeamId>,
}

/// A supervisor moves an agent between queues by changing their skills
/// (and team, where a queue serves only some teams); the rest of the
/// agent's definition stays. In force at once (a contact
/// the agent is handling is not touched), audited.
pub(crate) async fn set_skills(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
    b: Body<SkillsBody>,
) -> Response {
    let b = tryr!(body(b));
    let agent = AgentId(id);
    let def = tryr!(
        app.read(c.org, move |t, _| {
            t.engine.config().agents.into_iter().find(|a| a.id == agent)
        })
        .await
    );
    let Some(mut def) = def else {
        return error(StatusCode::NOT_FOUND, format!("unknown agent {agent}"));
    };
    def.skills = b.skills;
    if let Some(team) = b.team {
        def.team = team;
    }
    let audit = c.audit("move agent", format!("agent {agent} skills"));
    crate::error::submitted(
        StatusCode::OK,
        app.input(&c, Input::UpsertAgent(def), Some(audit), None)
            .await,
    )
}

pub(crate) async fn delete_agent(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
) -> Response {
    let input = Input::RemoveAgent { agent: AgentId(id) };
    config_change(&app, &c, input, format!("remove agent a{id}")).await
}

pub(crate) async fn add_skill(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<routing::SkillDef>,
) -> Response {
    let s = tryr!(body(b));
    let what = format!("add skill {}", s.id);
    config_change(&app, &c, Input::AddSkill(s), what).await
}

pub(crate) async fn add_team(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<routing::TeamDef>,
) -> Response {
    let s = tryr!(body(b));
    let what = format!("add team {}", s.id);
    config_change(&app, &c, Input::AddTeam(s), what).await
}

pub(crate) async fn add_site(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<routing::SiteDef>,
) -> Response {
    let s = tryr!(body(b));
    let what = format!("add site {}", s.id);
    config_change(&app, &c, Input::AddSite(s), what).await
}

// --- patients -------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct PurposeQuery {
    /// Why the record is read (the audit trail's "purpose of use").
    #[serde(default)]
    purpose: Option<String>,
}

fn purpose(
    q: Result<Query<PurposeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<String, Response> {
    let Query(q) = q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))?;
    let p = q.purpose.unwrap_or_else(|| "direct care".into());
    if p.trim().is_empty() || p.len() > 200 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "purpose: 1 to 200 characters".into(),
        ));
    }
    Ok(p)
}

fn nhs_path(s: &str) -> Result<NhsNumber, Response> {
    NhsNumber::parse(s).map_err(|e| error(StatusCode::BAD_REQUEST, format!("nhs_number: {e}")))
}

/// Patient data is never cached by a browser or proxy.
fn no_store(r: impl IntoResponse) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], r).into_response()
}

pub(crate) async fn put_patient(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(nhs): Path<String>,
    b: Body<Patient>,
) -> Response {
    let nhs = tryr!(nhs_path(&nhs));
    let p = tryr!(body(b));
    if p.nhs_number != nhs {
        return error(
            StatusCode::BAD_REQUEST,
            "nhs_number: the body's is not the path's".into(),
        );
    }
    if let Err(e) = p.validate() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
    }
    let mut audit = c.audit("write patient", "patient directory entry".into());
    audit.patient = Some(nhs.expose());
    audit.purpose = Some("directory update".into());
    let org = c.org;
    let r = app
        .dir(move |d| d.put_patient(org, &p, crate::wall_clock(), &audit))
        .await;
    match r {
        Ok(true) => no_store((StatusCode::CREATED, Json(json!({ "created": true })))),
        Ok(false) => no_store((StatusCode::OK, Json(json!({ "created": false })))),
        Err(r) => crate::error::Answer::answer(r),
    }
}

pub(crate) async fn get_patient(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(nhs): Path<String>,
    q: Result<Query<PurposeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let nhs = tryr!(nhs_path(&nhs));
    let mut audit = c.audit("read patient", "patient directory entry".into());
    audit.purpose = Some(tryr!(purpose(q)));
    let org = c.org;
    let r = app
        .dir(move |d| d.find_patients(org, Some(&nhs), None, 1, &audit))
        .await;
    match r {
        Ok(mut v) if !v.is_empty() => no_store(Json(v.remove(0))),
        Ok(_) => error(StatusCode::NOT_FOUND, "no such patient".into()),
        Err(r) => crate::error::Answer::answer(r),
    }
}

/// Most candidates a screen pop offers.
const MAX_CANDIDATES: usize = 5;

/// The screen pop: the patient(s) matching who is calling — by the NHS
/// number they gave, else by their phone number — for the agent the
/// contact is with (or a supervisor). Each record shown is audited.
pub(crate) async fn screen_pop(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    q: Result<Query<PurposeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let why = tryr!(purpose(q));
    tryr!(own_contact(&app, &c, ContactId(id)).await);
    let mut audit = c.audit("screen pop", format!("contact c{id}"));
    audit.purpose = Some(why);
    let org = c.org;
    let found = tryr!(
        app.dir(move |dir| {
            let Some(who) = dir.contact_caller(org, ContactId(id))? else {
                return Ok(None);
            };
            // An NHS number the caller gave is the stronger key.
            match who.nhs_number {
                Some(n) => dir.find_patients(org, Some(&n), None, MAX_CANDIDATES, &audit),
                None => dir.find_patients(org, None, who.phone.as_ref(), MAX_CANDIDATES, &audit),
            }
            .map(Some)
        })
        .await
    );
    let Some(found) = found else {
        return no_store(Json(json!({ "match": "none", "patients": [] })));
    };
    let kind = match found.len() {
        0 => "none",
        1 => "single",
        _ => "candidates",
    };
    no_store(Json(json!({ "match": kind, "patients": found })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    limit: Option<usize>,
}

const AUDIT_QUERY: &str = "read audit trail";

/// "Who accessed patient X": the auditor's question, itself audited.
pub(crate) async fn audit_for_patient(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(nhs): Path<String>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let nhs = tryr!(nhs_path(&nhs));
    let q = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > 10_000 {
        return error(StatusCode::BAD_REQUEST, "limit: between 1 and 10000".into());
    }
    let mut audit = c.audit(AUDIT_QUERY, "accesses to a patient".into());
    audit.patient = Some(nhs.expose());
    audit.purpose = Some("information governance".into());
    let org = c.org;
    let r = app
        .dir(move |d| d.audit_for_patient(org, &nhs, limit, &audit))
        .await;
    match r {
        // Nothing but auditors' own questions: not a patient of this
        // organisation (no hint whether another has them).
        Ok(records) if records.iter().all(|r| r.action == AUDIT_QUERY) => {
            error(StatusCode::NOT_FOUND, "no such patient".into())
        }
        Ok(records) => no_store(Json(json!({ "records": records }))),
        Err(r) => crate::error::Answer::answer(r),
    }
}

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
