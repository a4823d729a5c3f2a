//! A server with its SIP edge, and what the call tests do with it: the
//! wheelchair service's recording rule, a registered agent and a caller,
//! the call journal, a finished recording, a stereo WAV's frames.

use super::{audio, http, http_with, kill, launch, login, ua, Bound, DEMO_PASSWORD};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use telephony::g711::Codec;

/// The wheelchair service's number (service 103, the demo's).
pub const WHEELCHAIRS: &str = "+441632960002";

pub struct Server {
    pub data: PathBuf,
    pub bound: Bound,
    pub child: Option<std::process::Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            kill(c, &self.data);
        }
    }
}

pub fn server(name: &str) -> Server {
    server_after(name, |_| {})
}

/// A server on a data folder `prepare` has set up first.
pub fn server_after(name: &str, prepare: impl Fn(&std::path::Path)) -> Server {
    let data = std::env::temp_dir().join(format!("sb-rec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    prepare(&data);
    let prompts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("prompts");
    let (child, bound) = launch(
        &data,
        "127.0.0.1:0".parse().unwrap(),
        &[
            "--sip",
            "127.0.0.1:0",
            "--prompts",
            prompts.to_str().unwrap(),
        ],
    );
    Server {
        data,
        bound,
        child: Some(child),
    }
}

/// `user` logs in; answers the headers a browser would send.
pub fn as_person(s: &Server, user: &str) -> String {
    let cookie = login(s.bound.http, user, DEMO_PASSWORD).unwrap();
    format!("{cookie}Origin: http://{}\r\n", s.bound.http)
}

/// The admin sets the wheelchair service (103) to record.
pub fn record_wheelchairs(s: &Server, rule: Value) {
    let (st, body) = set_wheelchairs_recording(s, rule);
    assert_eq!(st, 200, "{body}");
}

/// PUTs the wheelchair service (103) with this recording rule, as the
/// admin: the status and answer.
pub fn set_wheelchairs_recording(s: &Server, rule: Value) -> (u16, String) {
    let admin = as_person(s, "kent.admin");
    let (st, _, body) = http_with(s.bound.http, "GET", "/api/v1/services", None, &admin).unwrap();
    assert_eq!(st, 200, "{body}");
    let all: Value = serde_json::from_str(&body).unwrap();
    let mut def = all["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == 103)
        .expect("the wheelchair service")["service"]
        .clone();
    def["recording"] = rule;
    let (st, _, body) = http_with(
        s.bound.http,
        "PUT",
        "/api/v1/services/103",
        Some(&def.to_string()),
        &admin,
    )
    .unwrap();
    (st, body)
}

/// Alice registers her phone and is ready; a caller rings the wheelchair
/// service. Answers her phone, her log-in's headers, the caller and the
/// call.
pub fn alice_and_a_caller(s: &Server) -> (ua::Ua, String, ua::Ua, ua::Dialog) {
    let sip = s.bound.sip.expect("the SIP edge");
    let mut agent = ua::Ua::new(sip, "kent.agent");
    assert_eq!(agent.register(DEMO_PASSWORD), 200);
    let alice = as_person(s, "kent.agent");
    let (st, _, body) = http_with(
        s.bound.http,
        "POST",
        "/api/v1/agents/1/presence",
        Some(r#"{"presence":"ready"}"#),
        &alice,
    )
    .unwrap();
    assert_eq!(st, 200, "{body}");
    let mut caller = ua::Ua::new(sip, "caller");
    let d = caller.call(WHEELCHAIRS, Codec::Pcma).expect("answered");
    (agent, alice, caller, d)
}

/// The contact's newest recording once it is finished.
pub fn finished_recording(s: &Server, contact: u64) -> Value {
    let t0 = Instant::now();
    loop {
        let (st, body) = http(
            s.bound.http,
            "GET",
            &format!("/api/v1/recordings?contact={contact}"),
            None,
        )
        .unwrap();
        assert_eq!(st, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        if v["recordings"][0]["state"] == "available" {
            return v["recordings"][0].clone();
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn newest_call(s: &Server, f: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let (_, body) = http(s.bound.http, "GET", "/api/v1/voice/calls", None).unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        if let Some(c) = v["calls"].as_array().and_then(|c| c.first()) {
            if f(c) {
                return c.clone();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the call never got there: {c:#}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The WAV's header checked (PCM, 16-bit, 8 kHz, stereo); its frames of
/// 160 sample pairs, as (left, right).
pub fn stereo_frames(wav: &[u8]) -> Vec<(Vec<f64>, Vec<f64>)> {
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(&wav[8..16], b"WAVEfmt ");
    let u16_at = |i: usize| u16::from_le_bytes([wav[i], wav[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(wav[i..i + 4].try_into().unwrap());
    assert_eq!(u16_at(20), 1, "PCM");
    assert_eq!(u16_at(22), 2, "stereo");
    assert_eq!(u32_at(24), 8000, "8 kHz");
    assert_eq!(u16_at(34), 16, "16-bit");
    assert_eq!(&wav[36..40], b"data");
    let data = &wav[44..];
    assert_eq!(
        u32_at(40) as usize,
        data.len(),
        "the header's length is the data's"
    );
    let samples: Vec<(f64, f64)> = data
        .chunks_exact(4)
        .map(|c| {
            (
                f64::from(i16::from_le_bytes([c[0], c[1]])),
                f64::from(i16::from_le_bytes([c[2], c[3]])),
            )
        })
        .collect();
    samples
        .chunks_exact(audio::FRAME)
        .map(|f| {
            (
                f.iter().map(|s| s.0).collect(),
                f.iter().map(|s| s.1).collect(),
            )
        })
        .collect()
}

/// Frames of a call's recording where one side's tone (the caller's
/// 1,000 Hz, the agent's 1,800 Hz) is in the other's channel.
pub fn crossed(frames: &[(Vec<f64>, Vec<f64>)]) -> usize {
    frames
        .iter()
        .filter(|(l, r)| audio::share(l, 1800.0) > 0.05 || audio::share(r, 1000.0) > 0.05)
        .count()
}
