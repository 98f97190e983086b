//! Loads the generated customer book straight into a database, bypassing the API: the product
//! schema (`Db::migrate`), then every row through each backend's fast path.
//!
//! - **PostgreSQL**: the secondary indexes of `customers` and `contacts` are dropped (their
//!   definitions kept from `pg_indexes`), both tables are filled by `COPY … FROM STDIN` on two
//!   connections at once, the indexes are built again from the kept definitions (the trigram GIN
//!   index on one connection, the B-trees on another) and both tables are vacuumed and analysed.
//!   The contacts connection skips the foreign-key triggers while it copies
//!   (`session_replication_role = replica`: every contact's customer is in the same load; without
//!   the privilege the contacts are copied after the customers, with the checks).
//! - **SQLite**: the FTS triggers and secondary indexes are dropped (their SQL kept from
//!   `sqlite_master`), the rows go in through prepared multi-row `INSERT`s in one transaction with
//!   `synchronous = OFF`, then the indexes and triggers are created again from the kept SQL and
//!   the FTS5 index is rebuilt from the table (`INSERT INTO customers_fts(customers_fts)
//!   VALUES ('rebuild')`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use satang_store::{Backend, Db, Sql};
use sqlx::{Connection, Executor, PgPool, Row, Sqlite, SqliteConnection};
use tokio::sync::mpsc;

use crate::dataset::{CONTACTS_PER_CUSTOMER, ContactRow, CustomerRow, Dataset};

/// What a load took, step by step.
#[derive(Default)]
pub struct LoadReport {
    pub total: Duration,
    pub steps: Vec<(String, Duration)>,
    pub customers: i64,
    pub contacts: i64,
    /// Size of the database (file or `pg_database_size`).
    pub bytes: u64,
}

struct Stopwatch {
    started: Instant,
    lap: Instant,
    steps: Vec<(String, Duration)>,
}

impl Stopwatch {
    fn new() -> Stopwatch {
        let now = Instant::now();
        Stopwatch {
            started: now,
            lap: now,
            steps: Vec::new(),
        }
    }

    fn lap(&mut self, step: &str) {
        let now = Instant::now();
        let took = now - self.lap;
        println!("  {step}: {:.1} s", took.as_secs_f64());
        self.steps.push((step.to_owned(), took));
        self.lap = now;
    }
}

/// Customers generated per batch handed from the generator to the writer.
const BATCH: u64 = 2_000;

/// Streams customer numbers `0..n` in batches from a generator task, so generating and writing
/// overlap.
fn generate<T: Send + 'static>(
    set: Dataset,
    make: impl Fn(&Dataset, u64) -> T + Send + 'static,
) -> mpsc::Receiver<Vec<T>> {
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        let mut from = 0;
        while from < set.customers {
            let to = (from + BATCH).min(set.customers);
            let batch: Vec<T> = (from..to).map(|i| make(&set, i)).collect();
            if tx.send(batch).await.is_err() {
                return;
            }
            from = to;
        }
    });
    rx
}

// ---------------------------------------------------------------------------------------------
// SQLite

/// Customers per `INSERT` statement (16 bound values each).
const SQLITE_CUSTOMER_ROWS: usize = 50;
/// Contacts per `INSERT` statement (9 bound values each).
const SQLITE_CONTACT_ROWS: usize = 100;

pub async fn load_sqlite(dir: &Path, set: &Dataset) -> anyhow::Result<LoadReport> {
    let mut clock = Stopwatch::new();
    let db = Db::open_sqlite(dir).await?;
    db.migrate().await?;
    let Db::Sqlite { pool, .. } = &db else {
        anyhow::bail!("expected a SQLite database");
    };
    // The load runs on one connection; nothing else reads meanwhile.
    let mut conn = pool.acquire().await?;
    clock.lap("open and migrate");

    for pragma in [
        "PRAGMA synchronous = OFF",
        "PRAGMA cache_size = -1048576",
        "PRAGMA temp_store = MEMORY",
    ] {
        conn.execute(pragma).await?;
    }
    // The FTS triggers and the secondary indexes go, to come back after the rows.
    let kept: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN ('customers', 'contacts') \
         AND type IN ('trigger', 'index') AND sql IS NOT NULL ORDER BY type DESC, name",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (kind, name, _) in &kept {
        conn.execute(format!("DROP {} {name}", kind.to_uppercase()).as_str())
            .await?;
    }
    clock.lap("drop FTS triggers and secondary indexes");

    let mut tx = conn.begin().await?;
    let mut customers = generate(*set, |s, i| s.customer(i));
    while let Some(batch) = customers.recv().await {
        for rows in batch.chunks(SQLITE_CUSTOMER_ROWS) {
            insert_sqlite_customers(&mut tx, rows).await?;
        }
    }
    clock.lap("insert customers");
    let mut contacts = generate(*set, |s, i| s.contacts(i));
    while let Some(batch) = contacts.recv().await {
        let rows: Vec<ContactRow> = batch.into_iter().flatten().collect();
        for rows in rows.chunks(SQLITE_CONTACT_ROWS) {
            insert_sqlite_contacts(&mut tx, rows).await?;
        }
    }
    clock.lap("insert contacts");
    tx.commit().await?;
    clock.lap("commit");

    // Indexes first (triggers would not fire for what is already there anyway).
    for (kind, _, sql) in kept.iter().filter(|(kind, ..)| kind == "index") {
        debug_assert_eq!(kind, "index");
        conn.execute(sql.as_str()).await?;
    }
    clock.lap("create secondary indexes");
    conn.execute("INSERT INTO customers_fts (customers_fts) VALUES ('rebuild')")
        .await?;
    clock.lap("rebuild FTS5 index");
    for (_, _, sql) in kept.iter().filter(|(kind, ..)| kind == "trigger") {
        conn.execute(sql.as_str()).await?;
    }
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(&mut *conn)
        .await?;
    let contacts: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts")
        .fetch_one(&mut *conn)
        .await?;
    drop(conn);
    // Closing the last connection checkpoints the WAL into the database file.
    pool.close().await;
    clock.lap("restore triggers, count, checkpoint");
    let bytes = std::fs::metadata(dir.join("satang.db"))?.len();
    Ok(LoadReport {
        total: clock.started.elapsed(),
        steps: clock.steps,
        customers,
        contacts,
        bytes,
    })
}

fn values_list(rows: usize, row: &str) -> String {
    let mut sql = String::with_capacity(rows * (row.len() + 2));
    for n in 0..rows {
        if n > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
    sql
}

async fn insert_sqlite_customers(
    conn: &mut SqliteConnection,
    rows: &[CustomerRow],
) -> anyhow::Result<()> {
    let sql = format!(
        "INSERT INTO customers (id, name, legal_name, tax_id, branch_code, email, phone, \
         billing_email, address, currency, locale, payment_terms_days, metadata, status, balance, \
         created_at, updated_at, deleted_at, version) VALUES {}",
        values_list(
            rows.len(),
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'THB', ?, ?, '{}', ?, 0, ?, ?, ?, ?)"
        )
    );
    let mut q = sqlx::query::<Sqlite>(&sql);
    for r in rows {
        debug_assert!(r.currency == "THB" && r.metadata == "{}" && r.balance == 0);
        q = q
            .bind(r.id)
            .bind(r.name.as_str())
            .bind(r.legal_name.as_deref())
            .bind(r.tax_id.as_deref())
            .bind(r.branch_code.as_deref())
            .bind(r.email.as_deref())
            .bind(r.phone.as_deref())
            .bind(r.billing_email.as_deref())
            .bind(r.address.as_ref().map(|a| a.to_string()))
            .bind(r.locale)
            .bind(r.payment_terms_days)
            .bind(r.status.as_str())
            .bind(r.created_at)
            .bind(r.updated_at)
            .bind(r.deleted_at)
            .bind(r.version);
    }
    q.execute(conn).await?;
    Ok(())
}

async fn insert_sqlite_contacts(
    conn: &mut SqliteConnection,
    rows: &[ContactRow],
) -> anyhow::Result<()> {
    let sql = format!(
        "INSERT INTO contacts (id, customer_id, name, email, phone, role, is_primary, created_at, \
         updated_at, version) VALUES {}",
        values_list(rows.len(), "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    );
    let mut q = sqlx::query::<Sqlite>(&sql);
    for r in rows {
        q = q
            .bind(r.id)
            .bind(r.customer_id)
            .bind(r.name.as_str())
            .bind(r.email.as_deref())
            .bind(r.phone.as_deref())
            .bind(r.role)
            .bind(r.is_primary)
            .bind(r.created_at)
            .bind(r.updated_at)
            .bind(r.version);
    }
    q.execute(conn).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// Bytes of COPY data sent at a time.
const COPY_CHUNK: usize = 512 * 1024;

pub async fn load_postgres(url: &str, set: &Dataset) -> anyhow::Result<LoadReport> {
    let mut clock = Stopwatch::new();
    let db = Db::open_postgres(url, 4).await?;
    db.migrate().await?;
    let Db::Postgres { pool, .. } = &db else {
        anyhow::bail!("expected a PostgreSQL database");
    };
    clock.lap("open and migrate");

    // Secondary indexes (not those behind a primary key or unique constraint) go, to be built
    // again in one pass each once the rows are in.
    let kept: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.indexname::text, i.indexdef FROM pg_indexes i \
         WHERE i.schemaname = 'customers' AND i.tablename IN ('customers', 'contacts') \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) \
         ORDER BY i.indexname",
    )
    .fetch_all(pool)
    .await?;
    for (name, _) in &kept {
        sqlx::query(&format!("DROP INDEX customers.{name}"))
            .execute(pool)
            .await?;
    }
    clock.lap("drop secondary indexes");

    let mut contacts_conn = pool.acquire().await?;
    let skip_fk = sqlx::query("SET session_replication_role = replica")
        .execute(&mut *contacts_conn)
        .await
        .is_ok();
    let customers = tokio::spawn(copy_customers(pool.clone(), *set));
    if skip_fk {
        let contacts = copy_contacts(&mut contacts_conn, *set).await;
        let customers = customers.await?;
        customers?;
        contacts?;
        sqlx::query("RESET session_replication_role")
            .execute(&mut *contacts_conn)
            .await?;
        drop(contacts_conn);
        clock.lap("COPY customers and contacts (two connections)");
    } else {
        customers.await??;
        clock.lap("COPY customers");
        copy_contacts(&mut contacts_conn, *set).await?;
        drop(contacts_conn);
        clock.lap("COPY contacts (with foreign-key checks)");
    }

    // The trigram index is the slow one: it gets a connection of its own.
    let (gin, btrees): (Vec<_>, Vec<_>) = kept
        .iter()
        .map(|(_, def)| def.clone())
        .partition(|def| def.contains("USING gin"));
    let gin_task = tokio::spawn(create_indexes(pool.clone(), gin));
    create_indexes(pool.clone(), btrees).await?;
    gin_task.await??;
    clock.lap("create secondary indexes");
    let vacuum_contacts = {
        let pool = pool.clone();
        tokio::spawn(async move {
            sqlx::query("VACUUM (ANALYZE) customers.contacts")
                .execute(&pool)
                .await
        })
    };
    sqlx::query("VACUUM (ANALYZE) customers.customers")
        .execute(pool)
        .await?;
    vacuum_contacts.await??;
    clock.lap("VACUUM (ANALYZE)");
    let total = clock.started.elapsed();

    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM customers.customers), \
         (SELECT count(*) FROM customers.contacts), pg_database_size(current_database())",
    )
    .fetch_one(pool)
    .await?;
    let report = LoadReport {
        total,
        steps: clock.steps,
        customers: row.try_get(0)?,
        contacts: row.try_get(1)?,
        bytes: row.try_get::<i64, _>(2)? as u64,
    };
    // Not timed: every contact's customer exists (the copy skipped the checks).
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM customers.contacts k \
         WHERE NOT EXISTS (SELECT 1 FROM customers.customers c WHERE c.id = k.customer_id)",
    )
    .fetch_one(pool)
    .await?;
    anyhow::ensure!(orphans == 0, "{orphans} contacts without their customer");
    pool.close().await;
    Ok(report)
}

async fn create_indexes(pool: PgPool, definitions: Vec<String>) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SET maintenance_work_mem = '1GB'")
        .execute(&mut *conn)
        .await?;
    for def in definitions {
        sqlx::query(&def)
            .execute(&mut *conn)
            .await
            .with_context(|| def.clone())?;
    }
    sqlx::query("RESET maintenance_work_mem")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn copy_customers(pool: PgPool, set: Dataset) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let mut copy = conn
        .copy_in_raw(
            "COPY customers.customers (id, name, legal_name, tax_id, branch_code, email, phone, \
             billing_email, address, currency, locale, payment_terms_days, metadata, status, \
             balance, created_at, updated_at, deleted_at, version) FROM STDIN",
        )
        .await?;
    let mut buf = Vec::with_capacity(COPY_CHUNK + 64 * 1024);
    let mut rows = generate(set, |s, i| s.customer(i));
    while let Some(batch) = rows.recv().await {
        for r in &batch {
            copy_customer_line(&mut buf, r);
            if buf.len() >= COPY_CHUNK {
                copy.send(buf.as_slice()).await?;
                buf.clear();
            }
        }
    }
    if !buf.is_empty() {
        copy.send(buf.as_slice()).await?;
    }
    let n = copy.finish().await?;
    anyhow::ensure!(n == set.customers, "COPY wrote {n} customers");
    Ok(())
}

async fn copy_contacts(conn: &mut sqlx::PgConnection, set: Dataset) -> anyhow::Result<()> {
    let mut copy = conn
        .copy_in_raw(
            "COPY customers.contacts (id, customer_id, name, email, phone, role, is_primary, \
             created_at, updated_at, version) FROM STDIN",
        )
        .await?;
    let mut buf = Vec::with_capacity(COPY_CHUNK + 64 * 1024);
    let mut rows = generate(set, |s, i| s.contacts(i));
    while let Some(batch) = rows.recv().await {
        for r in batch.iter().flatten() {
            copy_contact_line(&mut buf, r);
            if buf.len() >= COPY_CHUNK {
                copy.send(buf.as_slice()).await?;
                buf.clear();
            }
        }
    }
    if !buf.is_empty() {
        copy.send(buf.as_slice()).await?;
    }
    let n = copy.finish().await?;
    anyhow::ensure!(
        n == set.customers * CONTACTS_PER_CUSTOMER as u64,
        "COPY wrote {n} contacts"
    );
    Ok(())
}

/// One row of COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
fn copy_customer_line(buf: &mut Vec<u8>, r: &CustomerRow) {
    let address = r.address.as_ref().map(|a| a.to_string());
    put_uuid(buf, r.id);
    for field in [
        Some(r.name.as_str()),
        r.legal_name.as_deref(),
        r.tax_id.as_deref(),
        r.branch_code.as_deref(),
        r.email.as_deref(),
        r.phone.as_deref(),
        r.billing_email.as_deref(),
        address.as_deref(),
        Some(r.currency),
        Some(r.locale),
    ] {
        buf.push(b'\t');
        put_text(buf, field);
    }
    buf.push(b'\t');
    put_int(buf, r.payment_terms_days);
    for field in [Some(r.metadata), Some(r.status.as_str())] {
        buf.push(b'\t');
        put_text(buf, field);
    }
    buf.push(b'\t');
    put_int(buf, r.balance);
    for time in [Some(r.created_at), Some(r.updated_at), r.deleted_at] {
        buf.push(b'\t');
        put_time(buf, time);
    }
    buf.push(b'\t');
    put_int(buf, r.version);
    buf.push(b'\n');
}

fn copy_contact_line(buf: &mut Vec<u8>, r: &ContactRow) {
    put_uuid(buf, r.id);
    buf.push(b'\t');
    put_uuid(buf, r.customer_id);
    for field in [
        Some(r.name.as_str()),
        r.email.as_deref(),
        r.phone.as_deref(),
        Some(r.role),
    ] {
        buf.push(b'\t');
        put_text(buf, field);
    }
    buf.extend_from_slice(if r.is_primary { b"\tt" } else { b"\tf" });
    for time in [Some(r.created_at), Some(r.updated_at)] {
        buf.push(b'\t');
        put_time(buf, time);
    }
    buf.push(b'\t');
    put_int(buf, r.version);
    buf.push(b'\n');
}

fn put_uuid(buf: &mut Vec<u8>, id: uuid::Uuid) {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    buf.extend_from_slice(id.hyphenated().encode_lower(&mut text).as_bytes());
}

fn put_int(buf: &mut Vec<u8>, n: i64) {
    buf.extend_from_slice(n.to_string().as_bytes());
}

fn put_text(buf: &mut Vec<u8>, value: Option<&str>) {
    let Some(value) = value else {
        buf.extend_from_slice(b"\\N");
        return;
    };
    for &b in value.as_bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

fn put_time(buf: &mut Vec<u8>, time: Option<DateTime<Utc>>) {
    match time {
        Some(t) => buf.extend_from_slice(t.to_rfc3339_opts(SecondsFormat::Micros, true).as_bytes()),
        None => buf.extend_from_slice(b"\\N"),
    }
}

/// Fresh planner statistics after subscriptions were inserted in bulk, so the first queries
/// of a measurement do not run on the plans of an empty table.
pub async fn analyze_subscriptions(db: &Db) -> anyhow::Result<()> {
    let sql = match db.backend() {
        Backend::Postgres => "VACUUM (ANALYZE) customers.subscriptions",
        Backend::Sqlite => "ANALYZE",
    };
    db.execute(Sql::new(sql)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_and_nulls() {
        let mut buf = Vec::new();
        put_text(&mut buf, Some("a\tb\\c\nd"));
        buf.push(b'|');
        put_text(&mut buf, None);
        assert_eq!(buf, b"a\\tb\\\\c\\nd|\\N");
    }
}
