//! One call per test, written as call scripts (see `callctl::script`)
//! against the demo flows (`examples/flows`), with the commands the call
//! gives as the expected trace. Every path the SIPp journeys
//! (`crates/switchboard/tests/sip.rs`) take is here, and the races the
//! voice edge once had.

use callctl::{script, RecordingPolicy, Setup, VoiceCall};
use expect_test::{expect, Expect};
use flow::{Call as Flow, Catalog, FlowBook};
use model::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
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

fn load(name: &str) -> flow::Flow {
    let path = format!(
        "{}/../../examples/flows/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("example flow"))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn book() -> Arc<FlowBook> {
    let mut book = FlowBook::default();
    for name in ["wheelchairs", "paramedic", "kent-main"] {
        book = book
            .save(load(name), &catalog())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    // A flow that offers a callback before any queue.
    let offer: flow::Flow = serde_json::from_value(serde_json::json!({
        "id": "offer-first",
        "name": "Offer first",
        "start": "offer",
        "nodes": {
            "offer": {"type": "offer_callback", "queue": "Wheelchairs", "prompt": "offer",
                      "text": "Press 1 to be called back.", "declined": "queue"},
            "queue": {"type": "queue", "queue": "Wheelchairs", "music": "hold-1",
                      "announce_every_ms": 60000}
        }
    }))
    .expect("flow json");
    book = book.save(offer, &catalog()).expect("offer-first is valid");
    // A flow that collects patient data, then queues.
    let identify: flow::Flow = serde_json::from_value(serde_json::json!({
        "id": "identify",
        "name": "Identify",
        "start": "dob",
        "nodes": {
            "dob": {"type": "set", "attributes": {"date_of_birth": "1970-01-01", "reason": "wheelchair"},
                    "next": "nhs"},
            "nhs": {"type": "collect", "prompt": "ask-nhs-number", "text": "Your NHS number.",
                    "attribute": "nhs_number", "validate": {"kind": "nhs_number"}, "timeout_ms": 8000,
                    "retries": 1, "next": "queue", "failure": "queue"},
            "queue": {"type": "queue", "queue": "Wheelchairs", "music": "hold-1",
                      "announce_every_ms": 60000}
        }
    }))
    .expect("flow json");
    book = book.save(identify, &catalog()).expect("identify is valid");
    // Patient data under names of the flow's choosing, and a reference
    // that is not patient data.
    let renamed: flow::Flow = serde_json::from_value(serde_json::json!({
        "id": "renamed",
        "name": "Renamed",
        "start": "born",
        "nodes": {
            "born": {"type": "collect", "prompt": "ask-dob", "text": "Your date of birth.",
                     "attribute": "born", "validate": {"kind": "date_of_birth"}, "next": "patient", "failure": "queue"},
            "patient": {"type": "collect", "prompt": "ask-nhs-number", "text": "Your NHS number.",
                     "attribute": "patient", "validate": {"kind": "nhs_number"}, "next": "order", "failure": "queue"},
            "order": {"type": "collect", "prompt": "ask-order", "text": "Your order number.",
                     "attribute": "order", "validate": {"kind": "digits", "min": 4, "max": 4}, "next": "queue", "failure": "queue"},
            "queue": {"type": "queue", "queue": "Wheelchairs", "music": "hold-1"}
        }
    }))
    .expect("flow json");
    book = book.save(renamed, &catalog()).expect("renamed is valid");
    Arc::new(book)
}

fn setup(flow: Option<&str>, at: Timestamp) -> Setup {
    let mut attributes = BTreeMap::new();
    attributes.insert("number_called".to_string(), "01234567890".to_string());
    Setup {
        flow: flow.map(|id| Flow::start(book(), id, attributes, at).expect("flow starts")),
        open: at == OPEN,
        callback_to: Some("sip:07700900123@trunk".into()),
        private: BTreeSet::from(["date_of_birth".to_string()]),
        recording: RecordingPolicy::Never,
    }
}

fn check_with(setup: Setup, at: Timestamp, script_text: &str, expect: Expect) {
    let mut call = VoiceCall::start(at, setup);
    let trace = script::run(&mut call, at, script_text).unwrap_or_else(|e| panic!("{e}"));
    expect.assert_eq(&trace);
}

fn check(script_text: &str, expect: Expect) {
    check_with(setup(Some("kent-main"), OPEN), OPEN, script_text, expect);
}

#[test]
fn a_caller_keys_through_the_menu_hears_their_place_and_hangs_up_in_the_queue() {
    check(
        "
        0 world position 3 240
        2 finished
        3 key 2
        10 hangup bye
        10 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'District nursing' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> 3, 240s wait
            3.000s play position 3
            10.000s abandon c1
            10.000s forget c1
            10.000s hang up caller
            10.000s done
            10.000s journal: ended (abandoned_in_queue) contact c1 path [hours, welcome, menu, nursing] keys 2 announced [3] leg bye
        "#]],
    );
}

#[test]
fn a_registered_agent_phone_is_rung_and_bridged_and_the_agent_hangs_up() {
    check(
        "
        0 world position 1 30
        2 finished
        3 key 0
        5 offered 7 phone until 25
        8 dialled d1 answered
        60 agent-hangup d1
        60 contact-ended
        60 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> 1, 30s wait
            3.000s play position 1
            5.000s dial d1 agent 7 for 20.000s
            8.000s accept c1 for agent 7 (d1) -> ok
            8.000s clear
            8.000s music off
            8.000s bridge d1
            8.000s save
            60.000s end c1
            60.000s forget c1
            60.000s hang up caller
            60.000s done
            60.000s journal: ended (ended_by_agent) contact c1 agent 7 path [hours, welcome, menu, spa] keys 0 announced [1] bridged
        "#]],
    );
}

#[test]
fn the_caller_hangs_up_on_the_agent() {
    check(
        "
        2 finished
        3 key 0
        5 offered 7 phone until 25
        8 dialled d1 answered
        8 desk-answer 7
        40 hangup bye
        40 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            5.000s dial d1 agent 7 for 20.000s
            8.000s accept c1 for agent 7 (d1) -> ok
            8.000s clear
            8.000s music off
            8.000s bridge d1
            8.000s save
            40.000s end c1
            40.000s forget c1
            40.000s hang up d1
            40.000s hang up caller
            40.000s done
            40.000s journal: ended (ended_by_caller) contact c1 agent 7 path [hours, welcome, menu, spa] keys 0 bridged leg bye
        "#]],
    );
}

#[test]
fn a_phone_that_refuses_makes_the_agent_not_ready_and_the_caller_keeps_their_place() {
    check(
        "
        0 world position 1 30
        2 finished
        3 key 0
        5 offered 7 phone until 25
        6 dialled d1 failed
        7 offered 8 phone until 27
        9 dialled d2 answered
        20 hangup
        20 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> 1, 30s wait
            3.000s play position 1
            5.000s dial d1 agent 7 for 20.000s
            6.000s agent 7 not ready
            7.000s dial d2 agent 8 for 20.000s
            9.000s accept c1 for agent 8 (d2) -> ok
            9.000s clear
            9.000s music off
            9.000s bridge d2
            9.000s save
            20.000s end c1
            20.000s forget c1
            20.000s hang up d2
            20.000s hang up caller
            20.000s done
            20.000s journal: ended (ended_by_caller) contact c1 agent 8 path [hours, welcome, menu, spa] keys 0 announced [1] missed by [7] bridged
        "#]],
    );
}

#[test]
fn a_phone_that_unregistered_makes_the_agent_not_ready() {
    check(
        "
        2 finished
        3 key 0
        5 offered 7 gone until 25
        6 offered 8 desk until 26
        9 desk-answer 8
        9 key 5
        30 hangup
        30 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            5.000s agent 7 not ready
            9.000s clear
            9.000s music off
            30.000s end c1
            30.000s forget c1
            30.000s hang up caller
            30.000s done
            30.000s journal: ended (ended_by_caller) contact c1 agent 8 path [hours, welcome, menu, spa] keys 05 missed by [7]
        "#]],
    );
}

#[test]
fn a_callback_keeps_the_place_and_the_flow_says_goodbye() {
    check(
        "
        0 world position 4 300
        2 finished
        3 key 2
        20 key 1
        21 finished hangup
        21 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'District nursing' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> 4, 300s wait
            3.000s play position 4
            20.000s book callback c1 to sip:07700900123@trunk -> ok
            20.000s forget c1
            20.000s clear
            20.000s music off
            20.000s play sys-callback-booked
            20.000s play silence then hang up
            21.000s hang up caller
            21.000s done
            21.000s journal: ended (callback_requested) contact c1 path [hours, welcome, menu, nursing] keys 21 announced [4] callback
        "#]],
    );
}

#[test]
fn a_callback_the_engine_refuses_is_not_promised() {
    check(
        "
        0 world booking refused
        2 finished
        3 key 2
        20 key 1
        21 finished hangup
        21 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'District nursing' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            20.000s book callback c1 to sip:07700900123@trunk -> refused
            20.000s clear
            20.000s music off
            20.000s play sys-sorry
            20.000s play silence then hang up
            21.000s abandon c1
            21.000s forget c1
            21.000s hang up caller
            21.000s done
            21.000s journal: ended (callback_not_booked) contact c1 path [hours, welcome, menu, nursing] keys 21
        "#]],
    );
}

#[test]
fn a_callback_offered_before_the_queue_joins_it_then_keeps_the_place() {
    check_with(
        setup(Some("offer-first"), OPEN),
        OPEN,
        "
        1 key 1
        2 finished hangup
        2 show
        ",
        expect![[r#"
            0.000s play offer #1
            1.000s join 'Wheelchairs' priority 0 [number_called=01234567890, via=sip] -> c1
            1.000s book callback c1 to sip:07700900123@trunk -> ok
            1.000s forget c1
            1.000s clear
            1.000s music off
            1.000s play sys-callback-booked
            1.000s play silence then hang up
            2.000s hang up caller
            2.000s done
            2.000s journal: ended (callback_requested) contact c1 path [offer] keys 1 callback
        "#]],
    );
}

#[test]
fn without_a_number_to_ring_back_no_callback_is_promised_and_no_contact_is_made() {
    let mut s = setup(Some("offer-first"), OPEN);
    s.callback_to = None;
    check_with(
        s,
        OPEN,
        "
        1 key 1
        2 finished hangup
        2 show
        ",
        expect![[r#"
            0.000s play offer #1
            1.000s clear
            1.000s music off
            1.000s play sys-sorry
            1.000s play silence then hang up
            2.000s hang up caller
            2.000s done
            2.000s journal: ended (callback_not_booked) path [offer] keys 1
        "#]],
    );
}

#[test]
fn keys_and_holds_are_journaled_and_keys_in_a_bridged_call_are_ignored() {
    check(
        "
        1 hold on
        2 hold off
        2 finished
        3 key 0
        5 offered 7 phone until 25
        6 dialled d1 answered
        7 key 9
        8 latched
        9 hangup
        9 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            5.000s dial d1 agent 7 for 20.000s
            6.000s accept c1 for agent 7 (d1) -> ok
            6.000s clear
            6.000s music off
            6.000s bridge d1
            6.000s save
            9.000s end c1
            9.000s forget c1
            9.000s hang up d1
            9.000s hang up caller
            9.000s done
            9.000s journal: ended (ended_by_caller) contact c1 agent 7 path [hours, welcome, menu, spa] keys 0 bridged nat
        "#]],
    );
}

#[test]
fn self_service_collects_an_nhs_number_that_never_reaches_the_contact_or_journal() {
    check(
        "
        2 finished
        3 key 1
        4 finished
        5 key 1
        6 finished
        8 keys 9990000018
        9 finished
        10 finished hangup
        10 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s play wheelchair-menu #3
            5.000s clear
            5.000s play ask-nhs-number #4
            8.000s clear
            8.000s play return-booked #5
            9.000s play silence then hang up
            10.000s hang up caller
            10.000s done
            10.000s journal: ended (self_served) path [hours, welcome, menu, wheelchairs, menu, nhs-number, return, self_service:wheelchair_return, bye] keys 11••••••••••
        "#]],
    );
}

#[test]
fn an_nhs_number_that_fails_three_times_goes_to_the_queue_without_it() {
    check(
        "
        2 finished
        3 key 1
        4 finished
        5 key 1
        6 finished
        8 keys 12345
        14 finished
        22 tick
        23 finished
        31 tick
        32 finished
        40 tick
        41 finished
        45 hangup
        45 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s play wheelchair-menu #3
            5.000s clear
            5.000s play ask-nhs-number #4
            16.000s play ask-nhs-number #5
            31.000s play ask-nhs-number #6
            40.000s join 'Wheelchairs' priority 0 [number_called=01234567890, via=sip] -> c1
            40.000s save
            40.000s music hold-1
            40.000s read position of c1 -> none
            45.000s abandon c1
            45.000s forget c1
            45.000s hang up caller
            45.000s done
            45.000s journal: ended (abandoned_in_queue) contact c1 path [hours, welcome, menu, wheelchairs, menu, nhs-number, queue] keys 11•••••
        "#]],
    );
}

#[test]
fn a_transfer_rings_the_next_agents_phone_and_moves_the_caller_to_it() {
    check(
        "
        2 finished
        3 key 0
        5 offered 7 phone until 25
        6 dialled d1 answered
        30 offered 8 phone until 50
        33 dialled d2 answered
        40 agent-hangup d1
        60 agent-hangup d2
        60 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            5.000s dial d1 agent 7 for 20.000s
            6.000s accept c1 for agent 7 (d1) -> ok
            6.000s clear
            6.000s music off
            6.000s bridge d1
            6.000s save
            30.000s dial d2 agent 8 for 20.000s
            33.000s accept c1 for agent 8 (d2) -> ok
            33.000s clear
            33.000s music off
            33.000s bridge d2
            33.000s save
            33.000s hang up d1
            60.000s end c1
            60.000s forget c1
            60.000s hang up caller
            60.000s done
            60.000s journal: ended (ended_by_agent) contact c1 agent 8 path [hours, welcome, menu, spa] keys 0 bridged
        "#]],
    );
}

#[test]
fn the_agent_holds_the_caller_with_music_and_takes_them_back() {
    check(
        "
        2 finished
        3 key 0
        5 offered 7 phone until 25
        6 dialled d1 answered
        10 agent-hold on
        20 agent-hold off
        30 hangup
        30 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            5.000s dial d1 agent 7 for 20.000s
            6.000s accept c1 for agent 7 (d1) -> ok
            6.000s clear
            6.000s music off
            6.000s bridge d1
            6.000s save
            10.000s unbridge d1
            10.000s music hold-1
            20.000s music off
            20.000s bridge d1
            30.000s end c1
            30.000s forget c1
            30.000s hang up d1
            30.000s hang up caller
            30.000s done
            30.000s journal: ended (ended_by_caller) contact c1 agent 7 path [hours, welcome, menu, spa] keys 0 bridged
        "#]],
    );
}

#[test]
fn a_caller_who_hangs_up_in_the_menu_is_abandoned_in_the_ivr() {
    check(
        "
        2 finished
        4 hangup bye
        4 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            4.000s hang up caller
            4.000s done
            4.000s journal: ended (abandoned_in_ivr) path [hours, welcome, menu] leg bye
        "#]],
    );
}

#[test]
fn a_closed_service_without_a_flow_says_so_and_hangs_up() {
    check_with(
        setup(None, CLOSED),
        CLOSED,
        "
        5 finished hangup
        5 show
        ",
        expect![[r#"
            0.000s play sys-closed
            0.000s play silence then hang up
            5.000s hang up caller
            5.000s done
            5.000s journal: ended (completed) path []
        "#]],
    );
}

#[test]
fn an_open_service_without_a_flow_queues_and_announces_once() {
    check_with(
        setup(None, OPEN),
        OPEN,
        "
        0 world position 2 60
        5 world position 1 30
        9 hangup
        9 show
        ",
        expect![[r#"
            0.000s join the service's queue priority 0 [via=sip] -> c1
            0.000s music hold-1
            0.000s save
            0.000s read position of c1 -> none
            2.000s read position of c1 -> 2, 60s wait
            2.000s play position 2
            6.000s read position of c1 -> 1, 30s wait
            9.000s abandon c1
            9.000s forget c1
            9.000s hang up caller
            9.000s done
            9.000s journal: ended (abandoned_in_queue) contact c1 path [] announced [2]
        "#]],
    );
}

#[test]
fn a_queue_that_refuses_the_call_says_sorry_and_hangs_up() {
    check(
        "
        0 world join refused the queue is full
        2 finished
        3 key 0
        6 finished hangup
        6 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> refused: the queue is full
            3.000s play sys-sorry
            3.000s play silence then hang up
            6.000s hang up caller
            6.000s done
            6.000s journal: ended (refused by the queue: the queue is full) path [hours, welcome, menu, spa] keys 0
        "#]],
    );
}

#[test]
fn a_caller_who_hangs_up_while_the_agent_phone_rings_stops_it_ringing() {
    check(
        "
        2 finished
        3 key 0
        5 offered 7 phone until 25
        8 hangup
        9 dialled d1 answered
        9 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            5.000s dial d1 agent 7 for 20.000s
            8.000s stop dialing d1
            8.000s abandon c1
            8.000s forget c1
            8.000s hang up caller
            8.000s done
            9.000s hang up d1
            9.000s journal: ended (abandoned_in_queue) contact c1 path [hours, welcome, menu, spa] keys 0
        "#]],
    );
}

#[test]
fn patient_data_collected_by_the_flow_never_goes_on_the_contact() {
    check_with(
        setup(Some("identify"), OPEN),
        OPEN,
        "
        1 keys 9990000026
        2 finished
        3 hangup
        3 show
        ",
        expect![[r#"
            0.000s play ask-nhs-number #1
            1.000s clear
            1.000s join 'Wheelchairs' priority 0 [number_called=01234567890, reason=wheelchair, via=sip] -> c1
            1.000s save
            1.000s music hold-1
            1.000s read position of c1 -> none
            3.000s abandon c1
            3.000s forget c1
            3.000s hang up caller
            3.000s done
            3.000s journal: ended (abandoned_in_queue) contact c1 path [dob, nhs, queue] keys ••••••••••
        "#]],
    );
}

/// Which attributes are patient data is read from the flows themselves:
/// an NHS number or a date of birth collected under any name stays off
/// the contact; an order number does not.
#[test]
fn patient_data_under_any_name_stays_off_the_contact() {
    let book = book();
    let private = callctl::private_attributes(&book);
    assert_eq!(
        private,
        BTreeSet::from(["born".to_string(), "nhs_number".into(), "patient".into()])
    );
    let mut attributes = BTreeMap::new();
    attributes.insert("number_called".to_string(), "01234567890".to_string());
    let setup = Setup {
        flow: Some(Flow::start(book, "renamed", attributes, OPEN).expect("flow starts")),
        open: true,
        callback_to: None,
        private,
        recording: RecordingPolicy::Never,
    };
    check_with(
        setup,
        OPEN,
        "
        1 keys 01021960
        2 finished
        3 keys 9990000026
        4 finished
        5 keys 4711
        6 finished
        7 hangup
        7 show
        ",
        expect![[r#"
            0.000s play ask-dob #1
            1.000s clear
            1.000s play ask-nhs-number #2
            3.000s clear
            3.000s play ask-order #3
            5.000s clear
            5.000s join 'Wheelchairs' priority 0 [number_called=01234567890, order=4711, via=sip] -> c1
            5.000s save
            5.000s music hold-1
            5.000s read position of c1 -> none
            7.000s abandon c1
            7.000s forget c1
            7.000s hang up caller
            7.000s done
            7.000s journal: ended (abandoned_in_queue) contact c1 path [born, patient, order, queue] keys ••••••••••••••••••••••
        "#]],
    );
}

// The races the async version had, each as the script that shows it.

#[test]
fn an_answer_to_an_earlier_offer_is_hung_up_not_bridged() {
    check(
        "
        2 finished
        3 key 0
        5 offered 7 phone until 25
        6 offered 7 phone until 26
        7 dialled d1 answered
        8 dialled d2 answered
        20 hangup
        20 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            5.000s dial d1 agent 7 for 20.000s
            6.000s stop dialing d1
            6.000s dial d2 agent 7 for 20.000s
            7.000s hang up d1
            8.000s accept c1 for agent 7 (d2) -> ok
            8.000s clear
            8.000s music off
            8.000s bridge d2
            8.000s save
            20.000s end c1
            20.000s forget c1
            20.000s hang up d2
            20.000s hang up caller
            20.000s done
            20.000s journal: ended (ended_by_caller) contact c1 agent 7 path [hours, welcome, menu, spa] keys 0 bridged
        "#]],
    );
}

#[test]
fn an_answer_after_the_offer_went_is_hung_up_and_the_caller_stays_queued() {
    check(
        "
        2 finished
        3 key 0
        5 offered 7 phone until 25
        6 offer-gone 7
        7 dialled d1 answered
        7 show
        20 hangup
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            5.000s dial d1 agent 7 for 20.000s
            6.000s stop dialing d1
            7.000s hang up d1
            7.000s journal: queued contact c1 path [hours, welcome, menu, spa] keys 0
            20.000s abandon c1
            20.000s forget c1
            20.000s hang up caller
            20.000s done
        "#]],
    );
}

#[test]
fn an_answer_the_engine_no_longer_takes_is_hung_up() {
    check(
        "
        0 world accept refused
        2 finished
        3 key 0
        5 offered 7 phone until 25
        7 dialled d1 answered
        7 show
        20 hangup
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            5.000s dial d1 agent 7 for 20.000s
            7.000s accept c1 for agent 7 (d1) -> refused
            7.000s hang up d1
            7.000s journal: ringing_agent contact c1 path [hours, welcome, menu, spa] keys 0
            20.000s abandon c1
            20.000s forget c1
            20.000s hang up caller
            20.000s done
        "#]],
    );
}

#[test]
fn a_prompt_cut_by_a_key_does_not_move_the_next_node_on() {
    // The menu's prompt (#2) is cut by the key; its end, reported late,
    // must not start the next menu's timer (which would replay it).
    check(
        "
        2 finished
        3 key 1
        4 finished 2
        30 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s play wheelchair-menu #3
            30.000s journal: in_ivr path [hours, welcome, menu, wheelchairs, menu] keys 1
        "#]],
    );
}

#[test]
fn the_service_clearing_the_contact_ends_the_call() {
    check(
        "
        2 finished
        3 key 0
        10 contact-ended
        10 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            10.000s forget c1
            10.000s hang up caller
            10.000s done
            10.000s journal: ended (ended_by_the_service) contact c1 path [hours, welcome, menu, spa] keys 0
        "#]],
    );
}

#[test]
fn media_that_stops_ends_the_call_as_abandoned() {
    check(
        "
        2 finished
        3 key 0
        5 offered 7 phone until 25
        10 media-stopped
        10 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            5.000s dial d1 agent 7 for 20.000s
            10.000s stop dialing d1
            10.000s abandon c1
            10.000s forget c1
            10.000s hang up caller
            10.000s done
            10.000s journal: ended (abandoned_in_queue) contact c1 path [hours, welcome, menu, spa] keys 0
        "#]],
    );
}

#[test]
fn a_call_stuck_in_the_queue_is_let_go_after_four_hours() {
    check(
        "
        2 finished
        3 key 0
        14401 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            14400.000s abandon c1
            14400.000s forget c1
            14400.000s hang up caller
            14400.000s done
            14401.000s journal: ended (too_long) contact c1 path [hours, welcome, menu, spa] keys 0
        "#]],
    );
}

#[test]
fn answers_after_the_end_are_let_go() {
    check(
        "
        2 finished
        3 key 0
        5 offered 7 phone until 25
        6 hangup
        7 dialled d1 answered
        7 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip] -> c1
            3.000s save
            3.000s music hold-1
            3.000s read position of c1 -> none
            5.000s dial d1 agent 7 for 20.000s
            6.000s stop dialing d1
            6.000s abandon c1
            6.000s forget c1
            6.000s hang up caller
            6.000s done
            7.000s hang up d1
            7.000s journal: ended (abandoned_in_queue) contact c1 path [hours, welcome, menu, spa] keys 0
        "#]],
    );
}

/// The journal keeps at most MAX_JOURNAL_ITEMS keys: a caller pressing
/// keys for ever in the queue fills it to the cap exactly, and no more.
#[test]
fn the_journal_keeps_keys_up_to_its_cap_and_no_more() {
    let mut call = VoiceCall::start(OPEN, setup(Some("kent-main"), OPEN));
    let many = "5".repeat(callctl::MAX_JOURNAL_ITEMS + 50);
    let script_text = format!("2 finished\n3 key 0\n5 keys {many}\n6 hangup\n");
    script::run(&mut call, OPEN, &script_text).unwrap();
    assert_eq!(
        call.journal().keys.chars().count(),
        callctl::MAX_JOURNAL_ITEMS,
        "{}",
        call.journal().keys
    );
}

/// The edge's answer to a join comes after the caller has hung up: the
/// contact it made is abandoned and forgotten at once, not left waiting in
/// the queue for an agent (a ghost contact).
#[test]
fn a_join_answered_after_the_caller_hung_up_is_abandoned_at_once() {
    check(
        "
        1 world join later
        2 finished
        3 key 0
        4 hangup
        5 joined
        5 show
        ",
        expect![[r#"
            0.000s play welcome #1
            2.000s play main-menu #2
            3.000s clear
            3.000s join 'Single point of access' priority 0 [number_called=01234567890, via=sip]
            5.000s joined -> c1
            5.000s save
            5.000s music hold-1
            5.000s abandon c1
            5.000s forget c1
            5.000s hang up caller
            5.000s done
            5.000s journal: ended (abandoned_in_queue) contact c1 path [hours, welcome, menu, spa] keys 0
        "#]],
    );
}

/// A service that records every call: the caller is told first; the
/// recording starts when the agent's phone is on the line; the agent may
/// pause and resume it but not stop it; it stops when the call ends.
#[test]
fn an_always_recorded_call_is_announced_started_at_the_bridge_paused_and_stopped_at_the_end() {
    let mut s = setup(None, OPEN);
    s.recording = RecordingPolicy::Always;
    check_with(
        s,
        OPEN,
        "
        1 record start
        5 offered 7 phone until 25
        8 dialled d1 answered
        9 record start
        10 record stop
        11 record pause
        12 record pause
        13 record resume
        40 hangup bye
        40 show
        ",
        expect![[r#"
            0.000s play sys-recorded
            0.000s join the service's queue priority 0 [via=sip] -> c1
            0.000s music hold-1
            0.000s save
            0.000s read position of c1 -> none
            1.000s recording refused: the call is not connected to an agent's phone
            5.000s dial d1 agent 7 for 20.000s
            8.000s accept c1 for agent 7 (d1) -> ok
            8.000s clear
            8.000s music off
            8.000s bridge d1
            8.000s record start
            8.000s save
            9.000s recording refused: the call is being recorded already
            10.000s recording refused: this service records every call: pause the recording instead
            11.000s record pause
            12.000s recording refused: the recording is paused already
            13.000s record resume
            40.000s record stop
            40.000s end c1
            40.000s forget c1
            40.000s hang up d1
            40.000s hang up caller
            40.000s done
            40.000s journal: ended (ended_by_caller) contact c1 agent 7 path [] bridged leg bye recording off (1 made)
        "#]],
    );
}

/// On demand: nothing is recorded until the agent starts it; stopped and
/// started again, it makes a second recording.
#[test]
fn an_on_demand_recording_is_started_and_stopped_by_the_agent() {
    let mut s = setup(None, OPEN);
    s.recording = RecordingPolicy::OnDemand;
    check_with(
        s,
        OPEN,
        "
        5 offered 7 phone until 25
        8 dialled d1 answered
        9 record resume
        10 record start
        20 record stop
        21 record stop
        30 record start
        40 agent-hangup d1
        40 show
        ",
        expect![[r#"
            0.000s play sys-recorded
            0.000s join the service's queue priority 0 [via=sip] -> c1
            0.000s music hold-1
            0.000s save
            0.000s read position of c1 -> none
            5.000s dial d1 agent 7 for 20.000s
            8.000s accept c1 for agent 7 (d1) -> ok
            8.000s clear
            8.000s music off
            8.000s bridge d1
            8.000s save
            9.000s recording refused: the call is not being recorded
            10.000s record start
            20.000s record stop
            21.000s recording refused: the call is not being recorded
            30.000s record start
            40.000s end c1
            40.000s forget c1
            40.000s record stop
            40.000s hang up caller
            40.000s done
            40.000s journal: ended (ended_by_agent) contact c1 agent 7 path [] bridged recording off (2 made)
        "#]],
    );
}

/// A service that does not record refuses every request.
#[test]
fn a_service_that_does_not_record_refuses_to() {
    check_with(
        setup(None, OPEN),
        OPEN,
        "
        5 offered 7 phone until 25
        8 dialled d1 answered
        9 record start
        ",
        expect![[r#"
            0.000s join the service's queue priority 0 [via=sip] -> c1
            0.000s music hold-1
            0.000s save
            0.000s read position of c1 -> none
            5.000s dial d1 agent 7 for 20.000s
            8.000s accept c1 for agent 7 (d1) -> ok
            8.000s clear
            8.000s music off
            8.000s bridge d1
            8.000s save
            9.000s recording refused: this service does not record calls
        "#]],
    );
}

/// A recording the edge could not start: the call goes on unrecorded, the
/// agent is told so if they try to pause it, nothing is stopped at the end.
#[test]
fn a_recording_that_could_not_start_leaves_the_call_unrecorded() {
    let mut s = setup(None, OPEN);
    s.recording = RecordingPolicy::Always;
    check_with(
        s,
        OPEN,
        "
        5 offered 7 phone until 25
        8 dialled d1 answered
        8 record-failed
        9 record pause
        40 hangup bye
        40 show
        ",
        expect![[r#"
            0.000s play sys-recorded
            0.000s join the service's queue priority 0 [via=sip] -> c1
            0.000s music hold-1
            0.000s save
            0.000s read position of c1 -> none
            5.000s dial d1 agent 7 for 20.000s
            8.000s accept c1 for agent 7 (d1) -> ok
            8.000s clear
            8.000s music off
            8.000s bridge d1
            8.000s record start
            8.000s save
            9.000s recording refused: the call is not being recorded
            40.000s end c1
            40.000s forget c1
            40.000s hang up d1
            40.000s hang up caller
            40.000s done
            40.000s journal: ended (ended_by_caller) contact c1 agent 7 path [] bridged leg bye
        "#]],
    );
}
