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
    Succeeded { reference: String },
    Declined { reason: String },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CardError {
    #[error("is not a valid card number")]
    Number,
    #[error("has expired")]
    Expired,
}

pub type ChargeFuture<'a> = Pin<Box<dyn Future<Output = ChargeOutcome> + Send + 'a>>;

pub trait PaymentGateway: Send + Sync {
    /// The name stored with each payment method (`sandbox`, `omise`, …).
    fn name(&self) -> &'static str;
    /// Exchanges card details for a token at the gateway.
    fn tokenize(&self, card: &CardDetails<'_>, today: NaiveDate) -> Result<Tokenized, CardError>;
    /// Charges a token; `idempotency_key` makes a retried request charge once.
    fn charge<'a>(
        &'a self,
        token: &'a str,
        amount: i64,
        currency: Currency,
        idempotency_key: &'a str,
    ) -> ChargeFuture<'a>;
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

    fn charge<'a>(
        &'a self,
        token: &'a str,
        _amount: i64,
        _currency: Currency,
        idempotency_key: &'a str,
    ) -> ChargeFuture<'a> {
        Box::pin(async move {
            if token.starts_with("tok_sandbox_ok_") {
                ChargeOutcome::Succeeded {
                    reference: format!("ch_sandbox_{idempotency_key}"),
                }
            } else {
                ChargeOutcome::Declined {
                    reason: "card_declined".into(),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            SandboxGateway
                .charge(&ok.token, 100, Currency::Thb, "k")
                .await,
            ChargeOutcome::Succeeded { .. }
        ));
        let bad = SandboxGateway
            .tokenize(&card("4000000000000002"), today)
            .unwrap();
        assert!(matches!(
            SandboxGateway
                .charge(&bad.token, 100, Currency::Thb, "k")
                .await,
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
