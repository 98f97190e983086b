//! What the CSV imports (SPEC §2.14) need of the database: the customers a file names already,
//! found by tax id or e-mail, and many new customers written in a few statements.
//!
//! An import of 100,000 customers must take about a minute, so nothing here goes row by row:
//! look-ups ask for a few hundred keys per statement (through the tax id index and the
//! `lower(email)` index of migration 0024), and inserts are multi-row `VALUES` on SQLite and one
//! `UNNEST` statement per batch on PostgreSQL.

use satang_domain::CustomerStatus;
use uuid::Uuid;

use crate::customers::{BindCustomer, Customer};
use crate::{Backend, Db, Result, Sql, Tx, rows_per_statement};

/// A stored customer as an import recognises it: its keys, name and status.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KnownCustomer {
    pub id: Uuid,
    pub name: String,
    pub tax_id: Option<String>,
    pub branch_code: Option<String>,
    pub email: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: CustomerStatus,
}

/// Customers (deleted ones included) whose tax id is one of `tax_ids` or whose e-mail equals
/// one of `emails` ignoring case (ASCII case on SQLite, whose `lower` folds only that).
pub async fn customers_by_keys(
    db: &Db,
    tax_ids: &[String],
    emails: &[String],
) -> Result<Vec<KnownCustomer>> {
    let mut found = Vec::new();
    for sql in key_statements(tax_ids, emails) {
        found.extend(db.fetch_all::<KnownCustomer>(sql).await?);
    }
    Ok(found)
}

/// [`customers_by_keys`] inside a transaction (the one that then writes the new customers).
pub async fn customers_by_keys_in(
    tx: &mut Tx,
    tax_ids: &[String],
    emails: &[String],
) -> Result<Vec<KnownCustomer>> {
    let mut found = Vec::new();
    for sql in key_statements(tax_ids, emails) {
        found.extend(tx.fetch_all::<KnownCustomer>(sql).await?);
    }
    Ok(found)
}

/// One statement per few hundred keys; a customer matching both a tax id and an e-mail may
/// come back twice.
fn key_statements(tax_ids: &[String], emails: &[String]) -> Vec<Sql> {
    const SELECT: &str =
        "SELECT id, name, tax_id, branch_code, email, status FROM customers WHERE ";
    let per_statement = rows_per_statement(1);
    let by_tax_id = tax_ids.chunks(per_statement).map(|chunk| {
        let sql = Sql::new(format!("{SELECT}tax_id IN ("))
            .push_params(1, chunk.len())
            .push(")");
        chunk.iter().fold(sql, |sql, t| sql.bind(t.as_str()))
    });
    let by_email = emails.chunks(per_statement).map(|chunk| {
        let mut text = format!("{SELECT}lower(email) IN (");
        for n in 1..=chunk.len() {
            if n > 1 {
                text.push_str(", ");
            }
            text.push_str(&format!("lower(${n})"));
        }
        text.push(')');
        chunk
            .iter()
            .fold(Sql::new(text), |sql, e| sql.bind(e.as_str()))
    });
    by_tax_id.chain(by_email).collect()
}

/// Imports take turns: on PostgreSQL an advisory lock held until the transaction ends, so two
/// runs of one file cannot both find a customer missing and both create it. SQLite has one
/// writer already.
pub async fn take_turn(tx: &mut Tx) -> Result<()> {
    if tx.backend() == Backend::Postgres {
        tx.execute(Sql::new("SELECT pg_advisory_xact_lock(5311000024)"))
            .await?;
    }
    Ok(())
}

/// Inserts `customers` (built by [`crate::customers::new`]) in the caller's transaction.
pub async fn insert_customers(tx: &mut Tx, customers: &[Customer]) -> Result<()> {
    if customers.is_empty() {
        return Ok(());
    }
    match tx.backend() {
        Backend::Postgres => insert_unnest(tx, customers).await,
        Backend::Sqlite => insert_values(tx, customers).await,
    }
}

const INSERT_COLUMNS: &str = "id, name, legal_name, tax_id, branch_code, email, phone, \
    billing_email, address, currency, locale, payment_terms_days, metadata, status, balance, \
    created_at, updated_at, version";

/// PostgreSQL: one statement, a column per array.
async fn insert_unnest(tx: &mut Tx, customers: &[Customer]) -> Result<()> {
    let sql = Sql::new(format!(
        "INSERT INTO customers ({INSERT_COLUMNS}) SELECT * FROM UNNEST($1::uuid[], $2::text[], \
         $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[], \
         $10::text[], $11::text[], $12::bigint[], $13::jsonb[], $14::text[], $15::bigint[], \
         $16::timestamptz[], $17::timestamptz[], $18::bigint[])"
    ))
    .bind_column(customers, |c| c.id)
    .bind_column(customers, |c| c.name.clone())
    .bind_column(customers, |c| c.legal_name.clone())
    .bind_column(customers, |c| c.tax_id.clone())
    .bind_column(customers, |c| c.branch_code.clone())
    .bind_column(customers, |c| c.email.clone())
    .bind_column(customers, |c| c.phone.clone())
    .bind_column(customers, |c| c.billing_email.clone())
    .bind_column(customers, |c| c.address.as_ref().map(|a| a.0.to_json()))
    .bind_column(customers, |c| c.currency.code())
    .bind_column(customers, |c| c.locale.clone())
    .bind_column(customers, |c| c.payment_terms_days)
    .bind_column(customers, |c| c.metadata.0.clone())
    .bind_column(customers, |c| c.status.as_str())
    .bind_column(customers, |c| c.balance)
    .bind_column(customers, |c| c.created_at)
    .bind_column(customers, |c| c.updated_at)
    .bind_column(customers, |c| c.version);
    tx.execute(sql).await?;
    Ok(())
}

/// SQLite: multi-row `VALUES` statements.
async fn insert_values(tx: &mut Tx, customers: &[Customer]) -> Result<()> {
    const COLS: usize = 18;
    for chunk in customers.chunks(rows_per_statement(COLS)) {
        let mut sql = Sql::new(format!("INSERT INTO customers ({INSERT_COLUMNS}) VALUES "))
            .push_value_rows(chunk.len(), COLS);
        for c in chunk {
            sql = sql.bind_customer(c);
        }
        tx.execute(sql).await?;
    }
    Ok(())
}
