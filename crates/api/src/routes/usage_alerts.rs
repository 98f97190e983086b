//! Usage alerts (SPEC §2.12): billing staff and administrators create, list and delete the
//! alerts that emit `usage.threshold_reached` once per subscription, alert and period. The
//! rules live in [`satang_billing::usage_alerts`].

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::usage_alerts::{self as operations, AlertInput};
use satang_store::usage_alerts::{self, UsageAlert};

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Created, Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_usage_alerts, create_usage_alert))
        .routes(routes!(delete_usage_alert))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageAlertView {
    pub id: Uuid,
    /// The usage metric watched.
    pub metric: String,
    /// Fires when the period's usage of the metric reaches this quantity.
    pub threshold: i64,
    /// Only subscriptions to plans of this code; `null`: every plan.
    pub plan_code: Option<String>,
    /// Only this customer's subscriptions; `null`: every customer.
    pub customer_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<UsageAlert> for UsageAlertView {
    fn from(a: UsageAlert) -> Self {
        UsageAlertView {
            id: a.id,
            metric: a.metric,
            threshold: a.threshold,
            plan_code: a.plan_code,
            customer_id: a.customer_id,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageAlertInput {
    pub metric: String,
    /// A positive quantity of the metric.
    pub threshold: i64,
    pub plan_code: Option<String>,
    pub customer_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertFilter {
    /// Only the alerts of this plan code.
    pub plan_code: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The live usage alerts, oldest first (billing staff and administrators).
#[utoipa::path(get, path = "/api/usage-alerts", tag = "usage", params(AlertFilter), security(("bearer" = [])),
    responses((status = 200, body = Page<UsageAlertView>), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn list_usage_alerts(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<AlertFilter>,
) -> Result<axum::Json<Page<UsageAlertView>>, ApiError> {
    caller.require(Permission::WriteBilling)?;
    let (limit, after) = PageParams {
        limit: filter.limit,
        cursor: filter.cursor,
    }
    .keyset()?;
    let rows =
        usage_alerts::list_live(&state.db, filter.plan_code.as_deref(), after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |a| a.id,
        UsageAlertView::from,
    )))
}

/// Create a usage alert (billing staff and administrators).
#[utoipa::path(post, path = "/api/usage-alerts", tag = "usage", request_body = UsageAlertInput, security(("bearer" = [])),
    responses((status = 201, body = UsageAlertView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_usage_alert(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<UsageAlertInput>,
) -> Result<Created<UsageAlertView>, ApiError> {
    caller.require(Permission::WriteBilling)?;
    let input = AlertInput {
        metric: body.metric,
        threshold: body.threshold,
        plan_code: body.plan_code,
        customer_id: body.customer_id,
    };
    let alert =
        operations::create_usage_alert(&state.db, &caller.actor, input, state.clock.now()).await?;
    Ok(Created(alert.into()))
}

/// Delete a usage alert; notices it already gave stay (billing staff and administrators).
#[utoipa::path(delete, path = "/api/usage-alerts/{id}", tag = "usage", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_usage_alert(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::WriteBilling)?;
    operations::delete_usage_alert(&state.db, &caller.actor, id, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
