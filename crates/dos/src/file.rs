//! The directory file: the whole Directory of Services of an organisation
//! as one JSON document a DoS lead can keep, review and load
//! (`docs/dos-directory.md`). [`to_directory`] checks it, every problem
//! naming its field (the JSON itself is read by the caller:
//! `app::dosload::parse_file`); [`export`] writes a directory back, so that
//! import-then-export gives the same document. [`ServiceFile`] is also
//! the shape of one service in the API.

use crate::{Capacity, Directory, Opening, Point, Rag, Service, Session, Sex};
use jiff::civil::Date;
use model::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Limits on a directory file.
pub const MAX_SERVICES: usize = 100_000;
pub const MAX_SESSIONS_PER_DAY: usize = 12;
pub const MAX_DATED: usize = 1_000;
pub const MAX_PAIRS: usize = 5_000;
pub const MAX_VALID_PAIRS: usize = 200_000;
pub const MAX_LIST: usize = 10_000;
pub const MAX_TEXT: usize = 4_000;
/// The oldest age a service can take: 130 years, in days.
pub const MAX_AGE_DAYS: u32 = 47_482;

/// A problem in a directory or a service, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FileError {
    pub field: String,
    pub problem: String,
}

fn err<T>(field: impl Into<String>, problem: impl Into<String>) -> Result<T, FileError> {
    Err(FileError {
        field: field.into(),
        problem: problem.into(),
    })
}

/// The directory file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "DosDirectory"))]
#[serde(deny_unknown_fields)]
pub struct DirectoryFile {
    /// Dates (YYYY-MM-DD) on which bank-holiday sessions apply.
    #[serde(default)]
    pub bank_holidays: Vec<String>,
    /// The valid [symptom group, discriminator] pairs; empty: any.
    #[serde(default)]
    pub valid_sg_sd: Vec<(u32, u32)>,
    /// Search distance (km, 1–99) by postcode district, sector or
    /// postcode.
    #[serde(default)]
    pub search_distances: BTreeMap<String, u32>,
    /// Name → {service type id: rank 1–10}.
    #[serde(default)]
    pub ranking_strategies: BTreeMap<String, BTreeMap<u32, u8>>,
    /// The strategy a search uses when it names none (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_strategy: Option<String>,
    /// Service type id → name.
    #[serde(default)]
    pub service_types: BTreeMap<u32, String>,
    pub services: Vec<ServiceFile>,
}

/// One service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "DosService"))]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    pub id: String,
    pub name: String,
    pub type_id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ods_code: Option<String>,
    /// Ours: the service's postcode, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub postcode: String,
    #[serde(serialize_with = "grid")]
    pub easting: f64,
    #[serde(serialize_with = "grid")]
    pub northing: f64,
    /// `active`, or why not (`closed`, `commissioning`, ...).
    #[serde(default = "active")]
    pub status: String,
    #[serde(default)]
    pub sg_sd: Vec<(u32, u32)>,
    #[serde(default)]
    pub dispositions: Vec<String>,
    #[serde(default)]
    pub age_min_days: u32,
    #[serde(default = "max_age")]
    pub age_max_days: u32,
    /// A subset of `M`, `F`, `I`; none: never matched.
    #[serde(default)]
    pub genders: Vec<String>,
    /// Practices (ODS codes) that commissioned it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referral_gp_ods: Vec<String>,
    /// Only those practices' patients.
    #[serde(default, skip_serializing_if = "is_false")]
    pub referral_restricted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityFile>,
    #[serde(default)]
    pub opening: OpeningFile,
    /// Ours: the public phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Ours: what the public may be told.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub public_text: String,
    /// Ours: for professionals only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub professional_text: String,
    /// Ours: where electronic referrals go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "DosCapacitySetting"))]
#[serde(deny_unknown_fields)]
pub struct CapacityFile {
    /// `red`, `amber` or `green`.
    pub rag: String,
    /// RFC 3339.
    pub set_at: String,
    /// Back to green this long after `set_at` (15 to 7,200 minutes).
    pub reset_minutes: u32,
    /// Ours: who set it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub set_by: String,
}

/// Opening times, Europe/London local times, `HH:MM`; a close of 23:59
/// means midnight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "DosOpening"))]
#[serde(deny_unknown_fields)]
pub struct OpeningFile {
    #[serde(default)]
    pub open_all_hours: bool,
    /// `mon` .. `sun` → sessions; a day left out is closed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weekly: BTreeMap<String, Vec<(String, String)>>,
    /// Sessions on a bank holiday; none: closed then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bank_holiday: Vec<(String, String)>,
    /// Date → that day's sessions (`[]`: closed), over everything else.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub specified: BTreeMap<String, Vec<(String, String)>>,
}

/// Whole metres as integers (as written), fractions as they are.
fn grid<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

fn active() -> String {
    "active".into()
}
fn max_age() -> u32 {
    MAX_AGE_DAYS
}
fn is_false(b: &bool) -> bool {
    !*b
}

pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The number a service id is stored and addressed by: the id itself when
/// it is a number below 2^52, else a stable hash of it (FNV-1a) between
/// 2^52 and 2^53, so it never meets a plain number and stays exact in a
/// browser's numbers (JavaScript is exact only below 2^53).
pub fn number_for(key: &str) -> u64 {
    if let Ok(n) = key.parse::<u64>() {
        if n < (1 << 52) {
            return n;
        }
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h & ((1 << 52) - 1)) | (1 << 52)
}

/// A file the JSON reader refused (unknown or missing fields, wrong
/// types), as a problem with the file.
pub fn unreadable(e: impl std::fmt::Display) -> FileError {
    FileError {
        field: "file".into(),
        problem: format!("not a directory file: {e}"),
    }
}

/// Checks the file and builds the directory. Dispositions are checked
/// against `known` when given (the pathway set's codes).
pub fn to_directory(
    f: &DirectoryFile,
    known: Option<&BTreeSet<String>>,
) -> Result<Directory, FileError> {
    let mut dir = Directory::default();
    if f.bank_holidays.len() > MAX_DATED {
        return err("bank_holidays", format!("at most {MAX_DATED} dates"));
    }
    for (i, d) in f.bank_holidays.iter().enumerate() {
        dir.bank_holidays
            .insert(date(&format!("bank_holidays[{i}]"), d)?);
    }
    if f.valid_sg_sd.len() > MAX_VALID_PAIRS {
        return err("valid_sg_sd", format!("at most {MAX_VALID_PAIRS} pairs"));
    }
    dir.valid_sg_sd = f.valid_sg_sd.iter().copied().collect();
    if f.service_types.len() > MAX_LIST {
        return err("service_types", format!("at most {MAX_LIST}"));
    }
    for (id, name) in &f.service_types {
        text(&format!("service_types.{id}"), name, 1, 200)?;
    }
    dir.service_types = f.service_types.clone();
    if f.search_distances.len() > MAX_SERVICES {
        return err("search_distances", format!("at most {MAX_SERVICES}"));
    }
    for (area, km) in &f.search_distances {
        let field = format!("search_distances.{area}");
        let Some(norm) = area_key(area) else {
            return err(
                field,
                "not a postcode district (ME10), sector (ME10 4) or postcode (ME10 4AB)",
            );
        };
        if !(1..=99).contains(km) {
            return err(field, format!("{km} km is outside 1 to 99 km"));
        }
        if dir.district_distance.insert(norm.clone(), *km).is_some() {
            return err(field, format!("{norm} is given twice"));
        }
    }
    for (name, ranks) in &f.ranking_strategies {
        let field = format!("ranking_strategies.{name}");
        text(&field, name, 1, 64)?;
        let mut r = HashMap::new();
        for (t, rank) in ranks {
            if !(1..=10).contains(rank) {
                return err(format!("{field}.{t}"), format!("rank {rank}: 1 to 10"));
            }
            if !f.service_types.is_empty() && !f.service_types.contains_key(t) {
                return err(
                    format!("{field}.{t}"),
                    format!("{t} is not one of service_types"),
                );
            }
            r.insert(*t, *rank);
        }
        dir.strategies.insert(name.clone(), r);
    }
    if let Some(d) = &f.default_strategy {
        if !dir.strategies.contains_key(d) {
            return err(
                "default_strategy",
                format!("'{d}' is not one of ranking_strategies"),
            );
        }
        dir.default_strategy = Some(d.clone());
    } else if dir.strategies.len() == 1 {
        dir.default_strategy = dir.strategies.keys().next().cloned();
    } else if dir.strategies.len() > 1 {
        return err(
            "default_strategy",
            "several ranking strategies: say which one a search uses when it names none",
        );
    }
    if f.services.len() > MAX_SERVICES {
        return err("services", format!("at most {MAX_SERVICES} services"));
    }
    let mut by_number: HashMap<u64, &str> = HashMap::new();
    for (i, s) in f.services.iter().enumerate() {
        let field = format!("services[{i}]");
        let svc = s.check(&field, &dir, known)?;
        if let Some(other) = by_number.insert(svc.id, &s.id) {
            let problem = if other == s.id {
                format!("'{}' is used twice", s.id)
            } else {
                format!("'{}' and '{other}' map to the same number", s.id)
            };
            return err(format!("{field}.id"), problem);
        }
        dir.services.push(svc);
    }
    Ok(dir)
}

impl ServiceFile {
    /// The service, checked against the directory's lists (service types,
    /// valid pairs) and the known dispositions; `field` prefixes every
    /// problem (e.g. `services[3]`).
    pub fn check(
        &self,
        field: &str,
        dir: &Directory,
        known: Option<&BTreeSet<String>>,
    ) -> Result<Service, FileError> {
        let f = |name: &str| {
            if field.is_empty() {
                name.to_string()
            } else {
                format!("{field}.{name}")
            }
        };
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return err(
                f("id"),
                "1 to 64 letters, digits, '-', '_' or '.'".to_string(),
            );
        }
        text(&f("name"), &self.name, 1, 200)?;
        if !dir.service_types.is_empty() && !dir.service_types.contains_key(&self.type_id) {
            return err(
                f("type_id"),
                format!("{} is not one of service_types", self.type_id),
            );
        }
        if let Some(o) = &self.ods_code {
            ods(&f("ods_code"), o)?;
        }
        if !self.postcode.is_empty() && crate::outward(&self.postcode).is_none() {
            return err(
                f("postcode"),
                format!("'{}' is not a UK postcode", self.postcode),
            );
        }
        if !(0.0..=700_000.0).contains(&self.easting) {
            return err(f("easting"), "0 to 700000 metres (the national grid)");
        }
        if !(0.0..=1_300_000.0).contains(&self.northing) {
            return err(f("northing"), "0 to 1300000 metres (the national grid)");
        }
        let status = self.status.trim();
        if status.is_empty()
            || status.len() > 32
            || !status
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '-')
        {
            return err(
                f("status"),
                "'active', or one lower-case word saying why not (e.g. closed)",
            );
        }
        if self.sg_sd.len() > MAX_PAIRS {
            return err(f("sg_sd"), format!("at most {MAX_PAIRS} pairs"));
        }
        for (i, p) in self.sg_sd.iter().enumerate() {
            if !dir.valid_sg_sd.is_empty() && !dir.valid_sg_sd.contains(p) {
                return err(
                    format!("{}[{i}]", f("sg_sd")),
                    format!("[{}, {}] is not one of valid_sg_sd", p.0, p.1),
                );
            }
        }
        if self.dispositions.len() > 500 {
            return err(f("dispositions"), "at most 500");
        }
        for (i, d) in self.dispositions.iter().enumerate() {
            let fd = format!("{}[{i}]", f("dispositions"));
            let shape = d.len() <= 10
                && d.starts_with("Dx")
                && d.len() > 2
                && d[2..].chars().all(|c| c.is_ascii_alphanumeric());
            if !shape {
                return err(fd, format!("'{d}' is not a disposition code (Dx..)"));
            }
            if let Some(k) = known {
                if !k.contains(d) {
                    return err(fd, format!("{d} is not a disposition of the pathway set"));
                }
            }
        }
        if self.age_max_days > MAX_AGE_DAYS {
            return err(
                f("age_max_days"),
                format!("at most {MAX_AGE_DAYS} (130 years)"),
            );
        }
        if self.age_min_days > self.age_max_days {
            return err(
                f("age_min_days"),
                format!(
                    "{} is above age_max_days {}",
                    self.age_min_days, self.age_max_days
                ),
            );
        }
        let mut sexes = Vec::new();
        for (i, g) in self.genders.iter().enumerate() {
            let fg = format!("{}[{i}]", f("genders"));
            let Some(s) = Sex::from_letter(g).filter(|_| g.len() == 1) else {
                return err(fg, format!("'{g}' is not M, F or I"));
            };
            if sexes.contains(&s) {
                return err(fg, format!("'{g}' is listed twice"));
            }
            sexes.push(s);
        }
        if self.referral_gp_ods.len() > MAX_LIST {
            return err(f("referral_gp_ods"), format!("at most {MAX_LIST}"));
        }
        for (i, o) in self.referral_gp_ods.iter().enumerate() {
            ods(&format!("{}[{i}]", f("referral_gp_ods")), o)?;
        }
        if self.referral_restricted && self.referral_gp_ods.is_empty() {
            return err(
                f("referral_restricted"),
                "restricted to no practice: list them in referral_gp_ods",
            );
        }
        let capacity = match &self.capacity {
            None => None,
            Some(c) => Some(c.check(&f("capacity"))?),
        };
        let opening = self.opening.check(&f("opening"))?;
        if let Some(p) = &self.phone {
            text(&f("phone"), p, 1, 40)?;
        }
        text(&f("public_text"), &self.public_text, 0, MAX_TEXT)?;
        text(
            &f("professional_text"),
            &self.professional_text,
            0,
            MAX_TEXT,
        )?;
        if let Some(u) = &self.referral_url {
            let ok = (u.starts_with("https://") || u.starts_with("http://"))
                && u.len() <= 2000
                && !u.chars().any(|c| c.is_control() || c.is_whitespace());
            if !ok {
                return err(
                    f("referral_url"),
                    "an http(s) URL of at most 2,000 characters",
                );
            }
        }
        Ok(Service {
            id: number_for(&self.id),
            name: self.name.trim().to_string(),
            type_id: self.type_id,
            // ODS codes compare in upper case (the patient's practice too).
            ods_code: self.ods_code.as_ref().map(|o| o.to_ascii_uppercase()),
            postcode: self.postcode.clone(),
            location: Point {
                easting: self.easting,
                northing: self.northing,
            },
            active: status == "active",
            sg_sd: self.sg_sd.iter().copied().collect(),
            dispositions: self.dispositions.iter().cloned().collect(),
            age_days: (self.age_min_days, self.age_max_days),
            sexes,
            restricted_to_practices: self
                .referral_gp_ods
                .iter()
                .map(|o| o.to_ascii_uppercase())
                .collect(),
            opening,
            capacity,
            phone: self.phone.clone(),
            public_text: self.public_text.clone(),
            professional_text: self.professional_text.clone(),
            referral_url: self.referral_url.clone(),
            ref_id: if self.id == number_for(&self.id).to_string() {
                String::new()
            } else {
                self.id.clone()
            },
            status: (status != "active").then(|| status.to_string()),
            referral_restricted: Some(self.referral_restricted),
        })
    }

    /// A service as the file writes it.
    pub fn from_service(s: &Service) -> ServiceFile {
        ServiceFile {
            id: s.key(),
            name: s.name.clone(),
            type_id: s.type_id,
            ods_code: s.ods_code.clone(),
            postcode: s.postcode.clone(),
            easting: s.location.easting,
            northing: s.location.northing,
            status: s.status_word(),
            sg_sd: s.sg_sd.iter().copied().collect(),
            dispositions: s.dispositions.iter().cloned().collect(),
            age_min_days: s.age_days.0,
            age_max_days: s.age_days.1,
            genders: s.sexes.iter().map(|x| x.letter().to_string()).collect(),
            referral_gp_ods: s.restricted_to_practices.clone(),
            referral_restricted: s.restricted(),
            capacity: s.capacity.as_ref().map(CapacityFile::from_capacity),
            opening: OpeningFile::from_opening(&s.opening),
            phone: s.phone.clone(),
            public_text: s.public_text.clone(),
            professional_text: s.professional_text.clone(),
            referral_url: s.referral_url.clone(),
        }
    }
}

impl CapacityFile {
    fn check(&self, field: &str) -> Result<Capacity, FileError> {
        let rag = match self.rag.as_str() {
            "red" => Rag::Red,
            "amber" => Rag::Amber,
            "green" => Rag::Green,
            other => {
                return err(
                    format!("{field}.rag"),
                    format!("'{other}': red, amber or green"),
                )
            }
        };
        let set_at: jiff::Timestamp = self.set_at.parse().map_err(|_| FileError {
            field: format!("{field}.set_at"),
            problem: format!("'{}' is not an RFC 3339 time", self.set_at),
        })?;
        if !(15..=7200).contains(&self.reset_minutes) {
            return err(
                format!("{field}.reset_minutes"),
                format!("{}: 15 to 7200 (five days)", self.reset_minutes),
            );
        }
        text(&format!("{field}.set_by"), &self.set_by, 0, 100)?;
        let at = set_at.as_millisecond();
        Ok(Capacity {
            rag,
            set_by: self.set_by.clone(),
            set_at: Timestamp(at),
            reset_at: Timestamp(at + self.reset_minutes as i64 * 60_000),
        })
    }

    fn from_capacity(c: &Capacity) -> CapacityFile {
        CapacityFile {
            rag: match c.rag {
                Rag::Red => "red",
                Rag::Amber => "amber",
                Rag::Green => "green",
            }
            .into(),
            set_at: jiff::Timestamp::from_millisecond(c.set_at.0)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            reset_minutes: ((c.reset_at.0 - c.set_at.0) / 60_000).max(0) as u32,
            set_by: c.set_by.clone(),
        }
    }
}

impl OpeningFile {
    /// The opening times, each day's sessions in order and apart.
    pub fn check(&self, field: &str) -> Result<Opening, FileError> {
        let mut o = Opening {
            open_all_hours: self.open_all_hours,
            ..Default::default()
        };
        for (day, sessions) in &self.weekly {
            let Some(i) = DAYS.iter().position(|d| d == day) else {
                return err(
                    format!("{field}.weekly.{day}"),
                    "not a day: mon, tue, wed, thu, fri, sat or sun",
                );
            };
            o.weekly[i] = day_sessions(&format!("{field}.weekly.{day}"), sessions)?;
        }
        o.bank_holiday = day_sessions(&format!("{field}.bank_holiday"), &self.bank_holiday)?;
        if self.specified.len() > MAX_DATED {
            return err(
                format!("{field}.specified"),
                format!("at most {MAX_DATED} dates"),
            );
        }
        for (d, sessions) in &self.specified {
            let fd = format!("{field}.specified.{d}");
            let day = date(&fd, d)?;
            o.specified.insert(day, day_sessions(&fd, sessions)?);
        }
        Ok(o)
    }

    pub fn from_opening(o: &Opening) -> OpeningFile {
        let hhmm = |s: &[Session]| -> Vec<(String, String)> {
            s.iter()
                .map(|&(a, b)| (clock(a, false), clock(b, true)))
                .collect()
        };
        OpeningFile {
            open_all_hours: o.open_all_hours,
            weekly: DAYS
                .iter()
                .zip(o.weekly.iter())
                .filter(|(_, s)| !s.is_empty())
                .map(|(d, s)| (d.to_string(), hhmm(s)))
                .collect(),
            bank_holiday: hhmm(&o.bank_holiday),
            specified: o
                .specified
                .iter()
                .map(|(d, s)| (d.to_string(), hhmm(s)))
                .collect(),
        }
    }
}

/// `HH:MM` for minutes after midnight; a close at midnight is 23:59.
fn clock(m: u32, close: bool) -> String {
    let m = if close && m >= 1440 {
        1439
    } else {
        m.min(1439)
    };
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn minutes(field: &str, s: &str) -> Result<u32, FileError> {
    let bad = || FileError {
        field: field.into(),
        problem: format!("'{s}' is not a time HH:MM (00:00 to 23:59)"),
    };
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn day_sessions(field: &str, s: &[(String, String)]) -> Result<Vec<Session>, FileError> {
    if s.len() > MAX_SESSIONS_PER_DAY {
        return err(
            field,
            format!("at most {MAX_SESSIONS_PER_DAY} sessions a day"),
        );
    }
    let mut out: Vec<Session> = Vec::new();
    for (i, (a, b)) in s.iter().enumerate() {
        let fi = format!("{field}[{i}]");
        let open = minutes(&fi, a)?;
        let mut close = minutes(&fi, b)?;
        if close == 1439 {
            close = 1440;
        }
        if close <= open {
            return err(fi, format!("closes ({b}) before it opens ({a})"));
        }
        if let Some(&(pa, pb)) = out.last() {
            if open < pb {
                return err(
                    fi,
                    format!(
                        "{a}-{b} overlaps or comes before the session before it ({}-{})",
                        clock(pa, false),
                        clock(pb, true)
                    ),
                );
            }
        }
        out.push((open, close));
    }
    Ok(out)
}

fn date(field: &str, s: &str) -> Result<Date, FileError> {
    s.parse::<Date>()
        .ok()
        .filter(|_| s.len() == 10)
        .ok_or_else(|| FileError {
            field: field.into(),
            problem: format!("'{s}' is not a date (YYYY-MM-DD)"),
        })
}

fn text(field: &str, s: &str, min: usize, max: usize) -> Result<(), FileError> {
    let n = s.trim().chars().count();
    if n < min {
        return err(field, "must not be empty");
    }
    if s.chars().count() > max {
        return err(field, format!("at most {max} characters"));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return err(field, "holds a control character");
    }
    Ok(())
}

/// A search distance's area as the search looks it up: a district
/// (`ME10`), a sector (`ME10 4`) or a postcode (`ME10 4AB`), upper case,
/// one space; none if it is none of these.
pub fn area_key(area: &str) -> Option<String> {
    let words: Vec<String> = area
        .split_whitespace()
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let district = |d: &str| {
        let b = d.as_bytes();
        (2..=4).contains(&b.len())
            && b.iter().all(u8::is_ascii_alphanumeric)
            && b[0].is_ascii_alphabetic()
            && b.iter().any(u8::is_ascii_digit)
    };
    match words.as_slice() {
        [d] if district(d) => Some(d.clone()),
        [d, s] if district(d) && s.len() == 1 && s.as_bytes()[0].is_ascii_digit() => {
            Some(format!("{d} {s}"))
        }
        [d, i]
            if district(d)
                && i.len() == 3
                && i.as_bytes()[0].is_ascii_digit()
                && i.as_bytes()[1..].iter().all(u8::is_ascii_alphabetic) =>
        {
            Some(format!("{d} {i}"))
        }
        _ => None,
    }
}

fn ods(field: &str, s: &str) -> Result<(), FileError> {
    if s.is_empty() || s.len() > 12 || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
        return err(
            field,
            format!("'{s}' is not an ODS code (letters and digits)"),
        );
    }
    Ok(())
}

/// The directory as a file, services in id order of the directory.
pub fn export(dir: &Directory) -> DirectoryFile {
    let mut strategies: BTreeMap<String, BTreeMap<u32, u8>> = dir
        .strategies
        .iter()
        .map(|(n, r)| (n.clone(), r.iter().map(|(&t, &k)| (t, k)).collect()))
        .collect();
    let mut default_strategy = dir.default_strategy.clone();
    if strategies.is_empty() && !dir.ranks.is_empty() {
        strategies.insert(
            "default".into(),
            dir.ranks.iter().map(|(&t, &k)| (t, k)).collect(),
        );
        default_strategy = Some("default".into());
    }
    // A lone strategy is the default without saying so.
    if strategies.len() == 1 && default_strategy.as_ref() == strategies.keys().next() {
        default_strategy = None;
    }
    DirectoryFile {
        bank_holidays: dir.bank_holidays.iter().map(|d| d.to_string()).collect(),
        valid_sg_sd: dir.valid_sg_sd.iter().copied().collect(),
        search_distances: dir
            .district_distance
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        ranking_strategies: strategies,
        default_strategy,
        service_types: dir.service_types.clone(),
        services: dir.services.iter().map(ServiceFile::from_service).collect(),
    }
}
