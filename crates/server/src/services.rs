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
use serde_json::json;

pub(crate) async fn put_service(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Extension(edge): Extension<crate::VoiceEdge>,
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
        Ok(true) => (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        Ok(false) => Json(json!({ "id": id })).into_response(),
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
        Ok(true) => Json(json!({ "id": id, "removed": true })).into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("unknown service {id}")),
        Err(r) => crate::error::Answer::answer(r),
    }
}
