//! Adding a customer's payment method: a card is tokenised at the gateway (its number is never
//! stored, the token only sealed), PromptPay and bank transfer are recorded as they are.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use satang_auth::crypto::SecretBox;
use satang_domain::bangkok_date;
use satang_store::Db;
use satang_store::audit::{self, Actor, Change};
use satang_store::payment_methods::{self, NewPaymentMethod, PaymentMethod};

use crate::gateway::{CardDetails, PaymentGateway};
use crate::providers::{Keyring, Provider, ProviderError, Providers, opn, stripe};
use crate::{Error, FieldError, Result};

/// A payment method as the caller asked for it.
#[derive(Debug, Clone, Copy)]
pub struct MethodRequest<'a> {
    /// `card`, `promptpay` or `bank_transfer`.
    pub method_type: &'a str,
    /// For cards: the gateway's name (the configured one by default).
    pub gateway: Option<&'a str>,
    pub card_number: Option<&'a str>,
    pub exp_month: Option<u32>,
    pub exp_year: Option<i32>,
    /// For a provider's card: the one-time token its browser script made (Omise.js `tokn_…`,
    /// Stripe.js `pm_…`).
    pub token: Option<&'a str>,
    pub is_default: bool,
}

/// Where cards go: the built-in gateway, or the configured providers.
pub struct CardGateways<'a> {
    pub builtin: &'a dyn PaymentGateway,
    pub providers: &'a Providers,
    pub keys: &'a Keyring,
}

const TYPES: &str = "must be card, promptpay or bank_transfer";

/// Adds the method to `customer_id` with its `payment_method.added` audit entry. With a
/// provider configured, a card arrives as the provider's browser token and is kept at the
/// provider; a card number is refused (it must never reach this server).
pub async fn add_payment_method(
    db: &Db,
    gateways: CardGateways<'_>,
    secrets: &SecretBox,
    actor: &Actor,
    customer_id: Uuid,
    request: MethodRequest<'_>,
    now: DateTime<Utc>,
) -> Result<PaymentMethod> {
    let configured = gateways.keys.configured();
    let provider = match (request.method_type, request.gateway) {
        ("card", Some(name)) => Provider::parse(name),
        ("card", None) => configured.first().copied(),
        _ => None,
    };
    let new = match provider {
        Some(p) => provider_card(db, &gateways, secrets, customer_id, p, request).await?,
        None if !configured.is_empty() && request.card_number.is_some() => {
            return Err(Error::Invalid {
                field: "card_number",
                message: crate::gateway::CardError::ProviderOnly.to_string(),
            });
        }
        None => new_method(gateways.builtin, secrets, request, now)?,
    };
    let mut tx = db.begin().await?;
    let method = payment_methods::insert(&mut tx, customer_id, new, now).await?;
    let change = Change {
        action: "payment_method.added",
        entity_type: "customer",
        entity_id: customer_id.to_string(),
        before: None,
        after: Some(method_json(&method)),
    };
    audit::record(&mut tx, actor, change, now).await?;
    tx.commit().await?;
    Ok(method)
}

/// A card kept at `provider` from its browser token.
async fn provider_card(
    db: &Db,
    gateways: &CardGateways<'_>,
    secrets: &SecretBox,
    customer_id: Uuid,
    provider: Provider,
    request: MethodRequest<'_>,
) -> Result<NewPaymentMethod> {
    let keys = gateways.keys.get(provider).ok_or_else(|| Error::Invalid {
        field: "gateway",
        message: format!("{} is not configured in Settings", provider.as_str()),
    })?;
    if request.card_number.is_some() {
        return Err(Error::Invalid {
            field: "card_number",
            message: crate::gateway::CardError::ProviderOnly.to_string(),
        });
    }
    let token = request
        .token
        .filter(|t| !t.is_empty() && t.len() <= 255 && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| Error::Invalid {
            field: "token",
            message: "a card needs the token the provider's script made".into(),
        })?;
    let customer = satang_store::customers::get(db, satang_store::Scope::All, customer_id)
        .await?
        .ok_or(Error::NotFound)?;
    let email = customer.billing_email.or(customer.email);
    let description = format!("Satang customer {customer_id}");
    let http = gateways.providers.http(provider);
    let saved = match provider {
        Provider::Opn => {
            opn::save_card(
                http,
                &keys.secret_key,
                token,
                email.as_deref(),
                &description,
            )
            .await
        }
        Provider::Stripe => {
            stripe::save_card(
                http,
                &keys.secret_key,
                token,
                email.as_deref(),
                &description,
            )
            .await
        }
    };
    let saved = match saved {
        Ok(saved) => saved,
        Err(ProviderError::Refused {
            status, message, ..
        }) if status < 500 && status != 401 => {
            return Err(Error::Invalid {
                field: "token",
                message,
            });
        }
        Err(e) => return Err(e.into()),
    };
    Ok(NewPaymentMethod {
        method_type: "card".into(),
        gateway: Some(provider.as_str().into()),
        token_sealed: Some(secrets.seal(saved.token.as_bytes())),
        brand: Some(saved.brand),
        last4: Some(saved.last4),
        exp_month: Some(i64::from(saved.exp_month)),
        exp_year: Some(i64::from(saved.exp_year)),
        is_default: request.is_default,
    })
}

/// The row to insert, or every refused field.
fn new_method(
    gateway: &dyn PaymentGateway,
    secrets: &SecretBox,
    request: MethodRequest<'_>,
    now: DateTime<Utc>,
) -> Result<NewPaymentMethod> {
    let mut refused = Vec::new();
    let mut refuse = |field: &str, message: String| {
        refused.push(FieldError {
            field: field.to_owned(),
            message,
        });
    };
    let new = match request.method_type {
        "card" => {
            if request.gateway.unwrap_or("sandbox") != gateway.name() {
                refuse("gateway", format!("must be {}", gateway.name()));
            }
            let (Some(number), Some(exp_month), Some(exp_year)) =
                (request.card_number, request.exp_month, request.exp_year)
            else {
                let message = "a card needs card_number, exp_month and exp_year";
                refuse("card_number", message.into());
                return Err(Error::InvalidFields(refused));
            };
            let card = CardDetails {
                number,
                exp_month,
                exp_year,
            };
            match gateway.tokenize(&card, bangkok_date(now)) {
                Ok(t) => Some(NewPaymentMethod {
                    method_type: "card".into(),
                    gateway: Some(gateway.name().into()),
                    token_sealed: Some(secrets.seal(t.token.as_bytes())),
                    brand: Some(t.brand),
                    last4: Some(t.last4),
                    exp_month: Some(i64::from(exp_month)),
                    exp_year: Some(i64::from(exp_year)),
                    is_default: request.is_default,
                }),
                Err(e) => {
                    refuse("card_number", e.to_string());
                    None
                }
            }
        }
        "promptpay" | "bank_transfer" => {
            if request.card_number.is_some() {
                refuse("card_number", "only cards have a number".into());
            }
            Some(NewPaymentMethod {
                method_type: request.method_type.to_owned(),
                gateway: None,
                token_sealed: None,
                brand: None,
                last4: None,
                exp_month: None,
                exp_year: None,
                is_default: request.is_default,
            })
        }
        _ => {
            refuse("type", TYPES.into());
            None
        }
    };
    match new {
        Some(new) if refused.is_empty() => Ok(new),
        _ if !refused.is_empty() => Err(Error::InvalidFields(refused)),
        _ => Err(Error::Invalid {
            field: "type",
            message: TYPES.into(),
        }),
    }
}

/// A payment method as the API's `PaymentMethodView` serialises it: the audit entry's `after`.
pub fn method_json(m: &PaymentMethod) -> Value {
    json!({
        "id": m.id,
        "customer_id": m.customer_id,
        "type": m.method_type,
        "gateway": m.gateway,
        "brand": m.brand,
        "last4": m.last4,
        "exp_month": m.exp_month,
        "exp_year": m.exp_year,
        "is_default": m.is_default,
        "created_at": m.created_at,
    })
}
