//! Authorisation, for real: the server binary with two organisations; every
//! endpoint in its own OpenAPI document × every role × the caller's own ids
//! and another organisation's ids, against the allow table the document
//! states. Then sessions (log-out, password change, disabling end them),
//! the log-in rate limit, cross-site requests, revoked tokens, the patient
//! audit trail, and that patient data never reaches the server's logs.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Only the status of a request (streams stay open; we do not wait).
fn status(addr: SocketAddr, method: &str, path: &str, body: Option<&str>, headers: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if s.read(&mut b).unwrap() == 0 {
            break;
        }
        line.push(b[0]);
    }
    String::from_utf8_lossy(&line)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &str,
) -> (u16, Value) {
    let (s, _, b) = http_with(addr, method, path, body, headers).unwrap();
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

/// 28 days of half-hourly arrivals with a daily shape (a plan's history).
fn arrivals_history() -> String {
    let mut out = String::from("date,interval_start,calls\n");
    let start = jiff::civil::date(2026, 1, 5);
    for d in 0..28 {
        let day = start.checked_add(jiff::Span::new().days(d)).unwrap();
        for k in 0..48 {
            let hour = f64::from(k) / 2.0;
            let calls =
                (20.0 * (-(hour - 11.0).powi(2) / 12.0).exp()).round() as u32 + (d as u32 % 3);
            out += &format!("{day},{:02}:{:02},{calls}\n", k / 2, (k % 2) * 30);
        }
    }
    out
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// What a browser's authenticator sends to register a passkey on
/// `localhost:port` for `challenge` (base64url): clientDataJSON and a
/// "none" attestation whose key is P-256's base point (a valid public
/// key; registration checks no signature). CBOR written out by hand.
fn new_passkey(port: u16, challenge: &str, id: &[u8; 16], name: &str) -> String {
    let client = json!({"type": "webauthn.create", "challenge": challenge, "origin": format!("http://localhost:{port}")});
    // SHA-256 of "localhost", the relying party's id.
    let mut auth = hex("49960de5880e8c687434170f6476605b8fe4aeb9a28632c7995cf3ba831d9763");
    auth.push(0x45); // user present, user verified, attested credential
    auth.extend_from_slice(&[0; 4 + 16]); // sign count, AAGUID
    auth.extend_from_slice(&[0, 16]);
    auth.extend_from_slice(id);
    // COSE_Key {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}.
    auth.extend_from_slice(&[0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]);
    auth.extend(hex(
        "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
    ));
    auth.extend_from_slice(&[0x22, 0x58, 0x20]);
    auth.extend(hex(
        "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
    ));
    let mut att = vec![0xa3, 0x63];
    att.extend_from_slice(b"fmt");
    att.push(0x64);
    att.extend_from_slice(b"none");
    att.push(0x67);
    att.extend_from_slice(b"attStmt");
    att.extend_from_slice(&[0xa0, 0x68]);
    att.extend_from_slice(b"authData");
    att.push(0x59);
    att.extend_from_slice(&(auth.len() as u16).to_be_bytes());
    att.extend(auth);
    json!({"name": name, "client_data_json": b64url(client.to_string().as_bytes()), "attestation_object": b64url(&att)}).to_string()
}

/// A request as the browser sends it to `localhost` (passkeys are bound
/// to a host name, never an IP address).
fn call_localhost(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &str,
) -> (u16, Value) {
    let host = format!("localhost:{}", addr.port());
    let headers = format!("Origin: http://{host}\r\n{headers}");
    let (s, _, b) = http_as(addr, &host, method, path, body, &headers).unwrap();
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

fn token(addr: SocketAddr, admin: &str, name: &str) -> (u64, String) {
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/tokens",
        Some(&json!({"name": name, "scopes": ["contacts", "patients"]}).to_string()),
        admin,
    );
    assert_eq!(s, 201, "{v}");
    (
        v["id"].as_u64().unwrap(),
        format!(
            "Authorization: Bearer {}\r\n",
            v["secret"].as_str().unwrap()
        ),
    )
}

fn patient(nhs: &str, name: &str, phone: &str) -> String {
    json!({"nhs_number": nhs, "name": name, "date_of_birth": "1961-04-12",
           "phones": [phone], "gp_practice": "G82001"})
    .to_string()
}

/// Contact actions that need the contact in a state first.
const STATEFUL: [&str; 10] = [
    "accept",
    "reject",
    "end",
    "hold",
    "resume",
    "transfer",
    "wrap-up-done",
    "wrap-up-extend",
    "clinical-callback",
    "referrals",
];

/// The allow table, written out independently of the server's: who holds
/// each permission. The served document must state exactly this.
const MATRIX: &[(&str, &[&str])] = &[
    (
        "session",
        &[
            "agent",
            "clinician",
            "supervisor",
            "admin",
            "auditor",
            "quality",
            "integration",
        ],
    ),
    (
        "account",
        &[
            "agent",
            "clinician",
            "supervisor",
            "admin",
            "auditor",
            "quality",
        ],
    ),
    ("contact_create", &["supervisor", "integration"]),
    (
        "contact_read",
        &["agent", "clinician", "supervisor", "integration"],
    ),
    (
        "contact_work",
        &["agent", "clinician", "supervisor", "integration"],
    ),
    ("contact_abandon", &["supervisor", "integration"]),
    ("contact_priority", &["supervisor"]),
    ("queue_read", &["agent", "clinician", "supervisor"]),
    ("agent_presence", &["agent", "clinician", "supervisor"]),
    ("agent_move", &["supervisor", "admin"]),
    ("kpi_read", &["supervisor", "admin"]),
    ("plan", &["supervisor", "admin"]),
    (
        "event_stream",
        &["agent", "clinician", "supervisor", "integration"],
    ),
    ("config_read", &["supervisor", "admin"]),
    ("config_write", &["admin"]),
    ("user_admin", &["admin"]),
    ("token_admin", &["admin"]),
    ("patient_write", &["integration"]),
    ("patient_read", &["agent", "clinician", "supervisor"]),
    ("triage", &["agent", "clinician", "supervisor"]),
    ("dos_capacity", &["supervisor", "admin"]),
    ("directory_write", &["supervisor", "admin"]),
    (
        "directory_read",
        &["agent", "clinician", "supervisor", "admin", "integration"],
    ),
    ("audit_read", &["auditor"]),
    ("notes_delete", &["supervisor"]),
    ("recording_listen", &["supervisor", "quality"]),
    ("scorecard_read", &["supervisor", "admin", "quality"]),
    ("scorecard_write", &["admin"]),
    ("evaluate", &["supervisor", "quality"]),
    ("own_evaluations", &["agent", "clinician"]),
    ("own_phone", &["agent", "clinician", "supervisor"]),
    ("chat", &["agent", "clinician", "supervisor"]),
    ("campaigns", &["supervisor", "admin"]),
    (
        "quick_replies_read",
        &["agent", "clinician", "supervisor", "admin"],
    ),
];

/// Routes that succeed only with a phone call in progress or a recording
/// made, which this test (no SIP edge) has not: a role allowed them gets
/// this documented refusal here; `tests/recording.rs` checks the success.
const NEED_A_CALL: &[(&str, &str, u16)] = &[
    ("POST", "/api/v1/contacts/{contact}/recording", 409),
    ("GET", "/api/v1/recordings/{recording}/audio", 404),
    ("POST", "/api/v1/evaluations", 404),
    ("PUT", "/api/v1/recordings/{recording}/hold", 404),
    ("DELETE", "/api/v1/recordings/{recording}/hold", 404),
    // No SIP edge here: no telephony to connect a browser phone to
    // (tests/softphone.rs connects one).
    // A web chat's routes need a chat in progress (tests/chat.rs): the
    // contact here is an ordinary one.
    ("GET", "/api/v1/chats/{contact}", 404),
    ("POST", "/api/v1/chats/{contact}/messages", 404),
    ("POST", "/api/v1/chats/{contact}/typing", 404),
    ("POST", "/api/v1/chats/{contact}/read", 404),
    ("GET", "/api/v1/chats/{contact}/files/{file}", 404),
    ("POST", "/api/v1/me/phone", 409),
    ("POST", "/api/v1/me/phone/keys", 409),
    // No GOV.UK Notify here (tests/sms.rs has one): no campaign is made,
    // none is found.
    ("POST", "/api/v1/campaigns", 409),
    ("POST", "/api/v1/contacts/{contact}/sms", 409),
    ("GET", "/api/v1/campaigns/{campaign}", 404),
    // A supervisor's log-in has no agent of its own, so no queues of its
    // own (the agent's answer is checked in tests/wallboard.rs).
    ("GET", "/api/v1/me/queues", 404),
];

const ROLES: [&str; 7] = [
    "agent",
    "clinician",
    "supervisor",
    "admin",
    "auditor",
    "quality",
    "integration",
];

struct Org {
    cred: Vec<(&'static str, String)>,
    agent_of: Vec<(&'static str, u64)>,
}

impl Org {
    fn cred(&self, role: &str) -> &str {
        &self.cred.iter().find(|(r, _)| *r == role).unwrap().1
    }
    fn agent(&self, role: &str) -> u64 {
        self.agent_of
            .iter()
            .find(|(r, _)| *r == role)
            .map_or(1, |x| x.1)
    }
}

#[test]
fn every_endpoint_every_role_and_another_organisations_ids() {
    // The trust's Directory of Services is the example Kent directory, so
    // the directory routes do their work on real services.
    let (data, _, first) = fresh("authz");
    stop(first);
    import_example_directory(&data, true);
    let (server, addr) = start_any(&data, &[]);
    let log_in = |u: &str| login(addr, u, DEMO_PASSWORD).unwrap();
    // Both organisations' people, and an integration token each.
    let mut kent = Org {
        cred: vec![],
        agent_of: vec![("agent", 1), ("clinician", 8)],
    };
    for role in ROLES.into_iter().take(6) {
        kent.cred.push((role, log_in(&format!("kent.{role}"))));
    }
    let (_, kent_token) = {
        let (s, v) = call(
            addr,
            "POST",
            "/api/v1/tokens",
            Some(
                &json!({"name": "kent-ehr", "scopes": ["contacts", "patients", "directory"]})
                    .to_string(),
            ),
            kent.cred("admin"),
        );
        assert_eq!(s, 201, "{v}");
        (
            v["id"].as_u64().unwrap(),
            format!(
                "Authorization: Bearer {}\r\n",
                v["secret"].as_str().unwrap()
            ),
        )
    };
    kent.cred.push(("integration", kent_token.clone()));
    let medway_admin = log_in("medway.admin");
    let (medway_token_id, medway_token) = token(addr, &medway_admin, "medway-ehr");

    // Objects: the trust's own, and the GP network's (another organisation).
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/contacts",
        Some(r#"{"queue":201}"#),
        &medway_token,
    );
    assert_eq!(s, 201, "{v}");
    let medway_contact = v["id"].as_u64().unwrap();
    assert_eq!(
        call(
            addr,
            "PUT",
            "/api/v1/patients/9990000026",
            Some(&patient("9990000026", "Medway Testpatient", "07700 900222")),
            &medway_token
        )
        .0,
        201
    );
    assert_eq!(
        call(
            addr,
            "PUT",
            "/api/v1/patients/9990000018",
            Some(&patient("9990000018", "Kent Testpatient", "07700 900111")),
            &kent_token
        )
        .0,
        201
    );
    let (_, users) = call(addr, "GET", "/api/v1/users", None, &medway_admin);
    let medway_user = users["users"][0]["id"].as_u64().unwrap();
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/users",
        Some(
            r#"{"username":"kent.victim","display_name":"Victim","role":"agent","password":"a long enough password"}"#,
        ),
        kent.cred("admin"),
    );
    assert_eq!(s, 201, "{v}");
    let kent_victim = v["id"].as_u64().unwrap();
    let (kent_victim_token, _) = token(addr, kent.cred("admin"), "kent-old");
    let (_, config) = call(addr, "GET", "/api/v1/config", None, kent.cred("admin"));
    let queue5 = config["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == 5)
        .unwrap()
        .clone();
    let agent12 = config["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == 12)
        .unwrap()
        .clone();
    let service = |name: &str, queue: u32, number: &str| {
        json!({"name": name, "queue": queue, "entry_points": [{"kind": "phone", "address": number}]}).to_string()
    };
    let (s, v) = call(
        addr,
        "PUT",
        "/api/v1/services/9",
        Some(&service("Appointments", 201, "01634 000 201")),
        &medway_admin,
    );
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(
        addr,
        "PUT",
        "/api/v1/services/1",
        Some(&service("Wheelchairs", 2, "01622 000 002")),
        kent.cred("admin"),
    );
    assert_eq!(s, 201, "{v}");
    let (_, medway_before) = call(addr, "GET", "/api/v1/config", None, &medway_admin);

    // The document the server serves is the matrix.
    let (s, doc) = call(addr, "GET", "/api/v1/openapi.json", None, "");
    assert_eq!(s, 200);
    let mut ops: Vec<(String, String, Value)> = Vec::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (m, op) in methods.as_object().unwrap() {
            ops.push((m.to_uppercase(), path.clone(), op.clone()));
        }
    }
    assert!(ops.len() >= 40, "{} operations", ops.len());
    // Destructive ones last, and log-out very last.
    ops.sort_by_key(|(m, p, _)| (p == "/api/v1/session" && m == "DELETE", m == "DELETE"));

    let sup = kent.cred("supervisor").to_string();
    // The example directory's High Street Pharmacy, Sittingbourne.
    let (st, found) = call(
        addr,
        "GET",
        "/api/v1/dos/services?q=ph-sittingbourne-high-st",
        None,
        &sup,
    );
    assert_eq!(st, 200, "{found}");
    let pharmacy = found["services"][0]["id"].as_u64().expect("the pharmacy");
    let mut profile = found["services"][0]["service"].clone();
    // It takes electronic referrals (delivered later, by the outbox).
    let (st, v) = call(
        addr,
        "PUT",
        &format!("/api/v1/dos/services/{pharmacy}/endpoint"),
        Some(r#"{"url":"https://uec.example.nhs.uk/referrals"}"#),
        kent.cred("admin"),
    );
    assert_eq!(st, 200, "{v}");
    // Milton Regis Surgery's first free slot (practices take bookings).
    let (_, found) = call(
        addr,
        "GET",
        "/api/v1/dos/services?q=gp-sittingbourne-2",
        None,
        &sup,
    );
    let practice = found["services"][0]["id"].as_u64().expect("the practice");
    let (st, slots) = call(
        addr,
        "GET",
        &format!("/api/v1/dos/services/{practice}/slots"),
        None,
        &sup,
    );
    assert_eq!(st, 200, "{slots}");
    let free_slot = slots["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["status"] == "free")
        .expect("a free slot in the coming week")["start"]
        .as_str()
        .unwrap()
        .to_string();
    profile["name"] = json!("High Street Pharmacy, Sittingbourne (renamed)");
    let post = |path: &str, body: Option<Value>| {
        let body = body.map(|b| b.to_string());
        call(addr, "POST", path, body.as_deref(), &sup)
    };
    let prepare = |action: &str| -> u64 {
        let (s, v) = post("/api/v1/contacts", Some(json!({"queue": 3})));
        assert_eq!(s, 201, "{v}");
        let c = v["id"].as_u64().unwrap();
        let step = |what: &str, body: Option<Value>| {
            let (s, v) = post(&format!("/api/v1/contacts/{c}/{what}"), body);
            assert_eq!(s, 200, "preparing {action}: {what}: {v}");
        };
        if action == "clinical-callback" || action == "referrals" {
            // Assessed and saved: chest pain, a 4-hour clinical callback.
            step(
                "triage",
                Some(json!({"answers": [1, 1, 1, 1, 1, 1, 1, 0], "save": true})),
            );
            return c;
        }
        let (s, v) = post(
            "/api/v1/agents/3/presence",
            Some(json!({"presence": "ready"})),
        );
        assert_eq!(s, 200, "{v}");
        // The offer is made when the engine next routes: wait for it.
        let t0 = std::time::Instant::now();
        loop {
            let (_, v) = call(addr, "GET", &format!("/api/v1/contacts/{c}"), None, &sup);
            if v["state"] == json!({"offered": 3}) {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "never offered to Carol: {v}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let accept = || step("accept", Some(json!({"agent": 3})));
        match action {
            "accept" | "reject" => {}
            "end" | "hold" | "transfer" => accept(),
            "resume" => {
                accept();
                step("hold", None);
            }
            "wrap-up-done" | "wrap-up-extend" => {
                accept();
                step("end", None);
            }
            other => panic!("no preparation for {other}"),
        }
        c
    };
    // Carol is free again and the contact gone, whatever the action did.
    let tidy = |c: u64| {
        let _ = post(&format!("/api/v1/contacts/{c}/end"), None);
        let _ = post(
            &format!("/api/v1/contacts/{c}/wrap-up-done"),
            Some(json!({"agent": 3, "outcome": "resolved"})),
        );
        let _ = post(&format!("/api/v1/contacts/{c}/abandon"), None);
        let _ = post(
            "/api/v1/agents/3/presence",
            Some(json!({"presence": "offline"})),
        );
    };
    let tomorrow = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24)).to_string();
    let history = arrivals_history();
    // A new authenticator secret for this log-in (None for a token).
    let enrolled = |cred: &str| -> String {
        let (_, v) = call(addr, "POST", "/api/v1/me/mfa", None, cred);
        v["secret"]
            .as_str()
            .map_or_else(|| "JBSWY3DPEHPK3PXP".to_string(), str::to_string)
    };
    let mut checked = 0;
    let mut failures: Vec<String> = Vec::new();
    for (method, path, op) in &ops {
        let Some(roles) = op.get("x-roles").and_then(|r| r.as_array()) else {
            continue; // public
        };
        let allowed: Vec<&str> = roles.iter().map(|r| r.as_str().unwrap()).collect();
        let perm = op["x-permission"].as_str().unwrap();
        let spec = MATRIX
            .iter()
            .find(|(p, _)| *p == perm)
            .unwrap_or_else(|| panic!("{perm} not in the matrix"));
        assert_eq!(allowed, spec.1, "{method} {path}: the roles for {perm}");
        let body_schema = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .map(|s| s.rsplit('/').next().unwrap().to_string());
        // No credential at all: 401, whatever the ids.
        let anon_path = path.replace(['{', '}'], "");
        assert_eq!(
            status(addr, method, &anon_path, Some("{}"), ""),
            401,
            "{method} {path} unauthenticated"
        );
        for role in ROLES {
            let cred = kent.cred(role);
            let me = kent.agent(role);
            let works_as_agent = matches!(role, "agent" | "clinician");
            let is_allowed = allowed.contains(&role);
            // A contact in the state the action needs (offered to Carol,
            // agent 3, on district nursing; or talking; held; wrapping up;
            // assessed) for the roles that may act for any agent.
            let action = path.rsplit('/').next().unwrap_or("");
            let prepared = is_allowed
                && !works_as_agent
                && path.starts_with("/api/v1/contacts/{contact}/")
                && STATEFUL.contains(&action);
            let worker = if prepared { 3 } else { me };
            let body = || -> Option<String> {
                Some(match body_schema.as_deref()? {
                    "NewContact" => {
                        json!({"queue": 5, "caller_number": "07700 900111"}).to_string()
                    }
                    "AgentRef" => json!({"agent": worker}).to_string(),
                    "Callback" => json!({"queue": 6, "due_at": tomorrow}).to_string(),
                    "WrapUp" => json!({"agent": worker, "outcome": "resolved"}).to_string(),
                    "MoreWrapUp" => json!({"agent": worker, "seconds": 60}).to_string(),
                    "Transfer" => json!({"queue": 6, "mode": "cold"}).to_string(),
                    "PriorityChange" => json!({"priority": 5}).to_string(),
                    "PresenceChange" => json!({"presence": "ready"}).to_string(),
                    "AgentDef" => agent12.to_string(),
                    "QueueDef" => queue5.to_string(),
                    "SkillDef" => json!({"id": 50, "name": "British Sign Language"}).to_string(),
                    "ServiceDef" => service("Wheelchairs", 2, "01622 000 002"),
                    "Skills" => json!({"skills": [[2, 2], [7, 1]]}).to_string(),
                    "Triage" => json!({"answers": [1]}).to_string(),
                    "CapacityChange" => json!({"rag": "red", "reset_minutes": 60}).to_string(),
                    "ClinicalCallback" => json!({"queue": 7}).to_string(),
                    "Book" => json!({"service": practice, "start": free_slot}).to_string(),
                    "Endpoint" => json!({"url": "https://uec.example.nhs.uk/referrals"}).to_string(),
                    "Refer" => json!({"service": pharmacy}).to_string(),
                    "DosService" if method == "PUT" => profile.to_string(),
                    "DosService" => json!({"id": format!("authz-sample-{role}"), "name": "Sample pharmacy", "type_id": 13, "easting": 590000, "northing": 164000, "genders": ["M", "F"], "opening": {"open_all_hours": true}}).to_string(),
                    "DosClose" => json!({}).to_string(),
                    "DosSearch" => json!({"postcode": "ME10 4AB", "age_years": 40, "sex": "female", "symptom_group": 1003, "disposition": "Dx05"}).to_string(),
                    "Plan" => json!({"history_csv": history, "horizon_days": 1, "origins": 1, "service": {"aht_seconds": 240, "target": 0.8, "target_seconds": 20}}).to_string(),
                    "TeamDef" => json!({"id": 50, "name": "Night team"}).to_string(),
                    "SiteDef" => json!({"id": 50, "name": "Dover"}).to_string(),
                    "Patient" => patient("9990000018", "Kent Testpatient", "07700 900111"),
                    "NewUser" => json!({"username": format!("kent.new.{role}"), "display_name": "New", "role": "agent", "password": "a long enough password"}).to_string(),
                    "Password" => json!({"password": "another long password"}).to_string(),
                    "NewToken" => json!({"name": "t", "scopes": ["contacts"]}).to_string(),
                    // The code the authenticator shows for a secret
                    // just set up (POST /me/mfa), as oathtool makes it.
                    "MfaCode" => json!({"code": oathtool(&enrolled(cred), "now")}).to_string(),
                    "MfaPolicy" => json!({"roles": []}).to_string(),
                    "ControlBody" => json!({"action": "start"}).to_string(),
                    "HoldBody" => json!({"reason": "complaint 2026/114"}).to_string(),
                    "ScorecardBody" => json!({"name": "Calls", "sections": [{"name": "Safety", "questions": [{"id": "identity", "text": "Checked the identity", "weight": 10, "fail_all": true}]}]}).to_string(),
                    "KeysBody" => json!({"keys": "12#"}).to_string(),
                    "SayBody" => json!({"text": "Hello"}).to_string(),
                    "ContactTextBody" => json!({"text": "Your appointment is on Monday at 10:00."}).to_string(),
                    "CampaignBody" => json!({"name": "Reminders", "medium": "sms", "template_id": "c0ffee00-0000-4000-8000-000000000001", "recipients_csv": "phone_number,body\n07700900001,hello\n"}).to_string(),
                    "ReadBody" => json!({"seq": 1}).to_string(),
                    "QuickReplies" => json!({"replies": [{"title": "Hello", "text": "Hello, how can I help?"}]}).to_string(),
                    "Description" => json!({"type": "offer", "sdp": "v=0\r\n"}).to_string(),
                    "EvaluationBody" => json!({"recording": 1, "scorecard": 1, "answers": {"identity": "yes"}}).to_string(),
                    "NewPasskey" => {
                        let (_, o) = call_localhost(addr, "POST", "/api/v1/me/passkeys/options", None, cred);
                        let challenge = o["public_key"]["challenge"].as_str().unwrap_or("none");
                        let mut id = [0u8; 16];
                        id[..role.len()].copy_from_slice(role.as_bytes());
                        new_passkey(addr.port(), challenge, &id, "laptop")
                    }
                    "Login" | "MfaStep" | "MfaTicket" | "PasskeyTicket" | "PasskeyAssertion" => {
                        unreachable!("public")
                    }
                    other => panic!("no sample body for {other}"),
                })
            };
            // A fresh waiting contact of the trust for each contact route.
            let own_contact = if prepared {
                prepare(action)
            } else if path.contains("{contact}") {
                // Wellbeing: nobody there is made ready in this test.
                let (s, v) = call(
                    addr,
                    "POST",
                    "/api/v1/contacts",
                    Some(r#"{"queue":5}"#),
                    &kent_token,
                );
                assert_eq!(s, 201, "{v}");
                v["id"].as_u64().unwrap()
            } else {
                0 // not used: the path names no contact
            };
            let own_agent = if path.starts_with("/api/v1/agents/{agent}/") {
                me
            } else {
                12
            };
            let fill = |own: bool| {
                path.replace(
                    "{contact}",
                    &if own { own_contact } else { medway_contact }.to_string(),
                )
                .replace("{agent}", &if own { own_agent } else { 201 }.to_string())
                .replace("{queue}", if own { "5" } else { "201" })
                .replace(
                    "{user}",
                    &if own { kent_victim } else { medway_user }.to_string(),
                )
                .replace(
                    "{token}",
                    &if own {
                        kent_victim_token
                    } else {
                        medway_token_id
                    }
                    .to_string(),
                )
                .replace(
                    "{nhs_number}",
                    if own { "9990000018" } else { "9990000026" },
                )
                .replace("{service}", if own { "1" } else { "9" })
                .replace("{recording}", if own { "1" } else { "2" })
                .replace("{scorecard}", if own { "1" } else { "2" })
                .replace("{file}", "fedcbafedcbafedcbafedcbafedcbafe")
                .replace("{campaign}", "1")
                .replace("{dos_service}", &if own { pharmacy } else { 1_000_001 }.to_string())
                // No contact is about the patient here: the read breaks
                // the glass (what it needs is tested on its own).
                + if method == "GET" && path == "/api/v1/patients/{nhs_number}" {
                    "?break_glass=authorisation+matrix+check"
                } else if method == "DELETE" && path == "/api/v1/queues/{queue}" {
                    // Its callers keep their places in the single point of access.
                    "?move_waiting_to=6"
                } else {
                    ""
                }
            };
            assert!(
                !fill(true).contains('{'),
                "{path}: an id kind the test does not know"
            );
            let has_id = path.contains('{');
            // Another organisation's ids: 403 if the role may not do this
            // at all; otherwise not found (an agent naming someone else's
            // agent id is refused first). PUT is create-or-replace within
            // the caller's own organisation, so it has no foreign case.
            if has_id && method != "PUT" {
                let expect = if !is_allowed || (works_as_agent && path.contains("{agent}")) {
                    403
                } else {
                    404
                };
                let got = status(addr, method, &fill(false), body().as_deref(), cred);
                assert_eq!(
                    got,
                    expect,
                    "{role} {method} {} (another organisation's id)",
                    fill(false)
                );
                checked += 1;
            }
            // The caller's own organisation.
            let streams = op["responses"]["200"]["content"]
                .get("text/event-stream")
                .is_some();
            let (got, answer) = if streams {
                // A stream never ends: its status line is the answer.
                (status(addr, method, &fill(true), None, cred), Value::Null)
            } else if path.starts_with("/api/v1/me/passkeys") {
                call_localhost(addr, method, &fill(true), body().as_deref(), cred)
            } else {
                call(addr, method, &fill(true), body().as_deref(), cred)
            };
            if prepared {
                tidy(own_contact);
            }
            if !is_allowed {
                assert_eq!(got, 403, "{role} {method} {path} must be forbidden");
            } else if works_as_agent && path.contains("{contact}") {
                // Not their contact (it waits in a queue): refused by the
                // server (403), or, where they name themselves as the
                // agent, by the engine (409: not offered to them).
                let expect: &[u16] = if matches!(
                    body_schema.as_deref(),
                    Some("AgentRef" | "WrapUp" | "MoreWrapUp")
                ) {
                    &[403, 409]
                } else {
                    &[403]
                };
                assert!(
                    expect.contains(&got),
                    "{role} {method} {path}: not their contact, got {got}"
                );
            } else {
                // Allowed means it worked: the documented success status.
                let success: Vec<u16> = op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter_map(|k| k.parse().ok())
                    .filter(|c| (200..300).contains(c))
                    .collect();
                let needs_a_call = NEED_A_CALL.contains(&(method.as_str(), path.as_str(), got));
                if !success.contains(&got) && !needs_a_call {
                    failures.push(format!(
                        "{role} {method} {} {:?}: got {got} {answer}, documented {success:?}",
                        fill(true),
                        body()
                    ));
                }
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 300, "{checked} checks");
    eprintln!("authorisation matrix: {checked} checks");
    // The GP network's configuration is untouched by the trust's admin.
    let (_, medway_after) = call(addr, "GET", "/api/v1/config", None, &medway_admin);
    assert_eq!(medway_before, medway_after);
    // And its contact is still there, as it was.
    let medway_agent = log_in("medway.supervisor");
    assert_eq!(
        call(
            addr,
            "GET",
            &format!("/api/v1/contacts/{medway_contact}"),
            None,
            &medway_agent
        )
        .0,
        200
    );
    kill(server, &data);
}

#[test]
fn sessions_end_on_log_out_password_change_and_disabling() {
    let (data, addr, server) = fresh("sessions");
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    // A new account, logged in twice.
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/users",
        Some(
            r#"{"username":"sam.jones","display_name":"Sam Jones","role":"agent","agent":3,"password":"correct horse battery staple"}"#,
        ),
        &admin,
    );
    assert_eq!(s, 201, "{v}");
    let sam = v["id"].as_u64().unwrap();
    let one = login(addr, "sam.jones", "correct horse battery staple").unwrap();
    let two = login(addr, "sam.jones", "correct horse battery staple").unwrap();
    assert_ne!(one, two, "a new session id on every log-in");
    let (s, me) = call(addr, "GET", "/api/v1/session", None, &one);
    assert_eq!(
        (s, me["role"].as_str(), me["agent"].as_u64()),
        (200, Some("agent"), Some(3))
    );
    // Log-out ends that session only.
    assert_eq!(call(addr, "DELETE", "/api/v1/session", None, &one).0, 200);
    assert_eq!(call(addr, "GET", "/api/v1/session", None, &one).0, 401);
    assert_eq!(call(addr, "GET", "/api/v1/session", None, &two).0, 200);
    // A password change ends every session; the new password works.
    let (s, _) = call(
        addr,
        "POST",
        &format!("/api/v1/users/{sam}/password"),
        Some(r#"{"password":"a brand new passphrase"}"#),
        &admin,
    );
    assert_eq!(s, 200);
    assert_eq!(call(addr, "GET", "/api/v1/session", None, &two).0, 401);
    assert_eq!(
        login(addr, "sam.jones", "correct horse battery staple")
            .unwrap_err()
            .0,
        401
    );
    let three = login(addr, "sam.jones", "a brand new passphrase").unwrap();
    // Disabling ends it too, and refuses log-in.
    assert_eq!(
        call(
            addr,
            "POST",
            &format!("/api/v1/users/{sam}/disable"),
            None,
            &admin
        )
        .0,
        200
    );
    assert_eq!(call(addr, "GET", "/api/v1/session", None, &three).0, 401);
    assert_eq!(
        login(addr, "sam.jones", "a brand new passphrase")
            .unwrap_err()
            .0,
        401
    );
    // An admin cannot disable their own account (and lock the trust out);
    // another admin can.
    let me = call(addr, "GET", "/api/v1/session", None, &admin).1["user"]
        .as_u64()
        .unwrap();
    let (s, v) = call(
        addr,
        "POST",
        &format!("/api/v1/users/{me}/disable"),
        None,
        &admin,
    );
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("your own account"),
        "{v}"
    );
    assert_eq!(call(addr, "GET", "/api/v1/session", None, &admin).0, 200);
    // A revoked token is refused.
    let (id, tok) = token(addr, &admin, "lab-system");
    assert_eq!(call(addr, "GET", "/api/v1/contacts", None, &tok).0, 200);
    assert_eq!(
        call(
            addr,
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            None,
            &admin
        )
        .0,
        200
    );
    assert_eq!(call(addr, "GET", "/api/v1/contacts", None, &tok).0, 401);
    // A token's scopes bound it: a contacts-only token cannot write patients.
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/tokens",
        Some(r#"{"name":"ivr","scopes":["contacts"]}"#),
        &admin,
    );
    assert_eq!(s, 201);
    let ivr = format!(
        "Authorization: Bearer {}\r\n",
        v["secret"].as_str().unwrap()
    );
    let p = patient("9990000034", "Scoped Testpatient", "07700 900333");
    assert_eq!(
        call(addr, "PUT", "/api/v1/patients/9990000034", Some(&p), &ivr).0,
        403
    );
    // A cookie request from another site is refused; the same from our own
    // origin goes through.
    let sup = login(addr, "kent.supervisor", DEMO_PASSWORD).unwrap();
    // The supervisor moves Carol (a3, district nursing) to the wheelchair
    // team and skill; a wheelchair call then goes to her at once.
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/agents/3/skills",
        Some(r#"{"skills":[[1,3]],"team":1}"#),
        &sup,
    );
    assert_eq!(s, 200, "{v}");
    let (_, config) = call(addr, "GET", "/api/v1/config", None, &sup);
    let carol = config["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == 3)
        .unwrap();
    assert_eq!(carol["skills"], json!([[1, 3]]));
    let (s, _) = call(
        addr,
        "POST",
        "/api/v1/agents/3/presence",
        Some(r#"{"presence":"ready"}"#),
        &sup,
    );
    assert_eq!(s, 200);
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/contacts",
        Some(r#"{"queue":2}"#),
        &sup,
    );
    assert_eq!(s, 201, "{v}");
    assert!(
        v.to_string().contains(r#""agent":3"#),
        "offered to Carol: {v}"
    );
    let presence = |headers: &str| {
        let body = Some(r#"{"presence":"ready"}"#);
        status(addr, "POST", "/api/v1/agents/1/presence", body, headers)
    };
    assert_eq!(
        presence(&format!("{sup}Origin: http://evil.example\r\n")),
        403
    );
    assert_eq!(
        presence(&format!("{sup}Sec-Fetch-Site: cross-site\r\n")),
        403
    );
    let ours = format!("{sup}Origin: http://{addr}\r\nSec-Fetch-Site: same-origin\r\n");
    assert_eq!(presence(&ours), 200);
    kill(server, &data);
}

/// A log-in as `user` with extra header lines; (status, head).
fn try_login(addr: SocketAddr, user: &str, password: &str, headers: &str) -> (u16, String) {
    let body = json!({ "username": user, "password": password }).to_string();
    let (s, head, _) = http_with(addr, "POST", "/api/v1/session", Some(&body), headers).unwrap();
    (s, head)
}

/// The `Cookie:` line that sends back every cookie a log-in set.
fn cookies_from(head: &str) -> String {
    let pairs: Vec<&str> = head
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .filter_map(|c| c.split(';').next())
        .collect();
    format!("Cookie: {}\r\n", pairs.join("; "))
}

/// Strangers cannot lock staff out (issue 21): behind the trust's reverse
/// proxy every user once shared one address, and 20 made-up usernames
/// blocked everyone; 5 wrong passwords from anywhere blocked the account's
/// owner. Now only the attacking address is slowed, strangers to an
/// account back off exponentially, the owner's browser (its device cookie)
/// is never held back, and the audit trail gets one summary row per
/// account and address, with the name as typed made printable.
#[test]
fn strangers_cannot_lock_staff_out_and_refusals_are_summarised() {
    let data = std::env::temp_dir().join(format!("sb-ratelimit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let (server, addr) = start_any(&data, &["--trusted-proxy", "127.0.0.1"]);
    let via = |client: &str| format!("X-Forwarded-For: {client}\r\n");
    // The owner logged in from this browser yesterday: it holds a device cookie.
    let (s, head) = try_login(addr, "kent.agent", DEMO_PASSWORD, &via("198.51.100.20"));
    assert_eq!(s, 200);
    let owners_browser = cookies_from(&head);
    assert!(owners_browser.contains("sb_device="), "{head}");
    // An attacker at one address tries 25 made-up usernames, one with
    // control characters in it.
    let attacker = via("203.0.113.66");
    let mut refused = 0;
    for i in 0..25 {
        let user = if i == 0 {
            "evil\u{1b}[2J".to_string()
        } else {
            format!("nobody{i}")
        };
        match try_login(addr, &user, "guess guess guess", &attacker).0 {
            401 => {}
            429 => refused += 1,
            other => panic!("attempt {i}: {other}"),
        }
    }
    assert_eq!(
        refused, 5,
        "the attacking address is slowed after 20 failures"
    );
    // Everyone else, through the same proxy, logs in.
    let (s, _) = try_login(
        addr,
        "kent.supervisor",
        DEMO_PASSWORD,
        &via("198.51.100.21"),
    );
    assert_eq!(s, 200, "a supervisor behind the same proxy was locked out");
    // X-Forwarded-For from a client that is not the proxy is not believed:
    // the proxy appends the real address, and that is the one slowed.
    let spoof = "X-Forwarded-For: 198.51.100.99, 203.0.113.66\r\n";
    assert_eq!(
        try_login(addr, "kent.clinician", "wrong wrong wrong", spoof).0,
        429
    );
    // Strangers from five addresses guess the agent's password ...
    for i in 0..5 {
        let (s, _) = try_login(
            addr,
            "kent.agent",
            "wrong guess here",
            &via(&format!("192.0.2.{i}")),
        );
        assert_eq!(s, 401);
    }
    // ... so a stranger waits, even with the right password ...
    let (s, head) = try_login(addr, "kent.agent", DEMO_PASSWORD, &via("192.0.2.50"));
    assert_eq!(s, 429, "{head}");
    assert!(head.to_lowercase().contains("retry-after: 2"), "{head}");
    // ... but the owner's browser logs straight in.
    let (s, head) = try_login(
        addr,
        "kent.agent",
        DEMO_PASSWORD,
        &format!("{}{owners_browser}", via("192.0.2.50")),
    );
    assert_eq!(s, 200, "the account's owner was locked out: {head}");
    // A forged device cookie is a stranger's.
    let forged = format!(
        "Cookie: sb_device=11.{}.{}\r\n",
        "a".repeat(32),
        "b".repeat(64)
    );
    let (s, _) = try_login(
        addr,
        "kent.agent",
        DEMO_PASSWORD,
        &format!("{}{forged}", via("192.0.2.51")),
    );
    assert_eq!(s, 429);
    // Unknown users fail the same way as wrong passwords.
    assert_eq!(
        try_login(addr, "nobody.here", "whatever it is", &via("192.0.2.60")).0,
        401
    );

    stop(server);
    let rows = audit_rows(&data, "log in");
    let refusals: Vec<_> = rows.iter().filter(|r| r.3.starts_with("refused")).collect();
    // 46 attempts refused or failed, in one row per (account, address).
    assert_eq!(refusals.len(), 25 + 1 + 5 + 2 + 1, "{refusals:#?}");
    let row = |actor: &str, origin: &str| {
        refusals
            .iter()
            .find(|r| r.0 == actor && r.2 == origin)
            .unwrap_or_else(|| panic!("no summary for {actor} from {origin}: {refusals:#?}"))
            .3
            .clone()
    };
    assert_eq!(
        row("login:nobody24", "203.0.113.66"),
        "refused: 1 rate limited"
    );
    assert_eq!(
        row("login:nobody19", "203.0.113.66"),
        "refused: 1 bad credentials"
    );
    assert_eq!(
        row("login:evil\\u{1b}\\u{5b}2J", "203.0.113.66"),
        "refused: 1 bad credentials",
        "the name as typed, made printable"
    );
    assert_eq!(
        row("login:kent.agent", "192.0.2.50"),
        "refused: 1 rate limited"
    );
    assert_eq!(
        row("login:kent.agent", "192.0.2.0"),
        "refused: 1 bad credentials"
    );
    assert!(refusals.iter().all(|r| r.1.starts_with("attempts from ")));
    let _ = std::fs::remove_dir_all(&data);
}

/// Screen pop by caller number and NHS number; every patient read is in
/// the audit trail an auditor can query; the chain verifies and a tampered
/// record is found; and no patient data reached the server's output.
#[test]
fn patient_reads_are_audited_and_never_logged() {
    let data = std::env::temp_dir().join(format!("sb-patients-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let log = data.with_extension("log");
    let out = std::fs::File::create(&log).unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "serve",
            "--demo",
            "--demo-calls-per-minute",
            "0",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        // Every event and span the server has, at its most verbose.
        .env("SWITCHBOARD_LOG", "trace")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let addr = listening_in(&log, &mut server);
    wait_healthy(addr);
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let (_, ehr) = token(addr, &admin, "ehr");
    let secrets = [
        "Ada Testpatient",
        "Bea Testpatient",
        "9990000018",
        "9990000042",
        "7700900123",
        "7700 900123",
    ];
    for (nhs, name) in [
        ("9990000018", "Ada Testpatient"),
        ("9990000042", "Bea Testpatient"),
    ] {
        // Two patients share a household phone.
        let (s, v) = call(
            addr,
            "PUT",
            &format!("/api/v1/patients/{nhs}"),
            Some(&patient(nhs, name, "07700 900123")),
            &ehr,
        );
        assert_eq!(s, 201, "{v}");
    }
    // Bad patient data is refused, naming the field, and nothing written.
    for (bad, field) in [
        (patient("9990000019", "X", "07700 900123"), "nhs_number"),
        (patient("9990000018", "", "07700 900123"), "name"),
        (patient("9990000018", "Ada", "12"), "phone"),
        (
            json!({"nhs_number": "9990000018", "name": "Ada", "date_of_birth": "1961-13-40"})
                .to_string(),
            "date_of_birth",
        ),
    ] {
        let (s, v) = call(addr, "PUT", "/api/v1/patients/9990000018", Some(&bad), &ehr);
        assert!(matches!(s, 400 | 422), "{s} {v}");
        assert!(v["error"].as_str().unwrap().contains(field), "{field}: {v}");
    }
    // Calls arrive: one from the shared phone, one giving an NHS number.
    let mut arrived = Vec::new();
    for body in [
        r#"{"queue":2,"caller_number":"+44 7700 900123"}"#,
        r#"{"queue":2,"caller_number":"07700 900999","nhs_number":"999 000 0042"}"#,
        r#"{"queue":2,"caller_number":"07700 900555"}"#,
    ] {
        let (s, v) = call(addr, "POST", "/api/v1/contacts", Some(body), &ehr);
        assert_eq!(s, 201, "{v}");
        arrived.push(v["id"].as_u64().unwrap());
    }
    // Alice (agent 1) takes calls in turn; each pop is for her contact.
    let alice = login(addr, "kent.agent", DEMO_PASSWORD).unwrap();
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/agents/1/presence",
        Some(r#"{"presence":"ready"}"#),
        &alice,
    );
    assert_eq!(s, 200, "{v}");
    let expectations = [
        (arrived[0], "candidates", 2),
        (arrived[1], "single", 1),
        (arrived[2], "none", 0),
    ];
    for (contact, kind, n) in expectations {
        let (s, v) = call(
            addr,
            "POST",
            &format!("/api/v1/contacts/{contact}/accept"),
            Some(r#"{"agent":1}"#),
            &alice,
        );
        assert_eq!(s, 200, "accept {contact}: {v}");
        let (s, pop) = call(
            addr,
            "GET",
            &format!("/api/v1/contacts/{contact}/screen-pop"),
            None,
            &alice,
        );
        assert_eq!(s, 200, "{pop}");
        assert_eq!(pop["match"], kind, "{pop}");
        assert_eq!(pop["patients"].as_array().unwrap().len(), n, "{pop}");
        if contact == arrived[1] {
            assert_eq!(pop["patients"][0]["name"], "Bea Testpatient");
        }
        // Another agent's contact is not Alice's to pop afterwards.
        assert_eq!(
            call(
                addr,
                "POST",
                &format!("/api/v1/contacts/{contact}/end"),
                None,
                &alice
            )
            .0,
            200
        );
        assert_eq!(
            call(
                addr,
                "POST",
                &format!("/api/v1/contacts/{contact}/wrap-up-done"),
                Some(r#"{"agent":1,"outcome":"advice_given"}"#),
                &alice
            )
            .0,
            200
        );
    }
    // An outcome outside the list is refused, naming the field.
    let (s, v) = call(
        addr,
        "POST",
        &format!("/api/v1/contacts/{}/wrap-up-done", arrived[0]),
        Some(r#"{"agent":1,"outcome":"sorted"}"#),
        &alice,
    );
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"].as_str().unwrap().starts_with("outcome: one of"),
        "{v}"
    );
    // The supervisor sees the outcomes.
    let sup = login(addr, "kent.supervisor", DEMO_PASSWORD).unwrap();
    let (s, v) = call(addr, "GET", "/api/v1/reports/outcomes", None, &sup);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["outcomes"],
        json!([{"code": "advice_given", "count": 3}]),
        "{v}"
    );
    // The auditor asks who looked at Bea.
    let auditor = login(addr, "kent.auditor", DEMO_PASSWORD).unwrap();
    let (s, v) = call(
        addr,
        "GET",
        "/api/v1/audit/patients/9990000042",
        None,
        &auditor,
    );
    assert_eq!(s, 200, "{v}");
    let records = v["records"].as_array().unwrap();
    let pops: Vec<&Value> = records
        .iter()
        .filter(|r| r["action"] == "screen pop")
        .collect();
    assert_eq!(
        pops.len(),
        2,
        "the shared-phone pop and the NHS-number pop: {v}"
    );
    assert!(pops
        .iter()
        .all(|r| r["actor"].as_str().unwrap().contains("kent.agent")));
    assert!(pops
        .iter()
        .all(|r| r["purpose"] == "direct care" && r["origin"] == "127.0.0.1"));
    assert!(records.iter().any(|r| r["action"] == "write patient"));
    // A patient this organisation has never had: not found.
    assert_eq!(
        call(
            addr,
            "GET",
            "/api/v1/audit/patients/9990000034",
            None,
            &auditor
        )
        .0,
        404
    );
    server.kill().unwrap();
    server.wait().unwrap();
    // Nothing identifying in the server's output.
    let printed = std::fs::read_to_string(&log).unwrap();
    for s in secrets {
        assert!(!printed.contains(s), "{s:?} reached the log:\n{printed}");
    }
    // The log did record the requests (so the check above looked at them):
    // by route template, organisation and role.
    assert!(
        printed.contains("route=/api/v1/patients/{nhs_number}") && printed.contains("org=1"),
        "{printed}"
    );
    // The audit chain verifies; tampering with the file is found.
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["audit", "verify", "--data", data.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let db = rusqlite::Connection::open(data.join("switchboard.db")).unwrap();
    db.execute(
        "UPDATE audit_log SET actor = 'someone else' WHERE seq = (SELECT MIN(seq) FROM audit_log WHERE action = 'screen pop')",
        [],
    )
    .unwrap();
    let bad = verify();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("was changed after it was written"));
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_file(&log);
}

/// A real installation's first run: `bootstrap` creates the organisation
/// and its admin from a password on stdin, once; there is no default
/// account; the admin then builds the service through the API and it
/// takes effect at once.
#[test]
fn bootstrap_creates_the_first_admin_once_and_the_admin_configures_live() {
    let data = std::env::temp_dir().join(format!("sb-bootstrap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let bootstrap = |password: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args([
                "bootstrap",
                "--data",
                data.to_str().unwrap(),
                "--org",
                "Test Valley PCN",
                "--admin",
                "it.lead",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let short = bootstrap("short\n");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password: at least"));
    let ok = bootstrap("a long first-run passphrase\n");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let again = bootstrap("another long passphrase\n");
    assert!(!again.status.success(), "a second bootstrap is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has accounts"));
    // Serve without --demo: no demo accounts exist.
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening(&mut server);
    wait_healthy(addr);
    assert_eq!(login(addr, "kent.admin", DEMO_PASSWORD).unwrap_err().0, 401);
    let admin = login(addr, "it.lead", "a long first-run passphrase").unwrap();
    // An empty organisation: the admin adds a skill, team, site, queue and
    // agent; a contact then routes to the agent at once.
    for (path, body) in [
        ("/api/v1/skills", r#"{"id":1,"name":"Reception"}"#),
        ("/api/v1/teams", r#"{"id":1,"name":"Navigators"}"#),
        ("/api/v1/sites", r#"{"id":1,"name":"Andover"}"#),
    ] {
        let (s, v) = call(addr, "POST", path, Some(body), &admin);
        assert_eq!(s, 200, "{path}: {v}");
    }
    let queue = json!({"id": 1, "name": "Appointments", "priority": 0,
        "target": {"within": 60000, "percent": 95}, "requirements": [{"skill": 1, "min_level": 1}],
        "teams": null, "overflow": [], "strategy": "longest_idle", "aging": null,
        "offer_timeout": 20000, "wrap_up": 0, "max_waiting": 100, "when_full": "reject"});
    let agent = json!({"id": 1, "name": "Rosa", "team": 1, "site": 1, "skills": [[1, 2]],
        "capacity": {"voice": 1, "chat": 0, "email": 0, "sms": 0, "voice_exclusive": true}});
    // A broken queue is refused whole, naming the problem (422), as is
    // a body whose id is not the path's (400).
    let broken = json!({"id": 2}).to_string();
    for (path, body, expect) in [
        ("/api/v1/queues/1", queue.to_string(), 200),
        ("/api/v1/agents/1", agent.to_string(), 200),
        ("/api/v1/queues/2", broken, 422),
        ("/api/v1/queues/3", queue.to_string(), 400),
    ] {
        let (s, v) = call(addr, "PUT", path, Some(&body), &admin);
        assert_eq!(s, expect, "{path}: {v}");
    }
    // Rosa's account, and an integration for the phone system.
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/users",
        Some(
            r#"{"username":"rosa","display_name":"Rosa","role":"agent","agent":1,"password":"rosa's long passphrase"}"#,
        ),
        &admin,
    );
    assert_eq!(s, 201, "{v}");
    let (_, phones) = token(addr, &admin, "telephony");
    let rosa = login(addr, "rosa", "rosa's long passphrase").unwrap();
    assert_eq!(
        call(
            addr,
            "POST",
            "/api/v1/agents/1/presence",
            Some(r#"{"presence":"ready"}"#),
            &rosa
        )
        .0,
        200
    );
    let (s, v) = call(
        addr,
        "POST",
        "/api/v1/contacts",
        Some(r#"{"queue":1}"#),
        &phones,
    );
    assert_eq!(s, 201, "{v}");
    assert!(
        v.to_string().contains(r#""offered""#),
        "routed at once: {v}"
    );
    let (s, v) = call(addr, "GET", "/api/v1/contacts", None, &rosa);
    assert_eq!(
        (s, v["contacts"].as_array().unwrap().len()),
        (200, 1),
        "{v}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    // Every change is in the audit trail.
    let db = rusqlite::Connection::open(data.join("switchboard.db")).unwrap();
    let changes: i64 = db
        .query_row("SELECT COUNT(*) FROM audit_log WHERE action = 'change configuration' AND outcome = 'ok'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(changes, 5);
    let _ = std::fs::remove_dir_all(&data);
}

/// Services and entry points: contacts arrive by number, widget, address or
/// web form; opening hours close live channels; a number belongs to one
/// service of one organisation.
#[test]
fn contacts_arrive_by_entry_point_and_closed_services_refuse_live_ones() {
    let (data, addr, server) = fresh("services");
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let (_, ehr) = token(addr, &admin, "telephony");
    let wheelchairs = json!({"name": "Wheelchair service", "queue": 2, "entry_points": [
        {"kind": "phone", "address": "01622 000 002"},
        {"kind": "email", "address": "Wheelchairs@Kent.Example"}]});
    // Physio is never open (no weekly sessions): a closed service.
    let physio = json!({"name": "Physiotherapy", "queue": 4, "hours": {"weekly": []},
        "entry_points": [{"kind": "phone", "address": "01622 000 004"},
                         {"kind": "web", "address": "physio-callback"}]});
    for (id, def) in [(1, &wheelchairs), (2, &physio)] {
        let (s, v) = call(
            addr,
            "PUT",
            &format!("/api/v1/services/{id}"),
            Some(&def.to_string()),
            &admin,
        );
        assert_eq!(s, 201, "{v}");
    }
    // The GP network cannot take the trust's number.
    let medway = login(addr, "medway.admin", DEMO_PASSWORD).unwrap();
    let taken = json!({"name": "Appointments", "queue": 201, "entry_points": [{"kind": "phone", "address": "+441622000002"}]});
    let (s, v) = call(
        addr,
        "PUT",
        "/api/v1/services/3",
        Some(&taken.to_string()),
        &medway,
    );
    assert_eq!(s, 409, "{v}");
    // Bad definitions name the field.
    for (bad, field) in [
        (json!({"name": "X", "queue": 99}), "queue"),
        (
            json!({"name": "X", "queue": 2, "entry_points": [{"kind": "email", "address": "nope"}]}),
            "entry_points",
        ),
        (
            json!({"name": "X", "queue": 2, "hours": {"weekly": [{"days": ["mon"], "open": "18:00", "close": "08:00"}]}}),
            "hours",
        ),
    ] {
        let (s, v) = call(
            addr,
            "PUT",
            "/api/v1/services/4",
            Some(&bad.to_string()),
            &admin,
        );
        assert_eq!(s, 422, "{v}");
        assert!(
            v["error"].as_str().unwrap().starts_with(field),
            "{field}: {v}"
        );
    }
    let arrive = |body: Value, cred: &str| {
        call(
            addr,
            "POST",
            "/api/v1/contacts",
            Some(&body.to_string()),
            cred,
        )
    };
    let (s, v) = arrive(json!({"entry_point": "+44 1622 000002"}), &ehr);
    assert_eq!(s, 201, "{v}");
    assert!(v.to_string().contains(r#""queue":2"#), "{v}");
    let (s, v) = arrive(
        json!({"channel": "email", "entry_point": "wheelchairs@kent.example"}),
        &ehr,
    );
    assert_eq!(s, 201, "{v}");
    // Physio is closed: a call is refused, a web callback request waits.
    let (s, v) = arrive(json!({"entry_point": "01622 000 004"}), &ehr);
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("Physiotherapy is closed now"))
    );
    let (s, v) = arrive(
        json!({"channel": "callback", "entry_point": "physio-callback"}),
        &ehr,
    );
    assert_eq!(s, 201, "{v}");
    assert!(v.to_string().contains(r#""queue":4"#), "{v}");
    // Unknown, malformed, ambiguous, and another organisation's number.
    assert_eq!(arrive(json!({"entry_point": "01622 999 999"}), &ehr).0, 404);
    assert_eq!(arrive(json!({"entry_point": "call me"}), &ehr).0, 422);
    assert_eq!(
        arrive(json!({"queue": 2, "entry_point": "01622 000 002"}), &ehr).0,
        422
    );
    let (_, medway_ehr) = token(addr, &medway, "gp-telephony");
    assert_eq!(
        arrive(json!({"entry_point": "01622 000 002"}), &medway_ehr).0,
        404
    );
    // The supervisor sees which services are open.
    let sup = login(addr, "kent.supervisor", DEMO_PASSWORD).unwrap();
    let (_, v) = call(addr, "GET", "/api/v1/services", None, &sup);
    let open: Vec<(u64, bool)> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_u64().unwrap(), s["open_now"].as_bool().unwrap()))
        // The demo's own phone services are 101 and up.
        .filter(|(id, _)| *id < 100)
        .collect();
    assert_eq!(open, vec![(1, true), (2, false)]);
    kill(server, &data);
}

/// Bad input per endpoint family: each gets a 4xx naming the field, and
/// nothing is written: the accounts, tokens and configuration are as they
/// were. (A configuration change the engine refuses is still logged and
/// audited, as refused.)
#[test]
fn bad_inputs_per_endpoint_family_name_the_field_and_write_nothing() {
    let (data, addr, server) = fresh("badinput");
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let sup = login(addr, "kent.supervisor", DEMO_PASSWORD).unwrap();
    let (_, users_before) = call(addr, "GET", "/api/v1/users", None, &admin);
    let (_, config_before) = call(addr, "GET", "/api/v1/config", None, &admin);
    let user = |u: &str, name: &str, role: &str, agent: Value, pw: &str| {
        json!({"username": u, "display_name": name, "role": role, "agent": agent, "password": pw})
            .to_string()
    };
    let long = "x".repeat(300);
    let cases: Vec<(&str, &str, String, &str, u16, &str)> = vec![
        // accounts
        (
            "POST",
            "/api/v1/users",
            user(
                "sam jones",
                "Sam",
                "agent",
                Value::Null,
                "a long enough password",
            ),
            "admin",
            422,
            "username:",
        ),
        (
            "POST",
            "/api/v1/users",
            user("sam", &long, "agent", Value::Null, "a long enough password"),
            "admin",
            422,
            "display_name:",
        ),
        (
            "POST",
            "/api/v1/users",
            user(
                "sam",
                "Sam",
                "integration",
                Value::Null,
                "a long enough password",
            ),
            "admin",
            422,
            "role:",
        ),
        (
            "POST",
            "/api/v1/users",
            user(
                "sam",
                "Sam",
                "wizard",
                Value::Null,
                "a long enough password",
            ),
            "admin",
            422,
            "role",
        ),
        (
            "POST",
            "/api/v1/users",
            user("sam", "Sam", "agent", json!(999), "a long enough password"),
            "admin",
            422,
            "agent:",
        ),
        (
            "POST",
            "/api/v1/users",
            user("sam", "Sam", "agent", Value::Null, "short"),
            "admin",
            422,
            "password:",
        ),
        (
            "POST",
            "/api/v1/users",
            user(
                "kent.agent",
                "Dup",
                "agent",
                Value::Null,
                "a long enough password",
            ),
            "admin",
            409,
            "taken",
        ),
        (
            "POST",
            "/api/v1/users/99999/password",
            json!({"password": "a long enough password"}).to_string(),
            "admin",
            404,
            "unknown user",
        ),
        // tokens
        (
            "POST",
            "/api/v1/tokens",
            json!({"name": "t", "scopes": []}).to_string(),
            "admin",
            422,
            "scopes:",
        ),
        (
            "POST",
            "/api/v1/tokens",
            json!({"name": "t", "scopes": ["everything"]}).to_string(),
            "admin",
            422,
            "scopes",
        ),
        (
            "POST",
            "/api/v1/tokens",
            json!({"name": "", "scopes": ["contacts"]}).to_string(),
            "admin",
            422,
            "name:",
        ),
        // configuration
        (
            "POST",
            "/api/v1/skills",
            json!({"id": 1, "name": "Again"}).to_string(),
            "admin",
            400,
            "skill",
        ),
        (
            "POST",
            "/api/v1/teams",
            json!({"id": "one", "name": "T"}).to_string(),
            "admin",
            422,
            "id",
        ),
        (
            "PUT",
            "/api/v1/agents/1",
            json!({"id": 1, "name": "Alice"}).to_string(),
            "admin",
            422,
            "missing field",
        ),
        (
            "DELETE",
            "/api/v1/queues/999",
            String::new(),
            "admin",
            404,
            "unknown queue",
        ),
        // supervisor actions
        (
            "POST",
            "/api/v1/agents/1/presence",
            json!({"presence": "asleep"}).to_string(),
            "supervisor",
            422,
            "presence",
        ),
        (
            "POST",
            "/api/v1/agents/1/skills",
            json!({"skills": [[1, "high"]]}).to_string(),
            "supervisor",
            422,
            "skills",
        ),
        (
            "POST",
            "/api/v1/contacts/123456/priority",
            json!({"priority": 5}).to_string(),
            "supervisor",
            404,
            "unknown contact",
        ),
        // reports
        (
            "GET",
            "/api/v1/reports/kpis?by=week",
            String::new(),
            "supervisor",
            400,
            "by:",
        ),
        (
            "GET",
            "/api/v1/reports/kpis?format=pdf",
            String::new(),
            "supervisor",
            400,
            "format:",
        ),
        (
            "GET",
            "/api/v1/reports/kpis?from=2026-01-01T00:00:00Z&to=2025-01-01T00:00:00Z",
            String::new(),
            "supervisor",
            400,
            "from:",
        ),
        (
            "GET",
            "/api/v1/reports/kpis?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            String::new(),
            "supervisor",
            400,
            "to:",
        ),
        (
            "GET",
            "/api/v1/contacts?limit=0",
            String::new(),
            "supervisor",
            400,
            "limit:",
        ),
        // patients (the role may not write them at all)
        (
            "GET",
            "/api/v1/patients/12345",
            String::new(),
            "supervisor",
            400,
            "nhs_number:",
        ),
        // log-in
        (
            "POST",
            "/api/v1/session",
            json!({"username": long, "password": "x"}).to_string(),
            "",
            422,
            "username:",
        ),
    ];
    for (method, path, body, who, status, names) in &cases {
        let cred = match *who {
            "admin" => admin.as_str(),
            "supervisor" => sup.as_str(),
            _ => "",
        };
        let body = (!body.is_empty()).then_some(body.as_str());
        let (s, v) = call(addr, method, path, body, cred);
        assert_eq!(s, *status, "{method} {path}: {v}");
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains(names),
            "{method} {path}: {msg:?} should name {names:?}"
        );
    }
    // Nothing was written.
    let (_, users_after) = call(addr, "GET", "/api/v1/users", None, &admin);
    assert_eq!(users_before, users_after);
    let (_, config_after) = call(addr, "GET", "/api/v1/config", None, &admin);
    assert_eq!(config_before, config_after);
    let (_, tokens) = call(addr, "GET", "/api/v1/tokens", None, &admin);
    assert_eq!(tokens["tokens"], json!([]));
    kill(server, &data);
}
