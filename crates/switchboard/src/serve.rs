//! `switchboard serve`: the demo's organisations, people and directory
//! seeded on first run (`--demo`), the server built and run, and the
//! demo's simulated callers beside it.

use anyhow::Result;
use model::OrgId;
use std::path::{Path, PathBuf};
use store::directory::Directory;
use store::SqliteStore;

pub struct Serve {
    pub server: server::Options,
    pub demo: bool,
    pub traffic: Option<crate::demo_traffic::DemoOptions>,
}

pub fn run(opts: Serve) -> Result<()> {
    let people = if opts.demo {
        seed_demo(&opts.server.data)?
    } else {
        Vec::new()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let application = server::Application::build(opts.server).await?;
        let core = application.app().clone();
        let first = core.orgs.first().copied();
        let driver = match (opts.traffic, first) {
            (Some(d), Some(org)) => {
                let config = core
                    .read(org, |t, _| t.engine.config())
                    .await
                    .map_err(|e| anyhow::anyhow!("demo: {e}"))?;
                let events = core.subscribe(org).await.map(|(rx, _)| rx);
                events.map(|events| {
                    tracing::info!(
                        "demo: {:.1} simulated calls a minute, simulated agents answering",
                        d.calls_per_minute
                    );
                    let agents = people
                        .iter()
                        .filter(|p| p.org == org)
                        .filter_map(|p| p.agent)
                        .collect();
                    tokio::spawn(crate::demo_traffic::drive(
                        core.clone(),
                        org,
                        events,
                        config,
                        agents,
                        d,
                    ))
                })
            }
            _ => None,
        };
        if !people.is_empty() {
            tracing::info!(
                "demo log-ins (password \"{}\", demo accounts only):",
                crate::seed::DEMO_PASSWORD
            );
            for p in &people {
                tracing::info!("  {:<22} {}", p.username, p.what);
            }
        }
        application
            .run(async move {
                server::shutdown_signal().await;
                if let Some(d) = &driver {
                    d.abort();
                }
            })
            .await?;
        Ok(())
    })
}

/// The demo organisations and people (first run only) and, if the
/// directory is empty, the Directory of Services from the real ODS
/// extracts in `../shared/data` when they are there.
fn seed_demo(data: &Path) -> Result<Vec<crate::seed::DemoPerson>> {
    let mut st = SqliteStore::open(data)?;
    let mut dir = Directory::open(data)?;
    let people = crate::seed::demo(&mut st, &mut dir)?;
    if dir.dos_services()?.is_empty() {
        demo_directory(&mut dir);
    }
    Ok(people)
}

fn demo_directory(dir: &mut Directory) {
    let shared = Path::new("../shared/data");
    let read = |f: &str| std::fs::read_to_string(shared.join(f)).ok();
    let (Some(practices), Some(centroids)) = (
        read("ods-gp-practices-epraccur-2020.csv"),
        read("uk-outcode-centroids-2014.csv"),
    ) else {
        tracing::info!("demo: no ../shared/data ODS extracts here, so the Directory of Services is empty (switchboard dos import fills it)");
        return;
    };
    let trusts = read("ods-nhs-trusts-etr-2021.csv");
    // A maintained list of trusts with an emergency department, when the
    // shared data has one; else the guess from the trusts' names.
    let eds = read("emergency-departments.csv");
    let source = match &eds {
        Some(list) => app::dosload::EdSource::Listed(list),
        None => app::dosload::EdSource::Guessed,
    };
    let Ok(set) = app::clinical::demo_pathways() else {
        return;
    };
    let built = app::dosload::build(
        &set,
        &practices,
        trusts.as_deref().map(|t| (t, source)),
        &centroids,
    )
    .and_then(|imp| {
        let directory = crate::dosfile::demo_directory(&set, imp.services.clone())?;
        app::dosload::save_directory(dir, OrgId(1), &directory, &imp.centroids, "demo")
            .map(|()| imp)
    });
    match built {
        Ok(imp) => tracing::info!(
            "demo: Directory of Services from ../shared/data: {} GP practices, {} emergency departments ({} rows skipped), and the example Kent services (examples/dos/kent-directory.json)",
            imp.practices,
            imp.eds,
            imp.skipped.len()
        ),
        Err(e) => tracing::warn!("demo: could not build the Directory of Services: {e}"),
    }
}

/// `switchboard serve`'s options.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Data directory (created on first run).
    #[arg(long, default_value = "switchboard-data")]
    pub data: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Seeds two demo organisations with clearly marked demo log-ins
    /// (first run), and drives simulated callers and agents in real
    /// time in the first, so the live stream and KPIs have traffic.
    #[arg(long)]
    pub demo: bool,
    /// Demo arrivals a minute over all queues (0: no simulated traffic).
    #[arg(long, default_value_t = 6.0, value_parser = crate::calls_per_minute)]
    pub demo_calls_per_minute: f64,
    /// Where the SIP edge listens, UDP and TCP ("off": no telephony).
    /// With --demo it defaults to 127.0.0.1:5060.
    #[arg(long)]
    pub sip: Option<String>,
    /// A trunk or PBX for outbound calls to numbers (callbacks ring
    /// sip:NUMBER@ADDR); without one, a callback rings the address the
    /// caller's phone called from.
    #[arg(long)]
    pub sip_trunk: Option<std::net::SocketAddr>,
    /// Seconds a call's leg may send no RTP before it is taken as gone
    /// (a phone that dropped off the network without hanging up); an
    /// address that has sent nothing is sent to for 5 s at most. A leg
    /// the far end holds may be quiet for 10 minutes.
    #[arg(long, default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(2..=3600))]
    pub media_timeout: u32,
    /// Folder of spoken prompts (made with espeak-ng and sox on first
    /// use); default DATA/prompts.
    #[arg(long)]
    pub prompts: Option<PathBuf>,
    /// Call-flow files (JSON) services may name; --demo adds the
    /// examples.
    #[arg(long)]
    pub flows: Vec<PathBuf>,
    /// Snapshot each organisation's state after this many logged
    /// inputs (and on a clean shutdown), so a restart loads it and
    /// replays only the log's tail.
    #[arg(long, default_value_t = server::SNAPSHOT_EVERY,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub snapshot_every: u64,
    /// Reverse proxies (addresses or networks such as 10.0.0.0/8,
    /// comma-separated) whose Forwarded, X-Forwarded-For and
    /// X-Forwarded-Proto headers give the client's address and
    /// scheme. Nobody else's are believed.
    #[arg(long, value_delimiter = ',')]
    pub trusted_proxy: Vec<server::net::Cidr>,
    /// Hosts (names, addresses or networks, comma-separated) referral
    /// endpoints may be on although they are not public HTTPS
    /// addresses: plain http:// and loopback or private ranges are
    /// refused for everything else.
    #[arg(long, value_delimiter = ',')]
    pub outbound_allow: Vec<server::outbound::Allowed>,
    /// Certificate authorities (PEM) trusted for HTTPS referral
    /// endpoints, beside the system's.
    #[arg(long)]
    pub outbound_ca: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM; with --tls-key).
    /// SIGHUP reads both files again. Plain HTTP to the port is
    /// redirected to https://.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// HTTP connections open at once; more are closed as they come.
    #[arg(long, default_value_t = 16_384,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// HTTP connections open at once from one client address
    /// (trusted proxies are exempt).
    #[arg(long, default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_address: u32,
    /// Seconds an HTTP connection may stay idle (or take to send a
    /// request's headers) before it is closed.
    #[arg(long, default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http_idle_timeout: u64,
    /// Where the audit chain's signed checkpoints are written (default
    /// DATA/audit-anchors.log): best on another volume or on storage
    /// that only appends, so cutting the database's tail is seen.
    #[arg(long)]
    pub audit_anchors: Option<PathBuf>,
    /// The key-encryption key for notes at rest: a file of 32 bytes or
    /// 64 hex digits, kept apart from the data (or SWITCHBOARD_KEK, 64
    /// hex digits). Without either, one is made in DATA/keys/notes.kek.
    #[arg(long)]
    pub kek_file: Option<PathBuf>,
    /// Serve Prometheus metrics at /metrics to a scraper giving the token
    /// in this file (at least 32 characters) as a bearer token.
    #[arg(long)]
    pub metrics_token_file: Option<PathBuf>,
    /// The written channels (TOML): `[[mailbox]]` entries (an email entry
    /// point's address, `imap`/`smtp` URLs, `username`, `password_file` or
    /// `oauth2_token_file`) and `[notify]` (GOV.UK Notify: `api_key_file`,
    /// `sms_template`, `callback_token_file`, `base_url`). See docs/email-sms.md.
    #[arg(long)]
    pub channels: Option<PathBuf>,
}
