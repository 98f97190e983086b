//! Credit grants (SPEC §2.11): granting, voiding and expiring them, and how a finalised
//! invoice consumes them.
//!
//! Decisions:
//! - **Order on an invoice**: the coupon's discount first (on the subscription's lines), then
//!   **promotional** grants take what is left of the subtotal before VAT (they are a discount:
//!   they lower the VAT base and appear in `discounts` as `{coupon_code: "CREDIT",
//!   credit_grant_id, amount}`, included in `discount`), then VAT, then the customer's credit
//!   balance (overpayments), then **prepaid** grants pay what is still due after VAT, each as a
//!   payment with `method: "credit"` (prepaid credit was invoiced with VAT when it was bought).
//! - **Which grants**: active, in the invoice's currency, not expired at the moment of
//!   finalisation (the app clock), by priority, then earliest expiry, then creation
//!   (`satang_domain::credit::allocate`).
//! - **Never overdrawn**: grants are read locked (PostgreSQL `FOR UPDATE`, after the customer)
//!   and taken by a conditional UPDATE that requires enough left
//!   (`satang_store::credit_grants::consume_many`, the uses of one grant added up); a grant
//!   that changed under us rolls the finalisation (or the billing run's chunk) back instead of
//!   going below 0.
//! - **Expiry** is noticed by each billing run (before it bills) and by a finalisation that
//!   finds an expired grant of the customer: either marks it `expired` and emits
//!   `credit_grant.expired`. A grant reaching 0 becomes `depleted` with `credit_grant.depleted`.
//! - **Voiding** an invoice does not give promotional credit back (issue a new grant if it
//!   should be); an invoice a prepaid grant paid cannot be voided (it has a payment).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use satang_domain::credit::{GrantBalance, allocate};
use satang_domain::vat::InvoiceTotals;
use satang_domain::{AppliedDiscount, Currency};
use satang_store::audit::{self, Actor, Change};
use satang_store::credit_grants::{self, CreditGrant, CreditPayment, NewCreditGrant};
use satang_store::invoices::{Invoice, InvoiceFields};
use satang_store::outbox::{self, NewEvent};
use satang_store::{Db, Tx, customers};

use crate::invoicing::{apply_totals, totals};
use crate::{BillingSettings, Error, Result};

/// The `coupon_code` of a promotional grant's entry in an invoice's `discounts`.
pub const CREDIT_DISCOUNT_CODE: &str = "CREDIT";

/// The two kinds of grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// A discount before VAT.
    Promotional,
    /// Pays the amount due after VAT.
    Prepaid,
}

impl GrantType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "promotional" => Some(GrantType::Promotional),
            "prepaid" => Some(GrantType::Prepaid),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            GrantType::Promotional => "promotional",
            GrantType::Prepaid => "prepaid",
        }
    }
}

/// A grant to create, validated by the caller (amount > 0, priority 0–100, expiry ahead).
#[derive(Debug, Clone)]
pub struct GrantInput {
    pub grant_type: GrantType,
    pub amount: i64,
    pub currency: Currency,
    pub expires_at: Option<DateTime<Utc>>,
    pub priority: i64,
    pub note: Option<String>,
}

/// What the API, webhooks and the audit log show of a grant.
pub fn grant_json(g: &CreditGrant) -> Value {
    json!({
        "id": g.id, "customer_id": g.customer_id, "type": g.grant_type, "amount": g.amount,
        "remaining": g.remaining, "currency": g.currency, "expires_at": g.expires_at,
        "priority": g.priority, "note": g.note, "status": g.status,
        "created_at": g.created_at, "updated_at": g.updated_at,
    })
}

/// The outbox event of a grant's `action`.
fn event(action: &'static str, after: &CreditGrant) -> NewEvent<'static> {
    NewEvent {
        event_type: action,
        entity_type: "credit_grant",
        entity_id: after.id.to_string(),
        customer_id: Some(after.customer_id),
        payload: grant_json(after),
    }
}

/// The audit entry of a grant's `action`.
fn change(
    action: &'static str,
    before: Option<&CreditGrant>,
    after: &CreditGrant,
) -> Change<'static> {
    Change {
        action,
        entity_type: "credit_grant",
        entity_id: after.id.to_string(),
        before: before.map(grant_json),
        after: Some(grant_json(after)),
    }
}

async fn announce(
    tx: &mut Tx,
    actor: &Actor,
    action: &'static str,
    before: Option<&CreditGrant>,
    after: &CreditGrant,
    now: DateTime<Utc>,
) -> Result<()> {
    outbox::emit(tx, event(action, after), now).await?;
    audit::record(tx, actor, change(action, before, after), now).await?;
    Ok(())
}

/// Grants credit to a customer (which must exist), with `credit_grant.created`.
pub async fn create_grant(
    tx: &mut Tx,
    actor: &Actor,
    customer_id: Uuid,
    input: GrantInput,
    now: DateTime<Utc>,
) -> Result<CreditGrant> {
    customers::get_in(tx, customer_id)
        .await?
        .ok_or(Error::NotFound)?;
    let grant = credit_grants::insert(
        tx,
        NewCreditGrant {
            customer_id,
            grant_type: input.grant_type.as_str().to_owned(),
            amount: input.amount,
            currency: input.currency.code().to_owned(),
            expires_at: input.expires_at,
            priority: input.priority,
            note: input.note,
        },
        now,
    )
    .await?;
    announce(tx, actor, "credit_grant.created", None, &grant, now).await?;
    Ok(grant)
}

/// Voids an active grant: what it had left is no longer given (409 once it is not active).
pub async fn void_grant(
    tx: &mut Tx,
    actor: &Actor,
    customer_id: Uuid,
    grant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<CreditGrant> {
    customers::get_in(tx, customer_id)
        .await?
        .ok_or(Error::NotFound)?;
    let before = credit_grants::get_in(tx, customer_id, grant_id)
        .await?
        .ok_or(Error::NotFound)?;
    let after = credit_grants::void(tx, grant_id, now)
        .await?
        .ok_or_else(|| {
            Error::InvalidState(format!(
                "only an active grant can be voided; this one is {}",
                before.status
            ))
        })?;
    announce(tx, actor, "credit_grant.voided", Some(&before), &after, now).await?;
    Ok(after)
}

/// Marks every active grant whose expiry has passed `expired`, each in its own transaction with
/// `credit_grant.expired`. Called by the billing run before it bills.
pub async fn expire_grants(db: &Db, actor: &Actor, now: DateTime<Utc>) -> Result<u32> {
    let mut expired = 0;
    loop {
        let due = credit_grants::expired_due(db, now, 200).await?;
        if due.is_empty() {
            return Ok(expired);
        }
        for g in due {
            let mut tx = db.begin().await?;
            if let Some(after) = credit_grants::expire(&mut tx, g.id, now).await? {
                announce(
                    &mut tx,
                    actor,
                    "credit_grant.expired",
                    Some(&g),
                    &after,
                    now,
                )
                .await?;
                expired += 1;
            }
            tx.commit().await?;
        }
    }
}

/// What one grant gives one invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantUse {
    pub grant_id: Uuid,
    pub grant_type: GrantType,
    pub amount: i64,
}

fn balances(grants: &[&mut CreditGrant]) -> Vec<GrantBalance> {
    grants
        .iter()
        .map(|g| GrantBalance {
            remaining: g.remaining,
            priority: g.priority,
            expires_at: g.expires_at,
            created_at: g.created_at,
        })
        .collect()
}

/// Takes up to `amount` from the grants of `kind` in `currency`, lowering their `remaining` in
/// memory (so that a run billing several invoices of one customer sees what is left).
fn take(
    grants: &mut [CreditGrant],
    kind: GrantType,
    currency: Currency,
    amount: i64,
    now: DateTime<Utc>,
) -> Vec<GrantUse> {
    let mut eligible: Vec<&mut CreditGrant> = grants
        .iter_mut()
        .filter(|g| {
            g.status == "active" && g.grant_type == kind.as_str() && g.currency == currency.code()
        })
        .collect();
    let allocations = allocate(&balances(&eligible), amount, now);
    allocations
        .into_iter()
        .map(|a| {
            let g = &mut eligible[a.index];
            g.remaining -= a.amount;
            GrantUse {
                grant_id: g.id,
                grant_type: kind,
                amount: a.amount,
            }
        })
        .collect()
}

/// Promotional credit on an invoice whose lines are `amounts` and whose coupon discount is in
/// `f`: taken from what the coupon left of the subtotal, then the totals again with it as a
/// further discount (VAT on the rest). Writes the totals and the `discounts` entries onto `f`.
pub fn apply_promotional(
    f: &mut InvoiceFields,
    amounts: &[i64],
    grants: &mut [CreditGrant],
    settings: &BillingSettings,
    now: DateTime<Utc>,
) -> Result<Vec<GrantUse>> {
    let room = (f.subtotal - f.discount).max(0);
    let uses = take(grants, GrantType::Promotional, f.currency, room, now);
    if uses.is_empty() {
        return Ok(uses);
    }
    let promotional: i64 = uses.iter().map(|u| u.amount).sum();
    let t: InvoiceTotals = totals(
        amounts,
        f.discount + promotional,
        settings.vat_rate_bps,
        settings.prices_include_vat,
    )?;
    apply_totals(f, &t, settings.vat_rate_bps, settings.prices_include_vat);
    f.discounts.extend(uses.iter().map(|u| AppliedDiscount {
        coupon_code: CREDIT_DISCOUNT_CODE.to_owned(),
        credit_grant_id: Some(u.grant_id.to_string()),
        amount: u.amount,
    }));
    Ok(uses)
}

/// Prepaid credit against what is still due on `f` (after VAT and the credit balance): paid,
/// so `amount_paid` rises and `amount_due` falls by it.
pub fn apply_prepaid(
    f: &mut InvoiceFields,
    grants: &mut [CreditGrant],
    now: DateTime<Utc>,
) -> Vec<GrantUse> {
    let uses = take(grants, GrantType::Prepaid, f.currency, f.amount_due, now);
    let paid: i64 = uses.iter().map(|u| u.amount).sum();
    f.amount_paid += paid;
    f.amount_due -= paid;
    uses
}

/// Writes what an issued invoice took from grants: [`record_uses_many`] for one invoice.
pub async fn record_uses(
    tx: &mut Tx,
    actor: &Actor,
    invoice: &Invoice,
    uses: &[GrantUse],
    now: DateTime<Utc>,
) -> Result<()> {
    record_uses_many(tx, actor, &[(invoice, uses)], now).await
}

/// Writes what issued invoices took from grants, in a fixed number of statements whatever the
/// number of invoices (a billing run's chunk): the grants lowered by one conditional UPDATE,
/// the uses of one grant by several invoices added up (a grant that cannot give it any more
/// fails the whole transaction, which the caller then rolls back), a `credit` payment per
/// prepaid use, and `credit_grant.depleted` with its audit entry for each grant that reached 0.
pub async fn record_uses_many(
    tx: &mut Tx,
    actor: &Actor,
    invoices: &[(&Invoice, &[GrantUse])],
    now: DateTime<Utc>,
) -> Result<()> {
    let uses = || {
        invoices
            .iter()
            .flat_map(|(invoice, uses)| uses.iter().map(move |u| (*invoice, u)))
    };
    let consumed: Vec<(Uuid, i64)> = uses().map(|(_, u)| (u.grant_id, u.amount)).collect();
    if consumed.is_empty() {
        return Ok(());
    }
    let after = credit_grants::consume_many(tx, &consumed, now).await?;
    let given: HashSet<Uuid> = after.iter().map(|g| g.id).collect();
    if let Some((invoice, u)) = uses().find(|(_, u)| !given.contains(&u.grant_id)) {
        return Err(Error::InvalidState(format!(
            "credit grant {} changed while invoice {} was finalised; try again",
            u.grant_id, invoice.id
        )));
    }
    let payments: Vec<CreditPayment> = uses()
        .filter(|(_, u)| u.grant_type == GrantType::Prepaid)
        .map(|(invoice, u)| CreditPayment {
            invoice_id: invoice.id,
            customer_id: invoice.customer_id,
            grant_id: u.grant_id,
            amount: u.amount,
            currency: invoice.currency.code().to_owned(),
        })
        .collect();
    credit_grants::insert_credit_payments(tx, &payments, now).await?;
    let depleted: Vec<&CreditGrant> = after.iter().filter(|g| g.status == "depleted").collect();
    if depleted.is_empty() {
        return Ok(());
    }
    outbox::emit_many(
        tx,
        depleted
            .iter()
            .map(|g| event("credit_grant.depleted", g))
            .collect(),
        now,
    )
    .await?;
    audit::record_many(
        tx,
        actor,
        depleted
            .iter()
            .map(|g| change("credit_grant.depleted", None, g))
            .collect(),
        now,
    )
    .await?;
    Ok(())
}

/// The customer's active grants for a finalisation (locked, after the customer): those already
/// expired at `now` are marked so (with `credit_grant.expired`) and left out.
pub async fn usable_grants(
    tx: &mut Tx,
    actor: &Actor,
    customer_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<CreditGrant>> {
    let mut usable = Vec::new();
    for g in credit_grants::active_many_in(tx, &[customer_id]).await? {
        if g.expires_at.is_some_and(|e| e <= now) {
            if let Some(after) = credit_grants::expire(tx, g.id, now).await? {
                announce(tx, actor, "credit_grant.expired", Some(&g), &after, now).await?;
            }
        } else {
            usable.push(g);
        }
    }
    Ok(usable)
}
