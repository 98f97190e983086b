//! `POST /api/subscriptions` (SPEC §2.5): the request parsed into a
//! [`NewSubscription`], the caller authorised, then
//! [`satang_billing::subscriptions::create_subscription`] decides the rest (plan, trial, first
//! period and its invoice).

use axum::extract::State;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::subscriptions::{self as operations, NewSubscription, Trial};
use satang_domain::bangkok_date;
use satang_store::subscriptions;

use super::{MAX_QUANTITY, SubscriptionView, check_unit_price, plan_ref};
use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Created, Json};
use crate::routes::plans::{MAX_TRIAL_DAYS, PlanInterval};
use crate::state::AppState;

/// How far ahead a subscription may be scheduled to start.
const MAX_START_AHEAD_DAYS: u64 = 365;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CollectionMethod {
    /// The default payment method is charged when an invoice is issued.
    ChargeAutomatically,
    /// The invoice is sent; the customer pays it (PromptPay, bank transfer).
    SendInvoice,
}

impl From<CollectionMethod> for operations::CollectionMethod {
    fn from(m: CollectionMethod) -> Self {
        match m {
            CollectionMethod::ChargeAutomatically => Self::ChargeAutomatically,
            CollectionMethod::SendInvoice => Self::SendInvoice,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscriptionRequest {
    pub customer_id: Uuid,
    /// An exact plan version (on sale).
    pub plan_id: Option<Uuid>,
    /// The plan on sale under this code, e.g. `PRO`.
    pub plan_code: Option<String>,
    /// With `plan_code`: `month` or `year` (default: monthly when sold, else yearly).
    pub interval: Option<PlanInterval>,
    /// Seats (default 1; must be 1 on a flat-priced plan).
    pub quantity: Option<i64>,
    /// `YYYY-MM-DD`, today (Bangkok) by default; not in the past, at most a year ahead.
    pub start_date: Option<NaiveDate>,
    /// Overrides the plan's trial; 0 starts paying at once.
    pub trial_days: Option<i64>,
    /// Default `charge_automatically`.
    pub collection_method: Option<CollectionMethod>,
    /// A negotiated price per period (per seat on per-seat plans), minor units, instead of the
    /// plan's; billing staff and admins only (403 otherwise).
    pub unit_price: Option<i64>,
    /// A coupon code to redeem on the new subscription; its first invoice is discounted.
    pub coupon: Option<String>,
}

impl CreateSubscriptionRequest {
    /// The typed subscription to start on `today` (Bangkok), or the 422 naming every invalid
    /// field. Without `trial_days`, staff give the plan's trial and a member gets it on the
    /// customer's first subscription only.
    fn parse(&self, today: NaiveDate, staff: bool) -> Result<NewSubscription, ApiError> {
        let mut v = Validator::new();
        let quantity = self.quantity.unwrap_or(1);
        v.check(
            (1..=MAX_QUANTITY).contains(&quantity),
            "quantity",
            format!("must be between 1 and {MAX_QUANTITY}"),
        );
        let trial_days = self.trial_days.map(|t| {
            u32::try_from(t)
                .ok()
                .filter(|t| i64::from(*t) <= MAX_TRIAL_DAYS)
        });
        v.check(
            trial_days.is_none_or(|t| t.is_some()),
            "trial_days",
            format!("must be between 0 and {MAX_TRIAL_DAYS}"),
        );
        let start = self.start_date.unwrap_or(today);
        let latest = today + Days::new(MAX_START_AHEAD_DAYS);
        v.check(
            start >= today,
            "start_date",
            format!("must not be in the past (today is {today} in Bangkok)"),
        );
        v.check(
            start <= latest,
            "start_date",
            format!("must be at most {MAX_START_AHEAD_DAYS} days ahead ({latest})"),
        );
        let plan = plan_ref(
            &mut v,
            self.plan_id,
            self.plan_code.as_deref(),
            self.interval,
            true,
        );
        check_unit_price(&mut v, self.unit_price);
        v.finish()?;
        Ok(NewSubscription {
            customer_id: self.customer_id,
            plan,
            quantity,
            start,
            trial: match trial_days.flatten() {
                Some(days) => Trial::Days(days),
                None if staff => Trial::Plan,
                None => Trial::PlanOnFirstSubscription,
            },
            collection_method: self
                .collection_method
                .unwrap_or(CollectionMethod::ChargeAutomatically)
                .into(),
            unit_price: self.unit_price,
            coupon: self.coupon.clone(),
        })
    }
}

/// Start a subscription: `trialing` when it has trial days (the trial is its first period),
/// else `active` with a first period of the plan's cycle from the start date.
#[utoipa::path(post, path = "/api/subscriptions", tag = "subscriptions", request_body = CreateSubscriptionRequest,
    security(("bearer" = [])),
    responses((status = 201, body = SubscriptionView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, description = "No such customer within the caller's reach", body = Problem),
        (status = 409, description = "The customer is suspended or deleted, or the coupon is used up", body = Problem),
        (status = 422, body = Problem)))]
pub(super) async fn create_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateSubscriptionRequest>,
) -> Result<Created<SubscriptionView>, ApiError> {
    let customer_id = body.customer_id;
    authorize(
        &state,
        &caller,
        customer_id,
        CustomerAction::ManageSubscriptions,
    )
    .await?;
    if body.trial_days.is_some() || body.unit_price.is_some() {
        // A trial other than the plan's is free service, a negotiated price a deal: the
        // operator grants them, not a member.
        authorize(&state, &caller, customer_id, CustomerAction::AdjustBilling).await?;
    }
    let now = state.clock.now();
    let new = body.parse(bangkok_date(now), caller.is_staff())?;
    // 404 for a customer outside the caller's reach, exactly as for one that does not exist.
    let scope = caller.scope(Permission::ReadBilling);
    subscriptions::billing_customer(&state.db, customer_id, scope)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut tx = state.db.begin().await?;
    let sub = operations::create_subscription(&mut tx, &caller.actor, new, now).await?;
    tx.commit().await?;
    state.entitlements.forget(&[sub.customer_id]);
    Ok(Created(sub.into()))
}
