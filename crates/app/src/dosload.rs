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

/// Builds the directory from the extracts' text. Trusts named "HOSPITAL"
/// are taken as having an emergency department (a heuristic: the ODS
/// extract does not say).
pub fn build(
    set: &Checked,
    practices: &str,
    trusts: Option<&str>,
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
    let gp = Profile {
        type_id: 100,
        sg_sd,
        dispositions,
        age_days: everyone,
        sexes: vec![Sex::Male, Sex::Female],
        opening: weekdays,
        commissioned: true,
        prescribing_setting: Some("4".into()),
    };
    let (mut services, mut skipped) = dos::import_ods(practices, &centroids, &gp, 1);
    let practice_count = services.len();
    let mut eds = 0;
    if let Some(text) = trusts {
        let (sg_sd, dispositions) = coverage(set, &[CareSetting::EmergencyDepartment]);
        let ed = Profile {
            type_id: dos::EMERGENCY_DEPARTMENT,
            sg_sd,
            dispositions,
            age_days: everyone,
            sexes: vec![Sex::Male, Sex::Female],
            opening: Opening {
                open_all_hours: true,
                ..Default::default()
            },
            commissioned: true,
            prescribing_setting: None,
        };
        let hospitals: String = text
            .lines()
            .filter(|l| l.split(',').nth(1).is_some_and(|n| n.contains("HOSPITAL")))
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

/// Replaces the organisation's directory with what was imported (audited).
pub fn save(
    dir: &mut store::directory::Directory,
    org: OrgId,
    imported: &Imported,
    actor: &str,
) -> Result<(), String> {
    let rows: Vec<(u64, String)> = imported
        .services
        .iter()
        .map(|s| serde_json::to_string(s).map(|j| (s.id, j)))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let cents: Vec<(String, f64, f64)> = imported
        .centroids
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
    dir.replace_dos(org, &rows, &cents, &audit)
        .map_err(|e| e.to_string())
}
