//! NHS numbers: ten digits whose last is a Modulus 11 check digit.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A syntactically valid NHS number (ten digits, correct Modulus 11 check digit).
///
/// Parse, don't validate: once you hold an `NhsNumber` the check has been done.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NhsNumber([u8; 10]);

/// Why a string is not an NHS number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NhsNumberError {
    #[error("an NHS number has 10 digits, this has {0}")]
    WrongLength(usize),
    #[error("an NHS number holds only digits (spaces and dashes between groups are allowed)")]
    NotDigits,
    #[error("the check digit of this NHS number is wrong")]
    CheckDigit,
}

impl NhsNumber {
    /// Parses ten digits, allowing the spaces or dashes of the 3-3-4 display form.
    pub fn parse(input: &str) -> Result<NhsNumber, NhsNumberError> {
        let mut digits = [0u8; 10];
        let mut count = 0usize;
        for c in input.trim().chars() {
            match c {
                ' ' | '-' => continue,
                '0'..='9' => {
                    if count < 10 {
                        digits[count] = c as u8 - b'0';
                    }
                    count += 1;
                }
                _ => return Err(NhsNumberError::NotDigits),
            }
        }
        if count != 10 {
            return Err(NhsNumberError::WrongLength(count));
        }
        let sum: u32 = digits[..9]
            .iter()
            .zip((2..=10).rev())
            .map(|(&d, w)| u32::from(d) * w)
            .sum();
        let check = match 11 - (sum % 11) {
            11 => 0,
            10 => return Err(NhsNumberError::CheckDigit),
            r => r as u8,
        };
        if check != digits[9] {
            return Err(NhsNumberError::CheckDigit);
        }
        Ok(NhsNumber(digits))
    }

    /// The ten digits with no separators, as stored and used in URLs.
    pub fn digits(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// The 3-3-4 display form, e.g. `943 476 5919`.
    pub fn display_form(&self) -> String {
        let d = self.digits();
        format!("{} {} {}", &d[..3], &d[3..6], &d[6..])
    }
}

impl fmt::Display for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_form())
    }
}

impl fmt::Debug for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NhsNumber({})", self.digits())
    }
}

impl std::str::FromStr for NhsNumber {
    type Err = NhsNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NhsNumber::parse(s)
    }
}

impl Serialize for NhsNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.digits())
    }
}

impl<'de> Deserialize<'de> for NhsNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NhsNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_numbers() {
        for n in ["9434765919", "9999999468", "943 476 5919", "943-476-5919"] {
            let parsed = NhsNumber::parse(n).unwrap();
            assert_eq!(parsed.digits().len(), 10, "{n}");
        }
        assert_eq!(
            NhsNumber::parse("9434765919").unwrap().display_form(),
            "943 476 5919"
        );
    }

    #[test]
    fn rejects_invalid_numbers_with_a_reason() {
        let cases = [
            ("9434765918", NhsNumberError::CheckDigit),
            ("943476591", NhsNumberError::WrongLength(9)),
            ("94347659190", NhsNumberError::WrongLength(11)),
            ("94347659x9", NhsNumberError::NotDigits),
            ("", NhsNumberError::WrongLength(0)),
        ];
        for (input, want) in cases {
            assert_eq!(NhsNumber::parse(input), Err(want), "{input}");
        }
    }

    #[test]
    fn remainder_ten_is_never_valid() {
        // 000000001x: sum = 1*2 = 2, 11 - 2 = 9 → valid with 9. Find one whose remainder is 10:
        // digits 0000000100: sum = 1*3 = 3 → r = 8. 0000001000: 4 → r = 7. Sum 1 gives r = 10,
        // which no weight of 2..=10 on a single 1 yields, so use 5*2 + 1*... brute force instead.
        let mut found = false;
        for n in 0..10_000u32 {
            let base = format!("{n:09}");
            let sum: u32 = base
                .bytes()
                .zip((2..=10).rev())
                .map(|(b, w)| u32::from(b - b'0') * w)
                .sum();
            if 11 - sum % 11 == 10 {
                for check in 0..10 {
                    assert!(NhsNumber::parse(&format!("{base}{check}")).is_err());
                }
                found = true;
                break;
            }
        }
        assert!(found);
    }
}
