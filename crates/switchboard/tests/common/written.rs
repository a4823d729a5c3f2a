//! Helpers of the email and text journeys: a Python peer started from
//! `scripts/` (its first line of output is a JSON object saying where it
//! listens), and the desktop's side of a written conversation.

use serde_json::Value;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A peer process, stopped when dropped.
pub struct Peer {
    child: Child,
    /// What its first line said.
    pub info: Value,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `python3 scripts/SCRIPT ARGS…` and reads its first line.
pub fn peer(script: &str, args: &[&str]) -> Peer {
    let mut child = Command::new("python3")
        .arg(repo().join("scripts").join(script))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 scripts/{script}: {e}"));
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info = serde_json::from_str(&line)
        .unwrap_or_else(|_| panic!("scripts/{script} did not start: {line:?}"));
    Peer { child, info }
}

/// POSTs JSON as the session `cookie`; the status and the answer.
pub fn post_json(addr: SocketAddr, cookie: &str, path: &str, body: Value) -> (u16, Value) {
    let (s, _, b) = super::http_with(addr, "POST", path, Some(&body.to_string()), cookie).unwrap();
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

/// GETs JSON as the session `cookie` (200 expected).
pub fn get_json(addr: SocketAddr, cookie: &str, path: &str) -> Value {
    let (s, _, b) = super::http_with(addr, "GET", path, None, cookie).unwrap();
    assert_eq!(s, 200, "GET {path}: {b}");
    serde_json::from_str(&b).unwrap()
}

/// The conversation of `contact` once `done` holds of it (30 s at most).
pub fn conversation_until(
    addr: SocketAddr,
    cookie: &str,
    contact: u64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let t0 = Instant::now();
    loop {
        let v = get_json(addr, cookie, &format!("/api/v1/chats/{contact}"));
        if done(&v) {
            return v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "never {what}: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The words of a conversation's messages, in order.
pub fn texts(v: &Value) -> Vec<String> {
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["body"]["text"].as_str().map(str::to_string))
        .collect()
}

/// What became of message `seq` on its way out.
pub fn delivery(v: &Value, seq: u64) -> Value {
    v["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["seq"] == seq)
        .cloned()
        .unwrap_or(Value::Null)
}
