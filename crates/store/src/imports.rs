//! What the CSV imports (SPEC §2.14) need of the database: the customers, plans and
//! subscriptions a file names already, and many new customers or subscriptions written in a few
//! statements.
//!
//! An import of 100,000 customers must take about a minute, so nothing here goes row by row:
//! look-ups ask for a few hundred keys per statement (through the tax id index, the
//! `lower(email)` index of migration 0024 and the subscriptions' customer index), and inserts
//! are multi-row `VALUES` on SQLite and one `UNNEST` statement per batch on PostgreSQL.
//!
//! A look-up reads through a [`Reader`]: the transaction that then writes (under the import's
//! turn, [`take_turn`]), or — for a dry run or a file refused already — the database itself.

use chrono::NaiveDate;
use satang_domain::{Currency, CustomerStatus};
use uuid::Uuid;

use crate::customers::{BindCustomer, Customer};
use crate::db::Row;
use crate::plans::Plan;
use crate::subscriptions::Subscription;
use crate::{Backend, Db, Result, Sql, Tx, entitlement_signals, rows_per_statement};

/// Where an import reads what the database holds.
pub enum Reader<'a> {
    /// A dry run, or a file refused already: no transaction, no turn taken.
    Db(&'a Db),
    /// The transaction that writes what the import creates.
    Tx(&'a mut Tx),
}

impl Reader<'_> {
    async fn fetch_all<T: Row>(&mut self, sql: Sql) -> Result<Vec<T>> {
        match self {
            Reader::Db(db) => db.fetch_all(sql).await,
            Reader::Tx(tx) => tx.fetch_all(sql).await,
        }
    }

    /// Every statement's rows, one after the other.
    async fn fetch_each<T: Row>(&mut self, statements: Vec<Sql>) -> Result<Vec<T>> {
        let mut found = Vec::new();
        for sql in statements {
            found.extend(self.fetch_all::<T>(sql).await?);
        }
        Ok(found)
    }
}

/// A stored customer as an import recognises it: its keys, name, status and currency.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KnownCustomer {
    pub id: Uuid,
    pub name: String,
    pub tax_id: Option<String>,
    pub branch_code: Option<String>,
    pub email: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: CustomerStatus,
    #[sqlx(try_from = "String")]
    pub currency: Currency,
}

const KNOWN_CUSTOMER: &str =
    "SELECT id, name, tax_id, branch_code, email, status, currency FROM customers WHERE ";

/// Customers (deleted ones included) whose tax id is one of `tax_ids` or whose e-mail equals
/// one of `emails` ignoring case (ASCII case on SQLite, whose `lower` folds only that). A
/// customer matching both a tax id and an e-mail may come back twice.
pub async fn customers_by_keys(
    reader: &mut Reader<'_>,
    tax_ids: &[String],
    emails: &[String],
) -> Result<Vec<KnownCustomer>> {
    let per_statement = rows_per_statement(1);
    let by_tax_id = tax_ids.chunks(per_statement).map(|chunk| {
        let sql = Sql::new(format!("{KNOWN_CUSTOMER}tax_id IN ("))
            .push_params(1, chunk.len())
            .push(")");
        chunk.iter().fold(sql, |sql, t| sql.bind(t.as_str()))
    });
    let by_email = emails.chunks(per_statement).map(|chunk| {
        let mut text = format!("{KNOWN_CUSTOMER}lower(email) IN (");
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
    reader.fetch_each(by_tax_id.chain(by_email).collect()).await
}

/// The customers of these ids that exist (deleted ones included).
pub async fn customers_by_ids(reader: &mut Reader<'_>, ids: &[Uuid]) -> Result<Vec<KnownCustomer>> {
    let statements = ids
        .chunks(rows_per_statement(1))
        .map(|chunk| {
            let sql = Sql::new(format!("{KNOWN_CUSTOMER}id IN ("))
                .push_params(1, chunk.len())
                .push(")");
            chunk.iter().fold(sql, |sql, id| sql.bind(*id))
        })
        .collect();
    reader.fetch_each(statements).await
}

/// The plans on sale (active) under these codes, every interval.
pub async fn plans_on_sale(reader: &mut Reader<'_>, codes: &[String]) -> Result<Vec<Plan>> {
    let statements = codes
        .chunks(rows_per_statement(1))
        .map(|chunk| {
            let sql = Sql::new("SELECT * FROM plan_catalog WHERE active AND code IN (")
                .push_params(1, chunk.len())
                .push(")");
            chunk.iter().fold(sql, |sql, c| sql.bind(c.as_str()))
        })
        .collect();
    reader.fetch_each(statements).await
}

/// A stored subscription as an import recognises it: its customer, plan code and start date.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KnownSubscription {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub plan_code: String,
    pub start_date: NaiveDate,
}

/// Every subscription (canceled ones included) of these customers.
pub async fn subscriptions_of(
    reader: &mut Reader<'_>,
    customer_ids: &[Uuid],
) -> Result<Vec<KnownSubscription>> {
    let statements = customer_ids
        .chunks(rows_per_statement(1))
        .map(|chunk| {
            let sql = Sql::new(
                "SELECT s.id, s.customer_id, p.code AS plan_code, s.start_date \
                 FROM subscriptions s JOIN plan_catalog p ON p.id = s.plan_id \
                 WHERE s.customer_id IN (",
            )
            .push_params(1, chunk.len())
            .push(")");
            chunk.iter().fold(sql, |sql, id| sql.bind(*id))
        })
        .collect();
    reader.fetch_each(statements).await
}

/// Imports take turns: on PostgreSQL an advisory lock held until the transaction ends, so two
/// runs of one file cannot both find a record missing and both create it. SQLite has one
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
        Backend::Postgres => insert_customers_unnest(tx, customers).await,
        Backend::Sqlite => insert_customers_values(tx, customers).await,
    }
}

const CUSTOMER_COLUMNS: &str = "id, name, legal_name, tax_id, branch_code, email, phone, \
    billing_email, address, currency, locale, payment_terms_days, metadata, status, balance, \
    created_at, updated_at, version";

/// PostgreSQL: one statement, a column per array.
async fn insert_customers_unnest(tx: &mut Tx, customers: &[Customer]) -> Result<()> {
    let sql = Sql::new(format!(
        "INSERT INTO customers ({CUSTOMER_COLUMNS}) SELECT * FROM UNNEST($1::uuid[], $2::text[], \
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
async fn insert_customers_values(tx: &mut Tx, customers: &[Customer]) -> Result<()> {
    const COLS: usize = 18;
    for chunk in customers.chunks(rows_per_statement(COLS)) {
        let mut sql = Sql::new(format!(
            "INSERT INTO customers ({CUSTOMER_COLUMNS}) VALUES "
        ))
        .push_value_rows(chunk.len(), COLS);
        for c in chunk {
            sql = sql.bind_customer(c);
        }
        tx.execute(sql).await?;
    }
    Ok(())
}

/// The columns an imported subscription sets; the others keep their defaults (no trial, no
/// pause, no pending change, no billing threshold).
const SUBSCRIPTION_COLUMNS: &str = "id, customer_id, plan_id, quantity, status, \
    collection_method, start_date, current_period_start, current_period_end, billing_anchor_day, \
    next_billing_date, cancel_at_period_end, unit_price, created_at, updated_at, version";

/// Inserts imported `subscriptions` (their state as the import built it; the joined plan
/// fields are not stored) in the caller's transaction, and signals their customers'
/// entitlements as changed.
pub async fn insert_subscriptions(tx: &mut Tx, subscriptions: &[Subscription]) -> Result<()> {
    if subscriptions.is_empty() {
        return Ok(());
    }
    match tx.backend() {
        Backend::Postgres => {
            let s = subscriptions;
            let sql = Sql::new(format!(
                "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) SELECT * FROM UNNEST(\
                 $1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::text[], \
                 $7::date[], $8::date[], $9::date[], $10::bigint[], $11::date[], \
                 $12::boolean[], $13::bigint[], $14::timestamptz[], $15::timestamptz[], \
                 $16::bigint[])"
            ))
            .bind_column(s, |s| s.id)
            .bind_column(s, |s| s.customer_id)
            .bind_column(s, |s| s.plan_id)
            .bind_column(s, |s| s.quantity)
            .bind_column(s, |s| s.status.as_str())
            .bind_column(s, |s| s.collection_method.as_str())
            .bind_column(s, |s| s.start_date)
            .bind_column(s, |s| s.current_period_start)
            .bind_column(s, |s| s.current_period_end)
            .bind_column(s, |s| s.billing_anchor_day)
            .bind_column(s, |s| s.next_billing_date)
            .bind_column(s, |s| s.cancel_at_period_end)
            .bind_column(s, |s| s.unit_price)
            .bind_column(s, |s| s.created_at)
            .bind_column(s, |s| s.updated_at)
            .bind_column(s, |s| s.version);
            tx.execute(sql).await?;
        }
        Backend::Sqlite => {
            const COLS: usize = 16;
            for chunk in subscriptions.chunks(rows_per_statement(COLS)) {
                let mut sql = Sql::new(format!(
                    "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES "
                ))
                .push_value_rows(chunk.len(), COLS);
                for s in chunk {
                    sql = sql
                        .bind(s.id)
                        .bind(s.customer_id)
                        .bind(s.plan_id)
                        .bind(s.quantity)
                        .bind(s.status.as_str())
                        .bind(s.collection_method.as_str())
                        .bind(s.start_date)
                        .bind(s.current_period_start)
                        .bind(s.current_period_end)
                        .bind(s.billing_anchor_day)
                        .bind(s.next_billing_date)
                        .bind(s.cancel_at_period_end)
                        .bind(s.unit_price)
                        .bind(s.created_at)
                        .bind(s.updated_at)
                        .bind(s.version);
                }
                tx.execute(sql).await?;
            }
        }
    }
    let mut customers: Vec<Uuid> = subscriptions.iter().map(|s| s.customer_id).collect();
    customers.sort_unstable();
    customers.dedup();
    entitlement_signals::changed(tx, &customers).await
}
