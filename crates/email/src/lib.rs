//! Satang's email notifications (SPEC §2.8): invoice issued, payment received, payment failed,
//! trial ending and subscription changed, in Thai or English by the customer's locale.
//!
//! - [`catalog`]: the Fluent message catalogues (`locales/th.ftl`, `locales/en.ftl`).
//! - [`compose`]: a [`Notice`] (plain data) into subject, text and HTML. Pure.
//! - [`transport`]: SMTP through lettre (rustls), or `.eml` files in the outbox folder.
//!
//! The queue (which event deserves which mail, claims, retries) lives in
//! `satang_store::emails`; the worker that ties them together runs in the `satang` binary.

pub mod catalog;
pub mod compose;
pub mod transport;

pub use catalog::{Catalog, CatalogError, Locale};
pub use compose::{Composed, Notice, Parties, PlanTerms, compose, date_text, money_text};
pub use lettre::message::Mailbox;
pub use transport::{ConfigError, Mailer, Outgoing, SendError, build_message, redact_url};
