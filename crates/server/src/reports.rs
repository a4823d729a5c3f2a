//! KPI reports by interval or by day (Europe/London days), as JSON or CSV,
//! for a period; the definitions are docs/kpis.md's, computed by the KPI
//! engine from the event log like every other figure.

use crate::error::tryr;
use crate::{error, App, Caller};
pub(crate) use app::reports::{rows, Bands};
pub(crate) use app::time::iso;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use kpi::Row;
use model::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportQuery {
    /// Start (inclusive), RFC 3339; default: the last 24 hours.
    #[serde(default)]
    #[schemars(extend("format" = "date-time"))]
    from: Option<String>,
    /// End (exclusive), RFC 3339; default: now.
    #[serde(default)]
    #[schemars(extend("format" = "date-time"))]
    to: Option<String>,
    /// `interval` (15 minutes, the default) or `day` (Europe/London).
    #[serde(default)]
    #[schemars(extend("enum" = ["interval", "day", null]))]
    by: Option<String>,
    /// `json` (the default) or `csv`.
    #[serde(default)]
    #[schemars(extend("enum" = ["json", "csv", null]))]
    format: Option<String>,
}

impl ReportQuery {
    /// The `format` asked for.
    pub(crate) fn format(&self) -> Option<&str> {
        self.format.as_deref()
    }
}

/// Longest period one report covers.
const MAX_DAYS: i64 = 400;

pub(crate) fn parse_time(field: &str, s: &str) -> Result<Timestamp, Response> {
    s.parse::<jiff::Timestamp>()
        .map(|t| Timestamp(t.as_millisecond()))
        .map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                format!("{field}: not an RFC 3339 time such as 2026-11-22T08:00:00Z"),
            )
        })
}

/// An organisation's KPI interval rows starting in `from..to`: those kept
/// in the store (older than [`crate::KPI_IN_MEMORY`]), then those in
/// memory; and the time of the read.
pub(crate) async fn interval_rows(
    app: &App,
    org: model::OrgId,
    from: Timestamp,
    to: Timestamp,
) -> Result<(Vec<Row>, Timestamp), Response> {
    let (memory, before, now) = app
        .read(org, |t, now| {
            t.kpi.close(now);
            (t.kpi.report(), t.kpi_before, now)
        })
        .await
        .map_err(crate::error::api)?;
    let mut rows: Vec<Row> = match before {
        Some(b) if from < b => app
            .dir(move |d| d.kpi_history(org, from, to.min(b)))
            .await
            .map_err(crate::error::api)?
            .into_iter()
            .map(|(dimension, start, mut counts)| Row {
                figures: counts.figures(),
                dimension,
                interval_start: Some(start),
                counts,
            })
            .collect(),
        _ => Vec::new(),
    };
    rows.extend(memory.into_iter().filter(|r| {
        r.interval_start
            .is_some_and(|s| s >= from && s < to && before.is_none_or(|b| s >= b))
    }));
    Ok((rows, now))
}

/// KPIs by interval or day, with the answer and abandonment time bands.
#[derive(Serialize, JsonSchema)]
pub(crate) struct KpiReport {
    from: String,
    to: String,
    /// `interval` (15 minutes) or `day` (London).
    by: &'static str,
    rows: Vec<crate::wire::Row>,
    /// `[[band, answered], ...]` over the period, overall.
    answer_bands: Bands,
    /// `[[band, abandoned], ...]`.
    abandon_bands: Bands,
}

/// How often a wrap-up code was chosen.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Outcome {
    code: String,
    count: u64,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct OutcomeReport {
    from: String,
    to: String,
    /// The codes agents choose from.
    codes: Vec<&'static str>,
    /// Most frequent first.
    outcomes: Vec<Outcome>,
}

pub(crate) async fn kpi_report(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let (from, to) = tryr!(period(&q));
    let by_day = match q.by.as_deref() {
        None | Some("interval") => false,
        Some("day") => true,
        Some(_) => return error(StatusCode::BAD_REQUEST, "by: interval or day".into()),
    };
    let as_csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return error(StatusCode::BAD_REQUEST, "format: json or csv".into()),
    };
    let (all, _) = tryr!(interval_rows(&app, c.org, from, to).await);
    let rows = rows(all, from, to, by_day);
    if as_csv {
        return (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"kpis.csv\"",
                ),
            ],
            app::reports::csv(&rows),
        )
            .into_response();
    }
    let (answer_bands, abandon_bands) = app::reports::bands(&rows);
    Json(KpiReport {
        from: iso(from),
        to: iso(to),
        by: if by_day { "day" } else { "interval" },
        rows: rows.iter().map(crate::wire::Row::from).collect(),
        answer_bands,
        abandon_bands,
    })
    .into_response()
}

/// Wrap-up outcomes in the period (default: the last 24 hours), most
/// frequent first, with the codes agents choose from.
pub(crate) async fn outcome_report(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let (from, to) = tryr!(period(&q));
    let org = c.org;
    match app.dir(move |d| d.outcome_counts(org, from, to)).await {
        Ok(counts) => Json(OutcomeReport {
            from: iso(from),
            to: iso(to),
            codes: crate::contacts::OUTCOMES.to_vec(),
            outcomes: counts
                .into_iter()
                .map(|(code, count)| Outcome { code, count })
                .collect(),
        })
        .into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

/// The period asked for: `from` (default `to` − 24 h) to `to` (default
/// now), at most [`MAX_DAYS`].
pub(crate) fn period(q: &ReportQuery) -> Result<(Timestamp, Timestamp), Response> {
    let to = match &q.to {
        Some(s) => parse_time("to", s)?,
        None => crate::wall_clock(),
    };
    let from = match &q.from {
        Some(s) => parse_time("from", s)?,
        None => Timestamp(to.0 - 24 * 3600 * 1000),
    };
    if from >= to {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "from: must be before to".into(),
        ));
    }
    if to.0 - from.0 > MAX_DAYS * 24 * 3600 * 1000 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("to: at most {MAX_DAYS} days after from"),
        ));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kpi::{Counts, Dimension};
    use model::QueueId;

    fn row(start: Timestamp, d: Dimension, offered: u64, answered: u64) -> Row {
        let mut counts = Counts {
            offered,
            answered,
            ..Counts::default()
        };
        Row {
            figures: counts.figures(),
            dimension: d,
            interval_start: Some(start),
            counts,
        }
    }

    #[test]
    fn days_are_london_days_and_the_period_bounds_hold() {
        // 2026-07-01 23:30 UTC is 00:30 on 2 July in London (BST).
        let t = |s: &str| Timestamp(s.parse::<jiff::Timestamp>().unwrap().as_millisecond());
        let all = vec![
            row(t("2026-07-01T22:45:00Z"), Dimension::Overall, 3, 3),
            row(t("2026-07-01T23:30:00Z"), Dimension::Overall, 5, 4),
            row(t("2026-07-02T10:00:00Z"), Dimension::Overall, 2, 2),
            row(
                t("2026-07-02T10:00:00Z"),
                Dimension::Queue(QueueId(2)),
                2,
                2,
            ),
            row(t("2026-07-03T10:00:00Z"), Dimension::Overall, 9, 9),
        ];
        let days = rows(
            all.clone(),
            t("2026-07-01T00:00:00Z"),
            t("2026-07-03T00:00:00Z"),
            true,
        );
        let overall: Vec<(String, u64)> = days
            .iter()
            .filter(|r| r.dimension == Dimension::Overall)
            .map(|r| (iso(r.interval_start.unwrap()), r.counts.offered))
            .collect();
        assert_eq!(
            overall,
            vec![
                ("2026-06-30T23:00:00Z".to_string(), 3),
                ("2026-07-01T23:00:00Z".to_string(), 7)
            ]
        );
        let text = app::reports::csv(&days);
        assert_eq!(text.lines().count(), 1 + 3, "{text}");
        assert!(text.contains(",queue,2,2,2,"), "{text}");
        let intervals = rows(
            all,
            t("2026-07-02T00:00:00Z"),
            t("2026-07-04T00:00:00Z"),
            false,
        );
        assert_eq!(intervals.len(), 3);
    }
}
