//! Settling an issued invoice: payments (with Thai withholding tax) and credit notes.
//!
//! - An invoice is `paid` when payments + withholding tax (+ credit) cover its total. Money
//!   beyond the amount due goes to the customer's credit balance, which the next finalised
//!   invoice consumes.
//! - Withholding tax (50 ทวิ) is capped at the settings rate × the invoice's pre-VAT amount
//!   (`total − vat_amount`), summed over all its payments; more is a 422.
//! - A credit note credits at most what has not been credited yet; it first reduces what is
//!   still due, the rest goes to the customer's balance.

use chrono::{DateTime, Datelike, Utc};
use serde_json::json;

use satang_domain::vat::withholding_tax;
use satang_domain::{InvoiceStatus, bangkok_date};
use satang_store::audit::{self, Actor, Change};
use satang_store::credit_notes::{self, CreditNote, NewCreditNote};
use satang_store::invoices::{self, Invoice, InvoiceFields};
use satang_store::payments::{self, NewPayment, Payment};
use satang_store::{Tx, customers};

use super::{save, totals};
use crate::{BillingSettings, Error, Result};

/// A payment as the API accepted it (amount ≥ 0, method known).
#[derive(Debug, Clone)]
pub struct PaymentInput {
    pub amount: i64,
    pub method: String,
    pub reference: Option<String>,
    pub paid_at: DateTime<Utc>,
    /// Withheld amount and its certificate's number, when it has arrived (it often comes
    /// weeks later: [`record_certificate_no`]).
    pub withholding: Option<(i64, Option<String>)>,
}

/// Records a payment against an `open` or `uncollectible` invoice locked in `tx`.
pub async fn record_payment(
    tx: &mut Tx,
    actor: &Actor,
    inv: &Invoice,
    input: PaymentInput,
    settings: &BillingSettings,
    now: DateTime<Utc>,
) -> Result<(Invoice, Payment)> {
    if !inv.status.accepts_payment() {
        return Err(Error::InvalidState(format!(
            "payments are recorded against open invoices; this one is {}",
            inv.status
        )));
    }
    let wht = input.withholding.as_ref().map_or(0, |(a, _)| *a);
    let cap = withholding_tax(
        inv.total - inv.vat_amount,
        settings.withholding_tax_rate_bps,
    )
    .map_err(|e| Error::Internal(e.to_string()))?;
    if inv.withholding_tax + wht > cap {
        return Err(Error::Invalid {
            field: "withholding_tax.amount",
            message: format!(
                "at most {} may be withheld on this invoice ({} bps of the pre-VAT amount {}); \
                 {} already recorded",
                cap,
                settings.withholding_tax_rate_bps,
                inv.total - inv.vat_amount,
                inv.withholding_tax
            ),
        });
    }
    if wht > inv.amount_due {
        return Err(Error::Invalid {
            field: "withholding_tax.amount",
            message: format!("is more than the amount due ({})", inv.amount_due),
        });
    }
    let money_applied = input.amount.min(inv.amount_due - wht);
    let overpayment = input.amount - money_applied;
    // Customer before anything else it touches, as in finalisation.
    customers::get_in(tx, inv.customer_id).await?;
    // Documents the billing run left to the worker come before this payment's receipt.
    crate::tax_documents::ensure_finalisation_documents(tx, inv, settings, now).await?;
    if overpayment > 0 {
        invoices::adjust_customer_balance(tx, inv.customer_id, overpayment, now).await?;
    }
    let mut f = InvoiceFields::of(inv);
    f.amount_paid += money_applied;
    f.withholding_tax += wht;
    f.amount_due -= money_applied + wht;
    let action = if f.amount_due == 0 {
        f.status = InvoiceStatus::Paid;
        f.paid_at = Some(input.paid_at);
        "invoice.paid"
    } else {
        "invoice.payment_recorded"
    };
    let payment = insert_announced(
        tx,
        actor,
        NewPayment {
            invoice_id: inv.id,
            customer_id: inv.customer_id,
            amount: input.amount,
            currency: inv.currency,
            method: input.method,
            reference: input.reference,
            paid_at: input.paid_at,
            withholding_tax: wht,
            withholding_certificate_no: input.withholding.and_then(|(_, c)| c),
            overpayment,
        },
        f.amount_due,
        None,
        now,
    )
    .await?;
    let was_in_dunning = inv.first_failed_at.is_some();
    let saved = save(tx, actor, inv, f, action, now).await?;
    if saved.status.is_paid() && was_in_dunning {
        crate::collection::reactivate(tx, actor, saved.customer_id, saved.subscription_id, now)
            .await?;
    }
    // The receipt last: its number locks the series' counter until the commit, and every
    // payment takes its turn there, so the less that follows it, the more payments a second.
    crate::tax_documents::issue_for_payment(
        tx,
        inv,
        Some(payment.id),
        money_applied + wht,
        settings,
        now,
    )
    .await?;
    Ok((saved, payment))
}

/// Records money that arrived for an invoice no longer taking payments (paid meanwhile by
/// another route, or void): the whole amount goes to the customer's credit balance, which the
/// next finalised invoice consumes. The payment row names the invoice it was meant for.
pub async fn record_to_balance(
    tx: &mut Tx,
    actor: &Actor,
    inv: &Invoice,
    input: PaymentInput,
    now: DateTime<Utc>,
) -> Result<Payment> {
    customers::get_in(tx, inv.customer_id).await?;
    invoices::adjust_customer_balance(tx, inv.customer_id, input.amount, now).await?;
    let payment = insert_announced(
        tx,
        actor,
        NewPayment {
            invoice_id: inv.id,
            customer_id: inv.customer_id,
            amount: input.amount,
            currency: inv.currency,
            method: input.method,
            reference: input.reference,
            paid_at: input.paid_at,
            withholding_tax: 0,
            withholding_certificate_no: None,
            overpayment: input.amount,
        },
        inv.amount_due,
        Some(format!("the invoice was already {}", inv.status)),
        now,
    )
    .await?;
    Ok(payment)
}

/// Inserts a payment with its `payment.succeeded` event (`invoice_amount_due`: what the
/// invoice still owes after it, as the receipt mail says) and its `payment.recorded` audit
/// entry (`reason` when the money did not go to the invoice).
async fn insert_announced(
    tx: &mut Tx,
    actor: &Actor,
    new: NewPayment,
    invoice_amount_due: i64,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Payment> {
    let payment = payments::insert(tx, new, now).await?;
    satang_store::outbox::emit(
        tx,
        satang_store::outbox::NewEvent {
            event_type: "payment.succeeded",
            entity_type: "payment",
            entity_id: payment.id.to_string(),
            customer_id: Some(payment.customer_id),
            payload: json!({
                "id": payment.id, "invoice_id": payment.invoice_id, "amount": payment.amount,
                "method": payment.method, "withholding_tax": payment.withholding_tax,
                "paid_at": payment.paid_at, "overpayment": payment.overpayment,
                "invoice_amount_due": invoice_amount_due,
            }),
        },
        now,
    )
    .await?;
    let mut after = json!({
        "invoice_id": payment.invoice_id, "amount": payment.amount, "method": payment.method,
        "withholding_tax": payment.withholding_tax, "overpayment": payment.overpayment,
    });
    if let Some(reason) = reason {
        after["reason"] = json!(reason);
    }
    audit::record(
        tx,
        actor,
        Change {
            action: "payment.recorded",
            entity_type: "payment",
            entity_id: payment.id.to_string(),
            before: None,
            after: Some(after),
        },
        now,
    )
    .await?;
    Ok(payment)
}

/// One credit note line as accepted by the API (quantity ≥ 1, unit amount ≥ 0).
#[derive(Debug, Clone)]
pub struct CreditLine {
    pub description: String,
    pub quantity: i64,
    pub unit_amount: i64,
}

/// Issues a credit note against a finalised, not voided invoice locked in `tx`, under the
/// invoice's own VAT terms, so a full credit exactly mirrors it.
pub async fn issue_credit_note(
    tx: &mut Tx,
    actor: &Actor,
    inv: &Invoice,
    lines: Vec<CreditLine>,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<(Invoice, CreditNote)> {
    if !inv.status.is_issued() {
        return Err(Error::InvalidState(format!(
            "credit notes correct finalised invoices; this one is {}",
            inv.status
        )));
    }
    let mut amounts = Vec::with_capacity(lines.len());
    for l in &lines {
        amounts.push(
            satang_domain::vat::line_amount(l.quantity, l.unit_amount).map_err(|e| {
                Error::Invalid {
                    field: "lines",
                    message: e.to_string(),
                }
            })?,
        );
    }
    let rate = u32::try_from(inv.vat_rate_bps).unwrap_or(0);
    let t = totals(&amounts, 0, rate, inv.prices_include_vat)?;
    let creditable = inv.total - inv.amount_credited;
    if t.total > creditable {
        return Err(Error::Invalid {
            field: "lines",
            message: format!(
                "the credit note's total {} is more than what is left to credit ({creditable})",
                t.total
            ),
        });
    }
    let applied = if inv.status.is_paid() {
        0
    } else {
        t.total.min(inv.amount_due)
    };
    let to_balance = t.total - applied;
    customers::get_in(tx, inv.customer_id).await?;
    let settings = crate::BillingSettings::load_in(tx).await?;
    crate::tax_documents::ensure_finalisation_documents(tx, inv, &settings, now).await?;
    if to_balance > 0 {
        invoices::adjust_customer_balance(tx, inv.customer_id, to_balance, now).await?;
    }
    let year = bangkok_date(now).year();
    let seq = invoices::next_number(tx, "credit_note", "CN", year).await?;
    let line_json: Vec<_> = lines
        .iter()
        .zip(&amounts)
        .map(|(l, a)| {
            json!({"description": l.description, "quantity": l.quantity,
                   "unit_amount": l.unit_amount, "amount": a})
        })
        .collect();
    let note = credit_notes::insert(
        tx,
        NewCreditNote {
            number: invoices::format_number("CN", year, seq),
            invoice_id: inv.id,
            customer_id: inv.customer_id,
            currency: inv.currency,
            reason,
            lines: json!(line_json),
            subtotal: t.subtotal,
            vat_amount: t.vat_amount,
            total: t.total,
            applied_to_invoice: applied,
            credited_to_balance: to_balance,
        },
        now,
    )
    .await?;
    let mut f = InvoiceFields::of(inv);
    f.amount_credited += t.total;
    f.amount_due -= applied;
    if f.amount_due == 0 && !inv.status.is_paid() {
        f.status = InvoiceStatus::Paid;
        f.paid_at = Some(now);
    }
    crate::tax_documents::issue_for_credit_note(tx, inv, &note, now).await?;
    let inv = save(tx, actor, inv, f, "invoice.credited", now).await?;
    audit::record(
        tx,
        actor,
        Change {
            action: "credit_note.issued",
            entity_type: "credit_note",
            entity_id: note.id.to_string(),
            before: None,
            after: Some(json!({"number": note.number, "invoice_id": inv.id, "total": note.total})),
        },
        now,
    )
    .await?;
    Ok((inv, note))
}

/// Records the number of the withholding certificate (50 ทวิ) a payment's tax was withheld
/// against: the certificate often arrives weeks after the money. The payment is read and
/// locked here. A payment without withholding tax has no certificate (422); the same number
/// again changes nothing (no event, no audit entry); a different one replaces it (a typo
/// corrected), with the old number in the audit entry. Receipts and the withholding report
/// read the number from the payment, so they show it from now on.
pub async fn record_certificate_no(
    tx: &mut Tx,
    actor: &Actor,
    payment_id: uuid::Uuid,
    certificate_no: &str,
    now: DateTime<Utc>,
) -> Result<Payment> {
    let payment = payments::lock(tx, payment_id)
        .await?
        .ok_or(Error::NotFound)?;
    if payment.withholding_tax == 0 {
        return Err(Error::Invalid {
            field: "certificate_no",
            message: "this payment has no withholding tax, so no withholding certificate".into(),
        });
    }
    if payment.withholding_certificate_no.as_deref() == Some(certificate_no) {
        return Ok(payment);
    }
    let before = payment.withholding_certificate_no.clone();
    let payment = payments::set_certificate_no(tx, payment.id, certificate_no).await?;
    satang_store::outbox::emit(
        tx,
        satang_store::outbox::NewEvent {
            event_type: "payment.updated",
            entity_type: "payment",
            entity_id: payment.id.to_string(),
            customer_id: Some(payment.customer_id),
            payload: json!({
                "id": payment.id, "invoice_id": payment.invoice_id,
                "withholding_tax": {"amount": payment.withholding_tax,
                                    "certificate_no": certificate_no},
            }),
        },
        now,
    )
    .await?;
    audit::record(
        tx,
        actor,
        Change {
            action: "payment.updated",
            entity_type: "payment",
            entity_id: payment.id.to_string(),
            before: Some(json!({"certificate_no": before})),
            after: Some(json!({"certificate_no": certificate_no})),
        },
        now,
    )
    .await?;
    Ok(payment)
}
