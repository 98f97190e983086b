//! The plan a request names, and whether it can be sold at a quantity to a customer (shared by
//! starting a subscription and changing its plan).
//!
//! A plan is named by id (that exact version) or by code (the version on sale), with an
//! optional interval. Without one, a code picks the caller's preferred interval when sold
//! (monthly for a new subscription, the current interval for a change), else the other.

use uuid::Uuid;

use satang_domain::{Currency, Interval, Pricing};
use satang_store::Tx;
use satang_store::plans::{self, Plan};

use super::period_amount;
use crate::{Error, Result};

/// How a request names a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanRef {
    /// An exact plan version.
    Id(Uuid),
    /// The version on sale under a code (already normalised, e.g. `PRO`).
    Code {
        code: String,
        interval: Option<Interval>,
    },
    /// Nothing named: the subscription's current plan (a change of seats).
    Current,
}

impl PlanRef {
    /// The request field a problem with the plan is reported on.
    pub fn field(&self) -> &'static str {
        match self {
            PlanRef::Code { .. } => "plan_code",
            PlanRef::Id(_) | PlanRef::Current => "plan_id",
        }
    }
}

/// The plan `plan` names: [`Error::Invalid`] on its field when there is no such plan on sale.
/// The `current` plan stays allowed even when archived (a grandfathered subscription may
/// change its seats without moving to the new price).
pub(crate) async fn resolve_plan(
    tx: &mut Tx,
    plan: &PlanRef,
    preferred_interval: Interval,
    current: Option<&Plan>,
) -> Result<Plan> {
    match plan {
        PlanRef::Id(id) => {
            let found = plans::find_by_id_in(tx, *id)
                .await?
                .ok_or_else(|| invalid("plan_id", "no plan has this id"))?;
            if !found.active && current.is_none_or(|c| c.id != found.id) {
                return Err(invalid(
                    "plan_id",
                    "this plan version is archived and no longer sold",
                ));
            }
            Ok(found)
        }
        PlanRef::Code { code, interval } => {
            plans::find_active_by_code(tx, code, *interval, preferred_interval)
                .await?
                .ok_or_else(|| {
                    let message = match interval {
                        Some(i) => format!("no {} plan with code {code} is on sale", i.as_str()),
                        None => format!("no plan with code {code} is on sale"),
                    };
                    invalid("plan_code", message)
                })
        }
        PlanRef::Current => current
            .cloned()
            .ok_or_else(|| invalid("plan_id", "plan_id or plan_code is required")),
    }
}

/// The period amount of `plan` × `quantity` (at `unit_price` when negotiated) for a customer billed in `currency`, or the
/// [`Error::Invalid`] that explains why that combination cannot be sold.
pub(crate) fn priced(
    plan: &Plan,
    unit_price: Option<i64>,
    quantity: i64,
    currency: Currency,
    plan_field: &'static str,
) -> Result<i64> {
    if plan.currency != currency {
        return Err(invalid(
            plan_field,
            format!(
                "this plan is priced in {}, but the customer is billed in {currency}",
                plan.currency
            ),
        ));
    }
    if plan.pricing != Pricing::PerSeat && quantity != 1 {
        return Err(invalid(
            "quantity",
            "must be 1 on a flat-priced plan (only per-seat plans have seats)",
        ));
    }
    period_amount(plan, unit_price, quantity)
        .ok_or_else(|| invalid("quantity", "is too large for this plan's price"))
}

fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        message: message.into(),
    }
}
