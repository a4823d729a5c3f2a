//! The KPI engine: incremental accumulators over the routing engine's
//! events, per interval and per queue, service, channel, team and agent.
//! Pure: events in, report out; no clock. Definitions: `docs/kpis.md`.

pub mod chat;
pub mod csat;
pub mod written;

use model::{AgentId, Channel, ContactId, DurationMs, QueueId, TeamId, Timestamp};
use routing::{Event, Presence, Record, TransferMode};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How contacts are counted: which interval, which thresholds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KpiConfig {
    /// Start of the first interval.
    pub origin: Timestamp,
    /// Interval length: 15, 30 or 60 minutes, or a day.
    pub interval: DurationMs,
    /// Per queue: answered-within threshold for its service level.
    pub targets: BTreeMap<QueueId, DurationMs>,
    /// Threshold when a queue has none.
    pub default_target: DurationMs,
    /// Abandons shorter than this are "short abandons" (counted apart, and
    /// left out of the abandonment rate).
    pub short_abandon: DurationMs,
    /// A callback is "made within target" when answered within this of
    /// being requested (virtual hold) or falling due (booked).
    pub callback_target: DurationMs,
    /// Queues whose contacts count as clinical when answered there.
    pub clinical_queues: BTreeSet<QueueId>,
    /// Queue → service name (several queues may make one service).
    pub services: BTreeMap<QueueId, String>,
    /// Agent → team, for team figures.
    pub teams: BTreeMap<AgentId, TeamId>,
    /// Which breakdowns to keep (the overall one is always kept).
    pub by_queue: bool,
    pub by_service: bool,
    pub by_channel: bool,
    pub by_team: bool,
    pub by_agent: bool,
    /// Also keep one row per dimension for the whole run.
    pub totals: bool,
}

impl KpiConfig {
    pub fn new(interval: DurationMs) -> KpiConfig {
        KpiConfig {
            origin: Timestamp::ZERO,
            interval,
            targets: BTreeMap::new(),
            default_target: DurationMs::from_secs(20),
            short_abandon: DurationMs::from_secs(5),
            callback_target: DurationMs::from_secs(600),
            clinical_queues: BTreeSet::new(),
            services: BTreeMap::new(),
            teams: BTreeMap::new(),
            by_queue: true,
            by_service: true,
            by_channel: true,
            by_team: true,
            by_agent: true,
            totals: true,
        }
    }

    /// Thresholds, teams from a routing configuration.
    pub fn from_routing(interval: DurationMs, c: &routing::Config) -> KpiConfig {
        let mut k = KpiConfig::new(interval);
        k.follow(c);
        k
    }

    /// Each queue's service-level threshold, whether it is clinical, and
    /// the agents' teams, from a routing configuration.
    pub fn follow(&mut self, c: &routing::Config) {
        self.targets = c.queues.iter().map(|q| (q.id, q.target.within)).collect();
        self.clinical_queues = c
            .queues
            .iter()
            .filter(|q| q.clinical)
            .map(|q| q.id)
            .collect();
        self.teams = c.agents.iter().map(|a| (a.id, a.team)).collect();
    }
}

/// What a row is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Dimension {
    Overall,
    Queue(QueueId),
    Service(String),
    Channel(Channel),
    Team(TeamId),
    Agent(AgentId),
}

impl std::fmt::Display for Dimension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dimension::Overall => write!(f, "all"),
            Dimension::Queue(q) => write!(f, "queue {q}"),
            Dimension::Service(s) => write!(f, "service {s}"),
            Dimension::Channel(c) => write!(f, "channel {c}"),
            Dimension::Team(t) => write!(f, "team {t}"),
            Dimension::Agent(a) => write!(f, "agent {a}"),
        }
    }
}

/// Raw counts of one dimension in one interval. All derived figures come
/// from these.
/// `waits_ms` is left out of the serialised form (it is the raw material
/// of the 95th percentile, not a figure); snapshots keep it apart (see
/// `full_counts`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub offered: u64,
    pub answered: u64,
    pub answered_within_target: u64,
    pub abandoned: u64,
    pub abandoned_short: u64,
    pub abandoned_under_30s: u64,
    pub abandoned_30_to_60s: u64,
    pub abandoned_over_60s: u64,
    /// Abandoned after the service-level threshold (for that definition).
    pub abandoned_after_target: u64,
    pub voicemail: u64,
    pub refused: u64,
    pub wait_ms_answered_total: u64,
    #[serde(skip)]
    pub waits_ms: Vec<u32>,
    pub handled: u64,
    pub talk_ms: u64,
    pub hold_ms: u64,
    pub wrap_ms: u64,
    pub callbacks_requested: u64,
    pub callbacks_made: u64,
    pub callbacks_made_within_target: u64,
    pub transfers_warm: u64,
    pub transfers_cold: u64,
    pub clinical: u64,
    pub completed: u64,
    pub completed_first_contact: u64,
    /// Agent time (agent and team rows, and overall): ms handling,
    /// available and idle, not ready, logged in.
    pub busy_ms: u64,
    pub idle_ms: u64,
    pub not_ready_ms: u64,
    /// Clinical callbacks (callbacks with a deadline) booked.
    #[serde(default)]
    pub clinical_callbacks_booked: u64,
    /// Clinical callbacks answered, and of those by their deadline.
    #[serde(default)]
    pub clinical_callbacks_made: u64,
    #[serde(default)]
    pub clinical_callbacks_in_time: u64,
    /// Clinical callbacks cancelled or given up before being answered.
    #[serde(default)]
    pub clinical_callbacks_missed: u64,
    /// Transfers completed into a clinical queue, warm and cold.
    #[serde(default)]
    pub clinical_transfers_warm: u64,
    #[serde(default)]
    pub clinical_transfers_cold: u64,
}

impl Counts {
    pub fn merge(&mut self, o: &Counts) {
        self.merge_totals(o);
        self.waits_ms.extend_from_slice(&o.waits_ms);
    }

    /// [`Counts::merge`] without the waits (`waits_ms`).
    pub fn merge_totals(&mut self, o: &Counts) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.answered_within_target += o.answered_within_target;
        self.abandoned += o.abandoned;
        self.abandoned_short += o.abandoned_short;
        self.abandoned_under_30s += o.abandoned_under_30s;
        self.abandoned_30_to_60s += o.abandoned_30_to_60s;
        self.abandoned_over_60s += o.abandoned_over_60s;
        self.abandoned_after_target += o.abandoned_after_target;
        self.voicemail += o.voicemail;
        self.refused += o.refused;
        self.wait_ms_answered_total += o.wait_ms_answered_total;
        self.handled += o.handled;
        self.talk_ms += o.talk_ms;
        self.hold_ms += o.hold_ms;
        self.wrap_ms += o.wrap_ms;
        self.clinical_callbacks_booked += o.clinical_callbacks_booked;
        self.clinical_callbacks_made += o.clinical_callbacks_made;
        self.clinical_callbacks_in_time += o.clinical_callbacks_in_time;
        self.clinical_callbacks_missed += o.clinical_callbacks_missed;
        self.clinical_transfers_warm += o.clinical_transfers_warm;
        self.clinical_transfers_cold += o.clinical_transfers_cold;
        self.callbacks_requested += o.callbacks_requested;
        self.callbacks_made += o.callbacks_made;
        self.callbacks_made_within_target += o.callbacks_made_within_target;
        self.transfers_warm += o.transfers_warm;
        self.transfers_cold += o.transfers_cold;
        self.clinical += o.clinical;
        self.completed += o.completed;
        self.completed_first_contact += o.completed_first_contact;
        self.busy_ms += o.busy_ms;
        self.idle_ms += o.idle_ms;
        self.not_ready_ms += o.not_ready_ms;
    }
}

/// Derived figures of one row, each as docs/kpis.md defines it. `None`
/// where the denominator is zero.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figures {
    /// Answered within target / offered (abandoned and short abandons count
    /// against) — NHS 111 style.
    pub service_level: Option<f64>,
    /// Answered within target / answered.
    pub service_level_of_answered: Option<f64>,
    /// Answered within target / (answered + abandoned after the target):
    /// abandons inside the target are left out.
    pub service_level_excluding_early_abandons: Option<f64>,
    /// Abandoned (excluding short abandons) / (offered − short abandons).
    pub abandonment_rate: Option<f64>,
    pub asa_seconds: Option<f64>,
    pub p95_answer_seconds: Option<f64>,
    pub aht_seconds: Option<f64>,
    pub talk_seconds: Option<f64>,
    pub hold_seconds: Option<f64>,
    pub wrap_seconds: Option<f64>,
    pub callbacks_within_target: Option<f64>,
    pub clinical_intervention_rate: Option<f64>,
    /// Clinical callbacks answered by their deadline / those answered or
    /// missed (NHS 111: 90% within the agreed timeframe).
    pub clinical_callbacks_in_timeframe: Option<f64>,
    /// Warm transfers into a clinical queue / every hand-over to a
    /// clinician (warm, cold, or a clinical callback booked) (NHS 111:
    /// 75%).
    pub clinical_warm_transfer: Option<f64>,
    pub first_contact_resolution: Option<f64>,
    /// Handling / (handling + available idle).
    pub occupancy: Option<f64>,
    /// Handling / logged-in time (handling + idle + not ready).
    pub utilisation: Option<f64>,
}

/// One row of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub dimension: Dimension,
    /// Start of the interval; `None` for the whole run.
    pub interval_start: Option<Timestamp>,
    pub counts: Counts,
    pub figures: Figures,
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn ms_mean(total: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| total as f64 / n as f64 / 1000.0)
}

/// Exact 95th percentile (nearest rank) of waits in ms, in seconds.
pub fn p95_seconds(waits: &mut [u32]) -> Option<f64> {
    if waits.is_empty() {
        return None;
    }
    let rank = ((0.95 * waits.len() as f64).ceil() as usize).clamp(1, waits.len()) - 1;
    let (_, v, _) = waits.select_nth_unstable(rank);
    Some(*v as f64 / 1000.0)
}

impl Counts {
    pub fn figures(&mut self) -> Figures {
        let handled = self.handled;
        let not_short = self.offered.saturating_sub(self.abandoned_short);
        Figures {
            service_level: ratio(self.answered_within_target, self.offered),
            service_level_of_answered: ratio(self.answered_within_target, self.answered),
            service_level_excluding_early_abandons: ratio(
                self.answered_within_target,
                self.answered + self.abandoned_after_target,
            ),
            abandonment_rate: ratio(self.abandoned - self.abandoned_short, not_short),
            asa_seconds: ms_mean(self.wait_ms_answered_total, self.answered),
            p95_answer_seconds: p95_seconds(&mut self.waits_ms),
            aht_seconds: ms_mean(self.talk_ms + self.hold_ms + self.wrap_ms, handled),
            talk_seconds: ms_mean(self.talk_ms, handled),
            hold_seconds: ms_mean(self.hold_ms, handled),
            wrap_seconds: ms_mean(self.wrap_ms, handled),
            callbacks_within_target: ratio(self.callbacks_made_within_target, self.callbacks_made),
            clinical_intervention_rate: ratio(self.clinical, self.answered),
            clinical_callbacks_in_timeframe: ratio(
                self.clinical_callbacks_in_time,
                self.clinical_callbacks_made + self.clinical_callbacks_missed,
            ),
            clinical_warm_transfer: ratio(
                self.clinical_transfers_warm,
                self.clinical_transfers_warm
                    + self.clinical_transfers_cold
                    + self.clinical_callbacks_booked,
            ),
            first_contact_resolution: ratio(self.completed_first_contact, self.completed),
            occupancy: ratio(self.busy_ms, self.busy_ms + self.idle_ms),
            utilisation: ratio(
                self.busy_ms,
                self.busy_ms + self.idle_ms + self.not_ready_ms,
            ),
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Track {
    interval: i64,
    queue: QueueId,
    channel: Channel,
    /// When the callback clock started (request or due time).
    callback_from: Option<Timestamp>,
    answered_at: Option<Timestamp>,
    hold_since: Option<Timestamp>,
    hold_ms: u64,
    transferred: bool,
    clinical: bool,
    agent: Option<AgentId>,
    /// Series of this contact's queue, channel and service rows (or NONE).
    s_queue: u32,
    s_channel: u32,
    s_service: u32,
    /// Talk segments already closed by transfers.
    talk_ms: u64,
    segment_start: Option<Timestamp>,
    /// A callback booked for later, not yet due: not offered until it
    /// joins the line (then counted in that interval). A new field:
    /// store::STATE_FORMAT 2.
    booked: bool,
    /// A clinical callback's deadline (store::STATE_FORMAT 3).
    deadline: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct AgentTrack {
    presence_ready: bool,
    presence_offline: bool,
    items: u32,
    since: Timestamp,
    s_agent: u32,
    s_team: u32,
}

impl Default for AgentTrack {
    fn default() -> Self {
        AgentTrack {
            presence_ready: false,
            presence_offline: true,
            items: 0,
            since: Timestamp::ZERO,
            s_agent: NONE,
            s_team: NONE,
        }
    }
}

const NONE: u32 = u32::MAX;

/// The counts of one dimension, interval by interval (contiguous).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Series {
    first: i64,
    #[serde(with = "full_counts")]
    counts: std::collections::VecDeque<Counts>,
}

/// Counts with their waits, for snapshots: the API form leaves the waits
/// out, a restored engine needs them for its percentiles.
mod full_counts {
    use super::Counts;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::VecDeque;

    pub fn serialize<S: Serializer>(v: &VecDeque<Counts>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|c| (c, &c.waits_ms)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VecDeque<Counts>, D::Error> {
        let v = Vec::<(Counts, Vec<u32>)>::deserialize(d)?;
        Ok(v.into_iter()
            .map(|(mut c, w)| {
                c.waits_ms = w;
                c
            })
            .collect())
    }
}

/// Every series, found by dimension once and by index afterwards.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Store {
    #[serde(with = "plain_dims")]
    dims: Vec<Dimension>,
    series: Vec<Series>,
    /// Rebuilt from `dims` when restored (see [`restored_store`]).
    #[serde(skip)]
    index: FxHashMap<Dimension, u32>,
}

/// A snapshot's store, with its index rebuilt.
fn restored_store<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Store, D::Error> {
    let mut st = Store::deserialize(d)?;
    if st.dims.len() != st.series.len() {
        return Err(serde::de::Error::custom(
            "dimensions and series differ in number",
        ));
    }
    st.index = st
        .dims
        .iter()
        .enumerate()
        .map(|(i, d)| (d.clone(), i as u32))
        .collect();
    Ok(st)
}

/// Dimensions in snapshots: the API's form is adjacently tagged, which a
/// compact (non-self-describing) format cannot read back; this is the
/// same enum, externally tagged.
mod plain_dims {
    use super::Dimension;
    use model::{AgentId, Channel, QueueId, TeamId};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    enum Plain {
        Overall,
        Queue(QueueId),
        Service(String),
        Channel(Channel),
        Team(TeamId),
        Agent(AgentId),
    }

    pub fn serialize<S: Serializer>(v: &[Dimension], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|d| match d.clone() {
            Dimension::Overall => Plain::Overall,
            Dimension::Queue(q) => Plain::Queue(q),
            Dimension::Service(x) => Plain::Service(x),
            Dimension::Channel(c) => Plain::Channel(c),
            Dimension::Team(t) => Plain::Team(t),
            Dimension::Agent(a) => Plain::Agent(a),
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Dimension>, D::Error> {
        Ok(Vec::<Plain>::deserialize(d)?
            .into_iter()
            .map(|p| match p {
                Plain::Overall => Dimension::Overall,
                Plain::Queue(q) => Dimension::Queue(q),
                Plain::Service(x) => Dimension::Service(x),
                Plain::Channel(c) => Dimension::Channel(c),
                Plain::Team(t) => Dimension::Team(t),
                Plain::Agent(a) => Dimension::Agent(a),
            })
            .collect())
    }
}

/// Most intervals one series may span (ten years of 15-minute intervals).
const MAX_SERIES_LEN: usize = 10 * 366 * 96;

impl Store {
    fn id(&mut self, d: Dimension) -> u32 {
        if let Some(&i) = self.index.get(&d) {
            return i;
        }
        let i = self.series.len() as u32;
        self.dims.push(d.clone());
        self.series.push(Series::default());
        self.index.insert(d, i);
        i
    }

    fn at(&mut self, s: u32, i: i64) -> &mut Counts {
        let se = &mut self.series[s as usize];
        if se.counts.is_empty() {
            se.first = i;
            se.counts.push_back(Counts::default());
        }
        while i < se.first && se.counts.len() < MAX_SERIES_LEN {
            se.counts.push_front(Counts::default());
            se.first -= 1;
        }
        while i >= se.first + se.counts.len() as i64 && se.counts.len() < MAX_SERIES_LEN {
            se.counts.push_back(Counts::default());
        }
        // Beyond the cap, the nearest end absorbs it (documented limit).
        let k = (i - se.first).clamp(0, se.counts.len() as i64 - 1) as usize;
        &mut se.counts[k]
    }

    /// Every non-empty (dimension, interval, counts).
    fn rows(&self) -> impl Iterator<Item = (&Dimension, i64, &Counts)> {
        let empty = Counts::default();
        self.series.iter().zip(&self.dims).flat_map(move |(se, d)| {
            let empty = empty.clone();
            se.counts
                .iter()
                .enumerate()
                .filter(move |(_, c)| **c != empty)
                .map(move |(k, c)| (d, se.first + k as i64, c))
        })
    }
}

/// Adds an agent's time in its current state up to `now` (split at
/// interval boundaries) to its rows and the overall row.
fn accrue(st: &mut AgentTrack, store: &mut Store, cfg: &KpiConfig, now: Timestamp) {
    if now > st.since && !(st.presence_offline && st.items == 0) {
        let kind = if st.items > 0 {
            0
        } else if st.presence_ready {
            1
        } else {
            2
        };
        let mut t = st.since;
        while t < now {
            let i = t.since(cfg.origin).0.div_euclid(cfg.interval.0);
            let end = cfg
                .origin
                .plus(DurationMs((i + 1) * cfg.interval.0))
                .min(now);
            let ms = end.since(t).0 as u64;
            for s in [0, st.s_agent, st.s_team] {
                if s != NONE {
                    let c = store.at(s, i);
                    match kind {
                        0 => c.busy_ms += ms,
                        1 => c.idle_ms += ms,
                        _ => c.not_ready_ms += ms,
                    }
                }
            }
            t = end;
        }
    }
    st.since = st.since.max(now);
}

/// The accumulators. Feed every event with [`Kpi::observe`], then ask for
/// a [`Kpi::report`]. Serialisable whole, for snapshots: a restored `Kpi`
/// goes on exactly as the one saved.
#[derive(Serialize, Deserialize)]
pub struct Kpi {
    cfg: KpiConfig,
    #[serde(deserialize_with = "restored_store")]
    store: Store,
    contacts: FxHashMap<ContactId, Track>,
    /// Handle-time pieces of ended contacts still in wrap-up, by agent.
    wrapping: FxHashMap<(AgentId, ContactId), (Timestamp, Track)>,
    /// The contact that ended last, before it goes into `wrapping`: with no
    /// wrap-up its slot frees in the very next event, so most never do.
    just_ended: Option<((AgentId, ContactId), (Timestamp, Track))>,
    agents: FxHashMap<AgentId, AgentTrack>,
    last_time: Timestamp,
}

impl Kpi {
    pub fn new(cfg: KpiConfig) -> Kpi {
        assert!(cfg.interval.0 > 0, "interval must be positive");
        Kpi {
            cfg,
            store: {
                let mut st = Store::default();
                st.id(Dimension::Overall);
                st
            },
            contacts: FxHashMap::default(),
            wrapping: FxHashMap::default(),
            just_ended: None,
            agents: FxHashMap::default(),
            last_time: Timestamp::ZERO,
        }
    }

    pub fn config(&self) -> &KpiConfig {
        &self.cfg
    }

    fn interval_of(&self, t: Timestamp) -> i64 {
        t.since(self.cfg.origin).0.div_euclid(self.cfg.interval.0)
    }

    fn target(&self, q: QueueId) -> DurationMs {
        self.cfg
            .targets
            .get(&q)
            .copied()
            .unwrap_or(self.cfg.default_target)
    }

    /// Applies `f` to the rows of every dimension a contact belongs to.
    fn each(&mut self, t: &Track, f: impl Fn(&mut Counts)) {
        let i = t.interval;
        f(self.store.at(0, i));
        for s in [t.s_queue, t.s_channel, t.s_service] {
            if s != NONE {
                f(self.store.at(s, i));
            }
        }
    }

    /// Applies `f` to the agent and team rows of an agent (handling figures).
    fn each_agent(&mut self, a: AgentId, i: i64, f: impl Fn(&mut Counts)) {
        let Some(st) = self.agents.get(&a) else {
            return;
        };
        for s in [st.s_agent, st.s_team] {
            if s != NONE {
                f(self.store.at(s, i));
            }
        }
    }

    /// Adds an agent's time in its current state up to `now` (split at
    /// interval boundaries), then applies `change` to its state. One hash
    /// look-up per event.
    fn agent_change(&mut self, a: AgentId, now: Timestamp, change: impl FnOnce(&mut AgentTrack)) {
        let Kpi {
            agents, store, cfg, ..
        } = self;
        let st = agents.entry(a).or_insert_with(|| {
            let s_agent = if cfg.by_agent {
                store.id(Dimension::Agent(a))
            } else {
                NONE
            };
            let s_team = match (cfg.by_team, cfg.teams.get(&a)) {
                (true, Some(&t)) => store.id(Dimension::Team(t)),
                _ => NONE,
            };
            AgentTrack {
                since: now,
                s_agent,
                s_team,
                ..Default::default()
            }
        });
        accrue(st, store, cfg, now);
        change(st);
    }

    fn agent_items(&mut self, a: AgentId, at: Timestamp, delta: i32) {
        self.agent_change(a, at, |st| {
            st.items = (st.items as i64 + delta as i64).max(0) as u32
        });
    }

    /// Follows a changed routing configuration: each queue's service-level
    /// threshold, whether it is clinical, and the agents' teams (a queue
    /// added or changed after the engine started is measured by its own
    /// definition, not the defaults). Call on `Event::Reconfigured` with
    /// the engine's configuration then.
    pub fn follow_config(&mut self, c: &routing::Config) {
        self.cfg.follow(c);
    }

    /// Feeds one event. Events must come in log order.
    pub fn observe(&mut self, r: &Record) {
        let at = r.at;
        self.last_time = self.last_time.max(at);
        match &r.event {
            Event::Arrived {
                contact,
                queue,
                channel,
                ..
            } => {
                let s_queue = if self.cfg.by_queue {
                    self.store.id(Dimension::Queue(*queue))
                } else {
                    NONE
                };
                let s_channel = if self.cfg.by_channel {
                    self.store.id(Dimension::Channel(*channel))
                } else {
                    NONE
                };
                let s_service = match (self.cfg.by_service, self.cfg.services.get(queue)) {
                    (true, Some(name)) => self.store.id(Dimension::Service(name.clone())),
                    _ => NONE,
                };
                let t = Track {
                    interval: self.interval_of(at),
                    queue: *queue,
                    channel: *channel,
                    s_queue,
                    s_channel,
                    s_service,
                    callback_from: None,
                    answered_at: None,
                    hold_since: None,
                    hold_ms: 0,
                    transferred: false,
                    clinical: false,
                    agent: None,
                    talk_ms: 0,
                    segment_start: None,
                    booked: false,
                    deadline: None,
                };
                self.each(&t, |c| c.offered += 1);
                self.contacts.insert(*contact, t);
            }
            Event::CallbackScheduled {
                contact,
                due_at,
                deadline,
                ..
            } => {
                if let Some(t) = self.contacts.get_mut(contact) {
                    t.callback_from = Some(*due_at);
                    t.deadline = *deadline;
                    let later = *due_at > at && t.answered_at.is_none();
                    t.booked |= later;
                    let t = *t;
                    // Requested now; offered only when it falls due (a
                    // booking is not a call that waited).
                    self.each(&t, |c| {
                        c.callbacks_requested += 1;
                        if later {
                            c.offered = c.offered.saturating_sub(1);
                        }
                        if deadline.is_some() {
                            c.clinical_callbacks_booked += 1;
                        }
                    });
                }
            }
            Event::Queued { contact, .. } => {
                let i = self.interval_of(at);
                if let Some(t) = self.contacts.get_mut(contact).filter(|t| t.booked) {
                    t.booked = false;
                    t.interval = i;
                    let t = *t;
                    self.each(&t, |c| c.offered += 1);
                }
            }
            Event::CallbackRequested { contact, .. } => {
                if let Some(t) = self.contacts.get_mut(contact) {
                    t.callback_from = Some(at);
                    t.channel = Channel::Callback;
                    let t = *t;
                    self.each(&t, |c| c.callbacks_requested += 1);
                }
            }
            Event::Offered { agent, .. } => self.agent_items(*agent, at, 1),
            Event::OfferRejected { agent, .. }
            | Event::OfferTimedOut { agent, .. }
            | Event::OfferWithdrawn { agent, .. } => self.agent_items(*agent, at, -1),
            Event::Answered {
                contact,
                agent,
                queue,
                waited,
                ..
            } => {
                let clinical = self.cfg.clinical_queues.contains(queue);
                let Some(t) = self.contacts.get_mut(contact) else {
                    return;
                };
                t.answered_at = Some(at);
                t.agent = Some(*agent);
                t.segment_start = Some(at);
                t.clinical |= clinical;
                let t = *t;
                let target = self.target(t.queue);
                let wait = waited.0.max(0) as u64;
                let within = *waited <= target;
                let cb = t
                    .callback_from
                    .map(|from| at.since(from) <= self.cfg.callback_target);
                let by_deadline = t.deadline.map(|d| at <= d);
                self.each(&t, |c| {
                    if let Some(ok) = by_deadline {
                        c.clinical_callbacks_made += 1;
                        if ok {
                            c.clinical_callbacks_in_time += 1;
                        }
                    }
                    c.answered += 1;
                    c.wait_ms_answered_total += wait;
                    c.waits_ms.push(wait.min(u32::MAX as u64) as u32);
                    if within {
                        c.answered_within_target += 1;
                    }
                    if let Some(ok) = cb {
                        c.callbacks_made += 1;
                        if ok {
                            c.callbacks_made_within_target += 1;
                        }
                    }
                    if clinical {
                        c.clinical += 1;
                    }
                });
            }
            Event::HoldStarted { contact, .. } => {
                if let Some(t) = self.contacts.get_mut(contact) {
                    t.hold_since = Some(at);
                }
            }
            Event::HoldEnded { contact, .. } => {
                if let Some(t) = self.contacts.get_mut(contact) {
                    if let Some(s) = t.hold_since.take() {
                        t.hold_ms += at.since(s).0.max(0) as u64;
                    }
                }
            }
            Event::Transferred {
                contact,
                from,
                to,
                queue,
                mode,
            } => {
                let clinical = self.cfg.clinical_queues.contains(queue);
                let Some(t) = self.contacts.get_mut(contact) else {
                    return;
                };
                if let Some(s) = t.segment_start.replace(at) {
                    t.talk_ms += at.since(s).0.max(0) as u64;
                }
                t.transferred = true;
                t.agent = Some(*to);
                let newly_clinical = clinical && !t.clinical;
                t.clinical |= clinical;
                let t = *t;
                let warm = *mode == TransferMode::Warm;
                self.each(&t, |c| {
                    if warm {
                        c.transfers_warm += 1;
                    } else {
                        c.transfers_cold += 1;
                    }
                    // A hand-over to a clinician: into a clinical queue
                    // from outside one (not clinician to clinician).
                    if newly_clinical {
                        if warm {
                            c.clinical_transfers_warm += 1;
                        } else {
                            c.clinical_transfers_cold += 1;
                        }
                    }
                    if newly_clinical {
                        c.clinical += 1;
                    }
                });
                let _ = from;
            }
            Event::TransferRequested {
                contact,
                mode: TransferMode::Cold,
                ..
            } => {
                if let Some(t) = self.contacts.get_mut(contact) {
                    if let Some(s) = t.segment_start.take() {
                        t.talk_ms += at.since(s).0.max(0) as u64;
                    }
                    t.transferred = true;
                }
            }
            Event::Ended { contact, agent, .. } => {
                if let Some(mut t) = self.contacts.remove(contact) {
                    if let Some(s) = t.segment_start.take() {
                        t.talk_ms += at.since(s).0.max(0) as u64;
                    }
                    if let Some(s) = t.hold_since.take() {
                        t.hold_ms += at.since(s).0.max(0) as u64;
                    }
                    let first = !t.transferred;
                    self.each(&t, |c| {
                        c.completed += 1;
                        if first {
                            c.completed_first_contact += 1;
                        }
                    });
                    if let Some((k, v)) = self.just_ended.replace(((*agent, *contact), (at, t))) {
                        self.wrapping.insert(k, v);
                    }
                }
            }
            Event::WrapUpEnded { agent, contact } => {
                self.agent_items(*agent, at, -1);
                let key = (*agent, *contact);
                let held = match self.just_ended.take() {
                    Some((k, v)) if k == key => Some(v),
                    Some((k, v)) => {
                        self.wrapping.insert(k, v);
                        self.wrapping.remove(&key)
                    }
                    None => self.wrapping.remove(&key),
                };
                if let Some((ended_at, t)) = held {
                    let wrap = at.since(ended_at).0.max(0) as u64;
                    let talk = t.talk_ms.saturating_sub(t.hold_ms);
                    let hold = t.hold_ms;
                    let i = t.interval;
                    self.each(&t, |c| {
                        c.handled += 1;
                        c.talk_ms += talk;
                        c.hold_ms += hold;
                        c.wrap_ms += wrap;
                    });
                    self.each_agent(*agent, i, |c| {
                        c.handled += 1;
                        c.talk_ms += talk;
                        c.hold_ms += hold;
                        c.wrap_ms += wrap;
                    });
                }
            }
            Event::Abandoned {
                contact, waited, ..
            } => {
                if let Some(t) = self.contacts.remove(contact) {
                    // A contact answered before (then cold-transferred) that
                    // hangs up in the next queue was answered, not abandoned.
                    if t.answered_at.is_some() {
                        return;
                    }
                    let w = *waited;
                    let short = w < self.cfg.short_abandon;
                    let after_target = w > self.target(t.queue);
                    let missed = t.deadline.is_some();
                    self.each(&t, |c| {
                        if missed {
                            c.clinical_callbacks_missed += 1;
                        }
                        c.abandoned += 1;
                        if short {
                            c.abandoned_short += 1;
                        }
                        if w < DurationMs::from_secs(30) {
                            c.abandoned_under_30s += 1;
                        } else if w <= DurationMs::from_secs(60) {
                            c.abandoned_30_to_60s += 1;
                        } else {
                            c.abandoned_over_60s += 1;
                        }
                        if after_target {
                            c.abandoned_after_target += 1;
                        }
                    });
                }
            }
            Event::Voicemail { contact, .. } => {
                if let Some(t) = self.contacts.remove(contact) {
                    self.each(&t, |c| c.voicemail += 1);
                }
            }
            Event::Refused { contact, .. } => {
                if let Some(t) = self.contacts.remove(contact) {
                    self.each(&t, |c| c.refused += 1);
                }
            }
            Event::Cancelled { contact, .. } => {
                // A clinical callback cancelled before it was answered was
                // not made in time.
                if let Some(t) = self.contacts.remove(contact) {
                    if t.deadline.is_some() && t.answered_at.is_none() {
                        self.each(&t, |c| c.clinical_callbacks_missed += 1);
                    }
                }
            }
            Event::PresenceChanged { agent, presence } => {
                let ready = *presence == Presence::Ready;
                let offline = *presence == Presence::Offline;
                self.agent_change(*agent, at, |st| {
                    st.presence_ready = ready;
                    st.presence_offline = offline;
                });
            }
            _ => {}
        }
    }

    /// Closes agent time up to `now` (call before reporting).
    pub fn close(&mut self, now: Timestamp) {
        // In any order: the times are sums of integers.
        let Kpi {
            agents, store, cfg, ..
        } = self;
        for st in agents.values_mut() {
            accrue(st, store, cfg, now);
        }
    }

    /// Takes out of memory the intervals that have closed for good, to be
    /// kept elsewhere (the server persists them): every interval starting
    /// before `before` and before the arrival interval of every contact
    /// still counted (whose later events still count there). Returns the
    /// start of the first interval kept and the non-empty intervals
    /// taken, each with its start.
    pub fn retire(
        &mut self,
        before: Timestamp,
    ) -> (Timestamp, Vec<(Dimension, Timestamp, Counts)>) {
        // A booked callback not yet due counts nothing more where it was
        // booked: it does not hold that interval back.
        let tracked = self
            .contacts
            .values()
            .filter(|t| !t.booked)
            .chain(self.wrapping.values().map(|(_, t)| t))
            .chain(self.just_ended.iter().map(|(_, (_, t))| t))
            .map(|t| t.interval)
            .min();
        let cut = self.interval_of(before).min(tracked.unwrap_or(i64::MAX));
        let start_of = |i: i64| self.cfg.origin.plus(DurationMs(i * self.cfg.interval.0));
        let mut out = Vec::new();
        let empty = Counts::default();
        for (se, d) in self.store.series.iter_mut().zip(&self.store.dims) {
            while se.first < cut {
                let Some(c) = se.counts.pop_front() else {
                    break;
                };
                if c != empty {
                    out.push((d.clone(), start_of(se.first), c));
                }
                se.first += 1;
            }
        }
        (start_of(cut), out)
    }

    /// Puts back intervals [`Kpi::retire`] took (when keeping them
    /// elsewhere failed).
    pub fn reinstate(&mut self, rows: Vec<(Dimension, Timestamp, Counts)>) {
        for (d, start, c) in rows {
            let s = self.store.id(d);
            let i = self.interval_of(start);
            self.store.at(s, i).merge(&c);
        }
    }

    /// The report: every row, sorted by dimension then interval; with
    /// totals rows (interval `None`) where configured.
    pub fn report(&self) -> Vec<Row> {
        let mut keyed: Vec<(&Dimension, i64, &Counts)> = self.store.rows().collect();
        keyed.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut out = Vec::with_capacity(keyed.len() + 16);
        let mut totals: BTreeMap<Dimension, Counts> = BTreeMap::new();
        for (d, i, c) in keyed {
            let mut counts = c.clone();
            if self.cfg.totals {
                totals.entry(d.clone()).or_default().merge(&counts);
            }
            let figures = counts.figures();
            out.push(Row {
                dimension: d.clone(),
                interval_start: Some(self.cfg.origin.plus(DurationMs(i * self.cfg.interval.0))),
                counts,
                figures,
            });
        }
        for (d, mut counts) in totals {
            let figures = counts.figures();
            out.push(Row {
                dimension: d,
                interval_start: None,
                counts,
                figures,
            });
        }
        out
    }

    /// Just the whole-run overall row.
    pub fn overall(&self) -> Row {
        self.overall_between(Timestamp(i64::MIN / 4), Timestamp(i64::MAX / 4))
    }

    /// The overall row over the intervals that start at or after `t0` and
    /// before `t1` (a simulation leaves out its warm-up and the drain after
    /// arrivals stop).
    pub fn overall_between(&self, t0: Timestamp, t1: Timestamp) -> Row {
        let start_of = |i: i64| self.cfg.origin.plus(DurationMs(i * self.cfg.interval.0));
        let se = &self.store.series[0];
        let mut counts = Counts::default();
        for (k, c) in se.counts.iter().enumerate() {
            let st = start_of(se.first + k as i64);
            if st >= t0 && st < t1 {
                counts.merge(c);
            }
        }
        let figures = counts.figures();
        Row {
            dimension: Dimension::Overall,
            interval_start: None,
            counts,
            figures,
        }
    }

    /// One dimension's counts over the intervals that start at or after
    /// `t0` and before `t1`, without the waits behind the 95th percentile
    /// (`waits_ms` empty) unless `with_waits`. Reads that dimension's
    /// series only: the cost is the number of intervals in the period,
    /// whatever the number of contacts, agents or other dimensions.
    pub fn sum_between(
        &self,
        d: &Dimension,
        t0: Timestamp,
        t1: Timestamp,
        with_waits: bool,
    ) -> Counts {
        let mut counts = Counts::default();
        let Some(&s) = self.store.index.get(d) else {
            return counts;
        };
        let se = &self.store.series[s as usize];
        // The intervals starting in [t0, t1): from ceil((t0 - origin) / len).
        let len = self.cfg.interval.0;
        let first = (t0.since(self.cfg.origin).0 + len - 1).div_euclid(len);
        let end = (t1.since(self.cfg.origin).0 + len - 1).div_euclid(len);
        let from = (first - se.first).clamp(0, se.counts.len() as i64) as usize;
        let to = (end - se.first).clamp(0, se.counts.len() as i64) as usize;
        for c in se.counts.range(from..to.max(from)) {
            if with_waits {
                counts.merge(c);
            } else {
                counts.merge_totals(c);
            }
        }
        counts
    }

    /// Contacts still being tracked (not yet ended).
    pub fn open_contacts(&self) -> usize {
        self.contacts.len()
    }
}
