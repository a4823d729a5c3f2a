//! The directory file (`docs/dos-directory.md`): the example Kent
//! directory round-trips (import, then export, equal); a table of bad
//! profiles, each refused with the field named; and the search rules the
//! file brings in (named ranking strategies, stored distances by postcode,
//! sector and district, valid SG/SD pairs, ages in days, months and years,
//! gender I, one result for the IUC types), with the search explained.

use dos::file::{self, number_for};
use dos::{
    age_in_days, parse_age, search, search_explained, AgeUnit, DistanceSource, Filter, Point,
    Query, SearchError, Sex, Verdict,
};
use model::Timestamp;
use serde_json::{json, Value};

/// The JSON read, then the file checked (as `app::dosload::parse_file`).
fn parse(
    text: &str,
    known: Option<&std::collections::BTreeSet<String>>,
) -> Result<dos::Directory, file::FileError> {
    let f: file::DirectoryFile = serde_json::from_str(text).map_err(file::unreadable)?;
    file::to_directory(&f, known)
}

const KENT: &str = include_str!("../../../examples/dos/kent-directory.json");

/// 2026-12-07, a Monday, HH:MM London (= UTC in December).
fn monday(h: i64, m: i64) -> Timestamp {
    Timestamp(1_796_601_600_000 + (h * 60 + m) * 60_000)
}

/// Sittingbourne (ME10's centroid).
const ME10: Point = Point {
    easting: 590_600.0,
    northing: 164_000.0,
};

fn query(sg: u32, sd: &[u32], dx: &str, timeframe: Option<u32>) -> Query {
    Query {
        district: Some("ME10".into()),
        discriminators: sd.to_vec(),
        disposition: dx.into(),
        timeframe_minutes: timeframe,
        ..Query::new(
            ME10,
            age_in_days(40, AgeUnit::Years).unwrap(),
            Sex::Female,
            sg,
            monday(10, 0),
        )
    }
}

fn keys(dir: &dos::Directory, r: &dos::SearchResult) -> Vec<String> {
    r.results
        .iter()
        .map(|f| dir.services.iter().find(|s| s.id == f.id).unwrap().key())
        .collect()
}

#[test]
fn the_example_directory_round_trips() {
    let dir = parse(KENT, None).unwrap();
    assert_eq!(dir.services.len(), 9);
    let out = serde_json::to_value(file::export(&dir)).unwrap();
    let original: Value = serde_json::from_str(KENT).unwrap();
    assert_eq!(out, original, "import then export gives the same document");
    // And once more through the text.
    let again = parse(&serde_json::to_string(&out).unwrap(), None).unwrap();
    assert_eq!(again, dir);
    // Ids: a number stays a number; a name is hashed into its own range.
    assert_eq!(number_for("2000037448"), 2_000_037_448);
    // Names land between 2^52 and 2^53: exact in a browser's numbers.
    let n = number_for("ph-sittingbourne-high-st");
    assert!((1 << 52..1 << 53).contains(&n), "{n}");
    assert_eq!(
        number_for("ph-sittingbourne-high-st"),
        number_for("ph-sittingbourne-high-st")
    );
}

/// Applies `edit` to the first service (or the top level when `top`),
/// then expects the file refused naming `field` with `problem` in it.
fn refused(top: bool, edit: Value, field: &str, problem: &str) {
    let mut v: Value = serde_json::from_str(KENT).unwrap();
    let target = if top { &mut v } else { &mut v["services"][0] };
    for (k, x) in edit.as_object().unwrap() {
        if x.is_null() {
            target.as_object_mut().unwrap().remove(k);
        } else {
            target[k] = x.clone();
        }
    }
    let known = [
        "Dx80", "Dx05", "Dx06", "Dx08", "Dx89", "Dx17", "Dx118", "Dx02",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match parse(&v.to_string(), Some(&known)) {
        Ok(_) => panic!("{edit} was accepted"),
        Err(e) => {
            assert_eq!(e.field, field, "{edit}: {e}");
            assert!(e.problem.contains(problem), "{edit}: {e}");
        }
    }
}

#[test]
fn bad_profiles_are_refused_naming_the_field() {
    let s = "services[0]";
    let cases: Vec<(bool, Value, String, &str)> = vec![
        (
            false,
            json!({"type_id": 999}),
            format!("{s}.type_id"),
            "999 is not one of service_types",
        ),
        (
            false,
            json!({"dispositions": ["Dx999"]}),
            format!("{s}.dispositions[0]"),
            "not a disposition of the pathway set",
        ),
        (
            false,
            json!({"dispositions": ["urgent"]}),
            format!("{s}.dispositions[0]"),
            "not a disposition code",
        ),
        (
            false,
            json!({"sg_sd": [[1003, 4999]]}),
            format!("{s}.sg_sd[0]"),
            "not one of valid_sg_sd",
        ),
        (
            false,
            json!({"opening": {"weekly": {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}}}),
            format!("{s}.opening.weekly.mon[1]"),
            "overlaps",
        ),
        (
            false,
            json!({"opening": {"weekly": {"tue": [["18:00", "09:00"]]}}}),
            format!("{s}.opening.weekly.tue[0]"),
            "closes (09:00) before it opens (18:00)",
        ),
        (
            false,
            json!({"opening": {"weekly": {"monday": [["09:00", "17:00"]]}}}),
            format!("{s}.opening.weekly.monday"),
            "not a day",
        ),
        (
            false,
            json!({"opening": {"weekly": {"wed": [["9am", "17:00"]]}}}),
            format!("{s}.opening.weekly.wed[0]"),
            "not a time HH:MM",
        ),
        (
            false,
            json!({"opening": {"specified": {"2026-02-30": []}}}),
            format!("{s}.opening.specified.2026-02-30"),
            "not a date",
        ),
        (
            false,
            json!({"age_min_days": 400, "age_max_days": 300}),
            format!("{s}.age_min_days"),
            "above age_max_days",
        ),
        (
            false,
            json!({"age_max_days": 60000}),
            format!("{s}.age_max_days"),
            "130 years",
        ),
        (
            false,
            json!({"genders": ["M", "X"]}),
            format!("{s}.genders[1]"),
            "not M, F or I",
        ),
        (
            false,
            json!({"genders": ["F", "F"]}),
            format!("{s}.genders[1]"),
            "twice",
        ),
        (
            false,
            json!({"capacity": {"rag": "purple", "set_at": "2026-12-01T09:00:00Z", "reset_minutes": 60}}),
            format!("{s}.capacity.rag"),
            "red, amber or green",
        ),
        (
            false,
            json!({"capacity": {"rag": "red", "set_at": "2026-12-01T09:00:00Z", "reset_minutes": 5}}),
            format!("{s}.capacity.reset_minutes"),
            "15 to 7200",
        ),
        (
            false,
            json!({"referral_restricted": true}),
            format!("{s}.referral_restricted"),
            "referral_gp_ods",
        ),
        (
            false,
            json!({"referral_gp_ods": ["G99 001"]}),
            format!("{s}.referral_gp_ods[0]"),
            "not an ODS code",
        ),
        (
            false,
            json!({"id": "has space"}),
            format!("{s}.id"),
            "letters, digits",
        ),
        (
            false,
            json!({"id": "ph-sittingbourne-station"}),
            "services[1].id".into(),
            "used twice",
        ),
        (
            false,
            json!({"name": "   "}),
            format!("{s}.name"),
            "must not be empty",
        ),
        (
            false,
            json!({"name": "a\u{7}b"}),
            format!("{s}.name"),
            "control character",
        ),
        (
            false,
            json!({"easting": -5}),
            format!("{s}.easting"),
            "national grid",
        ),
        (
            false,
            json!({"status": "Closed for now"}),
            format!("{s}.status"),
            "lower-case word",
        ),
        (
            false,
            json!({"postcode": "nowhere"}),
            format!("{s}.postcode"),
            "not a UK postcode",
        ),
        (
            false,
            json!({"referral_url": "ftp://x"}),
            format!("{s}.referral_url"),
            "http(s) URL",
        ),
        (
            true,
            json!({"search_distances": {"ME10": 120}}),
            "search_distances.ME10".into(),
            "outside 1 to 99",
        ),
        (
            true,
            json!({"search_distances": {"ME10": 0}}),
            "search_distances.ME10".into(),
            "outside 1 to 99",
        ),
        (
            true,
            json!({"search_distances": {"ME104AB": 5}}),
            "search_distances.ME104AB".into(),
            "not a postcode district",
        ),
        (
            true,
            json!({"search_distances": {"ME10 4A": 5}}),
            "search_distances.ME10 4A".into(),
            "not a postcode district",
        ),
        (
            true,
            json!({"search_distances": {"ME10": 5, "me10": 6}}),
            "search_distances.me10".into(),
            "given twice",
        ),
        (
            true,
            json!({"default_strategy": null}),
            "default_strategy".into(),
            "several ranking strategies",
        ),
        (
            true,
            json!({"ranking_strategies": {"kent": {"13": 11}}}),
            "ranking_strategies.kent.13".into(),
            "1 to 10",
        ),
        (
            true,
            json!({"ranking_strategies": {"kent": {"77": 1}}}),
            "ranking_strategies.kent.77".into(),
            "not one of service_types",
        ),
        (
            true,
            json!({"default_strategy": "surrey"}),
            "default_strategy".into(),
            "not one of ranking_strategies",
        ),
        (
            true,
            json!({"bank_holidays": ["25/12/2026"]}),
            "bank_holidays[0]".into(),
            "not a date",
        ),
        (
            true,
            json!({"surprise": 1}),
            "file".into(),
            "unknown field `surprise`",
        ),
        (
            false,
            json!({"easting": null}),
            "file".into(),
            "missing field `easting`",
        ),
    ];
    for (top, edit, field, problem) in cases {
        refused(top, edit, &field, problem);
    }
}

#[test]
fn ages_convert_to_days_by_the_dos_rules() {
    // A month is 30.4375 days and a year 365.25, rounded down.
    assert_eq!(age_in_days(0, AgeUnit::Days), Ok(0));
    assert_eq!(age_in_days(31, AgeUnit::Days), Ok(31));
    assert_eq!(age_in_days(1, AgeUnit::Months), Ok(30));
    assert_eq!(age_in_days(3, AgeUnit::Months), Ok(91));
    assert_eq!(age_in_days(23, AgeUnit::Months), Ok(700));
    assert_eq!(age_in_days(2, AgeUnit::Years), Ok(730));
    assert_eq!(age_in_days(129, AgeUnit::Years), Ok(47_117));
    assert_eq!(parse_age("3m"), Ok(91));
    assert_eq!(parse_age("12d"), Ok(12));
    assert_eq!(parse_age("40y"), Ok(14_610));
    for bad in ["32d", "0m", "24m", "1y", "130y", "old", "-3m", "3w"] {
        let e = parse_age(bad).unwrap_err();
        assert_eq!(e.code(), "invalid_age", "{bad}: {e}");
    }
    // A 3-month-old is too young for the UTC (1 year and up): a gap on age.
    let dir = parse(KENT, None).unwrap();
    let mut q = query(1001, &[4102], "Dx89", Some(240));
    q.age_days = parse_age("3m").unwrap();
    let r = search(&dir, &q).unwrap();
    assert!(
        r.gaps
            .iter()
            .any(|g| g.id == number_for("utc-sheppey") && g.failed == Filter::Age),
        "{r:?}"
    );
    q.age_days = parse_age("13m").unwrap();
    assert_eq!(keys(&dir, &search(&dir, &q).unwrap()), vec!["utc-sheppey"]);
}

#[test]
fn the_search_distance_comes_from_the_postcode_then_sector_then_district() {
    let dir = parse(KENT, None).unwrap();
    let mut q = query(1003, &[4303], "Dx80", Some(360));
    let r = search(&dir, &q).unwrap();
    assert_eq!(
        (r.distance_km, r.distance_source),
        (15, DistanceSource::District)
    );
    // The sector ME12 1 has its own distance.
    q.postcode = Some("ME12 1AB".into());
    q.district = Some("ME12".into());
    let r = search(&dir, &q).unwrap();
    assert_eq!(
        (r.distance_km, r.distance_source),
        (25, DistanceSource::Sector)
    );
    // Nothing stored: the request's, else the national 60 km.
    q.postcode = Some("ME4 6QR".into());
    q.district = Some("ME4".into());
    q.distance_km = Some(30);
    let r = search(&dir, &q).unwrap();
    assert_eq!(
        (r.distance_km, r.distance_source),
        (30, DistanceSource::WebService)
    );
    q.distance_km = None;
    let r = search(&dir, &q).unwrap();
    assert_eq!(
        (r.distance_km, r.distance_source),
        (60, DistanceSource::National)
    );
    // Forced beats the stored one; a request outside 1–99 is refused.
    let mut q = query(1003, &[4303], "Dx80", Some(360));
    q.forced_distance_km = Some(5);
    let r = search(&dir, &q).unwrap();
    assert_eq!(
        (r.distance_km, r.distance_source),
        (5, DistanceSource::Override)
    );
    q.forced_distance_km = Some(100);
    assert_eq!(
        search(&dir, &q).unwrap_err().code(),
        "invalid_search_distance"
    );
    // A stored distance overrides a bad request distance (it is not used).
    let mut q = query(1003, &[4303], "Dx80", Some(360));
    q.distance_km = Some(150);
    assert_eq!(
        search(&dir, &q).unwrap().distance_source,
        DistanceSource::District
    );
}

#[test]
fn discriminators_not_valid_for_the_group_are_dropped_and_an_unknown_group_refused() {
    let dir = parse(KENT, None).unwrap();
    // 4101 is not a 1003 discriminator: dropped; 4303 repeated: dropped.
    let q = query(1003, &[4303, 4101, 4303], "Dx80", Some(360));
    let r = search(&dir, &q).unwrap();
    assert_eq!(r.dropped_discriminators, vec![4101, 4303]);
    assert!(!r.results.is_empty());
    // None valid: invalid_sd. A group the directory does not have: invalid_sg.
    let q = query(1003, &[4101], "Dx80", Some(360));
    assert!(matches!(search(&dir, &q), Err(SearchError::InvalidSd(_))));
    let q = query(1999, &[4101], "Dx80", Some(360));
    assert_eq!(search(&dir, &q).unwrap_err(), SearchError::InvalidSg(1999));
}

#[test]
fn strategies_rank_service_types_and_an_unknown_one_is_refused() {
    let dir = parse(KENT, None).unwrap();
    // A minor injury for the UTC, Monday 10:00.
    let mut q = query(1001, &[4102], "Dx89", Some(240));
    q.age_days = age_in_days(30, AgeUnit::Years).unwrap();
    let r = search(&dir, &q).unwrap();
    assert_eq!(r.strategy.as_deref(), Some("kent"));
    q.strategy = Some("medway-winter".into());
    assert_eq!(
        search(&dir, &q).unwrap().strategy.as_deref(),
        Some("medway-winter")
    );
    q.strategy = Some("surrey".into());
    assert_eq!(search(&dir, &q).unwrap_err().code(), "invalid_strategy");
}

#[test]
fn gender_i_matches_only_services_that_list_it() {
    let mut dir = parse(KENT, None).unwrap();
    for s in &mut dir.services {
        s.sexes.retain(|x| *x != Sex::Indeterminate);
    }
    let mut q = query(1003, &[4303], "Dx80", Some(360));
    q.sex = Sex::Indeterminate;
    let r = search(&dir, &q).unwrap();
    assert!(r.results.iter().all(|f| f.catch_all), "{r:?}");
    let dir = parse(KENT, None).unwrap();
    let r = search(&dir, &q).unwrap();
    assert!(!r.results.is_empty() && !r.catch_all());
}

#[test]
fn a_pharmacy_search_is_explained_service_by_service() {
    let dir = parse(KENT, None).unwrap();
    // Monday 13:10: High Street is between its sessions (reopens 14:00,
    // inside the 6-hour window); Station is amber; Faversham is 12 km
    // east, inside 15 km.
    let mut q = query(1003, &[4303], "Dx80", Some(360));
    q.at = monday(13, 10);
    let (r, why) = search_explained(&dir, &q, 50).unwrap();
    let ranked = keys(&dir, &r);
    assert_eq!(ranked.len(), 2, "two per service type: {ranked:?}");
    let verdict = |k: &str| {
        why.iter()
            .find(|e| e.key == k)
            .unwrap_or_else(|| panic!("{k} not explained: {why:?}"))
            .verdict
            .clone()
    };
    assert!(matches!(
        verdict("ph-sittingbourne-station"),
        Verdict::Returned { .. }
    ));
    assert!(matches!(
        verdict("ph-sittingbourne-high-st"),
        Verdict::Returned { .. }
    ));
    assert_eq!(verdict("ph-faversham-late"), Verdict::TypeFull { kept: 2 });
    // The practices take the group (other discriminators) but neither
    // this discriminator nor this disposition: two filters, not a gap.
    assert_eq!(
        verdict("gp-sittingbourne-2"),
        Verdict::Filtered {
            filters: vec![Filter::SymptomDiscriminator, Filter::Disposition]
        }
    );
    // Only for its own practice's patients (this one gave no practice).
    assert_eq!(
        verdict("gp-sittingbourne-1"),
        Verdict::Excluded {
            rule: dos::Rule::GpRestricted
        }
    );
    assert_eq!(
        verdict("RPA01"),
        Verdict::Excluded {
            rule: dos::Rule::SymptomGroup
        }
    );
    assert_eq!(
        verdict("ed-closed-example"),
        Verdict::Excluded {
            rule: dos::Rule::Status
        }
    );
    // On Christmas Day High Street is closed (a dated entry): a gap.
    let mut xmas = q.clone();
    xmas.at = Timestamp(1_798_156_800_000 + 11 * 3_600_000); // 2026-12-25 11:00
    let (r, why) = search_explained(&dir, &xmas, 50).unwrap();
    assert!(why.iter().any(|e| e.key == "ph-sittingbourne-high-st"
        && e.verdict
            == Verdict::Gap {
                filter: Filter::SessionTimes
            }));
    assert!(r
        .gaps
        .iter()
        .any(|g| g.id == number_for("ph-sittingbourne-high-st")));
}

#[test]
fn the_catch_all_finds_medway_maritime_for_a_patient_near_me10() {
    let dir = parse(KENT, None).unwrap();
    // A dental-pain patient at 03:00: nothing dental is open, so the
    // nearest emergency department (the closed one is not active).
    let mut q = query(1002, &[4202], "Dx17", Some(60));
    q.at = monday(3, 0);
    let r = search(&dir, &q).unwrap();
    assert!(r.catch_all());
    assert_eq!(keys(&dir, &r), vec!["RPA01"]);
}

#[test]
fn one_result_for_the_integrated_urgent_care_types() {
    let mut dir = parse(KENT, None).unwrap();
    dir.service_types.insert(133, "IUC CAS".into());
    let mut a = dir.services[2].clone();
    a.type_id = 133;
    a.id = 1;
    let mut b = a.clone();
    b.id = 2;
    dir.services = vec![a, b];
    let q = query(1003, &[4303], "Dx80", Some(360));
    assert_eq!(search(&dir, &q).unwrap().results.len(), 1);
}

#[test]
fn areas_and_ods_codes_are_read_as_the_search_looks_them_up() {
    assert_eq!(file::area_key(" me10 "), Some("ME10".into()));
    assert_eq!(file::area_key("ME10  4"), Some("ME10 4".into()));
    assert_eq!(file::area_key("me10 4ab"), Some("ME10 4AB".into()));
    for bad in ["", "ME104AB", "10ME", "ME10 44", "A B C", "ME10 4A"] {
        assert_eq!(file::area_key(bad), None, "{bad}");
    }
    // A practice code written in lower case is still the patient's own GP.
    let mut v: Value = serde_json::from_str(KENT).unwrap();
    v["services"][3]["ods_code"] = json!("g99001");
    v["services"][3]["referral_gp_ods"] = json!(["g99001"]);
    let dir = parse(&v.to_string(), None).unwrap();
    let mut q = query(1003, &[4302], "Dx05", Some(120));
    q.gp_practice = Some("G99001".into());
    assert_eq!(
        keys(&dir, &search(&dir, &q).unwrap()),
        vec!["gp-sittingbourne-1"]
    );
    q.gp_practice = Some("g99001".into());
    assert_eq!(
        keys(&dir, &search(&dir, &q).unwrap()),
        vec!["gp-sittingbourne-1"]
    );
}
