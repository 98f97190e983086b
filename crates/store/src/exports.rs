//! The accountant's exports (SPEC §2.14): every record of a kind whose date falls in a range,
//! a page at a time, in the order of that date and then id.
//!
//! Each kind has its date — a customer's `created_at`, an invoice's `issued_at` (drafts have
//! none and are left out), a payment's `paid_at`, a credit note's `issued_at` — and is paged by
//! keyset on `(date, id)` (indexes of migration 0026), so a million rows are read a page at a
//! time and each page costs the same. Every customer's records: exports are for staff.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::customers::PostalAddress;
use crate::{Db, Result, Sql};

/// Where a page starts: after the record with this date and id.
pub type After = Option<(DateTime<Utc>, Uuid)>;

/// The range and page of one query: records dated in `[from, to)` after `after`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub after: After,
    pub limit: i64,
}

impl Window {
    /// The shared conditions on `column` (the date) and `id`, with parameters `$1` to `$5`.
    fn clause(column: &str, id: &str) -> String {
        format!(
            "($1 IS NULL OR {column} >= $1) AND ($2 IS NULL OR {column} < $2) \
             AND ($3 IS NULL OR {column} > $3 OR ({column} = $3 AND {id} > $4))"
        )
    }

    fn bind(self, sql: Sql) -> Sql {
        sql.bind(self.from)
            .bind(self.to)
            .bind(self.after.map(|(at, _)| at))
            .bind(self.after.map(|(_, id)| id))
            .bind(self.limit)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: Uuid,
    pub name: String,
    pub legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub branch_code: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_email: Option<String>,
    pub address: Option<Json<PostalAddress>>,
    pub currency: String,
    pub payment_terms_days: i64,
    pub status: String,
    /// The credit balance, minor units.
    pub balance: i64,
    pub created_at: DateTime<Utc>,
}

/// Customers created in the window (deleted ones too: their tax records stay).
pub async fn customers(db: &Db, w: Window) -> Result<Vec<CustomerRow>> {
    let sql = Sql::new(format!(
        "SELECT c.id, c.name, c.legal_name, c.tax_id, c.branch_code, c.email, c.phone, \
         c.billing_email, c.address, c.currency, c.payment_terms_days, c.status, c.balance, \
         c.created_at FROM customers c WHERE {} ORDER BY c.created_at, c.id LIMIT $5",
        Window::clause("c.created_at", "c.id")
    ));
    db.fetch_all(w.bind(sql)).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: Uuid,
    pub number: Option<String>,
    pub customer_id: Uuid,
    pub status: String,
    pub currency: String,
    pub subtotal: i64,
    pub discount: i64,
    pub vat_rate_bps: i64,
    pub vat_amount: i64,
    pub total: i64,
    pub withholding_tax: i64,
    pub amount_paid: i64,
    pub credit_applied: i64,
    pub amount_credited: i64,
    pub amount_due: i64,
    pub issued_at: DateTime<Utc>,
    pub due_date: Option<chrono::NaiveDate>,
    pub paid_at: Option<DateTime<Utc>>,
    /// The buyer as at issue (name, legal name, tax id, branch).
    pub customer_snapshot: Option<Json<serde_json::Value>>,
}

/// Invoices issued in the window (void and uncollectible ones too, with their status).
pub async fn invoices(db: &Db, w: Window) -> Result<Vec<InvoiceRow>> {
    let sql = Sql::new(format!(
        "SELECT i.id, i.number, i.customer_id, i.status, i.currency, i.subtotal, i.discount, \
         i.vat_rate_bps, i.vat_amount, i.total, i.withholding_tax, i.amount_paid, \
         i.credit_applied, i.amount_credited, i.amount_due, i.issued_at, i.due_date, \
         i.paid_at, i.customer_snapshot FROM invoices i \
         WHERE i.issued_at IS NOT NULL AND {} ORDER BY i.issued_at, i.id LIMIT $5",
        Window::clause("i.issued_at", "i.id")
    ));
    db.fetch_all(w.bind(sql)).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub invoice_number: Option<String>,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub customer_tax_id: Option<String>,
    pub currency: String,
    pub amount: i64,
    pub method: String,
    pub reference: Option<String>,
    pub paid_at: DateTime<Utc>,
    pub withholding_tax: i64,
    pub withholding_certificate_no: Option<String>,
    pub overpayment: i64,
    pub status: String,
}

/// Payments paid in the window, with their invoice's number and the customer's (legal) name.
pub async fn payments(db: &Db, w: Window) -> Result<Vec<PaymentRow>> {
    let sql = Sql::new(format!(
        "SELECT p.id, p.invoice_id, i.number AS invoice_number, p.customer_id, \
         COALESCE(c.legal_name, c.name) AS customer_name, c.tax_id AS customer_tax_id, \
         p.currency, p.amount, p.method, p.reference, p.paid_at, p.withholding_tax, \
         p.withholding_certificate_no, p.overpayment, p.status \
         FROM payments p JOIN invoices i ON i.id = p.invoice_id \
         JOIN customers c ON c.id = p.customer_id \
         WHERE {} ORDER BY p.paid_at, p.id LIMIT $5",
        Window::clause("p.paid_at", "p.id")
    ));
    db.fetch_all(w.bind(sql)).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CreditNoteRow {
    pub id: Uuid,
    pub number: String,
    pub invoice_id: Uuid,
    pub invoice_number: Option<String>,
    pub customer_id: Uuid,
    /// The buyer as on the credited invoice.
    pub customer_snapshot: Option<Json<serde_json::Value>>,
    pub currency: String,
    pub reason: Option<String>,
    pub subtotal: i64,
    pub vat_amount: i64,
    pub total: i64,
    pub applied_to_invoice: i64,
    pub credited_to_balance: i64,
    pub issued_at: DateTime<Utc>,
}

/// Credit notes issued in the window, with the credited invoice's number and buyer.
pub async fn credit_notes(db: &Db, w: Window) -> Result<Vec<CreditNoteRow>> {
    let sql = Sql::new(format!(
        "SELECT n.id, n.number, n.invoice_id, i.number AS invoice_number, n.customer_id, \
         i.customer_snapshot, n.currency, n.reason, n.subtotal, n.vat_amount, n.total, \
         n.applied_to_invoice, n.credited_to_balance, n.issued_at \
         FROM credit_notes n JOIN invoices i ON i.id = n.invoice_id \
         WHERE {} ORDER BY n.issued_at, n.id LIMIT $5",
        Window::clause("n.issued_at", "n.id")
    ));
    db.fetch_all(w.bind(sql)).await
}
