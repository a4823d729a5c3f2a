//! ODS extracts (`epraccur`, `etr`) as services: rows placed by their
//! postcode district's centroid, what each kind of service takes from a
//! [`Profile`], and the rows skipped said.

use crate::{Opening, Point, Service, Sex};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

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
