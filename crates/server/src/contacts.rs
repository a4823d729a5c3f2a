//! Contacts: arrival (by queue or entry point), booked callbacks, the
//! agent's actions on a contact (accept, reject, hold, transfer, end,
//! wrap-up), a supervisor's priority change, and presence. Every handler
//! runs behind [`crate::gate`], so the caller is authenticated and holds
//! the route's permission; what is left here is the per-object check (an
//! agent acts as themselves; an id is looked up in the caller's own
//! organisation only, so another organisation's id is simply not found).

use crate::error::{body, tryr, Body};
use crate::{error, App, Caller};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::{AgentId, Channel, ContactId, NhsNumber, PhoneNumber, Priority, QueueId};
use routing::{Input, NewContact};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use store::CallerIdentity;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewContact")]
pub(crate) struct NewContactBody {
    /// Refused: the server chooses contact ids (see [`REFERENCE`]).
    #[serde(default, deserialize_with = "present")]
    #[schemars(skip)]
    id: bool,
    /// The client's own reference for the contact (its call id, its case
    /// number), kept as the contact's attribute `reference`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 100))]
    reference: Option<String>,
    /// The queue, or an entry point of a service (exactly one).
    #[serde(default)]
    queue: Option<u32>,
    #[serde(default)]
    entry_point: Option<String>,
    #[serde(default = "voice")]
    channel: crate::wire::Channel,
    #[serde(default)]
    priority: Priority,
    /// The caller's number (CLI), for the screen pop.
    #[serde(default)]
    #[schemars(with = "Option<crate::wire::PhoneNumber>")]
    caller_number: Option<PhoneNumber>,
    /// An NHS number the caller gave (IVR, web form).
    #[serde(default)]
    #[schemars(with = "Option<crate::wire::NhsNumber>")]
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

fn voice() -> crate::wire::Channel {
    crate::wire::Channel::Voice
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "AgentRef")]
pub(crate) struct AgentBody {
    agent: u32,
}

/// More time to wrap up.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoreWrapUp {
    agent: u32,
    /// Seconds to add (1 to 600); the wrap-up never runs more than 30
    /// minutes from now.
    #[schemars(range(min = 1, max = 600))]
    seconds: i64,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PresenceChange")]
pub(crate) struct PresenceBody {
    presence: crate::wire::Presence,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Transfer")]
pub(crate) struct TransferBody {
    /// The agent handing over (their own id, for an agent).
    #[serde(default)]
    from_agent: Option<u32>,
    /// A queue id or an agent id (exactly one).
    #[serde(default)]
    queue: Option<u32>,
    #[serde(default)]
    agent: Option<u32>,
    mode: crate::wire::TransferMode,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PriorityChange")]
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
pub(crate) fn is_with(v: &routing::ContactView, agent: Option<AgentId>) -> bool {
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
        (None, Some(e)) => tryr!(app::services::resolve(&app, &c, b.channel.into(), e).await),
        _ => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "queue: give exactly one of queue or entry_point".into(),
            )
        }
    };
    let mut nc = NewContact::new(app.ids.next(), queue, b.channel.into());
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

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Callback")]
pub(crate) struct CallbackBody {
    /// Refused: the server chooses contact ids.
    #[serde(default, deserialize_with = "present")]
    #[schemars(skip)]
    id: bool,
    /// The client's own reference, kept as the attribute `reference`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 100))]
    reference: Option<String>,
    queue: u32,
    /// When to call back (RFC 3339); it joins the queue then, placed by
    /// that time.
    #[schemars(extend("format" = "date-time"))]
    due_at: String,
    /// Clinical urgency: added to the queue's priority.
    #[serde(default)]
    priority: Priority,
    /// The contact this callback follows up: its caller (number, NHS
    /// number) is carried over for the screen pop.
    #[serde(default)]
    from_contact: Option<u64>,
    #[serde(default)]
    #[schemars(with = "Option<crate::wire::PhoneNumber>")]
    caller_number: Option<PhoneNumber>,
    #[serde(default)]
    #[schemars(with = "Option<crate::wire::NhsNumber>")]
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
        deadline: None,
    };
    crate::error::submitted(StatusCode::CREATED, app.input(&c, input, None, who).await)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only this queue's contacts.
    #[serde(default)]
    queue: Option<u32>,
    /// At most this many (100).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

/// Most contacts one list returns.
const MAX_LIST: usize = 1000;

/// Live contacts.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Contacts {
    contacts: Vec<crate::wire::Contact>,
}

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
        Ok(v) => Json(Contacts {
            contacts: v.iter().map(crate::wire::Contact::from).collect(),
        })
        .into_response(),
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
        Ok(Some(v)) => Json(crate::wire::Contact::from(&v)).into_response(),
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
    outcome: Option<(String, Option<store::Sealed>)>,
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
fn outcome_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut codes: Vec<serde_json::Value> = OUTCOMES.iter().map(|&c| c.into()).collect();
    codes.push(serde_json::Value::Null);
    schemars::json_schema!({ "enum": codes, "description": "the wrap-up outcome code" })
}

/// The outcomes as the desktop names them, in the order of [`OUTCOMES`].
pub const OUTCOME_LABELS: [&str; 8] = [
    "Resolved",
    "Advice given",
    "Booked",
    "Referred",
    "Callback booked",
    "Transferred",
    "No action",
    "Other",
];

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

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WrapUp")]
pub(crate) struct WrapUpBody {
    agent: u32,
    /// The wrap-up outcome: one of the codes (`OUTCOMES`).
    #[serde(default)]
    #[schemars(schema_with = "outcome_schema")]
    outcome: Option<String>,
    /// Free-text notes (with an outcome): sealed at rest, every read
    /// audited. At most 4,000 characters.
    #[serde(default)]
    #[schemars(length(max = 4000))]
    notes: Option<String>,
}

/// Accepting a phone call that rings the agent's browser phone answers
/// the phone: the call then accepts itself with the engine once its
/// audio is joined (as when a desk phone is picked up), and the events
/// follow on the stream.
pub(crate) async fn accept(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Extension(edge): Extension<crate::VoiceEdge>,
    Path(id): Path<u64>,
    b: Body<AgentBody>,
) -> Response {
    let b = tryr!(body(b));
    let agent = AgentId(b.agent);
    tryr!(c.as_agent(agent));
    if let Some(v) = edge.0.clone() {
        if v.answer_on_browser(c.org, agent, ContactId(id)).await {
            let audit = c.audit("answer on browser phone", format!("contact {id}"));
            tryr!(app
                .dir(move |d| d.audit(&audit))
                .await
                .map_err(crate::error::api));
            return Json(crate::wire::Submitted {
                id: None,
                events: vec![],
            })
            .into_response();
        }
    }
    agent_act(&app, &c, ContactId(id), agent, None, |agent| {
        Input::Accept {
            agent,
            contact: ContactId(id),
        }
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

/// `POST /api/v1/contacts/{id}/wrap-up-extend`: the agent needs more
/// time (WCAG 2.2.1: a time limit the person can extend).
pub(crate) async fn more_wrap_up(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    b: Body<MoreWrapUp>,
) -> Response {
    let b = tryr!(body(b));
    if !(1..=600).contains(&b.seconds) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("seconds: 1 to 600, not {}", b.seconds),
        );
    }
    let by = model::DurationMs(b.seconds * 1000);
    agent_act(&app, &c, ContactId(id), AgentId(b.agent), None, |agent| {
        Input::ExtendWrapUp {
            agent,
            contact: ContactId(id),
            by,
        }
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
    let notes = b.notes.filter(|n| !n.trim().is_empty());
    if let Some(n) = &notes {
        tryr!(app::seal::check_note(n).map_err(|m| error(StatusCode::UNPROCESSABLE_ENTITY, m)));
        if b.outcome.is_none() {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "outcome: choose an outcome for the notes to go with".into(),
            );
        }
    }
    let contact = ContactId(id);
    let agent = AgentId(b.agent);
    let outcome = b.outcome.map(|code| {
        let sealed = notes.map(|n| {
            app::seal::seal(
                &app.kek,
                &crate::notes::aad(c.org, contact, agent),
                n.trim_end(),
            )
        });
        (code, sealed)
    });
    agent_act(&app, &c, contact, agent, outcome, |agent| {
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
                presence: b.presence.into(),
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
                mode: b.mode.into(),
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
