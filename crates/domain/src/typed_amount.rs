//! Amounts as a person types them in a form — `1,070.00`, `฿1,070`, `7.5` — read exactly into
//! hundredths (satang, or basis points for a percentage), without floating point.
//!
//! These parsers read text straight from outside, so they live here, pure and fuzzed
//! (`fuzz/fuzz_targets/baht_amount.rs`), rather than in the console that calls them.

/// A decimal with at most two places, as hundredths: `"1,070.00"` → `107000`, `"7"` → `700`.
/// Thousands separators must group by three; no sign, no exponent, nothing after the number.
/// Used for baht (→ satang) and for percentages (→ basis points).
pub fn parse_hundredths(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if (whole.is_empty() && fraction.is_empty())
        || fraction.len() > 2
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (text.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let groups: Vec<&str> = whole.split(',').collect();
    if groups.len() > 1
        && (groups[0].is_empty() || groups[0].len() > 3 || groups[1..].iter().any(|g| g.len() != 3))
    {
        return None;
    }
    let digits: String = groups.concat();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: i64 = 0;
    for b in digits.bytes() {
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let cents = match fraction.len() {
        0 => 0,
        1 => i64::from(fraction.as_bytes()[0] - b'0') * 10,
        _ => fraction.parse::<i64>().ok()?,
    };
    value.checked_mul(100)?.checked_add(cents)
}

/// Baht as typed (`฿1,070.00`, `1070`, `1 070.5` is refused) → satang.
pub fn parse_baht(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text.strip_prefix('฿').unwrap_or(text);
    parse_hundredths(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baht_as_typed_become_exact_satang() {
        assert_eq!(parse_baht("1,070.00"), Some(107_000));
        assert_eq!(parse_baht("1070"), Some(107_000));
        assert_eq!(parse_baht("1070.5"), Some(107_050));
        assert_eq!(parse_baht("0.07"), Some(7));
        assert_eq!(parse_baht(" ฿1,234,567.89 "), Some(123_456_789));
        assert_eq!(parse_baht("0"), Some(0));
        assert_eq!(parse_baht(".5"), Some(50));
        // 0.1 + 0.2 is not 0.30000000000000004 here.
        assert_eq!(parse_baht("0.30"), Some(30));
        assert_eq!(parse_baht("92,233,720,368,547,758.07"), Some(i64::MAX));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            " ",
            ".",
            "1.",
            "-5",
            "+5",
            "1.234",
            "1,07.00",
            ",100",
            "1,0000",
            "1 000",
            "1e3",
            "abc",
            "๑๒",
            "12 บาท",
            "1..2",
            "92,233,720,368,547,758.08",
            "99999999999999999999",
        ] {
            assert_eq!(parse_baht(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn percentages_become_basis_points() {
        assert_eq!(parse_hundredths("7"), Some(700));
        assert_eq!(parse_hundredths("3.00"), Some(300));
        assert_eq!(parse_hundredths("1.5"), Some(150));
        assert_eq!(parse_hundredths("7%"), None);
    }
}
