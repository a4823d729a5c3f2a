//! Log-in and log-out, accounts and integration tokens.

use crate::error::{body, tryr, Body};
use crate::net::Client;
use crate::{error, wall_clock, App, Caller, Origin};
use app::auth::{self, check_username, Role, Scope};
use app::throttle::Attempt;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::AgentId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use store::AuditRecord;

/// The session cookie's name over plain HTTP (a development server on
/// loopback, or behind a proxy that is not trusted to say it used TLS).
pub const COOKIE: &str = "sb_session";
/// Its name over HTTPS: the `__Host-` prefix makes the browser refuse it
/// unless it is `Secure`, for this host only, on path `/`.
pub const SECURE_COOKIE: &str = "__Host-sb_session";
/// The device cookie (see `app::auth::device_cookie`), likewise.
const DEVICE_COOKIE: &str = "sb_device";
const SECURE_DEVICE_COOKIE: &str = "__Host-sb_device";
/// How long a browser stays a known device (a year).
const DEVICE_MAX_AGE_S: u32 = 365 * 24 * 3600;

fn cookie(headers: &HeaderMap, names: [&str; 2]) -> Option<String> {
    let pairs: Vec<(String, String)> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // The secure name first: a plain one cannot shadow it.
    names
        .iter()
        .find_map(|n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
        .filter(|v| v.len() <= 128)
}

pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, [SECURE_COOKIE, COOKIE])
}

/// `name=value` with the attributes for this client's transport.
fn set_cookie(
    client: &Client,
    secure_name: &str,
    name: &str,
    value: &str,
    max_age: Option<u32>,
) -> String {
    let age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    if client.https {
        format!("{secure_name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict{age}")
    } else {
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{age}")
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Login")]
pub(crate) struct LoginBody {
    username: String,
    password: String,
}

fn system_audit(actor: &str, action: &str, origin: &str, outcome: &str) -> AuditRecord {
    AuditRecord {
        at: wall_clock(),
        org: None,
        actor: actor.into(),
        action: action.into(),
        subject: "session".into(),
        patient: None,
        purpose: None,
        origin: Some(origin.into()),
        outcome: outcome.into(),
    }
}

/// Writes the log-in throttle's summary to the audit trail (every
/// minute, and at shutdown).
pub async fn audit_refused_log_ins(app: &App) {
    let tallies = app
        .limiter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take_summary();
    if tallies.is_empty() {
        return;
    }
    let records = app::throttle::audit_records(tallies, "log in", "login:");
    let n = records.len();
    if let Err(e) = app
        .dir(move |d| records.iter().try_for_each(|r| d.audit(r).map(|_| ())))
        .await
    {
        tracing::error!("{n} log-in refusal summaries not audited: {e:?}");
    }
}

/// Log in: a new session (a fresh 256-bit id) in an `HttpOnly`,
/// `SameSite=Strict` cookie (`__Host-` and `Secure` over HTTPS), and a
/// device cookie that lets this browser in while strangers are being
/// throttled. Failures are throttled (see `app::throttle`): past the
/// limit the answer is 429 with `Retry-After`; refusals reach the audit
/// trail as a summary per account and address.
pub(crate) async fn login(
    State(app): State<App>,
    Extension(Origin(origin)): Extension<Origin>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    b: Body<LoginBody>,
) -> Response {
    let b = tryr!(body(b));
    if b.username.is_empty() || b.username.len() > 64 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "username: 1 to 64 characters".into(),
        );
    }
    if b.password.len() > auth::MAX_PASSWORD {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("password: at most {} bytes", auth::MAX_PASSWORD),
        );
    }
    let now = wall_clock();
    let name = b.username.clone();
    let user = tryr!(app.dir(move |d| d.user_by_name(&name)).await);
    let throttle = Throttle::new(
        &app,
        &headers,
        user.as_ref().map(|u| u.id),
        &b.username,
        &origin,
    );
    tryr!(throttle.check());
    let phc = user
        .as_ref()
        .map_or(auth::dummy_hash().to_string(), |u| u.password_hash.clone());
    let password = b.password.clone();
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &phc))
        .await
        .unwrap_or(false);
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        _ => {
            throttle.failed();
            return error(
                StatusCode::UNAUTHORIZED,
                "unknown username or wrong password".into(),
            );
        }
    };
    // A second factor, if the account has one or its role must.
    let (needed, methods) = match crate::mfa::needed(&app, &user).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    if let Some(step) = needed.name() {
        return Json(LoggedIn {
            mfa: Some(step),
            methods: Some(methods),
            ticket: Some(crate::mfa::ticket(&app.device_key, user.id, now)),
            ..LoggedIn::of(user)
        })
        .into_response();
    }
    throttle.succeeded();
    start_session(&app, &client, &origin, user, None).await
}

/// One log-in attempt as the throttle follows it: checked before the
/// credential is, then failed or succeeded (`app::throttle`).
pub(crate) struct Throttle<'a> {
    app: &'a App,
    account: String,
    addr: String,
    device: Option<String>,
}

impl<'a> Throttle<'a> {
    /// The attempt on `account` from `addr`, its device proven by the
    /// request's device cookie for `user` (if known).
    pub(crate) fn new(
        app: &'a App,
        headers: &HeaderMap,
        user: Option<u32>,
        account: &str,
        addr: &str,
    ) -> Throttle<'a> {
        Throttle {
            app,
            account: account.into(),
            addr: addr.into(),
            device: user.and_then(|u| device_of(app, headers, u)),
        }
    }

    fn attempt(&self) -> Attempt<'_> {
        Attempt {
            account: &self.account,
            addr: &self.addr,
            device: self.device.as_deref(),
        }
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, app::throttle::LoginLimiter> {
        self.app.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// 429 with `Retry-After` if the attempt must wait.
    pub(crate) fn check(&self) -> Result<(), Response> {
        match self.limiter().check(&self.attempt(), wall_clock()) {
            Some(wait_ms) => {
                tracing::warn!("log-in throttled for an account from {}", self.addr);
                Err(throttled(wait_ms))
            }
            None => Ok(()),
        }
    }

    /// The credential was wrong; stamped now, when the check ended (the
    /// back-off runs from here).
    pub(crate) fn failed(&self) {
        self.limiter().failed(&self.attempt(), wall_clock());
    }

    pub(crate) fn succeeded(&self) {
        self.limiter().succeeded(&self.attempt());
    }
}

/// The device id proven by the request's device cookie for `user`.
pub(crate) fn device_of(app: &App, headers: &HeaderMap, user: u32) -> Option<String> {
    let c = cookie(headers, [SECURE_DEVICE_COOKIE, DEVICE_COOKIE])?;
    auth::check_device_cookie(&app.device_key, &c, user)
}

/// 429 with `Retry-After`.
pub(crate) fn throttled(wait_ms: i64) -> Response {
    let secs = (wait_ms + 999) / 1000;
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.to_string())],
        Json(crate::wire::ErrorBody {
            error: format!("too many failed log-ins; try again in {secs} s"),
            code: None,
        }),
    )
        .into_response()
}

/// A new session for `user` (a fresh 256-bit id, audited), its cookie
/// and a device cookie for this browser.
pub(crate) async fn start_session(
    app: &App,
    client: &Client,
    origin: &str,
    user: store::directory::User,
    recovery_codes: Option<Vec<String>>,
) -> Response {
    let now = wall_clock();
    let sid = auth::new_secret("");
    let mut audit = system_audit(
        &format!("user:{} ({})", user.id, user.username),
        "log in",
        origin,
        "ok",
    );
    audit.org = Some(user.org);
    let (sid_hash, uid) = (auth::secret_hash(&sid), user.id);
    tryr!(
        app.dir(move |d| d.create_session(&sid_hash, uid, now, &audit))
            .await
    );
    let session = set_cookie(client, SECURE_COOKIE, COOKIE, &sid, None);
    let device = set_cookie(
        client,
        SECURE_DEVICE_COOKIE,
        DEVICE_COOKIE,
        &auth::device_cookie(&app.device_key, user.id),
        Some(DEVICE_MAX_AGE_S),
    );
    let mut r = Json(LoggedIn {
        recovery_codes,
        ..LoggedIn::of(user)
    })
    .into_response();
    for c in [session, device] {
        if let Ok(v) = header::HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// A person logged in, or (with `mfa`) half way: the password was right
/// and a second factor is needed, through `POST /api/v1/session/mfa` with
/// the `ticket` (no session yet).
#[derive(Serialize, JsonSchema)]
pub(crate) struct LoggedIn {
    user: u32,
    username: String,
    display_name: String,
    /// The account's role name.
    role: String,
    organisation: u32,
    /// The agent they work as.
    agent: Option<u32>,
    /// A demo account, with a published password.
    demo: bool,
    /// `code`: give a code from the authenticator (or a recovery code);
    /// `enrol`: the role requires one and none is set up yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    mfa: Option<&'static str>,
    /// The second factors the account has: `totp`, `passkey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<String>>")]
    methods: Option<Vec<&'static str>>,
    /// For the second step, valid five minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket: Option<String>,
    /// Just after an authenticator is confirmed: the recovery codes,
    /// shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

impl LoggedIn {
    fn of(user: store::directory::User) -> LoggedIn {
        LoggedIn {
            user: user.id,
            username: user.username,
            display_name: user.display_name,
            role: user.role,
            organisation: user.org.0,
            agent: user.agent.map(|a| a.0),
            demo: user.demo,
            mfa: None,
            methods: None,
            ticket: None,
            recovery_codes: None,
        }
    }
}

/// Who is calling.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Me {
    /// As the audit trail names them: `user:7 (sam.jones)`, `token:3 (gp-system)`.
    actor: String,
    user: Option<u32>,
    role: crate::wire::Role,
    organisation: u32,
    agent: Option<u32>,
    /// An integration token's scopes (none for people).
    scopes: Option<Vec<crate::wire::Scope>>,
    /// The pages of the web application this role may open, in the
    /// navigation's order (the first is its home).
    pages: Vec<PageLink>,
    /// The outcomes a contact is wrapped up with.
    outcomes: Vec<OutcomeChoice>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct PageLink {
    /// The path without its slash: `agent` is `/agent`.
    name: &'static str,
    title: &'static str,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct OutcomeChoice {
    code: &'static str,
    label: &'static str,
}

/// Who am I.
pub(crate) async fn me(Extension(c): Extension<Caller>) -> Response {
    Json(Me {
        actor: c.actor,
        user: c.user,
        role: c.role.into(),
        organisation: c.org.0,
        agent: c.agent.map(|a| a.0),
        scopes: c
            .scopes
            .map(|s| s.into_iter().map(crate::wire::Scope::from).collect()),
        pages: app::auth::PAGES
            .iter()
            .filter(|p| p.roles.contains(&c.role))
            .map(|p| PageLink {
                name: p.name,
                title: p.title,
            })
            .collect(),
        outcomes: crate::contacts::OUTCOMES
            .iter()
            .zip(crate::contacts::OUTCOME_LABELS)
            .map(|(&code, label)| OutcomeChoice { code, label })
            .collect(),
    })
    .into_response()
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct LoggedOut {
    logged_out: bool,
}

/// Log out: the session ends on the server; the old cookie gets 401.
pub(crate) async fn logout(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Extension(client): Extension<Client>,
) -> Response {
    let Some(hash) = &c.session else {
        return error(
            StatusCode::BAD_REQUEST,
            "a token has no session; revoke the token instead".into(),
        );
    };
    let audit = c.audit("log out", "session".into());
    app.forget_credentials();
    let h = hash.clone();
    let r = app.dir(move |d| d.revoke_session(&h, &audit)).await;
    app.forget_credentials();
    tryr!(r);
    (
        StatusCode::OK,
        [(
            header::SET_COOKIE,
            set_cookie(&client, SECURE_COOKIE, COOKIE, "", Some(0)),
        )],
        Json(LoggedOut { logged_out: true }),
    )
        .into_response()
}

// --- accounts --------------------------------------------------------------

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewUser")]
pub(crate) struct NewUserBody {
    #[schemars(length(min = 1, max = 64))]
    username: String,
    #[schemars(length(min = 1, max = 100))]
    display_name: String,
    role: crate::wire::Role,
    #[serde(default)]
    agent: Option<u32>,
    #[schemars(length(min = 12))]
    password: String,
}

/// An account (never its password).
#[derive(Serialize, JsonSchema)]
pub(crate) struct User {
    id: u32,
    username: String,
    display_name: String,
    role: String,
    agent: Option<u32>,
    disabled: bool,
    demo: bool,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Users {
    users: Vec<User>,
}

fn user_json(u: &store::directory::User) -> User {
    User {
        id: u.id,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        role: u.role.clone(),
        agent: u.agent.map(|a| a.0),
        disabled: u.disabled,
        demo: u.demo,
    }
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct UserState {
    id: u32,
    disabled: bool,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct PasswordSet {
    id: u32,
    /// Every session of the account ended.
    sessions_ended: bool,
}

/// An integration token (never its secret).
#[derive(Serialize, JsonSchema)]
pub(crate) struct Token {
    id: u32,
    name: String,
    #[schemars(with = "Vec<crate::wire::Scope>")]
    scopes: Vec<String>,
    created: crate::wire::Millis,
    revoked: bool,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Tokens {
    tokens: Vec<Token>,
}

/// A new token: its secret, shown this once.
#[derive(Serialize, JsonSchema)]
pub(crate) struct NewToken {
    id: u32,
    secret: String,
    #[schemars(with = "Vec<crate::wire::Scope>")]
    scopes: Vec<&'static str>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Revoked {
    id: u32,
    revoked: bool,
}

pub(crate) async fn list_users(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
) -> Response {
    let org = c.org;
    match app.dir(move |d| d.users(org)).await {
        Ok(v) => Json(Users {
            users: v.iter().map(user_json).collect(),
        })
        .into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

pub(crate) async fn create_user(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<NewUserBody>,
) -> Response {
    let b = tryr!(body(b));
    let unprocessable = |m: String| error(StatusCode::UNPROCESSABLE_ENTITY, m);
    tryr!(check_username(&b.username).map_err(unprocessable));
    if b.display_name.trim().is_empty() || b.display_name.chars().count() > 100 {
        return unprocessable("display_name: 1 to 100 characters".into());
    }
    let role = Role::from(b.role);
    if role == Role::Integration {
        return unprocessable(
            "role: integrations use tokens (POST /api/v1/tokens), not accounts".into(),
        );
    }
    tryr!(auth::check_password(&b.password).map_err(unprocessable));
    if let Some(a) = b.agent {
        let known = app
            .read(c.org, move |t, _| {
                t.engine.config().agents.iter().any(|x| x.id == AgentId(a))
            })
            .await;
        if !tryr!(known) {
            return unprocessable(format!("agent: no agent a{a} in this organisation"));
        }
    }
    let password = b.password.clone();
    let Ok(phc) = tokio::task::spawn_blocking(move || auth::hash_password(&password)).await else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "hashing failed".into());
    };
    let audit = c.audit("create account", format!("user {}", b.username));
    // An agent's SIP phone registers with the same credentials.
    let ha1 = b
        .agent
        .map(|_| telephony::digest::ha1(&b.username, app::auth::SIP_REALM, &b.password));
    let (org, username, display_name, role, agent) = (
        c.org,
        b.username.clone(),
        b.display_name.clone(),
        role.name(),
        b.agent.map(AgentId),
    );
    let r = app
        .dir(move |d| {
            let id = d.create_user(
                &store::directory::NewUser {
                    org,
                    username: &username,
                    display_name: &display_name,
                    role,
                    agent,
                    password_hash: &phc,
                    demo: false,
                },
                wall_clock(),
                &audit,
            )?;
            if let Some(ha1) = ha1 {
                let _ = d.set_sip_ha1(id, &ha1);
            }
            Ok(id)
        })
        .await;
    match r {
        Ok(id) => (StatusCode::CREATED, Json(crate::wire::Created { id })).into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

/// An account of the caller's organisation, or 404.
async fn own_user(app: &App, c: &Caller, id: u32) -> Result<store::directory::User, Response> {
    match app
        .dir(move |d| d.user(id))
        .await
        .map_err(crate::error::api)?
    {
        Some(u) if u.org == c.org => Ok(u),
        _ => Err(error(StatusCode::NOT_FOUND, format!("unknown user {id}"))),
    }
}

async fn set_disabled(app: &App, c: &Caller, id: u32, disabled: bool) -> Response {
    let u = tryr!(own_user(app, c, id).await);
    if disabled && c.user == Some(id) {
        return error(
            StatusCode::CONFLICT,
            "user: you cannot disable your own account; another admin can".into(),
        );
    }
    let what = if disabled { "disable" } else { "enable" };
    let audit = c.audit(&format!("{what} account"), format!("user {}", u.username));
    // Before and after: no check in between can keep the old answer.
    app.forget_credentials();
    let r = app.dir(move |d| d.set_disabled(id, disabled, &audit)).await;
    app.forget_credentials();
    match r {
        Ok(()) => Json(UserState { id, disabled }).into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

pub(crate) async fn disable_user(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
) -> Response {
    set_disabled(&app, &c, id, true).await
}

pub(crate) async fn enable_user(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
) -> Response {
    set_disabled(&app, &c, id, false).await
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Password")]
pub(crate) struct PasswordBody {
    #[schemars(length(min = 12))]
    password: String,
}

/// Sets a new password; every session of the account ends.
pub(crate) async fn set_password(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
    b: Body<PasswordBody>,
) -> Response {
    let b = tryr!(body(b));
    tryr!(auth::check_password(&b.password).map_err(|m| error(StatusCode::UNPROCESSABLE_ENTITY, m)));
    let u = tryr!(own_user(&app, &c, id).await);
    let ha1 = telephony::digest::ha1(&u.username, app::auth::SIP_REALM, &b.password);
    let Ok(phc) = tokio::task::spawn_blocking(move || auth::hash_password(&b.password)).await
    else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "hashing failed".into());
    };
    let audit = c.audit("set password", format!("user {}", u.username));
    // Before and after: no check in between can keep the old answer.
    app.forget_credentials();
    let with_phone = u.agent.is_some();
    let r = app
        .dir(move |d| {
            d.set_password(id, &phc, &audit)?;
            if with_phone {
                let _ = d.set_sip_ha1(id, &ha1);
            }
            Ok(())
        })
        .await;
    app.forget_credentials();
    match r {
        Ok(()) => Json(PasswordSet {
            id,
            sessions_ended: true,
        })
        .into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

// --- integration tokens -------------------------------------------------------

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewToken")]
pub(crate) struct NewTokenBody {
    #[schemars(length(min = 1, max = 100))]
    name: String,
    scopes: Vec<crate::wire::Scope>,
}

/// Creates a token; its secret is shown once, here, and stored only as a
/// hash.
pub(crate) async fn create_token(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<NewTokenBody>,
) -> Response {
    let b = tryr!(body(b));
    if b.name.trim().is_empty() || b.name.chars().count() > 100 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name: 1 to 100 characters".into(),
        );
    }
    if b.scopes.is_empty() || b.scopes.len() > 8 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "scopes: at least one (contacts, patients)".into(),
        );
    }
    let secret = auth::new_secret("sbt_");
    let scopes: Vec<&str> = b.scopes.iter().map(|&s| Scope::from(s).name()).collect();
    let audit = c.audit("create token", format!("token {}", b.name));
    let (org, name, joined, hash) = (
        c.org,
        b.name.clone(),
        scopes.join(" "),
        auth::secret_hash(&secret),
    );
    let r = app
        .dir(move |d| d.create_token(org, &name, &joined, &hash, wall_clock(), &audit))
        .await;
    match r {
        Ok(id) => (StatusCode::CREATED, Json(NewToken { id, secret, scopes })).into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

pub(crate) async fn list_tokens(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
) -> Response {
    let org = c.org;
    match app.dir(move |d| d.tokens(org)).await {
        Ok(v) => Json(Tokens {
            tokens: v
                .iter()
                .map(|t| Token {
                    id: t.id,
                    name: t.name.clone(),
                    scopes: t.scopes.split_whitespace().map(str::to_string).collect(),
                    created: t.created.0,
                    revoked: t.revoked,
                })
                .collect(),
        })
        .into_response(),
        Err(r) => crate::error::Answer::answer(r),
    }
}

pub(crate) async fn revoke_token(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
) -> Response {
    let audit = c.audit("revoke token", format!("token {id}"));
    // Before and after: no check in between can keep the old answer.
    app.forget_credentials();
    let org = c.org;
    let r = app.dir(move |d| d.revoke_token(org, id, &audit)).await;
    app.forget_credentials();
    match r {
        Ok(true) => Json(Revoked { id, revoked: true }).into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("unknown token {id}")),
        Err(r) => crate::error::Answer::answer(r),
    }
}
