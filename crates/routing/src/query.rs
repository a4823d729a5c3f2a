//! Read-only views of the engine's state, for wallboards, announcements
//! and tests. None of these change anything.

use crate::config::{AgentDef, Config, QueueDef};
use crate::engine::{eligible, Engine, Phase, Routing};
use crate::input::{NotReadyReason, Presence};
use model::{AgentId, Channel, ContactId, Media, Priority, QueueId, Timestamp};
use serde::Serialize;

/// Where a contact is now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactState {
    Scheduled {
        due_at: Timestamp,
    },
    Waiting,
    WaitingForAgent(AgentId),
    Offered(AgentId),
    /// With an agent (and maybe a warm transfer under way as well).
    InProgress {
        agent: AgentId,
        on_hold: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContactView {
    pub id: ContactId,
    pub queue: QueueId,
    pub channel: Channel,
    pub priority: Priority,
    pub effective_priority: Priority,
    /// The contact's place: its original arrival time.
    pub arrived_at: Timestamp,
    pub entered_queue_at: Timestamp,
    /// Overflow steps in force (0: none).
    pub step: u8,
    pub state: ContactState,
    /// Where a pending transfer is going (with the agent still on the line
    /// for a warm one), as the routing state above says.
    pub routing: ContactState,
    pub transfer_pending: bool,
    pub answered: bool,
    pub attributes: Vec<(String, String)>,
}

/// What an agent is doing, as a wallboard shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Offline,
    Available,
    Reserved,
    Busy,
    WrapUp,
    NotReady(NotReadyReason),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkPhase {
    Offered,
    Active,
    WrapUp { until: Timestamp },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentView {
    pub id: AgentId,
    pub name: String,
    pub status: AgentStatus,
    pub presence: Presence,
    pub load: [u8; Media::COUNT],
    pub capacity: [u8; Media::COUNT],
    pub work: Vec<(ContactId, Media, WorkPhase)>,
    pub idle_since: Timestamp,
    /// A phone or softphone is connected: real calls may be offered.
    pub endpoint: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueueView {
    pub id: QueueId,
    pub name: String,
    pub waiting: usize,
    pub oldest_arrival: Option<Timestamp>,
    /// Agents ready with room for this queue's contacts now, per medium.
    pub ready_agents: [usize; Media::COUNT],
    pub candidate_agents: usize,
}

impl Engine {
    fn state_of(
        &self,
        r: Routing,
        handler: Option<crate::engine::Handler>,
    ) -> (ContactState, ContactState) {
        let routing = match r {
            Routing::Idle => None,
            Routing::Scheduled { due_at } => Some(ContactState::Scheduled { due_at }),
            Routing::Waiting(_) => Some(ContactState::Waiting),
            Routing::Directed(a) => Some(ContactState::WaitingForAgent(self.agents.at(a).def.id)),
            Routing::Offered { agent } => Some(ContactState::Offered(self.agents.at(agent).def.id)),
        };
        let state = match handler {
            Some(h) => ContactState::InProgress {
                agent: self.agents.at(h.agent).def.id,
                on_hold: h.on_hold,
            },
            None => routing
                .clone()
                .expect("a contact without an agent is in line"),
        };
        (state.clone(), routing.unwrap_or(state))
    }

    pub fn contact(&self, id: ContactId) -> Option<ContactView> {
        let &cix = self.contact_ix.get(&id)?;
        let c = self.contacts.at(cix);
        let q = self.queue(c.queue);
        let (state, routing) = self.state_of(c.routing, c.handler);
        Some(ContactView {
            id,
            queue: q.def.id,
            channel: c.channel,
            priority: c.priority,
            effective_priority: self.effective_priority(q, c),
            arrived_at: c.arrived_at,
            entered_queue_at: c.entered_at,
            step: c.step,
            state,
            routing,
            transfer_pending: c.transfer.is_some(),
            answered: c.answered,
            attributes: c.attributes.clone(),
        })
    }

    /// What a read model needs of a contact as it joins a line: when it
    /// arrived (its place), its channel and its `deadline` attribute, if
    /// any. One look-up, nothing copied.
    pub fn contact_facts(&self, id: ContactId) -> Option<(Timestamp, Channel, Option<&str>)> {
        let &cix = self.contact_ix.get(&id)?;
        let c = self.contacts.at(cix);
        let deadline = c
            .attributes
            .iter()
            .find(|(k, _)| k == "deadline")
            .map(|(_, v)| v.as_str());
        Some((c.arrived_at, c.channel, deadline))
    }

    pub fn agent(&self, id: AgentId) -> Option<AgentView> {
        let &aix = self.agent_ix.get(&id)?;
        let a = self.agents.at(aix);
        let has = |p: fn(&Phase) -> bool| a.items.iter().any(|it| p(&it.phase));
        let status = if has(|p| *p == Phase::Offered) {
            AgentStatus::Reserved
        } else if has(|p| *p == Phase::Active) {
            AgentStatus::Busy
        } else if has(|p| matches!(p, Phase::WrapUp { .. })) {
            AgentStatus::WrapUp
        } else {
            match &a.presence {
                Presence::Offline => AgentStatus::Offline,
                Presence::Ready => AgentStatus::Available,
                Presence::NotReady(r) => AgentStatus::NotReady(r.clone()),
            }
        };
        Some(AgentView {
            id,
            name: a.def.name.clone(),
            status,
            presence: a.presence.clone(),
            endpoint: a.endpoint,
            load: a.load,
            capacity: a.cap,
            work: a
                .items
                .iter()
                .map(|it| {
                    let ph = match it.phase {
                        Phase::Offered => WorkPhase::Offered,
                        Phase::Active => WorkPhase::Active,
                        Phase::WrapUp { until, .. } => WorkPhase::WrapUp { until },
                    };
                    (it.contact, it.media, ph)
                })
                .collect(),
            idle_since: a.idle_since,
        })
    }

    pub fn queue_view(&self, id: QueueId) -> Option<QueueView> {
        let &qix = self.queue_ix.get(&id)?;
        let q = self.queue(qix);
        Some(QueueView {
            id,
            name: q.def.name.clone(),
            waiting: q.waiting_count,
            oldest_arrival: q
                .waiting
                .values()
                .filter_map(|c| c.first().map(|p| p.0))
                .min(),
            ready_agents: std::array::from_fn(|m| q.ready[m].len()),
            candidate_agents: q.candidates.len(),
        })
    }

    /// The contacts waiting in a queue, in the order the queue would serve
    /// them now (effective priority, then place).
    pub fn waiting_in_order(&self, id: QueueId) -> Vec<ContactId> {
        let Some(&qix) = self.queue_ix.get(&id) else {
            return Vec::new();
        };
        let q = self.queue(qix);
        let mut v: Vec<(std::cmp::Reverse<Priority>, Timestamp, u64, ContactId)> = q
            .waiting
            .values()
            .flatten()
            .map(|&(at, seq, cix)| {
                let c = self.contacts.at(cix);
                (
                    std::cmp::Reverse(self.effective_priority(q, c)),
                    at,
                    seq,
                    c.id,
                )
            })
            .collect();
        v.sort_unstable();
        v.into_iter().map(|x| x.3).collect()
    }

    /// The callbacks waiting in a queue, in no order: when each arrived and
    /// its `deadline` attribute if it has one (the wallboard's callbacks
    /// owed). No views are built and nothing is sorted.
    pub fn waiting_callbacks(&self, id: QueueId) -> Vec<(Timestamp, Option<&str>)> {
        let Some(&qix) = self.queue_ix.get(&id) else {
            return Vec::new();
        };
        self.queue(qix)
            .waiting
            .values()
            .flatten()
            .map(|&(_, _, cix)| self.contacts.at(cix))
            .filter(|c| c.channel == Channel::Callback)
            .map(|c| {
                let deadline = c
                    .attributes
                    .iter()
                    .find(|(k, _)| k == "deadline")
                    .map(|(_, v)| v.as_str());
                (c.arrived_at, deadline)
            })
            .collect()
    }

    /// Callbacks booked in a queue for later and not yet due (they join
    /// the line when they fall due). A scan of every contact: for rebuilds
    /// and checks, not for every event.
    pub fn booked_callbacks(&self, id: QueueId) -> Vec<ContactId> {
        let Some(&qix) = self.queue_ix.get(&id) else {
            return Vec::new();
        };
        let mut out: Vec<ContactId> = self
            .contacts
            .iter()
            .filter(|(_, c)| c.queue == qix && matches!(c.routing, Routing::Scheduled { .. }))
            .map(|(_, c)| c.id)
            .collect();
        out.sort();
        out
    }

    /// 1-based position of a waiting contact in its queue, for announcements.
    pub fn position(&self, id: ContactId) -> Option<usize> {
        let c = self.contact(id)?;
        if c.state != ContactState::Waiting {
            return None;
        }
        self.waiting_in_order(c.queue)
            .iter()
            .position(|&x| x == id)
            .map(|p| p + 1)
    }

    /// Position and expected wait of a waiting contact, to announce to the
    /// caller and show to agents. Position counts the contacts of its queue
    /// the queue would serve first (effective priority, then place). The
    /// wait is (position) × handle time / agents serving, where the agents
    /// serving are those ready now (busy or not, on an air site) who are
    /// eligible for this contact at its overflow step, and handle time is
    /// the queue's moving average (3 minutes before any has ended); those
    /// ahead count less by the share of the queue's recent callers who hung
    /// up before an answer. With
    /// exponential handle times this is the mean time until the
    /// position-th agent frees up. It ignores callers ahead who will hang
    /// up and other queues' higher-priority contacts sharing the agents;
    /// the simulator measures how far off it is.
    pub fn expected_wait(&self, id: ContactId) -> Option<(usize, model::DurationMs)> {
        let &cix = self.contact_ix.get(&id)?;
        let c = self.contacts.at(cix);
        let Routing::Waiting(key) = c.routing else {
            return None;
        };
        let position = self.position(id)?;
        let q = self.queue(c.queue);
        let rule = &q.rules[key.step as usize];
        let extra = &self.reqsets[key.reqset as usize];
        let serving = q
            .candidates
            .iter()
            .map(|&aix| self.agents.at(aix))
            .filter(|a| {
                a.presence == Presence::Ready
                    && self.site_on_air[a.site as usize]
                    && a.cap[key.media.index()] > 0
                    && eligible(a, rule, extra)
            })
            .count();
        let handle = q.handle_ms_avg.unwrap_or(180_000.0);
        // Of those ahead, the share that will hang up before their turn
        // (as the queue's recent callers did) never takes an agent.
        let ahead = (position - 1) as f64 * (1.0 - q.abandon_share_avg.clamp(0.0, 1.0));
        let wait = if serving == 0 {
            // Nobody can take it now: at least one handle time.
            handle * (ahead + 1.0)
        } else {
            handle * (ahead + 1.0) / serving as f64
        };
        Some((position, model::DurationMs(wait.round() as i64)))
    }

    pub fn live_contacts(&self) -> usize {
        self.contacts.len()
    }

    pub fn agent_ids(&self) -> Vec<AgentId> {
        let mut v: Vec<AgentId> = self.agent_ix.keys().copied().collect();
        v.sort_unstable();
        v
    }

    pub fn contact_ids(&self) -> Vec<ContactId> {
        let mut v: Vec<ContactId> = self.contact_ix.keys().copied().collect();
        v.sort_unstable();
        v
    }

    pub fn queue_def(&self, id: QueueId) -> Option<&QueueDef> {
        self.queue_ix.get(&id).map(|&ix| &self.queue(ix).def)
    }

    pub fn agent_def(&self, id: AgentId) -> Option<&AgentDef> {
        self.agent_ix.get(&id).map(|&ix| &self.agents.at(ix).def)
    }

    /// The configuration in force now.
    pub fn config(&self) -> Config {
        let mut queues: Vec<QueueDef> = self
            .queues
            .iter()
            .flatten()
            .map(|q| q.def.clone())
            .collect();
        queues.sort_by_key(|q| q.id);
        let mut agents: Vec<AgentDef> = self.agents.iter().map(|(_, a)| a.def.clone()).collect();
        agents.sort_by_key(|a| a.id);
        Config {
            limits: self.limits.clone(),
            skills: self.skills.clone(),
            teams: self.teams.clone(),
            sites: self.sites.clone(),
            queues,
            agents,
        }
    }

    /// Checks the engine's indexes against its state and the stability
    /// invariant (no ready agent with room has an eligible waiting
    /// contact). For tests; costs O(everything).
    pub fn check_consistency(&self) -> Result<(), String> {
        let mut waiting_total = 0;
        for (qix, q) in self.queues.iter().enumerate() {
            let Some(q) = q else { continue };
            let n: usize = q.waiting.values().map(|c| c.len()).sum();
            if n != q.waiting_count {
                return Err(format!(
                    "queue {}: waiting_count {} but {} in classes",
                    q.def.id, q.waiting_count, n
                ));
            }
            waiting_total += n;
            for (key, class) in &q.waiting {
                if class.is_empty() {
                    return Err(format!("queue {}: empty class kept", q.def.id));
                }
                for &(at, seq, cix) in class {
                    let c = self.contacts.get(cix).ok_or("dead contact in a class")?;
                    if c.routing != Routing::Waiting(*key)
                        || c.queue as usize != qix
                        || c.arrived_at != at
                        || c.seq != seq
                    {
                        return Err(format!("contact {} misfiled in queue {}", c.id, q.def.id));
                    }
                }
            }
            for m in Media::ALL {
                for &(_, _, aid, aix) in q.ready[m.index()].iter() {
                    let a = self.agents.get(aix).ok_or("dead agent in a ready index")?;
                    if a.def.id != aid
                        || !a.can_take(m)
                        || a.presence != Presence::Ready
                        || !self.site_on_air[a.site as usize]
                    {
                        return Err(format!(
                            "agent {aid} in queue {}'s ready index for {m} but cannot take it",
                            q.def.id
                        ));
                    }
                }
            }
        }
        let mut counted = 0;
        for (aix, a) in self.agents.iter() {
            let mut load = [0u8; Media::COUNT];
            for it in &a.items {
                load[it.media.index()] += 1;
                if let Some(&cix) = self.contact_ix.get(&it.contact) {
                    let c = self.contacts.at(cix);
                    let ok = match it.phase {
                        Phase::Offered => c.routing == Routing::Offered { agent: aix },
                        Phase::Active => c.handler.is_some_and(|h| h.agent == aix),
                        Phase::WrapUp { .. } => true,
                    };
                    if !ok {
                        return Err(format!(
                            "agent {}'s item for {} disagrees with the contact",
                            a.def.id, it.contact
                        ));
                    }
                } else if !matches!(it.phase, Phase::WrapUp { .. }) {
                    return Err(format!(
                        "agent {} holds ended contact {}",
                        a.def.id, it.contact
                    ));
                }
            }
            if load != a.load {
                return Err(format!(
                    "agent {} load {:?} but items say {:?}",
                    a.def.id, a.load, load
                ));
            }
            for m in Media::ALL {
                if a.load[m.index()] > a.cap[m.index()]
                    && a.items
                        .iter()
                        .any(|it| it.media == m && it.phase == Phase::Offered)
                {
                    return Err(format!(
                        "agent {} offered beyond its {m} capacity",
                        a.def.id
                    ));
                }
            }
            for &cix in &a.directed {
                let c = self.contacts.get(cix).ok_or("dead directed contact")?;
                if c.routing != Routing::Directed(aix) {
                    return Err(format!(
                        "contact {} in agent {}'s list but not directed there",
                        c.id, a.def.id
                    ));
                }
                counted += 1;
            }
            // Stability: an offerable agent with room has nothing eligible.
            if a.presence == Presence::Ready && self.site_on_air[a.site as usize] {
                for &qix in &a.candidates {
                    let q = self.queue(qix);
                    for (key, class) in &q.waiting {
                        if a.can_take(key.media)
                            && key.excluded != aix + 1
                            && eligible(
                                a,
                                &q.rules[key.step as usize],
                                &self.reqsets[key.reqset as usize],
                            )
                        {
                            let c = self.contacts.at(class.first().expect("non-empty").2);
                            return Err(format!(
                                "agent {} is free for contact {} but it waits",
                                a.def.id, c.id
                            ));
                        }
                    }
                }
                for &cix in &a.directed {
                    let c = self.contacts.at(cix);
                    if a.can_take(c.channel.media()) {
                        return Err(format!(
                            "agent {} is free for directed contact {} but it waits",
                            a.def.id, c.id
                        ));
                    }
                }
            }
        }
        let waiting_contacts = self
            .contacts
            .iter()
            .filter(|(_, c)| matches!(c.routing, Routing::Waiting(_) | Routing::Directed(_)))
            .count();
        if waiting_contacts != waiting_total + counted {
            return Err(format!(
                "{waiting_contacts} contacts waiting but {} filed",
                waiting_total + counted
            ));
        }
        for (_, c) in self.contacts.iter() {
            if c.routing == Routing::Idle && c.handler.is_none() {
                return Err(format!("contact {} is nowhere", c.id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Input, NewContact};

    /// The wallboard's callbacks owed: only the queue's waiting callbacks,
    /// each with its arrival and deadline; none for an unknown queue.
    #[test]
    fn waiting_callbacks_are_the_queues_callbacks_with_their_deadlines() {
        let t = Timestamp(1_800_000_000_000);
        let config = crate::demo::kent_community_trust();
        let q = config.queues[0].id;
        let mut e = Engine::new(config, t).unwrap();
        e.handle(
            t,
            Input::Arrive(NewContact::new(ContactId(1), q, Channel::Voice)),
        )
        .unwrap();
        let mut cb = NewContact::new(ContactId(2), q, Channel::Callback);
        cb.attributes = vec![("deadline".into(), "2027-01-15T08:00:00Z".into())];
        e.handle(
            t,
            Input::ScheduleCallback {
                contact: cb,
                due_at: t,
                deadline: None,
            },
        )
        .unwrap();
        e.handle(
            t,
            Input::Arrive(NewContact::new(ContactId(3), q, Channel::Callback)),
        )
        .unwrap();
        let mut got = e.waiting_callbacks(q);
        got.sort();
        assert_eq!(got, vec![(t, None), (t, Some("2027-01-15T08:00:00Z"))]);
        assert!(e.waiting_callbacks(QueueId(999_999)).is_empty());
    }
}
