//! Thai for the messages of `POST /api/customers`' checks, which the customer import reports
//! per row. The checks speak English (the API's language); a tax id or branch code refusal is
//! made again from what was typed, so its Thai comes from `satang_domain` with the English.
//! A unit test makes every message the checks can give find its Thai here.

use satang_domain::{BranchCode, TaxId};

/// English → Thai; `{}` stands for a number or value carried over as it is.
const MESSAGES: [(&str, &str); 13] = [
    ("must not be empty", "ต้องไม่เว้นว่าง"),
    ("must not contain control characters", "ต้องไม่มีอักขระควบคุม"),
    ("must be at most {} characters", "ต้องยาวไม่เกิน {} ตัวอักษร"),
    ("must be a valid email address", "ต้องเป็นอีเมลที่ถูกต้อง"),
    (
        "may contain only digits, spaces and + - ( ) .",
        "มีได้เฉพาะตัวเลข เว้นวรรค และ + - ( ) .",
    ),
    (
        "is not a supported ISO 4217 currency code",
        "ไม่ใช่รหัสสกุลเงิน ISO 4217 ที่รองรับ",
    ),
    ("must be th or en", "ต้องเป็น th หรือ en"),
    ("must be between 0 and 365", "ต้องอยู่ระหว่าง 0 ถึง 365"),
    (
        "must be a two-letter country code",
        "ต้องเป็นรหัสประเทศสองตัวอักษร",
    ),
    (
        "must be 5 digits in Thailand",
        "ต้องเป็นตัวเลข 5 หลักสำหรับประเทศไทย",
    ),
    ("may hold at most 50 keys", "มีได้ไม่เกิน 50 คีย์"),
    ("keys must be 1–40 characters", "คีย์ต้องยาว 1–40 ตัวอักษร"),
    (
        "values must be strings (at most 500 characters), numbers or booleans",
        "ค่าต้องเป็นข้อความ (ไม่เกิน 500 ตัวอักษร) ตัวเลข หรือค่าจริง/เท็จ",
    ),
];

/// The Thai of `english`, a refusal of `field` whose typed value was `typed`; the English
/// itself when no translation is known.
pub fn of(field: &str, english: &str, typed: Option<&str>) -> String {
    let domain = match (field, typed) {
        ("tax_id", Some(t)) => TaxId::parse(t).err(),
        ("branch_code", Some(b)) => BranchCode::parse(b).err(),
        _ => None,
    };
    if let Some(e) = domain.filter(|e| e.to_string() == english) {
        return e.thai();
    }
    MESSAGES
        .iter()
        .find_map(|(en, th)| translate(english, en, th))
        .unwrap_or_else(|| english.to_owned())
}

/// `th` with its `{}` filled when `english` matches the pattern `en`.
fn translate(english: &str, en: &str, th: &str) -> Option<String> {
    match en.split_once("{}") {
        None => (english == en).then(|| th.to_owned()),
        Some((before, after)) => {
            let value = english.strip_prefix(before)?.strip_suffix(after)?;
            (!value.is_empty()).then(|| th.replacen("{}", value, 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use satang_billing::imports::{AddressInput, CustomerInput};

    use super::*;
    use crate::routes::imports::validate_customer_row;

    /// Every message the create's checks give has its Thai: each check is made to fail once.
    #[test]
    fn every_refusal_of_a_customer_row_speaks_thai() {
        let long = "ก".repeat(301);
        let many_keys: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
        let bad_keys: Map<String, Value> = [
            ("".to_owned(), json!(1)),
            ("nested".to_owned(), json!({"a": 1})),
        ]
        .into_iter()
        .collect();
        let rows = [
            CustomerInput {
                name: "".into(),
                legal_name: Some(long.clone()),
                tax_id: Some("12345".into()),
                branch_code: Some("1".into()),
                email: Some("no-at-sign".into()),
                phone: Some("call me".into()),
                currency: Some("XXX".into()),
                locale: Some("fr".into()),
                payment_terms_days: Some(400),
                metadata: Some(many_keys),
                address: Some(AddressInput {
                    line1: Some(long.clone()),
                    postal_code: Some("1011".into()),
                    ..AddressInput::default()
                }),
                ..CustomerInput::default()
            },
            CustomerInput {
                name: "a\u{7}b".into(),
                tax_id: Some("0105536000316".into()),
                metadata: Some(bad_keys),
                address: Some(AddressInput {
                    country: Some("T1".into()),
                    ..AddressInput::default()
                }),
                ..CustomerInput::default()
            },
            CustomerInput {
                name: "x".into(),
                tax_id: Some("01055360003x3".into()),
                ..CustomerInput::default()
            },
        ];
        let mut seen = 0;
        for row in rows {
            for refused in validate_customer_row(row).unwrap_err() {
                seen += 1;
                assert_ne!(
                    refused.message.th, refused.message.en,
                    "no Thai for {}: {}",
                    refused.field, refused.message.en
                );
            }
        }
        assert!(seen >= 17, "{seen}");
    }

    #[test]
    fn a_value_in_the_message_is_carried_over() {
        assert_eq!(
            of("name", "must be at most 200 characters", None),
            "ต้องยาวไม่เกิน 200 ตัวอักษร"
        );
        assert_eq!(of("x", "something new", None), "something new");
    }
}
