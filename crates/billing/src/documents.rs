//! The printed invoice's input: the stored invoice, its lines and its snapshots mapped onto the
//! plain [`InvoiceDocument`] that `satang_documents` renders. Shared by the API's PDF and
//! PromptPay routes and the e-mail worker's "invoice issued" attachment.
//!
//! The document prints what was **snapshotted at issue** (seller and buyer), so a later change
//! of address never rewrites an issued tax invoice. The PromptPay id is the one in the
//! **current** settings: the QR says where to pay now, it is not part of the tax record.

use chrono::NaiveDate;
use serde_json::Value;

use satang_documents::{Buyer, DocumentStatus, InvoiceDocument, Line, Seller};
use satang_domain::{InvoiceStatus, TaxPoint, bangkok_date};
use satang_store::invoices::{Invoice, InvoiceLine};

use crate::{Error, Result};

/// The document of an issued invoice. A draft is [`Error::InvalidState`]: it has no number, no
/// snapshots and totals that change at finalisation, and a Thai tax invoice must carry its
/// number.
pub fn invoice_document(
    inv: &Invoice,
    lines: &[InvoiceLine],
    promptpay_id: Option<String>,
) -> Result<InvoiceDocument> {
    let status = match inv.status {
        InvoiceStatus::Open => DocumentStatus::Open,
        InvoiceStatus::Paid => DocumentStatus::Paid,
        InvoiceStatus::Void => DocumentStatus::Void,
        InvoiceStatus::Uncollectible => DocumentStatus::Uncollectible,
        InvoiceStatus::Draft => {
            return Err(Error::InvalidState(
                "a draft invoice has no number yet: finalise it first".into(),
            ));
        }
    };
    let (Some(number), Some(issued_at)) = (inv.number.clone(), inv.issued_at) else {
        return Err(Error::Internal(format!(
            "issued invoice {} has no number",
            inv.id
        )));
    };
    let currency = inv.currency;
    let seller = inv
        .seller_snapshot
        .as_ref()
        .map(|j| &j.0)
        .unwrap_or(&Value::Null);
    let buyer = inv
        .customer_snapshot
        .as_ref()
        .map(|j| &j.0)
        .unwrap_or(&Value::Null);
    Ok(InvoiceDocument {
        seller: Seller {
            name_th: text(&seller["company_name"]["th"]).unwrap_or_default(),
            name_en: text(&seller["company_name"]["en"]).unwrap_or_default(),
            tax_id: text(&seller["tax_id"]),
            branch_code: text(&seller["branch_code"]),
            address: address_lines(&seller["address"]),
            phone: text(&seller["phone"]),
            email: text(&seller["email"]),
            promptpay_id,
        },
        buyer: Buyer {
            name: text(&buyer["name"]).unwrap_or_default(),
            legal_name: text(&buyer["legal_name"]),
            tax_id: text(&buyer["tax_id"]),
            branch_code: text(&buyer["branch_code"]),
            address: address_lines(&buyer["address"]),
        },
        number,
        status,
        tax_invoice: is_tax_invoice(seller),
        title: None,
        issue_date: bangkok_date(issued_at),
        due_date: inv.due_date,
        paid_date: inv.paid_at.map(bangkok_date),
        currency,
        lines: lines.iter().map(line).collect(),
        subtotal: inv.subtotal,
        discount: inv.discount,
        discount_codes: inv
            .discounts
            .iter()
            .flat_map(|d| d.0.iter().map(|d| d.coupon_code.clone()))
            .collect(),
        vat_rate_bps: inv.vat_rate_bps,
        vat_amount: inv.vat_amount,
        total: inv.total,
        credit_applied: inv.credit_applied,
        amount_credited: inv.amount_credited,
        withholding_tax: inv.withholding_tax,
        withholding_certificates: Vec::new(),
        amount_paid: inv.amount_paid,
        amount_due: inv.amount_due,
    })
}

/// Whether the invoice was issued as the tax invoice: its seller snapshot records the tax point
/// in force at issue. Invoices issued before the setting existed were tax invoices.
fn is_tax_invoice(seller: &Value) -> bool {
    match seller.get("tax_point").and_then(Value::as_str) {
        Some(point) => point == TaxPoint::Issue.as_str(),
        None => true,
    }
}

fn line(l: &InvoiceLine) -> Line {
    let period: Option<(NaiveDate, NaiveDate)> = l.period_start.zip(l.period_end);
    Line {
        description: l.description.clone(),
        period,
        quantity: l.quantity,
        unit_amount: l.unit_amount,
        amount: l.amount,
    }
}

/// A non-empty string from a snapshot field.
fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A snapshotted address in the order a Thai address is written: street lines, then
/// subdistrict, district, province and postal code on one line; the country only when it is
/// not Thailand.
fn address_lines(v: &Value) -> Vec<String> {
    let field = |k: &str| text(&v[k]);
    let locality: Vec<String> = ["subdistrict", "district", "province", "postal_code"]
        .into_iter()
        .filter_map(field)
        .collect();
    let country = field("country").filter(|c| !c.eq_ignore_ascii_case("TH"));
    [
        field("line1"),
        field("line2"),
        Some(locality.join(" ")),
        country,
    ]
    .into_iter()
    .flatten()
    .filter(|l| !l.is_empty())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_read_in_thai_order() {
        let a = json!({"line1": "99/1 ถนนพหลโยธิน", "line2": null, "subdistrict": "สามเสนใน",
            "district": "พญาไท", "province": "กรุงเทพมหานคร", "postal_code": "10400", "country": "TH"});
        assert_eq!(
            address_lines(&a),
            vec!["99/1 ถนนพหลโยธิน", "สามเสนใน พญาไท กรุงเทพมหานคร 10400"]
        );
        assert!(address_lines(&Value::Null).is_empty());
    }
}
