//! The gate in front of every route: authentication (the credential read
//! from the request, checked by the core), the route's permission, CSRF
//! for cookie requests, a span per request, and every refusal as JSON.

use crate::error::{error, ApiError};
use crate::net::Client;
use app::auth::Perm;
use app::{App, Credential};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;

/// The credential a request carries: a bearer token, else the session
/// cookie.
async fn authenticate(
    app: &App,
    headers: &HeaderMap,
    origin: String,
) -> Result<app::Caller, app::Error> {
    let unauthorised = |m: &str| app::Error::Unauthorised(m.into());
    match headers.get(axum::http::header::AUTHORIZATION) {
        Some(v) => match v.to_str().unwrap_or("").strip_prefix("Bearer ") {
            Some(secret) => app.authenticate(Credential::Bearer(secret), origin).await,
            None => Err(unauthorised("Authorization: use a Bearer token")),
        },
        None => match crate::people::session_cookie(headers) {
            Some(sid) => app.authenticate(Credential::Session(&sid), origin).await,
            None => Err(unauthorised("log in first")),
        },
    }
}

/// A state-changing request carried by a cookie must come from our own
/// pages: refused if the browser says it is cross-site, or if its Origin
/// is not this server.
fn csrf_check(method: &Method, headers: &HeaderMap) -> Result<(), Response> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let forbid = |m: &str| Err(error(StatusCode::FORBIDDEN, m.into()));
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return forbid("cross-site request refused");
        }
    }
    if let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) {
        let host = headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split("://").nth(1).unwrap_or("");
        if origin_host != host {
            return forbid("request from another origin refused");
        }
    }
    Ok(())
}

/// The gate in front of every route: authenticates the caller, checks the
/// route's permission (and a cookie request's origin), and hands the
/// handler a [`Caller`]. `None`: a public route (log-in, health).
pub(crate) async fn gate(
    State((app, perm)): State<(App, Option<Perm>)>,
    Extension(client): Extension<Client>,
    req: Request,
    next: Next,
) -> Response {
    // The route's template, never the path or query as sent (a query may
    // carry an NHS number).
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("-", |m| m.as_str())
        .to_string();
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        route = %route,
        org = tracing::field::Empty,
        role = tracing::field::Empty
    );
    let started = std::time::Instant::now();
    let r =
        tracing::Instrument::instrument(gated(app.clone(), perm, client, req, next), span.clone())
            .await;
    let r = json_rejection(r).await;
    let status = r.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    app.metrics.http_request(&route, status, seconds);
    let ms = seconds * 1000.0;
    if r.status().is_server_error() {
        tracing::warn!(parent: &span, status, ms, "answered with a server error");
    } else {
        tracing::debug!(parent: &span, status, ms, "answered");
    }
    r
}

/// The framework's own refusals (a path id that is not a number, a query
/// that does not parse, a body that is not JSON) come as plain text: the
/// API answers every error as `{"error": ...}`, naming the problem.
async fn json_rejection(r: Response) -> Response {
    let plain = r
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/plain"));
    if !r.status().is_client_error() || !plain {
        return r;
    }
    let status = r.status();
    let text = match axum::body::to_bytes(r.into_body(), 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    error(status, text)
}

async fn gated(
    app: App,
    perm: Option<Perm>,
    client: Client,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(perm) = perm else {
        req.extensions_mut().insert(Origin(client.addr.to_string()));
        return next.run(req).await;
    };
    let caller = match authenticate(&app, req.headers(), client.addr.to_string()).await {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let span = tracing::Span::current();
    span.record("org", caller.org.0);
    span.record("role", caller.role.name());
    if caller.session.is_some() {
        if let Err(r) = csrf_check(req.method(), req.headers()) {
            return r;
        }
    }
    if !caller.may(perm) {
        return error(
            StatusCode::FORBIDDEN,
            format!("the {} role may not do this", caller.role.name()),
        );
    }
    req.extensions_mut().insert(caller);
    let r = next.run(req).await;
    app.persist_idle_clocks().await;
    r
}

/// The client's address, for public routes.
#[derive(Clone, Debug)]
pub(crate) struct Origin(pub(crate) String);
