//! Satang's benchmark runner. It builds nothing itself: it starts the release `satang` binary
//! that sits beside it, loads it over loopback and writes the figures into `BENCHMARKS.md`.
//!
//! ```text
//! cargo build --release -p satang -p satang-bench
//! target/release/satang-bench auth
//! target/release/satang-bench customers
//! target/release/satang-bench console
//! target/release/satang-bench billing
//! target/release/satang-bench entitlements
//! target/release/satang-bench bank
//! target/release/satang-bench provider-webhooks
//! target/release/satang-bench tax-documents
//! target/release/satang-bench backup
//! target/release/satang-bench import
//! ```
//!
//! (Run the built binary rather than `cargo run -p satang-bench`: building one package alone
//! resolves the shared dependencies' features differently from the two-package build, so cargo
//! rebuilds them first. With `CARGO_TARGET_DIR` set, the binary is under that directory.)

mod auth;
mod backup;
mod bank;
mod billing;
mod billing_report;
mod bulk_load;
mod cli;
mod console;
mod customers;
mod customers_report;
mod dataset;
mod entitlements;
mod import;
mod load;
mod pgbench;
mod postgres;
mod proc_stats;
mod provider_webhooks;
mod report;
mod server;
mod tax_documents;

use clap::{Parser, Subcommand};

/// The allocator of the `satang` binary, so that the billing run this process times behaves as
/// it does in `satang bill`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "satang-bench",
    about = "Benchmarks a release `satang` binary and writes BENCHMARKS.md"
)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// `GET /api/auth/me` next to `GET /healthz`, logins/s and idle memory, on SQLite and
    /// PostgreSQL.
    Auth(auth::AuthArgs),
    /// A million customers and three million contacts bulk-loaded into each database, then
    /// get by id, search, list pages and create measured (against `/healthz` and pgbench).
    Customers(customers::CustomersArgs),
    /// Server render time of every console page with the million-customer book loaded.
    Console(console::ConsoleArgs),
    /// The billing run over 100,000 and 1,000,000 due subscriptions against a plain
    /// `INSERT … SELECT`, usage ingestion through the API, and the analytics summary, on
    /// SQLite and PostgreSQL.
    Billing(billing::BillingArgs),
    /// `GET /api/entitlements/check` with an API key next to `/healthz` with 100,000
    /// customers, and usage ingestion with an API key against a person's token, on SQLite and
    /// PostgreSQL.
    Entitlements(entitlements::EntitlementsArgs),
    /// A 10,000-line bank statement uploaded, every line's suggested invoices read, and the
    /// suggested lines matched, on SQLite and PostgreSQL.
    Bank(bank::BankArgs),
    /// Opn `charge.complete` webhooks, each fetched back from a local Opn stand-in and
    /// recording one payment, on SQLite and PostgreSQL.
    ProviderWebhooks(provider_webhooks::ProviderWebhooksArgs),
    /// 100,000 paid invoices' receipts / tax invoices signed by the worker, their PDF/A-3
    /// rendered, and the month's output-VAT report, on SQLite and PostgreSQL.
    TaxDocuments(tax_documents::TaxDocumentsArgs),
    /// `satang backup` of the million-customer SQLite database while the server answers
    /// customer reads: the backup's time and the slowest read during it.
    Backup(backup::BackupArgs),
    /// 100,000 customers imported from one CSV through `POST /api/imports/customers` (dry
    /// run, import, the same file again), on SQLite and PostgreSQL.
    Import(import::ImportArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.bench {
        Bench::Auth(args) => auth::run(args, command_line()).await,
        Bench::Customers(args) => customers::run(args, command_line()).await,
        Bench::Console(args) => console::run(args, command_line()).await,
        Bench::Billing(args) => billing::run(args, command_line()).await,
        Bench::Entitlements(args) => entitlements::run(args, command_line()).await,
        Bench::Bank(args) => bank::run(args, command_line()).await,
        Bench::ProviderWebhooks(args) => provider_webhooks::run(args, command_line()).await,
        Bench::TaxDocuments(args) => tax_documents::run(args, command_line()).await,
        Bench::Backup(args) => backup::run(args, command_line()).await,
        Bench::Import(args) => import::run(args, command_line()).await,
    }
}

/// How this run was started, for the report (passwords in URLs masked).
fn command_line() -> String {
    let mut line = String::from("target/release/satang-bench");
    for arg in std::env::args().skip(1) {
        let arg = if arg.contains("://") {
            postgres::redact_password(&arg)
        } else {
            arg
        };
        line.push(' ');
        if arg.contains(char::is_whitespace) || arg.is_empty() {
            line.push_str(&format!("'{arg}'"));
        } else {
            line.push_str(&arg);
        }
    }
    line
}
