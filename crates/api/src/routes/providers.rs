//! Payment providers over HTTP (SPEC §2.13): PromptPay through Opn or Stripe for an invoice,
//! payment links to its public pay page, and the providers' webhooks. What a provider charge
//! does to an invoice is `satang_billing::providers`'; this is its HTTP shape.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_billing::pay_links::{self, LinkError};
use satang_billing::providers::{self as operations, Keyring, PayWith, Provider, WebhookOutcome};
use satang_store::Scope;
use satang_store::invoices;
use satang_store::providers::PaymentIntent;

use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem};
use crate::extract::{AnonymousActor, Caller, Created, Json, Path};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_payment_intent))
        .routes(routes!(create_payment_link))
        .routes(routes!(pay_page))
        .routes(routes!(list_providers))
        .routes(routes!(opn_webhook))
        .routes(routes!(stripe_webhook))
}

/// The header a pay page sends instead of signing in: the payment link's token.
pub const PAYMENT_LINK_HEADER: &str = "x-payment-link";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartPaymentRequest {
    /// `opn` or `stripe`.
    pub provider: String,
    /// `promptpay` (a QR to scan) or `card` (charged at once).
    pub method: String,
    /// With `card`: the one-time token the provider's script made of the card (Omise.js
    /// `tokn_…`, Stripe.js `pm_…`). The card number itself is never sent to Satang.
    #[serde(default)]
    pub token: Option<String>,
}

/// A payment started at a provider.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentIntentView {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub provider: String,
    pub method: String,
    /// The provider's charge (Opn `chrg_…`) or PaymentIntent (Stripe `pi_…`).
    pub provider_ref: String,
    /// `pending`, `succeeded`, `failed` or `expired`.
    pub status: String,
    pub amount: i64,
    pub currency: String,
    /// The PromptPay QR to scan, as SVG.
    pub qr_svg: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub payment_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<PaymentIntent> for PaymentIntentView {
    fn from(i: PaymentIntent) -> Self {
        PaymentIntentView {
            id: i.id,
            invoice_id: i.invoice_id,
            provider: i.provider,
            method: i.method,
            provider_ref: i.provider_ref,
            status: i.status,
            amount: i.amount,
            currency: i.currency,
            qr_svg: i.qr_svg,
            expires_at: i.expires_at,
            payment_id: i.payment_id,
            created_at: i.created_at,
        }
    }
}

impl StartPaymentRequest {
    fn parse(self) -> Result<(Provider, PayWith), ApiError> {
        let mut v = crate::error::Validator::new();
        let provider = Provider::parse(&self.provider);
        v.check(provider.is_some(), "provider", "must be opn or stripe");
        let with = match (self.method.as_str(), self.token) {
            ("promptpay", _) => Some(PayWith::PromptPay),
            ("card", Some(token)) => Some(PayWith::Card(token)),
            ("card", None) => {
                v.add(
                    "token",
                    "a card token from the provider's script is required",
                );
                None
            }
            _ => {
                v.add("method", "must be promptpay or card");
                None
            }
        };
        v.finish()?;
        match (provider, with) {
            (Some(p), Some(w)) => Ok((p, w)),
            _ => Err(ApiError::field("method", "must be promptpay or card")),
        }
    }
}

fn link_error(e: LinkError) -> ApiError {
    match e {
        LinkError::Invalid => ApiError::NotFound,
        LinkError::Expired => ApiError::Conflict(e.to_string()),
    }
}

/// Pay what an invoice still owes through a provider: by PromptPay (the QR to scan; a pending
/// payment of the same amount is answered again) or by card (the token of the provider's
/// script, charged at once: 201 with the payment recorded, or 402 when declined). Staff with
/// billing rights, the customer's owner or billing member, or a payment link of this invoice
/// (`X-Payment-Link`).
#[utoipa::path(post, path = "/api/invoices/{id}/payment-intents", tag = "payments",
    params(("id" = Uuid, Path), ("X-Payment-Link" = Option<String>, Header, description = "A payment link's token, instead of signing in")),
    request_body = StartPaymentRequest, security(("bearer" = []), ()),
    responses((status = 201, body = PaymentIntentView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "The invoice is not open or the link expired", body = Problem),
        (status = 402, description = "The card was declined", body = Problem),
        (status = 422, body = Problem), (status = 502, description = "The provider failed or refused", body = Problem)))]
async fn create_payment_intent(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    AnonymousActor(anonymous): AnonymousActor,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(body): Json<StartPaymentRequest>,
) -> Result<Created<PaymentIntentView>, ApiError> {
    let now = state.clock.now();
    let link = headers
        .get(PAYMENT_LINK_HEADER)
        .and_then(|v| v.to_str().ok());
    let actor = match (caller, link) {
        (Ok(caller), _) => {
            let inv = invoices::find(
                &state.db,
                id,
                caller.scope(satang_auth::Permission::ReadBilling),
            )
            .await?
            .ok_or(ApiError::NotFound)?;
            authorize(
                &state,
                &caller,
                inv.customer_id,
                CustomerAction::ManagePaymentMethods,
            )
            .await?;
            caller.actor
        }
        (Err(_), Some(token)) => {
            let (invoice_id, _) =
                pay_links::verify(&state.pay_link_key, token, now).map_err(link_error)?;
            if invoice_id != id {
                return Err(ApiError::NotFound);
            }
            anonymous
        }
        (Err(e), None) => return Err(e),
    };
    let (provider, with) = body.parse()?;
    let keys = Keyring::load(&state.db, &state.secrets).await?;
    let intent = operations::start_payment(
        &state.db,
        &state.providers,
        &keys,
        &actor,
        id,
        provider,
        with,
        now,
    )
    .await?;
    Ok(Created(intent.into()))
}

/// A payment link of an invoice.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentLink {
    /// The public pay page: `{public_url}/pay/{token}`.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// A signed link to the invoice's public pay page (its number, seller, amount due, PromptPay
/// QR and card form, without signing in), valid for 30 days and for this invoice only.
#[utoipa::path(post, path = "/api/invoices/{id}/payment-link", tag = "payments",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 201, body = PaymentLink), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "The invoice is not open", body = Problem)))]
async fn create_payment_link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Created<PaymentLink>, ApiError> {
    let inv = invoices::find(
        &state.db,
        id,
        caller.scope(satang_auth::Permission::ReadBilling),
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    authorize(
        &state,
        &caller,
        inv.customer_id,
        CustomerAction::ReadBilling,
    )
    .await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let (url, expires_at) = pay_links::create(
        &mut tx,
        &state.pay_link_key,
        &state.config.public_url,
        &caller.actor,
        &inv,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Created(PaymentLink { url, expires_at }))
}

/// What a pay page shows: one invoice, without signing in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PayPageView {
    pub invoice_id: Uuid,
    pub number: Option<String>,
    /// `open`, `paid`, `void` or `uncollectible`.
    pub status: String,
    pub paid: bool,
    pub currency: String,
    pub total: i64,
    pub amount_due: i64,
    pub due_date: Option<chrono::NaiveDate>,
    pub customer_name: Option<String>,
    pub seller_name: Option<String>,
    /// The providers configured, with the public key their browser script needs.
    pub providers: Vec<PayProvider>,
    /// The seller's own PromptPay QR (SVG) for the amount due, when a PromptPay id is set and
    /// no provider is configured.
    pub promptpay_qr_svg: Option<String>,
    pub link_expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PayProvider {
    pub provider: String,
    pub public_key: String,
    /// The provider's browser script (Omise.js, Stripe.js).
    pub script_url: String,
}

/// The invoice a payment link opens (public; the pay page polls it to turn to "paid").
#[utoipa::path(get, path = "/api/pay/{token}", tag = "payments",
    params(("token" = String, Path)),
    responses((status = 200, body = PayPageView), (status = 404, body = Problem),
        (status = 409, description = "The link expired", body = Problem)))]
async fn pay_page(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Result<axum::Json<PayPageView>, ApiError> {
    let now = state.clock.now();
    let (id, expires_at) =
        pay_links::verify(&state.pay_link_key, &token, now).map_err(link_error)?;
    let inv = invoices::find(&state.db, id, Scope::All)
        .await?
        .ok_or(ApiError::NotFound)?;
    let keys = Keyring::load(&state.db, &state.secrets).await?;
    let providers = pay_providers(&keys);
    let snapshot = |v: &Option<satang_store::Json<serde_json::Value>>, key: &str| {
        v.as_ref()
            .and_then(|s| s.0.get(key).cloned())
            .and_then(|n| {
                n.get("th")
                    .or(Some(&n))
                    .and_then(|t| t.as_str().map(str::to_owned))
            })
    };
    let promptpay_qr_svg = if providers.is_empty()
        && inv.status.accepts_payment()
        && inv.amount_due > 0
        && inv.currency == satang_domain::Currency::Thb
    {
        let seller = satang_billing::settings::SellerProfile::load(&state.db).await?;
        seller
            .promptpay_id
            .as_deref()
            .and_then(|id| satang_domain::promptpay::PromptPayId::parse(id).ok())
            .and_then(|id| {
                let amount = satang_domain::money::Money::thb(inv.amount_due);
                satang_domain::promptpay::promptpay_payload(&id, Some(amount)).ok()
            })
            .and_then(|p| operations::qr_svg(&p))
    } else {
        None
    };
    Ok(axum::Json(PayPageView {
        invoice_id: inv.id,
        number: inv.number.clone(),
        status: inv.status.to_string(),
        paid: inv.status.is_paid(),
        currency: inv.currency.code().into(),
        total: inv.total,
        amount_due: inv.amount_due,
        due_date: inv.due_date,
        customer_name: snapshot(&inv.customer_snapshot, "name"),
        seller_name: snapshot(&inv.seller_snapshot, "company_name"),
        providers,
        promptpay_qr_svg,
        link_expires_at: expires_at,
    }))
}

/// The configured payment providers with their public keys, for a card page's script (anyone
/// signed in: the keys are public by design).
#[utoipa::path(get, path = "/api/payment-providers", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = Vec<PayProvider>), (status = 401, body = Problem)))]
async fn list_providers(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<axum::Json<Vec<PayProvider>>, ApiError> {
    let keys = Keyring::load(&state.db, &state.secrets).await?;
    Ok(axum::Json(pay_providers(&keys)))
}

fn pay_providers(keys: &Keyring) -> Vec<PayProvider> {
    keys.configured()
        .into_iter()
        .filter_map(|p| {
            Some(PayProvider {
                provider: p.as_str().into(),
                public_key: keys.get(p)?.public_key.clone(),
                script_url: p.script_url().into(),
            })
        })
        .collect()
}

/// Opn Payments' webhook (public). The event is not trusted as sent: the charge it names is
/// fetched from Opn and acted on; each event and each charge counts once.
#[utoipa::path(post, path = "/api/providers/opn/webhook", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "Opn's event: `{object: \"event\", id, key, data: {object, id}}`"),
    responses((status = 200, body = WebhookOutcome), (status = 400, body = Problem),
        (status = 502, description = "Opn could not be asked about the charge; Opn retries", body = Problem)))]
async fn opn_webhook(
    State(state): State<AppState>,
    AnonymousActor(actor): AnonymousActor,
    body: Bytes,
) -> Result<axum::Json<WebhookOutcome>, ApiError> {
    let keys = Keyring::load(&state.db, &state.secrets).await?;
    let outcome = operations::opn_webhook(
        &state.webhooks,
        &state.providers,
        &keys,
        &actor,
        &body,
        state.clock.now(),
    )
    .await?;
    Ok(axum::Json(outcome))
}

/// Stripe's webhook (public): the `Stripe-Signature` must verify under the configured signing
/// secret within five minutes, else 400; each event and each charge counts once.
#[utoipa::path(post, path = "/api/providers/stripe/webhook", tag = "payments",
    params(("Stripe-Signature" = String, Header)),
    request_body(content = String, content_type = "application/json", description = "Stripe's event, byte for byte as signed"),
    responses((status = 200, body = WebhookOutcome), (status = 400, body = Problem)))]
async fn stripe_webhook(
    State(state): State<AppState>,
    AnonymousActor(actor): AnonymousActor,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<WebhookOutcome>, ApiError> {
    let keys = Keyring::load(&state.db, &state.secrets).await?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let outcome = operations::stripe_webhook(
        &state.webhooks,
        &keys,
        &actor,
        signature,
        &body,
        state.clock.now(),
    )
    .await?;
    Ok(axum::Json(outcome))
}
