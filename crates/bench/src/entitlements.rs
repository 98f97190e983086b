//! `satang-bench entitlements`: issue 26's figures, on SQLite and PostgreSQL.
//!
//! For each backend a fresh database gets 100,000 customers (the generated book of
//! [`crate::bulk_load`]) with one live TEAM monthly subscription each (mid-period, not due), and
//! the release `satang serve` runs on it. An administrator creates an API key with the scopes
//! `entitlements:read` and `usage:write`. Then, on 16 keep-alive connections:
//!
//! 1. `GET /healthz`: the ceiling of the HTTP stack on this machine;
//! 2. `GET /api/entitlements/check?customer_id=…&feature=…` with the API key, over 65,536 random
//!    customers and two keys (a feature of the plan, `sensor_dashboard`, and a limit, `farms`):
//!    target ≥ 50 % of the `/healthz` rate, p99 ≤ 5 ms;
//! 3. `POST /api/usage-events` batches (100 events over 10 TEAM subscriptions, every
//!    idempotency key new) with a person's access token, then the same with the API key:
//!    target: the key no slower than the token.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Datelike, Days, NaiveDate, Utc};
use clap::Args;
use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::json;
use uuid::Uuid;

use satang_store::{Backend, Db, Sql};

use crate::bulk_load;
use crate::cli::CommonArgs;
use crate::customers::{authed, check, phase, wait_for_quiet_machine};
use crate::customers_report::thousands;
use crate::dataset::Dataset;
use crate::load::{self, Outcome, Plan, SplitMix64, Target};
use crate::postgres::ScratchDatabase;
use crate::proc_stats::Machine;
use crate::report::{self, ms, pass};
use crate::server::{RunningServer, satang_binary};

pub const ENTITLEMENTS_SECTION: &str = "entitlements";

/// The seed catalog's TEAM monthly plan (migration 0003): features, limits and metered SMS.
const TEAM_MONTH: Uuid = Uuid::from_u128(0x01940000_0000_7000_8000_000000000201);
/// Distinct customers the checks pick from.
const CHECKED_CUSTOMERS: i64 = 65_536;
/// Events per usage batch, and subscriptions per batch.
const USAGE_BATCH: usize = 100;
const USAGE_SUBSCRIPTIONS_PER_BATCH: usize = 10;
/// The usage rows alternate the two ways in, in this many rounds of two short phases.
const USAGE_ROUNDS: usize = 4;
const USAGE_PHASE: Duration = Duration::from_secs(3);
const USAGE_WARM_UP: Duration = Duration::from_millis(500);
/// Targets of issue 26.
const CHECK_SHARE_TARGET: f64 = 0.50;
const CHECK_P99_TARGET_MS: f64 = 5.0;

#[derive(Debug, Clone, Args)]
pub struct EntitlementsArgs {
    /// Customers loaded (one live subscription each).
    #[arg(long, default_value_t = 100_000)]
    pub customers: u64,
    /// Concurrent keep-alive connections for `/healthz` and the checks.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds of measured load per row (after the warm-up).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Seconds of warm-up per row (the checks' first requests fill the entitlement cache).
    #[arg(long, default_value_t = 2)]
    pub warm_up: u64,
    /// Concurrent connections posting usage batches.
    #[arg(long, default_value_t = 4)]
    pub usage_connections: usize,
    /// Usage batches made for each way in (token, API key); each is sent once at most, and the
    /// bench stops if they run out.
    #[arg(long, default_value_t = 24_000)]
    pub usage_batches: usize,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Measure PostgreSQL only.
    #[arg(long)]
    pub no_sqlite: bool,
}

impl EntitlementsArgs {
    fn plan(&self, concurrency: usize) -> Plan {
        Plan {
            concurrency: concurrency.max(1),
            warm_up: Duration::from_secs(self.warm_up),
            measure: Duration::from_secs(self.seconds.max(1)),
        }
    }
}

/// Everything measured on one backend.
pub struct BackendResult {
    pub healthz: Outcome,
    pub check: Outcome,
    /// The first ask for every checked customer (each a load from the database), before the
    /// measured checks.
    pub fill: Fill,
    pub usage_token: Outcome,
    pub usage_key: Outcome,
}

pub enum BackendRun {
    Measured(Box<BackendResult>),
    Skipped(String),
}

pub async fn run(args: EntitlementsArgs, command_line: String) -> anyhow::Result<()> {
    let binary = satang_binary(args.common.satang.clone())?;
    let machine = Machine::describe();
    println!(
        "satang-bench entitlements: {} customers, {} ({} cores)",
        args.customers, machine.cpu_model, machine.cores
    );
    println!("\n== SQLite");
    let sqlite = if args.no_sqlite {
        BackendRun::Skipped("not run (`--no-sqlite`)".into())
    } else {
        let dir = tempfile::Builder::new()
            .prefix("satang-bench-entitlements-")
            .tempdir()?;
        let set = Dataset::new(args.customers, Utc::now());
        bulk_load::load_sqlite(dir.path(), &set).await?;
        let db = Db::open_sqlite(dir.path()).await?;
        let measured = bench_backend(&binary, &db, dir.path(), None, &args).await;
        db.close().await;
        BackendRun::Measured(Box::new(measured?))
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
            Ok(scratch) => {
                println!("scratch database {}", scratch.name());
                let measured = async {
                    let set = Dataset::new(args.customers, Utc::now());
                    bulk_load::load_postgres(&scratch.url, &set).await?;
                    let db = Db::open_postgres(&scratch.url, 4).await?;
                    let dir = tempfile::Builder::new()
                        .prefix("satang-bench-entitlements-")
                        .tempdir()?;
                    let measured =
                        bench_backend(&binary, &db, dir.path(), Some(&scratch.url), &args).await;
                    db.close().await;
                    measured
                }
                .await;
                let dropped = scratch.drop_database().await;
                let measured = measured?;
                dropped?;
                BackendRun::Measured(Box::new(measured))
            }
        }
    };
    let body = render(
        &machine,
        &command_line,
        &args,
        &[("SQLite", &sqlite), ("PostgreSQL", &postgres)],
    );
    report::write_section(&args.common.out, ENTITLEMENTS_SECTION, &body)?;
    println!("\nwrote {}", args.common.out.display());
    Ok(())
}

/// One backend: live subscriptions, the server, the key, the phases.
async fn bench_backend(
    binary: &Path,
    db: &Db,
    dir: &Path,
    database_url: Option<&str>,
    args: &EntitlementsArgs,
) -> anyhow::Result<BackendResult> {
    let today = satang_domain::bangkok_date(Utc::now());
    let inserted = insert_live_subscriptions(db, today).await?;
    println!("inserted {inserted} live TEAM subscriptions");
    let customers = sample(db, "customer_id", CHECKED_CUSTOMERS).await?;
    let subscriptions = sample(db, "id", 1000).await?;
    anyhow::ensure!(
        subscriptions.len() >= USAGE_SUBSCRIPTIONS_PER_BATCH,
        "too few subscriptions for the usage batches"
    );
    let server = RunningServer::start(binary, dir, database_url).await?;
    println!("serving on {} (pid {})", server.addr, server.pid);
    let measured = measure(&server, args, &customers, &subscriptions).await;
    server.stop().await?;
    measured
}

/// One live TEAM monthly subscription per customer, mid-period (ten days in, twenty to go):
/// nothing is due, so the scheduler bills nothing during the measurement.
async fn insert_live_subscriptions(db: &Db, today: NaiveDate) -> anyhow::Result<u64> {
    let (id, table) = match db.backend() {
        Backend::Postgres => ("gen_random_uuid()", "customers.customers"),
        Backend::Sqlite => ("randomblob(16)", "customers"),
    };
    let start = today.checked_sub_days(Days::new(10)).unwrap_or(today);
    let end = today.checked_add_days(Days::new(20)).unwrap_or(today);
    let now = Utc::now();
    let sql = Sql::new(format!(
        "INSERT INTO subscriptions (id, customer_id, plan_id, quantity, status, \
         collection_method, start_date, current_period_start, current_period_end, \
         billing_anchor_day, next_billing_date, cancel_at_period_end, created_at, updated_at, \
         version) \
         SELECT {id}, c.id, $1, 5, 'active', 'send_invoice', $2, $2, $3, $4, $3, FALSE, $5, $5, 1 \
         FROM {table} c"
    ))
    .bind(TEAM_MONTH)
    .bind(start)
    .bind(end)
    .bind(i64::from(start.day()))
    .bind(now);
    let inserted = db.execute(sql).await?;
    bulk_load::analyze_subscriptions(db).await?;
    Ok(inserted)
}

/// Up to `limit` values of `column` of the subscriptions, in id order (the ids are random, so
/// this is a random sample).
async fn sample(db: &Db, column: &str, limit: i64) -> anyhow::Result<Vec<Uuid>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        v: Uuid,
    }
    let rows: Vec<Row> = db
        .fetch_all(
            Sql::new(format!(
                "SELECT {column} AS v FROM subscriptions ORDER BY id LIMIT $1"
            ))
            .bind(limit),
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.v).collect())
}

async fn measure(
    server: &RunningServer,
    args: &EntitlementsArgs,
    customers: &[Uuid],
    subscriptions: &[Uuid],
) -> anyhow::Result<BackendResult> {
    let key = create_api_key(server).await?;
    let mut rng = SplitMix64(0x5A7A_4E60_0000_0026);
    let paths: Vec<String> = customers
        .iter()
        .map(|c| {
            let feature = if rng.below(2) == 0 {
                "sensor_dashboard"
            } else {
                "farms"
            };
            format!("/api/entitlements/check?customer_id={c}&feature={feature}")
        })
        .collect();
    let checks = Target::get_any(paths).with_bearer(&key)?;
    check(server, &checks, None).await?;

    wait_for_quiet_machine().await;
    let fill = fill_cache(server, &checks, args.concurrency).await?;
    let plan = args.plan(args.concurrency);
    let healthz = phase(server, "GET /healthz", Target::get("/healthz"), plan).await?;
    let check_outcome = phase(server, "GET /api/entitlements/check (key)", checks, plan).await?;

    // Usage: batches that are each sent once (new idempotency keys, so every event is
    // written). The usage table grows and PostgreSQL checkpoints while they go in, so the two
    // ways in alternate in short phases (token, key; key, token; …), each way's merged.
    let bodies = args.usage_batches;
    let by_token = authed(
        server,
        Target::post_json_bytes(
            "/api/usage-events",
            usage_bodies(subscriptions, bodies, "token"),
        )
        .bodies_in_order(),
    )
    .await?;
    check(server, &by_token, None).await?;
    let by_key = Target::post_json_bytes(
        "/api/usage-events",
        usage_bodies(subscriptions, bodies, "key"),
    )
    .bodies_in_order()
    .with_bearer(&key)?;
    check(server, &by_key, None).await?;
    let short = Plan {
        concurrency: args.usage_connections.max(1),
        warm_up: USAGE_WARM_UP,
        measure: USAGE_PHASE,
    };
    // A round of each way first, not counted: the first batches go into an empty table.
    phase(
        server,
        "POST /api/usage-events (token, not counted)",
        by_token.clone(),
        short,
    )
    .await?;
    phase(
        server,
        "POST /api/usage-events (API key, not counted)",
        by_key.clone(),
        short,
    )
    .await?;
    let (mut usage_token, mut usage_key): (Option<Outcome>, Option<Outcome>) = (None, None);
    for round in 0..USAGE_ROUNDS {
        for token_way in [round % 2 == 0, round % 2 == 1] {
            let (name, target, into) = if token_way {
                (
                    "POST /api/usage-events (token)",
                    &by_token,
                    &mut usage_token,
                )
            } else {
                ("POST /api/usage-events (API key)", &by_key, &mut usage_key)
            };
            let outcome = phase(server, name, target.clone(), short).await?;
            *into = Some(match into.take() {
                Some(so_far) => so_far.merge(outcome)?,
                None => outcome,
            });
        }
    }
    for (way, target) in [("token", &by_token), ("API key", &by_key)] {
        anyhow::ensure!(
            target.bodies_sent() as usize <= bodies,
            "the {way} usage batches ran out ({} sent, {bodies} made): raise --usage-batches",
            target.bodies_sent()
        );
    }
    let (usage_token, usage_key) = (
        usage_token.context("no usage phase ran")?,
        usage_key.context("no usage phase ran")?,
    );
    Ok(BackendResult {
        healthz,
        check: check_outcome,
        fill,
        usage_token,
        usage_key,
    })
}

/// The first asks: every checked customer once.
pub struct Fill {
    pub customers: usize,
    pub elapsed: Duration,
    pub errors: usize,
}

/// Asks once about every customer of `checks` (each path once, over `concurrency`
/// connections): the server loads each customer's entitlements from the database and keeps
/// them, as a running server has for the customers the seller's software asks about. The
/// measured checks then show the steady state; this pass shows what first asks cost.
async fn fill_cache(
    server: &RunningServer,
    checks: &Target,
    concurrency: usize,
) -> anyhow::Result<Fill> {
    let customers = checks.paths.len();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (next, checks, addr) = (next.clone(), checks.clone(), server.addr);
            tokio::spawn(async move {
                let mut connection = load::Connection::open(addr).await?;
                let mut errors = 0;
                loop {
                    let i = next.fetch_add(1, AtomicOrdering::Relaxed);
                    if i >= checks.paths.len() {
                        return anyhow::Ok(errors);
                    }
                    let (status, _) = connection.send_pick(&checks, i as u64).await?;
                    errors += usize::from(status != StatusCode::OK);
                }
            })
        })
        .collect();
    let mut errors = 0;
    for worker in workers {
        errors += worker.await??;
    }
    let fill = Fill {
        customers,
        elapsed: started.elapsed(),
        errors,
    };
    println!(
        "first asks: {} customers in {:.1} s ({:.0}/s), errors {}",
        fill.customers,
        fill.elapsed.as_secs_f64(),
        fill.customers as f64 / fill.elapsed.as_secs_f64(),
        fill.errors
    );
    Ok(fill)
}

/// An API key with the scopes the seller's back end needs; returns its secret.
async fn create_api_key(server: &RunningServer) -> anyhow::Result<String> {
    let target = authed(
        server,
        Target::post_json(
            "/api/api-keys",
            &json!({"name": "bench", "scopes": ["entitlements:read", "usage:write"]}),
        )
        .expecting(StatusCode::CREATED),
    )
    .await?;
    let (status, body) = load::send_once(server.addr, &target).await?;
    anyhow::ensure!(
        status == StatusCode::CREATED,
        "POST /api/api-keys answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let body: serde_json::Value = serde_json::from_slice(&body)?;
    body["secret"]
        .as_str()
        .map(str::to_owned)
        .context("the API key answer has no secret")
}

/// `count` bodies of [`USAGE_BATCH`] events over [`USAGE_SUBSCRIPTIONS_PER_BATCH`]
/// subscriptions each, every idempotency key unique (`tag` keeps two sets apart).
fn usage_bodies(subscriptions: &[Uuid], count: usize, tag: &str) -> Vec<Bytes> {
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
                let _ = write!(
                    body,
                    "{{\"subscription_id\":\"{}\",\"metric\":\"sms_alerts\",\"quantity\":1,\
                     \"timestamp\":\"{at}\",\"idempotency_key\":\"{tag}-{b}-{j}\"}}",
                    subscriptions[k]
                );
            }
            body.push_str("]}");
            Bytes::from(body)
        })
        .collect()
}

fn render(
    m: &Machine,
    command_line: &str,
    a: &EntitlementsArgs,
    backends: &[(&str, &BackendRun)],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Entitlements and API keys: `GET /api/entitlements/check` with {} customers, usage \
         with an API key\n",
        thousands(a.customers)
    );
    report::run_header(&mut out, m, command_line);
    let _ = writeln!(
        out,
        "- **Data**: {} generated customers (`crates/bench/src/bulk_load.rs`), one live TEAM monthly \
         subscription each (mid-period). Every one of {} customers is asked about once first \
         (the first asks), then the measured checks pick one of them at random per request, half for a feature of the plan (`sensor_dashboard`), half for a limit \
         (`farms`), with an API key (`entitlements:read`, `usage:write`).\n\
         - **Load**: {} keep-alive connections for `/healthz` and the checks, {} for usage \
         batches of {USAGE_BATCH} events over {USAGE_SUBSCRIPTIONS_PER_BATCH} subscriptions \
         (each batch sent once, its idempotency keys new, so every event is written; the two ways in \
         alternate, after one uncounted phase of each, in {USAGE_ROUNDS} rounds of two {} s phases, token first then key first, each \
         way's phases merged, so neither gains from going first into smaller tables or between \
         PostgreSQL's checkpoints); {} s warm-up, then {} s per row for the others. The load \
         generator shares the machine's cores with the server (and PostgreSQL).",
        thousands(a.customers),
        thousands(CHECKED_CUSTOMERS as u64),
        a.concurrency,
        a.usage_connections,
        USAGE_PHASE.as_secs(),
        a.warm_up,
        a.seconds
    );
    for (name, run) in backends {
        let _ = writeln!(out, "\n### {name}\n");
        let r = match run {
            BackendRun::Skipped(why) => {
                let _ = writeln!(out, "{why}");
                continue;
            }
            BackendRun::Measured(r) => r,
        };
        let _ = writeln!(
            out,
            "| request | req/s | p50 | p99 | errors | cores: server / database / load gen. |\n\
             |---|---:|---:|---:|---:|---:|"
        );
        for (label, o) in [
            ("`GET /healthz`", &r.healthz),
            ("`GET /api/entitlements/check` (API key)", &r.check),
            ("`POST /api/usage-events` (person's token)", &r.usage_token),
            ("`POST /api/usage-events` (API key)", &r.usage_key),
        ] {
            let _ = writeln!(
                out,
                "| {label} | {:.0} | {} | {} | {} | {:.2} / {:.2} / {:.2} |",
                o.per_second(),
                ms(o.percentile_ms(0.50)),
                ms(o.percentile_ms(0.99)),
                o.errors,
                o.server_cores,
                o.database_cores,
                o.client_cores
            );
        }
        let _ = writeln!(
            out,
            "\n- First asks (each customer's entitlements loaded from the database, before the \
             measured checks): {} customers in {:.1} s, **{:.0}/s**, errors {}",
            thousands(r.fill.customers as u64),
            r.fill.elapsed.as_secs_f64(),
            r.fill.customers as f64 / r.fill.elapsed.as_secs_f64(),
            r.fill.errors
        );
        let share = r.check.per_second() / r.healthz.per_second();
        let p99 = r.check.percentile_ms(0.99);
        let _ = writeln!(
            out,
            "- The check (every customer asked about before) runs at **{:.0} %** of the `/healthz` rate (target ≥ {:.0} %): **{}**; \
             p99 **{}** (target ≤ {CHECK_P99_TARGET_MS} ms): **{}**",
            100.0 * share,
            100.0 * CHECK_SHARE_TARGET,
            pass(share >= CHECK_SHARE_TARGET),
            ms(p99),
            pass(p99 <= CHECK_P99_TARGET_MS)
        );
        let (token, key) = (
            r.usage_token.per_second() * USAGE_BATCH as f64,
            r.usage_key.per_second() * USAGE_BATCH as f64,
        );
        let _ = writeln!(
            out,
            "- Usage ingestion: **{key:.0} events/s** with the API key, {token:.0} with a \
             person's token ({:.0} %; target: no slower, within the run-to-run noise of a few \
             per cent): **{}**",
            100.0 * key / token,
            pass(key >= token * 0.95)
        );
    }
    out
}
