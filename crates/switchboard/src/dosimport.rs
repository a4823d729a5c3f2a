//! `switchboard dos import`: real GP practices and NHS trusts from ODS
//! extracts into an organisation's Directory of Services (see
//! `app::dosload`).

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

pub fn run(a: DosImportArgs) -> Result<String> {
    let limit = 64 * 1024 * 1024;
    let set = crate::pathways::load(&a.pathways)?;
    let read = |p: &PathBuf| crate::csv::read_limited(p, limit);
    let trusts = a.trusts.as_ref().map(read).transpose()?;
    let imported = app::dosload::build(
        &set,
        &read(&a.practices)?,
        trusts.as_deref(),
        &read(&a.centroids)?,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let st = store::SqliteStore::open(&a.data)?;
    let orgs = store::Store::organisations(&st)?;
    let Some((org, org_name)) = orgs.iter().find(|(o, _)| o.0 == a.org) else {
        bail!("--org: no organisation {} in {}", a.org, a.data.display());
    };
    let mut dir = store::directory::Directory::open(&a.data)?;
    app::dosload::save(&mut dir, *org, &imported, "cli")
        .map_err(|e| anyhow::anyhow!("cannot save the directory: {e}"))?;
    let mut out = format!(
        "{org_name}: {} GP practices and {} emergency departments imported, {} rows skipped\n",
        imported.practices,
        imported.eds,
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
