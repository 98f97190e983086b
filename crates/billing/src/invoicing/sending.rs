//! Sending an issued invoice to the customer again (Stripe's "Send invoice"): the clerk's
//! answer to "we never got it" or a reminder before the due date.
//!
//! Decisions:
//! - It is an outbox event, `invoice.sent`, written with its audit entry in one transaction:
//!   the mail worker sends it like the mail of `invoice.finalized` (same notice, the PDF
//!   attached, the amount due as it stands now), webhooks hear of it, and the invoice's mail
//!   list shows the delivery.
//! - Only an `open` invoice is sent (as Stripe): a paid one has its receipt, a void or
//!   uncollectible one asks for nothing.
//! - A customer without an address to write to is refused at once (409) rather than queuing
//!   a mail that would only be skipped.

use chrono::{DateTime, Utc};

use satang_store::audit::{self, Actor, Change};
use satang_store::invoices::Invoice;
use satang_store::{Tx, contacts, customers, outbox};

use super::invoice_audit_json;
use crate::{Error, Result};

/// Queues the invoice mail of the open invoice `inv` once more (read by the caller in `tx`).
pub async fn send_invoice(
    tx: &mut Tx,
    actor: &Actor,
    inv: &Invoice,
    now: DateTime<Utc>,
) -> Result<()> {
    if !inv.status.is_open() {
        return Err(Error::InvalidState(format!(
            "only an open invoice can be sent; this one is {}",
            inv.status
        )));
    }
    let customer = customers::get_in(tx, inv.customer_id)
        .await?
        .ok_or(Error::NotFound)?;
    let contacts = contacts::list_in(tx, customer.id).await?;
    if crate::mail::recipient(&customer, &contacts).is_none() {
        return Err(Error::InvalidState(
            "the customer has no email address to send the invoice to".into(),
        ));
    }
    let state = invoice_audit_json(inv);
    outbox::emit(
        tx,
        outbox::NewEvent {
            event_type: "invoice.sent",
            entity_type: "invoice",
            entity_id: inv.id.to_string(),
            customer_id: Some(inv.customer_id),
            payload: state.clone(),
        },
        now,
    )
    .await?;
    audit::record(
        tx,
        actor,
        Change {
            action: "invoice.sent",
            entity_type: "invoice",
            entity_id: inv.id.to_string(),
            before: None,
            after: Some(state),
        },
        now,
    )
    .await?;
    Ok(())
}
