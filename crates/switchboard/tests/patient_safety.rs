//! Two patient-safety defects found on main by testing as an integration
//! would, kept fixed:
//! 1. contact ids were the client's to choose, and a caller's identity was
//!    only replaced when the new contact brought one: a contact created
//!    again under an old id, with no identity, popped the earlier patient;
//! 2. a booked callback (`POST /callbacks` with an NHS number and a caller
//!    number) kept no caller: its screen pop said `none` (and a referral
//!    from it went out with an empty `Patient`, which reads the same row).

mod common;

use common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;

fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&str>, who: &str) -> (u16, Value) {
    let (s, _, b) = http_with(addr, method, path, body, who).unwrap();
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

/// An integration's token allowed contacts and patients, and the
/// supervisor's session.
fn setup(addr: SocketAddr) -> (String, String) {
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/tokens",
        Some(&json!({"name": "ehr", "scopes": ["contacts", "patients"]}).to_string()),
        &admin,
    );
    assert_eq!(s, 201, "{v}");
    let ehr = format!(
        "Authorization: Bearer {}\r\n",
        v["secret"].as_str().unwrap()
    );
    let (s, v) = call(
        addr,
        "PUT",
        "/api/v1/patients/9990000018",
        Some(
            &json!({"nhs_number": "9990000018", "name": "Ada Testpatient",
                    "date_of_birth": "1961-04-12", "phones": ["07700 900123"],
                    "gp_practice": "G82001"})
            .to_string(),
        ),
        &ehr,
    );
    assert_eq!(s, 201, "{v}");
    let sup = login(addr, "kent.supervisor", DEMO_PASSWORD).unwrap();
    (ehr, sup)
}

fn pop(addr: SocketAddr, id: u64, sup: &str) -> Value {
    let (s, v) = call(
        addr,
        "GET",
        &format!("/api/v1/contacts/{id}/screen-pop?purpose=direct%20care"),
        None,
        sup,
    );
    assert_eq!(s, 200, "{v}");
    v
}

fn create(addr: SocketAddr, body: Value, ehr: &str) -> u64 {
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/contacts",
        Some(&body.to_string()),
        ehr,
    );
    assert_eq!(s, 201, "{v}");
    let id = v["id"]
        .as_u64()
        .expect("the answer names the new contact's id");
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"]["arrived"]["contact"] == id),
        "the id answered is the contact that arrived: {v}"
    );
    id
}

#[test]
fn a_new_contact_never_shows_an_earlier_callers_patient() {
    let (data, addr, server) = fresh("safety-ids");
    let (ehr, sup) = setup(addr);
    // A client can no longer choose an id; the answer says what to do.
    for body in [
        json!({"id": 777100001, "queue": 2}),
        json!({"id": "x", "queue": 2}),
        json!({"id": null, "queue": 2}),
    ] {
        let (s, v) = call(
            addr,
            "POST",
            "/api/v1/contacts",
            Some(&body.to_string()),
            &ehr,
        );
        assert_eq!(s, 422, "{v}");
        let e = v["error"].as_str().unwrap();
        assert!(e.starts_with("id:") && e.contains("reference"), "{v}");
    }
    // Ada calls and gives her NHS number, then hangs up.
    let first = create(
        addr,
        json!({"queue": 2, "nhs_number": "999 000 0018", "reference": "777100001"}),
        &ehr,
    );
    assert_eq!(pop(addr, first, &sup)["match"], "single");
    let (s, v) = call(
        addr,
        "POST",
        &format!("/api/v1/contacts/{first}/abandon"),
        None,
        &ehr,
    );
    assert_eq!(s, 200, "{v}");
    // The integration sends its same reference again for someone else,
    // who gives nothing: a new contact, and no patient shown.
    let second = create(addr, json!({"queue": 2, "reference": "777100001"}), &ehr);
    assert_ne!(first, second);
    let (_, v) = call(
        addr,
        "GET",
        &format!("/api/v1/contacts/{second}"),
        None,
        &sup,
    );
    assert_eq!(v["attributes"][0], json!(["reference", "777100001"]), "{v}");
    let p = pop(addr, second, &sup);
    assert_eq!(
        (p["match"].as_str(), p["patients"].as_array().map(Vec::len)),
        (Some("none"), Some(0)),
        "{p}"
    );
    // A bad reference is named.
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/contacts",
        Some(&json!({"queue": 2, "reference": "x".repeat(101)}).to_string()),
        &ehr,
    );
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"].as_str().unwrap().starts_with("reference:"),
        "{v}"
    );
    // The sequence is persisted: after a restart (even a kill -9) ids go
    // on past every id used before, and no earlier identity attaches.
    let mut server = server;
    server.kill().unwrap();
    server.wait().unwrap();
    let server = start(&data, addr);
    let (ehr, sup) = {
        let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
        let (s, v) = call(
            addr,
            "POST",
            "/api/v1/tokens",
            Some(&json!({"name": "ehr2", "scopes": ["contacts", "patients"]}).to_string()),
            &admin,
        );
        assert_eq!(s, 201, "{v}");
        (
            format!(
                "Authorization: Bearer {}\r\n",
                v["secret"].as_str().unwrap()
            ),
            login(addr, "kent.supervisor", DEMO_PASSWORD).unwrap(),
        )
    };
    let third = create(addr, json!({"queue": 2}), &ehr);
    assert!(third > second, "{third} after {second}");
    assert_eq!(pop(addr, third, &sup)["match"], "none");
    // A booked callback takes the next id too.
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/callbacks",
        Some(&json!({"queue": 2, "due_at": "2026-01-01T00:00:00Z"}).to_string()),
        &ehr,
    );
    assert_eq!(s, 201, "{v}");
    assert!(v["id"].as_u64().unwrap() > third, "{v}");
    kill(server, &data);
}

#[test]
fn a_booked_callback_keeps_its_caller_for_the_screen_pop() {
    let (data, addr, server) = fresh("safety-callback");
    let (ehr, sup) = setup(addr);
    // A callback booked with the caller's NHS number and number, due now.
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/callbacks",
        Some(
            &json!({"queue": 2, "due_at": "2026-01-01T00:00:00Z",
                    "nhs_number": "999 000 0018", "caller_number": "07700 900777"})
            .to_string(),
        ),
        &ehr,
    );
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_u64().unwrap();
    let p = pop(addr, id, &sup);
    assert_eq!(p["match"], "single", "{p}");
    assert_eq!(p["patients"][0]["name"], "Ada Testpatient", "{p}");
    // Booked with only the number the patient gave: matched by phone.
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/callbacks",
        Some(&json!({"queue": 2, "due_at": "2026-01-01T00:00:00Z", "caller_number": "+44 7700 900123"}).to_string()),
        &ehr,
    );
    assert_eq!(s, 201, "{v}");
    let p = pop(addr, v["id"].as_u64().unwrap(), &sup);
    assert_eq!(p["patients"][0]["nhs_number"], "9990000018", "{p}");
    // It survives a restart: the identity was committed with the booking.
    let mut server = server;
    server.kill().unwrap();
    server.wait().unwrap();
    let server = start(&data, addr);
    let sup = login(addr, "kent.supervisor", DEMO_PASSWORD).unwrap();
    assert_eq!(pop(addr, id, &sup)["match"], "single");
    kill(server, &data);
}
