//! `switchboard rota`: planned shifts against a staffing requirement, per
//! interval, and suggested shifts for the gaps.

use crate::args;
use anyhow::{bail, Context, Result};
use jiff::civil::Date;
use serde_json::json;
use std::fmt::Write;
use std::path::PathBuf;
use wfm::rota::{coverage, on_duty, suggest, PlannedShift, ShiftRules};

#[derive(clap::Args, Debug)]
pub struct RotaArgs {
    /// Requirement per interval: the CSV `switchboard staff --calls-csv`
    /// writes (its `scheduled_staff` column), or any CSV with
    /// `date,interval_start` and a `required` column.
    #[arg(long)]
    requirement: PathBuf,
    /// Planned shifts: `who,date,start,end[,break_start,break_end]`.
    #[arg(long)]
    shifts: Option<PathBuf>,
    /// Also suggest shifts that close the gaps.
    #[arg(long)]
    suggest: bool,
    /// Length of a suggested shift.
    #[arg(long, default_value = "8h")]
    shift_length: String,
    /// Most shifts suggested.
    #[arg(long, default_value_t = 500)]
    max_new: usize,
    #[arg(long)]
    json: bool,
}

pub fn run(a: RotaArgs) -> Result<String> {
    let rows = crate::csv::rows(&a.requirement)?;
    let Some(header) = rows.first() else {
        bail!("{}: empty", a.requirement.display())
    };
    let col = header
        .iter()
        .position(|h| h == "required")
        .or_else(|| header.iter().position(|h| h == "scheduled_staff"))
        .with_context(|| {
            format!(
                "{}: no 'required' or 'scheduled_staff' column",
                a.requirement.display()
            )
        })?;
    let mut when: Vec<(Date, i64)> = Vec::new();
    let mut required: Vec<u32> = Vec::new();
    for (i, r) in rows.iter().enumerate().skip(1) {
        let bad = |p: String| anyhow::anyhow!("{} line {}: {p}", a.requirement.display(), i + 1);
        if r.len() <= col || r.len() < 2 {
            return Err(bad("too few fields".into()));
        }
        let d: Date = r[0]
            .parse()
            .map_err(|_| bad(format!("'{}' is not a date", r[0])))?;
        let m =
            crate::csv::minutes(&r[1]).ok_or_else(|| bad(format!("'{}' is not a time", r[1])))?;
        let n: u32 = r[col]
            .parse()
            .map_err(|_| bad(format!("'{}' is not a whole number of staff", r[col])))?;
        when.push((d, m));
        required.push(n);
    }
    if when.len() < 2 {
        bail!("{}: needs at least two intervals", a.requirement.display());
    }
    let first = when[0];
    let abs = |(d, m): (Date, i64)| (d - first.0).get_days() as i64 * 1440 + m - first.1;
    let step = abs(when[1]);
    if step <= 0 || 1440 % step != 0 {
        bail!(
            "{}: the first two intervals are not a whole fraction of a day apart",
            a.requirement.display()
        );
    }
    for (i, w) in when.iter().enumerate() {
        if abs(*w) != i as i64 * step {
            bail!(
                "{} line {}: intervals must follow one another with no gaps",
                a.requirement.display(),
                i + 2
            );
        }
    }
    let slot_of = |d: Date, m: i64| -> i64 { (abs((d, m))).div_euclid(step) };
    let mut shifts = Vec::new();
    if let Some(path) = &a.shifts {
        for (i, r) in crate::csv::rows(path)?.iter().enumerate() {
            if i == 0 && r.first().is_some_and(|h| h == "who") {
                continue;
            }
            let bad = |p: String| anyhow::anyhow!("{} line {}: {p}", path.display(), i + 1);
            if r.len() != 4 && r.len() != 6 {
                return Err(bad(
                    "expected who,date,start,end[,break_start,break_end]".into()
                ));
            }
            let d: Date = r[1]
                .parse()
                .map_err(|_| bad(format!("'{}' is not a date", r[1])))?;
            let (s, mut e) = (
                crate::csv::minutes(&r[2]).ok_or_else(|| bad("bad start".into()))?,
                crate::csv::minutes(&r[3]).ok_or_else(|| bad("bad end".into()))?,
            );
            if e <= s {
                e += 1440;
            }
            let mut breaks = Vec::new();
            if r.len() == 6 {
                let (mut b0, mut b1) = (
                    crate::csv::minutes(&r[4]).ok_or_else(|| bad("bad break start".into()))?,
                    crate::csv::minutes(&r[5]).ok_or_else(|| bad("bad break end".into()))?,
                );
                if b0 < s {
                    b0 += 1440;
                }
                if b1 <= b0 {
                    b1 += 1440;
                }
                if b1 > e {
                    return Err(bad("the break ends after the shift".into()));
                }
                breaks.push((
                    slot_of(d, b0).max(0) as usize,
                    slot_of(d, b1).max(0) as usize,
                ));
            }
            let (ss, se) = (slot_of(d, s), slot_of(d, e));
            if se <= 0 || ss >= required.len() as i64 {
                continue; // outside the requirement's period
            }
            shifts.push(PlannedShift {
                who: r[0].clone(),
                start: ss.max(0) as usize,
                end: se as usize,
                breaks,
            });
            if shifts.len() > 1_000_000 {
                bail!("{}: more than 1,000,000 shifts", path.display());
            }
        }
    }
    let duty = on_duty(required.len(), &shifts);
    let before = coverage(&required, &duty);
    let length = args::duration_secs("--shift-length", &a.shift_length)? as i64 / 60;
    if length < step || length % step != 0 || length > 16 * 60 {
        bail!("--shift-length: must be a whole number of intervals, at most 16h");
    }
    let suggested = if a.suggest {
        suggest(
            &required,
            &duty,
            &ShiftRules {
                length: (length / step) as usize,
                start_every: (30 / step).max(1) as usize,
                max_new: a.max_new,
            },
        )
    } else {
        Vec::new()
    };
    let mut after_duty = duty.clone();
    for &(s, e) in &suggested {
        for x in &mut after_duty[s..e] {
            *x += 1;
        }
    }
    let after = coverage(&required, &after_duty);
    let at = |slot: usize| {
        let m = first.1 + slot as i64 * step;
        let d = first
            .0
            .checked_add(jiff::Span::new().days(m.div_euclid(1440)))
            .expect("date in range");
        (d, m.rem_euclid(1440))
    };
    let mut out = String::new();
    if a.json {
        let rows: Vec<_> = (0..required.len())
            .map(|i| {
                let (d, m) = at(i);
                json!({ "date": d.to_string(), "interval_start": format!("{:02}:{:02}", m / 60, m % 60), "required": required[i], "on_duty": duty[i], "with_suggested": after_duty[i] })
            })
            .collect();
        let sug: Vec<_> = suggested
            .iter()
            .map(|&(s, e)| {
                let ((d, m0), (_, m1)) = (at(s), at(e));
                json!({ "date": d.to_string(), "start": format!("{:02}:{:02}", m0 / 60, m0 % 60), "end": format!("{:02}:{:02}", m1 / 60, m1 % 60) })
            })
            .collect();
        out = serde_json::to_string_pretty(
            &json!({ "coverage": before, "suggested_shifts": sug, "coverage_with_suggested": after, "intervals": rows }),
        )? + "\n";
    } else {
        out.push_str("date,interval_start,required,on_duty,gap,with_suggested\n");
        for i in 0..required.len() {
            let (d, m) = at(i);
            let _ = writeln!(
                out,
                "{d},{:02}:{:02},{},{},{},{}",
                m / 60,
                m % 60,
                required[i],
                duty[i],
                duty[i] as i64 - required[i] as i64,
                after_duty[i]
            );
        }
        eprintln!(
            "rota covers {:.1}% of the requirement: {} intervals short ({} person-intervals), {} over ({} spare)",
            before.covered_share * 100.0,
            before.understaffed_slots,
            before.short,
            before.overstaffed_slots,
            before.spare
        );
        if a.suggest {
            eprintln!(
                "with {} suggested {}-minute shifts: {:.1}% covered, {} intervals still short, {} spare person-intervals",
                suggested.len(),
                length,
                after.covered_share * 100.0,
                after.understaffed_slots,
                after.spare
            );
            for &(s, e) in &suggested {
                let ((d, m0), (_, m1)) = (at(s), at(e));
                eprintln!(
                    "  suggest {d} {:02}:{:02}-{:02}:{:02}",
                    m0 / 60,
                    m0 % 60,
                    m1 / 60,
                    m1 % 60
                );
            }
        }
    }
    Ok(out)
}
