//! Revenue analytics (SPEC §2.7): the figures `satang_billing::analytics` computes, for the
//! caller's scope (the whole business for staff, their own customers for a member).

use axum::extract::State;
use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use satang_auth::Permission;
use satang_billing::analytics::{self as billing_analytics, Figures};
use satang_domain::{Interval, bangkok_date};
use satang_store::analytics;

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(revenue))
        .routes(routes!(plans))
}

/// Business figures on a date, money in minor units of `currency`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    pub as_of: NaiveDate,
    pub currency: std::borrow::Cow<'static, str>,
    /// Monthly recurring revenue: paid-for subscription periods covering `as_of`, each fee
    /// spread over its months (a yearly fee counts ÷ 12).
    pub mrr: i64,
    pub arr: i64,
    pub active_subscriptions: i64,
    pub active_customers: i64,
    /// Movements since the same day one month earlier.
    pub new_mrr: i64,
    pub expansion_mrr: i64,
    pub contraction_mrr: i64,
    pub churned_mrr: i64,
    /// Customers paying a month earlier who pay nothing now, over those paying then.
    pub customer_churn_rate: f64,
    /// Average revenue per paying account (MRR ÷ active customers), half-up.
    pub arpa: i64,
    /// ARPA ÷ monthly churn rate; null while nobody has churned.
    pub ltv: Option<i64>,
    /// Received from the first of `as_of`'s month to the end of `as_of` (payments and the tax
    /// customers withheld, not overpayments).
    pub revenue_this_month: i64,
    /// What open invoices still owe, and the part of it past due on `as_of`.
    pub outstanding: i64,
    pub overdue: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// A date (`YYYY-MM-DD`); today in Bangkok by default.
    pub as_of: Option<NaiveDate>,
}

impl From<Figures> for Summary {
    fn from(f: Figures) -> Self {
        Summary {
            as_of: f.as_of,
            currency: "THB".into(),
            mrr: f.mrr,
            arr: f.arr,
            active_subscriptions: f.active_subscriptions,
            active_customers: f.active_customers,
            new_mrr: f.new_mrr,
            expansion_mrr: f.expansion_mrr,
            contraction_mrr: f.contraction_mrr,
            churned_mrr: f.churned_mrr,
            customer_churn_rate: f.customer_churn_rate,
            arpa: f.arpa,
            ltv: f.ltv,
            revenue_this_month: f.revenue_this_month,
            outstanding: f.outstanding,
            overdue: f.overdue,
        }
    }
}

/// MRR, ARR, movements, churn, ARPA, LTV, revenue this month and receivables.
#[utoipa::path(get, path = "/api/analytics/summary", tag = "analytics", params(AsOf), security(("bearer" = [])),
    responses((status = 200, body = Summary), (status = 400, body = Problem)))]
async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AsOf>,
) -> Result<axum::Json<Summary>, ApiError> {
    let scope = caller.scope(Permission::ReadBilling);
    let as_of = query
        .as_of
        .unwrap_or_else(|| bangkok_date(state.clock.now()));
    let month_earlier = as_of
        .checked_sub_months(Months::new(1))
        .ok_or_else(|| ApiError::BadRequest("as_of is out of range".into()))?;
    let figures = billing_analytics::figures(&state.db, scope, as_of, month_earlier).await?;
    Ok(axum::Json(figures.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevenueRange {
    /// First month (any date in it); twelve months before `to` by default.
    pub from: Option<NaiveDate>,
    /// Last month (any date in it); this month by default.
    pub to: Option<NaiveDate>,
    /// Only `month` for now.
    pub interval: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevenueMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// Received in the month (payments and withheld tax).
    pub paid: i64,
    /// Finalised in the month (totals, VAT included; void invoices excluded).
    pub invoiced: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Revenue {
    pub currency: std::borrow::Cow<'static, str>,
    pub interval: std::borrow::Cow<'static, str>,
    pub months: Vec<RevenueMonth>,
}

/// Paid and invoiced amounts per month (at most 36 months).
#[utoipa::path(get, path = "/api/analytics/revenue", tag = "analytics", params(RevenueRange), security(("bearer" = [])),
    responses((status = 200, body = Revenue), (status = 400, body = Problem)))]
async fn revenue(
    State(state): State<AppState>,
    caller: Caller,
    Query(range): Query<RevenueRange>,
) -> Result<axum::Json<Revenue>, ApiError> {
    if range
        .interval
        .as_deref()
        .is_some_and(|i| i != Interval::Month.as_str())
    {
        return Err(ApiError::BadRequest("interval must be month".into()));
    }
    let to = range.to.unwrap_or_else(|| bangkok_date(state.clock.now()));
    let to = to.with_day(1).unwrap_or(to);
    let from = range
        .from
        .or_else(|| to.checked_sub_months(Months::new(11)))
        .unwrap_or(to);
    let months = billing_analytics::months_between(from, to)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let scope = caller.scope(Permission::ReadBilling);
    let months = billing_analytics::revenue(&state.db, scope, &months).await?;
    Ok(axum::Json(Revenue {
        currency: "THB".into(),
        interval: Interval::Month.as_str().into(),
        months: months
            .into_iter()
            .map(|m| RevenueMonth {
                month: m.month.format("%Y-%m").to_string(),
                paid: m.paid,
                invoiced: m.invoiced,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanShare {
    pub plan_code: String,
    pub interval: String,
    pub subscriptions: i64,
    pub trialing: i64,
    pub mrr: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Plans {
    pub as_of: NaiveDate,
    pub currency: std::borrow::Cow<'static, str>,
    pub plans: Vec<PlanShare>,
}

/// Subscriptions (not canceled) and MRR per plan code and interval.
#[utoipa::path(get, path = "/api/analytics/plans", tag = "analytics", params(AsOf), security(("bearer" = [])),
    responses((status = 200, body = Plans)))]
async fn plans(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AsOf>,
) -> Result<axum::Json<Plans>, ApiError> {
    let scope = caller.scope(Permission::ReadBilling);
    let as_of = query
        .as_of
        .unwrap_or_else(|| bangkok_date(state.clock.now()));
    let rows = analytics::per_plan(&state.db, scope, as_of).await?;
    Ok(axum::Json(Plans {
        as_of,
        currency: "THB".into(),
        plans: rows
            .into_iter()
            .map(|r| PlanShare {
                plan_code: r.plan_code,
                interval: r.interval,
                subscriptions: r.subscriptions,
                trialing: r.trialing,
                mrr: r.mrr,
            })
            .collect(),
    }))
}
