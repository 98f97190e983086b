//! Coupons and discounts (SPEC §2.11): creating and archiving coupons, redeeming one on a
//! subscription, removing it, and what a running discount takes off an invoice.
//!
//! Decisions:
//! - **One discount per subscription.** Applying a second is a 409 until the first is removed.
//! - **Refusals change nothing**: an unknown, archived or expired (`redeem_by`) code, a plan
//!   outside `applies_to_plans` and an `amount_off` in another currency than the subscription's
//!   plan are 422 on `coupon`; a coupon used up (`max_redemptions`) is a 409. The redemption is
//!   counted by one conditional UPDATE in the transaction that starts the discount
//!   ([`satang_store::coupons::redeem`]), so the limit holds under concurrency.
//! - **What a discount covers**: every line of each period invoice of the subscription while it
//!   runs (the fee, usage in arrears, a cycle change's credit), `once` the next period invoice,
//!   `repeating` that many period invoices (counted down by the invoice that uses one, also
//!   when the billing run issues it), `forever` all of them. A percentage also applies to a
//!   plan change's proration invoice (both prices were discounted alike); a fixed amount does
//!   not (it is an amount per period, already given on the period's invoice), and neither
//!   counts a period there.
//! - The discount stays when a pending downgrade moves the subscription to a plan outside
//!   `applies_to_plans`: the restriction is checked when the coupon is redeemed.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use satang_domain::period::add_cycle;
use satang_domain::{
    AppliedDiscount, BillingCycle, CouponCode, CouponDuration, CouponValue, Currency, Status,
};
use satang_store::audit::{self, Actor, Change};
use satang_store::coupons::{self, Coupon, NewCoupon};
use satang_store::outbox::{self, NewEvent};
use satang_store::subscriptions::{self, RunningDiscount, Subscription};
use satang_store::{Scope, Tx, plans};

use crate::subscriptions::{audit_change, subscription_json};
use crate::{Error, Result};

/// A coupon to create, already validated by the caller.
#[derive(Debug, Clone)]
pub struct CouponInput {
    pub code: CouponCode,
    pub name_th: String,
    pub name_en: String,
    pub value: CouponValue,
    pub duration: CouponDuration,
    /// Normalised plan codes; `None`: every plan.
    pub applies_to_plans: Option<Vec<String>>,
    pub max_redemptions: Option<i64>,
    pub redeem_by: Option<DateTime<Utc>>,
}

/// What the API, webhooks and the audit log show of a coupon (the API's `CouponView`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CouponView)]
pub struct CouponSummary {
    pub id: Uuid,
    pub code: String,
    pub name: LocalName,
    /// Basis points off the subscription's lines (2000 = 20 %); absent for an amount off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_off_bps: Option<i64>,
    /// Minor units off each invoice (capped at its lines); absent for a percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_off: Option<i64>,
    /// The currency of `amount_off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `once`, `repeating` or `forever`.
    pub duration: String,
    /// Periods a `repeating` coupon lasts; null otherwise.
    pub duration_in_periods: Option<i64>,
    /// Plan codes it may be redeemed on; null: every plan.
    pub applies_to_plans: Option<Vec<String>>,
    pub max_redemptions: Option<i64>,
    pub redeem_by: Option<DateTime<Utc>>,
    /// False once archived.
    pub active: bool,
    pub times_redeemed: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A coupon's name in both of the console's languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CouponNameView)]
pub struct LocalName {
    pub th: String,
    pub en: String,
}

impl From<Coupon> for CouponSummary {
    fn from(c: Coupon) -> Self {
        CouponSummary {
            id: c.id,
            code: c.code,
            name: LocalName {
                th: c.name_th,
                en: c.name_en,
            },
            percent_off_bps: c.percent_off_bps,
            amount_off: c.amount_off,
            currency: c.currency,
            duration: c.duration,
            duration_in_periods: c.duration_in_periods,
            applies_to_plans: c.applies_to_plans.map(|p| p.0),
            max_redemptions: c.max_redemptions,
            redeem_by: c.redeem_by,
            active: c.active,
            times_redeemed: c.times_redeemed,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

fn coupon_json(c: &Coupon) -> Value {
    serde_json::to_value(CouponSummary::from(c.clone())).unwrap_or_default()
}

/// Creates a coupon, with its audit entry; a code in use is a 409.
pub async fn create_coupon(
    tx: &mut Tx,
    actor: &Actor,
    input: CouponInput,
    now: DateTime<Utc>,
) -> Result<Coupon> {
    let (percent_off_bps, amount_off, currency) = match input.value {
        CouponValue::PercentOff { bps } => (Some(i64::from(bps)), None, None),
        CouponValue::AmountOff { amount, currency } => {
            (None, Some(amount), Some(currency.code().to_owned()))
        }
    };
    let coupon = coupons::insert(
        tx,
        NewCoupon {
            code: input.code.as_str().to_owned(),
            name_th: input.name_th,
            name_en: input.name_en,
            percent_off_bps,
            amount_off,
            currency,
            duration: input.duration.as_str().to_owned(),
            duration_in_periods: input.duration.periods().map(i64::from),
            applies_to_plans: input.applies_to_plans,
            max_redemptions: input.max_redemptions,
            redeem_by: input.redeem_by,
        },
        now,
    )
    .await?;
    audit::record(
        tx,
        actor,
        Change {
            action: "coupon.created",
            entity_type: "coupon",
            entity_id: coupon.id.to_string(),
            before: None,
            after: Some(coupon_json(&coupon)),
        },
        now,
    )
    .await?;
    Ok(coupon)
}

/// Takes a coupon off sale (idempotent); the discounts it gave keep running.
pub async fn archive_coupon(
    tx: &mut Tx,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Coupon> {
    let before = coupons::get_in(tx, id).await?.ok_or(Error::NotFound)?;
    let after = coupons::archive(tx, id, now)
        .await?
        .ok_or(Error::NotFound)?;
    if before.active {
        audit::record(
            tx,
            actor,
            Change {
                action: "coupon.archived",
                entity_type: "coupon",
                entity_id: id.to_string(),
                before: Some(coupon_json(&before)),
                after: Some(coupon_json(&after)),
            },
            now,
        )
        .await?;
    }
    Ok(after)
}

fn refused(message: impl Into<String>) -> Error {
    Error::Invalid {
        field: "coupon",
        message: message.into(),
    }
}

/// Redeems the coupon `code` on `sub` (locked by the caller in `tx`): checks it may be
/// redeemed there, counts the redemption and starts the discount, with the `coupon.redeemed`
/// event and the subscription's audit entry. Returns the subscription with its discount.
pub async fn apply_discount(
    tx: &mut Tx,
    actor: &Actor,
    sub: Subscription,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    if sub.status == Status::Canceled {
        return Err(Error::InvalidState(
            "a canceled subscription cannot get a discount".into(),
        ));
    }
    if sub.discount.discount_id.is_some() {
        return Err(Error::InvalidState(
            "the subscription already has a discount; remove it first".into(),
        ));
    }
    let code = CouponCode::parse(code).map_err(|e| refused(e.to_string()))?;
    let coupon = coupons::find_by_code_in(tx, code.as_str())
        .await?
        .ok_or_else(|| refused("no coupon has this code"))?;
    if !coupon.active {
        return Err(refused("this coupon is archived"));
    }
    if coupon.redeem_by.is_some_and(|by| by <= now) {
        return Err(refused("this coupon has expired (redeem_by has passed)"));
    }
    if let Some(allowed) = &coupon.applies_to_plans
        && !allowed.0.contains(&sub.plan_code)
    {
        return Err(refused(format!(
            "this coupon does not apply to the {} plan",
            sub.plan_code
        )));
    }
    let plan = plans::find_by_id_in(tx, sub.plan_id)
        .await?
        .ok_or_else(|| Error::Internal(format!("subscription {} without its plan", sub.id)))?;
    if let Some(currency) = &coupon.currency
        && *currency != plan.currency.code()
    {
        return Err(refused(format!(
            "this coupon takes {currency} off, but the subscription is billed in {}",
            plan.currency
        )));
    }
    let used_up =
        || Error::InvalidState("this coupon has reached its maximum number of redemptions".into());
    if coupon
        .max_redemptions
        .is_some_and(|max| coupon.times_redeemed >= max)
    {
        return Err(used_up());
    }
    let duration = CouponDuration::from_parts(&coupon.duration, coupon.duration_in_periods)
        .map_err(|e| Error::Internal(format!("coupon {}: {e}", coupon.id)))?;
    // The one statement that holds max_redemptions under concurrency.
    let coupon = coupons::redeem(tx, coupon.id, now)
        .await?
        .ok_or_else(used_up)?;
    let periods = duration.periods_covered().map(i64::from);
    let discount =
        coupons::insert_discount(tx, sub.id, sub.customer_id, &coupon, periods, now).await?;
    let after = subscriptions::lock(tx, sub.id, Scope::All)
        .await?
        .ok_or(Error::NotFound)?;
    outbox::emit(
        tx,
        NewEvent {
            event_type: "coupon.redeemed",
            entity_type: "coupon",
            entity_id: coupon.id.to_string(),
            customer_id: Some(sub.customer_id),
            payload: json!({
                "coupon": coupon_json(&coupon),
                "subscription_id": sub.id,
                "customer_id": sub.customer_id,
                "discount_id": discount.id,
                "discount": discount_json(&after),
            }),
        },
        now,
    )
    .await?;
    audit_change(
        tx,
        actor,
        "subscription.discount_applied",
        &sub,
        subscription_json(&after),
        now,
    )
    .await?;
    Ok(after)
}

/// Ends the running discount of `sub` (locked by the caller); [`Error::NotFound`] without one.
pub async fn remove_discount(
    tx: &mut Tx,
    actor: &Actor,
    sub: Subscription,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    coupons::end_discount(tx, sub.id, now)
        .await?
        .ok_or(Error::NotFound)?;
    let after = subscriptions::lock(tx, sub.id, Scope::All)
        .await?
        .ok_or(Error::NotFound)?;
    audit_change(
        tx,
        actor,
        "subscription.discount_removed",
        &sub,
        subscription_json(&after),
        now,
    )
    .await?;
    Ok(after)
}

/// When a running discount of a number of periods stops applying, as far as the subscription's
/// dates tell today: the end of the last period it covers. Fees are billed in advance, so the
/// next period invoice is the one for the period starting at `current_period_end`; a discount
/// with `n` periods left covers that one and the `n − 1` after it. `None` for ever (or when the
/// dates cannot be advanced). A pause or a change of cycle moves it.
pub fn discount_ends(sub: &Subscription) -> Option<NaiveDate> {
    let remaining = u32::try_from(sub.discount.discount_periods_remaining?).ok()?;
    let cycle = BillingCycle::new(
        sub.plan_interval,
        u32::try_from(sub.plan_interval_count).ok()?,
    )
    .ok()?;
    let anchor = u32::try_from(sub.billing_anchor_day).unwrap_or(1);
    let mut end = sub.current_period_end;
    for _ in 0..remaining {
        end = add_cycle(end, cycle, anchor).ok()?;
    }
    Some(end)
}

/// The `discount` of a subscription's JSON (the API's `DiscountView`): null without one.
pub fn discount_json(sub: &Subscription) -> Value {
    let d = &sub.discount;
    let Some(code) = &d.discount_coupon_code else {
        return Value::Null;
    };
    let mut v = json!({
        "coupon_code": code,
        "duration": d.discount_duration,
        "starts_at": d.discount_starts_at,
        "ends_at": discount_ends(sub),
        "periods_remaining": d.discount_periods_remaining,
    });
    if let Some(object) = v.as_object_mut() {
        if let Some(bps) = d.discount_percent_off_bps {
            object.insert("percent_off_bps".into(), bps.into());
        }
        if let Some(amount) = d.discount_amount_off {
            object.insert("amount_off".into(), amount.into());
            object.insert("currency".into(), d.discount_currency.clone().into());
        }
    }
    v
}

/// What the running discount takes off, if any: its code and value.
fn running_value(d: &RunningDiscount) -> Result<Option<(String, CouponValue)>> {
    let Some(code) = &d.discount_coupon_code else {
        return Ok(None);
    };
    let corrupt = |what: &str| Error::Internal(format!("discount {:?}: {what}", d.discount_id));
    let value = match (d.discount_percent_off_bps, d.discount_amount_off) {
        (Some(bps), None) => CouponValue::percent_off(bps).map_err(|_| corrupt("percent"))?,
        (None, Some(amount)) => {
            let currency: Currency = d
                .discount_currency
                .as_deref()
                .unwrap_or_default()
                .parse()
                .map_err(|_| corrupt("currency"))?;
            CouponValue::amount_off(amount, currency).map_err(|_| corrupt("amount"))?
        }
        _ => return Err(corrupt("neither a percentage nor an amount")),
    };
    Ok(Some((code.clone(), value)))
}

/// What the running discount of `sub` takes off a period invoice of `currency` whose lines add
/// up to `subtotal`: none without a discount (or for nothing off).
pub(crate) fn period_discounts(
    sub: &Subscription,
    currency: Currency,
    subtotal: i64,
) -> Result<Vec<AppliedDiscount>> {
    discounts_where(sub, currency, subtotal, |_| true)
}

/// [`period_discounts`] for a proration invoice: only a percentage applies (see the module
/// documentation).
pub(crate) fn proration_discounts(
    sub: &Subscription,
    currency: Currency,
    subtotal: i64,
) -> Result<Vec<AppliedDiscount>> {
    discounts_where(sub, currency, subtotal, |v| {
        matches!(v, CouponValue::PercentOff { .. })
    })
}

fn discounts_where(
    sub: &Subscription,
    currency: Currency,
    subtotal: i64,
    applies: impl Fn(&CouponValue) -> bool,
) -> Result<Vec<AppliedDiscount>> {
    let Some((coupon_code, value)) = running_value(&sub.discount)? else {
        return Ok(Vec::new());
    };
    if !applies(&value) {
        return Ok(Vec::new());
    }
    if let CouponValue::AmountOff { currency: c, .. } = value
        && c != currency
    {
        return Ok(Vec::new());
    }
    let amount = value
        .discount_on(subtotal)
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(if amount > 0 {
        vec![AppliedDiscount {
            coupon_code,
            credit_grant_id: None,
            amount,
        }]
    } else {
        Vec::new()
    })
}

/// The discount whose count of periods a period invoice of `sub` uses up, if it has one.
pub(crate) fn counted_discount(sub: &Subscription) -> Option<Uuid> {
    sub.discount
        .discount_periods_remaining
        .and(sub.discount.discount_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::test_support::january_subscription;

    fn with(percent: Option<i64>, amount: Option<i64>, periods: Option<i64>) -> Subscription {
        let mut sub = january_subscription();
        sub.discount = RunningDiscount {
            discount_id: Some(Uuid::from_u128(7)),
            discount_coupon_code: Some("RICE20".into()),
            discount_percent_off_bps: percent,
            discount_amount_off: amount,
            discount_currency: amount.map(|_| "THB".into()),
            discount_duration: Some("repeating".into()),
            discount_periods_remaining: periods,
            discount_starts_at: None,
        };
        sub
    }

    #[test]
    fn a_running_discount_takes_its_share_off_period_invoices() {
        let sub = with(Some(2_000), None, Some(3));
        assert_eq!(
            period_discounts(&sub, Currency::Thb, 99_000).unwrap(),
            [AppliedDiscount {
                coupon_code: "RICE20".into(),
                credit_grant_id: None,
                amount: 19_800
            }]
        );
        assert_eq!(counted_discount(&sub), Some(Uuid::from_u128(7)));
        assert!(
            period_discounts(&january_subscription(), Currency::Thb, 99_000)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_amount_off_is_capped_and_skips_prorations_and_other_currencies() {
        let sub = with(None, Some(150_000), None);
        assert_eq!(
            period_discounts(&sub, Currency::Thb, 99_000).unwrap()[0].amount,
            99_000
        );
        assert!(
            proration_discounts(&sub, Currency::Thb, 99_000)
                .unwrap()
                .is_empty()
        );
        assert!(
            period_discounts(&sub, Currency::Usd, 99_000)
                .unwrap()
                .is_empty()
        );
        assert_eq!(counted_discount(&sub), None, "forever counts no periods");
        let pct = with(Some(1_000), None, None);
        assert_eq!(
            proration_discounts(&pct, Currency::Thb, 44_550).unwrap()[0].amount,
            4_455
        );
    }

    #[test]
    fn the_discount_json_names_only_its_kind_of_value() {
        let v = discount_json(&with(Some(2_000), None, Some(3)));
        assert_eq!(v["percent_off_bps"], 2_000);
        assert!(v.get("amount_off").is_none());
        assert_eq!(v["periods_remaining"], 3);
        // January's period ends on 1 February: February, March and April are discounted.
        assert_eq!(v["ends_at"], "2026-05-01");
        assert_eq!(discount_json(&january_subscription()), Value::Null);
        assert_eq!(discount_ends(&with(Some(2_000), None, None)), None);
    }
}
