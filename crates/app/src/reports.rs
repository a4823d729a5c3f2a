//! KPI rows as reports and the wallboard read them: a period's intervals,
//! or London days.

use crate::time::{day_start, london};
use kpi::{Counts, Dimension, Row};
use model::Timestamp;
use std::collections::BTreeMap;

/// Rows of the period, by interval or merged into London days, overall
/// and per queue, in time order.
pub fn rows(all: Vec<Row>, from: Timestamp, to: Timestamp, by_day: bool) -> Vec<Row> {
    let tz = london();
    let mut grouped: BTreeMap<(Timestamp, Dimension), Counts> = BTreeMap::new();
    for r in all {
        let Some(start) = r.interval_start else {
            continue;
        };
        if start < from || start >= to {
            continue;
        }
        if !matches!(r.dimension, Dimension::Overall | Dimension::Queue(_)) {
            continue;
        }
        let key = if by_day { day_start(&tz, start) } else { start };
        grouped
            .entry((key, r.dimension))
            .or_default()
            .merge(&r.counts);
    }
    grouped
        .into_iter()
        .map(|((start, dimension), mut counts)| Row {
            figures: counts.figures(),
            dimension,
            interval_start: Some(start),
            counts,
        })
        .collect()
}
