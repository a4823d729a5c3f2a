//! `switchboard serve`: the demo's organisations, people and directory
//! seeded on first run (`--demo`), the server built and run, and the
//! demo's simulated callers beside it.

use anyhow::Result;
use model::OrgId;
use std::path::Path;
use store::directory::Directory;
use store::SqliteStore;

pub struct Serve {
    pub server: server::Options,
    pub demo: bool,
    pub traffic: Option<crate::demo_traffic::DemoOptions>,
}

pub fn run(opts: Serve) -> Result<()> {
    let people = if opts.demo {
        seed_demo(&opts.server.data)?
    } else {
        Vec::new()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let application = server::Application::build(opts.server).await?;
        let core = application.app().clone();
        let first = core.orgs.first().copied();
        let driver = match (opts.traffic, first) {
            (Some(d), Some(org)) => {
                let config = core
                    .read(org, |t, _| t.engine.config())
                    .await
                    .map_err(|e| anyhow::anyhow!("demo: {e}"))?;
                let events = core.subscribe(org).await.map(|(rx, _)| rx);
                events.map(|events| {
                    tracing::info!(
                        "demo: {:.1} simulated calls a minute, simulated agents answering",
                        d.calls_per_minute
                    );
                    let agents = people
                        .iter()
                        .filter(|p| p.org == org)
                        .filter_map(|p| p.agent)
                        .collect();
                    tokio::spawn(crate::demo_traffic::drive(
                        core.clone(),
                        org,
                        events,
                        config,
                        agents,
                        d,
                    ))
                })
            }
            _ => None,
        };
        if !people.is_empty() {
            tracing::info!(
                "demo log-ins (password \"{}\", demo accounts only):",
                crate::seed::DEMO_PASSWORD
            );
            for p in &people {
                tracing::info!("  {:<22} {}", p.username, p.what);
            }
        }
        application
            .run(async move {
                server::shutdown_signal().await;
                if let Some(d) = &driver {
                    d.abort();
                }
            })
            .await?;
        Ok(())
    })
}

/// The demo organisations and people (first run only) and, if the
/// directory is empty, the Directory of Services from the real ODS
/// extracts in `../shared/data` when they are there.
fn seed_demo(data: &Path) -> Result<Vec<crate::seed::DemoPerson>> {
    let mut st = SqliteStore::open(data)?;
    let mut dir = Directory::open(data)?;
    let people = crate::seed::demo(&mut st, &mut dir)?;
    if dir.dos_services()?.is_empty() {
        demo_directory(&mut dir);
    }
    Ok(people)
}

fn demo_directory(dir: &mut Directory) {
    let shared = Path::new("../shared/data");
    let read = |f: &str| std::fs::read_to_string(shared.join(f)).ok();
    let (Some(practices), Some(centroids)) = (
        read("ods-gp-practices-epraccur-2020.csv"),
        read("uk-outcode-centroids-2014.csv"),
    ) else {
        tracing::info!("demo: no ../shared/data ODS extracts here, so the Directory of Services is empty (switchboard dos import fills it)");
        return;
    };
    let trusts = read("ods-nhs-trusts-etr-2021.csv");
    // A maintained list of trusts with an emergency department, when the
    // shared data has one; else the guess from the trusts' names.
    let eds = read("emergency-departments.csv");
    let source = match &eds {
        Some(list) => app::dosload::EdSource::Listed(list),
        None => app::dosload::EdSource::Guessed,
    };
    let Ok(set) = app::clinical::demo_pathways() else {
        return;
    };
    let built = app::dosload::build(
        &set,
        &practices,
        trusts.as_deref().map(|t| (t, source)),
        &centroids,
    )
    .and_then(|imp| {
        let directory = crate::dosfile::demo_directory(&set, imp.services.clone())?;
        app::dosload::save_directory(dir, OrgId(1), &directory, &imp.centroids, "demo")
            .map(|()| imp)
    });
    match built {
        Ok(imp) => tracing::info!(
            "demo: Directory of Services from ../shared/data: {} GP practices, {} emergency departments ({} rows skipped), and the example Kent services (examples/dos/kent-directory.json)",
            imp.practices,
            imp.eds,
            imp.skipped.len()
        ),
        Err(e) => tracing::warn!("demo: could not build the Directory of Services: {e}"),
    }
}
