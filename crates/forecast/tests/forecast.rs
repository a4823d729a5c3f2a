//! Forecasting: methods recover a known weekly pattern, bad histories are
//! refused by row, short histories fall back and say so.

use forecast::{forecast, Choice, ForecastError, Method, Row, Series};
use jiff::civil::{Date, Time};

/// A year-like synthetic history: 10 weeks of 30-minute intervals with a
/// daily and weekly shape and seeded noise.
fn synthetic(weeks: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    let start: Date = "2026-01-05".parse().unwrap(); // a Monday
    let mut x: u64 = 7;
    for day in 0..weeks * 7 {
        let date = start
            .checked_add(jiff::Span::new().days(day as i64))
            .unwrap();
        let weekly = [1.0, 0.9, 0.9, 0.9, 0.85, 0.4, 0.3][day % 7];
        for slot in 0..48 {
            let hour = slot as f64 / 2.0;
            let daily = (-((hour - 11.0) / 4.0).powi(2)).exp();
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = 1.0 + ((x >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.1;
            rows.push(Row {
                date,
                start: Time::constant((slot / 2) as i8, (slot % 2 * 30) as i8, 0, 0),
                calls: (100.0 * weekly * daily * noise).round(),
            });
        }
    }
    rows
}

#[test]
fn both_methods_recover_a_weekly_pattern() {
    let s = Series::from_rows(&synthetic(10), 30).unwrap();
    for m in [Method::SeasonalAverage, Method::HoltWinters] {
        let f = forecast(&s, 14, Choice::Only(m)).unwrap();
        let b = &f.backtest[0];
        assert!(b.wape_day < 0.05, "{m:?}: {b:?}");
        assert!(b.wape_interval < 0.10, "{m:?}: {b:?}");
        assert_eq!(f.values.len(), 14 * 48);
    }
    let auto = forecast(&s, 7, Choice::Auto).unwrap();
    assert_eq!(auto.backtest.len(), 2);
}

#[test]
fn finer_history_is_summed_and_future_intervals_are_dated() {
    let rows = synthetic(5);
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

#[test]
fn bad_histories_are_refused_by_row() {
    let mut rows = synthetic(3);
    rows.remove(100);
    assert_eq!(
        Series::from_rows(&rows, 30).unwrap_err(),
        ForecastError::Row {
            row: 102,
            problem: "leaves a gap: expected 2026-01-07 02:00".into()
        }
    );
    let mut rows = synthetic(3);
    rows[50] = rows[49].clone();
    assert!(matches!(
        Series::from_rows(&rows, 30).unwrap_err(),
        ForecastError::Row { row: 52, .. }
    ));
    let mut rows = synthetic(3);
    rows[5].calls = -1.0;
    assert_eq!(
        Series::from_rows(&rows, 30).unwrap_err().to_string(),
        "row 7: calls -1 is not zero or more"
    );
    assert!(Series::from_rows(&synthetic(3), 7)
        .unwrap_err()
        .to_string()
        .contains("does not divide a day"));
    assert!(Series::from_rows(&[], 30).is_err());
}

#[test]
fn a_short_history_falls_back_and_says_so() {
    let s = Series::from_rows(&synthetic(2), 30).unwrap();
    let f = forecast(&s, 3, Choice::Auto).unwrap();
    assert_eq!(f.method, Method::DailyAverage);
    assert!(f.why.contains("shorter than 4 weeks"), "{}", f.why);
    assert!(f.backtest.is_empty());
    assert!(forecast(&s, 0, Choice::Auto).is_err());
    assert!(forecast(&s, 400, Choice::Auto).is_err());
}

#[test]
fn excluded_dates_are_refilled_and_not_scored() {
    let mut rows = synthetic(8);
    // A "holiday" in the last week: calls collapse.
    let holiday: Date = "2026-02-25".parse().unwrap();
    for r in rows.iter_mut().filter(|r| r.date == holiday) {
        r.calls = 0.0;
    }
    let s = Series::from_rows(&rows, 30).unwrap();
    let with = forecast(&s, 7, Choice::Only(Method::SeasonalAverage)).unwrap();
    let without = forecast(
        &s.without_dates(&[holiday]),
        7,
        Choice::Only(Method::SeasonalAverage),
    )
    .unwrap();
    assert!(
        without.backtest[0].wape_day < with.backtest[0].wape_day,
        "{:?} vs {:?}",
        without.backtest,
        with.backtest
    );
}
