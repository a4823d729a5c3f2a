//! Prediction intervals from the back-test's own errors: the variance of
//! an interval's error modelled as a·f + b·f² (chance, as in Poisson
//! arrivals, plus an error in proportion to the forecast f), fitted to the
//! back-test errors, and the 80% and 95% bands from the empirical
//! quantiles of the errors in units of that spread (so a skewed error gets
//! a skewed band).

use serde::Serialize;

/// One back-test's forecast and what happened, on the intervals scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Errors {
    pub forecast: Vec<f64>,
    pub actual: Vec<f64>,
}

/// The fitted error model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandModel {
    /// Variance = a·f + b·f².
    pub a: f64,
    pub b: f64,
    /// Quantiles of the standardised error: 2.5%, 10%, 90%, 97.5%.
    pub q: [f64; 4],
    /// How it was made.
    pub how: String,
}

/// The bands of a forecast, per interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bands {
    pub lo80: Vec<f64>,
    pub hi80: Vec<f64>,
    pub lo95: Vec<f64>,
    pub hi95: Vec<f64>,
    /// Share of back-test intervals inside the band when each back-test's
    /// band is fitted on the others (None without a back-test).
    pub coverage80: Option<f64>,
    pub coverage95: Option<f64>,
    pub model: BandModel,
}

fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let x = p * (sorted.len() - 1) as f64;
    let (i, frac) = (x.floor() as usize, x - x.floor());
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] * (1.0 - frac) + sorted[j] * frac
}

/// Without a back-test: Poisson chance alone, with normal quantiles.
pub fn poisson() -> BandModel {
    BandModel {
        a: 1.0,
        b: 0.0,
        q: [-1.959_964, -1.281_552, 1.281_552, 1.959_964],
        how: "no back-test: Poisson chance alone (variance = forecast)".into(),
    }
}

/// Fits the error model to back-test errors.
pub fn fit(runs: &[&Errors]) -> BandModel {
    // Least squares of e² on (f, f²), no intercept, both ≥ 0.
    let (mut s11, mut s12, mut s22, mut t1, mut t2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut n = 0usize;
    for r in runs {
        for (&f, &a) in r.forecast.iter().zip(&r.actual) {
            let e2 = (a - f).powi(2);
            let (x1, x2) = (f, f * f);
            s11 += x1 * x1;
            s12 += x1 * x2;
            s22 += x2 * x2;
            t1 += x1 * e2;
            t2 += x2 * e2;
            n += 1;
        }
    }
    if n < 20 || s11 <= 0.0 {
        return poisson();
    }
    let det = s11 * s22 - s12 * s12;
    let (mut a, mut b) = if det.abs() > 1e-12 * s11 * s22 {
        ((t1 * s22 - t2 * s12) / det, (t2 * s11 - t1 * s12) / det)
    } else {
        (t1 / s11, 0.0)
    };
    if a < 0.0 {
        a = 0.0;
        b = if s22 > 0.0 { t2 / s22 } else { 0.0 };
    }
    if b < 0.0 {
        b = 0.0;
        a = t1 / s11;
    }
    if a <= 0.0 && b <= 0.0 {
        a = 1.0;
    }
    let mut z: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.forecast.iter().zip(&r.actual))
        .filter(|(f, _)| **f > 0.0)
        .map(|(&f, &act)| (act - f) / (a * f + b * f * f).sqrt())
        .filter(|x| x.is_finite())
        .collect();
    z.sort_by(|x, y| x.total_cmp(y));
    BandModel {
        a,
        b,
        q: [
            quantile(&z, 0.025),
            quantile(&z, 0.10),
            quantile(&z, 0.90),
            quantile(&z, 0.975),
        ],
        how: format!(
            "back-test errors of {} intervals: variance {a:.3}·f + {b:.4}·f², empirical quantiles",
            z.len()
        ),
    }
}

impl BandModel {
    /// (lo95, lo80, hi80, hi95) around a forecast value.
    pub fn around(&self, f: f64) -> [f64; 4] {
        let sd = (self.a * f + self.b * f * f).max(0.0).sqrt();
        self.q.map(|q| (f + q * sd).max(0.0))
    }
}

/// The bands for `values`, and their coverage by leaving each back-test
/// out in turn.
pub fn bands(values: &[f64], runs: &[Errors]) -> Bands {
    let all: Vec<&Errors> = runs.iter().collect();
    let model = if runs.is_empty() {
        poisson()
    } else {
        fit(&all)
    };
    let (mut c80, mut c95, mut total) = (0usize, 0usize, 0usize);
    if runs.len() >= 2 {
        for k in 0..runs.len() {
            let others: Vec<&Errors> = runs
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != k)
                .map(|(_, r)| r)
                .collect();
            let m = fit(&others);
            for (&f, &a) in runs[k].forecast.iter().zip(&runs[k].actual) {
                let [lo95, lo80, hi80, hi95] = m.around(f);
                c80 += (lo80 <= a && a <= hi80) as usize;
                c95 += (lo95 <= a && a <= hi95) as usize;
                total += 1;
            }
        }
    }
    let cov = |c: usize| (total > 0).then(|| c as f64 / total as f64);
    let mut b = Bands {
        lo80: Vec::with_capacity(values.len()),
        hi80: Vec::with_capacity(values.len()),
        lo95: Vec::with_capacity(values.len()),
        hi95: Vec::with_capacity(values.len()),
        coverage80: cov(c80),
        coverage95: cov(c95),
        model,
    };
    for &f in values {
        let [lo95, lo80, hi80, hi95] = b.model.around(f);
        b.lo95.push(lo95);
        b.lo80.push(lo80);
        b.hi80.push(hi80);
        b.hi95.push(hi95);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_of_poisson_errors_cover_what_they_say() {
        // Arrivals of mean 50 drawn from a seeded Poisson-like stream.
        let mut x: u64 = 11;
        let mut draw = |mean: f64| {
            // Sum of uniforms: near-normal with the Poisson variance.
            let mut s = 0.0;
            for _ in 0..12 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s += (x >> 11) as f64 / (1u64 << 53) as f64;
            }
            (mean + (s - 6.0) * mean.sqrt()).max(0.0)
        };
        let runs: Vec<Errors> = (0..8)
            .map(|_| Errors {
                forecast: vec![50.0; 400],
                actual: (0..400).map(|_| draw(50.0)).collect(),
            })
            .collect();
        let b = bands(&[50.0, 0.0], &runs);
        let (c80, c95) = (b.coverage80.unwrap(), b.coverage95.unwrap());
        assert!((0.76..0.84).contains(&c80), "{c80}");
        assert!((0.93..0.97).contains(&c95), "{c95}");
        // About ±1.28 and ±1.96 standard deviations of √50 ≈ 7.1.
        assert!((b.hi80[0] - 59.0).abs() < 1.5, "{:?}", b.hi80);
        assert!((b.lo95[0] - 36.1).abs() < 2.0, "{:?}", b.lo95);
        assert_eq!((b.lo80[1], b.hi95[1]), (0.0, 0.0));
    }
}
