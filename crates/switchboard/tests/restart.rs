//! Restarts from snapshots, through the binary: the server snapshots its
//! state every few inputs, a restart after kill -9 loads the snapshot and
//! replays only the log's tail (and says so), to the same live state; a
//! clean stop leaves a snapshot that makes the next start replay nothing.

mod common;

use common::*;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the server on `addr` (port 0: one of its choosing) with its
/// stderr in `log`; answers it and where it listens, as it said.
fn spawn(data: &std::path::Path, addr: SocketAddr, log: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--data", data.to_str().unwrap(), "--listen"])
        .arg(addr.to_string())
        .args(["--demo", "--demo-calls-per-minute", "0", "--sip", "off"])
        .args(["--snapshot-every", "25"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let addr = listening_in(log, &mut child);
    wait_healthy(addr);
    let cookie = login(addr, "kent.supervisor", DEMO_PASSWORD).expect("log-in");
    set_auth(addr, cookie);
    (child, addr)
}

/// The live contacts as listed: queue by queue, each in its order.
fn waiting(addr: SocketAddr) -> Vec<(u64, u64)> {
    let (s, body) = http(addr, "GET", "/api/v1/contacts", None).unwrap();
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v.as_array()
        .or_else(|| v["contacts"].as_array())
        .expect("a list of contacts")
        .iter()
        .map(|c| (c["queue"].as_u64().unwrap(), c["id"].as_u64().unwrap()))
        .collect()
}

/// The line the server prints when it has rebuilt its state.
fn recovered_line(log: &std::path::Path) -> String {
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap();
        // A log line: time, level, then the message.
        if let Some(l) = text.lines().find_map(|l| {
            let (_, msg) = l.split_once(" INFO ")?;
            msg.trim_start()
                .starts_with("recovered ")
                .then(|| msg.trim_start())
        }) {
            return l.to_string();
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The number in "replaying N log entries".
fn replayed(line: &str) -> u64 {
    let tail = line.split("replaying ").nth(1).expect(line);
    tail.split(' ').next().unwrap().parse().expect(line)
}

#[test]
fn a_restart_loads_the_latest_snapshot_and_replays_only_the_tail() {
    let data = std::env::temp_dir().join(format!("sb-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let logs = std::env::temp_dir().join(format!("sb-restart-logs-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let (mut server, addr) = spawn(&data, "127.0.0.1:0".parse().unwrap(), &logs.join("1"));
    assert_eq!(replayed(&recovered_line(&logs.join("1"))), 0);
    let mut ids = Vec::new();
    for i in 0..60 {
        let q = [2, 3, 5][i % 3];
        let (id, body) = create_contact(addr, &format!(r#"{{"queue": {q}}}"#));
        assert!(id > 0, "{body}");
        ids.push(id);
    }
    let before = waiting(addr);
    assert_eq!(before.len(), 60, "{before:?}");
    let first = std::fs::read_to_string(logs.join("1")).unwrap();
    assert!(first.contains("snapshot after log entry"), "{first}");

    // Killed: the next start loads the latest snapshot and replays what
    // came after it, less than a snapshot's worth.
    server.kill().unwrap();
    server.wait().unwrap();
    let (mut server, _) = spawn(&data, addr, &logs.join("2"));
    let line = recovered_line(&logs.join("2"));
    assert!(line.contains("(2 from snapshots)"), "{line}");
    assert!(replayed(&line) < 25, "{line}");
    assert!(line.contains("60 live contacts"), "{line}");
    assert_eq!(waiting(addr), before);
    // New contacts carry on past every earlier id.
    let (id, _) = create_contact(addr, r#"{"queue": 2}"#);
    assert!(id > *ids.iter().max().unwrap());

    // A clean stop writes a snapshot: the next start replays nothing.
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
    let stopped = std::fs::read_to_string(logs.join("2")).unwrap();
    assert!(stopped.contains("snapshot after log entry"), "{stopped}");
    let (server, _) = spawn(&data, addr, &logs.join("3"));
    let line = recovered_line(&logs.join("3"));
    assert_eq!(replayed(&line), 0, "{line}");
    assert!(line.contains("61 live contacts"), "{line}");

    // A damaged snapshot: the server says so and replays from further back.
    let mut server = server;
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(damage_latest_snapshot(&data), "a snapshot to damage");
    let (server, _) = spawn(&data, addr, &logs.join("4"));
    let line = recovered_line(&logs.join("4"));
    let text = std::fs::read_to_string(logs.join("4")).unwrap();
    assert!(text.contains("is damaged"), "{text}");
    assert!(line.contains("61 live contacts"), "{line}");
    let mut after = waiting(addr);
    after.retain(|(_, i)| *i != id);
    assert_eq!(after, before);
    kill(server, &data);
    let _ = std::fs::remove_dir_all(&logs);
}

/// Flips a byte in the latest snapshot of organisation 1, with python's
/// sqlite3 (the test crate has no SQLite of its own).
fn damage_latest_snapshot(data: &std::path::Path) -> bool {
    let db = data.join("switchboard.db");
    let script = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
row = db.execute("SELECT seq, state FROM snapshots WHERE org = 1 ORDER BY seq DESC LIMIT 1").fetchone()
if row is None: sys.exit(1)
b = bytearray(row[1]); b[len(b) // 2] ^= 0xFF
db.execute("UPDATE snapshots SET state = ? WHERE org = 1 AND seq = ?", (bytes(b), row[0]))
db.commit()
"#;
    Command::new("python3")
        .args(["-c", script, db.to_str().unwrap()])
        .status()
        .unwrap()
        .success()
}
