//! The `switchboard` binary: the one entry point for every job.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

mod args;
mod csv;
mod demo;
mod demo_traffic;
mod dosfile;
mod dosimport;
mod flows;
mod forecasting;
mod pathways;
mod rota;
mod scenario_file;
mod seed;
mod serve;
mod simulate;
mod staff;
mod whatif;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "An open contact centre for health services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the demo community trust through the routing engine for a
    /// simulated day and prints what happened, queue by queue.
    Demo {
        /// Hours of opening to simulate (from 08:00).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=24))]
        hours: u32,
        /// Seed for the simulated callers and agents; same seed, same day.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Also print the first N lines of the routing trace.
        #[arg(long, default_value_t = 40)]
        trace: usize,
    },
    /// Staffing by Erlang C (or Erlang A with --patience): the fewest agents
    /// meeting the target, or how a given staffing performs.
    Staff(Box<staff::StaffArgs>),
    /// The discrete-event simulator running the real routing engine: a
    /// quick single-queue mode, or a scenario file (--scenario).
    Simulate(Box<simulate::SimulateArgs>),
    /// Forecasts arrivals per interval from a history CSV, choosing the
    /// method by back-testing on the last two weeks.
    Forecast(Box<forecasting::ForecastArgs>),
    /// Planned shifts against a staffing requirement per interval, and
    /// suggested shifts for the gaps.
    Rota(Box<rota::RotaArgs>),
    /// The simulator on a forecast and a rota, with what-if changes
    /// (`--demand +30%`, `--callback-acceptance 0.5`, `--site-off-air X`).
    Whatif(Box<whatif::WhatIfArgs>),
    /// Serves the contact centre over HTTP (`/api/v1`, OpenAPI at
    /// `/api/v1/openapi.json`), every input committed to the store in
    /// --data before it is acknowledged and replayed from it at start-up.
    Serve(Box<serve::ServeArgs>),
    /// First run of a real installation: creates the organisation and its
    /// first admin, reading the admin's password from stdin (no default
    /// password). Refused once any account exists.
    Bootstrap {
        #[arg(long, default_value = "switchboard-data")]
        data: PathBuf,
        /// The organisation's name.
        #[arg(long)]
        org: String,
        /// The first admin's username.
        #[arg(long)]
        admin: String,
    },
    /// The audit log: `audit verify --data DIR` checks the hash chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Call flows (IVR): `flow check FILE...` validates flow files.
    Flow {
        #[command(subcommand)]
        command: FlowCommand,
    },
    /// The Directory of Services: `dos import` loads a directory file or
    /// ODS extracts into an organisation's directory, `dos export` writes
    /// it, `dos search` searches a directory file and explains why.
    Dos {
        #[command(subcommand)]
        command: DosCommand,
    },
    /// Triage pathways: `pathway check FILE` validates a set; `pathway run
    /// FILE --answers 1,2,...` walks a journey.
    Pathway {
        #[command(subcommand)]
        command: PathwayCommand,
    },
    /// GOV.UK Notify: `notify token --api-key-file FILE` prints the JWT a
    /// request made now would carry (to check it with Notify's own client).
    Notify {
        #[command(subcommand)]
        command: NotifyCommand,
    },
    /// Replays a routing script (see `routing::script`) against the demo
    /// trust and prints the trace.
    Route {
        /// The script file.
        script: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Checks that no audit record was changed, removed or reordered, and
    /// (against the server's signed checkpoints) that none was cut off
    /// the end.
    Verify {
        #[arg(long, default_value = "switchboard-data")]
        data: PathBuf,
        /// The checkpoint file (default DATA/audit-anchors.log).
        #[arg(long)]
        anchors: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DosCommand {
    /// Imports a directory file or ODS extracts (replacing the
    /// organisation's directory).
    Import(Box<dosimport::DosImportArgs>),
    /// Writes the organisation's directory as a directory file.
    Export(dosfile::ExportArgs),
    /// Searches a directory file and explains the answer service by
    /// service (`--json`: the answer as the API gives it).
    Search(Box<dosfile::SearchArgs>),
}

#[derive(Subcommand)]
enum PathwayCommand {
    /// Validates a pathway set (JSON) and prints its content hash.
    Check { file: PathBuf },
    /// Walks a journey by answer numbers (from 1) and prints each step and
    /// the disposition (or the next question).
    Run {
        file: PathBuf,
        /// Start at this pathway instead of the set's entry.
        #[arg(long)]
        from: Option<String>,
        /// The patient's state, e.g. `age_group=child,sex=female`.
        #[arg(long, default_value = "")]
        state: String,
        /// Answer numbers, e.g. `2,2,2,1`.
        #[arg(long, default_value = "")]
        answers: String,
    },
}

#[derive(Subcommand)]
enum NotifyCommand {
    /// Prints a token for a request made now.
    Token {
        #[arg(long)]
        api_key_file: PathBuf,
    },
}

#[derive(Subcommand)]
enum FlowCommand {
    /// Validates flow files (JSON) against the demo organisation.
    Check { files: Vec<PathBuf> },
}

/// The demo's call flows (examples/flows).
const DEMO_FLOWS: [&str; 3] = [
    include_str!("../../../examples/flows/kent-main.json"),
    include_str!("../../../examples/flows/wheelchairs.json"),
    include_str!("../../../examples/flows/paramedic.json"),
];

/// Where the server's events go: stderr, one line each, from the
/// project's own crates only, at the level `SWITCHBOARD_LOG` names (error,
/// warn, info — the default —, debug, trace). Third-party crates (the SIP
/// stack, HTTP) are silent: their messages may carry callers' numbers.
fn logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = match std::env::var("SWITCHBOARD_LOG").as_deref() {
        Ok("error") => LevelFilter::ERROR,
        Ok("warn") => LevelFilter::WARN,
        Ok("debug") => LevelFilter::DEBUG,
        Ok("trace") => LevelFilter::TRACE,
        Ok("off") => LevelFilter::OFF,
        _ => LevelFilter::INFO,
    };
    let ours = Targets::new()
        .with_target("app", level)
        .with_target("server", level)
        .with_target("voice", level)
        .with_target("store", level)
        .with_target("switchboard", level);
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_target(false),
        )
        .with(ours)
        .try_init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { hours, seed, trace } => {
            let report = demo::run(hours, seed, trace)?;
            print!("{report}");
        }
        Command::Staff(a) => print!("{}", staff::run(*a)?),
        Command::Simulate(a) => print!("{}", simulate::run(*a)?),
        Command::Forecast(a) => print!("{}", forecasting::run(*a)?),
        Command::Rota(a) => print!("{}", rota::run(*a)?),
        Command::Audit {
            command: AuditCommand::Verify { data, anchors },
        } => {
            anyhow::ensure!(
                data.join("switchboard.db").exists(),
                "no store in {}",
                data.display()
            );
            let st = store::SqliteStore::open(&data)?;
            let records = match store::Store::verify_audit(&st)? {
                store::AuditCheck::Intact { records } => records,
                store::AuditCheck::Broken { seq, problem } => {
                    anyhow::bail!("audit log broken at record {seq}: {problem}")
                }
            };
            let path = anchors.unwrap_or_else(|| server::default_anchors(&data));
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => anyhow::bail!("{}: {e}", path.display()),
            };
            // Read, never made: verify changes nothing.
            let checkpoints = if text.trim().is_empty() {
                Vec::new()
            } else {
                let key_file = server::anchor_key_file(&data);
                anyhow::ensure!(
                    key_file.exists(),
                    "{} holds checkpoints but their key {} is missing: they cannot be checked",
                    path.display(),
                    key_file.display()
                );
                let key = server::anchor_key(&data).map_err(anyhow::Error::msg)?;
                app::anchor::parse(&key, &text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            };
            let dir = store::directory::Directory::open(&data)?;
            let when = |t: model::Timestamp| {
                jiff::Timestamp::from_millisecond(t.0)
                    .map_or(t.0.to_string(), |t| format!("{t:.0}"))
            };
            match app::anchor::check(&checkpoints, records, |seq| {
                dir.audit_hash_at(seq).ok().flatten()
            }) {
                app::anchor::Verdict::Reaches { checkpoint, at } => println!(
                    "audit log intact: {records} records; it reaches the checkpoint of record {checkpoint} ({}) with the same hash",
                    when(at)
                ),
                app::anchor::Verdict::NoCheckpoints => println!(
                    "audit log intact: {records} records (no checkpoints in {}: records cut off the end could not be told)",
                    path.display()
                ),
                app::anchor::Verdict::Cut { log_ends, checkpoint, at } => anyhow::bail!(
                    "audit log cut: it ends at record {log_ends}, but the checkpoint of {} saw record {checkpoint}: {} records are missing from the end",
                    when(at),
                    checkpoint - log_ends
                ),
                app::anchor::Verdict::Rewritten { seq, at } => anyhow::bail!(
                    "audit log rewritten: record {seq} is not the record the checkpoint of {} saw",
                    when(at)
                ),
            }
        }
        Command::Serve(args) => {
            let serve::ServeArgs {
                data,
                listen,
                demo,
                demo_calls_per_minute,
                sip,
                sip_trunk,
                media_timeout,
                prompts,
                flows: flow_files,
                snapshot_every,
                trusted_proxy,
                outbound_allow,
                outbound_ca,
                tls_cert,
                tls_key,
                max_connections,
                max_connections_per_address,
                http_idle_timeout,
                audit_anchors,
                kek_file,
                metrics_token_file,
                channels,
            } = *args;
            let channels = match &channels {
                Some(f) => {
                    server::Channels::read(f).map_err(|e| anyhow::anyhow!("--channels {e}"))?
                }
                None => server::Channels::default(),
            };
            let metrics_token = match &metrics_token_file {
                Some(f) => Some(
                    std::fs::read_to_string(f)
                        .with_context(|| format!("--metrics-token-file {}", f.display()))?
                        .trim()
                        .to_string(),
                ),
                None => None,
            };
            let kek = notes_kek(kek_file.as_deref())?;
            let voice = match (sip.as_deref(), demo) {
                (Some("off"), _) | (None, false) => None,
                (Some(a), _) => Some((
                    a.parse().with_context(|| {
                        format!("--sip {a}: not an address such as 127.0.0.1:5060")
                    })?,
                    true,
                )),
                (None, true) => Some((std::net::SocketAddr::from(([127, 0, 0, 1], 5060)), false)),
            };
            let voice = match voice {
                Some((listen, required)) => {
                    let mut fl: Vec<flow::Flow> = if demo {
                        DEMO_FLOWS
                            .iter()
                            .map(|t| serde_json::from_str(t).expect("the demo flows parse"))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    for f in &flow_files {
                        fl.push(flows::read(f)?);
                    }
                    Some(server::VoiceOptions {
                        listen,
                        prompts: prompts.clone().unwrap_or_else(|| data.join("prompts")),
                        flows: fl,
                        required,
                        trunk: sip_trunk,
                        media_timeout: std::time::Duration::from_secs(media_timeout.into()),
                        recordings: data.join("recordings"),
                    })
                }
                None => None,
            };
            let traffic =
                (demo && demo_calls_per_minute > 0.0).then(|| demo_traffic::DemoOptions {
                    calls_per_minute: demo_calls_per_minute,
                    ..Default::default()
                });
            serve::run(serve::Serve {
                server: server::Options {
                    data,
                    listen,
                    voice,
                    snapshot_every,
                    edge: server::net::Edge {
                        trusted_proxies: trusted_proxy,
                        tls: false,
                    },
                    outbound: server::outbound::OutboundOptions {
                        allow: outbound_allow,
                        ca_file: outbound_ca,
                    },
                    tls: tls_cert
                        .zip(tls_key)
                        .map(|(cert, key)| server::tls::TlsFiles { cert, key }),
                    audit_anchors,
                    kek,
                    metrics_token,
                    channels,
                    limits: server::Limits {
                        max_connections: max_connections as usize,
                        max_per_address: max_connections_per_address as usize,
                        idle_timeout: std::time::Duration::from_secs(http_idle_timeout),
                        ..Default::default()
                    },
                },
                demo,
                traffic,
            })?;
        }
        Command::Notify {
            command: NotifyCommand::Token { api_key_file },
        } => {
            let text = std::fs::read_to_string(&api_key_file)
                .with_context(|| format!("--api-key-file {}", api_key_file.display()))?;
            let key: server::notify::ApiKey = text
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--api-key-file: {e}"))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            println!("{}", key.token(now));
        }
        Command::Bootstrap { data, org, admin } => {
            let mut password = String::new();
            std::io::Read::read_to_string(
                &mut std::io::Read::take(std::io::stdin(), 4096),
                &mut password,
            )?;
            let password = password.trim_end_matches(['\n', '\r']);
            let id = app::bootstrap(&data, &org, &admin, password)?;
            println!(
                "created organisation {id} ({org}) and its admin {admin:?} in {}",
                data.display()
            );
        }
        Command::Whatif(a) => print!("{}", whatif::run(*a)?),
        Command::Flow {
            command: FlowCommand::Check { files },
        } => print!("{}", flows::check(&files)?),
        Command::Dos {
            command: DosCommand::Import(a),
        } => print!("{}", dosimport::run(*a)?),
        Command::Dos {
            command: DosCommand::Export(a),
        } => print!("{}", dosfile::export(a)?),
        Command::Dos {
            command: DosCommand::Search(a),
        } => {
            let (text, refused) = dosfile::search(*a)?;
            print!("{text}");
            if refused {
                std::process::exit(2);
            }
        }
        Command::Pathway {
            command: PathwayCommand::Check { file },
        } => print!("{}", pathways::check(&file)?),
        Command::Pathway {
            command:
                PathwayCommand::Run {
                    file,
                    from,
                    state,
                    answers,
                },
        } => print!(
            "{}",
            pathways::run(&file, from.as_deref(), &state, &answers)?
        ),
        Command::Route { script } => {
            let meta = std::fs::metadata(&script)
                .with_context(|| format!("cannot read {}", script.display()))?;
            anyhow::ensure!(
                meta.len() <= 16 * 1024 * 1024,
                "{} is larger than 16 MiB",
                script.display()
            );
            let text = std::fs::read_to_string(&script)
                .with_context(|| format!("cannot read {}", script.display()))?;
            let mut engine = routing::Engine::new(
                routing::demo::kent_community_trust(),
                model::Timestamp::ZERO,
            )?;
            let trace = routing::script::run(&mut engine, &text)
                .with_context(|| format!("in {}", script.display()))?;
            print!("{trace}");
        }
    }
    Ok(())
}

/// `--demo-calls-per-minute`: 0 (no traffic) up to 6000 (100 a second).
/// The key-encryption key for notes: `--kek-file` (32 bytes, or 64 hex
/// digits), else `SWITCHBOARD_KEK` (64 hex digits), else none (the
/// server makes one in its data folder).
fn notes_kek(file: Option<&std::path::Path>) -> anyhow::Result<Option<app::seal::Kek>> {
    if let Some(f) = file {
        let bytes = std::fs::read(f).with_context(|| format!("--kek-file {}", f.display()))?;
        if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
            return Ok(Some(app::seal::Kek::new(raw)));
        }
        let text = String::from_utf8_lossy(&bytes);
        return app::seal::Kek::from_hex(&text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("--kek-file {}: {e}", f.display()));
    }
    match std::env::var("SWITCHBOARD_KEK") {
        Ok(v) => app::seal::Kek::from_hex(&v)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("SWITCHBOARD_KEK: {e}")),
        Err(_) => Ok(None),
    }
}

fn calls_per_minute(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=6000.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?} is not a rate between 0 and 6000 calls a minute"
        )),
    }
}
