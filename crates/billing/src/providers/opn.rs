//! Opn Payments (formerly Omise), as its API reference describes it: form-encoded requests to
//! `/charges` and `/customers` with the secret key as the Basic-auth user, JSON answers, errors
//! as `{object: "error", code, message}`. A PromptPay charge carries its `promptpay` source
//! inline; the QR is the source's `scannable_code.image`, an SVG document downloaded with the
//! same key. Charge statuses: `pending`, `successful`, `failed`, `expired`, `reversed`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{ChargeStatus, Http, ProviderCharge, ProviderError, SavedCard};

#[derive(Debug, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub failure_code: Option<String>,
    #[serde(default)]
    pub failure_message: Option<String>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    #[serde(default)]
    pub source: Option<Source>,
}

#[derive(Debug, Deserialize)]
pub struct Source {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub scannable_code: Option<ScannableCode>,
}

#[derive(Debug, Deserialize)]
pub struct ScannableCode {
    pub image: Document,
}

#[derive(Debug, Deserialize)]
pub struct Document {
    pub download_uri: String,
}

#[derive(Debug, Deserialize)]
struct Customer {
    id: String,
    cards: CardList,
}

#[derive(Debug, Deserialize)]
struct CardList {
    data: Vec<Card>,
}

#[derive(Debug, Deserialize)]
struct Card {
    brand: String,
    last_digits: String,
    expiration_month: u32,
    expiration_year: i32,
}

impl Charge {
    pub fn into_provider_charge(self, qr_svg: Option<String>) -> ProviderCharge {
        let status = match self.status.as_str() {
            "successful" => ChargeStatus::Succeeded,
            "failed" | "reversed" => ChargeStatus::Failed,
            "expired" => ChargeStatus::Expired,
            _ => ChargeStatus::Pending,
        };
        let method = match self.source.as_ref().map(|s| s.kind.as_str()) {
            Some("promptpay") => "promptpay",
            _ => "card",
        };
        ProviderCharge {
            reference: self.id.clone(),
            charge_id: self.id,
            status,
            amount: self.amount,
            currency: self.currency.to_ascii_uppercase(),
            invoice_id: super::metadata_invoice(&self.metadata),
            method,
            qr_svg,
            expires_at: self.expires_at,
            failure: self.failure_code.map(|code| match self.failure_message {
                Some(m) => format!("{code}: {m}"),
                None => code,
            }),
        }
    }
}

/// Opn's answer to a failed request: `{object: "error", code, message}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

fn refused(status: u16, body: &[u8]) -> ProviderError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => ProviderError::Refused {
            status,
            code: e.code,
            message: e.message,
        },
        Err(_) => ProviderError::Refused {
            status,
            code: "unknown".into(),
            message: format!("Opn answered {status}"),
        },
    }
}

async fn send<T: for<'de> Deserialize<'de>>(
    http: &Http,
    secret: &str,
    request: reqwest::RequestBuilder,
) -> Result<T, ProviderError> {
    let (status, body) = http.send(request.basic_auth(secret, Some(""))).await?;
    if !(200..300).contains(&status) {
        return Err(refused(status, &body));
    }
    serde_json::from_slice(&body)
        .map_err(|e| ProviderError::Unavailable(format!("Opn's answer did not parse: {e}")))
}

/// A PromptPay charge for `amount`, its QR downloaded as SVG.
pub async fn create_promptpay(
    http: &Http,
    secret: &str,
    amount: i64,
    currency: &str,
    invoice_id: Uuid,
    description: &str,
    idempotency_key: &str,
) -> Result<ProviderCharge, ProviderError> {
    let form = [
        ("amount", amount.to_string()),
        ("currency", currency.to_ascii_lowercase()),
        ("source[type]", "promptpay".to_owned()),
        ("description", description.to_owned()),
        ("metadata[invoice_id]", invoice_id.to_string()),
    ];
    let request = http
        .client()
        .post(format!("{}/charges", http.base))
        .header("Idempotency-Key", idempotency_key)
        .form(&form);
    let charge: Charge = send(http, secret, request).await?;
    let uri = charge
        .source
        .as_ref()
        .and_then(|s| s.scannable_code.as_ref())
        .map(|c| c.image.download_uri.clone());
    let qr_svg = match uri {
        Some(uri) => {
            let (status, body) = http
                .send(http.client().get(uri).basic_auth(secret, Some("")))
                .await?;
            if !(200..300).contains(&status) {
                return Err(refused(status, &body));
            }
            Some(String::from_utf8_lossy(&body).into_owned())
        }
        None => None,
    };
    Ok(charge.into_provider_charge(qr_svg))
}

/// The charge as Opn has it now.
pub async fn get_charge(
    http: &Http,
    secret: &str,
    charge_id: &str,
) -> Result<ProviderCharge, ProviderError> {
    if charge_id.is_empty()
        || !charge_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ProviderError::Refused {
            status: 400,
            code: "bad_request".into(),
            message: "not a charge id".into(),
        });
    }
    let request = http
        .client()
        .get(format!("{}/charges/{charge_id}", http.base));
    let charge: Charge = send(http, secret, request).await?;
    Ok(charge.into_provider_charge(None))
}

/// Keeps the card behind Omise.js's one-time `token` as an Opn customer; its id is what later
/// charges name.
pub async fn save_card(
    http: &Http,
    secret: &str,
    token: &str,
    email: Option<&str>,
    description: &str,
) -> Result<SavedCard, ProviderError> {
    let mut form = vec![
        ("card", token.to_owned()),
        ("description", description.to_owned()),
    ];
    if let Some(email) = email {
        form.push(("email", email.to_owned()));
    }
    let request = http
        .client()
        .post(format!("{}/customers", http.base))
        .form(&form);
    let customer: Customer = send(http, secret, request).await?;
    let card = customer
        .cards
        .data
        .into_iter()
        .next()
        .ok_or_else(|| ProviderError::Refused {
            status: 400,
            code: "invalid_card".into(),
            message: "the token holds no card".into(),
        })?;
    Ok(SavedCard {
        token: customer.id,
        brand: card.brand.to_ascii_lowercase(),
        last4: card.last_digits,
        exp_month: card.expiration_month,
        exp_year: card.expiration_year,
    })
}

/// Whose card an Opn charge takes the money from.
#[derive(Debug, Clone, Copy)]
pub enum Payer<'a> {
    /// A customer kept at Opn (`cust_…`): its default card, for automatic collection.
    Customer(&'a str),
    /// Omise.js's one-time token (`tokn_…`) of a card typed on the pay page.
    Token(&'a str),
}

/// Charges a card; the answer is final: `successful`, or `failed` with Opn's reason.
pub async fn charge_card(
    http: &Http,
    secret: &str,
    payer: Payer<'_>,
    charge: &super::CardCharge<'_>,
) -> Result<ProviderCharge, ProviderError> {
    let mut form = vec![
        ("amount", charge.amount.to_string()),
        ("currency", charge.currency.to_ascii_lowercase()),
        ("metadata[invoice_id]", charge.invoice_id.to_string()),
    ];
    match payer {
        Payer::Customer(id) => form.push(("customer", id.to_owned())),
        Payer::Token(token) => form.push(("card", token.to_owned())),
    }
    if let Some(d) = charge.description {
        form.push(("description", d.to_owned()));
    }
    let request = http
        .client()
        .post(format!("{}/charges", http.base))
        .header("Idempotency-Key", charge.idempotency_key)
        .form(&form);
    let answer: Charge = send(http, secret, request).await?;
    Ok(answer.into_provider_charge(None))
}

/// An event as Opn posts it to the webhook: only its id, key and the charge's id are read;
/// the charge itself is fetched back from Opn.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: String,
    pub key: String,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: String,
    pub id: String,
}
