//! Changing a subscription's plan or seats (SPEC §2.5).
//!
//! - A change that does not lower what a period costs (an **upgrade**: more seats, a dearer
//!   plan, or the same price) applies at once and is prorated by whole days: a credit line for
//!   the unused part of the old amount and a charge line for the rest of the period at the new
//!   one (`satang_domain::plan_change_lines`, rounded half-up to the satang), invoiced at once
//!   (`billing_reason: proration`) and kept in the audit event.
//! - A change that lowers it (a **downgrade**) waits for the end of the current period as
//!   `pending_change`; the customer keeps what they paid for. Asking for the current plan and
//!   seats again withdraws a pending change.
//! - Moving to a plan with another cycle (monthly ↔ yearly) compares the amounts per month. Such
//!   an upgrade starts a new period of the new cycle on the change day: the unused old days are
//!   credited and the whole new period is charged, on one invoice for the new period in advance
//!   (`subscription_create`: the period's fee line and the credit line).
//! - During a trial (also what is left of a paused and resumed one) nothing has been paid: the
//!   change applies at once without proration.
//! - A preview computes the same answer and writes nothing.
//! - Without a named plan ([`PlanRef::Current`]) the current plan is kept (a change of seats),
//!   even when that version is archived; naming a code moves the subscription to the version on
//!   sale.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use satang_domain::{
    BillingCycle, Period, Pricing, ProrationError, ProrationLine, ProrationLineKind, Status,
    bangkok_date, plan_change_lines, unused_time_credit,
};
use satang_store::audit::Actor;
use satang_store::invoices::NewLine;
use satang_store::subscriptions::{Subscription, SubscriptionFields};
use satang_store::{Scope, Tx, plans};

use super::plan_choice::{PlanRef, priced, resolve_plan};
use super::{
    Proration, cycle_of, in_trial_period, lifecycle_state, period_amount, prorated_line, save,
};
use crate::{Error, Result};

/// What the caller asks for.
#[derive(Debug, Clone)]
pub struct PlanChange {
    pub plan: PlanRef,
    /// Seats; `None`: the current seats on a per-seat plan, 1 on a flat one.
    pub quantity: Option<i64>,
    /// Only compute the proration; change nothing.
    pub preview: bool,
    /// A negotiated price per period (per seat) on the new terms. Without one, a negotiated
    /// price stays while the plan stays (a change of seats) and ends with a move to another
    /// plan, which is sold at its own price.
    pub unit_price: Option<i64>,
}

/// When a change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effective {
    Immediately,
    /// At the end of the current period (`pending_change`).
    PeriodEnd,
}

/// The outcome of [`change_plan`].
#[derive(Debug)]
pub struct PlanChangeOutcome {
    /// The subscription after the change (as it was, for a preview).
    pub subscription: Subscription,
    /// What the change costs now; empty for a downgrade or during a trial.
    pub proration: Proration,
    pub effective: Effective,
    pub effective_date: NaiveDate,
    pub preview: bool,
}

/// Changes the plan or seats of `sub` (locked by the caller in `tx`), or for a preview only
/// says what the change would do. An upgrade is invoiced (or its credit put on the balance) in
/// `tx`. [`Error::InvalidState`] unless the subscription is `trialing` or `active`.
pub async fn change_plan(
    tx: &mut Tx,
    actor: &Actor,
    sub: Subscription,
    change: PlanChange,
    now: DateTime<Utc>,
) -> Result<PlanChangeOutcome> {
    let today = bangkok_date(now);
    let state = lifecycle_state(&sub)?;
    let status = state.status();
    if !matches!(status, Status::Trialing | Status::Active) {
        return Err(Error::InvalidState(format!(
            "cannot change the plan of a subscription that is {}",
            status.as_str().replace('_', " ")
        )));
    }
    let current = plans::find_by_id_in(tx, sub.plan_id)
        .await?
        .ok_or_else(|| Error::Internal("subscription without its plan".into()))?;
    let target = resolve_plan(tx, &change.plan, current.billing_interval, Some(&current)).await?;
    let quantity = change
        .quantity
        .unwrap_or(if target.pricing == Pricing::PerSeat {
            sub.quantity
        } else {
            1
        });
    let unit_price = match change.unit_price {
        Some(price) => Some(price),
        None if target.id == sub.plan_id => sub.unit_price,
        None => None,
    };
    let new_amount = priced(
        &target,
        unit_price,
        quantity,
        current.currency,
        change.plan.field(),
    )?;
    let old_amount = period_amount(&current, sub.unit_price, sub.quantity)
        .ok_or_else(|| Error::Internal("period amount overflows".into()))?;
    let preview = change.preview;
    let mut f = SubscriptionFields::of(&sub);

    if target.id == sub.plan_id && quantity == sub.quantity && unit_price == sub.unit_price {
        if sub.pending_plan_id.is_none() {
            return Err(Error::Invalid {
                field: change.plan.field(),
                message: "the subscription already has this plan and quantity".into(),
            });
        }
        // Asking for what it has withdraws the pending downgrade.
        let subscription = if preview {
            sub
        } else {
            f.pending_plan_id = None;
            f.pending_quantity = None;
            f.pending_unit_price = None;
            let action = "subscription.pending_change_canceled";
            save(tx, actor, sub, f, action, None, now).await?
        };
        return Ok(PlanChangeOutcome {
            subscription,
            proration: Proration::none(current.currency),
            effective: Effective::Immediately,
            effective_date: today,
            preview,
        });
    }

    let decided = quote(
        in_trial_period(&sub),
        Terms {
            amount: old_amount,
            cycle: cycle_of(&current)?,
        },
        Terms {
            amount: new_amount,
            cycle: cycle_of(&target)?,
        },
        state.current_period(),
        today,
    )
    .map_err(|e| Error::Internal(e.to_string()))?;
    let (proration, effective, effective_date, action) = match decided {
        Quote::Now {
            on,
            lines,
            new_period,
        } => {
            let lines = lines
                .map(|(credit, charge)| {
                    vec![
                        prorated_line(credit, &current, sub.quantity),
                        prorated_line(charge, &target, quantity),
                    ]
                })
                .unwrap_or_default();
            f.plan_id = target.id;
            f.quantity = quantity;
            f.unit_price = unit_price;
            f.pending_plan_id = None;
            f.pending_quantity = None;
            f.pending_unit_price = None;
            if let Some(p) = new_period {
                f.current_period_start = p.start();
                f.current_period_end = p.end();
                f.billing_anchor_day = i64::from(p.start().day());
                f.next_billing_date = Some(p.end());
            }
            let mut proration = Proration::new(lines, current.currency);
            // The invoice of these lines gets the running discount as the invoice itself
            // will: a new period's invoice like every period invoice, a proration invoice
            // only a percentage (crate::coupons).
            proration.discounts = if new_period.is_some() {
                crate::coupons::period_discounts(&sub, current.currency, proration.total)?
            } else {
                crate::coupons::proration_discounts(&sub, current.currency, proration.total)?
            };
            (
                proration,
                Effective::Immediately,
                on,
                "subscription.plan_changed",
            )
        }
        Quote::AtPeriodEnd => {
            f.pending_plan_id = Some(target.id);
            f.pending_quantity = Some(quantity);
            f.pending_unit_price = unit_price;
            (
                Proration::none(current.currency),
                Effective::PeriodEnd,
                sub.current_period_end,
                "subscription.plan_change_scheduled",
            )
        }
    };
    let subscription = if preview {
        sub
    } else {
        let starts_new_period = f.current_period_start != sub.current_period_start;
        let after = save(tx, actor, sub, f, action, Some(&proration), now).await?;
        if effective == Effective::Immediately {
            invoice_upgrade(tx, actor, after.id, &proration, starts_new_period, now).await?;
        }
        after
    };
    Ok(PlanChangeOutcome {
        subscription,
        proration,
        effective,
        effective_date,
        preview,
    })
}

/// Invoices an upgrade applied now. Within the same cycle: the two proration lines (a negative
/// total goes to the balance instead). A cycle change begins a new period today, whose fee *is*
/// the charge line: one invoice for that period in advance, carrying the credit for the old
/// period's unused days (the charge line again would bill the new period twice).
async fn invoice_upgrade(
    tx: &mut Tx,
    actor: &Actor,
    subscription_id: uuid::Uuid,
    proration: &Proration,
    starts_new_period: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let updated = satang_store::subscriptions::lock(tx, subscription_id, Scope::All)
        .await?
        .ok_or(Error::NotFound)?;
    let lines = proration
        .lines
        .iter()
        .filter(|l| !starts_new_period || (l.kind == ProrationLineKind::Credit && l.amount != 0))
        .map(|l| NewLine {
            kind: "proration".into(),
            description: l.description.clone(),
            period_start: Some(l.period_start),
            period_end: Some(l.period_end),
            quantity: l.quantity,
            unit_amount: l.unit_amount,
            amount: l.amount,
        })
        .collect();
    if starts_new_period {
        crate::run::invoice_new_period(tx, actor, &updated, lines, now).await?;
    } else {
        crate::run::settle_proration(tx, actor, &updated, proration.currency, lines, now).await?;
    }
    Ok(())
}

/// One side of a change: what a period costs and how long a period is.
#[derive(Debug, Clone, Copy)]
struct Terms {
    amount: i64,
    cycle: BillingCycle,
}

/// When and at what cost a change applies.
#[derive(Debug, PartialEq, Eq)]
enum Quote {
    Now {
        /// The date the change counts from (today, within the current period).
        on: NaiveDate,
        lines: Option<(ProrationLine, ProrationLine)>,
        /// A new current period, when the cycle changes.
        new_period: Option<Period>,
    },
    AtPeriodEnd,
}

/// Decides how a change from `old` to `new` applies in `period` on `today` (see the module
/// documentation for the rules).
fn quote(
    trialing: bool,
    old: Terms,
    new: Terms,
    period: Period,
    today: NaiveDate,
) -> Result<Quote, ProrationError> {
    let on = today.clamp(period.start(), period.end());
    if trialing {
        return Ok(Quote::Now {
            on,
            lines: None,
            new_period: None,
        });
    }
    let same_cycle = old.cycle == new.cycle;
    // Per-month amounts compared without division: new/new_months ≥ old/old_months.
    let not_lower = i128::from(new.amount) * i128::from(old.cycle.months())
        >= i128::from(old.amount) * i128::from(new.cycle.months());
    if !not_lower {
        return Ok(Quote::AtPeriodEnd);
    }
    if same_cycle {
        let p = plan_change_lines(old.amount, new.amount, period.start(), period.end(), on)?;
        return Ok(Quote::Now {
            on,
            lines: Some((p.credit, p.charge)),
            new_period: None,
        });
    }
    let credit = unused_time_credit(old.amount, period.start(), period.end(), on)?;
    let fresh = Period::first(on, new.cycle)?;
    let charge = ProrationLine {
        kind: ProrationLineKind::Charge,
        amount: new.amount,
        period_start: fresh.start(),
        period_end: fresh.end(),
        remaining_days: fresh.days(),
        days_in_period: fresh.days(),
    };
    Ok(Quote::Now {
        on,
        lines: Some((credit, charge)),
        new_period: Some(fresh),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::test_support::d;

    fn monthly(amount: i64) -> Terms {
        Terms {
            amount,
            cycle: BillingCycle::monthly(),
        }
    }

    fn yearly(amount: i64) -> Terms {
        Terms {
            amount,
            cycle: BillingCycle::yearly(),
        }
    }

    fn january() -> Period {
        Period::new(d(2026, 1, 1), d(2026, 2, 1)).unwrap()
    }

    #[test]
    fn upgrades_now_with_two_lines() {
        // PRO ฿990 → TEAM 3 seats ฿1,170 on 16 January: 16 of 31 days remain.
        let q = quote(
            false,
            monthly(99_000),
            monthly(117_000),
            january(),
            d(2026, 1, 16),
        )
        .unwrap();
        let Quote::Now {
            on,
            lines: Some((credit, charge)),
            new_period: None,
        } = q
        else {
            panic!("expected an immediate change, got {q:?}");
        };
        assert_eq!(on, d(2026, 1, 16));
        // 99,000 × 16 / 31 = 51,096.8 → 51,097; 117,000 × 16 / 31 = 60,387.1 → 60,387.
        assert_eq!((credit.amount, charge.amount), (-51_097, 60_387));
        assert_eq!((charge.remaining_days, charge.days_in_period), (16, 31));
    }

    #[test]
    fn downgrades_wait_and_equal_prices_apply_now() {
        let jan = january();
        assert_eq!(
            quote(
                false,
                monthly(117_000),
                monthly(99_000),
                jan,
                d(2026, 1, 16)
            )
            .unwrap(),
            Quote::AtPeriodEnd
        );
        assert!(matches!(
            quote(false, monthly(99_000), monthly(99_000), jan, d(2026, 1, 16)).unwrap(),
            Quote::Now { lines: Some((c, p)), .. } if c.amount + p.amount == 0
        ));
    }

    #[test]
    fn trials_change_without_proration() {
        let q = quote(true, monthly(99_000), monthly(10), january(), d(2026, 1, 5)).unwrap();
        assert_eq!(
            q,
            Quote::Now {
                on: d(2026, 1, 5),
                lines: None,
                new_period: None
            }
        );
    }

    #[test]
    fn cycle_changes_compare_per_month() {
        let jan = january();
        // Yearly ฿9,900 is ฿825 a month: cheaper than monthly ฿990, so it waits.
        assert_eq!(
            quote(false, monthly(99_000), yearly(990_000), jan, d(2026, 1, 16)).unwrap(),
            Quote::AtPeriodEnd
        );
        // Yearly ENTERPRISE from monthly PRO: a new year starts on the change day.
        let q = quote(
            false,
            monthly(99_000),
            yearly(9_900_000),
            jan,
            d(2026, 1, 16),
        )
        .unwrap();
        let Quote::Now {
            lines: Some((credit, charge)),
            new_period: Some(p),
            ..
        } = q
        else {
            panic!("expected an immediate change, got {q:?}");
        };
        assert_eq!(credit.amount, -51_097);
        assert_eq!(charge.amount, 9_900_000);
        assert_eq!((p.start(), p.end()), (d(2026, 1, 16), d(2027, 1, 16)));
        assert_eq!(
            (charge.period_start, charge.period_end),
            (p.start(), p.end())
        );
    }

    #[test]
    fn dates_outside_the_period_are_clamped() {
        let jan = january();
        // A subscription starting later is changed as from its first day: the whole amounts.
        let q = quote(false, monthly(100), monthly(300), jan, d(2025, 12, 20)).unwrap();
        assert!(
            matches!(q, Quote::Now { lines: Some((c, p)), .. } if c.amount == -100 && p.amount == 300)
        );
        let q = quote(false, monthly(100), monthly(300), jan, d(2026, 3, 1)).unwrap();
        assert!(
            matches!(q, Quote::Now { lines: Some((c, p)), .. } if c.amount == 0 && p.amount == 0)
        );
    }

    #[test]
    fn more_seats_on_the_same_plan_is_an_upgrade() {
        // 3 → 5 seats at ฿390 a seat on 16 January.
        let q = quote(
            false,
            monthly(3 * 39_000),
            monthly(5 * 39_000),
            january(),
            d(2026, 1, 16),
        )
        .unwrap();
        let Quote::Now {
            lines: Some((credit, charge)),
            ..
        } = q
        else {
            panic!("expected an immediate change, got {q:?}");
        };
        assert!(charge.amount + credit.amount > 0);
        // Fewer seats waits for the period end.
        assert_eq!(
            quote(
                false,
                monthly(5 * 39_000),
                monthly(3 * 39_000),
                january(),
                d(2026, 1, 16)
            )
            .unwrap(),
            Quote::AtPeriodEnd
        );
    }
}
