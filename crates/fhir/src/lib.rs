//! FHIR R4 mapping: what the contact centre sends and shows in FHIR.
//!
//! - A referral as a FHIR message (`Bundle` of type `message`): the
//!   `MessageHeader` first, then the `ServiceRequest` it focuses on, the
//!   `Encounter`, the `Patient` (by NHS number only), and the receiving
//!   `Organization` and `Location`; every reference resolves inside the
//!   bundle.
//! - A Directory of Services entry as `HealthcareService` (its `Location`
//!   and `Organization` contained), or each of those alone.
//! - A service's bookable slots as a `searchset` of `Slot`s, and a booking
//!   as an `Appointment`.
//!
//! Pure: values in, JSON out; no I/O, no clock (times are inputs), checked
//! by the purity test. The HTTP adapter reads the rows and sends the JSON.

use model::Timestamp;
use serde_json::{json, Value};

pub mod audit;

pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub const SG_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/pathways-sg-codes";
pub const DX_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/pathways-dx-codes";
pub const SD_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/pathways-sd-codes";
pub const DOS_TYPE_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/dos-service-types";
pub const EVENT_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/message-events-bars";
/// The Location extension giving OSGB36 grid coordinates.
pub const OSGB36_EXTENSION: &str = "https://switchboard.example/fhir/osgb36";

/// An instant as FHIR writes it (RFC 3339, UTC).
pub fn instant(t: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.0).map_or_else(|_| t.0.to_string(), |t| t.to_string())
}

/// A `CodeableConcept` of one coding.
pub fn coding(system: &str, code: &str, display: Option<&str>) -> Value {
    json!({ "coding": [{ "system": system, "code": code, "display": display }] })
}

/// The triage outcome a referral carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Triage {
    pub symptom_group: String,
    pub discriminators: Vec<String>,
    /// The disposition's code (`Dx…`), wording and timeframe.
    pub disposition: String,
    pub wording: Option<String>,
    pub timeframe_minutes: i64,
    /// Which pathways content assessed it, and whether it is the demo set
    /// (not clinical advice).
    pub pathways_name: String,
    pub pathways_version: String,
    pub demo: bool,
}

/// A referral of one contact's assessment to a service.
#[derive(Clone, Debug)]
pub struct Referral<'a> {
    /// The message's id (unique per referral).
    pub message_id: &'a str,
    pub now: Timestamp,
    pub triage: &'a Triage,
    pub service: &'a dos::Service,
    pub nhs_number: Option<&'a str>,
}

/// FHIR JSON has no nulls and no empty strings, arrays or objects: an
/// element without a value is left out (and an empty string is not a
/// FHIR string at all). Applied to everything this crate makes.
pub fn clean(v: Value) -> Value {
    fn empty(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::String(s) => s.trim().is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(m) => m.is_empty(),
            _ => false,
        }
    }
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, clean(v)))
                .filter(|(_, v)| !empty(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(clean).filter(|v| !empty(v)).collect()),
        v => v,
    }
}

/// The FHIR R4 message bundle for a referral.
pub fn referral_bundle(r: &Referral) -> Value {
    let id = r.message_id;
    let t = r.triage;
    let mut reasons = vec![
        coding(SG_SYSTEM, &t.symptom_group, None),
        coding(DX_SYSTEM, &t.disposition, t.wording.as_deref()),
    ];
    reasons.extend(
        t.discriminators
            .iter()
            .map(|sd| coding(SD_SYSTEM, sd, None)),
    );
    let patient = match r.nhs_number {
        Some(n) => json!({ "resourceType": "Patient",
            "identifier": [{ "system": NHS_NUMBER_SYSTEM, "value": n }] }),
        None => json!({ "resourceType": "Patient" }),
    };
    let url = |name: &str| format!("urn:uuid:{}", uuid(id, name));
    let entry = |name: &str, resource: Value| json!({ "fullUrl": url(name), "resource": resource });
    let until = Timestamp(
        r.now
            .0
            .saturating_add(t.timeframe_minutes.saturating_mul(60_000)),
    );
    let content = if t.demo {
        "DEMO CONTENT, not clinical advice"
    } else {
        "assured content"
    };
    let s = r.service;
    clean(json!({
        "resourceType": "Bundle",
        "id": id,
        "type": "message",
        "timestamp": instant(r.now),
        "entry": [
            entry("header", json!({ "resourceType": "MessageHeader",
                "eventCoding": { "system": EVENT_SYSTEM, "code": "servicerequest-request" },
                "source": { "endpoint": "switchboard", "name": "Switchboard" },
                "destination": [{ "endpoint": s.referral_url, "name": s.name }],
                "focus": [{ "reference": url("request") }] })),
            entry("request", json!({ "resourceType": "ServiceRequest", "status": "active", "intent": "plan",
                "subject": { "reference": url("patient") },
                "encounter": { "reference": url("encounter") },
                "performer": [{ "reference": url("organization") }],
                "locationReference": [{ "reference": url("location") }],
                "reasonCode": reasons,
                "occurrencePeriod": { "start": instant(r.now), "end": instant(until) },
                "note": [{ "text": format!("Pathways {} {} ({content})", t.pathways_name, t.pathways_version) }] })),
            entry("encounter", json!({ "resourceType": "Encounter", "status": "finished",
                "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR", "display": "virtual" } })),
            entry("patient", patient),
            entry("organization", json!({ "resourceType": "Organization", "name": s.name,
                "identifier": ods(s) })),
            entry("location", json!({ "resourceType": "Location", "name": s.name,
                "address": { "postalCode": s.postcode } })),
        ]
    }))
}

/// A UUID for one entry of one message, the same every time it is made
/// (RFC 9562 version 8: 122 bits from two FNV-1a hashes of the message id
/// and the entry's name). A `urn:uuid:` fullUrl must be a UUID.
pub fn uuid(message_id: &str, name: &str) -> String {
    let fnv = |basis: u64| {
        let mut h = basis;
        for b in message_id.bytes().chain([0u8]).chain(name.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    let hi = fnv(0xcbf2_9ce4_8422_2325);
    let lo = fnv(0x6c62_272e_07bb_0142);
    // Version 8 in the time_hi nibble, variant 0b10 in the clock_seq.
    let hi = (hi & !0xf000) | 0x8000;
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

fn ods(s: &dos::Service) -> Option<Vec<Value>> {
    s.ods_code
        .as_ref()
        .map(|c| vec![json!({ "system": ODS_SYSTEM, "value": c })])
}

/// A DoS service as a HealthcareService, its Location and Organization
/// contained.
pub fn healthcare_service(s: &dos::Service) -> Value {
    clean(json!({
        "resourceType": "HealthcareService",
        "id": s.id.to_string(),
        "active": s.active,
        "name": s.name,
        "type": [coding(DOS_TYPE_SYSTEM, &s.type_id.to_string(), None)],
        "providedBy": { "reference": "#org" },
        "location": [{ "reference": "#loc" }],
        "telecom": s.phone.as_ref().map(|p| vec![json!({ "system": "phone", "value": p })]),
        "comment": s.public_text,
        "contained": [location(s, "loc"), organization(s, "org")],
    }))
}

/// A DoS service's place as a Location (with its OSGB36 grid reference).
pub fn location(s: &dos::Service, id: &str) -> Value {
    clean(
        json!({ "resourceType": "Location", "id": id, "name": s.name,
        "address": { "postalCode": s.postcode },
        "extension": [{ "url": OSGB36_EXTENSION, "valueString":
            format!("{:.0},{:.0}", s.location.easting, s.location.northing) }] }),
    )
}

/// A DoS service's provider as an Organization (by ODS code if known).
pub fn organization(s: &dos::Service, id: &str) -> Value {
    clean(json!({ "resourceType": "Organization", "id": id, "name": s.name, "identifier": ods(s) }))
}

/// A search's answer: `total` matches, the first of them as entries.
pub fn searchset(resources: Vec<Value>, total: usize) -> Value {
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| json!({ "resource": r, "search": { "mode": "match" } }))
        .collect();
    clean(
        json!({ "resourceType": "Bundle", "type": "searchset", "total": total, "entry": entries }),
    )
}

/// A service's slots from `starts` (ms), each `slot_ms` long, busy if
/// booked.
pub fn slots(service: u64, starts: &[i64], booked: &[i64], slot_ms: i64) -> Value {
    let entries: Vec<Value> = starts
        .iter()
        .map(|&t| {
            let busy = booked.contains(&t);
            json!({ "resource": { "resourceType": "Slot", "id": format!("{service}-{t}"),
                "schedule": { "reference": format!("HealthcareService/{service}") },
                "status": if busy { "busy" } else { "free" },
                "start": instant(Timestamp(t)), "end": instant(Timestamp(t + slot_ms)) } })
        })
        .collect();
    clean(
        json!({ "resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries }),
    )
}

/// A booked slot as an Appointment.
pub fn appointment(id: u64, s: &dos::Service, start: i64, slot_ms: i64) -> Value {
    clean(
        json!({ "resourceType": "Appointment", "id": id.to_string(), "status": "booked",
        "start": instant(Timestamp(start)), "end": instant(Timestamp(start + slot_ms)),
        "slot": [{ "reference": format!("Slot/{}-{start}", s.id) }],
        "participant": [{ "actor": { "reference": format!("HealthcareService/{}", s.id), "display": s.name },
            "status": "accepted" }] }),
    )
}
