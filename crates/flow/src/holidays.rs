//! England and Wales bank holidays, computed: the calendar a call flow
//! names as `"england-and-wales"` and the forecast knows without being
//! told. The fixed rules (with weekend substitutes) since 1978, plus the
//! one-off days proclaimed for jubilees, royal events and the millennium,
//! and the years a regular holiday was moved.

use jiff::civil::{Date, Weekday};

/// First year the rules here describe (the Early May holiday began in 1978).
pub const FIRST_YEAR: i16 = 1978;
/// Last year computed (holidays after it are not known).
pub const LAST_YEAR: i16 = 2199;

/// The name a calendar uses for this list.
pub const ENGLAND_AND_WALES: &str = "england-and-wales";

fn date(y: i16, m: i8, d: i8) -> Date {
    Date::new(y, m, d).expect("a real date")
}

/// Easter Sunday in the Gregorian calendar (the anonymous algorithm).
pub fn easter(y: i16) -> Date {
    let y32 = y as i32;
    let a = y32 % 19;
    let b = y32 / 100;
    let c = y32 % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    date(y, month as i8, day as i8)
}

fn add(d: Date, days: i64) -> Date {
    d.checked_add(jiff::Span::new().days(days))
        .expect("in range")
}

/// The first `wd` on or after `d`.
fn on_or_after(d: Date, wd: Weekday) -> Date {
    let off = (wd.to_monday_zero_offset() - d.weekday().to_monday_zero_offset()).rem_euclid(7);
    add(d, off as i64)
}

/// The last `wd` on or before `d`.
fn on_or_before(d: Date, wd: Weekday) -> Date {
    let off = (d.weekday().to_monday_zero_offset() - wd.to_monday_zero_offset()).rem_euclid(7);
    add(d, -(off as i64))
}

/// The bank holidays of one year in England and Wales, in date order
/// (empty outside [`FIRST_YEAR`], [`LAST_YEAR`]).
pub fn england_and_wales(y: i16) -> Vec<Date> {
    if !(FIRST_YEAR..=LAST_YEAR).contains(&y) {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(10);
    // New Year's Day, or the Monday after it.
    let ny = date(y, 1, 1);
    out.push(match ny.weekday() {
        Weekday::Saturday => add(ny, 2),
        Weekday::Sunday => add(ny, 1),
        _ => ny,
    });
    let e = easter(y);
    out.push(add(e, -2)); // Good Friday
    out.push(add(e, 1)); // Easter Monday
                         // Early May: the first Monday, moved for VE Day's anniversaries.
    out.push(match y {
        1995 => date(1995, 5, 8),
        2020 => date(2020, 5, 8),
        _ => on_or_after(date(y, 5, 1), Weekday::Monday),
    });
    // Spring: the last Monday in May, moved for jubilees.
    out.push(match y {
        1977 => date(1977, 6, 6),
        2002 => date(2002, 6, 4),
        2012 => date(2012, 6, 4),
        2022 => date(2022, 6, 2),
        _ => on_or_before(date(y, 5, 31), Weekday::Monday),
    });
    // Summer: the last Monday in August.
    out.push(on_or_before(date(y, 8, 31), Weekday::Monday));
    // Christmas and Boxing Day, each moved to the next free weekday.
    let xmas = date(y, 12, 25);
    match xmas.weekday() {
        Weekday::Friday => out.extend([xmas, date(y, 12, 28)]),
        Weekday::Saturday => out.extend([date(y, 12, 27), date(y, 12, 28)]),
        Weekday::Sunday => out.extend([date(y, 12, 26), date(y, 12, 27)]),
        _ => out.extend([xmas, date(y, 12, 26)]),
    }
    // One-off days.
    let extra: &[(i16, i8, i8)] = &[
        (1981, 7, 29),  // royal wedding
        (1999, 12, 31), // millennium
        (2002, 6, 3),   // golden jubilee
        (2011, 4, 29),  // royal wedding
        (2012, 6, 5),   // diamond jubilee
        (2022, 6, 3),   // platinum jubilee
        (2022, 9, 19),  // the Queen's state funeral
        (2023, 5, 8),   // the King's coronation
    ];
    out.extend(
        extra
            .iter()
            .filter(|(ey, _, _)| *ey == y)
            .map(|&(ey, m, d)| date(ey, m, d)),
    );
    out.sort();
    out
}

/// Whether `d` is a bank holiday in England and Wales.
pub fn is_england_and_wales(d: Date) -> bool {
    england_and_wales(d.year()).contains(&d)
}

/// Every England and Wales bank holiday from `from` to `to`, inclusive.
pub fn england_and_wales_between(from: Date, to: Date) -> Vec<Date> {
    (from.year()..=to.year())
        .flat_map(england_and_wales)
        .filter(|d| *d >= from && *d <= to)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(y: i16) -> Vec<String> {
        england_and_wales(y).iter().map(|d| d.to_string()).collect()
    }

    /// The published lists (gov.uk/bank-holidays) for these years.
    #[test]
    fn published_years() {
        assert_eq!(
            list(2025),
            [
                "2025-01-01",
                "2025-04-18",
                "2025-04-21",
                "2025-05-05",
                "2025-05-26",
                "2025-08-25",
                "2025-12-25",
                "2025-12-26"
            ]
        );
        assert_eq!(
            list(2026),
            [
                "2026-01-01",
                "2026-04-03",
                "2026-04-06",
                "2026-05-04",
                "2026-05-25",
                "2026-08-31",
                "2026-12-25",
                "2026-12-28"
            ]
        );
        assert_eq!(
            list(2027),
            [
                "2027-01-01",
                "2027-03-26",
                "2027-03-29",
                "2027-05-03",
                "2027-05-31",
                "2027-08-30",
                "2027-12-27",
                "2027-12-28"
            ]
        );
        assert_eq!(
            list(2022),
            [
                "2022-01-03",
                "2022-04-15",
                "2022-04-18",
                "2022-05-02",
                "2022-06-02",
                "2022-06-03",
                "2022-08-29",
                "2022-09-19",
                "2022-12-26",
                "2022-12-27"
            ]
        );
        assert_eq!(
            list(2020),
            [
                "2020-01-01",
                "2020-04-10",
                "2020-04-13",
                "2020-05-08",
                "2020-05-25",
                "2020-08-31",
                "2020-12-25",
                "2020-12-28"
            ]
        );
        assert!(england_and_wales(1900).is_empty());
        assert!(is_england_and_wales(date(1999, 12, 31)));
        assert!(!is_england_and_wales(date(2026, 12, 26)));
        assert_eq!(
            england_and_wales_between(date(2026, 12, 1), date(2027, 1, 31)).len(),
            3
        );
    }

    #[test]
    fn easter_dates() {
        for (y, m, d) in [
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2038, 4, 25),
            (1999, 4, 4),
        ] {
            assert_eq!(easter(y), date(y, m, d));
        }
    }
}
