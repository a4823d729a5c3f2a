//! Text messages end to end through GOV.UK Notify's API, against the
//! real server binary and `scripts/notify_standin.py` (a stand-in written
//! from Notify's documented API and checked by the official Python client
//! in `scripts/notify_check.py`): a patient's text arrives on Notify's
//! inbound callback and is offered to Alice; her reply is sent with a JWT
//! the stand-in checks, its delivery receipt comes back; the patient's
//! next text joins the thread; Notify's test numbers give permanent
//! failures; a callback with a wrong token or a bad body is refused and
//! nothing stored; a text sent again is stored once; Notify's 429 and 403
//! are backed off with a clear error. No number or words in the log.

mod common;

use common::written::*;
use common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const KEY: &str =
    "switchboard_test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0";
const TOKEN: &str = "callback-token-for-tests-abcdefghij";
const SMS_TEMPLATE: &str = "c0ffee00-0000-4000-8000-000000000001";
/// The wheelchair service's number (Ofcom's drama range).
const WHEELCHAIRS: &str = "+441632960002";

struct StandIn {
    _peer: Peer,
    port: u16,
}

fn stand_in(server: SocketAddr) -> StandIn {
    let receipts = format!("http://{server}/notify/v1/receipts");
    let inbound = format!("http://{server}/notify/v1/inbound");
    let p = peer(
        "notify_standin.py",
        &[
            "--api-key",
            KEY,
            "--callback-token",
            TOKEN,
            "--callback-url",
            &receipts,
            "--inbound-url",
            &inbound,
        ],
    );
    let port = p.info["port"].as_u64().unwrap() as u16;
    StandIn { _peer: p, port }
}

impl StandIn {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let (s, b) = http(self.addr(), "POST", path, Some(&body.to_string())).unwrap();
        assert!((200..300).contains(&s), "{path}: {s} {b}");
        serde_json::from_str(&b).unwrap_or(Value::Null)
    }

    /// A patient's text, through Notify's inbound callback to us.
    fn text_in(&self, from: &str, message: &str) {
        let v = self.post(
            "/_standin/inbound",
            json!({"source_number": from, "message": message, "destination_number": WHEELCHAIRS}),
        );
        assert_eq!(v["status"], 200, "our inbound callback answered {v}");
    }

    fn sent(&self) -> Vec<Value> {
        let (_, b) = http(self.addr(), "GET", "/_standin/sent", None).unwrap();
        serde_json::from_str::<Value>(&b)
            .unwrap()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn wait_sent(&self, n: usize) -> Vec<Value> {
        let t0 = Instant::now();
        loop {
            let s = self.sent();
            if s.len() >= n {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{} sent, not {n}",
                s.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The admin lets Alice (agent 1) take three texts at once (the demo's
/// agents take none).
fn alice_takes_texts(addr: std::net::SocketAddr) {
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).expect("the admin logs in");
    let config = get_json(addr, &admin, "/api/v1/config");
    let mut alice = config["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == 1)
        .cloned()
        .expect("Alice");
    alice["capacity"]["sms"] = json!(3);
    let (s, _, b) = http_with(
        addr,
        "PUT",
        "/api/v1/agents/1",
        Some(&alice.to_string()),
        &admin,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    // Surveys are not sent at night (20:00 to 08:00 unless set): quiet
    // hours away from now, whenever the test runs.
    let services = get_json(addr, &admin, "/api/v1/services");
    let mut wheelchairs = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == 103)
        .expect("the wheelchair service")["service"]
        .clone();
    wheelchairs["survey"] = json!({"quiet_hours": [hour_from_now(12), hour_from_now(13)]});
    let (s, _, b) = http_with(
        addr,
        "PUT",
        "/api/v1/services/103",
        Some(&wheelchairs.to_string()),
        &admin,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
}

#[test]
fn a_text_reaches_an_agent_through_notify_and_the_reply_is_sent_and_receipted() {
    let data = std::env::temp_dir().join(format!("sb-sms-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let addr = free_port();
    let notify = stand_in(addr);
    std::fs::write(data.join("notify.key"), KEY).unwrap();
    std::fs::write(data.join("callback.token"), TOKEN).unwrap();
    let channels = data.join("channels.toml");
    std::fs::write(
        &channels,
        format!(
            "[notify]\nbase_url = \"http://{}\"\napi_key_file = \"{}\"\nsms_template = \"{SMS_TEMPLATE}\"\ncallback_token_file = \"{}\"\n",
            notify.addr(),
            data.join("notify.key").display(),
            data.join("callback.token").display()
        ),
    )
    .unwrap();
    let (mut server, bound) = launch(
        &data.join("data"),
        addr,
        &[
            "--sip",
            "off",
            "--outbound-allow",
            "127.0.0.1",
            "--channels",
            channels.to_str().unwrap(),
        ],
    );
    let addr = bound.http;
    alice_takes_texts(addr);
    let cookie = login(addr, "kent.agent", DEMO_PASSWORD).expect("Alice logs in");
    let (s, b) = post_json(
        addr,
        &cookie,
        "/api/v1/agents/1/presence",
        json!({"presence": "ready"}),
    );
    assert_eq!(s, 200, "{b}");

    // Callbacks with a wrong token or a bad body are refused; nothing kept.
    for (auth, body, want) in [
        (
            "",
            json!({"id": "x1", "source_number": "447700900001", "destination_number": WHEELCHAIRS, "message": "hi"}),
            401,
        ),
        (
            "Authorization: Bearer wrong-token-wrong-token\r\n",
            json!({"id": "x1", "source_number": "447700900001", "destination_number": WHEELCHAIRS, "message": "hi"}),
            401,
        ),
        (
            &*format!("Authorization: Bearer {TOKEN}\r\n"),
            json!({"id": "x1", "message": "hi"}),
            422,
        ),
        (
            &*format!("Authorization: Bearer {TOKEN}\r\n"),
            json!({"id": "x1", "source_number": "not a number", "destination_number": WHEELCHAIRS, "message": "hi"}),
            422,
        ),
    ] {
        let (s, _, b) = http_with(
            addr,
            "POST",
            "/notify/v1/inbound",
            Some(&body.to_string()),
            auth,
        )
        .unwrap();
        assert_eq!(s, want, "{body}: {b}");
    }
    let (s, _, b) = http_with(
        addr,
        "POST",
        "/notify/v1/receipts",
        Some(&json!({"id": "x", "status": "delivered"}).to_string()),
        "Authorization: Bearer nope-nope-nope-nope\r\n",
    )
    .unwrap();
    assert_eq!(s, 401, "{b}");
    assert_eq!(agent_view(addr, 1)["work"], json!([]), "nothing was queued");

    // 1. A patient texts (Notify's test number 07700900001: delivered).
    notify.text_in(
        "447700900001",
        "Can I move my wheelchair appointment to Friday?",
    );
    let contact = accept_offered(addr, &cookie, 1, "sms", &[]);
    let v = conversation_until(addr, &cookie, contact, "the text", |v| !texts(v).is_empty());
    assert_eq!(v["medium"], "sms");
    assert!(texts(&v)[0].contains("Friday"), "{v:#}");

    // 2. Alice replies: sent through Notify with our template and
    // reference; the receipt says delivered.
    let (s, b) = post_json(
        addr,
        &cookie,
        &format!("/api/v1/chats/{contact}/messages"),
        json!({"id": "desk-1", "text": "Yes, Friday at 10:00 is booked."}),
    );
    assert_eq!(s, 200, "{b}");
    let seq = b["seq"].as_u64().unwrap();
    let sent = notify.wait_sent(1);
    assert_eq!(
        sent[0]["personalisation"]["body"], "Yes, Friday at 10:00 is booked.",
        "{sent:#?}"
    );
    assert!(
        sent[0]["reference"].as_str().unwrap().starts_with("sb-"),
        "{sent:#?}"
    );
    let v = conversation_until(addr, &cookie, contact, "delivered", |v| {
        delivery(v, seq)["delivery"] == "delivered"
    });
    assert_eq!(delivery(&v, seq)["state"], "sent");

    // 3. Her next text joins the same conversation; Notify sending the
    // callback again stores it once.
    let again = json!({"id": "5a1e0d1e-0000-4000-8000-00000000abcd", "source_number": "447700900001", "destination_number": WHEELCHAIRS, "message": "Thank you!"});
    for _ in 0..2 {
        let (s, _, b) = http_with(
            addr,
            "POST",
            "/notify/v1/inbound",
            Some(&again.to_string()),
            &format!("Authorization: Bearer {TOKEN}\r\n"),
        )
        .unwrap();
        assert_eq!(s, 200, "{b}");
    }
    let v = conversation_until(addr, &cookie, contact, "the second text", |v| {
        texts(v).iter().any(|t| t == "Thank you!")
    });
    assert_eq!(
        texts(&v).iter().filter(|t| *t == "Thank you!").count(),
        1,
        "{v:#}"
    );

    // 4. Notify's rate limit, then its refusal of our token: the reply
    // waits, saying why; nothing is lost.
    notify.post("/_standin/fail", json!({"status": 429, "count": 1}));
    let (_, b) = post_json(
        addr,
        &cookie,
        &format!("/api/v1/chats/{contact}/messages"),
        json!({"text": "One more thing."}),
    );
    let seq2 = b["seq"].as_u64().unwrap();
    let v = conversation_until(addr, &cookie, contact, "rate limited", |v| {
        delivery(v, seq2)["error"]
            .as_str()
            .is_some_and(|e| e.contains("rate limit"))
    });
    assert_eq!(delivery(&v, seq2)["state"], "due", "{v:#}");
    notify.post("/_standin/fail", json!({"status": 403, "count": 1}));
    let (_, b) = post_json(
        addr,
        &cookie,
        &format!("/api/v1/chats/{contact}/messages"),
        json!({"text": "And another."}),
    );
    let seq3 = b["seq"].as_u64().unwrap();
    let v = conversation_until(addr, &cookie, contact, "refused token", |v| {
        delivery(v, seq3)["error"]
            .as_str()
            .is_some_and(|e| e.contains("Notify refused our token"))
    });
    assert_eq!(delivery(&v, seq3)["state"], "due", "{v:#}");

    // 5. Another patient on Notify's permanent-failure number.
    let (s, b) = post_json(
        addr,
        &cookie,
        &format!("/api/v1/contacts/{contact}/end"),
        json!({}),
    );
    assert_eq!(s, 200, "{b}");
    notify.text_in("447700900002", "Please call me back");
    let second = accept_offered(addr, &cookie, 1, "sms", &[contact]);
    let (_, b) = post_json(
        addr,
        &cookie,
        &format!("/api/v1/chats/{second}/messages"),
        json!({"text": "We will call you today."}),
    );
    let seq4 = b["seq"].as_u64().unwrap();
    conversation_until(addr, &cookie, second, "permanent failure", |v| {
        delivery(v, seq4)["delivery"] == "permanent-failure"
    });

    // 6. The first conversation ended: the wheelchair service's survey
    // went to the patient; her "5" is a score, not a new conversation.
    let t0 = Instant::now();
    let survey = loop {
        if let Some(n) = notify.sent().into_iter().find(|n| {
            n["reference"]
                .as_str()
                .is_some_and(|r| r.starts_with("sbs-"))
        }) {
            break n;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            let boss = login(addr, "kent.supervisor", DEMO_PASSWORD).unwrap();
            panic!(
                "no survey sent: {:?} {}",
                notify
                    .sent()
                    .iter()
                    .map(|n| n["reference"].clone())
                    .collect::<Vec<_>>(),
                get_json(addr, &boss, "/api/v1/reports/csat")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let question = survey["personalisation"]["body"].as_str().unwrap();
    assert!(
        question.contains("Wheelchair service") && question.contains("1 (very dissatisfied) to 5"),
        "{question}"
    );
    notify.text_in("447700900001", "5");
    let boss = login(addr, "kent.supervisor", DEMO_PASSWORD).expect("the supervisor logs in");
    let t0 = Instant::now();
    let csat = loop {
        let v = get_json(addr, &boss, "/api/v1/reports/csat");
        if v["overall"]["replies"] == 1 {
            break v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no reply counted: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(csat["overall"]["mean"], 5.0, "{csat:#}");
    assert_eq!(csat["overall"]["satisfied"], 1.0, "{csat:#}");
    assert_eq!(csat["by_agent"]["1"]["replies"], 1, "{csat:#}");
    assert_eq!(csat["by_channel"]["sms"]["replies"], 1, "{csat:#}");
    let work = agent_view(addr, 1)["work"].clone();
    assert!(
        work.as_array()
            .unwrap()
            .iter()
            .all(|w| w[0] == second || w[0] == contact),
        "the score made no contact: {work}"
    );

    // 7. A text from a contact, to its caller's number as it arrived; a
    // contact without a mobile number cannot be texted.
    let (s, made) = post_json(
        addr,
        &boss,
        "/api/v1/contacts",
        json!({"queue": 4, "channel": "voice", "caller_number": "07700 900003"}),
    );
    assert_eq!(s, 201, "{made}");
    let id = made["id"].as_u64().expect("the contact's id");
    let (s, q) = post_json(
        addr,
        &boss,
        &format!("/api/v1/contacts/{id}/sms"),
        json!({"text": "Your new appointment: Monday 10:00."}),
    );
    assert_eq!(s, 202, "{q}");
    let reference = q["reference"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    while !notify
        .sent()
        .iter()
        .any(|n| n["reference"] == reference.as_str())
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the text never went"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (s, made) = post_json(
        addr,
        &boss,
        "/api/v1/contacts",
        json!({"queue": 4, "channel": "voice"}),
    );
    assert_eq!(s, 201, "{made}");
    let (s, e) = post_json(
        addr,
        &boss,
        &format!("/api/v1/contacts/{}/sms", made["id"]),
        json!({"text": "Hello"}),
    );
    assert_eq!(s, 409, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("no UK mobile number"),
        "{e}"
    );

    let _ = server.kill();
    let _ = server.wait();
    let log = bound.log();
    for secret in [
        "7700900001",
        "7700900002",
        "Friday",
        "Thank you",
        "call me back",
    ] {
        assert!(!log.contains(secret), "the log has {secret:?}:\n{log}");
    }
    let _ = std::fs::remove_dir_all(&data);
}

/// Notify's template with a name: "Hello ((name)), ((body))".
const NAMED_TEMPLATE: &str = "c0ffee00-0000-4000-8000-000000000003";

fn channels_file(data: &std::path::Path, notify: &StandIn) -> std::path::PathBuf {
    std::fs::write(data.join("notify.key"), KEY).unwrap();
    std::fs::write(data.join("callback.token"), TOKEN).unwrap();
    let channels = data.join("channels.toml");
    std::fs::write(
        &channels,
        format!(
            "[notify]\nbase_url = \"http://{}\"\napi_key_file = \"{}\"\nsms_template = \"{SMS_TEMPLATE}\"\ncallback_token_file = \"{}\"\n",
            notify.addr(),
            data.join("notify.key").display(),
            data.join("callback.token").display()
        ),
    )
    .unwrap();
    channels
}

/// The hour (UTC) `n` hours from now, as `HH:00`.
fn hour_from_now(n: u64) -> String {
    let h = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600;
    format!("{:02}:00", (h + n) % 24)
}

#[test]
fn a_campaign_of_a_thousand_reminders_survives_kill_9_sending_each_once_and_honours_stop() {
    let data = std::env::temp_dir().join(format!("sb-campaign-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let fixed = free_port();
    let notify = {
        let receipts = format!("http://{fixed}/notify/v1/receipts");
        let inbound = format!("http://{fixed}/notify/v1/inbound");
        let p = peer(
            "notify_standin.py",
            &[
                "--api-key",
                KEY,
                "--callback-token",
                TOKEN,
                "--callback-url",
                &receipts,
                "--inbound-url",
                &inbound,
                "--callback-retry-s",
                "3",
            ],
        );
        let port = p.info["port"].as_u64().unwrap() as u16;
        StandIn { _peer: p, port }
    };
    let channels = channels_file(&data, &notify);
    let args = [
        "--sip",
        "off",
        "--outbound-allow",
        "127.0.0.1",
        "--channels",
        channels.to_str().unwrap(),
    ];
    let (mut server, bound) = launch(&data.join("data"), fixed, &args);
    let addr = bound.http;
    let boss = login(addr, "kent.supervisor", DEMO_PASSWORD).expect("the supervisor logs in");

    // A patient who said STOP: never sent a reminder.
    notify.text_in("447700900123", "STOP");

    // A file with problems: each named by line, nothing made.
    let (s, b) = post_json(
        addr,
        &boss,
        "/api/v1/campaigns",
        json!({"name": "Bad", "medium": "sms", "template_id": NAMED_TEMPLATE,
               "recipients_csv": "phone_number,name,body\n07700900001,Ann,x\n01632 960000,Bo,y\nnonsense,Cy,z\n"}),
    );
    assert_eq!(s, 422, "{b}");
    let e = b["error"].as_str().unwrap();
    assert!(
        e.contains("line 3: phone_number is not a UK mobile") && e.contains("line 4"),
        "{e}"
    );

    // 1,000 reminders on Notify's test numbers (delivered, permanent and
    // temporary failure), ten of them to the one who said STOP.
    let mut csv = String::from("phone_number,name,body\n");
    for i in 0..1000 {
        let n = if i % 100 == 99 {
            "07700900123".to_string()
        } else {
            format!("0770090000{}", 1 + i % 3)
        };
        csv.push_str(&format!(
            "{n},Patient {i},your appointment is on Monday at 10:{:02}\n",
            i % 60
        ));
    }
    let quiet = json!({"from": hour_from_now(12), "to": hour_from_now(13)});
    let (s, made) = post_json(
        addr,
        &boss,
        "/api/v1/campaigns",
        json!({"name": "Monday reminders", "medium": "sms", "template_id": NAMED_TEMPLATE,
               "recipients_csv": csv, "per_minute": 3000, "quiet_hours": quiet}),
    );
    assert_eq!(s, 201, "{made}");
    assert_eq!(
        (made["recipients"].as_u64(), made["opted_out"].as_u64()),
        (Some(1000), Some(10)),
        "{made}"
    );
    let id = made["id"].as_u64().unwrap();

    // kill -9 while it sends; start again on the same data.
    let t0 = Instant::now();
    while notify.sent().len() < 150 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the campaign did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let at_kill = notify.sent().len();
    let (mut server, bound) = launch(&data.join("data"), fixed, &args);
    let addr = bound.http;
    let boss = login(addr, "kent.supervisor", DEMO_PASSWORD).expect("the supervisor logs in again");

    // Everything sent once, nothing skipped that should go.
    let t0 = Instant::now();
    let view = loop {
        let v = get_json(addr, &boss, &format!("/api/v1/campaigns/{id}"));
        let open =
            v["states"]["due"].as_u64().unwrap_or(0) + v["states"]["sending"].as_u64().unwrap_or(0);
        if open == 0 {
            break v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "not finished: {}",
            v["states"]
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(view["states"]["sent"], 990, "{}", view["states"]);
    assert_eq!(view["states"]["skipped"], 10, "{}", view["states"]);
    let sent = notify.sent();
    let mut refs: Vec<&str> = sent
        .iter()
        .map(|n| n["reference"].as_str().unwrap())
        .collect();
    refs.retain(|r| r.starts_with("sbc-"));
    let all = refs.len();
    refs.sort_unstable();
    refs.dedup();
    assert_eq!(
        (all, refs.len()),
        (990, 990),
        "each reminder sent exactly once (killed after {at_kill})"
    );
    assert!(sent
        .iter()
        .all(|n| n["to"] != "07700900123" && n["to"] != "+447700900123"));
    assert!(sent[0]["personalisation"]["name"]
        .as_str()
        .unwrap()
        .starts_with("Patient"));
    // Receipts: a third each of delivered, permanent and temporary failure
    // (as many as came back: those due while the server was down are
    // retried by Notify).
    let t0 = Instant::now();
    loop {
        let v = get_json(addr, &boss, &format!("/api/v1/campaigns/{id}"));
        let d = &v["deliveries"];
        let n = ["delivered", "permanent-failure", "temporary-failure"]
            .iter()
            .map(|k| d[k].as_u64().unwrap_or(0))
            .sum::<u64>();
        if n >= 900 {
            assert!(d["delivered"].as_u64().unwrap() >= 300, "{d}");
            assert!(d["permanent-failure"].as_u64().unwrap() >= 300, "{d}");
            assert!(d["temporary-failure"].as_u64().unwrap() >= 300, "{d}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "receipts: {d}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Inside quiet hours: scheduled for their end, nothing sent now.
    let before = notify.sent().len();
    let quiet_now = json!({"from": hour_from_now(0), "to": hour_from_now(2)});
    let (s, later) = post_json(
        addr,
        &boss,
        "/api/v1/campaigns",
        json!({"name": "Quiet", "medium": "sms", "template_id": NAMED_TEMPLATE,
               "recipients_csv": "phone_number,name,body\n07700900001,Ann,hello\n", "quiet_hours": quiet_now}),
    );
    assert_eq!(s, 201, "{later}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        later["first_at"].as_i64().unwrap() > now_ms + 3_000_000,
        "{later}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(notify.sent().len(), before);

    let _ = server.kill();
    let _ = server.wait();
    let log = bound.log();
    assert!(!log.contains("7700900"), "a number in the log:\n{log}");
    let _ = std::fs::remove_dir_all(&data);
}
