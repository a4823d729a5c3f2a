//! The web application: plain HTML, CSS and JavaScript compiled into the
//! binary (no build step), talking to the same API as everyone else.
//! Pages carry no data; what a page shows comes from the API, which
//! checks the role, so a page opened by the wrong role shows nothing but
//! a refusal.

use crate::App;
use axum::extract::RawQuery;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::{Arc, OnceLock};

include!(concat!(env!("OUT_DIR"), "/web_files.rs"));

/// The pages: the path each is served at, and its file.
const PAGES: &[(&str, &str)] = &[
    ("/", "login.html"),
    ("/agent", "agent.html"),
    ("/wallboard", "wallboard.html"),
    ("/admin", "admin.html"),
    ("/reports", "reports.html"),
    ("/planning", "planning.html"),
    ("/directory", "directory.html"),
    ("/account", "account.html"),
    ("/recordings", "recordings.html"),
    ("/audit", "audit.html"),
    // The patient's chat: a page any website may frame (the widget).
    ("/chat/", "chat.html"),
];

/// The variable naming a directory to serve the web files from instead of
/// the copies compiled in, read afresh on every request (for working on
/// the pages without rebuilding; never cached by browsers).
pub const WEB_DIR_VAR: &str = "SWITCHBOARD_WEB_DIR";

/// Where a script or style sheet is served: the patient's chat files
/// under `/chat/`, the staff application's at the root.
fn url_of(name: &str) -> String {
    if matches!(name, "chat.js" | "chat.css" | "widget.js") {
        format!("/chat/{name}")
    } else {
        format!("/{name}")
    }
}

fn kind_of(name: &str) -> &'static str {
    if name.ends_with(".html") {
        "text/html; charset=utf-8"
    } else if name.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        "text/javascript; charset=utf-8"
    }
}

struct File {
    body: Bytes,
    gzip: Bytes,
}

/// The web files as served: every reference to a script or style sheet
/// carries the version of the whole set (`/app.css?v=…`), so a browser
/// keeps them until any changes; each is kept compressed too.
struct Web {
    version: String,
    files: BTreeMap<String, File>,
    dev: bool,
}

impl Web {
    fn build(mut files: Vec<(String, String)>, dev: bool) -> Web {
        files.sort();
        let mut h = sha2::Sha256::new();
        for (name, body) in &files {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((body.len() as u64).to_le_bytes());
            h.update(body.as_bytes());
        }
        let version: String = h.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let linked: Vec<String> = files
            .iter()
            .filter(|(n, _)| !n.ends_with(".html"))
            .map(|(n, _)| url_of(n))
            .collect();
        let files = files
            .into_iter()
            .map(|(name, mut body)| {
                if !dev {
                    for url in &linked {
                        for q in ['"', '\''] {
                            body = body.replace(
                                &format!("{q}{url}{q}"),
                                &format!("{q}{url}?v={version}{q}"),
                            );
                        }
                    }
                }
                let gzip = if dev {
                    Bytes::new()
                } else {
                    gzip(body.as_bytes())
                };
                let file = File {
                    body: Bytes::from(body),
                    gzip,
                };
                (name, file)
            })
            .collect();
        Web {
            version,
            files,
            dev,
        }
    }

    /// The files compiled in, or (with [`WEB_DIR_VAR`]) read from disk now.
    fn current() -> Arc<Web> {
        static COMPILED: OnceLock<Arc<Web>> = OnceLock::new();
        if let Some(dir) = std::env::var_os(WEB_DIR_VAR) {
            return Arc::new(Web::build(from_dir(std::path::Path::new(&dir)), true));
        }
        COMPILED
            .get_or_init(|| {
                let files = FILES
                    .iter()
                    .map(|(n, b)| (n.to_string(), b.to_string()))
                    .collect();
                Arc::new(Web::build(files, false))
            })
            .clone()
    }
}

fn from_dir(dir: &std::path::Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let served = name.ends_with(".html") || name.ends_with(".js") || name.ends_with(".css");
            let body = std::fs::read_to_string(e.path()).ok()?;
            served.then_some((name, body))
        })
        .collect()
}

fn gzip(body: &[u8]) -> Bytes {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(body);
    Bytes::from(z.finish().unwrap_or_default())
}

/// One web file as a response: compressed when the browser takes gzip,
/// kept for a year when asked for by this version, otherwise checked
/// each time (ETag).
fn serve(name: &str, headers: &HeaderMap, query: Option<&str>) -> Response {
    let web = Web::current();
    let Some(file) = web.files.get(name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", web.version);
    let cache = if web.dev {
        "no-store"
    } else if name == "widget.js" {
        // Loaded by other sites' pages, at an address without a version.
        "public, max-age=3600"
    } else if !name.ends_with(".html")
        && query.is_some_and(|q| q.split('&').any(|p| p == format!("v={}", web.version)))
    {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut r = if !web.dev
        && headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let gz = !web.dev
            && headers
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        let mut r = if gz {
            file.gzip.clone().into_response()
        } else {
            file.body.clone().into_response()
        };
        if gz {
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(kind_of(name)),
        );
        r
    };
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    match name {
        "chat.html" => {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; img-src 'self' data: blob:; frame-ancestors *; base-uri 'none'; form-action 'self'",
                ),
            );
        }
        "widget.js" => {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            h.insert(
                header::HeaderName::from_static("cross-origin-resource-policy"),
                HeaderValue::from_static("cross-origin"),
            );
        }
        _ => {}
    }
    r
}

fn route(router: Router<App>, path: &str, name: String) -> Router<App> {
    router.route(
        path,
        get(
            move |headers: HeaderMap, RawQuery(q): RawQuery| async move {
                serve(&name, &headers, q.as_deref())
            },
        ),
    )
}

/// The pages and their assets.
pub(crate) fn pages() -> Router<App> {
    let mut router = Router::new();
    for (path, file) in PAGES {
        router = route(router, path, file.to_string());
    }
    let mut names: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
    if let Some(dir) = std::env::var_os(WEB_DIR_VAR) {
        names.extend(
            from_dir(std::path::Path::new(&dir))
                .into_iter()
                .map(|(n, _)| n),
        );
    }
    names.sort();
    names.dedup();
    for name in names.into_iter().filter(|n| !n.ends_with(".html")) {
        router = route(router, &url_of(&name), name);
    }
    router.route(
        "/docs/kpis.md",
        get(|| async {
            (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                include_str!("../../../docs/kpis.md"),
            )
                .into_response()
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
