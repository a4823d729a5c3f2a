//! The FHIR R4 shapes, checked against what the specification requires
//! of each resource: required elements and their allowed codes, a
//! message bundle's header first and every reference resolving inside it,
//! contained references resolving, instants that parse, periods that add
//! up. Test data uses NHS numbers from 999 000 0000 - 999 999 9999.

use dos::{Opening, Point, Service};
use fhir::{Referral, Triage};
use model::Timestamp;
use serde_json::Value;
use std::collections::BTreeSet;

/// 2026-12-02T10:00:00Z.
const NOW: Timestamp = Timestamp(1_796_205_600_000);

fn service(phone: Option<&str>, ods: Option<&str>) -> Service {
    Service {
        id: 4021,
        name: "Sittingbourne Urgent Treatment Centre".into(),
        type_id: 130,
        ods_code: ods.map(str::to_string),
        postcode: "ME10 4DT".into(),
        location: Point {
            easting: 590_412.0,
            northing: 163_901.0,
        },
        active: true,
        sg_sd: BTreeSet::new(),
        dispositions: BTreeSet::new(),
        age_days: (0, 46_000),
        sexes: vec![],
        restricted_to_practices: vec![],
        opening: Opening::default(),
        capacity: None,
        phone: phone.map(str::to_string),
        public_text: "Walk in, 8am to 8pm".into(),
        professional_text: String::new(),
        referral_url: Some("https://uec.example.nhs.uk/referrals".into()),
        ref_id: String::new(),
        status: None,
        referral_restricted: None,
    }
}

fn triage(demo: bool) -> Triage {
    Triage {
        symptom_group: "1011".into(),
        discriminators: vec!["4003".into(), "4052".into()],
        disposition: "Dx06".into(),
        wording: Some("Speak to a clinician within 1 hour".into()),
        timeframe_minutes: 60,
        pathways_name: "demo-pathways".into(),
        pathways_version: "1.0".into(),
        demo,
    }
}

fn is_instant(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok() && s.ends_with('Z'))
}

/// `urn:uuid:` and a lower-case RFC 9562 UUID (8-4-4-4-12 hex digits,
/// a version digit and the RFC variant).
fn is_urn_uuid(s: &str) -> bool {
    let Some(u) = s.strip_prefix("urn:uuid:") else {
        return false;
    };
    let groups: Vec<&str> = u.split('-').collect();
    let shape = groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12];
    let hex = u
        .chars()
        .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c));
    shape
        && hex
        && ('1'..='8').contains(&groups[2].chars().next().unwrap())
        && "89ab".contains(groups[3].chars().next().unwrap())
}

/// Every `reference` in a JSON tree.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("reference", Value::String(s)) => out.push(s.clone()),
                    _ => references(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

fn entries(bundle: &Value) -> &Vec<Value> {
    bundle["entry"].as_array().expect("a bundle has entries")
}

fn resource<'a>(bundle: &'a Value, kind: &str) -> &'a Value {
    entries(bundle)
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the bundle"))
}

#[test]
fn a_referral_is_a_message_bundle_with_its_header_first_and_every_reference_inside() {
    let s = service(Some("01795 000000"), Some("RVV09"));
    let t = triage(false);
    let b = fhir::referral_bundle(&Referral {
        message_id: "19c8a2-77",
        now: NOW,
        triage: &t,
        service: &s,
        nhs_number: Some("9990000018"),
    });
    assert_eq!(b["resourceType"], "Bundle");
    assert_eq!(b["type"], "message");
    assert!(
        is_instant(&b["timestamp"]),
        "Bundle.timestamp: {}",
        b["timestamp"]
    );
    // bdl-7: fullUrls are unique; a message's first entry is its header.
    let urls: Vec<&str> = entries(&b)
        .iter()
        .map(|e| e["fullUrl"].as_str().expect("every entry has a fullUrl"))
        .collect();
    let unique: BTreeSet<&str> = urls.iter().copied().collect();
    assert_eq!(unique.len(), urls.len());
    // A urn:uuid fullUrl must be a UUID (FHIR's uuid type).
    for u in &urls {
        assert!(is_urn_uuid(u), "{u} is not a urn:uuid");
    }
    assert_eq!(entries(&b)[0]["resource"]["resourceType"], "MessageHeader");
    for e in entries(&b) {
        assert!(e["resource"]["resourceType"].is_string(), "{e}");
    }
    // Every reference resolves to an entry of the bundle.
    let mut refs = Vec::new();
    references(&b, &mut refs);
    assert_eq!(refs.len(), 5, "{refs:?}");
    for r in &refs {
        assert!(unique.contains(r.as_str()), "{r} resolves to no entry");
    }
    // MessageHeader: event (1..1), source.endpoint (1..1), focus.
    let h = resource(&b, "MessageHeader");
    assert!(h["eventCoding"]["system"].is_string() && h["eventCoding"]["code"].is_string());
    assert!(h["source"]["endpoint"].is_string());
    assert_eq!(
        h["destination"][0]["endpoint"],
        "https://uec.example.nhs.uk/referrals"
    );
    assert_eq!(
        h["focus"][0]["reference"],
        entries(&b)[1]["fullUrl"],
        "the header focuses on the request"
    );
    // ServiceRequest: status, intent and subject are required, from their
    // value sets.
    let sr = resource(&b, "ServiceRequest");
    assert!([
        "draft",
        "active",
        "on-hold",
        "revoked",
        "completed",
        "entered-in-error",
        "unknown"
    ]
    .contains(&sr["status"].as_str().unwrap()));
    assert!([
        "proposal",
        "plan",
        "directive",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option"
    ]
    .contains(&sr["intent"].as_str().unwrap()));
    assert!(sr["subject"]["reference"].is_string());
    // The period runs from now for the disposition's timeframe.
    let start: jiff::Timestamp = sr["occurrencePeriod"]["start"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let end: jiff::Timestamp = sr["occurrencePeriod"]["end"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(start.as_millisecond(), NOW.0);
    assert_eq!(end.as_millisecond() - start.as_millisecond(), 60 * 60_000);
    // Symptom group, disposition (with its wording) and each discriminator.
    let reasons = sr["reasonCode"].as_array().unwrap();
    let codes: Vec<(&str, &str)> = reasons
        .iter()
        .map(|r| {
            (
                r["coding"][0]["system"].as_str().unwrap(),
                r["coding"][0]["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            (fhir::SG_SYSTEM, "1011"),
            (fhir::DX_SYSTEM, "Dx06"),
            (fhir::SD_SYSTEM, "4003"),
            (fhir::SD_SYSTEM, "4052")
        ]
    );
    assert_eq!(
        reasons[1]["coding"][0]["display"],
        "Speak to a clinician within 1 hour"
    );
    assert!(sr["note"][0]["text"]
        .as_str()
        .unwrap()
        .ends_with("(assured content)"));
    // Encounter: status and class are required.
    let enc = resource(&b, "Encounter");
    assert!(enc["status"].is_string() && enc["class"]["code"].is_string());
    // Patient by NHS number only: nothing else about them travels.
    let p = resource(&b, "Patient");
    assert_eq!(p["identifier"][0]["system"], fhir::NHS_NUMBER_SYSTEM);
    assert_eq!(p["identifier"][0]["value"], "9990000018");
    assert_eq!(p.as_object().unwrap().len(), 2, "{p}");
    let org = resource(&b, "Organization");
    assert_eq!(org["identifier"][0]["system"], fhir::ODS_SYSTEM);
    assert_eq!(org["identifier"][0]["value"], "RVV09");
    assert_eq!(
        resource(&b, "Location")["address"]["postalCode"],
        "ME10 4DT"
    );
}

#[test]
fn entry_uuids_are_stable_per_message_and_differ_between_entries_and_messages() {
    assert_eq!(fhir::uuid("m1", "request"), fhir::uuid("m1", "request"));
    assert_ne!(fhir::uuid("m1", "request"), fhir::uuid("m1", "patient"));
    assert_ne!(fhir::uuid("m1", "request"), fhir::uuid("m2", "request"));
    // The separator keeps ("m1", "0x") and ("m10", "x") apart.
    assert_ne!(fhir::uuid("m1", "0x"), fhir::uuid("m10", "x"));
    assert!(is_urn_uuid(&format!(
        "urn:uuid:{}",
        fhir::uuid("m1", "request")
    )));
}

#[test]
fn a_referral_without_an_nhs_number_names_no_patient_and_demo_content_says_so() {
    let s = service(None, None);
    let t = triage(true);
    let b = fhir::referral_bundle(&Referral {
        message_id: "m1",
        now: NOW,
        triage: &t,
        service: &s,
        nhs_number: None,
    });
    let p = resource(&b, "Patient");
    assert!(p.get("identifier").is_none(), "{p}");
    let note = resource(&b, "ServiceRequest")["note"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(note.contains("DEMO CONTENT, not clinical advice"), "{note}");
    // No ODS code: no identifier rather than an empty one.
    assert!(resource(&b, "Organization")["identifier"].is_null());
}

#[test]
fn a_healthcare_service_contains_the_location_and_organization_it_references() {
    let s = service(Some("01795 000000"), Some("RVV09"));
    let hs = fhir::healthcare_service(&s);
    assert_eq!(hs["resourceType"], "HealthcareService");
    assert_eq!(hs["id"], "4021");
    assert_eq!(hs["active"], true);
    assert_eq!(hs["type"][0]["coding"][0]["system"], fhir::DOS_TYPE_SYSTEM);
    assert_eq!(hs["type"][0]["coding"][0]["code"], "130");
    assert_eq!(hs["telecom"][0]["system"], "phone");
    // dom-3: every contained resource is referenced, every "#" reference
    // names a contained one.
    let contained: BTreeSet<String> = hs["contained"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("#{}", r["id"].as_str().unwrap()))
        .collect();
    let mut refs = Vec::new();
    references(&hs, &mut refs);
    let refs: BTreeSet<String> = refs.into_iter().collect();
    assert_eq!(refs, contained);
    // Contained resources carry no text or meta of their own (dom-4/5 in spirit).
    for r in hs["contained"].as_array().unwrap() {
        assert!(r.get("contained").is_none() && r.get("meta").is_none());
    }
    let loc = fhir::location(&s, "4021");
    assert_eq!(loc["extension"][0]["url"], fhir::OSGB36_EXTENSION);
    assert_eq!(loc["extension"][0]["valueString"], "590412,163901");
    // No phone: no telecom.
    assert!(fhir::healthcare_service(&service(None, None))["telecom"].is_null());
}

#[test]
fn slots_are_free_or_busy_and_last_their_length() {
    let slot = 15 * 60_000;
    let starts = [NOW.0, NOW.0 + slot, NOW.0 + 2 * slot];
    let b = fhir::slots(4021, &starts, &[NOW.0 + slot], slot);
    assert_eq!(b["type"], "searchset");
    assert_eq!(b["total"], 3);
    let statuses: Vec<&str> = entries(&b)
        .iter()
        .map(|e| e["resource"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["free", "busy", "free"]);
    let ids: BTreeSet<&str> = entries(&b)
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    for e in entries(&b) {
        let r = &e["resource"];
        assert_eq!(r["resourceType"], "Slot");
        // Slot: schedule, status, start and end are required.
        assert_eq!(r["schedule"]["reference"], "HealthcareService/4021");
        assert!(is_instant(&r["start"]) && is_instant(&r["end"]));
        let s: jiff::Timestamp = r["start"].as_str().unwrap().parse().unwrap();
        let e: jiff::Timestamp = r["end"].as_str().unwrap().parse().unwrap();
        assert_eq!(e.as_millisecond() - s.as_millisecond(), slot);
    }
}

#[test]
fn an_appointment_is_booked_for_its_slot_with_the_service_taking_part() {
    let s = service(None, None);
    let a = fhir::appointment(77, &s, NOW.0, 15 * 60_000);
    assert_eq!(a["resourceType"], "Appointment");
    assert_eq!(a["status"], "booked");
    assert_eq!(a["slot"][0]["reference"], format!("Slot/4021-{}", NOW.0));
    // Appointment.participant: 1..*, each with a status.
    let p = &a["participant"][0];
    assert_eq!(p["actor"]["reference"], "HealthcareService/4021");
    assert_eq!(p["status"], "accepted");
    assert!(is_instant(&a["start"]) && is_instant(&a["end"]));
}

#[test]
fn a_searchset_counts_every_match_and_lists_the_first() {
    let s = service(None, None);
    let b = fhir::searchset(vec![fhir::healthcare_service(&s)], 12);
    assert_eq!(b["total"], 12);
    assert_eq!(entries(&b).len(), 1);
    assert_eq!(entries(&b)[0]["search"]["mode"], "match");
}

/// Everything this crate makes, for the checks that apply to all of it.
fn samples() -> Vec<(&'static str, Value)> {
    let full = service(Some("01795 000000"), Some("RVV09"));
    // No phone, no ODS code, no public text.
    let mut bare = service(None, None);
    bare.public_text.clear();
    let t = triage(false);
    let demo = triage(true);
    let slot = 15 * 60_000;
    let glass = fhir::audit::Audited {
        seq: 41,
        at: NOW,
        org: Some(1),
        actor: "user:2 (kent.agent)",
        action: "read patient",
        subject: "patient directory entry",
        patient: Some("9990000018"),
        purpose: Some("break-glass: GP surgery asked for a check"),
        origin: Some("192.0.2.7"),
        outcome: "ok: break-glass",
    };
    let refused_log_in = fhir::audit::Audited {
        seq: 42,
        org: None,
        actor: "login:nobody",
        action: "log in",
        subject: "attempts from 2026-01-01T10:00:00Z to 2026-01-01T10:01:00Z",
        patient: None,
        purpose: None,
        outcome: "refused: 3 bad credentials",
        ..glass.clone()
    };
    vec![
        (
            "audit-events",
            fhir::audit::audit_bundle(
                vec![
                    fhir::audit::audit_event(&glass),
                    fhir::audit::audit_event(&refused_log_in),
                ],
                NOW,
            ),
        ),
        (
            "referral-bundle",
            fhir::referral_bundle(&Referral {
                message_id: "19c8a2-77",
                now: NOW,
                triage: &t,
                service: &full,
                nhs_number: Some("9990000018"),
            }),
        ),
        (
            "referral-bundle-no-nhs-number",
            fhir::referral_bundle(&Referral {
                message_id: "19c8a2-78",
                now: NOW,
                triage: &demo,
                service: &bare,
                nhs_number: None,
            }),
        ),
        ("healthcare-service", fhir::healthcare_service(&full)),
        ("healthcare-service-bare", fhir::healthcare_service(&bare)),
        ("location", fhir::location(&full, "4021")),
        ("organization", fhir::organization(&full, "4021")),
        ("organization-no-ods", fhir::organization(&bare, "4021")),
        (
            "searchset",
            fhir::searchset(vec![fhir::healthcare_service(&bare)], 3),
        ),
        (
            "slots",
            fhir::slots(4021, &[NOW.0, NOW.0 + slot], &[NOW.0], slot),
        ),
        ("appointment", fhir::appointment(77, &full, NOW.0, slot)),
    ]
}

fn no_nulls_or_empties(path: &str, v: &Value) {
    match v {
        Value::Null => panic!("{path} is null"),
        Value::String(s) => assert!(!s.trim().is_empty(), "{path} is an empty string"),
        Value::Array(a) => {
            assert!(!a.is_empty(), "{path} is an empty array");
            for (i, x) in a.iter().enumerate() {
                no_nulls_or_empties(&format!("{path}[{i}]"), x);
            }
        }
        Value::Object(m) => {
            assert!(!m.is_empty(), "{path} is an empty object");
            for (k, x) in m {
                no_nulls_or_empties(&format!("{path}.{k}"), x);
            }
        }
        _ => {}
    }
}

#[test]
fn nothing_made_has_a_null_or_an_empty_value() {
    // FHIR JSON leaves out an element without a value; "" is not a FHIR
    // string (a service with no public text once gave "comment": "").
    for (name, v) in samples() {
        no_nulls_or_empties(name, &v);
    }
}

/// The samples, for `scripts/api_check.py` to validate against the FHIR
/// models of `fhir.resources` (PyPI) after the tests have run.
#[test]
fn the_samples_are_written_for_the_outside_check() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fhir-samples");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, v) in samples() {
        std::fs::write(dir.join(format!("{name}.json")), v.to_string()).unwrap();
    }
}

#[test]
fn audit_events_carry_who_what_which_patient_when_why_and_the_outcome() {
    let (_, bundle) = samples()
        .into_iter()
        .find(|(n, _)| *n == "audit-events")
        .unwrap();
    let e = &bundle["entry"][0]["resource"];
    assert_eq!(e["action"], "R");
    assert_eq!(e["outcome"], "0");
    assert_eq!(e["agent"][0]["who"]["display"], "user:2 (kent.agent)");
    assert_eq!(e["agent"][0]["network"]["address"], "192.0.2.7");
    assert_eq!(e["entity"][0]["what"]["identifier"]["value"], "9990000018");
    assert_eq!(e["purposeOfEvent"][0]["coding"][0]["code"], "ETREAT");
    let refused = &bundle["entry"][1]["resource"];
    assert_eq!(refused["outcome"], "4");
    assert_eq!(refused["action"], "E");
    assert!(
        refused["entity"][0].get("what").is_none(),
        "no patient: no patient entity"
    );
    for (action, code) in [
        ("write patient", "U"),
        ("delete notes", "D"),
        ("create account", "C"),
        ("screen pop", "R"),
        ("log in", "E"),
    ] {
        assert_eq!(fhir::audit::action_code(action), code, "{action}");
    }
}
