//! How figures look on a Thai document: Buddhist Era dates, grouped amounts, branch labels.
//!
//! Small and local on purpose: the API speaks Gregorian ISO dates and plain decimals; only the
//! printed document shows "24 พ.ย. 2569" and "1,234.50" (the Revenue Department accepts either
//! era, but Thai readers expect BE on a tax invoice).

use chrono::{Datelike, NaiveDate};
use satang_domain::money::Money;

/// Thai month abbreviations, January first.
const THAI_MONTHS_SHORT: [&str; 12] = [
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
];

/// Thai month names in full, January first, as a form's "เดือน …" asks.
const THAI_MONTHS: [&str; 12] = [
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
];

/// The Buddhist Era is the Gregorian year + 543.
const BUDDHIST_ERA_OFFSET: i32 = 543;

/// A Gregorian year in the Buddhist Era: 2026 → 2569.
pub fn buddhist_year(year: i32) -> i32 {
    year + BUDDHIST_ERA_OFFSET
}

/// The full Thai name of `date`'s month: `2026-03-…` → `"มีนาคม"`.
pub fn thai_month(date: NaiveDate) -> &'static str {
    THAI_MONTHS[date.month0() as usize]
}

/// A date as a report's column prints it, day/month/Buddhist year: `2026-03-05` → `"5/3/2569"`.
pub fn thai_numeric_date(date: NaiveDate) -> String {
    format!(
        "{}/{}/{}",
        date.day(),
        date.month(),
        buddhist_year(date.year())
    )
}

/// `2026-11-24` → `"24 พ.ย. 2569"`.
pub fn thai_date(date: NaiveDate) -> String {
    let month = THAI_MONTHS_SHORT[date.month0() as usize];
    format!("{} {month} {}", date.day(), buddhist_year(date.year()))
}

/// A service period: `start` and `end_exclusive` as stored (the end is the first day after the
/// period), printed inclusively: `"1 พ.ย. 2569 – 30 พ.ย. 2569"`.
pub fn thai_period(start: NaiveDate, end_exclusive: NaiveDate) -> String {
    let last = end_exclusive.pred_opt().unwrap_or(end_exclusive).max(start);
    format!("{} – {}", thai_date(start), thai_date(last))
}

/// `Money` in major units with thousands grouped: `123450` THB → `"1,234.50"`, `-5` → `"-0.05"`.
/// No currency symbol: the column headings name the currency once.
pub fn amount(money: Money) -> String {
    let plain = money.to_decimal_string();
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain.as_str()),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// A VAT rate in basis points as a percentage without needless zeros: 700 → `"7"`, 750 → `"7.5"`.
pub fn rate_percent(bps: i64) -> String {
    let text = format!("{}.{:02}", bps / 100, bps % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The branch line a Thai tax invoice must carry: `00000` is the head office, anything else a
/// numbered branch.
pub fn branch_label(code: &str) -> String {
    if code.chars().all(|c| c == '0') {
        "สำนักงานใหญ่ / Head office".to_owned()
    } else {
        format!("สาขาที่ {code} / Branch {code}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use satang_domain::money::Currency;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn dates_are_buddhist_era_with_thai_month_abbreviations() {
        assert_eq!(thai_date(d(2026, 11, 24)), "24 พ.ย. 2569");
        assert_eq!(thai_date(d(2027, 1, 1)), "1 ม.ค. 2570");
        assert_eq!(thai_date(d(2026, 12, 31)), "31 ธ.ค. 2569");
        assert_eq!(
            thai_period(d(2026, 11, 1), d(2026, 12, 1)),
            "1 พ.ย. 2569 – 30 พ.ย. 2569"
        );
    }

    #[test]
    fn report_dates_and_months_are_buddhist_era() {
        assert_eq!(thai_numeric_date(d(2026, 3, 5)), "5/3/2569");
        assert_eq!(thai_numeric_date(d(2030, 12, 31)), "31/12/2573");
        assert_eq!(thai_month(d(2030, 3, 1)), "มีนาคม");
        assert_eq!(thai_month(d(2030, 12, 1)), "ธันวาคม");
        assert_eq!(buddhist_year(2030), 2573);
    }

    #[test]
    fn amounts_are_grouped_with_two_decimals() {
        let thb = |minor| amount(Money::thb(minor));
        assert_eq!(thb(123_450), "1,234.50");
        assert_eq!(thb(0), "0.00");
        assert_eq!(thb(5), "0.05");
        assert_eq!(thb(-5), "-0.05");
        assert_eq!(thb(99_999), "999.99");
        assert_eq!(thb(100_000_000), "1,000,000.00");
        assert_eq!(thb(-123_456_789), "-1,234,567.89");
        assert_eq!(amount(Money::new(1_234_567, Currency::Jpy)), "1,234,567");
    }

    #[test]
    fn rates_and_branches() {
        assert_eq!(rate_percent(700), "7");
        assert_eq!(rate_percent(750), "7.5");
        assert_eq!(rate_percent(0), "0");
        assert_eq!(branch_label("00000"), "สำนักงานใหญ่ / Head office");
        assert_eq!(branch_label("00001"), "สาขาที่ 00001 / Branch 00001");
    }
}
