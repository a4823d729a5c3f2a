//! A Directory of Services: services with their location, clinical
//! coverage (symptom group / discriminator pairs and dispositions), age and
//! sex rules, practice restrictions, opening times (Europe/London) and
//! capacity — and the search that picks the right place for a patient,
//! following the public DoS rules (`../shared/design/triage-and-dos.md`):
//! a square search area, two filter stages, the disposition's time window,
//! ranking by commissioner rank then distance with the patient's own GP
//! first, the top two per service type, a catch-all to the nearest
//! emergency departments, and the **gaps** (services that failed exactly
//! one second-stage filter, and why).
//!
//! Pure: the search time is an input; nothing reads the clock.

pub mod file;
mod ods;
mod response;
mod search;

pub use ods::{import_ods, outward, parse_centroids, Profile, Skipped};
pub use response::{DosResponse, DosRotaSession, DosService, DosServiceType, DosTime};
pub use search::{search, search_explained, Answer, Explained, GapRef, Verdict};

use jiff::civil::{Date, Time};
use model::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A place on the Ordnance Survey national grid, metres.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub easting: f64,
    pub northing: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
    /// Indeterminate (DoS gender `I`): matches only services that list it.
    Indeterminate,
}

impl Sex {
    /// The DoS letter: `M`, `F` or `I`.
    pub fn letter(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
            Sex::Indeterminate => "I",
        }
    }

    /// From the DoS letter (`M`, `F`, `I`, any case).
    pub fn from_letter(s: &str) -> Option<Sex> {
        match s.trim().to_ascii_uppercase().as_str() {
            "M" => Some(Sex::Male),
            "F" => Some(Sex::Female),
            "I" => Some(Sex::Indeterminate),
            _ => None,
        }
    }
}

/// Capacity as red / amber / green.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rag {
    Green,
    Amber,
    Red,
}

/// A capacity setting: who set it, when, and when it returns to green.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub rag: Rag,
    pub set_by: String,
    pub set_at: Timestamp,
    /// Back to green from this time.
    pub reset_at: Timestamp,
}

/// Shortest and longest reset period of a capacity update.
pub const MIN_RESET_MS: i64 = 15 * 60 * 1000;
pub const MAX_RESET_MS: i64 = 5 * 24 * 3600 * 1000;

impl Capacity {
    /// The capacity in force at `now`.
    pub fn at(c: &Option<Capacity>, now: Timestamp) -> Rag {
        match c {
            Some(c) if now < c.reset_at => c.rag,
            _ => Rag::Green,
        }
    }
}

/// Open from `.0` to `.1`, minutes after local midnight (`.1` may be 1440).
pub type Session = (u32, u32);

/// When a service is open, Europe/London local times.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Opening {
    #[serde(default)]
    pub open_all_hours: bool,
    /// Monday first.
    #[serde(default)]
    pub weekly: [Vec<Session>; 7],
    /// Sessions on a bank holiday; none: closed on bank holidays.
    #[serde(default)]
    pub bank_holiday: Vec<Session>,
    /// Dated entries, highest priority: that day's sessions (empty: closed).
    #[serde(default)]
    pub specified: BTreeMap<Date, Vec<Session>>,
}

impl Opening {
    /// The day's sessions, by the rules' priority: a dated entry; open all
    /// hours; bank-holiday sessions on a bank holiday; the weekly sessions.
    pub fn sessions(&self, day: Date, bank_holidays: &BTreeSet<Date>) -> Vec<Session> {
        if let Some(s) = self.specified.get(&day) {
            return s.clone();
        }
        if self.open_all_hours {
            return vec![(0, 1440)];
        }
        if bank_holidays.contains(&day) {
            return self.bank_holiday.clone();
        }
        self.weekly[day.weekday().to_monday_zero_offset() as usize].clone()
    }
}

/// One service in the directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: u64,
    pub name: String,
    /// DoS service type (e.g. 100 GP in hours, 40 Emergency Department).
    pub type_id: u32,
    /// ODS code, for the patient's own GP.
    #[serde(default)]
    pub ods_code: Option<String>,
    pub postcode: String,
    pub location: Point,
    #[serde(default = "yes")]
    pub active: bool,
    /// (symptom group, symptom discriminator) pairs it takes.
    pub sg_sd: BTreeSet<(u32, u32)>,
    /// Disposition codes it takes.
    pub dispositions: BTreeSet<String>,
    /// Ages taken, in days, inclusive.
    pub age_days: (u32, u32),
    /// Sexes taken; a service with none never matches.
    pub sexes: Vec<Sex>,
    /// Only patients of these practices (ODS codes); empty: anyone.
    #[serde(default)]
    pub restricted_to_practices: Vec<String>,
    pub opening: Opening,
    #[serde(default)]
    pub capacity: Option<Capacity>,
    #[serde(default)]
    pub phone: Option<String>,
    /// What the public may be told.
    #[serde(default)]
    pub public_text: String,
    /// For professionals only (referral instructions).
    #[serde(default)]
    pub professional_text: String,
    /// Where electronic referrals go (an HTTP endpoint taking a FHIR
    /// message bundle); none: phone or email only.
    #[serde(default)]
    pub referral_url: Option<String>,
    /// The directory's own id for it (the directory file's `id`); empty:
    /// the number.
    #[serde(default)]
    pub ref_id: String,
    /// Its status when not active (`closed`, `commissioning`, ...).
    #[serde(default)]
    pub status: Option<String>,
    /// Whether only the patients of `restricted_to_practices` may be
    /// referred; none (older records): restricted when the list is not
    /// empty. A list that is not restricting says which practices
    /// commissioned it.
    #[serde(default)]
    pub referral_restricted: Option<bool>,
}

impl Service {
    /// The id a DoS lead knows it by.
    pub fn key(&self) -> String {
        if self.ref_id.is_empty() {
            self.id.to_string()
        } else {
            self.ref_id.clone()
        }
    }

    /// Only for the patients of its listed practices.
    pub fn restricted(&self) -> bool {
        !self.restricted_to_practices.is_empty() && self.referral_restricted.unwrap_or(true)
    }

    /// Its status word: `active`, or why not.
    pub fn status_word(&self) -> String {
        if self.active {
            "active".into()
        } else {
            self.status.clone().unwrap_or_else(|| "closed".into())
        }
    }
}

fn yes() -> bool {
    true
}

/// The directory: services, the commissioner's ranking of service types,
/// bank holidays, and search distances stored per postcode district.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Directory {
    pub services: Vec<Service>,
    /// Service type → rank 1 (first) to 10; unranked types rank 10. The
    /// ranking used when the directory has no named strategies.
    #[serde(default)]
    pub ranks: HashMap<u32, u8>,
    #[serde(default)]
    pub bank_holidays: BTreeSet<Date>,
    /// Postcode, sector (`ME10 4`) or district (`ME10`) → search
    /// distance, km.
    #[serde(default)]
    pub district_distance: HashMap<String, u32>,
    /// The commissioners' ranking strategies: name → service type → rank.
    #[serde(default)]
    pub strategies: BTreeMap<String, HashMap<u32, u8>>,
    /// The strategy a search uses when it names none.
    #[serde(default)]
    pub default_strategy: Option<String>,
    /// Service type id → name; empty: any type allowed.
    #[serde(default)]
    pub service_types: BTreeMap<u32, String>,
    /// The valid (symptom group, discriminator) pairs; empty: any.
    #[serde(default)]
    pub valid_sg_sd: BTreeSet<(u32, u32)>,
}

/// What the search is for.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub location: Point,
    /// The patient's postcode district (outward code), for its stored
    /// search distance.
    pub district: Option<String>,
    pub age_days: u32,
    pub sex: Sex,
    /// The patient's registered practice (ODS code).
    pub gp_practice: Option<String>,
    pub symptom_group: u32,
    pub discriminators: Vec<u32>,
    pub disposition: String,
    pub timeframe_minutes: Option<u32>,
    /// The search time (reproducible searches).
    pub at: Timestamp,
    pub forced_distance_km: Option<u32>,
    pub distance_km: Option<u32>,
    /// The patient's full postcode, for a distance stored by postcode or
    /// sector (before the district's).
    pub postcode: Option<String>,
    /// The ranking strategy; none: the directory's default.
    pub strategy: Option<String>,
}

impl Query {
    /// A query with what every search needs; the rest left out.
    pub fn new(
        location: Point,
        age_days: u32,
        sex: Sex,
        symptom_group: u32,
        at: Timestamp,
    ) -> Query {
        Query {
            location,
            district: None,
            age_days,
            sex,
            gp_practice: None,
            symptom_group,
            discriminators: Vec::new(),
            disposition: String::new(),
            timeframe_minutes: None,
            at,
            forced_distance_km: None,
            distance_km: None,
            postcode: None,
            strategy: None,
        }
    }
}

/// A second-stage filter (the one a gap failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Capacity red.
    Capacity,
    /// Does not hold every requested discriminator.
    SymptomDiscriminator,
    Disposition,
    Age,
    /// Not open in the disposition's window (or closing within 30 min).
    SessionTimes,
}

impl Filter {
    pub fn name(self) -> &'static str {
        match self {
            Filter::Capacity => "capacity",
            Filter::SymptomDiscriminator => "symptom_discriminator",
            Filter::Disposition => "disposition",
            Filter::Age => "age",
            Filter::SessionTimes => "session_times",
        }
    }
}

/// A first-stage rule (a service failing one is not a gap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Its status is not active.
    Status,
    /// Outside the search square.
    Distance,
    /// Takes no discriminator of the symptom group.
    SymptomGroup,
    /// Does not take the patient's sex.
    Gender,
    /// Only for the patients of other practices.
    GpRestricted,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Found {
    pub id: u64,
    pub name: String,
    pub type_id: u32,
    pub distance_km: f64,
    pub rank: u8,
    pub capacity: Rag,
    /// Returned only because nothing matched: the nearest emergency
    /// departments.
    pub catch_all: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gap {
    pub id: u64,
    pub name: String,
    pub type_id: u32,
    pub failed: Filter,
}

/// Where the search distance came from (the DoS
/// `SearchDistanceUsedSource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DistanceSource {
    /// The request's, forced over any stored one.
    Override,
    /// Stored for the patient's postcode.
    Postcode,
    /// Stored for the patient's postcode sector.
    Sector,
    /// Stored for the patient's postcode district.
    District,
    /// The request's (nothing stored).
    WebService,
    /// Nothing stored or asked: 60 km.
    National,
}

impl DistanceSource {
    pub fn name(self) -> &'static str {
        match self {
            DistanceSource::Override => "override",
            DistanceSource::Postcode => "postcode",
            DistanceSource::Sector => "sector",
            DistanceSource::District => "district",
            DistanceSource::WebService => "web_service",
            DistanceSource::National => "national",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchResult {
    pub distance_km: u32,
    pub distance_source: DistanceSource,
    /// The ranking strategy used (none: the directory's plain ranks).
    pub strategy: Option<String>,
    pub results: Vec<Found>,
    pub gaps: Vec<Gap>,
    /// Discriminators dropped: repeated, or not valid for the group.
    pub dropped_discriminators: Vec<u32>,
}

impl SearchResult {
    /// Nothing found, not even the catch-all.
    pub fn no_services_found(&self) -> bool {
        self.results.is_empty()
    }

    /// The answer was the catch-all.
    pub fn catch_all(&self) -> bool {
        self.results.iter().any(|f| f.catch_all)
    }
}

/// Why a request was refused, each with the DoS error name (`code`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("age: {0}")]
    InvalidAge(String),
    #[error("distance_km: 1 to 99 (got {0})")]
    InvalidSearchDistance(u32),
    #[error("discriminators: {0}")]
    InvalidSd(String),
    #[error("symptom_group: {0} is not a symptom group of the directory")]
    InvalidSg(u32),
    #[error("sex: M, F or I")]
    InvalidGender,
    #[error("strategy: no ranking strategy '{0}' in the directory")]
    UnknownStrategy(String),
}

impl SearchError {
    /// The DoS error name.
    pub fn code(&self) -> &'static str {
        match self {
            SearchError::InvalidAge(_) => "invalid_age",
            SearchError::InvalidSearchDistance(_) => "invalid_search_distance",
            SearchError::InvalidSd(_) => "invalid_sd",
            SearchError::InvalidSg(_) => "invalid_sg",
            SearchError::InvalidGender => "invalid_gender",
            SearchError::UnknownStrategy(_) => "invalid_strategy",
        }
    }
}

/// How an age is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeUnit {
    Days,
    Months,
    Years,
}

/// An age in the DoS ranges (days 0–31, months 1–23, years 2–129) in
/// days: a month is 30.4375 days, a year 365.25, rounded down.
pub fn age_in_days(n: u32, unit: AgeUnit) -> Result<u32, SearchError> {
    let (range, per) = match unit {
        AgeUnit::Days => (0..=31, 1.0),
        AgeUnit::Months => (1..=23, 30.4375),
        AgeUnit::Years => (2..=129, 365.25),
    };
    if !range.contains(&n) {
        let u = format!("{unit:?}").to_lowercase();
        return Err(SearchError::InvalidAge(format!(
            "{n} {u} is out of range ({} to {} {u})",
            range.start(),
            range.end()
        )));
    }
    Ok((n as f64 * per).floor() as u32)
}

/// `12d`, `3m`, `40y` (a bare number is years).
pub fn parse_age(s: &str) -> Result<u32, SearchError> {
    let t = s.trim().to_ascii_lowercase();
    let (num, unit) = match t.char_indices().last() {
        Some((i, 'd')) => (&t[..i], AgeUnit::Days),
        Some((i, 'm')) => (&t[..i], AgeUnit::Months),
        Some((i, 'y')) => (&t[..i], AgeUnit::Years),
        _ => (t.as_str(), AgeUnit::Years),
    };
    let n: u32 = num.trim().parse().map_err(|_| {
        SearchError::InvalidAge(format!(
            "'{s}' is not an age: a number and d, m or y (12d, 3m, 40y)"
        ))
    })?;
    age_in_days(n, unit)
}

/// Service types returned one at a time, the others two (the public
/// rules: 138 Emergency National Response, 100 GP Practice, and the
/// integrated urgent care types 130, 133, 137, 139).
pub const ONE_PER_TYPE: [u32; 6] = [138, 100, 133, 130, 137, 139];
/// Emergency departments, for the catch-all.
pub const EMERGENCY_DEPARTMENT: u32 = 40;
/// A query's symptom group when none was given: only the catch-all runs.
pub const NO_SYMPTOM_GROUP: u32 = 0;
/// Search distance when nothing else gives one.
pub const DEFAULT_DISTANCE_KM: u32 = 60;

/// Age in days from years, months and days (a month is 30.4375 days, a
/// year 365.25; rounded down).
pub fn age_days(years: u32, months: u32, days: u32) -> u32 {
    (years as f64 * 365.25 + months as f64 * 30.4375 + days as f64).floor() as u32
}

/// The end of the disposition's time window after `now`.
pub fn window_end(now: Timestamp, timeframe_minutes: Option<u32>) -> Timestamp {
    let m = |x: i64| Timestamp(now.0 + x * 60_000);
    match timeframe_minutes {
        None | Some(0) => m(60),
        Some(t) if t <= 30 => m(30),
        Some(t) if t <= 60 => m(t as i64),
        Some(t) => m(t as i64 - 60),
    }
}

/// The instant (UTC ms) of minute `m` after local midnight of `day`
/// (`m` may reach 1440: the next midnight).
fn local_ms(tz: &jiff::tz::TimeZone, day: Date, m: u32) -> i64 {
    let (d, mm) = if m >= 1440 {
        (day.tomorrow().unwrap_or(day), m - 1440)
    } else {
        (day, m)
    };
    d.to_datetime(Time::constant((mm / 60) as i8, (mm % 60) as i8, 0, 0))
        .to_zoned(tz.clone())
        .map_or(0, |z| z.timestamp().as_millisecond())
}

fn london() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/London").expect("Europe/London in the bundled tz database")
}

/// Whether the service is open at some point in `[now, end]` and does not
/// close within 30 minutes of when it is open (elapsed time; sessions are
/// London local times, so clock-change days are right).
pub fn open_in_window(
    o: &Opening,
    holidays: &BTreeSet<Date>,
    now: Timestamp,
    end: Timestamp,
) -> bool {
    let tz = london();
    let Ok(ts) = jiff::Timestamp::from_millisecond(now.0) else {
        return false;
    };
    let today = ts.to_zoned(tz.clone()).date();
    // Absolute open intervals for yesterday..the window's last day + 1,
    // joined where one day's session runs into the next.
    let last = jiff::Timestamp::from_millisecond(end.0)
        .map(|t| t.to_zoned(tz.clone()).date())
        .unwrap_or(today);
    let mut intervals: Vec<(i64, i64)> = Vec::new();
    let mut day = today.yesterday().unwrap_or(today);
    while day <= last.tomorrow().unwrap_or(last) {
        for (a, b) in o.sessions(day, holidays) {
            if b > a {
                intervals.push((local_ms(&tz, day, a), local_ms(&tz, day, b)));
            }
        }
        match day.tomorrow() {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    intervals.sort();
    let mut joined: Vec<(i64, i64)> = Vec::new();
    for (a, b) in intervals {
        match joined.last_mut() {
            Some(l) if a <= l.1 => l.1 = l.1.max(b),
            _ => joined.push((a, b)),
        }
    }
    joined.iter().any(|&(a, b)| {
        let from = a.max(now.0);
        from <= end.0 && b > from && b - from >= 30 * 60_000
    })
}

fn distance_km(a: Point, b: Point) -> f64 {
    ((a.easting - b.easting).powi(2) + (a.northing - b.northing).powi(2)).sqrt() / 1000.0
}

/// Service types that publish bookable slots (GP practices).
pub const BOOKABLE: [u32; 1] = [100];
/// Length of a bookable slot.
pub const SLOT_MS: i64 = 15 * 60 * 1000;

/// The slot starts (UTC ms) a bookable service offers in `[from, to)`:
/// every 15 minutes inside its opening sessions (London time), slots that
/// fit whole. Empty for a service that does not publish slots.
pub fn slots(s: &Service, holidays: &BTreeSet<Date>, from: Timestamp, to: Timestamp) -> Vec<i64> {
    if !BOOKABLE.contains(&s.type_id) || to <= from {
        return Vec::new();
    }
    let tz = london();
    let day_of = |t: i64| {
        jiff::Timestamp::from_millisecond(t)
            .map(|x| x.to_zoned(tz.clone()).date())
            .ok()
    };
    let (Some(mut day), Some(last)) = (day_of(from.0), day_of(to.0)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while day <= last {
        for (a, b) in s.opening.sessions(day, holidays) {
            let (start, end) = (local_ms(&tz, day, a), local_ms(&tz, day, b));
            let mut t = start;
            while t + SLOT_MS <= end {
                if t >= from.0 && t < to.0 {
                    out.push(t);
                }
                t += SLOT_MS;
            }
        }
        match day.tomorrow() {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    out
}
