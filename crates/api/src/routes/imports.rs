//! Imports (SPEC §2.14): `POST /api/imports/customers` and `POST /api/imports/subscriptions`
//! `{csv, dry_run?, partial?}` move a book in from CSV. Admins and billing staff only (any other
//! caller → 403). The rules (columns, duplicates, re-runs, all or nothing) are
//! `satang_billing::imports`'s; `satang import …` and the console's import page run the same
//! operations.
//!
//! Answers: 200 `{rows, created, skipped: [{line, customer_id | subscription_id}], errors:
//! [{line, field, message}], dry_run}`, or — when any row (or the header) fails and `partial` is
//! not set — 422 problem+json with `rows` and the same `errors`, nothing written. A dry run
//! answers what the import would answer and writes nothing. Messages (and the 422's `detail`)
//! are in Thai when `Accept-Language` prefers Thai, else in English. Up to [`MAX_IMPORT_BYTES`]
//! of request; a file of many thousands of rows may need a longer `SATANG_REQUEST_TIMEOUT` (or
//! the command).

mod thai;

use std::collections::BTreeMap;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::imports::{
    self, CustomerInput, Existing, ImportOptions, ImportReport, Message, RefusedField,
};
use satang_store::customers::CustomerFields;

use super::customers::{Address, CreateCustomer, validate_new};
use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Json, prefers_thai};
use crate::state::AppState;

/// Largest import request (the API's usual body limit is smaller): about 100,000 customers
/// with Thai names and addresses.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_customers))
        .routes(routes!(import_subscriptions))
        .layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The file, header row first: `name,tax_id,email,address_line1,…`.
    #[schema(
        example = "name,tax_id,email\nบริษัท ตัวอย่าง จำกัด,0105536000313,billing@example.co.th\n"
    )]
    pub csv: String,
    /// Check and report, write nothing (default false).
    pub dry_run: Option<bool>,
    /// Write the good rows even when others fail (default false: all or nothing).
    pub partial: Option<bool>,
}

/// A refused row.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RowErrorView {
    /// The line in the file; the header is line 1.
    pub line: u64,
    /// The column (`tax_id`, `address_postal_code`), or `csv` for the row as a whole.
    pub field: String,
    /// Why, in Thai when `Accept-Language` prefers it, else in English.
    pub message: String,
}

/// A row naming a record that exists already (an earlier import of it): left as it is.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkippedRowView {
    pub line: u64,
    /// The customer the row is (a customer import), or whose subscription it is.
    pub customer_id: Uuid,
    /// The subscription the row is (a subscription import only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportReportView {
    /// Data rows in the file.
    pub rows: u64,
    /// Records created (in a dry run: that the import would create).
    pub created: u64,
    /// Rows already present: nothing written for them.
    pub skipped: Vec<SkippedRowView>,
    /// Rows refused (with `partial`, the others were written).
    pub errors: Vec<RowErrorView>,
    pub dry_run: bool,
}

impl ImportReportView {
    /// The report, its messages in Thai when `thai`.
    pub fn of(report: &ImportReport, thai: bool) -> ImportReportView {
        ImportReportView {
            rows: report.rows as u64,
            created: report.created as u64,
            skipped: report
                .skipped
                .iter()
                .map(|s| match s.existing {
                    Existing::Customer(id) => SkippedRowView {
                        line: s.line,
                        customer_id: id,
                        subscription_id: None,
                    },
                    Existing::Subscription { id, customer_id } => SkippedRowView {
                        line: s.line,
                        customer_id,
                        subscription_id: Some(id),
                    },
                })
                .collect(),
            errors: errors_view(&report.errors, thai),
            dry_run: report.dry_run,
        }
    }
}

/// The `errors` of a refused import: the rows; or, for a request that is not an import
/// request at all (`csv` missing, a wrong type), the fields of the request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ImportProblemErrors {
    Rows(Vec<RowErrorView>),
    Fields(BTreeMap<String, Vec<String>>),
}

/// The problem document of a refused import (422): nothing was written.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportProblem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Data rows in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<ImportProblemErrors>,
}

fn errors_view(errors: &[imports::RowError], thai: bool) -> Vec<RowErrorView> {
    errors
        .iter()
        .map(|e| RowErrorView {
            line: e.line,
            field: e.field.clone(),
            message: e.message.text(thai).to_owned(),
        })
        .collect()
}

/// Why nothing was written, for a refused report.
pub fn refusal_detail(report: &ImportReport) -> Message {
    // Line 1 is the header: its errors refuse the file, not a row.
    match report.bad_rows() {
        0 => Message::new(
            "the file cannot be imported; nothing was written",
            "นำเข้าไฟล์นี้ไม่ได้ ไม่มีการบันทึกข้อมูลใด",
        ),
        n => Message::new(
            format!("{n} of the file's rows cannot be imported; nothing was written"),
            format!("นำเข้า {n} แถวของไฟล์ไม่ได้ ไม่มีการบันทึกข้อมูลใด"),
        ),
    }
}

/// 200 with the report, or 422 when the import was refused.
fn answer(report: ImportReport, thai: bool) -> Response {
    if report.refused {
        let problem = ImportProblem {
            kind: "/api/docs#problem-validation-failed".into(),
            title: "Unprocessable Entity".into(),
            status: 422,
            detail: refusal_detail(&report).text(thai).to_owned(),
            rows: Some(report.rows as u64),
            errors: Some(ImportProblemErrors::Rows(errors_view(&report.errors, thai))),
        };
        let mut response = (
            StatusCode::UNPROCESSABLE_ENTITY,
            serde_json::to_vec(&problem).unwrap_or_default(),
        )
            .into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        return response;
    }
    axum::Json(ImportReportView::of(&report, thai)).into_response()
}

/// A row checked exactly as `POST /api/customers` checks its body, each refusal in English
/// and Thai; shared with `satang import customers`.
pub fn validate_customer_row(input: CustomerInput) -> Result<CustomerFields, Vec<RefusedField>> {
    let typed_tax_id = input.tax_id.clone();
    let typed_branch = input.branch_code.clone();
    let body = CreateCustomer {
        name: input.name,
        legal_name: input.legal_name,
        tax_id: input.tax_id,
        branch_code: input.branch_code,
        email: input.email,
        phone: input.phone,
        billing_email: input.billing_email,
        address: input.address.map(|a| Address {
            line1: a.line1,
            line2: a.line2,
            subdistrict: a.subdistrict,
            district: a.district,
            province: a.province,
            postal_code: a.postal_code,
            country: a.country,
        }),
        currency: input.currency,
        locale: input.locale,
        payment_terms_days: input.payment_terms_days,
        metadata: input.metadata,
    };
    validate_new(body).map_err(|errors| {
        errors
            .into_iter()
            .flat_map(|(field, messages)| {
                let typed = match field.as_str() {
                    "tax_id" => typed_tax_id.clone(),
                    "branch_code" => typed_branch.clone(),
                    _ => None,
                };
                messages.into_iter().map(move |english| RefusedField {
                    message: Message::new(
                        english.clone(),
                        thai::of(&field, &english, typed.as_deref()),
                    ),
                    field: field.clone(),
                })
            })
            .collect()
    })
}

fn options(body: &ImportRequest) -> ImportOptions {
    ImportOptions {
        dry_run: body.dry_run.unwrap_or(false),
        partial: body.partial.unwrap_or(false),
    }
}

/// Import customers from CSV (admins and billing staff).
///
/// Columns: `name` (required), `legal_name`, `tax_id`, `branch_code`,
/// `email`, `phone`, `billing_email`, `address_line1`, `address_line2`, `address_subdistrict`,
/// `address_district`, `address_province`, `address_postal_code`, `address_country`,
/// `currency`, `locale`, `payment_terms_days`, `metadata` (a JSON object). Each row is checked
/// as `POST /api/customers` checks a body and needs a tax id or an e-mail; a repeat within the
/// file or of another stored customer's tax id and branch or e-mail is an error of its line; a
/// row that is a stored customer already is skipped (a re-run creates nothing).
#[utoipa::path(post, path = "/api/imports/customers", tag = "imports", request_body = ImportRequest, security(("bearer" = [])),
    params(("Accept-Language" = Option<String>, Header, description = "`th` for the messages in Thai")),
    responses((status = 200, body = ImportReportView), (status = 403, body = Problem),
        (status = 422, description = "A row or the header failed (nothing written), or the request is malformed",
            body = ImportProblem, content_type = "application/problem+json")))]
async fn import_customers(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<ImportRequest>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ImportData)?;
    let report = imports::import_customers(
        &state.db,
        &caller.actor,
        &body.csv,
        options(&body),
        &validate_customer_row,
        state.clock.now(),
    )
    .await?;
    Ok(answer(report, prefers_thai(&headers)))
}

/// Import running subscriptions from CSV (admins and billing staff).
///
/// Columns: the customer by `customer_tax_id` (+ `customer_branch_code`, else the head
/// office), `customer_email` or `customer_id`; `plan_code` (required) and `interval`;
/// `quantity` (1); `unit_price` (baht per period, a negotiated price); `start_date` (required,
/// `YYYY-MM-DD`, not after today); `current_period_end` (the end of the period the previous
/// system billed: today up to one cycle ahead; default the period of the plan's cycle from the
/// start that holds today); `collection_method`. Nothing is invoiced at import: the billing run
/// invoices the next period on `current_period_end`. A row whose customer has a subscription
/// with the same plan code and start date is skipped (a re-run creates nothing).
#[utoipa::path(post, path = "/api/imports/subscriptions", tag = "imports", request_body = ImportRequest, security(("bearer" = [])),
    params(("Accept-Language" = Option<String>, Header, description = "`th` for the messages in Thai")),
    responses((status = 200, body = ImportReportView), (status = 403, body = Problem),
        (status = 422, description = "A row or the header failed (nothing written), or the request is malformed",
            body = ImportProblem, content_type = "application/problem+json")))]
async fn import_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<ImportRequest>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ImportData)?;
    let report = imports::import_subscriptions(
        &state.db,
        &caller.actor,
        &body.csv,
        options(&body),
        state.clock.now(),
    )
    .await?;
    if report.created > 0 && !report.dry_run {
        // New subscriptions change what their customers are entitled to.
        state.entitlements.forget_everyone();
    }
    Ok(answer(report, prefers_thai(&headers)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row is refused with the create's messages, its address fields named as columns by
    /// the import, each in Thai too.
    #[test]
    fn a_row_is_checked_as_a_create() {
        let refused = validate_customer_row(CustomerInput {
            name: "  ".into(),
            tax_id: Some("0105536000316".into()),
            email: Some("not an email".into()),
            address: Some(satang_billing::imports::AddressInput {
                postal_code: Some("1011".into()),
                ..Default::default()
            }),
            ..CustomerInput::default()
        })
        .unwrap_err();
        let fields: Vec<&str> = refused.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["address.postal_code", "email", "name", "tax_id"]
        );
        let thai: Vec<&str> = refused.iter().map(|e| e.message.th.as_str()).collect();
        assert_eq!(
            thai,
            vec![
                "ต้องเป็นตัวเลข 5 หลักสำหรับประเทศไทย",
                "ต้องเป็นอีเมลที่ถูกต้อง",
                "ต้องไม่เว้นว่าง",
                "เลขตรวจสอบของเลขประจำตัวผู้เสียภาษีไม่ถูกต้อง (หลักสุดท้ายควรเป็น 3) โปรดตรวจสอบว่าพิมพ์ผิดหรือไม่",
            ]
        );
        let fields = validate_customer_row(CustomerInput {
            name: "ห้างหุ้นส่วนจำกัด ทองดี".into(),
            tax_id: Some("0-1055-36000-31-3".into()),
            ..CustomerInput::default()
        })
        .unwrap();
        assert_eq!(fields.tax_id.as_deref(), Some("0105536000313"));
        assert_eq!(fields.branch_code.as_deref(), Some("00000"));
    }
}
