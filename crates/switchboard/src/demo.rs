//! `switchboard demo`: a day at the demo community trust. Simulated callers
//! and agents (seeded) drive the real routing engine; the report is worked
//! out from the engine's event log alone.

use anyhow::Result;
use model::{AgentId, Channel, ContactId, DurationMs, QueueId, SiteId, Timestamp};
use routing::demo::{self as kent};
use routing::{trace, Engine, Event, Input, NewContact, NotReadyReason, Presence, Record};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write;
use std::time::Instant;

use model::rng::SplitMix64 as Rng;

/// Exponential with this mean in seconds, in whole ms.
fn exp_ms(r: &mut Rng, mean_secs: f64) -> i64 {
    (r.exp(mean_secs) * 1000.0).round() as i64
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Action {
    Arrival(usize),
    Answer(AgentId, ContactId),
    End(ContactId),
    Patience(ContactId),
    TakeCallback(ContactId),
    Presence(AgentId, bool),
    Site(SiteId, bool),
}

/// Demand per queue: calls an hour, channel, mean handle time (s), mean
/// patience (s).
const DEMAND: [(QueueId, f64, Channel, f64, f64); 7] = [
    (kent::PARAMEDIC, 4.0, Channel::Voice, 240.0, 600.0),
    (kent::WHEELCHAIRS, 14.0, Channel::Voice, 300.0, 240.0),
    (kent::DISTRICT_NURSING, 16.0, Channel::Voice, 270.0, 300.0),
    (kent::PHYSIO, 10.0, Channel::Voice, 240.0, 300.0),
    (kent::WELLBEING, 8.0, Channel::Chat, 420.0, 900.0),
    (kent::WELLBEING, 4.0, Channel::Email, 300.0, 1e9),
    (kent::SPA, 6.0, Channel::Voice, 300.0, 300.0),
];

fn clock(t: Timestamp) -> String {
    let mins = t.0 / 60_000 + 8 * 60;
    format!("{:02}:{:02}", mins / 60, mins % 60)
}

#[derive(Default)]
struct QueueStats {
    arrived: u32,
    answered: u32,
    within_target: u32,
    abandoned: u32,
    voicemail: u32,
    callbacks: u32,
    wait_ms_total: i64,
    wait_ms_max: i64,
}

pub fn run(hours: u32, seed: u64, trace_lines: usize) -> Result<String> {
    let config = kent::kent_community_trust();
    let targets: BTreeMap<QueueId, (DurationMs, u8)> = config
        .queues
        .iter()
        .map(|q| (q.id, (q.target.within, q.target.percent)))
        .collect();
    let agents: Vec<AgentId> = config.agents.iter().map(|a| a.id).collect();
    let mut engine = Engine::new(config, Timestamp::ZERO)?;
    let names = trace::Names::of(&engine);
    let mut rng = Rng::new(seed);
    let end = Timestamp(hours as i64 * 3_600_000);
    let mut agenda: BinaryHeap<Reverse<(Timestamp, u64, Action)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |agenda: &mut BinaryHeap<_>, at: Timestamp, a: Action| {
        seq += 1;
        agenda.push(Reverse((at, seq, a)));
    };
    for (i, d) in DEMAND.iter().enumerate() {
        push(
            &mut agenda,
            Timestamp(exp_ms(&mut rng, 3600.0 / d.1)),
            Action::Arrival(i),
        );
    }
    for &a in &agents {
        // Log in over the first ten minutes; one 15-minute break each.
        push(
            &mut agenda,
            Timestamp(exp_ms(&mut rng, 120.0)),
            Action::Presence(a, true),
        );
        let brk =
            Timestamp(3_600_000 + (rng.unit() * (hours.max(2) as f64 - 1.5) * 3_600_000.0) as i64);
        push(&mut agenda, brk, Action::Presence(a, false));
        push(
            &mut agenda,
            brk.plus(DurationMs::from_secs(900)),
            Action::Presence(a, true),
        );
    }
    // Maidstone goes off the air for half an hour late in the morning.
    let outage = (
        Timestamp(3 * 3_600_000),
        Timestamp(3 * 3_600_000 + 1_800_000),
    );
    if hours > 3 {
        push(&mut agenda, outage.0, Action::Site(SiteId(1), false));
        push(&mut agenda, outage.1, Action::Site(SiteId(1), true));
    }

    let mut stats: BTreeMap<QueueId, QueueStats> = BTreeMap::new();
    let mut demand_of: BTreeMap<ContactId, usize> = BTreeMap::new();
    let mut busy_ms: BTreeMap<AgentId, i64> = BTreeMap::new();
    let mut answered_at: BTreeMap<ContactId, Timestamp> = BTreeMap::new();
    let mut trace_out = String::new();
    let mut trace_left = trace_lines;
    let (mut inputs, mut events, mut refused) = (0u64, 0u64, 0u64);
    let mut next_contact = 0u64;
    let started = Instant::now();

    loop {
        let next_action = agenda.peek().map(|Reverse((t, _, _))| *t);
        let next_timer = engine.poll_timeout();
        let now = match (next_action, next_timer) {
            (Some(a), Some(t)) => a.min(t),
            (Some(a), None) => a,
            (None, Some(t)) => t,
            (None, None) => break,
        };
        if now > end.plus(DurationMs::from_secs(3600)) {
            break;
        }
        if next_timer == Some(now) && next_action.is_none_or(|a| a > now) {
            engine.handle_timeout(now)?;
        } else {
            let Reverse((_, _, action)) = agenda.pop().expect("peeked");
            let input = match action {
                Action::Arrival(i) => {
                    let d = DEMAND[i];
                    if now < end {
                        push(
                            &mut agenda,
                            now.plus(DurationMs(exp_ms(&mut rng, 3600.0 / d.1))),
                            Action::Arrival(i),
                        );
                    }
                    next_contact += 1;
                    let id = ContactId(next_contact);
                    demand_of.insert(id, i);
                    let mut nc = NewContact::new(id, d.0, d.2);
                    if d.0 == kent::WHEELCHAIRS && rng.chance(0.05) {
                        nc.language = Some(kent::SK_POLISH);
                    }
                    push(
                        &mut agenda,
                        now.plus(DurationMs(exp_ms(&mut rng, d.4))),
                        Action::Patience(id),
                    );
                    Some(Input::Arrive(nc))
                }
                Action::Answer(agent, contact) => Some(Input::Accept { agent, contact }),
                Action::End(contact) => Some(Input::End { contact }),
                Action::Patience(contact) => engine
                    .contact(contact)
                    .filter(|c| !c.answered && matches!(c.channel, Channel::Voice | Channel::Chat))
                    .map(|_| Input::Abandon { contact }),
                Action::TakeCallback(contact) => engine
                    .contact(contact)
                    .filter(|c| {
                        c.state == routing::ContactState::Waiting && c.channel == Channel::Voice
                    })
                    .map(|_| Input::RequestCallback { contact }),
                Action::Presence(agent, ready) => Some(Input::SetPresence {
                    agent,
                    presence: if ready {
                        Presence::Ready
                    } else {
                        Presence::NotReady(NotReadyReason::Break)
                    },
                }),
                Action::Site(site, on_air) => Some(Input::SetSiteOnAir { site, on_air }),
            };
            if let Some(input) = input {
                inputs += 1;
                if engine.handle(now, input).is_err() {
                    refused += 1;
                }
            }
        }
        let records: Vec<Record> = engine.drain_output().collect();
        for r in records {
            events += 1;
            if trace_left > 0 {
                trace_left -= 1;
                let line = trace::line(&names, &r);
                let _ = writeln!(trace_out, "  {} {}", clock(r.at), line[10..].trim_end());
            }
            match r.event {
                Event::Arrived { contact, queue, .. } => {
                    let _ = contact;
                    stats.entry(queue).or_default().arrived += 1;
                }
                // Most agents pick up within a few seconds; a few miss it.
                Event::Offered { contact, agent, .. } if rng.chance(0.97) => {
                    let after = DurationMs(2000 + exp_ms(&mut rng, 3.0));
                    push(
                        &mut agenda,
                        r.at.plus(after),
                        Action::Answer(agent, contact),
                    );
                }
                Event::Answered {
                    contact,
                    queue,
                    waited,
                    ..
                } => {
                    let s = stats.entry(queue).or_default();
                    s.answered += 1;
                    s.wait_ms_total += waited.0;
                    s.wait_ms_max = s.wait_ms_max.max(waited.0);
                    if waited <= targets[&queue].0 {
                        s.within_target += 1;
                    }
                    answered_at.insert(contact, r.at);
                    let aht = DEMAND[demand_of[&contact]].3;
                    push(
                        &mut agenda,
                        r.at.plus(DurationMs(exp_ms(&mut rng, aht))),
                        Action::End(contact),
                    );
                }
                Event::Transferred { .. } => {}
                Event::Ended { contact, agent, .. } => {
                    if let Some(t) = answered_at.remove(&contact) {
                        *busy_ms.entry(agent).or_default() += r.at.since(t).0;
                    }
                }
                Event::Abandoned { queue, .. } => stats.entry(queue).or_default().abandoned += 1,
                Event::Voicemail { queue, .. } => stats.entry(queue).or_default().voicemail += 1,
                Event::CallbackOffered { contact, .. } if rng.chance(0.5) => {
                    push(
                        &mut agenda,
                        r.at.plus(DurationMs::from_secs(8)),
                        Action::TakeCallback(contact),
                    );
                }
                Event::CallbackRequested { queue, .. } => {
                    stats.entry(queue).or_default().callbacks += 1
                }
                Event::PresenceChanged {
                    agent,
                    presence: Presence::NotReady(NotReadyReason::MissedOffer),
                } => {
                    push(
                        &mut agenda,
                        r.at.plus(DurationMs::from_secs(30)),
                        Action::Presence(agent, true),
                    );
                }
                _ => {}
            }
        }
    }
    let wall = started.elapsed();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Switchboard demo: community trust virtual contact centre (made-up demo data), {hours} h from 08:00, seed {seed}"
    );
    if hours > 3 {
        let _ = writeln!(
            out,
            "Maidstone site off the air {}-{}: its agents' offers were taken back and other sites took the calls.",
            clock(outage.0),
            clock(outage.1)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<24} {:>7} {:>8} {:>14} {:>9} {:>9} {:>9} {:>6} {:>8} {:>9}",
        "queue",
        "arrived",
        "answered",
        "service level",
        "target",
        "abandoned",
        "callbacks",
        "v-mail",
        "ASA",
        "max wait"
    );
    let cfg = engine.config();
    for q in &cfg.queues {
        let s = stats.remove(&q.id).unwrap_or_default();
        let sl = if s.arrived > 0 {
            100.0 * s.within_target as f64 / s.arrived as f64
        } else {
            100.0
        };
        let asa = if s.answered > 0 {
            s.wait_ms_total as f64 / s.answered as f64 / 1000.0
        } else {
            0.0
        };
        let (within, pct) = targets[&q.id];
        let flag = if sl >= pct as f64 { "" } else { " !" };
        let _ = writeln!(
            out,
            "{:<24} {:>7} {:>8} {:>12.1}%{:2} {:>4}% {:>3}s {:>9} {:>9} {:>6} {:>7.1}s {:>8.1}s",
            q.name,
            s.arrived,
            s.answered,
            sl,
            flag,
            pct,
            within.0 / 1000,
            s.abandoned,
            s.callbacks,
            s.voicemail,
            asa,
            s.wait_ms_max as f64 / 1000.0
        );
    }
    let _ = writeln!(
        out,
        "\nservice level = answered within target / arrived (abandoned calls count against it); ! = below target\n"
    );
    let _ = writeln!(out, "{:<8} {:<22} {:>12}", "agent", "team", "handling");
    for a in &cfg.agents {
        let team = cfg
            .teams
            .iter()
            .find(|t| t.id == a.team)
            .map_or("", |t| t.name.as_str());
        let busy = busy_ms.get(&a.id).copied().unwrap_or(0);
        let _ = writeln!(out, "{:<8} {:<22} {:>9} min", a.name, team, busy / 60_000);
    }
    let _ = writeln!(
        out,
        "\nrouting engine: {inputs} inputs ({refused} refused), {events} events, {:.1} ms of wall time",
        wall.as_secs_f64() * 1000.0
    );
    if trace_lines > 0 {
        let _ = writeln!(out, "\nthe first {trace_lines} lines of the routing trace:");
        out.push_str(&trace_out);
    }
    Ok(out)
}
