//! Revenue analytics (SPEC §2.7) from the real tables. Staff see the whole business, read from
//! the per-day figures the store keeps up to date (`satang_store::analytics::refresh`); a member
//! sees the same figures for their own customers only, computed from their rows on every call.

use axum::extract::State;
use chrono::{Datelike, Months, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use satang_auth::Permission;
use satang_domain::bangkok_date;
use satang_domain::money::round_half_up_div;
use satang_store::{Scope, analytics};

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

/// Midnight in Bangkok of `date`, as UTC.
fn start_of(date: NaiveDate) -> chrono::DateTime<Utc> {
    date.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc() - TimeDelta::hours(7))
        .unwrap_or_default()
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
    let first_of_month = as_of.with_day(1).unwrap_or(as_of);
    let (m, revenue_this_month, receivables) = match scope {
        // The whole business: one read of the per-day figures.
        Scope::All => {
            let b =
                analytics::business(&state.db, as_of, month_earlier, first_of_month, as_of).await?;
            (b.movement, b.revenue, b.receivables)
        }
        Scope::Member(_) => (
            analytics::mrr_movement(&state.db, scope, as_of, month_earlier).await?,
            analytics::paid_between(
                &state.db,
                scope,
                start_of(first_of_month),
                start_of(as_of) + TimeDelta::days(1),
            )
            .await?,
            analytics::receivables(&state.db, scope, as_of).await?,
        ),
    };
    let churn_rate = if m.previous_customers > 0 {
        m.churned_customers as f64 / m.previous_customers as f64
    } else {
        0.0
    };
    let arpa = if m.active_customers > 0 {
        round_half_up_div(i128::from(m.mrr), i128::from(m.active_customers)).unwrap_or(0)
    } else {
        0
    };
    // LTV = ARPA ÷ (churned / previous customers), exactly, then half-up.
    let ltv = (m.churned_customers > 0).then(|| {
        round_half_up_div(
            i128::from(arpa) * i128::from(m.previous_customers),
            i128::from(m.churned_customers),
        )
        .unwrap_or(0)
    });
    Ok(axum::Json(Summary {
        as_of,
        currency: "THB".into(),
        mrr: m.mrr,
        arr: m.mrr.saturating_mul(12),
        active_subscriptions: m.active_subscriptions,
        active_customers: m.active_customers,
        new_mrr: m.new_mrr,
        expansion_mrr: m.expansion_mrr,
        contraction_mrr: m.contraction_mrr,
        churned_mrr: m.churned_mrr,
        customer_churn_rate: (churn_rate * 10_000.0).round() / 10_000.0,
        arpa,
        ltv,
        revenue_this_month,
        outstanding: receivables.outstanding,
        overdue: receivables.overdue,
    }))
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
    if range.interval.as_deref().is_some_and(|i| i != "month") {
        return Err(ApiError::BadRequest("interval must be month".into()));
    }
    let scope = caller.scope(Permission::ReadBilling);
    let to = range.to.unwrap_or_else(|| bangkok_date(state.clock.now()));
    let to = to.with_day(1).unwrap_or(to);
    let from = range
        .from
        .or_else(|| to.checked_sub_months(Months::new(11)))
        .unwrap_or(to);
    let mut month = from.with_day(1).unwrap_or(from);
    if month > to {
        return Err(ApiError::BadRequest("from must not be after to".into()));
    }
    let mut bounds = Vec::new();
    while month <= to {
        if bounds.len() == 36 {
            return Err(ApiError::BadRequest("ask for at most 36 months".into()));
        }
        let next = month
            .checked_add_months(Months::new(1))
            .ok_or_else(|| ApiError::BadRequest("to is out of range".into()))?;
        bounds.push((month, next));
        month = next;
    }
    let mut months = Vec::with_capacity(bounds.len());
    if scope == Scope::All {
        // The whole business: the per-day figures of the range, added up per month.
        let first = bounds.first().map_or(month, |b| b.0);
        let days = analytics::revenue_days(&state.db, first, month).await?;
        for (start, next) in bounds {
            let in_month = days.iter().filter(|d| start <= d.day && d.day < next);
            months.push(RevenueMonth {
                month: start.format("%Y-%m").to_string(),
                paid: in_month.clone().map(|d| d.paid).sum(),
                invoiced: in_month.map(|d| d.invoiced).sum(),
            });
        }
    } else {
        for (start, next) in bounds {
            let (from, to) = (start_of(start), start_of(next));
            months.push(RevenueMonth {
                month: start.format("%Y-%m").to_string(),
                paid: analytics::paid_between(&state.db, scope, from, to).await?,
                invoiced: analytics::invoiced_between(&state.db, scope, from, to).await?,
            });
        }
    }
    Ok(axum::Json(Revenue {
        currency: "THB".into(),
        interval: "month".into(),
        months,
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
