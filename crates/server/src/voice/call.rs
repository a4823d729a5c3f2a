//! One call's journey: answer, the flow, the queue, the agent's phone,
//! the bridge, the hang-up; and ringing a caller back when their callback
//! reaches an agent.

use super::media::{self, Command, Event as MediaEvent};
use super::sip::{Inbound, Leg, Signal};
use super::{lock, CallLog, News, Phone, Voice};
use flow::{Call as Flow, FlowEvent, Input as FlowInput, Node, Output};
use model::{AgentId, Channel, ContactId, OrgId, Timestamp};
use routing::{Input, NewContact};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use telephony::sdp;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The tag of the silent clip played before hanging up, so goodbyes are
/// heard in full.
const HANG_UP_TAG: u64 = u64::MAX;
/// Longest a call stays in the IVR or queue (a bound on stuck calls).
const MAX_CALL: Duration = Duration::from_secs(4 * 3600);
/// How often a queued caller's position is read.
const POSITION_EVERY: Duration = Duration::from_secs(2);

/// The prompts a node plays: (name, text).
pub(crate) fn prompts_of(node: &Node) -> Vec<(String, String)> {
    match node {
        Node::Play { prompt, text, .. }
        | Node::Menu { prompt, text, .. }
        | Node::Collect { prompt, text, .. }
        | Node::OfferCallback { prompt, text, .. }
        | Node::Voicemail { prompt, text, .. } => vec![(prompt.clone(), text.clone())],
        Node::SelfService {
            confirm_prompt,
            confirm_text,
            ..
        } => vec![(confirm_prompt.clone(), confirm_text.clone())],
        Node::HangUp {
            prompt: Some(p),
            text: Some(t),
        } => vec![(p.clone(), t.clone())],
        _ => vec![],
    }
}

fn session_id() -> u64 {
    u64::from_le_bytes(crate::auth::random_bytes::<8>()) >> 1
}

fn ssrc() -> u32 {
    u32::from_le_bytes(crate::auth::random_bytes::<4>())
}

/// A number the caller called from, if it is a phone number.
fn caller_number(user: &str) -> Option<model::PhoneNumber> {
    model::PhoneNumber::parse(user).ok()
}

struct Live {
    voice: Arc<Voice>,
    org: OrgId,
    log: Arc<Mutex<CallLog>>,
    contact: Option<ContactId>,
    answered: bool,
}

impl Live {
    fn note(&self, f: impl FnOnce(&mut CallLog)) {
        f(&mut lock(&self.log));
    }

    async fn apply(&self, input: Input, who: Option<store::CallerIdentity>) -> Result<(), String> {
        self.voice.app.apply(self.org, input, who).await.map(|_| ())
    }

    /// Writes the record as it stands (a crash then loses no call).
    fn save(&self) {
        self.voice.write(&lock(&self.log));
    }

    fn forget(&self) {
        if let Some(c) = self.contact {
            lock(&self.voice.calls).remove(&(self.org, c));
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.forget();
        self.voice.persist(&self.log);
        self.voice
            .live
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// An inbound call from start to end.
pub(crate) async fn inbound(voice: Arc<Voice>, call: Inbound) {
    voice
        .live
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let Inbound {
        source,
        dialled,
        from_user,
        caller_contact,
        sdp: offer,
        leg,
        mut signals,
    } = call;
    let mut live = Live {
        voice: voice.clone(),
        org: OrgId(0),
        log: Arc::new(Mutex::new(CallLog::default())),
        contact: None,
        answered: false,
    };
    // Where does this number go?
    let number = crate::services::canonical(crate::services::Kind::Phone, &dialled);
    let found = number
        .ok()
        .and_then(|n| voice.app.directory().service_at("phone", &n).ok().flatten());
    let Some((org, _service, def_text)) = found else {
        leg.reject(404);
        return;
    };
    let Some(def) = crate::services::ServiceDef::parse(&def_text) else {
        leg.reject(500);
        return;
    };
    live.org = org;
    voice.watch(org);
    live.log = voice.log(CallLog {
        id: voice.new_id(),
        org: org.0,
        dialled: dialled.clone(),
        direction: "inbound",
        flow: def.flow().map(str::to_string),
        state: "in_ivr",
        ..CallLog::default()
    });
    // Offer/answer.
    let remote = match sdp::parse(&offer) {
        Ok(a) => a,
        Err(e) => {
            live.note(|l| {
                l.state = "ended";
                l.outcome = Some(format!("refused: {e}"));
            });
            leg.reject(if offer.is_empty() { 488 } else { 400 });
            return;
        }
    };
    let Some(codec) = remote.codec else {
        live.note(|l| {
            l.state = "ended";
            l.outcome = Some("refused: no common codec".into());
        });
        leg.reject(488);
        return;
    };
    let port = match media::Port::bind(voice.edge().local.ip()).await {
        Ok(p) => p,
        Err(_) => {
            leg.reject(503);
            return;
        }
    };
    let local = sdp::Local {
        address: port.local,
        session_id: session_id(),
        version: 1,
    };
    let Ok((answer, _)) = sdp::answer(&local, &remote) else {
        leg.reject(488);
        return;
    };
    leg.ring();
    leg.answer(answer);
    // Behind NAT the caller's RTP comes from where their signalling did.
    let latch = source
        .map(|a| a.ip())
        .filter(|ip| *ip != remote.address.ip());
    let (cmd, mut events, _me) =
        port.start(remote.address, codec, remote.telephone_event, ssrc(), latch);
    live.note(|l| l.codec = Some(codec.name()));
    let now = crate::wall_clock();
    let mut attributes = BTreeMap::new();
    attributes.insert("number_called".to_string(), dialled.clone());
    let flow_id = def.flow().map(str::to_string);
    let mut fl: Option<Flow> = match flow_id.as_deref() {
        Some(id) => Flow::start(voice.book.clone(), id, attributes, now).ok(),
        None => None,
    };
    let who = caller_number(&from_user).map(|p| store::CallerIdentity {
        phone: Some(p),
        nhs_number: None,
    });
    // Without a flow: straight to the service's queue.
    let mut queued_without_flow = false;
    if fl.is_none() {
        if !crate::services::ServiceDef::open_now(&def) {
            let _ = cmd.send(Command::Play {
                clip: voice.prompts.get("sys-closed"),
                tag: None,
            });
            let _ = cmd.send(Command::Play {
                clip: silence(),
                tag: Some(HANG_UP_TAG),
            });
        } else {
            queued_without_flow = true;
        }
    }
    let (news_tx, mut news) = mpsc::unbounded_channel::<News>();
    let mut play_tag = 0u64;
    let mut waiting_tag: Option<u64> = None;
    let mut hanging_up = false;
    let mut agent_leg: Option<(
        Leg,
        mpsc::UnboundedReceiver<Signal>,
        mpsc::UnboundedSender<Command>,
        AgentId,
    )> = None;
    let (dial_tx, mut dial_rx) = mpsc::unbounded_channel::<(AgentId, Result<Answered, String>)>();
    // The agent's phone being rung, and how to stop it ringing.
    let mut dialing: Option<(AgentId, CancellationToken)> = None;
    let mut position_tick = tokio::time::interval(POSITION_EVERY);
    let deadline = tokio::time::sleep(MAX_CALL);
    tokio::pin!(deadline);
    let mut outputs: Vec<Output> = Vec::new();
    if queued_without_flow {
        outputs.push(Output::Enqueue {
            queue: String::new(),
            priority: 0,
            require: vec![],
            attributes: BTreeMap::new(),
        });
        outputs.push(Output::HoldMusic {
            music: Some("hold-1".into()),
        });
    }
    let mut caller_gone: Option<&'static str> = None;
    let mut agent_sender: Option<Arc<media::Sender>> = None;
    let mut announced_once = false;
    let mut agent_gone = false;
    loop {
        // Run what the flow asked for.
        if let Some(f) = fl.as_mut() {
            while let Some(o) = f.poll_output() {
                outputs.push(o);
            }
        }
        for o in std::mem::take(&mut outputs) {
            match o {
                Output::Play { prompt, .. } => {
                    play_tag += 1;
                    waiting_tag = Some(play_tag);
                    let _ = cmd.send(Command::Play {
                        clip: voice.prompts.get(&prompt),
                        tag: Some(play_tag),
                    });
                }
                Output::Listen { .. } => {}
                Output::Enqueue {
                    queue,
                    priority,
                    attributes,
                    ..
                } => {
                    let qid = if queue.is_empty() {
                        Some(def.queue())
                    } else {
                        voice.app.queue_named(org, &queue).await
                    };
                    let id = voice.app.ids.next();
                    let result = match qid {
                        Some(q) => {
                            let mut nc = NewContact::new(id, q, Channel::Voice);
                            nc.priority = priority;
                            nc.attributes = sip_attributes(attributes, &voice.private);
                            lock(&voice.calls).insert((org, id), news_tx.clone());
                            live.contact = Some(id);
                            live.apply(Input::Arrive(nc), who.clone()).await
                        }
                        None => Err(format!("no queue named {queue}")),
                    };
                    match result {
                        Ok(()) => {
                            live.note(|l| {
                                l.contact = Some(id.0);
                                l.state = "queued";
                            });
                            live.save();
                        }
                        Err(e) => {
                            live.forget();
                            live.contact = None;
                            live.note(|l| l.outcome = Some(format!("refused by the queue: {e}")));
                            let _ = cmd.send(Command::Play {
                                clip: voice.prompts.get("sys-sorry"),
                                tag: None,
                            });
                            hanging_up = true;
                            let _ = cmd.send(Command::Play {
                                clip: silence(),
                                tag: Some(HANG_UP_TAG),
                            });
                        }
                    }
                    position_tick.reset_immediately();
                }
                Output::HoldMusic { music } => {
                    let clip = voice.prompts.get(music.as_deref().unwrap_or("hold-1"));
                    let _ = cmd.send(Command::Music(Some(clip)));
                }
                Output::Announce { position, .. } => {
                    live.note(|l| l.announced.push(position));
                    for clip in voice.prompts.position(position) {
                        let _ = cmd.send(Command::Play { clip, tag: None });
                    }
                }
                Output::RequestCallback { queue, attributes } => {
                    // Rung back through the trunk at their number, else at
                    // the address their phone called from.
                    let target = match (voice.trunk, &who) {
                        (Some(t), Some(w)) => {
                            w.phone.as_ref().map(|p| format!("sip:{}@{t}", p.expose()))
                        }
                        _ => None,
                    }
                    .or_else(|| caller_contact.clone());
                    if live.contact.is_none() {
                        // Offered before the queue: join it, then keep the place.
                        let id = voice.app.ids.next();
                        if let Some(q) = voice.app.queue_named(org, &queue).await {
                            let mut nc = NewContact::new(id, q, Channel::Voice);
                            nc.attributes = sip_attributes(attributes, &voice.private);
                            if live.apply(Input::Arrive(nc), who.clone()).await.is_ok() {
                                live.contact = Some(id);
                                lock(&voice.calls).insert((org, id), news_tx.clone());
                            }
                        }
                    }
                    let mut booked = false;
                    if let (Some(c), Some(uri)) = (live.contact, target) {
                        let log_id = lock(&live.log).id;
                        lock(&voice.callbacks).insert((org, c), (uri, log_id));
                        if live
                            .apply(Input::RequestCallback { contact: c }, None)
                            .await
                            .is_ok()
                        {
                            live.note(|l| {
                                l.callback_requested = true;
                                l.outcome = Some("callback_requested".into());
                            });
                            live.forget();
                            live.contact = None;
                            booked = true;
                        } else {
                            lock(&voice.callbacks).remove(&(org, c));
                        }
                    }
                    let _ = cmd.send(Command::Clear);
                    let _ = cmd.send(Command::Music(None));
                    // Only a callback that was booked is promised; the flow
                    // hangs up next either way (the clear above removed any
                    // hang-up clip, so the flow's hang-up queues it again).
                    let said = if booked {
                        "sys-callback-booked"
                    } else {
                        "sys-sorry"
                    };
                    let _ = cmd.send(Command::Play {
                        clip: voice.prompts.get(said),
                        tag: None,
                    });
                    hanging_up = false;
                }
                Output::SelfService { action, .. } => {
                    live.note(|l| l.path.push(format!("self_service:{action}")));
                }
                Output::RecordVoicemail { .. } | Output::Transfer { .. } => {
                    let _ = cmd.send(Command::Play {
                        clip: voice.prompts.get("sys-sorry"),
                        tag: None,
                    });
                    hanging_up = true;
                    let _ = cmd.send(Command::Play {
                        clip: silence(),
                        tag: Some(HANG_UP_TAG),
                    });
                }
                Output::HangUp => {
                    if !hanging_up {
                        hanging_up = true;
                        let _ = cmd.send(Command::Play {
                            clip: silence(),
                            tag: Some(HANG_UP_TAG),
                        });
                    }
                }
                Output::Event(FlowEvent::Entered { node, .. }) => {
                    live.note(|l| l.path.push(node));
                }
                Output::Event(FlowEvent::Left { outcome, .. }) => {
                    let o = serde_json::to_value(outcome)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string));
                    live.note(|l| {
                        if l.outcome.is_none() && o.as_deref() != Some("queued") {
                            l.outcome = o;
                        }
                    });
                }
                Output::Event(_) => {}
            }
        }
        if caller_gone.is_some() || agent_gone {
            break;
        }
        let timer = fl.as_ref().and_then(|f| f.poll_timeout());
        let sleep_for = timer
            .map(|t| Duration::from_millis((t.0 - crate::wall_clock().0).max(0) as u64))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = &mut deadline => { caller_gone = Some("too long"); }
            _ = tokio::time::sleep(sleep_for), if timer.is_some() => {
                if let Some(f) = fl.as_mut() {
                    let _ = f.handle_timeout(crate::wall_clock());
                }
            }
            s = signals.recv() => match s {
                None => caller_gone = Some("hung up"),
                Some(Signal::Ended(why)) => {
                    live.note(|l| l.ended = Some(why));
                    caller_gone = Some("hung up");
                }
                Some(Signal::Key(k)) => key(&mut fl, &live, &cmd, k, agent_leg.is_some()),
                Some(Signal::Hold(h)) => live.note(|l| l.held = h),
                Some(Signal::Confirmed) => {}
            },
            e = events.recv() => match e {
                Some(MediaEvent::Key(k)) => key(&mut fl, &live, &cmd, k, agent_leg.is_some()),
                Some(MediaEvent::Finished(HANG_UP_TAG)) => {
                    caller_gone = Some("flow ended");
                    leg.hang_up().await;
                }
                Some(MediaEvent::Finished(t)) => {
                    if waiting_tag == Some(t) {
                        waiting_tag = None;
                        if let Some(f) = fl.as_mut() {
                            let _ = f.handle(crate::wall_clock(), FlowInput::PromptFinished);
                        }
                    }
                }
                Some(MediaEvent::Latched) => live.note(|l| l.nat = true),
                None => { caller_gone = Some("media stopped"); }
            },
            n = news.recv() => match n {
                Some(News::Offered { agent, expires_at }) => {
                    match voice.phone(org, agent) {
                        Some(uri) => {
                            let log = live.log.clone();
                            live.note(|l| l.state = "ringing_agent");
                            let ring = Duration::from_millis((expires_at.0 - crate::wall_clock().0).clamp(1000, 120_000) as u64);
                            let tx = dial_tx.clone();
                            let v = voice.clone();
                            let stop = CancellationToken::new();
                            let stopped = stop.clone();
                            tokio::spawn(async move {
                                let r = dial(&v, &uri, "switchboard", ring, log, stopped.clone()).await;
                                match r {
                                    // Answered just as it was called off.
                                    Ok(a) if stopped.is_cancelled() => a.leg.hang_up().await,
                                    r => {
                                        if let Err(mpsc::error::SendError((_, Ok(a)))) = tx.send((agent, r)) {
                                            a.leg.hang_up().await;
                                        }
                                    }
                                }
                            });
                            if let Some((_, old)) = dialing.replace((agent, stop)) {
                                old.cancel();
                            }
                        }
                        None if voice.uses_phone(org, agent) => {
                            // The agent's phone is gone: not ready; the engine re-offers.
                            live.note(|l| l.missed_by.push(agent.0));
                            let _ = live.apply(Input::SetPresence { agent, presence: not_ready() }, None).await;
                        }
                        None => {}
                    }
                }
                Some(News::OfferGone { agent }) if dialing.as_ref().is_some_and(|(a, _)| *a == agent) => {
                    if let Some((_, stop)) = dialing.take() {
                        stop.cancel();
                    }
                    live.note(|l| l.state = "queued");
                }
                Some(News::OfferGone { .. }) => {}
                Some(News::Answered { agent }) => {
                    live.answered = true;
                    live.note(|l| {
                        l.agent = Some(agent.0);
                        l.state = "connected";
                    });
                    if let Some(f) = fl.as_mut() {
                        let _ = f.handle(crate::wall_clock(), FlowInput::AgentConnected);
                    }
                    let _ = cmd.send(Command::Clear);
                    let _ = cmd.send(Command::Music(None));
                }
                Some(News::Hold(on)) => {
                    // The agent put the caller on hold from the desktop:
                    // music for the caller, silence for the agent.
                    if let Some((_, _, acmd, _)) = agent_leg.as_ref() {
                        if on {
                            let _ = cmd.send(Command::Bridge(None));
                            let _ = acmd.send(Command::Bridge(None));
                            let _ = cmd.send(Command::Music(Some(voice.prompts.get("hold-1"))));
                        } else {
                            let _ = cmd.send(Command::Music(None));
                            if let Some(a) = agent_sender.as_ref() {
                                let _ = cmd.send(Command::Bridge(Some(a.clone())));
                            }
                            let _ = acmd.send(Command::Bridge(Some(_me.clone())));
                        }
                    }
                    live.note(|l| l.agent_hold = on);
                }
                Some(News::Ended) if live.answered => {
                    agent_gone = true;
                    live.note(|l| l.outcome = Some("ended_by_agent".into()));
                    leg.hang_up().await;
                }
                // The service ended the contact before an answer (a
                // supervisor cleared it): the call ends too.
                Some(News::Ended) if live.contact.is_some() => {
                    live.forget();
                    live.contact = None;
                    live.note(|l| l.outcome = Some("ended_by_the_service".into()));
                    caller_gone = Some("ended by the service");
                }
                Some(News::Ended) => {}
                None => {}
            },
            d = dial_rx.recv() => if let Some((agent, r)) = d {
                // Only the phone being rung now counts; a result from an
                // earlier offer (or one called off) is put away.
                if dialing.as_ref().map(|(a, _)| *a) != Some(agent) {
                    if let Ok(a) = r {
                        a.leg.hang_up().await;
                    }
                    continue;
                }
                dialing = None;
                match r {
                    Ok(a) => {
                        let accepted = match live.contact {
                            Some(c) => live.apply(Input::Accept { agent, contact: c }, None).await.is_ok(),
                            None => false,
                        };
                        if accepted {
                            live.answered = true;
                            let _ = cmd.send(Command::Clear);
                            let _ = cmd.send(Command::Music(None));
                            let _ = cmd.send(Command::Bridge(Some(a.sender.clone())));
                            let _ = a.cmd.send(Command::Bridge(Some(_me.clone())));
                            agent_sender = Some(a.sender.clone());
                            live.note(|l| {
                                l.agent = Some(agent.0);
                                l.bridged = true;
                                l.state = "connected";
                            });
                            live.save();
                            if let Some(f) = fl.as_mut() {
                                let _ = f.handle(crate::wall_clock(), FlowInput::AgentConnected);
                            }
                            // A transfer: the new agent's phone took the
                            // call, so the last agent's phone is hung up.
                            if let Some((old, _, _, _)) = agent_leg.replace((a.leg, a.signals, a.cmd, agent)) {
                                old.hang_up().await;
                            }
                        } else {
                            a.leg.hang_up().await;
                        }
                    }
                    Err(e) if e == "cancelled" => {}
                    Err(_) => {
                        live.note(|l| {
                            l.missed_by.push(agent.0);
                            l.state = "queued";
                        });
                        // Resilience: the phone did not answer. Not ready; the
                        // engine takes the offer back and the caller keeps their place.
                        let _ = live.apply(Input::SetPresence { agent, presence: not_ready() }, None).await;
                    }
                }
            },
            s = async {
                match agent_leg.as_mut() {
                    Some((_, sig, _, _)) => sig.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if matches!(s, None | Some(Signal::Ended(_))) {
                    // The agent hung up their phone: the contact ends (the
                    // agent goes to wrap-up) and so does the caller's leg.
                    agent_gone = true;
                    if let Some(c) = live.contact {
                        let _ = live.apply(Input::End { contact: c }, None).await;
                    }
                    live.note(|l| l.outcome = Some("ended_by_agent".into()));
                    leg.hang_up().await;
                }
            }
            _ = position_tick.tick(), if live.contact.is_some() && !live.answered => {
                let c = live.contact.expect("checked");
                let pos = voice
                    .app
                    .read(org, move |t, _| t.engine.expected_wait(c))
                    .await
                    .ok()
                    .flatten();
                if let (Some((p, w)), Some(f)) = (pos, fl.as_mut()) {
                    if !announced_once {
                        // The first position is said on joining.
                        announced_once = true;
                        outputs.push(Output::Announce { position: p as u32, expected_wait: w });
                    }
                    let _ = f.handle(
                        crate::wall_clock(),
                        FlowInput::QueueUpdate { position: p as u32, expected_wait: w },
                    );
                } else if let (Some((p, _)), None, true) = (pos, fl.as_ref(), queued_without_flow) {
                    // No flow: announce once on joining.
                    queued_without_flow = false;
                    outputs.push(Output::Announce { position: p as u32, expected_wait: model::DurationMs(0) });
                }
            }
        }
    }
    // The end: tell the engine and the other leg.
    if let Some(f) = fl.as_mut() {
        if caller_gone.is_some() && !f.is_done() {
            let _ = f.handle(crate::wall_clock(), FlowInput::HangUp);
        }
    }
    if let Some((_, stop)) = dialing.take() {
        stop.cancel();
    }
    let in_queue = live.contact;
    let outcome = match (in_queue, live.answered, agent_gone) {
        (Some(c), true, false) => {
            let _ = live.apply(Input::End { contact: c }, None).await;
            "ended_by_caller"
        }
        (Some(_), true, true) => "ended_by_agent",
        (Some(c), false, _) => {
            let _ = live.apply(Input::Abandon { contact: c }, None).await;
            "abandoned_in_queue"
        }
        (None, _, _) => {
            if caller_gone == Some("ended by the service") {
                "ended_by_the_service"
            } else if caller_gone == Some("hung up") {
                "abandoned_in_ivr"
            } else {
                "completed"
            }
        }
    };
    live.note(|l| {
        l.state = "ended";
        if l.outcome.is_none()
            || matches!(
                l.outcome.as_deref(),
                Some("answered" | "abandoned_in_flow" | "abandoned_in_queue" | "completed")
            )
        {
            l.outcome = Some(outcome.to_string());
        }
    });
    if let Some((aleg, _, _, _)) = agent_leg.take() {
        aleg.hang_up().await;
    }
    // However the call ended, the caller's leg is over: BYE if it is still
    // up (the time limit, lost media, the service ending it), and its
    // dialog is removed.
    leg.hang_up().await;
    drop(cmd);
}

/// The attributes a call's contact carries: the flow's, less what is
/// patient data (kept in the directory, not on the contact), marked as a
/// call of this edge (so a restart knows which calls it dropped).
fn sip_attributes(
    attributes: BTreeMap<String, String>,
    private: &std::collections::HashSet<String>,
) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = attributes
        .into_iter()
        .filter(|(k, _)| k != "nhs_number" && !private.contains(k))
        .collect();
    v.push((super::VIA.0.to_string(), super::VIA.1.to_string()));
    v
}

fn not_ready() -> routing::Presence {
    routing::Presence::NotReady(routing::NotReadyReason::MissedOffer)
}

fn silence() -> Arc<[u8]> {
    Arc::from(vec![telephony::g711::ALAW_SILENCE; media::FRAME * 10])
}

fn key(
    fl: &mut Option<Flow>,
    live: &Live,
    cmd: &mpsc::UnboundedSender<Command>,
    k: char,
    bridged: bool,
) {
    if bridged {
        return;
    }
    let collecting = fl
        .as_ref()
        .is_some_and(|f| matches!(f.current_node(), Node::Collect { .. }));
    live.note(|l| l.keys.push(if collecting { '•' } else { k }));
    if let Some(f) = fl.as_mut() {
        let before = (f.flow_id().to_string(), f.node().to_string());
        let moved = f.handle(crate::wall_clock(), FlowInput::Key(k)).is_ok()
            && f.outcome() == flow::Outcome::InFlow
            && (f.flow_id(), f.node()) != (before.0.as_str(), before.1.as_str());
        if moved {
            // Barge-in: the key took the caller to another node, so what
            // was playing for the last one stops (its prompt-finished is
            // no longer awaited). A key the node ignores (a goodbye being
            // played) or keeps (digits being collected) stops nothing.
            let _ = cmd.send(Command::Clear);
        }
    }
}

/// An answered outbound leg with its media running.
struct Answered {
    leg: Leg,
    signals: mpsc::UnboundedReceiver<Signal>,
    cmd: mpsc::UnboundedSender<Command>,
    sender: Arc<media::Sender>,
}

/// Rings `to` with an offer from a fresh RTP port; media latches onto the
/// phone's real address if it is behind NAT (noted in `log`).
async fn dial(
    voice: &Voice,
    to: &Phone,
    from: &str,
    ring: Duration,
    log: Arc<Mutex<CallLog>>,
    stop: CancellationToken,
) -> Result<Answered, String> {
    let port = media::Port::bind(voice.edge().local.ip())
        .await
        .map_err(|e| e.to_string())?;
    let local = sdp::Local {
        address: port.local,
        session_id: session_id(),
        version: 1,
    };
    let (leg, answer, signals) = voice
        .edge()
        .dial(&to.uri, from, sdp::offer(&local), ring, to.via, stop)
        .await?;
    let remote = match sdp::parse(&answer) {
        Ok(a) if a.codec.is_some() => a,
        _ => {
            leg.hang_up().await;
            return Err("the answer has no G.711 stream".into());
        }
    };
    let codec = remote.codec.expect("checked");
    let latch = to
        .via
        .map(|a| a.ip())
        .filter(|ip| *ip != remote.address.ip());
    let (cmd, mut events, sender) =
        port.start(remote.address, codec, remote.telephone_event, ssrc(), latch);
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if let MediaEvent::Latched = e {
                lock(&log).nat = true;
            }
        }
    });
    Ok(Answered {
        leg,
        signals,
        cmd,
        sender,
    })
}

/// A callback reached an agent: ring the agent's phone, then the caller,
/// and bridge them.
pub(crate) async fn ring_back(
    voice: Arc<Voice>,
    org: OrgId,
    contact: ContactId,
    agent: AgentId,
    expires_at: Timestamp,
    caller_uri: String,
    log_id: u64,
) {
    let Some(phone) = voice.phone(org, agent) else {
        if voice.uses_phone(org, agent) {
            let _ = voice
                .app
                .apply(
                    org,
                    Input::SetPresence {
                        agent,
                        presence: not_ready(),
                    },
                    None,
                )
                .await;
        }
        return;
    };
    let log = voice.log(CallLog {
        id: voice.new_id(),
        org: org.0,
        dialled: format!("callback for call {log_id}"),
        direction: "outbound",
        contact: Some(contact.0),
        state: "ringing_agent",
        ..CallLog::default()
    });
    let note = |f: &dyn Fn(&mut CallLog)| f(&mut lock(&log));
    // However it ends, the record is kept.
    struct Keep(Arc<Voice>, Arc<Mutex<CallLog>>);
    impl Drop for Keep {
        fn drop(&mut self) {
            self.0.persist(&self.1);
        }
    }
    let _keep = Keep(voice.clone(), log.clone());
    let ring =
        Duration::from_millis((expires_at.0 - crate::wall_clock().0).clamp(1000, 120_000) as u64);
    let a = match dial(
        &voice,
        &phone,
        "switchboard",
        ring,
        log.clone(),
        CancellationToken::new(),
    )
    .await
    {
        Ok(a) => a,
        Err(_) => {
            note(&|l| {
                l.missed_by.push(agent.0);
                l.state = "ended";
                l.outcome = Some("agent_did_not_answer".into());
            });
            let _ = voice
                .app
                .apply(
                    org,
                    Input::SetPresence {
                        agent,
                        presence: not_ready(),
                    },
                    None,
                )
                .await;
            return;
        }
    };
    if voice
        .app
        .apply(org, Input::Accept { agent, contact }, None)
        .await
        .is_err()
    {
        a.leg.hang_up().await;
        return;
    }
    lock(&voice.callbacks).remove(&(org, contact));
    note(&|l| {
        l.agent = Some(agent.0);
        l.state = "ringing_caller";
    });
    let _ = a.cmd.send(Command::Play {
        clip: voice.prompts.get("sys-callback-hello"),
        tag: None,
    });
    let home = Phone {
        uri: caller_uri,
        via: None,
    };
    let c = match dial(
        &voice,
        &home,
        "switchboard",
        Duration::from_secs(45),
        log.clone(),
        CancellationToken::new(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            note(&|l| {
                l.state = "ended";
                l.outcome = Some(format!("caller_did_not_answer: {e}"));
            });
            let _ = voice.app.apply(org, Input::End { contact }, None).await;
            a.leg.hang_up().await;
            return;
        }
    };
    let _ = a.cmd.send(Command::Bridge(Some(c.sender.clone())));
    let _ = c.cmd.send(Command::Bridge(Some(a.sender.clone())));
    note(&|l| {
        l.bridged = true;
        l.state = "connected";
    });
    let Answered {
        leg: aleg,
        signals: mut asig,
        ..
    } = a;
    let Answered {
        leg: cleg,
        signals: mut csig,
        ..
    } = c;
    let by = tokio::select! {
        _ = async { while !matches!(asig.recv().await, None | Some(Signal::Ended(_))) {} } => "ended_by_agent",
        _ = async { while !matches!(csig.recv().await, None | Some(Signal::Ended(_))) {} } => "ended_by_caller",
        _ = tokio::time::sleep(MAX_CALL) => "too long",
    };
    let _ = voice.app.apply(org, Input::End { contact }, None).await;
    aleg.hang_up().await;
    cleg.hang_up().await;
    note(&|l| {
        l.state = "ended";
        l.outcome = Some(by.into());
    });
}
