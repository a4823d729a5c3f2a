//! Services and their entry points: the phone numbers, chat widgets, email
//! addresses and web forms by which people reach a queue, with the
//! service's opening hours (Europe/London, bank holidays and dated
//! exceptions). A contact can arrive by entry point instead of queue; a
//! closed service refuses live contacts (calls, chats) and still takes
//! emails and web callback requests, which wait for it to open.

use crate::{App, Caller, Error};
use model::{Channel, PhoneNumber, QueueId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Phone,
    Chat,
    Email,
    /// A web form asking for a callback.
    Web,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Phone => "phone",
            Kind::Chat => "chat",
            Kind::Email => "email",
            Kind::Web => "web",
        }
    }

    /// The entry point a contact of this channel arrives by.
    pub fn of(channel: Channel) -> Kind {
        match channel {
            Channel::Voice | Channel::Sms => Kind::Phone,
            Channel::Chat => Kind::Chat,
            Channel::Email => Kind::Email,
            Channel::Callback | Channel::Outbound => Kind::Web,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryPoint {
    pub kind: Kind,
    pub address: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    pub name: String,
    /// The queue its contacts join.
    pub queue: u32,
    #[serde(default)]
    pub entry_points: Vec<EntryPoint>,
    /// Opening hours; none: always open.
    #[serde(default)]
    pub hours: Option<flow::Calendar>,
    /// The call flow a phone call to this service runs (IVR); none: the
    /// caller joins `queue` at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// Whether its calls are recorded, and for how long kept; none: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<RecordingRule>,
    /// Its web chats' files and how long its conversations are kept;
    /// none: files up to [`DEFAULT_ATTACHMENT_BYTES`], kept for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<ChatRule>,
    /// A satisfaction survey by text after each answered contact; none:
    /// no survey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survey: Option<SurveyRule>,
}

/// A service's satisfaction survey: one question by text after a contact
/// an agent answered (to the caller's mobile, or the texting patient),
/// answered 1 to 5 by reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyRule {
    /// The question (none: the standard one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// Hours a reply is taken for (1 to 336; none: 72).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_hours: Option<u32>,
    /// When no survey is sent (`HH:MM`, `HH:MM`, London; one due then
    /// waits; none: 20:00 to 08:00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<(String, String)>,
}

/// The question a survey asks unless the service words its own.
pub const STANDARD_QUESTION: &str = "How satisfied were you with your contact with {service} today? Reply with a number from 1 (very dissatisfied) to 5 (very satisfied). Reply STOP to get no more of these.";

impl SurveyRule {
    pub fn problem(&self) -> Option<String> {
        if let Some(q) = &self.question {
            if q.trim().is_empty() || q.chars().count() > 300 {
                return Some("survey.question: 1 to 300 characters".into());
            }
        }
        if let Some((from, to)) = &self.quiet_hours {
            if let Err(e) = crate::campaign::QuietHours::parse(from, to) {
                return Some(format!("survey.{e}"));
            }
        }
        match self.expires_hours {
            Some(h) if !(1..=336).contains(&h) => {
                Some(format!("survey.expires_hours: 1 to 336, not {h}"))
            }
            _ => None,
        }
    }

    /// The hours no survey is sent.
    pub fn quiet(&self) -> crate::campaign::QuietHours {
        self.quiet_hours
            .as_ref()
            .and_then(|(f, t)| crate::campaign::QuietHours::parse(f, t).ok())
            .unwrap_or_else(|| {
                crate::campaign::QuietHours::parse("20:00", "08:00").expect("fixed hours")
            })
    }

    /// The question, with the service's name.
    pub fn question(&self, service: &str) -> String {
        self.question
            .as_deref()
            .unwrap_or(STANDARD_QUESTION)
            .replace("{service}", service)
    }

    pub fn expires_ms(&self) -> i64 {
        i64::from(self.expires_hours.unwrap_or(72)) * 3_600_000
    }
}

/// Largest file a patient may send in a chat, by default, and at most.
pub const DEFAULT_ATTACHMENT_BYTES: u64 = 5 * 1024 * 1024;
pub const MAX_ATTACHMENT_BYTES: u64 = 20 * 1024 * 1024;

/// A service's web chat rule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRule {
    /// Largest file (image or PDF) a patient may send; 0: none.
    pub max_attachment_bytes: u64,
    /// Days an ended conversation (its messages and files) is kept before
    /// it is deleted; none: kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<f64>,
}

impl ChatRule {
    /// What is wrong with the rule, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.max_attachment_bytes > MAX_ATTACHMENT_BYTES {
            return Some(format!(
                "chat.max_attachment_bytes: at most {MAX_ATTACHMENT_BYTES}, not {}",
                self.max_attachment_bytes
            ));
        }
        match self.retention_days {
            Some(d) if !(d > 0.0 && d <= crate::recording::MAX_RETENTION_DAYS) => Some(format!(
                "chat.retention_days: more than 0 and at most {}, not {d}",
                crate::recording::MAX_RETENTION_DAYS
            )),
            _ => None,
        }
    }
}

/// When a service's calls are recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingPolicy {
    #[default]
    Never,
    /// Every answered call, from the moment the agent is on the line.
    Always,
    /// When the agent starts it from the desktop.
    OnDemand,
}

/// A service's recording rule: the policy, and how long a recording is
/// kept before its key is destroyed (the trust's retention schedule; the
/// NHS Records Management Code of Practice governs it, so it is set, not
/// assumed).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingRule {
    pub policy: RecordingPolicy,
    pub retention_days: f64,
}

impl RecordingRule {
    /// What is wrong with the rule, if anything.
    pub fn problem(&self) -> Option<String> {
        let d = self.retention_days;
        (!(d > 0.0 && d <= crate::recording::MAX_RETENTION_DAYS)).then(|| {
            format!(
                "recording.retention_days: more than 0 and at most {}, not {d}",
                crate::recording::MAX_RETENTION_DAYS
            )
        })
    }
}

impl ServiceDef {
    /// A stored definition.
    pub fn parse(text: &str) -> Option<ServiceDef> {
        serde_json::from_str(text).ok()
    }

    pub fn flow(&self) -> Option<&str> {
        self.flow.as_deref()
    }

    /// The largest file its chats take.
    pub fn max_attachment_bytes(&self) -> u64 {
        self.chat
            .map_or(DEFAULT_ATTACHMENT_BYTES, |c| c.max_attachment_bytes)
    }

    pub fn queue(&self) -> QueueId {
        QueueId(self.queue)
    }

    pub fn open_now(&self) -> bool {
        is_open(self, crate::wall_clock())
    }
}

/// Most entry points one service has.
pub const MAX_ENTRY_POINTS: usize = 50;

/// An address in its one canonical form, or what is wrong with it.
pub fn canonical(kind: Kind, address: &str) -> Result<String, String> {
    let a = address.trim();
    match kind {
        Kind::Phone => PhoneNumber::parse(a)
            .map(|p| p.expose().to_string())
            .map_err(|e| e.to_string()),
        Kind::Email => {
            let ok = a.len() <= 254
                && a.split_once('@').is_some_and(|(l, d)| {
                    !l.is_empty() && d.contains('.') && !a.contains(char::is_whitespace)
                });
            if ok {
                Ok(a.to_ascii_lowercase())
            } else {
                Err("email: not an email address".into())
            }
        }
        Kind::Chat | Kind::Web => {
            let ok = (1..=64).contains(&a.len())
                && a.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if ok {
                Ok(a.to_string())
            } else {
                Err(format!(
                    "{}: 1 to 64 lower-case letters, digits and -",
                    kind.name()
                ))
            }
        }
    }
}

pub fn is_open(def: &ServiceDef, now: model::Timestamp) -> bool {
    def.hours
        .as_ref()
        .and_then(|h| flow::Hours::compile(h).ok())
        .is_none_or(|h| h.is_open(now))
}

/// The queue a contact arriving at `address` by `channel` joins, if the
/// service is open (or the channel can wait for it to open).
pub async fn resolve(
    app: &App,
    c: &Caller,
    channel: Channel,
    address: &str,
) -> Result<QueueId, Error> {
    let kind = Kind::of(channel);
    let address =
        canonical(kind, address).map_err(|m| Error::Unprocessable(format!("entry_point: {m}")))?;
    let (org, kind_name, at) = (c.org, kind.name(), address.clone());
    let found = app.dir(move |d| d.service_for(org, kind_name, &at)).await?;
    let Some((_, text)) = found else {
        return Err(Error::NotFound(format!(
            "entry_point: no service answers this {} entry point",
            kind.name()
        )));
    };
    let def: ServiceDef = serde_json::from_str(&text)
        .map_err(|_| Error::Unavailable("the service's stored definition cannot be read".into()))?;
    let live = matches!(channel, Channel::Voice | Channel::Chat);
    if live && !is_open(&def, crate::wall_clock()) {
        return Err(Error::Conflict(format!("{} is closed now", def.name)));
    }
    Ok(QueueId(def.queue))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_have_one_canonical_form() {
        assert_eq!(
            canonical(Kind::Phone, "01622 000 111").unwrap(),
            "+441622000111"
        );
        assert_eq!(
            canonical(Kind::Email, " Wheelchairs@Kent.Example ").unwrap(),
            "wheelchairs@kent.example"
        );
        assert!(canonical(Kind::Email, "not-an-address").is_err());
        assert!(canonical(Kind::Chat, "Physio Widget").is_err());
        assert_eq!(
            canonical(Kind::Web, "physio-callback").unwrap(),
            "physio-callback"
        );
    }
}
