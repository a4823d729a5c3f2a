//! Configuration: queues, agents, skills, teams and sites. Each change is
//! an engine input, in force at once or refused whole, audited in the same
//! transaction.

use crate::error::{body, tryr, Body};
use crate::{error, App, Caller};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::{AgentId, QueueId};
use routing::Input;
use schemars::JsonSchema;
use serde::Deserialize;

pub(crate) async fn get_config(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
) -> Response {
    match app.read(c.org, |t, _| t.engine.config()).await {
        Ok(v) => Json(crate::wire::Config::from(&v)).into_response(),
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
    b: Body<crate::wire::QueueDef>,
) -> Response {
    let q = routing::QueueDef::from(tryr!(body(b)));
    tryr!(path_matches(QueueId(id), q.id));
    config_change(&app, &c, Input::UpsertQueue(q), format!("queue q{id}")).await
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoveQueueQuery {
    /// A queue the waiting contacts move to, keeping their places.
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
    b: Body<crate::wire::AgentDef>,
) -> Response {
    let a = routing::AgentDef::from(tryr!(body(b)));
    tryr!(path_matches(AgentId(id), a.id));
    config_change(&app, &c, Input::UpsertAgent(a), format!("agent a{id}")).await
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Skills")]
pub(crate) struct SkillsBody {
    /// The agent's skills from now on: `[[skill, level], ...]`.
    #[schemars(with = "Vec<(u32, u8)>")]
    skills: Vec<(model::SkillId, model::SkillLevel)>,
    /// Their team from now on (queues may serve only some teams).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
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
    b: Body<crate::wire::SkillDef>,
) -> Response {
    let b = tryr!(body(b));
    let s = routing::SkillDef {
        id: model::SkillId(b.id),
        name: b.name,
    };
    let what = format!("add skill {}", s.id);
    config_change(&app, &c, Input::AddSkill(s), what).await
}

pub(crate) async fn add_team(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<crate::wire::TeamDef>,
) -> Response {
    let b = tryr!(body(b));
    let s = routing::TeamDef {
        id: model::TeamId(b.id),
        name: b.name,
    };
    let what = format!("add team {}", s.id);
    config_change(&app, &c, Input::AddTeam(s), what).await
}

pub(crate) async fn add_site(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<crate::wire::SiteDef>,
) -> Response {
    let b = tryr!(body(b));
    let s = routing::SiteDef {
        id: model::SiteId(b.id),
        name: b.name,
    };
    let what = format!("add site {}", s.id);
    config_change(&app, &c, Input::AddSite(s), what).await
}

// --- patients -------------------------------------------------------------

/// A queue my desktop lists as mine.
#[derive(serde::Serialize, JsonSchema)]
pub(crate) struct MyQueue {
    id: u32,
    name: String,
    /// Seconds a contact waits before it may be offered to me: 0 from the
    /// start; more only once an overflow step widens the queue to me.
    after_seconds: i64,
}

#[derive(serde::Serialize, JsonSchema)]
pub(crate) struct MyQueues {
    agent: u32,
    /// Mine from the start first, then by when they reach me; by name.
    queues: Vec<MyQueue>,
}

/// The queues whose contacts can be offered to the calling agent, with
/// their skills and team as they are now (`QueueDef::serves`).
pub(crate) async fn my_queues(State(app): State<App>, Extension(c): Extension<Caller>) -> Response {
    let Some(agent) = c.agent else {
        return error(
            StatusCode::NOT_FOUND,
            "agent: this log-in is not an agent's: it has no queues of its own".into(),
        );
    };
    let found = app
        .read(c.org, move |t, _| {
            let cfg = t.engine.config();
            let me = cfg.agents.iter().find(|a| a.id == agent)?;
            let mut queues: Vec<MyQueue> = cfg
                .queues
                .iter()
                .filter_map(|q| {
                    q.serves(me).map(|after| MyQueue {
                        id: q.id.0,
                        name: q.name.clone(),
                        after_seconds: after.0 / 1000,
                    })
                })
                .collect();
            queues.sort_by(|a, b| (a.after_seconds, &a.name).cmp(&(b.after_seconds, &b.name)));
            Some(queues)
        })
        .await;
    match found {
        Ok(Some(queues)) => Json(MyQueues {
            agent: agent.0,
            queues,
        })
        .into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("agent: agent {} is not in the configuration", agent.0),
        ),
        Err(r) => crate::error::Answer::answer(r),
    }
}

/// The audit trail's actions that change what the service is and who
/// works in it.
const CHANGES: &[&str] = &[
    "change configuration",
    "move agent",
    "create account",
    "disable account",
    "enable account",
    "set password",
    "reset mfa",
    "create token",
    "revoke token",
    "change scorecard",
    "set mfa policy",
];

/// Most changes listed.
const HISTORY: usize = 200;

#[derive(serde::Serialize, JsonSchema)]
pub(crate) struct History {
    changes: Vec<crate::patients::AuditRecord>,
}

/// Changes to the configuration, people and tokens, newest first.
pub(crate) async fn history(State(app): State<App>, Extension(c): Extension<Caller>) -> Response {
    let org = c.org;
    let records = tryr!(
        app.dir(move |d| d.audit_of_actions(org, CHANGES, HISTORY))
            .await
    );
    Json(History {
        changes: records.into_iter().map(Into::into).collect(),
    })
    .into_response()
}
