//! The accountant's exports (SPEC §2.14):
//! `GET /api/exports/{customers|invoices|payments|credit-notes}?from=&to=&format=csv|xlsx` —
//! one row per record dated (Bangkok) from `from` to `to` inclusive, as an attachment. What each
//! kind holds and which date it is filtered on: `satang_billing::exports`.
//!
//! Staff who read billing only (every customer's records are in a file); a customer's member is
//! refused (403), and so is an API key (no scope names these routes). A CSV is streamed a page
//! at a time as the store is read; an XLSX is built first, then sent.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use futures::StreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use satang_auth::Permission;
use satang_billing::exports::{self as operations, DateRange, ExportKind};

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export))
}

/// The media type of an XLSX file.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// What may be exported (the path's `{kind}`; the OpenAPI document's enumeration of it, the
/// handler reads the text itself to answer an unknown kind with a 400 problem).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ExportKindParam {
    Customers,
    Invoices,
    Payments,
    CreditNotes,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// The first Bangkok day, `YYYY-MM-DD` (inclusive); open when left out.
    pub from: Option<String>,
    /// The last Bangkok day, `YYYY-MM-DD` (inclusive); open when left out.
    pub to: Option<String>,
    /// `csv` (default) or `xlsx`.
    pub format: Option<String>,
}

/// The file formats of exports and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Xlsx,
}

impl FileFormat {
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FileFormat::Csv => "text/csv; charset=utf-8",
            FileFormat::Xlsx => XLSX,
        }
    }
}

/// An attachment of `content_type` named `filename` (ASCII: kinds, dates and digits only).
pub fn attachment(content_type: &str, filename: &str, body: impl Into<Body>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body.into(),
    )
        .into_response()
}

fn date(name: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(raw) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                ApiError::BadRequest(format!(
                    "invalid query parameter {name}: use a date YYYY-MM-DD"
                ))
            }),
    }
}

/// One row per customer, invoice, payment or credit note dated in the range, for the
/// accountant: CSV (UTF-8 with a byte order mark) or XLSX; money in major units with two
/// decimals, dates ISO, Thai text as written.
#[utoipa::path(get, path = "/api/exports/{kind}", tag = "reports",
    params(("kind" = inline(ExportKindParam), Path, description = "What to export"), ExportParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The file, as an attachment",
            content((String = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 400, description = "An unknown kind or format, a malformed date, or `to` before `from`",
            body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn export(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(kind): axum::extract::Path<String>,
    Query(params): Query<ExportParams>,
) -> Result<Response, ApiError> {
    let kind = ExportKind::parse(&kind).ok_or_else(|| {
        ApiError::BadRequest(
            "unknown export: use customers, invoices, payments or credit-notes".into(),
        )
    })?;
    let format = match params.format.as_deref().map(str::trim) {
        None | Some("") | Some("csv") => FileFormat::Csv,
        Some("xlsx") => FileFormat::Xlsx,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "invalid query parameter format: use csv or xlsx".into(),
            ));
        }
    };
    let from = date("from", params.from.as_deref())?;
    let to = date("to", params.to.as_deref())?;
    let range = DateRange::new(from, to)
        .map_err(|_| ApiError::BadRequest("invalid query parameters: to is before from".into()))?;
    caller.require(Permission::ReadBilling)?;
    if kind == ExportKind::Customers {
        caller.require(Permission::ReadCustomers)?;
    }
    let filename = operations::file_name(kind, range, format.extension());
    match format {
        FileFormat::Xlsx => {
            let file = operations::xlsx(&state.db, kind, range).await?;
            Ok(attachment(format.content_type(), &filename, file))
        }
        FileFormat::Csv => {
            // Past the first page the status is sent: a failure can only cut the file short
            // (the client sees an incomplete body), so it is logged here.
            let chunks = operations::csv(&state.db, kind, range).await?.map(|chunk| {
                chunk.inspect_err(|e| tracing::error!(error = %e, "export cut short"))
            });
            Ok(attachment(
                format.content_type(),
                &filename,
                Body::from_stream(chunks),
            ))
        }
    }
}
