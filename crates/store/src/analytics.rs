//! Revenue analytics from the real tables (SPEC §2.7). Monthly recurring revenue is read from
//! the subscription invoices themselves: each carries the `mrr` it stands for (its fee spread
//! over the months of its period), so the MRR on a date is the sum over the invoices whose period
//! covers that date; movements are classified day by day ([`satang_domain::mrr`]).
//!
//! The whole business's figures are kept per day in `analytics_days` (migration 0011): triggers
//! on invoices and payments note each change in `analytics_pending` in the change's own
//! transaction, and [`refresh`] folds those notes in. A member's figures are computed from their
//! own customers' rows on every call. Every query takes the caller's [`Scope`].

use crate::{Backend, Db, Result, Scope, Sql, rows_per_statement};
use chrono::{DateTime, NaiveDate, Utc};
use satang_domain::mrr::{self, Span};
use uuid::Uuid;

/// MRR on a date and how it moved since an earlier date.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct MrrMovement {
    pub mrr: i64,
    pub previous_mrr: i64,
    pub new_mrr: i64,
    pub expansion_mrr: i64,
    pub contraction_mrr: i64,
    pub churned_mrr: i64,
    pub active_subscriptions: i64,
    pub active_customers: i64,
    pub previous_customers: i64,
    pub churned_customers: i64,
}

/// The recurring invoices covering `$date`, per subscription, for the scope bound at `$scope`.
fn covering(date_param: usize, scope_param: usize) -> String {
    format!(
        "SELECT i.subscription_id AS sid, i.customer_id AS cid, SUM(i.mrr) AS m \
         FROM invoices i WHERE i.mrr > 0 AND i.status <> 'void' \
         AND i.period_start <= ${date_param} AND i.period_end > ${date_param} AND {} \
         GROUP BY i.subscription_id, i.customer_id",
        Scope::clause("i.customer_id", scope_param)
    )
}

/// A recurring invoice as [`mrr::Span`] reads it.
#[derive(sqlx::FromRow)]
struct SpanRow {
    subscription_id: Uuid,
    customer_id: Uuid,
    mrr: i64,
    period_start: NaiveDate,
    period_end: NaiveDate,
}

impl From<SpanRow> for Span<Uuid> {
    fn from(r: SpanRow) -> Self {
        Span {
            subscription: r.subscription_id,
            customer: r.customer_id,
            mrr: r.mrr,
            start: r.period_start,
            end: r.period_end,
        }
    }
}

const SPAN_COLUMNS: &str = "i.subscription_id, i.customer_id, i.mrr, i.period_start, i.period_end";
const RECURRING: &str = "i.mrr > 0 AND i.status <> 'void' AND i.subscription_id IS NOT NULL \
    AND i.period_start IS NOT NULL AND i.period_end IS NOT NULL";

/// MRR on `at` and its movements over the days after `previous` (see [`satang_domain::mrr`]
/// for how a day's moves are classified).
///
/// Staff read the whole business from `analytics_days` (brought up to date first, see
/// [`refresh`]): a few hundred rows whatever the number of invoices. A member's figures come
/// from their own customers' invoices, through the same classification.
pub async fn mrr_movement(
    db: &Db,
    scope: Scope,
    at: NaiveDate,
    previous: NaiveDate,
) -> Result<MrrMovement> {
    let Scope::Member(user) = scope else {
        return Ok(business(db, at, previous, at, at).await?.movement);
    };
    let spans: Vec<SpanRow> = db
        .fetch_all(
            Sql::new(format!(
                "SELECT {SPAN_COLUMNS} FROM invoices i WHERE {RECURRING} \
                 AND i.period_start <= $1 AND i.period_end > $2 \
                 AND i.customer_id IN (SELECT su.customer_id FROM customer_users su \
                   WHERE su.user_id = $3)"
            ))
            .bind(at)
            .bind(previous)
            .bind(user),
        )
        .await?;
    let spans: Vec<Span<Uuid>> = spans.into_iter().map(Span::from).collect();
    Ok(movement_of(mrr::window(&spans, previous, at)))
}

fn movement_of(w: mrr::Window) -> MrrMovement {
    MrrMovement {
        mrr: w.mrr,
        previous_mrr: w.previous_mrr,
        new_mrr: w.movement.new_mrr,
        expansion_mrr: w.movement.expansion_mrr,
        contraction_mrr: w.movement.contraction_mrr,
        churned_mrr: w.movement.churned_mrr,
        active_subscriptions: w.active_subscriptions,
        active_customers: w.active_customers,
        previous_customers: w.previous_customers,
        churned_customers: w.movement.churned_customers,
    }
}

/// The whole business's figures, from `analytics_days`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Business {
    pub movement: MrrMovement,
    /// Received over the Bangkok days `[revenue_from, at]`.
    pub revenue: i64,
    pub receivables: Receivables,
}

#[derive(sqlx::FromRow)]
struct BusinessRow {
    mrr: i64,
    previous_mrr: i64,
    new_mrr: i64,
    expansion_mrr: i64,
    contraction_mrr: i64,
    churned_mrr: i64,
    active_subscriptions: i64,
    active_customers: i64,
    previous_customers: i64,
    churned_customers: i64,
    revenue: i64,
    outstanding: i64,
    overdue: i64,
}

/// MRR on `at` and its movements after `previous`, money received over `[revenue_from, at]`
/// and receivables (overdue: due before `today`) — for the whole business, in one statement
/// over `analytics_days` after [`refresh_if_pending`].
pub async fn business(
    db: &Db,
    at: NaiveDate,
    previous: NaiveDate,
    revenue_from: NaiveDate,
    today: NaiveDate,
) -> Result<Business> {
    refresh_if_pending(db).await?;
    let sum = |expr: &str, when: &str| {
        format!("CAST(COALESCE(SUM(CASE WHEN {when} THEN {expr} END), 0) AS BIGINT)")
    };
    let sql = format!(
        "SELECT {} AS mrr, {} AS previous_mrr, {} AS new_mrr, {} AS expansion_mrr, \
         {} AS contraction_mrr, {} AS churned_mrr, {} AS active_subscriptions, \
         {} AS active_customers, {} AS previous_customers, {} AS churned_customers, \
         {} AS revenue, {} AS outstanding, {} AS overdue FROM analytics_days",
        sum("mrr_change", "day <= $1"),
        sum("mrr_change", "day <= $2"),
        sum("new_mrr", "day > $2 AND day <= $1"),
        sum("expansion_mrr", "day > $2 AND day <= $1"),
        sum("contraction_mrr", "day > $2 AND day <= $1"),
        sum("churned_mrr", "day > $2 AND day <= $1"),
        sum("subscriptions_change", "day <= $1"),
        sum("customers_change", "day <= $1"),
        sum("customers_change", "day <= $2"),
        sum("churned_customers", "day > $2 AND day <= $1"),
        sum("paid", "day >= $3 AND day <= $1"),
        sum("outstanding", "outstanding <> 0"),
        sum("outstanding", "day < $4"),
    );
    let r: BusinessRow = db
        .fetch_one(
            Sql::new(sql)
                .bind(at)
                .bind(previous)
                .bind(revenue_from)
                .bind(today),
        )
        .await?;
    Ok(Business {
        movement: MrrMovement {
            mrr: r.mrr,
            previous_mrr: r.previous_mrr,
            new_mrr: r.new_mrr,
            expansion_mrr: r.expansion_mrr,
            contraction_mrr: r.contraction_mrr,
            churned_mrr: r.churned_mrr,
            active_subscriptions: r.active_subscriptions,
            active_customers: r.active_customers,
            previous_customers: r.previous_customers,
            churned_customers: r.churned_customers,
        },
        revenue: r.revenue,
        receivables: Receivables {
            outstanding: r.outstanding,
            overdue: r.overdue,
        },
    })
}

/// Money received and invoiced on one Bangkok day (whole business).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DayRevenue {
    pub day: NaiveDate,
    pub paid: i64,
    pub invoiced: i64,
}

/// The days of `[from, to)` with money received or invoiced, for the whole business.
pub async fn revenue_days(db: &Db, from: NaiveDate, to: NaiveDate) -> Result<Vec<DayRevenue>> {
    refresh_if_pending(db).await?;
    db.fetch_all(
        Sql::new(
            "SELECT day, paid, invoiced FROM analytics_days \
             WHERE day >= $1 AND day < $2 AND (paid <> 0 OR invoiced <> 0) ORDER BY day",
        )
        .bind(from)
        .bind(to),
    )
    .await
}

#[derive(sqlx::FromRow)]
struct Pending {
    day: NaiveDate,
    outstanding: i64,
    paid: i64,
    invoiced: i64,
    mrr_dirty: bool,
}

#[derive(sqlx::FromRow)]
struct HasPending {
    pending: bool,
}

/// [`refresh`], when the triggers have noted changes since the last one (one cheap read
/// otherwise).
pub async fn refresh_if_pending(db: &Db) -> Result<()> {
    let has: HasPending = db
        .fetch_one(Sql::new(
            "SELECT EXISTS (SELECT 1 FROM analytics_pending) AS pending",
        ))
        .await?;
    if has.pending {
        refresh(db).await?;
    }
    Ok(())
}

/// What a [`refresh`] folded in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Days whose sums changed.
    pub days: usize,
    /// Days whose MRR movement was recomputed.
    pub mrr_days: usize,
}

/// Brings `analytics_days` up to date with what the triggers noted in `analytics_pending`, in
/// one transaction: the sums (receivables, money received, invoiced) add their deltas; each day
/// marked for MRR is recomputed from the recurring invoices of the customers with a period
/// starting or ending that day. The billing run calls this at its end; reads of the whole
/// business call it when something is pending.
///
/// PostgreSQL: refreshes take turns (an advisory lock) and take exactly the pending rows they
/// fold in (`DELETE … RETURNING`): rows of transactions still running stay for the next one,
/// and a day recomputed here while such a transaction adds to it is recomputed again then.
/// SQLite: the refresh holds the one writer, so nothing else is in flight.
pub async fn refresh(db: &Db) -> Result<Refreshed> {
    let mut tx = db.begin().await?;
    let pending: Vec<Pending> = match tx.backend() {
        Backend::Postgres => {
            tx.execute(Sql::new("SELECT pg_advisory_xact_lock(5311000011)"))
                .await?;
            tx.fetch_all(Sql::new(
                "WITH taken AS (DELETE FROM analytics_pending RETURNING *) \
                 SELECT day, CAST(SUM(outstanding) AS BIGINT) AS outstanding, \
                 CAST(SUM(paid) AS BIGINT) AS paid, CAST(SUM(invoiced) AS BIGINT) AS invoiced, \
                 bool_or(mrr_dirty) AS mrr_dirty FROM taken GROUP BY day",
            ))
            .await?
        }
        Backend::Sqlite => {
            let rows = tx
                .fetch_all(Sql::new(
                    "SELECT day, outstanding, paid, invoiced, mrr_dirty FROM analytics_pending",
                ))
                .await?;
            tx.execute(Sql::new("DELETE FROM analytics_pending"))
                .await?;
            rows
        }
    };
    let mut done = Refreshed::default();
    let sums: Vec<&Pending> = pending
        .iter()
        .filter(|p| p.outstanding != 0 || p.paid != 0 || p.invoiced != 0)
        .collect();
    for rows in sums.chunks(rows_per_statement(4)) {
        let mut sql =
            Sql::new("INSERT INTO analytics_days (day, outstanding, paid, invoiced) VALUES ")
                .push_value_rows(rows.len(), 4);
        for p in rows {
            sql = sql
                .bind(p.day)
                .bind(p.outstanding)
                .bind(p.paid)
                .bind(p.invoiced);
        }
        tx.execute(sql.push(
            " ON CONFLICT (day) DO UPDATE SET \
             outstanding = analytics_days.outstanding + excluded.outstanding, \
             paid = analytics_days.paid + excluded.paid, \
             invoiced = analytics_days.invoiced + excluded.invoiced",
        ))
        .await?;
        done.days += rows.len();
    }
    for p in pending.iter().filter(|p| p.mrr_dirty) {
        let spans: Vec<SpanRow> = tx
            .fetch_all(
                Sql::new(format!(
                    "SELECT {SPAN_COLUMNS} FROM invoices i WHERE {RECURRING} \
                     AND i.period_start <= $1 AND i.period_end >= $1 \
                     AND i.customer_id IN (SELECT j.customer_id FROM invoices j \
                       WHERE j.mrr > 0 AND j.status <> 'void' \
                       AND (j.period_start = $1 OR j.period_end = $1))"
                ))
                .bind(p.day),
            )
            .await?;
        let spans: Vec<Span<Uuid>> = spans.into_iter().map(Span::from).collect();
        let m = mrr::day_movement(&spans, p.day);
        tx.execute(
            Sql::new(
                "INSERT INTO analytics_days (day, mrr_change, subscriptions_change, \
                 customers_change, new_mrr, expansion_mrr, contraction_mrr, churned_mrr, \
                 churned_customers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (day) DO UPDATE SET mrr_change = excluded.mrr_change, \
                 subscriptions_change = excluded.subscriptions_change, \
                 customers_change = excluded.customers_change, new_mrr = excluded.new_mrr, \
                 expansion_mrr = excluded.expansion_mrr, \
                 contraction_mrr = excluded.contraction_mrr, \
                 churned_mrr = excluded.churned_mrr, \
                 churned_customers = excluded.churned_customers",
            )
            .bind(p.day)
            .bind(m.mrr_change)
            .bind(m.subscriptions_change)
            .bind(m.customers_change)
            .bind(m.new_mrr)
            .bind(m.expansion_mrr)
            .bind(m.contraction_mrr)
            .bind(m.churned_mrr)
            .bind(m.churned_customers),
        )
        .await?;
        done.mrr_days += 1;
    }
    tx.commit().await?;
    Ok(done)
}

#[derive(sqlx::FromRow)]
struct Sum {
    total: i64,
}

/// Money received in `[from, to)`: payments plus the tax customers withheld on our behalf.
pub async fn paid_between(
    db: &Db,
    scope: Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64> {
    let row: Sum = db
        .fetch_one(
            Sql::new(format!(
                "SELECT CAST(COALESCE(SUM(p.amount + p.withholding_tax - p.overpayment), 0) \
                 AS BIGINT) AS total FROM payments p WHERE p.status = 'succeeded' \
                 AND p.paid_at >= $1 AND p.paid_at < $2 AND {}",
                Scope::clause("p.customer_id", 3)
            ))
            .bind(from)
            .bind(to)
            .bind(scope.member_user()),
        )
        .await?;
    Ok(row.total)
}

/// Invoiced (finalised, not void) in `[from, to)`, VAT included.
pub async fn invoiced_between(
    db: &Db,
    scope: Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64> {
    let row: Sum = db
        .fetch_one(
            Sql::new(format!(
                "SELECT CAST(COALESCE(SUM(i.total), 0) AS BIGINT) AS total FROM invoices i \
                 WHERE i.status IN ('open', 'paid', 'uncollectible') \
                 AND i.issued_at >= $1 AND i.issued_at < $2 AND {}",
                Scope::clause("i.customer_id", 3)
            ))
            .bind(from)
            .bind(to)
            .bind(scope.member_user()),
        )
        .await?;
    Ok(row.total)
}

/// What open invoices still owe: everything, and the part past its due date on `today`.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Receivables {
    pub outstanding: i64,
    pub overdue: i64,
}

pub async fn receivables(db: &Db, scope: Scope, today: NaiveDate) -> Result<Receivables> {
    db.fetch_one(
        Sql::new(format!(
            "SELECT CAST(COALESCE(SUM(i.amount_due), 0) AS BIGINT) AS outstanding, \
             CAST(COALESCE(SUM(CASE WHEN i.due_date < $1 THEN i.amount_due ELSE 0 END), 0) \
             AS BIGINT) AS overdue FROM invoices i WHERE i.status = 'open' AND {}",
            Scope::clause("i.customer_id", 2)
        ))
        .bind(today)
        .bind(scope.member_user()),
    )
    .await
}

/// One plan's share of the business on a date.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PlanFigures {
    pub plan_code: String,
    pub interval: String,
    /// Subscriptions that are not canceled, by their current plan.
    pub subscriptions: i64,
    pub trialing: i64,
    pub mrr: i64,
}

/// Subscriptions and MRR per plan code and interval on `at`.
pub async fn per_plan(db: &Db, scope: Scope, at: NaiveDate) -> Result<Vec<PlanFigures>> {
    db.fetch_all(
        Sql::new(format!(
            "WITH cur AS ({}) \
             SELECT p.code AS plan_code, p.billing_interval AS interval, \
               COUNT(*) AS subscriptions, \
               COUNT(CASE WHEN s.status = 'trialing' THEN 1 END) AS trialing, \
               CAST(COALESCE(SUM(cur.m), 0) AS BIGINT) AS mrr \
             FROM subscriptions s JOIN plan_catalog p ON p.id = s.plan_id \
             LEFT JOIN cur ON cur.sid = s.id \
             WHERE s.status <> 'canceled' AND {} \
             GROUP BY p.code, p.billing_interval ORDER BY p.code, p.billing_interval",
            covering(1, 2),
            Scope::clause("s.customer_id", 2)
        ))
        .bind(at)
        .bind(scope.member_user()),
    )
    .await
}
