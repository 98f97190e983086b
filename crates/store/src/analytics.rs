//! Revenue analytics from the real tables (SPEC §2.7). Monthly recurring revenue is read from
//! the subscription invoices themselves: each carries the `mrr` it stands for (its fee spread
//! over the months of its period), so the MRR on a date is the sum over the invoices whose period
//! covers that date, and the movements of a month compare each subscription on two dates.
//! Every query takes the caller's [`Scope`].

use crate::{Db, Result, Scope, Sql};
use chrono::{DateTime, NaiveDate, Utc};

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

/// MRR on `at` and its movements since `previous` (new, expansion, contraction, churn).
///
/// One pass over the recurring invoices covering either date, summed per subscription for both
/// dates at once, instead of two
/// aggregates joined with a `FULL OUTER JOIN`.
pub async fn mrr_movement(
    db: &Db,
    scope: Scope,
    at: NaiveDate,
    previous: NaiveDate,
) -> Result<MrrMovement> {
    let sql = format!(
        "WITH joined AS ( \
           SELECT i.subscription_id AS sid, i.customer_id AS cid, \
             SUM(CASE WHEN i.period_start <= $1 AND i.period_end > $1 THEN i.mrr ELSE 0 END) \
               AS cm, \
             SUM(CASE WHEN i.period_start <= $2 AND i.period_end > $2 THEN i.mrr ELSE 0 END) \
               AS pm \
           FROM invoices i WHERE i.mrr > 0 AND i.status <> 'void' \
           AND i.period_end > $2 AND i.period_start <= $1 \
           AND ((i.period_start <= $1 AND i.period_end > $1) \
             OR (i.period_start <= $2 AND i.period_end > $2)) AND {} \
           GROUP BY i.subscription_id, i.customer_id) \
         SELECT \
           CAST(COALESCE(SUM(cm), 0) AS BIGINT) AS mrr, \
           CAST(COALESCE(SUM(pm), 0) AS BIGINT) AS previous_mrr, \
           CAST(COALESCE(SUM(CASE WHEN pm = 0 THEN cm ELSE 0 END), 0) AS BIGINT) AS new_mrr, \
           CAST(COALESCE(SUM(CASE WHEN pm > 0 AND cm > pm THEN cm - pm ELSE 0 END), 0) AS BIGINT) \
             AS expansion_mrr, \
           CAST(COALESCE(SUM(CASE WHEN cm > 0 AND cm < pm THEN pm - cm ELSE 0 END), 0) AS BIGINT) \
             AS contraction_mrr, \
           CAST(COALESCE(SUM(CASE WHEN cm = 0 THEN pm ELSE 0 END), 0) AS BIGINT) AS churned_mrr, \
           COUNT(CASE WHEN cm > 0 THEN 1 END) AS active_subscriptions, \
           COUNT(DISTINCT CASE WHEN cm > 0 THEN cid END) AS active_customers, \
           COUNT(DISTINCT CASE WHEN pm > 0 THEN cid END) AS previous_customers, \
           (SELECT COUNT(*) FROM (SELECT cid FROM joined GROUP BY cid \
              HAVING SUM(pm) > 0 AND SUM(cm) = 0) gone) AS churned_customers \
         FROM joined",
        Scope::clause("i.customer_id", 3)
    );
    db.fetch_one(
        Sql::new(sql)
            .bind(at)
            .bind(previous)
            .bind(scope.member_user()),
    )
    .await
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
