//! `TaxId::parse` and `BranchCode::parse` on any text: each agrees with a plain model written
//! here from the rules (13 digits, ASCII or Thai, separated by dashes or spaces, the mod-11 check
//! digit; a branch is exactly 5 digits), and what they accept re-formats and re-parses to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use satang_domain::tax_id::{BranchCode, TaxId, TaxIdError};

fuzz_target!(|input: &str| {
    check_tax_id(input);
    check_branch_code(input);
});

/// The digit a character stands for: `0`–`9` or Thai `๐`–`๙` (U+0E50–U+0E59).
fn digit(c: char) -> Option<u8> {
    let code = u32::from(c);
    let base = match c {
        '0'..='9' => u32::from('0'),
        '๐'..='๙' => 0x0E50,
        _ => return None,
    };
    u8::try_from(code - base).ok()
}

/// What `TaxId::parse` must answer, from the rules alone.
fn model_tax_id(input: &str) -> Result<String, TaxIdError> {
    if input.trim().is_empty() {
        return Err(TaxIdError::Empty);
    }
    let mut digits = Vec::new();
    for c in input.chars() {
        if matches!(c, '-' | ' ' | '\u{00A0}' | '\t') {
            continue;
        }
        match digit(c) {
            Some(d) => digits.push(d),
            None => return Err(TaxIdError::InvalidCharacter(c)),
        }
    }
    if digits.len() != 13 {
        return Err(TaxIdError::WrongLength(digits.len()));
    }
    let mut sum = 0_u32;
    for (i, d) in digits[..12].iter().enumerate() {
        sum += u32::from(*d) * (13 - i as u32);
    }
    let expected = ((11 - sum % 11) % 10) as u8;
    if digits[12] != expected {
        return Err(TaxIdError::CheckDigitMismatch {
            expected,
            found: digits[12],
        });
    }
    Ok(digits.iter().map(|d| char::from(b'0' + d)).collect())
}

fn check_tax_id(input: &str) {
    let parsed = TaxId::parse(input);
    let model = model_tax_id(input);
    assert_eq!(
        parsed.as_ref().map(TaxId::as_str),
        model.as_deref(),
        "{input:?}"
    );
    let id = match parsed {
        Ok(id) => id,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let digits = id.as_str();
    assert_eq!(digits.len(), 13);
    assert!(digits.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(id.to_string(), digits);

    // The printed form is X-XXXX-XXXXX-XX-X and reads back as the same id.
    let printed = id.formatted();
    let groups: Vec<usize> = printed.split('-').map(str::len).collect();
    assert_eq!(groups, [1, 4, 5, 2, 1], "{printed}");
    assert_eq!(printed.replace('-', ""), digits);
    assert_eq!(TaxId::parse(&printed).as_ref(), Ok(&id));
    assert_eq!(TaxId::parse(digits).as_ref(), Ok(&id));

    // The API sends the bare 13 digits and reads them back through the same parser.
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(json, format!("\"{digits}\""));
    assert_eq!(serde_json::from_str::<TaxId>(&json).unwrap(), id);
}

fn check_branch_code(input: &str) {
    let model: Option<String> = input
        .trim()
        .chars()
        .map(|c| digit(c).map(|d| char::from(b'0' + d)))
        .collect::<Option<String>>()
        .filter(|digits| digits.len() == 5);
    let parsed = BranchCode::parse(input);
    match (&parsed, &model) {
        (Ok(code), Some(digits)) => assert_eq!(code.as_str(), digits),
        (Err(TaxIdError::InvalidBranchCode(echo)), None) => assert_eq!(echo, input),
        _ => panic!("BranchCode::parse({input:?}) = {parsed:?}, the rules say {model:?}"),
    }
    let Ok(code) = parsed else { return };
    assert_eq!(code.is_head_office(), code.as_str() == "00000");
    let label = code.thai_label();
    assert!(
        code.is_head_office() || label.ends_with(code.as_str()),
        "{label}"
    );
    assert_eq!(BranchCode::parse(code.as_str()).as_ref(), Ok(&code));
    let json = serde_json::to_string(&code).unwrap();
    assert_eq!(serde_json::from_str::<BranchCode>(&json).unwrap(), code);
}
