//! Bank reconciliation (SPEC §2.13): uploading a bank statement, suggesting which open invoice
//! each transfer pays, and matching a line — which records a `bank_transfer` payment through
//! [`record_payment`], the one payment path.
//!
//! Decisions:
//! - **All or nothing**: a file with any bad line (CSV, date, amount, unknown column) writes
//!   nothing; the refusal names each field and file line (`lines[4].amount`).
//! - **Idempotent re-upload**: a line is stored once per fingerprint (see
//!   `satang_domain::bank_statement`); an upload that repeats lines records them as
//!   `duplicate_count` and adds only the new ones. Statements are in baht (THB).
//! - **Suggestions** (`satang_domain::bank_match`) come from the invoices open *now*, for
//!   unmatched lines of money received; the withholding tax of a net-of-tax suggestion is the
//!   settings rate of the pre-VAT amount less what earlier payments withheld.
//! - **A line is applied once**: matching locks the line, then the invoice (no other path locks
//!   a line, so the order cannot deadlock), records the payment and marks the line matched only
//!   while it is unmatched; a second match is a 409 and records nothing.
//! - The payment is dated the booking day (Bangkok midnight), never later than now; its
//!   `reference` is `bank_statement_line:{line id}`.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use satang_domain::bank_match::{Candidate, Matcher};
use satang_domain::bank_statement::{ColumnMapping, parse_statement};
use satang_domain::period::BANGKOK_UTC_OFFSET_SECONDS;
use satang_domain::vat::withholding_tax;
use satang_domain::{Currency, InvoiceStatus};
use satang_store::audit::{self, Actor, Change};
use satang_store::bank_statements::{
    self, BankLine, BankStatement, LineMatch, LineRef, NewLine, NewStatement, OpenInvoice,
};
use satang_store::invoices::{self, Invoice};
use satang_store::outbox::{self, NewEvent};
use satang_store::payments::Payment;
use satang_store::{Db, Scope, Tx};

use crate::invoicing::settlement::{PaymentInput, record_payment};
use crate::{BillingSettings, Error, FieldError, Result};

/// The currency of every statement line.
pub const STATEMENT_CURRENCY: Currency = Currency::Thb;

/// An upload as the API accepted it (columns named, format checked by the parser).
#[derive(Debug, Clone)]
pub struct UploadInput {
    pub csv: String,
    pub columns: ColumnMapping,
    pub date_format: String,
}

/// What the API, webhooks and the audit log show of a statement.
pub fn statement_json(s: &BankStatement) -> Value {
    json!({
        "id": s.id, "columns": {"date": s.date_column, "amount": s.amount_column,
        "description": s.description_column}, "date_format": s.date_format,
        "lines": s.line_count, "duplicates": s.duplicate_count, "created_at": s.created_at,
    })
}

/// What webhooks and the audit log show of a line.
pub fn line_json(l: &BankLine) -> Value {
    json!({
        "id": l.id, "statement_id": l.statement_id, "line": l.line_no, "date": l.booked_on,
        "amount": l.amount, "currency": l.currency, "description": l.description,
        "status": l.status, "invoice_id": l.invoice_id, "customer_id": l.customer_id,
        "payment_id": l.payment_id, "withholding_tax": l.withholding_tax,
        "matched_at": l.matched_at,
    })
}

fn fingerprint(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Reads the CSV and stores its new lines under a new statement, with
/// `bank_statement.uploaded`. Any bad line refuses the whole file (422, nothing written).
pub async fn upload_statement(
    tx: &mut Tx,
    actor: &Actor,
    input: UploadInput,
    now: DateTime<Utc>,
) -> Result<BankStatement> {
    let parsed = parse_statement(&input.csv, &input.columns, &input.date_format).map_err(|e| {
        Error::InvalidFields(
            e.into_iter()
                .map(|e| FieldError {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
        )
    })?;
    let statement = bank_statements::insert_statement(
        tx,
        NewStatement {
            date_column: input.columns.date.trim().to_owned(),
            amount_column: input.columns.amount.trim().to_owned(),
            description_column: input.columns.description.trim().to_owned(),
            date_format: input.date_format,
            uploaded_by: actor.user_id,
        },
        now,
    )
    .await?;
    let lines: Vec<NewLine> = parsed
        .iter()
        .map(|l| NewLine {
            line_no: i64::try_from(l.line).unwrap_or(i64::MAX),
            booked_on: l.date,
            amount: l.amount,
            currency: STATEMENT_CURRENCY.code().to_owned(),
            description: l.description.clone(),
            fingerprint: fingerprint(&l.fingerprint_key()),
        })
        .collect();
    let added = bank_statements::insert_lines(tx, statement.id, &lines, now).await?;
    let added = i64::try_from(added).unwrap_or(i64::MAX);
    let total = i64::try_from(lines.len()).unwrap_or(i64::MAX);
    let statement = bank_statements::set_counts(tx, statement.id, added, total - added).await?;
    announce(
        tx,
        actor,
        "bank_statement.uploaded",
        "bank_statement",
        statement.id,
        None,
        None,
        statement_json(&statement),
        now,
    )
    .await?;
    Ok(statement)
}

#[allow(clippy::too_many_arguments)]
async fn announce(
    tx: &mut Tx,
    actor: &Actor,
    action: &'static str,
    entity_type: &'static str,
    entity_id: Uuid,
    customer_id: Option<Uuid>,
    before: Option<Value>,
    after: Value,
    now: DateTime<Utc>,
) -> Result<()> {
    outbox::emit(
        tx,
        NewEvent {
            event_type: action,
            entity_type,
            entity_id: entity_id.to_string(),
            customer_id,
            payload: after.clone(),
        },
        now,
    )
    .await?;
    audit::record(
        tx,
        actor,
        Change {
            action,
            entity_type,
            entity_id: entity_id.to_string(),
            before,
            after: Some(after),
        },
        now,
    )
    .await?;
    Ok(())
}

/// An open invoice a line may pay.
#[derive(Debug, Clone)]
pub struct SuggestedInvoice {
    pub invoice: OpenInvoice,
    /// `amount` or `amount_less_withholding_tax`.
    pub amount_match: &'static str,
    /// The withholding tax to record with the match (0 for an exact amount).
    pub withholding_tax: i64,
    pub score: u32,
    pub reasons: Vec<&'static str>,
}

/// The open invoices as matching candidates, built once for many lines.
pub struct Suggester {
    invoices: Vec<OpenInvoice>,
    matcher: Matcher,
}

impl Suggester {
    /// Reads the invoices open now.
    pub async fn load(db: &Db, settings: &BillingSettings) -> Result<Suggester> {
        let invoices = bank_statements::open_invoices(db, STATEMENT_CURRENCY.code()).await?;
        let mut candidates = Vec::with_capacity(invoices.len());
        for i in &invoices {
            let cap = withholding_tax(i.total - i.vat_amount, settings.withholding_tax_rate_bps)
                .map_err(|e| Error::Internal(e.to_string()))?;
            candidates.push(Candidate {
                number: i.number.clone().unwrap_or_default(),
                tax_id: i.customer_tax_id.clone(),
                names: std::iter::once(i.customer_name.clone())
                    .chain(i.customer_legal_name.clone())
                    .collect(),
                amount_due: i.amount_due,
                withholding_left: (cap - i.withholding_tax).max(0),
            });
        }
        Ok(Suggester {
            matcher: Matcher::new(&candidates),
            invoices,
        })
    }

    /// Suggestions for one line: none unless it is unmatched money received.
    pub fn suggest(&self, line: &BankLine) -> Vec<SuggestedInvoice> {
        if line.status != "unmatched" || line.currency != STATEMENT_CURRENCY.code() {
            return Vec::new();
        }
        self.matcher
            .suggest(line.amount, &line.description)
            .into_iter()
            .map(|s| SuggestedInvoice {
                invoice: self.invoices[s.candidate].clone(),
                amount_match: s.amount_match.as_str(),
                withholding_tax: s.withholding_tax,
                score: s.score,
                reasons: s.reasons,
            })
            .collect()
    }
}

/// A match as the API accepted it.
#[derive(Debug, Clone)]
pub struct MatchInput {
    pub invoice_id: Uuid,
    /// Withheld amount (> 0) and the 50 ทวิ certificate number, when already known.
    pub withholding: Option<(i64, Option<String>)>,
}

/// The start of `day` in Bangkok, as an instant.
fn bangkok_midnight(day: NaiveDate) -> DateTime<Utc> {
    let local = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    Utc.from_utc_datetime(&local) - chrono::Duration::seconds(i64::from(BANGKOK_UTC_OFFSET_SECONDS))
}

/// Applies a line to an invoice: a `bank_transfer` payment of the line's amount (plus the
/// withholding tax given), the line `matched`, `bank_statement_line.matched`. 404 for a line
/// not on the statement, 409 for a line not unmatched or an invoice not open, 422 for money
/// paid out, an unknown invoice or another currency.
pub async fn match_line(
    tx: &mut Tx,
    actor: &Actor,
    statement_id: Uuid,
    line: LineRef,
    input: MatchInput,
    settings: &BillingSettings,
    now: DateTime<Utc>,
) -> Result<(BankLine, Invoice, Payment)> {
    let before = bank_statements::line_in(tx, statement_id, line)
        .await?
        .ok_or(Error::NotFound)?;
    if before.status != "unmatched" {
        return Err(Error::InvalidState(format!(
            "this line is already {}; a line is applied once",
            before.status
        )));
    }
    if before.amount <= 0 {
        return Err(Error::Invalid {
            field: "line",
            message: "is money paid out; only money received pays an invoice".into(),
        });
    }
    let inv = invoices::lock(tx, input.invoice_id, Scope::All)
        .await?
        .ok_or_else(|| Error::Invalid {
            field: "invoice_id",
            message: "no such invoice".into(),
        })?;
    if inv.currency.code() != before.currency {
        return Err(Error::Invalid {
            field: "invoice_id",
            message: format!(
                "the invoice is in {}; the statement is in {}",
                inv.currency.code(),
                before.currency
            ),
        });
    }
    if inv.status == InvoiceStatus::Draft {
        return Err(Error::InvalidState(
            "the invoice is a draft; finalise it first".into(),
        ));
    }
    let paid_at = bangkok_midnight(before.booked_on).min(now);
    let withheld = input.withholding.as_ref().map_or(0, |(a, _)| *a);
    let (inv, payment) = record_payment(
        tx,
        actor,
        &inv,
        PaymentInput {
            amount: before.amount,
            method: "bank_transfer".into(),
            reference: Some(format!("bank_statement_line:{}", before.id)),
            paid_at,
            withholding: input.withholding,
        },
        settings,
        now,
    )
    .await?;
    let after = bank_statements::mark_matched(
        tx,
        before.id,
        LineMatch {
            invoice_id: inv.id,
            customer_id: inv.customer_id,
            payment_id: payment.id,
            withholding_tax: withheld,
        },
        now,
    )
    .await?
    .ok_or_else(|| Error::InvalidState("this line was applied meanwhile".into()))?;
    announce(
        tx,
        actor,
        "bank_statement_line.matched",
        "bank_statement_line",
        after.id,
        Some(inv.customer_id),
        Some(line_json(&before)),
        line_json(&after),
        now,
    )
    .await?;
    Ok((after, inv, payment))
}

/// Marks an unmatched line `ignored` (not a customer's payment), or an ignored one `unmatched`
/// again; anything else is a 409.
pub async fn set_line_ignored(
    tx: &mut Tx,
    actor: &Actor,
    statement_id: Uuid,
    line: LineRef,
    ignored: bool,
    now: DateTime<Utc>,
) -> Result<BankLine> {
    let before = bank_statements::line_in(tx, statement_id, line)
        .await?
        .ok_or(Error::NotFound)?;
    let (from, to, action) = if ignored {
        ("unmatched", "ignored", "bank_statement_line.ignored")
    } else {
        ("ignored", "unmatched", "bank_statement_line.reopened")
    };
    let after = bank_statements::set_status(tx, before.id, from, to, now)
        .await?
        .ok_or_else(|| {
            Error::InvalidState(format!(
                "only an {from} line can become {to}; this one is {}",
                before.status
            ))
        })?;
    announce(
        tx,
        actor,
        action,
        "bank_statement_line",
        after.id,
        None,
        Some(line_json(&before)),
        line_json(&after),
        now,
    )
    .await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_booking_day_is_paid_at_bangkok_midnight() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        assert_eq!(
            bangkok_midnight(day).to_rfc3339(),
            "2026-12-06T17:00:00+00:00"
        );
    }

    #[test]
    fn fingerprints_are_stable_hex() {
        assert_eq!(fingerprint("a").len(), 64);
        assert_eq!(fingerprint("a"), fingerprint("a"));
        assert_ne!(fingerprint("a"), fingerprint("b"));
    }
}
