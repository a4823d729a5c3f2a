//! KPI rows as reports and the wallboard read them: a period's intervals,
//! or London days.

use crate::time::{day_start, iso, london};
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

/// Counts by band, with the band's label.
pub type Bands = Vec<(&'static str, u64)>;

/// Over the whole period (the overall rows): how long answered callers
/// waited, in bands, and when callers who gave up did so.
pub fn bands(rows: &[Row]) -> (Bands, Bands) {
    const EDGES: [(u32, &str); 6] = [
        (10_000, "under 10 s"),
        (20_000, "10–20 s"),
        (30_000, "20–30 s"),
        (60_000, "30–60 s"),
        (120_000, "1–2 min"),
        (300_000, "2–5 min"),
    ];
    let mut answer: Bands = EDGES.iter().map(|e| (e.1, 0)).collect();
    answer.push(("over 5 min", 0));
    let mut c = Counts::default();
    for r in rows.iter().filter(|r| r.dimension == Dimension::Overall) {
        c.merge(&r.counts);
    }
    for &w in &c.waits_ms {
        let k = EDGES.iter().position(|e| w < e.0).unwrap_or(EDGES.len());
        answer[k].1 += 1;
    }
    let abandon = vec![
        ("within 5 s (short)", c.abandoned_short),
        ("under 30 s", c.abandoned_under_30s),
        ("30–60 s", c.abandoned_30_to_60s),
        ("over 60 s", c.abandoned_over_60s),
    ];
    (answer, abandon)
}

fn f(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:.4}"))
}

/// The CSV: one line per period and dimension, counts then figures.
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from(
        "period_start,dimension,queue,offered,answered,answered_within_target,abandoned,abandoned_short,callbacks_requested,callbacks_made,service_level,abandonment_rate,asa_seconds,p95_answer_seconds,aht_seconds,callbacks_within_target\n",
    );
    for r in rows {
        let (dim, queue) = match &r.dimension {
            Dimension::Queue(q) => ("queue", q.0.to_string()),
            _ => ("overall", String::new()),
        };
        let c = &r.counts;
        let x = &r.figures;
        out.push_str(&format!(
            "{},{dim},{queue},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.interval_start.map(iso).unwrap_or_default(),
            c.offered,
            c.answered,
            c.answered_within_target,
            c.abandoned,
            c.abandoned_short,
            c.callbacks_requested,
            c.callbacks_made,
            f(x.service_level),
            f(x.abandonment_rate),
            f(x.asa_seconds),
            f(x.p95_answer_seconds),
            f(x.aht_seconds),
            f(x.callbacks_within_target),
        ));
    }
    out
}

#[cfg(test)]
mod band_tests {
    use super::*;
    use model::QueueId;

    fn overall(mut counts: Counts) -> Row {
        Row {
            figures: counts.figures(),
            dimension: Dimension::Overall,
            interval_start: Some(Timestamp(1_800_000_000_000)),
            counts,
        }
    }

    #[test]
    fn waits_fall_in_their_band_at_each_edge_and_queue_rows_are_not_counted_twice() {
        let waits = vec![
            0, 9_999, 10_000, 19_999, 20_000, 29_999, 30_000, 59_999, 60_000, 119_999, 120_000,
            299_999, 300_000, 3_600_000,
        ];
        let c = Counts {
            waits_ms: waits.clone(),
            abandoned: 10,
            abandoned_short: 1,
            abandoned_under_30s: 2,
            abandoned_30_to_60s: 3,
            abandoned_over_60s: 4,
            ..Counts::default()
        };
        let mut queue = overall(c.clone());
        queue.dimension = Dimension::Queue(QueueId(2));
        let (answer, abandon) = bands(&[overall(c.clone()), queue, overall(c)]);
        assert_eq!(
            answer,
            vec![
                ("under 10 s", 4),
                ("10–20 s", 4),
                ("20–30 s", 4),
                ("30–60 s", 4),
                ("1–2 min", 4),
                ("2–5 min", 4),
                ("over 5 min", 4),
            ]
        );
        assert_eq!(
            abandon,
            vec![
                ("within 5 s (short)", 2),
                ("under 30 s", 4),
                ("30–60 s", 6),
                ("over 60 s", 8),
            ]
        );
    }

    #[test]
    fn the_csv_has_a_column_for_each_figure_in_its_place() {
        let c = Counts {
            offered: 10,
            answered: 8,
            answered_within_target: 6,
            abandoned: 2,
            abandoned_short: 1,
            callbacks_requested: 3,
            callbacks_made: 2,
            callbacks_made_within_target: 1,
            wait_ms_answered_total: 8 * 12_500,
            waits_ms: vec![12_500; 8],
            ..Counts::default()
        };
        let mut q = overall(Counts::default());
        q.dimension = Dimension::Queue(QueueId(4));
        let text = csv(&[overall(c.clone()), q]);
        let lines: Vec<&str> = text.lines().collect();
        let header: Vec<&str> = lines[0].split(',').collect();
        assert_eq!(header.len(), 16);
        let col = |line: &str, name: &str| {
            let i = header
                .iter()
                .position(|h| *h == name)
                .unwrap_or_else(|| panic!("{name}"));
            line.split(',').nth(i).unwrap().to_string()
        };
        let f = c.clone().figures();
        let fmt = |x: Option<f64>| format!("{:.4}", x.unwrap());
        for (name, want) in [
            ("period_start", "2027-01-15T08:00:00Z".to_string()),
            ("dimension", "overall".into()),
            ("queue", String::new()),
            ("offered", "10".into()),
            ("answered", "8".into()),
            ("answered_within_target", "6".into()),
            ("abandoned", "2".into()),
            ("abandoned_short", "1".into()),
            ("callbacks_requested", "3".into()),
            ("callbacks_made", "2".into()),
            ("service_level", fmt(f.service_level)),
            ("abandonment_rate", fmt(f.abandonment_rate)),
            ("asa_seconds", "12.5000".into()),
            ("callbacks_within_target", "0.5000".into()),
        ] {
            assert_eq!(col(lines[1], name), want, "{name}: {}", lines[1]);
        }
        // Figures with nothing to divide by are empty, not 0 or NaN.
        assert_eq!(col(lines[2], "dimension"), "queue");
        assert_eq!(col(lines[2], "queue"), "4");
        assert_eq!(col(lines[2], "service_level"), "");
        assert_eq!(col(lines[2], "asa_seconds"), "");
    }
}
