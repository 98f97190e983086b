//! Pause, resume and cancel (SPEC §2.5). The rules (what the state machine allows, the dates a
//! resume moves, the unused-time credit of an immediate cancellation) live in
//! [`satang_billing::subscriptions::lifecycle`]; these handlers authorise and answer.
//!
//! Pausing and resuming, and cancelling with `prorate: true`, give service or money back:
//! staff only (`AdjustBilling`); a plain cancellation is `ManageSubscriptions`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_billing::subscriptions::{self as operations, Cancellation};

use super::{ProrationView, SubscriptionView, lock};
use crate::access::CustomerAction;
use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Json, Path};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pause_subscription))
        .routes(routes!(resume_subscription))
        .routes(routes!(cancel_subscription))
}

/// Pause a `trialing` or `active` subscription.
#[utoipa::path(post, path = "/api/subscriptions/{id}/pause", tag = "subscriptions", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Not pausable in its status", body = Problem)))]
async fn pause_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<SubscriptionView>, ApiError> {
    let (mut tx, sub) = lock(&state, &caller, id, CustomerAction::AdjustBilling).await?;
    let paused = operations::pause(&mut tx, &caller.actor, sub, state.clock.now()).await?;
    tx.commit().await?;
    state.entitlements.forget(&[paused.customer_id]);
    Ok(axum::Json(paused.into()))
}

/// Resume a paused subscription: `active` again, its period longer by the paused days.
#[utoipa::path(post, path = "/api/subscriptions/{id}/resume", tag = "subscriptions", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Not paused", body = Problem)))]
async fn resume_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<SubscriptionView>, ApiError> {
    let (mut tx, sub) = lock(&state, &caller, id, CustomerAction::AdjustBilling).await?;
    let resumed = operations::resume(&mut tx, &caller.actor, sub, state.clock.now()).await?;
    tx.commit().await?;
    state.entitlements.forget(&[resumed.customer_id]);
    Ok(axum::Json(resumed.into()))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// `true` (default): at the end of the current period; `false`: now.
    pub at_period_end: Option<bool>,
    /// With `at_period_end: false`: credit the unused days of the paid period.
    pub prorate: Option<bool>,
}

impl CancelRequest {
    /// When to cancel, or the 422 for crediting a cancellation at period end.
    fn parse(&self) -> Result<Cancellation, ApiError> {
        let credit_unused = self.prorate.unwrap_or(false);
        match self.at_period_end.unwrap_or(true) {
            true if credit_unused => Err(ApiError::field(
                "prorate",
                "applies only to an immediate cancellation (at_period_end: false)",
            )),
            true => Ok(Cancellation::AtPeriodEnd),
            false => Ok(Cancellation::Now { credit_unused }),
        }
    }
}

/// The subscription after the cancellation, and the credit an immediate prorated one computed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CancelResponse {
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// Present with `prorate: true`: the credit for the unused days (to be issued as a credit
    /// note by the billing engine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proration: Option<ProrationView>,
}

/// Cancel at the end of the current period (default) or now, optionally crediting unused days.
#[utoipa::path(post, path = "/api/subscriptions/{id}/cancel", tag = "subscriptions", params(("id" = Uuid, Path)),
    request_body(content = CancelRequest, description = "Optional; `{}` or no body means at period end"),
    security(("bearer" = [])),
    responses((status = 200, body = CancelResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Already canceled", body = Problem), (status = 422, body = Problem)))]
async fn cancel_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    body: Option<Json<CancelRequest>>,
) -> Result<axum::Json<CancelResponse>, ApiError> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    // Crediting unused days gives money back whether or not the period was paid: staff only.
    let action = if body.prorate.unwrap_or(false) {
        CustomerAction::AdjustBilling
    } else {
        CustomerAction::ManageSubscriptions
    };
    let (mut tx, sub) = lock(&state, &caller, id, action).await?;
    let when = body.parse()?;
    let outcome = operations::cancel(&mut tx, &caller.actor, sub, when, state.clock.now()).await?;
    tx.commit().await?;
    state
        .entitlements
        .forget(&[outcome.subscription.customer_id]);
    Ok(axum::Json(CancelResponse {
        subscription: outcome.subscription.into(),
        proration: outcome.proration.map(ProrationView::from),
    }))
}
