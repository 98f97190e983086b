//! Crashes: a process killed with SIGKILL leaves nothing half-done and nothing doubled.
//!
//! A billing run killed mid-way loses nothing and doubles nothing (SPEC §2.6), on SQLite and
//! PostgreSQL: the real `satang bill` binary bills thousands of due subscriptions, is killed
//! with SIGKILL (no chance to clean up) while some but not all invoices exist, twice, and a
//! third `satang bill` finishes the run. Afterwards every due subscription has exactly one
//! invoice for its period, invoice numbers run 1..N with no gap and no duplicate, and each
//! invoice's line, audit events and outbox event exist (nothing half-committed).

/// Keyed requests retried after a crash (SPEC §2, Idempotency).
mod idempotency_crash;

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::Child;

use crate::common::bulk::{
    assert_billed_exactly_once, invoice_count, open, pin_clock, satang, settled_invoice_count,
};
use crate::common::{Backend, Database};

both_backends!(a_killed_billing_run_resumes_without_gaps_or_duplicates);

/// Due subscriptions: enough that a run takes seconds, so it can be killed in the middle.
const SUBSCRIPTIONS: usize = 2_000;

/// Kills `child` with SIGKILL once at least `at_least` invoices are committed, and returns how
/// many exist after it died (which must still be fewer than all).
async fn kill_when(db: &satang_store::Db, child: &mut Child, at_least: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "satang bill ended ({status}) before it could be killed with {} invoices",
                invoice_count(db).await
            );
        }
        if invoice_count(db).await >= at_least {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no {at_least} invoices after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "killed, not finished: {status}");
    settled_invoice_count(db).await
}

async fn a_killed_billing_run_resumes_without_gaps_or_duplicates(backend: Backend) {
    let Some(database) = Database::create(backend).await else {
        return;
    };
    let db = open(&database).await;
    pin_clock(&db).await;
    let started = Instant::now();
    let due = crate::common::bulk::seed_due_subscriptions(&db, SUBSCRIPTIONS).await;
    eprintln!(
        "{backend:?}: {SUBSCRIPTIONS} due subscriptions seeded in {:?}",
        started.elapsed()
    );
    let all = SUBSCRIPTIONS as i64;
    let data_dir = database.data_dir();

    // Killed twice: once early, once past the middle.
    let mut committed = 0;
    for at_least in [all / 5, all / 2] {
        let mut child = satang(&database, &data_dir)
            .arg("bill")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("satang bill starts");
        let started = Instant::now();
        let now = kill_when(&db, &mut child, at_least.max(committed + 1)).await;
        eprintln!(
            "{backend:?}: killed after {:?} with {now} invoices committed",
            started.elapsed()
        );
        assert!(
            now > committed && now < all,
            "killed in the middle: {committed} → {now} of {all}"
        );
        committed = now;
    }

    // A third run finishes the work, creating exactly what is missing.
    let started = Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        satang(&database, &data_dir).arg("bill").output(),
    )
    .await
    .expect("satang bill finishes")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // The billing report is the first JSON document printed.
    let report: Value = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .next()
        .expect("a report")
        .unwrap();
    eprintln!(
        "{backend:?}: the last run billed {} in {:?}",
        all - committed,
        started.elapsed()
    );
    assert_eq!(report["invoices_created"], all - committed, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_billed_exactly_once(&db, &due).await;

    // Once more: nothing is due, nothing changes.
    let out = satang(&database, &data_dir)
        .arg("bill")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let again: Value = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(again["invoices_created"], 0, "{again}");
    assert_billed_exactly_once(&db, &due).await;
}
