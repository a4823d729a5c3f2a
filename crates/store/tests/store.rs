//! The store: inputs survive a reopen and rebuild the same engine; the
//! audit chain detects a changed, deleted or reordered record.

use model::{Channel, ContactId, OrgId, Timestamp};
use routing::{demo, Engine, Input, NewContact};
use store::{recover, AuditCheck, AuditRecord, SqliteStore, Store};

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sb-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn inputs_survive_a_reopen_and_rebuild_the_same_engine() {
    let dir = tempdir("replay");
    let mut live = Engine::new(demo::kent_community_trust(), Timestamp::ZERO).unwrap();
    {
        let mut st = SqliteStore::open(&dir).unwrap();
        let org = st
            .create_organisation("Kent", &demo::kent_community_trust(), Timestamp::ZERO)
            .unwrap();
        assert_eq!(org, OrgId(1));
        // A morning: agents log in, calls arrive, some are answered, one
        // rejected input (a duplicate id) is logged and refused again.
        let mut inputs: Vec<(Timestamp, Input)> = Vec::new();
        for (i, a) in [1u32, 3, 8].iter().enumerate() {
            inputs.push((
                Timestamp(i as i64 * 1000),
                Input::SetPresence {
                    agent: model::AgentId(*a),
                    presence: routing::Presence::Ready,
                },
            ));
        }
        for i in 0..50u64 {
            let q = [demo::WHEELCHAIRS, demo::DISTRICT_NURSING, demo::SPA][i as usize % 3];
            inputs.push((
                Timestamp(5_000 + i as i64 * 700),
                Input::Arrive(NewContact::new(ContactId(i + 1), q, Channel::Voice)),
            ));
        }
        inputs.push((
            Timestamp(60_000),
            Input::Arrive(NewContact::new(ContactId(1), demo::PHYSIO, Channel::Voice)),
        ));
        for (t, input) in &inputs {
            let _ = live.handle(*t, input.clone());
        }
        // Logged in batches, as requests commit.
        let logged: Vec<_> = inputs.iter().map(|(t, i)| (org, *t, i.clone())).collect();
        for chunk in logged.chunks(7) {
            st.append(&store::Batch {
                inputs: chunk.to_vec(),
                ..Default::default()
            })
            .unwrap();
        }
        // The store is dropped without a clean shutdown.
    }
    let st = SqliteStore::open(&dir).unwrap();
    let rebuilt = recover(&st, OrgId(1)).unwrap();
    rebuilt.check_consistency().unwrap();
    assert_eq!(rebuilt.contact_ids(), live.contact_ids());
    for q in [demo::WHEELCHAIRS, demo::DISTRICT_NURSING, demo::SPA] {
        assert_eq!(
            rebuilt.waiting_in_order(q),
            live.waiting_in_order(q),
            "queue {q}: places kept"
        );
    }
    for id in live.contact_ids() {
        assert_eq!(rebuilt.contact(id), live.contact(id));
    }
    assert_eq!(rebuilt.poll_timeout(), live.poll_timeout());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_audit_chain_detects_changes_deletions_and_reordering() {
    let dir = tempdir("audit");
    let mut st = SqliteStore::open(&dir).unwrap();
    for i in 0..20 {
        st.append_audit(&AuditRecord {
            at: Timestamp(i * 1000),
            org: Some(OrgId(1)),
            actor: format!("user{}", i % 3),
            action: "read".into(),
            subject: format!("patient record {i}"),
            patient: Some("9990000018".into()),
            purpose: Some("direct care".into()),
            origin: Some("127.0.0.1".into()),
            outcome: "allowed".into(),
        })
        .unwrap();
    }
    assert_eq!(
        st.verify_audit().unwrap(),
        AuditCheck::Intact { records: 20 }
    );
    drop(st);
    let raw = rusqlite::Connection::open(dir.join("switchboard.db")).unwrap();
    let check = || SqliteStore::open(&dir).unwrap().verify_audit().unwrap();
    // Changed: someone rewrites who read the record.
    raw.execute("UPDATE audit_log SET actor = 'nobody' WHERE seq = 7", [])
        .unwrap();
    assert_eq!(
        check(),
        AuditCheck::Broken {
            seq: 7,
            problem: "was changed after it was written".into()
        }
    );
    raw.execute("UPDATE audit_log SET actor = 'user0' WHERE seq = 7", [])
        .unwrap();
    assert_eq!(check(), AuditCheck::Intact { records: 20 });
    // Reordered: two records swap places.
    raw.execute("UPDATE audit_log SET seq = -1 WHERE seq = 10", [])
        .unwrap();
    raw.execute("UPDATE audit_log SET seq = 10 WHERE seq = 11", [])
        .unwrap();
    raw.execute("UPDATE audit_log SET seq = 11 WHERE seq = -1", [])
        .unwrap();
    assert!(
        matches!(check(), AuditCheck::Broken { seq: 10, .. }),
        "{:?}",
        check()
    );
    // Deleted.
    raw.execute("DELETE FROM audit_log WHERE seq = 4", [])
        .unwrap();
    assert_eq!(
        check(),
        AuditCheck::Broken {
            seq: 4,
            problem: "record 4 is missing".into()
        }
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The contact id sequence moves past every id used below 2^53 (the ids
/// every JSON client reads exactly), and ids above it — clinical callbacks
/// once took ids from 2^62 — do not drag it there, neither as they are
/// logged nor when an old log's sequence is rebuilt.
#[test]
fn the_contact_id_sequence_stays_where_json_clients_read_it_exactly() {
    let dir = tempdir("sequence");
    let mut st = SqliteStore::open(&dir).unwrap();
    let org = st
        .create_organisation("Kent", &demo::kent_community_trust(), Timestamp::ZERO)
        .unwrap();
    assert_eq!(st.next_contact_id().unwrap(), 1);
    let arrive = |id: u64| {
        (
            org,
            Timestamp(1_000),
            Input::Arrive(NewContact::new(ContactId(id), demo::SPA, Channel::Voice)),
        )
    };
    st.append(&store::Batch {
        inputs: vec![arrive(41), arrive((1 << 62) | 4007), arrive(7)],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(st.next_contact_id().unwrap(), 42);
    // A log from before the sequence: rebuilt from the log on open.
    drop(st);
    let raw = rusqlite::Connection::open(dir.join("switchboard.db")).unwrap();
    raw.execute("DELETE FROM meta WHERE key = 'next_contact_id'", [])
        .unwrap();
    assert_eq!(
        SqliteStore::open(&dir).unwrap().next_contact_id().unwrap(),
        42
    );
    let _ = std::fs::remove_dir_all(&dir);
}
