//! The audit trail as FHIR R4 AuditEvent resources, for handing to an
//! auditor or a trust's SIEM: who (agent, with the network address), what
//! (action code and the subject), which patient (the NHS number as an
//! entity), when, why (purpose of use) and with what outcome.

use crate::{clean, coding, instant, NHS_NUMBER_SYSTEM};
use model::Timestamp;
use serde_json::{json, Value};

/// One audit record, as the store keeps it.
#[derive(Clone, Debug)]
pub struct Audited<'a> {
    /// Its place in the hash chain.
    pub seq: u64,
    pub at: Timestamp,
    pub org: Option<u32>,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub patient: Option<&'a str>,
    pub purpose: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub outcome: &'a str,
}

/// FHIR's AuditEventAction for what the record says was done: create,
/// read, update, delete or execute.
pub fn action_code(action: &str) -> &'static str {
    let a = action.to_ascii_lowercase();
    let starts = |ps: &[&str]| ps.iter().any(|p| a.starts_with(p));
    if starts(&["read", "screen pop", "review", "search", "export"]) {
        "R"
    } else if starts(&["create", "add", "book", "refer"]) {
        "C"
    } else if starts(&["delete", "revoke", "reset", "close"]) {
        "D"
    } else if starts(&[
        "write", "set", "change", "update", "disable", "enable", "move",
    ]) {
        "U"
    } else {
        "E"
    }
}

/// FHIR's AuditEventOutcome: 0 success, 4 minor failure (refused), 8
/// serious failure.
pub fn outcome_code(outcome: &str) -> &'static str {
    if outcome.starts_with("ok") {
        "0"
    } else if outcome.starts_with("refused") {
        "4"
    } else {
        "8"
    }
}

/// One record as an AuditEvent.
pub fn audit_event(r: &Audited) -> Value {
    let entity = json!({
        "what": r.patient.map(|n| json!({
            "identifier": { "system": NHS_NUMBER_SYSTEM, "value": n },
            "display": "patient"
        })),
        "type": r.patient.map(|_| json!({
            "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
            "code": "1",
            "display": "Person"
        })),
        "role": r.patient.map(|_| json!({
            "system": "http://terminology.hl7.org/CodeSystem/object-role",
            "code": "1",
            "display": "Patient"
        })),
        "description": r.subject,
    });
    clean(json!({
        "resourceType": "AuditEvent",
        "id": format!("audit-{}", r.seq),
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation"
        },
        "subtype": [{ "system": "https://switchboard.example/fhir/audit-action", "code": r.action }],
        "action": action_code(r.action),
        "recorded": instant(r.at),
        "outcome": outcome_code(r.outcome),
        "outcomeDesc": r.outcome,
        "purposeOfEvent": r.purpose.map(|p| vec![purpose(p)]),
        "agent": [{
            "who": { "display": r.actor },
            "requestor": true,
            "network": r.origin.map(|a| json!({ "address": a, "type": "2" })),
        }],
        "source": {
            "site": r.org.map(|o| format!("organisation {o}")),
            "observer": { "display": "Switchboard" },
            "type": [{ "system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server" }]
        },
        "entity": [entity],
    }))
}

/// A collection bundle of audit events (an export).
pub fn audit_bundle(events: Vec<Value>, now: Timestamp) -> Value {
    clean(json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": instant(now),
        "entry": events.into_iter().map(|e| json!({ "resource": e })).collect::<Vec<_>>(),
    }))
}

/// The purpose of use: the record's words, coded where they say direct
/// care (TREAT) or break-glass (ETREAT, emergency treatment).
fn purpose(text: &str) -> Value {
    let code = if text.starts_with("break-glass") {
        Some("ETREAT")
    } else if text == "direct care" {
        Some("TREAT")
    } else {
        None
    };
    let mut v = match code {
        Some(c) => coding(
            "http://terminology.hl7.org/CodeSystem/v3-ActReason",
            c,
            None,
        ),
        None => json!({}),
    };
    v["text"] = json!(text);
    v
}
