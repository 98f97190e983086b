//! Billing thresholds (SPEC §2.12): a subscription may set `billing_threshold` (minor units);
//! when the amount of its unbilled usage in the current period reaches it, the usage so far is
//! invoiced at once, and the period's end invoice bills only the rest.
//!
//! Decisions:
//! - **What is unbilled**: each metric's usage of the period is priced as a whole (included
//!   units, tiers) and the price of what earlier threshold invoices of the period counted is
//!   taken off ([`satang_domain::usage::MeteredPrice::amount_after`]), so however many invoices
//!   a period gets, they add up to the price of its whole usage. What an invoice counted is kept
//!   per metric in `usage_billed`, written in the transaction that issues it.
//! - **Never twice**: the check and the invoice run in one transaction that first locks the
//!   subscription row — as the billing run's chunk does before it bills the period's end — and
//!   reads the usage and what was billed only under that lock. Two ingestions crossing the
//!   threshold at once, or an ingestion and the billing run, queue on the row; the second sees
//!   the first's `usage_billed` rows (or the next period) and bills nothing, or only what is new.
//! - **When**: right after an ingestion commits (like the usage alerts), and at the start of each
//!   billing run for every subscription with a threshold (a check missed after an ingestion — a
//!   crash between the two — is caught up there).
//! - **The invoice**: usage lines only (`kind: usage`), `billing_reason: subscription_cycle`
//!   without a period key (the invoices table only admits the four reasons of §2.6), no MRR; a
//!   percent-off discount running on the subscription applies to it as to the period invoice's
//!   usage, an amount-off one stays with the period invoice. Finalised at once (number, credit,
//!   `invoice.finalized`), queued for collection when the subscription is charged automatically.
//!   Trials are free: a subscription in its trial is never threshold-invoiced.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use satang_domain::{Status, bangkok_date};
use satang_store::audit::{self, Actor, Change};
use satang_store::invoices::{self, Invoice, InvoiceOrigin};
use satang_store::subscriptions::{self, Subscription};
use satang_store::{Db, Scope, Tx, plans, usage, usage_billed};

use crate::invoicing::{draft_fields, finalize_invoice};
use crate::run::{bangkok_midnight, in_trial, metered, schedule_if_automatic, usage_parts};
use crate::subscriptions::record_change;
use crate::{BillingSettings, Error, Result};

/// The highest threshold accepted (10^15 minor units).
pub const MAX_THRESHOLD: i64 = 1_000_000_000_000_000;

/// Sets (`Some`) or clears (`None`) the billing threshold of `sub`, locked by the caller in
/// `tx`; records `subscription.billing_threshold_set` and emits `subscription.updated`. A
/// threshold is a positive amount up to 10^15; a canceled subscription cannot get one. Usage
/// already past a new threshold is invoiced by the next ingestion or billing run.
pub async fn set_billing_threshold(
    tx: &mut Tx,
    actor: &Actor,
    sub: Subscription,
    threshold: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    if let Some(t) = threshold
        && !(1..=MAX_THRESHOLD).contains(&t)
    {
        return Err(Error::Invalid {
            field: "billing_threshold",
            message: "must be a positive whole number of minor units up to 10^15, or null".into(),
        });
    }
    if sub.status == Status::Canceled {
        return Err(Error::InvalidState(
            "a canceled subscription cannot have a billing threshold".into(),
        ));
    }
    let after = subscriptions::set_billing_threshold(tx, sub.id, threshold, now).await?;
    record_change(
        tx,
        actor,
        &sub,
        &after,
        "subscription.billing_threshold_set",
        None,
        now,
    )
    .await?;
    Ok(after)
}

/// Checks each of `subscription_ids` against its billing threshold and issues the threshold
/// invoices that are due, each in its own transaction (see the module's notes). Returns the
/// invoices issued. A subscription whose check fails is logged and left for the next ingestion
/// or billing run; the others are still checked.
pub async fn check_billing_thresholds(
    db: &Db,
    actor: &Actor,
    subscription_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<Invoice>> {
    let mut issued = Vec::new();
    for &id in subscription_ids {
        match invoice_if_reached(db, actor, id, now).await {
            Ok(Some(invoice)) => issued.push(invoice),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(subscription = %id, error = %e, "billing threshold not checked")
            }
        }
    }
    Ok(issued)
}

/// [`check_billing_thresholds`] over every billable subscription that has a threshold: the
/// billing run's catch-up, in pages.
pub async fn check_all_billing_thresholds(
    db: &Db,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<Invoice>> {
    const PAGE: i64 = 500;
    let mut issued = Vec::new();
    let mut after = None;
    loop {
        let ids = subscriptions::with_billing_threshold(db, after, PAGE).await?;
        let Some(&last) = ids.last() else {
            break;
        };
        issued.extend(check_billing_thresholds(db, actor, &ids, now).await?);
        after = Some(last);
    }
    Ok(issued)
}

/// One subscription's check, in one transaction holding its row: `None` when it has no
/// threshold, is not billable (`trialing`, `paused`, `canceled`, in its trial), its period has
/// ended (the run's period invoice bills it) or its unbilled usage amount is below the
/// threshold.
async fn invoice_if_reached(
    db: &Db,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Invoice>> {
    // A first look without the lock: a subscription whose period has ended is the run's, and
    // locking it here would make a billing run racing this check skip it (PostgreSQL's claim
    // skips locked rows) and leave its period invoice for the next run.
    let today = bangkok_date(now);
    match subscriptions::find(db, id, Scope::All).await? {
        Some(sub) if eligible(&sub, today).is_some() => {}
        _ => return Ok(None),
    }
    let mut tx = db.begin().await?;
    let Some(sub) = subscriptions::lock(&mut tx, id, Scope::All).await? else {
        return Ok(None);
    };
    // Again under the lock: the run may have rolled the period on meanwhile.
    let Some(threshold) = eligible(&sub, today) else {
        return Ok(None);
    };
    let plan = plans::find_by_id_in(&mut tx, sub.plan_id)
        .await?
        .ok_or_else(|| Error::Internal(format!("subscription {} without its plan", sub.id)))?;
    let prices = metered(&plan);
    if prices.is_empty() {
        return Ok(None);
    }
    let used = usage::totals(
        &mut tx,
        sub.id,
        bangkok_midnight(sub.current_period_start),
        bangkok_midnight(sub.current_period_end),
    )
    .await?;
    let billed = usage_billed::billed(&mut tx, sub.id, sub.current_period_start).await?;
    let parts = usage_parts(&sub, &prices, used, &billed)?;
    let unbilled = parts
        .iter()
        .try_fold(0_i64, |sum, (line, _)| sum.checked_add(line.amount))
        .ok_or_else(|| Error::Internal("unbilled usage overflows".into()))?;
    if !reached(unbilled, threshold) {
        return Ok(None);
    }
    let (lines, parts): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    let settings = BillingSettings::load_in(&mut tx).await?;
    let discounts = crate::coupons::proration_discounts(&sub, plan.currency, unbilled)?;
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount).collect();
    let f = draft_fields(plan.currency, discounts, &amounts, &settings)?;
    let origin = InvoiceOrigin {
        customer_id: sub.customer_id,
        subscription_id: Some(sub.id),
        // No period key: it never meets the period's own invoice on the one-per-period key.
        period_start: None,
        period_end: None,
        billing_reason: "subscription_cycle".into(),
        mrr: 0,
    };
    let Some(draft) = invoices::insert(&mut tx, &origin, f, &lines, now).await? else {
        return Ok(None);
    };
    let issued = finalize_invoice(&mut tx, actor, &draft, &settings, now).await?;
    schedule_if_automatic(&mut tx, &sub, &issued, now).await?;
    usage_billed::record(
        &mut tx,
        issued.id,
        sub.id,
        sub.current_period_start,
        &parts,
        now,
    )
    .await?;
    let change = Change {
        action: "subscription.billing_threshold_reached",
        entity_type: "subscription",
        entity_id: sub.id.to_string(),
        before: None,
        after: Some(json!({
            "invoice_id": issued.id,
            "invoice_number": issued.number,
            "billing_threshold": threshold,
            "unbilled_amount": unbilled,
            "period_start": sub.current_period_start,
            "period_end": sub.current_period_end,
            "usage": parts.iter().map(|p| json!({
                "metric": p.metric,
                "quantity_from": p.quantity_from,
                "quantity_to": p.quantity_to,
                "amount": p.amount,
            })).collect::<Vec<_>>(),
        })),
    };
    audit::record(&mut tx, actor, change, now).await?;
    tx.commit().await?;
    Ok(Some(issued))
}

/// The threshold of a subscription that may get a threshold invoice on `today`: it has one,
/// is billable (`active`, `past_due`), out of its trial, and its current period has not ended
/// (a period that has ended is the billing run's: its end invoice takes the usage).
pub fn eligible(sub: &Subscription, today: chrono::NaiveDate) -> Option<i64> {
    let billable = matches!(sub.status, Status::Active | Status::PastDue) && !in_trial(sub);
    sub.billing_threshold
        .filter(|_| billable && sub.current_period_end > today)
}

/// Whether an unbilled usage amount calls for a threshold invoice: it has reached the
/// threshold (a zero amount never does).
pub fn reached(unbilled: i64, threshold: i64) -> bool {
    unbilled > 0 && unbilled >= threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_reached_at_its_amount_and_never_by_nothing() {
        assert!(!reached(99_999, 100_000));
        assert!(reached(100_000, 100_000));
        assert!(reached(250_000, 100_000));
        assert!(!reached(0, 1));
    }

    #[test]
    fn only_a_live_paid_period_with_a_threshold_is_eligible() {
        use crate::subscriptions::test_support::{d, january_subscription};
        let mut sub = january_subscription();
        let mid = d(2026, 1, 15);
        assert_eq!(eligible(&sub, mid), None, "no threshold");
        sub.billing_threshold = Some(100_000);
        assert_eq!(eligible(&sub, mid), Some(100_000));
        assert_eq!(eligible(&sub, d(2026, 2, 1)), None, "the period has ended");
        sub.status = Status::PastDue;
        assert_eq!(eligible(&sub, mid), Some(100_000));
        for status in [Status::Paused, Status::Canceled, Status::Trialing] {
            sub.status = status;
            assert_eq!(eligible(&sub, mid), None, "{status:?}");
        }
        sub.status = Status::Active;
        sub.trial_end = Some(sub.current_period_end);
        assert_eq!(eligible(&sub, mid), None, "a period ending its trial");
    }
}
