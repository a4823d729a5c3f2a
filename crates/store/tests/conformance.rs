//! One suite, two databases: the same script of organisations, logged
//! inputs, callers, outcomes, audit records and snapshots is run against
//! SQLite and against a real PostgreSQL (initdb'd and started here on a
//! free loopback port, as a non-root user), and every answer must be the
//! same — and right. Then what only PostgreSQL can be asked: a tampered
//! audit record is found, a database of a newer schema and a wrong URL
//! are refused by name, and the log survives a restart of PostgreSQL.

use kpi::{Kpi, KpiConfig};
use model::{AgentId, Channel, ContactId, DurationMs, OrgId, PhoneNumber, Timestamp};
use routing::{demo, Input, NewContact, Presence};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use store::pg::PgStore;
use store::{
    recover, AuditCheck, AuditRecord, Batch, CallerIdentity, Outcome, Retired, SqliteStore, Store,
};

/// A PostgreSQL server of our own: a cluster in a temporary directory,
/// on a free loopback port, run as the `postgres` user (or `nobody`) when
/// the tests run as root (PostgreSQL refuses to run as root).
struct Pg {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    child: Option<Child>,
}

fn pg_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|d| d.join("initdb").exists());
    if let Some(d) = on_path {
        return d;
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().filter(|d| d.join("initdb").exists()).expect(
        "PostgreSQL's binaries (initdb, postgres): scripts/test.sh installs Debian's postgresql",
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The unprivileged user PostgreSQL runs as when we are root.
fn pg_user() -> &'static str {
    if Command::new("id")
        .arg("postgres")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        "postgres"
    } else {
        "nobody"
    }
}

/// `program args` as the unprivileged user when we are root.
fn as_user(program: &std::path::Path, args: &[&str]) -> Command {
    if is_root() {
        let user = pg_user();
        let mut c = Command::new("runuser");
        c.args(["-u", user, "--"]).arg(program).args(args);
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Pg {
    fn start(name: &str) -> Pg {
        let dir = std::env::temp_dir().join(format!("sb-pg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let user = pg_user();
            assert!(Command::new("chown")
                .args([user, dir.to_str().unwrap()])
                .status()
                .unwrap()
                .success());
        }
        let bin = pg_bin();
        let data = dir.join("data");
        let out = as_user(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "switchboard",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
        .stdout(Stdio::null())
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = Pg {
            dir,
            port: free_port(),
            bin,
            child: None,
        };
        pg.run();
        pg
    }

    fn run(&mut self) {
        let data = self.dir.join("data");
        let port = self.port.to_string();
        let child = as_user(
            &self.bin.join("postgres"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-p",
                &port,
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                &format!("unix_socket_directories={}", self.dir.display()),
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        self.child = Some(child);
        let t0 = Instant::now();
        while postgres::Client::connect(&self.url("postgres"), postgres::NoTls).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "PostgreSQL did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (a fast shutdown) and waits for it.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // The postmaster itself (runuser does not pass signals on):
            // SIGINT is PostgreSQL's fast shutdown.
            let pid_file = self.dir.join("data").join("postmaster.pid");
            let postmaster = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.lines().next().map(str::to_string));
            match postmaster {
                Some(pid) => {
                    let _ = Command::new("kill").args(["-INT", &pid]).status();
                }
                None => {
                    let _ = c.kill();
                }
            }
            let t0 = Instant::now();
            while pid_file.exists() && t0.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://switchboard@127.0.0.1:{}/{db}", self.port)
    }

    /// A fresh database of its own for one test.
    fn database(&self, name: &str) -> String {
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        self.url(name)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sb-conform-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn fresh_kpi(c: &routing::Config) -> Kpi {
    Kpi::new(KpiConfig::from_routing(DurationMs::from_secs(15 * 60), c))
}

/// Everything a store answers to the script, for comparing two stores.
#[derive(Debug, PartialEq)]
struct Answers(Vec<String>);

/// The script: two organisations, a morning of inputs in batches with
/// their callers, outcomes and audit records, snapshots, and every read.
fn script(st: &mut dyn Store) -> Answers {
    let mut out = Vec::new();
    let mut say = |s: String| out.push(s);
    let kent = st
        .create_organisation("Kent", &demo::kent_community_trust(), Timestamp::ZERO)
        .unwrap();
    let medway = st
        .create_organisation("Medway", &demo::kent_community_trust(), Timestamp(5))
        .unwrap();
    assert_eq!((kent, medway), (OrgId(1), OrgId(2)));
    let refused = st
        .create_organisation("Kent", &demo::kent_community_trust(), Timestamp(9))
        .unwrap_err();
    say(format!("again: {refused}"));
    say(format!("organisations: {:?}", st.organisations().unwrap()));
    let (config, at) = st.initial_config(medway).unwrap().unwrap();
    assert_eq!(config, demo::kent_community_trust());
    say(format!("medway from {at:?}"));
    assert!(st.initial_config(OrgId(9)).unwrap().is_none());
    assert_eq!(st.last_seq().unwrap(), 0);
    assert_eq!(st.next_contact_id().unwrap(), 1);
    // A morning in Kent, a little in Medway.
    let mut inputs: Vec<(OrgId, Timestamp, Input)> = Vec::new();
    for (i, a) in [1u32, 3, 8].iter().enumerate() {
        inputs.push((
            kent,
            Timestamp(i as i64 * 1000),
            Input::SetPresence {
                agent: AgentId(*a),
                presence: Presence::Ready,
            },
        ));
    }
    for i in 0..40u64 {
        let q = [demo::WHEELCHAIRS, demo::DISTRICT_NURSING, demo::SPA][i as usize % 3];
        let org = if i % 5 == 4 { medway } else { kent };
        inputs.push((
            org,
            Timestamp(5_000 + i as i64 * 700),
            Input::Arrive(NewContact::new(ContactId(i + 1), q, Channel::Voice)),
        ));
    }
    for (k, chunk) in inputs.chunks(9).enumerate() {
        let first = match &chunk[0].2 {
            Input::Arrive(c) => Some(c.id),
            _ => None,
        };
        let batch = Batch {
            inputs: chunk.to_vec(),
            audit: vec![AuditRecord {
                at: chunk[0].1,
                org: Some(kent),
                actor: "user:1 (kent.agent)".into(),
                action: "screen pop".into(),
                subject: format!("batch {k}"),
                patient: Some("9990000018".into()),
                purpose: Some("direct care".into()),
                origin: Some("127.0.0.1".into()),
                outcome: "ok".into(),
            }],
            callers: first
                .map(|c| {
                    vec![(
                        kent,
                        c,
                        Some(CallerIdentity {
                            phone: PhoneNumber::parse("+447700900123").ok(),
                            nhs_number: None,
                        }),
                    )]
                })
                .unwrap_or_default(),
            outcomes: vec![Outcome {
                org: kent,
                contact: ContactId(k as u64 + 1),
                agent: AgentId(1),
                code: "resolved".into(),
                at: chunk[0].1,
                note: None,
            }],
        };
        let last = st.append(&batch).unwrap();
        say(format!("batch {k}: last {last}"));
    }
    say(format!("last seq {}", st.last_seq().unwrap()));
    say(format!("next contact {}", st.next_contact_id().unwrap()));
    // Every input back, in order, with its organisation and time.
    let mut seen = Vec::new();
    let n = st
        .for_each_input(0, &mut |seq, org, t, input| seen.push((seq, org, t, input)))
        .unwrap();
    assert_eq!(n as usize, inputs.len());
    for (k, (seq, org, t, input)) in seen.iter().enumerate() {
        assert_eq!(*seq, k as u64 + 1);
        assert_eq!((*org, *t, input), (inputs[k].0, inputs[k].1, &inputs[k].2));
    }
    let mut tail = 0;
    st.for_each_input(30, &mut |seq, _, _, _| {
        assert!(seq > 30);
        tail += 1;
    })
    .unwrap();
    say(format!("after 30: {tail}"));
    // Snapshots: the newest usable one is found; older ones go.
    let mut engine = recover(&*st, kent).unwrap();
    let kpi = fresh_kpi(&engine.config());
    for (i, seq) in [10u64, 20, 30].iter().enumerate() {
        engine.handle_timeout(Timestamp(60_000 + i as i64)).unwrap();
        let info = st
            .save_snapshot(
                kent,
                *seq,
                &engine,
                &kpi,
                &Retired {
                    before: Timestamp(900_000 * i as i64),
                    rows: Vec::new(),
                },
            )
            .unwrap();
        say(format!(
            "snapshot {} at {:?} ({} bytes)",
            info.seq, info.at, info.bytes
        ));
    }
    let (snap, notes) = st.latest_snapshot(kent).unwrap();
    let (info, state) = snap.expect("a snapshot");
    say(format!("latest {} {:?} notes {notes:?}", info.seq, info.at));
    assert_eq!(state.engine.contact_ids(), engine.contact_ids());
    assert!(st.latest_snapshot(medway).unwrap().0.is_none());
    say(format!(
        "retired before {:?}",
        st.kpi_retired_before(kent).unwrap()
    ));
    assert_eq!(st.kpi_retired_before(medway).unwrap(), None);
    // Recovery from the store gives the same Medway as replaying it.
    let medway_engine = recover(&*st, medway).unwrap();
    say(format!("medway contacts {:?}", medway_engine.contact_ids()));
    // The audit chain.
    for i in 0..3 {
        let seq = st
            .append_audit(&AuditRecord {
                at: Timestamp(100_000 + i),
                org: None,
                actor: "system".into(),
                action: "start".into(),
                subject: format!("run {i}"),
                patient: None,
                purpose: None,
                origin: None,
                outcome: "ok".into(),
            })
            .unwrap();
        say(format!("audit {seq}"));
    }
    say(format!("chain {:?}", st.verify_audit().unwrap()));
    Answers(out)
}

#[test]
fn sqlite_and_postgresql_answer_the_script_the_same_and_right() {
    let dir = tempdir("sqlite");
    let mut sqlite = SqliteStore::open(&dir).unwrap();
    let want = script(&mut sqlite);
    assert!(
        want.0.iter().any(|l| l == "chain Intact { records: 8 }"),
        "{want:#?}"
    );
    assert!(want.0.iter().any(|l| l == "last seq 43"), "{want:#?}");
    let pg = Pg::start("script");
    let mut store = PgStore::connect(&pg.database("script")).unwrap();
    let got = script(&mut store);
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn on_postgresql_tampering_is_found_newer_schemas_and_wrong_urls_are_refused_and_a_restart_loses_nothing(
) {
    let mut pg = Pg::start("more");
    let url = pg.database("more");
    let mut st = PgStore::connect(&url).unwrap();
    let org = st
        .create_organisation("Kent", &demo::kent_community_trust(), Timestamp::ZERO)
        .unwrap();
    for i in 0..5 {
        st.append(&Batch {
            inputs: vec![(
                org,
                Timestamp(i * 1000),
                Input::Arrive(NewContact::new(
                    ContactId(i as u64 + 1),
                    demo::SPA,
                    Channel::Voice,
                )),
            )],
            audit: vec![AuditRecord {
                at: Timestamp(i * 1000),
                org: Some(org),
                actor: "user:3 (kent.supervisor)".into(),
                action: "create contact".into(),
                subject: format!("contact {}", i + 1),
                patient: None,
                purpose: None,
                origin: None,
                outcome: "ok".into(),
            }],
            ..Default::default()
        })
        .unwrap();
    }
    assert_eq!(
        st.verify_audit().unwrap(),
        AuditCheck::Intact { records: 5 }
    );
    // PostgreSQL restarts under us: a new connection finds everything.
    drop(st);
    pg.stop();
    pg.run();
    let st = PgStore::connect(&url).unwrap();
    assert_eq!(st.last_seq().unwrap(), 5);
    assert_eq!(st.next_contact_id().unwrap(), 6);
    assert_eq!(recover(&st, org).unwrap().contact_ids().len(), 5);
    // Someone edits record 3 in the database.
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    raw.execute(
        "UPDATE audit_log SET subject = 'contact 99' WHERE seq = 3",
        &[],
    )
    .unwrap();
    assert_eq!(
        st.verify_audit().unwrap(),
        AuditCheck::Broken {
            seq: 3,
            problem: "was changed after it was written".into()
        }
    );
    // A database a newer Switchboard wrote is refused by name.
    raw.execute(
        "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
        &[],
    )
    .unwrap();
    let e = PgStore::connect(&url).err().expect("refused").to_string();
    assert!(
        e.contains("schema version 99") && e.contains("newer Switchboard"),
        "{e}"
    );
    // A wrong port, and a wrong password shown as ***.
    let wrong = format!(
        "postgres://switchboard:s3cret@127.0.0.1:{}/more",
        free_port()
    );
    let e = PgStore::connect(&wrong).err().expect("refused").to_string();
    assert!(
        e.contains("PostgreSQL at postgres://switchboard:***@127.0.0.1"),
        "{e}"
    );
    assert!(!e.contains("s3cret"), "{e}");
}
