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

mod config;
mod contacts;
mod directory;
mod error;
mod gate;
mod live;
pub mod net;
mod patients;
mod people;
mod planning;
mod referral;
mod reports;
pub mod routes;
mod services;
mod triage;
mod web;
pub mod wire;

pub use app::{wall_clock, SNAPSHOT_EVERY};
pub use error::ApiError;
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
}

/// How often the log-in throttle's refusals are summarised into the
/// audit trail.
pub const REFUSALS_AUDITED_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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
    refusals: tokio::task::JoinHandle<()>,
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
        let running = app::start(&app::Config {
            data: opts.data.clone(),
            snapshot_every: opts.snapshot_every,
        })
        .await?;
        let app = running.app.clone();
        let mut edge = VoiceEdge::default();
        if let Some(v) = opts.voice {
            let required = v.required;
            match voice::start(app.clone(), v, &app.orgs).await {
                Ok(v) => edge = VoiceEdge(Some(v)),
                Err(e) if required => return Err(ServerError::Other(format!("SIP: {e}"))),
                Err(e) => tracing::warn!("SIP edge not started: {e}"),
            }
        }
        let outbox = tokio::spawn(referral::worker(app.clone(), app.outbox.clone()));
        let refusals = {
            let (app, voice) = (app.clone(), edge.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(REFUSALS_AUDITED_EVERY);
                every.tick().await;
                loop {
                    every.tick().await;
                    audit_refusals(&app, &voice).await;
                }
            })
        };
        let router = routes::router(app, edge.clone(), Arc::new(opts.edge));
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| ServerError::Listen {
                addr: opts.listen,
                problem: e.to_string(),
            })?;
        Ok(Application {
            running,
            voice: edge,
            listener,
            router,
            outbox,
            refusals,
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
            refusals,
        } = self;
        let (ended, on_end) = tokio::sync::oneshot::channel::<()>();
        tracing::info!(
            "listening on http://{}",
            listener
                .local_addr()
                .map_err(|e| ServerError::Other(e.to_string()))?
        );
        let served = {
            let streams = running.app.clone();
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = ended.send(());
                drop(streams);
            })
        };
        // The live streams hold their connections open: they end when the
        // shutdown begins, so the graceful shutdown can finish.
        let stopper = async {
            let _ = on_end.await;
            running.end_streams();
        };
        let (r, ()) = tokio::join!(served, stopper);
        r.map_err(|e| ServerError::Other(e.to_string()))?;
        refusals.abort();
        audit_refusals(&running.app, &voice).await;
        if let Some(v) = &voice.0 {
            v.stop();
        }
        running.stop().await;
        outbox.abort();
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
