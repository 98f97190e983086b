//! Payments (`billing.payments`): money (and withholding-tax certificates) received against an
//! invoice. A payment's money is never changed (the invoice carries the running totals); only
//! its withholding certificate's number may arrive later ([`set_certificate_no`]).

use chrono::{DateTime, Utc};
use satang_domain::{Currency, PaymentStatus};
use uuid::Uuid;

use crate::{Backend, Db, Result, Scope, Sql, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Payment {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub customer_id: Uuid,
    pub amount: i64,
    #[sqlx(try_from = "String")]
    pub currency: Currency,
    /// `card`, `promptpay`, `bank_transfer`, `cash` or `other`.
    pub method: String,
    pub reference: Option<String>,
    pub paid_at: DateTime<Utc>,
    pub withholding_tax: i64,
    pub withholding_certificate_no: Option<String>,
    /// The part of `amount` beyond what was due, moved to the customer's credit balance.
    pub overpayment: i64,
    #[sqlx(try_from = "String")]
    pub status: PaymentStatus,
    pub created_at: DateTime<Utc>,
}

/// A payment to record; validated by the caller.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub invoice_id: Uuid,
    pub customer_id: Uuid,
    pub amount: i64,
    pub currency: Currency,
    pub method: String,
    pub reference: Option<String>,
    pub paid_at: DateTime<Utc>,
    pub withholding_tax: i64,
    pub withholding_certificate_no: Option<String>,
    pub overpayment: i64,
}

pub async fn insert(tx: &mut Tx, p: NewPayment, now: DateTime<Utc>) -> Result<Payment> {
    let id = Uuid::now_v7();
    tx.execute(
        Sql::new(
            "INSERT INTO payments (id, invoice_id, customer_id, amount, currency, method, \
             reference, paid_at, withholding_tax, withholding_certificate_no, overpayment, \
             status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'succeeded', $12)",
        )
        .bind(id)
        .bind(p.invoice_id)
        .bind(p.customer_id)
        .bind(p.amount)
        .bind(p.currency.code())
        .bind(p.method)
        .bind(p.reference)
        .bind(p.paid_at)
        .bind(p.withholding_tax)
        .bind(p.withholding_certificate_no)
        .bind(p.overpayment)
        .bind(now),
    )
    .await?;
    tx.fetch_one(Sql::new("SELECT * FROM payments WHERE id = $1").bind(id))
        .await
}

/// One payment, if the scope reaches its customer.
pub async fn find(db: &Db, id: Uuid, scope: Scope) -> Result<Option<Payment>> {
    db.fetch_optional(
        Sql::new(format!(
            "SELECT * FROM payments p WHERE p.id = $1 AND {}",
            Scope::clause("p.customer_id", 2)
        ))
        .bind(id)
        .bind(scope.member_user()),
    )
    .await
}

/// One payment, holding its row until the transaction ends.
pub async fn lock(tx: &mut Tx, id: Uuid) -> Result<Option<Payment>> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE",
        // SQLite transactions begin IMMEDIATE: the write lock is already held.
        Backend::Sqlite => "",
    };
    tx.fetch_optional(Sql::new(format!("SELECT * FROM payments WHERE id = $1{lock}")).bind(id))
        .await
}

/// Records the number of the withholding certificate (50 ทวิ) a payment's tax was withheld
/// against, and returns the payment.
pub async fn set_certificate_no(tx: &mut Tx, id: Uuid, certificate_no: &str) -> Result<Payment> {
    tx.execute(
        Sql::new("UPDATE payments SET withholding_certificate_no = $2 WHERE id = $1")
            .bind(id)
            .bind(certificate_no),
    )
    .await?;
    tx.fetch_one(Sql::new("SELECT * FROM payments WHERE id = $1").bind(id))
        .await
}

/// Filters of [`list`]; `None` matches everything.
#[derive(Debug, Default)]
pub struct PaymentFilter {
    pub customer_id: Option<Uuid>,
    pub invoice_id: Option<Uuid>,
}

/// Payments the scope reaches, in creation order, keyset-paged by id.
pub async fn list(
    db: &Db,
    scope: Scope,
    filter: PaymentFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Payment>> {
    db.fetch_all(
        Sql::new(format!(
            "SELECT * FROM payments p WHERE {} AND ($2 IS NULL OR p.customer_id = $2) \
             AND ($3 IS NULL OR p.invoice_id = $3) AND ($4 IS NULL OR p.id > $4) \
             ORDER BY p.id LIMIT $5",
            Scope::clause("p.customer_id", 1)
        ))
        .bind(scope.member_user())
        .bind(filter.customer_id)
        .bind(filter.invoice_id)
        .bind(after)
        .bind(limit),
    )
    .await
}

/// A succeeded payment that came with withholding tax (a 50 ทวิ certificate received).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WithholdingRow {
    pub payment_id: Uuid,
    pub paid_at: DateTime<Utc>,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub customer_tax_id: Option<String>,
    pub certificate_no: Option<String>,
    /// The value before VAT the payment settled: its receipt's (none before one is issued).
    pub base_amount: Option<i64>,
    pub withholding_tax: i64,
}

/// The withholding certificates received in `[from, to)` (by `paid_at`), oldest first; every
/// customer's (the report is for staff).
pub async fn withholding_between(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<WithholdingRow>> {
    db.fetch_all(
        Sql::new(
            "SELECT p.id AS payment_id, p.paid_at, p.customer_id, \
             COALESCE(c.legal_name, c.name) AS customer_name, c.tax_id AS customer_tax_id, \
             p.withholding_certificate_no AS certificate_no, \
             (SELECT t.base_amount FROM tax_documents t WHERE t.payment_id = p.id \
              AND t.doc_type IN ('receipt_tax_invoice', 'receipt') ORDER BY t.id LIMIT 1) \
              AS base_amount, \
             p.withholding_tax \
             FROM payments p JOIN customers c ON c.id = p.customer_id \
             WHERE p.withholding_tax > 0 AND p.status = 'succeeded' \
             AND p.paid_at >= $1 AND p.paid_at < $2 ORDER BY p.paid_at, p.id",
        )
        .bind(from)
        .bind(to),
    )
    .await
}
