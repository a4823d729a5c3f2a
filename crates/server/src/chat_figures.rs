//! Web chat: the figures for a period (docs/kpis.md, "Web chat") and
//! the wallboard's list of chats in progress.

use crate::chat::Chats;
use crate::error::{error, tryr};
use crate::{App, Caller};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use schemars::JsonSchema;
use serde::Serialize;
use std::sync::Arc;

// --- figures and the live list ------------------------------------------

/// Most conversations one report reads.
const REPORT_MAX: usize = 200_000;

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ChatAgentRow {
    agent: u32,
    /// Chats held at once, averaged over the time with at least one.
    concurrency_mean: f64,
    concurrency_max: u32,
    /// Seconds with at least one chat.
    busy_s: f64,
}

/// Web chat figures (docs/kpis.md, "Web chat").
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ChatReport {
    from: String,
    to: String,
    started: u64,
    queued: u64,
    answered: u64,
    abandoned: u64,
    abandonment_pct: Option<f64>,
    /// Mean seconds from the patient's first message to an agent's first words.
    first_response_s: Option<f64>,
    /// Mean seconds from a patient's message to the agent's next words.
    response_s: Option<f64>,
    /// Mean seconds from an agent joining to the end.
    handle_s: Option<f64>,
    agents: Vec<ChatAgentRow>,
}

fn timeline(
    row: &store::chat::ChatRow,
    msgs: &[(model::Timestamp, String, Option<model::AgentId>)],
) -> kpi::chat::Timeline {
    use kpi::chat::Side;
    let mut joins = Vec::new();
    let messages = msgs
        .iter()
        .map(|(at, sender, agent)| {
            let side = match (sender.as_str(), agent) {
                ("patient", _) => Side::Patient,
                ("agent", Some(a)) => Side::Agent(*a),
                ("system", Some(a)) => {
                    joins.push((*at, *a));
                    Side::System
                }
                _ => Side::System,
            };
            (*at, side)
        })
        .collect();
    kpi::chat::Timeline {
        started: row.started,
        answered: joins.first().copied(),
        ended: row.ended,
        outcome: row.outcome.clone(),
        messages,
        joins,
    }
}

fn mean(m: kpi::chat::Mean) -> Option<f64> {
    (m.count > 0).then_some((m.seconds * 10.0).round() / 10.0)
}

/// `GET /api/v1/reports/chats`: web chat figures for a period.
pub(crate) async fn report(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<Query<crate::reports::ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let (from, to) = tryr!(crate::reports::period(&q));
    let as_csv = match q.format() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return error(StatusCode::BAD_REQUEST, "format: json or csv".into()),
    };
    let org = c.org;
    let rows = match app
        .dir(move |d| d.chat_timelines(org, from, to, REPORT_MAX))
        .await
    {
        Ok(r) => r,
        Err(e) => return crate::error::api(e),
    };
    // Web chats only: email threads and texts have figures of their own.
    let timelines: Vec<_> = rows
        .iter()
        .filter(|(r, _)| r.medium == "web")
        .map(|(r, m)| timeline(r, m))
        .collect();
    let f = kpi::chat::figures(&timelines, app::wall_clock());
    let report = ChatReport {
        from: crate::reports::iso(from),
        to: crate::reports::iso(to),
        started: f.started,
        queued: f.queued,
        answered: f.answered,
        abandoned: f.abandoned,
        abandonment_pct: f.abandonment_pct.map(|p| (p * 10.0).round() / 10.0),
        first_response_s: mean(f.first_response),
        response_s: mean(f.response),
        handle_s: mean(f.handle),
        agents: f
            .concurrency
            .iter()
            .map(|(a, c)| ChatAgentRow {
                agent: a.0,
                concurrency_mean: (c.mean * 100.0).round() / 100.0,
                concurrency_max: c.max,
                busy_s: c.busy_seconds.round(),
            })
            .collect(),
    };
    if as_csv {
        let o = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
        let mut out = String::from("dimension,agent,started,queued,answered,abandoned,abandonment_pct,first_response_s,response_s,handle_s,concurrency_mean,concurrency_max\n");
        out.push_str(&format!(
            "overall,,{},{},{},{},{},{},{},{},,\n",
            report.started,
            report.queued,
            report.answered,
            report.abandoned,
            o(report.abandonment_pct),
            o(report.first_response_s),
            o(report.response_s),
            o(report.handle_s)
        ));
        for a in &report.agents {
            out.push_str(&format!(
                "agent,{},,,,,,,,,{},{}\n",
                a.agent, a.concurrency_mean, a.concurrency_max
            ));
        }
        return (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"chats.csv\"",
                ),
            ],
            out,
        )
            .into_response();
    }
    Json(report).into_response()
}

/// Email or text figures (docs/kpis.md, "Email and text messages").
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct WrittenRow {
    /// `email` or `sms`.
    medium: String,
    threads: u64,
    patient_messages: u64,
    agent_messages: u64,
    messages_per_thread: f64,
    /// Mean and median seconds from the patient's first message to an
    /// agent's first words.
    first_response_s: Option<f64>,
    first_response_median_s: Option<f64>,
    /// Threads still without an agent's words.
    unanswered: u64,
    /// Waits due (answered, or past their deadline) and those answered
    /// by the end of the next working day (London, bank holidays).
    waits_due: u64,
    waits_answered_in_time: u64,
    within_one_working_day_pct: Option<f64>,
    /// Our messages created in the period: sent, refused for good, and
    /// the providers' failure receipts (permanent, temporary, technical,
    /// bounced).
    sent: u64,
    failed: u64,
    delivery_failures: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct WrittenReport {
    from: String,
    to: String,
    media: Vec<WrittenRow>,
}

/// `GET /api/v1/reports/written`: email and text figures for a period.
pub(crate) async fn written(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<Query<crate::reports::ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let (from, to) = tryr!(crate::reports::period(&q));
    if !matches!(q.format(), None | Some("json")) {
        return error(StatusCode::BAD_REQUEST, "format: json".into());
    }
    let org = c.org;
    let (rows, counts) = match app
        .dir(move |d| {
            Ok((
                d.chat_timelines(org, from, to, REPORT_MAX)?,
                d.outbound_counts(org, from, to)?,
            ))
        })
        .await
    {
        Ok(r) => r,
        Err(e) => return crate::error::api(e),
    };
    let now = app::wall_clock();
    let media = ["email", "sms"]
        .into_iter()
        .map(|medium| {
            let threads: Vec<kpi::written::Thread> = rows
                .iter()
                .filter(|(r, _)| r.medium == medium)
                .map(|(r, m)| {
                    let t = timeline(r, m);
                    kpi::written::Thread {
                        started: t.started,
                        messages: t.messages,
                    }
                })
                .collect();
            let f = kpi::written::figures(&threads, now, app::time::one_working_day_after);
            let of = |pred: &dyn Fn(&store::written::OutboundCount) -> bool| {
                counts
                    .iter()
                    .filter(|c| c.medium == medium && pred(c))
                    .map(|c| c.count)
                    .sum::<u64>()
            };
            WrittenRow {
                medium: medium.into(),
                threads: f.threads,
                patient_messages: f.patient_messages,
                agent_messages: f.agent_messages,
                messages_per_thread: (f.messages_per_thread * 100.0).round() / 100.0,
                first_response_s: mean(f.first_response),
                first_response_median_s: f.first_response_median_s,
                unanswered: f.unanswered,
                waits_due: f.waits_due,
                waits_answered_in_time: f.waits_answered_in_time,
                within_one_working_day_pct: f
                    .within_one_working_day
                    .map(|p| (p * 1000.0).round() / 10.0),
                sent: of(&|c| c.state == "sent"),
                failed: of(&|c| c.state == "failed"),
                delivery_failures: of(&|c| {
                    matches!(
                        c.delivery.as_deref(),
                        Some(
                            "permanent-failure"
                                | "temporary-failure"
                                | "technical-failure"
                                | "bounced"
                        )
                    )
                }),
            }
        })
        .collect();
    Json(WrittenReport {
        from: crate::reports::iso(from),
        to: crate::reports::iso(to),
        media,
    })
    .into_response()
}

/// A chat in progress, as the wallboard shows it (no patient data).
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct LiveChat {
    contact: Option<u64>,
    /// `in_flow`, `joining`, `queued` or `with_agent`.
    stage: String,
    agent: Option<u32>,
    /// Milliseconds since the epoch.
    started: i64,
    /// The patient wrote last and waits for an answer, since (ms).
    waiting_since: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct LiveChats {
    /// Chats in the flow or waiting for an agent.
    waiting: usize,
    /// Chats with an agent.
    with_agents: usize,
    chats: Vec<LiveChat>,
}

/// `GET /api/v1/chats`: the organisation's chats in progress.
pub(crate) async fn live(
    Extension(chats): Extension<Arc<Chats>>,
    Extension(c): Extension<Caller>,
) -> Response {
    let list: Vec<LiveChat> = chats
        .live(c.org)
        .into_iter()
        .map(|(s, started, waiting_since)| LiveChat {
            contact: s.contact.map(|c| c.0),
            stage: s.stage.into(),
            agent: s.agent,
            started,
            waiting_since,
        })
        .collect();
    Json(LiveChats {
        waiting: list.iter().filter(|c| c.stage != "with_agent").count(),
        with_agents: list.iter().filter(|c| c.stage == "with_agent").count(),
        chats: list,
    })
    .into_response()
}
