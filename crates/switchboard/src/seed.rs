//! First-run set-up: the demo organisations and their clearly marked demo
//! accounts (`serve --demo`), and the real first-run bootstrap (one
//! organisation and its first admin, the password read from stdin; no
//! default password anywhere).

use app::auth;
use model::{AgentId, OrgId, QueueId, SiteId, SkillId, TeamId};
use routing::{AgentDef, Capacity, Config, QueueDef, SiteDef, SkillDef, SkillReq, TeamDef};
use store::directory::{Directory, NewUser};
use store::{SqliteStore, Store, StoreError};

/// The demo accounts' password (published: demo accounts only).
pub const DEMO_PASSWORD: &str = "switchboard-demo";

/// The demo trust's patients (made up: NHS numbers from the test range,
/// phone numbers from Ofcom's drama range): some demo callers ring from
/// these numbers, so the screen pop finds them.
pub const DEMO_PATIENTS: [(&str, &str, &str, &str); 6] = [
    ("9991000003", "Ada Demo", "1941-03-12", "07700 900101"),
    ("9991000011", "Bilal Example", "1987-11-02", "07700 900102"),
    ("9991000038", "Catrin Sample", "1955-06-30", "07700 900103"),
    ("9991000046", "Dev Testcase", "2001-01-19", "07700 900104"),
    (
        "9991000054",
        "Eliza Placeholder",
        "1968-09-08",
        "07700 900105",
    ),
    ("9991000062", "Frank Fixture", "1932-12-24", "07700 900106"),
];

/// A demo account, for the start-up banner.
#[derive(Clone, Debug)]
pub struct DemoPerson {
    pub org: OrgId,
    pub username: String,
    pub what: String,
    pub agent: Option<AgentId>,
}

use app::clinical::CLINICAL_BASE;

/// The demo community trust, staffed for a living demo: the routing demo's
/// six services and five teams with 50 agents over four sites plus home
/// workers (the first twelve are the routing demo's own people).
pub fn community_trust() -> Config {
    use routing::demo::*;
    let mut c = kent_community_trust();
    // The people who log in take web chats beside calls (a call, or up to
    // three chats at once).
    for a in c.agents.iter_mut() {
        if a.id == AgentId(1) || a.id == AgentId(8) {
            a.capacity = Capacity::BLENDED;
        }
    }
    // Clinical callbacks: a clinician rings back the patients a triage
    // sent for a callback. Each callback's priority is set from its
    // deadline and grows a point a minute, so the earliest deadline is
    // always served first.
    let mut clinical = QueueDef::new(
        QueueId(7),
        "Clinical callbacks",
        vec![SkillReq {
            skill: SK_CLINICAL,
            min_level: 1,
        }],
    );
    clinical.teams = Some(vec![TeamId(5)]);
    clinical.clinical = true;
    clinical.aging = Some(routing::Aging {
        every: model::DurationMs::from_secs(60),
        max_boost: CLINICAL_BASE,
    });
    clinical.target = routing::ServiceTarget {
        within: model::DurationMs::from_secs(600),
        percent: 90,
    };
    c.queues.push(clinical);
    for (id, name) in [(4, "Canterbury"), (5, "Tunbridge Wells")] {
        c.sites.push(SiteDef {
            id: SiteId(id),
            name: name.into(),
        });
    }
    let first = [
        "Amir", "Beth", "Cai", "Dina", "Eli", "Fay", "Gus", "Hira", "Ivan", "Jess", "Kofi", "Lily",
        "Max", "Nell", "Omar", "Pia", "Quinn", "Rhys", "Sana", "Tom", "Una", "Vik", "Wren", "Xia",
        "Yusuf", "Zoe", "Abe", "Bea", "Cody", "Dee", "Ezra", "Flo", "Gil", "Hope", "Ike", "Jade",
        "Kit", "Lou",
    ];
    // Team by team: what each team's people can do.
    let skills_of = |team: u32, i: usize| -> Vec<(SkillId, u8)> {
        let lvl = 1 + (i % 3) as u8;
        let mut v = match team {
            1 => vec![(SK_WHEELCHAIR, lvl)],
            2 => vec![(SK_NURSING, lvl)],
            3 => vec![(SK_PHYSIO, lvl)],
            4 => vec![(SK_HEALTH_CHECKS, lvl), (SK_STOP_SMOKING, 1)],
            _ => vec![(SK_CLINICAL, lvl), (SK_NURSING, 1)],
        };
        if i.is_multiple_of(7) {
            v.push((SK_POLISH, 1));
        }
        v
    };
    for (i, name) in first.iter().enumerate() {
        let team = 1 + (i % 5) as u32;
        // Sites 1, 2, 4, 5 and home (3), spread across teams.
        let site = [1, 2, 4, 5, 3][(i / 5 + i) % 5];
        c.agents.push(AgentDef {
            id: AgentId(13 + i as u32),
            name: (*name).into(),
            team: TeamId(team),
            site: SiteId(site),
            skills: skills_of(team, i),
            capacity: if team == 4 {
                Capacity::BLENDED
            } else {
                Capacity::VOICE_ONLY
            },
            auto_answer: false,
        });
    }
    c
}

/// A second, small demo organisation (a GP network), so that a newcomer
/// (and the authorisation tests) can see that organisations are apart.
/// Its ids differ from the trust's on purpose.
pub fn gp_network() -> Config {
    let s = |id: u32, name: &str| SkillDef {
        id: SkillId(id),
        name: name.into(),
    };
    let mut appointments = QueueDef::new(
        QueueId(201),
        "Appointments",
        vec![SkillReq {
            skill: SkillId(1),
            min_level: 1,
        }],
    );
    appointments.priority = 10;
    let prescriptions = QueueDef::new(
        QueueId(202),
        "Prescriptions",
        vec![SkillReq {
            skill: SkillId(2),
            min_level: 1,
        }],
    );
    let agent = |id: u32, name: &str, skills: &[(u32, u8)]| AgentDef {
        id: AgentId(id),
        name: name.into(),
        team: TeamId(1),
        site: SiteId(1),
        skills: skills.iter().map(|&(s, l)| (SkillId(s), l)).collect(),
        capacity: Capacity::VOICE_ONLY,
        auto_answer: false,
    };
    Config {
        limits: Default::default(),
        skills: vec![s(1, "Reception"), s(2, "Prescriptions")],
        teams: vec![TeamDef {
            id: TeamId(1),
            name: "Care navigators".into(),
        }],
        sites: vec![SiteDef {
            id: SiteId(1),
            name: "Chatham".into(),
        }],
        queues: vec![appointments, prescriptions],
        agents: vec![
            agent(201, "Nadia", &[(1, 2), (2, 1)]),
            agent(202, "Owen", &[(1, 1)]),
            agent(203, "Priya", &[(2, 2)]),
        ],
    }
}

/// Seeds the demo organisations and accounts on first run; returns the
/// demo accounts (on every run).
pub fn demo(st: &mut SqliteStore, dir: &mut Directory) -> Result<Vec<DemoPerson>, StoreError> {
    if st.organisations()?.is_empty() {
        let at = app::wall_clock();
        let kent =
            st.create_organisation("Kent Community Health (demo)", &community_trust(), at)?;
        let medway = st.create_organisation("Medway GP Network (demo)", &gp_network(), at)?;
        for (nhs, name, born, phone) in DEMO_PATIENTS {
            let p = model::Patient {
                nhs_number: model::NhsNumber::parse(nhs).expect("a valid demo NHS number"),
                name: model::Sensitive::new(name.to_string()),
                date_of_birth: model::Sensitive::new(born.to_string()),
                phones: vec![model::PhoneNumber::parse(phone).expect("a demo phone number")],
                gp_practice: None,
            };
            dir.put_patient(
                kent,
                &p,
                at,
                &app::system_record("create demo patient", "a demo patient".into(), Some(kent)),
            )?;
        }
        // One hash for every demo account: they share a published password.
        let phc = auth::hash_password(DEMO_PASSWORD);
        let people: [(OrgId, &str, &str, &str, Option<u32>); 12] = [
            (kent, "kent.agent", "Alice (demo agent)", "agent", Some(1)),
            (
                kent,
                "kent.clinician",
                "Hana (demo clinician)",
                "clinician",
                Some(8),
            ),
            (
                kent,
                "kent.supervisor",
                "Demo supervisor",
                "supervisor",
                None,
            ),
            (kent, "kent.admin", "Demo admin", "admin", None),
            (kent, "kent.auditor", "Demo auditor", "auditor", None),
            (kent, "kent.quality", "Demo quality lead", "quality", None),
            (
                medway,
                "medway.agent",
                "Nadia (demo agent)",
                "agent",
                Some(201),
            ),
            (
                medway,
                "medway.clinician",
                "Owen (demo clinician)",
                "clinician",
                Some(202),
            ),
            (
                medway,
                "medway.supervisor",
                "Demo supervisor",
                "supervisor",
                None,
            ),
            (medway, "medway.admin", "Demo admin", "admin", None),
            (medway, "medway.auditor", "Demo auditor", "auditor", None),
            (
                medway,
                "medway.quality",
                "Demo quality lead",
                "quality",
                None,
            ),
        ];
        for (org, username, name, role, agent) in people {
            let id = dir.create_user(
                &NewUser {
                    org,
                    username,
                    display_name: name,
                    role,
                    agent: agent.map(AgentId),
                    password_hash: &phc,
                    demo: true,
                },
                at,
                &app::system_record("create demo account", format!("user {username}"), Some(org)),
            )?;
            if agent.is_some() {
                let ha1 = telephony::digest::ha1(username, app::auth::SIP_REALM, DEMO_PASSWORD);
                dir.set_sip_ha1(id, &ha1)?;
            }
        }
        // The trust's phone numbers (Ofcom's drama range, never real).
        let services = [
            (
                101,
                "Community health service (main number)",
                6,
                "+441632960000",
                Some("kent-main"),
            ),
            (102, "Paramedic line", 1, "+441632960001", Some("paramedic")),
            (
                103,
                "Wheelchair service",
                2,
                "+441632960002",
                Some("wheelchairs"),
            ),
            (104, "Physiotherapy (no menu)", 4, "+441632960003", None),
        ];
        for (id, name, queue, number, flow) in services {
            // The main number's service and physiotherapy take web chats too.
            let chat = match id {
                101 => Some("chat-main"),
                103 => Some("chat-wheelchairs"),
                104 => Some("chat-physio"),
                _ => None,
            };
            let mut entry_points = vec![serde_json::json!({ "kind": "phone", "address": number })];
            let mut index = vec![("phone".to_string(), number.to_string())];
            if let Some(c) = chat {
                entry_points.push(serde_json::json!({ "kind": "chat", "address": c }));
                index.push(("chat".to_string(), c.to_string()));
            }
            // The wheelchair service takes email (read only if `--channels`
            // names a mailbox for it).
            if id == 103 {
                let a = "wheelchairs@kentcommunity.test";
                entry_points.push(serde_json::json!({ "kind": "email", "address": a }));
                index.push(("email".to_string(), a.to_string()));
            }
            let mut def = serde_json::json!({
                "name": name,
                "queue": queue,
                "entry_points": entry_points,
            });
            if let Some(f) = flow {
                def["flow"] = f.into();
            }
            // The wheelchair service asks how it did, by text (sent only if
            // GOV.UK Notify is configured).
            if id == 103 {
                def["survey"] = serde_json::json!({});
            }
            // The main number keeps office hours (its flow says so to
            // callers; the chat widget says so before a chat starts).
            if id == 101 {
                let main: serde_json::Value =
                    serde_json::from_str(include_str!("../../../examples/flows/kent-main.json"))
                        .expect("the demo flow parses");
                def["hours"] = main["calendars"]["office"].clone();
            }
            dir.put_service(
                kent,
                id,
                &def.to_string(),
                &index,
                &app::system_record("create demo service", format!("service {id}"), Some(kent)),
            )?;
        }
    }
    let mut out = Vec::new();
    for (org, name) in st.organisations()? {
        for u in dir.users(org)?.into_iter().filter(|u| u.demo) {
            out.push(DemoPerson {
                org,
                what: format!("{} — {}, {name}", u.role, u.display_name),
                username: u.username,
                agent: u.agent,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_organisations_are_valid_and_the_trust_is_staffed() {
        let c = super::community_trust();
        routing::Engine::new(c.clone(), model::Timestamp::ZERO).unwrap();
        routing::Engine::new(super::gp_network(), model::Timestamp::ZERO).unwrap();
        assert_eq!(c.agents.len(), 50);
        assert!(c.queues.iter().any(|q| q.name == "Clinical callbacks"));
        assert_eq!(c.teams.len(), 5);
        let mut sites: Vec<_> = c.agents.iter().map(|a| a.site).collect();
        sites.sort();
        sites.dedup();
        assert_eq!(sites.len(), 5, "four sites and home");
        let engine = routing::Engine::new(c.clone(), model::Timestamp::ZERO).unwrap();
        for q in &c.queues {
            let n = engine.queue_view(q.id).unwrap().candidate_agents;
            assert!(n >= 5, "{}: {n} agents can take its calls", q.name);
        }
    }
}
