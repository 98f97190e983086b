//! Payment methods of a customer (a card only as a sealed gateway token with brand, last4 and
//! expiry — never a card number), and the collection state of invoices charged automatically.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{Backend, Db, Error, Result, Sql, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PaymentMethod {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub method_type: String,
    pub gateway: Option<String>,
    #[serde(skip)]
    pub token_sealed: Option<Vec<u8>>,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
}

pub struct NewPaymentMethod {
    pub method_type: String,
    pub gateway: Option<String>,
    pub token_sealed: Option<Vec<u8>>,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub is_default: bool,
}

/// Adds a method; a default one (or the customer's first) replaces the previous default.
pub async fn insert(
    tx: &mut Tx,
    customer_id: Uuid,
    m: NewPaymentMethod,
    now: DateTime<Utc>,
) -> Result<PaymentMethod> {
    let has_default = find_default(tx, customer_id).await?.is_some();
    let is_default = m.is_default || !has_default;
    if is_default {
        tx.execute(
            Sql::new(
                "UPDATE payment_methods SET is_default = $2 WHERE customer_id = $1 AND is_default",
            )
            .bind(customer_id)
            .bind(false),
        )
        .await?;
    }
    tx.fetch_one(
        Sql::new(
            "INSERT INTO payment_methods (id, customer_id, method_type, gateway, token_sealed, \
             brand, last4, exp_month, exp_year, is_default, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(customer_id)
        .bind(m.method_type)
        .bind(m.gateway)
        .bind(m.token_sealed)
        .bind(m.brand)
        .bind(m.last4)
        .bind(m.exp_month)
        .bind(m.exp_year)
        .bind(is_default)
        .bind(now),
    )
    .await
}

/// Whether the customer's default method is a card (its invoices are charged automatically).
pub async fn default_is_card(db: &Db, customer_id: Uuid) -> Result<bool> {
    let found: Option<(Uuid,)> = db
        .fetch_optional(
            Sql::new(
                "SELECT id FROM payment_methods WHERE customer_id = $1 AND is_default \
                 AND method_type = 'card' AND removed_at IS NULL",
            )
            .bind(customer_id),
        )
        .await?;
    Ok(found.is_some())
}

/// The customer's methods after the cursor `after`, oldest first.
pub async fn list(
    db: &Db,
    customer_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<PaymentMethod>> {
    db.fetch_all(
        Sql::new(
            "SELECT * FROM payment_methods WHERE customer_id = $1 AND removed_at IS NULL \
             AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(customer_id)
        .bind(after)
        .bind(limit),
    )
    .await
}

pub async fn find_default(tx: &mut Tx, customer_id: Uuid) -> Result<Option<PaymentMethod>> {
    tx.fetch_optional(
        Sql::new(
            "SELECT * FROM payment_methods WHERE customer_id = $1 AND is_default \
             AND removed_at IS NULL",
        )
        .bind(customer_id),
    )
    .await
}

/// Removes a method (kept for the record, token erased).
pub async fn remove(tx: &mut Tx, customer_id: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<()> {
    let n = tx
        .execute(
            Sql::new(
                "UPDATE payment_methods SET removed_at = $3, is_default = $4, token_sealed = NULL \
                 WHERE customer_id = $1 AND id = $2 AND removed_at IS NULL",
            )
            .bind(customer_id)
            .bind(id)
            .bind(now)
            .bind(false),
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CollectionDue {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub subscription_id: Option<Uuid>,
    pub collection_attempts: i64,
    pub first_failed_at: Option<DateTime<Utc>>,
}

/// Open invoices charged automatically whose next attempt has come, oldest first.
pub async fn collection_due(db: &Db, now: DateTime<Utc>, limit: i64) -> Result<Vec<CollectionDue>> {
    db.fetch_all(
        Sql::new(
            "SELECT id, customer_id, subscription_id, collection_attempts, first_failed_at \
             FROM invoices WHERE status = 'open' AND next_collection_at IS NOT NULL \
             AND next_collection_at <= $1 ORDER BY next_collection_at LIMIT $2",
        )
        .bind(now)
        .bind(limit),
    )
    .await
}

/// Locks one due invoice for collection (skipping it when another process holds it).
pub async fn lock_for_collection(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    #[derive(sqlx::FromRow)]
    struct Row {
        #[allow(dead_code)]
        id: Uuid,
    }
    let row: Option<Row> = tx
        .fetch_optional(
            Sql::new(format!(
                "SELECT id FROM invoices WHERE id = $1 AND status = 'open' \
                 AND next_collection_at IS NOT NULL AND next_collection_at <= $2{lock}"
            ))
            .bind(id)
            .bind(now),
        )
        .await?;
    Ok(row.is_some())
}

/// Marks an invoice for automatic collection from `at`.
pub async fn schedule_collection(tx: &mut Tx, id: Uuid, at: DateTime<Utc>) -> Result<()> {
    tx.execute(
        Sql::new(
            "UPDATE invoices SET collection_method = 'charge_automatically', \
             next_collection_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(at),
    )
    .await?;
    Ok(())
}

/// Records a failed attempt and when to try again (None: no more tries).
pub async fn record_failure(
    tx: &mut Tx,
    id: Uuid,
    first_failed_at: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
) -> Result<()> {
    tx.execute(
        Sql::new(
            "UPDATE invoices SET collection_attempts = collection_attempts + 1, \
             first_failed_at = $2, next_collection_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(first_failed_at)
        .bind(next),
    )
    .await?;
    Ok(())
}

/// Collection is over for this invoice (paid, or nothing left to try).
pub async fn stop_collection(tx: &mut Tx, id: Uuid) -> Result<()> {
    tx.execute(
        Sql::new(
            "UPDATE invoices SET collection_attempts = collection_attempts + 1, \
             next_collection_at = NULL WHERE id = $1",
        )
        .bind(id),
    )
    .await?;
    Ok(())
}

/// Open, automatically charged invoices whose first failure is older than `cutoff`, per customer
/// (the grace period is over: suspend).
pub async fn customers_past_grace(db: &Db, cutoff: DateTime<Utc>) -> Result<Vec<Uuid>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        customer_id: Uuid,
    }
    let rows: Vec<Row> = db
        .fetch_all(
            Sql::new(
                "SELECT DISTINCT i.customer_id FROM invoices i JOIN customers c \
                 ON c.id = i.customer_id WHERE i.status = 'open' \
                 AND i.first_failed_at IS NOT NULL AND i.first_failed_at <= $1 \
                 AND c.status = 'active'",
            )
            .bind(cutoff),
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.customer_id).collect())
}
