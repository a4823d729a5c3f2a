//! Wrap-up notes: read (opened with the key-encryption key, every read
//! audited with the contact's patient when known) and deleted (a note on
//! the wrong contact; its key goes with it).

use crate::error::tryr;
use crate::{error, App, Caller};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::{AgentId, ContactId, OrgId};
use schemars::JsonSchema;
use serde::Serialize;

/// What a note's seal is bound to: a note moved to another contact,
/// agent or organisation does not open.
pub(crate) fn aad(org: OrgId, contact: ContactId, agent: AgentId) -> String {
    format!("note:{}:{}:{}", org.0, contact.0, agent.0)
}

/// One agent's notes on a contact.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Note {
    agent: u32,
    /// When the wrap-up was done (RFC 3339, UTC).
    at: String,
    text: String,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Notes {
    contact: u64,
    notes: Vec<Note>,
}

/// The audit record for an action on a contact's notes, naming the
/// patient if the contact's caller was identified.
fn audit_of(
    d: &store::directory::Directory,
    c: &Caller,
    action: &str,
    contact: ContactId,
) -> Result<store::AuditRecord, store::StoreError> {
    let mut audit = c.audit(action, format!("contact {}", contact.0));
    audit.patient = d
        .contact_caller(c.org, contact)?
        .and_then(|w| w.nhs_number)
        .map(|n| n.expose());
    audit.purpose = Some("wrap-up notes".into());
    Ok(audit)
}

/// 404 unless the caller's organisation knows the contact (live in its
/// engine, or on record: another organisation's ids are not found); an
/// agent or clinician reads the notes of a contact with them only, as
/// everything else of a contact.
async fn known(app: &App, c: &Caller, contact: ContactId) -> Result<(), Response> {
    if c.role.works_as_agent() {
        return crate::contacts::own_contact(app, c, contact).await;
    }
    let live = app
        .read(c.org, move |t, _| t.engine.contact(contact).is_some())
        .await
        .map_err(crate::error::api)?;
    let org = c.org;
    let on_record = live
        || app
            .dir(move |d| d.contact_on_record(org, contact))
            .await
            .map_err(|e| crate::ApiError::from(e).into_response())?;
    if on_record {
        Ok(())
    } else {
        Err(error(
            StatusCode::NOT_FOUND,
            format!("unknown contact {contact}"),
        ))
    }
}

/// `f` on a contact the caller may see, with its audit record (written
/// by `f` in the same transaction).
async fn audited<R: Send + 'static>(
    app: &App,
    c: &Caller,
    contact: ContactId,
    action: &'static str,
    f: impl FnOnce(
            &mut store::directory::Directory,
            OrgId,
            &store::AuditRecord,
        ) -> Result<R, store::StoreError>
        + Send
        + 'static,
) -> Result<R, Response> {
    known(app, c, contact).await?;
    let caller = c.clone();
    app.dir(move |d| {
        let audit = audit_of(d, &caller, action, contact)?;
        f(d, caller.org, &audit)
    })
    .await
    .map_err(crate::error::api)
}

/// A contact's wrap-up notes, opened; the read is audited.
pub(crate) async fn read(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    let contact = ContactId(id);
    let stored = tryr!(
        audited(&app, &c, contact, "read notes", move |d, org, audit| {
            d.read_notes(org, contact, audit)
        })
        .await
    );
    let mut notes = Vec::new();
    for n in stored {
        match app::seal::open(&app.kek, &aad(c.org, contact, n.agent), &n.sealed) {
            Ok(text) => notes.push(Note {
                agent: n.agent.0,
                at: app::time::iso(n.at),
                text,
            }),
            Err(e) => {
                tracing::error!("a wrap-up note of contact {id} did not open: {e}");
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("a note of this contact cannot be opened: {e}; check the server's key-encryption key (SWITCHBOARD_KEK or --kek-file)"),
                );
            }
        }
    }
    Json(Notes { contact: id, notes }).into_response()
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct NotesDeleted {
    contact: u64,
    deleted: usize,
}

/// Deletes a contact's notes and their keys (written on the wrong
/// contact); audited.
pub(crate) async fn delete(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    let contact = ContactId(id);
    let deleted = tryr!(
        audited(&app, &c, contact, "delete notes", move |d, org, audit| {
            d.delete_notes(org, contact, audit)
        })
        .await
    );
    Json(NotesDeleted {
        contact: id,
        deleted,
    })
    .into_response()
}
