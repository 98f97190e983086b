//! Customers: the tenants. Every read a member can reach is scoped (see [`Scope`]); deleted
//! customers are kept (tax records) and hidden from lists unless asked for.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::{Actor, Change};
use crate::json_out::{JsonOut, pg_json_text};
use crate::outbox::NewEvent;
use crate::{Backend, Db, Error, Result, Scope, Sql, Tx};

pub mod term_sample;

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

impl Customer {
    /// Decodes a row of [`COLUMNS`] read on the calling thread (SQLite, `Db::*_inline`).
    fn from_inline(row: &rusqlite::Row<'_>) -> rusqlite::Result<Customer> {
        use crate::inline_reads::{json_column, required, time_column};
        Ok(Customer {
            id: row.get(0)?,
            name: row.get(1)?,
            legal_name: row.get(2)?,
            tax_id: row.get(3)?,
            branch_code: row.get(4)?,
            email: row.get(5)?,
            phone: row.get(6)?,
            billing_email: row.get(7)?,
            address: json_column(row, 8)?.map(Json),
            currency: row.get(9)?,
            locale: row.get(10)?,
            payment_terms_days: row.get(11)?,
            metadata: Json(required(json_column(row, 12)?, 12)?),
            status: row.get(13)?,
            balance: row.get(14)?,
            created_at: required(time_column(row, 15)?, 15)?,
            updated_at: required(time_column(row, 16)?, 16)?,
            deleted_at: time_column(row, 17)?,
            version: row.get(18)?,
        })
    }
}

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
    pub currency: String,
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
        currency: f.currency.clone(),
        locale: f.locale.clone(),
        payment_terms_days: f.payment_terms_days,
        metadata: Json(f.metadata.clone()),
        status: "active".into(),
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
    .bind(c.id)
    .bind(c.name.as_str())
    .bind(c.legal_name.clone())
    .bind(c.tax_id.clone())
    .bind(c.branch_code.clone())
    .bind(c.email.clone())
    .bind(c.phone.clone())
    .bind(c.billing_email.clone())
    .bind(c.address.as_ref().map(|a| a.0.to_json()))
    .bind(c.currency.as_str())
    .bind(c.locale.as_str())
    .bind(c.payment_terms_days)
    .bind(c.metadata.0.clone())
    .bind(c.status.as_str())
    .bind(c.balance)
    .bind(c.created_at)
    .bind(c.updated_at)
    .bind(c.version)
}

/// One customer within the scope (deleted ones included: they stay readable by id).
pub async fn get(db: &Db, scope: Scope, id: Uuid) -> Result<Option<Customer>> {
    db.fetch_optional_inline(by_id(scope, id), Customer::from_inline)
        .await
}

/// [`get`] for a read whose answer is the customer as it is: the JSON document of the API's
/// customer view, written from the row where it is read ([`json_from_inline`] on SQLite,
/// [`json_from_pg`] on PostgreSQL) — no `Customer` built, no string copied but into the
/// document. The same bytes as serde's view of [`get`]'s customer (the `customer_document`
/// test of the `satang` crate).
pub async fn get_document(db: &Db, scope: Scope, id: Uuid) -> Result<Option<Vec<u8>>> {
    db.fetch_optional_mapped(by_id(scope, id), json_from_inline, json_from_pg)
        .await
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

/// The JSON document of a row of [`COLUMNS`] read on the calling thread (SQLite): the fields of
/// the API's customer view, in its order, with its formats — byte for byte what serde writes for
/// the view of the `Customer` that [`Customer::from_inline`] decodes from the same row (a test
/// of the `satang` crate, `customer_document`, compares them). Text is escaped from the row's
/// own buffer; the address is read into borrowed fields; timestamps, stored as sqlx writes them
/// (RFC 3339, `+00:00`), are handed on with `Z`.
fn json_from_inline(row: &rusqlite::Row<'_>) -> rusqlite::Result<Vec<u8>> {
    use crate::inline_reads::{borrowed_json_column, json_column};
    let mut out = JsonOut::with_capacity(1024);
    let id: Uuid = row.get(0)?;
    document_id(&mut out, id);
    for (idx, name) in TEXT_FIELDS {
        out.text_column(name, row, idx, idx == 1)?;
    }
    let serialized =
        |e| rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, Box::new(e));
    // Borrowed when no value holds a JSON escape (the usual case), else read into owned fields.
    match borrowed_json_column::<BorrowedAddress<'_>>(row, 8) {
        Ok(address) => out.serialized("address", &address).map_err(serialized)?,
        Err(_) => {
            let address: Option<PostalAddress> = json_column(row, 8)?;
            out.serialized("address", &address).map_err(serialized)?
        }
    }
    out.text_column("currency", row, 9, true)?;
    out.text_column("locale", row, 10, true)?;
    out.integer_column("payment_terms_days", row, 11)?;
    out.json_column("metadata", row, 12)?;
    out.text_column("status", row, 13, true)?;
    out.integer_column("balance", row, 14)?;
    out.time_column("created_at", row, 15, true)?;
    out.time_column("updated_at", row, 16, true)?;
    out.time_column("deleted_at", row, 17, false)?;
    out.integer_column("version", row, 18)?;
    out.raw(b"}");
    Ok(out.into_bytes())
}

/// The same document from a PostgreSQL row of [`COLUMNS`]: text borrowed from the row's
/// buffer, columns read by position (not looked up by name), the `jsonb` address into borrowed
/// fields, timestamps formatted from their binary value.
fn json_from_pg(row: &PgRow) -> sqlx::Result<Vec<u8>> {
    use sqlx::Row as _;
    // Unchecked: the columns are COLUMNS, whose types the `customer_document` test holds to
    // the view (a type check per column was a tenth of this function).
    let mut out = JsonOut::with_capacity(1024);
    document_id(&mut out, row.try_get_unchecked(0)?);
    for (idx, name) in TEXT_FIELDS {
        if idx == 1 {
            out.text(name, row.try_get_unchecked(idx)?);
        } else {
            out.optional_text(name, row.try_get_unchecked(idx)?);
        }
    }
    let serialized = |e: serde_json::Error| sqlx::Error::Decode(Box::new(e));
    // Borrowed when no value holds a JSON escape (the usual case), else read into owned fields.
    match row.try_get_unchecked::<Option<Json<BorrowedAddress<'_>>>, _>(8) {
        Ok(address) => out
            .serialized("address", &address.map(|a| a.0))
            .map_err(serialized)?,
        Err(_) => {
            let address: Option<Json<PostalAddress>> = row.try_get(8)?;
            out.serialized("address", &address.map(|a| a.0))
                .map_err(serialized)?
        }
    }
    out.text("currency", row.try_get_unchecked(9)?);
    out.text("locale", row.try_get_unchecked(10)?);
    out.integer("payment_terms_days", row.try_get_unchecked(11)?);
    out.json_text("metadata", pg_json_text(row, 12)?)
        .map_err(serialized)?;
    out.text("status", row.try_get_unchecked(13)?);
    out.integer("balance", row.try_get_unchecked(14)?);
    out.time("created_at", row.try_get_unchecked(15)?);
    out.time("updated_at", row.try_get_unchecked(16)?);
    out.optional_time("deleted_at", row.try_get_unchecked(17)?);
    out.integer("version", row.try_get_unchecked(18)?);
    out.raw(b"}");
    Ok(out.into_bytes())
}

/// The text columns of [`COLUMNS`] after the id, with their names in the view (the first, the
/// name, NOT NULL).
const TEXT_FIELDS: [(usize, &str); 7] = [
    (1, "name"),
    (2, "legal_name"),
    (3, "tax_id"),
    (4, "branch_code"),
    (5, "email"),
    (6, "phone"),
    (7, "billing_email"),
];

/// `{"id":"…"` — the document's opening and first field.
fn document_id(out: &mut JsonOut, id: Uuid) {
    out.raw(b"{\"id\":\"");
    out.raw(
        id.hyphenated()
            .encode_lower(&mut Uuid::encode_buffer())
            .as_bytes(),
    );
    out.raw(b"\"");
}

/// [`PostalAddress`] borrowing its text from the row; the same fields in the same order, so it
/// serializes the same. A value with a JSON escape cannot be borrowed and fails to decode.
#[derive(Serialize, Deserialize)]
struct BorrowedAddress<'a> {
    country: Option<&'a str>,
    district: Option<&'a str>,
    line1: Option<&'a str>,
    line2: Option<&'a str>,
    postal_code: Option<&'a str>,
    province: Option<&'a str>,
    subdistrict: Option<&'a str>,
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
    /// `active`, `suspended` or `deleted`; without it every customer but deleted ones.
    pub status: Option<String>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// Customers in creation order, one page after the cursor.
///
/// The statement is assembled from the filters present, so each shape gets its own plan and
/// every condition can use an index (a generic `$n IS NULL OR …` cannot). How a search term is
/// answered depends on who asks and on the backend:
/// - a member's few customers are filtered directly (`search_text LIKE`);
/// - staff on PostgreSQL: a walk of the id order, then `LIKE` on the trigram-indexed
///   `search_text`, a bucket of ids at a time when that pays (see [`search_by_buckets`]);
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
        return search_by_buckets(db, query, &term.to_lowercase()).await;
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
    sql = status_condition(sql, query, false);
    if let Some(after) = query.after {
        let n = sql.next_param();
        sql = sql.push(&format!(" AND c.id > ${n}")).bind(after);
    }
    if let Some(term) = term {
        // SQLite gets here only for members' few customers (staff search through FTS5).
        let term = term.to_lowercase();
        let probe = probe_window(&term).filter(|_| db.backend() == Backend::Postgres);
        sql = term_condition(sql, &term, probe, false).planned_per_call();
    }
    sql = sql.push(" ORDER BY c.id").limit(query.limit);
    if term.is_some() {
        // A `LIKE` scan may read many rows: not on the calling thread.
        return db.fetch_all(sql).await;
    }
    db.fetch_all_inline(sql, Customer::from_inline).await
}

/// Where in the id order one statement of [`search_by_buckets`] looks.
#[derive(Debug, Clone, Copy)]
enum Window {
    /// Up to this many customers after the cursor, walked in id order.
    Walk(i64),
    /// The rest of a bucket after the cursor.
    RestOfBucket(i32),
    /// The bucket of the first customer after the cursor (from the cursor on).
    FirstBucket,
    /// One whole bucket, every id of which comes after the cursor.
    Bucket(i32),
    /// Every id from this one on.
    From(Uuid),
    /// Everything after the cursor.
    AfterCursor,
    /// Everything after the cursor, for a term the sample did not see: at most
    /// [`RARE_MATCHES`] matches are read, and each row says how many were. The index is asked
    /// for a window of the term this many characters long ([`window_of`]).
    Rare(usize),
}

/// The most matches the look-up of a term the sample did not see reads ([`Window::Rare`]). A
/// term with this many after the cursor goes the measured way instead.
pub const RARE_MATCHES: i64 = 500;

/// Below this many sampled customers (of [`term_sample::SAMPLE_ROWS`]) with the term, a search
/// does not walk first: [`PROBE_ROWS`] customers would hold about two of them or fewer. The
/// e-mail domain `@lotusdelta` (2,457 of a million customers, about ten in a sample) then costs
/// its first bucket's look-up alone, without the walk's 0.3 ms of PostgreSQL's time.
pub const SPARSE_HITS: usize = 16;

/// Characters of a term the sample did not see that the trigram index is asked for, when the
/// sample saw those in at most [`RARE_PROBE_HITS`] customers (three trigrams; [`PROBE_CHARS`]
/// otherwise). On a million customers the tax-id fragment `9507919` took 1.09 ms whole, 0.67 ms
/// as `07919` (72 candidates); the e-mail fragment `mango-doisaket1188` 0.44 ms as `ket1188`,
/// 0.25 ms as `t1188`.
const RARE_PROBE_CHARS: usize = 5;

/// The most sampled customers a [`RARE_PROBE_CHARS`] window may be in. Not none: five digits of
/// a tax id are in about 90 of a million customers, and so in one sample in three.
const RARE_PROBE_HITS: usize = 1;

/// A row of [`Window::Rare`]: a customer and how many matches the capped look-up found.
#[derive(sqlx::FromRow)]
struct Counted {
    #[sqlx(flatten)]
    customer: Customer,
    matches: i64,
}

/// The search bucket of an id: its first 16 bits, which for the UUIDv7 ids Satang makes are the
/// top of the creation time in milliseconds (about 50 days a bucket). It grows with the id, so
/// buckets in turn are the id order in slices. Stored by the database as the generated column
/// `search_bucket` (PostgreSQL migration 0012).
fn search_bucket(id: Uuid) -> i32 {
    let b = id.as_bytes();
    i32::from(u16::from_be_bytes([b[0], b[1]]))
}

/// The first id of a bucket.
fn bucket_start(bucket: i32) -> Uuid {
    let [hi, lo] = (bucket as u16).to_be_bytes();
    let mut bytes = [0u8; 16];
    bytes[0] = hi;
    bytes[1] = lo;
    Uuid::from_bytes(bytes)
}

/// Customers a staff search on PostgreSQL first walks in id order (see [`search_by_buckets`]).
pub const PROBE_ROWS: i64 = 500;

/// Below this many matches in the first [`PROBE_ROWS`] (1.6 %), the rest of the page is looked
/// up through the trigram index a bucket at a time; from it on, walking on is cheaper.
const WALK_ON_MATCHES: usize = 8;

/// How far a common term's walk goes on after the first [`PROBE_ROWS`] before the index takes
/// over: at the density of [`WALK_ON_MATCHES`] (1.6 %) about 64 more matches, more than a page,
/// and a bound on what a term that was dense only after the cursor can cost.
const WALK_ON_ROWS: i64 = 4_000;

/// Staff search on PostgreSQL: a walk of the id order, then the trigram index, a bucket of ids at
/// a time when that pays.
///
/// A page is the first `limit` matches by id. Walking the primary key and checking each row
/// finds them fastest when the term is common (1 customer in 20: a thousand rows for fifty). The
/// trigram index answers with every match, in no order: fastest for a rare term (a tax id),
/// slow for one shared by a few thousand customers (an e-mail domain), whose every row is read
/// to keep fifty. So the index is built on (`search_bucket`, `search_text`) — the bucket is the
/// first 16 bits of the id, a slice of the id order — and such a term is looked up one bucket at
/// a time, stopping once the page is full.
///
/// Which way a term goes is measured, not guessed (the planner's estimate for `LIKE '%…%'` is
/// the same for one match and for three thousand):
/// 0. A term that a random sample of the customers ([`term_sample`], 4,096 of them) does not
///    contain is most likely rare: looked up through the index at once, reading at most
///    [`RARE_MATCHES`] matches. With fewer, that is the page; with that many (the sample was
///    wrong), the search goes on from step 1 as if it had not been asked. A term in some but
///    fewer than [`SPARSE_HITS`] sampled customers skips steps 1 and 2: the walk would find one
///    or two.
/// 1. The first [`PROBE_ROWS`] customers after the cursor are walked. A common term (1 customer
///    in 10) fills the page here.
/// 2. With at least [`WALK_ON_MATCHES`] found, a common enough term: the walk goes on from the
///    last match for up to [`WALK_ON_ROWS`] more customers. A term whose share of the sample
///    (estimated from the texts read to find [`SPARSE_HITS`] of them) is at least that density
///    is walked this far in one statement instead of two: on a million customers `GREEN`
///    (2.5 %), about 2,000 rows for a page, cost 8–12 % less of PostgreSQL's time that way.
/// 3. The rest of the page comes after the last match found (or the cursor). A few matches: the
///    index, bucket by bucket — the rest of the bucket of the last match, the bucket after it,
///    then the rest at once. None: the bucket the walk is in, and if the term has no match
///    there either (a rare term), the index at once.
///
/// The walks check each row with `strpos`, which no index serves, and which costs a row less
/// than `LIKE` does (on a million customers, 5,000 rows walked for a Thai term: 10 ms with
/// `LIKE`, 6.5 with `strpos`, 5.2 with no term at all). Every statement but the look-up past the
/// next bucket has one plan whatever the term, prepared once per connection: the walks', and the
/// index's for those confined to a bucket and for a rare term ([`search_step`]).
///
/// Measured on a million customers (BENCHMARKS.md): a term of 2,457 customers from 3.8 ms to
/// about 1 ms a page; step 0 spares a rare term the walk and the first bucket (0.3 and 0.4 ms
/// of PostgreSQL's time on a tax-id fragment whose look-up takes 0.7 ms).
async fn search_by_buckets(db: &Db, query: &CustomerQuery, term: &str) -> Result<Vec<Customer>> {
    let limit = query.limit;
    // A term the sample of customers did not see is most likely rare: looked up at once, and
    // if it was not rare after all, the measured way follows (see `term_sample`).
    term_sample::refresh_when_stale(db);
    let hits = |t: &str| db.term_sample().and_then(|s| s.hits(t, SPARSE_HITS));
    let term_hits = hits(term);
    if term_hits == Some(0) && limit < RARE_MATCHES {
        // The index reads a posting list per trigram of what it is asked for: a shorter window
        // reads fewer, and if the sample saw that at most once, it has few candidates too.
        let few = |w: &str| hits(w).is_some_and(|h| h <= RARE_PROBE_HITS);
        let chars = if window_of(term, RARE_PROBE_CHARS).is_none_or(few) {
            RARE_PROBE_CHARS
        } else {
            PROBE_CHARS
        };
        let found: Vec<Counted> = db
            .fetch_all(search_step(query, term, Window::Rare(chars), limit))
            .await?;
        if found.first().is_none_or(|c| c.matches < RARE_MATCHES) {
            return Ok(found.into_iter().map(|c| c.customer).collect());
        }
    }
    let missing = |rows: &Vec<Customer>| limit - rows.len() as i64;
    let after_last = |rows: &Vec<Customer>| CustomerQuery {
        after: rows.last().map(|c| c.id).or(query.after),
        ..query.clone()
    };
    // A term in a few sampled customers only would be in one or two of the walk's: no walk,
    // the index from the first bucket on. (In none: the capped look-up above found it common
    // after all, and it walks.)
    let sparse = term_hits.is_some_and(|h| (1..SPARSE_HITS).contains(&h));
    // A term the sample finds as common as a walk on needs: the whole walk in one statement.
    let common = term_hits == Some(SPARSE_HITS)
        && db
            .term_sample()
            .and_then(|s| s.share(term, SPARSE_HITS))
            .is_some_and(|share| share >= WALK_ON_MATCHES as f64 / PROBE_ROWS as f64);
    let walk = if common {
        PROBE_ROWS + WALK_ON_ROWS
    } else {
        PROBE_ROWS
    };
    let mut rows = Vec::new();
    if !sparse {
        rows = db
            .fetch_all(search_step(query, term, Window::Walk(walk), limit))
            .await?;
    }
    // Common enough: walk on from the last match (the first walk's few rows after it, none a
    // match, are walked again: cheaper than a statement to learn where that walk ended).
    if !common && rows.len() >= WALK_ON_MATCHES && missing(&rows) > 0 {
        let more = db
            .fetch_all(search_step(
                &after_last(&rows),
                term,
                Window::Walk(WALK_ON_ROWS),
                missing(&rows),
            ))
            .await?;
        rows.extend(more);
    }
    if missing(&rows) <= 0 {
        return Ok(rows);
    }
    // The rest comes after the last match, through the index.
    let rest = after_last(&rows);
    let windows = match rest.after {
        // Some matches: bucket by bucket from the last one.
        Some(after) if !rows.is_empty() => {
            let bucket = search_bucket(after);
            bucket_windows(bucket, Some(Window::RestOfBucket(bucket)))
        }
        // None: the bucket the walk is in; if the term has no match there either, it is a rare
        // one, answered by the index at once.
        _ => {
            let first: Vec<Customer> = db
                .fetch_all(search_step(
                    &rest,
                    term,
                    Window::FirstBucket,
                    missing(&rows),
                ))
                .await?;
            match first.first().map(|c| search_bucket(c.id)) {
                Some(bucket) => {
                    rows.extend(first);
                    bucket_windows(bucket, None)
                }
                None => vec![Window::AfterCursor],
            }
        }
    };
    for window in windows {
        if missing(&rows) <= 0 {
            break;
        }
        rows.extend(
            db.fetch_all(search_step(&rest, term, window, missing(&rows)))
                .await?,
        );
    }
    Ok(rows)
}

/// `start` (the rest of `bucket`; none when it was read already), the bucket after it, then every
/// id after that.
fn bucket_windows(bucket: i32, start: Option<Window>) -> Vec<Window> {
    let max = i32::from(u16::MAX);
    [
        start,
        (bucket < max).then_some(Window::Bucket(bucket + 1)),
        (bucket + 1 < max).then(|| Window::From(bucket_start(bucket + 2))),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// One statement of [`search_by_buckets`].
///
/// Every statement but the last kind has one plan whatever the term, cursor or rest of the page,
/// prepared once per connection: each argument reaches it as an `InitPlan`, `(SELECT $n::type)`,
/// a value the planner does not look into ([`placeholder`]). With a bound `$n` PostgreSQL plans
/// a custom plan for the values of each call whenever that looks cheaper than the generic one,
/// which for these statements it always does; planning one for its term was 0.2–0.25 ms of
/// PostgreSQL's time, a quarter of a rare term's look-up. Three shapes:
/// - a walk ([`Window::Walk`]): the customers after the cursor in id order, each checked with
///   `strpos`; no index serves it, so its one plan is the walk;
/// - an index look-up confined to a bucket or meant for a rare term ([`Window::FirstBucket`],
///   [`Window::RestOfBucket`], [`Window::Bucket`], [`Window::AfterCursor`]): every match through
///   the trigram index, then the first `limit` by id. The matches are a `MATERIALIZED` CTE, so
///   its one plan is the index's (without it, the generic plan of `ORDER BY id LIMIT n` over an
///   unknown pattern walks the id order: a rare term then reads the whole table);
/// - the rest after the next bucket ([`Window::From`]): unbounded, so it is planned for its
///   term on each call, and the planner chooses between the index and walking the id order.
fn search_step(query: &CustomerQuery, term: &str, window: Window, limit: i64) -> Sql {
    let walk = matches!(window, Window::Walk(_));
    let one_plan = !matches!(window, Window::From(_));
    // The index look-ups that keep one plan: their matches are a `MATERIALIZED` CTE.
    let cte = one_plan && !walk;
    let arg = |n: usize, ty: &str| placeholder(n, ty, one_plan);
    let mut sql = match window {
        // The walk is the statement's only source of rows, so it cannot become an index search.
        Window::Walk(rows) => match query.after {
            Some(after) => Sql::new(format!(
                "SELECT {COLUMNS} FROM (SELECT * FROM customers c WHERE c.id > {} \
                 ORDER BY c.id LIMIT {rows}) c WHERE TRUE",
                arg(1, "uuid")
            ))
            .bind(after),
            None => Sql::new(format!(
                "SELECT {COLUMNS} FROM (SELECT * FROM customers c ORDER BY c.id \
                 LIMIT {rows}) c WHERE TRUE"
            )),
        },
        _ if cte => Sql::new(format!(
            "WITH m AS MATERIALIZED (SELECT {COLUMNS} FROM customers c WHERE TRUE"
        )),
        _ => Sql::new(format!("SELECT {COLUMNS} FROM customers c WHERE TRUE")),
    };
    let after = match window {
        Window::RestOfBucket(_) | Window::FirstBucket | Window::AfterCursor | Window::Rare(_) => {
            query.after
        }
        Window::Walk(_) | Window::Bucket(_) | Window::From(_) => None,
    };
    let mut after_arg = None;
    if let Some(after) = after {
        let a = arg(sql.next_param(), "uuid");
        sql = sql.push(&format!(" AND c.id > {a}")).bind(after);
        after_arg = Some(a);
    }
    sql = match window {
        Window::FirstBucket => {
            let after = match after_arg {
                Some(a) => format!(" WHERE c0.id > {a}"),
                None => String::new(),
            };
            sql.push(&format!(
                " AND c.search_bucket = (SELECT c0.search_bucket FROM customers c0{after} \
                 ORDER BY c0.id LIMIT 1)"
            ))
        }
        Window::RestOfBucket(bucket) | Window::Bucket(bucket) => {
            let b = arg(sql.next_param(), "integer");
            sql.push(&format!(" AND c.search_bucket = {b}"))
                .bind(bucket)
        }
        Window::From(id) => {
            let from = arg(sql.next_param(), "uuid");
            sql.push(&format!(" AND c.id >= {from}")).bind(id)
        }
        Window::Walk(_) | Window::AfterCursor | Window::Rare(_) => sql,
    };
    sql = status_condition(sql, query, one_plan);
    sql = if walk {
        let t = arg(sql.next_param(), "text");
        sql.push(&format!(" AND strpos(c.search_text, {t}) > 0"))
            .bind(term)
    } else {
        let probe = match window {
            Window::Rare(chars) => window_of(term, chars),
            _ => probe_window(term),
        };
        term_condition(sql, term, probe, one_plan)
    };
    let sql = if matches!(window, Window::Rare(_)) {
        sql.push(&format!(
            " LIMIT {RARE_MATCHES}) SELECT *, (SELECT count(*) FROM m) AS matches FROM m \
             ORDER BY m.id"
        ))
    } else if cte {
        sql.push(") SELECT * FROM m ORDER BY m.id")
    } else {
        sql.push(" ORDER BY c.id")
    };
    // A whole page's limit is written in (one statement per page size: `Sql::limit`); the rest
    // of a page differs from call to call.
    let sql = if limit == query.limit {
        sql.limit(limit)
    } else {
        let l = arg(sql.next_param(), "bigint");
        sql.push(&format!(" LIMIT {l}")).bind(limit)
    };
    if one_plan {
        // One plan whatever the term, prepared once per connection.
        sql
    } else {
        // Planned for the term: how common it is decides between walking and the index.
        sql.planned_per_call()
    }
}

/// `$n`; `fenced` (PostgreSQL), an `InitPlan` of it, `(SELECT $n::ty)`, whose value the planner
/// does not look into (see [`search_step`]).
fn placeholder(n: usize, ty: &str, fenced: bool) -> String {
    if fenced {
        format!("(SELECT ${n}::{ty})")
    } else {
        format!("${n}")
    }
}

/// `AND` the status asked for, or every status but `deleted` (`fenced`: see [`placeholder`]).
fn status_condition(sql: Sql, query: &CustomerQuery, fenced: bool) -> Sql {
    match &query.status {
        Some(status) => {
            let s = placeholder(sql.next_param(), "text", fenced);
            sql.push(&format!(" AND c.status = {s}"))
                .bind(status.as_str())
        }
        None => sql.push(" AND c.status <> 'deleted'"),
    }
}

/// `AND` `search_text` contains the (lower-cased) `term`. With a `probe` (PostgreSQL, a window
/// of a long term: [`probe_window`]), the trigram index is asked for the probe and each row is
/// checked for all of the term (`fenced`: see [`placeholder`]).
fn term_condition(sql: Sql, term: &str, probe: Option<&str>, fenced: bool) -> Sql {
    let arg = |n: usize| placeholder(n, "text", fenced);
    let n = sql.next_param();
    match probe {
        Some(window) => sql
            .push(&format!(
                " AND c.search_text LIKE {} ESCAPE '\\' AND strpos(c.search_text, {}) > 0",
                arg(n),
                arg(n + 1)
            ))
            .bind(format!("%{}%", escape_like(window)))
            .bind(term),
        None => sql
            .push(&format!(" AND c.search_text LIKE {} ESCAPE '\\'", arg(n)))
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
    sql = status_condition(sql, query, false);
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
fn probe_window(term: &str) -> Option<&str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement of a search but the look-up past the next bucket has one plan whatever
    /// the term, cursor or rest of the page: prepared, every argument an `InitPlan` the planner
    /// does not look into, and the index look-ups behind a `MATERIALIZED` CTE.
    #[test]
    fn search_statements_are_planned_once() {
        let after = Uuid::parse_str("019ab3c4-1234-7abc-8def-0123456789ab").unwrap();
        for status in [None, Some("deleted".to_string())] {
            for cursor in [None, Some(after)] {
                let query = CustomerQuery {
                    q: Some("mango-doisaket1188".into()),
                    status: status.clone(),
                    after: cursor,
                    limit: 51,
                };
                for window in [
                    Window::Walk(PROBE_ROWS),
                    Window::RestOfBucket(0x019a),
                    Window::FirstBucket,
                    Window::Bucket(0x019b),
                    Window::AfterCursor,
                    Window::Rare(RARE_PROBE_CHARS),
                    Window::Rare(PROBE_CHARS),
                ] {
                    for limit in [51, 7] {
                        let sql = search_step(&query, "mango-doisaket1188", window, limit);
                        assert!(sql.is_persistent(), "{window:?}: {}", sql.text());
                        let text = sql.text();
                        let bare = (1..=sql.next_param() - 1)
                            .filter(|n| {
                                text.matches(&format!("${n}")).count()
                                    > text.matches(&format!("(SELECT ${n}::")).count()
                            })
                            .count();
                        assert_eq!(bare, 0, "{window:?}: {text}");
                        match window {
                            Window::Walk(_) => assert!(!text.contains("LIKE"), "{text}"),
                            Window::Rare(_) => assert!(
                                text.contains(&format!("LIMIT {RARE_MATCHES}) SELECT *, ")),
                                "{text}"
                            ),
                            _ => assert!(text.starts_with("WITH m AS MATERIALIZED"), "{text}"),
                        }
                    }
                }
                let from = search_step(&query, "x", Window::From(after), 7);
                assert!(!from.is_persistent(), "{}", from.text());
            }
        }
    }

    #[test]
    fn buckets_are_the_id_order_in_slices() {
        // A UUIDv7 of 2026: its first 16 bits.
        let id = Uuid::parse_str("019ab3c4-1234-7abc-8def-0123456789ab").unwrap();
        assert_eq!(search_bucket(id), 0x019a);
        assert_eq!(
            bucket_start(0x019a),
            Uuid::parse_str("019a0000-0000-0000-0000-000000000000").unwrap()
        );
        assert_eq!(search_bucket(Uuid::max()), 65_535);
        // Ordered ids have ordered buckets, and each id is at or after its bucket's start and
        // before the next one's.
        let mut ids: Vec<Uuid> = (0..2_000u128)
            .map(|k| Uuid::from_u128(k.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)))
            .collect();
        ids.sort();
        for pair in ids.windows(2) {
            assert!(search_bucket(pair[0]) <= search_bucket(pair[1]));
        }
        for id in ids {
            let b = search_bucket(id);
            assert!(bucket_start(b) <= id);
            if b < 65_535 {
                assert!(id < bucket_start(b + 1));
            }
        }
    }

    #[test]
    fn long_terms_probe_the_index_with_a_window() {
        assert_eq!(probe_window("durian"), None);
        assert_eq!(probe_window("แม่สลอง"), None);
        assert_eq!(probe_window("mango-doisaket1188"), Some("ket1188"));
        assert_eq!(probe_window("@lotusdelta"), Some("usdelta"));
        // A rare term's shorter window (`RARE_PROBE_CHARS`).
        assert_eq!(window_of("9507919", RARE_PROBE_CHARS), Some("07919"));
        assert_eq!(
            window_of("mango-doisaket1188", RARE_PROBE_CHARS),
            Some("t1188")
        );
        assert_eq!(window_of("green", RARE_PROBE_CHARS), None);
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

    /// On SQLite `get` and `list` read on the calling thread and decode rows themselves
    /// (`Customer::from_inline`); they must return exactly what sqlx decodes from the same rows.
    #[tokio::test]
    async fn inline_reads_decode_like_sqlx() {
        let dir = std::env::temp_dir().join(format!("satang-inline-{}", Uuid::now_v7()));
        let db = Db::open_sqlite(&dir).await.unwrap();
        db.migrate().await.unwrap();
        let now = Utc::now();
        let full = CustomerFields {
            name: "สหกรณ์การเกษตรบ้านนา จำกัด".into(),
            legal_name: Some("สหกรณ์การเกษตรบ้านนา จำกัด".into()),
            tax_id: Some("0105536000315".into()),
            branch_code: Some("00000".into()),
            email: Some("office@banna.coop".into()),
            phone: Some("02-123-4567".into()),
            billing_email: Some("billing@banna.coop".into()),
            address: Some(PostalAddress {
                country: Some("TH".into()),
                line1: Some("12 หมู่ 3".into()),
                province: Some("นครนายก".into()),
                ..PostalAddress::default()
            }),
            currency: "THB".into(),
            locale: "th".into(),
            payment_terms_days: 30,
            metadata: serde_json::json!({"crm": "A-17", "seats": 3, "vip": true}),
        };
        let bare = CustomerFields {
            name: "Green Valley Durian".into(),
            currency: "THB".into(),
            locale: "en".into(),
            metadata: serde_json::json!({}),
            ..CustomerFields::default()
        };
        let mut tx = db.begin().await.unwrap();
        let a = insert(&mut tx, &full, now).await.unwrap();
        let b = insert(&mut tx, &bare, now).await.unwrap();
        set_status(&mut tx, b.id, "deleted", now).await.unwrap();
        tx.commit().await.unwrap();

        for id in [a.id, b.id] {
            let mut tx = db.begin().await.unwrap();
            let by_sqlx = get_in(&mut tx, id).await.unwrap().unwrap();
            drop(tx);
            let inline = get(&db, Scope::All, id).await.unwrap().unwrap();
            assert_eq!(format!("{inline:?}"), format!("{by_sqlx:?}"));
        }
        assert!(
            get(&db, Scope::All, Uuid::now_v7())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            get(&db, Scope::Member(Uuid::now_v7()), a.id)
                .await
                .unwrap()
                .is_none()
        );

        let listed = list(
            &db,
            Scope::All,
            &CustomerQuery {
                status: Some("deleted".into()),
                limit: 10,
                ..CustomerQuery::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, b.id);
        assert!(listed[0].deleted_at.is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Inline readers keep their snapshot between reads (`inline_reads`); a read must still see
    /// every write committed before it: through the same `Db`, through a second `Db` of this
    /// process on the same file, and, within `MAX_SNAPSHOT_AGE`, through another connection
    /// altogether (another process). Idle snapshots are ended, so a checkpoint can reset the WAL.
    #[tokio::test]
    async fn inline_reads_see_every_commit() {
        let dir = std::env::temp_dir().join(format!("satang-inline-{}", Uuid::now_v7()));
        let db = Db::open_sqlite(&dir).await.unwrap();
        db.migrate().await.unwrap();
        let now = Utc::now();
        let fields = CustomerFields {
            name: "ฟาร์มเห็ดบ้านนา".into(),
            currency: "THB".into(),
            locale: "th".into(),
            metadata: serde_json::json!({}),
            ..CustomerFields::default()
        };
        let mut tx = db.begin().await.unwrap();
        let id = insert(&mut tx, &fields, now).await.unwrap().id;
        tx.commit().await.unwrap();
        let status =
            |db: Db| async move { get(&db, Scope::All, id).await.unwrap().unwrap().status };

        for to in ["suspended", "active"] {
            assert_ne!(status(db.clone()).await, to);
            let mut tx = db.begin().await.unwrap();
            set_status(&mut tx, id, to, now).await.unwrap();
            tx.commit().await.unwrap();
            assert_eq!(status(db.clone()).await, to, "a write through the same Db");
        }
        let second = Db::open_sqlite(&dir).await.unwrap();
        for to in ["suspended", "active"] {
            assert_ne!(status(db.clone()).await, to);
            let mut tx = second.begin().await.unwrap();
            set_status(&mut tx, id, to, now).await.unwrap();
            tx.commit().await.unwrap();
            assert_eq!(status(db.clone()).await, to, "a write through a second Db");
        }

        let outside = rusqlite::Connection::open(dir.join("satang.db")).unwrap();
        assert_eq!(status(db.clone()).await, "active");
        outside
            .execute(
                "UPDATE customers SET status = 'suspended' WHERE id = ?1",
                [id.as_bytes().to_vec()],
            )
            .unwrap();
        tokio::time::sleep(crate::inline_reads::MAX_SNAPSHOT_AGE * 2).await;
        assert_eq!(
            status(db.clone()).await,
            "suspended",
            "another connection's write"
        );

        tokio::time::sleep(crate::inline_reads::SWEEP_EVERY * 3).await;
        let busy: i64 = outside
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .unwrap();
        assert_eq!(busy, 0, "an idle reader still pins the WAL");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
