//! The auditor's reviews: break-glass reads with their reasons, and
//! unusual access to patients' records (`app::review`). Each is audited.

use crate::error::tryr;
use crate::{error, wall_clock, App, Caller};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewQuery {
    /// The last this many hours (1 to 2,160: 90 days; default 24).
    #[serde(default)]
    #[schemars(range(min = 1, max = 2160))]
    hours: Option<i64>,
    /// Unusual: more distinct patients than this (default 50).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100000))]
    many: Option<usize>,
}

/// Most records read for a review.
const MAX_RECORDS: usize = 100_000;

fn window(
    q: Result<Query<ReviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(model::Timestamp, ReviewQuery), Response> {
    let Query(q) = q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))?;
    let hours = q.hours.unwrap_or(24);
    if !(1..=2160).contains(&hours) {
        return Err(error(StatusCode::BAD_REQUEST, "hours: 1 to 2160".into()));
    }
    if q.many.is_some_and(|m| !(1..=100_000).contains(&m)) {
        return Err(error(StatusCode::BAD_REQUEST, "many: 1 to 100000".into()));
    }
    Ok((model::Timestamp(wall_clock().0 - hours * 3_600_000), q))
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Reviewed {
    records: Vec<crate::patients::AuditRecord>,
}

/// Break-glass reads of the period, newest first.
pub(crate) async fn break_glass(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<Query<ReviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (since, _) = tryr!(window(q));
    let audit = c.audit("review break-glass", "audit trail".into());
    let org = c.org;
    let records = tryr!(
        app.dir(move |d| d.review(org, true, since, MAX_RECORDS, &audit))
            .await
    );
    Json(Reviewed {
        records: records.into_iter().map(Into::into).collect(),
    })
    .into_response()
}

/// One actor's access to patients' records in the period.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Access {
    actor: String,
    reads: usize,
    patients: usize,
    out_of_hours: usize,
    break_glass: usize,
    /// Why it is unusual, in words (empty: nothing unusual).
    flags: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct UnusualReport {
    /// Everyone who read patients' records, the unusual first.
    access: Vec<Access>,
}

pub(crate) async fn unusual(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<Query<ReviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (since, q) = tryr!(window(q));
    let audit = c.audit("review unusual access", "audit trail".into());
    let org = c.org;
    let records = tryr!(
        app.dir(move |d| d.review(org, false, since, MAX_RECORDS, &audit))
            .await
    );
    let t = app::review::Thresholds {
        many_patients: q.many.unwrap_or(50),
        ..Default::default()
    };
    let access = app::review::unusual(&records, t)
        .into_iter()
        .map(|a| Access {
            actor: a.actor,
            reads: a.reads,
            patients: a.patients,
            out_of_hours: a.out_of_hours,
            break_glass: a.break_glass,
            flags: a.flags,
        })
        .collect();
    Json(UnusualReport { access }).into_response()
}

/// The organisation's audit trail of the period as FHIR R4 AuditEvent
/// resources in a collection bundle (at most 10,000, oldest first).
pub(crate) async fn export(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<Query<ReviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (since, _) = tryr!(window(q));
    let audit = c.audit(
        "export audit trail",
        "audit trail as FHIR AuditEvent".into(),
    );
    let org = c.org;
    let records = tryr!(
        app.dir(move |d| d.audit_export(org, since, 10_000, &audit))
            .await
    );
    let events = records
        .iter()
        .map(|(seq, r)| {
            fhir::audit::audit_event(&fhir::audit::Audited {
                seq: *seq,
                at: r.at,
                org: r.org.map(|o| o.0),
                actor: &r.actor,
                action: &r.action,
                subject: &r.subject,
                patient: r.patient.as_deref(),
                purpose: r.purpose.as_deref(),
                origin: r.origin.as_deref(),
                outcome: &r.outcome,
            })
        })
        .collect();
    (
        [
            (axum::http::header::CONTENT_TYPE, "application/fhir+json"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        Json(fhir::audit::audit_bundle(events, wall_clock())),
    )
        .into_response()
}

/// The newest checkpoint of the chain, and whether the log still reaches
/// it unchanged.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CheckpointStatus {
    /// `reaches`, `none` (no checkpoint yet), `cut` (records missing from
    /// the end) or `rewritten` (the record there is not the one seen).
    verdict: &'static str,
    /// The record checkpointed, and when (ms since 1970).
    seq: Option<u64>,
    at: Option<i64>,
}

/// The audit chain, checked now.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ChainStatus {
    /// Every record present, in order, unchanged, and the log reaching
    /// its newest checkpoint.
    intact: bool,
    /// Records in the chain (every organisation's: the chain is one).
    records: u64,
    /// The first record that does not fit, and why.
    broken_at: Option<u64>,
    problem: Option<String>,
    checkpoint: CheckpointStatus,
    /// When it was checked (ms since 1970).
    checked_at: i64,
}

/// Checks the whole chain and its newest checkpoint (as `switchboard
/// audit verify` does), audited.
pub(crate) async fn chain(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Extension(anchors): Extension<crate::AuditAnchors>,
) -> Response {
    let checkpoints = {
        let a = anchors.0.lock().unwrap_or_else(|p| p.into_inner());
        a.checkpoints()
    };
    let checkpoints = match checkpoints {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("audit checkpoints unreadable: {e}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the audit checkpoints could not be read: see the server's log".into(),
            );
        }
    };
    let audit = c.audit("verify audit chain", "audit trail".into());
    let (check, verdict) = tryr!(
        app.dir(move |d| {
            let check = d.verify_audit()?;
            let records = match &check {
                store::AuditCheck::Intact { records } => *records,
                store::AuditCheck::Broken { seq, .. } => seq.saturating_sub(1),
            };
            let verdict = app::anchor::check(&checkpoints, records, |seq| {
                d.audit_hash_at(seq).ok().flatten()
            });
            d.audit(&audit)?;
            Ok((check, verdict))
        })
        .await
    );
    use app::anchor::Verdict;
    let (name, seq, at) = match verdict {
        Verdict::Reaches { checkpoint, at } => ("reaches", Some(checkpoint), Some(at.0)),
        Verdict::NoCheckpoints => ("none", None, None),
        Verdict::Cut { checkpoint, at, .. } => ("cut", Some(checkpoint), Some(at.0)),
        Verdict::Rewritten { seq, at } => ("rewritten", Some(seq), Some(at.0)),
    };
    let (records, broken_at, problem) = match check {
        store::AuditCheck::Intact { records } => (records, None, None),
        store::AuditCheck::Broken { seq, problem } => (
            seq.saturating_sub(1),
            Some(seq),
            Some(format!("record {seq} {problem}")),
        ),
    };
    let problem = problem.or(match name {
        "cut" => Some(format!(
            "the log ends at record {records}, before the checkpoint of record {}: records are missing from the end",
            seq.unwrap_or(0)
        )),
        "rewritten" => Some(format!(
            "record {} is not the record the checkpoint saw: the chain was rewritten",
            seq.unwrap_or(0)
        )),
        _ => None,
    });
    Json(ChainStatus {
        intact: problem.is_none(),
        records,
        broken_at,
        problem,
        checkpoint: CheckpointStatus {
            verdict: name,
            seq,
            at,
        },
        checked_at: wall_clock().0,
    })
    .into_response()
}
