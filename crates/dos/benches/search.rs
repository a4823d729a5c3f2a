//! DoS search over every active GP practice in the shared ODS extract
//! (placed by postcode district) plus a few emergency departments: p50 and
//! p99 per search, over searches from many districts.
//!
//! Run: `cargo bench -p dos --bench search` (needs ../shared/data);
//! `DOS_TWICE=1` doubles the directory (~13,600 services); `DOS_ROUNDS`
//! (5) and `DOS_DISTRICTS` (all) make it smaller (the test command runs it
//! once, small, for its checks).

use dos::{search, Directory, Opening, Point, Profile, Query, Sex};
use model::Timestamp;
use std::time::Instant;

fn main() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/");
    let read = |f: &str| {
        std::fs::read_to_string(format!("{data}{f}"))
            .unwrap_or_else(|e| panic!("the shared data {f} is needed: {e}"))
    };
    let centroids = dos::parse_centroids(&read("uk-outcode-centroids-2014.csv"));
    let mut weekly: [Vec<(u32, u32)>; 7] = Default::default();
    for d in weekly.iter_mut().take(5) {
        d.push((8 * 60, 18 * 60 + 30));
    }
    let profile = Profile {
        type_id: 100,
        sg_sd: [(1001, 4104), (1003, 4301), (1003, 4302)]
            .into_iter()
            .collect(),
        dispositions: ["Dx05", "Dx06", "Dx08"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        age_days: (0, 45_000),
        sexes: vec![Sex::Male, Sex::Female],
        opening: Opening {
            weekly,
            ..Default::default()
        },
        prescribing_setting: Some("4".into()),
    };
    let t0 = Instant::now();
    let (services, skipped) = dos::import_ods(
        &read("ods-gp-practices-epraccur-2020.csv"),
        &centroids,
        &profile,
        1,
    );
    let import = t0.elapsed();
    let twice = std::env::var("DOS_TWICE").is_ok();
    let mut services = services;
    if twice {
        // The size the issue names (~14,000): every practice twice, the
        // copies 1 km east.
        let copies: Vec<_> = services
            .iter()
            .map(|s| {
                let mut c = s.clone();
                c.id += 1_000_000;
                c.location.easting += 1000.0;
                c
            })
            .collect();
        services.extend(copies);
    }
    let dir = Directory {
        services,
        ..Default::default()
    };
    println!(
        "imported {} active GP practices ({} rows skipped) in {:.0} ms",
        dir.services.len(),
        skipped.len(),
        import.as_secs_f64() * 1000.0
    );
    let size = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mut districts: Vec<Point> = centroids.values().copied().collect();
    districts.truncate(size("DOS_DISTRICTS", usize::MAX));
    // Monday 2026-11-23 10:00 UTC: practices open.
    let at = Timestamp(1_795_392_000_000 + 10 * 3_600_000);
    let mut times = Vec::new();
    let mut found = 0usize;
    for round in 0..size("DOS_ROUNDS", 5) {
        for (i, p) in districts.iter().enumerate() {
            let q = Query {
                location: *p,
                district: None,
                age_days: 30 * 365,
                sex: if i % 2 == 0 { Sex::Female } else { Sex::Male },
                gp_practice: None,
                symptom_group: 1003,
                discriminators: vec![4302],
                disposition: "Dx05".into(),
                timeframe_minutes: Some(120),
                at,
                forced_distance_km: None,
                distance_km: None,
                postcode: None,
                strategy: None,
            };
            let t = Instant::now();
            let r = search(&dir, &q).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e6);
            // What is found is within the search's square (the DoS
            // searches a square box: at most its half-side times √2
            // away), in rank order; a catch-all only when nothing else was.
            let reach = f64::from(r.distance_km) * std::f64::consts::SQRT_2 + 0.1;
            for f in &r.results {
                assert!(
                    f.catch_all || f.distance_km <= reach,
                    "{f:?} beyond {reach} km"
                );
                assert_eq!(f.catch_all, r.results[0].catch_all, "{:?}", r.results);
            }
            for w in r.results.windows(2) {
                assert!(w[0].rank <= w[1].rank, "{:?}", r.results);
            }
            if round == 0 {
                found += r.results.len();
            }
        }
    }
    assert!(found > 0, "no practice found from any district");
    times.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "search over {} services from {} districts x5: p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs ({} results in the first round)",
        dir.services.len(),
        districts.len(),
        pct(0.5),
        pct(0.99),
        times[times.len() - 1],
        found
    );
}
