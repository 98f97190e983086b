//! PromptPay: the seller's PromptPay id and the EMVCo merchant-presented QR payload printed on
//! invoices and shown in the portal, so a Thai customer can pay by scanning with any bank app.
//!
//! Only the payload text lives here; turning it into a QR image is the document layer's job.
//! The payload is a list of EMVCo TLV fields (two-digit tag, two-digit length, value) ending in
//! a CRC-16/CCITT-FALSE over everything before it, including the CRC field's own tag and length.

use std::fmt;
use std::fmt::Write as _;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::money::{Currency, Money};
use crate::tax_id::{TaxId, TaxIdError, digits_ignoring_separators};

/// PromptPay's application id inside the merchant-account field (tag 29).
const PROMPTPAY_AID: &str = "A000000677010111";

/// The largest amount field tag 54 can hold: 13 characters, "9999999999.99".
const MAX_AMOUNT_SATANG: i64 = 999_999_999_999;

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), catalogued by the `crc` crate as IBM-3740.
const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);

/// Why a PromptPay id or payload could not be made; messages are for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PromptPayError {
    #[error("the PromptPay id is empty")]
    Empty,
    #[error("a PromptPay id may contain only digits, dashes and spaces, not {0:?}")]
    InvalidCharacter(char),
    #[error(
        "a PromptPay id is a 10-digit mobile number starting with 0, a 13-digit national or tax id, or a 15-digit e-wallet id; this one has {0} digits"
    )]
    UnrecognisedLength(usize),
    #[error("the PromptPay national/tax id is not valid: {0}")]
    InvalidNationalId(TaxIdError),
    #[error("PromptPay takes payments in THB only, not {0}")]
    NotThb(Currency),
    #[error("a PromptPay amount must be more than zero")]
    NonPositiveAmount,
    #[error("the amount is too large for a PromptPay QR code (at most 9,999,999,999.99 THB)")]
    AmountTooLarge,
}

/// Which kind of account a PromptPay id names; each has its own sub-tag in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptPayIdKind {
    /// A Thai mobile number, `0XXXXXXXXX` (sub-tag 01, sent as `0066XXXXXXXXX`).
    MobilePhone,
    /// A 13-digit national id or company tax id (sub-tag 02).
    NationalId,
    /// A 15-digit e-wallet id (sub-tag 03).
    EWallet,
}

/// A PromptPay id of a recognised shape, normalised to digits only.
///
/// A 13-digit id must pass the Thai tax id check digit: a typo in the seller's setting would
/// otherwise send customers' money nowhere (or to someone else) with no error until they pay.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PromptPayId {
    kind: PromptPayIdKind,
    digits: String,
}

impl PromptPayId {
    /// Accepts `"081-234-5678"`, `"+66 81 234 5678"`, `"0105536000313"`, a 15-digit e-wallet id.
    pub fn parse(input: &str) -> Result<PromptPayId, PromptPayError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PromptPayError::Empty);
        }
        let (international, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let digits: String = digits_ignoring_separators(rest)
            .map_err(PromptPayError::InvalidCharacter)?
            .into_iter()
            .map(|d| char::from(b'0' + d))
            .collect();
        let phone = |local: &str| PromptPayId {
            kind: PromptPayIdKind::MobilePhone,
            digits: format!("0{local}"),
        };
        match digits.len() {
            // "+66 81 234 5678" or "66812345678": the country code replaces the leading 0.
            11 if digits.starts_with("66") => Ok(phone(&digits[2..])),
            _ if international => Err(PromptPayError::UnrecognisedLength(digits.len())),
            10 if digits.starts_with('0') => Ok(PromptPayId {
                kind: PromptPayIdKind::MobilePhone,
                digits,
            }),
            13 => {
                let id = TaxId::parse(&digits).map_err(PromptPayError::InvalidNationalId)?;
                Ok(PromptPayId {
                    kind: PromptPayIdKind::NationalId,
                    digits: id.as_str().to_owned(),
                })
            }
            15 => Ok(PromptPayId {
                kind: PromptPayIdKind::EWallet,
                digits,
            }),
            n => Err(PromptPayError::UnrecognisedLength(n)),
        }
    }

    pub fn kind(&self) -> PromptPayIdKind {
        self.kind
    }

    /// The id as digits only; a phone keeps its domestic form `0XXXXXXXXX`.
    pub fn as_str(&self) -> &str {
        &self.digits
    }

    /// The sub-tag and value that go inside the merchant-account field (tag 29).
    fn account_field(&self) -> (&'static str, String) {
        match self.kind {
            // PromptPay wants the phone in international form, padded to 13: "0066" + 9 digits.
            PromptPayIdKind::MobilePhone => ("01", format!("0066{}", &self.digits[1..])),
            PromptPayIdKind::NationalId => ("02", self.digits.clone()),
            PromptPayIdKind::EWallet => ("03", self.digits.clone()),
        }
    }
}

impl fmt::Display for PromptPayId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.digits)
    }
}

impl FromStr for PromptPayId {
    type Err = PromptPayError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PromptPayId::parse(s)
    }
}

impl TryFrom<String> for PromptPayId {
    type Error = PromptPayError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        PromptPayId::parse(&s)
    }
}

impl From<PromptPayId> for String {
    fn from(id: PromptPayId) -> String {
        id.digits
    }
}

/// Appends one EMVCo field: tag, two-digit length, value (all values here are ASCII).
fn push_field(out: &mut String, tag: &str, value: &str) {
    debug_assert!(value.is_ascii() && value.len() < 100);
    // Writing to a String cannot fail.
    let _ = write!(out, "{tag}{:02}{value}", value.len());
}

/// The text to encode in a PromptPay QR code paying `target`.
///
/// With an amount the code is *dynamic* (point of initiation 12) and the payer's app fills the
/// amount in; without one it is *static* (11) and the payer types it. The amount must be THB
/// and positive; pass `None` for an amount-less code rather than zero.
pub fn promptpay_payload(
    target: &PromptPayId,
    amount: Option<Money>,
) -> Result<String, PromptPayError> {
    let amount_text = match amount {
        None => None,
        Some(money) if money.currency != Currency::Thb => {
            return Err(PromptPayError::NotThb(money.currency));
        }
        Some(money) if money.minor <= 0 => return Err(PromptPayError::NonPositiveAmount),
        Some(money) if money.minor > MAX_AMOUNT_SATANG => {
            return Err(PromptPayError::AmountTooLarge);
        }
        Some(money) => Some(money.to_decimal_string()),
    };

    let (sub_tag, account) = target.account_field();
    let mut merchant_account = String::new();
    push_field(&mut merchant_account, "00", PROMPTPAY_AID);
    push_field(&mut merchant_account, sub_tag, &account);

    let mut payload = String::new();
    push_field(&mut payload, "00", "01"); // payload format indicator
    let initiation = if amount_text.is_some() { "12" } else { "11" };
    push_field(&mut payload, "01", initiation);
    push_field(&mut payload, "29", &merchant_account);
    push_field(&mut payload, "58", "TH");
    push_field(
        &mut payload,
        "53",
        &Currency::Thb.numeric_code().to_string(),
    );
    if let Some(text) = &amount_text {
        push_field(&mut payload, "54", text);
    }
    // The CRC covers its own tag and length, so they are written before it is computed.
    payload.push_str("6304");
    let crc = CRC16.checksum(payload.as_bytes());
    let _ = write!(payload, "{crc:04X}");
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn phone(s: &str) -> PromptPayId {
        PromptPayId::parse(s).unwrap()
    }

    #[test]
    fn reproduces_the_public_test_vectors() {
        assert_eq!(
            promptpay_payload(&phone("0801234567"), None).unwrap(),
            "00020101021129370016A000000677010111011300668012345675802TH530376463046197"
        );
        assert_eq!(
            promptpay_payload(&phone("000-000-0000"), Some(Money::thb(422))).unwrap(),
            "00020101021229370016A000000677010111011300660000000005802TH530376454044.226304E469"
        );
    }

    #[test]
    fn parses_the_three_kinds() {
        let p = phone("081-234-5678");
        assert_eq!(
            (p.kind(), p.as_str()),
            (PromptPayIdKind::MobilePhone, "0812345678")
        );
        assert_eq!(phone("+66 81 234 5678"), p);
        assert_eq!(phone("66812345678"), p);
        let id = PromptPayId::parse("0-1055-36000-31-3").unwrap();
        assert_eq!(
            (id.kind(), id.as_str()),
            (PromptPayIdKind::NationalId, "0105536000313")
        );
        let wallet = PromptPayId::parse("123456789012345").unwrap();
        assert_eq!(wallet.kind(), PromptPayIdKind::EWallet);
    }

    #[test]
    fn refuses_malformed_ids() {
        use PromptPayError::*;
        assert_eq!(PromptPayId::parse(" "), Err(Empty));
        assert_eq!(PromptPayId::parse("08x1234567"), Err(InvalidCharacter('x')));
        assert_eq!(
            PromptPayId::parse("1801234567"),
            Err(UnrecognisedLength(10))
        );
        assert_eq!(PromptPayId::parse("080123456"), Err(UnrecognisedLength(9)));
        assert_eq!(
            PromptPayId::parse("+1 555 0100"),
            Err(UnrecognisedLength(8))
        );
        assert!(matches!(
            PromptPayId::parse("0105536000314"),
            Err(InvalidNationalId(TaxIdError::CheckDigitMismatch { .. }))
        ));
        assert!(serde_json::from_str::<PromptPayId>("\"12\"").is_err());
        let round: PromptPayId = serde_json::from_str("\"081-234-5678\"").unwrap();
        assert_eq!(serde_json::to_string(&round).unwrap(), "\"0812345678\"");
    }

    #[test]
    fn refuses_unusable_amounts() {
        let p = phone("0801234567");
        let usd = Money::new(100, Currency::Usd);
        assert_eq!(
            promptpay_payload(&p, Some(usd)),
            Err(PromptPayError::NotThb(Currency::Usd))
        );
        assert_eq!(
            promptpay_payload(&p, Some(Money::thb(0))),
            Err(PromptPayError::NonPositiveAmount)
        );
        assert_eq!(
            promptpay_payload(&p, Some(Money::thb(MAX_AMOUNT_SATANG + 1))),
            Err(PromptPayError::AmountTooLarge)
        );
        assert!(promptpay_payload(&p, Some(Money::thb(MAX_AMOUNT_SATANG))).is_ok());
    }

    #[test]
    fn national_id_and_e_wallet_use_their_sub_tags() {
        let id = PromptPayId::parse("0105536000313").unwrap();
        let payload = promptpay_payload(&id, Some(Money::thb(123_450))).unwrap();
        assert!(payload.contains("29370016A000000677010111"));
        assert!(payload.contains("02130105536000313"));
        assert!(payload.contains("54071234.50"));
        let wallet = PromptPayId::parse("123456789012345").unwrap();
        let payload = promptpay_payload(&wallet, None).unwrap();
        assert!(payload.contains("29390016A00000067701011103151234567890123455802TH"));
    }

    /// Splits a payload into (tag, value) fields, checking every length as it goes.
    fn fields(payload: &str) -> Vec<(String, String)> {
        let mut rest = payload;
        let mut out = Vec::new();
        while !rest.is_empty() {
            let tag = &rest[..2];
            let len: usize = rest[2..4].parse().unwrap();
            out.push((tag.to_owned(), rest[4..4 + len].to_owned()));
            rest = &rest[4 + len..];
        }
        out
    }

    /// CRC-16/CCITT-FALSE written out bit by bit, independently of the `crc` crate's tables.
    fn bitwise_crc(data: &[u8]) -> u16 {
        let mut crc: u16 = 0xFFFF;
        for &byte in data {
            crc ^= u16::from(byte) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    proptest! {
        #[test]
        fn payloads_are_well_formed(local in 0_u64..1_000_000_000, satang in proptest::option::of(1_i64..=MAX_AMOUNT_SATANG)) {
            let target = PromptPayId::parse(&format!("0{local:09}")).unwrap();
            let payload = promptpay_payload(&target, satang.map(Money::thb)).unwrap();
            let parsed = fields(&payload);
            let tags: Vec<&str> = parsed.iter().map(|(t, _)| t.as_str()).collect();
            let expected_tags: &[&str] = if satang.is_some() {
                &["00", "01", "29", "58", "53", "54", "63"]
            } else {
                &["00", "01", "29", "58", "53", "63"]
            };
            prop_assert_eq!(tags, expected_tags);
            let (body, crc) = payload.split_at(payload.len() - 4);
            prop_assert_eq!(crc, format!("{:04X}", bitwise_crc(body.as_bytes())));
            if let Some(s) = satang {
                prop_assert_eq!(&parsed[5].1, &Money::thb(s).to_decimal_string());
            }
        }
    }
}
