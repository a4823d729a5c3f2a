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

/// Whether `d` is a working day in England (Monday to Friday, not a bank
/// holiday).
pub fn is_working_day(d: jiff::civil::Date) -> bool {
    use jiff::civil::Weekday::{Saturday, Sunday};
    !matches!(d.weekday(), Saturday | Sunday) && !flow::holidays::is_england_and_wales(d)
}

/// When a written message that arrived at `t` is due "within one working
/// day": the end (London midnight) of the first working day after the
/// London day it arrived on.
pub fn one_working_day_after(t: Timestamp) -> Timestamp {
    let tz = london();
    let Ok(z) = jiff::Timestamp::from_millisecond(t.0).map(|x| x.to_zoned(tz.clone())) else {
        return Timestamp(t.0 + 86_400_000);
    };
    let mut d = z.date();
    for _ in 0..30 {
        let Ok(next) = d.tomorrow() else { break };
        d = next;
        if is_working_day(d) {
            break;
        }
    }
    d.tomorrow()
        .ok()
        .and_then(|end| end.to_zoned(tz).ok())
        .map_or(Timestamp(t.0 + 86_400_000), |z| {
            Timestamp(z.timestamp().as_millisecond())
        })
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

#[cfg(test)]
mod working_day_tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        let z: jiff::Zoned = format!("{s}[Europe/London]").parse().unwrap();
        Timestamp(z.timestamp().as_millisecond())
    }

    #[test]
    fn one_working_day_skips_weekends_and_bank_holidays() {
        // Friday morning: due by the end of Monday.
        assert_eq!(
            one_working_day_after(at("2026-12-04T10:00:00")),
            at("2026-12-08T00:00:00")
        );
        // Christmas Eve 2026 (Thursday): Christmas Day (Friday) and the
        // Boxing Day substitute (Monday 28th) are holidays: end of Tuesday.
        assert_eq!(
            one_working_day_after(at("2026-12-24T16:00:00")),
            at("2026-12-30T00:00:00")
        );
        // A Saturday: end of Monday.
        assert_eq!(
            one_working_day_after(at("2026-12-05T09:00:00")),
            at("2026-12-08T00:00:00")
        );
        // Good Friday 2026 (3 April) and Easter Monday (6 April): a
        // Thursday message is due at the end of Tuesday 7 April (BST).
        assert_eq!(
            one_working_day_after(at("2026-04-02T12:00:00")),
            at("2026-04-08T00:00:00")
        );
    }
}
