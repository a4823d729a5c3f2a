//! Snapshots and log formats: a restart from a snapshot replays only the
//! tail and ends exactly where a full replay does; a damaged snapshot, or
//! one in another state format, is passed over (and the reason said); a
//! log from a newer Switchboard is refused; a log written in format 1 (a
//! committed fixture) is still read, to the same state.

mod common;

use common::workload::traffic;
use model::{OrgId, Timestamp};
use routing::{demo, Engine, Input};
use store::{recover_all, Recovery, SqliteStore, Store, StoreError, TenantState};

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sb-snap-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn fresh_kpi(c: &routing::Config) -> kpi::Kpi {
    kpi::Kpi::new(kpi::KpiConfig::from_routing(
        model::DurationMs::from_secs(15 * 60),
        c,
    ))
}

fn recover(st: &SqliteStore) -> Recovery {
    recover_all(st, &fresh_kpi).unwrap()
}

/// A store holding `n` inputs of traffic, logged in batches of 50.
fn store_with_traffic(dir: &std::path::Path, n: u64) -> (SqliteStore, Vec<(Timestamp, Input)>) {
    store_with_traffic_every(dir, n, 4_000)
}

/// As [`store_with_traffic`], a call every `gap_ms`.
fn store_with_traffic_every(
    dir: &std::path::Path,
    n: u64,
    gap_ms: i64,
) -> (SqliteStore, Vec<(Timestamp, Input)>) {
    let mut st = SqliteStore::open(dir).unwrap();
    let org = st
        .create_organisation("Kent", &demo::kent_community_trust(), Timestamp::ZERO)
        .unwrap();
    let mut inputs = Vec::new();
    traffic(n, gap_ms, &mut |t, i| inputs.push((t, i)));
    append(&mut st, org, &inputs);
    (st, inputs)
}

fn append(st: &mut SqliteStore, org: OrgId, inputs: &[(Timestamp, Input)]) {
    for chunk in inputs.chunks(50) {
        st.append(&store::Batch {
            inputs: chunk.iter().map(|(t, i)| (org, *t, i.clone())).collect(),
            ..Default::default()
        })
        .unwrap();
    }
}

/// Everything an engine and its KPIs show, to compare two of them.
fn shown(s: &mut TenantState) -> String {
    let e = &s.engine;
    let mut out = format!("now {:?} timeout {:?}\n", e.now(), e.poll_timeout());
    for id in e.contact_ids() {
        out += &format!("{:?}\n", e.contact(id));
    }
    for a in e.agent_ids() {
        out += &format!("{:?}\n", e.agent(a));
    }
    for q in e.config().queues.iter() {
        out += &format!("{:?} {:?}\n", q.id, e.waiting_in_order(q.id));
    }
    s.kpi.close(Timestamp(e.now().0 + 60_000));
    out += &format!("{:?}", s.kpi.report());
    out
}

fn only(mut r: Recovery) -> (store::Recovered, Vec<String>) {
    assert_eq!(r.tenants.len(), 1);
    (r.tenants.remove(&OrgId(1)).unwrap(), r.notes)
}

#[test]
fn a_restart_from_a_snapshot_replays_only_the_tail_and_ends_where_a_full_replay_does() {
    let dir = tempdir("tail");
    let mut inputs = Vec::new();
    traffic(4_000, 4_000, &mut |t, i| inputs.push((t, i)));
    let mut st = SqliteStore::open(&dir).unwrap();
    let org = st
        .create_organisation("Kent", &demo::kent_community_trust(), Timestamp::ZERO)
        .unwrap();
    append(&mut st, org, &inputs[..3_000]);
    let (full, notes) = only(recover(&st));
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!((full.snapshot.is_none(), full.replayed), (true, 3_000));
    assert!(full.state.engine.live_contacts() > 0, "traffic is live");
    assert!(full
        .state
        .kpi
        .report()
        .iter()
        .any(|r| r.counts.answered > 0));

    // A snapshot after 3,000 entries, then 1,000 more: a restart replays
    // just those.
    let info = st
        .save_snapshot(
            org,
            3_000,
            &full.state.engine,
            &full.state.kpi,
            &store::Retired::default(),
        )
        .unwrap();
    assert_eq!(info.seq, 3_000);
    append(&mut st, org, &inputs[3_000..]);
    let (mut tail, notes) = only(recover(&st));
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(tail.snapshot.as_ref().map(|s| s.seq), Some(3_000));
    assert_eq!(tail.replayed, 1_000);

    // The same store without its snapshots: a full replay, to the same
    // state and the same figures.
    drop(st);
    let raw = rusqlite::Connection::open(dir.join("switchboard.db")).unwrap();
    let kept: Vec<u8> = raw
        .query_row("SELECT state FROM snapshots", [], |r| r.get(0))
        .unwrap();
    raw.execute("DELETE FROM snapshots", []).unwrap();
    let st = SqliteStore::open(&dir).unwrap();
    let (mut whole, _) = only(recover(&st));
    assert_eq!(whole.replayed, 4_000);
    assert_eq!(shown(&mut tail.state), shown(&mut whole.state));

    // The snapshot is what was saved, byte for byte.
    assert_eq!(
        kept,
        TenantState::encode(&full.state.engine, &full.state.kpi).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_or_foreign_snapshot_is_passed_over_and_the_log_replayed() {
    let dir = tempdir("damaged");
    let (mut st, _) = store_with_traffic(&dir, 1_500);
    let (mut at_1000, _) = {
        // The state after the first 1,000 entries, from a store of them.
        let d2 = tempdir("damaged-1000");
        let (st2, _) = store_with_traffic(&d2, 1_000);
        let r = only(recover(&st2));
        let _ = std::fs::remove_dir_all(&d2);
        r
    };
    let (mut at_1500, _) = only(recover(&st));
    st.save_snapshot(
        OrgId(1),
        1_000,
        &at_1000.state.engine,
        &at_1000.state.kpi,
        &store::Retired::default(),
    )
    .unwrap();
    st.save_snapshot(
        OrgId(1),
        1_500,
        &at_1500.state.engine,
        &at_1500.state.kpi,
        &store::Retired::default(),
    )
    .unwrap();
    drop(st);
    let raw = rusqlite::Connection::open(dir.join("switchboard.db")).unwrap();

    // A flipped byte in the latest: the one before it is used.
    raw.execute(
        "UPDATE snapshots SET state = CAST(substr(state, 1, 100) || X'FF' || substr(state, 102) AS BLOB) WHERE seq = 1500",
        [],
    )
    .unwrap();
    let (mut r, notes) = only(recover(&SqliteStore::open(&dir).unwrap()));
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("after log entry 1500") && notes[0].contains("damaged"),
        "{notes:?}"
    );
    assert_eq!(r.snapshot.as_ref().map(|s| s.seq), Some(1_000));
    assert_eq!(r.replayed, 500);
    assert_eq!(shown(&mut r.state), shown(&mut at_1500.state));

    // A snapshot in another state format, and one whose checksum fits but
    // whose bytes do not decode: the whole log is replayed.
    raw.execute(
        "UPDATE snapshots SET format = format + 1 WHERE seq = 1000",
        [],
    )
    .unwrap();
    let (r, notes) = only(recover(&SqliteStore::open(&dir).unwrap()));
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[1].contains("state format"), "{notes:?}");
    assert!(r.snapshot.is_none());
    assert_eq!(r.replayed, 1_500);
    let garbage = vec![7u8; 64];
    let sum: String = sha2_hex(&garbage);
    raw.execute(
        "UPDATE snapshots SET state = ?1, sha256 = ?2 WHERE seq = 1500",
        rusqlite::params![garbage, sum],
    )
    .unwrap();
    let (r, notes) = only(recover(&SqliteStore::open(&dir).unwrap()));
    assert!(notes[0].contains("cannot be decoded"), "{notes:?}");
    assert!(r.snapshot.is_none());
    let _ = shown(&mut at_1000.state);
    let _ = std::fs::remove_dir_all(&dir);
}

fn sha2_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[test]
fn a_log_from_a_newer_switchboard_is_refused_and_left_alone() {
    let dir = tempdir("newer");
    drop(store_with_traffic(&dir, 100));
    let raw = rusqlite::Connection::open(dir.join("switchboard.db")).unwrap();
    raw.execute("UPDATE meta SET value = '2' WHERE key = 'log_format'", [])
        .unwrap();
    let e = SqliteStore::open(&dir).err().expect("refused");
    assert!(matches!(e, StoreError::TooNew(_)), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("format 2") && m.contains("newer Switchboard") && m.contains("up to 1"),
        "{m}"
    );
    // Nothing was changed: the marker is still there.
    let v: String = raw
        .query_row("SELECT value FROM meta WHERE key = 'log_format'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(v, "2");
    // One entry in a newer format: the replay stops at it, naming it.
    raw.execute("UPDATE meta SET value = '1' WHERE key = 'log_format'", [])
        .unwrap();
    raw.execute("UPDATE input_log SET v = 2 WHERE seq = 40", [])
        .unwrap();
    let st = SqliteStore::open(&dir).unwrap();
    let m = recover_all(&st, &fresh_kpi)
        .err()
        .expect("refused")
        .to_string();
    assert!(m.contains("log entry 40 is in format 2"), "{m}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fixture: a log of 200 inputs of traffic written in format 1 by the
/// code of 2026-12-02, as SQL. Regenerate only when starting a new format
/// (then keep this one as `log-v1.sql` and its test as it is).
const FIXTURE_V1: &str = include_str!("fixtures/log-v1.sql");

#[test]
fn a_log_written_in_format_1_is_still_read_to_the_same_state() {
    let dir = tempdir("fixture");
    std::fs::create_dir_all(&dir).unwrap();
    {
        let raw = rusqlite::Connection::open(dir.join("switchboard.db")).unwrap();
        raw.execute_batch(FIXTURE_V1).unwrap();
    }
    let st = SqliteStore::open(&dir).unwrap();
    let (mut r, notes) = only(recover(&st));
    assert!(notes.is_empty());
    assert_eq!(r.replayed, 200);
    // The same traffic, taken by today's engine, ends in the same state.
    let today: Engine = traffic(200, 4_000, &mut |_, _| {});
    assert_eq!(r.state.engine.contact_ids(), today.contact_ids());
    for id in today.contact_ids() {
        assert_eq!(r.state.engine.contact(id), today.contact(id));
    }
    for a in today.agent_ids() {
        assert_eq!(r.state.engine.agent(a), today.agent(a));
    }
    // And its figures, as they were when the fixture was written.
    r.state.kpi.close(r.state.engine.now());
    let overall = r
        .state
        .kpi
        .report()
        .into_iter()
        .find(|row| row.interval_start.is_none() && row.dimension == kpi::Dimension::Overall)
        .unwrap();
    let c = &overall.counts;
    assert_eq!(
        (c.offered, c.answered, c.abandoned, c.handled),
        FIXTURE_V1_COUNTS,
        "{c:?}"
    );
    // The contact id sequence starts past every contact in the log.
    assert_eq!(st.next_contact_id().unwrap(), FIXTURE_V1_NEXT_ID);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Overall offered, answered, abandoned, handled of the fixture's log.
const FIXTURE_V1_COUNTS: (u64, u64, u64, u64) = (69, 49, 4, 38);
/// One past the last contact id in the fixture's log.
const FIXTURE_V1_NEXT_ID: u64 = 70;

/// Writes the fixture's database (run with `--ignored` and
/// `SB_WRITE_FIXTURE=DIR`, then dump it as SQL).
#[test]
#[ignore]
fn write_fixture_v1() {
    let dir = std::path::PathBuf::from(std::env::var("SB_WRITE_FIXTURE").unwrap());
    drop(store_with_traffic(&dir, 200));
}

/// The snapshot layout is pinned: a change to the engine's or the KPI
/// engine's fields changes these bytes, and must come with a new
/// [`store::STATE_FORMAT`] (so old snapshots are passed over, not
/// misread). Update both together.
#[test]
fn the_snapshot_layout_is_pinned() {
    let dir = tempdir("pinned");
    let (st, _) = store_with_traffic(&dir, 500);
    let (r, _) = only(recover(&st));
    let bytes = TenantState::encode(&r.state.engine, &r.state.kpi).unwrap();
    assert_eq!(
        (store::STATE_FORMAT, bytes.len(), sha2_hex(&bytes)),
        (
            4,
            6890,
            "5218ff0cee4b57ec6d17feddce99843b2edfd4f0dec5d66a8330683bb3774817".to_string()
        ),
        "the snapshot layout changed: raise store::STATE_FORMAT and pin the new layout here"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// KPI intervals retired with a snapshot are in the store, and they with
/// what the restored KPI engine holds make the full replay's figures.
#[test]
fn retired_kpi_intervals_are_kept_in_the_store_with_the_snapshot() {
    let dir = tempdir("kpi-history");
    // Light traffic: every call ends, so old intervals close for good.
    let (mut st, _) = store_with_traffic_every(&dir, 3_000, 15_000);
    let (mut full, _) = only(recover(&st));
    let now = full.state.engine.now();
    let intervals = |rows: Vec<kpi::Row>| -> Vec<(kpi::Dimension, Timestamp, kpi::Counts)> {
        rows.into_iter()
            .filter_map(|r| Some((r.dimension, r.interval_start?, r.counts)))
            .collect()
    };
    full.state.kpi.close(now);
    let mut everything = intervals(full.state.kpi.report());
    let (before, rows) = full.state.kpi.retire(Timestamp(now.0 - 3_600_000));
    assert!(rows.len() > 10, "{}", rows.len());
    assert_eq!(st.kpi_retired_before(OrgId(1)).unwrap(), None);
    st.save_snapshot(
        OrgId(1),
        3_000,
        &full.state.engine,
        &full.state.kpi,
        &store::Retired { before, rows },
    )
    .unwrap();
    assert_eq!(st.kpi_retired_before(OrgId(1)).unwrap(), Some(before));
    drop(st);
    let st = SqliteStore::open(&dir).unwrap();
    let (mut r, _) = only(recover(&st));
    r.state.kpi.close(now);
    let dir_ = store::directory::Directory::open(&dir).unwrap();
    let mut both = dir_
        .kpi_history(OrgId(1), Timestamp(i64::MIN), Timestamp(i64::MAX))
        .unwrap();
    assert!(both.iter().all(|(_, t, _)| *t < before));
    both.extend(intervals(r.state.kpi.report()));
    // In order, waits sorted (a report's percentiles reorder its copy).
    let key = |v: &mut Vec<(kpi::Dimension, Timestamp, kpi::Counts)>| {
        v.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        v.iter_mut()
            .for_each(|(_, _, c)| c.waits_ms.sort_unstable());
    };
    key(&mut both);
    key(&mut everything);
    assert_eq!(both, everything);
    let _ = std::fs::remove_dir_all(&dir);
}
