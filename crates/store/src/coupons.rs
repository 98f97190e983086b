//! Coupons (`billing.coupons`) and the discounts they give subscriptions (`billing.discounts`).
//!
//! The rules (what a coupon may say, how much a discount takes off) live in
//! `satang_domain::coupon`; when a coupon may be redeemed, in `satang-billing`. This module keeps
//! the rows, and the one statement that makes `max_redemptions` exact: [`redeem`] raises
//! `times_redeemed` only while it is below the limit, so of two transactions redeeming the last
//! one the second finds nothing to update (on PostgreSQL it waits for the first's row lock,
//! then re-reads the row; SQLite has one writer).

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Db, Error, Result, Sql, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Coupon {
    pub id: Uuid,
    /// Upper-case (`satang_domain::CouponCode`).
    pub code: String,
    pub name_th: String,
    pub name_en: String,
    pub percent_off_bps: Option<i64>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    /// `once`, `repeating` or `forever`.
    pub duration: String,
    pub duration_in_periods: Option<i64>,
    /// Plan codes the coupon may be redeemed on; none: every plan.
    pub applies_to_plans: Option<Json<Vec<String>>>,
    pub max_redemptions: Option<i64>,
    pub redeem_by: Option<DateTime<Utc>>,
    pub active: bool,
    pub times_redeemed: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

/// A coupon to create, already validated.
#[derive(Debug, Clone)]
pub struct NewCoupon {
    pub code: String,
    pub name_th: String,
    pub name_en: String,
    pub percent_off_bps: Option<i64>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    pub duration: String,
    pub duration_in_periods: Option<i64>,
    pub applies_to_plans: Option<Vec<String>>,
    pub max_redemptions: Option<i64>,
    pub redeem_by: Option<DateTime<Utc>>,
}

const DUPLICATE: &str = "a coupon with this code already exists";

pub async fn insert(tx: &mut Tx, c: NewCoupon, now: DateTime<Utc>) -> Result<Coupon> {
    let result = tx
        .fetch_one(
            Sql::new(
                "INSERT INTO coupons (id, code, name_th, name_en, percent_off_bps, amount_off, \
                 currency, duration, duration_in_periods, applies_to_plans, max_redemptions, \
                 redeem_by, active, times_redeemed, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $14) \
                 RETURNING *",
            )
            .bind(Uuid::now_v7())
            .bind(c.code)
            .bind(c.name_th)
            .bind(c.name_en)
            .bind(c.percent_off_bps)
            .bind(c.amount_off)
            .bind(c.currency)
            .bind(c.duration)
            .bind(c.duration_in_periods)
            .bind(c.applies_to_plans.map(|p| serde_json::json!(p)))
            .bind(c.max_redemptions)
            .bind(c.redeem_by)
            .bind(true)
            .bind(now),
        )
        .await;
    match result {
        Err(e) if e.is_unique_violation() => Err(Error::Conflict(DUPLICATE)),
        other => other,
    }
}

/// Coupons in creation order, keyset-paged by id.
pub async fn list(db: &Db, after: Option<Uuid>, limit: i64) -> Result<Vec<Coupon>> {
    db.fetch_all(
        Sql::new("SELECT * FROM coupons WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2")
            .bind(after)
            .bind(limit),
    )
    .await
}

pub async fn get(db: &Db, id: Uuid) -> Result<Option<Coupon>> {
    db.fetch_optional(Sql::new("SELECT * FROM coupons WHERE id = $1").bind(id))
        .await
}

pub async fn get_in(tx: &mut Tx, id: Uuid) -> Result<Option<Coupon>> {
    tx.fetch_optional(Sql::new("SELECT * FROM coupons WHERE id = $1").bind(id))
        .await
}

/// The coupon with this (upper-case) code.
pub async fn find_by_code_in(tx: &mut Tx, code: &str) -> Result<Option<Coupon>> {
    tx.fetch_optional(Sql::new("SELECT * FROM coupons WHERE code = $1").bind(code))
        .await
}

/// Takes the coupon off sale; discounts already given keep running. `None` when it does not
/// exist.
pub async fn archive(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<Option<Coupon>> {
    tx.fetch_optional(
        Sql::new(
            "UPDATE coupons SET active = $2, archived_at = COALESCE(archived_at, $3), \
             updated_at = $3 WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(false)
        .bind(now),
    )
    .await
}

/// Counts one redemption of an active coupon, if its `max_redemptions` allows another: the
/// coupon as it is now, or `None` when it was used up (or archived) meanwhile.
pub async fn redeem(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<Option<Coupon>> {
    tx.fetch_optional(
        Sql::new(
            "UPDATE coupons SET times_redeemed = times_redeemed + 1, updated_at = $2 \
             WHERE id = $1 AND active = $3 \
             AND (max_redemptions IS NULL OR times_redeemed < max_redemptions) RETURNING *",
        )
        .bind(id)
        .bind(now)
        .bind(true),
    )
    .await
}

/// A discount on a subscription, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Discount {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub customer_id: Uuid,
    pub coupon_id: Uuid,
    pub coupon_code: String,
    pub percent_off_bps: Option<i64>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    pub duration: String,
    pub periods_remaining: Option<i64>,
    pub starts_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Starts a discount on a subscription from `coupon`'s terms. A subscription that already has
/// one running is a conflict (the partial unique index `discounts_running`).
pub async fn insert_discount(
    tx: &mut Tx,
    subscription_id: Uuid,
    customer_id: Uuid,
    coupon: &Coupon,
    periods_remaining: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Discount> {
    let result = tx
        .fetch_one(
            Sql::new(
                "INSERT INTO discounts (id, subscription_id, customer_id, coupon_id, coupon_code, \
                 percent_off_bps, amount_off, currency, duration, periods_remaining, starts_at, \
                 ended_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $11) RETURNING *",
            )
            .bind(Uuid::now_v7())
            .bind(subscription_id)
            .bind(customer_id)
            .bind(coupon.id)
            .bind(coupon.code.as_str())
            .bind(coupon.percent_off_bps)
            .bind(coupon.amount_off)
            .bind(coupon.currency.clone())
            .bind(coupon.duration.as_str())
            .bind(periods_remaining)
            .bind(now),
        )
        .await;
    match result {
        Err(e) if e.is_unique_violation() => Err(Error::Conflict(
            "the subscription already has a discount; remove it first",
        )),
        other => other,
    }
}

/// Ends the running discount of a subscription (removed by staff or the customer): the ended
/// row, or `None` when there was none.
pub async fn end_discount(
    tx: &mut Tx,
    subscription_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Discount>> {
    tx.fetch_optional(
        Sql::new(
            "UPDATE discounts SET ended_at = $2 WHERE subscription_id = $1 AND ended_at IS NULL \
             RETURNING *",
        )
        .bind(subscription_id)
        .bind(now),
    )
    .await
}

/// One period invoice was issued under each of these discounts (those that last a number of
/// periods): one period fewer remains, and a discount with none left ends `now`.
pub async fn use_periods(tx: &mut Tx, ids: &[Uuid], now: DateTime<Utc>) -> Result<u64> {
    let mut changed = 0;
    for chunk in ids.chunks(crate::rows_per_statement(1)) {
        let mut sql = Sql::new(
            "UPDATE discounts SET periods_remaining = periods_remaining - 1, \
             ended_at = CASE WHEN periods_remaining <= 1 THEN $1 ELSE ended_at END \
             WHERE periods_remaining IS NOT NULL AND ended_at IS NULL AND id IN (",
        )
        .bind(now)
        .push_params(2, chunk.len())
        .push(")");
        for id in chunk {
            sql = sql.bind(*id);
        }
        changed += tx.execute(sql).await?;
    }
    Ok(changed)
}
