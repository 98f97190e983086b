//! The console's routes, the frame every page shares ([`Chrome`]), static files and the
//! language and theme toggles.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod bank_statements;
pub mod billing;
pub mod coupons;
pub mod customers;
pub mod imports;
pub mod invoice_forms;
pub mod invoices;
pub mod pay;
pub mod payments;
pub mod plans;
pub mod portal;
pub mod reports;
pub mod settings;
pub mod users;
pub mod webhooks;

use std::borrow::Borrow;
use std::sync::{Arc, LazyLock};

use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use satang_api::pagination::Page;
use satang_api::routes::plans::{PlanView, Pricing};
use satang_api::routes::tax_documents::TaxDocumentView;

use crate::i18n::Tr;
use crate::session::{CsrfForm, Ctx, LANG_COOKIE, THEME_COOKIE, Theme};
use crate::{Console, Failure, format};

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/", get(home))
        .route("/static/{file}", get(static_file))
        .route("/preferences", post(preferences))
        .route("/invoices/{id}/pdf", get(invoice_pdf))
        .route("/tax-documents/{id}/pdf", get(tax_document_pdf))
        .route("/tax-documents/{id}/xml", get(tax_document_xml))
        .merge(auth::router())
        .merge(customers::router())
        .merge(invoices::router())
        .merge(portal::router())
        .merge(billing::router())
        .merge(payments::router())
        .merge(plans::router())
        .merge(users::router())
        .merge(webhooks::router())
        .merge(api_keys::router())
        .merge(audit::router())
        .merge(settings::router())
        .merge(bank_statements::router())
        .merge(reports::router())
        .merge(imports::router())
        .merge(pay::router())
}

const APP_CSS: &str = include_str!("../../static/app.css");
const APP_JS: &str = include_str!("../../static/app.js");
const CARD_JS: &str = include_str!("../../static/card.js");

/// Changes with the static files, so browsers may cache them for a year.
pub static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::new()
        .chain_update(APP_CSS)
        .chain_update(APP_JS)
        .chain_update(CARD_JS)
        .finalize();
    hex_prefix(&digest[..5])
});

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn static_file(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "card.js" => (CARD_JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Percent-encodes a value for a query string.
pub fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .map(|s| s[2..].to_owned())
        .unwrap_or_default()
}

/// A path inside this site to go back to; anything else becomes `/`.
pub fn local_path(back: &str) -> &str {
    if back.starts_with('/') && !back.starts_with("//") && !back.starts_with("/\\") {
        back
    } else {
        "/"
    }
}

/// The signed-in person, as `GET /api/auth/me` describes them.
#[derive(Debug, Clone, Deserialize)]
pub struct Me {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub memberships: Vec<Membership>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Membership {
    pub customer_id: Uuid,
    pub customer_name: String,
    pub role: String,
}

impl Me {
    pub fn is_staff(&self) -> bool {
        !self.roles.is_empty()
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }

    /// May change customers, contacts and members (admin, support).
    pub fn can_edit_customers(&self) -> bool {
        self.has_role("admin") || self.has_role("support")
    }

    /// May change subscriptions, invoices and payments (admin, billing).
    pub fn can_bill(&self) -> bool {
        self.has_role("admin") || self.has_role("billing")
    }
}

impl Ctx {
    /// The signed-in person; not signed in → the login page, then back here.
    pub async fn me(&mut self) -> Result<Me, Failure> {
        if self.tokens.is_none() {
            return Err(Failure::SignIn {
                next: self.here.clone(),
            });
        }
        self.get("/api/auth/me").await
    }

    /// The signed-in staff member; a member is sent to the portal.
    pub async fn staff(&mut self) -> Result<Me, Failure> {
        let me = self.me().await?;
        if me.is_staff() {
            Ok(me)
        } else {
            Err(Failure::Forbidden)
        }
    }

    /// The frame of a page in `section` of the navigation.
    pub fn chrome(&self, section: &'static str, me: Option<Me>) -> Chrome {
        Chrome {
            tr: self.tr(),
            lang: self.lang.code(),
            theme: self.theme.code(),
            csrf: self.csrf.clone(),
            here: self.here.clone(),
            section,
            user: me,
            asset_version: ASSET_VERSION.as_str(),
            notice: None,
        }
    }
}

/// What the layout shows around every page: navigation, toggles, the person, a notice.
pub struct Chrome {
    pub tr: Tr,
    pub lang: &'static str,
    pub theme: &'static str,
    pub csrf: String,
    pub here: String,
    pub section: &'static str,
    pub user: Option<Me>,
    pub asset_version: &'static str,
    /// A one-line confirmation after a change ("Customer saved").
    pub notice: Option<String>,
}

impl Chrome {
    pub fn t(&self, key: &str) -> String {
        self.tr.t(key)
    }

    pub fn t1(&self, key: &str, name: &str, value: impl ToString) -> String {
        self.tr.t1(key, name, value)
    }

    /// A message whose key is built from data (a status, a role): `prefix-value`. A value the
    /// catalogue has no message for shows as words (`usage_batch` → "Usage batch"), never as
    /// its key.
    pub fn tk(&self, prefix: &str, value: &str) -> String {
        let key = format!("{prefix}-{value}");
        if self.tr.has(&key) {
            self.tr.t(&key)
        } else {
            tracing::warn!(key, lang = self.lang, "missing console message");
            format::readable_code(value)
        }
    }

    pub fn money(&self, minor: impl Borrow<i64>, currency: &str) -> String {
        format::money(*minor.borrow(), currency)
    }

    /// A calendar date: "24 พ.ย. 2569" / "24 Nov 2026".
    pub fn day(&self, date: impl Borrow<NaiveDate>) -> String {
        format::date(self.tr.lang, *date.borrow())
    }

    pub fn oday(&self, date: impl Borrow<Option<NaiveDate>>) -> String {
        date.borrow()
            .map_or_else(|| "—".to_owned(), |d| self.day(d))
    }

    /// A moment, as its date in Thailand.
    pub fn time(&self, at: impl Borrow<DateTime<Utc>>) -> String {
        format::date(
            self.tr.lang,
            satang_domain::period::bangkok_date(*at.borrow()),
        )
    }

    pub fn otime(&self, at: impl Borrow<Option<DateTime<Utc>>>) -> String {
        at.borrow().map_or_else(|| "—".to_owned(), |t| self.time(t))
    }

    /// A plan feature's name from the catalogue; one an admin invented shows as written.
    pub fn feature(&self, feature: &str) -> String {
        billing::label_or_raw(self, "feature", feature)
    }

    /// A plan's name in the page's language.
    pub fn plan_name(&self, plan: &PlanView) -> String {
        if self.lang == "th" {
            plan.name.th.clone()
        } else {
            plan.name.en.clone()
        }
    }

    /// "TEAM — ฿490.00 / seat / month", for plan pickers.
    pub fn plan_label(&self, plan: &PlanView) -> String {
        let name = self.plan_name(plan);
        let price = self.money(plan.price, &plan.currency);
        let interval = self.tk("interval", plan.interval.as_str());
        if plan.pricing == Pricing::PerSeat {
            format!("{name} — {price} / {} / {interval}", self.t("per-seat"))
        } else {
            format!("{name} — {price} / {interval}")
        }
    }

    /// "Changes to TEAM on 1 Dec 2026".
    pub fn pending(&self, plan: &str, date: impl Borrow<NaiveDate>) -> String {
        self.tr.t2(
            "subscription-pending",
            ("plan", plan),
            ("date", self.day(date)),
        )
    }

    pub fn is(&self, section: &str) -> bool {
        self.section == section
    }

    pub fn staff(&self) -> bool {
        self.user.as_ref().is_some_and(Me::is_staff)
    }

    pub fn admin(&self) -> bool {
        self.user.as_ref().is_some_and(Me::is_admin)
    }

    /// Admins and billing staff: they record payments and import books.
    pub fn bills(&self) -> bool {
        self.user.as_ref().is_some_and(Me::can_bill)
    }

    pub fn member(&self) -> bool {
        self.user
            .as_ref()
            .is_some_and(|u| !u.memberships.is_empty())
    }

    /// The other language, offered by the toggle.
    pub fn other_lang(&self) -> &'static str {
        if self.lang == "th" { "en" } else { "th" }
    }

    pub fn other_theme(&self) -> &'static str {
        if self.theme == "dark" {
            "light"
        } else {
            "dark"
        }
    }

    /// A fresh key for a form, so a repeated submission is one change.
    pub fn form_key(&self) -> String {
        Uuid::new_v4().to_string()
    }
}

/// Shown instead of a page that could not be shown.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub lang: &'static str,
    pub theme: &'static str,
    pub title: String,
    pub detail: String,
    pub home: String,
    pub asset_version: &'static str,
}

/// `/`: staff to customer management, members to their portal, others to sign in.
async fn home(mut ctx: Ctx) -> Result<Response, Failure> {
    if crate::pages::auth::needs_first_admin(&ctx).await? {
        return Ok(Redirect::to("/setup").into_response());
    }
    let me = ctx.me().await?;
    Ok(if me.is_staff() {
        Redirect::to("/customers").into_response()
    } else {
        Redirect::to("/portal").into_response()
    })
}

#[derive(Deserialize)]
struct Preferences {
    lang: Option<String>,
    theme: Option<String>,
    #[serde(default)]
    back: String,
}

/// The language and theme toggles: a cookie each, then back to the page.
async fn preferences(ctx: Ctx, CsrfForm(form): CsrfForm<Preferences>) -> Response {
    let year = Some(std::time::Duration::from_secs(365 * 24 * 3600));
    let secure = ctx.console.secure_cookies;
    if let Some(lang) = form.lang.as_deref().and_then(crate::i18n::Lang::parse) {
        ctx.jar.set(LANG_COOKIE, lang.code(), year, secure);
    }
    if let Some(theme) = form.theme.as_deref().and_then(Theme::parse) {
        ctx.jar.set(THEME_COOKIE, theme.code(), year, secure);
    }
    Redirect::to(local_path(&form.back)).into_response()
}

/// An invoice's PDF for a signed-in person (staff, or a member of the invoice's customer):
/// the API's document, passed through with the session's token, named by the invoice's
/// number as the API names it (`INV-2030-000001.pdf`).
async fn invoice_pdf(ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, Failure> {
    download(
        ctx,
        format!("/api/invoices/{id}/pdf"),
        "application/pdf",
        format!("invoice-{id}.pdf"),
    )
    .await
}

/// The file name in an API answer's `Content-Disposition` (`inline; filename="X.pdf"`), when
/// it is a plain one.
fn disposition_filename(disposition: &str) -> Option<&str> {
    let name = disposition.split("filename=\"").nth(1)?.split('"').next()?;
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    plain.then_some(name)
}

/// A tax document's PDF/A-3 (its XML inside), for staff or a member of its customer.
async fn tax_document_pdf(ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, Failure> {
    download(
        ctx,
        format!("/api/tax-documents/{id}/pdf"),
        "application/pdf",
        format!("tax-document-{id}.pdf"),
    )
    .await
}

/// A tax document's e-Tax XML (signed when a certificate is configured).
async fn tax_document_xml(ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, Failure> {
    download(
        ctx,
        format!("/api/tax-documents/{id}/xml"),
        "application/xml",
        format!("tax-document-{id}.xml"),
    )
    .await
}

/// A document of the API, passed through with the session's token as an attachment; a refusal
/// (someone else's document: 404) is the page that fits it.
async fn download(
    mut ctx: Ctx,
    uri: String,
    content_type: &'static str,
    filename: String,
) -> Result<Response, Failure> {
    ctx.me().await?;
    let reply = ctx
        .api(crate::client::ApiRequest::new(axum::http::Method::GET, uri))
        .await;
    if !reply.ok() {
        return Err(Failure::from_status(reply.status, &ctx.here));
    }
    let filename = reply
        .content_disposition
        .as_deref()
        .and_then(disposition_filename)
        .map_or(filename, str::to_owned);
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        reply.body,
    )
        .into_response())
}

/// The tax documents issued to a customer (receipts, tax invoices, credit notes), newest
/// first as the API lists them; none for a person who may not read billing.
pub async fn tax_documents_of(
    ctx: &mut Ctx,
    customer: Uuid,
) -> Result<Vec<TaxDocumentView>, Failure> {
    let reply = ctx
        .api(crate::client::ApiRequest::new(
            axum::http::Method::GET,
            format!("/api/tax-documents?customer_id={customer}&limit=200"),
        ))
        .await;
    if reply.status == axum::http::StatusCode::FORBIDDEN {
        return Ok(Vec::new());
    }
    Ok(ctx.expect::<Page<TaxDocumentView>>(reply)?.data)
}

/// The documents of `docs` issued for `invoice`, oldest first.
pub fn tax_docs_of_invoice<'a>(
    docs: &'a [TaxDocumentView],
    invoice: &Uuid,
) -> Vec<&'a TaxDocumentView> {
    let mut of: Vec<&TaxDocumentView> = docs.iter().filter(|d| d.invoice_id == *invoice).collect();
    of.sort_by(|a, b| (a.issued_at, &a.number).cmp(&(b.issued_at, &b.number)));
    of
}

/// Form fields as posted, the CSRF token and form key included.
pub type Fields = std::collections::BTreeMap<String, String>;

/// Form fields as they were entered (everything but the CSRF and form keys), to fill a refused
/// form in again.
pub fn entered(fields: &Fields) -> Fields {
    fields
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A page with a card form: its CSP also allows the payment provider's script and what the
/// script talks to (every other page keeps `script-src 'self'`).
pub fn allow_provider_script(response: &mut axum::response::Response, provider: &str) {
    if let Some(p) = satang_billing::providers::Provider::parse(provider) {
        response.headers_mut().insert(
            axum::http::header::CONTENT_SECURITY_POLICY,
            axum::http::HeaderValue::from_static(p.card_page_csp()),
        );
    }
}

/// A posted field, trimmed; empty when absent.
pub fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map_or("", |v| v.trim())
}

/// A refused change as a form to show again: the values entered, the API's field errors in the
/// person's language (`a.b` fields as `a_b`, the names the forms use), or a message about the
/// whole form. Refusals that are not about the form (not signed in, not found, a failure)
/// become the error page.
pub fn refusal(
    ctx: &Ctx,
    values: Fields,
    reply: &crate::client::ApiReply,
) -> Result<auth::FormState, Failure> {
    let tr = ctx.tr();
    let problem = reply.problem();
    let message_key = match reply.status.as_u16() {
        422 | 400 => None,
        409 => Some("form-conflict"),
        403 => Some("form-forbidden"),
        _ => return Err(Failure::from_status(reply.status, &ctx.here)),
    };
    let errors: std::collections::BTreeMap<String, Vec<String>> = problem
        .errors
        .into_iter()
        .map(|(k, v)| (k.replace('.', "_"), v))
        .collect();
    let mut form = auth::FormState {
        values,
        errors: auth::field_errors(&tr, &errors),
        message: message_key.map(|k| tr.t(k)),
    };
    if form.errors.is_empty() && form.message.is_none() {
        form.message = Some(problem.detail.unwrap_or(problem.title));
    }
    Ok(form)
}

/// Deletes `uri` on the person's behalf: a redirect to `done` when the API agreed, else the
/// refusal to show again on the page (its form and status; see [`refusal`]).
pub async fn delete_then(
    ctx: &mut Ctx,
    uri: String,
    done: &str,
) -> Result<Result<Response, (auth::FormState, StatusCode)>, Failure> {
    let reply = ctx.send(axum::http::Method::DELETE, uri, None, None).await;
    if reply.ok() {
        return Ok(Ok(Redirect::to(done).into_response()));
    }
    Ok(Err((refusal(ctx, Fields::new(), &reply)?, reply.status)))
}

/// The notice a page shows after a change (`?notice=…` → the `notice-…` message), when the
/// catalogue has one.
pub fn notice_text(tr: &Tr, notice: &str) -> Option<String> {
    let key = format!("notice-{notice}");
    (!notice.is_empty() && tr.has(&key)).then(|| tr.t(&key))
}
