//! Routing traces: events rendered as one readable line each, with names.
//! Used by snapshot tests and the demo.

use crate::event::{Event, Record};
use crate::input::{Presence, TransferMode, TransferTarget};
use crate::Engine;
use model::{AgentId, QueueId, SiteId};
use std::fmt::Write;

/// Names of queues and agents, taken from an engine's configuration.
pub struct Names {
    queues: std::collections::BTreeMap<QueueId, String>,
    agents: std::collections::BTreeMap<AgentId, String>,
    sites: std::collections::BTreeMap<SiteId, String>,
}

impl Names {
    pub fn of(engine: &Engine) -> Names {
        let c = engine.config();
        Names {
            queues: c.queues.into_iter().map(|q| (q.id, q.name)).collect(),
            agents: c.agents.into_iter().map(|a| (a.id, a.name)).collect(),
            sites: c.sites.into_iter().map(|s| (s.id, s.name)).collect(),
        }
    }
    fn q(&self, q: QueueId) -> String {
        self.queues
            .get(&q)
            .cloned()
            .unwrap_or_else(|| q.to_string())
    }
    fn a(&self, a: AgentId) -> String {
        self.agents
            .get(&a)
            .cloned()
            .unwrap_or_else(|| a.to_string())
    }
    fn target(&self, t: TransferTarget) -> String {
        match t {
            TransferTarget::Queue(q) => self.q(q),
            TransferTarget::Agent(a) => self.a(a),
        }
    }
}

fn mode(m: TransferMode) -> &'static str {
    match m {
        TransferMode::Warm => "warm",
        TransferMode::Cold => "cold",
    }
}

/// One line: `  12.000s c3 offered to Alice (Wheelchairs), rings until 32.000s`.
pub fn line(n: &Names, r: &Record) -> String {
    let mut s = format!("{:>9} ", r.at.to_string());
    let _ = match &r.event {
        Event::Arrived {
            contact,
            queue,
            channel,
            priority,
        } => {
            write!(
                s,
                "{contact} arrived: {channel} for {} (priority {priority})",
                n.q(*queue)
            )
        }
        Event::CallbackScheduled {
            contact,
            queue,
            due_at,
            deadline,
        } => {
            let by = deadline
                .map(|d| format!(", to be answered by {d}"))
                .unwrap_or_default();
            write!(
                s,
                "{contact} callback booked for {due_at} in {}{by}",
                n.q(*queue)
            )
        }
        Event::Queued {
            contact,
            queue,
            step,
            for_agent: None,
        } => write!(s, "{contact} waits in {} (step {step})", n.q(*queue)),
        Event::Queued {
            contact,
            for_agent: Some(a),
            ..
        } => write!(s, "{contact} waits for {}", n.a(*a)),
        Event::OverflowStep {
            contact,
            queue,
            step,
        } => {
            write!(s, "{contact} overflow step {step} of {}", n.q(*queue))
        }
        Event::CallbackOffered { contact, .. } => write!(s, "{contact} is offered a callback"),
        Event::CallbackRequested { contact, .. } => {
            write!(s, "{contact} takes a callback, keeps its place")
        }
        Event::PriorityChanged { contact, from, to } => {
            write!(s, "{contact} priority {from} -> {to}")
        }
        Event::Moved {
            contact,
            from,
            to,
            reason,
        } => {
            write!(
                s,
                "{contact} moved {} -> {} ({reason:?})",
                n.q(*from),
                n.q(*to)
            )
        }
        Event::Offered {
            contact,
            agent,
            queue,
            expires_at,
        } => write!(
            s,
            "{contact} offered to {} ({}), rings until {expires_at}",
            n.a(*agent),
            n.q(*queue)
        ),
        Event::Answered {
            contact,
            agent,
            waited,
            ..
        } => {
            write!(s, "{contact} answered by {} after {waited}", n.a(*agent))
        }
        Event::OfferRejected { contact, agent } => {
            write!(s, "{contact} rejected by {}", n.a(*agent))
        }
        Event::OfferTimedOut { contact, agent } => {
            write!(s, "{contact} rang out at {}", n.a(*agent))
        }
        Event::OfferWithdrawn {
            contact,
            agent,
            reason,
        } => {
            write!(
                s,
                "{contact} offer to {} withdrawn ({reason:?})",
                n.a(*agent)
            )
        }
        Event::HoldStarted { contact, .. } => write!(s, "{contact} on hold"),
        Event::HoldEnded { contact, .. } => write!(s, "{contact} off hold"),
        Event::TransferRequested {
            contact,
            from,
            to,
            mode: m,
        } => {
            write!(
                s,
                "{contact} {} transfer by {} to {}",
                mode(*m),
                n.a(*from),
                n.target(*to)
            )
        }
        Event::Transferred {
            contact,
            from,
            to,
            mode: m,
            ..
        } => {
            write!(
                s,
                "{contact} {} transfer {} -> {} done",
                mode(*m),
                n.a(*from),
                n.a(*to)
            )
        }
        Event::TransferCancelled { contact, .. } => write!(s, "{contact} transfer cancelled"),
        Event::Ended { contact, agent, .. } => write!(s, "{contact} ended by {}", n.a(*agent)),
        Event::Abandoned {
            contact,
            queue,
            waited,
        } => {
            write!(s, "{contact} abandoned {} after {waited}", n.q(*queue))
        }
        Event::Cancelled { contact, .. } => write!(s, "{contact} callback cancelled"),
        Event::Voicemail {
            contact,
            queue,
            reason,
        } => {
            write!(
                s,
                "{contact} to voicemail from {} ({reason:?})",
                n.q(*queue)
            )
        }
        Event::Refused { contact, queue } => {
            write!(s, "{contact} refused: {} is full", n.q(*queue))
        }
        Event::WrapUpStarted {
            agent,
            contact,
            until,
        } => {
            write!(s, "{} wraps up {contact} until {until}", n.a(*agent))
        }
        Event::WrapUpExtended {
            agent,
            contact,
            until,
        } => {
            write!(
                s,
                "{} wraps up {contact} longer, until {until}",
                n.a(*agent)
            )
        }
        Event::WrapUpEnded { agent, contact } => {
            write!(s, "{} done with {contact}", n.a(*agent))
        }
        Event::PresenceChanged { agent, presence } => {
            let p = match presence {
                Presence::Offline => "offline".to_string(),
                Presence::Ready => "ready".to_string(),
                Presence::NotReady(r) => format!("not ready ({})", r.as_str()),
            };
            write!(s, "{} is {p}", n.a(*agent))
        }
        Event::SiteOnAir { site, on_air } => {
            let name = n
                .sites
                .get(site)
                .cloned()
                .unwrap_or_else(|| site.to_string());
            write!(
                s,
                "site {name} {}",
                if *on_air { "back on air" } else { "OFF AIR" }
            )
        }
        Event::Reconfigured { what } => write!(s, "config: {what}"),
    };
    s
}
