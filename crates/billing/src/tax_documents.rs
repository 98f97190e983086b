//! Tax documents (SPEC §4.1): which document an event issues, with what figures, and their
//! e-Tax XML (§4.2).
//!
//! Decisions:
//! - **In the event's transaction**: the document row (type, number, figures, snapshots) is
//!   written by the payment, the finalisation or the credit note that issues it, in its
//!   transaction, so a document exists exactly when its event committed. A receipt's number is
//!   the next of its gapless series taken in that transaction (the counter row stays locked until
//!   the commit, so concurrent payments queue on both databases and a rollback returns it). That
//!   costs one upsert and one insert per payment. The XML is not rendered there: it is a pure
//!   function of the row and of its invoice's (immutable) lines and snapshots, rendered when
//!   asked; `xml` holds the signed form once a signer stores it.
//! - **The tax point** is the invoice's own: the one recorded in its seller snapshot at issue, so
//!   a later change of the setting does not turn its receipts into another kind of document.
//!   Invoices issued before the setting existed were tax invoices (`issue`).
//! - **VAT of a payment** is [`payment_vat`] over the invoice's total and VAT, the earlier
//!   receipts' figures as "before": the receipts of one invoice add up to its VAT exactly once it
//!   is settled. Money beyond the amount due (to the credit balance) is not part of a receipt.
//! - **Credit notes** correct the invoice's tax invoice (tax point `issue`) or its latest receipt
//!   / tax invoice (tax point `payment`). A credit note on an invoice no tax document covers yet
//!   (nothing paid under tax point `payment`) issues none: no VAT has fallen due to reverse.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use satang_documents::{
    EtaxAddress, EtaxDocument, EtaxLine, EtaxParty, EtaxReference, EtaxSigner, render_etax_xml,
};
use satang_domain::tax_document::payment_vat;
use satang_domain::{TaxDocumentType, TaxPoint, bangkok_date};
use satang_store::credit_notes::CreditNote;
use satang_store::invoices::{self, Invoice};
use satang_store::tax_documents::{self, NewTaxDocument, Numbering, TaxDocument};
use satang_store::{Db, Scope, Tx, payments};

use crate::{BillingSettings, Error, Result};

/// The tax point an issued invoice was issued under.
pub fn invoice_tax_point(inv: &Invoice) -> TaxPoint {
    match inv
        .seller_snapshot
        .as_ref()
        .and_then(|s| s.0.get("tax_point"))
        .and_then(Value::as_str)
    {
        Some("payment") => TaxPoint::Payment,
        _ => TaxPoint::Issue,
    }
}

fn snapshots(inv: &Invoice) -> (Value, Value) {
    (
        inv.customer_snapshot
            .as_ref()
            .map_or(Value::Null, |j| j.0.clone()),
        inv.seller_snapshot
            .as_ref()
            .map_or(Value::Null, |j| j.0.clone()),
    )
}

/// The documents a finalisation issues (the invoice as finalised): under tax point `issue` the
/// invoice itself is the tax invoice (388, its own number); what the credit balance or prepaid
/// credit settled at issue is paid at issue and gets its receipt like a payment.
pub async fn issue_for_finalised_invoice(
    tx: &mut Tx,
    inv: &Invoice,
    settings: &BillingSettings,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(number) = inv.number.clone() else {
        return Ok(());
    };
    let (customer, seller) = snapshots(inv);
    if invoice_tax_point(inv) == TaxPoint::Issue {
        let t = TaxDocumentType::TaxInvoice;
        tax_documents::insert(
            tx,
            NewTaxDocument {
                doc_type: t.as_str(),
                type_code: t.type_code(),
                numbering: Numbering::Given(number),
                customer_id: inv.customer_id,
                invoice_id: inv.id,
                payment_id: None,
                credit_note_id: None,
                references_id: None,
                reason: None,
                currency: inv.currency,
                customer_snapshot: customer,
                seller_snapshot: seller,
                vat_rate_bps: inv.vat_rate_bps,
                base_amount: inv.total - inv.vat_amount,
                vat_amount: inv.vat_amount,
                total: inv.total,
            },
            now,
        )
        .await?;
    }
    let settled_at_issue = inv.total - inv.amount_due;
    if settled_at_issue > 0 {
        issue_for_payment(tx, inv, None, settled_at_issue, settings, now).await?;
    }
    Ok(())
}

/// Makes the finalisation documents of an invoice the billing run queued, if it is still queued
/// (the invoice is locked by the caller): the worker, a payment and a credit note all come here,
/// and whichever takes the queue row first makes them.
pub async fn ensure_finalisation_documents(
    tx: &mut Tx,
    inv: &Invoice,
    settings: &BillingSettings,
    now: DateTime<Utc>,
) -> Result<()> {
    if tax_documents::dequeue(tx, inv.id).await? {
        issue_for_finalised_invoice(tx, inv, settings, now).await?;
    }
    Ok(())
}

/// The worker's pass (after a billing run): makes the documents of up to `limit` queued
/// invoices, one transaction each; returns how many invoices it took.
pub async fn issue_queued(db: &Db, now: DateTime<Utc>, limit: i64) -> Result<usize> {
    let ids = tax_documents::queued(db, limit).await?;
    let mut done = 0;
    for id in ids {
        let mut tx = db.begin().await?;
        let Some(inv) = invoices::lock(&mut tx, id, Scope::All).await? else {
            continue;
        };
        // The customer before the counter row, the order every issuing path takes.
        satang_store::customers::get_in(&mut tx, inv.customer_id).await?;
        let settings = BillingSettings::load_in(&mut tx).await?;
        ensure_finalisation_documents(&mut tx, &inv, &settings, now).await?;
        tx.commit().await?;
        done += 1;
    }
    Ok(done)
}

/// The receipt (T01) or receipt / tax invoice (T03) for `settled` (money applied to the invoice
/// plus withholding tax) of a payment against `inv` (as it was before the payment).
pub async fn issue_for_payment(
    tx: &mut Tx,
    inv: &Invoice,
    payment_id: Option<Uuid>,
    settled: i64,
    settings: &BillingSettings,
    now: DateTime<Utc>,
) -> Result<Option<TaxDocument>> {
    if settled <= 0 {
        return Ok(None);
    }
    let t = invoice_tax_point(inv).payment_document();
    let earlier = tax_documents::for_invoice_in(tx, inv.id).await?;
    let (paid_before, vat_before) = earlier
        .iter()
        .filter(|d| d.doc_type == t.as_str())
        .fold((0, 0), |(p, v), d| (p + d.total, v + d.vat_amount));
    let vat = payment_vat(inv.total, inv.vat_amount, paid_before, vat_before, settled)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let (customer, seller) = snapshots(inv);
    let doc = tax_documents::insert(
        tx,
        NewTaxDocument {
            doc_type: t.as_str(),
            type_code: t.type_code(),
            numbering: Numbering::Series {
                prefix: settings.receipt_prefix.clone(),
                year: bangkok_date(now).year(),
            },
            customer_id: inv.customer_id,
            invoice_id: inv.id,
            payment_id,
            credit_note_id: None,
            references_id: None,
            reason: None,
            currency: inv.currency,
            customer_snapshot: customer,
            seller_snapshot: seller,
            vat_rate_bps: inv.vat_rate_bps,
            base_amount: settled - vat,
            vat_amount: vat,
            total: settled,
        },
        now,
    )
    .await?;
    Ok(Some(doc))
}

/// The credit note's tax document (81), naming the document it corrects.
pub async fn issue_for_credit_note(
    tx: &mut Tx,
    inv: &Invoice,
    note: &CreditNote,
    now: DateTime<Utc>,
) -> Result<Option<TaxDocument>> {
    let corrected_type = match invoice_tax_point(inv) {
        TaxPoint::Issue => TaxDocumentType::TaxInvoice,
        TaxPoint::Payment => TaxDocumentType::ReceiptTaxInvoice,
    };
    let earlier = tax_documents::for_invoice_in(tx, inv.id).await?;
    let Some(corrected) = earlier
        .iter()
        .rev()
        .find(|d| d.doc_type == corrected_type.as_str())
    else {
        return Ok(None);
    };
    let (customer, seller) = snapshots(inv);
    let t = TaxDocumentType::CreditNote;
    let doc = tax_documents::insert(
        tx,
        NewTaxDocument {
            doc_type: t.as_str(),
            type_code: t.type_code(),
            numbering: Numbering::Given(note.number.clone()),
            customer_id: inv.customer_id,
            invoice_id: inv.id,
            payment_id: None,
            credit_note_id: Some(note.id),
            references_id: Some(corrected.id),
            reason: note.reason.clone(),
            currency: inv.currency,
            customer_snapshot: customer,
            seller_snapshot: seller,
            vat_rate_bps: inv.vat_rate_bps,
            base_amount: note.total - note.vat_amount,
            vat_amount: note.vat_amount,
            total: note.total,
        },
        now,
    )
    .await?;
    Ok(Some(doc))
}

/// A page of the documents the scope reaches.
pub async fn list(
    db: &Db,
    filter: &tax_documents::Filter,
    scope: Scope,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TaxDocument>> {
    Ok(tax_documents::list(db, filter, scope, after, limit).await?)
}

/// One document the scope reaches, or [`Error::NotFound`].
pub async fn get(db: &Db, id: Uuid, scope: Scope) -> Result<TaxDocument> {
    tax_documents::get(db, id, scope)
        .await?
        .ok_or(Error::NotFound)
}

/// The document's e-Tax XML. The signed form when one was stored. Otherwise, with the seller's
/// certificate configured (`signer`), the message is rendered, signed (XAdES-BES, signing time
/// `now`) and stored once, so every later answer is the same signed bytes and the row reads
/// `signed: true`; without one, the unsigned message rendered from the row and its invoice's
/// lines, each time.
pub async fn etax_xml(
    db: &Db,
    doc: &TaxDocument,
    signer: Option<&EtaxSigner>,
    now: DateTime<Utc>,
) -> Result<Vec<u8>> {
    if let Some(xml) = &doc.xml {
        return Ok(xml.clone().into_bytes());
    }
    let unsigned = unsigned_etax_xml(db, doc).await?;
    let Some(signer) = signer else {
        return Ok(unsigned);
    };
    let signed = signer
        .sign(&unsigned, &doc.id.simple().to_string(), now)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let signed = String::from_utf8(signed).map_err(|e| Error::Internal(e.to_string()))?;
    if tax_documents::store_signed_xml(db, doc.id, &signed).await? {
        return Ok(signed.into_bytes());
    }
    // Another request signed it first: answer the stored form.
    tax_documents::get_any(db, doc.id)
        .await?
        .and_then(|d| d.xml)
        .map(String::into_bytes)
        .ok_or(Error::NotFound)
}

/// How long a signing worker's claim on a batch lasts: far longer than a batch takes, short
/// enough that the rows of a worker that died are signed by another soon after.
const SIGN_CLAIM: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// What one signing pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignPass {
    /// Documents claimed (at most the batch size: fewer means nothing is left to claim).
    pub claimed: usize,
    /// Signed XMLs stored (a claimed document a request signed meanwhile is not stored again).
    pub stored: u64,
    /// Documents whose message could not be rendered or signed; claimed again once the claim
    /// runs out.
    pub failed: usize,
}

/// The signing worker's pass (SPEC §4.2), after [`issue_queued`] when a signer is configured:
/// claims up to `limit` documents without a signed XML ([`tax_documents::claim_unsigned`], one
/// short transaction), renders their messages, signs them on the blocking threads (one chunk
/// per core, signing time `now`) outside any transaction, and stores them in one short
/// transaction that never overwrites a stored XML, so the first signed form of a document is
/// the only one (the request path [`etax_xml`] stays the fallback for a document not signed
/// yet). The PDF/A-3 is not stored: it is rendered on request around these stored bytes.
pub async fn sign_unsigned(
    db: &Db,
    signer: &std::sync::Arc<EtaxSigner>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<SignPass> {
    let docs = tax_documents::claim_unsigned(db, now, now + SIGN_CLAIM, limit).await?;
    let mut pass = SignPass {
        claimed: docs.len(),
        ..SignPass::default()
    };
    let mut unsigned = Vec::with_capacity(docs.len());
    for doc in &docs {
        match unsigned_etax_xml(db, doc).await {
            Ok(xml) => unsigned.push((doc.id, xml)),
            Err(e) => {
                tracing::error!(id = %doc.id, error = %e, "e-Tax XML not rendered");
                pass.failed += 1;
            }
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = unsigned.len().div_ceil(cores).max(1);
    let mut tasks = Vec::new();
    while !unsigned.is_empty() {
        let rest = unsigned.split_off(chunk.min(unsigned.len()));
        let part = std::mem::replace(&mut unsigned, rest);
        let signer = signer.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            part.into_iter()
                .map(|(id, xml)| {
                    let signed = signer
                        .sign(&xml, &id.simple().to_string(), now)
                        .map_err(|e| e.to_string())
                        .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()));
                    (id, signed)
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut signed = Vec::with_capacity(pass.claimed);
    for task in tasks {
        let part = task
            .await
            .map_err(|e| Error::Internal(format!("signing panicked: {e}")))?;
        for (id, result) in part {
            match result {
                Ok(xml) => signed.push((id, xml)),
                Err(e) => {
                    tracing::error!(%id, error = %e, "e-Tax XML not signed");
                    pass.failed += 1;
                }
            }
        }
    }
    pass.stored = tax_documents::store_signed_xmls(db, &signed).await?;
    Ok(pass)
}

/// The unsigned message rendered from the row, its invoice's lines (a tax invoice) or its credit
/// note's lines.
async fn unsigned_etax_xml(db: &Db, doc: &TaxDocument) -> Result<Vec<u8>> {
    let t = TaxDocumentType::parse(&doc.doc_type)
        .ok_or_else(|| Error::Internal(format!("unknown tax document type {}", doc.doc_type)))?;
    let base = doc.base_amount;
    let vat = doc.vat_amount;
    let mut lines: Vec<(String, i64, i64, i64)> = Vec::new();
    let mut allowance = 0;
    let mut reference = None;
    let mut purpose_code = None;
    let mut purpose = None;
    match t {
        TaxDocumentType::TaxInvoice => {
            let inv_lines = invoices::lines_of(db, &[doc.invoice_id]).await?;
            let inv = invoices::find(db, doc.invoice_id, Scope::All)
                .await?
                .ok_or(Error::NotFound)?;
            let sum: i64 = inv_lines.iter().map(|l| l.amount).sum();
            // Lines priced before VAT are listed as they are; otherwise (VAT-inclusive prices,
            // promotional credit) one line carries the value before VAT.
            if !inv.prices_include_vat && sum - inv.discount == base {
                allowance = inv.discount;
                lines = inv_lines
                    .iter()
                    .map(|l| (l.description.clone(), l.quantity, l.unit_amount, l.amount))
                    .collect();
            }
        }
        TaxDocumentType::CreditNote => {
            let corrected = match doc.references_id {
                Some(id) => tax_documents::get_any(db, id).await?,
                None => None,
            }
            .ok_or_else(|| Error::Internal(format!("credit note {} corrects nothing", doc.id)))?;
            reference = Some(EtaxReference {
                number: corrected.number.clone(),
                issued_at: bangkok_time(corrected.issued_at),
                type_code: corrected.type_code.clone(),
                base_amount: corrected.base_amount,
            });
            // CDNS99: another reason, about services (named in `purpose`).
            purpose_code = Some("CDNS99".to_owned());
            purpose = Some(
                doc.reason
                    .clone()
                    .filter(|r| !r.trim().is_empty())
                    .unwrap_or_else(|| "ลดหนี้ตามใบลดหนี้".to_owned()),
            );
        }
        TaxDocumentType::ReceiptTaxInvoice | TaxDocumentType::Receipt => {}
    }
    if lines.is_empty() {
        let inv = invoices::find(db, doc.invoice_id, Scope::All)
            .await?
            .ok_or(Error::NotFound)?;
        let name = format!(
            "ชำระตามใบแจ้งหนี้ {} / Payment of invoice {}",
            inv.number.clone().unwrap_or_default(),
            inv.number.unwrap_or_default()
        );
        lines.push((name, 1, base, base));
    }
    let line_total: i64 = lines.iter().map(|l| l.3).sum();
    let net_total = line_total - allowance;
    let mut etax_lines = Vec::with_capacity(lines.len());
    let (mut net_before, mut vat_before) = (0, 0);
    for (name, quantity, unit_amount, net) in lines {
        // Each line's share of the document's VAT, running total half-up (sums exactly).
        let line_vat = payment_vat(net_total, vat, net_before, vat_before, net)
            .map_err(|e| Error::Internal(e.to_string()))?;
        net_before += net;
        vat_before += line_vat;
        etax_lines.push(EtaxLine {
            name,
            quantity,
            unit_amount,
            net_amount: net,
            vat_amount: line_vat,
        });
    }
    let (th, _) = t.title();
    let name = match t {
        TaxDocumentType::Receipt => "ใบรับ".to_owned(),
        TaxDocumentType::TaxInvoice => "ใบกำกับภาษี".to_owned(),
        _ => th.to_owned(),
    };
    let seller = &doc.seller_snapshot.0;
    let buyer = &doc.customer_snapshot.0;
    let xml = render_etax_xml(&EtaxDocument {
        type_code: doc.type_code.clone(),
        name,
        number: doc.number.clone(),
        issued_at: bangkok_time(doc.issued_at),
        purpose_code,
        purpose,
        seller: party(
            text(&seller["company_name"]["th"])
                .or_else(|| text(&seller["company_name"]["en"]))
                .unwrap_or_default(),
            seller,
        ),
        buyer: party(
            text(&buyer["legal_name"])
                .or_else(|| text(&buyer["name"]))
                .unwrap_or_default(),
            buyer,
        ),
        reference,
        currency: doc.currency.code().to_owned(),
        vat_rate_bps: doc.vat_rate_bps,
        lines: etax_lines,
        line_total,
        allowance,
        base_amount: base,
        vat_amount: vat,
        total: doc.total,
    })
    .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(xml)
}

/// The document's JSON for events and audit entries.
pub fn tax_document_json(d: &TaxDocument) -> Value {
    json!({
        "id": d.id, "type": d.doc_type, "type_code": d.type_code, "number": d.number,
        "invoice_id": d.invoice_id, "payment_id": d.payment_id, "credit_note_id": d.credit_note_id,
        "base_amount": d.base_amount, "vat_amount": d.vat_amount, "total": d.total,
    })
}

fn bangkok_time(at: DateTime<Utc>) -> NaiveDateTime {
    match FixedOffset::east_opt(7 * 3600) {
        Some(bkk) => at.with_timezone(&bkk).naive_local(),
        None => at.naive_utc(),
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A snapshot as an e-Tax party: a Thai address needs its 5-digit postcode to be valid, so one
/// without is left out rather than written invalid.
fn party(name: String, v: &Value) -> EtaxParty {
    let a = &v["address"];
    let country = text(&a["country"]).unwrap_or_else(|| "TH".to_owned());
    let postcode =
        text(&a["postal_code"]).filter(|p| p.len() == 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let locality: Vec<String> = ["line2", "subdistrict", "district", "province"]
        .into_iter()
        .filter_map(|k| text(&a[k]))
        .collect();
    let address = text(&a["line1"])
        .filter(|_| country != "TH" || postcode.is_some())
        .map(|line_one| EtaxAddress {
            line_two: (!locality.is_empty()).then(|| locality.join(" ")),
            building_number: line_one
                .split_whitespace()
                .next()
                .map(|n| n.chars().take(16).collect()),
            line_one,
            postcode,
            country,
            subdistrict_code: text(&v["etax_subdistrict_code"]),
        });
    EtaxParty {
        name,
        tax_id: text(&v["tax_id"]),
        branch_code: text(&v["branch_code"]),
        address,
    }
}

/// The printed tax document: its invoice's document with the document's title, number, date and
/// figures. A tax invoice prints its invoice's lines; a receipt or credit note one line with the
/// value before VAT it carries (the same figures as its JSON and XML).
pub async fn pdf_document(db: &Db, doc: &TaxDocument) -> Result<satang_documents::InvoiceDocument> {
    let inv = invoices::find(db, doc.invoice_id, Scope::All)
        .await?
        .ok_or(Error::NotFound)?;
    let lines = invoices::lines_of(db, &[inv.id]).await?;
    let mut d = crate::documents::invoice_document(&inv, &lines, None)?;
    let t = TaxDocumentType::parse(&doc.doc_type)
        .ok_or_else(|| Error::Internal(format!("unknown tax document type {}", doc.doc_type)))?;
    let (th, en) = t.title();
    d.title = Some((th.to_owned(), en.to_owned()));
    d.number = doc.number.clone();
    d.issue_date = bangkok_date(doc.issued_at);
    d.due_date = None;
    if t != TaxDocumentType::TaxInvoice {
        let base = doc.base_amount;
        let description = match t {
            TaxDocumentType::CreditNote => format!(
                "ลดหนี้ตามใบแจ้งหนี้ {} / Credit on invoice {}{}",
                inv.number.clone().unwrap_or_default(),
                inv.number.clone().unwrap_or_default(),
                doc.reason
                    .as_ref()
                    .map(|r| format!(" — {r}"))
                    .unwrap_or_default()
            ),
            _ => format!(
                "ชำระตามใบแจ้งหนี้ {} / Payment of invoice {}",
                inv.number.clone().unwrap_or_default(),
                inv.number.clone().unwrap_or_default()
            ),
        };
        d.lines = vec![satang_documents::Line {
            description,
            period: None,
            quantity: 1,
            unit_amount: base,
            amount: base,
        }];
        d.subtotal = base;
        d.discount = 0;
        d.discount_codes = Vec::new();
        d.vat_amount = doc.vat_amount;
        d.total = doc.total;
        d.credit_applied = 0;
        d.amount_credited = 0;
        d.withholding_tax = 0;
        d.amount_paid = if t == TaxDocumentType::CreditNote {
            0
        } else {
            doc.total
        };
        d.amount_due = 0;
        d.status = satang_documents::DocumentStatus::Paid;
        d.paid_date = (t != TaxDocumentType::CreditNote).then(|| bangkok_date(doc.issued_at));
        d.tax_invoice = t == TaxDocumentType::ReceiptTaxInvoice;
        // A receipt covers the money and the tax withheld from it: it shows the withholding,
        // and the certificate's number once it has arrived (`PATCH /api/payments/{id}`).
        if t != TaxDocumentType::CreditNote
            && let Some(payment_id) = doc.payment_id
            && let Some(p) = payments::find(db, payment_id, Scope::All).await?
            && p.withholding_tax > 0
            && p.withholding_tax <= doc.total
        {
            d.withholding_tax = p.withholding_tax;
            d.amount_paid = doc.total - p.withholding_tax;
            d.withholding_certificates = p
                .withholding_certificate_no
                .filter(|c| !c.trim().is_empty())
                .into_iter()
                .collect();
        }
    }
    Ok(d)
}
