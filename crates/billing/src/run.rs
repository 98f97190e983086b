//! The billing run: invoices every subscription whose `next_billing_date` has come.
//!
//! Fees are billed in advance. When a subscription's current period (or trial) ends, one step
//! rolls it into the next period and issues that period's invoice — `subscription_create` for
//! the first paid period after a trial, `subscription_cycle` afterwards — finalised at once
//! (open, numbered). A step is **one transaction**: the subscription row is locked, the invoice
//! inserted and finalised, the subscription advanced, the audit events written, then commit. A
//! crash loses the whole step or nothing, so the next run redoes exactly what is missing.
//!
//! Guarantees:
//! - **At most one invoice per subscription and period**, held by the database: the unique key
//!   `invoices_one_per_period (subscription_id, period_start)`. An insert that meets it inserts
//!   nothing (`ON CONFLICT DO NOTHING`) and the step is counted as a skipped duplicate.
//! - **Two processes share the work**: due ids are read in pages, and each subscription is
//!   locked with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so a row another process is billing is
//!   skipped, and re-checked as due after the lock (a stale page never bills twice). SQLite has
//!   one writer and its transactions are IMMEDIATE.
//! - A subscription behind by several periods (the clock moved far) gets one invoice per
//!   period, oldest first. `paused` and `canceled` subscriptions are never picked;
//!   `cancel_at_period_end` ends the subscription on its period end instead of invoicing; a
//!   pending downgrade (`pending_change`) applies at the boundary and the new period is invoiced
//!   on the new terms.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use satang_domain::period::add_cycle;
use satang_domain::{BillingCycle, Interval, Period, Status, SubscriptionState, bangkok_date};
use satang_store::audit::{self, Actor, Change};
use satang_store::clock::Clock;
use satang_store::invoices::{self, InvoiceFields, InvoiceOrigin, NewLine};
use satang_store::plans::{self, Plan};
use satang_store::subscriptions::{self, Subscription, SubscriptionFields};
use satang_store::{Db, Tx};

use crate::invoicing::{apply_totals, finalize_invoice, totals};
use crate::{BillingSettings, Error, Result};

/// Due subscriptions read per page.
const PAGE: i64 = 100;
/// A subscription further behind than this many periods is left for the next run (a guard
/// against a loop on corrupt dates, not a business limit).
const MAX_PERIODS_PER_RUN: u32 = 240;

/// What one run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// The Bangkok date the run billed up to (inclusive).
    pub date: Option<NaiveDate>,
    /// Invoices issued, in order.
    pub invoice_ids: Vec<Uuid>,
    pub invoices_created: u32,
    /// Subscriptions ended at their period end (`cancel_at_period_end`).
    pub subscriptions_canceled: u32,
    /// Periods whose invoice already existed (another process, or an earlier run).
    pub skipped_duplicates: u32,
    /// Subscriptions left for the next run because a step failed (logged).
    pub failed: u32,
    /// The run was asked to stop before it had looked at everything due.
    pub stopped_early: bool,
    /// `subscription.trial_will_end` notices emitted (see [`crate::notices`]).
    pub trial_notices: u32,
}

enum Step {
    Invoiced(Uuid),
    Duplicate,
    Canceled,
    /// Not due any more, or being billed by another process right now.
    NotDue,
}

/// Bills everything due on the Bangkok date of `now`, as the system.
pub async fn run_billing(db: &Db, clock: &Clock, now: DateTime<Utc>) -> Result<RunReport> {
    let actor = Actor {
        request_id: Some("billing-run".into()),
        ..Actor::default()
    };
    run_billing_until(db, clock, now, &actor, &|| false).await
}

/// [`run_billing`] on behalf of `actor`, checking `stop` between steps (a scheduler shutting
/// down finishes the current step, never half of one).
pub async fn run_billing_until(
    db: &Db,
    clock: &Clock,
    now: DateTime<Utc>,
    actor: &Actor,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<RunReport> {
    let today = bangkok_date(now);
    let mut report = RunReport {
        date: Some(today),
        ..RunReport::default()
    };
    let mut after = None;
    loop {
        let ids = subscriptions::due_ids(db, today, after, PAGE).await?;
        let Some(last) = ids.last().copied() else {
            break;
        };
        after = Some(last);
        for id in ids {
            for _ in 0..MAX_PERIODS_PER_RUN {
                if stop() {
                    report.stopped_early = true;
                    return Ok(report);
                }
                match bill_one_period(db, id, today, actor, clock.now()).await {
                    Ok(Step::Invoiced(invoice)) => {
                        report.invoices_created += 1;
                        report.invoice_ids.push(invoice);
                    }
                    Ok(Step::Duplicate) => report.skipped_duplicates += 1,
                    Ok(Step::Canceled) => {
                        report.subscriptions_canceled += 1;
                        break;
                    }
                    Ok(Step::NotDue) => break,
                    Err(e) => {
                        tracing::error!(subscription = %id, error = %e, "billing step failed");
                        report.failed += 1;
                        break;
                    }
                }
            }
        }
    }
    // Warnings ahead of trial ends ride on the same run; a failure here bills nothing less.
    match crate::notices::notify_trials_ending(db, actor, now).await {
        Ok(n) => report.trial_notices = n,
        Err(e) => tracing::error!(error = %e, "trial-ending notices failed"),
    }
    Ok(report)
}

/// One period of one subscription, in one transaction.
async fn bill_one_period(
    db: &Db,
    id: Uuid,
    today: NaiveDate,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Step> {
    let mut tx = db.begin().await?;
    let Some(sub) = subscriptions::lock_due(&mut tx, id, today).await? else {
        return Ok(Step::NotDue);
    };
    let mut f = SubscriptionFields::of(&sub);
    if sub.cancel_at_period_end {
        f.status = Status::Canceled.as_str().into();
        f.canceled_at = Some(now);
        f.cancel_at_period_end = false;
        f.next_billing_date = None;
        f.pending_plan_id = None;
        f.pending_quantity = None;
        save_subscription(&mut tx, actor, sub, f, "subscription.canceled", now).await?;
        tx.commit().await?;
        return Ok(Step::Canceled);
    }

    // A pending downgrade takes effect at the boundary: the new period is on the new terms.
    let plan_id = sub.pending_plan_id.unwrap_or(sub.plan_id);
    let quantity = sub.pending_quantity.unwrap_or(sub.quantity);
    let plan = plans::find_by_id_in(&mut tx, plan_id)
        .await?
        .ok_or_else(|| Error::Internal(format!("subscription {id} without its plan")))?;
    let anchor = u32::try_from(sub.billing_anchor_day).unwrap_or(1);
    let start = sub.current_period_end;
    let end =
        add_cycle(start, cycle_of(&plan)?, anchor).map_err(|e| Error::Internal(e.to_string()))?;
    let in_trial = sub.status == Status::Trialing.as_str() || sub.trial_end == Some(start);
    let state = lifecycle_state(&sub)?;
    let next = if sub.status == Status::Trialing.as_str() {
        state.end_trial(end)
    } else {
        state.end_period(end)
    }
    .map_err(|e| Error::Internal(format!("subscription {id}: {e}")))?;
    f.status = next.status().as_str().into();
    f.current_period_start = start;
    f.current_period_end = end;
    f.next_billing_date = Some(end);
    f.plan_id = plan.id;
    f.quantity = quantity;
    f.pending_plan_id = None;
    f.pending_quantity = None;

    let reason = if in_trial {
        "subscription_create"
    } else {
        "subscription_cycle"
    };
    // Usage of the period that just ended is billed in arrears, at the prices of the plan it was
    // used under (trials are free).
    let usage_lines = if in_trial {
        Vec::new()
    } else {
        let used_plan = plans::find_by_id_in(&mut tx, sub.plan_id)
            .await?
            .ok_or_else(|| Error::Internal(format!("subscription {id} without its plan")))?;
        arrears_lines(&mut tx, &sub, &used_plan).await?
    };
    let step = match insert_period_invoice(
        &mut tx,
        &sub,
        &plan,
        quantity,
        start,
        end,
        reason,
        usage_lines,
        now,
    )
    .await?
    {
        Some(draft) => {
            let settings = BillingSettings::load_in(&mut tx).await?;
            let issued = finalize_invoice(&mut tx, actor, &draft, &settings, now).await?;
            schedule_if_automatic(&mut tx, &sub, &issued, now).await?;
            Step::Invoiced(issued.id)
        }
        None => Step::Duplicate,
    };
    save_subscription(&mut tx, actor, sub, f, "subscription.renewed", now).await?;
    tx.commit().await?;
    Ok(step)
}

/// Invoices the first period of a subscription that starts without a trial, inside the
/// transaction that creates it: fees are billed in advance, and the billing run only ever bills
/// the periods that follow (`next_billing_date` is the first period's end). Returns the open,
/// numbered invoice, or `None` when the period already has one.
pub async fn invoice_first_period(
    tx: &mut Tx,
    actor: &Actor,
    sub: &Subscription,
    now: DateTime<Utc>,
) -> Result<Option<invoices::Invoice>> {
    invoice_new_period(tx, actor, sub, Vec::new(), now).await
}

/// Invoices the period a subscription has just begun (its current period) in advance, with
/// `extra_lines` on the same invoice: an upgrade that changes the cycle starts a new period on
/// the change day, and its one invoice carries the new period's fee and the credit for the
/// unused days of the old one. Returns `None` when that period already has its invoice.
pub async fn invoice_new_period(
    tx: &mut Tx,
    actor: &Actor,
    sub: &Subscription,
    extra_lines: Vec<NewLine>,
    now: DateTime<Utc>,
) -> Result<Option<invoices::Invoice>> {
    let plan = plans::find_by_id_in(tx, sub.plan_id)
        .await?
        .ok_or_else(|| Error::Internal(format!("subscription {} without its plan", sub.id)))?;
    let draft = insert_period_invoice(
        tx,
        sub,
        &plan,
        sub.quantity,
        sub.current_period_start,
        sub.current_period_end,
        "subscription_create",
        extra_lines,
        now,
    )
    .await?;
    let Some(draft) = draft else {
        return Ok(None);
    };
    let settings = BillingSettings::load_in(tx).await?;
    let issued = finalize_invoice(tx, actor, &draft, &settings, now).await?;
    schedule_if_automatic(tx, sub, &issued, now).await?;
    Ok(Some(issued))
}

/// Settles the proration of a plan change applied now: a positive total is invoiced at once
/// (`proration`, finalised, collected like the subscription's other invoices); a negative one
/// (the customer is owed) goes to the customer's credit balance, which the next invoice
/// consumes. Returns the invoice when one was issued.
pub async fn settle_proration(
    tx: &mut Tx,
    actor: &Actor,
    sub: &Subscription,
    currency: &str,
    lines: Vec<NewLine>,
    now: DateTime<Utc>,
) -> Result<Option<invoices::Invoice>> {
    let total: i64 = lines.iter().map(|l| l.amount).sum();
    if total < 0 {
        invoices::adjust_customer_balance(tx, sub.customer_id, -total, now).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "customer.credited",
                entity_type: "customer",
                entity_id: sub.customer_id.to_string(),
                before: None,
                after: Some(json!({"amount": -total, "reason": "proration",
                                   "subscription_id": sub.id})),
            },
            now,
        )
        .await?;
        return Ok(None);
    }
    if total == 0 {
        return Ok(None);
    }
    let settings = BillingSettings::load_in(tx).await?;
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount).collect();
    let t = totals(
        &amounts,
        0,
        settings.vat_rate_bps,
        settings.prices_include_vat,
    )?;
    let mut f = InvoiceFields {
        status: "draft".into(),
        currency: currency.into(),
        ..InvoiceFields::default()
    };
    apply_totals(
        &mut f,
        &t,
        settings.vat_rate_bps,
        settings.prices_include_vat,
    );
    let origin = InvoiceOrigin {
        customer_id: sub.customer_id,
        subscription_id: Some(sub.id),
        // Lines carry their own periods; no period key, so it never meets a cycle invoice.
        period_start: None,
        period_end: None,
        billing_reason: "proration".into(),
        mrr: 0,
    };
    let Some(draft) = invoices::insert(tx, &origin, f, &lines, now).await? else {
        return Ok(None);
    };
    let issued = finalize_invoice(tx, actor, &draft, &settings, now).await?;
    schedule_if_automatic(tx, sub, &issued, now).await?;
    Ok(Some(issued))
}

/// The draft invoice of one period's fixed fee (then `extra_lines`: usage in arrears, or a
/// cycle change's credit), or `None` when that period is already invoiced.
#[allow(clippy::too_many_arguments)]
async fn insert_period_invoice(
    tx: &mut Tx,
    sub: &Subscription,
    plan: &Plan,
    quantity: i64,
    start: NaiveDate,
    end: NaiveDate,
    reason: &str,
    extra_lines: Vec<NewLine>,
    now: DateTime<Utc>,
) -> Result<Option<invoices::Invoice>> {
    let per_seat = plan.pricing == "per_seat";
    let line_quantity = if per_seat { quantity } else { 1 };
    let amount = satang_domain::vat::line_amount(line_quantity, plan.price)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let last_day = end.checked_sub_days(Days::new(1)).unwrap_or(end);
    let seats = if per_seat {
        format!(" × {quantity} seats")
    } else {
        String::new()
    };
    let line = NewLine {
        kind: "subscription".into(),
        description: format!(
            "{} ({}, {}){seats}, {start} – {last_day}",
            plan.name_en, plan.code, plan.billing_interval
        ),
        period_start: Some(start),
        period_end: Some(end),
        quantity: line_quantity,
        unit_amount: plan.price,
        amount,
    };
    let mut lines = vec![line];
    lines.extend(extra_lines);
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount).collect();
    let settings = BillingSettings::load_in(tx).await?;
    let t = totals(
        &amounts,
        0,
        settings.vat_rate_bps,
        settings.prices_include_vat,
    )?;
    let mut f = InvoiceFields {
        status: "draft".into(),
        currency: plan.currency.clone(),
        ..InvoiceFields::default()
    };
    apply_totals(
        &mut f,
        &t,
        settings.vat_rate_bps,
        settings.prices_include_vat,
    );
    // The fee spread over the months of the period (a yearly fee ÷ 12), half-up.
    let months = i128::from(cycle_of(plan)?.months());
    let mrr = satang_domain::money::round_half_up_div(i128::from(amount), months.max(1))
        .map_err(|e| Error::Internal(e.to_string()))?;
    let origin = InvoiceOrigin {
        mrr,
        customer_id: sub.customer_id,
        subscription_id: Some(sub.id),
        period_start: Some(start),
        period_end: Some(end),
        billing_reason: reason.into(),
    };
    Ok(invoices::insert(tx, &origin, f, &lines, now).await?)
}

async fn save_subscription(
    tx: &mut Tx,
    actor: &Actor,
    before: Subscription,
    f: SubscriptionFields,
    action: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let after = subscriptions::update(tx, before.id, f, now).await?;
    // A renewal that applied a pending downgrade is a plan change the customer is told about.
    let change = if action == "subscription.renewed"
        && (after.plan_id != before.plan_id || after.quantity != before.quantity)
    {
        "subscription.plan_changed"
    } else {
        action
    };
    satang_store::outbox::emit(
        tx,
        satang_store::outbox::NewEvent {
            event_type: "subscription.updated",
            entity_type: "subscription",
            entity_id: after.id.to_string(),
            customer_id: Some(after.customer_id),
            payload: json!({"id": after.id, "status": after.status, "plan_id": after.plan_id,
                            "quantity": after.quantity,
                            "current_period_start": after.current_period_start,
                            "current_period_end": after.current_period_end,
                            "change": change}),
        },
        now,
    )
    .await?;
    let view = |s: &Subscription| {
        json!({"status": s.status, "plan_id": s.plan_id, "quantity": s.quantity,
               "current_period_start": s.current_period_start,
               "current_period_end": s.current_period_end,
               "next_billing_date": s.next_billing_date, "canceled_at": s.canceled_at})
    };
    audit::record(
        tx,
        actor,
        Change {
            action,
            entity_type: "subscription",
            entity_id: before.id.to_string(),
            before: Some(view(&before)),
            after: Some(view(&after)),
        },
        now,
    )
    .await?;
    Ok(())
}

/// An invoice of a subscription charged automatically is queued for collection at once.
async fn schedule_if_automatic(
    tx: &mut Tx,
    sub: &Subscription,
    issued: &invoices::Invoice,
    now: DateTime<Utc>,
) -> Result<()> {
    if sub.collection_method == "charge_automatically" && issued.status == "open" {
        satang_store::payment_methods::schedule_collection(tx, issued.id, now).await?;
    }
    Ok(())
}

/// Midnight in Bangkok at the start of `date`, in UTC.
fn bangkok_midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc() - chrono::TimeDelta::hours(7))
        .unwrap_or_default()
}

/// One line per metered metric the plan prices, for the usage of the subscription's current
/// period (summed from the usage events; included units free, tiers graduated).
async fn arrears_lines(tx: &mut Tx, sub: &Subscription, plan: &Plan) -> Result<Vec<NewLine>> {
    let prices: Vec<satang_domain::usage::MeteredPrice> =
        serde_json::from_value(plan.metered.0.clone()).unwrap_or_default();
    if prices.is_empty() {
        return Ok(Vec::new());
    }
    let (start, end) = (sub.current_period_start, sub.current_period_end);
    let used =
        satang_store::usage::totals(tx, sub.id, bangkok_midnight(start), bangkok_midnight(end))
            .await?;
    let last_day = end.checked_sub_days(Days::new(1)).unwrap_or(end);
    let mut lines = Vec::new();
    for total in used {
        let Some(price) = prices.iter().find(|p| p.metric == total.metric) else {
            continue;
        };
        let amount = price
            .amount(total.quantity)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let included = price.included_units.unwrap_or(0);
        lines.push(NewLine {
            kind: "usage".into(),
            description: format!(
                "{}: {} used ({} included), {start} – {last_day}",
                total.metric, total.quantity, included
            ),
            period_start: Some(start),
            period_end: Some(end),
            quantity: 1,
            unit_amount: amount,
            amount,
        });
    }
    Ok(lines)
}

fn cycle_of(plan: &Plan) -> Result<BillingCycle> {
    let interval = if plan.billing_interval == "year" {
        Interval::Year
    } else {
        Interval::Month
    };
    u32::try_from(plan.interval_count)
        .ok()
        .and_then(|n| BillingCycle::new(interval, n).ok())
        .ok_or_else(|| Error::Internal(format!("plan {} has an invalid cycle", plan.id)))
}

fn lifecycle_state(sub: &Subscription) -> Result<SubscriptionState> {
    let corrupt = |what: String| Error::Internal(format!("subscription {}: {what}", sub.id));
    let status: Status = sub
        .status
        .parse()
        .map_err(|_| corrupt("unknown status".into()))?;
    let period = Period::new(sub.current_period_start, sub.current_period_end)
        .map_err(|e| corrupt(e.to_string()))?;
    SubscriptionState::restore(
        status,
        period,
        sub.paused_at.map(bangkok_date),
        sub.cancel_at_period_end,
        sub.canceled_at.map(bangkok_date),
    )
    .map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_report_serialises_with_every_counter() {
        let r = RunReport::default();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["invoices_created"], 0);
        assert_eq!(v["stopped_early"], false);
    }
}
