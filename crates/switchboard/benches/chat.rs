//! Web chat under load: CHAT_BENCH_CHATS (default 5,000) conversations
//! open at once on one server, each with its patient's WebSocket
//! connected; the server's memory per conversation; then message latency
//! from the patient to the desktop — a patient's message over the socket
//! until a supervisor's long-poll (`GET /api/v1/chats/{contact}?wait=`)
//! has it (stored, sealed and committed in between) — CHAT_BENCH_SAMPLES
//! times (default 1,000) on conversations picked at random, medians and
//! 99th percentiles. Run (release; this machine's open-file limit raised):
//!
//! ```text
//! ulimit -n 65536; cargo bench -p switchboard --bench chat
//! ```
//!
//! The test command runs it small (its numbers mean nothing there).

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn open(addr: SocketAddr, k: usize) -> WebSocket<TcpStream> {
    let ip = format!(
        "X-Forwarded-For: 10.{}.{}.{}\r\n",
        k >> 16 & 255,
        k >> 8 & 255,
        k & 255
    );
    let body = json!({"entry": "chat-physio", "reason": format!("bench {k}")}).to_string();
    let (s, _, b) = http_with(addr, "POST", "/chat/v1/conversations", Some(&body), &ip).unwrap();
    assert_eq!(s, 201, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/chat/v1/socket"), stream).unwrap();
    let hello = json!({"type": "hello", "token": v["token"], "after": 0});
    ws.send(Message::text(hello.to_string())).unwrap();
    // The reason comes back as message 1: the conversation is live.
    loop {
        if let Message::Text(t) = ws.read().unwrap() {
            let f: Value = serde_json::from_str(&t).unwrap();
            if f["type"] == "message" {
                break;
            }
        }
    }
    ws
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --bench` runs it small.
    let chats = env("CHAT_BENCH_CHATS", 5000);
    let samples = env("CHAT_BENCH_SAMPLES", 1000);
    let data = std::env::temp_dir().join(format!("sb-chat-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let (server, bound) = launch(
        &data,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        &["--sip", "127.0.0.1:0", "--trusted-proxy", "127.0.0.1/32"],
    );
    let addr = bound.http;
    let pid = server.id();
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib(pid);
    let t0 = Instant::now();
    let mut sockets = Vec::with_capacity(chats);
    for k in 0..chats {
        sockets.push(open(addr, k));
    }
    let opened = t0.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(pid);
    // Their contacts, in the order they were made (the physiotherapy queue
    // holds them all: nobody is ready).
    let (_, body) = http(addr, "GET", "/api/v1/queues/4/waiting", None).unwrap();
    let waiting: Value = serde_json::from_str(&body).unwrap();
    // Ids are handed out in order, and the conversations were made one by
    // one: the k-th smallest is conversation k's.
    let mut contacts: Vec<u64> = waiting["waiting"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    contacts.sort_unstable();
    assert_eq!(contacts.len(), chats, "waiting: {body:.300}");
    let cookie = auth_header(addr);
    let mut lat = Vec::with_capacity(samples);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut seqs = vec![0u64; chats];
    for i in 0..samples {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let k = (rng % chats as u64) as usize;
        let contact = contacts[k];
        if seqs[k] == 0 {
            // Where the conversation stands (the reason, its place).
            let (_, _, b) = http_with(
                addr,
                "GET",
                &format!("/api/v1/chats/{contact}"),
                None,
                &cookie,
            )
            .unwrap();
            let v: Value = serde_json::from_str(&b).unwrap();
            seqs[k] = v["last"].as_u64().expect("last");
        }
        let after = seqs[k];
        let c = cookie.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let poll = std::thread::spawn(move || {
            tx.send(()).unwrap();
            let path = format!("/api/v1/chats/{contact}?after={after}&wait=10");
            let (s, _, b) = http_with(addr, "GET", &path, None, &c).unwrap();
            (s, b, Instant::now())
        });
        rx.recv().unwrap();
        // Let the long-poll reach the server (not timed).
        std::thread::sleep(Duration::from_millis(2));
        let sent = Instant::now();
        let frame = json!({"type": "text", "id": format!("b{i}"), "text": format!("sample {i}")});
        sockets[k].send(Message::text(frame.to_string())).unwrap();
        let (s, b, got) = poll.join().unwrap();
        assert_eq!(s, 200, "{b}");
        let v: Value = serde_json::from_str(&b).unwrap();
        let mine = v["messages"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["id"] == format!("b{i}")).cloned());
        let Some(m) = mine else {
            // The long-poll answered early (the patient's typing or read
            // news): not a sample.
            continue;
        };
        seqs[k] = m["seq"].as_u64().unwrap();
        lat.push((got - sent).as_secs_f64() * 1000.0);
        // Drain what the socket was sent (the echo, the ack).
        let _ = sockets[k]
            .get_mut()
            .set_read_timeout(Some(Duration::from_millis(1)));
        while sockets[k].read().is_ok() {}
        let _ = sockets[k]
            .get_mut()
            .set_read_timeout(Some(Duration::from_secs(20)));
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let per = (after.saturating_sub(before)) as f64 / chats as f64;
    println!(
        "chat: {chats} conversations open (each a WebSocket) in {:.1} s; server RSS {:.1} → {:.1} MiB, {per:.1} KiB per conversation",
        opened.as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    println!(
        "chat: patient → desktop latency over {} samples: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0)
    );
    assert!(lat.len() * 2 >= samples, "too few samples");
    drop(sockets);
    kill(server, &data);
}
