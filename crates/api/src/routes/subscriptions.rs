//! Subscriptions (SPEC §2.5): reading them, the views the API answers with, and the shared
//! pieces of the handlers that change them (`create`, `lifecycle` for pause/resume/cancel,
//! `change_plan`). The changes themselves are operations of the billing crate
//! ([`satang_billing::subscriptions`]); a handler here parses, authorises, calls one and answers.
//!
//! Decisions a client should know:
//! - **Dates** (`start_date`, periods, `next_billing_date`, the days proration counts) are
//!   calendar dates in Asia/Bangkok: "today" is the clock's now + 7 hours, date part
//!   ([`satang_domain::bangkok_date`]). Periods are half-open: `current_period_end` is the first
//!   day of the next period.
//! - **Fees are billed in advance.** `next_billing_date` is when the next period's invoice is
//!   due: the end of the trial, or the end of the current period. The first paid period is
//!   invoiced when it starts (the billing engine's job; until it lands nothing is invoiced).
//! - **Tenancy**: a member of another customer gets 404 for its subscriptions, exactly as for
//!   one that does not exist; a member may read their customer's subscriptions, and only an
//!   `owner` or `billing` member may change them (403 otherwise).

use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::subscriptions::{PlanRef, Proration};
use satang_domain::{Interval, ProrationLineKind, Status};
use satang_store::subscriptions::{self, Subscription};
use satang_store::{Scope, Tx};

use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::routes::plans::{PlanInterval, normalize_code};
use crate::state::AppState;

pub mod change_plan;
mod create;
mod discount;
mod lifecycle;
mod threshold;
pub mod upcoming;

pub use change_plan::{ChangePlanRequest, ChangePlanResponse};
pub use create::{CollectionMethod, CreateSubscriptionRequest};
pub use lifecycle::{CancelRequest, CancelResponse};
pub use upcoming::UpcomingInvoiceView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions, create::create_subscription))
        .routes(routes!(get_subscription))
        .routes(routes!(list_customer_subscriptions))
        .merge(lifecycle::router())
        .merge(change_plan::router())
        .merge(discount::router())
        .merge(upcoming::router())
        .merge(threshold::router())
}

/// A subscription's running discount (SPEC §2.11): the coupon's code and what it takes off —
/// `percent_off_bps`, or `amount_off` with its `currency` — from `starts_at`, for
/// `periods_remaining` more period invoices (null: for ever).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DiscountView {
    pub coupon_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent_off_bps: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_off: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `once`, `repeating` or `forever`.
    pub duration: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    /// The end of the last period it covers, as the subscription's dates tell today (a pause
    /// moves it); null for `forever`.
    pub ends_at: Option<NaiveDate>,
    /// Period invoices it still covers; null for `forever`.
    pub periods_remaining: Option<i64>,
}

impl DiscountView {
    fn of(s: &Subscription) -> Option<DiscountView> {
        let d = &s.discount;
        Some(DiscountView {
            coupon_code: d.discount_coupon_code.clone()?,
            percent_off_bps: d.discount_percent_off_bps,
            amount_off: d.discount_amount_off,
            currency: d.discount_amount_off.and(d.discount_currency.clone()),
            duration: d.discount_duration.clone(),
            starts_at: d.discount_starts_at,
            ends_at: satang_billing::coupons::discount_ends(s),
            periods_remaining: d.discount_periods_remaining,
        })
    }
}

/// A downgrade (or seat reduction) waiting for the end of the current period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PendingChange {
    pub plan_id: Uuid,
    pub plan_code: String,
    pub plan_version: i64,
    pub quantity: i64,
    /// The day it takes effect: the end of the current period.
    pub effective_date: NaiveDate,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionView {
    pub id: Uuid,
    pub customer_id: Uuid,
    /// The plan version bought; it keeps its price when the plan is re-priced.
    pub plan_id: Uuid,
    pub plan_code: String,
    pub plan_version: i64,
    pub quantity: i64,
    /// `trialing`, `active`, `paused`, `past_due` or `canceled`.
    #[schema(value_type = String)]
    pub status: Status,
    /// `charge_automatically` or `send_invoice`.
    #[schema(value_type = String)]
    pub collection_method: satang_domain::CollectionMethod,
    pub start_date: NaiveDate,
    pub trial_end: Option<NaiveDate>,
    pub current_period_start: NaiveDate,
    /// The first day after the current period.
    pub current_period_end: NaiveDate,
    /// When the next invoice in advance is due; null once canceled.
    pub next_billing_date: Option<NaiveDate>,
    pub cancel_at_period_end: bool,
    pub paused_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub pending_change: Option<PendingChange>,
    /// A negotiated price per period (per seat on per-seat plans) used instead of the plan's;
    /// null: the plan's price.
    pub unit_price: Option<i64>,
    /// The running discount; null without one.
    pub discount: Option<DiscountView>,
    /// Unbilled usage amount (minor units) at which the period's usage so far is invoiced at
    /// once; null: usage is invoiced at the period's end.
    pub billing_threshold: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<Subscription> for SubscriptionView {
    fn from(s: Subscription) -> Self {
        let discount = DiscountView::of(&s);
        let pending_change = match (s.pending_plan_id, s.pending_plan_code) {
            (Some(plan_id), Some(plan_code)) => Some(PendingChange {
                plan_id,
                plan_code,
                plan_version: s.pending_plan_version.unwrap_or(1),
                quantity: s.pending_quantity.unwrap_or(s.quantity),
                effective_date: s.current_period_end,
            }),
            _ => None,
        };
        SubscriptionView {
            id: s.id,
            customer_id: s.customer_id,
            plan_id: s.plan_id,
            plan_code: s.plan_code,
            plan_version: s.plan_version,
            quantity: s.quantity,
            status: s.status,
            collection_method: s.collection_method,
            start_date: s.start_date,
            trial_end: s.trial_end,
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            next_billing_date: s.next_billing_date,
            cancel_at_period_end: s.cancel_at_period_end,
            paused_at: s.paused_at,
            canceled_at: s.canceled_at,
            pending_change,
            unit_price: s.unit_price,
            discount,
            billing_threshold: s.billing_threshold,
            created_at: s.created_at,
            updated_at: s.updated_at,
            version: s.version,
        }
    }
}

/// One line of a proration, shaped like an invoice line so the billing engine can invoice it
/// as it is. `quantity` is 1 and `unit_amount` the line's amount: the seats are in the
/// description, because a prorated amount is rounded once for all seats, not per seat.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProrationLineView {
    /// `credit` (unused time on the old terms, negative) or `charge` (the new terms).
    pub kind: String,
    pub description: String,
    pub period_start: NaiveDate,
    /// The first day after the covered days.
    pub period_end: NaiveDate,
    pub quantity: i64,
    pub unit_amount: i64,
    pub amount: i64,
    pub remaining_days: u32,
    pub days_in_period: u32,
}

/// What a change costs or gives back now, in the plan's currency.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProrationView {
    pub lines: Vec<ProrationLineView>,
    /// Sum of the lines' amounts; negative when the customer is owed.
    pub total: i64,
    pub currency: String,
    /// What the subscription's discount takes off the invoice of these lines (before VAT);
    /// absent without one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discounts: Vec<crate::routes::invoices::InvoiceDiscountView>,
}

impl From<Proration> for ProrationView {
    fn from(p: Proration) -> Self {
        ProrationView {
            lines: p
                .lines
                .into_iter()
                .map(|l| ProrationLineView {
                    kind: match l.kind {
                        ProrationLineKind::Credit => "credit".into(),
                        ProrationLineKind::Charge => "charge".into(),
                    },
                    description: l.description,
                    period_start: l.period_start,
                    period_end: l.period_end,
                    quantity: l.quantity,
                    unit_amount: l.unit_amount,
                    amount: l.amount,
                    remaining_days: l.remaining_days,
                    days_in_period: l.days_in_period,
                })
                .collect(),
            total: p.total,
            currency: p.currency.code().to_owned(),
            discounts: p
                .discounts
                .into_iter()
                .map(|d| crate::routes::invoices::InvoiceDiscountView {
                    coupon_code: d.coupon_code,
                    credit_grant_id: d.credit_grant_id,
                    amount: d.amount,
                })
                .collect(),
        }
    }
}

pub use satang_billing::subscriptions::{MAX_QUANTITY, MAX_UNIT_PRICE};

/// A negotiated `unit_price` is a whole number of minor units, 0 or more.
fn check_unit_price(v: &mut Validator, unit_price: Option<i64>) {
    v.check(
        unit_price.is_none_or(|p| (0..=MAX_UNIT_PRICE).contains(&p)),
        "unit_price",
        format!("must be between 0 and {MAX_UNIT_PRICE} minor units"),
    );
}

/// Checks the plan fields of a request; without either, `required` decides between a 422 and
/// [`PlanRef::Current`] (change-plan: keep the current plan).
fn plan_ref(
    v: &mut Validator,
    plan_id: Option<Uuid>,
    plan_code: Option<&str>,
    interval: Option<PlanInterval>,
    required: bool,
) -> PlanRef {
    match (plan_id, plan_code) {
        (Some(_), Some(_)) => {
            v.add("plan_id", "give plan_id or plan_code, not both");
            PlanRef::Current
        }
        (Some(id), None) => {
            if interval.is_some() {
                v.add(
                    "interval",
                    "applies only with plan_code (a plan_id names its interval)",
                );
            }
            PlanRef::Id(id)
        }
        (None, Some(raw)) => match normalize_code(raw) {
            Some(code) => PlanRef::Code {
                code,
                interval: interval.map(Interval::from),
            },
            None => {
                v.add("plan_code", "is not a plan code (e.g. PRO)");
                PlanRef::Current
            }
        },
        (None, None) => {
            if required {
                v.add("plan_id", "plan_id or plan_code is required");
            } else if interval.is_some() {
                v.add("interval", "applies only with plan_code");
            }
            PlanRef::Current
        }
    }
}

/// The subscription `id` if the caller may do `action` to it: 404 when it does not exist or
/// belongs to a customer outside the caller's reach, 403 when visible but not allowed.
async fn load(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    action: CustomerAction,
) -> Result<Subscription, ApiError> {
    let sub = subscriptions::find(&state.db, id, caller.scope(Permission::ReadBilling))
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize(state, caller, sub.customer_id, action).await?;
    Ok(sub)
}

/// [`load`], then the same row locked in a new transaction for a change.
async fn lock(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    action: CustomerAction,
) -> Result<(Tx, Subscription), ApiError> {
    load(state, caller, id, action).await?;
    let mut tx = state.db.begin().await?;
    let sub = subscriptions::lock(&mut tx, id, caller.scope(Permission::ReadBilling))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((tx, sub))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionListParams {
    pub customer_id: Option<Uuid>,
    /// `trialing`, `active`, `paused`, `past_due` or `canceled`.
    pub status: Option<String>,
    /// Plan code, e.g. `PRO` (any interval and version).
    pub plan_code: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerSubscriptionParams {
    pub status: Option<String>,
    pub plan_code: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Lists subscriptions the scope reaches, after checking the filters.
async fn list_page(
    state: &AppState,
    scope: Scope,
    customer_id: Option<Uuid>,
    status: Option<String>,
    plan_code: Option<String>,
    page: PageParams,
) -> Result<Page<SubscriptionView>, ApiError> {
    let (limit, after) = page.keyset()?;
    let status = status
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Status>().map_err(|_| {
                ApiError::BadRequest(
                    "invalid query parameter status: use trialing, active, paused, past_due or \
                     canceled"
                        .into(),
                )
            })
        })
        .transpose()?;
    let plan_code = plan_code
        .filter(|c| !c.is_empty())
        .map(|c| super::plans::query_code("plan_code", &c))
        .transpose()?;
    let rows = subscriptions::list(
        &state.db,
        scope,
        subscriptions::SubscriptionFilter {
            customer_id,
            status,
            plan_code: plan_code.as_deref(),
        },
        after,
        limit + 1,
    )
    .await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |s| s.id,
        SubscriptionView::from,
    ))
}

/// Subscriptions, in creation order: every customer's for staff, their own customers' for a
/// member.
#[utoipa::path(get, path = "/api/subscriptions", tag = "subscriptions", params(SubscriptionListParams),
    security(("bearer" = [])),
    responses((status = 200, body = Page<SubscriptionView>), (status = 400, body = Problem),
        (status = 401, body = Problem)))]
async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<SubscriptionListParams>,
) -> Result<axum::Json<Page<SubscriptionView>>, ApiError> {
    let page = list_page(
        &state,
        caller.scope(Permission::ReadBilling),
        params.customer_id,
        params.status,
        params.plan_code,
        PageParams {
            limit: params.limit,
            cursor: params.cursor,
        },
    )
    .await?;
    Ok(axum::Json(page))
}

/// One customer's subscriptions.
#[utoipa::path(get, path = "/api/customers/{id}/subscriptions", tag = "subscriptions",
    params(("id" = Uuid, Path), CustomerSubscriptionParams), security(("bearer" = [])),
    responses((status = 200, body = Page<SubscriptionView>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn list_customer_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<Uuid>,
    Query(params): Query<CustomerSubscriptionParams>,
) -> Result<axum::Json<Page<SubscriptionView>>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::ReadBilling).await?;
    let scope = caller.scope(Permission::ReadBilling);
    subscriptions::billing_customer(&state.db, customer_id, scope)
        .await?
        .ok_or(ApiError::NotFound)?;
    let page = list_page(
        &state,
        scope,
        Some(customer_id),
        params.status,
        params.plan_code,
        PageParams {
            limit: params.limit,
            cursor: params.cursor,
        },
    )
    .await?;
    Ok(axum::Json(page))
}

/// One subscription.
#[utoipa::path(get, path = "/api/subscriptions/{id}", tag = "subscriptions", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<SubscriptionView>, ApiError> {
    let sub = load(&state, &caller, id, CustomerAction::ReadBilling).await?;
    Ok(axum::Json(sub.into()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use satang_billing::subscriptions::{ProratedLine, subscription_json};

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn subscription(pending: bool) -> Subscription {
        let at = Utc.with_ymd_and_hms(2026, 1, 10, 3, 0, 0).unwrap();
        Subscription {
            id: Uuid::now_v7(),
            customer_id: Uuid::now_v7(),
            plan_id: Uuid::now_v7(),
            plan_code: "PRO".into(),
            plan_version: 2,
            plan_interval: satang_domain::Interval::Month,
            plan_interval_count: 1,
            quantity: 3,
            status: Status::Paused,
            collection_method: satang_domain::CollectionMethod::SendInvoice,
            start_date: date(2026, 1, 1),
            trial_end: Some(date(2026, 1, 8)),
            current_period_start: date(2026, 1, 8),
            current_period_end: date(2026, 2, 8),
            billing_anchor_day: 8,
            next_billing_date: Some(date(2026, 2, 8)),
            cancel_at_period_end: true,
            paused_at: Some(at),
            canceled_at: None,
            pending_plan_id: pending.then(Uuid::now_v7),
            pending_quantity: pending.then_some(1),
            pending_plan_code: pending.then(|| "STARTER".into()),
            pending_plan_version: pending.then_some(1),
            unit_price: pending.then_some(750_000),
            pending_unit_price: None,
            discount: if pending {
                satang_store::subscriptions::RunningDiscount {
                    discount_id: Some(Uuid::now_v7()),
                    discount_coupon_code: Some("RICE20".into()),
                    discount_percent_off_bps: Some(2_000),
                    discount_duration: Some("repeating".into()),
                    discount_periods_remaining: Some(2),
                    discount_starts_at: Some(at),
                    ..Default::default()
                }
            } else {
                Default::default()
            },
            billing_threshold: pending.then_some(500_000),
            created_at: at,
            updated_at: at,
            version: 4,
        }
    }

    /// Webhooks and the audit log carry the billing crate's JSON of a subscription; clients
    /// read the same subscription as this view. The two must not drift apart.
    #[test]
    fn events_carry_the_views_json() {
        for pending in [false, true] {
            let s = subscription(pending);
            let view = serde_json::to_value(SubscriptionView::from(s.clone())).unwrap();
            assert_eq!(view, subscription_json(&s));
        }
    }

    #[test]
    fn audited_prorations_have_the_views_shape() {
        let proration = Proration {
            lines: vec![ProratedLine {
                kind: ProrationLineKind::Credit,
                description: "Unused time on PRO month (v1), 16 of 31 days from 2026-01-16".into(),
                period_start: date(2026, 1, 16),
                period_end: date(2026, 2, 1),
                quantity: 1,
                unit_amount: -51_097,
                amount: -51_097,
                remaining_days: 16,
                days_in_period: 31,
            }],
            total: -51_097,
            currency: satang_domain::Currency::Thb,
            discounts: vec![satang_domain::AppliedDiscount {
                coupon_code: "RICE20".into(),
                credit_grant_id: None,
                amount: 0,
            }],
        };
        let view = serde_json::to_value(ProrationView::from(proration.clone())).unwrap();
        assert_eq!(view, serde_json::to_value(&proration).unwrap());
    }
}
