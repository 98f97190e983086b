//! Billing › Bank statements (`/billing/bank-statements`, billing staff and admins): upload a
//! bank's CSV export with its column mapping, then go through its lines — each unmatched one
//! with the open invoices it may pay (best first, with why) and a Match button per invoice,
//! Ignore for money that is not a customer's payment, Reopen to undo that. Everything goes
//! through `/api/bank-statements`.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use satang_api::pagination::Page;
use satang_api::routes::bank_statements::{BankLineView, BankStatementView, SuggestionView};
use satang_domain::bank_statement::DEFAULT_DATE_FORMAT;

use super::auth::FormState;
use super::{Chrome, Fields, encode, entered, field, notice_text, refusal};
use crate::session::{CsrfForm, Ctx};
use crate::{Console, Failure, render};

const BASE: &str = "/billing/bank-statements";
const LINES_PER_PAGE: usize = 100;

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route(BASE, get(index).post(upload))
        .route("/billing/bank-statements/{id}", get(statement))
        .route(
            "/billing/bank-statements/{id}/lines/{line}/{action}",
            post(line_action),
        )
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct StatementQuery {
    /// `unmatched` (default), `matched`, `ignored` or `all`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub cursor: String,
    #[serde(default)]
    pub notice: String,
}

#[derive(Template)]
#[template(path = "bank_statements.html")]
pub struct StatementsPage {
    pub c: Chrome,
    pub statements: Vec<BankStatementView>,
    pub form: FormState,
}

impl StatementsPage {
    /// The upload form's value, or its default.
    pub fn value<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        match self.form.value(name) {
            "" => default,
            v => v,
        }
    }
}

#[derive(Template)]
#[template(path = "bank_statement.html")]
pub struct StatementPage {
    pub c: Chrome,
    pub statement: BankStatementView,
    pub lines: Vec<BankLineView>,
    pub status: String,
    pub next_cursor: Option<String>,
    pub form: FormState,
}

impl StatementPage {
    pub fn filters(&self) -> [&'static str; 4] {
        ["unmatched", "matched", "ignored", "all"]
    }

    pub fn line_action(&self, line: &BankLineView, action: &str) -> String {
        format!("{BASE}/{}/lines/{}/{action}", self.statement.id, line.id)
    }

    pub fn next_page(&self) -> Option<String> {
        let cursor = self.next_cursor.as_ref()?;
        Some(format!(
            "{BASE}/{}?status={}&cursor={}",
            self.statement.id,
            encode(&self.status),
            encode(cursor)
        ))
    }

    /// Why a suggestion is offered, in the person's language.
    pub fn reasons(&self, s: &SuggestionView) -> String {
        s.reasons
            .iter()
            .map(|r| self.c.tk("bank-reason", r))
            .collect::<Vec<_>>()
            .join(", ")
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

async fn index(mut ctx: Ctx, Query(q): Query<StatementQuery>) -> Result<Response, Failure> {
    let me = staff_who_bill(&mut ctx).await?;
    list_page(ctx, me, &q.notice, FormState::default(), None).await
}

async fn list_page(
    mut ctx: Ctx,
    me: super::Me,
    notice: &str,
    form: FormState,
    status: Option<StatusCode>,
) -> Result<Response, Failure> {
    let list: Page<BankStatementView> = ctx.get("/api/bank-statements?limit=50").await?;
    let mut c = ctx.chrome("billing", Some(me));
    c.notice = notice_text(&c.tr, notice);
    let mut response = render(&StatementsPage {
        c,
        statements: list.data,
        form,
    });
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    Ok(response)
}

/// `POST /billing/bank-statements`: the upload form; a refusal shows the form again with the
/// API's field errors (`columns.amount`, `lines[4].amount` …).
async fn upload(mut ctx: Ctx, CsrfForm(fields): CsrfForm<Fields>) -> Result<Response, Failure> {
    let me = staff_who_bill(&mut ctx).await?;
    let date_format = match field(&fields, "date_format") {
        "" => DEFAULT_DATE_FORMAT,
        f => f,
    };
    let body = json!({
        "csv": fields.get("csv").map_or("", String::as_str),
        "columns": {
            "date": field(&fields, "column_date"),
            "amount": field(&fields, "column_amount"),
            "description": field(&fields, "column_description"),
        },
        "date_format": date_format,
    });
    let reply = ctx
        .send(
            Method::POST,
            "/api/bank-statements",
            Some(body),
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        let created: BankStatementView = reply.json()?;
        return Ok(Redirect::to(&format!(
            "{BASE}/{}?notice=bank-statement-uploaded",
            created.id
        ))
        .into_response());
    }
    let mut form = refusal(&ctx, entered(&fields), &reply)?;
    // The API names the mapping `columns.x`; the form's inputs are `column_x`.
    for name in ["date", "amount", "description"] {
        if let Some(e) = form.errors.remove(&format!("columns_{name}")) {
            form.errors.insert(format!("column_{name}"), e);
        }
    }
    // Errors about lines of the file belong to the CSV box.
    let line_errors: Vec<String> = form
        .errors
        .iter()
        .filter(|(k, _)| k.starts_with("lines["))
        .map(|(_, v)| v.clone())
        .collect();
    form.errors.retain(|k, _| !k.starts_with("lines["));
    if !line_errors.is_empty() {
        let csv = form.errors.remove("csv").into_iter();
        form.errors.insert(
            "csv".to_owned(),
            csv.chain(line_errors).collect::<Vec<_>>().join(" "),
        );
    }
    let status = reply.status;
    list_page(ctx, me, "", form, Some(status)).await
}

async fn statement(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    Query(q): Query<StatementQuery>,
) -> Result<Response, Failure> {
    let me = staff_who_bill(&mut ctx).await?;
    statement_page(ctx, me, id, q, FormState::default(), None).await
}

async fn statement_page(
    mut ctx: Ctx,
    me: super::Me,
    id: Uuid,
    q: StatementQuery,
    form: FormState,
    status: Option<StatusCode>,
) -> Result<Response, Failure> {
    let statement: BankStatementView = ctx.get(format!("/api/bank-statements/{id}")).await?;
    let filter = match q.status.as_str() {
        "" => "unmatched",
        "matched" => "matched",
        "ignored" => "ignored",
        "all" => "all",
        _ => "unmatched",
    };
    let mut uri = format!("/api/bank-statements/{id}/lines?limit={LINES_PER_PAGE}");
    if filter != "all" {
        uri.push_str(&format!("&status={filter}"));
    }
    if !q.cursor.is_empty() {
        uri.push_str(&format!("&cursor={}", encode(&q.cursor)));
    }
    let lines: Page<BankLineView> = ctx.get(uri).await?;
    let mut c = ctx.chrome("billing", Some(me));
    c.notice = notice_text(&c.tr, &q.notice);
    let mut response = render(&StatementPage {
        c,
        statement,
        lines: lines.data,
        status: filter.to_owned(),
        next_cursor: lines.next_cursor,
        form,
    });
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    Ok(response)
}

/// `POST …/lines/{line}/match|ignore|reopen`, then back to the statement's unmatched lines.
async fn line_action(
    mut ctx: Ctx,
    Path((id, line, action)): Path<(Uuid, Uuid, String)>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let me = staff_who_bill(&mut ctx).await?;
    let body = match action.as_str() {
        "match" => {
            let invoice_id = field(&fields, "invoice_id");
            let withholding = field(&fields, "withholding_tax")
                .parse::<i64>()
                .unwrap_or(0);
            Some(json!({"invoice_id": invoice_id, "withholding_tax": withholding}))
        }
        "ignore" | "reopen" => None,
        _ => return Err(Failure::NotFound),
    };
    let reply = ctx
        .send(
            Method::POST,
            format!("/api/bank-statements/{id}/lines/{line}/{action}"),
            body,
            fields.get("_key").map(String::as_str),
        )
        .await;
    let back = field(&fields, "status");
    if reply.ok() {
        let notice = match action.as_str() {
            "match" => "bank-line-matched",
            "ignore" => "bank-line-ignored",
            _ => "bank-line-reopened",
        };
        return Ok(Redirect::to(&format!(
            "{BASE}/{id}?status={}&notice={notice}",
            encode(back)
        ))
        .into_response());
    }
    let form = refusal(&ctx, Fields::new(), &reply)?;
    let q = StatementQuery {
        status: back.to_owned(),
        ..StatementQuery::default()
    };
    let status = reply.status;
    statement_page(ctx, me, id, q, form, Some(status)).await
}
