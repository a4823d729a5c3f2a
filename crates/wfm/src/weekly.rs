//! Weekly rotas: lines of work a person repeats each week (a start time, a
//! length, the days on — nights and weekends included), chosen to cover a
//! week's staffing requirement with few hours, with a break placed each
//! day where the floor can best spare it; then a cycle of several weeks in
//! which people rotate through the lines, so weekends and nights are
//! shared.
//!
//! Time is in slots of the requirement's interval from the week's first
//! day at 00:00; the week is cyclic, so a Sunday night shift runs into the
//! next Monday morning.

use crate::rota::{coverage, Coverage};
use serde::Serialize;

/// What a suggested line may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyRules {
    /// Slots per day.
    pub day: usize,
    /// Shift lengths allowed, in slots (the break is inside them).
    pub lengths: Vec<usize>,
    /// Lines may start only on multiples of this many slots.
    pub start_every: usize,
    /// Days worked a week, in a row, the rest off in a row.
    pub days_on: usize,
    /// Length of the daily break, in slots (0: none).
    pub break_len: usize,
    /// Earliest break, in slots after the start; latest end of the break,
    /// in slots before the shift's end.
    pub break_after: usize,
    pub break_before_end: usize,
    /// Shifts shorter than this many slots have no break.
    pub break_from_length: usize,
    /// Most lines suggested.
    pub max_lines: usize,
}

/// One line: a person's week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// Start slot within the day.
    pub start: usize,
    pub length: usize,
    /// The first day worked (0 = the week's first day); `days_on` in a row.
    pub first_day: usize,
    pub days_on: usize,
    /// For each day worked, in order, the break's first slot counted from
    /// the shift's start (None: no break).
    pub breaks: Vec<Option<usize>>,
    pub break_len: usize,
}

impl Line {
    /// The day offsets (0..7) this line works.
    pub fn days(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.days_on).map(|k| (self.first_day + k) % 7)
    }

    /// Works a Saturday or a Sunday, when the week starts on a Monday.
    pub fn works_weekend(&self) -> bool {
        self.days().any(|d| d >= 5)
    }

    /// Runs past midnight.
    pub fn is_night(&self, day: usize) -> bool {
        self.start + self.length > day
    }

    /// Slots of the week (cyclic) on duty, breaks taken out.
    pub fn on_duty_slots(&self, day: usize) -> Vec<usize> {
        let week = 7 * day;
        let mut out = Vec::with_capacity(self.days_on * self.length);
        for (k, d) in self.days().enumerate() {
            let b = self.breaks.get(k).copied().flatten();
            for j in 0..self.length {
                if b.is_some_and(|b0| (b0..b0 + self.break_len).contains(&j)) {
                    continue;
                }
                out.push((d * day + self.start + j) % week);
            }
        }
        out
    }
}

/// The suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeeklyPlan {
    pub lines: Vec<Line>,
    /// People on duty per slot of the week.
    pub on_duty: Vec<u32>,
    pub coverage: Coverage,
    /// Slots of paid time a week over all lines (breaks included).
    pub slots_worked: usize,
    /// Lines dropped or bettered after the first fill.
    pub removed: usize,
}

fn add(on: &mut [u32], slots: &[usize], by: i32) {
    for &p in slots {
        on[p] = (on[p] as i32 + by).max(0) as u32;
    }
}

/// Places each day's break of `line` where on-duty minus required is
/// largest over the break (latest-first on a tie is avoided: earliest).
fn place_breaks(line: &mut Line, rules: &WeeklyRules, on: &[u32], required: &[u32]) {
    let (day, week) = (rules.day, 7 * rules.day);
    line.breaks = vec![None; line.days_on];
    if rules.break_len == 0 || line.length < rules.break_from_length {
        return;
    }
    let first = rules.break_after;
    let last = line
        .length
        .saturating_sub(rules.break_before_end + rules.break_len);
    if last < first {
        return;
    }
    let days: Vec<usize> = line.days().collect();
    for (k, d) in days.into_iter().enumerate() {
        let mut best: Option<(i64, usize)> = None;
        for b in first..=last {
            let spare: i64 = (0..rules.break_len)
                .map(|j| {
                    let p = (d * day + line.start + b + j) % week;
                    on[p] as i64 - required[p] as i64
                })
                .min()
                .unwrap_or(0);
            if best.is_none_or(|(s, _)| spare > s) {
                best = Some((spare, b));
            }
        }
        line.breaks[k] = best.map(|(_, b)| b);
    }
}

/// Adds lines to `lines` (with `on` their people on duty) one at a time,
/// the one covering the most short person-slots per slot worked (earliest
/// start, shortest, first day on a tie), its breaks placed where most is
/// spare; until no line helps by more than its breaks cost, or
/// `max_lines`.
fn fill(
    on: &mut [u32],
    lines: &mut Vec<Line>,
    required: &[u32],
    rules: &WeeklyRules,
    lengths: &[usize],
) {
    let day = rules.day;
    let week = 7 * day;
    let days_on = rules.days_on.clamp(1, 7);
    let step = rules.start_every.max(1);
    while lines.len() < rules.max_lines {
        let mut best: Option<(f64, Line)> = None;
        for &length in lengths {
            let cost = (days_on
                * if length >= rules.break_from_length {
                    rules.break_len
                } else {
                    0
                }) as i64;
            for start in (0..day).step_by(step) {
                for first_day in 0..7 {
                    let mut gain = 0i64;
                    for k in 0..days_on {
                        let d = (first_day + k) % 7;
                        for j in 0..length {
                            let p = (d * day + start + j) % week;
                            if on[p] < required[p] {
                                gain += 1;
                            }
                        }
                    }
                    if gain <= cost {
                        continue;
                    }
                    let score = gain as f64 / (days_on * length) as f64;
                    if best.as_ref().is_none_or(|(s, _)| score > *s + 1e-12) {
                        best = Some((
                            score,
                            Line {
                                start,
                                length,
                                first_day,
                                days_on,
                                breaks: Vec::new(),
                                break_len: rules.break_len,
                            },
                        ));
                    }
                }
            }
        }
        let Some((_, mut line)) = best else { break };
        // Count the line on duty through its breaks, then take the breaks
        // where the floor (with it) can best spare them.
        let whole: Vec<usize> = Line {
            breaks: Vec::new(),
            ..line.clone()
        }
        .on_duty_slots(day);
        add(on, &whole, 1);
        place_breaks(&mut line, rules, on, required);
        add(on, &whole, -1);
        add(on, &line.on_duty_slots(day), 1);
        lines.push(line);
    }
}

/// Drops lines the others make redundant, last first; how many.
fn prune(on: &mut [u32], lines: &mut Vec<Line>, required: &[u32], day: usize) -> usize {
    let mut removed = 0;
    for i in (0..lines.len()).rev() {
        let slots = lines[i].on_duty_slots(day);
        if slots.iter().all(|&p| on[p] > required[p]) {
            add(on, &slots, -1);
            lines.remove(i);
            removed += 1;
        }
    }
    removed
}

fn short_of(on: &[u32], required: &[u32]) -> u64 {
    on.iter()
        .zip(required)
        .map(|(&o, &r)| r.saturating_sub(o) as u64)
        .sum()
}

fn paid(lines: &[Line]) -> usize {
    lines.iter().map(|l| l.days_on * l.length).sum()
}

/// Rounds of ruin and recreate after the first fill.
pub const IMPROVE_ROUNDS: usize = 300;

/// Suggests lines covering `required` (one week of slots, `7 * day`), on
/// top of people already `on_duty`: a greedy fill (see [`fill`]), lines
/// made redundant dropped, then rounds of ruin and recreate — take out a
/// few lines (chosen by a seeded generator, so the answer is the same
/// every run), fill again, keep the result if it is short no more and
/// pays fewer hours.
pub fn suggest_week(required: &[u32], on_duty: &[u32], rules: &WeeklyRules) -> WeeklyPlan {
    let day = rules.day;
    let week = 7 * day;
    assert_eq!(required.len(), week, "one week of slots");
    let mut on: Vec<u32> = on_duty.to_vec();
    on.resize(week, 0);
    let mut lengths = rules.lengths.clone();
    lengths.retain(|&l| l > 0 && l <= 2 * day);
    lengths.sort_unstable();
    lengths.dedup();
    let mut lines: Vec<Line> = Vec::new();
    fill(&mut on, &mut lines, required, rules, &lengths);
    let mut removed = prune(&mut on, &mut lines, required, day);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..IMPROVE_ROUNDS {
        if lines.len() < 2 {
            break;
        }
        let (mut on2, mut lines2) = (on.clone(), lines.clone());
        let take = 2 + (lines2.len() / 10).min(4);
        for _ in 0..take.min(lines2.len()) {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = (x >> 33) as usize % lines2.len();
            let l = lines2.remove(i);
            add(&mut on2, &l.on_duty_slots(day), -1);
        }
        fill(&mut on2, &mut lines2, required, rules, &lengths);
        prune(&mut on2, &mut lines2, required, day);
        let better =
            short_of(&on2, required) <= short_of(&on, required) && paid(&lines2) < paid(&lines);
        if better {
            removed += 1;
            on = on2;
            lines = lines2;
        }
    }
    WeeklyPlan {
        coverage: coverage(required, &on),
        slots_worked: paid(&lines),
        on_duty: on,
        lines,
        removed,
    }
}

/// A cycle of `weeks` weeks: for each person, the line worked in each
/// week. People rotate through groups of `weeks` lines, each group dealt
/// from the lines sorted by days off and start, so a group mixes weekends
/// off and on, days and nights; a line is worked by one person each week.
pub fn cycle(lines: &[Line], weeks: usize) -> Vec<Vec<usize>> {
    let weeks = weeks.max(1);
    let n = lines.len();
    if n == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (lines[i].first_day, lines[i].start, lines[i].length));
    let groups = n.div_ceil(weeks);
    let mut group_of: Vec<Vec<usize>> = vec![Vec::new(); groups];
    for (k, &i) in order.iter().enumerate() {
        group_of[k % groups].push(i);
    }
    let mut people = Vec::with_capacity(n);
    for g in &group_of {
        for p in 0..g.len() {
            people.push((0..weeks).map(|w| g[(p + w) % g.len()]).collect());
        }
    }
    people
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(day: usize) -> WeeklyRules {
        WeeklyRules {
            day,
            lengths: vec![8],
            start_every: 1,
            days_on: 5,
            break_len: 1,
            break_after: 2,
            break_before_end: 2,
            break_from_length: 6,
            max_lines: 500,
        }
    }

    #[test]
    fn a_week_with_busy_weekends_is_covered_with_breaks_and_nights() {
        // 12 slots a day (2 hours each): 3 people round the clock on
        // weekdays, 5 at weekends.
        let day = 12;
        let required: Vec<u32> = (0..7 * day)
            .map(|p| if p / day >= 5 { 5 } else { 3 })
            .collect();
        let plan = suggest_week(&required, &vec![0; 7 * day], &rules(day));
        assert_eq!(plan.coverage.short, 0, "{:?}", plan.coverage);
        assert!(
            plan.lines.iter().any(|l| l.is_night(day)),
            "someone works nights"
        );
        assert!(plan
            .lines
            .iter()
            .all(|l| l.breaks.iter().all(|b| b.is_some())));
        // Every person works 5 days in a row and has 2 off.
        assert!(plan.lines.iter().all(|l| l.days().count() == 5));
        // Not wildly over: paid slots within 1.6 times the person-slots needed.
        let need: u32 = required.iter().sum();
        assert!(
            (plan.slots_worked as f64) < 1.41 * need as f64,
            "{} for {need}",
            plan.slots_worked
        );
        // The on-duty count is what the lines say.
        let mut on = vec![0u32; 7 * day];
        for l in &plan.lines {
            for p in l.on_duty_slots(day) {
                on[p] += 1;
            }
        }
        assert_eq!(on, plan.on_duty);
    }

    #[test]
    fn a_four_week_cycle_shares_the_lines_out() {
        let day = 12;
        let required: Vec<u32> = (0..7 * day)
            .map(|p| if p / day >= 5 { 5 } else { 3 })
            .collect();
        let plan = suggest_week(&required, &vec![0; 7 * day], &rules(day));
        let c = cycle(&plan.lines, 4);
        assert_eq!(c.len(), plan.lines.len());
        // Each week, every line is worked by exactly one person.
        for w in 0..4 {
            let mut seen: Vec<usize> = c.iter().map(|p| p[w]).collect();
            seen.sort();
            assert_eq!(seen, (0..plan.lines.len()).collect::<Vec<_>>());
        }
        // Someone whose first week works the weekend has one off in the cycle.
        let weekend = |i: usize| plan.lines[i].works_weekend();
        assert!(c
            .iter()
            .any(|p| weekend(p[0]) && p.iter().any(|&i| !weekend(i))));
    }

    #[test]
    fn nothing_needed_nothing_suggested() {
        let plan = suggest_week(&vec![0; 84], &vec![0; 84], &rules(12));
        assert!(plan.lines.is_empty());
        assert_eq!(plan.coverage.covered_share, 1.0);
    }
}
