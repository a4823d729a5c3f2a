//! Days that are not like their weekday: holidays (known from a calendar
//! or listed), dates the planner excluded, and anomalies found by
//! comparing each day with the same weekday in the weeks around it. They
//! are refilled for fitting and left out of scoring.

use crate::series::Series;
use jiff::civil::Date;
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DayKind {
    Ordinary,
    /// A bank holiday or a holiday in the service's own list.
    Holiday,
    /// Listed by the planner as not to learn from (an event, an outage).
    Excluded,
    /// Found: its calls are far from the same weekday's around it.
    Anomaly,
}

/// What the caller knows about the days.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known {
    pub holidays: BTreeSet<Date>,
    pub excluded: BTreeSet<Date>,
    /// Days the planner says are ordinary: never flagged.
    pub ordinary: BTreeSet<Date>,
    /// Look for anomalies at all.
    pub detect: bool,
}

/// A day found not to look like its weekday.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    pub date: Date,
    pub calls: f64,
    /// The median of the same weekday in the weeks around it.
    pub expected: f64,
    /// calls / expected.
    pub ratio: f64,
}

/// Weeks either side compared.
const PEERS: i64 = 4;

/// Days (by number from the series' first date) of the first `upto`
/// values: their totals, and whether the day is complete there.
pub(crate) fn day_totals(s: &Series, upto: usize) -> (Vec<f64>, Vec<bool>) {
    if upto == 0 {
        return (Vec::new(), Vec::new());
    }
    let days = s.day_of(upto - 1) + 1;
    let mut tot = vec![0.0; days];
    let mut count = vec![0usize; days];
    for (i, v) in s.values[..upto].iter().enumerate() {
        let d = s.day_of(i);
        tot[d] += v;
        count[d] += 1;
    }
    let complete = count.iter().map(|&c| c == s.slots_per_day).collect();
    (tot, complete)
}

/// The kind of every day in the first `upto` values, and the anomalies
/// found among them (using only those values).
pub fn classify(s: &Series, upto: usize, known: &Known) -> (Vec<DayKind>, Vec<Anomaly>) {
    let (tot, complete) = day_totals(s, upto);
    let days = tot.len();
    let mut kind: Vec<DayKind> = (0..days)
        .map(|d| {
            let date = s.date_of_day(d);
            if known.excluded.contains(&date) {
                DayKind::Excluded
            } else if known.holidays.contains(&date) {
                DayKind::Holiday
            } else {
                DayKind::Ordinary
            }
        })
        .collect();
    let mut found = Vec::new();
    if !known.detect {
        return (kind, found);
    }
    // Two passes: the second compares with peers the first did not flag.
    for _ in 0..2 {
        let mut cand: Vec<(usize, f64, f64)> = Vec::new();
        for d in 0..days {
            if kind[d] != DayKind::Ordinary || !complete[d] {
                continue;
            }
            let mut peers: Vec<f64> = (-PEERS..=PEERS)
                .filter(|&j| j != 0)
                .filter_map(|j| {
                    let p = d as i64 + 7 * j;
                    (p >= 0 && (p as usize) < days)
                        .then_some(p as usize)
                        .filter(|&p| complete[p] && kind[p] == DayKind::Ordinary)
                })
                .map(|p| tot[p])
                .collect();
            if peers.len() < 2 {
                continue;
            }
            let e = crate::methods::median(&mut peers);
            cand.push((d, ((tot[d] + 1.0) / (e + 1.0)).ln(), e));
        }
        if cand.len() < 8 {
            break;
        }
        // A robust spread of the log ratios: the MAD, scaled to a σ.
        let mut l: Vec<f64> = cand.iter().map(|c| c.1).collect();
        l.sort_by(|a, b| a.total_cmp(b));
        let med = l[l.len() / 2];
        let mut dev: Vec<f64> = l.iter().map(|x| (x - med).abs()).collect();
        dev.sort_by(|a, b| a.total_cmp(b));
        let sigma = 1.4826 * dev[dev.len() / 2];
        let mut any = false;
        for (d, x, e) in cand {
            let date = s.date_of_day(d);
            if known.ordinary.contains(&date) {
                continue;
            }
            if x.abs() > (4.0 * sigma).max(0.25) && (tot[d] - e).abs() > 4.0 * (e + 1.0).sqrt() {
                kind[d] = DayKind::Anomaly;
                found.push(Anomaly {
                    date,
                    calls: tot[d],
                    expected: e,
                    ratio: if e > 0.0 { tot[d] / e } else { f64::INFINITY },
                });
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    found.sort_by_key(|a| a.date);
    (kind, found)
}

/// The first `upto` values with every day that is not ordinary replaced,
/// slot by slot, by the median of the ordinary same weekdays around it
/// (4 weeks either side, then 8, within those values).
pub fn refill(s: &Series, upto: usize, kind: &[DayKind]) -> Vec<f64> {
    let mut y = s.values[..upto].to_vec();
    let day = s.slots_per_day;
    let (_, complete) = day_totals(s, upto);
    let days = kind.len();
    // Index of slot 0 of day d (may be negative for a partial first day).
    let base = |d: usize| (d * day) as i64 - s.first_slot as i64;
    for d in 0..days {
        if kind[d] == DayKind::Ordinary {
            continue;
        }
        for reach in [PEERS, 2 * PEERS] {
            let peers: Vec<usize> = (-reach..=reach)
                .filter(|&j| j != 0)
                .filter_map(|j| {
                    let p = d as i64 + 7 * j;
                    (p >= 0 && (p as usize) < days).then_some(p as usize)
                })
                .filter(|&p| complete[p] && kind[p] == DayKind::Ordinary)
                .collect();
            if peers.is_empty() {
                continue;
            }
            let mut buf = Vec::with_capacity(peers.len());
            for k in 0..day {
                let i = base(d) + k as i64;
                if i < 0 || i as usize >= upto {
                    continue;
                }
                buf.clear();
                buf.extend(
                    peers
                        .iter()
                        .map(|&p| s.values[(base(p) + k as i64) as usize]),
                );
                y[i as usize] = crate::methods::median(&mut buf);
            }
            break;
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(days: usize, f: impl Fn(usize) -> f64) -> Series {
        Series {
            first_date: "2026-01-05".parse().unwrap(),
            first_slot: 0,
            slots_per_day: 4,
            values: (0..days * 4).map(|i| f(i / 4)).collect(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn a_collapsed_day_is_found_refilled_and_a_confirmed_one_is_not() {
        // 10 weeks of about 100 calls a slot, day 40 nearly empty.
        let s = series(70, |d| if d == 40 { 3.0 } else { 100.0 + (d % 3) as f64 });
        let known = Known {
            detect: true,
            ..Default::default()
        };
        let (kind, found) = classify(&s, s.values.len(), &known);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].date, s.date_of_day(40));
        assert_eq!(kind[40], DayKind::Anomaly);
        let y = refill(&s, s.values.len(), &kind);
        assert!(
            y[40 * 4..41 * 4].iter().all(|v| *v > 99.0),
            "{:?}",
            &y[160..164]
        );
        let ok = Known {
            ordinary: [s.date_of_day(40)].into(),
            ..known
        };
        assert!(classify(&s, s.values.len(), &ok).1.is_empty());
        // Ordinary noise is not an anomaly.
        let quiet = series(70, |d| 100.0 + (d * 7 % 11) as f64);
        assert!(classify(&quiet, quiet.values.len(), &known_detect())
            .1
            .is_empty());
    }

    fn known_detect() -> Known {
        Known {
            detect: true,
            ..Default::default()
        }
    }
}
