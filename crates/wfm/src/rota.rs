//! Rota coverage against a staffing requirement, and a greedy suggestion
//! of shifts that close the gaps.
//!
//! Time is in interval slots from the start of the requirement.

use serde::Serialize;

/// One planned shift, in slots: working `[start, end)` less its breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedShift {
    pub who: String,
    pub start: usize,
    pub end: usize,
    pub breaks: Vec<(usize, usize)>,
}

/// People on duty per slot.
pub fn on_duty(slots: usize, shifts: &[PlannedShift]) -> Vec<u32> {
    let mut n = vec![0u32; slots];
    for s in shifts {
        for (i, x) in n
            .iter_mut()
            .enumerate()
            .take(s.end.min(slots))
            .skip(s.start)
        {
            if !s.breaks.iter().any(|&(b0, b1)| (b0..b1).contains(&i)) {
                *x += 1;
            }
        }
    }
    n
}

/// How well a rota covers a requirement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    /// Σ min(on duty, required) / Σ required: 1.0 is fully covered.
    pub covered_share: f64,
    /// Slots with fewer people than required.
    pub understaffed_slots: usize,
    /// Slots with more people than required.
    pub overstaffed_slots: usize,
    /// Person-slots short, and person-slots spare.
    pub short: u64,
    pub spare: u64,
}

pub fn coverage(required: &[u32], on_duty: &[u32]) -> Coverage {
    let total: u64 = required.iter().map(|&r| r as u64).sum();
    let covered: u64 = required
        .iter()
        .zip(on_duty)
        .map(|(&r, &d)| r.min(d) as u64)
        .sum();
    Coverage {
        covered_share: if total == 0 {
            1.0
        } else {
            covered as f64 / total as f64
        },
        understaffed_slots: required.iter().zip(on_duty).filter(|(r, d)| d < r).count(),
        overstaffed_slots: required.iter().zip(on_duty).filter(|(r, d)| d > r).count(),
        short: required
            .iter()
            .zip(on_duty)
            .map(|(&r, &d)| r.saturating_sub(d) as u64)
            .sum(),
        spare: required
            .iter()
            .zip(on_duty)
            .map(|(&r, &d)| d.saturating_sub(r) as u64)
            .sum(),
    }
}

/// Limits of the suggestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftRules {
    /// Length of a suggested shift, in slots (breaks not modelled).
    pub length: usize,
    /// Suggested shifts may start only on multiples of this many slots.
    pub start_every: usize,
    /// At most this many shifts are suggested.
    pub max_new: usize,
}

/// Suggests shifts, one at a time, each where it removes the most
/// person-slots of shortage (earliest on a tie), until no shift helps or
/// `max_new` is reached. A simple, explainable heuristic: it does not move
/// existing shifts, and it may leave short gaps a whole shift would
/// over-cover.
pub fn suggest(required: &[u32], on_duty: &[u32], rules: &ShiftRules) -> Vec<(usize, usize)> {
    let n = required.len();
    let mut short: Vec<u32> = required
        .iter()
        .zip(on_duty)
        .map(|(&r, &d)| r.saturating_sub(d))
        .collect();
    let mut out = Vec::new();
    if rules.length == 0 || rules.start_every == 0 {
        return out;
    }
    while out.len() < rules.max_new {
        let mut best: Option<(u64, usize)> = None;
        let mut s = 0;
        while s < n {
            let gain: u64 = short[s..(s + rules.length).min(n)]
                .iter()
                .filter(|&&x| x > 0)
                .count() as u64;
            if gain > 0 && best.is_none_or(|(g, _)| gain > g) {
                best = Some((gain, s));
            }
            s += rules.start_every;
        }
        let Some((_, s)) = best else { break };
        let e = (s + rules.length).min(n);
        for x in &mut short[s..e] {
            *x = x.saturating_sub(1);
        }
        out.push((s, e));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_and_a_suggestion_that_closes_the_gap() {
        // 8 slots: need 2 in the middle 4.
        let req = [0, 0, 2, 2, 2, 2, 0, 0];
        let rota = vec![PlannedShift {
            who: "a".into(),
            start: 1,
            end: 6,
            breaks: vec![(3, 4)],
        }];
        let duty = on_duty(8, &rota);
        assert_eq!(duty, vec![0, 1, 1, 0, 1, 1, 0, 0]);
        let c = coverage(&req, &duty);
        assert_eq!((c.understaffed_slots, c.short, c.spare), (4, 5, 1));
        assert!((c.covered_share - 3.0 / 8.0).abs() < 1e-12);
        let s = suggest(
            &req,
            &duty,
            &ShiftRules {
                length: 4,
                start_every: 1,
                max_new: 10,
            },
        );
        let mut duty2 = duty.clone();
        for &(a, b) in &s {
            for x in &mut duty2[a..b] {
                *x += 1;
            }
        }
        assert_eq!(coverage(&req, &duty2).short, 0, "{s:?}");
        assert!(s.len() <= 3, "{s:?}");
    }
}
