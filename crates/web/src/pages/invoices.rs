//! The staff invoice page (`/invoices/{id}`): one invoice as a billing clerk works with it —
//! its header (number, status with "overdue", customer, dates, totals with VAT and withholding
//! tax), lines, payments, credit notes, tax documents, the mails sent about it and its history
//! — and what can be done to it, each through the API operation of the same name: download the
//! PDF, send it again, record a payment (Billing's dialog), mark it uncollectible, void it,
//! issue a credit note (ใบลดหนี้); for a draft, add and remove lines, issue it, delete it.
//! One-off drafts are created from the customer's Invoices tab ([`create`]).
//!
//! Every change that cannot be taken back asks first in a dialog (open in place with
//! `app.js`, or the page `?dialog=…` rendered with it open); a refusal comes back in the dialog
//! the person used, in their language: the console knows why the API says 409 from the
//! invoice as it now stands, and says so in its own words. The forms' handlers and the
//! credit-note form are in [`super::invoice_forms`].

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;

use satang_api::pagination::Page;
use satang_api::routes::audit::AuditEventView;
use satang_api::routes::customers::CustomerView;
use satang_api::routes::emails::EmailView;
use satang_api::routes::invoices::InvoiceView;
use satang_api::routes::invoices::settlement::{CreditNoteView, PaymentView};
use satang_api::routes::tax_documents::TaxDocumentView;
use satang_api::routes::users::UserView;

use super::auth::FormState;
use super::invoice_forms::{self, CreditRow};
use super::{Chrome, notice_text};
use crate::client::ApiRequest;
use crate::session::Ctx;
use crate::{Console, Failure, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/invoices/{id}", get(show))
        .route("/invoices/{id}/void", post(invoice_forms::void))
        .route(
            "/invoices/{id}/mark-uncollectible",
            post(invoice_forms::mark_uncollectible),
        )
        .route("/invoices/{id}/send", post(invoice_forms::send))
        .route("/invoices/{id}/finalize", post(invoice_forms::finalize))
        .route("/invoices/{id}/delete", post(invoice_forms::delete))
        .route("/invoices/{id}/lines", post(invoice_forms::add_line))
        .route(
            "/invoices/{id}/lines/{line}/delete",
            post(invoice_forms::remove_line),
        )
        .route("/invoices/{id}/credit-notes", post(invoice_forms::credit))
        .route("/customers/{id}/invoices", post(invoice_forms::create))
}

/// The page's state in its address: a dialog to show open, a notice after a change.
#[derive(Debug, Default, Deserialize)]
pub struct InvoiceQuery {
    #[serde(default)]
    pub dialog: String,
    #[serde(default)]
    pub notice: String,
}

#[derive(Template)]
#[template(path = "invoice.html")]
pub struct InvoicePage {
    pub c: Chrome,
    pub invoice: InvoiceView,
    /// The buyer's name: as issued (the snapshot), else as it is now.
    pub customer_name: String,
    pub customer: Option<CustomerView>,
    pub payments: Vec<PaymentView>,
    pub credit_notes: Vec<CreditNoteView>,
    pub tax_documents: Vec<TaxDocumentView>,
    /// No e-Tax signing certificate: the documents are issued unsigned.
    pub unsigned: bool,
    pub emails: Vec<EmailView>,
    /// The invoice's audit entries, newest first; `None` for someone without the audit right.
    pub history: Option<Vec<AuditEventView>>,
    /// Names of the people in the history the signed-in person may know.
    pub actors: HashMap<Uuid, String>,
    pub can_bill: bool,
    /// Today in Bangkok: what "overdue" is measured against.
    pub today: NaiveDate,
    /// The credit-note dialog's rows: each invoice line and what may be credited of it.
    pub credit_rows: Vec<CreditRow>,
    pub dialog: String,
    pub form: FormState,
}

impl InvoicePage {
    pub fn money(&self, minor: impl Borrow<i64>) -> String {
        self.c.money(minor, &self.invoice.currency)
    }

    /// The number, or "Draft" while it has none.
    pub fn title(&self) -> String {
        match &self.invoice.number {
            Some(n) => n.clone(),
            None => self.c.t("invoice-draft"),
        }
    }

    /// Open and past its due date (in Bangkok).
    pub fn overdue(&self) -> bool {
        self.invoice.status.is_open() && self.invoice.due_date.is_some_and(|d| d < self.today)
    }

    pub fn is_draft(&self) -> bool {
        self.invoice.status.is_draft()
    }

    pub fn is_open(&self) -> bool {
        self.invoice.status.is_open()
    }

    /// A credit note corrects an issued invoice that still has something to credit.
    pub fn creditable(&self) -> i64 {
        if self.invoice.status.is_issued() {
            (self.invoice.total - self.invoice.amount_credited).max(0)
        } else {
            0
        }
    }

    pub fn payable(&self) -> bool {
        self.invoice.status.accepts_payment() && self.invoice.amount_due > 0
    }

    pub fn dialog_is(&self, name: &str) -> bool {
        self.dialog == name
    }

    /// This page with a dialog open (the address the dialog's opener links to).
    pub fn dialog_link(&self, name: &str) -> String {
        format!("/invoices/{}?dialog={name}", self.invoice.id)
    }

    pub fn here(&self) -> String {
        format!("/invoices/{}", self.invoice.id)
    }

    /// Whether the dialog (or form) `name` is on the page in the invoice's state.
    pub fn has_dialog(&self, name: &str) -> bool {
        self.can_bill
            && match name {
                "void" | "uncollectible" | "send" => self.is_open(),
                "finalize" | "delete" | "add-line" | "remove-line" => self.is_draft(),
                "credit-note" => self.creditable() > 0,
                _ => false,
            }
    }

    /// A refusal whose dialog is not on the page (the invoice changed meanwhile, or the
    /// person may not act on it): shown at the top instead.
    pub fn page_message(&self) -> Option<&str> {
        if self.dialog.is_empty() || self.has_dialog(&self.dialog) {
            None
        } else {
            self.form.message.as_deref()
        }
    }

    /// The message about the whole form of dialog `name`, when it was the one refused.
    pub fn message_of(&self, name: &str) -> Option<&str> {
        self.dialog_is(name)
            .then_some(self.form.message.as_deref())
            .flatten()
    }

    /// A field of dialog (or form) `name`: what was typed when it was refused, else `default`.
    pub fn value_of(&self, name: &str, field: &str, default: &str) -> String {
        if self.dialog_is(name) && self.form.values.contains_key(field) {
            self.form.value(field).to_owned()
        } else {
            default.to_owned()
        }
    }

    pub fn error_of(&self, name: &str, field: &str) -> Option<&str> {
        if self.dialog_is(name) {
            self.form.error(field)
        } else {
            None
        }
    }

    /// The VAT rate as written on the invoice ("7.00").
    pub fn vat_label(&self) -> String {
        self.c
            .t1("invoice-vat", "rate", self.invoice.vat_rate.as_str())
    }

    /// Where the customer is, with its invoices.
    pub fn customer_link(&self) -> String {
        format!("/customers/{}?tab=invoices", self.invoice.customer_id)
    }

    /// The address the invoice mail goes to, when the customer names one itself (a contact
    /// may be used otherwise).
    pub fn mail_to(&self) -> Option<&str> {
        let c = self.customer.as_ref()?;
        c.billing_email
            .as_deref()
            .or(c.email.as_deref())
            .filter(|e| !e.trim().is_empty())
    }

    /// The tax id and branch on the invoice ("0105557000126 · สำนักงานใหญ่").
    pub fn buyer_tax_id(&self) -> Option<String> {
        let snapshot = self.invoice.customer.as_ref();
        let tax_id = snapshot
            .and_then(|c| c.get("tax_id"))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .or_else(|| self.customer.as_ref().and_then(|c| c.tax_id.clone()))?;
        let branch = snapshot
            .and_then(|c| c.get("branch_code"))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .or_else(|| self.customer.as_ref().and_then(|c| c.branch_code.clone()));
        Some(match branch.as_deref() {
            Some("00000") | None => format!("{tax_id} · {}", self.c.t("head-office")),
            Some(b) => format!("{tax_id} · {}", self.c.t1("branch-number", "code", b)),
        })
    }

    /// A line's period, "1 มี.ค. 2573 – 31 มี.ค. 2573" (its end is the first day after).
    pub fn period(
        &self,
        start: impl Borrow<Option<NaiveDate>>,
        end: impl Borrow<Option<NaiveDate>>,
    ) -> String {
        match (*start.borrow(), *end.borrow()) {
            (Some(s), Some(e)) => {
                let last = e.pred_opt().unwrap_or(e);
                format!("{} – {}", self.c.day(s), self.c.day(last))
            }
            _ => "—".to_owned(),
        }
    }

    pub fn when(&self, at: impl Borrow<DateTime<Utc>>) -> String {
        super::audit::date_time(&self.c, *at.borrow())
    }

    /// When a mail went out, or was queued while it has not.
    pub fn mail_time(&self, e: &EmailView) -> String {
        self.when(e.sent_at.unwrap_or(e.created_at))
    }

    /// A payment's withholding tax and its certificate, or a dash.
    pub fn withheld(&self, p: &PaymentView) -> String {
        match &p.withholding_tax {
            Some(w) => match &w.certificate_no {
                Some(no) => format!("{} ({no})", self.money(w.amount)),
                None => format!(
                    "{} ({})",
                    self.money(w.amount),
                    self.c.t("payment-certificate-pending")
                ),
            },
            None => "—".to_owned(),
        }
    }

    /// An audit action in words.
    pub fn action_label(&self, e: &AuditEventView) -> String {
        let key = super::audit::action_key(&e.action);
        if self.c.tr.has(&key) {
            self.c.t(&key)
        } else {
            crate::format::readable_code(&e.action)
        }
    }

    /// Who made an audited change, in words: a name the person may know, an API key, the
    /// system, or "a staff member".
    pub fn actor(&self, e: &AuditEventView) -> String {
        if let Some(name) = &e.actor_api_key_name {
            return self.c.t1("audit-api-key", "name", name);
        }
        match e.actor_id {
            None => self.c.t("audit-system"),
            Some(id) => self
                .actors
                .get(&id)
                .cloned()
                .unwrap_or_else(|| self.c.t("invoice-history-staff")),
        }
    }

    /// Billing's payment dialog for this invoice, which comes back here once recorded.
    pub fn payment_link(&self) -> String {
        format!(
            "/billing?tab=history&customer={}&dialog=pay-{}&from=invoice",
            self.invoice.customer_id, self.invoice.id
        )
    }

    pub fn history_link(&self) -> String {
        format!("/audit?entity_type=invoice&entity_id={}", self.invoice.id)
    }
}

async fn show(
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Query(query): Query<InvoiceQuery>,
) -> Result<Response, Failure> {
    page(ctx, id, query, FormState::default(), None).await
}

/// A list the person may not read (403) is left off the page; any other refusal is the error
/// page.
async fn optional_list<T: serde::de::DeserializeOwned>(
    ctx: &mut Ctx,
    uri: String,
) -> Result<Option<Vec<T>>, Failure> {
    let reply = ctx.api(ApiRequest::new(Method::GET, uri)).await;
    if reply.status == StatusCode::FORBIDDEN {
        return Ok(None);
    }
    Ok(Some(ctx.expect::<Page<T>>(reply)?.data))
}

/// Renders the page; `form` and `status` are set when it answers a refused form, shown in the
/// dialog `query.dialog` names.
pub async fn page(
    mut ctx: Ctx,
    id: Uuid,
    query: InvoiceQuery,
    form: FormState,
    status: Option<StatusCode>,
) -> Result<Response, Failure> {
    let me = ctx.staff().await?;
    let invoice: InvoiceView = ctx.get(format!("/api/invoices/{id}")).await?;
    let customer_reply = ctx
        .api(ApiRequest::new(
            Method::GET,
            format!("/api/customers/{}", invoice.customer_id),
        ))
        .await;
    let customer: Option<CustomerView> = if customer_reply.ok() {
        Some(customer_reply.json()?)
    } else {
        None
    };
    let customer_name = invoice
        .customer
        .as_ref()
        .and_then(|c| c.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .or_else(|| customer.as_ref().map(|c| c.name.clone()))
        .unwrap_or_else(|| invoice.customer_id.to_string());
    let payments: Page<PaymentView> = ctx
        .get(format!("/api/payments?invoice_id={id}&limit=200"))
        .await?;
    let credit_notes: Page<CreditNoteView> =
        ctx.get(format!("/api/invoices/{id}/credit-notes")).await?;
    // Documents are issued from the day of the invoice's issue on (none for a draft).
    let tax_documents: Vec<TaxDocumentView> = match invoice.issued_at {
        Some(issued) => {
            let since = optional_list::<TaxDocumentView>(
                &mut ctx,
                format!(
                    "/api/tax-documents?customer_id={}&from={}&limit=200",
                    invoice.customer_id,
                    satang_domain::period::bangkok_date(issued).format("%Y-%m-%d")
                ),
            )
            .await?
            .unwrap_or_default();
            super::tax_docs_of_invoice(&since, &id)
                .into_iter()
                .cloned()
                .collect()
        }
        None => Vec::new(),
    };
    let emails: Page<EmailView> = ctx
        .get(format!("/api/invoices/{id}/emails?limit=200"))
        .await?;
    let history = optional_list::<AuditEventView>(
        &mut ctx,
        format!("/api/audit-events?entity_type=invoice&entity_id={id}&limit=50"),
    )
    .await?;
    let mut actors = HashMap::new();
    if history.is_some() && me.is_admin() {
        let users: Page<UserView> = ctx.get("/api/users?limit=200").await?;
        actors.extend(users.data.into_iter().map(|u| (u.id, u.name)));
    }
    actors.insert(me.id, me.name.clone());
    let mut c = ctx.chrome("billing", Some(me.clone()));
    c.notice = notice_text(&c.tr, &query.notice);
    let credit_rows = invoice_forms::credit_rows(&invoice);
    let page = InvoicePage {
        c,
        customer_name,
        customer,
        payments: payments.data,
        credit_notes: credit_notes.data,
        tax_documents,
        unsigned: ctx.console.app.etax_signers.current().is_none(),
        emails: emails.data,
        history,
        actors,
        can_bill: me.can_bill(),
        today: super::payments::today(&ctx),
        credit_rows,
        dialog: query.dialog,
        form,
        invoice,
    };
    let mut response = render(&page);
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    Ok(response)
}
