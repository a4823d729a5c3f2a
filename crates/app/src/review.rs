//! The auditor's unusual-access report: from a period's audit records
//! that name a patient, who read many patients' records, who read them
//! out of hours, and who broke the glass. Pure: records in, flags out.

use std::collections::{BTreeMap, BTreeSet};
use store::AuditRecord;

/// What counts as unusual.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    /// More distinct patients than this in the period.
    pub many_patients: usize,
    /// Out of hours: from this hour (London) ...
    pub evening_from: i8,
    /// ... to this hour the next morning.
    pub morning_until: i8,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            many_patients: 50,
            evening_from: 20,
            morning_until: 7,
        }
    }
}

/// One person's (or system's) patient access in the period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub actor: String,
    /// Records naming a patient.
    pub reads: usize,
    /// Distinct patients.
    pub patients: usize,
    pub out_of_hours: usize,
    pub break_glass: usize,
    /// Why this is unusual, in words (empty: nothing unusual).
    pub flags: Vec<String>,
}

/// Everyone who touched patients' records, the unusual first.
pub fn unusual(records: &[AuditRecord], t: Thresholds) -> Vec<Access> {
    let tz = crate::time::london();
    #[derive(Default)]
    struct Acc {
        reads: usize,
        patients: BTreeSet<String>,
        out_of_hours: usize,
        break_glass: usize,
    }
    let mut by: BTreeMap<&str, Acc> = BTreeMap::new();
    for r in records {
        let Some(p) = &r.patient else { continue };
        let a = by.entry(r.actor.as_str()).or_default();
        a.reads += 1;
        a.patients.insert(p.clone());
        if r.outcome == store::review::BREAK_GLASS {
            a.break_glass += 1;
        }
        let hour = jiff::Timestamp::from_millisecond(r.at.0)
            .map(|ts| ts.to_zoned(tz.clone()).hour())
            .unwrap_or(12);
        if hour >= t.evening_from || hour < t.morning_until {
            a.out_of_hours += 1;
        }
    }
    let mut out: Vec<Access> = by
        .into_iter()
        .map(|(actor, a)| {
            let mut flags = Vec::new();
            if a.patients.len() > t.many_patients {
                flags.push(format!(
                    "read {} patients' records (more than {})",
                    a.patients.len(),
                    t.many_patients
                ));
            }
            if a.out_of_hours > 0 {
                flags.push(format!(
                    "{} reads between {:02}:00 and {:02}:00 (London)",
                    a.out_of_hours, t.evening_from, t.morning_until
                ));
            }
            if a.break_glass > 0 {
                flags.push(format!("{} break-glass reads", a.break_glass));
            }
            Access {
                actor: actor.to_string(),
                reads: a.reads,
                patients: a.patients.len(),
                out_of_hours: a.out_of_hours,
                break_glass: a.break_glass,
                flags,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.flags
            .len()
            .cmp(&a.flags.len())
            .then(b.patients.cmp(&a.patients))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Timestamp;

    fn read(actor: &str, patient: &str, london_hour: i8, outcome: &str) -> AuditRecord {
        // 2026-12-07 is GMT: London hours are UTC hours.
        let at = jiff::civil::date(2026, 12, 7)
            .at(london_hour, 30, 0, 0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_millisecond();
        AuditRecord {
            at: Timestamp(at),
            org: None,
            actor: actor.into(),
            action: "read patient".into(),
            subject: "patient directory entry".into(),
            patient: Some(patient.into()),
            purpose: Some("direct care".into()),
            origin: None,
            outcome: outcome.into(),
        }
    }

    #[test]
    fn many_patients_out_of_hours_and_break_glass_are_flagged() {
        let mut records: Vec<AuditRecord> = (0..6)
            .map(|i| read("user:9 (curious)", &format!("99900000{i:02}"), 14, "ok"))
            .collect();
        records.push(read("user:3 (night)", "9990000018", 23, "ok"));
        records.push(read(
            "user:4 (glass)",
            "9990000018",
            10,
            store::review::BREAK_GLASS,
        ));
        records.push(read("user:5 (usual)", "9990000018", 10, "ok"));
        records.push(read("user:5 (usual)", "9990000018", 11, "ok"));
        let t = Thresholds {
            many_patients: 5,
            ..Thresholds::default()
        };
        let r = unusual(&records, t);
        let of = |a: &str| r.iter().find(|x| x.actor == a).unwrap();
        assert_eq!(
            of("user:9 (curious)").flags,
            vec!["read 6 patients' records (more than 5)"]
        );
        assert_eq!(
            of("user:3 (night)").flags,
            vec!["1 reads between 20:00 and 07:00 (London)"]
        );
        assert_eq!(of("user:4 (glass)").flags, vec!["1 break-glass reads"]);
        let usual = of("user:5 (usual)");
        assert!(usual.flags.is_empty());
        assert_eq!((usual.reads, usual.patients), (2, 1));
        assert_eq!(
            r.last().unwrap().actor,
            "user:5 (usual)",
            "the unusual first"
        );
    }
}
