//! The simulator, running the real routing engine, agrees with Erlang C
//! (M/M/N) and Erlang A (M/M/N+M) within statistical confidence — which is
//! how we know both are right.
//!
//! Each case runs independent replications (different seeds) and checks
//! that the exact value lies within the replications' mean ± 4 standard
//! errors (a 99.99% interval: with fixed seeds the test is deterministic,
//! and a real disagreement of the model shows as many standard errors).

use model::DurationMs;
use wfm::{evaluate, Params, SlDefinition};

struct Case {
    name: &'static str,
    per_min: f64,
    aht: f64,
    agents: u32,
    patience: Option<f64>,
    target: f64,
    hours: i64,
    replications: u64,
}

fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

fn check(c: &Case) {
    let p = Params {
        arrival_rate: c.per_min / 60.0,
        aht: c.aht,
        patience: c.patience,
        target_seconds: c.target,
        sl_definition: SlDefinition::All,
    };
    let exact = evaluate(&p, c.agents).unwrap();
    let mut sl = Vec::new();
    let mut asa = Vec::new();
    let mut pab = Vec::new();
    let mut pwait = Vec::new();
    let mut occ = Vec::new();
    for rep in 0..c.replications {
        let mut sc = sim::quick_scenario(
            c.per_min / 60.0,
            c.aht,
            c.agents,
            c.patience,
            (0.8, c.target),
            DurationMs::from_secs(c.hours * 3600),
            1000 + rep,
        );
        sc.interval = DurationMs::from_secs(3600);
        sc.warmup = DurationMs::from_secs(3600);
        let r = sim::run(&sc, &mut |_| {}).unwrap();
        let k = &r.overall.counts;
        let f = &r.overall.figures;
        sl.push(f.service_level.unwrap());
        asa.push(f.asa_seconds.unwrap());
        pab.push(k.abandoned as f64 / k.offered as f64);
        // Waited at all: not answered at once. Answered with zero wait are
        // the ones below the 1 ms resolution.
        pwait.push(
            1.0 - (k.waits_ms.len() as f64 - k.waits_ms.iter().filter(|&&w| w > 0).count() as f64)
                / k.offered as f64,
        );
        occ.push(f.occupancy.unwrap());
    }
    let mut failures = Vec::new();
    let mut cmp = |what: &str, v: &[f64], exact: f64| {
        let (m, se) = mean_se(v);
        let ok = (m - exact).abs() <= 4.0 * se + 1e-9;
        eprintln!(
            "{}: {what}: simulated {m:.5} ± {se:.5} (SE), exact {exact:.5} {}",
            c.name,
            if ok { "ok" } else { "DIFFERS" }
        );
        if !ok {
            failures.push(format!(
                "{what}: simulated {m:.5} ± {se:.5}, exact {exact:.5}"
            ));
        }
    };
    cmp("service level", &sl, exact.service_level);
    cmp("ASA", &asa, exact.asa_seconds);
    cmp("P(abandon)", &pab, exact.abandon_probability.unwrap_or(0.0));
    cmp("occupancy", &occ, exact.occupancy);
    cmp("P(wait)", &pwait, exact.probability_wait);
    assert!(failures.is_empty(), "{}: {failures:?}", c.name);
}

#[test]
fn m_m_n_agrees_with_erlang_c() {
    check(&Case {
        name: "M/M/12, A=8.4",
        per_min: 4.2,
        aht: 120.0,
        agents: 12,
        patience: None,
        target: 20.0,
        hours: 300,
        replications: 8,
    });
}

#[test]
fn m_m_n_agrees_with_erlang_c_at_high_load() {
    check(&Case {
        name: "M/M/50, A=47.5",
        per_min: 19.0,
        aht: 150.0,
        agents: 50,
        patience: None,
        target: 30.0,
        hours: 300,
        replications: 8,
    });
}

#[test]
fn m_m_n_m_agrees_with_erlang_a_when_overloaded() {
    check(&Case {
        name: "M/M/8+M, A=8.4",
        per_min: 4.2,
        aht: 120.0,
        agents: 8,
        patience: Some(60.0),
        target: 20.0,
        hours: 300,
        replications: 8,
    });
}

#[test]
fn m_m_n_m_agrees_with_erlang_a_with_hundreds_of_agents() {
    // NHS 111 scale: 41.5 calls a minute, 8-minute calls, 5-minute patience.
    check(&Case {
        name: "M/M/340+M, A=332",
        per_min: 41.5,
        aht: 480.0,
        agents: 340,
        patience: Some(300.0),
        target: 60.0,
        hours: 60,
        replications: 6,
    });
}
