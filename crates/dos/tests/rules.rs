//! The Directory of Services search, rule by rule (the public DoS rules in
//! `../shared/design/triage-and-dos.md`), on a small directory around a
//! patient at the origin; then the ODS import on the real shared extract.

use dos::{
    age_days, open_in_window, search, window_end, Capacity, Directory, Filter, Opening, Point,
    Profile, Query, Rag, Service, Sex,
};
use jiff::civil::Date;
use model::Timestamp;
use std::collections::BTreeSet;

/// 2026-11-23, a Monday, at HH:MM UTC (= London time in November).
fn monday(h: i64, m: i64) -> Timestamp {
    Timestamp(1_795_392_000_000 + (h * 60 + m) * 60_000)
}

fn weekdays(open: u32, close: u32) -> Opening {
    let mut o = Opening::default();
    for d in o.weekly.iter_mut().take(5) {
        d.push((open, close));
    }
    o
}

fn service(id: u64, type_id: u32, km_east: f64, km_north: f64) -> Service {
    Service {
        id,
        name: format!("service {id}"),
        type_id,
        ods_code: None,
        postcode: "ME10 1AA".into(),
        location: Point {
            easting: km_east * 1000.0,
            northing: km_north * 1000.0,
        },
        active: true,
        sg_sd: [(1002, 4202), (1002, 4203)].into_iter().collect(),
        dispositions: ["Dx17".to_string()].into_iter().collect(),
        age_days: (0, 45_000),
        sexes: vec![Sex::Male, Sex::Female],
        restricted_to_practices: vec![],
        opening: Opening {
            open_all_hours: true,
            ..Default::default()
        },
        capacity: None,
        phone: None,
        public_text: String::new(),
        professional_text: String::new(),
        referral_url: None,
        ref_id: String::new(),
        status: None,
        referral_restricted: None,
    }
}

fn query() -> Query {
    Query {
        location: Point {
            easting: 0.0,
            northing: 0.0,
        },
        district: None,
        age_days: age_days(40, 0, 0),
        sex: Sex::Female,
        gp_practice: None,
        symptom_group: 1002,
        discriminators: vec![4202],
        disposition: "Dx17".into(),
        timeframe_minutes: Some(60),
        at: monday(10, 0),
        forced_distance_km: None,
        distance_km: None,
        postcode: None,
        strategy: None,
    }
}

fn ids(dir: &Directory, q: &Query) -> Vec<u64> {
    search(dir, q)
        .unwrap()
        .results
        .iter()
        .map(|f| f.id)
        .collect()
}

#[test]
fn the_search_area_is_a_square_and_its_size_comes_in_order() {
    let mut dir = Directory {
        services: vec![
            service(1, 12, 55.0, 55.0), // a corner: 78 km away, inside 60 km
            service(2, 12, 61.0, 0.0),  // 61 km east: outside
            service(3, 13, 9.0, 0.0),   // 9 km
        ],
        ..Default::default()
    };
    // Nearest first; the corner (78 km) is in, 61 km due east is out.
    assert_eq!(ids(&dir, &query()), vec![3, 1]);
    // Distance: forced, else the district's stored one, else the request's,
    // else 60 km.
    dir.district_distance.insert("ME10".into(), 10);
    let mut q = query();
    q.district = Some("ME10".into());
    q.distance_km = Some(80);
    assert_eq!(search(&dir, &q).unwrap().distance_km, 10);
    assert_eq!(ids(&dir, &q), vec![3]);
    q.forced_distance_km = Some(70);
    let r = search(&dir, &q).unwrap();
    assert_eq!((r.distance_km, ids(&dir, &q)), (70, vec![3, 2, 1]));
    q.forced_distance_km = None;
    q.district = None;
    assert_eq!(
        search(&dir, &q).unwrap().distance_km,
        80,
        "the request's distance"
    );
    let mut q = query();
    q.distance_km = Some(0);
    assert!(
        search(&dir, &q).is_err(),
        "a request distance is 1 to 99 km"
    );
}

#[test]
fn the_first_filter_drops_services_silently() {
    let mut dir = Directory::default();
    let mut inactive = service(1, 12, 1.0, 0.0);
    inactive.active = false;
    let mut other_sg = service(2, 12, 2.0, 0.0);
    other_sg.sg_sd = [(1001, 4104)].into_iter().collect();
    let mut no_sex = service(3, 12, 3.0, 0.0);
    no_sex.sexes.clear();
    let mut restricted = service(4, 12, 4.0, 0.0);
    restricted.restricted_to_practices = vec!["G82001".into()];
    dir.services = vec![inactive, other_sg, no_sex, restricted];
    let r = search(&dir, &query()).unwrap();
    assert!(
        r.results.iter().all(|f| f.catch_all) && r.gaps.is_empty(),
        "{r:?}"
    );
    // The restricted service is for its practice's patients only.
    let mut q = query();
    q.gp_practice = Some("G82001".into());
    assert_eq!(ids(&dir, &q), vec![4]);
}

#[test]
fn the_second_filter_records_a_gap_for_exactly_one_failure() {
    let mut dir = Directory::default();
    let mut red = service(1, 12, 1.0, 0.0);
    red.capacity = Some(Capacity {
        rag: Rag::Red,
        set_by: "dos.team".into(),
        set_at: monday(9, 0),
        reset_at: monday(11, 0),
    });
    let mut amber = service(2, 12, 2.0, 0.0);
    amber.capacity = Some(Capacity {
        rag: Rag::Amber,
        set_by: "dos.team".into(),
        set_at: monday(9, 0),
        reset_at: monday(11, 0),
    });
    let mut no_sd = service(3, 13, 3.0, 0.0);
    no_sd.sg_sd = [(1002, 4203)].into_iter().collect();
    let mut other_dx = service(4, 13, 4.0, 0.0);
    other_dx.dispositions = ["Dx118".to_string()].into_iter().collect();
    let mut adults_only_old = service(5, 14, 5.0, 0.0);
    adults_only_old.age_days = (age_days(65, 0, 0), 45_000);
    let mut shut = service(6, 14, 6.0, 0.0);
    shut.opening = weekdays(14 * 60, 18 * 60); // opens after the window
    let mut two_wrong = service(7, 14, 7.0, 0.0);
    two_wrong.dispositions.clear();
    two_wrong.age_days = (0, 10);
    dir.services = vec![
        red,
        amber,
        no_sd,
        other_dx,
        adults_only_old,
        shut,
        two_wrong,
    ];
    let r = search(&dir, &query()).unwrap();
    // Amber is still returned, with its capacity.
    assert_eq!(r.results.len(), 1);
    assert_eq!((r.results[0].id, r.results[0].capacity), (2, Rag::Amber));
    let gaps: Vec<(u64, Filter)> = r.gaps.iter().map(|g| (g.id, g.failed)).collect();
    assert_eq!(
        gaps,
        vec![
            (1, Filter::Capacity),
            (3, Filter::SymptomDiscriminator),
            (4, Filter::Disposition),
            (5, Filter::Age),
            (6, Filter::SessionTimes),
        ],
        "service 7 failed two filters: not a gap"
    );
    // Red capacity returns to green at its reset time.
    let mut later = query();
    later.at = monday(11, 0);
    assert!(ids(&dir, &later).contains(&1));
    // Every requested SD must be held (duplicates dropped): amber holds
    // both, the service holding only 4203 is still one SD short.
    let mut q = query();
    q.discriminators = vec![4202, 4203, 4202];
    let r = search(&dir, &q).unwrap();
    assert!(r.results.iter().any(|f| f.id == 2), "{r:?}");
    assert!(r
        .gaps
        .iter()
        .any(|g| (g.id, g.failed) == (3, Filter::SymptomDiscriminator)));
}

#[test]
fn the_time_window_follows_the_disposition() {
    let now = monday(10, 0);
    let mins = |t: Timestamp| (t.0 - now.0) / 60_000;
    assert_eq!(mins(window_end(now, None)), 60);
    assert_eq!(mins(window_end(now, Some(0))), 60);
    assert_eq!(mins(window_end(now, Some(20))), 30);
    assert_eq!(mins(window_end(now, Some(45))), 45);
    assert_eq!(mins(window_end(now, Some(240))), 180);
    let none = BTreeSet::new();
    let o = weekdays(9 * 60, 17 * 60);
    // Open now and for long enough.
    assert!(open_in_window(&o, &none, now, window_end(now, Some(60))));
    // Closing within 30 minutes of now does not count...
    let late = monday(16, 40);
    assert!(!open_in_window(&o, &none, late, window_end(late, Some(20))));
    // ...opening within the window does.
    let early = monday(8, 30);
    assert!(open_in_window(
        &o,
        &none,
        early,
        window_end(early, Some(60))
    ));
    // Opening times are London local times: on 2026-03-30 (summer time)
    // 09:00 London is 08:00 UTC.
    let mar30 = Timestamp(1_774_828_800_000); // 2026-03-30T00:00:00Z, a Monday
    let at = |h: i64, m: i64| Timestamp(mar30.0 + (h * 60 + m) * 60_000);
    assert!(open_in_window(&o, &none, at(8, 0), at(8, 30)), "09:00 BST");
    assert!(
        !open_in_window(&o, &none, at(7, 0), at(7, 29)),
        "08:29 BST: closed"
    );
    assert!(
        !open_in_window(&o, &none, at(15, 45), at(16, 45)),
        "16:45 BST closes in 15 minutes"
    );
}

#[test]
fn opening_entries_apply_by_priority() {
    let day: Date = "2026-12-25".parse().unwrap(); // a Friday
    let holidays: BTreeSet<Date> = [day].into_iter().collect();
    let mut o = weekdays(9 * 60, 17 * 60);
    // A bank holiday with no holiday sessions is closed.
    assert!(o.sessions(day, &holidays).is_empty());
    o.bank_holiday = vec![(10 * 60, 14 * 60)];
    assert_eq!(o.sessions(day, &holidays), vec![(600, 840)]);
    // Open all hours beats the bank holiday...
    o.open_all_hours = true;
    assert_eq!(o.sessions(day, &holidays), vec![(0, 1440)]);
    // ...and a dated entry beats everything (here: closed that day).
    o.specified.insert(day, vec![]);
    assert!(o.sessions(day, &holidays).is_empty());
    // An ordinary day uses the weekly sessions.
    let mut w = weekdays(9 * 60, 17 * 60);
    w.open_all_hours = false;
    assert_eq!(
        w.sessions("2026-12-21".parse().unwrap(), &holidays),
        vec![(540, 1020)]
    );
}

#[test]
fn ranking_puts_rank_first_then_own_gp_then_commissioning_then_distance() {
    let mut dir = Directory {
        ranks: [(12, 1), (13, 2), (100, 1)].into_iter().collect(),
        ..Default::default()
    };
    let mut near_unranked = service(1, 14, 1.0, 0.0);
    near_unranked.name = "unranked".into();
    let mut far_rank1 = service(2, 12, 30.0, 0.0);
    // Commissioned by the patient's practice, open to anyone.
    far_rank1.restricted_to_practices = vec!["G82001".into()];
    far_rank1.referral_restricted = Some(false);
    let mid_rank1 = service(3, 12, 20.0, 0.0);
    let third_rank1 = service(4, 12, 25.0, 0.0);
    let rank2 = service(5, 13, 2.0, 0.0);
    let mut own_gp = service(6, 100, 40.0, 0.0);
    own_gp.ods_code = Some("G82001".into());
    let near_gp = service(7, 100, 3.0, 0.0);
    // Restricted to the patient's practice: before the unrestricted one.
    let mut restricted = service(8, 12, 35.0, 0.0);
    restricted.restricted_to_practices = vec!["G82001".into()];
    dir.services = vec![
        near_unranked,
        far_rank1,
        mid_rank1,
        third_rank1,
        rank2,
        own_gp,
        near_gp,
        restricted,
    ];
    let mut q = query();
    q.gp_practice = Some("G82001".into());
    // Rank 1: the own GP first (one GP practice only), then type 12:
    // restricted commissioned, unrestricted commissioned (the top two of
    // the type, though furthest); rank 2; then the unranked.
    assert_eq!(ids(&dir, &q), vec![6, 8, 2, 5, 1]);
    // Another practice's patient: the restricted service is not for them,
    // nothing is commissioned for them, so distance within the rank.
    q.gp_practice = Some("G99999".into());
    assert_eq!(ids(&dir, &q), vec![7, 3, 4, 5, 1]);
}

#[test]
fn with_nothing_found_the_nearest_emergency_departments_are_returned() {
    let mut dir = Directory::default();
    let mut ed_red = service(1, 40, 10.0, 0.0);
    ed_red.sg_sd.clear(); // takes nothing this patient needs
    ed_red.capacity = Some(Capacity {
        rag: Rag::Red,
        set_by: "ed".into(),
        set_at: monday(9, 0),
        reset_at: monday(23, 0),
    });
    let mut ed_far = service(2, 40, 50.0, 0.0);
    ed_far.sg_sd.clear();
    let mut ed_further = service(3, 40, 58.0, 10.0);
    ed_further.sg_sd.clear();
    let mut ed_outside = service(4, 40, 70.0, 0.0);
    ed_outside.sg_sd.clear();
    dir.services = vec![ed_far, ed_red, ed_further, ed_outside];
    let r = search(&dir, &query()).unwrap();
    let got: Vec<(u64, bool, Rag)> = r
        .results
        .iter()
        .map(|f| (f.id, f.catch_all, f.capacity))
        .collect();
    assert_eq!(got, vec![(1, true, Rag::Red), (2, true, Rag::Green)]);
}

#[test]
fn the_real_ods_extract_imports_and_searches_near_a_kent_patient() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/");
    let read = |f: &str| {
        std::fs::read_to_string(format!("{data}{f}"))
            .unwrap_or_else(|e| panic!("the shared data file {f} is missing: {e}"))
    };
    let centroids = dos::parse_centroids(&read("uk-outcode-centroids-2014.csv"));
    assert!(centroids.len() > 2800, "{}", centroids.len());
    let profile = Profile {
        type_id: 100,
        sg_sd: [(1003, 4302)].into_iter().collect(),
        dispositions: ["Dx05".to_string()].into_iter().collect(),
        age_days: (0, 45_000),
        sexes: vec![Sex::Male, Sex::Female],
        opening: weekdays(8 * 60, 18 * 60 + 30),
        prescribing_setting: Some("4".into()),
    };
    let mut text = read("ods-gp-practices-epraccur-2020.csv");
    // A row with a bad postcode and one with an unknown district.
    text.push_str("\"X99999\",\"BAD POSTCODE SURGERY\",\"Y1\",\"Q1\",\"\",\"\",\"\",\"\",\"\",\"NOT A CODE\",\"20000101\",\"\",\"A\",\"B\",\"00K\",\"\",\"\",\"\",\"\",\"\",\"\",\"0\",\"\",\"00K\",\"\",\"4\",\"\"\n");
    text.push_str("\"X99998\",\"NOWHERE SURGERY\",\"Y1\",\"Q1\",\"\",\"\",\"\",\"\",\"\",\"ZZ99 9ZZ\",\"20000101\",\"\",\"A\",\"B\",\"00K\",\"\",\"\",\"\",\"\",\"\",\"\",\"0\",\"\",\"00K\",\"\",\"4\",\"\"\n");
    let (services, skipped) = dos::import_ods(&text, &centroids, &profile, 1);
    assert!(
        services.len() > 6_000,
        "{} practices imported",
        services.len()
    );
    let problems: Vec<&str> = skipped.iter().map(|s| s.problem.as_str()).collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("X99999: postcode 'NOT A CODE' is not a postcode")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("X99998: postcode district ZZ99 is not known")),
        "{problems:?}"
    );
    println!(
        "imported {} practices, skipped {} rows",
        services.len(),
        skipped.len()
    );
    // A patient in Sittingbourne (ME10), registered with a practice there.
    let me10 = centroids["ME10"];
    let own = services
        .iter()
        .find(|s| s.postcode.starts_with("ME10"))
        .expect("a practice in ME10")
        .clone();
    let dir = Directory {
        services,
        ..Default::default()
    };
    let q = Query {
        location: me10,
        district: Some("ME10".into()),
        age_days: age_days(70, 0, 0),
        sex: Sex::Male,
        gp_practice: own.ods_code.clone(),
        symptom_group: 1003,
        discriminators: vec![4302],
        disposition: "Dx05".into(),
        timeframe_minutes: Some(120),
        at: monday(10, 0),
        forced_distance_km: None,
        distance_km: None,
        postcode: None,
        strategy: None,
    };
    let r = search(&dir, &q).unwrap();
    assert_eq!(r.results.len(), 1, "one GP practice");
    assert_eq!(r.results[0].id, own.id, "the patient's own GP first");
    // At 21:00 every practice is closed: all are gaps, and with no
    // emergency department in this directory the answer is empty.
    let mut night = q.clone();
    night.at = monday(21, 0);
    let r = search(&dir, &night).unwrap();
    assert!(r.results.is_empty());
    assert!(r.gaps.len() > 10 && r.gaps.iter().all(|g| g.failed == Filter::SessionTimes));
}

#[test]
fn a_real_dos_response_imports_and_exports_in_the_same_shape() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/dos-check-capacity-summary-response-example.json"
    );
    let text = std::fs::read_to_string(path).expect("the shared DoS response example is missing");
    let resp: dos::DosResponse = serde_json::from_str(&text).unwrap();
    assert_eq!(resp.results.len(), 4);
    let profile = Profile {
        type_id: 13,
        sg_sd: [(1003, 4303)].into_iter().collect(),
        dispositions: ["Dx80".to_string()].into_iter().collect(),
        age_days: (0, 45_000),
        sexes: vec![Sex::Male, Sex::Female],
        opening: Opening::default(),
        prescribing_setting: None,
    };
    let services: Vec<Service> = resp
        .results
        .iter()
        .map(|d| d.to_service(&profile))
        .collect();
    let first = &services[0];
    assert_eq!(first.id, 2000037448);
    assert_eq!(first.type_id, 13);
    assert_eq!(
        (first.location.easting, first.location.northing),
        (429354.0, 440405.0)
    );
    // Monday 00:00-23:59 in the response is open all Monday here.
    assert_eq!(first.opening.weekly[0], vec![(0, 1440)]);
    // Found by a search from its own postcode's grid point, Monday 10:00.
    let dir = Directory {
        services: services.clone(),
        ..Default::default()
    };
    let mut q = query();
    q.location = first.location;
    q.symptom_group = 1003;
    q.discriminators = vec![4303];
    q.disposition = "Dx80".into();
    let r = search(&dir, &q).unwrap();
    assert_eq!(r.results[0].id, 2000037448);
    // Exported in the same shape: the fields round-trip.
    let back = dos::DosService::from_service(first, 0.0, monday(10, 0));
    let original = &resp.results[0];
    assert_eq!(
        (back.id, &back.postcode, back.eastings, back.northings),
        (
            original.id,
            &original.postcode,
            original.eastings,
            original.northings
        )
    );
    assert_eq!(back.rota_sessions[0], original.rota_sessions[0]);
    let json = serde_json::to_value(dos::DosResponse {
        results: vec![back],
    })
    .unwrap();
    assert_eq!(
        json["CheckCapacitySummaryResult"][0]["idField"],
        2000037448u64
    );
    assert_eq!(
        json["CheckCapacitySummaryResult"][0]["rotaSessionsField"][0]["endTimeField"]["hoursField"],
        23
    );
}
