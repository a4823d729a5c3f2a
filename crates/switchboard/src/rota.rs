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
    /// Most shifts suggested (lines, with --weekly).
    #[arg(long, default_value_t = 500)]
    max_new: usize,
    /// Suggest weekly lines instead: a start, a length and days on that a
    /// person repeats each week, nights and weekends included, covering
    /// the busiest of each weekday's intervals over the weeks given.
    #[arg(long)]
    weekly: bool,
    /// With --weekly: shift lengths allowed, e.g. 8h,10h,12h.
    #[arg(long, value_delimiter = ',', default_value = "8h")]
    shift_lengths: Vec<String>,
    /// With --weekly: days worked in a row each week (the rest off in a row).
    #[arg(long, default_value_t = 5)]
    days_on: usize,
    /// With --weekly: the daily break, placed where it can best be spared
    /// (shifts of 6 hours or more; from 2 hours after the start to 2 hours
    /// before the end).
    #[arg(long, default_value = "30m")]
    r#break: String,
    /// With --weekly: people rotate through the lines over this many weeks.
    #[arg(long, default_value_t = 4)]
    cycle_weeks: usize,
    /// With --weekly: write the cycle as shifts
    /// (`who,date,start,end,break_start,break_end`) from the
    /// requirement's first day, for `--cycle-weeks` weeks.
    #[arg(long)]
    rota_out: Option<PathBuf>,
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
    if a.weekly {
        return weekly(&a, first, step, &required);
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

/// Most lines' worth of weeks written with --rota-out.
const MAX_CYCLE_WEEKS: usize = 12;

/// `rota --weekly`: lines for a week, a cycle of weeks, and its shifts.
fn weekly(a: &RotaArgs, first: (Date, i64), step: i64, required: &[u32]) -> Result<String> {
    if first.1 != 0 {
        bail!(
            "{}: --weekly needs a requirement that starts at 00:00",
            a.requirement.display()
        );
    }
    let day = (1440 / step) as usize;
    let week = 7 * day;
    if required.len() < week {
        bail!(
            "{}: --weekly needs at least 7 days of intervals, got {}",
            a.requirement.display(),
            required.len()
        );
    }
    if a.shifts.is_some() {
        bail!("--weekly: suggests a whole rota; give no --shifts");
    }
    let mut lengths = Vec::new();
    for l in &a.shift_lengths {
        let m = args::duration_secs("--shift-lengths", l)? as i64 / 60;
        if m < step || m % step != 0 || m > 14 * 60 {
            bail!("--shift-lengths: '{l}' must be a whole number of intervals, at most 14h");
        }
        lengths.push((m / step) as usize);
    }
    if !(1..=7).contains(&a.days_on) {
        bail!("--days-on: must be 1 to 7");
    }
    if !(1..=MAX_CYCLE_WEEKS).contains(&a.cycle_weeks) {
        bail!("--cycle-weeks: must be 1 to {MAX_CYCLE_WEEKS}");
    }
    let brk = args::duration_secs("--break", &a.r#break)? as i64 / 60;
    if brk < 0 || brk % step != 0 || brk > 120 {
        bail!("--break: must be a whole number of intervals, at most 2h (0 for none)");
    }
    if a.max_new == 0 || a.max_new > 20_000 {
        bail!("--max-new: must be 1 to 20,000 lines");
    }
    // The busiest of each weekday's interval over the weeks given.
    let mut need = vec![0u32; week];
    for (i, &r) in required.iter().enumerate() {
        need[i % week] = need[i % week].max(r);
    }
    let rules = wfm::weekly::WeeklyRules {
        day,
        lengths,
        start_every: (30 / step).max(1) as usize,
        days_on: a.days_on,
        break_len: (brk / step) as usize,
        break_after: (120 / step) as usize,
        break_before_end: (120 / step) as usize,
        break_from_length: (360 / step) as usize,
        max_lines: a.max_new,
    };
    let plan = wfm::weekly::suggest_week(&need, &vec![0; week], &rules);
    let cycle = wfm::weekly::cycle(&plan.lines, a.cycle_weeks);
    let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let wd0 = first.0.weekday().to_monday_zero_offset() as usize;
    let hhmm = |slot: usize| {
        let m = (slot as i64 * step) % 1440;
        format!("{:02}:{:02}", m / 60, m % 60)
    };
    let days_of = |l: &wfm::weekly::Line| {
        l.days()
            .map(|d| names[(wd0 + d) % 7])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let hours = plan.slots_worked as f64 * step as f64 / 60.0;
    let weekend = plan
        .lines
        .iter()
        .filter(|l| l.days().any(|d| (wd0 + d) % 7 >= 5))
        .count();
    let nights = plan.lines.iter().filter(|l| l.is_night(day)).count();
    if let Some(path) = &a.rota_out {
        let mut csv = String::from("who,date,start,end,break_start,break_end\n");
        for (p, weeks) in cycle.iter().enumerate() {
            // The week before the first: only its night running into day 0,
            // so the first morning is covered as every other one is.
            let before = weeks[weeks.len() - 1];
            let cycle_weeks = std::iter::once((-1i64, before))
                .chain(weeks.iter().enumerate().map(|(w, &li)| (w as i64, li)));
            for (w, li) in cycle_weeks {
                let l = &plan.lines[li];
                for (k, d) in l.days().enumerate() {
                    if w < 0 && !(d == 6 && l.is_night(day)) {
                        continue;
                    }
                    let date = first
                        .0
                        .checked_add(jiff::Span::new().days(w * 7 + d as i64))
                        .context("date out of range")?;
                    let (b0, b1) = match l.breaks.get(k).copied().flatten() {
                        Some(b) => (hhmm(l.start + b), hhmm(l.start + b + l.break_len)),
                        None => (String::new(), String::new()),
                    };
                    let _ = if b0.is_empty() {
                        writeln!(
                            csv,
                            "p{},{date},{},{}",
                            p + 1,
                            hhmm(l.start),
                            hhmm(l.start + l.length)
                        )
                    } else {
                        writeln!(
                            csv,
                            "p{},{date},{},{},{b0},{b1}",
                            p + 1,
                            hhmm(l.start),
                            hhmm(l.start + l.length)
                        )
                    };
                }
            }
        }
        std::fs::write(path, csv).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if a.json {
        let lines: Vec<_> = plan
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                json!({
                    "line": i + 1, "start": hhmm(l.start), "end": hhmm(l.start + l.length),
                    "days": days_of(l), "night": l.is_night(day),
                    "breaks": l.breaks.iter().map(|b| b.map(|b| hhmm(l.start + b))).collect::<Vec<_>>(),
                })
            })
            .collect();
        let people: Vec<_> = cycle
            .iter()
            .enumerate()
            .map(|(p, w)| json!({ "who": format!("p{}", p + 1), "lines": w.iter().map(|i| i + 1).collect::<Vec<_>>() }))
            .collect();
        return Ok(serde_json::to_string_pretty(&json!({
            "lines": lines, "people": people, "cycle_weeks": a.cycle_weeks,
            "hours_per_week": hours, "lines_working_weekends": weekend, "night_lines": nights,
            "coverage": plan.coverage,
        }))? + "\n");
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} lines ({} people over a {}-week cycle), {:.1} paid hours a week; {} work weekends, {} nights",
        plan.lines.len(),
        cycle.len(),
        a.cycle_weeks,
        hours,
        weekend,
        nights
    );
    let _ = writeln!(
        out,
        "covers {:.1}% of the week's busiest requirement: {} intervals short ({} person-intervals), {} spare person-intervals",
        plan.coverage.covered_share * 100.0,
        plan.coverage.understaffed_slots,
        plan.coverage.short,
        plan.coverage.spare
    );
    out.push_str("line,start,end,days,breaks\n");
    for (i, l) in plan.lines.iter().enumerate() {
        let breaks: Vec<String> = l
            .breaks
            .iter()
            .map(|b| b.map_or("-".into(), |b| hhmm(l.start + b)))
            .collect();
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            i + 1,
            hhmm(l.start),
            hhmm(l.start + l.length),
            days_of(l),
            breaks.join(" ")
        );
    }
    Ok(out)
}
