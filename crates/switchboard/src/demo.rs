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

    // Every figure of the report comes from the KPI engine, fed the log.
    let mut kcfg = kpi::KpiConfig::from_routing(DurationMs::from_secs(3600), &engine.config());
    kcfg.clinical_queues = [kent::PARAMEDIC, kent::SPA].into_iter().collect();
    let mut kpi = kpi::Kpi::new(kcfg);
    let mut demand_of: BTreeMap<ContactId, usize> = BTreeMap::new();
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
            kpi.observe(&r);
            match r.event {
                // Most agents pick up within a few seconds; a few miss it.
                Event::Offered { contact, agent, .. } if rng.chance(0.97) => {
                    let after = DurationMs(2000 + exp_ms(&mut rng, 3.0));
                    push(
                        &mut agenda,
                        r.at.plus(after),
                        Action::Answer(agent, contact),
                    );
                }
                Event::Answered { contact, .. } => {
                    let aht = DEMAND[demand_of[&contact]].3;
                    push(
                        &mut agenda,
                        r.at.plus(DurationMs(exp_ms(&mut rng, aht))),
                        Action::End(contact),
                    );
                }
                Event::CallbackOffered { contact, .. } if rng.chance(0.5) => {
                    push(
                        &mut agenda,
                        r.at.plus(DurationMs::from_secs(8)),
                        Action::TakeCallback(contact),
                    );
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
    kpi.close(engine.now());
    let rows = kpi.report();
    let total = |d: kpi::Dimension| {
        rows.iter()
            .find(|r| r.dimension == d && r.interval_start.is_none())
            .cloned()
    };
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.1}%", x * 100.0));
    let secs = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}s"));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<24} {:>7} {:>8} {:>9} {:>10} {:>9} {:>9} {:>6} {:>8} {:>9} {:>8}",
        "queue",
        "offered",
        "answered",
        "SL",
        "target",
        "abandon",
        "callbacks",
        "v-mail",
        "ASA",
        "p95 wait",
        "AHT"
    );
    let cfg = engine.config();
    for q in &cfg.queues {
        let Some(row) = total(kpi::Dimension::Queue(q.id)) else {
            continue;
        };
        let (c, f) = (&row.counts, &row.figures);
        let (within, target_pct) = targets[&q.id];
        let below = f
            .service_level
            .is_some_and(|sl| sl * 100.0 < target_pct as f64);
        let _ = writeln!(
            out,
            "{:<24} {:>7} {:>8} {:>8}{} {:>5}% {:>3}s {:>9} {:>9} {:>6} {:>8} {:>9} {:>8}",
            q.name,
            c.offered,
            c.answered,
            pct(f.service_level),
            if below { "!" } else { " " },
            target_pct,
            within.0 / 1000,
            pct(f.abandonment_rate),
            c.callbacks_requested,
            c.voicemail,
            secs(f.asa_seconds),
            secs(f.p95_answer_seconds),
            secs(f.aht_seconds)
        );
    }
    if let Some(all) = total(kpi::Dimension::Overall) {
        let f = &all.figures;
        let _ = writeln!(
            out,
            "{:<24} {:>7} {:>8} {:>8}  {:>10} {:>9} {:>9} {:>6} {:>8} {:>9} {:>8}",
            "all",
            all.counts.offered,
            all.counts.answered,
            pct(f.service_level),
            "",
            pct(f.abandonment_rate),
            all.counts.callbacks_requested,
            all.counts.voicemail,
            secs(f.asa_seconds),
            secs(f.p95_answer_seconds),
            secs(f.aht_seconds)
        );
        let _ = writeln!(
            out,
            "clinical intervention rate {}, occupancy {}, utilisation {}",
            pct(f.clinical_intervention_rate),
            pct(f.occupancy),
            pct(f.utilisation)
        );
    }
    let _ = writeln!(
        out,
        "\nSL = answered within target / offered (abandoned calls count against it); ! = below target.\nabandon excludes short abandons (< 5 s). Definitions: docs/kpis.md.\n"
    );
    let _ = writeln!(
        out,
        "{:<8} {:<22} {:>8} {:>8} {:>10} {:>12}",
        "agent", "team", "handled", "AHT", "occupancy", "utilisation"
    );
    for a in &cfg.agents {
        let team = cfg
            .teams
            .iter()
            .find(|t| t.id == a.team)
            .map_or("", |t| t.name.as_str());
        let Some(row) = total(kpi::Dimension::Agent(a.id)) else {
            continue;
        };
        let f = &row.figures;
        let _ = writeln!(
            out,
            "{:<8} {:<22} {:>8} {:>8} {:>10} {:>12}",
            a.name,
            team,
            row.counts.handled,
            secs(f.aht_seconds),
            pct(f.occupancy),
            pct(f.utilisation)
        );
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
