//! The command-line contracts, run on the real binary.

use std::process::Command;

fn switchboard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn staff_finds_the_worked_example_in_json() {
    let (code, out, err) = switchboard(&[
        "staff",
        "--calls",
        "100",
        "--interval",
        "30m",
        "--aht",
        "180s",
        "--target",
        "80/20",
        "--shrinkage",
        "0.30",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["model"], "erlang_c");
    assert_eq!(v["agents"], 14);
    assert_eq!(v["scheduled_staff"], 20);
    assert_eq!(v["offered_load_erlangs"], 10.0);
    assert!((v["service_level"].as_f64().unwrap() - 0.8884).abs() < 5e-5);
    assert!((v["probability_wait"].as_f64().unwrap() - 0.1741).abs() < 5e-5);
    assert!((v["asa_seconds"].as_f64().unwrap() - 7.84).abs() < 5e-3);
    assert!((v["occupancy"].as_f64().unwrap() - 0.7143).abs() < 5e-4);
    assert!(v["abandon_probability"].is_null());
    assert_eq!(v["sl_definition"], "all");
}

#[test]
fn staff_with_patience_uses_erlang_a_and_evaluates_given_agents() {
    let (code, out, err) = switchboard(&[
        "staff",
        "--calls",
        "100",
        "--interval",
        "30m",
        "--aht",
        "180s",
        "--target",
        "80/20",
        "--patience",
        "300s",
        "--agents",
        "12",
        "--sl-definition",
        "answered",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["model"], "erlang_a");
    assert_eq!(v["agents"], 12);
    assert_eq!(v["sl_definition"], "answered");
    let pab = v["abandon_probability"].as_f64().unwrap();
    assert!(pab > 0.0 && pab < 0.2, "{pab}");
}

#[test]
fn staff_is_quick_for_a_thousand_agents() {
    // 1,000-agent scale: the answer must come (its speed is in BENCHMARKS.md).
    let (code, out, err) = switchboard(&[
        "staff",
        "--calls",
        "20000",
        "--interval",
        "1h",
        "--aht",
        "180s",
        "--target",
        "90/20",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let n = v["agents"].as_u64().unwrap();
    assert!((1000..1100).contains(&n), "{n}");
}

#[test]
fn staff_per_interval_from_a_csv() {
    let dir = std::env::temp_dir().join(format!("sb-staff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("calls.csv");
    std::fs::write(&f, "date,interval_start,calls\n2026-11-23,08:00,100\n2026-11-23,08:30,0\n2026-11-23,09:00,250\n").unwrap();
    let (code, out, err) = switchboard(&[
        "staff",
        "--calls-csv",
        f.to_str().unwrap(),
        "--interval",
        "30m",
        "--aht",
        "180s",
        "--target",
        "80/20",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "date,interval_start,calls,agents,scheduled_staff,service_level,asa_seconds,occupancy,abandon_probability");
    assert!(
        lines[1].starts_with("2026-11-23,08:00,100,14,14,"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "2026-11-23,08:30,0,0,0,,,,");
    assert_eq!(lines.len(), 4);
    std::fs::write(&f, "date,interval_start,calls\n2026-11-23,08:00,-3\n").unwrap();
    let (code, _, err) = switchboard(&[
        "staff",
        "--calls-csv",
        f.to_str().unwrap(),
        "--interval",
        "30m",
        "--aht",
        "180s",
        "--target",
        "80/20",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("line 2: calls must be zero or more, got -3"),
        "{err}"
    );
}

#[test]
fn staff_bad_input_names_the_problem() {
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--calls",
                "100",
                "--interval",
                "30m",
                "--aht",
                "0s",
                "--target",
                "80/20",
            ],
            "--aht: must be above zero",
        ),
        (
            &[
                "--calls",
                "100",
                "--interval",
                "30m",
                "--aht",
                "180s",
                "--target",
                "101/20",
            ],
            "--target: the percentage must be above 0 and at most 100",
        ),
        (
            &[
                "--calls",
                "100",
                "--interval",
                "30m",
                "--aht",
                "180s",
                "--target",
                "80/20",
                "--agents",
                "10",
            ],
            "10 agents can never serve 10.000 Erlangs",
        ),
        (
            &[
                "--calls",
                "-1",
                "--interval",
                "30m",
                "--aht",
                "180s",
                "--target",
                "80/20",
            ],
            "--calls: must be above zero",
        ),
        (
            &[
                "--calls",
                "100",
                "--interval",
                "30m",
                "--aht",
                "180s",
                "--target",
                "80/20",
                "--agents",
                "0",
            ],
            "--agents: must be at least 1",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["staff"];
        all.extend_from_slice(args);
        let (code, out, err) = switchboard(&all);
        assert_ne!(code, 0, "{args:?}");
        assert!(out.is_empty(), "no output on error: {out}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

/// The quick M/M/n+M mode, 200 hours, seeded.
const QUICK_SIM: [&str; 16] = [
    "simulate",
    "--arrival-rate",
    "4.2/min",
    "--aht",
    "120s",
    "--agents",
    "12",
    "--patience",
    "60s",
    "--target",
    "80/20",
    "--hours",
    "200",
    "--seed",
    "7",
    "--json",
];

#[test]
fn simulate_quick_mode_keeps_the_json_contract() {
    let (code, out, err) = switchboard(&QUICK_SIM);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in [
        "offered",
        "answered",
        "abandoned",
        "answered_within_target",
        "asa_seconds",
        "occupancy",
        "p95_answer_seconds",
        "events_processed",
        "wall_seconds",
    ] {
        assert!(!v[key].is_null(), "{key} missing in {out}");
    }
    let offered = v["offered"].as_u64().unwrap();
    assert!((48_000..52_000).contains(&offered), "{offered}");
    assert_eq!(
        offered,
        v["answered"].as_u64().unwrap() + v["abandoned"].as_u64().unwrap()
    );
    // Same seed, same numbers.
    let (_, again, _) = switchboard(&QUICK_SIM);
    let w: serde_json::Value = serde_json::from_str(&again).unwrap();
    for key in [
        "offered",
        "answered",
        "abandoned",
        "asa_seconds",
        "p95_answer_seconds",
        "events_processed",
    ] {
        assert_eq!(v[key], w[key], "{key}");
    }
}

#[test]
fn simulate_bad_input_names_the_field_and_writes_no_file() {
    let dir = std::env::temp_dir().join(format!("sb-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("out.csv");
    let csv_arg = csv.to_str().unwrap().to_string();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--arrival-rate",
                "-4/min",
                "--aht",
                "120s",
                "--agents",
                "12",
                "--hours",
                "10",
            ],
            "--arrival-rate: must be above zero",
        ),
        (
            &[
                "--arrival-rate",
                "4/min",
                "--aht",
                "0s",
                "--agents",
                "12",
                "--hours",
                "10",
            ],
            "--aht: must be above zero",
        ),
        (
            &[
                "--arrival-rate",
                "4/min",
                "--aht",
                "120s",
                "--agents",
                "0",
                "--hours",
                "10",
            ],
            "--agents: must be from 1 to 100000",
        ),
        (
            &[
                "--arrival-rate",
                "4/min",
                "--aht",
                "120s",
                "--agents",
                "12",
                "--hours",
                "0",
            ],
            "--hours: must be above 0",
        ),
        (
            &[
                "--arrival-rate",
                "4/min",
                "--aht",
                "120s",
                "--agents",
                "12",
                "--hours",
                "10",
                "--target",
                "80/20",
                "--replications",
                "0",
            ],
            "--replications: must be from 1 to 1000",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["simulate", "--csv", csv_arg.as_str()];
        all.extend_from_slice(args);
        let (code, out, err) = switchboard(&all);
        assert_ne!(code, 0, "{args:?}");
        assert!(out.is_empty());
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!csv.exists(), "no output file after an error");
    }
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nduration = \"1d\"\nqueues = []\nagents = []\ndemand = []\nunknown_key = 3\n",
    )
    .unwrap();
    let (code, _, err) = switchboard(&["simulate", "--scenario", bad.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("is not a valid scenario") && err.contains("unknown_key"),
        "{err}"
    );
}

#[test]
fn simulate_runs_the_example_scenarios_and_writes_csv() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
    let dir = std::env::temp_dir().join(format!("sb-sim-ex-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("kent.csv");
    let (code, out, err) = switchboard(&[
        "simulate",
        "--scenario",
        &format!("{root}examples/kent-week.toml"),
        "--json",
        "--intervals",
        "--csv",
        csv.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["offered"].as_u64().unwrap() > 3_000, "{out}");
    assert!(v["breakdown"].as_array().unwrap().len() >= 6, "{out}");
    assert!(v["intervals"].as_array().unwrap().len() > 100);
    // Only intervals with activity are listed: the first email comes after 01:00.
    assert_eq!(v["intervals"][0]["start"], "day 1 01:00");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("dimension,interval_start_ms,offered,"));
    assert!(text.lines().count() > 100);
    // The year benchmark's scenario parses and runs (for one day here),
    // with replications.
    let (code, out, err) = switchboard(&[
        "simulate",
        "--scenario",
        &format!("{root}bench/nhs111-year.toml"),
        "--hours",
        "24",
        "--replications",
        "2",
        "--quiet",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let sl = &v["service_level"];
    assert!(
        sl["ci95_low"].as_f64().unwrap() <= sl["mean"].as_f64().unwrap()
            && sl["mean"].as_f64().unwrap() <= sl["ci95_high"].as_f64().unwrap(),
        "{out}"
    );
}

#[test]
fn simulate_refuses_a_load_that_never_drains_and_lays_the_rota_for_hours() {
    let (code, out, err) = switchboard(&[
        "simulate",
        "--arrival-rate",
        "4.2/min",
        "--aht",
        "120s",
        "--agents",
        "8",
        "--hours",
        "10",
    ]);
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert!(
        err.contains("--agents: 8 agents can never serve 8.40 Erlangs"),
        "{err}"
    );
    // A week's scenario run for 14 days: the second week is staffed too.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
    let (code, out, err) = switchboard(&[
        "simulate",
        "--scenario",
        &format!("{root}examples/kent-week.toml"),
        "--hours",
        "336",
        "--json",
        "--intervals",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let late = v["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["start"].as_str().unwrap().starts_with("day 13 1"))
        .map(|i| i["answered"].as_u64().unwrap())
        .sum::<u64>();
    assert!(late > 50, "day 13 is staffed: {late} answered");
}

#[test]
fn flow_check_validates_files_and_names_the_node() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/flows/");
    // Given in an order where a sub-flow comes after its caller.
    let files: Vec<String> = ["kent-main", "wheelchairs", "paramedic"]
        .iter()
        .map(|f| format!("{root}{f}.json"))
        .collect();
    let mut args = vec!["flow", "check"];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err) = switchboard(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ok      kent-main (version 1, 8 nodes)"),
        "{out}"
    );
    let dir = std::env::temp_dir().join(format!("sb-flow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"id":"x","name":"x","start":"a","nodes":{"a":{"type":"play","prompt":"p","text":"t","next":"b"}}}"#).unwrap();
    let (code, _, err) = switchboard(&["flow", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("flow 'x', node 'a': next 'b' does not exist"),
        "{err}"
    );
    std::fs::write(&bad, "{\"id\": 3}").unwrap();
    let (code, _, err) = switchboard(&["flow", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a valid flow"), "{err}");
}

#[test]
fn simulate_runs_callers_through_the_call_flows() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
    let (code, out, err) = switchboard(&[
        "simulate",
        "--scenario",
        &format!("{root}examples/kent-ivr-day.toml"),
        "--json",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ivr = &v["ivr"];
    let started = ivr["started"].as_u64().unwrap();
    let outcomes = ivr["outcomes"].as_object().unwrap();
    let queued = outcomes["Queued"].as_u64().unwrap();
    assert!(started > 300, "{out}");
    // Every caller left the flow one way or another; those queued are the
    // contacts the routing engine was offered.
    assert_eq!(
        outcomes.values().map(|x| x.as_u64().unwrap()).sum::<u64>(),
        started
    );
    assert_eq!(queued, v["offered"].as_u64().unwrap());
    assert!(
        ivr["self_service_completed"].as_u64().unwrap() > 10,
        "{out}"
    );
    assert!(
        outcomes["Completed"].as_u64().unwrap() > 0,
        "out-of-hours callers hear the closed message"
    );
    assert!(ivr["path"]["wheelchairs/nhs-number"].as_u64().unwrap() > 0);
}

#[test]
fn forecast_the_shared_bank_data_by_the_contract() {
    // The shared data sits beside the repository (../shared/data); the test
    // fails loudly if it is missing.
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/bank-callcentre-1999-jan-sep-6min.csv"
    );
    assert!(
        std::path::Path::new(data).exists(),
        "missing shared data: {data}"
    );
    let (code, out, err) = switchboard(&[
        "forecast",
        "--history",
        data,
        "--interval",
        "30m",
        "--horizon",
        "14d",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "date,interval_start,calls,lo80,hi80,lo95,hi95");
    assert_eq!(lines.len(), 1 + 14 * 48);
    assert!(lines[1].starts_with("1999-10-01,00:00,"), "{}", lines[1]);
    // Each row's bands are in order around the forecast.
    for l in &lines[1..] {
        let v: Vec<f64> = l.split(',').skip(2).map(|x| x.parse().unwrap()).collect();
        assert!(
            v[3] <= v[1] && v[1] <= v[0] && v[0] <= v[2] && v[2] <= v[4],
            "{l}"
        );
    }
    assert!(
        err.contains("back-test combination")
            && err.contains("back-test weekday-mean")
            && err.contains("back-test: 8 origins"),
        "{err}"
    );
    assert!(err.contains("the 80% band held"), "{err}");
    // The back-test alone, with every origin's forecast beside what happened.
    let (code, out, err) = switchboard(&[
        "forecast",
        "--history",
        data,
        "--interval",
        "30m",
        "--horizon",
        "14d",
        "--calendar",
        "none",
        "--backtest",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 8);
    assert_eq!(v["runs"][7]["forecast"].as_array().unwrap().len(), 14 * 48);
    assert_eq!(v["runs"][7]["actual"].as_array().unwrap().len(), 14 * 48);
    assert!(v["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["date"] == "1999-09-20"));
    // The forecast's bands staffed beside it.
    let dir = std::env::temp_dir().join(format!("sb-fc-staff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fc = dir.join("fc.csv");
    std::fs::write(&fc, lines.join("\n")).unwrap();
    let (code, out, err) = switchboard(&[
        "staff",
        "--calls-csv",
        fc.to_str().unwrap(),
        "--interval",
        "30m",
        "--aht",
        "200s",
        "--target",
        "80/20",
        "--patience",
        "180s",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out
        .lines()
        .next()
        .unwrap()
        .ends_with(",calls_hi80,agents_hi80,scheduled_staff_hi80"));
    let busy: Vec<&str> = out
        .lines()
        .find(|l| l.contains(",10:00,"))
        .unwrap()
        .split(',')
        .collect();
    assert!(
        busy[11].parse::<u32>().unwrap() > busy[4].parse::<u32>().unwrap(),
        "{busy:?}"
    );
    for (flag, value, problem) in [
        (
            "--method",
            "prophet",
            "--method: 'prophet' is not auto or one of",
        ),
        (
            "--calendar",
            "scotland",
            "--calendar: 'scotland' is not england-and-wales or none",
        ),
        (
            "--holidays",
            "1999-13-01",
            "--holidays: '1999-13-01' is not a date",
        ),
        ("--origins", "0", "--origins: must be 1 to 52"),
    ] {
        let (code, _, err) = switchboard(&[
            "forecast",
            "--history",
            data,
            "--interval",
            "30m",
            "--horizon",
            "7d",
            flag,
            value,
        ]);
        assert_ne!(code, 0);
        assert!(err.contains(problem), "{flag}: {err}");
    }
    let (code, out, err) = switchboard(&[
        "forecast",
        "--history",
        data,
        "--interval",
        "1h",
        "--horizon",
        "7d",
        "--method",
        "holt-winters",
        "--json",
        "--exclude",
        "1999-09-20",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["method"], "holt-winters");
    assert_eq!(v["forecast"].as_array().unwrap().len(), 7 * 24);
    assert!(v["backtest"][0]["wape_day"].as_f64().unwrap() < 1.0);
    // Bad input names the problem.
    let (code, _, err) = switchboard(&[
        "forecast",
        "--history",
        data,
        "--interval",
        "7m",
        "--horizon",
        "14d",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("does not divide a day") || err.contains("not a whole number"),
        "{err}"
    );
    let dir = std::env::temp_dir().join(format!("sb-fc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("h.csv");
    std::fs::write(
        &bad,
        "date,interval_start,calls\n2026-01-05,00:00,3\n2026-01-05,01:00,4\n2026-01-05,00:30,1\n",
    )
    .unwrap();
    let (code, _, err) = switchboard(&[
        "forecast",
        "--history",
        bad.to_str().unwrap(),
        "--interval",
        "1h",
        "--horizon",
        "1d",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("row 4: is out of order or a duplicate"),
        "{err}"
    );
}

#[test]
fn rota_coverage_and_suggestions_from_a_requirement() {
    let dir = std::env::temp_dir().join(format!("sb-rota-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let req = dir.join("req.csv");
    // 8 half-hours from 08:00: need 2, then 3 over lunch.
    let mut text = String::from("date,interval_start,required\n");
    for (i, n) in [2, 2, 2, 3, 3, 2, 2, 2].iter().enumerate() {
        text.push_str(&format!(
            "2026-11-23,{:02}:{:02},{n}\n",
            8 + i / 2,
            i % 2 * 30
        ));
    }
    std::fs::write(&req, text).unwrap();
    let shifts = dir.join("shifts.csv");
    std::fs::write(&shifts, "who,date,start,end,break_start,break_end\nAnn,2026-11-23,08:00,12:00,10:00,10:30\nBen,2026-11-23,08:00,12:00\n").unwrap();
    let (code, out, err) = switchboard(&[
        "rota",
        "--requirement",
        req.to_str().unwrap(),
        "--shifts",
        shifts.to_str().unwrap(),
        "--suggest",
        "--shift-length",
        "2h",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // Ann is on a break 10:00-10:30: that interval has one person for three needed.
    assert_eq!(v["intervals"][4]["on_duty"], 1);
    assert_eq!(v["coverage"]["short"], 3);
    assert_eq!(v["coverage_with_suggested"]["short"], 0);
    assert!(
        v["suggested_shifts"].as_array().unwrap().len() <= 2,
        "{out}"
    );
    // A gap in the requirement is refused.
    std::fs::write(&req, "date,interval_start,required\n2026-11-23,08:00,1\n2026-11-23,08:30,1\n2026-11-23,09:30,1\n").unwrap();
    let (code, _, err) = switchboard(&["rota", "--requirement", req.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("line 4: intervals must follow one another with no gaps"),
        "{err}"
    );
}

#[test]
fn whatif_runs_the_simulator_on_a_forecast_and_a_rota() {
    let dir = std::env::temp_dir().join(format!("sb-whatif-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fc = dir.join("f.csv");
    let mut text = String::from("date,interval_start,calls\n");
    for i in 0..48 {
        let calls = if (16..36).contains(&i) { 60 } else { 0 };
        text.push_str(&format!(
            "2026-11-23,{:02}:{:02},{calls}\n",
            i / 2,
            i % 2 * 30
        ));
    }
    std::fs::write(&fc, text).unwrap();
    let rota = dir.join("r.csv");
    let mut r = String::from("who,date,start,end,break_start,break_end,site\n");
    for k in 0..14 {
        r.push_str(&format!(
            "p{k},2026-11-23,08:00,18:00,12:00,12:30,{}\n",
            if k % 2 == 0 { "Leeds" } else { "York" }
        ));
    }
    std::fs::write(&rota, r).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "whatif",
            "--forecast",
            fc.to_str().unwrap(),
            "--rota",
            rota.to_str().unwrap(),
            "--aht",
            "180s",
            "--patience",
            "120s",
            "--json",
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = switchboard(&args);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let base = run(&[]);
    let surge = run(&["--demand", "+30%"]);
    let off = run(&["--site-off-air", "York"]);
    let sl = |v: &serde_json::Value| v["service_level"].as_f64().unwrap();
    assert!(surge["offered"].as_u64().unwrap() > base["offered"].as_u64().unwrap());
    assert!(sl(&surge) < sl(&base), "{} vs {}", sl(&surge), sl(&base));
    assert!(sl(&off) < sl(&base));
    assert_eq!(off["shifts_lost"], 7);
    assert!(base["intervals"].as_array().unwrap().len() >= 20);
}

#[test]
fn audit_verify_reports_an_intact_or_broken_chain() {
    use store::{AuditRecord, SqliteStore, Store};
    let dir = std::env::temp_dir().join(format!("sb-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let mut st = SqliteStore::open(&dir).unwrap();
        for i in 0..5 {
            st.append_audit(&AuditRecord {
                at: model::Timestamp(i),
                org: None,
                actor: "admin".into(),
                action: "update queue".into(),
                subject: "queue q2".into(),
                patient: None,
                purpose: None,
                origin: Some("127.0.0.1".into()),
                outcome: "ok".into(),
            })
            .unwrap();
        }
    }
    let (code, out, err) = switchboard(&["audit", "verify", "--data", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.trim()
            .starts_with("audit log intact: 5 records (no checkpoints in "),
        "{out}"
    );
    assert!(
        !dir.join("keys").exists(),
        "verify made a key: it must only read"
    );
    let raw = rusqlite::Connection::open(dir.join("switchboard.db")).unwrap();
    raw.execute(
        "UPDATE audit_log SET subject = 'queue q3' WHERE seq = 2",
        [],
    )
    .unwrap();
    let (code, _, err) = switchboard(&["audit", "verify", "--data", dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("audit log broken at record 2: was changed after it was written"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pathway_check_and_run_walk_the_demo_set() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../pathways/demo.json");
    let (code, out, err) = switchboard(&["pathway", "check", demo]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("DEMO CONTENT: not clinical advice"), "{out}");
    assert!(out.contains("every path ends in a disposition"), "{out}");
    let hash = out
        .lines()
        .last()
        .unwrap()
        .strip_prefix("content hash ")
        .unwrap()
        .to_string();
    assert_eq!(hash.len(), 64);
    // Breathing, awake, no bleeding; toothache; no swelling; severe pain.
    let (code, out, err) = switchboard(&["pathway", "run", demo, "--answers", "2,2,2,2,2,1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("disposition Dx17: Speak to a dental service within 1 hour"),
        "{out}"
    );
    assert!(out.contains("SG 1002, SD [4202]"), "{out}");
    assert!(out.ends_with(&format!("content hash {hash}\n")), "{out}");
    // Part-way: the next question and its answers.
    let (_, out, _) = switchboard(&["pathway", "run", demo, "--answers", "2,2,2"]);
    assert!(
        out.contains("next: What is the main problem today?\n  1. An injury"),
        "{out}"
    );
    // A child under one with an injury: the age branch.
    let (_, out, _) = switchboard(&[
        "pathway",
        "run",
        demo,
        "--state",
        "age_group=child",
        "--answers",
        "2,2,2,1,1",
    ]);
    assert!(out.contains("disposition Dx02"), "{out}");
    // Bad answers and broken files are refused, naming the problem.
    let (code, _, err) = switchboard(&["pathway", "run", demo, "--answers", "2,9"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "step 2: Are they awake and responding to you?: answer 9 is not one of its 2 answers"
        ),
        "{err}"
    );
    let dir = std::env::temp_dir().join(format!("sb-pathway-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"name":"t","version":"1","entry":"p","dispositions":[],"pathways":[{"id":"p","title":"P","symptom_group":1,"start":"a","nodes":[{"id":"a","question":{"text":"Q","answers":[{"text":"x","next":{"disposition":"Dx99"}}]}}]}]}"#,
    )
    .unwrap();
    let (code, _, err) = switchboard(&["pathway", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("pathway p node a: ends in disposition Dx99, which is not defined"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The NHS 111 year's weekly shape (bench/nhs111-year.toml) at a tenth of
/// its volume, one week of 30-minute intervals from a Monday.
fn nhs111_week_forecast() -> String {
    let toml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/nhs111-year.toml"
    ))
    .unwrap();
    let list = &toml[toml.find("per_hour = [").unwrap() + 12..];
    let list = &list[..list.find(']').unwrap()];
    let per_hour: Vec<f64> = list
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    assert_eq!(per_hour.len(), 168);
    let mut out = String::from("date,interval_start,calls\n");
    for d in 0..7 {
        for k in 0..48 {
            out += &format!(
                "2027-01-{:02},{:02}:{:02},{:.2}\n",
                4 + d,
                k / 2,
                k % 2 * 30,
                per_hour[d * 24 + k / 2] / 20.0
            );
        }
    }
    out
}

#[test]
fn a_weekly_rota_fixes_the_nhs_year_weekend_shortfall() {
    let dir = std::env::temp_dir().join(format!("sb-weekly-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    std::fs::write(p("fc.csv"), nhs111_week_forecast()).unwrap();
    let (code, req, err) = switchboard(&[
        "staff",
        "--calls-csv",
        &p("fc.csv"),
        "--interval",
        "30m",
        "--aht",
        "8m",
        "--patience",
        "5m",
        "--target",
        "95/60",
    ]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(p("req.csv"), req).unwrap();
    let (code, out, err) = switchboard(&[
        "rota",
        "--requirement",
        &p("req.csv"),
        "--weekly",
        "--shift-lengths",
        "8h,9h",
        "--rota-out",
        &p("weekly.csv"),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["coverage"]["short"], 0, "{}", v["coverage"]);
    let lines = v["lines"].as_array().unwrap();
    assert!(
        lines.iter().any(|l| l["night"] == true),
        "nights are covered by night lines"
    );
    assert!(lines
        .iter()
        .all(|l| l["days"].as_str().unwrap().split(' ').count() == 5));
    assert_eq!(v["people"].as_array().unwrap().len(), lines.len());
    // The rota written is the one suggested: read back, it covers the week.
    let (code, _, err) = switchboard(&[
        "rota",
        "--requirement",
        &p("req.csv"),
        "--shifts",
        &p("weekly.csv"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("rota covers 100.0% of the requirement"),
        "{err}"
    );
    // The scenario's own rota (the same four shifts every day), a tenth of it.
    let mut same = String::from("who,date,start,end,break_start,break_end\n");
    for d in 0..7 {
        for (name, n, s, e, b) in [
            ("night", 15, "22:00", "07:00", "02:00"),
            ("early", 30, "07:00", "15:00", "11:00"),
            ("day", 22, "09:00", "17:00", "13:00"),
            ("late", 42, "15:00", "23:00", "19:00"),
        ] {
            for i in 0..n {
                same += &format!(
                    "{name}{i},2027-01-{:02},{s},{e},{b},{}:30\n",
                    4 + d,
                    &b[..2]
                );
            }
        }
    }
    std::fs::write(p("same.csv"), same).unwrap();
    let weekend_sl = |rota: &str| {
        let (code, out, err) = switchboard(&[
            "whatif",
            "--forecast",
            &p("fc.csv"),
            "--rota",
            &p(rota),
            "--aht",
            "8m",
            "--patience",
            "5m",
            "--target",
            "95/60",
            "--json",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let (mut within, mut offered) = (0.0, 0.0);
        for i in v["intervals"].as_array().unwrap() {
            let day: u32 = i["date"].as_str().unwrap()[8..].parse().unwrap();
            if day >= 9 {
                // Saturday 9 and Sunday 10 January 2027
                let n = i["offered"].as_f64().unwrap();
                within += i["service_level"].as_f64().unwrap_or(0.0) * n;
                offered += n;
            }
        }
        (within / offered, v["service_level"].as_f64().unwrap())
    };
    let (same_weekend, _) = weekend_sl("same.csv");
    let (weekly_weekend, weekly_all) = weekend_sl("weekly.csv");
    assert!(same_weekend < 0.75, "the shortfall to fix: {same_weekend}");
    assert!(
        weekly_weekend > 0.93 && weekly_all > 0.93,
        "{weekly_weekend} {weekly_all}"
    );
    // Bad input names the problem.
    std::fs::write(
        p("short.csv"),
        "date,interval_start,required\n2027-01-04,00:00,1\n2027-01-04,01:00,1\n",
    )
    .unwrap();
    for (file, flag, value, problem) in [
        (
            "short.csv",
            "--days-on",
            "5",
            "needs at least 7 days of intervals",
        ),
        ("req.csv", "--days-on", "9", "--days-on: must be 1 to 7"),
        (
            "req.csv",
            "--shift-lengths",
            "20h",
            "--shift-lengths: '20h' must be a whole number of intervals, at most 14h",
        ),
        (
            "req.csv",
            "--cycle-weeks",
            "0",
            "--cycle-weeks: must be 1 to 12",
        ),
    ] {
        let (code, _, err) =
            switchboard(&["rota", "--requirement", &p(file), "--weekly", flag, value]);
        assert_ne!(code, 0);
        assert!(err.contains(problem), "{flag}: {err}");
    }
}

/// The key-encryption key sealing notes and call recordings, missing or
/// malformed at start: the server refuses to start, names the key, and
/// has written nothing (no recording can be made that cannot be opened).
#[test]
fn serve_refuses_to_start_without_its_key_encryption_key_and_writes_nothing() {
    let data = std::env::temp_dir().join(format!("sb-kek-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let serve = |kek: &std::path::Path| {
        switchboard(&[
            "serve",
            "--demo",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--sip",
            "off",
            "--kek-file",
            kek.to_str().unwrap(),
        ])
    };
    let missing = data.with_extension("no-such.kek");
    let (code, _, err) = serve(&missing);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("--kek-file"), "{err}");
    assert!(err.contains("no-such.kek"), "{err}");
    assert!(
        !data.join("switchboard.db").exists(),
        "nothing written: {err}"
    );
    let short = data.with_extension("short.kek");
    std::fs::write(&short, b"too short").unwrap();
    let (code, _, err) = serve(&short);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("--kek-file"), "{err}");
    let _ = std::fs::remove_file(&short);
    let _ = std::fs::remove_dir_all(&data);
}
