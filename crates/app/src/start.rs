//! Start-up: the store opened, every organisation's engine rebuilt from
//! its latest snapshot and the log's tail, the engine task started.

use crate::engine::{engine_task, Command};
use crate::snapshots::Snapshots;
use crate::state::AppInner;
use crate::{auth, clinical, planning, wall_clock, App, ContactIds, Tenant};
use model::OrgId;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use store::directory::Directory;
use store::{SqliteStore, Store};
use tokio::sync::{mpsc, oneshot};

/// Logged inputs between snapshots unless told otherwise: at ~2 µs an
/// input, a restart replays at most ~0.2 s of tail.
pub const SNAPSHOT_EVERY: u64 = 100_000;

/// What the core needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// The data directory (the SQLite store and directory).
    pub data: PathBuf,
    /// A snapshot of an organisation's state after this many logged
    /// inputs (and on a clean shutdown), so a restart replays only the
    /// tail of the log.
    pub snapshot_every: u64,
    /// The key-encryption key for free text at rest; `None`: the one in
    /// DATA/keys/notes.kek (made on first start).
    pub kek: Option<crate::seal::Kek>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Clinical(String),
    #[error("keys: {0}")]
    Keys(String),
}

/// The core, started: the handle every adapter shares, and the engine
/// task to stop.
pub struct Running {
    pub app: App,
    task: tokio::task::JoinHandle<()>,
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Running {
    /// Tells the live streams to end (their connections close).
    pub fn end_streams(&self) {
        let _ = self.stopping.send(true);
    }

    /// Stops the engine task after a last snapshot, so the next start
    /// replays nothing (waits at most 30 s for it).
    pub async fn stop(self) {
        self.end_streams();
        let (done, stopped) = oneshot::channel();
        if self.app.tx.send(Command::Stop(done)).await.is_ok() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), stopped).await;
        }
        self.task.abort();
    }
}

/// Opens the store in `config.data`, rebuilds every organisation's engine
/// from it and starts the engine task (on the current tokio runtime).
pub async fn start(config: &Config) -> Result<Running, StartError> {
    crate::keys::private_dir(&config.data)
        .map_err(|e| StartError::Keys(format!("cannot create {}: {e}", config.data.display())))?;
    let device_key =
        crate::keys::key_file(&config.data.join("keys/device.key")).map_err(StartError::Keys)?;
    let kek = match &config.kek {
        Some(k) => k.clone(),
        None => {
            let path = config.data.join("keys/notes.kek");
            tracing::info!(
                "notes are sealed under {} (kept with the data: set SWITCHBOARD_KEK or --kek-file to keep it apart)",
                path.display()
            );
            crate::seal::Kek::new(crate::keys::key_file(&path).map_err(StartError::Keys)?)
        }
    };
    let st = SqliteStore::open(&config.data)?;
    let dir = Directory::open(&config.data)?;
    if st.organisations()?.is_empty() {
        tracing::info!(
            "no organisation yet: run `switchboard bootstrap --data {}` to create one and its first admin",
            config.data.display()
        );
    }
    let started = std::time::Instant::now();
    let recovery = store::recover_all(&st, &|config| {
        kpi::Kpi::new(kpi::KpiConfig::from_routing(
            model::DurationMs::from_secs(15 * 60),
            config,
        ))
    })?;
    for note in &recovery.notes {
        tracing::warn!("{note}");
    }
    let mut tenants: BTreeMap<OrgId, Tenant> = BTreeMap::new();
    let (mut live, mut replayed, mut from_snapshots) = (0, 0, 0);
    for (org, r) in recovery.tenants {
        live += r.state.engine.live_contacts();
        replayed += r.replayed;
        from_snapshots += usize::from(r.snapshot.is_some());
        let mut t = Tenant::new(r.state.engine, r.state.kpi);
        // History already in the store leaves memory (a replay from
        // further back than the last snapshot rebuilds it there).
        t.kpi_before = st.kpi_retired_before(org)?;
        if let Some(b) = t.kpi_before {
            let _ = t.kpi.retire(b);
        }
        let now = wall_clock().max(t.engine.now());
        t.fire_timers(now);
        tenants.insert(org, t);
    }
    tracing::info!(
        "recovered {} organisations ({from_snapshots} from snapshots) with {live} live contacts from {}, replaying {replayed} log entries, in {:.0} ms",
        tenants.len(),
        config.data.display(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let clinical = clinical::load(&dir).map_err(StartError::Clinical)?;
    let ids = Arc::new(ContactIds::starting_at(st.next_contact_id()?));
    let (tx, rx) = mpsc::channel(1024);
    let dir = Arc::new(Mutex::new(dir));
    let orgs = tenants.keys().copied().collect();
    let lives = tenants.iter().map(|(&o, t)| (o, t.shared())).collect();
    let wake = Arc::new(tokio::sync::Notify::new());
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let task = tokio::spawn(engine_task(
        tenants,
        st,
        rx,
        Snapshots::every(config.snapshot_every, recovery.last_seq),
        dir.clone(),
        wake.clone(),
        metrics.clone(),
    ));
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let app = App(Arc::new(AppInner {
        tx,
        stop,
        dir,
        limiter: Arc::default(),
        device_key,
        kek,
        metrics,
        cache: Arc::default(),
        published: Arc::default(),
        clinical,
        outbox: Arc::default(),
        sessions: auth::SessionPolicy::default(),
        ids,
        planning: Arc::new(planning::PlanningGate::new()),
        orgs,
        lives,
        wake,
    }));
    Ok(Running {
        app,
        task,
        stopping,
    })
}
