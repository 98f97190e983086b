//! How money and dates look on a console page: `฿1,234.50`, Buddhist-Era dates in Thai
//! ("24 พ.ย. 2569") and Gregorian ones in English ("24 Nov 2026"). Figures come from the API
//! as integers of minor units and ISO dates; only their appearance is decided here.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use satang_documents::format as document;
use satang_domain::money::{Currency, Money};

use crate::i18n::Lang;

const ENGLISH_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `123450`, `"THB"` → `"฿1,234.50"`; other currencies keep their code: `"1,234.50 USD"`.
pub fn money(minor: i64, currency: &str) -> String {
    let parsed: Option<Currency> =
        serde_json::from_value(serde_json::Value::String(currency.to_owned())).ok();
    match parsed {
        Some(Currency::Thb) => {
            let text = document::amount(Money::thb(minor));
            match text.strip_prefix('-') {
                Some(rest) => format!("-฿{rest}"),
                None => format!("฿{text}"),
            }
        }
        Some(c) => format!("{} {currency}", document::amount(Money::new(minor, c))),
        None => format!("{minor} {currency}"),
    }
}

pub fn date(lang: Lang, date: NaiveDate) -> String {
    match lang {
        Lang::Th => document::thai_date(date),
        Lang::En => format!(
            "{} {} {}",
            date.day(),
            ENGLISH_MONTHS[date.month0() as usize],
            date.year()
        ),
    }
}

/// A date from an API date string (`YYYY-MM-DD` or RFC 3339); empty when there is none.
pub fn date_text(lang: Lang, text: &str) -> String {
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date(lang, d);
    }
    match DateTime::parse_from_rfc3339(text) {
        // Dates are shown in Thailand's time: the seller's and its customers' calendar.
        Ok(t) => date(
            lang,
            satang_domain::period::bangkok_date(t.with_timezone(&Utc)),
        ),
        Err(_) => String::new(),
    }
}

/// A month label for charts: `2026-11` → "พ.ย. 69" / "Nov 26".
pub fn month_label(lang: Lang, year: i32, month0: u32) -> String {
    match lang {
        Lang::Th => {
            let full = document::thai_date(
                NaiveDate::from_ymd_opt(year, month0 + 1, 1).unwrap_or_default(),
            );
            // "1 พ.ย. 2569" → "พ.ย. 69"
            let mut parts = full.split(' ').skip(1);
            let m = parts.next().unwrap_or("");
            let y = parts.next().unwrap_or("");
            format!("{m} {}", y.get(2..).unwrap_or(y))
        }
        Lang::En => format!(
            "{} {:02}",
            ENGLISH_MONTHS[month0 as usize % 12],
            year.rem_euclid(100)
        ),
    }
}

/// A month with its year in full: "มี.ค. 2573" / "Mar 2030".
pub fn month_year(lang: Lang, first: NaiveDate) -> String {
    match lang {
        // "1 มี.ค. 2573" → "มี.ค. 2573"
        Lang::Th => document::thai_date(first)
            .split_once(' ')
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_default(),
        Lang::En => format!(
            "{} {}",
            ENGLISH_MONTHS[first.month0() as usize],
            first.year()
        ),
    }
}

/// A year: Buddhist Era in Thai (2030 → "2573"), Gregorian in English.
pub fn year(lang: Lang, year: i32) -> String {
    match lang {
        Lang::Th => (year + 543).to_string(),
        Lang::En => year.to_string(),
    }
}

/// A code (`usage_batch`, `session.reuse_detected`) as words, for a value the catalogue has no
/// message for yet: "Usage batch", "Session · reuse detected".
pub fn readable_code(code: &str) -> String {
    let words = code
        .split('.')
        .map(|part| part.replace(['_', '-'], " "))
        .collect::<Vec<_>>()
        .join(" · ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_dates_in_both_languages() {
        assert_eq!(money(123_450, "THB"), "฿1,234.50");
        assert_eq!(money(-5, "THB"), "-฿0.05");
        assert_eq!(money(100_000_000, "THB"), "฿1,000,000.00");
        assert_eq!(money(1999, "USD"), "19.99 USD");
        let d = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(date(Lang::Th, d), "24 พ.ย. 2569");
        assert_eq!(date(Lang::En, d), "24 Nov 2026");
        assert_eq!(date_text(Lang::Th, "2026-11-24"), "24 พ.ย. 2569");
        // 20:00 UTC is already the next day in Bangkok.
        assert_eq!(date_text(Lang::En, "2026-11-24T20:00:00Z"), "25 Nov 2026");
        assert_eq!(date_text(Lang::En, "not a date"), "");
        assert_eq!(month_label(Lang::Th, 2026, 10), "พ.ย. 69");
        assert_eq!(month_label(Lang::En, 2026, 10), "Nov 26");
        let march = NaiveDate::from_ymd_opt(2030, 3, 1).unwrap();
        assert_eq!(month_year(Lang::Th, march), "มี.ค. 2573");
        assert_eq!(month_year(Lang::En, march), "Mar 2030");
        assert_eq!(year(Lang::Th, 2030), "2573");
        assert_eq!(year(Lang::En, 2030), "2030");
    }

    #[test]
    fn codes_read_as_words() {
        assert_eq!(readable_code("usage_batch"), "Usage batch");
        assert_eq!(
            readable_code("session.reuse_detected"),
            "Session · reuse detected"
        );
        assert_eq!(readable_code(""), "");
    }
}
