//! Multi-factor log-in (TOTP, `app::totp`): the second step of a log-in,
//! enrolment (by the person, or at log-in when their role's policy
//! requires it and they have none yet), the organisation's policy, and an
//! admin's reset for a lost phone. Integration tokens are not affected:
//! they never log in.
//!
//! Between the password and the code the client holds a ticket: the
//! account and an expiry, signed with the server's key (no state kept,
//! any node can check it). A wrong code counts against the account in the
//! log-in throttle like a wrong password.

use crate::error::{body, tryr, Body};
use crate::net::Client;
use crate::people::Throttle;
use crate::{error, wall_clock, App, Caller, Origin};
use app::auth::{self, Role};
use app::totp;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use store::directory::User;
use store::AuditRecord;

/// What an account's TOTP secret is sealed for.
fn totp_aad(user: u32) -> String {
    format!("totp:{user}")
}

/// How long the second step may take.
pub const TICKET_MS: i64 = 5 * 60 * 1000;
/// Shown by authenticator apps.
const ISSUER: &str = "Switchboard";

/// What a log-in still needs after the password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Needed {
    Nothing,
    /// A code from the person's authenticator (or a recovery code).
    Code,
    /// Their role requires MFA and they have none yet: set it up now.
    Enrol,
}

impl Needed {
    pub(crate) fn name(self) -> Option<&'static str> {
        match self {
            Needed::Nothing => None,
            Needed::Code => Some("code"),
            Needed::Enrol => Some("enrol"),
        }
    }
}

/// What `user` must still show to log in.
/// What `user` must still show to log in, and the second factors they
/// have (`totp`, `passkey`).
pub(crate) async fn needed(
    app: &App,
    user: &User,
) -> Result<(Needed, Vec<&'static str>), Response> {
    let (id, org, role) = (user.id, user.org, user.role.clone());
    let (totp, passkeys, roles) = app
        .dir(move |d| Ok((d.totp(id)?, d.passkeys(id)?.len(), d.mfa_roles(org)?)))
        .await
        .map_err(|e| crate::ApiError::from(e).into_response())?;
    let has_totp = totp.is_some_and(|t| t.confirmed);
    let mut methods = Vec::new();
    if has_totp {
        methods.push("totp");
    }
    if passkeys > 0 {
        methods.push("passkey");
    }
    let needed = if !methods.is_empty() {
        Needed::Code
    } else if roles.contains(&role) {
        Needed::Enrol
    } else {
        Needed::Nothing
    };
    Ok((needed, methods))
}

/// A ticket for the second step of `user`'s log-in.
pub fn ticket(key: &[u8; 32], user: u32, now: model::Timestamp) -> String {
    let expires = now.0 + TICKET_MS;
    let nonce = auth::hex(&auth::random_bytes::<12>());
    let m = auth::mac(
        key,
        &[
            b"mfa ticket",
            user.to_string().as_bytes(),
            expires.to_string().as_bytes(),
            nonce.as_bytes(),
        ],
    );
    format!("mfa1.{user}.{expires}.{nonce}.{}", auth::hex(&m))
}

/// The account a ticket is for, if it is ours and still current.
fn check_ticket(key: &[u8; 32], t: &str, now: model::Timestamp) -> Option<u32> {
    let f: Vec<&str> = t.split('.').collect();
    let ["mfa1", user, expires, nonce, m] = f[..] else {
        return None;
    };
    let want = auth::mac(
        key,
        &[
            b"mfa ticket",
            user.as_bytes(),
            expires.as_bytes(),
            nonce.as_bytes(),
        ],
    );
    if !auth::same(auth::hex(&want).as_bytes(), m.as_bytes()) {
        return None;
    }
    let expires: i64 = expires.parse().ok()?;
    (now.0 < expires).then_some(())?;
    user.parse().ok()
}

pub(crate) fn record(user: &User, action: &str, origin: &str, outcome: &str) -> AuditRecord {
    AuditRecord {
        at: wall_clock(),
        org: Some(user.org),
        actor: format!("user:{} ({})", user.id, user.username),
        action: action.into(),
        subject: format!("user:{}", user.id),
        patient: None,
        purpose: None,
        origin: Some(origin.into()),
        outcome: outcome.into(),
    }
}

fn expired() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "the log-in has expired or the ticket is not ours: log in again".into(),
    )
}

/// The account behind a ticket (live and enabled), or the answer.
pub(crate) async fn ticket_user(app: &App, ticket: &str) -> Result<User, Response> {
    let Some(id) = check_ticket(&app.device_key, ticket, wall_clock()) else {
        return Err(expired());
    };
    match app.dir(move |d| d.user(id)).await {
        Ok(Some(u)) if !u.disabled => Ok(u),
        Ok(_) => Err(expired()),
        Err(e) => Err(crate::ApiError::from(e).into_response()),
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MfaStep")]
pub(crate) struct StepBody {
    /// The ticket the password step gave.
    #[schemars(length(max = 200))]
    ticket: String,
    /// Six digits from the authenticator, or a recovery code
    /// (`xxxxx-xxxxx`).
    #[schemars(length(max = 64))]
    code: String,
}

/// The second step of a log-in: a code from the person's authenticator
/// (confirming it, if it was just set up: the recovery codes are in the
/// answer, once) or a recovery code. Then the session starts as after a
/// password alone.
pub(crate) async fn step(
    State(app): State<App>,
    Extension(Origin(origin)): Extension<Origin>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    b: Body<StepBody>,
) -> Response {
    let b = tryr!(body(b));
    if b.ticket.len() > 200 || b.code.len() > 64 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "ticket or code: too long".into(),
        );
    }
    let user = match ticket_user(&app, &b.ticket).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let throttle = Throttle::new(&app, &headers, Some(user.id), &user.username, &origin);
    tryr!(throttle.check());
    let now = wall_clock();
    let id = user.id;
    let Some(t) = tryr!(app.dir(move |d| d.totp(id)).await) else {
        return error(
            StatusCode::CONFLICT,
            "no authenticator is set up for this account: set one up with POST /api/v1/session/mfa/enrol".into(),
        );
    };
    let secret = tryr!(auth_secret(&app, user.id, &t.secret));
    let typed = b.code.trim().to_string();
    let mut recovery = None;
    let accepted = if t.confirmed && totp::looks_like_recovery(&typed) {
        let audit = record(&user, "log in", &origin, "ok: a recovery code used");
        let hash = totp::recovery_hash(&typed);
        tryr!(
            app.dir(move |d| d.use_recovery_code(id, &hash, now, &audit))
                .await
        )
    } else {
        match totp::verify(&secret, &typed, now, t.last_step) {
            Ok(step) => {
                let confirm = if t.confirmed {
                    None
                } else {
                    let (codes, hashes) = totp::recovery_codes();
                    recovery = Some(codes);
                    Some(hashes)
                };
                let outcome = if t.confirmed {
                    "ok: second factor"
                } else {
                    "ok: authenticator confirmed"
                };
                let audit = record(&user, "mfa", &origin, outcome);
                tryr!(
                    app.dir(move |d| d.use_totp_step(id, step, confirm.as_deref(), &audit))
                        .await
                )
            }
            Err(_) => false,
        }
    };
    if !accepted {
        throttle.failed();
        return error(
            StatusCode::UNAUTHORIZED,
            "wrong code, or a code already used: wait for the next one".into(),
        );
    }
    throttle.succeeded();
    crate::people::start_session(&app, &client, &origin, user, recovery).await
}

/// An account's TOTP secret, opened (sealed at rest under the
/// key-encryption key; one stored by an earlier version, in hex, is read
/// as it is).
fn auth_secret(app: &App, user: u32, stored: &str) -> Result<Vec<u8>, Response> {
    if stored.starts_with("sealed1:") {
        return app::seal::open_text(&app.kek, &totp_aad(user), stored).map_err(|e| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the authenticator's secret cannot be opened: {e}; check the server's key-encryption key"),
            )
        });
    }
    auth::unhex(stored).ok_or_else(|| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "a stored secret is damaged".into(),
        )
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MfaTicket")]
pub(crate) struct TicketBody {
    #[schemars(length(max = 200))]
    ticket: String,
}

/// A new authenticator secret, to put in the person's app (scan the URI
/// as a QR code, or type the secret); the next code confirms it.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Enrolment {
    /// Base32, as apps take it.
    secret: String,
    /// `otpauth://totp/...`
    uri: String,
}

async fn begin(app: &App, user: &User, origin: &str) -> Response {
    let secret = totp::new_secret();
    let audit = record(user, "mfa", origin, "ok: authenticator set-up begun");
    let id = user.id;
    let sealed = app::seal::seal_to_text(&app.kek, &totp_aad(id), &secret);
    let begun = tryr!(app.dir(move |d| d.begin_totp(id, &sealed, &audit)).await);
    if !begun {
        return error(
            StatusCode::CONFLICT,
            "an authenticator is already set up: an admin resets it first (a lost phone)".into(),
        );
    }
    Json(Enrolment {
        secret: totp::base32(&secret),
        uri: totp::otpauth_uri(ISSUER, &user.username, &secret),
    })
    .into_response()
}

/// Sets up an authenticator during a log-in (the role's policy requires
/// one and the person has none yet).
pub(crate) async fn enrol_at_login(
    State(app): State<App>,
    Extension(Origin(origin)): Extension<Origin>,
    b: Body<TicketBody>,
) -> Response {
    let b = tryr!(body(b));
    let user = match ticket_user(&app, &b.ticket).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    begin(&app, &user, &origin).await
}

pub(crate) async fn me_user(app: &App, c: &Caller) -> Result<User, Response> {
    let Some(id) = c.user else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "an integration token has no second factor: it never logs in".into(),
        ));
    };
    match app.dir(move |d| d.user(id)).await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(error(StatusCode::NOT_FOUND, "no such account".into())),
        Err(e) => Err(crate::ApiError::from(e).into_response()),
    }
}

/// A logged-in person sets up an authenticator for themselves.
pub(crate) async fn enrol(State(app): State<App>, Extension(c): Extension<Caller>) -> Response {
    let user = match me_user(&app, &c).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    begin(&app, &user, &c.origin).await
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MfaCode")]
pub(crate) struct CodeBody {
    /// Six digits from the authenticator.
    #[schemars(length(max = 64))]
    code: String,
}

/// The recovery codes: shown once; each works once instead of a code.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Confirmed {
    recovery_codes: Vec<String>,
}

/// Confirms the authenticator being set up with its first code.
pub(crate) async fn confirm(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<CodeBody>,
) -> Response {
    let b = tryr!(body(b));
    let user = match me_user(&app, &c).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id = user.id;
    let t = match tryr!(app.dir(move |d| d.totp(id)).await) {
        Some(t) if !t.confirmed => t,
        Some(_) => {
            return error(
                StatusCode::CONFLICT,
                "the authenticator is already confirmed".into(),
            )
        }
        None => {
            return error(
                StatusCode::CONFLICT,
                "no authenticator is being set up: POST /api/v1/me/mfa first".into(),
            )
        }
    };
    let secret = tryr!(auth_secret(&app, user.id, &t.secret));
    let Ok(step) = totp::verify(&secret, &b.code, wall_clock(), t.last_step) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "code: not the code the authenticator shows now".into(),
        );
    };
    let (codes, hashes) = totp::recovery_codes();
    let audit = record(&user, "mfa", &c.origin, "ok: authenticator confirmed");
    let done = tryr!(
        app.dir(move |d| d.use_totp_step(id, step, Some(&hashes), &audit))
            .await
    );
    if !done {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "code: already used; wait for the next".into(),
        );
    }
    Json(Confirmed {
        recovery_codes: codes,
    })
    .into_response()
}

/// The caller's second factor.
#[derive(Serialize, JsonSchema)]
pub(crate) struct MfaState {
    /// A confirmed authenticator.
    enabled: bool,
    /// Set up but not yet confirmed by a code.
    pending: bool,
    recovery_codes_left: u32,
    /// The organisation's policy requires it of the caller's role.
    required: bool,
}

pub(crate) async fn state(State(app): State<App>, Extension(c): Extension<Caller>) -> Response {
    let user = match me_user(&app, &c).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (id, org) = (user.id, user.org);
    let (t, left, roles) = tryr!(
        app.dir(move |d| Ok((d.totp(id)?, d.recovery_codes_left(id)?, d.mfa_roles(org)?)))
            .await
    );
    Json(MfaState {
        enabled: t.as_ref().is_some_and(|t| t.confirmed),
        pending: t.as_ref().is_some_and(|t| !t.confirmed),
        recovery_codes_left: left,
        required: roles.contains(&user.role),
    })
    .into_response()
}

/// Which roles must log in with a second factor.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MfaPolicy")]
pub(crate) struct Policy {
    /// Role names (not `integration`: tokens never log in).
    #[schemars(length(max = 6))]
    roles: Vec<String>,
}

pub(crate) async fn policy(State(app): State<App>, Extension(c): Extension<Caller>) -> Response {
    let org = c.org;
    let roles = tryr!(app.dir(move |d| d.mfa_roles(org)).await);
    Json(Policy { roles }).into_response()
}

pub(crate) async fn set_policy(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<Policy>,
) -> Response {
    let b = tryr!(body(b));
    let mut roles = Vec::new();
    for (i, r) in b.roles.iter().enumerate() {
        match Role::parse(r) {
            Some(Role::Integration) => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("roles[{i}]: integration tokens never log in, so they have no second factor"),
                )
            }
            Some(role) if !roles.contains(&role.name().to_string()) => roles.push(role.name().to_string()),
            Some(_) => {}
            None => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("roles[{i}]: {r:?} is not a role (agent, clinician, supervisor, admin, auditor)"),
                )
            }
        }
    }
    let audit = c.audit(
        "set mfa policy",
        format!("roles required to use MFA: {}", roles.join(", ")),
    );
    let (org, saved) = (c.org, roles.clone());
    tryr!(app.dir(move |d| d.set_mfa_roles(org, &saved, &audit)).await);
    Json(Policy { roles }).into_response()
}

/// An account's second factor removed.
#[derive(Serialize, JsonSchema)]
pub(crate) struct MfaReset {
    user: u32,
    reset: bool,
}

/// Removes an account's authenticator and recovery codes (a lost phone):
/// its sessions end, and it sets one up again at its next log-in if its
/// role requires one.
pub(crate) async fn reset(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
) -> Response {
    let org = c.org;
    let user = tryr!(app.dir(move |d| d.user(id)).await);
    if user.is_none_or(|u| u.org != org) {
        return error(StatusCode::NOT_FOUND, format!("no account {id}"));
    }
    let audit = c.audit("reset mfa", format!("user:{id}"));
    app.forget_credentials();
    tryr!(app.dir(move |d| d.reset_mfa(id, &audit)).await);
    app.forget_credentials();
    Json(MfaReset {
        user: id,
        reset: true,
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_ours_for_their_account_and_expire() {
        let key = [5u8; 32];
        let t = ticket(&key, 7, model::Timestamp(1000));
        assert_eq!(check_ticket(&key, &t, model::Timestamp(2000)), Some(7));
        assert_eq!(
            check_ticket(&key, &t, model::Timestamp(1000 + TICKET_MS)),
            None,
            "expired"
        );
        assert_eq!(
            check_ticket(&[6u8; 32], &t, model::Timestamp(2000)),
            None,
            "another key"
        );
        let other = t.replacen("mfa1.7.", "mfa1.8.", 1);
        assert_eq!(
            check_ticket(&key, &other, model::Timestamp(2000)),
            None,
            "another account"
        );
        assert_eq!(check_ticket(&key, "mfa1.7", model::Timestamp(2000)), None);
    }
}
