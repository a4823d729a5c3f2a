//! Configuration: validation names the item at fault and the engine keeps
//! its previous configuration; live changes have defined effects.

use model::{AgentId, Channel, ContactId, DurationMs, QueueId, SiteId, SkillId, TeamId, Timestamp};
use routing::demo::{self, kent_community_trust};
use routing::{
    script, AgentDef, Capacity, Config, ConfigError, Engine, Event, Input, NewContact,
    OverflowAction, OverflowStep, Presence, QueueDef, RoutingError, SkillDef, SkillReq, WhenFull,
};

fn t(s: i64) -> Timestamp {
    Timestamp(s * 1000)
}

fn engine() -> Engine {
    Engine::new(kent_community_trust(), Timestamp::ZERO).unwrap()
}

/// Each broken configuration and the message it must give.
#[test]
fn invalid_configurations_are_refused_with_the_item_named() {
    type Breaker = fn(&mut Config);
    let cases: Vec<(&str, Breaker, &str)> = vec![
        (
            "unknown skill in a queue",
            |c| c.queues[1].requirements.push(SkillReq { skill: SkillId(99), min_level: 1 }),
            "queue q2 'Wheelchairs': unknown skill s99",
        ),
        (
            "unknown skill of an agent",
            |c| c.agents[0].skills.push((SkillId(42), 2)),
            "agent a1 'Alice': unknown skill s42",
        ),
        (
            "unknown team of an agent",
            |c| c.agents[2].team = TeamId(77),
            "agent a3 'Carol': unknown team t77",
        ),
        (
            "unknown team in an overflow step",
            |c| c.queues[1].overflow[1].action = OverflowAction::AddTeams(vec![TeamId(9)]),
            "queue q2 'Wheelchairs': unknown team t9",
        ),
        (
            "unknown queue to overflow to",
            |c| c.queues[2].overflow[1].action = OverflowAction::MoveToQueue(QueueId(50)),
            "queue q3 'District nursing': unknown queue q50",
        ),
        (
            "overflow steps out of order",
            |c| c.queues[1].overflow[2].after = DurationMs::from_secs(45),
            "queue q2 'Wheelchairs': overflow step 3 (after 45000 ms) is out of order",
        ),
        (
            "a step after voicemail",
            |c| c.queues[1].overflow.push(OverflowStep { after: DurationMs::from_secs(900), action: OverflowAction::AnyTeam }),
            "queue q2 'Wheelchairs': overflow step 4 voicemail or a move to another queue must be the last step",
        ),
        (
            "zero capacity",
            |c| c.agents[4].capacity = Capacity { voice: 0, chat: 0, email: 0, sms: 0, voice_exclusive: true },
            "agent a5 'Erin': capacity is zero for every channel",
        ),
        (
            "duplicate queue id",
            |c| {
                let q = c.queues[0].clone();
                c.queues.push(q)
            },
            "queue q1 is defined twice",
        ),
        (
            "overflow cycle",
            |c| {
                c.queues[5].overflow = vec![OverflowStep {
                    after: DurationMs::from_secs(60),
                    action: OverflowAction::MoveToQueue(demo::DISTRICT_NURSING),
                }]
            },
            "queue q3 'District nursing': overflow moves contacts round in a circle",
        ),
        (
            "relaxing a skill the queue does not need",
            |c| c.queues[1].overflow[0].action = OverflowAction::RelaxSkill { skill: SkillId(3), min_level: 0 },
            "queue q2 'Wheelchairs': overflow step 1 relaxes skill s3, which the queue does not require",
        ),
        (
            "a target above 100%",
            |c| c.queues[0].target.percent = 101,
            "queue q1 'Paramedic line': target.percent 101% is not within 1..=100",
        ),
        ("an empty name", |c| c.agents[0].name = " ".into(), "agent a1 ' ': name is empty"),
        (
            "a skill level above 10",
            |c| c.agents[0].skills[0].1 = 11,
            "agent a1 'Alice': skills level 11 is outside 1..=10",
        ),
        ("a ring timeout of zero", |c| c.queues[3].offer_timeout = DurationMs(0), "queue q4 'Physiotherapy': offer_timeout must be above 0"),
        (
            "full queue overflowing to itself",
            |c| c.queues[3].when_full = WhenFull::Queue(demo::PHYSIO),
            "queue q4 'Physiotherapy': when_full names the queue itself",
        ),
        ("unknown site", |c| c.agents[1].site = SiteId(8), "agent a2 'Bob': unknown site site8"),
        ("a priority out of range", |c| c.queues[0].priority = 2_000_000, "queue q1 'Paramedic line': priority 2000000 is beyond ±1000000"),
    ];
    for (what, breaker, message) in cases {
        let mut c = kent_community_trust();
        breaker(&mut c);
        let err = Engine::new(c.clone(), Timestamp::ZERO).expect_err(what);
        assert!(
            err.to_string().starts_with(message),
            "{what}: got '{err}', expected '{message}…'"
        );
        // Live: the same configuration is refused and the old one stays.
        let mut e = engine();
        let before = e.config();
        let err = e.handle(t(1), Input::ReplaceConfig(c)).expect_err(what);
        assert!(matches!(err, RoutingError::Config(_)), "{what}: {err}");
        assert_eq!(e.config(), before, "{what}: configuration changed");
        assert_eq!(e.drain_output().count(), 0, "{what}: events were emitted");
    }
}

#[test]
fn a_refused_queue_or_agent_change_leaves_the_old_one_in_force() {
    let mut e = engine();
    let before = e.config();
    let mut q = e.queue_def(demo::WHEELCHAIRS).unwrap().clone();
    q.overflow[0].after = DurationMs::from_secs(0);
    let err = e.handle(t(1), Input::UpsertQueue(q)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "configuration refused: queue q2 'Wheelchairs': overflow step 1 (after 0 ms) is out of order: steps must come strictly later than the one before, after 0 ms and within 24 h"
    );
    let mut a = e.agent_def(AgentId(1)).unwrap().clone();
    a.skills.push((SkillId(1000), 1));
    let err = e.handle(t(1), Input::UpsertAgent(a)).unwrap_err();
    assert_eq!(
        err,
        RoutingError::Config(ConfigError::UnknownSkill {
            item: "agent a1 'Alice'".into(),
            skill: SkillId(1000)
        })
    );
    let err = e
        .handle(
            t(1),
            Input::AddSkill(SkillDef {
                id: SkillId(1),
                name: "Dup".into(),
            }),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "configuration refused: skill s1 is defined twice"
    );
    assert_eq!(e.config(), before);
}

#[test]
fn time_going_backwards_is_refused() {
    let mut e = engine();
    e.handle_timeout(t(10)).unwrap();
    let err = e
        .handle(
            t(9),
            Input::SetPresence {
                agent: AgentId(1),
                presence: Presence::Ready,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, RoutingError::TimeWentBackwards { .. }),
        "{err}"
    );
    assert_eq!(e.agent(AgentId(1)).unwrap().presence, Presence::Offline);
}

#[test]
fn giving_an_agent_a_skill_while_contacts_wait_routes_to_them_at_once() {
    let mut e = engine();
    let trace = script::run(&mut e, "0 arrive c1 physiotherapy\n1 ready alice\n").unwrap();
    assert!(!trace.contains("offered"), "{trace}");
    let mut alice = e.agent_def(AgentId(1)).unwrap().clone();
    alice.skills.push((demo::SK_PHYSIO, 1));
    e.handle(t(2), Input::UpsertAgent(alice)).unwrap();
    let events: Vec<Event> = e.drain_output().map(|r| r.event).collect();
    assert!(
        events.iter().any(|ev| matches!(
            ev,
            Event::Offered {
                contact: ContactId(1),
                agent: AgentId(1),
                ..
            }
        )),
        "{events:?}"
    );
    e.check_consistency().unwrap();
}

#[test]
fn changing_a_queue_priority_while_contacts_wait_reorders_across_queues() {
    let mut e = engine();
    // Hana serves the paramedic line (100) and the SPA (20).
    script::run(
        &mut e,
        "0 arrive c1 paramedic-line\n1 arrive c2 single-point-of-access\n",
    )
    .unwrap();
    let mut spa = e.queue_def(demo::SPA).unwrap().clone();
    spa.priority = 200;
    e.handle(t(2), Input::UpsertQueue(spa)).unwrap();
    let trace = script::run(&mut e, "3 ready hana\n").unwrap();
    assert!(trace.contains("c2 offered to Hana"), "{trace}");
    e.check_consistency().unwrap();
}

#[test]
fn new_overflow_steps_apply_to_contacts_already_waiting() {
    let mut e = engine();
    script::run(&mut e, "0 ready erin\n0 arrive c1 wheelchairs\n").unwrap();
    e.drain_output().for_each(drop);
    // Wheelchair calls now overflow to physiotherapy after 10 s: c1 has
    // waited 20 s, so it moves at once, keeping its place, and Erin gets it.
    let mut wc = e.queue_def(demo::WHEELCHAIRS).unwrap().clone();
    wc.overflow = vec![OverflowStep {
        after: DurationMs::from_secs(10),
        action: OverflowAction::MoveToQueue(demo::PHYSIO),
    }];
    e.handle(t(20), Input::UpsertQueue(wc)).unwrap();
    let lines: Vec<String> = e.drain_output().map(|r| format!("{:?}", r.event)).collect();
    let text = lines.join("\n");
    assert!(
        text.contains("Moved { contact: c1, from: q2, to: q4, reason: Overflow }"),
        "{text}"
    );
    assert!(
        text.contains("Offered { contact: c1, agent: a5, queue: q4"),
        "{text}"
    );
    assert_eq!(e.contact(ContactId(1)).unwrap().arrived_at, t(0));
}

#[test]
fn removing_a_queue_moves_its_contacts_or_is_refused() {
    let mut e = engine();
    script::run(
        &mut e,
        "0 arrive c1 physiotherapy\n1 arrive c2 physiotherapy\n",
    )
    .unwrap();
    let err = e
        .handle(
            t(2),
            Input::RemoveQueue {
                queue: demo::PHYSIO,
                move_waiting_to: None,
            },
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "queue q4 still has 2 contacts and no queue to move them to was given"
    );
    let err = e
        .handle(
            t(2),
            Input::RemoveQueue {
                queue: demo::SPA,
                move_waiting_to: None,
            },
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "configuration refused: queue q6 'Single point of access' is still in use: queue q3 'District nursing'");
    e.handle(
        t(3),
        Input::RemoveQueue {
            queue: demo::PHYSIO,
            move_waiting_to: Some(demo::SPA),
        },
    )
    .unwrap();
    assert_eq!(
        e.waiting_in_order(demo::SPA),
        vec![ContactId(1), ContactId(2)]
    );
    assert!(e.queue_def(demo::PHYSIO).is_none());
    e.check_consistency().unwrap();
}

#[test]
fn removing_a_busy_agent_is_refused() {
    let mut e = engine();
    script::run(
        &mut e,
        "0 ready erin\n1 arrive c1 physiotherapy\n2 accept erin c1\n",
    )
    .unwrap();
    let err = e
        .handle(t(3), Input::RemoveAgent { agent: AgentId(5) })
        .unwrap_err();
    assert_eq!(err, RoutingError::AgentHasWork(AgentId(5)));
    script::run(&mut e, "4 end c1\n").unwrap();
    e.handle(t(5), Input::RemoveAgent { agent: AgentId(5) })
        .unwrap();
    assert!(e.agent(AgentId(5)).is_none());
    e.check_consistency().unwrap();
}

#[test]
fn a_full_queue_refuses_or_overflows() {
    let mut c = kent_community_trust();
    c.queues[3].max_waiting = 2; // physiotherapy
    c.queues[3].when_full = WhenFull::Queue(demo::SPA);
    c.queues[5].max_waiting = 1; // SPA
    c.queues[5].when_full = WhenFull::Voicemail;
    let mut e = Engine::new(c, Timestamp::ZERO).unwrap();
    let trace = script::run(
        &mut e,
        "0 arrive c1 physiotherapy\n0 arrive c2 physiotherapy\n0 arrive c3 physiotherapy\n0 arrive c4 physiotherapy\n0 arrive c5 single-point-of-access chat\n",
    )
    .unwrap();
    let trace: String = trace
        .lines()
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    expect_test::expect![[r#"
           0.000s c1 arrived: voice for Physiotherapy (priority 0)
           0.000s c1 waits in Physiotherapy (step 0)
           0.000s c2 arrived: voice for Physiotherapy (priority 0)
           0.000s c2 waits in Physiotherapy (step 0)
           0.000s c3 arrived: voice for Physiotherapy (priority 0)
           0.000s c3 moved Physiotherapy -> Single point of access (QueueFull)
           0.000s c3 waits in Single point of access (step 0)
           0.000s c4 arrived: voice for Physiotherapy (priority 0)
           0.000s c4 refused: Physiotherapy is full
           0.000s c5 arrived: chat for Single point of access (priority 0)
           0.000s c5 refused: Single point of access is full
    "#]]
    .assert_eq(&trace);
}

#[test]
fn contact_limits_are_enforced() {
    let mut c = kent_community_trust();
    c.limits.max_live_contacts = 3;
    let mut e = Engine::new(c, Timestamp::ZERO).unwrap();
    for i in 0..3 {
        e.handle(
            t(0),
            Input::Arrive(NewContact::new(ContactId(i), demo::PHYSIO, Channel::Voice)),
        )
        .unwrap();
    }
    let err = e
        .handle(
            t(0),
            Input::Arrive(NewContact::new(ContactId(9), demo::PHYSIO, Channel::Voice)),
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "limit reached: live contacts (at most 3)");
    let mut nc = NewContact::new(ContactId(10), demo::PHYSIO, Channel::Voice);
    nc.attributes = vec![("x".repeat(600), "v".into())];
    let mut e = engine();
    let err = e.handle(t(0), Input::Arrive(nc)).unwrap_err();
    assert!(
        err.to_string().contains("is longer than 512 bytes"),
        "{err}"
    );
}

#[test]
fn replacing_the_whole_configuration_keeps_waiting_contacts() {
    let mut e = engine();
    script::run(
        &mut e,
        "0 arrive c1 wheelchairs\n1 arrive c2 wellbeing chat\n",
    )
    .unwrap();
    let mut c = kent_community_trust();
    c.agents.push(AgentDef {
        id: AgentId(20),
        name: "Kit".into(),
        team: TeamId(1),
        site: SiteId(2),
        skills: vec![(demo::SK_WHEELCHAIR, 2)],
        capacity: Capacity::VOICE_ONLY,
        auto_answer: false,
    });
    let mut extra = QueueDef::new(
        QueueId(7),
        "Equipment returns",
        vec![SkillReq {
            skill: demo::SK_WHEELCHAIR,
            min_level: 1,
        }],
    );
    extra.priority = 5;
    c.queues.push(extra);
    e.handle(t(2), Input::ReplaceConfig(c.clone())).unwrap();
    assert_eq!(e.config().queues.len(), 7);
    assert_eq!(e.waiting_in_order(demo::WHEELCHAIRS), vec![ContactId(1)]);
    let trace = script::run(&mut e, "3 ready kit\n").unwrap();
    assert!(trace.contains("c1 offered to Kit"), "{trace}");
    // Dropping a queue that still has a contact is refused whole.
    c.queues.retain(|q| q.id != demo::WELLBEING);
    let before = e.config();
    let err = e.handle(t(4), Input::ReplaceConfig(c)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "queue q5 still has 1 contacts and no queue to move them to was given"
    );
    assert_eq!(e.config(), before);
    e.check_consistency().unwrap();
}

#[test]
fn an_auto_answer_agent_answers_in_the_same_instant() {
    let mut c = kent_community_trust();
    c.agents[0].auto_answer = true; // Alice
    let mut e = Engine::new(c, Timestamp::ZERO).unwrap();
    let trace = script::run(&mut e, "0 ready alice\n5 arrive c1 wheelchairs\n").unwrap();
    let lines: Vec<&str> = trace.lines().map(str::trim).collect();
    assert_eq!(
        lines[3],
        "5.000s c1 offered to Alice (Wheelchairs), rings until 25.000s"
    );
    assert_eq!(lines[4], "5.000s c1 answered by Alice after 0.000s");
    // No ring-out timer is left behind.
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn replacing_the_configuration_can_drop_queues_that_point_at_each_other() {
    // Two extra queues: Returns overflows into Equipment when full, and
    // Equipment into Returns. A new configuration drops both at once.
    let mut c = kent_community_trust();
    let mut returns = QueueDef::new(QueueId(7), "Returns", vec![]);
    returns.when_full = WhenFull::Queue(QueueId(8));
    let mut equipment = QueueDef::new(QueueId(8), "Equipment", vec![]);
    equipment.when_full = WhenFull::Queue(QueueId(7));
    c.queues.push(returns);
    c.queues.push(equipment);
    let mut e = Engine::new(c, Timestamp::ZERO).unwrap();
    e.handle(t(1), Input::ReplaceConfig(kent_community_trust()))
        .unwrap();
    assert!(e.queue_def(QueueId(7)).is_none() && e.queue_def(QueueId(8)).is_none());
    e.check_consistency().unwrap();
}

/// `QueueDef::serves` (which queues an agent's desktop lists as theirs)
/// says what the engine does: for every queue and agent of the demo, a
/// contact waiting alone with that agent alone ready is first offered to
/// them exactly when `serves` says, and never when it says never (up to
/// the step that sends the contact elsewhere).
#[test]
fn serves_tells_when_the_engine_would_offer_a_queue_s_contact_to_an_agent() {
    let config = kent_community_trust();
    let mut checked = (0, 0);
    for q in &config.queues {
        // The step that takes the contact out of the queue, if any.
        let leaves = q
            .overflow
            .iter()
            .find(|s| {
                matches!(
                    s.action,
                    OverflowAction::Voicemail | OverflowAction::MoveToQueue(_)
                )
            })
            .map_or(DurationMs::from_secs(3600), |s| s.after);
        for a in &config.agents {
            let channel = if a.capacity.voice > 0 {
                Channel::Voice
            } else if a.capacity.chat > 0 {
                Channel::Chat
            } else {
                continue;
            };
            let mut e = engine();
            e.handle(
                t(0),
                Input::SetPresence {
                    agent: a.id,
                    presence: Presence::Ready,
                },
            )
            .unwrap();
            e.handle(
                t(0),
                Input::Arrive(NewContact::new(ContactId(1), q.id, channel)),
            )
            .unwrap();
            let offered_at = |e: &mut Engine| {
                e.drain_output().find_map(|r| match r.event {
                    Event::Offered { agent, .. } if agent == a.id => Some(r.at),
                    _ => None,
                })
            };
            let mut first = offered_at(&mut e);
            while first.is_none() {
                match e.poll_timeout() {
                    Some(at) if at.0 < leaves.0 => {
                        e.handle_timeout(at).unwrap();
                        first = offered_at(&mut e);
                    }
                    _ => break,
                }
            }
            let want = q
                .serves(a)
                .filter(|d| d.0 < leaves.0)
                .map(|d| Timestamp(d.0));
            assert_eq!(
                first, want,
                "queue {} '{}', agent {} '{}'",
                q.id, q.name, a.id, a.name
            );
            if want.is_some() {
                checked.0 += 1
            } else {
                checked.1 += 1
            }
        }
    }
    // Both answers occur in the demo (and overflow-only service too).
    assert!(checked.0 > 0 && checked.1 > 0, "{checked:?}");
}
