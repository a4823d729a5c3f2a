//! Architecture invariant: the pure crates (model, routing, kpi, wfm, sim,
//! flow, forecast, plan, pathway, dos, telephony, callctl) depend on no async runtime, database, JSON library or web
//! framework, never read the clock or an unseeded random source, and do no
//! I/O and start no threads. Checked here on their manifests
//! and sources.

use std::path::{Path, PathBuf};

const PURE: [&str; 12] = [
    "model",
    "routing",
    "kpi",
    "wfm",
    "sim",
    "flow",
    "forecast",
    "plan",
    "pathway",
    "dos",
    "telephony",
    "callctl",
];
/// Pure too, but their output is JSON (a mapping to a published format):
/// they may depend on serde_json and nothing else forbidden.
const JSON_MAPPERS: [&str; 1] = ["fhir"];
const FORBIDDEN_DEPS: [&str; 12] = [
    "tokio",
    "axum",
    "sqlx",
    "rusqlite",
    "serde_json",
    "hyper",
    "rand",
    "chrono",
    "async-std",
    "fastrand",
    "getrandom",
    "reqwest",
];
const FORBIDDEN_CALLS: [&str; 9] = [
    "Instant::now",
    "SystemTime::now",
    "thread_rng",
    "rand::random",
    "std::net",
    "std::thread",
    "std::fs",
    "std::io",
    "std::env",
];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn pure_crates_have_no_io_dependencies() {
    for name in PURE.iter().chain(&JSON_MAPPERS) {
        let json_mapper = JSON_MAPPERS.contains(name);
        let manifest = std::fs::read_to_string(crates_dir().join(name).join("Cargo.toml")).unwrap();
        // Only [dependencies]; dev-dependencies may be anything.
        let deps: String = manifest
            .split("\n[")
            .filter(|section| section.starts_with("dependencies]"))
            .collect();
        for dep in FORBIDDEN_DEPS {
            if json_mapper && dep == "serde_json" {
                continue;
            }
            let found = deps.lines().any(|l| {
                l.trim_start().starts_with(&format!("{dep} "))
                    || l.trim_start().starts_with(&format!("{dep}."))
                    || l.trim_start().starts_with(&format!("{dep}="))
            });
            assert!(!found, "crate {name} depends on {dep}");
        }
    }
}

#[test]
fn pure_crates_never_read_the_clock_or_unseeded_randomness() {
    let mut checked = 0;
    for name in PURE.iter().chain(&JSON_MAPPERS) {
        let mut files = Vec::new();
        rust_files(&crates_dir().join(name).join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for call in FORBIDDEN_CALLS {
                assert!(!text.contains(call), "{} uses {call}", f.display());
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} files checked: wrong directory?"
    );
}
