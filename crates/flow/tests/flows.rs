//! Call flows: the demo flows validate; broken flows are refused with the
//! node named; the interpreter walks menus, collects and checks digits,
//! branches on opening hours across daylight-saving changes and bank
//! holidays, queues with announcements, and keeps calls on their version.

use flow::{Call, Catalog, Flow, FlowBook, FlowEvent, Input, Outcome, Output};
use model::{DurationMs, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;

fn catalog() -> Catalog {
    let c = routing::demo::kent_community_trust();
    Catalog {
        queues: c.queues.iter().map(|q| q.name.clone()).collect(),
        skills: c.skills.iter().map(|s| s.name.clone()).collect(),
        prompts: None,
        actions: ["wheelchair_return".to_string()].into(),
    }
}

fn load(name: &str) -> Flow {
    let path = format!(
        "{}/../../examples/flows/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("example flow"))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn demo_book() -> Arc<FlowBook> {
    let mut book = FlowBook::default();
    // Sub-flows first: a flow may only call flows already in the book.
    for name in ["wheelchairs", "paramedic", "kent-main"] {
        book = book
            .save(load(name), &catalog())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    Arc::new(book)
}

/// UTC ms of a London wall-clock-free UTC instant.
fn utc(s: &str) -> Timestamp {
    let ts: jiff::Timestamp = s.parse().unwrap();
    Timestamp(ts.as_millisecond())
}

/// Runs a call: each step is (seconds after start, input), and the outputs
/// are rendered one per line.
fn walk(
    book: &Arc<FlowBook>,
    flow: &str,
    start: Timestamp,
    attrs: &[(&str, &str)],
    steps: &[(i64, Input)],
) -> (Vec<String>, Call) {
    let attrs: BTreeMap<String, String> = attrs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut call = Call::start(book.clone(), flow, attrs, start).unwrap();
    let mut lines = Vec::new();
    let drain = |call: &mut Call, lines: &mut Vec<String>| {
        while let Some(o) = call.poll_output() {
            lines.push(match o {
                Output::Event(FlowEvent::Entered { node, .. }) => format!("> {node}"),
                Output::Play { text, .. } => format!("play: {}", &text[..text.len().min(40)]),
                other => format!("{other:?}"),
            });
        }
    };
    drain(&mut call, &mut lines);
    for (secs, input) in steps {
        let now = start.plus(DurationMs::from_secs(*secs));
        call.handle_timeout(now).unwrap();
        drain(&mut call, &mut lines);
        if !call.is_done() {
            call.handle(now, input.clone()).unwrap();
        }
        drain(&mut call, &mut lines);
    }
    (lines, call)
}

#[test]
fn the_demo_flows_validate() {
    let book = demo_book();
    assert_eq!(book.flows.len(), 3);
}

#[test]
fn broken_flows_name_the_node_and_leave_the_running_version() {
    let book = demo_book();
    type Breaker = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Breaker, &str)> = vec![
        (
            "dangling",
            Box::new(|f| f["nodes"]["welcome"]["next"] = "nowhere".into()),
            "node 'welcome': next 'nowhere' does not exist",
        ),
        (
            "unknown queue",
            Box::new(|f| f["nodes"]["physio"]["queue"] = "Podiatry".into()),
            "node 'physio': queue 'Podiatry' does not exist",
        ),
        (
            "bad key",
            Box::new(|f| f["nodes"]["menu"]["options"]["x"] = "spa".into()),
            "node 'menu': option key 'x' is not 0-9, * or #",
        ),
        (
            "unreachable",
            Box::new(|f| f["nodes"]["orphan"] = serde_json::json!({"type": "hang_up"})),
            "node 'orphan': cannot be reached from the start",
        ),
        (
            "spinning loop",
            Box::new(|f| {
                f["nodes"]["welcome"]["next"] = "again".into();
                f["nodes"]["again"] = serde_json::json!({"type": "play", "prompt": "p", "text": "t", "next": "welcome"});
            }),
            "loop again -> welcome -> again never waits for the caller",
        ),
        (
            "calendar",
            Box::new(|f| f["calendars"]["office"]["weekly"][0]["close"] = "07:00".into()),
            "calendar 'office': closes at 07:00, not after it opens at 08:00",
        ),
        (
            "missing sub-flow",
            Box::new(|f| f["nodes"]["wheelchairs"]["flow"] = "ghost".into()),
            "node 'wheelchairs': sub-flow 'ghost' does not exist",
        ),
    ];
    for (what, breaker, message) in cases {
        let mut v = serde_json::to_value(load("kent-main")).unwrap();
        breaker(&mut v);
        let f: Flow = serde_json::from_value(v).unwrap();
        let issues = book.save(f, &catalog()).expect_err(what);
        let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
        assert!(text.iter().any(|t| t.contains(message)), "{what}: {text:?}");
        // The book in use is untouched.
        assert_eq!(book.get("kent-main").unwrap().version, 1);
    }
    // Unknown fields and wrong types are refused by the parser, naming them.
    let err = serde_json::from_str::<Flow>(
        r#"{"id":"x","name":"x","start":"a","nodes":{"a":{"type":"hang_up","colour":"red"}}}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    // Sub-flows that call each other in a circle.
    let mut w = serde_json::to_value(load("wheelchairs")).unwrap();
    w["nodes"]["back"] =
        serde_json::json!({"type": "subflow", "flow": "kent-main", "next": "queue"});
    let issues = book
        .save(serde_json::from_value(w).unwrap(), &catalog())
        .unwrap_err();
    assert!(
        issues[0]
            .problem
            .contains("sub-flows call each other in a circle"),
        "{issues:?}"
    );
}

#[test]
fn menu_retries_then_goes_to_failure() {
    let book = demo_book();
    // Tuesday 2026-11-24 10:00 UTC = 10:00 GMT: open.
    let (lines, call) = walk(
        &book,
        "kent-main",
        utc("2026-11-24T10:00:00Z"),
        &[],
        &[
            (1, Input::PromptFinished),
            (2, Input::PromptFinished),
            (3, Input::Key('7')),
            (4, Input::PromptFinished),
            (11, Input::PromptFinished),
            (18, Input::PromptFinished),
        ],
    );
    expect_test::expect![[r#"
        > hours
        > welcome
        play: Welcome to the community health service.
        > menu
        play: For wheelchairs press 1. For district nu
        Listen { max_digits: 1, options: ["0", "1", "2", "3"] }
        play: For wheelchairs press 1. For district nu
        Listen { max_digits: 1, options: ["0", "1", "2", "3"] }
        play: For wheelchairs press 1. For district nu
        Listen { max_digits: 1, options: ["0", "1", "2", "3"] }
        > spa
        Enqueue { queue: "Single point of access", priority: 0, require: [], attributes: {} }
        HoldMusic { music: Some("hold-1") }
        Event(Left { outcome: Queued, time_in_ivr: 18000ms })"#]]
    .assert_eq(&lines.join("\n"));
    assert_eq!(call.outcome(), Outcome::Queued);
}

#[test]
fn wheelchair_return_by_self_service_with_an_nhs_number() {
    let book = demo_book();
    // Main menu: 1 (wheelchairs); wheelchair menu: 1 (return a wheelchair).
    let mut steps = vec![
        (1, Input::PromptFinished),
        (2, Input::PromptFinished),
        (3, Input::Key('1')),
        (4, Input::PromptFinished),
        (5, Input::Key('1')),
        (6, Input::PromptFinished),
    ];
    // A wrong number first (bad check digit), then a good test-range one.
    for (i, k) in "9990000019".chars().enumerate() {
        steps.push((7 + i as i64, Input::Key(k)));
    }
    steps.push((18, Input::PromptFinished));
    for (i, k) in "9990000018".chars().enumerate() {
        steps.push((19 + i as i64, Input::Key(k)));
    }
    steps.push((30, Input::PromptFinished));
    let (lines, call) = walk(&book, "kent-main", utc("2026-11-24T10:00:00Z"), &[], &steps);
    let text = lines.join("\n");
    assert!(
        text.contains("> nhs-number\nplay: Please key in the patient's ten-digit N"),
        "{text}"
    );
    assert_eq!(
        text.matches("play: Please key in").count(),
        2,
        "re-prompted once: {text}"
    );
    assert!(
        text.contains("SelfService { action: \"wheelchair_return\""),
        "{text}"
    );
    assert!(
        text.ends_with("HangUp\nEvent(Left { outcome: SelfServed, time_in_ivr: 30000ms })"),
        "{text}"
    );
    assert_eq!(call.attributes()["nhs_number"], "9990000018");
}

#[test]
fn opening_hours_follow_london_time_across_daylight_saving_and_holidays() {
    let book = demo_book();
    let opened = |at: &str| {
        let (lines, _) = walk(&book, "kent-main", utc(at), &[], &[]);
        lines[1] == "> welcome"
    };
    // BST starts Sunday 2026-03-29 01:00 UTC. On Friday 27 March 07:30 UTC
    // is 07:30 GMT (closed); on Monday 30 March 07:30 UTC is 08:30 BST (open).
    assert!(!opened("2026-03-27T07:30:00Z"));
    assert!(opened("2026-03-30T07:30:00Z"));
    // 17:30 UTC on Monday 30 March is 18:30 BST: closed.
    assert!(!opened("2026-03-30T17:30:00Z"));
    // BST ends Sunday 2026-10-25 01:00 UTC: Monday 26 October 17:30 UTC is
    // 17:30 GMT, open; 07:30 UTC is 07:30 GMT, closed.
    assert!(opened("2026-10-26T17:30:00Z"));
    assert!(!opened("2026-10-26T07:30:00Z"));
    // Christmas Day (a Friday in 2026) is a bank holiday; Christmas Eve is
    // open only in the morning (an exception).
    assert!(!opened("2026-12-25T10:00:00Z"));
    assert!(opened("2026-12-24T11:00:00Z"));
    assert!(!opened("2026-12-24T13:00:00Z"));
    // Saturday morning open, Sunday closed.
    assert!(opened("2026-11-28T10:00:00Z"));
    assert!(!opened("2026-11-29T10:00:00Z"));
}

#[test]
fn queue_announcements_and_callback_key_keep_the_place() {
    let book = demo_book();
    let (lines, call) = walk(
        &book,
        "kent-main",
        utc("2026-11-24T10:00:00Z"),
        &[],
        &[
            (1, Input::PromptFinished),
            (2, Input::Key('2')),
            (
                3,
                Input::QueueUpdate {
                    position: 4,
                    expected_wait: DurationMs::from_secs(240),
                },
            ),
            (
                70,
                Input::QueueUpdate {
                    position: 2,
                    expected_wait: DurationMs::from_secs(120),
                },
            ),
            (125, Input::Key('1')),
        ],
    );
    let text = lines.join("\n");
    assert!(
        text.contains("Announce { position: 4, expected_wait: 240000ms }"),
        "{text}"
    );
    assert!(
        text.contains("Announce { position: 2, expected_wait: 120000ms }"),
        "{text}"
    );
    assert!(
        text.contains("RequestCallback { queue: \"District nursing\""),
        "{text}"
    );
    assert_eq!(call.outcome(), Outcome::CallbackRequested);
}

#[test]
fn a_call_finishes_on_the_version_it_started_with() {
    let book = demo_book();
    let start = utc("2026-11-24T10:00:00Z");
    let mut call = Call::start(book.clone(), "kent-main", BTreeMap::new(), start).unwrap();
    // Version 2 sends "0" to physiotherapy instead.
    let mut v = serde_json::to_value(load("kent-main")).unwrap();
    v["nodes"]["menu"]["options"]["0"] = "physio".into();
    let book2 = Arc::new(
        book.save(serde_json::from_value(v).unwrap(), &catalog())
            .unwrap(),
    );
    assert_eq!(book2.get("kent-main").unwrap().version, 2);
    for (s, i) in [(1, Input::PromptFinished), (2, Input::Key('0'))] {
        call.handle(start.plus(DurationMs::from_secs(s)), i)
            .unwrap();
    }
    let outs: Vec<Output> = std::iter::from_fn(|| call.poll_output()).collect();
    assert!(
        outs.iter().any(
            |o| matches!(o, Output::Enqueue { queue, .. } if queue == "Single point of access")
        ),
        "{outs:?}"
    );
    assert!(outs
        .iter()
        .all(|o| !matches!(o, Output::Event(FlowEvent::Entered { version: 2, .. }))));
    // A new call uses version 2.
    let mut call2 = Call::start(book2, "kent-main", BTreeMap::new(), start).unwrap();
    for (s, i) in [(1, Input::PromptFinished), (2, Input::Key('0'))] {
        call2
            .handle(start.plus(DurationMs::from_secs(s)), i)
            .unwrap();
    }
    let outs: Vec<Output> = std::iter::from_fn(|| call2.poll_output()).collect();
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Enqueue { queue, .. } if queue == "Physiotherapy")),
        "{outs:?}"
    );
}

#[test]
fn hanging_up_in_the_ivr_and_the_paramedic_priority() {
    let book = demo_book();
    let (_, call) = walk(
        &book,
        "kent-main",
        utc("2026-11-24T10:00:00Z"),
        &[],
        &[(1, Input::PromptFinished), (3, Input::HangUp)],
    );
    assert_eq!(call.outcome(), Outcome::AbandonedInFlow);
    let (lines, _) = walk(
        &book,
        "paramedic",
        utc("2026-11-24T03:00:00Z"),
        &[],
        &[(1, Input::PromptFinished)],
    );
    let text = lines.join("\n");
    assert!(text.contains("Enqueue { queue: \"Paramedic line\", priority: 50, require: [], attributes: {\"caller\": \"paramedic\"} }"), "{text}");
}

#[test]
fn a_polish_speaker_is_routed_with_the_language_skill() {
    let book = demo_book();
    let (lines, _) = walk(
        &book,
        "wheelchairs",
        utc("2026-11-24T10:00:00Z"),
        &[("language", "pl")],
        &[(1, Input::Key('2'))],
    );
    let text = lines.join("\n");
    assert!(text.contains("require: [\"Polish:1\"]"), "{text}");
}

mod fuzz {
    use super::*;
    use flow::{MAX_STEPS_PER_INPUT, MAX_VISITS};
    use proptest::prelude::*;

    /// A JSON value of any shape (for structured mutations).
    fn any_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[a-z0-9_ -]{0,12}".prop_map(serde_json::Value::from),
            // Names that exist in the demo flows: edges that go somewhere.
            prop::sample::select(vec![
                "menu",
                "queue",
                "bye",
                "nhs-number",
                "Wheelchairs",
                "9",
                "closed"
            ])
            .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Every object member of `v` by its path (where a mutation can land).
    fn paths(v: &serde_json::Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if let serde_json::Value::Object(m) = v {
            for (k, x) in m {
                at.push(k.clone());
                out.push(at.clone());
                paths(x, at, out);
                at.pop();
            }
        }
    }

    fn member<'a>(v: &'a mut serde_json::Value, path: &[String]) -> &'a mut serde_json::Value {
        path.iter().fold(v, |v, k| &mut v[k.as_str()])
    }

    /// The demo's wheelchairs flow with one member (at any depth) set to
    /// `value`, or removed.
    fn mutate(
        pick: prop::sample::Index,
        value: serde_json::Value,
        remove: bool,
    ) -> serde_json::Value {
        let base = serde_json::to_value(load("wheelchairs")).unwrap();
        let mut all = Vec::new();
        paths(&base, &mut Vec::new(), &mut all);
        let path = pick.get(&all).clone();
        let mut v = base;
        let (last, parent) = path.split_last().unwrap();
        if remove {
            if let Some(m) = member(&mut v, parent).as_object_mut() {
                m.remove(last);
            }
        } else {
            *member(&mut v, &path) = value;
        }
        v
    }

    /// The mutations are worth running: of 300 (a fixed seed), a quarter
    /// parse (73 when written), and of those some are
    /// refused by the validator (not the JSON parser), and many are
    /// accepted and run.
    #[test]
    fn mutations_reach_the_validator_and_the_interpreter() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut parsed, mut refused, mut accepted) = (0, 0, 0);
        for _ in 0..300 {
            let (pick, value, remove) = (any::<prop::sample::Index>(), any_json(), any::<bool>())
                .new_tree(&mut runner)
                .unwrap()
                .current();
            if let Ok(f) = serde_json::from_value::<Flow>(mutate(pick, value, remove)) {
                parsed += 1;
                match FlowBook::default().save(f, &catalog()) {
                    Ok(_) => accepted += 1,
                    Err(_) => refused += 1,
                }
            }
        }
        assert!(
            parsed >= 50 && refused >= 15 && accepted >= 30,
            "{parsed} parsed, {refused} refused, {accepted} accepted"
        );
    }

    /// Drives a call with `inputs`, checking at every step what the
    /// interpreter promises: no node entered more than MAX_VISITS times, no
    /// more than MAX_STEPS_PER_INPUT nodes run for one input, timers never
    /// in the past, at most one `Left` to a queue, then one final `Left`
    /// and nothing after it, and a call still going at the end ends when
    /// the caller hangs up.
    fn run_checked(
        book: Arc<FlowBook>,
        id: &str,
        inputs: &[(u8, u8)],
    ) -> Result<(), TestCaseError> {
        let start = Timestamp(1_800_000_000_000);
        let mut call = Call::start(book, id, BTreeMap::new(), start).unwrap();
        let mut entered: BTreeMap<(String, String), u32> = BTreeMap::new();
        let mut lefts = 0;
        let mut queued = 0;
        let mut drain = |call: &mut Call, lefts: &mut u32| -> Result<(), TestCaseError> {
            let mut steps = 0;
            while let Some(o) = call.poll_output() {
                prop_assert_eq!(*lefts, 0, "output after the call left the flow: {:?}", o);
                match o {
                    Output::Event(FlowEvent::Entered { flow, node, .. }) => {
                        steps += 1;
                        let n = entered.entry((flow, node)).or_insert(0);
                        *n += 1;
                        prop_assert!(*n <= MAX_VISITS, "a node entered {} times", n);
                    }
                    Output::Event(FlowEvent::Left {
                        outcome: Outcome::Queued,
                        ..
                    }) => {
                        queued += 1;
                        prop_assert_eq!(queued, 1, "queued twice");
                    }
                    Output::Event(FlowEvent::Left { outcome, .. }) => {
                        prop_assert_ne!(outcome, Outcome::InFlow);
                        *lefts += 1;
                    }
                    _ => {}
                }
            }
            prop_assert!(
                steps <= MAX_STEPS_PER_INPUT,
                "{} nodes for one input",
                steps
            );
            Ok(())
        };
        drain(&mut call, &mut lefts)?;
        let mut t = start;
        for &(kind, v) in inputs {
            t = t.plus(DurationMs::from_secs(7));
            call.handle_timeout(t).unwrap();
            drain(&mut call, &mut lefts)?;
            if call.is_done() {
                break;
            }
            if let Some(at) = call.poll_timeout() {
                prop_assert!(at > t, "a timer in the past");
            }
            let input = match kind {
                0 | 1 => Input::Key(
                    ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'][v as usize % 12],
                ),
                2 => Input::PromptFinished,
                3 => Input::QueueUpdate {
                    position: v as u32,
                    expected_wait: DurationMs::from_secs(v as i64),
                },
                4 => Input::AgentConnected,
                _ => Input::PromptFinished,
            };
            call.handle(t, input).unwrap();
            drain(&mut call, &mut lefts)?;
        }
        if !call.is_done() {
            prop_assert_eq!(lefts, 0);
            call.handle(t.plus(DurationMs::from_secs(1)), Input::HangUp)
                .unwrap();
            drain(&mut call, &mut lefts)?;
            prop_assert!(call.is_done(), "the caller hung up and the call goes on");
        }
        prop_assert_eq!(lefts, 1, "left the flow {} times", lefts);
        prop_assert_ne!(call.outcome(), Outcome::InFlow);
        // Nothing is taken once the call is over.
        prop_assert!(call
            .handle(t.plus(DurationMs::from_secs(2)), Input::Key('1'))
            .is_err());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Hostile text never panics the parser.
        #[test]
        fn the_parser_never_panics(s in ".{0,400}") {
            let _ = serde_json::from_str::<Flow>(&s);
        }

        /// The demo's main flow with one member replaced by any JSON (or
        /// removed): parsed and validated, it is refused with a reason that
        /// names where, or accepted — and then it survives a JSON round trip
        /// and its calls keep the interpreter's promises. Unlike random
        /// text, these get past the JSON parser to the validator.
        #[test]
        fn mutated_flows_are_refused_by_name_or_run_safely(
            pick in any::<prop::sample::Index>(),
            value in any_json(),
            remove in any::<bool>(),
            inputs in prop::collection::vec((0u8..6, 0u8..12), 0..40),
        ) {
            let Ok(f) = serde_json::from_value::<Flow>(mutate(pick, value, remove)) else {
                return Ok(()); // a type error, named by serde
            };
            match FlowBook::default().save(f.clone(), &catalog()) {
                Err(issues) => {
                    // Each issue names its flow, and the node when it is
                    // about one that exists.
                    prop_assert!(!issues.is_empty());
                    for i in &issues {
                        prop_assert!(!i.problem.trim().is_empty());
                        prop_assert_eq!(&i.flow, &f.id);
                        if let Some(n) = &i.node {
                            prop_assert!(f.nodes.contains_key(n) || n == &f.start, "{} names node {:?}", i, n);
                        }
                    }
                }
                Ok(book) => {
                    let again: Flow = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
                    prop_assert_eq!(serde_json::to_value(&again).unwrap(), serde_json::to_value(&f).unwrap());
                    run_checked(Arc::new(book), &f.id, &inputs)?;
                }
            }
        }

        /// Random flows (random edges, kinds) never panic or hang the
        /// validator; the ones it accepts keep the interpreter's promises
        /// under random input (see `run_checked`).
        #[test]
        fn random_flows_validate_and_run_safely(
            kinds in prop::collection::vec(0u8..8, 1..12),
            edges in prop::collection::vec(0usize..12, 24),
            inputs in prop::collection::vec((0u8..6, 0u8..12), 0..60),
        ) {
            let n = kinds.len();
            let name = |i: usize| format!("n{}", i % n);
            let mut nodes = serde_json::Map::new();
            for (i, k) in kinds.iter().enumerate() {
                let (a, b) = (name(edges[2 * i]), name(edges[2 * i + 1]));
                let node = match k {
                    0 => serde_json::json!({"type": "play", "prompt": "p", "text": "t", "next": a}),
                    1 => serde_json::json!({"type": "menu", "prompt": "p", "text": "t", "options": {"1": a, "2": b}, "failure": b}),
                    2 => serde_json::json!({"type": "collect", "prompt": "p", "text": "t", "attribute": "x", "validate": {"kind": "digits", "min": 1, "max": 4}, "next": a, "failure": b}),
                    3 => serde_json::json!({"type": "branch", "attribute": "x", "then": a, "else": b}),
                    4 => serde_json::json!({"type": "queue", "queue": "Wheelchairs", "announce_every_ms": 30000, "callback_key": "9"}),
                    5 => serde_json::json!({"type": "set", "attributes": {"x": "1"}, "next": a}),
                    6 => serde_json::json!({"type": "offer_callback", "queue": "Wheelchairs", "prompt": "p", "text": "t", "declined": a}),
                    _ => serde_json::json!({"type": "hang_up"}),
                };
                nodes.insert(name(i), node);
            }
            let f: Flow = serde_json::from_value(serde_json::json!({"id": "f", "name": "f", "start": "n0", "nodes": nodes})).unwrap();
            if let Ok(book) = FlowBook::default().save(f, &catalog()) {
                run_checked(Arc::new(book), "f", &inputs)?;
            }
        }
    }
}
