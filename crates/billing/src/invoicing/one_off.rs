//! One-off invoices (SPEC §2.6): a draft with manual lines that staff create for a customer,
//! outside any subscription. It is finalised like every other draft ([`super::finalize_invoice`]).
//!
//! Until then the draft is a worksheet, as in Stripe's dashboard: lines are added and removed
//! (its totals follow under today's settings), and a one-off draft nobody wants any more is
//! deleted outright — it has no number yet, so no gap opens. A draft keeps at least one line.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use satang_domain::bangkok_date;
use satang_store::audit::{self, Actor, Change};
use satang_store::invoices::{self, Invoice, InvoiceFields, InvoiceLine, InvoiceOrigin, NewLine};
use satang_store::{Tx, subscriptions};

use super::{apply_totals, draft_fields, invoice_audit_json, totals};
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
    let new_lines = lines
        .into_iter()
        .map(manual_line)
        .collect::<Result<Vec<NewLine>>>()?;
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

/// The most lines a draft holds (as many as `POST /api/invoices` accepts).
pub const MAX_LINES: usize = 100;

/// A manual line as stored: its amount `quantity × unit_amount`, checked.
fn manual_line(l: OneOffLine) -> Result<NewLine> {
    let amount =
        satang_domain::vat::line_amount(l.quantity, l.unit_amount).map_err(|e| Error::Invalid {
            field: "lines",
            message: e.to_string(),
        })?;
    Ok(NewLine {
        kind: "manual".into(),
        description: l.description,
        period_start: None,
        period_end: None,
        quantity: l.quantity,
        unit_amount: l.unit_amount,
        amount,
    })
}

/// Refuses anything but a draft: an issued invoice is never edited (a credit note corrects it).
fn require_draft(inv: &Invoice, what: &str) -> Result<()> {
    if inv.status.is_draft() {
        Ok(())
    } else {
        Err(Error::InvalidState(format!(
            "only a draft invoice can {what}; this one is {}",
            inv.status
        )))
    }
}

/// The draft `inv` with its totals recomputed over `lines` under today's settings, written
/// with an audit entry `action` that names the line added or removed.
async fn retotal(
    tx: &mut Tx,
    actor: &Actor,
    inv: &Invoice,
    lines: &[InvoiceLine],
    action: &'static str,
    line: &InvoiceLine,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    let settings = BillingSettings::load_in(tx).await?;
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount).collect();
    let t = totals(
        &amounts,
        inv.discount,
        settings.vat_rate_bps,
        settings.prices_include_vat,
    )?;
    let mut f = InvoiceFields::of(inv);
    apply_totals(
        &mut f,
        &t,
        settings.vat_rate_bps,
        settings.prices_include_vat,
    );
    let after = invoices::update(tx, inv.id, f, now).await?;
    let mut state = invoice_audit_json(&after);
    state["line"] = json!({
        "id": line.id, "description": line.description, "quantity": line.quantity,
        "unit_amount": line.unit_amount, "amount": line.amount,
    });
    audit::record(
        tx,
        actor,
        Change {
            action,
            entity_type: "invoice",
            entity_id: inv.id.to_string(),
            before: Some(invoice_audit_json(inv)),
            after: Some(state),
        },
        now,
    )
    .await?;
    Ok(after)
}

/// Adds a manual line to the draft `inv` (locked by the caller in `tx`) after its last line;
/// the totals follow. At most [`MAX_LINES`] lines.
pub async fn add_draft_line(
    tx: &mut Tx,
    actor: &Actor,
    inv: &Invoice,
    line: OneOffLine,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    require_draft(inv, "take new lines")?;
    if invoices::lines_in(tx, inv.id).await?.len() >= MAX_LINES {
        return Err(Error::Invalid {
            field: "lines",
            message: format!("must hold between 1 and {MAX_LINES} lines"),
        });
    }
    let added = invoices::add_line(tx, inv.id, &manual_line(line)?).await?;
    let lines = invoices::lines_in(tx, inv.id).await?;
    retotal(tx, actor, inv, &lines, "invoice.line_added", &added, now).await
}

/// Removes the line `line_id` of the draft `inv` (locked by the caller); the totals follow.
/// The last line stays (delete the draft instead); a line of another invoice is not found.
pub async fn remove_draft_line(
    tx: &mut Tx,
    actor: &Actor,
    inv: &Invoice,
    line_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    require_draft(inv, "lose lines")?;
    let lines = invoices::lines_in(tx, inv.id).await?;
    let line = lines
        .iter()
        .find(|l| l.id == line_id)
        .cloned()
        .ok_or(Error::NotFound)?;
    if lines.len() <= 1 {
        return Err(Error::InvalidState(
            "a draft keeps at least one line; delete the draft instead".into(),
        ));
    }
    invoices::remove_line(tx, inv.id, line_id).await?;
    let rest: Vec<InvoiceLine> = lines.into_iter().filter(|l| l.id != line_id).collect();
    retotal(tx, actor, inv, &rest, "invoice.line_removed", &line, now).await
}

/// Deletes the one-off draft `inv` (locked by the caller) with its lines, audited as
/// `invoice.deleted`. A draft the billing run made for a subscription's period stays: that
/// period would be invoiced again.
pub async fn delete_draft(
    tx: &mut Tx,
    actor: &Actor,
    inv: &Invoice,
    now: DateTime<Utc>,
) -> Result<()> {
    require_draft(inv, "be deleted")?;
    if inv.subscription_id.is_some() {
        return Err(Error::InvalidState(
            "only a one-off draft can be deleted; this one belongs to a subscription".into(),
        ));
    }
    if !invoices::delete_draft(tx, inv.id).await? {
        return Err(Error::NotFound);
    }
    audit::record(
        tx,
        actor,
        Change {
            action: "invoice.deleted",
            entity_type: "invoice",
            entity_id: inv.id.to_string(),
            before: Some(invoice_audit_json(inv)),
            after: None,
        },
        now,
    )
    .await?;
    Ok(())
}
