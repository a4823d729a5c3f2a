//! One call's I/O: answering, media, the agents' phones and the engine,
//! around the pure call control of `callctl` (which decides); and ringing
//! a caller back when their callback reaches an agent.

use super::legs::{agent_leg_ends, dial_phone, leg_ends, session_id, start_media, Answered};
use super::media::{self, Command, Event as MediaEvent};
use super::sip::{Inbound, Leg, Signal};
use super::{lock, CallLog, News, Phone, Voice};
use callctl::{
    Clip, Conversation, DialError, DialId, EngineRequest, Input as CallInput, Output, PhoneState,
    QueueRef, Setup, VoiceCall,
};
use flow::{Call as Flow, Node};
use model::{AgentId, Channel, ContactId, OrgId, Timestamp};
use routing::{Input, NewContact};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use telephony::sdp;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Longest a ring-back call lasts.
const MAX_CALL: Duration = Duration::from_millis(callctl::MAX_CALL_MS as u64);

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

/// A number the caller called from, if it is a phone number.
fn caller_number(user: &str) -> Option<model::PhoneNumber> {
    model::PhoneNumber::parse(user).ok()
}

/// What one inbound call holds of the outside world while `callctl`
/// decides: the caller's leg and media, the agents' phones being rung or
/// answered, the route of the engine's news.
struct Edge {
    voice: Arc<Voice>,
    org: OrgId,
    /// The queue of the service the number belongs to.
    service_queue: model::QueueId,
    log: Arc<Mutex<CallLog>>,
    who: Option<store::CallerIdentity>,
    leg: Leg,
    cmd: mpsc::UnboundedSender<Command>,
    me: Arc<media::Sender>,
    news: mpsc::UnboundedSender<News>,
    /// The contact whose news come to this call.
    contact: Option<ContactId>,
    /// Phones offered, to be rung (by agent).
    phones: HashMap<AgentId, Phone>,
    /// Phones being rung, and how to stop each.
    ringing: HashMap<DialId, CancellationToken>,
    /// Phones that answered (bridged, or waiting to be accepted or let go).
    legs: HashMap<DialId, Answered>,
    bridged: Option<DialId>,
    dialled: mpsc::UnboundedSender<(DialId, Result<Answered, String>)>,
    /// The service's recording rule.
    recording: Option<app::services::RecordingRule>,
    /// The recording in progress.
    recorder: Option<crate::record::Recorder>,
    /// The desktop's recording request waiting for the call's answer.
    recording_reply: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
}

impl Drop for Edge {
    fn drop(&mut self) {
        if let Some(c) = self.contact.take() {
            lock(&self.voice.calls).remove(&(self.org, c));
        }
        for (_, stop) in self.ringing.drain() {
            stop.cancel();
        }
    }
}

impl Edge {
    fn note(&self, f: impl FnOnce(&mut CallLog)) {
        f(&mut lock(&self.log));
    }

    async fn apply(&self, input: Input, who: Option<store::CallerIdentity>) -> Result<(), String> {
        self.voice
            .app
            .apply(self.org, input, who)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn play(&self, clip: Arc<[u8]>, tag: Option<u64>) {
        let _ = self.cmd.send(Command::Play { clip, tag });
    }

    /// Carries out one command of the call; a question's answer comes back.
    async fn carry_out(&mut self, o: Output) -> Option<CallInput> {
        let voice = self.voice.clone();
        match o {
            Output::Play { clip, tag } => match clip {
                Clip::Prompt(p) => self.play(voice.prompts.get(&p), tag),
                Clip::Silence => self.play(silence(), tag),
                Clip::Position(n) => {
                    for clip in voice.prompts.position(n) {
                        self.play(clip, None);
                    }
                }
            },
            Output::Clear => {
                let _ = self.cmd.send(Command::Clear);
            }
            Output::Music(m) => {
                let _ = self
                    .cmd
                    .send(Command::Music(m.map(|name| voice.prompts.get(&name))));
            }
            Output::Dial { dial, agent, ring } => match self.phones.remove(&agent) {
                Some(phone) => self.dial(dial, phone, ring),
                None => {
                    return Some(CallInput::Dialled {
                        dial,
                        result: Err(DialError::Failed("no phone".into())),
                    })
                }
            },
            Output::StopDialing { dial } => {
                if let Some(stop) = self.ringing.remove(&dial) {
                    stop.cancel();
                }
            }
            Output::Bridge { dial } => {
                if let Some(a) = self.legs.get(&dial) {
                    let _ = self.cmd.send(Command::Bridge(Some(a.sender.clone())));
                    let _ = a.cmd.send(Command::Bridge(Some(self.me.clone())));
                    // A recording goes on with the new agent's phone.
                    if let Some(r) = &self.recorder {
                        let _ = a.cmd.send(Command::Tap(Some(r.agent_tap())));
                    }
                    self.bridged = Some(dial);
                }
            }
            Output::Record(action) => {
                let done = self.record(action).await;
                if let Some(reply) = self.recording_reply.take() {
                    let _ = reply.send(done.clone());
                }
                if let Err(e) = done {
                    tracing::error!("call recording: {e}");
                    self.note(|l| l.recording_error = Some(e));
                    return Some(CallInput::RecordingFailed);
                }
            }
            Output::RecordingRefused(why) => {
                if let Some(reply) = self.recording_reply.take() {
                    let _ = reply.send(Err(why.to_string()));
                }
            }
            Output::Unbridge { dial } => {
                if let Some(a) = self.legs.get(&dial) {
                    let _ = self.cmd.send(Command::Bridge(None));
                    let _ = a.cmd.send(Command::Bridge(None));
                }
            }
            Output::HangUpAgent { dial } => {
                if self.bridged == Some(dial) {
                    self.bridged = None;
                }
                if let Some(a) = self.legs.remove(&dial) {
                    a.leg.hang_up().await;
                }
            }
            Output::HangUpCaller => self.leg.hang_up().await,
            Output::Save => voice.write(&lock(&self.log)),
            Output::Done => {}
            Output::Engine(r) => return self.engine(r).await,
        }
        None
    }

    /// Starts, pauses, resumes or stops the recording, as the call said.
    async fn record(&mut self, action: callctl::RecordingAction) -> Result<(), String> {
        use callctl::RecordingAction as A;
        match action {
            A::Start => {
                let days = self.recording.map_or(1.0, |r| r.retention_days);
                let agent = lock(&self.log).agent.map(AgentId);
                let r =
                    crate::record::start(&self.voice, self.org, self.contact, agent, days).await?;
                let _ = self.cmd.send(Command::Tap(Some(r.caller_tap())));
                if let Some(a) = self.bridged.and_then(|d| self.legs.get(&d)) {
                    let _ = a.cmd.send(Command::Tap(Some(r.agent_tap())));
                }
                let id = r.id;
                self.note(|l| l.recordings.push(id));
                self.recorder = Some(r);
            }
            A::Pause | A::Resume => {
                if let Some(r) = &self.recorder {
                    r.pause(action == A::Pause);
                }
            }
            A::Stop => {
                let _ = self.cmd.send(Command::Tap(None));
                for a in self.legs.values() {
                    let _ = a.cmd.send(Command::Tap(None));
                }
                self.recorder = None;
            }
        }
        Ok(())
    }

    async fn engine(&mut self, r: EngineRequest) -> Option<CallInput> {
        let org = self.org;
        let voice = self.voice.clone();
        match r {
            EngineRequest::Join {
                queue,
                priority,
                attributes,
            } => {
                let q = match &queue {
                    QueueRef::Service => Some(self.service_queue),
                    QueueRef::Named(name) => voice.app.queue_named(org, name).await,
                };
                let Some(q) = q else {
                    let name = match queue {
                        QueueRef::Named(n) => n,
                        QueueRef::Service => String::new(),
                    };
                    return Some(CallInput::Joined(Err(format!("no queue named {name}"))));
                };
                let id = voice.app.ids.next();
                let mut nc = NewContact::new(id, q, Channel::Voice);
                nc.priority = priority;
                nc.attributes = attributes;
                // A real call: offered only to agents whose phone is
                // connected (a simulated or desk-only agent has no audio).
                nc.needs_endpoint = true;
                // The route first, so no news of the new contact is lost.
                lock(&voice.calls).insert((org, id), self.news.clone());
                match self.apply(Input::Arrive(nc), self.who.clone()).await {
                    Ok(()) => {
                        self.contact = Some(id);
                        Some(CallInput::Joined(Ok(id)))
                    }
                    Err(e) => {
                        lock(&voice.calls).remove(&(org, id));
                        Some(CallInput::Joined(Err(e)))
                    }
                }
            }
            EngineRequest::BookCallback { contact, to } => {
                let log_id = lock(&self.log).id;
                lock(&voice.callbacks).insert((org, contact), (to, log_id));
                let ok = self
                    .apply(Input::RequestCallback { contact }, None)
                    .await
                    .is_ok();
                if !ok {
                    lock(&voice.callbacks).remove(&(org, contact));
                }
                Some(CallInput::CallbackBooked(ok))
            }
            EngineRequest::Accept {
                dial,
                agent,
                contact,
            } => {
                let ok = self
                    .apply(Input::Accept { agent, contact }, None)
                    .await
                    .is_ok();
                Some(CallInput::Accepted { dial, ok })
            }
            EngineRequest::ReadPosition { contact } => {
                let pos = voice
                    .app
                    .read(org, move |t, _| t.engine.expected_wait(contact))
                    .await
                    .ok()
                    .flatten()
                    .map(|(p, w)| (u32::try_from(p).unwrap_or(u32::MAX), w));
                Some(CallInput::Position(pos))
            }
            EngineRequest::NotReady { agent } => {
                let _ = self
                    .apply(
                        Input::SetPresence {
                            agent,
                            presence: not_ready(),
                        },
                        None,
                    )
                    .await;
                None
            }
            EngineRequest::End { contact } => {
                let _ = self.apply(Input::End { contact }, None).await;
                None
            }
            EngineRequest::Abandon { contact } => {
                let _ = self.apply(Input::Abandon { contact }, None).await;
                None
            }
            EngineRequest::Forget { contact } => {
                lock(&voice.calls).remove(&(org, contact));
                if self.contact == Some(contact) {
                    self.contact = None;
                }
                None
            }
        }
    }

    /// Rings an agent's phone; its answer (or not) comes back on `dialled`.
    fn dial(&mut self, dial: DialId, phone: Phone, ring: model::DurationMs) {
        let stop = CancellationToken::new();
        self.ringing.insert(dial, stop.clone());
        let tx = self.dialled.clone();
        let v = self.voice.clone();
        let log = self.log.clone();
        let contact = self.contact;
        let ring = Duration::from_millis(ring.as_ms().max(0) as u64);
        tokio::spawn(async move {
            let r = dial_phone(&v, &phone, contact, "switchboard", ring, log, stop.clone()).await;
            match r {
                // Answered just as it was called off.
                Ok(a) if stop.is_cancelled() => a.leg.hang_up().await,
                r => {
                    if let Err(mpsc::error::SendError((_, Ok(a)))) = tx.send((dial, r)) {
                        a.leg.hang_up().await;
                    }
                }
            }
        });
    }

    /// The call's journal, as the call journal shows it.
    fn sync(&self, j: &callctl::Journal) {
        self.note(|l| {
            l.contact = j.contact.map(|c| c.0);
            l.path.clone_from(&j.path);
            l.keys.clone_from(&j.keys);
            l.announced.clone_from(&j.announced);
            l.callback_requested = j.callback_requested;
            l.agent = j.agent.map(|a| a.0);
            l.missed_by = j.missed_by.iter().map(|a| a.0).collect();
            l.bridged = j.bridged;
            l.state = j.stage.as_str();
            if j.outcome.is_some() {
                l.outcome.clone_from(&j.outcome);
            }
            l.held = j.held;
            l.agent_hold = j.agent_hold;
            // An agent's phone behind NAT is noted by its own media task.
            l.nat |= j.nat;
            if j.ended.is_some() {
                l.ended = j.ended;
            }
            l.recording = j.recording.as_str();
        });
    }
}

/// What woke the call up.
enum Wake {
    Timer,
    Caller(Option<Signal>),
    Media(Option<MediaEvent>),
    News(Option<News>),
    Dialled(Option<(DialId, Result<Answered, String>)>),
    AgentLeg(DialId),
}

/// An inbound call from start to end.
pub(crate) async fn inbound(voice: Arc<Voice>, call: Inbound) {
    voice
        .live
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Until the call is answered, only the counter is to undo.
    struct Counted(Arc<Voice>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0
                .live
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let _counted = Counted(voice.clone());
    let Inbound {
        source,
        dialled,
        from_user,
        caller_contact,
        sdp: offer,
        leg,
        mut signals,
    } = call;
    // Where does this number go?
    let number = app::services::canonical(app::services::Kind::Phone, &dialled);
    let found = match number {
        Ok(n) => voice
            .app
            .with_directory(move |d| d.service_at("phone", &n).ok().flatten())
            .await
            .flatten(),
        Err(_) => None,
    };
    let Some((org, _service, def_text)) = found else {
        leg.reject(404);
        return;
    };
    let Some(def) = app::services::ServiceDef::parse(&def_text) else {
        leg.reject(500);
        return;
    };
    voice.watch(org);
    let call_id = voice.new_id();
    let span = tracing::Span::current();
    span.record("org", org.0);
    span.record("call", call_id);
    let log = voice.log(CallLog {
        id: call_id,
        org: org.0,
        dialled: dialled.clone(),
        direction: "inbound",
        flow: def.flow().map(str::to_string),
        state: "in_ivr",
        ..CallLog::default()
    });
    // However the call ends from here, its record is kept.
    struct Keep(Arc<Voice>, Arc<Mutex<CallLog>>);
    impl Drop for Keep {
        fn drop(&mut self) {
            self.0.persist(&self.1);
        }
    }
    let _keep = Keep(voice.clone(), log.clone());
    let refuse = |why: String| {
        let mut l = lock(&log);
        l.state = "ended";
        l.outcome = Some(format!("refused: {why}"));
    };
    // Offer/answer.
    let remote = match sdp::parse(&offer) {
        Ok(a) => a,
        Err(e) => {
            refuse(e.to_string());
            leg.reject(if offer.is_empty() { 488 } else { 400 });
            return;
        }
    };
    let Some(codec) = remote.codec else {
        refuse("no common codec".into());
        leg.reject(488);
        return;
    };
    let port = match media::Port::bind(voice.edge().local.ip()).await {
        Ok(p) => p,
        Err(e) => {
            refuse(format!("no media port: {e}"));
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
        refuse("no usable answer".into());
        leg.reject(488);
        return;
    };
    leg.ring();
    leg.answer(answer);
    // Behind NAT the caller's RTP comes from where their signalling did.
    let (cmd, mut events, me) = start_media(&voice, port, &remote, codec, source);
    lock(&log).codec = Some(codec.name());
    let now = app::wall_clock();
    let mut attributes = BTreeMap::new();
    attributes.insert("number_called".to_string(), dialled.clone());
    let flow = def
        .flow()
        .and_then(|id| Flow::start(voice.book.clone(), id, attributes, now).ok());
    let who = caller_number(&from_user).map(|p| store::CallerIdentity {
        phone: Some(p),
        nhs_number: None,
    });
    // A callback rings through the trunk at the caller's number, else at
    // the address their phone called from.
    let callback_to = match (voice.trunk, &who) {
        (Some(t), Some(w)) => w.phone.as_ref().map(|p| format!("sip:{}@{t}", p.expose())),
        _ => None,
    }
    .or_else(|| caller_contact.clone());
    let open = flow.is_some() || app::services::ServiceDef::open_now(&def);
    let mut call = VoiceCall::start(
        now,
        Setup {
            flow,
            open,
            callback_to,
            private: voice.private.clone(),
            recording: match def.recording.map(|r| r.policy) {
                Some(app::services::RecordingPolicy::Always) => callctl::RecordingPolicy::Always,
                Some(app::services::RecordingPolicy::OnDemand) => {
                    callctl::RecordingPolicy::OnDemand
                }
                _ => callctl::RecordingPolicy::Never,
            },
        },
    );
    let (news_tx, mut news) = mpsc::unbounded_channel::<News>();
    let (dial_tx, mut dial_rx) = mpsc::unbounded_channel();
    let mut edge = Edge {
        voice: voice.clone(),
        org,
        service_queue: def.queue(),
        log,
        who,
        leg,
        cmd,
        me,
        news: news_tx,
        contact: None,
        phones: HashMap::new(),
        ringing: HashMap::new(),
        legs: HashMap::new(),
        bridged: None,
        dialled: dial_tx,
        recording: def.recording,
        recorder: None,
        recording_reply: None,
    };
    loop {
        // Carry out what the call asked for; a question is answered
        // before anything else is read.
        while let Some(o) = call.poll_output() {
            if matches!(o, Output::Save | Output::Record(_)) {
                edge.sync(call.journal());
            }
            if let Some(answer) = edge.carry_out(o).await {
                call.handle(app::wall_clock(), answer);
            }
        }
        edge.sync(call.journal());
        if call.is_done() {
            break;
        }
        let sleep_for = call
            .poll_timeout()
            .map(|t| Duration::from_millis((t.0 - app::wall_clock().0).max(0) as u64))
            .unwrap_or(Duration::from_secs(3600));
        let bridged = edge.bridged;
        let wake = tokio::select! {
            _ = tokio::time::sleep(sleep_for) => Wake::Timer,
            s = signals.recv() => Wake::Caller(s),
            e = events.recv() => Wake::Media(e),
            n = news.recv() => Wake::News(n),
            d = dial_rx.recv() => Wake::Dialled(d),
            d = agent_leg_ends(&mut edge.legs, bridged) => Wake::AgentLeg(d),
        };
        let now = app::wall_clock();
        let input = match wake {
            Wake::Timer => {
                call.handle_timeout(now);
                continue;
            }
            Wake::Caller(None) => CallInput::CallerHungUp(None),
            Wake::Caller(Some(s)) => match s {
                Signal::Ended(why) => CallInput::CallerHungUp(Some(why)),
                Signal::Key(k) => CallInput::Key(k),
                Signal::Hold(h) => {
                    let _ = edge.cmd.send(Command::Held(h));
                    CallInput::CallerHold(h)
                }
                Signal::Confirmed => continue,
            },
            Wake::Media(None) => CallInput::MediaStopped,
            Wake::Media(Some(e)) => match e {
                MediaEvent::Key(k) => CallInput::Key(k),
                MediaEvent::Finished(t) => CallInput::PlayFinished(t),
                MediaEvent::Latched => CallInput::MediaLatched,
                // The caller's phone went away without a BYE.
                MediaEvent::Silent => CallInput::CallerHungUp(Some("media timeout")),
            },
            Wake::News(None) => continue,
            Wake::News(Some(n)) => match n {
                News::Offered { agent, expires_at } => {
                    let phone = match voice.phone(org, agent) {
                        Some(p) => {
                            edge.phones.insert(agent, p);
                            PhoneState::Registered
                        }
                        None if voice.uses_phone(org, agent) => PhoneState::Gone,
                        None => PhoneState::Desk,
                    };
                    CallInput::Offered {
                        agent,
                        expires_at,
                        phone,
                    }
                }
                News::OfferGone { agent } => CallInput::OfferGone { agent },
                News::Hold(on) => CallInput::AgentHold(on),
                News::Answered { agent } => CallInput::AnsweredAtDesk { agent },
                News::Ended => CallInput::ContactEnded,
                News::Recording(action, reply) => {
                    edge.recording_reply = Some(reply);
                    CallInput::Recording(action)
                }
            },
            Wake::Dialled(None) => continue,
            Wake::Dialled(Some((dial, r))) => {
                edge.ringing.remove(&dial);
                let result = match r {
                    Ok(a) => {
                        edge.legs.insert(dial, a);
                        Ok(())
                    }
                    Err(e) if e == "cancelled" => Err(DialError::Cancelled),
                    Err(e) => Err(DialError::Failed(e)),
                };
                CallInput::Dialled { dial, result }
            }
            Wake::AgentLeg(dial) => CallInput::AgentHungUp { dial },
        };
        call.handle(now, input);
    }
    {
        let j = call.journal();
        tracing::info!(
            outcome = j.outcome.as_deref().unwrap_or("-"),
            contact = j.contact.map(|c| c.0),
            "call ended"
        );
        voice
            .app
            .metrics
            .sip_call(&how_it_ended(j.outcome.as_deref()));
    }
    // Phones answered but never bridged, or still ringing, are let go.
    for (_, a) in edge.legs.drain() {
        a.leg.hang_up().await;
    }
}

fn not_ready() -> routing::Presence {
    routing::Presence::NotReady(routing::NotReadyReason::MissedOffer)
}

fn silence() -> Arc<[u8]> {
    Arc::from(vec![telephony::g711::ALAW_SILENCE; media::FRAME * 10])
}

/// A callback reached an agent: ring the agent's phone, then the caller,
/// and bridge them (`callctl::RingBack` decides; this moves the I/O).
pub(crate) async fn ring_back(
    voice: Arc<Voice>,
    org: OrgId,
    contact: ContactId,
    agent: AgentId,
    expires_at: Timestamp,
    caller_uri: String,
    log_id: u64,
) {
    use callctl::ringback::{AGENT, CALLER};
    use callctl::{RingBack, RingBackInput as I, RingBackOutput as O};
    let agent_phone = voice.phone(org, agent);
    let state = match &agent_phone {
        Some(_) => PhoneState::Registered,
        None if voice.uses_phone(org, agent) => PhoneState::Gone,
        None => PhoneState::Desk,
    };
    let mut call = RingBack::start(app::wall_clock(), contact, agent, expires_at, state);
    let log = (state != PhoneState::Desk).then(|| {
        voice.log(CallLog {
            id: voice.new_id(),
            org: org.0,
            dialled: format!("callback for call {log_id}"),
            direction: "outbound",
            contact: Some(contact.0),
            state: "ringing_agent",
            ..CallLog::default()
        })
    });
    // However it ends, the record is kept.
    struct Keep(Arc<Voice>, Option<Arc<Mutex<CallLog>>>);
    impl Drop for Keep {
        fn drop(&mut self) {
            if let Some(l) = &self.1 {
                self.0.persist(l);
            }
        }
    }
    let _keep = Keep(voice.clone(), log.clone());
    let Some(log) = log else { return };
    let sync = |j: &callctl::Journal| {
        let mut l = lock(&log);
        l.agent = j.agent.map(|a| a.0);
        l.missed_by = j.missed_by.iter().map(|a| a.0).collect();
        l.bridged = j.bridged;
        l.state = j.stage.as_str();
        l.outcome.clone_from(&j.outcome);
    };
    let mut phones = [
        agent_phone,
        Some(Phone::Sip {
            uri: caller_uri,
            via: None,
        }),
    ];
    let mut legs: [Option<Answered>; 2] = [None, None];
    let mut ringing: [Option<CancellationToken>; 2] = [None, None];
    let (dial_tx, mut dial_rx) = mpsc::unbounded_channel::<(DialId, Result<Answered, String>)>();
    let ix = |d: DialId| usize::from(d == CALLER);
    loop {
        while let Some(o) = call.poll_output() {
            match o {
                O::Dial { dial, ring } => {
                    let i = ix(dial);
                    let Some(phone) = phones[i].take() else {
                        call.handle(
                            app::wall_clock(),
                            I::Dialled {
                                dial,
                                result: Err(DialError::Failed("no phone".into())),
                            },
                        );
                        continue;
                    };
                    let stop = CancellationToken::new();
                    ringing[i] = Some(stop.clone());
                    let (v, tx, log) = (voice.clone(), dial_tx.clone(), log.clone());
                    let ring = Duration::from_millis(ring.as_ms().max(0) as u64);
                    tokio::spawn(async move {
                        let r = dial_phone(
                            &v,
                            &phone,
                            Some(contact),
                            "switchboard",
                            ring,
                            log,
                            stop.clone(),
                        )
                        .await;
                        match r {
                            Ok(a) if stop.is_cancelled() => a.leg.hang_up().await,
                            r => {
                                if let Err(mpsc::error::SendError((_, Ok(a)))) = tx.send((dial, r))
                                {
                                    a.leg.hang_up().await;
                                }
                            }
                        }
                    });
                }
                O::StopDialing { dial } => {
                    if let Some(stop) = ringing[ix(dial)].take() {
                        stop.cancel();
                    }
                }
                O::Play { dial, clip } => {
                    if let (Some(a), Clip::Prompt(p)) = (&legs[ix(dial)], clip) {
                        let _ = a.cmd.send(Command::Play {
                            clip: voice.prompts.get(&p),
                            tag: None,
                        });
                    }
                }
                O::Bridge => {
                    if let [Some(a), Some(c)] = &legs {
                        let _ = a.cmd.send(Command::Bridge(Some(c.sender.clone())));
                        let _ = c.cmd.send(Command::Bridge(Some(a.sender.clone())));
                    }
                }
                O::HangUp { dial } => {
                    if let Some(a) = legs[ix(dial)].take() {
                        a.leg.hang_up().await;
                    }
                }
                O::Taken => {
                    lock(&voice.callbacks).remove(&(org, contact));
                }
                O::Engine(r) => {
                    let input = match r {
                        EngineRequest::Accept { agent, contact, .. } => {
                            Input::Accept { agent, contact }
                        }
                        EngineRequest::NotReady { agent } => Input::SetPresence {
                            agent,
                            presence: not_ready(),
                        },
                        EngineRequest::End { contact } => Input::End { contact },
                        _ => continue,
                    };
                    let accept = matches!(input, Input::Accept { .. });
                    let ok = voice.app.apply(org, input, None).await.is_ok();
                    if accept {
                        call.handle(app::wall_clock(), I::Accepted { ok });
                    }
                }
                O::Save => {
                    sync(call.journal());
                    voice.write(&lock(&log));
                }
                O::Done => {}
            }
        }
        sync(call.journal());
        if call.is_done() {
            break;
        }
        let sleep_for = call
            .poll_timeout()
            .map(|t| Duration::from_millis((t.0 - app::wall_clock().0).max(0) as u64))
            .unwrap_or(MAX_CALL);
        let [a, c] = &mut legs;
        let input = tokio::select! {
            _ = tokio::time::sleep(sleep_for) => None,
            d = dial_rx.recv() => match d {
                Some((dial, r)) => {
                    ringing[ix(dial)] = None;
                    let result = match r {
                        Ok(x) => {
                            legs[ix(dial)] = Some(x);
                            Ok(())
                        }
                        Err(e) if e == "cancelled" => Err(DialError::Cancelled),
                        Err(e) => Err(DialError::Failed(e)),
                    };
                    Some(I::Dialled { dial, result })
                }
                None => None,
            },
            _ = leg_ends(a.as_mut()) => Some(I::HungUp { dial: AGENT }),
            _ = leg_ends(c.as_mut()) => Some(I::HungUp { dial: CALLER }),
        };
        match input {
            Some(i) => call.handle(app::wall_clock(), i),
            None => call.handle_timeout(app::wall_clock()),
        }
    }
    tracing::info!(
        outcome = call.journal().outcome.as_deref().unwrap_or("-"),
        "callback ended"
    );
    voice.app.metrics.sip_call(&format!(
        "callback {}",
        how_it_ended(call.journal().outcome.as_deref())
    ));
    for a in legs.into_iter().flatten() {
        a.leg.hang_up().await;
    }
}

/// How a call ended, in a word or two for the metrics (the journal's
/// outcome up to its first colon: `refused: …` is `refused`).
fn how_it_ended(outcome: Option<&str>) -> String {
    let o = outcome.unwrap_or("unknown");
    o.split(':')
        .next()
        .unwrap_or(o)
        .trim()
        .chars()
        .take(40)
        .collect()
}
