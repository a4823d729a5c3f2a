//! Email threads and text exchanges (`callctl::thread`), as scripts with
//! the thread's outputs as the trace, and email's decisions
//! (`callctl::mail`) as tables.
//!
//! Script lines are `SECONDS COMMAND`:
//!
//! ```text
//! start email|sms [#ID] WORDS [ack ACK WORDS]   (a new thread and its first message)
//! reopen email|sms NEXT_SEQ [#ID] WORDS          (a resolved thread opened again)
//! text [#ID] WORDS | agent A [#ID] WORDS | answered A NAME | contact-ended
//! world join refused | world join ok | tick
//! ```
//!
//! The runner plays the edge: a join is answered at once with contact c1,
//! c2 … (or refused after `world join refused`).

use callctl::chat::{ChatInput, ChatOutput, Sender};
use callctl::mail::{self, Headers, Kind, Known, Threading};
use callctl::thread::{Medium, Thread};
use callctl::{Conversation, EngineRequest};
use expect_test::{expect, Expect};
use model::{AgentId, ContactId, Timestamp};
use std::fmt::Write;

const T0: Timestamp = Timestamp(1_796_205_600_000);

fn id_and_words(rest: &str) -> (Option<String>, String) {
    match rest.strip_prefix('#') {
        Some(r) => {
            let (id, w) = r.split_once(' ').unwrap_or((r, ""));
            (Some(id.to_string()), w.to_string())
        }
        None => (None, rest.to_string()),
    }
}

fn medium(s: &str) -> Medium {
    match s {
        "email" => Medium::Email,
        "sms" => Medium::Sms,
        x => panic!("medium {x}"),
    }
}

fn run(script: &str, expected: Expect) {
    let mut trace = String::new();
    let mut thread: Option<Thread> = None;
    let mut contacts = 0u64;
    let mut refuse = false;
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (secs, cmd) = line.split_once(' ').expect("SECONDS COMMAND");
        let now = Timestamp(T0.0 + secs.parse::<i64>().expect("seconds") * 1000);
        if let Some(t) = thread.as_mut() {
            while t.poll_timeout().is_some_and(|d| d <= now) {
                let d = t.poll_timeout().unwrap();
                t.handle_timeout(d);
                drain(t, d, &mut trace, &mut contacts, refuse);
            }
        }
        writeln!(trace, "{secs}s > {cmd}").unwrap();
        let (verb, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
        let input = match verb {
            "start" => {
                let (m, rest) = rest.split_once(' ').unwrap();
                let (words, ack) = match rest.split_once(" ack ") {
                    Some((w, a)) => (w, Some(a.to_string())),
                    None => (rest, None),
                };
                let (id, text) = id_and_words(words);
                thread = Some(Thread::waiting(now, medium(m), 1, vec![], ack));
                Some(ChatInput::Text { id, text })
            }
            "reopen" => {
                let mut p = rest.splitn(3, ' ');
                let m = medium(p.next().unwrap());
                let next: u64 = p.next().unwrap().parse().unwrap();
                let (id, words) = id_and_words(p.next().unwrap_or(""));
                thread = Some(Thread::waiting(
                    now,
                    m,
                    next,
                    vec![(Sender::Patient, "old".into(), 1)],
                    None,
                ));
                Some(ChatInput::Text { id, text: words })
            }
            "text" => {
                let (id, text) = id_and_words(rest);
                Some(ChatInput::Text { id, text })
            }
            "agent" => {
                let (a, rest) = rest.split_once(' ').unwrap();
                let (id, text) = id_and_words(rest);
                Some(ChatInput::AgentText {
                    agent: AgentId(a.parse().unwrap()),
                    id,
                    text,
                })
            }
            "answered" => {
                let (a, name) = rest.split_once(' ').unwrap();
                Some(ChatInput::Answered {
                    agent: AgentId(a.parse().unwrap()),
                    name: name.into(),
                })
            }
            "contact-ended" => Some(ChatInput::ContactEnded),
            "world" => {
                refuse = rest == "join refused";
                None
            }
            "tick" => None,
            x => panic!("unknown command {x}"),
        };
        let Some(t) = thread.as_mut() else { continue };
        if let Some(i) = input {
            if let Err(r) = t.check(&i) {
                writeln!(trace, "  refused {}", r.code()).unwrap();
                continue;
            }
            t.handle(now, i);
        }
        drain(t, now, &mut trace, &mut contacts, refuse);
        writeln!(
            trace,
            "  [{}{}]",
            t.stage().as_str(),
            if t.is_done() { ", done" } else { "" }
        )
        .unwrap();
    }
    expected.assert_eq(&trace);
}

fn drain(t: &mut Thread, now: Timestamp, trace: &mut String, contacts: &mut u64, refuse: bool) {
    while let Some(o) = t.poll_output() {
        match o {
            ChatOutput::Post(m) => {
                let who = match m.from {
                    Sender::Patient => "patient".to_string(),
                    Sender::Agent(a) => format!("agent {}", a.0),
                    Sender::System => "system".to_string(),
                };
                let id = m.client_id.map(|i| format!(" #{i}")).unwrap_or_default();
                writeln!(trace, "  post {} {who}{id}: {:?}", m.seq, m.body).unwrap();
            }
            ChatOutput::Send { seq } => writeln!(trace, "  send {seq}").unwrap(),
            ChatOutput::Ack { id, seq } => writeln!(trace, "  ack #{id} = {seq}").unwrap(),
            ChatOutput::Engine(EngineRequest::Join { attributes, .. }) => {
                writeln!(trace, "  join {attributes:?}").unwrap();
                let answer = if refuse {
                    Err("no such queue".to_string())
                } else {
                    *contacts += 1;
                    Ok(ContactId(*contacts))
                };
                t.handle(now, ChatInput::Joined(answer));
            }
            ChatOutput::Engine(r) => writeln!(trace, "  engine {r:?}").unwrap(),
            ChatOutput::Done => writeln!(trace, "  done").unwrap(),
        }
    }
}

#[test]
fn an_email_is_acknowledged_queued_answered_resolved_and_the_reply_to_it_is_one_mail() {
    run(
        "0 start email #m1@patient.test My wheelchair is broken ack We have your message [Ref SB-1].
         60 text #m1@patient.test My wheelchair is broken
         90 text #m2@patient.test Also the footplate
         120 answered 3 Hana
         130 agent 3 We will visit on Monday.
         131 agent 3 #desk-1 We will visit on Monday.
         132 agent 3 #desk-1 We will visit on Monday.
         140 agent 4 I am not on this thread
         150 contact-ended
         160 agent 3 too late",
        expect![[r#"
            0s > start email #m1@patient.test My wheelchair is broken ack We have your message [Ref SB-1].
              post 1 patient #m1@patient.test: Text("My wheelchair is broken")
              post 2 system: Text("We have your message [Ref SB-1].")
              send 2
              join [("via", "email")]
              [queued]
            60s > text #m1@patient.test My wheelchair is broken
              ack #m1@patient.test = 1
              [queued]
            90s > text #m2@patient.test Also the footplate
              post 3 patient #m2@patient.test: Text("Also the footplate")
              [queued]
            120s > answered 3 Hana
              post 4 system: Joined { agent: a3, name: "Hana" }
              [with_agent]
            130s > agent 3 We will visit on Monday.
              post 5 agent 3: Text("We will visit on Monday.")
              send 5
              [with_agent]
            131s > agent 3 #desk-1 We will visit on Monday.
              post 6 agent 3 #desk-1: Text("We will visit on Monday.")
              send 6
              [with_agent]
            132s > agent 3 #desk-1 We will visit on Monday.
              ack #desk-1 = 6
              [with_agent]
            140s > agent 4 I am not on this thread
              refused not_yours
            150s > contact-ended
              post 7 system: Ended { reason: "Hana resolved the conversation." }
              engine Forget { contact: c1 }
              done
              [ended, done]
            160s > agent 3 too late
              refused ended
        "#]],
    );
}

#[test]
fn a_reply_to_a_resolved_thread_opens_it_again_as_a_new_contact() {
    run(
        "0 reopen sms 8 #notify-9 Thank you, and one more question
         5 text #notify-9 Thank you, and one more question
         10 text #old sent long ago
         20 answered 2 Alice
         30 agent 2 Of course",
        expect![[r#"
            0s > reopen sms 8 #notify-9 Thank you, and one more question
              post 8 patient #notify-9: Text("Thank you, and one more question")
              join [("via", "sms")]
              [queued]
            5s > text #notify-9 Thank you, and one more question
              ack #notify-9 = 8
              [queued]
            10s > text #old sent long ago
              ack #old = 1
              [queued]
            20s > answered 2 Alice
              post 9 system: Joined { agent: a2, name: "Alice" }
              [with_agent]
            30s > agent 2 Of course
              post 10 agent 2: Text("Of course")
              send 10
              [with_agent]
        "#]],
    );
}

#[test]
fn a_refused_join_keeps_the_message_and_tries_again_every_minute() {
    run(
        "0 world join refused
         0 start sms #n1 Can I change my appointment?
         30 text #n2 Hello?
         61 tick
         62 world join ok
         125 tick",
        expect![[r#"
            0s > world join refused
            0s > start sms #n1 Can I change my appointment?
              post 1 patient #n1: Text("Can I change my appointment?")
              join [("via", "sms")]
              post 2 system: Text("Could not join the queue (no such queue); trying again in a minute.")
              [in_flow]
            30s > text #n2 Hello?
              post 3 patient #n2: Text("Hello?")
              join [("via", "sms")]
              [in_flow]
            61s > tick
              [in_flow]
            62s > world join ok
              [in_flow]
              join [("via", "sms")]
            125s > tick
              [queued]
        "#]],
    );
}

#[test]
fn live_page_inputs_are_refused_in_a_thread() {
    let mut t = Thread::waiting(T0, Medium::Email, 1, vec![], None);
    t.handle(
        T0,
        ChatInput::Text {
            id: None,
            text: "hello".into(),
        },
    );
    assert_eq!(
        t.check(&ChatInput::Choose {
            id: None,
            key: "1".into()
        })
        .unwrap_err()
        .code(),
        "not_now"
    );
    assert_eq!(
        t.check(&ChatInput::Text {
            id: None,
            text: "  ".into()
        })
        .unwrap_err()
        .code(),
        "empty"
    );
    // No timers unless a join was refused.
    while t.poll_output().is_some() {}
    assert_eq!(t.poll_timeout(), None);
}

fn headers(from: &str, subject: &str) -> Headers {
    Headers {
        from: from.into(),
        subject: subject.into(),
        message_id: Some("new@patient.test".into()),
        ..Headers::default()
    }
}

#[test]
fn mail_is_classified_by_its_headers() {
    let own = vec!["wheelchairs@trust.test".to_string()];
    let cases: Vec<(&str, Headers, Kind)> = vec![
        (
            "a person",
            headers("pat@example.test", "Help"),
            Kind::Person,
        ),
        (
            "auto-submitted: no is a person",
            Headers {
                auto_submitted: Some("no".into()),
                ..headers("pat@example.test", "Help")
            },
            Kind::Person,
        ),
        (
            "out of office",
            Headers {
                auto_submitted: Some("auto-replied".into()),
                ..headers("pat@example.test", "Automatic reply: Help")
            },
            Kind::Automatic("auto-submitted"),
        ),
        (
            "Exchange's autoresponder",
            Headers {
                autoresponder: true,
                ..headers("pat@example.test", "Out of office")
            },
            Kind::Automatic("an autoresponder"),
        ),
        (
            "a list",
            Headers {
                list: true,
                ..headers("news@example.test", "Newsletter")
            },
            Kind::Automatic("a mailing list"),
        ),
        (
            "bulk",
            Headers {
                precedence: Some("bulk".into()),
                ..headers("news@example.test", "Offer")
            },
            Kind::Automatic("bulk or list precedence"),
        ),
        (
            "a delivery status notification",
            Headers {
                report_type: Some("delivery-status".into()),
                null_return_path: true,
                ..headers("mailer-daemon@mx.example.test", "Undelivered Mail")
            },
            Kind::Bounce,
        ),
        (
            "a daemon's bounce without a report",
            Headers {
                null_return_path: true,
                ..headers("postmaster@mx.example.test", "failure notice")
            },
            Kind::Bounce,
        ),
        (
            "our own address",
            headers("wheelchairs@trust.test", "Re: Help"),
            Kind::Loop,
        ),
        (
            "our loop marker",
            Headers {
                our_loop_marker: true,
                ..headers("forwarder@example.test", "Re: Help")
            },
            Kind::Loop,
        ),
        (
            "a null return path alone",
            Headers {
                null_return_path: true,
                ..headers("notify@example.test", "Receipt")
            },
            Kind::Automatic("a null return path"),
        ),
    ];
    for (what, h, want) in cases {
        assert_eq!(mail::classify(&h, &own), want, "{what}");
    }
}

#[test]
fn mail_joins_its_thread_by_its_headers_only_for_its_sender_and_subject() {
    // What the store knows: ids of thread 7 (subject "Wheelchair repair")
    // sent to or by pat@example.test only.
    let by_id = |sender: &str, id: &str| -> Option<Known> {
        (sender == "pat@example.test" && ["root@trust.test", "r2@trust.test"].contains(&id)).then(
            || Known {
                thread: 7,
                subject: "Wheelchair repair".into(),
            },
        )
    };
    let by_tag = |sender: &str, t: u64| -> Option<Known> {
        (sender == "pat@example.test" && t == 7).then(|| Known {
            thread: 7,
            subject: "Wheelchair repair".into(),
        })
    };
    let cases: Vec<(&str, Headers, Threading)> = vec![
        (
            "In-Reply-To",
            Headers {
                in_reply_to: vec!["r2@trust.test".into()],
                ..headers("pat@example.test", "Re: Wheelchair repair [Ref SB-7]")
            },
            Threading::Join(7),
        ),
        (
            "only the References chain, an unknown id last",
            Headers {
                references: vec!["root@trust.test".into(), "unknown@elsewhere".into()],
                ..headers("pat@example.test", "RE: Fwd: wheelchair   REPAIR")
            },
            Threading::Join(7),
        ),
        (
            "another sender with the same headers",
            Headers {
                in_reply_to: vec!["r2@trust.test".into()],
                ..headers("someone@example.test", "Re: Wheelchair repair")
            },
            Threading::New { follows: None },
        ),
        (
            "a changed subject",
            Headers {
                in_reply_to: vec!["r2@trust.test".into()],
                ..headers("pat@example.test", "New question about my hoist")
            },
            Threading::New { follows: Some(7) },
        ),
        (
            "headers dropped, the tag kept",
            headers("pat@example.test", "Re: Wheelchair repair [Ref SB-7]"),
            Threading::Join(7),
        ),
        (
            "the tag from another sender",
            headers("other@example.test", "Re: Wheelchair repair [Ref SB-7]"),
            Threading::New { follows: None },
        ),
        (
            "nothing known",
            headers("pat@example.test", "Hello"),
            Threading::New { follows: None },
        ),
    ];
    for (what, h, want) in cases {
        let from = h.from.clone();
        let got = mail::thread(&h, |i| by_id(&from, i), |t| by_tag(&from, t));
        assert_eq!(got, want, "{what}");
    }
    // An out-of-office's subject is its own: its headers decide.
    assert_eq!(
        mail::thread_automatic(Threading::New { follows: Some(7) }),
        Threading::Join(7)
    );
    assert_eq!(
        mail::thread_automatic(Threading::New { follows: None }),
        Threading::New { follows: None }
    );
}

#[test]
fn a_reply_carries_the_chain_and_one_tag() {
    let chain: Vec<String> = (0..30).map(|i| format!("m{i}@x")).collect();
    let (irt, refs) = mail::reply_headers(&chain, Some("m29@x"));
    assert_eq!(irt.as_deref(), Some("m29@x"));
    assert_eq!(refs.len(), mail::MAX_REFERENCES);
    assert_eq!(refs[0], "m0@x");
    assert_eq!(refs.last().unwrap(), "m29@x");
    assert_eq!(
        mail::reply_subject("Re: Help [Ref SB-4]", 4),
        "Re: Help [Ref SB-4]"
    );
    assert_eq!(mail::reply_subject("Help", 4), "Re: Help [Ref SB-4]");
    assert_eq!(mail::reply_subject("", 4), "Re: Your message [Ref SB-4]");
    assert_eq!(mail::tagged("Re: x [Ref SB-123] y"), Some(123));
    assert_eq!(mail::tagged("Re: x [Ref SB-abc]"), None);
}
