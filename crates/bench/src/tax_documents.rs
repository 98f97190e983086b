//! `satang-bench tax-documents`: issue 23's figures for Thai tax documents, on SQLite and
//! PostgreSQL.
//!
//! Set-up (not timed): the generated customer book ([`crate::bulk_load`]) with one due
//! subscription each, billed by `satang_billing::run_billing` under tax point `payment`, then
//! every invoice paid in full by `record_payment` (the code behind `POST
//! /api/invoices/{id}/payments`), which issues its receipt / tax invoice (T03) in the payment's
//! transaction: `--invoices` documents, real rows as Satang issues them, none signed yet. A
//! self-signed seller certificate (RSA 2048, PKCS#12) is made with the openssl command line.
//!
//! Timed:
//! 1. **Signing worker**: `satang_billing::tax_documents::sign_unsigned` — the scheduler's
//!    step — in passes of 64 until every document is signed: claim, render the e-Tax XML,
//!    sign (XAdES-BES), store. Checked: every document signed exactly once.
//! 2. **PDF/A-3**: `GET /api/tax-documents/{id}/pdf` of the release `satang serve` over a sample
//!    of the documents, each rendered around its stored signed XML.
//! 3. **Output-VAT report**: `GET /api/reports/output-vat?month=…` of the month holding the
//!    documents, as JSON, CSV, XLSX and PDF, each a few times on one connection (a form the
//!    server refuses, e.g. past its request timeout, is written down as a miss).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use hyper::StatusCode;
use serde_json::json;
use uuid::Uuid;

use satang_billing::BillingSettings;
use satang_billing::invoicing::settlement::{PaymentInput, record_payment};
use satang_billing::settings::{SETTINGS_KEY, SellerProfile};
use satang_documents::EtaxSigner;
use satang_store::audit::Actor;
use satang_store::clock::Clock;
use satang_store::{Db, Scope, Sql};

use crate::bank::{admin_login, call};
use crate::cli::CommonArgs;
use crate::customers::wait_for_quiet_machine;
use crate::dataset::Dataset;
use crate::load::{Connection, Target};
use crate::postgres::on_both_backends;
use crate::proc_stats::{CpuClock, Machine, NamedCpuSampler};
use crate::report;
use crate::server::{RunningServer, satang_binary};

pub const SECTION: &str = "tax-documents";
/// Documents a second, XML + signature + PDF/A-3 together.
const TARGET_PER_SECOND: f64 = 100.0;
/// The output-VAT report of the month, at most.
const TARGET_REPORT_SECONDS: f64 = 2.0;
/// The scheduler's batch (`SIGN_BATCH` in `crates/satang/src/scheduler.rs`).
const SIGN_BATCH: i64 = 64;
const P12_PASSWORD: &str = "bench-secret";
/// The report's forms, the printed one included.
const REPORT_FORMATS: [&str; 4] = ["json", "csv", "xlsx", "pdf"];

#[derive(Debug, Clone, Args)]
pub struct TaxDocumentsArgs {
    /// Paid invoices, each with its receipt / tax invoice.
    #[arg(long, default_value_t = 100_000)]
    pub invoices: u64,
    /// Documents whose PDF/A-3 is fetched.
    #[arg(long, default_value_t = 300)]
    pub pdf_sample: usize,
    /// Connections fetching the PDFs.
    #[arg(long, default_value_t = 2)]
    pub pdf_connections: usize,
    /// Times each report format is fetched (the first is counted too).
    #[arg(long, default_value_t = 3)]
    pub report_repeats: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What one backend measured.
pub struct Measured {
    pub documents: u64,
    pub setup: Duration,
    pub sign_elapsed: Duration,
    pub signed: u64,
    pub engine_cores: f64,
    pub database_cores: f64,
    pub pdfs: usize,
    pub pdf_elapsed: Duration,
    pub pdf_bytes: u64,
    /// (format, fastest, slowest, bytes, the status of a refused answer)
    pub reports: Vec<(String, Duration, Duration, usize, Option<StatusCode>)>,
    pub report_rows: usize,
    /// The signed XMLs' average size.
    pub xml_bytes: f64,
}

impl Measured {
    fn sign_per_second(&self) -> f64 {
        self.signed as f64 / self.sign_elapsed.as_secs_f64().max(1e-9)
    }

    fn pdf_per_second(&self) -> f64 {
        self.pdfs as f64 / self.pdf_elapsed.as_secs_f64().max(1e-9)
    }

    /// Documents a second when each is signed and printed: the two steps one after the other.
    fn combined_per_second(&self) -> f64 {
        1.0 / (1.0 / self.sign_per_second().max(1e-9) + 1.0 / self.pdf_per_second().max(1e-9))
    }
}

pub async fn run(args: TaxDocumentsArgs, command_line: String) -> anyhow::Result<()> {
    let binary = satang_binary(args.common.satang.clone())?;
    let machine = Machine::describe();
    let certs = tempfile::Builder::new()
        .prefix("satang-bench-etax-")
        .tempdir()?;
    let p12 = seller_p12(certs.path())?;
    let signer = Arc::new(
        EtaxSigner::from_pkcs12(&std::fs::read(&p12)?, P12_PASSWORD)
            .map_err(|e| anyhow::anyhow!("the bench's PKCS#12: {e}"))?,
    );
    println!(
        "satang-bench tax-documents: {} paid invoices, {} ({} cores)",
        args.invoices, machine.cpu_model, machine.cores
    );
    let (sqlite, postgres) = on_both_backends(&args.common, async |url| {
        bench_backend(&binary, url, &p12, &signer, &args).await
    })
    .await?;
    let body = render(
        &machine,
        &command_line,
        &args,
        &[("SQLite", &sqlite), ("PostgreSQL", &postgres)],
    );
    report::write_section(&args.common.out, SECTION, &body)?;
    println!("\nwrote {}", args.common.out.display());
    Ok(())
}

/// A self-signed seller certificate and key as PKCS#12, by the openssl command line.
fn seller_p12(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let (key, cert, p12) = (
        dir.join("seller.key"),
        dir.join("seller.pem"),
        dir.join("seller.p12"),
    );
    let req = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-utf8", "-subj",
        ])
        .arg("/C=TH/O=Satang Soft Co., Ltd./CN=Satang e-Tax 0105557000126")
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .context("the openssl command line makes the bench's certificate")?;
    anyhow::ensure!(
        req.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&req.stderr)
    );
    let export = Command::new("openssl")
        .args(["pkcs12", "-export", "-passout"])
        .arg(format!("pass:{P12_PASSWORD}"))
        .arg("-inkey")
        .arg(&key)
        .arg("-in")
        .arg(&cert)
        .arg("-out")
        .arg(&p12)
        .output()?;
    anyhow::ensure!(
        export.status.success(),
        "openssl pkcs12: {}",
        String::from_utf8_lossy(&export.stderr)
    );
    Ok(p12)
}

async fn bench_backend(
    binary: &Path,
    database_url: Option<&str>,
    p12: &Path,
    signer: &Arc<EtaxSigner>,
    args: &TaxDocumentsArgs,
) -> anyhow::Result<Measured> {
    let dir = tempfile::Builder::new()
        .prefix("satang-bench-tax-")
        .tempdir()?;
    let set = Dataset::new(args.invoices, Utc::now());
    let started = Instant::now();
    let db = match database_url {
        None => {
            crate::bulk_load::load_sqlite(dir.path(), &set).await?;
            Db::open_sqlite(dir.path()).await?
        }
        Some(url) => {
            crate::bulk_load::load_postgres(url, &set).await?;
            Db::open_postgres(url, 16).await?
        }
    };
    let measured = async {
        let documents = issue_documents(&db, args.invoices).await?;
        let setup = started.elapsed();
        println!(
            "set-up: {documents} paid invoices with their documents in {:.1} s",
            setup.as_secs_f64()
        );
        wait_for_quiet_machine().await;
        let (sign_elapsed, signed, engine_cores, database_cores) =
            sign_all(&db, signer, documents).await?;
        #[derive(sqlx::FromRow)]
        struct Size {
            bytes: f64,
        }
        let xml: Size = db
            .fetch_one(Sql::new(
                "SELECT CAST(avg(length(xml)) AS DOUBLE PRECISION) AS bytes FROM tax_documents",
            ))
            .await?;
        let settings = [
            ("SATANG_ETAX_P12", p12.display().to_string()),
            ("SATANG_ETAX_P12_PASSWORD", P12_PASSWORD.to_owned()),
            ("SATANG_BILLING_INTERVAL", "0".to_owned()),
        ];
        let server = RunningServer::start_with(binary, dir.path(), database_url, &settings).await?;
        println!("serving on {} (pid {})", server.addr, server.pid);
        let served = serve_phases(&server, &db, args).await;
        let stopped = server.stop().await;
        let (pdfs, pdf_elapsed, pdf_bytes, reports, report_rows) = served?;
        stopped?;
        anyhow::Ok(Measured {
            documents,
            setup,
            sign_elapsed,
            signed,
            engine_cores,
            database_cores,
            pdfs,
            pdf_elapsed,
            pdf_bytes,
            reports,
            report_rows,
            xml_bytes: xml.bytes,
        })
    }
    .await;
    db.close().await;
    measured
}

/// The seller (tax point `payment`), `n` due subscriptions billed, every invoice paid: returns
/// the number of tax documents.
async fn issue_documents(db: &Db, n: u64) -> anyhow::Result<u64> {
    let now = Utc::now();
    let mut profile = serde_json::to_value(SellerProfile::load(db).await?)?;
    profile["company_name"] = json!({"th": "บริษัท สตางค์ซอฟต์ จำกัด", "en": "Satang Soft Co., Ltd."});
    profile["tax_id"] = json!("0105557000126");
    profile["branch_code"] = json!("00000");
    profile["address"] = json!({"line1": "99/9 ถนนพระราม 9", "subdistrict": "ห้วยขวาง",
        "district": "ห้วยขวาง", "province": "กรุงเทพมหานคร", "postal_code": "10310",
        "country": "TH"});
    profile["tax_point"] = json!("payment");
    let profile: SellerProfile = serde_json::from_value(profile)?;
    satang_store::kv::set(db, SETTINGS_KEY, &serde_json::to_string(&profile)?).await?;

    let today = satang_domain::bangkok_date(now);
    let inserted = crate::billing::insert_due_subscriptions(db, today, now).await?;
    anyhow::ensure!(inserted == n, "{inserted} subscriptions, expected {n}");
    let started = Instant::now();
    let clock = Clock::system();
    let run = satang_billing::run_billing(db, &clock, clock.now()).await?;
    println!(
        "billed {} invoices in {:.1} s",
        run.invoices_created,
        started.elapsed().as_secs_f64()
    );

    #[derive(sqlx::FromRow)]
    struct Open {
        id: Uuid,
    }
    let open: Vec<Open> = db
        .fetch_all(Sql::new(
            "SELECT id FROM invoices WHERE status = 'open' AND amount_due > 0 ORDER BY id",
        ))
        .await?;
    let open: Arc<Vec<Uuid>> = Arc::new(open.into_iter().map(|o| o.id).collect());
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (db, open, next) = (db.clone(), open.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let actor = Actor::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&id) = open.get(i) else {
                    return anyhow::Ok(());
                };
                pay(&db, &actor, id).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "paid {} invoices in {:.1} s",
        open.len(),
        started.elapsed().as_secs_f64()
    );
    let count: Count = db
        .fetch_one(Sql::new(
            "SELECT count(*) AS n FROM tax_documents WHERE type_code = 'T03'",
        ))
        .await?;
    anyhow::ensure!(
        count.n == i64::try_from(open.len())?,
        "{} receipts / tax invoices for {} paid invoices",
        count.n,
        open.len()
    );
    Ok(u64::try_from(count.n)?)
}

#[derive(sqlx::FromRow)]
struct Count {
    n: i64,
}

/// Pays one open invoice in full, as `POST /api/invoices/{id}/payments` does.
async fn pay(db: &Db, actor: &Actor, id: Uuid) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let inv = satang_store::invoices::lock(&mut tx, id, Scope::All)
        .await?
        .context("invoice gone")?;
    let settings = BillingSettings::load_in(&mut tx).await?;
    let input = PaymentInput {
        amount: inv.amount_due,
        method: "bank_transfer".to_owned(),
        reference: None,
        paid_at: now,
        withholding: None,
    };
    record_payment(&mut tx, actor, &inv, input, &settings, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The signing worker's passes until nothing is left, timed; checks every document is signed.
async fn sign_all(
    db: &Db,
    signer: &Arc<EtaxSigner>,
    documents: u64,
) -> anyhow::Result<(Duration, u64, f64, f64)> {
    let engine = CpuClock::of_self()?;
    let database = NamedCpuSampler::start("postgres")?;
    let started = Instant::now();
    let mut stored = 0;
    loop {
        let pass = satang_billing::tax_documents::sign_unsigned(db, signer, Utc::now(), SIGN_BATCH)
            .await?;
        anyhow::ensure!(pass.failed == 0, "{} documents not signed", pass.failed);
        stored += pass.stored;
        if pass.claimed < SIGN_BATCH as usize {
            break;
        }
    }
    let elapsed = started.elapsed();
    let engine_cores = engine.cores_since()?;
    let database_cores = database.stop();
    let signed: Count = db
        .fetch_one(Sql::new(
            "SELECT count(*) AS n FROM tax_documents WHERE signed = TRUE AND xml IS NOT NULL",
        ))
        .await?;
    anyhow::ensure!(
        stored == documents && signed.n == i64::try_from(documents)?,
        "{stored} stored, {} signed of {documents}",
        signed.n
    );
    println!(
        "signing worker: {stored} documents in {:.1} s = {:.0} /s ({engine_cores:.2} cores, \
         database {database_cores:.2})",
        elapsed.as_secs_f64(),
        stored as f64 / elapsed.as_secs_f64()
    );
    Ok((elapsed, stored, engine_cores, database_cores))
}

type Served = (
    usize,
    Duration,
    u64,
    Vec<(String, Duration, Duration, usize, Option<StatusCode>)>,
    usize,
);

async fn serve_phases(
    server: &RunningServer,
    db: &Db,
    args: &TaxDocumentsArgs,
) -> anyhow::Result<Served> {
    let mut conn = Connection::open(server.addr).await?;
    let token = admin_login(&mut conn).await?;

    // PDFs of documents spread over the whole set.
    #[derive(sqlx::FromRow)]
    struct Doc {
        id: Uuid,
        issued_at: DateTime<Utc>,
    }
    let docs: Vec<Doc> = db
        .fetch_all(Sql::new(
            "SELECT id, issued_at FROM tax_documents ORDER BY id",
        ))
        .await?;
    anyhow::ensure!(!docs.is_empty(), "no documents");
    let step = (docs.len() / args.pdf_sample.max(1)).max(1);
    let sample: Arc<Vec<String>> = Arc::new(
        docs.iter()
            .step_by(step)
            .take(args.pdf_sample)
            .map(|d| format!("/api/tax-documents/{}/pdf", d.id))
            .collect(),
    );
    wait_for_quiet_machine().await;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.pdf_connections.max(1) {
        let (sample, next, token, addr) =
            (sample.clone(), next.clone(), token.clone(), server.addr);
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await?;
            let mut bytes = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = sample.get(i) else {
                    return anyhow::Ok(bytes);
                };
                let (status, body) = conn.send(&Target::get(path).with_bearer(&token)?).await?;
                anyhow::ensure!(
                    status == StatusCode::OK && body.starts_with(b"%PDF"),
                    "{path} answered {status}"
                );
                bytes += body.len() as u64;
            }
        }));
    }
    let mut pdf_bytes = 0;
    for t in tasks {
        pdf_bytes += t.await??;
    }
    let pdf_elapsed = started.elapsed();
    println!(
        "PDF/A-3: {} documents in {:.1} s = {:.0} /s",
        sample.len(),
        pdf_elapsed.as_secs_f64(),
        sample.len() as f64 / pdf_elapsed.as_secs_f64()
    );

    // The month (Bangkok) the documents were issued in.
    let month = docs[docs.len() / 2]
        .issued_at
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).context("offset")?)
        .format("%Y-%m")
        .to_string();
    let json_report = call(
        &mut conn,
        Target::get(&format!(
            "/api/reports/output-vat?month={month}&format=json"
        )),
        Some(&token),
        StatusCode::OK,
    )
    .await?;
    let report_rows = json_report["rows"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(
        report_rows == docs.len(),
        "the report of {month} has {report_rows} rows for {} documents",
        docs.len()
    );
    let mut reports = Vec::new();
    for format in REPORT_FORMATS {
        let target = Target::get(&format!(
            "/api/reports/output-vat?month={month}&format={format}"
        ))
        .with_bearer(&token)?;
        let (mut fastest, mut slowest, mut size) = (Duration::MAX, Duration::ZERO, 0);
        let mut refused = None;
        for _ in 0..args.report_repeats.max(1) {
            let started = Instant::now();
            let (status, body) = conn.send(&target).await?;
            let took = started.elapsed();
            fastest = fastest.min(took);
            slowest = slowest.max(took);
            size = body.len();
            if status != StatusCode::OK {
                // A form the server gives up on (its request timeout) is a result, not a crash.
                println!(
                    "output-VAT {format} answered {status} after {:.1} s: {}",
                    took.as_secs_f64(),
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                );
                refused = Some(status);
                break;
            }
        }
        println!(
            "output-VAT {format}: {:.2} s (slowest {:.2} s), {} kB",
            fastest.as_secs_f64(),
            slowest.as_secs_f64(),
            size / 1000
        );
        reports.push((format.to_owned(), fastest, slowest, size, refused));
    }
    Ok((sample.len(), pdf_elapsed, pdf_bytes, reports, report_rows))
}

fn render(
    m: &Machine,
    command_line: &str,
    args: &TaxDocumentsArgs,
    backends: &[(&str, &Result<Measured, String>)],
) -> String {
    let mut out =
        String::from("## Tax documents: signing worker, PDF/A-3 and output-VAT report\n\n");
    report::run_header(&mut out, m, command_line);
    let _ = writeln!(
        out,
        "- **Workload**: {} paid invoices (the generated book, billed under tax point `payment`, \
         each paid in full by `record_payment`), so as many receipts / tax invoices (T03) issued \
         as Satang issues them, none signed. A self-signed RSA 2048 seller certificate.\n\
         - **Signing worker**: `sign_unsigned`, the scheduler's step, in passes of {SIGN_BATCH} \
         until all are signed (claim, render the e-Tax XML, sign XAdES-BES on every core, store), \
         in the bench's process.\n\
         - **PDF/A-3**: `GET /api/tax-documents/{{id}}/pdf` of {} documents spread over the set, \
         from {} connections, each rendered around its stored signed XML.\n\
         - **Output-VAT report**: `GET /api/reports/output-vat?month=…` of the month holding \
         every document as json, csv, xlsx and pdf, fetched {} times per format on one connection (fastest and slowest).\n\
         - **Targets**: ≥ {TARGET_PER_SECOND:.0} documents/s signed and printed (XML + \
         signature + PDF/A-3: the two rates one after the other); the report ≤ \
         {TARGET_REPORT_SECONDS:.0} s.\n",
        args.invoices, args.pdf_sample, args.pdf_connections, args.report_repeats
    );
    out.push_str(
        "| backend | documents | signed/s | worker cores | database cores | PDF/A-3/s | \
         signed + printed/s | target |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (name, run) in backends {
        match run {
            Ok(r) => {
                let _ = writeln!(
                    out,
                    "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {} |",
                    r.documents,
                    r.sign_per_second(),
                    r.engine_cores,
                    r.database_cores,
                    r.pdf_per_second(),
                    r.combined_per_second(),
                    report::pass(r.combined_per_second() >= TARGET_PER_SECOND)
                );
            }
            Err(why) => {
                let _ = writeln!(out, "| {name} | {why} | | | | | | |");
            }
        }
    }
    out.push_str("\n| backend | report rows | format | fastest | slowest | size | target |\n");
    out.push_str("|---|---:|---|---:|---:|---:|---|\n");
    for (name, run) in backends {
        if let Ok(r) = run {
            for (format, fastest, slowest, size, refused) in &r.reports {
                let _ = match refused {
                    Some(status) => writeln!(
                        out,
                        "| {name} | {} | {format} | answered {} after {:.1} s | | | {} |",
                        r.report_rows,
                        status.as_u16(),
                        slowest.as_secs_f64(),
                        report::pass(false)
                    ),
                    None => writeln!(
                        out,
                        "| {name} | {} | {format} | {:.2} s | {:.2} s | {} kB | {} |",
                        r.report_rows,
                        fastest.as_secs_f64(),
                        slowest.as_secs_f64(),
                        size / 1000,
                        report::pass(slowest.as_secs_f64() <= TARGET_REPORT_SECONDS)
                    ),
                };
            }
        }
    }
    for (name, run) in backends {
        if let Ok(r) = run {
            let _ = writeln!(
                out,
                "\n{name}: set-up (load, bill, pay) {:.0} s; signed XMLs average {:.1} thousand characters, PDFs {} kB.",
                r.setup.as_secs_f64(),
                r.xml_bytes / 1000.0,
                r.pdf_bytes / (r.pdfs.max(1) as u64) / 1000
            );
        }
    }
    out
}
