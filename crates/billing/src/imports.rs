//! Imports (SPEC §2.14): a company's book moved in from spreadsheets or another system as CSV,
//! through `POST /api/imports/…` and `satang import …` alike — both call the operations here.
//!
//! What every import shares, and decided here:
//! - **CSV** (read with the `csv` crate): RFC 4180 quoting, `\n` or `\r\n`, a header row first
//!   whose cells name the columns (trimmed, any case; a UTF-8 byte-order mark ignored; a column
//!   with an empty header cell is ignored — spreadsheets add them). Line breaks are read as
//!   `\n`, inside quoted cells too. An unknown or repeated column,
//!   or a required one missing, refuses the whole file. Empty cells are absent values; rows whose
//!   cells are all empty are skipped.
//! - **Line numbers** are the file's, the header being line 1; a record whose quoted cell spans
//!   lines is named by the line it starts on.
//! - **All or nothing**: a file with any bad row writes nothing and reports every error
//!   ([`ImportReport::refused`], the API's 422) — unless `partial`, which writes the good rows and
//!   reports the bad ones. A **dry run** answers exactly what the same import would answer and
//!   writes nothing.
//! - **One transaction**: what an import writes commits together, in batches of
//!   [`BATCH_ROWS`] multi-row statements, with one event and one audit entry per record written
//!   (batched too), as a single create writes them.

use serde::Serialize;
use uuid::Uuid;

pub mod customers;

pub use customers::{AddressInput, CustomerInput, ValidateCustomer, import_customers};

/// Most data rows one file may hold.
pub const MAX_ROWS: usize = 200_000;
/// Records written per batch of statements.
pub const BATCH_ROWS: usize = 1_000;

/// How an import runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Check everything, write nothing.
    pub dry_run: bool,
    /// Write the good rows even when others fail.
    pub partial: bool,
}

/// A refused row: its line in the file (header = 1), the column, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: u64,
    pub field: String,
    pub message: String,
}

impl RowError {
    pub(crate) fn new(line: u64, field: &str, message: impl Into<String>) -> RowError {
        RowError {
            line,
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// A row that names a record the database already holds, left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRow {
    pub line: u64,
    pub customer_id: Uuid,
}

/// What an import did — or, in a dry run, would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Data rows in the file (blank rows not counted).
    pub rows: usize,
    /// Records created (in a dry run: that the import would create). 0 when refused.
    pub created: usize,
    /// Rows already present (an earlier import of the same rows): nothing written for them.
    pub skipped: Vec<SkippedRow>,
    /// Every refused row, by line.
    pub errors: Vec<RowError>,
    pub dry_run: bool,
    /// Nothing was (or would be) written because of `errors`: the API's 422.
    #[serde(skip)]
    pub refused: bool,
}

impl ImportReport {
    /// A file refused before its rows were looked at (its header, its size).
    fn refused_file(errors: Vec<RowError>, options: ImportOptions) -> ImportReport {
        ImportReport {
            errors,
            dry_run: options.dry_run,
            refused: true,
            ..ImportReport::default()
        }
    }
}

/// A CSV file's data rows, each cell under the known column it belongs to.
#[derive(Debug)]
struct Table {
    /// For each column of the file, its name among the known ones; `None` for an unnamed column.
    columns: Vec<Option<&'static str>>,
    rows: Vec<TableRow>,
    /// Rows that could not be read (wrong number of cells), reported as errors.
    errors: Vec<RowError>,
    /// Data rows read, good and bad.
    records: usize,
}

#[derive(Debug)]
struct TableRow {
    line: u64,
    cells: Vec<String>,
}

impl TableRow {
    /// The cells with their column names, unnamed columns left out.
    fn named<'a>(
        &'a self,
        columns: &'a [Option<&'static str>],
    ) -> impl Iterator<Item = (&'static str, &'a str)> + 'a {
        columns
            .iter()
            .zip(&self.cells)
            .filter_map(|(column, cell)| column.map(|c| (c, cell.as_str())))
    }
}

/// Reads `csv` whose header may name the `known` columns and must name the `required` ones.
/// `Err` refuses the file as a whole (every error on line 1, or the row past [`MAX_ROWS`]).
fn read_table(
    csv: &str,
    known: &[&'static str],
    required: &[&'static str],
) -> Result<Table, Vec<RowError>> {
    let csv = csv.strip_prefix('\u{feff}').unwrap_or(csv);
    if csv.trim().is_empty() {
        return Err(vec![RowError::new(
            1,
            "csv",
            "is empty; the first line must be the header naming the columns",
        )]);
    }
    // The reader counts lines at `\n` and ends a record at `\r`: after a `\r\n` the next
    // record's position would still be on the line before. With every line break a `\n` (in
    // quoted cells too), a record's position is its line.
    let csv = csv.replace("\r\n", "\n").replace('\r', "\n");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(csv.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| vec![RowError::new(1, "csv", format!("cannot be read: {e}"))])?
        .clone();
    let mut errors = Vec::new();
    let mut columns = Vec::with_capacity(header.len());
    for cell in &header {
        let name = cell.trim().to_lowercase();
        if name.is_empty() {
            columns.push(None);
            continue;
        }
        match known.iter().find(|k| **k == name) {
            Some(k) if columns.contains(&Some(*k)) => {
                errors.push(RowError::new(1, k, "appears twice in the header"));
            }
            Some(k) => columns.push(Some(*k)),
            None => errors.push(RowError::new(
                1,
                cell.trim(),
                format!(
                    "is not a column of this import; the columns are {}",
                    known.join(", ")
                ),
            )),
        }
    }
    for r in required {
        if !columns.contains(&Some(*r)) {
            errors.push(RowError::new(1, r, "is missing from the header"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::new();
    let mut records = 0;
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                records += 1;
                errors.push(RowError::new(line, "csv", format!("cannot be read: {e}")));
                continue;
            }
        };
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let line = record.position().map_or(0, |p| p.line());
        records += 1;
        if records > MAX_ROWS {
            return Err(vec![RowError::new(
                line,
                "csv",
                format!("a file may hold at most {MAX_ROWS} rows; split it"),
            )]);
        }
        if record.len() != columns.len() {
            errors.push(RowError::new(
                line,
                "csv",
                format!(
                    "has {} cells but the header has {}",
                    record.len(),
                    columns.len()
                ),
            ));
            continue;
        }
        rows.push(TableRow {
            line,
            cells: record.iter().map(str::to_owned).collect(),
        });
    }
    Ok(Table {
        columns,
        rows,
        errors,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [&str; 3] = ["name", "email", "tax_id"];

    #[test]
    fn rows_keep_their_file_lines_and_blank_rows_are_skipped() {
        let csv = "\u{feff}Name , EMAIL,\r\n\"สมชาย\nใจดี\",a@x.th,\r\n\r\n,,\r\nB,b@x.th,\r\n";
        let table = read_table(csv, &KNOWN, &["name"]).unwrap();
        assert_eq!(table.columns, vec![Some("name"), Some("email"), None]);
        assert_eq!(table.records, 2);
        let lines: Vec<u64> = table.rows.iter().map(|r| r.line).collect();
        // The quoted name spans lines 2 and 3; the blank line 4 and empty row 5 are skipped.
        assert_eq!(lines, vec![2, 6]);
        assert_eq!(table.rows[0].cells[0], "สมชาย\nใจดี");
        let named: Vec<_> = table.rows[1].named(&table.columns).collect();
        assert_eq!(named, vec![("name", "B"), ("email", "b@x.th")]);
    }

    #[test]
    fn a_bad_header_refuses_the_file_on_line_one() {
        let errors = read_table("email,colour,email\nx,y,z\n", &KNOWN, &["name"]).unwrap_err();
        let fields: Vec<(&str, u64)> = errors.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert_eq!(fields, vec![("colour", 1), ("email", 1), ("name", 1)]);
        let errors = read_table("  \n", &KNOWN, &["name"]).unwrap_err();
        assert_eq!(errors[0].field, "csv");
    }

    #[test]
    fn a_row_with_the_wrong_number_of_cells_is_an_error_of_its_line() {
        let table = read_table("name,email\nA,a@x.th\nB\nC,c@x.th,extra\n", &KNOWN, &[]).unwrap();
        assert_eq!(table.records, 3);
        assert_eq!(table.rows.len(), 1);
        let lines: Vec<u64> = table.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4]);
    }
}
