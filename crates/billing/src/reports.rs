//! Reports for the accountant and the Revenue Department (SPEC §4.3): the output-VAT report
//! (รายงานภาษีขาย) of a month and the withholding certificates (50 ทวิ) received in a year, with
//! their CSV and XLSX forms ([`crate::spreadsheet`]: a UTF-8 CSV with a byte order mark, money
//! in baht with two decimals) and their printed forms (PDF, drawn by `satang_documents::report`
//! under the seller of the current settings).
//!
//! Periods are Bangkok calendar months and years. The totals are the sums of the rows, which are
//! the documents' own figures (credit notes negative), so the report adds up to the documents.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde_json::Value;
use uuid::Uuid;

use satang_documents::{
    OutputVatDocument, OutputVatLine, ReportSeller, WithholdingLine, WithholdingReportDocument,
};
use satang_domain::Money;
use satang_store::{Db, payments, tax_documents};

use crate::Result;
use crate::settings::SellerProfile;
use crate::spreadsheet::{self, Cell};

/// The document types that carry output VAT: a plain receipt (T01, tax point `issue`) follows a
/// tax invoice that already reported it.
const VAT_TYPES: [&str; 3] = ["tax_invoice", "receipt_tax_invoice", "credit_note"];

/// `YYYY-MM` → the month's first day, or `None`.
pub fn parse_month(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    let (y, m) = raw.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
}

/// `YYYY` → its 1 January, or `None`.
pub fn parse_year(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    if raw.len() != 4 {
        return None;
    }
    NaiveDate::from_ymd_opt(raw.parse().ok()?, 1, 1)
}

fn bangkok() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("UTC+7 is a valid offset")
}

/// A Bangkok date's midnight as an instant.
pub fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(chrono::NaiveTime::MIN)
        .and_local_timezone(bangkok())
        .single()
        .expect("a fixed offset maps every local time once")
        .with_timezone(&Utc)
}

fn bangkok_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&bangkok()).date_naive()
}

/// One line of the output-VAT report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputVatRow {
    /// ลำดับ, from 1.
    pub seq: usize,
    pub date: NaiveDate,
    pub number: String,
    pub doc_type: String,
    pub tax_document_id: Uuid,
    pub buyer_name: String,
    pub buyer_tax_id: Option<String>,
    /// `สำนักงานใหญ่`, `สาขาที่ 00001`, or empty when the buyer gave no branch.
    pub branch: String,
    /// Value before VAT, negative for a credit note.
    pub base_amount: i64,
    pub vat_amount: i64,
    pub total: i64,
}

#[derive(Debug, Clone)]
pub struct OutputVatReport {
    /// `YYYY-MM`.
    pub month: String,
    /// Who files it, for the printed form's header.
    pub seller: ReportSeller,
    pub rows: Vec<OutputVatRow>,
    pub total_base: i64,
    pub total_vat: i64,
    pub total: i64,
}

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// How the report names a buyer's establishment.
pub fn branch_label(code: Option<&str>) -> String {
    match code.map(str::trim).filter(|c| !c.is_empty()) {
        None => String::new(),
        Some(c) if c.chars().all(|ch| ch == '0') => "สำนักงานใหญ่".to_owned(),
        Some(c) => format!("สาขาที่ {c}"),
    }
}

/// Who files the reports, as the forms' header names them: the Thai company name of the
/// current settings (the English one when no Thai name is set), the tax id and the head office
/// or branch (the head office when no branch is set).
async fn filer(db: &Db) -> Result<ReportSeller> {
    let profile = SellerProfile::load(db).await?;
    let name = [profile.company_name.th, profile.company_name.en]
        .into_iter()
        .map(|n| n.trim().to_owned())
        .find(|n| !n.is_empty())
        .unwrap_or_default();
    Ok(ReportSeller {
        name,
        tax_id: profile.tax_id,
        establishment: branch_label(Some(profile.branch_code.as_deref().unwrap_or("00000"))),
    })
}

/// The output-VAT report of the Bangkok month starting `month` (its first day).
pub async fn output_vat(db: &Db, month: NaiveDate) -> Result<OutputVatReport> {
    let next = month
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| crate::Error::Internal("month out of range".into()))?;
    let docs =
        tax_documents::vat_lines_between(db, midnight(month), midnight(next), &VAT_TYPES).await?;
    let rows: Vec<OutputVatRow> = docs
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let sign = if d.doc_type == "credit_note" { -1 } else { 1 };
            let buyer = &d.customer_snapshot.0;
            OutputVatRow {
                seq: i + 1,
                date: bangkok_date(d.issued_at),
                number: d.number,
                doc_type: d.doc_type,
                tax_document_id: d.id,
                buyer_name: text(&buyer["legal_name"])
                    .or_else(|| text(&buyer["name"]))
                    .unwrap_or_default(),
                buyer_tax_id: text(&buyer["tax_id"]),
                branch: branch_label(text(&buyer["branch_code"]).as_deref()),
                base_amount: sign * d.base_amount,
                vat_amount: sign * d.vat_amount,
                total: sign * d.total,
            }
        })
        .collect();
    Ok(OutputVatReport {
        month: month.format("%Y-%m").to_string(),
        seller: filer(db).await?,
        total_base: rows.iter().map(|r| r.base_amount).sum(),
        total_vat: rows.iter().map(|r| r.vat_amount).sum(),
        total: rows.iter().map(|r| r.total).sum(),
        rows,
    })
}

/// One certificate of the withholding report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithholdingRow {
    pub seq: usize,
    pub date: NaiveDate,
    pub payment_id: Uuid,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub customer_tax_id: Option<String>,
    pub certificate_no: Option<String>,
    /// The value before VAT the payment settled (its receipt's); `None` without a receipt.
    pub base_amount: Option<i64>,
    pub withholding_tax: i64,
}

#[derive(Debug, Clone)]
pub struct WithholdingReport {
    pub year: i32,
    /// Who received the certificates, for the printed form's header.
    pub seller: ReportSeller,
    pub rows: Vec<WithholdingRow>,
    pub total_base: i64,
    pub total_withheld: i64,
}

/// The withholding certificates received in the Bangkok year starting `year` (1 January).
pub async fn withholding_certificates(db: &Db, year: NaiveDate) -> Result<WithholdingReport> {
    let next = year
        .checked_add_months(chrono::Months::new(12))
        .ok_or_else(|| crate::Error::Internal("year out of range".into()))?;
    let found = payments::withholding_between(db, midnight(year), midnight(next)).await?;
    let rows: Vec<WithholdingRow> = found
        .into_iter()
        .enumerate()
        .map(|(i, p)| WithholdingRow {
            seq: i + 1,
            date: bangkok_date(p.paid_at),
            payment_id: p.payment_id,
            customer_id: p.customer_id,
            customer_name: p.customer_name,
            customer_tax_id: p.customer_tax_id,
            certificate_no: p.certificate_no,
            base_amount: p.base_amount,
            withholding_tax: p.withholding_tax,
        })
        .collect();
    Ok(WithholdingReport {
        year: chrono::Datelike::year(&year),
        seller: filer(db).await?,
        total_base: rows.iter().filter_map(|r| r.base_amount).sum(),
        total_withheld: rows.iter().map(|r| r.withholding_tax).sum(),
        rows,
    })
}

/// A rendering failure is ours, never the caller's.
fn rendered(pdf: std::result::Result<Vec<u8>, satang_documents::Error>) -> Result<Vec<u8>> {
    pdf.map_err(|e| crate::Error::Internal(format!("report PDF: {e}")))
}

fn baht(minor: i64) -> Cell {
    Cell::Money(Money::thb(minor))
}

impl OutputVatReport {
    pub const COLUMNS: [&'static str; 9] = [
        "ลำดับ",
        "วันที่",
        "เลขที่",
        "ชื่อผู้ซื้อ",
        "เลขประจำตัวผู้เสียภาษีของผู้ซื้อ",
        "สถานประกอบการ",
        "มูลค่าสินค้าหรือบริการ",
        "จำนวนเงินภาษีมูลค่าเพิ่ม",
        "รวม",
    ];

    /// One row per document, then the totals row.
    fn table(&self) -> Vec<Vec<Cell>> {
        let lines = self.rows.iter().map(|r| {
            vec![
                Cell::Int(r.seq as i64),
                Cell::Date(r.date),
                Cell::text(&r.number),
                Cell::text(&r.buyer_name),
                Cell::opt(r.buyer_tax_id.clone()),
                Cell::text(&r.branch),
                baht(r.base_amount),
                baht(r.vat_amount),
                baht(r.total),
            ]
        });
        let totals = std::iter::once(vec![
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::text("รวม"),
            Cell::Empty,
            Cell::Empty,
            baht(self.total_base),
            baht(self.total_vat),
            baht(self.total),
        ]);
        lines.chain(totals).collect()
    }

    /// The report as CSV: UTF-8 with a BOM, one line per document, then the totals line.
    pub fn to_csv(&self) -> String {
        spreadsheet::csv(&Self::COLUMNS, &self.table())
    }

    /// The report as XLSX: the same rows, money as numbers.
    pub fn to_xlsx(&self) -> Result<Vec<u8>> {
        spreadsheet::xlsx(
            &format!("ภาษีขาย {}", self.month),
            &Self::COLUMNS,
            &self.table(),
        )
    }

    /// The printed รายงานภาษีขาย: the form's header, one line a document, the totals.
    /// CPU work (shaping, font subsetting): run it off the async workers. Takes the report, as
    /// its rows become the form's lines without a copy.
    pub fn into_pdf(self) -> Result<Vec<u8>> {
        let month = parse_month(&self.month)
            .ok_or_else(|| crate::Error::Internal(format!("report month {}", self.month)))?;
        rendered(satang_documents::render_output_vat(&OutputVatDocument {
            seller: self.seller,
            month,
            lines: self
                .rows
                .into_iter()
                .map(|r| OutputVatLine {
                    seq: r.seq,
                    date: r.date,
                    number: r.number,
                    buyer_name: r.buyer_name,
                    buyer_tax_id: r.buyer_tax_id,
                    branch: r.branch,
                    base_amount: r.base_amount,
                    vat_amount: r.vat_amount,
                    total: r.total,
                })
                .collect(),
            total_base: self.total_base,
            total_vat: self.total_vat,
            total: self.total,
        }))
    }
}

impl WithholdingReport {
    pub const COLUMNS: [&'static str; 7] = [
        "ลำดับ",
        "วันที่",
        "ผู้จ่ายเงิน",
        "เลขประจำตัวผู้เสียภาษี",
        "เลขที่หนังสือรับรอง",
        "จำนวนเงินที่จ่าย",
        "ภาษีที่หักไว้",
    ];

    /// One row per certificate, then the totals row.
    fn table(&self) -> Vec<Vec<Cell>> {
        let lines = self.rows.iter().map(|r| {
            vec![
                Cell::Int(r.seq as i64),
                Cell::Date(r.date),
                Cell::text(&r.customer_name),
                Cell::opt(r.customer_tax_id.clone()),
                Cell::opt(r.certificate_no.clone()),
                r.base_amount.map_or(Cell::Empty, baht),
                baht(r.withholding_tax),
            ]
        });
        let totals = std::iter::once(vec![
            Cell::Empty,
            Cell::Empty,
            Cell::text("รวม"),
            Cell::Empty,
            Cell::Empty,
            baht(self.total_base),
            baht(self.total_withheld),
        ]);
        lines.chain(totals).collect()
    }

    /// The report as CSV: UTF-8 with a BOM, one line per certificate, then the totals line.
    pub fn to_csv(&self) -> String {
        spreadsheet::csv(&Self::COLUMNS, &self.table())
    }

    /// The report as XLSX: the same rows, money as numbers.
    pub fn to_xlsx(&self) -> Result<Vec<u8>> {
        spreadsheet::xlsx(
            &format!("50 ทวิ {}", self.year),
            &Self::COLUMNS,
            &self.table(),
        )
    }

    /// The printed list of certificates: the form's header, one line a certificate, the
    /// totals. CPU work: run it off the async workers. Takes the report, as `into_pdf` of the
    /// output-VAT report does.
    pub fn into_pdf(self) -> Result<Vec<u8>> {
        rendered(satang_documents::render_withholding_report(
            &WithholdingReportDocument {
                seller: self.seller,
                year: self.year,
                lines: self
                    .rows
                    .into_iter()
                    .map(|r| WithholdingLine {
                        seq: r.seq,
                        date: r.date,
                        customer_name: r.customer_name,
                        customer_tax_id: r.customer_tax_id,
                        certificate_no: r.certificate_no,
                        base_amount: r.base_amount,
                        withholding_tax: r.withholding_tax,
                    })
                    .collect(),
                total_base: self.total_base,
                total_withheld: self.total_withheld,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_strictly() {
        assert_eq!(parse_month("2030-03"), NaiveDate::from_ymd_opt(2030, 3, 1));
        for bad in ["2030-13", "2030-3", "03-2030", "", "2030-03-01", "abcd-ef"] {
            assert_eq!(parse_month(bad), None, "{bad}");
        }
        assert_eq!(parse_year("2030"), NaiveDate::from_ymd_opt(2030, 1, 1));
        assert_eq!(parse_year("30"), None);
    }

    #[test]
    fn branches_are_named_as_the_form_asks() {
        assert_eq!(branch_label(Some("00000")), "สำนักงานใหญ่");
        assert_eq!(branch_label(Some("00001")), "สาขาที่ 00001");
        assert_eq!(branch_label(None), "");
    }
}
