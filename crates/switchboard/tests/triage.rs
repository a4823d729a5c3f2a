//! The clinical front door over HTTP: real GP practices and trusts imported
//! from the shared ODS extracts, a caller assessed through the demo
//! pathways to a disposition, the journey saved and still there after a
//! kill -9, and the Directory of Services searched near the patient.

mod common;

use common::*;
use serde_json::{json, Value};

fn call(addr: std::net::SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let (s, b) = http(addr, method, path, body).unwrap();
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

#[test]
fn a_caller_is_assessed_and_the_directory_finds_real_practices_nearby() {
    let (data, addr, server) = fresh("triage");
    kill(server, std::path::Path::new("/nonexistent"));
    // Import the real extracts into the trust's directory (the server is
    // stopped; it loads the directory at start).
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/");
    for f in [
        "ods-gp-practices-epraccur-2020.csv",
        "ods-nhs-trusts-etr-2021.csv",
        "uk-outcode-centroids-2014.csv",
    ] {
        assert!(
            std::path::Path::new(&format!("{shared}{f}")).exists(),
            "the shared data {f} is missing"
        );
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "dos",
            "import",
            "--data",
            data.to_str().unwrap(),
            "--org",
            "1",
            "--practices",
            &format!("{shared}ods-gp-practices-epraccur-2020.csv"),
            "--trusts",
            &format!("{shared}ods-nhs-trusts-etr-2021.csv"),
            "--centroids",
            &format!("{shared}uk-outcode-centroids-2014.csv"),
            "--pathways",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../pathways/demo.json"),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("6824 GP practices"), "{text}");
    assert!(text.contains("rows skipped"), "{text}");
    // The referral receiver below is on loopback: allowed by the operator.
    let server = start_with(&data, addr, &["--outbound-allow", "127.0.0.1"]);
    let (s, info) = call(addr, "GET", "/api/v1/triage", None);
    assert_eq!(s, 200);
    assert_eq!(info["demo"], true, "demo content is marked as such");
    // A caller needs a repeat prescription of insulin today.
    let (caller, _) = create_contact(addr, r#"{"queue":6}"#);
    let step = |answers: &[usize], save: bool| {
        call(
            addr,
            "POST",
            &format!("/api/v1/contacts/{caller}/triage"),
            Some(&json!({"state": {"age_group": "adult", "sex": "male"}, "answers": answers, "save": save}).to_string()),
        )
    };
    let (s, v) = step(&[], false);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["now"]["question"]["text"],
        "Is the person breathing normally?"
    );
    let (_, v) = step(&[1, 1, 1, 2], false);
    assert_eq!(
        v["now"]["question"]["text"],
        "Will they run out of the medicine within 24 hours?"
    );
    // Saving before the end is refused; a wrong answer number is named.
    assert_eq!(step(&[1, 1, 1, 2], true).0, 409);
    let (s, v) = step(&[1, 7], false);
    assert_eq!(s, 422, "{v}");
    assert!(v["error"].as_str().unwrap().contains("answer 7"), "{v}");
    let (s, v) = step(&[1, 1, 1, 2, 0, 0], true);
    assert_eq!(s, 200, "{v}");
    let ended = &v["now"]["ended"];
    assert_eq!(ended["disposition"]["code"], "Dx05");
    assert_eq!(
        (
            ended["symptom_group"].as_u64(),
            ended["discriminators"][0].as_u64()
        ),
        (Some(1003), Some(4302))
    );
    assert!(v["saved"].is_u64());
    // The Directory of Services near the patient (Sittingbourne, ME10),
    // on the next weekday at 10:00 London time, when practices are open.
    // (The next weekday that is not a bank holiday, within a few days,
    // so a capacity set now still holds then.)
    let weekday = |d: jiff::civil::Weekday| {
        !matches!(
            d,
            jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
        )
    };
    let london = |h: i8| next_working_day(weekday, h, 0);
    let at = london(10);
    let search = json!({"postcode": "ME10 4AB", "age_years": 70, "sex": "male",
        "symptom_group": 1003, "discriminators": [4302], "disposition": "Dx05", "at": at});
    let (s, r) = call(
        addr,
        "POST",
        "/api/v1/dos/search",
        Some(&search.to_string()),
    );
    assert_eq!(s, 200, "{r}");
    assert!(r["services_searched"].as_u64().unwrap() > 6000, "{r}");
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "one GP practice: {r}");
    let f = &results[0]["found"];
    assert_eq!(
        (f["type_id"].as_u64(), f["catch_all"].as_bool()),
        (Some(100), Some(false))
    );
    assert!(
        f["distance_km"].as_f64().unwrap() < 5.0,
        "the nearest practice: {r}"
    );
    assert!(
        results[0]["postcode"].as_str().unwrap().starts_with("ME10"),
        "{r}"
    );
    // The same answer in the NHS DoS response shape.
    let mut dos_shape = search.clone();
    dos_shape["format"] = json!("dos");
    let (s, d) = call(
        addr,
        "POST",
        "/api/v1/dos/search",
        Some(&dos_shape.to_string()),
    );
    assert_eq!(s, 200, "{d}");
    let first = &d["CheckCapacitySummaryResult"][0];
    assert_eq!(first["idField"], f["id"]);
    assert!(
        first["eastingsField"].as_f64().unwrap() > 500_000.0,
        "Kent is east: {first}"
    );
    assert!(first["rotaSessionsField"].as_array().unwrap().len() >= 5);
    // Book an appointment at the practice: its free slots for the week,
    // one booked for the caller, and the same slot refused a second time.
    let practice_id = f["id"].as_u64().unwrap();
    let (s, slots) = call(
        addr,
        "GET",
        &format!("/api/v1/dos/services/{practice_id}/slots"),
        None,
    );
    assert_eq!(s, 200, "{slots}");
    let entries = slots["entry"].as_array().unwrap();
    assert!(
        entries.len() >= 40 * 2,
        "at least two weekdays of 15-minute slots: {}",
        entries.len()
    );
    let slot = &entries[0]["resource"];
    assert_eq!(
        (slot["resourceType"].as_str(), slot["status"].as_str()),
        (Some("Slot"), Some("free"))
    );
    let book = json!({"service": practice_id, "start": slot["start"]}).to_string();
    let appointments = format!("/api/v1/contacts/{caller}/appointments");
    let (s, appt) = call(addr, "POST", &appointments, Some(&book));
    assert_eq!(
        (s, appt["status"].as_str()),
        (201, Some("booked")),
        "{appt}"
    );
    let (s, again) = call(addr, "POST", &appointments, Some(&book));
    assert_eq!(
        (s, again["error"].as_str()),
        (409, Some("start: that slot is already booked"))
    );
    let (_, slots) = call(
        addr,
        "GET",
        &format!("/api/v1/dos/services/{practice_id}/slots"),
        None,
    );
    assert_eq!(slots["entry"][0]["resource"]["status"], "busy");
    let off = json!({"service": practice_id, "start": "2030-01-01T03:00:00Z"}).to_string();
    assert_eq!(call(addr, "POST", &appointments, Some(&off)).0, 422);
    // The practice reports it is full: red for five days. It drops out (a
    // gap: capacity) and the next nearest practice is offered.
    let full = f["id"].as_u64().unwrap();
    let (s, v) = call(
        addr,
        "PUT",
        &format!("/api/v1/dos/services/{full}/capacity"),
        Some(r#"{"rag":"red","reset_minutes":7200}"#),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["capacity"]["set_by"], "user:3 (kent.supervisor)");
    let (_, r2) = call(
        addr,
        "POST",
        "/api/v1/dos/search",
        Some(&search.to_string()),
    );
    assert_ne!(r2["results"][0]["found"]["id"].as_u64(), Some(full), "{r2}");
    assert!(
        r2["gaps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"].as_u64() == Some(full) && g["failed"] == "capacity"),
        "{r2}"
    );
    let (s, v) = call(
        addr,
        "PUT",
        &format!("/api/v1/dos/services/{full}/capacity"),
        Some(r#"{"rag":"red","reset_minutes":5}"#),
    );
    assert_eq!(
        (s, v["error"].as_str()),
        (422, Some("reset_minutes: 15 to 7200 (five days)"))
    );
    // Minutes past what milliseconds can hold are refused too, not wrapped
    // (schemathesis found a dropped connection here).
    let (s, v) = call(
        addr,
        "PUT",
        &format!("/api/v1/dos/services/{full}/capacity"),
        Some(r#"{"rag":"red","reset_minutes":9223372036854775806}"#),
    );
    assert_eq!(
        (s, v["error"].as_str()),
        (422, Some("reset_minutes: 15 to 7200 (five days)"))
    );
    // The directory as FHIR, for other systems.
    let (s, b) = call(
        addr,
        "GET",
        "/api/v1/fhir/HealthcareService?address-postalcode=ME10&_count=3",
        None,
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["resourceType"].as_str(), b["type"].as_str()),
        (Some("Bundle"), Some("searchset"))
    );
    assert!(
        b["total"].as_u64().unwrap() >= 3 && b["entry"].as_array().unwrap().len() == 3,
        "{b}"
    );
    let (s, hs) = call(
        addr,
        "GET",
        &format!("/api/v1/fhir/HealthcareService/{full}"),
        None,
    );
    assert_eq!(
        (s, hs["resourceType"].as_str()),
        (200, Some("HealthcareService"))
    );
    assert_eq!(
        hs["contained"][0]["address"]["postalCode"],
        results[0]["postcode"]
    );
    // At 22:00 the same day every practice is closed: the gaps say so, and
    // the answer is the catch-all to the nearest emergency departments.
    let mut night = search.clone();
    night["at"] = json!(london(22));
    let (s, r) = call(addr, "POST", "/api/v1/dos/search", Some(&night.to_string()));
    assert_eq!(s, 200, "{r}");
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{r}");
    assert!(
        results
            .iter()
            .all(|x| x["found"]["type_id"] == 40 && x["found"]["catch_all"] == true),
        "{r}"
    );
    assert!(r["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["failed"] == "session_times"));
    // Refer to the practice found: the receiver is down at first, the
    // referral waits in the outbox, and is delivered once it is up.
    let practice = results[0]["found"]["id"].as_u64().unwrap();
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let receiver_addr = receiver.local_addr().unwrap();
    drop(receiver); // down
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let url = format!("http://{receiver_addr}/bars/referrals");
    let (s, _, b) = http_with(
        addr,
        "PUT",
        &format!("/api/v1/dos/services/{practice}/endpoint"),
        Some(&json!({"url": url}).to_string()),
        &admin,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = http_with(
        addr,
        "PUT",
        &format!("/api/v1/dos/services/{practice}/endpoint"),
        Some(r#"{"url":"https://169.254.169.254/latest/meta-data/"}"#),
        &admin,
    )
    .unwrap();
    assert_eq!(s, 422, "{b}");
    assert!(b.contains("not a public address"), "{b}");
    let referrals = format!("/api/v1/contacts/{caller}/referrals");
    let (s, v) = call(
        addr,
        "POST",
        &referrals,
        Some(&json!({"service": practice}).to_string()),
    );
    assert_eq!(s, 202, "{v}");
    let t0 = std::time::Instant::now();
    loop {
        let (_, v) = call(addr, "GET", &referrals, None);
        let r = &v["referrals"][0];
        if r["attempts"].as_u64().unwrap_or(0) >= 1 {
            assert_eq!(r["status"], "pending", "{v}");
            assert!(r["last_error"].as_str().unwrap().contains("connect"), "{v}");
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(20),
            "no attempt: {v}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The receiver comes up; the next attempt delivers.
    let (_, _, got) = receiver_on(std::net::TcpListener::bind(receiver_addr).unwrap(), 201);
    let t0 = std::time::Instant::now();
    while got.lock().unwrap().is_empty() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "no delivery"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (_, head, body) = got.lock().unwrap()[0].clone();
    assert!(head.starts_with("POST /bars/referrals HTTP/1.1"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: application/fhir+json"),
        "{head}"
    );
    let bundle: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (bundle["resourceType"].as_str(), bundle["type"].as_str()),
        (Some("Bundle"), Some("message"))
    );
    let kinds: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "MessageHeader",
            "ServiceRequest",
            "Encounter",
            "Patient",
            "Organization",
            "Location"
        ]
    );
    let codes: Vec<&str> = bundle["entry"][1]["resource"]["reasonCode"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["coding"][0]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["1003", "Dx05", "4302"]);
    let t0 = std::time::Instant::now();
    loop {
        let (_, v) = call(addr, "GET", &referrals, None);
        if v["referrals"][0]["status"] == "delivered" {
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "not marked delivered: {v}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Bad input names the field.
    let (s, v) = call(addr, "POST", "/api/v1/dos/search", Some(&json!({"postcode": "nowhere", "age_years": 1, "sex": "male", "symptom_group": 1, "disposition": "Dx05"}).to_string()));
    assert_eq!(
        (s, v["error"].as_str().map(|e| e.starts_with("postcode:"))),
        (422, Some(true))
    );
    // Clinical callbacks come earliest deadline first: a 4-hour callback
    // booked before a 1-hour one is still answered after it.
    let mut assessed = Vec::new();
    for answers in [vec![1, 1, 1, 1, 1, 1, 1, 0], vec![1, 1, 1, 3, 1, 1]] {
        let (contact, _) = create_contact(addr, r#"{"queue":6}"#);
        let (s, v) = call(
            addr,
            "POST",
            &format!("/api/v1/contacts/{contact}/triage"),
            Some(&json!({"answers": answers, "save": true}).to_string()),
        );
        assert_eq!(s, 200, "{v}");
        assessed.push(contact);
    }
    let clinical_callback = |contact: u64| {
        call(
            addr,
            "POST",
            &format!("/api/v1/contacts/{contact}/clinical-callback"),
            Some(r#"{"queue":7}"#),
        )
    };
    let (s, v) = clinical_callback(caller);
    assert_eq!(s, 409, "Dx05 needs no clinician: {v}");
    let (s, four_hours) = clinical_callback(assessed[0]);
    assert_eq!(
        (s, four_hours["disposition"].as_str()),
        (201, Some("Dx120")),
        "{four_hours}"
    );
    let (s, one_hour) = clinical_callback(assessed[1]);
    assert_eq!(
        (s, one_hour["disposition"].as_str()),
        (201, Some("Dx121")),
        "{one_hour}"
    );
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/agents/8/presence",
        Some(r#"{"presence":"ready"}"#),
    );
    assert_eq!(s, 200, "{v}");
    let (_, first) = call(
        addr,
        "GET",
        &format!("/api/v1/contacts/{}", one_hour["callback"]),
        None,
    );
    assert_eq!(
        first["state"],
        json!({"offered": 8}),
        "the 1-hour callback first: {first}"
    );
    let (_, second) = call(
        addr,
        "GET",
        &format!("/api/v1/contacts/{}", four_hours["callback"]),
        None,
    );
    assert_eq!(second["state"], "waiting", "{second}");
    // The commissioner's view: dispositions, clinical share, and the gaps.
    let (s, rep) = call(addr, "GET", "/api/v1/reports/triage", None);
    assert_eq!(s, 200, "{rep}");
    assert_eq!(rep["assessments"], 3);
    assert_eq!(
        rep["dispositions"],
        json!({"Dx05": 1, "Dx120": 1, "Dx121": 1})
    );
    assert_eq!(rep["needing_a_clinician"], 2);
    let gaps = rep["gaps"].as_array().unwrap();
    assert!(
        gaps.iter()
            .any(|g| g["district"] == "ME10" && g["failed"] == "session_times"),
        "{rep}"
    );
    assert!(
        gaps.iter()
            .any(|g| g["district"] == "ME10" && g["failed"] == "capacity"),
        "{rep}"
    );
    // The saved journey survives a kill -9.
    kill(server, std::path::Path::new("/nonexistent"));
    let server = start_with(&data, addr, &["--outbound-allow", "127.0.0.1"]);
    let (s, v) = call(
        addr,
        "GET",
        &format!("/api/v1/contacts/{caller}/triage"),
        None,
    );
    assert_eq!(s, 200, "{v}");
    let j = &v["journeys"][0];
    assert_eq!(j["disposition"]["code"], "Dx05");
    assert_eq!(j["answers"], json!([1, 1, 1, 2, 0, 0]));
    assert_eq!(j["pathways"]["hash"], info["hash"]);
    kill(server, &data);
}

/// A tiny HTTP receiver on loopback: answers each request with the status
/// in `answer` (503 at first), keeps (when, head, body) of every request.
#[allow(clippy::type_complexity)]
fn receiver() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicU16>,
    std::sync::Arc<std::sync::Mutex<Vec<(std::time::Instant, String, String)>>>,
) {
    receiver_on(std::net::TcpListener::bind("127.0.0.1:0").unwrap(), 503)
}

/// As `receiver`, on this listener, answering `status` at first.
#[allow(clippy::type_complexity)]
fn receiver_on(
    l: std::net::TcpListener,
    status: u16,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicU16>,
    std::sync::Arc<std::sync::Mutex<Vec<(std::time::Instant, String, String)>>>,
) {
    use std::io::{Read, Write};
    use std::sync::{atomic::AtomicU16, Arc, Mutex};
    let addr = l.local_addr().unwrap();
    let answer = Arc::new(AtomicU16::new(status));
    let got = Arc::new(Mutex::new(Vec::new()));
    let (a, g) = (answer.clone(), got.clone());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                let Some((head, body)) = text.split_once("\r\n\r\n") else {
                    continue;
                };
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    let code = a.load(std::sync::atomic::Ordering::SeqCst);
                    let _ = write!(
                        s,
                        "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    g.lock().unwrap().push((
                        std::time::Instant::now(),
                        head.to_string(),
                        body.to_string(),
                    ));
                    break;
                }
            }
        }
    });
    (addr, answer, got)
}

/// A referral for a caller who gave their NHS number: the receiver is
/// down (503) twice, the server is killed with the referral in its outbox,
/// and after the restart it is delivered — the same message each time,
/// spaced by the back-off even across the restart — carrying the patient's
/// NHS number, the service's ODS code and the disposition's window. The
/// delivered bundle is kept for the outside FHIR check (scripts/api_check.py).
#[test]
fn a_referral_carries_the_patient_and_survives_a_restart_in_the_outbox() {
    let (data, _, first) = fresh("referral-outbox");
    stop(first);
    import_example_directory(&data, false);
    let allow = ["--outbound-allow", "127.0.0.1"];
    let (server, addr) = start_any(&data, &allow);
    let (contact, _) = create_contact(addr, r#"{"queue":6,"nhs_number":"999 000 0018"}"#);
    let (s, v) = call(
        addr,
        "POST",
        &format!("/api/v1/contacts/{contact}/triage"),
        Some(&json!({"answers": [1, 1, 1, 3, 1, 1], "save": true}).to_string()),
    );
    assert_eq!(s, 200, "{v}");
    let disposition = v["now"]["ended"]["disposition"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("a disposition: {v}"))
        .to_string();
    // Its window, from the pathway set itself.
    let set: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../pathways/demo.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let minutes = set["dispositions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == disposition.as_str())
        .unwrap()["timeframe_minutes"]
        .as_i64()
        .unwrap();
    assert!(minutes > 0, "{disposition}");
    let (s, found) = call(
        addr,
        "GET",
        "/api/v1/dos/services?q=ph-sittingbourne-high-st",
        None,
    );
    assert_eq!(s, 200, "{found}");
    let pharmacy = found["services"][0]["id"].as_u64().unwrap();
    let (rx, answer, got) = receiver();
    let url = format!("http://{rx}/referrals");
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let (s, _, b) = http_with(
        addr,
        "PUT",
        &format!("/api/v1/dos/services/{pharmacy}/endpoint"),
        Some(&json!({"url": url}).to_string()),
        &admin,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    let referrals = format!("/api/v1/contacts/{contact}/referrals");
    let before = jiff::Timestamp::now();
    let (s, v) = call(
        addr,
        "POST",
        &referrals,
        Some(&json!({"service": pharmacy}).to_string()),
    );
    let after = jiff::Timestamp::now();
    assert_eq!(s, 202, "{v}");
    let wait_for = |n: usize| {
        let t0 = std::time::Instant::now();
        while got.lock().unwrap().len() < n {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(30),
                "{} deliveries tried, {n} awaited",
                got.lock().unwrap().len()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    // Refused twice, the second try at least 2 s after the first.
    wait_for(2);
    let listed = |addr| loop {
        let (_, v) = call(addr, "GET", &referrals, None);
        let r = v["referrals"][0].clone();
        if r["attempts"].as_u64() == Some(got.lock().unwrap().len() as u64) {
            return r;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let r = listed(addr);
    assert_eq!(r["status"], "pending", "{r}");
    assert_eq!(r["last_error"], "the endpoint answered 503", "{r}");
    // kill -9 with the referral in the outbox; the receiver recovers.
    let mut server = server;
    server.kill().unwrap();
    server.wait().unwrap();
    answer.store(201, std::sync::atomic::Ordering::SeqCst);
    let server = start_with(&data, addr, &allow);
    wait_for(3);
    let r = listed(addr);
    assert_eq!(r["status"], "delivered", "{r}");
    assert_eq!(r["last_error"], Value::Null, "{r}");
    let tries = got.lock().unwrap().clone();
    assert_eq!(tries.len(), 3, "delivered once, not again");
    // The back-off: 2 s, then 4 s, kept across the restart.
    let gap = |i: usize| (tries[i].0 - tries[i - 1].0).as_secs_f64();
    assert!(
        gap(1) >= 1.9,
        "the second try came {:.2} s after the first",
        gap(1)
    );
    assert!(
        gap(2) >= 3.9,
        "the third try came {:.2} s after the second",
        gap(2)
    );
    // The same message every time (a receiver can drop repeats by id).
    assert!(tries.iter().all(|t| t.2 == tries[0].2));
    assert!(
        tries[2].1.starts_with("POST /referrals HTTP/1.1"),
        "{}",
        tries[2].1
    );
    assert!(tries[2]
        .1
        .to_lowercase()
        .contains("content-type: application/fhir+json"));
    let bundle: Value = serde_json::from_str(&tries[2].2).unwrap();
    let res = |kind: &str| {
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["resource"])
            .find(|r| r["resourceType"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
            .clone()
    };
    assert_eq!(
        res("Patient")["identifier"],
        json!([{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018"}])
    );
    assert_eq!(
        res("Organization")["identifier"],
        json!([{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "FDE01"}])
    );
    assert_eq!(
        res("Organization")["name"],
        "High Street Pharmacy, Sittingbourne (demo)"
    );
    assert_eq!(res("MessageHeader")["destination"][0]["endpoint"], url);
    let sr = res("ServiceRequest");
    let at = |k: &str| -> jiff::Timestamp {
        sr["occurrencePeriod"][k].as_str().unwrap().parse().unwrap()
    };
    let (start, end) = (at("start"), at("end"));
    assert!(
        start
            >= before
                .round(
                    jiff::TimestampRound::new()
                        .smallest(jiff::Unit::Second)
                        .mode(jiff::RoundMode::Floor)
                )
                .unwrap()
            && start <= after,
        "{start} not between {before} and {after}"
    );
    assert_eq!(
        end.as_millisecond() - start.as_millisecond(),
        minutes * 60_000,
        "the window is the disposition's {minutes} minutes"
    );
    let codes: Vec<&str> = sr["reasonCode"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["coding"][0]["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&disposition.as_str()), "{codes:?}");
    // For the outside check with fhir.resources (scripts/api_check.py).
    let samples = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fhir-samples");
    std::fs::create_dir_all(&samples).unwrap();
    std::fs::write(
        samples.join("referral-delivered-by-the-server.json"),
        &tries[2].2,
    )
    .unwrap();
    kill(server, &data);
}
