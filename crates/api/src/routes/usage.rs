//! Metered usage ingestion (SPEC §2.6): `POST /api/usage-events` takes a batch; an event whose
//! `idempotency_key` the subscription has seen before is ignored; usage is summed per period
//! onto the arrears invoice by the billing run.

use std::collections::HashMap;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_domain::usage::MeteredPrice;
use satang_store::audit::{self, Change};
use satang_store::subscriptions;
use satang_store::usage::{self, NewUsage};

use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Json};
use crate::state::AppState;

/// Events per request.
pub const MAX_BATCH: usize = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageEvent {
    pub subscription_id: Uuid,
    /// A metric the subscription's plan prices (its `metered` list).
    pub metric: String,
    pub quantity: i64,
    /// When the usage happened; it is billed in the period that contains it.
    pub timestamp: DateTime<Utc>,
    /// Unique per subscription: a repeat is ignored.
    pub idempotency_key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBatch {
    pub events: Vec<UsageEvent>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageReceipt {
    /// New events stored.
    pub accepted: u64,
    /// Events ignored because their idempotency key was seen before.
    pub duplicates: u64,
}

/// Report usage (staff with billing rights, e.g. the product's metering service account).
#[utoipa::path(post, path = "/api/usage-events", tag = "usage", request_body = UsageBatch, security(("bearer" = [])),
    responses((status = 200, body = UsageReceipt), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    Json(batch): Json<UsageBatch>,
) -> Result<axum::Json<UsageReceipt>, ApiError> {
    caller.require(Permission::WriteBilling)?;
    // The size first: the lookup below binds one parameter per subscription.
    let mut size = Validator::new();
    size.check(
        !batch.events.is_empty() && batch.events.len() <= MAX_BATCH,
        "events",
        format!("send 1–{MAX_BATCH} events"),
    );
    size.finish()?;
    let mut v = Validator::new();
    // The subscriptions of the batch with the metrics their plans price, in one query.
    let mut ids: Vec<Uuid> = batch.events.iter().map(|e| e.subscription_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let known: HashMap<Uuid, (Uuid, Vec<String>)> = subscriptions::metering_of(&state.db, &ids)
        .await?
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
    let now = state.clock.now();
    let mut rows = Vec::with_capacity(batch.events.len());
    for (i, event) in batch.events.into_iter().enumerate() {
        let field = |name: &str| format!("events[{i}].{name}");
        let Some((customer_id, metrics)) = known.get(&event.subscription_id) else {
            v.add(&field("subscription_id"), "no such subscription");
            continue;
        };
        if !metrics.contains(&event.metric) {
            v.add(
                &field("metric"),
                "the subscription's plan does not price this metric",
            );
        }
        // Field names are formatted only for an error: a batch is a thousand events.
        if !(0..=1_000_000_000_000).contains(&event.quantity) {
            v.add(&field("quantity"), "must be between 0 and 10^12");
        }
        if !(1..=255).contains(&event.idempotency_key.len())
            || event.idempotency_key.chars().any(char::is_control)
        {
            v.add(
                &field("idempotency_key"),
                "must be 1–255 visible characters",
            );
        }
        rows.push(NewUsage {
            subscription_id: event.subscription_id,
            customer_id: *customer_id,
            metric: event.metric,
            quantity: event.quantity,
            occurred_at: event.timestamp,
            idempotency_key: event.idempotency_key,
        });
    }
    v.finish()?;
    let mut tx = state.db.begin().await?;
    let accepted = usage::insert_batch(&mut tx, &rows, now).await?;
    // One audit event per batch: usage arrives in thousands of rows.
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "usage.ingested",
            entity_type: "usage_batch",
            entity_id: Uuid::now_v7().to_string(),
            before: None,
            after: Some(serde_json::json!({ "events": rows.len(), "accepted": accepted })),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(UsageReceipt {
        accepted,
        duplicates: rows.len() as u64 - accepted,
    }))
}
