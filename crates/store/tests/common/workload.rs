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
    let mut t = Traffic::new(gap_ms);
    for _ in 0..n {
        let (at, input) = t.next_input();
        sink(at, input);
    }
    t.engine
}

/// The traffic as a generator: each [`Traffic::next_input`] is the next
/// logged input (already taken by [`Traffic::engine`]).
pub struct Traffic {
    pub engine: Engine,
    gap_ms: i64,
    queues: Vec<model::QueueId>,
    pending: BTreeMap<(Timestamp, u64), Input>,
    k: u64,
    next_call: Timestamp,
    id: u64,
}

impl Traffic {
    pub fn new(gap_ms: i64) -> Traffic {
        let config = demo::kent_community_trust();
        let agents: Vec<AgentId> = config.agents.iter().map(|a| a.id).collect();
        let mut t = Traffic {
            engine: Engine::new(config, Timestamp::ZERO).expect("the demo configuration"),
            gap_ms,
            queues: vec![
                demo::WHEELCHAIRS,
                demo::DISTRICT_NURSING,
                demo::PHYSIO,
                demo::WELLBEING,
                demo::SPA,
                demo::PARAMEDIC,
            ],
            pending: BTreeMap::new(),
            k: 0,
            next_call: Timestamp(1_000),
            id: 0,
        };
        for (j, a) in agents.iter().enumerate() {
            t.at(
                Timestamp(j as i64),
                Input::SetPresence {
                    agent: *a,
                    presence: Presence::Ready,
                },
            );
        }
        t
    }

    fn at(&mut self, t: Timestamp, i: Input) {
        self.k += 1;
        self.pending.insert((t, self.k), i);
    }

    pub fn next_input(&mut self) -> (Timestamp, Input) {
        let due = self.pending.keys().next().copied();
        let (t, input) = match due {
            Some((t, key)) if t <= self.next_call => (t, self.pending.remove(&(t, key)).unwrap()),
            _ => {
                self.id += 1;
                let id = self.id;
                let mut nc = NewContact::new(
                    ContactId(id),
                    self.queues[id as usize % self.queues.len()],
                    Channel::Voice,
                );
                nc.priority = (id % 3) as i32;
                let t = self.next_call;
                self.next_call = Timestamp(t.0 + self.gap_ms);
                if id.is_multiple_of(9) {
                    self.at(
                        Timestamp(t.0 + 20_000),
                        Input::Abandon {
                            contact: ContactId(id),
                        },
                    );
                }
                (t, Input::Arrive(nc))
            }
        };
        let t = t.max(self.engine.now());
        let _ = self.engine.handle(t, input.clone());
        for r in self.engine.drain_output().collect::<Vec<_>>() {
            match r.event {
                Event::Offered { contact, agent, .. } => {
                    self.at(Timestamp(r.at.0 + 2_000), Input::Accept { agent, contact })
                }
                Event::Answered { contact, .. } => self.at(
                    Timestamp(r.at.0 + 30_000 + (contact.0 as i64 % 7) * 10_000),
                    Input::End { contact },
                ),
                Event::WrapUpStarted { agent, contact, .. } => self.at(
                    Timestamp(r.at.0 + 5_000),
                    Input::WrapUpDone { agent, contact },
                ),
                _ => {}
            }
        }
        (t, input)
    }
}
