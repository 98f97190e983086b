//! The email delivery queue: one row per event that deserves a mail to the customer, written by
//! [`crate::outbox::emit`] in the transaction of the change, so a change and its notification
//! commit together, and the unique `event_id` means one event is never mailed twice. The worker
//! claims due rows with a lease (like the webhook deliveries), then records what happened.

use chrono::{DateTime, Utc};
pub use satang_domain::EmailKind;
use satang_domain::{EmailStatus, SubscriptionChange};
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Backend, Db, Result, Sql, Tx};

/// Which mail, if any, an outbox event turns into.
pub fn kind_for(event_type: &str, payload: &serde_json::Value) -> Option<EmailKind> {
    match event_type {
        // Sent again by hand: the same mail, with what is due now.
        "invoice.finalized" | "invoice.sent" => Some(EmailKind::InvoiceIssued),
        "payment.succeeded" => Some(EmailKind::PaymentReceived),
        "payment.failed" => Some(EmailKind::PaymentFailed),
        "subscription.trial_will_end" => Some(EmailKind::TrialEnding),
        "usage.threshold_reached" => Some(EmailKind::UsageThresholdReached),
        "subscription.updated" => payload["change"]
            .as_str()
            .and_then(|c| c.parse::<SubscriptionChange>().ok())
            .map(|_| EmailKind::SubscriptionChanged),
        _ => None,
    }
}

/// Queues the mail for an event, inside the event's transaction.
pub async fn enqueue(
    tx: &mut Tx,
    event_id: Uuid,
    kind: EmailKind,
    customer_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.execute(
        Sql::new(
            "INSERT INTO email_deliveries (id, event_id, kind, customer_id, status, attempts, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        )
        .bind(Uuid::now_v7())
        .bind(event_id)
        .bind(kind.as_str())
        .bind(customer_id)
        .bind(now),
    )
    .await?;
    Ok(())
}

/// [`enqueue`] for many events at once (`(event, kind, customer)`), in multi-row statements.
pub async fn enqueue_many(
    tx: &mut Tx,
    mails: &[(Uuid, EmailKind, Uuid)],
    now: DateTime<Utc>,
) -> Result<()> {
    if tx.backend() == Backend::Postgres {
        // One statement, a column per array, whatever the number of rows.
        if mails.is_empty() {
            return Ok(());
        }
        let sql = Sql::new(
            "INSERT INTO email_deliveries (status, attempts, next_attempt_at, created_at, id, \
             event_id, kind, customer_id) SELECT 'pending', 0, $1, $1, * \
             FROM UNNEST($2::uuid[], $3::uuid[], $4::text[], $5::uuid[])",
        )
        .bind(now)
        .bind_column(mails, |_| Uuid::now_v7())
        .bind_column(mails, |m| m.0)
        .bind_column(mails, |m| m.1.as_str())
        .bind_column(mails, |m| m.2);
        tx.execute(sql).await?;
        return Ok(());
    }
    const COLS: usize = 4;
    for chunk in mails.chunks(crate::rows_per_statement(COLS)) {
        let mut text = String::from(
            "INSERT INTO email_deliveries (id, event_id, kind, customer_id, status, attempts, \
             next_attempt_at, created_at) VALUES ",
        );
        for r in 0..chunk.len() {
            let p = 2 + r * COLS;
            if r > 0 {
                text.push_str(", ");
            }
            text.push_str(&format!(
                "(${}, ${}, ${}, ${}, 'pending', 0, $1, $1)",
                p,
                p + 1,
                p + 2,
                p + 3
            ));
        }
        let mut sql = Sql::new(text).bind(now);
        for (event, kind, customer) in chunk {
            sql = sql
                .bind(Uuid::now_v7())
                .bind(*event)
                .bind(kind.as_str())
                .bind(*customer);
        }
        tx.execute(sql).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EmailDelivery {
    pub id: Uuid,
    pub event_id: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: EmailKind,
    pub customer_id: Uuid,
    #[sqlx(try_from = "String")]
    pub status: EmailStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub recipient: Option<String>,
    pub locale: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A mail to send now, with the event it tells about.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueEmail {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: EmailKind,
    pub customer_id: Uuid,
    pub attempts: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub entity_id: String,
    pub payload: Json<serde_json::Value>,
    pub event_created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: Uuid,
}

/// Claims up to `limit` due mails by pushing their next attempt to `lease_until`: another
/// process (or this one after a crash) leaves them alone until the lease ends. On PostgreSQL
/// rows another process is claiming are skipped (`FOR UPDATE SKIP LOCKED`).
pub async fn claim_due(
    db: &Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DueEmail>> {
    let lock = match db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let mut tx = db.begin().await?;
    let ids: Vec<IdRow> = tx
        .fetch_all(
            Sql::new(format!(
                "SELECT id FROM email_deliveries WHERE status = 'pending' \
                 AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2{lock}"
            ))
            .bind(now)
            .bind(limit),
        )
        .await?;
    let mut due = Vec::with_capacity(ids.len());
    for IdRow { id } in ids {
        tx.execute(
            Sql::new("UPDATE email_deliveries SET next_attempt_at = $2 WHERE id = $1")
                .bind(id)
                .bind(lease_until),
        )
        .await?;
        let row: DueEmail = tx
            .fetch_one(
                Sql::new(
                    "SELECT d.id, d.kind, d.customer_id, d.attempts, e.id AS event_id, \
                     e.event_type, e.entity_id, e.payload, e.created_at AS event_created_at \
                     FROM email_deliveries d JOIN outbox_events e ON e.id = d.event_id \
                     WHERE d.id = $1",
                )
                .bind(id),
            )
            .await?;
        due.push(row);
    }
    tx.commit().await?;
    Ok(due)
}

/// What became of one attempt.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Accepted by the SMTP server, or written to the outbox folder.
    Sent,
    /// Nobody to send to (no address on file, customer deleted): not an error, not retried.
    Skipped(String),
    /// Failed; tried again at `retry_at`, or given up when `None`.
    Failed {
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// The message as composed, kept on the delivery for the record.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    pub recipient: Option<String>,
    pub locale: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
}

/// Records an attempt and its outcome.
pub async fn record_attempt(
    db: &Db,
    id: Uuid,
    envelope: &Envelope,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<()> {
    let (status, error, next, sent_at) = match outcome {
        Outcome::Sent => (EmailStatus::Sent, None, now, Some(now)),
        Outcome::Skipped(why) => (EmailStatus::Skipped, Some(why.clone()), now, None),
        Outcome::Failed {
            error,
            retry_at: Some(at),
        } => (EmailStatus::Pending, Some(error.clone()), *at, None),
        Outcome::Failed {
            error,
            retry_at: None,
        } => (EmailStatus::Failed, Some(error.clone()), now, None),
    };
    db.execute(
        Sql::new(
            "UPDATE email_deliveries SET status = $2, attempts = attempts + 1, last_error = $3, \
             next_attempt_at = $4, sent_at = $5, recipient = $6, locale = $7, subject = $8, \
             message_id = $9 WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(error)
        .bind(next)
        .bind(sent_at)
        .bind(envelope.recipient.clone())
        .bind(envelope.locale.clone())
        .bind(envelope.subject.clone())
        .bind(envelope.message_id.clone()),
    )
    .await?;
    Ok(())
}

/// Marks every waiting mail skipped with `reason` (the demo's history: its events happened on
/// a demo clock and must not reach anyone's inbox).
pub async fn skip_pending(db: &Db, reason: &str, now: DateTime<Utc>) -> Result<u64> {
    db.execute(
        Sql::new(
            "UPDATE email_deliveries SET status = 'skipped', last_error = $1, \
             next_attempt_at = $2 WHERE status = 'pending'",
        )
        .bind(reason)
        .bind(now),
    )
    .await
}

/// Forgets the addresses mail went to (GDPR erasure of the customer).
pub async fn erase_recipients(tx: &mut Tx, customer_id: Uuid) -> Result<()> {
    tx.execute(
        Sql::new("UPDATE email_deliveries SET recipient = NULL WHERE customer_id = $1")
            .bind(customer_id),
    )
    .await?;
    Ok(())
}

/// A customer's mails, oldest first, keyset-paged by id.
pub async fn list_for_customer(
    db: &Db,
    customer_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<EmailDelivery>> {
    db.fetch_all(
        Sql::new(
            "SELECT * FROM email_deliveries WHERE customer_id = $1              AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(customer_id)
        .bind(after)
        .bind(limit),
    )
    .await
}

/// The mails of a customer about some of its things (`entity_ids`: an invoice's id and its
/// payments' ids, as the outbox events name them), oldest first, keyset-paged by id.
pub async fn list_about(
    db: &Db,
    customer_id: Uuid,
    entity_ids: &[String],
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<EmailDelivery>> {
    if entity_ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..entity_ids.len())
        .map(|n| format!("${}", n + 4))
        .collect();
    let mut sql = Sql::new(format!(
        "SELECT d.* FROM email_deliveries d JOIN outbox_events e ON e.id = d.event_id \
         WHERE d.customer_id = $1 AND ($2 IS NULL OR d.id > $2) AND e.entity_id IN ({}) \
         ORDER BY d.id LIMIT $3",
        placeholders.join(", ")
    ))
    .bind(customer_id)
    .bind(after)
    .bind(limit);
    for id in entity_ids {
        sql = sql.bind(id.as_str());
    }
    db.fetch_all(sql).await
}

/// Mails still waiting (the email backlog metric).
pub async fn backlog(db: &Db) -> Result<i64> {
    #[derive(sqlx::FromRow)]
    struct Count {
        n: i64,
    }
    let row: Count = db
        .fetch_one(Sql::new(
            "SELECT COUNT(*) AS n FROM email_deliveries WHERE status = 'pending'",
        ))
        .await?;
    Ok(row.n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_map_onto_mails() {
        let none = json!({});
        assert_eq!(
            kind_for("invoice.finalized", &none),
            Some(EmailKind::InvoiceIssued)
        );
        assert_eq!(
            kind_for("invoice.sent", &none),
            Some(EmailKind::InvoiceIssued)
        );
        assert_eq!(kind_for("invoice.paid", &none), None);
        assert_eq!(kind_for("customer.created", &none), None);
        assert_eq!(kind_for("subscription.updated", &none), None);
        assert_eq!(
            kind_for(
                "subscription.updated",
                &json!({"change": "subscription.renewed"})
            ),
            None
        );
        assert_eq!(
            kind_for(
                "subscription.updated",
                &json!({"change": "subscription.paused"})
            ),
            Some(EmailKind::SubscriptionChanged)
        );
    }
}
