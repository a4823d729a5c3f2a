//! Email's decisions, pure: what kind of mail a message is (a person's, an
//! automatic reply, a bounce, our own mail come back), which thread it
//! belongs to, and the threading headers of a reply. The edge parses the
//! mail (MIME) into [`Headers`] and looks ids up in the store; the choices
//! are made here.
//!
//! Threading follows what email clients do and what contact centres get
//! wrong (Chatwoot's users' longest-running complaints): a reply is found
//! by its In-Reply-To and then by every id of its References chain, newest
//! first, but only among the threads of the **same sender** (two patients
//! replying to one circular are two conversations); a reply whose subject
//! has changed starts a new thread that says which one it follows, rather
//! than being swallowed into an old one; and a client that drops the
//! headers is still found by the reference tag in the subject, again only
//! for the same sender.

/// What the edge read of a mail's headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    /// Its Message-ID, without the angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    /// The References chain, oldest first.
    pub references: Vec<String>,
    /// The sender's address, lower case.
    pub from: String,
    pub subject: String,
    /// `Auto-Submitted` (RFC 3834), lower case.
    pub auto_submitted: Option<String>,
    /// `Precedence`, lower case.
    pub precedence: Option<String>,
    /// It has `List-Id` or `List-Unsubscribe` (a mailing list's).
    pub list: bool,
    /// It has `X-Autoreply`, `X-Autorespond` or `X-Auto-Response-Suppress`
    /// set by an autoresponder (Exchange's out-of-office among them).
    pub autoresponder: bool,
    /// A `multipart/report`'s `report-type`, lower case.
    pub report_type: Option<String>,
    /// `Return-Path: <>` (the null sender of notifications).
    pub null_return_path: bool,
    /// It carries our own loop marker for this mailbox (`X-Loop`).
    pub our_loop_marker: bool,
}

/// What kind of mail it is, and so what is done with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A person wrote: a contact, and an acknowledgement for a new thread.
    Person,
    /// An automatic reply (out of office, a list, a notification): kept
    /// in its thread if it has one, never answered, never a new contact.
    Automatic(&'static str),
    /// A delivery status notification: marks our message undelivered.
    Bounce,
    /// Our own mail come back: dropped (answering it would loop).
    Loop,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::Automatic(_) => "automatic",
            Kind::Bounce => "bounce",
            Kind::Loop => "loop",
        }
    }
}

fn local_part(addr: &str) -> &str {
    addr.split('@').next().unwrap_or("")
}

/// What kind of mail `h` is; `own` are this service's own addresses.
pub fn classify(h: &Headers, own: &[String]) -> Kind {
    if h.our_loop_marker || own.iter().any(|o| o.eq_ignore_ascii_case(&h.from)) {
        return Kind::Loop;
    }
    let daemon = matches!(
        local_part(&h.from),
        "mailer-daemon" | "postmaster" | "mail-daemon"
    );
    if h.report_type.as_deref() == Some("delivery-status") || (daemon && h.null_return_path) {
        return Kind::Bounce;
    }
    if daemon {
        return Kind::Automatic("from a mail system");
    }
    if let Some(a) = h.auto_submitted.as_deref() {
        if a != "no" {
            return Kind::Automatic("auto-submitted");
        }
    }
    if let Some(p) = h.precedence.as_deref() {
        if matches!(p, "bulk" | "junk" | "list" | "auto_reply") {
            return Kind::Automatic("bulk or list precedence");
        }
    }
    if h.list {
        return Kind::Automatic("a mailing list");
    }
    if h.autoresponder {
        return Kind::Automatic("an autoresponder");
    }
    if h.null_return_path {
        return Kind::Automatic("a null return path");
    }
    Kind::Person
}

/// A thread found by one of a mail's ids or its tag, with the subject it
/// has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub thread: u64,
    pub subject: String,
}

/// Where a mail goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threading {
    /// Into this thread.
    Join(u64),
    /// A new thread; `follows` names the thread its headers point to when
    /// it was not joined because its subject changed.
    New { follows: Option<u64> },
}

/// The subject without reply and forward prefixes, our reference tag,
/// case or runs of spaces.
pub fn normal_subject(s: &str) -> String {
    let mut rest = strip_tag(s).trim().to_string();
    loop {
        let lower = rest.to_ascii_lowercase();
        let cut = [
            "re:", "fw:", "fwd:", "aw:", "sv:", "vs:", "antw:", "wg:", "re :",
        ]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| p.len());
        match cut {
            Some(n) => rest = rest[n..].trim_start().to_string(),
            None => break,
        }
    }
    rest.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The reference tag our subjects carry: `[Ref SB-<thread>]`.
pub fn tag(thread: u64) -> String {
    format!("[Ref SB-{thread}]")
}

/// The thread a subject's reference tag names.
pub fn tagged(subject: &str) -> Option<u64> {
    let i = subject.find("[Ref SB-")?;
    let rest = &subject[i + 8..];
    let end = rest.find(']')?;
    rest[..end].parse().ok()
}

fn strip_tag(s: &str) -> String {
    match (s.find("[Ref SB-"), tagged(s)) {
        (Some(i), Some(_)) => {
            let end = i + s[i..].find(']').map_or(0, |e| e + 1);
            format!("{}{}", &s[..i], &s[end..])
        }
        _ => s.to_string(),
    }
}

/// Where `h` goes: `by_id` finds a thread **of this sender** by a message
/// id, `by_tag` a thread of this sender by its number.
pub fn thread(
    h: &Headers,
    by_id: impl Fn(&str) -> Option<Known>,
    by_tag: impl Fn(u64) -> Option<Known>,
) -> Threading {
    let ids = h.in_reply_to.iter().chain(h.references.iter().rev());
    let by_header = ids.filter_map(|i| by_id(i)).next();
    // The tag alone (headers dropped) is easy to forge: its subject must
    // match too, even an empty one.
    let by_header_only = by_header.is_some();
    let found = by_header.or_else(|| tagged(&h.subject).and_then(by_tag));
    match found {
        None => Threading::New { follows: None },
        Some(k) => {
            let now = normal_subject(&h.subject);
            if (now.is_empty() && by_header_only) || now == normal_subject(&k.subject) {
                Threading::Join(k.thread)
            } else {
                Threading::New {
                    follows: Some(k.thread),
                }
            }
        }
    }
}

/// Where an automatic mail (an out-of-office) goes: its subject is the
/// autoresponder's ("Automatic reply: …"), so a thread its headers find is
/// its thread whatever the subject says; one they find nothing for is
/// dropped by the edge (never a new conversation).
pub fn thread_automatic(t: Threading) -> Threading {
    match t {
        Threading::New { follows: Some(t) } => Threading::Join(t),
        other => other,
    }
}

/// Most ids a reply's References carries: the first (the thread's root)
/// and the newest, as RFC 5322 suggests trimming a long chain.
pub const MAX_REFERENCES: usize = 20;

/// A reply's In-Reply-To and References, from the thread's ids in order
/// (every mail of it, ours and the patient's) and the mail it answers.
pub fn reply_headers(chain: &[String], answering: Option<&str>) -> (Option<String>, Vec<String>) {
    let mut refs: Vec<String> = Vec::new();
    for id in chain {
        if !refs.contains(id) {
            refs.push(id.clone());
        }
    }
    if refs.len() > MAX_REFERENCES {
        let root = refs[0].clone();
        let tail = refs.split_off(refs.len() - (MAX_REFERENCES - 1));
        refs = std::iter::once(root).chain(tail).collect();
    }
    let in_reply_to = answering
        .map(str::to_string)
        .or_else(|| refs.last().cloned());
    (in_reply_to, refs)
}

/// A reply's subject: `Re: ` and the thread's tag, once each.
pub fn reply_subject(subject: &str, thread: u64) -> String {
    let base = strip_tag(subject).trim().to_string();
    let base = if base.is_empty() {
        "Your message".to_string()
    } else {
        base
    };
    let re = if base.to_ascii_lowercase().starts_with("re:") {
        base
    } else {
        format!("Re: {base}")
    };
    format!("{re} {}", tag(thread))
}
