//! Credit grants (`billing.credit_grants`) and the `credit` payments prepaid grants make.
//!
//! The rule of which grant an invoice takes from lives in `satang_domain::credit`; when and how
//! much, in `satang-billing`. This module keeps the rows and the one statement that makes a
//! grant impossible to overdraw: [`consume_many`] lowers `remaining` only while the grant is active
//! and holds at least the amount, so of two transactions racing for its last satang the second
//! updates nothing (on PostgreSQL it waits for the first's row lock, then re-reads the row;
//! SQLite has one writer) and its caller rolls back.

use std::collections::BTreeMap;

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

/// Takes amounts off active grants, each holding at least what it gives (depleted when it
/// reaches 0): `uses` as (grant, amount > 0), several uses of one grant added up first (two
/// invoices of one customer in a billing run's chunk). Returns the grants that gave it, as they
/// are now, in id order; a grant missing from them no longer could (changed meanwhile, or an
/// amount ≤ 0), and its caller rolls back — the others were lowered. On PostgreSQL one statement
/// whatever the number of grants (`UNNEST`); on SQLite one per few hundred.
pub async fn consume_many(
    tx: &mut Tx,
    uses: &[(Uuid, i64)],
    now: DateTime<Utc>,
) -> Result<Vec<CreditGrant>> {
    let mut summed: BTreeMap<Uuid, i64> = BTreeMap::new();
    for &(id, amount) in uses {
        let total = summed.entry(id).or_default();
        // A use of nothing (or less) makes the sum fail the `amount > 0` check.
        *total = if amount > 0 && *total >= 0 {
            total.saturating_add(amount)
        } else {
            -1
        };
    }
    let rows: Vec<(Uuid, i64)> = summed.into_iter().collect();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // `$1` is `now`; `v` the grants and their amounts.
    const SET_WHERE: &str = "UPDATE credit_grants SET \
         remaining = credit_grants.remaining - v.amount, updated_at = $1, \
         status = CASE WHEN credit_grants.remaining = v.amount THEN 'depleted' \
         ELSE credit_grants.status END, \
         depleted_at = CASE WHEN credit_grants.remaining = v.amount THEN $1 \
         ELSE credit_grants.depleted_at END";
    const CONDITION: &str = "WHERE credit_grants.id = v.id AND credit_grants.status = 'active' \
         AND credit_grants.remaining >= v.amount AND v.amount > 0 \
         AND (credit_grants.expires_at IS NULL OR credit_grants.expires_at > $1)";
    let mut after: Vec<CreditGrant> = Vec::with_capacity(rows.len());
    match tx.backend() {
        Backend::Postgres => {
            let sql = Sql::new(format!(
                "{SET_WHERE} FROM UNNEST($2::uuid[], $3::int8[]) AS v (id, amount) {CONDITION} \
                 RETURNING credit_grants.*"
            ))
            .bind(now)
            .bind_column(&rows, |r| r.0)
            .bind_column(&rows, |r| r.1);
            after.extend(tx.fetch_all::<CreditGrant>(sql).await?);
        }
        Backend::Sqlite => {
            const COLS: usize = 2;
            for chunk in rows.chunks(crate::rows_per_statement(COLS)) {
                let mut sql = Sql::new("WITH v (id, amount) AS (VALUES ")
                    .bind(now)
                    .push_value_rows(chunk.len(), COLS)
                    .push(&format!(") {SET_WHERE} FROM v {CONDITION} RETURNING *"));
                for &(id, amount) in chunk {
                    sql = sql.bind(id).bind(amount);
                }
                after.extend(tx.fetch_all::<CreditGrant>(sql).await?);
            }
        }
    }
    after.sort_unstable_by_key(|g| g.id);
    Ok(after)
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

/// What a prepaid grant paid on an invoice: a succeeded payment with method `credit`.
#[derive(Debug, Clone)]
pub struct CreditPayment {
    pub invoice_id: Uuid,
    pub customer_id: Uuid,
    pub grant_id: Uuid,
    pub amount: i64,
    pub currency: String,
}

/// Records what prepaid grants paid on invoices, one `credit` payment each: on PostgreSQL one
/// statement (`UNNEST`), on SQLite one per few hundred.
pub async fn insert_credit_payments(
    tx: &mut Tx,
    payments: &[CreditPayment],
    now: DateTime<Utc>,
) -> Result<()> {
    if payments.is_empty() {
        return Ok(());
    }
    // `$1` is `now`; `p` the payments' own columns.
    const INSERT: &str = "INSERT INTO payments (id, invoice_id, customer_id, amount, currency, \
         method, reference, paid_at, withholding_tax, withholding_certificate_no, overpayment, \
         status, created_at, credit_grant_id) \
         SELECT p.id, p.invoice_id, p.customer_id, p.amount, p.currency, 'credit', NULL, $1, 0, \
         NULL, 0, 'succeeded', $1, p.grant_id FROM ";
    match tx.backend() {
        Backend::Postgres => {
            let sql = Sql::new(format!(
                "{INSERT}UNNEST($2::uuid[], $3::uuid[], $4::uuid[], $5::int8[], $6::text[], \
                 $7::uuid[]) AS p (id, invoice_id, customer_id, amount, currency, grant_id)"
            ))
            .bind(now)
            .bind_column(payments, |_| Uuid::now_v7())
            .bind_column(payments, |p| p.invoice_id)
            .bind_column(payments, |p| p.customer_id)
            .bind_column(payments, |p| p.amount)
            .bind_column(payments, |p| p.currency.clone())
            .bind_column(payments, |p| p.grant_id);
            tx.execute(sql).await?;
        }
        Backend::Sqlite => {
            const COLS: usize = 6;
            for chunk in payments.chunks(crate::rows_per_statement(COLS)) {
                let mut sql = Sql::new(
                    "WITH p (id, invoice_id, customer_id, amount, currency, grant_id) AS (VALUES ",
                )
                .bind(now)
                .push_value_rows(chunk.len(), COLS)
                .push(&format!(") {INSERT}p"));
                for p in chunk {
                    sql = sql
                        .bind(Uuid::now_v7())
                        .bind(p.invoice_id)
                        .bind(p.customer_id)
                        .bind(p.amount)
                        .bind(p.currency.as_str())
                        .bind(p.grant_id);
                }
                tx.execute(sql).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};
    use satang_domain::Currency;

    use super::*;
    use crate::customers::{self, CustomerFields};

    fn grant(customer_id: Uuid, amount: i64, expires_at: Option<DateTime<Utc>>) -> NewCreditGrant {
        NewCreditGrant {
            customer_id,
            grant_type: "prepaid".into(),
            amount,
            currency: "THB".into(),
            expires_at,
            priority: 50,
            note: None,
        }
    }

    /// More grants than one SQLite statement takes: each lowered by the sum of its uses, those
    /// that reach 0 depleted; a grant asked for more than it holds, for nothing, or expired is
    /// left out and left as it was.
    #[tokio::test]
    async fn consume_many_adds_up_each_grants_uses() {
        let dir = std::env::temp_dir().join(format!("satang-grants-{}", Uuid::now_v7()));
        let db = Db::open_sqlite(&dir).await.unwrap();
        db.migrate().await.unwrap();
        let created = Utc.with_ymd_and_hms(2030, 1, 10, 3, 0, 0).unwrap();
        let now = created + TimeDelta::hours(1);
        let mut tx = db.begin().await.unwrap();
        let fields = CustomerFields {
            name: "สหกรณ์ข้าวหอมมะลิ".into(),
            legal_name: None,
            tax_id: None,
            branch_code: None,
            email: None,
            phone: None,
            billing_email: None,
            address: None,
            currency: Currency::Thb,
            locale: "th".into(),
            payment_terms_days: 30,
            metadata: serde_json::json!({}),
        };
        let customer = customers::insert(&mut tx, &fields, created)
            .await
            .unwrap()
            .id;
        let many = crate::rows_per_statement(2) + 50;
        let mut ids = Vec::new();
        for _ in 0..many {
            ids.push(
                insert(&mut tx, grant(customer, 1_000, None), created)
                    .await
                    .unwrap()
                    .id,
            );
        }
        let expired = insert(&mut tx, grant(customer, 1_000, Some(now)), created)
            .await
            .unwrap()
            .id;
        // The first grants are taken whole in two uses, the others in part; the last grant is
        // asked for more than it has, the one before it for nothing.
        let mut uses: Vec<(Uuid, i64)> = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let second = if i < 10 { 700 } else { 100 };
            uses.push((*id, 300));
            uses.push((*id, second));
        }
        let (empty, over) = (ids[many - 2], ids[many - 1]);
        uses.retain(|(id, _)| *id != empty && *id != over);
        uses.extend([(empty, 0), (over, 600), (over, 600), (expired, 10)]);

        let after = consume_many(&mut tx, &uses, now).await.unwrap();
        assert_eq!(after.len(), many - 2);
        assert!(after.windows(2).all(|w| w[0].id < w[1].id), "in id order");
        for (i, g) in after.iter().enumerate() {
            assert_eq!(g.id, ids[i]);
            assert_eq!(g.updated_at, now);
            if i < 10 {
                assert_eq!((g.remaining, g.status.as_str()), (0, "depleted"));
                assert_eq!(g.depleted_at, Some(now));
            } else {
                assert_eq!((g.remaining, g.status.as_str()), (600, "active"));
                assert_eq!(g.depleted_at, None);
            }
        }
        for id in [empty, over, expired] {
            let g = get_in(&mut tx, customer, id).await.unwrap().unwrap();
            assert_eq!((g.remaining, g.status.as_str()), (1_000, "active"));
            assert_eq!(g.updated_at, created);
        }
        assert!(consume_many(&mut tx, &[], now).await.unwrap().is_empty());
        drop(tx);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
