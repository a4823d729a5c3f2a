//! Triage and the Directory of Services over HTTP: a contact's assessment
//! (replayed from its answers on every call, saved with its audit record
//! once it ends in a disposition) and the DoS search for the patient.

use crate::error::{body, tryr, Body};
use crate::{error, App, Caller};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::{ContactId, Timestamp};
use pathway::Now;
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

pub(crate) async fn info(State(app): State<App>) -> Response {
    let c = &app.clinical.pathways;
    Json(json!({
        "name": c.set.name, "version": c.set.version, "demo": c.set.demo, "hash": c.hash,
        "entry": c.set.entry, "dispositions": c.set.dispositions,
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TriageBody {
    /// The patient's state: `age_group` (`child`, `adult`), `sex`.
    #[serde(default)]
    state: BTreeMap<String, String>,
    /// Answers so far, by position (from 0).
    #[serde(default)]
    answers: Vec<usize>,
    /// Save the journey (it must have ended in a disposition).
    #[serde(default)]
    save: bool,
}

fn now_json(n: &Now<'_>) -> serde_json::Value {
    match n {
        Now::Question {
            pathway,
            node,
            text,
            answers,
        } => {
            json!({ "question": { "pathway": pathway, "node": node, "text": text, "answers": answers } })
        }
        Now::Ended {
            disposition,
            symptom_group,
            discriminators,
        } => json!({ "ended": { "disposition": disposition, "symptom_group": symptom_group,
            "discriminators": discriminators } }),
    }
}

/// The contact's assessment: replays the answers given so far and says
/// what comes next; with `save`, keeps the finished journey (audited).
pub(crate) async fn triage(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    b: Body<TriageBody>,
) -> Response {
    let b = tryr!(body(b));
    if b.state.len() > 20 || b.answers.len() > pathway::MAX_STEPS {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "answers: too many answers or state values".into(),
        );
    }
    tryr!(crate::contacts::own_contact(&app, &c, ContactId(id)).await);
    let set = &app.clinical.pathways;
    let journey = pathway::replay(set, &set.hash, &set.set.entry, b.state.clone(), &b.answers);
    let j = match journey {
        Ok(j) => j,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, format!("answers: {e}")),
    };
    let now = j.now();
    let mut saved = None;
    if b.save {
        let Now::Ended {
            disposition,
            symptom_group,
            discriminators,
        } = &now
        else {
            return error(
                StatusCode::CONFLICT,
                "save: the assessment has not reached a disposition".into(),
            );
        };
        let record = json!({
            "pathways": { "name": set.set.name, "version": set.set.version, "hash": set.hash, "demo": set.set.demo },
            "state": b.state, "answers": b.answers, "steps": j.steps,
            "disposition": disposition, "symptom_group": symptom_group, "discriminators": discriminators,
            "by": c.actor, "at": crate::wall_clock(),
        });
        let mut audit = c.audit(
            "save triage",
            format!("contact c{id} → {}", disposition.code),
        );
        audit.purpose = Some("direct care".into());
        let (org, text) = (c.org, record.to_string());
        let r = app
            .dir(move |d| d.save_journey(org, ContactId(id), &text, crate::wall_clock(), &audit))
            .await;
        saved = Some(tryr!(r));
    }
    Json(json!({
        "demo": set.set.demo, "hash": set.hash, "now": now_json(&now),
        "steps": j.steps, "state": j.state, "saved": saved,
    }))
    .into_response()
}

pub(crate) async fn saved_journeys(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    tryr!(crate::contacts::own_contact(&app, &c, ContactId(id)).await);
    let mut audit = c.audit("read triage", format!("contact c{id}"));
    audit.purpose = Some("direct care".into());
    let org = c.org;
    let r = app
        .dir(move |d| d.journeys(org, ContactId(id), &audit))
        .await;
    match r {
        Ok(list) => {
            let v: Vec<serde_json::Value> = list
                .iter()
                .filter_map(|t| serde_json::from_str(t).ok())
                .collect();
            Json(json!({ "journeys": v })).into_response()
        }
        Err(r) => crate::error::Answer::answer(r),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchBody {
    postcode: String,
    age_years: u32,
    sex: dos::Sex,
    #[serde(default)]
    gp_practice: Option<String>,
    symptom_group: u32,
    #[serde(default)]
    discriminators: Vec<u32>,
    disposition: String,
    /// The search time (RFC 3339); default now. At most a minute in the
    /// past or a year ahead.
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    distance_km: Option<u32>,
    /// `dos`: answer in the shape of the NHS DoS CheckCapacitySummary
    /// response.
    #[serde(default)]
    format: Option<String>,
}

/// The DoS search for a patient and a disposition.
pub(crate) async fn search(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<SearchBody>,
) -> Response {
    let b = tryr!(body(b));
    let bad = |m: String| error(StatusCode::UNPROCESSABLE_ENTITY, m);
    let clinical = &app.clinical;
    let Some(district) = dos::outward(&b.postcode) else {
        return bad("postcode: not a UK postcode".into());
    };
    let Some(&location) = clinical.centroids.get(&district) else {
        return bad(format!(
            "postcode: district {district} is not known to the directory"
        ));
    };
    let Some(d) = clinical.pathways.disposition(&b.disposition) else {
        return bad(format!(
            "disposition: {} is not a disposition of the pathway set",
            b.disposition
        ));
    };
    if b.age_years > 130 {
        return bad("age_years: at most 130".into());
    }
    let now = crate::wall_clock();
    let at = match &b.at {
        None => now,
        Some(s) => match s.parse::<jiff::Timestamp>() {
            Ok(t) => Timestamp(t.as_millisecond()),
            Err(_) => return bad("at: not an RFC 3339 time".into()),
        },
    };
    if at.0 < now.0 - 60_000 || at.0 > now.0 + 366 * 86_400_000 {
        return bad("at: at most a minute in the past and a year ahead".into());
    }
    // The search under the directory's read lock; the lock is let go
    // before the gaps are written.
    let (response, gap_rows) = {
        let empty = dos::Directory::default();
        let all = clinical.dos.read().unwrap_or_else(|p| p.into_inner());
        let dir = all.get(&c.org).unwrap_or(&empty);
        let q = dos::Query {
            location,
            district: Some(district),
            age_days: dos::age_days(b.age_years, 0, 0),
            sex: b.sex,
            gp_practice: b.gp_practice,
            symptom_group: b.symptom_group,
            discriminators: b.discriminators,
            disposition: b.disposition.clone(),
            timeframe_minutes: d.timeframe_minutes,
            at,
            forced_distance_km: None,
            distance_km: b.distance_km,
        };
        let r = match dos::search(dir, &q) {
            Ok(r) => r,
            Err(e) => return bad(e.to_string()),
        };
        // The commissioner's view: what failed where.
        let mut counted: BTreeMap<(u32, String), u32> = BTreeMap::new();
        for g in &r.gaps {
            let f = serde_json::to_value(g.failed)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            *counted.entry((g.type_id, f)).or_default() += 1;
        }
        let gap_rows: Vec<(String, u32, String, u32)> = counted
            .into_iter()
            .map(|((t, f), n)| (q.district.clone().unwrap_or_default(), t, f, n))
            .collect();
        let by_id: HashMap<u64, &dos::Service> = dir.services.iter().map(|s| (s.id, s)).collect();
        let results: Vec<serde_json::Value> = r
        .results
        .iter()
        .map(|f| {
            let s = by_id[&f.id];
            json!({ "found": f, "postcode": s.postcode, "phone": s.phone, "ods_code": s.ods_code,
                    "referral": s.professional_text })
        })
        .collect();
        let searched = dir.services.len();
        let as_dos = match b.format.as_deref() {
            None => false,
            Some("dos") => true,
            Some(_) => return bad("format: dos, or leave it out".into()),
        };
        let dos_shape = as_dos.then(|| dos::DosResponse {
            results: r
                .results
                .iter()
                .map(|f| dos::DosService::from_service(by_id[&f.id], f.distance_km, at))
                .collect(),
        });
        let response = match dos_shape {
            Some(d) => Json(d).into_response(),
            None => Json(json!({
                "disposition": d, "distance_km": r.distance_km, "services_searched": searched,
                "results": results, "gaps": r.gaps,
            }))
            .into_response(),
        };
        (response, gap_rows)
    };
    let org = c.org;
    if let Some(Err(e)) = app
        .with_directory(move |d| d.log_gaps(org, now, &gap_rows))
        .await
    {
        tracing::error!("recording DoS gaps: {e}");
    }
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClinicalBody {
    /// The clinical callback queue.
    queue: u32,
}

/// A clinical callback for a contact whose saved assessment needs a
/// clinician: a callback contact due now in the clinical queue, with a
/// deadline from the disposition's timeframe and a priority that puts the
/// earliest deadline first (see `app::clinical::CLINICAL_BASE`).
pub(crate) async fn clinical_callback(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    b: Body<ClinicalBody>,
) -> Response {
    let b = tryr!(body(b));
    tryr!(crate::contacts::own_contact(&app, &c, ContactId(id)).await);
    let mut read = c.audit(
        "read triage",
        format!("contact c{id} for a clinical callback"),
    );
    read.purpose = Some("direct care".into());
    let org = c.org;
    let journeys = tryr!(
        app.dir(move |d| d.journeys(org, ContactId(id), &read))
            .await
    );
    let Some(j) = journeys
        .last()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
    else {
        return error(
            StatusCode::CONFLICT,
            "contact: save an assessment first".into(),
        );
    };
    let d = &j["disposition"];
    if d["clinician_required"] != true {
        return error(
            StatusCode::CONFLICT,
            format!(
                "contact: disposition {} does not need a clinician",
                d["code"].as_str().unwrap_or("?")
            ),
        );
    }
    let minutes = d["timeframe_minutes"]
        .as_i64()
        .unwrap_or(0)
        .clamp(0, 10_000);
    let now = crate::wall_clock();
    let deadline = Timestamp(now.0 + minutes * 60_000);
    let org = c.org;
    let who = tryr!(app.dir(move |d| d.contact_caller(org, ContactId(id))).await);
    // The callback's own id, from the server's sequence like every other.
    let callback = app.ids.next();
    let mut nc =
        routing::NewContact::new(callback, model::QueueId(b.queue), model::Channel::Callback);
    nc.priority = app::clinical::CLINICAL_BASE - minutes as i32;
    nc.attributes = vec![
        ("deadline".into(), crate::reports::iso(deadline)),
        (
            "disposition".into(),
            d["code"].as_str().unwrap_or("").to_string(),
        ),
        ("from_contact".into(), id.to_string()),
    ];
    let mut audit = c.audit(
        "book clinical callback",
        format!(
            "contact c{id} → {callback} by {}",
            crate::reports::iso(deadline)
        ),
    );
    audit.purpose = Some("direct care".into());
    let input = routing::Input::ScheduleCallback {
        contact: nc,
        due_at: now,
    };
    let r = crate::error::submitted(
        StatusCode::CREATED,
        app.input(&c, input, Some(audit), who).await,
    );
    if r.status() != StatusCode::CREATED {
        return r;
    }
    (
        StatusCode::CREATED,
        Json(
            json!({ "callback": callback, "deadline": deadline, "disposition": d["code"],
            "priority": app::clinical::CLINICAL_BASE - minutes as i32 }),
        ),
    )
        .into_response()
}

/// The clinical front door's report for a period: dispositions by code,
/// by care setting and by hour (London), clinical involvement, and the
/// Directory of Services gaps by district, service type and rule.
pub(crate) async fn report(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<
        axum::extract::Query<crate::reports::ReportQuery>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Response {
    let axum::extract::Query(q) =
        tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let (from, to) = tryr!(crate::reports::period(&q));
    let org = c.org;
    let (journeys, gaps, gap_times) = tryr!(
        app.dir(move |dir| Ok((
            dir.journeys_between(org, from, to)?,
            dir.gaps(org, from, to)?,
            dir.gap_times(org, from, to)?,
        )))
        .await
    );
    let tz = jiff::tz::TimeZone::get("Europe/London").unwrap_or(jiff::tz::TimeZone::UTC);
    let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_setting: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_hour = [0u64; 24];
    let mut clinician = 0u64;
    for (at, text) in &journeys {
        let Ok(j) = serde_json::from_str::<serde_json::Value>(text) else {
            continue;
        };
        let d = &j["disposition"];
        *by_code
            .entry(d["code"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
        *by_setting
            .entry(d["care_setting"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
        if d["clinician_required"] == true {
            clinician += 1;
        }
        if let Ok(t) = jiff::Timestamp::from_millisecond(at.0) {
            by_hour[t.to_zoned(tz.clone()).hour() as usize] += 1;
        }
    }
    let mut gaps_by_hour = [0u64; 24];
    for (at, n) in &gap_times {
        if let Ok(t) = jiff::Timestamp::from_millisecond(at.0) {
            gaps_by_hour[t.to_zoned(tz.clone()).hour() as usize] += n;
        }
    }
    let total = journeys.len() as u64;
    let share = |n: u64| (total > 0).then(|| n as f64 / total as f64);
    let group = |s: &str| -> &'static str {
        match s {
            "ambulance" => "999",
            "emergency_department" => "emergency department",
            "self_care" => "self care",
            "primary_care" | "pharmacy" | "dental" | "urgent_treatment_centre" => {
                "primary and urgent care"
            }
            _ => "clinician",
        }
    };
    let mut groups: BTreeMap<&str, u64> = BTreeMap::new();
    for (s, n) in &by_setting {
        *groups.entry(group(s)).or_default() += n;
    }
    Json(json!({
        "from": crate::reports::iso(from), "to": crate::reports::iso(to),
        "assessments": total,
        "dispositions": by_code,
        "care_settings": by_setting,
        "shares": groups.iter().map(|(g, n)| (g.to_string(), share(*n))).collect::<BTreeMap<_, _>>(),
        "needing_a_clinician": clinician, "needing_a_clinician_share": share(clinician),
        "by_hour_london": by_hour,
        "gap_services_by_hour_london": gaps_by_hour,
        "gaps": gaps.iter().map(|(d, t, f, searches, services)| json!({
            "district": d, "service_type": t, "failed": f, "searches": searches, "services": services })).collect::<Vec<_>>(),
    }))
    .into_response()
}
