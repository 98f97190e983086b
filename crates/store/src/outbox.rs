//! The outbox: events written in the transaction of the change they describe, each fanned out
//! to one delivery per webhook endpoint that subscribed to its type. A change and its event
//! commit together or not at all; the delivery worker sends what is due, with retries. An event
//! the customer is told about by email also queues that mail here (see [`crate::emails`]).

use chrono::{DateTime, Utc};
use satang_domain::DeliveryStatus;
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Backend, Db, Error, Result, Sql, Tx, emails};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Event {
    pub id: Uuid,
    pub event_type: String,
    pub entity_type: String,
    pub entity_id: String,
    pub customer_id: Option<Uuid>,
    pub payload: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub events: Json<Vec<String>>,
    pub secret_sealed: Vec<u8>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        self.active && self.events.0.iter().any(|e| e == "*" || e == event_type)
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What happened, to what, for which customer.
pub struct NewEvent<'a> {
    pub event_type: &'a str,
    pub entity_type: &'a str,
    pub entity_id: String,
    pub customer_id: Option<Uuid>,
    pub payload: serde_json::Value,
}

/// Writes an event and its deliveries inside the change's transaction.
pub async fn emit(tx: &mut Tx, event: NewEvent<'_>, now: DateTime<Utc>) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let mail = emails::kind_for(event.event_type, &event.payload).zip(event.customer_id);
    tx.execute(
        Sql::new(
            "INSERT INTO outbox_events (id, event_type, entity_type, entity_id, customer_id, \
             payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(event.event_type)
        .bind(event.entity_type)
        .bind(event.entity_id)
        .bind(event.customer_id)
        .bind(event.payload)
        .bind(now),
    )
    .await?;
    if let Some((kind, customer_id)) = mail {
        emails::enqueue(tx, id, kind, customer_id, now).await?;
    }
    let endpoints: Vec<Endpoint> = tx
        .fetch_all(Sql::new("SELECT * FROM webhook_endpoints WHERE active"))
        .await?;
    for endpoint in endpoints.iter().filter(|e| e.wants(event.event_type)) {
        tx.execute(
            Sql::new(
                "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, attempts, \
                 next_attempt_at, created_at) VALUES ($1, $2, $3, 'pending', 0, $4, $4)",
            )
            .bind(Uuid::now_v7())
            .bind(endpoint.id)
            .bind(id)
            .bind(now),
        )
        .await?;
    }
    Ok(id)
}

/// The mails `events` (with these ids) send: (event id, kind, customer).
pub(crate) fn mails_of(
    events: &[NewEvent<'_>],
    ids: &[Uuid],
) -> Vec<(Uuid, emails::EmailKind, Uuid)> {
    events
        .iter()
        .zip(ids)
        .filter_map(|(event, id)| {
            let kind = emails::kind_for(event.event_type, &event.payload)?;
            Some((*id, kind, event.customer_id?))
        })
        .collect()
}

/// Writes many events, their webhook deliveries and their mails inside the changes'
/// transaction (a billing run's chunk), like [`emit`] for each: the endpoints are read once,
/// the rows go in a few multi-row statements.
pub async fn emit_many(tx: &mut Tx, events: Vec<NewEvent<'_>>, now: DateTime<Utc>) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
    match tx.backend() {
        Backend::Postgres => insert_events_unnest(tx, &events, &ids, now).await?,
        Backend::Sqlite => insert_events_values(tx, &events, &ids, now).await?,
    }
    emails::enqueue_many(tx, &mails_of(&events, &ids), now).await?;
    let endpoints: Vec<Endpoint> = tx
        .fetch_all(Sql::new("SELECT * FROM webhook_endpoints WHERE active"))
        .await?;
    let deliveries: Vec<(Uuid, Uuid)> = events
        .iter()
        .zip(&ids)
        .flat_map(|(event, id)| {
            endpoints
                .iter()
                .filter(|e| e.wants(event.event_type))
                .map(move |e| (e.id, *id))
        })
        .collect();
    const DELIVERY_COLS: usize = 3;
    for chunk in deliveries.chunks(crate::rows_per_statement(DELIVERY_COLS)) {
        let mut text = String::from(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, attempts, \
             next_attempt_at, created_at) VALUES ",
        );
        for r in 0..chunk.len() {
            let p = 2 + r * DELIVERY_COLS;
            if r > 0 {
                text.push_str(", ");
            }
            text.push_str(&format!(
                "(${}, ${}, ${}, 'pending', 0, $1, $1)",
                p,
                p + 1,
                p + 2
            ));
        }
        let mut sql = Sql::new(text).bind(now);
        for (endpoint, event) in chunk {
            sql = sql.bind(Uuid::now_v7()).bind(*endpoint).bind(*event);
        }
        tx.execute(sql).await?;
    }
    Ok(())
}

/// The events of [`emit_many`] in multi-row `VALUES` statements (SQLite).
async fn insert_events_values(
    tx: &mut Tx,
    events: &[NewEvent<'_>],
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<()> {
    const COLS: usize = 6;
    let per_statement = crate::rows_per_statement(COLS);
    for (chunk, chunk_ids) in events.chunks(per_statement).zip(ids.chunks(per_statement)) {
        let mut text = String::from(
            "INSERT INTO outbox_events (id, event_type, entity_type, entity_id, customer_id, \
             payload, created_at) VALUES ",
        );
        for r in 0..chunk.len() {
            let p = 2 + r * COLS;
            if r > 0 {
                text.push_str(", ");
            }
            text.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, $1)",
                p,
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5
            ));
        }
        let mut sql = Sql::new(text).bind(now);
        for (event, id) in chunk.iter().zip(chunk_ids) {
            sql = sql
                .bind(*id)
                .bind(event.event_type)
                .bind(event.entity_type)
                .bind(event.entity_id.as_str())
                .bind(event.customer_id)
                .bind(event.payload.clone());
        }
        tx.execute(sql).await?;
    }
    Ok(())
}

/// The events of [`emit_many`] in one statement, a column per array (PostgreSQL).
async fn insert_events_unnest(
    tx: &mut Tx,
    events: &[NewEvent<'_>],
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = Sql::new(
        "INSERT INTO outbox_events (created_at, id, event_type, entity_type, entity_id, \
         customer_id, payload) SELECT $1, * FROM UNNEST($2::uuid[], $3::text[], $4::text[], \
         $5::text[], $6::uuid[], $7::jsonb[])",
    )
    .bind(now)
    .bind(ids.to_vec())
    .bind_column(events, |e| e.event_type)
    .bind_column(events, |e| e.entity_type)
    .bind_column(events, |e| e.entity_id.clone())
    .bind_column(events, |e| e.customer_id)
    .bind_column(events, |e| e.payload.clone());
    tx.execute(sql).await?;
    Ok(())
}

pub struct EndpointFields {
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<String>,
    pub active: bool,
}

pub async fn insert_endpoint(
    tx: &mut Tx,
    f: &EndpointFields,
    secret_sealed: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Endpoint> {
    tx.fetch_one(
        Sql::new(
            "INSERT INTO webhook_endpoints (id, url, description, events, secret_sealed, active, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(f.url.as_str())
        .bind(f.description.clone())
        .bind(serde_json::json!(f.events))
        .bind(secret_sealed)
        .bind(f.active)
        .bind(now),
    )
    .await
}

pub async fn update_endpoint(
    tx: &mut Tx,
    id: Uuid,
    f: &EndpointFields,
    now: DateTime<Utc>,
) -> Result<Endpoint> {
    tx.fetch_optional(
        Sql::new(
            "UPDATE webhook_endpoints SET url = $2, description = $3, events = $4, active = $5, \
             updated_at = $6 WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(f.url.as_str())
        .bind(f.description.clone())
        .bind(serde_json::json!(f.events))
        .bind(f.active)
        .bind(now),
    )
    .await?
    .ok_or(Error::NotFound)
}

pub async fn delete_endpoint(tx: &mut Tx, id: Uuid) -> Result<bool> {
    Ok(tx
        .execute(Sql::new("DELETE FROM webhook_endpoints WHERE id = $1").bind(id))
        .await?
        == 1)
}

pub async fn get_endpoint(db: &Db, id: Uuid) -> Result<Option<Endpoint>> {
    db.fetch_optional(Sql::new("SELECT * FROM webhook_endpoints WHERE id = $1").bind(id))
        .await
}

pub async fn get_endpoint_in(tx: &mut Tx, id: Uuid) -> Result<Option<Endpoint>> {
    tx.fetch_optional(Sql::new("SELECT * FROM webhook_endpoints WHERE id = $1").bind(id))
        .await
}

pub async fn list_endpoints(db: &Db, after: Option<Uuid>, limit: i64) -> Result<Vec<Endpoint>> {
    let mut sql = Sql::new("SELECT * FROM webhook_endpoints WHERE TRUE");
    if let Some(after) = after {
        sql = sql.push(" AND id > $1").bind(after);
    }
    let n = sql.next_param();
    db.fetch_all(sql.push(&format!(" ORDER BY id LIMIT ${n}")).bind(limit))
        .await
}

pub async fn list_deliveries(
    db: &Db,
    endpoint_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Delivery>> {
    let mut sql =
        Sql::new("SELECT * FROM webhook_deliveries WHERE endpoint_id = $1").bind(endpoint_id);
    if let Some(after) = after {
        sql = sql.push(" AND id > $2").bind(after);
    }
    let n = sql.next_param();
    db.fetch_all(sql.push(&format!(" ORDER BY id LIMIT ${n}")).bind(limit))
        .await
}

/// A delivery to send now, with what it needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueDelivery {
    pub id: Uuid,
    pub attempts: i64,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub event_id: Uuid,
    pub event_type: String,
    pub payload: Json<serde_json::Value>,
    pub event_created_at: DateTime<Utc>,
}

/// Claims up to `limit` due deliveries by pushing their next attempt to `lease_until`, so
/// another process (or this one, if it dies mid-send) leaves them alone until the lease ends.
/// On PostgreSQL rows another process is claiming are skipped (`FOR UPDATE SKIP LOCKED`).
pub async fn claim_due(
    db: &Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DueDelivery>> {
    let lock = match db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let mut tx = db.begin().await?;
    let ids: Vec<IdRow> = tx
        .fetch_all(
            Sql::new(format!(
                "SELECT id FROM webhook_deliveries WHERE status = 'pending' \
                 AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2{lock}"
            ))
            .bind(now)
            .bind(limit),
        )
        .await?;
    let mut due = Vec::with_capacity(ids.len());
    for IdRow { id } in ids {
        tx.execute(
            Sql::new("UPDATE webhook_deliveries SET next_attempt_at = $2 WHERE id = $1")
                .bind(id)
                .bind(lease_until),
        )
        .await?;
        let row: DueDelivery = tx
            .fetch_one(
                Sql::new(
                    "SELECT d.id, d.attempts, w.url, w.secret_sealed, e.id AS event_id, \
                     e.event_type, e.payload, e.created_at AS event_created_at \
                     FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
                     JOIN outbox_events e ON e.id = d.event_id WHERE d.id = $1",
                )
                .bind(id),
            )
            .await?;
        due.push(row);
    }
    tx.commit().await?;
    Ok(due)
}

#[derive(sqlx::FromRow)]
struct IdRow {
    id: Uuid,
}

/// Records an attempt: delivered, or to retry at `retry_at` (None: given up).
pub async fn record_attempt(
    db: &Db,
    id: Uuid,
    status_code: Option<u16>,
    error: Option<String>,
    delivered: bool,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<()> {
    let status = match (delivered, retry_at) {
        (true, _) => DeliveryStatus::Succeeded,
        (false, Some(_)) => DeliveryStatus::Pending,
        (false, None) => DeliveryStatus::Failed,
    };
    db.execute(
        Sql::new(
            "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, \
             last_status_code = $3, last_error = $4, next_attempt_at = $5, \
             delivered_at = CASE WHEN $2 = 'succeeded' THEN $6 ELSE delivered_at END \
             WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(status_code.map(i64::from))
        .bind(error)
        .bind(retry_at.unwrap_or(now))
        .bind(now),
    )
    .await?;
    Ok(())
}

/// Deliveries still waiting (the webhook backlog metric).
pub async fn backlog(db: &Db) -> Result<i64> {
    #[derive(sqlx::FromRow)]
    struct Count {
        n: i64,
    }
    let row: Count = db
        .fetch_one(Sql::new(
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status = 'pending'",
        ))
        .await?;
    Ok(row.n)
}
