//! `switchboard dos import`: real GP practices and NHS trusts from ODS
//! extracts into an organisation's Directory of Services, placed by
//! postcode-district centroid, with what each kind of service takes drawn
//! from the pathway set (a practice: the primary-care dispositions and
//! their symptom discriminators; an acute trust's emergency department:
//! the emergency-department ones).

use anyhow::{bail, Context, Result};
use dos::{Opening, Profile, Sex};
use pathway::{CareSetting, Checked, Next, NodeKind};
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct DosImportArgs {
    /// The server's data directory.
    #[arg(long, default_value = "switchboard-data")]
    data: PathBuf,
    /// The organisation whose directory this becomes (replaced whole).
    #[arg(long)]
    org: u32,
    /// ODS `epraccur` extract (GP practices).
    #[arg(long)]
    practices: PathBuf,
    /// ODS `etr` extract (NHS trusts); trusts named "HOSPITAL" are taken
    /// as having an emergency department.
    #[arg(long)]
    trusts: Option<PathBuf>,
    /// Postcode-district centroids (`postcode,easting,northing,...`).
    #[arg(long)]
    centroids: PathBuf,
    /// The pathway set whose codes the services take.
    #[arg(long, default_value = "pathways/demo.json")]
    pathways: PathBuf,
}

/// (SG, SD) pairs and disposition codes of the answers that end in a
/// disposition of one of these care settings.
fn coverage(c: &Checked, settings: &[CareSetting]) -> (BTreeSet<(u32, u32)>, BTreeSet<String>) {
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

pub fn run(a: DosImportArgs) -> Result<String> {
    let limit = 64 * 1024 * 1024;
    let set = crate::pathways::load(&a.pathways)?;
    let centroid_text = crate::csv::read_limited(&a.centroids, limit)?;
    let centroids = dos::parse_centroids(&centroid_text);
    if centroids.is_empty() {
        bail!("{}: no centroids read", a.centroids.display());
    }
    let mut weekdays = Opening::default();
    for d in weekdays.weekly.iter_mut().take(5) {
        d.push((8 * 60, 18 * 60 + 30));
    }
    let everyone = (0, dos::age_days(120, 0, 0));
    let (sg_sd, dispositions) = coverage(&set, &[CareSetting::PrimaryCare, CareSetting::Pharmacy]);
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
    let (mut services, mut skipped) = dos::import_ods(
        &crate::csv::read_limited(&a.practices, limit)?,
        &centroids,
        &gp,
        1,
    );
    let practices = services.len();
    let mut eds = 0;
    if let Some(trusts) = &a.trusts {
        let (sg_sd, dispositions) = coverage(&set, &[CareSetting::EmergencyDepartment]);
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
        let text = crate::csv::read_limited(trusts, limit)?;
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
    let st = store::SqliteStore::open(&a.data)?;
    let orgs = store::Store::organisations(&st)?;
    let Some((org, org_name)) = orgs.iter().find(|(o, _)| o.0 == a.org) else {
        bail!("--org: no organisation {} in {}", a.org, a.data.display());
    };
    let mut dir = store::directory::Directory::open(&a.data)?;
    let rows: Vec<(u64, String)> = services
        .iter()
        .map(|s| Ok((s.id, serde_json::to_string(s)?)))
        .collect::<Result<_>>()?;
    let cents: Vec<(String, f64, f64)> = centroids
        .iter()
        .map(|(d, p)| (d.clone(), p.easting, p.northing))
        .collect();
    let audit = store::AuditRecord {
        at: model::Timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        ),
        org: Some(*org),
        actor: "cli".into(),
        action: "import directory of services".into(),
        subject: format!("{} services", rows.len()),
        patient: None,
        purpose: None,
        origin: None,
        outcome: "ok".into(),
    };
    dir.replace_dos(*org, &rows, &cents, &audit)
        .context("cannot save the directory")?;
    let mut out = format!(
        "{org_name}: {practices} GP practices and {eds} emergency departments imported, {} rows skipped\n",
        skipped.len()
    );
    for s in skipped.iter().take(20) {
        out.push_str(&format!("  skipped line {}: {}\n", s.line, s.problem));
    }
    if skipped.len() > 20 {
        out.push_str(&format!("  ... and {} more\n", skipped.len() - 20));
    }
    Ok(out)
}
