//! Usage alerts (SPEC §2.12): billing staff ask to hear when a subscription's usage of a metric
//! reaches a threshold in its current period. Ingestion calls [`check_thresholds`] right after
//! its transaction commits; each alert fires at most once per subscription and period
//! (`usage.threshold_reached`, delivered as a webhook event and as a mail to the billing
//! contact), which the notices' primary key guarantees however many processes ingest at once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use satang_store::audit::{self, Actor, Change};
use satang_store::entitlements::{self as usage_windows, WindowUsage};
use satang_store::outbox::{self, NewEvent};
use satang_store::usage_alerts::{self, NewUsageAlert, UsageAlert, Watch};
use satang_store::{Db, Scope, customers};

use crate::entitlements::bangkok_midnight;
use crate::{Error, FieldError, Result};

/// The event an alert emits.
pub const THRESHOLD_REACHED: &str = "usage.threshold_reached";
/// Longest metric name, in characters.
pub const MAX_METRIC: usize = 100;

/// What an alert is asked to watch, as sent.
#[derive(Debug, Clone, Default)]
pub struct AlertInput {
    pub metric: String,
    pub threshold: i64,
    pub plan_code: Option<String>,
    pub customer_id: Option<Uuid>,
}

/// Checks the input (a metric of 1–100 visible characters, a positive threshold, a plan code
/// that names a plan, a customer that exists), stores the alert and records
/// `usage_alert.created`. Every refusal names its field.
pub async fn create_usage_alert(
    db: &Db,
    actor: &Actor,
    input: AlertInput,
    now: DateTime<Utc>,
) -> Result<UsageAlert> {
    let mut refused = Vec::new();
    let mut refuse = |field: &str, message: &str| {
        refused.push(FieldError {
            field: field.into(),
            message: message.into(),
        })
    };
    let metric = input.metric.trim();
    if metric.is_empty()
        || metric.chars().count() > MAX_METRIC
        || metric.chars().any(char::is_control)
    {
        refuse("metric", "must be 1–100 visible characters");
    }
    if input.threshold <= 0 || input.threshold > 1_000_000_000_000_000 {
        refuse("threshold", "must be a positive whole number up to 10^15");
    }
    let plan_code = input.plan_code.as_deref().map(str::trim);
    if let Some(customer_id) = input.customer_id
        && customers::get(db, Scope::All, customer_id).await?.is_none()
    {
        refuse("customer_id", "no such customer");
    }
    let mut tx = db.begin().await?;
    if let Some(code) = plan_code
        && !usage_alerts::plan_code_exists(&mut tx, code).await?
    {
        refuse("plan_code", "no plan has this code");
    }
    if !refused.is_empty() {
        return Err(Error::InvalidFields(refused));
    }
    let alert = usage_alerts::insert(
        &mut tx,
        NewUsageAlert {
            metric,
            threshold: input.threshold,
            plan_code,
            customer_id: input.customer_id,
        },
        now,
    )
    .await?;
    let change = Change {
        action: "usage_alert.created",
        entity_type: "usage_alert",
        entity_id: alert.id.to_string(),
        before: None,
        after: Some(alert_json(&alert)),
    };
    audit::record(&mut tx, actor, change, now).await?;
    tx.commit().await?;
    Ok(alert)
}

/// Deletes a live alert and records `usage_alert.deleted`; [`Error::NotFound`] when there is
/// none. Notices it already gave stay.
pub async fn delete_usage_alert(
    db: &Db,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<UsageAlert> {
    let mut tx = db.begin().await?;
    let alert = usage_alerts::delete(&mut tx, id, now)
        .await?
        .ok_or(Error::NotFound)?;
    let change = Change {
        action: "usage_alert.deleted",
        entity_type: "usage_alert",
        entity_id: alert.id.to_string(),
        before: Some(alert_json(&alert)),
        after: None,
    };
    audit::record(&mut tx, actor, change, now).await?;
    tx.commit().await?;
    Ok(alert)
}

/// An alert as the API and the audit log show it.
pub fn alert_json(a: &UsageAlert) -> Value {
    json!({
        "id": a.id,
        "metric": a.metric,
        "threshold": a.threshold,
        "plan_code": a.plan_code,
        "customer_id": a.customer_id,
        "created_at": a.created_at,
    })
}

/// A watch whose threshold the period's usage has reached, with that usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    pub watch: Watch,
    pub usage: i64,
}

/// The watches whose metric's usage in the period is at least their threshold (pure).
pub fn reached(watches: Vec<Watch>, usage: &[WindowUsage]) -> Vec<Reached> {
    let used: HashMap<(Uuid, &str), i64> = usage
        .iter()
        .map(|u| ((u.subscription_id, u.metric.as_str()), u.quantity))
        .collect();
    watches
        .into_iter()
        .filter_map(|watch| {
            let usage = *used
                .get(&(watch.subscription_id, watch.metric.as_str()))
                .unwrap_or(&0);
            (usage >= watch.threshold).then_some(Reached { watch, usage })
        })
        .collect()
}

/// Fires the alerts that the usage of `subscription_ids` has reached this period and that have
/// not fired yet: for each, in one transaction, the notice row, the event (whose outbox row
/// queues the webhook deliveries and the mail) and an audit entry. Returns how many fired.
///
/// Called after the ingestion's commit, not inside it: each check then reads every committed
/// report, so of two concurrent batches that together cross a threshold at least the later one
/// sees the total (inside the transactions each would see only its own rows and the alert
/// could be missed). The notice's primary key keeps the two from both firing.
pub async fn check_thresholds(
    db: &Db,
    actor: &Actor,
    subscription_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<u32> {
    let watches = usage_alerts::pending_watches(db, subscription_ids).await?;
    if watches.is_empty() {
        return Ok(0);
    }
    let mut windows: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)> = watches
        .iter()
        .map(|w| {
            (
                w.subscription_id,
                bangkok_midnight(w.current_period_start),
                bangkok_midnight(w.current_period_end),
            )
        })
        .collect();
    windows.dedup();
    let usage = usage_windows::usage_in_windows(db, &windows).await?;
    let mut fired = 0;
    for Reached { watch, usage } in reached(watches, &usage) {
        let mut tx = db.begin().await?;
        if !usage_alerts::record_notice(
            &mut tx,
            watch.subscription_id,
            watch.alert_id,
            watch.current_period_start,
            now,
        )
        .await?
        {
            continue;
        }
        let payload = json!({
            "alert_id": watch.alert_id,
            "subscription_id": watch.subscription_id,
            "customer_id": watch.customer_id,
            "plan_code": watch.plan_code,
            "metric": watch.metric,
            "threshold": watch.threshold,
            "usage": usage,
            "period_start": watch.current_period_start,
            "period_end": watch.current_period_end,
        });
        outbox::emit(
            &mut tx,
            NewEvent {
                event_type: THRESHOLD_REACHED,
                entity_type: "subscription",
                entity_id: watch.subscription_id.to_string(),
                customer_id: Some(watch.customer_id),
                payload: payload.clone(),
            },
            now,
        )
        .await?;
        let change = Change {
            action: THRESHOLD_REACHED,
            entity_type: "subscription",
            entity_id: watch.subscription_id.to_string(),
            before: None,
            after: Some(payload),
        };
        audit::record(&mut tx, actor, change, now).await?;
        tx.commit().await?;
        fired += 1;
    }
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn watch(sub: Uuid, metric: &str, threshold: i64) -> Watch {
        Watch {
            subscription_id: sub,
            customer_id: Uuid::nil(),
            plan_code: "PRO".into(),
            current_period_start: NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
            current_period_end: NaiveDate::from_ymd_opt(2030, 2, 1).unwrap(),
            alert_id: Uuid::now_v7(),
            metric: metric.into(),
            threshold,
        }
    }

    fn used(sub: Uuid, metric: &str, quantity: i64) -> WindowUsage {
        WindowUsage {
            subscription_id: sub,
            metric: metric.into(),
            quantity,
        }
    }

    #[test]
    fn an_alert_fires_when_usage_reaches_its_threshold() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let watches = vec![
            watch(a, "api_calls", 100),
            watch(a, "api_calls", 101),
            watch(a, "sms", 1),
            watch(b, "api_calls", 50),
        ];
        let usage = [used(a, "api_calls", 100), used(b, "api_calls", 49)];
        let fired = reached(watches, &usage);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].watch.threshold, 100);
        assert_eq!(fired[0].usage, 100);
    }

    #[test]
    fn no_usage_fires_nothing() {
        let a = Uuid::now_v7();
        assert!(reached(vec![watch(a, "api_calls", 1)], &[]).is_empty());
    }
}
