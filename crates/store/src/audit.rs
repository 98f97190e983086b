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
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before: Option<Json<serde_json::Value>>,
    pub after: Option<Json<serde_json::Value>>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
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
    tx.execute(
        Sql::new(
            "INSERT INTO audit_events (id, occurred_at, actor_id, action, entity_type, entity_id, \
             before, after, request_id, ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
        .bind(actor.ip.clone()),
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
    if tx.backend() == Backend::Postgres {
        if changes.is_empty() {
            return Ok(());
        }
        let sql = Sql::new(
            "INSERT INTO audit_events (occurred_at, actor_id, request_id, ip, id, action, \
             entity_type, entity_id, before, after) \
             SELECT $1, $2, $3, $4, * FROM UNNEST($5::uuid[], $6::text[], $7::text[], \
             $8::text[], $9::jsonb[], $10::jsonb[])",
        )
        .bind(now)
        .bind(actor.user_id)
        .bind(actor.request_id.clone())
        .bind(actor.ip.clone())
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
        // $1–$4 are shared by every row.
        let mut text = String::from(
            "INSERT INTO audit_events (id, occurred_at, actor_id, request_id, ip, action, \
             entity_type, entity_id, before, after) VALUES ",
        );
        for r in 0..chunk.len() {
            let p = 5 + r * COLS;
            if r > 0 {
                text.push_str(", ");
            }
            text.push_str(&format!(
                "(${}, $1, $2, $3, $4, ${}, ${}, ${}, ${}, ${})",
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
            .bind(actor.ip.clone());
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
    let mut sql = Sql::new("SELECT * FROM audit_events WHERE TRUE");
    for (column, value) in [("entity_type", entity_type), ("entity_id", entity_id)] {
        if let Some(value) = value {
            let n = sql.next_param();
            sql = sql.push(&format!(" AND {column} = ${n}")).bind(value);
        }
    }
    if let Some(before) = before_id {
        let n = sql.next_param();
        sql = sql.push(&format!(" AND id < ${n}")).bind(before);
    }
    let n = sql.next_param();
    db.fetch_all(
        sql.push(&format!(" ORDER BY id DESC LIMIT ${n}"))
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
