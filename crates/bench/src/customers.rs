//! `satang-bench customers`: the customer book at scale. A million customers and three million
//! contacts are bulk-loaded into each database (see [`crate::bulk_load`]), then the release
//! `satang serve` runs on that data and is measured over loopback:
//!
//! 1. `GET /healthz` and `GET /api/customers/{id}` of random loaded customers, at the same
//!    concurrency in the same run (and, on PostgreSQL, `pgbench -S` on a scratch database);
//! 2. searches (`?q=`) with Thai and Latin substrings, one row per term plus the mix;
//! 3. list pages (`limit=50`) from the first page and from cursors at 10 … 99 % of the ids;
//! 4. `POST /api/customers` (and, on PostgreSQL, `pgbench` running a one-INSERT script into a
//!    table shaped like `customers.customers`).
//!
//! Before the HTTP load the plan of every measured statement is recorded (PostgreSQL
//! `EXPLAIN ANALYZE`, SQLite `EXPLAIN QUERY PLAN`) for the report.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use hyper::StatusCode;
use serde_json::json;
use sqlx::{Connection, Row};

use satang_store::customers::WALK_ROWS;

use crate::bulk_load::{self, LoadReport};
use crate::cli::CommonArgs;
use crate::dataset::Dataset;
use crate::load::{self, Outcome, Plan, SplitMix64, Target};
use crate::pgbench::{self, PgbenchRun};
use crate::postgres::ScratchDatabase;
use crate::proc_stats::{self, Machine};
use crate::server::{ADMIN_EMAIL, ADMIN_PASSWORD, RunningServer, satang_binary};
use crate::{customers_report, report};

#[derive(Debug, Clone, Args)]
pub struct CustomersArgs {
    /// Customers to load (three contacts each).
    #[arg(long, default_value_t = 1_000_000)]
    pub customers: u64,
    /// Concurrent keep-alive connections, each a closed loop (and pgbench's `-c`).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds of measured load for the throughput comparisons (after a 1 s warm-up).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Seconds of measured load for each search and list row (after a 1 s warm-up).
    #[arg(long, default_value_t = 5)]
    pub latency_seconds: u64,
    /// The pgbench binary (PostgreSQL's own client benchmark).
    #[arg(long, default_value = "pgbench")]
    pub pgbench: PathBuf,
    /// pgbench's scale for the `-S` comparison (`pgbench -i -s N`).
    #[arg(long, default_value_t = 10)]
    pub pgbench_scale: u32,
    /// Measure PostgreSQL only.
    #[arg(long)]
    pub no_sqlite: bool,
    /// Only load (and print the plans), then keep the data — the SQLite directory and the
    /// PostgreSQL database — for a look by hand; writes no report. Delete them afterwards.
    #[arg(long)]
    pub load_only: bool,
    /// Parent directory of the SQLite data directory (default: the system temp directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// For work by hand: measure on a database kept by `--load-only` (its URL) instead of
    /// loading one; prints the figures, writes no report.
    #[arg(long)]
    pub existing_postgres: Option<String>,
    /// For work by hand: measure on a SQLite data directory kept by `--load-only` instead of
    /// loading one; prints the figures, writes no report.
    #[arg(long)]
    pub existing_sqlite: Option<PathBuf>,
    /// For work by hand with `--existing-postgres` or `--existing-sqlite`: only these phases (`get`, `search`,
    /// `list`, `create`, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub phases: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl CustomersArgs {
    fn wants(&self, phase: &str) -> bool {
        self.phases.is_empty() || self.phases.iter().any(|p| p == phase)
    }

    pub fn plan(&self) -> Plan {
        Plan {
            concurrency: self.concurrency.max(1),
            warm_up: WARM_UP,
            measure: Duration::from_secs(self.seconds.max(1)),
        }
    }

    pub fn latency_plan(&self) -> Plan {
        Plan {
            measure: Duration::from_secs(self.latency_seconds.max(1)),
            ..self.plan()
        }
    }
}

const WARM_UP: Duration = Duration::from_secs(1);
/// Items per page in the list and search measurements.
pub const PAGE: u32 = 50;
/// Random customers the get-by-id load picks from.
const GET_IDS: u64 = 65_536;
/// Bodies the create load picks from.
const CREATE_BODIES: u64 = 4_096;
/// Cursors around each list depth (so a depth is not one cached page).
const CURSORS_PER_DEPTH: u64 = 256;

/// A search the bench runs: what it stands for and the `q`.
pub struct SearchTerm {
    pub label: &'static str,
    pub q: String,
}

/// A latency row: under the bench's concurrency, and on one connection alone (the cost of the
/// request itself, without waiting for a core).
pub struct Latency {
    pub loaded: Outcome,
    pub single: Outcome,
}

/// What one backend measured.
pub struct BackendResult {
    pub load: LoadReport,
    pub healthz: Outcome,
    pub get: Outcome,
    pub pgbench_select: Option<PgbenchRun>,
    /// (term, rows matching it in the whole table, rows on the first page, latency)
    pub searches: Vec<(SearchTerm, i64, usize, Latency)>,
    pub search_mix: Latency,
    /// (where the page starts, latency)
    pub pages: Vec<(String, Latency)>,
    /// Under the bench's concurrency (throughput) and on one connection (a person's wait).
    pub create: Latency,
    pub pgbench_insert: Option<PgbenchRun>,
    /// (statement, plan summary)
    pub plans: Vec<(String, String)>,
}

pub enum BackendRun {
    Measured(Box<BackendResult>),
    Skipped(String),
}

pub async fn run(args: CustomersArgs, command_line: String) -> anyhow::Result<()> {
    let binary = satang_binary(args.common.satang.clone())?;
    let machine = Machine::describe();
    println!(
        "satang-bench customers: {} customers, {} ({} cores), {} connections",
        args.customers, machine.cpu_model, machine.cores, args.concurrency
    );
    println!("server: {}", binary.display());
    if let Some(url) = &args.existing_postgres {
        return bench_existing_postgres(&binary, url, &args).await;
    }
    if let Some(dir) = &args.existing_sqlite {
        return bench_existing_sqlite(&binary, dir, &args).await;
    }

    println!("\n== SQLite");
    let sqlite = if args.no_sqlite {
        println!("skipped (--no-sqlite)");
        BackendRun::Skipped("not run (`--no-sqlite`)".into())
    } else {
        match bench_sqlite(&binary, &args).await? {
            Some(result) => BackendRun::Measured(Box::new(result)),
            None => BackendRun::Skipped("loaded only".into()),
        }
    };

    println!("\n== PostgreSQL");
    let postgres = if args.common.no_postgres {
        println!("skipped (--no-postgres)");
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
                println!("scratch database {}", db.name());
                let measured = bench_postgres(&binary, &db.url, &args).await;
                if args.load_only && measured.is_ok() {
                    println!("kept the PostgreSQL database {}", db.name());
                    return Ok(());
                }
                let dropped = db.drop_database().await;
                let measured = measured?;
                dropped?;
                match measured {
                    Some(result) => BackendRun::Measured(Box::new(result)),
                    None => BackendRun::Skipped("loaded only".into()),
                }
            }
        }
    };
    if args.load_only {
        return Ok(());
    }

    let report = customers_report::CustomersReport {
        machine: &machine,
        command_line: &command_line,
        args: &args,
        backends: &[("SQLite", &sqlite), ("PostgreSQL", &postgres)],
    };
    report::write_section(
        &args.common.out,
        customers_report::CUSTOMERS_SECTION,
        &report.render(),
    )?;
    println!("\nwrote {}", args.common.out.display());
    Ok(())
}

async fn bench_sqlite(
    binary: &Path,
    args: &CustomersArgs,
) -> anyhow::Result<Option<BackendResult>> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("satang-bench-customers-");
    let dir = match &args.work_dir {
        Some(parent) => builder.tempdir_in(parent)?,
        None => builder.tempdir()?,
    };
    let set = Dataset::new(args.customers, chrono::Utc::now());
    println!(
        "loading {} customers into {}",
        set.customers,
        dir.path().display()
    );
    let load = bulk_load::load_sqlite(dir.path(), &set).await?;
    print_load(&load);
    let terms = search_terms(&set);
    let (matches, plans) = sqlite_inspect(dir.path(), &set, &terms).await?;
    if args.load_only {
        println!("kept the SQLite data directory {}", dir.keep().display());
        return Ok(None);
    }
    let loaded = Loaded {
        set,
        load,
        terms,
        matches,
        plans,
    };
    let server = RunningServer::start(binary, dir.path(), None).await?;
    println!("serving on {} (pid {})", server.addr, server.pid);
    let measured = measure(&server, args, loaded, None).await;
    let stopped = server.stop().await;
    let result = measured?;
    stopped?;
    // The data directory (a few GB) goes with `dir`.
    drop(dir);
    Ok(result)
}

async fn bench_postgres(
    binary: &Path,
    url: &str,
    args: &CustomersArgs,
) -> anyhow::Result<Option<BackendResult>> {
    let set = Dataset::new(args.customers, chrono::Utc::now());
    println!("loading {} customers", set.customers);
    let load = bulk_load::load_postgres(url, &set).await?;
    print_load(&load);
    let terms = search_terms(&set);
    let (matches, plans) = postgres_inspect(url, &set, &terms).await?;
    if args.load_only {
        return Ok(None);
    }
    let loaded = Loaded {
        set,
        load,
        terms,
        matches,
        plans,
    };
    serve_and_measure(binary, url, args, loaded).await
}

/// Starts `satang serve` on the PostgreSQL database at `url` and runs the measurements.
async fn serve_and_measure(
    binary: &Path,
    url: &str,
    args: &CustomersArgs,
    loaded: Loaded,
) -> anyhow::Result<Option<BackendResult>> {
    let dir = tempfile::Builder::new()
        .prefix("satang-bench-customers-")
        .tempdir()?;
    let server = RunningServer::start(binary, dir.path(), Some(url)).await?;
    println!("serving on {} (pid {})", server.addr, server.pid);
    let measured = measure(&server, args, loaded, Some(url)).await;
    let stopped = server.stop().await;
    let result = measured?;
    stopped?;
    Ok(result)
}

/// `--existing-sqlite`: the phases asked for, on a data directory loaded earlier (same
/// `--customers`); the dataset is rebuilt from the first customer's creation time.
async fn bench_existing_sqlite(
    binary: &Path,
    dir: &Path,
    args: &CustomersArgs,
) -> anyhow::Result<()> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("satang.db"))
        .read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let first: String = sqlx::query_scalar("SELECT min(created_at) FROM customers")
        .fetch_one(&mut conn)
        .await?;
    let _ = conn.close().await;
    let first = chrono::DateTime::parse_from_rfc3339(&first)?.with_timezone(&chrono::Utc);
    let set = Dataset::matching(args.customers, first);
    let terms = search_terms(&set);
    let inspected = sqlite_inspect(dir, &set, &terms).await?;
    let loaded = Loaded::kept(set, terms, inspected);
    let server = RunningServer::start(binary, dir, None).await?;
    println!("serving on {} (pid {})", server.addr, server.pid);
    let measured = measure(&server, args, loaded, None).await;
    let stopped = server.stop().await;
    measured?;
    stopped
}

/// `--existing-postgres`: the phases asked for, on a database loaded earlier (same
/// `--customers`); the dataset is rebuilt from the first customer's creation time.
async fn bench_existing_postgres(
    binary: &Path,
    url: &str,
    args: &CustomersArgs,
) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let first: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT min(created_at) FROM customers.customers")
            .fetch_one(&mut conn)
            .await?;
    let _ = conn.close().await;
    let set = Dataset::matching(args.customers, first);
    let terms = search_terms(&set);
    let inspected = postgres_inspect(url, &set, &terms).await?;
    let loaded = Loaded::kept(set, terms, inspected);
    serve_and_measure(binary, url, args, loaded)
        .await
        .map(|_| ())
}

fn print_load(load: &LoadReport) {
    println!(
        "loaded {} customers and {} contacts in {:.1} s ({:.2} GB)",
        load.customers,
        load.contacts,
        load.total.as_secs_f64(),
        load.bytes as f64 / 1e9
    );
}

/// The searches: Thai and Latin substrings of different frequencies, a tax-id fragment and an
/// e-mail fragment.
pub fn search_terms(set: &Dataset) -> Vec<SearchTerm> {
    // Seven digits from the middle of some customer's tax id (the serial number part).
    let tax_fragment = (set.customers / 2..set.customers)
        .find_map(|i| set.tax_id(i))
        .map_or_else(|| "5536000".to_owned(), |t| t[5..12].to_owned());
    // "office@durian-banna417.co.th" → "durian-banna417".
    let email = set
        .customer(set.customers * 3 / 4)
        .email
        .unwrap_or_default();
    let own_domain = email
        .split_once('@')
        .and_then(|(_, domain)| domain.split_once('.'))
        .map_or_else(|| "durian-banna417".to_owned(), |(stem, _)| stem.to_owned());
    vec![
        SearchTerm {
            label: "Thai, common (prefix of many names)",
            q: "ฟาร์ม".into(),
        },
        SearchTerm {
            label: "Thai, rarer (one place of 23)",
            q: "แม่สลอง".into(),
        },
        SearchTerm {
            label: "tax-id fragment (7 digits)",
            q: tax_fragment,
        },
        SearchTerm {
            label: "Latin, lower case",
            q: "durian".into(),
        },
        SearchTerm {
            label: "Latin, upper case",
            q: "GREEN".into(),
        },
        SearchTerm {
            label: "e-mail fragment, one customer's domain",
            q: own_domain,
        },
        SearchTerm {
            label: "e-mail fragment shared by a few thousand",
            q: "@lotusdelta".into(),
        },
    ]
}

/// Cursor positions of the list rows, as a share of the customers.
pub const DEPTHS: [(u64, &str); 4] = [(10, "10 %"), (50, "50 %"), (90, "90 %"), (99, "99 %")];

/// A loaded database, before the HTTP load.
struct Loaded {
    set: Dataset,
    load: LoadReport,
    terms: Vec<SearchTerm>,
    /// Rows each term matches.
    matches: Vec<i64>,
    plans: Vec<(String, String)>,
}

impl Loaded {
    /// Data loaded by an earlier `--load-only` run (no load of this run to report), with what
    /// the inspection of it found: each term's matches and the query plans.
    fn kept(
        set: Dataset,
        terms: Vec<SearchTerm>,
        (matches, plans): (Vec<i64>, Vec<(String, String)>),
    ) -> Loaded {
        Loaded {
            set,
            load: LoadReport::default(),
            terms,
            matches,
            plans,
        }
    }
}

async fn measure(
    server: &RunningServer,
    args: &CustomersArgs,
    loaded: Loaded,
    postgres_url: Option<&str>,
) -> anyhow::Result<Option<BackendResult>> {
    let Loaded {
        set,
        load,
        terms,
        matches,
        plans,
    } = loaded;
    let set = &set;
    let plan = args.plan();
    let latency = args.latency_plan();
    let mut random = SplitMix64(0xC0FF_EE00);

    wait_for_quiet_machine().await;

    // 1. The HTTP ceiling and reads by id.
    let mut healthz = None;
    let mut get = None;
    let mut pgbench_select = None;
    if args.wants("get") {
        let healthz_outcome = phase(server, "GET /healthz", Target::get("/healthz"), plan).await?;
        let ids: Vec<String> = (0..GET_IDS.min(set.customers * 4))
            .map(|_| {
                format!(
                    "/api/customers/{}",
                    set.customer_id(random.below(set.customers))
                )
            })
            .collect();
        let get_target = authed(server, Target::get_any(ids)).await?;
        check(server, &get_target, None).await?;
        let get_outcome = phase(server, "GET /api/customers/{id}", get_target, plan).await?;
        println!(
            "get/healthz {:.0} %",
            100.0 * get_outcome.per_second() / healthz_outcome.per_second()
        );
        if postgres_url.is_some() {
            pgbench_select = Some(pgbench::select_only(args).await?);
        }
        healthz = Some(healthz_outcome);
        get = Some(get_outcome);
    }

    // 2. Searches, one term at a time, then all of them mixed.
    let mut searches = Vec::new();
    let mut mix_paths = Vec::new();
    let mut search_mix = None;
    if args.wants("search") {
        for (term, matched) in terms.into_iter().zip(matches) {
            let path = format!("/api/customers?limit={PAGE}&q={}", encode_query(&term.q));
            mix_paths.push(path.clone());
            let target = authed(server, Target::get_any(vec![path])).await?;
            let rows = check(server, &target, Some("data")).await?;
            let name = format!("search {}", term.q);
            let outcome = latency_phase(server, &name, target, latency).await?;
            searches.push((term, matched, rows, outcome));
        }
        let mix = authed(server, Target::get_any(mix_paths)).await?;
        search_mix = Some(latency_phase(server, "search mix", mix, latency).await?);
    }

    // 3. List pages at increasing depth.
    let mut pages = Vec::new();
    if args.wants("list") {
        let first = authed(
            server,
            Target::get_any(vec![format!("/api/customers?limit={PAGE}")]),
        )
        .await?;
        check(server, &first, Some("data")).await?;
        pages.push((
            "first page".to_owned(),
            latency_phase(server, "list first page", first, latency).await?,
        ));
        for (percent, label) in DEPTHS {
            let at = set.customers * percent / 100;
            let paths: Vec<String> = (0..CURSORS_PER_DEPTH)
                .map(|k| (at + k * 7).min(set.customers.saturating_sub(2)))
                .map(|i| {
                    format!(
                        "/api/customers?limit={PAGE}&cursor={}",
                        URL_SAFE_NO_PAD.encode(set.customer_id(i).as_bytes())
                    )
                })
                .collect();
            let target = authed(server, Target::get_any(paths)).await?;
            check(server, &target, Some("data")).await?;
            let name = format!("list from {label}");
            pages.push((
                format!("cursor at {label}"),
                latency_phase(server, &name, target, latency).await?,
            ));
        }
    }

    // 4. Creates, last: they add rows.
    let mut create = None;
    let mut pgbench_insert = None;
    if args.wants("create") {
        let bodies = (0..CREATE_BODIES)
            .map(|k| set.create_body(set.customers + k))
            .collect();
        let create_target = authed(
            server,
            Target::post_json_any("/api/customers", bodies).expecting(StatusCode::CREATED),
        )
        .await?;
        check(server, &create_target, None).await?;
        create = Some(latency_phase(server, "POST /api/customers", create_target, plan).await?);
        if let Some(url) = postgres_url {
            pgbench_insert = Some(pgbench::insert(args, url).await?);
        }
    }

    let (Some(healthz), Some(get), Some(search_mix), Some(create)) =
        (healthz, get, search_mix, create)
    else {
        return Ok(None);
    };
    Ok(Some(BackendResult {
        load,
        healthz,
        get,
        pgbench_select,
        searches,
        search_mix,
        pages,
        create,
        pgbench_insert,
        plans,
    }))
}

/// Waits (by default at most ten minutes) until the machine is quiet — under 0.5 cores busy over 5 s, the
/// server idle — so someone else's build does not pollute the figures. (The load average would
/// still count the bulk load that just ran.) `SATANG_BENCH_NO_WAIT=1` skips the wait (for a
/// quick trial of the bench itself, not for figures); `SATANG_BENCH_MAX_WAIT=SECONDS` caps the
/// wait (default 600) on a machine that others keep busy.
pub async fn wait_for_quiet_machine() {
    if std::env::var_os("SATANG_BENCH_NO_WAIT").is_some_and(|v| v == "1") {
        return;
    }
    let cap = std::env::var("SATANG_BENCH_MAX_WAIT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(600);
    let tries = (cap / 35).max(1);
    for _ in 0..tries {
        let busy = match proc_stats::CpuClock::of_machine() {
            Ok(clock) => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                clock.cores_since().unwrap_or(0.0)
            }
            Err(_) => 0.0,
        };
        if busy < QUIET_CORES {
            println!("machine quiet ({busy:.2} cores busy)");
            return;
        }
        println!("{busy:.2} cores busy: waiting 30 s for the machine to quieten");
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    println!("the machine stayed busy; measuring anyway");
}

const QUIET_CORES: f64 = 0.5;

/// The target with a fresh access token of the bench administrator (tokens expire; every
/// phase starts with a new one).
pub async fn authed(server: &RunningServer, target: Target) -> anyhow::Result<Target> {
    let credentials = json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD });
    let login = Target::post_json("/api/auth/login", &credentials);
    let (status, body) = load::send_once(server.addr, &login).await?;
    anyhow::ensure!(
        status == StatusCode::OK,
        "logging in as {ADMIN_EMAIL} answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let body: serde_json::Value = serde_json::from_slice(&body)?;
    let token = body["access_token"]
        .as_str()
        .context("the login answer has no access_token")?;
    target.with_bearer(token)
}

/// Sends the target's first request once and checks the answer; returns the length of the
/// array under `list` (the rows of a page) when asked for.
pub async fn check(
    server: &RunningServer,
    target: &Target,
    list: Option<&str>,
) -> anyhow::Result<usize> {
    let (status, body) = load::send_once(server.addr, target).await?;
    anyhow::ensure!(
        status == target.expect,
        "{} {} answered {status}: {}",
        target.method,
        target.paths[0],
        String::from_utf8_lossy(&body)
    );
    match list {
        None => Ok(0),
        Some(key) => {
            let body: serde_json::Value = serde_json::from_slice(&body)?;
            let rows = body[key].as_array().map_or(0, Vec::len);
            anyhow::ensure!(rows > 0, "{} found nothing", target.paths[0]);
            Ok(rows)
        }
    }
}

/// A latency row: the phase under `plan`, then on one connection.
pub async fn latency_phase(
    server: &RunningServer,
    name: &str,
    target: Target,
    plan: Plan,
) -> anyhow::Result<Latency> {
    let loaded = phase(server, name, target.clone(), plan).await?;
    let single = Plan {
        concurrency: 1,
        ..plan
    };
    let single = phase(server, &format!("{name} (1 conn.)"), target, single).await?;
    Ok(Latency { loaded, single })
}

/// Runs one load phase; when something else on the machine took more than
/// [`OTHER_CORES_LIMIT`] meanwhile, waits for quiet and runs it again (three tries).
pub async fn phase(
    server: &RunningServer,
    name: &str,
    target: Target,
    plan: Plan,
) -> anyhow::Result<Outcome> {
    let mut tries = 0;
    loop {
        tries += 1;
        let outcome = load::run(server.addr, &target, plan, server.pid)
            .await
            .with_context(|| format!("load on {name}"))?;
        println!(
            "{name:<34} {:>8.0} req/s  p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  errors {}  \
             (cores: server {:.2}, database {:.2}, load generator {:.2}, other {:.2})",
            outcome.per_second(),
            outcome.percentile_ms(0.50),
            outcome.percentile_ms(0.95),
            outcome.percentile_ms(0.99),
            outcome.errors,
            outcome.server_cores,
            outcome.database_cores,
            outcome.client_cores,
            outcome.other_cores(),
        );
        if outcome.other_cores() <= OTHER_CORES_LIMIT || tries >= 3 {
            return Ok(outcome);
        }
        println!("  something else was running: measuring {name} again");
        wait_for_quiet_machine().await;
    }
}

/// Cores that other work may take during a measurement before it is repeated.
pub const OTHER_CORES_LIMIT: f64 = 0.25;

/// Percent-encodes a query-string value (everything but unreserved characters).
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Plans. The statements are the ones `satang_store::customers` builds for a staff caller
// (`list`, `list_by_fts`, `get`); keep them in step with it.

const COLUMNS: &str = "c.id, c.name, c.legal_name, c.tax_id, c.branch_code, c.email, c.phone, \
    c.billing_email, c.address, c.currency, c.locale, c.payment_terms_days, c.metadata, c.status, \
    c.balance, c.created_at, c.updated_at, c.deleted_at, c.version";

fn fts_phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

fn like_pattern(term: &str) -> String {
    let escaped = term
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Rows matching each term, and the plans of the measured statements, on SQLite.
async fn sqlite_inspect(
    dir: &Path,
    set: &Dataset,
    terms: &[SearchTerm],
) -> anyhow::Result<(Vec<i64>, Vec<(String, String)>)> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("satang.db"))
        .read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let mut matches = Vec::new();
    let mut plans = Vec::new();
    for term in terms {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM customers_fts f JOIN customers c ON c.rowid = f.rowid \
             WHERE customers_fts MATCH ?1 AND c.status <> 'deleted'",
        )
        .bind(fts_phrase(&term.q))
        .fetch_one(&mut conn)
        .await?;
        matches.push(n);
    }
    let search = format!(
        "SELECT {COLUMNS} FROM customers_fts f JOIN customers c ON c.rowid = f.rowid \
         WHERE customers_fts MATCH ?1 AND c.status <> 'deleted' ORDER BY f.rowid LIMIT ?2"
    );
    let page = format!(
        "SELECT {COLUMNS} FROM customers c WHERE TRUE AND c.status <> 'deleted' \
         AND c.id > ?1 ORDER BY c.id LIMIT ?2"
    );
    let get = format!(
        "SELECT {COLUMNS} FROM customers c WHERE c.id = ?1 AND (?2 IS NULL OR EXISTS \
         (SELECT 1 FROM customer_users su WHERE su.customer_id = c.id AND su.user_id = ?2))"
    );
    let cursor = set.customer_id(set.customers / 2);
    for (label, sql, first) in [
        ("search (FTS5)", &search, Some(fts_phrase(&terms[0].q))),
        ("list page after a cursor", &page, None),
        ("get by id", &get, None),
    ] {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut q = sqlx::query(&explain);
        q = match first {
            Some(phrase) => q.bind(phrase).bind(i64::from(PAGE) + 1),
            None if label == "get by id" => q.bind(cursor).bind(None::<uuid::Uuid>),
            None => q.bind(cursor).bind(i64::from(PAGE) + 1),
        };
        let rows = q.fetch_all(&mut conn).await?;
        let steps: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap_or_default())
            .collect();
        let summary = steps.join("; ");
        println!("plan of {label}: {summary}");
        plans.push((label.to_owned(), summary));
    }
    conn.close().await?;
    Ok((matches, plans))
}

/// Rows matching each term, and the plans (with timings) of the measured statements, on
/// PostgreSQL.
async fn postgres_inspect(
    url: &str,
    set: &Dataset,
    terms: &[SearchTerm],
) -> anyhow::Result<(Vec<i64>, Vec<(String, String)>)> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query("SET search_path = public, auth, customers, billing, satang")
        .execute(&mut conn)
        .await?;
    let mut matches = Vec::new();
    let mut plans = Vec::new();
    for term in terms {
        let pattern = like_pattern(&term.q);
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM customers c WHERE c.status <> 'deleted' \
             AND c.search_text LIKE $1 ESCAPE '\\'",
        )
        .bind(&pattern)
        .fetch_one(&mut conn)
        .await?;
        matches.push(n);
        // The product's steps (`search_postgres`) from the first customer on: the first
        // `WALK_ROWS` customers, then the range the walk's density asks for, or every match
        // through the trigram index for a rare term.
        let lower = term.q.to_lowercase();
        let probe = satang_store::customers::probe_window(&lower).unwrap_or(&lower);
        let like = like_pattern(probe).replace('\'', "''");
        let literal = lower.replace('\'', "''");
        let matching = format!(
            "c.status <> 'deleted' AND c.search_text LIKE '{like}' ESCAPE '\\' \
             AND strpos(c.search_text, '{literal}') > 0"
        );
        let id_at = |after: Option<uuid::Uuid>, rows: i64| {
            let from = after.map_or(String::new(), |id| format!("WHERE id > '{id}'"));
            format!(
                "SELECT id FROM customers {from} ORDER BY id OFFSET {} LIMIT 1",
                rows - 1
            )
        };
        let in_range = |from: Option<uuid::Uuid>, to: uuid::Uuid, limit: i64| {
            let from = from.map_or(String::new(), |id| format!("c.id > '{id}' AND "));
            format!(
                "SELECT {COLUMNS} FROM customers c WHERE {from}c.id <= '{to}' AND {matching} \
                 ORDER BY c.id LIMIT {limit}"
            )
        };
        let limit = i64::from(PAGE) + 1;
        let walk_start: uuid::Uuid = sqlx::query_scalar(&id_at(None, 1))
            .fetch_one(&mut conn)
            .await?;
        let walk_end: uuid::Uuid = sqlx::query_scalar(&id_at(None, WALK_ROWS))
            .fetch_one(&mut conn)
            .await?;
        let walk = format!(
            "SELECT {COLUMNS} FROM (SELECT * FROM customers c ORDER BY c.id LIMIT {WALK_ROWS}) c \
             WHERE c.status <> 'deleted' AND strpos(c.search_text, '{literal}') > 0 \
             ORDER BY c.id LIMIT {limit}"
        );
        let found = sqlx::query(&walk).fetch_all(&mut conn).await?.len() as i64;
        let mut steps = vec![("walk".to_owned(), walk)];
        if found < limit {
            let missing = limit - found;
            let span = satang_store::customers::rest_span(missing, found);
            let to = span.and_then(|span| {
                satang_store::customers::estimated_id_after((walk_start, walk_end), WALK_ROWS, span)
            });
            match span.zip(to) {
                Some((span, to)) => {
                    steps.push((
                        format!("about the next {span} customers"),
                        in_range(Some(walk_end), to, missing),
                    ));
                }
                None => steps.push((
                    "rare: every match".to_owned(),
                    format!(
                        "WITH m AS MATERIALIZED (SELECT {COLUMNS} FROM customers c \
                         WHERE c.id > '{walk_end}' AND {matching}) \
                         SELECT * FROM m ORDER BY m.id LIMIT {missing}"
                    ),
                )),
            }
        }
        for (step, sql) in steps {
            let summary = explain_postgres(&mut conn, &sql).await?;
            println!("plan of search {} ({step}): {summary}", term.q);
            plans.push((format!("search `{}` ({step})", term.q), summary));
        }
    }
    for (percent, label) in [(0, "first page"), (99, "cursor at 99 %")] {
        let sql = if percent == 0 {
            format!(
                "SELECT {COLUMNS} FROM customers c WHERE TRUE AND c.status <> 'deleted' \
                 ORDER BY c.id LIMIT {}",
                PAGE + 1
            )
        } else {
            format!(
                "SELECT {COLUMNS} FROM customers c WHERE TRUE AND c.status <> 'deleted' \
                 AND c.id > '{}' ORDER BY c.id LIMIT {}",
                set.customer_id(set.customers * percent / 100),
                PAGE + 1
            )
        };
        let summary = explain_postgres(&mut conn, &sql).await?;
        println!("plan of list {label}: {summary}");
        plans.push((format!("list, {label}"), summary));
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM customers c WHERE c.id = '{}' AND (NULL::uuid IS NULL OR EXISTS \
         (SELECT 1 FROM customer_users su WHERE su.customer_id = c.id AND su.user_id = NULL))",
        set.customer_id(set.customers / 3)
    );
    let summary = explain_postgres(&mut conn, &sql).await?;
    println!("plan of get by id: {summary}");
    plans.push(("get by id".to_owned(), summary));
    conn.close().await?;
    Ok((matches, plans))
}

/// Plan details worth a place in the one-line summary.
const DETAILS: [&str; 5] = [
    "Rows Removed",
    "Heap Blocks",
    "Index Cond",
    "Recheck Cond",
    "Filter",
];

/// `EXPLAIN ANALYZE` folded into one line: each plan node (indented lines keep their nesting
/// as `→`) and the execution time.
async fn explain_postgres(conn: &mut sqlx::PgConnection, sql: &str) -> anyhow::Result<String> {
    let explain = format!("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}");
    let lines: Vec<String> = sqlx::query_scalar(&explain).fetch_all(&mut *conn).await?;
    let mut nodes = Vec::new();
    let mut time = String::new();
    for line in &lines {
        let trimmed = line.trim();
        if let Some(t) = trimmed.strip_prefix("Execution Time: ") {
            time = t.to_owned();
        } else if let Some(node) = trimmed.strip_prefix("->") {
            nodes.push(node.trim_start().to_owned());
        } else if nodes.is_empty() && !trimmed.starts_with("Planning") {
            nodes.push(trimmed.to_owned());
        } else if DETAILS.iter().any(|d| trimmed.starts_with(d))
            && let Some(last) = nodes.last_mut()
        {
            last.push_str(&format!(" [{trimmed}]"));
        }
    }
    Ok(format!("{} — {time}", nodes.join(" → ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query("GREEN"), "GREEN");
        assert_eq!(encode_query("@a b"), "%40a%20b");
        assert_eq!(encode_query("ฟ"), "%E0%B8%9F");
    }

    #[test]
    fn like_patterns_match_the_stores() {
        assert_eq!(like_pattern("GREEN"), "%green%");
        assert_eq!(like_pattern("50%_x"), "%50\\%\\_x%");
    }
}
