//! `switchboard flow check FILE...`: validates call-flow files against the
//! demo organisation (its queues, skills and self-service actions).

use anyhow::{bail, Context, Result};
use flow::{Catalog, Flow, FlowBook};
use std::fmt::Write;
use std::path::PathBuf;

/// Largest flow file read.
const MAX_FLOW_BYTES: u64 = 1024 * 1024;

pub fn demo_catalog() -> Catalog {
    let c = routing::demo::kent_community_trust();
    Catalog {
        queues: c.queues.iter().map(|q| q.name.clone()).collect(),
        skills: c.skills.iter().map(|s| s.name.clone()).collect(),
        prompts: None,
        actions: ["wheelchair_return".to_string()].into(),
    }
}

/// Reads and parses one flow file (size-limited; errors name the file).
pub fn read(path: &std::path::Path) -> Result<Flow> {
    let text = crate::csv::read_limited(path, MAX_FLOW_BYTES)?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid flow", path.display()))
}

/// Checks the files together (sub-flows may call each other's flows, in
/// any order); prints one line per flow and every issue.
pub fn check(files: &[PathBuf]) -> Result<String> {
    if files.is_empty() || files.len() > 1000 {
        bail!("give 1 to 1000 flow files");
    }
    let flows: Vec<Flow> = files.iter().map(|f| read(f)).collect::<Result<_>>()?;
    let catalog = demo_catalog();
    let mut book = FlowBook::default();
    let mut pending: Vec<Flow> = flows;
    let mut out = String::new();
    // Save what can be saved; a flow whose sub-flows are not in yet waits
    // for the next round.
    loop {
        let mut progress = false;
        let mut still = Vec::new();
        let mut last_issues = Vec::new();
        for f in pending {
            match book.save(f.clone(), &catalog) {
                Ok(b) => {
                    let c = b.get(&f.id).expect("saved");
                    let _ = writeln!(
                        out,
                        "ok      {} (version {}, {} nodes)",
                        f.id,
                        c.version,
                        f.nodes.len()
                    );
                    book = b;
                    progress = true;
                }
                Err(issues) => {
                    last_issues.push((f.id.clone(), issues));
                    still.push(f);
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(out);
        }
        if !progress {
            for (id, issues) in last_issues {
                let _ = writeln!(out, "FAILED  {id}");
                for i in issues {
                    let _ = writeln!(out, "        {i}");
                }
            }
            bail!("some flows are not valid:\n{}", out.trim_end());
        }
    }
}
