//! The browser softphone end to end: headless Chromium (its fake
//! microphone playing 1,800 Hz, a WAV made with sox) logs in as Alice,
//! turns the agent desktop's phone on and is Available; a SIP caller
//! (our test user agent, sending 1,000 Hz) rings the wheelchair service,
//! which records every call. The call rings the browser, the desktop's
//! Accept answers it, and each side must hear the other: the caller's
//! Goertzel finds 1,800 Hz, the browser's WebAudio analyser 1,000 Hz.
//! Then mute (the caller hears nothing of the agent), hold (neither hears
//! the other; the caller hears music), keys from the desktop (RFC 4733 to
//! the caller), a new WebRTC session mid-call (a
//! network change: the call carries on), and End (the caller is hung
//! up). The recording opens as a stereo WAV with each tone in its own
//! channel.
//!
//! Driven by `e2e/softphone.mjs` (playwright-core, installed by the test
//! command's `npm ci` in e2e/).

mod common;

use common::calls::*;
use common::*;
use common::{audio, ua};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use telephony::g711::Codec;

/// Headless Chromium on the agent desktop, one command at a time.
struct Browser {
    child: Child,
    to: ChildStdin,
    from: mpsc::Receiver<Value>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.to, "quit");
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn open(s: &Server, tone: &Path) -> Browser {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        assert!(
            root.join("e2e/node_modules/playwright-core").exists(),
            "playwright-core is missing: the test command installs it (cd e2e && npm ci)"
        );
        let mut child = Command::new("node")
            .arg(root.join("e2e/softphone.mjs"))
            .arg(format!("http://{}", s.bound.http))
            .arg("kent.agent")
            .arg(DEMO_PASSWORD)
            .arg(tone)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs");
        let to = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, from) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Err(_) => eprintln!("[driver] {line}"),
                }
            }
        });
        Browser { child, to, from }
    }

    fn send(&mut self, cmd: &str) {
        writeln!(self.to, "{cmd}").expect("the driver reads commands");
    }

    fn reply(&self, wait: Duration) -> Value {
        let v = self
            .from
            .recv_timeout(wait)
            .expect("the browser driver answered");
        assert!(v.get("error").is_none(), "the browser: {v:#}");
        v
    }

    fn ask(&mut self, cmd: &str) -> Value {
        self.send(cmd);
        self.reply(Duration::from_secs(30))
    }
}

/// A tone the browser's fake microphone plays (sox, 48 kHz mono).
fn tone_file(hz: u32) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tone{hz}.wav"));
    if !path.exists() {
        let st = Command::new("sox")
            .args(["-n", "-r", "48000", "-c", "1", "-b", "16"])
            .arg(&path)
            .args(["synth", "300", "sine", &hz.to_string(), "vol", "0.5"])
            .status()
            .expect("sox runs");
        assert!(st.success());
    }
    path
}

/// Frames of `heard` that are mostly `hz` and clearly audible (the
/// browser's level depends on its audio processing, so not checked
/// closely).
fn frames_of(heard: &[(u8, Vec<f64>)], hz: f64) -> usize {
    heard
        .iter()
        .filter(|(_, x)| audio::rms(x) > 300.0 && audio::share(x, hz) >= 0.8)
        .count()
}

/// Of the browser's analyser samples, those whose strongest frequency is
/// within 30 Hz of `hz` (its bins are 23 Hz wide at 48 kHz).
fn far_at(v: &Value, hz: i64) -> (usize, usize) {
    let all = v["far"].as_array().expect("samples");
    let near = all
        .iter()
        .filter(|s| {
            s["hz"].as_i64().is_some_and(|f| (f - hz).abs() <= 30)
                && s["db"].as_i64().is_some_and(|db| db > -70)
        })
        .count();
    (near, all.len())
}

/// The caller talks (1,000 Hz) for `dur` while the browser listens for
/// as long: what each heard.
fn both_listen(
    caller: &mut ua::Ua,
    d: &ua::Dialog,
    browser: &mut Browser,
    dur: Duration,
) -> (Vec<(u8, Vec<f64>)>, Value) {
    browser.send(&format!("far {}", dur.as_millis()));
    let heard = caller.talk(d, 1000.0, 8000.0, dur);
    (heard, browser.reply(Duration::from_secs(20)))
}

#[test]
fn a_caller_reaches_the_agents_browser_and_each_hears_the_other_through_mute_hold_and_a_new_connection(
) {
    let s = server("softphone");
    record_wheelchairs(
        &s,
        serde_json::json!({"policy": "always", "retention_days": 30}),
    );
    let mut browser = Browser::open(&s, &tone_file(1800));
    let ready = browser.reply(Duration::from_secs(60));
    assert_eq!(ready["status"]["state"], "connected", "{ready:#}");
    assert_eq!(
        ready["status"]["codec"], "PCMA",
        "G.711 negotiated: {ready:#}"
    );
    // The microphones to choose from (Chromium's fake one among them).
    let mics = ready["microphones"].as_array().expect("a list");
    assert!(mics.len() >= 2, "Default and the devices: {ready:#}");
    // The browser phone counts as Alice's phone: the wallboard says so.
    phone_shown(s.bound.http, 1, true);
    let t0 = Instant::now();

    let sip = s.bound.sip.expect("the SIP edge");
    let mut caller = ua::Ua::new(sip, "caller");
    let d = caller.call(WHEELCHAIRS, Codec::Pcma).expect("answered");
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_millis(1500));
    caller.press(&d, '2');
    // The call rings the browser; the desktop's Accept answers it.
    browser.send("answer");
    let answered = loop {
        let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_millis(200));
        if let Ok(v) = browser.from.try_recv() {
            break v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "the browser never rang: {}",
            s.bound.log()
        );
    };
    assert!(answered.get("error").is_none(), "{answered:#}");
    let contact = answered["answered"].as_u64().expect("the ringing contact");
    assert_eq!(answered["status"]["call"], contact, "{answered:#}");

    // Talking: each hears the other.
    let (heard, far) = both_listen(&mut caller, &d, &mut browser, Duration::from_secs(3));
    let to_caller = frames_of(&heard, 1800.0);
    assert!(
        to_caller >= 60,
        "the caller heard the agent's 1,800 Hz in {to_caller} of {} frames",
        heard.len()
    );
    let (near, all) = far_at(&far, 1000);
    assert!(
        near * 2 >= all,
        "the agent heard the caller's 1,000 Hz in {near} of {all} samples: {far}"
    );

    // Muted: the caller hears nothing of the agent.
    let muted = browser.ask("mute");
    assert_eq!(
        muted["level"], 0.0,
        "muted, the meter shows nothing: {muted:#}"
    );
    let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_millis(500));
    let heard = caller.talk(&d, 1000.0, 8000.0, Duration::from_secs(2));
    assert_eq!(frames_of(&heard, 1800.0), 0, "muted, the agent was heard");
    let unmuted = browser.ask("unmute");
    let level = unmuted["level"].as_f64().unwrap_or(0.0);
    assert!(
        level > 0.1,
        "the microphone's tone moves the meter: {unmuted:#}"
    );
    let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_millis(500));
    let heard = caller.talk(&d, 1000.0, 8000.0, Duration::from_secs(2));
    assert!(
        frames_of(&heard, 1800.0) >= 40,
        "unmuted, the agent is heard again"
    );

    // On hold: the caller hears music, not the agent; the agent hears
    // nothing of the caller.
    browser.ask("hold");
    let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_millis(700));
    let (heard, far) = both_listen(&mut caller, &d, &mut browser, Duration::from_secs(2));
    assert_eq!(frames_of(&heard, 1800.0), 0, "held, the agent was heard");
    let music = heard
        .iter()
        .filter(|(_, x)| matches!(audio::hear(x), audio::Heard::Tone(f) if [390.0, 490.0, 590.0].iter().any(|m| (f - m).abs() <= 10.0)))
        .count();
    assert!(music >= 20, "held, the caller hears music ({music} frames)");
    let (near, all) = far_at(&far, 1000);
    assert!(
        near * 5 <= all,
        "held, the agent heard the caller in {near} of {all}: {far}"
    );
    browser.ask("resume");
    let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_millis(700));
    let heard = caller.talk(&d, 1000.0, 8000.0, Duration::from_secs(2));
    assert!(
        frames_of(&heard, 1800.0) >= 40,
        "resumed, the agent is heard again"
    );

    // The agent keys digits to the caller (an interpreter service's menu):
    // RFC 4733 events on the caller's leg.
    browser.send("keys 12#");
    let keys = caller.hear_keys(&d, Duration::from_secs(3));
    let sent = browser.reply(Duration::from_secs(10));
    assert_eq!(sent["said"], "Sent 3 keys.", "{sent:#}");
    assert_eq!(keys, "12#", "the caller received the agent's keys");

    // A network change: the page connects a new session; the call goes on.
    browser.send("reconnect");
    let reconnected = loop {
        let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_millis(200));
        if let Ok(v) = browser.from.try_recv() {
            break v;
        }
        assert!(t0.elapsed() < Duration::from_secs(180), "no reconnection");
    };
    assert!(reconnected.get("error").is_none(), "{reconnected:#}");
    assert_eq!(reconnected["status"]["call"], contact, "{reconnected:#}");
    let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_millis(500));
    let (heard, far) = both_listen(&mut caller, &d, &mut browser, Duration::from_secs(2));
    assert!(
        frames_of(&heard, 1800.0) >= 40,
        "after the new connection the caller hears the agent"
    );
    let (near, all) = far_at(&far, 1000);
    assert!(
        near * 2 >= all,
        "after the new connection the agent hears the caller ({near} of {all})"
    );

    // The agent ends the call on the desktop: the caller is hung up.
    browser.ask("end");
    assert!(
        caller.await_bye(&d, Duration::from_secs(10)),
        "the caller is hung up"
    );
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["bridged"], true, "{c:#}");
    assert_eq!(c["agent"], 1, "{c:#}");
    assert_eq!(c["outcome"], "ended_by_agent", "{c:#}");
    // The desktop shows the phone free again.
    let t1 = Instant::now();
    let status = loop {
        let status = browser.ask("status");
        if status["status"]["call"].is_null() {
            break status;
        }
        assert!(t1.elapsed() < Duration::from_secs(5), "{status:#}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status["status"]["state"], "connected", "{status:#}");
    assert_eq!(status["errors"], serde_json::json!([]), "{status:#}");

    // The recording: the caller left, the agent's browser right.
    let rec = finished_recording(&s, contact);
    let id = rec["id"].as_u64().unwrap();
    let (st, head, wav) =
        http_bytes(s.bound.http, &format!("/api/v1/recordings/{id}/audio")).unwrap();
    assert_eq!(st, 200, "{head}");
    let frames = stereo_frames(&wav);
    let left = frames
        .iter()
        .filter(|(l, _)| audio::carries(l, 1000.0, 8000.0))
        .count();
    let right = frames
        .iter()
        .filter(|(_, r)| audio::rms(r) > 300.0 && audio::share(r, 1800.0) >= 0.8)
        .count();
    assert!(
        left >= 200,
        "the caller's tone in {left} of {} frames",
        frames.len()
    );
    assert!(
        right >= 150,
        "the agent's tone in {right} of {} frames",
        frames.len()
    );
    assert_eq!(crossed(&frames), 0, "each side only in its own channel");
    // Connecting the phone is audited.
    assert!(!audit_rows(&s.data, "connect browser phone").is_empty());
    assert!(!audit_rows(&s.data, "answer on browser phone").is_empty());
}

/// A browser's offer as Chromium writes it, with `codecs` (payload type,
/// rtpmap) in its audio section.
fn offer(codecs: &[(u8, &str)]) -> String {
    let pts: Vec<String> = codecs.iter().map(|(pt, _)| pt.to_string()).collect();
    let mut s = format!(
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=msid-semantic: WMS\r\nm=audio 9 UDP/TLS/RTP/SAVPF {}\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:Wq3x\r\na=ice-pwd:9sd7Yg2c8Pq0LmN4vB6xZ1aQ\r\na=ice-options:trickle\r\na=fingerprint:sha-256 {}\r\na=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n",
        pts.join(" "),
        (0..32).map(|i| format!("{:02X}", i * 7 % 256)).collect::<Vec<_>>().join(":")
    );
    for (pt, map) in codecs {
        s.push_str(&format!("a=rtpmap:{pt} {map}\r\n"));
    }
    s
}

#[test]
fn a_bad_offer_is_refused_by_name_and_a_phone_that_never_connects_is_not_offered_calls() {
    let s = server("softphone-bad");
    let alice = as_person(&s, "kent.agent");
    let post = |body: &Value| {
        http_with(
            s.bound.http,
            "POST",
            "/api/v1/me/phone",
            Some(&body.to_string()),
            &alice,
        )
        .unwrap()
    };
    // Not SDP; an answer where an offer goes; only Opus (we relay G.711).
    let (st, _, body) = post(&serde_json::json!({"type": "offer", "sdp": "hello"}));
    assert_eq!(st, 422, "{body}");
    assert!(body.contains("not a usable WebRTC offer"), "{body}");
    let (st, _, body) =
        post(&serde_json::json!({"type": "answer", "sdp": offer(&[(8, "PCMA/8000")])}));
    assert_eq!(st, 422, "{body}");
    assert!(body.contains("type:"), "{body}");
    let (st, _, body) =
        post(&serde_json::json!({"type": "offer", "sdp": offer(&[(111, "opus/48000/2")])}));
    assert_eq!(st, 422, "{body}");
    assert!(body.contains("G.711"), "{body}");
    let (st, _, body) =
        post(&serde_json::json!({"type": "offer", "sdp": "v=0\r\n".repeat(10_000)}));
    assert!(st == 413 || st == 422, "{st} {body}");
    phone_shown(s.bound.http, 1, false);

    // A good offer whose browser never answers the connectivity checks
    // (a firewall): connecting, never connected, so no real call is
    // offered; after 10 s the status says why.
    let (st, _, body) = post(
        &serde_json::json!({"type": "offer", "sdp": offer(&[(8, "PCMA/8000"), (0, "PCMU/8000")])}),
    );
    assert_eq!(st, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["type"], "answer");
    let sdp = answer["sdp"].as_str().unwrap();
    assert!(sdp.contains("a=ice-lite"), "{sdp}");
    assert!(sdp.contains("PCMA/8000"), "{sdp}");
    assert!(sdp.contains("a=candidate:"), "{sdp}");
    let status = || {
        let (st, _, body) =
            http_with(s.bound.http, "GET", "/api/v1/me/phone", None, &alice).unwrap();
        assert_eq!(st, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    assert_eq!(status()["state"], "connecting");
    let (st, _, body) = http_with(
        s.bound.http,
        "POST",
        "/api/v1/agents/1/presence",
        Some(r#"{"presence":"ready"}"#),
        &alice,
    )
    .unwrap();
    assert_eq!(st, 200, "{body}");
    let sip = s.bound.sip.expect("the SIP edge");
    let mut caller = ua::Ua::new(sip, "caller");
    let d = caller.call(WHEELCHAIRS, Codec::Pcma).expect("answered");
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_millis(1500));
    caller.press(&d, '2');
    let t0 = Instant::now();
    let failed = loop {
        let v = status();
        assert!(
            v["ringing"].is_null(),
            "a phone never connected was rung: {v:#}"
        );
        if v["state"] == "disconnected" {
            break v;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{v:#}");
        let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_millis(250));
    };
    let why = failed["error"].as_str().unwrap_or_default();
    assert!(why.contains("did not complete within 10 s"), "{failed:#}");
    phone_shown(s.bound.http, 1, false);
    // The caller is still waiting in the queue, with their place.
    let c = newest_call(&s, |c| c["state"] != "ivr");
    assert_eq!(c["state"], "queued", "{c:#}");
    assert!(c["agent"].is_null(), "{c:#}");
}

/// A caller waiting for the wheelchair service books a callback (2, then
/// 1 in the queue) and hangs up; Alice turns her browser phone on and is
/// Available: the callback rings her browser first, her Accept answers
/// it (not the engine directly: the call accepts once her phone is
/// joined), and then the caller's phone (our UA, at its own address) is
/// rung and bridged to her, each hearing the other.
#[test]
fn a_callback_rings_the_agents_browser_then_the_caller() {
    let s = server("softphone-callback");
    let sip = s.bound.sip.expect("the SIP edge");
    let mut caller = ua::Ua::new(sip, "caller");
    let d = caller.call(WHEELCHAIRS, Codec::Pcma).expect("answered");
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_millis(1500));
    caller.press(&d, '2');
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_millis(3000));
    caller.press(&d, '1');
    assert!(
        caller.await_bye(&d, Duration::from_secs(20)),
        "the caller is told and hung up: {}",
        s.bound.log()
    );
    let booked = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(booked["callback_requested"], true, "{booked:#}");
    let contact = booked["contact"].as_u64().unwrap();

    let mut browser = Browser::open(&s, &tone_file(1800));
    let ready = browser.reply(Duration::from_secs(60));
    assert_eq!(ready["status"]["state"], "connected", "{ready:#}");
    browser.send("answer");
    let answered = browser.reply(Duration::from_secs(60));
    assert_eq!(answered["answered"], contact, "{answered:#}");
    // Then the caller's phone rings, and they talk.
    let invite = caller
        .await_invite(Duration::from_secs(30))
        .expect("the caller is rung back");
    let mut leg = caller.answer(&invite, Codec::Pcma);
    let _ = caller.talk(&leg, 1000.0, 8000.0, Duration::from_millis(500));
    let (heard, far) = both_listen(&mut caller, &leg, &mut browser, Duration::from_secs(3));
    assert!(
        frames_of(&heard, 1800.0) >= 60,
        "the caller heard the agent in {} of {} frames",
        frames_of(&heard, 1800.0),
        heard.len()
    );
    let (near, all) = far_at(&far, 1000);
    assert!(
        near * 2 >= all,
        "the agent heard the caller in {near} of {all}: {far}"
    );
    assert_eq!(caller.bye(&mut leg), 200);
    let c = newest_call(&s, |c| {
        c["direction"] == "outbound" && c["state"] == "ended"
    });
    assert_eq!(c["contact"], contact, "{c:#}");
    assert_eq!(c["agent"], 1, "{c:#}");
    assert_eq!(c["bridged"], true, "{c:#}");
}
