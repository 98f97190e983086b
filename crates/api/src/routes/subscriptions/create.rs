//! Starting a subscription, and finding the plan a request names (shared with change-plan).
//!
//! A plan is named by `plan_id` (that exact version) or by `plan_code` (the version on sale),
//! with an optional `interval`. Without `interval`, `plan_code` picks the monthly plan when one
//! is on sale, else the yearly one; change-plan prefers the subscription's current interval.

use axum::extract::State;
use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use satang_auth::Permission;
use satang_domain::{Period, SubscriptionState};
use satang_store::Tx;
use satang_store::audit::{self, Change};
use satang_store::plans::{self, Plan};
use satang_store::subscriptions::{self, SubscriptionFields};

use super::{MAX_QUANTITY, SubscriptionView, cycle_of, now_and_today, period_amount};
use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Created, Json};
use crate::routes::plans::{MAX_TRIAL_DAYS, PlanInterval, normalize_code};
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

impl CollectionMethod {
    fn as_str(self) -> &'static str {
        match self {
            CollectionMethod::ChargeAutomatically => "charge_automatically",
            CollectionMethod::SendInvoice => "send_invoice",
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
}

/// How a request names a plan.
pub(super) enum PlanRef {
    Id(Uuid),
    Code {
        code: String,
        interval: Option<PlanInterval>,
    },
    /// Nothing named: the subscription's current plan (change-plan only).
    Current,
}

impl PlanRef {
    /// The request field a problem with the plan is reported on.
    pub(super) fn field(&self) -> &'static str {
        match self {
            PlanRef::Code { .. } => "plan_code",
            PlanRef::Id(_) | PlanRef::Current => "plan_id",
        }
    }
}

/// Checks the plan fields of a request; without either, `required` decides between a 422 and
/// [`PlanRef::Current`].
pub(super) fn plan_ref(
    v: &mut Validator,
    plan_id: Option<Uuid>,
    plan_code: Option<&str>,
    interval: Option<PlanInterval>,
    required: bool,
) -> PlanRef {
    match (plan_id, plan_code) {
        (Some(_), Some(_)) => {
            v.add("plan_id", "give plan_id or plan_code, not both");
            PlanRef::Current
        }
        (Some(id), None) => {
            if interval.is_some() {
                v.add(
                    "interval",
                    "applies only with plan_code (a plan_id names its interval)",
                );
            }
            PlanRef::Id(id)
        }
        (None, Some(raw)) => match normalize_code(raw) {
            Some(code) => PlanRef::Code { code, interval },
            None => {
                v.add("plan_code", "is not a plan code (e.g. PRO)");
                PlanRef::Current
            }
        },
        (None, None) => {
            if required {
                v.add("plan_id", "plan_id or plan_code is required");
            } else if interval.is_some() {
                v.add("interval", "applies only with plan_code");
            }
            PlanRef::Current
        }
    }
}

/// The plan a request names: 422 on the field when there is no such plan on sale. The
/// `current` plan stays allowed even when archived (a grandfathered subscription may change its
/// seats without moving to the new price).
pub(super) async fn resolve_plan(
    tx: &mut Tx,
    plan: &PlanRef,
    preferred_interval: &str,
    current: Option<&Plan>,
) -> Result<Plan, ApiError> {
    match plan {
        PlanRef::Id(id) => {
            let found = plans::find_by_id_in(tx, *id)
                .await?
                .ok_or_else(|| ApiError::field("plan_id", "no plan has this id"))?;
            if !found.active && current.is_none_or(|c| c.id != found.id) {
                return Err(ApiError::field(
                    "plan_id",
                    "this plan version is archived and no longer sold",
                ));
            }
            Ok(found)
        }
        PlanRef::Code { code, interval } => plans::find_active_by_code(
            tx,
            code,
            interval.map(PlanInterval::as_str),
            preferred_interval,
        )
        .await?
        .ok_or_else(|| {
            let message = match interval {
                Some(i) => format!("no {} plan with code {code} is on sale", i.as_str()),
                None => format!("no plan with code {code} is on sale"),
            };
            ApiError::field("plan_code", message)
        }),
        PlanRef::Current => current
            .cloned()
            .ok_or_else(|| ApiError::field("plan_id", "plan_id or plan_code is required")),
    }
}

/// The period amount of `plan` × `quantity` for a customer billed in `currency`, or the 422
/// that explains why that combination cannot be sold.
pub(super) fn priced(
    plan: &Plan,
    quantity: i64,
    currency: &str,
    plan_field: &str,
) -> Result<i64, ApiError> {
    if plan.currency != currency {
        return Err(ApiError::field(
            plan_field,
            format!(
                "this plan is priced in {}, but the customer is billed in {currency}",
                plan.currency
            ),
        ));
    }
    if plan.pricing != "per_seat" && quantity != 1 {
        return Err(ApiError::field(
            "quantity",
            "must be 1 on a flat-priced plan (only per-seat plans have seats)",
        ));
    }
    period_amount(plan, quantity)
        .ok_or_else(|| ApiError::field("quantity", "is too large for this plan's price"))
}

/// Start a subscription: `trialing` when it has trial days (the trial is its first period),
/// else `active` with a first period of the plan's cycle from the start date.
#[utoipa::path(post, path = "/api/subscriptions", tag = "subscriptions", request_body = CreateSubscriptionRequest,
    security(("bearer" = [])),
    responses((status = 201, body = SubscriptionView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, description = "No such customer within the caller's reach", body = Problem),
        (status = 409, description = "The customer is suspended or deleted", body = Problem),
        (status = 422, body = Problem)))]
pub(super) async fn create_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateSubscriptionRequest>,
) -> Result<Created<SubscriptionView>, ApiError> {
    authorize(
        &state,
        &caller,
        body.customer_id,
        CustomerAction::ManageSubscriptions,
    )
    .await?;
    if body.trial_days.is_some() {
        // A trial other than the plan's is free service: the operator grants it, not a member.
        authorize(
            &state,
            &caller,
            body.customer_id,
            CustomerAction::AdjustBilling,
        )
        .await?;
    }
    let (now, today) = now_and_today(&state);
    let mut v = Validator::new();
    let quantity = body.quantity.unwrap_or(1);
    v.check(
        (1..=MAX_QUANTITY).contains(&quantity),
        "quantity",
        format!("must be between 1 and {MAX_QUANTITY}"),
    );
    v.check(
        body.trial_days
            .is_none_or(|t| (0..=MAX_TRIAL_DAYS).contains(&t)),
        "trial_days",
        format!("must be between 0 and {MAX_TRIAL_DAYS}"),
    );
    let start = body.start_date.unwrap_or(today);
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
    let plan_ref = plan_ref(
        &mut v,
        body.plan_id,
        body.plan_code.as_deref(),
        body.interval,
        true,
    );
    v.finish()?;

    // The scoped read answers 404 for a customer outside the caller's reach; the read inside the
    // transaction (a shared lock on PostgreSQL) sees a suspension that races this request.
    let scope = caller.scope(Permission::ReadBilling);
    subscriptions::billing_customer(&state.db, body.customer_id, scope)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut tx = state.db.begin().await?;
    let customer = subscriptions::billing_customer_in(&mut tx, body.customer_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    match customer.status.as_str() {
        "active" => {}
        "deleted" => {
            return Err(ApiError::Conflict(
                "this customer is deleted; restore it before subscribing it".into(),
            ));
        }
        other => {
            return Err(ApiError::Conflict(format!(
                "this customer is {other}; reactivate it before subscribing it"
            )));
        }
    }
    let plan = resolve_plan(&mut tx, &plan_ref, "month", None).await?;
    priced(&plan, quantity, &customer.currency, plan_ref.field())?;
    // The plan's trial is for a customer's first subscription when a member subscribes:
    // cancelling and subscribing again must not start another free trial.
    let repeat_trial = !caller.is_staff()
        && subscriptions::count_for_customer(&mut tx, body.customer_id).await? > 0;
    let trial_days = match body.trial_days {
        Some(days) => days,
        None if repeat_trial => 0,
        None => plan.trial_days,
    };
    let out_of_range = || ApiError::field("start_date", "is out of the supported range");
    let (lifecycle, trial_end) = if trial_days > 0 {
        let end = start
            .checked_add_days(Days::new(trial_days.unsigned_abs()))
            .ok_or_else(out_of_range)?;
        let trial = Period::new(start, end).map_err(|_| out_of_range())?;
        (SubscriptionState::trialing(trial), Some(end))
    } else {
        let first = Period::first(start, cycle_of(&plan)?).map_err(|_| out_of_range())?;
        (SubscriptionState::active(first), None)
    };
    let period = lifecycle.current_period();
    let sub = subscriptions::insert(
        &mut tx,
        body.customer_id,
        start,
        SubscriptionFields {
            plan_id: plan.id,
            quantity,
            status: lifecycle.status().as_str().to_owned(),
            collection_method: body
                .collection_method
                .unwrap_or(CollectionMethod::ChargeAutomatically)
                .as_str()
                .to_owned(),
            trial_end,
            current_period_start: period.start(),
            current_period_end: period.end(),
            // Paid periods are anchored on the day they begin: the start date, or the trial's end.
            billing_anchor_day: i64::from(trial_end.unwrap_or(start).day()),
            next_billing_date: Some(period.end()),
            cancel_at_period_end: false,
            paused_at: None,
            canceled_at: None,
            pending_plan_id: None,
            pending_quantity: None,
        },
        now,
    )
    .await?;
    // In advance: a subscription without a trial owes its first period now.
    if sub.status == "active" {
        satang_billing::run::invoice_first_period(&mut tx, &caller.actor, &sub, now)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    let view = SubscriptionView::from(sub);
    crate::events::emit(
        &mut tx,
        "subscription.created",
        "subscription",
        view.id,
        view.customer_id,
        &view,
        now,
    )
    .await?;
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "subscription.created",
            entity_type: "subscription",
            entity_id: view.id.to_string(),
            before: None,
            after: Some(serde_json::to_value(&view).unwrap_or_default()),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Created(view))
}
