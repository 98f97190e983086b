//! What billing thresholds' invoices billed of a period's usage (SPEC §2.12): per invoice and
//! metric, the quantity counted so far. A period's billed quantity of a metric is the sum of its
//! rows; the next invoice of the period prices the whole usage and takes off what was billed.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::usage::{MetricTotal, SubscriptionMetricTotal};
use crate::{Result, Sql, Tx};

/// One metric's part of a threshold invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBilled {
    pub metric: String,
    /// The period's usage counted up to this invoice (cumulative since the period began).
    pub quantity_to: i64,
    /// What was counted before this invoice; the row records `quantity_to - quantity_from`.
    pub quantity_from: i64,
    pub amount: i64,
}

/// Records the parts of threshold invoice `invoice_id` of the period starting `period_start`.
pub async fn record(
    tx: &mut Tx,
    invoice_id: Uuid,
    subscription_id: Uuid,
    period_start: NaiveDate,
    parts: &[NewBilled],
    now: DateTime<Utc>,
) -> Result<()> {
    for part in parts {
        tx.execute(
            Sql::new(
                "INSERT INTO usage_billed (invoice_id, subscription_id, period_start, metric, \
                 quantity, amount, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(invoice_id)
            .bind(subscription_id)
            .bind(period_start)
            .bind(part.metric.as_str())
            .bind(part.quantity_to - part.quantity_from)
            .bind(part.amount)
            .bind(now),
        )
        .await?;
    }
    Ok(())
}

/// The quantities of the period starting `period_start` that threshold invoices billed, per
/// metric.
pub async fn billed(
    tx: &mut Tx,
    subscription_id: Uuid,
    period_start: NaiveDate,
) -> Result<Vec<MetricTotal>> {
    tx.fetch_all(
        Sql::new(
            "SELECT metric, CAST(SUM(quantity) AS BIGINT) AS quantity FROM usage_billed \
             WHERE subscription_id = $1 AND period_start = $2 GROUP BY metric ORDER BY metric",
        )
        .bind(subscription_id)
        .bind(period_start),
    )
    .await
}

/// [`billed`] of many (subscription, period start) pairs: one statement per few hundred (a
/// billing run's chunk).
pub async fn billed_many(
    tx: &mut Tx,
    periods: &[(Uuid, NaiveDate)],
) -> Result<Vec<SubscriptionMetricTotal>> {
    const COLS: usize = 2;
    let mut out = Vec::new();
    for chunk in periods.chunks(crate::rows_per_statement(COLS)) {
        let mut sql = Sql::new("WITH w (sid, pstart) AS (VALUES ")
            .push_value_rows(chunk.len(), COLS)
            .push(
                ") SELECT b.subscription_id, b.metric, CAST(SUM(b.quantity) AS BIGINT) AS quantity \
                 FROM w JOIN usage_billed b ON b.subscription_id = w.sid \
                 AND b.period_start = w.pstart \
                 GROUP BY b.subscription_id, b.metric ORDER BY b.subscription_id, b.metric",
            );
        for (id, start) in chunk {
            sql = sql.bind(*id).bind(*start);
        }
        out.extend(tx.fetch_all::<SubscriptionMetricTotal>(sql).await?);
    }
    Ok(out)
}
