//! The wall clock (read here, at the edge, and handed to the pure engines)
//! and the times the contact centre reports in.

use model::Timestamp;

pub fn wall_clock() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Timestamp(ms)
}

pub fn iso(t: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.0).map_or_else(|_| t.0.to_string(), |t| t.to_string())
}

pub fn london() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/London").unwrap_or(jiff::tz::TimeZone::UTC)
}

/// The start of the London day holding `t`.
pub fn london_day_start(t: Timestamp) -> Timestamp {
    day_start(&london(), t)
}

/// The start (UTC) of the London day holding `t`.
pub fn day_start(tz: &jiff::tz::TimeZone, t: Timestamp) -> Timestamp {
    jiff::Timestamp::from_millisecond(t.0)
        .ok()
        .and_then(|x| x.to_zoned(tz.clone()).start_of_day().ok())
        .map_or(t, |z| Timestamp(z.timestamp().as_millisecond()))
}
