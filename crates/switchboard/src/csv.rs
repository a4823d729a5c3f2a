//! The input files the commands read: size-limited reads (also used for
//! flow files), and for the planning CSVs (forecasts, rotas, requirements,
//! call counts) fields split on commas with quotes and spaces trimmed, and
//! `HH:MM` times.

use anyhow::{bail, Context, Result};
use jiff::civil::Time;
use std::path::Path;

/// Largest planning CSV read (a history can be long; rotas are small).
pub const MAX_BYTES: u64 = 512 * 1024 * 1024;

/// The whole file, refused with its name if it is missing or over `max`.
pub fn read_limited(path: &Path, max: u64) -> Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > max {
        bail!(
            "{} is larger than {} MiB",
            path.display(),
            max / (1024 * 1024)
        );
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// One line's fields, trimmed of spaces and quotes.
pub fn fields(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|x| x.trim().trim_matches('"'))
        .collect()
}

/// Every non-blank line's fields (at most 64 MiB).
pub fn rows(path: &Path) -> Result<Vec<Vec<String>>> {
    let text = read_limited(path, 64 * 1024 * 1024)?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| fields(l).into_iter().map(str::to_string).collect())
        .collect())
}

/// `HH:MM` as minutes after midnight.
pub fn minutes(s: &str) -> Option<i64> {
    let t: Time = format!("{s}:00").parse().ok()?;
    Some(t.hour() as i64 * 60 + t.minute() as i64)
}
