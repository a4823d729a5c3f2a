//! Shared by the tests that run the real server binary: start it on a
//! free loopback port, log in, make plain HTTP/1.1 requests.
#![allow(dead_code)]

pub mod audio;
pub mod calls;
pub mod ua;
pub mod written;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const DEMO_PASSWORD: &str = "switchboard-demo";

/// A loopback port free for both TCP and UDP, chosen below the kernel's
/// ephemeral range (32768-60999 on Linux): the servers' own sockets bound
/// to port 0 (RTP, outbound SIP) can then never take it between the test
/// choosing it and a peer (SIPp, the server) binding it, which happened
/// under load ("Address already in use").
pub fn free_port() -> SocketAddr {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 20);
    for _ in 0..10_000 {
        let mut x = seed.wrapping_add(
            NEXT.fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        x ^= x >> 31;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 29;
        let port = 20_000 + (x % 12_000) as u16;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if TcpListener::bind(addr).is_ok() && std::net::UdpSocket::bind(addr).is_ok() {
            return addr;
        }
    }
    panic!("no free loopback port below the ephemeral range");
}

/// The credential header `http` sends to each server (keyed by address,
/// so tests on different servers never share one).
static AUTH: Mutex<Option<HashMap<SocketAddr, String>>> = Mutex::new(None);

pub fn set_auth(addr: SocketAddr, header: String) {
    AUTH.lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(addr, header);
}

pub fn auth_header(addr: SocketAddr) -> String {
    AUTH.lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(&addr).cloned())
        .unwrap_or_default()
}

/// A minimal HTTP/1.1 request on loopback as the server's current
/// credential; returns (status, body).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let h = auth_header(addr);
    http_with(addr, method, path, body, &h).map(|(s, _, b)| (s, canonical(b)))
}

/// A JSON body with its keys in order (the server writes them in its
/// types' order; the tests look for fragments), anything else as it came.
pub fn canonical(body: String) -> String {
    match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(v) => v.to_string(),
        Err(_) => body,
    }
}

/// A request with the given extra header lines (each ending `\r\n`);
/// returns (status, head, body).
pub fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &str,
) -> std::io::Result<(u16, String, String)> {
    http_as(addr, &addr.to_string(), method, path, body, headers)
}

/// As `http_with`, naming the server as `host` (a browser that reached it
/// as `localhost`, say).
pub fn http_as(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &str,
) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    Ok((status, head.to_string(), body.to_string()))
}

/// A GET whose answer may be binary, as the server's current credential;
/// returns (status, head, body bytes).
pub fn http_bytes(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String, Vec<u8>)> {
    http_bytes_with(addr, path, &auth_header(addr))
}

/// As `http_bytes`, with these header lines (each ending `\r\n`).
pub fn http_bytes_with(
    addr: SocketAddr,
    path: &str,
    headers: &str,
) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"
    )?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let body = out.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, head, body))
}

/// Creates a contact as the server's current credential. The server
/// chooses its id (a body must not name one); returns that id and the
/// whole answer (`{"id": .., "events": [..]}`).
pub fn create_contact(addr: SocketAddr, body: &str) -> (u64, String) {
    let (status, text) = http(addr, "POST", "/api/v1/contacts", Some(body)).unwrap();
    assert_eq!(status, 201, "POST /api/v1/contacts {body}: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let id = v["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no contact id in the answer: {text}"));
    (id, text)
}

/// Logs in; returns the `Cookie:` header line for the session.
pub fn login(addr: SocketAddr, username: &str, password: &str) -> Result<String, (u16, String)> {
    let body = format!(r#"{{"username":"{username}","password":"{password}"}}"#);
    let (status, head, body) = http_with(addr, "POST", "/api/v1/session", Some(&body), "")
        .map_err(|e| (0, e.to_string()))?;
    if status != 200 {
        return Err((status, body));
    }
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie");
    Ok(format!("Cookie: {cookie}\r\n"))
}

pub fn start(data: &std::path::Path, addr: SocketAddr) -> Child {
    start_with(data, addr, &[])
}

/// Where a started server listens, as it reported (it binds port 0 when
/// asked, so no other process can take the port between choosing and
/// binding), and what it has written to stderr so far.
#[derive(Clone)]
pub struct Bound {
    pub http: SocketAddr,
    pub sip: Option<SocketAddr>,
    pub log: std::sync::Arc<Mutex<String>>,
}

impl Bound {
    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// Starts the server (with the demo organisations and log-ins, without
/// simulated traffic unless `extra` asks for it) on `addr` and logs in as
/// the trust's demo supervisor.
pub fn start_with(data: &std::path::Path, addr: SocketAddr, extra: &[&str]) -> Child {
    let (child, bound) = launch(data, addr, extra);
    assert_eq!(bound.http, addr);
    child
}

/// Starts the server on a port of its own choosing (port 0) and answers
/// where it listens; as `start_with` otherwise.
pub fn start_any(data: &std::path::Path, extra: &[&str]) -> (Child, SocketAddr) {
    let (child, bound) = launch(data, SocketAddr::from(([127, 0, 0, 1], 0)), extra);
    (child, bound.http)
}

/// Starts the server and waits for it to say where it listens (HTTP, and
/// SIP unless off). Its stderr is copied to the test's (shown when a test
/// fails) and kept in `Bound::log`; the test fails at once if the server
/// exits before listening, with what it said.
pub fn launch(data: &std::path::Path, addr: SocketAddr, extra: &[&str]) -> (Child, Bound) {
    let mut args = vec![
        "serve".to_string(),
        "--data".into(),
        data.to_str().unwrap().into(),
        "--listen".into(),
        addr.to_string(),
    ];
    if !extra.contains(&"--demo") {
        args.extend([
            "--demo".into(),
            "--demo-calls-per-minute".into(),
            "0".into(),
        ]);
    }
    let wants_sip = match extra.iter().position(|a| *a == "--sip") {
        Some(i) => extra.get(i + 1) != Some(&"off"),
        None => {
            args.extend(["--sip".into(), "off".into()]);
            false
        }
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (http, sip, log) = listening_on(&mut child, wants_sip);
    wait_healthy(http);
    let cookie = login(http, "kent.supervisor", DEMO_PASSWORD).expect("demo supervisor log-in");
    set_auth(http, cookie);
    (child, Bound { http, sip, log })
}

/// Waits for a server started with its stderr piped to say where it
/// listens (HTTP or HTTPS, and SIP when `sip`); copies its stderr to the
/// test's and keeps it. Fails the test if the server exits first.
#[allow(clippy::type_complexity)]
pub fn listening_on(
    child: &mut Child,
    wants_sip: bool,
) -> (
    SocketAddr,
    Option<SocketAddr>,
    std::sync::Arc<Mutex<String>>,
) {
    use std::io::BufRead;
    let log = std::sync::Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel::<(bool, SocketAddr)>();
    let stderr = child.stderr.take().unwrap();
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("[server] {line}");
            let after = |marker: &str| {
                line.split_once(marker)
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .and_then(|a| a.parse::<SocketAddr>().ok())
            };
            if let Some(a) =
                after("listening on http://").or_else(|| after("listening on https://"))
            {
                let _ = tx.send((true, a));
            }
            if let Some(a) = after("SIP on udp/tcp ") {
                let _ = tx.send((false, a));
            }
            let mut k = kept.lock().unwrap();
            k.push_str(&line);
            k.push('\n');
        }
    });
    let (mut http, mut sip) = (None, None);
    let t0 = Instant::now();
    while http.is_none() || (wants_sip && sip.is_none()) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((true, a)) => http = Some(a),
            Ok((false, a)) => sip = Some(a),
            Err(_) => {
                if let Some(st) = child.try_wait().unwrap() {
                    std::thread::sleep(Duration::from_millis(100));
                    panic!(
                        "the server exited ({st}) before listening:\n{}",
                        log.lock().unwrap()
                    );
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "the server did not say where it listens within 30 s:\n{}",
                    log.lock().unwrap()
                );
            }
        }
    }
    (http.unwrap(), sip, log)
}

/// Where a server started with its stderr piped listens (see `listening_on`).
pub fn listening(child: &mut Child) -> SocketAddr {
    listening_on(child, false).0
}

/// Where a server whose output goes to the file `log` listens, once it
/// says so there. Fails the test if the server exits first.
pub fn listening_in(log: &std::path::Path, child: &mut Child) -> SocketAddr {
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(a) = text
            .split("listening on http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
        {
            return a.parse().expect(a);
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the server exited: {text}"
        );
        assert!(t0.elapsed() < Duration::from_secs(30), "{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn wait_healthy(addr: SocketAddr) {
    let t0 = Instant::now();
    while http_with(addr, "GET", "/healthz", None, "")
        .map(|r| r.0)
        .ok()
        != Some(200)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server on a fresh data directory, listening where it chose.
pub fn fresh(name: &str) -> (std::path::PathBuf, SocketAddr, Child) {
    let data = std::env::temp_dir().join(format!("sb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let (server, addr) = start_any(&data, &[]);
    (data, addr, server)
}

pub fn kill(mut server: Child, data: &std::path::Path) {
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(data);
}

/// Stops the server cleanly (SIGTERM; it writes what it holds, such as the
/// log-in throttle's audit summary) and waits for it, at most 30 s.
pub fn stop(mut server: Child) {
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let t0 = Instant::now();
    while server.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(30) {
            server.kill().unwrap();
            panic!("the server did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The audit records (actor, subject, origin, outcome) whose action is
/// `action`, from a stopped server's data directory.
pub fn audit_rows(data: &std::path::Path, action: &str) -> Vec<(String, String, String, String)> {
    let db = rusqlite::Connection::open(data.join("switchboard.db")).unwrap();
    let mut q = db
        .prepare(
            "SELECT actor, subject, COALESCE(origin, ''), outcome FROM audit_log
             WHERE action = ?1 ORDER BY seq",
        )
        .unwrap();
    q.query_map([action], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Imports the example Kent Directory of Services (a pharmacy on a high
/// street, practices, a UTC, an ED…) into organisation 1 of a stopped
/// server's data, with the shared postcode centroids when `centroids`.
pub fn import_example_directory(data: &std::path::Path, centroids: bool) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args([
        "dos",
        "import",
        "--data",
        data.to_str().unwrap(),
        "--org",
        "1",
    ])
    .args([
        "--directory",
        &format!("{root}examples/dos/kent-directory.json"),
    ])
    .args(["--pathways", &format!("{root}pathways/demo.json")]);
    if centroids {
        cmd.args([
            "--centroids",
            &format!("{root}../shared/data/uk-outcode-centroids-2014.csv"),
        ]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A code from oathtool (the Debian package), `at` a date it understands.
pub fn oathtool(secret: &str, at: &str) -> String {
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", "-N", at, secret])
        .output()
        .expect("oathtool (apt-get install oathtool)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The first day after today (London) that `pick` accepts and that is not
/// an England and Wales bank holiday, at `h:m` London time, RFC 3339. The
/// tests that search the directory "when practices are open" use it: a
/// plain "next weekday" fell on Christmas Day or a bank-holiday Monday
/// several times a year, and the test failed by the calendar.
pub fn next_working_day(pick: impl Fn(jiff::civil::Weekday) -> bool, h: i8, m: i8) -> String {
    let tz = jiff::tz::TimeZone::get("Europe/London").unwrap();
    let mut d = jiff::Timestamp::now()
        .to_zoned(tz.clone())
        .date()
        .tomorrow()
        .unwrap();
    while !pick(d.weekday()) || flow::holidays::is_england_and_wales(d) {
        d = d.tomorrow().unwrap();
    }
    d.at(h, m, 0, 0)
        .to_zoned(tz)
        .unwrap()
        .timestamp()
        .to_string()
}

/// Waits (up to 10 s) until the wallboard shows `agent`'s phone (SIP or
/// browser) connected or not, as `want` says.
pub fn phone_shown(addr: SocketAddr, agent: u64, want: bool) {
    let t0 = Instant::now();
    loop {
        let them = agent_view(addr, agent);
        if them["phone"] == want {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{them:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What `GET /api/v1/agents` says of `agent`.
pub fn agent_view(addr: SocketAddr, agent: u64) -> serde_json::Value {
    let (_, body) = http(addr, "GET", "/api/v1/agents", None).unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == agent)
        .cloned()
        .unwrap()
}

/// Waits (up to 30 s) for a contact of `media` (`chat`, `email`, `sms`,
/// `voice`) to be offered to `agent`, other than those in `not`; accepts it
/// as that agent (with the session `cookie`); its id.
#[allow(dead_code)]
pub fn accept_offered(addr: SocketAddr, cookie: &str, agent: u64, media: &str, not: &[u64]) -> u64 {
    let t0 = std::time::Instant::now();
    let contact = loop {
        let me = agent_view(addr, agent);
        let offered = me["work"].as_array().and_then(|w| {
            w.iter()
                .find(|x| {
                    x[1] == media && x[2] == "offered" && !not.contains(&x[0].as_u64().unwrap_or(0))
                })
                .and_then(|x| x[0].as_u64())
        });
        if let Some(c) = offered {
            break c;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "no {media} offered: {me:#}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let body = format!("{{\"agent\": {agent}}}");
    let (s, _, b) = http_with(
        addr,
        "POST",
        &format!("/api/v1/contacts/{contact}/accept"),
        Some(&body),
        cookie,
    )
    .unwrap();
    assert_eq!(s, 200, "accept: {b}");
    contact
}
