//! Planning runs off the request runtime, one at a time, with a bounded
//! queue: of many large planning requests sent at once, some are run (200)
//! and the rest are refused with 503, a message naming planning and a
//! Retry-After — none fails, and the server answers meanwhile.

mod common;

use common::*;
use serde_json::json;

/// 270 days of six-minute arrival counts, a daily shape.
fn history() -> String {
    let mut out = String::from("date,interval_start,calls\n");
    let start = jiff::civil::date(2026, 1, 5);
    for d in 0..270 {
        let day = start.checked_add(jiff::Span::new().days(d)).unwrap();
        for k in 0..240 {
            let hour = k as f64 / 10.0;
            let calls =
                (8.0 * (-(hour - 11.0).powi(2) / 12.0).exp()).round() as u32 + (d as u32 % 3);
            out += &format!("{day},{:02}:{:02},{calls}\n", k / 10, (k % 10) * 6);
        }
    }
    out
}

#[test]
fn concurrent_planning_runs_are_queued_then_refused_never_failed() {
    let (data, addr, server) = fresh("planning-gate");
    let body = json!({
        "history_csv": history(), "interval_minutes": 30, "horizon_days": 120,
        "service": {"aht_seconds": 240, "patience_seconds": 90, "target": 0.8,
                    "target_seconds": 20, "shrinkage": 0.3, "max_occupancy": 0.9},
        "suggest": true,
    })
    .to_string();
    let auth = auth_header(addr);
    let answers: Vec<(u16, String, String)> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..10)
            .map(|_| {
                s.spawn(|| {
                    let (st, headers, text) =
                        http_with(addr, "POST", "/api/v1/planning", Some(&body), &auth).unwrap();
                    (st, headers, text)
                })
            })
            .collect();
        // The server still answers while they run.
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert_eq!(http(addr, "GET", "/healthz", None).unwrap().0, 200);
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let ran = answers.iter().filter(|a| a.0 == 200).count();
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert_eq!(
        ran + refused.len(),
        10,
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert!(
        ran >= 1 && !refused.is_empty(),
        "ran {ran}, refused {}",
        refused.len()
    );
    for (_, headers, text) in &refused {
        assert!(
            text.contains("planning:") && text.contains("try again"),
            "{text}"
        );
        assert!(
            headers.to_ascii_lowercase().contains("retry-after: 10"),
            "{headers}"
        );
    }
    // Each run answered in full.
    for (_, _, text) in answers.iter().filter(|a| a.0 == 200) {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["intervals"].as_array().unwrap().len(), 120 * 48);
    }
    kill(server, &data);
}

#[test]
fn a_plan_has_eight_back_tests_bands_and_staff_for_the_band_top() {
    let (data, addr, server) = fresh("planning-bands");
    let auth = auth_header(addr);
    let body = |extra: serde_json::Value| {
        let mut b = json!({
            "history_csv": history(), "interval_minutes": 30, "horizon_days": 7,
            "service": {"aht_seconds": 240, "patience_seconds": 90, "target": 0.8,
                        "target_seconds": 20, "shrinkage": 0.3, "max_occupancy": 0.9},
        });
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b.to_string()
    };
    let (st, _, text) = http_with(
        addr,
        "POST",
        "/api/v1/planning",
        Some(&body(
            json!({"holidays": ["2026-09-30"], "suggest_weekly": true}),
        )),
        &auth,
    )
    .unwrap();
    assert_eq!(st, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["method"], "combination");
    assert_eq!(v["origins"].as_array().unwrap().len(), 8);
    let used = &v["backtest"][0];
    assert!(used["wape_interval_min"].as_f64().unwrap() <= used["wape_interval"].as_f64().unwrap());
    assert!(used["wape_interval"].as_f64().unwrap() <= used["wape_interval_max"].as_f64().unwrap());
    assert!(
        v["coverage80"].as_f64().unwrap() > 0.5,
        "{}",
        v["coverage80"]
    );
    // England and Wales bank holidays in the history (2026's are there).
    let hol: Vec<&str> = v["holidays_in_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(
        hol.contains(&"2026-08-31") && hol.contains(&"2026-09-30"),
        "{hol:?}"
    );
    let mut above = 0;
    for i in v["intervals"].as_array().unwrap() {
        let (lo, f, hi) = (
            i["lo80"].as_f64().unwrap(),
            i["forecast"].as_f64().unwrap(),
            i["hi80"].as_f64().unwrap(),
        );
        assert!(lo <= f && f <= hi, "{i}");
        assert!(i["required_hi80"].as_u64().unwrap() >= i["required"].as_u64().unwrap());
        above += (i["required_hi80"].as_u64() > i["required"].as_u64()) as usize;
    }
    assert!(above > 0, "the band's top never needed more staff");
    // A weekly rota: 8-hour lines, 5 days on, covering the week.
    let w = &v["weekly_rota"];
    assert!(!w["lines"].as_array().unwrap().is_empty(), "{w}");
    assert_eq!(w["coverage"]["short"], 0, "{w}");
    assert!(w["lines"].as_array().unwrap().iter().all(|l| l["days"]
        .as_str()
        .unwrap()
        .split(' ')
        .count()
        == 5));
    // Bad input names the field, and nothing is planned.
    for (extra, problem) in [
        (
            json!({"calendar": "scotland"}),
            "calendar: 'scotland' is not england-and-wales or none",
        ),
        (
            json!({"holidays": ["30/09/2026"]}),
            "holidays: '30/09/2026' is not a date",
        ),
        (
            json!({"ordinary": ["yesterday"]}),
            "ordinary: 'yesterday' is not a date",
        ),
        (json!({"origins": 0}), "origins: must be 1 to 52"),
        (
            json!({"method": "prophet"}),
            "method: 'prophet' is not auto or one of",
        ),
    ] {
        let (st, _, text) =
            http_with(addr, "POST", "/api/v1/planning", Some(&body(extra)), &auth).unwrap();
        assert_eq!(st, 422, "{text}");
        assert!(text.contains(problem), "{text}");
    }
    kill(server, &data);
}

/// The server's own arrivals as the history: 28 days of 15-minute counts
/// kept in the store (written as the server writes them when it retires
/// intervals), a daily shape peaking at 11:00 UTC, then the planner
/// forecasts from them, publishes the forecast, and the wallboard's surge
/// check reads against it. Before publishing there is nothing to read
/// against; an uploaded history is never published.
#[test]
fn own_arrivals_are_forecast_published_and_read_by_the_surge_check() {
    const Q: i64 = 15 * 60 * 1000;
    const DAY: i64 = 86_400_000;
    let (data, _, first) = fresh("planning-own");
    stop(first);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let today = now - now.rem_euclid(DAY);
    let calls = |k: i64| {
        let hour = k as f64 / 4.0;
        (20.0 * (-(hour - 11.0).powi(2) / 8.0).exp()).round() as u64
    };
    {
        let db = rusqlite::Connection::open(data.join("switchboard.db")).unwrap();
        let overall = serde_json::to_string(&kpi::Dimension::Overall).unwrap();
        let mut st = db
            .prepare(
                "INSERT INTO kpi_history (org, dimension, interval_ms, counts, waits) VALUES (1, ?1, ?2, ?3, x'')",
            )
            .unwrap();
        for d in 1..=28 {
            for k in 0..96 {
                let c = kpi::Counts {
                    offered: calls(k),
                    ..kpi::Counts::default()
                };
                st.execute(rusqlite::params![
                    overall,
                    today - d * DAY + k * Q,
                    serde_json::to_string(&c).unwrap()
                ])
                .unwrap();
            }
        }
        db.execute(
            "INSERT INTO kpi_retired (org, before_ms) VALUES (1, ?1)
             ON CONFLICT (org) DO UPDATE SET before_ms = MAX(before_ms, excluded.before_ms)",
            [today],
        )
        .unwrap();
    }
    let (server, addr) = start_any(&data, &[]);
    let surge = || {
        let (st, body) = http(addr, "GET", "/api/v1/planning/surge", None).unwrap();
        assert_eq!(st, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    assert_eq!(surge()["forecast"], false, "nothing published yet");
    let service = json!({"aht_seconds": 240, "patience_seconds": 90, "target": 0.8,
                         "target_seconds": 20, "shrinkage": 0.3, "max_occupancy": 0.9});
    // An uploaded history, even with publish, is not the server's own.
    let (st, text) = http(
        addr,
        "POST",
        "/api/v1/planning",
        Some(&json!({"history_csv": history(), "interval_minutes": 30, "horizon_days": 1, "publish": true, "service": service}).to_string()),
    )
    .unwrap();
    assert_eq!(st, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["published"], false, "{}", v["source"]);
    assert_eq!(surge()["forecast"], false);
    // Own arrivals: the forecast follows their shape.
    let (st, text) = http(
        addr,
        "POST",
        "/api/v1/planning",
        Some(&json!({"interval_minutes": 15, "horizon_days": 2, "publish": true, "origins": 2, "service": service}).to_string()),
    )
    .unwrap();
    assert_eq!(st, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        v["source"].as_str().unwrap().contains("own arrivals"),
        "{}",
        v["source"]
    );
    assert_eq!(v["published"], true);
    let intervals = v["intervals"].as_array().unwrap();
    let at = |hhmm: &str| {
        intervals
            .iter()
            .find(|i| i["interval_start"] == hhmm)
            .unwrap_or_else(|| panic!("no {hhmm}"))["forecast"]
            .as_f64()
            .unwrap()
    };
    // Every day the same: 20 calls at 11:00, none at 03:00.
    assert!(
        (at("11:00") - calls(44) as f64).abs() <= 1.0,
        "{}",
        at("11:00")
    );
    assert!(at("03:00") <= 0.5, "{}", at("03:00"));
    // The surge check now reads against the published forecast.
    let s = surge();
    assert_eq!(s["forecast"], true, "{s}");
    assert_eq!(s["margin"], 0.2);
    assert_eq!(s["window_minutes"], 60);
    assert_eq!(
        s["warning"],
        serde_json::Value::Null,
        "no arrivals, no surge: {s}"
    );
    kill(server, &data);
}
