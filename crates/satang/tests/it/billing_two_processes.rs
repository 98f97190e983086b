//! Two `satang serve` processes on one PostgreSQL database, both running the billing scheduler
//! every second, share thousands of due subscriptions without doubling any (SPEC §2.6, §6):
//! exactly one invoice per subscription and period, numbers 1..N with no gap and no duplicate,
//! no failed step, and both processes did part of the work (their scheduler's audit entries name
//! them). Mid-run the first one seen billing is stopped with SIGTERM: it finishes the step in
//! hand, exits cleanly, and the other bills the rest. PostgreSQL only (SQLite has one writer and
//! no second process on one file is supported); skipped like the harness skips when no server
//! is reachable, unless `SATANG_REQUIRE_POSTGRES=1`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Child;

use crate::common::bulk::{
    assert_billed_exactly_once, count_of, invoice_count, open, pin_clock, satang,
};
use crate::common::process::{free_port, read_log};
use crate::common::{Backend, Database};

const SUBSCRIPTIONS: usize = 2_000;

struct Serve {
    child: Child,
    base: String,
    log: PathBuf,
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

/// How many audit entries the scheduler of the process with this pid wrote (its actor's request
/// id names the process).
async fn audited_by(db: &satang_store::Db, pid: u32) -> i64 {
    count_of(
        db,
        satang_store::Sql::new("SELECT COUNT(*) AS n FROM audit_events WHERE request_id = $1")
            .bind(format!("billing-scheduler:{pid}")),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_share_a_billing_run_without_duplicates() {
    let Some(database) = Database::create(Backend::Postgres).await else {
        return;
    };
    let db = open(&database).await;
    pin_clock(&db).await;
    let mut procs = [serve(&database, "a"), serve(&database, "b")];
    for p in procs.iter_mut() {
        wait_ready(p).await;
    }
    let pids = procs.each_ref().map(|p| p.child.id().unwrap());

    // Everything becomes due at once (one transaction) while both schedulers are running. Their
    // one-second ticks are not aligned, so either may start first.
    let due = crate::common::bulk::seed_due_subscriptions(&db, SUBSCRIPTIONS).await;
    let started = Instant::now();
    let all = SUBSCRIPTIONS as i64;
    let deadline = started + Duration::from_secs(90);
    // The process stopped mid-run: the first one seen billing, so that the other, however late
    // its first tick, has the rest to do.
    let mut stopped: Option<usize> = None;
    loop {
        for (k, p) in procs.iter_mut().enumerate() {
            if stopped == Some(k) {
                continue;
            }
            if let Some(status) = p.child.try_wait().unwrap() {
                panic!("satang serve exited ({status}): {}", read_log(&p.log));
            }
        }
        let n = invoice_count(&db).await;
        assert!(n <= all, "{n} invoices for {all} subscriptions");
        if n == all {
            break;
        }
        if stopped.is_none() && n >= all / 4 {
            let mut first = None;
            for (k, pid) in pids.iter().enumerate() {
                if first.is_none() && audited_by(&db, *pid).await > 0 {
                    first = Some(k);
                }
            }
            let k = first.expect("invoices exist, so one of the processes billed them");
            // Graceful stop in the middle of the run: the step in hand completes, then exit 0.
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &pids[k].to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            let p = &mut procs[k];
            let status = tokio::time::timeout(Duration::from_secs(60), p.child.wait())
                .await
                .expect("the process stops within 60 s of SIGTERM")
                .unwrap();
            assert!(status.success(), "{status}: {}", read_log(&p.log));
            stopped = Some(k);
            eprintln!(
                "process {} stopped by SIGTERM with {} invoices in the database",
                ["a", "b"][k],
                invoice_count(&db).await
            );
        }
        assert!(
            Instant::now() < deadline,
            "{n} of {all} invoices after 90 s\n--- a\n{}\n--- b\n{}",
            read_log(&procs[0].log),
            read_log(&procs[1].log)
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

    let stopped = stopped.expect("the run ended before a process could be stopped");
    let survivor = &mut procs[1 - stopped];
    survivor.child.start_kill().unwrap();
    survivor.child.wait().await.unwrap();
    let (log_a, log_b) = (read_log(&procs[0].log), read_log(&procs[1].log));
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
    // The audit log names the process that billed each subscription.
    let audited = [
        audited_by(&db, pids[0]).await,
        audited_by(&db, pids[1]).await,
    ];
    assert_eq!(
        (audited[0] > 0, audited[1] > 0),
        (true, true),
        "audit entries by process: {audited:?}"
    );
    for log in [&log_a, &log_b] {
        assert!(!log.contains("ERROR"), "{log}");
    }
}
