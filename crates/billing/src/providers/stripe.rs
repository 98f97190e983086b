//! Stripe, as its API reference and OpenAPI description give it: form-encoded requests to
//! `/v1/...` with the secret key as a Bearer token, JSON answers, errors as `{error: {type,
//! code, decline_code, message}}`. PromptPay is a PaymentIntent confirmed with
//! `payment_method_data[type]=promptpay`; its QR payload is
//! `next_action.promptpay_display_qr_code.data`. Webhooks carry `Stripe-Signature: t=…,v1=…`,
//! the HMAC-SHA256 of `{t}.{body}` under the endpoint's signing secret.

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use uuid::Uuid;

use super::{ChargeStatus, Http, ProviderCharge, ProviderError, SavedCard};

/// The API version every request names (`Stripe-Version`), so an account's default version
/// moving on never changes what a request means: the parameters used here are those of this
/// version's OpenAPI description (as stripe-python 10.1 encodes them).
pub const API_VERSION: &str = "2024-06-20";

/// How far a signed event's timestamp may be from now (Stripe's libraries use five minutes).
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub latest_charge: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    #[serde(default)]
    pub next_action: Option<NextAction>,
    #[serde(default)]
    pub payment_method_types: Vec<String>,
    #[serde(default)]
    pub last_payment_error: Option<ErrorDetail>,
}

#[derive(Debug, Deserialize)]
pub struct NextAction {
    #[serde(default)]
    pub promptpay_display_qr_code: Option<PromptPayQr>,
}

#[derive(Debug, Deserialize)]
pub struct PromptPayQr {
    pub data: String,
    #[serde(default)]
    pub expires_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<Box<PaymentIntent>>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

impl PaymentIntent {
    pub fn into_provider_charge(self) -> ProviderCharge {
        let status = match self.status.as_str() {
            "succeeded" => ChargeStatus::Succeeded,
            "canceled" => ChargeStatus::Failed,
            // A PromptPay intent whose QR expired or was refused goes back to waiting for a
            // payment method, with the reason in `last_payment_error`.
            "requires_payment_method" if self.last_payment_error.is_some() => ChargeStatus::Failed,
            _ => ChargeStatus::Pending,
        };
        let method = if self.payment_method_types.iter().any(|t| t == "promptpay") {
            "promptpay"
        } else {
            "card"
        };
        let qr = self.next_action.and_then(|a| a.promptpay_display_qr_code);
        ProviderCharge {
            charge_id: self.latest_charge.unwrap_or_else(|| self.id.clone()),
            reference: self.id,
            status,
            amount: self.amount,
            currency: self.currency.to_ascii_uppercase(),
            invoice_id: super::metadata_invoice(&self.metadata),
            method,
            expires_at: qr
                .as_ref()
                .and_then(|q| q.expires_at)
                .and_then(|t| Utc.timestamp_opt(t, 0).single()),
            qr_svg: qr.and_then(|q| super::qr_svg(&q.data)),
            failure: self.last_payment_error.map(|e| describe(&e)),
        }
    }
}

fn describe(e: &ErrorDetail) -> String {
    let code = e
        .decline_code
        .clone()
        .or_else(|| e.code.clone())
        .unwrap_or_else(|| "error".into());
    match &e.message {
        Some(m) => format!("{code}: {m}"),
        None => code,
    }
}

async fn send(
    http: &Http,
    secret: &str,
    request: reqwest::RequestBuilder,
) -> Result<PaymentIntentOr, ProviderError> {
    let request = request
        .bearer_auth(secret)
        .header("Stripe-Version", API_VERSION);
    let (status, body) = http.send(request).await?;
    if (200..300).contains(&status) {
        return Ok(PaymentIntentOr::Body(body));
    }
    let detail = serde_json::from_slice::<ErrorBody>(&body).map(|b| b.error);
    match detail {
        // A declined card: the intent comes back inside the error.
        Ok(e) if status == 402 => Ok(PaymentIntentOr::Declined(e)),
        Ok(e) => Err(ProviderError::Refused {
            status,
            code: e.code.clone().unwrap_or_else(|| "error".into()),
            message: e.message.clone().unwrap_or_default(),
        }),
        Err(_) => Err(ProviderError::Refused {
            status,
            code: "unknown".into(),
            message: format!("Stripe answered {status}"),
        }),
    }
}

enum PaymentIntentOr {
    Body(Vec<u8>),
    Declined(ErrorDetail),
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body)
        .map_err(|e| ProviderError::Unavailable(format!("Stripe's answer did not parse: {e}")))
}

async fn intent(
    http: &Http,
    secret: &str,
    request: reqwest::RequestBuilder,
) -> Result<ProviderCharge, ProviderError> {
    match send(http, secret, request).await? {
        PaymentIntentOr::Body(body) => Ok(parse::<PaymentIntent>(&body)?.into_provider_charge()),
        PaymentIntentOr::Declined(e) => {
            let reason = describe(&e);
            match e.payment_intent {
                Some(pi) => {
                    let mut charge = pi.into_provider_charge();
                    charge.status = ChargeStatus::Failed;
                    charge.failure = Some(reason);
                    Ok(charge)
                }
                None => Err(ProviderError::Refused {
                    status: 402,
                    code: "card_declined".into(),
                    message: reason,
                }),
            }
        }
    }
}

/// A PaymentIntent for `amount`, confirmed with PromptPay: its QR comes back at once.
#[allow(clippy::too_many_arguments)]
pub async fn create_promptpay(
    http: &Http,
    secret: &str,
    amount: i64,
    currency: &str,
    invoice_id: Uuid,
    description: &str,
    email: &str,
    idempotency_key: &str,
) -> Result<ProviderCharge, ProviderError> {
    let form = [
        ("amount", amount.to_string()),
        ("currency", currency.to_ascii_lowercase()),
        ("payment_method_types[]", "promptpay".to_owned()),
        ("payment_method_data[type]", "promptpay".to_owned()),
        (
            "payment_method_data[billing_details][email]",
            email.to_owned(),
        ),
        ("confirm", "true".to_owned()),
        ("description", description.to_owned()),
        ("metadata[invoice_id]", invoice_id.to_string()),
    ];
    let request = http
        .client()
        .post(format!("{}/v1/payment_intents", http.base))
        .header("Idempotency-Key", idempotency_key)
        .form(&form);
    intent(http, secret, request).await
}

/// The PaymentIntent as Stripe has it now.
pub async fn get_intent(
    http: &Http,
    secret: &str,
    id: &str,
) -> Result<ProviderCharge, ProviderError> {
    let request = http
        .client()
        .get(format!("{}/v1/payment_intents/{id}", http.base));
    intent(http, secret, request).await
}

#[derive(Debug, Deserialize)]
struct Customer {
    id: String,
    invoice_settings: InvoiceSettings,
}

#[derive(Debug, Deserialize)]
struct InvoiceSettings {
    default_payment_method: Option<PaymentMethod>,
}

#[derive(Debug, Deserialize)]
struct PaymentMethod {
    id: String,
    card: CardDetails,
}

#[derive(Debug, Deserialize)]
struct CardDetails {
    brand: String,
    last4: String,
    exp_month: u32,
    exp_year: i32,
}

/// Keeps the PaymentMethod Stripe.js created (`pm_…`) on a new Stripe customer as its default;
/// later charges name `cus_…:pm_…`.
pub async fn save_card(
    http: &Http,
    secret: &str,
    payment_method: &str,
    email: Option<&str>,
    description: &str,
) -> Result<SavedCard, ProviderError> {
    let mut form = vec![
        ("payment_method", payment_method.to_owned()),
        (
            "invoice_settings[default_payment_method]",
            payment_method.to_owned(),
        ),
        (
            "expand[]",
            "invoice_settings.default_payment_method".to_owned(),
        ),
        ("description", description.to_owned()),
    ];
    if let Some(email) = email {
        form.push(("email", email.to_owned()));
    }
    let request = http
        .client()
        .post(format!("{}/v1/customers", http.base))
        .form(&form);
    let body = match send(http, secret, request).await? {
        PaymentIntentOr::Body(body) => body,
        PaymentIntentOr::Declined(e) => {
            return Err(ProviderError::Refused {
                status: 402,
                code: "card_declined".into(),
                message: describe(&e),
            });
        }
    };
    let customer: Customer = parse(&body)?;
    let method = customer
        .invoice_settings
        .default_payment_method
        .ok_or_else(|| ProviderError::Refused {
            status: 400,
            code: "invalid_request_error".into(),
            message: "the customer has no card".into(),
        })?;
    Ok(SavedCard {
        token: format!("{}:{}", customer.id, method.id),
        brand: method.card.brand.to_ascii_lowercase(),
        last4: method.card.last4,
        exp_month: method.card.exp_month,
        exp_year: method.card.exp_year,
    })
}

/// Whose card a PaymentIntent charges.
#[derive(Debug, Clone, Copy)]
pub enum Payer<'a> {
    /// A card kept on a Stripe customer (`cus_…:pm_…`), charged off-session by automatic
    /// collection.
    Saved(&'a str),
    /// The PaymentMethod Stripe.js made of a card typed on the pay page (`pm_…`).
    Method(&'a str),
}

/// Charges a card with a PaymentIntent confirmed at once; a decline comes back as a failed
/// charge.
pub async fn charge_card(
    http: &Http,
    secret: &str,
    payer: Payer<'_>,
    charge: &super::CardCharge<'_>,
) -> Result<ProviderCharge, ProviderError> {
    let mut form = vec![
        ("amount", charge.amount.to_string()),
        ("currency", charge.currency.to_ascii_lowercase()),
    ];
    match payer {
        Payer::Saved(saved) => {
            let (customer, method) = saved.split_once(':').unwrap_or((saved, ""));
            form.push(("customer", customer.to_owned()));
            form.push(("payment_method", method.to_owned()));
            form.push(("off_session", "true".to_owned()));
        }
        Payer::Method(method) => {
            form.push(("payment_method_types[]", "card".to_owned()));
            form.push(("payment_method", method.to_owned()));
        }
    }
    form.push(("confirm", "true".to_owned()));
    if let Some(d) = charge.description {
        form.push(("description", d.to_owned()));
    }
    form.push(("metadata[invoice_id]", charge.invoice_id.to_string()));
    let request = http
        .client()
        .post(format!("{}/v1/payment_intents", http.base))
        .header("Idempotency-Key", charge.idempotency_key)
        .form(&form);
    intent(http, secret, request).await
}

/// A webhook event: `payment_intent.*` events carry the PaymentIntent in `data.object`.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

/// Checks `Stripe-Signature` against the body: some `v1` signature must be the HMAC of
/// `{t}.{body}` and `t` within the tolerance of `now`.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), &'static str> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.extend(hex::decode(s).ok()),
            _ => {}
        }
    }
    let t = timestamp.ok_or("the Stripe-Signature header has no timestamp")?;
    if signatures.is_empty() {
        return Err("the Stripe-Signature header has no v1 signature");
    }
    if (now.timestamp() - t).abs() > SIGNATURE_TOLERANCE_SECS {
        return Err("the Stripe-Signature timestamp is outside the tolerance");
    }
    let valid = signatures.iter().any(|s| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(s).is_ok()
    });
    if valid {
        Ok(())
    } else {
        Err("no Stripe-Signature signature matches the body")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures_are_checked_with_a_five_minute_tolerance() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let body = br#"{"id":"evt_1"}"#;
        let ok = sign("whsec_a", now.timestamp() - 299, body);
        assert!(verify_signature(&ok, body, "whsec_a", now).is_ok());
        assert!(verify_signature(&ok, b"{}", "whsec_a", now).is_err());
        assert!(verify_signature(&ok, body, "whsec_b", now).is_err());
        let old = sign("whsec_a", now.timestamp() - 301, body);
        assert!(verify_signature(&old, body, "whsec_a", now).is_err());
        assert!(verify_signature("t=1", body, "whsec_a", now).is_err());
        assert!(verify_signature("", body, "whsec_a", now).is_err());
        // A second signature (a rolled secret) is accepted if one of them matches.
        let two = format!("{ok},v1=00ff");
        assert!(verify_signature(&two, body, "whsec_a", now).is_ok());
    }
}
