//! `satang-bench provider-webhooks`: Opn Payments' `charge.complete` webhooks handled by one
//! `satang serve` (issue 25's target: ≥ 500 events/s, p99 ≤ 50 ms), on SQLite and PostgreSQL.
//!
//! A stand-in of Opn's `GET /charges/{id}` runs inside this process: each charge id names the
//! invoice and amount it pays, and the stand-in answers it as a `successful` charge with that
//! `metadata.invoice_id` — so every event is fetched back from "Opn" exactly as in production
//! (Satang never trusts the event's body). Set-up (not timed): the provider's keys through
//! `PATCH /api/settings`, and `--invoices` open invoices through the API. Timed: one event per
//! invoice posted to `/api/providers/opn/webhook` from `--concurrency` connections, each
//! recording one payment that settles its invoice (receipt and outbox event included). After
//! an uncounted warm-up, every event is sent once; the bench stops if they run out.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use clap::Args;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;

use crate::bank::{admin_login, call, open_invoices};
use crate::cli::CommonArgs;
use crate::load::{self, Connection, Outcome, Plan, Target};
use crate::postgres::on_both_backends;
use crate::proc_stats::Machine;
use crate::report;
use crate::server::{RunningServer, satang_binary};

pub const SECTION: &str = "provider-webhooks";
const TARGET_PER_SECOND: f64 = 500.0;
const TARGET_P99_MS: f64 = 50.0;
const OPN_SECRET: &str = "skey_test_5benchstandin";

#[derive(Debug, Clone, Args)]
pub struct ProviderWebhooksArgs {
    /// Open invoices, each paid by one event (enough for warm-up and measurement).
    #[arg(long, default_value_t = 12_000)]
    pub invoices: usize,
    /// Connections posting events.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds of uncounted warm-up, then of measurement.
    #[arg(long, default_value_t = 2)]
    pub warm_up: u64,
    #[arg(long, default_value_t = 8)]
    pub seconds: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub async fn run(args: ProviderWebhooksArgs, command_line: String) -> anyhow::Result<()> {
    let binary = satang_binary(args.common.satang.clone())?;
    let machine = Machine::describe();
    let opn = opn_stand_in().await?;
    println!(
        "satang-bench provider-webhooks: {} invoices, {} connections, Opn stand-in on {opn}",
        args.invoices, args.concurrency
    );
    let (sqlite, postgres) = on_both_backends(&args.common, async |url| {
        bench_backend(&binary, url, opn, &args).await
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

/// Opn's `GET /charges/{id}` for ids `chrg_test_{invoice uuid}_{amount}`: a successful THB
/// charge of that amount for that invoice.
async fn opn_stand_in() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(charge);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

async fn charge(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let found = req
        .uri()
        .path()
        .strip_prefix("/charges/chrg_test_")
        .and_then(|rest| rest.split_once('_'))
        .and_then(|(invoice, amount)| {
            let invoice = uuid::Uuid::parse_str(invoice).ok()?;
            Some((invoice, amount.parse::<i64>().ok()?))
        });
    let (status, body) = match found {
        Some((invoice, amount)) => (
            StatusCode::OK,
            json!({"object": "charge", "id": req.uri().path().trim_start_matches("/charges/"),
                   "amount": amount, "currency": "thb", "status": "successful", "paid": true,
                   "metadata": {"invoice_id": invoice}, "source": {"type": "promptpay"},
                   "failure_code": null, "failure_message": null}),
        ),
        None => (
            StatusCode::NOT_FOUND,
            json!({"object": "error", "code": "not_found", "message": "charge was not found"}),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    Ok(response)
}

async fn bench_backend(
    binary: &Path,
    database_url: Option<&str>,
    opn: SocketAddr,
    args: &ProviderWebhooksArgs,
) -> anyhow::Result<Outcome> {
    let settings = [("SATANG_OPN_API_URL", format!("http://{opn}"))];
    RunningServer::measure_fresh_with(binary, database_url, &settings, async |server| {
        measure(server, args).await
    })
    .await
}

async fn measure(server: &RunningServer, args: &ProviderWebhooksArgs) -> anyhow::Result<Outcome> {
    let mut conn = Connection::open(server.addr).await?;
    let token = admin_login(&mut conn).await?;
    let keys = json!({"providers": {"opn": {"public_key": "pkey_test_5benchstandin",
                                             "secret_key": OPN_SECRET}}});
    let patch = Target::post_json("/api/settings", &keys).with_method(hyper::Method::PATCH);
    call(&mut conn, patch, Some(&token), StatusCode::OK).await?;
    let started = std::time::Instant::now();
    let open = open_invoices(server, &token, args.invoices, 8).await?;
    println!(
        "set-up: {} open invoices in {:.1} s",
        open.len(),
        started.elapsed().as_secs_f64()
    );
    let events: Vec<Bytes> = open
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let charge = format!("chrg_test_{}_{}", o.id.replace('-', ""), o.amount_due);
            Bytes::from(
                json!({"object": "event", "id": format!("evnt_test_bench{i:07}"),
                       "key": "charge.complete",
                       "data": {"object": "charge", "id": charge}})
                .to_string(),
            )
        })
        .collect();
    let target = Target::post_json_bytes("/api/providers/opn/webhook", events).bodies_in_order();
    let plan = Plan {
        concurrency: args.concurrency,
        warm_up: Duration::from_secs(args.warm_up),
        measure: Duration::from_secs(args.seconds),
    };
    let outcome = load::run(server.addr, &target, plan, server.pid).await?;
    anyhow::ensure!(
        target.bodies_sent() as usize <= args.invoices,
        "the {} events ran out ({} sent): raise --invoices",
        args.invoices,
        target.bodies_sent()
    );
    println!(
        "events   {:>8.0}/s  p50 {:.2} ms  p99 {:.2} ms  ({} errors; server {:.2} cores, database {:.2})",
        outcome.per_second(),
        outcome.percentile_ms(0.50),
        outcome.percentile_ms(0.99),
        outcome.errors,
        outcome.server_cores,
        outcome.database_cores
    );
    anyhow::ensure!(
        outcome.errors == 0,
        "{} events were not answered 200",
        outcome.errors
    );
    Ok(outcome)
}

fn render(
    m: &Machine,
    command_line: &str,
    args: &ProviderWebhooksArgs,
    backends: &[(&str, &Result<Outcome, String>)],
) -> String {
    let mut out = String::from("## Provider webhooks: Opn events handled\n\n");
    report::run_header(&mut out, m, command_line);
    let _ = writeln!(
        out,
        "- **Workload**: Opn `charge.complete` events, one per open invoice ({} invoices), \
         posted from {} connections; each is fetched back from a local Opn stand-in and records \
         the payment that settles its invoice. {} s warm-up, {} s measured. Target: ≥ {:.0} \
         events/s with p99 ≤ {:.0} ms.\n",
        args.invoices,
        args.concurrency,
        args.warm_up,
        args.seconds,
        TARGET_PER_SECOND,
        TARGET_P99_MS
    );
    out.push_str("| backend | events/s | p50 | p99 | server cores | database cores | target |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---|\n");
    for (name, run) in backends {
        match run {
            Ok(o) => {
                let _ = writeln!(
                    out,
                    "| {name} | {:.0} | {} | {} | {:.2} | {:.2} | {} |",
                    o.per_second(),
                    report::ms(o.percentile_ms(0.50)),
                    report::ms(o.percentile_ms(0.99)),
                    o.server_cores,
                    o.database_cores,
                    report::pass(
                        o.per_second() >= TARGET_PER_SECOND
                            && o.percentile_ms(0.99) <= TARGET_P99_MS
                    ),
                );
            }
            Err(why) => {
                let _ = writeln!(out, "| {name} | {why} | | | | | |");
            }
        }
    }
    out
}
