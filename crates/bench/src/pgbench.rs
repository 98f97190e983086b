//! PostgreSQL's own client benchmark, the yardstick for what Satang gets out of the same server
//! at the same concurrency: `pgbench -S` (one primary-key SELECT per transaction) on a scratch
//! database, and a one-INSERT script into a table shaped like `customers.customers`.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::Connection;
use tokio::process::Command;

use crate::customers::{CustomersArgs, OTHER_CORES_LIMIT};
use crate::postgres::ScratchDatabase;
use crate::proc_stats::{CpuClock, NamedCpuSampler};

/// What one pgbench run reported.
pub struct PgbenchRun {
    /// The commands, as run (database URLs shortened to their name).
    pub commands: Vec<String>,
    /// The custom script, if any.
    pub script: Option<String>,
    pub tps: f64,
    pub latency_ms: f64,
}

/// Warm-up seconds before each measured pgbench run.
const WARM_UP_SECONDS: u64 = 2;

/// The INSERT the `pgbench -f` comparison runs: one customer-shaped row per transaction, into a
/// table created `LIKE customers.customers INCLUDING ALL` (same columns, generated `search_text`,
/// defaults, primary key, trigram GIN index and B-tree indexes).
pub const INSERT_SCRIPT: &str = r#"\set n random(1, 9999)
INSERT INTO bench_insert (id, name, legal_name, tax_id, branch_code, email, phone, billing_email, address, currency, locale, payment_terms_days, metadata, status, balance, created_at, updated_at, version) VALUES (gen_random_uuid(), 'ฟาร์มทุเรียนบ้านนา ' || :n, 'บริษัท ฟาร์มทุเรียนบ้านนา ' || :n || ' จำกัด', '0105536000315', '00000', 'office@durian-banna' || :n || '.co.th', '02-123-4567', 'billing@durian-banna' || :n || '.co.th', '{"country": "TH", "district": "บ้านนา", "line1": "12 หมู่ 3", "line2": null, "postal_code": "26110", "province": "นครนายก", "subdistrict": "บ้านนา"}', 'THB', 'th', 30, '{}', 'active', 0, now(), now(), 1);
"#;

fn threads(concurrency: usize) -> usize {
    concurrency.clamp(1, 2)
}

/// `pgbench -i -s N` on a scratch database, then `pgbench -S -c C -j 2 -T S`.
pub async fn select_only(args: &CustomersArgs) -> anyhow::Result<PgbenchRun> {
    let db = ScratchDatabase::create(&args.common.postgres_url).await?;
    let result = select_only_on(args, &db).await;
    let dropped = db.drop_database().await;
    let result = result?;
    dropped?;
    Ok(result)
}

async fn select_only_on(args: &CustomersArgs, db: &ScratchDatabase) -> anyhow::Result<PgbenchRun> {
    let c = args.concurrency.max(1).to_string();
    let j = threads(args.concurrency).to_string();
    let scale = args.pgbench_scale.to_string();
    let init = ["-i", "-q", "-s", scale.as_str()];
    run_pgbench(&args.pgbench, &init, &db.url).await?;
    let warm = WARM_UP_SECONDS.to_string();
    run_pgbench(
        &args.pgbench,
        &["-S", "-c", &c, "-j", &j, "-T", &warm],
        &db.url,
    )
    .await?;
    let seconds = args.seconds.max(1).to_string();
    let measured = ["-S", "-c", &c, "-j", &j, "-T", &seconds];
    crate::customers::wait_for_quiet_machine().await;
    let (tps, latency_ms) = measured_pgbench(&args.pgbench, &measured, &db.url).await?;
    println!(
        "{:<34} {tps:>8.0} tps    latency average {latency_ms:.2} ms",
        "pgbench -S"
    );
    Ok(PgbenchRun {
        commands: vec![
            shown(&args.pgbench, &init, "<scratch>"),
            shown(&args.pgbench, &measured, "<scratch>"),
        ],
        script: None,
        tps,
        latency_ms,
    })
}

/// The one-INSERT script at the same concurrency, into `public.bench_insert` of the loaded
/// database (dropped afterwards).
pub async fn insert(args: &CustomersArgs, url: &str) -> anyhow::Result<PgbenchRun> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query("CREATE TABLE public.bench_insert (LIKE customers.customers INCLUDING ALL)")
        .execute(&mut conn)
        .await?;
    let dir = tempfile::Builder::new()
        .prefix("satang-bench-pgbench-")
        .tempdir()?;
    let script = dir.path().join("insert.sql");
    std::fs::write(&script, INSERT_SCRIPT)?;
    let result = insert_on(args, url, &script).await;
    let dropped = sqlx::query("DROP TABLE public.bench_insert")
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    let result = result?;
    dropped?;
    Ok(result)
}

async fn insert_on(args: &CustomersArgs, url: &str, script: &Path) -> anyhow::Result<PgbenchRun> {
    let c = args.concurrency.max(1).to_string();
    let j = threads(args.concurrency).to_string();
    let file = script.to_string_lossy().into_owned();
    let warm = WARM_UP_SECONDS.to_string();
    run_pgbench(
        &args.pgbench,
        &["-n", "-f", &file, "-c", &c, "-j", &j, "-T", &warm],
        url,
    )
    .await?;
    let seconds = args.seconds.max(1).to_string();
    let measured = ["-n", "-f", &file, "-c", &c, "-j", &j, "-T", &seconds];
    crate::customers::wait_for_quiet_machine().await;
    let (tps, latency_ms) = measured_pgbench(&args.pgbench, &measured, url).await?;
    println!(
        "{:<34} {tps:>8.0} tps    latency average {latency_ms:.2} ms",
        "pgbench -f insert.sql"
    );
    let shown_args = ["-n", "-f", "insert.sql", "-c", &c, "-j", &j, "-T", &seconds];
    Ok(PgbenchRun {
        commands: vec![shown(&args.pgbench, &shown_args, "<loaded database>")],
        script: Some(INSERT_SCRIPT.to_owned()),
        tps,
        latency_ms,
    })
}

fn shown(binary: &Path, args: &[&str], database: &str) -> String {
    let name = binary
        .file_name()
        .map_or_else(|| "pgbench".into(), |n| n.to_string_lossy().into_owned());
    format!("{name} {} {database}", args.join(" "))
}

/// Runs a measured pgbench; when something else on the machine took more than
/// [`OTHER_CORES_LIMIT`] meanwhile, waits for quiet and runs it again (three tries).
async fn measured_pgbench(binary: &Path, args: &[&str], url: &str) -> anyhow::Result<(f64, f64)> {
    let mut tries = 0;
    loop {
        tries += 1;
        let machine = CpuClock::of_machine()?;
        let database = NamedCpuSampler::start("postgres")?;
        let children = children_cpu_seconds();
        let started = Instant::now();
        let result = run_pgbench(binary, args, url).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let pgbench_cores = (children_cpu_seconds() - children) / elapsed;
        let database_cores = database.stop();
        let other = (machine.cores_since()? - database_cores - pgbench_cores).max(0.0);
        println!(
            "  pgbench {}: cores: database {database_cores:.2}, pgbench {pgbench_cores:.2}, \
             other {other:.2}",
            args.join(" ")
        );
        if other <= OTHER_CORES_LIMIT || tries >= 3 {
            return Ok(result);
        }
        println!("  something else was running: running pgbench again");
        crate::customers::wait_for_quiet_machine().await;
    }
}

/// CPU seconds used by this process's finished children (pgbench).
fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return 0.0;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Runs pgbench on the database at `url`; returns (tps, average latency in ms).
async fn run_pgbench(binary: &Path, args: &[&str], url: &str) -> anyhow::Result<(f64, f64)> {
    let output = tokio::time::timeout(
        Duration::from_secs(600),
        Command::new(binary)
            .args(args)
            .arg(url)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("pgbench did not finish within 10 minutes")?
    .with_context(|| format!("cannot run {}", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(
        output.status.success(),
        "pgbench {} failed ({}):\n{stdout}\n{stderr}",
        args.join(" "),
        output.status
    );
    let value = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
    };
    if args.contains(&"-i") {
        return Ok((0.0, 0.0));
    }
    let failed = value("number of failed transactions: ").unwrap_or(0.0);
    anyhow::ensure!(failed == 0.0, "pgbench: {failed} failed transactions");
    Ok((
        value("tps = ").context("no tps in pgbench's output")?,
        value("latency average = ").unwrap_or(0.0),
    ))
}
