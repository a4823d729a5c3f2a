//! The wallboard's read model over HTTP: reads see every write made before
//! them (whoever made it), the subscription pushes the figures as they
//! change at its documented pace, and the agents' table is only for roles
//! that may read it.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = http(addr, "GET", path, None).unwrap();
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn waiting_in(board: &serde_json::Value, q: u64) -> u64 {
    board["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["queue"] == q)
        .unwrap()["waiting"]
        .as_u64()
        .unwrap()
}

/// An integration's bearer token, made by the admin.
fn token(addr: SocketAddr) -> String {
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let (status, _, body) = http_with(
        addr,
        "POST",
        "/api/v1/tokens",
        Some(r#"{"name":"board-test","scopes":["contacts"]}"#),
        &admin,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    format!(
        "Authorization: Bearer {}\r\n",
        v["secret"].as_str().unwrap()
    )
}

/// Events of a server-sent stream as (name, JSON), read until `until` says
/// enough or `limit` passes.
struct Sse {
    s: TcpStream,
    buf: String,
}

impl Sse {
    fn open(addr: SocketAddr, path: &str, auth: &str) -> Sse {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\n").unwrap();
        Sse {
            s,
            buf: String::new(),
        }
    }

    /// The next whole event, if one comes within `limit`.
    fn next(&mut self, limit: Duration) -> Option<(String, serde_json::Value)> {
        let t0 = Instant::now();
        loop {
            // Skip the response head and keep-alive comments.
            while let Some(at) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..at + 2).collect();
                let mut name = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_string());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = Some(d.to_string());
                    }
                }
                if let (Some(n), Some(d)) = (name, data) {
                    return Some((n, serde_json::from_str(&d).unwrap()));
                }
            }
            if t0.elapsed() > limit {
                return None;
            }
            let mut b = [0u8; 65536];
            match self.s.read(&mut b) {
                Ok(0) => return None,
                Ok(n) => self.buf.push_str(&String::from_utf8_lossy(&b[..n])),
                Err(_) => {}
            }
        }
    }
}

#[test]
fn a_read_sees_every_write_made_before_it_whoever_wrote() {
    let (data, addr, server) = fresh("board-consistent");
    let bearer = token(addr);
    let q = 5;
    let before = waiting_in(&json(addr, "/api/v1/kpis"), q);
    for k in 1..=40u64 {
        // Written by an integration, read at once by the supervisor.
        let (status, _, body) = http_with(
            addr,
            "POST",
            "/api/v1/contacts",
            Some(&format!(r#"{{"queue":{q},"channel":"email"}}"#)),
            &bearer,
        )
        .unwrap();
        assert_eq!(status, 201, "{body}");
        let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
            .as_u64()
            .unwrap();
        let list = json(addr, &format!("/api/v1/queues/{q}/waiting"));
        assert!(
            list["waiting"].as_array().unwrap().contains(&id.into()),
            "contact {id} written but not in the waiting list read after it: {list}"
        );
        assert_eq!(waiting_in(&json(addr, "/api/v1/kpis"), q), before + k);
        assert_eq!(
            json(addr, "/api/v1/queues")["queues"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["id"] == q)
                .unwrap()["waiting"],
            before + k
        );
    }
    // An agent's change shows in the agents' list read after it.
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/agents/6/presence",
        Some(r#"{"presence":"ready"}"#),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let agents = json(addr, "/api/v1/agents");
    let femi = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == 6)
        .unwrap();
    assert_ne!(femi["status"], "offline", "{femi}");
    assert_eq!(femi["seconds_in_state"], 0, "{femi}");
    kill(server, &data);
}

#[test]
fn the_subscription_pushes_the_figures_as_they_change_at_most_four_a_second() {
    let (data, addr, server) = fresh("board-stream");
    let bearer = token(addr);
    let cookie = auth_header(addr);
    let q = 5;
    let mut sse = Sse::open(addr, "/api/v1/kpis/stream?agents=true", &cookie);
    // At once: the figures and the agents.
    let mut first = std::collections::BTreeMap::new();
    while first.len() < 2 {
        let (name, v) = sse
            .next(Duration::from_secs(10))
            .expect("the first events at once");
        first.insert(name, v);
    }
    let before = waiting_in(&first["kpis"], q);
    assert!(!first["agents"]["agents"].as_array().unwrap().is_empty());
    assert!(
        first["kpis"]["agents_by_state"]["offline"]
            .as_u64()
            .unwrap()
            > 0
    );
    // Contacts arrive fast for two seconds: the figures follow, at the
    // documented pace, and the last frame has them all.
    let t0 = Instant::now();
    let mut sent = 0;
    while t0.elapsed() < Duration::from_secs(2) {
        let (status, _, body) = http_with(
            addr,
            "POST",
            "/api/v1/contacts",
            Some(&format!(r#"{{"queue":{q},"channel":"email"}}"#)),
            &bearer,
        )
        .unwrap();
        assert_eq!(status, 201, "{body}");
        sent += 1;
    }
    let mut frames = 0;
    let mut last = before;
    let t1 = Instant::now();
    while last < before + sent {
        assert!(
            t1.elapsed() < Duration::from_secs(10),
            "the stream never showed all {sent} contacts: {last} of {}",
            before + sent
        );
        if let Some((name, v)) = sse.next(Duration::from_secs(1)) {
            if name == "kpis" {
                frames += 1;
                let w = waiting_in(&v, q);
                assert!(w >= last, "figures went back: {w} after {last}");
                last = w;
            }
        }
    }
    let span = t0.elapsed().as_secs_f64();
    assert!(sent > 20, "only {sent} contacts in two seconds");
    assert!(
        (frames as f64) <= span * 4.0 + 2.0,
        "{frames} kpis events in {span:.1} s: more than four a second"
    );
    // Roles that may not read the agents get the figures only.
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let (status, _, body) =
        http_with(addr, "GET", "/api/v1/kpis/stream?agents=true", None, &admin).unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("agents"), "{body}");
    let mut sse = Sse::open(addr, "/api/v1/kpis/stream", &admin);
    let (name, v) = sse.next(Duration::from_secs(10)).unwrap();
    assert_eq!(name, "kpis");
    assert_eq!(waiting_in(&v, q), before + sent);
    kill(server, &data);
}

#[test]
fn a_queue_made_clinical_after_start_counts_its_answers_as_clinical() {
    // On main the KPI engine kept the queue definitions it started with:
    // a queue added or changed later (its target, now whether it is
    // clinical) was measured by the defaults. Wheelchairs is made a
    // clinical queue by the admin; a call answered there is counted as
    // clinically assessed — and still is after a restart (the log replayed).
    let (data, addr, server) = fresh("kpi-follows-config");
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let (s, _, body) = http_with(addr, "GET", "/api/v1/config", None, &admin).unwrap();
    assert_eq!(s, 200, "{body}");
    let config: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut wheelchairs = config["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == 2)
        .unwrap()
        .clone();
    assert_eq!(wheelchairs["clinical"], false);
    wheelchairs["clinical"] = serde_json::json!(true);
    let (s, _, body) = http_with(
        addr,
        "PUT",
        "/api/v1/queues/2",
        Some(&wheelchairs.to_string()),
        &admin,
    )
    .unwrap();
    assert!(s == 200 || s == 201, "{s} {body}");
    let (id, _) = create_contact(addr, r#"{"queue":2}"#);
    let (s, body) = http(
        addr,
        "POST",
        "/api/v1/agents/1/presence",
        Some(r#"{"presence":"ready"}"#),
    )
    .unwrap();
    assert_eq!(s, 200, "{body}");
    let (s, body) = http(
        addr,
        "POST",
        &format!("/api/v1/contacts/{id}/accept"),
        Some(r#"{"agent":1}"#),
    )
    .unwrap();
    assert_eq!(s, 200, "{body}");
    let clinical = |addr: SocketAddr| {
        let t0 = Instant::now();
        loop {
            let k = json(addr, "/api/v1/kpis");
            let q = k["queues"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["queue"] == 2)
                .unwrap()["today"]
                .clone();
            if q["answered"] == 1 || t0.elapsed() > Duration::from_secs(5) {
                return q;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let today = clinical(addr);
    assert_eq!(today["clinical_assessed"], 1.0, "{today}");
    kill(server, std::path::Path::new("/nonexistent"));
    let server = start(&data, addr);
    let today = clinical(addr);
    assert_eq!(today["clinical_assessed"], 1.0, "after a restart: {today}");
    kill(server, &data);
}

/// The demo shows itself: a demo agent who sets Available is offered a
/// call of their own within seconds (not after minutes behind the
/// simulated agents), and its caller rings from a demo patient's number,
/// so the screen pop finds the patient.
#[test]
fn in_the_demo_an_available_agent_gets_a_call_soon_and_the_screen_pop_finds_its_patient() {
    let data = std::env::temp_dir().join(format!("sb-demo-shows-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    // Simulated traffic on, slowly (one call in ten minutes overall).
    let (server, addr) = start_any(
        &data,
        &["--demo", "--demo-calls-per-minute", "0.1", "--sip", "off"],
    );
    let alice = login(addr, "kent.agent", DEMO_PASSWORD).unwrap();
    let (s, _, b) = http_with(
        addr,
        "POST",
        "/api/v1/agents/1/presence",
        Some(r#"{"presence":"ready"}"#),
        &alice,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    let t0 = Instant::now();
    let contact = loop {
        let me = agent_view(addr, 1);
        if let Some(c) = me["work"].as_array().and_then(|w| {
            w.iter()
                .find(|x| x[1] == "voice" && x[2] == "offered")
                .and_then(|x| x[0].as_u64())
        }) {
            break c;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no call offered to Alice within 30 s: {me:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let (s, _, b) = http_with(
        addr,
        "GET",
        &format!("/api/v1/contacts/{contact}/screen-pop"),
        None,
        &alice,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    let pop: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(pop["match"], "single", "{pop}");
    // The number the caller rang from, for the call bar (a demo
    // patient's: Ofcom's drama range).
    assert!(
        pop["caller_number"]
            .as_str()
            .is_some_and(|n| n.starts_with("+447700900")),
        "{pop}"
    );
    let name = pop["patients"][0]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        [
            "Ada Demo",
            "Bilal Example",
            "Catrin Sample",
            "Dev Testcase",
            "Eliza Placeholder",
            "Frank Fixture"
        ]
        .contains(&name.as_str()),
        "{pop}"
    );
    kill(server, &data);
}

fn get(addr: SocketAddr, cred: &str, path: &str) -> serde_json::Value {
    let (s, _, b) = http_with(addr, "GET", path, None, cred).unwrap();
    assert_eq!(s, 200, "{path}: {b}");
    serde_json::from_str(&b).unwrap()
}

/// The desktop's "my queues" follows the agent's skills as they are now;
/// the admin's change is in the configuration's history; the auditor's
/// chain status says intact, then names the record changed behind the
/// server's back.
#[test]
fn my_queues_follow_my_skills_the_change_is_in_the_history_and_the_chain_status_finds_tampering() {
    let data = std::env::temp_dir().join(format!("sb-my-queues-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let (server, addr) = start_any(
        &data,
        &["--demo", "--demo-calls-per-minute", "0", "--sip", "off"],
    );
    the_web_files_are_versioned_cached_and_compressed(addr);
    let alice = login(addr, "kent.agent", DEMO_PASSWORD).unwrap();
    let names = |v: &serde_json::Value| -> Vec<(String, i64)> {
        v["queues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| {
                (
                    q["name"].as_str().unwrap().to_string(),
                    q["after_seconds"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let before = names(&get(addr, &alice, "/api/v1/me/queues"));
    assert!(before.contains(&("Wheelchairs".into(), 0)), "{before:?}");
    assert!(
        !before.iter().any(|(n, _)| n == "Physiotherapy"),
        "{before:?}"
    );
    // The admin gives Alice physiotherapy.
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let config = get(addr, &admin, "/api/v1/config");
    let mut me = config["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == 1)
        .cloned()
        .unwrap();
    let physio = config["skills"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Physiotherapy")
        .expect("a physiotherapy skill")["id"]
        .clone();
    me["skills"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!([physio, 5]));
    let (s, _, b) = http_with(
        addr,
        "PUT",
        "/api/v1/agents/1",
        Some(&me.to_string()),
        &admin,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    let after = names(&get(addr, &alice, "/api/v1/me/queues"));
    assert!(after.contains(&("Physiotherapy".into(), 0)), "{after:?}");
    // The change, by whom, newest first.
    let history = get(addr, &admin, "/api/v1/config/history");
    let newest = &history["changes"][0];
    assert_eq!(newest["action"], "change configuration", "{history}");
    assert!(
        newest["actor"].as_str().unwrap().contains("kent.admin"),
        "{history}"
    );
    // A supervisor is not an agent: no queues of their own, said so.
    let sup = login(addr, "kent.supervisor", DEMO_PASSWORD).unwrap();
    let (s, _, b) = http_with(addr, "GET", "/api/v1/me/queues", None, &sup).unwrap();
    assert_eq!(s, 404, "{b}");
    assert!(b.contains("not an agent"), "{b}");
    // The chain, intact.
    let auditor = login(addr, "kent.auditor", DEMO_PASSWORD).unwrap();
    let chain = get(addr, &auditor, "/api/v1/audit/chain");
    assert_eq!(chain["intact"], true, "{chain}");
    assert!(chain["records"].as_u64().unwrap() > 3, "{chain}");
    // Somebody edits record 2 in the database file itself.
    let db = rusqlite::Connection::open(data.join("switchboard.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute(
        "UPDATE audit_log SET subject = subject || ' (edited)' WHERE seq = 2",
        [],
    )
    .unwrap();
    let chain = get(addr, &auditor, "/api/v1/audit/chain");
    assert_eq!(chain["intact"], false, "{chain}");
    assert_eq!(chain["broken_at"], 2, "{chain}");
    assert!(
        chain["problem"]
            .as_str()
            .unwrap()
            .contains("record 2 was changed after it was written"),
        "{chain}"
    );
    kill(server, &data);
}

/// The pages name their scripts with the version of the whole set; a
/// versioned script is kept a year and sent gzipped to a browser that
/// takes it; an unchanged file answers 304 to its ETag.
fn the_web_files_are_versioned_cached_and_compressed(addr: SocketAddr) {
    let (s, head, page) = http_with(addr, "GET", "/wallboard", None, "").unwrap();
    assert_eq!(s, 200);
    let head = head.to_ascii_lowercase();
    assert!(head.contains("cache-control: no-cache"), "{head}");
    let script = page
        .split('"')
        .find(|p| p.starts_with("/wallboard.js?v="))
        .unwrap_or_else(|| panic!("no versioned script in {page}"))
        .to_string();
    let (s, head, plain) = http_bytes_with(addr, &script, "").unwrap();
    assert_eq!(s, 200);
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("cache-control: public, max-age=31536000, immutable"),
        "{head}"
    );
    // Its own imports carry the same version (one URL per module).
    let text = String::from_utf8(plain.clone()).unwrap();
    let version = &script["/wallboard.js?v=".len()..];
    assert!(
        text.contains(&format!("'/ui.js?v={version}'")),
        "{}",
        &text[..400.min(text.len())]
    );
    let (s, head, gz) =
        http_bytes_with(addr, &script, "Accept-Encoding: gzip, deflate, br\r\n").unwrap();
    assert_eq!(s, 200);
    assert!(
        head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "a gzip stream");
    assert!(
        gz.len() * 2 < plain.len(),
        "{} -> {}",
        plain.len(),
        gz.len()
    );
    // Unchanged: 304 to its ETag; a stale version is not kept for a year.
    let etag = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("etag:")
                .then(|| l[5..].trim().to_string())
        })
        .expect("an ETag");
    let (s, _, _) = http_with(
        addr,
        "GET",
        "/wallboard.js",
        None,
        &format!("If-None-Match: {etag}\r\n"),
    )
    .unwrap();
    assert_eq!(s, 304);
    let (_, head, _) = http_with(addr, "GET", "/wallboard.js?v=000000000000", None, "").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("cache-control: no-cache"),
        "{head}"
    );
}
