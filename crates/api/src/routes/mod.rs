//! The API's routes, one module per resource.

pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod bank_statements;
pub mod contacts;
pub mod coupons;
pub mod credit_grants;
pub mod customers;
pub mod emails;
pub mod entitlements;
pub mod imports;
pub mod invoices;
pub mod members;
pub mod payment_methods;
pub mod plans;
pub mod reports;
pub mod settings;
pub mod subscriptions;
pub mod system;
pub mod tax_documents;
pub mod test_clock;
pub mod usage;
pub mod usage_alerts;
pub mod users;
pub mod webhooks;
