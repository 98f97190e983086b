//! Notices ahead of time: the warning that a trial ends soon (`subscription.trial_will_end`),
//! emitted once per subscription when the billing run finds its trial ending within
//! [`TRIAL_NOTICE_DAYS`] days. The email worker turns the event into the "trial ending" mail;
//! webhooks may subscribe to it too.

use chrono::{DateTime, Days, Utc};
use serde_json::json;

use satang_domain::bangkok_date;
use satang_store::Db;
use satang_store::audit::{self, Actor, Change};
use satang_store::outbox::{self, NewEvent};
use satang_store::subscription_notices::{self, TRIAL_WILL_END};

use crate::Result;

/// How many days before a trial's end the customer is warned.
pub const TRIAL_NOTICE_DAYS: u64 = 3;
/// Subscriptions looked at per pass; the rest wait for the next run.
const BATCH: i64 = 500;

/// Emits `subscription.trial_will_end` for every trial ending within the notice window that has
/// not had its notice yet. Returns how many were emitted.
pub async fn notify_trials_ending(db: &Db, actor: &Actor, now: DateTime<Utc>) -> Result<u32> {
    let today = bangkok_date(now);
    let until = today
        .checked_add_days(Days::new(TRIAL_NOTICE_DAYS))
        .unwrap_or(today);
    let mut emitted = 0;
    for trial in subscription_notices::trials_ending(db, today, until, BATCH).await? {
        let mut tx = db.begin().await?;
        if !subscription_notices::record(&mut tx, trial.id, TRIAL_WILL_END, now).await? {
            continue;
        }
        let days_left = (trial.trial_end - today).num_days();
        let payload = json!({"id": trial.id, "customer_id": trial.customer_id,
                             "plan_id": trial.plan_id, "trial_end": trial.trial_end,
                             "days_left": days_left});
        outbox::emit(
            &mut tx,
            NewEvent {
                event_type: "subscription.trial_will_end",
                entity_type: "subscription",
                entity_id: trial.id.to_string(),
                customer_id: Some(trial.customer_id),
                payload: payload.clone(),
            },
            now,
        )
        .await?;
        audit::record(
            &mut tx,
            actor,
            Change {
                action: "subscription.trial_will_end",
                entity_type: "subscription",
                entity_id: trial.id.to_string(),
                before: None,
                after: Some(payload),
            },
            now,
        )
        .await?;
        tx.commit().await?;
        emitted += 1;
    }
    Ok(emitted)
}
