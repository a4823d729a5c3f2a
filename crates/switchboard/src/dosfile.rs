//! The directory file from the command line (`docs/dos-directory.md`):
//! `dos export` writes an organisation's directory; `dos search` runs a
//! search on a directory file and explains it, service by service; and the
//! demo's directory (the ODS extracts plus the example Kent services).

use anyhow::{bail, Context, Result};
use dos::{Answer, Point, Query, SearchError, Sex, Verdict};
use model::{OrgId, Timestamp};
use pathway::{Checked, NodeKind};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Largest directory file read.
pub const MAX_FILE: u64 = 256 * 1024 * 1024;

/// The example Kent directory shipped with the project.
const KENT: &str = include_str!("../../../examples/dos/kent-directory.json");

/// Every disposition code of the pathway set.
pub fn dispositions(set: &Checked) -> BTreeSet<String> {
    set.set
        .dispositions
        .iter()
        .map(|d| d.code.clone())
        .collect()
}

/// Every (symptom group, discriminator) pair the pathway set can end on.
pub fn valid_pairs(set: &Checked) -> BTreeSet<(u32, u32)> {
    let mut out = BTreeSet::new();
    for p in &set.set.pathways {
        for n in &p.nodes {
            if let NodeKind::Question { answers, .. } = &n.kind {
                for a in answers {
                    if let Some(sd) = a.discriminator {
                        out.insert((p.symptom_group, sd));
                    }
                }
            }
        }
    }
    out
}

/// The demo's directory: the imported practices and emergency
/// departments, plus the example Kent services (pharmacies, a UTC, a
/// dental service, Medway Maritime's ED) with its strategies and stored
/// distances; every pair of the pathway set valid.
pub fn demo_directory(
    set: &Checked,
    imported: Vec<dos::Service>,
) -> Result<dos::Directory, String> {
    let mut d =
        app::dosload::parse_file(KENT, Some(&dispositions(set))).map_err(|e| e.to_string())?;
    let ours: BTreeSet<Option<String>> = d.services.iter().map(|s| s.ods_code.clone()).collect();
    // The example's Medway ED stands for the trust's; keep one of each.
    let extra: Vec<dos::Service> = imported
        .into_iter()
        .filter(|s| s.ods_code.is_none() || !ours.contains(&s.ods_code))
        .collect();
    d.services.extend(extra);
    d.valid_sg_sd.extend(valid_pairs(set));
    d.bank_holidays
        .extend(app::dosload::default_bank_holidays());
    Ok(d)
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The server's data directory.
    #[arg(long, default_value = "switchboard-data")]
    data: PathBuf,
    /// The organisation whose directory to write.
    #[arg(long)]
    org: u32,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `dos export`: the organisation's directory as a directory file.
pub fn export(a: ExportArgs) -> Result<String> {
    let dir = store::directory::Directory::open(&a.data)?;
    let org = OrgId(a.org);
    let mut directory = match dir.dos_settings()?.into_iter().find(|(o, _)| *o == org) {
        Some((_, text)) => serde_json::from_str::<dos::Directory>(&text)
            .context("the stored directory settings")?,
        None => dos::Directory::default(),
    };
    for (o, text) in dir.dos_services()? {
        if o == org {
            directory
                .services
                .push(serde_json::from_str(&text).context("a stored DoS service")?);
        }
    }
    let text = serde_json::to_string_pretty(&dos::file::export(&directory))? + "\n";
    match a.out {
        Some(p) => {
            std::fs::write(&p, &text).with_context(|| format!("cannot write {}", p.display()))?;
            Ok(format!(
                "{} services written to {}\n",
                directory.services.len(),
                p.display()
            ))
        }
        None => Ok(text),
    }
}

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// The directory file.
    #[arg(long)]
    directory: PathBuf,
    /// The search time: RFC 3339, or a London local time
    /// (`2026-12-07T10:00`).
    #[arg(long)]
    at: String,
    /// The patient's place on the national grid: `EASTING,NORTHING`.
    #[arg(long)]
    grid: Option<String>,
    /// The patient's postcode district (with --grid).
    #[arg(long)]
    district: Option<String>,
    /// The patient's postcode (placed by --centroids).
    #[arg(long)]
    postcode: Option<String>,
    /// Postcode-district centroids (`postcode,easting,northing,...`).
    #[arg(long)]
    centroids: Option<PathBuf>,
    /// Age: `N` and `d`, `m` or `y` (days 0–31, months 1–23, years 2–129).
    #[arg(long)]
    age: String,
    /// M, F or I (I matches only services that take I).
    #[arg(long)]
    sex: String,
    /// The patient's registered practice (ODS code).
    #[arg(long)]
    gp: Option<String>,
    /// Symptom group; none: the catch-all only.
    #[arg(long)]
    sg: Option<u32>,
    /// Symptom discriminators, comma-separated.
    #[arg(long, value_delimiter = ',')]
    sd: Vec<u32>,
    #[arg(long)]
    disposition: Option<String>,
    /// The disposition's timeframe, minutes; default the disposition's in
    /// the pathway set (as the API does).
    #[arg(long)]
    timeframe: Option<u32>,
    /// The pathway set the disposition's timeframe comes from.
    #[arg(long, default_value = "pathways/demo.json")]
    pathways: PathBuf,
    /// The request's search distance, km (1–99).
    #[arg(long)]
    distance_km: Option<u32>,
    /// Use --distance-km over any stored distance.
    #[arg(long)]
    force_distance: bool,
    /// The ranking strategy (default: the directory's).
    #[arg(long)]
    strategy: Option<String>,
    /// The answer as JSON.
    #[arg(long)]
    json: bool,
    /// Explain at most this many services (nearest first).
    #[arg(long, default_value_t = 40)]
    limit: usize,
}

/// The search time: RFC 3339, or a civil time in London.
pub fn parse_at(s: &str) -> Result<Timestamp> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(Timestamp(t.as_millisecond()));
    }
    let civil: jiff::civil::DateTime = s
        .parse()
        .with_context(|| format!("--at: '{s}' is not a time (RFC 3339 or 2026-12-07T10:00)"))?;
    let z = civil
        .to_zoned(app::time::london())
        .with_context(|| format!("--at: '{s}' is not a London time"))?;
    Ok(Timestamp(z.timestamp().as_millisecond()))
}

fn query(a: &SearchArgs) -> Result<Result<Query, SearchError>> {
    let at = parse_at(&a.at)?;
    let (location, district) = match (&a.grid, &a.postcode) {
        (Some(g), None) => {
            let Some((e, n)) = g.split_once(',') else {
                bail!("--grid: EASTING,NORTHING");
            };
            let (e, n): (f64, f64) = (
                e.trim()
                    .parse()
                    .context("--grid: the easting is not a number")?,
                n.trim()
                    .parse()
                    .context("--grid: the northing is not a number")?,
            );
            (
                Point {
                    easting: e,
                    northing: n,
                },
                a.district.clone().map(|d| d.trim().to_ascii_uppercase()),
            )
        }
        (None, Some(pc)) => {
            let Some(c) = &a.centroids else {
                bail!("--postcode needs --centroids to place it");
            };
            let cents = dos::parse_centroids(&crate::csv::read_limited(c, 64 * 1024 * 1024)?);
            let Some(d) = dos::outward(pc) else {
                bail!("--postcode: '{pc}' is not a UK postcode");
            };
            let Some(&p) = cents.get(&d) else {
                bail!("--postcode: district {d} is not in {}", c.display());
            };
            (p, Some(d))
        }
        _ => bail!("give --grid EASTING,NORTHING (with --district) or --postcode with --centroids"),
    };
    let age = match dos::parse_age(&a.age) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let Some(sex) = Sex::from_letter(&a.sex).filter(|_| a.sex.trim().len() == 1) else {
        return Ok(Err(SearchError::InvalidGender));
    };
    if a.force_distance && a.distance_km.is_none() {
        bail!("--force-distance needs --distance-km");
    }
    let mut q = Query::new(
        location,
        age,
        sex,
        a.sg.unwrap_or(dos::NO_SYMPTOM_GROUP),
        at,
    );
    q.district = district;
    q.postcode = a.postcode.clone();
    q.gp_practice = a.gp.as_ref().map(|g| g.trim().to_ascii_uppercase());
    q.discriminators = a.sd.clone();
    q.disposition = a.disposition.clone().unwrap_or_default();
    q.timeframe_minutes = match (a.timeframe, &a.disposition) {
        (Some(t), _) => Some(t),
        (None, None) => None,
        (None, Some(code)) => {
            let set = crate::pathways::load(&a.pathways)?;
            let Some(d) = set.disposition(code) else {
                bail!(
                    "--disposition: {code} is not in {}; give --timeframe",
                    a.pathways.display()
                );
            };
            d.timeframe_minutes
        }
    };
    if a.force_distance {
        q.forced_distance_km = a.distance_km;
    } else {
        q.distance_km = a.distance_km;
    }
    q.strategy = a.strategy.clone();
    Ok(Ok(q))
}

/// `dos search`: the answer (JSON), or the answer explained. Returns the
/// text and whether the request was refused.
pub fn search(a: SearchArgs) -> Result<(String, bool)> {
    let text = crate::csv::read_limited(&a.directory, MAX_FILE)?;
    let dir = app::dosload::parse_file(&text, None)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.directory.display()))?;
    let q = query(&a)?;
    let (answer, explained) = match &q {
        Ok(q) => match dos::search_explained(&dir, q, a.limit) {
            Ok((r, why)) => (Answer::of(&dir, &Ok(r)), why),
            Err(e) => (Answer::refused(&e), Vec::new()),
        },
        Err(e) => (Answer::refused(e), Vec::new()),
    };
    let refused = answer
        .error
        .as_deref()
        .is_some_and(|e| e != "no_services_found");
    if a.json {
        return Ok((serde_json::to_string_pretty(&answer)? + "\n", refused));
    }
    let mut out = String::new();
    if let Some(m) = &answer.message {
        writeln!(out, "{}: {m}", answer.error.clone().unwrap_or_default())?;
        if refused {
            return Ok((out, true));
        }
    }
    writeln!(
        out,
        "Search distance {} km ({}), ranking strategy {}",
        answer.search_distance_km.unwrap_or_default(),
        answer.search_distance_source.clone().unwrap_or_default(),
        answer
            .strategy
            .clone()
            .unwrap_or_else(|| "(plain ranks)".into())
    )?;
    if !answer.dropped_discriminators.is_empty() {
        writeln!(
            out,
            "Discriminators dropped (repeated or not valid for the group): {:?}",
            answer.dropped_discriminators
        )?;
    }
    if answer.ranked.is_empty() {
        writeln!(out, "Nothing returned.")?;
    } else {
        writeln!(
            out,
            "Returned{}: {}",
            if answer.catch_all { " (catch-all)" } else { "" },
            answer.ranked.join(", ")
        )?;
    }
    writeln!(out, "\nServices near the patient, nearest first:")?;
    for e in &explained {
        let why = match &e.verdict {
            Verdict::Returned { position } => format!("returned #{position} (rank {})", e.rank),
            Verdict::CatchAll { position } => {
                format!("returned #{position} by the catch-all (nearest emergency departments)")
            }
            Verdict::TypeFull { kept } => format!(
                "passed every filter, but type {} already has its {kept} result{}",
                e.type_id,
                if *kept == 1 { "" } else { "s" }
            ),
            Verdict::Gap { filter } => format!("gap: failed only {}", filter.name()),
            Verdict::Filtered { filters } => format!(
                "filtered out by {}",
                filters
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            Verdict::Excluded { rule } => format!(
                "left out: {}",
                match rule {
                    dos::Rule::Status => "not active",
                    dos::Rule::Distance => "outside the search square",
                    dos::Rule::SymptomGroup => "does not take this symptom group",
                    dos::Rule::Gender => "does not take the patient's sex",
                    dos::Rule::GpRestricted => "only for other practices' patients",
                }
            ),
        };
        writeln!(
            out,
            "  {:>6.1} km  {:<28} {:<40} {why}",
            e.distance_km,
            e.key,
            e.name.chars().take(40).collect::<String>()
        )?;
    }
    Ok((out, false))
}
