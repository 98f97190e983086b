//! `satang-bench billing`: issue 4's figures, on SQLite and PostgreSQL.
//!
//! For each size (100,000 and 1,000,000 by default) a fresh database gets that many customers
//! (the generated book of [`crate::bulk_load`]) with one due subscription each, inserted in one
//! `INSERT … SELECT`. Then:
//!
//! 1. **Baseline**: a plain `INSERT … SELECT` of one invoice-shaped row and its line per
//!    subscription into copies of `invoices` and `invoice_lines` (same columns and indexes), in
//!    one transaction, dropped afterwards: what the database itself writes per second.
//! 2. **Billing run**: `satang_billing::run_billing` — the code behind `satang bill` and the
//!    scheduler — bills everything due, in this process, timed; the result is checked (one
//!    invoice per subscription, the numbers gapless, an audit event and an outbox event each).
//!
//! On the largest size the release `satang serve` then runs on the billed data:
//!
//! 3. **Usage ingestion**: `POST /api/usage-events` batches of 1,000 events over several
//!    connections, each batch with its own idempotency keys (sent in order, never repeated).
//! 4. **Analytics**: `GET /api/analytics/summary` over the freshly billed invoices.
//! 5. **Upcoming invoice**: `GET /api/subscriptions/{id}/upcoming-invoice` on one connection,
//!    over the TEAM subscriptions that just received usage (their next invoice sums it).
//!
//! Unless `--no-pricing`, each size is also loaded a second time into a fresh database and
//! billed with a quarter of the subscriptions under a coupon (20 % off, three periods) and a
//! tenth of the customers holding a ฿500.00 credit grant (half promotional, half prepaid), to
//! compare invoices/s with the plain run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use clap::Args;
use hyper::body::Bytes;
use uuid::Uuid;

use satang_store::clock::Clock;
use satang_store::{Backend, Db, Sql};

use crate::bulk_load::{self, LoadReport};
use crate::cli::CommonArgs;
use crate::customers::{Latency, authed, check, latency_phase, phase, wait_for_quiet_machine};
use crate::dataset::Dataset;
use crate::load::{Outcome, Plan, Target};
use crate::postgres::ScratchDatabase;
use crate::proc_stats::{CpuClock, Machine, NamedCpuSampler};
use crate::server::{RunningServer, satang_binary};
use crate::{billing_report, report};

#[derive(Debug, Clone, Args)]
pub struct BillingArgs {
    /// Due subscriptions to bill (one customer each); repeat for several sizes. Usage and
    /// analytics are measured on the largest.
    #[arg(long = "subscriptions", default_values_t = [100_000u64, 1_000_000])]
    pub sizes: Vec<u64>,
    /// Concurrent connections posting usage batches.
    #[arg(long, default_value_t = 4)]
    pub usage_connections: usize,
    /// Seconds of measured usage ingestion (after a 1 s warm-up).
    #[arg(long, default_value_t = 5)]
    pub usage_seconds: u64,
    /// Concurrent connections for the loaded analytics row (the other row uses one).
    #[arg(long, default_value_t = 4)]
    pub analytics_connections: usize,
    /// Seconds of measured load for each analytics row (after a 1 s warm-up).
    #[arg(long, default_value_t = 20)]
    pub analytics_seconds: u64,
    /// Seconds of measured `GET …/upcoming-invoice` on one connection (after a 1 s warm-up).
    #[arg(long, default_value_t = 10)]
    pub upcoming_seconds: u64,
    /// Skip the second run per size with coupons and credit grants.
    #[arg(long)]
    pub no_pricing: bool,
    /// Measure PostgreSQL only.
    #[arg(long)]
    pub no_sqlite: bool,
    /// Parent directory of the SQLite data directories (default: the system temp directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Events per usage request (the API's maximum).
pub const USAGE_BATCH: usize = 1000;
/// Distinct subscriptions in one usage batch.
pub const USAGE_SUBSCRIPTIONS_PER_BATCH: usize = 10;
/// The seed catalog's plans (migration 0003).
const PRO_MONTH: Uuid = Uuid::from_u128(0x01940000_0000_7000_8000_000000000101);
const PRO_YEAR: Uuid = Uuid::from_u128(0x01940000_0000_7000_8000_000000000102);
const TEAM_MONTH: Uuid = Uuid::from_u128(0x01940000_0000_7000_8000_000000000201);
const ENTERPRISE_MONTH: Uuid = Uuid::from_u128(0x01940000_0000_7000_8000_000000000301);

/// One size on one backend.
pub struct SizeResult {
    pub subscriptions: u64,
    pub load: LoadReport,
    /// Inserting the subscriptions (one `INSERT … SELECT`) and analysing.
    pub subscriptions_load: Duration,
    pub baseline: Baseline,
    pub run: RunMeasured,
    /// The same size on a fresh load with coupons and credit grants (`None`: `--no-pricing`).
    pub priced: Option<PricedRun>,
}

/// A billing run where a quarter of the subscriptions carry a coupon and a tenth of the
/// customers a credit grant.
pub struct PricedRun {
    pub run: RunMeasured,
    /// Subscriptions with a running discount before the run.
    pub discounts: u64,
    /// Credit grants before the run.
    pub grants: u64,
    /// Invoices issued with a discount (coupon or promotional credit).
    pub discounted_invoices: i64,
    /// Grants the run took from.
    pub grants_used: i64,
}

/// The plain `INSERT … SELECT` of invoice-shaped rows.
pub struct Baseline {
    pub rows: u64,
    pub invoices: Duration,
    pub lines: Duration,
    pub commit: Duration,
}

impl Baseline {
    pub fn total(&self) -> Duration {
        self.invoices + self.lines + self.commit
    }

    /// Invoices (each with its line) per second.
    pub fn per_second(&self) -> f64 {
        self.rows as f64 / self.total().as_secs_f64()
    }
}

pub struct RunMeasured {
    pub invoices: u64,
    pub elapsed: Duration,
    pub failed: u32,
    pub skipped_duplicates: u32,
    /// Cores busy on average: this process (the engine), PostgreSQL, the whole machine.
    pub engine_cores: f64,
    pub database_cores: f64,
    pub machine_cores: f64,
    pub check: RunCheck,
}

impl RunMeasured {
    pub fn per_second(&self) -> f64 {
        self.invoices as f64 / self.elapsed.as_secs_f64()
    }
}

/// What the database holds after the run.
#[derive(Debug, sqlx::FromRow)]
pub struct RunCheck {
    pub invoices: i64,
    pub distinct_numbers: i64,
    pub subscriptions_with_one_invoice: i64,
    pub last_number: i64,
    pub audit_events: i64,
    pub outbox_events: i64,
    pub still_due: i64,
}

pub struct UsageMeasured {
    pub outcome: Outcome,
    pub events_sent: u64,
    pub events_stored: i64,
}

impl UsageMeasured {
    pub fn events_per_second(&self) -> f64 {
        self.outcome.per_second() * USAGE_BATCH as f64
    }
}

pub struct BackendResult {
    pub sizes: Vec<SizeResult>,
    pub usage: Option<UsageMeasured>,
    pub analytics: Option<Latency>,
    /// `GET /api/subscriptions/{id}/upcoming-invoice` on one connection.
    pub upcoming: Option<Outcome>,
}

pub enum BackendRun {
    Measured(Box<BackendResult>),
    Skipped(String),
}

pub async fn run(mut args: BillingArgs, command_line: String) -> anyhow::Result<()> {
    args.sizes.sort_unstable();
    args.sizes.dedup();
    anyhow::ensure!(
        !args.sizes.is_empty(),
        "give at least one --subscriptions size"
    );
    let binary = satang_binary(args.common.satang.clone())?;
    let machine = Machine::describe();
    println!(
        "satang-bench billing: {:?} due subscriptions, {} ({} cores)",
        args.sizes, machine.cpu_model, machine.cores
    );

    println!("\n== SQLite");
    let sqlite = if args.no_sqlite {
        BackendRun::Skipped("not run (`--no-sqlite`)".into())
    } else {
        BackendRun::Measured(Box::new(bench_backend(&binary, &args, None).await?))
    };

    println!("\n== PostgreSQL");
    let postgres = if args.common.no_postgres {
        BackendRun::Skipped("not run (`--no-postgres`)".into())
    } else {
        match ScratchDatabase::create(&args.common.postgres_url).await {
            Err(e) => {
                let why = format!(
                    "skipped: cannot reach {} ({e:#})",
                    crate::postgres::redact_password(&args.common.postgres_url)
                );
                println!("{why}");
                BackendRun::Skipped(why)
            }
            Ok(db) => {
                // The server is reachable: each size gets its own scratch database.
                db.drop_database().await?;
                BackendRun::Measured(Box::new(
                    bench_backend(&binary, &args, Some(&args.common.postgres_url)).await?,
                ))
            }
        }
    };

    let report = billing_report::BillingReport {
        machine: &machine,
        command_line: &command_line,
        args: &args,
        backends: &[("SQLite", &sqlite), ("PostgreSQL", &postgres)],
    };
    report::write_section(
        &args.common.out,
        billing_report::BILLING_SECTION,
        &report.render(),
    )?;
    println!("\nwrote {}", args.common.out.display());
    Ok(())
}

/// Every size on one backend (`postgres_admin` = None: SQLite).
async fn bench_backend(
    binary: &Path,
    args: &BillingArgs,
    postgres_admin: Option<&str>,
) -> anyhow::Result<BackendResult> {
    let mut result = BackendResult {
        sizes: Vec::new(),
        usage: None,
        analytics: None,
        upcoming: None,
    };
    let largest = args.sizes.last().copied().unwrap_or(0);
    for &size in &args.sizes {
        let last = size == largest;
        match postgres_admin {
            None => {
                let mut builder = tempfile::Builder::new();
                builder.prefix("satang-bench-billing-");
                let dir = match &args.work_dir {
                    Some(parent) => builder.tempdir_in(parent)?,
                    None => builder.tempdir()?,
                };
                let set = Dataset::new(size, Utc::now());
                println!("-- {size} subscriptions in {}", dir.path().display());
                let load = bulk_load::load_sqlite(dir.path(), &set).await?;
                let db = Db::open_sqlite(dir.path()).await?;
                let mut measured = bill_size(&db, size, load).await?;
                if last {
                    let server = RunningServer::start(binary, dir.path(), None).await?;
                    let served = serve_phases(&server, &db, args, &mut result).await;
                    server.stop().await?;
                    served?;
                }
                db_close(db).await;
                // The billed copy goes before the priced one is loaded: at a million
                // subscriptions each takes many gigabytes.
                drop(dir);
                if !args.no_pricing {
                    measured.priced = Some(priced_size(args, size, None).await?);
                }
                result.sizes.push(measured);
            }
            Some(admin) => {
                let scratch = ScratchDatabase::create(admin).await?;
                println!("-- {size} subscriptions in database {}", scratch.name());
                let measured = async {
                    let set = Dataset::new(size, Utc::now());
                    let load = bulk_load::load_postgres(&scratch.url, &set).await?;
                    let db = Db::open_postgres(&scratch.url, 16).await?;
                    let measured = bill_size(&db, size, load).await?;
                    if last {
                        let dir = tempfile::Builder::new()
                            .prefix("satang-bench-billing-")
                            .tempdir()?;
                        let server =
                            RunningServer::start(binary, dir.path(), Some(&scratch.url)).await?;
                        let served = serve_phases(&server, &db, args, &mut result).await;
                        server.stop().await?;
                        served?;
                    }
                    db_close(db).await;
                    anyhow::Ok(measured)
                }
                .await;
                // Dropped before the priced copy is loaded (disk space, as above).
                let dropped = scratch.drop_database().await;
                let mut measured = measured?;
                dropped?;
                if !args.no_pricing {
                    measured.priced = Some(priced_size(args, size, Some(admin)).await?);
                }
                result.sizes.push(measured);
            }
        }
    }
    Ok(result)
}

async fn db_close(db: Db) {
    db.close().await
}

/// Subscriptions, baseline and billing run on a loaded customer book.
async fn bill_size(db: &Db, size: u64, load: LoadReport) -> anyhow::Result<SizeResult> {
    println!(
        "loaded {} customers in {:.1} s",
        load.customers,
        load.total.as_secs_f64()
    );
    let now = Utc::now();
    let today = satang_domain::bangkok_date(now);
    let started = Instant::now();
    let inserted = insert_due_subscriptions(db, today, now).await?;
    anyhow::ensure!(
        inserted == size,
        "inserted {inserted} subscriptions, expected {size}"
    );
    let subscriptions_load = started.elapsed();
    println!(
        "inserted {inserted} due subscriptions in {:.1} s",
        subscriptions_load.as_secs_f64()
    );

    wait_for_quiet_machine().await;
    let baseline = baseline(db, now).await?;
    println!(
        "baseline INSERT … SELECT: {} invoices and lines in {:.1} s = {:.0} /s",
        baseline.rows,
        baseline.total().as_secs_f64(),
        baseline.per_second()
    );

    wait_for_quiet_machine().await;
    let run = billing_run(db, size).await?;
    println!(
        "billing run: {} invoices in {:.1} s = {:.0} /s ({:.0} % of the baseline); failed {}, \
         duplicates {}",
        run.invoices,
        run.elapsed.as_secs_f64(),
        run.per_second(),
        100.0 * run.per_second() / baseline.per_second(),
        run.failed,
        run.skipped_duplicates
    );
    println!("  check: {:?}", run.check);
    Ok(SizeResult {
        subscriptions: size,
        load,
        subscriptions_load,
        baseline,
        run,
        priced: None,
    })
}

/// `size` loaded again into a fresh database (a temporary directory, or a scratch database on
/// `postgres_admin`) and billed with coupons and credit grants.
async fn priced_size(
    args: &BillingArgs,
    size: u64,
    postgres_admin: Option<&str>,
) -> anyhow::Result<PricedRun> {
    match postgres_admin {
        None => {
            let mut builder = tempfile::Builder::new();
            builder.prefix("satang-bench-billing-priced-");
            let dir = match &args.work_dir {
                Some(parent) => builder.tempdir_in(parent)?,
                None => builder.tempdir()?,
            };
            let set = Dataset::new(size, Utc::now());
            println!(
                "-- {size} subscriptions with coupons and credit in {}",
                dir.path().display()
            );
            bulk_load::load_sqlite(dir.path(), &set).await?;
            let db = Db::open_sqlite(dir.path()).await?;
            let priced = bill_priced(&db, size).await;
            db_close(db).await;
            priced
        }
        Some(admin) => {
            let scratch = ScratchDatabase::create(admin).await?;
            println!(
                "-- {size} subscriptions with coupons and credit in database {}",
                scratch.name()
            );
            let priced = async {
                let set = Dataset::new(size, Utc::now());
                bulk_load::load_postgres(&scratch.url, &set).await?;
                let db = Db::open_postgres(&scratch.url, 16).await?;
                let priced = bill_priced(&db, size).await;
                db_close(db).await;
                priced
            }
            .await;
            let dropped = scratch.drop_database().await;
            let priced = priced?;
            dropped?;
            Ok(priced)
        }
    }
}

/// The due subscriptions of [`bill_size`], then a coupon on a quarter of them and a credit
/// grant for a tenth of the customers, then the billing run, timed and checked.
async fn bill_priced(db: &Db, size: u64) -> anyhow::Result<PricedRun> {
    let now = Utc::now();
    let today = satang_domain::bangkok_date(now);
    let inserted = insert_due_subscriptions(db, today, now).await?;
    anyhow::ensure!(
        inserted == size,
        "inserted {inserted} subscriptions, expected {size}"
    );
    let (discounts, grants) = insert_pricing(db, now).await?;
    println!("{discounts} subscriptions with a coupon, {grants} customers with credit");
    wait_for_quiet_machine().await;
    let run = billing_run(db, size).await?;
    #[derive(sqlx::FromRow)]
    struct Priced {
        discounted_invoices: i64,
        grants_used: i64,
    }
    let p: Priced = db
        .fetch_one(Sql::new(
            "SELECT (SELECT count(*) FROM invoices WHERE discount > 0) AS discounted_invoices, \
               (SELECT count(*) FROM credit_grants WHERE remaining < amount) AS grants_used",
        ))
        .await?;
    anyhow::ensure!(
        p.discounted_invoices >= i64::try_from(discounts)?
            && p.grants_used == i64::try_from(grants)?,
        "{} invoices discounted for {discounts} coupons, {} of {grants} grants used",
        p.discounted_invoices,
        p.grants_used
    );
    println!(
        "billing run with coupons and credit: {} invoices in {:.1} s = {:.0} /s; {} discounted, \
         {} grants used",
        run.invoices,
        run.elapsed.as_secs_f64(),
        run.per_second(),
        p.discounted_invoices,
        p.grants_used
    );
    Ok(PricedRun {
        run,
        discounts,
        grants,
        discounted_invoices: p.discounted_invoices,
        grants_used: p.grants_used,
    })
}

/// One coupon (20 % off for three periods) running on every fourth subscription, and a
/// ฿500.00 credit grant (promotional and prepaid alternately) for every tenth customer, written
/// as the API would have left them. Returns (discounts, grants).
async fn insert_pricing(db: &Db, now: DateTime<Utc>) -> anyhow::Result<(u64, u64)> {
    let (id, sub_bucket, customer_bucket, subscriptions, customers) = match db.backend() {
        Backend::Postgres => (
            "gen_random_uuid()",
            "get_byte(uuid_send(s.id), 14)",
            "get_byte(uuid_send(c.id), 14)",
            "customers.subscriptions",
            "customers.customers",
        ),
        Backend::Sqlite => (
            "randomblob(16)",
            "s.rowid",
            "c.rowid",
            "subscriptions",
            "customers",
        ),
    };
    let coupon = Uuid::now_v7();
    db.execute(
        Sql::new(
            "INSERT INTO coupons (id, code, name_th, name_en, percent_off_bps, duration, \
             duration_in_periods, active, times_redeemed, created_at, updated_at) \
             VALUES ($1, 'BENCH20', 'ลด 20 %', '20 % off', 2000, 'repeating', 3, TRUE, 0, $2, $2)",
        )
        .bind(coupon)
        .bind(now),
    )
    .await?;
    let discounts = db
        .execute(
            Sql::new(format!(
                "INSERT INTO discounts (id, subscription_id, customer_id, coupon_id, \
                 coupon_code, percent_off_bps, duration, periods_remaining, starts_at, \
                 created_at) \
                 SELECT {id}, b.id, b.customer_id, $1, 'BENCH20', 2000, 'repeating', 3, $2, $2 \
                 FROM (SELECT s.id AS id, s.customer_id AS customer_id, {sub_bucket} % 4 AS k \
                       FROM {subscriptions} s) b WHERE b.k = 0"
            ))
            .bind(coupon)
            .bind(now),
        )
        .await?;
    db.execute(
        Sql::new("UPDATE coupons SET times_redeemed = $1 WHERE id = $2")
            .bind(i64::try_from(discounts)?)
            .bind(coupon),
    )
    .await?;
    let grants = db
        .execute(
            Sql::new(format!(
                "INSERT INTO credit_grants (id, customer_id, grant_type, amount, remaining, \
                 currency, priority, status, created_at, updated_at) \
                 SELECT {id}, b.id, CASE WHEN b.k % 20 = 0 THEN 'promotional' ELSE 'prepaid' \
                 END, 50000, 50000, 'THB', 50, 'active', $1, $1 \
                 FROM (SELECT c.id AS id, {customer_bucket} AS k FROM {customers} c) b \
                 WHERE b.k % 10 = 0"
            ))
            .bind(now),
        )
        .await?;
    match db.backend() {
        Backend::Postgres => {
            db.execute(Sql::new(
                "VACUUM (ANALYZE) billing.discounts, billing.credit_grants",
            ))
            .await?;
        }
        Backend::Sqlite => {
            db.execute(Sql::new("ANALYZE")).await?;
        }
    }
    Ok((discounts, grants))
}

/// One subscription per customer, all due today (Bangkok), by a bucket of the customer:
/// 55 % PRO monthly, 10 % PRO yearly, 20 % TEAM monthly (5 seats, metered SMS alerts), 5 %
/// ENTERPRISE monthly (metered satellite images), all `active` with their period ending today;
/// 10 % PRO monthly `trialing` with the trial ending today (their first paid period starts).
pub(crate) async fn insert_due_subscriptions(
    db: &Db,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let (id, bucket, table) = match db.backend() {
        Backend::Postgres => (
            "gen_random_uuid()",
            "get_byte(uuid_send(c.id), 15) % 20",
            "customers.customers",
        ),
        Backend::Sqlite => ("randomblob(16)", "c.rowid % 20", "customers"),
    };
    let month_ago = today.checked_sub_months(Months::new(1)).unwrap_or(today);
    let year_ago = today.checked_sub_months(Months::new(12)).unwrap_or(today);
    let trial_start = today.checked_sub_days(Days::new(14)).unwrap_or(today);
    let sql = Sql::new(format!(
        "INSERT INTO subscriptions (id, customer_id, plan_id, quantity, status, \
         collection_method, start_date, trial_end, current_period_start, current_period_end, \
         billing_anchor_day, next_billing_date, cancel_at_period_end, created_at, updated_at, \
         version) \
         SELECT {id}, b.id, \
           CASE WHEN b.k <= 10 OR b.k >= 18 THEN $1 WHEN b.k <= 12 THEN $2 \
                WHEN b.k <= 16 THEN $3 ELSE $4 END, \
           CASE WHEN b.k BETWEEN 13 AND 16 THEN 5 ELSE 1 END, \
           CASE WHEN b.k >= 18 THEN 'trialing' ELSE 'active' END, \
           'send_invoice', \
           CASE WHEN b.k >= 18 THEN $5 WHEN b.k IN (11, 12) THEN $6 ELSE $7 END, \
           CASE WHEN b.k >= 18 THEN $8 END, \
           CASE WHEN b.k >= 18 THEN $5 WHEN b.k IN (11, 12) THEN $6 ELSE $7 END, \
           $8, $9, $8, FALSE, $10, $10, 1 \
         FROM (SELECT c.id AS id, {bucket} AS k FROM {table} c) b"
    ))
    .bind(PRO_MONTH)
    .bind(PRO_YEAR)
    .bind(TEAM_MONTH)
    .bind(ENTERPRISE_MONTH)
    .bind(trial_start)
    .bind(year_ago)
    .bind(month_ago)
    .bind(today)
    .bind(i64::from(today.day()))
    .bind(now);
    let inserted = db.execute(sql).await?;
    bulk_load::analyze_subscriptions(db).await?;
    Ok(inserted)
}

/// The yardstick: one invoice-shaped row and its line per subscription, by `INSERT … SELECT`
/// into copies of the two tables (same columns, defaults and indexes), in one transaction.
async fn baseline(db: &Db, now: DateTime<Utc>) -> anyhow::Result<Baseline> {
    let seller = serde_json::json!({
        "company_name": {"th": "บริษัท สตางค์ซอฟต์ จำกัด", "en": "Satang Soft Co., Ltd."},
        "tax_id": "0105561000013", "branch_code": "00000",
        "address": {"line1": "99/9 ถนนพหลโยธิน", "district": "จตุจักร", "province": "กรุงเทพมหานคร",
                    "postal_code": "10900", "country": "TH"},
        "phone": "02-000-0000", "email": "billing@satang.example",
    });
    let due = satang_domain::bangkok_date(now)
        .checked_add_days(Days::new(30))
        .unwrap_or_default();
    let pg = db.backend() == Backend::Postgres;
    for sql in copy_tables_sql(db).await? {
        db.execute(Sql::new(sql)).await?;
    }
    let (uuid, number, snapshot, seller_param, period_end) = if pg {
        (
            "gen_random_uuid()",
            "lpad(CAST(row_number() OVER (ORDER BY s.id) AS text), 7, '0')",
            "jsonb_build_object('name', c.name, 'legal_name', c.legal_name, 'tax_id', c.tax_id, \
             'branch_code', c.branch_code, 'address', c.address)",
            "$3",
            "s.current_period_end + 30",
        )
    } else {
        (
            "randomblob(16)",
            "printf('%07d', row_number() OVER (ORDER BY s.id))",
            "json_object('name', c.name, 'legal_name', c.legal_name, 'tax_id', c.tax_id, \
             'branch_code', c.branch_code, 'address', json(c.address))",
            "$3",
            "date(s.current_period_end, '+30 days')",
        )
    };
    let invoices = format!(
        "INSERT INTO bench_invoices (id, number, customer_id, subscription_id, status, currency, \
         subtotal, discount, vat_rate_bps, vat_amount, total, withholding_tax, amount_paid, \
         amount_due, credit_applied, amount_credited, prices_include_vat, issued_at, due_date, \
         period_start, period_end, billing_reason, customer_snapshot, seller_snapshot, \
         created_at, updated_at, version, mrr, collection_method, collection_attempts) \
         SELECT {uuid}, 'INV-2026-' || {number}, s.customer_id, s.id, 'open', p.currency, \
           p.price * s.quantity, 0, 700, p.price * s.quantity * 7 / 100, \
           p.price * s.quantity * 107 / 100, 0, 0, p.price * s.quantity * 107 / 100, 0, 0, \
           FALSE, $1, $2, s.current_period_end, {period_end}, 'subscription_cycle', \
           {snapshot}, {seller_param}, $1, $1, 2, p.price * s.quantity, 'send_invoice', 0 \
         FROM subscriptions s JOIN customers c ON c.id = s.customer_id \
         JOIN plan_catalog p ON p.id = s.plan_id"
    );
    let lines = format!(
        "INSERT INTO bench_invoice_lines (id, invoice_id, position, kind, description, \
         period_start, period_end, quantity, unit_amount, amount) \
         SELECT {uuid}, i.id, 0, 'subscription', \
           'Pro (PRO, month), ' || i.period_start || ' – ' || i.period_end, \
           i.period_start, i.period_end, 1, i.subtotal, i.subtotal FROM bench_invoices i"
    );
    let mut tx = db.begin().await?;
    let started = Instant::now();
    let rows = tx
        .execute(Sql::new(invoices).bind(now).bind(due).bind(seller))
        .await?;
    let invoices_took = started.elapsed();
    let started = Instant::now();
    let line_rows = tx.execute(Sql::new(lines)).await?;
    let lines_took = started.elapsed();
    let started = Instant::now();
    tx.commit().await?;
    let commit = started.elapsed();
    anyhow::ensure!(line_rows == rows, "{line_rows} lines for {rows} invoices");
    for table in ["bench_invoice_lines", "bench_invoices"] {
        db.execute(Sql::new(format!("DROP TABLE {table}"))).await?;
    }
    Ok(Baseline {
        rows,
        invoices: invoices_took,
        lines: lines_took,
        commit,
    })
}

/// `CREATE TABLE` statements for `bench_invoices` and `bench_invoice_lines`, shaped like the
/// product's tables with their indexes (not their triggers: the baseline is the rows alone).
async fn copy_tables_sql(db: &Db) -> anyhow::Result<Vec<String>> {
    if db.backend() == Backend::Postgres {
        return Ok(vec![
            "CREATE TABLE public.bench_invoices (LIKE billing.invoices INCLUDING ALL)".into(),
            "CREATE TABLE public.bench_invoice_lines (LIKE billing.invoice_lines INCLUDING ALL)"
                .into(),
        ]);
    }
    #[derive(sqlx::FromRow)]
    struct Definition {
        sql: String,
    }
    let rows: Vec<Definition> = db
        .fetch_all(Sql::new(
            "SELECT sql FROM sqlite_master WHERE tbl_name IN ('invoices', 'invoice_lines') \
             AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type DESC, tbl_name",
        ))
        .await?;
    Ok(rows
        .into_iter()
        .map(|d| {
            d.sql
                .replace("TABLE invoices", "TABLE bench_invoices")
                .replace("TABLE invoice_lines", "TABLE bench_invoice_lines")
                .replace("INDEX invoices", "INDEX bench_invoices")
                .replace(" ON invoices ", " ON bench_invoices ")
                .replace("REFERENCES invoices", "REFERENCES bench_invoices")
        })
        .collect())
}

/// The billing run itself, timed, then checked.
async fn billing_run(db: &Db, size: u64) -> anyhow::Result<RunMeasured> {
    let clock = Clock::system();
    let engine = CpuClock::of_self()?;
    let database = NamedCpuSampler::start("postgres")?;
    let machine = CpuClock::of_machine()?;
    let started = Instant::now();
    let report = satang_billing::run_billing(db, &clock, clock.now()).await?;
    let elapsed = started.elapsed();
    let engine_cores = engine.cores_since()?;
    let database_cores = database.stop();
    let machine_cores = machine.cores_since()?;
    let check: RunCheck = db
        .fetch_one(
            Sql::new(
                "SELECT \
               (SELECT count(*) FROM invoices) AS invoices, \
               (SELECT count(DISTINCT number) FROM invoices) AS distinct_numbers, \
               (SELECT count(*) FROM (SELECT subscription_id FROM invoices \
                  GROUP BY subscription_id HAVING count(*) = 1) one) \
                 AS subscriptions_with_one_invoice, \
               (SELECT COALESCE(MAX(last_value), 0) FROM document_sequences \
                  WHERE kind = 'invoice') AS last_number, \
               (SELECT count(*) FROM audit_events) AS audit_events, \
               (SELECT count(*) FROM outbox_events) AS outbox_events, \
               (SELECT count(*) FROM subscriptions WHERE next_billing_date <= $1 \
                  AND status IN ('trialing', 'active', 'past_due')) AS still_due",
            )
            .bind(report.date.unwrap_or_default()),
        )
        .await?;
    let n = i64::try_from(size)?;
    anyhow::ensure!(
        check.invoices == n
            && check.distinct_numbers == n
            && check.subscriptions_with_one_invoice == n
            && check.last_number == n
            && check.still_due == 0,
        "the billing run did not bill every subscription exactly once with gapless numbers: \
         {check:?}"
    );
    Ok(RunMeasured {
        invoices: u64::from(report.invoices_created),
        elapsed,
        failed: report.failed,
        skipped_duplicates: report.skipped_duplicates,
        engine_cores,
        database_cores,
        machine_cores,
        check,
    })
}

/// Usage ingestion and analytics against `satang serve` on the billed data.
async fn serve_phases(
    server: &RunningServer,
    db: &Db,
    args: &BillingArgs,
    result: &mut BackendResult,
) -> anyhow::Result<()> {
    println!("serving on {} (pid {})", server.addr, server.pid);
    wait_for_quiet_machine().await;

    // Analytics first, over exactly the billed data.
    let summary = authed(server, Target::get("/api/analytics/summary")).await?;
    check(server, &summary, None).await?;
    let plan = Plan {
        concurrency: args.analytics_connections.max(1),
        warm_up: Duration::from_secs(1),
        measure: Duration::from_secs(args.analytics_seconds.max(1)),
    };
    result.analytics =
        Some(latency_phase(server, "GET /api/analytics/summary", summary, plan).await?);

    // Usage: TEAM subscriptions (their plan prices `sms_alerts`).
    let subscriptions = team_subscriptions(server).await?;
    anyhow::ensure!(
        subscriptions.len() >= USAGE_SUBSCRIPTIONS_PER_BATCH,
        "too few TEAM subscriptions for the usage batches"
    );
    let plan = Plan {
        concurrency: args.usage_connections.max(1),
        warm_up: Duration::from_secs(1),
        measure: Duration::from_secs(args.usage_seconds.max(1)),
    };
    // Enough batches for 250,000 events/s over the warm-up and the measurement: none repeats
    // (a repeated batch is all duplicates, cheaper than new events; the report shows events
    // sent against stored). A measurement taken again because the machine was busy sends the
    // bodies again from where the first one stopped.
    let batches = (250 * (plan.warm_up + plan.measure).as_secs() as usize).max(100);
    let bodies = usage_bodies(&subscriptions, batches);
    let target = authed(
        server,
        Target::post_json_bytes("/api/usage-events", bodies).bodies_in_order(),
    )
    .await?;
    check(server, &target, None).await?;
    let outcome = phase(
        server,
        "POST /api/usage-events (1,000)",
        target.clone(),
        plan,
    )
    .await?;
    let events_sent = target.bodies_sent() * USAGE_BATCH as u64;
    let events_stored = count_usage(db).await?;
    println!(
        "usage: {:.0} events/s; sent {events_sent}, stored {events_stored}",
        outcome.per_second() * USAGE_BATCH as f64
    );
    result.usage = Some(UsageMeasured {
        outcome,
        events_sent,
        events_stored,
    });

    // The upcoming invoice of those subscriptions (each sums its usage so far), one
    // connection: a person's wait on the subscription tab.
    wait_for_quiet_machine().await;
    let paths: Vec<String> = subscriptions
        .iter()
        .map(|id| format!("/api/subscriptions/{id}/upcoming-invoice"))
        .collect();
    let target = authed(server, Target::get_any(paths)).await?;
    check(server, &target, None).await?;
    let plan = Plan {
        concurrency: 1,
        warm_up: Duration::from_secs(1),
        measure: Duration::from_secs(args.upcoming_seconds.max(1)),
    };
    let outcome = phase(
        server,
        "GET /api/subscriptions/{id}/upcoming-invoice (1 conn.)",
        target,
        plan,
    )
    .await?;
    println!(
        "upcoming invoice: p50 {:.2} ms, p95 {:.2} ms",
        outcome.percentile_ms(0.50),
        outcome.percentile_ms(0.95)
    );
    result.upcoming = Some(outcome);
    Ok(())
}

/// Up to 1,000 TEAM monthly subscriptions, read through the API.
async fn team_subscriptions(server: &RunningServer) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    while ids.len() < 1000 {
        let path = match &cursor {
            Some(c) => format!("/api/subscriptions?limit=200&cursor={c}"),
            None => "/api/subscriptions?limit=200".to_owned(),
        };
        let target = authed(server, Target::get(&path)).await?;
        let (_, body) = crate::load::send_once(server.addr, &target).await?;
        let page: serde_json::Value = serde_json::from_slice(&body)?;
        let Some(rows) = page["data"].as_array() else {
            anyhow::bail!("GET {path}: {}", String::from_utf8_lossy(&body));
        };
        ids.extend(
            rows.iter()
                .filter(|s| s["plan_id"].as_str() == Some(&TEAM_MONTH.to_string()))
                .filter_map(|s| s["id"].as_str()?.parse::<Uuid>().ok()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    Ok(ids)
}

/// `count` request bodies of 1,000 events each, over [`USAGE_SUBSCRIPTIONS_PER_BATCH`]
/// subscriptions per batch, every idempotency key unique.
fn usage_bodies(subscriptions: &[Uuid], count: usize) -> Vec<Bytes> {
    let at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    (0..count)
        .map(|b| {
            let mut body = String::with_capacity(USAGE_BATCH * 160);
            body.push_str("{\"events\":[");
            for j in 0..USAGE_BATCH {
                let k = (b * USAGE_SUBSCRIPTIONS_PER_BATCH + j % USAGE_SUBSCRIPTIONS_PER_BATCH)
                    % subscriptions.len();
                if j > 0 {
                    body.push(',');
                }
                body.push_str(&format!(
                    "{{\"subscription_id\":\"{}\",\"metric\":\"sms_alerts\",\"quantity\":{},\
                     \"timestamp\":\"{at}\",\"idempotency_key\":\"bench-{b}-{j}\"}}",
                    subscriptions[k],
                    1 + j % 5
                ));
            }
            body.push_str("]}");
            Bytes::from(body)
        })
        .collect()
}

/// Usage events stored, read from the database the server uses.
async fn count_usage(db: &Db) -> anyhow::Result<i64> {
    #[derive(sqlx::FromRow)]
    struct Count {
        n: i64,
    }
    let row: Count = db
        .fetch_one(Sql::new("SELECT count(*) AS n FROM usage_events"))
        .await?;
    Ok(row.n)
}
