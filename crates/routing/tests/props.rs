//! Property tests: random configurations and random input sequences, with
//! an independent checker that rebuilds state from the event log alone and
//! checks the routing invariants at every offer:
//!
//! 1. a contact is never offered to two agents at once;
//! 2. an agent never exceeds its capacity (per medium, voice exclusive);
//! 3. nobody gets a contact they lack the skills or team for, at the
//!    overflow step in force (directed transfers excepted: they name the
//!    agent);
//! 4. when two contacts are both eligible for an agent, the higher
//!    effective priority, then the longer wait, goes first;
//! 5. every contact that arrives ends in exactly one terminal state;
//! 6. the same inputs always give the same outputs (replay);
//! 7. the state rebuilt from events agrees with the engine's own, and the
//!    engine's indexes are consistent (`check_consistency`).
//!
//! The configuration and the inputs come from proptest; a failure prints
//! the shrunk case, which replays exactly (and is kept in
//! `props.proptest-regressions`, replayed first on every run; only the
//! `cc` seed matters — elide proptest's "shrinks to" comment before
//! committing, as its random numbers can look like real NHS numbers).
//! `PROPS_TRACE=1` prints every input and event of the runs, to read a
//! failure.

use model::{
    AgentId, Channel, ContactId, DurationMs, Media, Priority, QueueId, SiteId, SkillId, TeamId,
    Timestamp,
};
use proptest::prelude::*;
use routing::{
    demo, AgentDef, Aging, Capacity, Config, ContactState, Engine, Event, Input, NewContact,
    NotReadyReason, OverflowAction, OverflowStep, Presence, QueueDef, Record, ServiceTarget,
    SiteDef, SkillDef, SkillReq, Strategy as Pick, TeamDef, TransferMode, TransferTarget, WhenFull,
};
use std::collections::BTreeMap;

// ----- a tiny deterministic generator for configurations ---------------------

use model::rng::SplitMix64 as Rng;

trait Percent {
    fn percent(&mut self, p: u64) -> bool;
}
impl Percent for Rng {
    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

fn random_config(seed: u64) -> Config {
    if seed.is_multiple_of(4) {
        return demo::kent_community_trust();
    }
    let mut r = Rng::new(seed);
    let n_skills = 2 + r.below(4) as u32;
    let n_teams = 1 + r.below(3) as u32;
    let n_queues = 2 + r.below(4) as u32;
    let n_agents = 2 + r.below(8) as u32;
    let skills: Vec<SkillDef> = (1..=n_skills)
        .map(|i| SkillDef {
            id: SkillId(i),
            name: format!("skill {i}"),
        })
        .collect();
    let teams: Vec<TeamDef> = (1..=n_teams)
        .map(|i| TeamDef {
            id: TeamId(i),
            name: format!("team {i}"),
        })
        .collect();
    let sites = vec![
        SiteDef {
            id: SiteId(1),
            name: "North".into(),
        },
        SiteDef {
            id: SiteId(2),
            name: "South".into(),
        },
    ];
    let mut queues = Vec::new();
    for i in 1..=n_queues {
        let mut reqs = vec![SkillReq {
            skill: SkillId(1 + r.below(n_skills as u64) as u32),
            min_level: 1 + r.below(3) as u8,
        }];
        if r.percent(30) {
            let s = SkillId(1 + r.below(n_skills as u64) as u32);
            if s != reqs[0].skill {
                reqs.push(SkillReq {
                    skill: s,
                    min_level: 1,
                });
            }
        }
        let mut q = QueueDef::new(QueueId(i), &format!("queue {i}"), reqs.clone());
        q.priority = [0, 0, 5, 10, 100][r.below(5) as usize];
        q.strategy = [
            Pick::LongestIdle,
            Pick::MostSkilled,
            Pick::LeastOccupied,
            Pick::RoundRobin,
        ][r.below(4) as usize];
        q.offer_timeout = DurationMs::from_secs(5 + r.below(20) as i64);
        q.wrap_up = DurationMs::from_secs([0, 0, 5, 15][r.below(4) as usize]);
        q.target = ServiceTarget {
            within: DurationMs::from_secs(20),
            percent: 80,
        };
        if r.percent(30) {
            q.aging = Some(Aging {
                every: DurationMs::from_secs(10 + r.below(30) as i64),
                max_boost: r.below(20) as Priority,
            });
        }
        if r.percent(40) {
            q.teams = Some(vec![TeamId(1 + r.below(n_teams as u64) as u32)]);
        }
        if r.percent(20) {
            q.max_waiting = 1 + r.below(4) as u32;
            q.when_full = match r.below(3) {
                0 => WhenFull::Reject,
                1 => WhenFull::Voicemail,
                _ if i < n_queues => WhenFull::Queue(QueueId(i + 1)),
                _ => WhenFull::Reject,
            };
        }
        let mut after = 0;
        let mut levels: BTreeMap<SkillId, u8> =
            reqs.iter().map(|r| (r.skill, r.min_level)).collect();
        for _ in 0..r.below(4) {
            after += 5 + r.below(40) as i64;
            let action = match r.below(6) {
                0 => {
                    let (&skill, &lvl) = levels.iter().next().unwrap();
                    if lvl == 0 {
                        continue;
                    }
                    let to = lvl - 1;
                    levels.insert(skill, to);
                    OverflowAction::RelaxSkill {
                        skill,
                        min_level: to,
                    }
                }
                1 => OverflowAction::AddTeams(vec![TeamId(1 + r.below(n_teams as u64) as u32)]),
                2 => OverflowAction::AnyTeam,
                3 => OverflowAction::OfferCallback,
                _ => continue,
            };
            q.overflow.push(OverflowStep {
                after: DurationMs::from_secs(after),
                action,
            });
        }
        if r.percent(30) {
            after += 5 + r.below(60) as i64;
            let action = if i < n_queues && r.percent(60) {
                OverflowAction::MoveToQueue(QueueId(i + 1 + r.below((n_queues - i) as u64) as u32))
            } else {
                OverflowAction::Voicemail
            };
            q.overflow.push(OverflowStep {
                after: DurationMs::from_secs(after),
                action,
            });
        }
        queues.push(q);
    }
    let agents = (1..=n_agents)
        .map(|i| agent_def(&mut r, i, n_skills, n_teams))
        .collect();
    Config {
        limits: Default::default(),
        skills,
        teams,
        sites,
        queues,
        agents,
    }
}

fn agent_def(r: &mut Rng, i: u32, n_skills: u32, n_teams: u32) -> AgentDef {
    let mut skills = Vec::new();
    for s in 1..=n_skills {
        if r.percent(55) {
            skills.push((SkillId(s), 1 + r.below(3) as u8));
        }
    }
    let capacity = match r.below(3) {
        0 => Capacity::VOICE_ONLY,
        1 => Capacity::BLENDED,
        _ => Capacity {
            voice: 1,
            chat: 2,
            email: 1,
            sms: 1,
            voice_exclusive: false,
        },
    };
    AgentDef {
        id: AgentId(i),
        name: format!("agent {i}"),
        team: TeamId(1 + r.below(n_teams as u64) as u32),
        site: SiteId(1 + r.below(2) as u32),
        skills,
        capacity,
        auto_answer: r.percent(25),
    }
}

// ----- operations ------------------------------------------------------------

#[derive(Debug, Clone)]
struct Op {
    delay_ms: u32,
    kind: u8,
    a: u32,
    b: u32,
    c: u32,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    (
        prop_oneof![Just(0u32), 1u32..2_000, 1u32..30_000],
        0u8..24,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(delay_ms, kind, a, b, c)| Op {
            delay_ms,
            kind,
            a,
            b,
            c,
        })
}

fn pick<T: Clone>(v: &[T], i: u32) -> Option<T> {
    (!v.is_empty()).then(|| v[i as usize % v.len()].clone())
}

const CHANNELS: [Channel; 5] = [
    Channel::Voice,
    Channel::Voice,
    Channel::Chat,
    Channel::Email,
    Channel::Sms,
];

/// Turns an op into an input, given the engine's state now. Extra contact
/// requirements are remembered for the checker.
fn input_for(
    e: &Engine,
    cfg: &Config,
    op: &Op,
    next_id: &mut u64,
    reqs: &mut BTreeMap<ContactId, Vec<SkillReq>>,
) -> Option<Input> {
    let contacts = e.contact_ids();
    let agents = e.agent_ids();
    let queues: Vec<QueueId> = cfg.queues.iter().map(|q| q.id).collect();
    let in_state = |f: &dyn Fn(&ContactState) -> bool| -> Vec<ContactId> {
        contacts
            .iter()
            .copied()
            .filter(|&c| f(&e.contact(c).unwrap().routing))
            .collect()
    };
    let active: Vec<ContactId> = contacts
        .iter()
        .copied()
        .filter(|&c| matches!(e.contact(c).unwrap().state, ContactState::InProgress { .. }))
        .collect();
    Some(match op.kind {
        0..=4 => {
            *next_id += 1;
            let id = ContactId(*next_id);
            let mut nc = NewContact::new(
                id,
                pick(&queues, op.a)?,
                CHANNELS[op.b as usize % CHANNELS.len()],
            );
            nc.priority = [0, 0, 0, 1, 5, -3][op.c as usize % 6];
            if op.c.is_multiple_of(7) {
                let s = pick(&cfg.skills, op.c / 7)?.id;
                nc.requirements.push(SkillReq {
                    skill: s,
                    min_level: 1 + (op.c % 2) as u8,
                });
            }
            let mut known = nc.requirements.clone();
            // Some are real phone calls: only an agent whose phone is
            // connected may take them (told to the checker by a marker).
            if op.c % 5 == 1 {
                nc.needs_endpoint = true;
                known.push(SkillReq {
                    skill: NEEDS_ENDPOINT,
                    min_level: 1,
                });
            }
            reqs.insert(id, known);
            Input::Arrive(nc)
        }
        5 => {
            *next_id += 1;
            let id = ContactId(*next_id);
            reqs.insert(id, Vec::new());
            let due = e.now().plus(DurationMs((op.c % 60_000) as i64));
            Input::ScheduleCallback {
                contact: NewContact::new(id, pick(&queues, op.a)?, Channel::Callback),
                due_at: due,
                // Some callbacks have a deadline (clinical ones).
                deadline: op
                    .b
                    .is_multiple_of(3)
                    .then(|| due.plus(DurationMs(3_600_000))),
            }
        }
        6 => Input::Abandon {
            contact: pick(
                &in_state(&|s| !matches!(s, ContactState::InProgress { .. })),
                op.a,
            )?,
        },
        7..=9 => {
            let offered = in_state(&|s| matches!(s, ContactState::Offered(_)));
            let c = pick(&offered, op.a)?;
            let ContactState::Offered(agent) = e.contact(c).unwrap().routing else {
                unreachable!()
            };
            if op.kind == 9 && op.b.is_multiple_of(2) {
                Input::Reject { agent, contact: c }
            } else {
                Input::Accept { agent, contact: c }
            }
        }
        10 | 11 => Input::End {
            contact: pick(&active, op.a)?,
        },
        12 => {
            let c = pick(&active, op.a)?;
            match e.contact(c).unwrap().state {
                ContactState::InProgress { on_hold: true, .. } => Input::Resume { contact: c },
                _ => Input::Hold { contact: c },
            }
        }
        13 => {
            let c = pick(&active, op.a)?;
            let to = if op.b.is_multiple_of(3) {
                TransferTarget::Agent(pick(&agents, op.c)?)
            } else {
                TransferTarget::Queue(pick(&queues, op.c)?)
            };
            let mode = if op.b.is_multiple_of(2) {
                TransferMode::Warm
            } else {
                TransferMode::Cold
            };
            Input::Transfer {
                contact: c,
                to,
                mode,
            }
        }
        14 => Input::CancelTransfer {
            contact: pick(&active, op.a)?,
        },
        15 => {
            let a = pick(&agents, op.a)?;
            let wrapping: Vec<ContactId> = e
                .agent(a)
                .unwrap()
                .work
                .iter()
                .filter(|w| matches!(w.2, routing::WorkPhase::WrapUp { .. }))
                .map(|w| w.0)
                .collect();
            let contact = pick(&wrapping, op.b)?;
            if op.c.is_multiple_of(3) {
                // More time: 1 to 700 s (over 600 is refused).
                Input::ExtendWrapUp {
                    agent: a,
                    contact,
                    by: model::DurationMs(1000 * i64::from(1 + op.c % 700)),
                }
            } else {
                Input::WrapUpDone { agent: a, contact }
            }
        }
        16..=18 => {
            let presence = match op.b % 6 {
                0 => Presence::Offline,
                1 => Presence::NotReady(NotReadyReason::Break),
                _ => Presence::Ready,
            };
            Input::SetPresence {
                agent: pick(&agents, op.a)?,
                presence,
            }
        }
        19 => Input::SetPriority {
            contact: pick(&contacts, op.a)?,
            priority: (op.b % 21) as i32 - 10,
        },
        20 => Input::RequestCallback {
            contact: pick(&in_state(&|s| *s == ContactState::Waiting), op.a)?,
        },
        21 => Input::SetSiteOnAir {
            site: SiteId(1 + op.a % 2),
            on_air: !op.b.is_multiple_of(3),
        },
        22 => Input::SetEndpoint {
            agent: pick(&agents, op.a)?,
            connected: !op.b.is_multiple_of(4),
        },
        _ => {
            // Live reconfiguration: an agent's skills and team, or a queue's
            // priority and overflow timings.
            let mut r = Rng::new(op.c as u64);
            if op.a.is_multiple_of(2) {
                let n_skills = cfg.skills.len() as u32;
                let n_teams = cfg.teams.len() as u32;
                let old = e.agent_def(pick(&agents, op.b)?).unwrap().clone();
                let mut d = agent_def(&mut r, old.id.0, n_skills, n_teams);
                d.skills
                    .retain(|(s, _)| cfg.skills.iter().any(|k| k.id == *s));
                d.team = pick(&cfg.teams, op.c)?.id;
                d.site = old.site;
                d.capacity = old.capacity;
                Input::UpsertAgent(d)
            } else {
                let mut q = e.queue_def(pick(&queues, op.b)?).unwrap().clone();
                q.priority = [0, 5, 50, -5][r.below(4) as usize];
                if !q.overflow.is_empty() && r.percent(50) {
                    q.overflow.pop();
                }
                Input::UpsertQueue(q)
            }
        }
    })
}

// ----- the independent checker --------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Where {
    Nowhere,
    Scheduled,
    Waiting,
    Offered(AgentId),
}

/// The marker in a contact's known requirements for "needs an agent whose
/// phone is connected" (not a skill of the configuration).
const NEEDS_ENDPOINT: SkillId = SkillId(u32::MAX);

#[derive(Debug, Clone)]
struct ShadowContact {
    queue: QueueId,
    channel: Channel,
    priority: Priority,
    reqs: Vec<SkillReq>,
    /// A real call: only for an agent whose phone is connected.
    needs_endpoint: bool,
    arrived_at: Timestamp,
    seq: u64,
    step: usize,
    at: Where,
    handler: Option<AgentId>,
    for_agent: Option<AgentId>,
    transfer_from: Option<AgentId>,
}

#[derive(Default)]
struct Shadow {
    contacts: BTreeMap<ContactId, ShadowContact>,
    terminals: BTreeMap<ContactId, u32>,
    arrived: u64,
    /// Slots held: offered, in progress, or in wrap-up, and how many (an
    /// agent still wrapping a contact up can be offered it again).
    held: BTreeMap<(AgentId, ContactId), (Media, u8)>,
    presence: BTreeMap<AgentId, Presence>,
    off_air: Vec<SiteId>,
    offers: u64,
    /// Agents whose phone is connected (`SetEndpoint` makes no event: the
    /// runner tells the shadow as it gives the input).
    connected: std::collections::BTreeSet<AgentId>,
}

fn level(a: &AgentDef, s: SkillId) -> u8 {
    a.skills
        .iter()
        .find(|(k, _)| *k == s)
        .map_or(0, |(_, l)| *l)
}

/// Eligibility from the configuration alone (written from the rules, not
/// from the engine's code).
fn eligible(agent: &AgentDef, q: &QueueDef, step: usize, extra: &[SkillReq]) -> bool {
    let step = step.min(q.overflow.len());
    let mut levels: BTreeMap<SkillId, u8> = q
        .requirements
        .iter()
        .map(|r| (r.skill, r.min_level))
        .collect();
    let mut teams = q.teams.clone();
    for s in &q.overflow[..step] {
        match &s.action {
            OverflowAction::RelaxSkill { skill, min_level } => {
                levels.insert(*skill, *min_level);
            }
            OverflowAction::AddTeams(ts) => {
                if let Some(t) = teams.as_mut() {
                    t.extend(ts)
                }
            }
            OverflowAction::AnyTeam => teams = None,
            _ => {}
        }
    }
    teams.is_none_or(|t| t.contains(&agent.team))
        && levels.iter().all(|(s, l)| level(agent, *s) >= *l)
        && extra.iter().all(|r| level(agent, r.skill) >= r.min_level)
}

fn has_room(cap: &Capacity, load: [u8; Media::COUNT], m: Media) -> bool {
    let total: u32 = load.iter().map(|&x| x as u32).sum();
    load[m.index()] < cap.get(m)
        && (!cap.voice_exclusive
            || if m == Media::Voice {
                total == 0
            } else {
                load[Media::Voice.index()] == 0
            })
}

fn effective(q: &QueueDef, c: &ShadowContact, now: Timestamp) -> Priority {
    let aging = q.aging.map_or(0, |a| {
        ((now.since(c.arrived_at).0.max(0) / a.every.0) as Priority).min(a.max_boost)
    });
    q.priority + c.priority + aging
}

impl Shadow {
    fn release(&mut self, agent: AgentId, contact: ContactId) -> Result<(), String> {
        let n = self
            .held
            .get_mut(&(agent, contact))
            .map(|h| &mut h.1)
            .ok_or(format!("{agent} freed {contact}, which it did not hold"))?;
        *n -= 1;
        if *n == 0 {
            self.held.remove(&(agent, contact));
        }
        Ok(())
    }

    fn load(&self, a: AgentId) -> [u8; Media::COUNT] {
        let mut l = [0; Media::COUNT];
        for (_, (m, n)) in self
            .held
            .range((a, ContactId(0))..=(a, ContactId(u64::MAX)))
        {
            l[m.index()] += n;
        }
        l
    }

    /// The engine's own view must agree with the state rebuilt from events.
    fn agrees_with(&self, e: &Engine) -> Result<(), String> {
        let ids = e.contact_ids();
        if ids.len() != self.contacts.len() || ids.iter().any(|c| !self.contacts.contains_key(c)) {
            return Err(format!(
                "live contacts differ: engine {ids:?}, events {:?}",
                self.contacts.keys().collect::<Vec<_>>()
            ));
        }
        for id in ids {
            let v = e.contact(id).unwrap();
            let s = &self.contacts[&id];
            let routing_ok = match (&v.routing, &s.at) {
                (ContactState::Scheduled { .. }, Where::Scheduled) => true,
                (ContactState::Waiting, Where::Waiting) => s.for_agent.is_none(),
                (ContactState::WaitingForAgent(a), Where::Waiting) => s.for_agent == Some(*a),
                (ContactState::Offered(a), Where::Offered(b)) => a == b,
                (ContactState::InProgress { .. }, Where::Nowhere) => true,
                _ => false,
            };
            let handler = match v.state {
                ContactState::InProgress { agent, .. } => Some(agent),
                _ => None,
            };
            if !routing_ok
                || handler != s.handler
                || v.queue != s.queue
                || v.priority != s.priority
                || v.channel != s.channel
            {
                return Err(format!("{id}: engine {v:?} but events say {s:?}"));
            }
            if v.arrived_at != s.arrived_at {
                return Err(format!(
                    "{id}: place {:?} in the engine, {:?} from events",
                    v.arrived_at, s.arrived_at
                ));
            }
        }
        for a in e.agent_ids() {
            let v = e.agent(a).unwrap();
            if v.load != self.load(a) {
                return Err(format!(
                    "{a}: engine load {:?}, events say {:?}",
                    v.load,
                    self.load(a)
                ));
            }
            if self.presence.get(&a).unwrap_or(&Presence::Offline) != &v.presence {
                return Err(format!("{a}: presence differs"));
            }
            if v.work.iter().any(|w| w.1 == Media::Voice)
                && v.load.iter().map(|&x| x as u32).sum::<u32>() > 1
                && e.agent_def(a).unwrap().capacity.voice_exclusive
            {
                return Err(format!("{a}: a call alongside other work"));
            }
        }
        Ok(())
    }
    fn apply(
        &mut self,
        cfg: &Config,
        r: &Record,
        reqs: &BTreeMap<ContactId, Vec<SkillReq>>,
    ) -> Result<(), String> {
        let queue = |id: QueueId| {
            cfg.queues
                .iter()
                .find(|q| q.id == id)
                .ok_or(format!("unknown queue {id}"))
        };
        let agent = |id: AgentId| {
            cfg.agents
                .iter()
                .find(|a| a.id == id)
                .ok_or(format!("unknown agent {id}"))
        };
        if let Some((c, _)) = r.event.terminal() {
            *self.terminals.entry(c).or_default() += 1;
            if self.terminals[&c] > 1 {
                return Err(format!("{c} ended twice"));
            }
            self.contacts.remove(&c);
        }
        fn c_mut(s: &mut Shadow, id: ContactId) -> Result<&mut ShadowContact, String> {
            s.contacts
                .get_mut(&id)
                .ok_or(format!("event for unknown contact {id}"))
        }
        match r.event {
            Event::Arrived {
                contact,
                queue,
                channel,
                priority,
            } => {
                self.arrived += 1;
                if self.contacts.contains_key(&contact) || self.terminals.contains_key(&contact) {
                    return Err(format!("{contact} arrived twice"));
                }
                self.contacts.insert(
                    contact,
                    ShadowContact {
                        queue,
                        channel,
                        priority,
                        reqs: reqs
                            .get(&contact)
                            .into_iter()
                            .flatten()
                            .filter(|r| r.skill != NEEDS_ENDPOINT)
                            .cloned()
                            .collect(),
                        needs_endpoint: reqs
                            .get(&contact)
                            .is_some_and(|r| r.iter().any(|r| r.skill == NEEDS_ENDPOINT)),
                        arrived_at: r.at,
                        seq: self.arrived,
                        step: 0,
                        at: Where::Nowhere,
                        handler: None,
                        for_agent: None,
                        transfer_from: None,
                    },
                );
            }
            Event::CallbackScheduled { contact, .. } => c_mut(self, contact)?.at = Where::Scheduled,
            Event::Queued {
                contact,
                queue,
                step,
                for_agent,
            } => {
                let c = c_mut(self, contact)?;
                if c.at == Where::Scheduled {
                    c.arrived_at = r.at;
                }
                if c.at != Where::Nowhere && c.at != Where::Scheduled {
                    return Err(format!("{contact} queued while {:?}", c.at));
                }
                c.at = Where::Waiting;
                c.queue = queue;
                c.step = step as usize;
                c.for_agent = for_agent;
            }
            Event::OverflowStep { contact, step, .. } => c_mut(self, contact)?.step = step as usize,
            Event::Moved { contact, to, .. } => {
                let c = c_mut(self, contact)?;
                c.queue = to;
                c.step = 0;
            }
            Event::CallbackRequested { contact, .. } => {
                c_mut(self, contact)?.channel = Channel::Callback
            }
            Event::PriorityChanged { contact, to, .. } => c_mut(self, contact)?.priority = to,
            Event::Offered {
                contact,
                agent: aid,
                ..
            } => {
                self.offers += 1;
                let c = self
                    .contacts
                    .get(&contact)
                    .ok_or("offer of unknown contact")?
                    .clone();
                // 1. one offer at a time, only from waiting.
                if c.at != Where::Waiting {
                    return Err(format!("{contact} offered to {aid} while {:?}", c.at));
                }
                if c.handler == Some(aid) || c.transfer_from == Some(aid) {
                    return Err(format!(
                        "{contact} offered back to {aid}, who is transferring it"
                    ));
                }
                let a = agent(aid)?;
                let q = queue(c.queue)?;
                // Ready, on air.
                if self.presence.get(&aid) != Some(&Presence::Ready)
                    || self.off_air.contains(&a.site)
                {
                    return Err(format!(
                        "{contact} offered to {aid}, who is not ready or off air"
                    ));
                }
                // 2. capacity.
                let load = self.load(aid);
                let m = c.channel.media();
                if !has_room(&a.capacity, load, m) {
                    return Err(format!(
                        "{contact} offered to {aid} with no room: load {load:?}"
                    ));
                }
                // 3. skills at the step in force, or the named agent.
                match c.for_agent {
                    Some(t) if t != aid => {
                        return Err(format!("{contact} was for {t} but offered to {aid}"))
                    }
                    Some(_) => {}
                    None if !eligible(a, q, c.step, &c.reqs) => {
                        return Err(format!(
                            "{contact} offered to {aid} who lacks the skills at step {}",
                            c.step
                        ))
                    }
                    None if c.needs_endpoint && !self.connected.contains(&aid) => {
                        return Err(format!(
                            "{contact}, a real call, offered to {aid}, whose phone is not connected"
                        ))
                    }
                    None => {}
                }
                // 4. nobody eligible and better placed is passed over.
                let rank = |c: &ShadowContact| {
                    (
                        effective(queue(c.queue).unwrap(), c, r.at),
                        std::cmp::Reverse(c.arrived_at),
                        std::cmp::Reverse(c.seq),
                    )
                };
                let mine = rank(&c);
                for (other_id, o) in &self.contacts {
                    if *other_id == contact
                        || o.at != Where::Waiting
                        || o.transfer_from == Some(aid)
                        || !has_room(&a.capacity, load, o.channel.media())
                    {
                        continue;
                    }
                    let ok = match o.for_agent {
                        Some(t) => t == aid,
                        None => {
                            eligible(a, queue(o.queue)?, o.step, &o.reqs)
                                && (!o.needs_endpoint || self.connected.contains(&aid))
                        }
                    };
                    if ok && rank(o) > mine {
                        return Err(format!(
                            "{aid} was offered {contact} {mine:?} but {other_id} {:?} was eligible and ranks higher",
                            rank(o)
                        ));
                    }
                }
                self.held.entry((aid, contact)).or_insert((m, 0)).1 += 1;
                c_mut(self, contact)?.at = Where::Offered(aid);
            }
            Event::Answered { contact, agent, .. }
            | Event::Transferred {
                contact, to: agent, ..
            } => {
                let c = c_mut(self, contact)?;
                if c.at != Where::Offered(agent) {
                    return Err(format!("{contact} answered by {agent} while {:?}", c.at));
                }
                c.at = Where::Nowhere;
                c.handler = Some(agent);
                c.for_agent = None;
                c.transfer_from = None;
            }
            Event::OfferRejected { contact, agent }
            | Event::OfferTimedOut { contact, agent }
            | Event::OfferWithdrawn { contact, agent, .. } => {
                let c = c_mut(self, contact)?;
                if c.at != Where::Offered(agent) {
                    return Err(format!("{contact} offer to {agent} ended while {:?}", c.at));
                }
                c.at = Where::Nowhere;
                self.release(agent, contact)?;
            }
            Event::TransferRequested {
                contact,
                mode,
                from,
                ..
            } => {
                let c = c_mut(self, contact)?;
                c.transfer_from = Some(from);
                if mode == TransferMode::Cold {
                    c.handler = None;
                }
            }
            Event::TransferCancelled { contact, queue } => {
                let c = c_mut(self, contact)?;
                c.at = Where::Nowhere;
                c.queue = queue;
                c.for_agent = None;
                c.transfer_from = None;
            }
            Event::WrapUpEnded { agent, contact } => {
                self.release(agent, contact)?;
            }
            Event::WrapUpExtended {
                agent,
                contact,
                until,
            } => {
                // Only a contact the agent still holds, and never beyond
                // the longest a wrap-up may run from now.
                if !self.held.contains_key(&(agent, contact)) {
                    return Err(format!(
                        "{agent} got more time for {contact}, which it does not hold"
                    ));
                }
                if until.0 > r.at.0 + routing::MAX_WRAP_UP_MS {
                    return Err(format!(
                        "{agent}'s wrap-up of {contact} extended past the limit"
                    ));
                }
            }
            Event::PresenceChanged {
                agent,
                ref presence,
            } => {
                self.presence.insert(agent, presence.clone());
            }
            Event::SiteOnAir { site, on_air } => {
                self.off_air.retain(|s| *s != site);
                if !on_air {
                    self.off_air.push(site);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

// ----- the driver --------------------------------------------------------------

const T0: Timestamp = Timestamp(1_000_000);

fn drain(
    e: &mut Engine,
    shadow: &mut Shadow,
    log: &mut Vec<Record>,
    reqs: &BTreeMap<ContactId, Vec<SkillReq>>,
) -> Result<(), String> {
    let cfg = e.config();
    let records: Vec<Record> = e.drain_output().collect();
    for r in records {
        if std::env::var_os("PROPS_TRACE").is_some() {
            eprintln!("    {:?} {:?}", r.at, r.event);
        }
        shadow
            .apply(&cfg, &r, reqs)
            .map_err(|err| format!("at {:?} {:?}: {err}", r.at, r.event))?;
        log.push(r);
    }
    Ok(())
}

/// An engine through a snapshot and back, as a restart restores it.
fn through_snapshot(e: &Engine) -> Result<Engine, String> {
    let bytes = postcard::to_allocvec(e).map_err(|err| format!("snapshot: {err}"))?;
    let restored: Engine = postcard::from_bytes(&bytes).map_err(|err| format!("restore: {err}"))?;
    restored
        .check_consistency()
        .map_err(|err| format!("restored: {err}"))?;
    Ok(restored)
}

/// Runs the ops; with `snapshot_at`, the engine is replaced by its own
/// snapshot, restored, before that op (a restart from a snapshot).
fn run(cfg: &Config, ops: &[Op], snapshot_at: Option<usize>) -> Result<(Vec<Record>, u64), String> {
    let mut e = Engine::new(cfg.clone(), T0).map_err(|err| format!("config: {err}"))?;
    let mut shadow = Shadow::default();
    let mut log = Vec::new();
    let mut reqs = BTreeMap::new();
    let mut next_id = 0;
    let mut now = T0;
    for (i, op) in ops.iter().enumerate() {
        if snapshot_at == Some(i) {
            e = through_snapshot(&e)?;
        }
        now = now.plus(DurationMs(op.delay_ms as i64));
        e.handle_timeout(now).map_err(|err| err.to_string())?;
        drain(&mut e, &mut shadow, &mut log, &reqs)?;
        let cfg_now = e.config();
        if let Some(input) = input_for(&e, &cfg_now, op, &mut next_id, &mut reqs) {
            let before = (
                e.contact_ids(),
                e.agent_ids()
                    .iter()
                    .map(|&a| e.agent(a))
                    .collect::<Vec<_>>(),
            );
            if std::env::var_os("PROPS_TRACE").is_some() {
                eprintln!("op {i} @{now:?}: {input:?}");
            }
            // The checker learns of phones as the engine does.
            let endpoints_before = shadow.connected.clone();
            if let Input::SetEndpoint { agent, connected } = &input {
                if *connected {
                    shadow.connected.insert(*agent);
                } else {
                    shadow.connected.remove(agent);
                }
            }
            if e.handle(now, input.clone()).is_err() {
                shadow.connected = endpoints_before;
                // A refused input changes nothing.
                let after = (
                    e.contact_ids(),
                    e.agent_ids()
                        .iter()
                        .map(|&a| e.agent(a))
                        .collect::<Vec<_>>(),
                );
                if before != after || e.pending_output() > 0 {
                    return Err(format!("op {i}: refused {input:?} but state changed"));
                }
            }
            drain(&mut e, &mut shadow, &mut log, &reqs)
                .map_err(|err| format!("op {i} {input:?}: {err}"))?;
        }
        e.check_consistency()
            .map_err(|err| format!("op {i}: {err}"))?;
        shadow
            .agrees_with(&e)
            .map_err(|err| format!("op {i}: {err}"))?;
    }
    // Wind down: everyone in line leaves, everyone in progress ends, and
    // all wrap-ups run out.
    for id in e.contact_ids() {
        let Some(c) = e.contact(id) else { continue };
        let input = match c.state {
            ContactState::InProgress { .. } => Input::End { contact: id },
            _ => Input::Abandon { contact: id },
        };
        e.handle(now, input)
            .map_err(|err| format!("wind-down of {id}: {err}"))?;
        drain(&mut e, &mut shadow, &mut log, &reqs)?;
    }
    now = now.plus(DurationMs::from_secs(86_400));
    e.handle_timeout(now).map_err(|err| err.to_string())?;
    drain(&mut e, &mut shadow, &mut log, &reqs)?;
    // 5. exactly one terminal state each.
    if e.live_contacts() != 0 {
        return Err(format!(
            "{} contacts still live after wind-down",
            e.live_contacts()
        ));
    }
    if shadow.terminals.len() as u64 != shadow.arrived || shadow.terminals.values().any(|&n| n != 1)
    {
        return Err(format!(
            "{} arrived but {} ended",
            shadow.arrived,
            shadow.terminals.len()
        ));
    }
    if !shadow.held.is_empty() {
        return Err(format!("slots still held: {:?}", shadow.held));
    }
    e.check_consistency()?;
    Ok((log, shadow.offers))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, max_shrink_iters: 4000, ..ProptestConfig::default() })]

    #[test]
    fn routing_invariants_hold_and_replay_is_exact(seed in any::<u64>(), ops in prop::collection::vec(op_strategy(), 1..400)) {
        let cfg = random_config(seed);
        let first = run(&cfg, &ops, None);
        prop_assert!(first.is_ok(), "seed {seed}: {}", first.unwrap_err());
        // 6. the same inputs give the same outputs.
        let second = run(&cfg, &ops, None).unwrap();
        prop_assert_eq!(first.unwrap(), second);
    }

    /// 7. an engine restored from a snapshot taken at any point goes on
    /// exactly as the one that never stopped.
    #[test]
    fn a_restored_snapshot_goes_on_exactly(seed in any::<u64>(), ops in prop::collection::vec(op_strategy(), 1..300), cut in any::<prop::sample::Index>()) {
        let cfg = random_config(seed);
        let whole = run(&cfg, &ops, None);
        prop_assert!(whole.is_ok(), "seed {seed}: {}", whole.unwrap_err());
        let k = cut.index(ops.len());
        let restored = run(&cfg, &ops, Some(k));
        prop_assert!(restored.is_ok(), "seed {seed}, snapshot before op {k}: {}", restored.unwrap_err());
        prop_assert_eq!(whole.unwrap(), restored.unwrap(), "snapshot before op {}", k);
    }
}

/// The random sequences do exercise routing: many offers on average.
#[test]
fn the_generator_makes_real_traffic() {
    let mut r = Rng::new(99);
    let mut offers = 0;
    for seed in 0..20u64 {
        let ops: Vec<Op> = (0..300)
            .map(|_| Op {
                delay_ms: r.below(5000) as u32,
                kind: r.below(24) as u8,
                a: r.next_u64() as u32,
                b: r.next_u64() as u32,
                c: r.next_u64() as u32,
            })
            .collect();
        offers += run(&random_config(seed), &ops, None).unwrap().1;
    }
    assert!(offers > 500, "only {offers} offers in 20 runs");
}
