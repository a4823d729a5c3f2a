//! The directory's outbox and patient search, on a real database file: a
//! referral is due until delivered, a failure waits until its retry time,
//! everything survives a reopen; patients are found by NHS number or phone,
//! within their organisation only, and every search is audited.

use model::{ContactId, NhsNumber, OrgId, Patient, PhoneNumber, Sensitive, Timestamp};
use store::directory::Directory;
use store::{AuditRecord, SqliteStore};

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sb-dir-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn open(dir: &std::path::Path) -> Directory {
    // The engine's store makes the database; the directory opens it.
    drop(SqliteStore::open(dir).unwrap());
    Directory::open(dir).unwrap()
}

fn audit(action: &str, subject: &str) -> AuditRecord {
    AuditRecord {
        at: Timestamp(1_000),
        org: Some(OrgId(1)),
        actor: "kent.clinician".into(),
        action: action.into(),
        subject: subject.into(),
        patient: None,
        purpose: Some("direct care".into()),
        origin: Some("127.0.0.1".into()),
        outcome: "ok".into(),
    }
}

#[test]
fn a_referral_is_due_until_delivered_and_a_failure_waits_for_its_retry() {
    let dir = tempdir("outbox");
    let mut d = open(&dir);
    let t0 = Timestamp(1_800_000_000_000);
    let ids: Vec<u64> = (0..3)
        .map(|i| {
            d.create_referral(
                OrgId(1),
                ContactId(10 + i),
                7,
                &format!("https://receiver.example/{i}"),
                &format!("{{\"bundle\":{i}}}"),
                Timestamp(t0.0 + i as i64),
                &audit("refer", &format!("contact c{}", 10 + i)),
            )
            .unwrap()
        })
        .collect();
    // Not before it was made; then oldest first, at most `limit`.
    assert!(d.due_referrals(Timestamp(t0.0 - 1), 10).unwrap().is_empty());
    let due = d.due_referrals(Timestamp(t0.0 + 2), 2).unwrap();
    assert_eq!(
        due,
        vec![
            (
                ids[0],
                "https://receiver.example/0".into(),
                "{\"bundle\":0}".into(),
                0
            ),
            (
                ids[1],
                "https://receiver.example/1".into(),
                "{\"bundle\":1}".into(),
                0
            ),
        ]
    );
    // The first fails: it waits until its retry time, the others do not.
    let retry = Timestamp(t0.0 + 2_000);
    d.referral_attempt(
        ids[0],
        Timestamp(t0.0 + 5),
        Err(("the endpoint answered 503".into(), retry)),
    )
    .unwrap();
    let due: Vec<u64> = d
        .due_referrals(Timestamp(t0.0 + 1_999), 10)
        .unwrap()
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(due, vec![ids[1], ids[2]]);
    let listed = d.referrals(OrgId(1), ContactId(10)).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].2.as_str(), listed[0].3, listed[0].4.as_deref()),
        ("pending", 1, Some("the endpoint answered 503"))
    );
    // Its turn comes at the retry time, with its attempts counted.
    let due = d.due_referrals(retry, 10).unwrap();
    assert_eq!(due.iter().find(|r| r.0 == ids[0]).unwrap().3, 1);
    // Delivered: never due again; the error is cleared; the time kept.
    d.referral_attempt(ids[0], Timestamp(retry.0 + 10), Ok(()))
        .unwrap();
    assert!(d
        .due_referrals(Timestamp(i64::MAX), 10)
        .unwrap()
        .iter()
        .all(|r| r.0 != ids[0]));
    drop(d);
    // A restart: the outbox is as it was left.
    let d = Directory::open(&dir).unwrap();
    let first = &d.referrals(OrgId(1), ContactId(10)).unwrap()[0];
    assert_eq!(
        (first.2.as_str(), first.3, first.4.as_deref(), first.6),
        ("delivered", 2, None, Some(Timestamp(retry.0 + 10)))
    );
    let due: Vec<u64> = d
        .due_referrals(Timestamp(t0.0 + 10), 10)
        .unwrap()
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(due, vec![ids[1], ids[2]]);
    // Each referral was audited as it was made.
    let refs = d
        .audit_by_subject(OrgId(1), "refer", "contact c", 10)
        .unwrap();
    assert_eq!(refs.len(), 3);
    drop(d);
    let _ = std::fs::remove_dir_all(dir);
}

fn patient(nhs: &str, name: &str, phones: &[&str]) -> Patient {
    Patient {
        nhs_number: NhsNumber::parse(nhs).unwrap(),
        name: Sensitive::new(name.into()),
        date_of_birth: Sensitive::new("1950-01-01".into()),
        phones: phones
            .iter()
            .map(|p| PhoneNumber::parse(p).unwrap())
            .collect(),
        gp_practice: Some("G82001".into()),
    }
}

#[test]
fn patients_are_found_by_nhs_number_or_phone_in_their_organisation_and_every_search_is_audited() {
    let dir = tempdir("patients");
    let mut d = open(&dir);
    let at = Timestamp(1_000);
    // Two patients share a landline; another organisation has its own.
    for (org, p) in [
        (
            1,
            patient(
                "9990000018",
                "Ann Testpatient",
                &["01622 000111", "07700 900111"],
            ),
        ),
        (
            1,
            patient("9990000026", "Bob Testpatient", &["01622 000111"]),
        ),
        (
            2,
            patient("9990000034", "Cy Testpatient", &["07700 900333"]),
        ),
    ] {
        let mut a = audit("write patient", "patient");
        a.org = Some(OrgId(org));
        assert!(d.put_patient(OrgId(org), &p, at, &a).unwrap());
    }
    let find = |d: &mut Directory, nhs: Option<&str>, phone: Option<&str>, limit| {
        let nhs = nhs.map(|n| NhsNumber::parse(n).unwrap());
        let phone = phone.map(|p| PhoneNumber::parse(p).unwrap());
        d.find_patients(
            OrgId(1),
            nhs.as_ref(),
            phone.as_ref(),
            limit,
            &audit("read patient", "screen pop"),
        )
        .unwrap()
        .into_iter()
        .map(|p| p.nhs_number.expose())
        .collect::<Vec<_>>()
    };
    assert_eq!(find(&mut d, Some("9990000018"), None, 5), ["9990000018"]);
    // A shared number finds both, in NHS-number order, up to the limit.
    assert_eq!(
        find(&mut d, None, Some("01622 000111"), 5),
        ["9990000018", "9990000026"]
    );
    assert_eq!(find(&mut d, None, Some("01622 000111"), 1), ["9990000018"]);
    // Both ways at once: each patient once.
    assert_eq!(
        find(&mut d, Some("9990000026"), Some("01622 000111"), 5),
        ["9990000026", "9990000018"]
    );
    // Another organisation's patient is not found, by number or phone.
    assert!(find(&mut d, Some("9990000034"), Some("07700 900333"), 5).is_empty());
    // Replacing a patient's phones: the old number no longer finds them.
    let a = audit("write patient", "patient");
    assert!(!d
        .put_patient(
            OrgId(1),
            &patient("9990000018", "Ann Testpatient", &["07700 900111"]),
            at,
            &a
        )
        .unwrap());
    assert_eq!(find(&mut d, None, Some("01622 000111"), 5), ["9990000026"]);
    // Every read is audited with the patient; a search that found no one
    // too ("no match").
    let reads = d
        .audit_by_subject(OrgId(1), "read patient", "screen pop", 100)
        .unwrap();
    // (One per patient found, one for the search that found no one.)
    assert_eq!(reads.len(), 1 + 2 + 1 + 2 + 1 + 1);
    assert!(reads.iter().all(|r| r.patient.is_some()));
    assert_eq!(reads.iter().filter(|r| r.outcome == "no match").count(), 1);
    assert_eq!(
        reads
            .iter()
            .find(|r| r.outcome == "no match")
            .unwrap()
            .patient
            .as_deref(),
        Some("9990000034")
    );
    drop(d);
    let _ = std::fs::remove_dir_all(dir);
}
