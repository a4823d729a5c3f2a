//! The enumerations and value types requests name, with their conversions.

use super::*;

//
// Enumerations of the core that requests carry: their schemas (requests
// read them into the core's own types; the tests check both spell every
// name alike).

/// What a person is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Clinician,
    Supervisor,
    Admin,
    Auditor,
    /// Listens to recordings and scores them.
    Quality,
    /// An integration token's (not an account's).
    Integration,
}

/// What an integration token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Contacts,
    Patients,
    Directory,
}

/// A service's capacity: red, amber or green.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rag {
    Green,
    Amber,
    Red,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    #[serde(alias = "M")]
    Male,
    #[serde(alias = "F")]
    Female,
    /// Indeterminate (DoS `I`): matches only services that list it.
    #[serde(alias = "I")]
    Indeterminate,
}

impl From<dos::Rag> for Rag {
    fn from(r: dos::Rag) -> Rag {
        match r {
            dos::Rag::Green => Rag::Green,
            dos::Rag::Amber => Rag::Amber,
            dos::Rag::Red => Rag::Red,
        }
    }
}

impl From<Rag> for dos::Rag {
    fn from(r: Rag) -> dos::Rag {
        match r {
            Rag::Green => dos::Rag::Green,
            Rag::Amber => dos::Rag::Amber,
            Rag::Red => dos::Rag::Red,
        }
    }
}

impl From<Sex> for dos::Sex {
    fn from(s: Sex) -> dos::Sex {
        match s {
            Sex::Male => dos::Sex::Male,
            Sex::Female => dos::Sex::Female,
            Sex::Indeterminate => dos::Sex::Indeterminate,
        }
    }
}

impl From<Role> for app::auth::Role {
    fn from(r: Role) -> app::auth::Role {
        use app::auth::Role as R;
        match r {
            Role::Agent => R::Agent,
            Role::Clinician => R::Clinician,
            Role::Supervisor => R::Supervisor,
            Role::Admin => R::Admin,
            Role::Auditor => R::Auditor,
            Role::Quality => R::Quality,
            Role::Integration => R::Integration,
        }
    }
}

impl From<app::auth::Role> for Role {
    fn from(r: app::auth::Role) -> Role {
        use app::auth::Role as R;
        match r {
            R::Agent => Role::Agent,
            R::Clinician => Role::Clinician,
            R::Supervisor => Role::Supervisor,
            R::Admin => Role::Admin,
            R::Auditor => Role::Auditor,
            R::Quality => Role::Quality,
            R::Integration => Role::Integration,
        }
    }
}

impl From<Scope> for app::auth::Scope {
    fn from(s: Scope) -> app::auth::Scope {
        use app::auth::Scope as S;
        match s {
            Scope::Contacts => S::Contacts,
            Scope::Patients => S::Patients,
            Scope::Directory => S::Directory,
        }
    }
}

impl From<app::auth::Scope> for Scope {
    fn from(s: app::auth::Scope) -> Scope {
        use app::auth::Scope as S;
        match s {
            S::Contacts => Scope::Contacts,
            S::Patients => Scope::Patients,
            S::Directory => Scope::Directory,
        }
    }
}

/// The NHS Directory of Services' own CheckCapacitySummary answer (its
/// schema is the NHS's; the DoS crate's tests hold its samples).
#[derive(Serialize)]
#[serde(transparent)]
pub struct DosShape(pub dos::DosResponse);

impl JsonSchema for DosShape {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CheckCapacitySummary".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "The NHS DoS CheckCapacitySummary response shape",
            "required": ["CheckCapacitySummaryResult"],
            "properties": {
                "CheckCapacitySummaryResult": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["idField", "nameField", "postcodeField", "serviceTypeField"],
                        "properties": {
                            "idField": { "type": "integer" },
                            "nameField": { "type": "string" },
                            "postcodeField": { "type": "string" },
                            "serviceTypeField": { "type": "object" },
                        },
                    },
                },
            },
        })
    }
}

/// A ten-digit NHS number with a valid check digit.
#[derive(JsonSchema)]
#[schemars(transparent)]
pub struct NhsNumber(#[schemars(regex(pattern = r"^[0-9]{10}$"))] pub String);

/// A phone number, E.164 or UK national.
#[derive(JsonSchema)]
#[schemars(transparent)]
pub struct PhoneNumber(#[schemars(length(min = 1, max = 32))] pub String);
