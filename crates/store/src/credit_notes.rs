//! Credit notes (`billing.credit_notes`, ใบลดหนี้): the only way to correct a finalised invoice,
//! which itself is never edited. Each has its own gapless number (`CN-2026-000001`, from
//! [`crate::invoices::next_number`] with kind `credit_note`) and keeps its lines as issued.

use chrono::{DateTime, Utc};
use satang_domain::Currency;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Db, Result, Scope, Sql, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CreditNote {
    pub id: Uuid,
    pub number: String,
    pub invoice_id: Uuid,
    pub customer_id: Uuid,
    #[sqlx(try_from = "String")]
    pub currency: Currency,
    pub reason: Option<String>,
    /// `[{description, quantity, unit_amount, amount}]`, amounts positive (what is credited).
    pub lines: Json<serde_json::Value>,
    pub subtotal: i64,
    pub vat_amount: i64,
    pub total: i64,
    pub applied_to_invoice: i64,
    pub credited_to_balance: i64,
    pub issued_at: DateTime<Utc>,
}

/// A credit note to record; numbered and computed by the caller.
#[derive(Debug, Clone)]
pub struct NewCreditNote {
    pub number: String,
    pub invoice_id: Uuid,
    pub customer_id: Uuid,
    pub currency: Currency,
    pub reason: Option<String>,
    pub lines: serde_json::Value,
    pub subtotal: i64,
    pub vat_amount: i64,
    pub total: i64,
    pub applied_to_invoice: i64,
    pub credited_to_balance: i64,
}

pub async fn insert(tx: &mut Tx, c: NewCreditNote, now: DateTime<Utc>) -> Result<CreditNote> {
    let id = Uuid::now_v7();
    tx.execute(
        Sql::new(
            "INSERT INTO credit_notes (id, number, invoice_id, customer_id, currency, reason, \
             lines, subtotal, vat_amount, total, applied_to_invoice, credited_to_balance, \
             issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(id)
        .bind(c.number)
        .bind(c.invoice_id)
        .bind(c.customer_id)
        .bind(c.currency.code())
        .bind(c.reason)
        .bind(c.lines)
        .bind(c.subtotal)
        .bind(c.vat_amount)
        .bind(c.total)
        .bind(c.applied_to_invoice)
        .bind(c.credited_to_balance)
        .bind(now),
    )
    .await?;
    tx.fetch_one(Sql::new("SELECT * FROM credit_notes WHERE id = $1").bind(id))
        .await
}

/// The credit notes of one invoice the scope reaches, oldest first.
pub async fn list_for_invoice(db: &Db, invoice_id: Uuid, scope: Scope) -> Result<Vec<CreditNote>> {
    db.fetch_all(
        Sql::new(format!(
            "SELECT * FROM credit_notes c WHERE c.invoice_id = $1 AND {} ORDER BY c.id",
            Scope::clause("c.customer_id", 2)
        ))
        .bind(invoice_id)
        .bind(scope.member_user()),
    )
    .await
}
