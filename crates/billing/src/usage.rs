//! Metered usage ingestion (SPEC §2.6): a batch of usage reports is checked against the
//! subscriptions it names and stored; a report whose idempotency key the subscription has seen
//! before is ignored. The billing run sums usage per period onto the arrears invoice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use satang_domain::usage::MeteredPrice;
use satang_store::audit::{self, Actor, Change};
use satang_store::usage::{self, NewUsage};
use satang_store::{Db, subscriptions};

use crate::{Error, FieldError, Result, usage_alerts};

/// One report of usage, as sent.
#[derive(Debug, Clone)]
pub struct UsageReport {
    pub subscription_id: Uuid,
    /// A metric the subscription's plan prices.
    pub metric: String,
    pub quantity: i64,
    /// When the usage happened; it is billed in the period that contains it.
    pub occurred_at: DateTime<Utc>,
    /// Unique per subscription: a repeat is ignored.
    pub idempotency_key: String,
}

/// What a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestReceipt {
    /// New reports stored.
    pub accepted: u64,
    /// Reports ignored because their idempotency key was seen before.
    pub duplicates: u64,
    /// The customers whose usage the batch named (their entitlements may have changed).
    pub customers: Vec<Uuid>,
}

/// Stores `reports` in one transaction, or none of them when any is refused: an unknown
/// subscription, a metric its plan does not price, a quantity outside 0–10^12, an idempotency
/// key that is not 1–255 visible characters. Each refusal names the report
/// (`events[3].metric`). One audit entry (`usage.ingested`) per batch: usage arrives in
/// thousands of rows. Once committed, the batch's subscriptions are checked against the usage
/// alerts ([`usage_alerts::check_thresholds`]).
pub async fn ingest_usage(
    db: &Db,
    actor: &Actor,
    reports: Vec<UsageReport>,
    now: DateTime<Utc>,
) -> Result<IngestReceipt> {
    // The subscriptions of the batch with the metrics their plans price, in one query.
    let mut ids: Vec<Uuid> = reports.iter().map(|e| e.subscription_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let metering = subscriptions::metering_of(db, &ids).await?;
    // Only these can need a mid-period invoice after the batch.
    let with_threshold: Vec<Uuid> = metering
        .iter()
        .filter(|m| m.billing_threshold.is_some())
        .map(|m| m.id)
        .collect();
    let known: HashMap<Uuid, (Uuid, Vec<String>)> = metering
        .into_iter()
        .map(|m| {
            let metrics = serde_json::from_value::<Vec<MeteredPrice>>(m.metered.0)
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.metric)
                .collect();
            (m.id, (m.customer_id, metrics))
        })
        .collect();
    let mut refused: Vec<FieldError> = Vec::new();
    let mut rows = Vec::with_capacity(reports.len());
    for (i, report) in reports.into_iter().enumerate() {
        // Field names are formatted only for a refusal: a batch is a thousand reports.
        let mut refuse = |name: &str, message: &str| {
            refused.push(FieldError {
                field: format!("events[{i}].{name}"),
                message: message.to_owned(),
            });
        };
        let Some((customer_id, metrics)) = known.get(&report.subscription_id) else {
            refuse("subscription_id", "no such subscription");
            continue;
        };
        if !metrics.contains(&report.metric) {
            refuse(
                "metric",
                "the subscription's plan does not price this metric",
            );
        }
        if !(0..=1_000_000_000_000).contains(&report.quantity) {
            refuse("quantity", "must be between 0 and 10^12");
        }
        if !(1..=255).contains(&report.idempotency_key.len())
            || report.idempotency_key.chars().any(char::is_control)
        {
            refuse("idempotency_key", "must be 1–255 visible characters");
        }
        rows.push(NewUsage {
            subscription_id: report.subscription_id,
            customer_id: *customer_id,
            metric: report.metric,
            quantity: report.quantity,
            occurred_at: report.occurred_at,
            idempotency_key: report.idempotency_key,
        });
    }
    if !refused.is_empty() {
        return Err(Error::InvalidFields(refused));
    }
    let mut tx = db.begin().await?;
    let accepted = usage::insert_batch(&mut tx, &rows, now).await?;
    audit::record(
        &mut tx,
        actor,
        Change {
            action: "usage.ingested",
            entity_type: "usage_batch",
            entity_id: Uuid::now_v7().to_string(),
            before: None,
            after: Some(json!({ "events": rows.len(), "accepted": accepted })),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    if accepted > 0 {
        let mut subscriptions: Vec<Uuid> = rows.iter().map(|r| r.subscription_id).collect();
        subscriptions.sort_unstable();
        subscriptions.dedup();
        // The usage is stored whatever happens here: an alert not fired now fires on the
        // subscription's next accepted report (its notice row is still missing).
        if let Err(e) = usage_alerts::check_thresholds(db, actor, &subscriptions, now).await {
            tracing::warn!(error = %e, "usage alerts not checked");
        }
        // Billing thresholds likewise, after the commit: the check locks the subscription and
        // reads every committed report (see `thresholds`); one missed here is caught up by the
        // next ingestion or billing run.
        let thresholds: Vec<Uuid> = subscriptions
            .iter()
            .copied()
            .filter(|id| with_threshold.contains(id))
            .collect();
        if let Err(e) =
            crate::thresholds::check_billing_thresholds(db, actor, &thresholds, now).await
        {
            tracing::warn!(error = %e, "billing thresholds not checked");
        }
    }
    let mut customers: Vec<Uuid> = rows.iter().map(|r| r.customer_id).collect();
    customers.sort_unstable();
    customers.dedup();
    Ok(IngestReceipt {
        accepted,
        duplicates: rows.len() as u64 - accepted,
        customers,
    })
}
