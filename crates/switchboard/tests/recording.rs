//! Call recording end to end: a service set to record every call, a real
//! call between our test user agents (the caller sends 1,000 Hz, the
//! agent's phone 1,800 Hz), the recording found by its contact, opened as
//! a stereo WAV with each side's tone in its own channel and none in the
//! other, sealed on disk, every listen audited, and destroyed by the
//! service's retention.

mod common;

use common::audio;
use common::calls::*;
use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};
use telephony::g711::Codec;

#[test]
fn a_recorded_call_opens_as_stereo_with_each_side_in_its_channel_and_retention_destroys_it() {
    let s = server("always");
    // Kept for 30 seconds (0.00035 days), so the test sees it destroyed.
    record_wheelchairs(
        &s,
        serde_json::json!({"policy": "always", "retention_days": 0.00035}),
    );
    let (mut agent, alice, mut caller, d) = alice_and_a_caller(&s);
    let phone = std::thread::spawn(move || {
        let invite = agent
            .await_invite(Duration::from_secs(40))
            .expect("the agent's phone is rung");
        let mut leg = agent.answer(&invite, Codec::Pcmu);
        let _ = agent.talk(&leg, 1800.0, 8000.0, Duration::from_secs(5));
        agent.bye(&mut leg)
    });
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_millis(1500));
    caller.press(&d, '2');
    let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_secs(12));
    assert_eq!(phone.join().unwrap(), 200);
    assert!(caller.await_bye(&d, Duration::from_secs(10)));
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["bridged"], true, "{c:#}");
    assert_eq!(c["recording"], "off", "stopped at the end: {c:#}");
    let made = c["recordings"].as_array().unwrap().clone();
    assert_eq!(made.len(), 1, "{c:#}");
    let id = made[0].as_u64().unwrap();
    let contact = c["contact"].as_u64().unwrap();
    // Found by its contact and by its agent; finished, about 5 s long.
    let listed = finished_recording(&s, contact);
    assert_eq!(listed["id"], id);
    assert_eq!(listed["agent"], 1);
    let secs = listed["seconds"].as_f64().unwrap();
    assert!((3.0..8.0).contains(&secs), "{listed:#}");
    // Found by its agent, by the caller's number, and by time; not by
    // another number or another day.
    let found = |query: &str| {
        let (st, body) = http(
            s.bound.http,
            "GET",
            &format!("/api/v1/recordings?{query}"),
            None,
        )
        .unwrap();
        assert_eq!(st, 200, "{query}: {body}");
        body.contains(&format!("\"id\":{id}"))
    };
    let started = listed["started_at"].as_str().unwrap().to_string();
    assert!(found("agent=1"));
    assert!(
        found("number=%2B447700900123"),
        "the test UA calls from +447700900123"
    );
    assert!(
        found("number=07700%20900123"),
        "the number as people write it"
    );
    assert!(!found("number=%2B447700900999"));
    assert!(!found("agent=2"));
    assert!(found(&format!("from={started}")));
    assert!(!found("to=2026-01-01T00:00:00Z"));
    let (st, body) = http(
        s.bound.http,
        "GET",
        "/api/v1/recordings?number=not-a-number",
        None,
    )
    .unwrap();
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("number:"), "{body}");
    // Opened: the caller's tone on the left, the agent's on the right,
    // each in the agent's codec crossing to the caller's (µ-law to A-law).
    let (st, head, wav) =
        http_bytes(s.bound.http, &format!("/api/v1/recordings/{id}/audio")).unwrap();
    assert_eq!(st, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: audio/wav"),
        "{head}"
    );
    let frames = stereo_frames(&wav);
    let left = frames
        .iter()
        .filter(|(l, _)| audio::carries(l, 1000.0, 8000.0))
        .count();
    let right = frames
        .iter()
        .filter(|(_, r)| audio::carries(r, 1800.0, 8000.0))
        .count();
    assert!(
        left >= 100,
        "the caller's tone in {left} of {} frames",
        frames.len()
    );
    assert!(
        right >= 100,
        "the agent's tone in {right} of {} frames",
        frames.len()
    );
    assert_eq!(crossed(&frames), 0, "each side only in its own channel");
    // At rest it is sealed: our header, no WAV, no tone's samples.
    let file = s.data.join(format!("recordings/1/{id}.rec"));
    let sealed = std::fs::read(&file).unwrap();
    assert!(sealed.starts_with(b"SBREC1\n\0"));
    assert!(!sealed.windows(4).any(|w| w == b"RIFF"));
    assert!(!sealed.windows(64).any(|w| wav[44 + 4000..44 + 4064] == *w));
    // Every listen is audited.
    let rows = audit_rows(&s.data, "listen to recording");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].1, format!("recording {id}"));
    // An agent may not listen.
    let (st, _, _) = http_with(
        s.bound.http,
        "GET",
        &format!("/api/v1/recordings/{id}/audio"),
        None,
        &alice,
    )
    .unwrap();
    assert_eq!(st, 403);
    // Retention: the key is destroyed, the file deleted, listening is 410.
    let t0 = Instant::now();
    loop {
        let (_, body) = http(
            s.bound.http,
            "GET",
            &format!("/api/v1/recordings?contact={contact}"),
            None,
        )
        .unwrap();
        if body.contains("\"state\":\"destroyed\"") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "never destroyed: {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let (st, _, body) =
        http_bytes(s.bound.http, &format!("/api/v1/recordings/{id}/audio")).unwrap();
    assert_eq!(st, 410, "{}", String::from_utf8_lossy(&body));
    assert!(!file.exists(), "the file is deleted");
    assert_eq!(
        audit_rows(&s.data, "destroy recording (retention)").len(),
        1
    );
}

#[test]
fn the_agent_pauses_an_on_demand_recording_and_a_bad_request_is_refused_by_name() {
    let s = server("demand");
    record_wheelchairs(
        &s,
        serde_json::json!({"policy": "on_demand", "retention_days": 30}),
    );
    // A retention the trust cannot mean is refused, by name.
    let (st, body) = set_wheelchairs_recording(
        &s,
        serde_json::json!({"policy": "always", "retention_days": 0}),
    );
    assert_eq!(st, 422, "{body}");
    assert!(body.contains("recording.retention_days"), "{body}");
    let (mut agent, alice, mut caller, d) = alice_and_a_caller(&s);
    let http_addr = s.bound.http;
    let control = move |contact: u64, action: &str| {
        http_with(
            http_addr,
            "POST",
            &format!("/api/v1/contacts/{contact}/recording"),
            Some(&format!(r#"{{"action":"{action}"}}"#)),
            &alice,
        )
        .unwrap()
    };
    let phone = std::thread::spawn(move || {
        let invite = agent
            .await_invite(Duration::from_secs(40))
            .expect("the agent's phone is rung");
        let mut leg = agent.answer(&invite, Codec::Pcma);
        let _ = agent.talk(&leg, 1800.0, 8000.0, Duration::from_secs(7));
        agent.bye(&mut leg)
    });
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_millis(1500));
    caller.press(&d, '2');
    let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_secs(2));
    let c = newest_call(&s, |c| c["state"] == "connected");
    let contact = c["contact"].as_u64().unwrap();
    assert_eq!(c["recording"], "off", "on demand: not until asked");
    let (st, _, body) = control(contact, "pause");
    assert_eq!(st, 409, "{body}");
    assert!(body.contains("not being recorded"), "{body}");
    let (st, _, body) = control(contact, "rewind");
    assert_eq!(st, 422, "{body}");
    let (st, _, body) = control(contact, "start");
    assert_eq!(st, 200, "{body}");
    let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_secs(1));
    let (st, _, body) = control(contact, "pause");
    assert_eq!(st, 200, "{body}");
    let c = newest_call(&s, |c| c["state"] == "connected");
    assert_eq!(c["recording"], "paused", "{c:#}");
    let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_secs(2));
    let (st, _, body) = control(contact, "resume");
    assert_eq!(st, 200, "{body}");
    let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_secs(8));
    assert_eq!(phone.join().unwrap(), 200);
    assert!(caller.await_bye(&d, Duration::from_secs(10)));
    let c = newest_call(&s, |c| c["state"] == "ended");
    let id = c["recordings"][0].as_u64().expect("one recording");
    let r = finished_recording(&s, contact);
    assert_eq!(r["id"], id);
    let paused = r["paused_seconds"].as_f64().unwrap();
    assert!((1.5..3.5).contains(&paused), "{r:#}");
    // The paused stretch is silence on both sides, and there is audio
    // either side of it.
    let (st, _, wav) = http_bytes(s.bound.http, &format!("/api/v1/recordings/{id}/audio")).unwrap();
    assert_eq!(st, 200);
    let frames = stereo_frames(&wav);
    let silent = frames
        .iter()
        .filter(|(l, r)| audio::rms(l) < 1.0 && audio::rms(r) < 1.0)
        .count();
    assert!(
        (70..=180).contains(&silent),
        "{silent} silent frames of {}",
        frames.len()
    );
    let heard = frames
        .iter()
        .filter(|(l, _)| audio::carries(l, 1000.0, 8000.0))
        .count();
    assert!(heard >= 100, "{heard}");
    let starts = audit_rows(&s.data, "start recording");
    assert_eq!(starts.len(), 1, "{starts:?}");
    assert_eq!(audit_rows(&s.data, "pause recording").len(), 1);
}

/// Records one call of Alice's, kept `retention_days`; answers the
/// recording's id once it is finished.
fn one_recorded_call(s: &Server, retention_days: f64) -> u64 {
    record_wheelchairs(
        s,
        serde_json::json!({"policy": "always", "retention_days": retention_days}),
    );
    let (mut agent, _alice, mut caller, d) = alice_and_a_caller(s);
    let phone = std::thread::spawn(move || {
        let invite = agent
            .await_invite(Duration::from_secs(40))
            .expect("the agent's phone is rung");
        let mut leg = agent.answer(&invite, Codec::Pcma);
        let _ = agent.talk(&leg, 1800.0, 8000.0, Duration::from_secs(2));
        agent.bye(&mut leg)
    });
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_millis(1500));
    caller.press(&d, '2');
    let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_secs(8));
    assert_eq!(phone.join().unwrap(), 200);
    assert!(caller.await_bye(&d, Duration::from_secs(10)));
    let c = newest_call(s, |c| c["state"] == "ended");
    let contact = c["contact"].as_u64().unwrap();
    finished_recording(s, contact)["id"].as_u64().unwrap()
}

#[test]
fn the_quality_lead_and_a_supervisor_score_a_call_calibrate_and_the_agent_sees_their_feedback() {
    let s = server("quality");
    let id = one_recorded_call(&s, 30.0);
    let admin = as_person(&s, "kent.admin");
    let quality = as_person(&s, "kent.quality");
    let boss = as_person(&s, "kent.supervisor");
    let alice = as_person(&s, "kent.agent");
    let go = |who: &str, method: &str, path: &str, body: Option<Value>| {
        let (st, _, text) = http_with(
            s.bound.http,
            method,
            path,
            body.map(|b| b.to_string()).as_deref(),
            who,
        )
        .unwrap();
        (
            st,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
        )
    };
    // The admin defines the scorecard; a bad one is refused by name.
    let card = serde_json::json!({"name": "Wheelchair calls", "sections": [
        {"name": "Safety", "questions": [
            {"id": "identity", "text": "Checked the patient's identity", "weight": 10, "fail_all": true},
            {"id": "worsening", "text": "Gave worsening advice", "weight": 10, "not_applicable": true}]},
        {"name": "Manner", "questions": [
            {"id": "empathy", "text": "Showed empathy", "weight": 20, "scale": 4}]}]});
    let mut twice = card.clone();
    twice["sections"][1]["questions"][0]["id"] = "identity".into();
    let (st, v) = go(&admin, "PUT", "/api/v1/scorecards/1", Some(twice));
    assert_eq!(st, 422, "{v}");
    assert!(v.to_string().contains("'identity' is used twice"), "{v}");
    let (st, v) = go(&admin, "PUT", "/api/v1/scorecards/1", Some(card));
    assert_eq!(st, 201, "{v}");
    // The quality lead may listen (audited) and scores the call.
    let (st, head, _) = http_bytes_with(
        s.bound.http,
        &format!("/api/v1/recordings/{id}/audio"),
        &quality,
    )
    .unwrap();
    assert_eq!(st, 200, "{head}");
    let eval = |who: &str, answers: Value, comment: &str| {
        go(
            who,
            "POST",
            "/api/v1/evaluations",
            Some(
                serde_json::json!({"recording": id, "scorecard": 1, "answers": answers, "comment": comment}),
            ),
        )
    };
    let (st, v) = eval(
        &quality,
        serde_json::json!({"identity": "yes", "worsening": "na"}),
        "",
    );
    assert_eq!(st, 422, "{v}");
    assert!(
        v.to_string().contains("answers.empathy: not answered"),
        "{v}"
    );
    let (st, v) = eval(
        &quality,
        serde_json::json!({"identity": "yes", "worsening": "no", "empathy": 3}),
        "Warm and clear; give worsening advice next time.",
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["score"], 62.5, "{v}");
    assert_eq!(v["agent"], 1);
    let (st, v) = eval(
        &boss,
        serde_json::json!({"identity": "no", "worsening": "no", "empathy": 4}),
        "Identity not checked.",
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["score"], 0.0, "a fail-all question failed: {v}");
    assert_eq!(v["failed"], serde_json::json!(["identity"]));
    // An agent may not score.
    let (st, _) = eval(&alice, serde_json::json!({"identity": "yes"}), "");
    assert_eq!(st, 403);
    // Calibration: the two differ on identity and empathy.
    let (st, v) = go(
        &quality,
        "GET",
        &format!("/api/v1/quality/calibration?recording={id}"),
        None,
    );
    assert_eq!(st, 200, "{v}");
    let pair = &v["pairs"][0];
    assert_eq!(
        pair["differ_on"],
        serde_json::json!(["empathy", "identity"]),
        "{v}"
    );
    assert_eq!(pair["agreed"], 1);
    assert_eq!(pair["score_gap"], 62.5);
    // Reports by agent, team and question.
    let (_, v) = go(&boss, "GET", "/api/v1/quality/report?by=agent", None);
    let alice_row = &v["rows"][0];
    assert_eq!(alice_row["key"], "1", "{v}");
    assert_eq!(alice_row["evaluations"], 2);
    assert_eq!(alice_row["mean"], 31.25);
    assert_eq!(alice_row["failed"], 1);
    let (_, v) = go(&boss, "GET", "/api/v1/quality/report?by=team", None);
    assert_eq!(v["rows"].as_array().unwrap().len(), 1, "{v}");
    let (_, v) = go(&boss, "GET", "/api/v1/quality/report?by=question", None);
    let q = |id: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(q("empathy")["mean"], 87.5, "{v}");
    assert_eq!(q("identity")["failed"], 1, "{v}");
    let (st, v) = go(&boss, "GET", "/api/v1/quality/report?by=shift", None);
    assert_eq!(st, 400, "{v}");
    // Alice reads her feedback; the comments were sealed at rest.
    let (st, v) = go(&alice, "GET", "/api/v1/me/evaluations", None);
    assert_eq!(st, 200, "{v}");
    let mine = v["evaluations"].as_array().unwrap();
    assert_eq!(mine.len(), 2, "{v}");
    assert!(
        v.to_string().contains("give worsening advice next time"),
        "{v}"
    );
    for f in ["switchboard.db", "switchboard.db-wal"] {
        let bytes = std::fs::read(s.data.join(f)).unwrap_or_default();
        assert!(
            !bytes.windows(14).any(|w| w == b"advice next ti"),
            "the comment is sealed ({f})"
        );
    }
    assert_eq!(audit_rows(&s.data, "evaluate call").len(), 2);
    assert_eq!(audit_rows(&s.data, "listen to recording").len(), 1);
}

/// A recording that cannot be made (here the recordings folder is a file)
/// is said so in the call's record; the call itself goes on, bridged, and
/// no record of a recording without a file is left behind.
#[test]
fn a_recording_that_cannot_be_made_leaves_the_call_going_and_says_why() {
    let s = server_after("broken", |data| {
        std::fs::write(data.join("recordings"), b"not a folder").unwrap();
    });
    record_wheelchairs(
        &s,
        serde_json::json!({"policy": "always", "retention_days": 30}),
    );
    let (mut agent, _alice, mut caller, d) = alice_and_a_caller(&s);
    let phone = std::thread::spawn(move || {
        let invite = agent
            .await_invite(Duration::from_secs(40))
            .expect("the agent's phone is rung");
        let mut leg = agent.answer(&invite, Codec::Pcma);
        let heard = agent.talk(&leg, 1800.0, 8000.0, Duration::from_secs(3));
        (heard, agent.bye(&mut leg))
    });
    let _ = caller.talk(&d, 0.0, 0.0, Duration::from_millis(1500));
    caller.press(&d, '2');
    let _ = caller.talk(&d, 1000.0, 8000.0, Duration::from_secs(8));
    let (heard, bye) = phone.join().unwrap();
    assert_eq!(bye, 200);
    assert!(
        heard
            .iter()
            .filter(|(_, x)| audio::carries(x, 1000.0, 8000.0))
            .count()
            > 50,
        "the call went on"
    );
    assert!(caller.await_bye(&d, Duration::from_secs(10)));
    let c = newest_call(&s, |c| c["state"] == "ended");
    assert_eq!(c["bridged"], true, "{c:#}");
    assert_eq!(c["recording"], "off", "{c:#}");
    assert_eq!(c["recordings"], serde_json::json!([]), "{c:#}");
    let why = c["recording_error"].as_str().unwrap_or_default();
    assert!(why.contains("the recording's file cannot be made"), "{c:#}");
    let (_, body) = http(s.bound.http, "GET", "/api/v1/recordings", None).unwrap();
    assert_eq!(body, r#"{"recordings":[]}"#);
}

/// A complaint keeps a recording past its retention: held, it survives
/// its expiry; released, it is destroyed; both audited with the reason.
#[test]
fn a_held_recording_outlives_its_retention_until_the_hold_is_released() {
    let s = server("hold");
    // Kept for about 17 seconds (0.0002 days).
    let id = one_recorded_call(&s, 0.0002);
    let boss = as_person(&s, "kent.supervisor");
    let hold = |method: &str, body: Option<&str>| {
        http_with(
            s.bound.http,
            method,
            &format!("/api/v1/recordings/{id}/hold"),
            body,
            &boss,
        )
        .unwrap()
    };
    let (st, _, body) = hold("PUT", Some(r#"{"reason":"no"}"#));
    assert_eq!(st, 422, "{body}");
    let (st, _, body) = hold("PUT", Some(r#"{"reason":"complaint 2026/114"}"#));
    assert_eq!(st, 200, "{body}");
    let state = || {
        let (_, body) = http(s.bound.http, "GET", "/api/v1/recordings", None).unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        v["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap()
    };
    // Past its expiry and two of the 5-second sweeps: still there.
    let expires: jiff::Timestamp = state()["expires_at"].as_str().unwrap().parse().unwrap();
    while jiff::Timestamp::now() < expires + jiff::SignedDuration::from_secs(12) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let r = state();
    assert_eq!(r["state"], "available", "held past its expiry: {r:#}");
    assert_eq!(r["hold"], "complaint 2026/114");
    // Released: destroyed at the next sweep.
    let (st, _, body) = hold("DELETE", None);
    assert_eq!(st, 200, "{body}");
    let t0 = Instant::now();
    while state()["state"] != "destroyed" {
        assert!(t0.elapsed() < Duration::from_secs(20), "{:#}", state());
        std::thread::sleep(Duration::from_millis(300));
    }
    let (st, _, _) = hold("PUT", Some(r#"{"reason":"too late for this one"}"#));
    assert_eq!(st, 404);
    let held = audit_rows(&s.data, "hold recording");
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(audit_rows(&s.data, "release recording hold").len(), 1);
}
