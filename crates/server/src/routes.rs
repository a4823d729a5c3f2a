//! The route table: every endpoint, the permission it needs, and what it
//! is for. The router and the OpenAPI document are both built from it, so
//! they cannot disagree; the authorisation matrix test walks the document.

use crate::{config as cf, contacts as c, live as lv, mfa, patients as pt, people as p, wire, App};
use app::auth::{self, Perm, Role};
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use schemars::{generate::SchemaSettings, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Value};

/// One endpoint.
#[derive(Clone, Debug)]
pub struct Route {
    pub method: &'static str,
    /// With `{contact}`, `{agent}`, `{queue}`, `{user}`, `{token}`,
    /// `{service}`, `{dos_service}`, `{recording}` or `{nhs_number}` for
    /// the ids it takes.
    pub path: &'static str,
    /// `None`: public (log-in, health, this document).
    pub perm: Option<Perm>,
    pub summary: &'static str,
    /// The request body's schema, if it takes one.
    pub body: Option<SchemaFn>,
    /// The query parameters it reads, as one type (any other is refused,
    /// 400).
    pub query: Option<SchemaFn>,
    /// What a success answers.
    pub reply: Reply,
}

/// A type's schema, added to the document's components.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn s<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// What an operation answers on success.
#[derive(Clone, Copy, Debug)]
pub enum Reply {
    /// JSON of this wire type.
    Json(SchemaFn),
    /// `text/plain`.
    Text,
    /// This document.
    Document,
    /// Server-sent events of these names, as described.
    Stream(&'static [&'static str], &'static str),
    /// JSON of this type, or CSV with `?format=csv`.
    Report(SchemaFn),
    /// `audio/wav`.
    Audio,
    /// A FHIR R4 resource of this type (its full schema is FHIR's own; the
    /// test command validates what is served against the published
    /// models).
    Fhir(&'static str),
}

fn table() -> Vec<(Route, MethodRouter<App>)> {
    macro_rules! r {
        ($m:ident $method:literal $path:literal, $perm:expr, $body:expr, $reply:expr, ?$q:ty, $sum:literal, $h:expr) => {{
            let (mut route, handler) = r!($m $method $path, $perm, $body, $reply, $sum, $h);
            route.query = Some(s::<$q>);
            (route, handler)
        }};
        ($m:ident $method:literal $path:literal, $perm:expr, $body:expr, $reply:expr, $sum:literal, $h:expr) => {
            (
                Route {
                    method: $method,
                    path: $path,
                    perm: $perm,
                    summary: $sum,
                    body: $body,
                    query: None,
                    reply: $reply,
                },
                $m($h),
            )
        };
    }
    use Perm::*;
    use Reply::*;
    vec![
        r!(get "GET" "/healthz", None, None, Text, "Liveness.", || async { "ok" }),
        r!(get "GET" "/api/v1/openapi.json", None, None, Document, "This document.", openapi_handler),
        r!(post "POST" "/api/v1/session", None, Some(s::<p::LoginBody>), Json(s::<p::LoggedIn>), "Log in (sets the session cookie).", p::login),
        r!(get "GET" "/api/v1/session", Some(Session), None, Json(s::<p::Me>), "Who am I.", p::me),
        r!(delete "DELETE" "/api/v1/session", Some(Account), None, Json(s::<p::LoggedOut>), "Log out (the session ends on the server).", p::logout),
        r!(post "POST" "/api/v1/session/mfa", None, Some(s::<mfa::StepBody>), Json(s::<p::LoggedIn>), "Log in, second step: a code from the authenticator or a recovery code, with the ticket the password step gave (sets the session cookie).", mfa::step),
        r!(post "POST" "/api/v1/session/mfa/enrol", None, Some(s::<mfa::TicketBody>), Json(s::<mfa::Enrolment>), "Log in, when the role requires a second factor and none is set up: a new authenticator secret (the next code confirms it).", mfa::enrol_at_login),
        r!(post "POST" "/api/v1/session/passkey/options", None, Some(s::<crate::passkeys::TicketBody>), Json(s::<crate::passkeys::RequestOptions>), "Log in, second step by a passkey: the options for the browser's navigator.credentials.get (our challenge, the account's credentials).", crate::passkeys::request_options),
        r!(post "POST" "/api/v1/session/passkey", None, Some(s::<crate::passkeys::Assertion>), Json(s::<p::LoggedIn>), "Log in, second step by a passkey: the browser's assertion (sets the session cookie).", crate::passkeys::log_in),
        r!(get "GET" "/api/v1/me/passkeys", Some(Account), None, Json(s::<crate::passkeys::Passkeys>), "My passkeys.", crate::passkeys::list),
        r!(post "POST" "/api/v1/me/passkeys/options", Some(Account), None, Json(s::<crate::passkeys::CreationOptions>), "Options for the browser's navigator.credentials.create: a passkey for me.", crate::passkeys::creation_options),
        r!(post "POST" "/api/v1/me/passkeys", Some(Account), Some(s::<crate::passkeys::NewPasskey>), Json(s::<crate::passkeys::PasskeyRow>), "Register the passkey the browser created (checked: our challenge, origin and host, the user verified).", crate::passkeys::register),
        r!(get "GET" "/api/v1/me/mfa", Some(Account), None, Json(s::<mfa::MfaState>), "My second factor: set up, pending, recovery codes left, required.", mfa::state),
        r!(post "POST" "/api/v1/me/mfa", Some(Account), None, Json(s::<mfa::Enrolment>), "Set up an authenticator (TOTP): a new secret, confirmed by its first code.", mfa::enrol),
        r!(post "POST" "/api/v1/me/mfa/confirm", Some(Account), Some(s::<mfa::CodeBody>), Json(s::<mfa::Confirmed>), "Confirm the authenticator with its first code; answers the recovery codes, once.", mfa::confirm),
        r!(get "GET" "/api/v1/mfa-policy", Some(UserAdmin), None, Json(s::<mfa::Policy>), "Which roles must log in with a second factor.", mfa::policy),
        r!(put "PUT" "/api/v1/mfa-policy", Some(UserAdmin), Some(s::<mfa::Policy>), Json(s::<mfa::Policy>), "Set which roles must log in with a second factor.", mfa::set_policy),
        r!(delete "DELETE" "/api/v1/users/{user}/mfa", Some(UserAdmin), None, Json(s::<mfa::MfaReset>), "Remove an account's authenticator and recovery codes (a lost phone); its sessions end.", mfa::reset),
        r!(get "GET" "/api/v1/users", Some(UserAdmin), None, Json(s::<p::Users>), "The organisation's accounts.", p::list_users),
        r!(post "POST" "/api/v1/users", Some(UserAdmin), Some(s::<p::NewUserBody>), Json(s::<wire::Created>), "Create an account.", p::create_user),
        r!(post "POST" "/api/v1/users/{user}/disable", Some(UserAdmin), None, Json(s::<p::UserState>), "Disable an account (its sessions end).", p::disable_user),
        r!(post "POST" "/api/v1/users/{user}/enable", Some(UserAdmin), None, Json(s::<p::UserState>), "Enable an account.", p::enable_user),
        r!(post "POST" "/api/v1/users/{user}/password", Some(UserAdmin), Some(s::<p::PasswordBody>), Json(s::<p::PasswordSet>), "Set a password (every session of the account ends).", p::set_password),
        r!(get "GET" "/api/v1/tokens", Some(TokenAdmin), None, Json(s::<p::Tokens>), "The organisation's integration tokens.", p::list_tokens),
        r!(post "POST" "/api/v1/tokens", Some(TokenAdmin), Some(s::<p::NewTokenBody>), Json(s::<p::NewToken>), "Create an integration token (the secret is shown once).", p::create_token),
        r!(delete "DELETE" "/api/v1/tokens/{token}", Some(TokenAdmin), None, Json(s::<p::Revoked>), "Revoke an integration token.", p::revoke_token),
        r!(post "POST" "/api/v1/contacts", Some(ContactCreate), Some(s::<c::NewContactBody>), Json(s::<wire::Submitted>), "A contact arrives (call, chat, email, web callback request).", c::create_contact),
        r!(post "POST" "/api/v1/callbacks", Some(ContactWork), Some(s::<c::CallbackBody>), Json(s::<wire::Submitted>), "Book a callback for a time (by urgency; the caller carried over from a contact).", c::book_callback),
        r!(get "GET" "/api/v1/contacts", Some(ContactRead), None, Json(s::<c::Contacts>), ?c::ListQuery, "Live contacts (agents: their own), by queue.", c::list_contacts),
        r!(get "GET" "/api/v1/contacts/{contact}", Some(ContactRead), None, Json(s::<wire::Contact>), "One contact: state, place, queue.", c::get_contact),
        r!(post "POST" "/api/v1/contacts/{contact}/accept", Some(ContactWork), Some(s::<c::AgentBody>), Json(s::<wire::Submitted>), "An agent accepts an offer.", c::accept),
        r!(post "POST" "/api/v1/contacts/{contact}/reject", Some(ContactWork), Some(s::<c::AgentBody>), Json(s::<wire::Submitted>), "An agent declines an offer.", c::reject),
        r!(post "POST" "/api/v1/contacts/{contact}/hold", Some(ContactWork), None, Json(s::<wire::Submitted>), "Put on hold.", c::hold),
        r!(post "POST" "/api/v1/contacts/{contact}/resume", Some(ContactWork), None, Json(s::<wire::Submitted>), "Take off hold.", c::resume),
        r!(post "POST" "/api/v1/contacts/{contact}/transfer", Some(ContactWork), Some(s::<c::TransferBody>), Json(s::<wire::Submitted>), "Transfer, warm or cold, to a queue or an agent.", c::transfer),
        r!(post "POST" "/api/v1/contacts/{contact}/callback", Some(ContactWork), None, Json(s::<wire::Submitted>), "The caller takes a callback and keeps their place.", c::callback),
        r!(post "POST" "/api/v1/contacts/{contact}/end", Some(ContactWork), None, Json(s::<wire::Submitted>), "The conversation ends (wrap-up follows).", c::end),
        r!(post "POST" "/api/v1/contacts/{contact}/wrap-up-extend", Some(ContactWork), Some(s::<c::MoreWrapUp>), Json(s::<wire::Submitted>), "More time to wrap up (1 to 600 s at a time; never more than 30 minutes from now): the wrap-up's end moves later.", c::more_wrap_up),
        r!(post "POST" "/api/v1/contacts/{contact}/wrap-up-done", Some(ContactWork), Some(s::<c::WrapUpBody>), Json(s::<wire::Submitted>), "Wrap-up finished, with an outcome code.", c::wrapped),
        r!(post "POST" "/api/v1/contacts/{contact}/abandon", Some(ContactAbandon), None, Json(s::<wire::Submitted>), "The caller hung up before an answer.", c::abandon),
        r!(post "POST" "/api/v1/contacts/{contact}/priority", Some(ContactPriority), Some(s::<c::PriorityBody>), Json(s::<wire::Submitted>), "Change a waiting contact's priority (audited).", c::set_priority),
        r!(get "GET" "/api/v1/contacts/{contact}/screen-pop", Some(PatientRead), None, Json(s::<pt::ScreenPop>), ?pt::PurposeQuery, "The matched patient or candidates for a contact (audited).", pt::screen_pop),
        r!(post "POST" "/api/v1/agents/{agent}/presence", Some(AgentPresence), Some(s::<c::PresenceBody>), Json(s::<wire::Submitted>), "Set an agent's state (a supervisor can log anyone out).", c::presence),
        r!(post "POST" "/api/v1/agents/{agent}/skills", Some(AgentMove), Some(s::<cf::SkillsBody>), Json(s::<wire::Submitted>), "Move an agent between queues: set their skills and team (audited).", cf::set_skills),
        r!(put "PUT" "/api/v1/agents/{agent}", Some(ConfigWrite), Some(s::<wire::AgentDef>), Json(s::<wire::Submitted>), "Create or change an agent (skills, team, site, capacity).", cf::put_agent),
        r!(delete "DELETE" "/api/v1/agents/{agent}", Some(ConfigWrite), None, Json(s::<wire::Submitted>), "Remove an agent.", cf::delete_agent),
        r!(get "GET" "/api/v1/agents", Some(QueueRead), None, Json(s::<lv::Agents>), "Agents: status, time in state, work in hand.", lv::list_agents),
        r!(get "GET" "/api/v1/queues", Some(QueueRead), None, Json(s::<lv::Queues>), "Queues: priority, target, waiting now.", lv::list_queues),
        r!(get "GET" "/api/v1/queues/{queue}/waiting", Some(QueueRead), None, Json(s::<lv::Waiting>), "A queue's waiting contacts in order.", lv::get_waiting),
        r!(put "PUT" "/api/v1/queues/{queue}", Some(ConfigWrite), Some(s::<wire::QueueDef>), Json(s::<wire::Submitted>), "Create or change a queue (priority, target, overflow).", cf::put_queue),
        r!(delete "DELETE" "/api/v1/queues/{queue}", Some(ConfigWrite), None, Json(s::<wire::Submitted>), ?cf::RemoveQueueQuery, "Remove a queue (?move_waiting_to=ID keeps callers' places).", cf::delete_queue),
        r!(post "POST" "/api/v1/skills", Some(ConfigWrite), Some(s::<wire::SkillDef>), Json(s::<wire::Submitted>), "Add a skill.", cf::add_skill),
        r!(post "POST" "/api/v1/teams", Some(ConfigWrite), Some(s::<wire::TeamDef>), Json(s::<wire::Submitted>), "Add a team.", cf::add_team),
        r!(post "POST" "/api/v1/sites", Some(ConfigWrite), Some(s::<wire::SiteDef>), Json(s::<wire::Submitted>), "Add a site.", cf::add_site),
        r!(get "GET" "/api/v1/services", Some(ConfigRead), None, Json(s::<crate::services::Services>), "Services with their entry points, opening hours and whether open now.", crate::services::list_services),
        r!(put "PUT" "/api/v1/services/{service}", Some(ConfigWrite), Some(s::<crate::services::ServiceBody>), Json(s::<crate::services::ServiceId>), "Create or change a service: its queue, entry points (phone, chat, email, web) and opening hours.", crate::services::put_service),
        r!(delete "DELETE" "/api/v1/services/{service}", Some(ConfigWrite), None, Json(s::<crate::services::Removed>), "Remove a service and its entry points.", crate::services::delete_service),
        r!(get "GET" "/api/v1/config/history", Some(ConfigRead), None, Json(s::<cf::History>), "Who changed the configuration, people and tokens, and when: from the audit trail, newest first (the last 200).", cf::history),
        r!(get "GET" "/api/v1/me/queues", Some(QueueRead), None, Json(s::<cf::MyQueues>), "The queues my desktop lists as mine: each queue whose contacts can be offered to me, from the start or once an overflow step widens it to me.", cf::my_queues),
        r!(get "GET" "/api/v1/config", Some(ConfigRead), None, Json(s::<wire::Config>), "The routing configuration in force.", cf::get_config),
        r!(get "GET" "/api/v1/kpis", Some(KpiRead), None, Json(s::<lv::Kpis>), "Live KPIs overall and per queue.", lv::get_kpis),
        r!(get "GET" "/api/v1/voice/calls", Some(KpiRead), None, Json(s::<lv::Calls>), ?lv::JournalQuery, "The telephony journal: recent calls with the flow path, keys (collected digits masked), positions announced, callback, agent, bridge and outcome (?limit=).", crate::live::voice_calls),
        r!(post "POST" "/api/v1/planning", Some(Plan), Some(s::<crate::planning::PlanBody>), Json(s::<crate::planning::Plan>), "Forecast (uploaded history or own arrivals), staff required, rota coverage and suggestions, what-if simulation; publish for the surge warning.", crate::planning::plan),
        r!(get "GET" "/api/v1/planning/surge", Some(KpiRead), None, Json(s::<crate::planning::Surge>), "Arrivals against the published forecast over the last hour: a warning past 20% above.", crate::planning::surge),
        r!(get "GET" "/api/v1/reports/triage", Some(KpiRead), None, Json(s::<crate::triage::TriageReport>), ?crate::reports::ReportQuery, "Dispositions by code, care setting and hour; needing a clinician; the Directory of Services gaps by district, service type and rule (?from=&to=).", crate::triage::report),
        r!(get "GET" "/api/v1/reports/outcomes", Some(KpiRead), None, Json(s::<crate::reports::OutcomeReport>), ?crate::reports::ReportQuery, "Wrap-up outcomes by code in a period (?from=&to=).", crate::reports::outcome_report),
        r!(get "GET" "/api/v1/reports/kpis", Some(KpiRead), None, Report(s::<crate::reports::KpiReport>), ?crate::reports::ReportQuery, "KPIs by 15-minute interval or London day, overall and per queue (?from=&to=&by=interval|day&format=json|csv).", crate::reports::kpi_report),
        r!(get "GET" "/api/v1/events", Some(EventStream), None, Stream(&["record", "lagged"], "`record` events, each the JSON of a Record; `lagged` with a count when this client fell behind"), "The live event stream (server-sent events).", lv::get_events),
        r!(get "GET" "/api/v1/kpis/stream", Some(KpiRead), None, Stream(&["kpis", "agents"], "`kpis` events, each the JSON of the answer of GET /api/v1/kpis, whenever the figures change (at most four a second); with ?agents=true `agents` events, each the answer of GET /api/v1/agents, whenever an agent changes (at most one a second)"), ?lv::StreamQuery, "The wallboard's subscription (server-sent events): figures and agents pushed as they change, the same bytes to every subscriber.", lv::get_kpis_stream),
        r!(get "GET" "/api/v1/triage", Some(Triage), None, Json(s::<crate::triage::Info>), "The pathway set in use (name, version, content hash, demo or not) and its dispositions.", crate::triage::info),
        r!(post "POST" "/api/v1/contacts/{contact}/triage", Some(Triage), Some(s::<crate::triage::TriageBody>), Json(s::<crate::triage::Assessment>), "A contact's assessment: the answers so far give the next question or the disposition; save keeps the finished journey (audited).", crate::triage::triage),
        r!(get "GET" "/api/v1/contacts/{contact}/triage", Some(Triage), None, Json(s::<crate::triage::Journeys>), "A contact's saved assessments (audited).", crate::triage::saved_journeys),
        r!(post "POST" "/api/v1/contacts/{contact}/clinical-callback", Some(Triage), Some(s::<crate::triage::ClinicalBody>), Json(s::<crate::triage::ClinicalCallback>), "A clinical callback for a contact whose saved assessment needs a clinician: deadline from the disposition, earliest deadline first.", crate::triage::clinical_callback),
        r!(post "POST" "/api/v1/dos/search", Some(Triage), Some(s::<crate::triage::SearchBody>), Json(s::<crate::triage::SearchAnswer>), "Directory of Services search for a patient and a disposition, with the gaps.", crate::triage::search),
        r!(get "GET" "/api/v1/dos/services", Some(DirectoryRead), None, Json(s::<crate::directory::ServiceList>), ?crate::directory::ListQuery, "Find Directory of Services services by name, id, ODS code or postcode.", crate::directory::list),
        r!(post "POST" "/api/v1/dos/services", Some(DirectoryWrite), Some(s::<dos::file::ServiceFile>), Json(s::<crate::directory::ServiceSaved>), "Add a service to the Directory of Services (checked, audited, in force for the next search).", crate::directory::create),
        r!(get "GET" "/api/v1/dos/services/{dos_service}", Some(DirectoryRead), None, Json(s::<crate::directory::ServiceDetail>), "A service's profile in the directory file's shape, with its change history.", crate::directory::get_one),
        r!(put "PUT" "/api/v1/dos/services/{dos_service}", Some(DirectoryWrite), Some(s::<dos::file::ServiceFile>), Json(s::<crate::directory::ServiceSaved>), "Replace a service's profile (checked; a refused change leaves it as it was; audited with what changed).", crate::directory::change),
        r!(post "POST" "/api/v1/dos/services/{dos_service}/close", Some(DirectoryWrite), Some(s::<crate::directory::CloseBody>), Json(s::<crate::directory::ServiceSaved>), "Close a service: searches no longer return it.", crate::directory::close),
        r!(get "GET" "/api/v1/dos/directory", Some(DirectoryRead), None, Json(s::<dos::file::DirectoryFile>), "The whole Directory of Services as a directory file (docs/dos-directory.md).", crate::directory::export),
        r!(put "PUT" "/api/v1/dos/services/{dos_service}/endpoint", Some(ConfigWrite), Some(s::<crate::referral::EndpointBody>), Json(s::<crate::referral::EndpointSet>), "Where a Directory of Services service takes electronic referrals.", crate::referral::set_endpoint),
        r!(put "PUT" "/api/v1/dos/services/{dos_service}/capacity", Some(DosCapacity), Some(s::<crate::referral::CapacityBody>), Json(s::<crate::referral::CapacitySet>), "Set a service's capacity (red/amber/green) with a reset time; recorded with who and when.", crate::referral::set_capacity),
        r!(get "GET" "/api/v1/fhir/HealthcareService", Some(DirectoryRead), None, Fhir("Bundle"), ?crate::referral::FhirQuery, "The Directory of Services as FHIR R4 HealthcareService (?address-postalcode=&_count=).", crate::referral::fhir_search),
        r!(get "GET" "/api/v1/fhir/HealthcareService/{dos_service}", Some(DirectoryRead), None, Fhir("HealthcareService"), "One service as FHIR R4 HealthcareService.", crate::referral::fhir_service),
        r!(get "GET" "/api/v1/fhir/Location/{dos_service}", Some(DirectoryRead), None, Fhir("Location"), "A service's FHIR R4 Location.", crate::referral::fhir_location),
        r!(get "GET" "/api/v1/fhir/Organization/{dos_service}", Some(DirectoryRead), None, Fhir("Organization"), "A service's FHIR R4 Organization.", crate::referral::fhir_organization),
        r!(get "GET" "/api/v1/dos/services/{dos_service}/slots", Some(Triage), None, Fhir("Bundle"), "A bookable service's slots for the coming week (FHIR Slot bundle, free or busy).", crate::referral::slots),
        r!(post "POST" "/api/v1/contacts/{contact}/appointments", Some(Triage), Some(s::<crate::referral::BookBody>), Fhir("Appointment"), "Book a free slot for a contact (FHIR Appointment; a slot is booked once).", crate::referral::book),
        r!(post "POST" "/api/v1/contacts/{contact}/referrals", Some(Triage), Some(s::<crate::referral::ReferBody>), Json(s::<crate::referral::Referred>), "Refer a contact's saved assessment to a service: a FHIR message through the outbox (202; sent until accepted).", crate::referral::refer),
        r!(get "GET" "/api/v1/contacts/{contact}/referrals", Some(Triage), None, Json(s::<crate::referral::Referrals>), "A contact's referrals and whether each was delivered.", crate::referral::list),
        r!(put "PUT" "/api/v1/patients/{nhs_number}", Some(PatientWrite), Some(s::<pt::PatientBody>), Json(s::<pt::Stored>), "Create or replace a patient's directory entry (audited).", pt::put_patient),
        r!(get "GET" "/api/v1/patients/{nhs_number}", Some(PatientRead), None, Json(s::<pt::Patient>), ?pt::PatientQuery, "Read a patient's entry (?purpose=, audited); with no live contact about the patient, only by breaking the glass (?break_glass=reason, flagged for review).", pt::get_patient),
        r!(get "GET" "/api/v1/audit/break-glass", Some(AuditRead), None, Json(s::<crate::review::Reviewed>), ?crate::review::ReviewQuery, "Break-glass reads, newest first, with their reasons (audited).", crate::review::break_glass),
        r!(get "GET" "/api/v1/audit/events", Some(AuditRead), None, Fhir("Bundle"), ?crate::review::ReviewQuery, "The organisation's audit trail of the last hours as FHIR R4 AuditEvent resources (a collection bundle; audited).", crate::review::export),
        r!(get "GET" "/api/v1/audit/chain", Some(AuditRead), None, Json(s::<crate::review::ChainStatus>), "The audit chain checked now: every record present, in order and unchanged, and the log reaching its newest checkpoint (audited).", crate::review::chain),
        r!(get "GET" "/api/v1/audit/unusual", Some(AuditRead), None, Json(s::<crate::review::UnusualReport>), ?crate::review::ReviewQuery, "Unusual access to patients' records: many patients, out of hours, break-glass (audited).", crate::review::unusual),
        r!(get "GET" "/api/v1/contacts/{contact}/notes", Some(PatientRead), None, Json(s::<crate::notes::Notes>), "A contact's wrap-up notes (sealed at rest; every read audited).", crate::notes::read),
        r!(post "POST" "/api/v1/contacts/{contact}/recording", Some(ContactWork), Some(s::<crate::recordings::ControlBody>), Json(s::<crate::recordings::Controlled>), "The agent on a phone call starts, pauses, resumes or stops its recording (as the service's recording policy allows); audited.", crate::recordings::control),
        r!(get "GET" "/api/v1/recordings", Some(RecordingListen), None, Json(s::<crate::recordings::Recordings>), ?crate::recordings::RecordingQuery, "Call recordings, newest first, by contact, agent, caller's number or time (?contact=&agent=&number=&from=&to=&limit=).", crate::recordings::list),
        r!(put "PUT" "/api/v1/recordings/{recording}/hold", Some(RecordingListen), Some(s::<crate::recordings::HoldBody>), Json(s::<crate::recordings::Held>), "Keep a recording past its retention (a complaint, an incident) until the hold is released; audited with the reason.", crate::recordings::hold),
        r!(delete "DELETE" "/api/v1/recordings/{recording}/hold", Some(RecordingListen), None, Json(s::<crate::recordings::Held>), "Release a recording's hold: its retention applies again (destroyed at once if it has run out); audited.", crate::recordings::release),
        r!(get "GET" "/api/v1/recordings/{recording}/audio", Some(RecordingListen), None, Audio, "A recording as a WAV (16-bit, 8 kHz, stereo: the caller left, the agent right), opened with the key-encryption key; every listen audited. 410 once its retention destroyed it.", crate::recordings::audio),
        r!(get "GET" "/api/v1/scorecards", Some(ScorecardRead), None, Json(s::<crate::quality::Scorecards>), "The quality scorecards: sections of weighted questions, some failing the whole call.", crate::quality::list_scorecards),
        r!(put "PUT" "/api/v1/scorecards/{scorecard}", Some(ScorecardWrite), Some(s::<crate::quality::ScorecardBody>), Json(s::<crate::quality::ScorecardId>), "Create or replace a scorecard (evaluations keep the version they were scored on); audited.", crate::quality::put_scorecard),
        r!(post "POST" "/api/v1/evaluations", Some(Evaluate), Some(s::<crate::quality::EvaluationBody>), Json(s::<crate::quality::Evaluation>), "Score a recorded call against a scorecard (every question answered; the comment sealed); audited.", crate::quality::evaluate),
        r!(get "GET" "/api/v1/evaluations", Some(Evaluate), None, Json(s::<crate::quality::Evaluations>), ?crate::quality::EvaluationQuery, "Evaluations, newest first, by agent, recording or time (?agent=&recording=&from=&to=); audited.", crate::quality::list),
        r!(post "POST" "/api/v1/me/phone", Some(OwnPhone), Some(s::<crate::phone::Description>), Json(s::<crate::phone::Description>), "Connect my browser phone: the browser's WebRTC offer (G.711 audio) in, the server's answer out (ICE-lite, DTLS-SRTP). A new offer replaces the last connection (a network change) and a call on the phone carries on; audited.", crate::phone::connect),
        r!(post "POST" "/api/v1/me/phone/keys", Some(OwnPhone), Some(s::<crate::phone::KeysBody>), Json(s::<crate::phone::KeysSent>), "Key digits to the caller on my browser phone (RFC 4733 telephone-events on the caller's leg: an interpreter service's menu); audited without the keys.", crate::phone::keys),
        r!(get "GET" "/api/v1/me/phone", Some(OwnPhone), None, Json(s::<crate::phone::PhoneStatus>), ?crate::phone::StatusQuery, "My browser phone: connected or not (and why it last failed), the call ringing it or on it (?seen=VERSION waits up to 20 s for a change).", crate::phone::status),
        r!(delete "DELETE" "/api/v1/me/phone", Some(OwnPhone), None, Json(s::<crate::phone::PhoneStatus>), "Disconnect my browser phone (real calls are no longer offered to me unless a desk phone is registered); audited.", crate::phone::disconnect),
        r!(get "GET" "/chat/v1/entry", None, None, Json(s::<crate::chat_api::EntryInfo>), ?crate::chat_api::EntryQuery, "Web chat, the patient's page: the service behind a chat entry point, whether it takes chats now, and the other ways to reach it.", crate::chat_api::entry),
        r!(post "POST" "/chat/v1/conversations", None, Some(s::<crate::chat_api::StartBody>), Json(s::<crate::chat_api::Started>), "Web chat, the patient's page: start a conversation (the pre-chat form; reason required, name, date of birth and NHS number optional, checked). Answers its token, the only key to it; the conversation goes on over the WebSocket /chat/v1/socket (docs/chat.md). Audited.", crate::chat_api::start),
        r!(post "POST" "/chat/v1/attachments", None, None, Json(s::<crate::chat_files::Uploaded>), ?crate::chat_files::UploadQuery, "Web chat, the patient's page: send a file (the request's body: a PNG, JPEG, GIF or WebP image or a PDF, checked by its content, up to the service's limit, 5 MiB unless set), by the conversation's token (Authorization: Bearer); sealed and stored before the message that names it.", crate::chat_files::upload),
        r!(get "GET" "/chat/v1/attachments/{file}", None, None, Text, "Web chat, the patient's page: a file of their conversation, by its token (Authorization: Bearer); always a download.", crate::chat_files::patient_file),
        r!(get "GET" "/api/v1/reports/written", Some(KpiRead), None, Json(s::<crate::chat_figures::WrittenReport>), ?crate::reports::ReportQuery, "Email and text figures for a period, by medium: threads, messages per thread, first response (mean and median), answered within one working day (London working days and bank holidays), unanswered, and our messages sent, refused and undelivered (docs/kpis.md, \"Email and text messages\").", crate::chat_figures::written),
        r!(get "GET" "/api/v1/reports/csat", Some(KpiRead), None, Json(s::<crate::surveys::CsatReport>), ?crate::surveys::CsatQuery, "Satisfaction (CSAT) from the text surveys sent after answered contacts: sent, replies, mean (1-5), the share satisfied (4 or 5) and the response rate, overall and by queue, team, agent and channel (docs/kpis.md, \"Satisfaction\").", crate::surveys::report),
        r!(post "POST" "/api/v1/contacts/{contact}/sms", Some(ContactWork), Some(s::<crate::campaigns::ContactTextBody>), Json(s::<crate::campaigns::ContactTextQueued>), "Text the contact's caller (their mobile number as the call arrived) through GOV.UK Notify: written to the outbox, sent once, its receipt kept under the reference answered (202). Agents: their own contacts. Audited.", crate::campaigns::text_from_contact),
        r!(post "POST" "/api/v1/campaigns", Some(Campaigns), Some(s::<crate::campaigns::CampaignBody>), Json(s::<crate::campaigns::CampaignMade>), "A reminder campaign by text or email through GOV.UK Notify: a template and a CSV of recipients (phone_number or email_address, and personalisation columns), every row checked (problems named by line; nothing made from a file with one), those who said STOP skipped, each message scheduled at the rate (at most 3,000 a minute) outside the quiet hours (London time; 20:00-08:00 unless given). Audited.", crate::campaigns::create),
        r!(get "GET" "/api/v1/campaigns/{campaign}", Some(Campaigns), None, Json(s::<crate::campaigns::CampaignView>), "A campaign's results: each recipient's line, state (due, sending, sent, failed, skipped) and Notify's receipt.", crate::campaigns::read),
        r!(post "POST" "/notify/v1/receipts", None, Some(s::<crate::notify::Receipt>), Json(s::<crate::notify::Received>), "GOV.UK Notify's delivery receipt callback (Authorization: Bearer and the callback token given to Notify): a text's delivered, permanent-failure, temporary-failure or technical-failure, by Notify's id or our reference. Stored before it is answered.", crate::notify::receipt),
        r!(post "POST" "/notify/v1/inbound", None, Some(s::<crate::notify::InboundText>), Json(s::<crate::notify::Received>), "GOV.UK Notify's inbound text callback (Authorization: Bearer and the callback token given to Notify): the text joins the sender's latest thread, or starts one in the service whose number it was sent to. Answered once it is stored (sealed); a text sent again is not stored twice.", crate::notify::inbound),
        r!(get "GET" "/chat/v1/transcript", None, None, Text, "Web chat, the patient's page: the conversation as text, by its token (Authorization: Bearer).", crate::chat_api::transcript),
        r!(get "GET" "/api/v1/quick-replies", Some(QuickRepliesRead), None, Json(s::<crate::chat_api::QuickReplies>), "The organisation's quick replies for web chats (title and text), in order.", crate::chat_api::quick_replies),
        r!(put "PUT" "/api/v1/quick-replies", Some(ConfigWrite), Some(s::<crate::chat_api::QuickReplies>), Json(s::<crate::chat_api::Saved>), "Replace the quick replies agents pick from in web chats (at most 100; titles 1–60 characters and unique, texts 1–1,000); audited.", crate::chat_api::set_quick_replies),
        r!(get "GET" "/api/v1/chats", Some(KpiRead), None, Json(s::<crate::chat_figures::LiveChats>), "Web chats in progress (the wallboard): how many wait and how many are with agents; each chat's stage, agent, start and since when the patient waits for an answer. No patient data.", crate::chat_figures::live),
        r!(get "GET" "/api/v1/reports/chats", Some(KpiRead), None, Report(s::<crate::chat_figures::ChatReport>), ?crate::reports::ReportQuery, "Web chat figures for a period (docs/kpis.md): started, queued, answered, abandoned, first response, response and handle times, and each agent's chats at once (?from=&to=&format=csv).", crate::chat_figures::report),
        r!(get "GET" "/api/v1/chats/{contact}", Some(Chat), None, Json(s::<crate::chat_api::ChatView>), ?crate::chat_api::ReadQuery, "A web chat's messages after ?after=N, waiting up to ?wait= seconds (at most 25) for one; who is typing and what the patient has seen. Agents and clinicians: their own chats (offered or taken); each reader's first read is audited.", crate::chat_api::read),
        r!(get "GET" "/api/v1/chats/{contact}/files/{file}", Some(Chat), None, Text, "A file the patient sent in a chat with me (an image or a PDF; always a download); audited.", crate::chat_files::agent_file),
        r!(post "POST" "/api/v1/chats/{contact}/messages", Some(Chat), Some(s::<crate::chat_api::SayBody>), Json(s::<crate::chat_api::Said>), "Write in a web chat that is with me (stored before the patient sees it; an id sent again is stored once).", crate::chat_api::say),
        r!(post "POST" "/api/v1/chats/{contact}/typing", Some(Chat), None, Json(s::<crate::chat_api::Noted>), "Tell the patient I am typing (not stored).", crate::chat_api::typing),
        r!(post "POST" "/api/v1/chats/{contact}/read", Some(Chat), Some(s::<crate::chat_api::ReadBody>), Json(s::<crate::chat_api::Noted>), "Tell the patient I have seen their messages up to seq (a read receipt; not stored).", crate::chat_api::seen),
        r!(get "GET" "/api/v1/me/evaluations", Some(OwnEvaluations), None, Json(s::<crate::quality::Evaluations>), "My evaluations: scores and feedback on my recorded calls.", crate::quality::mine),
        r!(get "GET" "/api/v1/quality/calibration", Some(Evaluate), None, Json(s::<crate::quality::Calibrations>), ?crate::quality::CalibrationQuery, "Calibration: every pair of evaluations of one call by two people on one scorecard, with the score gap and the questions they differ on (?recording=).", crate::quality::calibration),
        r!(get "GET" "/api/v1/quality/report", Some(Evaluate), None, Json(s::<crate::quality::QualityReport>), ?crate::quality::ReportQuery, "Mean quality scores by agent, team or question (?by=&from=&to=).", crate::quality::report),
        r!(delete "DELETE" "/api/v1/contacts/{contact}/notes", Some(NotesDelete), None, Json(s::<crate::notes::NotesDeleted>), "Delete a contact's wrap-up notes and their keys (written on the wrong contact); audited.", crate::notes::delete),
        r!(get "GET" "/api/v1/audit/patients/{nhs_number}", Some(AuditRead), None, Json(s::<pt::AuditRecords>), ?pt::AuditQuery, "Who accessed this patient (audited).", pt::audit_for_patient),
    ]
}

/// Every endpoint.
pub fn routes() -> Vec<Route> {
    table().into_iter().map(|(r, _)| r).collect()
}

/// The router: each route behind the gate with its permission.
pub(crate) fn router(
    app: App,
    voice: crate::VoiceEdge,
    edge: std::sync::Arc<crate::net::Edge>,
    outbound: std::sync::Arc<crate::outbound::Outbound>,
    chats: std::sync::Arc<crate::chat::Chats>,
    anchors: crate::AuditAnchors,
) -> Router {
    // The patient's chat socket: public, outside the table (a WebSocket
    // is not an operation the document can describe; docs/chat.md does).
    let mut router = crate::web::pages().route("/chat/v1/socket", get(crate::chat_socket::socket));
    for (r, handler) in table() {
        // A planning request carries a history of months; a chat's file
        // is up to its service's limit (checked by the handler).
        let handler = if r.path == "/api/v1/planning" {
            handler.layer(DefaultBodyLimit::max(crate::planning::MAX_PLAN_BYTES))
        } else if r.path == "/chat/v1/attachments" {
            handler.layer(DefaultBodyLimit::max(
                app::services::MAX_ATTACHMENT_BYTES as usize + 1,
            ))
        } else {
            handler
        };
        let gated = handler.route_layer(axum::middleware::from_fn_with_state(
            (app.clone(), r.perm),
            crate::gate::gate,
        ));
        router = router.route(r.path, gated);
    }
    router
        .layer(DefaultBodyLimit::max(crate::MAX_BODY_BYTES))
        .layer(axum::Extension(voice))
        .layer(axum::Extension(outbound))
        .layer(axum::Extension(chats))
        .layer(axum::Extension(anchors))
        .layer(axum::middleware::from_fn_with_state(
            edge,
            crate::net::client_layer,
        ))
        .with_state(app)
}

async fn openapi_handler() -> axum::Json<Value> {
    axum::Json(openapi())
}

/// The generators of the document's schemas: requests as the server
/// reads them, answers as it writes them.
fn generator(reading: bool) -> SchemaGenerator {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    let settings = if reading {
        settings.for_deserialize()
    } else {
        settings.for_serialize()
    };
    settings.into_generator()
}

/// Operations that answer 201 when they create something.
const CREATES: [(&str, &str); 14] = [
    ("POST", "/api/v1/contacts"),
    ("POST", "/chat/v1/conversations"),
    ("POST", "/api/v1/campaigns"),
    ("PUT", "/api/v1/scorecards/{scorecard}"),
    ("POST", "/api/v1/evaluations"),
    ("POST", "/api/v1/me/passkeys"),
    ("POST", "/api/v1/dos/services"),
    ("POST", "/api/v1/callbacks"),
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/tokens"),
    ("PUT", "/api/v1/services/{service}"),
    ("PUT", "/api/v1/patients/{nhs_number}"),
    ("POST", "/api/v1/contacts/{contact}/clinical-callback"),
    ("POST", "/api/v1/contacts/{contact}/appointments"),
];

/// Operations that answer 202: the work is queued (a referral's outbox).
const QUEUES: [(&str, &str); 2] = [
    ("POST", "/api/v1/contacts/{contact}/referrals"),
    ("POST", "/api/v1/contacts/{contact}/sms"),
];

/// A path parameter, typed as its handler parses it.
fn path_param(name: &str) -> Value {
    let schema = match name {
        "contact" | "dos_service" | "recording" | "campaign" => {
            json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX })
        }
        "file" => {
            json!({ "type": "string", "pattern": "^[0-9a-f]{32}$", "description": "a chat file's id" })
        }
        "nhs_number" => {
            json!({ "type": "string", "pattern": "^[0-9]{10}$", "description": "ten digits with a valid check digit" })
        }
        _ => json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX }),
    };
    json!({ "name": name, "in": "path", "required": true, "schema": schema })
}

/// The query parameters of a query type: one per field, none required,
/// each with its field's schema and description.
fn query_params(q: SchemaFn, reads: &mut SchemaGenerator) -> Vec<Value> {
    let schema = q(reads);
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            reads.definitions().get(name).cloned().unwrap_or_default()
        }
        None => schema.to_value(),
    };
    let Some(props) = schema["properties"].as_object() else {
        return vec![];
    };
    props
        .iter()
        .map(|(name, p)| {
            let mut p = p.clone();
            let description = p
                .as_object_mut()
                .and_then(|m| {
                    m.remove("default");
                    m.remove("description")
                })
                .unwrap_or_default();
            // A parameter left out is the field's none: there is no null
            // to send.
            if let Some(Value::Array(types)) = p.get("type") {
                let one: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if one.len() == 1 {
                    p["type"] = one[0].clone();
                }
            }
            if let Some(Value::Array(names)) = p.get_mut("enum") {
                names.retain(|n| !n.is_null());
            }
            json!({ "name": name, "in": "query", "required": false, "schema": p, "description": description })
        })
        .collect()
}

/// One set of components. A type both read and written can have two
/// schemas (a field with a default may be left out of a request but is
/// always in an answer): the written one is then `<name>Answer`, and the
/// answers' references say so.
fn components(
    mut reads: SchemaGenerator,
    mut writes: SchemaGenerator,
    paths: &mut serde_json::Map<String, Value>,
) -> serde_json::Map<String, Value> {
    let mut schemas = reads.take_definitions(true);
    let mut written = writes.take_definitions(true);
    let renamed: Vec<String> = written
        .iter()
        .filter(|(name, schema)| schemas.get(*name).is_some_and(|s| s != *schema))
        .map(|(name, _)| name.clone())
        .collect();
    fn rename(v: &mut Value, renamed: &[String]) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get_mut("$ref") {
                    if let Some(name) = r.strip_prefix("#/components/schemas/") {
                        if renamed.iter().any(|n| n == name) {
                            *r = format!("{r}Answer");
                        }
                    }
                }
                m.values_mut().for_each(|v| rename(v, renamed));
            }
            Value::Array(a) => a.iter_mut().for_each(|v| rename(v, renamed)),
            _ => {}
        }
    }
    for op in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in op.values_mut() {
            rename(&mut op["responses"], &renamed);
        }
    }
    for (name, mut schema) in std::mem::take(&mut written) {
        rename(&mut schema, &renamed);
        let name = if renamed.contains(&name) {
            format!("{name}Answer")
        } else {
            name
        };
        schemas.entry(name).or_insert(schema);
    }
    schemas
}

/// The OpenAPI 3.1 document, built from the route table. `x-permission`
/// and `x-roles` say who may call each operation.
pub fn openapi() -> Value {
    let (mut reads, mut writes) = (generator(true), generator(false));
    let error = s::<wire::ErrorBody>(&mut writes);
    let mut paths = serde_json::Map::new();
    for r in routes() {
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(path_param)
            .collect();
        let query = r.query.map_or(vec![], |q| query_params(q, &mut reads));
        let takes_params = !params.is_empty() || !query.is_empty();
        params.extend(query);
        let err = |d: &str| json!({ "description": d, "content": { "application/json": { "schema": error } } });
        let content = match r.reply {
            Reply::Json(f) => json!({ "application/json": { "schema": f(&mut writes) } }),
            Reply::Text => json!({ "text/plain": { "schema": { "type": "string" } } }),
            Reply::Audio => {
                json!({ "audio/wav": { "schema": { "type": "string", "format": "binary" } } })
            }
            Reply::Document => json!({ "application/json": { "schema": { "type": "object" } } }),
            // Each event as schemathesis reads it: its name and its data.
            Reply::Stream(names, d) => json!({ "text/event-stream": { "schema": {
                "type": "object",
                "description": d,
                "properties": {
                    "event": { "enum": names },
                    "data": { "type": "string" },
                },
                "required": ["event", "data"],
            } } }),
            Reply::Report(f) => json!({
                "application/json": { "schema": f(&mut writes) },
                "text/csv": { "schema": { "type": "string" } },
            }),
            Reply::Fhir(t) => json!({ "application/json": { "schema": {
                "type": "object",
                "description": format!("a FHIR R4 {t}"),
                "required": ["resourceType"],
                "properties": { "resourceType": { "const": t } },
            } } }),
        };
        let success = |d: &str| json!({ "description": d, "content": content });
        let mut responses = serde_json::Map::new();
        responses.insert("200".into(), success("done"));
        if CREATES.contains(&(r.method, r.path)) {
            responses.insert("201".into(), success("created"));
        }
        if QUEUES.contains(&(r.method, r.path)) {
            responses.insert("202".into(), success("accepted: queued to be sent"));
        }
        if takes_params {
            responses.insert(
                "400".into(),
                err("a path or query parameter is invalid (named)"),
            );
        }
        if r.body.is_some() {
            responses.insert("400".into(), err("malformed body or parameter"));
            responses.insert("413".into(), err("body over 64 KiB"));
            responses.insert("415".into(), err("the body is not application/json"));
            responses.insert("422".into(), err("a field is invalid (named)"));
        }
        if r.method != "GET" && r.perm.is_some() {
            responses.insert(
                "409".into(),
                err("refused by the state it would change (named)"),
            );
        }
        if matches!(r.reply, Reply::Audio) {
            responses.insert("409".into(), err("still being recorded"));
            responses.insert("410".into(), err("destroyed: its retention ran out"));
        }
        // Passkeys need the server reached by a name.
        if r.path.contains("passkey") {
            responses.insert(
                "400".into(),
                err("reached by an IP address (passkeys need a host name), or a malformed body"),
            );
        }
        // The log-in's steps: public, so their refusals are their own.
        if r.method == "POST" && r.path.starts_with("/api/v1/session") {
            responses.insert(
                "401".into(),
                err("wrong credentials or code, or the ticket expired"),
            );
            responses.insert("429".into(), err("too many failed log-ins (Retry-After)"));
            if r.path != "/api/v1/session" {
                responses.insert(
                    "409".into(),
                    err("no authenticator set up, or one already is"),
                );
            }
        }
        // GOV.UK Notify's callbacks: public, by their bearer token.
        if r.path.starts_with("/notify/v1/") {
            responses.insert("401".into(), err("no token, or not the callback token"));
            responses.insert("404".into(), err("Notify is not configured"));
            responses.insert("422".into(), err("not a Notify callback"));
            responses.insert("503".into(), err("not stored: send it again"));
        }
        // The patient's chat: public, with refusals of its own.
        if r.path.starts_with("/chat/v1/") {
            responses.insert("404".into(), err("no such chat entry point"));
            if r.method == "POST" {
                responses.insert("409".into(), err("the service is closed now"));
                responses.insert(
                    "429".into(),
                    err("too many chats started from this address"),
                );
                responses.insert("503".into(), err("too many chats open, or stopping"));
            } else if r.path.ends_with("transcript") {
                responses.insert("401".into(), err("no token, or no conversation has it"));
            }
            if r.path.contains("attachments") {
                responses.insert("401".into(), err("no token, or no conversation has it"));
                if r.method == "POST" {
                    responses.insert("409".into(), err("the service takes no files"));
                    responses.insert("413".into(), err("over the service's limit"));
                    responses.insert("415".into(), err("not an image or a PDF, by its content"));
                    responses.insert("422".into(), err("empty, or no name"));
                    responses.remove("201");
                }
            }
        }
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{} {}", r.method, r.path),
            "parameters": params,
        });
        if let Some(perm) = r.perm {
            responses.insert("401".into(), err("not logged in"));
            responses.insert("403".into(), err("the role may not do this"));
            responses.insert("404".into(), err("no such object in your organisation"));
            responses.insert(
                "503".into(),
                err("stopping, storage unavailable, or (planning) busy: Retry-After"),
            );
            op["x-permission"] = json!(perm);
            op["x-roles"] = json!(Role::ALL
                .iter()
                .filter(|&&role| auth::allows(role, perm))
                .map(|r| r.name())
                .collect::<Vec<_>>());
            op["security"] = json!([{ "session": [] }, { "token": [] }]);
        }
        op["responses"] = Value::Object(responses);
        if let Some(b) = r.body {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": b(&mut reads) } } });
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = op;
    }
    let schemas = components(reads, writes, &mut paths);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard API",
            "version": "1",
            "description": "The contact centre's HTTP API. People log in for a session cookie; integrations use scoped bearer tokens. Another organisation's ids answer 404.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": crate::people::COOKIE },
                "token": { "type": "http", "scheme": "bearer" },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_once_with_its_roles() {
        let doc = openapi();
        let mut seen = std::collections::HashSet::new();
        for r in routes() {
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
            let op = &doc["paths"][r.path][r.method.to_lowercase()];
            assert!(op.is_object(), "{} {} undocumented", r.method, r.path);
            let queries = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "query")
                .count();
            assert_eq!(
                r.query.is_some(),
                queries > 0,
                "{} {} query",
                r.method,
                r.path
            );
            match r.perm {
                Some(p) => {
                    let roles: Vec<&str> = op["x-roles"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap())
                        .collect();
                    for role in Role::ALL {
                        assert_eq!(roles.contains(&role.name()), auth::allows(role, p));
                    }
                }
                None => assert!(op.get("x-roles").is_none()),
            }
        }
        // Every success has its body's schema, and every reference is to a
        // schema the document has.
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                for (status, r) in op["responses"].as_object().unwrap() {
                    let content = r["content"].as_object();
                    assert!(
                        content.is_some_and(|c| c.values().all(|m| m["schema"].is_object())),
                        "{method} {path} {status} has no body schema"
                    );
                }
            }
        }
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 100, "{} references", all.len());
        for r in all {
            let name = r.strip_prefix("#/components/schemas/").expect(&r);
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{r} dangles"
            );
        }
        let documented: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|m| m.as_object().unwrap().len())
            .sum();
        assert_eq!(documented, seen.len());
        // The side tables name real routes.
        for (m, p) in CREATES.iter().chain(&QUEUES) {
            assert!(seen.contains(&(*m, *p)), "CREATES or QUEUES names {m} {p}");
        }
        // Every permission is used by some route.
        for p in Perm::ALL {
            assert!(routes().iter().any(|r| r.perm == Some(p)), "{p:?} unused");
        }
    }
}
