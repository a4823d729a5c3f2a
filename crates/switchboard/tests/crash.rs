//! Crash safety, for real: the server binary takes contacts, is killed with
//! SIGKILL mid-flight, restarts from its data directory, and every
//! acknowledged contact is there with its place, and routing carries on.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

#[test]
fn acknowledged_contacts_survive_kill_9_and_routing_carries_on() {
    let data = std::env::temp_dir().join(format!("sb-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let (mut server, addr) = start_any(&data, &[]);
    // Alice (wheelchairs) is ready; 60 calls arrive on three queues; Alice
    // takes the first and finishes it.
    assert_eq!(
        http(
            addr,
            "POST",
            "/api/v1/agents/1/presence",
            Some(r#"{"presence":"ready"}"#)
        )
        .unwrap()
        .0,
        200
    );
    // The server chooses each contact's id: `nth(n)` is the n-th call's.
    let mut acknowledged = Vec::new();
    for i in 1..=60u64 {
        let q = [2, 3, 4][i as usize % 3];
        let (id, _) = create_contact(addr, &format!(r#"{{"queue":{q}}}"#));
        acknowledged.push(id);
    }
    let nth = |n: usize| acknowledged[n - 1];
    // Two physiotherapy callers take a callback (keeping their places), and
    // a supervisor raises a third's priority (an audited action).
    for n in [2, 11] {
        let path = format!("/api/v1/contacts/{}/callback", nth(n));
        assert_eq!(http(addr, "POST", &path, None).unwrap().0, 200, "{path}");
    }
    let (status, body) = http(
        addr,
        "POST",
        &format!("/api/v1/contacts/{}/priority", nth(8)),
        Some(r#"{"priority":7}"#),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let (_, physio_before) = http(addr, "GET", "/api/v1/queues/4/waiting", None).unwrap();
    let (_, before_wheelchairs) = http(addr, "GET", "/api/v1/queues/2/waiting", None).unwrap();
    let c5 = format!("/api/v1/contacts/{}", nth(5));
    let (_, c5_before) = http(addr, "GET", &c5, None).unwrap();
    // Bad input is refused, naming the problem, and not stored as a contact.
    let (status, body) = http(addr, "POST", "/api/v1/contacts", Some(r#"{"queue":"x"}"#)).unwrap();
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("queue"), "{body}");
    // A client cannot choose an id, not even an existing contact's: refused,
    // naming `id`, and that contact is untouched (checked after the kill).
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/contacts",
        Some(&format!(r#"{{"id":{},"queue":2}}"#, nth(5))),
    )
    .unwrap();
    assert_eq!(status, 422, "a client-chosen id is refused: {body}");
    assert!(body.contains(r#"{"error":"id:"#), "{body}");
    // SIGKILL: no chance to flush or shut down.
    server.kill().unwrap();
    server.wait().unwrap();
    let mut server = start(&data, addr);
    for i in &acknowledged {
        let (status, body) = http(addr, "GET", &format!("/api/v1/contacts/{i}"), None).unwrap();
        // The third call went to Alice at once (wheelchairs, the only
        // queue she serves) and is offered or ringing; the rest wait.
        assert_eq!(status, 200, "contact {i} lost: {body}");
    }
    let (_, after_wheelchairs) = http(addr, "GET", "/api/v1/queues/2/waiting", None).unwrap();
    assert_eq!(after_wheelchairs, before_wheelchairs, "places kept");
    let (_, physio_after) = http(addr, "GET", "/api/v1/queues/4/waiting", None).unwrap();
    assert_eq!(physio_after, physio_before, "callbacks keep their places");
    let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    for c in [nth(2), nth(11)] {
        let (_, v) = http(addr, "GET", &format!("/api/v1/contacts/{c}"), None).unwrap();
        assert_eq!(
            json(&v)["channel"],
            "callback",
            "the promised callback {c}: {v}"
        );
    }
    let (_, c8) = http(addr, "GET", &format!("/api/v1/contacts/{}", nth(8)), None).unwrap();
    assert_eq!(json(&c8)["priority"], 7, "{c8}");
    let (_, c5_after) = http(addr, "GET", &c5, None).unwrap();
    let arrived =
        |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap()["arrived_at"].clone();
    assert_eq!(arrived(&c5_after), arrived(&c5_before));
    // Routing carries on: Carol (district nursing) logs in and is offered
    // the longest-waiting district nursing call.
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/agents/3/presence",
        Some(r#"{"presence":"ready"}"#),
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains(&format!(r#""offered":{{"agent":3,"contact":{},"#, nth(1))),
        "{body}"
    );
    // A clean stop on SIGTERM.
    sigterm_and_wait(&mut server, "after the crash test");
    // The audit record of the priority change survived the kill, in an
    // intact chain.
    let db = rusqlite::Connection::open(data.join("switchboard.db")).unwrap();
    let subject = format!("contact c{} to 7", nth(8));
    let n: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'change priority' AND subject = ?1",
            [&subject],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
    let verify = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["audit", "verify", "--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{verify:?}");
    let _ = std::fs::remove_dir_all(&data);
}

/// Each bad request and the status and message it must give; nothing is
/// created by any of them.
#[test]
fn bad_requests_get_a_clear_4xx_and_change_nothing() {
    let (data, addr, server) = fresh("bad");
    let huge = format!(r#"{{"queue":2,"pad":"{}"}}"#, "x".repeat(100_000));
    let cases: Vec<(&str, &str, Option<&str>, u16, &str)> = vec![
        (
            "POST",
            "/api/v1/contacts",
            Some("{not json"),
            400,
            "Failed to parse the request body as JSON",
        ),
        (
            "POST",
            "/api/v1/contacts",
            Some("{}"),
            422,
            "queue: give exactly one of queue or entry_point",
        ),
        // The server chooses contact ids: a body naming one is refused,
        // naming `id`, whatever else it holds.
        (
            "POST",
            "/api/v1/contacts",
            Some(r#"{"id":1,"queue":2}"#),
            422,
            r#"{"error":"id:"#,
        ),
        (
            "POST",
            "/api/v1/callbacks",
            Some(r#"{"id":1,"queue":2,"due_at":"2030-01-01T10:00:00Z"}"#),
            422,
            r#"{"error":"id:"#,
        ),
        (
            "POST",
            "/api/v1/contacts",
            Some(r#"{"queue":2,"colour":"red"}"#),
            422,
            "unknown field `colour`",
        ),
        (
            "POST",
            "/api/v1/contacts",
            Some(r#"{"queue":99}"#),
            404,
            "unknown queue q99",
        ),
        (
            "POST",
            "/api/v1/contacts",
            Some(r#"{"queue":2,"priority":5000000}"#),
            400,
            "priority 5000000 beyond",
        ),
        (
            "POST",
            "/api/v1/contacts",
            Some(r#"{"queue":2,"channel":"fax"}"#),
            422,
            "unknown variant `fax`",
        ),
        ("POST", "/api/v1/contacts", Some(huge.as_str()), 413, ""),
        (
            "POST",
            "/api/v1/contacts/1/accept",
            Some(r#"{"agent":1}"#),
            404,
            "unknown contact c1",
        ),
        (
            "POST",
            "/api/v1/agents/77/presence",
            Some(r#"{"presence":"ready"}"#),
            404,
            "unknown agent a77",
        ),
        (
            "POST",
            "/api/v1/agents/1/presence",
            Some(r#"{"presence":"dancing"}"#),
            422,
            "presence",
        ),
        (
            "POST",
            "/api/v1/contacts/1/transfer",
            Some(r#"{"queue":2,"agent":1,"mode":"warm"}"#),
            400,
            "exactly one of queue or agent",
        ),
        (
            "GET",
            "/api/v1/contacts/12345",
            None,
            404,
            "unknown contact c12345",
        ),
    ];
    for (method, path, body, status, message) in cases {
        let (got, text) = http(addr, method, path, body).unwrap();
        let shown = body.map(|b| &b[..b.len().min(80)]);
        assert_eq!(got, status, "{method} {path} {shown:?}: {text}");
        assert!(text.contains(message), "{method} {path}: {text}");
    }
    let (_, waiting) = http(addr, "GET", "/api/v1/queues/2/waiting", None).unwrap();
    assert_eq!(waiting, r#"{"queue":2,"waiting":[]}"#);
    kill(server, &data);
}

/// The whole life of a call over HTTP, as an agent's desktop drives it:
/// priority raised, offer declined, answered, held, resumed, cold
/// transferred to another queue, answered there, ended and wrapped up;
/// a second caller asks for a callback and keeps their place.
#[test]
fn a_call_lifecycle_over_http() {
    let (data, addr, server) = fresh("life");
    // Two calls arrive; the server names each one's id.
    let (one, text) = create_contact(addr, r#"{"queue":3}"#);
    for e in ["arrived", "queued"] {
        assert!(text.contains(e), "the first call: wanted {e} in {text}");
    }
    let (two, text) = create_contact(addr, r#"{"queue":3}"#);
    assert!(text.contains("queued"), "the second call: {text}");
    assert_ne!(one, two);
    let c = |id: u64, action: &str| format!("/api/v1/contacts/{id}/{action}");
    let steps: Vec<(String, Option<&str>, u16, Vec<String>)> = vec![
        (
            c(two, "priority"),
            Some(r#"{"priority":10}"#),
            200,
            vec![format!(
                r#""priority_changed":{{"contact":{two},"from":0,"to":10}}"#
            )],
        ),
        // The raised call is offered first.
        (
            "/api/v1/agents/3/presence".into(),
            Some(r#"{"presence":"ready"}"#),
            200,
            vec![format!(r#""offered":{{"agent":3,"contact":{two},"#)],
        ),
        // Declining puts the agent not-ready and the call back in queue.
        (
            c(two, "reject"),
            Some(r#"{"agent":3}"#),
            200,
            vec![
                "offer_rejected".into(),
                r#"{"not_ready":"declined"}"#.into(),
                format!(r#""queued":{{"contact":{two}"#),
            ],
        ),
        (
            "/api/v1/agents/3/presence".into(),
            Some(r#"{"presence":"ready"}"#),
            200,
            vec![format!(r#""offered":{{"agent":3,"contact":{two},"#)],
        ),
        (
            c(one, "accept"),
            Some(r#"{"agent":3}"#),
            409,
            vec!["not offered to agent a3".into()],
        ),
        (
            c(two, "accept"),
            Some(r#"{"agent":3}"#),
            200,
            vec!["answered".into()],
        ),
        (c(two, "hold"), None, 200, vec!["hold_started".into()]),
        (c(two, "resume"), None, 200, vec!["hold_ended".into()]),
        (
            c(two, "transfer"),
            Some(r#"{"queue":2,"mode":"cold"}"#),
            200,
            vec![
                "transfer_requested".into(),
                format!(r#""moved":{{"contact":{two},"from":3,"reason":"transfer","to":2}}"#),
                "wrap_up_started".into(),
            ],
        ),
        (
            c(one, "callback"),
            None,
            200,
            vec![format!(
                r#""callback_requested":{{"contact":{one},"queue":3}}"#
            )],
        ),
        (
            "/api/v1/agents/1/presence".into(),
            Some(r#"{"presence":"ready"}"#),
            200,
            vec![format!(r#""offered":{{"agent":1,"contact":{two},"#)],
        ),
        (
            c(two, "accept"),
            Some(r#"{"agent":1}"#),
            200,
            vec![format!(
                r#""transferred":{{"contact":{two},"from":3,"mode":"cold","queue":2,"to":1}}"#
            )],
        ),
        (
            c(two, "end"),
            Some(r#"{"agent":1}"#),
            200,
            vec!["ended".into(), "wrap_up_started".into()],
        ),
        (
            c(two, "wrap-up-done"),
            Some(r#"{"agent":1}"#),
            200,
            vec!["wrap_up_ended".into()],
        ),
    ];
    for (path, body, status, expect) in steps {
        let (got, text) = http(addr, "POST", &path, body).unwrap();
        assert_eq!(got, status, "POST {path} {body:?}: {text}");
        for e in expect {
            assert!(text.contains(&e), "POST {path}: wanted {e} in {text}");
        }
    }
    // The callback keeps the caller's place in the queue they waited in.
    let (_, c1) = http(addr, "GET", &format!("/api/v1/contacts/{one}"), None).unwrap();
    let c1: serde_json::Value = serde_json::from_str(&c1).unwrap();
    assert_eq!(c1["channel"], "callback");
    assert_eq!(c1["queue"], 3);
    assert_eq!(c1["entered_queue_at"], c1["arrived_at"]);
    assert_eq!(c1["state"], "waiting");
    // The ended call is gone from the live state.
    let (status, _) = http(addr, "GET", &format!("/api/v1/contacts/{two}"), None).unwrap();
    assert_eq!(status, 404);
    kill(server, &data);
}

fn sigterm_and_wait(server: &mut Child, why: &str) {
    let pid = server.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let t0 = Instant::now();
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no clean stop: {why}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn overall_counts(addr: SocketAddr) -> serde_json::Value {
    let (status, body) = http(addr, "GET", "/api/v1/kpis", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["overall"]["counts"].clone()
}

/// `serve --demo`: simulated callers and agents go through the real
/// server; the live stream shows calls arriving and being answered, the
/// KPIs count them, SIGTERM ends open streams and stops cleanly, and the
/// KPIs come back from the log after a restart.
#[test]
fn demo_traffic_flows_through_the_live_stream_and_kpis() {
    let data = std::env::temp_dir().join(format!("sb-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let (mut server, addr) = start_any(&data, &["--demo", "--demo-calls-per-minute", "600"]);
    // Subscribe to the live stream and read until a call is answered.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let cookie = auth_header(addr);
    write!(
        s,
        "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\n{cookie}\r\n"
    )
    .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let t0 = Instant::now();
    while !(seen.contains("event: record") && seen.contains(r#""answered":{"#)) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no answered call on the stream: {seen}"
        );
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "stream closed early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("text/event-stream"), "{seen}");
    assert!(seen.contains(r#""arrived":{"#), "{seen}");
    let before = overall_counts(addr);
    let (_, board) = http(addr, "GET", "/api/v1/kpis", None).unwrap();
    let board: serde_json::Value = serde_json::from_str(&board).unwrap();
    let queues = board["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 7, "{board}");
    for q in queues {
        assert!(q["name"].is_string() && q["waiting"].is_u64(), "{q}");
        assert!(q["ready_agents"].is_u64(), "{q}");
        // No one waits in an empty queue; whoever waits, waits >= 0 s.
        match q["waiting"].as_u64().unwrap() {
            0 => assert!(q["longest_wait_seconds"].is_null(), "{q}"),
            _ => assert!(q["longest_wait_seconds"].as_f64().unwrap() >= 0.0, "{q}"),
        }
    }
    assert!(before["offered"].as_u64().unwrap() > 0, "{before}");
    assert!(before["answered"].as_u64().unwrap() > 0, "{before}");
    // The same traffic as a report: by interval as CSV, by day as JSON.
    let (status, head, csv) = http_with(
        addr,
        "GET",
        "/api/v1/reports/kpis?format=csv",
        None,
        &auth_header(addr),
    )
    .unwrap();
    assert_eq!(status, 200, "{csv}");
    assert!(head.contains("text/csv"), "{head}");
    let overall: u64 = csv
        .lines()
        .filter(|l| l.split(',').nth(1) == Some("overall"))
        .map(|l| l.split(',').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(overall > 0, "{csv}");
    let (status, days) = http(addr, "GET", "/api/v1/reports/kpis?by=day", None).unwrap();
    assert_eq!(status, 200, "{days}");
    assert!(days.contains(r#""by":"day""#), "{days}");
    let (status, bad) = http(addr, "GET", "/api/v1/reports/kpis?from=yesterday", None).unwrap();
    assert_eq!(status, 400, "{bad}");
    assert!(bad.contains("from: not an RFC 3339 time"), "{bad}");
    // The stream is still open: SIGTERM must end it and stop.
    sigterm_and_wait(&mut server, "with a live stream open");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    // Restarted without the demo: the counts are rebuilt from the log —
    // what was counted before (and the calls since, up to the stop), and
    // exactly the same figures on every later restart.
    let mut server = start(&data, addr);
    let after = overall_counts(addr);
    for k in ["offered", "answered"] {
        assert!(
            after[k].as_u64() >= before[k].as_u64(),
            "{k}: {before} then {after}"
        );
    }
    sigterm_and_wait(&mut server, "after restart");
    let mut server = start(&data, addr);
    // (Time in a state — busy, idle… — runs on while agents stay in it.)
    let counts = |v: &serde_json::Value| {
        v.as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.ends_with("_ms") || *k == "wait_ms_answered_total")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(
        counts(&overall_counts(addr)),
        counts(&after),
        "a second restart counts differently"
    );
    sigterm_and_wait(&mut server, "after the second restart");
    let _ = std::fs::remove_dir_all(&data);
}

/// Group commit under concurrency: four clients create contacts at once and
/// the server is killed with SIGKILL while they are still sending. Every
/// contact that was acknowledged (201) is there after the restart.
#[test]
fn concurrent_acknowledged_writes_survive_kill_9() {
    let (data, addr, mut server) = fresh("concurrent");
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    // Set just before the kill: only then may a request fail (the
    // connection refused or cut, an answer cut short). Anything else a
    // client meets stops the test with what it was.
    let killed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (acked, killed) = (acked.clone(), killed.clone());
            std::thread::spawn(move || -> Result<(), String> {
                let dead = || killed.load(std::sync::atomic::Ordering::SeqCst);
                for i in 0..5_000u64 {
                    let body = format!(r#"{{"queue":{}}}"#, 2 + i % 5);
                    match http(addr, "POST", "/api/v1/contacts", Some(&body)) {
                        // The server chose the id; the answer names it (an
                        // answer cut short by the kill acknowledges nothing
                        // the client could check).
                        Ok((201, answer)) => {
                            match serde_json::from_str::<serde_json::Value>(&answer) {
                                Ok(v) => acked.lock().unwrap().push(v["id"].as_u64().unwrap()),
                                Err(_) if dead() => return Ok(()),
                                Err(e) => {
                                    return Err(format!("a 201 that is not JSON ({e}): {answer}"))
                                }
                            }
                        }
                        Err(_) | Ok((0, _)) if dead() => return Ok(()),
                        Ok((status, answer)) => {
                            return Err(format!("request {i}: {status} {answer}"))
                        }
                        Err(e) => return Err(format!("request {i}: {e}")),
                    }
                }
                Ok(())
            })
        })
        .collect();
    // Kill mid-flight, once a good number are in.
    let t0 = Instant::now();
    while acked.lock().unwrap().len() < 400 {
        assert!(t0.elapsed() < Duration::from_secs(30), "too slow to start");
        std::thread::sleep(Duration::from_millis(5));
    }
    killed.store(true, std::sync::atomic::Ordering::SeqCst);
    server.kill().unwrap();
    server.wait().unwrap();
    for c in clients {
        if let Err(e) = c.join().unwrap() {
            panic!("a client failed before the kill: {e}");
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() < 20_000, "the kill came after every write");
    // Concurrent clients were never given the same id.
    let distinct: std::collections::HashSet<u64> = acked.iter().copied().collect();
    assert_eq!(distinct.len(), acked.len(), "an id given twice");
    let server = start(&data, addr);
    for id in &acked {
        let (status, body) = http(addr, "GET", &format!("/api/v1/contacts/{id}"), None).unwrap();
        assert_eq!(status, 200, "acknowledged contact {id} lost: {body}");
    }
    kill(server, &data);
}
