//! Credit grants of a customer (SPEC §2.11): `billing` staff and admins grant and void them;
//! whoever may read the customer's billing (staff, its members) lists them.
//!
//! Decisions a client should know:
//! - `amount` > 0 minor units of `currency` (THB by default); `priority` 0–100, lower first,
//!   default 50; `expires_at` must lie in the future; `note` at most 500 characters.
//! - Each finalised invoice of the customer consumes its active grants in its currency by
//!   priority, then earliest expiry, then creation: promotional ones as a discount before VAT,
//!   prepaid ones as a `credit` payment after VAT (see `satang_billing::credit_grants`).
//! - Voiding a grant that is not active is a 409.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_billing::credit_grants::{self as operations, GrantInput, GrantType};
use satang_domain::Currency;
use satang_store::credit_grants::{self, CreditGrant};

use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Created, Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

/// Longest note.
const MAX_NOTE: usize = 500;
/// Priority of a grant that names none.
const DEFAULT_PRIORITY: i64 = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_grants, create_grant))
        .routes(routes!(void_grant))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreditGrantView {
    pub id: Uuid,
    pub customer_id: Uuid,
    /// `promotional` (a discount before VAT) or `prepaid` (pays after VAT).
    #[serde(rename = "type")]
    pub grant_type: String,
    /// Minor units granted.
    pub amount: i64,
    /// Minor units still to give.
    pub remaining: i64,
    pub currency: String,
    /// After this instant the grant gives nothing.
    pub expires_at: Option<DateTime<Utc>>,
    /// 0–100, consumed lower first.
    pub priority: i64,
    pub note: Option<String>,
    /// `active`, `depleted`, `expired` or `voided`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<CreditGrant> for CreditGrantView {
    fn from(g: CreditGrant) -> Self {
        CreditGrantView {
            id: g.id,
            customer_id: g.customer_id,
            grant_type: g.grant_type,
            amount: g.amount,
            remaining: g.remaining,
            currency: g.currency,
            expires_at: g.expires_at,
            priority: g.priority,
            note: g.note,
            status: g.status,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCreditGrantRequest {
    /// `promotional` or `prepaid`.
    #[serde(rename = "type")]
    pub grant_type: String,
    /// Minor units, > 0.
    pub amount: i64,
    /// ISO 4217 (default THB); only invoices in this currency consume it.
    pub currency: Option<String>,
    /// RFC 3339, in the future; absent: never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// 0–100, lower first (default 50).
    pub priority: Option<i64>,
    pub note: Option<String>,
}

impl CreateCreditGrantRequest {
    fn parse(self, now: DateTime<Utc>) -> Result<GrantInput, ApiError> {
        let mut v = Validator::new();
        let grant_type = GrantType::parse(self.grant_type.trim());
        v.check(
            grant_type.is_some(),
            "type",
            "must be promotional or prepaid",
        );
        v.check(self.amount > 0, "amount", "must be greater than 0");
        let currency = match &self.currency {
            None => Some(Currency::Thb),
            Some(raw) => raw.trim().parse::<Currency>().ok(),
        };
        v.check(
            currency.is_some(),
            "currency",
            "must be a supported ISO 4217 currency code, e.g. THB",
        );
        let priority = self.priority.unwrap_or(DEFAULT_PRIORITY);
        v.check(
            (0..=100).contains(&priority),
            "priority",
            "must be between 0 and 100",
        );
        v.check(
            self.expires_at.is_none_or(|e| e > now),
            "expires_at",
            "must be in the future",
        );
        let note = self.note.map(|n| v.text("note", &n, MAX_NOTE));
        v.finish()?;
        match (grant_type, currency) {
            (Some(grant_type), Some(currency)) => Ok(GrantInput {
                grant_type,
                amount: self.amount,
                currency,
                expires_at: self.expires_at,
                priority,
                note,
            }),
            _ => Err(ApiError::Internal("a grant refused without a field".into())),
        }
    }
}

/// The customer's credit grants, oldest first.
#[utoipa::path(get, path = "/api/customers/{id}/credit-grants", tag = "credit grants",
    params(("id" = Uuid, Path), PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<CreditGrantView>), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<Uuid>,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<CreditGrantView>>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::ReadBilling).await?;
    let (limit, after) = params.keyset()?;
    let rows = credit_grants::list(&state.db, customer_id, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |g| g.id,
        CreditGrantView::from,
    )))
}

/// Grant promotional or prepaid credit to the customer.
#[utoipa::path(post, path = "/api/customers/{id}/credit-grants", tag = "credit grants",
    params(("id" = Uuid, Path)), request_body = CreateCreditGrantRequest, security(("bearer" = [])),
    responses((status = 201, body = CreditGrantView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn create_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<Uuid>,
    Json(body): Json<CreateCreditGrantRequest>,
) -> Result<Created<CreditGrantView>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::Read).await?;
    authorize(&state, &caller, customer_id, CustomerAction::AdjustBilling).await?;
    let now = state.clock.now();
    let input = body.parse(now)?;
    let mut tx = state.db.begin().await?;
    let grant = operations::create_grant(&mut tx, &caller.actor, customer_id, input, now).await?;
    tx.commit().await?;
    Ok(Created(grant.into()))
}

/// Void a grant: what it has left is no longer given.
#[utoipa::path(post, path = "/api/customers/{id}/credit-grants/{grant_id}/void", tag = "credit grants",
    params(("id" = Uuid, Path), ("grant_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = CreditGrantView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "The grant is not active", body = Problem)))]
async fn void_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((customer_id, grant_id)): Path<(Uuid, Uuid)>,
) -> Result<axum::Json<CreditGrantView>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::Read).await?;
    authorize(&state, &caller, customer_id, CustomerAction::AdjustBilling).await?;
    let mut tx = state.db.begin().await?;
    let grant = operations::void_grant(
        &mut tx,
        &caller.actor,
        customer_id,
        grant_id,
        state.clock.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(grant.into()))
}
