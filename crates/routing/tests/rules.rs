//! One rule per test, written as routing scripts against the demo trust
//! (see `routing::demo`), with the trace as the expected output.

use expect_test::{expect, Expect};
use model::Timestamp;
use routing::{demo, script, Engine};

fn check(script_text: &str, expect: Expect) {
    let mut e =
        Engine::new(demo::kent_community_trust(), Timestamp::ZERO).expect("demo config is valid");
    let trace = script::run(&mut e, script_text).unwrap_or_else(|err| panic!("{err}"));
    e.check_consistency()
        .unwrap_or_else(|err| panic!("inconsistent engine: {err}\n{trace}"));
    // expect-test strips common indentation; the time column is
    // right-aligned, so compare without leading spaces.
    let trace: String = trace
        .lines()
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    expect.assert_eq(&trace);
}

#[test]
fn a_contact_is_offered_to_a_ready_agent_and_answered() {
    check(
        "
        0 ready alice
        1 arrive c1 wheelchairs
        5 accept alice c1
        65 end c1
        95 tick
        95 show agent alice
        ",
        expect![[r#"
            0.000s Alice is ready
            1.000s c1 arrived: voice for Wheelchairs (priority 0)
            1.000s c1 waits in Wheelchairs (step 0)
            1.000s c1 offered to Alice (Wheelchairs), rings until 21.000s
            5.000s c1 answered by Alice after 4.000s
            65.000s c1 ended by Alice
            65.000s Alice wraps up c1 until 95.000s
            95.000s Alice done with c1
            95.000s agent alice: Available load [0, 0, 0, 0] []
        "#]],
    );
}

#[test]
fn a_paramedic_is_answered_before_a_longer_waiting_routine_call() {
    check(
        "
        0 arrive c1 single-point-of-access
        5 arrive c2 paramedic-line
        10 ready hana
        10 show queue single-point-of-access
        ",
        expect![[r#"
            0.000s c1 arrived: voice for Single point of access (priority 0)
            0.000s c1 waits in Single point of access (step 0)
            5.000s c2 arrived: voice for Paramedic line (priority 0)
            5.000s c2 waits in Paramedic line (step 0)
            10.000s Hana is ready
            10.000s c2 offered to Hana (Paramedic line), rings until 25.000s
            10.000s queue single-point-of-access: [c1]
        "#]],
    );
}

#[test]
fn equal_priority_goes_to_the_longest_wait() {
    check(
        "
        0 arrive c1 wheelchairs
        3 arrive c2 wheelchairs
        10 ready alice
        ",
        expect![[r#"
            0.000s c1 arrived: voice for Wheelchairs (priority 0)
            0.000s c1 waits in Wheelchairs (step 0)
            3.000s c2 arrived: voice for Wheelchairs (priority 0)
            3.000s c2 waits in Wheelchairs (step 0)
            10.000s Alice is ready
            10.000s c1 offered to Alice (Wheelchairs), rings until 30.000s
        "#]],
    );
}

#[test]
fn a_priority_raised_while_waiting_takes_effect() {
    check(
        "
        0 arrive c1 wheelchairs
        1 arrive c2 wheelchairs
        2 prio c2 5
        2 show queue wheelchairs
        10 ready alice
        ",
        expect![[r#"
            0.000s c1 arrived: voice for Wheelchairs (priority 0)
            0.000s c1 waits in Wheelchairs (step 0)
            1.000s c2 arrived: voice for Wheelchairs (priority 0)
            1.000s c2 waits in Wheelchairs (step 0)
            2.000s c2 priority 0 -> 5
            2.000s queue wheelchairs: [c2, c1]
            10.000s Alice is ready
            10.000s c2 offered to Alice (Wheelchairs), rings until 30.000s
        "#]],
    );
}

#[test]
fn overflow_steps_widen_the_agents_and_keep_the_place() {
    check(
        "
        0 ready bob
        0 ready femi
        0 arrive c1 wheelchairs
        0 show contact c1
        10 arrive c2 wheelchairs
        30 tick
        40 tick
        60 tick
        70 show contact c2
        120 tick
        600 tick
        ",
        expect![[r#"
            0.000s Bob is ready
            0.000s Femi is ready
            0.000s c1 arrived: voice for Wheelchairs (priority 0)
            0.000s c1 waits in Wheelchairs (step 0)
            0.000s contact c1: Waiting in Wheelchairs step 0 priority 0 (effective 0)
            10.000s c2 arrived: voice for Wheelchairs (priority 0)
            10.000s c2 waits in Wheelchairs (step 0)
            30.000s c1 overflow step 1 of Wheelchairs
            30.000s c1 offered to Bob (Wheelchairs), rings until 50.000s
            40.000s c2 overflow step 1 of Wheelchairs
            50.000s c1 rang out at Bob
            50.000s Bob is not ready (missed offer)
            50.000s c1 waits in Wheelchairs (step 1)
            60.000s c1 overflow step 2 of Wheelchairs
            60.000s c1 offered to Femi (Wheelchairs), rings until 80.000s
            70.000s c2 overflow step 2 of Wheelchairs
            70.000s contact c2: Waiting in Wheelchairs step 2 priority 0 (effective 0)
            80.000s c1 rang out at Femi
            80.000s Femi is not ready (missed offer)
            80.000s c1 waits in Wheelchairs (step 2)
            120.000s c1 overflow step 3 of Wheelchairs
            120.000s c1 is offered a callback
            130.000s c2 overflow step 3 of Wheelchairs
            130.000s c2 is offered a callback
            600.000s c1 overflow step 4 of Wheelchairs
            600.000s c1 to voicemail from Wheelchairs (Overflow)
        "#]],
    );
}

#[test]
fn an_unanswered_offer_goes_back_with_its_place_and_the_agent_goes_not_ready() {
    check(
        "
        0 ready alice
        1 arrive c1 wheelchairs
        5 arrive c2 wheelchairs
        21 show agent alice
        21 show queue wheelchairs
        25 ready alice
        ",
        expect![[r#"
            0.000s Alice is ready
            1.000s c1 arrived: voice for Wheelchairs (priority 0)
            1.000s c1 waits in Wheelchairs (step 0)
            1.000s c1 offered to Alice (Wheelchairs), rings until 21.000s
            5.000s c2 arrived: voice for Wheelchairs (priority 0)
            5.000s c2 waits in Wheelchairs (step 0)
            21.000s c1 rang out at Alice
            21.000s Alice is not ready (missed offer)
            21.000s c1 waits in Wheelchairs (step 0)
            21.000s agent alice: NotReady(MissedOffer) load [0, 0, 0, 0] []
            21.000s queue wheelchairs: [c1, c2]
            25.000s Alice is ready
            25.000s c1 offered to Alice (Wheelchairs), rings until 45.000s
        "#]],
    );
}

#[test]
fn a_rejected_offer_goes_to_the_next_agent() {
    check(
        "
        0 ready alice
        1 ready jo
        2 arrive c1 wheelchairs
        3 reject alice c1
        62 tick
        ",
        expect![[r#"
            0.000s Alice is ready
            1.000s Jo is ready
            2.000s c1 arrived: voice for Wheelchairs (priority 0)
            2.000s c1 waits in Wheelchairs (step 0)
            2.000s c1 offered to Alice (Wheelchairs), rings until 22.000s
            3.000s c1 rejected by Alice
            3.000s Alice is not ready (declined)
            3.000s c1 waits in Wheelchairs (step 0)
            32.000s c1 overflow step 1 of Wheelchairs
            62.000s c1 overflow step 2 of Wheelchairs
            62.000s c1 offered to Jo (Wheelchairs), rings until 82.000s
        "#]],
    );
}

#[test]
fn abandoning_while_waiting_and_while_ringing() {
    check(
        "
        0 arrive c1 wheelchairs
        1 arrive c2 wheelchairs
        2 abandon c1
        3 ready alice
        4 abandon c2
        4 show agent alice
        5 arrive c3 wheelchairs
        ",
        expect![[r#"
               0.000s c1 arrived: voice for Wheelchairs (priority 0)
               0.000s c1 waits in Wheelchairs (step 0)
               1.000s c2 arrived: voice for Wheelchairs (priority 0)
               1.000s c2 waits in Wheelchairs (step 0)
               2.000s c1 abandoned Wheelchairs after 2.000s
               3.000s Alice is ready
               3.000s c2 offered to Alice (Wheelchairs), rings until 23.000s
               4.000s c2 offer to Alice withdrawn (Abandoned)
               4.000s c2 abandoned Wheelchairs after 3.000s
               4.000s agent alice: Available load [0, 0, 0, 0] []
               5.000s c3 arrived: voice for Wheelchairs (priority 0)
               5.000s c3 waits in Wheelchairs (step 0)
               5.000s c3 offered to Alice (Wheelchairs), rings until 25.000s
        "#]],
    );
}

#[test]
fn a_caller_who_takes_a_callback_keeps_their_place() {
    check(
        "
        0 arrive c1 wheelchairs
        10 arrive c2 wheelchairs
        20 callback c1
        25 ready alice
        25 show contact c1
        30 accept alice c1
        ",
        expect![[r#"
            0.000s c1 arrived: voice for Wheelchairs (priority 0)
            0.000s c1 waits in Wheelchairs (step 0)
            10.000s c2 arrived: voice for Wheelchairs (priority 0)
            10.000s c2 waits in Wheelchairs (step 0)
            20.000s c1 takes a callback, keeps its place
            25.000s Alice is ready
            25.000s c1 offered to Alice (Wheelchairs), rings until 45.000s
            25.000s contact c1: Offered(a1) in Wheelchairs step 0 priority 0 (effective 0)
            30.000s c1 answered by Alice after 30.000s
        "#]],
    );
}

#[test]
fn the_wheelchair_line_offers_a_callback_after_two_minutes() {
    check(
        "
        0 arrive c1 wheelchairs
        120 callback c1
        130 show contact c1
        600 tick
        700 ready alice
        ",
        expect![[r#"
            0.000s c1 arrived: voice for Wheelchairs (priority 0)
            0.000s c1 waits in Wheelchairs (step 0)
            30.000s c1 overflow step 1 of Wheelchairs
            60.000s c1 overflow step 2 of Wheelchairs
            120.000s c1 overflow step 3 of Wheelchairs
            120.000s c1 is offered a callback
            120.000s c1 takes a callback, keeps its place
            130.000s contact c1: Waiting in Wheelchairs step 3 priority 0 (effective 0)
            600.000s c1 overflow step 4 of Wheelchairs
            700.000s Alice is ready
            700.000s c1 offered to Alice (Wheelchairs), rings until 720.000s
        "#]],
    );
}

#[test]
fn a_booked_callback_joins_the_queue_when_due() {
    check(
        "
        0 ready alice
        0 book c1 wheelchairs 100
        50 show contact c1
        100 tick
        101 abandon c1
        102 book c2 wheelchairs 200
        150 abandon c2
        ",
        expect![[r#"
            0.000s Alice is ready
            0.000s c1 arrived: callback for Wheelchairs (priority 0)
            0.000s c1 callback booked for 100.000s in Wheelchairs
            50.000s contact c1: Scheduled { due_at: t=100000ms } in Wheelchairs step 0 priority 0 (effective 0)
            100.000s c1 waits in Wheelchairs (step 0)
            100.000s c1 offered to Alice (Wheelchairs), rings until 120.000s
            101.000s c1 offer to Alice withdrawn (Abandoned)
            101.000s c1 callback cancelled
            102.000s c2 arrived: callback for Wheelchairs (priority 0)
            102.000s c2 callback booked for 200.000s in Wheelchairs
            150.000s c2 callback cancelled
        "#]],
    );
}

#[test]
fn warm_transfer_to_a_clinical_queue() {
    check(
        "
        0 ready dev
        1 arrive c1 district-nursing
        2 accept dev c1
        30 transfer c1 warm queue:paramedic-line
        30 show contact c1
        35 ready hana
        40 accept hana c1
        40 show agent dev
        100 end c1
        ",
        expect![[r#"
            0.000s Dev is ready
            1.000s c1 arrived: voice for District nursing (priority 0)
            1.000s c1 waits in District nursing (step 0)
            1.000s c1 offered to Dev (District nursing), rings until 21.000s
            2.000s c1 answered by Dev after 1.000s
            30.000s c1 warm transfer by Dev to Paramedic line
            30.000s c1 moved District nursing -> Paramedic line (Transfer)
            30.000s c1 waits in Paramedic line (step 0)
            30.000s contact c1: InProgress { agent: a4, on_hold: false } in Paramedic line step 0 priority 0 (effective 100)
            35.000s Hana is ready
            35.000s c1 offered to Hana (Paramedic line), rings until 50.000s
            40.000s c1 warm transfer Dev -> Hana done
            40.000s Dev wraps up c1 until 85.000s
            40.000s agent dev: WrapUp load [1, 0, 0, 0] [c1 voice WrapUp { until: t=85000ms }]
            85.000s Dev done with c1
            100.000s c1 ended by Hana
            100.000s Hana wraps up c1 until 160.000s
        "#]],
    );
}

#[test]
fn cold_transfer_to_a_named_agent_who_is_busy() {
    check(
        "
        0 ready alice
        1 arrive c1 wheelchairs
        2 accept alice c1
        3 transfer c1 cold agent:jo
        3 show contact c1
        33 tick
        40 ready jo
        45 accept jo c1
        ",
        expect![[r#"
            0.000s Alice is ready
            1.000s c1 arrived: voice for Wheelchairs (priority 0)
            1.000s c1 waits in Wheelchairs (step 0)
            1.000s c1 offered to Alice (Wheelchairs), rings until 21.000s
            2.000s c1 answered by Alice after 1.000s
            3.000s c1 cold transfer by Alice to Jo
            3.000s Alice wraps up c1 until 33.000s
            3.000s c1 waits for Jo
            3.000s contact c1: WaitingForAgent(a10) in Wheelchairs step 0 priority 0 (effective 0)
            33.000s Alice done with c1
            40.000s Jo is ready
            40.000s c1 offered to Jo (Wheelchairs), rings until 60.000s
            45.000s c1 cold transfer Alice -> Jo done
        "#]],
    );
}

#[test]
fn a_warm_transfer_can_be_cancelled() {
    check(
        "
        0 ready alice
        0 ready jo
        1 arrive c1 wheelchairs
        2 accept alice c1
        3 transfer c1 warm agent:jo
        4 cancel-transfer c1
        4 show agent jo
        5 show contact c1
        ",
        expect![[r#"
               0.000s Alice is ready
               0.000s Jo is ready
               1.000s c1 arrived: voice for Wheelchairs (priority 0)
               1.000s c1 waits in Wheelchairs (step 0)
               1.000s c1 offered to Alice (Wheelchairs), rings until 21.000s
               2.000s c1 answered by Alice after 1.000s
               3.000s c1 warm transfer by Alice to Jo
               3.000s c1 waits for Jo
               3.000s c1 offered to Jo (Wheelchairs), rings until 23.000s
               4.000s c1 offer to Jo withdrawn (TransferCancelled)
               4.000s c1 transfer cancelled
               4.000s agent jo: Available load [0, 0, 0, 0] []
               5.000s contact c1: InProgress { agent: a1, on_hold: false } in Wheelchairs step 0 priority 0 (effective 0)
        "#]],
    );
}

#[test]
fn hold_and_resume() {
    check(
        "
        0 ready erin
        1 arrive c1 physiotherapy
        2 accept erin c1
        3 hold c1
        4 hold c1
        5 resume c1
        6 resume c1
        7 end c1
        8 end c1
        ",
        expect![[r#"
               0.000s Erin is ready
               1.000s c1 arrived: voice for Physiotherapy (priority 0)
               1.000s c1 waits in Physiotherapy (step 0)
               1.000s c1 offered to Erin (Physiotherapy), rings until 21.000s
               2.000s c1 answered by Erin after 1.000s
               3.000s c1 on hold
               4.000s error: contact c1 is already on hold
               5.000s c1 off hold
               6.000s error: contact c1 is not on hold
               7.000s c1 ended by Erin
               7.000s Erin done with c1
               8.000s error: unknown contact c1 (never seen, or already ended)
        "#]],
    );
}

#[test]
fn a_blended_agent_takes_three_chats_but_no_call_meanwhile() {
    check(
        "
        0 ready femi
        1 arrive c1 wellbeing chat
        1 arrive c2 wellbeing chat
        1 arrive c3 wellbeing email
        1 arrive c4 wellbeing chat
        1 arrive c5 wellbeing chat
        1 arrive c6 wellbeing voice
        2 accept femi c1
        2 accept femi c2
        2 accept femi c3
        2 accept femi c4
        3 show agent femi
        4 end c1
        5 end c2
        5 end c3
        5 end c4
        6 show queue wellbeing
        ",
        expect![[r#"
               0.000s Femi is ready
               1.000s c1 arrived: chat for Wellbeing (priority 0)
               1.000s c1 waits in Wellbeing (step 0)
               1.000s c1 offered to Femi (Wellbeing), rings until 61.000s
               1.000s c2 arrived: chat for Wellbeing (priority 0)
               1.000s c2 waits in Wellbeing (step 0)
               1.000s c2 offered to Femi (Wellbeing), rings until 61.000s
               1.000s c3 arrived: email for Wellbeing (priority 0)
               1.000s c3 waits in Wellbeing (step 0)
               1.000s c3 offered to Femi (Wellbeing), rings until 61.000s
               1.000s c4 arrived: chat for Wellbeing (priority 0)
               1.000s c4 waits in Wellbeing (step 0)
               1.000s c4 offered to Femi (Wellbeing), rings until 61.000s
               1.000s c5 arrived: chat for Wellbeing (priority 0)
               1.000s c5 waits in Wellbeing (step 0)
               1.000s c6 arrived: voice for Wellbeing (priority 0)
               1.000s c6 waits in Wellbeing (step 0)
               2.000s c1 answered by Femi after 1.000s
               2.000s c2 answered by Femi after 1.000s
               2.000s c3 answered by Femi after 1.000s
               2.000s c4 answered by Femi after 1.000s
               3.000s agent femi: Busy load [0, 3, 1, 0] [c1 chat Active, c2 chat Active, c3 email Active, c4 chat Active]
               4.000s c1 ended by Femi
               4.000s Femi done with c1
               4.000s c5 offered to Femi (Wellbeing), rings until 64.000s
               5.000s c2 ended by Femi
               5.000s Femi done with c2
               5.000s c3 ended by Femi
               5.000s Femi done with c3
               5.000s c4 ended by Femi
               5.000s Femi done with c4
               6.000s queue wellbeing: [c6]
        "#]],
    );
}

#[test]
fn a_site_going_off_air_sends_its_calls_elsewhere() {
    check(
        "
        0 ready alice
        0 ready bob
        1 arrive c1 wheelchairs
        2 site maidstone off
        31 tick
        40 site maidstone on
        40 arrive c2 wheelchairs
        ",
        expect![[r#"
            0.000s Alice is ready
            0.000s Bob is ready
            1.000s c1 arrived: voice for Wheelchairs (priority 0)
            1.000s c1 waits in Wheelchairs (step 0)
            1.000s c1 offered to Alice (Wheelchairs), rings until 21.000s
            2.000s site Maidstone OFF AIR
            2.000s c1 offer to Alice withdrawn (SiteOffAir)
            2.000s c1 waits in Wheelchairs (step 0)
            31.000s c1 overflow step 1 of Wheelchairs
            31.000s c1 offered to Bob (Wheelchairs), rings until 51.000s
            40.000s site Maidstone back on air
            40.000s c2 arrived: voice for Wheelchairs (priority 0)
            40.000s c2 waits in Wheelchairs (step 0)
            40.000s c2 offered to Alice (Wheelchairs), rings until 60.000s
        "#]],
    );
}

#[test]
fn district_nursing_moves_to_the_single_point_of_access_after_five_minutes() {
    check(
        "
        0 arrive c1 district-nursing
        300 tick
        301 ready idris
        ",
        expect![[r#"
            0.000s c1 arrived: voice for District nursing (priority 0)
            0.000s c1 waits in District nursing (step 0)
            60.000s c1 overflow step 1 of District nursing
            300.000s c1 overflow step 2 of District nursing
            300.000s c1 moved District nursing -> Single point of access (Overflow)
            301.000s Idris is ready
            301.000s c1 offered to Idris (Single point of access), rings until 321.000s
        "#]],
    );
}

#[test]
fn aging_lifts_a_long_wait_over_a_higher_priority_newcomer() {
    check(
        "
        0 arrive c1 physiotherapy
        200 arrive c2 physiotherapy prio=2
        250 show queue physiotherapy
        250 ready erin
        260 arrive c3 physiotherapy
        261 arrive c4 physiotherapy prio=10
        262 show queue physiotherapy
        ",
        expect![[r#"
            0.000s c1 arrived: voice for Physiotherapy (priority 0)
            0.000s c1 waits in Physiotherapy (step 0)
            200.000s c2 arrived: voice for Physiotherapy (priority 2)
            200.000s c2 waits in Physiotherapy (step 0)
            250.000s queue physiotherapy: [c1, c2]
            250.000s Erin is ready
            250.000s c1 offered to Erin (Physiotherapy), rings until 270.000s
            260.000s c3 arrived: voice for Physiotherapy (priority 0)
            260.000s c3 waits in Physiotherapy (step 0)
            261.000s c4 arrived: voice for Physiotherapy (priority 10)
            261.000s c4 waits in Physiotherapy (step 0)
            262.000s queue physiotherapy: [c4, c2, c3]
        "#]],
    );
}

#[test]
fn longest_idle_agent_first() {
    check(
        "
        0 ready idris
        5 ready hana
        10 arrive c1 single-point-of-access
        11 accept idris c1
        12 arrive c2 single-point-of-access
        13 accept hana c2
        13 end c1
        14 end c2
        44 tick
        50 arrive c3 single-point-of-access
        ",
        expect![[r#"
            0.000s Idris is ready
            5.000s Hana is ready
            10.000s c1 arrived: voice for Single point of access (priority 0)
            10.000s c1 waits in Single point of access (step 0)
            10.000s c1 offered to Idris (Single point of access), rings until 30.000s
            11.000s c1 answered by Idris after 1.000s
            12.000s c2 arrived: voice for Single point of access (priority 0)
            12.000s c2 waits in Single point of access (step 0)
            12.000s c2 offered to Hana (Single point of access), rings until 32.000s
            13.000s c2 answered by Hana after 1.000s
            13.000s c1 ended by Idris
            13.000s Idris wraps up c1 until 43.000s
            14.000s c2 ended by Hana
            14.000s Hana wraps up c2 until 44.000s
            43.000s Idris done with c1
            44.000s Hana done with c2
            50.000s c3 arrived: voice for Single point of access (priority 0)
            50.000s c3 waits in Single point of access (step 0)
            50.000s c3 offered to Idris (Single point of access), rings until 70.000s
        "#]],
    );
}

#[test]
fn most_skilled_agent_first_on_the_paramedic_line() {
    check(
        "
        0 ready idris
        5 ready hana
        10 arrive c1 paramedic-line
        10 arrive c2 paramedic-line
        ",
        expect![[r#"
            0.000s Idris is ready
            5.000s Hana is ready
            10.000s c1 arrived: voice for Paramedic line (priority 0)
            10.000s c1 waits in Paramedic line (step 0)
            10.000s c1 offered to Hana (Paramedic line), rings until 25.000s
            10.000s c2 arrived: voice for Paramedic line (priority 0)
            10.000s c2 waits in Paramedic line (step 0)
            10.000s c2 offered to Idris (Paramedic line), rings until 25.000s
        "#]],
    );
}

#[test]
fn round_robin_on_physiotherapy() {
    check(
        "
        0 ready erin
        0 ready jo
        1 arrive c1 physiotherapy
        2 accept erin c1
        3 end c1
        4 arrive c2 physiotherapy
        5 arrive c3 physiotherapy
        ",
        expect![[r#"
               0.000s Erin is ready
               0.000s Jo is ready
               1.000s c1 arrived: voice for Physiotherapy (priority 0)
               1.000s c1 waits in Physiotherapy (step 0)
               1.000s c1 offered to Erin (Physiotherapy), rings until 21.000s
               2.000s c1 answered by Erin after 1.000s
               3.000s c1 ended by Erin
               3.000s Erin done with c1
               4.000s c2 arrived: voice for Physiotherapy (priority 0)
               4.000s c2 waits in Physiotherapy (step 0)
               4.000s c2 offered to Jo (Physiotherapy), rings until 24.000s
               5.000s c3 arrived: voice for Physiotherapy (priority 0)
               5.000s c3 waits in Physiotherapy (step 0)
               5.000s c3 offered to Erin (Physiotherapy), rings until 25.000s
        "#]],
    );
}

#[test]
fn least_occupied_on_wellbeing() {
    check(
        "
        0 ready femi
        1 arrive c1 wellbeing chat
        2 accept femi c1
        3 ready grace
        4 arrive c2 wellbeing chat
        ",
        expect![[r#"
               0.000s Femi is ready
               1.000s c1 arrived: chat for Wellbeing (priority 0)
               1.000s c1 waits in Wellbeing (step 0)
               1.000s c1 offered to Femi (Wellbeing), rings until 61.000s
               2.000s c1 answered by Femi after 1.000s
               3.000s Grace is ready
               4.000s c2 arrived: chat for Wellbeing (priority 0)
               4.000s c2 waits in Wellbeing (step 0)
               4.000s c2 offered to Grace (Wellbeing), rings until 64.000s
        "#]],
    );
}

#[test]
fn a_language_requirement_waits_for_a_speaker() {
    check(
        "
        0 ready alice
        0 ready bob
        1 arrive c1 wheelchairs lang=polish
        29 show contact c1
        31 tick
        ",
        expect![[r#"
            0.000s Alice is ready
            0.000s Bob is ready
            1.000s c1 arrived: voice for Wheelchairs (priority 0)
            1.000s c1 waits in Wheelchairs (step 0)
            29.000s contact c1: Waiting in Wheelchairs step 0 priority 0 (effective 0)
            31.000s c1 overflow step 1 of Wheelchairs
            31.000s c1 offered to Bob (Wheelchairs), rings until 51.000s
        "#]],
    );
}

#[test]
fn events_that_make_no_sense_are_refused_and_change_nothing() {
    check(
        "
        0 ready alice
        1 arrive c1 wheelchairs
        1 arrive c1 wheelchairs
        2 accept jo c1
        2 accept alice c9
        3 accept alice c1
        3 accept alice c1
        4 end c1
        4 end c1
        5 wrapped jo c1
        5 wrapped alice c1
        6 callback c1
        7 arrive c2 wheelchairs needs=polish:11
        7 transfer c2 cold queue:wellbeing
        7 show agent alice
        ",
        expect![[r#"
               0.000s Alice is ready
               1.000s c1 arrived: voice for Wheelchairs (priority 0)
               1.000s c1 waits in Wheelchairs (step 0)
               1.000s c1 offered to Alice (Wheelchairs), rings until 21.000s
               1.000s error: contact c1 already exists
               2.000s error: contact c1 is not offered to agent a10
               2.000s error: unknown contact c9 (never seen, or already ended)
               3.000s c1 answered by Alice after 2.000s
               3.000s error: contact c1 is not offered to agent a1
               4.000s c1 ended by Alice
               4.000s Alice wraps up c1 until 34.000s
               4.000s error: unknown contact c1 (never seen, or already ended)
               5.000s error: agent a10 is not wrapping up contact c1
               5.000s Alice done with c1
               6.000s error: unknown contact c1 (never seen, or already ended)
               7.000s error: contact c2: requires skill s7 at level 11, outside 1..=10
               7.000s error: unknown contact c2 (never seen, or already ended)
               7.000s agent alice: Available load [0, 0, 0, 0] []
        "#]],
    );
}

#[test]
fn a_real_call_waits_for_an_agent_whose_phone_is_connected() {
    // Alice is ready with no phone: the real call (c1) waits for one while
    // a contact that needs none (c2) is offered to her; once her phone
    // connects, c1 comes to her. A phone going away does not take back an
    // offer already ringing (the call finds the phone gone), but the next
    // real call waits again.
    check(
        "
        0 ready alice
        1 arrive c1 wheelchairs phone
        2 arrive c2 wheelchairs
        3 accept alice c2
        4 end c2
        34 tick
        34 show queue wheelchairs
        35 phone alice on
        36 phone alice off
        37 accept alice c1
        97 end c1
        127 tick
        128 arrive c3 wheelchairs phone
        130 show queue wheelchairs
        131 phone alice on
        ",
        expect![[r#"
            0.000s Alice is ready
            1.000s c1 arrived: voice for Wheelchairs (priority 0)
            1.000s c1 waits in Wheelchairs (step 0)
            2.000s c2 arrived: voice for Wheelchairs (priority 0)
            2.000s c2 waits in Wheelchairs (step 0)
            2.000s c2 offered to Alice (Wheelchairs), rings until 22.000s
            3.000s c2 answered by Alice after 1.000s
            4.000s c2 ended by Alice
            4.000s Alice wraps up c2 until 34.000s
            31.000s c1 overflow step 1 of Wheelchairs
            34.000s Alice done with c2
            34.000s queue wheelchairs: [c1]
            35.000s c1 offered to Alice (Wheelchairs), rings until 55.000s
            37.000s c1 answered by Alice after 36.000s
            97.000s c1 ended by Alice
            97.000s Alice wraps up c1 until 127.000s
            127.000s Alice done with c1
            128.000s c3 arrived: voice for Wheelchairs (priority 0)
            128.000s c3 waits in Wheelchairs (step 0)
            130.000s queue wheelchairs: [c3]
            131.000s c3 offered to Alice (Wheelchairs), rings until 151.000s
        "#]],
    );
}

#[test]
fn an_agent_takes_more_time_to_wrap_up_and_is_not_offered_work_until_it_ends() {
    // Alice's wrap-up (30 s) would end at 34 s; at 30 s she asks for 60 s
    // more (until 94 s): the first timer fires stale and c2 waits. At 90 s
    // and twice at 92 s she asks for 600 s more each time: the last is
    // capped at 30 minutes from then (1,892 s, not 1,894 s). Asking for
    // nothing, too much, or for a contact she is not wrapping up is
    // refused and changes nothing; done ends it at once.
    check(
        "
        0 ready alice
        1 arrive c1 wheelchairs
        3 accept alice c1
        4 end c1
        30 more-wrap-up alice c1 60
        31 arrive c2 wheelchairs
        35 show agent alice
        90 more-wrap-up alice c1 600
        91 more-wrap-up alice c1 0
        91 more-wrap-up alice c1 601
        91 more-wrap-up alice c2 60
        92 more-wrap-up alice c1 600
        92 more-wrap-up alice c1 600
        93 wrapped alice c1
        ",
        expect![[r#"
            0.000s Alice is ready
            1.000s c1 arrived: voice for Wheelchairs (priority 0)
            1.000s c1 waits in Wheelchairs (step 0)
            1.000s c1 offered to Alice (Wheelchairs), rings until 21.000s
            3.000s c1 answered by Alice after 2.000s
            4.000s c1 ended by Alice
            4.000s Alice wraps up c1 until 34.000s
            30.000s Alice wraps up c1 longer, until 94.000s
            31.000s c2 arrived: voice for Wheelchairs (priority 0)
            31.000s c2 waits in Wheelchairs (step 0)
            35.000s agent alice: WrapUp load [1, 0, 0, 0] [c1 voice WrapUp { until: t=94000ms }]
            61.000s c2 overflow step 1 of Wheelchairs
            90.000s Alice wraps up c1 longer, until 694.000s
            91.000s c2 overflow step 2 of Wheelchairs
            91.000s error: more wrap-up time: between 1 s and 600 s at a time, not 0 ms
            91.000s error: more wrap-up time: between 1 s and 600 s at a time, not 601000 ms
            91.000s error: agent a1 is not wrapping up contact c2
            92.000s Alice wraps up c1 longer, until 1294.000s
            92.000s Alice wraps up c1 longer, until 1892.000s
            93.000s Alice done with c1
            93.000s c2 offered to Alice (Wheelchairs), rings until 113.000s
        "#]],
    );
}
