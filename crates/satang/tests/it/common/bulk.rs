//! Shared by the crash and two-process billing tests: thousands of due subscriptions written
//! straight through the store (set-up only; the billing under test runs in the real `satang`
//! binary), the test clock pinned in the database, the binary itself, and the invariants a
//! billing run must leave behind, read back with plain SQL.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use tokio::process::Command;
use uuid::Uuid;

use satang_api::routes::test_clock::OFFSET_KEY;
use satang_domain::{CollectionMethod, Currency, Status};
use satang_store::customers::{self, CustomerFields};
use satang_store::subscriptions::{self, SubscriptionFields};
use satang_store::{Db, Sql, kv, plans};

use crate::common::Database;
use crate::common::process::{poll, satang_command};

/// The day every seeded subscription falls due (its first month ends), and the instant the
/// binaries' test clock is set to: 10:00 in Bangkok on that day.
pub const DUE: &str = "2030-02-10";
pub const NOW: &str = "2030-02-10T03:00:00Z";
/// The period every due subscription must be invoiced for, once: [DUE, 10 March).
pub const PERIOD_END: &str = "2030-03-10";

pub fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Opens the test's database as the binary will (migrations included).
pub async fn open(db: &Database) -> Db {
    satang::open_db(&db.config()).await.expect("open database")
}

/// Pins the test clock the binaries read at start-up (`SATANG_TEST_CLOCK=1`) so that "now" is
/// [`NOW`], give or take the seconds the test runs.
pub async fn pin_clock(db: &Db) {
    let target: DateTime<Utc> = NOW.parse().unwrap();
    let offset = target.timestamp_micros() - Utc::now().timestamp_micros();
    kv::set(db, OFFSET_KEY, &offset.to_string()).await.unwrap();
}

/// `n` customers, each with one active monthly PRO subscription whose first month
/// (10 January – 10 February 2030) was paid and whose next period falls due on [`DUE`]; half
/// charged automatically (no card on file, so collection only notes that), half by invoice.
/// One transaction, so a running billing loop sees none or all of them.
pub async fn seed_due_subscriptions(db: &Db, n: usize) -> Vec<Uuid> {
    let now = Utc::now();
    let mut tx = db.begin().await.unwrap();
    let month = satang_domain::Interval::Month;
    let plan = plans::find_active_by_code(&mut tx, "PRO", Some(month), month)
        .await
        .unwrap()
        .expect("the seeded PRO monthly plan");
    assert_eq!(plan.price, 99_000, "PRO is ฿990.00 a month");
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let customer = customers::insert(
            &mut tx,
            &CustomerFields {
                name: format!("ไร่ทดสอบ {i:05}"),
                currency: Currency::Thb,
                locale: "th".into(),
                payment_terms_days: 30,
                metadata: json!({}),
                ..CustomerFields::default()
            },
            now,
        )
        .await
        .unwrap();
        let sub = subscriptions::insert(
            &mut tx,
            customer.id,
            date("2030-01-10"),
            SubscriptionFields {
                plan_id: plan.id,
                quantity: 1,
                status: Status::Active,
                collection_method: if i % 2 == 0 {
                    CollectionMethod::ChargeAutomatically
                } else {
                    CollectionMethod::SendInvoice
                },
                trial_end: None,
                current_period_start: date("2030-01-10"),
                current_period_end: date(DUE),
                billing_anchor_day: 10,
                next_billing_date: Some(date(DUE)),
                cancel_at_period_end: false,
                paused_at: None,
                canceled_at: None,
                pending_plan_id: None,
                pending_quantity: None,
                unit_price: None,
                pending_unit_price: None,
            },
            now,
        )
        .await
        .unwrap();
        ids.push(sub.id);
    }
    tx.commit().await.unwrap();
    ids
}

#[derive(sqlx::FromRow)]
struct Count {
    n: i64,
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    count_of(db, Sql::new(sql)).await
}

/// The `n` of a `SELECT COUNT(*) AS n …` with its arguments.
pub async fn count_of(db: &Db, sql: Sql) -> i64 {
    db.fetch_one::<Count>(sql).await.unwrap().n
}

/// Invoices in the database right now (committed ones).
pub async fn invoice_count(db: &Db) -> i64 {
    count(db, "SELECT COUNT(*) AS n FROM invoices").await
}

/// Invoices once the work of a killed process has settled. A SIGKILLed client does not stop
/// what its PostgreSQL backend has already received: a `COMMIT` (or a statement followed by
/// one) in flight is still carried out after the process is gone, so counting at once can
/// miss a chunk that commits a moment later. This waits until no other backend of the test's
/// database is busy (every one left is idle outside a transaction, which the test's own pool
/// is), then counts. SQLite commits in the process itself, so there is nothing to wait for.
pub async fn settled_invoice_count(db: &Db) -> i64 {
    if db.backend() == satang_store::Backend::Postgres {
        poll(
            Duration::from_secs(30),
            "the killed process's backends to finish",
            || async {
                let busy = count(
                    db,
                    "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                 AND pid <> pg_backend_pid() AND backend_type = 'client backend' \
                 AND state IS DISTINCT FROM 'idle'",
                )
                .await;
                (busy == 0).then_some(())
            },
        )
        .await;
    }
    invoice_count(db).await
}

#[derive(sqlx::FromRow)]
struct InvoiceRow {
    subscription_id: Option<Uuid>,
    period_start: Option<NaiveDate>,
    period_end: Option<NaiveDate>,
    number: Option<String>,
    status: String,
    subtotal: i64,
    vat_amount: i64,
    total: i64,
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: Uuid,
    current_period_start: NaiveDate,
    next_billing_date: Option<NaiveDate>,
    version: i64,
}

#[derive(sqlx::FromRow)]
struct Sequence {
    last_value: i64,
}

/// What a finished billing run must leave, however it was interrupted or shared: every due
/// subscription invoiced exactly once for [`DUE`, `PERIOD_END`) at ฿1,059.30, invoice numbers
/// `INV-2030-000001` … `INV-2030-{n}` with no gap and no duplicate, each subscription advanced
/// by exactly one period, and every invoice's line, audit events and outbox event present.
pub async fn assert_billed_exactly_once(db: &Db, due: &[Uuid]) {
    let n = due.len();
    let rows: Vec<InvoiceRow> = db
        .fetch_all(Sql::new(
            "SELECT subscription_id, period_start, period_end, number, status, subtotal, \
             vat_amount, total FROM invoices",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), n, "one invoice per due subscription");
    let mut per_subscription: HashMap<Uuid, usize> = HashMap::new();
    let mut numbers = Vec::with_capacity(n);
    for r in &rows {
        let sub = r.subscription_id.expect("a subscription invoice");
        *per_subscription.entry(sub).or_default() += 1;
        assert_eq!(
            (r.period_start, r.period_end),
            (Some(date(DUE)), Some(date(PERIOD_END))),
            "the period of {sub}"
        );
        // ฿990.00 + VAT 7 % ฿69.30 = ฿1,059.30, open (no card on file, nothing paid).
        assert_eq!(
            (r.subtotal, r.vat_amount, r.total, r.status.as_str()),
            (99_000, 6_930, 105_930, "open"),
            "the invoice of {sub}"
        );
        let number = r
            .number
            .as_deref()
            .expect("finalised invoices are numbered");
        let seq = number
            .strip_prefix("INV-2030-")
            .unwrap_or_else(|| panic!("unexpected number {number}"));
        assert_eq!(seq.len(), 6, "{number}");
        numbers.push(seq.parse::<usize>().unwrap());
    }
    for id in due {
        assert_eq!(
            per_subscription.get(id).copied(),
            Some(1),
            "subscription {id} must have exactly one invoice"
        );
    }
    numbers.sort_unstable();
    let expected: Vec<usize> = (1..=n).collect();
    if numbers != expected {
        let mut seen = std::collections::HashSet::new();
        let duplicates: Vec<usize> = numbers
            .iter()
            .copied()
            .filter(|x| !seen.insert(*x))
            .collect();
        let missing: Vec<usize> = expected
            .iter()
            .copied()
            .filter(|x| !seen.contains(x))
            .collect();
        panic!(
            "numbers are not 1..={n}: duplicates {:?}, missing {:?}",
            &duplicates[..duplicates.len().min(20)],
            &missing[..missing.len().min(20)]
        );
    }
    let seq: Sequence = db
        .fetch_one(Sql::new(
            "SELECT last_value FROM document_sequences \
             WHERE kind = 'invoice' AND prefix = 'INV' AND year = 2030",
        ))
        .await
        .unwrap();
    assert_eq!(
        seq.last_value, n as i64,
        "the counter ends at the last number"
    );

    // Each subscription moved on by exactly one period, in one update.
    let subs: Vec<SubscriptionRow> = db
        .fetch_all(Sql::new(
            "SELECT id, current_period_start, next_billing_date, version FROM subscriptions",
        ))
        .await
        .unwrap();
    assert_eq!(subs.len(), n);
    for s in &subs {
        assert_eq!(
            (s.current_period_start, s.next_billing_date, s.version),
            (date(DUE), Some(date(PERIOD_END)), 2),
            "subscription {}",
            s.id
        );
    }
    // Nothing half-written survived a crash: one line per invoice, and the audit and outbox
    // rows of every step.
    let n = n as i64;
    assert_eq!(
        count(db, "SELECT COUNT(*) AS n FROM invoice_lines").await,
        n
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'invoice.finalized'"
        )
        .await,
        n
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'subscription.renewed'"
        )
        .await,
        n
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) AS n FROM outbox_events WHERE event_type = 'invoice.finalized'"
        )
        .await,
        n
    );

    // The business's per-day analytics took in every invoice exactly once, whatever stopped or
    // shared the run (notes of a killed process's committed chunks, two processes folding notes
    // in at once): they agree with the invoices themselves.
    let business = satang_store::analytics::business(
        db,
        date(DUE),
        date("2030-01-10"),
        date("2030-02-01"),
        date(DUE),
    )
    .await
    .unwrap();
    let mrr = count(
        db,
        "SELECT CAST(COALESCE(SUM(mrr), 0) AS BIGINT) AS n FROM invoices WHERE status <> 'void'",
    )
    .await;
    let customers = count(
        db,
        "SELECT COUNT(DISTINCT customer_id) AS n FROM invoices WHERE mrr > 0",
    )
    .await;
    assert!(mrr > 0);
    let m = &business.movement;
    assert_eq!(
        (m.mrr, m.new_mrr, m.previous_mrr, m.churned_mrr),
        (mrr, mrr, 0, 0),
        "MRR on the due date, all of it new"
    );
    assert_eq!((m.active_subscriptions, m.active_customers), (n, customers));
    assert_eq!(
        (
            business.receivables.outstanding,
            business.receivables.overdue
        ),
        (n * 105_930, 0)
    );
}

/// The `satang` binary on the test's database, with an environment free of the caller's
/// Satang settings, the test clock on and the data directory given.
pub fn satang(db: &Database, data_dir: &Path) -> Command {
    let mut cmd = satang_command();
    if let Some(url) = &db.url {
        cmd.env("DATABASE_URL", url);
    }
    cmd.env("SATANG_TEST_CLOCK", "1")
        .env("SATANG_DATA_DIR", data_dir)
        .stdin(Stdio::null());
    cmd
}
