//! The engine task: owns every organisation's engine and the store,
//! applies commands in order, commits before it acknowledges.

use crate::snapshots::Snapshots;
use crate::{wall_clock, Tenant};
use model::{OrgId, Timestamp};
use routing::{Input, Record, RoutingError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use store::directory::Directory;
use store::{AuditRecord, CallerIdentity, SqliteStore, Store};
use tokio::sync::{broadcast, mpsc, oneshot};

pub(crate) type ReadFn = Box<dyn FnOnce(Option<&mut Tenant>, Timestamp) + Send>;

/// An input for one organisation's engine, with what is committed with it.
pub(crate) struct Submit {
    pub(crate) org: OrgId,
    pub(crate) input: Input,
    /// Written in the same transaction as the input (configuration changes,
    /// supervisor actions).
    pub(crate) audit: Option<AuditRecord>,
    /// Who is calling, for an arrival: kept if the engine accepts it.
    pub(crate) caller: Option<CallerIdentity>,
    /// The outcome code of a wrap-up and its sealed notes: kept if the
    /// engine accepts it.
    pub(crate) outcome: Option<(String, Option<store::Sealed>)>,
    pub(crate) reply: oneshot::Sender<Result<Vec<Record>, RoutingError>>,
}

pub(crate) enum Command {
    Input(Box<Submit>),
    /// A read of one organisation's state, run on the engine task.
    Read(OrgId, ReadFn),
    /// Subscribes to an organisation's live stream.
    Subscribe(OrgId, oneshot::Sender<Option<broadcast::Receiver<Record>>>),
    /// Writes a snapshot of every organisation changed since its last one
    /// and stops the task (a clean shutdown).
    Stop(oneshot::Sender<()>),
}

/// Most inputs committed in one transaction (one fsync).
const MAX_BATCH: usize = 256;

/// Writes the snapshots due on the blocking pool, taking the writer's turn
/// like a commit (the engine task waits; the runtime goes on). The state
/// goes to the blocking thread and comes back; None if that thread failed
/// (the task then stops: the log still holds everything).
async fn write_snapshots(
    mut snapshots: Snapshots,
    mut tenants: BTreeMap<OrgId, Tenant>,
    mut store: SqliteStore,
    writer: &Arc<Mutex<Directory>>,
    all: bool,
) -> Option<(Snapshots, BTreeMap<OrgId, Tenant>, SqliteStore)> {
    if !snapshots.due(all) {
        return Some((snapshots, tenants, store));
    }
    let turn = writer.clone();
    tokio::task::spawn_blocking(move || {
        let _turn = turn.lock().unwrap_or_else(|p| p.into_inner());
        snapshots.write(&mut tenants, &mut store, all);
        (snapshots, tenants, store)
    })
    .await
    .map_err(|e| tracing::error!("the snapshot writer failed, stopping: {e}"))
    .ok()
}

/// The engines' owner: applies commands in order, fires timers when they
/// fall due. Inputs that arrive together are applied, then committed in
/// one transaction (with their audit records and caller identities), and
/// only then acknowledged and published: a crash never loses an
/// acknowledged input. If the commit fails the task stops (nothing is
/// acknowledged) and the next start replays the log. Refused inputs are
/// logged too and are refused again, identically, on replay.
pub(crate) async fn engine_task(
    mut tenants: BTreeMap<OrgId, Tenant>,
    mut store: SqliteStore,
    mut rx: mpsc::Receiver<Command>,
    mut snapshots: Snapshots,
    // One SQLite file has one writer at a time: the directory's work and
    // the engine's commits take turns through the directory's mutex
    // (waiting for SQLite's own lock would sleep in busy-timeout steps of
    // up to 100 ms).
    writer: Arc<Mutex<Directory>>,
    // Readers waiting for a snapshot wake the task through this.
    wake: Arc<tokio::sync::Notify>,
    metrics: Arc<crate::metrics::Metrics>,
) {
    // State rebuilt by replaying a tail is worth a snapshot at the next
    // chance.
    snapshots.changed.extend(tenants.keys().copied());
    let mut held_back: Option<Command> = None;
    loop {
        let now = wall_clock();
        for t in tenants.values_mut() {
            t.maybe_publish(now.max(t.engine.now()));
        }
        let next = tenants
            .values()
            .flat_map(|t| [t.engine.poll_timeout(), t.publish_due()])
            .flatten()
            .min();
        let sleep = match next {
            Some(t) if t > now => std::time::Duration::from_millis((t.0 - now.0) as u64),
            Some(_) => std::time::Duration::ZERO,
            None => std::time::Duration::from_secs(3600),
        };
        let cmd = match held_back.take() {
            Some(cmd) => cmd,
            None => tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => cmd,
                    None => return,
                },
                _ = wake.notified() => continue,
                _ = tokio::time::sleep(sleep) => {
                    for t in tenants.values_mut() {
                        let now = wall_clock().max(t.engine.now());
                        t.fire_timers(now);
                    }
                    continue;
                }
            },
        };
        match cmd {
            Command::Input(first) => {
                let mut batch = vec![*first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Command::Input(s)) => batch.push(*s),
                        Ok(other) => {
                            held_back = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let now = wall_clock();
                let mut commit = store::Batch::default();
                let mut results = Vec::with_capacity(batch.len());
                for s in &mut batch {
                    let _org = tracing::debug_span!("org", org = s.org.0).entered();
                    let Some(t) = tenants.get_mut(&s.org) else {
                        // An organisation created after this server
                        // started: not served until a restart. The reply
                        // is dropped (the client gets 503).
                        results.push(None);
                        continue;
                    };
                    let at = now.max(t.engine.now());
                    t.fire_timers(at);
                    commit.inputs.push((s.org, at, s.input.clone()));
                    let r = t
                        .engine
                        .handle(at, s.input.clone())
                        .map(|()| t.engine.drain_output().collect::<Vec<_>>());
                    if let Err(e) = &r {
                        // Engine errors name contacts by id only.
                        tracing::debug!("input refused: {e}");
                    }
                    // A phone connected or gone makes no event: the
                    // agent's row shows it all the same.
                    if let (Ok(_), Input::SetEndpoint { agent, .. }) = (&r, &s.input) {
                        t.agent_changed(*agent);
                    }
                    if let Some(mut a) = s.audit.take() {
                        a.at = at;
                        if let Err(e) = &r {
                            a.outcome = format!("refused: {e}");
                        }
                        commit.audit.push(a);
                    }
                    // Who is calling goes with the contact it came with, and
                    // only with it: a contact that brings no identity clears
                    // any kept under its id.
                    if let (Ok(_), Some(id)) = (&r, store::new_contact_id(&s.input)) {
                        commit.callers.push((s.org, id, s.caller.take()));
                    }
                    if let (Ok(_), Input::WrapUpDone { agent, contact }, Some((code, note))) =
                        (&r, &s.input, s.outcome.take())
                    {
                        commit.outcomes.push(store::Outcome {
                            org: s.org,
                            contact: *contact,
                            agent: *agent,
                            code,
                            at,
                            note,
                        });
                    }
                    results.push(Some(r));
                }
                // The commit (and its fsync) on the blocking pool: the
                // runtime's one thread goes on with HTTP and the media
                // ticks meanwhile. The engine waits, as before: nothing
                // is acknowledged before it is durable.
                let turn = writer.clone();
                let timed = metrics.clone();
                let done = tokio::task::spawn_blocking(move || {
                    let _turn = turn.lock().unwrap_or_else(|p| p.into_inner());
                    let t0 = std::time::Instant::now();
                    let r = store.append(&commit);
                    timed.commit_seconds.observe(t0.elapsed().as_secs_f64());
                    (store, commit, r)
                })
                .await;
                let appended;
                (store, commit, appended) = match done {
                    Ok(back) => back,
                    Err(e) => {
                        tracing::error!("the commit did not finish, stopping: {e}");
                        return;
                    }
                };
                match appended {
                    Ok(seq) => {
                        snapshots.seq = seq;
                        snapshots.since_last += commit.inputs.len() as u64;
                        snapshots
                            .changed
                            .extend(commit.inputs.iter().map(|(o, _, _)| *o));
                    }
                    Err(e) => {
                        // Not durable: acknowledge nothing and stop; the next
                        // start rebuilds from what was committed.
                        tracing::error!("cannot commit inputs, stopping: {e}");
                        return;
                    }
                }
                for (s, r) in batch.into_iter().zip(results) {
                    let Some(r) = r else { continue };
                    if let (Ok(records), Some(t)) = (&r, tenants.get_mut(&s.org)) {
                        records.iter().cloned().for_each(|x| t.publish(x));
                    }
                    let _ = s.reply.send(r);
                }
                match write_snapshots(snapshots, tenants, store, &writer, false).await {
                    Some(back) => (snapshots, tenants, store) = back,
                    None => return,
                }
            }
            Command::Read(org, f) => {
                let now = wall_clock();
                match tenants.get_mut(&org) {
                    Some(t) => {
                        let now = now.max(t.engine.now());
                        t.fire_timers(now);
                        f(Some(t), now)
                    }
                    None => f(None, now),
                }
            }
            Command::Subscribe(org, reply) => {
                let _ = reply.send(tenants.get(&org).map(|t| t.hub.subscribe()));
            }
            Command::Stop(done) => {
                // The state goes with the snapshots; the task ends here.
                let _ = write_snapshots(snapshots, tenants, store, &writer, true).await;
                let _ = done.send(());
                return;
            }
        }
    }
}
