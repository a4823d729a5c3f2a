//! The NHS number: 10 digits, the last a modulus-11 check digit.
//!
//! It is patient-identifiable data: `Debug` and `Display` redact it; the
//! digits are only reachable through [`NhsNumber::expose`], so every place
//! that shows one is visible in the code.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NhsNumber([u8; 10]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NhsNumberError {
    #[error("an NHS number has 10 digits (spaces allowed), got {0} digits")]
    Length(usize),
    #[error("an NHS number holds only digits and spaces")]
    NotDigits,
    #[error("the NHS number's check digit is wrong")]
    CheckDigit,
}

impl NhsNumber {
    /// Parses "999 000 0018" or "9990000018" (spaces or dashes allowed).
    /// Error messages never echo the input, which may be a real patient's
    /// number.
    ///
    /// ```
    /// use model::{NhsNumber, NhsNumberError};
    /// let n = NhsNumber::parse("999 000 0018").unwrap();
    /// assert_eq!(n.expose(), "9990000018");
    /// assert_eq!(format!("{n}"), "<nhs-number redacted>");
    /// assert_eq!(NhsNumber::parse("999 000 0019"), Err(NhsNumberError::CheckDigit));
    /// ```
    pub fn parse(s: &str) -> Result<NhsNumber, NhsNumberError> {
        let mut digits = [0u8; 10];
        let mut n = 0usize;
        for ch in s.trim().chars() {
            match ch {
                ' ' | '-' => {}
                '0'..='9' => {
                    if n < 10 {
                        digits[n] = ch as u8 - b'0';
                    }
                    n += 1;
                }
                _ => return Err(NhsNumberError::NotDigits),
            }
        }
        if n != 10 {
            return Err(NhsNumberError::Length(n));
        }
        if check_digit(&digits[..9]) != Some(digits[9]) {
            return Err(NhsNumberError::CheckDigit);
        }
        Ok(NhsNumber(digits))
    }

    /// The ten digits, unformatted. Callers must not log this.
    pub fn expose(&self) -> String {
        self.0.iter().map(|d| (b'0' + d) as char).collect()
    }
}

/// Modulus 11: weights 10..2; 11 → 0; 10 → invalid.
fn check_digit(first9: &[u8]) -> Option<u8> {
    let sum: u32 = first9
        .iter()
        .enumerate()
        .map(|(i, &d)| d as u32 * (10 - i as u32))
        .sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        c => Some(c as u8),
    }
}

impl fmt::Debug for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NhsNumber(<redacted>)")
    }
}

impl fmt::Display for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<nhs-number redacted>")
    }
}

impl TryFrom<String> for NhsNumber {
    type Error = NhsNumberError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        NhsNumber::parse(&s)
    }
}

impl From<NhsNumber> for String {
    fn from(n: NhsNumber) -> String {
        n.expose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_test_range_numbers_parse() {
        // 999 000 0000 - 999 999 9999 is the test range.
        for s in ["999 000 0018", "9990000026", "999-000-0034"] {
            let n = NhsNumber::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(n.expose().len(), 10);
        }
    }

    #[test]
    fn bad_numbers_are_named() {
        assert_eq!(
            NhsNumber::parse("999 000 0019"),
            Err(NhsNumberError::CheckDigit)
        );
        assert_eq!(NhsNumber::parse("99900000"), Err(NhsNumberError::Length(8)));
        assert_eq!(
            NhsNumber::parse("999x000001"),
            Err(NhsNumberError::NotDigits)
        );
        // Check digit 10 is never valid: 999 000 001? has sum leading to 10.
        let mut invalid_found = false;
        for last3 in 0..1000u32 {
            let s = format!("9990000{last3:03}");
            let d: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
            if check_digit(&d[..9]).is_none() {
                assert!(NhsNumber::parse(&s).is_err());
                invalid_found = true;
            }
        }
        assert!(invalid_found);
    }

    #[test]
    fn debug_and_display_redact() {
        let n = NhsNumber::parse("9990000018").unwrap();
        assert!(!format!("{n:?}{n}").contains("999"));
    }
}
