//! Reminder campaigns: a supervisor gives a Notify template and a CSV of
//! recipients (Notify's own column names: `phone_number` or
//! `email_address`, the rest personalisation); every row is checked
//! (problems named by line, nothing made from a file with one), recipients
//! who said STOP are skipped from the start, and one outbox row per
//! recipient is written with its time (the rate and quiet hours are
//! `app::campaign`'s) in one transaction with the audit record. The texts'
//! sender sends what is due; each recipient's result is read back.

use crate::chat::Chats;
use crate::error::{body, error, tryr, Body};
use crate::written::{self, Envelope};
use crate::{App, Caller};
use app::campaign::{self as plan, Medium, QuietHours};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuietBody {
    /// `HH:MM`, London time: no messages from then…
    from: String,
    /// …until then (e.g. 20:00 to 08:00).
    to: String,
}

/// A new campaign.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CampaignBody {
    /// What the campaign is (1–100 characters; no patient data).
    name: String,
    /// `sms` or `email`.
    medium: String,
    /// The Notify template's id.
    template_id: String,
    /// The recipients as CSV: a header line, then one row each
    /// (`phone_number` or `email_address`, and personalisation columns).
    recipients_csv: String,
    /// When it starts (RFC 3339; none: now).
    #[serde(default)]
    start_at: Option<String>,
    /// Messages a minute (1–3000; none: 600).
    #[serde(default)]
    per_minute: Option<u32>,
    /// When nothing is sent (none: 20:00 to 08:00).
    #[serde(default)]
    quiet_hours: Option<QuietBody>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct CampaignMade {
    id: u64,
    recipients: u64,
    /// Skipped from the start: they had said STOP.
    opted_out: u64,
    /// When the first and last messages go (ms since the epoch).
    first_at: i64,
    last_at: i64,
}

fn bad(m: String) -> Response {
    error(StatusCode::UNPROCESSABLE_ENTITY, m)
}

/// `POST /api/v1/campaigns`.
pub(crate) async fn create(
    State(app): State<App>,
    Extension(chats): Extension<Arc<Chats>>,
    Extension(c): Extension<Caller>,
    b: Body<CampaignBody>,
) -> Response {
    let b = tryr!(body(b));
    if chats.notify.get().is_none() {
        return error(
            StatusCode::CONFLICT,
            "GOV.UK Notify is not configured on this server (--channels, [notify])".into(),
        );
    }
    let name = b.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return bad("name: 1 to 100 characters".into());
    }
    let medium = match b.medium.as_str() {
        "sms" => Medium::Sms,
        "email" => Medium::Email,
        _ => return bad("medium: sms or email".into()),
    };
    if !crate::notify::is_uuid(&b.template_id) {
        return bad("template_id: a Notify template's id (a UUID)".into());
    }
    let per_minute = b.per_minute.unwrap_or(600);
    if !(1..=plan::MAX_PER_MINUTE).contains(&per_minute) {
        return bad(format!("per_minute: 1 to {}", plan::MAX_PER_MINUTE));
    }
    let quiet = match &b.quiet_hours {
        Some(q) => tryr!(QuietHours::parse(&q.from, &q.to).map_err(bad)),
        None => QuietHours::parse("20:00", "08:00").expect("the default quiet hours"),
    };
    let now = app::wall_clock();
    let start = match &b.start_at {
        None => now,
        Some(s) => match s.parse::<jiff::Timestamp>() {
            Ok(t) => Timestamp(t.as_millisecond().max(now.0)),
            Err(_) => return bad(format!("start_at: an RFC 3339 time, not {s:?}")),
        },
    };
    let people = match plan::recipients(&b.recipients_csv, medium) {
        Ok(r) => r,
        Err(problems) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("recipients_csv: {}", problems.join("; ")),
            )
        }
    };
    let org = c.org;
    // Who said STOP.
    let keys: Vec<Vec<u8>> = people
        .iter()
        .map(|p| recipient_key(&app, org, medium, &p.to))
        .collect();
    let k2 = keys.clone();
    let out = tryr!(app
        .dir(move |d| k2
            .iter()
            .map(|k| d.opted_out(org, k))
            .collect::<Result<Vec<bool>, _>>())
        .await
        .map_err(crate::error::api));
    let times = plan::schedule(start, people.len(), per_minute, Some(&quiet));
    let token = app::auth::hex(&app::auth::random_bytes::<6>());
    let mut rows = Vec::with_capacity(people.len());
    let mut opted_out = 0;
    for (i, p) in people.iter().enumerate() {
        let reference = format!("sbc-{}-{token}-{}", org.0, p.line);
        let envelope = Envelope::Template {
            medium: medium.as_str().into(),
            to: p.to.clone(),
            template: b.template_id.clone(),
            personalisation: p.personalisation.clone(),
            quiet: Some((
                quiet.from.strftime("%H:%M").to_string(),
                quiet.to.strftime("%H:%M").to_string(),
            )),
        };
        if out[i] {
            opted_out += 1;
        }
        rows.push(store::written::CampaignRow {
            out: store::written::NewOutbound {
                org,
                envelope: written::seal_envelope(&app, org, &reference, &envelope),
                reference,
                chat: None,
                seq: None,
                medium: medium.as_str().into(),
                route: crate::notify::ROUTE.into(),
                created: now,
                due: None,
            },
            line: p.line as u32,
            at: times[i],
            recipient_key: keys[i].clone(),
            skipped: out[i],
        });
    }
    let campaign = store::written::Campaign {
        id: 0,
        org,
        name: name.clone(),
        medium: medium.as_str().into(),
        template: b.template_id.clone(),
        created: now,
        created_by: c.actor.clone(),
        recipients: rows.len() as u64,
    };
    let audit = c.audit(
        "campaign.create",
        format!(
            "campaign {name:?}: {} recipients by {}",
            rows.len(),
            medium.as_str()
        ),
    );
    let n = rows.len() as u64;
    let id = tryr!(app
        .dir(move |d| d.create_campaign(&campaign, &rows, &audit))
        .await
        .map_err(crate::error::api));
    chats.outbox_wake.notify_one();
    (
        StatusCode::CREATED,
        Json(CampaignMade {
            id,
            recipients: n,
            opted_out,
            first_at: times.first().map_or(now.0, |t| t.0),
            last_at: times.last().map_or(now.0, |t| t.0),
        }),
    )
        .into_response()
}

/// The key that says whether a recipient opted out.
pub(crate) fn recipient_key(app: &App, org: model::OrgId, medium: Medium, to: &str) -> Vec<u8> {
    match medium {
        Medium::Sms => written::phone_key(app, org, to),
        Medium::Email => written::key(app, org, &["email", &to.to_ascii_lowercase()]),
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct RecipientView {
    /// The recipient's line in the file.
    line: u32,
    /// `due`, `sending`, `sent`, `failed` or `skipped` (opted out).
    state: String,
    /// Notify's receipt: `delivered`, `permanent-failure`,
    /// `temporary-failure`, `technical-failure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// When it goes (or went), ms since the epoch.
    at: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct CampaignView {
    id: u64,
    name: String,
    medium: String,
    template_id: String,
    created: i64,
    created_by: String,
    recipients: u64,
    /// How many are in each state, and each delivery.
    states: std::collections::BTreeMap<String, u64>,
    deliveries: std::collections::BTreeMap<String, u64>,
    results: Vec<RecipientView>,
}

/// `GET /api/v1/campaigns/{campaign}`.
pub(crate) async fn read(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    let org = c.org;
    let found = tryr!(app
        .dir(move |d| d.campaign(org, id))
        .await
        .map_err(crate::error::api));
    let Some((campaign, results)) = found else {
        return error(StatusCode::NOT_FOUND, format!("no campaign {id}"));
    };
    let mut states = std::collections::BTreeMap::new();
    let mut deliveries = std::collections::BTreeMap::new();
    for r in &results {
        *states.entry(r.state.clone()).or_insert(0) += 1;
        if let Some(d) = &r.delivery {
            *deliveries.entry(d.clone()).or_insert(0) += 1;
        }
    }
    Json(CampaignView {
        id: campaign.id,
        name: campaign.name,
        medium: campaign.medium,
        template_id: campaign.template,
        created: campaign.created.0,
        created_by: campaign.created_by,
        recipients: campaign.recipients,
        states,
        deliveries,
        results: results
            .into_iter()
            .map(|r| RecipientView {
                line: r.line,
                state: r.state,
                delivery: r.delivery,
                error: r.error,
                at: r.next.0,
            })
            .collect(),
    })
    .into_response()
}

/// A text an agent sends from a contact.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactTextBody {
    /// 1 to 918 characters (Notify's longest text: 6 fragments).
    text: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ContactTextQueued {
    /// Our reference for it (Notify's receipt is kept under it).
    reference: String,
}

/// Longest text, in characters (Notify's limit).
const MAX_SMS_CHARS: usize = 918;

/// `POST /api/v1/contacts/{contact}/sms`: the agent texts the contact's
/// caller (their number as it arrived), through the outbox.
pub(crate) async fn text_from_contact(
    State(app): State<App>,
    Extension(chats): Extension<Arc<Chats>>,
    Extension(c): Extension<Caller>,
    Path(contact): Path<u64>,
    b: Body<ContactTextBody>,
) -> Response {
    let b = tryr!(body(b));
    let text = b.text.trim().to_string();
    if text.is_empty() || text.chars().count() > MAX_SMS_CHARS {
        return bad(format!("text: 1 to {MAX_SMS_CHARS} characters"));
    }
    let id = model::ContactId(contact);
    tryr!(crate::contacts::own_contact(&app, &c, id).await);
    if chats.notify.get().is_none() {
        return error(
            StatusCode::CONFLICT,
            "GOV.UK Notify is not configured on this server (--channels, [notify])".into(),
        );
    }
    let org = c.org;
    let caller = tryr!(app
        .dir(move |d| d.contact_caller(org, id))
        .await
        .map_err(crate::error::api));
    let Some(number) = caller
        .as_ref()
        .and_then(|c| c.phone.as_ref())
        .map(|p| p.expose().to_string())
        .filter(|n| n.starts_with("+447"))
    else {
        return error(
            StatusCode::CONFLICT,
            format!("contact {contact} has no UK mobile number to text"),
        );
    };
    let now = app::wall_clock();
    let reference = format!(
        "sba-{}-{contact}-{}",
        org.0,
        app::auth::hex(&app::auth::random_bytes::<4>())
    );
    let envelope = Envelope::Sms { to: number, text };
    let row = store::written::NewOutbound {
        org,
        envelope: written::seal_envelope(&app, org, &reference, &envelope),
        reference: reference.clone(),
        chat: None,
        seq: None,
        medium: "sms".into(),
        route: crate::notify::ROUTE.into(),
        created: now,
        due: None,
    };
    let mut audit = c.audit(
        "sms.send",
        format!("a text to contact {contact}'s caller ({reference})"),
    );
    audit.patient = caller.and_then(|c| c.nhs_number).map(|n| n.to_string());
    tryr!(app
        .dir(move |d| {
            d.add_outbound(&[row])?;
            d.audit_chat_read(&audit)
        })
        .await
        .map_err(crate::error::api));
    chats.outbox_wake.notify_one();
    (StatusCode::ACCEPTED, Json(ContactTextQueued { reference })).into_response()
}
