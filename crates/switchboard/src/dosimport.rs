//! `switchboard dos import`: an organisation's Directory of Services,
//! replaced whole, from a directory file (`docs/dos-directory.md`) or from
//! real GP practices and NHS trusts in ODS extracts (see `app::dosload`).

use anyhow::{bail, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct DosImportArgs {
    /// The server's data directory.
    #[arg(long, default_value = "switchboard-data")]
    data: PathBuf,
    /// The organisation whose directory this becomes (replaced whole).
    #[arg(long)]
    org: u32,
    /// A directory file (JSON): services, ranking strategies, search
    /// distances, bank holidays. Instead of --practices.
    #[arg(long, conflicts_with_all = ["practices", "trusts", "emergency_departments"])]
    directory: Option<PathBuf>,
    /// ODS `epraccur` extract (GP practices).
    #[arg(long)]
    practices: Option<PathBuf>,
    /// ODS `etr` extract (NHS trusts).
    #[arg(long)]
    trusts: Option<PathBuf>,
    /// The trusts with an emergency department: a CSV whose first column
    /// is the trust's ODS code (e.g. those with type 1 attendances in NHS
    /// England's monthly A&E return). Without it, trusts whose name or
    /// first address line says HOSPITAL are guessed to have one.
    #[arg(long, requires = "trusts")]
    emergency_departments: Option<PathBuf>,
    /// Postcode-district centroids (`postcode,easting,northing,...`), to
    /// place ODS rows and patients' postcodes.
    #[arg(long)]
    centroids: Option<PathBuf>,
    /// The pathway set whose codes the services take.
    #[arg(long, default_value = "pathways/demo.json")]
    pathways: PathBuf,
}

pub fn run(a: DosImportArgs) -> Result<String> {
    let limit = 64 * 1024 * 1024;
    let set = crate::pathways::load(&a.pathways)?;
    let read = |p: &PathBuf| crate::csv::read_limited(p, limit);
    let centroids = a
        .centroids
        .as_ref()
        .map(|c| read(c).map(|t| dos::parse_centroids(&t)))
        .transpose()?
        .unwrap_or_default();
    let st = store::SqliteStore::open(&a.data)?;
    let orgs = store::Store::organisations(&st)?;
    let Some((org, org_name)) = orgs.iter().find(|(o, _)| o.0 == a.org) else {
        bail!("--org: no organisation {} in {}", a.org, a.data.display());
    };
    if let Some(file) = &a.directory {
        let text = crate::csv::read_limited(file, crate::dosfile::MAX_FILE)?;
        let directory = app::dosload::parse_file(&text, Some(&crate::dosfile::dispositions(&set)))
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let mut dir = store::directory::Directory::open(&a.data)?;
        app::dosload::save_directory(&mut dir, *org, &directory, &centroids, "cli")
            .map_err(|e| anyhow::anyhow!("cannot save the directory: {e}"))?;
        return Ok(format!(
            "{org_name}: {} services imported from {} ({} ranking strategies, {} stored search distances, {} bank holidays)\n",
            directory.services.len(),
            file.display(),
            directory.strategies.len(),
            directory.district_distance.len(),
            directory.bank_holidays.len()
        ));
    }
    let (Some(practices), false) = (&a.practices, centroids.is_empty()) else {
        bail!("give --directory FILE, or --practices with --centroids");
    };
    let trusts = a.trusts.as_ref().map(read).transpose()?;
    let eds = a.emergency_departments.as_ref().map(read).transpose()?;
    let source = match &eds {
        Some(list) => app::dosload::EdSource::Listed(list),
        None => app::dosload::EdSource::Guessed,
    };
    let cents_text = read(a.centroids.as_ref().expect("checked above"))?;
    let imported = app::dosload::build(
        &set,
        &read(practices)?,
        trusts.as_deref().map(|t| (t, source)),
        &cents_text,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut dir = store::directory::Directory::open(&a.data)?;
    app::dosload::save(&mut dir, *org, &imported, "cli")
        .map_err(|e| anyhow::anyhow!("cannot save the directory: {e}"))?;
    let mut out = format!(
        "{org_name}: {} GP practices and {} emergency departments imported ({}), {} rows skipped\n",
        imported.practices,
        imported.eds,
        if eds.is_some() {
            "emergency departments from the list"
        } else {
            "emergency departments guessed from trust names: give --emergency-departments"
        },
        imported.skipped.len()
    );
    for s in imported.skipped.iter().take(20) {
        out.push_str(&format!("  skipped line {}: {}\n", s.line, s.problem));
    }
    if imported.skipped.len() > 20 {
        out.push_str(&format!("  ... and {} more\n", imported.skipped.len() - 20));
    }
    Ok(out)
}
