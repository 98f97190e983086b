//! Customers: the tenants. Every read a member can reach is scoped (see [`Scope`]); deleted
//! customers are kept (tax records) and hidden from lists unless asked for.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Backend, Db, Error, Result, Scope, Sql, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Customer {
    pub id: Uuid,
    pub name: String,
    pub legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub branch_code: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_email: Option<String>,
    pub address: Option<Json<serde_json::Value>>,
    pub currency: String,
    pub locale: String,
    pub payment_terms_days: i64,
    pub metadata: Json<serde_json::Value>,
    pub status: String,
    pub balance: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i64,
}

const COLUMNS: &str = "c.id, c.name, c.legal_name, c.tax_id, c.branch_code, c.email, c.phone, \
    c.billing_email, c.address, c.currency, c.locale, c.payment_terms_days, c.metadata, c.status, \
    c.balance, c.created_at, c.updated_at, c.deleted_at, c.version";

/// The writable fields of a customer, already validated.
#[derive(Debug, Clone, Default)]
pub struct CustomerFields {
    pub name: String,
    pub legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub branch_code: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_email: Option<String>,
    pub address: Option<serde_json::Value>,
    pub currency: String,
    pub locale: String,
    pub payment_terms_days: i64,
    pub metadata: serde_json::Value,
}

pub async fn insert(tx: &mut Tx, fields: &CustomerFields, now: DateTime<Utc>) -> Result<Customer> {
    insert_with_id(tx, Uuid::now_v7(), fields, now).await
}

pub async fn insert_with_id(
    tx: &mut Tx,
    id: Uuid,
    f: &CustomerFields,
    now: DateTime<Utc>,
) -> Result<Customer> {
    tx.execute(
        Sql::new(
            "INSERT INTO customers (id, name, legal_name, tax_id, branch_code, email, phone, \
             billing_email, address, currency, locale, payment_terms_days, metadata, status, \
             balance, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13, 'active', 0, $14, $14, 1)",
        )
        .bind(id)
        .bind(f.name.as_str())
        .bind(f.legal_name.clone())
        .bind(f.tax_id.clone())
        .bind(f.branch_code.clone())
        .bind(f.email.clone())
        .bind(f.phone.clone())
        .bind(f.billing_email.clone())
        .bind(f.address.clone())
        .bind(f.currency.as_str())
        .bind(f.locale.as_str())
        .bind(f.payment_terms_days)
        .bind(f.metadata.clone())
        .bind(now),
    )
    .await?;
    get_in(tx, id).await?.ok_or(Error::NotFound)
}

/// One customer within the scope (deleted ones included: they stay readable by id).
pub async fn get(db: &Db, scope: Scope, id: Uuid) -> Result<Option<Customer>> {
    db.fetch_optional(
        Sql::new(format!(
            "SELECT {COLUMNS} FROM customers c WHERE c.id = $1 AND {}",
            Scope::clause("c.id", 2)
        ))
        .bind(id)
        .bind(scope.member_user()),
    )
    .await
}

pub async fn get_in(tx: &mut Tx, id: Uuid) -> Result<Option<Customer>> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    tx.fetch_optional(
        Sql::new(format!(
            "SELECT {COLUMNS} FROM customers c WHERE c.id = $1{lock}"
        ))
        .bind(id),
    )
    .await
}

/// What a customer list asks for.
#[derive(Debug, Clone, Default)]
pub struct CustomerQuery {
    /// Substring of name, legal name, email, billing email or tax id.
    pub q: Option<String>,
    /// `active`, `suspended` or `deleted`; without it every customer but deleted ones.
    pub status: Option<String>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// Customers in creation order. A search term of three characters or more is answered by the
/// trigram index of each backend; a shorter one by a scan that stops at the page size.
pub async fn list(db: &Db, scope: Scope, query: &CustomerQuery) -> Result<Vec<Customer>> {
    let term = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let search = match (term, db.backend()) {
        (None, _) => "TRUE".to_owned(),
        (Some(t), Backend::Sqlite) if t.chars().count() >= 3 => {
            "c.rowid IN (SELECT rowid FROM customers_fts WHERE customers_fts MATCH $5)".to_owned()
        }
        (Some(_), Backend::Sqlite) => "c.search_text LIKE $5 ESCAPE '\\'".to_owned(),
        (Some(_), Backend::Postgres) => "c.search_text LIKE $5 ESCAPE '\\'".to_owned(),
    };
    let term_arg = term.map(|t| match db.backend() {
        Backend::Sqlite if t.chars().count() >= 3 => fts_phrase(t),
        _ => format!("%{}%", escape_like(&t.to_lowercase())),
    });
    let mut sql = Sql::new(format!(
        "SELECT {COLUMNS} FROM customers c WHERE {} \
         AND (($2 IS NULL AND c.status <> 'deleted') OR c.status = $2) \
         AND ($3 IS NULL OR c.id > $3) AND {search} ORDER BY c.id LIMIT $4",
        Scope::clause("c.id", 1)
    ))
    .bind(scope.member_user())
    .bind(query.status.clone())
    .bind(query.after)
    .bind(query.limit);
    if let Some(term) = term_arg {
        sql = sql.bind(term);
    }
    db.fetch_all(sql).await
}

/// An FTS5 phrase matching the term literally (quotes doubled).
fn fts_phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

fn escape_like(term: &str) -> String {
    term.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Replaces the writable fields; the caller has merged the patch into the current values.
pub async fn update(
    tx: &mut Tx,
    id: Uuid,
    f: &CustomerFields,
    now: DateTime<Utc>,
) -> Result<Customer> {
    let n = tx
        .execute(
            Sql::new(
                "UPDATE customers SET name = $2, legal_name = $3, tax_id = $4, branch_code = $5, \
                 email = $6, phone = $7, billing_email = $8, address = $9, currency = $10, \
                 locale = $11, payment_terms_days = $12, metadata = $13, updated_at = $14, \
                 version = version + 1 WHERE id = $1",
            )
            .bind(id)
            .bind(f.name.as_str())
            .bind(f.legal_name.clone())
            .bind(f.tax_id.clone())
            .bind(f.branch_code.clone())
            .bind(f.email.clone())
            .bind(f.phone.clone())
            .bind(f.billing_email.clone())
            .bind(f.address.clone())
            .bind(f.currency.as_str())
            .bind(f.locale.as_str())
            .bind(f.payment_terms_days)
            .bind(f.metadata.clone())
            .bind(now),
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    get_in(tx, id).await?.ok_or(Error::NotFound)
}

/// Moves a customer to `status` (`active`, `suspended`, `deleted`).
pub async fn set_status(
    tx: &mut Tx,
    id: Uuid,
    status: &str,
    now: DateTime<Utc>,
) -> Result<Customer> {
    tx.execute(
        Sql::new(
            "UPDATE customers SET status = $2, updated_at = $3, version = version + 1, \
             deleted_at = CASE WHEN $2 = 'deleted' THEN $3 ELSE NULL END WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(now),
    )
    .await?;
    get_in(tx, id).await?.ok_or(Error::NotFound)
}

#[derive(sqlx::FromRow)]
struct Exists {
    #[allow(dead_code)]
    id: Uuid,
}

/// True when a customer with this id exists (in any status).
pub async fn exists(db: &Db, id: Uuid) -> Result<bool> {
    let row: Option<Exists> = db
        .fetch_optional(Sql::new("SELECT id FROM customers WHERE id = $1").bind(id))
        .await?;
    Ok(row.is_some())
}
