//! The Directory of Services a trust can keep: the example Kent directory
//! file imported with `switchboard dos import --directory`; the same
//! searches through `switchboard dos search --json` on the file and through
//! the API agree; a DoS lead changes a pharmacy's hours (audited, in force
//! for the next search, still there after a restart), a refused change
//! names the field and leaves the profile as it was, a service is added and
//! closed; and `dos export` gives what the API exports.

mod common;

use common::*;
use serde_json::{json, Value};
use std::process::Command;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/");
const KENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/dos/kent-directory.json"
);
const PATHWAYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../pathways/demo.json");

fn centroids() -> String {
    let c = format!("{SHARED}uk-outcode-centroids-2014.csv");
    assert!(
        std::path::Path::new(&c).exists(),
        "the shared data uk-outcode-centroids-2014.csv is missing"
    );
    c
}

fn call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let text = body.map(|b| b.to_string());
    let (s, b) = http(addr, method, path, text.as_deref()).unwrap();
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

fn switchboard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The next Monday that is not a bank holiday, at `h:m` London time.
fn next_monday(h: i8, m: i8) -> String {
    next_working_day(|d| d == jiff::civil::Weekday::Monday, h, m)
}

/// One search, asked of the CLI (on a directory file) and of the API.
#[derive(Clone)]
struct Case {
    name: &'static str,
    postcode: &'static str,
    at: String,
    age: &'static str,
    sex: &'static str,
    gp: Option<&'static str>,
    sg: u32,
    sd: Vec<u32>,
    disposition: &'static str,
    /// The API takes the disposition's timeframe from the pathway set and
    /// so does the CLI unless given one here.
    cli_timeframe: Option<u32>,
    distance: Option<(u32, bool)>,
    strategy: Option<&'static str>,
}

fn case(name: &'static str, at: String, sg: u32, sd: &[u32], dx: &'static str) -> Case {
    Case {
        name,
        postcode: "ME10 4AB",
        at,
        age: "40y",
        sex: "F",
        gp: None,
        sg,
        sd: sd.to_vec(),
        disposition: dx,
        cli_timeframe: None,
        distance: None,
        strategy: None,
    }
}

fn cli(directory: &str, c: &Case) -> (i32, Value) {
    let sd =
        c.sd.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",");
    let cents = centroids();
    let tf = c.cli_timeframe.map(|t| t.to_string()).unwrap_or_default();
    let sg = c.sg.to_string();
    let mut args = vec![
        "dos",
        "search",
        "--json",
        "--directory",
        directory,
        "--postcode",
        c.postcode,
        "--centroids",
        &cents,
        "--at",
        &c.at,
        "--age",
        c.age,
        "--sex",
        c.sex,
        "--sg",
        &sg,
        "--disposition",
        c.disposition,
        "--pathways",
        PATHWAYS,
    ];
    if c.cli_timeframe.is_some() {
        args.extend(["--timeframe", &tf]);
    }
    if !sd.is_empty() {
        args.extend(["--sd", &sd]);
    }
    let km;
    if let Some((d, force)) = c.distance {
        km = d.to_string();
        args.extend(["--distance-km", &km]);
        if force {
            args.push("--force-distance");
        }
    }
    if let Some(g) = c.gp {
        args.extend(["--gp", g]);
    }
    if let Some(s) = c.strategy {
        args.extend(["--strategy", s]);
    }
    let (code, out, err) = switchboard(&args);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{}: {out} {err}", c.name));
    (code, v)
}

fn api(addr: std::net::SocketAddr, c: &Case) -> (u16, Value) {
    let mut b = json!({
        "postcode": c.postcode, "age": c.age, "sex": c.sex, "symptom_group": c.sg,
        "discriminators": c.sd, "disposition": c.disposition, "at": c.at,
    });
    if let Some((d, force)) = c.distance {
        b["distance_km"] = json!(d);
        b["force_distance"] = json!(force);
    }
    if let Some(g) = c.gp {
        b["gp_practice"] = json!(g);
    }
    if let Some(s) = c.strategy {
        b["strategy"] = json!(s);
    }
    call(addr, "POST", "/api/v1/dos/search", Some(&b))
}

/// The CLI's and the API's answers to the same search are the same.
fn agree(addr: std::net::SocketAddr, directory: &str, c: &Case) -> Value {
    let (code, from_cli) = cli(directory, c);
    let (status, from_api) = api(addr, c);
    if from_cli["error"].is_string() && from_cli["error"] != "no_services_found" {
        assert_eq!(code, 2, "{}: a refused search exits 2", c.name);
        assert_eq!(status, 422, "{}: {from_api}", c.name);
        assert_eq!(from_api["code"], from_cli["error"], "{}", c.name);
        assert!(
            from_api["error"].as_str().unwrap().contains(':'),
            "names the field: {from_api}"
        );
        return from_cli;
    }
    assert_eq!(
        (code, status),
        (0, 200),
        "{}: {from_cli} {from_api}",
        c.name
    );
    assert_eq!(
        from_api["dos"], from_cli,
        "{}: the CLI and the API disagree",
        c.name
    );
    from_cli
}

#[test]
fn the_cli_and_the_api_agree_and_a_dos_lead_keeps_the_directory() {
    let (data, addr, server) = fresh("dosdir");
    kill(server, std::path::Path::new("/nonexistent"));
    let d = data.to_str().unwrap();
    let cents = centroids();
    let (code, out, err) = switchboard(&[
        "dos",
        "import",
        "--data",
        d,
        "--org",
        "1",
        "--directory",
        KENT,
        "--centroids",
        &cents,
        "--pathways",
        PATHWAYS,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("9 services imported"), "{out}");
    // A bad file is refused naming the field, and nothing is replaced.
    let bad = data.join("bad-directory.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(KENT).unwrap()).unwrap();
    v["services"][3]["dispositions"] = json!(["Dx999"]);
    std::fs::write(&bad, v.to_string()).unwrap();
    let (code, _, err) = switchboard(&[
        "dos",
        "import",
        "--data",
        d,
        "--org",
        "1",
        "--directory",
        bad.to_str().unwrap(),
        "--pathways",
        PATHWAYS,
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("services[3].dispositions[0]: Dx999 is not a disposition of the pathway set"),
        "{err}"
    );
    let server = start(&data, addr);

    let mon = |h, m| next_monday(h, m);
    let mut cases = vec![
        case("pharmacy at lunch", mon(13, 10), 1003, &[4303], "Dx80"),
        case("UTC for a toddler", mon(10, 0), 1001, &[4102], "Dx89"),
        case("dental in the night", mon(3, 0), 1002, &[4202], "Dx17"),
        case("own GP", mon(10, 0), 1003, &[4302], "Dx05"),
        case(
            "repeated and invalid SDs",
            mon(10, 0),
            1003,
            &[4303, 4101, 4303],
            "Dx80",
        ),
        case("no valid SD", mon(10, 0), 1003, &[4101], "Dx80"),
        case("unknown group", mon(10, 0), 1004, &[4402], "Dx80"),
        case("sector distance", mon(10, 0), 1003, &[4303], "Dx80"),
        case("forced distance", mon(10, 0), 1003, &[4303], "Dx80"),
        case("winter strategy", mon(10, 0), 1001, &[4102], "Dx89"),
        case("unknown strategy", mon(10, 0), 1003, &[4303], "Dx80"),
    ];
    cases[1].age = "13m";
    cases[3].gp = Some("G99001");
    cases[7].postcode = "ME12 1AB";
    cases[8].distance = Some((3, true));
    cases[9].strategy = Some("medway-winter");
    cases[10].strategy = Some("surrey");
    let mut baby = case("UTC for a baby", mon(10, 0), 1001, &[4102], "Dx89");
    baby.age = "3m";
    let mut too_old = case("a bad age", mon(10, 0), 1003, &[4303], "Dx80");
    too_old.age = "32d";
    let mut sex_i = case("gender I", mon(10, 0), 1003, &[4303], "Dx80");
    sex_i.sex = "I";
    cases.extend([baby, too_old, sex_i]);
    let mut answers = std::collections::BTreeMap::new();
    for c in &cases {
        answers.insert(c.name, agree(addr, KENT, c));
    }
    let ranked = |n: &str| -> Vec<String> {
        answers[n]["ranked"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ranked("pharmacy at lunch"),
        ["ph-sittingbourne-high-st", "ph-sittingbourne-station"]
    );
    assert_eq!(ranked("UTC for a toddler"), ["utc-sheppey"]);
    // A 3-month-old is too young for the UTC: a gap on age, and the
    // catch-all's emergency department.
    assert_eq!(ranked("UTC for a baby"), ["RPA01"]);
    assert_eq!(answers["UTC for a baby"]["catch_all"], true);
    assert!(answers["UTC for a baby"]["gaps"]
        .as_array()
        .unwrap()
        .contains(&json!({"id": "utc-sheppey", "filter": "age"})));
    assert_eq!(
        ranked("dental in the night"),
        ["RPA01"],
        "Medway Maritime, not a name guess"
    );
    assert_eq!(ranked("own GP"), ["gp-sittingbourne-1"]);
    assert_eq!(
        answers["repeated and invalid SDs"]["dropped_discriminators"],
        json!([4101, 4303])
    );
    assert_eq!(answers["no valid SD"]["error"], "invalid_sd");
    assert_eq!(answers["unknown group"]["error"], "invalid_sg");
    assert_eq!(answers["a bad age"]["error"], "invalid_age");
    assert_eq!(answers["unknown strategy"]["error"], "invalid_strategy");
    assert_eq!(
        (
            &answers["sector distance"]["search_distance_km"],
            &answers["sector distance"]["search_distance_source"]
        ),
        (&json!(25), &json!("sector"))
    );
    assert_eq!(
        answers["forced distance"]["search_distance_source"],
        "override"
    );
    assert_eq!(
        ranked("forced distance"),
        ["ph-sittingbourne-high-st", "ph-sittingbourne-station"]
    );
    assert_eq!(answers["winter strategy"]["strategy"], "medway-winter");
    assert_eq!(
        answers["pharmacy at lunch"]["search_distance_source"],
        "district"
    );
    // The text answer explains each service near the patient.
    let c = &cases[0];
    let (code, out, _) = switchboard(&[
        "dos",
        "search",
        "--directory",
        KENT,
        "--postcode",
        c.postcode,
        "--centroids",
        &cents,
        "--at",
        &c.at,
        "--age",
        "40y",
        "--sex",
        "F",
        "--sg",
        "1003",
        "--sd",
        "4303",
        "--disposition",
        "Dx80",
        "--timeframe",
        "360",
    ]);
    assert_eq!(code, 0);
    for line in [
        "Search distance 15 km (district), ranking strategy kent",
        "ph-faversham-late",
        "passed every filter, but type 13 already has its 2 results",
        "filtered out by symptom_discriminator and disposition",
        "left out: only for other practices' patients",
        "left out: not active",
    ] {
        assert!(out.contains(line), "missing '{line}' in:\n{out}");
    }

    // The DoS lead's work. Find the pharmacy.
    let (s, list) = call(addr, "GET", "/api/v1/dos/services?q=high%20street", None);
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["total"], 1, "{list}");
    let id = list["services"][0]["id"].as_u64().unwrap();
    let mut profile = list["services"][0]["service"].clone();
    assert_eq!(profile["id"], "ph-sittingbourne-high-st");
    // Monday: open through lunch from now on.
    profile["opening"]["weekly"]["mon"] = json!([["09:00", "17:30"]]);
    let (s, saved) = call(
        addr,
        "PUT",
        &format!("/api/v1/dos/services/{id}"),
        Some(&profile),
    );
    assert_eq!(s, 200, "{saved}");
    assert_eq!(saved["changed"], json!(["opening.weekly.mon"]));
    // The next search sees it: at 13:10 it is open now (it was shut
    // until 14:00) — and the CLI on the exported directory agrees.
    let (s, exported) = call(addr, "GET", "/api/v1/dos/directory", None);
    assert_eq!(s, 200);
    let after = data.join("after.json");
    std::fs::write(&after, exported.to_string()).unwrap();
    let lunch = case("lunch after the change", mon(12, 40), 1003, &[4303], "Dx80");
    let before = agree(addr, after.to_str().unwrap(), &lunch);
    assert_eq!(before["ranked"][0], "ph-sittingbourne-high-st", "{before}");
    // Before the change, with a 20-minute timeframe (a 30-minute window):
    // shut at 12:40 (it closed at 13:00) until 14:00.
    let mut short = lunch.clone();
    short.cli_timeframe = Some(20);
    let (_, old) = cli(KENT, &short);
    assert!(
        old["gaps"]
            .as_array()
            .unwrap()
            .contains(&json!({"id": "ph-sittingbourne-high-st", "filter": "session_times"})),
        "before the change it was shut at 12:40 + 30 min: {old}"
    );
    // Who changed what, from the audit log.
    let (s, detail) = call(addr, "GET", &format!("/api/v1/dos/services/{id}"), None);
    assert_eq!(s, 200);
    let what = detail["history"][0]["what"].as_str().unwrap();
    assert!(what.contains("opening.weekly.mon"), "{detail}");
    assert!(what.contains("17:30"), "{detail}");
    assert!(detail["history"][0]["actor"]
        .as_str()
        .unwrap()
        .contains("kent.supervisor"));
    // A refused change names the field and leaves the profile as it was.
    let mut bad = profile.clone();
    bad["opening"]["weekly"]["tue"] = json!([["09:00", "13:00"], ["12:30", "18:00"]]);
    let (s, e) = call(
        addr,
        "PUT",
        &format!("/api/v1/dos/services/{id}"),
        Some(&bad),
    );
    assert_eq!(s, 422, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .starts_with("opening.weekly.tue[1]: "),
        "{e}"
    );
    let mut bad = profile.clone();
    bad["type_id"] = json!(999);
    let (s, e) = call(
        addr,
        "PUT",
        &format!("/api/v1/dos/services/{id}"),
        Some(&bad),
    );
    assert_eq!(
        (s, e["error"].as_str()),
        (422, Some("type_id: 999 is not one of service_types"))
    );
    let (_, now) = call(addr, "GET", &format!("/api/v1/dos/services/{id}"), None);
    assert_eq!(now["service"], profile, "unchanged");
    // Capacity has its own endpoint: a profile saved from a copy read
    // before it was set keeps it (on the first version, PUT put it back).
    let (s, _) = call(
        addr,
        "PUT",
        &format!("/api/v1/dos/services/{id}/capacity"),
        Some(&json!({"rag": "amber", "reset_minutes": 60})),
    );
    assert_eq!(s, 200);
    let (s, saved) = call(
        addr,
        "PUT",
        &format!("/api/v1/dos/services/{id}"),
        Some(&profile),
    );
    assert_eq!(s, 200, "{saved}");
    assert_eq!(
        (&saved["capacity_now"], &saved["changed"]),
        (&json!("amber"), &json!([])),
        "{saved}"
    );
    // An agent may read but not change the directory.
    let agent = login(addr, "kent.agent", DEMO_PASSWORD).expect("the demo agent");
    let (s, _, _) = http_with(
        addr,
        "PUT",
        &format!("/api/v1/dos/services/{id}"),
        Some(&profile.to_string()),
        &agent,
    )
    .unwrap();
    assert_eq!(s, 403);
    // A new walk-in pharmacy, found by the next search; a second with the
    // same id is refused.
    let new = json!({
        "id": "ph-new-walk-in", "name": "New Walk-in Pharmacy (demo)", "type_id": 13,
        "postcode": "ME10 4XX", "easting": 590650, "northing": 163950,
        "sg_sd": [[1003, 4303]], "dispositions": ["Dx80"], "genders": ["M", "F", "I"],
        "opening": {"open_all_hours": true}
    });
    let (s, made) = call(addr, "POST", "/api/v1/dos/services", Some(&new));
    assert_eq!(s, 201, "{made}");
    let new_id = made["id"].as_u64().unwrap();
    let (s, _) = call(addr, "POST", "/api/v1/dos/services", Some(&new));
    assert_eq!(s, 409);
    let night = case("night pharmacy", mon(23, 0), 1003, &[4303], "Dx80");
    let (_, r) = api(addr, &night);
    assert!(
        r["dos"]["ranked"]
            .as_array()
            .unwrap()
            .contains(&json!("ph-new-walk-in")),
        "{r}"
    );
    // Closed: no longer returned.
    let (s, closed) = call(
        addr,
        "POST",
        &format!("/api/v1/dos/services/{new_id}/close"),
        Some(&json!({})),
    );
    assert_eq!(s, 200, "{closed}");
    assert_eq!(closed["service"]["status"], "closed");
    let (_, r) = api(addr, &night);
    assert!(
        !r["dos"]["ranked"]
            .as_array()
            .unwrap()
            .contains(&json!("ph-new-walk-in")),
        "{r}"
    );
    // `dos export` writes what the API exports.
    let (_, exported) = call(addr, "GET", "/api/v1/dos/directory", None);
    let (code, out, err) = switchboard(&["dos", "export", "--data", d, "--org", "1"]);
    assert_eq!(code, 0, "{err}");
    let from_cli: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(from_cli, exported);
    // After a restart the changes are still in force.
    kill(server, std::path::Path::new("/nonexistent"));
    let server = start(&data, addr);
    let again = agree(addr, after.to_str().unwrap(), &lunch);
    assert_eq!(again["ranked"][0], "ph-sittingbourne-high-st");
    kill(server, &data);
}
