//! Starting a subscription (SPEC §2.5): `trialing` when it has trial days (the trial is its
//! first period), else `active` with a first period of the plan's cycle from the start date,
//! invoiced at once (fees are billed in advance).

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use uuid::Uuid;

use satang_domain::{BillingCycle, CustomerStatus, Interval, Period, Status, SubscriptionState};
use satang_store::Tx;
use satang_store::audit::{self, Actor, Change};
use satang_store::outbox::{self, NewEvent};
use satang_store::subscriptions::{self, Subscription, SubscriptionFields};

use super::plan_choice::{PlanRef, priced, resolve_plan};
use super::{cycle_of, subscription_json};
use crate::{Error, Result};

pub use satang_domain::CollectionMethod;

/// Which free trial a new subscription gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trial {
    /// Exactly these days (0: paying at once), granted by an operator.
    Days(u32),
    /// The plan's trial.
    Plan,
    /// The plan's trial on the customer's first subscription only: when a member subscribes,
    /// cancelling and subscribing again must not start another free trial.
    PlanOnFirstSubscription,
}

/// A subscription to start, already validated: the quantity in range, the start date not in
/// the past nor too far ahead.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub customer_id: Uuid,
    pub plan: PlanRef,
    pub quantity: i64,
    pub start: NaiveDate,
    pub trial: Trial,
    pub collection_method: CollectionMethod,
    /// A negotiated price per period (per seat) instead of the plan's.
    pub unit_price: Option<i64>,
    /// A coupon code to redeem on the new subscription (its first invoice is discounted).
    pub coupon: Option<String>,
}

/// Starts a subscription for an `active` customer ([`Error::InvalidState`] for a suspended or
/// deleted one) on the plan `new.plan` names (a code prefers the monthly plan), and invoices
/// its first period when it starts without a trial.
pub async fn create_subscription(
    tx: &mut Tx,
    actor: &Actor,
    new: NewSubscription,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    // Inside the transaction (a shared lock on PostgreSQL): sees a suspension racing this.
    let customer = subscriptions::billing_customer_in(tx, new.customer_id)
        .await?
        .ok_or(Error::NotFound)?;
    match customer.status {
        CustomerStatus::Active => {}
        CustomerStatus::Deleted => {
            return Err(Error::InvalidState(
                "this customer is deleted; restore it before subscribing it".into(),
            ));
        }
        other @ CustomerStatus::Suspended => {
            return Err(Error::InvalidState(format!(
                "this customer is {other}; reactivate it before subscribing it"
            )));
        }
    }
    let plan = resolve_plan(tx, &new.plan, Interval::Month, None).await?;
    priced(
        &plan,
        new.unit_price,
        new.quantity,
        customer.currency,
        new.plan.field(),
    )?;
    let plan_trial = u32::try_from(plan.trial_days).unwrap_or(0);
    let trial_days = match new.trial {
        Trial::Days(days) => days,
        Trial::Plan => plan_trial,
        Trial::PlanOnFirstSubscription => {
            if subscriptions::count_for_customer(tx, new.customer_id).await? > 0 {
                0
            } else {
                plan_trial
            }
        }
    };
    let fields = first_period(
        new.start,
        trial_days,
        cycle_of(&plan)?,
        plan.id,
        new.quantity,
        new.collection_method,
    )?;
    let fields = SubscriptionFields {
        unit_price: new.unit_price,
        ..fields
    };
    let mut sub = subscriptions::insert(tx, new.customer_id, new.start, fields, now).await?;
    if let Some(code) = &new.coupon {
        sub = crate::coupons::apply_discount(tx, actor, sub, code, now).await?;
    }
    // In advance: a subscription without a trial owes its first period now.
    if sub.status == Status::Active {
        crate::run::invoice_first_period(tx, actor, &sub, now).await?;
        if sub.discount.discount_id.is_some() {
            // The first invoice used one of the discount's periods.
            sub = subscriptions::lock(tx, sub.id, satang_store::Scope::All)
                .await?
                .ok_or(Error::NotFound)?;
        }
    }
    let json = subscription_json(&sub);
    outbox::emit(
        tx,
        NewEvent {
            event_type: "subscription.created",
            entity_type: "subscription",
            entity_id: sub.id.to_string(),
            customer_id: Some(sub.customer_id),
            payload: json.clone(),
        },
        now,
    )
    .await?;
    audit::record(
        tx,
        actor,
        Change {
            action: "subscription.created",
            entity_type: "subscription",
            entity_id: sub.id.to_string(),
            before: None,
            after: Some(json),
        },
        now,
    )
    .await?;
    Ok(sub)
}

/// The state of a subscription starting on `start`: a trial of `trial_days` as its first
/// period, or (without) a first paid period of `cycle`.
fn first_period(
    start: NaiveDate,
    trial_days: u32,
    cycle: BillingCycle,
    plan_id: Uuid,
    quantity: i64,
    collection_method: CollectionMethod,
) -> Result<SubscriptionFields> {
    let out_of_range = || Error::Invalid {
        field: "start_date",
        message: "is out of the supported range".into(),
    };
    let (lifecycle, trial_end) = if trial_days > 0 {
        let end = start
            .checked_add_days(Days::new(u64::from(trial_days)))
            .ok_or_else(out_of_range)?;
        let trial = Period::new(start, end).map_err(|_| out_of_range())?;
        (SubscriptionState::trialing(trial), Some(end))
    } else {
        let first = Period::first(start, cycle).map_err(|_| out_of_range())?;
        (SubscriptionState::active(first), None)
    };
    let period = lifecycle.current_period();
    Ok(SubscriptionFields {
        plan_id,
        quantity,
        status: lifecycle.status(),
        collection_method,
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
        unit_price: None,
        pending_unit_price: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::test_support::d;

    fn start(on: NaiveDate, trial_days: u32, cycle: BillingCycle) -> SubscriptionFields {
        first_period(
            on,
            trial_days,
            cycle,
            Uuid::nil(),
            1,
            CollectionMethod::default(),
        )
        .unwrap()
    }

    #[test]
    fn a_trial_is_the_first_period_and_anchors_paid_periods_on_its_end() {
        let f = start(d(2026, 1, 31), 14, BillingCycle::monthly());
        assert_eq!(f.status, Status::Trialing);
        assert_eq!(f.trial_end, Some(d(2026, 2, 14)));
        assert_eq!(
            (f.current_period_start, f.current_period_end),
            (d(2026, 1, 31), d(2026, 2, 14))
        );
        assert_eq!(f.next_billing_date, Some(d(2026, 2, 14)));
        assert_eq!(f.billing_anchor_day, 14);
        assert_eq!(f.collection_method, CollectionMethod::ChargeAutomatically);
    }

    #[test]
    fn without_a_trial_the_first_period_is_one_cycle_from_the_start() {
        let f = start(d(2026, 1, 31), 0, BillingCycle::monthly());
        assert_eq!(f.status, Status::Active);
        assert_eq!(f.trial_end, None);
        // 31 January + one month ends on the last day of February (clamped anchor).
        assert_eq!(f.current_period_start, d(2026, 1, 31));
        assert_eq!(f.current_period_end, d(2026, 2, 28));
        assert_eq!(f.billing_anchor_day, 31);
        let y = start(d(2026, 3, 1), 0, BillingCycle::yearly());
        assert_eq!(y.current_period_end, d(2027, 3, 1));
    }
}
