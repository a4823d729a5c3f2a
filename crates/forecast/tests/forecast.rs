//! Forecasting: the methods recover a known weekly pattern; the rolling
//! back-test is honest (an origin's forecast never sees what came after
//! it); holidays and odd days are handled; the bands hold what they
//! claim; bad histories are refused by row or repaired and said.

use forecast::{forecast, Choice, DayKind, ForecastError, Method, Options, Row, Series};
use jiff::civil::{Date, Time};

fn lcg(x: &mut u64) -> f64 {
    *x = x
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*x >> 11) as f64 / (1u64 << 53) as f64
}

/// A Poisson draw (by inversion; means here are small enough).
fn poisson(mean: f64, x: &mut u64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    if mean > 60.0 {
        // Normal approximation for large means.
        let s: f64 = (0..12).map(|_| lcg(x)).sum::<f64>() - 6.0;
        return (mean + s * mean.sqrt()).round().max(0.0);
    }
    let (mut k, mut p, l) = (0.0, 1.0, (-mean).exp());
    loop {
        p *= lcg(x);
        if p <= l {
            return k;
        }
        k += 1.0;
    }
}

const START: &str = "2026-01-05"; // a Monday

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

fn add_days(d: Date, n: usize) -> Date {
    d.checked_add(jiff::Span::new().days(n as i64)).unwrap()
}

/// `weeks` of 30-minute intervals from a Monday: a daily and weekly shape,
/// Poisson arrivals around `scale` at the daily peak; `day_factor` scales
/// whole days (holidays, outages).
fn synthetic(weeks: usize, scale: f64, seed: u64, day_factor: impl Fn(Date) -> f64) -> Vec<Row> {
    let mut rows = Vec::new();
    let start = date(START);
    let mut x = seed;
    for day in 0..weeks * 7 {
        let d = add_days(start, day);
        let weekly = [1.0, 0.9, 0.9, 0.9, 0.85, 0.4, 0.3][day % 7] * day_factor(d);
        for slot in 0..48 {
            let hour = slot as f64 / 2.0;
            let daily = (-((hour - 11.0) / 4.0).powi(2)).exp();
            rows.push(Row {
                date: d,
                start: Time::constant((slot / 2) as i8, (slot % 2 * 30) as i8, 0, 0),
                calls: poisson(scale * weekly * daily, &mut x),
            });
        }
    }
    rows
}

fn plain() -> Options {
    Options {
        england_and_wales: false,
        ..Options::default()
    }
}

#[test]
fn every_method_and_auto_recover_a_weekly_pattern_over_eight_origins() {
    let s = Series::from_rows(&synthetic(20, 200.0, 7, |_| 1.0), 30).unwrap();
    for m in Method::CANDIDATES {
        let f = forecast(
            &s,
            14,
            &Options {
                choice: Choice::Only(m),
                ..plain()
            },
        )
        .unwrap();
        let b = &f.backtest[0];
        assert_eq!(f.origins.len(), 8, "{m:?}");
        assert!(b.wape_day < 0.04, "{m:?}: {b:?}");
        assert!(b.wape_interval < 0.15, "{m:?}: {b:?}");
        assert_eq!(f.values.len(), 14 * 48);
    }
    let auto = forecast(&s, 7, &plain()).unwrap();
    assert_eq!(auto.method, Method::Combination);
    assert_eq!(auto.backtest.len(), 1 + Method::CANDIDATES.len());
    assert!(auto.combined.len() >= 3, "{:?}", auto.combined);
    let naive = auto
        .backtest
        .iter()
        .find(|b| b.method == Method::SeasonalNaive)
        .unwrap();
    // Last week alone carries a week of noise; the combination does not.
    assert!(
        auto.backtest[0].wape_interval < naive.wape_interval,
        "{:?}",
        auto.backtest
    );
    let sp = &auto.backtest[0].wape_interval_spread;
    assert!(
        sp.min <= sp.median && sp.median <= sp.max && sp.min > 0.0,
        "{sp:?}"
    );
}

#[test]
fn an_origin_never_sees_what_came_after_it() {
    let rows = synthetic(16, 120.0, 3, |_| 1.0);
    let s = Series::from_rows(&rows, 30).unwrap();
    let f = forecast(&s, 7, &plain()).unwrap();
    let first = &f.runs[0];
    // Everything from the first origin on is changed beyond recognition.
    let mut changed = s.clone();
    for v in &mut changed.values[first.start..] {
        *v = *v * 3.0 + 50.0;
    }
    let g = forecast(&changed, 7, &plain()).unwrap();
    assert_eq!(g.runs[0].start, first.start);
    assert_eq!(
        g.runs[0].values, first.values,
        "the first back-test used later data"
    );
    assert_eq!(g.runs[0].combined, first.combined);
    // ... and the scores are of those forecasts against what happened.
    assert_ne!(g.backtest[0].wape_interval, f.backtest[0].wape_interval);
}

#[test]
fn the_bank_forecast_beats_the_weekday_mean_it_used_to_lose_to() {
    // On main, asked for 14 days with no holidays listed, the chosen method
    // (a 6-week seasonal average, dragged down by September's holidays) did
    // worse per day than the same-weekday mean of 8 weeks. Now the odd days
    // are found, and auto is judged on eight origins.
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/bank-callcentre-1999-jan-sep-6min.csv"
    );
    let text = std::fs::read_to_string(data).expect("the shared bank data beside the repository");
    let rows = forecast::parse_history(&text).unwrap();
    let s = Series::from_rows(&rows, 30).unwrap();
    let f = forecast(&s, 14, &plain()).unwrap();
    let get = |m: Method| f.backtest.iter().find(|b| b.method == m).unwrap().clone();
    let (auto, mean, old) = (
        get(Method::Combination),
        get(Method::WeekdayMean),
        get(Method::SeasonalAverage),
    );
    assert_eq!(f.origins.len(), 8);
    assert!(auto.wape_day < mean.wape_day, "{auto:?}\n{mean:?}");
    assert!(
        auto.wape_interval < mean.wape_interval,
        "{auto:?}\n{mean:?}"
    );
    assert!(old.wape_day > mean.wape_day, "the old choice: {old:?}");
    // Rosh Hashanah and Yom Kippur are found without being listed.
    let found: Vec<String> = f.anomalies.iter().map(|a| a.date.to_string()).collect();
    for d in ["1999-09-12", "1999-09-20"] {
        assert!(found.contains(&d.to_string()), "{found:?}");
    }
    // The bands hold about what they say, origin by origin.
    let (c80, c95) = (f.bands.coverage80.unwrap(), f.bands.coverage95.unwrap());
    assert!(
        (0.72..0.88).contains(&c80) && (0.90..0.99).contains(&c95),
        "{c80} {c95}"
    );
}

#[test]
fn bank_holidays_are_known_learned_from_and_forecast_ahead() {
    // A call centre at 40% on bank holidays; 66 weeks from January 2026
    // hold the Easter, May and August holidays and Christmas.
    let holiday = |d: Date| {
        if flow::holidays::is_england_and_wales(d) {
            0.4
        } else {
            1.0
        }
    };
    let rows = synthetic(66, 150.0, 5, holiday);
    // Cut the history just before the 2027 Easter holidays (26 and 29 March).
    let cut = rows
        .iter()
        .position(|r| r.date == date("2027-03-20"))
        .unwrap();
    let s = Series::from_rows(&rows[..cut], 30).unwrap();
    let f = forecast(&s, 14, &Options::default()).unwrap();
    assert!(
        f.holidays_in_history.contains(&date("2026-12-25")),
        "{:?}",
        f.holidays_in_history
    );
    assert_eq!(
        f.holidays_in_horizon,
        vec![date("2027-03-26"), date("2027-03-29")]
    );
    assert!(
        f.anomalies.is_empty(),
        "holidays are not anomalies: {:?}",
        f.anomalies
    );
    assert!(
        f.notes.iter().any(|n| n.contains("forecast from the")),
        "{:?}",
        f.notes
    );
    // Good Friday forecast near 40% of an ordinary Friday.
    let day_total = |k: usize| f.values[k * 48..(k + 1) * 48].iter().sum::<f64>();
    let good_friday = (date("2027-03-26") - date("2027-03-20")).get_days() as usize;
    let ratio = day_total(good_friday) / day_total(good_friday + 7);
    assert!((0.33..0.47).contains(&ratio), "holiday ratio {ratio}");
    // Without the calendar, the same days look odd and are found.
    let g = forecast(&s, 14, &plain()).unwrap();
    assert!(
        g.anomalies.iter().any(|a| a.date == date("2026-12-25")),
        "{:?}",
        g.anomalies
    );
    assert!(g.holidays_in_horizon.is_empty());
    // A holiday ahead with none behind: forecast as a Sunday, and said.
    let short = Series::from_rows(&rows[..48 * 7 * 10], 30).unwrap(); // to 2026-03-15
    let h = forecast(
        &short,
        28,
        &Options {
            england_and_wales: false,
            holidays: vec![date("2026-03-25")],
            ..Options::default()
        },
    )
    .unwrap();
    assert!(
        h.notes.iter().any(|n| n.contains("last 4 Sundays")),
        "{:?}",
        h.notes
    );
}

#[test]
fn an_outage_is_found_left_out_of_scoring_and_can_be_called_ordinary() {
    let outage = date("2026-04-15");
    let rows = synthetic(16, 150.0, 9, |d| if d == outage { 0.05 } else { 1.0 });
    let s = Series::from_rows(&rows, 30).unwrap();
    let f = forecast(&s, 7, &plain()).unwrap();
    assert_eq!(f.anomalies.len(), 1, "{:?}", f.anomalies);
    assert_eq!(f.anomalies[0].date, outage);
    assert!(f.anomalies[0].ratio < 0.1);
    // Scored on ordinary days, the outage does not count; on all days, it does.
    let b = &f.backtest[0];
    assert!(b.wape_day_all_days > b.wape_day, "{b:?}");
    let (kind, _) = forecast::clean::classify(
        &s,
        s.values.len(),
        &forecast::Known {
            ordinary: [outage].into(),
            detect: true,
            ..Default::default()
        },
    );
    assert!(kind.iter().all(|k| *k == DayKind::Ordinary));
    let g = forecast(
        &s,
        7,
        &Options {
            ordinary: vec![outage],
            ..plain()
        },
    )
    .unwrap();
    assert!(g.anomalies.is_empty());
}

#[test]
fn finer_history_is_summed_and_future_intervals_are_dated() {
    let rows = synthetic(5, 100.0, 1, |_| 1.0);
    let s30 = Series::from_rows(&rows, 30).unwrap();
    let s60 = Series::from_rows(&rows, 60).unwrap();
    assert_eq!(s60.values.len() * 2, s30.values.len());
    assert_eq!(s60.values[10], s30.values[20] + s30.values[21]);
    let (d, t) = s30.when(s30.values.len());
    assert_eq!(
        (d.to_string(), t.hour(), t.minute()),
        ("2026-02-09".to_string(), 0, 0)
    );
}

/// Rows of a day at 30 minutes with calls = slot number.
fn day_rows(d: &str) -> Vec<Row> {
    (0..48)
        .map(|k| Row {
            date: date(d),
            start: Time::constant((k / 2) as i8, (k % 2 * 30) as i8, 0, 0),
            calls: k as f64,
        })
        .collect()
}

#[test]
fn the_london_clock_changes_are_repaired_and_said() {
    // 2026-03-29: the clocks go forward, 01:00 to 02:00 does not happen.
    let mut rows = day_rows("2026-03-28");
    let mut spring = day_rows("2026-03-29");
    spring.retain(|r| r.start.hour() != 1);
    rows.extend(spring);
    let s = Series::from_rows(&rows, 30).unwrap();
    assert_eq!(s.values.len(), 96);
    // The missing 01:00 and 01:30 filled from 00:30 (1) and 02:00 (4).
    assert_eq!(&s.values[48 + 2..48 + 4], &[2.5, 2.5]);
    assert!(
        s.notes[0].contains("2026-03-29: the clocks went forward"),
        "{:?}",
        s.notes
    );
    // 2026-10-25: the clocks go back, 01:00 to 02:00 happens twice.
    let mut autumn = day_rows("2026-10-25");
    let again: Vec<Row> = autumn[2..4]
        .iter()
        .map(|r| Row {
            calls: r.calls + 10.0,
            ..r.clone()
        })
        .collect();
    autumn.splice(4..4, again);
    let s = Series::from_rows(&autumn, 30).unwrap();
    assert_eq!(s.values.len(), 48);
    assert_eq!(&s.values[2..4], &[7.0, 8.0]); // (2 + 12) / 2, (3 + 13) / 2
    assert!(s.notes[0].contains("went back"), "{:?}", s.notes);
    // The same hour missing on another day is a gap, named by row.
    let mut other = day_rows("2026-03-22");
    other.retain(|r| r.start.hour() != 1);
    assert_eq!(
        Series::from_rows(&other, 30).unwrap_err(),
        ForecastError::Row {
            row: 4,
            problem: "leaves a gap: expected 2026-03-22 01:00".into()
        }
    );
}

#[test]
fn bad_histories_are_refused_by_row() {
    let mut rows = synthetic(3, 100.0, 1, |_| 1.0);
    rows.remove(100);
    assert_eq!(
        Series::from_rows(&rows, 30).unwrap_err(),
        ForecastError::Row {
            row: 102,
            problem: "leaves a gap: expected 2026-01-07 02:00".into()
        }
    );
    let mut rows = synthetic(3, 100.0, 1, |_| 1.0);
    rows[50] = rows[49].clone();
    assert!(matches!(
        Series::from_rows(&rows, 30).unwrap_err(),
        ForecastError::Row { row: 52, .. }
    ));
    let mut rows = synthetic(3, 100.0, 1, |_| 1.0);
    rows[5].calls = -1.0;
    assert_eq!(
        Series::from_rows(&rows, 30).unwrap_err().to_string(),
        "row 7: calls -1 is not zero or more"
    );
    assert!(Series::from_rows(&synthetic(3, 100.0, 1, |_| 1.0), 7)
        .unwrap_err()
        .to_string()
        .contains("does not divide a day"));
    assert!(Series::from_rows(&[], 30).is_err());
    let s = Series::from_rows(&synthetic(10, 100.0, 1, |_| 1.0), 30).unwrap();
    for bad in [0, forecast::MAX_ORIGINS + 1] {
        assert!(forecast(
            &s,
            7,
            &Options {
                origins: bad,
                ..plain()
            }
        )
        .unwrap_err()
        .to_string()
        .contains("origins"));
    }
}

#[test]
fn short_histories_fall_back_and_say_so() {
    let s = Series::from_rows(&synthetic(2, 100.0, 1, |_| 1.0), 30).unwrap();
    let f = forecast(&s, 3, &plain()).unwrap();
    assert_eq!(f.method, Method::DailyAverage);
    assert!(f.why.contains("shorter than 4 weeks"), "{}", f.why);
    assert!(f.backtest.is_empty());
    assert!(f.bands.model.how.contains("Poisson"));
    assert!(forecast(&s, 0, &plain()).is_err());
    assert!(forecast(&s, 400, &plain()).is_err());
    // Five weeks: weekly methods, but too short for an origin; said.
    let s = Series::from_rows(&synthetic(5, 100.0, 1, |_| 1.0), 30).unwrap();
    let f = forecast(&s, 7, &plain()).unwrap();
    assert!(f.origins.is_empty());
    assert!(
        f.notes
            .iter()
            .any(|n| n.starts_with("0 back-test origins of the 8 asked")),
        "{:?}",
        f.notes
    );
    // Nine weeks: some origins, fewer than asked; said.
    let s = Series::from_rows(&synthetic(9, 100.0, 1, |_| 1.0), 30).unwrap();
    let f = forecast(&s, 7, &plain()).unwrap();
    assert_eq!(f.origins.len(), 4, "{:?}", f.origins);
    assert!(
        f.notes
            .iter()
            .any(|n| n.starts_with("4 back-test origins of the 8 asked")),
        "{:?}",
        f.notes
    );
}
