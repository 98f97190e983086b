//! Two `satang serve` processes on one PostgreSQL database, both running the billing scheduler
//! every second, share thousands of due subscriptions without doubling any (SPEC §2.6, §6):
//! exactly one invoice per subscription and period, numbers 1..N with no gap and no duplicate,
//! no failed step, and both processes did part of the work. Mid-run one of them is stopped with
//! SIGTERM: it finishes the step in hand, exits cleanly, and the other bills the rest. PostgreSQL only (SQLite has one
//! writer and no second process on one file is supported); skipped like the harness skips
//! when no server is reachable, unless `SATANG_REQUIRE_POSTGRES=1`.

#[path = "billing_bulk/mod.rs"]
mod billing_bulk;
#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Child;

use billing_bulk::{assert_billed_exactly_once, free_port, invoice_count, open, pin_clock, satang};
use common::{Backend, Database};

const SUBSCRIPTIONS: usize = 2_000;

struct Serve {
    child: Child,
    base: String,
    log: PathBuf,
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Starts `satang serve` with the billing scheduler every second, logging its runs.
fn serve(database: &Database, name: &str) -> Serve {
    let data_dir = database.data_dir().join(name);
    std::fs::create_dir_all(&data_dir).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let log = data_dir.join("serve.log");
    let file = std::fs::File::create(&log).unwrap();
    let child = satang(database, &data_dir)
        .args(["serve", "--addr", &addr])
        .env("SATANG_BILLING_INTERVAL", "1")
        .env("SATANG_LOG", "warn,satang::scheduler=info")
        .env("SATANG_LOG_FORMAT", "json")
        .env("SATANG_DB_MAX_CONNECTIONS", "4")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .stdin(Stdio::null())
        .spawn()
        .expect("satang serve starts");
    Serve {
        child,
        base: format!("http://{addr}"),
        log,
    }
}

async fn wait_ready(server: &mut Serve) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("satang serve exited ({status}): {}", read_log(&server.log));
        }
        if let Ok(res) = http.get(format!("{}/readyz", server.base)).send().await
            && res.status() == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not ready after 30 s: {}",
            read_log(&server.log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The sums of `invoices` and `failed` over the scheduler's "billing run" log lines (JSON).
fn billed_by(log: &str) -> (u64, u64) {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["message"] == "billing run")
        .fold((0, 0), |(i, f), e| {
            (
                i + e["invoices"].as_u64().unwrap_or(0),
                f + e["failed"].as_u64().unwrap_or(0),
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_share_a_billing_run_without_duplicates() {
    let Some(database) = Database::create(Backend::Postgres).await else {
        return;
    };
    let db = open(&database).await;
    pin_clock(&db).await;
    let mut a = serve(&database, "a");
    let mut b = serve(&database, "b");
    wait_ready(&mut a).await;
    wait_ready(&mut b).await;

    // Everything becomes due at once (one transaction) while both schedulers are running.
    let due = billing_bulk::seed_due_subscriptions(&db, SUBSCRIPTIONS).await;
    let started = Instant::now();
    let all = SUBSCRIPTIONS as i64;
    let deadline = started + Duration::from_secs(90);
    let mut a_stopped = false;
    loop {
        let running: &mut [&mut Serve] = if a_stopped {
            &mut [&mut b]
        } else {
            &mut [&mut a, &mut b]
        };
        for s in running.iter_mut() {
            if let Some(status) = s.child.try_wait().unwrap() {
                panic!("satang serve exited ({status}): {}", read_log(&s.log));
            }
        }
        let n = invoice_count(&db).await;
        assert!(n <= all, "{n} invoices for {all} subscriptions");
        if n == all {
            break;
        }
        if !a_stopped && n >= all / 4 {
            // Graceful stop in the middle of the run: the step in hand completes, then exit 0.
            let pid = a.child.id().unwrap().to_string();
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap();
            assert!(sent.success());
            let status = tokio::time::timeout(Duration::from_secs(20), a.child.wait())
                .await
                .expect("process a stops within 20 s of SIGTERM")
                .unwrap();
            assert!(status.success(), "{status}: {}", read_log(&a.log));
            a_stopped = true;
            eprintln!(
                "process a stopped by SIGTERM with {} invoices in the database",
                invoice_count(&db).await
            );
        }
        assert!(
            Instant::now() < deadline,
            "{n} of {all} invoices after 90 s\n--- a\n{}\n--- b\n{}",
            read_log(&a.log),
            read_log(&b.log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "two processes billed {all} subscriptions in {:?}",
        started.elapsed()
    );
    // Two more scheduler ticks each: nothing further may appear.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_billed_exactly_once(&db, &due).await;

    assert!(a_stopped, "the run ended before process a could be stopped");
    b.child.start_kill().unwrap();
    b.child.wait().await.unwrap();
    let (log_a, log_b) = (read_log(&a.log), read_log(&b.log));
    let ((by_a, failed_a), (by_b, failed_b)) = (billed_by(&log_a), billed_by(&log_b));
    eprintln!("process a billed {by_a}, process b billed {by_b}");
    assert_eq!(
        (failed_a, failed_b),
        (0, 0),
        "failed steps\n--- a\n{log_a}\n--- b\n{log_b}"
    );
    assert_eq!(by_a + by_b, all as u64, "--- a\n{log_a}\n--- b\n{log_b}");
    assert!(
        by_a > 0 && by_b > 0,
        "both processes should have billed: a {by_a}, b {by_b}"
    );
    for log in [&log_a, &log_b] {
        assert!(!log.contains("ERROR"), "{log}");
    }
}
