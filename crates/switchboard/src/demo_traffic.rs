//! `serve --demo`: simulated callers and agents driving the real server in
//! real time, so the live stream, the KPIs and the API have something to
//! show. Callers arrive at random on every queue, some give up, some ask
//! for a callback; agents log in, answer after a ring or now and then
//! decline, talk and hang up. Every action goes through the core like an
//! HTTP request's, so it is committed to the store and replayed
//! on restart like any other input. A third of the callers ring from a
//! demo patient's number (the seed's made-up patients), so the screen pop
//! finds them; a person who logs in and sets Available gets a call of
//! their own within about ten seconds.

use app::App;
use model::rng::SplitMix64;
use model::{AgentId, ContactId, OrgId, QueueId};
use routing::{Config, Event, Input, NewContact, Presence, Record};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// How busy the demo is.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Mean arrivals a minute over all queues (Poisson).
    pub calls_per_minute: f64,
    /// Mean talk time, seconds (exponential).
    pub talk_seconds: f64,
    /// Seed for the random choices.
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            calls_per_minute: 6.0,
            talk_seconds: 45.0,
            seed: 2026,
        }
    }
}

/// A simulated action that falls due later.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Arrive,
    Accept(AgentId, ContactId),
    Reject(AgentId, ContactId),
    End(ContactId),
    /// The caller gives up unless answered by then.
    GiveUp(ContactId),
    /// The caller asks to be called back unless answered by then.
    AskCallback(ContactId),
    Ready(AgentId),
    /// A call for this person (who has just set Available), in one of
    /// their queues.
    ArriveFor(AgentId),
}

#[derive(PartialEq, Eq)]
struct Due(Instant, u64, Action);

impl Ord for Due {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Earliest first (BinaryHeap is a max-heap), then in scheduling order.
        (o.0, o.1).cmp(&(self.0, self.1))
    }
}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

struct Driver {
    app: App,
    org: OrgId,
    /// Agents people log in as: never simulated.
    people: HashSet<AgentId>,
    rng: SplitMix64,
    opts: DemoOptions,
    queues: Vec<QueueId>,
    due: BinaryHeap<Due>,
    order: u64,
    /// The server's contact ids (shared with every other way in).
    ids: std::sync::Arc<app::ContactIds>,
    answered: HashSet<ContactId>,
    /// The contacts these simulated callers made: a simulated agent takes
    /// only these (a patient's real web chat waits for a person).
    created: HashSet<ContactId>,
    /// The simulated calls made for a person who became available (their
    /// simulated callers hang up too, but no simulated agent takes them).
    for_people: HashSet<ContactId>,
    /// The demo patients' numbers callers ring from.
    patients: Vec<model::PhoneNumber>,
    /// The queues each person can take calls from.
    serves: HashMap<AgentId, Vec<QueueId>>,
}

/// The queues an agent meets the requirements (skills, teams) of.
fn queues_of(config: &Config, agent: AgentId) -> Vec<QueueId> {
    let Some(a) = config.agents.iter().find(|a| a.id == agent) else {
        return Vec::new();
    };
    config
        .queues
        .iter()
        .filter(|q| {
            q.requirements.iter().all(|r| {
                a.skills
                    .iter()
                    .any(|(s, l)| *s == r.skill && *l >= r.min_level)
            }) && q.teams.as_ref().is_none_or(|t| t.contains(&a.team))
        })
        .map(|q| q.id)
        .collect()
}

impl Driver {
    fn after(&mut self, secs: f64, a: Action) {
        self.order += 1;
        let at = Instant::now() + Duration::from_secs_f64(secs.clamp(0.0, 86_400.0));
        self.due.push(Due(at, self.order, a));
    }

    /// Sends an input like an HTTP handler would; a refusal (the contact
    /// already gone, say) is normal in a live centre and ignored.
    async fn send(&self, input: Input) -> bool {
        self.send_as(input, None).await
    }

    /// As `send`, with who is calling (a new contact's caller).
    async fn send_as(&self, input: Input, who: Option<store::CallerIdentity>) -> bool {
        !matches!(
            self.app.apply(self.org, input, who).await,
            Err(app::Error::Unavailable(_))
        )
    }

    /// A demo patient's number, as who is calling.
    fn a_patient(&mut self) -> Option<store::CallerIdentity> {
        if self.patients.is_empty() {
            return None;
        }
        let p = self.patients[self.rng.below(self.patients.len() as u64) as usize].clone();
        Some(store::CallerIdentity {
            phone: Some(p),
            nhs_number: None,
        })
    }

    async fn act(&mut self, a: Action) -> bool {
        let input = match a {
            Action::ArriveFor(agent) => {
                let Some(qs) = self.serves.get(&agent).filter(|q| !q.is_empty()) else {
                    return true;
                };
                let q = qs[self.rng.below(qs.len() as u64) as usize];
                let id = self.ids.next();
                // Not one of the simulated agents' (they pass it on): it
                // waits for the person who just became available.
                if self.for_people.len() > 10_000 {
                    self.for_people.clear();
                }
                self.for_people.insert(id);
                let who = self.a_patient();
                return self
                    .send_as(
                        Input::Arrive(NewContact::new(id, q, model::Channel::Voice)),
                        who,
                    )
                    .await;
            }
            Action::Arrive => {
                let mean_gap = 60.0 / self.opts.calls_per_minute.max(0.01);
                let gap = self.rng.exp(mean_gap);
                self.after(gap, Action::Arrive);
                let id = self.ids.next();
                let q = self.queues[self.rng.below(self.queues.len() as u64) as usize];
                // A third of callers have limited patience; some of the
                // rest take a callback rather than wait.
                if self.rng.chance(0.33) {
                    let patience = self.rng.exp(60.0);
                    self.after(patience, Action::GiveUp(id));
                } else if self.rng.chance(0.15) {
                    self.after(20.0, Action::AskCallback(id));
                }
                if self.created.len() > 100_000 {
                    self.created.clear();
                }
                self.created.insert(id);
                let who = if self.rng.chance(1.0 / 3.0) {
                    self.a_patient()
                } else {
                    None
                };
                return self
                    .send_as(
                        Input::Arrive(NewContact::new(id, q, model::Channel::Voice)),
                        who,
                    )
                    .await;
            }
            Action::Accept(agent, contact) => Input::Accept { agent, contact },
            Action::Reject(agent, contact) => {
                self.after(5.0, Action::Ready(agent));
                Input::Reject { agent, contact }
            }
            Action::End(contact) => {
                self.answered.remove(&contact);
                self.created.remove(&contact);
                self.for_people.remove(&contact);
                Input::End { contact }
            }
            Action::GiveUp(contact) if !self.answered.contains(&contact) => {
                Input::Abandon { contact }
            }
            Action::AskCallback(contact) if !self.answered.contains(&contact) => {
                Input::RequestCallback { contact }
            }
            Action::GiveUp(_) | Action::AskCallback(_) => return true,
            Action::Ready(agent) => Input::SetPresence {
                agent,
                presence: Presence::Ready,
            },
        };
        self.send(input).await
    }

    fn saw(&mut self, r: &Record) {
        match &r.event {
            Event::Offered { contact, agent, .. } if !self.people.contains(agent) => {
                let ring = 1.0 + 2.0 * self.rng.unit();
                if !self.created.contains(contact) {
                    self.after(0.5, Action::Reject(*agent, *contact));
                } else if self.rng.chance(0.05) {
                    self.after(ring, Action::Reject(*agent, *contact));
                } else {
                    self.after(ring, Action::Accept(*agent, *contact));
                }
            }
            Event::PresenceChanged {
                agent,
                presence: Presence::Ready,
            } if self.people.contains(agent) => {
                let soon = 3.0 + 7.0 * self.rng.unit();
                self.after(soon, Action::ArriveFor(*agent));
            }
            // Only the simulated callers hang up: a real caller (a phone
            // call, a web chat) is never ended by the demo.
            Event::Answered { contact, .. }
                if self.created.contains(contact) || self.for_people.contains(contact) =>
            {
                self.answered.insert(*contact);
                let talk = self.rng.exp(self.opts.talk_seconds);
                self.after(talk, Action::End(*contact));
            }
            _ => {}
        }
    }
}

/// Runs the demo until the core stops.
pub async fn drive(
    app: App,
    org: OrgId,
    mut events: broadcast::Receiver<Record>,
    config: Config,
    people: HashSet<AgentId>,
    opts: DemoOptions,
) {
    let ids = app.ids.clone();
    let mut d = Driver {
        app,
        org,
        people,
        rng: SplitMix64::new(opts.seed ^ app::wall_clock().0.max(0) as u64),
        opts,
        queues: config.queues.iter().map(|q| q.id).collect(),
        due: BinaryHeap::new(),
        order: 0,
        ids,
        answered: HashSet::new(),
        created: HashSet::new(),
        for_people: HashSet::new(),
        patients: crate::seed::DEMO_PATIENTS
            .iter()
            .filter_map(|(_, _, _, phone)| model::PhoneNumber::parse(phone).ok())
            .collect(),
        serves: HashMap::new(),
    };
    for &p in &d.people.clone() {
        d.serves.insert(p, queues_of(&config, p));
    }
    if d.queues.is_empty() {
        return;
    }
    let simulated: Vec<AgentId> = config
        .agents
        .iter()
        .map(|a| a.id)
        .filter(|a| !d.people.contains(a))
        .collect();
    for a in simulated {
        // Agents log in over the first ten seconds.
        let at = d.rng.unit() * 10.0;
        d.after(at, Action::Ready(a));
    }
    d.after(0.5, Action::Arrive);
    loop {
        let next = d.due.peek().map(|x| x.0);
        tokio::select! {
            r = events.recv() => match r {
                Ok(r) => d.saw(&r),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))) => {
                if let Some(Due(_, _, a)) = d.due.pop() {
                    if !d.act(a).await {
                        return;
                    }
                }
            }
        }
    }
}
