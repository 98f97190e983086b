//! Payment providers (SPEC §2.13): Opn Payments and Stripe beside the sandbox gateway.
//!
//! - **Keys** are an admin's setting, sealed with the instance's secret key in their own kv
//!   document (never in the seller profile, so no profile audit entry can hold one); only the
//!   public keys and the last four characters of the secret ones are ever shown.
//! - **PromptPay** ([`start_payment`]): a charge (Opn) or PaymentIntent (Stripe) for what the
//!   invoice still owes, its QR kept on a `payment_intents` row. A pending intent of the same
//!   amount is handed out again instead of a second QR.
//! - **Money arriving** ([`apply_charge`]): whatever reports a provider charge — the webhook, its
//!   replay, a second delivery at the same moment, the synchronous answer of an automatic
//!   collection — claims `(provider, charge id)` first; only the claimer records the payment.
//!   Money for an invoice that is already settled goes to the customer's credit balance.
//! - **Webhooks**: Opn's events are not trusted as sent (anyone can post one): the charge is
//!   fetched back from Opn with the secret key and its status acted on. Stripe's events are
//!   trusted once their `Stripe-Signature` verifies (five minutes' tolerance).
//! - Provider failures: a timeout, a 5xx or an answer that does not parse is
//!   [`ProviderError::Unavailable`] (retried later, never counted as a decline); a 4xx is
//!   [`ProviderError::Refused`] with the provider's code and message.

pub mod applier;
pub mod opn;
pub mod stripe;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use satang_auth::crypto::SecretBox;
use satang_domain::Currency;
use satang_store::audit::{self, Actor, Change};
use satang_store::invoices::{self, Invoice};
use satang_store::payments::Payment;
use satang_store::providers::{self as store, NewPaymentIntent, PaymentIntent};
use satang_store::{Db, Scope, Tx, customers, kv};

pub use applier::{Applier, Delivery};

use crate::invoicing::settlement::{PaymentInput, record_payment, record_to_balance};
use crate::{BillingSettings, Error, Result};

/// The two providers Satang speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Opn,
    Stripe,
}

impl Provider {
    pub const ALL: [Provider; 2] = [Provider::Opn, Provider::Stripe];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Opn => "opn",
            Provider::Stripe => "stripe",
        }
    }

    pub fn parse(name: &str) -> Option<Provider> {
        match name {
            "opn" => Some(Provider::Opn),
            "stripe" => Some(Provider::Stripe),
            _ => None,
        }
    }

    /// The origin of the provider's browser script (Omise.js, Stripe.js): the only script
    /// origin the card page's CSP allows besides our own.
    pub fn script_origin(self) -> &'static str {
        match self {
            Provider::Opn => "https://cdn.omise.co",
            Provider::Stripe => "https://js.stripe.com",
        }
    }

    /// The Content-Security-Policy of the page that loads the provider's script: its origin
    /// for scripts, and what the script talks to and frames (tokenisation, 3-D Secure).
    pub fn card_page_csp(self) -> &'static str {
        match self {
            Provider::Opn => {
                "default-src 'none'; script-src 'self' https://cdn.omise.co; \
                 connect-src 'self' https://vault.omise.co https://api.omise.co; \
                 frame-src https://vault.omise.co https://api.omise.co; style-src 'self'; \
                 img-src 'self' data:; font-src 'self'; form-action 'self'; base-uri 'none'; \
                 frame-ancestors 'none'"
            }
            Provider::Stripe => {
                "default-src 'none'; script-src 'self' https://js.stripe.com; \
                 connect-src 'self' https://api.stripe.com; \
                 frame-src https://js.stripe.com https://hooks.stripe.com; style-src 'self'; \
                 img-src 'self' data:; font-src 'self'; form-action 'self'; base-uri 'none'; \
                 frame-ancestors 'none'"
            }
        }
    }

    pub fn script_url(self) -> &'static str {
        match self {
            Provider::Opn => "https://cdn.omise.co/omise.js",
            Provider::Stripe => "https://js.stripe.com/v3/",
        }
    }
}

/// Why a provider request did not give an answer to act on.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ProviderError {
    #[error("the provider could not be reached or failed: {0}")]
    Unavailable(String),
    #[error("the provider refused the request ({status} {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
}

impl From<ProviderError> for Error {
    fn from(e: ProviderError) -> Self {
        Error::Provider(e.to_string())
    }
}

/// A card charge's figures, the same at both providers.
#[derive(Debug, Clone, Copy)]
pub struct CardCharge<'a> {
    pub amount: i64,
    pub currency: &'a str,
    pub invoice_id: Uuid,
    pub description: Option<&'a str>,
    pub idempotency_key: &'a str,
}

/// One provider's API: a client (connection pool, timeouts) and its base URL.
#[derive(Clone)]
pub struct Http {
    client: Arc<OnceLock<reqwest::Client>>,
    pub base: String,
}

impl Http {
    /// The client, built on first use: an instance without providers never holds a TLS
    /// configuration and its root certificates in memory.
    pub fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .connect_timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default()
        })
    }

    /// Sends, and reads the answer whole; a transport failure or a 5xx is `Unavailable`.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), ProviderError> {
        let response = request
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(transport(e)))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| ProviderError::Unavailable(transport(e)))?;
        if status >= 500 {
            return Err(ProviderError::Unavailable(format!("answered {status}")));
        }
        Ok((status, body.to_vec()))
    }
}

/// A transport error without the URL (a download URL may carry a token).
fn transport(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        e.without_url().to_string()
    }
}

/// The providers' APIs as this process reaches them.
#[derive(Clone)]
pub struct Providers {
    pub opn: Http,
    pub stripe: Http,
}

/// How long a provider request may take before it counts as unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

impl Providers {
    /// `SATANG_OPN_API_URL` and `SATANG_STRIPE_API_URL` (the real APIs by default).
    pub fn new(opn_url: &str, stripe_url: &str) -> Providers {
        let client = Arc::new(OnceLock::new());
        let http = |base: &str| Http {
            client: client.clone(),
            base: base.trim_end_matches('/').to_owned(),
        };
        Providers {
            opn: http(opn_url),
            stripe: http(stripe_url),
        }
    }

    pub fn http(&self, provider: Provider) -> &Http {
        match provider {
            Provider::Opn => &self.opn,
            Provider::Stripe => &self.stripe,
        }
    }
}

/// A provider charge (Opn) or PaymentIntent (Stripe) as the provider reports it.
#[derive(Debug, Clone)]
pub struct ProviderCharge {
    /// What Satang keeps on the payment intent: Opn's charge id, Stripe's PaymentIntent id.
    pub reference: String,
    /// The money's id, recorded as the payment's `reference`: the charge (`chrg_…`, `ch_…`).
    pub charge_id: String,
    pub status: ChargeStatus,
    pub amount: i64,
    pub currency: String,
    /// `metadata.invoice_id`, set by Satang when it created the charge.
    pub invoice_id: Option<Uuid>,
    /// `promptpay` or `card`.
    pub method: &'static str,
    pub qr_svg: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub failure: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeStatus {
    Pending,
    Succeeded,
    Failed,
    Expired,
}

impl ChargeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Pending => "pending",
            ChargeStatus::Succeeded => "succeeded",
            ChargeStatus::Failed => "failed",
            ChargeStatus::Expired => "expired",
        }
    }
}

/// A card kept at a provider: what later charges name, and what the console shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCard {
    pub token: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: i32,
}

fn metadata_invoice(metadata: &serde_json::Value) -> Option<Uuid> {
    metadata
        .get("invoice_id")
        .and_then(|v| v.as_str())
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// The payload as an SVG QR code (black on white, quiet zone, error correction M).
pub fn qr_svg(payload: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

// ---------------------------------------------------------------------------------------------
// Keys

const KEYS: &str = "payment_providers";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StoredKeyring {
    #[serde(default)]
    opn: Option<StoredKeys>,
    #[serde(default)]
    stripe: Option<StoredKeys>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKeys {
    public_key: String,
    secret_sealed: String,
    secret_last4: String,
    #[serde(default)]
    webhook_sealed: Option<String>,
    #[serde(default)]
    webhook_last4: Option<String>,
}

/// One provider's keys, unsealed for a request.
#[derive(Clone)]
pub struct ProviderKeys {
    pub public_key: String,
    pub secret_key: String,
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for ProviderKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderKeys")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

/// The configured providers' keys.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    pub opn: Option<ProviderKeys>,
    pub stripe: Option<ProviderKeys>,
}

impl Keyring {
    pub async fn load(db: &Db, secrets: &SecretBox) -> Result<Keyring> {
        Ok(Keyring::open(&stored(kv::get(db, KEYS).await?), secrets))
    }

    pub fn get(&self, provider: Provider) -> Option<&ProviderKeys> {
        match provider {
            Provider::Opn => self.opn.as_ref(),
            Provider::Stripe => self.stripe.as_ref(),
        }
    }

    /// The configured providers, Opn first.
    pub fn configured(&self) -> Vec<Provider> {
        Provider::ALL
            .into_iter()
            .filter(|p| self.get(*p).is_some())
            .collect()
    }

    fn open(stored: &StoredKeyring, secrets: &SecretBox) -> Keyring {
        let unseal = |text: &str| {
            let sealed = STANDARD.decode(text).ok()?;
            String::from_utf8(secrets.open(&sealed).ok()?).ok()
        };
        let keys = |s: &Option<StoredKeys>| {
            let s = s.as_ref()?;
            Some(ProviderKeys {
                public_key: s.public_key.clone(),
                secret_key: unseal(&s.secret_sealed)?,
                webhook_secret: s.webhook_sealed.as_deref().and_then(unseal),
            })
        };
        Keyring {
            opn: keys(&stored.opn),
            stripe: keys(&stored.stripe),
        }
    }
}

fn stored(text: Option<String>) -> StoredKeyring {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// What settings show of the providers: never a secret, only its last four characters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct ProvidersView {
    pub opn: ProviderKeysView,
    pub stripe: ProviderKeysView,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct ProviderKeysView {
    pub configured: bool,
    /// Opn's `pkey_…` or Stripe's `pk_…`: public by design (the browser script needs it).
    pub public_key: Option<String>,
    pub secret_key_last4: Option<String>,
    pub webhook_secret_last4: Option<String>,
}

impl ProvidersView {
    pub async fn load(db: &Db) -> Result<ProvidersView> {
        Ok(view(&stored(kv::get(db, KEYS).await?)))
    }
}

fn view(s: &StoredKeyring) -> ProvidersView {
    let one = |k: &Option<StoredKeys>| match k {
        Some(k) => ProviderKeysView {
            configured: true,
            public_key: Some(k.public_key.clone()),
            secret_key_last4: Some(k.secret_last4.clone()),
            webhook_secret_last4: k.webhook_last4.clone(),
        },
        None => ProviderKeysView::default(),
    };
    ProvidersView {
        opn: one(&s.opn),
        stripe: one(&s.stripe),
    }
}

/// New keys for one provider.
#[derive(Debug, Clone)]
pub struct KeysInput {
    pub public_key: String,
    pub secret_key: String,
    pub webhook_secret: Option<String>,
}

/// A change of the providers' keys: `Some(None)` removes a provider.
#[derive(Debug, Clone, Default)]
pub struct KeysChange {
    pub opn: Option<Option<KeysInput>>,
    pub stripe: Option<Option<KeysInput>>,
}

fn last4(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

fn check_keys(provider: Provider, k: &KeysInput, refused: &mut Vec<crate::FieldError>) {
    let (public, secret) = match provider {
        Provider::Opn => (("public_key", "pkey_"), ("secret_key", "skey_")),
        Provider::Stripe => (("publishable_key", "pk_"), ("secret_key", "sk_")),
    };
    let mut check = |field: &str, value: &str, prefix: &str| {
        let ok = value.starts_with(prefix)
            && value.len() >= prefix.len() + 4
            && value.len() <= 255
            && value.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            refused.push(crate::FieldError {
                field: format!("providers.{}.{field}", provider.as_str()),
                message: format!("must be the provider's key, starting with {prefix}"),
            });
        }
    };
    check(public.0, &k.public_key, public.1);
    check(secret.0, &k.secret_key, secret.1);
    if let Some(w) = &k.webhook_secret {
        check("webhook_secret", w, "whsec_");
    }
}

/// Replaces the providers' keys named in `change` (admins; audited with last-4s only).
pub async fn update_keys(
    tx: &mut Tx,
    actor: &Actor,
    secrets: &SecretBox,
    change: KeysChange,
    now: DateTime<Utc>,
) -> Result<ProvidersView> {
    let mut refused = Vec::new();
    for (provider, input) in [
        (Provider::Opn, &change.opn),
        (Provider::Stripe, &change.stripe),
    ] {
        if let Some(Some(k)) = input {
            check_keys(provider, k, &mut refused);
        }
    }
    if !refused.is_empty() {
        return Err(Error::InvalidFields(refused));
    }
    let before = stored(kv::get_in(tx, KEYS).await?);
    let mut after = before.clone();
    let seal = |k: KeysInput| StoredKeys {
        public_key: k.public_key,
        secret_sealed: STANDARD.encode(secrets.seal(k.secret_key.as_bytes())),
        secret_last4: last4(&k.secret_key),
        webhook_last4: k.webhook_secret.as_deref().map(last4),
        webhook_sealed: k
            .webhook_secret
            .map(|w| STANDARD.encode(secrets.seal(w.as_bytes()))),
    };
    if let Some(opn) = change.opn {
        after.opn = opn.map(seal);
    }
    if let Some(stripe) = change.stripe {
        after.stripe = stripe.map(seal);
    }
    let text = serde_json::to_string(&after).map_err(|e| Error::Internal(e.to_string()))?;
    kv::set_in(tx, KEYS, &text).await?;
    let (before, after) = (view(&before), view(&after));
    audit::record(
        tx,
        actor,
        Change {
            action: "settings.providers_changed",
            entity_type: "settings",
            entity_id: KEYS.into(),
            before: Some(json!(before)),
            after: Some(json!(after)),
        },
        now,
    )
    .await?;
    Ok(after)
}

// ---------------------------------------------------------------------------------------------
// Paying an invoice at a provider

/// How a payer pays an invoice at a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayWith {
    /// A QR to scan; the money arrives later, by webhook.
    PromptPay,
    /// The one-time token the provider's browser script made of a card (Omise.js's `tokn_…`,
    /// Stripe.js's `pm_…`), charged at once.
    Card(String),
}

impl PayWith {
    fn method(&self) -> &'static str {
        match self {
            PayWith::PromptPay => "promptpay",
            PayWith::Card(_) => "card",
        }
    }
}

/// Starts a payment of what `invoice_id` still owes: a PromptPay QR (a pending intent of the
/// same amount is handed out again), or a card charged at once, its payment recorded before
/// this returns (a decline is [`Error::Declined`], the failed intent kept).
#[allow(clippy::too_many_arguments)]
pub async fn start_payment(
    db: &Db,
    providers: &Providers,
    keys: &Keyring,
    actor: &Actor,
    invoice_id: Uuid,
    provider: Provider,
    with: PayWith,
    now: DateTime<Utc>,
) -> Result<PaymentIntent> {
    let secret = keys
        .get(provider)
        .map(|k| k.secret_key.clone())
        .ok_or_else(|| Error::Invalid {
            field: "provider",
            message: format!("{} is not configured in Settings", provider.as_str()),
        })?;
    if let PayWith::Card(token) = &with
        && (token.is_empty()
            || token.len() > 255
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(Error::Invalid {
            field: "token",
            message: "a card token from the provider's script is required".into(),
        });
    }
    let (inv, attempt, email) = {
        let mut tx = db.begin().await?;
        let inv = invoices::lock(&mut tx, invoice_id, Scope::All)
            .await?
            .ok_or(Error::NotFound)?;
        if !inv.status.accepts_payment() || inv.amount_due <= 0 {
            return Err(Error::InvalidState(format!(
                "only an open invoice with money due can be paid; this one is {}",
                inv.status
            )));
        }
        if with == PayWith::PromptPay && inv.currency != Currency::Thb {
            return Err(Error::Invalid {
                field: "method",
                message: "PromptPay takes Thai baht only".into(),
            });
        }
        let intents = store::intents_of(&mut tx, inv.id).await?;
        let reusable = intents.iter().find(|i| {
            with == PayWith::PromptPay
                && i.provider == provider.as_str()
                && i.method == "promptpay"
                && i.status == "pending"
                && i.amount == inv.amount_due
                && i.expires_at
                    .is_none_or(|e| e > now + chrono::Duration::minutes(1))
        });
        if let Some(i) = reusable {
            return Ok(i.clone());
        }
        let customer = customers::get_in(&mut tx, inv.customer_id).await?;
        let email = customer
            .and_then(|c| c.billing_email.or(c.email))
            .unwrap_or_default();
        tx.commit().await?;
        (inv, intents.len() + 1, email)
    };
    // The provider is called outside any transaction; the key makes a retried start (after a
    // timeout) the same charge at the provider. A card token is single-use, so it is the key.
    let key = match &with {
        PayWith::PromptPay => format!("{}-promptpay-{}-{attempt}", inv.id, inv.amount_due),
        PayWith::Card(token) => format!("{}-card-{token}", inv.id),
    };
    let description = format!("Invoice {}", inv.number.as_deref().unwrap_or("(draft)"));
    let http = providers.http(provider);
    let (amount, code) = (inv.amount_due, inv.currency.code());
    let card = CardCharge {
        amount,
        currency: code,
        invoice_id: inv.id,
        description: Some(&description),
        idempotency_key: &key,
    };
    let charge = match (provider, &with) {
        (Provider::Opn, PayWith::PromptPay) => {
            opn::create_promptpay(http, &secret, amount, code, inv.id, &description, &key).await
        }
        (Provider::Opn, PayWith::Card(token)) => {
            opn::charge_card(http, &secret, opn::Payer::Token(token), &card).await
        }
        (Provider::Stripe, PayWith::PromptPay) => {
            let email = if email.is_empty() {
                "billing@example.invalid".to_owned()
            } else {
                email
            };
            stripe::create_promptpay(
                http,
                &secret,
                amount,
                code,
                inv.id,
                &description,
                &email,
                &key,
            )
            .await
        }
        (Provider::Stripe, PayWith::Card(method)) => {
            stripe::charge_card(http, &secret, stripe::Payer::Method(method), &card).await
        }
    };
    let charge = match (charge, &with) {
        (Ok(charge), _) => charge,
        // A token the provider does not take (used, expired, not a card) is the payer's input.
        (
            Err(ProviderError::Refused {
                status, message, ..
            }),
            PayWith::Card(_),
        ) if status == 400 || status == 404 || status == 422 => {
            return Err(Error::Invalid {
                field: "token",
                message,
            });
        }
        (
            Err(ProviderError::Refused {
                status: 402,
                message,
                ..
            }),
            PayWith::Card(_),
        ) => {
            return Err(Error::Declined(message));
        }
        (Err(e), _) => return Err(e.into()),
    };
    let mut tx = db.begin().await?;
    if let Some(existing) =
        store::intent_by_ref(&mut tx, provider.as_str(), &charge.reference).await?
    {
        // The same idempotency key answered again (a retried start): the intent exists, and a
        // card's retry answers what the first try did.
        return match (&with, charge.status) {
            (PayWith::Card(_), ChargeStatus::Failed | ChargeStatus::Expired) => {
                Err(declined(charge.failure))
            }
            _ => Ok(existing),
        };
    }
    let card = matches!(with, PayWith::Card(_));
    let intent = store::insert_intent(
        &mut tx,
        NewPaymentIntent {
            invoice_id: inv.id,
            customer_id: inv.customer_id,
            provider: provider.as_str().into(),
            method: with.method().into(),
            provider_ref: charge.reference.clone(),
            // A card's outcome is applied below like any provider answer, from pending.
            status: if card {
                "pending"
            } else {
                charge.status.as_str()
            }
            .into(),
            amount: charge.amount,
            currency: charge.currency.clone(),
            qr_svg: charge.qr_svg.clone(),
            expires_at: charge.expires_at,
        },
        now,
    )
    .await?;
    let payload = json!({"payment_intent_id": intent.id, "invoice_id": inv.id,
                         "provider": intent.provider, "provider_ref": intent.provider_ref,
                         "method": intent.method, "amount": intent.amount,
                         "expires_at": intent.expires_at});
    let ids = (inv.id, inv.customer_id);
    announce(&mut tx, actor, "payment_intent.created", ids, payload, now).await?;
    if !card {
        tx.commit().await?;
        return Ok(intent);
    }
    apply_charge(&mut tx, actor, provider, &charge, now).await?;
    let intent = store::intent_by_ref(&mut tx, provider.as_str(), &charge.reference)
        .await?
        .unwrap_or(intent);
    tx.commit().await?;
    match charge.status {
        ChargeStatus::Failed | ChargeStatus::Expired => Err(declined(charge.failure)),
        _ => Ok(intent),
    }
}

fn declined(reason: Option<String>) -> Error {
    Error::Declined(reason.unwrap_or_else(|| "the card was declined".into()))
}

/// A provider-driven change as an event (webhooks, e-mail) and an audit entry.
async fn announce(
    tx: &mut Tx,
    actor: &Actor,
    action: &'static str,
    (invoice_id, customer_id): (Uuid, Uuid),
    payload: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    satang_store::outbox::emit(
        tx,
        satang_store::outbox::NewEvent {
            event_type: action,
            entity_type: "invoice",
            entity_id: invoice_id.to_string(),
            customer_id: Some(customer_id),
            payload: payload.clone(),
        },
        now,
    )
    .await?;
    audit::record(
        tx,
        actor,
        Change {
            action,
            entity_type: "invoice",
            entity_id: invoice_id.to_string(),
            before: None,
            after: Some(payload),
        },
        now,
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Money arriving

/// What applying a provider charge did.
#[derive(Debug, Clone)]
pub enum Applied {
    /// A payment was recorded (on the invoice, or to the credit balance if it was settled).
    Recorded(Box<Payment>),
    /// This charge was recorded before: nothing changed.
    AlreadyApplied,
    /// The intent was marked failed or expired.
    Closed,
    /// Nothing to do (still pending, or a charge Satang does not know).
    Ignored,
}

/// Applies a provider's charge in `tx`: records its payment once, or closes its intent.
pub async fn apply_charge(
    tx: &mut Tx,
    actor: &Actor,
    provider: Provider,
    charge: &ProviderCharge,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let intent = store::intent_by_ref(tx, provider.as_str(), &charge.reference).await?;
    let invoice_id = charge.invoice_id.or(intent.as_ref().map(|i| i.invoice_id));
    match charge.status {
        ChargeStatus::Pending => Ok(Applied::Ignored),
        ChargeStatus::Failed | ChargeStatus::Expired => {
            let Some(intent) = intent else {
                return Ok(Applied::Ignored);
            };
            let closed =
                store::settle_intent(tx, intent.id, charge.status.as_str(), None, now).await?;
            if closed.is_some() {
                let payload = json!({"payment_intent_id": intent.id,
                                     "invoice_id": intent.invoice_id,
                                     "provider": intent.provider,
                                     "status": charge.status.as_str(),
                                     "reason": charge.failure});
                let ids = (intent.invoice_id, intent.customer_id);
                announce(tx, actor, "payment_intent.closed", ids, payload, now).await?;
            }
            Ok(Applied::Closed)
        }
        ChargeStatus::Succeeded => {
            let Some(invoice_id) = invoice_id else {
                return Ok(Applied::Ignored);
            };
            // The invoice's lock first, as automatic collection holds it while it charges:
            // a webhook racing a collection waits here, then finds the charge claimed.
            let Some(inv) = invoices::lock(tx, invoice_id, Scope::All).await? else {
                return Ok(Applied::Ignored);
            };
            if !store::claim_charge(tx, provider.as_str(), &charge.charge_id, invoice_id, now)
                .await?
            {
                return Ok(Applied::AlreadyApplied);
            }
            if inv.currency.code() != charge.currency {
                return Err(Error::Invalid {
                    field: "currency",
                    message: format!(
                        "the charge is in {}, the invoice in {}",
                        charge.currency,
                        inv.currency.code()
                    ),
                });
            }
            let payment = record_charge(tx, actor, &inv, provider, charge, now).await?;
            store::set_charge_payment(tx, provider.as_str(), &charge.charge_id, payment.id).await?;
            if let Some(intent) = intent {
                store::settle_intent(tx, intent.id, "succeeded", Some(payment.id), now).await?;
            }
            Ok(Applied::Recorded(Box::new(payment)))
        }
    }
}

async fn record_charge(
    tx: &mut Tx,
    actor: &Actor,
    inv: &Invoice,
    provider: Provider,
    charge: &ProviderCharge,
    now: DateTime<Utc>,
) -> Result<Payment> {
    let input = PaymentInput {
        amount: charge.amount,
        method: charge.method.into(),
        reference: Some(charge.charge_id.clone()),
        paid_at: now,
        withholding: None,
    };
    if inv.status.accepts_payment() {
        let settings = BillingSettings::load_in(tx).await?;
        let (_, payment) = record_payment(tx, actor, inv, input, &settings, now).await?;
        Ok(payment)
    } else {
        tracing::info!(invoice = %inv.id, provider = provider.as_str(),
            "money for an invoice that is not open goes to the credit balance");
        record_to_balance(tx, actor, inv, input, now).await
    }
}

/// What a webhook delivery did, for the answer and the logs.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookOutcome {
    pub event_id: String,
    /// `recorded`, `already_applied`, `closed`, `ignored` or `replayed`.
    pub result: &'static str,
    pub payment_id: Option<Uuid>,
}

fn outcome(event_id: String, applied: Applied) -> WebhookOutcome {
    let (result, payment_id) = match applied {
        Applied::Recorded(p) => ("recorded", Some(p.id)),
        Applied::AlreadyApplied => ("already_applied", None),
        Applied::Closed => ("closed", None),
        Applied::Ignored => ("ignored", None),
    };
    WebhookOutcome {
        event_id,
        result,
        payment_id,
    }
}

fn bad_event(message: impl Into<String>) -> Error {
    Error::Rejected(message.into())
}

/// An Opn webhook delivery: the charge it names is fetched back from Opn and acted on.
pub async fn opn_webhook(
    applier: &Applier,
    providers: &Providers,
    keys: &Keyring,
    actor: &Actor,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<WebhookOutcome> {
    let event: opn::Event =
        serde_json::from_slice(body).map_err(|e| bad_event(format!("not an Opn event: {e}")))?;
    let secret = &keys
        .get(Provider::Opn)
        .ok_or_else(|| bad_event("Opn is not configured in Settings"))?
        .secret_key;
    if event.data.object != "charge" {
        return Ok(outcome(event.id, Applied::Ignored));
    }
    let charge = match opn::get_charge(&providers.opn, secret, &event.data.id).await {
        Ok(charge) => charge,
        Err(
            ProviderError::Refused { status: 404, .. } | ProviderError::Refused { status: 400, .. },
        ) => {
            return Err(bad_event("Opn knows no such charge"));
        }
        Err(e) => return Err(e.into()),
    };
    let delivery = Delivery {
        provider: Provider::Opn,
        event_id: event.id,
        event_type: event.key,
        charge,
        actor: actor.clone(),
        now,
    };
    applier.apply(delivery).await
}

/// A Stripe webhook delivery, trusted once its signature verifies.
pub async fn stripe_webhook(
    applier: &Applier,
    keys: &Keyring,
    actor: &Actor,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<WebhookOutcome> {
    let secret = keys
        .get(Provider::Stripe)
        .and_then(|k| k.webhook_secret.as_deref())
        .ok_or_else(|| bad_event("no Stripe webhook secret is configured in Settings"))?;
    let signature = signature.ok_or_else(|| bad_event("the Stripe-Signature header is missing"))?;
    stripe::verify_signature(signature, body, secret, now).map_err(bad_event)?;
    let event: stripe::Event =
        serde_json::from_slice(body).map_err(|e| bad_event(format!("not a Stripe event: {e}")))?;
    if !event.kind.starts_with("payment_intent.")
        || event.data.object.get("object").and_then(|o| o.as_str()) != Some("payment_intent")
    {
        return Ok(outcome(event.id, Applied::Ignored));
    }
    let intent: stripe::PaymentIntent = serde_json::from_value(event.data.object)
        .map_err(|e| bad_event(format!("not a PaymentIntent: {e}")))?;
    let delivery = Delivery {
        provider: Provider::Stripe,
        event_id: event.id,
        event_type: event.kind,
        charge: intent.into_provider_charge(),
        actor: actor.clone(),
        now,
    };
    applier.apply(delivery).await
}

/// The intent as the provider has it now, applied (the pay page's poll, a staff refresh).
pub async fn refresh_intent(
    db: &Db,
    providers: &Providers,
    keys: &Keyring,
    actor: &Actor,
    intent: &PaymentIntent,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(provider) = Provider::parse(&intent.provider) else {
        return Ok(());
    };
    let Some(secret) = keys.get(provider).map(|k| k.secret_key.as_str()) else {
        return Ok(());
    };
    let http = providers.http(provider);
    let charge = match provider {
        Provider::Opn => opn::get_charge(http, secret, &intent.provider_ref).await?,
        Provider::Stripe => stripe::get_intent(http, secret, &intent.provider_ref).await?,
    };
    let mut tx = db.begin().await?;
    apply_charge(&mut tx, actor, provider, &charge, now).await?;
    tx.commit().await?;
    Ok(())
}
