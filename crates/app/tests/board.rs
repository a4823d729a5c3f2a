//! The board kept by events against the figures recomputed from state:
//! random inputs into the demo trust's engine (arrivals on every channel,
//! clinical callbacks with deadlines, booked callbacks, offers taken and
//! refused, transfers, presence, priority, queues changed and removed),
//! with time moving on between them by up to twenty minutes, so that
//! callbacks cross their at-risk point by the passage of time alone. After
//! every step and at times between events, each queue's waiting count,
//! longest wait, callbacks owed and callbacks at risk on the board must
//! equal (1) the engine's own counts and a scan of its waiting callbacks,
//! and (2) a board rebuilt from the engine's state (what a restart does).

use app::board::{at_risk_from, parse_deadline, Board, Facts, QueueNow};
use model::rng::SplitMix64 as Rng;
use model::{AgentId, Channel, ContactId, DurationMs, QueueId, Timestamp};
use routing::{
    demo, ContactState, Engine, Input, NewContact, NotReadyReason, Presence, TransferMode,
    TransferTarget,
};

const CHANNELS: [Channel; 5] = [
    Channel::Voice,
    Channel::Voice,
    Channel::Email,
    Channel::Chat,
    Channel::Callback,
];

fn iso(t: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.0).unwrap().to_string()
}

/// A queue's figures computed from the engine's state, not kept.
fn recomputed(e: &Engine, q: QueueId, now: Timestamp) -> QueueNow {
    let view = e.queue_view(q).unwrap();
    let callbacks = e.waiting_callbacks(q);
    QueueNow {
        waiting: view.waiting,
        oldest_arrival: view.oldest_arrival,
        callbacks_pending: callbacks.len(),
        callbacks_at_risk: callbacks
            .iter()
            .filter(|(at, d)| at_risk_from(*at, d.and_then(parse_deadline)) <= now)
            .count(),
        callbacks_booked: e.booked_callbacks(q).len(),
    }
}

fn check(e: &Engine, b: &Board, now: Timestamp, what: &str) {
    let rebuilt = Board::rebuild(e, now);
    for q in e.config().queues {
        let want = recomputed(e, q.id, now);
        assert_eq!(b.queue(q.id), want, "queue {} after {what}", q.id);
        assert_eq!(rebuilt.queue(q.id), want, "rebuilt, queue {}", q.id);
    }
}

fn pick<T: Copy>(r: &mut Rng, v: &[T]) -> Option<T> {
    (!v.is_empty()).then(|| v[r.below(v.len() as u64) as usize])
}

fn random_input(r: &mut Rng, e: &Engine, next: &mut u64) -> Option<Input> {
    let cfg = e.config();
    let queues: Vec<QueueId> = cfg.queues.iter().map(|q| q.id).collect();
    let agents: Vec<AgentId> = e.agent_ids();
    let contacts = e.contact_ids();
    let routing_of = |c: ContactId| e.contact(c).unwrap().routing;
    let state_of = |c: ContactId| e.contact(c).unwrap().state;
    let waiting: Vec<ContactId> = contacts
        .iter()
        .copied()
        .filter(|&c| routing_of(c) == ContactState::Waiting)
        .collect();
    let offered: Vec<(ContactId, AgentId)> = contacts
        .iter()
        .filter_map(|&c| match routing_of(c) {
            ContactState::Offered(a) => Some((c, a)),
            _ => None,
        })
        .collect();
    let active: Vec<ContactId> = contacts
        .iter()
        .copied()
        .filter(|&c| matches!(state_of(c), ContactState::InProgress { .. }))
        .collect();
    let now = e.now();
    Some(match r.below(20) {
        0..=5 => {
            *next += 1;
            let channel = CHANNELS[r.below(5) as usize];
            let mut nc = NewContact::new(ContactId(*next), pick(r, &queues)?, channel);
            nc.priority = [0, 0, 1, 5][r.below(4) as usize];
            if channel == Channel::Callback && r.below(2) == 0 {
                // A clinical callback: due within the next hour (or
                // already overdue).
                let d = now.plus(DurationMs((r.below(70) as i64 - 10) * 60_000));
                nc.attributes.push(("deadline".into(), iso(d)));
            }
            Input::Arrive(nc)
        }
        6 => {
            *next += 1;
            let mut nc = NewContact::new(ContactId(*next), pick(r, &queues)?, Channel::Callback);
            if r.below(3) == 0 {
                let d = now.plus(DurationMs(r.below(90) as i64 * 60_000));
                nc.attributes.push(("deadline".into(), iso(d)));
            }
            Input::ScheduleCallback {
                contact: nc,
                due_at: now.plus(DurationMs(r.below(20 * 60_000) as i64)),
                deadline: None,
            }
        }
        7 => Input::Abandon {
            contact: pick(r, &waiting)?,
        },
        8 | 9 => {
            let (contact, agent) = pick(r, &offered)?;
            if r.below(4) == 0 {
                Input::Reject { agent, contact }
            } else {
                Input::Accept { agent, contact }
            }
        }
        10 | 11 => Input::End {
            contact: pick(r, &active)?,
        },
        12 => Input::Transfer {
            contact: pick(r, &active)?,
            to: if r.below(3) == 0 {
                TransferTarget::Agent(pick(r, &agents)?)
            } else {
                TransferTarget::Queue(pick(r, &queues)?)
            },
            mode: if r.below(2) == 0 {
                TransferMode::Warm
            } else {
                TransferMode::Cold
            },
        },
        13 => {
            let a = pick(r, &agents)?;
            let wrapping: Vec<ContactId> = e
                .agent(a)?
                .work
                .iter()
                .filter(|w| matches!(w.2, routing::WorkPhase::WrapUp { .. }))
                .map(|w| w.0)
                .collect();
            Input::WrapUpDone {
                agent: a,
                contact: pick(r, &wrapping)?,
            }
        }
        14 | 15 => Input::SetPresence {
            agent: pick(r, &agents)?,
            presence: match r.below(5) {
                0 => Presence::Offline,
                1 => Presence::NotReady(NotReadyReason::Break),
                _ => Presence::Ready,
            },
        },
        16 => Input::SetPriority {
            contact: pick(r, &waiting)?,
            priority: r.below(11) as i32 - 5,
        },
        17 => Input::RequestCallback {
            contact: pick(r, &waiting)?,
        },
        18 => {
            let mut q = e.queue_def(pick(r, &queues)?)?.clone();
            q.priority = [0, 5, 50, -5][r.below(4) as usize];
            if !q.overflow.is_empty() && r.below(2) == 0 {
                q.overflow.pop();
            }
            Input::UpsertQueue(q)
        }
        _ => {
            if r.below(8) != 0 || queues.len() < 3 {
                return None;
            }
            let gone = pick(r, &queues)?;
            let to = queues.iter().copied().find(|&q| q != gone);
            Input::RemoveQueue {
                queue: gone,
                move_waiting_to: to,
            }
        }
    })
}

fn drain(e: &mut Engine, b: &mut Board) -> usize {
    let records: Vec<_> = e.drain_output().collect();
    for r in &records {
        b.observe(r, |id| Facts::of(e, id));
    }
    records.len()
}

#[test]
fn the_board_kept_by_events_equals_the_figures_recomputed_from_state() {
    let (mut events, mut checks, mut crossed) = (0, 0, 0);
    for seed in 0..40u64 {
        let mut r = Rng::new(0xB0A2D ^ seed);
        let start = Timestamp(1_795_392_000_000);
        let mut e = Engine::new(demo::kent_community_trust(), start).unwrap();
        let mut b = Board::default();
        let mut next = 0;
        // Most agents ready, so offers, answers and transfers happen.
        for a in e.agent_ids() {
            if r.below(3) != 0 {
                let _ = e.handle(
                    start,
                    Input::SetPresence {
                        agent: a,
                        presence: Presence::Ready,
                    },
                );
            }
        }
        events += drain(&mut e, &mut b);
        for step in 0..400 {
            // Time moves on: seconds usually, sometimes many minutes.
            let gap = match r.below(10) {
                0 => r.below(20 * 60_000) as i64,
                1..=3 => r.below(60_000) as i64,
                _ => r.below(2_000) as i64,
            };
            let now = e.now().plus(DurationMs(gap));
            // Timers that fell due in the gap, in order, as the server
            // fires them; the board is checked at each.
            while let Some(t) = e.poll_timeout().filter(|&t| t <= now) {
                e.handle_timeout(t).unwrap();
                events += drain(&mut e, &mut b);
                b.advance(t);
                check(
                    &e,
                    &b,
                    t,
                    &format!("seed {seed} step {step} timer at {}", t.0),
                );
                checks += 1;
            }
            // Time alone, with no event: callbacks cross their at-risk
            // point.
            let before: usize = e
                .config()
                .queues
                .iter()
                .map(|q| b.queue(q.id).callbacks_at_risk)
                .sum();
            b.advance(now);
            let after: usize = e
                .config()
                .queues
                .iter()
                .map(|q| b.queue(q.id).callbacks_at_risk)
                .sum();
            crossed += after.saturating_sub(before);
            let _ = e.handle_timeout(now);
            events += drain(&mut e, &mut b);
            check(&e, &b, now, &format!("seed {seed} step {step} time alone"));
            if let Some(input) = random_input(&mut r, &e, &mut next) {
                let what = format!("seed {seed} step {step}: {input:?}");
                let _ = e.handle(now, input);
                events += drain(&mut e, &mut b);
                check(&e, &b, now, &what);
            }
            checks += 1;
        }
    }
    // The runs did reach what they are meant to test.
    assert!(events > 20_000, "{events} events");
    assert!(
        crossed > 50,
        "only {crossed} callbacks crossed by time alone"
    );
    assert!(checks > 16_000, "{checks} checks");
}

#[test]
fn a_callback_becomes_at_risk_by_time_alone_and_leaves_when_offered() {
    let t0 = Timestamp(1_795_392_000_000);
    let mut e = Engine::new(demo::kent_community_trust(), t0).unwrap();
    // A queue some agent can serve.
    let q = e
        .config()
        .queues
        .iter()
        .map(|q| q.id)
        .find(|&q| e.queue_view(q).unwrap().candidate_agents > 0)
        .unwrap();
    let mut b = Board::default();
    let mut nc = NewContact::new(ContactId(1), q, Channel::Callback);
    // Clinical: due in 40 minutes, so at risk from 25 minutes.
    nc.attributes
        .push(("deadline".into(), iso(t0.plus(DurationMs(40 * 60_000)))));
    e.handle(t0, Input::Arrive(nc)).unwrap();
    e.handle(
        t0,
        Input::Arrive(NewContact::new(ContactId(2), q, Channel::Callback)),
    )
    .unwrap();
    drain(&mut e, &mut b);
    let at = |b: &Board| b.queue(q);
    assert_eq!(at(&b).callbacks_pending, 2);
    assert_eq!(at(&b).callbacks_at_risk, 0);
    assert_eq!(b.next_change(), Some(t0.plus(DurationMs(8 * 60_000))));
    b.advance(t0.plus(DurationMs(8 * 60_000 - 1)));
    assert_eq!(at(&b).callbacks_at_risk, 0);
    b.advance(t0.plus(DurationMs(8 * 60_000)));
    assert_eq!(
        at(&b).callbacks_at_risk,
        1,
        "the ordinary one, at 8 minutes"
    );
    b.advance(t0.plus(DurationMs(25 * 60_000)));
    assert_eq!(
        at(&b).callbacks_at_risk,
        2,
        "the clinical one, 15 minutes out"
    );
    assert_eq!(b.next_change(), None);
    // Agents become ready and take them: they leave the line and the
    // counts.
    let now = t0.plus(DurationMs(25 * 60_000));
    for a in e.agent_ids() {
        e.handle(
            now,
            Input::SetPresence {
                agent: a,
                presence: Presence::Ready,
            },
        )
        .unwrap();
    }
    drain(&mut e, &mut b);
    check(&e, &b, now, "agents ready");
    assert!(at(&b).callbacks_pending < 2, "{:?}", at(&b));
}

/// The published wallboard (board, KPI series, agents kept by events)
/// equals the one recomputed by scanning the whole state, after random
/// inputs with time moving on, including across a London midnight.
#[test]
fn the_published_wallboard_equals_the_recomputed_one() {
    let mut compared = 0;
    for seed in 0..12u64 {
        let mut r = Rng::new(0x3A11 ^ seed);
        // 22:00 London on a winter day: the runs cross midnight.
        let start = Timestamp(1_796_335_200_000);
        let cfg = demo::kent_community_trust();
        let kpi = kpi::Kpi::new(kpi::KpiConfig::from_routing(
            DurationMs(15 * 60 * 1000),
            &cfg,
        ));
        let mut t = app::Tenant::new(Engine::new(cfg, start).unwrap(), kpi);
        let mut next = 0;
        for a in t.engine.agent_ids() {
            if r.below(3) != 0 {
                let _ = t.engine.handle(
                    start,
                    Input::SetPresence {
                        agent: a,
                        presence: Presence::Ready,
                    },
                );
            }
        }
        for step in 0..300 {
            let gap = match r.below(10) {
                0 => r.below(20 * 60_000) as i64,
                1..=3 => r.below(60_000) as i64,
                _ => r.below(2_000) as i64,
            };
            let now = t.engine.now().plus(DurationMs(gap));
            let _ = t.engine.handle_timeout(now);
            if let Some(input) = random_input(&mut r, &t.engine, &mut next) {
                let _ = t.engine.handle(now, input);
            }
            while let Some(rec) = t.engine.poll_output() {
                t.publish(rec);
            }
            if step % 3 == 0 {
                let live = t.publish_live(now);
                let want = t.recomputed_wallboard(now);
                assert_eq!(live.wallboard, want, "seed {seed} step {step}");
                assert_eq!(live.agents.len(), t.engine.agent_ids().len());
                for row in live.agents.iter() {
                    let v = t.engine.agent(row.def.id).unwrap();
                    assert_eq!(row.view, v, "agent {} seed {seed} step {step}", row.def.id);
                }
                compared += 1;
            }
        }
    }
    assert!(compared >= 1_200);
}
