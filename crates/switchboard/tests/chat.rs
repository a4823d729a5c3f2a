//! Web chat end to end, against the real server binary: a patient's page
//! (our WebSocket client) starts a conversation at the demo's chat entry
//! point, goes through the service's flow by its buttons, waits with its
//! place, is taken by Alice on the desktop API; messages both ways, a lost
//! connection resumed (exactly what was missed, once), a message sent
//! again stored once, typing, the flood limit, the end, the transcript;
//! kill -9 mid-conversation and the conversation goes on; and many
//! conversations whose connections are cut at random points, each message
//! arriving exactly once, in order. Protocol: docs/chat.md.

mod common;

use common::*;
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<TcpStream>;

/// A test NHS number (999 000 0000 – 999 999 9999) with a valid check digit.
const NHS: &str = "9990000018";

fn start_chat(addr: SocketAddr, body: &Value, extra: &str) -> (u16, Value) {
    let (status, _, text) = http_with(
        addr,
        "POST",
        "/chat/v1/conversations",
        Some(&body.to_string()),
        extra,
    )
    .unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn connect(addr: SocketAddr, token: &str, after: u64) -> Ws {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/chat/v1/socket"), stream)
        .expect("the chat socket opens");
    send(
        &mut ws,
        json!({"type": "hello", "token": token, "after": after}),
    );
    ws
}

fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).unwrap();
}

/// The next frame, or None when the socket closed or is quiet for 10 s.
fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return serde_json::from_str(&t).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Frames until one matches `want` (all of them, the matching one last).
fn until(ws: &mut Ws, what: &str, want: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let Some(f) = next(ws) else {
            panic!("the socket ended before {what}: {seen:#?}");
        };
        let hit = want(&f);
        seen.push(f);
        if hit {
            return seen;
        }
    }
}

fn kind(f: &Value) -> &str {
    f["body"]["kind"].as_str().unwrap_or("")
}

fn agent_get(addr: SocketAddr, cookie: &str, path: &str) -> Value {
    let (s, _, b) = http_with(addr, "GET", path, None, cookie).unwrap();
    assert_eq!(s, 200, "GET {path}: {b}");
    serde_json::from_str(&b).unwrap()
}

fn agent_post(addr: SocketAddr, cookie: &str, path: &str, body: Value) -> (u16, Value) {
    let (s, _, b) = http_with(addr, "POST", path, Some(&body.to_string()), cookie).unwrap();
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

/// Alice (agent 1) logs in and is ready; her session's header.
fn alice(addr: SocketAddr) -> String {
    let cookie = login(addr, "kent.agent", DEMO_PASSWORD).expect("Alice logs in");
    let (s, b) = agent_post(
        addr,
        &cookie,
        "/api/v1/agents/1/presence",
        json!({"presence": "ready"}),
    );
    assert_eq!(s, 200, "{b}");
    cookie
}

/// Waits for a chat to be offered to Alice; accepts it; its contact id.
fn accept_offer(addr: SocketAddr, cookie: &str) -> u64 {
    accept_offered(addr, cookie, 1, "chat", &[])
}

fn server(name: &str, extra: &[&str]) -> (std::path::PathBuf, std::process::Child, Bound) {
    let data = std::env::temp_dir().join(format!("sb-chat-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut args = vec!["--sip", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let (child, bound) = launch(
        &data,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        &args,
    );
    (data, child, bound)
}

#[test]
fn a_patient_chats_through_the_flow_and_the_queue_with_an_agent_and_nothing_is_lost_or_repeated() {
    let (data, server, bound) = server("journey", &[]);
    let addr = bound.http;
    // The entry point: open, with the other ways in.
    let (s, b) = http(addr, "GET", "/chat/v1/entry?address=chat-wheelchairs", None).unwrap();
    assert_eq!(s, 200, "{b}");
    let e: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(e["open"], true, "{e}");
    assert_eq!(e["other_ways"][0]["kind"], "phone", "{e}");
    // The main number keeps office hours: whatever the time, the entry
    // point and a start agree (closed: 409 `closed`, with other ways in).
    let (_, b) = http(addr, "GET", "/chat/v1/entry?address=chat-main", None).unwrap();
    let main: Value = serde_json::from_str(&b).unwrap();
    let (s, v) = start_chat(addr, &json!({"entry": "chat-main", "reason": "x"}), "");
    if main["open"] == true {
        assert_eq!(s, 201, "{v}");
    } else {
        assert_eq!((s, v["code"].as_str()), (409, Some("closed")), "{v}");
        assert!(
            main["other_ways"].to_string().contains("+441632960000"),
            "{main}"
        );
    }
    // Bad input is refused, naming the problem; nothing is started.
    for (body, status, names) in [
        (
            json!({"entry": "no-such-chat", "reason": "x"}),
            404,
            "no-such-chat",
        ),
        (
            json!({"entry": "Bad Entry!", "reason": "x"}),
            400,
            "address",
        ),
        (
            json!({"entry": "chat-wheelchairs", "reason": "  "}),
            422,
            "reason",
        ),
        (
            json!({"entry": "chat-wheelchairs", "reason": "x".repeat(501)}),
            422,
            "reason",
        ),
        (
            json!({"entry": "chat-wheelchairs", "reason": "x", "nhs_number": "9990000019"}),
            422,
            "nhs_number",
        ),
        (
            json!({"entry": "chat-wheelchairs", "reason": "x", "date_of_birth": "2999-01-01"}),
            422,
            "date_of_birth",
        ),
        (
            json!({"entry": "chat-wheelchairs", "reason": "x", "date_of_birth": "31/01/1980"}),
            422,
            "date_of_birth",
        ),
        (
            json!({"entry": "chat-wheelchairs", "reason": "x", "colour": "red"}),
            422,
            "colour",
        ),
    ] {
        let (s, v) = start_chat(addr, &body, "");
        assert_eq!(s, status, "{body}: {v}");
        assert!(v.to_string().contains(names), "{body}: {v}");
    }
    let (s, started) = start_chat(
        addr,
        &json!({"entry": "chat-wheelchairs", "reason": "My knee hurts after physio",
                "name": "Pat Example", "date_of_birth": "1970-05-04", "nhs_number": "999 000 0018"}),
        "",
    );
    assert_eq!(s, 201, "{started}");
    let token = started["token"].as_str().unwrap().to_string();
    let mut ws = connect(addr, &token, 0);
    // The flow: the reason first, the welcome, the menu as buttons.
    let seen = until(&mut ws, "the menu's buttons", |f| kind(f) == "choice");
    assert_eq!(seen[0]["seq"], 1);
    assert_eq!(seen[0]["body"]["text"], "My knee hurts after physio");
    let options = &seen.last().unwrap()["body"]["options"];
    assert!(
        options
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["key"] == "2" && o["label"] == "Speak to an adviser"),
        "{options}"
    );
    // A button the menu does not have is refused; the right one chosen.
    send(&mut ws, json!({"type": "choose", "id": "k0", "key": "7"}));
    let f = until(&mut ws, "a refusal", |f| f["type"] == "error")
        .pop()
        .unwrap();
    assert_eq!(f["code"], "not_now", "{f}");
    send(&mut ws, json!({"type": "choose", "id": "k1", "key": "2"}));
    until(&mut ws, "the queue position", |f| kind(f) == "position");
    // The admin keeps the quick replies agents pick from.
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let put = |body: Value| {
        let (s, _, b) = http_with(
            addr,
            "PUT",
            "/api/v1/quick-replies",
            Some(&body.to_string()),
            &admin,
        )
        .unwrap();
        (s, b)
    };
    let (s, b) =
        put(json!({"replies": [{"title": "Hello", "text": "a"}, {"title": "Hello", "text": "b"}]}));
    assert_eq!(s, 422, "{b}");
    assert!(b.contains("used twice"), "{b}");
    let (s, b) = put(json!({"replies": [{"title": "", "text": "a"}]}));
    assert_eq!(s, 422, "{b}");
    let (s, b) = put(json!({"replies": [
        {"title": "Greeting", "text": "Hello, thank you for getting in touch."},
        {"title": "Urgent", "text": "If this is an emergency, call 999."}]}));
    assert_eq!(s, 200, "{b}");
    // Alice takes it; the patient is told who joined.
    let cookie = alice(addr);
    let q = agent_get(addr, &cookie, "/api/v1/quick-replies");
    assert_eq!(q["replies"][1]["title"], "Urgent", "{q}");
    let contact = accept_offer(addr, &cookie);
    let joined = until(&mut ws, "joined", |f| kind(f) == "joined")
        .pop()
        .unwrap();
    assert_eq!(joined["body"]["name"], "Alice", "{joined}");
    // Alice reads the chat from the start: the reason is there.
    let v = agent_get(addr, &cookie, &format!("/api/v1/chats/{contact}?after=0"));
    assert_eq!(
        v["messages"][0]["body"]["text"], "My knee hurts after physio",
        "{v}"
    );
    assert_eq!(v["stage"], "with_agent", "{v}");
    // Words both ways; HTML is words, not markup.
    let (s, said) = agent_post(
        addr,
        &cookie,
        &format!("/api/v1/chats/{contact}/messages"),
        json!({"id": "a1", "text": "Hello, I am Alice. <b>How</b> can I help?"}),
    );
    assert_eq!(s, 200, "{said}");
    let f = until(&mut ws, "Alice's words", |f| f["from"] == "agent")
        .pop()
        .unwrap();
    assert_eq!(
        f["body"]["text"],
        "Hello, I am Alice. <b>How</b> can I help?"
    );
    assert_eq!(f["name"], "Alice");
    assert_eq!(f["seq"], said["seq"]);
    send(&mut ws, json!({"type": "typing"}));
    send(
        &mut ws,
        json!({"type": "text", "id": "m1", "text": "It swells in the evening"}),
    );
    let got = until(&mut ws, "the ack of m1", |f| {
        f["type"] == "ack" && f["id"] == "m1"
    });
    let m1_seq = got.last().unwrap()["seq"].as_u64().unwrap();
    let v = agent_get(
        addr,
        &cookie,
        &format!("/api/v1/chats/{contact}?after={}", m1_seq - 1),
    );
    assert_eq!(
        v["messages"][0]["body"]["text"], "It swells in the evening",
        "{v}"
    );
    assert_eq!(v["patient_typing"], true, "{v}");
    // A photo of the swelling: checked by its content, sealed, stored
    // before the message that names it; Alice opens it (audited).
    let png = tiny_png(300);
    let (s, up) = upload(addr, &token, "knee photo.png", &png);
    assert_eq!(s, 200, "{up}");
    let f = until(&mut ws, "the file's message", |f| kind(f) == "file")
        .pop()
        .unwrap();
    assert_eq!(
        (
            f["body"]["name"].as_str(),
            f["body"]["mime"].as_str(),
            f["body"]["size"].as_u64()
        ),
        (
            Some("knee photo.png"),
            Some("image/png"),
            Some(png.len() as u64)
        ),
        "{f}"
    );
    let file = f["body"]["id"].as_str().unwrap().to_string();
    let file_seq = f["seq"].as_u64().unwrap();
    let (s, head, got) = http_bytes_with(
        addr,
        &format!("/api/v1/chats/{contact}/files/{file}"),
        &cookie,
    )
    .unwrap();
    assert_eq!(s, 200, "{head}");
    assert_eq!(got, png, "the file comes back as it was sent");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-disposition: attachment"),
        "{head}"
    );
    let (s, _, got) = http_bytes_with(
        addr,
        &format!("/chat/v1/attachments/{file}"),
        &format!("Authorization: Bearer {token}\r\n"),
    )
    .unwrap();
    assert_eq!((s, got == png), (200, true));
    // Not an image or a PDF, whatever its name says; too big; no token.
    let (s, b) = upload(addr, &token, "photo.png", b"MZ\x90\x00 a program");
    assert_eq!(s, 415, "{b}");
    let (s, b) = upload(addr, &token, "big.png", &tiny_png(5 * 1024 * 1024 + 1));
    assert_eq!(s, 413, "{b}");
    let (s, b) = upload(addr, &"0".repeat(64), "photo.png", &png);
    assert_eq!(s, 401, "{b}");
    let (s, _, _) = http_bytes_with(
        addr,
        &format!("/api/v1/chats/{contact}/files/{}", "a".repeat(32)),
        &cookie,
    )
    .unwrap();
    assert_eq!(s, 404);
    // At rest the photo is sealed: its bytes are nowhere in the files.
    let stored = std::fs::read(
        data.join("chat-files")
            .join(started["conversation"].to_string())
            .join(&file),
    )
    .unwrap();
    assert!(
        !stored.windows(8).any(|w| w == &png[..8]),
        "the file is stored in clear"
    );
    // The connection drops; Alice writes twice meanwhile.
    let last = file_seq;
    drop(ws);
    for (id, t) in [("a2", "Does it hurt at night?"), ("a3", "And is it red?")] {
        let (s, b) = agent_post(
            addr,
            &cookie,
            &format!("/api/v1/chats/{contact}/messages"),
            json!({"id": id, "text": t}),
        );
        assert_eq!(s, 200, "{b}");
    }
    // Sent again, the desktop's message is stored once.
    let (_, again) = agent_post(
        addr,
        &cookie,
        &format!("/api/v1/chats/{contact}/messages"),
        json!({"id": "a3", "text": "And is it red?"}),
    );
    // Back: exactly what was missed, in order, once.
    let mut ws = connect(addr, &token, last);
    let a = next(&mut ws).unwrap();
    let b = next(&mut ws).unwrap();
    assert_eq!(
        (a["seq"].as_u64(), a["body"]["text"].as_str()),
        (Some(last + 1), Some("Does it hurt at night?"))
    );
    assert_eq!(
        (b["seq"].as_u64(), b["body"]["text"].as_str()),
        (Some(last + 2), Some("And is it red?"))
    );
    assert_eq!(again["seq"], b["seq"], "{again}");
    // The page sends m1 again (it never saw the ack): acknowledged with the
    // same number, not stored again.
    send(
        &mut ws,
        json!({"type": "text", "id": "m1", "text": "It swells in the evening"}),
    );
    let f = next(&mut ws).unwrap();
    assert_eq!(
        (f["type"].as_str(), f["seq"].as_u64()),
        (Some("ack"), Some(m1_seq)),
        "{f}"
    );
    // Too long, and too fast.
    send(
        &mut ws,
        json!({"type": "text", "id": "big", "text": "x".repeat(4001)}),
    );
    let f = next(&mut ws).unwrap();
    assert_eq!(f["code"], "too_long", "{f}");
    for i in 0..12 {
        send(
            &mut ws,
            json!({"type": "text", "id": format!("f{i}"), "text": format!("flood {i}")}),
        );
    }
    // At most 10 in 10 s (the patient's earlier messages count too).
    let frames = until(&mut ws, "the flood refused", |f| f["code"] == "too_fast");
    let stored = frames.iter().filter(|f| f["type"] == "ack").count();
    assert!(stored < 10, "{frames:#?}");
    // A forged token gets nothing.
    let mut forged = connect(addr, &"0".repeat(64), 0);
    let f = next(&mut forged).unwrap();
    assert_eq!(f["code"], "token", "{f}");
    // The wallboard's list: one chat with an agent, no patient data.
    let (_, b) = http(addr, "GET", "/api/v1/chats", None).unwrap();
    let live: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(live["with_agents"], 1, "{live}");
    assert!(!b.contains("knee"), "{b}");
    // Alice passes the patient to Hana, a clinician: Hana reads the
    // history and takes over.
    let hana = login(addr, "kent.clinician", DEMO_PASSWORD).unwrap();
    let (s, b) = agent_post(
        addr,
        &hana,
        "/api/v1/agents/8/presence",
        json!({"presence": "ready"}),
    );
    assert_eq!(s, 200, "{b}");
    let (s, b) = agent_post(
        addr,
        &cookie,
        &format!("/api/v1/contacts/{contact}/transfer"),
        json!({"mode": "cold", "from_agent": 1, "agent": 8}),
    );
    assert_eq!(s, 200, "transfer: {b}");
    let t0 = Instant::now();
    loop {
        let (s, _) = agent_post(
            addr,
            &hana,
            &format!("/api/v1/contacts/{contact}/accept"),
            json!({"agent": 8}),
        );
        if s == 200 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "Hana was not offered the chat: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let joined = until(&mut ws, "Hana joined", |f| kind(f) == "joined")
        .pop()
        .unwrap();
    assert_eq!(joined["body"]["name"], "Hana", "{joined}");
    let v = agent_get(addr, &hana, &format!("/api/v1/chats/{contact}?after=0"));
    assert_eq!(
        v["messages"][0]["body"]["text"], "My knee hurts after physio",
        "{v}"
    );
    assert!(v.to_string().contains("It swells in the evening"), "{v}");
    // Alice no longer writes in it.
    let (s, b) = agent_post(
        addr,
        &cookie,
        &format!("/api/v1/chats/{contact}/messages"),
        json!({"text": "Still me"}),
    );
    assert_eq!(s, 403, "{b}");
    let (s, b) = agent_post(
        addr,
        &hana,
        &format!("/api/v1/chats/{contact}/messages"),
        json!({"text": "I am a nurse practitioner: tell me about the swelling."}),
    );
    assert_eq!(s, 200, "{b}");
    let f = until(&mut ws, "Hana's words", |f| f["from"] == "agent")
        .pop()
        .unwrap();
    assert_eq!(f["name"], "Hana", "{f}");
    // Hana ends the chat; the patient is told and the socket closes.
    let (s, b) = agent_post(
        addr,
        &hana,
        &format!("/api/v1/contacts/{contact}/end"),
        json!({}),
    );
    assert_eq!(s, 200, "{b}");
    let end = until(&mut ws, "the end", |f| kind(f) == "ended")
        .pop()
        .unwrap();
    assert_eq!(end["body"]["reason"], "Hana ended the chat.", "{end}");
    assert!(next(&mut ws).is_none(), "the socket closes after the end");
    // In wrap-up Hana still reads the whole conversation (from the store).
    let v = agent_get(addr, &hana, &format!("/api/v1/chats/{contact}?after=0"));
    assert_eq!(v["stage"], "ended", "{v}");
    assert_eq!(
        v["messages"][0]["body"]["text"], "My knee hurts after physio",
        "{v}"
    );
    // The figures: started, answered, first response and each agent's load.
    let (s, b) = http(addr, "GET", "/api/v1/reports/chats", None).unwrap();
    assert_eq!(s, 200, "{b}");
    let r: Value = serde_json::from_str(&b).unwrap();
    assert!(
        r["started"].as_u64() >= Some(1) && r["answered"] == 1,
        "{r}"
    );
    assert!(r["first_response_s"].as_f64().is_some(), "{r}");
    assert!(r["agents"].as_array().is_some_and(|a| a.len() == 2), "{r}");
    let (s, csv) = http(addr, "GET", "/api/v1/reports/chats?format=csv", None).unwrap();
    assert_eq!(s, 200);
    assert!(csv.starts_with("dimension,agent,started"), "{csv}");
    // The transcript, by the token only.
    let (s, _, text) = http_with(
        addr,
        "GET",
        "/chat/v1/transcript",
        None,
        &format!("Authorization: Bearer {token}\r\n"),
    )
    .unwrap();
    assert_eq!(s, 200, "{text}");
    for words in [
        "My knee hurts after physio",
        "Alice: Hello, I am Alice.",
        "You: It swells in the evening",
        "And is it red?",
        "Hana: I am a nurse practitioner",
        "Hana ended the chat.",
    ] {
        assert!(text.contains(words), "{words} not in:\n{text}");
    }
    assert_eq!(text.matches("And is it red?").count(), 1, "{text}");
    let (s, _, _) = http_with(
        addr,
        "GET",
        "/chat/v1/transcript",
        None,
        &format!("Authorization: Bearer {}\r\n", "1".repeat(64)),
    )
    .unwrap();
    assert_eq!(s, 401);
    // Audited: the start (with the patient) and Alice's read.
    stop(server);
    let starts = audit_rows(&data, "chat.start");
    assert!(!starts.is_empty(), "{starts:?}");
    assert!(!audit_rows(&data, "chat.read").is_empty());
    // No patient data or words in the server's log.
    let log = bound.log();
    for secret in [NHS, "999 000 0018", "Pat Example", "swells", "knee hurts"] {
        assert!(!log.contains(secret), "{secret} in the server's log");
    }
    // At rest, the words are sealed.
    let db = std::fs::read(data.join("switchboard.db")).unwrap_or_default();
    let wal = std::fs::read(data.join("switchboard.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(6).any(|w| w == b"swells"),
            "a message is stored in clear"
        );
    }
    let _ = std::fs::remove_dir_all(&data);
}

/// A PNG of `len` bytes (its signature, then padding: enough to be taken
/// for one by its content).
fn tiny_png(len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.resize(len.max(8), 7);
    v
}

/// The patient's page sends a file; (status, answer).
fn upload(addr: SocketAddr, token: &str, name: &str, bytes: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let name: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    write!(
        s,
        "POST /chat/v1/attachments?name={name} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    )
    .unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).to_string();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        out.split_once("\r\n\r\n")
            .map_or(String::new(), |(_, b)| b.to_string()),
    )
}

#[test]
fn an_ended_chat_and_its_files_are_deleted_when_the_services_retention_runs_out() {
    let (data, server, bound) = server("retention", &[]);
    let addr = bound.http;
    // Physiotherapy keeps its chats 0.0001 days (8.6 s) and takes files of
    // up to 1,000 bytes.
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let (_, _, b) = http_with(addr, "GET", "/api/v1/services", None, &admin).unwrap();
    let v: Value = serde_json::from_str(&b).unwrap();
    let mut physio = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == 104)
        .unwrap()["service"]
        .clone();
    physio["chat"] = json!({"max_attachment_bytes": 30_000_000});
    let (s, _, b) = http_with(
        addr,
        "PUT",
        "/api/v1/services/104",
        Some(&physio.to_string()),
        &admin,
    )
    .unwrap();
    assert_eq!(s, 422, "{b}");
    assert!(b.contains("chat.max_attachment_bytes"), "{b}");
    physio["chat"] = json!({"max_attachment_bytes": 1000, "retention_days": 0.0001});
    let (s, _, b) = http_with(
        addr,
        "PUT",
        "/api/v1/services/104",
        Some(&physio.to_string()),
        &admin,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    let (s, started) = start_chat(
        addr,
        &json!({"entry": "chat-physio", "reason": "Exercises"}),
        "",
    );
    assert_eq!(s, 201, "{started}");
    let token = started["token"].as_str().unwrap().to_string();
    let chat = started["conversation"].as_u64().unwrap();
    let mut ws = connect(addr, &token, 0);
    let (s, b) = upload(addr, &token, "small.pdf", b"%PDF-1.4 a small document");
    assert_eq!(s, 200, "{b}");
    let (s, b) = upload(
        addr,
        &token,
        "large.pdf",
        &[b"%PDF-1.4 ".as_slice(), &[b'x'; 1000]].concat(),
    );
    assert_eq!(s, 413, "{b}");
    send(&mut ws, json!({"type": "leave"}));
    until(&mut ws, "the end", |f| kind(f) == "ended");
    let ended = Instant::now();
    let transcript = |addr: SocketAddr| {
        http_with(
            addr,
            "GET",
            "/chat/v1/transcript",
            None,
            &format!("Authorization: Bearer {token}\r\n"),
        )
        .unwrap()
        .0
    };
    assert_eq!(transcript(addr), 200, "kept until its retention runs out");
    let files = data.join("chat-files").join(chat.to_string());
    assert!(files.is_dir());
    // A restart sweeps at once: past its 8.6 s, the chat is gone.
    std::thread::sleep(Duration::from_millis(9_000).saturating_sub(ended.elapsed()));
    stop(server);
    let (server, bound) = launch(
        &data,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        &["--sip", "127.0.0.1:0"],
    );
    assert_eq!(transcript(bound.http), 401, "deleted");
    assert!(!files.exists(), "its files are deleted with it");
    stop(server);
    let deleted = audit_rows(&data, "chat.delete");
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn after_kill_9_mid_conversation_the_chat_carries_on() {
    let (data, mut server, bound) = server("crash", &[]);
    let addr = bound.http;
    let (s, started) = start_chat(
        addr,
        &json!({"entry": "chat-wheelchairs", "reason": "My wheelchair's brake is loose"}),
        "",
    );
    assert_eq!(s, 201, "{started}");
    let token = started["token"].as_str().unwrap().to_string();
    let mut ws = connect(addr, &token, 0);
    until(&mut ws, "the menu", |f| kind(f) == "choice");
    send(&mut ws, json!({"type": "choose", "key": "2"}));
    let cookie = alice(addr);
    let contact = accept_offer(addr, &cookie);
    until(&mut ws, "joined", |f| kind(f) == "joined");
    send(
        &mut ws,
        json!({"type": "text", "id": "p1", "text": "Before the crash"}),
    );
    let last = until(&mut ws, "p1 stored", |f| f["type"] == "ack")
        .pop()
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    drop(ws);
    // The same data, a new process.
    let (server, bound) = launch(
        &data,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        &["--sip", "127.0.0.1:0"],
    );
    let addr = bound.http;
    let cookie = login(addr, "kent.agent", DEMO_PASSWORD).unwrap();
    let mut ws = connect(addr, &token, last);
    // The page's message sent again after the crash is known.
    send(
        &mut ws,
        json!({"type": "text", "id": "p1", "text": "Before the crash"}),
    );
    let f = next(&mut ws).unwrap();
    assert_eq!(
        (f["type"].as_str(), f["seq"].as_u64()),
        (Some("ack"), Some(last)),
        "{f}"
    );
    // Alice's desktop reads it all back, and the two go on talking.
    let v = agent_get(addr, &cookie, &format!("/api/v1/chats/{contact}?after=0"));
    assert_eq!(v["stage"], "with_agent", "{v}");
    assert!(v.to_string().contains("Before the crash"), "{v}");
    let (s, b) = agent_post(
        addr,
        &cookie,
        &format!("/api/v1/chats/{contact}/messages"),
        json!({"text": "Still here after the restart"}),
    );
    assert_eq!(s, 200, "{b}");
    // Without an id of its own, the answer still names the stored number.
    assert_eq!(b["seq"].as_u64(), Some(last + 1), "{b}");
    let f = until(&mut ws, "Alice after the restart", |f| f["from"] == "agent")
        .pop()
        .unwrap();
    assert_eq!(f["seq"].as_u64(), Some(last + 1), "{f}");
    send(&mut ws, json!({"type": "text", "id": "p2", "text": "Good"}));
    until(&mut ws, "p2 stored", |f| f["type"] == "ack");
    let v = agent_get(
        addr,
        &cookie,
        &format!("/api/v1/chats/{contact}?after={}", last + 1),
    );
    assert_eq!(v["messages"][0]["body"]["text"], "Good", "{v}");
    kill(server, &data);
}

/// Conversations (CHAT_CONVERSATIONS, default 1,000) of patients who each
/// write MESSAGES times; every connection is cut at a random point (before
/// or after a message is acknowledged) and resumed from the last number
/// the page has, sending again what was not acknowledged. Every message
/// is stored exactly once, in the order sent, and every page ends with
/// every number once.
#[test]
fn connections_cut_at_random_points_lose_and_repeat_nothing() {
    const MESSAGES: u64 = 4;
    let n: u64 = std::env::var("CHAT_CONVERSATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // Each conversation from its own address (through a trusted proxy), so
    // the per-address start limit is not what is tested here.
    let (data, server, bound) = server("random", &["--trusted-proxy", "127.0.0.1/32"]);
    let addr = bound.http;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move |m: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m
    };
    let threads = 8;
    let per = n.div_ceil(threads);
    let mut handles = Vec::new();
    for t in 0..threads {
        let seed = rand(u64::MAX);
        handles.push(std::thread::spawn(move || {
            let mut r = seed | 1;
            let mut rand = move |m: u64| {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                r % m
            };
            let mut cuts = 0;
            for i in 0..per {
                let k = t * per + i;
                if k >= n {
                    break;
                }
                let ip = format!(
                    "X-Forwarded-For: 10.{}.{}.{}\r\n",
                    k >> 16 & 255,
                    k >> 8 & 255,
                    k & 255
                );
                let (s, v) = start_chat(
                    addr,
                    &json!({"entry": "chat-physio", "reason": format!("conversation {k}")}),
                    &ip,
                );
                assert_eq!(s, 201, "{v}");
                let token = v["token"].as_str().unwrap().to_string();
                // The page's view: the numbers it has, the texts by number.
                let mut have: Vec<Value> = Vec::new();
                let mut acked = 0u64;
                let mut ws = connect(addr, &token, 0);
                while acked < MESSAGES {
                    let id = format!("m{acked}");
                    send(
                        &mut ws,
                        json!({"type": "text", "id": id, "text": format!("{k}:{acked}")}),
                    );
                    // Cut before the ack, sometimes.
                    let cut = rand(3) == 0;
                    if !cut {
                        loop {
                            let Some(f) = next(&mut ws) else {
                                panic!("socket ended")
                            };
                            if f["type"] == "message" {
                                have.push(f);
                            } else if f["type"] == "ack" && f["id"] == id {
                                acked += 1;
                                break;
                            }
                        }
                    }
                    if cut || rand(4) == 0 {
                        cuts += 1;
                        drop(ws);
                        let after = have.last().map_or(0, |m| m["seq"].as_u64().unwrap());
                        ws = connect(addr, &token, after);
                        if cut {
                            // Sent again: stored once, whatever happened.
                            send(
                                &mut ws,
                                json!({"type": "text", "id": id, "text": format!("{k}:{acked}")}),
                            );
                            loop {
                                let Some(f) = next(&mut ws) else {
                                    panic!("socket ended")
                                };
                                if f["type"] == "message" {
                                    have.push(f);
                                } else if f["type"] == "ack" && f["id"] == id {
                                    acked += 1;
                                    break;
                                }
                            }
                        }
                    }
                }
                // Whatever is left (messages stored after the last read).
                send(&mut ws, json!({"type": "leave"}));
                while let Some(f) = next(&mut ws) {
                    if f["type"] == "message" {
                        let ended = kind(&f) == "ended";
                        have.push(f);
                        if ended {
                            break;
                        }
                    }
                }
                // Every number once, in order; each text once, in order.
                let seqs: Vec<u64> = have.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
                let want: Vec<u64> = (1..=seqs.len() as u64).collect();
                assert_eq!(seqs, want, "conversation {k}: {have:#?}");
                let mine: Vec<&str> = have
                    .iter()
                    .filter(|m| m["from"] == "patient")
                    .filter_map(|m| m["body"]["text"].as_str())
                    .filter(|t| t.contains(':'))
                    .collect();
                let sent: Vec<String> = (0..MESSAGES).map(|j| format!("{k}:{j}")).collect();
                assert_eq!(mine, sent, "conversation {k}");
            }
            cuts
        }));
    }
    let cuts: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    eprintln!("{n} conversations, {cuts} connections cut");
    assert!(cuts > n / 2, "the test cut too few connections: {cuts}");
    kill(server, &data);
}
