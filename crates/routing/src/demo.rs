//! A demo organisation: a community trust virtual contact centre in the
//! shape of the Kent case study (a paramedic line, wheelchair service,
//! district nursing, therapies, wellbeing; five teams over two sites and
//! home). Used by the demo, the snapshot tests and the benchmarks. Names
//! are made up.

use crate::config::{
    AgentDef, Aging, Capacity, Config, OverflowAction, OverflowStep, QueueDef, ServiceTarget,
    SiteDef, SkillDef, SkillReq, Strategy, TeamDef,
};
use model::{AgentId, DurationMs, QueueId, SiteId, SkillId, TeamId};

pub const PARAMEDIC: QueueId = QueueId(1);
pub const WHEELCHAIRS: QueueId = QueueId(2);
pub const DISTRICT_NURSING: QueueId = QueueId(3);
pub const PHYSIO: QueueId = QueueId(4);
pub const WELLBEING: QueueId = QueueId(5);
pub const SPA: QueueId = QueueId(6);

pub const SK_WHEELCHAIR: SkillId = SkillId(1);
pub const SK_NURSING: SkillId = SkillId(2);
pub const SK_PHYSIO: SkillId = SkillId(3);
pub const SK_HEALTH_CHECKS: SkillId = SkillId(4);
pub const SK_STOP_SMOKING: SkillId = SkillId(5);
pub const SK_CLINICAL: SkillId = SkillId(6);
pub const SK_POLISH: SkillId = SkillId(7);

fn secs(s: i64) -> DurationMs {
    DurationMs::from_secs(s)
}

fn req(skill: SkillId, min_level: u8) -> SkillReq {
    SkillReq { skill, min_level }
}

/// The Kent-style community trust.
pub fn kent_community_trust() -> Config {
    let skills = [
        (SK_WHEELCHAIR, "Wheelchair service"),
        (SK_NURSING, "District nursing"),
        (SK_PHYSIO, "Physiotherapy"),
        (SK_HEALTH_CHECKS, "Health checks"),
        (SK_STOP_SMOKING, "Stop smoking"),
        (SK_CLINICAL, "Clinical triage"),
        (SK_POLISH, "Polish"),
    ]
    .into_iter()
    .map(|(id, name)| SkillDef {
        id,
        name: name.into(),
    })
    .collect();
    let teams = [
        "Wheelchair team",
        "District nursing team",
        "Therapies team",
        "Wellbeing team",
        "Single point of access",
    ]
    .into_iter()
    .enumerate()
    .map(|(i, name)| TeamDef {
        id: TeamId(i as u32 + 1),
        name: name.into(),
    })
    .collect();
    let sites = ["Maidstone", "Ashford", "Home"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| SiteDef {
            id: SiteId(i as u32 + 1),
            name: name.into(),
        })
        .collect();

    let mut paramedic = QueueDef::new(PARAMEDIC, "Paramedic line", vec![req(SK_CLINICAL, 1)]);
    paramedic.priority = 100;
    // Answered by the clinicians' team: clinical assessment in the KPIs.
    paramedic.clinical = true;
    paramedic.target = ServiceTarget {
        within: secs(10),
        percent: 95,
    };
    paramedic.teams = Some(vec![TeamId(5)]);
    paramedic.strategy = Strategy::MostSkilled;
    paramedic.offer_timeout = secs(15);
    paramedic.wrap_up = secs(60);
    paramedic.overflow = vec![OverflowStep {
        after: secs(20),
        action: OverflowAction::AnyTeam,
    }];

    let mut wheelchairs = QueueDef::new(WHEELCHAIRS, "Wheelchairs", vec![req(SK_WHEELCHAIR, 2)]);
    wheelchairs.teams = Some(vec![TeamId(1)]);
    wheelchairs.wrap_up = secs(30);
    wheelchairs.target = ServiceTarget {
        within: secs(60),
        percent: 80,
    };
    wheelchairs.overflow = vec![
        OverflowStep {
            after: secs(30),
            action: OverflowAction::RelaxSkill {
                skill: SK_WHEELCHAIR,
                min_level: 1,
            },
        },
        OverflowStep {
            after: secs(60),
            action: OverflowAction::AddTeams(vec![TeamId(3), TeamId(4)]),
        },
        OverflowStep {
            after: secs(120),
            action: OverflowAction::OfferCallback,
        },
        OverflowStep {
            after: secs(600),
            action: OverflowAction::Voicemail,
        },
    ];

    let mut nursing = QueueDef::new(
        DISTRICT_NURSING,
        "District nursing",
        vec![req(SK_NURSING, 1)],
    );
    nursing.teams = Some(vec![TeamId(2)]);
    nursing.priority = 10;
    nursing.wrap_up = secs(45);
    nursing.overflow = vec![
        OverflowStep {
            after: secs(60),
            action: OverflowAction::AddTeams(vec![TeamId(5)]),
        },
        OverflowStep {
            after: secs(300),
            action: OverflowAction::MoveToQueue(SPA),
        },
    ];

    let mut physio = QueueDef::new(PHYSIO, "Physiotherapy", vec![req(SK_PHYSIO, 1)]);
    physio.aging = Some(Aging {
        every: secs(60),
        max_boost: 20,
    });
    physio.strategy = Strategy::RoundRobin;

    let mut wellbeing = QueueDef::new(WELLBEING, "Wellbeing", vec![req(SK_HEALTH_CHECKS, 1)]);
    wellbeing.priority = -10;
    wellbeing.strategy = Strategy::LeastOccupied;
    wellbeing.offer_timeout = secs(60);
    wellbeing.target = ServiceTarget {
        within: secs(3600),
        percent: 90,
    };

    let mut spa = QueueDef::new(SPA, "Single point of access", vec![]);
    spa.teams = Some(vec![TeamId(5)]);
    spa.priority = 20;
    spa.wrap_up = secs(30);

    let voice = Capacity::VOICE_ONLY;
    let blended = Capacity::BLENDED;
    let agent = |id: u32,
                 name: &str,
                 team: u32,
                 site: u32,
                 skills: &[(SkillId, u8)],
                 capacity: Capacity| AgentDef {
        id: AgentId(id),
        name: name.into(),
        team: TeamId(team),
        site: SiteId(site),
        skills: skills.to_vec(),
        capacity,
        auto_answer: false,
    };
    let agents = vec![
        agent(1, "Alice", 1, 1, &[(SK_WHEELCHAIR, 3)], voice),
        agent(2, "Bob", 1, 2, &[(SK_WHEELCHAIR, 1), (SK_POLISH, 2)], voice),
        agent(3, "Carol", 2, 1, &[(SK_NURSING, 2)], voice),
        agent(4, "Dev", 2, 3, &[(SK_NURSING, 1), (SK_CLINICAL, 1)], voice),
        agent(5, "Erin", 3, 2, &[(SK_PHYSIO, 2)], voice),
        agent(
            6,
            "Femi",
            4,
            3,
            &[
                (SK_HEALTH_CHECKS, 2),
                (SK_STOP_SMOKING, 2),
                (SK_WHEELCHAIR, 1),
            ],
            blended,
        ),
        agent(
            7,
            "Grace",
            4,
            1,
            &[(SK_HEALTH_CHECKS, 1), (SK_POLISH, 1)],
            blended,
        ),
        agent(8, "Hana", 5, 1, &[(SK_CLINICAL, 3), (SK_NURSING, 1)], voice),
        agent(9, "Idris", 5, 2, &[(SK_CLINICAL, 2)], voice),
        agent(10, "Jo", 3, 3, &[(SK_PHYSIO, 1), (SK_WHEELCHAIR, 2)], voice),
        agent(11, "Kai", 5, 2, &[(SK_CLINICAL, 3)], voice),
        agent(12, "Lena", 2, 1, &[(SK_NURSING, 2), (SK_POLISH, 1)], voice),
    ];
    Config {
        limits: Default::default(),
        skills,
        teams,
        sites,
        queues: vec![paramedic, wheelchairs, nursing, physio, wellbeing, spa],
        agents,
    }
}
