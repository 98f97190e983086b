//! Automatic collection and dunning: invoices of subscriptions charged automatically are charged
//! to the customer's default card; a declined charge puts the subscription `past_due` and is
//! tried again on the days of `dunning.retry_days` after the first failure; once
//! `dunning.grace_days` have passed without payment the customer is `suspended`. Any payment
//! that settles the invoice brings both back (see [`reactivate`]). A customer without a card on
//! file is not dunned: the invoice waits for a manual payment. Every step is audited and
//! emits an event (`payment.failed`, `customer.suspended`).

use chrono::{DateTime, Days, Utc};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use satang_domain::{CustomerStatus, InvoiceStatus, Status};
use satang_store::audit::{self, Actor, Change};
use satang_store::outbox::{self, NewEvent};
use satang_store::payment_methods::{self, CollectionDue};
use satang_store::subscriptions::{self, SubscriptionFields};
use satang_store::{Db, Scope, Tx, customers, invoices};

use crate::gateway::{ChargeOutcome, ChargeRequest, Gateways};
use crate::invoicing::settlement::{PaymentInput, record_payment};
use crate::{BillingSettings, Result};

/// What one collection pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CollectionReport {
    pub charged: u32,
    pub declined: u32,
    /// Charges without an answer (provider down, timeout): tried again on the next pass.
    pub unanswered: u32,
    pub customers_suspended: u32,
}

/// Charges every invoice whose collection attempt is due, then suspends customers past grace.
/// `open_token` unseals a stored card token; each card is charged through the gateway it was
/// stored with. A provider's charge is claimed by its id before its payment is recorded, so
/// its webhook arriving meanwhile records nothing a second time.
pub async fn collect_due(
    db: &Db,
    gateways: &Gateways<'_>,
    open_token: &(dyn Fn(&[u8]) -> Option<String> + Sync),
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<CollectionReport> {
    let settings = BillingSettings::load(db).await?;
    let mut report = CollectionReport::default();
    for due in payment_methods::collection_due(db, now, 200).await? {
        let mut tx = db.begin().await?;
        if !payment_methods::lock_for_collection(&mut tx, due.id, now).await? {
            continue;
        }
        let Some(inv) = invoices::lock(&mut tx, due.id, Scope::All).await? else {
            continue;
        };
        let method = payment_methods::find_default(&mut tx, due.customer_id).await?;
        let card = method.as_ref().filter(|m| m.method_type == "card");
        let token = card
            .and_then(|m| m.token_sealed.as_deref())
            .and_then(open_token);
        let gateway = card
            .map(|m| m.gateway.as_deref().unwrap_or("sandbox"))
            .and_then(|name| gateways.named(name));
        // Without a card on file the invoice waits for a manual payment (transfer, PromptPay):
        // nothing to charge is not a failed charge.
        let (Some(token), Some(gateway)) = (token, gateway) else {
            payment_methods::stop_collection(&mut tx, inv.id).await?;
            tx.commit().await?;
            continue;
        };
        let key = format!("{}-{}", inv.id, due.collection_attempts + 1);
        let outcome = gateway
            .charge(ChargeRequest {
                token: &token,
                amount: inv.amount_due,
                currency: inv.currency,
                invoice_id: inv.id,
                idempotency_key: &key,
            })
            .await;
        match outcome {
            ChargeOutcome::Succeeded { reference } => {
                let provider = gateway.name() != "sandbox";
                if provider
                    && !satang_store::providers::claim_charge(
                        &mut tx,
                        gateway.name(),
                        &reference,
                        inv.id,
                        now,
                    )
                    .await?
                {
                    // Its webhook recorded this charge already.
                    payment_methods::stop_collection(&mut tx, inv.id).await?;
                    tx.commit().await?;
                    continue;
                }
                let input = PaymentInput {
                    amount: inv.amount_due,
                    method: "card".into(),
                    reference: Some(reference),
                    paid_at: now,
                    withholding: None,
                };
                let (_, payment) =
                    record_payment(&mut tx, actor, &inv, input, &settings, now).await?;
                if provider {
                    satang_store::providers::set_charge_payment(
                        &mut tx,
                        gateway.name(),
                        payment.reference.as_deref().unwrap_or_default(),
                        payment.id,
                    )
                    .await?;
                }
                payment_methods::stop_collection(&mut tx, inv.id).await?;
                report.charged += 1;
            }
            ChargeOutcome::Unavailable { reason } => {
                tracing::warn!(invoice = %inv.id, gateway = gateway.name(), %reason,
                    "the charge got no answer; the next pass tries again with the same key");
                report.unanswered += 1;
                continue;
            }
            ChargeOutcome::Declined { reason } => {
                declined(&mut tx, actor, &due, &settings, &reason, now).await?;
                report.declined += 1;
            }
        }
        tx.commit().await?;
    }
    report.customers_suspended = suspend_past_grace(db, actor, &settings, now).await?;
    Ok(report)
}

async fn declined(
    tx: &mut Tx,
    actor: &Actor,
    due: &CollectionDue,
    settings: &BillingSettings,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let first = due.first_failed_at.unwrap_or(now);
    let failures = usize::try_from(due.collection_attempts).unwrap_or(0) + 1;
    let next = settings
        .dunning_retry_days
        .get(failures - 1)
        .and_then(|days| first.checked_add_days(Days::new(u64::from(*days))));
    payment_methods::record_failure(tx, due.id, first, next).await?;
    if let Some(sub_id) = due.subscription_id
        && let Some(sub) = subscriptions::lock(tx, sub_id, Scope::All).await?
        && sub.status == Status::Active
    {
        let mut f = SubscriptionFields::of(&sub);
        f.status = Status::PastDue;
        subscriptions::update(tx, sub.id, f, now).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "subscription.past_due",
                entity_type: "subscription",
                entity_id: sub.id.to_string(),
                before: Some(json!({"status": sub.status})),
                after: Some(json!({"status": Status::PastDue})),
            },
            now,
        )
        .await?;
    }
    let payload = json!({"invoice_id": due.id, "attempt": failures, "reason": reason,
                         "next_attempt_at": next});
    outbox::emit(
        tx,
        NewEvent {
            event_type: "payment.failed",
            entity_type: "invoice",
            entity_id: due.id.to_string(),
            customer_id: Some(due.customer_id),
            payload: payload.clone(),
        },
        now,
    )
    .await?;
    audit::record(
        tx,
        actor,
        Change {
            action: "payment.failed",
            entity_type: "invoice",
            entity_id: due.id.to_string(),
            before: None,
            after: Some(payload),
        },
        now,
    )
    .await?;
    Ok(())
}

async fn suspend_past_grace(
    db: &Db,
    actor: &Actor,
    settings: &BillingSettings,
    now: DateTime<Utc>,
) -> Result<u32> {
    let cutoff = now
        .checked_sub_days(Days::new(u64::from(settings.dunning_grace_days)))
        .unwrap_or(now);
    let mut suspended = 0;
    for customer_id in payment_methods::customers_past_grace(db, cutoff).await? {
        let mut tx = db.begin().await?;
        let Some(customer) = customers::get_in(&mut tx, customer_id).await? else {
            continue;
        };
        if !customer.status.is_active() {
            continue;
        }
        let status = CustomerStatus::Suspended;
        customers::set_status(&mut tx, customer_id, status, now).await?;
        let payload = json!({"id": customer_id, "status": status, "reason": "dunning"});
        outbox::emit(
            &mut tx,
            NewEvent {
                event_type: "customer.suspended",
                entity_type: "customer",
                entity_id: customer_id.to_string(),
                customer_id: Some(customer_id),
                payload: payload.clone(),
            },
            now,
        )
        .await?;
        audit::record(
            &mut tx,
            actor,
            Change {
                action: "customer.suspended",
                entity_type: "customer",
                entity_id: customer_id.to_string(),
                before: Some(json!({"status": customer.status})),
                after: Some(payload),
            },
            now,
        )
        .await?;
        tx.commit().await?;
        suspended += 1;
    }
    Ok(suspended)
}

/// After an invoice is settled: its subscription leaves `past_due` once nothing of it is
/// overdue any more, and a customer suspended by dunning with nothing left unpaid is active
/// again.
pub async fn reactivate(
    tx: &mut Tx,
    actor: &Actor,
    customer_id: Uuid,
    subscription_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<()> {
    let unpaid = invoices::list_in(tx, customer_id, InvoiceStatus::Open).await?;
    if let Some(sub_id) = subscription_id
        && !unpaid
            .iter()
            .any(|i| i.subscription_id == Some(sub_id) && i.first_failed_at.is_some())
        && let Some(sub) = subscriptions::lock(tx, sub_id, Scope::All).await?
        && sub.status == Status::PastDue
    {
        let mut f = SubscriptionFields::of(&sub);
        f.status = Status::Active;
        subscriptions::update(tx, sub.id, f, now).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "subscription.reactivated",
                entity_type: "subscription",
                entity_id: sub.id.to_string(),
                before: Some(json!({"status": Status::PastDue})),
                after: Some(json!({"status": Status::Active})),
            },
            now,
        )
        .await?;
    }
    if !unpaid.iter().any(|i| i.first_failed_at.is_some())
        && let Some(customer) = customers::get_in(tx, customer_id).await?
        && customer.status == CustomerStatus::Suspended
    {
        customers::set_status(tx, customer_id, CustomerStatus::Active, now).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "customer.reactivated",
                entity_type: "customer",
                entity_id: customer_id.to_string(),
                before: Some(json!({"status": CustomerStatus::Suspended})),
                after: Some(json!({"status": CustomerStatus::Active, "reason": "payment"})),
            },
            now,
        )
        .await?;
    }
    Ok(())
}
