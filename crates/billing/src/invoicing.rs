//! An invoice's life after its lines are written: totals, finalisation and the status changes
//! that never touch its lines (void, uncollectible). One-off drafts are created in
//! [`one_off`]; payments and credit notes live in [`settlement`].
//!
//! Decisions:
//! - **Totals** come from `satang_domain::vat::invoice_totals`: VAT once on the taxable subtotal,
//!   half-up, with the rate and VAT-inclusiveness of the seller settings at finalisation (a draft
//!   shows the same maths with today's settings).
//! - **Numbers** `{prefix}-{year}-{000001}`: prefix from the settings, year of the Bangkok issue
//!   date, sequence gapless per (prefix, year) and allocated in the finalising transaction.
//! - **Snapshots**: the customer's name, legal name, tax id, branch and address and the seller
//!   profile are copied onto the invoice when it is issued; later edits do not change it.
//! - **Credit balance** (customers.balance, positive = in the customer's favour) is consumed at
//!   finalisation into `credit_applied`, up to the total.
//! - **Credit grants** ([`crate::credit_grants`]): promotional ones after the coupon, before
//!   VAT; prepaid ones after the credit balance, as `credit` payments.

use chrono::{DateTime, Datelike, Days, Utc};
use serde_json::{Value, json};

use satang_domain::vat::{InvoiceTotals, InvoiceTotalsInput, invoice_totals};
use satang_domain::{AppliedDiscount, Currency, InvoiceStatus, bangkok_date};
use satang_store::audit::{self, Actor, Change};
use satang_store::invoices::{self, Invoice, InvoiceFields};
use satang_store::outbox;
use satang_store::{Tx, customers};

use crate::{BillingSettings, Error, Result, credit_grants};

pub mod one_off;
pub mod sending;
pub mod settlement;

pub use one_off::{
    OneOffLine, add_draft_line, create_one_off_invoice, delete_draft, remove_draft_line,
};
pub use sending::send_invoice;

/// Totals of lines under the given terms, without withholding (that is the payer's choice).
pub fn totals(
    line_amounts: &[i64],
    discount: i64,
    vat_rate_bps: u32,
    prices_include_vat: bool,
) -> Result<InvoiceTotals> {
    invoice_totals(&InvoiceTotalsInput {
        line_amounts,
        discount,
        vat_rate_bps,
        prices_include_vat,
        withholding_rate_bps: 0,
    })
    .map_err(|e| Error::Invalid {
        field: "lines",
        message: e.to_string(),
    })
}

/// The fields of a new draft invoice in `currency` whose lines come to `amounts`, with
/// `discounts` taken off before VAT: its totals under today's tax settings.
pub fn draft_fields(
    currency: Currency,
    discounts: Vec<AppliedDiscount>,
    amounts: &[i64],
    settings: &BillingSettings,
) -> Result<InvoiceFields> {
    let t = totals(
        amounts,
        discounts.iter().map(|d| d.amount).sum(),
        settings.vat_rate_bps,
        settings.prices_include_vat,
    )?;
    let mut f = InvoiceFields {
        status: InvoiceStatus::Draft,
        currency,
        discounts,
        ..InvoiceFields::default()
    };
    apply_totals(
        &mut f,
        &t,
        settings.vat_rate_bps,
        settings.prices_include_vat,
    );
    Ok(f)
}

/// Copies totals onto the fields of an invoice that nobody has paid yet.
pub fn apply_totals(f: &mut InvoiceFields, t: &InvoiceTotals, rate: u32, inclusive: bool) {
    f.subtotal = t.subtotal;
    f.discount = t.discount;
    f.vat_rate_bps = i64::from(rate);
    f.vat_amount = t.vat_amount;
    f.total = t.total;
    f.prices_include_vat = inclusive;
    f.amount_due = t.total;
}

/// The compact state kept in audit events (the lines never change after issue).
pub fn invoice_audit_json(i: &Invoice) -> Value {
    json!({
        "id": i.id, "number": i.number, "status": i.status, "customer_id": i.customer_id,
        "subscription_id": i.subscription_id, "currency": i.currency, "subtotal": i.subtotal,
        "vat_amount": i.vat_amount, "total": i.total, "amount_paid": i.amount_paid,
        "withholding_tax": i.withholding_tax, "credit_applied": i.credit_applied,
        "amount_credited": i.amount_credited, "amount_due": i.amount_due,
        "period_start": i.period_start, "period_end": i.period_end,
    })
}

/// Writes `f` onto the invoice and its audit event in `tx`.
pub async fn save(
    tx: &mut Tx,
    actor: &Actor,
    before: &Invoice,
    f: InvoiceFields,
    action: &str,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    let after = invoices::update(tx, before.id, f, now).await?;
    if matches!(action, "invoice.finalized" | "invoice.paid") {
        outbox::emit(
            tx,
            outbox::NewEvent {
                event_type: action,
                entity_type: "invoice",
                entity_id: after.id.to_string(),
                customer_id: Some(after.customer_id),
                payload: invoice_audit_json(&after),
            },
            now,
        )
        .await?;
    }
    audit::record(
        tx,
        actor,
        Change {
            action,
            entity_type: "invoice",
            entity_id: before.id.to_string(),
            before: Some(invoice_audit_json(before)),
            after: Some(invoice_audit_json(&after)),
        },
        now,
    )
    .await?;
    Ok(after)
}

/// Issues a draft (locked by the caller in `tx`): totals under the current settings, the
/// customer's credit balance consumed, the next gapless number, the snapshots, the due date
/// (issue date + the customer's payment terms). An invoice the credit balance covers entirely
/// is `paid` at once; otherwise `open`.
pub async fn finalize_invoice(
    tx: &mut Tx,
    actor: &Actor,
    draft: &Invoice,
    settings: &BillingSettings,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    if !draft.status.is_draft() {
        return Err(Error::InvalidState(format!(
            "only a draft invoice can be finalised; this one is {}",
            draft.status
        )));
    }
    let lines = invoices::lines_in(tx, draft.id).await?;
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount).collect();
    let t = totals(
        &amounts,
        draft.discount,
        settings.vat_rate_bps,
        settings.prices_include_vat,
    )?;
    // Customer before the number: every path that locks both takes the customer first.
    let customer = customers::get_in(tx, draft.customer_id)
        .await?
        .ok_or_else(|| Error::Internal(format!("invoice {} without its customer", draft.id)))?;
    let mut f = InvoiceFields::of(draft);
    apply_totals(
        &mut f,
        &t,
        settings.vat_rate_bps,
        settings.prices_include_vat,
    );
    // Credit grants after the customer (the lock order): promotional before VAT, then the
    // balance, then prepaid against what is still due (see `credit_grants`).
    let mut grants = credit_grants::usable_grants(tx, actor, customer.id, now).await?;
    let mut uses = credit_grants::apply_promotional(&mut f, &amounts, &mut grants, settings, now)?;
    let credit = customer.balance.clamp(0, f.total.max(0));
    if credit > 0 {
        invoices::adjust_customer_balance(tx, customer.id, -credit, now).await?;
    }
    f.credit_applied = credit;
    f.amount_due = f.total - credit;
    uses.extend(credit_grants::apply_prepaid(&mut f, &mut grants, now));
    let today = bangkok_date(now);
    let prefix = settings.invoice_prefix.as_str();
    let seq = invoices::next_number(tx, "invoice", prefix, today.year()).await?;

    f.number = Some(invoices::format_number(prefix, today.year(), seq));
    f.issued_at = Some(now);
    let terms = u64::try_from(customer.payment_terms_days).unwrap_or(0);
    // A due date chosen on the draft wins over the customer's payment terms.
    f.due_date = draft
        .due_date
        .or_else(|| today.checked_add_days(Days::new(terms)));
    f.customer_snapshot = Some(json!({
        "name": customer.name,
        "legal_name": customer.legal_name,
        "tax_id": customer.tax_id,
        "branch_code": customer.branch_code,
        "address": customer.address.map(|a| a.0),
    }));
    f.seller_snapshot = Some(settings.seller.clone());
    if f.amount_due <= 0 {
        f.status = InvoiceStatus::Paid;
        f.paid_at = Some(now);
    } else {
        f.status = InvoiceStatus::Open;
    }
    let issued = save(tx, actor, draft, f, "invoice.finalized", now).await?;
    credit_grants::record_uses(tx, actor, &issued, &uses, now).await?;
    crate::tax_documents::issue_for_finalised_invoice(tx, &issued, settings, now).await?;
    Ok(issued)
}

/// `open` → `void`: the invoice is cancelled. Refused once money or a withholding certificate
/// was recorded against it (issue a credit note instead); credit balance it consumed goes back.
pub async fn void_invoice(
    tx: &mut Tx,
    actor: &Actor,
    inv: &Invoice,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    if !inv.status.is_open() {
        return Err(Error::InvalidState(format!(
            "only an open invoice can be voided; this one is {}",
            inv.status
        )));
    }
    if inv.amount_paid > 0 || inv.withholding_tax > 0 {
        return Err(Error::InvalidState(
            "an invoice with payments cannot be voided; issue a credit note".into(),
        ));
    }
    if inv.credit_applied > 0 {
        invoices::adjust_customer_balance(tx, inv.customer_id, inv.credit_applied, now).await?;
    }
    let mut f = InvoiceFields::of(inv);
    f.status = InvoiceStatus::Void;
    f.voided_at = Some(now);
    f.amount_due = 0;
    save(tx, actor, inv, f, "invoice.voided", now).await
}

/// `open` → `uncollectible`: written off; it can still be paid later.
pub async fn mark_uncollectible(
    tx: &mut Tx,
    actor: &Actor,
    inv: &Invoice,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    if !inv.status.is_open() {
        return Err(Error::InvalidState(format!(
            "only an open invoice can be marked uncollectible; this one is {}",
            inv.status
        )));
    }
    let mut f = InvoiceFields::of(inv);
    f.status = InvoiceStatus::Uncollectible;
    f.marked_uncollectible_at = Some(now);
    save(tx, actor, inv, f, "invoice.marked_uncollectible", now).await
}
