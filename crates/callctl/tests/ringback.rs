//! Ringing a caller back: the agent's phone first, then the caller's
//! number, then the bridge (the SIPp callback journeys' second half).

use callctl::{script, PhoneState, RingBack};
use expect_test::{expect, Expect};
use model::{AgentId, ContactId, DurationMs, Timestamp};

const T0: Timestamp = Timestamp(1_796_205_600_000);

fn check_with(phone: PhoneState, accept: bool, script_text: &str, expect: Expect) {
    let mut call = RingBack::start(
        T0,
        ContactId(41),
        AgentId(7),
        T0.plus(DurationMs::from_secs(20)),
        phone,
    );
    let trace =
        script::run_ringback(&mut call, T0, accept, script_text).unwrap_or_else(|e| panic!("{e}"));
    expect.assert_eq(&trace);
}

fn check(script_text: &str, expect: Expect) {
    check_with(PhoneState::Registered, true, script_text, expect);
}

#[test]
fn the_agent_answers_then_the_caller_and_they_are_bridged() {
    check(
        "
        3 agent answered
        10 caller answered
        70 caller hangup
        70 show
        ",
        expect![[r#"
            0.000s dial agent for 20.000s
            3.000s accept c41 for agent 7 (d1) -> ok
            3.000s callback taken
            3.000s play sys-callback-hello to agent
            3.000s dial caller for 45.000s
            10.000s bridge agent and caller
            10.000s save
            70.000s end c41
            70.000s hang up agent
            70.000s save
            70.000s done
            70.000s journal: ended (ended_by_caller) contact c41 agent 7 path [] bridged
        "#]],
    );
}

#[test]
fn the_agent_hangs_up_the_bridged_call() {
    check(
        "
        3 agent answered
        10 caller answered
        70 agent hangup
        70 show
        ",
        expect![[r#"
            0.000s dial agent for 20.000s
            3.000s accept c41 for agent 7 (d1) -> ok
            3.000s callback taken
            3.000s play sys-callback-hello to agent
            3.000s dial caller for 45.000s
            10.000s bridge agent and caller
            10.000s save
            70.000s end c41
            70.000s hang up caller
            70.000s save
            70.000s done
            70.000s journal: ended (ended_by_agent) contact c41 agent 7 path [] bridged
        "#]],
    );
}

#[test]
fn an_agent_phone_that_does_not_answer_makes_the_agent_not_ready() {
    check(
        "
        20 agent failed
        20 show
        ",
        expect![[r#"
            0.000s dial agent for 20.000s
            20.000s agent 7 not ready
            20.000s save
            20.000s done
            20.000s journal: ended (agent_did_not_answer) contact c41 path [] missed by [7]
        "#]],
    );
}

#[test]
fn a_gone_phone_makes_the_agent_not_ready_and_rings_nobody() {
    check_with(
        PhoneState::Gone,
        true,
        "0 show",
        expect![[r#"
        0.000s agent 7 not ready
        0.000s save
        0.000s done
        0.000s journal: ended (agent_phone_gone) contact c41 path [] missed by [7]
    "#]],
    );
}

#[test]
fn an_agent_at_the_desk_rings_the_caller_themselves() {
    check_with(
        PhoneState::Desk,
        true,
        "0 show",
        expect![[r#"
        0.000s done
        0.000s journal: ringing_agent contact c41 path []
    "#]],
    );
}

#[test]
fn a_caller_who_does_not_answer_ends_the_contact_and_frees_the_agent() {
    check(
        "
        3 agent answered
        48 caller failed
        48 show
        ",
        expect![[r#"
            0.000s dial agent for 20.000s
            3.000s accept c41 for agent 7 (d1) -> ok
            3.000s callback taken
            3.000s play sys-callback-hello to agent
            3.000s dial caller for 45.000s
            48.000s end c41
            48.000s hang up agent
            48.000s save
            48.000s done
            48.000s journal: ended (caller_did_not_answer: busy) contact c41 agent 7 path []
        "#]],
    );
}

#[test]
fn an_offer_gone_before_the_answer_hangs_the_agent_phone_up() {
    check_with(
        PhoneState::Registered,
        false,
        "
        3 agent answered
        3 show
        ",
        expect![[r#"
            0.000s dial agent for 20.000s
            3.000s accept c41 for agent 7 (d1) -> refused
            3.000s hang up agent
            3.000s save
            3.000s done
            3.000s journal: ended (offer_gone) contact c41 path []
        "#]],
    );
}

#[test]
fn the_agent_hanging_up_while_the_caller_rings_stops_the_ringing() {
    check(
        "
        3 agent answered
        8 agent hangup
        9 caller answered
        9 show
        ",
        expect![[r#"
            0.000s dial agent for 20.000s
            3.000s accept c41 for agent 7 (d1) -> ok
            3.000s callback taken
            3.000s play sys-callback-hello to agent
            3.000s dial caller for 45.000s
            8.000s end c41
            8.000s stop dialing caller
            8.000s save
            8.000s done
            9.000s hang up caller
            9.000s journal: ended (ended_by_agent) contact c41 agent 7 path []
        "#]],
    );
}

#[test]
fn a_callback_call_is_let_go_after_four_hours() {
    check(
        "
        3 agent answered
        10 caller answered
        14404 show
        ",
        expect![[r#"
            0.000s dial agent for 20.000s
            3.000s accept c41 for agent 7 (d1) -> ok
            3.000s callback taken
            3.000s play sys-callback-hello to agent
            3.000s dial caller for 45.000s
            10.000s bridge agent and caller
            10.000s save
            14400.000s end c41
            14400.000s hang up agent
            14400.000s hang up caller
            14400.000s save
            14400.000s done
            14404.000s journal: ended (too_long) contact c41 agent 7 path [] bridged
        "#]],
    );
}
