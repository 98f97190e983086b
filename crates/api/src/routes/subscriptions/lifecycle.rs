//! Pause, resume and cancel: each asks the domain's state machine whether the step is allowed
//! (409 when not) and what the dates become, then writes the new state with its audit event.
//!
//! - Pausing freezes the subscription: no invoices while paused. Resuming moves the current
//!   period's end, the next billing date and (for a paused trial) the trial's end forward by the
//!   whole days spent paused, and later periods are anchored on the new end's day.
//! - Cancelling defaults to the end of the current period (`cancel_at_period_end`); the billing
//!   engine carries it out on that date. An immediate cancellation with `prorate: true` answers
//!   with the credit line for the unused days of the paid period (none for a trial) and credits
//!   that amount to the customer's balance, which the next finalised invoice consumes.

use axum::extract::State;
use chrono::{Datelike, Days};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_domain::unused_time_credit;
use satang_store::plans;
use satang_store::subscriptions::{Subscription, SubscriptionFields};

use super::{
    ProrationView, SubscriptionView, in_trial_period, lifecycle_error, lifecycle_state, lock,
    now_and_today, period_amount, proration_line, save,
};
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
    let (now, today) = now_and_today(&state);
    let (mut tx, sub) = lock(&state, &caller, id, CustomerAction::AdjustBilling).await?;
    let next = lifecycle_state(&sub)?
        .pause(today)
        .map_err(lifecycle_error)?;
    let mut f = SubscriptionFields::of(&sub);
    f.status = next.status().as_str().to_owned();
    // Its Bangkok date is the pause day the domain counts from.
    f.paused_at = Some(now);
    let view = save(&mut tx, &caller, sub, f, "subscription.paused", None, now).await?;
    tx.commit().await?;
    Ok(axum::Json(view))
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
    let (now, today) = now_and_today(&state);
    let (mut tx, sub) = lock(&state, &caller, id, CustomerAction::AdjustBilling).await?;
    let paused = lifecycle_state(&sub)?;
    let next = paused.resume(today).map_err(lifecycle_error)?;
    let paused_on = paused
        .paused_on()
        .ok_or_else(|| ApiError::Internal("resumed without a pause date".into()))?;
    let paused_days =
        Days::new((next.current_period_end() - sub.current_period_end).num_days() as u64);
    // Dates still ahead when the pause began move with the period; earlier ones stay.
    let shift = |d: chrono::NaiveDate| {
        if d >= paused_on {
            d.checked_add_days(paused_days).unwrap_or(d)
        } else {
            d
        }
    };
    let mut f = SubscriptionFields::of(&sub);
    f.status = next.status().as_str().to_owned();
    f.paused_at = None;
    f.current_period_end = next.current_period_end();
    f.next_billing_date = f.next_billing_date.map(shift);
    f.trial_end = f.trial_end.map(shift);
    if paused_days != Days::new(0) {
        // Later periods follow the moved end instead of snapping back to the old anchor day.
        f.billing_anchor_day = i64::from(next.current_period_end().day());
    }
    let view = save(&mut tx, &caller, sub, f, "subscription.resumed", None, now).await?;
    tx.commit().await?;
    Ok(axum::Json(view))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// `true` (default): at the end of the current period; `false`: now.
    pub at_period_end: Option<bool>,
    /// With `at_period_end: false`: credit the unused days of the paid period.
    pub prorate: Option<bool>,
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

/// The credit for the unused part of the current period when `sub` stops today. A trial was not
/// paid for, so it earns none; a paused subscription stopped using its period on the pause day.
async fn unused_credit(
    tx: &mut satang_store::Tx,
    sub: &Subscription,
    paused_on: Option<chrono::NaiveDate>,
    today: chrono::NaiveDate,
) -> Result<ProrationView, ApiError> {
    let plan = plans::find_by_id_in(tx, sub.plan_id)
        .await?
        .ok_or_else(|| ApiError::Internal("subscription without its plan".into()))?;
    if in_trial_period(sub) {
        return Ok(ProrationView::new(Vec::new(), &plan.currency));
    }
    let amount = period_amount(&plan, sub.quantity)
        .ok_or_else(|| ApiError::Internal("period amount overflows".into()))?;
    let stop = paused_on
        .unwrap_or(today)
        .clamp(sub.current_period_start, sub.current_period_end);
    let line = unused_time_credit(
        amount,
        sub.current_period_start,
        sub.current_period_end,
        stop,
    )
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(ProrationView::new(
        vec![proration_line(line, &plan, sub.quantity)],
        &plan.currency,
    ))
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
    let at_period_end = body.at_period_end.unwrap_or(true);
    let prorate = body.prorate.unwrap_or(false);
    let (now, today) = now_and_today(&state);
    // Crediting unused days gives money back whether or not the period was paid: staff only.
    let action = if prorate {
        CustomerAction::AdjustBilling
    } else {
        CustomerAction::ManageSubscriptions
    };
    let (mut tx, sub) = lock(&state, &caller, id, action).await?;
    if at_period_end && prorate {
        return Err(ApiError::field(
            "prorate",
            "applies only to an immediate cancellation (at_period_end: false)",
        ));
    }
    let current = lifecycle_state(&sub)?;
    let mut f = SubscriptionFields::of(&sub);
    let (action, proration) = if at_period_end {
        current
            .schedule_cancel_at_period_end()
            .map_err(lifecycle_error)?;
        f.cancel_at_period_end = true;
        ("subscription.cancel_scheduled", None)
    } else {
        let next = current.cancel_now(today).map_err(lifecycle_error)?;
        let proration = if prorate {
            Some(unused_credit(&mut tx, &sub, current.paused_on(), today).await?)
        } else {
            None
        };
        f.status = next.status().as_str().to_owned();
        f.canceled_at = Some(now);
        f.paused_at = None;
        f.cancel_at_period_end = false;
        f.next_billing_date = None;
        f.pending_plan_id = None;
        f.pending_quantity = None;
        ("subscription.canceled", proration)
    };
    let (customer_id, sub_id) = (sub.customer_id, sub.id);
    let subscription = save(&mut tx, &caller, sub, f, action, proration.as_ref(), now).await?;
    // The unused days are credited to the customer's balance; the next invoice consumes it.
    if let Some(p) = &proration
        && p.total < 0
    {
        satang_store::invoices::adjust_customer_balance(&mut tx, customer_id, -p.total, now)
            .await?;
        satang_store::audit::record(
            &mut tx,
            &caller.actor,
            satang_store::audit::Change {
                action: "customer.credited",
                entity_type: "customer",
                entity_id: customer_id.to_string(),
                before: None,
                after: Some(
                    serde_json::json!({"amount": -p.total, "reason": "proration",
                                               "subscription_id": sub_id}),
                ),
            },
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(axum::Json(CancelResponse {
        subscription,
        proration,
    }))
}
