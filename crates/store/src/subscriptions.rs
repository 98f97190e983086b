//! Subscriptions (`customers.subscriptions`): a customer's standing order for a plan version.
//!
//! The store keeps the state; the rules of how it changes (the state machine, periods,
//! proration) live in `satang-domain` and are applied by the caller, which then writes the
//! whole new state with [`update`]. Every query a member can reach takes a [`Scope`].
//!
//! Dates are calendar dates in the seller's time zone; periods are half-open, so
//! `current_period_end` is the first day of the next period.

use chrono::{DateTime, NaiveDate, Utc};
use satang_domain::{CollectionMethod, Currency, CustomerStatus, Interval, Status};
use uuid::Uuid;

use crate::{Backend, Db, Error, Result, Scope, Sql, Tx, entitlement_signals};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Subscription {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub plan_id: Uuid,
    /// The code and version of `plan_id`, joined from the catalog.
    pub plan_code: String,
    pub plan_version: i64,
    /// The cycle of `plan_id`, joined from the catalog.
    #[sqlx(try_from = "String")]
    pub plan_interval: Interval,
    pub plan_interval_count: i64,
    pub quantity: i64,
    #[sqlx(try_from = "String")]
    pub status: Status,
    #[sqlx(try_from = "String")]
    pub collection_method: CollectionMethod,
    pub start_date: NaiveDate,
    pub trial_end: Option<NaiveDate>,
    pub current_period_start: NaiveDate,
    pub current_period_end: NaiveDate,
    /// The day of the month later periods are anchored on (see `satang_domain::period`).
    pub billing_anchor_day: i64,
    /// When the next invoice in advance is due; none once canceled.
    pub next_billing_date: Option<NaiveDate>,
    pub cancel_at_period_end: bool,
    pub paused_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    /// A downgrade waiting for the end of the current period.
    pub pending_plan_id: Option<Uuid>,
    pub pending_quantity: Option<i64>,
    pub pending_plan_code: Option<String>,
    pub pending_plan_version: Option<i64>,
    /// A negotiated price per period (per seat on per-seat plans) instead of the plan's.
    pub unit_price: Option<i64>,
    /// The negotiated price that comes with the pending downgrade.
    pub pending_unit_price: Option<i64>,
    /// The running discount, joined from `discounts` (all `None` without one).
    #[sqlx(flatten)]
    pub discount: RunningDiscount,
    /// Unbilled usage amount (minor units) at which the period's usage so far is invoiced at
    /// once (SPEC §2.12); none: usage waits for the period's end.
    pub billing_threshold: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// The discount a subscription has running, as [`SELECT`] joins it: every field `None`
/// without one.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct RunningDiscount {
    pub discount_id: Option<Uuid>,
    pub discount_coupon_code: Option<String>,
    pub discount_percent_off_bps: Option<i64>,
    pub discount_amount_off: Option<i64>,
    pub discount_currency: Option<String>,
    pub discount_duration: Option<String>,
    pub discount_periods_remaining: Option<i64>,
    pub discount_starts_at: Option<DateTime<Utc>>,
}

/// The mutable state of a subscription, written whole by [`insert`] and [`update`].
#[derive(Debug, Clone)]
pub struct SubscriptionFields {
    pub plan_id: Uuid,
    pub quantity: i64,
    pub status: Status,
    pub collection_method: CollectionMethod,
    pub trial_end: Option<NaiveDate>,
    pub current_period_start: NaiveDate,
    pub current_period_end: NaiveDate,
    pub billing_anchor_day: i64,
    pub next_billing_date: Option<NaiveDate>,
    pub cancel_at_period_end: bool,
    pub paused_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub pending_plan_id: Option<Uuid>,
    pub pending_quantity: Option<i64>,
    pub unit_price: Option<i64>,
    pub pending_unit_price: Option<i64>,
}

impl SubscriptionFields {
    pub fn of(s: &Subscription) -> SubscriptionFields {
        SubscriptionFields {
            plan_id: s.plan_id,
            quantity: s.quantity,
            status: s.status,
            collection_method: s.collection_method,
            trial_end: s.trial_end,
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            billing_anchor_day: s.billing_anchor_day,
            next_billing_date: s.next_billing_date,
            cancel_at_period_end: s.cancel_at_period_end,
            paused_at: s.paused_at,
            canceled_at: s.canceled_at,
            pending_plan_id: s.pending_plan_id,
            pending_quantity: s.pending_quantity,
            unit_price: s.unit_price,
            pending_unit_price: s.pending_unit_price,
        }
    }
}

/// A subscription with its plan's and pending plan's codes and its running discount, joined
/// from `discounts`, the statement's start for `backend`.
///
/// On PostgreSQL the discount is a `LATERAL` lookup that is not flattened (`LIMIT 1`: there is
/// at most one running discount): as a plain join PostgreSQL merges the page of subscriptions
/// with the `discounts_running` index read from its start, so a billing run's page far into the
/// ids read every running discount below it (0.1 s a page with 250,000 of them).
fn subscription_select(backend: Backend) -> &'static str {
    macro_rules! select_joining {
        ($discount:literal) => {
            concat!(
                "SELECT s.*, p.code AS plan_code, p.version AS plan_version, \
     p.billing_interval AS plan_interval, p.interval_count AS plan_interval_count, \
     pp.code AS pending_plan_code, pp.version AS pending_plan_version, \
     d.id AS discount_id, d.coupon_code AS discount_coupon_code, \
     d.percent_off_bps AS discount_percent_off_bps, d.amount_off AS discount_amount_off, \
     d.currency AS discount_currency, d.duration AS discount_duration, \
     d.periods_remaining AS discount_periods_remaining, d.starts_at AS discount_starts_at \
     FROM subscriptions s JOIN plan_catalog p ON p.id = s.plan_id \
     LEFT JOIN plan_catalog pp ON pp.id = s.pending_plan_id \
     ",
                $discount
            )
        };
    }
    match backend {
        Backend::Postgres => select_joining!(
            " LEFT JOIN LATERAL (SELECT * FROM discounts dr WHERE dr.subscription_id = s.id \
             AND dr.ended_at IS NULL LIMIT 1) d ON TRUE"
        ),
        Backend::Sqlite => select_joining!(
            " LEFT JOIN discounts d ON d.subscription_id = s.id AND d.ended_at IS NULL"
        ),
    }
}

pub async fn insert(
    tx: &mut Tx,
    customer_id: Uuid,
    start_date: NaiveDate,
    f: SubscriptionFields,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    let id = Uuid::now_v7();
    tx.execute(
        Sql::new(
            "INSERT INTO subscriptions (id, customer_id, plan_id, quantity, status, \
             collection_method, start_date, trial_end, current_period_start, current_period_end, \
             billing_anchor_day, next_billing_date, cancel_at_period_end, paused_at, canceled_at, \
             pending_plan_id, pending_quantity, unit_price, pending_unit_price, created_at, \
             updated_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $19, $20, $18, $18, 1)",
        )
        .bind(id)
        .bind(customer_id)
        .bind(f.plan_id)
        .bind(f.quantity)
        .bind(f.status.as_str())
        .bind(f.collection_method.as_str())
        .bind(start_date)
        .bind(f.trial_end)
        .bind(f.current_period_start)
        .bind(f.current_period_end)
        .bind(f.billing_anchor_day)
        .bind(f.next_billing_date)
        .bind(f.cancel_at_period_end)
        .bind(f.paused_at)
        .bind(f.canceled_at)
        .bind(f.pending_plan_id)
        .bind(f.pending_quantity)
        .bind(now)
        .bind(f.unit_price)
        .bind(f.pending_unit_price),
    )
    .await?;
    entitlement_signals::changed(tx, &[customer_id]).await?;
    let select = subscription_select(tx.backend());
    tx.fetch_one(Sql::new(format!("{select} WHERE s.id = $1")).bind(id))
        .await
}

/// Writes a subscription's whole new state and bumps its version.
pub async fn update(
    tx: &mut Tx,
    id: Uuid,
    f: SubscriptionFields,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    let changed = tx
        .execute(
            Sql::new(
                "UPDATE subscriptions SET plan_id = $2, quantity = $3, status = $4, \
                 collection_method = $5, trial_end = $6, current_period_start = $7, \
                 current_period_end = $8, billing_anchor_day = $9, next_billing_date = $10, \
                 cancel_at_period_end = $11, paused_at = $12, canceled_at = $13, \
                 pending_plan_id = $14, pending_quantity = $15, updated_at = $16, \
                 unit_price = $17, pending_unit_price = $18, \
                 version = version + 1 WHERE id = $1",
            )
            .bind(id)
            .bind(f.plan_id)
            .bind(f.quantity)
            .bind(f.status.as_str())
            .bind(f.collection_method.as_str())
            .bind(f.trial_end)
            .bind(f.current_period_start)
            .bind(f.current_period_end)
            .bind(f.billing_anchor_day)
            .bind(f.next_billing_date)
            .bind(f.cancel_at_period_end)
            .bind(f.paused_at)
            .bind(f.canceled_at)
            .bind(f.pending_plan_id)
            .bind(f.pending_quantity)
            .bind(now)
            .bind(f.unit_price)
            .bind(f.pending_unit_price),
        )
        .await?;
    if changed == 0 {
        return Err(Error::NotFound);
    }
    let select = subscription_select(tx.backend());
    let after: Subscription = tx
        .fetch_one(Sql::new(format!("{select} WHERE s.id = $1")).bind(id))
        .await?;
    entitlement_signals::changed(tx, &[after.customer_id]).await?;
    Ok(after)
}

/// One subscription, if the scope reaches its customer.
pub async fn find(db: &Db, id: Uuid, scope: Scope) -> Result<Option<Subscription>> {
    let select = subscription_select(db.backend());
    db.fetch_optional(
        Sql::new(format!(
            "{select} WHERE s.id = $1 AND {}",
            Scope::clause("s.customer_id", 2)
        ))
        .bind(id)
        .bind(scope.member_user()),
    )
    .await
}

/// [`find`] inside a transaction, holding the row until commit.
/// How many subscriptions the customer has ever had, whatever their status.
pub async fn count_for_customer(tx: &mut Tx, customer_id: Uuid) -> Result<i64> {
    let (count,): (i64,) = tx
        .fetch_one(
            Sql::new("SELECT COUNT(*) FROM subscriptions WHERE customer_id = $1").bind(customer_id),
        )
        .await?;
    Ok(count)
}

/// The subscription `id` in `scope`, locked for the rest of `tx` (on PostgreSQL `FOR NO KEY
/// UPDATE`, so rows that merely reference it, such as usage events, can still be written).
pub async fn lock(tx: &mut Tx, id: Uuid, scope: Scope) -> Result<Option<Subscription>> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR NO KEY UPDATE OF s",
        // SQLite transactions begin IMMEDIATE: the write lock is already held.
        Backend::Sqlite => "",
    };
    let select = subscription_select(tx.backend());
    tx.fetch_optional(
        Sql::new(format!(
            "{select} WHERE s.id = $1 AND {}{lock}",
            Scope::clause("s.customer_id", 2)
        ))
        .bind(id)
        .bind(scope.member_user()),
    )
    .await
}

/// Filters of [`list`]; `None` matches everything.
#[derive(Debug, Default)]
pub struct SubscriptionFilter<'a> {
    pub customer_id: Option<Uuid>,
    pub status: Option<Status>,
    pub plan_code: Option<&'a str>,
}

/// Subscriptions the scope reaches, in creation order, keyset-paged by id.
pub async fn list(
    db: &Db,
    scope: Scope,
    filter: SubscriptionFilter<'_>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Subscription>> {
    let select = subscription_select(db.backend());
    db.fetch_all(
        Sql::new(format!(
            "{select} WHERE {} AND ($2 IS NULL OR s.customer_id = $2) \
             AND ($3 IS NULL OR s.status = $3) AND ($4 IS NULL OR p.code = $4) \
             AND ($5 IS NULL OR s.id > $5) ORDER BY s.id LIMIT $6",
            Scope::clause("s.customer_id", 1)
        ))
        .bind(scope.member_user())
        .bind(filter.customer_id)
        .bind(filter.status.map(Status::as_str))
        .bind(filter.plan_code)
        .bind(after)
        .bind(limit),
    )
    .await
}

/// What a subscription needs to know about its customer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BillingCustomer {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub status: CustomerStatus,
    /// The currency the customer is invoiced in; a plan must be priced in it.
    #[sqlx(try_from = "String")]
    pub currency: Currency,
}

/// The customer a subscription would belong to, if it exists and the scope reaches it.
pub async fn billing_customer(
    db: &Db,
    customer_id: Uuid,
    scope: Scope,
) -> Result<Option<BillingCustomer>> {
    db.fetch_optional(
        Sql::new(format!(
            "SELECT c.id, c.status, c.currency FROM customers c WHERE c.id = $1 AND {}",
            Scope::clause("c.id", 2)
        ))
        .bind(customer_id)
        .bind(scope.member_user()),
    )
    .await
}

/// [`billing_customer`] inside the transaction that subscribes it, read again so that a
/// customer suspended meanwhile is noticed.
pub async fn billing_customer_in(
    tx: &mut Tx,
    customer_id: Uuid,
) -> Result<Option<BillingCustomer>> {
    let sql = match tx.backend() {
        Backend::Postgres => "SELECT id, status, currency FROM customers WHERE id = $1 FOR SHARE",
        Backend::Sqlite => "SELECT id, status, currency FROM customers WHERE id = $1",
    };
    tx.fetch_optional(Sql::new(sql).bind(customer_id)).await
}

/// What usage ingestion needs to know of a subscription: its customer and the metered prices
/// of its plan.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Metering {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub metered: sqlx::types::Json<serde_json::Value>,
    /// Its billing threshold: usage past it is invoiced at once (see `satang_billing::thresholds`).
    pub billing_threshold: Option<i64>,
}

/// [`Metering`] of the given subscriptions (those that exist), in one statement.
pub async fn metering_of(db: &Db, ids: &[Uuid]) -> Result<Vec<Metering>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        "SELECT s.id, s.customer_id, p.metered, s.billing_threshold FROM subscriptions s \
         JOIN plan_catalog p ON p.id = s.plan_id WHERE s.id IN (",
    )
    .push_params(1, ids.len())
    .push(")");
    for id in ids {
        sql = sql.bind(*id);
    }
    db.fetch_all(sql).await
}

/// Which due subscriptions a billing run claims.
#[derive(Debug, Clone, Copy)]
pub enum DueClaim<'a> {
    /// The next `limit` due subscriptions after `after` in id order (a pass over the due set).
    After { after: Option<Uuid>, limit: i64 },
    /// These subscriptions, if still due (one that is several periods behind).
    Ids(&'a [Uuid]),
}

/// Claims due subscriptions for the rest of `tx`: billable (`trialing`, `active`, `past_due`;
/// never `paused` or `canceled`) with `next_billing_date` on or before `today`, locked. On
/// PostgreSQL rows another process is billing right now are skipped (`SKIP LOCKED`), so several
/// `satang serve` processes share the work instead of queueing on it, and a row is re-checked
/// as due under its lock (a stale read never bills twice); SQLite has one writer and its
/// transactions are IMMEDIATE. The lock is `FOR NO KEY UPDATE`: it does not conflict with the
/// key-share lock a foreign-key check takes, so a usage report being written for the
/// subscription at that moment does not make the run skip it.
pub async fn claim_due(
    tx: &mut Tx,
    today: NaiveDate,
    claim: DueClaim<'_>,
) -> Result<Vec<Subscription>> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR NO KEY UPDATE OF s SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let due = "s.status IN ('trialing', 'active', 'past_due') AND s.next_billing_date <= $1";
    let select = subscription_select(tx.backend());
    let sql = match claim {
        DueClaim::After { after: None, limit } => {
            Sql::new(format!("{select} WHERE {due} ORDER BY s.id LIMIT $2{lock}"))
                .bind(today)
                .bind(limit)
        }
        DueClaim::After {
            after: Some(after),
            limit,
        } => Sql::new(format!(
            "{select} WHERE {due} AND s.id > $2 ORDER BY s.id LIMIT $3{lock}"
        ))
        .bind(today)
        .bind(after)
        .bind(limit),
        DueClaim::Ids(ids) => {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let mut sql = Sql::new(format!("{select} WHERE {due} AND s.id IN ("))
                .bind(today)
                .push_params(2, ids.len())
                .push(&format!(") ORDER BY s.id{lock}"));
            for id in ids {
                sql = sql.bind(*id);
            }
            sql
        }
    };
    tx.fetch_all(sql).await
}

/// Writes the whole new state of many subscriptions and bumps their versions: one statement
/// per few hundred rows. Returns how many rows changed.
pub async fn update_many(
    tx: &mut Tx,
    rows: &[(Uuid, SubscriptionFields)],
    now: DateTime<Utc>,
) -> Result<u64> {
    if tx.backend() == Backend::Postgres {
        return update_many_unnest(tx, rows, now).await;
    }
    const COLS: usize = 17;
    let mut changed = 0;
    for chunk in rows.chunks(crate::rows_per_statement(COLS)) {
        let mut sql = Sql::new(
            "WITH v (id, plan_id, quantity, status, collection_method, trial_end, \
             current_period_start, current_period_end, billing_anchor_day, next_billing_date, \
             cancel_at_period_end, paused_at, canceled_at, pending_plan_id, pending_quantity, \
             unit_price, pending_unit_price) AS (VALUES ",
        )
        .bind(now)
        .push_value_rows(chunk.len(), COLS)
        .push(
            ") UPDATE subscriptions SET plan_id = v.plan_id, quantity = v.quantity, \
             status = v.status, collection_method = v.collection_method, \
             trial_end = v.trial_end, current_period_start = v.current_period_start, \
             current_period_end = v.current_period_end, \
             billing_anchor_day = v.billing_anchor_day, \
             next_billing_date = v.next_billing_date, \
             cancel_at_period_end = v.cancel_at_period_end, paused_at = v.paused_at, \
             canceled_at = v.canceled_at, pending_plan_id = v.pending_plan_id, \
             pending_quantity = v.pending_quantity, unit_price = v.unit_price, \
             pending_unit_price = v.pending_unit_price, updated_at = $1, \
             version = subscriptions.version + 1 FROM v WHERE subscriptions.id = v.id",
        );
        for (id, f) in chunk {
            sql = sql
                .bind(*id)
                .bind(f.plan_id)
                .bind(f.quantity)
                .bind(f.status.as_str())
                .bind(f.collection_method.as_str())
                .bind(f.trial_end)
                .bind(f.current_period_start)
                .bind(f.current_period_end)
                .bind(f.billing_anchor_day)
                .bind(f.next_billing_date)
                .bind(f.cancel_at_period_end)
                .bind(f.paused_at)
                .bind(f.canceled_at)
                .bind(f.pending_plan_id)
                .bind(f.pending_quantity)
                .bind(f.unit_price)
                .bind(f.pending_unit_price);
        }
        changed += tx.execute(sql).await?;
    }
    Ok(changed)
}

/// [`update_many`] on PostgreSQL: one statement, a column per array (`UNNEST`).
async fn update_many_unnest(
    tx: &mut Tx,
    rows: &[(Uuid, SubscriptionFields)],
    now: DateTime<Utc>,
) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let sql = Sql::new(
        "UPDATE subscriptions SET plan_id = v.plan_id, quantity = v.quantity, \
         status = v.status, collection_method = v.collection_method, \
         trial_end = v.trial_end, current_period_start = v.current_period_start, \
         current_period_end = v.current_period_end, \
         billing_anchor_day = v.billing_anchor_day, \
         next_billing_date = v.next_billing_date, \
         cancel_at_period_end = v.cancel_at_period_end, paused_at = v.paused_at, \
         canceled_at = v.canceled_at, pending_plan_id = v.pending_plan_id, \
         pending_quantity = v.pending_quantity, unit_price = v.unit_price, \
         pending_unit_price = v.pending_unit_price, updated_at = $1, \
         version = subscriptions.version + 1 \
         FROM UNNEST($2::uuid[], $3::uuid[], $4::int8[], $5::text[], $6::text[], $7::date[], \
         $8::date[], $9::date[], $10::int8[], $11::date[], $12::bool[], $13::timestamptz[], \
         $14::timestamptz[], $15::uuid[], $16::int8[], $17::int8[], $18::int8[]) \
         AS v (id, plan_id, quantity, status, collection_method, trial_end, \
         current_period_start, current_period_end, billing_anchor_day, next_billing_date, \
         cancel_at_period_end, paused_at, canceled_at, pending_plan_id, pending_quantity, \
         unit_price, pending_unit_price) \
         WHERE subscriptions.id = v.id",
    )
    .bind(now)
    .bind_column(rows, |r| r.0)
    .bind_column(rows, |r| r.1.plan_id)
    .bind_column(rows, |r| r.1.quantity)
    .bind_column(rows, |r| r.1.status.as_str())
    .bind_column(rows, |r| r.1.collection_method.as_str())
    .bind_column(rows, |r| r.1.trial_end)
    .bind_column(rows, |r| r.1.current_period_start)
    .bind_column(rows, |r| r.1.current_period_end)
    .bind_column(rows, |r| r.1.billing_anchor_day)
    .bind_column(rows, |r| r.1.next_billing_date)
    .bind_column(rows, |r| r.1.cancel_at_period_end)
    .bind_column(rows, |r| r.1.paused_at)
    .bind_column(rows, |r| r.1.canceled_at)
    .bind_column(rows, |r| r.1.pending_plan_id)
    .bind_column(rows, |r| r.1.pending_quantity)
    .bind_column(rows, |r| r.1.unit_price)
    .bind_column(rows, |r| r.1.pending_unit_price);
    tx.execute(sql).await
}

/// Ids of subscriptions the billing run must look at: billable (`trialing`, `active`,
/// `past_due`; never `paused` or `canceled`) with `next_billing_date` on or before `today`,
/// after `after` in id order (one pass over the due set, in pages). Not locked: the run locks
/// each one with [`lock_due`].
pub async fn due_ids(
    db: &Db,
    today: NaiveDate,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Uuid>> {
    #[derive(sqlx::FromRow)]
    struct Id {
        id: Uuid,
    }
    let rows: Vec<Id> = db
        .fetch_all(
            Sql::new(
                "SELECT id FROM subscriptions WHERE status IN ('trialing', 'active', 'past_due') \
                 AND next_billing_date <= $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
            )
            .bind(today)
            .bind(after)
            .bind(limit),
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// The subscription `id` if it is still due on `today`, locked for the rest of `tx`. On
/// PostgreSQL a row another process is billing right now is skipped (`SKIP LOCKED`), so two
/// `satang serve` processes share the work instead of queueing on it; SQLite has one writer.
pub async fn lock_due(tx: &mut Tx, id: Uuid, today: NaiveDate) -> Result<Option<Subscription>> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR NO KEY UPDATE OF s SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let select = subscription_select(tx.backend());
    tx.fetch_optional(
        Sql::new(format!(
            "{select} WHERE s.id = $1 AND s.status IN ('trialing', 'active', 'past_due') \
             AND s.next_billing_date <= $2{lock}"
        ))
        .bind(id)
        .bind(today),
    )
    .await
}

/// Sets (or, with `None`, clears) a subscription's billing threshold and bumps its version.
pub async fn set_billing_threshold(
    tx: &mut Tx,
    id: Uuid,
    threshold: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    let changed = tx
        .execute(
            Sql::new(
                "UPDATE subscriptions SET billing_threshold = $2, updated_at = $3, \
                 version = version + 1 WHERE id = $1",
            )
            .bind(id)
            .bind(threshold)
            .bind(now),
        )
        .await?;
    if changed == 0 {
        return Err(Error::NotFound);
    }
    let select = subscription_select(tx.backend());
    tx.fetch_one(Sql::new(format!("{select} WHERE s.id = $1")).bind(id))
        .await
}

/// Ids of the billable subscriptions (`active`, `past_due`) that have a billing threshold,
/// after `after` in id order: what the billing run checks against their thresholds.
pub async fn with_billing_threshold(db: &Db, after: Option<Uuid>, limit: i64) -> Result<Vec<Uuid>> {
    #[derive(sqlx::FromRow)]
    struct Id {
        id: Uuid,
    }
    let rows: Vec<Id> = db
        .fetch_all(
            Sql::new(
                "SELECT id FROM subscriptions WHERE billing_threshold IS NOT NULL \
                 AND status IN ('active', 'past_due') AND ($1 IS NULL OR id > $1) \
                 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(limit),
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
