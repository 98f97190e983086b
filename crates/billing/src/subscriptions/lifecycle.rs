//! Pause, resume and cancel: each asks the domain's state machine whether the step is allowed
//! ([`Error::InvalidState`] when not) and what the dates become, then writes the new state with
//! its event and audit entry.
//!
//! - Pausing freezes the subscription: no invoices while paused. Resuming moves the current
//!   period's end, the next billing date and (for a paused trial) the trial's end forward by the
//!   whole days spent paused, and later periods are anchored on the new end's day.
//! - Cancelling defaults to the end of the current period (`cancel_at_period_end`); the billing
//!   run carries it out on that date. An immediate cancellation that credits unused time
//!   answers with the credit line for the unused days of the paid period (none for a trial) and
//!   credits that amount to the customer's balance, which the next finalised invoice consumes.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};

use satang_domain::{Period, ProrationError, ProrationLine, bangkok_date, unused_time_credit};
use satang_store::audit::Actor;
use satang_store::subscriptions::{Subscription, SubscriptionFields};
use satang_store::{Tx, plans};

use super::{
    Proration, credit_unused_time, in_trial_period, lifecycle_state, period_amount, prorated_line,
    save, transition_error,
};
use crate::{Error, Result};

/// Pauses a `trialing` or `active` subscription (locked by the caller in `tx`).
pub async fn pause(
    tx: &mut Tx,
    actor: &Actor,
    sub: Subscription,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    let fields = paused(&sub, now)?;
    save(tx, actor, sub, fields, "subscription.paused", None, now).await
}

/// Resumes a paused subscription: `active` again, its period longer by the paused days.
pub async fn resume(
    tx: &mut Tx,
    actor: &Actor,
    sub: Subscription,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    let fields = resumed(&sub, bangkok_date(now))?;
    save(tx, actor, sub, fields, "subscription.resumed", None, now).await
}

/// When a cancellation takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancellation {
    /// At the end of the current period (the billing run ends it then).
    AtPeriodEnd,
    /// Now; `credit_unused` credits the unused days of the paid period to the balance.
    Now { credit_unused: bool },
}

/// The outcome of [`cancel`].
#[derive(Debug)]
pub struct CancelOutcome {
    pub subscription: Subscription,
    /// With `credit_unused`: the credit for the unused days.
    pub proration: Option<Proration>,
}

/// Cancels `sub` (locked by the caller in `tx`) at the end of its period or now.
pub async fn cancel(
    tx: &mut Tx,
    actor: &Actor,
    sub: Subscription,
    when: Cancellation,
    now: DateTime<Utc>,
) -> Result<CancelOutcome> {
    let current = lifecycle_state(&sub)?;
    let mut f = SubscriptionFields::of(&sub);
    let (action, proration) = match when {
        Cancellation::AtPeriodEnd => {
            current
                .schedule_cancel_at_period_end()
                .map_err(transition_error)?;
            f.cancel_at_period_end = true;
            ("subscription.cancel_scheduled", None)
        }
        Cancellation::Now { credit_unused } => {
            let today = bangkok_date(now);
            let next = current.cancel_now(today).map_err(transition_error)?;
            let proration = if credit_unused {
                Some(unused_credit(tx, &sub, current.paused_on(), today).await?)
            } else {
                None
            };
            f.status = next.status();
            f.canceled_at = Some(now);
            f.paused_at = None;
            f.cancel_at_period_end = false;
            f.next_billing_date = None;
            f.pending_plan_id = None;
            f.pending_quantity = None;
            f.pending_unit_price = None;
            ("subscription.canceled", proration)
        }
    };
    let (customer_id, sub_id) = (sub.customer_id, sub.id);
    let subscription = save(tx, actor, sub, f, action, proration.as_ref(), now).await?;
    if let Some(p) = &proration
        && p.total < 0
    {
        credit_unused_time(tx, actor, customer_id, sub_id, -p.total, now).await?;
    }
    Ok(CancelOutcome {
        subscription,
        proration,
    })
}

/// The fields of `sub` paused now; its Bangkok date is the pause day the domain counts from.
fn paused(sub: &Subscription, now: DateTime<Utc>) -> Result<SubscriptionFields> {
    let next = lifecycle_state(sub)?
        .pause(bangkok_date(now))
        .map_err(transition_error)?;
    let mut f = SubscriptionFields::of(sub);
    f.status = next.status();
    f.paused_at = Some(now);
    Ok(f)
}

/// The fields of `sub` resumed on `today`: dates still ahead when the pause began move forward
/// by the paused days; earlier ones stay.
fn resumed(sub: &Subscription, today: NaiveDate) -> Result<SubscriptionFields> {
    let paused = lifecycle_state(sub)?;
    let next = paused.resume(today).map_err(transition_error)?;
    let paused_on = paused
        .paused_on()
        .ok_or_else(|| Error::Internal("resumed without a pause date".into()))?;
    let paused_days =
        Days::new((next.current_period_end() - sub.current_period_end).num_days() as u64);
    let shift = |d: NaiveDate| {
        if d >= paused_on {
            d.checked_add_days(paused_days).unwrap_or(d)
        } else {
            d
        }
    };
    let mut f = SubscriptionFields::of(sub);
    f.status = next.status();
    f.paused_at = None;
    f.current_period_end = next.current_period_end();
    f.next_billing_date = f.next_billing_date.map(shift);
    f.trial_end = f.trial_end.map(shift);
    if paused_days != Days::new(0) {
        // Later periods follow the moved end instead of snapping back to the old anchor day.
        f.billing_anchor_day = i64::from(next.current_period_end().day());
    }
    Ok(f)
}

/// The credit for the unused part of the current period when `sub` stops today. A trial was not
/// paid for, so it earns none; a paused subscription stopped using its period on the pause day.
async fn unused_credit(
    tx: &mut Tx,
    sub: &Subscription,
    paused_on: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<Proration> {
    let plan = plans::find_by_id_in(tx, sub.plan_id)
        .await?
        .ok_or_else(|| Error::Internal("subscription without its plan".into()))?;
    if in_trial_period(sub) {
        return Ok(Proration::none(plan.currency));
    }
    let amount = period_amount(&plan, sub.unit_price, sub.quantity)
        .ok_or_else(|| Error::Internal("period amount overflows".into()))?;
    let period = Period::new(sub.current_period_start, sub.current_period_end)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let line = unused_line(amount, period, paused_on.unwrap_or(today))
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Proration::new(
        vec![prorated_line(line, &plan, sub.quantity)],
        plan.currency,
    ))
}

/// The credit line for `amount` a period when its use stopped on `stop` (clamped to the period).
fn unused_line(
    amount: i64,
    period: Period,
    stop: NaiveDate,
) -> Result<ProrationLine, ProrationError> {
    let stop = stop.clamp(period.start(), period.end());
    unused_time_credit(amount, period.start(), period.end(), stop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::test_support::{at, d, january_subscription};
    use satang_domain::Status;

    #[test]
    fn pausing_records_the_instant_and_refuses_a_paused_subscription() {
        let sub = january_subscription();
        let now = at(d(2026, 1, 10));
        let f = paused(&sub, now).unwrap();
        assert_eq!((f.status, f.paused_at), (Status::Paused, Some(now)));
        let again = Subscription {
            status: Status::Paused,
            paused_at: Some(now),
            ..sub
        };
        assert!(matches!(paused(&again, now), Err(Error::InvalidState(_))));
    }

    #[test]
    fn resuming_moves_the_period_end_and_billing_date_by_the_paused_days() {
        let sub = Subscription {
            status: Status::Paused,
            paused_at: Some(at(d(2026, 1, 10))),
            ..january_subscription()
        };
        // Paused on 10 January, resumed on 20 January: ten days later.
        let f = resumed(&sub, d(2026, 1, 20)).unwrap();
        assert_eq!(f.status, Status::Active);
        assert_eq!(f.paused_at, None);
        assert_eq!(f.current_period_start, d(2026, 1, 1));
        assert_eq!(f.current_period_end, d(2026, 2, 11));
        assert_eq!(f.next_billing_date, Some(d(2026, 2, 11)));
        assert_eq!(f.billing_anchor_day, 11);
    }

    #[test]
    fn resuming_a_paused_trial_moves_its_end_and_an_active_one_is_refused() {
        let trial = Subscription {
            status: Status::Paused,
            paused_at: Some(at(d(2026, 1, 5))),
            trial_end: Some(d(2026, 1, 15)),
            current_period_end: d(2026, 1, 15),
            next_billing_date: Some(d(2026, 1, 15)),
            ..january_subscription()
        };
        let f = resumed(&trial, d(2026, 1, 8)).unwrap();
        assert_eq!(f.trial_end, Some(d(2026, 1, 18)));
        assert_eq!(f.current_period_end, d(2026, 1, 18));
        assert_eq!(f.next_billing_date, Some(d(2026, 1, 18)));
        assert!(matches!(
            resumed(&january_subscription(), d(2026, 1, 8)),
            Err(Error::InvalidState(_))
        ));
    }

    #[test]
    fn unused_days_count_from_the_stop_day_within_the_period() {
        let jan = Period::new(d(2026, 1, 1), d(2026, 2, 1)).unwrap();
        // ฿990 stopped on 16 January: 16 of 31 days unused.
        let line = unused_line(99_000, jan, d(2026, 1, 16)).unwrap();
        assert_eq!((line.amount, line.remaining_days), (-51_097, 16));
        // A stop after the period credits nothing; before it, everything.
        assert_eq!(unused_line(99_000, jan, d(2026, 3, 1)).unwrap().amount, 0);
        assert_eq!(
            unused_line(99_000, jan, d(2025, 12, 1)).unwrap().amount,
            -99_000
        );
    }
}
