//! An invoice's status and how it is collected: what the `status` and `collection_method`
//! columns of invoices (and subscriptions) and the API's fields of the same names may hold.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Where an invoice is in its life.
///
/// `draft` invoices can still be edited and are not owed; finalising one makes it `open` (or
/// `paid` at once when credit covers it). An `open` invoice becomes `paid`, `void` (cancelled,
/// never owed) or `uncollectible` (written off, still payable). A new invoice is a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    #[default]
    Draft,
    Open,
    Paid,
    Void,
    Uncollectible,
}

impl InvoiceStatus {
    pub const ALL: [InvoiceStatus; 5] = [
        InvoiceStatus::Draft,
        InvoiceStatus::Open,
        InvoiceStatus::Paid,
        InvoiceStatus::Void,
        InvoiceStatus::Uncollectible,
    ];

    /// The wire and database form, e.g. `"uncollectible"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
            InvoiceStatus::Uncollectible => "uncollectible",
        }
    }

    pub const fn is_draft(self) -> bool {
        matches!(self, InvoiceStatus::Draft)
    }

    pub const fn is_open(self) -> bool {
        matches!(self, InvoiceStatus::Open)
    }

    pub const fn is_paid(self) -> bool {
        matches!(self, InvoiceStatus::Paid)
    }

    /// A payment may still be recorded against it: `open`, or written off as `uncollectible`
    /// (a customer may pay after all).
    pub const fn accepts_payment(self) -> bool {
        matches!(self, InvoiceStatus::Open | InvoiceStatus::Uncollectible)
    }

    /// It was issued and stands (`open`, `paid`, `uncollectible`): neither a draft nor void.
    pub const fn is_issued(self) -> bool {
        matches!(
            self,
            InvoiceStatus::Open | InvoiceStatus::Paid | InvoiceStatus::Uncollectible
        )
    }
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string was not one of the five invoice statuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown invoice status {0:?}")]
pub struct UnknownInvoiceStatus(pub String);

impl FromStr for InvoiceStatus {
    type Err = UnknownInvoiceStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InvoiceStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownInvoiceStatus(s.to_owned()))
    }
}

/// For decoding a database column (sqlx's `try_from = "String"`).
impl TryFrom<String> for InvoiceStatus {
    type Error = UnknownInvoiceStatus;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// How a subscription's invoices are paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectionMethod {
    /// The default payment method is charged when an invoice is issued.
    #[default]
    ChargeAutomatically,
    /// The invoice is sent; the customer pays it (PromptPay, bank transfer).
    SendInvoice,
}

impl CollectionMethod {
    pub const ALL: [CollectionMethod; 2] = [
        CollectionMethod::ChargeAutomatically,
        CollectionMethod::SendInvoice,
    ];

    /// The wire and database form, e.g. `"send_invoice"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CollectionMethod::ChargeAutomatically => "charge_automatically",
            CollectionMethod::SendInvoice => "send_invoice",
        }
    }

    pub const fn is_automatic(self) -> bool {
        matches!(self, CollectionMethod::ChargeAutomatically)
    }
}

impl fmt::Display for CollectionMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string was not one of the two collection methods.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown collection method {0:?}")]
pub struct UnknownCollectionMethod(pub String);

impl FromStr for CollectionMethod {
    type Err = UnknownCollectionMethod;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CollectionMethod::ALL
            .into_iter()
            .find(|method| method.as_str() == s)
            .ok_or_else(|| UnknownCollectionMethod(s.to_owned()))
    }
}

/// For decoding a database column (sqlx's `try_from = "String"`).
impl TryFrom<String> for CollectionMethod {
    type Error = UnknownCollectionMethod;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_from_their_wire_form_only() {
        for status in InvoiceStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert!("Open".parse::<InvoiceStatus>().is_err());
        assert!("".parse::<InvoiceStatus>().is_err());
        assert!(InvoiceStatus::try_from("canceled".to_owned()).is_err());
    }

    #[test]
    fn payable_and_issued_statuses() {
        use InvoiceStatus::*;
        let payable: Vec<_> = InvoiceStatus::ALL
            .into_iter()
            .filter(|s| s.accepts_payment())
            .collect();
        assert_eq!(payable, [Open, Uncollectible]);
        let issued: Vec<_> = InvoiceStatus::ALL
            .into_iter()
            .filter(|s| s.is_issued())
            .collect();
        assert_eq!(issued, [Open, Paid, Uncollectible]);
    }

    #[test]
    fn collection_methods_parse_from_their_wire_form_only() {
        for method in CollectionMethod::ALL {
            assert_eq!(method.as_str().parse(), Ok(method));
            assert_eq!(
                serde_json::to_value(method).unwrap(),
                serde_json::json!(method.as_str())
            );
        }
        assert!("manual".parse::<CollectionMethod>().is_err());
        assert_eq!(
            CollectionMethod::default(),
            CollectionMethod::ChargeAutomatically
        );
    }
}
