//! `satang-bench import`: 100,000 customers imported from CSV through `POST
//! /api/imports/customers` (issue 27's target: ≤ 60 s), on SQLite and PostgreSQL.
//!
//! Set-up (not timed): a fresh server (with `SATANG_REQUEST_TIMEOUT` long enough for one
//! request of the whole file) and the file: `--customers` rows shaped like the customers
//! bench's book — Thai and English names, tax ids with branches, e-mails, phones, addresses —
//! with each e-mail made unique (the import refuses repeats).
//!
//! Timed, one after the other, as a person moving a book would go:
//! 1. **check**: the dry run (`dry_run: true`): every row checked, nothing written;
//! 2. **import**: the same file for real — the customers, their `customer.created` events and
//!    audit entries in one transaction;
//! 3. **again**: the same file once more: every row found present, nothing written.
//!
//! The target holds for the import.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hyper::StatusCode;
use serde_json::{Value, json};

use crate::bank::{admin_login, call};
use crate::cli::CommonArgs;
use crate::customers::wait_for_quiet_machine;
use crate::dataset::Dataset;
use crate::load::{Connection, Target};
use crate::postgres::on_both_backends;
use crate::proc_stats::Machine;
use crate::report;
use crate::server::{RunningServer, satang_binary};

pub const SECTION: &str = "import";
/// The import of the whole file, at most.
const TARGET: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Rows of the file (customers).
    #[arg(long, default_value_t = 100_000)]
    pub customers: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What one backend measured.
pub struct ImportResult {
    pub check: Duration,
    pub import: Duration,
    pub again: Duration,
    pub created: u64,
    pub skipped: u64,
}

pub async fn run(args: ImportArgs, command_line: String) -> anyhow::Result<()> {
    let binary = satang_binary(args.common.satang.clone())?;
    let machine = Machine::describe();
    let csv = book(args.customers);
    println!(
        "satang-bench import: {} customers, a {:.1} MB file",
        args.customers,
        csv.len() as f64 / 1e6
    );
    let (sqlite, postgres) = on_both_backends(&args.common, async |url| {
        bench_backend(&binary, url, &csv, args.customers).await
    })
    .await?;
    let body = render(
        &machine,
        &command_line,
        &args,
        csv.len(),
        &[("SQLite", &sqlite), ("PostgreSQL", &postgres)],
    );
    report::write_section(&args.common.out, SECTION, &body)?;
    println!("\nwrote {}", args.common.out.display());
    Ok(())
}

async fn bench_backend(
    binary: &Path,
    database_url: Option<&str>,
    csv: &str,
    rows: u64,
) -> anyhow::Result<ImportResult> {
    // One request carries the whole file; the default 30 s would cut a slow one off.
    let settings = [("SATANG_REQUEST_TIMEOUT", "600".to_owned())];
    RunningServer::measure_fresh_with(binary, database_url, &settings, async |server| {
        measure(server, csv, rows).await
    })
    .await
}

async fn measure(server: &RunningServer, csv: &str, rows: u64) -> anyhow::Result<ImportResult> {
    let mut conn = Connection::open(server.addr).await?;
    let token = admin_login(&mut conn).await?;
    let mut import = async |dry_run: bool| -> anyhow::Result<(Duration, Value)> {
        let target = Target::post_json(
            "/api/imports/customers",
            &json!({"csv": csv, "dry_run": dry_run}),
        );
        let started = Instant::now();
        let report = call(&mut conn, target, Some(&token), StatusCode::OK).await?;
        Ok((started.elapsed(), report))
    };
    wait_for_quiet_machine().await;
    let (check, checked) = import(true).await?;
    anyhow::ensure!(
        checked["created"] == rows && checked["errors"] == json!([]),
        "the dry run would not create every row: {}",
        short(&checked)
    );
    println!("check    {:>8.0} ms", check.as_secs_f64() * 1e3);
    let (import_time, imported) = import(false).await?;
    let created = imported["created"].as_u64().context("created")?;
    anyhow::ensure!(created == rows, "the import created {created} of {rows}");
    println!(
        "import   {:>8.0} ms  ({created} customers, {:.0}/s)",
        import_time.as_secs_f64() * 1e3,
        created as f64 / import_time.as_secs_f64()
    );
    let (again, repeated) = import(false).await?;
    let skipped = repeated["skipped"].as_array().map_or(0, Vec::len) as u64;
    anyhow::ensure!(
        repeated["created"] == 0 && skipped == rows,
        "the second import was not a no-op: {}",
        short(&repeated)
    );
    println!(
        "again    {:>8.0} ms  ({skipped} rows present)",
        again.as_secs_f64() * 1e3
    );
    Ok(ImportResult {
        check,
        import: import_time,
        again,
        created,
        skipped,
    })
}

/// The start of a report, for an error message.
fn short(report: &Value) -> String {
    report.to_string().chars().take(600).collect()
}

const COLUMNS: &str = "name,legal_name,tax_id,branch_code,email,phone,billing_email,\
    address_line1,address_subdistrict,address_district,address_province,address_postal_code,\
    locale,payment_terms_days";

/// The file: one row per customer of the customers bench's book, each e-mail made unique.
pub fn book(customers: u64) -> String {
    let set = Dataset::new(customers, chrono::Utc::now());
    let mut csv = String::with_capacity(customers as usize * 400);
    csv.push_str(COLUMNS);
    csv.push('\n');
    for i in 0..customers {
        let c = set.customer(i);
        let email = c
            .email
            .as_deref()
            .and_then(|e| e.split_once('@'))
            .map(|(local, domain)| format!("{local}+{i}@{domain}"));
        let address = |key: &str| {
            c.address
                .as_ref()
                .and_then(|a| a[key].as_str())
                .map(str::to_owned)
        };
        let cells = [
            Some(c.name.clone()),
            c.legal_name.clone(),
            c.tax_id.clone(),
            c.branch_code.clone(),
            email,
            c.phone.clone(),
            c.billing_email.clone(),
            address("line1"),
            address("subdistrict"),
            address("district"),
            address("province"),
            address("postal_code"),
            Some(c.locale.to_owned()),
            Some(c.payment_terms_days.to_string()),
        ];
        for (n, cell) in cells.iter().enumerate() {
            if n > 0 {
                csv.push(',');
            }
            if let Some(text) = cell {
                let _ = write!(csv, "\"{}\"", text.replace('"', "\"\""));
            }
        }
        csv.push('\n');
    }
    csv
}

fn render(
    m: &Machine,
    command_line: &str,
    args: &ImportArgs,
    file_bytes: usize,
    backends: &[(&str, &Result<ImportResult, String>)],
) -> String {
    let mut out = String::from("## Import: a customer book from CSV\n\n");
    report::run_header(&mut out, m, command_line);
    let _ = writeln!(
        out,
        "- **Workload**: a {:.1} MB CSV of {} customers (Thai and English names, tax ids and \
         branches, e-mails, phones, Thai addresses) sent whole to `POST /api/imports/customers`: \
         the dry run, the import (customers with their events and audit entries, one \
         transaction), and the same file again (every row already present). Target: the \
         import ≤ {} s.\n",
        file_bytes as f64 / 1e6,
        args.customers,
        TARGET.as_secs()
    );
    out.push_str("| backend | check (dry run) | import | again | target |\n");
    out.push_str("|---|---:|---:|---:|---|\n");
    for (name, run) in backends {
        match run {
            Ok(r) => {
                let _ = writeln!(
                    out,
                    "| {name} | {} | {} ({} customers, {:.0}/s) | {} ({} present) | {} |",
                    report::ms(r.check.as_secs_f64() * 1e3),
                    report::ms(r.import.as_secs_f64() * 1e3),
                    r.created,
                    r.created as f64 / r.import.as_secs_f64().max(1e-9),
                    report::ms(r.again.as_secs_f64() * 1e3),
                    r.skipped,
                    report::pass(r.import <= TARGET),
                );
            }
            Err(why) => {
                let _ = writeln!(out, "| {name} | {why} | | | |");
            }
        }
    }
    out
}
