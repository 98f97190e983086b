//! Coupons (SPEC §2.11): `billing` staff and admins create and archive them, every staff role
//! reads them; members never see the list (they only type a code, see
//! `POST /api/subscriptions/{id}/discount`).
//!
//! Decisions a client should know:
//! - `code` is `A–Z 0–9 _ -` (1–64 characters), stored upper-case: unique and redeemed
//!   case-insensitively; a code in use is a 409.
//! - Exactly one of `percent_off_bps` (1–10000) and `amount_off` (> 0, with `currency`, THB by
//!   default) is given. `duration` is `once`, `repeating` (with `duration_in_periods`, 1–120)
//!   or `forever`.
//! - `name` defaults to the code in both languages; `redeem_by` must lie in the future.
//! - Archiving is final and idempotent: the coupon can no longer be redeemed; discounts it gave
//!   keep running.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
pub use satang_billing::coupons::CouponSummary as CouponView;
use satang_billing::coupons::{self as operations, CouponInput};
use satang_domain::{CouponCode, CouponDuration, CouponValue, Currency};
use satang_store::coupons;

use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Created, Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::routes::plans::normalize_code;
use crate::state::AppState;

/// Longest coupon name, per language.
const MAX_NAME: usize = 200;
/// Plan codes one coupon may be restricted to.
const MAX_PLANS: usize = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_coupons, create_coupon))
        .routes(routes!(get_coupon))
        .routes(routes!(archive_coupon))
}

/// Partial names: a missing language takes the other's text (or the code).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponName {
    pub th: Option<String>,
    pub en: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCouponRequest {
    /// `A–Z 0–9 _ -`, 1–64 characters; lower case is accepted and stored upper-case.
    pub code: String,
    pub name: Option<CouponName>,
    /// 1–10000 basis points (10000 = 100 %). Give this or `amount_off`.
    pub percent_off_bps: Option<i64>,
    /// Minor units, > 0. Give this or `percent_off_bps`.
    pub amount_off: Option<i64>,
    /// The currency of `amount_off` (default THB).
    pub currency: Option<String>,
    /// `once`, `repeating` or `forever`.
    pub duration: String,
    /// With `repeating`: how many billing periods (1–120).
    pub duration_in_periods: Option<i64>,
    /// Plan codes (e.g. `["PRO", "TEAM"]`); absent: every plan.
    pub applies_to_plans: Option<Vec<String>>,
    /// How many subscriptions may redeem it in all (≥ 1); absent: no limit.
    pub max_redemptions: Option<i64>,
    /// The last instant it may be redeemed (RFC 3339, in the future).
    pub redeem_by: Option<DateTime<Utc>>,
}

impl CreateCouponRequest {
    fn parse(self, now: DateTime<Utc>) -> Result<CouponInput, ApiError> {
        let mut v = Validator::new();
        let code = match CouponCode::parse(&self.code) {
            Ok(code) => Some(code),
            Err(e) => {
                v.add("code", e.to_string());
                None
            }
        };
        let fallback = code.as_ref().map(|c| c.to_string()).unwrap_or_default();
        let (th, en) = match &self.name {
            Some(n) => (n.th.clone(), n.en.clone()),
            None => (None, None),
        };
        let name_th = th.clone().or(en.clone()).unwrap_or(fallback.clone());
        let name_en = en.or(th).unwrap_or(fallback);
        let name_th = v.text("name.th", &name_th, MAX_NAME);
        let name_en = v.text("name.en", &name_en, MAX_NAME);
        let value = coupon_value(
            &mut v,
            self.percent_off_bps,
            self.amount_off,
            self.currency.as_deref(),
        );
        let duration = coupon_duration(&mut v, &self.duration, self.duration_in_periods);
        let applies_to_plans = self.applies_to_plans.map(|codes| plan_codes(&mut v, codes));
        v.check(
            self.max_redemptions.is_none_or(|m| m >= 1),
            "max_redemptions",
            "must be at least 1",
        );
        v.check(
            self.redeem_by.is_none_or(|by| by > now),
            "redeem_by",
            "must be in the future",
        );
        v.finish()?;
        match (code, value, duration) {
            (Some(code), Some(value), Some(duration)) => Ok(CouponInput {
                code,
                name_th,
                name_en,
                value,
                duration,
                applies_to_plans,
                max_redemptions: self.max_redemptions,
                redeem_by: self.redeem_by,
            }),
            _ => Err(ApiError::Internal(
                "a coupon refused without a field".into(),
            )),
        }
    }
}

/// The coupon's value: a percentage or an amount off (THB when no currency is given).
fn coupon_value(
    v: &mut Validator,
    percent_off_bps: Option<i64>,
    amount_off: Option<i64>,
    currency: Option<&str>,
) -> Option<CouponValue> {
    match (percent_off_bps, amount_off) {
        (Some(_), Some(_)) => {
            v.add(
                "percent_off_bps",
                "give percent_off_bps or amount_off, not both",
            );
            None
        }
        (None, None) => {
            v.add(
                "percent_off_bps",
                "percent_off_bps or amount_off is required",
            );
            None
        }
        (Some(bps), None) => {
            if currency.is_some() {
                v.add("currency", "applies only with amount_off");
            }
            CouponValue::percent_off(bps)
                .map_err(|e| v.add("percent_off_bps", e.to_string()))
                .ok()
        }
        (None, Some(amount)) => {
            let currency = match currency {
                None => Some(Currency::Thb),
                Some(raw) => raw.trim().parse::<Currency>().ok().or_else(|| {
                    v.add(
                        "currency",
                        "must be a supported ISO 4217 currency code, e.g. THB",
                    );
                    None
                }),
            };
            let value = CouponValue::amount_off(amount, currency.unwrap_or_default())
                .map_err(|e| v.add("amount_off", e.to_string()))
                .ok();
            value.filter(|_| currency.is_some())
        }
    }
}

/// How long the discount lasts; `duration_in_periods` only with `repeating`.
fn coupon_duration(
    v: &mut Validator,
    duration: &str,
    periods: Option<i64>,
) -> Option<CouponDuration> {
    match (duration.trim(), periods) {
        ("repeating", Some(periods)) => CouponDuration::repeating(periods)
            .map_err(|e| v.add("duration_in_periods", e.to_string()))
            .ok(),
        ("repeating", None) => {
            v.add("duration_in_periods", "is required with duration repeating");
            None
        }
        (other @ ("once" | "forever"), periods) => {
            if periods.is_some() {
                v.add(
                    "duration_in_periods",
                    "applies only with duration repeating",
                );
            }
            other.parse().ok()
        }
        _ => {
            v.add("duration", "must be once, repeating or forever");
            None
        }
    }
}

/// The plan codes a coupon is restricted to, normalised, sorted and without repeats.
fn plan_codes(v: &mut Validator, codes: Vec<String>) -> Vec<String> {
    if codes.is_empty() || codes.len() > MAX_PLANS {
        v.add(
            "applies_to_plans",
            format!("list 1–{MAX_PLANS} plan codes, or leave it out for every plan"),
        );
    }
    let mut normalised: Vec<String> = codes
        .iter()
        .filter_map(|raw| {
            let code = normalize_code(raw);
            if code.is_none() {
                v.add(
                    "applies_to_plans",
                    "holds something that is not a plan code",
                );
            }
            code
        })
        .collect();
    normalised.sort();
    normalised.dedup();
    normalised
}

/// Coupons, oldest first.
#[utoipa::path(get, path = "/api/coupons", tag = "coupons", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<CouponView>), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn list_coupons(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<CouponView>>, ApiError> {
    require_staff(&caller)?;
    let (limit, after) = params.keyset()?;
    let rows = coupons::list(&state.db, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |c| c.id,
        CouponView::from,
    )))
}

/// Create a coupon.
#[utoipa::path(post, path = "/api/coupons", tag = "coupons", request_body = CreateCouponRequest, security(("bearer" = [])),
    responses((status = 201, body = CouponView), (status = 403, body = Problem),
        (status = 409, description = "A coupon with this code exists", body = Problem), (status = 422, body = Problem)))]
async fn create_coupon(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateCouponRequest>,
) -> Result<Created<CouponView>, ApiError> {
    caller.require(Permission::WriteBilling)?;
    let now = state.clock.now();
    let input = body.parse(now)?;
    let mut tx = state.db.begin().await?;
    let coupon = operations::create_coupon(&mut tx, &caller.actor, input, now).await?;
    tx.commit().await?;
    Ok(Created(coupon.into()))
}

/// One coupon.
#[utoipa::path(get, path = "/api/coupons/{id}", tag = "coupons", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = CouponView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_coupon(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<CouponView>, ApiError> {
    require_staff(&caller)?;
    let coupon = coupons::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(coupon.into()))
}

/// Archive a coupon: it can no longer be redeemed; running discounts continue.
#[utoipa::path(post, path = "/api/coupons/{id}/archive", tag = "coupons", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = CouponView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn archive_coupon(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<CouponView>, ApiError> {
    caller.require(Permission::WriteBilling)?;
    let mut tx = state.db.begin().await?;
    let coupon = operations::archive_coupon(&mut tx, &caller.actor, id, state.clock.now()).await?;
    tx.commit().await?;
    Ok(axum::Json(coupon.into()))
}

/// Coupons are the operator's: every staff role reads them, members do not.
fn require_staff(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_staff() {
        caller.require(Permission::ReadBilling)
    } else {
        Err(ApiError::Forbidden)
    }
}
