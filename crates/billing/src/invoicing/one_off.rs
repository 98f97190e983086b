//! One-off invoices (SPEC §2.6): a draft with manual lines that staff create for a customer,
//! outside any subscription. It is finalised like every other draft ([`super::finalize_invoice`]).

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use satang_domain::bangkok_date;
use satang_store::audit::{self, Actor, Change};
use satang_store::invoices::{self, Invoice, InvoiceOrigin, NewLine};
use satang_store::{Tx, subscriptions};

use super::{draft_fields, invoice_audit_json};
use crate::{BillingSettings, Error, Result};

/// One manual line as the API accepts it (description given, quantity ≥ 1, unit amount ≥ 0).
#[derive(Debug, Clone)]
pub struct OneOffLine {
    pub description: String,
    pub quantity: i64,
    pub unit_amount: i64,
}

/// Creates a draft of `lines` for customer `customer_id`, totalled under today's settings
/// (finalising recomputes them) and audited as `invoice.created`. Only an active customer is
/// invoiced; a due date, when chosen, must not be in the past (Bangkok date).
pub async fn create_one_off_invoice(
    tx: &mut Tx,
    actor: &Actor,
    customer_id: Uuid,
    lines: Vec<OneOffLine>,
    due_date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    if due_date.is_some_and(|due| due < bangkok_date(now)) {
        return Err(Error::Invalid {
            field: "due_date",
            message: "must not be in the past".into(),
        });
    }
    let settings = BillingSettings::load_in(tx).await?;
    let customer = subscriptions::billing_customer_in(tx, customer_id)
        .await?
        .ok_or(Error::NotFound)?;
    if !customer.status.is_active() {
        return Err(Error::InvalidState(format!(
            "the customer is {}; it cannot be invoiced",
            customer.status
        )));
    }
    let mut new_lines = Vec::with_capacity(lines.len());
    for l in lines {
        let amount = satang_domain::vat::line_amount(l.quantity, l.unit_amount).map_err(|e| {
            Error::Invalid {
                field: "lines",
                message: e.to_string(),
            }
        })?;
        new_lines.push(NewLine {
            kind: "manual".into(),
            description: l.description,
            period_start: None,
            period_end: None,
            quantity: l.quantity,
            unit_amount: l.unit_amount,
            amount,
        });
    }
    let amounts: Vec<i64> = new_lines.iter().map(|l| l.amount).collect();
    let mut f = draft_fields(customer.currency, Vec::new(), &amounts, &settings)?;
    f.due_date = due_date;
    let origin = InvoiceOrigin {
        customer_id: customer.id,
        subscription_id: None,
        period_start: None,
        period_end: None,
        billing_reason: "manual".into(),
        mrr: 0,
    };
    let inv = invoices::insert(tx, &origin, f, &new_lines, now)
        .await?
        .ok_or_else(|| Error::Internal("a one-off invoice met the period key".into()))?;
    audit::record(
        tx,
        actor,
        Change {
            action: "invoice.created",
            entity_type: "invoice",
            entity_id: inv.id.to_string(),
            before: None,
            after: Some(invoice_audit_json(&inv)),
        },
        now,
    )
    .await?;
    Ok(inv)
}
