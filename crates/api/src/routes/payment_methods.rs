//! Payment methods of a customer (SPEC §2.6): a card is tokenised at the gateway at once and only
//! its token (sealed), brand, last four digits and expiry are kept — never the number (PCI);
//! PromptPay and bank transfer need nothing; one method is the default.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_billing::payment_methods::{CardGateways, MethodRequest, add_payment_method};
use satang_store::audit::{self, Change};
use satang_store::payment_methods::{self, PaymentMethod};

use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Created, Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_methods, add_method))
        .routes(routes!(remove_method))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentMethodView {
    pub id: Uuid,
    pub customer_id: Uuid,
    /// `card`, `promptpay` or `bank_transfer`.
    #[serde(rename = "type")]
    pub method_type: String,
    pub gateway: Option<String>,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

impl From<PaymentMethod> for PaymentMethodView {
    fn from(m: PaymentMethod) -> Self {
        PaymentMethodView {
            id: m.id,
            customer_id: m.customer_id,
            method_type: m.method_type,
            gateway: m.gateway,
            brand: m.brand,
            last4: m.last4,
            exp_month: m.exp_month,
            exp_year: m.exp_year,
            is_default: m.is_default,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPaymentMethod {
    #[serde(rename = "type")]
    pub method_type: String,
    /// For cards: `sandbox` (the gateway configured).
    pub gateway: Option<String>,
    /// Sent to the gateway, never stored.
    pub card_number: Option<String>,
    pub exp_month: Option<u32>,
    pub exp_year: Option<i32>,
    /// With a provider (`gateway: opn|stripe`): the one-time token of the provider's browser
    /// script (Omise.js `tokn_…`, Stripe.js `pm_…`) instead of a card number.
    pub token: Option<String>,
    #[serde(default)]
    pub is_default: bool,
}

/// The customer's payment methods.
#[utoipa::path(get, path = "/api/customers/{id}/payment-methods", tag = "payment methods", params(("id" = Uuid, Path), PageParams),
    security(("bearer" = [])), responses((status = 200, body = Page<PaymentMethodView>), (status = 404, body = Problem)))]
async fn list_methods(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<Uuid>,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<PaymentMethodView>>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::ReadBilling).await?;
    let (limit, after) = params.keyset()?;
    let rows = payment_methods::list(&state.db, customer_id, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |m| m.id,
        PaymentMethodView::from,
    )))
}

/// Add a card (tokenised at the gateway), PromptPay or bank transfer.
#[utoipa::path(post, path = "/api/customers/{id}/payment-methods", tag = "payment methods", params(("id" = Uuid, Path)),
    request_body = AddPaymentMethod, security(("bearer" = [])),
    responses((status = 201, body = PaymentMethodView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn add_method(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<Uuid>,
    Json(body): Json<AddPaymentMethod>,
) -> Result<Created<PaymentMethodView>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::Read).await?;
    authorize(
        &state,
        &caller,
        customer_id,
        CustomerAction::ManagePaymentMethods,
    )
    .await?;
    let request = MethodRequest {
        method_type: &body.method_type,
        gateway: body.gateway.as_deref(),
        card_number: body.card_number.as_deref(),
        exp_month: body.exp_month,
        exp_year: body.exp_year,
        token: body.token.as_deref(),
        is_default: body.is_default,
    };
    let keys = satang_billing::providers::Keyring::load(&state.db, &state.secrets).await?;
    let gateways = CardGateways {
        builtin: state.gateway.as_ref(),
        providers: &state.providers,
        keys: &keys,
    };
    let method = add_payment_method(
        &state.db,
        gateways,
        &state.secrets,
        &caller.actor,
        customer_id,
        request,
        state.clock.now(),
    )
    .await?;
    Ok(Created(method.into()))
}

/// Remove a payment method (its token is erased).
#[utoipa::path(delete, path = "/api/customers/{id}/payment-methods/{method_id}", tag = "payment methods",
    params(("id" = Uuid, Path), ("method_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
async fn remove_method(
    State(state): State<AppState>,
    caller: Caller,
    Path((customer_id, method_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::Read).await?;
    authorize(
        &state,
        &caller,
        customer_id,
        CustomerAction::ManagePaymentMethods,
    )
    .await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    payment_methods::remove(&mut tx, customer_id, method_id, now).await?;
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "payment_method.removed",
            entity_type: "customer",
            entity_id: customer_id.to_string(),
            before: Some(serde_json::json!({ "id": method_id })),
            after: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
