//! Switchboard's HTTP adapter, and [`Application`], which puts the core
//! (`app`), the voice edge (`voice`) and this adapter together.
//!
//! Every request is authenticated (a session cookie for people, a bearer
//! token for integrations) and authorised against the route table
//! ([`routes::routes`]): the permission each route needs, checked before the
//! handler runs. The OpenAPI document is generated from the same table.
//! Handlers translate: a request into the core's calls, the core's answer
//! (or its typed [`app::Error`], through [`ApiError`]) into JSON.

// Handler helpers return axum's `Response` as their error: it is what a
// handler answers with, and these are cold paths (a refused request).
#![allow(clippy::result_large_err)]

mod campaigns;
mod chat;
mod chat_api;
mod chat_figures;
mod chat_files;
mod chat_socket;
mod config;
mod contacts;
mod directory;
pub mod email;
mod error;
mod gate;
mod listen;
mod live;
pub mod metrics;
mod mfa;
pub mod net;
mod notes;
pub mod notify;
pub mod outbound;
mod passkeys;
mod patients;
mod people;
mod phone;
mod planning;
mod quality;
mod recordings;
mod referral;
mod reports;
mod review;
pub mod routes;
mod services;
mod surveys;
pub mod tls;
mod triage;
mod web;
pub mod wire;
mod written;

pub use app::{wall_clock, SNAPSHOT_EVERY};
pub use error::ApiError;
pub use listen::Limits;
pub use voice::VoiceOptions;

pub(crate) use app::{App, Caller};
pub(crate) use error::error;
pub(crate) use gate::Origin;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Start(#[from] app::StartError),
    #[error("cannot listen on {addr}: {problem}")]
    Listen { addr: SocketAddr, problem: String },
    #[error("{0}")]
    Other(String),
}

pub struct Options {
    pub data: PathBuf,
    pub listen: SocketAddr,
    /// The SIP edge (telephony), if on.
    pub voice: Option<VoiceOptions>,
    /// A snapshot of an organisation's state after this many logged
    /// inputs (and on a clean shutdown), so a restart replays only the
    /// tail of the log.
    pub snapshot_every: u64,
    /// How the HTTP edge meets the network (trusted proxies, TLS).
    pub edge: net::Edge,
    /// Where the server may send requests of its own (referrals).
    pub outbound: outbound::OutboundOptions,
    /// HTTPS: the certificate and key files (none: plain HTTP).
    pub tls: Option<tls::TlsFiles>,
    /// Connections: how many, per address, idle timeout.
    pub limits: Limits,
    /// The audit chain's checkpoints (default DATA/audit-anchors.log;
    /// better on another volume, or storage that only appends).
    pub audit_anchors: Option<PathBuf>,
    /// The key-encryption key for notes at rest (default: made in
    /// DATA/keys/notes.kek).
    pub kek: Option<app::seal::Kek>,
    /// The token `GET /metrics` takes (none: metrics are off).
    pub metrics_token: Option<String>,
    /// Email mailboxes and GOV.UK Notify (`--channels FILE`).
    pub channels: Channels,
}

/// The written channels' configuration (`--channels FILE`, TOML): the
/// mailboxes read over IMAP and answered over SMTP, and GOV.UK Notify for
/// text messages.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    #[serde(default)]
    pub mailbox: Vec<email::MailboxConfig>,
    #[serde(default)]
    pub notify: Option<notify::NotifyConfig>,
}

impl Channels {
    /// Reads and checks a channels file, naming the problem.
    pub fn read(path: &std::path::Path) -> Result<Channels, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let c: Channels = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for m in &c.mailbox {
            m.check().map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(c)
    }
}

/// How often the audit chain's head is checkpointed (if it moved).
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Where the checkpoints go by default, and their key.
pub fn default_anchors(data: &std::path::Path) -> PathBuf {
    data.join("audit-anchors.log")
}

pub fn anchor_key_file(data: &std::path::Path) -> PathBuf {
    data.join("keys/audit-anchor.key")
}

pub fn anchor_key(data: &std::path::Path) -> Result<[u8; 32], String> {
    app::keys::key_file(&anchor_key_file(data))
}

/// Writes a checkpoint of the audit chain's head if it moved (and says
/// so in the log: a second copy, wherever the logs go).
async fn checkpoint(app: &App, anchors: &std::sync::Mutex<app::anchor::Anchors>) {
    let head = match app.dir(|d| d.audit_head()).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("audit checkpoint: the head could not be read: {e:?}");
            return;
        }
    };
    let written = anchors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .record(head, wall_clock());
    match written {
        Ok(Some(c)) => tracing::info!("audit checkpoint: record {} hash {}", c.seq, c.hash),
        Ok(None) => {}
        Err(e) => tracing::error!("audit checkpoint not written: {e}"),
    }
}

/// How often the log-in throttle's refusals are summarised into the
/// audit trail.
pub const REFUSALS_AUDITED_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The audit chain's checkpoints, for the auditor's chain status.
#[derive(Clone)]
pub(crate) struct AuditAnchors(pub(crate) Arc<std::sync::Mutex<app::anchor::Anchors>>);

/// The voice edge as the HTTP handlers see it (the call journal, whether
/// a flow is loaded), if it is on.
#[derive(Clone, Default)]
pub(crate) struct VoiceEdge(pub(crate) Option<Arc<voice::Voice>>);

/// The whole server, built and listening: the core started (every
/// organisation recovered), the SIP edge if asked for, the referral
/// outbox, and the HTTP listener bound (to an ephemeral port if the
/// options say port 0, for tests in process).
pub struct Application {
    running: app::Running,
    voice: VoiceEdge,
    listener: tokio::net::TcpListener,
    router: axum::Router,
    outbox: tokio::task::JoinHandle<()>,
    /// The mailboxes' readers and senders, the texts' sender.
    channel_tasks: Vec<tokio::task::JoinHandle<()>>,
    refusals: tokio::task::JoinHandle<()>,
    edge: Arc<net::Edge>,
    certs: Option<Arc<tls::Certs>>,
    limits: Limits,
    anchors: Arc<std::sync::Mutex<app::anchor::Anchors>>,
    checkpoints: tokio::task::JoinHandle<()>,
}

/// Writes the throttles' summaries (log-ins; phone registrations) to the
/// audit trail.
async fn audit_refusals(app: &App, voice: &VoiceEdge) {
    people::audit_refused_log_ins(app).await;
    if let Some(v) = &voice.0 {
        v.audit_refused_registrations();
    }
}

impl Application {
    /// Starts the core from `opts.data`, then the edges; nothing is served
    /// until [`Application::run`].
    pub async fn build(opts: Options) -> Result<Application, ServerError> {
        // Certificates first: a bad file stops the start before anything
        // else is opened.
        let certs = match &opts.tls {
            Some(files) => Some(Arc::new(
                tls::Certs::load(files.clone()).map_err(ServerError::Other)?,
            )),
            None => None,
        };
        let edge = Arc::new(net::Edge {
            tls: certs.is_some(),
            ..opts.edge.clone()
        });
        let anchors = {
            let path = opts
                .audit_anchors
                .clone()
                .unwrap_or_else(|| default_anchors(&opts.data));
            let key = anchor_key(&opts.data).map_err(ServerError::Other)?;
            Arc::new(std::sync::Mutex::new(
                app::anchor::Anchors::open(&path, key).map_err(ServerError::Other)?,
            ))
        };
        let running = app::start(&app::Config {
            data: opts.data.clone(),
            snapshot_every: opts.snapshot_every,
            kek: opts.kek.clone(),
        })
        .await?;
        let app = running.app.clone();
        let mut voice_edge = VoiceEdge::default();
        if let Some(v) = opts.voice {
            let required = v.required;
            match voice::start(app.clone(), v, &app.orgs).await {
                Ok(v) => voice_edge = VoiceEdge(Some(v)),
                Err(e) if required => return Err(ServerError::Other(format!("SIP: {e}"))),
                Err(e) => tracing::warn!("SIP edge not started: {e}"),
            }
        }
        let outbound =
            Arc::new(outbound::Outbound::new(&opts.outbound).map_err(ServerError::Other)?);
        let outbox = tokio::spawn(referral::worker(
            app.clone(),
            app.outbox.clone(),
            outbound.clone(),
        ));
        let refusals = {
            let (app, voice) = (app.clone(), voice_edge.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(REFUSALS_AUDITED_EVERY);
                every.tick().await;
                loop {
                    every.tick().await;
                    audit_refusals(&app, &voice).await;
                }
            })
        };
        let checkpoints = {
            let (app, anchors) = (app.clone(), anchors.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(CHECKPOINT_EVERY);
                loop {
                    every.tick().await;
                    checkpoint(&app, &anchors).await;
                }
            })
        };
        if opts
            .metrics_token
            .as_ref()
            .is_some_and(|t| t.trim().len() < metrics::MIN_TOKEN)
        {
            return Err(ServerError::Other(format!(
                "the metrics token: at least {} characters",
                metrics::MIN_TOKEN
            )));
        }
        let access = Arc::new(metrics::MetricsAccess::new(
            opts.metrics_token.as_deref().map(str::trim),
        ));
        let scrape = axum::routing::get(metrics::metrics)
            .layer(axum::Extension(access))
            .with_state(app.clone());
        // Web chats: those that had not ended when the server stopped go on.
        let chats = chat::Chats::new(
            app.clone(),
            voice_edge.0.as_ref(),
            Default::default(),
            opts.data.join("chat-files"),
        );
        chats.sweep().await;
        chats.sweep_forever();
        // Notify's settings are checked before anything is resumed.
        let notify = match opts.channels.notify.clone() {
            Some(cfg) => Some(Arc::new(
                notify::Notify::new(cfg, outbound.clone()).map_err(ServerError::Other)?,
            )),
            None => None,
        };
        if let Some(n) = &notify {
            let _ = chats.notify.set(n.clone());
        }
        let resumed = chats.resume_all().await;
        if resumed > 0 {
            tracing::info!(chats = resumed, "web chats resumed");
        }
        // Email and texts: their readers and senders, once every
        // conversation that was open is carried on.
        let mut channel_tasks = email::start(&app, &chats, &outbound, &opts.channels.mailbox)
            .await
            .map_err(ServerError::Other)?;
        if let Some(n) = notify {
            channel_tasks.push(tokio::spawn(notify::sender(n, chats.clone())));
            channel_tasks.extend(surveys::start(&app, &chats));
        }
        let router = routes::router(
            app,
            voice_edge.clone(),
            edge.clone(),
            outbound,
            chats,
            AuditAnchors(anchors.clone()),
        )
        .route("/metrics", scrape);
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| ServerError::Listen {
                addr: opts.listen,
                problem: e.to_string(),
            })?;
        Ok(Application {
            running,
            voice: voice_edge,
            listener,
            router,
            outbox,
            channel_tasks,
            refusals,
            edge,
            certs,
            limits: opts.limits,
            anchors,
            checkpoints,
        })
    }

    /// The core, for what runs beside the server (the demo's simulated
    /// callers).
    pub fn app(&self) -> &App {
        &self.running.app
    }

    /// Where HTTP is served.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops cleanly: the live
    /// streams end, the SIP edge stops, and the engine writes its last
    /// snapshots (the next start replays nothing).
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Application {
            running,
            voice,
            listener,
            router,
            outbox,
            channel_tasks,
            refusals,
            edge,
            certs,
            limits,
            anchors,
            checkpoints,
        } = self;
        let (ended, on_end) = tokio::sync::oneshot::channel::<()>();
        let scheme = if certs.is_some() { "https" } else { "http" };
        tracing::info!(
            "listening on {scheme}://{}",
            listener
                .local_addr()
                .map_err(|e| ServerError::Other(e.to_string()))?
        );
        // SIGHUP reads the certificate files again (a renewal).
        let reloads = certs.clone().map(|certs| {
            tokio::spawn(async move {
                let Ok(mut hup) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                else {
                    return;
                };
                while hup.recv().await.is_some() {
                    match certs.reload() {
                        Ok(()) => tracing::info!("TLS certificate reloaded"),
                        Err(e) => {
                            tracing::error!("TLS certificate not reloaded, the old one stays: {e}")
                        }
                    }
                }
            })
        });
        let served = listen::serve(listener, router, edge, certs, limits, async move {
            shutdown.await;
            let _ = ended.send(());
        });
        // The live streams hold their connections open: they end when the
        // shutdown begins, so the graceful shutdown can finish.
        let stopper = async {
            let _ = on_end.await;
            running.end_streams();
        };
        let ((), ()) = tokio::join!(served, stopper);
        if let Some(r) = reloads {
            r.abort();
        }
        refusals.abort();
        audit_refusals(&running.app, &voice).await;
        if let Some(v) = &voice.0 {
            v.stop();
        }
        let app = running.app.clone();
        running.stop().await;
        checkpoints.abort();
        checkpoint(&app, &anchors).await;
        outbox.abort();
        for t in channel_tasks {
            t.abort();
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Serves until SIGTERM or Ctrl-C.
pub async fn serve(opts: Options) -> Result<(), ServerError> {
    Application::build(opts).await?.run(shutdown_signal()).await
}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
