//! Satisfaction surveys: after a contact an agent answered ends, a service
//! with a survey rule sends its question by text (GOV.UK Notify) to the
//! caller's mobile or the texting patient — at most one a day per number,
//! never to one who said STOP — and the reply (1 to 5, within the rule's
//! hours) is recorded against the contact's queue, team, agent and
//! channel. The figures are `kpi::csat`'s.

use crate::chat::Chats;
use crate::error::{error, tryr};
use crate::written::{self, Envelope};
use crate::{App, Caller};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::{Channel, ContactId, OrgId, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// At most one survey a day to one number.
const ONE_A_DAY_MS: i64 = 86_400_000;

/// Watches each organisation's contacts end, for as long as the server
/// runs.
pub(crate) fn start(app: &App, chats: &Arc<Chats>) -> Vec<tokio::task::JoinHandle<()>> {
    app.orgs
        .iter()
        .map(|&org| {
            let (app, chats) = (app.clone(), chats.clone());
            tokio::spawn(async move {
                let Some((mut rx, _)) = app.subscribe(org).await else {
                    return;
                };
                // Each answered contact's channel, until it ends (an end
                // missed leaves its entry: those older than a day go).
                let mut channels: HashMap<ContactId, (Channel, Timestamp)> = HashMap::new();
                loop {
                    let e = match rx.recv().await {
                        Ok(r) => r.event,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    };
                    match e {
                        routing::Event::Answered {
                            contact, channel, ..
                        } => {
                            let now = app::wall_clock();
                            if channels.len() >= 10_000 {
                                channels.retain(|_, (_, at)| now.0 - at.0 < ONE_A_DAY_MS);
                            }
                            if channels.len() < 100_000 {
                                channels.insert(contact, (channel, now));
                            }
                        }
                        routing::Event::Ended {
                            contact,
                            agent,
                            queue,
                        } => {
                            let Some((channel, _)) = channels.remove(&contact) else {
                                continue;
                            };
                            if let Err(e) =
                                survey(&app, &chats, org, contact, agent.0, queue.0, channel).await
                            {
                                tracing::warn!(contact = contact.0, "no survey sent: {e}");
                            }
                        }
                        routing::Event::Abandoned { contact, .. }
                        | routing::Event::Cancelled { contact, .. } => {
                            channels.remove(&contact);
                        }
                        _ => {}
                    }
                }
            })
        })
        .collect()
}

/// Sends contact `contact`'s survey, if its service has one and there is
/// a mobile number to send it to.
async fn survey(
    app: &App,
    chats: &Arc<Chats>,
    org: OrgId,
    contact: ContactId,
    agent: u32,
    queue: u32,
    channel: Channel,
) -> Result<(), String> {
    if chats.notify.get().is_none() {
        return Ok(());
    }
    let services = app
        .with_directory(move |d| d.services(org))
        .await
        .and_then(Result::ok)
        .unwrap_or_default();
    let Some((rule, name)) = services.into_iter().find_map(|(_, def)| {
        let d = app::services::ServiceDef::parse(&def)?;
        (d.queue == queue).then_some(())?;
        Some((d.survey?, d.name))
    }) else {
        return Ok(());
    };
    // The number: the caller's, or the texting patient's.
    let number = match channel {
        Channel::Voice | Channel::Callback | Channel::Outbound => app
            .with_directory(move |d| d.contact_caller(org, contact))
            .await
            .and_then(Result::ok)
            .flatten()
            .and_then(|c| c.phone)
            .map(|p| p.expose().to_string()),
        Channel::Sms => {
            let row = app
                .with_directory(move |d| d.chat_by_contact(org, contact))
                .await
                .and_then(Result::ok)
                .flatten();
            match row {
                Some(r) => chats
                    .load(&r)
                    .await
                    .and_then(|l| l.thread)
                    .map(|t| t.address),
                None => None,
            }
        }
        Channel::Chat | Channel::Email => None,
    };
    let Some(number) = number.filter(|n| n.starts_with("+447")) else {
        return Ok(());
    };
    let key = written::phone_key(app, org, &number);
    let now = app::wall_clock();
    let (k1, k2) = (key.clone(), key.clone());
    let skip = app
        .with_directory(move |d| {
            Ok::<_, store::StoreError>(
                d.opted_out(org, &k1)?
                    || d.surveyed_since(org, &k2, Timestamp(now.0 - ONE_A_DAY_MS))?,
            )
        })
        .await
        .and_then(Result::ok)
        .unwrap_or(true);
    if skip {
        return Ok(());
    }
    let team = app
        .read(org, move |t, _| {
            t.engine
                .config()
                .agents
                .iter()
                .find(|a| a.id.0 == agent)
                .map(|a| a.team.0)
        })
        .await
        .ok()
        .flatten();
    let reference = format!("sbs-{}-{}", org.0, contact.0);
    let envelope = Envelope::Sms {
        to: number,
        text: rule.question(&name),
    };
    let out = store::written::NewOutbound {
        org,
        envelope: written::seal_envelope(app, org, &reference, &envelope),
        reference,
        chat: None,
        seq: None,
        medium: "sms".into(),
        route: crate::notify::ROUTE.into(),
        created: now,
        // Not at night (the rule's quiet hours: 20:00 to 08:00 London
        // unless set) — it waits for the morning.
        due: Some(app::campaign::next_allowed(now, Some(&rule.quiet()))),
    };
    let s = store::written::Survey {
        org,
        contact: contact.0,
        key,
        queue,
        team,
        agent: Some(agent),
        channel: channel_name(channel).into(),
        sent: now,
        expires: Timestamp(now.0 + rule.expires_ms()),
        score: None,
        answered: None,
    };
    app.with_directory(move |d| d.create_survey(&s, &out))
        .await
        .ok_or("stopping")?
        .map_err(|e| e.to_string())?;
    chats.outbox_wake.notify_one();
    Ok(())
}

fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Voice => "voice",
        Channel::Chat => "chat",
        Channel::Email => "email",
        Channel::Sms => "sms",
        Channel::Callback => "callback",
        Channel::Outbound => "outbound",
    }
}

/// A survey reply's score: a text that is a number from 1 to 5 alone
/// (with a full stop or an exclamation mark at most). "3pm is fine" or "2
/// wheelchairs" are words for an agent, not scores.
pub(crate) fn score_of(text: &str) -> Option<u8> {
    let t = text.trim().trim_end_matches(['.', '!']).trim();
    let mut chars = t.chars();
    let d = chars.next()?.to_digit(10)?;
    ((1..=5).contains(&d) && chars.next().is_none()).then_some(d as u8)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CsatQuery {
    /// From (RFC 3339; none: 24 hours ago).
    #[serde(default)]
    from: Option<String>,
    /// To (RFC 3339; none: now).
    #[serde(default)]
    to: Option<String>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub(crate) struct CsatFigures {
    sent: u64,
    replies: u64,
    /// Mean reply, 1-5 (0: none).
    mean: f64,
    /// Share of replies of 4 or 5 (none: no replies).
    satisfied: Option<f64>,
    response_rate: Option<f64>,
}

impl From<&kpi::csat::Csat> for CsatFigures {
    fn from(c: &kpi::csat::Csat) -> CsatFigures {
        CsatFigures {
            sent: c.sent,
            replies: c.replies,
            mean: (c.mean * 100.0).round() / 100.0,
            satisfied: c.satisfied,
            response_rate: c.response_rate,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct CsatReport {
    from: i64,
    to: i64,
    overall: CsatFigures,
    by_queue: std::collections::BTreeMap<u32, CsatFigures>,
    by_team: std::collections::BTreeMap<u32, CsatFigures>,
    by_agent: std::collections::BTreeMap<u32, CsatFigures>,
    by_channel: std::collections::BTreeMap<String, CsatFigures>,
}

fn time(s: &Option<String>, what: &str, default: Timestamp) -> Result<Timestamp, Response> {
    match s {
        None => Ok(default),
        Some(s) => s
            .parse::<jiff::Timestamp>()
            .map(|t| Timestamp(t.as_millisecond()))
            .map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("{what}: an RFC 3339 time, not {s:?}"),
                )
            }),
    }
}

/// `GET /api/v1/reports/csat`.
pub(crate) async fn report(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    q: Result<Query<CsatQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = tryr!(q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let now = app::wall_clock();
    let to = tryr!(time(&q.to, "to", now));
    let from = tryr!(time(&q.from, "from", Timestamp(to.0 - 86_400_000)));
    if from >= to {
        return error(StatusCode::BAD_REQUEST, "from: before to".into());
    }
    let org = c.org;
    let rows = tryr!(app
        .dir(move |d| d.surveys(org, from, to))
        .await
        .map_err(crate::error::api));
    let sent: Vec<kpi::csat::Sent> = rows
        .into_iter()
        .map(|s| kpi::csat::Sent {
            queue: s.queue,
            team: s.team,
            agent: s.agent,
            channel: s.channel,
            score: s.score,
        })
        .collect();
    let r = kpi::csat::report(&sent);
    let map = |m: &std::collections::BTreeMap<u32, kpi::csat::Csat>| {
        m.iter().map(|(k, v)| (*k, CsatFigures::from(v))).collect()
    };
    Json(CsatReport {
        from: from.0,
        to: to.0,
        overall: (&r.overall).into(),
        by_queue: map(&r.by_queue),
        by_team: map(&r.by_team),
        by_agent: map(&r.by_agent),
        by_channel: r
            .by_channel
            .iter()
            .map(|(k, v)| (k.clone(), CsatFigures::from(v)))
            .collect(),
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_reply_is_a_score_only_if_it_starts_with_one_to_five_alone() {
        for (t, want) in [
            ("5", Some(5)),
            (" 4 ", Some(4)),
            ("5!", Some(5)),
            ("1 - poor", None),
            ("3pm is fine", None),
            ("2 wheelchairs", None),
            ("0", None),
            ("6", None),
            ("10", None),
            ("45", None),
            ("Yes", None),
            ("", None),
        ] {
            assert_eq!(super::score_of(t), want, "{t:?}");
        }
    }
}
