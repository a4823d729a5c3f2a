//! Crash safety, for real: the server binary takes contacts, is killed with
//! SIGKILL mid-flight, restarts from its data directory, and every
//! acknowledged contact is there with its place, and routing carries on.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A minimal HTTP/1.1 request on loopback; returns (status, body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Ok((status, body))
}

fn start(data: &std::path::Path, addr: SocketAddr) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            &addr.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while http(addr, "GET", "/healthz", None).map(|r| r.0).ok() != Some(200) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[test]
fn acknowledged_contacts_survive_kill_9_and_routing_carries_on() {
    let data = std::env::temp_dir().join(format!("sb-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let addr = free_port();
    let mut server = start(&data, addr);
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
    let mut acknowledged = Vec::new();
    for i in 1..=60u64 {
        let q = [2, 3, 4][i as usize % 3];
        let (status, body) = http(
            addr,
            "POST",
            "/api/v1/contacts",
            Some(&format!(r#"{{"id":{i},"queue":{q}}}"#)),
        )
        .unwrap();
        assert_eq!(status, 201, "{body}");
        acknowledged.push(i);
    }
    let (_, before_wheelchairs) = http(addr, "GET", "/api/v1/queues/2/waiting", None).unwrap();
    let (_, c5_before) = http(addr, "GET", "/api/v1/contacts/5", None).unwrap();
    // Bad input is refused, naming the problem, and not stored as a contact.
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/contacts",
        Some(r#"{"id":"x","queue":2}"#),
    )
    .unwrap();
    assert_eq!(status, 400, "{body}");
    let (status, _) = http(
        addr,
        "POST",
        "/api/v1/contacts",
        Some(r#"{"id":5,"queue":2}"#),
    )
    .unwrap();
    assert_eq!(status, 409, "a duplicate id is refused");
    // SIGKILL: no chance to flush or shut down.
    server.kill().unwrap();
    server.wait().unwrap();
    let mut server = start(&data, addr);
    for i in &acknowledged {
        let (status, body) = http(addr, "GET", &format!("/api/v1/contacts/{i}"), None).unwrap();
        // c3 went to Alice at once (wheelchairs, the only one she serves)
        // and is offered or ringing; the rest wait.
        assert_eq!(status, 200, "contact {i} lost: {body}");
    }
    let (_, after_wheelchairs) = http(addr, "GET", "/api/v1/queues/2/waiting", None).unwrap();
    assert_eq!(after_wheelchairs, before_wheelchairs, "places kept");
    let (_, c5_after) = http(addr, "GET", "/api/v1/contacts/5", None).unwrap();
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
        body.contains(r#""offered":{"agent":3,"contact":1,"#),
        "{body}"
    );
    // A clean stop on SIGTERM.
    let pid = server.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let t0 = Instant::now();
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "no clean stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&data);
}
