//! Reports for the accountant and the Revenue Department (SPEC §4.3):
//! `GET /api/reports/output-vat?month=YYYY-MM&format=json|csv|xlsx|pdf` (รายงานภาษีขาย) and
//! `GET /api/reports/withholding-certificates?year=YYYY&format=json|csv|xlsx|pdf` (50 ทวิ
//! received); the CSV and XLSX files are written by `satang_billing::spreadsheet`, as the
//! exports are, the PDF (the printed form, in Thai) by `satang_documents::report` on the
//! blocking pool. Staff who read billing only; a customer's member is refused (403).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::reports as operations;

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Query};
use crate::routes::exports::{FileFormat, attachment};
use crate::state::AppState;

/// The media type of the printed reports.
const PDF: &str = "application/pdf";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(output_vat))
        .routes(routes!(withholding_certificates))
}

/// One document of the output-VAT report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutputVatRowView {
    /// ลำดับ, from 1.
    pub seq: usize,
    /// The Bangkok date of issue.
    pub date: NaiveDate,
    pub number: String,
    /// `tax_invoice`, `receipt_tax_invoice` or `credit_note`.
    #[serde(rename = "type")]
    pub doc_type: String,
    pub tax_document_id: Uuid,
    pub buyer_name: String,
    pub buyer_tax_id: Option<String>,
    /// `สำนักงานใหญ่`, `สาขาที่ 00001`, or empty.
    pub branch: String,
    /// Minor units before VAT; negative for a credit note.
    pub base_amount: i64,
    pub vat_amount: i64,
    pub total: i64,
}

/// รายงานภาษีขาย of a month: its documents and their sums.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutputVatReportView {
    /// `YYYY-MM`.
    pub month: String,
    pub rows: Vec<OutputVatRowView>,
    pub total_base: i64,
    pub total_vat: i64,
    pub total: i64,
}

impl From<operations::OutputVatReport> for OutputVatReportView {
    fn from(r: operations::OutputVatReport) -> Self {
        OutputVatReportView {
            month: r.month,
            rows: r
                .rows
                .into_iter()
                .map(|r| OutputVatRowView {
                    seq: r.seq,
                    date: r.date,
                    number: r.number,
                    doc_type: r.doc_type,
                    tax_document_id: r.tax_document_id,
                    buyer_name: r.buyer_name,
                    buyer_tax_id: r.buyer_tax_id,
                    branch: r.branch,
                    base_amount: r.base_amount,
                    vat_amount: r.vat_amount,
                    total: r.total,
                })
                .collect(),
            total_base: r.total_base,
            total_vat: r.total_vat,
            total: r.total,
        }
    }
}

/// One withholding certificate received.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WithholdingRowView {
    pub seq: usize,
    /// The Bangkok date of the payment.
    pub date: NaiveDate,
    pub payment_id: Uuid,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub customer_tax_id: Option<String>,
    pub certificate_no: Option<String>,
    /// Minor units before VAT the payment settled (its receipt's); null without a receipt.
    pub base_amount: Option<i64>,
    pub withholding_tax: i64,
}

/// The withholding certificates of a year and their sums.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WithholdingReportView {
    pub year: i32,
    pub rows: Vec<WithholdingRowView>,
    pub total_base: i64,
    pub total_withheld: i64,
}

impl From<operations::WithholdingReport> for WithholdingReportView {
    fn from(r: operations::WithholdingReport) -> Self {
        WithholdingReportView {
            year: r.year,
            rows: r
                .rows
                .into_iter()
                .map(|r| WithholdingRowView {
                    seq: r.seq,
                    date: r.date,
                    payment_id: r.payment_id,
                    customer_id: r.customer_id,
                    customer_name: r.customer_name,
                    customer_tax_id: r.customer_tax_id,
                    certificate_no: r.certificate_no,
                    base_amount: r.base_amount,
                    withholding_tax: r.withholding_tax,
                })
                .collect(),
            total_base: r.total_base,
            total_withheld: r.total_withheld,
        }
    }
}

/// The forms a report comes in: the OpenAPI document's enumeration of `format`. The handler
/// reads the text itself, so that an unknown format is a 400 problem that names the choices.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Json,
    Csv,
    Xlsx,
    Pdf,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutputVatParams {
    /// The Bangkok month, `YYYY-MM`.
    pub month: Option<String>,
    /// `json` (default), `csv`, `xlsx` or `pdf`.
    #[param(inline, value_type = Option<ReportFormat>)]
    pub format: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WithholdingParams {
    /// The Bangkok year, `YYYY`.
    pub year: Option<String>,
    /// `json` (default), `csv`, `xlsx` or `pdf`.
    #[param(inline, value_type = Option<ReportFormat>)]
    pub format: Option<String>,
}

enum Format {
    Json,
    File(FileFormat),
    Pdf,
}

fn format(raw: Option<&str>) -> Result<Format, ApiError> {
    match raw.map(str::trim) {
        None | Some("") | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::File(FileFormat::Csv)),
        Some("xlsx") => Ok(Format::File(FileFormat::Xlsx)),
        Some("pdf") => Ok(Format::Pdf),
        Some(_) => Err(ApiError::BadRequest(
            "invalid query parameter format: use json, csv, xlsx or pdf".into(),
        )),
    }
}

/// The printed report, rendered on the blocking pool (shaping and font subsetting are CPU work
/// that must not stall the request workers), as an attachment named `filename`.
async fn pdf_attachment(
    filename: String,
    render: impl FnOnce() -> satang_billing::Result<Vec<u8>> + Send + 'static,
) -> Result<Response, ApiError> {
    let pdf = tokio::task::spawn_blocking(render)
        .await
        .map_err(|e| ApiError::Internal(format!("report PDF rendering panicked: {e}")))??;
    Ok(attachment(PDF, &filename, pdf))
}

/// รายงานภาษีขาย: the month's tax documents (tax invoices, receipt / tax invoices, credit notes
/// negative) by Bangkok date of issue, with totals equal to their sums.
#[utoipa::path(get, path = "/api/reports/output-vat", tag = "reports",
    params(OutputVatParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "JSON, or a CSV (UTF-8 with BOM, baht with two decimals), XLSX or PDF (the Thai form) attachment",
            content((OutputVatReportView = "application/json"), (String = "text/csv"),
                (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                (Vec<u8> = "application/pdf"))),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
async fn output_vat(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<OutputVatParams>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadBilling)?;
    let month = params
        .month
        .as_deref()
        .and_then(operations::parse_month)
        .ok_or_else(|| ApiError::BadRequest("invalid query parameter month: use YYYY-MM".into()))?;
    let format = format(params.format.as_deref())?;
    let report = operations::output_vat(&state.db, month).await?;
    Ok(match format {
        Format::Json => axum::Json(OutputVatReportView::from(report)).into_response(),
        Format::File(f) => {
            let name = format!("output-vat-{}.{}", report.month, f.extension());
            match f {
                FileFormat::Csv => attachment(f.content_type(), &name, report.to_csv()),
                FileFormat::Xlsx => attachment(f.content_type(), &name, report.to_xlsx()?),
            }
        }
        Format::Pdf => {
            let name = format!("output-vat-{}.pdf", report.month);
            pdf_attachment(name, move || report.into_pdf()).await?
        }
    })
}

/// The withholding-tax certificates (50 ทวิ) received in a year, by Bangkok date of payment,
/// with totals.
#[utoipa::path(get, path = "/api/reports/withholding-certificates", tag = "reports",
    params(WithholdingParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "JSON, or a CSV (UTF-8 with BOM, baht with two decimals), XLSX or PDF (the Thai form) attachment",
            content((WithholdingReportView = "application/json"), (String = "text/csv"),
                (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                (Vec<u8> = "application/pdf"))),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
async fn withholding_certificates(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<WithholdingParams>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadBilling)?;
    let year = params
        .year
        .as_deref()
        .and_then(operations::parse_year)
        .ok_or_else(|| ApiError::BadRequest("invalid query parameter year: use YYYY".into()))?;
    let format = format(params.format.as_deref())?;
    let report = operations::withholding_certificates(&state.db, year).await?;
    Ok(match format {
        Format::Json => axum::Json(WithholdingReportView::from(report)).into_response(),
        Format::File(f) => {
            let name = format!("withholding-certificates-{}.{}", report.year, f.extension());
            match f {
                FileFormat::Csv => attachment(f.content_type(), &name, report.to_csv()),
                FileFormat::Xlsx => attachment(f.content_type(), &name, report.to_xlsx()?),
            }
        }
        Format::Pdf => {
            let name = format!("withholding-certificates-{}.pdf", report.year);
            pdf_attachment(name, move || report.into_pdf()).await?
        }
    })
}
