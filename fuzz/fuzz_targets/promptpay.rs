//! `PromptPayId::parse` on any text and `promptpay_payload` for what it accepts, with any amount
//! in any currency. The parse agrees with a plain model of the three id shapes and re-parses to
//! itself; a payload is refused exactly when the amount is not THB or not in 0.01–9,999,999,999.99,
//! and otherwise is a well-formed EMVCo TLV list whose CRC field is the CRC-16/CCITT-FALSE of the
//! rest (computed here bit by bit), whose account field names the same id, and whose amount field
//! reads back as the same satang.

#![no_main]

use libfuzzer_sys::fuzz_target;
use satang_domain::money::{Currency, Money};
use satang_domain::promptpay::{PromptPayError, PromptPayId, PromptPayIdKind, promptpay_payload};
use satang_domain::tax_id::TaxId;
use satang_domain::typed_amount::parse_baht;

/// The largest amount tag 54 carries: "9999999999.99".
const MAX_SATANG: i64 = 999_999_999_999;

fuzz_target!(|input: (Option<i64>, u8, &str)| {
    let (minor, currency, text) = input;
    let Some(id) = check_id(text) else { return };
    let currency = Currency::ALL[usize::from(currency) % Currency::ALL.len()];
    check_payload(&id, minor.map(|m| Money::new(m, currency)));
    // The same id with an amount that is always payable, so the round trip is always exercised.
    let payable = minor.map(|m| Money::thb(1 + m.rem_euclid(MAX_SATANG)));
    check_payload(&id, payable);
});

/// What `PromptPayId::parse` must answer: the kind and the normalised digits, or the error.
fn model(text: &str) -> Result<(PromptPayIdKind, String), PromptPayError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(PromptPayError::Empty);
    }
    let (international, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let mut digits = String::new();
    for c in rest.chars() {
        match c {
            '-' | ' ' | '\u{00A0}' | '\t' => {}
            '0'..='9' => digits.push(c),
            '๐'..='๙' => digits.push(char::from(b'0' + (u32::from(c) - 0x0E50) as u8)),
            other => return Err(PromptPayError::InvalidCharacter(other)),
        }
    }
    let n = digits.len();
    if n == 11 && digits.starts_with("66") {
        return Ok((PromptPayIdKind::MobilePhone, format!("0{}", &digits[2..])));
    }
    if international {
        return Err(PromptPayError::UnrecognisedLength(n));
    }
    match n {
        10 if digits.starts_with('0') => Ok((PromptPayIdKind::MobilePhone, digits)),
        13 => match TaxId::parse(&digits) {
            Ok(_) => Ok((PromptPayIdKind::NationalId, digits)),
            Err(e) => Err(PromptPayError::InvalidNationalId(e)),
        },
        15 => Ok((PromptPayIdKind::EWallet, digits)),
        _ => Err(PromptPayError::UnrecognisedLength(n)),
    }
}

fn check_id(text: &str) -> Option<PromptPayId> {
    let parsed = PromptPayId::parse(text);
    let answer = parsed
        .as_ref()
        .map(|id| (id.kind(), id.as_str().to_owned()));
    assert_eq!(
        answer.as_ref().map_err(|e| *e),
        model(text).as_ref(),
        "{text:?}"
    );
    let id = match parsed {
        Ok(id) => id,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return None;
        }
    };
    let digits = id.as_str();
    assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{digits}");
    match id.kind() {
        PromptPayIdKind::MobilePhone => assert!(digits.len() == 10 && digits.starts_with('0')),
        PromptPayIdKind::NationalId => assert_eq!(TaxId::parse(digits).unwrap().as_str(), digits),
        PromptPayIdKind::EWallet => assert_eq!(digits.len(), 15),
    }
    assert_eq!(PromptPayId::parse(digits).as_ref(), Ok(&id));
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(serde_json::from_str::<PromptPayId>(&json).unwrap(), id);
    Some(id)
}

fn check_payload(id: &PromptPayId, amount: Option<Money>) {
    let result = promptpay_payload(id, amount);
    let expected_error = amount.and_then(|m| {
        if m.currency != Currency::Thb {
            Some(PromptPayError::NotThb(m.currency))
        } else if m.minor <= 0 {
            Some(PromptPayError::NonPositiveAmount)
        } else if m.minor > MAX_SATANG {
            Some(PromptPayError::AmountTooLarge)
        } else {
            None
        }
    });
    let payload = match (result, expected_error) {
        (Ok(payload), None) => payload,
        (Err(e), Some(expected)) => {
            assert_eq!(e, expected);
            return;
        }
        (result, expected) => panic!("{id:?} {amount:?}: {result:?}, expected error {expected:?}"),
    };
    assert!(payload.is_ascii(), "{payload}");

    // The CRC is the last field, over everything before its four hex digits.
    let (body, crc) = payload.split_at(payload.len() - 4);
    assert!(body.ends_with("6304"), "{payload}");
    assert_eq!(crc, format!("{:04X}", crc16_ccitt_false(body.as_bytes())));

    let fields = tlv(&payload);
    let tags: Vec<&str> = fields.iter().map(|(tag, _)| *tag).collect();
    let expected_tags: &[&str] = match amount {
        Some(_) => &["00", "01", "29", "58", "53", "54", "63"],
        None => &["00", "01", "29", "58", "53", "63"],
    };
    assert_eq!(tags, expected_tags, "{payload}");
    assert_eq!(fields[0].1, "01");
    assert_eq!(fields[1].1, if amount.is_some() { "12" } else { "11" });
    assert_eq!(fields[3].1, "TH");
    assert_eq!(fields[4].1, "764");

    // The merchant account: PromptPay's AID, then the id under its kind's sub-tag.
    let account = tlv(fields[2].1);
    assert_eq!(account.len(), 2, "{payload}");
    assert_eq!(account[0], ("00", "A000000677010111"));
    let (sub_tag, value) = account[1];
    let digits = id.as_str();
    match id.kind() {
        PromptPayIdKind::MobilePhone => {
            assert_eq!(sub_tag, "01");
            assert_eq!(value, format!("0066{}", &digits[1..]));
        }
        PromptPayIdKind::NationalId => assert_eq!((sub_tag, value), ("02", digits)),
        PromptPayIdKind::EWallet => assert_eq!((sub_tag, value), ("03", digits)),
    }

    // The amount a payer's app fills in is the amount asked for, to the satang.
    if let Some(money) = amount {
        let text = fields[5].1;
        assert!(text.len() <= 13, "{text}");
        assert_eq!(parse_baht(text), Some(money.minor), "{text}");
    }
}

/// Splits EMVCo fields (two-digit tag, two-digit length, value), checking that they cover the
/// text exactly.
fn tlv(text: &str) -> Vec<(&str, &str)> {
    let mut rest = text;
    let mut fields = Vec::new();
    while !rest.is_empty() {
        assert!(rest.len() >= 4, "a truncated field in {text:?}");
        let tag = &rest[..2];
        assert!(
            tag.bytes().all(|b| b.is_ascii_digit()),
            "tag {tag:?} in {text:?}"
        );
        let len: usize = rest[2..4].parse().expect("a two-digit length");
        assert!(
            rest.len() >= 4 + len,
            "field {tag} runs past the end of {text:?}"
        );
        fields.push((tag, &rest[4..4 + len]));
        rest = &rest[4 + len..];
    }
    fields
}

/// CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF, no reflection), bit by bit.
fn crc16_ccitt_false(data: &[u8]) -> u16 {
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
