//! Routing engine benchmark: 5,000 agents, 200 queues, 100 skills and a
//! standing backlog of 50,000 waiting contacts, under a mix of arrivals,
//! offers, answers, ends, abandons, priority and presence changes and
//! transfers.
//!
//! Run: `cargo bench -p routing --bench routing` (BENCH_OPS=N to change the
//! number of steady-state inputs; default 2,000,000).
//!
//! Two measurements, on one core:
//! 1. latency: a driver generates the input mix from the engine's events
//!    and times each `handle` call alone (median, p99, max), for all inputs
//!    and for the calls that made a routing decision (at least one offer);
//! 2. throughput: the recorded inputs are replayed on a fresh engine in a
//!    tight loop (no driver work in between), draining every event; five
//!    replays, median reported.

use model::{AgentId, Channel, ContactId, DurationMs, QueueId, SiteId, SkillId, TeamId, Timestamp};
use routing::{
    AgentDef, Aging, Capacity, Config, Engine, Event, Input, Limits, NewContact, NotReadyReason,
    OverflowAction, OverflowStep, Presence, QueueDef, SiteDef, SkillDef, SkillReq, Strategy,
    TeamDef, TransferMode, TransferTarget,
};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

const AGENTS: u32 = 5_000;
const QUEUES: u32 = 200;
const SKILLS: u32 = 100;
const TEAMS: u32 = 20;
const BACKLOG: usize = 50_000;

use model::rng::SplitMix64 as Rng;

fn config(r: &mut Rng) -> Config {
    let skills = (1..=SKILLS)
        .map(|i| SkillDef {
            id: SkillId(i),
            name: format!("skill {i}"),
        })
        .collect();
    let teams = (1..=TEAMS)
        .map(|i| TeamDef {
            id: TeamId(i),
            name: format!("team {i}"),
        })
        .collect();
    let sites = (1..=5)
        .map(|i| SiteDef {
            id: SiteId(i),
            name: format!("site {i}"),
        })
        .collect();
    let queues = (0..QUEUES)
        .map(|i| {
            let level = 1 + (i % 3 == 0) as u8;
            let skill = SkillId(i % SKILLS + 1);
            let mut q = QueueDef::new(
                QueueId(i + 1),
                &format!("queue {i}"),
                vec![SkillReq {
                    skill,
                    min_level: level,
                }],
            );
            q.priority = if i % 10 == 0 { 50 } else { (i % 5) as i32 };
            q.strategy = [
                Strategy::LongestIdle,
                Strategy::MostSkilled,
                Strategy::LeastOccupied,
                Strategy::RoundRobin,
            ][i as usize % 4];
            q.max_waiting = 1_000_000;
            if i % 3 == 1 {
                q.teams = Some(vec![TeamId(i % TEAMS + 1), TeamId((i + 7) % TEAMS + 1)]);
            }
            if i % 4 == 0 {
                q.aging = Some(Aging {
                    every: DurationMs::from_secs(30),
                    max_boost: 10,
                });
            }
            if i % 5 == 0 {
                q.wrap_up = DurationMs::from_secs(20);
            }
            let mut after = 0;
            if level == 2 {
                after += 30;
                q.overflow.push(OverflowStep {
                    after: DurationMs::from_secs(after),
                    action: OverflowAction::RelaxSkill {
                        skill,
                        min_level: 1,
                    },
                });
            }
            if q.teams.is_some() {
                after += 60;
                q.overflow.push(OverflowStep {
                    after: DurationMs::from_secs(after),
                    action: OverflowAction::AnyTeam,
                });
            }
            q.overflow.push(OverflowStep {
                after: DurationMs::from_secs(after + 120),
                action: OverflowAction::OfferCallback,
            });
            q
        })
        .collect();
    let agents = (1..=AGENTS)
        .map(|i| {
            let mut skills: Vec<(SkillId, u8)> = Vec::new();
            while skills.len() < 5 {
                let s = SkillId(1 + r.below(SKILLS as u64) as u32);
                if !skills.iter().any(|(k, _)| *k == s) {
                    skills.push((s, 1 + r.below(3) as u8));
                }
            }
            AgentDef {
                id: AgentId(i),
                name: format!("agent {i}"),
                team: TeamId(1 + r.below(TEAMS as u64) as u32),
                site: SiteId(1 + r.below(5) as u32),
                skills,
                capacity: if i % 5 == 0 {
                    Capacity::BLENDED
                } else {
                    Capacity::VOICE_ONLY
                },
                auto_answer: false,
            }
        })
        .collect();
    Config {
        limits: Limits::default(),
        skills,
        teams,
        sites,
        queues,
        agents,
    }
}

/// A random-pick set with O(1) insert and remove.
#[derive(Default)]
struct Bag {
    items: Vec<ContactId>,
    at: HashMap<ContactId, usize>,
}
impl Bag {
    fn insert(&mut self, c: ContactId) {
        if !self.at.contains_key(&c) {
            self.at.insert(c, self.items.len());
            self.items.push(c);
        }
    }
    fn remove(&mut self, c: ContactId) {
        if let Some(i) = self.at.remove(&c) {
            let last = self.items.pop().unwrap();
            if last != c {
                self.items[i] = last;
                self.at.insert(last, i);
            }
        }
    }
    fn pick(&self, r: &mut Rng) -> Option<ContactId> {
        (!self.items.is_empty()).then(|| self.items[r.below(self.items.len() as u64) as usize])
    }
}

struct Driver {
    r: Rng,
    now: Timestamp,
    next_id: u64,
    waiting: Bag,
    active: Bag,
    pending: VecDeque<(AgentId, ContactId)>,
    on_break: Vec<AgentId>,
}

const CHANNELS: [Channel; 10] = [Channel::Voice; 10];

impl Driver {
    fn observe(&mut self, e: &Event) -> bool {
        match *e {
            Event::Queued { contact, .. } => self.waiting.insert(contact),
            Event::Offered { contact, agent, .. } => {
                self.waiting.remove(contact);
                self.pending.push_back((agent, contact));
                return true;
            }
            Event::Answered { contact, .. } | Event::Transferred { contact, .. } => {
                self.active.insert(contact)
            }
            Event::TransferRequested {
                contact,
                mode: TransferMode::Cold,
                ..
            } => self.active.remove(contact),
            _ => {
                if let Some((c, _)) = e.terminal() {
                    self.waiting.remove(c);
                    self.active.remove(c);
                }
            }
        }
        false
    }

    fn arrival(&mut self) -> Input {
        self.next_id += 1;
        let q = QueueId(1 + self.r.below(QUEUES as u64) as u32);
        let mut ch = CHANNELS[self.r.below(10) as usize];
        if self.r.below(10) == 0 {
            ch = [Channel::Chat, Channel::Email][self.r.below(2) as usize];
        }
        let mut nc = NewContact::new(ContactId(self.next_id), q, ch);
        if self.r.below(20) == 0 {
            nc.priority = 5;
        }
        Input::Arrive(nc)
    }

    fn next_input(&mut self, e: &Engine) -> Input {
        self.now = self.now.plus(DurationMs(2));
        let x = self.r.unit();
        if x < 0.33 {
            if self.waiting.items.len() < BACKLOG {
                return self.arrival();
            }
            if let Some(c) = self.waiting.pick(&mut self.r) {
                return Input::Abandon { contact: c };
            }
        }
        if x < 0.63 {
            while let Some((agent, contact)) = self.pending.pop_front() {
                if matches!(e.contact(contact).map(|c| c.routing), Some(routing::ContactState::Offered(a)) if a == agent)
                {
                    return Input::Accept { agent, contact };
                }
            }
        }
        if x < 0.95 {
            if let Some(c) = self.active.pick(&mut self.r) {
                return Input::End { contact: c };
            }
        }
        if x < 0.97 {
            // Breaks: an agent goes on break, or one comes back.
            if self.on_break.len() > 50 || (self.r.below(2) == 0 && !self.on_break.is_empty()) {
                let i = self.r.below(self.on_break.len() as u64) as usize;
                let a = self.on_break.swap_remove(i);
                return Input::SetPresence {
                    agent: a,
                    presence: Presence::Ready,
                };
            }
            let a = AgentId(1 + self.r.below(AGENTS as u64) as u32);
            self.on_break.push(a);
            return Input::SetPresence {
                agent: a,
                presence: Presence::NotReady(NotReadyReason::Break),
            };
        }
        if x < 0.985 {
            if let Some(c) = self.waiting.pick(&mut self.r) {
                return Input::SetPriority {
                    contact: c,
                    priority: self.r.below(10) as i32,
                };
            }
        }
        if let Some(c) = self.active.pick(&mut self.r) {
            let q = QueueId(1 + self.r.below(QUEUES as u64) as u32);
            self.active.remove(c);
            return Input::Transfer {
                contact: c,
                to: TransferTarget::Queue(q),
                mode: TransferMode::Cold,
            };
        }
        self.arrival()
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn setup(seed: u64) -> (Engine, Vec<(Timestamp, Input)>) {
    let mut r = Rng::new(seed);
    let cfg = config(&mut r);
    let mut e = Engine::new(cfg, Timestamp::ZERO).expect("valid benchmark config");
    let mut inputs = Vec::new();
    for i in 1..=AGENTS {
        inputs.push((
            Timestamp::ZERO,
            Input::SetPresence {
                agent: AgentId(i),
                presence: Presence::Ready,
            },
        ));
    }
    for (t, i) in &inputs {
        e.handle(*t, i.clone()).unwrap();
    }
    e.drain_output().for_each(drop);
    (e, inputs)
}

fn main() {
    let ops: usize = std::env::var("BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let (mut e, setup_inputs) = setup(42);
    let mut d = Driver {
        r: Rng::new(7),
        now: Timestamp(1000),
        next_id: 0,
        waiting: Bag::default(),
        active: Bag::default(),
        pending: VecDeque::new(),
        on_break: Vec::new(),
    };

    // Warm-up: fill the backlog and occupy the agents (untimed, recorded).
    let mut warm = Vec::new();
    let t_fill = Instant::now();
    while d.waiting.items.len() < BACKLOG {
        let mut input = d.arrival();
        // Accept every offer during warm-up so agents are busy.
        if let Some((agent, contact)) = d.pending.pop_front() {
            input = Input::Accept { agent, contact };
        }
        d.now = d.now.plus(DurationMs(1));
        warm.push((d.now, input.clone()));
        e.handle(d.now, input).unwrap();
        let evs: Vec<Event> = e.drain_output().map(|r| r.event).collect();
        for ev in &evs {
            d.observe(ev);
        }
    }
    let fill_secs = t_fill.elapsed().as_secs_f64();
    eprintln!(
        "warm-up: {} inputs to a backlog of {} in {:.2}s",
        warm.len(),
        d.waiting.items.len(),
        fill_secs
    );

    // 1. Latency, per handle call.
    let mut recorded = Vec::with_capacity(ops);
    let mut lat_all = Vec::with_capacity(ops);
    let mut lat_decision = Vec::new();
    let mut lat_by_kind: HashMap<&'static str, Vec<u64>> = HashMap::new();
    let mut refused = 0u64;
    let mut events = 0u64;
    let mut evs = Vec::new();
    for _ in 0..ops {
        let input = d.next_input(&e);
        let kind = match &input {
            Input::Arrive(_) => "arrive",
            Input::Accept { .. } => "accept",
            Input::End { .. } => "end",
            Input::Abandon { .. } => "abandon",
            Input::SetPresence { .. } => "presence",
            Input::SetPriority { .. } => "priority",
            Input::Transfer { .. } => "transfer",
            _ => "other",
        };
        recorded.push((d.now, input.clone()));
        let t0 = Instant::now();
        let res = e.handle(d.now, input);
        let ns = t0.elapsed().as_nanos() as u64;
        if let Err(err) = res {
            refused += 1;
            if refused <= 3 {
                eprintln!("refused {kind}: {err}");
            }
        }
        evs.clear();
        evs.extend(e.drain_output().map(|r| r.event));
        events += evs.len() as u64;
        let mut decided = false;
        for ev in &evs {
            decided |= d.observe(ev);
        }
        lat_all.push(ns);
        lat_by_kind.entry(kind).or_default().push(ns);
        if decided {
            lat_decision.push(ns);
        }
    }
    let waiting_end = d.waiting.items.len();
    lat_all.sort_unstable();
    lat_decision.sort_unstable();

    // 2. Throughput: replay the same inputs on fresh engines.
    let mut runs = Vec::new();
    let mut replay_events = 0;
    for _ in 0..5 {
        let (mut e2, _) = setup(42);
        for (t, i) in &warm {
            e2.handle(*t, i.clone()).unwrap();
        }
        e2.drain_output().for_each(drop);
        let inputs: Vec<(Timestamp, Input)> = recorded.clone();
        let t0 = Instant::now();
        let mut n_events = 0u64;
        for (t, i) in inputs {
            let _ = e2.handle(t, i);
            n_events += e2.drain_output().count() as u64;
        }
        let secs = t0.elapsed().as_secs_f64();
        runs.push(secs);
        replay_events = n_events;
    }
    assert_eq!(replay_events, events, "replay must give the same events");
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = runs[runs.len() / 2];

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("routing benchmark: {AGENTS} agents, {QUEUES} queues, {SKILLS} skills, backlog {BACKLOG} waiting (at end: {waiting_end})");
    println!(
        "machine: {cpu}; {} logical CPUs; one core used",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "setup: {} presence inputs + {} warm-up inputs",
        setup_inputs.len(),
        warm.len()
    );
    println!();
    println!(
        "throughput (replay of {ops} inputs, median of {} runs; min {:.3}s, max {:.3}s):",
        runs.len(),
        runs[0],
        runs[runs.len() - 1]
    );
    println!("  inputs/s: {:>12.0}", ops as f64 / median);
    println!(
        "  events/s: {:>12.0}  ({events} events, {:.2} per input)",
        events as f64 / median,
        events as f64 / ops as f64
    );
    println!(
        "  inputs+events/s: {:>12.0}",
        (ops as u64 + events) as f64 / median
    );
    println!("  refused inputs: {refused} (accepts that come as the offer rings out)");
    println!();
    println!("latency per handle() call, ns (timer included):");
    println!(
        "  {:<22} {:>10} {:>8} {:>8} {:>8} {:>10}",
        "input", "count", "median", "p99", "p99.9", "max"
    );
    let row = |name: &str, v: &[u64]| {
        println!(
            "  {:<22} {:>10} {:>8} {:>8} {:>8} {:>10}",
            name,
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.99),
            percentile(v, 0.999),
            v.last().copied().unwrap_or(0)
        );
    };
    row("all", &lat_all);
    row("routing decisions", &lat_decision);
    let mut kinds: Vec<_> = lat_by_kind.into_iter().collect();
    kinds.sort_by_key(|(k, _)| *k);
    for (k, mut v) in kinds {
        v.sort_unstable();
        row(k, &v);
    }
}
