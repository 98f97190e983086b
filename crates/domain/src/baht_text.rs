//! The amount in Thai words that a Thai invoice and receipt print under the total
//! ("หนึ่งพันสองร้อยสามสิบสี่บาทห้าสิบสตางค์").
//!
//! Conventions chosen, matching Excel's `BAHTTEXT` (what Thai accountants compare against):
//! - a units digit 1 is read **เอ็ด** whenever the number has more than one digit, so 101 baht is
//!   "หนึ่งร้อยเอ็ดบาทถ้วน", 11 is "สิบเอ็ด", 1,000,001 is "หนึ่งล้านเอ็ด"; a lone 1 is "หนึ่ง".
//!   (Other libraries say "หนึ่งร้อยหนึ่ง"; both are heard, Excel's is the accounting habit.)
//! - the tens digit 1 is "สิบ" (never "หนึ่งสิบ"), 2 is "ยี่สิบ";
//! - whole amounts end in "ถ้วน"; an amount under one baht is satang only ("ยี่สิบห้าสตางค์");
//!   zero is "ศูนย์บาทถ้วน";
//! - above 999,999 the count of millions is read again in words, so ล้าน repeats
//!   (10¹² baht = "หนึ่งล้านล้าน");
//! - a negative amount (a credit note) is prefixed "ลบ".

/// Thai words for the digits 0–9.
const DIGIT_WORDS: [&str; 10] = [
    "ศูนย์",
    "หนึ่ง",
    "สอง",
    "สาม",
    "สี่",
    "ห้า",
    "หก",
    "เจ็ด",
    "แปด",
    "เก้า",
];

/// Place names inside one group of six digits, from the units up; millions start a new group.
const PLACE_WORDS: [&str; 6] = ["", "สิบ", "ร้อย", "พัน", "หมื่น", "แสน"];

const MILLION: u64 = 1_000_000;

/// The amount `satang` (hundredths of a baht) in Thai words, as printed on a tax invoice.
///
/// ```
/// use satang_domain::baht_text::baht_text;
/// assert_eq!(baht_text(123_450), "หนึ่งพันสองร้อยสามสิบสี่บาทห้าสิบสตางค์");
/// assert_eq!(baht_text(10_100), "หนึ่งร้อยเอ็ดบาทถ้วน");
/// ```
pub fn baht_text(satang: i64) -> String {
    let mut out = String::new();
    if satang < 0 {
        out.push_str("ลบ");
    }
    // `unsigned_abs` so that i64::MIN has a magnitude too.
    let magnitude = satang.unsigned_abs();
    let (baht, fraction) = (magnitude / 100, magnitude % 100);
    if baht == 0 && fraction == 0 {
        out.push_str("ศูนย์บาทถ้วน");
        return out;
    }
    if baht > 0 {
        push_number(&mut out, baht, false);
        out.push_str("บาท");
    }
    if fraction > 0 {
        push_number(&mut out, fraction, false);
        out.push_str("สตางค์");
    } else {
        out.push_str("ถ้วน");
    }
    out
}

/// Appends the words for `n > 0`. `has_higher_digits` says whether words for larger places
/// were already written for the same number, which turns a units 1 into เอ็ด.
fn push_number(out: &mut String, n: u64, has_higher_digits: bool) {
    let millions = n / MILLION;
    if millions > 0 {
        // The count of millions is itself a number, read with the same rules (recursively).
        push_number(out, millions, has_higher_digits);
        out.push_str("ล้าน");
    }
    push_group(out, n % MILLION, has_higher_digits || millions > 0);
}

/// Appends the words for `group < 1,000,000`; zero digits are silent.
fn push_group(out: &mut String, group: u64, has_higher_digits: bool) {
    let mut divisor = 100_000;
    for place in (0..PLACE_WORDS.len()).rev() {
        let digit = ((group / divisor) % 10) as usize;
        divisor /= 10;
        match (place, digit) {
            (_, 0) => {}
            (1, 1) => out.push_str("สิบ"),
            (1, 2) => out.push_str("ยี่สิบ"),
            (0, 1) if has_higher_digits || group >= 10 => out.push_str("เอ็ด"),
            _ => {
                out.push_str(DIGIT_WORDS[digit]);
                out.push_str(PLACE_WORDS[place]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_checked_amounts() {
        let cases: &[(i64, &str)] = &[
            (0, "ศูนย์บาทถ้วน"),
            (1, "หนึ่งสตางค์"),
            (10, "สิบสตางค์"),
            (11, "สิบเอ็ดสตางค์"),
            (21, "ยี่สิบเอ็ดสตางค์"),
            (25, "ยี่สิบห้าสตางค์"),
            (99, "เก้าสิบเก้าสตางค์"),
            (100, "หนึ่งบาทถ้วน"),
            (101, "หนึ่งบาทหนึ่งสตางค์"),
            (111, "หนึ่งบาทสิบเอ็ดสตางค์"),
            (150, "หนึ่งบาทห้าสิบสตางค์"),
            (1_000, "สิบบาทถ้วน"),
            (1_100, "สิบเอ็ดบาทถ้วน"),
            (2_000, "ยี่สิบบาทถ้วน"),
            (2_100, "ยี่สิบเอ็ดบาทถ้วน"),
            (3_100, "สามสิบเอ็ดบาทถ้วน"),
            (10_000, "หนึ่งร้อยบาทถ้วน"),
            (10_100, "หนึ่งร้อยเอ็ดบาทถ้วน"),
            (11_100, "หนึ่งร้อยสิบเอ็ดบาทถ้วน"),
            (12_000, "หนึ่งร้อยยี่สิบบาทถ้วน"),
            (20_100, "สองร้อยเอ็ดบาทถ้วน"),
            (100_000, "หนึ่งพันบาทถ้วน"),
            (100_100, "หนึ่งพันเอ็ดบาทถ้วน"),
            (123_450, "หนึ่งพันสองร้อยสามสิบสี่บาทห้าสิบสตางค์"),
            (1_000_000, "หนึ่งหมื่นบาทถ้วน"),
            (10_000_000, "หนึ่งแสนบาทถ้วน"),
            (10_700_075, "หนึ่งแสนเจ็ดพันบาทเจ็ดสิบห้าสตางค์"),
            (100_000_000, "หนึ่งล้านบาทถ้วน"),
            (100_000_010, "หนึ่งล้านบาทสิบสตางค์"),
            (100_000_100, "หนึ่งล้านเอ็ดบาทถ้วน"),
            (100_001_000, "หนึ่งล้านสิบบาทถ้วน"),
            (100_001_100, "หนึ่งล้านสิบเอ็ดบาทถ้วน"),
            (100_100_000, "หนึ่งล้านหนึ่งพันบาทถ้วน"),
            (1_000_000_000, "สิบล้านบาทถ้วน"),
            (1_100_000_000, "สิบเอ็ดล้านบาทถ้วน"),
            (2_100_000_000, "ยี่สิบเอ็ดล้านบาทถ้วน"),
            (10_100_000_000, "หนึ่งร้อยเอ็ดล้านบาทถ้วน"),
            (100_000_000_000, "หนึ่งพันล้านบาทถ้วน"),
            (100_000_000_000_000, "หนึ่งล้านล้านบาทถ้วน"),
            (100_000_000_000_100, "หนึ่งล้านล้านเอ็ดบาทถ้วน"),
            (100_000_100_000_000, "หนึ่งล้านเอ็ดล้านบาทถ้วน"),
            (200_000_000_000_000, "สองล้านล้านบาทถ้วน"),
            (
                123_456_789_012_300,
                "หนึ่งล้านสองแสนสามหมื่นสี่พันห้าร้อยหกสิบเจ็ดล้านแปดแสนเก้าหมื่นหนึ่งร้อยยี่สิบสามบาทถ้วน",
            ),
            (
                i64::MAX,
                "เก้าหมื่นสองพันสองร้อยสามสิบสามล้านเจ็ดแสนสองหมื่นสามร้อยหกสิบแปดล้าน\
                 ห้าแสนสี่หมื่นเจ็ดพันเจ็ดร้อยห้าสิบแปดบาทเจ็ดสตางค์",
            ),
            (-25, "ลบยี่สิบห้าสตางค์"),
            (-100, "ลบหนึ่งบาทถ้วน"),
            (-123_450, "ลบหนึ่งพันสองร้อยสามสิบสี่บาทห้าสิบสตางค์"),
            (
                i64::MIN,
                "ลบเก้าหมื่นสองพันสองร้อยสามสิบสามล้านเจ็ดแสนสองหมื่นสามร้อยหกสิบแปดล้าน\
                 ห้าแสนสี่หมื่นเจ็ดพันเจ็ดร้อยห้าสิบแปดบาทแปดสตางค์",
            ),
        ];
        for &(satang, expected) in cases {
            assert_eq!(baht_text(satang), expected, "{satang} satang");
        }
    }

    /// A second reading, written independently of the one above: it walks the decimal digits
    /// left to right (no recursion, no arithmetic on groups) and names each digit by its
    /// position from the right, saying ล้าน at every sixth position.
    fn reference_baht_text(satang: i64) -> String {
        const NAMES: [&str; 10] = [
            "ศูนย์",
            "หนึ่ง",
            "สอง",
            "สาม",
            "สี่",
            "ห้า",
            "หก",
            "เจ็ด",
            "แปด",
            "เก้า",
        ];
        const UNITS: [&str; 6] = ["", "สิบ", "ร้อย", "พัน", "หมื่น", "แสน"];

        fn read(digits: &str) -> String {
            let digits = digits.trim_start_matches('0');
            let len = digits.len();
            let mut words = String::new();
            for (i, ch) in digits.bytes().enumerate() {
                let position = len - 1 - i;
                let digit = usize::from(ch - b'0');
                let unit = position % 6;
                // A units-of-a-count 1 after any other digit (the string has no leading zeros).
                if digit == 1 && unit == 0 && i > 0 {
                    words += "เอ็ด";
                } else if digit == 1 && unit == 1 {
                    words += "สิบ";
                } else if digit == 2 && unit == 1 {
                    words += "ยี่สิบ";
                } else if digit != 0 {
                    words += NAMES[digit];
                    words += UNITS[unit];
                }
                if unit == 0 && position > 0 {
                    words += "ล้าน";
                }
            }
            words
        }

        let padded = format!("{:03}", satang.unsigned_abs());
        let (baht, fraction) = padded.split_at(padded.len() - 2);
        let sign = if satang < 0 { "ลบ" } else { "" };
        let baht_words = read(baht);
        let satang_words = read(fraction);
        match (baht_words.is_empty(), satang_words.is_empty()) {
            (true, true) => "ศูนย์บาทถ้วน".to_owned(),
            (false, true) => format!("{sign}{baht_words}บาทถ้วน"),
            (true, false) => format!("{sign}{satang_words}สตางค์"),
            (false, false) => format!("{sign}{baht_words}บาท{satang_words}สตางค์"),
        }
    }

    #[test]
    fn reference_agrees_on_the_hand_checked_edge() {
        assert_eq!(reference_baht_text(10_100), "หนึ่งร้อยเอ็ดบาทถ้วน");
        assert_eq!(reference_baht_text(100_000_000_000_000), "หนึ่งล้านล้านบาทถ้วน");
        assert_eq!(reference_baht_text(-25), "ลบยี่สิบห้าสตางค์");
    }

    proptest! {
        #[test]
        fn matches_the_independent_reading(satang in any::<i64>()) {
            prop_assert_eq!(baht_text(satang), reference_baht_text(satang));
        }

        #[test]
        fn matches_the_independent_reading_for_invoice_sized_amounts(satang in -10_000_000_000_i64..10_000_000_000) {
            prop_assert_eq!(baht_text(satang), reference_baht_text(satang));
        }

        #[test]
        fn whole_baht_end_in_thuan(baht in 1_i64..1_000_000_000_000) {
            let text = baht_text(baht * 100);
            prop_assert!(text.ends_with("บาทถ้วน"));
            prop_assert!(!text.contains("สตางค์"));
        }

        #[test]
        fn negation_only_adds_the_prefix(satang in 1_i64..i64::MAX) {
            prop_assert_eq!(baht_text(-satang), format!("ลบ{}", baht_text(satang)));
        }
    }
}
