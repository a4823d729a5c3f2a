//! One web chat per test, written as chat scripts against the demo flows
//! (`examples/flows`), with what the chat posts and asks as the expected
//! trace.
//!
//! Each line is `SECONDS COMMAND`; the chat's timers fire in between at
//! their times. The runner plays the edge: a join is answered at once
//! (contact c1, c2 …, or refused after `world join refused`), a position
//! read from what `world position N WAIT_SECONDS` set. Commands:
//!
//! ```text
//! text [#ID] WORDS | choose [#ID] KEY | typing | connected on|off | leave
//! agent A [#ID] WORDS | answered A NAME | contact-ended | tick
//! world position N WAIT_SECONDS | world join refused
//! ```
//!
//! A refused input is traced as `refused CODE` (the edge's check).

use callctl::chat::{Body, Chat, ChatInput, ChatOutput, Sender, Timing};
use callctl::{Conversation, EngineRequest};
use expect_test::{expect, Expect};
use flow::{Call as Flow, Catalog, FlowBook};
use model::{AgentId, ContactId, DurationMs, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::Arc;

/// Wednesday 2 December 2026, 10:00 in London: the lines are open.
const OPEN: Timestamp = Timestamp(1_796_205_600_000);
/// The same day at 20:00: closed.
const CLOSED: Timestamp = Timestamp(1_796_241_600_000);

fn catalog() -> Catalog {
    let c = routing::demo::kent_community_trust();
    Catalog {
        queues: c.queues.iter().map(|q| q.name.clone()).collect(),
        skills: c.skills.iter().map(|s| s.name.clone()).collect(),
        prompts: None,
        actions: ["wheelchair_return".to_string()].into(),
    }
}

fn book() -> Arc<FlowBook> {
    let mut book = FlowBook::default();
    for name in ["wheelchairs", "paramedic", "kent-main"] {
        let path = format!(
            "{}/../../examples/flows/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let f: flow::Flow =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("example flow"))
                .expect("flow json");
        book = book.save(f, &catalog()).expect("valid flow");
    }
    Arc::new(book)
}

fn timing() -> Timing {
    Timing {
        idle_warn: DurationMs(60_000),
        idle_grace: DurationMs(30_000),
        gone_after: DurationMs(120_000),
    }
}

fn show(m: &callctl::chat::Message) -> String {
    let from = match m.from {
        Sender::Patient => "patient".to_string(),
        Sender::Agent(a) => format!("a{}", a.0),
        Sender::System => "system".to_string(),
    };
    let body = match &m.body {
        Body::Text(t) => format!("{t:?}"),
        Body::Choice(c) => format!(
            "[{}]",
            c.iter()
                .map(|c| format!("{}={}", c.key, c.label))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Body::Field { digits, label } => format!("field {digits} {label:?}"),
        Body::Position {
            position,
            expected_wait,
        } => format!("position {position}, wait {}s", expected_wait.0 / 1000),
        Body::Joined { agent, name } => format!("joined a{} {name}", agent.0),
        Body::Idle { ends_at } => format!("idle, ends at +{}s", ends_at.0 / 1000),
        Body::Ended { reason } => format!("ended {reason:?}"),
        Body::File(f) => format!("file {} {:?} {} {}", f.id, f.name, f.mime, f.size),
    };
    let id = m
        .client_id
        .as_ref()
        .map(|i| format!(" #{i}"))
        .unwrap_or_default();
    format!("#{} {from}{id}: {body}", m.seq)
}

struct World {
    next_contact: u64,
    refuse: bool,
    position: Option<(u32, DurationMs)>,
}

/// Carries out what the chat asked; joins and reads are answered at once.
fn drain(chat: &mut Chat, w: &mut World, t: i64, start: Timestamp, out: &mut String) {
    while let Some(o) = chat.poll_output() {
        let secs = t;
        match o {
            ChatOutput::Post(m) => {
                let mut line = show(&m);
                if let Body::Idle { ends_at } = m.body {
                    line = format!(
                        "#{} system: idle, ends at {}s",
                        m.seq,
                        (ends_at.0 - start.0) / 1000
                    );
                }
                writeln!(out, "{secs}s {line}").unwrap();
            }
            ChatOutput::Ack { id, seq } => writeln!(out, "{secs}s ack #{id} = {seq}").unwrap(),
            ChatOutput::Done => writeln!(out, "{secs}s done").unwrap(),
            // Only email threads and texts send messages out.
            ChatOutput::Send { seq } => writeln!(out, "{secs}s send {seq}").unwrap(),
            ChatOutput::Engine(r) => {
                let now = Timestamp(start.0 + t * 1000);
                match r {
                    EngineRequest::Join {
                        queue, attributes, ..
                    } => {
                        writeln!(out, "{secs}s join {queue:?} {attributes:?}").unwrap();
                        let answer = if w.refuse {
                            Err("full".to_string())
                        } else {
                            let c = ContactId(w.next_contact);
                            w.next_contact += 1;
                            Ok(c)
                        };
                        chat.handle(now, ChatInput::Joined(answer));
                    }
                    EngineRequest::ReadPosition { .. } => {
                        chat.handle(now, ChatInput::Position(w.position));
                    }
                    other => writeln!(out, "{secs}s {other:?}").unwrap(),
                }
            }
        }
    }
}

fn run(mut chat: Chat, start: Timestamp, script: &str) -> String {
    let mut w = World {
        next_contact: 1,
        refuse: false,
        position: None,
    };
    let mut out = String::new();
    drain(&mut chat, &mut w, 0, start, &mut out);
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (secs, cmd) = line.split_once(' ').expect("SECONDS COMMAND");
        let secs: i64 = secs.parse().expect("seconds");
        let now = Timestamp(start.0 + secs * 1000);
        // Timers due before this line fire first, at their own times.
        while let Some(due) = chat.poll_timeout() {
            if due > now {
                break;
            }
            chat.handle_timeout(due);
            drain(&mut chat, &mut w, (due.0 - start.0) / 1000, start, &mut out);
        }
        let (word, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
        let id_and = |rest: &str| -> (Option<String>, String) {
            match rest.strip_prefix('#') {
                Some(r) => {
                    let (id, t) = r.split_once(' ').unwrap_or((r, ""));
                    (Some(id.to_string()), t.to_string())
                }
                None => (None, rest.to_string()),
            }
        };
        let input = match word {
            "text" => {
                let (id, text) = id_and(rest);
                ChatInput::Text { id, text }
            }
            "choose" => {
                let (id, key) = id_and(rest);
                ChatInput::Choose { id, key }
            }
            "typing" => ChatInput::Typing,
            "connected" => ChatInput::Connected(rest == "on"),
            "leave" => ChatInput::Leave,
            "agent" => {
                let (a, r) = rest.split_once(' ').expect("agent A WORDS");
                let (id, text) = id_and(r);
                ChatInput::AgentText {
                    agent: AgentId(a.parse().expect("agent id")),
                    id,
                    text,
                }
            }
            "answered" => {
                let (a, name) = rest.split_once(' ').expect("answered A NAME");
                ChatInput::Answered {
                    agent: AgentId(a.parse().expect("agent id")),
                    name: name.to_string(),
                }
            }
            "contact-ended" => ChatInput::ContactEnded,
            "tick" => {
                chat.handle_timeout(now);
                drain(&mut chat, &mut w, secs, start, &mut out);
                continue;
            }
            "world" => {
                let parts: Vec<&str> = rest.split(' ').collect();
                match parts.as_slice() {
                    ["position", n, wait] => {
                        w.position = Some((
                            n.parse().expect("position"),
                            DurationMs(wait.parse::<i64>().expect("wait") * 1000),
                        ))
                    }
                    ["join", "refused"] => w.refuse = true,
                    _ => panic!("world {rest}?"),
                }
                continue;
            }
            other => panic!("unknown command {other}"),
        };
        if let Err(r) = chat.check(&input) {
            writeln!(out, "{secs}s refused {}", r.code()).unwrap();
            continue;
        }
        chat.handle(now, input);
        drain(&mut chat, &mut w, secs, start, &mut out);
    }
    writeln!(out, "stage {}", chat.stage().as_str()).unwrap();
    out
}

fn main_flow(at: Timestamp) -> Option<Flow> {
    Some(Flow::start(book(), "kent-main", BTreeMap::new(), at).expect("flow starts"))
}

fn check(script: &str, expect: Expect) {
    let chat = Chat::start(
        OPEN,
        timing(),
        main_flow(OPEN),
        "My knee hurts",
        BTreeSet::new(),
    );
    expect.assert_eq(&run(chat, OPEN, script));
}

#[test]
fn a_patient_chooses_from_the_menu_waits_with_their_place_and_talks_to_an_agent() {
    check(
        "
        1 connected on
        2 world position 3 240
        5 choose #k1 3
        20 world position 1 30
        40 answered 7 Sam
        45 agent 7 #a1 Hello, how can I help?
        50 typing
        60 text #m1 My knee still hurts after the operation
        61 text #m1 My knee still hurts after the operation
        70 agent 7 Thank you
        200 contact-ended
        ",
        expect![[r#"
            0s #1 patient: "My knee hurts"
            0s #2 system: "Welcome to the community health service."
            0s #3 system: "For wheelchairs press 1. For district nursing press 2. For physiotherapy press 3. For anything else press 0."
            0s #4 system: [1=Wheelchairs, 2=District nursing, 3=Physiotherapy, 0=Anything else]
            5s #5 patient #k1: "Physiotherapy"
            5s join Named("Physiotherapy") [("via", "chat")]
            5s #6 system: position 3, wait 240s
            35s #7 system: position 1, wait 30s
            40s #8 system: joined a7 Sam
            45s #9 a7 #a1: "Hello, how can I help?"
            60s #10 patient #m1: "My knee still hurts after the operation"
            61s ack #m1 = 10
            70s #11 a7: "Thank you"
            130s #12 system: idle, ends at 160s
            160s End { contact: c1 }
            160s #13 system: ended "The chat ended because there was no reply."
            160s Forget { contact: c1 }
            160s done
            stage ended
        "#]],
    );
}

#[test]
fn typed_words_naming_a_button_choose_it_and_other_words_show_the_buttons_again() {
    check(
        "
        1 connected on
        3 text what are your hours?
        4 choose 9
        5 text district NURSING
        ",
        expect![[r#"
            0s #1 patient: "My knee hurts"
            0s #2 system: "Welcome to the community health service."
            0s #3 system: "For wheelchairs press 1. For district nursing press 2. For physiotherapy press 3. For anything else press 0."
            0s #4 system: [1=Wheelchairs, 2=District nursing, 3=Physiotherapy, 0=Anything else]
            3s #5 patient: "what are your hours?"
            3s #6 system: "Please choose one of these:"
            3s #7 system: [1=Wheelchairs, 2=District nursing, 3=Physiotherapy, 0=Anything else]
            4s refused not_now
            5s #8 patient: "district NURSING"
            5s join Named("District nursing") [("via", "chat")]
            stage queued
        "#]],
    );
}

#[test]
fn digits_asked_for_are_typed_as_words_and_a_self_service_ends_the_chat() {
    check(
        "
        1 connected on
        2 choose 1
        3 choose 1
        4 text 999 abc
        5 text 999 000 0018
        ",
        expect![[r#"
            0s #1 patient: "My knee hurts"
            0s #2 system: "Welcome to the community health service."
            0s #3 system: "For wheelchairs press 1. For district nursing press 2. For physiotherapy press 3. For anything else press 0."
            0s #4 system: [1=Wheelchairs, 2=District nursing, 3=Physiotherapy, 0=Anything else]
            2s #5 patient: "Wheelchairs"
            2s #6 system: "To arrange the return of a wheelchair, press 1. To speak to an adviser, press 2. To go back, press star."
            2s #7 system: [1=Return a wheelchair, 2=Speak to an adviser, *=Go back]
            3s #8 patient: "Return a wheelchair"
            3s #9 system: "Please key in the patient's ten-digit NHS number."
            3s #10 system: field 10 "NHS number (10 digits)"
            4s #11 patient: "999 abc"
            4s #12 system: "Please type digits only."
            5s #13 patient: "999 000 0018"
            5s #14 system: "Thank you. We will contact you within two working days to collect the wheelchair."
            5s #15 system: ended "The chat has ended."
            5s done
            stage ended
        "#]],
    );
}

#[test]
fn a_quiet_patient_is_warned_then_the_chat_ends_and_a_patient_who_writes_is_not() {
    check(
        "
        1 connected on
        50 typing
        100 choose 3
        110 answered 7 Sam
        120 agent 7 Are you there?
        170 text yes
        200 agent 7 Good
        290 tick
        ",
        expect![[r#"
            0s #1 patient: "My knee hurts"
            0s #2 system: "Welcome to the community health service."
            0s #3 system: "For wheelchairs press 1. For district nursing press 2. For physiotherapy press 3. For anything else press 0."
            0s #4 system: [1=Wheelchairs, 2=District nursing, 3=Physiotherapy, 0=Anything else]
            100s #5 patient: "Physiotherapy"
            100s join Named("Physiotherapy") [("via", "chat")]
            110s #6 system: joined a7 Sam
            120s #7 a7: "Are you there?"
            170s #8 patient: "yes"
            200s #9 a7: "Good"
            260s #10 system: idle, ends at 290s
            290s End { contact: c1 }
            290s #11 system: ended "The chat ended because there was no reply."
            290s Forget { contact: c1 }
            290s done
            stage ended
        "#]],
    );
}

#[test]
fn a_patient_who_leaves_the_queue_abandons_and_a_page_gone_too_long_is_taken_as_left() {
    check(
        "
        1 connected on
        2 choose 3
        10 leave
        11 text hello?
        ",
        expect![[r#"
            0s #1 patient: "My knee hurts"
            0s #2 system: "Welcome to the community health service."
            0s #3 system: "For wheelchairs press 1. For district nursing press 2. For physiotherapy press 3. For anything else press 0."
            0s #4 system: [1=Wheelchairs, 2=District nursing, 3=Physiotherapy, 0=Anything else]
            2s #5 patient: "Physiotherapy"
            2s join Named("Physiotherapy") [("via", "chat")]
            10s Abandon { contact: c1 }
            10s #6 system: ended "You ended the chat."
            10s Forget { contact: c1 }
            10s done
            11s refused ended
            stage ended
        "#]],
    );
    check(
        "
        1 connected on
        2 choose 3
        30 connected off
        100 connected on
        101 connected off
        300 tick
        ",
        expect![[r#"
            0s #1 patient: "My knee hurts"
            0s #2 system: "Welcome to the community health service."
            0s #3 system: "For wheelchairs press 1. For district nursing press 2. For physiotherapy press 3. For anything else press 0."
            0s #4 system: [1=Wheelchairs, 2=District nursing, 3=Physiotherapy, 0=Anything else]
            2s #5 patient: "Physiotherapy"
            2s join Named("Physiotherapy") [("via", "chat")]
            221s Abandon { contact: c1 }
            221s #6 system: ended "The chat ended because you left the page."
            221s Forget { contact: c1 }
            221s done
            stage ended
        "#]],
    );
}

#[test]
fn a_closed_service_says_so_and_ends_and_a_full_queue_refuses_politely() {
    let chat = Chat::start(
        CLOSED,
        timing(),
        main_flow(CLOSED),
        "Hello",
        BTreeSet::new(),
    );
    expect![[r#"
        0s #1 patient: "Hello"
        0s #2 system: "Our lines are closed. Our opening hours are 8am to 6pm, Monday to Friday, and 9am to 1pm on Saturday. If you need medical help now, call 111, or 999 in an emergency."
        0s #3 system: ended "The chat has ended."
        0s done
        stage ended
    "#]]
    .assert_eq(&run(chat, CLOSED, ""));
    let chat = Chat::start(OPEN, timing(), None, "Hello", BTreeSet::new());
    let mut w = World {
        next_contact: 1,
        refuse: true,
        position: None,
    };
    let mut chat = chat;
    let mut out = String::new();
    drain(&mut chat, &mut w, 0, OPEN, &mut out);
    expect![[r#"
        0s #1 patient: "Hello"
        0s join Service [("via", "chat")]
        0s #2 system: ended "Sorry, we cannot take your chat now. Please try again later or call us."
    "#]]
    .assert_eq(&out);
}

#[test]
fn only_the_agent_with_the_chat_writes_and_words_have_limits() {
    check(
        &format!(
            "
            1 connected on
            2 agent 7 hello
            3 choose 3
            4 answered 7 Sam
            5 agent 8 me too
            6 text {}
            7 text    
            8 text #{} hi
            9 agent 7 <script>alert(1)</script>
            ",
            "x".repeat(4001),
            "i".repeat(65)
        ),
        expect![[r#"
            0s #1 patient: "My knee hurts"
            0s #2 system: "Welcome to the community health service."
            0s #3 system: "For wheelchairs press 1. For district nursing press 2. For physiotherapy press 3. For anything else press 0."
            0s #4 system: [1=Wheelchairs, 2=District nursing, 3=Physiotherapy, 0=Anything else]
            2s refused not_yours
            3s #5 patient: "Physiotherapy"
            3s join Named("Physiotherapy") [("via", "chat")]
            4s #6 system: joined a7 Sam
            5s refused not_yours
            6s refused too_long
            7s refused empty
            8s refused bad_frame
            9s #7 a7: "<script>alert(1)</script>"
            stage with_agent
        "#]],
    );
}

#[test]
fn a_transfer_brings_another_agent_and_a_resumed_chat_goes_on_where_it_was() {
    check(
        "
        1 connected on
        2 choose 3
        10 answered 7 Sam
        20 answered 9 Dr Patel
        30 agent 7 still here?
        31 agent 9 Hello, I am the clinician
        ",
        expect![[r#"
            0s #1 patient: "My knee hurts"
            0s #2 system: "Welcome to the community health service."
            0s #3 system: "For wheelchairs press 1. For district nursing press 2. For physiotherapy press 3. For anything else press 0."
            0s #4 system: [1=Wheelchairs, 2=District nursing, 3=Physiotherapy, 0=Anything else]
            2s #5 patient: "Physiotherapy"
            2s join Named("Physiotherapy") [("via", "chat")]
            10s #6 system: joined a7 Sam
            20s #7 system: joined a9 Dr Patel
            30s refused not_yours
            31s #8 a9: "Hello, I am the clinician"
            stage with_agent
        "#]],
    );
    // After a restart: the numbers go on, a message sent again is known.
    let chat = Chat::resume(
        OPEN,
        timing(),
        9,
        vec![(Sender::Patient, "m1".into(), 4)],
        Some(ContactId(5)),
        Some((AgentId(7), "Sam".into())),
    );
    expect![[r#"
        1s ack #m1 = 4
        2s #9 a7: "Welcome back"
        3s #10 patient #m2: "thanks"
        stage with_agent
    "#]]
    .assert_eq(&run(
        chat,
        OPEN,
        "
        1 text #m1 sent before the crash
        2 agent 7 Welcome back
        3 text #m2 thanks
        ",
    ));
    // One that was in the flow joins the service's queue.
    let chat = Chat::resume(OPEN, timing(), 3, vec![], None, None);
    expect![[r#"
        0s #3 system: "Sorry, we lost your place in the conversation for a moment. You are now waiting for the next person free."
        0s join Service [("via", "chat")]
        stage queued
    "#]]
    .assert_eq(&run(chat, OPEN, ""));
}
