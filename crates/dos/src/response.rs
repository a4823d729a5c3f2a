//! The shape of a real NHS DoS `CheckCapacitySummary` response, read into
//! services and written from them.

use crate::{Capacity, Opening, Point, Profile, Rag, Service};
use model::Timestamp;
use serde::{Deserialize, Serialize};

/// The shape of a real NHS DoS `CheckCapacitySummary` response (the
/// fields this directory uses), for import and export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DosResponse {
    #[serde(rename = "CheckCapacitySummaryResult")]
    pub results: Vec<DosService>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DosTime {
    #[serde(rename = "hoursField")]
    pub hours: u32,
    #[serde(rename = "minutesField")]
    pub minutes: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DosRotaSession {
    /// 0 Sunday, 1 Monday ... 6 Saturday.
    #[serde(rename = "startDayOfWeekField")]
    pub start_day: u8,
    #[serde(rename = "startTimeField")]
    pub start: DosTime,
    #[serde(rename = "endDayOfWeekField")]
    pub end_day: u8,
    #[serde(rename = "endTimeField")]
    pub end: DosTime,
    #[serde(rename = "statusField")]
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DosServiceType {
    #[serde(rename = "idField")]
    pub id: u32,
    #[serde(rename = "nameField", default)]
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DosService {
    #[serde(rename = "idField")]
    pub id: u64,
    #[serde(rename = "nameField")]
    pub name: String,
    #[serde(rename = "publicNameField", default)]
    pub public_name: Option<String>,
    #[serde(rename = "postcodeField")]
    pub postcode: String,
    #[serde(rename = "odsCodeField", default)]
    pub ods_code: Option<String>,
    /// 0 high (green), 1 low (amber), 2 none (red).
    #[serde(rename = "capacityField", default)]
    pub capacity: u8,
    #[serde(rename = "contactDetailsField", default)]
    pub phone: Option<String>,
    #[serde(rename = "eastingsField")]
    pub eastings: f64,
    #[serde(rename = "northingsField")]
    pub northings: f64,
    #[serde(rename = "serviceTypeField")]
    pub service_type: DosServiceType,
    #[serde(rename = "referralTextField", default)]
    pub referral_text: Option<String>,
    #[serde(rename = "notesField", default)]
    pub notes: Option<String>,
    #[serde(rename = "distanceField", default)]
    pub distance: Option<String>,
    #[serde(rename = "openAllHoursField", default)]
    pub open_all_hours: bool,
    #[serde(rename = "rotaSessionsField", default)]
    pub rota_sessions: Vec<DosRotaSession>,
}

impl DosService {
    /// This directory's service: what it does comes from `profile` (the
    /// response says where and when, not which codes it takes). A session
    /// ending at 23:59 is taken to run to midnight.
    pub fn to_service(&self, profile: &Profile) -> Service {
        let mut opening = Opening {
            open_all_hours: self.open_all_hours,
            ..Default::default()
        };
        for r in self.rota_sessions.iter().filter(|r| r.status == "Open") {
            // DoS days: 0 Sunday; ours: 0 Monday.
            let day = (r.start_day as usize + 6) % 7;
            let open = r.start.hours * 60 + r.start.minutes;
            let mut close = r.end.hours * 60 + r.end.minutes;
            if close == 23 * 60 + 59 {
                close = 1440;
            }
            if r.end_day == r.start_day && close > open {
                opening.weekly[day].push((open, close));
            }
        }
        let name = self
            .public_name
            .clone()
            .unwrap_or_else(|| self.name.clone());
        let location = Point {
            easting: self.eastings,
            northing: self.northings,
        };
        Service {
            type_id: self.service_type.id,
            opening,
            phone: self.phone.clone().filter(|p| !p.is_empty()),
            public_text: self.referral_text.clone().unwrap_or_default(),
            professional_text: self.notes.clone().unwrap_or_default(),
            ..profile.service(
                self.id,
                name,
                self.ods_code.clone(),
                self.postcode.clone(),
                location,
            )
        }
    }

    /// A found service in the DoS response shape.
    pub fn from_service(s: &Service, distance_km: f64, now: Timestamp) -> DosService {
        let mut rota = Vec::new();
        for (day, sessions) in s.opening.weekly.iter().enumerate() {
            for &(a, b) in sessions {
                let dos_day = ((day + 1) % 7) as u8;
                let b = if b >= 1440 { 23 * 60 + 59 } else { b };
                rota.push(DosRotaSession {
                    start_day: dos_day,
                    start: DosTime {
                        hours: a / 60,
                        minutes: a % 60,
                    },
                    end_day: dos_day,
                    end: DosTime {
                        hours: b / 60,
                        minutes: b % 60,
                    },
                    status: "Open".into(),
                });
            }
        }
        DosService {
            id: s.id,
            name: s.name.clone(),
            public_name: Some(s.name.clone()),
            postcode: s.postcode.clone(),
            ods_code: s.ods_code.clone(),
            capacity: match Capacity::at(&s.capacity, now) {
                Rag::Green => 0,
                Rag::Amber => 1,
                Rag::Red => 2,
            },
            phone: s.phone.clone(),
            eastings: s.location.easting,
            northings: s.location.northing,
            service_type: DosServiceType {
                id: s.type_id,
                name: String::new(),
            },
            referral_text: Some(s.public_text.clone()),
            notes: Some(s.professional_text.clone()),
            distance: Some(format!("{distance_km:.1}")),
            open_all_hours: s.opening.open_all_hours,
            rota_sessions: rota,
        }
    }
}
