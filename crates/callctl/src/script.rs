//! Call scripts: a call's inputs as text, its commands as a trace, for
//! tests that read like the journey they check.
//!
//! Each line is `SECONDS COMMAND`; time only moves forward, and the
//! call's own timers (the flow's, the position reads, the time limit)
//! fire in between at their times. The runner plays the edge: it answers
//! the call's questions at once, as the voice edge does — joining gives
//! contacts c1, c2 …; a booking, an accept and a position read are
//! answered from what `world` lines set. Commands:
//!
//! ```text
//! key 1 | keys 123 | hangup [why] | hold on|off | finished [N|hangup]
//! latched | media-stopped | offered AGENT phone|gone|desk until SECONDS
//! offer-gone AGENT | desk-answer AGENT | agent-hold on|off | contact-ended
//! dialled dN answered|failed|cancelled | agent-hangup dN | tick | show
//! record start|pause|resume|stop
//! world position N WAIT_SECONDS | world position none
//! world join ok | world join refused REASON | world join later | joined
//! world booking ok|refused | world accept ok|refused
//! ```
//!
//! `finished` alone ends the last tagged prompt played. A position read
//! is traced only when its answer changes. After `world join later` a join
//! is left unanswered until a `joined` line answers it (the edge's answer
//! coming late, after whatever happened in between).

use crate::{Conversation, DialError, DialId, EngineRequest, Input, Output, PhoneState, VoiceCall};
use model::{AgentId, ContactId, DurationMs, Timestamp};
use std::fmt::Write;

/// Most timer firings between two lines (a bound on a call that never
/// settles).
const MAX_FIRINGS: usize = 100_000;

/// The edge's answers.
struct World {
    next_contact: u64,
    join: Result<(), String>,
    booking: bool,
    accept: bool,
    position: Option<(u32, DurationMs)>,
    last_told: Option<Option<(u32, DurationMs)>>,
    last_tag: Option<u64>,
    /// The call has put out `Done`.
    done: bool,
    /// Joins are answered by a later `joined` line, not at once.
    join_later: bool,
    /// A join asked and not yet answered.
    join_pending: bool,
}

/// Runs `script` against `call`, started at `start`; returns the trace.
pub fn run(call: &mut VoiceCall, start: Timestamp, script: &str) -> Result<String, String> {
    let mut w = World {
        next_contact: 1,
        join: Ok(()),
        booking: true,
        accept: true,
        position: None,
        last_told: None,
        last_tag: None,
        done: false,
        join_later: false,
        join_pending: false,
    };
    let mut trace = String::new();
    let mut now = start;
    drain(call, &mut w, start, now, &mut trace);
    for (n, line) in script.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |m: &str| format!("line {}: {m}: {line}", n + 1);
        let (at, rest) = line.split_once(' ').unwrap_or((line, ""));
        let secs: f64 = at.parse().map_err(|_| err("not a time"))?;
        let t = start.plus(DurationMs((secs * 1000.0).round() as i64));
        if t < now {
            return Err(err("time went backwards"));
        }
        // The call's timers, up to this line's time.
        let mut firings = 0;
        while let Some(due) = call.poll_timeout().filter(|d| *d <= t) {
            firings += 1;
            if firings > MAX_FIRINGS {
                return Err(err("the call's timers never settle"));
            }
            now = due.max(now);
            call.handle_timeout(now);
            drain(call, &mut w, start, now, &mut trace);
        }
        now = t;
        let words: Vec<&str> = rest.split_whitespace().collect();
        let input = match words.as_slice() {
            ["tick"] => {
                call.handle_timeout(now);
                None
            }
            ["show"] => {
                let _ = writeln!(trace, "{} {}", stamp(start, now), show(call));
                None
            }
            ["key", k] | ["keys", k] => {
                for c in k.chars() {
                    call.handle(now, Input::Key(c));
                    drain(call, &mut w, start, now, &mut trace);
                }
                None
            }
            ["hangup"] => Some(Input::CallerHungUp(None)),
            ["hangup", why] => Some(Input::CallerHungUp(Some(leak(why)))),
            ["hold", on] => Some(Input::CallerHold(
                on_off(on).ok_or_else(|| err("on or off"))?,
            )),
            ["finished"] => Some(Input::PlayFinished(
                w.last_tag.ok_or_else(|| err("no prompt was played"))?,
            )),
            ["finished", "hangup"] => Some(Input::PlayFinished(crate::HANG_UP_TAG)),
            ["finished", tag] => Some(Input::PlayFinished(
                tag.parse().map_err(|_| err("not a tag"))?,
            )),
            ["latched"] => Some(Input::MediaLatched),
            ["media-stopped"] => Some(Input::MediaStopped),
            ["record-failed"] => Some(Input::RecordingFailed),
            ["record", a] => Some(Input::Recording(
                crate::RecordingAction::parse(a)
                    .ok_or_else(|| err("record start|pause|resume|stop"))?,
            )),
            ["offered", a, phone, "until", s] => {
                let phone = match *phone {
                    "phone" => PhoneState::Registered,
                    "gone" => PhoneState::Gone,
                    "desk" => PhoneState::Desk,
                    _ => return Err(err("phone, gone or desk")),
                };
                let s: f64 = s.parse().map_err(|_| err("not a time"))?;
                Some(Input::Offered {
                    agent: agent(a).ok_or_else(|| err("not an agent"))?,
                    expires_at: start.plus(DurationMs((s * 1000.0).round() as i64)),
                    phone,
                })
            }
            ["offer-gone", a] => Some(Input::OfferGone {
                agent: agent(a).ok_or_else(|| err("not an agent"))?,
            }),
            ["desk-answer", a] => Some(Input::AnsweredAtDesk {
                agent: agent(a).ok_or_else(|| err("not an agent"))?,
            }),
            ["agent-hold", on] => Some(Input::AgentHold(
                on_off(on).ok_or_else(|| err("on or off"))?,
            )),
            ["contact-ended"] => Some(Input::ContactEnded),
            ["dialled", d, how] => {
                let dial = dial(d).ok_or_else(|| err("not a dial (d1 …)"))?;
                let result = match *how {
                    "answered" => Ok(()),
                    "failed" => Err(DialError::Failed("no answer".into())),
                    "cancelled" => Err(DialError::Cancelled),
                    _ => return Err(err("answered, failed or cancelled")),
                };
                Some(Input::Dialled { dial, result })
            }
            ["agent-hangup", d] => Some(Input::AgentHungUp {
                dial: dial(d).ok_or_else(|| err("not a dial (d1 …)"))?,
            }),
            ["world", "position", "none"] => {
                w.position = None;
                None
            }
            ["world", "position", p, wait] => {
                let p = p.parse().map_err(|_| err("not a position"))?;
                let wait: i64 = wait.parse().map_err(|_| err("not seconds"))?;
                w.position = Some((p, DurationMs::from_secs(wait)));
                None
            }
            ["world", "join", "ok"] => {
                w.join = Ok(());
                w.join_later = false;
                None
            }
            ["world", "join", "later"] => {
                w.join_later = true;
                None
            }
            ["joined"] => {
                if !w.join_pending {
                    return Err(err("no join is waiting for its answer"));
                }
                w.join_pending = false;
                let c = ContactId(w.next_contact);
                w.next_contact += 1;
                let _ = writeln!(trace, "{} joined -> c{}", stamp(start, now), c.0);
                Some(Input::Joined(Ok(c)))
            }
            ["world", "join", "refused", why @ ..] => {
                w.join = Err(why.join(" "));
                None
            }
            ["world", "booking", ok] => {
                w.booking = *ok == "ok";
                None
            }
            ["world", "accept", ok] => {
                w.accept = *ok == "ok";
                None
            }
            _ => return Err(err("unknown command")),
        };
        if let Some(i) = input {
            call.handle(now, i);
        }
        drain(call, &mut w, start, now, &mut trace);
    }
    Ok(trace)
}

fn leak(s: &str) -> &'static str {
    match s {
        "bye" => "bye",
        "cancel" => "cancelled",
        _ => "hung up",
    }
}

fn on_off(s: &str) -> Option<bool> {
    match s {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

fn agent(s: &str) -> Option<AgentId> {
    s.parse().ok().map(AgentId)
}

fn dial(s: &str) -> Option<DialId> {
    s.strip_prefix('d')?.parse().ok().map(DialId)
}

fn stamp(start: Timestamp, now: Timestamp) -> String {
    format!("{:.3}s", now.since(start).as_ms() as f64 / 1000.0)
}

/// Carries out the call's outputs as the edge would, answering questions.
fn drain(
    call: &mut VoiceCall,
    w: &mut World,
    start: Timestamp,
    now: Timestamp,
    trace: &mut String,
) {
    while let Some(o) = call.poll_output() {
        let answer = match &o {
            Output::Play { tag: Some(t), .. } if *t != crate::HANG_UP_TAG => {
                w.last_tag = Some(*t);
                None
            }
            Output::Engine(EngineRequest::Join { .. }) if w.join_later => {
                w.join_pending = true;
                None
            }
            Output::Engine(EngineRequest::Join { .. }) => Some(match &w.join {
                Ok(()) => {
                    let c = ContactId(w.next_contact);
                    w.next_contact += 1;
                    Input::Joined(Ok(c))
                }
                Err(e) => Input::Joined(Err(e.clone())),
            }),
            Output::Engine(EngineRequest::BookCallback { .. }) => {
                Some(Input::CallbackBooked(w.booking))
            }
            Output::Engine(EngineRequest::Accept { dial, .. }) => Some(Input::Accepted {
                dial: *dial,
                ok: w.accept,
            }),
            Output::Engine(EngineRequest::ReadPosition { .. }) => Some(Input::Position(w.position)),
            _ => None,
        };
        let quiet = matches!(answer, Some(Input::Position(p)) if w.last_told == Some(p));
        if !quiet {
            let said = match &answer {
                Some(Input::Joined(Ok(c))) => format!(" -> c{}", c.0),
                Some(Input::Joined(Err(e))) => format!(" -> refused: {e}"),
                Some(Input::CallbackBooked(ok)) | Some(Input::Accepted { ok, .. }) => {
                    if *ok { " -> ok" } else { " -> refused" }.to_string()
                }
                Some(Input::Position(Some((p, wait)))) => {
                    format!(" -> {p}, {}s wait", wait.as_ms() / 1000)
                }
                Some(Input::Position(None)) => " -> none".to_string(),
                _ => String::new(),
            };
            let _ = writeln!(trace, "{} {o}{said}", stamp(start, now));
        }
        if let Some(Input::Position(p)) = &answer {
            w.last_told = Some(*p);
        }
        if matches!(o, Output::Done) {
            w.done = true;
        }
        if let Some(a) = answer {
            let joined = match &a {
                Input::Joined(Ok(c)) if !call.is_done() => Some(*c),
                _ => None,
            };
            call.handle(now, a);
            // The call says which contact it is once joined.
            if let Some(c) = joined {
                assert_eq!(call.contact(), Some(c), "joined as {c:?}");
            }
        }
    }
    // The call says it is done exactly when it has said `done`, and then
    // waits for nothing.
    assert_eq!(
        call.is_done(),
        w.done,
        "is_done() and the Done output disagree"
    );
    if w.done {
        assert_eq!(call.poll_timeout(), None, "a timer after the end");
    }
}

/// The journal in one line.
pub fn show(call: &VoiceCall) -> String {
    show_journal(call.journal())
}

fn show_journal(j: &crate::Journal) -> String {
    let mut s = format!("journal: {}", j.stage.as_str());
    if let Some(o) = &j.outcome {
        let _ = write!(s, " ({o})");
    }
    if let Some(c) = j.contact {
        let _ = write!(s, " contact c{}", c.0);
    }
    if let Some(a) = j.agent {
        let _ = write!(s, " agent {}", a.0);
    }
    let _ = write!(s, " path [{}]", j.path.join(", "));
    if !j.keys.is_empty() {
        let _ = write!(s, " keys {}", j.keys);
    }
    if !j.announced.is_empty() {
        let _ = write!(s, " announced {:?}", j.announced);
    }
    if !j.missed_by.is_empty() {
        let m: Vec<u32> = j.missed_by.iter().map(|a| a.0).collect();
        let _ = write!(s, " missed by {m:?}");
    }
    for (flag, name) in [
        (j.callback_requested, "callback"),
        (j.bridged, "bridged"),
        (j.held, "held"),
        (j.agent_hold, "agent-hold"),
        (j.nat, "nat"),
    ] {
        if flag {
            let _ = write!(s, " {name}");
        }
    }
    if let Some(e) = j.ended {
        let _ = write!(s, " leg {e}");
    }
    if j.recordings > 0 {
        let _ = write!(
            s,
            " recording {} ({} made)",
            j.recording.as_str(),
            j.recordings
        );
    }
    s
}

/// Runs a ring-back script: lines `SECONDS agent|caller answered|failed|hangup`,
/// `SECONDS show`, `SECONDS tick`; the engine's answer to `Accept` is
/// `accept` (as `world accept` sets it for a call).
pub fn run_ringback(
    call: &mut crate::RingBack,
    start: Timestamp,
    accept: bool,
    script: &str,
) -> Result<String, String> {
    use crate::ringback::{AGENT, CALLER};
    use crate::{RingBackInput as I, RingBackOutput as O};
    let mut trace = String::new();
    let mut done = false;
    let mut drain = |call: &mut crate::RingBack, now: Timestamp, trace: &mut String| {
        while let Some(o) = call.poll_output() {
            done |= matches!(o, O::Done);
            let answer = matches!(o, O::Engine(EngineRequest::Accept { .. }));
            let said = if answer {
                if accept {
                    " -> ok"
                } else {
                    " -> refused"
                }
            } else {
                ""
            };
            let _ = writeln!(trace, "{} {o}{said}", stamp(start, now));
            if answer {
                call.handle(now, I::Accepted { ok: accept });
            }
        }
        // Done exactly when it has said so, and then no timers.
        assert_eq!(
            call.is_done(),
            done,
            "is_done() and the Done output disagree"
        );
        if done {
            assert_eq!(call.poll_timeout(), None, "a timer after the end");
        }
    };
    drain(call, start, &mut trace);
    let mut now = start;
    for (n, line) in script.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = |m: &str| format!("line {}: {m}: {line}", n + 1);
        let words: Vec<&str> = line.split_whitespace().collect();
        let secs: f64 = words[0].parse().map_err(|_| err("not a time"))?;
        let t = start.plus(DurationMs((secs * 1000.0).round() as i64));
        if t < now {
            return Err(err("time went backwards"));
        }
        if let Some(due) = call.poll_timeout().filter(|d| *d <= t) {
            call.handle_timeout(due);
            drain(call, due, &mut trace);
        }
        now = t;
        let dial = |w: &str| match w {
            "agent" => Ok(AGENT),
            "caller" => Ok(CALLER),
            _ => Err(err("agent or caller")),
        };
        match &words[1..] {
            ["show"] => {
                let _ = writeln!(
                    trace,
                    "{} {}",
                    stamp(start, now),
                    show_journal(call.journal())
                );
            }
            ["tick"] => call.handle_timeout(now),
            [who, "answered"] => call.handle(
                now,
                I::Dialled {
                    dial: dial(who)?,
                    result: Ok(()),
                },
            ),
            [who, "failed"] => call.handle(
                now,
                I::Dialled {
                    dial: dial(who)?,
                    result: Err(DialError::Failed("busy".into())),
                },
            ),
            [who, "hangup"] => call.handle(now, I::HungUp { dial: dial(who)? }),
            _ => return Err(err("unknown command")),
        }
        drain(call, now, &mut trace);
    }
    Ok(trace)
}
