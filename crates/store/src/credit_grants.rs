//! Credit grants (`billing.credit_grants`) and the `credit` payments prepaid grants make.
//!
//! The rule of which grant an invoice takes from lives in `satang_domain::credit`; when and how
//! much, in `satang-billing`. This module keeps the rows and the one statement that makes a
//! grant impossible to overdraw: [`consume`] lowers `remaining` only while the grant is active
//! and holds at least the amount, so of two transactions racing for its last satang the second
//! updates nothing (on PostgreSQL it waits for the first's row lock, then re-reads the row;
//! SQLite has one writer) and its caller rolls back.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Backend, Db, Result, Sql, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CreditGrant {
    pub id: Uuid,
    pub customer_id: Uuid,
    /// `promotional` or `prepaid`.
    pub grant_type: String,
    pub amount: i64,
    pub remaining: i64,
    pub currency: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub priority: i64,
    pub note: Option<String>,
    /// `active`, `depleted`, `expired` or `voided`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub depleted_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
}

/// A grant to create, already validated.
#[derive(Debug, Clone)]
pub struct NewCreditGrant {
    pub customer_id: Uuid,
    pub grant_type: String,
    pub amount: i64,
    pub currency: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub priority: i64,
    pub note: Option<String>,
}

pub async fn insert(tx: &mut Tx, g: NewCreditGrant, now: DateTime<Utc>) -> Result<CreditGrant> {
    tx.fetch_one(
        Sql::new(
            "INSERT INTO credit_grants (id, customer_id, grant_type, amount, remaining, currency, \
             expires_at, priority, note, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, 'active', $9, $9) RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(g.customer_id)
        .bind(g.grant_type)
        .bind(g.amount)
        .bind(g.currency)
        .bind(g.expires_at)
        .bind(g.priority)
        .bind(g.note)
        .bind(now),
    )
    .await
}

/// A customer's grants in creation order, keyset-paged by id.
pub async fn list(
    db: &Db,
    customer_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<CreditGrant>> {
    db.fetch_all(
        Sql::new(
            "SELECT * FROM credit_grants WHERE customer_id = $1 AND ($2 IS NULL OR id > $2) \
             ORDER BY id LIMIT $3",
        )
        .bind(customer_id)
        .bind(after)
        .bind(limit),
    )
    .await
}

/// One grant of the customer, locked on PostgreSQL.
pub async fn get_in(tx: &mut Tx, customer_id: Uuid, id: Uuid) -> Result<Option<CreditGrant>> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    tx.fetch_optional(
        Sql::new(format!(
            "SELECT * FROM credit_grants WHERE id = $1 AND customer_id = $2{lock}"
        ))
        .bind(id)
        .bind(customer_id),
    )
    .await
}

/// The active grants of these customers, locked on PostgreSQL in id order (taken after the
/// customers, the order every path that locks both follows).
pub async fn active_many_in(tx: &mut Tx, customer_ids: &[Uuid]) -> Result<Vec<CreditGrant>> {
    active_many(tx, customer_ids, true).await
}

/// [`active_many_in`] without locking anything: for a preview that writes nothing (the
/// upcoming invoice).
pub async fn active_many_unlocked_in(
    tx: &mut Tx,
    customer_ids: &[Uuid],
) -> Result<Vec<CreditGrant>> {
    active_many(tx, customer_ids, false).await
}

async fn active_many(tx: &mut Tx, customer_ids: &[Uuid], locked: bool) -> Result<Vec<CreditGrant>> {
    let mut ids = customer_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lock = match tx.backend() {
        Backend::Postgres if locked => " FOR UPDATE",
        _ => "",
    };
    let mut sql =
        Sql::new("SELECT * FROM credit_grants WHERE status = 'active' AND customer_id IN (")
            .push_params(1, ids.len())
            .push(&format!(") ORDER BY id{lock}"));
    for id in ids {
        sql = sql.bind(id);
    }
    tx.fetch_all(sql).await
}

/// Takes `amount` off an active grant holding at least that much (depleted when it reaches 0):
/// the grant as it is now, or `None` when it no longer can give it.
pub async fn consume(
    tx: &mut Tx,
    id: Uuid,
    amount: i64,
    now: DateTime<Utc>,
) -> Result<Option<CreditGrant>> {
    tx.fetch_optional(
        Sql::new(
            "UPDATE credit_grants SET remaining = remaining - $2, updated_at = $3, \
             status = CASE WHEN remaining = $2 THEN 'depleted' ELSE status END, \
             depleted_at = CASE WHEN remaining = $2 THEN $3 ELSE depleted_at END \
             WHERE id = $1 AND status = 'active' AND remaining >= $2 AND $2 > 0 \
             AND (expires_at IS NULL OR expires_at > $3) RETURNING *",
        )
        .bind(id)
        .bind(amount)
        .bind(now),
    )
    .await
}

/// Marks an active grant whose `expires_at` has passed as `expired` (`None`: it was not).
pub async fn expire(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<Option<CreditGrant>> {
    tx.fetch_optional(
        Sql::new(
            "UPDATE credit_grants SET status = 'expired', expired_at = $2, updated_at = $2 \
             WHERE id = $1 AND status = 'active' AND expires_at IS NOT NULL \
             AND expires_at <= $2 RETURNING *",
        )
        .bind(id)
        .bind(now),
    )
    .await
}

/// Active grants whose expiry has passed (the billing run marks them expired), oldest first.
pub async fn expired_due(db: &Db, now: DateTime<Utc>, limit: i64) -> Result<Vec<CreditGrant>> {
    db.fetch_all(
        Sql::new(
            "SELECT * FROM credit_grants WHERE status = 'active' AND expires_at IS NOT NULL \
             AND expires_at <= $1 ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(limit),
    )
    .await
}

/// Voids an active grant: what it had left is no longer given. `None`: not active.
pub async fn void(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<Option<CreditGrant>> {
    tx.fetch_optional(
        Sql::new(
            "UPDATE credit_grants SET status = 'voided', voided_at = $2, updated_at = $2 \
             WHERE id = $1 AND status = 'active' RETURNING *",
        )
        .bind(id)
        .bind(now),
    )
    .await
}

/// Records what a prepaid grant paid on an invoice: a succeeded payment with method `credit`.
pub async fn insert_credit_payment(
    tx: &mut Tx,
    invoice_id: Uuid,
    customer_id: Uuid,
    grant_id: Uuid,
    amount: i64,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    tx.execute(
        Sql::new(
            "INSERT INTO payments (id, invoice_id, customer_id, amount, currency, method, \
             reference, paid_at, withholding_tax, withholding_certificate_no, overpayment, \
             status, created_at, credit_grant_id) \
             VALUES ($1, $2, $3, $4, $5, 'credit', NULL, $6, 0, NULL, 0, 'succeeded', $6, $7)",
        )
        .bind(id)
        .bind(invoice_id)
        .bind(customer_id)
        .bind(amount)
        .bind(currency)
        .bind(now)
        .bind(grant_id),
    )
    .await?;
    Ok(id)
}
