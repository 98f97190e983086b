//! Invoices (`billing.invoices`) and their lines: what a customer is asked to pay.
//!
//! The store keeps the document; the maths (totals, VAT, withholding) lives in `satang-domain`
//! and the rules of when it changes (finalising, paying, voiding) in `satang-billing` and the
//! API, which write the whole new state with [`update`]. A finalised invoice's lines and totals
//! are never rewritten; only its settlement fields (paid, due, credited, status) move.
//!
//! Numbers are gapless per kind, prefix and year ([`next_number`]): the counter row is
//! incremented inside the finalising transaction, so it is locked until that commits and a
//! rollback returns the number. Every query a member can reach takes a [`Scope`].

use chrono::{DateTime, NaiveDate, Utc};
use satang_domain::{AppliedDiscount, CollectionMethod, Currency, InvoiceStatus};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Arg, Backend, Db, Error, Result, Scope, Sql, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Invoice {
    pub id: Uuid,
    pub number: Option<String>,
    pub customer_id: Uuid,
    pub subscription_id: Option<Uuid>,
    #[sqlx(try_from = "String")]
    pub status: InvoiceStatus,
    #[sqlx(try_from = "String")]
    pub currency: Currency,
    pub subtotal: i64,
    pub discount: i64,
    /// What each discount took off (their sum is `discount`); none when NULL.
    pub discounts: Option<Json<Vec<AppliedDiscount>>>,
    pub vat_rate_bps: i64,
    pub vat_amount: i64,
    pub total: i64,
    pub withholding_tax: i64,
    pub amount_paid: i64,
    pub amount_due: i64,
    pub credit_applied: i64,
    pub amount_credited: i64,
    pub prices_include_vat: bool,
    pub issued_at: Option<DateTime<Utc>>,
    pub due_date: Option<NaiveDate>,
    pub paid_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub marked_uncollectible_at: Option<DateTime<Utc>>,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    pub billing_reason: String,
    pub customer_snapshot: Option<Json<serde_json::Value>>,
    pub seller_snapshot: Option<Json<serde_json::Value>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    #[sqlx(try_from = "String")]
    pub collection_method: CollectionMethod,
    pub collection_attempts: i64,
    pub next_collection_at: Option<DateTime<Utc>>,
    /// When automatic collection first failed (the invoice is in dunning since).
    pub first_failed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoiceLine {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub position: i64,
    pub kind: String,
    pub description: String,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    pub quantity: i64,
    pub unit_amount: i64,
    pub amount: i64,
}

/// A line to insert; `amount` is `quantity × unit_amount`, computed by the caller (checked).
#[derive(Debug, Clone)]
pub struct NewLine {
    pub kind: String,
    pub description: String,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    pub quantity: i64,
    pub unit_amount: i64,
    pub amount: i64,
}

/// The mutable state of an invoice, written whole by [`insert`] and [`update`].
#[derive(Debug, Clone, Default)]
pub struct InvoiceFields {
    pub number: Option<String>,
    pub status: InvoiceStatus,
    pub currency: Currency,
    pub subtotal: i64,
    pub discount: i64,
    /// Written when the invoice is inserted, never by [`update`]: what a discount took off
    /// is part of the document.
    pub discounts: Vec<AppliedDiscount>,
    pub vat_rate_bps: i64,
    pub vat_amount: i64,
    pub total: i64,
    pub withholding_tax: i64,
    pub amount_paid: i64,
    pub amount_due: i64,
    pub credit_applied: i64,
    pub amount_credited: i64,
    pub prices_include_vat: bool,
    pub issued_at: Option<DateTime<Utc>>,
    pub due_date: Option<NaiveDate>,
    pub paid_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub marked_uncollectible_at: Option<DateTime<Utc>>,
    pub customer_snapshot: Option<serde_json::Value>,
    pub seller_snapshot: Option<serde_json::Value>,
}

impl InvoiceFields {
    pub fn of(i: &Invoice) -> InvoiceFields {
        InvoiceFields {
            number: i.number.clone(),
            status: i.status,
            currency: i.currency,
            subtotal: i.subtotal,
            discount: i.discount,
            discounts: i
                .discounts
                .as_ref()
                .map(|d| d.0.clone())
                .unwrap_or_default(),
            vat_rate_bps: i.vat_rate_bps,
            vat_amount: i.vat_amount,
            total: i.total,
            withholding_tax: i.withholding_tax,
            amount_paid: i.amount_paid,
            amount_due: i.amount_due,
            credit_applied: i.credit_applied,
            amount_credited: i.amount_credited,
            prices_include_vat: i.prices_include_vat,
            issued_at: i.issued_at,
            due_date: i.due_date,
            paid_at: i.paid_at,
            voided_at: i.voided_at,
            marked_uncollectible_at: i.marked_uncollectible_at,
            customer_snapshot: i.customer_snapshot.as_ref().map(|j| j.0.clone()),
            seller_snapshot: i.seller_snapshot.as_ref().map(|j| j.0.clone()),
        }
    }
}

/// The `discounts` column of an invoice: NULL for none, so an invoice without a discount is
/// stored exactly as before discounts existed.
fn discounts_column(discounts: &[AppliedDiscount]) -> Option<serde_json::Value> {
    if discounts.is_empty() {
        None
    } else {
        serde_json::to_value(discounts).ok()
    }
}

/// What an invoice is about: fixed at creation.
#[derive(Debug, Clone)]
pub struct InvoiceOrigin {
    pub customer_id: Uuid,
    pub subscription_id: Option<Uuid>,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    /// `subscription_create`, `subscription_cycle`, `proration` or `manual`.
    pub billing_reason: String,
    /// The monthly recurring revenue this invoice stands for (0 for one-off invoices).
    pub mrr: i64,
}

/// Inserts an invoice with its lines. Returns `None`, inserting nothing, when the database
/// already holds the invoice of this subscription and period (the unique key
/// `invoices_one_per_period`): the caller skips instead of failing, and its transaction stays
/// usable on PostgreSQL because the conflict is absorbed by `ON CONFLICT DO NOTHING`.
pub async fn insert(
    tx: &mut Tx,
    origin: &InvoiceOrigin,
    f: InvoiceFields,
    lines: &[NewLine],
    now: DateTime<Utc>,
) -> Result<Option<Invoice>> {
    let id = Uuid::now_v7();
    let inserted = tx
        .execute(
            Sql::new(
                "INSERT INTO invoices (id, customer_id, subscription_id, period_start, period_end, \
                 billing_reason, number, status, currency, subtotal, discount, vat_rate_bps, \
                 vat_amount, total, withholding_tax, amount_paid, amount_due, credit_applied, \
                 amount_credited, prices_include_vat, issued_at, due_date, paid_at, voided_at, \
                 marked_uncollectible_at, customer_snapshot, seller_snapshot, created_at, \
                 updated_at, version, mrr, discounts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                 $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, \
                 $26, $27, $28, $28, 1, $29, $30) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(origin.customer_id)
            .bind(origin.subscription_id)
            .bind(origin.period_start)
            .bind(origin.period_end)
            .bind(origin.billing_reason.as_str())
            .bind_fields(&f)
            .bind(now)
            .bind(origin.mrr)
            .bind(discounts_column(&f.discounts)),
        )
        .await?;
    if inserted == 0 {
        return Ok(None);
    }
    for (position, line) in lines.iter().enumerate() {
        tx.execute(
            Sql::new(
                "INSERT INTO invoice_lines (id, invoice_id, position, kind, description, \
                 period_start, period_end, quantity, unit_amount, amount) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(Uuid::now_v7())
            .bind(id)
            .bind(position as i64)
            .bind(line.kind.as_str())
            .bind(line.description.as_str())
            .bind(line.period_start)
            .bind(line.period_end)
            .bind(line.quantity)
            .bind(line.unit_amount)
            .bind(line.amount),
        )
        .await?;
    }
    tx.fetch_one(Sql::new("SELECT * FROM invoices WHERE id = $1").bind(id))
        .await
        .map(Some)
}

/// An invoice written whole in one go, already issued (a billing run's period invoice): its
/// id, what it is about, its state, its lines and how it is collected.
#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub id: Uuid,
    pub origin: InvoiceOrigin,
    pub fields: InvoiceFields,
    pub lines: Vec<NewLine>,
    /// Writes it stands for (2: a draft finalised at once).
    pub version: i64,
    /// `ChargeAutomatically` with the time to charge it, or `SendInvoice` and none.
    pub collection_method: CollectionMethod,
    pub next_collection_at: Option<DateTime<Utc>>,
}

/// Inserts many invoices with their lines, a few multi-row statements in all. Returns how
/// many invoices were inserted: one meeting the unique key `invoices_one_per_period` inserts
/// nothing (`ON CONFLICT DO NOTHING`); a caller that expected every row rolls back.
pub async fn insert_many(tx: &mut Tx, invoices: &[NewInvoice], now: DateTime<Utc>) -> Result<u64> {
    if tx.backend() == Backend::Postgres {
        return insert_many_unnest(tx, invoices, now).await;
    }
    const COLS: usize = 32;
    let mut inserted = 0;
    for chunk in invoices.chunks(crate::rows_per_statement(COLS)) {
        let mut sql = Sql::new(
            "INSERT INTO invoices (id, customer_id, subscription_id, period_start, period_end, \
             billing_reason, number, status, currency, subtotal, discount, vat_rate_bps, \
             vat_amount, total, withholding_tax, amount_paid, amount_due, credit_applied, \
             amount_credited, prices_include_vat, issued_at, due_date, paid_at, voided_at, \
             marked_uncollectible_at, customer_snapshot, seller_snapshot, created_at, \
             updated_at, version, mrr, collection_method, next_collection_at, discounts) VALUES ",
        )
        .bind(now);
        let mut text = String::new();
        for r in 0..chunk.len() {
            let p = 2 + r * COLS;
            if r > 0 {
                text.push_str(", ");
            }
            text.push('(');
            for c in 0..COLS {
                if c == 27 {
                    // created_at and updated_at are both `now`.
                    text.push_str("$1, $1, ");
                }
                text.push_str(&format!("${}", p + c));
                if c + 1 < COLS {
                    text.push_str(", ");
                }
            }
            text.push(')');
        }
        sql = sql.push(&text).push(" ON CONFLICT DO NOTHING");
        for inv in chunk {
            let (o, f) = (&inv.origin, &inv.fields);
            sql = sql
                .bind(inv.id)
                .bind(o.customer_id)
                .bind(o.subscription_id)
                .bind(o.period_start)
                .bind(o.period_end)
                .bind(o.billing_reason.as_str())
                .bind_fields(f)
                .bind(inv.version)
                .bind(o.mrr)
                .bind(inv.collection_method.as_str())
                .bind(inv.next_collection_at)
                .bind(discounts_column(&f.discounts));
        }
        inserted += tx.execute(sql).await?;
    }
    let lines: Vec<(Uuid, usize, &NewLine)> = invoices
        .iter()
        .flat_map(|inv| {
            inv.lines
                .iter()
                .enumerate()
                .map(move |(position, line)| (inv.id, position, line))
        })
        .collect();
    const LINE_COLS: usize = 10;
    for chunk in lines.chunks(crate::rows_per_statement(LINE_COLS)) {
        let mut sql = Sql::new(
            "INSERT INTO invoice_lines (id, invoice_id, position, kind, description, \
             period_start, period_end, quantity, unit_amount, amount) VALUES ",
        )
        .push_value_rows(chunk.len(), LINE_COLS);
        for (invoice_id, position, line) in chunk {
            sql = sql
                .bind(Uuid::now_v7())
                .bind(*invoice_id)
                .bind(*position as i64)
                .bind(line.kind.as_str())
                .bind(line.description.as_str())
                .bind(line.period_start)
                .bind(line.period_end)
                .bind(line.quantity)
                .bind(line.unit_amount)
                .bind(line.amount);
        }
        tx.execute(sql).await?;
    }
    Ok(inserted)
}

/// [`insert_many`] on PostgreSQL: one statement for the invoices and one for their lines,
/// each column bound as one array (`UNNEST`), whatever the number of rows.
async fn insert_many_unnest(
    tx: &mut Tx,
    invoices: &[NewInvoice],
    now: DateTime<Utc>,
) -> Result<u64> {
    if invoices.is_empty() {
        return Ok(0);
    }
    let sql = Sql::new("").bind(now);
    let (rows, sql) = unnest_invoices(sql, invoices, Column::PerRow);
    let columns = column_list(&INVOICE_COLUMNS, "", "");
    let sql = sql.push(&format!(
        "INSERT INTO invoices ({columns}, created_at, updated_at) \
         SELECT *, $1, $1 FROM {rows} ON CONFLICT DO NOTHING"
    ));
    let inserted = tx.execute(sql).await?;
    let (rows, sql) = unnest_lines(Sql::new(""), invoices);
    let columns = column_list(&LINE_COLUMNS, "", "");
    tx.execute(sql.push(&format!(
        "INSERT INTO invoice_lines ({columns}) SELECT * FROM {rows}"
    )))
    .await?;
    Ok(inserted)
}

/// The columns [`unnest_invoices`] yields, in order, with their types.
pub(crate) const INVOICE_COLUMNS: [(&str, &str); 32] = [
    ("id", "uuid"),
    ("customer_id", "uuid"),
    ("subscription_id", "uuid"),
    ("period_start", "date"),
    ("period_end", "date"),
    ("billing_reason", "text"),
    ("number", "text"),
    ("status", "text"),
    ("currency", "text"),
    ("subtotal", "int8"),
    ("discount", "int8"),
    ("vat_rate_bps", "int8"),
    ("vat_amount", "int8"),
    ("total", "int8"),
    ("withholding_tax", "int8"),
    ("amount_paid", "int8"),
    ("amount_due", "int8"),
    ("credit_applied", "int8"),
    ("amount_credited", "int8"),
    ("prices_include_vat", "bool"),
    ("issued_at", "timestamptz"),
    ("due_date", "date"),
    ("paid_at", "timestamptz"),
    ("voided_at", "timestamptz"),
    ("marked_uncollectible_at", "timestamptz"),
    ("customer_snapshot", "jsonb"),
    ("seller_snapshot", "jsonb"),
    ("version", "int8"),
    ("mrr", "int8"),
    ("collection_method", "text"),
    ("next_collection_at", "timestamptz"),
    ("discounts", "jsonb"),
];

/// How [`unnest_invoices`] binds a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    /// Each invoice's own value.
    PerRow,
    /// NULL on every row: the statement takes the value, the same for every invoice, from a
    /// parameter of its own (so that a large shared value is sent and parsed once).
    Shared,
}

/// Binds `invoices` as one array per column (PostgreSQL) and returns the
/// `UNNEST($n::uuid[], …)` that yields them as rows of [`INVOICE_COLUMNS`], with the statement
/// to append it to. `seller` says how the seller snapshot is bound.
pub(crate) fn unnest_invoices(sql: Sql, invoices: &[NewInvoice], seller: Column) -> (String, Sql) {
    let rows = unnest_text(sql.next_param(), &INVOICE_COLUMNS);
    let sql = sql
        .bind_column(invoices, |i| i.id)
        .bind_column(invoices, |i| i.origin.customer_id)
        .bind_column(invoices, |i| i.origin.subscription_id)
        .bind_column(invoices, |i| i.origin.period_start)
        .bind_column(invoices, |i| i.origin.period_end)
        .bind_column(invoices, |i| i.origin.billing_reason.clone())
        .bind_column(invoices, |i| i.fields.number.clone())
        .bind_column(invoices, |i| i.fields.status.as_str())
        .bind_column(invoices, |i| i.fields.currency.code())
        .bind_column(invoices, |i| i.fields.subtotal)
        .bind_column(invoices, |i| i.fields.discount)
        .bind_column(invoices, |i| i.fields.vat_rate_bps)
        .bind_column(invoices, |i| i.fields.vat_amount)
        .bind_column(invoices, |i| i.fields.total)
        .bind_column(invoices, |i| i.fields.withholding_tax)
        .bind_column(invoices, |i| i.fields.amount_paid)
        .bind_column(invoices, |i| i.fields.amount_due)
        .bind_column(invoices, |i| i.fields.credit_applied)
        .bind_column(invoices, |i| i.fields.amount_credited)
        .bind_column(invoices, |i| i.fields.prices_include_vat)
        .bind_column(invoices, |i| i.fields.issued_at)
        .bind_column(invoices, |i| i.fields.due_date)
        .bind_column(invoices, |i| i.fields.paid_at)
        .bind_column(invoices, |i| i.fields.voided_at)
        .bind_column(invoices, |i| i.fields.marked_uncollectible_at)
        .bind_column(invoices, |i| i.fields.customer_snapshot.clone())
        .bind_column(invoices, |i| match seller {
            Column::PerRow => i.fields.seller_snapshot.clone(),
            Column::Shared => None,
        })
        .bind_column(invoices, |i| i.version)
        .bind_column(invoices, |i| i.origin.mrr)
        .bind_column(invoices, |i| i.collection_method.as_str())
        .bind_column(invoices, |i| i.next_collection_at)
        .bind_column(invoices, |i| discounts_column(&i.fields.discounts));
    (rows, sql)
}

/// The columns [`unnest_lines`] yields, in order, with their types.
pub(crate) const LINE_COLUMNS: [(&str, &str); 10] = [
    ("id", "uuid"),
    ("invoice_id", "uuid"),
    ("position", "int8"),
    ("kind", "text"),
    ("description", "text"),
    ("period_start", "date"),
    ("period_end", "date"),
    ("quantity", "int8"),
    ("unit_amount", "int8"),
    ("amount", "int8"),
];

/// The lines of `invoices` as [`unnest_invoices`] binds invoices: rows of [`LINE_COLUMNS`].
pub(crate) fn unnest_lines(sql: Sql, invoices: &[NewInvoice]) -> (String, Sql) {
    let lines: Vec<(Uuid, i64, &NewLine)> = invoices
        .iter()
        .flat_map(|inv| {
            inv.lines
                .iter()
                .enumerate()
                .map(move |(position, line)| (inv.id, position as i64, line))
        })
        .collect();
    let rows = unnest_text(sql.next_param(), &LINE_COLUMNS);
    let sql = sql
        .bind_column(&lines, |_| Uuid::now_v7())
        .bind_column(&lines, |l| l.0)
        .bind_column(&lines, |l| l.1)
        .bind_column(&lines, |l| l.2.kind.clone())
        .bind_column(&lines, |l| l.2.description.clone())
        .bind_column(&lines, |l| l.2.period_start)
        .bind_column(&lines, |l| l.2.period_end)
        .bind_column(&lines, |l| l.2.quantity)
        .bind_column(&lines, |l| l.2.unit_amount)
        .bind_column(&lines, |l| l.2.amount);
    (rows, sql)
}

/// `UNNEST($first::t1[], $first+1::t2[], …)` for `columns` (name, type).
fn unnest_text(first: usize, columns: &[(&str, &str)]) -> String {
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, t))| format!("${}::{t}[]", first + i))
        .collect();
    format!("UNNEST({})", arrays.join(", "))
}

/// The names of `columns` (name, type), comma-separated, each after `prefix` (`"u."`, or `""`),
/// leaving out `except`.
pub(crate) fn column_list(columns: &[(&str, &str)], prefix: &str, except: &str) -> String {
    let names: Vec<String> = columns
        .iter()
        .filter(|(name, _)| *name != except)
        .map(|(name, _)| format!("{prefix}{name}"))
        .collect();
    names.join(", ")
}

/// The `n`-th number of a gapless sequence: `{prefix}-{year}-{n}`, `n` zero-padded to six digits
/// (more digits when it needs them). `issue::issue_many`'s PostgreSQL statement formats it the
/// same way in SQL.
pub fn format_number(prefix: &str, year: i32, n: i64) -> String {
    format!("{prefix}-{year}-{n:06}")
}

/// Which of these (subscription, period start) pairs already have their period invoice.
pub async fn issued_periods_in(
    tx: &mut Tx,
    periods: &[(Uuid, NaiveDate)],
) -> Result<Vec<(Uuid, NaiveDate)>> {
    #[derive(sqlx::FromRow)]
    struct Period {
        subscription_id: Uuid,
        period_start: NaiveDate,
    }
    let mut found = Vec::new();
    for chunk in periods.chunks(crate::rows_per_statement(1)) {
        let mut subscriptions: Vec<Uuid> = chunk.iter().map(|(s, _)| *s).collect();
        subscriptions.sort_unstable();
        subscriptions.dedup();
        let mut starts: Vec<NaiveDate> = chunk.iter().map(|(_, d)| *d).collect();
        starts.sort_unstable();
        starts.dedup();
        // Both lists on the columns of `invoices_one_per_period`, whose condition the
        // statement repeats so that SQLite can use the partial index.
        let mut sql = Sql::new(
            "SELECT subscription_id, period_start FROM invoices \
             WHERE billing_reason IN ('subscription_create', 'subscription_cycle') \
             AND subscription_id IN (",
        )
        .push_params(1, subscriptions.len())
        .push(") AND period_start IN (")
        .push_params(1 + subscriptions.len(), starts.len())
        .push(")");
        for id in &subscriptions {
            sql = sql.bind(*id);
        }
        for start in &starts {
            sql = sql.bind(*start);
        }
        let rows: Vec<Period> = tx.fetch_all(sql).await?;
        found.extend(
            rows.into_iter()
                .map(|r| (r.subscription_id, r.period_start))
                .filter(|pair| chunk.contains(pair)),
        );
    }
    Ok(found)
}

/// Binds the columns of [`InvoiceFields`] an insert and an update both write, in the order
/// `number, status, currency, subtotal, discount, vat_rate_bps, vat_amount, total,
/// withholding_tax, amount_paid, amount_due, credit_applied, amount_credited,
/// prices_include_vat, issued_at, due_date, paid_at, voided_at, marked_uncollectible_at,
/// customer_snapshot, seller_snapshot` (`discounts` has its own column form).
trait BindFields {
    fn bind_fields(self, f: &InvoiceFields) -> Self;
}

impl BindFields for Sql {
    fn bind_fields(self, f: &InvoiceFields) -> Self {
        self.bind(f.number.clone())
            .bind(f.status.as_str())
            .bind(f.currency.code())
            .bind(f.subtotal)
            .bind(f.discount)
            .bind(f.vat_rate_bps)
            .bind(f.vat_amount)
            .bind(f.total)
            .bind(f.withholding_tax)
            .bind(f.amount_paid)
            .bind(f.amount_due)
            .bind(f.credit_applied)
            .bind(f.amount_credited)
            .bind(f.prices_include_vat)
            .bind(f.issued_at)
            .bind(f.due_date)
            .bind(f.paid_at)
            .bind(f.voided_at)
            .bind(f.marked_uncollectible_at)
            .bind(f.customer_snapshot.clone())
            .bind(f.seller_snapshot.clone())
    }
}

/// Writes an invoice's whole new state and bumps its version.
pub async fn update(
    tx: &mut Tx,
    id: Uuid,
    f: InvoiceFields,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    let changed = tx
        .execute(
            Sql::new(
                "UPDATE invoices SET number = $2, status = $3, currency = $4, subtotal = $5, \
                 discount = $6, vat_rate_bps = $7, vat_amount = $8, total = $9, \
                 withholding_tax = $10, amount_paid = $11, amount_due = $12, \
                 credit_applied = $13, amount_credited = $14, prices_include_vat = $15, \
                 issued_at = $16, due_date = $17, paid_at = $18, voided_at = $19, \
                 marked_uncollectible_at = $20, customer_snapshot = $21, seller_snapshot = $22, \
                 updated_at = $23, discounts = $24, version = version + 1 WHERE id = $1",
            )
            .bind(id)
            .bind_fields(&f)
            .bind(now)
            .bind(discounts_column(&f.discounts)),
        )
        .await?;
    if changed == 0 {
        return Err(Error::NotFound);
    }
    tx.fetch_one(Sql::new("SELECT * FROM invoices WHERE id = $1").bind(id))
        .await
}

/// One invoice, if the scope reaches its customer.
pub async fn find(db: &Db, id: Uuid, scope: Scope) -> Result<Option<Invoice>> {
    db.fetch_optional(
        Sql::new(format!(
            "SELECT * FROM invoices i WHERE i.id = $1 AND {}",
            Scope::clause("i.customer_id", 2)
        ))
        .bind(id)
        .bind(scope.member_user()),
    )
    .await
}

/// [`find`] inside a transaction, holding the row until commit.
pub async fn lock(tx: &mut Tx, id: Uuid, scope: Scope) -> Result<Option<Invoice>> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE OF i",
        // SQLite transactions begin IMMEDIATE: the write lock is already held.
        Backend::Sqlite => "",
    };
    tx.fetch_optional(
        Sql::new(format!(
            "SELECT * FROM invoices i WHERE i.id = $1 AND {}{lock}",
            Scope::clause("i.customer_id", 2)
        ))
        .bind(id)
        .bind(scope.member_user()),
    )
    .await
}

/// Filters of [`list`]; `None` matches everything.
#[derive(Debug, Default)]
pub struct InvoiceFilter {
    pub customer_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    pub status: Option<InvoiceStatus>,
}

/// Invoices the scope reaches, in creation order, keyset-paged by id.
pub async fn list(
    db: &Db,
    scope: Scope,
    filter: InvoiceFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Invoice>> {
    db.fetch_all(
        Sql::new(format!(
            "SELECT * FROM invoices i WHERE {} AND ($2 IS NULL OR i.customer_id = $2) \
             AND ($3 IS NULL OR i.subscription_id = $3) AND ($4 IS NULL OR i.status = $4) \
             AND ($5 IS NULL OR i.id > $5) ORDER BY i.id LIMIT $6",
            Scope::clause("i.customer_id", 1)
        ))
        .bind(scope.member_user())
        .bind(filter.customer_id)
        .bind(filter.subscription_id)
        .bind(filter.status.map(InvoiceStatus::as_str))
        .bind(after)
        .bind(limit),
    )
    .await
}

/// A customer's invoices in one status, inside a transaction.
pub async fn list_in(
    tx: &mut Tx,
    customer_id: Uuid,
    status: InvoiceStatus,
) -> Result<Vec<Invoice>> {
    tx.fetch_all(
        Sql::new("SELECT * FROM invoices WHERE customer_id = $1 AND status = $2 ORDER BY id")
            .bind(customer_id)
            .bind(status.as_str()),
    )
    .await
}

/// The lines of the given invoices, in their order.
pub async fn lines_of(db: &Db, invoice_ids: &[Uuid]) -> Result<Vec<InvoiceLine>> {
    if invoice_ids.is_empty() {
        return Ok(Vec::new());
    }
    db.fetch_all(lines_sql(invoice_ids)).await
}

/// [`lines_of`] inside a transaction.
pub async fn lines_in(tx: &mut Tx, invoice_id: Uuid) -> Result<Vec<InvoiceLine>> {
    tx.fetch_all(lines_sql(&[invoice_id])).await
}

fn lines_sql(invoice_ids: &[Uuid]) -> Sql {
    let placeholders: Vec<String> = (1..=invoice_ids.len()).map(|n| format!("${n}")).collect();
    let mut sql = Sql::new(format!(
        "SELECT * FROM invoice_lines WHERE invoice_id IN ({}) ORDER BY invoice_id, position",
        placeholders.join(", ")
    ));
    for id in invoice_ids {
        sql = sql.bind(Arg::from(*id));
    }
    sql
}

#[derive(sqlx::FromRow)]
struct NextPosition {
    next: i64,
}

/// Appends `line` after the last line of the invoice `invoice_id` (a draft being written, locked
/// by the caller in `tx`).
pub async fn add_line(tx: &mut Tx, invoice_id: Uuid, line: &NewLine) -> Result<InvoiceLine> {
    let at: NextPosition = tx
        .fetch_one(
            Sql::new(
                "SELECT CAST(COALESCE(MAX(position) + 1, 0) AS BIGINT) AS next \
                 FROM invoice_lines WHERE invoice_id = $1",
            )
            .bind(invoice_id),
        )
        .await?;
    let id = Uuid::now_v7();
    tx.execute(
        Sql::new(
            "INSERT INTO invoice_lines (id, invoice_id, position, kind, description, \
             period_start, period_end, quantity, unit_amount, amount) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(invoice_id)
        .bind(at.next)
        .bind(line.kind.as_str())
        .bind(line.description.as_str())
        .bind(line.period_start)
        .bind(line.period_end)
        .bind(line.quantity)
        .bind(line.unit_amount)
        .bind(line.amount),
    )
    .await?;
    tx.fetch_one(Sql::new("SELECT * FROM invoice_lines WHERE id = $1").bind(id))
        .await
}

/// Removes the line `line_id` of the invoice `invoice_id` (a draft, locked by the caller);
/// whether there was such a line.
pub async fn remove_line(tx: &mut Tx, invoice_id: Uuid, line_id: Uuid) -> Result<bool> {
    let removed = tx
        .execute(
            Sql::new("DELETE FROM invoice_lines WHERE id = $1 AND invoice_id = $2")
                .bind(line_id)
                .bind(invoice_id),
        )
        .await?;
    Ok(removed > 0)
}

/// Deletes a draft and its lines (locked by the caller). Only a draft nobody was asked to pay
/// may go: it has no number, so no gap opens in the sequence, and nothing refers to it yet.
pub async fn delete_draft(tx: &mut Tx, id: Uuid) -> Result<bool> {
    tx.execute(
        Sql::new(
            "DELETE FROM invoice_lines WHERE invoice_id = $1 \
             AND EXISTS (SELECT 1 FROM invoices WHERE id = $1 AND status = 'draft')",
        )
        .bind(id),
    )
    .await?;
    let deleted = tx
        .execute(Sql::new("DELETE FROM invoices WHERE id = $1 AND status = 'draft'").bind(id))
        .await?;
    Ok(deleted > 0)
}

#[derive(sqlx::FromRow)]
struct LastValue {
    last_value: i64,
}

/// The next number of a gapless sequence (`kind` such as `invoice` or `credit_note`, the
/// document prefix and the year), allocated inside `tx`: the upsert locks the counter row until
/// the transaction ends, so concurrent finalisations queue and a rollback leaves no gap.
pub async fn next_number(tx: &mut Tx, kind: &str, prefix: &str, year: i32) -> Result<i64> {
    next_numbers(tx, kind, prefix, year, 1).await
}

/// The next `count` numbers of a gapless sequence, allocated at once like [`next_number`]:
/// returns the last of them (the block is `last − count + 1 ..= last`).
pub async fn next_numbers(
    tx: &mut Tx,
    kind: &str,
    prefix: &str,
    year: i32,
    count: i64,
) -> Result<i64> {
    let row: LastValue = tx
        .fetch_one(
            Sql::new(
                "INSERT INTO document_sequences (kind, prefix, year, last_value) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (kind, prefix, year) \
                 DO UPDATE SET last_value = document_sequences.last_value + $4 \
                 RETURNING last_value",
            )
            .bind(kind)
            .bind(prefix)
            .bind(i64::from(year))
            .bind(count),
        )
        .await?;
    Ok(row.last_value)
}

#[derive(sqlx::FromRow)]
struct Balance {
    balance: i64,
}

/// Moves a customer's credit balance (positive = money the customer has in credit with us) by
/// `delta` and returns the new balance. Called inside the transaction that causes the move.
pub async fn adjust_customer_balance(
    tx: &mut Tx,
    customer_id: Uuid,
    delta: i64,
    now: DateTime<Utc>,
) -> Result<i64> {
    let row: Balance = tx
        .fetch_one(
            Sql::new(
                "UPDATE customers SET balance = balance + $2, updated_at = $3, \
                 version = version + 1 WHERE id = $1 RETURNING balance",
            )
            .bind(customer_id)
            .bind(delta)
            .bind(now),
        )
        .await?;
    Ok(row.balance)
}

#[cfg(test)]
mod number_tests {
    use super::format_number;

    #[test]
    fn numbers_are_padded_to_six_digits_and_grow_beyond() {
        assert_eq!(format_number("INV", 2030, 1), "INV-2030-000001");
        assert_eq!(format_number("INV", 2030, 999_999), "INV-2030-999999");
        assert_eq!(format_number("INV", 2030, 1_234_567), "INV-2030-1234567");
    }
}
