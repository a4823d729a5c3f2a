//! Text messages through GOV.UK Notify: a client for its v2 API (a JWT
//! per request, HS256, `iss` the service id and `iat` now; the key is
//! `{name}-{service id}-{secret}`), the sender that sends the outbox's texts
//! (marked `sending` before Notify is asked; a row a crash left `sending`
//! is looked up by its reference before it is sent again, so a text is
//! never sent twice), and the two callbacks Notify makes to us — delivery
//! receipts and inbound texts — authenticated with the bearer token the
//! operator gave Notify. An inbound text joins the sender's latest thread
//! (or starts one); it is acknowledged to Notify only once it is stored.
//!
//! The base URL is configurable: tests run against a local stand-in
//! (`scripts/notify_standin.py`) that the official Python client checks.

use crate::chat::Chats;
use crate::error::error;
use crate::written::{self, Envelope, Incoming, Target, ThreadMeta};
use crate::App;
use axum::extract::Extension;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use callctl::chat::Body;
use callctl::thread::Medium;
use http_body_util::Full;
use model::{OrgId, PhoneNumber, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Notify's own address.
pub const NOTIFY_URL: &str = "https://api.notifications.service.gov.uk";
/// The outbox route of texts.
pub const ROUTE: &str = "notify";

/// How the operator configures Notify (`--channels FILE`, `[notify]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    #[serde(default = "default_url")]
    pub base_url: String,
    /// A file holding the API key (`{name}-{service id}-{secret}`).
    pub api_key_file: PathBuf,
    /// The text template agents' words are sent with: its body is
    /// `((body))`.
    pub sms_template: String,
    /// A file holding the bearer token Notify sends on our callbacks
    /// (delivery receipts, inbound texts).
    pub callback_token_file: PathBuf,
    /// The service an inbound text goes to when its number is no
    /// service's entry point (by name).
    #[serde(default)]
    pub inbound_service: Option<String>,
    /// Acknowledge a new thread's first text with its reference.
    #[serde(default)]
    pub acknowledge: bool,
}

fn default_url() -> String {
    NOTIFY_URL.into()
}

/// A Notify API key, taken apart.
#[derive(Clone)]
pub struct ApiKey {
    pub service_id: String,
    secret: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({}, …)", self.service_id)
    }
}

pub(crate) fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

impl std::str::FromStr for ApiKey {
    type Err = String;
    fn from_str(key: &str) -> Result<ApiKey, String> {
        let key = key.trim();
        let bad = || {
            "a Notify API key is {key name}-{service id}-{secret key}: the last two are UUIDs"
                .to_string()
        };
        if key.len() < 74 || !key.is_char_boundary(key.len() - 73) {
            return Err(bad());
        }
        let secret = &key[key.len() - 36..];
        let service = &key[key.len() - 73..key.len() - 37];
        if !is_uuid(secret) || !is_uuid(service) || &key[key.len() - 37..key.len() - 36] != "-" {
            return Err(bad());
        }
        Ok(ApiKey {
            service_id: service.to_string(),
            secret: secret.to_string(),
        })
    }
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl ApiKey {
    /// A token for a request made at `now_s` (seconds since the epoch).
    pub fn token(&self, now_s: i64) -> String {
        use hmac::{KeyInit, Mac};
        let header = b64(br#"{"typ":"JWT","alg":"HS256"}"#);
        let claims = b64(serde_json::json!({"iss": self.service_id, "iat": now_s})
            .to_string()
            .as_bytes());
        let signing = format!("{header}.{claims}");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.secret.as_bytes())
            .expect("HMAC takes any key");
        mac.update(signing.as_bytes());
        format!("{signing}.{}", b64(&mac.finalize().into_bytes()))
    }
}

/// What Notify said of a request.
#[derive(Debug, PartialEq, Eq)]
pub enum NotifyError {
    /// 400: refused for good (a bad number, a missing personalisation, a
    /// trial-mode recipient).
    Refused(String),
    /// 403: our token (a wrong key, or this server's clock differs from
    /// Notify's by more than 30 s).
    Auth(String),
    /// 429: too many requests (3,000 a minute) or the daily limit.
    TooMany(String),
    /// 5xx, or no answer.
    Unavailable(String),
}

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotifyError::Refused(m) => write!(f, "Notify refused the text: {m}"),
            NotifyError::Auth(m) if m.contains("clock") => write!(
                f,
                "Notify refused our token: this server's clock differs from Notify's by more than 30 seconds ({m}); set the clock (NTP)"
            ),
            NotifyError::Auth(m) => write!(f, "Notify refused our token (check the API key): {m}"),
            NotifyError::TooMany(m) => write!(f, "Notify's rate limit: {m}"),
            NotifyError::Unavailable(m) => write!(f, "Notify unavailable: {m}"),
        }
    }
}

/// Notify's error body's first message.
fn message_of(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct E {
        message: Option<String>,
    }
    #[derive(Deserialize)]
    struct B {
        errors: Option<Vec<E>>,
    }
    serde_json::from_slice::<B>(body)
        .ok()
        .and_then(|b| b.errors)
        .and_then(|e| e.into_iter().find_map(|e| e.message))
        .map(|m| m.chars().take(200).collect())
        .unwrap_or_else(|| "(no message)".into())
}

/// A client of Notify's API.
pub struct Notify {
    pub cfg: NotifyConfig,
    key: ApiKey,
    callback_token: String,
    outbound: Arc<crate::outbound::Outbound>,
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notify")
            .field("base_url", &self.cfg.base_url)
            .finish_non_exhaustive()
    }
}

impl Notify {
    pub fn new(
        cfg: NotifyConfig,
        outbound: Arc<crate::outbound::Outbound>,
    ) -> Result<Notify, String> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("notify: {}: {e}", p.display()))
        };
        let key: ApiKey = read(&cfg.api_key_file)?
            .parse()
            .map_err(|e| format!("notify: api_key_file: {e}"))?;
        let callback_token = read(&cfg.callback_token_file)?;
        if callback_token.len() < 16 {
            return Err("notify: the callback token is at least 16 characters".into());
        }
        if !is_uuid(&cfg.sms_template) {
            return Err("notify: sms_template is a template's id (a UUID)".into());
        }
        outbound
            .check_url(&format!(
                "{}/v2/notifications",
                cfg.base_url.trim_end_matches('/')
            ))
            .map_err(|e| format!("notify: base_url: {e}"))?;
        Ok(Notify {
            cfg,
            key,
            callback_token,
            outbound,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.base_url.trim_end_matches('/'))
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Vec<u8>, NotifyError> {
        let now_s = app::wall_clock().0 / 1000;
        let req = hyper::Request::builder()
            .method(method)
            .uri("/")
            .header("authorization", format!("Bearer {}", self.key.token(now_s)))
            .header("content-type", "application/json")
            .header("user-agent", "switchboard")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .map_err(|_| NotifyError::Unavailable("the request could not be made".into()))?;
        let (status, answer) = self
            .outbound
            .send(&self.url(path), req)
            .await
            .map_err(NotifyError::Unavailable)?;
        match status {
            200..=299 => Ok(answer),
            400 => Err(NotifyError::Refused(message_of(&answer))),
            401 | 403 => Err(NotifyError::Auth(message_of(&answer))),
            429 => Err(NotifyError::TooMany(message_of(&answer))),
            s => Err(NotifyError::Unavailable(format!("HTTP {s}"))),
        }
    }

    /// Sends a text; Notify's id for it.
    pub async fn send_sms(
        &self,
        to: &str,
        text: &str,
        reference: &str,
    ) -> Result<String, NotifyError> {
        let p = std::collections::BTreeMap::from([("body".to_string(), text.to_string())]);
        self.send_template("sms", to, &self.cfg.sms_template, &p, reference)
            .await
    }

    /// Sends a template (`sms` or `email`) with its personalisation;
    /// Notify's id for the notification.
    pub async fn send_template(
        &self,
        medium: &str,
        to: &str,
        template: &str,
        personalisation: &std::collections::BTreeMap<String, String>,
        reference: &str,
    ) -> Result<String, NotifyError> {
        let (path, field) = if medium == "email" {
            ("/v2/notifications/email", "email_address")
        } else {
            ("/v2/notifications/sms", "phone_number")
        };
        let body = serde_json::json!({
            field: to,
            "template_id": template,
            "personalisation": personalisation,
            "reference": reference,
        });
        let answer = self.call("POST", path, Some(body)).await?;
        #[derive(Deserialize)]
        struct Sent {
            id: String,
        }
        serde_json::from_slice::<Sent>(&answer)
            .map(|s| s.id)
            .map_err(|_| NotifyError::Unavailable("Notify's answer had no id".into()))
    }

    /// Notify's id of the notification we sent with `reference`, if it
    /// has one.
    pub async fn find(&self, reference: &str) -> Result<Option<String>, NotifyError> {
        let answer = self
            .call(
                "GET",
                &format!("/v2/notifications?reference={reference}"),
                None,
            )
            .await?;
        #[derive(Deserialize)]
        struct N {
            id: String,
        }
        #[derive(Deserialize)]
        struct L {
            notifications: Vec<N>,
        }
        serde_json::from_slice::<L>(&answer)
            .map(|l| l.notifications.into_iter().next().map(|n| n.id))
            .map_err(|_| NotifyError::Unavailable("Notify's list did not parse".into()))
    }

    fn token_ok(&self, h: &HeaderMap) -> bool {
        let Some(got) = crate::chat_api::bearer(h) else {
            return false;
        };
        use sha2::Digest;
        // Compared as hashes: in constant time for the secret's length.
        let a = sha2::Sha256::digest(got.as_bytes());
        let b = sha2::Sha256::digest(self.callback_token.as_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

/// How long after a 429 a text is tried again.
const RATE_LIMITED_MS: i64 = 60_000;
/// How long after a refused token (a clock or key the operator must fix).
const AUTH_RETRY_MS: i64 = 5 * 60_000;

/// How often rows left `sending` (a crash, an answer that never came)
/// are settled.
const SETTLE_EVERY: Duration = Duration::from_secs(60);

/// Rows left `sending` (cut off by a crash, or Notify's answer lost):
/// sent already if Notify knows their reference, else sent now; left as
/// they are while Notify cannot say.
async fn settle(app: &App, notify: &Notify) {
    let rows = app
        .with_directory(|d| d.sending_outbound(ROUTE))
        .await
        .and_then(Result::ok)
        .unwrap_or_default();
    for row in rows {
        match notify.find(&row.reference).await {
            Ok(Some(id)) => {
                let a = store::written::Attempt::Sent {
                    provider_id: Some(id),
                };
                let id = row.id;
                let _ = app
                    .with_directory(move |d| d.outbound_attempt(id, app::wall_clock(), &a))
                    .await;
            }
            Ok(None) => send_one(app, notify, row).await,
            Err(_) => return,
        }
    }
}

/// Sends the outbox's texts for as long as the server runs.
pub(crate) async fn sender(notify: Arc<Notify>, chats: Arc<Chats>) {
    let app = chats.app().clone();
    let wake = chats.outbox_wake.clone();
    let mut settled = std::time::Instant::now();
    settle(&app, &notify).await;
    loop {
        if settled.elapsed() > SETTLE_EVERY {
            settle(&app, &notify).await;
            settled = std::time::Instant::now();
        }
        let due = app
            .with_directory(|d| d.due_outbound(ROUTE, app::wall_clock(), 50))
            .await
            .and_then(Result::ok)
            .unwrap_or_default();
        let busy = !due.is_empty();
        for row in due {
            let id = row.id;
            let mine = app
                .with_directory(move |d| d.outbound_sending(id))
                .await
                .and_then(Result::ok)
                .unwrap_or(false);
            if mine {
                send_one(&app, &notify, row).await;
            }
        }
        if !busy {
            let _ = tokio::time::timeout(Duration::from_secs(2), wake.notified()).await;
        }
    }
}

async fn send_one(app: &App, notify: &Notify, row: store::written::Outbound) {
    use store::written::Attempt;
    let now = app::wall_clock();
    // A campaign's recipient who has said STOP since is not sent to.
    if let (Some(_), Some(key)) = (row.campaign, row.recipient_key.clone()) {
        let org = row.org;
        let out = app
            .with_directory(move |d| d.opted_out(org, &key))
            .await
            .and_then(Result::ok)
            .unwrap_or(false);
        if out {
            let a = Attempt::Skipped {
                reason: "the recipient opted out (STOP)".into(),
            };
            let id = row.id;
            let _ = app
                .with_directory(move |d| d.outbound_attempt(id, app::wall_clock(), &a))
                .await;
            return;
        }
    }
    let sent = match written::open_envelope(app, row.org, &row.reference, &row.envelope) {
        Some(Envelope::Sms { to, text }) => Some(notify.send_sms(&to, &text, &row.reference).await),
        Some(Envelope::Template {
            quiet: Some((from, to)),
            ..
        }) if app::campaign::QuietHours::parse(&from, &to)
            .ok()
            .is_some_and(|q| app::campaign::next_allowed(now, Some(&q)) != now) =>
        {
            let q = app::campaign::QuietHours::parse(&from, &to).ok();
            let a = Attempt::Later {
                error: "quiet hours: it waits for the morning".into(),
                retry_at: app::campaign::next_allowed(now, q.as_ref()),
            };
            let id = row.id;
            let _ = app
                .with_directory(move |d| d.outbound_attempt(id, app::wall_clock(), &a))
                .await;
            return;
        }
        Some(Envelope::Template {
            medium,
            to,
            template,
            personalisation,
            ..
        }) => Some(
            notify
                .send_template(&medium, &to, &template, &personalisation, &row.reference)
                .await,
        ),
        _ => None,
    };
    let attempt = match sent {
        Some(Ok(id)) => Attempt::Sent {
            provider_id: Some(id),
        },
        Some(Err(NotifyError::Refused(m))) => Attempt::Failed {
            error: NotifyError::Refused(m).to_string(),
        },
        // No answer (a timeout, a dropped connection): Notify may have it.
        // Left `sending`, to be looked up by its reference before it is
        // sent again.
        Some(Err(NotifyError::Unavailable(e))) => {
            tracing::warn!(reference = %row.reference, "no answer from Notify ({e}): to be looked up");
            return;
        }
        Some(Err(e)) => {
            let wait = match &e {
                NotifyError::TooMany(_) => RATE_LIMITED_MS,
                NotifyError::Auth(_) => AUTH_RETRY_MS,
                _ => app::outbox::retry_after_ms(row.attempts),
            };
            Attempt::Later {
                error: e.to_string(),
                retry_at: Timestamp(now.0 + wait),
            }
        }
        None => Attempt::Failed {
            error: "the envelope does not open (another key-encryption key?)".into(),
        },
    };
    if let Attempt::Later { error, .. } | Attempt::Failed { error } = &attempt {
        tracing::warn!(reference = %row.reference, "a text was not sent: {error}");
    }
    let id = row.id;
    let _ = app
        .with_directory(move |d| d.outbound_attempt(id, app::wall_clock(), &attempt))
        .await;
}

/// Notify's delivery receipt.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Receipt {
    /// Notify's id of the notification.
    id: String,
    /// Our reference.
    #[serde(default)]
    reference: Option<String>,
    /// `delivered`, `permanent-failure`, `temporary-failure` or
    /// `technical-failure`.
    status: String,
    #[serde(flatten)]
    #[schemars(skip)]
    _rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Received {
    ok: bool,
}

fn configured(chats: &Chats) -> Result<Arc<Notify>, Response> {
    chats.notify.get().cloned().ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "GOV.UK Notify is not configured on this server".into(),
        )
    })
}

/// A callback's opening: Notify configured, our bearer token, the body
/// read as `T`; or the refusal to answer.
fn callback<T: serde::de::DeserializeOwned>(
    chats: &Chats,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Arc<Notify>, T), Response> {
    let notify = configured(chats)?;
    if !notify.token_ok(headers) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "Authorization: Bearer and the callback token given to Notify".into(),
        ));
    }
    Ok((notify, json(body)?))
}

fn json<T: serde::de::DeserializeOwned>(b: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(b).map_err(|e| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the body is not a Notify callback: {e}"),
        )
    })
}

const STATUSES: [&str; 4] = [
    "delivered",
    "permanent-failure",
    "temporary-failure",
    "technical-failure",
];

/// `POST /notify/v1/receipts`: a delivery receipt.
pub(crate) async fn receipt(
    Extension(chats): Extension<Arc<Chats>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_, r) = match callback::<Receipt>(&chats, &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !STATUSES.contains(&r.status.as_str()) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("status: one of {}", STATUSES.join(", ")),
        );
    }
    let now = app::wall_clock();
    let found = chats
        .app()
        .with_directory(move |d| {
            d.outbound_delivery(None, Some(&r.id), r.reference.as_deref(), &r.status, now)
        })
        .await;
    match found {
        Some(Ok(_)) => Json(Received { ok: true }).into_response(),
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the receipt could not be stored: send it again".into(),
        ),
    }
}

/// Notify's inbound text.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct InboundText {
    id: String,
    source_number: String,
    destination_number: String,
    message: String,
    #[serde(default)]
    date_received: Option<String>,
}

/// `POST /notify/v1/inbound`: a text from a patient.
pub(crate) async fn inbound(
    Extension(chats): Extension<Arc<Chats>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (notify, t) = match callback::<InboundText>(&chats, &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let _ = &t.date_received;
    if t.id.is_empty() || t.id.len() > callctl::chat::MAX_CLIENT_ID {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "id: 1 to 64 characters".into(),
        );
    }
    // Notify gives numbers as 447700900123 (no plus).
    let source = t.source_number.trim();
    let source = if source.bytes().all(|b| b.is_ascii_digit()) && !source.starts_with('0') {
        format!("+{source}")
    } else {
        source.to_string()
    };
    let Ok(from) = PhoneNumber::parse(&source) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "source_number: not a phone number".into(),
        );
    };
    let from = from.expose().to_string();
    let app = chats.app().clone();
    let Some((org, service)) = inbound_service(&app, &notify, &t.destination_number).await else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "destination_number: no service takes texts at this number (and no inbound_service is set)".into(),
        );
    };
    let key = written::phone_key(&app, org, &from);
    // STOP: no more reminders, for good (not a conversation).
    if app::campaign::is_opt_out(&t.message) {
        let k = key.clone();
        let now = app::wall_clock();
        let audit = store::AuditRecord {
            at: now,
            org: Some(org),
            actor: "sms sender".into(),
            action: "sms.opt_out".into(),
            subject: "a recipient opted out of reminders (STOP)".into(),
            patient: None,
            purpose: None,
            origin: None,
            outcome: "ok".into(),
        };
        let done = app
            .with_directory(move |d| {
                let n = d.add_opt_out(org, &k, now)?;
                d.audit_chat_read(&audit)?;
                Ok::<_, store::StoreError>(n)
            })
            .await;
        return match done {
            Some(Ok(_)) => Json(Received { ok: true }).into_response(),
            _ => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the opt-out could not be stored: send it again".into(),
            ),
        };
    }
    // A reply to a satisfaction survey: its score, not a conversation.
    if let Some(score) = crate::surveys::score_of(&t.message) {
        let k = key.clone();
        let now = app::wall_clock();
        let answered = app
            .with_directory(move |d| d.answer_survey(org, &k, score, now))
            .await;
        match answered {
            Some(Ok(true)) => return Json(Received { ok: true }).into_response(),
            Some(Ok(false)) => {}
            _ => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the reply could not be stored: send it again".into(),
                )
            }
        }
    }
    // The number's latest thread with this service (a text to another
    // service's number is another conversation).
    let thread_key = written::key(&app, org, &["phone-thread", &from, &service.to_string()]);
    let k2 = thread_key.clone();
    let latest = app
        .with_directory(move |d| d.thread_by_key(&k2))
        .await
        .and_then(Result::ok)
        .flatten();
    let target = match latest {
        Some(chat) => Target::Join(chat),
        None => Target::New {
            service,
            meta: ThreadMeta {
                address: from.clone(),
                route: ROUTE.into(),
                ..ThreadMeta::default()
            },
            acknowledgement: notify.cfg.acknowledge.then(|| {
                "Thank you for your text. Your reference is {reference}. We aim to reply within one working day. If you need medical help now, call 111, or 999 in an emergency.".to_string()
            }),
        },
    };
    let text: String = t
        .message
        .chars()
        .take(callctl::thread::MAX_THREAD_TEXT_CHARS)
        .collect();
    let text = if text.trim().is_empty() {
        "(an empty text)".to_string()
    } else {
        text
    };
    match written::receive(
        &chats,
        Incoming {
            org,
            medium: Medium::Sms,
            target,
            input_id: t.id,
            body: Body::Text(text),
            mail_id: None,
            keys: vec![thread_key],
            action: "sms.received",
        },
    )
    .await
    {
        Ok(_) => Json(Received { ok: true }).into_response(),
        Err(e) => {
            tracing::warn!("an inbound text was not taken: {e}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the text could not be stored: send it again".into(),
            )
        }
    }
}

/// The service a text to `number` goes to: the one with that number as an
/// entry point, else the configured `inbound_service`.
async fn inbound_service(app: &App, notify: &Notify, number: &str) -> Option<(OrgId, u32)> {
    let number = PhoneNumber::parse(number)
        .ok()
        .map(|p| p.expose().to_string());
    let mut by_name = None;
    for &org in &app.orgs {
        let services = app
            .with_directory(move |d| d.services(org))
            .await
            .and_then(Result::ok)
            .unwrap_or_default();
        for (sid, def) in services {
            let Some(d) = app::services::ServiceDef::parse(&def) else {
                continue;
            };
            let hit = d.entry_points.iter().any(|e| {
                e.kind == app::services::Kind::Phone
                    && number.as_deref().is_some_and(|n| {
                        PhoneNumber::parse(&e.address).is_ok_and(|p| p.expose() == n)
                    })
            });
            if hit {
                return Some((org, sid));
            }
            if notify
                .cfg
                .inbound_service
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&d.name))
            {
                by_name = Some((org, sid));
            }
        }
    }
    by_name
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "switchboard_test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0";

    #[test]
    fn an_api_key_is_taken_apart_and_a_bad_one_named() {
        let k: ApiKey = KEY.parse().unwrap();
        assert_eq!(k.service_id, "26785a09-ab16-4eb0-8407-a37497a57506");
        assert!("not-a-key".parse::<ApiKey>().unwrap_err().contains("UUIDs"));
        assert!(format!("{k:?}").contains("…"));
    }

    #[test]
    fn a_token_is_hs256_over_iss_and_iat() {
        use hmac::{KeyInit, Mac};
        let k: ApiKey = KEY.parse().unwrap();
        let t = k.token(1_796_205_600);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        use base64::Engine;
        let d = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap()
        };
        let header: serde_json::Value = serde_json::from_slice(&d(parts[0])).unwrap();
        assert_eq!(header, serde_json::json!({"typ": "JWT", "alg": "HS256"}));
        let claims: serde_json::Value = serde_json::from_slice(&d(parts[1])).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({"iss": "26785a09-ab16-4eb0-8407-a37497a57506", "iat": 1_796_205_600})
        );
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(b"3d844edf-8d35-48ac-975b-e847b4f122b0")
                .unwrap();
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        mac.verify_slice(&d(parts[2])).unwrap();
    }

    #[test]
    fn errors_say_what_to_do() {
        let clock = NotifyError::Auth(
            "Error: Your system clock must be accurate to within 30 seconds".into(),
        );
        assert!(clock.to_string().contains("clock differs"));
        assert_eq!(
            message_of(br#"{"status_code":400,"errors":[{"error":"BadRequestError","message":"Missing personalisation: body"}]}"#),
            "Missing personalisation: body"
        );
    }
}
