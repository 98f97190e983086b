//! Changing a subscription's plan or seats (SPEC §2.5).
//!
//! - A change that does not lower what a period costs (an **upgrade**: more seats, a dearer
//!   plan, or the same price) applies at once and is prorated by whole days: a credit line for
//!   the unused part of the old amount and a charge line for the rest of the period at the new
//!   one (`satang_domain::plan_change_lines`, rounded half-up to the satang), invoiced at once
//!   (`billing_reason: proration`) and kept in the audit event.
//! - A change that lowers it (a **downgrade**) waits for the end of the current period as
//!   `pending_change`; the customer keeps what they paid for. Asking for the current plan and
//!   seats again withdraws a pending change.
//! - Moving to a plan with another cycle (monthly ↔ yearly) compares the amounts per month. Such
//!   an upgrade starts a new period of the new cycle on the change day: the unused old days are
//!   credited and the whole new period is charged, on one invoice for the new period in advance
//!   (`subscription_create`: the period's fee line and the credit line).
//! - During a trial (also what is left of a paused and resumed one) nothing has been paid: the
//!   change applies at once without proration.
//! - `preview: true` answers the same lines and changes nothing (members who may read billing
//!   may preview).
//! - Without `plan_id`/`plan_code` the current plan is kept (a change of seats), even when that
//!   version is archived; naming a code moves the subscription to the version on sale.

use axum::extract::State;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_domain::{
    BillingCycle, Period, ProrationError, ProrationLine, ProrationLineKind, Status,
    plan_change_lines, unused_time_credit,
};
use satang_store::plans;
use satang_store::subscriptions::SubscriptionFields;

use super::create::{MAX_QUANTITY, plan_ref, priced, resolve_plan};
use super::{
    ProrationView, SubscriptionView, cycle_of, in_trial_period, lifecycle_state, lock,
    now_and_today, period_amount, proration_line, save,
};
use crate::access::CustomerAction;
use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Json, Path};
use crate::routes::plans::PlanInterval;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(change_plan))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePlanRequest {
    /// An exact plan version on sale (or the current one).
    pub plan_id: Option<Uuid>,
    /// The plan on sale under this code.
    pub plan_code: Option<String>,
    /// With `plan_code`; default: the subscription's current interval when sold.
    pub interval: Option<PlanInterval>,
    /// Seats; default: the current seats on a per-seat plan, 1 on a flat one.
    pub quantity: Option<i64>,
    /// Only compute the proration; change nothing.
    pub preview: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effective {
    Immediately,
    /// At the end of the current period (`pending_change`).
    PeriodEnd,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangePlanResponse {
    /// The subscription after the change (unchanged for a preview).
    pub subscription: SubscriptionView,
    /// What the change costs now; empty for a downgrade or during a trial.
    pub proration: ProrationView,
    pub effective: Effective,
    pub effective_date: NaiveDate,
    pub preview: bool,
}

/// One side of a change: what a period costs and how long a period is.
#[derive(Debug, Clone, Copy)]
struct Terms {
    amount: i64,
    cycle: BillingCycle,
}

/// When and at what cost a change applies.
#[derive(Debug, PartialEq, Eq)]
enum Quote {
    Now {
        /// The date the change counts from (today, within the current period).
        on: NaiveDate,
        lines: Option<(ProrationLine, ProrationLine)>,
        /// A new current period, when the cycle changes.
        new_period: Option<Period>,
    },
    AtPeriodEnd,
}

/// Decides how a change from `old` to `new` applies in `period` on `today` (see the module
/// documentation for the rules).
fn quote(
    trialing: bool,
    old: Terms,
    new: Terms,
    period: Period,
    today: NaiveDate,
) -> Result<Quote, ProrationError> {
    let on = today.clamp(period.start(), period.end());
    if trialing {
        return Ok(Quote::Now {
            on,
            lines: None,
            new_period: None,
        });
    }
    let same_cycle = old.cycle == new.cycle;
    // Per-month amounts compared without division: new/new_months ≥ old/old_months.
    let not_lower = i128::from(new.amount) * i128::from(old.cycle.months())
        >= i128::from(old.amount) * i128::from(new.cycle.months());
    if !not_lower {
        return Ok(Quote::AtPeriodEnd);
    }
    if same_cycle {
        let p = plan_change_lines(old.amount, new.amount, period.start(), period.end(), on)?;
        return Ok(Quote::Now {
            on,
            lines: Some((p.credit, p.charge)),
            new_period: None,
        });
    }
    let credit = unused_time_credit(old.amount, period.start(), period.end(), on)?;
    let fresh = Period::first(on, new.cycle)?;
    let charge = ProrationLine {
        kind: ProrationLineKind::Charge,
        amount: new.amount,
        period_start: fresh.start(),
        period_end: fresh.end(),
        remaining_days: fresh.days(),
        days_in_period: fresh.days(),
    };
    Ok(Quote::Now {
        on,
        lines: Some((credit, charge)),
        new_period: Some(fresh),
    })
}

/// Change plan or seats: upgrades now with proration, downgrades at period end.
#[utoipa::path(post, path = "/api/subscriptions/{id}/change-plan", tag = "subscriptions", params(("id" = Uuid, Path)),
    request_body = ChangePlanRequest, security(("bearer" = [])),
    responses((status = 200, body = ChangePlanResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Not changeable in its status (paused, past due, canceled)", body = Problem),
        (status = 422, body = Problem)))]
async fn change_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<ChangePlanRequest>,
) -> Result<axum::Json<ChangePlanResponse>, ApiError> {
    let preview = body.preview.unwrap_or(false);
    let action = if preview {
        CustomerAction::ReadBilling
    } else {
        CustomerAction::ManageSubscriptions
    };
    let (now, today) = now_and_today(&state);
    let (mut tx, sub) = lock(&state, &caller, id, action).await?;
    let mut v = Validator::new();
    v.check(
        body.quantity
            .is_none_or(|q| (1..=MAX_QUANTITY).contains(&q)),
        "quantity",
        format!("must be between 1 and {MAX_QUANTITY}"),
    );
    let target_ref = plan_ref(
        &mut v,
        body.plan_id,
        body.plan_code.as_deref(),
        body.interval,
        false,
    );
    v.finish()?;

    let status = lifecycle_state(&sub)?.status();
    if !matches!(status, Status::Trialing | Status::Active) {
        return Err(ApiError::Conflict(format!(
            "cannot change the plan of a subscription that is {}",
            status.as_str().replace('_', " ")
        )));
    }
    let current = plans::find_by_id_in(&mut tx, sub.plan_id)
        .await?
        .ok_or_else(|| ApiError::Internal("subscription without its plan".into()))?;
    let target = resolve_plan(
        &mut tx,
        &target_ref,
        &current.billing_interval,
        Some(&current),
    )
    .await?;
    let quantity = body.quantity.unwrap_or(if target.pricing == "per_seat" {
        sub.quantity
    } else {
        1
    });
    let new_amount = priced(&target, quantity, &current.currency, target_ref.field())?;
    let old_amount = period_amount(&current, sub.quantity)
        .ok_or_else(|| ApiError::Internal("period amount overflows".into()))?;
    let mut f = SubscriptionFields::of(&sub);
    let nothing = ProrationView::new(Vec::new(), &current.currency);

    if target.id == sub.plan_id && quantity == sub.quantity {
        if sub.pending_plan_id.is_none() {
            return Err(ApiError::field(
                target_ref.field(),
                "the subscription already has this plan and quantity",
            ));
        }
        // Asking for what it has withdraws the pending downgrade.
        let subscription = if preview {
            SubscriptionView::from(sub)
        } else {
            f.pending_plan_id = None;
            f.pending_quantity = None;
            let view = save(
                &mut tx,
                &caller,
                sub,
                f,
                "subscription.pending_change_canceled",
                None,
                now,
            )
            .await?;
            tx.commit().await?;
            view
        };
        return Ok(axum::Json(ChangePlanResponse {
            subscription,
            proration: nothing,
            effective: Effective::Immediately,
            effective_date: today,
            preview,
        }));
    }

    let period = lifecycle_state(&sub)?.current_period();
    let decided = quote(
        in_trial_period(&sub),
        Terms {
            amount: old_amount,
            cycle: cycle_of(&current)?,
        },
        Terms {
            amount: new_amount,
            cycle: cycle_of(&target)?,
        },
        period,
        today,
    )
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (proration, effective, effective_date, audit_action) = match decided {
        Quote::Now {
            on,
            lines,
            new_period,
        } => {
            let lines = lines
                .map(|(credit, charge)| {
                    vec![
                        proration_line(credit, &current, sub.quantity),
                        proration_line(charge, &target, quantity),
                    ]
                })
                .unwrap_or_default();
            f.plan_id = target.id;
            f.quantity = quantity;
            f.pending_plan_id = None;
            f.pending_quantity = None;
            if let Some(p) = new_period {
                f.current_period_start = p.start();
                f.current_period_end = p.end();
                f.billing_anchor_day = i64::from(p.start().day());
                f.next_billing_date = Some(p.end());
            }
            (
                ProrationView::new(lines, &current.currency),
                Effective::Immediately,
                on,
                "subscription.plan_changed",
            )
        }
        Quote::AtPeriodEnd => {
            f.pending_plan_id = Some(target.id);
            f.pending_quantity = Some(quantity);
            (
                nothing,
                Effective::PeriodEnd,
                sub.current_period_end,
                "subscription.plan_change_scheduled",
            )
        }
    };
    let subscription = if preview {
        // Dropping the transaction rolls back: a preview changes nothing.
        SubscriptionView::from(sub)
    } else {
        let starts_new_period = f.current_period_start != sub.current_period_start;
        let view = save(
            &mut tx,
            &caller,
            sub,
            f,
            audit_action,
            Some(&proration),
            now,
        )
        .await?;
        // Upgrades are invoiced now. Within the same cycle: the two proration lines. A cycle
        // change begins a new period today, whose fee *is* the charge line: one invoice for that
        // period in advance, carrying the credit for the old period's unused days (the charge
        // line again would bill the new period twice).
        if matches!(effective, Effective::Immediately) {
            let updated =
                satang_store::subscriptions::lock(&mut tx, view.id, satang_store::Scope::All)
                    .await?
                    .ok_or(ApiError::NotFound)?;
            let lines = proration
                .lines
                .iter()
                .filter(|l| !starts_new_period || (l.kind == "credit" && l.amount != 0))
                .map(|l| satang_store::invoices::NewLine {
                    kind: "proration".into(),
                    description: l.description.clone(),
                    period_start: Some(l.period_start),
                    period_end: Some(l.period_end),
                    quantity: l.quantity,
                    unit_amount: l.unit_amount,
                    amount: l.amount,
                })
                .collect();
            if starts_new_period {
                satang_billing::run::invoice_new_period(
                    &mut tx,
                    &caller.actor,
                    &updated,
                    lines,
                    now,
                )
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            } else {
                satang_billing::run::settle_proration(
                    &mut tx,
                    &caller.actor,
                    &updated,
                    &proration.currency,
                    lines,
                    now,
                )
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            }
        }
        tx.commit().await?;
        view
    };
    Ok(axum::Json(ChangePlanResponse {
        subscription,
        proration,
        effective,
        effective_date,
        preview,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn monthly(amount: i64) -> Terms {
        Terms {
            amount,
            cycle: BillingCycle::monthly(),
        }
    }

    fn yearly(amount: i64) -> Terms {
        Terms {
            amount,
            cycle: BillingCycle::yearly(),
        }
    }

    fn january() -> Period {
        Period::new(d(2026, 1, 1), d(2026, 2, 1)).unwrap()
    }

    #[test]
    fn upgrades_now_with_two_lines() {
        // PRO ฿990 → TEAM 3 seats ฿1,170 on 16 January: 16 of 31 days remain.
        let q = quote(
            false,
            monthly(99_000),
            monthly(117_000),
            january(),
            d(2026, 1, 16),
        )
        .unwrap();
        let Quote::Now {
            on,
            lines: Some((credit, charge)),
            new_period: None,
        } = q
        else {
            panic!("expected an immediate change, got {q:?}");
        };
        assert_eq!(on, d(2026, 1, 16));
        // 99,000 × 16 / 31 = 51,096.8 → 51,097; 117,000 × 16 / 31 = 60,387.1 → 60,387.
        assert_eq!((credit.amount, charge.amount), (-51_097, 60_387));
        assert_eq!((charge.remaining_days, charge.days_in_period), (16, 31));
    }

    #[test]
    fn downgrades_wait_and_equal_prices_apply_now() {
        let jan = january();
        assert_eq!(
            quote(
                false,
                monthly(117_000),
                monthly(99_000),
                jan,
                d(2026, 1, 16)
            )
            .unwrap(),
            Quote::AtPeriodEnd
        );
        assert!(matches!(
            quote(false, monthly(99_000), monthly(99_000), jan, d(2026, 1, 16)).unwrap(),
            Quote::Now { lines: Some((c, p)), .. } if c.amount + p.amount == 0
        ));
    }

    #[test]
    fn trials_change_without_proration() {
        let q = quote(true, monthly(99_000), monthly(10), january(), d(2026, 1, 5)).unwrap();
        assert_eq!(
            q,
            Quote::Now {
                on: d(2026, 1, 5),
                lines: None,
                new_period: None
            }
        );
    }

    #[test]
    fn cycle_changes_compare_per_month() {
        let jan = january();
        // Yearly ฿9,900 is ฿825 a month: cheaper than monthly ฿990, so it waits.
        assert_eq!(
            quote(false, monthly(99_000), yearly(990_000), jan, d(2026, 1, 16)).unwrap(),
            Quote::AtPeriodEnd
        );
        // Yearly ENTERPRISE from monthly PRO: a new year starts on the change day.
        let q = quote(
            false,
            monthly(99_000),
            yearly(9_900_000),
            jan,
            d(2026, 1, 16),
        )
        .unwrap();
        let Quote::Now {
            lines: Some((credit, charge)),
            new_period: Some(p),
            ..
        } = q
        else {
            panic!("expected an immediate change, got {q:?}");
        };
        assert_eq!(credit.amount, -51_097);
        assert_eq!(charge.amount, 9_900_000);
        assert_eq!((p.start(), p.end()), (d(2026, 1, 16), d(2027, 1, 16)));
        assert_eq!(
            (charge.period_start, charge.period_end),
            (p.start(), p.end())
        );
    }

    #[test]
    fn dates_outside_the_period_are_clamped() {
        let jan = january();
        // A subscription starting later is changed as from its first day: the whole amounts.
        let q = quote(false, monthly(100), monthly(300), jan, d(2025, 12, 20)).unwrap();
        assert!(
            matches!(q, Quote::Now { lines: Some((c, p)), .. } if c.amount == -100 && p.amount == 300)
        );
        let q = quote(false, monthly(100), monthly(300), jan, d(2026, 3, 1)).unwrap();
        assert!(
            matches!(q, Quote::Now { lines: Some((c, p)), .. } if c.amount == 0 && p.amount == 0)
        );
    }
}
