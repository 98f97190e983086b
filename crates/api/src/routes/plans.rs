//! The plan catalog (SPEC §2.4): everyone signed in reads the plans on sale; administrators
//! create, edit and archive them.
//!
//! A plan is identified for sale by its `code` and `interval`: `PRO` monthly and `PRO` yearly
//! are two plans with one code, and among active plans a (code, interval) pair is unique.
//! Editing names, descriptions, features, limits or trial days changes the plan in place. Editing
//! anything a subscriber pays by (price, currency, pricing, interval, interval count, metered
//! prices) creates a **new version**: a new plan (new id, `version` + 1, same code) that replaces
//! the old one in the catalog; the old one is archived, and subscriptions on it keep it and its
//! price (grandfathering) until they are moved with change-plan.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_domain::Interval;
use satang_store::audit::{self, Change};
use satang_store::plans::{self, Plan, PlanFields};

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Created, Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

mod input;

pub use input::{
    CreatePlanRequest, MAX_PRICE, MAX_TRIAL_DAYS, UpdatePlanRequest, normalize_code, query_code,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plans, create_plan))
        .routes(routes!(get_plan, update_plan))
        .routes(routes!(archive_plan))
}

/// Text in both of the console's languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalizedText {
    pub th: String,
    pub en: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanInterval {
    Month,
    Year,
}

impl PlanInterval {
    pub fn as_str(self) -> &'static str {
        Interval::from(self).as_str()
    }
}

/// The API's name for the domain's [`Interval`], kept for its OpenAPI schema.
impl From<PlanInterval> for Interval {
    fn from(i: PlanInterval) -> Interval {
        match i {
            PlanInterval::Month => Interval::Month,
            PlanInterval::Year => Interval::Year,
        }
    }
}

impl From<Interval> for PlanInterval {
    fn from(i: Interval) -> PlanInterval {
        match i {
            Interval::Month => PlanInterval::Month,
            Interval::Year => PlanInterval::Year,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pricing {
    /// One price per period, whatever the quantity (which must be 1).
    Flat,
    /// `price × quantity` per period.
    PerSeat,
}

impl Pricing {
    pub fn as_str(self) -> &'static str {
        satang_domain::Pricing::from(self).as_str()
    }
}

/// The API's name for the domain's [`satang_domain::Pricing`], kept for its OpenAPI schema.
impl From<Pricing> for satang_domain::Pricing {
    fn from(p: Pricing) -> satang_domain::Pricing {
        match p {
            Pricing::Flat => satang_domain::Pricing::Flat,
            Pricing::PerSeat => satang_domain::Pricing::PerSeat,
        }
    }
}

impl From<satang_domain::Pricing> for Pricing {
    fn from(p: satang_domain::Pricing) -> Pricing {
        match p {
            satang_domain::Pricing::Flat => Pricing::Flat,
            satang_domain::Pricing::PerSeat => Pricing::PerSeat,
        }
    }
}

/// One step of graduated usage pricing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceTier {
    /// Units up to and including this count cost `unit_price`; null on the last tier.
    pub up_to: Option<i64>,
    /// Minor units per unit.
    pub unit_price: i64,
}

/// A usage-based charge, invoiced in arrears.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeteredPrice {
    /// The usage metric, e.g. `satellite_images` (lowercase letters, digits, `_`, `.`).
    pub metric: String,
    /// Minor units per unit beyond `included_units`.
    pub unit_price: i64,
    /// Units included in the period's price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included_units: Option<i64>,
    /// Graduated tiers replacing `unit_price` for the billable units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<PriceTier>>,
}

/// A plan version as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlanView {
    pub id: Uuid,
    /// Sales code, e.g. `PRO`; monthly and yearly plans share it.
    pub code: String,
    pub name: LocalizedText,
    pub description: LocalizedText,
    pub interval: PlanInterval,
    pub interval_count: i64,
    /// Minor units per period (per seat for `per_seat` pricing), excluding VAT.
    pub price: i64,
    pub currency: String,
    pub pricing: Pricing,
    pub trial_days: i64,
    pub features: Vec<String>,
    /// Limit name → maximum; null means unlimited.
    pub limits: BTreeMap<String, Option<i64>>,
    pub metered: Vec<MeteredPrice>,
    /// False once archived: no longer sold, still held by its subscribers.
    pub active: bool,
    /// 1 for a new code; + 1 with every price change.
    pub version: i64,
    /// The version this one replaced.
    pub previous_version_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

impl From<Plan> for PlanView {
    fn from(p: Plan) -> Self {
        PlanView {
            id: p.id,
            code: p.code,
            name: LocalizedText {
                th: p.name_th,
                en: p.name_en,
            },
            description: LocalizedText {
                th: p.description_th,
                en: p.description_en,
            },
            interval: p.billing_interval.into(),
            interval_count: p.interval_count,
            price: p.price,
            currency: p.currency.code().to_owned(),
            pricing: p.pricing.into(),
            trial_days: p.trial_days,
            features: p.features.0,
            // Written only by this module after validation, so they always decode.
            limits: serde_json::from_value(p.limits.0).unwrap_or_default(),
            metered: serde_json::from_value(p.metered.0).unwrap_or_default(),
            active: p.active,
            version: p.version,
            previous_version_id: p.previous_version_id,
            created_at: p.created_at,
            updated_at: p.updated_at,
            archived_at: p.archived_at,
        }
    }
}

fn json_of(view: &PlanView) -> serde_json::Value {
    serde_json::to_value(view).unwrap_or_default()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanListParams {
    /// Also list archived plans (staff only).
    pub include_archived: Option<bool>,
    /// Only plans with this code.
    pub code: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Plans on sale, in catalog order; staff may include archived versions.
#[utoipa::path(get, path = "/api/plans", tag = "plans", params(PlanListParams), security(("bearer" = [])),
    responses((status = 200, body = Page<PlanView>), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
async fn list_plans(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PlanListParams>,
) -> Result<axum::Json<Page<PlanView>>, ApiError> {
    let include_archived = params.include_archived.unwrap_or(false);
    if include_archived && !caller.is_staff() {
        return Err(ApiError::Forbidden);
    }
    let code = params
        .code
        .as_deref()
        .map(|c| query_code("code", c))
        .transpose()?;
    let (limit, after) = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .keyset()?;
    let rows = plans::list(
        &state.db,
        plans::PlanFilter {
            include_archived,
            code: code.as_deref(),
        },
        after,
        limit + 1,
    )
    .await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |p| p.id,
        PlanView::from,
    )))
}

/// One plan version, archived or not (subscribers must see what they hold).
#[utoipa::path(get, path = "/api/plans/{id}", tag = "plans", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = PlanView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_plan(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<PlanView>, ApiError> {
    let plan = plans::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(plan.into()))
}

/// Create a plan (admin). A code that was sold before continues its version numbers.
#[utoipa::path(post, path = "/api/plans", tag = "plans", request_body = CreatePlanRequest, security(("bearer" = [])),
    responses((status = 201, body = PlanView), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_plan(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreatePlanRequest>,
) -> Result<Created<PlanView>, ApiError> {
    caller.require(Permission::ManagePlans)?;
    let fields = input::create_fields(body)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let plan = plans::insert(&mut tx, fields, now).await?;
    let view = PlanView::from(plan);
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "plan.created",
            entity_type: "plan",
            entity_id: view.id.to_string(),
            before: None,
            after: Some(json_of(&view)),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Created(view))
}

/// Edit a plan (admin). Names, descriptions, features, limits and trial days change in place;
/// a change of price, currency, pricing, interval or metered prices answers with a **new
/// version** (new id) and archives this one, whose subscribers keep their price.
#[utoipa::path(patch, path = "/api/plans/{id}", tag = "plans", params(("id" = Uuid, Path)), request_body = UpdatePlanRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "The plan as now sold: this one, or its new version", body = PlanView),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn update_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdatePlanRequest>,
) -> Result<axum::Json<PlanView>, ApiError> {
    caller.require(Permission::ManagePlans)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let old = plans::lock_by_id(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let fields = input::update_fields(&old, body)?;
    let before = PlanView::from(old.clone());
    let reprice = fields.changes_price_of(&old);
    if !reprice && fields == PlanFields::of(&old) {
        return Ok(axum::Json(before));
    }
    if reprice && !old.active {
        return Err(ApiError::Conflict(
            "an archived plan keeps its price; change the active version of this code instead"
                .into(),
        ));
    }
    let after = if reprice {
        let new = PlanView::from(plans::new_version(&mut tx, &old, fields, now).await?);
        let mut archived = before.clone();
        archived.active = false;
        archived.archived_at = Some(now);
        archived.updated_at = now;
        record(&caller, &mut tx, "plan.archived", &before, &archived, now).await?;
        record(&caller, &mut tx, "plan.versioned", &before, &new, now).await?;
        new
    } else {
        let edited = PlanView::from(plans::update_in_place(&mut tx, id, fields, now).await?);
        record(&caller, &mut tx, "plan.updated", &before, &edited, now).await?;
        edited
    };
    tx.commit().await?;
    // An edit in place changes what every subscriber of the plan is entitled to.
    state.entitlements.forget_everyone();
    Ok(axum::Json(after))
}

/// Audits a change from `before` to `after`, filed under `after`'s id.
async fn record(
    caller: &Caller,
    tx: &mut satang_store::Tx,
    action: &str,
    before: &PlanView,
    after: &PlanView,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    audit::record(
        tx,
        &caller.actor,
        Change {
            action,
            entity_type: "plan",
            entity_id: after.id.to_string(),
            before: Some(json_of(before)),
            after: Some(json_of(after)),
        },
        now,
    )
    .await?;
    Ok(())
}

/// Withdraw a plan from sale (admin). Its subscribers keep it until moved.
#[utoipa::path(post, path = "/api/plans/{id}/archive", tag = "plans", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = PlanView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Already archived", body = Problem)))]
async fn archive_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<PlanView>, ApiError> {
    caller.require(Permission::ManagePlans)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let old = plans::lock_by_id(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !old.active {
        return Err(ApiError::Conflict("this plan is already archived".into()));
    }
    let before = PlanView::from(old);
    let after = PlanView::from(plans::archive(&mut tx, id, now).await?);
    record(&caller, &mut tx, "plan.archived", &before, &after, now).await?;
    tx.commit().await?;
    Ok(axum::Json(after))
}
