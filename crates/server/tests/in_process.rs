//! The whole server started in this process, as an integration test of
//! another crate would: `Application::build` on an ephemeral port, real
//! HTTP over loopback, a clean stop, and a second start that recovers
//! what the first left.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const ADMIN: &str = "test.admin";
const PASSWORD: &str = "a long enough test password";

/// One HTTP/1.1 request; the status and the body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// Starts the server on its own thread (a current-thread runtime, as the
/// binary runs it).
/// A running server: its address, the organisations it recovered, the
/// switch that stops it and the thread to join.
struct Running {
    addr: SocketAddr,
    orgs: Vec<model::OrgId>,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<Result<(), String>>,
}

impl Running {
    fn stop(self) -> Result<(), String> {
        self.stop.send(()).unwrap();
        self.thread.join().unwrap()
    }
}

fn start(data: &std::path::Path) -> Running {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready, is_ready) = std::sync::mpsc::channel();
    let data = data.to_path_buf();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let application = server::Application::build(server::Options {
                data,
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                voice: None,
                snapshot_every: server::SNAPSHOT_EVERY,
                edge: server::net::Edge::default(),
                outbound: Default::default(),
                tls: None,
                limits: server::Limits::default(),
                audit_anchors: None,
                kek: None,
                metrics_token: None,
                channels: Default::default(),
            })
            .await
            .map_err(|e| e.to_string())?;
            let addr = application.local_addr().map_err(|e| e.to_string())?;
            ready.send((addr, application.app().orgs.clone())).unwrap();
            application
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .map_err(|e| e.to_string())
        })
    });
    let (addr, orgs) = is_ready
        .recv_timeout(Duration::from_secs(60))
        .expect("the server starts");
    Running {
        addr,
        orgs,
        stop,
        thread,
    }
}

#[test]
fn a_server_built_in_process_serves_on_an_ephemeral_port_and_stops_cleanly() {
    let data = std::env::temp_dir().join(format!("sb-in-process-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let org = app::bootstrap(&data, "Test Trust", ADMIN, PASSWORD).unwrap();

    let server = start(&data);
    let (addr, orgs) = (server.addr, server.orgs.clone());
    assert_ne!(addr.port(), 0, "an ephemeral port was chosen");
    assert_eq!(orgs, vec![org]);
    assert_eq!(http(addr, "GET", "/healthz", None, None).0, 200);
    // Nothing without a log-in, as JSON naming the problem.
    let (s, _, body) = http(addr, "GET", "/api/v1/queues", None, None);
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("log in first"), "{body}");
    // The admin logs in and is who the bootstrap made.
    let login = format!(r#"{{"username":"{ADMIN}","password":"{PASSWORD}"}}"#);
    let (s, head, body) = http(addr, "POST", "/api/v1/session", None, Some(&login));
    assert_eq!(s, 200, "{body}");
    let cookie = session_cookie(&head);
    let (s, _, me) = http(addr, "GET", "/api/v1/session", Some(&cookie), None);
    assert_eq!(s, 200, "{me}");
    let me: serde_json::Value = serde_json::from_str(&me).unwrap();
    assert_eq!(me["role"], "admin");
    assert_eq!(me["organisation"], org.0);
    // A configuration change goes through the engine and is kept.
    let skill = r#"{"id":1,"name":"Test skill"}"#;
    let (s, _, body) = http(addr, "POST", "/api/v1/skills", Some(&cookie), Some(skill));
    assert!(s == 200 || s == 201, "{s} {body}");
    assert_eq!(server.stop(), Ok(()));

    // The second start recovers the organisation and the change.
    let server = start(&data);
    let (addr, orgs) = (server.addr, server.orgs.clone());
    assert_eq!(orgs, vec![org]);
    let (s, _, body) = http(addr, "POST", "/api/v1/session", None, Some(&login));
    assert_eq!(s, 200, "{body}");
    let (_, head, _) = http(addr, "POST", "/api/v1/session", None, Some(&login));
    let cookie = session_cookie(&head);
    let (s, _, config) = http(addr, "GET", "/api/v1/config", Some(&cookie), None);
    assert_eq!(s, 200, "{config}");
    assert!(config.contains("Test skill"), "{config}");
    assert_eq!(server.stop(), Ok(()));
    let _ = std::fs::remove_dir_all(&data);
}

/// The session cookie a log-in answer sets, as a `Cookie` header value.
fn session_cookie(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string()
}
