//! The demo pathway set validates, every journey ends in the disposition
//! its answers lead to, journeys replay exactly, and broken sets are
//! refused naming each problem.

use pathway::{replay, CareSetting, Checked, JourneyError, Now, PathwaySet};
use std::collections::BTreeMap;

fn demo() -> Checked {
    let text = include_str!("../../../pathways/demo.json");
    let set: PathwaySet = serde_json::from_str(text).expect("the demo set parses");
    set.check().unwrap_or_else(|e| panic!("{e:?}"))
}

fn state(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Answers by their text; returns the disposition code, SG and SDs.
fn walk(c: &Checked, st: &[(&str, &str)], answers: &[&str]) -> (String, u32, Vec<u32>) {
    let mut j = c.start(state(st));
    for a in answers {
        let Now::Question {
            answers: options,
            text,
            ..
        } = j.now()
        else {
            panic!("ended before {a}")
        };
        let k = options
            .iter()
            .position(|o| o == a)
            .unwrap_or_else(|| panic!("{text}: no answer {a} in {options:?}"));
        j.answer(k).unwrap();
    }
    match j.now() {
        Now::Ended {
            disposition,
            symptom_group,
            discriminators,
        } => (disposition.code.clone(), symptom_group, discriminators),
        Now::Question { text, .. } => panic!("still asking: {text}"),
    }
}

#[test]
fn journeys_end_where_their_answers_lead() {
    let c = demo();
    assert!(c.set.demo, "the demo set is marked as demo content");
    let fine = ["Yes", "Yes", "No"];
    // (state, answers, disposition, SG, SDs)
    type Case<'a> = (
        &'a [(&'a str, &'a str)],
        Vec<&'a str>,
        &'a str,
        u32,
        Vec<u32>,
    );
    let cases: Vec<Case> = vec![
        (
            &[],
            vec!["No, or struggling to breathe"],
            "Dx011",
            1000,
            vec![4001],
        ),
        (
            &[],
            [&fine[..], &["An injury", "No", "No", "No"]].concat(),
            "Dx39",
            1001,
            vec![],
        ),
        (
            &[],
            [&fine[..], &["An injury", "Yes"]].concat(),
            "Dx89",
            1001,
            vec![4102],
        ),
        // A child under one: the age branch asks first.
        (
            &[("age_group", "child")],
            [&fine[..], &["An injury", "Yes"]].concat(),
            "Dx02",
            1001,
            vec![4101],
        ),
        (
            &[("age_group", "child")],
            [&fine[..], &["An injury", "No", "No", "No", "Yes"]].concat(),
            "Dx06",
            1001,
            vec![4104],
        ),
        (
            &[],
            [&fine[..], &["Toothache or mouth pain", "No", "Yes"]].concat(),
            "Dx17",
            1002,
            vec![4202],
        ),
        (
            &[],
            [
                &fine[..],
                &["Toothache or mouth pain", "No", "No", "No", "Yes"],
            ]
            .concat(),
            "Dx120",
            1002,
            vec![4204],
        ),
        (
            &[],
            [&fine[..], &["A repeat prescription", "Yes", "Yes"]].concat(),
            "Dx05",
            1003,
            vec![4302],
        ),
        (
            &[],
            [&fine[..], &["A repeat prescription", "No"]].concat(),
            "Dx08",
            1003,
            vec![4301],
        ),
        (
            &[],
            [
                &fine[..],
                &["In crisis, or thoughts of self-harm", "No", "No"],
            ]
            .concat(),
            "Dx121",
            1004,
            vec![4403],
        ),
    ];
    for (st, answers, code, sg, sds) in cases {
        let got = walk(&c, st, &answers);
        assert_eq!(got, (code.to_string(), sg, sds), "{answers:?}");
    }
    let d = c.disposition("Dx121").unwrap();
    assert!(d.clinician_required && d.care_setting == CareSetting::ClinicianCallback);
    // Every disposition of the set is used by some pathway.
    assert_eq!(
        pathway::used_dispositions(&c).len(),
        c.set.dispositions.len()
    );
}

#[test]
fn a_journey_replays_exactly_and_only_on_the_same_content() {
    let c = demo();
    let mut j = c.start(state(&[("sex", "female")]));
    for k in [1, 1, 1, 3, 1, 0] {
        j.answer(k).unwrap();
    }
    assert!(j.ended());
    assert_eq!(j.state.get("supported").map(String::as_str), Some("yes"));
    let answers: Vec<usize> = j.steps.iter().map(|s| s.answer).collect();
    let again = replay(
        &c,
        &c.hash,
        &c.set.entry,
        state(&[("sex", "female")]),
        &answers,
    )
    .unwrap();
    assert_eq!(again.steps, j.steps);
    assert_eq!(again.state, j.state);
    assert_eq!(again.now(), j.now());
    // Answering past the end, or out of range, is refused.
    assert_eq!(j.clone().answer(0).unwrap_err(), JourneyError::Ended);
    let mut k = c.start(BTreeMap::new());
    assert_eq!(k.answer(7).unwrap_err(), JourneyError::NoSuchAnswer(7));
    // Another version of the content: refused.
    assert!(matches!(
        replay(&c, "0000", &c.set.entry, BTreeMap::new(), &answers),
        Err(JourneyError::Version { .. })
    ));
    // The hash follows the content, not the file's layout.
    let reparsed: PathwaySet =
        serde_json::from_str(&serde_json::to_string(&c.set).unwrap()).unwrap();
    assert_eq!(reparsed.check().unwrap().hash, c.hash);
    let mut changed = c.set.clone();
    changed.dispositions[0].wording.push('!');
    assert_ne!(changed.check().unwrap().hash, c.hash);
}

#[test]
fn broken_sets_are_refused_naming_each_problem() {
    let base = r#"{"name":"t","version":"1","entry":"p","dispositions":[
        {"code":"Dx39","wording":"Self care","care_setting":"self_care"}],
        "pathways":[{"id":"p","title":"P","symptom_group":1,"start":"a","nodes":[NODES]}]}"#;
    let cases = [
        (
            r#"{"id":"a","question":{"text":"Q","answers":[{"text":"x","next":{"node":"zz"}}]}}"#,
            "pathway p node a: goes to node zz, which pathway p does not have",
        ),
        (
            r#"{"id":"a","question":{"text":"Q","answers":[{"text":"x","next":{"disposition":"Dx99"}}]}}"#,
            "pathway p node a: ends in disposition Dx99, which is not defined",
        ),
        (
            r#"{"id":"a","question":{"text":"Q","answers":[{"text":"x","next":{"node":"b"}}]}},
               {"id":"b","question":{"text":"R","answers":[{"text":"y","next":{"node":"a"}}]}}"#,
            "a journey could go round for ever",
        ),
        (
            r#"{"id":"a","question":{"text":"Q","answers":[{"text":"x","next":{"pathway":"p"}}]}}"#,
            "loops back to pathway p node a",
        ),
        (
            r#"{"id":"a","question":{"text":"Q","answers":[]}}"#,
            "pathway p node a: answers: 1 to 20",
        ),
        (
            r#"{"id":"a","question":{"text":"Q","answers":[{"text":"x","next":{"disposition":"Dx39"}}]}},
               {"id":"a","question":{"text":"Q","answers":[{"text":"x","next":{"disposition":"Dx39"}}]}}"#,
            "pathway p node a: defined twice",
        ),
        (
            r#"{"id":"a","branch":{"on":"","cases":[],"otherwise":{"disposition":"Dx39"}}}"#,
            "a branch needs a state name",
        ),
    ];
    for (nodes, expect) in cases {
        let set: PathwaySet = serde_json::from_str(&base.replace("NODES", nodes)).unwrap();
        let issues = set.check().expect_err(expect);
        let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
        assert!(
            text.iter().any(|t| t.contains(expect)),
            "{expect:?} not in {text:?}"
        );
    }
    // A wrong entry and start are named too.
    let set: PathwaySet = serde_json::from_str(
        &base
            .replace(r#""entry":"p""#, r#""entry":"nope""#)
            .replace(r#""start":"a""#, r#""start":"b""#)
            .replace("NODES", r#"{"id":"a","question":{"text":"Q","answers":[{"text":"x","next":{"disposition":"Dx39"}}]}}"#),
    )
    .unwrap();
    let text: Vec<String> = set
        .check()
        .unwrap_err()
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert!(
        text.contains(&"set: entry: no pathway nope".to_string()),
        "{text:?}"
    );
    assert!(
        text.contains(&"pathway p: start: no node b".to_string()),
        "{text:?}"
    );
}
