//! Notices a subscription gets once (`customers.subscription_notices`), such as the warning a
//! few days before its trial ends. The primary key (subscription, kind) is the guarantee: a
//! notice is recorded with `ON CONFLICT DO NOTHING`, and only the transaction that inserted the
//! row goes on to emit its event, however many processes look at the same subscription.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::{Db, Result, Sql, Tx};

pub const TRIAL_WILL_END: &str = "trial_will_end";

/// A trialing subscription whose trial ends within the window.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndingTrial {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub plan_id: Uuid,
    pub trial_end: NaiveDate,
}

/// Trialing subscriptions whose trial ends after `today` and on or before `until`, not yet
/// warned, oldest first.
pub async fn trials_ending(
    db: &Db,
    today: NaiveDate,
    until: NaiveDate,
    limit: i64,
) -> Result<Vec<EndingTrial>> {
    db.fetch_all(
        Sql::new(
            "SELECT s.id, s.customer_id, s.plan_id, s.trial_end FROM subscriptions s \
             WHERE s.status = 'trialing' AND s.trial_end > $1 AND s.trial_end <= $2 \
             AND NOT EXISTS (SELECT 1 FROM subscription_notices n \
                 WHERE n.subscription_id = s.id AND n.kind = $3) \
             ORDER BY s.id LIMIT $4",
        )
        .bind(today)
        .bind(until)
        .bind(TRIAL_WILL_END)
        .bind(limit),
    )
    .await
}

/// Records that `subscription_id` got notice `kind`; false when it already had (another
/// process, an earlier run), in which case the caller emits nothing.
pub async fn record(
    tx: &mut Tx,
    subscription_id: Uuid,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(tx
        .execute(
            Sql::new(
                "INSERT INTO subscription_notices (subscription_id, kind, created_at) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(subscription_id)
            .bind(kind)
            .bind(now),
        )
        .await?
        == 1)
}
