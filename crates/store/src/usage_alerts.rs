//! Usage alerts (SPEC §2.12) and the notices they gave: an alert watches one metric for every
//! subscription, those of a plan (by code) or those of a customer; a notice records that a
//! subscription reached an alert's threshold in the period starting `period_start`. The
//! notices' primary key (subscription, alert, period) makes "once" hold across processes: only
//! the transaction that inserted the row emits the event.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::{Db, Result, Sql, Tx};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageAlert {
    pub id: Uuid,
    pub metric: String,
    pub threshold: i64,
    pub plan_code: Option<String>,
    pub customer_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, metric, threshold, plan_code, customer_id, created_at";

pub struct NewUsageAlert<'a> {
    pub metric: &'a str,
    pub threshold: i64,
    pub plan_code: Option<&'a str>,
    pub customer_id: Option<Uuid>,
}

pub async fn insert(tx: &mut Tx, new: NewUsageAlert<'_>, now: DateTime<Utc>) -> Result<UsageAlert> {
    tx.fetch_one(
        Sql::new(format!(
            "INSERT INTO usage_alerts (id, metric, threshold, plan_code, customer_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(new.metric)
        .bind(new.threshold)
        .bind(new.plan_code.map(str::to_owned))
        .bind(new.customer_id)
        .bind(now),
    )
    .await
}

/// Live alerts in id order after `after`, optionally only those of one plan code.
pub async fn list_live(
    db: &Db,
    plan_code: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<UsageAlert>> {
    db.fetch_all(
        Sql::new(format!(
            "SELECT {COLUMNS} FROM usage_alerts WHERE deleted_at IS NULL \
             AND ($1 IS NULL OR plan_code = $1) AND ($2 IS NULL OR id > $2) \
             ORDER BY id LIMIT $3"
        ))
        .bind(plan_code.map(str::to_owned))
        .bind(after)
        .bind(limit),
    )
    .await
}

/// Deletes a live alert (its row stays, marked); `None` when there is no such live alert.
pub async fn delete(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<Option<UsageAlert>> {
    tx.fetch_optional(
        Sql::new(format!(
            "UPDATE usage_alerts SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL \
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(now),
    )
    .await
}

/// A live alert that applies to a live subscription and has not fired in its current period.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Watch {
    pub subscription_id: Uuid,
    pub customer_id: Uuid,
    pub plan_code: String,
    pub current_period_start: NaiveDate,
    pub current_period_end: NaiveDate,
    pub alert_id: Uuid,
    pub metric: String,
    pub threshold: i64,
}

/// The alerts still to fire this period for the given subscriptions (`trialing`, `active`,
/// `past_due` only), in one statement.
pub async fn pending_watches(db: &Db, subscription_ids: &[Uuid]) -> Result<Vec<Watch>> {
    if subscription_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        "SELECT s.id AS subscription_id, s.customer_id, p.code AS plan_code, \
         s.current_period_start, s.current_period_end, a.id AS alert_id, a.metric, a.threshold \
         FROM subscriptions s JOIN plan_catalog p ON p.id = s.plan_id \
         JOIN usage_alerts a ON a.deleted_at IS NULL \
             AND (a.plan_code IS NULL OR a.plan_code = p.code) \
             AND (a.customer_id IS NULL OR a.customer_id = s.customer_id) \
         WHERE s.status IN ('trialing', 'active', 'past_due') \
         AND NOT EXISTS (SELECT 1 FROM usage_alert_notices n WHERE n.subscription_id = s.id \
             AND n.alert_id = a.id AND n.period_start = s.current_period_start) \
         AND s.id IN (",
    )
    .push_params(1, subscription_ids.len())
    .push(") ORDER BY s.id, a.id");
    for id in subscription_ids {
        sql = sql.bind(*id);
    }
    db.fetch_all(sql).await
}

/// Records that the alert fired for the subscription's period; false when it already had
/// (another process, an earlier batch), in which case the caller emits nothing.
pub async fn record_notice(
    tx: &mut Tx,
    subscription_id: Uuid,
    alert_id: Uuid,
    period_start: NaiveDate,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(tx
        .execute(
            Sql::new(
                "INSERT INTO usage_alert_notices (subscription_id, alert_id, period_start, \
                 created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(subscription_id)
            .bind(alert_id)
            .bind(period_start)
            .bind(now),
        )
        .await?
        == 1)
}

/// Whether any plan, active or archived, is sold under `code`.
pub async fn plan_code_exists(tx: &mut Tx, code: &str) -> Result<bool> {
    let found: Option<(i64,)> = tx
        .fetch_optional(
            Sql::new("SELECT CAST(1 AS BIGINT) FROM plan_catalog WHERE code = $1 LIMIT 1")
                .bind(code),
        )
        .await?;
    Ok(found.is_some())
}
