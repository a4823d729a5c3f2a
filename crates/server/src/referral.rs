//! Referrals: a contact's saved assessment sent to the chosen service as a
//! FHIR R4 message Bundle in the shape of the UK Booking and Referral
//! Standard (MessageHeader, ServiceRequest with the SG/SD/Dx codes,
//! Encounter, Patient, Organization, Location), through an outbox: the
//! referral is stored (with its audit record) before anything is sent, and
//! a worker sends it until the service's endpoint accepts it, backing off
//! while the endpoint is down. Nothing is lost when the receiver is down
//! or the server restarts.

use crate::error::{body, tryr, Body};
use crate::outbound::Outbound;
use crate::{error, wall_clock, App, Caller};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::{ContactId, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Endpoint")]
pub(crate) struct EndpointBody {
    /// `https://host[:port]/path` taking a FHIR message bundle (plain
    /// `http://` and non-public addresses only for hosts on the server's
    /// `--outbound-allow` list).
    url: String,
}

/// One of the organisation's DoS services and the directory's bank
/// holidays, or 404.
fn find_service(
    app: &App,
    c: &Caller,
    id: u64,
) -> Result<(dos::Service, std::collections::BTreeSet<jiff::civil::Date>), Response> {
    let all = app.clinical.dos.read().unwrap_or_else(|p| p.into_inner());
    all.get(&c.org)
        .and_then(|d| {
            d.services
                .iter()
                .find(|s| s.id == id)
                .map(|s| (s.clone(), d.bank_holidays.clone()))
        })
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("unknown service {id}")))
}

/// Changes one of the organisation's DoS services: `change` sees the
/// stored service and gives the changed one with its audit record (or
/// nothing to store) and anything else the caller wants back. Read,
/// stored (with the audit record) and put in force for searches in one
/// turn of the directory on the blocking pool, so concurrent edits never
/// work from a stale copy, are stored and put in force in the same order,
/// and the runtime never waits for the disk. Answers the service as it is
/// now.
pub(crate) async fn change_service<T: Send + 'static>(
    app: &App,
    c: &Caller,
    id: u64,
    change: impl FnOnce(&dos::Service) -> (Option<(dos::Service, store::AuditRecord)>, T)
        + Send
        + 'static,
) -> Result<(dos::Service, T), Response> {
    let clinical = app.clinical.clone();
    let org = c.org;
    let unknown = || error(StatusCode::NOT_FOUND, format!("unknown service {id}"));
    let changed = app
        .dir(move |dir| {
            let current = {
                let all = clinical.dos.read().unwrap_or_else(|p| p.into_inner());
                all.get(&org)
                    .and_then(|d| d.services.iter().find(|s| s.id == id))
                    .cloned()
            };
            let Some(current) = current else {
                return Ok(None);
            };
            let (store, extra) = change(&current);
            let Some((changed, audit)) = store else {
                return Ok(Some((current, extra)));
            };
            let text = serde_json::to_string(&changed).unwrap_or_default();
            if !dir.update_dos_service(org, id, &text, &audit)? {
                return Ok(None);
            }
            let mut all = clinical.dos.write().unwrap_or_else(|p| p.into_inner());
            if let Some(s) = all
                .get_mut(&org)
                .and_then(|d| d.services.iter_mut().find(|s| s.id == id))
            {
                *s = changed.clone();
            }
            Ok(Some((changed, extra)))
        })
        .await
        .map_err(crate::error::api)?;
    changed.ok_or_else(unknown)
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct EndpointSet {
    id: u64,
    referral_url: String,
}

/// A service's capacity as set, with who and when.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Capacity {
    rag: crate::wire::Rag,
    set_by: String,
    set_at: crate::wire::Millis,
    /// Back to green then.
    reset_at: crate::wire::Millis,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct CapacitySet {
    id: u64,
    capacity: Option<Capacity>,
}

/// A referral's delivery.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// In the outbox, sent until the service accepts it.
    Pending,
}

/// A referral queued to be sent.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Referred {
    id: u64,
    status: Status,
    service: String,
    /// The FHIR message's id.
    message: String,
}

/// A referral and whether it was delivered.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Referral {
    id: u64,
    /// The DoS service.
    service: u64,
    /// `pending`, `delivered` or `failed`.
    status: String,
    attempts: u32,
    last_error: Option<String>,
    created: crate::wire::Millis,
    delivered: Option<crate::wire::Millis>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Referrals {
    referrals: Vec<Referral>,
}

/// Sets where a DoS service takes electronic referrals.
pub(crate) async fn set_endpoint(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Extension(outbound): Extension<Arc<Outbound>>,
    Path(id): Path<u64>,
    b: Body<EndpointBody>,
) -> Response {
    let b = tryr!(body(b));
    tryr!(outbound
        .check_url(&b.url)
        .map_err(|m| error(StatusCode::UNPROCESSABLE_ENTITY, m)));
    let audit = c.audit(
        crate::directory::CHANGE,
        crate::directory::subject(
            id,
            &format!(
                "referral endpoint set to {}",
                crate::directory::origin(&serde_json::Value::String(b.url.clone()))
            ),
        ),
    );
    let url = b.url.clone();
    tryr!(
        change_service(&app, &c, id, move |s| {
            let changed = dos::Service {
                referral_url: Some(url),
                ..s.clone()
            };
            (Some((changed, audit)), ())
        })
        .await
    );
    Json(EndpointSet {
        id,
        referral_url: b.url,
    })
    .into_response()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Refer")]
pub(crate) struct ReferBody {
    /// The DoS service chosen.
    service: u64,
}

/// Refers a contact to a service: its latest saved assessment as a FHIR
/// message, into the outbox (audited), sent by the worker.
pub(crate) async fn refer(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    b: Body<ReferBody>,
) -> Response {
    let b = tryr!(body(b));
    tryr!(crate::contacts::own_contact(&app, &c, ContactId(id)).await);
    let (service, _) = tryr!(find_service(&app, &c, b.service));
    let Some(url) = service.referral_url.clone() else {
        return error(
            StatusCode::CONFLICT,
            format!(
                "service: {} takes no electronic referrals; phone {}",
                service.name,
                service.phone.as_deref().unwrap_or("(no number listed)")
            ),
        );
    };
    let mut read = c.audit("read triage", format!("contact c{id} for a referral"));
    read.purpose = Some("referral".into());
    let org = c.org;
    let journeys = tryr!(
        app.dir(move |d| d.journeys(org, ContactId(id), &read))
            .await
    );
    let Some(journey) = journeys
        .last()
        .and_then(|t| serde_json::from_str::<crate::triage::SavedJourney>(t).ok())
    else {
        return error(
            StatusCode::CONFLICT,
            "contact: save an assessment before referring".into(),
        );
    };
    let caller = tryr!(app.dir(move |d| d.contact_caller(org, ContactId(id))).await);
    let nhs = caller.and_then(|w| w.nhs_number).map(|n| n.expose());
    let now = wall_clock();
    let message_id = format!("{:x}-{id}", now.0);
    let triage = journey.for_referral();
    let bundle = fhir::referral_bundle(&fhir::Referral {
        message_id: &message_id,
        now,
        triage: &triage,
        service: &service,
        nhs_number: nhs.as_deref(),
    });
    let mut audit = c.audit(
        "refer",
        format!(
            "contact c{id} to DoS service {} ({})",
            service.id, service.name
        ),
    );
    audit.purpose = Some("direct care".into());
    audit.patient = nhs;
    let (sid, body_text) = (service.id, bundle.to_string());
    let to = url.clone();
    let r = app
        .dir(move |d| d.create_referral(org, ContactId(id), sid, &to, &body_text, now, &audit))
        .await;
    let rid = tryr!(r);
    app.outbox.notify_one();
    (
        StatusCode::ACCEPTED,
        Json(Referred {
            id: rid,
            status: Status::Pending,
            service: service.name.clone(),
            message: message_id,
        }),
    )
        .into_response()
}

pub(crate) async fn list(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    tryr!(crate::contacts::own_contact(&app, &c, ContactId(id)).await);
    let org = c.org;
    match app.dir(move |d| d.referrals(org, ContactId(id))).await {
        Ok(v) => Json(Referrals {
            referrals: v
                .into_iter()
                .map(|r| Referral {
                    id: r.0,
                    service: r.1,
                    status: r.2,
                    attempts: r.3,
                    last_error: r.4,
                    created: r.5 .0,
                    delivered: r.6.map(|t| t.0),
                })
                .collect(),
        })
        .into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

/// The outbox worker: sends what is due, at once when woken, else every
/// few seconds; failures back off as `app::outbox` says.
pub(crate) async fn worker(app: App, wake: Arc<tokio::sync::Notify>, outbound: Arc<Outbound>) {
    loop {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), wake.notified()).await;
        let now = wall_clock();
        let due = match app.with_directory(move |d| d.due_referrals(now, 20)).await {
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                tracing::error!("referral outbox: {e}");
                continue;
            }
            None => return,
        };
        for (id, url, bundle, attempts) in due {
            let outcome = match outbound.post(&url, "application/fhir+json", bundle).await {
                Ok(s) if (200..300).contains(&s) => Ok(()),
                Ok(s) => Err(format!("the endpoint answered {s}")),
                Err(e) => Err(e),
            };
            let now = wall_clock();
            let outcome =
                outcome.map_err(|e| (e, Timestamp(now.0 + app::outbox::retry_after_ms(attempts))));
            if let Some(Err(e)) = app
                .with_directory(move |d| d.referral_attempt(id, now, outcome))
                .await
            {
                tracing::error!("referral outbox: {e}");
            }
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CapacityChange")]
pub(crate) struct CapacityBody {
    rag: crate::wire::Rag,
    /// Back to green after this many minutes (15 to 7,200: five days).
    #[schemars(range(min = 15, max = 7200))]
    reset_minutes: i64,
}

/// Sets a service's capacity, with who and when; it returns to green at
/// the reset time by itself.
pub(crate) async fn set_capacity(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    b: Body<CapacityBody>,
) -> Response {
    let b = tryr!(body(b));
    // Checked: a huge number of minutes is refused, not wrapped.
    let ms = b.reset_minutes.checked_mul(60_000).unwrap_or(i64::MAX);
    if !(dos::MIN_RESET_MS..=dos::MAX_RESET_MS).contains(&ms) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reset_minutes: 15 to 7200 (five days)".into(),
        );
    }
    let now = wall_clock();
    let capacity = dos::Capacity {
        rag: b.rag.into(),
        set_by: c.actor.clone(),
        set_at: now,
        reset_at: Timestamp(now.0 + ms),
    };
    let audit = c.audit(
        crate::directory::CHANGE,
        crate::directory::subject(
            id,
            &format!("capacity set {:?} for {} min", b.rag, b.reset_minutes),
        ),
    );
    let (changed, ()) = tryr!(
        change_service(&app, &c, id, move |s| {
            let changed = dos::Service {
                capacity: Some(capacity),
                ..s.clone()
            };
            (Some((changed, audit)), ())
        })
        .await
    );
    Json(CapacitySet {
        id,
        capacity: changed.capacity.as_ref().map(|c| Capacity {
            rag: c.rag.into(),
            set_by: c.set_by.clone(),
            set_at: c.set_at.0,
            reset_at: c.reset_at.0,
        }),
    })
    .into_response()
}

#[derive(Deserialize, Default, JsonSchema)]
pub(crate) struct FhirQuery {
    /// Near this postcode or district, e.g. `ME10`.
    #[serde(rename = "address-postalcode", default)]
    postalcode: Option<String>,
    /// At most this many (20).
    #[serde(rename = "_count", default)]
    #[schemars(range(min = 1, max = 100))]
    count: Option<usize>,
}

/// `GET /fhir/HealthcareService?address-postalcode=ME10&_count=20`: a
/// searchset bundle.
pub(crate) async fn fhir_search(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<axum::extract::Query<FhirQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let axum::extract::Query(q) =
        tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let count = q.count.unwrap_or(20);
    if count == 0 || count > 100 {
        return error(StatusCode::BAD_REQUEST, "_count: 1 to 100".into());
    }
    let prefix = q
        .postalcode
        .map(|p| p.to_ascii_uppercase().replace(' ', ""));
    let all = app.clinical.dos.read().unwrap_or_else(|p| p.into_inner());
    let list: Vec<&dos::Service> = all
        .get(&c.org)
        .map(|d| {
            d.services
                .iter()
                .filter(|s| {
                    prefix
                        .as_ref()
                        .is_none_or(|p| s.postcode.replace(' ', "").starts_with(p.as_str()))
                })
                .collect()
        })
        .unwrap_or_default();
    let found = list
        .iter()
        .take(count)
        .map(|s| fhir::healthcare_service(s))
        .collect();
    Json(fhir::searchset(found, list.len())).into_response()
}

/// One service as HealthcareService, Location or Organization.
async fn fhir_read(app: &App, c: &Caller, id: u64, kind: &str) -> Response {
    let (s, _) = tryr!(find_service(app, c, id));
    let v = match kind {
        "HealthcareService" => fhir::healthcare_service(&s),
        "Location" => fhir::location(&s, &id.to_string()),
        _ => fhir::organization(&s, &id.to_string()),
    };
    Json(v).into_response()
}

pub(crate) async fn fhir_service(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    fhir_read(&app, &c, id, "HealthcareService").await
}

pub(crate) async fn fhir_location(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    fhir_read(&app, &c, id, "Location").await
}

pub(crate) async fn fhir_organization(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    fhir_read(&app, &c, id, "Organization").await
}

/// Booking lead time and reach: slots from now to a week ahead.
const SLOT_WEEK_MS: i64 = 7 * 86_400_000;

/// `GET /dos/services/{id}/slots`: the service's slots for the coming
/// week as a FHIR R4 Bundle of Slot resources, free or busy.
pub(crate) async fn slots(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    let now = wall_clock();
    let to = Timestamp(now.0 + SLOT_WEEK_MS);
    let (s, holidays) = tryr!(find_service(&app, &c, id));
    let starts = dos::slots(&s, &holidays, now, to);
    let org = c.org;
    let booked = tryr!(app.dir(move |d| d.booked(org, id, now, to)).await);
    let booked: Vec<i64> = booked.into_iter().collect();
    Json(fhir::slots(id, &starts, &booked, dos::SLOT_MS)).into_response()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Book")]
pub(crate) struct BookBody {
    service: u64,
    /// The slot's start (RFC 3339), one of the service's free slots.
    #[schemars(extend("format" = "date-time"))]
    start: String,
}

/// Books a free slot for a contact: a FHIR R4 Appointment, audited; a
/// slot booked twice is refused.
pub(crate) async fn book(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(contact): Path<u64>,
    b: Body<BookBody>,
) -> Response {
    let b = tryr!(body(b));
    tryr!(crate::contacts::own_contact(&app, &c, ContactId(contact)).await);
    let Ok(start) = b.start.parse::<jiff::Timestamp>() else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "start: not an RFC 3339 time".into(),
        );
    };
    let start = start.as_millisecond();
    let now = wall_clock();
    let (s, holidays) = tryr!(find_service(&app, &c, b.service));
    if !dos::slots(&s, &holidays, now, Timestamp(now.0 + SLOT_WEEK_MS)).contains(&start) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("start: {} offers no slot then in the coming week", s.name),
        );
    }
    let mut audit = c.audit(
        "book appointment",
        format!(
            "contact c{contact} at {} {}",
            s.name,
            crate::reports::iso(Timestamp(start))
        ),
    );
    audit.purpose = Some("direct care".into());
    let (org, sid) = (c.org, s.id);
    let r = app
        .dir(move |d| d.book(org, sid, Timestamp(start), ContactId(contact), now, &audit))
        .await;
    let id = tryr!(r);
    (
        StatusCode::CREATED,
        Json(fhir::appointment(id, &s, start, dos::SLOT_MS)),
    )
        .into_response()
}
