//! Restart time: open the SQLite store and rebuild the engine from a log
//! that leaves 100,000 contacts waiting (no agent ready).
//!
//! Run: `cargo bench -p store --bench recover` (RECOVER_CONTACTS=N to change).

use model::{Channel, ContactId, Timestamp};
use routing::{demo, Input, NewContact};
use std::time::Instant;
use store::{recover, SqliteStore, Store};

fn main() {
    let n: u64 = std::env::var("RECOVER_CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("sb-recover-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = demo::kent_community_trust();
    config.limits.max_live_contacts = 10_000_000;
    for q in &mut config.queues {
        q.max_waiting = 1_000_000;
        // No voicemail or moves: every contact is still waiting at the restart.
        q.overflow.retain(|s| {
            !matches!(
                s.action,
                routing::OverflowAction::Voicemail | routing::OverflowAction::MoveToQueue(_)
            )
        });
    }
    {
        let mut st = SqliteStore::open(&dir).unwrap();
        let org = st
            .create_organisation("bench", &config, Timestamp::ZERO)
            .unwrap();
        let queues = [
            demo::WHEELCHAIRS,
            demo::DISTRICT_NURSING,
            demo::PHYSIO,
            demo::WELLBEING,
            demo::SPA,
            demo::PARAMEDIC,
        ];
        let t0 = Instant::now();
        let inputs: Vec<(model::OrgId, Timestamp, Input)> = (0..n)
            .map(|i| {
                let mut nc = NewContact::new(
                    ContactId(i + 1),
                    queues[i as usize % queues.len()],
                    Channel::Voice,
                );
                nc.priority = (i % 3) as i32;
                (org, Timestamp(i as i64 * 10), Input::Arrive(nc))
            })
            .collect();
        for chunk in inputs.chunks(1000) {
            st.append(&store::Batch {
                inputs: chunk.to_vec(),
                ..Default::default()
            })
            .unwrap();
        }
        eprintln!(
            "wrote {n} inputs in {:.2} s (batches of 1000)",
            t0.elapsed().as_secs_f64()
        );
    }
    let mut times = Vec::new();
    let mut waiting = 0;
    for _ in 0..5 {
        let t0 = Instant::now();
        let st = SqliteStore::open(&dir).unwrap();
        let engine = recover(&st, model::OrgId(1)).unwrap();
        times.push(t0.elapsed().as_secs_f64());
        waiting = engine.live_contacts();
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "restart with {waiting} waiting contacts: median {:.3} s over 5 (min {:.3}, max {:.3}); includes opening the database, reading and decoding every input and replaying it through the engine",
        times[2], times[0], times[4]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
