//! One write together with its outbox event (webhook deliveries and mail included) and its audit
//! entry, for a change that needs nothing read back first (a create).
//!
//! On PostgreSQL the whole change is **one statement**: the write and the rows that record it are
//! data-modifying `WITH` clauses of a single statement, which commits on its own. That is one
//! round trip instead of six (`BEGIN`, the write, the event, the endpoint lookup, the audit row,
//! `COMMIT`), and it is still all or nothing: a statement is atomic. On SQLite (one writer, no
//! network) the same rows are written in one transaction, through [`outbox::emit`] and
//! [`audit::record`].

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::{self, Actor, Change};
use crate::outbox::{self, NewEvent};
use crate::{Backend, Db, Result, Sql, emails};

/// Writes `statement` (an `INSERT`, `UPDATE` or `DELETE` without `RETURNING`), `event` and the
/// audit entry for `change`, all or nothing.
pub async fn write(
    db: &Db,
    statement: Sql,
    event: NewEvent<'_>,
    actor: &Actor,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    if db.backend() == Backend::Sqlite {
        let mut tx = db.begin().await?;
        tx.execute(statement).await?;
        outbox::emit(&mut tx, event, now).await?;
        audit::record(&mut tx, actor, change, now).await?;
        return tx.commit().await;
    }
    db.execute(one_statement(statement, event, actor, change, now))
        .await?;
    Ok(())
}

/// The PostgreSQL statement of [`write`]: the caller's write, then the event, one delivery per
/// endpoint that wants it, the mail if the event sends one, and the audit entry, each a `WITH`
/// clause (all run, referenced or not; the foreign keys are checked at the end of the statement,
/// when the event row exists).
fn one_statement(
    statement: Sql,
    event: NewEvent<'_>,
    actor: &Actor,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Sql {
    audit::debug_check_listed(change.action, change.entity_type);
    let mail = emails::kind_for(event.event_type, &event.payload).zip(event.customer_id);
    let (text, sql) = statement.into_parts();
    let first = sql.next_param();
    let [
        event_id,
        event_type,
        entity_type,
        entity_id,
        customer_id,
        payload,
        at,
    ] = std::array::from_fn(|i| first + i);
    let mut sql = sql
        .push(&format!("WITH changed AS ({text}), "))
        .push(&format!(
            "event AS (INSERT INTO outbox_events (id, event_type, entity_type, entity_id, \
             customer_id, payload, created_at) VALUES (${event_id}, ${event_type}, \
             ${entity_type}, ${entity_id}, ${customer_id}, ${payload}, ${at})), "
        ))
        // A delivery's id is a version-7 UUID of the event's millisecond (the event id's first
        // eight bytes, random after them), so deliveries list in the order of their events.
        .push(&format!(
            "deliveries AS (INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, \
             attempts, next_attempt_at, created_at) \
             SELECT encode(overlay(uuid_send(${event_id}::uuid) PLACING \
             substring(uuid_send(gen_random_uuid()) FROM 9) FROM 9), 'hex')::uuid, \
             w.id, ${event_id}, 'pending', 0, ${at}, ${at} FROM webhook_endpoints w \
             WHERE w.active AND (w.events @> '[\"*\"]'::jsonb \
             OR w.events @> jsonb_build_array(${event_type}::text))), "
        ))
        .bind(Uuid::now_v7())
        .bind(event.event_type)
        .bind(event.entity_type)
        .bind(event.entity_id)
        .bind(event.customer_id)
        .bind(event.payload)
        .bind(now);
    if let Some((kind, customer_id)) = mail {
        let n = sql.next_param();
        sql = sql
            .push(&format!(
                "mail AS (INSERT INTO email_deliveries (id, event_id, kind, customer_id, status, \
                 attempts, next_attempt_at, created_at) VALUES (${n}, ${event_id}, ${}, ${}, \
                 'pending', 0, ${at}, ${at})), ",
                n + 1,
                n + 2
            ))
            .bind(Uuid::now_v7())
            .bind(kind.as_str())
            .bind(customer_id);
    }
    let n = sql.next_param();
    sql.push(&format!(
        "audit AS (INSERT INTO audit_events (id, occurred_at, actor_id, action, entity_type, \
         entity_id, before, after, request_id, ip, actor_api_key_id) VALUES (${n}, ${at}, ${}, \
         ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})) SELECT 1",
        n + 1,
        n + 2,
        n + 3,
        n + 4,
        n + 5,
        n + 6,
        n + 7,
        n + 8,
        n + 9
    ))
    .bind(Uuid::now_v7())
    .bind(actor.user_id)
    .bind(change.action)
    .bind(change.entity_type)
    .bind(change.entity_id)
    .bind(change.before)
    .bind(change.after)
    .bind(actor.request_id.clone())
    .bind(actor.ip.clone())
    .bind(actor.api_key_id)
}
