//! Telephony journeys with a real third-party SIP client: SIPp (Debian's
//! sip-tester, installed by scripts/test.sh) plays callers and agents'
//! phones against `serve` on loopback, with the scenarios in `sipp/`. The
//! checks read SIPp's exit code and the server's own record of each call
//! (`GET /api/v1/voice/calls`) and state (agents, contacts).

mod common;

use common::*;
use common::{audio, ua};
use serde_json::Value;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use telephony::g711::Codec;

const MAIN: &str = "+441632960000";
const WHEELCHAIRS: &str = "+441632960002";

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sipp")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Spoken prompts are made once for every test (espeak-ng is slowish).
fn prompt_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("prompts")
}

struct Server {
    data: PathBuf,
    http: SocketAddr,
    sip: SocketAddr,
    child: Option<Child>,
    /// What the server wrote to stderr.
    bound: Bound,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            kill(c, &self.data);
        }
    }
}

fn server(name: &str) -> Server {
    server_with(name, &[])
}

fn server_with(name: &str, extra: &[&str]) -> Server {
    let data = std::env::temp_dir().join(format!("sb-sip-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let cache = prompt_cache();
    let mut args = vec!["--sip", "127.0.0.1:0", "--prompts", cache.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (child, bound) = launch(&data, "127.0.0.1:0".parse().unwrap(), &args);
    Server {
        data,
        http: bound.http,
        sip: bound.sip.expect("the SIP edge's address"),
        child: Some(child),
        bound,
    }
}

/// Runs SIPp to the end; answers its exit code and what it printed.
fn sipp(s: &Server, args: &[&str], wait: Duration) -> (i32, String) {
    let child = spawn_sipp(s, args);
    finish(child, wait)
}

fn spawn_sipp(s: &Server, args: &[&str]) -> Child {
    let mut cmd = Command::new("sipp");
    cmd.arg(s.sip.to_string())
        .args([
            "-i",
            "127.0.0.1",
            "-nostdin",
            "-timeout_error",
            "-trace_err",
        ])
        .args(args)
        .current_dir(&s.data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn()
        .expect("sipp (Debian sip-tester) is installed by scripts/test.sh")
}

fn finish(mut child: Child, wait: Duration) -> (i32, String) {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (st.code().unwrap_or(-1), text);
        }
        if t0.elapsed() > wait {
            let _ = child.kill();
            let _ = child.wait();
            return (-1, "sipp did not finish in time".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn errors(s: &Server) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(&s.data).unwrap().flatten() {
        if e.file_name().to_string_lossy().ends_with("_errors.log") {
            out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    out
}

fn journal(s: &Server) -> Vec<Value> {
    let (st, body) = http(s.http, "GET", "/api/v1/voice/calls", None).unwrap();
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["calls"].as_array().unwrap().clone()
}

/// Waits until the newest call satisfies `f` (the server finishes a call
/// just after SIPp's last message).
fn newest_call(s: &Server, f: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let j = journal(s);
        if let Some(c) = j.first() {
            if f(c) {
                return c.clone();
            }
            if t0.elapsed() > Duration::from_secs(10) {
                panic!("the call never got there: {c:#}");
            }
        } else if t0.elapsed() > Duration::from_secs(10) {
            panic!("no call in the journal");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn caller(s: &Server, number: &str, talk_ms: u32) -> Child {
    let port = free_port().port().to_string();
    let media = free_port().port().to_string();
    spawn_sipp(
        s,
        &[
            "-sf",
            &scenario("caller_press2.xml"),
            "-s",
            number,
            "-d",
            &talk_ms.to_string(),
            "-m",
            "1",
            "-p",
            &port,
            "-mp",
            &media,
            "-timeout",
            "60",
        ],
    )
}

/// Registers the demo agent's phone at `phone` (where a SIPp UAS listens).
fn register(s: &Server, user: &str, phone: SocketAddr) -> (i32, String) {
    register_with(s, user, DEMO_PASSWORD, phone)
}

fn register_with(s: &Server, user: &str, password: &str, phone: SocketAddr) -> (i32, String) {
    registration(s, "register.xml", user, password, phone)
}

fn registration(
    s: &Server,
    file: &str,
    user: &str,
    password: &str,
    phone: SocketAddr,
) -> (i32, String) {
    let csv = s.data.join(format!("register-{user}.csv"));
    std::fs::write(&csv, format!("SEQUENTIAL\n{user};x;{phone}\n")).unwrap();
    let port = free_port().port().to_string();
    sipp(
        s,
        &[
            "-sf",
            &scenario(file),
            "-inf",
            csv.to_str().unwrap(),
            "-au",
            user,
            "-ap",
            password,
            "-m",
            "1",
            "-p",
            &port,
            "-timeout",
            "10",
        ],
        Duration::from_secs(20),
    )
}

/// The demo agent's phone comes on and the agent is ready: the server
/// rings the agent, then the caller's home phone, and bridges them until
/// the caller hangs up. Answers the journal's record of the callback.
fn agent_comes_and_the_caller_is_rung_back(s: &Server, home_phone: Child) -> Value {
    let at = free_port();
    let agent_phone = phone(s, "agent_answer.xml", at);
    std::thread::sleep(Duration::from_millis(300));
    let (code, out) = register(s, "kent.agent", at);
    assert_eq!(code, 0, "register: {out}");
    agent_ready(s);
    let (code, out) = finish(home_phone, Duration::from_secs(40));
    assert_eq!(code, 0, "home phone: {out}\n{}", errors(s));
    let (code, out) = finish(agent_phone, Duration::from_secs(20));
    assert_eq!(code, 0, "agent phone: {out}\n{}", errors(s));
    newest_call(s, |c| c["direction"] == "outbound" && c["state"] == "ended")
}

/// The caller's home phone, rung back through the trunk: answers, talks
/// for `talk_ms`, hangs up.
fn home_phone(s: &Server, at: SocketAddr, talk_ms: u32) -> Child {
    let media = free_port().port().to_string();
    let talk = talk_ms.to_string();
    spawn_sipp(
        s,
        &[
            "-sf",
            &scenario("home_answer.xml"),
            "-m",
            "1",
            "-p",
            &at.port().to_string(),
            "-mp",
            &media,
            "-rtp_echo",
            "-d",
            &talk,
            "-timeout",
            "60",
        ],
    )
}

fn phone(s: &Server, scenario_file: &str, at: SocketAddr) -> Child {
    let media = free_port().port().to_string();
    spawn_sipp(
        s,
        &[
            "-sf",
            &scenario(scenario_file),
            "-m",
            "1",
            "-p",
            &at.port().to_string(),
            "-mp",
            &media,
            "-rtp_echo",
            "-timeout",
            "60",
        ],
    )
}

/// The demo agent (Alice, agent 1: wheelchairs) logs in and is ready.
fn agent_ready(s: &Server) {
    person_ready(s, "kent.agent", 1);
}

/// A demo person who works as `agent` logs in and is ready.
fn person_ready(s: &Server, user: &str, agent: u32) {
    let cookie = login(s.http, user, DEMO_PASSWORD).unwrap();
    let origin = format!("Origin: http://{}\r\n", s.http);
    let (st, _, body) = http_with(
        s.http,
        "POST",
        &format!("/api/v1/agents/{agent}/presence"),
        Some(r#"{"presence":"ready"}"#),
        &format!("{cookie}{origin}"),
    )
    .unwrap();
    assert_eq!(st, 200, "{body}");
}

fn agent_status(s: &Server, agent: u64) -> String {
    agent_view(s.http, agent)["status"].to_string()
}

#[test]
fn a_caller_keys_through_the_menu_hears_their_place_and_hangs_up_in_the_queue() {
    let s = server("queue");
    let (code, out) = finish(caller(&s, WHEELCHAIRS, 3000), Duration::from_secs(40));
    assert_eq!(code, 0, "{out}\n{}", errors(&s));
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["flow"], "wheelchairs");
    assert_eq!(c["keys"], "2", "{c:#}");
    assert_eq!(
        c["path"],
        serde_json::json!(["menu", "language", "queue"]),
        "{c:#}"
    );
    assert_eq!(c["announced"], serde_json::json!([1]), "{c:#}");
    assert_eq!(c["codec"], "PCMA");
    assert_eq!(c["outcome"], "abandoned_in_queue", "{c:#}");
    // The engine counted it: the contact is over (no longer live) and
    // today's one offered contact was abandoned, early.
    let id = c["contact"].as_u64().unwrap();
    let (st, body) = http(s.http, "GET", &format!("/api/v1/contacts/{id}"), None).unwrap();
    assert_eq!(st, 404, "{body}");
    assert_eq!(body, format!(r#"{{"error":"unknown contact c{id}"}}"#));
    let (st, body) = http(s.http, "GET", "/api/v1/kpis", None).unwrap();
    assert_eq!(st, 200, "{body}");
    let k: Value = serde_json::from_str(&body).unwrap();
    let counts = &k["overall"]["counts"];
    assert_eq!(counts["offered"], 1, "{counts:#}");
    assert_eq!(counts["abandoned"], 1, "{counts:#}");
    assert_eq!(counts["abandoned_under_30s"], 1, "{counts:#}");
    assert_eq!(counts["answered"], 0, "{counts:#}");
}

#[test]
fn a_registered_agent_phone_is_rung_and_bridged_to_the_caller() {
    let s = server("bridge");
    let at = free_port();
    let uas = phone(&s, "agent_answer.xml", at);
    std::thread::sleep(Duration::from_millis(300));
    let (code, out) = register(&s, "kent.agent", at);
    assert_eq!(code, 0, "register: {out}\n{}", errors(&s));
    agent_ready(&s);
    let call = caller(&s, WHEELCHAIRS, 6000);
    // Connected: the agent holds the call from the desktop (the caller
    // hears music) and takes it back.
    let c = newest_call(&s, |c| c["bridged"] == true);
    let id = c["contact"].as_u64().unwrap();
    let cookie = login(s.http, "kent.agent", DEMO_PASSWORD).unwrap();
    let head = format!("{cookie}Origin: http://{}\r\n", s.http);
    for (action, held) in [("hold", true), ("resume", false)] {
        let path = format!("/api/v1/contacts/{id}/{action}");
        let (st, _, body) = http_with(s.http, "POST", &path, Some("{}"), &head).unwrap();
        assert_eq!(st, 200, "{action}: {body}");
        newest_call(&s, |c| c["agent_hold"] == held);
    }
    let (code, out) = finish(call, Duration::from_secs(40));
    assert_eq!(code, 0, "caller: {out}\n{}", errors(&s));
    let (code, out) = finish(uas, Duration::from_secs(20));
    assert_eq!(code, 0, "agent phone: {out}\n{}", errors(&s));
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["agent"], 1, "{c:#}");
    assert_eq!(c["bridged"], true, "{c:#}");
    assert_eq!(c["outcome"], "ended_by_caller", "{c:#}");
    // The agent is wrapping up the call the phone took.
    assert!(
        agent_status(&s, 1).contains("wrap"),
        "{}",
        agent_status(&s, 1)
    );
}

#[test]
fn a_phone_that_refuses_makes_the_agent_not_ready_and_the_caller_keeps_their_place() {
    let s = server("refuse");
    let at = free_port();
    let uas = phone(&s, "agent_busy.xml", at);
    std::thread::sleep(Duration::from_millis(300));
    let (code, out) = register(&s, "kent.agent", at);
    assert_eq!(code, 0, "register: {out}");
    agent_ready(&s);
    let call = caller(&s, WHEELCHAIRS, 5000);
    let (code, out) = finish(uas, Duration::from_secs(30));
    assert_eq!(code, 0, "agent phone: {out}\n{}", errors(&s));
    // Still queued, not lost; the agent is not ready.
    let c = newest_call(&s, |c| !c["missed_by"].as_array().unwrap().is_empty());
    assert_eq!(c["missed_by"], serde_json::json!([1]));
    assert_eq!(c["state"], "queued", "{c:#}");
    assert!(
        agent_status(&s, 1).contains("not_ready"),
        "{}",
        agent_status(&s, 1)
    );
    let (code, out) = finish(call, Duration::from_secs(30));
    assert_eq!(code, 0, "caller: {out}\n{}", errors(&s));
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["outcome"], "abandoned_in_queue", "{c:#}");
}

/// Sends one datagram and answers the first line of the reply, if any.
fn udp(to: SocketAddr, msg: &str) -> Option<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    sock.send_to(msg.as_bytes(), to).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        let first = text.lines().next().unwrap_or("").to_string();
        // Skip provisional answers.
        if !first.starts_with("SIP/2.0 1") {
            return Some(first);
        }
    }
}

fn request(method: &str, to: SocketAddr, extra: &str, body: &str, length: Option<usize>) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = format!(
        "{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    format!(
        "{method} sip:{MAIN}@{to} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK{n}{method}{}\r\nFrom: <sip:+447700900123@127.0.0.1>;tag=t{n}\r\nTo: <sip:{MAIN}@{to}>\r\nCall-ID: {method}-{n}-{}@test\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len(),
        body.len(),
        length.unwrap_or(body.len())
    )
}

#[test]
fn bad_sip_gets_an_error_or_is_dropped_and_the_edge_carries_on() {
    let s = server("garbage");
    let to = s.sip;
    // Garbage and a message with no usable Via cannot be answered (there
    // is nowhere to send a response): dropped. A body shorter than its
    // Content-Length over UDP: 400 (RFC 3261 §18.3).
    assert_eq!(udp(to, "\u{0}\u{1}\u{2}garbage"), None);
    assert_eq!(udp(to, "INVITE sip:x SIP/2.0\r\nVia: broken\r\n"), None);
    let lie = request(
        "INVITE",
        to,
        "Content-Type: application/sdp\r\n",
        "v=0\r\n",
        Some(5000),
    );
    assert_eq!(udp(to, &lie).as_deref(), Some("SIP/2.0 400 Bad Request"));
    // What RFC 3261 calls bad, on a request that is otherwise answered
    // 200: a Content-Length longer than the body (§18.3), two
    // Content-Lengths, a CSeq naming another method (§8.1.1.5): 400; a
    // version other than 2.0: 505 (§21.5.7).
    // (Each a new transaction: a repeated branch is a retransmission.)
    let options = || request("OPTIONS", to, "", "", None);
    type Change = fn(&str) -> String;
    let bad: [(&str, Change, &str); 4] = [
        (
            "long",
            |m| m.replace("Content-Length: 0", "Content-Length: 40"),
            "400 Bad Request",
        ),
        (
            "twice",
            |m| {
                m.replace(
                    "Content-Length: 0",
                    "Content-Length: 0\r\nContent-Length: 0",
                )
            },
            "400 Bad Request",
        ),
        (
            "cseq",
            |m| m.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"),
            "400 Bad Request",
        ),
        (
            "v3",
            |m| m.replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1),
            "505 Version Not Supported",
        ),
    ];
    for (what, change, status) in bad {
        let good = options();
        let m = change(&good);
        assert_ne!(m, good, "{what}: the request was not changed");
        assert_eq!(udp(to, &m), Some(format!("SIP/2.0 {status}")), "{what}");
    }
    assert_eq!(udp(to, &options()).as_deref(), Some("SIP/2.0 200 OK"));
    // A method it does not take: 405.
    assert_eq!(
        udp(to, &request("SUBSCRIBE", to, "", "", None)).as_deref(),
        Some("SIP/2.0 405 Method Not Allowed")
    );
    // A method the SIP stack cannot parse at all is dropped (RFC 3261
    // would have 501; the stack's parser knows a fixed set of methods).
    assert_eq!(udp(to, &request("FROBNICATE", to, "", "", None)), None);
    // An offer with no codec in common: 488.
    let g729 = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
    let r = udp(
        to,
        &request(
            "INVITE",
            to,
            "Contact: <sip:x@127.0.0.1:9>\r\nContent-Type: application/sdp\r\n",
            g729,
            None,
        ),
    )
    .unwrap_or_default();
    assert!(r.starts_with("SIP/2.0 488 "), "{r}");
    // A number nobody answers: 404.
    let r = udp(
        to,
        &request(
            "INVITE",
            to,
            "Contact: <sip:x@127.0.0.1:9>\r\nContent-Type: application/sdp\r\n",
            g729,
            None,
        )
        .replace(MAIN, "+441632960999"),
    )
    .unwrap_or_default();
    assert!(r.starts_with("SIP/2.0 404 "), "{r}");
    // A phone with the wrong password is refused, by code.
    let mut phone = ua::Ua::new(s.sip, "kent.agent");
    assert_eq!(phone.register("not-the-password"), 403);
    // Bounded fuzzing of the wire: 1,500 mutations of valid INVITE,
    // REGISTER and OPTIONS messages (bytes changed, cut, repeated), sent
    // without waiting for answers.
    let g711 = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    let bases = [
        request("INVITE", to, "Contact: <sip:x@127.0.0.1:9>\r\nContent-Type: application/sdp\r\n", g711, None),
        request("REGISTER", to, "Contact: <sip:kent.agent@127.0.0.1:9>\r\nAuthorization: Digest username=\"kent.agent\", realm=\"switchboard\", nonce=\"1.2\", uri=\"sip:x\", response=\"00\"\r\n", "", None),
        request("OPTIONS", to, "", "", None),
    ];
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..1500 {
        let mut m = bases[i % bases.len()].clone().into_bytes();
        for _ in 0..(next() % 6) {
            let at = (next() as usize) % m.len();
            m[at] = next() as u8;
        }
        if next() % 3 == 0 {
            m.truncate(1 + (next() as usize) % m.len());
        }
        let _ = sock.send_to(&m, to);
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Still alive: OPTIONS is answered and a real call still works.
    let r = udp(to, &request("OPTIONS", to, "", "", None)).unwrap_or_default();
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    let (code, out) = finish(caller(&s, WHEELCHAIRS, 500), Duration::from_secs(40));
    assert_eq!(code, 0, "{out}\n{}", errors(&s));
}

#[test]
fn a_callback_keeps_the_place_and_rings_the_agent_then_the_caller() {
    // The caller's home phone, where they will be rung back through the
    // trunk at their number.
    let home = free_port();
    let s = server_with("callback", &["--sip-trunk", &home.to_string()]);
    let home_phone = home_phone(&s, home, 2000);
    let (code, out) = sipp(
        &s,
        &[
            "-sf",
            &scenario("caller_callback.xml"),
            "-s",
            WHEELCHAIRS,
            "-m",
            "1",
            "-p",
            &free_port().port().to_string(),
            "-mp",
            &free_port().port().to_string(),
            "-timeout",
            "60",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "caller: {out}\n{}", errors(&s));
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["keys"], "21", "{c:#}");
    assert_eq!(c["callback_requested"], true, "{c:#}");
    assert_eq!(c["outcome"], "callback_requested", "{c:#}");
    let contact = c["contact"].as_u64().unwrap();
    // The callback waits in the queue with the caller's place.
    let (st, body) = http(s.http, "GET", &format!("/api/v1/contacts/{contact}"), None).unwrap();
    assert_eq!(st, 200, "{body}");
    // An agent's phone comes on and the agent is ready: the server rings
    // the agent, then the caller, and bridges them.
    let c = agent_comes_and_the_caller_is_rung_back(&s, home_phone);
    assert_eq!(c["contact"], contact, "{c:#}");
    assert_eq!(c["agent"], 1, "{c:#}");
    assert_eq!(c["bridged"], true, "{c:#}");
    assert_eq!(c["outcome"], "ended_by_caller", "{c:#}");
}

#[test]
fn keys_by_sip_info_and_hold_by_re_invite_over_tcp() {
    let s = server("info");
    let (code, out) = sipp(
        &s,
        &[
            "-sf",
            &scenario("caller_info_hold.xml"),
            "-t",
            "t1",
            "-s",
            WHEELCHAIRS,
            "-m",
            "1",
            "-p",
            &free_port().port().to_string(),
            "-mp",
            &free_port().port().to_string(),
            "-timeout",
            "30",
        ],
        Duration::from_secs(40),
    );
    assert_eq!(code, 0, "{out}\n{}", errors(&s));
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["keys"], "2", "{c:#}");
    assert_eq!(c["path"], serde_json::json!(["menu", "language", "queue"]));
    assert_eq!(c["held"], true, "{c:#}");
    assert_eq!(c["outcome"], "abandoned_in_queue", "{c:#}");
}

#[test]
fn self_service_by_keys_collects_an_nhs_number_without_logging_it() {
    let s = server("selfservice");
    let (code, out) = sipp(
        &s,
        &[
            "-sf",
            &scenario("caller_nhs.xml"),
            "-s",
            WHEELCHAIRS,
            "-m",
            "1",
            "-p",
            &free_port().port().to_string(),
            "-mp",
            &free_port().port().to_string(),
            "-timeout",
            "60",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{out}\n{}", errors(&s));
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(
        c["path"],
        serde_json::json!([
            "menu",
            "nhs-number",
            "return",
            "self_service:wheelchair_return",
            "bye"
        ]),
        "{c:#}"
    );
    // The menu key is kept; the NHS number's digits are masked.
    assert_eq!(c["keys"], "1••••••••••", "{c:#}");
    assert_eq!(c["outcome"], "self_served", "{c:#}");
    // No contact for an agent: the caller served themselves.
    assert_eq!(c["contact"], Value::Null);
    // The number appears nowhere in what the server says about calls.
    let (_, body) = http(s.http, "GET", "/api/v1/voice/calls", None).unwrap();
    assert!(!body.contains("9990000018"));
    // Nor in anything the server logged (its stderr, every line).
    let log = s.bound.log();
    assert!(log.contains("SIP on udp/tcp"), "the log was read: {log}");
    assert!(!log.contains("9990000018"), "{log}");
}

/// A phone that unregistered is no longer rung: the engine knows the
/// agent has no phone, so the real call is not offered to them at all
/// (before, it was offered, the call found the phone gone and made the
/// agent not ready); the caller keeps their place, the agent stays ready.
#[test]
fn a_phone_that_unregistered_is_not_offered_the_call_and_the_caller_keeps_their_place() {
    let s = server("unregister");
    let at = free_port();
    // The wallboard shows whether each agent's phone is connected.
    let phone_shown = |want: bool| phone_shown(s.http, 1, want);
    phone_shown(false);
    let (code, out) = register(&s, "kent.agent", at);
    assert_eq!(code, 0, "register: {out}");
    phone_shown(true);
    let (code, out) = registration(&s, "unregister.xml", "kent.agent", DEMO_PASSWORD, at);
    assert_eq!(code, 0, "unregister: {out}");
    phone_shown(false);
    agent_ready(&s);
    let call = caller(&s, WHEELCHAIRS, 4000);
    let c = newest_call(&s, |c| c["state"] == "queued");
    std::thread::sleep(Duration::from_secs(2));
    let c = newest_call(&s, |x| x["id"] == c["id"]);
    assert_eq!(c["state"], "queued", "{c:#}");
    assert_eq!(c["missed_by"], serde_json::json!([]), "{c:#}");
    assert!(
        agent_status(&s, 1).contains("available"),
        "{}",
        agent_status(&s, 1)
    );
    let (code, out) = finish(call, Duration::from_secs(30));
    assert_eq!(code, 0, "caller: {out}\n{}", errors(&s));
}

/// The caller's side of a call made by hand: answers the RTP packets the
/// server sent in `listen` and the first 200 OK's To tag.
fn call_and_listen(s: &Server, number: &str, listen: Duration) -> Vec<(Instant, Vec<u8>)> {
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    sip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    rtp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let sdp = format!(
        "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        rtp.local_addr().unwrap().port()
    );
    let contact = format!(
        "Contact: <sip:x@{}>\r\nContent-Type: application/sdp\r\n",
        sip.local_addr().unwrap()
    );
    let invite = request("INVITE", s.sip, &contact, &sdp, None).replace(MAIN, number);
    sip.send_to(invite.as_bytes(), s.sip).unwrap();
    let mut buf = [0u8; 4096];
    let ok = loop {
        let (n, _) = sip.recv_from(&mut buf).expect("an answer to the INVITE");
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.starts_with("SIP/2.0 200") {
            break text;
        }
        assert!(text.starts_with("SIP/2.0 1"), "{text}");
    };
    let to = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .unwrap()
        .to_string();
    let ack = invite
        .replace("INVITE sip:", "ACK sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
        .lines()
        .map(|l| {
            if l.starts_with("To:") {
                to.clone()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let ack = ack.split("\r\n\r\n").next().unwrap().replace(
        &format!("Content-Length: {}", sdp.len()),
        "Content-Length: 0",
    ) + "\r\n\r\n";
    sip.send_to(ack.as_bytes(), s.sip).unwrap();
    let mut got = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < listen {
        if let Ok(n) = rtp.recv(&mut buf) {
            got.push((Instant::now(), buf[..n].to_vec()));
        }
    }
    got
}

#[test]
fn the_caller_hears_the_announcement_then_music_paced_every_20_ms() {
    let s = server("media");
    // Physiotherapy: no menu, straight to the queue.
    let packets = call_and_listen(&s, "+441632960003", Duration::from_secs(4));
    assert!(packets.len() >= 180, "{} packets in 4 s", packets.len());
    let mut seq = None;
    let mut frames = Vec::new();
    for (_, p) in &packets {
        let r = telephony::rtp::parse(p).expect("RTP");
        assert_eq!(r.payload_type, 8);
        assert_eq!(r.payload.len(), 160);
        if let Some(prev) = seq {
            assert_eq!(
                r.sequence,
                u16::wrapping_add(prev, 1),
                "no gaps or reordering"
            );
        }
        seq = Some(r.sequence);
        frames.push(audio::decode(r.payload, r.payload_type).unwrap());
    }
    // First "you are number one in the queue", spoken (espeak-ng's voice,
    // not the beep the server falls back to without it), then the hold
    // music's notes (392, 494, 587 Hz).
    let note = |f: f64| [392.0, 494.0, 587.0].iter().any(|n| (f - n).abs() <= 15.0);
    let heard: Vec<audio::Heard> = frames.iter().map(|f| audio::hear(f)).collect();
    let music = heard
        .iter()
        .position(|h| matches!(h, audio::Heard::Tone(f) if note(*f)))
        .unwrap_or_else(|| panic!("no hold music in 4 s: {heard:?}"));
    assert!(
        music >= 40,
        "music after {music} frames: the announcement is missing"
    );
    if let Err(e) = audio::is_speech(&frames[..music]) {
        panic!("the announcement is not speech: {e}");
    }
    let after = &heard[music..];
    let notes = after
        .iter()
        .filter(|h| matches!(h, audio::Heard::Tone(f) if note(*f)))
        .count();
    let audible = after
        .iter()
        .filter(|h| **h != audio::Heard::Silence)
        .count();
    assert!(
        notes * 10 >= audible * 9 && audible >= 20,
        "after the announcement, {notes} of {audible} audible frames are the music's notes: {after:?}"
    );
    let mut gaps: Vec<f64> = packets
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).as_secs_f64() * 1000.0)
        .collect();
    gaps.sort_by(f64::total_cmp);
    let median = gaps[gaps.len() / 2];
    // Paced, not sent in bursts (the pacing itself is measured in BENCHMARKS.md).
    assert!((10.0..30.0).contains(&median), "median gap {median} ms");
    let c = newest_call(&s, |c| c["announced"] == serde_json::json!([1]));
    assert_eq!(c["state"], "queued", "{c:#}");
}

#[test]
fn a_caller_waiting_when_the_server_dies_keeps_their_place_and_is_rung_back() {
    let home = free_port();
    let trunk = home.to_string();
    let mut s = server_with("restart", &["--sip-trunk", &trunk]);
    let call = caller(&s, WHEELCHAIRS, 30_000);
    let c = newest_call(&s, |c| c["state"] == "queued");
    let id = c["contact"].as_u64().unwrap();
    // kill -9 while the caller waits; the call's media dies with it.
    let mut child = s.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let cache = prompt_cache();
    let sip = s.sip.to_string();
    s.child = Some(start_with(
        &s.data,
        s.http,
        &[
            "--sip",
            &sip,
            "--prompts",
            cache.to_str().unwrap(),
            "--sip-trunk",
            &trunk,
        ],
    ));
    let (st, body) = http(s.http, "GET", &format!("/api/v1/contacts/{id}"), None).unwrap();
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["channel"], "callback", "{v:#}");
    assert_eq!(v["state"], "waiting", "{v:#}");
    // The call's record survived too, marked as cut off.
    let j = journal(&s);
    assert!(
        j.iter()
            .any(|c| c["contact"] == id && c["outcome"] == "cut off: the server stopped"),
        "{j:#?}"
    );
    let _ = finish(call, Duration::from_secs(1));
    // An agent comes: the server rings the agent, then the caller's number
    // through the trunk.
    let home_phone = home_phone(&s, home, 1000);
    let c = agent_comes_and_the_caller_is_rung_back(&s, home_phone);
    assert_eq!(c["contact"], id, "{c:#}");
    assert_eq!(c["bridged"], true, "{c:#}");
}

#[test]
fn guessing_a_phone_password_is_limited_and_audited() {
    let s = server("guess");
    let mut phone = ua::Ua::new(s.sip, "kent.clinician");
    for i in 0..5 {
        assert_eq!(phone.register("a-wrong-guess"), 403, "guess {i}");
    }
    // Now even the right password is refused for a while.
    assert_eq!(
        phone.register(DEMO_PASSWORD),
        403,
        "the sixth try must be refused"
    );
    // Another account from the same address is not affected.
    let mut other = ua::Ua::new(s.sip, "kent.agent");
    assert_eq!(other.register(DEMO_PASSWORD), 200);
    // The refusals reach the audit trail as one summary per account and
    // address, not a row per attempt.
    let mut s = s;
    stop(s.child.take().unwrap());
    let rows: Vec<_> = audit_rows(&s.data, "register phone")
        .into_iter()
        .filter(|r| r.0 == "sip:kent.clinician")
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].2, "127.0.0.1");
    assert!(
        rows[0].3.starts_with("refused: 5 bad credentials, ")
            && rows[0].3.ends_with(" rate limited"),
        "{rows:?}"
    );
    let _ = std::fs::remove_dir_all(&s.data);
}

#[test]
fn a_transfer_rings_the_next_agents_phone_and_moves_the_caller_to_it() {
    let s = server("transfer");
    let (a, b) = (free_port(), free_port());
    let first = phone(&s, "agent_answer.xml", a);
    let second = phone(&s, "agent_answer.xml", b);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(register(&s, "kent.agent", a).0, 0);
    assert_eq!(register(&s, "kent.clinician", b).0, 0);
    agent_ready(&s);
    person_ready(&s, "kent.clinician", 8);
    // Long enough for the hand-over on a loaded machine.
    let call = caller(&s, WHEELCHAIRS, 15_000);
    let c = newest_call(&s, |c| c["bridged"] == true);
    let id = c["contact"].as_u64().unwrap();
    // Alice hands the caller to Hana (agent 8) at once.
    let cookie = login(s.http, "kent.agent", DEMO_PASSWORD).unwrap();
    let head = format!("{cookie}Origin: http://{}\r\n", s.http);
    let (st, _, body) = http_with(
        s.http,
        "POST",
        &format!("/api/v1/contacts/{id}/transfer"),
        Some(r#"{"from_agent":1,"agent":8,"mode":"cold"}"#),
        &head,
    )
    .unwrap();
    assert_eq!(st, 200, "{body}");
    // Hana's phone rings and takes the caller; Alice's phone is hung up.
    let (code, out) = finish(first, Duration::from_secs(20));
    assert_eq!(code, 0, "first phone: {out}\n{}", errors(&s));
    let c = newest_call(&s, |c| c["agent"] == 8);
    assert_eq!(c["state"], "connected", "{c:#}");
    let (code, out) = finish(call, Duration::from_secs(30));
    assert_eq!(code, 0, "caller: {out}\n{}", errors(&s));
    let (code, out) = finish(second, Duration::from_secs(20));
    assert_eq!(code, 0, "second phone: {out}\n{}", errors(&s));
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["outcome"], "ended_by_caller", "{c:#}");
}

#[test]
fn a_caller_who_hangs_up_in_the_menu_is_abandoned_in_the_ivr() {
    let s = server("ivr-abandon");
    let (code, out) = sipp(
        &s,
        &[
            "-sf",
            &scenario("caller_wait.xml"),
            "-s",
            WHEELCHAIRS,
            "-d",
            "300",
            "-m",
            "1",
            "-p",
            &free_port().port().to_string(),
            "-mp",
            &free_port().port().to_string(),
            "-timeout",
            "20",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{out}\n{}", errors(&s));
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["path"], serde_json::json!(["menu"]), "{c:#}");
    assert_eq!(c["outcome"], "abandoned_in_ivr", "{c:#}");
    assert_eq!(c["contact"], Value::Null, "no contact reached the queue");
}

#[test]
fn an_admin_points_a_number_at_a_loaded_flow_and_a_closed_service_says_so_and_hangs_up() {
    // A flow file given to `serve --flows`: a calendar that is never open.
    let file = std::env::temp_dir().join(format!("sb-closed-flow-{}.json", std::process::id()));
    std::fs::write(
        &file,
        r#"{ "id": "closed-line", "name": "Closed line (test)", "start": "hours",
             "calendars": { "never": { "weekly": [] } },
             "nodes": {
               "hours": { "type": "hours", "calendar": "never", "open": "bye", "closed": "closed" },
               "closed": { "type": "hang_up", "prompt": "test-closed", "text": "Sorry, we are closed." },
               "bye": { "type": "hang_up" } } }"#,
    )
    .unwrap();
    let s = server_with("closed", &["--flows", file.to_str().unwrap()]);
    let admin = login(s.http, "kent.admin", DEMO_PASSWORD).unwrap();
    let head = format!("{admin}Origin: http://{}\r\n", s.http);
    let put = |flow: &str| {
        let body = format!(
            r#"{{"name":"Closed line","queue":6,"entry_points":[{{"kind":"phone","address":"01632 960050"}}],"flow":"{flow}"}}"#
        );
        http_with(s.http, "PUT", "/api/v1/services/50", Some(&body), &head).unwrap()
    };
    // A flow that is not loaded is refused, by name.
    let (st, _, body) = put("no-such-flow");
    assert_eq!(st, 422, "{body}");
    assert!(body.contains("no-such-flow"), "{body}");
    let (st, _, body) = put("closed-line");
    assert_eq!(st, 201, "{body}");
    let (code, out) = sipp(
        &s,
        &[
            "-sf",
            &scenario("caller_listens.xml"),
            "-s",
            "+441632960050",
            "-m",
            "1",
            "-p",
            &free_port().port().to_string(),
            "-mp",
            &free_port().port().to_string(),
            "-timeout",
            "40",
        ],
        Duration::from_secs(45),
    );
    assert_eq!(code, 0, "{out}\n{}", errors(&s));
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["flow"], "closed-line");
    assert_eq!(c["path"], serde_json::json!(["hours", "closed"]), "{c:#}");
    assert_eq!(c["outcome"], "completed", "{c:#}");
    let _ = std::fs::remove_file(file);
}

/// Registers `user` by hand from `from` (a NAT's public address) with a
/// Contact at a private address, answering the digest challenge.
fn register_behind_nat(s: &Server, user: &str, from: &UdpSocket, private: &str) {
    from.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let uri = format!("sip:{}", s.sip);
    let send = |cseq: u32, auth: &str| {
        let m = format!(
            "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {private};rport;branch=z9hG4bKnat{cseq}\r\nFrom: <sip:{user}@{host}>;tag=nat\r\nTo: <sip:{user}@{host}>\r\nCall-ID: nat-{user}@test\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{private}>;expires=300\r\n{auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            host = s.sip.ip()
        );
        from.send_to(m.as_bytes(), s.sip).unwrap();
        let mut buf = [0u8; 4096];
        let (n, _) = from.recv_from(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    let challenge = send(1, "");
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let ha1 = telephony::digest::ha1(user, "switchboard", DEMO_PASSWORD);
    let response =
        telephony::digest::response(&ha1, &nonce, "REGISTER", &uri, Some(("00000001", "c0ffee")));
    let auth = format!(
        "Authorization: Digest username=\"{user}\", realm=\"switchboard\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\"\r\n"
    );
    let ok = send(2, &auth);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
}

#[test]
fn a_phone_behind_nat_is_rung_where_it_registered_from_and_its_media_followed() {
    let s = server("nat");
    // The phone's NAT: its public address is this port; its Contact and
    // SDP say 10.255.255.1, which cannot be reached.
    let public = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = public.local_addr().unwrap().port();
    register_behind_nat(&s, "kent.agent", &public, "10.255.255.1:5060");
    drop(public);
    let at: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let phone = phone(&s, "agent_answer_nat.xml", at);
    std::thread::sleep(Duration::from_millis(300));
    agent_ready(&s);
    let (code, out) = finish(caller(&s, WHEELCHAIRS, 5000), Duration::from_secs(40));
    assert_eq!(code, 0, "caller: {out}\n{}", errors(&s));
    let (code, out) = finish(phone, Duration::from_secs(20));
    assert_eq!(code, 0, "phone: {out}\n{}", errors(&s));
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["bridged"], true, "{c:#}");
    assert_eq!(c["nat"], true, "the phone's media was followed: {c:#}");
    assert_eq!(c["outcome"], "ended_by_caller", "{c:#}");
}

#[test]
fn a_caller_who_hangs_up_while_the_agent_phone_rings_stops_it_ringing() {
    let s = server("cancel");
    let at = free_port();
    let uas = phone(&s, "agent_rings.xml", at);
    std::thread::sleep(Duration::from_millis(300));
    let (code, out) = register(&s, "kent.agent", at);
    assert_eq!(code, 0, "register: {out}");
    agent_ready(&s);
    // Presses 2, waits 2 s while the phone rings, hangs up.
    let (code, out) = finish(caller(&s, WHEELCHAIRS, 2000), Duration::from_secs(40));
    assert_eq!(code, 0, "caller: {out}\n{}", errors(&s));
    let (code, out) = finish(uas, Duration::from_secs(20));
    assert_eq!(
        code,
        0,
        "the phone was not cancelled: {out}\n{}",
        errors(&s)
    );
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["outcome"], "abandoned_in_queue", "{c:#}");
    // The agent did nothing wrong: still ready, not made not-ready.
    let status = agent_status(&s, 1);
    assert!(!status.contains("not_ready"), "{status}");
}

/// Both ways through the bridge, for one pair of codecs: the caller (our
/// own user agent, offering only `caller_codec`) presses 2 for
/// wheelchairs and sends a 1,000 Hz tone; the agent's phone (answering
/// with only `agent_codec`) sends 1,800 Hz. Each side must hear the other's
/// tone cleanly (≥ 90% of the energy at that frequency, level within
/// 1.5 dB, in its own codec: a relay that forgets to transcode fails),
/// and nothing of a 2,600 Hz tone a stranger sends to both of the
/// server's RTP ports. Then the agent hangs up their phone.
fn audio_crosses_the_bridge(caller_codec: Codec, agent_codec: Codec) {
    let s = server(&format!(
        "audio-{}-{}",
        caller_codec.name(),
        agent_codec.name()
    ));
    let mut agent = ua::Ua::new(s.sip, "kent.agent");
    assert_eq!(agent.register(DEMO_PASSWORD), 200, "{}", s.bound.log());
    agent_ready(&s);
    let mut caller = ua::Ua::new(s.sip, "caller");
    let d = caller
        .call(WHEELCHAIRS, caller_codec)
        .unwrap_or_else(|code| panic!("the call was refused: {code}"));
    assert_eq!(
        d.codec, caller_codec,
        "the server answers in the caller's codec"
    );
    let caller_media = d.media;
    let phone = std::thread::spawn(move || {
        let invite = agent
            .await_invite(Duration::from_secs(30))
            .expect("the agent's phone is rung");
        let mut leg = agent.answer(&invite, agent_codec);
        // A stranger sends a loud 2,600 Hz tone to both of the server's
        // RTP ports while the two talk.
        let intruder = {
            let targets = [leg.media, caller_media];
            std::thread::spawn(move || {
                let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
                for i in 0..150u32 {
                    let samples = audio::tone(2600.0, 12000.0, i as usize * 160, 160);
                    let mut p = vec![0x80, 8];
                    p.extend_from_slice(&(i as u16).to_be_bytes());
                    p.extend_from_slice(&(i * 160).to_be_bytes());
                    p.extend_from_slice(&0xbad0_0001u32.to_be_bytes());
                    p.extend(audio::encode(&samples, Codec::Pcma));
                    for t in targets {
                        let _ = sock.send_to(&p, t);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let heard = agent.talk(&leg, 1800.0, 8000.0, Duration::from_secs(4));
        intruder.join().unwrap();
        let code = agent.bye(&mut leg);
        (heard, code)
    });
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_millis(1500));
    caller.press(&d, '2');
    let heard_by_caller = caller.talk(&d, 1000.0, 8000.0, Duration::from_secs(8));
    let (heard_by_agent, bye) = phone.join().unwrap();
    assert_eq!(bye, 200, "the agent's BYE is answered 200");
    assert!(
        caller.await_bye(&d, Duration::from_secs(10)),
        "the caller is hung up when the agent hangs up"
    );
    let count = |heard: &[(u8, Vec<f64>)], f: f64, amp: f64| {
        heard
            .iter()
            .filter(|(_, x)| audio::carries(x, f, amp))
            .count()
    };
    let stranger = |heard: &[(u8, Vec<f64>)]| {
        heard
            .iter()
            .filter(|(_, x)| audio::share(x, 2600.0) > 0.05)
            .count()
    };
    // Everything each side heard came in its own codec.
    assert!(heard_by_caller
        .iter()
        .all(|(pt, _)| *pt == caller_codec.payload_type()));
    assert!(heard_by_agent
        .iter()
        .all(|(pt, _)| *pt == agent_codec.payload_type()));
    let (to_caller, to_agent) = (
        count(&heard_by_caller, 1800.0, 8000.0),
        count(&heard_by_agent, 1000.0, 8000.0),
    );
    // Of ~200 frames the agent sent in 4 s, most reach the caller (some
    // are lost to the start of the bridge on a loaded machine), and of
    // the caller's, those that overlapped the agent's 4 s.
    assert!(
        to_caller >= 100,
        "the caller heard the agent's tone in {to_caller} of {} frames",
        heard_by_caller.len()
    );
    assert!(
        to_agent >= 100,
        "the agent heard the caller's tone in {to_agent} of {} frames",
        heard_by_agent.len()
    );
    assert_eq!(
        stranger(&heard_by_caller),
        0,
        "a stranger's RTP reached the caller"
    );
    assert_eq!(
        stranger(&heard_by_agent),
        0,
        "a stranger's RTP reached the agent"
    );
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["codec"], caller_codec.name(), "{c:#}");
    assert_eq!(c["bridged"], true, "{c:#}");
    assert_eq!(c["agent"], 1, "{c:#}");
    assert_eq!(c["outcome"], "ended_by_agent", "{c:#}");
    assert!(
        agent_status(&s, 1).contains("wrap"),
        "{}",
        agent_status(&s, 1)
    );
}

#[test]
fn audio_crosses_the_bridge_alaw_to_alaw() {
    audio_crosses_the_bridge(Codec::Pcma, Codec::Pcma);
}

#[test]
fn audio_crosses_the_bridge_ulaw_caller_to_alaw_agent() {
    audio_crosses_the_bridge(Codec::Pcmu, Codec::Pcma);
}

#[test]
fn audio_crosses_the_bridge_alaw_caller_to_ulaw_agent() {
    audio_crosses_the_bridge(Codec::Pcma, Codec::Pcmu);
}

#[test]
fn audio_crosses_the_bridge_ulaw_to_ulaw() {
    audio_crosses_the_bridge(Codec::Pcmu, Codec::Pcmu);
}

/// The checks above can fail: a µ-law stream read as A-law (a relay that
/// forgot to transcode), a tone at another frequency, a quieter one, and
/// a beep or hold music offered as speech are all told apart.
#[test]
fn the_listeners_tell_a_wrong_codec_a_wrong_tone_and_beeps_from_the_real_thing() {
    let x = audio::tone(1000.0, 8000.0, 0, 160);
    let right = audio::decode(&audio::encode(&x, Codec::Pcmu), 0).unwrap();
    assert!(audio::carries(&right, 1000.0, 8000.0));
    let misread = audio::decode(&audio::encode(&x, Codec::Pcmu), 8).unwrap();
    assert!(!audio::carries(&misread, 1000.0, 8000.0));
    let misread = audio::decode(&audio::encode(&x, Codec::Pcma), 0).unwrap();
    assert!(!audio::carries(&misread, 1000.0, 8000.0));
    assert!(!audio::carries(&right, 1800.0, 8000.0));
    assert!(!audio::carries(&right, 1000.0, 4000.0));
    let beeps: Vec<Vec<f64>> = (0..100)
        .map(|i| {
            let f = [660.0, 392.0, 494.0, 587.0][i / 25];
            audio::tone(f, 3000.0, i * 160, 160)
                .into_iter()
                .map(f64::from)
                .collect()
        })
        .collect();
    assert!(audio::is_speech(&beeps).is_err());
    assert!(audio::is_speech(&vec![vec![0.0; 160]; 100]).is_err());
}

/// RFC 3261 §10.2.2: `Contact: *` with `Expires: 0` removes every binding
/// of the account. On main it was taken as a query and ignored: the next
/// call rang a phone that had said it was gone. Without `Expires: 0` it
/// is a bad request.
#[test]
fn contact_star_with_expires_0_unregisters_every_binding() {
    let s = server("unregister-star");
    let mut phone = ua::Ua::new(s.sip, "kent.agent");
    assert_eq!(phone.register(DEMO_PASSWORD), 200);
    assert_eq!(phone.register_as(DEMO_PASSWORD, "*", 3600), 400);
    assert_eq!(phone.register_as(DEMO_PASSWORD, "*", 0), 200);
    agent_ready(&s);
    let mut caller = ua::Ua::new(s.sip, "caller");
    let d = caller.call(WHEELCHAIRS, Codec::Pcma).expect("answered");
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_millis(1500));
    caller.press(&d, '2');
    // The phone that left is never rung; the caller waits in the queue.
    assert!(
        phone.await_invite(Duration::from_secs(4)).is_none(),
        "a phone that unregistered was rung"
    );
    let c = newest_call(&s, |c| c["state"] == "queued");
    assert_eq!(c["agent"], Value::Null, "{c:#}");
    assert_eq!(caller.bye(&mut d.clone()), 200);
}

/// Keys by their content (issue 22's "keys lost or invented"): a press
/// sent from another port of the caller's host (as SIPp's play_dtmf does)
/// is heard, and sixteen zero bytes on another payload type (which SIPp
/// also sends) are not presses of 0. On main the press was dropped and
/// the zero packets read as 0s.
#[test]
fn keys_are_read_by_content_from_the_callers_host_and_zero_packets_are_not_keys() {
    let s = server("keys-by-content");
    let mut caller = ua::Ua::new(s.sip, "caller");
    let d = caller.call(WHEELCHAIRS, Codec::Pcma).expect("answered");
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_millis(1500));
    for _ in 0..6 {
        caller.send_rtp(d.media, 13, false, &[0; 16]);
        std::thread::sleep(Duration::from_millis(150));
    }
    let mut other_port = ua::Ua::new(s.sip, "caller-keys");
    other_port.press(&d, '2');
    let c = newest_call(&s, |c| c["state"] == "queued");
    assert_eq!(c["keys"], "2", "{c:#}");
    assert_eq!(
        c["path"],
        serde_json::json!(["menu", "language", "queue"]),
        "{c:#}"
    );
    assert_eq!(caller.bye(&mut d.clone()), 200);
}

/// Issue 22's defect: a caller whose RTP stopped and who never sent BYE
/// stayed queued for ever, and an INVITE's SDP could point a stream of
/// 50 packets a second at anybody. Now (with `--media-timeout 12`): a
/// leg quiet for 12 s is ended (BYE, abandoned, "media timeout"), and an
/// address that never sent a packet is sent to for 5 s only.
#[test]
fn a_silent_caller_is_released_and_an_address_that_never_answers_is_not_streamed_to() {
    const PHYSIO: &str = "+441632960003";
    let s = server_with("silent", &["--media-timeout", "12"]);
    let sip = s.sip;
    // The caller whose phone dropped off the network: talks for a second
    // (so it was heard), then nothing, and no BYE.
    let dropped = std::thread::spawn(move || {
        let mut ua = ua::Ua::new(sip, "caller");
        let d = ua.call(PHYSIO, Codec::Pcma).expect("answered");
        ua.talk(&d, 0.0, 0.0, Duration::from_secs(1));
        let quiet = Instant::now();
        let released = ua.await_bye(&d, Duration::from_secs(25));
        (released, quiet.elapsed())
    });
    // The "caller" whose SDP names an address that never sends anything
    // back (a third party): count what reaches that address, per second.
    let mut ua = ua::Ua::new(sip, "reflector");
    let d = ua.call(PHYSIO, Codec::Pcma).expect("answered");
    let t0 = Instant::now();
    ua.rtp
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut per_second = [0u32; 11];
    let mut buf = [0u8; 2048];
    while t0.elapsed() < Duration::from_secs(11) {
        if ua.rtp.recv(&mut buf).is_ok() {
            per_second[t0.elapsed().as_secs().min(10) as usize] += 1;
        }
    }
    assert!(
        per_second[..4].iter().all(|&n| n >= 40),
        "prompts are sent while the leg is young: {per_second:?}"
    );
    assert!(
        per_second[6..].iter().all(|&n| n == 0),
        "nothing is sent after 5 s to an address that never answered: {per_second:?}"
    );
    assert!(
        ua.await_bye(&d, Duration::from_secs(10)),
        "the silent leg is hung up at 12 s"
    );
    let (released, after) = dropped.join().unwrap();
    assert!(released, "the caller who went quiet was never released");
    assert!(
        after >= Duration::from_secs(11) && after < Duration::from_secs(20),
        "released {after:?} after going quiet"
    );
    // Both are in the journal as callers who left the queue (the journal
    // says so once the BYE's transaction is done).
    let t0 = Instant::now();
    let calls = loop {
        let calls = journal(&s);
        let n = calls
            .iter()
            .filter(|c| c["dialled"] == PHYSIO && c["state"] == "ended")
            .count();
        if n == 2 || t0.elapsed() > Duration::from_secs(15) {
            break calls;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let ended: Vec<&Value> = calls
        .iter()
        .filter(|c| c["dialled"] == PHYSIO && c["state"] == "ended")
        .collect();
    assert_eq!(ended.len(), 2, "{calls:#?}");
    for c in ended {
        assert_eq!(c["outcome"], "abandoned_in_queue", "{c:#}");
        assert_eq!(c["ended"], "media timeout", "{c:#}");
        // And the engine let them go: the contact is over.
        let id = c["contact"].as_u64().unwrap();
        let (st, body) = http(s.http, "GET", &format!("/api/v1/contacts/{id}"), None).unwrap();
        assert_eq!(st, 404, "{body}");
    }
}

/// Issue 22's defect: the plain `serve --demo` gave real callers to its
/// simulated agents, who "answered" with no audio and hung up, so a
/// newcomer calling the demo never reached the person logged in. A real
/// call is now offered only to an agent whose phone is connected: it
/// waits, with simulated agents free and simulated traffic flowing, until
/// the demo's agent registers a phone and is ready, and then rings it.
#[test]
fn in_the_busy_demo_a_real_call_waits_for_the_person_with_a_phone() {
    let s = server_with("demo-real", &["--demo", "--demo-calls-per-minute", "60"]);
    // The simulated agents log in over the first ten seconds.
    let t0 = Instant::now();
    let working = || {
        let (_, body) = http(s.http, "GET", "/api/v1/agents", None).unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        v["agents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["status"] != "offline")
            .count()
    };
    while working() < 20 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the demo's agents never logged in"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let mut caller = ua::Ua::new(s.sip, "caller");
    let d = caller.call(WHEELCHAIRS, Codec::Pcma).expect("answered");
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_millis(1500));
    caller.press(&d, '2');
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_secs(8));
    let c = newest_call(&s, |c| c["dialled"] == WHEELCHAIRS);
    assert_eq!(c["state"], "queued", "no simulated agent took it: {c:#}");
    assert_eq!(c["agent"], Value::Null, "{c:#}");
    assert_eq!(c["missed_by"], serde_json::json!([]), "{c:#}");
    // Meanwhile the simulated agents were answering simulated calls.
    let (_, body) = http(s.http, "GET", "/api/v1/kpis", None).unwrap();
    let k: Value = serde_json::from_str(&body).unwrap();
    assert!(
        k["overall"]["counts"]["answered"].as_u64().unwrap() > 0,
        "simulated traffic flowed: {body}"
    );
    // The person logs in with a phone: the call rings it, and they talk.
    let mut agent = ua::Ua::new(s.sip, "kent.agent");
    assert_eq!(agent.register(DEMO_PASSWORD), 200);
    agent_ready(&s);
    let phone = std::thread::spawn(move || {
        let invite = agent
            .await_invite(Duration::from_secs(20))
            .expect("the person's phone is rung");
        let mut leg = agent.answer(&invite, Codec::Pcma);
        let heard = agent.talk(&leg, 1800.0, 8000.0, Duration::from_secs(3));
        (heard, agent.bye(&mut leg))
    });
    let heard = caller.talk(&d, 1000.0, 8000.0, Duration::from_secs(6));
    let (by_agent, bye) = phone.join().unwrap();
    assert_eq!(bye, 200, "the person hangs up");
    assert!(
        caller.await_bye(&d, Duration::from_secs(10)),
        "the caller is hung up when the person hangs up"
    );
    assert!(
        heard
            .iter()
            .filter(|(_, x)| audio::carries(x, 1800.0, 8000.0))
            .count()
            > 50,
        "the caller heard the person"
    );
    assert!(
        by_agent
            .iter()
            .filter(|(_, x)| audio::carries(x, 1000.0, 8000.0))
            .count()
            > 50,
        "the person heard the caller"
    );
    let c = newest_call(&s, |c| c["dialled"] == WHEELCHAIRS && c["state"] == "ended");
    assert_eq!(c["bridged"], true, "{c:#}");
    assert_eq!(c["agent"], 1, "{c:#}");
}

/// The agent's phone goes silent (its app crashed, its network went) while
/// bridged and never sends BYE: with `--media-timeout 4` its leg is taken
/// as hung up, the contact ends and the caller is hung up.
#[test]
fn an_agent_phone_that_goes_silent_is_taken_as_hung_up() {
    let s = server_with("agent-silent", &["--media-timeout", "4"]);
    let mut agent = ua::Ua::new(s.sip, "kent.agent");
    assert_eq!(agent.register(DEMO_PASSWORD), 200);
    agent_ready(&s);
    let mut caller = ua::Ua::new(s.sip, "caller");
    let d = caller.call(WHEELCHAIRS, Codec::Pcma).expect("answered");
    let phone = std::thread::spawn(move || {
        let invite = agent
            .await_invite(Duration::from_secs(30))
            .expect("the agent's phone is rung");
        let leg = agent.answer(&invite, Codec::Pcma);
        // Talks for a second, then nothing: no RTP, no BYE.
        let _ = agent.talk(&leg, 1800.0, 8000.0, Duration::from_secs(1));
        agent.await_bye(&leg, Duration::from_secs(15))
    });
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_millis(1500));
    caller.press(&d, '2');
    // The caller keeps talking (their leg is alive) until hung up.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_millis(500));
        if caller.await_bye(&d, Duration::from_millis(10)) {
            break;
        }
    }
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "the caller was never hung up"
    );
    assert!(phone.join().unwrap(), "the silent phone is sent a BYE too");
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["bridged"], true, "{c:#}");
    assert_eq!(c["outcome"], "ended_by_agent", "{c:#}");
}
