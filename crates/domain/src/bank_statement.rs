//! Bank statements (SPEC §2.13): reading a bank's CSV export into lines of money received or
//! paid, exactly, and the fingerprint that makes a second upload of the same transfers add
//! nothing.
//!
//! - **CSV**: RFC 4180 — comma-separated, `"`-quoted fields (`""` inside is one quote, commas
//!   and line breaks inside quotes are data), `\n` or `\r\n` between records, a header row
//!   first, a UTF-8 byte-order mark ignored, blank lines skipped. Every record has the header's
//!   number of fields.
//! - **Columns** are named by their header text (trimmed; an exact match first, else the one
//!   header equal ignoring case).
//! - **Amounts** are baht: `1,070.00`, `1070`, `1070.5`, `-250.00`, `(250.00)` (accounting
//!   negative), optionally with `฿`; commas only between groups of three digits; at most two
//!   decimals. Parsed to satang with integer arithmetic only ([`parse_baht`]).
//! - **Dates** use a strftime `date_format` (`%Y-%m-%d` by default); a year of 2400 or later is
//!   a Buddhist Era year (Thai banks print 2569 for 2026) and is turned into the Gregorian one.
//! - **Line numbers** are the file's: the header is line 1, so an error names the line a person
//!   sees in an editor.
//! - **Fingerprint**: the booking date, the amount, the description with its whitespace
//!   collapsed, and the occurrence of that triple within the file (0 for the first, 1 for the
//!   second …): two identical transfers on one day both count, and the same file — or a later
//!   statement that repeats those days — yields the same fingerprints again.

use std::collections::HashMap;

use chrono::format::{Item, StrftimeItems};
use chrono::{Datelike, NaiveDate, NaiveDateTime};

/// The date format when the upload names none.
pub const DEFAULT_DATE_FORMAT: &str = "%Y-%m-%d";
/// Most lines one statement may hold.
pub const MAX_LINES: usize = 50_000;
/// Longest description kept, in characters.
pub const MAX_DESCRIPTION: usize = 1_000;
/// Years from this one on are Buddhist Era (Gregorian + 543).
const FIRST_BUDDHIST_ERA_YEAR: i32 = 2400;
const BUDDHIST_ERA_OFFSET: i32 = 543;

/// Why an amount is not baht.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("is empty")]
    Empty,
    #[error("is not an amount in baht (e.g. 1,070.00 or 1070; at most two decimals)")]
    Malformed,
}

/// Baht as a bank prints them → satang, exactly (no floating point anywhere): a sign (`-`,
/// `+` or accounting parentheses) around what [`crate::typed_amount::parse_baht`] reads.
pub fn parse_baht(raw: &str) -> Result<i64, AmountError> {
    let mut s = raw.trim();
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    let mut negative = false;
    if let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        negative = true;
        s = inner.trim();
    }
    if let Some(rest) = s.strip_prefix('-') {
        if negative {
            return Err(AmountError::Malformed);
        }
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    // The magnitude alone: no second sign, no space between the sign and the number.
    if s.starts_with(['-', '+', ' ']) {
        return Err(AmountError::Malformed);
    }
    let minor = crate::typed_amount::parse_baht(s).ok_or(AmountError::Malformed)?;
    Ok(if negative { -minor } else { minor })
}

/// Satang as baht with two decimals and thousands commas (`107000` → `1,070.00`).
pub fn format_baht(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let whole = (abs / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", abs % 100)
}

/// Checks a strftime date format (it must parse and name a day).
pub fn check_date_format(format: &str) -> Result<(), String> {
    if format.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err("is not a valid strftime format (e.g. %Y-%m-%d or %d/%m/%Y)".into());
    }
    Ok(())
}

/// A date as the statement prints it, in `format`; Buddhist Era years become Gregorian.
pub fn parse_date(raw: &str, format: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    let date = NaiveDate::parse_from_str(raw, format).ok().or_else(|| {
        NaiveDateTime::parse_from_str(raw, format)
            .ok()
            .map(|d| d.date())
    })?;
    if date.year() >= FIRST_BUDDHIST_ERA_YEAR {
        date.with_year(date.year() - BUDDHIST_ERA_OFFSET)
    } else {
        Some(date)
    }
}

/// The header names of the three columns the upload maps.
#[derive(Debug, Clone)]
pub struct ColumnMapping {
    pub date: String,
    pub amount: String,
    pub description: String,
}

/// One transaction of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    /// The file line the record starts on (header = 1).
    pub line: u64,
    pub date: NaiveDate,
    /// Satang; positive is money received.
    pub amount: i64,
    /// Whitespace collapsed.
    pub description: String,
    /// How many earlier lines of the file have the same date, amount and description.
    pub occurrence: u32,
}

impl StatementLine {
    /// What identifies the transaction across uploads (see the module doc).
    pub fn fingerprint_key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.date, self.amount, self.description, self.occurrence
        )
    }
}

/// One refusal: the field (`csv`, `columns.date`, `lines[4].amount` …) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementError {
    pub field: String,
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> StatementError {
    StatementError {
        field: field.into(),
        message: message.into(),
    }
}

/// At most this many refusals are reported for one file.
const MAX_ERRORS: usize = 20;

/// Reads a statement: every line, or every refusal (up to 20), never part of a file.
pub fn parse_statement(
    csv: &str,
    columns: &ColumnMapping,
    date_format: &str,
) -> Result<Vec<StatementLine>, Vec<StatementError>> {
    let records = parse_csv(csv).map_err(|(line, message)| {
        vec![refuse(
            format!("lines[{line}]"),
            format!("line {line}: {message}"),
        )]
    })?;
    let mut records = records.into_iter();
    let Some((_, header)) = records.next() else {
        return Err(vec![refuse("csv", "is empty: a header row is expected")]);
    };
    let mut errors = Vec::new();
    let mut find = |field: &str, name: &str| -> Option<usize> {
        let wanted = name.trim();
        let exact = header.iter().position(|h| h.trim() == wanted);
        let found = exact.or_else(|| {
            let mut loose = header
                .iter()
                .enumerate()
                .filter(|(_, h)| h.trim().to_lowercase() == wanted.to_lowercase());
            match (loose.next(), loose.next()) {
                (Some((i, _)), None) => Some(i),
                _ => None,
            }
        });
        if found.is_none() {
            errors.push(refuse(
                format!("columns.{field}"),
                format!(
                    "no column \"{wanted}\" in the header row ({})",
                    header
                        .iter()
                        .map(|h| format!("\"{}\"", h.trim()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        found
    };
    let date_col = find("date", &columns.date);
    let amount_col = find("amount", &columns.amount);
    let description_col = find("description", &columns.description);
    if let Err(message) = check_date_format(date_format) {
        errors.push(refuse("date_format", message));
    }
    let (Some(date_col), Some(amount_col), Some(description_col)) =
        (date_col, amount_col, description_col)
    else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut lines = Vec::new();
    let mut seen: HashMap<(NaiveDate, i64, String), u32> = HashMap::new();
    for (line, record) in records {
        if errors.len() >= MAX_ERRORS {
            break;
        }
        if record.len() != header.len() {
            errors.push(refuse(
                format!("lines[{line}]"),
                format!(
                    "line {line}: has {} fields; the header row has {}",
                    record.len(),
                    header.len()
                ),
            ));
            continue;
        }
        if lines.len() >= MAX_LINES {
            errors.push(refuse(
                "csv",
                format!("has more than {MAX_LINES} lines; split the statement"),
            ));
            break;
        }
        let raw_date = &record[date_col];
        let date = parse_date(raw_date, date_format);
        if date.is_none() {
            errors.push(refuse(
                format!("lines[{line}].date"),
                format!(
                    "line {line}: \"{}\" is not a date in the format {date_format}",
                    raw_date.trim()
                ),
            ));
        }
        let raw_amount = &record[amount_col];
        let amount = parse_baht(raw_amount);
        if let Err(e) = &amount {
            errors.push(refuse(
                format!("lines[{line}].amount"),
                format!("line {line}: \"{}\" {e}", raw_amount.trim()),
            ));
        }
        let description = record[description_col]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if description.chars().count() > MAX_DESCRIPTION {
            errors.push(refuse(
                format!("lines[{line}].description"),
                format!("line {line}: is longer than {MAX_DESCRIPTION} characters"),
            ));
            continue;
        }
        if description.chars().any(char::is_control) {
            errors.push(refuse(
                format!("lines[{line}].description"),
                format!("line {line}: contains control characters"),
            ));
            continue;
        }
        if let (Some(date), Ok(amount)) = (date, amount) {
            let count = seen.entry((date, amount, description.clone())).or_insert(0);
            lines.push(StatementLine {
                line,
                date,
                amount,
                description,
                occurrence: *count,
            });
            *count += 1;
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if lines.is_empty() {
        return Err(vec![refuse("csv", "has no lines below the header row")]);
    }
    Ok(lines)
}

/// A CSV record: the file line it starts on, and its fields.
pub type CsvRecord = (u64, Vec<String>);

/// Splits CSV text into records, each with the file line it starts on; blank lines are
/// skipped. `Err((line, why))` for a quote left open or text after a closing quote.
pub fn parse_csv(text: &str) -> Result<Vec<CsvRecord>, (u64, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line: u64 = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut record = Vec::new();
        let mut field = String::new();
        loop {
            // At the start of a field.
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next() {
                        None => return Err((start, "a quoted field is never closed".into())),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            field.push(c);
                        }
                    }
                }
                match chars.peek() {
                    None | Some(',') | Some('\n') | Some('\r') => {}
                    Some(_) => {
                        return Err((line, "text follows a closing quote".into()));
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' || c == '\n' || c == '\r' {
                        break;
                    }
                    field.push(c);
                    chars.next();
                }
            }
            record.push(std::mem::take(&mut field));
            match chars.next() {
                Some(',') => continue,
                Some('\r') => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    line += 1;
                    break;
                }
                Some('\n') => {
                    line += 1;
                    break;
                }
                None => break,
                Some(_) => return Err((line, "unexpected character".into())),
            }
        }
        let blank = record.len() == 1 && record[0].trim().is_empty();
        if !blank {
            records.push((start, record));
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn columns() -> ColumnMapping {
        ColumnMapping {
            date: "Date".into(),
            amount: "Amount".into(),
            description: "Description".into(),
        }
    }

    #[test]
    fn parses_the_spec_examples() {
        assert_eq!(parse_baht("1,070.00"), Ok(107_000));
        assert_eq!(parse_baht("1070"), Ok(107_000));
        assert_eq!(parse_baht("1070.5"), Ok(107_050));
        assert_eq!(parse_baht(" ฿1,234,567.89 "), Ok(123_456_789));
        assert_eq!(parse_baht("-250.00"), Ok(-25_000));
        assert_eq!(parse_baht("(250.00)"), Ok(-25_000));
        assert_eq!(parse_baht("0.01"), Ok(1));
    }

    #[test]
    fn refuses_what_is_not_baht() {
        for bad in [
            "",
            "abc",
            "1,07.00",
            "10,70",
            "1.2.3",
            "1070.",
            "1,0700",
            "--1",
            "(-1)",
            "1e3",
            "12 345",
            "๑๒๓",
            "- 5",
            "+-5",
        ] {
            assert!(parse_baht(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(parse_baht("1.005"), Err(AmountError::Malformed));
        assert_eq!(
            parse_baht("99999999999999999999"),
            Err(AmountError::Malformed)
        );
    }

    #[test]
    fn reads_dates_in_the_given_format_and_buddhist_era_years() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 7);
        assert_eq!(parse_date("2026-12-07", DEFAULT_DATE_FORMAT), d);
        assert_eq!(parse_date("07/12/2026", "%d/%m/%Y"), d);
        assert_eq!(parse_date("07/12/2569", "%d/%m/%Y"), d);
        assert_eq!(parse_date("07/12/2026 13:45", "%d/%m/%Y %H:%M"), d);
        assert_eq!(parse_date("2026-13-07", DEFAULT_DATE_FORMAT), None);
        assert!(check_date_format("%Y-%m-%d").is_ok());
        assert!(check_date_format("%Q").is_err());
    }

    #[test]
    fn numbers_repeated_transfers_and_names_bad_lines() {
        let csv = "\u{feff}Date,Amount,Description\r\n2026-12-01,\"1,070.00\",Transfer  ฟาร์มสุขใจ\n\
                   2026-12-01,1070,Transfer ฟาร์มสุขใจ\n\n2026-12-02,\"5,350.00\",\"INV-2026-000001, \"\"paid\"\"\"\n";
        let lines = parse_statement(csv, &columns(), DEFAULT_DATE_FORMAT).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!((lines[0].line, lines[0].occurrence), (2, 0));
        assert_eq!((lines[1].line, lines[1].occurrence), (3, 1));
        assert_eq!(lines[0].description, "Transfer ฟาร์มสุขใจ");
        assert_eq!(lines[2].line, 5);
        assert_eq!(lines[2].description, "INV-2026-000001, \"paid\"");
        assert_ne!(lines[0].fingerprint_key(), lines[1].fingerprint_key());

        let bad = "Date,Amount,Description\n2026-12-01,1070,ok\n2026-12-02,12.345,x\n";
        let errors = parse_statement(bad, &columns(), DEFAULT_DATE_FORMAT).unwrap_err();
        assert_eq!(errors[0].field, "lines[3].amount");
        assert!(errors[0].message.starts_with("line 3:"));

        let unknown = ColumnMapping {
            amount: "Credit".into(),
            ..columns()
        };
        let errors = parse_statement(bad, &unknown, DEFAULT_DATE_FORMAT).unwrap_err();
        assert_eq!(errors[0].field, "columns.amount");

        let open = "Date,Amount,Description\n2026-12-01,1070,\"never closed\n";
        let errors = parse_statement(open, &columns(), DEFAULT_DATE_FORMAT).unwrap_err();
        assert_eq!(errors[0].field, "lines[2]");
        let ragged = "Date,Amount,Description\n2026-12-01,1070\n";
        let errors = parse_statement(ragged, &columns(), DEFAULT_DATE_FORMAT).unwrap_err();
        assert_eq!(errors[0].field, "lines[2]");
    }

    /// Baht written the way banks do, with or without separators and decimals.
    fn written(minor: i64, commas: bool, decimals: bool) -> String {
        let formatted = format_baht(minor);
        let s = if commas {
            formatted
        } else {
            formatted.replace(',', "")
        };
        if !decimals && minor % 100 == 0 {
            s.trim_end_matches(".00").to_owned()
        } else {
            s
        }
    }

    proptest! {
        #[test]
        fn baht_round_trip_exactly(
            minor in -(i64::MAX / 100)..(i64::MAX / 100), commas: bool, decimals: bool,
        ) {
            prop_assert_eq!(parse_baht(&written(minor, commas, decimals)), Ok(minor));
        }

        #[test]
        fn one_decimal_means_tens_of_satang(baht in 0_i64..10_000_000, tenth in 0_i64..10) {
            prop_assert_eq!(parse_baht(&format!("{baht}.{tenth}")), Ok(baht * 100 + tenth * 10));
        }

        #[test]
        fn never_panics_and_only_accepts_digits(s in "\\PC{0,24}") {
            if let Ok(v) = parse_baht(&s) {
                // Whatever is accepted prints back to the same number.
                prop_assert_eq!(parse_baht(&format_baht(v)), Ok(v));
                prop_assert!(s.chars().any(|c| c.is_ascii_digit()));
            }
        }

        #[test]
        fn csv_fields_round_trip(rows in proptest::collection::vec(
            proptest::collection::vec("[a-z ,\"\n฿ก-ฮ]{0,8}", 3), 1..20)) {
            let quote = |f: &String| format!("\"{}\"", f.replace('"', "\"\""));
            let mut text = String::from("a,b,c\n");
            for r in &rows {
                text.push_str(&r.iter().map(quote).collect::<Vec<_>>().join(","));
                text.push_str("\r\n");
            }
            let parsed = parse_csv(&text).unwrap();
            prop_assert_eq!(parsed.len(), rows.len() + 1);
            for (i, (_, record)) in parsed.iter().skip(1).enumerate() {
                prop_assert_eq!(record, &rows[i]);
            }
        }

        #[test]
        fn occurrences_count_identical_lines(n in 1_usize..6, m in 1_usize..6) {
            let mut text = String::from("Date,Amount,Description\n");
            for _ in 0..n { text.push_str("2026-12-01,100,A\n"); }
            for _ in 0..m { text.push_str("2026-12-01,100,B\n"); }
            let lines = parse_statement(&text, &columns(), DEFAULT_DATE_FORMAT).unwrap();
            let keys: std::collections::HashSet<_> = lines.iter().map(StatementLine::fingerprint_key).collect();
            prop_assert_eq!(keys.len(), n + m);
        }
    }
}
