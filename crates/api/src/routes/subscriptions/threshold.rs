//! A subscription's billing threshold (SPEC §2.12): `PUT /api/subscriptions/{id}/billing-threshold
//! {billing_threshold}` (billing staff) sets the unbilled usage amount, in minor units, at which
//! the period's usage so far is invoiced at once; `null` clears it. The rules live in
//! [`satang_billing::thresholds`].

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::thresholds as operations;

use super::{SubscriptionView, lock};
use crate::access::CustomerAction;
use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Json, Path};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_billing_threshold))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingThresholdRequest {
    /// Minor units (satang), 1 to 10^15; `null` removes the threshold.
    pub billing_threshold: Option<i64>,
}

/// Set or clear the subscription's billing threshold.
#[utoipa::path(put, path = "/api/subscriptions/{id}/billing-threshold", tag = "subscriptions", params(("id" = Uuid, Path)),
    request_body = BillingThresholdRequest, security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "The subscription is canceled", body = Problem),
        (status = 422, description = "Not a positive amount up to 10^15", body = Problem)))]
async fn set_billing_threshold(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<BillingThresholdRequest>,
) -> Result<axum::Json<SubscriptionView>, ApiError> {
    caller.require(Permission::WriteBilling)?;
    let (mut tx, sub) = lock(&state, &caller, id, CustomerAction::ManageSubscriptions).await?;
    let after = operations::set_billing_threshold(
        &mut tx,
        &caller.actor,
        sub,
        body.billing_threshold,
        state.clock.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(after.into()))
}
