//! What entitlements are read from (SPEC §2.12): the plans of a customer's live subscriptions
//! and the usage of their current periods.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Db, Result, Sql};

/// One subscription that grants something, with its plan's features and limits.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LivePlan {
    pub subscription_id: Uuid,
    pub current_period_start: NaiveDate,
    pub current_period_end: NaiveDate,
    pub plan_code: String,
    pub features: Json<serde_json::Value>,
    pub limits: Json<serde_json::Value>,
}

/// The `trialing`, `active` and `past_due` subscriptions of a customer, oldest first.
pub async fn live_plans(db: &Db, customer_id: Uuid) -> Result<Vec<LivePlan>> {
    db.fetch_all(
        Sql::new(
            "SELECT s.id AS subscription_id, s.current_period_start, s.current_period_end, \
             p.code AS plan_code, p.features, p.limits \
             FROM subscriptions s JOIN plan_catalog p ON p.id = s.plan_id \
             WHERE s.customer_id = $1 AND s.status IN ('trialing', 'active', 'past_due') \
             ORDER BY s.id",
        )
        .bind(customer_id),
    )
    .await
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WindowUsage {
    pub subscription_id: Uuid,
    pub metric: String,
    pub quantity: i64,
}

/// Usage per subscription and metric, each subscription over its own `[from, to)`.
pub async fn usage_in_windows(
    db: &Db,
    windows: &[(Uuid, DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<WindowUsage>> {
    let mut out = Vec::new();
    // A customer has a handful of subscriptions: one statement each keeps to the index.
    for (id, from, to) in windows {
        out.extend(
            db.fetch_all::<WindowUsage>(
                Sql::new(
                    "SELECT subscription_id, metric, CAST(SUM(quantity) AS BIGINT) AS quantity \
                     FROM usage_events WHERE subscription_id = $1 AND occurred_at >= $2 \
                     AND occurred_at < $3 GROUP BY subscription_id, metric",
                )
                .bind(*id)
                .bind(*from)
                .bind(*to),
            )
            .await?,
        );
    }
    Ok(out)
}
