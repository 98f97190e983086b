//! Satang's pure domain: the types and rules of customer billing, with no I/O, no async and no
//! SQL, so that every rule here can be unit- and property-tested in milliseconds.
//!
//! Everything money-shaped is integer minor units; every proportional amount (VAT, withholding
//! tax, proration) is rounded by the one function [`money::round_half_up_div`].

pub mod baht_text;
pub mod bank_match;
pub mod bank_statement;
pub mod coupon;
pub mod credit;
pub mod customer;
pub mod delivery;
pub mod invoice;
pub mod money;
pub mod mrr;
pub mod payment;
pub mod period;
pub mod pricing;
pub mod promptpay;
pub mod proration;
pub mod subscription;
pub mod tax_document;
pub mod tax_id;
pub mod typed_amount;
pub mod usage;
pub mod vat;
mod wire;

pub use baht_text::baht_text;
pub use coupon::{AppliedDiscount, CouponCode, CouponDuration, CouponError, CouponValue};
pub use customer::{CustomerStatus, MemberStatus, UnknownCustomerStatus, UnknownMemberStatus};
pub use delivery::{
    DeliveryStatus, EmailKind, EmailStatus, UnknownDeliveryStatus, UnknownEmailKind,
    UnknownEmailStatus,
};
pub use invoice::{CollectionMethod, InvoiceStatus, UnknownCollectionMethod, UnknownInvoiceStatus};
pub use money::{Currency, Money, MoneyError, UnknownCurrency, round_half_up_div};
pub use payment::{PaymentStatus, UnknownPaymentStatus};
pub use period::{BillingCycle, Interval, Period, PeriodError, bangkok_date};
pub use pricing::Pricing;
pub use promptpay::{PromptPayError, PromptPayId, PromptPayIdKind, promptpay_payload};
pub use proration::{
    PlanChangeProration, ProrationError, ProrationLine, ProrationLineKind, plan_change_lines,
    prorate, unused_time_credit,
};
pub use subscription::{
    Action, InvalidTransition, Status, SubscriptionChange, SubscriptionError, SubscriptionState,
    UnknownStatus, UnknownSubscriptionChange, transition,
};
pub use tax_document::{TaxDocumentType, TaxPoint, payment_vat};
pub use tax_id::{BranchCode, TaxId, TaxIdError};
pub use vat::{InvoiceMathError, InvoiceTotals, InvoiceTotalsInput, invoice_totals};
