//! Satang's printed documents (SPEC §4): the Thai tax invoice / receipt as a PDF, with Thai text
//! shaped correctly, the total in Thai words and a PromptPay QR for what is still due; and the
//! accountant's reports (§4.3, [`report`]) as printed forms.
//!
//! Pure rendering: the input is a plain [`InvoiceDocument`] or report document (the billing
//! crate builds them from the stored records and snapshots), the output PDF bytes. No I/O, no
//! clock, no database, so the same input always renders the same document and tests need
//! nothing but this crate.

mod draw;
pub mod etax;
pub mod etax_sign;
pub mod format;
mod invoice;
mod qr;
pub mod report;
mod shaping;
mod stamps;
mod text;

use chrono::NaiveDate;
use satang_domain::money::Currency;

pub use etax::{
    EtaxAddress, EtaxDocument, EtaxKind, EtaxLine, EtaxParty, EtaxReference, render_etax_xml,
};
pub use etax_sign::{EtaxSigner, Pkcs12Error};
pub use format::{amount, branch_label, rate_percent, thai_date, thai_period};
pub use invoice::{Attachment, render_invoice, render_pdfa3};
pub use qr::promptpay_qr_payload;
pub use report::{
    OutputVatDocument, OutputVatLine, ReportSeller, WithholdingLine, WithholdingReportDocument,
    render_output_vat, render_withholding_report,
};
pub use text::script_runs;

/// Why a document could not be rendered; none of these is the caller's fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the embedded Waree font could not be read")]
    Font,
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
    #[error("the e-Tax XML could not be written: {0}")]
    Xml(String),
    #[error("the e-Tax XML could not be signed: {0}")]
    Sign(String),
}

/// Who issues the document, as snapshotted on the invoice at issue time.
#[derive(Debug, Clone, Default)]
pub struct Seller {
    pub name_th: String,
    pub name_en: String,
    /// 13 digits.
    pub tax_id: Option<String>,
    /// `00000` for the head office.
    pub branch_code: Option<String>,
    /// Printed one entry per line.
    pub address: Vec<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Where the QR pays to: a phone number, national or tax id (validated by the settings).
    pub promptpay_id: Option<String>,
}

/// The buyer as snapshotted at issue time.
#[derive(Debug, Clone, Default)]
pub struct Buyer {
    pub name: String,
    /// The registered name a tax invoice is made out to, when it differs from `name`.
    pub legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub branch_code: Option<String>,
    /// Printed one entry per line.
    pub address: Vec<String>,
}

/// One invoice line; amounts in minor units of the document's currency.
#[derive(Debug, Clone)]
pub struct Line {
    pub description: String,
    /// The service period as stored: start and the first day after it.
    pub period: Option<(NaiveDate, NaiveDate)>,
    pub quantity: i64,
    pub unit_amount: i64,
    pub amount: i64,
}

/// Which document an invoice prints as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentStatus {
    /// Issued and not settled: ใบแจ้งหนี้ (/ ใบกำกับภาษี with tax point `issue`).
    Open,
    /// Settled: ใบเสร็จรับเงิน / ใบกำกับภาษี with tax point `issue`, else still ใบแจ้งหนี้.
    Paid,
    /// Cancelled: printed as issued with a VOID stamp and no QR.
    Void,
    /// Written off but still owed: printed like an open invoice.
    Uncollectible,
}

/// Everything a tax invoice / receipt shows. Every figure comes from here; the renderer computes
/// nothing but layout.
#[derive(Debug, Clone)]
pub struct InvoiceDocument {
    pub seller: Seller,
    pub buyer: Buyer,
    pub number: String,
    pub status: DocumentStatus,
    /// Whether the invoice is the tax invoice (tax point `issue`): titled ใบแจ้งหนี้ /
    /// ใบกำกับภาษี, or ใบเสร็จรับเงิน / ใบกำกับภาษี once paid. Otherwise (tax point `payment`) it
    /// is an invoice only, ใบแจ้งหนี้, and each payment issues its own receipt / tax invoice.
    pub tax_invoice: bool,
    /// A title (Thai, English) that replaces the one `tax_invoice` and `status` choose: a
    /// tax document printed from its invoice (ใบเสร็จรับเงิน, ใบลดหนี้…).
    pub title: Option<(String, String)>,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub paid_date: Option<NaiveDate>,
    pub currency: Currency,
    pub lines: Vec<Line>,
    pub subtotal: i64,
    pub discount: i64,
    /// The codes of the coupons behind `discount`, named on its line.
    pub discount_codes: Vec<String>,
    /// Basis points: 700 = 7 %.
    pub vat_rate_bps: i64,
    pub vat_amount: i64,
    pub total: i64,
    /// The customer's credit balance consumed at issue.
    pub credit_applied: i64,
    /// Credited later by credit notes.
    pub amount_credited: i64,
    /// Withheld by the buyer against a certificate (50 ทวิ).
    pub withholding_tax: i64,
    /// The numbers of the withholding certificates received so far, printed under the
    /// withholding line (they often arrive weeks after the payment).
    pub withholding_certificates: Vec<String>,
    pub amount_paid: i64,
    pub amount_due: i64,
}
