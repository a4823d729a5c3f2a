//! `GET /metrics`: the Prometheus text format, behind a token of its own
//! (a scraper is neither a person nor an integration: it sees no patient
//! data and can do nothing else). Off unless a token is configured.

use crate::App;
use app::metrics::{gauge, sample};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use std::sync::Arc;

/// The scrape token, if metrics are on (its SHA-256: compared in
/// constant time).
#[derive(Clone, Default)]
pub struct MetricsAccess(pub Option<String>);

impl MetricsAccess {
    pub fn new(token: Option<&str>) -> MetricsAccess {
        MetricsAccess(token.map(app::auth::secret_hash))
    }
}

/// The shortest scrape token accepted.
pub const MIN_TOKEN: usize = 32;

pub(crate) async fn metrics(
    State(app): State<App>,
    Extension(access): Extension<Arc<MetricsAccess>>,
    headers: HeaderMap,
) -> Response {
    let Some(want) = &access.0 else {
        return crate::error(
            StatusCode::NOT_FOUND,
            "metrics are off: start the server with --metrics-token-file".into(),
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| app::auth::secret_hash(t.trim()));
    if !given.is_some_and(|g| app::auth::same(g.as_bytes(), want.as_bytes())) {
        return crate::error(
            StatusCode::UNAUTHORIZED,
            "metrics: Authorization: Bearer <the metrics token>".into(),
        );
    }
    let mut out = String::with_capacity(16 * 1024);
    app.metrics.render(&mut out);
    let boards = [
        (
            "switchboard_queue_waiting",
            "Contacts waiting in the queue.",
        ),
        (
            "switchboard_queue_longest_wait_seconds",
            "The longest wait of a contact in the queue now.",
        ),
        (
            "switchboard_queue_callbacks_waiting",
            "Callbacks waiting in the queue.",
        ),
        (
            "switchboard_queue_callbacks_at_risk",
            "Waiting callbacks at risk of breaching their target.",
        ),
        (
            "switchboard_queue_ready_agents",
            "Agents ready for the queue.",
        ),
    ];
    let mut lives = Vec::new();
    for &org in &app.orgs {
        if let Ok(live) = app.live(org).await {
            lives.push((org, live));
        }
    }
    for (i, (name, help)) in boards.iter().enumerate() {
        gauge(&mut out, name, help);
        for (org, live) in &lives {
            for q in &live.wallboard.queues {
                let v = match i {
                    0 => q.waiting as f64,
                    1 => q.longest_wait_seconds.unwrap_or(0.0),
                    2 => f64::from(q.callbacks_pending),
                    3 => f64::from(q.callbacks_at_risk),
                    _ => q.ready_agents as f64,
                };
                let labels = [("org", org.0.to_string()), ("queue", q.queue.0.to_string())];
                sample(&mut out, name, &labels, v);
            }
        }
    }
    gauge(&mut out, "switchboard_agents", "Agents by state.");
    for (org, live) in &lives {
        for (state, n) in &live.wallboard.agents_by_state {
            let labels = [("org", org.0.to_string()), ("state", state.clone())];
            sample(&mut out, "switchboard_agents", &labels, f64::from(*n));
        }
    }
    for (name, help, missed) in [
        (
            "switchboard_offers_total",
            "Offers made to agents since the server started.",
            false,
        ),
        (
            "switchboard_offers_missed_total",
            "Offers declined by the agent or timed out.",
            true,
        ),
    ] {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
        for &org in &app.orgs {
            if let Some((made, not_taken)) = app.offer_counts(org) {
                let v = if missed { not_taken } else { made };
                sample(&mut out, name, &[("org", org.0.to_string())], v as f64);
            }
        }
    }
    gauge(
        &mut out,
        "switchboard_referral_outbox_backlog",
        "Referrals waiting to be delivered.",
    );
    if let Ok(backlog) = app.dir(|d| d.referral_backlog()).await {
        for (org, n) in backlog {
            sample(
                &mut out,
                "switchboard_referral_outbox_backlog",
                &[("org", org.0.to_string())],
                n as f64,
            );
        }
    }
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        out,
    )
        .into_response()
}
