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
    pub is_default: bool,
}

const TYPES: &str = "must be card, promptpay or bank_transfer";

/// Adds the method to `customer_id` with its `payment_method.added` audit entry.
pub async fn add_payment_method(
    db: &Db,
    gateway: &dyn PaymentGateway,
    secrets: &SecretBox,
    actor: &Actor,
    customer_id: Uuid,
    request: MethodRequest<'_>,
    now: DateTime<Utc>,
) -> Result<PaymentMethod> {
    let new = new_method(gateway, secrets, request, now)?;
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
