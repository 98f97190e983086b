//! Imports (SPEC §2.14): a company's book moved in from spreadsheets or another system as CSV,
//! through `POST /api/imports/…`, the console's import page and `satang import …` alike — all
//! call the operations here: [`import_customers`] and [`import_subscriptions`].
//!
//! What every import shares, and decided here (one [`run`] drives each kind of record):
//! - **CSV** (read with the `csv` crate): RFC 4180 quoting, `\n` or `\r\n`, a header row first
//!   whose cells name the columns (trimmed, any case; a UTF-8 byte-order mark ignored; a column
//!   with an empty header cell is ignored — spreadsheets add them). Line breaks are read as
//!   `\n`, inside quoted cells too. An unknown or repeated column,
//!   or a required one missing, refuses the whole file. Empty cells are absent values; rows whose
//!   cells are all empty are skipped.
//! - **Line numbers** are the file's, the header being line 1; a record whose quoted cell spans
//!   lines is named by the line it starts on.
//! - **Messages** for a person are in Thai and English ([`Message`]); the caller picks.
//! - **All or nothing**: a file with any bad row writes nothing and reports every error
//!   ([`ImportReport::refused`], the API's 422) — unless `partial`, which writes the good rows and
//!   reports the bad ones. A **dry run** answers exactly what the same import would answer and
//!   writes nothing.
//! - **Re-runs create nothing**: a row that is a stored record already is skipped and reported
//!   with the record's id ([`SkippedRow`]); each kind says what "is" means.
//! - **One transaction**: what an import writes commits together, in batches of
//!   [`BATCH_ROWS`] multi-row statements, with one event and one audit entry per record written
//!   (batched too), as a single create writes them. Imports take turns (on PostgreSQL an
//!   advisory lock), so two runs of one file cannot both find a record missing.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use satang_store::audit::Actor;
use satang_store::imports::{self as store, Reader};
use satang_store::{Db, Tx};

use crate::Result;

pub mod customers;
pub mod subscriptions;

pub use customers::{AddressInput, CustomerInput, ValidateCustomer, import_customers};
pub use subscriptions::import_subscriptions;

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

/// A sentence for a person, in both languages Satang speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub en: String,
    pub th: String,
}

impl Message {
    pub fn new(en: impl Into<String>, th: impl Into<String>) -> Message {
        Message {
            en: en.into(),
            th: th.into(),
        }
    }

    /// The Thai sentence when `thai`, else the English one.
    pub fn text(&self, thai: bool) -> &str {
        if thai { &self.th } else { &self.en }
    }
}

/// A refused field of one row, as a row's own checks name it (`tax_id`, `address.line1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedField {
    pub field: String,
    pub message: Message,
}

/// A refused row: its line in the file (header = 1), the column, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub field: String,
    pub message: Message,
}

impl RowError {
    pub(crate) fn new(line: u64, field: &str, message: Message) -> RowError {
        RowError {
            line,
            field: field.to_owned(),
            message,
        }
    }
}

/// The stored record a skipped row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Customer(Uuid),
    Subscription { id: Uuid, customer_id: Uuid },
}

/// A row that names a record the database already holds, left as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    pub line: u64,
    pub existing: Existing,
}

/// What an import did — or, in a dry run, would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    pub refused: bool,
}

impl ImportReport {
    /// Rows (not the header) with at least one error.
    pub fn bad_rows(&self) -> usize {
        let mut lines: Vec<u64> = self
            .errors
            .iter()
            .map(|e| e.line)
            .filter(|line| *line > 1)
            .collect();
        lines.dedup();
        lines.len()
    }
}

/// One kind of record an import brings in; [`run`] drives every kind the same way.
pub(crate) trait RecordImport {
    /// A row that passed its own checks, on its way to be created or skipped.
    type Candidate;
    /// A record ready to be written.
    type New;
    /// The columns a file may have.
    const COLUMNS: &'static [&'static str];
    /// The columns a file must have.
    const REQUIRED: &'static [&'static str];

    /// Each row's own checks, without the database: the candidates (a row repeating an
    /// earlier row of the file is not one), and an error for each other row.
    fn check(&self, table: &Table, errors: &mut Vec<RowError>) -> Vec<Self::Candidate>;

    /// Splits the candidates by what the database holds: those to create, the rows present
    /// already (skipped); the others become errors.
    async fn sort_out(
        &self,
        reader: &mut Reader<'_>,
        candidates: Vec<Self::Candidate>,
        errors: &mut Vec<RowError>,
    ) -> Result<(Vec<Self::New>, Vec<SkippedRow>)>;

    /// Writes the new records with their events and audit entries.
    async fn create_all(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        new: &[Self::New],
        now: DateTime<Utc>,
    ) -> Result<()>;
}

/// Imports the records of `csv` by the module's rules. `Ok` with [`ImportReport::refused`]
/// when a bad row (or header) kept the import from writing anything.
pub(crate) async fn run<I: RecordImport>(
    import: &I,
    db: &Db,
    actor: &Actor,
    csv: &str,
    options: ImportOptions,
    now: DateTime<Utc>,
) -> Result<ImportReport> {
    let table = match read_table(csv, I::COLUMNS, I::REQUIRED) {
        Ok(table) => table,
        Err(errors) => {
            return Ok(ImportReport {
                errors,
                dry_run: options.dry_run,
                refused: true,
                ..ImportReport::default()
            });
        }
    };
    let mut errors = table.errors.clone();
    let candidates = import.check(&table, &mut errors);
    let writes = !options.dry_run && (errors.is_empty() || options.partial);
    let mut tx = if writes {
        let mut tx = db.begin().await?;
        store::take_turn(&mut tx).await?;
        Some(tx)
    } else {
        None
    };
    let (new, skipped) = {
        let mut reader = match tx.as_mut() {
            Some(tx) => Reader::Tx(tx),
            None => Reader::Db(db),
        };
        import
            .sort_out(&mut reader, candidates, &mut errors)
            .await?
    };
    // Stable: a row's errors keep the order its checks found them in.
    errors.sort_by_key(|e| e.line);
    let refused = !errors.is_empty() && !options.partial;
    // A collision found only now (with a stored record) refuses the import: the transaction
    // ends unwritten.
    if let Some(mut tx) = tx
        && !refused
    {
        import.create_all(&mut tx, actor, &new, now).await?;
        tx.commit().await?;
    }
    Ok(ImportReport {
        rows: table.records,
        created: if refused { 0 } else { new.len() },
        skipped,
        errors,
        dry_run: options.dry_run,
        refused,
    })
}

/// A CSV file's data rows, each cell under the known column it belongs to.
#[derive(Debug)]
pub(crate) struct Table {
    /// For each column of the file, its name among the known ones; `None` for an unnamed column.
    columns: Vec<Option<&'static str>>,
    pub(crate) rows: Vec<TableRow>,
    /// Rows that could not be read (wrong number of cells), reported as errors.
    errors: Vec<RowError>,
    /// Data rows read, good and bad.
    records: usize,
}

impl Table {
    /// A row's cells with their column names, unnamed columns and empty cells left out.
    pub(crate) fn cells<'a>(
        &'a self,
        row: &'a TableRow,
    ) -> impl Iterator<Item = (&'static str, &'a str)> + 'a {
        self.columns
            .iter()
            .zip(&row.cells)
            .filter_map(|(column, cell)| column.map(|c| (c, cell.as_str())))
            .filter(|(_, cell)| !cell.trim().is_empty())
    }
}

#[derive(Debug)]
pub(crate) struct TableRow {
    pub(crate) line: u64,
    cells: Vec<String>,
}

/// No database text type holds U+0000 (the API refuses it in any JSON body too).
pub(crate) fn nul_error(line: u64, column: &str) -> RowError {
    RowError::new(
        line,
        column,
        Message::new("must not contain the NUL character", "ต้องไม่มีอักขระ NUL"),
    )
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
            Message::new(
                "is empty; the first line must be the header naming the columns",
                "ไฟล์ว่าง บรรทัดแรกต้องเป็นหัวตารางที่บอกชื่อคอลัมน์",
            ),
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
        .map_err(|e| vec![unreadable(1, &e)])?
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
                errors.push(RowError::new(
                    1,
                    k,
                    Message::new("appears twice in the header", "มีสองครั้งในหัวตาราง"),
                ));
            }
            Some(k) => columns.push(Some(*k)),
            None => errors.push(RowError::new(
                1,
                cell.trim(),
                Message::new(
                    format!(
                        "is not a column of this import; the columns are {}",
                        known.join(", ")
                    ),
                    format!("ไม่ใช่คอลัมน์ของการนำเข้านี้ คอลัมน์ที่ใช้ได้คือ {}", known.join(", ")),
                ),
            )),
        }
    }
    for r in required {
        if !columns.contains(&Some(*r)) {
            errors.push(RowError::new(
                1,
                r,
                Message::new("is missing from the header", "ไม่มีในหัวตาราง"),
            ));
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
                errors.push(unreadable(line, &e));
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
                Message::new(
                    format!("a file may hold at most {MAX_ROWS} rows; split it"),
                    format!("ไฟล์หนึ่งมีได้ไม่เกิน {MAX_ROWS} แถว โปรดแบ่งไฟล์"),
                ),
            )]);
        }
        if record.len() != columns.len() {
            errors.push(RowError::new(
                line,
                "csv",
                Message::new(
                    format!(
                        "has {} cells but the header has {}",
                        record.len(),
                        columns.len()
                    ),
                    format!("มี {} ช่อง แต่หัวตารางมี {} ช่อง", record.len(), columns.len()),
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

fn unreadable(line: u64, e: &csv::Error) -> RowError {
    RowError::new(
        line,
        "csv",
        Message::new(format!("cannot be read: {e}"), format!("อ่านไม่ได้: {e}")),
    )
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
        let named: Vec<_> = table.cells(&table.rows[1]).collect();
        assert_eq!(named, vec![("name", "B"), ("email", "b@x.th")]);
    }

    #[test]
    fn a_bad_header_refuses_the_file_on_line_one() {
        let errors = read_table("email,colour,email\nx,y,z\n", &KNOWN, &["name"]).unwrap_err();
        let fields: Vec<(&str, u64)> = errors.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert_eq!(fields, vec![("colour", 1), ("email", 1), ("name", 1)]);
        assert_eq!(errors[2].message.th, "ไม่มีในหัวตาราง");
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
        assert_eq!(
            table.errors[0].message.en,
            "has 1 cells but the header has 2"
        );
        assert_eq!(table.errors[0].message.th, "มี 1 ช่อง แต่หัวตารางมี 2 ช่อง");
    }

    #[test]
    fn bad_rows_count_lines_not_errors() {
        let error = |line| RowError::new(line, "x", Message::new("", ""));
        let report = ImportReport {
            errors: vec![error(2), error(2), error(5)],
            ..ImportReport::default()
        };
        assert_eq!(report.bad_rows(), 2);
    }
}
