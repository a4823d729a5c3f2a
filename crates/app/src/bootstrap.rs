//! The first run of a real installation: one organisation and its first
//! admin (`switchboard bootstrap`).

use crate::auth;
use model::{OrgId, Timestamp};
use routing::Config;
use store::directory::{Directory, NewUser};
use store::{AuditRecord, SqliteStore, Store, StoreError};

/// An audit record of something the system did by itself (first-run set-up,
/// demo seeding): no person, no patient.
pub fn system_record(action: &str, subject: String, org: Option<OrgId>) -> AuditRecord {
    AuditRecord {
        at: crate::wall_clock(),
        org,
        actor: "system".into(),
        action: action.into(),
        subject,
        patient: None,
        purpose: None,
        origin: None,
        outcome: "ok".into(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(
        "this data directory already has accounts; bootstrap runs once, on a new installation"
    )]
    AlreadyDone,
    #[error("{0}")]
    Invalid(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The first-run bootstrap: one organisation (with an empty routing
/// configuration for its admin to fill) and its first admin.
pub fn bootstrap(
    data: &std::path::Path,
    org_name: &str,
    username: &str,
    password: &str,
) -> Result<OrgId, BootstrapError> {
    let org_name = org_name.trim();
    if org_name.is_empty() || org_name.chars().count() > 200 {
        return Err(BootstrapError::Invalid(
            "organisation: 1 to 200 characters".into(),
        ));
    }
    auth::check_username(username).map_err(BootstrapError::Invalid)?;
    auth::check_password(password).map_err(BootstrapError::Invalid)?;
    let mut st = SqliteStore::open(data)?;
    let mut dir = Directory::open(data)?;
    if dir.has_users()? {
        return Err(BootstrapError::AlreadyDone);
    }
    let at: Timestamp = crate::wall_clock();
    let org = st.create_organisation(org_name, &Config::default(), at)?;
    dir.create_user(
        &NewUser {
            org,
            username,
            display_name: username,
            role: auth::Role::Admin.name(),
            agent: None,
            password_hash: &auth::hash_password(password),
            demo: false,
        },
        at,
        &system_record("bootstrap", format!("first admin {username}"), Some(org)),
    )?;
    Ok(org)
}
