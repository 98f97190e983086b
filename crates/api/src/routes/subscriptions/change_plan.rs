//! `POST /api/subscriptions/{id}/change-plan` (SPEC §2.5): upgrades apply now with proration
//! invoiced at once, downgrades at period end (`pending_change`), `preview: true` changes
//! nothing. The rules live in [`satang_billing::subscriptions::change_plan`]; this handler
//! parses the request, authorises (a preview needs only the billing read right) and answers.

use axum::extract::State;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_billing::subscriptions::{self as operations, PlanChange, PlanChangeOutcome};

use super::{MAX_QUANTITY, ProrationView, SubscriptionView, check_unit_price, lock, plan_ref};
use crate::access::CustomerAction;
use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Json, Path};
use crate::routes::plans::PlanInterval;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(change_plan))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePlanRequest {
    /// An exact plan version on sale (or the current one).
    pub plan_id: Option<Uuid>,
    /// The plan on sale under this code.
    pub plan_code: Option<String>,
    /// With `plan_code`; default: the subscription's current interval when sold.
    pub interval: Option<PlanInterval>,
    /// Seats; default: the current seats on a per-seat plan, 1 on a flat one.
    pub quantity: Option<i64>,
    /// Only compute the proration; change nothing.
    pub preview: Option<bool>,
    /// A negotiated price per period (per seat) on the new terms, minor units; billing staff
    /// and admins only (403 otherwise). Without it a negotiated price stays while the plan
    /// stays, and ends with a move to another plan.
    pub unit_price: Option<i64>,
}

impl ChangePlanRequest {
    /// The typed change, or the 422 naming every invalid field.
    fn parse(&self) -> Result<PlanChange, ApiError> {
        let mut v = Validator::new();
        v.check(
            self.quantity
                .is_none_or(|q| (1..=MAX_QUANTITY).contains(&q)),
            "quantity",
            format!("must be between 1 and {MAX_QUANTITY}"),
        );
        let plan = plan_ref(
            &mut v,
            self.plan_id,
            self.plan_code.as_deref(),
            self.interval,
            false,
        );
        check_unit_price(&mut v, self.unit_price);
        v.finish()?;
        Ok(PlanChange {
            plan,
            quantity: self.quantity,
            preview: self.preview.unwrap_or(false),
            unit_price: self.unit_price,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effective {
    Immediately,
    /// At the end of the current period (`pending_change`).
    PeriodEnd,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangePlanResponse {
    /// The subscription after the change (unchanged for a preview).
    pub subscription: SubscriptionView,
    /// What the change costs now; empty for a downgrade or during a trial.
    pub proration: ProrationView,
    pub effective: Effective,
    pub effective_date: NaiveDate,
    pub preview: bool,
}

impl From<PlanChangeOutcome> for ChangePlanResponse {
    fn from(o: PlanChangeOutcome) -> Self {
        ChangePlanResponse {
            subscription: o.subscription.into(),
            proration: o.proration.into(),
            effective: match o.effective {
                operations::Effective::Immediately => Effective::Immediately,
                operations::Effective::PeriodEnd => Effective::PeriodEnd,
            },
            effective_date: o.effective_date,
            preview: o.preview,
        }
    }
}

/// Change plan or seats: upgrades now with proration, downgrades at period end.
#[utoipa::path(post, path = "/api/subscriptions/{id}/change-plan", tag = "subscriptions", params(("id" = Uuid, Path)),
    request_body = ChangePlanRequest, security(("bearer" = [])),
    responses((status = 200, body = ChangePlanResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Not changeable in its status (paused, past due, canceled)", body = Problem),
        (status = 422, body = Problem)))]
async fn change_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<ChangePlanRequest>,
) -> Result<axum::Json<ChangePlanResponse>, ApiError> {
    let action = if body.unit_price.is_some() {
        // A negotiated price is the operator's to give, also in a preview.
        CustomerAction::AdjustBilling
    } else if body.preview.unwrap_or(false) {
        CustomerAction::ReadBilling
    } else {
        CustomerAction::ManageSubscriptions
    };
    let (mut tx, sub) = lock(&state, &caller, id, action).await?;
    let change = body.parse()?;
    let outcome =
        operations::change_plan(&mut tx, &caller.actor, sub, change, state.clock.now()).await?;
    // A preview changes nothing: dropping the transaction rolls it back.
    if !outcome.preview {
        tx.commit().await?;
        state
            .entitlements
            .forget(&[outcome.subscription.customer_id]);
    }
    Ok(axum::Json(outcome.into()))
}
