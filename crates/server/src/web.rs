//! The web application: plain HTML, CSS and JavaScript compiled into the
//! binary (no build step), talking to the same API as everyone else.
//! Pages carry no data; what a page shows comes from the API, which
//! checks the role, so a page opened by the wrong role shows nothing but
//! a refusal.

use crate::App;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

fn page(body: &'static str, kind: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

macro_rules! asset {
    ($file:literal, $kind:expr) => {
        get(|| async { page(include_str!(concat!("../web/", $file)), $kind) })
    };
}

const HTML: &str = "text/html; charset=utf-8";

/// The pages and their assets.
pub(crate) fn pages() -> Router<App> {
    Router::new()
        .route("/", asset!("login.html", HTML))
        .route("/agent", asset!("agent.html", HTML))
        .route("/wallboard", asset!("wallboard.html", HTML))
        .route("/admin", asset!("admin.html", HTML))
        .route("/reports", asset!("reports.html", HTML))
        .route("/planning", asset!("planning.html", HTML))
        .route("/directory", asset!("directory.html", HTML))
        .route("/account", asset!("account.html", HTML))
        .route("/recordings", asset!("recordings.html", HTML))
        .route("/audit", asset!("audit.html", HTML))
        // The patient's chat: a page any website may frame (the widget),
        // and the loader a trust pastes into its own pages.
        .route(
            "/chat/",
            get(|| async {
                let mut r = page(include_str!("../web/chat.html"), HTML);
                r.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'self'; img-src 'self' data: blob:; frame-ancestors *; base-uri 'none'; form-action 'self'",
                    ),
                );
                r
            }),
        )
        .route(
            "/chat/chat.js",
            asset!("chat.js", "text/javascript; charset=utf-8"),
        )
        .route("/chat/chat.css", asset!("chat.css", "text/css; charset=utf-8"))
        .route(
            "/chat/widget.js",
            get(|| async {
                let mut r = page(
                    include_str!("../web/widget.js"),
                    "text/javascript; charset=utf-8",
                );
                // Loaded by other sites' pages: allowed across origins,
                // cached for an hour.
                r.headers_mut().insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                r.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                );
                r.headers_mut().insert(
                    header::HeaderName::from_static("cross-origin-resource-policy"),
                    HeaderValue::from_static("cross-origin"),
                );
                r
            }),
        )
        .route(
            "/audit.js",
            asset!("audit.js", "text/javascript; charset=utf-8"),
        )
        .route(
            "/recordings.js",
            asset!("recordings.js", "text/javascript; charset=utf-8"),
        )
        .route(
            "/chatdesk.js",
            asset!("chatdesk.js", "text/javascript; charset=utf-8"),
        )
        .route(
            "/softphone.js",
            asset!("softphone.js", "text/javascript; charset=utf-8"),
        )
        .route(
            "/account.js",
            asset!("account.js", "text/javascript; charset=utf-8"),
        )
        .route(
            "/directory.js",
            asset!("directory.js", "text/javascript; charset=utf-8"),
        )
        .route("/app.css", asset!("app.css", "text/css; charset=utf-8"))
        .route(
            "/app.js",
            asset!("app.js", "text/javascript; charset=utf-8"),
        )
        .route(
            "/docs/kpis.md",
            get(|| async {
                page(
                    include_str!("../../../docs/kpis.md"),
                    "text/plain; charset=utf-8",
                )
            }),
        )
}

/// Headers on every response: no framing, no sniffing, no referrer, only
/// our own scripts and styles, nothing cached unless said otherwise.
pub(crate) fn security_headers(r: &mut Response, https: bool) {
    let h = r.headers_mut();
    if https {
        // A year, as the HSTS preload list asks; never over plain HTTP.
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    let mut set = |k: header::HeaderName, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::CACHE_CONTROL, "no-store");
    // A page that says who may frame it (the chat) is not refused framing.
    let frameable = h
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("frame-ancestors *"));
    if !frameable {
        h.entry(header::X_FRAME_OPTIONS)
            .or_insert(HeaderValue::from_static("DENY"));
    }
}
