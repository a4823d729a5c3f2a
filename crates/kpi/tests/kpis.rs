//! KPI definitions checked on routing scripts whose figures can be worked
//! out by hand.

use kpi::{Dimension, Kpi, KpiConfig};
use model::{DurationMs, Timestamp};
use routing::{demo, script, Engine};

fn run(text: &str, end_secs: i64, cfg: impl FnOnce(&mut KpiConfig)) -> Vec<kpi::Row> {
    let mut kpi = observed(demo::kent_community_trust(), text, cfg);
    kpi.close(Timestamp(end_secs * 1000));
    kpi.report()
}

/// The KPIs of a routing script run on `config`.
fn observed(config: routing::Config, text: &str, cfg: impl FnOnce(&mut KpiConfig)) -> Kpi {
    let mut k = KpiConfig::from_routing(DurationMs::from_secs(900), &config);
    cfg(&mut k);
    let mut kpi = Kpi::new(k);
    let mut e = Engine::new(config, Timestamp::ZERO).unwrap();
    let mut records = Vec::new();
    script::run_collect(&mut e, text, &mut records).unwrap();
    for r in &records {
        kpi.observe(r);
    }
    kpi
}

fn total(rows: &[kpi::Row], d: Dimension) -> kpi::Row {
    rows.iter()
        .find(|r| r.dimension == d && r.interval_start.is_none())
        .cloned()
        .expect("a totals row")
}

#[test]
fn service_level_abandonment_bands_and_handle_time() {
    // Wheelchairs: target 60 s. c1 answered after 10 s; c2 after 70 s;
    // c3 abandons after 3 s (short), c4 after 45 s, c5 after 90 s.
    let rows = run(
        "0 arrive c1 wheelchairs
         0 arrive c2 wheelchairs
         0 arrive c3 wheelchairs
         0 arrive c4 wheelchairs
         0 arrive c5 wheelchairs
         3 abandon c3
         10 ready alice
         10 accept alice c1
         45 abandon c4
         60 hold c1
         65 resume c1
         70 end c1
         70 wrapped alice c1
         70 accept alice c2
         90 abandon c5
         130 end c2
         160 tick",
        160,
        |_| {},
    );
    let q = total(&rows, Dimension::Queue(demo::WHEELCHAIRS));
    let c = &q.counts;
    assert_eq!((c.offered, c.answered, c.answered_within_target), (5, 2, 1));
    assert_eq!(
        (
            c.abandoned,
            c.abandoned_short,
            c.abandoned_under_30s,
            c.abandoned_30_to_60s,
            c.abandoned_over_60s
        ),
        (3, 1, 1, 1, 1)
    );
    let f = &q.figures;
    assert_eq!(f.service_level, Some(1.0 / 5.0));
    assert_eq!(f.service_level_of_answered, Some(0.5));
    // Short abandons are out of the rate: 2 / (5 - 1).
    assert_eq!(f.abandonment_rate, Some(0.5));
    assert_eq!(f.asa_seconds, Some((10.0 + 70.0) / 2.0));
    // Exact p95 of {10, 70} by nearest rank: 70.
    assert_eq!(f.p95_answer_seconds, Some(70.0));
    // c1: 60 s connected (10..70) of which 5 s hold, wrap-up 0 (ended by
    // hand at once); c2: 60 s talk, wrap-up 30 s (the queue's timer).
    assert_eq!(c.handled, 2);
    assert_eq!(
        (c.talk_ms, c.hold_ms, c.wrap_ms),
        (55_000 + 60_000, 5_000, 30_000)
    );
    assert_eq!(f.aht_seconds, Some((55.0 + 5.0 + 60.0 + 30.0) / 2.0));
    assert_eq!(f.first_contact_resolution, Some(1.0));
}

#[test]
fn callbacks_transfers_clinical_and_agent_time() {
    let rows = run(
        "0 arrive c1 wheelchairs
         20 callback c1
         100 ready alice
         100 accept alice c1
         160 transfer c1 warm queue:paramedic-line
         160 ready hana
         165 accept hana c1
         200 end c1
         900 tick",
        900,
        |k| {
            k.clinical_queues.insert(demo::PARAMEDIC);
        },
    );
    let all = total(&rows, Dimension::Overall);
    let c = &all.counts;
    assert_eq!(
        (
            c.callbacks_requested,
            c.callbacks_made,
            c.callbacks_made_within_target
        ),
        (1, 1, 1)
    );
    assert_eq!((c.transfers_warm, c.transfers_cold, c.clinical), (1, 0, 1));
    assert_eq!(all.figures.clinical_intervention_rate, Some(1.0));
    assert_eq!(all.figures.first_contact_resolution, Some(0.0));
    // Alice: ready at 100, busy 100..195 (offer, call, then 30 s wrap-up
    // after the transfer at 165), idle after. Hana: busy 160..260.
    let alice = total(&rows, Dimension::Agent(model::AgentId(1)));
    assert_eq!(alice.counts.busy_ms, 95_000);
    assert_eq!(alice.counts.idle_ms, 800_000 - 95_000);
}

#[test]
fn contacts_count_in_their_arrival_interval_and_agent_time_splits_by_the_clock() {
    // 15-minute intervals. c1 arrives at 890 s (interval 0) and rings at
    // Alice's; she answers at 905 s (interval 1). Alice is ready from 0 to
    // 1200 s.
    let rows = run(
        "0 ready alice
         890 arrive c1 wheelchairs
         905 accept alice c1
         1000 end c1
         1030 tick",
        1200,
        |_| {},
    );
    let at = |d: Dimension, i: i64| {
        rows.iter()
            .find(|r| r.dimension == d && r.interval_start == Some(Timestamp(i * 900_000)))
            .cloned()
    };
    let first = at(Dimension::Overall, 0).expect("interval 0");
    assert_eq!(
        (
            first.counts.offered,
            first.counts.answered,
            first.counts.answered_within_target
        ),
        (1, 1, 1)
    );
    assert!(
        at(Dimension::Overall, 1).is_some_and(|r| r.counts.offered == 0 && r.counts.answered == 0)
    );
    // Alice: idle 0..890, busy 890..1030 (offer, call, 30 s wrap-up), idle
    // to 1200: split at 900 s.
    let a0 = at(Dimension::Agent(model::AgentId(1)), 0).unwrap();
    let a1 = at(Dimension::Agent(model::AgentId(1)), 1).unwrap();
    assert_eq!((a0.counts.idle_ms, a0.counts.busy_ms), (890_000, 10_000));
    assert_eq!((a1.counts.busy_ms, a1.counts.idle_ms), (130_000, 170_000));
    assert_eq!(a0.figures.occupancy, Some(10.0 / 900.0));
}

/// Retired intervals plus what stays make the same interval rows as
/// keeping everything; an interval a contact still counts in is kept;
/// reinstated intervals are as they were.
#[test]
fn retired_intervals_and_the_rest_make_the_same_report() {
    // c1 arrives in interval 0 and is answered; c2 arrives in interval 1
    // and is still live at the end (never answered), so interval 1 must stay.
    let text = "0 ready alice
         100 arrive c1 wheelchairs
         110 accept alice c1
         200 end c1
         1000 arrive c2 wheelchairs
         1100 tick";
    let feed = || {
        let config = demo::kent_community_trust();
        let mut kpi = Kpi::new(KpiConfig::from_routing(DurationMs::from_secs(900), &config));
        let mut e = Engine::new(config, Timestamp::ZERO).unwrap();
        let mut records = Vec::new();
        script::run_collect(&mut e, text, &mut records).unwrap();
        records.iter().for_each(|r| kpi.observe(r));
        kpi.close(Timestamp(1_200_000));
        kpi
    };
    let intervals = |rows: Vec<kpi::Row>| -> Vec<(Dimension, Timestamp, kpi::Counts)> {
        let mut v: Vec<_> = rows
            .into_iter()
            .filter_map(|r| Some((r.dimension, r.interval_start?, r.counts)))
            .collect();
        v.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        v
    };
    let all = intervals(feed().report());
    let mut k = feed();
    let (kept_from, mut retired) = k.retire(Timestamp(3_600_000));
    // Interval 1 (from 900 s) holds the waiting c2: kept, and all after it.
    assert_eq!(kept_from, Timestamp(900_000));
    assert!(!retired.is_empty());
    assert!(retired.iter().all(|(_, t, _)| *t < kept_from));
    let mut both = intervals(k.report());
    assert!(both.iter().all(|(_, t, _)| *t >= kept_from));
    both.append(&mut retired.clone());
    both.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    assert_eq!(both, all);
    // Nothing more to retire at the same point; put back, all is as before.
    assert!(k.retire(Timestamp(3_600_000)).1.is_empty());
    retired.reverse();
    k.reinstate(retired);
    assert_eq!(intervals(k.report()), all);
}

#[test]
fn a_booked_callback_is_not_a_call_that_waited() {
    // On main, booking 15 callbacks due in 3 hours dropped Physiotherapy's
    // service level from 100% to 42.3% with nobody waiting: each booking
    // counted as offered when booked, unanswered. A booking is offered
    // when it falls due and joins the line; its wait runs from then.
    let mut text = String::from(
        "0 arrive c1 physiotherapy
         5 ready erin
         5 accept erin c1
         65 end c1
         95 wrapped erin c1
         ",
    );
    for k in 0..15 {
        text += &format!("100 book c{} physiotherapy 10800\n", 100 + k);
    }
    text += "900 tick\n";
    let rows = run(&text, 900, |_| {});
    let q = total(&rows, Dimension::Queue(demo::PHYSIO));
    assert_eq!(q.counts.callbacks_requested, 15);
    assert_eq!(q.counts.offered, 1, "{:?}", q.counts);
    assert_eq!(q.figures.service_level, Some(1.0));
    // Three hours on they fall due, join the line and are offered then:
    // Erin answers the first at once, within the target from its due time.
    let mut later = text.replace("900 tick\n", "");
    later += "10800 accept erin c100\n10860 tick\n";
    let rows = run(&later, 10_860, |_| {});
    let q = total(&rows, Dimension::Queue(demo::PHYSIO));
    assert_eq!(q.counts.offered, 16, "{:?}", q.counts);
    assert_eq!(q.counts.answered_within_target, 2);
    assert_eq!(
        (
            q.counts.callbacks_made,
            q.counts.callbacks_made_within_target
        ),
        (1, 1)
    );
    // ... counted in the interval they fell due, not the one they were booked.
    let due = rows
        .iter()
        .find(|r| {
            r.dimension == Dimension::Queue(demo::PHYSIO)
                && r.interval_start == Some(Timestamp(10_800_000))
        })
        .expect("the 03:00 interval");
    assert_eq!(due.counts.offered, 15);
    let booked = rows
        .iter()
        .find(|r| {
            r.dimension == Dimension::Queue(demo::PHYSIO)
                && r.interval_start == Some(Timestamp::ZERO)
        })
        .unwrap();
    assert_eq!(booked.counts.offered, 1);
    assert_eq!(booked.figures.service_level, Some(1.0));
}

#[test]
fn clinical_callbacks_are_measured_against_their_deadline_and_hand_overs_by_how() {
    // Four clinical callbacks (booked with a deadline) on the paramedic
    // line: c1 and c2 answered by 600 s (in time), c3 cancelled (missed),
    // c7 due by 760 s but answered at 811 (late). Two calls handed to a
    // clinician: c4 warm, c5 cold. c6 is an ordinary callback (no
    // deadline): none of these. (The trace: `switchboard route` on this.)
    let rows = run(
        "0 ready hana
         0 ready alice
         0 book c1 paramedic-line 0 by 600
         0 book c2 paramedic-line 0 by 600
         0 book c3 paramedic-line 0 by 600
         1 accept hana c1
         50 end c1
         60 wrapped hana c1
         61 accept hana c2
         62 abandon c3
         100 end c2
         110 wrapped hana c2
         120 arrive c4 wheelchairs
         121 accept alice c4
         130 transfer c4 warm queue:paramedic-line
         131 accept hana c4
         200 end c4
         210 wrapped hana c4
         220 arrive c5 wheelchairs
         221 accept alice c5
         230 transfer c5 cold queue:paramedic-line
         231 accept hana c5
         300 end c5
         310 wrapped hana c5
         400 book c6 wheelchairs 400
         401 accept alice c6
         420 end c6
         690 arrive c8 paramedic-line
         691 accept hana c8
         700 book c7 paramedic-line 700 by 760
         800 end c8
         810 wrapped hana c8
         811 accept hana c7
         850 end c7
         1800 tick",
        1800,
        |k| {
            k.clinical_queues.insert(demo::PARAMEDIC);
        },
    );
    let all = total(&rows, Dimension::Overall);
    let c = &all.counts;
    assert_eq!(
        (
            c.clinical_callbacks_booked,
            c.clinical_callbacks_made,
            c.clinical_callbacks_in_time,
            c.clinical_callbacks_missed
        ),
        (4, 3, 2, 1),
        "{c:?}"
    );
    // Two in time of the four answered or missed.
    assert_eq!(all.figures.clinical_callbacks_in_timeframe, Some(0.5));
    assert_eq!(
        (c.clinical_transfers_warm, c.clinical_transfers_cold),
        (1, 1)
    );
    // One warm of the six hand-overs to a clinician (warm, cold, four
    // clinical callbacks).
    assert_eq!(all.figures.clinical_warm_transfer, Some(1.0 / 6.0));
    // The booking without a deadline is an ordinary callback.
    let wheelchairs = total(&rows, Dimension::Queue(demo::WHEELCHAIRS));
    assert_eq!(wheelchairs.counts.clinical_callbacks_booked, 0);
    assert_eq!(wheelchairs.counts.callbacks_made, 1);
}

#[test]
fn queues_marked_clinical_count_as_clinical_assessment() {
    // On main the server's KPI engine had no clinical queues at all (only
    // the simulator set them), so "assessed by a clinician" was always 0.
    // A queue's definition now says it is clinical.
    let config = demo::kent_community_trust();
    let k = KpiConfig::from_routing(DurationMs::from_secs(900), &config);
    assert!(k.clinical_queues.contains(&demo::PARAMEDIC));
    assert!(!k.clinical_queues.contains(&demo::WHEELCHAIRS));
}

/// The rarer outcomes, each happening at least twice (so a count that is
/// multiplied instead of added, or never made, shows): calls refused by a
/// full queue, calls to voicemail by overflow, cold transfers, offers
/// rejected and timed out (the agent's items go back down), and the time
/// agents spend with one, then none.
#[test]
fn refusals_voicemail_cold_transfers_and_offers_that_come_back() {
    let mut config = demo::kent_community_trust();
    // Physiotherapy holds two waiting callers; more are refused.
    let physio = config
        .queues
        .iter_mut()
        .find(|q| q.id == demo::PHYSIO)
        .unwrap();
    physio.max_waiting = 2;
    let mut kpi = observed(
        config,
        "0 arrive c1 physiotherapy
         0 arrive c2 physiotherapy
         1 arrive c3 physiotherapy
         2 arrive c4 physiotherapy
         5 arrive c5 wheelchairs
         5 arrive c6 wheelchairs
         10 ready erin
         11 reject erin c1
         12 ready erin
         40 ready erin
         41 accept erin c1
         60 transfer c1 cold queue:single-point-of-access
         61 wrapped erin c1
         62 accept erin c2
         80 transfer c2 cold queue:single-point-of-access
         81 wrapped erin c2
         90 ready idris
         91 accept idris c1
         100 end c1
         101 wrapped idris c1
         102 accept idris c2
         110 end c2
         111 wrapped idris c2
         700 tick",
        |k| {
            k.clinical_queues.insert(demo::PARAMEDIC);
        },
    );
    kpi.close(Timestamp(900 * 1000));
    let rows = kpi.report();
    let all = total(&rows, Dimension::Overall);
    let c = &all.counts;
    // c3, c4 refused; c5, c6 to voicemail at 600 s in the queue.
    assert_eq!((c.refused, c.voicemail), (2, 2), "{c:?}");
    assert_eq!(c.offered, 6, "{c:?}");
    assert_eq!((c.transfers_cold, c.transfers_warm), (2, 0), "{c:?}");
    // Into the single point of access, which is not clinical.
    assert_eq!((c.clinical_transfers_cold, c.clinical), (0, 0), "{c:?}");
    // Answered once each (the transfer is not a second answer), completed
    // twice but not at the first contact.
    assert_eq!(c.answered, 2, "{c:?}");
    assert_eq!((c.completed, c.completed_first_contact), (2, 0), "{c:?}");
    // Talk: Erin 19 s and 18 s until each cold transfer, Idris 9 s and 8 s.
    let physio = total(&rows, Dimension::Queue(demo::PHYSIO));
    assert_eq!(
        physio.counts.talk_ms,
        19_000 + 18_000 + 9_000 + 8_000,
        "{:?}",
        physio.counts
    );
    let erin = total(&rows, Dimension::Agent(model::AgentId(5)));
    // Offered c1 at 10 and rejected at 11: not ready until 12; offered
    // again at 12, timed out after 20 s: not ready from 32 to 40.
    assert_eq!(erin.counts.not_ready_ms, 1_000 + 8_000, "{:?}", erin.counts);
    // The contacts are handled by whoever finished them: Idris.
    let idris = total(&rows, Dimension::Agent(model::AgentId(9)));
    assert_eq!((erin.counts.handled, idris.counts.handled), (0, 2));
    // (Idris's talk time holds the whole contact's, Erin's minutes too:
    // noted as a question for the KPI definitions, not asserted.)
}

/// Every figure by its definition (docs/kpis.md) from counts chosen so
/// that each numerator and denominator differs; none where nothing
/// divides; merging adds every count.
#[test]
fn each_figure_by_its_definition_and_merging_adds_every_count() {
    let base = kpi::Counts {
        offered: 20,
        answered: 12,
        answered_within_target: 9,
        abandoned: 6,
        abandoned_short: 2,
        abandoned_after_target: 3,
        wait_ms_answered_total: 12 * 15_000,
        waits_ms: (1..=20).map(|s| s * 1000).collect(),
        handled: 10,
        talk_ms: 10 * 200_000,
        hold_ms: 10 * 20_000,
        wrap_ms: 10 * 30_000,
        callbacks_made: 4,
        callbacks_made_within_target: 3,
        clinical: 5,
        clinical_callbacks_made: 3,
        clinical_callbacks_missed: 1,
        clinical_callbacks_in_time: 2,
        clinical_transfers_warm: 3,
        clinical_transfers_cold: 1,
        clinical_callbacks_booked: 2,
        completed: 8,
        completed_first_contact: 6,
        busy_ms: 300,
        idle_ms: 100,
        not_ready_ms: 100,
        ..kpi::Counts::default()
    };
    let f = base.clone().figures();
    assert_eq!(f.service_level, Some(9.0 / 20.0));
    assert_eq!(f.service_level_of_answered, Some(9.0 / 12.0));
    assert_eq!(f.service_level_excluding_early_abandons, Some(9.0 / 15.0));
    assert_eq!(f.abandonment_rate, Some(4.0 / 18.0));
    assert_eq!(f.asa_seconds, Some(15.0));
    // Nearest rank of 1..=20 s: the 19th.
    assert_eq!(f.p95_answer_seconds, Some(19.0));
    assert_eq!(f.aht_seconds, Some(250.0));
    assert_eq!(
        (f.talk_seconds, f.hold_seconds, f.wrap_seconds),
        (Some(200.0), Some(20.0), Some(30.0))
    );
    assert_eq!(f.callbacks_within_target, Some(0.75));
    assert_eq!(f.clinical_intervention_rate, Some(5.0 / 12.0));
    assert_eq!(f.clinical_callbacks_in_timeframe, Some(0.5));
    assert_eq!(f.clinical_warm_transfer, Some(0.5));
    assert_eq!(f.first_contact_resolution, Some(0.75));
    assert_eq!(f.occupancy, Some(0.75));
    assert_eq!(f.utilisation, Some(0.6));
    // Nothing to divide by: no figure (not 0, not NaN).
    let none = kpi::Counts::default().figures();
    assert_eq!(
        (
            none.service_level,
            none.asa_seconds,
            none.p95_answer_seconds,
            none.aht_seconds
        ),
        (None, None, None, None)
    );
    // Merging two of them doubles every count.
    let mut two = base.clone();
    two.merge_totals(&base);
    let doubled = serde_json::to_value(&two).unwrap();
    let single = serde_json::to_value(&base).unwrap();
    for (k, v) in single.as_object().unwrap() {
        if let Some(n) = v.as_u64() {
            assert_eq!(doubled[k].as_u64(), Some(2 * n), "{k}");
        }
    }
}

/// A period's sum takes exactly the intervals that start in it (at the
/// edges: one that starts at `t0` is in, one that starts at `t1` is out),
/// for the overall row and one queue's, with or without the waits.
#[test]
fn a_periods_sum_takes_the_intervals_that_start_in_it() {
    // 1, 2, 1 and 3 wheelchairs calls in four 15-minute intervals.
    let mut kpi = observed(
        demo::kent_community_trust(),
        "0 arrive c1 wheelchairs
         1000 arrive c2 wheelchairs
         1000 arrive c3 wheelchairs
         2000 arrive c4 wheelchairs
         2800 arrive c5 wheelchairs
         2800 arrive c6 wheelchairs
         2800 arrive c7 wheelchairs",
        |_| {},
    );
    kpi.close(Timestamp(3_000_000));
    let per: Vec<(i64, u64)> = kpi
        .report()
        .iter()
        .filter(|r| r.dimension == Dimension::Overall && r.interval_start.is_some())
        .map(|r| (r.interval_start.unwrap().0 / 900_000, r.counts.offered))
        .collect();
    assert_eq!(per, vec![(0, 1), (1, 2), (2, 1), (3, 3)]);
    let at = |min: i64| Timestamp(min * 60_000);
    let q = Dimension::Queue(demo::WHEELCHAIRS);
    for (from, to, want) in [
        (0, 60, 7),
        (15, 45, 3), // intervals 1 and 2
        (15, 30, 2), // interval 1 only: one starting at t1 is out
        (14, 30, 2), // from 14: the interval starting at 0 is out
        (16, 46, 4), // intervals 2 and 3
        (0, 0, 0),
        (60, 120, 0),
    ] {
        assert_eq!(
            kpi.overall_between(at(from), at(to)).counts.offered,
            want,
            "{from}..{to}"
        );
        assert_eq!(
            kpi.sum_between(&Dimension::Overall, at(from), at(to), false)
                .offered,
            want,
            "{from}..{to}"
        );
        assert_eq!(
            kpi.sum_between(&q, at(from), at(to), true).offered,
            want,
            "{from}..{to}"
        );
    }
    assert_eq!(
        kpi.sum_between(&Dimension::Queue(demo::PHYSIO), at(0), at(60), true)
            .offered,
        0
    );
}
