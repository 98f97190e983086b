//! One chunk of the billing run: up to a few hundred due subscriptions billed in **one
//! transaction**, with a fixed number of statements whatever the chunk's size.
//!
//! The subscriptions are claimed (locked) first; then their plans, customers (locked, in id
//! order), usage and already-issued periods are read in one statement each; every step is
//! worked out in memory exactly as a lone step would be; then the subscriptions' new state is
//! written with their audit and outbox events, and last the invoice numbers are taken as one
//! block of the gapless sequence together with the invoices, their lines, audit events, outbox
//! events and mails ([`satang_store::issue::issue_many`]: on PostgreSQL one statement, so that
//! the counter — locked until commit, other chunks in flight queue on it — is held as briefly as
//! possible), and the transaction commits. Multi-row statements throughout (PostgreSQL: `UNNEST`,
//! a column per array parameter). A failure anywhere rolls the whole chunk back; the caller then
//! bills its subscriptions one at a time (a chunk of one), so one bad subscription cannot hold
//! up the others.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use satang_domain::period::add_cycle;
use satang_domain::{CollectionMethod, InvoiceStatus, Status};
use satang_store::audit::{self, Actor, Change};
use satang_store::credit_grants::{self, CreditGrant};
use satang_store::customers::{self, Customer};
use satang_store::invoices::{self, Invoice, InvoiceFields, InvoiceOrigin, NewInvoice, NewLine};
use satang_store::issue::{self, Numbering};
use satang_store::outbox::{self, NewEvent};
use satang_store::plans::{self, Plan};
use satang_store::subscriptions::{self, DueClaim, Subscription, SubscriptionFields};
use satang_store::{Db, usage, usage_billed};

use super::{bangkok_midnight, usage_lines};
use crate::credit_grants::GrantUse;
use crate::invoicing::invoice_audit_json;
use crate::subscriptions::{cycle_of, lifecycle_state};
use crate::{BillingSettings, Error, Result};

/// What one chunk did.
#[derive(Debug, Default)]
pub(super) struct ChunkOutcome {
    /// Subscriptions claimed, in id order (empty: nothing left to claim).
    pub claimed: Vec<Uuid>,
    pub invoice_ids: Vec<Uuid>,
    pub canceled: u32,
    pub duplicates: u32,
    /// Claimed subscriptions still due after this period (several periods behind).
    pub still_due: Vec<Uuid>,
}

/// A chunk that failed after its claim: the ids it had claimed, and why.
pub(super) struct ChunkFailure {
    pub claimed: Vec<Uuid>,
    pub error: Error,
}

/// The step of one subscription, worked out in memory.
enum Step {
    Cancel {
        before: Subscription,
        after: SubscriptionFields,
    },
    Renew {
        before: Subscription,
        after: SubscriptionFields,
        /// None: the period's invoice exists already (counted as a duplicate).
        invoice: Option<Box<PlannedInvoice>>,
    },
}

struct PlannedInvoice {
    new: NewInvoice,
    issued: Invoice,
    /// The subscription's discount that this period invoice uses one period of.
    counted_discount: Option<Uuid>,
    /// What the invoice takes from the customer's credit grants.
    grant_uses: Vec<GrantUse>,
}

/// Where a pass over the due subscriptions has got to: the last id claimed, shared by the
/// chunks in flight (each claims after it and moves it on).
#[derive(Default)]
pub(super) struct ClaimCursor(tokio::sync::Mutex<Option<Uuid>>);

/// Which subscriptions a chunk bills.
#[derive(Clone, Copy)]
pub(super) enum Claim<'a> {
    /// The next [`super::CHUNK`] due after the cursor.
    Next(&'a ClaimCursor),
    /// These, if still due.
    Ids(&'a [Uuid]),
}

/// Bills one period of each subscription `claim` yields, in one transaction.
pub(super) async fn bill_chunk(
    db: &Db,
    claim: Claim<'_>,
    today: NaiveDate,
    actor: &Actor,
    now: DateTime<Utc>,
) -> std::result::Result<ChunkOutcome, ChunkFailure> {
    let mut tx = db.begin().await.map_err(|e| ChunkFailure {
        claimed: Vec::new(),
        error: e.into(),
    })?;
    let claimed = match claim {
        Claim::Next(cursor) => {
            // Claims in flight take turns, so each starts after the previous one's rows.
            let mut after = cursor.0.lock().await;
            let limit = super::CHUNK as i64;
            let subs = subscriptions::claim_due(
                &mut tx,
                today,
                DueClaim::After {
                    after: *after,
                    limit,
                },
            )
            .await;
            if let Ok(Some(last)) = subs.as_ref().map(|s| s.last()) {
                *after = Some(last.id);
            }
            subs
        }
        Claim::Ids(ids) => subscriptions::claim_due(&mut tx, today, DueClaim::Ids(ids)).await,
    };
    let subs = claimed.map_err(|e| ChunkFailure {
        claimed: Vec::new(),
        error: e.into(),
    })?;
    let claimed: Vec<Uuid> = subs.iter().map(|s| s.id).collect();
    if subs.is_empty() {
        return Ok(ChunkOutcome::default());
    }
    let failed = |error: Error| ChunkFailure {
        claimed: claimed.clone(),
        error,
    };
    let written = async {
        let (steps, settings) = plan_steps(&mut tx, subs, today, now).await?;
        write_steps(&mut tx, actor, steps, &settings, today, now, &claimed).await
    }
    .await;
    match written {
        Ok(outcome) => {
            tx.commit().await.map_err(|e| failed(e.into()))?;
            Ok(outcome)
        }
        Err(error) => {
            // Rolled back before the caller bills these subscriptions again one at a time: a
            // transaction only dropped keeps its row locks until its connection goes back to
            // the pool, and a claim skips locked rows, so the retries would find nothing.
            if let Err(e) = tx.rollback().await {
                tracing::warn!(error = %e, "rolling back a failed billing chunk failed");
            }
            Err(failed(error))
        }
    }
}

/// Reads what the chunk needs (one statement per kind) and works out every step.
async fn plan_steps(
    tx: &mut satang_store::Tx,
    subs: Vec<Subscription>,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(Vec<Step>, BillingSettings)> {
    let settings = BillingSettings::load_in(tx).await?;
    let mut read = read_for(tx, &subs, Locking::ForBilling).await?;
    let mut steps = Vec::with_capacity(subs.len());
    for sub in subs {
        steps.push(plan_step(sub, &mut read, &settings, today, now)?);
    }
    Ok((steps, settings))
}

/// Whether [`read_for`] locks what the steps will change (the billing run) or only reads it
/// (the upcoming invoice, which writes nothing).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Locking {
    ForBilling,
    Preview,
}

/// Works out the next period's invoice of `sub` exactly as the billing run would on `today`
/// at `now` — the same reads (without locks) and the same [`plan_step`] — and writes nothing.
/// `None`: the subscription ends at its period end, or that period is invoiced already.
pub(super) async fn preview_invoice(
    tx: &mut satang_store::Tx,
    sub: Subscription,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Option<(NewInvoice, Vec<GrantUse>)>> {
    let settings = BillingSettings::load_in(tx).await?;
    let subs = [sub];
    let mut read = read_for(tx, &subs, Locking::Preview).await?;
    let [sub] = subs;
    Ok(match plan_step(sub, &mut read, &settings, today, now)? {
        Step::Renew {
            invoice: Some(planned),
            ..
        } => Some((planned.new, planned.grant_uses)),
        Step::Renew { invoice: None, .. } | Step::Cancel { .. } => None,
    })
}

/// Reads what the steps of `subs` need, one statement per kind.
async fn read_for(
    tx: &mut satang_store::Tx,
    subs: &[Subscription],
    locking: Locking,
) -> Result<Read> {
    let mut plan_ids: Vec<Uuid> = subs
        .iter()
        .flat_map(|s| [Some(s.plan_id), s.pending_plan_id])
        .flatten()
        .collect();
    plan_ids.sort_unstable();
    plan_ids.dedup();
    let plans: HashMap<Uuid, Plan> = plans::find_many_in(tx, &plan_ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let plan = |id: Uuid, sub: Uuid| plan_of(&plans, id, sub);

    // The customers whose subscription gets an invoice. Those with credit to consume are
    // locked — after their subscriptions, before the number, in id order: the order every path
    // that locks them takes — and read again under the lock. The others are only read: nothing
    // of theirs is written, and credit that arrives meanwhile waits for their next invoice. (A
    // row lock is a write to the customer's page; locking every customer of a large run filled
    // the WAL with images of customer pages.)
    let billed: Vec<&Subscription> = subs.iter().filter(|s| !s.cancel_at_period_end).collect();
    let customer_ids: Vec<Uuid> = billed.iter().map(|s| s.customer_id).collect();
    let mut customers: HashMap<Uuid, Customer> = customers::find_many_in(tx, &customer_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let in_credit: Vec<Uuid> = customers
        .values()
        .filter(|c| c.balance > 0)
        .map(|c| c.id)
        .collect();
    if locking == Locking::ForBilling {
        for customer in customers::lock_many_in(tx, &in_credit).await? {
            customers.insert(customer.id, customer);
        }
    }
    // Their active credit grants, locked after the customers (one statement; usually none).
    let active = match locking {
        Locking::ForBilling => credit_grants::active_many_in(tx, &customer_ids).await?,
        Locking::Preview => credit_grants::active_many_unlocked_in(tx, &customer_ids).await?,
    };
    let mut grants: HashMap<Uuid, Vec<CreditGrant>> = HashMap::new();
    for g in active {
        grants.entry(g.customer_id).or_default().push(g);
    }

    // Usage of the periods that end now, for subscriptions out of their trial on metered plans.
    let mut windows = Vec::new();
    let mut ending: Vec<(Uuid, NaiveDate)> = Vec::new();
    for s in &billed {
        if !in_trial(s) && !metered(plan(s.plan_id, s.id)?).is_empty() {
            ending.push((s.id, s.current_period_start));
            windows.push((
                s.id,
                bangkok_midnight(s.current_period_start),
                bangkok_midnight(s.current_period_end),
            ));
        }
    }
    let mut used: HashMap<Uuid, Vec<usage::MetricTotal>> = HashMap::new();
    for t in usage::totals_many(tx, &windows).await? {
        used.entry(t.subscription_id)
            .or_default()
            .push(usage::MetricTotal {
                metric: t.metric,
                quantity: t.quantity,
            });
    }

    // What threshold invoices already billed of those periods' usage.
    let mut already: HashMap<Uuid, Vec<usage::MetricTotal>> = HashMap::new();
    for t in usage_billed::billed_many(tx, &ending).await? {
        already
            .entry(t.subscription_id)
            .or_default()
            .push(usage::MetricTotal {
                metric: t.metric,
                quantity: t.quantity,
            });
    }

    let periods: Vec<(Uuid, NaiveDate)> = billed
        .iter()
        .map(|s| (s.id, s.current_period_end))
        .collect();
    let issued: HashSet<(Uuid, NaiveDate)> = invoices::issued_periods_in(tx, &periods)
        .await?
        .into_iter()
        .collect();

    Ok(Read {
        plans,
        customers,
        grants,
        used,
        already,
        issued,
    })
}

/// What a chunk read, one statement per kind: all [`plan_step`] needs.
struct Read {
    /// The chunk's plans (current and pending), by id.
    plans: HashMap<Uuid, Plan>,
    /// The customers of the subscriptions that get an invoice; balances are consumed as the
    /// chunk's invoices take their credit.
    customers: HashMap<Uuid, Customer>,
    /// The active credit grants of those customers; `remaining` falls as the chunk's invoices
    /// take from them.
    grants: HashMap<Uuid, Vec<CreditGrant>>,
    /// Usage per subscription of the period that ends now (metered plans, out of trial).
    used: HashMap<Uuid, Vec<usage::MetricTotal>>,
    /// What threshold invoices already billed of that usage, per subscription.
    already: HashMap<Uuid, Vec<usage::MetricTotal>>,
    /// The (subscription, period start) pairs that already have their invoice.
    issued: HashSet<(Uuid, NaiveDate)>,
}

fn plan_of(plans: &HashMap<Uuid, Plan>, id: Uuid, sub: Uuid) -> Result<&Plan> {
    plans
        .get(&id)
        .ok_or_else(|| Error::Internal(format!("subscription {sub} without its plan")))
}

/// Works out one claimed subscription's step in memory, from what the chunk read (no
/// database): ended at its period end, or rolled into its next period with that period's
/// invoice planned (none when it exists already).
fn plan_step(
    sub: Subscription,
    read: &mut Read,
    settings: &BillingSettings,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Step> {
    if sub.cancel_at_period_end {
        let mut f = SubscriptionFields::of(&sub);
        f.status = Status::Canceled;
        f.canceled_at = Some(now);
        f.cancel_at_period_end = false;
        f.next_billing_date = None;
        f.pending_plan_id = None;
        f.pending_quantity = None;
        f.pending_unit_price = None;
        return Ok(Step::Cancel {
            before: sub,
            after: f,
        });
    }
    // A pending downgrade takes effect at the boundary: the new period is on the new terms.
    let new_plan = plan_of(
        &read.plans,
        sub.pending_plan_id.unwrap_or(sub.plan_id),
        sub.id,
    )?;
    let quantity = sub.pending_quantity.unwrap_or(sub.quantity);
    // A negotiated price goes with its plan: a pending change brings its own (or none).
    let unit_price = if sub.pending_plan_id.is_some() {
        sub.pending_unit_price
    } else {
        sub.unit_price
    };
    let anchor = u32::try_from(sub.billing_anchor_day).unwrap_or(1);
    let start = sub.current_period_end;
    let end = add_cycle(start, cycle_of(new_plan)?, anchor)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let trial = in_trial(&sub);
    let state = lifecycle_state(&sub)?;
    let next = if sub.status == Status::Trialing {
        state.end_trial(end)
    } else {
        state.end_period(end)
    }
    .map_err(|e| Error::Internal(format!("subscription {}: {e}", sub.id)))?;
    let mut f = SubscriptionFields::of(&sub);
    f.status = next.status();
    f.current_period_start = start;
    f.current_period_end = end;
    f.next_billing_date = Some(end);
    f.plan_id = new_plan.id;
    f.quantity = quantity;
    f.unit_price = unit_price;
    f.pending_plan_id = None;
    f.pending_quantity = None;
    f.pending_unit_price = None;

    let invoice = if read.issued.contains(&(sub.id, start)) {
        None
    } else {
        // Usage of the period that just ended is billed in arrears, at the prices of the
        // plan it was used under (trials are free).
        let extra = if trial {
            Vec::new()
        } else {
            let prices = metered(plan_of(&read.plans, sub.plan_id, sub.id)?);
            let totals = read.used.remove(&sub.id).unwrap_or_default();
            let already = read.already.remove(&sub.id).unwrap_or_default();
            usage_lines(&sub, &prices, totals, &already)?
        };
        let customer = read.customers.get_mut(&sub.customer_id).ok_or_else(|| {
            Error::Internal(format!("subscription {} without its customer", sub.id))
        })?;
        let reason = if trial {
            "subscription_create"
        } else {
            "subscription_cycle"
        };
        let grants = read.grants.entry(sub.customer_id).or_default();
        Some(Box::new(plan_invoice(
            &sub,
            new_plan,
            (unit_price, quantity),
            (start, end),
            reason,
            extra,
            (customer, grants),
            settings,
            today,
            now,
        )?))
    };
    Ok(Step::Renew {
        before: sub,
        after: f,
        invoice,
    })
}

pub(crate) fn in_trial(sub: &Subscription) -> bool {
    sub.status == Status::Trialing || sub.trial_end == Some(sub.current_period_end)
}

pub(crate) fn metered(plan: &Plan) -> Vec<satang_domain::usage::MeteredPrice> {
    serde_json::from_value(plan.metered.0.clone()).unwrap_or_default()
}

/// The period's invoice as issued: the same totals, credit consumption, snapshots and due date
/// as [`crate::finalize_invoice`] gives a draft. The number is filled in once the chunk knows how
/// many it needs. (Unlike that path, which finalises a draft row, the invoice is written issued,
/// so its audit entry has no `before`.)
#[allow(clippy::too_many_arguments)]
fn plan_invoice(
    sub: &Subscription,
    plan: &Plan,
    price: (Option<i64>, i64),
    period: (NaiveDate, NaiveDate),
    reason: &str,
    usage: Vec<NewLine>,
    (customer, grants): (&mut Customer, &mut [CreditGrant]),
    settings: &BillingSettings,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<PlannedInvoice> {
    let super::PeriodDraft {
        lines,
        fields: mut f,
        origin,
    } = super::period_draft(sub, plan, price, period, reason, usage, settings)?;
    let id = Uuid::now_v7();

    // Finalisation: promotional credit before VAT, the customer's credit balance, prepaid
    // credit (balances and grants tracked across the chunk), then the snapshots and the due
    // date.
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount).collect();
    let mut grant_uses =
        crate::credit_grants::apply_promotional(&mut f, &amounts, grants, settings, now)?;
    let credit = customer.balance.clamp(0, f.total.max(0));
    customer.balance -= credit;
    f.credit_applied = credit;
    f.amount_due = f.total - credit;
    grant_uses.extend(crate::credit_grants::apply_prepaid(&mut f, grants, now));
    f.issued_at = Some(now);
    let terms = u64::try_from(customer.payment_terms_days).unwrap_or(0);
    f.due_date = today.checked_add_days(Days::new(terms));
    f.customer_snapshot = Some(json!({
        "name": customer.name,
        "legal_name": customer.legal_name,
        "tax_id": customer.tax_id,
        "branch_code": customer.branch_code,
        "address": customer.address.as_ref().map(|a| a.0.clone()),
    }));
    f.seller_snapshot = Some(settings.seller.clone());
    if f.amount_due <= 0 {
        f.status = InvoiceStatus::Paid;
        f.paid_at = Some(now);
    } else {
        f.status = InvoiceStatus::Open;
    }
    let automatic = sub.collection_method.is_automatic() && f.status.is_open();
    let issued = invoice_view(id, &origin, &f, now);
    Ok(PlannedInvoice {
        grant_uses,
        counted_discount: crate::coupons::counted_discount(sub),
        new: NewInvoice {
            id,
            origin,
            fields: f,
            lines,
            version: ISSUED_VERSION,
            collection_method: if automatic {
                CollectionMethod::ChargeAutomatically
            } else {
                CollectionMethod::SendInvoice
            },
            next_collection_at: automatic.then_some(now),
        },
        issued,
    })
}

/// The version of an invoice the run writes issued: that of one finalised from its draft.
const ISSUED_VERSION: i64 = 2;

/// The row an invoice with these fields would read back as (for its audit and outbox JSON).
fn invoice_view(id: Uuid, o: &InvoiceOrigin, f: &InvoiceFields, now: DateTime<Utc>) -> Invoice {
    Invoice {
        id,
        number: f.number.clone(),
        customer_id: o.customer_id,
        subscription_id: o.subscription_id,
        status: f.status,
        currency: f.currency,
        subtotal: f.subtotal,
        discount: f.discount,
        discounts: (!f.discounts.is_empty()).then(|| satang_store::Json(f.discounts.clone())),
        vat_rate_bps: f.vat_rate_bps,
        vat_amount: f.vat_amount,
        total: f.total,
        withholding_tax: f.withholding_tax,
        amount_paid: f.amount_paid,
        amount_due: f.amount_due,
        credit_applied: f.credit_applied,
        amount_credited: f.amount_credited,
        prices_include_vat: f.prices_include_vat,
        issued_at: f.issued_at,
        due_date: f.due_date,
        paid_at: f.paid_at,
        voided_at: f.voided_at,
        marked_uncollectible_at: f.marked_uncollectible_at,
        period_start: o.period_start,
        period_end: o.period_end,
        billing_reason: o.billing_reason.clone(),
        customer_snapshot: None,
        seller_snapshot: None,
        created_at: now,
        updated_at: now,
        version: ISSUED_VERSION,
        collection_method: CollectionMethod::SendInvoice,
        collection_attempts: 0,
        next_collection_at: None,
        first_failed_at: None,
    }
}

/// Writes everything of the chunk: first what needs no invoice number (the customers'
/// credit, the subscriptions' new state and their outbox and audit events), then the numbers
/// with the invoices and the audit and outbox events that carry them. The number counter stays
/// locked from the moment it is taken until the chunk commits, so taking it last lets other
/// chunks in flight do everything else meanwhile. After the invoices: the coupons' periods, the
/// tax-document queue and what the invoices took from credit grants, a few statements each.
async fn write_steps(
    tx: &mut satang_store::Tx,
    actor: &Actor,
    steps: Vec<Step>,
    settings: &BillingSettings,
    today: NaiveDate,
    now: DateTime<Utc>,
    claimed: &[Uuid],
) -> Result<ChunkOutcome> {
    let mut outcome = ChunkOutcome {
        claimed: claimed.to_vec(),
        ..ChunkOutcome::default()
    };
    let mut new_invoices = Vec::with_capacity(steps.len());
    // The new invoices' outbox events, in the invoices' order (each also makes the invoice's
    // audit entry): they carry the numbers, so they are written once the numbers are taken.
    let mut invoice_events: Vec<NewEvent<'static>> = Vec::with_capacity(steps.len());
    // The subscriptions' events need no number: written before the numbers are taken.
    let mut events: Vec<NewEvent<'static>> = Vec::with_capacity(steps.len());
    let mut changes: Vec<Change<'static>> = Vec::with_capacity(steps.len());
    let mut updates = Vec::with_capacity(steps.len());
    let mut credits: HashMap<Uuid, i64> = HashMap::new();
    // Discounts that count periods, one period used by each invoice issued under them.
    let mut counted: Vec<Uuid> = Vec::new();
    // Invoices that take credit from grants, written once the invoices exist.
    let mut used_grants: Vec<(Invoice, Vec<GrantUse>)> = Vec::new();
    // Invoices whose finalisation documents a worker makes after the run (see
    // `crate::tax_documents`): all under tax point `issue`, those credit paid otherwise.
    let mut document_queue: Vec<Uuid> = Vec::new();
    for step in steps {
        let (before, after, action) = match step {
            Step::Cancel { before, after } => {
                outcome.canceled += 1;
                (before, after, "subscription.canceled")
            }
            Step::Renew {
                before,
                after,
                invoice,
            } => {
                match invoice {
                    Some(planned) => {
                        let PlannedInvoice {
                            new,
                            issued,
                            counted_discount,
                            grant_uses,
                        } = *planned;
                        counted.extend(counted_discount);
                        if !grant_uses.is_empty() {
                            used_grants.push((issued.clone(), grant_uses));
                        }
                        if new.fields.credit_applied > 0 {
                            *credits.entry(new.origin.customer_id).or_default() +=
                                new.fields.credit_applied;
                        }
                        // Its audit entry is this event's: created finalised, so no row
                        // existed before it (the draft's figures are the entry's `after`
                        // without the credit applied and the number).
                        invoice_events.push(NewEvent {
                            event_type: "invoice.finalized",
                            entity_type: "invoice",
                            entity_id: issued.id.to_string(),
                            customer_id: Some(issued.customer_id),
                            payload: invoice_audit_json(&issued),
                        });
                        outcome.invoice_ids.push(new.id);
                        if settings.tax_point == satang_domain::TaxPoint::Issue
                            || new.fields.amount_due < new.fields.total
                        {
                            document_queue.push(new.id);
                        }
                        new_invoices.push(new);
                    }
                    None => outcome.duplicates += 1,
                }
                if after.next_billing_date.is_some_and(|d| d <= today) {
                    outcome.still_due.push(before.id);
                }
                (before, after, "subscription.renewed")
            }
        };
        // A renewal that applied a pending downgrade is a plan change the customer is told
        // about.
        let change = if action == "subscription.renewed"
            && (after.plan_id != before.plan_id || after.quantity != before.quantity)
        {
            "subscription.plan_changed"
        } else {
            action
        };
        events.push(NewEvent {
            event_type: "subscription.updated",
            entity_type: "subscription",
            entity_id: before.id.to_string(),
            customer_id: Some(before.customer_id),
            payload: json!({"id": before.id, "status": after.status, "plan_id": after.plan_id,
                            "quantity": after.quantity,
                            "current_period_start": after.current_period_start,
                            "current_period_end": after.current_period_end,
                            "change": change}),
        });
        changes.push(Change {
            action,
            entity_type: "subscription",
            entity_id: before.id.to_string(),
            before: Some(subscription_view(
                before.status,
                before.plan_id,
                before.quantity,
                before.current_period_start,
                before.current_period_end,
                before.next_billing_date,
                before.canceled_at,
            )),
            after: Some(subscription_view(
                after.status,
                after.plan_id,
                after.quantity,
                after.current_period_start,
                after.current_period_end,
                after.next_billing_date,
                after.canceled_at,
            )),
        });
        updates.push((before.id, after));
    }

    let mut customers: Vec<(Uuid, i64)> = credits.into_iter().collect();
    customers.sort_unstable();
    for (customer, credit) in customers {
        invoices::adjust_customer_balance(tx, customer, -credit, now).await?;
    }
    let changed = subscriptions::update_many(tx, &updates, now).await?;
    if changed != updates.len() as u64 {
        return Err(Error::Internal(format!(
            "{changed} of {} subscriptions updated",
            updates.len()
        )));
    }
    outbox::emit_many(tx, events, now).await?;
    audit::record_many(tx, actor, changes, now).await?;

    // One block of the gapless sequence for the whole chunk, in subscription order, taken as
    // late as possible (see `satang_store::issue`).
    let count = new_invoices.len() as u64;
    let numbering = Numbering {
        kind: "invoice",
        prefix: settings.invoice_prefix.as_str(),
        year: today.year(),
    };
    let inserted =
        issue::issue_many(tx, numbering, new_invoices, invoice_events, actor, now).await?;
    if inserted != count {
        // Another path issued one of these periods meanwhile: the chunk is redone one
        // subscription at a time, where the unique key makes it a skipped duplicate.
        return Err(Error::Internal(format!(
            "{} of {count} period invoices already existed",
            count - inserted
        )));
    }
    satang_store::coupons::use_periods(tx, &counted, now).await?;
    satang_store::tax_documents::queue_many(tx, &document_queue, now).await?;
    let used_grants: Vec<(&Invoice, &[GrantUse])> = used_grants
        .iter()
        .map(|(invoice, uses)| (invoice, uses.as_slice()))
        .collect();
    crate::credit_grants::record_uses_many(tx, actor, &used_grants, now).await?;
    Ok(outcome)
}

fn subscription_view(
    status: Status,
    plan_id: Uuid,
    quantity: i64,
    start: NaiveDate,
    end: NaiveDate,
    next: Option<NaiveDate>,
    canceled_at: Option<DateTime<Utc>>,
) -> Value {
    json!({"status": status, "plan_id": plan_id, "quantity": quantity,
           "current_period_start": start, "current_period_end": end,
           "next_billing_date": next, "canceled_at": canceled_at})
}

#[cfg(test)]
mod tests {
    //! The planning of a chunk, without a database: what [`plan_step`] makes of a due
    //! subscription given what the chunk read.

    use serde_json::json;

    use satang_domain::usage::MeteredPrice;
    use satang_domain::{Currency, CustomerStatus};

    use super::*;
    use crate::subscriptions::test_support::{at, d, january_subscription};

    const PRO: Uuid = Uuid::nil();
    const TEAM: Uuid = Uuid::from_u128(2);
    const METERED: Uuid = Uuid::from_u128(3);
    const FARM: Uuid = Uuid::nil();

    fn plan(id: Uuid, code: &str, pricing: &str, price: i64, metered: Value) -> Plan {
        let created = at(d(2025, 1, 1));
        Plan {
            id,
            code: code.into(),
            name_th: code.into(),
            name_en: code.into(),
            description_th: String::new(),
            description_en: String::new(),
            billing_interval: satang_domain::Interval::Month,
            interval_count: 1,
            price,
            currency: Currency::Thb,
            pricing: pricing.parse().unwrap(),
            trial_days: 0,
            features: Default::default(),
            limits: Default::default(),
            metered: serde_json::from_value(metered).unwrap(),
            active: true,
            version: 1,
            previous_version_id: None,
            created_at: created,
            updated_at: created,
            archived_at: None,
        }
    }

    /// PRO ฿990 a month, TEAM ฿390 a seat, and a ฿990 plan with SMS alerts (500 included, then
    /// ฿0.50 each).
    fn catalog() -> Vec<Plan> {
        let sms = json!([{"metric": "sms_alerts", "unit_price": 50, "included_units": 500}]);
        vec![
            plan(PRO, "PRO", "flat", 99_000, Value::Null),
            plan(TEAM, "TEAM", "per_seat", 39_000, Value::Null),
            plan(METERED, "SMS", "flat", 99_000, sms),
        ]
    }

    fn customer(id: Uuid, balance: i64) -> Customer {
        let created = at(d(2025, 1, 1));
        Customer {
            id,
            name: "สหกรณ์การเกษตรบ้านนา".into(),
            legal_name: None,
            tax_id: None,
            branch_code: None,
            email: None,
            phone: None,
            billing_email: None,
            address: None,
            currency: Currency::Thb,
            locale: "th".into(),
            payment_terms_days: 30,
            metadata: Default::default(),
            status: CustomerStatus::Active,
            balance,
            created_at: created,
            updated_at: created,
            deleted_at: None,
            version: 1,
        }
    }

    fn settings() -> BillingSettings {
        BillingSettings {
            vat_rate_bps: 700,
            prices_include_vat: false,
            invoice_prefix: "INV".into(),
            withholding_tax_rate_bps: 300,
            seller: json!({"company_name": {"th": "ผู้ขาย", "en": "Seller"}}),
            dunning_retry_days: vec![1, 3, 5, 7],
            dunning_grace_days: 14,
            tax_point: satang_domain::TaxPoint::Payment,
            receipt_prefix: "RT".into(),
        }
    }

    fn read_with(balance: i64) -> Read {
        Read {
            plans: catalog().into_iter().map(|p| (p.id, p)).collect(),
            customers: HashMap::from([(FARM, customer(FARM, balance))]),
            grants: HashMap::new(),
            used: HashMap::new(),
            already: HashMap::new(),
            issued: HashSet::new(),
        }
    }

    /// The first of February 2026, when January's subscriptions fall due.
    fn today() -> NaiveDate {
        d(2026, 2, 1)
    }

    fn step(sub: Subscription, read: &mut Read) -> Step {
        plan_step(sub, read, &settings(), today(), at(today())).unwrap()
    }

    fn renewed(step: Step) -> (SubscriptionFields, Option<PlannedInvoice>) {
        match step {
            Step::Renew { after, invoice, .. } => (after, invoice.map(|i| *i)),
            Step::Cancel { .. } => panic!("expected a renewal, got a cancellation"),
        }
    }

    fn sub_with(id: u128, edit: impl FnOnce(&mut Subscription)) -> Subscription {
        let mut sub = january_subscription();
        sub.id = Uuid::from_u128(id);
        edit(&mut sub);
        sub
    }

    #[test]
    fn a_due_period_rolls_on_and_is_invoiced_in_advance() {
        let mut read = read_with(0);
        let (after, invoice) = renewed(step(january_subscription(), &mut read));
        assert_eq!(after.status, Status::Active);
        assert_eq!(
            (after.current_period_start, after.current_period_end),
            (d(2026, 2, 1), d(2026, 3, 1))
        );
        assert_eq!(after.next_billing_date, Some(d(2026, 3, 1)));

        let PlannedInvoice { new, issued, .. } = invoice.expect("the period's invoice");
        assert_eq!(new.origin.billing_reason, "subscription_cycle");
        assert_eq!(
            (new.origin.period_start, new.origin.period_end),
            (Some(d(2026, 2, 1)), Some(d(2026, 3, 1)))
        );
        assert_eq!(new.origin.mrr, 99_000);
        assert_eq!(new.lines.len(), 1);
        assert_eq!(
            new.lines[0].description,
            "PRO (PRO, month), 2026-02-01 – 2026-02-28"
        );
        // ฿990 + 7 % VAT; issued open, due after the customer's 30 days, numbered later.
        let f = &new.fields;
        assert_eq!(
            (f.subtotal, f.vat_amount, f.total),
            (99_000, 6_930, 105_930)
        );
        assert_eq!((f.credit_applied, f.amount_due), (0, 105_930));
        assert_eq!(f.status, InvoiceStatus::Open);
        assert_eq!(f.number, None);
        assert_eq!(f.issued_at, Some(at(today())));
        assert_eq!(f.due_date, Some(d(2026, 3, 3)));
        assert_eq!(f.seller_snapshot, Some(settings().seller));
        assert_eq!(new.version, ISSUED_VERSION);
        assert_eq!(new.collection_method, CollectionMethod::SendInvoice);
        assert_eq!(new.next_collection_at, None);
        assert_eq!((issued.id, issued.total), (new.id, 105_930));
    }

    #[test]
    fn a_short_month_keeps_the_anchor_day() {
        // Anchored on the 31st: the period ending 28 February runs on to 31 March.
        let sub = sub_with(1, |s| {
            s.billing_anchor_day = 31;
            s.current_period_start = d(2026, 1, 31);
            s.current_period_end = d(2026, 2, 28);
        });
        let (after, _) = renewed(step(sub, &mut read_with(0)));
        assert_eq!(
            (after.current_period_start, after.current_period_end),
            (d(2026, 2, 28), d(2026, 3, 31))
        );
    }

    #[test]
    fn cancel_at_period_end_ends_the_subscription_without_an_invoice() {
        let sub = sub_with(1, |s| {
            s.cancel_at_period_end = true;
            s.pending_plan_id = Some(TEAM);
            s.pending_quantity = Some(2);
        });
        // No customer needed: nothing is invoiced.
        let mut read = read_with(0);
        read.customers.clear();
        let Step::Cancel { before, after } = step(sub, &mut read) else {
            panic!("expected a cancellation");
        };
        assert_eq!(before.id, Uuid::from_u128(1));
        assert_eq!(after.status, Status::Canceled);
        assert_eq!(after.canceled_at, Some(at(today())));
        assert!(!after.cancel_at_period_end);
        assert_eq!(after.next_billing_date, None);
        assert_eq!(
            (after.pending_plan_id, after.pending_quantity),
            (None, None)
        );
    }

    #[test]
    fn a_period_already_invoiced_is_not_invoiced_again() {
        let mut read = read_with(0);
        read.issued.insert((Uuid::nil(), d(2026, 2, 1)));
        let (after, invoice) = renewed(step(january_subscription(), &mut read));
        assert!(invoice.is_none());
        assert_eq!(after.current_period_start, d(2026, 2, 1), "still rolled on");
    }

    #[test]
    fn a_pending_downgrade_applies_at_the_boundary() {
        let sub = sub_with(1, |s| {
            s.pending_plan_id = Some(TEAM);
            s.pending_quantity = Some(3);
        });
        let (after, invoice) = renewed(step(sub, &mut read_with(0)));
        assert_eq!((after.plan_id, after.quantity), (TEAM, 3));
        assert_eq!(
            (after.pending_plan_id, after.pending_quantity),
            (None, None)
        );
        let new = invoice.unwrap().new;
        // ฿390 × 3 seats.
        let line = &new.lines[0];
        assert_eq!(
            (line.quantity, line.unit_amount, line.amount),
            (3, 39_000, 117_000)
        );
        assert!(
            line.description.contains(" × 3 seats"),
            "{}",
            line.description
        );
        assert_eq!(new.fields.subtotal, 117_000);
    }

    #[test]
    fn usage_of_the_ended_period_is_billed_in_arrears_at_its_plans_prices() {
        // On the metered plan in January, moving to PRO: January's 700 alerts are priced by the
        // metered plan (200 over the 500 included, at ฿0.50).
        let sub = sub_with(1, |s| {
            s.plan_id = METERED;
            s.pending_plan_id = Some(PRO);
        });
        let mut read = read_with(0);
        read.used.insert(
            sub.id,
            vec![
                usage::MetricTotal {
                    metric: "sms_alerts".into(),
                    quantity: 700,
                },
                usage::MetricTotal {
                    metric: "not_priced".into(),
                    quantity: 9,
                },
            ],
        );
        let (after, invoice) = renewed(step(sub, &mut read));
        assert_eq!(after.plan_id, PRO);
        let new = invoice.unwrap().new;
        assert_eq!(new.lines.len(), 2, "the fee and one priced metric");
        let usage = &new.lines[1];
        assert_eq!((usage.kind.as_str(), usage.amount), ("usage", 10_000));
        assert_eq!(
            usage.description,
            "sms_alerts: 700 used (500 included), 2026-01-01 – 2026-01-31"
        );
        assert_eq!(
            (usage.period_start, usage.period_end),
            (Some(d(2026, 1, 1)), Some(d(2026, 2, 1)))
        );
        // (฿990 + ฿100) + 7 % VAT.
        assert_eq!(new.fields.total, 116_630);
        assert!(read.used.is_empty(), "the usage is taken once");
    }

    #[test]
    fn usage_a_threshold_invoice_billed_is_not_billed_again() {
        let sms = |quantity| usage::MetricTotal {
            metric: "sms_alerts".into(),
            quantity,
        };
        // 700 used, 600 invoiced mid-period (฿50 for the 100 past the 500 included): the
        // period's end bills the other 100 at ฿0.50.
        let sub = sub_with(1, |s| s.plan_id = METERED);
        let mut read = read_with(0);
        read.used.insert(sub.id, vec![sms(700)]);
        read.already.insert(sub.id, vec![sms(600)]);
        let (_, invoice) = renewed(step(sub, &mut read));
        let new = invoice.unwrap().new;
        assert_eq!(new.lines.len(), 2);
        assert_eq!(new.lines[1].amount, 5_000);
        assert_eq!(
            new.lines[1].description,
            "sms_alerts: 700 used (500 included, 600 invoiced earlier), 2026-01-01 – 2026-01-31"
        );
        assert!(read.already.is_empty(), "taken once");

        // Everything invoiced already: no usage line at all.
        let sub = sub_with(2, |s| s.plan_id = METERED);
        read.used.insert(sub.id, vec![sms(700)]);
        read.already.insert(sub.id, vec![sms(700)]);
        let (_, invoice) = renewed(step(sub, &mut read));
        assert_eq!(invoice.unwrap().new.lines.len(), 1);
    }

    #[test]
    fn a_trial_ending_is_the_first_paid_period_and_its_usage_is_free() {
        let sub = sub_with(1, |s| {
            s.plan_id = METERED;
            s.status = Status::Trialing;
            s.trial_end = Some(d(2026, 2, 1));
        });
        let mut read = read_with(0);
        read.used.insert(
            sub.id,
            vec![usage::MetricTotal {
                metric: "sms_alerts".into(),
                quantity: 700,
            }],
        );
        let (after, invoice) = renewed(step(sub, &mut read));
        assert_eq!(after.status, Status::Active);
        let new = invoice.unwrap().new;
        assert_eq!(new.origin.billing_reason, "subscription_create");
        assert_eq!(new.lines.len(), 1, "no usage line for a trial");
        assert_eq!(new.fields.total, 105_930);
    }

    #[test]
    fn in_trial_covers_a_trial_that_was_paused() {
        let mut sub = january_subscription();
        assert!(!in_trial(&sub));
        sub.trial_end = Some(sub.current_period_end);
        assert!(in_trial(&sub), "an active period ending on the trial's end");
        sub.trial_end = None;
        sub.status = Status::Trialing;
        assert!(in_trial(&sub));
    }

    #[test]
    fn credit_is_consumed_across_the_chunk() {
        // ฿1,500.00 of credit: the first invoice (฿1,059.30) is paid by it, the second takes
        // the ฿440.70 left.
        let mut read = read_with(150_000);
        let (_, first) = renewed(step(sub_with(1, |_| {}), &mut read));
        let (_, second) = renewed(step(sub_with(2, |_| {}), &mut read));
        let (first, second) = (first.unwrap().new.fields, second.unwrap().new.fields);
        assert_eq!((first.credit_applied, first.amount_due), (105_930, 0));
        assert_eq!(first.status, InvoiceStatus::Paid);
        assert_eq!(first.paid_at, Some(at(today())));
        assert_eq!((second.credit_applied, second.amount_due), (44_070, 61_860));
        assert_eq!(second.status, InvoiceStatus::Open);
        assert_eq!(second.paid_at, None);
        assert_eq!(read.customers[&FARM].balance, 0);
    }

    #[test]
    fn only_an_open_invoice_of_an_automatic_subscription_is_collected() {
        let automatic = |id| {
            sub_with(id, |s| {
                s.collection_method = CollectionMethod::ChargeAutomatically;
            })
        };
        let (_, open) = renewed(step(automatic(1), &mut read_with(0)));
        let open = open.unwrap().new;
        assert_eq!(
            open.collection_method,
            CollectionMethod::ChargeAutomatically
        );
        assert_eq!(open.next_collection_at, Some(at(today())));

        let (_, paid) = renewed(step(automatic(2), &mut read_with(1_000_000)));
        let paid = paid.unwrap().new;
        assert_eq!(paid.fields.status, InvoiceStatus::Paid);
        assert_eq!(paid.collection_method, CollectionMethod::SendInvoice);
        assert_eq!(paid.next_collection_at, None);
    }

    #[test]
    fn a_missing_plan_or_customer_is_an_error() {
        let unknown_plan = sub_with(1, |s| s.plan_id = Uuid::from_u128(99));
        let mut read = read_with(0);
        assert!(plan_step(unknown_plan, &mut read, &settings(), today(), at(today())).is_err());
        read.customers.clear();
        let sub = january_subscription();
        assert!(plan_step(sub, &mut read, &settings(), today(), at(today())).is_err());
    }

    #[test]
    fn metered_prices_are_read_from_the_plan() {
        let plans = catalog();
        assert!(metered(&plans[0]).is_empty());
        assert_eq!(
            metered(&plans[2]),
            [MeteredPrice {
                metric: "sms_alerts".into(),
                unit_price: 50,
                included_units: Some(500),
                tiers: None,
            }]
        );
    }

    #[test]
    fn a_yearly_fee_counts_a_twelfth_of_itself_as_mrr() {
        let mut yearly = plan(PRO, "PRO", "flat", 990_000, Value::Null);
        yearly.billing_interval = satang_domain::Interval::Year;
        let (line, mrr) =
            super::super::period_line(&yearly, yearly.price, 1, d(2026, 1, 10), d(2027, 1, 10))
                .unwrap();
        assert_eq!((line.amount, mrr), (990_000, 82_500));
        assert_eq!(line.description, "PRO (PRO, year), 2026-01-10 – 2027-01-09");
        // Half-up: 1,000,006 / 12 = 83,333.83.
        let (_, mrr) =
            super::super::period_line(&yearly, 1_000_006, 1, d(2026, 1, 10), d(2027, 1, 10))
                .unwrap();
        assert_eq!(mrr, 83_334);
    }

    #[test]
    fn usage_windows_start_at_midnight_in_bangkok() {
        assert_eq!(
            bangkok_midnight(d(2030, 1, 10)),
            "2030-01-09T17:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
