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

/// What the search did with one service near the patient.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Verdict {
    /// Returned, at this place (1 first).
    Returned { position: usize },
    /// Returned by the catch-all (nothing else matched).
    CatchAll { position: usize },
    /// Passed every filter but its service type already had its one or
    /// two results.
    TypeFull { kept: usize },
    /// Failed exactly one second-stage filter.
    Gap { filter: Filter },
    /// Failed more than one second-stage filter.
    Filtered { filters: Vec<Filter> },
    /// Dropped by a first-stage rule.
    Excluded { rule: Rule },
}

/// One service near the patient and what the search did with it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explained {
    pub id: u64,
    pub key: String,
    pub name: String,
    pub type_id: u32,
    pub distance_km: f64,
    pub rank: u8,
    pub verdict: Verdict,
}

/// The search, by the public rules.
pub fn search(dir: &Directory, q: &Query) -> Result<SearchResult, SearchError> {
    run(dir, q, None)
}

/// The search, and for every service within twice the search distance
/// (the nearest `limit`) what happened to it and by which rule.
pub fn search_explained(
    dir: &Directory,
    q: &Query,
    limit: usize,
) -> Result<(SearchResult, Vec<Explained>), SearchError> {
    let mut out = Vec::new();
    let r = run(dir, q, Some(&mut out))?;
    out.sort_by(|a, b| {
        a.distance_km
            .total_cmp(&b.distance_km)
            .then(a.id.cmp(&b.id))
    });
    out.truncate(limit);
    Ok((r, out))
}

/// The search distance and where it came from: forced, else stored for
/// the postcode, its sector, its district, else the request's, else 60.
fn search_distance(dir: &Directory, q: &Query) -> Result<(u32, DistanceSource), SearchError> {
    if let Some(f) = q.forced_distance_km {
        if !(1..=99).contains(&f) {
            return Err(SearchError::InvalidSearchDistance(f));
        }
        return Ok((f, DistanceSource::Override));
    }
    if let Some(pc) = &q.postcode {
        let compact: String = pc
            .to_ascii_uppercase()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if compact.len() >= 5 && compact.is_ascii() {
            let (out, inward) = compact.split_at(compact.len() - 3);
            let full = format!("{out} {inward}");
            if let Some(&d) = dir.district_distance.get(&full) {
                return Ok((d, DistanceSource::Postcode));
            }
            let sector = format!("{out} {}", &inward[..1]);
            if let Some(&d) = dir.district_distance.get(&sector) {
                return Ok((d, DistanceSource::Sector));
            }
        }
    }
    if let Some(&d) = q
        .district
        .as_ref()
        .and_then(|d| dir.district_distance.get(d))
    {
        return Ok((d, DistanceSource::District));
    }
    if let Some(d) = q.distance_km {
        if !(1..=99).contains(&d) {
            return Err(SearchError::InvalidSearchDistance(d));
        }
        return Ok((d, DistanceSource::WebService));
    }
    Ok((DEFAULT_DISTANCE_KM, DistanceSource::National))
}

/// The ranks the search uses: the named strategy, else the directory's
/// default one, else its plain ranks.
fn ranking<'a>(
    dir: &'a Directory,
    q: &Query,
) -> Result<(Option<String>, &'a HashMap<u32, u8>), SearchError> {
    let name = q.strategy.clone().or_else(|| dir.default_strategy.clone());
    match name {
        Some(n) => match dir.strategies.get(&n) {
            Some(r) => Ok((Some(n), r)),
            None => Err(SearchError::UnknownStrategy(n)),
        },
        None => Ok((None, &dir.ranks)),
    }
}

/// The requested discriminators that count: repeats dropped, and (when
/// the directory lists its valid pairs) those not valid for the group.
fn discriminators(dir: &Directory, q: &Query) -> Result<(BTreeSet<u32>, Vec<u32>), SearchError> {
    if q.discriminators.len() > 20 {
        return Err(SearchError::InvalidSd(format!(
            "at most 20 (got {})",
            q.discriminators.len()
        )));
    }
    if !dir.valid_sg_sd.is_empty()
        && !dir
            .valid_sg_sd
            .range((q.symptom_group, 0)..=(q.symptom_group, u32::MAX))
            .any(|_| true)
    {
        return Err(SearchError::InvalidSg(q.symptom_group));
    }
    let mut kept = BTreeSet::new();
    let mut dropped = Vec::new();
    for &sd in &q.discriminators {
        let valid = dir.valid_sg_sd.is_empty() || dir.valid_sg_sd.contains(&(q.symptom_group, sd));
        if !valid || !kept.insert(sd) {
            dropped.push(sd);
        }
    }
    if !q.discriminators.is_empty() && kept.is_empty() {
        return Err(SearchError::InvalidSd(format!(
            "none of {:?} is valid for symptom group {}",
            q.discriminators, q.symptom_group
        )));
    }
    Ok((kept, dropped))
}

fn run(
    dir: &Directory,
    q: &Query,
    explain: Option<&mut Vec<Explained>>,
) -> Result<SearchResult, SearchError> {
    let (distance, distance_source) = search_distance(dir, q)?;
    let (strategy, ranks) = ranking(dir, q)?;
    // ODS codes compare in upper case.
    let gp = q
        .gp_practice
        .as_ref()
        .map(|g| g.trim().to_ascii_uppercase());
    // No symptom group (0): straight to the catch-all, as the DoS does.
    let no_group = q.symptom_group == NO_SYMPTOM_GROUP;
    let (sds, dropped_discriminators) = if no_group {
        (BTreeSet::new(), Vec::new())
    } else {
        discriminators(dir, q)?
    };
    let half = distance as f64 * 1000.0;
    let inside = |p: Point, half: f64| {
        (p.easting - q.location.easting).abs() <= half
            && (p.northing - q.location.northing).abs() <= half
    };
    let rank_of = |s: &Service| ranks.get(&s.type_id).copied().unwrap_or(10);
    let end = window_end(q.at, q.timeframe_minutes);
    let mut found: Vec<(u8, u8, f64, &Service)> = Vec::new();
    let mut gaps = Vec::new();
    let mut verdicts: HashMap<u64, Verdict> = HashMap::new();
    let mut near: Vec<&Service> = Vec::new();
    for s in dir.services.iter().filter(|_| !no_group) {
        let explaining = explain.is_some() && inside(s.location, 2.0 * half);
        if explaining {
            near.push(s);
        }
        let mut exclude = |r: Rule| {
            if explaining {
                verdicts.insert(s.id, Verdict::Excluded { rule: r });
            }
        };
        // First stage.
        let patient_listed = gp
            .as_ref()
            .is_some_and(|p| s.restricted_to_practices.contains(p));
        if !s.active {
            exclude(Rule::Status);
            continue;
        }
        if !inside(s.location, half) {
            exclude(Rule::Distance);
            continue;
        }
        if !s.sg_sd.iter().any(|&(sg, _)| sg == q.symptom_group) {
            exclude(Rule::SymptomGroup);
            continue;
        }
        if !s.sexes.contains(&q.sex) {
            exclude(Rule::Gender);
            continue;
        }
        if s.restricted() && !patient_listed {
            exclude(Rule::GpRestricted);
            continue;
        }
        // Second stage: record which filters fail.
        let mut failed = Vec::new();
        if Capacity::at(&s.capacity, q.at) == Rag::Red {
            failed.push(Filter::Capacity);
        }
        if !sds
            .iter()
            .all(|sd| s.sg_sd.contains(&(q.symptom_group, *sd)))
        {
            failed.push(Filter::SymptomDiscriminator);
        }
        if !q.disposition.is_empty() && !s.dispositions.contains(&q.disposition) {
            failed.push(Filter::Disposition);
        }
        if !(s.age_days.0..=s.age_days.1).contains(&q.age_days) {
            failed.push(Filter::Age);
        }
        if (failed.len() <= 1 || explaining)
            && !open_in_window(&s.opening, &dir.bank_holidays, q.at, end)
        {
            failed.push(Filter::SessionTimes);
        }
        match failed.as_slice() {
            [] => {
                // Within a rank: the patient's own GP, then services
                // commissioned for the patient's practice (restricted,
                // then unrestricted), then the others.
                let class = if s.ods_code.is_some() && s.ods_code == gp {
                    0
                } else if patient_listed && s.restricted() {
                    1
                } else if patient_listed {
                    2
                } else {
                    3
                };
                found.push((rank_of(s), class, distance_km(s.location, q.location), s));
            }
            [one] => {
                if explaining {
                    verdicts.insert(s.id, Verdict::Gap { filter: *one });
                }
                gaps.push(Gap {
                    id: s.id,
                    name: s.name.clone(),
                    type_id: s.type_id,
                    failed: *one,
                });
            }
            _ => {
                if explaining {
                    verdicts.insert(s.id, Verdict::Filtered { filters: failed });
                }
            }
        }
    }
    // Rank, then distance within the rank (the grouping within a rank
    // keeps the distance order).
    found.sort_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then(a.2.total_cmp(&b.2))
            .then(a.3.id.cmp(&b.3.id))
    });
    let mut per_type: HashMap<u32, usize> = HashMap::new();
    let mut results = Vec::new();
    for (rank, _, d, s) in found {
        let keep = if ONE_PER_TYPE.contains(&s.type_id) {
            1
        } else {
            2
        };
        let n = per_type.entry(s.type_id).or_default();
        if *n < keep {
            *n += 1;
            results.push(Found {
                id: s.id,
                name: s.name.clone(),
                type_id: s.type_id,
                distance_km: (d * 10.0).round() / 10.0,
                rank,
                capacity: Capacity::at(&s.capacity, q.at),
                catch_all: false,
            });
            verdicts.insert(
                s.id,
                Verdict::Returned {
                    position: results.len(),
                },
            );
        } else {
            verdicts.insert(s.id, Verdict::TypeFull { kept: keep });
        }
    }
    if results.is_empty() {
        // Catch-all: the nearest two emergency departments in the 60 km
        // square, whatever their capacity.
        let far = DEFAULT_DISTANCE_KM as f64 * 1000.0;
        let mut eds: Vec<(f64, &Service)> = dir
            .services
            .iter()
            .filter(|s| s.active && s.type_id == EMERGENCY_DEPARTMENT && inside(s.location, far))
            .map(|s| (distance_km(s.location, q.location), s))
            .collect();
        eds.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
        for (d, s) in eds.into_iter().take(2) {
            results.push(Found {
                id: s.id,
                name: s.name.clone(),
                type_id: s.type_id,
                distance_km: (d * 10.0).round() / 10.0,
                rank: rank_of(s),
                capacity: Capacity::at(&s.capacity, q.at),
                catch_all: true,
            });
            verdicts.insert(
                s.id,
                Verdict::CatchAll {
                    position: results.len(),
                },
            );
            if explain.is_some() && !near.iter().any(|n| n.id == s.id) {
                near.push(s);
            }
        }
    }
    gaps.sort_by_key(|g| (g.failed, g.id));
    if let Some(out) = explain {
        for s in near {
            if let Some(v) = verdicts.remove(&s.id) {
                out.push(Explained {
                    id: s.id,
                    key: s.key(),
                    name: s.name.clone(),
                    type_id: s.type_id,
                    distance_km: (distance_km(s.location, q.location) * 10.0).round() / 10.0,
                    rank: rank_of(s),
                    verdict: v,
                });
            }
        }
    }
    Ok(SearchResult {
        distance_km: distance,
        distance_source,
        strategy,
        results,
        gaps,
        dropped_discriminators,
    })
}

/// A gap as answered: the service's directory id and the filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapRef {
    pub id: String,
    pub filter: String,
}

/// A search's answer in the directory's own ids, the same from the CLI
/// (`switchboard dos search --json`) and the API (`dos` in its answer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Service ids in order.
    pub ranked: Vec<String>,
    /// The answer is the catch-all (nothing matched).
    pub catch_all: bool,
    pub gaps: Vec<GapRef>,
    pub search_distance_km: Option<u32>,
    pub search_distance_source: Option<String>,
    /// The ranking strategy used.
    pub strategy: Option<String>,
    /// Discriminators dropped (repeated, or not valid for the group).
    pub dropped_discriminators: Vec<u32>,
    /// None, or `invalid_age`, `invalid_search_distance`, `invalid_sd`,
    /// `invalid_sg`, `invalid_gender`, `invalid_strategy`,
    /// `no_services_found`.
    pub error: Option<String>,
    /// The error in words, naming the field.
    pub message: Option<String>,
}

impl Answer {
    pub fn of(dir: &Directory, r: &Result<SearchResult, SearchError>) -> Answer {
        let key = |id: u64| {
            dir.services
                .iter()
                .find(|s| s.id == id)
                .map(Service::key)
                .unwrap_or_else(|| id.to_string())
        };
        match r {
            Ok(r) => Answer {
                ranked: r.results.iter().map(|f| key(f.id)).collect(),
                catch_all: r.catch_all(),
                gaps: r
                    .gaps
                    .iter()
                    .map(|g| GapRef {
                        id: key(g.id),
                        filter: g.failed.name().into(),
                    })
                    .collect(),
                search_distance_km: Some(r.distance_km),
                search_distance_source: Some(r.distance_source.name().into()),
                strategy: r.strategy.clone(),
                dropped_discriminators: r.dropped_discriminators.clone(),
                error: r.no_services_found().then(|| "no_services_found".into()),
                message: r.no_services_found().then(|| {
                    "no service matched and no emergency department is within 60 km".into()
                }),
            },
            Err(e) => Answer::refused(e),
        }
    }

    /// The answer to a refused request.
    pub fn refused(e: &SearchError) -> Answer {
        Answer {
            ranked: Vec::new(),
            catch_all: false,
            gaps: Vec::new(),
            search_distance_km: None,
            search_distance_source: None,
            strategy: None,
            dropped_discriminators: Vec::new(),
            error: Some(e.code().into()),
            message: Some(e.to_string()),
        }
    }
}

/// A row an import skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub line: usize,
    pub problem: String,
}

/// Postcode district centroids: `postcode,easting,northing,...` with a
/// header row.
pub fn parse_centroids(text: &str) -> HashMap<String, Point> {
    let mut out = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 3 {
            continue;
        }
        if let (Ok(e), Ok(n)) = (f[1].trim().parse::<f64>(), f[2].trim().parse::<f64>()) {
            out.insert(
                f[0].trim().to_ascii_uppercase(),
                Point {
                    easting: e,
                    northing: n,
                },
            );
        }
    }
    out
}

/// The outward code of a UK postcode (`ME10 4AB` → `ME10`), if it looks
/// like one.
pub fn outward(postcode: &str) -> Option<String> {
    let p = postcode.trim().to_ascii_uppercase();
    let compact: String = p.chars().filter(|c| !c.is_whitespace()).collect();
    if !(5..=7).contains(&compact.len()) || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let out = &compact[..compact.len() - 3];
    let inward = &compact[compact.len() - 3..];
    let ok = out.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && inward.chars().next().is_some_and(|c| c.is_ascii_digit());
    ok.then(|| out.to_string())
}

/// Fields of a CSV line with double-quoted fields.
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// What every imported organisation of a kind takes (an ODS file says
/// where a practice is, not what it does).
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub type_id: u32,
    pub sg_sd: BTreeSet<(u32, u32)>,
    pub dispositions: BTreeSet<String>,
    pub age_days: (u32, u32),
    pub sexes: Vec<Sex>,
    pub opening: Opening,
    /// Only rows with this prescribing setting (epraccur column 26; `4` is
    /// a GP practice); none: every row.
    pub prescribing_setting: Option<String>,
}

impl Profile {
    /// A service of this profile at a place: what it takes and when it
    /// opens come from the profile; the rest is blank.
    pub fn service(
        &self,
        id: u64,
        name: String,
        ods_code: Option<String>,
        postcode: String,
        location: Point,
    ) -> Service {
        Service {
            id,
            name,
            type_id: self.type_id,
            ods_code,
            postcode,
            location,
            active: true,
            sg_sd: self.sg_sd.clone(),
            dispositions: self.dispositions.clone(),
            age_days: self.age_days,
            sexes: self.sexes.clone(),
            restricted_to_practices: Vec::new(),
            opening: self.opening.clone(),
            capacity: None,
            phone: None,
            public_text: String::new(),
            professional_text: String::new(),
            referral_url: None,
            ref_id: String::new(),
            status: None,
            referral_restricted: None,
        }
    }
}

/// Imports an ODS extract in the standard layout (`epraccur`, `etr`: code,
/// name, two grouping codes, five address lines, postcode, ...; no header):
/// active rows placed by their postcode district's centroid. Rows with a
/// bad or unknown postcode are skipped and reported.
pub fn import_ods(
    text: &str,
    centroids: &HashMap<String, Point>,
    profile: &Profile,
    first_id: u64,
) -> (Vec<Service>, Vec<Skipped>) {
    let mut services = Vec::new();
    let mut skipped = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f = csv_fields(line);
        let bad = |p: String| Skipped {
            line: i + 1,
            problem: p,
        };
        if f.len() < 10 {
            skipped.push(bad(format!("{} fields, expected the ODS layout", f.len())));
            continue;
        }
        // epraccur: status in column 13 (A active); etr has no status column
        // there, and a close date in column 12 when closed.
        let closed = f.get(11).is_some_and(|c| !c.trim().is_empty())
            || f.get(12).is_some_and(|s| matches!(s.trim(), "C" | "D"));
        if closed {
            continue;
        }
        if let Some(want) = &profile.prescribing_setting {
            if f.get(25).map(|x| x.trim()) != Some(want.as_str()) {
                continue;
            }
        }
        let postcode = f[9].trim();
        let Some(district) = outward(postcode) else {
            skipped.push(bad(format!(
                "{}: postcode '{postcode}' is not a postcode",
                f[0].trim()
            )));
            continue;
        };
        let Some(&location) = centroids.get(&district) else {
            skipped.push(bad(format!(
                "{}: postcode district {district} is not known",
                f[0].trim()
            )));
            continue;
        };
        let phone = f
            .get(17)
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        services.push(Service {
            phone,
            ..profile.service(
                first_id + services.len() as u64,
                f[1].trim().to_string(),
                Some(f[0].trim().to_string()),
                postcode.to_string(),
                location,
            )
        });
    }
    (services, skipped)
}

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
