//! Passkeys (WebAuthn, `app::webauthn`) as a second factor: a logged-in
//! person registers one from their browser; at log-in, after the
//! password, the browser signs the server's challenge with it instead of
//! typing a code. The relying party is the host name the browser reached
//! (an IP address cannot be one) and the origin its scheme and host.

use crate::error::{body, tryr, Body};
use crate::mfa::{me_user, record, ticket_user};
use crate::net::Client;
use crate::people::Throttle;
use crate::{error, wall_clock, App, Caller, Origin};
use app::webauthn::{self, b64, unb64, Expect, Purpose};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The RP ID and origin for this request, from its Host and scheme.
fn relying_party(headers: &HeaderMap, client: &Client) -> Result<(String, String), Response> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    let name = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(h, _)| h)
        .to_string();
    if !plain || name.is_empty() || name.parse::<std::net::IpAddr>().is_ok() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "passkeys need this server reached by its name (https://switchboard.example, or localhost), not an IP address".into(),
        ));
    }
    let scheme = if client.https { "https" } else { "http" };
    Ok((name, format!("{scheme}://{host}")))
}

fn refused(e: webauthn::WebauthnError) -> Response {
    error(StatusCode::UNPROCESSABLE_ENTITY, format!("passkey: {e}"))
}

/// `PublicKeyCredentialCreationOptions`, as JSON with base64url bytes.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CreationOptions {
    #[schemars(with = "serde_json::Map<String, Value>")]
    public_key: Value,
}

/// Options for the browser to create a passkey for the caller.
pub(crate) async fn creation_options(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Response {
    let user = match me_user(&app, &c).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (rp_id, _) = tryr!(relying_party(&headers, &client));
    let id = user.id;
    let existing = tryr!(app.dir(move |d| d.passkeys(id)).await);
    let ch = webauthn::challenge(&app.device_key, Purpose::Register, user.id, wall_clock().0);
    let public_key = json!({
        "challenge": b64(&ch),
        "rp": { "id": rp_id, "name": "Switchboard" },
        "user": { "id": b64(&user.id.to_be_bytes()), "name": user.username, "displayName": user.display_name },
        "pubKeyCredParams": [{ "type": "public-key", "alg": webauthn::ES256 }, { "type": "public-key", "alg": webauthn::RS256 }],
        "excludeCredentials": existing.iter().map(|p| json!({ "type": "public-key", "id": b64(&p.id) })).collect::<Vec<_>>(),
        "authenticatorSelection": { "userVerification": "required", "residentKey": "preferred" },
        "attestation": "none",
        "timeout": webauthn::CHALLENGE_MS,
    });
    Json(CreationOptions { public_key }).into_response()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewPasskey")]
pub(crate) struct NewPasskey {
    /// What the person calls it ("work laptop").
    #[schemars(length(min = 1, max = 60))]
    name: String,
    /// The browser's `response.clientDataJSON`, base64url.
    #[schemars(length(max = 4096))]
    client_data_json: String,
    /// The browser's `response.attestationObject`, base64url.
    #[schemars(length(max = 16384))]
    attestation_object: String,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct PasskeyRow {
    /// The credential id, base64url.
    id: String,
    name: String,
    created: String,
    last_used: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Passkeys {
    passkeys: Vec<PasskeyRow>,
}

fn row(p: &store::Passkey) -> PasskeyRow {
    PasskeyRow {
        id: b64(&p.id),
        name: p.name.clone(),
        created: app::time::iso(p.created),
        last_used: p.last_used.map(app::time::iso),
    }
}

/// Registers a passkey the browser created (checked: our challenge, our
/// origin and RP, user verified, an ES256 or RS256 key).
pub(crate) async fn register(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    b: Body<NewPasskey>,
) -> Response {
    let b = tryr!(body(b));
    let name = b.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name: 1 to 60 characters".into(),
        );
    }
    let user = match me_user(&app, &c).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (rp_id, origin) = tryr!(relying_party(&headers, &client));
    let client_data = tryr!(unb64("client_data_json", &b.client_data_json).map_err(refused));
    let attestation = tryr!(unb64("attestation_object", &b.attestation_object).map_err(refused));
    let expect = Expect {
        rp_id: &rp_id,
        origin: &origin,
        key: &app.device_key,
        user: user.id,
        now_ms: wall_clock().0,
    };
    let reg = tryr!(webauthn::register(&expect, &client_data, &attestation).map_err(refused));
    let passkey = store::Passkey {
        id: reg.id,
        user: user.id,
        public_key: reg.public_key,
        sign_count: reg.sign_count,
        name,
        created: wall_clock(),
        last_used: None,
    };
    let audit = record(&user, "mfa", &c.origin, "ok: passkey added");
    let p = passkey.clone();
    let added = tryr!(
        app.dir(move |d| d.add_passkey(&p, webauthn::MAX_PASSKEYS, &audit))
            .await
    );
    if !added {
        return error(
            StatusCode::CONFLICT,
            format!(
                "passkey: already registered, or the account has {} already",
                webauthn::MAX_PASSKEYS
            ),
        );
    }
    (StatusCode::CREATED, Json(row(&passkey))).into_response()
}

/// The caller's passkeys.
pub(crate) async fn list(State(app): State<App>, Extension(c): Extension<Caller>) -> Response {
    let user = match me_user(&app, &c).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id = user.id;
    let keys = tryr!(app.dir(move |d| d.passkeys(id)).await);
    Json(Passkeys {
        passkeys: keys.iter().map(row).collect(),
    })
    .into_response()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PasskeyTicket")]
pub(crate) struct TicketBody {
    #[schemars(length(max = 200))]
    ticket: String,
}

/// `PublicKeyCredentialRequestOptions` for the second step of a log-in.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RequestOptions {
    #[schemars(with = "serde_json::Map<String, Value>")]
    public_key: Value,
}

pub(crate) async fn request_options(
    State(app): State<App>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    b: Body<TicketBody>,
) -> Response {
    let b = tryr!(body(b));
    let user = match ticket_user(&app, &b.ticket).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (rp_id, _) = tryr!(relying_party(&headers, &client));
    let id = user.id;
    let keys = tryr!(app.dir(move |d| d.passkeys(id)).await);
    if keys.is_empty() {
        return error(
            StatusCode::CONFLICT,
            "no passkey is registered for this account".into(),
        );
    }
    let ch = webauthn::challenge(&app.device_key, Purpose::LogIn, user.id, wall_clock().0);
    let public_key = json!({
        "challenge": b64(&ch),
        "rpId": rp_id,
        "allowCredentials": keys.iter().map(|p| json!({ "type": "public-key", "id": b64(&p.id) })).collect::<Vec<_>>(),
        "userVerification": "required",
        "timeout": webauthn::CHALLENGE_MS,
    });
    Json(RequestOptions { public_key }).into_response()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PasskeyAssertion")]
pub(crate) struct Assertion {
    #[schemars(length(max = 200))]
    ticket: String,
    /// The credential id (`rawId`), base64url.
    #[schemars(length(max = 1400))]
    id: String,
    #[schemars(length(max = 4096))]
    client_data_json: String,
    #[schemars(length(max = 4096))]
    authenticator_data: String,
    #[schemars(length(max = 2048))]
    signature: String,
}

/// The second step of a log-in by a passkey: the browser's assertion of
/// the server's challenge. Then the session starts.
pub(crate) async fn log_in(
    State(app): State<App>,
    Extension(Origin(origin_addr)): Extension<Origin>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    b: Body<Assertion>,
) -> Response {
    let b = tryr!(body(b));
    let user = match ticket_user(&app, &b.ticket).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let throttle = Throttle::new(&app, &headers, Some(user.id), &user.username, &origin_addr);
    tryr!(throttle.check());
    let now = wall_clock();
    let (rp_id, origin) = tryr!(relying_party(&headers, &client));
    let decoded = (|| {
        Ok::<_, webauthn::WebauthnError>((
            unb64("id", &b.id)?,
            unb64("client_data_json", &b.client_data_json)?,
            unb64("authenticator_data", &b.authenticator_data)?,
            unb64("signature", &b.signature)?,
        ))
    })();
    let (id, client_data, auth_data, signature) = tryr!(decoded.map_err(refused));
    let uid = user.id;
    let keys = tryr!(app.dir(move |d| d.passkeys(uid)).await);
    let expect = Expect {
        rp_id: &rp_id,
        origin: &origin,
        key: &app.device_key,
        user: user.id,
        now_ms: now.0,
    };
    let verified = keys.iter().find(|k| k.id == id).map(|k| {
        webauthn::authenticate(
            &expect,
            &k.public_key,
            k.sign_count,
            &client_data,
            &auth_data,
            &signature,
        )
        .map(|count| (k.sign_count, count))
    });
    let (was, count) = match verified {
        Some(Ok(v)) => v,
        other => {
            throttle.failed();
            let why = match other {
                Some(Err(e)) => e.to_string(),
                _ => "not a passkey of this account".into(),
            };
            return error(StatusCode::UNAUTHORIZED, format!("passkey: {why}"));
        }
    };
    let audit = record(&user, "mfa", &origin_addr, "ok: passkey");
    let used = tryr!(
        app.dir(move |d| d.use_passkey(&id, was, count, now, &audit))
            .await
    );
    if !used {
        return error(
            StatusCode::UNAUTHORIZED,
            "passkey: used by another log-in at the same moment; try again".into(),
        );
    }
    throttle.succeeded();
    crate::people::start_session(&app, &client, &origin_addr, user, None).await
}
