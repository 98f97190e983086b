//! `satang-bench auth`: what an authenticated request costs next to the HTTP ceiling, what a
//! login costs, and how much memory an idle server holds — on SQLite and on PostgreSQL.
//!
//! For each backend one fresh server runs everything in turn, so the figures in a table are
//! comparable: `GET /healthz` (no auth, no database: the ceiling of the HTTP stack on this
//! machine), then `GET /api/auth/me` (token verification, the user cache and one membership
//! query), then `POST /api/auth/login` (argon2id by design).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use hyper::StatusCode;
use serde_json::json;

use crate::cli::CommonArgs;
use crate::load::{self, Outcome, Plan, Target};
use crate::postgres::ScratchDatabase;
use crate::proc_stats::{self, Machine};
use crate::report;
use crate::server::{ADMIN_EMAIL, ADMIN_PASSWORD, RunningServer, satang_binary};

#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Seconds of measured load per endpoint (after a 1 s warm-up).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent keep-alive connections, each a closed loop.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds of measured logins (concurrency = the number of cores).
    #[arg(long, default_value_t = 5)]
    pub login_seconds: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl AuthArgs {
    pub fn plan(&self) -> Plan {
        Plan {
            concurrency: self.concurrency.max(1),
            warm_up: WARM_UP,
            measure: Duration::from_secs(self.seconds.max(1)),
        }
    }

    pub fn login_plan(&self) -> Plan {
        Plan {
            concurrency: proc_stats::cores(),
            warm_up: WARM_UP,
            measure: Duration::from_secs(self.login_seconds.max(1)),
        }
    }
}

const WARM_UP: Duration = Duration::from_secs(1);
/// How long the server sits idle before its resident memory is read.
const IDLE: Duration = Duration::from_secs(2);
/// How long the server sits idle after the first logins before its memory is read again.
const IDLE_AFTER_USE: Duration = Duration::from_secs(5);
/// An administrator's first logins.
const FIRST_LOGINS: usize = 5;

/// Everything measured on one backend.
pub struct BackendResult {
    pub healthz: Outcome,
    pub me: Outcome,
    pub login: Outcome,
    pub idle_rss: u64,
    pub rss_after_load: u64,
    pub rss_after_login: u64,
    pub rss_idle_after_use: u64,
}

pub enum BackendRun {
    Measured(Box<BackendResult>),
    Skipped(String),
}

pub async fn run(args: AuthArgs, command_line: String) -> anyhow::Result<()> {
    let binary = satang_binary(args.common.satang.clone())?;
    let machine = Machine::describe();
    println!(
        "satang-bench auth: {} ({} cores, {:.1} GiB), {} connections × {} s per endpoint",
        machine.cpu_model,
        machine.cores,
        machine.memory_bytes as f64 / GIB,
        args.concurrency,
        args.seconds
    );
    println!("server: {}", binary.display());

    println!("\n== SQLite");
    let sqlite = BackendRun::Measured(Box::new(bench_backend(&binary, None, &args).await?));

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
                let measured = bench_backend(&binary, Some(&db.url), &args).await;
                let dropped = db.drop_database().await;
                let measured = measured?;
                dropped?;
                BackendRun::Measured(Box::new(measured))
            }
        }
    };

    let report = report::AuthReport {
        machine: &machine,
        command_line: &command_line,
        args: &args,
        backends: &[("SQLite", &sqlite), ("PostgreSQL", &postgres)],
    };
    report::write_section(&args.common.out, report::AUTH_SECTION, &report.render())?;
    println!("\nwrote {}", args.common.out.display());
    Ok(())
}

async fn bench_backend(
    binary: &Path,
    database_url: Option<&str>,
    args: &AuthArgs,
) -> anyhow::Result<BackendResult> {
    RunningServer::measure_fresh(binary, database_url, async |server| {
        measure(server, args).await
    })
    .await
}

async fn measure(server: &RunningServer, args: &AuthArgs) -> anyhow::Result<BackendResult> {
    tokio::time::sleep(IDLE).await;
    let idle_rss = proc_stats::rss_bytes(server.pid)?;
    println!("idle RSS {:.1} MB", idle_rss as f64 / MB);

    let credentials = json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD });
    let login = Target::post_json("/api/auth/login", &credentials);
    // An administrator's first logins (console and API), then the server idle again: the
    // memory an operator sees of a server in use but not under load.
    for _ in 0..FIRST_LOGINS {
        access_token(server, &login).await?;
    }
    tokio::time::sleep(IDLE_AFTER_USE).await;
    let rss_idle_after_use = proc_stats::rss_bytes(server.pid)?;
    let token = access_token(server, &login).await?;
    let me = Target::get("/api/auth/me").with_bearer(&token)?;
    let (status, body) = load::send_once(server.addr, &me).await?;
    anyhow::ensure!(
        status == StatusCode::OK,
        "GET /api/auth/me answered {status}: {}",
        String::from_utf8_lossy(&body)
    );

    let healthz = phase(
        server,
        "GET /healthz",
        &Target::get("/healthz"),
        args.plan(),
    )
    .await?;
    let me = phase(server, "GET /api/auth/me", &me, args.plan()).await?;
    let rss_after_load = proc_stats::rss_bytes(server.pid)?;
    let login = phase(server, "POST /api/auth/login", &login, args.login_plan()).await?;
    let rss_after_login = proc_stats::rss_bytes(server.pid)?;
    println!(
        "me/healthz {:.0} %; RSS after load {:.1} MB, after logins {:.1} MB",
        100.0 * me.per_second() / healthz.per_second(),
        rss_after_load as f64 / MB,
        rss_after_login as f64 / MB
    );
    Ok(BackendResult {
        healthz,
        me,
        login,
        idle_rss,
        rss_after_load,
        rss_after_login,
        rss_idle_after_use,
    })
}

async fn access_token(server: &RunningServer, login: &Target) -> anyhow::Result<String> {
    let (status, body) = load::send_once(server.addr, login).await?;
    anyhow::ensure!(
        status == StatusCode::OK,
        "logging in as {ADMIN_EMAIL} answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let body: serde_json::Value = serde_json::from_slice(&body)?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("the login answer has no access_token")
}

async fn phase(
    server: &RunningServer,
    name: &str,
    target: &Target,
    plan: Plan,
) -> anyhow::Result<Outcome> {
    let outcome = load::run(server.addr, target, plan, server.pid)
        .await
        .with_context(|| format!("load on {name}"))?;
    println!(
        "{name:<22} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}  \
         (cores busy: server {:.2}, load generator {:.2}, machine {:.2})",
        outcome.per_second(),
        outcome.percentile_ms(0.50),
        outcome.percentile_ms(0.99),
        outcome.errors,
        outcome.server_cores,
        outcome.client_cores,
        outcome.machine_cores,
    );
    Ok(outcome)
}

pub const MB: f64 = 1_000_000.0;
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
