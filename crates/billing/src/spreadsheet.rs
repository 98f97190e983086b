//! Tables for the accountant's spreadsheet programs, written from the same rows as CSV or XLSX
//! (the exports of SPEC §2.14 and the reports of §4.3 share this).
//!
//! - **CSV**: UTF-8 with a byte order mark (Excel then reads Thai as UTF-8), RFC 4180 quoting,
//!   CRLF line ends. Money in major units with the currency's decimals and no grouping
//!   (`1070.00`, `-0.05`), dates ISO (`2030-03-05`). A text cell that a spreadsheet would run
//!   as a formula (`=…`, `@…`, `+`/`-` followed by anything but a number) is written with a
//!   leading `'`, the usual guard against formula injection: customers write their own names.
//! - **XLSX** (`rust_xlsxwriter`): a bold header row, frozen; money as numbers formatted
//!   `#,##0.00` (`#,##0` for a currency without minor units), dates as date cells formatted
//!   `yyyy-mm-dd`, text always as text (never a formula). Worksheets are written in constant
//!   memory (rows go to a temporary file as they are written); past Excel's 1,048,576 rows the
//!   table continues on a second worksheet with the same header.
//!
//! Money is integer minor units throughout; the only floating-point value is the XLSX cell
//! itself, which the format defines as a double: `minor / 100` is one correctly rounded
//! division, the same double Excel reads from the decimal `10.70`.

use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{ExcelDateTime, Format, FormatAlign, Workbook, XlsxError};
use satang_domain::Money;

use crate::{Error, Result};

/// One cell of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Date(NaiveDate),
    Money(Money),
    Empty,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    /// Text, or an empty cell for `None`.
    pub fn opt(s: Option<String>) -> Cell {
        s.map_or(Cell::Empty, Cell::Text)
    }

    /// The cell as CSV text (unquoted).
    fn csv_text(&self) -> String {
        match self {
            Cell::Text(s) => guard_formula(s),
            Cell::Int(n) => n.to_string(),
            Cell::Date(d) => d.to_string(),
            Cell::Money(m) => m.to_decimal_string(),
            Cell::Empty => String::new(),
        }
    }
}

/// The byte order mark every CSV starts with.
pub const BOM: &str = "\u{feff}";

/// `'` before text a spreadsheet would evaluate: `=`, `@`, a tab or carriage return first, or
/// `+`/`-` first and then something other than a plain number (a phone `+66 81 234 5678` and a
/// figure `-12.50` are left alone).
fn guard_formula(s: &str) -> String {
    let mut chars = s.chars();
    let risky = match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !chars.all(|c| c.is_ascii_digit() || " .,-()".contains(c)),
        _ => false,
    };
    if risky { format!("'{s}") } else { s.to_owned() }
}

/// One CSV field, quoted when it must be (RFC 4180).
fn field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// Appends one CSV line (CRLF-terminated) to `out`.
pub fn csv_line(cells: &[Cell], out: &mut String) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&field(&c.csv_text()));
    }
    out.push_str("\r\n");
}

/// The start of a CSV file: the byte order mark and the header line.
pub fn csv_header(header: &[&str]) -> String {
    let mut out = String::from(BOM);
    for (i, h) in header.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&field(h));
    }
    out.push_str("\r\n");
    out
}

/// A whole table as CSV.
pub fn csv(header: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut out = csv_header(header);
    for r in rows {
        csv_line(r, &mut out);
    }
    out
}

/// Rows of one worksheet at most, the header included (Excel's limit).
const SHEET_ROWS: u32 = 1_048_576;

fn xlsx_error(e: XlsxError) -> Error {
    Error::Internal(format!("xlsx: {e}"))
}

/// An XLSX workbook being written row by row.
pub struct Xlsx {
    workbook: Workbook,
    name: String,
    header: Vec<String>,
    /// Worksheets so far (the last is written to) and its next row.
    sheets: usize,
    row: u32,
    bold: Format,
    money: Format,
    whole_money: Format,
    date: Format,
}

impl Xlsx {
    /// A workbook whose first worksheet is `name` (at most 31 characters) with `header`.
    pub fn new(name: &str, header: &[&str]) -> Result<Xlsx> {
        let mut x = Xlsx {
            workbook: Workbook::new(),
            name: name.chars().take(27).collect(),
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            sheets: 0,
            row: 0,
            bold: Format::new().set_bold(),
            money: Format::new().set_num_format("#,##0.00"),
            whole_money: Format::new().set_num_format("#,##0"),
            date: Format::new()
                .set_num_format("yyyy-mm-dd")
                .set_align(FormatAlign::Left),
        };
        x.start_sheet()?;
        Ok(x)
    }

    fn start_sheet(&mut self) -> Result<()> {
        let name = if self.sheets == 0 {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, self.sheets + 1)
        };
        let sheet = self
            .workbook
            .add_worksheet_with_constant_memory()
            .map_err(xlsx_error)?;
        sheet.set_name(&name).map_err(xlsx_error)?;
        for (col, h) in self.header.iter().enumerate() {
            let col = u16::try_from(col).map_err(|_| Error::Internal("too many columns".into()))?;
            sheet.set_column_width(col, 16).map_err(xlsx_error)?;
            sheet
                .write_string_with_format(0, col, h, &self.bold)
                .map_err(xlsx_error)?;
        }
        sheet.set_freeze_panes(1, 0).map_err(xlsx_error)?;
        self.sheets += 1;
        self.row = 1;
        Ok(())
    }

    /// Writes the next row.
    pub fn push(&mut self, cells: &[Cell]) -> Result<()> {
        if self.row >= SHEET_ROWS {
            self.start_sheet()?;
        }
        let row = self.row;
        let sheet = self
            .workbook
            .worksheet_from_index(self.sheets - 1)
            .map_err(xlsx_error)?;
        for (col, cell) in cells.iter().enumerate() {
            let col = u16::try_from(col).map_err(|_| Error::Internal("too many columns".into()))?;
            match cell {
                Cell::Text(s) => sheet.write_string(row, col, s).map(|_| ()),
                Cell::Int(n) => sheet.write_number(row, col, *n as f64).map(|_| ()),
                Cell::Date(d) => {
                    let date = ExcelDateTime::from_ymd(
                        u16::try_from(d.year()).unwrap_or(1900),
                        d.month() as u8,
                        d.day() as u8,
                    )
                    .map_err(xlsx_error)?;
                    sheet
                        .write_datetime_with_format(row, col, &date, &self.date)
                        .map(|_| ())
                }
                Cell::Money(m) => {
                    let per_major = m.currency.minor_per_major();
                    let format = if per_major == 1 {
                        &self.whole_money
                    } else {
                        &self.money
                    };
                    let value = m.minor as f64 / per_major as f64;
                    sheet
                        .write_number_with_format(row, col, value, format)
                        .map(|_| ())
                }
                Cell::Empty => Ok(()),
            }
            .map_err(xlsx_error)?;
        }
        self.row += 1;
        Ok(())
    }

    /// The finished file.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        self.workbook.save_to_buffer().map_err(xlsx_error)
    }
}

/// A whole table as XLSX.
pub fn xlsx(name: &str, header: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>> {
    let mut x = Xlsx::new(name, header)?;
    for r in rows {
        x.push(r)?;
    }
    x.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_it_must() {
        let out = csv(
            &["a", "b"],
            &[vec![Cell::text("x, y"), Cell::text("say \"hi\"")]],
        );
        assert_eq!(out, "\u{feff}a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n");
    }

    #[test]
    fn money_and_dates_are_written_for_the_accountant() {
        let mut out = String::new();
        csv_line(
            &[
                Cell::Money(Money::thb(107_000)),
                Cell::Money(Money::thb(-5)),
                Cell::Money(Money::new(1_500, satang_domain::Currency::Jpy)),
                Cell::Date(NaiveDate::from_ymd_opt(2030, 3, 5).unwrap()),
                Cell::Int(-3),
                Cell::Empty,
                Cell::text("บริษัท ฟาร์มไอคิว จำกัด"),
            ],
            &mut out,
        );
        assert_eq!(
            out,
            "1070.00,-0.05,1500,2030-03-05,-3,,บริษัท ฟาร์มไอคิว จำกัด\r\n"
        );
    }

    #[test]
    fn formulas_are_not_run_but_numbers_and_phones_stay() {
        assert_eq!(guard_formula("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(guard_formula("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(guard_formula("+cmd|' /C calc'!A0"), "'+cmd|' /C calc'!A0");
        assert_eq!(guard_formula("-2+3+cmd"), "'-2+3+cmd");
        assert_eq!(guard_formula("+66 81 234 5678"), "+66 81 234 5678");
        assert_eq!(guard_formula("-12.50"), "-12.50");
        assert_eq!(guard_formula("ร้าน = ดี"), "ร้าน = ดี");
    }

    #[test]
    fn xlsx_is_a_zip_file() {
        let file = xlsx(
            "customers",
            &["name", "balance"],
            &[vec![Cell::text("ไร่"), Cell::Money(Money::thb(107_000))]],
        )
        .unwrap();
        assert!(file.starts_with(b"PK"));
    }
}
