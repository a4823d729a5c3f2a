//! Determinism, the drain at the end, and scenario validation.

use model::DurationMs;
use sim::{quick_scenario, run, Dist, SimError};

#[test]
fn same_seed_same_output_other_seed_other_output() {
    let sc = quick_scenario(
        4.2 / 60.0,
        120.0,
        9,
        Some(60.0),
        (0.8, 20.0),
        DurationMs::from_secs(20 * 3600),
        7,
    );
    let a = run(&sc, &mut |_| {}).unwrap();
    let b = run(&sc, &mut |_| {}).unwrap();
    assert_eq!(a.rows(), b.rows());
    assert_eq!(a.events_processed, b.events_processed);
    let mut other = sc.clone();
    other.seed = 8;
    let c = run(&other, &mut |_| {}).unwrap();
    assert_ne!(a.rows(), c.rows());
}

#[test]
fn every_caller_is_accounted_for() {
    let sc = quick_scenario(
        6.0 / 60.0,
        200.0,
        15,
        Some(90.0),
        (0.8, 20.0),
        DurationMs::from_secs(50 * 3600),
        3,
    );
    let r = run(&sc, &mut |_| {}).unwrap();
    let c = &r.overall.counts;
    // Over the whole run (warm-up 0), every arrival ends answered or abandoned.
    let rows = r.rows();
    let all = rows
        .iter()
        .find(|row| row.dimension == kpi::Dimension::Overall && row.interval_start.is_none())
        .unwrap();
    assert_eq!(
        all.counts.offered,
        all.counts.answered + all.counts.abandoned
    );
    assert_eq!(all.counts.offered, r.calls);
    assert!(c.offered > 15_000, "{}", c.offered);
    let mut progress = Vec::new();
    run(&sc, &mut |f| progress.push(f)).unwrap();
    assert!(
        progress.len() > 10
            && progress.windows(2).all(|w| w[0] <= w[1])
            && *progress.last().unwrap() == 1.0
    );
}

#[test]
fn bad_scenarios_name_the_field() {
    let base = quick_scenario(
        0.1,
        120.0,
        5,
        None,
        (0.8, 20.0),
        DurationMs::from_secs(3600),
        1,
    );
    let mut sc = base.clone();
    sc.streams[0].handle = Dist::Exponential { mean: -3.0 };
    assert_eq!(
        run(&sc, &mut |_| {}).unwrap_err(),
        SimError::Scenario("streams[0] 'calls'.handle: mean must be above zero".into())
    );
    let mut sc = base.clone();
    sc.streams[0].callback_acceptance = 1.5;
    assert_eq!(
        run(&sc, &mut |_| {}).unwrap_err().to_string(),
        "scenario: streams[0] 'calls'.callback_acceptance must be within 0..=1"
    );
    let mut sc = base.clone();
    sc.duration = DurationMs(0);
    assert!(run(&sc, &mut |_| {})
        .unwrap_err()
        .to_string()
        .contains("duration must be above zero"));
    let mut sc = base;
    sc.routing.agents[0].capacity.voice = 0;
    assert_eq!(
        run(&sc, &mut |_| {}).unwrap_err().to_string(),
        "routing configuration: agent a1 'agent 1': capacity is zero for every channel"
    );
}
