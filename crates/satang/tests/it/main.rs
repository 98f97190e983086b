//! Satang's black-box tests, in one test binary: each module starts real servers (in process, or
//! the `satang` binary itself) on SQLite and on PostgreSQL. Helpers shared by the modules live in
//! `common`; `both_backends!` turns an `async fn name(backend: Backend)` into a SQLite and a
//! PostgreSQL test.

#[macro_use]
mod common;

mod analytics;
mod api_keys;
mod auth;
mod backup;
mod bank_statements;
mod billing_crash;
mod billing_run;
mod billing_thresholds;
mod billing_two_processes;
mod billing_year;
mod cli;
mod console_browser;
mod console_imports;
mod console_invoice;
mod console_pages;
mod coupons;
mod credit_grants;
mod credit_grants_run;
mod customer_search_pages;
mod customers;
mod db_connections;
mod demo;
mod dunning;
mod email;
mod entitlements;
mod etax_certificate;
mod exports;
mod http;
mod imports;
mod integration_guide;
mod invoice_pdf;
mod invoices;
mod plans;
mod pricing_year;
mod providers;
mod reports;
mod roles;
mod settings;
mod split;
mod subscription_imports;
mod subscriptions;
mod tax_documents;
mod tls;
mod upcoming_invoice;
mod upgrade;
mod usage;
mod usage_alerts;
mod webhooks;
