//! The services' configuration API: entry points and opening hours (the
//! model is `app::services`).

use crate::error::{body, tryr, Body};
use crate::{error, App, Caller};
use app::services::{canonical, is_open, ServiceDef, MAX_ENTRY_POINTS};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::QueueId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How people reach a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Phone,
    Chat,
    Email,
    /// A web form asking for a callback.
    Web,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntryPoint {
    kind: Kind,
    /// The number, widget id, address or form.
    address: String,
}

/// Weekly opening hours, bank holidays and dated exceptions, in
/// Europe/London local time.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Calendar {
    weekly: Vec<Session>,
    /// Dates (`2026-12-25`) closed all day unless an exception opens them.
    #[serde(default)]
    bank_holidays: Vec<String>,
    #[serde(default)]
    exceptions: Vec<Exception>,
}

/// e.g. `{"days": ["mon", "tue"], "open": "08:00", "close": "18:30"}`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Session {
    days: Vec<String>,
    open: String,
    close: String,
}

/// A dated exception: closed all day (no hours), or other hours.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Exception {
    date: String,
    #[serde(default)]
    open: Option<String>,
    #[serde(default)]
    close: Option<String>,
}

/// A service: the queue its contacts join, how people reach it, when it is
/// open, and the call flow a phone call runs.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ServiceDef")]
pub(crate) struct ServiceBody {
    name: String,
    queue: u32,
    #[serde(default)]
    entry_points: Vec<EntryPoint>,
    /// None: always open.
    #[serde(default)]
    hours: Option<Calendar>,
    /// None: the caller joins `queue` at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flow: Option<String>,
    /// Call recording; none: calls are not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recording: Option<Recording>,
    /// Web chats: the largest file a patient may send (bytes, at most 20
    /// MiB; 0: none) and how many days an ended conversation is kept;
    /// none: 5 MiB, kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chat: Option<ChatRuleBody>,
    /// A satisfaction survey by text (GOV.UK Notify) after each answered
    /// contact: the question (none: the standard 1-5 one) and the hours a
    /// reply is taken for (1-336; none: 72); none: no survey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    survey: Option<SurveyBody>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SurveyBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    question: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_hours: Option<u32>,
    /// `["HH:MM", "HH:MM"]`, London: no survey goes then (none: 20:00 to
    /// 08:00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quiet_hours: Option<(String, String)>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChatRuleBody {
    max_attachment_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retention_days: Option<f64>,
}

/// When calls are recorded (`always`: every answered call from the moment
/// the agent is on the line; `on_demand`: when the agent starts it), and
/// how many days a recording is kept before its key is destroyed.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Recording {
    policy: Policy,
    retention_days: f64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Policy {
    Never,
    Always,
    OnDemand,
}

impl From<Recording> for app::services::RecordingRule {
    fn from(r: Recording) -> Self {
        use app::services::RecordingPolicy as P;
        app::services::RecordingRule {
            policy: match r.policy {
                Policy::Never => P::Never,
                Policy::Always => P::Always,
                Policy::OnDemand => P::OnDemand,
            },
            retention_days: r.retention_days,
        }
    }
}

impl From<app::services::RecordingRule> for Recording {
    fn from(r: app::services::RecordingRule) -> Self {
        use app::services::RecordingPolicy as P;
        Recording {
            policy: match r.policy {
                P::Never => Policy::Never,
                P::Always => Policy::Always,
                P::OnDemand => Policy::OnDemand,
            },
            retention_days: r.retention_days,
        }
    }
}

impl From<ServiceBody> for ServiceDef {
    fn from(b: ServiceBody) -> ServiceDef {
        use app::services::Kind as K;
        ServiceDef {
            name: b.name,
            queue: b.queue,
            entry_points: b
                .entry_points
                .into_iter()
                .map(|e| app::services::EntryPoint {
                    kind: match e.kind {
                        Kind::Phone => K::Phone,
                        Kind::Chat => K::Chat,
                        Kind::Email => K::Email,
                        Kind::Web => K::Web,
                    },
                    address: e.address,
                })
                .collect(),
            hours: b.hours.map(|h| flow::Calendar {
                weekly: h
                    .weekly
                    .into_iter()
                    .map(|s| flow::model::Session {
                        days: s.days,
                        open: s.open,
                        close: s.close,
                    })
                    .collect(),
                bank_holidays: h.bank_holidays,
                exceptions: h
                    .exceptions
                    .into_iter()
                    .map(|e| flow::model::Exception {
                        date: e.date,
                        open: e.open,
                        close: e.close,
                    })
                    .collect(),
            }),
            flow: b.flow,
            recording: b.recording.map(Into::into),
            chat: b.chat.map(|c| app::services::ChatRule {
                max_attachment_bytes: c.max_attachment_bytes,
                retention_days: c.retention_days,
            }),
            survey: b.survey.map(|s| app::services::SurveyRule {
                question: s.question,
                expires_hours: s.expires_hours,
                quiet_hours: s.quiet_hours,
            }),
        }
    }
}

impl From<&ServiceDef> for ServiceBody {
    fn from(d: &ServiceDef) -> ServiceBody {
        use app::services::Kind as K;
        ServiceBody {
            name: d.name.clone(),
            queue: d.queue,
            entry_points: d
                .entry_points
                .iter()
                .map(|e| EntryPoint {
                    kind: match e.kind {
                        K::Phone => Kind::Phone,
                        K::Chat => Kind::Chat,
                        K::Email => Kind::Email,
                        K::Web => Kind::Web,
                    },
                    address: e.address.clone(),
                })
                .collect(),
            hours: d.hours.as_ref().map(|h| Calendar {
                weekly: h
                    .weekly
                    .iter()
                    .map(|s| Session {
                        days: s.days.clone(),
                        open: s.open.clone(),
                        close: s.close.clone(),
                    })
                    .collect(),
                bank_holidays: h.bank_holidays.clone(),
                exceptions: h
                    .exceptions
                    .iter()
                    .map(|e| Exception {
                        date: e.date.clone(),
                        open: e.open.clone(),
                        close: e.close.clone(),
                    })
                    .collect(),
            }),
            flow: d.flow.clone(),
            recording: d.recording.map(Into::into),
            chat: d.chat.map(|c| ChatRuleBody {
                max_attachment_bytes: c.max_attachment_bytes,
                retention_days: c.retention_days,
            }),
            survey: d.survey.as_ref().map(|s| SurveyBody {
                question: s.question.clone(),
                expires_hours: s.expires_hours,
                quiet_hours: s.quiet_hours.clone(),
            }),
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct ServiceId {
    id: u32,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Service {
    id: u32,
    open_now: bool,
    service: ServiceBody,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Services {
    services: Vec<Service>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Removed {
    id: u32,
    removed: bool,
}

pub(crate) async fn put_service(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Extension(edge): Extension<crate::VoiceEdge>,
    Path(id): Path<u32>,
    b: Body<ServiceBody>,
) -> Response {
    let mut def = ServiceDef::from(tryr!(body(b)));
    let unprocessable = |m: String| error(StatusCode::UNPROCESSABLE_ENTITY, m);
    if def.name.trim().is_empty() || def.name.chars().count() > 200 {
        return unprocessable("name: 1 to 200 characters".into());
    }
    if def.entry_points.len() > MAX_ENTRY_POINTS {
        return unprocessable(format!("entry_points: at most {MAX_ENTRY_POINTS}"));
    }
    let mut points = Vec::new();
    for e in &mut def.entry_points {
        e.address =
            tryr!(canonical(e.kind, &e.address)
                .map_err(|m| unprocessable(format!("entry_points: {m}"))));
        let p = (e.kind.name().to_string(), e.address.clone());
        if points.contains(&p) {
            return unprocessable(format!("entry_points: {} given twice", e.address));
        }
        points.push(p);
    }
    if let Some(p) = def.recording.as_ref().and_then(|r| r.problem()) {
        return unprocessable(p);
    }
    if let Some(p) = def.survey.as_ref().and_then(|r| r.problem()) {
        return unprocessable(p);
    }
    if let Some(p) = def.chat.as_ref().and_then(|r| r.problem()) {
        return unprocessable(p);
    }
    if let Some(h) = &def.hours {
        tryr!(flow::Hours::compile(h).map_err(|m| unprocessable(format!("hours: {m}"))));
    }
    if let Some(f) = &def.flow {
        let known = edge.0.as_ref().map(|v| v.has_flow(f));
        match known {
            Some(true) => {}
            Some(false) => return unprocessable(format!("flow: no call flow {f:?} is loaded")),
            None if f.is_empty() || f.len() > 100 => {
                return unprocessable("flow: 1 to 100 characters".into())
            }
            None => {}
        }
    }
    let q = QueueId(def.queue);
    let known = tryr!(
        app.read(c.org, move |t, _| t.engine.queue_view(q).is_some())
            .await
    );
    if !known {
        return unprocessable(format!("queue: no queue {q} in this organisation"));
    }
    let audit = c.audit("change configuration", format!("service {id}"));
    let text = serde_json::to_string(&def).unwrap_or_default();
    let org = c.org;
    match app
        .dir(move |d| d.put_service(org, id, &text, &points, &audit))
        .await
    {
        Ok(true) => (StatusCode::CREATED, Json(ServiceId { id })).into_response(),
        Ok(false) => Json(ServiceId { id }).into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

pub(crate) async fn list_services(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
) -> Response {
    let now = crate::wall_clock();
    let org = c.org;
    match app.dir(move |d| d.services(org)).await {
        Ok(v) => {
            let services = v
                .into_iter()
                .filter_map(|(id, text)| {
                    let def: ServiceDef = serde_json::from_str(&text).ok()?;
                    Some(Service {
                        id,
                        open_now: is_open(&def, now),
                        service: ServiceBody::from(&def),
                    })
                })
                .collect();
            Json(Services { services }).into_response()
        }
        Err(r) => crate::error::Answer::answer(r),
    }
}

pub(crate) async fn delete_service(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
) -> Response {
    let audit = c.audit("change configuration", format!("remove service {id}"));
    let org = c.org;
    match app.dir(move |d| d.delete_service(org, id, &audit)).await {
        Ok(true) => Json(Removed { id, removed: true }).into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("unknown service {id}")),
        Err(r) => crate::error::Answer::answer(r),
    }
}
