//! `satang-bench bank`: a 10,000-line bank statement uploaded and matched (SPEC §2.13, issue
//! 25's target: ≤ 5 s), on SQLite and PostgreSQL.
//!
//! Set-up (not timed): a fresh server, `--invoices` customers each with one open invoice of its
//! own amount, created through the API. The statement then holds one transfer per invoice —
//! half of them the amount due, half net of 3 % withholding tax, the description naming the
//! invoice number, the customer or neither — and other money in and out up to `--lines`.
//!
//! Timed, one after the other, as a person at the console would go:
//! 1. **upload**: `POST /api/bank-statements` with the whole CSV (parse, fingerprint, insert);
//! 2. **suggest**: every line with its suggested invoices, `GET …/lines` page by page (200);
//! 3. **match**: each line paying an invoice applied to its best suggestion,
//!    `POST …/lines/{line}/match` from `--concurrency` connections.
//!
//! The target holds for upload + suggest + match of the whole statement.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hyper::StatusCode;
use serde_json::{Value, json};

use satang_domain::vat::withholding_tax;

use crate::cli::CommonArgs;
use crate::load::{Connection, SplitMix64, Target};
use crate::postgres::on_both_backends;
use crate::proc_stats::Machine;
use crate::report;
use crate::server::{ADMIN_EMAIL, ADMIN_PASSWORD, RunningServer, satang_binary};

pub const SECTION: &str = "bank";
/// Upload, suggestions and matches of the whole statement, at most.
const TARGET: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Args)]
pub struct BankArgs {
    /// Lines of the statement.
    #[arg(long, default_value_t = 10_000)]
    pub lines: usize,
    /// Open invoices, each paid by one line of the statement.
    #[arg(long, default_value_t = 2_000)]
    pub invoices: usize,
    /// Connections that create the invoices and apply the matches.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What one backend measured.
pub struct BankResult {
    pub upload: Duration,
    pub suggest: Duration,
    pub matching: Duration,
    pub lines: usize,
    pub suggested_lines: usize,
    pub matched: usize,
    /// Matches answered 409: the suggested invoice was already paid by another line.
    pub refused: usize,
}

impl BankResult {
    fn total(&self) -> Duration {
        self.upload + self.suggest + self.matching
    }
}

pub async fn run(args: BankArgs, command_line: String) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.invoices <= args.lines,
        "--invoices must not exceed --lines"
    );
    let binary = satang_binary(args.common.satang.clone())?;
    let machine = Machine::describe();
    println!(
        "satang-bench bank: {} lines, {} open invoices, {} connections",
        args.lines, args.invoices, args.concurrency
    );
    let (sqlite, postgres) = on_both_backends(&args.common, async |url| {
        bench_backend(&binary, url, &args).await
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

async fn bench_backend(
    binary: &Path,
    database_url: Option<&str>,
    args: &BankArgs,
) -> anyhow::Result<BankResult> {
    RunningServer::measure_fresh(binary, database_url, async |server| {
        measure(server, args).await
    })
    .await
}

/// Sends one JSON request and reads its JSON answer, which must have `expect`.
pub async fn call(
    conn: &mut Connection,
    target: Target,
    token: Option<&str>,
    expect: StatusCode,
) -> anyhow::Result<Value> {
    let target = match token {
        Some(t) => target.with_bearer(t)?,
        None => target,
    };
    let (status, body) = conn.send(&target).await?;
    anyhow::ensure!(
        status == expect,
        "{} {} answered {status}: {}",
        target.method,
        target.paths[0],
        String::from_utf8_lossy(&body)
    );
    Ok(serde_json::from_slice(&body)?)
}

/// Signs the bench's administrator in on `conn`: the access token.
pub async fn admin_login(conn: &mut Connection) -> anyhow::Result<String> {
    let login = call(
        conn,
        Target::post_json(
            "/api/auth/login",
            &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        ),
        None,
        StatusCode::OK,
    )
    .await?;
    Ok(login["access_token"]
        .as_str()
        .context("no access_token")?
        .to_owned())
}

/// An open invoice of the set-up: its number, customer and amount due.
pub struct Open {
    pub id: String,
    pub number: String,
    customer: String,
    pub amount_due: i64,
    /// What withholding tax is taken on: the total less VAT.
    pre_vat: i64,
}

/// Creates `n` customers, each with one finalised invoice of a distinct amount, from
/// `concurrency` connections.
pub async fn open_invoices(
    server: &RunningServer,
    token: &str,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Open>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (next, token, addr) = (next.clone(), token.to_owned(), server.addr);
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await?;
            let mut made = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(made);
                }
                let name = format!("ฟาร์มทดสอบ {i:05}");
                let customer = call(
                    &mut conn,
                    Target::post_json("/api/customers", &json!({"name": name})),
                    Some(&token),
                    StatusCode::CREATED,
                )
                .await?;
                // ฿1,000.00 + i satang × 100: every invoice its own amount.
                let unit = 100_000 + i64::try_from(i)? * 100;
                let draft = call(
                    &mut conn,
                    Target::post_json(
                        "/api/invoices",
                        &json!({"customer_id": customer["id"], "lines": [
                            {"description": "ค่าบริการแพลตฟอร์มฟาร์ม", "quantity": 1, "unit_amount": unit}]}),
                    ),
                    Some(&token),
                    StatusCode::CREATED,
                )
                .await?;
                let id = draft["id"].as_str().context("invoice id")?;
                let inv = call(
                    &mut conn,
                    Target::post_json(&format!("/api/invoices/{id}/finalize"), &json!({})),
                    Some(&token),
                    StatusCode::OK,
                )
                .await?;
                made.push(Open {
                    id: id.to_owned(),
                    number: inv["number"].as_str().unwrap_or_default().to_owned(),
                    customer: name,
                    amount_due: inv["amount_due"].as_i64().context("amount_due")?,
                    pre_vat: inv["total"].as_i64().context("total")?
                        - inv["vat_amount"].as_i64().context("vat_amount")?,
                });
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

fn baht(minor: i64) -> String {
    satang_domain::bank_statement::format_baht(minor)
}

/// The statement: one transfer per open invoice, then other money in and out.
fn statement_csv(open: &[Open], lines: usize) -> String {
    let mut rng = SplitMix64(0x5eed_ba4c);
    let mut csv = String::from("Date,Amount,Description,Balance\n");
    for (i, o) in open.iter().enumerate() {
        // 3 % of the pre-VAT amount, as the customer's accountant withholds.
        let amount = if i % 2 == 1 {
            o.amount_due - withholding_tax(o.pre_vat, 300).unwrap_or(0)
        } else {
            o.amount_due
        };
        let description = match i % 3 {
            0 => format!("TRANSFER {}", o.number),
            1 => format!("โอนเงินจาก {}", o.customer),
            _ => format!("PROMPTPAY IN {:06}", rng.next() % 1_000_000),
        };
        let day = 1 + i % 28;
        let _ = writeln!(csv, "2030-01-{day:02},\"{}\",{description},0", baht(amount));
    }
    for i in open.len()..lines {
        let day = 1 + i % 28;
        // ฿20,000–70,000: above every invoice of the set-up, so never suggested.
        let amount = 2_000_000 + i64::try_from(rng.next() % 5_000_000).unwrap_or(0);
        let amount = if i % 2 == 0 { -amount } else { amount };
        let _ = writeln!(
            csv,
            "2030-01-{day:02},\"{}\",\"CARD, FEE OR TRANSFER {i}\",0",
            baht(amount)
        );
    }
    csv
}

async fn measure(server: &RunningServer, args: &BankArgs) -> anyhow::Result<BankResult> {
    let mut conn = Connection::open(server.addr).await?;
    let token = admin_login(&mut conn).await?;
    let started = Instant::now();
    let open = open_invoices(server, &token, args.invoices, args.concurrency).await?;
    println!(
        "set-up: {} open invoices in {:.1} s",
        open.len(),
        started.elapsed().as_secs_f64()
    );
    let csv = statement_csv(&open, args.lines);

    let body = json!({"csv": csv, "columns": {"date": "Date", "amount": "Amount",
                      "description": "Description"}});
    let started = Instant::now();
    let statement = call(
        &mut conn,
        Target::post_json("/api/bank-statements", &body),
        Some(&token),
        StatusCode::CREATED,
    )
    .await?;
    let upload = started.elapsed();
    let id = statement["id"].as_str().context("statement id")?.to_owned();
    anyhow::ensure!(
        statement["lines"].as_u64() == Some(args.lines as u64),
        "the statement kept {} of {} lines",
        statement["lines"],
        args.lines
    );
    println!("upload   {:>8.0} ms", upload.as_secs_f64() * 1e3);

    let started = Instant::now();
    let mut cursor: Option<String> = None;
    let mut to_match = Vec::new();
    let mut lines = 0;
    loop {
        let mut path = format!("/api/bank-statements/{id}/lines?limit=200");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = call(&mut conn, Target::get(&path), Some(&token), StatusCode::OK).await?;
        for l in page["data"].as_array().context("lines")? {
            lines += 1;
            if let Some(best) = l["suggestions"].get(0) {
                to_match.push((
                    l["id"].as_str().unwrap_or_default().to_owned(),
                    json!({"invoice_id": best["invoice_id"],
                           "withholding_tax": best["withholding_tax"]}),
                ));
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let suggest = started.elapsed();
    let suggested_lines = to_match.len();
    println!(
        "suggest  {:>8.0} ms  ({lines} lines, {suggested_lines} with a suggestion)",
        suggest.as_secs_f64() * 1e3
    );

    let started = Instant::now();
    let work = Arc::new(to_match);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (work, next, token, addr, id) = (
            work.clone(),
            next.clone(),
            token.clone(),
            server.addr,
            id.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await?;
            let (mut done, mut refused) = (0, 0);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((line, body)) = work.get(i) else {
                    return anyhow::Ok((done, refused));
                };
                let path = format!("/api/bank-statements/{id}/lines/{line}/match");
                let target = Target::post_json(&path, body).with_bearer(&token)?;
                let (status, answer) = conn.send(&target).await?;
                match status {
                    StatusCode::CREATED => done += 1,
                    // The best suggestion's invoice was already paid by another line of the
                    // same amount (amounts of different invoices can coincide).
                    StatusCode::CONFLICT => refused += 1,
                    other => anyhow::bail!(
                        "POST {path} answered {other}: {}",
                        String::from_utf8_lossy(&answer)
                    ),
                }
            }
        }));
    }
    let (mut matched, mut refused) = (0, 0);
    for t in tasks {
        let (done, conflicts) = t.await??;
        matched += done;
        refused += conflicts;
    }
    let matching = started.elapsed();
    println!(
        "match    {:>8.0} ms  ({matched} lines, {refused} refused: invoice already paid, {:.0}/s)",
        matching.as_secs_f64() * 1e3,
        matched as f64 / matching.as_secs_f64()
    );
    Ok(BankResult {
        upload,
        suggest,
        matching,
        lines,
        suggested_lines,
        matched,
        refused,
    })
}

fn render(
    m: &Machine,
    command_line: &str,
    args: &BankArgs,
    backends: &[(&str, &Result<BankResult, String>)],
) -> String {
    let mut out = String::from("## Bank reconciliation: a statement uploaded and matched\n\n");
    report::run_header(&mut out, m, command_line);
    let _ = writeln!(
        out,
        "- **Workload**: a {}-line CSV statement (one transfer for each of {} open invoices — \
         half the amount due, half net of 3 % withholding tax — the rest other money in and \
         out); upload, then every line's suggestions (`GET …/lines`, 200 a page), then each \
         suggested line matched to its best invoice ({} connections). Target: all three ≤ {} s.\n",
        args.lines,
        args.invoices,
        args.concurrency,
        TARGET.as_secs()
    );
    out.push_str("| backend | upload | suggestions | matches | total | target |\n");
    out.push_str("|---|---:|---:|---:|---:|---|\n");
    for (name, run) in backends {
        match run {
            Ok(r) => {
                let _ = writeln!(
                    out,
                    "| {name} | {} | {} ({} lines, {} suggested) | {} ({} lines, {} refused, {:.0}/s) | {} | {} |",
                    report::ms(r.upload.as_secs_f64() * 1e3),
                    report::ms(r.suggest.as_secs_f64() * 1e3),
                    r.lines,
                    r.suggested_lines,
                    report::ms(r.matching.as_secs_f64() * 1e3),
                    r.matched,
                    r.refused,
                    r.matched as f64 / r.matching.as_secs_f64().max(1e-9),
                    report::ms(r.total().as_secs_f64() * 1e3),
                    report::pass(r.total() <= TARGET),
                );
            }
            Err(why) => {
                let _ = writeln!(out, "| {name} | {why} | | | | |");
            }
        }
    }
    out
}
