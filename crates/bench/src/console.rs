//! `satang-bench console`: how long the server takes to render each console page with the
//! customer book of the customers bench (a million customers, three million contacts) loaded.
//!
//! The release `satang serve` runs on the bulk-loaded data; one keep-alive connection (so the
//! figure is the render time, not queueing) requests each page again and again for a few
//! seconds with a signed-in session cookie, a random customer per request where the page shows
//! one. Target: p95 ≤ 10 ms for every page (issue 22: a person's wait).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use clap::Args;
use hyper::StatusCode;
use serde_json::{Value, json};

use crate::bulk_load;
use crate::cli::CommonArgs;
use crate::dataset::Dataset;
use crate::load::{Connection, SplitMix64, Target, send_once};
use crate::postgres::ScratchDatabase;
use crate::proc_stats::Machine;
use crate::report;
use crate::server::{ADMIN_EMAIL, ADMIN_PASSWORD, RunningServer, satang_binary};

pub const CONSOLE_SECTION: &str = "console";
const TARGET_P95_MS: f64 = 10.0;
const MEMBER_EMAIL: &str = "portal-owner@bench.test";

#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    /// Customers to load (three contacts each).
    #[arg(long, default_value_t = 1_000_000)]
    pub customers: u64,
    /// Seconds of measured requests per page (after a 1 s warm-up).
    #[arg(long, default_value_t = 4)]
    pub seconds: u64,
    #[arg(long)]
    pub no_sqlite: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One page's render times.
struct PageResult {
    name: &'static str,
    path: String,
    requests: usize,
    p50: f64,
    p95: f64,
    p99: f64,
}

pub async fn run(args: ConsoleArgs, command_line: String) -> anyhow::Result<()> {
    let binary = satang_binary(args.common.satang.clone())?;
    let machine = Machine::describe();
    let mut body = String::new();
    let _ = writeln!(
        body,
        "## Console pages: server render time with {} customers\n\n\
         `{command_line}` at commit `{}` on {} ({} cores, {:.1} GiB), {}. One keep-alive connection per \
         page (render time, not queueing), {} s per page after a 1 s warm-up, signed in by the \
         session cookie; a random customer of the loaded book per request where the page shows \
         one. Target: **p95 ≤ {TARGET_P95_MS} ms** for every page.\n",
        args.customers,
        crate::report::git_commit(),
        machine.cpu_model,
        machine.cores,
        machine.memory_bytes as f64 / crate::auth::GIB,
        machine.kernel,
        args.seconds,
    );
    if !args.no_sqlite {
        println!("== SQLite");
        let dir = tempfile::Builder::new()
            .prefix("satang-bench-console-")
            .tempdir()?;
        let set = Dataset::new(args.customers, chrono::Utc::now());
        let load = bulk_load::load_sqlite(dir.path(), &set).await?;
        println!(
            "loaded {} customers in {:.1} s",
            load.customers,
            load.total.as_secs_f64()
        );
        let server = RunningServer::start(&binary, dir.path(), None).await?;
        let pages = measure(&server, &set, &args).await;
        server.stop().await?;
        write_table(&mut body, "SQLite", &pages?);
    }
    if !args.common.no_postgres {
        println!("== PostgreSQL");
        match ScratchDatabase::create(&args.common.postgres_url).await {
            Err(e) => {
                let _ = writeln!(body, "### PostgreSQL\n\nskipped: {e:#}\n");
            }
            Ok(db) => {
                let outcome = async {
                    let set = Dataset::new(args.customers, chrono::Utc::now());
                    let load = bulk_load::load_postgres(&db.url, &set).await?;
                    println!(
                        "loaded {} customers in {:.1} s",
                        load.customers,
                        load.total.as_secs_f64()
                    );
                    let dir = tempfile::Builder::new()
                        .prefix("satang-bench-console-")
                        .tempdir()?;
                    let server = RunningServer::start(&binary, dir.path(), Some(&db.url)).await?;
                    let pages = measure(&server, &set, &args).await;
                    server.stop().await?;
                    pages
                }
                .await;
                db.drop_database().await?;
                write_table(&mut body, "PostgreSQL", &outcome?);
            }
        }
    }
    report::write_section(&args.common.out, CONSOLE_SECTION, &body)?;
    println!("wrote {}", args.common.out.display());
    Ok(())
}

async fn json_call(addr: std::net::SocketAddr, target: &Target) -> anyhow::Result<Value> {
    let (status, bytes) = send_once(addr, target).await?;
    anyhow::ensure!(
        status.is_success(),
        "{} → {status}: {}",
        target.paths[0],
        String::from_utf8_lossy(&bytes)
    );
    Ok(serde_json::from_slice(&bytes)?)
}

fn session_cookie(tokens: &Value) -> String {
    format!(
        "satang_at={}; satang_rt={}; satang_csrf=bench-csrf-token-0123456789abcdefghijklmnop",
        tokens["access_token"].as_str().unwrap_or(""),
        tokens["refresh_token"].as_str().unwrap_or("")
    )
}

async fn measure(
    server: &RunningServer,
    set: &Dataset,
    args: &ConsoleArgs,
) -> anyhow::Result<Vec<PageResult>> {
    let addr = server.addr;
    let admin = json_call(
        addr,
        &Target::post_json(
            "/api/auth/login",
            &json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
        ),
    )
    .await?;
    let staff = session_cookie(&admin);
    let token = admin["access_token"].as_str().unwrap_or("").to_owned();
    // A member of one loaded customer, for the portal.
    let member = json_call(
        addr,
        &Target::post_json(
            "/api/auth/signup",
            &json!({ "email": MEMBER_EMAIL, "password": ADMIN_PASSWORD, "name": "Portal Owner" }),
        )
        .expecting(StatusCode::CREATED),
    )
    .await?;
    let portal_customer = set.customer_id(set.customers / 2);
    json_call(
        addr,
        &Target::post_json(
            &format!("/api/customers/{portal_customer}/members"),
            &json!({ "email": MEMBER_EMAIL, "role": "owner" }),
        )
        .with_bearer(&token)?,
    )
    .await?;
    let member_cookie = session_cookie(&member);

    let mut rng = SplitMix64(0x5a7a_4e9c);
    let random_customers = |tab: &str, rng: &mut SplitMix64| -> Vec<String> {
        (0..512)
            .map(|_| {
                let id = set.customer_id(rng.below(set.customers));
                format!("/customers/{id}?tab={tab}")
            })
            .collect()
    };
    let mut pages: Vec<(&'static str, Vec<String>, &str)> = vec![
        ("Customers, first page", vec!["/customers".into()], &staff),
        (
            "Customers, search ฟาร์ม",
            vec![format!("/customers?q={}", encode("ฟาร์ม"))],
            &staff,
        ),
    ];
    for (name, tab) in [
        ("Customer: Overview", "overview"),
        ("Customer: Subscriptions", "subscriptions"),
        ("Customer: Contacts", "contacts"),
        ("Customer: Users", "users"),
        ("Customer: Invoices", "invoices"),
    ] {
        pages.push((name, random_customers(tab, &mut rng), &staff));
    }
    for (name, path) in [
        ("Billing", "/billing"),
        ("Plans", "/plans"),
        ("Users", "/users"),
        ("Webhooks", "/webhooks"),
        ("Audit log", "/audit"),
        ("Settings", "/settings"),
    ] {
        pages.push((name, vec![path.into()], &staff));
    }
    pages.push((
        "Portal",
        vec![format!("/portal/{portal_customer}")],
        &member_cookie,
    ));

    let mut results = Vec::new();
    for (name, paths, cookie) in pages {
        let shown = if paths.len() > 1 {
            paths[0].replace(&paths[0][11..47], "{random id}")
        } else {
            paths[0].replace(&encode("ฟาร์ม"), "ฟาร์ม")
        };
        let target = Target::get_any(paths).with_cookie(cookie)?;
        let mut connection = Connection::open(addr).await?;
        let (status, _) = connection.send(&target).await?;
        if status == StatusCode::NOT_FOUND {
            println!("{name}: not served by this build, skipped");
            continue;
        }
        anyhow::ensure!(
            status == StatusCode::OK,
            "{name} ({shown}) answered {status}"
        );
        let warm_until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < warm_until {
            connection.send_pick(&target, rng.next()).await?;
        }
        let mut times = Vec::new();
        let until = Instant::now() + Duration::from_secs(args.seconds);
        while Instant::now() < until {
            let started = Instant::now();
            let (status, _) = connection.send_pick(&target, rng.next()).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(status == StatusCode::OK, "{name} answered {status}");
        }
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
        let result = PageResult {
            name,
            path: shown,
            requests: times.len(),
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
        };
        println!(
            "{:<28} p50 {:>6.2} ms  p95 {:>6.2} ms  p99 {:>6.2} ms  ({} requests)",
            result.name, result.p50, result.p95, result.p99, result.requests
        );
        results.push(result);
    }
    Ok(results)
}

fn encode(value: &str) -> String {
    crate::customers::encode_query(value)
}

fn write_table(body: &mut String, backend: &str, pages: &[PageResult]) {
    let _ = writeln!(
        body,
        "### {backend}\n\n| page | path | requests | p50 | p95 | p99 | p95 ≤ {TARGET_P95_MS} ms |\n|---|---|---|---|---|---|---|"
    );
    for p in pages {
        let _ = writeln!(
            body,
            "| {} | `{}` | {} | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
            p.name,
            p.path,
            p.requests,
            p.p50,
            p.p95,
            p.p99,
            if p.p95 <= TARGET_P95_MS {
                "PASS"
            } else {
                "**MISS**"
            }
        );
    }
    body.push('\n');
}
