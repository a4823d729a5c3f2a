//! A contact centre's traffic as a log: agents ready, calls arriving
//! round the demo trust's queues, answered, ended and wrapped up, some
//! abandoned — every input as the server would log it, with the engine
//! that took them. Shared by the store tests and the restart benchmark.

use model::{AgentId, Channel, ContactId, Timestamp};
use routing::{demo, Engine, Event, Input, NewContact, Presence};
use std::collections::BTreeMap;

/// `n` logged inputs of traffic on the demo trust, one call arriving every
/// `gap_ms`, handed to `sink` in order; returns the engine that took them.
pub fn traffic(n: u64, gap_ms: i64, sink: &mut dyn FnMut(Timestamp, Input)) -> Engine {
    let config = demo::kent_community_trust();
    let agents: Vec<AgentId> = config.agents.iter().map(|a| a.id).collect();
    let mut engine = Engine::new(config, Timestamp::ZERO).expect("the demo configuration");
    let queues = [
        demo::WHEELCHAIRS,
        demo::DISTRICT_NURSING,
        demo::PHYSIO,
        demo::WELLBEING,
        demo::SPA,
        demo::PARAMEDIC,
    ];
    let mut pending: BTreeMap<(Timestamp, u64), Input> = BTreeMap::new();
    let mut k = 0u64;
    let mut at = |pending: &mut BTreeMap<(Timestamp, u64), Input>, t: Timestamp, i: Input| {
        k += 1;
        pending.insert((t, k), i);
    };
    for (j, a) in agents.iter().enumerate() {
        at(
            &mut pending,
            Timestamp(j as i64),
            Input::SetPresence {
                agent: *a,
                presence: Presence::Ready,
            },
        );
    }
    let (mut next_call, mut id, mut logged) = (Timestamp(1_000), 0u64, 0u64);
    while logged < n {
        let due = pending.keys().next().copied();
        let (t, input) = match due {
            Some((t, key)) if t <= next_call => (t, pending.remove(&(t, key)).unwrap()),
            _ => {
                id += 1;
                let mut nc = NewContact::new(
                    ContactId(id),
                    queues[id as usize % queues.len()],
                    Channel::Voice,
                );
                nc.priority = (id % 3) as i32;
                let t = next_call;
                next_call = Timestamp(t.0 + gap_ms);
                if id % 9 == 0 {
                    at(
                        &mut pending,
                        Timestamp(t.0 + 20_000),
                        Input::Abandon {
                            contact: ContactId(id),
                        },
                    );
                }
                (t, Input::Arrive(nc))
            }
        };
        let t = t.max(engine.now());
        let _ = engine.handle(t, input.clone());
        sink(t, input);
        logged += 1;
        for r in engine.drain_output().collect::<Vec<_>>() {
            match r.event {
                Event::Offered { contact, agent, .. } => at(
                    &mut pending,
                    Timestamp(r.at.0 + 2_000),
                    Input::Accept { agent, contact },
                ),
                Event::Answered { contact, .. } => at(
                    &mut pending,
                    Timestamp(r.at.0 + 30_000 + (contact.0 as i64 % 7) * 10_000),
                    Input::End { contact },
                ),
                Event::WrapUpStarted { agent, contact, .. } => at(
                    &mut pending,
                    Timestamp(r.at.0 + 5_000),
                    Input::WrapUpDone { agent, contact },
                ),
                _ => {}
            }
        }
    }
    engine
}
