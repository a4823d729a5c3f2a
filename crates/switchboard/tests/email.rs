//! Email end to end against real mail servers: Dovecot (IMAP, with IDLE)
//! and aiosmtpd (SMTP), started on loopback by `scripts/mail_peers.py`,
//! and the real server binary reading the demo's wheelchair mailbox.
//! A patient's mail dropped into the Maildir is offered to Alice on the
//! desktop API and acknowledged with its reference; her reply arrives at
//! the SMTP receiver with our Message-ID, In-Reply-To and References; the
//! patient's reply joins the same conversation, another sender's mail
//! with the same headers does not, a changed subject starts a new thread
//! that says which it follows, an out-of-office is kept but not answered,
//! a bounce marks the reply bounced; resolved, the thread is opened again
//! by the next reply. No patient's address or words reach the log.

mod common;

use common::written::*;
use common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const MAILBOX: &str = "wheelchairs@kentcommunity.test";
const PATIENT: &str = "pat.example@example.test";

struct Peers {
    peer: Peer,
    dir: PathBuf,
}

fn mail_peers(name: &str) -> Peers {
    let dir = std::env::temp_dir().join(format!("sb-mail-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let peer = peer(
        "mail_peers.py",
        &[
            "--dir",
            dir.to_str().unwrap(),
            "--user",
            "inbox@trust.test:secret",
        ],
    );
    Peers { peer, dir }
}

impl Peers {
    /// Drops a mail into the mailbox's Maildir (as a delivery agent does).
    fn deliver(&self, eml: &str) {
        let f = self.dir.join(format!("in-{}.eml", std::process::id()));
        std::fs::write(&f, eml.replace('\n', "\r\n")).unwrap();
        let out = Command::new("python3")
            .arg(repo().join("scripts/mail_peers.py"))
            .args(["deliver", "--dir"])
            .arg(&self.dir)
            .args(["--user", "inbox@trust.test"])
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The mails the SMTP receiver has, in order.
    fn sent(&self) -> Vec<String> {
        let dir = PathBuf::from(self.peer.info["smtp_out"].as_str().unwrap());
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Waits for the `n`th mail (from 1) to arrive.
    fn nth_sent(&self, n: usize) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.sent();
            if s.len() >= n {
                return s[n - 1].clone();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "mail {n} never arrived; have {}",
                s.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A header's value in a raw mail (unfolded).
fn header(mail: &str, name: &str) -> Option<String> {
    let unfolded = mail.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The conversation's messages once it has at least `n`.
fn messages(addr: SocketAddr, cookie: &str, contact: u64, n: usize) -> Value {
    let t0 = Instant::now();
    loop {
        let v = get_json(addr, cookie, &format!("/api/v1/chats/{contact}"));
        if v["messages"].as_array().is_some_and(|m| m.len() >= n) {
            return v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "fewer than {n} messages: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Alice ends the contact and finishes its wrap-up.
fn resolve(addr: SocketAddr, cookie: &str, contact: u64) {
    let (s, b) = post_json(
        addr,
        cookie,
        &format!("/api/v1/contacts/{contact}/end"),
        json!({}),
    );
    assert_eq!(s, 200, "end: {b}");
    let (s, b) = post_json(
        addr,
        cookie,
        &format!("/api/v1/contacts/{contact}/wrap-up-done"),
        json!({"agent": 1, "outcome": "resolved"}),
    );
    assert!(s == 200 || s == 409, "wrap-up: {s} {b}");
    std::thread::sleep(Duration::from_millis(300));
}

fn mail(from: &str, subject: &str, id: &str, extra: &str, body: &str) -> String {
    format!(
        "From: Pat Example <{from}>\nTo: {MAILBOX}\nSubject: {subject}\nMessage-ID: <{id}>\nDate: Mon, 07 Dec 2026 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n{extra}\n{body}\n"
    )
}

#[test]
fn a_patients_email_reaches_an_agent_and_the_reply_threads_both_ways() {
    let peers = mail_peers("journey");
    let data = std::env::temp_dir().join(format!("sb-email-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let secret = data.join("imap-password");
    std::fs::write(&secret, "secret\n").unwrap();
    let channels = data.join("channels.toml");
    std::fs::write(
        &channels,
        format!(
            "[[mailbox]]\naddress = \"{MAILBOX}\"\nimap = \"imap://127.0.0.1:{}\"\nsmtp = \"smtp://127.0.0.1:{}\"\nusername = \"inbox@trust.test\"\npassword_file = \"{}\"\npoll_seconds = 5\n",
            peers.peer.info["imap_port"],
            peers.peer.info["smtp_port"],
            secret.display()
        ),
    )
    .unwrap();
    let (mut server, bound) = launch(
        &data.join("data"),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        &["--sip", "off", "--channels", channels.to_str().unwrap()],
    );
    let addr = bound.http;
    let cookie = login(addr, "kent.agent", DEMO_PASSWORD).expect("Alice logs in");
    let (s, b) = post_json(
        addr,
        &cookie,
        "/api/v1/agents/1/presence",
        json!({"presence": "ready"}),
    );
    assert_eq!(s, 200, "{b}");

    // 1. The patient writes; Alice is offered it and reads it; the
    // patient has an acknowledgement with the reference.
    peers.deliver(&mail(
        PATIENT,
        "Broken wheelchair",
        "p1@example.test",
        "",
        "The footplate of my wheelchair snapped this morning.",
    ));
    let contact = accept_offered(addr, &cookie, 1, "email", &[]);
    let v = messages(addr, &cookie, contact, 2);
    assert_eq!(v["medium"], "email", "{v:#}");
    let t = texts(&v);
    assert!(t[0].contains("footplate"), "{t:?}");
    assert!(t[1].contains("reference is SB-"), "{t:?}");
    let ack = peers.nth_sent(1);
    assert_eq!(header(&ack, "To").as_deref(), Some(PATIENT), "{ack}");
    assert_eq!(
        header(&ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        header(&ack, "In-Reply-To").as_deref(),
        Some("<p1@example.test>")
    );
    let subject = header(&ack, "Subject").unwrap();
    assert!(
        subject.starts_with("Re: Broken wheelchair [Ref SB-"),
        "{subject}"
    );

    // 2. Alice replies: one mail, threaded under the patient's.
    let (s, b) = post_json(
        addr,
        &cookie,
        &format!("/api/v1/chats/{contact}/messages"),
        json!({"id": "desk-1", "text": "We will bring a new footplate on Monday."}),
    );
    assert_eq!(s, 200, "{b}");
    let reply = peers.nth_sent(2);
    let reply_id = header(&reply, "Message-ID").unwrap();
    assert!(reply_id.contains("@kentcommunity.test>"), "{reply_id}");
    assert_eq!(
        header(&reply, "In-Reply-To").as_deref(),
        Some("<p1@example.test>")
    );
    let refs = header(&reply, "References").unwrap();
    assert!(refs.starts_with("<p1@example.test>"), "{refs}");
    assert!(reply.contains("new footplate on Monday"), "{reply}");
    assert_eq!(header(&reply, "Auto-Submitted"), None);
    // The same message sent again by the desktop is not sent twice.
    let (s, _) = post_json(
        addr,
        &cookie,
        &format!("/api/v1/chats/{contact}/messages"),
        json!({"id": "desk-1", "text": "We will bring a new footplate on Monday."}),
    );
    assert_eq!(s, 200);
    let v = messages(addr, &cookie, contact, 4);
    let d = v["deliveries"].as_array().unwrap();
    assert!(d.iter().any(|x| x["state"] == "sent"), "{v:#}");

    // 3. The patient answers Alice's mail (only References kept): the same
    // conversation.
    peers.deliver(&mail(
        PATIENT,
        "RE: Broken wheelchair",
        "p2@example.test",
        &format!("References: <p1@example.test> {reply_id}\n"),
        "Monday is fine, thank you.",
    ));
    let v = messages(addr, &cookie, contact, 5);
    assert!(
        texts(&v).iter().any(|t| t.contains("Monday is fine")),
        "{v:#}"
    );

    // 4. Someone else replies with the same headers: a conversation of
    // their own. 5. The patient changes the subject: a new thread that
    // says which one it follows.
    peers.deliver(&mail(
        "someone.else@example.test",
        "Re: Broken wheelchair",
        "o1@example.test",
        &format!("In-Reply-To: {reply_id}\nReferences: <p1@example.test> {reply_id}\n"),
        "Is this about my chair?",
    ));
    let other = accept_offered(addr, &cookie, 1, "email", &[contact]);
    let v = messages(addr, &cookie, other, 1);
    assert!(texts(&v)[0].contains("my chair"), "{v:#}");
    resolve(addr, &cookie, other);
    peers.deliver(&mail(
        PATIENT,
        "A new cushion please",
        "p3@example.test",
        &format!("In-Reply-To: {reply_id}\n"),
        "Can I also have a new cushion?",
    ));
    let third = accept_offered(addr, &cookie, 1, "email", &[contact, other]);
    let v = messages(addr, &cookie, third, 1);
    assert!(
        texts(&v)[0].contains("in reply to conversation SB-"),
        "{v:#}"
    );

    // 6. An out-of-office from the patient: kept in the thread, not
    // answered (no acknowledgement), no new contact.
    // Sent so far: the acknowledgement, Alice's reply, and the two new
    // threads' acknowledgements.
    peers.nth_sent(4);
    let before = peers.sent().len();
    peers.deliver(&mail(
        PATIENT,
        "Automatic reply: Broken wheelchair",
        "p4@example.test",
        &format!("Auto-Submitted: auto-replied\nIn-Reply-To: {reply_id}\n"),
        "I am away until Tuesday.",
    ));
    let v = messages(addr, &cookie, contact, 6);
    assert!(
        texts(&v).iter().any(|t| t.starts_with("[Automatic reply]")),
        "{v:#}"
    );

    // 7. A delivery failure report for Alice's reply marks it bounced.
    let bounce = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\nReturn-Path: <>\nTo: {MAILBOX}\nSubject: Undelivered Mail Returned to Sender\nMessage-ID: <bounce1@mx.example.test>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain\n\nThe mail could not be delivered.\n--b1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.test\n\nFinal-Recipient: rfc822; {PATIENT}\nAction: failed\nStatus: 5.1.1\n--b1\nContent-Type: text/rfc822-headers\n\nMessage-ID: {reply_id}\nSubject: {subject}\n--b1--\n"
    );
    peers.deliver(&bounce);
    let t0 = Instant::now();
    loop {
        let v = get_json(addr, &cookie, &format!("/api/v1/chats/{contact}"));
        if v["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["delivery"] == "bounced")
        {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no bounce: {v:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        peers.sent().len(),
        before,
        "nothing answered the automatic mail or the bounce"
    );

    // The figures: three threads, the one wait due answered in time, four
    // mails sent (three acknowledgements and Alice's reply), one bounced.
    let boss = login(addr, "kent.supervisor", DEMO_PASSWORD).expect("the supervisor logs in");
    let r = get_json(addr, &boss, "/api/v1/reports/written");
    let email = &r["media"][0];
    assert_eq!(email["medium"], "email", "{r:#}");
    assert_eq!(email["threads"], 3, "{r:#}");
    assert_eq!(email["within_one_working_day_pct"], 100.0, "{r:#}");
    assert_eq!(email["sent"], 4, "{r:#}");
    assert_eq!(email["delivery_failures"], 1, "{r:#}");
    assert!(email["first_response_s"].as_f64().is_some(), "{r:#}");

    // 8. Alice resolves the conversation; the patient's next reply opens
    // it again as a new contact with the whole history.
    resolve(addr, &cookie, contact);
    resolve(addr, &cookie, third);
    peers.deliver(&mail(
        PATIENT,
        "Re: Broken wheelchair",
        "p5@example.test",
        &format!("In-Reply-To: {reply_id}\n"),
        "The new footplate does not fit.",
    ));
    let again = accept_offered(addr, &cookie, 1, "email", &[contact, other, third]);
    let v = messages(addr, &cookie, again, 8);
    let t = texts(&v);
    assert!(t[0].contains("footplate of my wheelchair snapped"), "{t:?}");
    assert!(t.last().unwrap().contains("does not fit"), "{t:?}");
    assert_eq!(
        v["conversation"],
        messages(addr, &cookie, contact, 1)["conversation"]
    );

    // Nothing of the patients' reached the log.
    let _ = server.kill();
    let _ = server.wait();
    let log = bound.log();
    for secret in [
        PATIENT,
        "someone.else",
        "footplate",
        "Broken wheelchair",
        "cushion",
    ] {
        assert!(!log.contains(secret), "the log has {secret:?}:\n{log}");
    }
    let _ = std::fs::remove_dir_all(&data);
}

/// A mailbox read with an OAuth2 access token (XOAUTH2, as NHSmail
/// requires; Dovecot validates the token as a JWT), whose mails bring an
/// image and a PDF (kept, sealed), a Word file (not kept, said so), and
/// one mail over the size limit (left in the mailbox, the agents told).
#[test]
fn a_mailbox_read_with_xoauth2_keeps_images_and_pdfs_and_says_what_it_did_not_take() {
    let key = "c3dpdGNoYm9hcmQtdGVzdC1vYXV0aC1rZXktMzItYnl0ZXMh";
    let dir = std::env::temp_dir().join(format!("sb-mail-oauth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let peers = Peers {
        peer: peer(
            "mail_peers.py",
            &[
                "--dir",
                dir.to_str().unwrap(),
                "--user",
                "inbox@trust.test:secret",
                "--oauth-key",
                key,
            ],
        ),
        dir: dir.clone(),
    };
    assert_eq!(peers.peer.info["oauth"], true);
    let token = Command::new("python3")
        .arg(repo().join("scripts/mail_peers.py"))
        .args([
            "token",
            "--oauth-key",
            key,
            "--sub",
            "inbox@trust.test",
            "--ttl",
            "3600",
        ])
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let data = dir.join("server");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("token"), &token.stdout).unwrap();
    let channels = data.join("channels.toml");
    std::fs::write(
        &channels,
        format!(
            "[[mailbox]]\naddress = \"{MAILBOX}\"\nimap = \"imap://127.0.0.1:{}\"\nsmtp = \"smtp://127.0.0.1:{}\"\nusername = \"inbox@trust.test\"\noauth2_token_file = \"{}\"\npoll_seconds = 5\nmax_mail_bytes = 200000\n",
            peers.peer.info["imap_port"],
            peers.peer.info["smtp_port"],
            data.join("token").display()
        ),
    )
    .unwrap();
    let (mut server, bound) = launch(
        &data.join("data"),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        &["--sip", "off", "--channels", channels.to_str().unwrap()],
    );
    let addr = bound.http;
    let cookie = login(addr, "kent.agent", DEMO_PASSWORD).expect("Alice logs in");
    let (s, b) = post_json(
        addr,
        &cookie,
        "/api/v1/agents/1/presence",
        json!({"presence": "ready"}),
    );
    assert_eq!(s, 200, "{b}");

    // A photo, a PDF and a Word document.
    let png: &[u8] = &[
        0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ];
    let pdf: &[u8] = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
    let docx: &[u8] = b"PK\x03\x04 not really a word file";
    let b64 = |b: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let part = |name: &str, ctype: &str, bytes: &[u8]| {
        format!("--b1\nContent-Type: {ctype}; name=\"{name}\"\nContent-Disposition: attachment; filename=\"{name}\"\nContent-Transfer-Encoding: base64\n\n{}\n", b64(bytes))
    };
    let eml = format!(
        "From: Pat Example <{PATIENT}>\nTo: {MAILBOX}\nSubject: Photos of the damage\nMessage-ID: <att1@example.test>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\nPhotos and the letter attached.\n{}{}{}--b1--\n",
        part("chair.png", "image/png", png),
        part("letter.pdf", "application/pdf", pdf),
        part("form.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", docx),
    );
    peers.deliver(&eml);
    let contact = accept_offered(addr, &cookie, 1, "email", &[]);
    let v = conversation_until(addr, &cookie, contact, "the two files", |v| {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["body"]["kind"] == "file")
            .count()
            == 2
    });
    let t = texts(&v);
    assert!(t[0].contains("Photos and the letter"), "{t:?}");
    assert!(
        t[0].contains("\"form.docx\"") && t[0].contains("not kept"),
        "{t:?}"
    );
    let files: Vec<&Value> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["body"]["kind"] == "file")
        .collect();
    assert_eq!(files[0]["body"]["mime"], "image/png");
    assert_eq!(files[1]["body"]["mime"], "application/pdf");
    let (s, _, got) = http_bytes_with(
        addr,
        &format!(
            "/api/v1/chats/{contact}/files/{}",
            files[1]["body"]["id"].as_str().unwrap()
        ),
        &cookie,
    )
    .unwrap();
    assert_eq!((s, got.as_slice()), (200, pdf));

    // Over the mailbox's 200 kB limit: left there, the agents told.
    let big = mail(
        PATIENT,
        "Scans",
        "big1@example.test",
        "",
        &"x".repeat(300_000),
    );
    peers.deliver(&big);
    let second = accept_offered(addr, &cookie, 1, "email", &[contact]);
    let v = conversation_until(addr, &cookie, second, "the note", |v| !texts(v).is_empty());
    assert!(texts(&v)[0].contains("over the 196 KB limit"), "{v:#}");
    assert!(texts(&v)[0].contains("still in the mailbox"), "{v:#}");

    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
