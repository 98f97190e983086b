//! Subscription operations (SPEC §2.5): starting a subscription ([`create`]), changing its plan
//! or seats ([`change_plan`]), pausing, resuming and cancelling it ([`lifecycle`]).
//!
//! Every operation runs in the caller's transaction: the API has already authorised the caller
//! and (for a change) locked the subscription row; the caller commits. An operation takes typed,
//! already-validated input and `now` from the one clock, decides with the domain
//! (`satang_domain`: the state machine, proration), writes the new state through the store, and
//! records the outbox event and audit entry with the change. A refused step is
//! [`Error::InvalidState`] (409), a request that cannot be sold [`Error::Invalid`] (422).
//!
//! Dates are the seller's calendar dates in Asia/Bangkok (`bangkok_date(now)`), periods
//! half-open (`current_period_end` is the first day of the next period).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use satang_domain::{
    BillingCycle, Currency, Period, Pricing, ProrationLine, ProrationLineKind, Status,
    SubscriptionError, SubscriptionState, bangkok_date,
};
use satang_store::Tx;
use satang_store::audit::{self, Actor, Change};
use satang_store::invoices;
use satang_store::outbox::{self, NewEvent};
use satang_store::plans::Plan;
use satang_store::subscriptions::{self, Subscription, SubscriptionFields};

use crate::{Error, Result};

pub mod change_plan;
pub mod create;
pub mod lifecycle;
mod plan_choice;

pub use change_plan::{Effective, PlanChange, PlanChangeOutcome, change_plan};
pub use create::{CollectionMethod, NewSubscription, Trial, create_subscription};
pub use lifecycle::{CancelOutcome, Cancellation, cancel, pause, resume};
pub use plan_choice::{NotForSale, PlanRef, sale_price};

/// Seats on one subscription; far above any farm co-operative, far below overflow.
pub const MAX_QUANTITY: i64 = 100_000;

/// The largest negotiated price per period: ฿10,000,000,000.00, far below overflow even × seats.
pub const MAX_UNIT_PRICE: i64 = 1_000_000_000_000;

/// One line of a proration, shaped like an invoice line so it can be invoiced as it is.
/// `quantity` is 1 and `unit_amount` the line's amount: the seats are in the description,
/// because a prorated amount is rounded once for all seats, not per seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProratedLine {
    pub kind: ProrationLineKind,
    pub description: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub quantity: i64,
    pub unit_amount: i64,
    pub amount: i64,
    pub remaining_days: u32,
    pub days_in_period: u32,
}

/// What a change costs or gives back now, in the plan's currency. Serialised as it is into the
/// audit entry of the change (the API's `ProrationView` has the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proration {
    pub lines: Vec<ProratedLine>,
    /// Sum of the lines' amounts; negative when the customer is owed.
    pub total: i64,
    pub currency: Currency,
    /// What the subscription's running discount takes off the invoice of these lines (see
    /// [`crate::coupons`]); absent without one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub discounts: Vec<satang_domain::AppliedDiscount>,
}

impl Proration {
    pub(crate) fn new(lines: Vec<ProratedLine>, currency: Currency) -> Proration {
        Proration {
            total: lines.iter().map(|l| l.amount).sum(),
            lines,
            currency,
            discounts: Vec::new(),
        }
    }

    pub(crate) fn none(currency: Currency) -> Proration {
        Proration::new(Vec::new(), currency)
    }
}

/// An invoice-shaped line for a proration computed by the domain, about `plan` × `quantity`.
pub(crate) fn prorated_line(line: ProrationLine, plan: &Plan, quantity: i64) -> ProratedLine {
    let what = match line.kind {
        ProrationLineKind::Credit => "Unused time on",
        ProrationLineKind::Charge => "Remaining time on",
    };
    let seats = if plan.pricing == Pricing::PerSeat {
        format!(" × {quantity} seats")
    } else {
        String::new()
    };
    ProratedLine {
        kind: line.kind,
        description: format!(
            "{what} {} {} (v{}){seats}, {} of {} days from {}",
            plan.code,
            plan.billing_interval,
            plan.version,
            line.remaining_days,
            line.days_in_period,
            line.period_start
        ),
        period_start: line.period_start,
        period_end: line.period_end,
        quantity: 1,
        unit_amount: line.amount,
        amount: line.amount,
        remaining_days: line.remaining_days,
        days_in_period: line.days_in_period,
    }
}

/// What the outbox (webhooks, emails) and the audit log say about a subscription: the JSON of
/// the API's `SubscriptionView` (a test in the API crate holds the two equal).
pub fn subscription_json(s: &Subscription) -> Value {
    let pending_change = match (s.pending_plan_id, &s.pending_plan_code) {
        (Some(plan_id), Some(plan_code)) => json!({
            "plan_id": plan_id,
            "plan_code": plan_code,
            "plan_version": s.pending_plan_version.unwrap_or(1),
            "quantity": s.pending_quantity.unwrap_or(s.quantity),
            "effective_date": s.current_period_end,
        }),
        _ => Value::Null,
    };
    json!({
        "id": s.id,
        "customer_id": s.customer_id,
        "plan_id": s.plan_id,
        "plan_code": s.plan_code,
        "plan_version": s.plan_version,
        "quantity": s.quantity,
        "status": s.status,
        "collection_method": s.collection_method,
        "start_date": s.start_date,
        "trial_end": s.trial_end,
        "current_period_start": s.current_period_start,
        "current_period_end": s.current_period_end,
        "next_billing_date": s.next_billing_date,
        "cancel_at_period_end": s.cancel_at_period_end,
        "paused_at": s.paused_at,
        "canceled_at": s.canceled_at,
        "pending_change": pending_change,
        "unit_price": s.unit_price,
        "discount": crate::coupons::discount_json(s),
        "billing_threshold": s.billing_threshold,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "version": s.version,
    })
}

/// A plan's billing cycle; stored plans are validated, so failure means corrupt data.
pub(crate) fn cycle_of(plan: &Plan) -> Result<BillingCycle> {
    u32::try_from(plan.interval_count)
        .ok()
        .and_then(|n| BillingCycle::new(plan.billing_interval, n).ok())
        .ok_or_else(|| Error::Internal(format!("plan {} has an invalid cycle", plan.id)))
}

/// What one period of `plan` costs at `quantity`, at the negotiated `unit_price` when there is
/// one (else the plan's price): per-seat plans multiply, flat plans do not.
pub(crate) fn period_amount(plan: &Plan, unit_price: Option<i64>, quantity: i64) -> Option<i64> {
    let price = unit_price.unwrap_or(plan.price);
    if plan.pricing == Pricing::PerSeat {
        price.checked_mul(quantity)
    } else {
        Some(price)
    }
}

/// The domain's view of a stored subscription (status and dates), to ask it what may happen.
pub(crate) fn lifecycle_state(sub: &Subscription) -> Result<SubscriptionState> {
    let corrupt = |what: String| Error::Internal(format!("subscription {}: {what}", sub.id));
    let period = Period::new(sub.current_period_start, sub.current_period_end)
        .map_err(|e| corrupt(e.to_string()))?;
    SubscriptionState::restore(
        sub.status,
        period,
        sub.paused_at.map(bangkok_date),
        sub.cancel_at_period_end,
        sub.canceled_at.map(bangkok_date),
    )
    .map_err(|e| corrupt(e.to_string()))
}

/// True while the current period is (what is left of) the free trial, also after a paused trial
/// was resumed, which the state machine makes `active`: nothing was paid for the period, so a
/// change or cancellation in it prorates nothing.
pub(crate) fn in_trial_period(sub: &Subscription) -> bool {
    sub.status == Status::Trialing || sub.trial_end == Some(sub.current_period_end)
}

/// A refused lifecycle step is a 409 that says why; anything else is our fault.
pub(crate) fn transition_error(e: SubscriptionError) -> Error {
    match e {
        SubscriptionError::InvalidTransition(t) => Error::InvalidState(t.to_string()),
        SubscriptionError::ResumedBeforePause { .. } => Error::InvalidState(e.to_string()),
        other => Error::Internal(other.to_string()),
    }
}

/// Writes the new state of a locked subscription with its `subscription.updated` event and its
/// audit entry (with any proration it computed) in `tx`.
pub(crate) async fn save(
    tx: &mut Tx,
    actor: &Actor,
    before: Subscription,
    fields: SubscriptionFields,
    action: &str,
    proration: Option<&Proration>,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    let after = subscriptions::update(tx, before.id, fields, now).await?;
    record_change(tx, actor, &before, &after, action, proration, now).await?;
    Ok(after)
}

/// The `subscription.updated` event and the audit entry `action` (with any proration it
/// computed) of a change from `before` to `after` already written in `tx`.
pub(crate) async fn record_change(
    tx: &mut Tx,
    actor: &Actor,
    before: &Subscription,
    after: &Subscription,
    action: &str,
    proration: Option<&Proration>,
    now: DateTime<Utc>,
) -> Result<()> {
    let after_json = subscription_json(after);
    // The event says what changed (`change`: the audit action), so the customer's email
    // notification can tell a plan change from a pause (see `satang_store::emails`).
    let mut event = after_json.clone();
    if let Some(object) = event.as_object_mut() {
        object.insert("change".into(), action.into());
    }
    outbox::emit(
        tx,
        NewEvent {
            event_type: "subscription.updated",
            entity_type: "subscription",
            entity_id: after.id.to_string(),
            customer_id: Some(after.customer_id),
            payload: event,
        },
        now,
    )
    .await?;
    let mut audit_after = after_json;
    if let (Some(p), Some(object)) = (proration, audit_after.as_object_mut()) {
        object.insert(
            "proration".into(),
            serde_json::to_value(p).unwrap_or_default(),
        );
    }
    audit_change(tx, actor, action, before, audit_after, now).await
}

/// The audit entry `action` of a subscription that was `before` and is now `after`.
pub(crate) async fn audit_change(
    tx: &mut Tx,
    actor: &Actor,
    action: &str,
    before: &Subscription,
    after: Value,
    now: DateTime<Utc>,
) -> Result<()> {
    audit::record(
        tx,
        actor,
        Change {
            action,
            entity_type: "subscription",
            entity_id: before.id.to_string(),
            before: Some(subscription_json(before)),
            after: Some(after),
        },
        now,
    )
    .await?;
    Ok(())
}

/// Credits `amount` (positive) owed for a subscription's unused time to its customer's balance,
/// which the next finalised invoice consumes, with its `customer.credited` audit entry. The one
/// place a proration credit reaches the balance: an immediate prorated cancellation and an
/// upgrade whose proration nets negative both come here.
pub(crate) async fn credit_unused_time(
    tx: &mut Tx,
    actor: &Actor,
    customer_id: Uuid,
    subscription_id: Uuid,
    amount: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    invoices::adjust_customer_balance(tx, customer_id, amount, now).await?;
    audit::record(
        tx,
        actor,
        Change {
            action: "customer.credited",
            entity_type: "customer",
            entity_id: customer_id.to_string(),
            before: None,
            after: Some(json!({"amount": amount, "reason": "proration",
                               "subscription_id": subscription_id})),
        },
        now,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_support {
    use chrono::{DateTime, NaiveDate, Utc};
    use uuid::Uuid;

    use satang_domain::{CollectionMethod, Status};
    use satang_store::subscriptions::Subscription;

    pub fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// Noon in Bangkok on `date`.
    pub fn at(date: NaiveDate) -> DateTime<Utc> {
        date.and_hms_opt(5, 0, 0).unwrap().and_utc()
    }

    /// An active monthly subscription in January 2026.
    pub fn january_subscription() -> Subscription {
        let created = at(d(2026, 1, 1));
        Subscription {
            id: Uuid::nil(),
            customer_id: Uuid::nil(),
            plan_id: Uuid::nil(),
            plan_code: "PRO".into(),
            plan_version: 1,
            plan_interval: satang_domain::Interval::Month,
            plan_interval_count: 1,
            quantity: 1,
            status: Status::Active,
            collection_method: CollectionMethod::SendInvoice,
            start_date: d(2026, 1, 1),
            trial_end: None,
            current_period_start: d(2026, 1, 1),
            current_period_end: d(2026, 2, 1),
            billing_anchor_day: 1,
            next_billing_date: Some(d(2026, 2, 1)),
            cancel_at_period_end: false,
            paused_at: None,
            canceled_at: None,
            pending_plan_id: None,
            pending_quantity: None,
            pending_plan_code: None,
            pending_plan_version: None,
            unit_price: None,
            pending_unit_price: None,
            discount: Default::default(),
            billing_threshold: None,
            created_at: created,
            updated_at: created,
            version: 1,
        }
    }
}
