//! The audit log: one append-only row per mutation, written inside the mutation's transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Backend, Db, Result, Sql, Tx};

/// Who did it and through which request; carried from the HTTP layer down to every write.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    /// The API key the request was made with (then `user_id` is `None`).
    pub api_key_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    /// The API key the change was made with, and its name.
    pub actor_api_key_id: Option<Uuid>,
    pub actor_api_key_name: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before: Option<Json<serde_json::Value>>,
    pub after: Option<Json<serde_json::Value>>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

/// Every kind of entity the audit log holds (`entity_type`). The console names each one (its
/// `entity-…` message); recording a kind not listed here fails debug builds, and so the tests.
pub const ENTITY_TYPES: &[&str] = &[
    "customer",
    "contact",
    "coupon",
    "credit_grant",
    "subscription",
    "invoice",
    "credit_note",
    "payment",
    "plan",
    "user",
    "session",
    "settings",
    "webhook_endpoint",
    "usage_batch",
    "test_clock",
    "api_key",
    "usage_alert",
    "bank_statement",
    "bank_statement_line",
];

/// Every action the audit log holds (also the outbox's event types). The console names each one
/// (its `audit-action-…` message); recording an action not listed here fails debug builds.
pub const ACTIONS: &[&str] = &[
    "contact.created",
    "contact.updated",
    "contact.deleted",
    "coupon.created",
    "coupon.archived",
    "coupon.redeemed",
    "credit_grant.created",
    "credit_grant.depleted",
    "credit_grant.expired",
    "credit_grant.voided",
    "credit_note.issued",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.restored",
    "customer.erased",
    "customer.suspended",
    "customer.reactivated",
    "customer.credited",
    "invoice.created",
    "invoice.finalized",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "invoice.paid",
    "invoice.payment_recorded",
    "invoice.credited",
    "invoice.sent",
    "invoice.line_added",
    "invoice.line_removed",
    "invoice.deleted",
    "member.added",
    "member.invited",
    "member.updated",
    "member.removed",
    "payment.recorded",
    "payment.succeeded",
    "payment.failed",
    "payment.updated",
    "payment_method.added",
    "payment_method.removed",
    "plan.created",
    "plan.updated",
    "plan.versioned",
    "plan.archived",
    "session.started",
    "session.ended",
    "session.reuse_detected",
    "settings.updated",
    "subscription.created",
    "subscription.updated",
    "subscription.paused",
    "subscription.resumed",
    "subscription.canceled",
    "subscription.cancel_scheduled",
    "subscription.reactivated",
    "subscription.renewed",
    "subscription.past_due",
    "subscription.plan_changed",
    "subscription.plan_change_scheduled",
    "subscription.pending_change_canceled",
    "subscription.trial_will_end",
    "subscription.discount_applied",
    "subscription.discount_removed",
    "test_clock.moved",
    "usage.ingested",
    "usage.threshold_reached",
    "usage_alert.created",
    "usage_alert.deleted",
    "user.created",
    "user.updated",
    "user.disabled",
    "user.signed_up",
    "user.invitation_accepted",
    "user.bootstrapped",
    "user.first_admin",
    "webhook_endpoint.created",
    "webhook_endpoint.updated",
    "webhook_endpoint.deleted",
    "api_key.created",
    "api_key.revoked",
    "subscription.billing_threshold_set",
    "subscription.billing_threshold_reached",
    "bank_statement.uploaded",
    "bank_statement_line.matched",
    "bank_statement_line.ignored",
    "bank_statement_line.reopened",
    "settings.providers_changed",
    "settings.etax_certificate_uploaded",
    "settings.etax_certificate_removed",
    "payment_intent.created",
    "payment_intent.closed",
    "invoice.payment_link_created",
];

/// In debug builds, panics on an entity type or action missing from [`ENTITY_TYPES`] or
/// [`ACTIONS`]: the console would have no words for it.
pub fn debug_check_listed(action: &str, entity_type: &str) {
    debug_assert!(
        ENTITY_TYPES.contains(&entity_type),
        "audit entity type `{entity_type}` is not in satang_store::audit::ENTITY_TYPES: add it \
         there and its `entity-{entity_type}` message to crates/web/locales/{{th,en}}/admin.ftl"
    );
    debug_assert!(
        ACTIONS.contains(&action),
        "audit action `{action}` is not in satang_store::audit::ACTIONS: add it there and its \
         `audit-action-…` message to crates/web/locales/{{th,en}}/admin.ftl"
    );
}

/// What changed: `action` such as `user.created`, the entity, and its state before and after.
pub struct Change<'a> {
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

pub async fn record(
    tx: &mut Tx,
    actor: &Actor,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    debug_check_listed(change.action, change.entity_type);
    tx.execute(
        Sql::new(
            "INSERT INTO audit_events (id, occurred_at, actor_id, action, entity_type, entity_id, \
             before, after, request_id, ip, actor_api_key_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(Uuid::now_v7())
        .bind(now)
        .bind(actor.user_id)
        .bind(change.action)
        .bind(change.entity_type)
        .bind(change.entity_id)
        .bind(change.before)
        .bind(change.after)
        .bind(actor.request_id.clone())
        .bind(actor.ip.clone())
        .bind(actor.api_key_id),
    )
    .await?;
    Ok(())
}

/// Many audit events, in one statement per few hundred (a billing run's chunk); on PostgreSQL
/// one statement, a column per array, whatever the number of rows.
pub async fn record_many(
    tx: &mut Tx,
    actor: &Actor,
    changes: Vec<Change<'_>>,
    now: DateTime<Utc>,
) -> Result<()> {
    for change in &changes {
        debug_check_listed(change.action, change.entity_type);
    }
    if tx.backend() == Backend::Postgres {
        if changes.is_empty() {
            return Ok(());
        }
        let sql = Sql::new(
            "INSERT INTO audit_events (occurred_at, actor_id, request_id, ip, actor_api_key_id, \
             id, action, entity_type, entity_id, before, after) \
             SELECT $1, $2, $3, $4, $5, * FROM UNNEST($6::uuid[], $7::text[], $8::text[], \
             $9::text[], $10::jsonb[], $11::jsonb[])",
        )
        .bind(now)
        .bind(actor.user_id)
        .bind(actor.request_id.clone())
        .bind(actor.ip.clone())
        .bind(actor.api_key_id)
        .bind_column(&changes, |_| Uuid::now_v7())
        .bind_column(&changes, |c| c.action)
        .bind_column(&changes, |c| c.entity_type)
        .bind_column(&changes, |c| c.entity_id.clone())
        .bind_column(&changes, |c| c.before.clone())
        .bind(changes.into_iter().map(|c| c.after).collect::<Vec<_>>());
        tx.execute(sql).await?;
        return Ok(());
    }
    const COLS: usize = 6;
    for chunk in changes.chunks(crate::rows_per_statement(COLS)) {
        // $1–$5 are shared by every row.
        let mut text = String::from(
            "INSERT INTO audit_events (id, occurred_at, actor_id, request_id, ip, \
             actor_api_key_id, action, entity_type, entity_id, before, after) VALUES ",
        );
        for r in 0..chunk.len() {
            let p = 6 + r * COLS;
            if r > 0 {
                text.push_str(", ");
            }
            text.push_str(&format!(
                "(${}, $1, $2, $3, $4, $5, ${}, ${}, ${}, ${}, ${})",
                p,
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5
            ));
        }
        let mut sql = Sql::new(text)
            .bind(now)
            .bind(actor.user_id)
            .bind(actor.request_id.clone())
            .bind(actor.ip.clone())
            .bind(actor.api_key_id);
        for change in chunk {
            sql = sql
                .bind(Uuid::now_v7())
                .bind(change.action)
                .bind(change.entity_type)
                .bind(change.entity_id.as_str())
                .bind(change.before.clone())
                .bind(change.after.clone());
        }
        tx.execute(sql).await?;
    }
    Ok(())
}

/// Audit events, newest first, optionally for one entity; keyset-paged by id. The statement
/// holds only the filters given, so the `(entity_type, entity_id, id)` index serves each shape.
pub async fn list(
    db: &Db,
    entity_type: Option<&str>,
    entity_id: Option<&str>,
    before_id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AuditEvent>> {
    let mut sql = Sql::new(
        "SELECT a.id, a.occurred_at, a.actor_id, a.actor_api_key_id, \
         k.name AS actor_api_key_name, a.action, a.entity_type, a.entity_id, a.before, a.after, \
         a.request_id, a.ip FROM audit_events a LEFT JOIN api_keys k ON k.id = a.actor_api_key_id \
         WHERE TRUE",
    );
    for (column, value) in [("entity_type", entity_type), ("entity_id", entity_id)] {
        if let Some(value) = value {
            let n = sql.next_param();
            sql = sql.push(&format!(" AND a.{column} = ${n}")).bind(value);
        }
    }
    if let Some(before) = before_id {
        let n = sql.next_param();
        sql = sql.push(&format!(" AND a.id < ${n}")).bind(before);
    }
    let n = sql.next_param();
    db.fetch_all(
        sql.push(&format!(" ORDER BY a.id DESC LIMIT ${n}"))
            .bind(limit),
    )
    .await
}

/// GDPR erasure: the before/after snapshots of an entity's events are removed (the fact that
/// something happened, when and by whom, stays). The one exception to append-only.
pub async fn redact(tx: &mut Tx, entity_type: &str, entity_id: &str) -> Result<u64> {
    tx.execute(
        Sql::new(
            "UPDATE audit_events SET before = NULL, after = NULL \
             WHERE entity_type = $1 AND entity_id = $2",
        )
        .bind(entity_type)
        .bind(entity_id),
    )
    .await
}
