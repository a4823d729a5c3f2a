//! A history of arrivals: read from CSV, checked row by row, summed to the
//! forecast's interval, with the clock changes of Europe/London repaired.

use crate::ForecastError;
use jiff::civil::{Date, Time};

/// One history row: the start of an interval and its calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub date: Date,
    pub start: Time,
    pub calls: f64,
}

/// Most history rows accepted.
pub const MAX_ROWS: usize = 5_000_000;

/// Reads a history CSV (`date,interval_start,calls`; a header line is
/// skipped): `(line, problem)` for the first line that does not parse.
pub fn parse_history(text: &str) -> Result<Vec<Row>, (usize, String)> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (i == 0 && line.starts_with("date")) {
            continue;
        }
        if rows.len() >= MAX_ROWS {
            return Err((i + 1, format!("more than {MAX_ROWS} rows")));
        }
        let f: Vec<&str> = line
            .split(',')
            .map(|x| x.trim().trim_matches('"'))
            .collect();
        let at = |problem: String| (i + 1, problem);
        if f.len() != 3 {
            return Err(at(format!(
                "expected date,interval_start,calls, got {} fields",
                f.len()
            )));
        }
        let date: Date = f[0]
            .parse()
            .map_err(|_| at(format!("'{}' is not a date like 1999-01-31", f[0])))?;
        let start: Time = format!("{}:00", f[1])
            .parse()
            .map_err(|_| at(format!("'{}' is not a time like 08:30", f[1])))?;
        let calls: f64 = f[2]
            .parse()
            .map_err(|_| at(format!("calls '{}' is not a number", f[2])))?;
        rows.push(Row { date, start, calls });
    }
    Ok(rows)
}

/// Calls per interval, contiguous from `first` (a date and slot).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub first_date: Date,
    /// Slot of the first value within its day.
    pub first_slot: usize,
    pub slots_per_day: usize,
    pub values: Vec<f64>,
    /// What was repaired while reading (clock changes), for the output.
    pub notes: Vec<String>,
}

fn minute(t: Time) -> i64 {
    t.hour() as i64 * 60 + t.minute() as i64
}

/// The Europe/London clock change on `d`, if there is one: +60 (forward,
/// 01:00 to 02:00 does not happen) or −60 (back, 01:00 to 02:00 twice).
pub fn london_clock_change(d: Date) -> Option<i64> {
    let tz = jiff::tz::TimeZone::get("Europe/London").ok()?;
    let off = |h: i8| {
        tz.to_ambiguous_zoned(d.to_datetime(Time::constant(h, 0, 0, 0)))
            .compatible()
            .ok()
            .map(|z| z.offset().seconds() as i64 / 60)
    };
    let (a, b) = (off(0)?, off(4)?);
    (a != b).then_some(b - a)
}

/// Rows with the clock changes repaired: at a spring change the missing
/// hour is filled from the intervals either side; at an autumn change the
/// repeated hour is averaged with the first. Each repair is described in
/// `notes`. Returns the rows and their original line numbers.
fn repair_clock_changes(
    rows: &[Row],
    step: i64,
    notes: &mut Vec<String>,
) -> (Vec<Row>, Vec<usize>) {
    let mut out: Vec<Row> = Vec::with_capacity(rows.len());
    let mut lines: Vec<usize> = Vec::with_capacity(rows.len());
    let hour_rows = (60 / step.max(1)) as usize;
    let mut i = 0;
    while i < rows.len() {
        let r = &rows[i];
        if let Some(prev) = out.last() {
            let gap = if prev.date == r.date {
                minute(r.start) - minute(prev.start)
            } else {
                i64::MIN
            };
            let change = if gap == step + 60 || gap == step - 60 {
                london_clock_change(r.date)
            } else {
                None
            };
            // Forward: 00:xx then 02:00, on the spring change day.
            if change == Some(60) && gap == step + 60 && minute(r.start) == 120 && 60 % step == 0 {
                let (a, b) = (prev.calls, r.calls);
                let mut t = minute(prev.start) + step;
                while t < 120 {
                    out.push(Row {
                        date: r.date,
                        start: Time::constant((t / 60) as i8, (t % 60) as i8, 0, 0),
                        calls: (a + b) / 2.0,
                    });
                    lines.push(i + 2);
                    t += step;
                }
                notes.push(format!(
                    "{}: the clocks went forward, 01:00-02:00 did not happen; filled from the intervals either side",
                    r.date
                ));
            }
            // Back: 01:xx then 01:00 again, on the autumn change day.
            if change == Some(-60)
                && gap == step - 60
                && minute(r.start) == 60
                && 60 % step == 0
                && i + hour_rows <= rows.len()
                && out.len() >= hour_rows
            {
                let first = out.len() - hour_rows;
                let repeat = &rows[i..i + hour_rows];
                let same = repeat
                    .iter()
                    .zip(&out[first..])
                    .all(|(x, y)| x.date == y.date && x.start == y.start);
                if same {
                    for (k, x) in repeat.iter().enumerate() {
                        if !(x.calls.is_finite() && x.calls >= 0.0) {
                            break; // the row check below names it
                        }
                        out[first + k].calls = (out[first + k].calls + x.calls) / 2.0;
                    }
                    notes.push(format!(
                        "{}: the clocks went back, 01:00-02:00 happened twice; the two hours averaged",
                        r.date
                    ));
                    i += hour_rows;
                    continue;
                }
            }
        }
        out.push(r.clone());
        lines.push(i + 2);
        i += 1;
    }
    (out, lines)
}

impl Series {
    /// Builds a series at `interval_minutes` from rows at a finer or equal
    /// interval (summed). Rows must be in order, with no gaps or
    /// duplicates, and counts zero or more; the times are Europe/London
    /// wall-clock times, so the hour missing at the spring clock change and
    /// repeated at the autumn one are repaired (and said in `notes`).
    pub fn from_rows(rows: &[Row], interval_minutes: u32) -> Result<Series, ForecastError> {
        if rows.is_empty() {
            return Err(ForecastError::Empty);
        }
        if rows.len() > MAX_ROWS {
            return Err(ForecastError::Other(format!("more than {MAX_ROWS} rows")));
        }
        if interval_minutes == 0 || 1440 % interval_minutes != 0 {
            return Err(ForecastError::Interval(format!(
                "{interval_minutes} minutes does not divide a day"
            )));
        }
        // The history's own step, from its first two rows.
        let step = if rows.len() > 1 {
            let d = (rows[1].date - rows[0].date).get_days() as i64 * 1440 + minute(rows[1].start)
                - minute(rows[0].start);
            if d <= 0 {
                return Err(ForecastError::Row {
                    row: 3,
                    problem: "is not after the row before it".into(),
                });
            }
            d
        } else {
            interval_minutes as i64
        };
        if interval_minutes as i64 % step != 0 {
            return Err(ForecastError::Interval(format!(
                "{interval_minutes} minutes is not a whole number of the history's {step}-minute intervals"
            )));
        }
        let mut notes = Vec::new();
        let (rows, lines) = repair_clock_changes(rows, step, &mut notes);
        let per = interval_minutes as i64 / step;
        let mut values = Vec::with_capacity(rows.len() / per as usize + 1);
        let first_abs = minute(rows[0].start);
        if first_abs % interval_minutes as i64 != 0 {
            return Err(ForecastError::Row {
                row: 2,
                problem: format!(
                    "starts at {}, not on a {interval_minutes}-minute boundary",
                    rows[0].start
                ),
            });
        }
        let mut expect = (rows[0].date, first_abs);
        for (i, r) in rows.iter().enumerate() {
            let line = lines[i];
            if !(r.calls.is_finite() && r.calls >= 0.0) {
                return Err(ForecastError::Row {
                    row: line,
                    problem: format!("calls {} is not zero or more", r.calls),
                });
            }
            let at = (r.date, minute(r.start));
            if at != expect {
                let problem = if at < expect {
                    "is out of order or a duplicate".to_string()
                } else {
                    format!(
                        "leaves a gap: expected {} {:02}:{:02}",
                        expect.0,
                        expect.1 / 60,
                        expect.1 % 60
                    )
                };
                return Err(ForecastError::Row { row: line, problem });
            }
            if (i as i64) % per == 0 {
                values.push(0.0);
            }
            *values.last_mut().expect("pushed") += r.calls;
            let next = expect.1 + step;
            expect = if next >= 1440 {
                (
                    expect
                        .0
                        .tomorrow()
                        .map_err(|e| ForecastError::Other(e.to_string()))?,
                    next - 1440,
                )
            } else {
                (expect.0, next)
            };
        }
        if rows.len() as i64 % per != 0 {
            values.pop(); // a last, incomplete interval
        }
        Ok(Series {
            first_date: rows[0].date,
            first_slot: (first_abs / interval_minutes as i64) as usize,
            slots_per_day: (1440 / interval_minutes) as usize,
            values,
            notes,
        })
    }

    /// Date and start time of value `i` (including future ones).
    pub fn when(&self, i: usize) -> (Date, Time) {
        let abs = self.first_slot + i;
        let date = self
            .first_date
            .checked_add(jiff::Span::new().days((abs / self.slots_per_day) as i64))
            .expect("dates in range");
        let m = (abs % self.slots_per_day) * (1440 / self.slots_per_day);
        (date, Time::constant((m / 60) as i8, (m % 60) as i8, 0, 0))
    }

    /// The calendar day of value `i`, counted from the first date.
    pub fn day_of(&self, i: usize) -> usize {
        (self.first_slot + i) / self.slots_per_day
    }

    /// The date of day number `d` (counted from the first date).
    pub fn date_of_day(&self, d: usize) -> Date {
        self.first_date
            .checked_add(jiff::Span::new().days(d as i64))
            .expect("dates in range")
    }

    /// The same series cut to its first `n` values.
    pub fn prefix(&self, n: usize) -> Series {
        Series {
            values: self.values[..n.min(self.values.len())].to_vec(),
            notes: Vec::new(),
            ..self.clone()
        }
    }
}
