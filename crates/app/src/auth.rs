//! Who may do what: roles, the permission each endpoint needs, the
//! allow table, integration-token scopes, passwords (argon2id), session
//! lifetimes and device cookies (the log-in throttle is `throttle`).
//!
//! The policy parts are pure (no clock, no I/O): `allows` and
//! `SessionPolicy` take the time as an argument and are tested with a
//! controllable clock.

use model::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a person (or an integration) is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Call handler: takes contacts, sets their own state.
    Agent,
    /// Clinician: as an agent, for clinical queues and callbacks.
    Clinician,
    /// Runs the floor: wallboard, priorities, moves and logs agents out.
    Supervisor,
    /// Trust IT: configuration, users, tokens. Sees no patient data.
    Admin,
    /// Information governance: reads the audit trail, nothing else.
    Auditor,
    /// Quality assurance: listens to call recordings and scores them
    /// against the scorecards; sees no live contacts.
    Quality,
    /// Another system, through a scoped token (never a person).
    Integration,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Agent,
        Role::Clinician,
        Role::Supervisor,
        Role::Admin,
        Role::Auditor,
        Role::Quality,
        Role::Integration,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Clinician => "clinician",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Quality => "quality",
            Role::Integration => "integration",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }

    /// Roles that work contacts as an agent (their own agent only).
    pub fn works_as_agent(self) -> bool {
        matches!(self, Role::Agent | Role::Clinician)
    }
}

/// What an endpoint does, for the allow table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Perm {
    /// Who am I.
    Session,
    /// A person's own account: log out, their second factors (an
    /// integration token has none: it never logs in).
    Account,
    ContactCreate,
    ContactRead,
    /// Accept, reject, hold, resume, transfer, end, wrap up, callback.
    ContactWork,
    /// The caller hung up (telephony) or a supervisor clears a contact.
    ContactAbandon,
    ContactPriority,
    QueueRead,
    /// An agent's presence: their own, or anyone's for a supervisor.
    AgentPresence,
    /// Move an agent between queues (change their skills) on the floor.
    AgentMove,
    KpiRead,
    /// Forecasts, staffing, rotas, what-if.
    Plan,
    EventStream,
    ConfigRead,
    ConfigWrite,
    UserAdmin,
    TokenAdmin,
    PatientWrite,
    PatientRead,
    /// Triage a contact; search the Directory of Services.
    Triage,
    /// Set a Directory of Services service's capacity (red/amber/green).
    DosCapacity,
    /// Read the Directory of Services as FHIR (other systems too).
    DirectoryRead,
    /// Keep the Directory of Services: add, change and close services
    /// (the DoS lead's work).
    DirectoryWrite,
    AuditRead,
    /// Delete a contact's wrap-up notes (written on the wrong contact).
    NotesDelete,
    /// Find call recordings and listen to them (each listen audited).
    RecordingListen,
    /// Read the scorecards.
    ScorecardRead,
    /// Define the scorecards.
    ScorecardWrite,
    /// Score recorded calls; read evaluations, calibration and reports.
    Evaluate,
    /// An agent's own evaluations (their feedback).
    OwnEvaluations,
    /// Use the agent desktop as one's phone (the browser softphone).
    OwnPhone,
    /// Read and write in web chats: one's own (agents, clinicians) or any
    /// (supervisors).
    Chat,
    /// Send reminder campaigns by text or email, and read their results.
    Campaigns,
    /// Read the quick replies: those who write in chats, and the admin
    /// who keeps them.
    QuickRepliesRead,
}

impl Perm {
    pub const ALL: [Perm; 34] = [
        Perm::Session,
        Perm::Account,
        Perm::ContactCreate,
        Perm::ContactRead,
        Perm::ContactWork,
        Perm::ContactAbandon,
        Perm::ContactPriority,
        Perm::QueueRead,
        Perm::AgentPresence,
        Perm::AgentMove,
        Perm::KpiRead,
        Perm::Plan,
        Perm::EventStream,
        Perm::ConfigRead,
        Perm::ConfigWrite,
        Perm::UserAdmin,
        Perm::TokenAdmin,
        Perm::PatientWrite,
        Perm::PatientRead,
        Perm::Triage,
        Perm::DosCapacity,
        Perm::DirectoryRead,
        Perm::DirectoryWrite,
        Perm::AuditRead,
        Perm::NotesDelete,
        Perm::RecordingListen,
        Perm::ScorecardRead,
        Perm::ScorecardWrite,
        Perm::Evaluate,
        Perm::OwnEvaluations,
        Perm::OwnPhone,
        Perm::Chat,
        Perm::Campaigns,
        Perm::QuickRepliesRead,
    ];
}

/// The allow table: which roles hold each permission.
pub fn allows(role: Role, perm: Perm) -> bool {
    use Perm::*;
    use Role::*;
    match perm {
        Session => true,
        Account => !matches!(role, Integration),
        ContactCreate => matches!(role, Supervisor | Integration),
        ContactRead => matches!(role, Agent | Clinician | Supervisor | Integration),
        ContactWork => matches!(role, Agent | Clinician | Supervisor | Integration),
        ContactAbandon => matches!(role, Supervisor | Integration),
        ContactPriority => matches!(role, Supervisor),
        QueueRead => matches!(role, Agent | Clinician | Supervisor),
        AgentPresence => matches!(role, Agent | Clinician | Supervisor),
        AgentMove => matches!(role, Supervisor | Admin),
        KpiRead => matches!(role, Supervisor | Admin),
        Plan => matches!(role, Supervisor | Admin),
        EventStream => matches!(role, Agent | Clinician | Supervisor | Integration),
        ConfigRead => matches!(role, Supervisor | Admin),
        ConfigWrite => matches!(role, Admin),
        UserAdmin => matches!(role, Admin),
        TokenAdmin => matches!(role, Admin),
        PatientWrite => matches!(role, Integration),
        PatientRead => matches!(role, Agent | Clinician | Supervisor),
        Triage => matches!(role, Agent | Clinician | Supervisor),
        DosCapacity => matches!(role, Supervisor | Admin),
        DirectoryRead => matches!(role, Agent | Clinician | Supervisor | Admin | Integration),
        DirectoryWrite => matches!(role, Supervisor | Admin),
        AuditRead => matches!(role, Auditor),
        NotesDelete => matches!(role, Supervisor),
        RecordingListen => matches!(role, Supervisor | Quality),
        ScorecardRead => matches!(role, Supervisor | Admin | Quality),
        ScorecardWrite => matches!(role, Admin),
        Evaluate => matches!(role, Supervisor | Quality),
        OwnEvaluations => matches!(role, Agent | Clinician),
        OwnPhone => matches!(role, Agent | Clinician | Supervisor),
        Chat => matches!(role, Agent | Clinician | Supervisor),
        Campaigns => matches!(role, Supervisor | Admin),
        QuickRepliesRead => matches!(role, Agent | Clinician | Supervisor | Admin),
    }
}

/// A page of the web application, and the roles that may open it (the
/// API still checks every call; this is what the navigation offers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Its path without the slash: `/agent`.
    pub name: &'static str,
    pub title: &'static str,
    pub roles: &'static [Role],
}

/// Every page of the staff application, in the order the navigation
/// lists them; a role's home is the first it may open.
pub const PAGES: [Page; 9] = {
    use Role::*;
    [
        Page {
            name: "agent",
            title: "Agent desktop",
            roles: &[Agent, Clinician],
        },
        Page {
            name: "wallboard",
            title: "Wallboard",
            roles: &[Supervisor],
        },
        Page {
            name: "admin",
            title: "Administration",
            roles: &[Admin],
        },
        Page {
            name: "reports",
            title: "Reports",
            roles: &[Supervisor, Admin],
        },
        Page {
            name: "planning",
            title: "Planning",
            roles: &[Supervisor, Admin],
        },
        Page {
            name: "directory",
            title: "Directory of Services",
            roles: &[Supervisor, Admin],
        },
        Page {
            name: "recordings",
            title: "Recordings",
            roles: &[Supervisor, Quality],
        },
        Page {
            name: "audit",
            title: "Audit",
            roles: &[Auditor],
        },
        Page {
            name: "account",
            title: "My log-in",
            roles: &[Agent, Clinician, Supervisor, Admin, Auditor, Quality],
        },
    ]
};

/// What an integration token may be used for (on top of the integration
/// role's permissions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Create and work contacts, read them, follow the live stream.
    Contacts,
    /// Fill the patient directory.
    Patients,
    /// Read the Directory of Services (FHIR).
    Directory,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Contacts => "contacts",
            Scope::Patients => "patients",
            Scope::Directory => "directory",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        [Scope::Contacts, Scope::Patients, Scope::Directory]
            .into_iter()
            .find(|x| x.name() == s)
    }

    pub fn covers(self, perm: Perm) -> bool {
        match self {
            Scope::Contacts => matches!(
                perm,
                Perm::ContactCreate
                    | Perm::ContactRead
                    | Perm::ContactWork
                    | Perm::ContactAbandon
                    | Perm::EventStream
            ),
            Scope::Patients => matches!(perm, Perm::PatientWrite),
            Scope::Directory => matches!(perm, Perm::DirectoryRead),
        }
    }
}

/// How long a session lives.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    /// Ends after this long without a request.
    pub idle_ms: i64,
    /// Ends this long after log-in, however busy.
    pub absolute_ms: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle_ms: 30 * 60 * 1000,
            absolute_ms: 12 * 3600 * 1000,
        }
    }
}

impl SessionPolicy {
    pub fn is_live(&self, created: Timestamp, last_seen: Timestamp, now: Timestamp) -> bool {
        now.0 - last_seen.0 < self.idle_ms && now.0 - created.0 < self.absolute_ms
    }
}

/// Credentials checked recently (by the hash of the secret), so most
/// requests need no database round trip. Sessions keep their idle clock
/// here and it is written to the store at most once a minute. Anything
/// that ends a session or a token calls `clear` first, and a check that
/// started before a `clear` is not remembered (the generation).
pub struct CredentialCache<C> {
    entries: HashMap<String, Cached<C>>,
    pub generation: u64,
}

struct Cached<C> {
    caller: C,
    /// Sessions: when it began; tokens: none.
    created: Option<Timestamp>,
    last_seen: Timestamp,
    persisted: Timestamp,
}

/// Most credentials remembered; beyond, the cache starts again.
const MAX_CACHED: usize = 10_000;
/// How often a session's idle clock is written.
pub const TOUCH_EVERY_MS: i64 = 60_000;

impl<C> Default for CredentialCache<C> {
    fn default() -> Self {
        CredentialCache {
            entries: HashMap::new(),
            generation: 0,
        }
    }
}

impl<C: Clone> CredentialCache<C> {
    /// The caller for this credential if it was checked before and its
    /// session is still live (an expired one is dropped).
    pub fn check(&mut self, hash: &str, now: Timestamp, policy: &SessionPolicy) -> Option<C> {
        let e = self.entries.get_mut(hash)?;
        if let Some(created) = e.created {
            if !policy.is_live(created, e.last_seen, now) {
                self.entries.remove(hash);
                return None;
            }
        }
        e.last_seen = now;
        Some(e.caller.clone())
    }

    pub fn remember(
        &mut self,
        generation: u64,
        hash: String,
        caller: C,
        created: Option<Timestamp>,
        persisted: Timestamp,
        now: Timestamp,
    ) {
        if generation != self.generation {
            return;
        }
        if self.entries.len() >= MAX_CACHED {
            self.entries.clear();
        }
        self.entries.insert(
            hash,
            Cached {
                caller,
                created,
                last_seen: now,
                persisted,
            },
        );
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.generation += 1;
    }

    /// Sessions whose idle clock should be written now.
    pub fn due_touches(&mut self) -> Vec<(String, Timestamp)> {
        let mut due = Vec::new();
        for (h, e) in &mut self.entries {
            if e.created.is_some() && e.last_seen.0 - e.persisted.0 >= TOUCH_EVERY_MS {
                e.persisted = e.last_seen;
                due.push((h.clone(), e.last_seen));
            }
        }
        due
    }
}

/// Longest password accepted (bytes); at least 64 characters are allowed
/// as the security notes ask, and no composition rules.
pub const MAX_PASSWORD: usize = 1024;
pub const MIN_PASSWORD: usize = 12;

/// argon2id with 46 MiB, t = 1, p = 1 (the OWASP minimum the security
/// notes ask for).
fn argon() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(46 * 1024, 1, 1, None).expect("valid argon2 parameters");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// The PHC string for a password (slow on purpose: call it off the async
/// threads).
pub fn hash_password(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16-byte salt");
    argon()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing")
        .to_string()
}

/// True if `password` matches the PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(h) => argon().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// A PHC string for no password at all: checked against when the account
/// does not exist, so a wrong username takes as long as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no such account: a dummy to spend the same time"))
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source");
    b
}

pub fn hex(bytes: &[u8]) -> String {
    let digit = |n: u8| char::from_digit(n as u32, 16).unwrap_or('0');
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(digit(b >> 4));
        s.push(digit(b & 15));
    }
    s
}

/// The bytes of an even number of hex digits, if that is what `s` is.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// A new secret: 256 random bits, hex, with a prefix saying what it is.
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", hex(&random_bytes::<32>()))
}

/// What is stored for a secret: its SHA-256 (the secret has 256 bits of
/// entropy, so a fast hash is enough; the secret itself is never stored).
pub fn secret_hash(secret: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(secret.as_bytes()))
}

/// HMAC-SHA256 of `parts` (each length-prefixed) under `key`.
pub fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
        .expect("HMAC takes a key of any length");
    for p in parts {
        m.update(&(p.len() as u64).to_le_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Equal in constant time (for MACs and codes).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A device cookie's value for a browser that just logged in to `user`:
/// `user.device.mac`, the device a fresh random id, the MAC under the
/// server's device key. It proves a later log-in attempt comes from a
/// browser that once logged in to that account (the log-in throttle
/// does not hold such a browser back for strangers' failures).
pub fn device_cookie(key: &[u8; 32], user: u32) -> String {
    let device = hex(&random_bytes::<16>());
    let m = mac(
        key,
        &[b"device", user.to_string().as_bytes(), device.as_bytes()],
    );
    format!("{user}.{device}.{}", hex(&m))
}

/// The device id in a device cookie, if its MAC checks out and it was
/// issued for `user`.
pub fn check_device_cookie(key: &[u8; 32], value: &str, user: u32) -> Option<String> {
    let mut parts = value.splitn(3, '.');
    let (u, device, m) = (parts.next()?, parts.next()?, parts.next()?);
    if u != user.to_string() || device.len() != 32 || m.len() != 64 {
        return None;
    }
    let want = mac(key, &[b"device", u.as_bytes(), device.as_bytes()]);
    same(hex(&want).as_bytes(), m.as_bytes()).then(|| device.to_string())
}

/// Checks a new password: lengths only (no composition rules).
pub fn check_password(p: &str) -> Result<(), String> {
    if p.chars().count() < MIN_PASSWORD {
        return Err(format!("password: at least {MIN_PASSWORD} characters"));
    }
    if p.len() > MAX_PASSWORD {
        return Err(format!("password: at most {MAX_PASSWORD} bytes"));
    }
    Ok(())
}

/// The digest realm agents' phones register in (the voice edge).
pub const SIP_REALM: &str = "switchboard";

pub fn check_username(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 64 {
        return Err("username: 1 to 64 characters".into());
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'@'))
    {
        return Err("username: letters, digits and . - _ @ only".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_or_too_old() {
        let p = SessionPolicy {
            idle_ms: 1000,
            absolute_ms: 5000,
        };
        let t = Timestamp;
        assert!(p.is_live(t(0), t(0), t(999)));
        assert!(!p.is_live(t(0), t(0), t(1000)), "idle");
        assert!(p.is_live(t(0), t(4500), t(4999)));
        assert!(!p.is_live(t(0), t(4999), t(5000)), "absolute lifetime");
    }

    #[test]
    fn cached_sessions_still_expire_and_clearing_wins_over_a_check_in_flight() {
        let p = SessionPolicy {
            idle_ms: 1000,
            absolute_ms: 5000,
        };
        let t = Timestamp;
        let mut c = CredentialCache::<&str>::default();
        c.remember(0, "s".into(), "sam", Some(t(0)), t(0), t(0));
        assert_eq!(c.check("s", t(900), &p), Some("sam"));
        assert_eq!(c.check("s", t(1800), &p), Some("sam"), "used at 900");
        assert_eq!(c.check("s", t(2900), &p), None, "idle");
        c.remember(0, "s".into(), "sam", Some(t(0)), t(0), t(4000));
        assert_eq!(c.check("s", t(5000), &p), None, "absolute");
        // A check that began before a clear is not remembered.
        let g = c.generation;
        c.clear();
        c.remember(g, "s".into(), "sam", None, t(0), t(0));
        assert_eq!(c.check("s", t(1), &p), None);
        // The idle clock is written once a minute at most.
        c.remember(c.generation, "x".into(), "kim", Some(t(0)), t(0), t(0));
        let p = SessionPolicy::default();
        assert!(c.check("x", t(TOUCH_EVERY_MS + 1), &p).is_some());
        assert_eq!(c.due_touches().len(), 1);
        assert!(c.due_touches().is_empty());
    }

    #[test]
    fn device_cookies_prove_their_account_and_cannot_be_forged() {
        let key = [7u8; 32];
        let c = device_cookie(&key, 12);
        let id = check_device_cookie(&key, &c, 12).expect("ours");
        assert_eq!(id.len(), 32);
        assert_eq!(check_device_cookie(&key, &c, 13), None, "another account");
        assert_eq!(check_device_cookie(&[8u8; 32], &c, 12), None, "another key");
        let forged = format!("12.{}.{}", "0".repeat(32), "0".repeat(64));
        assert_eq!(check_device_cookie(&key, &forged, 12), None);
        assert_eq!(check_device_cookie(&key, "12.x", 12), None);
        assert_ne!(device_cookie(&key, 12), c, "each log-in a new device id");
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery staple");
        assert!(h.starts_with("$argon2id$v=19$m=47104,t=1,p=1$"), "{h}");
        assert!(verify_password("correct horse battery staple", &h));
        assert!(!verify_password("correct horse battery stapler", &h));
        assert!(!verify_password("x", "not a phc string"));
        assert_eq!(hex(&[0x0f, 0xa0, 0xff]), "0fa0ff");
        assert_eq!(secret_hash("abc").len(), 64);
        // Long passphrases are fine.
        let long = "a".repeat(200);
        assert!(check_password(&long).is_ok());
        assert!(check_password("short").is_err());
    }

    #[test]
    fn the_allow_table_gives_auditors_and_admins_no_patient_data() {
        for perm in [Perm::PatientRead, Perm::PatientWrite, Perm::ContactRead] {
            assert!(!allows(Role::Admin, perm));
            assert!(!allows(Role::Auditor, perm));
        }
        assert!(allows(Role::Auditor, Perm::AuditRead));
        assert!(Role::ALL
            .iter()
            .all(|&r| r == Role::Auditor || !allows(r, Perm::AuditRead)));
    }
}
