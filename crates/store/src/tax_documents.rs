//! Tax documents (`billing.tax_documents`, SPEC §4.1): one row per tax invoice, receipt / tax
//! invoice, receipt and credit note, written in the transaction of the event that issues it.
//! Receipts take the next number of their own gapless series here, in that transaction
//! ([`crate::invoices::next_number`], kind `receipt`) — or, for a transaction that records many
//! payments at once, together at its end ([`deferring_numbers`]).

use std::cell::RefCell;
use std::future::Future;

use chrono::{DateTime, Utc};
use satang_domain::Currency;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Backend, Db, Result, Scope, Sql, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaxDocument {
    pub id: Uuid,
    /// `tax_invoice`, `receipt_tax_invoice`, `receipt` or `credit_note`.
    pub doc_type: String,
    /// ETDA's code: 388, T03, T01, 81.
    pub type_code: String,
    pub number: String,
    pub customer_id: Uuid,
    pub invoice_id: Uuid,
    pub payment_id: Option<Uuid>,
    pub credit_note_id: Option<Uuid>,
    /// The tax document a credit note corrects.
    pub references_id: Option<Uuid>,
    pub reason: Option<String>,
    #[sqlx(try_from = "String")]
    pub currency: Currency,
    pub customer_snapshot: Json<serde_json::Value>,
    pub seller_snapshot: Json<serde_json::Value>,
    pub vat_rate_bps: i64,
    /// Value before VAT (negative figures never: a credit note's are what it credits).
    pub base_amount: i64,
    pub vat_amount: i64,
    pub total: i64,
    pub issued_at: DateTime<Utc>,
    pub signed: bool,
    /// The signed XML once a signer made it.
    pub xml: Option<String>,
}

/// The number a new document takes.
#[derive(Debug, Clone)]
pub enum Numbering {
    /// Its own (the invoice's for a tax invoice, the credit note's for a credit note).
    Given(String),
    /// The next of the receipt series `{prefix}-{year}-{000001}`, allocated in the transaction.
    Series { prefix: String, year: i32 },
}

#[derive(Debug, Clone)]
pub struct NewTaxDocument {
    pub doc_type: &'static str,
    pub type_code: &'static str,
    pub numbering: Numbering,
    pub customer_id: Uuid,
    pub invoice_id: Uuid,
    pub payment_id: Option<Uuid>,
    pub credit_note_id: Option<Uuid>,
    pub references_id: Option<Uuid>,
    pub reason: Option<String>,
    pub currency: Currency,
    pub customer_snapshot: serde_json::Value,
    pub seller_snapshot: serde_json::Value,
    pub vat_rate_bps: i64,
    pub base_amount: i64,
    pub vat_amount: i64,
    pub total: i64,
}

tokio::task_local! {
    /// Receipts written with a placeholder number, waiting for [`assign_deferred_numbers`].
    static DEFERRED: RefCell<Vec<(Uuid, String, i32)>>;
}

/// Runs `work` with receipt numbers held back: each receipt it writes gets a placeholder, and
/// `work` must call [`assign_deferred_numbers`] before it commits. The series' counter row is
/// then locked once, for the block, just before the commit, instead of from the first receipt
/// on: a transaction recording many payments holds it for one short turn.
pub async fn deferring_numbers<F: Future>(work: F) -> F::Output {
    DEFERRED.scope(RefCell::new(Vec::new()), work).await
}

/// Gives the receipts written under [`deferring_numbers`] their numbers, in the order they were
/// written, one block of each series at a time.
pub async fn assign_deferred_numbers(tx: &mut Tx) -> Result<()> {
    let pending = DEFERRED
        .try_with(|d| std::mem::take(&mut *d.borrow_mut()))
        .unwrap_or_default();
    let mut series: Vec<(String, i32, Vec<Uuid>)> = Vec::new();
    for (id, prefix, year) in pending {
        match series
            .iter_mut()
            .find(|(p, y, _)| *p == prefix && *y == year)
        {
            Some((_, _, ids)) => ids.push(id),
            None => series.push((prefix, year, vec![id])),
        }
    }
    for (prefix, year, ids) in series {
        let count = ids.len() as i64;
        let last = crate::invoices::next_numbers(tx, "receipt", &prefix, year, count).await?;
        let mut sql = Sql::new("UPDATE tax_documents SET number = CASE id");
        let mut at = 1;
        for _ in &ids {
            sql = sql.push(&format!(" WHEN ${at} THEN ${}", at + 1));
            at += 2;
        }
        sql = sql
            .push(" END WHERE id IN (")
            .push_params(at, ids.len())
            .push(")");
        for (i, id) in ids.iter().enumerate() {
            let seq = last - count + 1 + i as i64;
            sql = sql
                .bind(*id)
                .bind(crate::invoices::format_number(&prefix, year, seq));
        }
        for id in &ids {
            sql = sql.bind(*id);
        }
        tx.execute(sql).await?;
    }
    Ok(())
}

/// Numbers and records a tax document inside `tx`.
pub async fn insert(tx: &mut Tx, d: NewTaxDocument, now: DateTime<Utc>) -> Result<TaxDocument> {
    let id = Uuid::now_v7();
    let number = match d.numbering {
        Numbering::Given(n) => n,
        Numbering::Series { prefix, year } => {
            let deferred = DEFERRED.try_with(|d| {
                d.borrow_mut().push((id, prefix.clone(), year));
            });
            if deferred.is_ok() {
                // Unique like every number, and never committed: replaced before the commit.
                format!("~{}", id.simple())
            } else {
                let seq = crate::invoices::next_number(tx, "receipt", &prefix, year).await?;
                crate::invoices::format_number(&prefix, year, seq)
            }
        }
    };
    tx.execute(
        Sql::new(
            "INSERT INTO tax_documents (id, doc_type, type_code, number, customer_id, \
             invoice_id, payment_id, credit_note_id, references_id, reason, currency, \
             customer_snapshot, seller_snapshot, vat_rate_bps, base_amount, vat_amount, total, \
             issued_at, signed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14, $15, $16, $17, $18, $19)",
        )
        .bind(id)
        .bind(d.doc_type)
        .bind(d.type_code)
        .bind(number)
        .bind(d.customer_id)
        .bind(d.invoice_id)
        .bind(d.payment_id)
        .bind(d.credit_note_id)
        .bind(d.references_id)
        .bind(d.reason)
        .bind(d.currency.code())
        .bind(d.customer_snapshot)
        .bind(d.seller_snapshot)
        .bind(d.vat_rate_bps)
        .bind(d.base_amount)
        .bind(d.vat_amount)
        .bind(d.total)
        .bind(now)
        .bind(false),
    )
    .await?;
    tx.fetch_one(Sql::new("SELECT * FROM tax_documents WHERE id = $1").bind(id))
        .await
}

/// The documents of one invoice, oldest first, inside `tx` (the invoice is locked by the caller).
pub async fn for_invoice_in(tx: &mut Tx, invoice_id: Uuid) -> Result<Vec<TaxDocument>> {
    tx.fetch_all(
        Sql::new("SELECT * FROM tax_documents WHERE invoice_id = $1 ORDER BY id").bind(invoice_id),
    )
    .await
}

/// What a list may be narrowed to.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    pub doc_type: Option<String>,
    pub customer_id: Option<Uuid>,
}

/// A page of the documents the scope reaches, in issue order (ids are UUIDv7).
pub async fn list(
    db: &Db,
    f: &Filter,
    scope: Scope,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TaxDocument>> {
    db.fetch_all(
        Sql::new(format!(
            "SELECT * FROM tax_documents t WHERE ($1 IS NULL OR t.issued_at >= $1) \
             AND ($2 IS NULL OR t.issued_at < $2) AND ($3 IS NULL OR t.doc_type = $3) \
             AND ($4 IS NULL OR t.customer_id = $4) AND ($5 IS NULL OR t.id > $5) AND {} \
             ORDER BY t.id LIMIT $7",
            Scope::clause("t.customer_id", 6)
        ))
        .bind(f.from)
        .bind(f.to)
        .bind(f.doc_type.clone())
        .bind(f.customer_id)
        .bind(after)
        .bind(scope.member_user())
        .bind(limit),
    )
    .await
}

/// One document the scope reaches.
pub async fn get(db: &Db, id: Uuid, scope: Scope) -> Result<Option<TaxDocument>> {
    db.fetch_optional(
        Sql::new(format!(
            "SELECT * FROM tax_documents t WHERE t.id = $1 AND {}",
            Scope::clause("t.customer_id", 2)
        ))
        .bind(id)
        .bind(scope.member_user()),
    )
    .await
}

/// One document by id regardless of scope (the referenced document of a credit note the caller
/// already may read).
pub async fn get_any(db: &Db, id: Uuid) -> Result<Option<TaxDocument>> {
    db.fetch_optional(Sql::new("SELECT * FROM tax_documents WHERE id = $1").bind(id))
        .await
}

/// Queues invoices for their finalisation documents (one statement).
pub async fn queue_many(tx: &mut Tx, invoice_ids: &[Uuid], now: DateTime<Utc>) -> Result<()> {
    if invoice_ids.is_empty() {
        return Ok(());
    }
    let values: Vec<String> = (0..invoice_ids.len())
        .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
        .collect();
    let mut sql = Sql::new(format!(
        "INSERT INTO tax_document_queue (invoice_id, queued_at) VALUES {} \
         ON CONFLICT (invoice_id) DO NOTHING",
        values.join(", ")
    ));
    for id in invoice_ids {
        sql = sql.bind(*id).bind(now);
    }
    tx.execute(sql).await?;
    Ok(())
}

/// Takes the invoice off the queue in `tx`: true when it was queued (the caller then makes its
/// documents; a concurrent taker waits on the row and finds it gone).
pub async fn dequeue(tx: &mut Tx, invoice_id: Uuid) -> Result<bool> {
    let n = tx
        .execute(Sql::new("DELETE FROM tax_document_queue WHERE invoice_id = $1").bind(invoice_id))
        .await?;
    Ok(n > 0)
}

#[derive(sqlx::FromRow)]
struct Queued {
    invoice_id: Uuid,
}

/// Up to `limit` queued invoices, oldest first.
pub async fn queued(db: &Db, limit: i64) -> Result<Vec<Uuid>> {
    let rows: Vec<Queued> = db
        .fetch_all(
            Sql::new(
                "SELECT invoice_id FROM tax_document_queue ORDER BY queued_at, invoice_id LIMIT $1",
            )
            .bind(limit),
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.invoice_id).collect())
}

/// Stores a document's signed XML once: false when another writer stored one first (the caller
/// then reads that one; a signed document never changes).
pub async fn store_signed_xml(db: &Db, id: Uuid, xml: &str) -> Result<bool> {
    let n = db
        .execute(
            Sql::new(
                "UPDATE tax_documents SET xml = $1, signed = $2 WHERE id = $3 AND xml IS NULL",
            )
            .bind(xml.to_owned())
            .bind(true)
            .bind(id),
        )
        .await?;
    Ok(n > 0)
}

/// Claims up to `limit` documents whose signed XML is still to be made, oldest first, for a
/// signer until `lease_until`: other processes (and this one after a crash) leave them alone
/// until then. One short transaction; on PostgreSQL rows another process is claiming right now
/// are skipped (`FOR UPDATE SKIP LOCKED`), on SQLite the single writer orders the claims.
pub async fn claim_unsigned(
    db: &Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<TaxDocument>> {
    let lock = match db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let mut tx = db.begin().await?;
    let ids: Vec<IdRow> = tx
        .fetch_all(
            Sql::new(format!(
                "SELECT id FROM tax_documents WHERE xml IS NULL \
                 AND (sign_claimed_until IS NULL OR sign_claimed_until <= $1) \
                 ORDER BY id LIMIT $2{lock}"
            ))
            .bind(now)
            .bind(limit),
        )
        .await?;
    if ids.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let list: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
    let mut claim = Sql::new(format!(
        "UPDATE tax_documents SET sign_claimed_until = $1 WHERE id IN ({})",
        list.join(", ")
    ))
    .bind(lease_until);
    for r in &ids {
        claim = claim.bind(r.id);
    }
    tx.execute(claim).await?;
    let mut read = Sql::new(format!(
        "SELECT * FROM tax_documents WHERE id IN ({}) ORDER BY id",
        (1..=ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for r in &ids {
        read = read.bind(r.id);
    }
    let docs = tx.fetch_all(read).await?;
    tx.commit().await?;
    Ok(docs)
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: Uuid,
}

/// Stores signed XMLs in one short transaction, each only where none is stored yet (a request
/// may have signed one meanwhile: that one stays). Returns how many were stored.
pub async fn store_signed_xmls(db: &Db, signed: &[(Uuid, String)]) -> Result<u64> {
    if signed.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin().await?;
    let mut stored = 0;
    for (id, xml) in signed {
        stored += tx
            .execute(
                Sql::new(
                    "UPDATE tax_documents SET xml = $1, signed = $2, sign_claimed_until = NULL \
                     WHERE id = $3 AND xml IS NULL",
                )
                .bind(xml.clone())
                .bind(true)
                .bind(*id),
            )
            .await?;
    }
    tx.commit().await?;
    Ok(stored)
}

/// One line of the output-VAT report: the columns it prints, not the stored XML.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VatLine {
    pub id: Uuid,
    pub doc_type: String,
    pub number: String,
    pub customer_snapshot: Json<serde_json::Value>,
    pub base_amount: i64,
    pub vat_amount: i64,
    pub total: i64,
    pub issued_at: DateTime<Utc>,
}

/// The documents of `doc_types` issued in `[from, to)` of every customer, in issue order (the
/// output-VAT report, SPEC §4.3; staff only, so unscoped). Only the reported columns are read:
/// a month's signed XMLs are far larger than its report.
pub async fn vat_lines_between(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    doc_types: &[&str],
) -> Result<Vec<VatLine>> {
    let types: Vec<String> = (0..doc_types.len())
        .map(|i| format!("${}", i + 3))
        .collect();
    let mut sql = Sql::new(format!(
        "SELECT id, doc_type, number, customer_snapshot, base_amount, vat_amount, total, \
         issued_at FROM tax_documents WHERE issued_at >= $1 AND issued_at < $2 \
         AND doc_type IN ({}) ORDER BY issued_at, id",
        types.join(", ")
    ))
    .bind(from)
    .bind(to);
    for t in doc_types {
        sql = sql.bind((*t).to_owned());
    }
    db.fetch_all(sql).await
}
