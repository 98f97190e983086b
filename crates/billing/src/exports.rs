//! The accountant's exports (SPEC §2.14): customers, invoices, payments or credit notes whose
//! date falls in a Bangkok date range, one row per record, as CSV or XLSX
//! ([`crate::spreadsheet`]: money in major units with two decimals, dates ISO, Thai text as
//! written).
//!
//! - **Which date**: a customer's creation, an invoice's issue (drafts have no number and are
//!   left out; void and uncollectible invoices are in, with their status), a payment's
//!   `paid_at` (the day the money arrived, which may be before it was recorded), a credit
//!   note's issue — each as its Bangkok calendar day. `from` and `to` are both inclusive; either
//!   may be left open.
//! - **Order**: by that date, then id.
//! - **Bounded memory**: the store is read [`PAGE_ROWS`] at a time (keyset on date and id); a
//!   CSV is sent page by page as it is read ([`Export::next_page`]); an XLSX is written in
//!   constant memory and held only as the compressed file. Pages are separate reads, so a record
//!   written while a long export runs may or may not be in it.
//! - **Buyer names**: an invoice or credit note names the buyer as at the invoice's issue (its
//!   snapshot: legal name, else name), as the tax documents do; a payment names the customer
//!   as it is now.
//! - **Column names** are the API's field names (`snake_case`, English), so a file reads the same
//!   as the JSON and survives any spreadsheet locale.

use chrono::{DateTime, Days, NaiveDate, Utc};
use futures::stream::{self, Stream, StreamExt};
use satang_domain::{Currency, Money, bangkok_date};
use satang_store::Db;
use satang_store::exports::{self as store, After, Window};
use serde_json::Value;
use uuid::Uuid;

use crate::reports::{branch_label, midnight};
use crate::spreadsheet::{self, Cell, Xlsx};
use crate::{Error, Result};

/// Records read from the store at a time.
pub const PAGE_ROWS: i64 = 1_000;

/// What is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Customers,
    Invoices,
    Payments,
    CreditNotes,
}

impl ExportKind {
    pub const ALL: [ExportKind; 4] = [
        ExportKind::Customers,
        ExportKind::Invoices,
        ExportKind::Payments,
        ExportKind::CreditNotes,
    ];

    /// The name in the path and the file name: `customers`, `credit-notes` …
    pub fn as_str(self) -> &'static str {
        match self {
            ExportKind::Customers => "customers",
            ExportKind::Invoices => "invoices",
            ExportKind::Payments => "payments",
            ExportKind::CreditNotes => "credit-notes",
        }
    }

    pub fn parse(s: &str) -> Option<ExportKind> {
        ExportKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The header row.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            ExportKind::Customers => &[
                "id",
                "name",
                "legal_name",
                "tax_id",
                "branch_code",
                "email",
                "phone",
                "billing_email",
                "address_line1",
                "address_line2",
                "address_subdistrict",
                "address_district",
                "address_province",
                "address_postal_code",
                "address_country",
                "currency",
                "payment_terms_days",
                "status",
                "balance",
                "created_date",
            ],
            ExportKind::Invoices => &[
                "number",
                "issue_date",
                "due_date",
                "paid_date",
                "status",
                "customer_id",
                "customer_name",
                "customer_tax_id",
                "customer_branch",
                "currency",
                "subtotal",
                "discount",
                "vat_rate_bps",
                "vat_amount",
                "total",
                "withholding_tax",
                "amount_paid",
                "credit_applied",
                "amount_credited",
                "amount_due",
                "id",
            ],
            ExportKind::Payments => &[
                "paid_date",
                "invoice_number",
                "customer_id",
                "customer_name",
                "customer_tax_id",
                "method",
                "reference",
                "currency",
                "amount",
                "withholding_tax",
                "certificate_no",
                "overpayment",
                "status",
                "id",
                "invoice_id",
            ],
            ExportKind::CreditNotes => &[
                "number",
                "issue_date",
                "invoice_number",
                "customer_id",
                "customer_name",
                "customer_tax_id",
                "customer_branch",
                "currency",
                "reason",
                "subtotal",
                "vat_amount",
                "total",
                "applied_to_invoice",
                "credited_to_balance",
                "id",
                "invoice_id",
            ],
        }
    }
}

/// Bangkok days, both ends inclusive, either open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateRange {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl DateRange {
    /// The range, or why not (`to` before `from`).
    pub fn new(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<DateRange> {
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            return Err(Error::Invalid {
                field: "to",
                message: "must not be before from".into(),
            });
        }
        Ok(DateRange { from, to })
    }

    /// The instants `[from's midnight, the midnight after to)`.
    fn instants(self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        (
            self.from.map(midnight),
            self.to
                .and_then(|t| t.checked_add_days(Days::new(1)))
                .map(midnight),
        )
    }
}

/// The file name of an export: `invoices-2030-03-01-2030-03-31.csv`.
pub fn file_name(kind: ExportKind, range: DateRange, extension: &str) -> String {
    let mut name = kind.as_str().to_owned();
    for d in [range.from, range.to].into_iter().flatten() {
        name.push('-');
        name.push_str(&d.to_string());
    }
    format!("{name}.{extension}")
}

/// An export being read page by page.
#[derive(Debug, Clone)]
pub struct Export {
    kind: ExportKind,
    window: Window,
    done: bool,
}

impl Export {
    pub fn new(kind: ExportKind, range: DateRange) -> Export {
        let (from, to) = range.instants();
        Export {
            kind,
            window: Window {
                from,
                to,
                after: None,
                limit: PAGE_ROWS,
            },
            done: false,
        }
    }

    pub fn kind(&self) -> ExportKind {
        self.kind
    }

    /// The next page of rows; `None` once every record was read.
    pub async fn next_page(&mut self, db: &Db) -> Result<Option<Vec<Vec<Cell>>>> {
        if self.done {
            return Ok(None);
        }
        let (rows, last): (Vec<Vec<Cell>>, After) = match self.kind {
            ExportKind::Customers => {
                let found = store::customers(db, self.window).await?;
                let last = found.last().map(|r| (r.created_at, r.id));
                (found.into_iter().map(customer_row).collect(), last)
            }
            ExportKind::Invoices => {
                let found = store::invoices(db, self.window).await?;
                let last = found.last().map(|r| (r.issued_at, r.id));
                (found.into_iter().map(invoice_row).collect(), last)
            }
            ExportKind::Payments => {
                let found = store::payments(db, self.window).await?;
                let last = found.last().map(|r| (r.paid_at, r.id));
                (found.into_iter().map(payment_row).collect(), last)
            }
            ExportKind::CreditNotes => {
                let found = store::credit_notes(db, self.window).await?;
                let last = found.last().map(|r| (r.issued_at, r.id));
                (found.into_iter().map(credit_note_row).collect(), last)
            }
        };
        if (rows.len() as i64) < self.window.limit {
            self.done = true;
        }
        self.window.after = last;
        Ok((!rows.is_empty()).then_some(rows))
    }
}

/// The export as CSV text, a chunk per page: the byte order mark, the header and the first
/// page are read before this returns (so a database that cannot be reached is an error, not a
/// file cut short), the rest as the stream is polled — at the pace the client reads.
pub async fn csv(
    db: &Db,
    kind: ExportKind,
    range: DateRange,
) -> Result<impl Stream<Item = Result<String>> + Send + 'static> {
    let mut export = Export::new(kind, range);
    let mut head = spreadsheet::csv_header(kind.columns());
    for row in export.next_page(db).await?.unwrap_or_default() {
        spreadsheet::csv_line(&row, &mut head);
    }
    let rest = stream::try_unfold((export, db.clone()), |(mut export, db)| async move {
        let Some(rows) = export.next_page(&db).await? else {
            return Ok(None);
        };
        let mut chunk = String::new();
        for row in &rows {
            spreadsheet::csv_line(row, &mut chunk);
        }
        Ok(Some((chunk, (export, db))))
    });
    Ok(stream::once(async move { Ok(head) }).chain(rest))
}

/// The whole export as an XLSX file, read page by page.
pub async fn xlsx(db: &Db, kind: ExportKind, range: DateRange) -> Result<Vec<u8>> {
    let mut export = Export::new(kind, range);
    let mut file = Xlsx::new(kind.as_str(), kind.columns())?;
    while let Some(rows) = export.next_page(db).await? {
        for r in &rows {
            file.push(r)?;
        }
    }
    // Compressing a large workbook takes a while: off the request threads.
    tokio::task::spawn_blocking(move || file.finish())
        .await
        .map_err(|e| Error::Internal(format!("xlsx writer: {e}")))?
}

fn currency(code: &str) -> Currency {
    code.parse().unwrap_or_default()
}

fn money(minor: i64, code: &str) -> Cell {
    Cell::Money(Money::new(minor, currency(code)))
}

fn date(at: DateTime<Utc>) -> Cell {
    Cell::Date(bangkok_date(at))
}

fn id(id: Uuid) -> Cell {
    Cell::Text(id.to_string())
}

fn snapshot_text(v: &Value, key: &str) -> Option<String> {
    v[key]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The buyer of a snapshot: (legal name or name, tax id, branch label).
fn buyer(snapshot: Option<&Value>) -> [Cell; 3] {
    let Some(v) = snapshot else {
        return [Cell::Empty, Cell::Empty, Cell::Empty];
    };
    let name = snapshot_text(v, "legal_name").or_else(|| snapshot_text(v, "name"));
    let branch = branch_label(snapshot_text(v, "branch_code").as_deref());
    [
        Cell::opt(name),
        Cell::opt(snapshot_text(v, "tax_id")),
        Cell::opt((!branch.is_empty()).then_some(branch)),
    ]
}

fn customer_row(c: store::CustomerRow) -> Vec<Cell> {
    let a = c.address.map(|a| a.0).unwrap_or_default();
    vec![
        id(c.id),
        Cell::Text(c.name),
        Cell::opt(c.legal_name),
        Cell::opt(c.tax_id),
        Cell::opt(c.branch_code),
        Cell::opt(c.email),
        Cell::opt(c.phone),
        Cell::opt(c.billing_email),
        Cell::opt(a.line1),
        Cell::opt(a.line2),
        Cell::opt(a.subdistrict),
        Cell::opt(a.district),
        Cell::opt(a.province),
        Cell::opt(a.postal_code),
        Cell::opt(a.country),
        Cell::Text(c.currency.clone()),
        Cell::Int(c.payment_terms_days),
        Cell::Text(c.status),
        money(c.balance, &c.currency),
        date(c.created_at),
    ]
}

fn invoice_row(i: store::InvoiceRow) -> Vec<Cell> {
    let [name, tax_id, branch] = buyer(i.customer_snapshot.as_ref().map(|s| &s.0));
    let m = |minor| money(minor, &i.currency);
    vec![
        Cell::opt(i.number.clone()),
        date(i.issued_at),
        i.due_date.map_or(Cell::Empty, Cell::Date),
        i.paid_at.map_or(Cell::Empty, date),
        Cell::Text(i.status.clone()),
        id(i.customer_id),
        name,
        tax_id,
        branch,
        Cell::Text(i.currency.clone()),
        m(i.subtotal),
        m(i.discount),
        Cell::Int(i.vat_rate_bps),
        m(i.vat_amount),
        m(i.total),
        m(i.withholding_tax),
        m(i.amount_paid),
        m(i.credit_applied),
        m(i.amount_credited),
        m(i.amount_due),
        id(i.id),
    ]
}

fn payment_row(p: store::PaymentRow) -> Vec<Cell> {
    let m = |minor| money(minor, &p.currency);
    vec![
        date(p.paid_at),
        Cell::opt(p.invoice_number.clone()),
        id(p.customer_id),
        Cell::Text(p.customer_name.clone()),
        Cell::opt(p.customer_tax_id.clone()),
        Cell::Text(p.method.clone()),
        Cell::opt(p.reference.clone()),
        Cell::Text(p.currency.clone()),
        m(p.amount),
        m(p.withholding_tax),
        Cell::opt(p.withholding_certificate_no.clone()),
        m(p.overpayment),
        Cell::Text(p.status.clone()),
        id(p.id),
        id(p.invoice_id),
    ]
}

fn credit_note_row(n: store::CreditNoteRow) -> Vec<Cell> {
    let [name, tax_id, branch] = buyer(n.customer_snapshot.as_ref().map(|s| &s.0));
    let m = |minor| money(minor, &n.currency);
    vec![
        Cell::Text(n.number.clone()),
        date(n.issued_at),
        Cell::opt(n.invoice_number.clone()),
        id(n.customer_id),
        name,
        tax_id,
        branch,
        Cell::Text(n.currency.clone()),
        Cell::opt(n.reason.clone()),
        m(n.subtotal),
        m(n.vat_amount),
        m(n.total),
        m(n.applied_to_invoice),
        m(n.credited_to_balance),
        id(n.id),
        id(n.invoice_id),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_from_their_path_names() {
        for k in ExportKind::ALL {
            assert_eq!(ExportKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ExportKind::parse("credit_notes"), None);
    }

    #[test]
    fn a_range_ends_after_its_last_day_in_bangkok() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let r = DateRange::new(Some(d("2030-03-01")), Some(d("2030-03-31"))).unwrap();
        let (from, to) = r.instants();
        assert_eq!(from.unwrap().to_rfc3339(), "2030-02-28T17:00:00+00:00");
        assert_eq!(to.unwrap().to_rfc3339(), "2030-03-31T17:00:00+00:00");
        assert!(DateRange::new(Some(d("2030-03-02")), Some(d("2030-03-01"))).is_err());
        assert_eq!(
            file_name(ExportKind::CreditNotes, r, "csv"),
            "credit-notes-2030-03-01-2030-03-31.csv"
        );
        assert_eq!(
            file_name(ExportKind::Payments, DateRange::default(), "xlsx"),
            "payments.xlsx"
        );
    }

    #[test]
    fn every_row_fills_its_header() {
        let now = DateTime::<Utc>::from_timestamp(1_900_000_000, 0).unwrap();
        let c = customer_row(store::CustomerRow {
            id: Uuid::nil(),
            name: "ไร่".into(),
            legal_name: None,
            tax_id: None,
            branch_code: None,
            email: None,
            phone: None,
            billing_email: None,
            address: None,
            currency: "THB".into(),
            payment_terms_days: 30,
            status: "active".into(),
            balance: 0,
            created_at: now,
        });
        assert_eq!(c.len(), ExportKind::Customers.columns().len());
        let i = invoice_row(store::InvoiceRow {
            id: Uuid::nil(),
            number: None,
            customer_id: Uuid::nil(),
            status: "open".into(),
            currency: "THB".into(),
            subtotal: 0,
            discount: 0,
            vat_rate_bps: 700,
            vat_amount: 0,
            total: 0,
            withholding_tax: 0,
            amount_paid: 0,
            credit_applied: 0,
            amount_credited: 0,
            amount_due: 0,
            issued_at: now,
            due_date: None,
            paid_at: None,
            customer_snapshot: None,
        });
        assert_eq!(i.len(), ExportKind::Invoices.columns().len());
        let p = payment_row(store::PaymentRow {
            id: Uuid::nil(),
            invoice_id: Uuid::nil(),
            invoice_number: None,
            customer_id: Uuid::nil(),
            customer_name: String::new(),
            customer_tax_id: None,
            currency: "THB".into(),
            amount: 0,
            method: "cash".into(),
            reference: None,
            paid_at: now,
            withholding_tax: 0,
            withholding_certificate_no: None,
            overpayment: 0,
            status: "succeeded".into(),
        });
        assert_eq!(p.len(), ExportKind::Payments.columns().len());
        let n = credit_note_row(store::CreditNoteRow {
            id: Uuid::nil(),
            number: "CN".into(),
            invoice_id: Uuid::nil(),
            invoice_number: None,
            customer_id: Uuid::nil(),
            customer_snapshot: None,
            currency: "THB".into(),
            reason: None,
            subtotal: 0,
            vat_amount: 0,
            total: 0,
            applied_to_invoice: 0,
            credited_to_balance: 0,
            issued_at: now,
        });
        assert_eq!(n.len(), ExportKind::CreditNotes.columns().len());
    }
}
