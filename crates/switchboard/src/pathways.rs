//! `switchboard pathway check FILE` validates a pathway set and prints its
//! content hash; `switchboard pathway run FILE --answers 1,2,...` walks a
//! journey by answer numbers and prints each step and where it ended.

use anyhow::{bail, Context, Result};
use pathway::{Checked, Now, PathwaySet};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Largest pathway file read.
const MAX_BYTES: u64 = 16 * 1024 * 1024;

pub fn load(path: &Path) -> Result<Checked> {
    let text = crate::csv::read_limited(path, MAX_BYTES)?;
    let set: PathwaySet = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a pathway set", path.display()))?;
    set.check().map_err(|issues| {
        let list: Vec<String> = issues.iter().map(|i| format!("  {i}")).collect();
        anyhow::anyhow!(
            "{}: {} problem(s):\n{}",
            path.display(),
            issues.len(),
            list.join("\n")
        )
    })
}

pub fn check(path: &Path) -> Result<String> {
    let c = load(path)?;
    let nodes: usize = c.set.pathways.iter().map(|p| p.nodes.len()).sum();
    Ok(format!(
        "{} {}{}: {} pathways, {} nodes, {} dispositions; every path ends in a disposition, no loops\ncontent hash {}\n",
        c.set.name,
        c.set.version,
        if c.set.demo { " (DEMO CONTENT: not clinical advice)" } else { "" },
        c.set.pathways.len(),
        nodes,
        c.set.dispositions.len(),
        c.hash
    ))
}

/// `k=v,k=v` into state.
fn parse_state(s: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            bail!("--state: '{part}' is not name=value");
        };
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

pub fn run(path: &Path, from: Option<&str>, state: &str, answers: &str) -> Result<String> {
    let c = load(path)?;
    let state = parse_state(state)?;
    let start = from.unwrap_or(&c.set.entry);
    if !c.has_pathway(start) {
        bail!("--from: no pathway {start}");
    }
    let mut j = c.start_at(start, state);
    let mut out = String::new();
    if c.set.demo {
        out.push_str("DEMO CONTENT: not clinical advice\n");
    }
    for (i, a) in answers
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .enumerate()
    {
        let k: usize = a
            .parse()
            .ok()
            .filter(|&k| k >= 1)
            .with_context(|| format!("--answers: '{a}' is not an answer number (1, 2, ...)"))?;
        let question = match j.now() {
            Now::Question { text, answers, .. } => {
                if k > answers.len() {
                    bail!(
                        "--answers: step {}: {text}: answer {k} is not one of its {} answers",
                        i + 1,
                        answers.len()
                    );
                }
                text.to_string()
            }
            Now::Ended { .. } => bail!("--answers: answer {} given after the journey ended", i + 1),
        };
        j.answer(k - 1)
            .with_context(|| format!("--answers: step {}: {question}", i + 1))?;
        let s = j.steps.last().expect("a step");
        let _ = writeln!(
            out,
            "{}. [{}] {} -> {}",
            i + 1,
            s.pathway,
            s.question,
            s.answer_text
        );
    }
    match j.now() {
        Now::Question { text, answers, .. } => {
            let _ = writeln!(out, "next: {text}");
            for (k, a) in answers.iter().enumerate() {
                let _ = writeln!(out, "  {}. {a}", k + 1);
            }
        }
        Now::Ended {
            disposition: d,
            symptom_group,
            discriminators,
        } => {
            let _ = writeln!(
                out,
                "disposition {}: {} (care setting {:?}, within {}{}); SG {symptom_group}, SD {discriminators:?}",
                d.code,
                d.wording,
                d.care_setting,
                d.timeframe_minutes.map_or("no set time".into(), |m| format!("{m} min")),
                if d.clinician_required { ", a clinician must be involved" } else { "" },
            );
        }
    }
    let _ = writeln!(out, "content hash {}", c.hash);
    Ok(out)
}
