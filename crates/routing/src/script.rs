//! Routing scripts: a line-per-input text form of engine inputs, run
//! against an engine to give a readable trace. Data-driven tests are
//! written in it; `switchboard route SCRIPT` replays one.
//!
//! ```text
//! # seconds  command   arguments
//! 0          ready     alice
//! 0          arrive    c1 wheelchairs voice prio=5 needs=polish:1
//! 12.5       accept    alice c1
//! ```
//! Queues, agents, skills and sites are named by their names in lower case
//! with spaces as dashes ("Paramedic line" → `paramedic-line`).
//!
//! Commands: `arrive ID QUEUE [CHANNEL] [prio=N] [needs=SKILL:LEVEL,..]
//! [lang=SKILL] [phone]` (`phone`: a real call, needing an agent whose
//! phone is connected), `book ID QUEUE DUE_SECS [by DEADLINE_SECS]`, `abandon ID`, `callback ID`,
//! `prio ID N`, `accept AGENT ID`, `reject AGENT ID`, `hold ID`, `resume ID`,
//! `transfer ID warm|cold queue:NAME|agent:NAME`, `cancel-transfer ID`,
//! `end ID`, `wrapped AGENT ID`, `more-wrap-up AGENT ID SECS`, `ready AGENT`, `offline AGENT`,
//! `break AGENT [REASON]`, `phone AGENT on|off` (a phone or softphone
//! connected or gone), `site NAME on|off`, `tick` (only time passes),
//! `show queue NAME`, `show agent NAME`, `show contact ID`.

use crate::config::SkillReq;
use crate::input::{Input, NewContact, NotReadyReason, Presence, TransferMode, TransferTarget};
use crate::trace::{line, Names};
use crate::{Engine, Record};
use model::{AgentId, Channel, ContactId, QueueId, SiteId, SkillId, Timestamp};

/// A script line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("script line {line}: {problem}")]
pub struct ScriptError {
    pub line: usize,
    pub problem: String,
}

/// Longest script accepted, in lines.
pub const MAX_SCRIPT_LINES: usize = 100_000;

pub fn slug(name: &str) -> String {
    name.trim().to_lowercase().replace(' ', "-")
}

struct Resolver {
    queues: Vec<(String, QueueId)>,
    agents: Vec<(String, AgentId)>,
    skills: Vec<(String, SkillId)>,
    sites: Vec<(String, SiteId)>,
}

impl Resolver {
    fn of(e: &Engine) -> Resolver {
        let c = e.config();
        Resolver {
            queues: c.queues.iter().map(|q| (slug(&q.name), q.id)).collect(),
            agents: c.agents.iter().map(|a| (slug(&a.name), a.id)).collect(),
            skills: c.skills.iter().map(|s| (slug(&s.name), s.id)).collect(),
            sites: c.sites.iter().map(|s| (slug(&s.name), s.id)).collect(),
        }
    }
    fn find<T: Copy>(list: &[(String, T)], kind: &str, name: &str) -> Result<T, String> {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
            .ok_or_else(|| format!("no {kind} named '{name}'"))
    }
    fn queue(&self, n: &str) -> Result<QueueId, String> {
        Self::find(&self.queues, "queue", n)
    }
    fn agent(&self, n: &str) -> Result<AgentId, String> {
        Self::find(&self.agents, "agent", n)
    }
    fn skill(&self, n: &str) -> Result<SkillId, String> {
        Self::find(&self.skills, "skill", n)
    }
    fn site(&self, n: &str) -> Result<SiteId, String> {
        Self::find(&self.sites, "site", n)
    }
}

fn contact_id(s: &str) -> Result<ContactId, String> {
    s.strip_prefix('c')
        .and_then(|n| n.parse().ok())
        .map(ContactId)
        .ok_or_else(|| format!("'{s}' is not a contact id like c12"))
}

fn channel(s: &str) -> Result<Channel, String> {
    Channel::ALL
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| format!("unknown channel '{s}'"))
}

fn seconds(s: &str) -> Result<Timestamp, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a time in seconds"))?;
    if !(0.0..=1e9).contains(&v) {
        return Err(format!("time {s} is out of range"));
    }
    Ok(Timestamp((v * 1000.0).round() as i64))
}

enum Step {
    Input(Input),
    Tick,
    Show(String, String),
}

fn parse_line(r: &Resolver, words: &[&str]) -> Result<Step, String> {
    let arg = |i: usize| {
        words
            .get(i)
            .copied()
            .ok_or_else(|| format!("'{}' needs more arguments", words[0]))
    };
    let input = match words[0] {
        "arrive" => {
            let mut nc = NewContact::new(contact_id(arg(1)?)?, r.queue(arg(2)?)?, Channel::Voice);
            for w in &words[3..] {
                if let Some(p) = w.strip_prefix("prio=") {
                    nc.priority = p.parse().map_err(|_| format!("bad priority '{p}'"))?;
                } else if let Some(list) = w.strip_prefix("needs=") {
                    for item in list.split(',') {
                        let (s, l) = item.split_once(':').ok_or("needs=SKILL:LEVEL")?;
                        let min_level = l.parse().map_err(|_| format!("bad level '{l}'"))?;
                        nc.requirements.push(SkillReq {
                            skill: r.skill(s)?,
                            min_level,
                        });
                    }
                } else if let Some(l) = w.strip_prefix("lang=") {
                    nc.language = Some(r.skill(l)?);
                } else if *w == "phone" {
                    nc.needs_endpoint = true;
                } else {
                    nc.channel = channel(w)?;
                }
            }
            Input::Arrive(nc)
        }
        "book" => Input::ScheduleCallback {
            contact: NewContact::new(contact_id(arg(1)?)?, r.queue(arg(2)?)?, Channel::Callback),
            due_at: seconds(arg(3)?)?,
            deadline: match words.get(4).copied() {
                None => None,
                Some("by") => Some(seconds(arg(5)?)?),
                Some(w) => return Err(format!("book: '{w}' is not 'by DEADLINE_SECS'")),
            },
        },
        "abandon" => Input::Abandon {
            contact: contact_id(arg(1)?)?,
        },
        "callback" => Input::RequestCallback {
            contact: contact_id(arg(1)?)?,
        },
        "prio" => Input::SetPriority {
            contact: contact_id(arg(1)?)?,
            priority: arg(2)?.parse().map_err(|_| "bad priority".to_string())?,
        },
        "accept" => Input::Accept {
            agent: r.agent(arg(1)?)?,
            contact: contact_id(arg(2)?)?,
        },
        "reject" => Input::Reject {
            agent: r.agent(arg(1)?)?,
            contact: contact_id(arg(2)?)?,
        },
        "hold" => Input::Hold {
            contact: contact_id(arg(1)?)?,
        },
        "resume" => Input::Resume {
            contact: contact_id(arg(1)?)?,
        },
        "transfer" => {
            let mode = match arg(2)? {
                "warm" => TransferMode::Warm,
                "cold" => TransferMode::Cold,
                m => return Err(format!("transfer mode '{m}' is not warm or cold")),
            };
            let to = match arg(3)?.split_once(':') {
                Some(("queue", q)) => TransferTarget::Queue(r.queue(q)?),
                Some(("agent", a)) => TransferTarget::Agent(r.agent(a)?),
                _ => return Err("transfer target is queue:NAME or agent:NAME".into()),
            };
            Input::Transfer {
                contact: contact_id(arg(1)?)?,
                to,
                mode,
            }
        }
        "cancel-transfer" => Input::CancelTransfer {
            contact: contact_id(arg(1)?)?,
        },
        "end" => Input::End {
            contact: contact_id(arg(1)?)?,
        },
        "wrapped" => Input::WrapUpDone {
            agent: r.agent(arg(1)?)?,
            contact: contact_id(arg(2)?)?,
        },
        "more-wrap-up" => Input::ExtendWrapUp {
            agent: r.agent(arg(1)?)?,
            contact: contact_id(arg(2)?)?,
            by: model::DurationMs({
                let secs = arg(3)?;
                secs.parse::<i64>()
                    .map_err(|_| format!("bad seconds '{secs}'"))?
                    .saturating_mul(1000)
            }),
        },
        "ready" => Input::SetPresence {
            agent: r.agent(arg(1)?)?,
            presence: Presence::Ready,
        },
        "offline" => Input::SetPresence {
            agent: r.agent(arg(1)?)?,
            presence: Presence::Offline,
        },
        "break" => Input::SetPresence {
            agent: r.agent(arg(1)?)?,
            presence: Presence::NotReady(match words.get(2) {
                None | Some(&"break") => NotReadyReason::Break,
                Some(&"lunch") => NotReadyReason::Lunch,
                Some(&"training") => NotReadyReason::Training,
                Some(&"meeting") => NotReadyReason::Meeting,
                Some(other) => NotReadyReason::Other(other.to_string()),
            }),
        },
        "phone" => Input::SetEndpoint {
            agent: r.agent(arg(1)?)?,
            connected: match arg(2)? {
                "on" => true,
                "off" => false,
                x => return Err(format!("phone state '{x}' is not on or off")),
            },
        },
        "site" => Input::SetSiteOnAir {
            site: r.site(arg(1)?)?,
            on_air: match arg(2)? {
                "on" => true,
                "off" => false,
                x => return Err(format!("site state '{x}' is not on or off")),
            },
        },
        "tick" => return Ok(Step::Tick),
        "show" => return Ok(Step::Show(arg(1)?.to_string(), arg(2)?.to_string())),
        other => return Err(format!("unknown command '{other}'")),
    };
    Ok(Step::Input(input))
}

fn show(e: &Engine, r: &Resolver, what: &str, name: &str) -> Result<String, String> {
    Ok(match what {
        "queue" => {
            let q = r.queue(name)?;
            let order: Vec<String> = e
                .waiting_in_order(q)
                .iter()
                .map(|c| c.to_string())
                .collect();
            format!("queue {name}: [{}]", order.join(", "))
        }
        "agent" => {
            let a = e.agent(r.agent(name)?).expect("resolved agent exists");
            let work: Vec<String> = a
                .work
                .iter()
                .map(|(c, m, p)| format!("{c} {m} {p:?}"))
                .collect();
            format!(
                "agent {name}: {:?} load {:?} [{}]",
                a.status,
                a.load,
                work.join(", ")
            )
        }
        "contact" => {
            let id = contact_id(name)?;
            match e.contact(id) {
                Some(c) => format!(
                    "contact {id}: {:?} in {} step {} priority {} (effective {})",
                    c.state,
                    e.queue_def(c.queue).map_or("?", |q| q.name.as_str()),
                    c.step,
                    c.priority,
                    c.effective_priority
                ),
                None => format!("contact {id}: gone"),
            }
        }
        x => return Err(format!("cannot show '{x}'")),
    })
}

/// Runs a script against the engine; returns the trace. Refused inputs
/// show as `error:` lines; a line that cannot be read stops the run.
pub fn run(engine: &mut Engine, script: &str) -> Result<String, ScriptError> {
    run_collect(engine, script, &mut Vec::new())
}

/// As [`run`], also handing every event record to `sink`.
pub fn run_collect(
    engine: &mut Engine,
    script: &str,
    sink: &mut Vec<Record>,
) -> Result<String, ScriptError> {
    let names = Names::of(engine);
    let r = Resolver::of(engine);
    let mut out = String::new();
    let flush = |e: &mut Engine, out: &mut String, sink: &mut Vec<Record>| {
        for rec in e.drain_output() {
            out.push_str(line(&names, &rec).trim_end());
            out.push('\n');
            sink.push(rec);
        }
    };
    for (i, raw) in script.lines().enumerate() {
        let n = i + 1;
        if n > MAX_SCRIPT_LINES {
            return Err(ScriptError {
                line: n,
                problem: format!("longer than {MAX_SCRIPT_LINES} lines"),
            });
        }
        let text = raw.split('#').next().unwrap_or("").trim();
        if text.is_empty() {
            continue;
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        let err = |problem: String| ScriptError { line: n, problem };
        if words.len() < 2 {
            return Err(err("a line is SECONDS COMMAND [ARGUMENTS]".into()));
        }
        let at = seconds(words[0]).map_err(err)?;
        let step = parse_line(&r, &words[1..]).map_err(err)?;
        engine.handle_timeout(at).map_err(|e| err(e.to_string()))?;
        flush(engine, &mut out, sink);
        match step {
            Step::Tick => {}
            Step::Show(what, name) => {
                let s = show(engine, &r, &what, &name).map_err(err)?;
                out.push_str(&format!("{:>9} {s}\n", at.to_string()));
            }
            Step::Input(input) => {
                if let Err(e) = engine.handle(at, input) {
                    out.push_str(&format!("{:>9} error: {e}\n", at.to_string()));
                }
                flush(engine, &mut out, sink);
            }
        }
    }
    Ok(out)
}
