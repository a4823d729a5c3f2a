//! A Directory of Services from ODS extracts: real GP practices and NHS
//! trusts placed by postcode-district centroid, with what each kind of
//! service takes drawn from the pathway set (a practice: the primary-care
//! and pharmacy dispositions and their discriminators; an acute trust's
//! emergency department: the emergency-department ones). Used by
//! `switchboard dos import` and by `serve --demo` on first run.

use dos::{Opening, Profile, Sex};
use model::OrgId;
use pathway::{CareSetting, Checked, Next, NodeKind};
use std::collections::{BTreeSet, HashMap};

/// (SG, SD) pairs and disposition codes of the answers that end in a
/// disposition of one of these care settings.
pub fn coverage(c: &Checked, settings: &[CareSetting]) -> (BTreeSet<(u32, u32)>, BTreeSet<String>) {
    let mut pairs = BTreeSet::new();
    let mut codes = BTreeSet::new();
    for p in &c.set.pathways {
        for n in &p.nodes {
            if let NodeKind::Question { answers, .. } = &n.kind {
                for a in answers {
                    if let Next::Disposition(code) = &a.next {
                        let d = c.disposition(code).expect("checked");
                        if settings.contains(&d.care_setting) {
                            codes.insert(code.clone());
                            pairs.insert((p.symptom_group, a.discriminator.unwrap_or(0)));
                        }
                    }
                }
            }
        }
    }
    (pairs, codes)
}

/// What an import read.
pub struct Imported {
    pub services: Vec<dos::Service>,
    pub skipped: Vec<dos::Skipped>,
    pub practices: usize,
    pub eds: usize,
    pub centroids: HashMap<String, dos::Point>,
}

/// Which trusts have an emergency department.
pub enum EdSource<'a> {
    /// A list of ODS codes (the first column of a CSV, e.g. the trusts
    /// with type 1 attendances in NHS England's monthly A&E return); a
    /// header row or blank lines are passed over.
    Listed(&'a str),
    /// No list: trusts named "HOSPITAL" or whose first address line is a
    /// hospital are taken as having one (a guess; the ODS extract does
    /// not say).
    Guessed,
}

/// The ODS codes of a list (first CSV column, quotes and a header row
/// passed over).
pub fn listed_codes(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.split(',').next())
        .map(|c| c.trim().trim_matches('"').to_ascii_uppercase())
        .filter(|c| {
            (3..=5).contains(&c.len())
                && c.chars().all(|x| x.is_ascii_alphanumeric())
                && c.chars().any(|x| x.is_ascii_digit())
        })
        .collect()
}

/// Builds the directory from the extracts' text.
pub fn build(
    set: &Checked,
    practices: &str,
    trusts: Option<(&str, EdSource<'_>)>,
    centroids: &str,
) -> Result<Imported, String> {
    let centroids = dos::parse_centroids(centroids);
    if centroids.is_empty() {
        return Err("centroids: none read".into());
    }
    let mut weekdays = Opening::default();
    for d in weekdays.weekly.iter_mut().take(5) {
        d.push((8 * 60, 18 * 60 + 30));
    }
    let everyone = (0, dos::age_days(120, 0, 0));
    let (sg_sd, dispositions) = coverage(set, &[CareSetting::PrimaryCare, CareSetting::Pharmacy]);
    let all = vec![Sex::Male, Sex::Female, Sex::Indeterminate];
    let gp = Profile {
        type_id: 100,
        sg_sd,
        dispositions,
        age_days: everyone,
        sexes: all.clone(),
        opening: weekdays,
        prescribing_setting: Some("4".into()),
    };
    let (mut services, mut skipped) = dos::import_ods(practices, &centroids, &gp, 1);
    let practice_count = services.len();
    let mut eds = 0;
    if let Some((text, source)) = trusts {
        let (sg_sd, dispositions) = coverage(set, &[CareSetting::EmergencyDepartment]);
        let ed = Profile {
            type_id: dos::EMERGENCY_DEPARTMENT,
            sg_sd,
            dispositions,
            age_days: everyone,
            sexes: all,
            opening: Opening {
                open_all_hours: true,
                ..Default::default()
            },
            prescribing_setting: None,
        };
        let listed = match source {
            EdSource::Listed(list) => {
                let codes = listed_codes(list);
                if codes.is_empty() {
                    return Err("emergency departments: no ODS code in the list".into());
                }
                Some(codes)
            }
            EdSource::Guessed => None,
        };
        let hospitals: String = text
            .lines()
            .filter(|l| {
                let f: Vec<&str> = l.split(',').collect();
                let code = f.first().map(|c| c.trim().trim_matches('"')).unwrap_or("");
                match &listed {
                    Some(codes) => codes.contains(code),
                    None => {
                        f.get(1).is_some_and(|n| n.contains("HOSPITAL"))
                            || f.get(4).is_some_and(|a| a.contains("HOSPITAL"))
                    }
                }
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let (found, skip) = dos::import_ods(&hospitals, &centroids, &ed, 1_000_000);
        eds = found.len();
        services.extend(found);
        skipped.extend(skip);
    }
    Ok(Imported {
        services,
        skipped,
        practices: practice_count,
        eds,
        centroids,
    })
}

/// The directory-wide settings as stored (the directory without its
/// services).
pub fn settings_json(d: &dos::Directory) -> Result<String, String> {
    let settings = dos::Directory {
        services: Vec::new(),
        ..d.clone()
    };
    serde_json::to_string(&settings).map_err(|e| e.to_string())
}

/// Replaces the organisation's directory with what was imported (audited).
pub fn save(
    dir: &mut store::directory::Directory,
    org: OrgId,
    imported: &Imported,
    actor: &str,
) -> Result<(), String> {
    let directory = dos::Directory {
        services: imported.services.clone(),
        bank_holidays: default_bank_holidays(),
        ..Default::default()
    };
    save_directory(dir, org, &directory, &imported.centroids, actor)
}

/// England and Wales bank holidays from last year to five years ahead, for
/// a directory that brings none.
pub fn default_bank_holidays() -> BTreeSet<jiff::civil::Date> {
    let y = jiff::Timestamp::from_millisecond(crate::wall_clock().0)
        .map(|t| t.to_zoned(crate::time::london()).year())
        .unwrap_or(2026);
    (y - 1..=y + 5)
        .flat_map(flow::holidays::england_and_wales)
        .collect()
}

/// Replaces the organisation's whole directory (services and settings)
/// and adds centroids, audited, in one transaction.
pub fn save_directory(
    dir: &mut store::directory::Directory,
    org: OrgId,
    directory: &dos::Directory,
    centroids: &HashMap<String, dos::Point>,
    actor: &str,
) -> Result<(), String> {
    let rows: Vec<(u64, String)> = directory
        .services
        .iter()
        .map(|s| serde_json::to_string(s).map(|j| (s.id, j)))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let settings = settings_json(directory)?;
    let cents: Vec<(String, f64, f64)> = centroids
        .iter()
        .map(|(d, p)| (d.clone(), p.easting, p.northing))
        .collect();
    let audit = store::AuditRecord {
        at: crate::wall_clock(),
        org: Some(org),
        actor: actor.into(),
        action: "import directory of services".into(),
        subject: format!("{} services", rows.len()),
        patient: None,
        purpose: None,
        origin: None,
        outcome: "ok".into(),
    };
    dir.replace_dos(org, &rows, Some(&settings), &cents, &audit)
        .map_err(|e| e.to_string())
}

/// Reads a directory file (`docs/dos-directory.md`): the JSON, then every
/// rule checked, each problem naming its field.
pub fn parse_file(
    text: &str,
    known: Option<&BTreeSet<String>>,
) -> Result<dos::Directory, dos::file::FileError> {
    let f: dos::file::DirectoryFile = serde_json::from_str(text).map_err(dos::file::unreadable)?;
    dos::file::to_directory(&f, known)
}
