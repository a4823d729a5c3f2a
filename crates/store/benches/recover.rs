//! Restart time and memory with a long history: a SQLite input log of
//! RECOVER_INPUTS (default 10,000,000) inputs of contact-centre traffic
//! (the demo trust: calls arriving, offered, answered, ended, wrapped up,
//! some abandoned; `tests/common/workload.rs`), with a snapshot written
//! RECOVER_TAIL (default 100,000, the server's default snapshot interval:
//! the worst case) inputs before the end.
//!
//! Measured: writing the log; one full replay (no snapshot); then five
//! restarts from the snapshot plus the tail, each in a fresh process (so
//! its peak memory is its own): median time and peak RSS.
//!
//! Run: `cargo bench -p store --bench recover`
//! (RECOVER_INPUTS=N RECOVER_TAIL=M to change).

#[allow(dead_code)] // `traffic` is for the tests
#[path = "../tests/common/workload.rs"]
mod workload;

use model::{OrgId, Timestamp};
use routing::demo;
use std::time::Instant;
use store::{recover_all, SqliteStore, Store};

/// One call every 15 s: the demo trust's 12 agents keep up (at one every 6 s
/// the queues grow without end, and so would any engine's state).
const GAP_MS: i64 = 15_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn fresh_kpi(c: &routing::Config) -> kpi::Kpi {
    kpi::Kpi::new(kpi::KpiConfig::from_routing(
        model::DurationMs::from_secs(15 * 60),
        c,
    ))
}

/// Peak resident memory of this process, in MiB (Linux).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One restart, in this (fresh) process: prints seconds, replayed, peak MiB.
fn restart_once(dir: &std::path::Path) {
    let t0 = Instant::now();
    let st = SqliteStore::open(dir).unwrap();
    let r = recover_all(&st, &fresh_kpi).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let t = &r.tenants[&OrgId(1)];
    assert!(t.snapshot.is_some(), "{:?}", r.notes);
    println!(
        "{secs} {} {} {}",
        t.replayed,
        peak_rss_mib(),
        t.state.engine.live_contacts()
    );
}

fn append(st: &mut SqliteStore, batch: &mut Vec<(OrgId, Timestamp, routing::Input)>) {
    st.append(&store::Batch {
        inputs: std::mem::take(batch),
        ..Default::default()
    })
    .unwrap();
}

/// A snapshot of `org` as the server writes one: KPI intervals older
/// than 8 days move to the store with it. Returns it and how many moved.
fn snapshot(
    st: &mut SqliteStore,
    org: OrgId,
    r: &mut store::Recovery,
) -> (store::SnapshotInfo, usize) {
    let last = r.last_seq;
    let state = &mut r.tenants.get_mut(&org).unwrap().state;
    let (before, rows) = state
        .kpi
        .retire(Timestamp(state.engine.now().0 - 8 * 86_400_000));
    let moved = rows.len();
    let info = st
        .save_snapshot(
            org,
            last,
            &state.engine,
            &state.kpi,
            &store::Retired { before, rows },
        )
        .unwrap();
    (info, moved)
}

/// Removes one snapshot (so the restarts measure the tail they mean to).
fn delete_snapshot(dir: &std::path::Path, seq: u64) {
    let db = rusqlite::Connection::open(dir.join("switchboard.db")).unwrap();
    db.execute("DELETE FROM snapshots WHERE seq = ?1", [seq as i64])
        .unwrap();
}

fn main() {
    if let Ok(dir) = std::env::var("RECOVER_RESTART_ONLY") {
        restart_once(std::path::Path::new(&dir));
        return;
    }
    let n = env("RECOVER_INPUTS", 10_000_000);
    let tail = env("RECOVER_TAIL", 100_000).min(n);
    let dir = std::env::temp_dir().join(format!("sb-recover-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut st = SqliteStore::open(&dir).unwrap();
    let org = st
        .create_organisation("bench", &demo::kent_community_trust(), Timestamp::ZERO)
        .unwrap();
    // The history up to the snapshot.
    let t0 = Instant::now();
    let mut traffic = workload::Traffic::new(GAP_MS);
    let mut batch = Vec::with_capacity(10_000);
    for _ in 0..n - tail {
        let (t, i) = traffic.next_input();
        batch.push((org, t, i));
        if batch.len() == 10_000 {
            append(&mut st, &mut batch);
        }
    }
    append(&mut st, &mut batch);
    let write = t0.elapsed().as_secs_f64();
    // A full replay of it, as a restart without snapshots would do.
    let t0 = Instant::now();
    let full = recover_all(&st, &fresh_kpi).unwrap();
    let replay = t0.elapsed().as_secs_f64();
    let mut full = full;
    let t0 = Instant::now();
    let (info, moved) = snapshot(&mut st, org, &mut full);
    let snap = t0.elapsed().as_secs_f64();
    drop(full);
    // The tail after the snapshot.
    for _ in 0..tail {
        let (t, i) = traffic.next_input();
        batch.push((org, t, i));
        if batch.len() == 10_000 {
            append(&mut st, &mut batch);
        }
    }
    append(&mut st, &mut batch);
    drop(st);
    let days = traffic.engine.now().0 as f64 / 86_400_000.0;
    eprintln!(
        "log of {n} inputs ({days:.0} days of traffic, {} live contacts at the end) written in {write:.1} s; full replay of {} inputs {replay:.2} s; snapshot of {} KiB (with {moved} KPI intervals moved to the store) written in {snap:.2} s",
        traffic.engine.live_contacts(),
        n - tail,
        info.bytes / 1024,
    );
    let exe = std::env::current_exe().unwrap();
    // A snapshot as the server writes it in steady state: one interval
    // of inputs after the last, moving that interval's old KPI rows.
    if tail > 0 {
        let mut st = SqliteStore::open(&dir).unwrap();
        let mut r = recover_all(&st, &fresh_kpi).unwrap();
        let last = r.last_seq;
        let t0 = Instant::now();
        let (_, moved) = snapshot(&mut st, org, &mut r);
        eprintln!(
            "steady-state snapshot {tail} inputs after the last: {:.3} s, {moved} KPI intervals moved",
            t0.elapsed().as_secs_f64()
        );
        // The restarts below start from the earlier snapshot, as measured.
        drop(st);
        delete_snapshot(&dir, last);
    }
    let mut runs: Vec<(f64, u64, f64, usize)> = (0..5)
        .map(|_| {
            let out = std::process::Command::new(&exe)
                .env("RECOVER_RESTART_ONLY", &dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            let v: Vec<&str> = text.split_whitespace().collect();
            (
                v[0].parse().unwrap(),
                v[1].parse().unwrap(),
                v[2].parse().unwrap(),
                v[3].parse().unwrap(),
            )
        })
        .collect();
    runs.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let (med, replayed, rss, live) = runs[2];
    println!(
        "restart from a snapshot plus {replayed} tail inputs of a {n}-input log ({live} live contacts): median {med:.3} s over 5 (min {:.3}, max {:.3}), peak RSS {rss:.0} MiB",
        runs[0].0, runs[4].0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
