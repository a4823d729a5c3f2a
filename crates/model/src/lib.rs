//! Shared vocabulary of Switchboard: identifiers, time, channels, patient
//! identifiers. Pure: no I/O, no clock, no randomness.
//!
//! Architecture invariant: this crate never reads the wall clock. Time is the
//! [`Timestamp`] a caller passes in.

use serde::{Deserialize, Serialize};
use std::fmt;

mod nhs;
mod patient;
pub mod rng;
pub use nhs::{NhsNumber, NhsNumberError};
pub use patient::{Patient, PatientError, PhoneNumber, Sensitive, MAX_PHONES};

/// Milliseconds since the Unix epoch (UTC). Our own type so that the pure
/// crates never depend on a clock or a time library.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    pub fn from_ms(ms: i64) -> Self {
        Timestamp(ms)
    }
    pub fn as_ms(self) -> i64 {
        self.0
    }
    /// `self + d`, saturating at the ends of the range.
    pub fn plus(self, d: DurationMs) -> Timestamp {
        Timestamp(self.0.saturating_add(d.0))
    }
    /// Time from `earlier` to `self` (negative if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> DurationMs {
        DurationMs(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}ms", self.0)
    }
}

impl fmt::Display for Timestamp {
    /// Renders as seconds with millisecond precision (`12.345s`), the form
    /// used in routing traces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:03}s", a / 1000, a % 1000)
    }
}

/// A span of time in milliseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DurationMs(pub i64);

impl DurationMs {
    pub const ZERO: DurationMs = DurationMs(0);
    pub fn from_secs(s: i64) -> Self {
        DurationMs(s.saturating_mul(1000))
    }
    pub fn from_ms(ms: i64) -> Self {
        DurationMs(ms)
    }
    pub fn as_ms(self) -> i64 {
        self.0
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl fmt::Debug for DurationMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

impl fmt::Display for DurationMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Timestamp(self.0).fmt(f)
    }
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $inner:ty, $prefix:literal) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id_type!(
    /// One organisation (tenant): a trust, a practice, a network. Nothing
    /// of one organisation is visible to another.
    OrgId, u32, "org"
);
id_type!(
    /// One contact (call, chat, email, ...), chosen by the caller of the engine.
    ContactId, u64, "c"
);
id_type!(
    /// One agent (a person who handles contacts).
    AgentId, u32, "a"
);
id_type!(
    /// One queue / service line.
    QueueId, u32, "q"
);
id_type!(
    /// One skill (a service, a language, a clinical role).
    SkillId, u32, "s"
);
id_type!(
    /// One team of agents.
    TeamId, u32, "t"
);
id_type!(
    /// One site (building, or "home").
    SiteId, u32, "site"
);

/// Priority of a queue or contact: higher is served first.
pub type Priority = i32;

/// A skill level: 0 (none) to 10 (expert).
pub type SkillLevel = u8;

/// Highest skill level accepted in configuration.
pub const SKILL_LEVEL_MAX: SkillLevel = 10;

/// How a contact reaches us.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Voice,
    Chat,
    Email,
    Sms,
    /// A callback the system owes the caller (virtual hold or booked).
    Callback,
    /// An outbound call an agent makes (e.g. a follow-up list).
    Outbound,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Voice,
        Channel::Chat,
        Channel::Email,
        Channel::Sms,
        Channel::Callback,
        Channel::Outbound,
    ];

    /// The agent capacity a contact of this channel occupies: every
    /// phone call (inbound, callback, outbound) uses the voice slot.
    pub fn media(self) -> Media {
        match self {
            Channel::Voice | Channel::Callback | Channel::Outbound => Media::Voice,
            Channel::Chat => Media::Chat,
            Channel::Email => Media::Email,
            Channel::Sms => Media::Sms,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Chat => "chat",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Callback => "callback",
            Channel::Outbound => "outbound",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind of agent capacity. Several channels may share one medium.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Media {
    Voice = 0,
    Chat = 1,
    Email = 2,
    Sms = 3,
}

impl Media {
    pub const COUNT: usize = 4;
    pub const ALL: [Media; 4] = [Media::Voice, Media::Chat, Media::Email, Media::Sms];
    pub fn index(self) -> usize {
        self as usize
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Media::Voice => "voice",
            Media::Chat => "chat",
            Media::Email => "email",
            Media::Sms => "sms",
        }
    }
}

impl fmt::Display for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_display_and_arithmetic() {
        let t = Timestamp(61_005);
        assert_eq!(t.to_string(), "61.005s");
        assert_eq!(Timestamp(-1500).to_string(), "-1.500s");
        assert_eq!(t.plus(DurationMs::from_secs(2)), Timestamp(63_005));
        assert_eq!(Timestamp(10).since(Timestamp(25)), DurationMs(-15));
        assert_eq!(Timestamp::MAX.plus(DurationMs(5)), Timestamp::MAX);
    }

    #[test]
    fn phone_channels_share_the_voice_slot() {
        assert_eq!(Channel::Callback.media(), Media::Voice);
        assert_eq!(Channel::Outbound.media(), Media::Voice);
        assert_eq!(Channel::Chat.media(), Media::Chat);
    }
}
