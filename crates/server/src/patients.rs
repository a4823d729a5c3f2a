//! The patient directory: entries, reads with a purpose, the screen pop,
//! and the auditor's "who accessed patient X". Every read is audited and
//! never cached.

use crate::error::{body, tryr, Body};
use crate::{error, App, Caller};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::{ContactId, NhsNumber, Patient};
use serde::Deserialize;
use serde_json::json;

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
    tryr!(crate::contacts::own_contact(&app, &c, ContactId(id)).await);
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
