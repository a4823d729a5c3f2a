//! Distributions of handle time, patience and delays.

use model::rng::SplitMix64;
use serde::{Deserialize, Serialize};

/// A distribution of a duration, in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case")]
pub enum Dist {
    Fixed {
        secs: f64,
    },
    Exponential {
        mean: f64,
    },
    /// Log-normal with this mean and coefficient of variation (sd / mean).
    Lognormal {
        mean: f64,
        cv: f64,
    },
    Uniform {
        min: f64,
        max: f64,
    },
    /// Drawn from these observed values, each equally likely.
    Empirical {
        values: Vec<f64>,
    },
}

impl Dist {
    pub const ZERO: Dist = Dist::Fixed { secs: 0.0 };

    pub fn mean(&self) -> f64 {
        match self {
            Dist::Fixed { secs } => *secs,
            Dist::Exponential { mean } | Dist::Lognormal { mean, .. } => *mean,
            Dist::Uniform { min, max } => (min + max) / 2.0,
            Dist::Empirical { values } => values.iter().sum::<f64>() / values.len().max(1) as f64,
        }
    }

    /// Checks the parameters; `field` names it in the error.
    pub fn validate(&self, field: &str) -> Result<(), String> {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        let bad = |what: &str| Err(format!("{field}: {what}"));
        match self {
            Dist::Fixed { secs } if !ok(*secs) => bad("secs must be zero or more"),
            Dist::Exponential { mean } if !(ok(*mean) && *mean > 0.0) => {
                bad("mean must be above zero")
            }
            Dist::Lognormal { mean, cv } if !(ok(*mean) && *mean > 0.0 && ok(*cv)) => {
                bad("mean must be above zero and cv zero or more")
            }
            Dist::Uniform { min, max } if !(ok(*min) && ok(*max) && min <= max) => {
                bad("needs 0 <= min <= max")
            }
            Dist::Empirical { values }
                if values.is_empty()
                    || values.len() > 1_000_000
                    || !values.iter().all(|v| ok(*v)) =>
            {
                bad("needs 1 to 1,000,000 values, each zero or more")
            }
            _ if self.mean() > 366.0 * 86_400.0 => bad("mean above a year"),
            _ => Ok(()),
        }
    }

    /// One draw, in whole milliseconds.
    pub fn sample_ms(&self, r: &mut SplitMix64) -> i64 {
        let secs = match self {
            Dist::Fixed { secs } => *secs,
            Dist::Exponential { mean } => r.exp(*mean),
            Dist::Lognormal { mean, cv } => {
                let s2 = (1.0 + cv * cv).ln();
                let mu = mean.ln() - s2 / 2.0;
                // Box–Muller; both uniforms drawn every time.
                let (u1, u2) = (r.unit(), r.unit());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                (mu + s2.sqrt() * z).exp()
            }
            Dist::Uniform { min, max } => min + (max - min) * r.unit(),
            Dist::Empirical { values } => values[r.below(values.len() as u64) as usize],
        };
        (secs * 1000.0).round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_come_out_right() {
        let mut r = SplitMix64::new(3);
        for d in [
            Dist::Exponential { mean: 120.0 },
            Dist::Lognormal {
                mean: 480.0,
                cv: 0.6,
            },
            Dist::Uniform {
                min: 10.0,
                max: 30.0,
            },
            Dist::Empirical {
                values: vec![1.0, 2.0, 6.0],
            },
        ] {
            let n = 200_000;
            let m = (0..n)
                .map(|_| d.sample_ms(&mut r) as f64 / 1000.0)
                .sum::<f64>()
                / n as f64;
            assert!((m / d.mean() - 1.0).abs() < 0.01, "{d:?}: {m}");
        }
        assert!(Dist::Exponential { mean: 0.0 }
            .validate("handle")
            .unwrap_err()
            .contains("handle: mean must be above zero"));
    }
}
