//! Entitlements (SPEC §2.12): what a customer's live plans grant, with this period's usage;
//! and the hot-path check the seller's software asks before letting a customer use a feature,
//! answered from [`satang_billing::entitlement_cache`]. The rules are
//! [`satang_billing::entitlements`]'.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_billing::entitlements::{self as rules, Check, Denial, Entitlements};
use satang_store::Scope;

use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Path, Query};
use crate::state::AppState;

/// Longest feature key asked about.
const MAX_FEATURE: usize = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(customer_entitlements))
        .routes(routes!(check_entitlement))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FeatureSource {
    pub subscription_id: Uuid,
    pub plan_code: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FeatureView {
    pub key: String,
    pub source: FeatureSource,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LimitView {
    /// The limit's name; usage is counted from the metric of the same name.
    pub key: String,
    /// Null: unlimited.
    pub limit: Option<i64>,
    /// This period's usage.
    pub usage: i64,
    /// Null: unlimited; never below 0.
    pub remaining: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EntitlementsView {
    pub customer_id: Uuid,
    pub as_of: DateTime<Utc>,
    pub features: Vec<FeatureView>,
    pub limits: Vec<LimitView>,
}

impl EntitlementsView {
    fn new(e: &Entitlements, as_of: DateTime<Utc>) -> Self {
        EntitlementsView {
            customer_id: e.customer_id,
            as_of,
            features: e
                .features
                .iter()
                .map(|f| FeatureView {
                    key: f.key.clone(),
                    source: FeatureSource {
                        subscription_id: f.subscription_id,
                        plan_code: f.plan_code.clone(),
                    },
                })
                .collect(),
            limits: e
                .limits
                .iter()
                .map(|l| LimitView {
                    key: l.key.clone(),
                    limit: l.limit,
                    usage: l.usage,
                    remaining: l.remaining(),
                })
                .collect(),
        }
    }
}

/// Why a check said no.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DenialReason {
    NoSubscription,
    NotInPlan,
    LimitReached,
    Suspended,
}

impl From<Denial> for DenialReason {
    fn from(d: Denial) -> Self {
        match d {
            Denial::NoSubscription => DenialReason::NoSubscription,
            Denial::NotInPlan => DenialReason::NotInPlan,
            Denial::LimitReached => DenialReason::LimitReached,
            Denial::Suspended => DenialReason::Suspended,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckView {
    pub allowed: bool,
    /// Present when not allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DenialReason>,
    /// Present when the feature is a limit; null when that limit is unlimited.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::extract::double_option"
    )]
    #[schema(value_type = Option<i64>)]
    pub limit: Option<Option<i64>>,
    /// Present when the feature is a limit: this period's usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<i64>,
}

impl From<Check> for CheckView {
    fn from(c: Check) -> Self {
        CheckView {
            allowed: c.allowed,
            reason: c.reason.map(DenialReason::from),
            limit: c.limit,
            usage: c.usage,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckParams {
    pub customer_id: Uuid,
    /// A feature of a plan, or the name of one of its limits.
    pub feature: String,
}

/// A customer's entitlements now: features with the subscription granting each, and limits
/// with this period's usage (staff, an API key with `entitlements:read`, or the customer's own
/// members).
#[utoipa::path(get, path = "/api/customers/{id}/entitlements", tag = "entitlements", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = EntitlementsView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn customer_entitlements(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<EntitlementsView>, ApiError> {
    authorize(&state, &caller, id, CustomerAction::ReadBilling).await?;
    let entitlements = rules::load_entitlements(&state.db, Scope::All, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(EntitlementsView::new(
        &entitlements,
        state.clock.now(),
    )))
}

/// May this customer use `feature` now? Answered from memory kept current by every change to
/// subscriptions, plans, the customer's status and usage.
#[utoipa::path(get, path = "/api/entitlements/check", tag = "entitlements", params(CheckParams),
    security(("bearer" = [])),
    responses((status = 200, body = CheckView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn check_entitlement(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<CheckParams>,
) -> Result<axum::Json<CheckView>, ApiError> {
    let feature = params.feature.trim();
    if feature.is_empty() || feature.chars().count() > MAX_FEATURE {
        return Err(ApiError::BadRequest(format!(
            "feature must be 1–{MAX_FEATURE} characters"
        )));
    }
    if caller.is_staff() {
        // No database round trip: the cache says whether the customer exists.
        caller.require(CustomerAction::ReadBilling.staff_permission())?;
    } else {
        authorize(
            &state,
            &caller,
            params.customer_id,
            CustomerAction::ReadBilling,
        )
        .await?;
    }
    let entitlements = state
        .entitlements
        .get(&state.db, params.customer_id, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(entitlements.check(feature).into()))
}
