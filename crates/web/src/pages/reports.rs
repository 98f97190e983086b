//! Reports (`/reports`, รายงาน; SPEC §4.3, §2.14): the accountant's month and year. The
//! output-VAT report (รายงานภาษีขาย) of a month and the withholding certificates (50 ทวิ)
//! received in a year, as tables read from the API's JSON, with their CSV, XLSX and PDF files;
//! and the exports of customers, invoices, payments and credit notes between two dates (CSV and
//! XLSX). The pickers
//! are GET forms; the files are the API's, passed through with the session (staff only: the
//! API refuses a customer's member, and so does this page).

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Datelike, Months, NaiveDate};
use serde::Deserialize;

use satang_api::routes::reports::{OutputVatReportView, WithholdingReportView};
use satang_billing::reports::{parse_month, parse_year};
use satang_domain::period::bangkok_date;

use super::{Chrome, encode};
use crate::client::ApiRequest;
use crate::session::Ctx;
use crate::{Console, Failure, format, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/reports", get(index))
        .route("/reports/output-vat", get(output_vat_file))
        .route("/reports/withholding-certificates", get(withholding_file))
        .route("/reports/exports/{kind}", get(export_file))
}

/// What the API exports, in the order the page lists them.
pub const EXPORT_KINDS: [&str; 4] = ["customers", "invoices", "payments", "credit-notes"];
/// The file formats the API writes for exports.
pub const FILE_FORMATS: [&str; 2] = ["csv", "xlsx"];
/// The file formats the API writes for the two reports: the exports' and the printed form.
pub const REPORT_FORMATS: [&str; 3] = ["csv", "xlsx", "pdf"];
/// How many years back the year picker offers (older years by typing the address).
const YEARS_OFFERED: i32 = 6;

/// The page's pickers, as in its address; empty means the default.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ReportsQuery {
    /// `YYYY-MM`.
    #[serde(default)]
    pub month: String,
    /// `YYYY` (Gregorian, as the API takes it).
    #[serde(default)]
    pub year: String,
    /// Exports from this day, `YYYY-MM-DD`.
    #[serde(default)]
    pub from: String,
    /// Exports to this day, `YYYY-MM-DD`.
    #[serde(default)]
    pub to: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
pub struct ReportsPage {
    pub c: Chrome,
    /// The month shown (`YYYY-MM`), as typed when it is wrong.
    pub month: String,
    pub year: String,
    pub from: String,
    pub to: String,
    /// The years the picker offers, newest first.
    pub years: Vec<i32>,
    pub month_error: Option<String>,
    pub year_error: Option<String>,
    pub range_error: Option<String>,
    pub vat: Option<OutputVatReportView>,
    pub wht: Option<WithholdingReportView>,
}

/// The month before `today`'s: what an accountant reports on by default.
pub fn last_month(today: NaiveDate) -> NaiveDate {
    let first = today.with_day(1).unwrap_or(today);
    first.checked_sub_months(Months::new(1)).unwrap_or(first)
}

/// The last day of the month starting on `first`.
fn month_end(first: NaiveDate) -> NaiveDate {
    first
        .checked_add_months(Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(first)
}

fn iso_date(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()
}

impl ReportsPage {
    /// The month as a heading: "มี.ค. 2573" / "Mar 2030".
    pub fn month_title(&self) -> String {
        parse_month(&self.month)
            .map(|m| format::month_year(self.c.tr.lang, m))
            .unwrap_or_default()
    }

    /// A year as the picker shows it: Buddhist Era in Thai ("2573"), Gregorian in English.
    pub fn year_label(&self, year: &i32) -> String {
        format::year(self.c.tr.lang, *year)
    }

    pub fn year_is(&self, year: &i32) -> bool {
        self.year.trim() == year.to_string()
    }

    pub fn money(&self, minor: impl std::borrow::Borrow<i64>) -> String {
        self.c.money(minor, "THB")
    }

    pub fn omoney(&self, minor: impl std::borrow::Borrow<Option<i64>>) -> String {
        minor
            .borrow()
            .map_or_else(|| "—".to_owned(), |m| self.money(m))
    }

    pub fn vat_file(&self, format: &str) -> String {
        format!(
            "/reports/output-vat?month={}&format={format}",
            encode(self.month.trim())
        )
    }

    pub fn wht_file(&self, format: &str) -> String {
        format!(
            "/reports/withholding-certificates?year={}&format={format}",
            encode(self.year.trim())
        )
    }

    pub fn export_file(&self, kind: &str, format: &str) -> String {
        format!(
            "/reports/exports/{kind}?from={}&to={}&format={format}",
            encode(self.from.trim()),
            encode(self.to.trim())
        )
    }

    pub fn kinds(&self) -> [&'static str; 4] {
        EXPORT_KINDS
    }

    /// The formats of an export.
    pub fn formats(&self) -> [&'static str; 2] {
        FILE_FORMATS
    }

    /// The formats of the output-VAT and withholding reports.
    pub fn report_formats(&self) -> [&'static str; 3] {
        REPORT_FORMATS
    }

    /// A document type of the output-VAT report in words.
    pub fn doc_type(&self, doc_type: &str) -> String {
        self.c.tk("reports-doc", doc_type)
    }
}

async fn index(mut ctx: Ctx, Query(query): Query<ReportsQuery>) -> Result<Response, Failure> {
    let me = ctx.staff().await?;
    let today = bangkok_date(ctx.console.app.clock.now());
    let default_month = last_month(today);
    let tr = ctx.tr();
    let mut page = ReportsPage {
        c: ctx.chrome("reports", Some(me)),
        month: if query.month.trim().is_empty() {
            default_month.format("%Y-%m").to_string()
        } else {
            query.month.trim().to_owned()
        },
        year: if query.year.trim().is_empty() {
            default_month.year().to_string()
        } else {
            query.year.trim().to_owned()
        },
        from: if query.from.trim().is_empty() && query.to.trim().is_empty() {
            default_month.format("%Y-%m-%d").to_string()
        } else {
            query.from.trim().to_owned()
        },
        to: if query.from.trim().is_empty() && query.to.trim().is_empty() {
            month_end(default_month).format("%Y-%m-%d").to_string()
        } else {
            query.to.trim().to_owned()
        },
        years: (0..YEARS_OFFERED).map(|back| today.year() - back).collect(),
        month_error: None,
        year_error: None,
        range_error: None,
        vat: None,
        wht: None,
    };
    if parse_month(&page.month).is_some() {
        page.vat = Some(
            ctx.get(format!(
                "/api/reports/output-vat?month={}",
                encode(&page.month)
            ))
            .await?,
        );
    } else {
        page.month_error = Some(tr.t("reports-month-invalid"));
    }
    match parse_year(&page.year) {
        Some(year) => {
            if !page.years.contains(&year.year()) {
                page.years.push(year.year());
                page.years.sort_unstable_by(|a, b| b.cmp(a));
            }
            page.wht = Some(
                ctx.get(format!(
                    "/api/reports/withholding-certificates?year={}",
                    encode(&page.year)
                ))
                .await?,
            );
        }
        None => page.year_error = Some(tr.t("reports-year-invalid")),
    }
    let from = (!page.from.is_empty()).then(|| iso_date(&page.from));
    let to = (!page.to.is_empty()).then(|| iso_date(&page.to));
    page.range_error = match (from, to) {
        (Some(None), _) | (_, Some(None)) => Some(tr.t("reports-date-invalid")),
        (Some(Some(f)), Some(Some(t))) if t < f => Some(tr.t("reports-range-invalid")),
        _ => None,
    };
    Ok(render(&page))
}

#[derive(Debug, Default, Deserialize)]
struct FileQuery {
    #[serde(default)]
    month: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    format: String,
}

impl FileQuery {
    /// The format asked for, when it is one of `offered`: the files the API writes.
    fn file_format(&self, offered: &[&'static str]) -> Result<&'static str, Failure> {
        offered
            .iter()
            .copied()
            .find(|f| *f == self.format.trim())
            .ok_or(Failure::BadRequest)
    }
}

/// `/reports/output-vat?month=&format=csv|xlsx|pdf`: the API's file of the month.
async fn output_vat_file(ctx: Ctx, Query(q): Query<FileQuery>) -> Result<Response, Failure> {
    let format = q.file_format(&REPORT_FORMATS)?;
    pass_through(
        ctx,
        format!(
            "/api/reports/output-vat?month={}&format={format}",
            encode(q.month.trim())
        ),
    )
    .await
}

/// `/reports/withholding-certificates?year=&format=csv|xlsx|pdf`.
async fn withholding_file(ctx: Ctx, Query(q): Query<FileQuery>) -> Result<Response, Failure> {
    let format = q.file_format(&REPORT_FORMATS)?;
    pass_through(
        ctx,
        format!(
            "/api/reports/withholding-certificates?year={}&format={format}",
            encode(q.year.trim())
        ),
    )
    .await
}

/// `/reports/exports/{kind}?from=&to=&format=csv|xlsx`.
async fn export_file(
    ctx: Ctx,
    Path(kind): Path<String>,
    Query(q): Query<FileQuery>,
) -> Result<Response, Failure> {
    let format = q.file_format(&FILE_FORMATS)?;
    let kind = EXPORT_KINDS
        .iter()
        .copied()
        .find(|k| *k == kind)
        .ok_or(Failure::NotFound)?;
    pass_through(
        ctx,
        format!(
            "/api/exports/{kind}?from={}&to={}&format={format}",
            encode(q.from.trim()),
            encode(q.to.trim())
        ),
    )
    .await
}

/// The API's file as it answered it — its media type, its name and its bytes — fetched with
/// the session's token; a refusal is the page that fits it (a member: forbidden).
async fn pass_through(mut ctx: Ctx, uri: String) -> Result<Response, Failure> {
    ctx.staff().await?;
    let reply = ctx.api(ApiRequest::new(Method::GET, uri)).await;
    if !reply.ok() {
        return Err(Failure::from_status(reply.status, &ctx.here));
    }
    let content_type = reply
        .content_type
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let disposition = reply
        .content_disposition
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            // Every customer's figures: not for a shared cache.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        reply.body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_default_month_is_the_one_before() {
        assert_eq!(last_month(d(2030, 3, 10)), d(2030, 2, 1));
        assert_eq!(last_month(d(2030, 1, 31)), d(2029, 12, 1));
        assert_eq!(month_end(d(2028, 2, 1)), d(2028, 2, 29));
        assert_eq!(month_end(d(2030, 12, 1)), d(2030, 12, 31));
    }
}
