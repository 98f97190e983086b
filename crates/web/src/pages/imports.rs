//! Import (`/imports`, นำเข้าข้อมูล; admins and billing staff): a CSV file of customers or of
//! subscriptions is uploaded (a file field, so `multipart/form-data`, [`CsrfUpload`]) and
//! checked by a dry run of `POST /api/imports/{kind}` — the page shows what the import would
//! do: rows, records it would create, rows already present, and every refused row by line and
//! column in the person's language. When there is something to create (and, unless "write the
//! good rows" was chosen, no refused row), a confirm form carries the same file back
//! (`POST /imports/confirm`) and the import runs for real; the page then shows what it did.
//! The rules are the API's (`satang_billing::imports`): the confirm checks everything again.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

use satang_api::routes::imports::{ImportProblem, ImportProblemErrors, ImportReportView};

use super::auth::FormState;
use super::{Chrome, Fields, field, refusal};
use crate::session::{CsrfForm, CsrfUpload, Ctx};
use crate::{Console, Failure, render};

/// Largest file the page takes; larger books go through `satang import` (or the API).
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;
/// Rows of errors (and of skipped rows) shown; the rest are counted.
const SHOWN_ROWS: usize = 200;

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route(
            "/imports",
            // The file with a little room for the other fields.
            get(index)
                .post(check)
                .layer(DefaultBodyLimit::max(MAX_FILE_BYTES + 64 * 1024)),
        )
        .route(
            "/imports/confirm",
            // The file again as a form field: percent-encoded, Thai text takes three times
            // its bytes. (A reload of this address goes back to `/imports`, as for any form.)
            post(confirm).layer(DefaultBodyLimit::max(3 * MAX_FILE_BYTES + 64 * 1024)),
        )
}

/// What the page imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Customers,
    Subscriptions,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Customers, Kind::Subscriptions];

    fn parse(value: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Subscriptions => "subscriptions",
        }
    }
}

/// What a check or an import answered.
pub struct Outcome {
    pub kind: Kind,
    pub dry_run: bool,
    pub rows: u64,
    pub created: u64,
    pub skipped: Vec<Skipped>,
    pub errors: Vec<RowError>,
    /// Nothing is (or was) written because of the errors.
    pub refused: bool,
    /// The API's sentence about a refused file.
    pub detail: Option<String>,
}

pub struct Skipped {
    pub line: u64,
    /// Where the record it is can be seen.
    pub href: String,
}

pub struct RowError {
    pub line: u64,
    pub field: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "imports.html")]
pub struct ImportsPage {
    pub c: Chrome,
    pub form: FormState,
    pub outcome: Option<Outcome>,
    /// The checked file, carried by the confirm form.
    pub csv: String,
    pub partial: bool,
}

impl ImportsPage {
    /// The kind chosen in the form (customers by default).
    pub fn chosen(&self, kind: &Kind) -> bool {
        match self.form.value("kind") {
            "" => *kind == Kind::Customers,
            v => v == kind.as_str(),
        }
    }

    /// A confirm button makes sense: a check that would create something and is not refused.
    pub fn can_confirm(&self) -> bool {
        self.outcome
            .as_ref()
            .is_some_and(|o| o.dry_run && !o.refused && o.created > 0)
    }

    pub fn shown_errors(&self) -> &[RowError] {
        self.outcome
            .as_ref()
            .map_or(&[][..], |o| &o.errors[..o.errors.len().min(SHOWN_ROWS)])
    }

    pub fn hidden_errors(&self) -> usize {
        self.outcome
            .as_ref()
            .map_or(0, |o| o.errors.len().saturating_sub(SHOWN_ROWS))
    }

    pub fn shown_skipped(&self) -> &[Skipped] {
        self.outcome
            .as_ref()
            .map_or(&[][..], |o| &o.skipped[..o.skipped.len().min(SHOWN_ROWS)])
    }

    pub fn hidden_skipped(&self) -> usize {
        self.outcome
            .as_ref()
            .map_or(0, |o| o.skipped.len().saturating_sub(SHOWN_ROWS))
    }
}

async fn staff_who_bill(ctx: &mut Ctx) -> Result<super::Me, Failure> {
    let me = ctx.staff().await?;
    if me.can_bill() {
        Ok(me)
    } else {
        Err(Failure::Forbidden)
    }
}

async fn index(mut ctx: Ctx) -> Result<Response, Failure> {
    let me = staff_who_bill(&mut ctx).await?;
    Ok(page(
        &ctx,
        me,
        FormState::default(),
        None,
        String::new(),
        false,
        None,
    ))
}

fn page(
    ctx: &Ctx,
    me: super::Me,
    form: FormState,
    outcome: Option<Outcome>,
    csv: String,
    partial: bool,
    status: Option<StatusCode>,
) -> Response {
    let mut response = render(&ImportsPage {
        c: ctx.chrome("imports", Some(me)),
        form,
        outcome,
        csv,
        partial,
    });
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    response
}

/// `POST /imports`: the uploaded file checked by a dry run.
async fn check(mut ctx: Ctx, upload: CsrfUpload) -> Result<Response, Failure> {
    let me = staff_who_bill(&mut ctx).await?;
    let mut fields = upload.fields;
    fields.remove("_csrf");
    let kind = Kind::parse(field(&fields, "kind")).ok_or(Failure::BadRequest)?;
    let partial = field(&fields, "partial") == "on";
    let file = upload.files.get("file").map(Vec::as_slice).unwrap_or(&[]);
    let tr = ctx.tr();
    let local = if file.is_empty() {
        Some("imports-file-missing")
    } else if file.len() > MAX_FILE_BYTES {
        Some("imports-file-too-large")
    } else {
        None
    };
    let csv = match (local, std::str::from_utf8(file)) {
        (None, Ok(text)) => text.to_owned(),
        (local, _) => {
            let mut form = FormState {
                values: fields,
                ..FormState::default()
            };
            let key = local.unwrap_or("imports-file-not-utf8");
            form.errors.insert("file".to_owned(), tr.t(key));
            let status = Some(StatusCode::UNPROCESSABLE_ENTITY);
            return Ok(page(&ctx, me, form, None, String::new(), false, status));
        }
    };
    run(ctx, me, kind, csv, partial, true, fields).await
}

/// `POST /imports/confirm`: the checked file imported.
async fn confirm(mut ctx: Ctx, CsrfForm(fields): CsrfForm<Fields>) -> Result<Response, Failure> {
    let me = staff_who_bill(&mut ctx).await?;
    let kind = Kind::parse(field(&fields, "kind")).ok_or(Failure::BadRequest)?;
    let partial = field(&fields, "partial") == "on";
    let csv = fields.get("csv").cloned().unwrap_or_default();
    let values = super::entered(&fields)
        .into_iter()
        .filter(|(k, _)| k != "csv")
        .collect();
    run(ctx, me, kind, csv, partial, false, values).await
}

/// Runs the import (a dry run when `dry_run`) through the API and shows its answer.
async fn run(
    mut ctx: Ctx,
    me: super::Me,
    kind: Kind,
    csv: String,
    partial: bool,
    dry_run: bool,
    values: Fields,
) -> Result<Response, Failure> {
    let body = json!({"csv": csv, "dry_run": dry_run, "partial": partial});
    let reply = ctx
        .send(
            Method::POST,
            format!("/api/imports/{}", kind.as_str()),
            Some(body),
            None,
        )
        .await;
    let form = FormState {
        values,
        ..FormState::default()
    };
    let outcome = if reply.ok() {
        let report: ImportReportView = reply.json()?;
        Outcome {
            kind,
            dry_run: report.dry_run,
            rows: report.rows,
            created: report.created,
            skipped: report
                .skipped
                .iter()
                .map(|s| Skipped {
                    line: s.line,
                    href: match kind {
                        Kind::Customers => format!("/customers/{}", s.customer_id),
                        Kind::Subscriptions => {
                            format!("/customers/{}?tab=subscriptions", s.customer_id)
                        }
                    },
                })
                .collect(),
            errors: rows_of(report.errors),
            refused: false,
            detail: None,
        }
    } else if reply.status == StatusCode::UNPROCESSABLE_ENTITY
        && let Ok(problem) = serde_json::from_slice::<ImportProblem>(&reply.body)
        && let Some(ImportProblemErrors::Rows(errors)) = problem.errors
    {
        Outcome {
            kind,
            dry_run,
            rows: problem.rows.unwrap_or(0),
            created: 0,
            skipped: Vec::new(),
            errors: rows_of(errors),
            refused: true,
            detail: Some(problem.detail),
        }
    } else {
        let form = refusal(&ctx, form.values, &reply)?;
        let status = reply.status;
        return Ok(page(
            &ctx,
            me,
            form,
            None,
            String::new(),
            partial,
            Some(status),
        ));
    };
    let status = outcome.refused.then_some(StatusCode::UNPROCESSABLE_ENTITY);
    // Only a check that can be confirmed carries the file on.
    let csv = if outcome.dry_run && !outcome.refused && outcome.created > 0 {
        csv
    } else {
        String::new()
    };
    Ok(page(&ctx, me, form, Some(outcome), csv, partial, status))
}

fn rows_of(errors: Vec<satang_api::routes::imports::RowErrorView>) -> Vec<RowError> {
    errors
        .into_iter()
        .map(|e| RowError {
            line: e.line,
            field: e.field,
            message: e.message,
        })
        .collect()
}
