//! Services and their entry points: the phone numbers, chat widgets, email
//! addresses and web forms by which people reach a queue, with the
//! service's opening hours (Europe/London, bank holidays and dated
//! exceptions). A contact can arrive by entry point instead of queue; a
//! closed service refuses live contacts (calls, chats) and still takes
//! emails and web callback requests, which wait for it to open.

use crate::handlers::{body, tryr, Body};
use crate::{error, App, Caller};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::{Channel, PhoneNumber, QueueId};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Phone,
    Chat,
    Email,
    /// A web form asking for a callback.
    Web,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Phone => "phone",
            Kind::Chat => "chat",
            Kind::Email => "email",
            Kind::Web => "web",
        }
    }

    /// The entry point a contact of this channel arrives by.
    pub(crate) fn of(channel: Channel) -> Kind {
        match channel {
            Channel::Voice | Channel::Sms => Kind::Phone,
            Channel::Chat => Kind::Chat,
            Channel::Email => Kind::Email,
            Channel::Callback | Channel::Outbound => Kind::Web,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntryPoint {
    kind: Kind,
    address: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceDef {
    name: String,
    /// The queue its contacts join.
    queue: u32,
    #[serde(default)]
    entry_points: Vec<EntryPoint>,
    /// Opening hours; none: always open.
    #[serde(default)]
    hours: Option<flow::Calendar>,
    /// The call flow a phone call to this service runs (IVR); none: the
    /// caller joins `queue` at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flow: Option<String>,
}

impl ServiceDef {
    /// A stored definition.
    pub(crate) fn parse(text: &str) -> Option<ServiceDef> {
        serde_json::from_str(text).ok()
    }

    pub(crate) fn flow(&self) -> Option<&str> {
        self.flow.as_deref()
    }

    pub(crate) fn queue(&self) -> QueueId {
        QueueId(self.queue)
    }

    pub(crate) fn open_now(&self) -> bool {
        is_open(self, crate::wall_clock())
    }
}

/// Most entry points one service has.
const MAX_ENTRY_POINTS: usize = 50;

/// An address in its one canonical form, or what is wrong with it.
pub(crate) fn canonical(kind: Kind, address: &str) -> Result<String, String> {
    let a = address.trim();
    match kind {
        Kind::Phone => PhoneNumber::parse(a)
            .map(|p| p.expose().to_string())
            .map_err(|e| e.to_string()),
        Kind::Email => {
            let ok = a.len() <= 254
                && a.split_once('@').is_some_and(|(l, d)| {
                    !l.is_empty() && d.contains('.') && !a.contains(char::is_whitespace)
                });
            if ok {
                Ok(a.to_ascii_lowercase())
            } else {
                Err("email: not an email address".into())
            }
        }
        Kind::Chat | Kind::Web => {
            let ok = (1..=64).contains(&a.len())
                && a.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if ok {
                Ok(a.to_string())
            } else {
                Err(format!(
                    "{}: 1 to 64 lower-case letters, digits and -",
                    kind.name()
                ))
            }
        }
    }
}

pub(crate) async fn put_service(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
    b: Body<ServiceDef>,
) -> Response {
    let mut def = tryr!(body(b));
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
    if let Some(h) = &def.hours {
        tryr!(flow::Hours::compile(h).map_err(|m| unprocessable(format!("hours: {m}"))));
    }
    if let Some(f) = &def.flow {
        let known = app.voice.get().map(|v| v.has_flow(f));
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
        Ok(true) => (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        Ok(false) => Json(json!({ "id": id })).into_response(),
        Err(r) => r,
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
            let list: Vec<serde_json::Value> = v
                .into_iter()
                .filter_map(|(id, text)| {
                    let def: ServiceDef = serde_json::from_str(&text).ok()?;
                    let open = is_open(&def, now);
                    Some(json!({ "id": id, "open_now": open, "service": def }))
                })
                .collect();
            Json(json!({ "services": list })).into_response()
        }
        Err(r) => r,
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
        Ok(true) => Json(json!({ "id": id, "removed": true })).into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("unknown service {id}")),
        Err(r) => r,
    }
}

fn is_open(def: &ServiceDef, now: model::Timestamp) -> bool {
    def.hours
        .as_ref()
        .and_then(|h| flow::Hours::compile(h).ok())
        .is_none_or(|h| h.is_open(now))
}

/// The queue a contact arriving at `address` by `channel` joins, if the
/// service is open (or the channel can wait for it to open).
pub(crate) async fn resolve(
    app: &App,
    c: &Caller,
    channel: Channel,
    address: &str,
) -> Result<QueueId, Response> {
    let kind = Kind::of(channel);
    let address = canonical(kind, address).map_err(|m| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("entry_point: {m}"),
        )
    })?;
    let (org, kind_name, at) = (c.org, kind.name(), address.clone());
    let found = app.dir(move |d| d.service_for(org, kind_name, &at)).await?;
    let Some((_, text)) = found else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!(
                "entry_point: no service answers this {} entry point",
                kind.name()
            ),
        ));
    };
    let def: ServiceDef = serde_json::from_str(&text).map_err(|_| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service's stored definition cannot be read".into(),
        )
    })?;
    let live = matches!(channel, Channel::Voice | Channel::Chat);
    if live && !is_open(&def, crate::wall_clock()) {
        return Err(error(
            StatusCode::CONFLICT,
            format!("{} is closed now", def.name),
        ));
    }
    Ok(QueueId(def.queue))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_have_one_canonical_form() {
        assert_eq!(
            canonical(Kind::Phone, "01622 000 111").unwrap(),
            "+441622000111"
        );
        assert_eq!(
            canonical(Kind::Email, " Wheelchairs@Kent.Example ").unwrap(),
            "wheelchairs@kent.example"
        );
        assert!(canonical(Kind::Email, "not-an-address").is_err());
        assert!(canonical(Kind::Chat, "Physio Widget").is_err());
        assert_eq!(
            canonical(Kind::Web, "physio-callback").unwrap(),
            "physio-callback"
        );
    }
}
