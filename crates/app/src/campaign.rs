//! Outbound reminder campaigns, pure: the recipients read from a CSV
//! (each row checked, problems named by line), and when each message goes
//! — spaced to the campaign's rate, never inside its quiet hours (Europe/
//! London). The schedule is fixed when the campaign is made, one outbox
//! row per recipient with its time, so a restart changes nothing: what is
//! due is sent, once.

use model::{PhoneNumber, Timestamp};
use std::collections::BTreeMap;

/// Most recipients one campaign has.
pub const MAX_RECIPIENTS: usize = 50_000;
/// Largest CSV taken, in bytes.
pub const MAX_CSV_BYTES: usize = 5 * 1024 * 1024;
/// Notify's own limit: 3,000 requests a minute.
pub const MAX_PER_MINUTE: u32 = 3000;
/// Most personalisation columns, and the longest value.
pub const MAX_COLUMNS: usize = 20;
pub const MAX_VALUE_CHARS: usize = 500;

/// Text or email.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Medium {
    Sms,
    Email,
}

impl Medium {
    pub fn as_str(self) -> &'static str {
        match self {
            Medium::Sms => "sms",
            Medium::Email => "email",
        }
    }

    /// The CSV column that holds the recipient (Notify's own names).
    pub fn column(self) -> &'static str {
        match self {
            Medium::Sms => "phone_number",
            Medium::Email => "email_address",
        }
    }
}

/// One recipient: its line in the file (from 2: line 1 is the header),
/// its address in one canonical form, and the rest of its row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub line: usize,
    pub to: String,
    pub personalisation: BTreeMap<String, String>,
}

/// Reads the recipients, or every problem found (at most 20), each naming
/// its line: nothing is taken from a file with a problem.
pub fn recipients(csv_text: &str, medium: Medium) -> Result<Vec<Recipient>, Vec<String>> {
    if csv_text.len() > MAX_CSV_BYTES {
        return Err(vec![format!(
            "the file is {} bytes; at most {MAX_CSV_BYTES}",
            csv_text.len()
        )]);
    }
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(csv_text.as_bytes());
    let headers: Vec<String> = match r.headers() {
        Ok(h) => h.iter().map(|c| c.to_ascii_lowercase()).collect(),
        Err(e) => return Err(vec![format!("line 1: {e}")]),
    };
    let Some(at) = headers.iter().position(|h| h == medium.column()) else {
        return Err(vec![format!(
            "line 1: no {} column (the header names the columns; the others are personalisation)",
            medium.column()
        )]);
    };
    if headers.len() > MAX_COLUMNS + 1 {
        return Err(vec![format!(
            "line 1: at most {MAX_COLUMNS} personalisation columns"
        )]);
    }
    let mut seen = std::collections::HashSet::new();
    for h in &headers {
        if h.is_empty() || !seen.insert(h) {
            return Err(vec![format!(
                "line 1: every column needs a name of its own ({h:?})"
            )]);
        }
    }
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, row) in r.records().enumerate() {
        let line = i + 2;
        if problems.len() >= 20 {
            break;
        }
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        if out.len() >= MAX_RECIPIENTS {
            problems.push(format!("at most {MAX_RECIPIENTS} recipients"));
            break;
        }
        let raw = row.get(at).unwrap_or("");
        let to = match medium {
            Medium::Sms => match PhoneNumber::parse(raw) {
                Ok(p) if p.expose().starts_with("+447") => p.expose().to_string(),
                Ok(_) => {
                    problems.push(format!(
                        "line {line}: phone_number is not a UK mobile number"
                    ));
                    continue;
                }
                Err(e) => {
                    problems.push(format!("line {line}: phone_number: {e}"));
                    continue;
                }
            },
            Medium::Email => match crate::services::canonical(crate::services::Kind::Email, raw) {
                Ok(a) => a,
                Err(e) => {
                    problems.push(format!("line {line}: email_address: {e}"));
                    continue;
                }
            },
        };
        let mut personalisation = BTreeMap::new();
        for (j, v) in row.iter().enumerate() {
            if j == at {
                continue;
            }
            if v.chars().count() > MAX_VALUE_CHARS {
                problems.push(format!(
                    "line {line}: {} is longer than {MAX_VALUE_CHARS} characters",
                    headers[j]
                ));
            }
            personalisation.insert(headers[j].clone(), v.to_string());
        }
        out.push(Recipient {
            line,
            to,
            personalisation,
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if out.is_empty() {
        return Err(vec!["no recipients: the file has only its header".into()]);
    }
    Ok(out)
}

/// When no messages go: from `from` to `to` each day, in London (e.g.
/// 20:00 to 08:00; `from` after `to` spans midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub from: jiff::civil::Time,
    pub to: jiff::civil::Time,
}

impl QuietHours {
    /// `HH:MM` and `HH:MM`, naming the problem.
    pub fn parse(from: &str, to: &str) -> Result<QuietHours, String> {
        let t = |s: &str, what: &str| {
            jiff::civil::Time::strptime("%H:%M", s.trim())
                .map_err(|_| format!("quiet_hours.{what}: HH:MM, not {s:?}"))
        };
        let q = QuietHours {
            from: t(from, "from")?,
            to: t(to, "to")?,
        };
        if q.from == q.to {
            return Err("quiet_hours: from and to are the same time".into());
        }
        Ok(q)
    }

    fn quiet_at(&self, t: jiff::civil::Time) -> bool {
        if self.from < self.to {
            t >= self.from && t < self.to
        } else {
            t >= self.from || t < self.to
        }
    }
}

fn london(t: Timestamp) -> jiff::Zoned {
    jiff::Timestamp::from_millisecond(t.0)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(crate::time::london())
}

/// The first moment at or after `t` outside the quiet hours.
pub fn next_allowed(t: Timestamp, quiet: Option<&QuietHours>) -> Timestamp {
    let Some(q) = quiet else { return t };
    let z = london(t);
    if !q.quiet_at(z.time()) {
        return t;
    }
    // The end of this quiet spell: `to` today, or tomorrow if it is past.
    let day = if z.time() >= q.to {
        z.date().tomorrow().unwrap_or(z.date())
    } else {
        z.date()
    };
    let end = day
        .to_datetime(q.to)
        .to_zoned(crate::time::london())
        .map(|z| Timestamp(z.timestamp().as_millisecond()))
        .unwrap_or(t);
    Timestamp(end.0.max(t.0))
}

/// When each of `n` messages goes: from `start`, `per_minute` a minute,
/// none inside the quiet hours.
pub fn schedule(
    start: Timestamp,
    n: usize,
    per_minute: u32,
    quiet: Option<&QuietHours>,
) -> Vec<Timestamp> {
    let gap = 60_000 / i64::from(per_minute.clamp(1, MAX_PER_MINUTE));
    let mut out = Vec::with_capacity(n);
    let mut t = next_allowed(start, quiet);
    for _ in 0..n {
        out.push(t);
        t = next_allowed(Timestamp(t.0 + gap), quiet);
    }
    out
}

/// Whether a text is the patient's opt-out ("STOP", as UK networks and
/// Notify's users expect; also "STOP ALL", "UNSUBSCRIBE", "OPT OUT").
pub fn is_opt_out(text: &str) -> bool {
    let t: String = text
        .trim()
        .trim_end_matches(['.', '!'])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    matches!(
        t.as_str(),
        "STOP" | "STOP ALL" | "STOPALL" | "UNSUBSCRIBE" | "OPT OUT" | "OPTOUT" | "END" | "QUIT"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        let z: jiff::Zoned = format!("{s}[Europe/London]").parse().unwrap();
        Timestamp(z.timestamp().as_millisecond())
    }

    fn show(t: Timestamp) -> String {
        london(t).strftime("%Y-%m-%d %H:%M:%S").to_string()
    }

    #[test]
    fn recipients_are_read_and_every_problem_named_by_line() {
        let ok = recipients(
            "phone_number,name,time\n07700 900001,Ann,10:00\n+447700900002,\"Bo, Jr\",11:00\n",
            Medium::Sms,
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].to, "+447700900001");
        assert_eq!(ok[1].personalisation["name"], "Bo, Jr");
        assert_eq!(ok[1].line, 3);
        let bad = recipients(
            "phone_number,name\n01632960000,Ann\nnot a number,Bo\n07700900003\n",
            Medium::Sms,
        )
        .unwrap_err();
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(
            bad[0].starts_with("line 2: phone_number is not a UK mobile"),
            "{bad:?}"
        );
        assert!(bad[1].starts_with("line 3: phone_number"), "{bad:?}");
        assert!(bad[2].starts_with("line 4:"), "{bad:?}");
        assert!(recipients("name\nAnn\n", Medium::Sms).unwrap_err()[0]
            .contains("no phone_number column"));
        assert!(recipients("phone_number\n", Medium::Sms).unwrap_err()[0].contains("no recipients"));
        assert!(recipients("email_address\nnot-an-address\n", Medium::Email).is_err());
        assert_eq!(
            recipients("Email_Address\nPat@Example.test\n", Medium::Email).unwrap()[0].to,
            "pat@example.test"
        );
    }

    #[test]
    fn messages_are_spaced_to_the_rate_and_kept_out_of_the_quiet_hours() {
        let q = QuietHours::parse("20:00", "08:00").unwrap();
        // Winter: 19:59:59 London; the second is quiet, so it waits for 08:00.
        let s = schedule(at("2026-12-07T19:59:59"), 3, 60, Some(&q));
        assert_eq!(
            s.iter().map(|t| show(*t)).collect::<Vec<_>>(),
            [
                "2026-12-07 19:59:59",
                "2026-12-08 08:00:00",
                "2026-12-08 08:00:01"
            ]
        );
        // Summer time (BST): 07:30 is quiet until 08:00 local.
        assert_eq!(
            show(next_allowed(at("2026-07-01T07:30:00"), Some(&q))),
            "2026-07-01 08:00:00"
        );
        // After midnight, before 08:00: the same morning.
        assert_eq!(
            show(next_allowed(at("2026-12-08T00:10:00"), Some(&q))),
            "2026-12-08 08:00:00"
        );
        // A daytime quiet spell (lunch).
        let lunch = QuietHours::parse("12:00", "13:00").unwrap();
        assert_eq!(
            show(next_allowed(at("2026-12-08T12:30:00"), Some(&lunch))),
            "2026-12-08 13:00:00"
        );
        assert_eq!(
            schedule(at("2026-12-08T09:00:00"), 4, 3000, None)[3].0 - at("2026-12-08T09:00:00").0,
            60
        );
        assert!(QuietHours::parse("25:00", "08:00").is_err());
        assert!(QuietHours::parse("08:00", "08:00").is_err());
    }

    #[test]
    fn stop_is_an_opt_out_and_a_sentence_is_not() {
        for t in [
            "STOP",
            "stop",
            " Stop. ",
            "STOP ALL",
            "unsubscribe",
            "Opt out",
        ] {
            assert!(is_opt_out(t), "{t}");
        }
        for t in ["Please don't stop my appointment", "STOPPED", "3"] {
            assert!(!is_opt_out(t), "{t}");
        }
    }
}
