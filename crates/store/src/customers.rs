//! Customers: the tenants. Every read a member can reach is scoped (see [`Scope`]); deleted
//! customers are kept (tax records) and hidden from lists unless asked for.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use satang_domain::{Currency, CustomerStatus};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::{Actor, Change};
use crate::outbox::NewEvent;
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
    pub address: Option<Json<PostalAddress>>,
    #[sqlx(try_from = "String")]
    pub currency: Currency,
    pub locale: String,
    pub payment_terms_days: i64,
    pub metadata: Json<serde_json::Value>,
    #[sqlx(try_from = "String")]
    pub status: CustomerStatus,
    pub balance: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i64,
}

const COLUMNS: &str = "c.id, c.name, c.legal_name, c.tax_id, c.branch_code, c.email, c.phone, \
    c.billing_email, c.address, c.currency, c.locale, c.payment_terms_days, c.metadata, c.status, \
    c.balance, c.created_at, c.updated_at, c.deleted_at, c.version";

/// [`COLUMNS`] without the table alias, for `RETURNING`.
const RETURNED: &str = "id, name, legal_name, tax_id, branch_code, email, phone, billing_email, \
    address, currency, locale, payment_terms_days, metadata, status, balance, created_at, \
    updated_at, deleted_at, version";

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
    pub address: Option<PostalAddress>,
    pub currency: Currency,
    pub locale: String,
    pub payment_terms_days: i64,
    pub metadata: serde_json::Value,
}

/// A customer's postal address as stored (validated by the API: every field present, `country`
/// always set).
///
/// A struct rather than a JSON value: a list page decodes fifty of these, and decoding into
/// named fields makes no map and allocates only the values. The fields are in alphabetical
/// order, the order in which the JSON object the column holds was always written out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostalAddress {
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// อำเภอ / เขต
    pub district: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub province: Option<String>,
    /// ตำบล / แขวง
    pub subdistrict: Option<String>,
}

impl PostalAddress {
    /// The address as a JSON object (the column's value).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "country": self.country, "district": self.district, "line1": self.line1,
            "line2": self.line2, "postal_code": self.postal_code, "province": self.province,
            "subdistrict": self.subdistrict,
        })
    }
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
    // The row comes back from the INSERT itself: no second statement to read it.
    tx.fetch_one(insert_statement(&new(id, f, now)).push(&format!(" RETURNING {RETURNED}")))
        .await
}

/// A new customer as [`insert`] stores it: active, version 1, nothing owed.
pub fn new(id: Uuid, f: &CustomerFields, now: DateTime<Utc>) -> Customer {
    Customer {
        id,
        name: f.name.clone(),
        legal_name: f.legal_name.clone(),
        tax_id: f.tax_id.clone(),
        branch_code: f.branch_code.clone(),
        email: f.email.clone(),
        phone: f.phone.clone(),
        billing_email: f.billing_email.clone(),
        address: f.address.clone().map(Json),
        currency: f.currency,
        locale: f.locale.clone(),
        payment_terms_days: f.payment_terms_days,
        metadata: Json(f.metadata.clone()),
        status: CustomerStatus::Active,
        balance: 0,
        created_at: now,
        updated_at: now,
        deleted_at: None,
        version: 1,
    }
}

/// Stores `customer` (from [`new`]) with its `customer.created` event and audit entry, all or
/// nothing; on PostgreSQL in one statement (see [`crate::audited`]).
pub async fn create(
    db: &Db,
    customer: &Customer,
    event: NewEvent<'_>,
    actor: &Actor,
    change: Change<'_>,
) -> Result<()> {
    let statement = insert_statement(customer);
    crate::audited::write(db, statement, event, actor, change, customer.created_at).await
}

fn insert_statement(c: &Customer) -> Sql {
    Sql::new(
        "INSERT INTO customers (id, name, legal_name, tax_id, branch_code, email, phone, \
         billing_email, address, currency, locale, payment_terms_days, metadata, status, \
         balance, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
         $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind_customer(c)
}

/// Binds a customer's columns in the order `id, name, legal_name, tax_id, branch_code, email,
/// phone, billing_email, address, currency, locale, payment_terms_days, metadata, status,
/// balance, created_at, updated_at, version` (one insert here, many in `imports`).
pub(crate) trait BindCustomer {
    fn bind_customer(self, c: &Customer) -> Self;
}

impl BindCustomer for Sql {
    fn bind_customer(self, c: &Customer) -> Self {
        self.bind(c.id)
            .bind(c.name.as_str())
            .bind(c.legal_name.clone())
            .bind(c.tax_id.clone())
            .bind(c.branch_code.clone())
            .bind(c.email.clone())
            .bind(c.phone.clone())
            .bind(c.billing_email.clone())
            .bind(c.address.as_ref().map(|a| a.0.to_json()))
            .bind(c.currency.code())
            .bind(c.locale.as_str())
            .bind(c.payment_terms_days)
            .bind(c.metadata.0.clone())
            .bind(c.status.as_str())
            .bind(c.balance)
            .bind(c.created_at)
            .bind(c.updated_at)
            .bind(c.version)
    }
}

/// One customer within the scope (deleted ones included: they stay readable by id).
pub async fn get(db: &Db, scope: Scope, id: Uuid) -> Result<Option<Customer>> {
    db.fetch_optional(by_id(scope, id)).await
}

/// One statement per kind of caller rather than `Scope::clause`: with `$2 IS NULL OR EXISTS …`
/// PostgreSQL never settles on a generic plan (the custom plan, with the NULL folded away, always
/// looks cheaper) and so plans this hottest of reads again on every call.
fn by_id(scope: Scope, id: Uuid) -> Sql {
    // The two statements' text is made once: this is the hottest read.
    static ALL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {COLUMNS} FROM customers c WHERE c.id = $1"));
    static MEMBER: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{} AND EXISTS (SELECT 1 FROM customer_users su \
             WHERE su.customer_id = c.id AND su.user_id = $2)",
            *ALL
        )
    });
    match scope {
        Scope::All => Sql::new(ALL.as_str()).bind(id),
        Scope::Member(user) => Sql::new(MEMBER.as_str()).bind(id).bind(user),
    }
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

/// Several customers inside a transaction, locked in id order on PostgreSQL (the order every
/// multi-customer lock takes, so two of them cannot deadlock).
pub async fn lock_many_in(tx: &mut Tx, ids: &[Uuid]) -> Result<Vec<Customer>> {
    many_in(tx, ids, true).await
}

/// Several customers inside a transaction, not locked.
pub async fn find_many_in(tx: &mut Tx, ids: &[Uuid]) -> Result<Vec<Customer>> {
    many_in(tx, ids, false).await
}

async fn many_in(tx: &mut Tx, ids: &[Uuid], lock: bool) -> Result<Vec<Customer>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lock = match tx.backend() {
        Backend::Postgres if lock => " FOR UPDATE",
        _ => "",
    };
    let mut sql = Sql::new(format!("SELECT {COLUMNS} FROM customers c WHERE c.id IN ("))
        .push_params(1, ids.len())
        .push(&format!(") ORDER BY c.id{lock}"));
    for id in ids {
        sql = sql.bind(id);
    }
    tx.fetch_all(sql).await
}

/// What a customer list asks for.
#[derive(Debug, Clone, Default)]
pub struct CustomerQuery {
    /// Substring of name, legal name, email, billing email or tax id.
    pub q: Option<String>,
    /// Without it every customer but deleted ones.
    pub status: Option<CustomerStatus>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// Customers in creation order, one page after the cursor.
///
/// The statement is assembled from the filters present, so each shape gets its own plan and
/// every condition can use an index (a generic `$n IS NULL OR …` cannot). How a search term is
/// answered depends on who asks and on the backend:
/// - a member's few customers are filtered directly (`search_text LIKE`);
/// - staff on PostgreSQL: `LIKE` on the trigram-indexed `search_text` in ranges of the id
///   order (see [`search_postgres`]);
/// - staff on SQLite with a term of three characters or more: the FTS5 trigram index, walked in
///   rowid (insertion, i.e. creation) order so a page stops after `limit` matches; shorter terms
///   scan `search_text`.
pub async fn list(db: &Db, scope: Scope, query: &CustomerQuery) -> Result<Vec<Customer>> {
    let term = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let use_fts = db.backend() == Backend::Sqlite
        && scope == Scope::All
        && term.is_some_and(|t| t.chars().count() >= 3);
    if use_fts {
        return list_by_fts(db, query, term.unwrap_or_default()).await;
    }
    if let Some(term) = term
        && db.backend() == Backend::Postgres
        && scope == Scope::All
    {
        return search_postgres(db, query, &term.to_lowercase()).await;
    }
    let mut sql = Sql::new(format!("SELECT {COLUMNS} FROM customers c WHERE TRUE"));
    if let Scope::Member(user) = scope {
        let n = sql.next_param();
        sql = sql
            .push(&format!(
                " AND c.id IN (SELECT su.customer_id FROM customer_users su WHERE su.user_id = ${n})"
            ))
            .bind(user);
    }
    sql = status_condition(sql, query);
    if let Some(after) = query.after {
        let n = sql.next_param();
        sql = sql.push(&format!(" AND c.id > ${n}")).bind(after);
    }
    if let Some(term) = term {
        // SQLite gets here only for members' few customers (staff search through FTS5).
        let term = term.to_lowercase();
        let probe = probe_window(&term).filter(|_| db.backend() == Backend::Postgres);
        sql = term_condition(sql, &term, probe).planned_per_call();
    }
    sql = sql.push(" ORDER BY c.id").limit(query.limit);
    db.fetch_all(sql).await
}

/// Customers a staff search on PostgreSQL walks in id order before it asks the index.
pub const WALK_ROWS: i64 = 2_000;

/// The farthest a page's rest is looked for in one id range; a term sparser than that is rare.
pub const MAX_SPAN: i64 = 100_000;

/// Staff search on PostgreSQL: a page is the first `limit` matches in id order.
///
/// After the walk, each step asks for the matches in a range of the id order, `(from, to]`,
/// which PostgreSQL answers from both indexes at once (the id range `AND` the trigram index, or
/// walking a short range), so a step reads the range's matches, not the whole table's:
/// 1. the next [`WALK_ROWS`] customers, walked: this fills the page of any term in one customer
///    of forty;
/// 2. at the density the walk found, the range that should hold the rest of the page, twice over
///    (its end estimated from the ids' creation times, see [`estimated_id_after`]);
/// 3. a term the walk did not find, or a page still short, continues to the end through the
///    trigram index alone.
async fn search_postgres(db: &Db, query: &CustomerQuery, term: &str) -> Result<Vec<Customer>> {
    let walk = walk(db, query, term).await?;
    if walk.rows.len() as i64 >= query.limit || walk.saw_the_rest {
        return Ok(walk.rows);
    }
    let mut rows = walk.rows;
    let mut from = walk.window.map(|w| w.1).or(query.after);
    let missing = query.limit - rows.len() as i64;
    let to = walk.window.and_then(|window| {
        let span = rest_span(missing, rows.len() as i64)?;
        estimated_id_after(window, WALK_ROWS, span)
    });
    if let Some(to) = to {
        rows.extend(matches_in(db, query, term, (from, Some(to)), missing).await?);
        if rows.len() as i64 >= query.limit {
            return Ok(rows);
        }
        from = Some(to);
    }
    let missing = query.limit - rows.len() as i64;
    rows.extend(rare_matches(db, query, term, from, missing).await?);
    Ok(rows)
}

/// What the walk of step 1 found: its matches and, when it found any, the first and last id of
/// the [`WALK_ROWS`] customers it read (deleted ones included).
struct Walk {
    rows: Vec<Customer>,
    window: Option<(Uuid, Uuid)>,
    /// Fewer than [`WALK_ROWS`] customers were left to read: the walk saw them all.
    saw_the_rest: bool,
}

/// A match of the walk, with the walked window's bounds (the same on every row).
#[derive(sqlx::FromRow)]
struct Walked {
    #[sqlx(flatten)]
    customer: Customer,
    walked: i64,
    walk_first: Uuid,
    walk_last: Uuid,
}

/// Step 1 of [`search_postgres`]: the matches among the next [`WALK_ROWS`] customers, each
/// checked with `strpos`. One statement with one plan for every term: a common term, the usual
/// search, costs no more than a list page. The window's bounds come back with the matches, so
/// the next step needs no statement to find where the walk stopped.
async fn walk(db: &Db, query: &CustomerQuery, term: &str) -> Result<Walk> {
    let mut sql = Sql::new(format!(
        "SELECT {COLUMNS}, c.walked, c.walk_first, c.walk_last FROM (SELECT w.*, \
         count(*) OVER a AS walked, first_value(w.id) OVER a AS walk_first, \
         last_value(w.id) OVER a AS walk_last FROM (SELECT * FROM customers c"
    ));
    if let Some(after) = query.after {
        sql = sql.push(" WHERE c.id > $1").bind(after);
    }
    sql = sql.push(&format!(
        " ORDER BY c.id LIMIT {WALK_ROWS}) w WINDOW a AS (ORDER BY w.id \
         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) c WHERE TRUE"
    ));
    sql = status_condition(sql, query);
    let n = sql.next_param();
    let sql = sql
        .push(&format!(
            " AND strpos(c.search_text, ${n}) > 0 ORDER BY c.id"
        ))
        .bind(term)
        .limit(query.limit);
    let found: Vec<Walked> = db.fetch_all(sql).await?;
    let window = found.first().map(|w| (w.walk_first, w.walk_last));
    let saw_the_rest = found.first().is_some_and(|w| w.walked < WALK_ROWS);
    Ok(Walk {
        rows: found.into_iter().map(|w| w.customer).collect(),
        window,
        saw_the_rest,
    })
}

/// Step 2 of [`search_postgres`]: the customers to range over for `missing` more matches when
/// the walk of [`WALK_ROWS`] found `found`; `None` for a rare term.
pub fn rest_span(missing: i64, found: i64) -> Option<i64> {
    (2 * missing * WALK_ROWS)
        .checked_div(found)
        .filter(|&span| span <= MAX_SPAN)
}

/// An id about `rows` customers after `window.1`, where `window` spans `walked` customers:
/// customer ids are UUIDv7, whose first 48 bits are the creation time in milliseconds, so the
/// time the window took to fill, scaled, bounds the next range without counting it (counting
/// `rows` index entries costs more than the search). The range may hold more or fewer customers
/// than asked; the step after it carries on either way. `None` when the ids carry no usable time.
pub fn estimated_id_after((first, last): (Uuid, Uuid), walked: i64, rows: i64) -> Option<Uuid> {
    let millis = |id: Uuid| (id.get_version_num() == 7).then(|| id.as_u128() >> 80);
    let (start, end) = (millis(first)?, millis(last)?);
    let took = end.checked_sub(start).filter(|&t| t > 0)?;
    let until = end + took * u128::try_from(rows).ok()? / u128::try_from(walked).ok()?.max(1);
    // Every id created in the bound's millisecond is inside the range.
    (until < 1 << 48).then(|| Uuid::from_u128((until << 80) | ((1 << 80) - 1)))
}

/// The first `limit` matches of `term` with ids in `(from, to]` (open where `None`), in id order.
async fn matches_in(
    db: &Db,
    query: &CustomerQuery,
    term: &str,
    (from, to): (Option<Uuid>, Option<Uuid>),
    limit: i64,
) -> Result<Vec<Customer>> {
    let sql = match_statement("", query, term, (from, to), " ORDER BY c.id");
    db.fetch_all(page_limit(sql, limit)).await
}

/// The first `limit` matches after `from` of a term the steps before found rare: every match is
/// read through the index and sorted, as a `MATERIALIZED` set, so the planner cannot turn it
/// into a long walk, which it prices too low for `LIKE` on Thai text.
async fn rare_matches(
    db: &Db,
    query: &CustomerQuery,
    term: &str,
    from: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Customer>> {
    let sql = match_statement(
        "WITH m AS MATERIALIZED (",
        query,
        term,
        (from, None),
        ") SELECT * FROM m ORDER BY m.id",
    );
    db.fetch_all(page_limit(sql, limit)).await
}

fn match_statement(
    head: &str,
    query: &CustomerQuery,
    term: &str,
    (from, to): (Option<Uuid>, Option<Uuid>),
    order: &str,
) -> Sql {
    let mut sql = Sql::new(format!(
        "{head}SELECT {COLUMNS} FROM customers c WHERE TRUE"
    ));
    for (bound, op) in [(from, ">"), (to, "<=")] {
        if let Some(id) = bound {
            let n = sql.next_param();
            sql = sql.push(&format!(" AND c.id {op} ${n}")).bind(id);
        }
    }
    sql = status_condition(sql, query);
    term_condition(sql, term, probe_window(term)).push(order)
}

/// ` LIMIT $n`, and a plan made for this call's values (ranges and terms differ in cost).
fn page_limit(sql: Sql, limit: i64) -> Sql {
    let n = sql.next_param();
    sql.push(&format!(" LIMIT ${n}"))
        .bind(limit)
        .planned_per_call()
}

/// `AND` the status asked for, or every status but `deleted`.
fn status_condition(sql: Sql, query: &CustomerQuery) -> Sql {
    match &query.status {
        Some(status) => {
            let n = sql.next_param();
            sql.push(&format!(" AND c.status = ${n}"))
                .bind(status.as_str())
        }
        None => sql.push(" AND c.status <> 'deleted'"),
    }
}

/// `AND` `search_text` contains the (lower-cased) `term`. With a `probe` (PostgreSQL, a window
/// of a long term: [`probe_window`]), the trigram index is asked for the probe and each row is
/// checked for all of the term.
fn term_condition(sql: Sql, term: &str, probe: Option<&str>) -> Sql {
    let n = sql.next_param();
    match probe {
        Some(window) => sql
            .push(&format!(
                " AND c.search_text LIKE ${n} ESCAPE '\\' AND strpos(c.search_text, ${}) > 0",
                n + 1
            ))
            .bind(format!("%{}%", escape_like(window)))
            .bind(term),
        None => sql
            .push(&format!(" AND c.search_text LIKE ${n} ESCAPE '\\'"))
            .bind(format!("%{}%", escape_like(term))),
    }
}

/// Staff search on SQLite through the FTS5 trigram index.
async fn list_by_fts(db: &Db, query: &CustomerQuery, term: &str) -> Result<Vec<Customer>> {
    // Driven by the FTS index in rowid order, joined to customers row by row, so the
    // page ends after `limit` matches however common the term is.
    let mut sql = Sql::new(format!(
        "SELECT {COLUMNS} FROM customers_fts f JOIN customers c ON c.rowid = f.rowid \
         WHERE customers_fts MATCH $1"
    ));
    // A long term: the index is asked for a window of it (as on PostgreSQL, see
    // `probe_window`), each candidate checked for the whole term with `LIKE` — which folds the
    // case of ASCII letters only, so only for terms whose other characters have no case
    // (Thai, digits, punctuation), where it agrees with the index's folding.
    let caseless = term
        .chars()
        .all(|c| c.is_ascii() || !(c.is_uppercase() || c.is_lowercase()));
    sql = match probe_window(term).filter(|_| caseless) {
        Some(window) => sql
            .push(" AND c.search_text LIKE $2 ESCAPE '\\'")
            .bind(fts_phrase(window))
            .bind(format!("%{}%", escape_like(term))),
        None => sql.bind(fts_phrase(term)),
    };
    sql = status_condition(sql, query);
    if let Some(after) = query.after {
        let n = sql.next_param();
        sql = sql
            .push(&format!(
                " AND f.rowid > (SELECT rowid FROM customers WHERE id = ${n})"
            ))
            .bind(after);
    }
    let n = sql.next_param();
    sql = sql
        .push(&format!(" ORDER BY f.rowid LIMIT ${n}"))
        .bind(query.limit);
    db.fetch_all(sql.planned_per_call()).await
}

/// Characters of a search term that the trigram index is asked for (PostgreSQL).
const PROBE_CHARS: usize = 7;

/// For a term longer than [`PROBE_CHARS`], the part of it the trigram index is asked for.
///
/// A GIN index answers `LIKE '%term%'` by walking the posting list of every trigram of the term
/// against the rows of the rarest one, so a long term with a few common trigrams (an e-mail
/// domain such as `mango-doisaket1188`: `man`, `ngo`, ` do` …) costs milliseconds for one
/// match. Seven characters (five trigrams) find few enough candidates, and the statement
/// checks each for the whole term. The window is the one with the most digits (rarest in
/// names and domains), the last of equals (endings tell domains and names apart more than
/// beginnings).
pub fn probe_window(term: &str) -> Option<&str> {
    window_of(term, PROBE_CHARS)
}

/// For a term longer than `chars` characters, the `chars` of it with the most digits, the last
/// of equals (see [`probe_window`]).
fn window_of(term: &str, chars: usize) -> Option<&str> {
    let starts: Vec<usize> = term.char_indices().map(|(i, _)| i).collect();
    if starts.len() <= chars {
        return None;
    }
    (0..=starts.len() - chars)
        .map(|k| {
            let end = starts.get(k + chars).copied().unwrap_or(term.len());
            &term[starts[k]..end]
        })
        .max_by_key(|w| w.chars().filter(char::is_ascii_digit).count())
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
            .bind(f.address.as_ref().map(PostalAddress::to_json))
            .bind(f.currency.code())
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

/// Moves a customer to `status`.
pub async fn set_status(
    tx: &mut Tx,
    id: Uuid,
    status: CustomerStatus,
    now: DateTime<Utc>,
) -> Result<Customer> {
    tx.execute(
        Sql::new(
            "UPDATE customers SET status = $2, updated_at = $3, version = version + 1, \
             deleted_at = CASE WHEN $2 = 'deleted' THEN $3 ELSE NULL END WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(now),
    )
    .await?;
    crate::entitlement_signals::changed(tx, &[id]).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_terms_probe_the_index_with_a_window() {
        assert_eq!(probe_window("durian"), None);
        assert_eq!(probe_window("แม่สลอง"), None);
        assert_eq!(probe_window("mango-doisaket1188"), Some("ket1188"));
        assert_eq!(probe_window("@lotusdelta"), Some("usdelta"));
        // Thai: whole characters, never a cut inside one.
        let term = "สหกรณ์การเกษตรบ้านนา";
        let window = probe_window(term).unwrap();
        assert_eq!(window.chars().count(), PROBE_CHARS);
        assert!(term.ends_with(window));
        for term in [
            "0105536000315",
            "office@durian-banna417.co.th",
            "ฟาร์มทุเรียน 12",
        ] {
            let window = probe_window(term).unwrap();
            assert!(term.contains(window) && window.chars().count() == PROBE_CHARS);
        }
    }

    #[test]
    fn the_next_range_is_scaled_from_the_walked_window_in_time() {
        let id_at = |ms: u64| uuid::Builder::from_unix_timestamp_millis(ms, &[7; 10]).into_uuid();
        let millis = |id: Uuid| (id.as_u128() >> 80) as u64;
        // 2,000 customers over 10 s: 20,000 more take about 100 s.
        let window = (id_at(1_000_000), id_at(1_010_000));
        let to = estimated_id_after(window, 2_000, 20_000).unwrap();
        assert_eq!(millis(to), 1_110_000);
        // Every id of the bound's millisecond is inside the range.
        assert!(id_at(1_110_000) <= to && to < id_at(1_110_001));
        // No time to scale: created in one millisecond, or ids that are not UUIDv7.
        assert_eq!(estimated_id_after((window.0, window.0), 2_000, 10), None);
        assert_eq!(
            estimated_id_after((Uuid::nil(), Uuid::max()), 2_000, 10),
            None
        );
        // Past the last millisecond UUIDv7 can hold: no bound.
        let late = (id_at((1 << 48) - 20), id_at((1 << 48) - 10));
        assert_eq!(estimated_id_after(late, 2_000, 4_000), None);
    }
}
