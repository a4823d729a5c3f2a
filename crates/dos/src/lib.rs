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
    /// Commissioned for this area.
    #[serde(default)]
    pub commissioned: bool,
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
}

fn yes() -> bool {
    true
}

/// The directory: services, the commissioner's ranking of service types,
/// bank holidays, and search distances stored per postcode district.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Directory {
    pub services: Vec<Service>,
    /// Service type → rank 1 (first) to 10; unranked types rank 10.
    pub ranks: HashMap<u32, u8>,
    pub bank_holidays: BTreeSet<Date>,
    /// Postcode district (outward code) → search distance, km.
    pub district_distance: HashMap<String, u32>,
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
}

/// A second-stage filter (the one a gap failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    CapacityRed,
    Discriminators,
    Disposition,
    Age,
    Closed,
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

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchResult {
    pub distance_km: u32,
    pub results: Vec<Found>,
    pub gaps: Vec<Gap>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("distance_km: 1 to 99")]
    Distance,
    #[error("discriminators: at most 20")]
    TooManyDiscriminators,
}

/// Service types returned one at a time (a GP practice, integrated urgent
/// care), the others two.
pub const ONE_PER_TYPE: [u32; 2] = [100, 25];
/// Emergency departments, for the catch-all.
pub const EMERGENCY_DEPARTMENT: u32 = 40;
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

/// The search, by the public rules.
pub fn search(dir: &Directory, q: &Query) -> Result<SearchResult, SearchError> {
    let distance = match (
        q.forced_distance_km,
        q.district
            .as_ref()
            .and_then(|d| dir.district_distance.get(d)),
        q.distance_km,
    ) {
        (Some(f), _, _) => f,
        (None, Some(&d), _) => d,
        (None, None, Some(d)) => d,
        (None, None, None) => DEFAULT_DISTANCE_KM,
    };
    if !(1..=99).contains(&distance) && q.forced_distance_km.is_none() {
        return Err(SearchError::Distance);
    }
    if q.discriminators.len() > 20 {
        return Err(SearchError::TooManyDiscriminators);
    }
    let half = distance as f64 * 1000.0;
    let inside = |p: Point, half: f64| {
        (p.easting - q.location.easting).abs() <= half
            && (p.northing - q.location.northing).abs() <= half
    };
    let sds: BTreeSet<u32> = q.discriminators.iter().copied().collect();
    let end = window_end(q.at, q.timeframe_minutes);
    let mut found: Vec<(u8, u8, u8, f64, &Service)> = Vec::new();
    let mut gaps = Vec::new();
    for s in &dir.services {
        // First stage.
        if !s.active
            || !inside(s.location, half)
            || !s.sg_sd.iter().any(|&(sg, _)| sg == q.symptom_group)
            || !s.sexes.contains(&q.sex)
            || (!s.restricted_to_practices.is_empty()
                && !q
                    .gp_practice
                    .as_ref()
                    .is_some_and(|p| s.restricted_to_practices.contains(p)))
        {
            continue;
        }
        // Second stage: record which filters fail.
        let mut failed = Vec::new();
        if Capacity::at(&s.capacity, q.at) == Rag::Red {
            failed.push(Filter::CapacityRed);
        }
        if !sds
            .iter()
            .all(|sd| s.sg_sd.contains(&(q.symptom_group, *sd)))
        {
            failed.push(Filter::Discriminators);
        }
        if !s.dispositions.contains(&q.disposition) {
            failed.push(Filter::Disposition);
        }
        if !(s.age_days.0..=s.age_days.1).contains(&q.age_days) {
            failed.push(Filter::Age);
        }
        if failed.len() <= 1 && !open_in_window(&s.opening, &dir.bank_holidays, q.at, end) {
            failed.push(Filter::Closed);
        }
        match failed.as_slice() {
            [] => {
                let rank = dir.ranks.get(&s.type_id).copied().unwrap_or(10);
                let own = u8::from(!(s.ods_code.is_some() && s.ods_code == q.gp_practice));
                let class = match (s.commissioned, s.restricted_to_practices.is_empty()) {
                    (true, false) => 0,
                    (true, true) => 1,
                    _ => 2,
                };
                found.push((rank, own, class, distance_km(s.location, q.location), s));
            }
            [one] => gaps.push(Gap {
                id: s.id,
                name: s.name.clone(),
                type_id: s.type_id,
                failed: *one,
            }),
            _ => {}
        }
    }
    found.sort_by(|a, b| {
        (a.0, a.1, a.2)
            .cmp(&(b.0, b.1, b.2))
            .then(a.3.total_cmp(&b.3))
            .then(a.4.id.cmp(&b.4.id))
    });
    let mut per_type: HashMap<u32, usize> = HashMap::new();
    let mut results = Vec::new();
    for (rank, _, _, d, s) in found {
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
                rank: dir.ranks.get(&s.type_id).copied().unwrap_or(10),
                capacity: Capacity::at(&s.capacity, q.at),
                catch_all: true,
            });
        }
    }
    gaps.sort_by_key(|g| (g.failed, g.id));
    Ok(SearchResult {
        distance_km: distance,
        results,
        gaps,
    })
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
    pub commissioned: bool,
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
            commissioned: self.commissioned,
            opening: self.opening.clone(),
            capacity: None,
            phone: None,
            public_text: String::new(),
            professional_text: String::new(),
            referral_url: None,
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
