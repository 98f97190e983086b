//! `parse_baht` and `parse_hundredths` (amounts and rates typed in the console's forms) on any
//! text: each agrees with a plain model of the accepted grammar, computed in 128 bits; what they
//! accept is never negative and reads back the same after the console writes it out again; and
//! every amount the console writes (`1,070.00`) reads back as itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use satang_documents::format::amount;
use satang_domain::money::Money;
use satang_domain::typed_amount::{parse_baht, parse_hundredths};

fuzz_target!(|input: (i64, &str)| {
    let (minor, text) = input;
    check_typed(text);
    check_written(minor);
});

/// The grammar, written out: optional spaces, digits either plain or grouped by three with
/// commas (`1,234,567`), then optionally `.` and one or two digits; no sign, nothing else.
fn model(text: &str) -> Option<i64> {
    let (whole, fraction) = match text.find('.') {
        Some(dot) => (&text[..dot], Some(&text[dot + 1..])),
        None => (text, None),
    };
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let cents: u128 = match fraction {
        None if whole.is_empty() => return None,
        None => 0,
        Some(f) if f.is_empty() || f.len() > 2 || !all_digits(f) => return None,
        Some(f) if f.len() == 1 => u128::from(f.as_bytes()[0] - b'0') * 10,
        Some(f) => f.parse().ok()?,
    };
    let mut groups = whole.split(',');
    let first = groups.next().unwrap_or_default();
    let rest: Vec<&str> = groups.collect();
    if !all_digits(first) || !rest.iter().all(|g| g.len() == 3 && all_digits(g)) {
        return None;
    }
    if !rest.is_empty() && !(1..=3).contains(&first.len()) {
        return None;
    }
    let significant = whole.replace(',', "");
    let significant = significant.trim_start_matches('0');
    if significant.len() > 20 {
        return None;
    }
    let units: u128 = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    i64::try_from(units * 100 + cents).ok()
}

fn check_typed(text: &str) {
    let hundredths = parse_hundredths(text);
    assert_eq!(hundredths, model(text.trim()), "parse_hundredths({text:?})");
    let trimmed = text.trim();
    let without_symbol = trimmed.strip_prefix('฿').unwrap_or(trimmed).trim();
    let satang = parse_baht(text);
    assert_eq!(satang, model(without_symbol), "parse_baht({text:?})");
    if hundredths.is_some() {
        assert_eq!(satang, hundredths, "{text:?}");
    }
    let Some(satang) = satang else { return };
    assert!(satang >= 0, "{text:?} -> {satang}");
    // What the console writes back into the form reads as the same amount.
    let money = Money::thb(satang);
    let written = amount(money);
    assert_eq!(parse_baht(&written), Some(satang), "{written}");
    assert_eq!(
        parse_baht(&format!("฿{written}")),
        Some(satang),
        "{written}"
    );
    assert_eq!(parse_hundredths(&money.to_decimal_string()), Some(satang));
}

fn check_written(minor: i64) {
    let written = amount(Money::thb(minor));
    let expected = (minor >= 0).then_some(minor);
    assert_eq!(parse_baht(&written), expected, "{written}");
    assert_eq!(model(&written), expected, "{written}");
}
