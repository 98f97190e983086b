//! Metered usage events: ingested in batches, duplicates (same subscription and idempotency key)
//! ignored, summed per subscription, metric and period for the arrears invoice.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Result, Sql, Tx};

pub struct NewUsage {
    pub subscription_id: Uuid,
    pub customer_id: Uuid,
    pub metric: String,
    pub quantity: i64,
    pub occurred_at: DateTime<Utc>,
    pub idempotency_key: String,
}

/// Rows per statement (8 parameters each): see [`crate::rows_per_statement`] for why not more.
const ROWS_PER_STATEMENT: usize = 100;

/// Inserts a batch with multi-row statements; returns how many were new.
pub async fn insert_batch(tx: &mut Tx, events: &[NewUsage], now: DateTime<Utc>) -> Result<u64> {
    let mut inserted = 0;
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let mut text = String::from(
            "INSERT INTO usage_events (id, subscription_id, customer_id, metric, quantity, \
             occurred_at, idempotency_key, created_at) VALUES ",
        );
        for i in 0..chunk.len() {
            let p = i * 8;
            if i > 0 {
                text.push_str(", ");
            }
            text.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7,
                p + 8
            ));
        }
        text.push_str(" ON CONFLICT (subscription_id, idempotency_key) DO NOTHING");
        let mut sql = Sql::new(text);
        for e in chunk {
            sql = sql
                .bind(Uuid::now_v7())
                .bind(e.subscription_id)
                .bind(e.customer_id)
                .bind(e.metric.as_str())
                .bind(e.quantity)
                .bind(e.occurred_at)
                .bind(e.idempotency_key.as_str())
                .bind(now);
        }
        inserted += tx.execute(sql).await?;
    }
    let mut customers: Vec<Uuid> = events.iter().map(|e| e.customer_id).collect();
    customers.sort_unstable();
    customers.dedup();
    crate::entitlement_signals::changed(tx, &customers).await?;
    Ok(inserted)
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MetricTotal {
    pub metric: String,
    pub quantity: i64,
}

/// Usage of one subscription in `[from, to)`, per metric.
pub async fn totals(
    tx: &mut Tx,
    subscription_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MetricTotal>> {
    tx.fetch_all(
        Sql::new(
            "SELECT metric, CAST(SUM(quantity) AS BIGINT) AS quantity FROM usage_events \
             WHERE subscription_id = $1 AND occurred_at >= $2 AND occurred_at < $3 \
             GROUP BY metric ORDER BY metric",
        )
        .bind(subscription_id)
        .bind(from)
        .bind(to),
    )
    .await
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscriptionMetricTotal {
    pub subscription_id: Uuid,
    pub metric: String,
    pub quantity: i64,
}

/// [`totals`] of many subscriptions at once, each over its own `[from, to)`: one statement per
/// few hundred subscriptions (a billing run's chunk).
pub async fn totals_many(
    tx: &mut Tx,
    windows: &[(Uuid, DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<SubscriptionMetricTotal>> {
    const COLS: usize = 3;
    let mut out = Vec::new();
    for chunk in windows.chunks(crate::rows_per_statement(COLS)) {
        let mut sql = Sql::new("WITH w (sid, date_from, date_to) AS (VALUES ")
            .push_value_rows(chunk.len(), COLS)
            .push(
                ") SELECT u.subscription_id, u.metric, CAST(SUM(u.quantity) AS BIGINT) AS quantity \
                 FROM w JOIN usage_events u ON u.subscription_id = w.sid \
                 AND u.occurred_at >= w.date_from AND u.occurred_at < w.date_to \
                 GROUP BY u.subscription_id, u.metric ORDER BY u.subscription_id, u.metric",
            );
        for (id, from, to) in chunk {
            sql = sql.bind(*id).bind(*from).bind(*to);
        }
        out.extend(tx.fetch_all::<SubscriptionMetricTotal>(sql).await?);
    }
    Ok(out)
}
