//! The voice edge: real phone calls. A caller's INVITE is matched to a
//! service by the number dialled, answered, and run through the service's
//! call flow (the same pure interpreter the simulator uses); in the queue
//! the caller hears position announcements and music, may press a key for
//! a callback that keeps their place, and is bridged to the registered
//! SIP phone of the agent the routing engine chose. Agents' phones
//! register with digest authentication against their accounts.
//!
//! Layout: `sip` (signalling over rsipstack), `media` (RTP), `prompts`
//! (audio), `call` (one call's journey), this file (registrar, the
//! engine's news to calls, the call journal).

#[doc(hidden)]
pub mod bench;
mod call;
mod legs;
mod line;
mod media;
mod prompts;
mod record;
mod sip;

pub use line::{LineStatus, PhoneError, MAX_OFFER};

use app::App;
use model::{AgentId, ContactId, OrgId, Timestamp};
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::mpsc;

/// Why a recording request was not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingError {
    /// No live phone call is this contact.
    NoCall,
    /// The call refused, and why.
    Refused(String),
}

/// The attribute that marks a contact as a call of the SIP edge.
pub(crate) const VIA: (&str, &str) = ("via", "sip");

/// The digest realm phones register in.
pub const REALM: &str = app::auth::SIP_REALM;
/// Longest registration granted, and the shortest accepted (s).
const MAX_EXPIRES: u32 = 3600;
const MIN_EXPIRES: u32 = 30;
/// Calls kept in the journal.
pub const JOURNAL: usize = 2000;
/// Most calls at once; more are refused with 503.
pub const MAX_CALLS: usize = 2000;

pub struct VoiceOptions {
    /// Where SIP listens (UDP and TCP).
    pub listen: SocketAddr,
    /// Where spoken prompts are kept (made on first use).
    pub prompts: PathBuf,
    /// Call flows services may name.
    pub flows: Vec<flow::Flow>,
    /// Refuse to start the server if the edge cannot start (else a warning).
    pub required: bool,
    /// Where outbound calls to numbers go (a trunk or PBX): a callback
    /// rings `sip:NUMBER@trunk`. None: the caller's own Contact address.
    pub trunk: Option<SocketAddr>,
    /// How long a leg may send no RTP before it is taken as gone.
    pub media_timeout: std::time::Duration,
    /// Where sealed call recordings are kept.
    pub recordings: PathBuf,
}

/// A registered phone.
#[derive(Clone, Debug)]
struct Binding {
    uri: String,
    /// Where to send its INVITEs if not to the Contact (behind NAT: the
    /// public address its REGISTER came from).
    via: Option<SocketAddr>,
    until: std::time::Instant,
}

/// A phone to ring: a registered SIP phone (its URI, and where to send
/// to if the URI's own address is not reachable: NAT), or an agent's
/// browser phone.
#[derive(Clone)]
pub(crate) enum Phone {
    Sip {
        uri: String,
        via: Option<SocketAddr>,
    },
    Browser(Arc<line::Line>),
}

/// What the engine tells a call.
#[derive(Debug)]
pub(crate) enum News {
    Offered {
        agent: AgentId,
        expires_at: Timestamp,
    },
    OfferGone {
        agent: AgentId,
    },
    /// The agent put the call on hold (true) or took it off (false).
    Hold(bool),
    Answered {
        agent: AgentId,
    },
    Ended,
    /// The agent's desktop asks this of the call's recording.
    Recording(
        callctl::RecordingAction,
        tokio::sync::oneshot::Sender<Result<(), String>>,
    ),
}

/// One call as the journal shows it (no patient data: collected digits
/// are masked).
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct CallLog {
    pub id: u64,
    pub org: u32,
    /// When the call came or was placed, and when it ended (RFC 3339).
    pub started_at: String,
    pub ended_at: Option<String>,
    #[serde(skip)]
    pub persisted: bool,
    /// Which run of the server carried it (a record of an earlier run that
    /// never finished was cut off by the server stopping).
    pub run: u64,
    pub dialled: String,
    pub direction: &'static str,
    pub contact: Option<u64>,
    pub flow: Option<String>,
    /// Nodes entered, in order.
    pub path: Vec<String>,
    /// Keys received (digits collected for an attribute show as '•').
    pub keys: String,
    /// Queue positions announced.
    pub announced: Vec<u32>,
    pub callback_requested: bool,
    pub agent: Option<u32>,
    /// Agents whose phones did not answer.
    pub missed_by: Vec<u32>,
    pub bridged: bool,
    /// in_ivr, queued, ringing_agent, connected, ended
    pub state: &'static str,
    /// How it ended: abandoned_in_ivr, abandoned_in_queue, callback_requested,
    /// completed, ended_by_caller, ended_by_agent, refused: ...
    pub outcome: Option<String>,
    pub codec: Option<&'static str>,
    /// The caller holds the call (re-INVITE sendonly/inactive).
    pub held: bool,
    /// The agent holds the call (from the desktop): the caller hears music.
    pub agent_hold: bool,
    /// A leg's media came from another address than its SDP said (a
    /// phone behind NAT) and was followed.
    pub nat: bool,
    /// How the caller's leg ended: hung up, cancelled, timed out.
    pub ended: Option<&'static str>,
    /// The call's recording: off, on, paused.
    pub recording: &'static str,
    /// Recordings made of the call (their ids).
    pub recordings: Vec<u64>,
    /// Why a recording could not be made (the call went on).
    pub recording_error: Option<String>,
}

pub struct Voice {
    app: App,
    edge: OnceLock<sip::Edge>,
    prompts: prompts::Prompts,
    book: Arc<flow::FlowBook>,
    secret: [u8; 32],
    phones: Mutex<HashMap<(OrgId, AgentId), Binding>>,
    /// Agents' browser phones.
    lines: Mutex<HashMap<(OrgId, AgentId), Arc<line::Line>>>,
    /// Agents who registered a phone since the server started.
    ever: Mutex<HashSet<(OrgId, AgentId)>>,
    calls: Mutex<HashMap<(OrgId, ContactId), mpsc::UnboundedSender<News>>>,
    /// Callbacks taken in the queue: the caller's address to ring.
    callbacks: Mutex<HashMap<(OrgId, ContactId), (String, u64)>>,
    watched: Mutex<HashSet<OrgId>>,
    journal: Mutex<VecDeque<Arc<Mutex<CallLog>>>>,
    limiter: Mutex<app::throttle::LoginLimiter>,
    records: mpsc::UnboundedSender<(OrgId, u64, String)>,
    run: u64,
    /// Attributes the flows collect patient data into (NHS numbers, dates
    /// of birth): never put on a contact.
    private: std::collections::BTreeSet<String>,
    trunk: Option<SocketAddr>,
    /// When a leg's far end counts as gone.
    media: telephony::liveness::Limits,
    /// Agents whose phone may have come or gone: the engine is told
    /// ([`Voice::endpoints`]).
    endpoints: mpsc::UnboundedSender<(OrgId, AgentId)>,
    /// Where sealed call recordings are kept.
    recordings: PathBuf,
    next: std::sync::atomic::AtomicU64,
    live: std::sync::atomic::AtomicUsize,
}

/// Starts the SIP edge; the returned handle stops it.
pub async fn start(app: App, opts: VoiceOptions, orgs: &[OrgId]) -> Result<Arc<Voice>, String> {
    let mut book = flow::FlowBook::default();
    let catalog = app.flow_catalog(orgs).await;
    let mut pending = opts.flows;
    // Sub-flows first: save what can be saved until nothing more can.
    loop {
        let before = pending.len();
        let mut still = Vec::new();
        let mut last = Vec::new();
        for f in pending {
            match book.save(f.clone(), &catalog) {
                Ok(b) => book = b,
                Err(issues) => {
                    last.push(format!(
                        "{}: {}",
                        f.id,
                        issues
                            .iter()
                            .map(|i| i.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                    still.push(f);
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if pending.len() == before {
            return Err(format!("call flows refused: {}", last.join(" | ")));
        }
    }
    let mut wanted = Vec::new();
    for c in book.flows.values() {
        for node in c.flow.nodes.values() {
            wanted.extend(call::prompts_of(node));
        }
    }
    let dir = opts.prompts.clone();
    let prompts = tokio::task::spawn_blocking(move || prompts::Prompts::load(&dir, &wanted))
        .await
        .map_err(|e| format!("prompts: {e}"))?;
    let app_for_records = app.clone();
    let private = callctl::private_attributes(&book);
    let (endpoints, changed) = mpsc::unbounded_channel();
    let voice = Arc::new(Voice {
        app,
        edge: OnceLock::new(),
        prompts,
        book: Arc::new(book),
        secret: app::auth::random_bytes::<32>(),
        phones: Mutex::default(),
        lines: Mutex::default(),
        ever: Mutex::default(),
        calls: Mutex::default(),
        callbacks: Mutex::default(),
        watched: Mutex::default(),
        journal: Mutex::default(),
        limiter: Mutex::default(),
        records: record_writer(app_for_records),
        run: u64::from_le_bytes(app::auth::random_bytes::<8>()) >> 11,
        private,
        trunk: opts.trunk,
        media: {
            let ms = opts.media_timeout.as_millis().min(i64::MAX as u128) as i64;
            telephony::liveness::Limits {
                silence_ms: ms,
                unproven_ms: ms.min(5_000),
                ..Default::default()
            }
        },
        endpoints,
        recordings: opts.recordings,
        next: std::sync::atomic::AtomicU64::new(1),
        live: std::sync::atomic::AtomicUsize::new(0),
    });
    let handler: Arc<dyn sip::Handler> = Arc::new(Hook(Arc::downgrade(&voice)));
    let edge = sip::Edge::start(opts.listen, handler).await?;
    tracing::info!("SIP on udp/tcp {} (realm \"{REALM}\")", edge.local);
    let _ = voice.edge.set(edge);
    tokio::spawn(Voice::endpoints(Arc::downgrade(&voice), changed));
    tokio::spawn(record::retention(Arc::downgrade(&voice)));
    for &org in orgs {
        voice.recover(org).await;
    }
    Ok(voice)
}

/// Where a phone is really reached if its Contact says otherwise: the
/// source of its REGISTER when the Contact names another IP address (the
/// phone is behind NAT, its Contact private). The same IP with another
/// port is taken as meant (a phone registering from one port and
/// listening on another).
fn nat_source(contact: &str, source: Option<SocketAddr>) -> Option<SocketAddr> {
    let source = source?;
    let host_port = contact
        .split_once('@')
        .map_or(contact, |(_, r)| r)
        .trim_start_matches("sip:")
        .split(';')
        .next()?;
    let named: Option<std::net::IpAddr> = host_port
        .parse::<SocketAddr>()
        .map(|a| a.ip())
        .ok()
        .or_else(|| host_port.trim_matches(['[', ']']).parse().ok());
    (named != Some(source.ip())).then_some(source)
}

/// The task that stores call records: whatever has queued up, in one
/// transaction, then again. A failed batch is retried once, then
/// reported on standard error (the records are still in the journal in
/// memory).
fn record_writer(app: App) -> mpsc::UnboundedSender<(OrgId, u64, String)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(OrgId, u64, String)>();
    tokio::spawn(async move {
        let mut batch = Vec::new();
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < 1000 {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            // Written on the blocking pool: a commit's fsync must not hold
            // up the media tasks sharing the runtime.
            let (first_try, b) = app
                .with_directory(move |d| {
                    (d.add_voice_calls(&batch).map_err(|e| e.to_string()), batch)
                })
                .await
                .unwrap_or_else(|| (Err("the server is stopping".into()), Vec::new()));
            batch = b;
            if let Err(e) = first_try {
                tracing::warn!("voice: call records not stored ({e}); retrying");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                let (again, b) = app
                    .with_directory(move |d| (d.add_voice_calls(&batch).is_ok(), batch))
                    .await
                    .unwrap_or((false, Vec::new()));
                batch = b;
                if !again {
                    tracing::warn!("voice: {} call records lost", batch.len());
                }
            }
            batch.clear();
            // Let records gather while calls are busy.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    });
    tx
}

/// The edge's hook into the voice module (weak: stopping drops it).
struct Hook(std::sync::Weak<Voice>);

fn source_ip(r: &sip::RegisterRequest) -> String {
    r.source.map(|a| a.ip().to_string()).unwrap_or_default()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl sip::Handler for Hook {
    fn register(&self, r: sip::RegisterRequest) -> sip::RegisterReply {
        match self.0.upgrade() {
            Some(v) => v.register(r),
            None => sip::RegisterReply::Forbidden,
        }
    }

    fn invite(&self, call: sip::Inbound) {
        if let Some(v) = self.0.upgrade() {
            if v.live.load(std::sync::atomic::Ordering::Relaxed) >= MAX_CALLS {
                call.leg.reject(503);
                return;
            }
            let span = tracing::info_span!(
                "call",
                org = tracing::field::Empty,
                call = tracing::field::Empty
            );
            tokio::spawn(tracing::Instrument::instrument(
                call::inbound(v, call),
                span,
            ));
        }
    }
}

impl Voice {
    /// The call flows in force (a web chat runs its service's flow too).
    pub fn book(&self) -> Arc<flow::FlowBook> {
        self.book.clone()
    }

    /// Flow attributes that hold patient data (never put on a contact).
    pub fn private_attributes(&self) -> std::collections::BTreeSet<String> {
        self.private.clone()
    }

    pub fn has_flow(&self, id: &str) -> bool {
        self.book.get(id).is_some()
    }

    pub fn stop(&self) {
        if let Some(e) = self.edge.get() {
            e.stop();
        }
    }

    /// Where sealed recordings are kept.
    pub fn recordings_folder(&self) -> PathBuf {
        self.recordings.clone()
    }

    /// Where the SIP edge listens.
    pub fn sip_address(&self) -> String {
        self.edge().local.to_string()
    }

    fn edge(&self) -> &sip::Edge {
        self.edge
            .get()
            .expect("the edge is started before calls come")
    }

    fn now_ms() -> i64 {
        app::wall_clock().as_ms()
    }

    fn register(self: &Arc<Self>, r: sip::RegisterRequest) -> sip::RegisterReply {
        let now = Self::now_ms();
        let Some(auth) = r.authorization.clone() else {
            return self.challenge(now, false);
        };
        // Failed registrations are throttled like failed log-ins: a phone
        // registering again from the address it registered from before is
        // a known device, not held back by strangers' failures; refusals
        // are summarised into the audit trail.
        let stamp = app::wall_clock();
        let ip = source_ip(&r);
        let known = lock(&self.limiter).known_source(&r.user, &ip);
        let attempt = app::throttle::Attempt {
            account: &r.user,
            addr: &ip,
            device: known.then_some(ip.as_str()),
        };
        if lock(&self.limiter).check(&attempt, stamp).is_some() {
            return sip::RegisterReply::Forbidden;
        }
        match self.check(&r, &auth, now) {
            Ok(reply) => {
                if matches!(reply, sip::RegisterReply::Ok(_)) {
                    lock(&self.limiter).succeeded(&attempt);
                }
                reply
            }
            Err(Some(stale)) => stale,
            Err(None) => {
                lock(&self.limiter).failed(&attempt, stamp);
                sip::RegisterReply::Forbidden
            }
        }
    }

    /// Writes the registration throttle's summary to the audit trail.
    pub fn audit_refused_registrations(&self) {
        let tallies = lock(&self.limiter).take_summary();
        for record in app::throttle::audit_records(tallies, "register phone", "sip:") {
            if let Err(e) = self.app.directory().audit(&record) {
                tracing::error!("a registration refusal summary was not audited: {e:?}");
            }
        }
    }

    fn challenge(&self, now: i64, stale: bool) -> sip::RegisterReply {
        sip::RegisterReply::Challenge(telephony::digest::challenge(
            REALM,
            &telephony::digest::nonce(&self.secret, now),
            stale,
        ))
    }

    /// Checks a REGISTER's credentials: the reply if good, Err(Some) to
    /// challenge again (a stale nonce), Err(None) if refused.
    fn check(
        self: &Arc<Self>,
        r: &sip::RegisterRequest,
        auth: &str,
        now: i64,
    ) -> Result<sip::RegisterReply, Option<sip::RegisterReply>> {
        let Ok(creds) = telephony::digest::Credentials::parse(auth) else {
            return Err(None);
        };
        let Ok(username) = creds.username() else {
            return Err(None);
        };
        if username != r.user {
            return Err(None);
        }
        let account = {
            let dir = self.app.directory();
            dir.user_by_name(username)
                .ok()
                .flatten()
                .and_then(|u| Some((u.clone(), dir.sip_ha1(u.id).ok()??)))
        };
        // Same answer for a wrong user as for a wrong password.
        let Some((user, ha1)) = account else {
            return Err(None);
        };
        match creds.verify("REGISTER", REALM, &ha1, &self.secret, now) {
            Ok(()) => {}
            Err(telephony::digest::DigestError::StaleNonce) => {
                return Err(Some(self.challenge(now, true)))
            }
            Err(_) => return Err(None),
        }
        let (Some(agent), false) = (user.agent, user.disabled) else {
            return Err(None);
        };
        let key = (user.org, agent);
        match r.contact.clone() {
            sip::Registration::Bind(uri, expires) if expires > 0 => {
                let expires = expires.clamp(MIN_EXPIRES, MAX_EXPIRES);
                lock(&self.phones).insert(
                    key,
                    Binding {
                        via: nat_source(&uri, r.source),
                        uri,
                        until: std::time::Instant::now()
                            + std::time::Duration::from_secs(expires.into()),
                    },
                );
                lock(&self.ever).insert(key);
                self.watch(user.org);
                let _ = self.endpoints.send(key);
                Ok(sip::RegisterReply::Ok(expires))
            }
            // Removed: this binding, or every one (`Contact: *`).
            sip::Registration::Bind(..) | sip::Registration::RemoveAll => {
                lock(&self.phones).remove(&key);
                let _ = self.endpoints.send(key);
                Ok(sip::RegisterReply::Ok(0))
            }
            // A query of bindings.
            sip::Registration::Query => Ok(sip::RegisterReply::Ok(0)),
        }
    }

    /// After a restart: the calls the last run carried are gone (their
    /// media died with it). A caller who was waiting keeps their place as
    /// a callback, rung back through the trunk at their number; a call
    /// that was with an agent is ended (the agent wraps up). Callbacks
    /// taken before the restart get their number back too.
    async fn recover(self: &Arc<Self>, org: OrgId) {
        use routing::ContactState as S;
        // No phone is registered yet in this run: the engine's memory of
        // connected phones (replayed from the log) is out of date.
        let connected = self
            .app
            .read(org, |t, _| {
                t.engine
                    .config()
                    .agents
                    .iter()
                    .filter(|a| t.engine.agent(a.id).is_some_and(|v| v.endpoint))
                    .map(|a| a.id)
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
        for agent in connected {
            let input = routing::Input::SetEndpoint {
                agent,
                connected: false,
            };
            let _ = self.app.apply(org, input, None).await;
        }
        let ours = self
            .app
            .read(org, |t, _| {
                t.engine
                    .contact_ids()
                    .into_iter()
                    .filter_map(|id| t.engine.contact(id))
                    .filter(|c| {
                        c.attributes
                            .iter()
                            .any(|(k, v)| (k.as_str(), v.as_str()) == VIA)
                    })
                    .map(|c| (c.id, c.channel, c.state))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
        if ours.is_empty() {
            return;
        }
        self.watch(org);
        let (mut kept, mut ended) = (0, 0);
        for (id, channel, state) in ours {
            match (channel, state) {
                (_, S::InProgress { .. }) => {
                    let _ = self
                        .app
                        .apply(org, routing::Input::End { contact: id }, None)
                        .await;
                    ended += 1;
                    continue;
                }
                (model::Channel::Voice, S::Offered(agent)) => {
                    let _ = self
                        .app
                        .apply(org, routing::Input::Reject { agent, contact: id }, None)
                        .await;
                    let _ = self
                        .app
                        .apply(org, routing::Input::RequestCallback { contact: id }, None)
                        .await;
                }
                (model::Channel::Voice, _) => {
                    let _ = self
                        .app
                        .apply(org, routing::Input::RequestCallback { contact: id }, None)
                        .await;
                }
                _ => {}
            }
            kept += 1;
            let phone = self
                .app
                .with_directory(move |dir| dir.contact_caller(org, id))
                .await
                .and_then(|r| r.ok())
                .flatten()
                .and_then(|w| w.phone);
            if let (Some(t), Some(p)) = (self.trunk, phone) {
                lock(&self.callbacks).insert((org, id), (format!("sip:{}@{t}", p.expose()), 0));
            }
        }
        tracing::info!(
            "voice: after the restart, {kept} calls of organisation {org} keep their place as callbacks and {ended} calls with agents were ended"
        );
    }

    /// Tells the engine whether each agent's phone is connected, as
    /// registrations come, go and expire: an agent named on `changed` is
    /// looked at now, and every connected one again every few seconds (a
    /// registration that ran out without a word). Only changes are sent.
    async fn endpoints(
        voice: std::sync::Weak<Voice>,
        mut changed: mpsc::UnboundedReceiver<(OrgId, AgentId)>,
    ) {
        let mut told: HashMap<(OrgId, AgentId), bool> = HashMap::new();
        let mut sweep = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            let keys: Vec<(OrgId, AgentId)> = tokio::select! {
                k = changed.recv() => match k {
                    Some(k) => vec![k],
                    None => return,
                },
                _ = sweep.tick() => told.iter().filter(|(_, &c)| c).map(|(k, _)| *k).collect(),
            };
            let Some(v) = voice.upgrade() else { return };
            for (org, agent) in keys {
                let connected = v.phone(org, agent).is_some();
                if told.get(&(org, agent)) == Some(&connected) {
                    continue;
                }
                let input = routing::Input::SetEndpoint { agent, connected };
                if v.app.apply(org, input, None).await.is_ok() {
                    told.insert((org, agent), connected);
                }
            }
        }
    }

    /// Asks a live call to start, pause, resume or stop its recording (the
    /// agent's desktop); answers whether it did, or why not.
    pub async fn recording_request(
        &self,
        org: OrgId,
        contact: ContactId,
        action: &str,
    ) -> Result<(), RecordingError> {
        let action = callctl::RecordingAction::parse(action).ok_or(RecordingError::Refused(
            "the action is start, pause, resume or stop".into(),
        ))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = lock(&self.calls)
            .get(&(org, contact))
            .map(|c| c.send(News::Recording(action, tx)).is_ok());
        if sent != Some(true) {
            return Err(RecordingError::NoCall);
        }
        match tokio::time::timeout(std::time::Duration::from_secs(10), rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(why))) => Err(RecordingError::Refused(why)),
            _ => Err(RecordingError::NoCall),
        }
    }

    /// The agent's browser phone, made on first use.
    fn line(&self, org: OrgId, agent: AgentId) -> Arc<line::Line> {
        let endpoints = self.endpoints.clone();
        lock(&self.lines)
            .entry((org, agent))
            .or_insert_with(|| {
                line::Line::new(Box::new(move || {
                    let _ = endpoints.send((org, agent));
                }))
            })
            .clone()
    }

    /// The agent's desktop connects its browser phone with a WebRTC
    /// offer (SDP); answers the SDP answer. A new offer replaces the
    /// line's session (a network change) and a call on it carries on.
    pub async fn browser_offer(
        &self,
        org: OrgId,
        agent: AgentId,
        sdp: &str,
    ) -> Result<String, PhoneError> {
        let line = self.line(org, agent);
        let answer = line.offer(self.edge().local.ip(), sdp).await?;
        lock(&self.ever).insert((org, agent));
        Ok(answer)
    }

    /// What the agent's browser phone is doing.
    pub fn browser_status(&self, org: OrgId, agent: AgentId) -> LineStatus {
        lock(&self.lines)
            .get(&(org, agent))
            .map(|l| l.status())
            .unwrap_or_else(|| LineStatus {
                state: "disconnected",
                ..LineStatus::default()
            })
    }

    /// Waits (at most `wait`) for the agent's browser phone status to
    /// change from what `seen` counted; answers the new count.
    pub async fn browser_changed(
        &self,
        org: OrgId,
        agent: AgentId,
        seen: u64,
        wait: std::time::Duration,
    ) -> u64 {
        let mut rx = self.line(org, agent).watch();
        let _ = tokio::time::timeout(wait, rx.wait_for(|n| *n != seen)).await;
        let n = *rx.borrow();
        n
    }

    /// The agent keys digits to the caller from the desktop.
    pub fn browser_keys(&self, org: OrgId, agent: AgentId, keys: &str) -> Result<(), String> {
        let line = lock(&self.lines).get(&(org, agent)).cloned();
        match line {
            Some(l) => l.send_keys(keys),
            None => Err("your browser phone is not connected".into()),
        }
    }

    /// The desktop disconnects its browser phone.
    pub fn browser_disconnect(&self, org: OrgId, agent: AgentId) {
        let l = lock(&self.lines).get(&(org, agent)).cloned();
        if let Some(l) = l {
            l.disconnect();
        }
    }

    /// The agent accepted `contact` on the desktop: if it is a call
    /// ringing their browser phone, the phone answers it (and the call
    /// accepts it with the engine) — answers whether it did. A call's
    /// ring reaches the line a moment after the engine's offer, so a
    /// call of this edge is waited for briefly.
    pub async fn answer_on_browser(&self, org: OrgId, agent: AgentId, contact: ContactId) -> bool {
        let Some(line) = lock(&self.lines).get(&(org, agent)).cloned() else {
            return false;
        };
        // A call of this edge: an inbound call, or a callback ringing the
        // agent before the caller.
        let ours = lock(&self.calls).contains_key(&(org, contact))
            || lock(&self.callbacks).contains_key(&(org, contact));
        if !line.is_up() || !ours {
            return false;
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut changed = line.watch();
        while !line.rings_for(contact) {
            if tokio::time::timeout_at(deadline, changed.changed())
                .await
                .is_err()
            {
                return false;
            }
        }
        line.answer(contact)
    }

    /// The agent's phone: their browser phone if it is connected, else
    /// the phone they registered, if the registration is current.
    fn phone(&self, org: OrgId, agent: AgentId) -> Option<Phone> {
        if let Some(l) = lock(&self.lines).get(&(org, agent)).filter(|l| l.is_up()) {
            return Some(Phone::Browser(l.clone()));
        }
        let mut p = lock(&self.phones);
        match p.get(&(org, agent)) {
            Some(b) if b.until > std::time::Instant::now() => Some(Phone::Sip {
                uri: b.uri.clone(),
                via: b.via,
            }),
            Some(_) => {
                p.remove(&(org, agent));
                None
            }
            None => None,
        }
    }

    /// Had a phone since the server started (a lost phone makes the agent
    /// not ready; an agent who works without one is left to the desktop).
    fn uses_phone(&self, org: OrgId, agent: AgentId) -> bool {
        lock(&self.ever).contains(&(org, agent))
    }

    fn log(&self, mut entry: CallLog) -> Arc<Mutex<CallLog>> {
        entry.started_at = app::time::iso(app::wall_clock());
        entry.run = self.run;
        if entry.org != 0 {
            self.write(&entry);
        }
        let e = Arc::new(Mutex::new(entry));
        let mut j = lock(&self.journal);
        if j.len() >= JOURNAL {
            j.pop_front();
        }
        j.push_back(e.clone());
        e
    }

    /// A call id that orders by start and does not repeat across restarts.
    fn new_id(&self) -> u64 {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (app::wall_clock().0.max(0) as u64) * 1000 + n % 1000
    }

    /// Keeps a finished call's record in the database.
    fn persist(&self, log: &Mutex<CallLog>) {
        let mut l = lock(log);
        if l.org == 0 || l.persisted {
            return;
        }
        l.state = "ended";
        l.persisted = true;
        l.ended_at = Some(app::time::iso(app::wall_clock()));
        self.write(&l);
    }

    /// Writes a call's record as it stands (at its start, so a call the
    /// server dies during is not forgotten; again at its end). Records go
    /// to a writer task that stores them in batches, off the call path.
    fn write(&self, l: &CallLog) {
        if let Ok(text) = serde_json::to_string(l) {
            let _ = self.records.send((OrgId(l.org), l.id, text));
        }
    }

    /// The journal of one organisation, newest first: this run's calls
    /// from memory (the freshest copy), then older ones from the database
    /// (kept across restarts).
    pub async fn journal(&self, org: OrgId, limit: usize) -> Vec<serde_json::Value> {
        let live: Vec<CallLog> = lock(&self.journal)
            .iter()
            .rev()
            .map(|e| lock(e).clone())
            .filter(|c| c.org == org.0)
            .take(limit)
            .collect();
        let live_ids: HashSet<u64> = live.iter().map(|c| c.id).collect();
        let mut out: Vec<serde_json::Value> = live
            .into_iter()
            .filter_map(|c| serde_json::to_value(c).ok())
            .collect();
        let done = self
            .app
            .with_directory(move |d| d.voice_calls(org, limit))
            .await
            .and_then(Result::ok)
            .unwrap_or_default();
        for t in done {
            let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&t) else {
                continue;
            };
            let id = v["id"].as_u64().unwrap_or(0);
            if live_ids.contains(&id) {
                continue;
            }
            // Not in this run's memory and never finished: the server
            // stopped during it.
            if v["state"] != "ended" && v["run"].as_u64() != Some(self.run) {
                v["state"] = "ended".into();
                v["outcome"] = "cut off: the server stopped".into();
            }
            out.push(v);
        }
        // Newest first (ids follow the start time).
        out.sort_by_key(|c| std::cmp::Reverse(c["id"].as_u64().unwrap_or(0)));
        out.truncate(limit);
        out
    }

    /// Follows an organisation's events for the calls it carries.
    fn watch(self: &Arc<Self>, org: OrgId) {
        if !lock(&self.watched).insert(org) {
            return;
        }
        let v = Arc::downgrade(self);
        let app = self.app.clone();
        tokio::spawn(async move {
            let Some((mut rx, _)) = app.subscribe(org).await else {
                return;
            };
            loop {
                let r = match rx.recv().await {
                    Ok(r) => r,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                };
                let Some(v) = v.upgrade() else { break };
                v.news(org, r.event);
            }
        });
    }

    fn news(self: &Arc<Self>, org: OrgId, e: routing::Event) {
        use routing::Event as E;
        let (contact, news) = match e {
            E::Offered {
                contact,
                agent,
                expires_at,
                ..
            } => {
                if let Some((uri, log)) = lock(&self.callbacks).get(&(org, contact)).cloned() {
                    let span = tracing::info_span!("callback", org = org.0, contact = contact.0);
                    tokio::spawn(tracing::Instrument::instrument(
                        call::ring_back(self.clone(), org, contact, agent, expires_at, uri, log),
                        span,
                    ));
                    return;
                }
                (contact, News::Offered { agent, expires_at })
            }
            E::OfferTimedOut { contact, agent }
            | E::OfferRejected { contact, agent }
            | E::OfferWithdrawn { contact, agent, .. } => (contact, News::OfferGone { agent }),
            E::Answered { contact, agent, .. } => (contact, News::Answered { agent }),
            E::HoldStarted { contact, .. } => (contact, News::Hold(true)),
            E::HoldEnded { contact, .. } => (contact, News::Hold(false)),
            E::Ended { contact, .. }
            | E::Abandoned { contact, .. }
            | E::Cancelled { contact, .. } => {
                lock(&self.callbacks).remove(&(org, contact));
                (contact, News::Ended)
            }
            _ => return,
        };
        if let Some(tx) = lock(&self.calls).get(&(org, contact)) {
            let _ = tx.send(news);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::nat_source;

    #[test]
    fn a_phone_behind_nat_is_reached_where_it_registered_from() {
        let public: std::net::SocketAddr = "203.0.113.7:40123".parse().unwrap();
        assert_eq!(
            nat_source("sip:kent.agent@10.0.0.5:5062", Some(public)),
            Some(public)
        );
        assert_eq!(
            nat_source("sip:kent.agent@203.0.113.7:40123", Some(public)),
            None
        );
        let plain: std::net::SocketAddr = "192.0.2.1:5060".parse().unwrap();
        assert_eq!(nat_source("sip:a@192.0.2.1", Some(plain)), None);
        // Another port on the same address: the Contact is meant.
        assert_eq!(nat_source("sip:a@192.0.2.1:5070", Some(plain)), None);
        assert_eq!(
            nat_source("sip:a@192.0.2.1;transport=udp", Some(plain)),
            None
        );
        assert_eq!(nat_source("sip:a@10.0.0.5", None), None);
    }
}
