//! Parsing of command-line values: durations ("30m", "180s", "1.5h"),
//! service-level targets ("80/20"), rates ("4.2/min"), fractions.
//! Each error names the option and what was wrong.

use anyhow::{bail, Result};

/// Seconds from "180s", "30m", "1.5h", "2d", "500ms" or a bare number of
/// seconds.
pub fn duration_secs(option: &str, s: &str) -> Result<f64> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let factor = match unit {
        "ms" => 0.001,
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hrs" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        _ => bail!("{option}: unknown unit '{unit}' in '{s}' (use ms, s, m, h or d)"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{option}: '{s}' is not a duration like 180s or 30m"))?;
    if !v.is_finite() || v <= 0.0 {
        bail!("{option}: must be above zero, got '{s}'");
    }
    let secs = v * factor;
    if secs > 366.0 * 86_400.0 * 100.0 {
        bail!("{option}: '{s}' is too long");
    }
    Ok(secs)
}

/// "80/20" → (0.80, 20 s); "95/60s" and "80%/20" are accepted too.
pub fn target(option: &str, s: &str) -> Result<(f64, f64)> {
    let Some((pct, secs)) = s.split_once('/') else {
        bail!("{option}: '{s}' is not a target like 80/20 (80% answered within 20 s)");
    };
    let pct: f64 = pct
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| anyhow::anyhow!("{option}: '{pct}' is not a percentage"))?;
    if !(pct > 0.0 && pct <= 100.0) {
        bail!("{option}: the percentage must be above 0 and at most 100, got {pct}");
    }
    let secs = if secs.trim() == "0" {
        0.0
    } else {
        duration_secs(option, secs)?
    };
    Ok((pct / 100.0, secs))
}

/// "4.2/min", "250/h", "0.1/s" → arrivals per second.
pub fn rate_per_sec(option: &str, s: &str) -> Result<f64> {
    let Some((num, per)) = s.split_once('/') else {
        bail!("{option}: '{s}' is not a rate like 4.2/min");
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{option}: '{num}' is not a number"))?;
    if !v.is_finite() || v <= 0.0 {
        bail!("{option}: must be above zero, got '{s}'");
    }
    let per = if per.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        per.to_string()
    } else {
        format!("1{per}")
    };
    Ok(v / duration_secs(option, &per)?)
}

/// A fraction in [0, 1): "0.3" or "30%".
pub fn fraction(option: &str, s: &str, allow_one: bool) -> Result<f64> {
    let v = match s.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => s.trim().parse::<f64>(),
    }
    .map_err(|_| anyhow::anyhow!("{option}: '{s}' is not a fraction like 0.85 or 85%"))?;
    let ok = v.is_finite() && v >= 0.0 && if allow_one { v <= 1.0 } else { v < 1.0 };
    if !ok {
        bail!(
            "{option}: must be from 0 to {}, got '{s}'",
            if allow_one { "1" } else { "below 1" }
        );
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_and_errors_name_the_option() {
        assert_eq!(duration_secs("--aht", "180s").unwrap(), 180.0);
        assert_eq!(duration_secs("--interval", "30m").unwrap(), 1800.0);
        assert_eq!(duration_secs("--hours", "1.5h").unwrap(), 5400.0);
        assert_eq!(duration_secs("--aht", "90").unwrap(), 90.0);
        assert_eq!(target("--target", "80/20").unwrap(), (0.8, 20.0));
        assert!((rate_per_sec("--arrival-rate", "4.2/min").unwrap() - 0.07).abs() < 1e-12);
        assert_eq!(rate_per_sec("--arrival-rate", "360/h").unwrap(), 0.1);
        assert_eq!(fraction("--shrinkage", "30%", false).unwrap(), 0.3);
        assert_eq!(
            duration_secs("--aht", "-5s").unwrap_err().to_string(),
            "--aht: must be above zero, got '-5s'"
        );
        assert_eq!(
            target("--target", "120/20").unwrap_err().to_string(),
            "--target: the percentage must be above 0 and at most 100, got 120"
        );
        assert!(duration_secs("--aht", "5 parsecs")
            .unwrap_err()
            .to_string()
            .starts_with("--aht: unknown unit"));
        assert!(fraction("--shrinkage", "1", false).is_err());
    }
}
