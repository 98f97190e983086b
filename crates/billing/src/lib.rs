//! Satang's billing engine: what turns subscriptions and one-off charges into numbered Thai tax
//! invoices, and keeps their settlement straight.
//!
//! - [`api_keys`]: creating and revoking the API keys of the seller's own software.
//! - [`coupons`]: coupons, redeeming one on a subscription, and what a discount takes off.
//! - [`analytics`]: MRR and its movements, churn, ARPA, LTV, receivables, revenue per month.
//! - [`settings`]: the seller profile, checked and changed as a whole, and the parts of it
//!   billing needs (VAT, prefix, withholding rate).
//! - [`etax_certificate`]: the seller's e-Tax signing certificate: the environment's or one
//!   uploaded in Settings (sealed at rest), swapped without a restart.
//! - [`documents`]: an issued invoice as the printed document's input (PDF, e-mail attachment).
//! - [`invoicing`]: totals, finalisation (gapless number, snapshots, credit balance), and the
//!   state changes of an issued invoice (payments, void, uncollectible, credit notes).
//! - [`run`]: the billing run that invoices every due subscription, idempotently.
//! - [`subscriptions`]: the operations on a subscription (create, change plan, pause, resume,
//!   cancel), called by the API and the console alike.
//! - [`customers`]: the operations on a customer's profile and status (update with its version
//!   check, suspend, reactivate, delete, restore).
//! - [`exports`]: customers, invoices, payments or credit notes of a date range for the
//!   accountant, as CSV or XLSX ([`spreadsheet`], which the [`reports`] share).
//! - [`imports`]: customers moved in from CSV (`POST /api/imports/…`, `satang import …`):
//!   checked like one create, all or nothing unless partial, re-runs create nothing.
//! - [`members`]: adding, inviting, re-rolling and removing a customer's members.
//! - [`users`]: creating staff users (API, console first run, CLI) and changing them;
//!   self-service sign-up and accepting an invitation.
//! - [`sessions`]: logins as refresh-token families: start, rotate with reuse detection, end.
//! - [`providers`]: Opn Payments and Stripe: keys, PromptPay, webhooks, money applied once;
//!   [`pay_links`]: the signed links to an invoice's public pay page.
//! - [`payment_methods`]: adding a card (tokenised at the gateway), PromptPay or bank transfer.
//! - [`entitlements`]: what a customer's live plans grant, with this period's usage;
//!   [`entitlement_cache`] keeps them in memory for the hot-path check.
//! - [`usage`]: metered usage ingestion, checked against the subscriptions it names.
//! - [`thresholds`]: billing thresholds: usage invoiced mid-period once it reaches an amount.
//! - [`webhooks`]: registering a webhook endpoint with its signing secret.
//! - [`notices`]: the trial-ending warning, emitted once per subscription by the run.
//! - [`mail`]: what a queued notification mail says and to whom.
//!
//! Everything here runs inside a caller's transaction or opens its own, and writes its audit
//! events in the same transaction as the change.

pub mod analytics;
pub mod api_keys;
pub mod bank_statements;
pub mod collection;
pub mod coupons;
pub mod credit_grants;
pub mod customers;
pub mod documents;
pub mod entitlement_cache;
pub mod entitlements;
pub mod etax_certificate;
pub mod exports;
pub mod gateway;
pub mod imports;
pub mod invoicing;
pub mod mail;
pub mod members;
pub mod notices;
pub mod pay_links;
pub mod payment_methods;
pub mod providers;
pub mod reports;
pub mod run;
pub mod sessions;
pub mod settings;
pub mod spreadsheet;
pub mod subscriptions;
pub mod tax_documents;
pub mod thresholds;
pub mod usage;
pub mod usage_alerts;
pub mod users;
pub mod webhooks;

pub use invoicing::{finalize_invoice, invoice_audit_json};
pub use run::{RunReport, StopCheck, run_billing, run_billing_until};
pub use settings::BillingSettings;

/// Why a billing operation did not happen. `InvalidState` is the caller's 409, `Invalid` and
/// `InvalidFields` its 422, `NotFound` its 404, `Forbidden` its 403; everything else is
/// internal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidState(String),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// Several fields refused at once, in the order they were checked (a batch, a profile).
    #[error("{} invalid fields", .0.len())]
    InvalidFields(Vec<FieldError>),
    /// What the operation was asked to act on does not exist (any more).
    #[error("not found")]
    NotFound,
    /// The acting user may reach this, but not make this change to it.
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error(transparent)]
    Store(#[from] satang_store::Error),
    /// A payment provider could not be reached, failed, or refused the request.
    #[error("{0}")]
    Provider(String),
    /// The payer's card was declined (the provider's reason).
    #[error("{0}")]
    Declined(String),
    /// An outside request Satang cannot act on (a webhook with a bad signature or body).
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Internal(String),
}

/// One refused field of [`Error::InvalidFields`]: its path in the input and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
