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
//! - **Gapless numbers**: a chunk takes exactly as many numbers as it issues invoices, in one
//!   increment of the counter row, which stays locked until the chunk commits (a rollback
//!   returns the whole block).
//! - **Two processes share the work**: a chunk claims the next due subscriptions in id order
//!   with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so rows another process is billing are
//!   skipped, and each is re-checked as due under its lock (a stale read never bills twice).
//!   The same holds for the [`CHUNKS_IN_FLIGHT`] chunks one run bills at once on PostgreSQL.
//!   SQLite has one writer and its transactions are IMMEDIATE.
//! - A subscription behind by several periods (the clock moved far) gets one invoice per
//!   period, oldest first. `paused` and `canceled` subscriptions are never picked;
//!   `cancel_at_period_end` ends the subscription on its period end instead of invoicing; a
//!   pending downgrade (`pending_change`) applies at the boundary and the new period is invoiced
//!   on the new terms.

use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use satang_domain::{Currency, Pricing, bangkok_date};
use satang_store::audit::Actor;
use satang_store::clock::Clock;
use satang_store::invoices::{self, InvoiceFields, InvoiceOrigin, NewLine};
use satang_store::plans::{self, Plan};
use satang_store::subscriptions::Subscription;
use satang_store::usage::MetricTotal;
use satang_store::{Db, Tx};

use crate::invoicing::{draft_fields, finalize_invoice};
use crate::subscriptions::{credit_unused_time, cycle_of};
use crate::{BillingSettings, Error, Result};

mod chunk;

pub(crate) use chunk::{in_trial, metered};

/// Subscriptions billed per transaction. Big enough that the fixed statements of a chunk cost
/// little per invoice, small enough that a chunk holds its locks (and SQLite's writer) for
/// tens of milliseconds, not seconds.
pub const CHUNK: usize = 500;
/// A subscription further behind than this many periods is left for the next run (a guard
/// against a loop on corrupt dates, not a business limit).
const MAX_PERIODS_PER_RUN: u32 = 240;

/// What one run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// The Bangkok date the run billed up to (inclusive).
    pub date: Option<NaiveDate>,
    /// Invoices issued: in order within each chunk; with several chunks in flight the chunks
    /// are not in id order.
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
    /// Usage invoices issued mid-period for billing thresholds (see [`crate::thresholds`]).
    pub threshold_invoices: u32,
}

/// Chunks billed at the same time on PostgreSQL, each in its own transaction on its own
/// connection: while one chunk waits on the database another plans or writes. The claims skip
/// each other's rows; the chunks queue only on the invoice number counter, which a chunk takes
/// as late as it can. SQLite has one writer, so one chunk at a time there (as with a pool of
/// fewer than four connections: a run takes at most half of them).
pub const CHUNKS_IN_FLIGHT: usize = 3;

/// Bills everything due on the Bangkok date of `now`, as the system.
pub async fn run_billing(db: &Db, clock: &Clock, now: DateTime<Utc>) -> Result<RunReport> {
    let actor = Actor {
        request_id: Some("billing-run".into()),
        ..Actor::default()
    };
    run_billing_until(db, clock, now, &actor, Arc::new(|| false)).await
}

/// Asked between steps whether the run should stop (shared by the run's tasks).
pub type StopCheck = Arc<dyn Fn() -> bool + Send + Sync>;

/// [`run_billing`] on behalf of `actor`, checking `stop` between steps (a scheduler shutting
/// down finishes the current step, never half of one).
///
/// The passes run as tasks of their own, so that one chunk's work in this process (planning,
/// building its rows) never waits for another's on the same thread — in particular not the
/// chunk that holds the invoice number counter. Dropping the returned future aborts them; a
/// chunk cut off mid-way rolls back.
pub async fn run_billing_until(
    db: &Db,
    clock: &Clock,
    now: DateTime<Utc>,
    actor: &Actor,
    stop: StopCheck,
) -> Result<RunReport> {
    let today = bangkok_date(now);
    let mut report = RunReport {
        date: Some(today),
        ..RunReport::default()
    };
    // Grants past their expiry are marked so (with their event) before anything is billed; a
    // failure here bills nothing less (finalisation skips expired grants anyway).
    if let Err(e) = crate::credit_grants::expire_grants(db, actor, now).await {
        tracing::error!(error = %e, "expiring credit grants failed");
    }
    // Usage that reached a billing threshold and was not invoiced after its ingestion (a
    // crash between the two) is invoiced before the periods' ends are billed.
    match crate::thresholds::check_all_billing_thresholds(db, actor, now).await {
        Ok(issued) => report.threshold_invoices = issued.len() as u32,
        Err(e) => tracing::error!(error = %e, "checking billing thresholds failed"),
    }
    // At most half the pool, so requests served meanwhile still find a connection.
    let in_flight = CHUNKS_IN_FLIGHT.min((db.write_connections() / 2).max(1) as usize);
    let cursor = Arc::new(chunk::ClaimCursor::default());
    let mut passes = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        let (db, clock, actor) = (db.clone(), clock.clone(), actor.clone());
        let (stop, cursor) = (stop.clone(), cursor.clone());
        passes.spawn(async move { bill_due(&db, &clock, today, &actor, &*stop, &cursor).await });
    }
    while let Some(joined) = passes.join_next().await {
        let pass = joined.map_err(|e| Error::Internal(format!("billing pass: {e}")))??;
        report.invoices_created += pass.invoices_created;
        report.invoice_ids.extend(pass.invoice_ids);
        report.subscriptions_canceled += pass.subscriptions_canceled;
        report.skipped_duplicates += pass.skipped_duplicates;
        report.failed += pass.failed;
        report.stopped_early |= pass.stopped_early;
    }
    if report.stopped_early {
        return Ok(report);
    }
    // Warnings ahead of trial ends ride on the same run; a failure here bills nothing less.
    match crate::notices::notify_trials_ending(db, actor, now).await {
        Ok(n) => report.trial_notices = n,
        Err(e) => tracing::error!(error = %e, "trial-ending notices failed"),
    }
    // The business's per-day analytics take in the invoices just made, so that the first read
    // after a run does not do it; a failure here is caught up by the next read.
    if let Err(e) = satang_store::analytics::refresh_if_pending(db).await {
        tracing::error!(error = %e, "analytics refresh after the billing run failed");
    }
    Ok(report)
}

/// One of the run's passes over the due subscriptions: claims the next chunk after the shared
/// `cursor` and bills it, until nothing is left to claim.
async fn bill_due(
    db: &Db,
    clock: &Clock,
    today: NaiveDate,
    actor: &Actor,
    stop: &(dyn Fn() -> bool + Sync),
    cursor: &chunk::ClaimCursor,
) -> Result<RunReport> {
    let mut report = RunReport::default();
    loop {
        if stop() {
            report.stopped_early = true;
            return Ok(report);
        }
        let claim = chunk::Claim::Next(cursor);
        let Some(outcome) = bill_or_split(db, claim, today, actor, clock, &mut report).await?
        else {
            break;
        };
        // Subscriptions several periods behind get their next period at once, oldest first.
        let mut behind = outcome.still_due;
        let mut periods = 1;
        while !behind.is_empty() && periods < MAX_PERIODS_PER_RUN {
            periods += 1;
            let mut next = Vec::new();
            for ids in behind.chunks(CHUNK) {
                if stop() {
                    report.stopped_early = true;
                    return Ok(report);
                }
                let claim = chunk::Claim::Ids(ids);
                if let Some(outcome) =
                    bill_or_split(db, claim, today, actor, clock, &mut report).await?
                {
                    next.extend(outcome.still_due);
                }
            }
            behind = next;
        }
    }
    Ok(report)
}

/// Bills one chunk; when it fails after its claim, bills its subscriptions one at a time, so
/// only the ones that fail alone are left (logged, counted) for the next run. `None`: nothing
/// was due.
async fn bill_or_split(
    db: &Db,
    claim: chunk::Claim<'_>,
    today: NaiveDate,
    actor: &Actor,
    clock: &Clock,
    report: &mut RunReport,
) -> Result<Option<chunk::ChunkOutcome>> {
    match chunk::bill_chunk(db, claim, today, actor, clock.now()).await {
        Ok(outcome) if outcome.claimed.is_empty() => Ok(None),
        Ok(outcome) => {
            tally(report, &outcome);
            Ok(Some(outcome))
        }
        Err(failure) if failure.claimed.is_empty() => Err(failure.error),
        Err(failure) => {
            let claimed = failure.claimed;
            if claimed.len() == 1 {
                tracing::error!(subscription = %claimed[0], error = %failure.error,
                    "billing step failed");
                report.failed += 1;
                return Ok(Some(chunk::ChunkOutcome {
                    claimed,
                    ..Default::default()
                }));
            }
            tracing::warn!(subscriptions = claimed.len(), error = %failure.error,
                "billing chunk failed; billing its subscriptions one at a time");
            let mut all = chunk::ChunkOutcome::default();
            for id in &claimed {
                let claim = chunk::Claim::Ids(std::slice::from_ref(id));
                match chunk::bill_chunk(db, claim, today, actor, clock.now()).await {
                    Ok(outcome) => {
                        tally(report, &outcome);
                        all.still_due.extend(outcome.still_due);
                    }
                    Err(e) => {
                        tracing::error!(subscription = %id, error = %e.error,
                            "billing step failed");
                        report.failed += 1;
                    }
                }
            }
            all.claimed = claimed;
            Ok(Some(all))
        }
    }
}

fn tally(report: &mut RunReport, outcome: &chunk::ChunkOutcome) {
    report.invoices_created += outcome.invoice_ids.len() as u32;
    report.invoice_ids.extend(&outcome.invoice_ids);
    report.subscriptions_canceled += outcome.canceled;
    report.skipped_duplicates += outcome.duplicates;
}

/// The invoice the next billing run would issue for one subscription (SPEC §2.11), worked out
/// by the run's own planning ([`chunk::preview_invoice`]: the same reads, the same step) and
/// written nowhere. Its figures are those of the real invoice when the clock gets there with
/// nothing changed — except that the run bills a customer's subscriptions due the same day in
/// id order, each taking from the credit balance and grants what the ones before it left.
#[derive(Debug, Clone)]
pub struct UpcomingInvoice {
    pub origin: InvoiceOrigin,
    /// Status (`open`, or `paid` when credit covers it), totals, discounts, credit, due date
    /// and `issued_at` (the start of the billing day in Bangkok, or now when that has passed).
    pub fields: InvoiceFields,
    /// The period's fee, then the usage so far of the period that ends (metered plans).
    pub lines: Vec<NewLine>,
    /// What it would take from the customer's credit grants (promotional as a discount,
    /// prepaid as a payment).
    pub credits: Vec<crate::credit_grants::GrantUse>,
}

/// [`UpcomingInvoice`] of `sub` as the clock stands at `now`. A paused or canceled
/// subscription, one that ends at its period end, and a period already invoiced have none
/// (`InvalidState`, the API's 409). Opens a transaction only to read, and rolls it back.
pub async fn upcoming_invoice(
    db: &Db,
    sub: Subscription,
    now: DateTime<Utc>,
) -> Result<UpcomingInvoice> {
    use satang_domain::Status;
    let none = |why: &str| Err(Error::InvalidState(format!("no upcoming invoice: {why}")));
    match sub.status {
        Status::Paused => return none("the subscription is paused"),
        Status::Canceled => return none("the subscription is canceled"),
        _ => {}
    }
    if sub.cancel_at_period_end {
        return none("the subscription ends at the end of its period");
    }
    let Some(billing_date) = sub.next_billing_date else {
        return none("the subscription has no next billing date");
    };
    let today = billing_date.max(bangkok_date(now));
    let at = now.max(bangkok_midnight(billing_date));
    let mut tx = db.begin().await?;
    let planned = chunk::preview_invoice(&mut tx, sub, today, at).await;
    drop(tx);
    match planned? {
        Some((new, credits)) => Ok(UpcomingInvoice {
            origin: new.origin,
            fields: new.fields,
            lines: new.lines,
            credits,
        }),
        None => none("the next period is invoiced already"),
    }
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
        (sub.unit_price, sub.quantity),
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
    if let Some(discount) = crate::coupons::counted_discount(sub) {
        satang_store::coupons::use_periods(tx, &[discount], now).await?;
    }
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
    currency: Currency,
    lines: Vec<NewLine>,
    now: DateTime<Utc>,
) -> Result<Option<invoices::Invoice>> {
    let total: i64 = lines.iter().map(|l| l.amount).sum();
    if total < 0 {
        credit_unused_time(tx, actor, sub.customer_id, sub.id, -total, now).await?;
        return Ok(None);
    }
    if total == 0 {
        return Ok(None);
    }
    let settings = BillingSettings::load_in(tx).await?;
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount).collect();
    let discounts = crate::coupons::proration_discounts(sub, currency, total)?;
    let f = draft_fields(currency, discounts, &amounts, &settings)?;
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
    price: (Option<i64>, i64),
    start: NaiveDate,
    end: NaiveDate,
    reason: &str,
    extra_lines: Vec<NewLine>,
    now: DateTime<Utc>,
) -> Result<Option<invoices::Invoice>> {
    let settings = BillingSettings::load_in(tx).await?;
    let draft = period_draft(
        sub,
        plan,
        price,
        (start, end),
        reason,
        extra_lines,
        &settings,
    )?;
    Ok(invoices::insert(tx, &draft.origin, draft.fields, &draft.lines, now).await?)
}

/// One period's draft invoice before it is written: the fixed fee's line (then `extra_lines`),
/// the running discount of the subscription on them, its totals under the settings' VAT (on
/// subtotal − discount), and what it is about. Shared by the one-subscription
/// path above and the billing run's chunks.
pub(crate) struct PeriodDraft {
    pub lines: Vec<NewLine>,
    pub fields: InvoiceFields,
    pub origin: InvoiceOrigin,
}

/// `(unit_price, quantity)`: the negotiated price per period (per seat), if any, and the
/// quantity billed.
pub(crate) fn period_draft(
    sub: &Subscription,
    plan: &Plan,
    (unit_price, quantity): (Option<i64>, i64),
    (start, end): (NaiveDate, NaiveDate),
    reason: &str,
    extra_lines: Vec<NewLine>,
    settings: &BillingSettings,
) -> Result<PeriodDraft> {
    let price = unit_price.unwrap_or(plan.price);
    let (line, mrr) = period_line(plan, price, quantity, start, end)?;
    let mut lines = vec![line];
    lines.extend(extra_lines);
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount).collect();
    let subtotal = amounts
        .iter()
        .try_fold(0_i64, |sum, &a| sum.checked_add(a))
        .ok_or_else(|| Error::Internal("invoice subtotal overflows".into()))?;
    let discounts = crate::coupons::period_discounts(sub, plan.currency, subtotal)?;
    let fields = draft_fields(plan.currency, discounts, &amounts, settings)?;
    let origin = InvoiceOrigin {
        mrr,
        customer_id: sub.customer_id,
        subscription_id: Some(sub.id),
        period_start: Some(start),
        period_end: Some(end),
        billing_reason: reason.into(),
    };
    Ok(PeriodDraft {
        lines,
        fields,
        origin,
    })
}

/// The fixed fee line of a period (`price` × seats for per-seat plans; `price` is the plan's or
/// the subscription's negotiated one) and the MRR it stands for (the fee spread over the
/// months of the period — a yearly fee ÷ 12 — half-up). The MRR is before any discount.
fn period_line(
    plan: &Plan,
    price: i64,
    quantity: i64,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<(NewLine, i64)> {
    let per_seat = plan.pricing == Pricing::PerSeat;
    let line_quantity = if per_seat { quantity } else { 1 };
    let amount = satang_domain::vat::line_amount(line_quantity, price)
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
        unit_amount: price,
        amount,
    };
    let months = i128::from(cycle_of(plan)?.months());
    let mrr = satang_domain::money::round_half_up_div(i128::from(amount), months.max(1))
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok((line, mrr))
}

/// An invoice of a subscription charged automatically is queued for collection at once.
pub(crate) async fn schedule_if_automatic(
    tx: &mut Tx,
    sub: &Subscription,
    issued: &invoices::Invoice,
    now: DateTime<Utc>,
) -> Result<()> {
    if sub.collection_method.is_automatic() && issued.status.is_open() {
        satang_store::payment_methods::schedule_collection(tx, issued.id, now).await?;
    }
    Ok(())
}

/// Midnight in Bangkok at the start of `date`, in UTC.
pub(crate) fn bangkok_midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc() - chrono::TimeDelta::hours(7))
        .unwrap_or_default()
}

/// One line per metered metric the plan prices, for the usage of the subscription's current
/// period (`used`: the usage events summed per metric; included units free, tiers graduated),
/// less what threshold invoices already billed of it (`billed`: the quantities they counted,
/// per metric): the whole period is priced and the billed part's price taken off, so the
/// period's invoices add up to the price of its whole usage. A metric fully billed already
/// gets no line.
pub(crate) fn usage_lines(
    sub: &Subscription,
    prices: &[satang_domain::usage::MeteredPrice],
    used: Vec<MetricTotal>,
    billed: &[MetricTotal],
) -> Result<Vec<NewLine>> {
    Ok(usage_parts(sub, prices, used, billed)?
        .into_iter()
        .map(|(line, _)| line)
        .collect())
}

/// [`usage_lines`] with each line's part: the metric, the quantity counted before and up to now.
pub(crate) fn usage_parts(
    sub: &Subscription,
    prices: &[satang_domain::usage::MeteredPrice],
    used: Vec<MetricTotal>,
    billed: &[MetricTotal],
) -> Result<Vec<(NewLine, satang_store::usage_billed::NewBilled)>> {
    let (start, end) = (sub.current_period_start, sub.current_period_end);
    let last_day = end.checked_sub_days(Days::new(1)).unwrap_or(end);
    let mut lines = Vec::new();
    for total in used {
        let Some(price) = prices.iter().find(|p| p.metric == total.metric) else {
            continue;
        };
        let before = billed
            .iter()
            .find(|b| b.metric == total.metric)
            .map_or(0, |b| b.quantity)
            .clamp(0, total.quantity.max(0));
        if before > 0 && before >= total.quantity {
            continue;
        }
        let amount = price
            .amount_after(before, total.quantity)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let included = price.included_units.unwrap_or(0);
        let earlier = if before > 0 {
            format!(", {before} invoiced earlier")
        } else {
            String::new()
        };
        let line = NewLine {
            kind: "usage".into(),
            description: format!(
                "{}: {} used ({} included{earlier}), {start} – {last_day}",
                total.metric, total.quantity, included
            ),
            period_start: Some(start),
            period_end: Some(end),
            quantity: 1,
            unit_amount: amount,
            amount,
        };
        let part = satang_store::usage_billed::NewBilled {
            metric: total.metric,
            quantity_to: total.quantity,
            quantity_from: before,
            amount,
        };
        lines.push((line, part));
    }
    Ok(lines)
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
