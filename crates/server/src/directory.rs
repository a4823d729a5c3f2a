//! The DoS lead's API: find a service, read its profile in the directory
//! file's shape (`docs/dos-directory.md`), add, change or close it — each
//! change checked (a refused change names the field and leaves the profile
//! as it was), stored with an audit record saying who changed what, and in
//! force for the next search — and the whole directory as a file.

use crate::error::{body, tryr, Body};
use crate::{error, App, Caller};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use dos::file::{self, ServiceFile};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The audit action of every change to the directory; the subject starts
/// `service {id}:`.
pub(crate) const CHANGE: &str = "change directory of services";

/// The audit subject of a change to service `id`.
pub(crate) fn subject(id: u64, what: &str) -> String {
    let mut s = format!("service {id}: {what}");
    if s.len() > 2000 {
        let mut cut = 1990;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str(" ...");
    }
    s
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Services whose name, id, ODS code or postcode holds this (any case).
    #[serde(default)]
    #[schemars(length(max = 100))]
    q: Option<String>,
    /// Only this service type.
    #[serde(default)]
    type_id: Option<u32>,
    /// At most this many (50; up to 500).
    #[serde(default)]
    #[schemars(range(min = 1, max = 500))]
    limit: Option<usize>,
}

/// A service and what it is now.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ServiceEntry {
    /// The number the API addresses it by.
    id: u64,
    service: ServiceFile,
    /// Its capacity at this moment (a setting past its reset is green).
    capacity_now: crate::wire::Rag,
    /// The service type's name, when the directory names it.
    type_name: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct ServiceList {
    /// How many matched (before `limit`).
    total: usize,
    services: Vec<ServiceEntry>,
}

/// One change to a service, from the audit log.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Change {
    at: crate::wire::Millis,
    actor: String,
    what: String,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct ServiceDetail {
    #[serde(flatten)]
    entry: ServiceEntry,
    /// Newest first (at most 50).
    history: Vec<Change>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct ServiceSaved {
    #[serde(flatten)]
    entry: ServiceEntry,
    /// The fields that changed (none for a new service).
    changed: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DosClose")]
pub(crate) struct CloseBody {
    /// The status it closes with (one lower-case word); default `closed`.
    #[serde(default)]
    #[schemars(length(max = 32))]
    status: Option<String>,
}

fn entry(dir: &dos::Directory, s: &dos::Service) -> ServiceEntry {
    ServiceEntry {
        id: s.id,
        service: ServiceFile::from_service(s),
        capacity_now: dos::Capacity::at(&s.capacity, crate::wall_clock()).into(),
        type_name: dir.service_types.get(&s.type_id).cloned(),
    }
}

/// `GET /dos/services`: find services.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > 500 {
        return error(StatusCode::BAD_REQUEST, "limit: 1 to 500".into());
    }
    let needle = q.q.unwrap_or_default().trim().to_lowercase();
    if needle.len() > 100 {
        return error(StatusCode::BAD_REQUEST, "q: at most 100 characters".into());
    }
    let all = app.clinical.dos.read().unwrap_or_else(|p| p.into_inner());
    let empty = dos::Directory::default();
    let dir = all.get(&c.org).unwrap_or(&empty);
    let matching: Vec<&dos::Service> = dir
        .services
        .iter()
        .filter(|s| q.type_id.is_none_or(|t| s.type_id == t))
        .filter(|s| {
            needle.is_empty()
                || s.name.to_lowercase().contains(&needle)
                || s.key().to_lowercase().contains(&needle)
                || s.postcode.to_lowercase().contains(&needle)
                || s.ods_code
                    .as_ref()
                    .is_some_and(|o| o.to_lowercase().contains(&needle))
        })
        .collect();
    Json(ServiceList {
        total: matching.len(),
        services: matching
            .into_iter()
            .take(limit)
            .map(|s| entry(dir, s))
            .collect(),
    })
    .into_response()
}

/// `GET /dos/services/{id}`: a service's profile and its change history.
pub(crate) async fn get_one(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    let found = {
        let all = app.clinical.dos.read().unwrap_or_else(|p| p.into_inner());
        all.get(&c.org)
            .and_then(|d| d.services.iter().find(|s| s.id == id).map(|s| entry(d, s)))
    };
    let Some(entry) = found else {
        return error(StatusCode::NOT_FOUND, format!("unknown service {id}"));
    };
    let org = c.org;
    let prefix = format!("service {id}:");
    let history = tryr!(app
        .dir(move |d| d.audit_by_subject(org, CHANGE, &prefix, 50))
        .await
        .map_err(crate::error::api));
    Json(ServiceDetail {
        entry,
        history: history
            .into_iter()
            .map(|r| Change {
                at: r.at.0,
                actor: r.actor,
                what: r
                    .subject
                    .split_once(": ")
                    .map(|(_, w)| w.to_string())
                    .unwrap_or(r.subject),
            })
            .collect(),
    })
    .into_response()
}

/// The paths at which two JSON documents differ, with both values
/// (objects compared key by key, anything else whole).
fn differences(path: &str, old: &Value, new: &Value, out: &mut Vec<(String, String)>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                differences(
                    &p,
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (a, b) if a != b && path == "referral_url" => {
            out.push((path.to_string(), format!("{} -> {}", origin(a), origin(b))));
        }
        (a, b) if a != b => {
            let short = |v: &Value| {
                let t = v.to_string();
                if t.len() > 120 {
                    format!("{}...", t.chars().take(117).collect::<String>())
                } else {
                    t
                }
            };
            out.push((path.to_string(), format!("{} -> {}", short(a), short(b))));
        }
        _ => {}
    }
}

/// An endpoint URL as the audit shows it: scheme and host only (a URL may
/// carry credentials or a token).
pub(crate) fn origin(v: &Value) -> String {
    match v.as_str() {
        None => "none".into(),
        Some(u) => match u.parse::<hyper::Uri>() {
            Ok(uri) => format!(
                "{}://{}",
                uri.scheme_str().unwrap_or("?"),
                uri.host().unwrap_or("?")
            ),
            Err(_) => "(not a URL)".into(),
        },
    }
}

/// The service checked against the organisation's directory and the
/// pathway set's dispositions.
fn checked(app: &App, c: &Caller, f: &ServiceFile) -> Result<dos::Service, Response> {
    let known = app
        .clinical
        .pathways
        .set
        .dispositions
        .iter()
        .map(|d| d.code.clone())
        .collect();
    let all = app.clinical.dos.read().unwrap_or_else(|p| p.into_inner());
    let empty = dos::Directory::default();
    let dir = all.get(&c.org).unwrap_or(&empty);
    f.check("", dir, Some(&known))
        .map_err(|e| error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
}

/// `POST /dos/services`: a new service, in force for the next search.
pub(crate) async fn create(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<ServiceFile>,
) -> Response {
    let f = tryr!(body(b));
    let s = tryr!(checked(&app, &c, &f));
    let id = s.id;
    let audit = c.audit(CHANGE, subject(id, &format!("added {} ({})", f.id, f.name)));
    let json = serde_json::to_string(&s).unwrap_or_default();
    let clinical = app.clinical.clone();
    let org = c.org;
    let stored = s.clone();
    let added = tryr!(app
        .dir(move |d| {
            // The check for a clash and the insert under one turn of the
            // directory; the in-memory copy follows the stored one.
            if !d.insert_dos_service(org, id, &json, &audit)? {
                return Ok(false);
            }
            let mut all = clinical.dos.write().unwrap_or_else(|p| p.into_inner());
            all.entry(org).or_default().services.push(stored);
            Ok(true)
        })
        .await
        .map_err(crate::error::api));
    if !added {
        return error(
            StatusCode::CONFLICT,
            format!("id: a service '{}' is already in the directory", f.id),
        );
    }
    let all = app.clinical.dos.read().unwrap_or_else(|p| p.into_inner());
    let empty = dos::Directory::default();
    let dir = all.get(&c.org).unwrap_or(&empty);
    (
        StatusCode::CREATED,
        Json(ServiceSaved {
            entry: entry(dir, &s),
            changed: Vec::new(),
        }),
    )
        .into_response()
}

/// `PUT /dos/services/{id}`: the service's profile replaced (its capacity
/// and referral endpoint stay as stored: they have their own endpoints).
pub(crate) async fn change(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    b: Body<ServiceFile>,
) -> Response {
    let f = tryr!(body(b));
    let exists = {
        let all = app.clinical.dos.read().unwrap_or_else(|p| p.into_inner());
        all.get(&c.org)
            .is_some_and(|d| d.services.iter().any(|s| s.id == id))
    };
    if !exists {
        return error(StatusCode::NOT_FOUND, format!("unknown service {id}"));
    }
    let new = tryr!(checked(&app, &c, &f));
    if new.id != id {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "id: '{}' is service {}, not {id} (an id cannot change: close this one and add another)",
                f.id, new.id
            ),
        );
    }
    // Capacity and the referral endpoint have their own endpoints (and
    // their own audit): a profile keeps what is stored for them.
    replace(&app, &c, id, move |current| dos::Service {
        capacity: current.capacity.clone(),
        referral_url: current.referral_url.clone(),
        ..new
    })
    .await
}

/// `POST /dos/services/{id}/close`: no longer returned by searches.
pub(crate) async fn close(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    b: Body<CloseBody>,
) -> Response {
    let b = tryr!(body(b));
    let status = b.status.unwrap_or_else(|| "closed".into());
    if status == "active"
        || status.is_empty()
        || status.len() > 32
        || !status
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch == '_' || ch == '-')
    {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "status: one lower-case word saying why (e.g. closed), not active".into(),
        );
    }
    replace(&app, &c, id, move |s| dos::Service {
        active: false,
        status: Some(status),
        ..s.clone()
    })
    .await
}

/// Replaces service `id` by what `make` makes of the stored one, audited
/// with the fields that changed (old -> new); unchanged: nothing stored.
/// Read, change, store and put in force all in one turn of the directory,
/// so a change made meanwhile (a capacity, an endpoint) is never
/// overwritten by a stale copy.
async fn replace(
    app: &App,
    c: &Caller,
    id: u64,
    make: impl FnOnce(&dos::Service) -> dos::Service + Send + 'static,
) -> Response {
    let caller = c.clone();
    let (new, changed) = tryr!(
        crate::referral::change_service(app, c, id, move |current| {
            let new = make(current);
            let mut diffs = Vec::new();
            differences(
                "",
                &serde_json::to_value(ServiceFile::from_service(current)).unwrap_or_default(),
                &serde_json::to_value(ServiceFile::from_service(&new)).unwrap_or_default(),
                &mut diffs,
            );
            let changed: Vec<String> = diffs.iter().map(|(p, _)| p.clone()).collect();
            if diffs.is_empty() {
                return (None, changed);
            }
            let what = diffs
                .iter()
                .map(|(p, v)| format!("{p}: {v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let audit = caller.audit(CHANGE, subject(id, &format!("changed {what}")));
            (Some((new, audit)), changed)
        })
        .await
    );
    let all = app.clinical.dos.read().unwrap_or_else(|p| p.into_inner());
    let empty = dos::Directory::default();
    let dir = all.get(&c.org).unwrap_or(&empty);
    Json(ServiceSaved {
        entry: entry(dir, &new),
        changed,
    })
    .into_response()
}

/// `GET /dos/directory`: the organisation's whole directory as a file.
pub(crate) async fn export(State(app): State<App>, Extension(c): Extension<Caller>) -> Response {
    let all = app.clinical.dos.read().unwrap_or_else(|p| p.into_inner());
    let empty = dos::Directory::default();
    let dir = all.get(&c.org).unwrap_or(&empty);
    Json(file::export(dir)).into_response()
}
