//! Staffing maths against published worked examples and the identities in
//! the workforce notes (Erlang A → C as patience grows; P(abandon) = θ ×
//! mean wait; Poisson number in system when θ = μ).

use wfm::{
    erlang_b, erlang_c, evaluate, required_agents, scheduled_staff, Constraints, Model, Params,
    SlDefinition,
};

fn params(calls_per_30min: f64, aht: f64, patience: Option<f64>, target: f64) -> Params {
    Params {
        arrival_rate: calls_per_30min / 1800.0,
        aht,
        patience,
        target_seconds: target,
        sl_definition: SlDefinition::All,
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// Call Centre Helper, "Erlang C Formula – Made Simple With an Easy Worked
/// Example": 100 calls in 30 minutes, AHT 180 s, 80% in 20 s → 10 Erlangs,
/// 14 agents, P(wait) 17.41%, service level 88.84%, ASA 7.8 s, occupancy
/// 71.4%; with 30% shrinkage, 20 staff.
#[test]
fn the_call_centre_helper_worked_example() {
    let p = params(100.0, 180.0, None, 20.0);
    assert!(close(p.offered_load(), 10.0, 1e-12));
    let perf = required_agents(
        &p,
        &Constraints {
            service_level: Some(0.8),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(perf.model, Model::ErlangC);
    assert_eq!(perf.agents, 14);
    assert!(
        close(perf.probability_wait, 0.1741, 5e-5),
        "{}",
        perf.probability_wait
    );
    assert!(
        close(perf.service_level, 0.8884, 5e-5),
        "{}",
        perf.service_level
    );
    assert!(close(perf.asa_seconds, 7.84, 5e-3), "{}", perf.asa_seconds);
    assert!(close(perf.occupancy, 0.714, 5e-4));
    assert_eq!(scheduled_staff(perf.agents, 0.30).unwrap(), 20);
    // 13 agents miss the target.
    assert!(evaluate(&p, 13).unwrap().service_level < 0.8);
}

/// Erlang B tables (e.g. the ITU/standard traffic tables): the load that
/// gives 1% blocking is 4.461 E on 10 circuits, 12.031 E on 20, 37.901 E on
/// 50 and 84.064 E on 100.
#[test]
fn erlang_b_matches_the_one_percent_table() {
    for (n, a) in [(10, 4.461), (20, 12.031), (50, 37.901), (100, 84.064)] {
        let b = erlang_b(a, n);
        assert!(close(b, 0.01, 2e-5), "B({a}, {n}) = {b}");
    }
}

#[test]
fn erlang_c_is_stable_for_thousands_of_agents() {
    let c = erlang_c(950.0, 1000).unwrap();
    assert!(c.is_finite() && c > 0.0 && c < 0.2, "{c}");
    let c = erlang_c(9_900.0, 10_000).unwrap();
    assert!(c.is_finite() && c > 0.0 && c < 1.0, "{c}");
}

#[test]
fn erlang_a_tends_to_erlang_c_as_patience_grows() {
    for (calls, aht, n) in [
        (100.0, 180.0, 14),
        (900.0, 240.0, 130),
        (3000.0, 300.0, 520),
    ] {
        let c = evaluate(&params(calls, aht, None, 20.0), n).unwrap();
        let a = evaluate(&params(calls, aht, Some(1e9), 20.0), n).unwrap();
        assert!(
            close(a.probability_wait, c.probability_wait, 1e-4),
            "{n}: {} vs {}",
            a.probability_wait,
            c.probability_wait
        );
        assert!(
            close(a.service_level, c.service_level, 1e-4),
            "{n}: {} vs {}",
            a.service_level,
            c.service_level
        );
        assert!(
            close(a.asa_seconds, c.asa_seconds, 1e-3 * c.asa_seconds.max(1.0)),
            "{n}: {} vs {}",
            a.asa_seconds,
            c.asa_seconds
        );
        assert!(a.abandon_probability.unwrap() < 1e-5);
    }
}

#[test]
fn erlang_a_abandonment_is_theta_times_the_mean_wait() {
    // P(abandon) = θ · E[wait over all arrivals], and E[wait] = E[queue]/λ
    // (Little): checked at small and large scale, over- and under-loaded.
    for (calls, aht, patience, n) in [
        (100.0, 180.0, 120.0, 10),
        (100.0, 180.0, 60.0, 14),
        (6000.0, 480.0, 300.0, 1500),
        (6000.0, 480.0, 300.0, 1700),
    ] {
        let p = params(calls, aht, Some(patience), 20.0);
        let perf = evaluate(&p, n).unwrap();
        let pab = perf.abandon_probability.unwrap();
        assert!(
            close(pab, perf.mean_wait_all_seconds / patience, 1e-9),
            "{n}: {pab} vs {}",
            perf.mean_wait_all_seconds / patience
        );
        assert!(pab > 0.0 && pab < 1.0);
    }
}

#[test]
fn with_patience_equal_to_handle_time_the_number_in_system_is_poisson() {
    // θ = μ: every caller leaves at rate μ whether served or not, so the
    // number in system is Poisson(A), and P(wait) = P(Poisson(A) >= N).
    for (a, n) in [(10.0f64, 12u32), (50.0, 45), (300.0, 310)] {
        let aht = 200.0;
        let p = Params {
            arrival_rate: a / aht,
            aht,
            patience: Some(aht),
            target_seconds: 20.0,
            sl_definition: SlDefinition::All,
        };
        let perf = evaluate(&p, n).unwrap();
        // P(X >= N) for X ~ Poisson(a), summed in log space.
        let mut log_pk = -a;
        let mut below = 0.0;
        for k in 0..n {
            below += log_pk.exp();
            log_pk += a.ln() - ((k + 1) as f64).ln();
        }
        assert!(
            close(perf.probability_wait, 1.0 - below, 1e-9),
            "A={a} N={n}: {} vs {}",
            perf.probability_wait,
            1.0 - below
        );
    }
}

#[test]
fn service_level_definitions_order_as_they_should() {
    // Counting abandons against (all) gives the lowest figure; leaving all
    // abandons out (answered) the highest.
    let base = params(200.0, 240.0, Some(90.0), 30.0);
    let get = |d| {
        evaluate(
            &Params {
                sl_definition: d,
                ..base.clone()
            },
            25,
        )
        .unwrap()
        .service_level
    };
    let (all, excl, answered) = (
        get(SlDefinition::All),
        get(SlDefinition::ExcludeEarlyAbandons),
        get(SlDefinition::Answered),
    );
    assert!(all < excl && excl < answered, "{all} {excl} {answered}");
}

#[test]
fn staffing_is_the_smallest_that_meets_every_constraint() {
    let p = params(3000.0, 300.0, Some(300.0), 60.0);
    let c = Constraints {
        service_level: Some(0.95),
        max_occupancy: Some(0.9),
        max_abandon: Some(0.05),
        max_asa_seconds: Some(20.0),
    };
    let best = required_agents(&p, &c).unwrap();
    assert!(c.met_by(&best));
    assert!(!c.met_by(&evaluate(&p, best.agents - 1).unwrap()));
    assert!(best.agents > 500 && best.agents < 560, "{}", best.agents);
}

#[test]
fn bad_inputs_name_the_field() {
    let mut p = params(100.0, 180.0, None, 20.0);
    p.aht = -1.0;
    assert_eq!(
        evaluate(&p, 10).unwrap_err().to_string(),
        "aht must be a positive number, got -1"
    );
    let p = params(100.0, 180.0, None, 20.0);
    assert_eq!(
        evaluate(&p, 10).unwrap_err().to_string(),
        "10 agents can never serve 10.000 Erlangs without abandonment (Erlang C needs more agents than Erlangs)"
    );
    let c = Constraints {
        service_level: Some(1.2),
        ..Default::default()
    };
    assert!(required_agents(&p, &c)
        .unwrap_err()
        .to_string()
        .starts_with("target service level must be above 0% and at most 100%"));
    assert!(scheduled_staff(10, 1.0).is_err());
}
