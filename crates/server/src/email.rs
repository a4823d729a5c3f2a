//! Email at the edge: each mailbox a service takes mail at is read over
//! IMAP (IDLE where the server offers it, else polling), and its replies go
//! out over SMTP from the outbox. Parsing (MIME, with `mail-parser`) and
//! transport happen here; what kind of mail it is and which thread it
//! joins are `callctl::mail`'s decisions, and the thread itself is
//! `callctl::thread`'s.
//!
//! Nothing is lost: a mail is taken (stored, sealed, in its thread) before
//! it is flagged `\Seen` and the mailbox's position moves past it; one
//! taken twice (a crash in between) is known by its Message-ID and not
//! stored twice. A mail too large to take, or that does not parse, stays in
//! the mailbox and the agents are told where it is. Replies are written to
//! the outbox with their message before they are sent; a reply whose
//! sending was cut off by a crash is sent again with the same Message-ID.
//! Logs name mailboxes and UIDs, never senders, subjects or words.

use crate::chat::Chats;
use crate::written::{self, Envelope, Incoming, Target, ThreadMeta};
use crate::App;
use callctl::chat::{Attachment, Body};
use callctl::mail::{self, Headers, Kind, Known, Threading};
use callctl::thread::Medium;
use futures_util::StreamExt;
use mail_parser::MimeHeaders;
use model::{OrgId, Timestamp};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Largest mail taken whole, by default.
pub const DEFAULT_MAX_MAIL_BYTES: u64 = 25 * 1024 * 1024;

/// One mailbox, as the operator configures it (`--channels FILE`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxConfig {
    /// The address: a service's email entry point.
    pub address: String,
    /// `imap://host:port` or `imaps://host:port` (TLS).
    pub imap: String,
    /// `smtp://host:port`, `smtps://host:port` (TLS) or
    /// `smtp+starttls://host:port`.
    pub smtp: String,
    pub username: String,
    /// A file holding the password (IMAP LOGIN, SMTP AUTH).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A file holding an OAuth2 access token (XOAUTH2, as NHSmail
    /// requires), read at every connection so a token refresher can
    /// replace it.
    #[serde(default)]
    pub oauth2_token_file: Option<PathBuf>,
    #[serde(default = "default_folder")]
    pub folder: String,
    /// How often the mailbox is read when the server has no IDLE, and the
    /// longest an IDLE waits.
    #[serde(default = "default_poll")]
    pub poll_seconds: u64,
    /// Acknowledge a new thread's first mail with its reference.
    #[serde(default = "yes")]
    pub acknowledge: bool,
    #[serde(default)]
    pub max_mail_bytes: Option<u64>,
}

fn default_folder() -> String {
    "INBOX".into()
}
fn default_poll() -> u64 {
    30
}
fn yes() -> bool {
    true
}

/// Where a server is, from its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    None,
    Implicit,
    StartTls,
}

/// `scheme://host:port` parsed, naming the problem.
pub fn endpoint(url: &str, what: &str) -> Result<Endpoint, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{what}: give scheme://host:port, not {url:?}"))?;
    let (tls, default_port) = match (what, scheme) {
        ("imap", "imap") => (Tls::None, 143),
        ("imap", "imaps") => (Tls::Implicit, 993),
        ("smtp", "smtp") => (Tls::None, 25),
        ("smtp", "smtps") => (Tls::Implicit, 465),
        ("smtp", "smtp+starttls") => (Tls::StartTls, 587),
        _ => return Err(format!("{what}: the scheme {scheme:?} is not one this takes (imap, imaps; smtp, smtps, smtp+starttls)")),
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('@') || rest.contains('/') {
        return Err(format!(
            "{what}: only host:port (credentials go in their own files)"
        ));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse()
                .map_err(|_| format!("{what}: the port {p:?} is not a number"))?,
        ),
        None => (rest, default_port),
    };
    if host.is_empty() {
        return Err(format!("{what}: no host"));
    }
    Ok(Endpoint {
        host: host.trim_matches(|c| c == '[' || c == ']').to_string(),
        port,
        tls,
    })
}

impl MailboxConfig {
    /// What is wrong with it, if anything.
    pub fn check(&self) -> Result<(), String> {
        app::services::canonical(app::services::Kind::Email, &self.address)
            .map_err(|e| format!("mailbox address: {e}"))?;
        endpoint(&self.imap, "imap")?;
        endpoint(&self.smtp, "smtp")?;
        if self.password_file.is_some() == self.oauth2_token_file.is_some() {
            return Err(format!(
                "mailbox {}: give password_file or oauth2_token_file (one of them)",
                self.address
            ));
        }
        if !(1..=3600).contains(&self.poll_seconds) {
            return Err("poll_seconds: 1 to 3600".into());
        }
        Ok(())
    }

    fn secret(&self) -> Result<Secret, String> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("{}: {e}", p.display()))
        };
        match (&self.password_file, &self.oauth2_token_file) {
            (Some(p), _) => Ok(Secret::Password(read(p)?)),
            (_, Some(t)) => Ok(Secret::OAuth2(read(t)?)),
            _ => Err("no credentials".into()),
        }
    }

    fn max_bytes(&self) -> u64 {
        self.max_mail_bytes.unwrap_or(DEFAULT_MAX_MAIL_BYTES)
    }
}

enum Secret {
    Password(String),
    OAuth2(String),
}

/// SASL XOAUTH2's initial response (Google's and Microsoft's format).
pub fn xoauth2(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

struct XOAuth2(String);

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        // A second challenge is the server's error description: an empty
        // answer ends the exchange (RFC 7628).
        std::mem::take(&mut self.0)
    }
}

/// A plain or TLS connection, one type for the IMAP client.
#[derive(Debug)]
enum Stream {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

impl tokio::io::AsyncRead for Stream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type Session = async_imap::Session<Stream>;

/// A mailbox at work: its configuration and the service it serves.
pub(crate) struct Mailbox {
    pub cfg: MailboxConfig,
    pub org: OrgId,
    pub service: u32,
    pub service_name: String,
}

/// Finds the service each mailbox's address is an entry point of, and
/// starts its reader and its sender.
pub(crate) async fn start(
    app: &App,
    chats: &Arc<Chats>,
    outbound: &Arc<crate::outbound::Outbound>,
    mailboxes: &[MailboxConfig],
) -> Result<Vec<tokio::task::JoinHandle<()>>, String> {
    let mut tasks = Vec::new();
    for cfg in mailboxes {
        cfg.check()?;
        let addr = cfg.address.to_ascii_lowercase();
        let mut found = None;
        for &org in &app.orgs {
            let services = app
                .with_directory(move |d| d.services(org))
                .await
                .and_then(Result::ok)
                .unwrap_or_default();
            for (sid, def) in services {
                let Some(d) = app::services::ServiceDef::parse(&def) else {
                    continue;
                };
                if d.entry_points.iter().any(|e| {
                    e.kind == app::services::Kind::Email && e.address.eq_ignore_ascii_case(&addr)
                }) {
                    found = Some((org, sid, d.name.clone()));
                }
            }
        }
        let Some((org, service, service_name)) = found else {
            return Err(format!(
                "mailbox {addr}: no service has it as an email entry point (add it to the service first)"
            ));
        };
        let mb = Arc::new(Mailbox {
            cfg: cfg.clone(),
            org,
            service,
            service_name,
        });
        tasks.push(tokio::spawn(reader(
            mb.clone(),
            chats.clone(),
            outbound.clone(),
        )));
        tasks.push(tokio::spawn(sender(mb, chats.clone())));
    }
    Ok(tasks)
}

async fn connect(mb: &Mailbox, outbound: &crate::outbound::Outbound) -> Result<Session, String> {
    let ep = endpoint(&mb.cfg.imap, "imap")?;
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect((ep.host.as_str(), ep.port)),
    )
    .await
    .map_err(|_| "IMAP: no connection within 10 s".to_string())?
    .map_err(|e| format!("IMAP: could not connect: {e}"))?;
    let stream = match ep.tls {
        Tls::None => Stream::Plain(tcp),
        _ => {
            let name = rustls_pki_types::ServerName::try_from(ep.host.clone())
                .map_err(|_| "IMAP: not a host name TLS can check".to_string())?;
            let tls =
                tokio::time::timeout(Duration::from_secs(10), outbound.tls().connect(name, tcp))
                    .await
                    .map_err(|_| "IMAP: the TLS handshake timed out".to_string())?
                    .map_err(|e| format!("IMAP: TLS: {e}"))?;
            Stream::Tls(Box::new(tls))
        }
    };
    let mut client = async_imap::Client::new(stream);
    // The server's greeting.
    tokio::time::timeout(Duration::from_secs(10), client.read_response())
        .await
        .map_err(|_| "IMAP: no greeting within 10 s".to_string())?
        .map_err(|e| format!("IMAP: {e}"))?;
    let session = match mb.cfg.secret()? {
        Secret::Password(p) => client
            .login(&mb.cfg.username, &p)
            .await
            .map_err(|(e, _)| format!("IMAP: the login was refused: {e}"))?,
        Secret::OAuth2(t) => client
            .authenticate("XOAUTH2", XOAuth2(xoauth2(&mb.cfg.username, &t)))
            .await
            .map_err(|(e, _)| format!("IMAP: XOAUTH2 was refused: {e}"))?,
    };
    Ok(session)
}

/// Reads the mailbox for as long as the server runs: connects (again
/// after a failure, waiting longer each time, at most a minute), takes
/// what is new, then waits for news (IDLE) or polls.
async fn reader(mb: Arc<Mailbox>, chats: Arc<Chats>, outbound: Arc<crate::outbound::Outbound>) {
    let mut failures = 0u32;
    loop {
        match read_session(&mb, &chats, &outbound).await {
            Ok(()) => failures = 0,
            Err(e) => {
                failures += 1;
                tracing::warn!(mailbox = %mb.cfg.address, "{e}");
            }
        }
        let wait = (1u64 << failures.min(6)).min(60);
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
}

async fn read_session(
    mb: &Mailbox,
    chats: &Arc<Chats>,
    outbound: &crate::outbound::Outbound,
) -> Result<(), String> {
    let mut session = connect(mb, outbound).await?;
    let idle = session
        .capabilities()
        .await
        .map(|c| c.has_str("IDLE"))
        .unwrap_or(false);
    let folder = session
        .select(&mb.cfg.folder)
        .await
        .map_err(|e| format!("IMAP: SELECT {}: {e}", mb.cfg.folder))?;
    let validity = folder.uid_validity.unwrap_or(0);
    let app = chats.app().clone();
    let name = mb.cfg.address.clone();
    let cursor = app
        .with_directory(move |d| d.mail_cursor(&name))
        .await
        .and_then(Result::ok)
        .flatten();
    // A new UIDVALIDITY means the UIDs were renumbered: start again (what
    // was taken is known by its Message-ID).
    let mut last = match cursor {
        Some((v, l)) if v == validity => l,
        _ => 0,
    };
    tracing::info!(mailbox = %mb.cfg.address, idle, "reading the mailbox");
    loop {
        last = take_new(mb, chats, &mut session, validity, last).await?;
        let poll = Duration::from_secs(mb.cfg.poll_seconds);
        if idle {
            let mut handle = session.idle();
            handle
                .init()
                .await
                .map_err(|e| format!("IMAP: IDLE: {e}"))?;
            let (wait, _stop) = handle.wait_with_timeout(poll);
            let _ = wait.await.map_err(|e| format!("IMAP: IDLE: {e}"))?;
            session = handle
                .done()
                .await
                .map_err(|e| format!("IMAP: DONE: {e}"))?;
        } else {
            tokio::time::sleep(poll).await;
            session
                .noop()
                .await
                .map_err(|e| format!("IMAP: NOOP: {e}"))?;
        }
    }
}

/// Takes every unseen mail after UID `last`, in order; the new `last`.
async fn take_new(
    mb: &Mailbox,
    chats: &Arc<Chats>,
    session: &mut Session,
    validity: u32,
    mut last: u32,
) -> Result<u32, String> {
    let found = session
        .uid_search(format!("UID {}:* UNSEEN", last.saturating_add(1)))
        .await
        .map_err(|e| format!("IMAP: SEARCH: {e}"))?;
    let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > last).collect();
    uids.sort_unstable();
    let app = chats.app().clone();
    for uid in uids {
        let size = {
            let mut s = session
                .uid_fetch(uid.to_string(), "(UID RFC822.SIZE)")
                .await
                .map_err(|e| format!("IMAP: FETCH: {e}"))?;
            let mut size = None;
            while let Some(f) = s.next().await {
                if let Ok(f) = f {
                    size = f.size.or(size);
                }
            }
            size.unwrap_or(0) as u64
        };
        let outcome = if size > mb.cfg.max_bytes() {
            too_large(mb, chats, uid, size).await
        } else {
            let bytes = {
                let mut s = session
                    .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
                    .await
                    .map_err(|e| format!("IMAP: FETCH: {e}"))?;
                let mut bytes = None;
                while let Some(f) = s.next().await {
                    if let Ok(f) = f {
                        if let Some(b) = f.body() {
                            bytes = Some(b.to_vec());
                        }
                    }
                }
                bytes
            };
            match bytes {
                Some(b) => take(mb, chats, uid, &b).await,
                None => Err(format!("IMAP: UID {uid} came without its body")),
            }
        };
        // Not taken (the store failed): left unseen, tried again later.
        outcome?;
        {
            let mut s = session
                .uid_store(uid.to_string(), "+FLAGS (\\Seen)")
                .await
                .map_err(|e| format!("IMAP: STORE: {e}"))?;
            while s.next().await.is_some() {}
        }
        last = uid;
        let name = mb.cfg.address.clone();
        let _ = app
            .with_directory(move |d| d.set_mail_cursor(&name, validity, uid))
            .await;
    }
    Ok(last)
}

/// A size in KB or MB, as people read it.
fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// A mail too large to take: the agents are told it is in the mailbox.
async fn too_large(mb: &Mailbox, chats: &Arc<Chats>, uid: u32, size: u64) -> Result<(), String> {
    tracing::warn!(mailbox = %mb.cfg.address, uid, size, "a mail over the size limit: left in the mailbox, a contact made");
    let text = format!(
        "[An email of {} arrived at {}, over the {} limit. It was not taken in: it is still in the mailbox (folder {}, IMAP UID {uid}). Read it there and reply from here if it has a sender.]",
        human_size(size),
        mb.cfg.address,
        human_size(mb.cfg.max_bytes()),
        mb.cfg.folder,
    );
    let meta = ThreadMeta {
        address: String::new(),
        route: mb.cfg.address.to_ascii_lowercase(),
        from: mb.cfg.address.to_ascii_lowercase(),
        subject: "A message too large to take".into(),
        ..ThreadMeta::default()
    };
    written::receive(
        chats,
        Incoming {
            org: mb.org,
            medium: Medium::Email,
            target: Target::New {
                service: mb.service,
                meta,
                acknowledgement: None,
            },
            input_id: format!("big-{uid}-{size}"),
            body: Body::Text(text),
            mail_id: None,
            keys: Vec::new(),
            action: "email.received",
        },
    )
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// What the edge reads of a parsed mail.
pub(crate) fn headers_of(m: &mail_parser::Message<'_>, own: &str) -> Headers {
    let list = |v: &mail_parser::HeaderValue<'_>| -> Vec<String> {
        match v {
            mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
            mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let text = |name: &str| -> Option<String> {
        m.header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
    };
    let from = m
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or("")
        .to_ascii_lowercase();
    let ct = m
        .root_part()
        .headers()
        .iter()
        .find_map(|h| match h.value() {
            mail_parser::HeaderValue::ContentType(c)
                if h.name().eq_ignore_ascii_case("content-type") =>
            {
                Some(c.clone())
            }
            _ => None,
        });
    let report_type = ct.as_ref().and_then(|c| {
        (c.ctype().eq_ignore_ascii_case("multipart")
            && c.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report")))
        .then(|| c.attribute("report-type").map(|r| r.to_ascii_lowercase()))
        .flatten()
    });
    let loop_marker = text("x-loop").is_some_and(|v| v == own.to_ascii_lowercase());
    Headers {
        message_id: m.message_id().map(str::to_string),
        in_reply_to: list(m.in_reply_to()),
        references: list(m.references()),
        from,
        subject: m.subject().unwrap_or("").to_string(),
        auto_submitted: text("auto-submitted"),
        precedence: text("precedence"),
        list: text("list-id").is_some() || text("list-unsubscribe").is_some(),
        autoresponder: text("x-autoreply").is_some()
            || text("x-autorespond").is_some()
            || text("x-auto-response-suppress")
                .is_some_and(|v| v.contains("all") || v.contains("oof")),
        report_type,
        null_return_path: m
            .header_raw("return-path")
            .is_some_and(|v| v.trim() == "<>"),
        our_loop_marker: loop_marker,
    }
}

/// The id a mail is known by in its thread (its Message-ID, hashed to fit
/// a sender's id; none: a hash of its whole text).
fn input_id(h: &Headers, raw: &[u8]) -> String {
    use sha2::Digest;
    let mut d = sha2::Sha256::new();
    match &h.message_id {
        Some(id) => d.update(id.as_bytes()),
        None => d.update(raw),
    }
    format!("m-{}", app::auth::hex(&d.finalize()[..16]))
}

/// Longest text taken from one mail, in characters.
const MAX_TEXT: usize = callctl::thread::MAX_THREAD_TEXT_CHARS - 400;

/// Takes one mail: classified, threaded, stored. Err only when it could
/// not be stored (it is then left to be taken again).
async fn take(mb: &Mailbox, chats: &Arc<Chats>, uid: u32, raw: &[u8]) -> Result<(), String> {
    let app = chats.app().clone();
    let own = mb.cfg.address.to_ascii_lowercase();
    let Some(m) = mail_parser::MessageParser::default().parse(raw) else {
        tracing::warn!(mailbox = %own, uid, "a mail that is not MIME: left in the mailbox");
        return too_odd(mb, chats, uid, raw.len()).await;
    };
    let h = headers_of(&m, &own);
    let kind = mail::classify(&h, std::slice::from_ref(&own));
    match kind {
        Kind::Loop => {
            tracing::info!(mailbox = %own, uid, "our own mail come back: not answered");
            return Ok(());
        }
        Kind::Bounce => {
            bounced(&app, mb.org, &m).await;
            tracing::info!(mailbox = %own, uid, "a delivery failure report: recorded");
            return Ok(());
        }
        _ => {}
    }
    if h.from.is_empty() {
        tracing::info!(mailbox = %own, uid, "a mail with no sender: not taken");
        return Ok(());
    }
    // Which thread: every id the mail names, looked up for its sender.
    let mut known: HashMap<String, Known> = HashMap::new();
    for id in h.in_reply_to.iter().chain(h.references.iter()) {
        let k = written::mail_key(&app, mb.org, &h.from, id);
        if let Some(t) = app
            .with_directory(move |d| d.thread_by_key(&k))
            .await
            .and_then(Result::ok)
            .flatten()
        {
            if let Some(subject) = subject_of(chats, t).await {
                known.insert(id.clone(), Known { thread: t, subject });
            }
        }
    }
    let mut tagged = None;
    if let Some(t) = mail::tagged(&h.subject) {
        let k = written::owner_key(&app, mb.org, &h.from, t);
        let mine = app
            .with_directory(move |d| d.thread_by_key(&k))
            .await
            .and_then(Result::ok)
            .flatten()
            == Some(t);
        if mine {
            if let Some(subject) = subject_of(chats, t).await {
                tagged = Some(Known { thread: t, subject });
            }
        }
    }
    // This very mail taken before (a crash before it was flagged \Seen):
    // its own thread, where its id stores it once.
    let seen_in = match &h.message_id {
        Some(mid) => {
            let k = written::mail_key(&app, mb.org, &h.from, mid);
            app.with_directory(move |d| d.thread_by_key(&k))
                .await
                .and_then(Result::ok)
                .flatten()
        }
        None => None,
    };
    let threading = match seen_in {
        Some(t) => Threading::Join(t),
        None => mail::thread(
            &h,
            |id| known.get(id).cloned(),
            |t| tagged.clone().filter(|k| k.thread == t),
        ),
    };
    let person = kind == Kind::Person;
    let threading = if person {
        threading
    } else {
        mail::thread_automatic(threading)
    };
    // Automatic mail: only into a thread in progress, never answered.
    if !person {
        let live = matches!(threading, Threading::Join(t) if chats.by_id(t).is_some());
        if !live {
            tracing::info!(mailbox = %own, uid, "an automatic mail outside a conversation: not taken");
            return Ok(());
        }
    }
    let mut text = m
        .body_text(0)
        .map(|t| t.to_string())
        .unwrap_or_default()
        .trim()
        .to_string();
    if text.chars().count() > MAX_TEXT {
        text = text.chars().take(MAX_TEXT).collect::<String>()
            + "\n[The rest of this email was too long to show here; it is in the mailbox.]";
    }
    if !person {
        text = format!("[Automatic reply] {text}");
    }
    let mut notes = Vec::new();
    let mut files = Vec::new();
    for a in m.attachments() {
        let name = a
            .attachment_name()
            .unwrap_or("attachment")
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect::<String>();
        let bytes = a.contents();
        match crate::chat_files::sniff(bytes) {
            Some(mime) => files.push((name, mime, bytes.to_vec())),
            None => notes.push(format!(
                "[Attachment \"{name}\" ({} KB) not kept: only images (PNG, JPEG, GIF, WebP) and PDF documents are taken. It is in the mailbox.]",
                bytes.len().div_ceil(1024)
            )),
        }
    }
    if !notes.is_empty() {
        text = format!("{text}\n\n{}", notes.join("\n"));
    }
    if text.trim().is_empty() {
        text = "(no text)".into();
    }
    if let Threading::New { follows: Some(t) } = threading {
        text = format!("[A new subject, in reply to conversation SB-{t}]\n\n{text}");
    }
    // Whatever was added, it fits a message.
    if text.chars().count() > MAX_TEXT + 300 {
        text = text.chars().take(MAX_TEXT).collect::<String>()
            + "\n[Cut here: the rest is in the mailbox.]";
    }
    let id = input_id(&h, raw);
    let mut keys = Vec::new();
    if let Some(mid) = &h.message_id {
        keys.push(written::mail_key(&app, mb.org, &h.from, mid));
    }
    let target = match threading {
        Threading::Join(t) => Target::Join(t),
        Threading::New { .. } => Target::New {
            service: mb.service,
            meta: ThreadMeta {
                address: h.from.clone(),
                route: own.clone(),
                from: own.clone(),
                subject: h.subject.clone(),
                ..ThreadMeta::default()
            },
            acknowledgement: (person && mb.cfg.acknowledge)
                .then(|| acknowledgement(&mb.service_name)),
        },
    };
    let incoming = |target| Incoming {
        org: mb.org,
        medium: Medium::Email,
        target,
        input_id: id.clone(),
        body: Body::Text(text.clone()),
        mail_id: h.message_id.clone(),
        keys: keys.clone(),
        action: "email.received",
    };
    let joined = matches!(target, Target::Join(_));
    let chat = match written::receive(chats, incoming(target)).await {
        Ok((chat, _)) => chat,
        // The store failed: left unseen, taken again later.
        Err(e @ written::ReceiveError::Store(_)) => return Err(e.to_string()),
        // The thread would not take it (full, gone): a thread of its own.
        Err(e) if joined => {
            tracing::warn!(mailbox = %own, uid, "a mail its thread would not take ({e}): a new thread");
            let target = Target::New {
                service: mb.service,
                meta: ThreadMeta {
                    address: h.from.clone(),
                    route: own.clone(),
                    from: own.clone(),
                    subject: h.subject.clone(),
                    ..ThreadMeta::default()
                },
                acknowledgement: None,
            };
            match written::receive(chats, incoming(target)).await {
                Ok((chat, _)) => chat,
                Err(e @ written::ReceiveError::Store(_)) => return Err(e.to_string()),
                Err(e) => {
                    tracing::warn!(mailbox = %own, uid, "a mail not taken ({e}): left in the mailbox");
                    return Ok(());
                }
            }
        }
        // Never to be taken (its service gone): left in the mailbox, which
        // is read on.
        Err(e) => {
            tracing::warn!(mailbox = %own, uid, "a mail not taken ({e}): left in the mailbox");
            return Ok(());
        }
    };
    // Its files, each a message of its own after the words.
    for (n, (name, mime, bytes)) in files.into_iter().enumerate() {
        let Some(conv) = chats.by_id(chat) else { break };
        if bytes.len() as u64 > conv.max_attachment {
            let note = format!(
                "[Attachment \"{name}\" ({} KB) not kept: over this service's limit of {} KB. It is in the mailbox.]",
                bytes.len().div_ceil(1024),
                conv.max_attachment / 1024
            );
            let _ = conv
                .send(callctl::chat::ChatInput::Text {
                    id: Some(format!("{id}-n{n}")),
                    text: note,
                })
                .await;
            continue;
        }
        let file = crate::chat_files::store(chats, &conv, &bytes)
            .await
            .map_err(|e| format!("a mail's attachment could not be stored: {e}"))?;
        let size = bytes.len() as u64;
        // A thread that will not take it (full) is not a reason to take
        // the mail again: the file is in the mailbox.
        if let Err(r) = conv
            .send(callctl::chat::ChatInput::File {
                id: Some(format!("{id}-a{n}")),
                file: Attachment {
                    id: file,
                    name,
                    mime: mime.into(),
                    size,
                },
            })
            .await
        {
            tracing::warn!(mailbox = %own, uid, "an attachment not taken: {}", r.code());
        }
    }
    Ok(())
}

/// A mail that does not parse: the agents are told where it is.
async fn too_odd(mb: &Mailbox, chats: &Arc<Chats>, uid: u32, size: usize) -> Result<(), String> {
    let text = format!(
        "[An email arrived at {} that could not be read (its format is broken). It was not taken in: it is still in the mailbox (folder {}, IMAP UID {uid}, {size} bytes).]",
        mb.cfg.address, mb.cfg.folder,
    );
    let meta = ThreadMeta {
        route: mb.cfg.address.to_ascii_lowercase(),
        from: mb.cfg.address.to_ascii_lowercase(),
        subject: "An email that could not be read".into(),
        ..ThreadMeta::default()
    };
    written::receive(
        chats,
        Incoming {
            org: mb.org,
            medium: Medium::Email,
            target: Target::New {
                service: mb.service,
                meta,
                acknowledgement: None,
            },
            input_id: format!("odd-{uid}-{size}"),
            body: Body::Text(text),
            mail_id: None,
            keys: Vec::new(),
            action: "email.received",
        },
    )
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// The acknowledgement a new thread's first mail gets.
fn acknowledgement(service: &str) -> String {
    format!(
        "Thank you for your message to {service}. Your reference is {{reference}}: please keep it in the subject if you write again.\n\n\
         We aim to reply within one working day. If you need medical help now, call 111, or 999 in an emergency.\n\n\
         This is an automatic reply."
    )
}

/// The subject of thread `chat` (live, or from its sealed particulars).
async fn subject_of(chats: &Arc<Chats>, chat: u64) -> Option<String> {
    if let Some(c) = chats.by_id(chat) {
        return c
            .thread
            .as_ref()
            .map(|t| crate::chat::lock(t).subject.clone());
    }
    let row = chats
        .app()
        .with_directory(move |d| d.chat_by_id(chat))
        .await?
        .ok()??;
    chats.load(&row).await?.thread.map(|t| t.subject)
}

/// A delivery failure report: the message it is about, by the reference in
/// our Message-ID, is marked bounced.
async fn bounced(app: &App, org: OrgId, m: &mail_parser::Message<'_>) {
    let mut ids: Vec<String> = Vec::new();
    for part in m.parts.iter() {
        if let Some(inner) = part.message() {
            ids.extend(inner.message_id().map(str::to_string));
        }
        if let Some(t) = part.text_contents() {
            for line in t.lines() {
                // Split at the colon: never slice text at a byte count.
                let Some((name, value)) = line.trim().split_once(':') else {
                    continue;
                };
                if name.trim().eq_ignore_ascii_case("message-id") {
                    ids.push(
                        value
                            .trim()
                            .trim_matches(|c| c == '<' || c == '>')
                            .to_string(),
                    );
                }
            }
        }
    }
    // Our whole Message-ID (its random part too), in this organisation:
    // a guessed reference marks nothing.
    for id in ids.into_iter().filter(|i| i.starts_with("sb-")).take(10) {
        let now = app::wall_clock();
        let found = app
            .with_directory(move |d| {
                d.outbound_delivery(Some(org), Some(&id), None, "bounced", now)
            })
            .await
            .and_then(Result::ok)
            .flatten();
        if found.is_some() {
            return;
        }
    }
}

/// Sends the mailbox's outbox: at once when woken, else every few
/// seconds; rows a crash left `sending` are sent again (same Message-ID).
async fn sender(mb: Arc<Mailbox>, chats: Arc<Chats>) {
    let app = chats.app().clone();
    let route = mb.cfg.address.to_ascii_lowercase();
    let wake = chats.outbox_wake.clone();
    {
        let r = route.clone();
        let cut_off = app
            .with_directory(move |d| d.sending_outbound(&r))
            .await
            .and_then(Result::ok)
            .unwrap_or_default();
        for row in cut_off {
            send_one(&app, &mb, row).await;
        }
    }
    loop {
        let r = route.clone();
        let due = app
            .with_directory(move |d| d.due_outbound(&r, app::wall_clock(), 20))
            .await
            .and_then(Result::ok)
            .unwrap_or_default();
        let busy = !due.is_empty();
        for row in due {
            let id = row.id;
            let mine = app
                .with_directory(move |d| d.outbound_sending(id))
                .await
                .and_then(Result::ok)
                .unwrap_or(false);
            if mine {
                send_one(&app, &mb, row).await;
            }
        }
        if !busy {
            let _ = tokio::time::timeout(Duration::from_secs(2), wake.notified()).await;
        }
    }
}

async fn send_one(app: &App, mb: &Mailbox, row: store::written::Outbound) {
    let now = app::wall_clock();
    let attempt = match written::open_envelope(app, row.org, &row.reference, &row.envelope) {
        Some(Envelope::Email {
            to,
            from,
            subject,
            message_id,
            in_reply_to,
            references,
            text,
            automatic,
        }) => {
            match smtp_send(
                mb,
                &to,
                &from,
                &subject,
                &message_id,
                in_reply_to.as_deref(),
                &references,
                &text,
                automatic,
            )
            .await
            {
                Ok(()) => store::written::Attempt::Sent {
                    provider_id: Some(message_id),
                },
                Err(SendError::Permanent(e)) => store::written::Attempt::Failed { error: e },
                Err(SendError::Transient(e)) => store::written::Attempt::Later {
                    error: e,
                    retry_at: Timestamp(now.0 + app::outbox::retry_after_ms(row.attempts)),
                },
            }
        }
        _ => store::written::Attempt::Failed {
            error: "the envelope does not open (another key-encryption key?)".into(),
        },
    };
    if let store::written::Attempt::Later { error, .. }
    | store::written::Attempt::Failed { error } = &attempt
    {
        tracing::warn!(mailbox = %mb.cfg.address, reference = %row.reference, "a reply was not sent: {error}");
    }
    let id = row.id;
    let _ = app
        .with_directory(move |d| d.outbound_attempt(id, app::wall_clock(), &attempt))
        .await;
}

enum SendError {
    Permanent(String),
    Transient(String),
}

fn angle(id: &str) -> String {
    format!("<{}>", id.trim_matches(|c| c == '<' || c == '>'))
}

#[allow(clippy::too_many_arguments)]
async fn smtp_send(
    mb: &Mailbox,
    to: &str,
    from: &str,
    subject: &str,
    message_id: &str,
    in_reply_to: Option<&str>,
    references: &[String],
    text: &str,
    automatic: bool,
) -> Result<(), SendError> {
    use lettre::message::header::{HeaderName, HeaderValue};
    use lettre::{AsyncTransport, Message};
    let perm = |e: String| SendError::Permanent(e);
    let to_box: lettre::message::Mailbox = to
        .parse()
        .map_err(|_| perm("the patient's address is not one mail can go to".into()))?;
    let from_box: lettre::message::Mailbox = format!("{} <{from}>", mb.service_name)
        .parse()
        .or_else(|_| from.parse())
        .map_err(|_| perm("the mailbox's address is not valid".into()))?;
    let mut b = Message::builder()
        .from(from_box)
        .to(to_box)
        .subject(subject)
        .message_id(Some(angle(message_id)));
    if let Some(irt) = in_reply_to {
        b = b.in_reply_to(angle(irt));
    }
    if !references.is_empty() {
        b = b.references(
            references
                .iter()
                .map(|r| angle(r))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    b = b.raw_header(HeaderValue::new(
        HeaderName::new_from_ascii_str("X-Loop"),
        from.to_string(),
    ));
    if automatic {
        b = b.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-replied".into(),
        ));
    }
    let msg = b
        .body(text.to_string())
        .map_err(|e| perm(format!("the message could not be made: {e}")))?;
    let ep = endpoint(&mb.cfg.smtp, "smtp").map_err(SendError::Permanent)?;
    let builder = match ep.tls {
        Tls::None => {
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(ep.host.clone())
        }
        Tls::Implicit => lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::relay(&ep.host)
            .map_err(|e| perm(format!("SMTP: {e}")))?,
        Tls::StartTls => {
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::starttls_relay(&ep.host)
                .map_err(|e| perm(format!("SMTP: {e}")))?
        }
    };
    let mut builder = builder.port(ep.port).timeout(Some(Duration::from_secs(30)));
    match mb.cfg.secret().map_err(SendError::Transient)? {
        Secret::Password(p) => {
            // A server on loopback without TLS may take no login at all.
            if ep.tls != Tls::None {
                builder =
                    builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                        mb.cfg.username.clone(),
                        p,
                    ));
            }
        }
        Secret::OAuth2(t) => {
            builder = builder
                .credentials(lettre::transport::smtp::authentication::Credentials::new(
                    mb.cfg.username.clone(),
                    t,
                ))
                .authentication(vec![
                    lettre::transport::smtp::authentication::Mechanism::Xoauth2,
                ]);
        }
    }
    let transport = builder.build();
    // The server's words may quote the recipient's address: only its
    // code is kept (and logged).
    match transport.send(msg).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let code = e
                .status()
                .map_or_else(|| "no code".to_string(), |c| c.to_string());
            if e.is_permanent() {
                Err(SendError::Permanent(format!(
                    "the SMTP server refused it ({code})"
                )))
            } else if e.is_transient() {
                Err(SendError::Transient(format!(
                    "the SMTP server said try later ({code})"
                )))
            } else {
                Err(SendError::Transient("the SMTP connection failed".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_read_from_urls_and_problems_named() {
        assert_eq!(
            endpoint("imaps://mail.nhs.net", "imap").unwrap(),
            Endpoint {
                host: "mail.nhs.net".into(),
                port: 993,
                tls: Tls::Implicit
            }
        );
        assert_eq!(
            endpoint("smtp+starttls://send.nhs.net:587", "smtp")
                .unwrap()
                .tls,
            Tls::StartTls
        );
        assert_eq!(
            endpoint("imap://127.0.0.1:1143", "imap").unwrap().port,
            1143
        );
        assert!(endpoint("imap://u:p@host", "imap")
            .unwrap_err()
            .contains("credentials"));
        assert!(endpoint("pop3://host", "imap")
            .unwrap_err()
            .contains("scheme"));
        assert!(endpoint("imap://host:x", "imap")
            .unwrap_err()
            .contains("port"));
    }

    #[test]
    fn xoauth2_is_the_documented_string() {
        assert_eq!(
            xoauth2("someone@nhs.net", "tok"),
            "user=someone@nhs.net\x01auth=Bearer tok\x01\x01"
        );
    }

    #[test]
    fn headers_are_read_from_a_real_mail() {
        let raw = b"From: Pat <Pat@Example.test>\r\nTo: wheelchairs@trust.test\r\nSubject: Re: Repair [Ref SB-4]\r\nMessage-ID: <m2@example.test>\r\nIn-Reply-To: <sb-1-4-2.ab@trust.test>\r\nReferences: <m1@example.test> <sb-1-4-2.ab@trust.test>\r\nAuto-Submitted: auto-replied\r\n\r\nHello\r\n";
        let m = mail_parser::MessageParser::default()
            .parse(&raw[..])
            .unwrap();
        let h = headers_of(&m, "wheelchairs@trust.test");
        assert_eq!(h.from, "pat@example.test");
        assert_eq!(h.message_id.as_deref(), Some("m2@example.test"));
        assert_eq!(h.in_reply_to, ["sb-1-4-2.ab@trust.test"]);
        assert_eq!(h.references, ["m1@example.test", "sb-1-4-2.ab@trust.test"]);
        assert_eq!(h.auto_submitted.as_deref(), Some("auto-replied"));
        assert_eq!(mail::tagged(&h.subject), Some(4));
    }

    #[test]
    fn a_delivery_status_notification_is_a_bounce() {
        let raw = b"From: Mail Delivery System <MAILER-DAEMON@mx.test>\r\nReturn-Path: <>\r\nTo: wheelchairs@trust.test\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nIt failed.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <sb-1-4-2.ab@trust.test>\r\n--b--\r\n";
        let m = mail_parser::MessageParser::default()
            .parse(&raw[..])
            .unwrap();
        let h = headers_of(&m, "wheelchairs@trust.test");
        assert_eq!(h.report_type.as_deref(), Some("delivery-status"));
        assert_eq!(
            mail::classify(&h, &["wheelchairs@trust.test".into()]),
            Kind::Bounce
        );
    }
}
