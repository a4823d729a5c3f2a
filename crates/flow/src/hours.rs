//! Opening hours in Europe/London local time, daylight saving included
//! (the bundled tz database; no file is read).

use crate::model::Calendar;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use model::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// A calendar checked and parsed once, when its flow is validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Hours {
    /// Monday first: open ranges in minutes after local midnight.
    weekly: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<Date>,
    /// `"england-and-wales"` in the list: those bank holidays, computed.
    england_and_wales: bool,
    /// Date → its hours that day (`None`: closed).
    exceptions: BTreeMap<Date, Option<(u32, u32)>>,
}

fn london() -> TimeZone {
    TimeZone::get("Europe/London").expect("Europe/London is in the bundled tz database")
}

/// "08:30" → minutes after midnight ("24:00" allowed as a closing time).
fn minutes(s: &str) -> Result<u32, String> {
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| format!("'{s}' is not a time like 08:30"))?;
    let (h, m): (u32, u32) = (
        h.parse().map_err(|_| format!("'{s}' has a bad hour"))?,
        m.parse().map_err(|_| format!("'{s}' has bad minutes"))?,
    );
    if h > 24 || m > 59 || (h == 24 && m > 0) {
        return Err(format!("'{s}' is not a time of day"));
    }
    Ok(h * 60 + m)
}

fn day_index(d: &str) -> Result<usize, String> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|x| *x == d.to_ascii_lowercase())
        .ok_or_else(|| format!("'{d}' is not a day (mon..sun)"))
}

fn date(s: &str) -> Result<Date, String> {
    s.parse::<Date>()
        .map_err(|_| format!("'{s}' is not a date like 2026-12-25"))
}

fn range(open: &str, close: &str) -> Result<(u32, u32), String> {
    let (o, c) = (minutes(open)?, minutes(close)?);
    if c <= o {
        return Err(format!("closes at {close}, not after it opens at {open}"));
    }
    Ok((o, c))
}

/// Most sessions, holidays and exceptions in one calendar.
pub const MAX_CALENDAR_ENTRIES: usize = 2_000;

impl Hours {
    pub fn compile(c: &Calendar) -> Result<Hours, String> {
        if c.weekly.len() + c.bank_holidays.len() + c.exceptions.len() > MAX_CALENDAR_ENTRIES {
            return Err(format!("more than {MAX_CALENDAR_ENTRIES} entries"));
        }
        let mut weekly: [Vec<(u32, u32)>; 7] = Default::default();
        for s in &c.weekly {
            let r = range(&s.open, &s.close)?;
            if s.days.is_empty() {
                return Err("a weekly session names no days".into());
            }
            for d in &s.days {
                weekly[day_index(d)?].push(r);
            }
        }
        let england_and_wales = c
            .bank_holidays
            .iter()
            .any(|d| d == crate::holidays::ENGLAND_AND_WALES);
        let holidays = c
            .bank_holidays
            .iter()
            .filter(|d| *d != crate::holidays::ENGLAND_AND_WALES)
            .map(|d| date(d))
            .collect::<Result<_, _>>()?;
        let mut exceptions = BTreeMap::new();
        for e in &c.exceptions {
            let hours = match (&e.open, &e.close) {
                (None, None) => None,
                (Some(o), Some(cl)) => Some(range(o, cl)?),
                _ => {
                    return Err(format!(
                        "exception on {}: give both open and close, or neither (closed)",
                        e.date
                    ))
                }
            };
            exceptions.insert(date(&e.date)?, hours);
        }
        Ok(Hours {
            weekly,
            holidays,
            england_and_wales,
            exceptions,
        })
    }

    /// Open at this instant, by the local (Europe/London) date and time?
    pub fn is_open(&self, at: Timestamp) -> bool {
        let Ok(ts) = jiff::Timestamp::from_millisecond(at.as_ms()) else {
            return false;
        };
        let z = ts.to_zoned(london());
        let (day, t) = (z.date(), z.time());
        let m = t.hour() as u32 * 60 + t.minute() as u32;
        let inside = |r: &(u32, u32)| r.0 <= m && m < r.1;
        if let Some(ex) = self.exceptions.get(&day) {
            return ex.as_ref().is_some_and(inside);
        }
        if self.holidays.contains(&day)
            || (self.england_and_wales && crate::holidays::is_england_and_wales(day))
        {
            return false;
        }
        let wd = z.weekday().to_monday_zero_offset() as usize;
        self.weekly[wd].iter().any(inside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Calendar, Exception, Session};

    fn at(s: &str) -> Timestamp {
        let z: jiff::Zoned = format!("{s}[Europe/London]").parse().unwrap();
        Timestamp::from_ms(z.timestamp().as_millisecond())
    }

    #[test]
    fn the_england_and_wales_calendar_closes_its_bank_holidays() {
        let h = Hours::compile(&Calendar {
            weekly: vec![Session {
                days: ["mon", "tue", "wed", "thu", "fri"]
                    .map(String::from)
                    .to_vec(),
                open: "08:00".into(),
                close: "18:00".into(),
            }],
            bank_holidays: vec!["england-and-wales".into(), "2026-12-24".into()],
            exceptions: vec![Exception {
                date: "2026-08-31".into(),
                open: Some("10:00".into()),
                close: Some("14:00".into()),
            }],
        })
        .unwrap();
        assert!(h.is_open(at("2026-12-23T09:00")));
        assert!(!h.is_open(at("2026-12-24T09:00")), "listed by date");
        assert!(!h.is_open(at("2026-12-25T09:00")), "Christmas Day");
        assert!(
            !h.is_open(at("2026-12-28T09:00")),
            "Boxing Day's substitute"
        );
        assert!(!h.is_open(at("2027-03-26T09:00")), "Good Friday 2027");
        assert!(
            h.is_open(at("2026-08-31T11:00")),
            "an exception wins over the holiday"
        );
        assert!(!h.is_open(at("2026-08-31T09:00")));
        assert!(Hours::compile(&Calendar {
            weekly: vec![],
            bank_holidays: vec!["scotland".into()],
            exceptions: vec![],
        })
        .unwrap_err()
        .contains("'scotland' is not a date"));
    }
}
