//! Webhook endpoints (SPEC §2.8): admins register URLs and the event types they want; each
//! delivery is signed with the endpoint's secret and logged with its attempts.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::webhooks as billing_webhooks;
use satang_domain::DeliveryStatus;
use satang_store::audit::{self, Change};
use satang_store::outbox::{self, Delivery, Endpoint, EndpointFields};

use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Created, Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

/// The event types Satang emits.
pub const EVENT_TYPES: [&str; 24] = [
    "customer.created",
    "customer.updated",
    "customer.suspended",
    "subscription.created",
    "subscription.updated",
    "subscription.trial_will_end",
    "coupon.redeemed",
    "credit_grant.created",
    "credit_grant.depleted",
    "credit_grant.expired",
    "credit_grant.voided",
    "invoice.finalized",
    "invoice.paid",
    "invoice.sent",
    "payment.succeeded",
    "payment.failed",
    "payment.updated",
    "payment_intent.created",
    "payment_intent.closed",
    "usage.threshold_reached",
    "bank_statement.uploaded",
    "bank_statement_line.matched",
    "bank_statement_line.ignored",
    "bank_statement_line.reopened",
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(list_deliveries))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointView {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    /// Event types delivered here; `*` for all.
    pub events: Vec<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Endpoint> for EndpointView {
    fn from(e: Endpoint) -> Self {
        EndpointView {
            id: e.id,
            url: e.url,
            description: e.description,
            events: e.events.0,
            active: e.active,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// Shown once: verify `Satang-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<String>,
    /// Your own secret (16–128 characters); generated when absent.
    pub secret: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    pub event_id: Uuid,
    /// `pending`, `succeeded` or `failed` (after eight attempts).
    #[schema(value_type = String)]
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        DeliveryView {
            id: d.id,
            event_id: d.event_id,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

fn validate(
    v: &mut Validator,
    url: &str,
    description: Option<String>,
    events: &[String],
) -> (String, Option<String>, Vec<String>) {
    let url = url.trim().to_owned();
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    v.check(
        scheme_ok && url.len() <= 2000 && !url.chars().any(|c| c.is_whitespace() || c.is_control()),
        "url",
        "must be an http(s) URL of at most 2000 characters",
    );
    let description = description.map(|d| v.text("description", &d, 200));
    v.check(
        !events.is_empty() && events.len() <= 20,
        "events",
        "list 1–20 event types, or \"*\"",
    );
    for event in events {
        if event != "*" && !EVENT_TYPES.contains(&event.as_str()) {
            v.add(
                "events",
                format!(
                    "'{}' is not an event type",
                    event.chars().take(40).collect::<String>()
                ),
            );
        }
    }
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    (url, description, events)
}

/// Webhook endpoints.
#[utoipa::path(get, path = "/api/webhook-endpoints", tag = "webhooks", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<EndpointView>), (status = 403, body = Problem)))]
async fn list_endpoints(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<EndpointView>>, ApiError> {
    caller.require(Permission::ManageSettings)?;
    let (limit, after) = params.keyset()?;
    let rows = outbox::list_endpoints(&state.db, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |e| e.id,
        EndpointView::from,
    )))
}

/// Register an endpoint; the response carries its signing secret, once.
#[utoipa::path(post, path = "/api/webhook-endpoints", tag = "webhooks", request_body = EndpointInput, security(("bearer" = [])),
    responses((status = 201, body = CreatedEndpoint), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<EndpointInput>,
) -> Result<Created<CreatedEndpoint>, ApiError> {
    caller.require(Permission::ManageSettings)?;
    let mut v = Validator::new();
    let (url, description, events) = validate(&mut v, &body.url, body.description, &body.events);
    if let Some(secret) = &body.secret {
        v.check(
            (16..=128).contains(&secret.len()),
            "secret",
            "must be 16–128 characters",
        );
    }
    v.finish()?;
    let fields = EndpointFields {
        url,
        description,
        events,
        active: body.active.unwrap_or(true),
    };
    let (endpoint, secret) = billing_webhooks::create_endpoint(
        &state.db,
        &state.secrets,
        &caller.actor,
        &fields,
        body.secret,
        state.clock.now(),
    )
    .await?;
    Ok(Created(CreatedEndpoint {
        endpoint: endpoint.into(),
        secret,
    }))
}

/// One endpoint.
#[utoipa::path(get, path = "/api/webhook-endpoints/{id}", tag = "webhooks", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = EndpointView), (status = 404, body = Problem)))]
async fn get_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<EndpointView>, ApiError> {
    caller.require(Permission::ManageSettings)?;
    let endpoint = outbox::get_endpoint(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(endpoint.into()))
}

/// Change an endpoint's URL, events or active flag.
#[utoipa::path(patch, path = "/api/webhook-endpoints/{id}", tag = "webhooks", params(("id" = Uuid, Path)), request_body = EndpointPatch,
    security(("bearer" = [])), responses((status = 200, body = EndpointView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(patch): Json<EndpointPatch>,
) -> Result<axum::Json<EndpointView>, ApiError> {
    caller.require(Permission::ManageSettings)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let current = outbox::get_endpoint_in(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut v = Validator::new();
    let (url, description, events) = validate(
        &mut v,
        patch.url.as_deref().unwrap_or(&current.url),
        patch.description.or(current.description.clone()),
        patch.events.as_deref().unwrap_or(&current.events.0),
    );
    v.finish()?;
    let fields = EndpointFields {
        url,
        description,
        events,
        active: patch.active.unwrap_or(current.active),
    };
    let before = EndpointView::from(current);
    let after = EndpointView::from(outbox::update_endpoint(&mut tx, id, &fields, now).await?);
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "webhook_endpoint.updated",
            entity_type: "webhook_endpoint",
            entity_id: id.to_string(),
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(after))
}

/// Remove an endpoint and its delivery log.
#[utoipa::path(delete, path = "/api/webhook-endpoints/{id}", tag = "webhooks", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::ManageSettings)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let current = outbox::get_endpoint_in(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    outbox::delete_endpoint(&mut tx, id).await?;
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "webhook_endpoint.deleted",
            entity_type: "webhook_endpoint",
            entity_id: id.to_string(),
            before: serde_json::to_value(EndpointView::from(current)).ok(),
            after: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The deliveries to one endpoint, oldest first, with their attempts.
#[utoipa::path(get, path = "/api/webhook-endpoints/{id}/deliveries", tag = "webhooks", params(("id" = Uuid, Path), PageParams),
    security(("bearer" = [])), responses((status = 200, body = Page<DeliveryView>), (status = 404, body = Problem)))]
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<DeliveryView>>, ApiError> {
    caller.require(Permission::ManageSettings)?;
    outbox::get_endpoint(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let (limit, after) = params.keyset()?;
    let rows = outbox::list_deliveries(&state.db, id, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |d| d.id,
        DeliveryView::from,
    )))
}
