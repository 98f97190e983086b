//! `satang-bench backup`: `satang backup` of the million-customer SQLite database while the
//! server keeps serving reads (issue 27's target: no read slower than 100 ms during the backup).
//!
//! Set-up (not timed): the customers bench's book — `--customers` customers with three contacts
//! each — bulk-loaded into a fresh SQLite data directory ([`crate::bulk_load`]), and the release
//! `satang serve` on it.
//!
//! Timed: `GET /api/customers/{id}` of random loaded customers from `--concurrency` closed-loop
//! connections, for `--baseline-seconds` before the backup and then while `satang backup --to
//! FILE` runs as its own process on the same data directory (as an operator's timer runs it).
//! A read is counted in the phase in which its answer arrived, so a read slowed by the backup's
//! start counts as during. Reported: the backup's wall time and file size, and the reads'
//! count, median, 99th percentile and slowest before and during.
//!
//! SQLite only: on PostgreSQL `satang backup` is `pg_dump`, PostgreSQL's own tool.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use hyper::StatusCode;

use crate::bank::admin_login;
use crate::bulk_load::{self, LoadReport};
use crate::cli::CommonArgs;
use crate::customers::wait_for_quiet_machine;
use crate::dataset::Dataset;
use crate::load::{Connection, SplitMix64, Target};
use crate::proc_stats::Machine;
use crate::report;
use crate::server::{RunningServer, satang_binary};

pub const SECTION: &str = "backup";
/// No read slower than this during the backup.
const TARGET: Duration = Duration::from_millis(100);
/// Random customers the reads pick from.
const READ_IDS: u64 = 65_536;

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Customers to load (three contacts each).
    #[arg(long, default_value_t = 1_000_000)]
    pub customers: u64,
    /// Connections reading customers throughout, each a closed loop.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Seconds of reads before the backup starts.
    #[arg(long, default_value_t = 5)]
    pub baseline_seconds: u64,
    /// Parent directory of the SQLite data directory (default: the system temp directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Reads answered in one phase.
pub struct Reads {
    pub count: u64,
    pub errors: u64,
    pub latencies_us: Histogram<u64>,
}

impl Reads {
    fn new() -> anyhow::Result<Reads> {
        Ok(Reads {
            count: 0,
            errors: 0,
            latencies_us: Histogram::new_with_bounds(1, 600_000_000, 3)?,
        })
    }

    fn add(&mut self, other: &Reads) -> anyhow::Result<()> {
        self.count += other.count;
        self.errors += other.errors;
        self.latencies_us.add(&other.latencies_us)?;
        Ok(())
    }

    fn ms(&self, q: f64) -> f64 {
        self.latencies_us.value_at_quantile(q) as f64 / 1000.0
    }

    fn slowest_ms(&self) -> f64 {
        self.latencies_us.max() as f64 / 1000.0
    }
}

pub struct BackupResult {
    pub load: LoadReport,
    pub backup: Duration,
    pub backup_bytes: u64,
    pub before: Reads,
    pub during: Reads,
}

pub async fn run(args: BackupArgs, command_line: String) -> anyhow::Result<()> {
    let binary = satang_binary(args.common.satang.clone())?;
    let machine = Machine::describe();
    println!(
        "satang-bench backup: {} customers, {} reading connections",
        args.customers, args.concurrency
    );
    let mut builder = tempfile::Builder::new();
    builder.prefix("satang-bench-backup-");
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
    println!(
        "loaded {} customers and {} contacts in {:.1} s ({:.2} GB)",
        load.customers,
        load.contacts,
        load.total.as_secs_f64(),
        load.bytes as f64 / 1e9
    );
    let server = RunningServer::start(&binary, dir.path(), None).await?;
    println!("serving on {} (pid {})", server.addr, server.pid);
    let measured = measure(&binary, &server, dir.path(), &set, &args).await;
    let stopped = server.stop().await;
    let (backup, backup_bytes, before, during) = measured?;
    stopped?;
    let result = BackupResult {
        load,
        backup,
        backup_bytes,
        before,
        during,
    };
    let body = render(&machine, &command_line, &args, &result);
    report::write_section(&args.common.out, SECTION, &body)?;
    println!("\nwrote {}", args.common.out.display());
    Ok(())
}

/// Phases of the reads, by when an answer arrives.
const BEFORE: u8 = 0;
const DURING: u8 = 1;
const STOP: u8 = 2;

async fn measure(
    binary: &Path,
    server: &RunningServer,
    dir: &Path,
    set: &Dataset,
    args: &BackupArgs,
) -> anyhow::Result<(Duration, u64, Reads, Reads)> {
    let token = admin_login(&mut Connection::open(server.addr).await?).await?;
    let mut pick = SplitMix64(0xBAC0_0001);
    let paths: Vec<String> = (0..READ_IDS.min(set.customers))
        .map(|_| {
            format!(
                "/api/customers/{}",
                set.customer_id(pick.below(set.customers))
            )
        })
        .collect();
    let target = Arc::new(Target::get_any(paths).with_bearer(&token)?);
    wait_for_quiet_machine().await;
    let phase = Arc::new(AtomicU8::new(BEFORE));
    let mut readers = Vec::new();
    for n in 0..args.concurrency.max(1) {
        let (target, phase, addr) = (target.clone(), phase.clone(), server.addr);
        readers.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await?;
            let mut random = SplitMix64(0x5EAD_0000 + n as u64);
            let (mut before, mut during) = (Reads::new()?, Reads::new()?);
            loop {
                if phase.load(Ordering::Acquire) == STOP {
                    return anyhow::Ok((before, during));
                }
                let started = Instant::now();
                let answer = conn.send_pick(&target, random.next()).await;
                let latency = started.elapsed();
                let reads = if phase.load(Ordering::Acquire) == BEFORE {
                    &mut before
                } else {
                    &mut during
                };
                reads.count += 1;
                match answer {
                    Ok((StatusCode::OK, _)) => {}
                    Ok(_) => reads.errors += 1,
                    Err(_) => {
                        reads.errors += 1;
                        conn = Connection::open(addr).await?;
                    }
                }
                reads
                    .latencies_us
                    .saturating_record(latency.as_micros().try_into().unwrap_or(u64::MAX));
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.baseline_seconds.max(1))).await;
    let file = dir.join("bench-backup.db");
    phase.store(DURING, Ordering::Release);
    let started = Instant::now();
    let backed_up = backup(binary, dir, &file).await;
    let backup = started.elapsed();
    phase.store(STOP, Ordering::Release);
    let (mut before, mut during) = (Reads::new()?, Reads::new()?);
    for reader in readers {
        let (b, d) = reader.await??;
        before.add(&b)?;
        during.add(&d)?;
    }
    backed_up?;
    let backup_bytes = std::fs::metadata(&file)?.len();
    std::fs::remove_file(&file)?;
    println!(
        "backup   {:>8.0} ms  ({:.2} GB)",
        backup.as_secs_f64() * 1e3,
        backup_bytes as f64 / 1e9
    );
    for (name, reads) in [("before", &before), ("during", &during)] {
        println!(
            "reads {name}: {} ({} errors), p50 {}, p99 {}, slowest {}",
            reads.count,
            reads.errors,
            report::ms(reads.ms(0.5)),
            report::ms(reads.ms(0.99)),
            report::ms(reads.slowest_ms())
        );
    }
    Ok((backup, backup_bytes, before, during))
}

/// `satang backup --to FILE --data-dir DIR`, with none of the caller's `SATANG_*` settings.
async fn backup(binary: &Path, dir: &Path, file: &Path) -> anyhow::Result<()> {
    let mut command = tokio::process::Command::new(binary);
    command
        .arg("backup")
        .arg("--to")
        .arg(file)
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("SATANG_") || key == "DATABASE_URL" {
            command.env_remove(key.as_ref());
        }
    }
    let out = command
        .output()
        .await
        .with_context(|| format!("cannot run {} backup", binary.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "satang backup failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn render(m: &Machine, command_line: &str, args: &BackupArgs, r: &BackupResult) -> String {
    let mut out =
        String::from("## Backup: `satang backup` of the SQLite database while serving\n\n");
    report::run_header(&mut out, m, command_line);
    let _ = writeln!(
        out,
        "- **Workload**: {} customers and {} contacts bulk-loaded into SQLite ({:.2} GB); \
         `GET /api/customers/{{id}}` of random customers from {} connections for {} s, then \
         while `satang backup --to FILE` runs as its own process (SQLite's `VACUUM INTO` of one \
         snapshot). A read counts in the phase its answer arrived in. Target: no read slower \
         than {} ms during the backup.\n",
        r.load.customers,
        r.load.contacts,
        r.load.bytes as f64 / 1e9,
        args.concurrency,
        args.baseline_seconds,
        TARGET.as_millis()
    );
    let _ = writeln!(
        out,
        "Backup: **{:.1} s**, {:.2} GB written.\n",
        r.backup.as_secs_f64(),
        r.backup_bytes as f64 / 1e9
    );
    out.push_str("| reads | answered | errors | median | p99 | slowest | target |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---|\n");
    for (name, reads, judged) in [
        ("before the backup", &r.before, false),
        ("during the backup", &r.during, true),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            reads.count,
            reads.errors,
            report::ms(reads.ms(0.5)),
            report::ms(reads.ms(0.99)),
            report::ms(reads.slowest_ms()),
            if judged {
                report::pass(reads.errors == 0 && reads.slowest_ms() <= TARGET.as_secs_f64() * 1e3)
            } else {
                ""
            }
        );
    }
    out
}
