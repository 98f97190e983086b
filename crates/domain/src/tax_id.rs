//! Thai tax identification: the 13-digit tax id (เลขประจำตัวผู้เสียภาษีอากร) and the 5-digit
//! branch code that a Thai tax invoice must show beside it.
//!
//! Both are parsed once at the edge and can then only hold valid values. Parsing is lenient
//! about the way people type them (dashes, spaces, Thai digits) and strict about what they are.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a tax id or branch code was refused; the messages are meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TaxIdError {
    #[error("the tax id is empty")]
    Empty,
    #[error("the tax id may contain only digits, dashes and spaces, not {0:?}")]
    InvalidCharacter(char),
    #[error("a Thai tax id has 13 digits; this one has {0}")]
    WrongLength(usize),
    #[error(
        "the tax id's check digit is wrong (the last digit should be {expected}); please check for a typo"
    )]
    CheckDigitMismatch { expected: u8, found: u8 },
    #[error("a branch code is 5 digits (00000 for the head office); got {0:?}")]
    InvalidBranchCode(String),
}

impl TaxIdError {
    /// The message in Thai, for the same person (the English one is `Display`).
    pub fn thai(&self) -> String {
        match self {
            TaxIdError::Empty => "ไม่ได้กรอกเลขประจำตัวผู้เสียภาษี".into(),
            TaxIdError::InvalidCharacter(c) => {
                format!("เลขประจำตัวผู้เสียภาษีมีได้เฉพาะตัวเลข ขีด และเว้นวรรค ไม่ใช่ {c:?}")
            }
            TaxIdError::WrongLength(n) => {
                format!("เลขประจำตัวผู้เสียภาษีไทยมี 13 หลัก แต่เลขนี้มี {n} หลัก")
            }
            TaxIdError::CheckDigitMismatch { expected, .. } => format!(
                "เลขตรวจสอบของเลขประจำตัวผู้เสียภาษีไม่ถูกต้อง (หลักสุดท้ายควรเป็น {expected}) โปรดตรวจสอบว่าพิมพ์ผิดหรือไม่"
            ),
            TaxIdError::InvalidBranchCode(got) => {
                format!("รหัสสาขามี 5 หลัก (00000 คือสำนักงานใหญ่) แต่ได้รับ {got:?}")
            }
        }
    }
}

/// Maps ASCII and Thai digits (๐–๙) to their value; anything else is `None`.
///
/// Thai digits are accepted because Thai users sometimes type them, and the value is the same.
fn digit_value(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '\u{0E50}'..='\u{0E59}' => Some((u32::from(c) - 0x0E50) as u8),
        _ => None,
    }
}

/// Collects the digits of `input`, skipping the separators people put between digit groups.
pub(crate) fn digits_ignoring_separators(input: &str) -> Result<Vec<u8>, char> {
    input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\u{00A0}' | '\t'))
        .map(|c| digit_value(c).ok_or(c))
        .collect()
}

/// The check digit for the first 12 digits: weights 13 down to 2, then `(11 − sum mod 11) mod 10`.
fn check_digit(first_twelve: &[u8]) -> u8 {
    let sum: u32 = first_twelve
        .iter()
        .zip((2..=13).rev())
        .map(|(&d, weight)| u32::from(d) * weight)
        .sum();
    ((11 - sum % 11) % 10) as u8
}

/// A Thai 13-digit tax id whose check digit is valid, held as exactly 13 ASCII digits.
///
/// The same number serves individuals (the national id) and juristic persons (which start with
/// `0`), so no rule on the leading digit is applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaxId(String);

impl TaxId {
    /// Parses `"0105536000315"`, `"0-1055-36000-31-5"`, `"0 1055 36000 31 5"` and the like.
    pub fn parse(input: &str) -> Result<TaxId, TaxIdError> {
        if input.trim().is_empty() {
            return Err(TaxIdError::Empty);
        }
        let digits = digits_ignoring_separators(input).map_err(TaxIdError::InvalidCharacter)?;
        if digits.len() != 13 {
            return Err(TaxIdError::WrongLength(digits.len()));
        }
        let expected = check_digit(&digits[..12]);
        let found = digits[12];
        if expected != found {
            return Err(TaxIdError::CheckDigitMismatch { expected, found });
        }
        Ok(TaxId(digits.iter().map(|d| char::from(b'0' + d)).collect()))
    }

    /// The 13 digits, no separators: the form stored and sent in the API.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The conventional printed grouping `X-XXXX-XXXXX-XX-X`, for documents.
    pub fn formatted(&self) -> String {
        let s = &self.0;
        format!(
            "{}-{}-{}-{}-{}",
            &s[0..1],
            &s[1..5],
            &s[5..10],
            &s[10..12],
            &s[12..13]
        )
    }
}

impl fmt::Display for TaxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TaxId {
    type Err = TaxIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaxId::parse(s)
    }
}

impl TryFrom<String> for TaxId {
    type Error = TaxIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        TaxId::parse(&s)
    }
}

impl From<TaxId> for String {
    fn from(id: TaxId) -> String {
        id.0
    }
}

/// A 5-digit branch code (รหัสสาขา); `00000` is the head office (สำนักงานใหญ่).
///
/// Exactly five digits are required: a short code such as `"1"` is refused rather than padded,
/// because guessing which branch was meant would put a wrong number on a tax invoice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BranchCode(String);

impl BranchCode {
    pub fn head_office() -> BranchCode {
        BranchCode("00000".to_owned())
    }

    pub fn parse(input: &str) -> Result<BranchCode, TaxIdError> {
        let invalid = || TaxIdError::InvalidBranchCode(input.to_owned());
        let digits: Vec<u8> = input
            .trim()
            .chars()
            .map(digit_value)
            .collect::<Option<_>>()
            .ok_or_else(invalid)?;
        if digits.len() != 5 {
            return Err(invalid());
        }
        Ok(BranchCode(
            digits.iter().map(|d| char::from(b'0' + d)).collect(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_head_office(&self) -> bool {
        self.0 == "00000"
    }

    /// The wording a Thai tax invoice prints: "สำนักงานใหญ่" or "สาขาที่ 00001".
    pub fn thai_label(&self) -> String {
        if self.is_head_office() {
            "สำนักงานใหญ่".to_owned()
        } else {
            format!("สาขาที่ {}", self.0)
        }
    }
}

impl Default for BranchCode {
    fn default() -> Self {
        BranchCode::head_office()
    }
}

impl fmt::Display for BranchCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for BranchCode {
    type Err = TaxIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BranchCode::parse(s)
    }
}

impl TryFrom<String> for BranchCode {
    type Error = TaxIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        BranchCode::parse(&s)
    }
}

impl From<BranchCode> for String {
    fn from(code: BranchCode) -> String {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_valid_ids_in_common_spellings() {
        // 1·13 + 2·12 + 3·11 + 4·10 + 5·9 + 6·8 + 7·7 + 8·6 + 9·5 + 0·4 + 1·3 + 2·2 = 352,
        // 352 mod 11 = 0, (11 − 0) mod 10 = 1.
        for input in [
            "1234567890121",
            "1-2345-67890-12-1",
            " 1 2345 67890 12 1 ",
            "๑๒๓๔๕๖๗๘๙๐๑๒๑",
        ] {
            let id = TaxId::parse(input).unwrap();
            assert_eq!(id.as_str(), "1234567890121", "{input}");
        }
        // 0·13 + 1·12 + 0·11 + 5·10 + 5·9 + 3·8 + 6·7 + 0·6 + 0·5 + 0·4 + 3·3 + 1·2 = 184,
        // 184 mod 11 = 8, 11 − 8 = 3.
        assert_eq!(
            TaxId::parse("0105536000313").unwrap().formatted(),
            "0-1055-36000-31-3"
        );
    }

    #[test]
    fn check_digit_wraps_ten_to_zero() {
        // A single 1 at weight 2: sum 2 → 11 − 2 = 9.
        assert!(TaxId::parse("0000000000019").is_ok());
        // A single 1 at weight 12: sum 12 → 12 mod 11 = 1 → (11 − 1) mod 10 = 0.
        assert!(TaxId::parse("0100000000000").is_ok());
    }

    #[test]
    fn refuses_invalid_ids_with_reasons() {
        assert_eq!(TaxId::parse("  "), Err(TaxIdError::Empty));
        assert_eq!(TaxId::parse("12345"), Err(TaxIdError::WrongLength(5)));
        assert_eq!(
            TaxId::parse("12345678901234"),
            Err(TaxIdError::WrongLength(14))
        );
        assert_eq!(
            TaxId::parse("123456789012a"),
            Err(TaxIdError::InvalidCharacter('a'))
        );
        assert_eq!(
            TaxId::parse("1234567890122"),
            Err(TaxIdError::CheckDigitMismatch {
                expected: 1,
                found: 2
            })
        );
        let message = TaxId::parse("1234567890122").unwrap_err().to_string();
        assert!(message.contains("check digit"), "{message}");
    }

    #[test]
    fn serde_is_the_bare_string_and_validates() {
        let id: TaxId = serde_json::from_str("\"1-2345-67890-12-1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"1234567890121\"");
        assert!(serde_json::from_str::<TaxId>("\"1234567890122\"").is_err());
        let b: BranchCode = serde_json::from_str("\"00001\"").unwrap();
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"00001\"");
        assert!(serde_json::from_str::<BranchCode>("\"1\"").is_err());
    }

    #[test]
    fn branch_codes() {
        assert!(BranchCode::parse("00000").unwrap().is_head_office());
        assert!(BranchCode::default().is_head_office());
        let branch = BranchCode::parse(" 00012 ").unwrap();
        assert!(!branch.is_head_office());
        assert_eq!(branch.as_str(), "00012");
        assert_eq!(branch.thai_label(), "สาขาที่ 00012");
        assert_eq!(BranchCode::head_office().thai_label(), "สำนักงานใหญ่");
        for bad in ["", "0000", "000000", "0000a", "00-00"] {
            assert!(BranchCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn every_prefix_has_exactly_one_valid_check_digit(prefix in proptest::collection::vec(0_u8..10, 12)) {
            let body: String = prefix.iter().map(|d| char::from(b'0' + d)).collect();
            let valid: Vec<u8> = (0..10)
                .filter(|d| TaxId::parse(&format!("{body}{d}")).is_ok())
                .collect();
            prop_assert_eq!(valid.len(), 1);
            let id = TaxId::parse(&format!("{body}{}", valid[0])).unwrap();
            prop_assert_eq!(TaxId::parse(&id.formatted()).unwrap(), id);
        }
    }
}
