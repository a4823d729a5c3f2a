//! The patient directory: entries, reads with a purpose, the screen pop,
//! and the auditor's "who accessed patient X". Every read is audited and
//! never cached.

use crate::error::{body, tryr, Body};
use crate::{error, App, Caller};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::{ContactId, NhsNumber, PhoneNumber};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A patient's directory entry as given.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Patient")]
pub(crate) struct PatientBody {
    #[schemars(with = "crate::wire::NhsNumber")]
    nhs_number: NhsNumber,
    name: String,
    /// `YYYY-MM-DD`.
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    date_of_birth: String,
    #[serde(default)]
    #[schemars(with = "Vec<crate::wire::PhoneNumber>", length(max = 8))]
    phones: Vec<PhoneNumber>,
    /// The registered GP practice (ODS code, e.g. `G82001`).
    #[serde(default)]
    gp_practice: Option<String>,
}

impl From<PatientBody> for model::Patient {
    fn from(b: PatientBody) -> model::Patient {
        model::Patient {
            nhs_number: b.nhs_number,
            name: model::Sensitive::new(b.name),
            date_of_birth: model::Sensitive::new(b.date_of_birth),
            phones: b.phones,
            gp_practice: b.gp_practice,
        }
    }
}

/// A patient's directory entry.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "PatientEntry")]
pub(crate) struct Patient {
    #[schemars(with = "crate::wire::NhsNumber")]
    nhs_number: String,
    name: String,
    date_of_birth: String,
    phones: Vec<String>,
    gp_practice: Option<String>,
}

impl From<&model::Patient> for Patient {
    fn from(p: &model::Patient) -> Patient {
        Patient {
            nhs_number: p.nhs_number.expose(),
            name: p.name.expose().clone(),
            date_of_birth: p.date_of_birth.expose().clone(),
            phones: p.phones.iter().map(|n| n.expose().to_string()).collect(),
            gp_practice: p.gp_practice.clone(),
        }
    }
}

/// Whether the entry was new.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Stored {
    created: bool,
}

/// How the caller matched: by NHS number or phone, one patient or several.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Match {
    None,
    Single,
    Candidates,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct ScreenPop {
    #[serde(rename = "match")]
    matched: Match,
    patients: Vec<Patient>,
    /// The number the caller rang from, as it arrived (none: withheld,
    /// or not a call); read with the pop, and audited with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_number: Option<String>,
}

/// One access to patient data, as the audit trail keeps it.
#[derive(Serialize, JsonSchema)]
pub(crate) struct AuditRecord {
    at: crate::wire::Millis,
    org: Option<u32>,
    actor: String,
    action: String,
    subject: String,
    patient: Option<String>,
    purpose: Option<String>,
    origin: Option<String>,
    outcome: String,
}

impl From<store::AuditRecord> for AuditRecord {
    fn from(r: store::AuditRecord) -> AuditRecord {
        AuditRecord {
            at: r.at.0,
            org: r.org.map(|o| o.0),
            actor: r.actor,
            action: r.action,
            subject: r.subject,
            patient: r.patient,
            purpose: r.purpose,
            origin: r.origin,
            outcome: r.outcome,
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct AuditRecords {
    records: Vec<AuditRecord>,
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PurposeQuery {
    /// Why the record is read (the audit trail's "purpose of use"; direct
    /// care if not given).
    #[serde(default)]
    #[schemars(length(min = 1, max = 200))]
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
    b: Body<PatientBody>,
) -> Response {
    let nhs = tryr!(nhs_path(&nhs));
    let p = model::Patient::from(tryr!(body(b)));
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
        Ok(true) => no_store((StatusCode::CREATED, Json(Stored { created: true }))),
        Ok(false) => no_store((StatusCode::OK, Json(Stored { created: false }))),
        Err(r) => crate::error::Answer::answer(r),
    }
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatientQuery {
    /// Why the record is read (direct care if not given).
    #[serde(default)]
    #[schemars(length(min = 1, max = 200))]
    purpose: Option<String>,
    /// Break the glass: why a record is read with no contact about this
    /// patient (10 to 500 characters). The read is flagged for the
    /// auditor's review.
    #[serde(default)]
    #[schemars(length(min = 10, max = 500))]
    break_glass: Option<String>,
}

/// Least and most characters of a break-glass reason.
const REASON_CHARS: (usize, usize) = (10, 500);

/// Whether the caller is on a live contact about this patient: one whose
/// caller gave this NHS number, with them (agents and clinicians) or
/// anywhere in the organisation (supervisors).
async fn on_contact_about(app: &App, c: &Caller, nhs: &NhsNumber) -> Result<bool, Response> {
    let (org, n) = (c.org, *nhs);
    let contacts = app
        .dir(move |d| d.contacts_of_patient(org, &n))
        .await
        .map_err(|e| crate::ApiError::from(e).into_response())?;
    if contacts.is_empty() {
        return Ok(false);
    }
    let (agent, as_agent) = (c.agent, c.role.works_as_agent());
    app.read(c.org, move |t, _| {
        contacts.iter().any(|&id| {
            t.engine
                .contact(id)
                .is_some_and(|v| !as_agent || crate::contacts::is_with(&v, agent))
        })
    })
    .await
    .map_err(crate::error::api)
}

/// Reads a patient's entry. With a live contact about the patient, for
/// direct care; with none, only by breaking the glass (a reason, flagged
/// for review).
pub(crate) async fn get_patient(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(nhs): Path<String>,
    q: Result<Query<PatientQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let nhs = tryr!(nhs_path(&nhs));
    let Query(q) = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let why = q.purpose.unwrap_or_else(|| "direct care".into());
    if why.trim().is_empty() || why.len() > 200 {
        return error(
            StatusCode::BAD_REQUEST,
            "purpose: 1 to 200 characters".into(),
        );
    }
    let mut audit = c.audit("read patient", "patient directory entry".into());
    audit.purpose = Some(why);
    if !tryr!(on_contact_about(&app, &c, &nhs).await) {
        let Some(reason) = q.break_glass.map(|r| r.trim().to_string()) else {
            return crate::error::coded(
                StatusCode::FORBIDDEN,
                "break_glass_required",
                "you have no contact with this patient: to read the record anyway, give the reason (?break_glass=...); the read is flagged for the auditor's review".into(),
            );
        };
        let n = reason.chars().count();
        if n < REASON_CHARS.0 || n > REASON_CHARS.1 || reason.chars().any(char::is_control) {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "break_glass: a reason of {} to {} characters, no control characters",
                    REASON_CHARS.0, REASON_CHARS.1
                ),
            );
        }
        audit.purpose = Some(format!("break-glass: {reason}"));
        audit.outcome = store::review::BREAK_GLASS.into();
    }
    let org = c.org;
    let r = app
        .dir(move |d| d.find_patients(org, Some(&nhs), None, 1, &audit))
        .await;
    match r {
        Ok(v) if !v.is_empty() => no_store(Json(Patient::from(&v[0]))),
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
            let number = who.phone.as_ref().map(|p| p.expose().to_string());
            // An NHS number the caller gave is the stronger key.
            match who.nhs_number {
                Some(n) => dir.find_patients(org, Some(&n), None, MAX_CANDIDATES, &audit),
                None => dir.find_patients(org, None, who.phone.as_ref(), MAX_CANDIDATES, &audit),
            }
            .map(|f| Some((f, number)))
        })
        .await
    );
    let Some(found) = found else {
        return no_store(Json(ScreenPop {
            matched: Match::None,
            patients: vec![],
            caller_number: None,
        }));
    };
    let (found, caller_number) = found;
    let matched = match found.len() {
        0 => Match::None,
        1 => Match::Single,
        _ => Match::Candidates,
    };
    no_store(Json(ScreenPop {
        matched,
        patients: found.iter().map(Patient::from).collect(),
        caller_number,
    }))
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// At most this many records (1,000).
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
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
        Ok(records) => no_store(Json(AuditRecords {
            records: records.into_iter().map(AuditRecord::from).collect(),
        })),
        Err(r) => crate::error::Answer::answer(r),
    }
}
