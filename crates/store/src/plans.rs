//! The plan catalog (`customers.plan_catalog`): what Satang sells.
//!
//! A row is one *version* of a plan. Edits that do not touch money (names, descriptions,
//! features, limits, trial days) change the row in place; a change of price, pricing, cycle,
//! currency or metered prices goes through [`new_version`], which archives the row and inserts
//! the next version under the same code. Subscriptions point at the row they bought, so they
//! keep its price (grandfathering) until they are moved to another plan.
//!
//! Among active rows a `(code, billing_interval)` pair is unique (a partial unique index), which
//! is what lets a client subscribe by `plan_code` (+ `interval`).

use chrono::{DateTime, Utc};
use satang_domain::{Currency, Interval, Pricing};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Backend, Db, Error, Result, Sql, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Plan {
    pub id: Uuid,
    pub code: String,
    pub name_th: String,
    pub name_en: String,
    pub description_th: String,
    pub description_en: String,
    /// The column is not called `interval`, a PostgreSQL type name.
    #[sqlx(try_from = "String")]
    pub billing_interval: Interval,
    pub interval_count: i64,
    /// Minor units per period (per seat for `per_seat` pricing).
    pub price: i64,
    #[sqlx(try_from = "String")]
    pub currency: Currency,
    #[sqlx(try_from = "String")]
    pub pricing: Pricing,
    pub trial_days: i64,
    pub features: Json<Vec<String>>,
    pub limits: Json<Value>,
    pub metered: Json<Value>,
    pub active: bool,
    pub version: i64,
    /// The version this one replaced, when it was created by a price change.
    pub previous_version_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

/// Everything a plan version holds; the API validates it before it gets here.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFields {
    pub code: String,
    pub name_th: String,
    pub name_en: String,
    pub description_th: String,
    pub description_en: String,
    pub billing_interval: Interval,
    pub interval_count: i64,
    pub price: i64,
    pub currency: Currency,
    pub pricing: Pricing,
    pub trial_days: i64,
    pub features: Vec<String>,
    pub limits: Value,
    pub metered: Value,
}

impl PlanFields {
    /// The fields of an existing row, as the starting point of an edit.
    pub fn of(plan: &Plan) -> PlanFields {
        PlanFields {
            code: plan.code.clone(),
            name_th: plan.name_th.clone(),
            name_en: plan.name_en.clone(),
            description_th: plan.description_th.clone(),
            description_en: plan.description_en.clone(),
            billing_interval: plan.billing_interval,
            interval_count: plan.interval_count,
            price: plan.price,
            currency: plan.currency,
            pricing: plan.pricing,
            trial_days: plan.trial_days,
            features: plan.features.0.clone(),
            limits: plan.limits.0.clone(),
            metered: plan.metered.0.clone(),
        }
    }

    /// True when `self` differs from `plan` in anything a subscriber pays by: such a change
    /// needs a new version so that running subscriptions keep the old terms.
    pub fn changes_price_of(&self, plan: &Plan) -> bool {
        self.price != plan.price
            || self.currency != plan.currency
            || self.pricing != plan.pricing
            || self.billing_interval != plan.billing_interval
            || self.interval_count != plan.interval_count
            || self.metered != plan.metered.0
    }
}

const DUPLICATE: &str = "an active plan with this code and interval already exists";

/// Inserts a plan as the next version of its `(code, interval)` (1 for a new code), active.
pub async fn insert(tx: &mut Tx, fields: PlanFields, now: DateTime<Utc>) -> Result<Plan> {
    insert_version(tx, fields, None, now).await
}

async fn insert_version(
    tx: &mut Tx,
    f: PlanFields,
    previous: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Plan> {
    let result = tx
        .fetch_one(
            Sql::new(
                "INSERT INTO plan_catalog (id, code, name_th, name_en, description_th, \
                 description_en, billing_interval, interval_count, price, currency, pricing, \
                 trial_days, features, limits, metered, active, version, previous_version_id, \
                 created_at, updated_at, archived_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 (SELECT COALESCE(MAX(version), 0) + 1 FROM plan_catalog \
                  WHERE code = $2 AND billing_interval = $7), \
                 $17, $18, $18, NULL) RETURNING *",
            )
            .bind(Uuid::now_v7())
            .bind(f.code)
            .bind(f.name_th)
            .bind(f.name_en)
            .bind(f.description_th)
            .bind(f.description_en)
            .bind(f.billing_interval.as_str())
            .bind(f.interval_count)
            .bind(f.price)
            .bind(f.currency.code())
            .bind(f.pricing.as_str())
            .bind(f.trial_days)
            .bind(serde_json::json!(f.features))
            .bind(f.limits)
            .bind(f.metered)
            .bind(true)
            .bind(previous)
            .bind(now),
        )
        .await;
    match result {
        Err(e) if e.is_unique_violation() => Err(Error::Conflict(DUPLICATE)),
        other => other,
    }
}

/// Replaces `old` from new sales by a new version carrying `fields`: `old` is archived and the
/// new row (new id, next version, same code) links back to it. Subscriptions on `old` keep it.
pub async fn new_version(
    tx: &mut Tx,
    old: &Plan,
    fields: PlanFields,
    now: DateTime<Utc>,
) -> Result<Plan> {
    // Archive first: the partial unique index allows one active row per (code, interval).
    archive(tx, old.id, now).await?;
    insert_version(tx, fields, Some(old.id), now).await
}

/// Edits that leave the price alone, applied to the row itself.
pub async fn update_in_place(
    tx: &mut Tx,
    id: Uuid,
    f: PlanFields,
    now: DateTime<Utc>,
) -> Result<Plan> {
    let plan = tx
        .fetch_optional(
            Sql::new(
                "UPDATE plan_catalog SET name_th = $2, name_en = $3, description_th = $4, \
             description_en = $5, trial_days = $6, features = $7, limits = $8, updated_at = $9 \
             WHERE id = $1 RETURNING *",
            )
            .bind(id)
            .bind(f.name_th)
            .bind(f.name_en)
            .bind(f.description_th)
            .bind(f.description_en)
            .bind(f.trial_days)
            .bind(serde_json::json!(f.features))
            .bind(f.limits)
            .bind(now),
        )
        .await?
        .ok_or(Error::NotFound);
    // Features and limits of every subscriber may have changed.
    crate::entitlement_signals::changed_for_everyone(tx).await?;
    plan
}

/// Withdraws a plan from new sales; its subscribers keep it.
pub async fn archive(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<Plan> {
    tx.fetch_optional(
        Sql::new(
            "UPDATE plan_catalog SET active = $2, archived_at = $3, updated_at = $3 \
             WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(false)
        .bind(now),
    )
    .await?
    .ok_or(Error::NotFound)
}

pub async fn find_by_id(db: &Db, id: Uuid) -> Result<Option<Plan>> {
    db.fetch_optional(Sql::new("SELECT * FROM plan_catalog WHERE id = $1").bind(id))
        .await
}

pub async fn find_by_id_in(tx: &mut Tx, id: Uuid) -> Result<Option<Plan>> {
    tx.fetch_optional(Sql::new("SELECT * FROM plan_catalog WHERE id = $1").bind(id))
        .await
}

/// The plans with these ids (inside a transaction), in no particular order.
pub async fn find_many_in(tx: &mut Tx, ids: &[Uuid]) -> Result<Vec<Plan>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new("SELECT * FROM plan_catalog WHERE id IN (")
        .push_params(1, ids.len())
        .push(")");
    for id in ids {
        sql = sql.bind(*id);
    }
    tx.fetch_all(sql).await
}

pub async fn lock_by_id(tx: &mut Tx, id: Uuid) -> Result<Option<Plan>> {
    let sql = match tx.backend() {
        Backend::Postgres => "SELECT * FROM plan_catalog WHERE id = $1 FOR UPDATE",
        // SQLite transactions begin IMMEDIATE: the write lock is already held.
        Backend::Sqlite => "SELECT * FROM plan_catalog WHERE id = $1",
    };
    tx.fetch_optional(Sql::new(sql).bind(id)).await
}

/// The active plan sold under `code`: with `interval`, exactly that one; without, the
/// `preferred` interval when it exists, else any (at most one per interval is active).
pub async fn find_active_by_code(
    tx: &mut Tx,
    code: &str,
    interval: Option<Interval>,
    preferred: Interval,
) -> Result<Option<Plan>> {
    tx.fetch_optional(
        Sql::new(
            "SELECT * FROM plan_catalog WHERE active AND code = $1 \
             AND ($2 IS NULL OR billing_interval = $2) \
             ORDER BY CASE WHEN billing_interval = $3 THEN 0 ELSE 1 END, billing_interval \
             LIMIT 1",
        )
        .bind(code)
        .bind(interval.map(Interval::as_str))
        .bind(preferred.as_str()),
    )
    .await
}

/// What [`list`] returns.
#[derive(Debug, Default)]
pub struct PlanFilter<'a> {
    pub include_archived: bool,
    pub code: Option<&'a str>,
}

/// Plans in creation order (the seeded catalog first), keyset-paged by id.
pub async fn list(
    db: &Db,
    filter: PlanFilter<'_>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Plan>> {
    db.fetch_all(
        Sql::new(
            "SELECT * FROM plan_catalog WHERE ($1 OR active) AND ($2 IS NULL OR code = $2) \
             AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4",
        )
        .bind(filter.include_archived)
        .bind(filter.code)
        .bind(after)
        .bind(limit),
    )
    .await
}
