//! A subscription's discount (SPEC §2.11): `POST /api/subscriptions/{id}/discount {coupon}`
//! redeems a coupon (billing staff, or the customer's `owner`/`billing` member typing a
//! promotion code), `DELETE` removes it. The rules live in [`satang_billing::coupons`].

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_billing::coupons as operations;

use super::{SubscriptionView, lock};
use crate::access::CustomerAction;
use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Json, Path};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(apply_discount, remove_discount))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyDiscountRequest {
    /// The coupon's code, in any letter case.
    pub coupon: String,
}

/// Redeem a coupon on the subscription; it holds at most one discount.
#[utoipa::path(post, path = "/api/subscriptions/{id}/discount", tag = "subscriptions", params(("id" = Uuid, Path)),
    request_body = ApplyDiscountRequest, security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "The subscription already has a discount or is canceled, or the coupon is used up", body = Problem),
        (status = 422, description = "Unknown, archived or expired code; a plan or currency the coupon does not apply to", body = Problem)))]
async fn apply_discount(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<ApplyDiscountRequest>,
) -> Result<axum::Json<SubscriptionView>, ApiError> {
    let mut v = Validator::new();
    v.check(
        !body.coupon.trim().is_empty() && body.coupon.len() <= 200,
        "coupon",
        "is required (a coupon code)",
    );
    v.finish()?;
    let (mut tx, sub) = lock(&state, &caller, id, CustomerAction::ManageSubscriptions).await?;
    let after =
        operations::apply_discount(&mut tx, &caller.actor, sub, &body.coupon, state.clock.now())
            .await?;
    tx.commit().await?;
    Ok(axum::Json(after.into()))
}

/// Remove the subscription's discount; later invoices are at full price.
#[utoipa::path(delete, path = "/api/subscriptions/{id}/discount", tag = "subscriptions", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView), (status = 403, body = Problem),
        (status = 404, description = "No such subscription, or it has no discount", body = Problem)))]
async fn remove_discount(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<SubscriptionView>, ApiError> {
    let (mut tx, sub) = lock(&state, &caller, id, CustomerAction::ManageSubscriptions).await?;
    let after = operations::remove_discount(&mut tx, &caller.actor, sub, state.clock.now()).await?;
    tx.commit().await?;
    Ok(axum::Json(after.into()))
}
