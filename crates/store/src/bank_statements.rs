//! Bank statements and their lines (`billing.bank_statements`, `billing.bank_statement_lines`).
//!
//! Statements are the operator's own books: staff read and write them, no member reaches them,
//! so these functions take no [`crate::Scope`]. Two statements guard the rules:
//! [`insert_lines`] skips a line whose fingerprint is already stored (a re-upload adds nothing;
//! of two uploads racing, PostgreSQL makes the second wait on the first's unique-index entry),
//! and [`mark_matched`] changes a line only while it is `unmatched` (of two matches racing for
//! one line, the second — after the first's row lock, or behind SQLite's one writer — updates
//! nothing and its caller rolls back).

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::{Backend, Db, Result, Sql, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BankStatement {
    pub id: Uuid,
    pub date_column: String,
    pub amount_column: String,
    pub description_column: String,
    pub date_format: String,
    pub line_count: i64,
    pub duplicate_count: i64,
    pub uploaded_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A statement with how its lines stand now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatementSummary {
    #[sqlx(flatten)]
    pub statement: BankStatement,
    pub unmatched_count: i64,
    pub matched_count: i64,
    pub ignored_count: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BankLine {
    pub id: Uuid,
    pub statement_id: Uuid,
    pub line_no: i64,
    pub booked_on: NaiveDate,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub fingerprint: String,
    /// `unmatched`, `matched` or `ignored`.
    pub status: String,
    pub invoice_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub withholding_tax: i64,
    pub matched_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A statement to record, already parsed.
#[derive(Debug, Clone)]
pub struct NewStatement {
    pub date_column: String,
    pub amount_column: String,
    pub description_column: String,
    pub date_format: String,
    pub uploaded_by: Option<Uuid>,
}

/// One line to store.
#[derive(Debug, Clone)]
pub struct NewLine {
    pub line_no: i64,
    pub booked_on: NaiveDate,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub fingerprint: String,
}

pub async fn insert_statement(
    tx: &mut Tx,
    s: NewStatement,
    now: DateTime<Utc>,
) -> Result<BankStatement> {
    tx.fetch_one(
        Sql::new(
            "INSERT INTO bank_statements (id, date_column, amount_column, description_column, \
             date_format, line_count, duplicate_count, uploaded_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7) RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(s.date_column)
        .bind(s.amount_column)
        .bind(s.description_column)
        .bind(s.date_format)
        .bind(s.uploaded_by)
        .bind(now),
    )
    .await
}

/// Records how many lines the upload added and how many were there already.
pub async fn set_counts(
    tx: &mut Tx,
    id: Uuid,
    line_count: i64,
    duplicate_count: i64,
) -> Result<BankStatement> {
    tx.fetch_one(
        Sql::new(
            "UPDATE bank_statements SET line_count = $2, duplicate_count = $3 WHERE id = $1 \
             RETURNING *",
        )
        .bind(id)
        .bind(line_count)
        .bind(duplicate_count),
    )
    .await
}

/// Inserts the lines not stored yet (by fingerprint), in order; returns how many were new.
pub async fn insert_lines(
    tx: &mut Tx,
    statement_id: Uuid,
    lines: &[NewLine],
    now: DateTime<Utc>,
) -> Result<u64> {
    const COLS: usize = 9;
    let mut inserted = 0;
    for chunk in lines.chunks(crate::rows_per_statement(COLS)) {
        let mut text = String::from(
            "INSERT INTO bank_statement_lines (id, statement_id, line_no, booked_on, amount, \
             currency, description, fingerprint, created_at, status, updated_at) VALUES ",
        );
        for i in 0..chunk.len() {
            let p = i * COLS;
            if i > 0 {
                text.push_str(", ");
            }
            text.push('(');
            for c in 1..=COLS {
                text.push_str(&format!("${}, ", p + c));
            }
            text.push_str(&format!("'unmatched', ${})", p + COLS));
        }
        text.push_str(" ON CONFLICT (fingerprint) DO NOTHING");
        let mut sql = Sql::new(text);
        for l in chunk {
            sql = sql
                .bind(Uuid::now_v7())
                .bind(statement_id)
                .bind(l.line_no)
                .bind(l.booked_on)
                .bind(l.amount)
                .bind(l.currency.as_str())
                .bind(l.description.as_str())
                .bind(l.fingerprint.as_str())
                .bind(now);
        }
        inserted += tx.execute(sql).await?;
    }
    Ok(inserted)
}

const SUMMARY: &str = "SELECT s.*, \
    (SELECT COUNT(*) FROM bank_statement_lines l WHERE l.statement_id = s.id \
        AND l.status = 'unmatched') AS unmatched_count, \
    (SELECT COUNT(*) FROM bank_statement_lines l WHERE l.statement_id = s.id \
        AND l.status = 'matched') AS matched_count, \
    (SELECT COUNT(*) FROM bank_statement_lines l WHERE l.statement_id = s.id \
        AND l.status = 'ignored') AS ignored_count \
    FROM bank_statements s";

/// Statements, newest first, keyset-paged by id (descending).
pub async fn list_statements(
    db: &Db,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<StatementSummary>> {
    db.fetch_all(
        Sql::new(format!(
            "{SUMMARY} WHERE ($1 IS NULL OR s.id < $1) ORDER BY s.id DESC"
        ))
        .bind(before)
        .limit(limit),
    )
    .await
}

pub async fn get_statement(db: &Db, id: Uuid) -> Result<Option<StatementSummary>> {
    db.fetch_optional(Sql::new(format!("{SUMMARY} WHERE s.id = $1")).bind(id))
        .await
}

/// The statement's lines with this status (`None`: all), in file order, keyset-paged by id.
pub async fn list_lines(
    db: &Db,
    statement_id: Uuid,
    status: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<BankLine>> {
    db.fetch_all(
        Sql::new(
            "SELECT * FROM bank_statement_lines WHERE statement_id = $1 \
             AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR id > $3) ORDER BY id",
        )
        .bind(statement_id)
        .bind(status)
        .bind(after)
        .limit(limit),
    )
    .await
}

/// One line of the statement, by id or by its file line number, locked on PostgreSQL.
pub async fn line_in(tx: &mut Tx, statement_id: Uuid, line: LineRef) -> Result<Option<BankLine>> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let sql = match line {
        LineRef::Id(id) => Sql::new(format!(
            "SELECT * FROM bank_statement_lines WHERE statement_id = $1 AND id = $2{lock}"
        ))
        .bind(statement_id)
        .bind(id),
        LineRef::Number(n) => Sql::new(format!(
            "SELECT * FROM bank_statement_lines WHERE statement_id = $1 AND line_no = $2{lock}"
        ))
        .bind(statement_id)
        .bind(n),
    };
    tx.fetch_optional(sql).await
}

/// How a request names a line: its id, or its line number in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineRef {
    Id(Uuid),
    Number(i64),
}

/// What a match records on the line.
#[derive(Debug, Clone, Copy)]
pub struct LineMatch {
    pub invoice_id: Uuid,
    pub customer_id: Uuid,
    pub payment_id: Uuid,
    pub withholding_tax: i64,
}

/// Marks an `unmatched` line matched; `None` when it no longer is unmatched.
pub async fn mark_matched(
    tx: &mut Tx,
    id: Uuid,
    m: LineMatch,
    now: DateTime<Utc>,
) -> Result<Option<BankLine>> {
    tx.fetch_optional(
        Sql::new(
            "UPDATE bank_statement_lines SET status = 'matched', invoice_id = $2, \
             customer_id = $3, payment_id = $4, withholding_tax = $5, matched_at = $6, \
             updated_at = $6 WHERE id = $1 AND status = 'unmatched' RETURNING *",
        )
        .bind(id)
        .bind(m.invoice_id)
        .bind(m.customer_id)
        .bind(m.payment_id)
        .bind(m.withholding_tax)
        .bind(now),
    )
    .await
}

/// Moves a line from status `from` to `to` (`unmatched` ↔ `ignored`); `None` when it was not
/// in `from`.
pub async fn set_status(
    tx: &mut Tx,
    id: Uuid,
    from: &str,
    to: &str,
    now: DateTime<Utc>,
) -> Result<Option<BankLine>> {
    tx.fetch_optional(
        Sql::new(
            "UPDATE bank_statement_lines SET status = $3, updated_at = $4 \
             WHERE id = $1 AND status = $2 RETURNING *",
        )
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(now),
    )
    .await
}

/// An invoice that can still take a payment, with what matching reads of its customer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenInvoice {
    pub id: Uuid,
    pub number: Option<String>,
    pub customer_id: Uuid,
    pub currency: String,
    pub total: i64,
    pub vat_amount: i64,
    pub withholding_tax: i64,
    pub amount_due: i64,
    pub due_date: Option<NaiveDate>,
    pub customer_name: String,
    pub customer_legal_name: Option<String>,
    pub customer_tax_id: Option<String>,
}

/// Every `open` or `uncollectible` invoice in `currency` with money still due, oldest due
/// date first.
pub async fn open_invoices(db: &Db, currency: &str) -> Result<Vec<OpenInvoice>> {
    db.fetch_all(
        Sql::new(
            "SELECT i.id, i.number, i.customer_id, i.currency, i.total, i.vat_amount, \
             i.withholding_tax, i.amount_due, i.due_date, c.name AS customer_name, \
             c.legal_name AS customer_legal_name, c.tax_id AS customer_tax_id \
             FROM invoices i JOIN customers c ON c.id = i.customer_id \
             WHERE i.status IN ('open', 'uncollectible') AND i.amount_due > 0 \
             AND i.currency = $1 ORDER BY i.due_date, i.id",
        )
        .bind(currency),
    )
    .await
}
