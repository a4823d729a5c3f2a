//! [`App`]: what every adapter holds to reach the core — the engine task's
//! commands, the directory on the blocking pool, authentication, ids.

use crate::auth::{self, Perm, Role, Scope};
use crate::engine::{Command, ReadFn, Submit};
use crate::{clinical, planning, wall_clock, Error, Tenant};
use model::{AgentId, OrgId, Timestamp};
use routing::{Input, Record};
use std::sync::{Arc, Mutex};
use store::directory::Directory;
use store::{AuditRecord, CallerIdentity};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Who is making a request, once authenticated.
#[derive(Clone, Debug)]
pub struct Caller {
    pub org: OrgId,
    pub role: Role,
    /// For the audit trail: `user:7 (sam.jones)` or `token:3 (gp-system)`.
    pub actor: String,
    pub user: Option<u32>,
    /// The agent this person works as.
    pub agent: Option<AgentId>,
    /// An integration token's scopes (none for people).
    pub scopes: Option<Vec<Scope>>,
    /// The hash of the session id (people).
    pub session: Option<String>,
    /// The client's address.
    pub origin: String,
}

impl Caller {
    /// Whether the caller's role (and a token's scopes) allow this.
    pub fn may(&self, perm: Perm) -> bool {
        auth::allows(self.role, perm)
            && (perm == Perm::Session
                || self
                    .scopes
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|x| x.covers(perm))))
    }

    /// Agents and clinicians act only as themselves.
    pub fn as_agent(&self, agent: AgentId) -> Result<(), Error> {
        if self.role.works_as_agent() && self.agent != Some(agent) {
            return Err(Error::Forbidden(format!(
                "a {} acts only as their own agent",
                self.role.name()
            )));
        }
        Ok(())
    }

    pub fn audit(&self, action: &str, subject: String) -> AuditRecord {
        AuditRecord {
            at: wall_clock(),
            org: Some(self.org),
            actor: self.actor.clone(),
            action: action.into(),
            subject,
            patient: None,
            purpose: None,
            origin: Some(self.origin.clone()),
            outcome: "ok".into(),
        }
    }
}

/// Everything the handlers share.
/// Everything the handlers share: cheap to clone (one reference count),
/// as every request clones it through the gate.
#[derive(Clone)]
pub struct App(pub(crate) Arc<AppInner>);

impl std::ops::Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

pub struct AppInner {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) stop: tokio::sync::watch::Receiver<bool>,
    pub(crate) dir: Arc<Mutex<Directory>>,
    pub limiter: Arc<Mutex<crate::throttle::LoginLimiter>>,
    /// Signs device cookies (`auth::device_cookie`).
    pub device_key: [u8; 32],
    /// Seals free text at rest (`seal`).
    pub kek: crate::seal::Kek,
    /// Operational metrics (`/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    pub(crate) cache: Arc<Mutex<auth::CredentialCache<Caller>>>,
    pub published: planning::Published,
    pub clinical: Arc<clinical::Clinical>,
    /// Wakes the referral outbox worker.
    pub outbox: Arc<tokio::sync::Notify>,
    pub sessions: auth::SessionPolicy,
    /// Where new contacts' ids come from.
    pub ids: Arc<ContactIds>,
    /// Planning runs: one at a time, off the request runtime.
    pub planning: Arc<planning::PlanningGate>,
    /// The organisations served (those present at start-up).
    pub orgs: Vec<OrgId>,
    /// Each organisation's published read model.
    pub(crate) lives: std::collections::BTreeMap<OrgId, Arc<crate::live::LiveShared>>,
    /// Wakes the engine task (a reader waits for a snapshot).
    pub(crate) wake: Arc<tokio::sync::Notify>,
}

/// Contact ids. The server chooses every contact's id, never a client (a
/// reused id once showed the previous patient's screen pop), from the
/// store's persisted sequence: it starts past every id in the log, and an
/// id taken but never logged is skipped, not reused.
#[derive(Debug)]
pub struct ContactIds(std::sync::atomic::AtomicU64);

impl ContactIds {
    pub fn starting_at(next: u64) -> ContactIds {
        ContactIds(std::sync::atomic::AtomicU64::new(next.max(1)))
    }

    pub fn next(&self) -> model::ContactId {
        model::ContactId(self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl App {
    /// Sends an input to the caller's engine; answers with its events once
    /// it is durable (and the id the server chose, for a new contact).
    pub async fn input(
        &self,
        c: &Caller,
        input: Input,
        audit: Option<AuditRecord>,
        caller: Option<CallerIdentity>,
    ) -> Result<Submitted, Error> {
        self.submit(c, input, audit, caller, None).await
    }

    /// [`App::input`] with a wrap-up outcome and its sealed notes.
    pub async fn submit(
        &self,
        c: &Caller,
        input: Input,
        audit: Option<AuditRecord>,
        caller: Option<CallerIdentity>,
        outcome: Option<(String, Option<store::Sealed>)>,
    ) -> Result<Submitted, Error> {
        let id = store::new_contact_id(&input);
        let events = self.commit(c.org, input, audit, caller, outcome).await?;
        Ok(Submitted { id, events })
    }

    async fn commit(
        &self,
        org: OrgId,
        input: Input,
        audit: Option<AuditRecord>,
        caller: Option<CallerIdentity>,
        outcome: Option<(String, Option<store::Sealed>)>,
    ) -> Result<Vec<Record>, Error> {
        let (reply, rx) = oneshot::channel();
        let submit = Submit {
            org,
            input,
            audit,
            caller,
            outcome,
            reply,
        };
        self.tx
            .send(Command::Input(Box::new(submit)))
            .await
            .map_err(|_| Error::stopped())?;
        match rx.await {
            Ok(r) => Ok(r?),
            Err(_) => Err(Error::Unavailable(
                "the input could not be made durable".into(),
            )),
        }
    }

    /// Applies an input from the server itself (the voice edge) to an
    /// organisation's engine; answers once it is durable.
    pub async fn apply(
        &self,
        org: OrgId,
        input: Input,
        caller: Option<CallerIdentity>,
    ) -> Result<Vec<Record>, Error> {
        self.commit(org, input, None, caller, None).await
    }

    /// The id of the organisation's queue with this name.
    pub async fn queue_named(&self, org: OrgId, name: &str) -> Option<model::QueueId> {
        let name = name.to_string();
        self.read(org, move |t, _| {
            t.engine
                .config()
                .queues
                .iter()
                .find(|q| q.name == name)
                .map(|q| q.id)
        })
        .await
        .ok()
        .flatten()
    }

    /// What call flows may name: every organisation's queues and skills.
    pub async fn flow_catalog(&self, orgs: &[OrgId]) -> flow::Catalog {
        let mut c = flow::Catalog {
            actions: ["wheelchair_return".to_string()].into(),
            ..Default::default()
        };
        for &org in orgs {
            if let Ok((q, s)) = self
                .read(org, |t, _| {
                    let cfg = t.engine.config();
                    (
                        cfg.queues
                            .iter()
                            .map(|q| q.name.clone())
                            .collect::<Vec<_>>(),
                        cfg.skills
                            .iter()
                            .map(|s| s.name.clone())
                            .collect::<Vec<_>>(),
                    )
                })
                .await
            {
                c.queues.extend(q);
                c.skills.extend(s);
            }
        }
        c
    }

    /// Runs `f` on the organisation's state on the engine task.
    pub async fn read<R: Send + 'static>(
        &self,
        org: OrgId,
        f: impl FnOnce(&mut Tenant, Timestamp) -> R + Send + 'static,
    ) -> Result<R, Error> {
        let (reply, rx) = oneshot::channel();
        let run: ReadFn = Box::new(move |t, now| {
            let _ = reply.send(t.map(|t| f(t, now)));
        });
        self.tx
            .send(Command::Read(org, run))
            .await
            .map_err(|_| Error::stopped())?;
        rx.await
            .map_err(|_| Error::stopped())?
            .ok_or_else(|| Error::NotFound(format!("unknown organisation {org}")))
    }

    fn shared(&self, org: OrgId) -> Result<&Arc<crate::live::LiveShared>, Error> {
        self.lives
            .get(&org)
            .ok_or_else(|| Error::NotFound(format!("unknown organisation {org}")))
    }

    /// Asks the engine task for a prompt snapshot (one wake-up however many
    /// readers ask) and waits for the next one published; an engine task
    /// that has ended publishes nothing more.
    async fn newer_snapshot(
        &self,
        sh: &crate::live::LiveShared,
        rx: &mut tokio::sync::watch::Receiver<Arc<crate::live::Live>>,
    ) -> Result<(), Error> {
        use std::sync::atomic::Ordering;
        if !sh.hurry.swap(true, Ordering::AcqRel) {
            self.wake.notify_one();
        }
        tokio::select! {
            r = rx.changed() => r.map_err(|_| Error::stopped()),
            _ = self.tx.closed() => Err(Error::stopped()),
        }
    }

    /// The organisation's read model: the latest snapshot, once it
    /// includes every change applied before this call (see
    /// [`crate::live`]). Never runs on the engine task.
    /// Offers made to agents since the start, and of those declined or
    /// timed out.
    pub fn offer_counts(&self, org: OrgId) -> Option<(u64, u64)> {
        use std::sync::atomic::Ordering::Relaxed;
        self.lives
            .get(&org)
            .map(|l| (l.offers.load(Relaxed), l.offers_missed.load(Relaxed)))
    }

    pub async fn live(&self, org: OrgId) -> Result<Arc<crate::live::Live>, Error> {
        use std::sync::atomic::Ordering;
        let sh = self.shared(org)?;
        let want = sh.applied.load(Ordering::Acquire);
        let latest = sh.tx.borrow().clone();
        if latest.version >= want {
            return Ok(latest);
        }
        let mut rx = sh.tx.subscribe();
        loop {
            let s = rx.borrow_and_update().clone();
            if s.version >= want {
                return Ok(s);
            }
            self.newer_snapshot(sh, &mut rx).await?;
        }
    }

    /// A queue's waiting list from the read model, first in line first
    /// (None: no such queue). The first read of a queue's list asks for it
    /// to be kept in the snapshots (for a minute after the last read).
    pub async fn live_waiting(
        &self,
        org: OrgId,
        q: model::QueueId,
    ) -> Result<Option<Arc<Vec<model::ContactId>>>, Error> {
        let sh = self.shared(org)?;
        sh.wanted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(q, wall_clock());
        let mut rx = sh.tx.subscribe();
        loop {
            let s = self.live(org).await?;
            if let Some(w) = s.waiting.get(&q) {
                return Ok(Some(w.clone()));
            }
            if !s.wallboard.queues.iter().any(|x| x.queue == q) {
                return Ok(None);
            }
            self.newer_snapshot(sh, &mut rx).await?;
        }
    }

    /// Every snapshot of the organisation's read model as it is published
    /// (a wallboard's subscription): the receiver sees the latest and then
    /// each newer one, never a backlog.
    pub fn live_stream(
        &self,
        org: OrgId,
    ) -> Result<tokio::sync::watch::Receiver<Arc<crate::live::Live>>, Error> {
        Ok(self.shared(org)?.tx.subscribe())
    }

    pub async fn subscribe(
        &self,
        org: OrgId,
    ) -> Option<(
        broadcast::Receiver<Record>,
        tokio::sync::watch::Receiver<bool>,
    )> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Subscribe(org, reply)).await.ok()?;
        Some((rx.await.ok()??, self.stop.clone()))
    }

    /// Runs `f` on the directory on the blocking pool, off the runtime's
    /// threads: SQLite waits for its disk, and routing and the 20 ms media
    /// ticks must not wait with it. None if the server is stopping.
    pub async fn with_directory<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Directory) -> R + Send + 'static,
    ) -> Option<R> {
        let dir = self.dir.clone();
        let r = tokio::task::spawn_blocking(move || {
            f(&mut dir.lock().unwrap_or_else(|p| p.into_inner()))
        })
        .await;
        match r {
            Ok(r) => Some(r),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => None,
        }
    }

    /// The directory's work on the blocking pool, as a handler wants it:
    /// a store error, or a server that is stopping, is the answer.
    pub async fn dir<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Directory) -> Result<R, store::StoreError> + Send + 'static,
    ) -> Result<R, Error> {
        match self.with_directory(f).await {
            Some(r) => Ok(r?),
            None => Err(Error::Unavailable("the server is stopping".into())),
        }
    }

    /// The directory itself, for a thread that may wait for the disk (the
    /// SIP registrar on the blocking pool); the runtime uses [`App::dir`].
    pub fn directory(&self) -> std::sync::MutexGuard<'_, Directory> {
        self.dir.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Who is calling, by a bearer token or a session; refused if it is
    /// not (or no longer) valid.
    pub async fn authenticate(
        &self,
        credential: Credential<'_>,
        origin: String,
    ) -> Result<Caller, Error> {
        let unauthorised = |m: &str| Error::Unauthorised(m.into());
        let (hash, is_token) = match credential {
            Credential::Bearer(secret) => (auth::secret_hash(secret.trim()), true),
            Credential::Session(sid) => (auth::secret_hash(sid), false),
        };
        let now = wall_clock();
        // A credential seen before: no database round trip. Anything that
        // ends a session or a token clears the cache first.
        if let Some(mut c) = self.cache().check(&hash, now, &self.sessions) {
            c.origin = origin;
            return Ok(c);
        }
        let generation = self.cache().generation;
        // The rows, read on the blocking pool; the decisions, here.
        let h = hash.clone();
        let (token, session) = self
            .dir(move |dir| {
                if is_token {
                    return Ok((dir.token_by_hash(&h)?, None));
                }
                let session = dir.session(&h)?;
                let user = match &session {
                    Some(s) => dir.user(s.user)?,
                    None => None,
                };
                Ok((None, Some((session, user))))
            })
            .await?;
        let (caller, created, persisted) = if is_token {
            match token {
                Some(t) if !t.revoked => (
                    Caller {
                        org: t.org,
                        role: Role::Integration,
                        actor: format!("token:{} ({})", t.id, t.name),
                        user: None,
                        agent: None,
                        scopes: Some(t.scopes.split(' ').filter_map(Scope::parse).collect()),
                        session: None,
                        origin,
                    },
                    None,
                    now,
                ),
                _ => return Err(unauthorised("the token is unknown or revoked")),
            }
        } else {
            let (session, user) = session.unwrap_or((None, None));
            let Some(s) = session.filter(|s| !s.revoked) else {
                return Err(unauthorised("the session has ended; log in again"));
            };
            if !self.sessions.is_live(s.created, s.last_seen, now) {
                return Err(unauthorised("the session has expired; log in again"));
            }
            let Some(u) = user else {
                return Err(unauthorised("the account no longer exists"));
            };
            if u.disabled {
                return Err(unauthorised("the account is disabled"));
            }
            let Some(role) = Role::parse(&u.role) else {
                return Err(unauthorised("the account has no valid role"));
            };
            let c = Caller {
                org: u.org,
                role,
                actor: format!("user:{} ({})", u.id, u.username),
                user: Some(u.id),
                agent: u.agent,
                scopes: None,
                session: Some(hash.clone()),
                origin,
            };
            (c, Some(s.created), s.last_seen)
        };
        self.cache()
            .remember(generation, hash, caller.clone(), created, persisted, now);
        Ok(caller)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, auth::CredentialCache<Caller>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Before anything that ends sessions or tokens: forget every
    /// credential checked so far.
    pub fn forget_credentials(&self) {
        self.cache().clear();
    }

    /// Writes the idle clock of sessions that were used since it was last
    /// written, at most once a minute each.
    pub async fn persist_idle_clocks(&self) {
        let due = self.cache().due_touches();
        if due.is_empty() {
            return;
        }
        let _ = self
            .with_directory(move |dir| {
                for (hash, at) in due {
                    let _ = dir.touch_session(&hash, at);
                }
            })
            .await;
    }
}

/// What a caller presents, as the adapter read it.
pub enum Credential<'a> {
    /// An integration's bearer token.
    Bearer(&'a str),
    /// A person's session id (the HTTP adapter's cookie).
    Session(&'a str),
}

/// An input made durable: its events, and the id the server chose if it
/// was a new contact.
#[derive(Debug)]
pub struct Submitted {
    pub id: Option<model::ContactId>,
    pub events: Vec<Record>,
}
