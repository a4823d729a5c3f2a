//! The read model every "what is happening now" endpoint answers from: an
//! immutable snapshot of one organisation (the wallboard's figures, the
//! agents, the waiting lists asked for), built by the engine task at most
//! every 100 ms while things change (and every second while contacts wait,
//! as waits grow) and swapped behind an `Arc`. Readers never touch the
//! engine: a wallboard refresh costs routing nothing.
//!
//! Reads are consistent: [`crate::App::live`] answers with a snapshot that
//! includes every change applied before the read began (a client that has
//! just written reads its write). When the latest snapshot is older than
//! that, the reader asks for a prompt one (at most every 10 ms, whatever
//! the number of readers) and waits for it.
//!
//! Each snapshot's encodings (its JSON, its live-stream frame) are made
//! once, by the first reader that needs them, and the same bytes go to
//! every reader and subscriber after that.

use model::{ContactId, QueueId, Timestamp};
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::watch;

/// One agent as the read model has them.
#[derive(Clone, Debug)]
pub struct AgentRow {
    pub def: routing::AgentDef,
    pub view: routing::AgentView,
    /// The status in one word.
    pub word: String,
    /// In this status since (None: since before the server started).
    pub since: Option<Timestamp>,
}

/// The encodings an adapter keeps with a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Kpis,
    Agents,
    Queues,
    /// The live stream's frame of the KPIs.
    KpisFrame,
    /// The live stream's frame of the agents.
    AgentsFrame,
}

const ENCODINGS: usize = 5;

/// One published snapshot of an organisation.
#[derive(Debug)]
pub struct Live {
    /// The number of the engine's records it includes.
    pub version: u64,
    pub at: Timestamp,
    pub wallboard: crate::Wallboard,
    /// Changes whenever an agent's row does.
    pub agents_version: u64,
    /// Every agent, in id order.
    pub agents: Arc<Vec<Arc<AgentRow>>>,
    /// The waiting lists asked for in the last minute, first in line first.
    pub waiting: FxHashMap<QueueId, Arc<Vec<ContactId>>>,
    pub(crate) encoded: [OnceLock<bytes::Bytes>; ENCODINGS],
}

impl Live {
    /// This snapshot's encoding `kind`, made by `f` the first time it is
    /// asked for.
    pub fn encoded(&self, kind: Encoding, f: impl FnOnce(&Live) -> bytes::Bytes) -> bytes::Bytes {
        self.encoded[kind as usize].get_or_init(|| f(self)).clone()
    }
}

/// The readers' side of one organisation's read model.
#[derive(Debug)]
pub struct LiveShared {
    /// The engine's records applied so far: a read waits for a snapshot of
    /// at least this version.
    pub(crate) applied: AtomicU64,
    /// A reader waits: publish soon.
    pub(crate) hurry: AtomicBool,
    /// Waiting lists asked for, and when last.
    pub(crate) wanted: Mutex<FxHashMap<QueueId, Timestamp>>,
    pub(crate) tx: watch::Sender<Arc<Live>>,
    /// Offers made to agents since the server started, and of those
    /// declined or timed out (for `/metrics`).
    pub(crate) offers: AtomicU64,
    pub(crate) offers_missed: AtomicU64,
}

impl LiveShared {
    pub(crate) fn new() -> LiveShared {
        LiveShared {
            applied: AtomicU64::new(0),
            offers: AtomicU64::new(0),
            offers_missed: AtomicU64::new(0),
            hurry: AtomicBool::new(false),
            wanted: Mutex::default(),
            tx: watch::channel(Arc::new(Live {
                version: 0,
                at: Timestamp::ZERO,
                wallboard: crate::Wallboard {
                    at: Timestamp::ZERO,
                    overall: kpi::Kpi::new(kpi::KpiConfig::new(model::DurationMs(1))).overall(),
                    today: crate::Window::default(),
                    last_30_minutes: crate::Window::default(),
                    queues: Vec::new(),
                    agents_by_state: Default::default(),
                },
                agents_version: 0,
                agents: Arc::default(),
                waiting: FxHashMap::default(),
                encoded: Default::default(),
            }))
            .0,
        }
    }
}
