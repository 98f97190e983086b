//! Metered usage ingestion (SPEC §2.6): `POST /api/usage-events` takes a batch; an event whose
//! `idempotency_key` the subscription has seen before is ignored; usage is summed per period
//! onto the arrears invoice by the billing run. The checks of each event against its
//! subscription are `satang_billing::usage`'s.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::usage::{self as billing_usage, UsageReport};

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

/// Report usage (staff with billing rights, or an API key with `usage:write`).
#[utoipa::path(post, path = "/api/usage-events", tag = "usage", request_body = UsageBatch, security(("bearer" = [])),
    responses((status = 200, body = UsageReceipt), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    Json(batch): Json<UsageBatch>,
) -> Result<axum::Json<UsageReceipt>, ApiError> {
    caller.require(Permission::WriteBilling)?;
    // The size first: the operation looks the subscriptions up with one parameter each.
    let mut size = Validator::new();
    size.check(
        !batch.events.is_empty() && batch.events.len() <= MAX_BATCH,
        "events",
        format!("send 1–{MAX_BATCH} events"),
    );
    size.finish()?;
    let reports = batch
        .events
        .into_iter()
        .map(|e| UsageReport {
            subscription_id: e.subscription_id,
            metric: e.metric,
            quantity: e.quantity,
            occurred_at: e.timestamp,
            idempotency_key: e.idempotency_key,
        })
        .collect();
    let receipt =
        billing_usage::ingest_usage(&state.db, &caller.actor, reports, state.clock.now()).await?;
    state.entitlements.forget(&receipt.customers);
    Ok(axum::Json(UsageReceipt {
        accepted: receipt.accepted,
        duplicates: receipt.duplicates,
    }))
}
