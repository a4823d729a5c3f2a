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

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Where a disposition sends the patient.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CareSetting {
    Ambulance,
    EmergencyDepartment,
    UrgentTreatmentCentre,
    PrimaryCare,
    Dental,
    Pharmacy,
    ClinicianCallback,
    SelfCare,
}

/// An assessment's outcome: what the patient should do, how soon.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Disposition {
    code: String,
    wording: String,
    /// Within this many minutes (none: no timeframe).
    timeframe_minutes: Option<u32>,
    care_setting: CareSetting,
    clinician_required: bool,
}

impl From<&pathway::Disposition> for Disposition {
    fn from(d: &pathway::Disposition) -> Disposition {
        use pathway::CareSetting as C;
        Disposition {
            code: d.code.clone(),
            wording: d.wording.clone(),
            timeframe_minutes: d.timeframe_minutes,
            care_setting: match d.care_setting {
                C::Ambulance => CareSetting::Ambulance,
                C::EmergencyDepartment => CareSetting::EmergencyDepartment,
                C::UrgentTreatmentCentre => CareSetting::UrgentTreatmentCentre,
                C::PrimaryCare => CareSetting::PrimaryCare,
                C::Dental => CareSetting::Dental,
                C::Pharmacy => CareSetting::Pharmacy,
                C::ClinicianCallback => CareSetting::ClinicianCallback,
                C::SelfCare => CareSetting::SelfCare,
            },
            clinician_required: d.clinician_required,
        }
    }
}

/// The pathway set in use.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Info {
    name: String,
    version: String,
    /// Demonstration content, not for patients.
    demo: bool,
    /// The content's hash, kept with every saved assessment.
    hash: String,
    entry: String,
    dispositions: Vec<Disposition>,
}

pub(crate) async fn info(State(app): State<App>) -> Response {
    let c = &app.clinical.pathways;
    Json(Info {
        name: c.set.name.clone(),
        version: c.set.version.clone(),
        demo: c.set.demo,
        hash: c.hash.clone(),
        entry: c.set.entry.clone(),
        dispositions: c.set.dispositions.iter().map(Disposition::from).collect(),
    })
    .into_response()
}

/// One question answered.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Step {
    pathway: String,
    node: String,
    question: String,
    /// By position, from 0.
    answer: usize,
    answer_text: String,
}

fn steps(s: &[pathway::Step]) -> Vec<Step> {
    s.iter()
        .map(|s| Step {
            pathway: s.pathway.clone(),
            node: s.node.clone(),
            question: s.question.clone(),
            answer: s.answer,
            answer_text: s.answer_text.clone(),
        })
        .collect()
}

/// Where the assessment is: the next question, or its end.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Now {
    Question {
        pathway: String,
        node: String,
        text: String,
        /// The answers to choose from, by position.
        answers: Vec<String>,
    },
    Ended {
        disposition: Disposition,
        symptom_group: u32,
        discriminators: Vec<u32>,
    },
}

/// An assessment after the answers so far.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Assessment {
    demo: bool,
    hash: String,
    now: Now,
    steps: Vec<Step>,
    state: BTreeMap<String, String>,
    /// The saved journey's id, with `save`.
    saved: Option<u64>,
}

/// The content an assessment was made with.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Pathways {
    name: String,
    version: String,
    hash: String,
    demo: bool,
}

/// A finished assessment as kept (and as referrals and clinical callbacks
/// read it).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct SavedJourney {
    pathways: Pathways,
    state: BTreeMap<String, String>,
    answers: Vec<usize>,
    steps: Vec<Step>,
    pub(crate) disposition: Disposition,
    symptom_group: u32,
    discriminators: Vec<u32>,
    /// Who saved it, as the audit trail names them.
    by: String,
    /// Saved by a clinician (clinical input); none in older records.
    #[serde(default)]
    by_clinician: Option<bool>,
    at: crate::wire::Millis,
}

impl SavedJourney {
    /// What a referral's FHIR message says of the assessment.
    pub(crate) fn for_referral(&self) -> fhir::Triage {
        fhir::Triage {
            symptom_group: self.symptom_group.to_string(),
            discriminators: self.discriminators.iter().map(u32::to_string).collect(),
            disposition: self.disposition.code.clone(),
            wording: Some(self.disposition.wording.clone()),
            timeframe_minutes: i64::from(self.disposition.timeframe_minutes.unwrap_or(0)),
            pathways_name: self.pathways.name.clone(),
            pathways_version: self.pathways.version.clone(),
            demo: self.pathways.demo,
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Journeys {
    journeys: Vec<SavedJourney>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Triage")]
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

fn now_of(n: &pathway::Now<'_>) -> Now {
    match n {
        pathway::Now::Question {
            pathway,
            node,
            text,
            answers,
        } => Now::Question {
            pathway: pathway.to_string(),
            node: node.to_string(),
            text: text.to_string(),
            answers: answers.iter().map(|a| a.to_string()).collect(),
        },
        pathway::Now::Ended {
            disposition,
            symptom_group,
            discriminators,
        } => Now::Ended {
            disposition: Disposition::from(*disposition),
            symptom_group: *symptom_group,
            discriminators: discriminators.clone(),
        },
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
        let pathway::Now::Ended {
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
        let record = SavedJourney {
            pathways: Pathways {
                name: set.set.name.clone(),
                version: set.set.version.clone(),
                hash: set.hash.clone(),
                demo: set.set.demo,
            },
            state: b.state.clone(),
            answers: b.answers.clone(),
            steps: steps(&j.steps),
            disposition: Disposition::from(*disposition),
            symptom_group: *symptom_group,
            discriminators: discriminators.clone(),
            by: c.actor.clone(),
            by_clinician: Some(c.role == app::auth::Role::Clinician),
            at: crate::wall_clock().0,
        };
        let mut audit = c.audit(
            "save triage",
            format!("contact c{id} → {}", disposition.code),
        );
        audit.purpose = Some("direct care".into());
        let (org, text) = (c.org, serde_json::to_string(&record).unwrap_or_default());
        let r = app
            .dir(move |d| d.save_journey(org, ContactId(id), &text, crate::wall_clock(), &audit))
            .await;
        saved = Some(tryr!(r));
    }
    Json(Assessment {
        demo: set.set.demo,
        hash: set.hash.clone(),
        now: now_of(&now),
        steps: steps(&j.steps),
        state: j.state.clone(),
        saved,
    })
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
            let journeys = list
                .iter()
                .filter_map(|t| serde_json::from_str(t).ok())
                .collect();
            Json(Journeys { journeys }).into_response()
        }
        Err(r) => crate::error::Answer::answer(r),
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DosSearch")]
pub(crate) struct SearchBody {
    postcode: String,
    /// The patient's age: a number and `d`, `m` or `y` (days 0–31,
    /// months 1–23, years 2–129; `3m` is a 3-month-old). Give this or
    /// `age_years`.
    #[serde(default)]
    #[schemars(length(max = 8))]
    age: Option<String>,
    /// The age in whole years (0–130), for older clients; `age` is the
    /// DoS way.
    #[serde(default)]
    #[schemars(range(max = 130))]
    age_years: Option<u32>,
    sex: crate::wire::Sex,
    #[serde(default)]
    gp_practice: Option<String>,
    symptom_group: u32,
    #[serde(default)]
    discriminators: Vec<u32>,
    disposition: String,
    /// The search time (RFC 3339); default now. At most a minute in the
    /// past or a year ahead.
    #[serde(default)]
    #[schemars(extend("format" = "date-time"))]
    at: Option<String>,
    /// The request's search distance (km, 1–99), used when none is stored
    /// for the patient's postcode (or always, with `force_distance`).
    #[serde(default)]
    distance_km: Option<u32>,
    #[serde(default)]
    force_distance: bool,
    /// The ranking strategy; default the directory's.
    #[serde(default)]
    #[schemars(length(max = 64))]
    strategy: Option<String>,
    /// `dos`: answer in the shape of the NHS DoS CheckCapacitySummary
    /// response.
    #[serde(default)]
    format: Option<String>,
}

/// A rule of the directory search.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Filter {
    Capacity,
    SymptomDiscriminator,
    Disposition,
    Age,
    SessionTimes,
}

fn filter(f: dos::Filter) -> Filter {
    match f {
        dos::Filter::Capacity => Filter::Capacity,
        dos::Filter::SymptomDiscriminator => Filter::SymptomDiscriminator,
        dos::Filter::Disposition => Filter::Disposition,
        dos::Filter::Age => Filter::Age,
        dos::Filter::SessionTimes => Filter::SessionTimes,
    }
}

/// A service the search found, nearest and best ranked first.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Found {
    id: u64,
    /// The directory's id for it.
    service_id: String,
    name: String,
    type_id: u32,
    distance_km: f64,
    rank: u8,
    capacity: crate::wire::Rag,
    /// Returned only because nothing matched: the nearest emergency
    /// departments.
    catch_all: bool,
}

impl Found {
    fn of(f: &dos::Found, key: String) -> Found {
        Found {
            id: f.id,
            service_id: key,
            name: f.name.clone(),
            type_id: f.type_id,
            distance_km: f.distance_km,
            rank: f.rank,
            capacity: crate::wire::Rag::from(f.capacity),
            catch_all: f.catch_all,
        }
    }
}

/// A service left out, and the rule that left it out.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Gap {
    id: u64,
    name: String,
    type_id: u32,
    failed: Filter,
}

impl From<&dos::Gap> for Gap {
    fn from(g: &dos::Gap) -> Gap {
        Gap {
            id: g.id,
            name: g.name.clone(),
            type_id: g.type_id,
            failed: filter(g.failed),
        }
    }
}

/// One result with how to reach the service.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "SearchResult")]
pub(crate) struct Result_ {
    found: Found,
    postcode: String,
    phone: Option<String>,
    ods_code: Option<String>,
    /// What a professional referring should know.
    referral: String,
}

/// A gap in the directory's ids.
#[derive(Serialize, JsonSchema)]
pub(crate) struct GapRef {
    id: String,
    filter: String,
}

/// The answer in the directory's own ids: the same as `switchboard dos
/// search --json` gives for the same directory and inputs.
#[derive(Serialize, JsonSchema)]
pub(crate) struct DosAnswer {
    ranked: Vec<String>,
    catch_all: bool,
    gaps: Vec<GapRef>,
    search_distance_km: Option<u32>,
    /// `override`, `postcode`, `sector`, `district`, `web_service` or
    /// `national`.
    search_distance_source: Option<String>,
    strategy: Option<String>,
    dropped_discriminators: Vec<u32>,
    /// None, or `no_services_found`.
    error: Option<String>,
    message: Option<String>,
}

impl From<dos::Answer> for DosAnswer {
    fn from(a: dos::Answer) -> DosAnswer {
        DosAnswer {
            ranked: a.ranked,
            catch_all: a.catch_all,
            gaps: a
                .gaps
                .into_iter()
                .map(|g| GapRef {
                    id: g.id,
                    filter: g.filter,
                })
                .collect(),
            search_distance_km: a.search_distance_km,
            search_distance_source: a.search_distance_source,
            strategy: a.strategy,
            dropped_discriminators: a.dropped_discriminators,
            error: a.error,
            message: a.message,
        }
    }
}

/// A directory search's answer.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Search {
    disposition: Disposition,
    /// The radius searched.
    distance_km: u32,
    /// The patient's age as searched, days.
    age_days: u32,
    services_searched: usize,
    results: Vec<Result_>,
    gaps: Vec<Gap>,
    /// The same answer in the directory's ids.
    dos: DosAnswer,
}

/// The answer, or with `format: dos` the NHS DoS CheckCapacitySummary
/// shape.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum SearchAnswer {
    Search(Box<Search>),
    Dos(crate::wire::DosShape),
}

/// A refused search: 422 with the DoS error name as `code`.
fn refused(e: &dos::SearchError) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(crate::wire::ErrorBody {
            error: e.to_string(),
            code: Some(e.code().into()),
        }),
    )
        .into_response()
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
    let age_days = match (&b.age, b.age_years) {
        (Some(a), None) => match dos::parse_age(a) {
            Ok(d) => d,
            Err(e) => return refused(&e),
        },
        (None, Some(y)) if y <= 130 => dos::age_days(y, 0, 0),
        (None, Some(_)) => return bad("age_years: at most 130".into()),
        (Some(_), Some(_)) => return bad("age: give age or age_years, not both".into()),
        (None, None) => return bad("age: give the patient's age (e.g. 3m, 40y)".into()),
    };
    if b.force_distance && b.distance_km.is_none() {
        return bad("distance_km: force_distance needs a distance".into());
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
            age_days,
            sex: b.sex.into(),
            gp_practice: b.gp_practice,
            symptom_group: b.symptom_group,
            discriminators: b.discriminators,
            disposition: b.disposition.clone(),
            timeframe_minutes: d.timeframe_minutes,
            at,
            forced_distance_km: b.distance_km.filter(|_| b.force_distance),
            distance_km: b.distance_km.filter(|_| !b.force_distance),
            postcode: Some(b.postcode.clone()),
            strategy: b.strategy,
        };
        let r = match dos::search(dir, &q) {
            Ok(r) => r,
            Err(e) => return refused(&e),
        };
        // The commissioner's view: what failed where.
        let mut counted: BTreeMap<(u32, String), u32> = BTreeMap::new();
        for g in &r.gaps {
            *counted
                .entry((g.type_id, g.failed.name().to_string()))
                .or_default() += 1;
        }
        let gap_rows: Vec<(String, u32, String, u32)> = counted
            .into_iter()
            .map(|((t, f), n)| (q.district.clone().unwrap_or_default(), t, f, n))
            .collect();
        let by_id: HashMap<u64, &dos::Service> = dir.services.iter().map(|s| (s.id, s)).collect();
        let results: Vec<Result_> = r
            .results
            .iter()
            .map(|f| {
                let s = by_id[&f.id];
                Result_ {
                    found: Found::of(f, s.key()),
                    postcode: s.postcode.clone(),
                    phone: s.phone.clone(),
                    ods_code: s.ods_code.clone(),
                    referral: s.professional_text.clone(),
                }
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
            Some(d) => Json(SearchAnswer::Dos(crate::wire::DosShape(d))).into_response(),
            None => {
                let gaps = r.gaps.iter().map(Gap::from).collect();
                let distance_km = r.distance_km;
                let answer = dos::Answer::of(dir, &Ok(r));
                Json(SearchAnswer::Search(Box::new(Search {
                    disposition: Disposition::from(d),
                    distance_km,
                    age_days,
                    services_searched: searched,
                    results,
                    gaps,
                    dos: answer.into(),
                })))
                .into_response()
            }
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

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ClinicalCallback")]
pub(crate) struct ClinicalBody {
    /// The clinical callback queue.
    queue: u32,
}

/// The clinical callback booked.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "ClinicalCallbackBooked")]
pub(crate) struct ClinicalCallback {
    /// The callback contact.
    callback: u64,
    deadline: crate::wire::Millis,
    disposition: String,
    /// Earliest deadline first.
    priority: i32,
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
        .and_then(|t| serde_json::from_str::<SavedJourney>(t).ok())
    else {
        return error(
            StatusCode::CONFLICT,
            "contact: save an assessment first".into(),
        );
    };
    let d = &j.disposition;
    if !d.clinician_required {
        return error(
            StatusCode::CONFLICT,
            format!("contact: disposition {} does not need a clinician", d.code),
        );
    }
    let now = crate::wall_clock();
    let (deadline, priority) = app::clinical::callback_deadline(d.timeframe_minutes, now);
    let org = c.org;
    let who = tryr!(app.dir(move |d| d.contact_caller(org, ContactId(id))).await);
    // The callback's own id, from the server's sequence like every other.
    let callback = app.ids.next();
    let mut nc =
        routing::NewContact::new(callback, model::QueueId(b.queue), model::Channel::Callback);
    nc.priority = priority;
    nc.attributes = vec![
        ("deadline".into(), crate::reports::iso(deadline)),
        ("disposition".into(), d.code.clone()),
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
        deadline: Some(deadline),
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
        Json(ClinicalCallback {
            callback: callback.0,
            deadline: deadline.0,
            disposition: d.code.clone(),
            priority,
        }),
    )
        .into_response()
}

/// Where the directory had no service, by district, type and rule.
#[derive(Serialize, JsonSchema)]
pub(crate) struct GapRow {
    district: String,
    service_type: u32,
    /// The rule that left services out: capacity, symptom_discriminator,
    /// disposition, age, session_times.
    failed: String,
    searches: u64,
    services: u64,
}

/// The clinical front door's figures for a period.
#[derive(Serialize, JsonSchema)]
pub(crate) struct TriageReport {
    from: String,
    to: String,
    assessments: u64,
    /// By disposition code.
    dispositions: BTreeMap<String, u64>,
    care_settings: BTreeMap<String, u64>,
    /// Shares of assessments: 999, emergency department, primary and
    /// urgent care, self care, clinician (none without assessments).
    shares: BTreeMap<String, Option<f64>>,
    needing_a_clinician: u64,
    needing_a_clinician_share: Option<f64>,
    /// Assessments saved by a clinician (clinical input).
    assessed_by_a_clinician: u64,
    /// Of those, ended in self care (NHS 111: at least 15%).
    self_care_after_clinical_input: u64,
    self_care_after_clinical_input_share: Option<f64>,
    by_hour_london: [u64; 24],
    gap_services_by_hour_london: [u64; 24],
    gaps: Vec<GapRow>,
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
    let (mut by_clinician, mut self_care_after) = (0u64, 0u64);
    for (at, text) in &journeys {
        let Ok(j) = serde_json::from_str::<SavedJourney>(text) else {
            continue;
        };
        let d = &j.disposition;
        *by_code.entry(d.code.clone()).or_default() += 1;
        let setting = serde_json::to_value(d.care_setting)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        *by_setting.entry(setting.clone()).or_default() += 1;
        if d.clinician_required {
            clinician += 1;
        }
        if j.by_clinician == Some(true) {
            by_clinician += 1;
            if setting == "self_care" {
                self_care_after += 1;
            }
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
    Json(TriageReport {
        from: crate::reports::iso(from),
        to: crate::reports::iso(to),
        assessments: total,
        dispositions: by_code,
        care_settings: by_setting,
        shares: groups
            .iter()
            .map(|(g, n)| (g.to_string(), share(*n)))
            .collect(),
        needing_a_clinician: clinician,
        needing_a_clinician_share: share(clinician),
        assessed_by_a_clinician: by_clinician,
        self_care_after_clinical_input: self_care_after,
        self_care_after_clinical_input_share: (by_clinician > 0)
            .then(|| self_care_after as f64 / by_clinician as f64),
        by_hour_london: by_hour,
        gap_services_by_hour_london: gaps_by_hour,
        gaps: gaps
            .iter()
            .map(|(d, t, f, searches, services)| GapRow {
                district: d.clone(),
                service_type: *t,
                // Rows from before 2026-12 named the rules differently.
                failed: match f.as_str() {
                    "capacity_red" => "capacity",
                    "discriminators" => "symptom_discriminator",
                    "closed" => "session_times",
                    other => other,
                }
                .to_string(),
                searches: *searches,
                services: *services,
            })
            .collect(),
    })
    .into_response()
}
