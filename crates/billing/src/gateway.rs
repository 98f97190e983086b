//! Payment gateways behind one trait. The engine only tokenises cards and charges tokens; a real
//! gateway (Omise, Stripe, 2C2P) implements [`PaymentGateway`] without touching the engine.
//! The built-in `sandbox` makes automatic collection testable: `4242424242424242` succeeds,
//! `4000000000000002` is declined, like the test cards of the big gateways.

use std::future::Future;
use std::pin::Pin;

use chrono::{Datelike, NaiveDate};

use satang_domain::Currency;

/// A card as typed by the customer; it goes to the gateway and is never stored.
pub struct CardDetails<'a> {
    pub number: &'a str,
    pub exp_month: u32,
    pub exp_year: i32,
}

/// What Satang keeps of a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokenized {
    pub token: String,
    pub brand: String,
    pub last4: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded {
        reference: String,
    },
    Declined {
        reason: String,
    },
    /// No answer to act on (timeout, 5xx, a refused key): not the customer's decline. The
    /// next pass tries again with the same idempotency key, so a charge that did go through
    /// is answered again instead of made twice.
    Unavailable {
        reason: String,
    },
}

/// One charge of a stored card.
#[derive(Debug, Clone, Copy)]
pub struct ChargeRequest<'a> {
    pub token: &'a str,
    pub amount: i64,
    pub currency: Currency,
    pub invoice_id: uuid::Uuid,
    /// The same for every try of one collection attempt of one invoice.
    pub idempotency_key: &'a str,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CardError {
    #[error("is not a valid card number")]
    Number,
    #[error("has expired")]
    Expired,
    /// A provider is configured: card numbers are tokenised in the browser, never sent here.
    #[error("is never sent to Satang with a payment provider; the provider's script tokenises it")]
    ProviderOnly,
}

pub type ChargeFuture<'a> = Pin<Box<dyn Future<Output = ChargeOutcome> + Send + 'a>>;

pub trait PaymentGateway: Send + Sync {
    /// The name stored with each payment method (`sandbox`, `omise`, …).
    fn name(&self) -> &'static str;
    /// Exchanges card details for a token at the gateway.
    fn tokenize(&self, card: &CardDetails<'_>, today: NaiveDate) -> Result<Tokenized, CardError>;
    /// Charges a stored card; the request's idempotency key makes a retry charge once.
    fn charge<'a>(&'a self, request: ChargeRequest<'a>) -> ChargeFuture<'a>;
}

/// The test gateway: deterministic, offline.
pub struct SandboxGateway;

const DECLINING_CARD: &str = "4000000000000002";

fn luhn_valid(number: &str) -> bool {
    let digits: Vec<u32> = number.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 12 || digits.len() > 19 || digits.len() != number.len() {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn brand_of(number: &str) -> &'static str {
    match number.as_bytes() {
        [b'4', ..] => "visa",
        [b'5', b'1'..=b'5', ..] => "mastercard",
        [b'3', b'4' | b'7', ..] => "amex",
        [b'3', b'5', ..] => "jcb",
        _ => "card",
    }
}

impl PaymentGateway for SandboxGateway {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn tokenize(&self, card: &CardDetails<'_>, today: NaiveDate) -> Result<Tokenized, CardError> {
        let number: String = card
            .number
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if !luhn_valid(&number) {
            return Err(CardError::Number);
        }
        let valid_until = (card.exp_year, card.exp_month);
        if !(1..=12).contains(&card.exp_month) || valid_until < (today.year(), today.month()) {
            return Err(CardError::Expired);
        }
        let outcome = if number == DECLINING_CARD {
            "decline"
        } else {
            "ok"
        };
        Ok(Tokenized {
            token: format!("tok_sandbox_{outcome}_{}", uuid::Uuid::new_v4().simple()),
            brand: brand_of(&number).into(),
            last4: number[number.len() - 4..].into(),
        })
    }

    fn charge<'a>(&'a self, request: ChargeRequest<'a>) -> ChargeFuture<'a> {
        Box::pin(async move {
            if request.token.starts_with("tok_sandbox_ok_") {
                ChargeOutcome::Succeeded {
                    reference: format!("ch_sandbox_{}", request.idempotency_key),
                }
            } else {
                ChargeOutcome::Declined {
                    reason: "card_declined".into(),
                }
            }
        })
    }
}

/// The gateways a collection pass may charge through: the built-in one and the configured
/// providers; a stored card names its own.
pub struct Gateways<'a> {
    pub builtin: &'a dyn PaymentGateway,
    pub providers: Vec<ProviderGateway>,
}

impl Gateways<'_> {
    pub fn named(&self, name: &str) -> Option<&dyn PaymentGateway> {
        if self.builtin.name() == name {
            return Some(self.builtin);
        }
        self.providers
            .iter()
            .find(|p| p.name() == name)
            .map(|p| p as &dyn PaymentGateway)
    }
}

/// A configured provider as a gateway for automatic collection: the stored token is the
/// provider's customer (Opn `cust_…`, Stripe `cus_…:pm_…`).
pub struct ProviderGateway {
    pub provider: crate::providers::Provider,
    pub http: crate::providers::Http,
    pub secret_key: String,
}

impl PaymentGateway for ProviderGateway {
    fn name(&self) -> &'static str {
        self.provider.as_str()
    }

    fn tokenize(&self, _card: &CardDetails<'_>, _today: NaiveDate) -> Result<Tokenized, CardError> {
        Err(CardError::ProviderOnly)
    }

    fn charge<'a>(&'a self, r: ChargeRequest<'a>) -> ChargeFuture<'a> {
        use crate::providers::{ChargeStatus, Provider, ProviderError, opn, stripe};
        Box::pin(async move {
            let (http, secret, code) = (&self.http, self.secret_key.as_str(), r.currency.code());
            let charge = crate::providers::CardCharge {
                amount: r.amount,
                currency: code,
                invoice_id: r.invoice_id,
                description: None,
                idempotency_key: r.idempotency_key,
            };
            let answer = match self.provider {
                Provider::Opn => {
                    opn::charge_card(http, secret, opn::Payer::Customer(r.token), &charge).await
                }
                Provider::Stripe => {
                    stripe::charge_card(http, secret, stripe::Payer::Saved(r.token), &charge).await
                }
            };
            match answer {
                Ok(c) if c.status == ChargeStatus::Succeeded => ChargeOutcome::Succeeded {
                    reference: c.charge_id,
                },
                Ok(c) if c.status == ChargeStatus::Pending => ChargeOutcome::Unavailable {
                    reason: "the charge is still pending at the provider".into(),
                },
                Ok(c) => ChargeOutcome::Declined {
                    reason: c.failure.unwrap_or_else(|| "declined".into()),
                },
                Err(ProviderError::Refused {
                    status: 402,
                    code,
                    message,
                }) => ChargeOutcome::Declined {
                    reason: format!("{code}: {message}"),
                },
                Err(e) => ChargeOutcome::Unavailable {
                    reason: e.to_string(),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(token: &str) -> ChargeRequest<'_> {
        ChargeRequest {
            token,
            amount: 100,
            currency: Currency::Thb,
            invoice_id: uuid::Uuid::nil(),
            idempotency_key: "k",
        }
    }

    fn card(number: &str) -> CardDetails<'_> {
        CardDetails {
            number,
            exp_month: 12,
            exp_year: 2031,
        }
    }

    #[tokio::test]
    async fn test_cards_behave_like_the_big_gateways() {
        let today = NaiveDate::from_ymd_opt(2030, 1, 1).unwrap();
        let ok = SandboxGateway
            .tokenize(&card("4242 4242 4242 4242"), today)
            .unwrap();
        assert_eq!((ok.brand.as_str(), ok.last4.as_str()), ("visa", "4242"));
        assert!(!ok.token.contains("4242424242424242"));
        assert!(matches!(
            SandboxGateway.charge(request(&ok.token)).await,
            ChargeOutcome::Succeeded { .. }
        ));
        let bad = SandboxGateway
            .tokenize(&card("4000000000000002"), today)
            .unwrap();
        assert!(matches!(
            SandboxGateway.charge(request(&bad.token)).await,
            ChargeOutcome::Declined { .. }
        ));
        assert_eq!(
            SandboxGateway.tokenize(&card("4242424242424241"), today),
            Err(CardError::Number)
        );
        let expired = CardDetails {
            number: "4242424242424242",
            exp_month: 12,
            exp_year: 2029,
        };
        assert_eq!(
            SandboxGateway.tokenize(&expired, today),
            Err(CardError::Expired)
        );
    }
}
