//! Customer Management (`/customers`): the list with search and paging beside the selected
//! customer's panel — header actions, statistics cards, and the Overview, Subscriptions,
//! Contacts, Users and Invoices tabs — with create/edit dialogs and the proration preview
//! before a plan change. Every figure is read from the API; every change goes through it.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use satang_api::pagination::Page;
use satang_api::routes::contacts::ContactView;
use satang_api::routes::credit_grants::CreditGrantView;
use satang_api::routes::customers::CustomerView;
use satang_api::routes::entitlements::EntitlementsView;
use satang_api::routes::invoices::InvoiceView;
use satang_api::routes::members::MemberView;
use satang_api::routes::plans::{PlanInterval, PlanView, Pricing};
use satang_api::routes::subscriptions::change_plan::ChangePlanResponse;
use satang_api::routes::subscriptions::{SubscriptionView, UpcomingInvoiceView};
use satang_api::routes::tax_documents::TaxDocumentView;
use satang_domain::money::round_half_up_div;
use satang_domain::{CustomerStatus, Status};

use super::auth::FormState;
use super::{Chrome, Fields, encode, entered, field, refusal};
use crate::client::ApiReply;
use crate::session::{CsrfForm, Ctx};
use crate::{Console, Failure, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/customers", get(index).post(create))
        .route("/customers/{id}", get(show))
        .route("/customers/{id}/edit", post(edit))
        .route("/customers/{id}/status", post(set_status))
        .route("/customers/{id}/delete", post(delete))
        .route("/customers/{id}/restore", post(restore))
        .route("/customers/{id}/contacts", post(add_contact))
        .route(
            "/customers/{id}/contacts/{contact}/edit",
            post(edit_contact),
        )
        .route(
            "/customers/{id}/contacts/{contact}/delete",
            post(delete_contact),
        )
        .route("/customers/{id}/members", post(add_member))
        .route("/customers/{id}/members/{user}/delete", post(remove_member))
        .route("/customers/{id}/subscriptions", post(subscribe))
        .route(
            "/customers/{id}/subscriptions/{subscription}/change-plan",
            get(preview_change).post(change_plan),
        )
        .route(
            "/customers/{id}/subscriptions/{subscription}/discount",
            post(apply_discount),
        )
        .route(
            "/customers/{id}/subscriptions/{subscription}/{action}",
            post(subscription_action),
        )
        .route("/customers/{id}/credit-grants", post(grant_credit))
        .route(
            "/customers/{id}/credit-grants/{grant}/void",
            post(void_credit),
        )
}

const PAGE_SIZE: usize = 25;
const TABS: [&str; 6] = [
    "overview",
    "subscriptions",
    "contacts",
    "users",
    "invoices",
    "credits",
];

/// The list's state, carried in every link so the sidebar stays where it was.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    tab: String,
    #[serde(default)]
    dialog: String,
    #[serde(default)]
    notice: String,
}

impl ListQuery {
    fn list_params(&self) -> String {
        let mut pairs = Vec::new();
        if !self.q.is_empty() {
            pairs.push(format!("q={}", encode(&self.q)));
        }
        if !self.status.is_empty() {
            pairs.push(format!("status={}", encode(&self.status)));
        }
        if !self.cursor.is_empty() {
            pairs.push(format!("cursor={}", encode(&self.cursor)));
        }
        pairs.join("&")
    }
}

/// A customer's subscription with what the page shows beside it.
pub struct SubscriptionRow {
    pub sub: SubscriptionView,
    pub plan_name: String,
    pub amount: i64,
    pub currency: String,
    pub interval: String,
    pub per_seat: bool,
    pub open: bool,
}

/// The selected customer and what its tabs show.
pub struct Selected {
    pub customer: CustomerView,
    pub subscriptions: Vec<SubscriptionRow>,
    pub contacts: Vec<ContactView>,
    pub members: Vec<MemberView>,
    pub invoices: Vec<InvoiceView>,
    /// What the live subscriptions grant (read for the subscriptions tab only).
    pub entitlements: Option<EntitlementsView>,
    /// The invoice the next billing run would issue, per subscription that has one (read for
    /// the subscriptions tab only).
    pub upcoming: Vec<UpcomingInvoiceView>,
    /// The customer's credit grants (read for the credits tab only).
    pub credit_grants: Vec<CreditGrantView>,
    /// The customer's tax documents (read for the invoices tab only).
    pub tax_documents: Vec<TaxDocumentView>,
    /// No e-Tax signing certificate is configured: the documents are issued unsigned.
    pub unsigned: bool,
    pub mrr: i64,
    pub outstanding: i64,
    pub open_invoices: usize,
}

impl Selected {
    /// The tax documents issued for one invoice, oldest first.
    pub fn tax_docs(&self, invoice: impl Borrow<Uuid>) -> Vec<&TaxDocumentView> {
        super::tax_docs_of_invoice(&self.tax_documents, invoice.borrow())
    }
}

/// An address on one line: its parts from the house number to the postal code, the empty ones
/// left out (the customer page and the seller profile).
pub(crate) fn address_line(parts: [&Option<String>; 6]) -> String {
    parts
        .into_iter()
        .filter_map(|v| v.as_deref())
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Selected {
    pub fn address_line(&self) -> String {
        let Some(a) = &self.customer.address else {
            return String::new();
        };
        address_line([
            &a.line1,
            &a.line2,
            &a.subdistrict,
            &a.district,
            &a.province,
            &a.postal_code,
        ])
    }

    pub fn address_field(&self, key: &str) -> String {
        let Some(a) = &self.customer.address else {
            return String::new();
        };
        let value = match key {
            "line1" => &a.line1,
            "line2" => &a.line2,
            "subdistrict" => &a.subdistrict,
            "district" => &a.district,
            "province" => &a.province,
            "postal_code" => &a.postal_code,
            "country" => &a.country,
            _ => &None,
        };
        value.clone().unwrap_or_default()
    }
}

/// A change-plan preview waiting for confirmation.
pub struct Preview {
    pub subscription_id: Uuid,
    pub plan_id: Uuid,
    pub plan_name: String,
    pub quantity: i64,
    pub response: ChangePlanResponse,
}

impl Preview {
    pub fn immediate(&self) -> bool {
        matches!(
            self.response.effective,
            satang_api::routes::subscriptions::change_plan::Effective::Immediately
        )
    }
}

#[derive(Template)]
#[template(path = "customers.html")]
pub struct CustomersPage {
    pub c: Chrome,
    pub query: ListQuery,
    pub list_params: String,
    pub list: Vec<CustomerView>,
    pub next_cursor: Option<String>,
    pub selected: Option<Selected>,
    pub tab: &'static str,
    pub dialog: String,
    pub form: FormState,
    pub plans: Vec<PlanView>,
    pub preview: Option<Preview>,
    pub can_edit: bool,
    pub can_bill: bool,
}

impl CustomersPage {
    /// A link to this page with another customer, tab or dialog, keeping the list's state.
    pub fn link(&self, id: impl Borrow<Uuid>, tab: &str, dialog: &str) -> String {
        let id = id.borrow();
        let mut url = format!("/customers/{id}?tab={tab}");
        if !dialog.is_empty() {
            url.push_str(&format!("&dialog={}", encode(dialog)));
        }
        if !self.list_params.is_empty() {
            url.push('&');
            url.push_str(&self.list_params);
        }
        url
    }

    pub fn is_selected(&self, id: impl Borrow<Uuid>) -> bool {
        let id = *id.borrow();
        self.selected.as_ref().is_some_and(|s| s.customer.id == id)
    }

    pub fn dialog_is(&self, name: &str) -> bool {
        self.dialog == name
    }

    pub fn next_page(&self) -> Option<String> {
        let cursor = self.next_cursor.as_ref()?;
        let mut url = format!("/customers?cursor={}", encode(cursor));
        if !self.query.q.is_empty() {
            url.push_str(&format!("&q={}", encode(&self.query.q)));
        }
        if !self.query.status.is_empty() {
            url.push_str(&format!("&status={}", encode(&self.query.status)));
        }
        Some(url)
    }
}

/// What a subscription brings in per month: the period's price (per seat when so priced)
/// spread over its months, rounded half-up like the analytics.
fn monthly_amount(plan: &PlanView, quantity: i64) -> i64 {
    let per_period = if plan.pricing == Pricing::PerSeat {
        plan.price.saturating_mul(quantity)
    } else {
        plan.price
    };
    let months = match plan.interval {
        PlanInterval::Month => plan.interval_count,
        PlanInterval::Year => plan.interval_count.saturating_mul(12),
    }
    .max(1);
    round_half_up_div(per_period as i128, months as i128).unwrap_or(0)
}

async fn index(ctx: Ctx, Query(query): Query<ListQuery>) -> Result<Response, Failure> {
    page(ctx, None, query, None, FormState::default(), None).await
}

async fn show(
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Failure> {
    page(ctx, Some(id), query, None, FormState::default(), None).await
}

/// Renders the page: the list, and the selected customer when there is one. `status` is set
/// when the page answers a refused form (422 with the dialog open again).
async fn page(
    mut ctx: Ctx,
    selected_id: Option<Uuid>,
    query: ListQuery,
    preview: Option<Preview>,
    form: FormState,
    status: Option<StatusCode>,
) -> Result<Response, Failure> {
    let me = ctx.staff().await?;
    let mut list_uri = format!("/api/customers?limit={PAGE_SIZE}");
    if !query.q.trim().is_empty() {
        list_uri.push_str(&format!("&q={}", encode(query.q.trim())));
    }
    if let Some(status) = CustomerStatus::parse(&query.status) {
        list_uri.push_str(&format!("&status={status}"));
    }
    if !query.cursor.is_empty() {
        list_uri.push_str(&format!("&cursor={}", encode(&query.cursor)));
    }
    let list_reply = ctx
        .api(crate::client::ApiRequest::new(Method::GET, list_uri))
        .await;
    // A search the API refuses (a bad cursor, say) shows an empty list, not an error page.
    let list: Page<CustomerView> = if list_reply.ok() {
        list_reply.json()?
    } else if list_reply.status == StatusCode::UNAUTHORIZED {
        return Err(Failure::from_status(list_reply.status, &ctx.here));
    } else {
        Page {
            data: Vec::new(),
            next_cursor: None,
        }
    };
    let tab = TABS
        .iter()
        .copied()
        .find(|t| *t == query.tab)
        .unwrap_or("overview");
    let plans: Vec<PlanView> = ctx
        .get::<Page<PlanView>>("/api/plans?limit=200")
        .await?
        .data;
    let selected = match selected_id {
        Some(id) => Some(load_selected(&mut ctx, id, &plans, tab).await?),
        None => None,
    };
    let mut form = form;
    if query.dialog == "edit-customer"
        && form.values.is_empty()
        && let Some(sel) = &selected
    {
        form.values = customer_values(sel);
    }
    let mut c = ctx.chrome("customers", Some(me.clone()));
    if !query.notice.is_empty() {
        let key = format!("notice-{}", query.notice);
        if c.tr.has(&key) {
            c.notice = Some(c.t(&key));
        }
    }
    let page = CustomersPage {
        c,
        list_params: query.list_params(),
        dialog: query.dialog.clone(),
        query,
        list: list.data,
        next_cursor: list.next_cursor,
        selected,
        tab,
        form,
        plans,
        preview,
        can_edit: me.can_edit_customers(),
        can_bill: me.can_bill(),
    };
    let mut response = render(&page);
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    Ok(response)
}

async fn load_selected(
    ctx: &mut Ctx,
    id: Uuid,
    plans: &[PlanView],
    tab: &str,
) -> Result<Selected, Failure> {
    let customer: CustomerView = ctx.get(format!("/api/customers/{id}")).await?;
    let subscriptions: Page<SubscriptionView> = ctx
        .get(format!("/api/customers/{id}/subscriptions?limit=200"))
        .await?;
    let contacts: Page<ContactView> = ctx
        .get(format!("/api/customers/{id}/contacts?limit=200"))
        .await?;
    let invoices: Page<InvoiceView> = ctx
        .get(format!("/api/customers/{id}/invoices?limit=100"))
        .await?;
    let entitlements = if tab == "subscriptions" {
        Some(ctx.get(format!("/api/customers/{id}/entitlements")).await?)
    } else {
        None
    };
    let members: Vec<MemberView> = if tab == "users" {
        ctx.get::<Page<MemberView>>(format!("/api/customers/{id}/members?limit=200"))
            .await?
            .data
    } else {
        Vec::new()
    };
    let mut rows = Vec::new();
    let mut mrr = 0i64;
    for sub in subscriptions.data {
        // Grandfathered versions are not in the active catalogue: read them by id.
        let plan = match plans.iter().find(|p| p.id == sub.plan_id) {
            Some(p) => p.clone(),
            None => ctx.get(format!("/api/plans/{}", sub.plan_id)).await?,
        };
        let open = !sub.status.is_terminal();
        if matches!(sub.status, Status::Active | Status::PastDue) {
            mrr = mrr.saturating_add(monthly_amount(&plan, sub.quantity));
        }
        let name = if ctx.lang == crate::i18n::Lang::Th {
            plan.name.th.clone()
        } else {
            plan.name.en.clone()
        };
        rows.push(SubscriptionRow {
            plan_name: name,
            // A negotiated price is what the customer pays.
            amount: if plan.pricing == Pricing::PerSeat {
                sub.unit_price
                    .unwrap_or(plan.price)
                    .saturating_mul(sub.quantity)
            } else {
                sub.unit_price.unwrap_or(plan.price)
            },
            currency: plan.currency.clone(),
            interval: plan.interval.as_str().to_owned(),
            per_seat: plan.pricing == Pricing::PerSeat,
            open,
            sub,
        });
    }
    let mut upcoming = Vec::new();
    if tab == "subscriptions" {
        for row in rows
            .iter()
            .filter(|r| r.open && !r.sub.cancel_at_period_end)
        {
            // A paused subscription, or a period invoiced already, has none (409): not shown.
            let reply = ctx
                .api(crate::client::ApiRequest::new(
                    Method::GET,
                    format!("/api/subscriptions/{}/upcoming-invoice", row.sub.id),
                ))
                .await;
            if reply.ok() {
                upcoming.push(reply.json()?);
            } else if reply.status != StatusCode::CONFLICT {
                return Err(Failure::from_status(reply.status, &ctx.here));
            }
        }
    }
    let credit_grants = if tab == "credits" {
        ctx.get::<Page<CreditGrantView>>(format!("/api/customers/{id}/credit-grants?limit=200"))
            .await?
            .data
    } else {
        Vec::new()
    };
    let tax_documents = if tab == "invoices" {
        super::tax_documents_of(ctx, id).await?
    } else {
        Vec::new()
    };
    let open_invoices: Vec<&InvoiceView> = invoices
        .data
        .iter()
        .filter(|i| i.status.is_open())
        .collect();
    let outstanding = open_invoices.iter().map(|i| i.amount_due).sum();
    let open_count = open_invoices.len();
    Ok(Selected {
        customer,
        subscriptions: rows,
        contacts: contacts.data,
        members,
        invoices: invoices.data,
        entitlements,
        upcoming,
        credit_grants,
        tax_documents,
        unsigned: ctx.console.app.etax_signers.current().is_none(),
        mrr,
        outstanding,
        open_invoices: open_count,
    })
}

/// The edit dialog's fields, filled from the customer.
fn customer_values(sel: &Selected) -> BTreeMap<String, String> {
    let c = &sel.customer;
    let mut values = BTreeMap::new();
    let mut put = |k: &str, v: Option<&String>| {
        if let Some(v) = v {
            values.insert(k.to_owned(), v.clone());
        }
    };
    put("name", Some(&c.name));
    put("legal_name", c.legal_name.as_ref());
    put("tax_id", c.tax_id.as_ref());
    put("branch_code", c.branch_code.as_ref());
    put("email", c.email.as_ref());
    put("billing_email", c.billing_email.as_ref());
    put("phone", c.phone.as_ref());
    put("locale", Some(&c.locale));
    values.insert(
        "payment_terms_days".to_owned(),
        c.payment_terms_days.to_string(),
    );
    for key in [
        "line1",
        "subdistrict",
        "district",
        "province",
        "postal_code",
    ] {
        let v = sel.address_field(key);
        if !v.is_empty() {
            values.insert(format!("address_{key}"), v);
        }
    }
    values
}

/// A redirect after a change, with a notice, back to the customer and tab.
fn done(id: Uuid, tab: &str, notice: &str) -> Response {
    Redirect::to(&format!("/customers/{id}?tab={tab}&notice={notice}")).into_response()
}

/// After a refused change: the same page with the dialog open, the values entered and the
/// API's field errors in the person's language; other refusals become the error page.
async fn refused(
    ctx: Ctx,
    id: Option<Uuid>,
    tab: &str,
    dialog: &str,
    values: BTreeMap<String, String>,
    reply: ApiReply,
) -> Result<Response, Failure> {
    let form = refusal(&ctx, values, &reply)?;
    let query = ListQuery {
        tab: tab.to_owned(),
        dialog: dialog.to_owned(),
        ..ListQuery::default()
    };
    let status = reply.status;
    page(ctx, id, query, None, form, Some(status)).await
}

/// The customer page again on `tab` with `dialog` open, showing a refused form that another
/// module handles (the one-off invoice of [`super::invoice_forms::create`]).
pub(crate) async fn dialog_again(
    ctx: Ctx,
    id: Uuid,
    tab: &str,
    dialog: &str,
    form: FormState,
    status: StatusCode,
) -> Result<Response, Failure> {
    let query = ListQuery {
        tab: tab.to_owned(),
        dialog: dialog.to_owned(),
        ..ListQuery::default()
    };
    page(ctx, Some(id), query, None, form, Some(status)).await
}

/// The customer JSON of the create and edit dialogs. On create an empty field is left out; on
/// edit it clears the value (`null`), except the name, which is required.
fn customer_body(fields: &Fields, editing: bool) -> Value {
    let mut body = Map::new();
    for key in [
        "name",
        "legal_name",
        "tax_id",
        "branch_code",
        "email",
        "phone",
        "billing_email",
        "locale",
    ] {
        let value = field(fields, key);
        if !value.is_empty() {
            body.insert(key.to_owned(), json!(value));
        } else if editing && key != "name" && key != "locale" {
            body.insert(key.to_owned(), Value::Null);
        } else if key == "name" {
            body.insert(key.to_owned(), json!(""));
        }
    }
    let terms = field(fields, "payment_terms_days");
    if !terms.is_empty() {
        body.insert(
            "payment_terms_days".to_owned(),
            terms
                .parse::<i64>()
                .map_or_else(|_| json!(terms), |n| json!(n)),
        );
    }
    let mut address = Map::new();
    for key in [
        "line1",
        "line2",
        "subdistrict",
        "district",
        "province",
        "postal_code",
    ] {
        let value = field(fields, &format!("address_{key}"));
        if !value.is_empty() {
            address.insert(key.to_owned(), json!(value));
        }
    }
    if !address.is_empty() {
        address.insert("country".to_owned(), json!("TH"));
        body.insert("address".to_owned(), Value::Object(address));
    } else if editing {
        body.insert("address".to_owned(), Value::Null);
    }
    Value::Object(body)
}

async fn create(mut ctx: Ctx, CsrfForm(fields): CsrfForm<Fields>) -> Result<Response, Failure> {
    let reply = ctx
        .send(
            Method::POST,
            "/api/customers",
            Some(customer_body(&fields, false)),
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        let created: CustomerView = reply.json()?;
        return Ok(done(created.id, "overview", "customer-created"));
    }
    refused(
        ctx,
        None,
        "overview",
        "new-customer",
        entered(&fields),
        reply,
    )
    .await
}

async fn edit(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let mut request = crate::client::ApiRequest::new(Method::PATCH, format!("/api/customers/{id}"))
        .json(customer_body(&fields, true));
    request.if_match = fields.get("_version").cloned();
    let reply = ctx.api(request).await;
    if reply.ok() {
        return Ok(done(id, "overview", "customer-saved"));
    }
    refused(
        ctx,
        Some(id),
        "overview",
        "edit-customer",
        entered(&fields),
        reply,
    )
    .await
}

/// One change on the customer's behalf: what to send, and where the person goes after.
struct Change<'a> {
    method: Method,
    uri: String,
    body: Option<Value>,
    /// The tab to show afterwards, and the notice on success.
    tab: &'a str,
    notice: &'a str,
    /// The dialog to open again, with the values entered, when the API refuses.
    dialog: &'a str,
    values: Fields,
}

/// Sends `change` (with the form's idempotency key) and answers with the customer's page: the
/// notice on success, the refusal in its dialog otherwise.
async fn apply(
    mut ctx: Ctx,
    id: Uuid,
    fields: &Fields,
    change: Change<'_>,
) -> Result<Response, Failure> {
    let reply = ctx
        .send(
            change.method,
            change.uri,
            change.body,
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        return Ok(done(id, change.tab, change.notice));
    }
    refused(
        ctx,
        Some(id),
        change.tab,
        change.dialog,
        change.values,
        reply,
    )
    .await
}

async fn set_status(
    ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let status = field(&fields, "status").to_owned();
    let notice = format!("customer-{status}");
    let change = Change {
        method: Method::PATCH,
        uri: format!("/api/customers/{id}"),
        body: Some(json!({ "status": status })),
        tab: "overview",
        notice: &notice,
        dialog: "",
        values: Fields::new(),
    };
    apply(ctx, id, &Fields::new(), change).await
}

async fn delete(
    ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let change = Change {
        method: Method::DELETE,
        uri: format!("/api/customers/{id}"),
        body: None,
        tab: "overview",
        notice: "customer-deleted",
        dialog: "",
        values: Fields::new(),
    };
    apply(ctx, id, &Fields::new(), change).await
}

async fn restore(
    ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let change = Change {
        method: Method::POST,
        uri: format!("/api/customers/{id}/restore"),
        body: None,
        tab: "overview",
        notice: "customer-restored",
        dialog: "",
        values: Fields::new(),
    };
    apply(ctx, id, &fields, change).await
}

/// A contact's JSON; an empty optional field is `null` (absent on create, cleared on edit).
fn contact_body(fields: &Fields) -> Value {
    let optional = |key: &str| {
        let v = field(fields, key);
        if v.is_empty() { Value::Null } else { json!(v) }
    };
    json!({
        "name": field(fields, "name"),
        "email": optional("email"),
        "phone": optional("phone"),
        "role": field(fields, "role"),
        "is_primary": field(fields, "is_primary") == "on",
    })
}

async fn add_contact(
    ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let change = Change {
        method: Method::POST,
        uri: format!("/api/customers/{id}/contacts"),
        body: Some(contact_body(&fields)),
        tab: "contacts",
        notice: "contact-added",
        dialog: "new-contact",
        values: entered(&fields),
    };
    apply(ctx, id, &fields, change).await
}

async fn edit_contact(
    ctx: Ctx,
    Path((id, contact)): Path<(Uuid, Uuid)>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let dialog = format!("contact-{contact}");
    let change = Change {
        method: Method::PATCH,
        uri: format!("/api/customers/{id}/contacts/{contact}"),
        body: Some(contact_body(&fields)),
        tab: "contacts",
        notice: "contact-saved",
        dialog: &dialog,
        values: entered(&fields),
    };
    apply(ctx, id, &Fields::new(), change).await
}

async fn delete_contact(
    ctx: Ctx,
    Path((id, contact)): Path<(Uuid, Uuid)>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let change = Change {
        method: Method::DELETE,
        uri: format!("/api/customers/{id}/contacts/{contact}"),
        body: None,
        tab: "contacts",
        notice: "contact-deleted",
        dialog: "",
        values: Fields::new(),
    };
    apply(ctx, id, &Fields::new(), change).await
}

async fn add_member(
    ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let change = Change {
        method: Method::POST,
        uri: format!("/api/customers/{id}/members"),
        body: Some(json!({ "email": field(&fields, "email"), "role": field(&fields, "role") })),
        tab: "users",
        notice: "member-added",
        dialog: "new-member",
        values: entered(&fields),
    };
    apply(ctx, id, &fields, change).await
}

async fn remove_member(
    ctx: Ctx,
    Path((id, user)): Path<(Uuid, Uuid)>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let change = Change {
        method: Method::DELETE,
        uri: format!("/api/customers/{id}/members/{user}"),
        body: None,
        tab: "users",
        notice: "member-removed",
        dialog: "",
        values: Fields::new(),
    };
    apply(ctx, id, &Fields::new(), change).await
}

async fn subscribe(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let mut body = json!({
        "customer_id": id,
        "plan_id": field(&fields, "plan_id"),
        "collection_method": if field(&fields, "collection_method") == "send_invoice" { "send_invoice" } else { "charge_automatically" },
    });
    let quantity = field(&fields, "quantity");
    if !quantity.is_empty() {
        body["quantity"] = quantity
            .parse::<i64>()
            .map_or_else(|_| json!(quantity), |n| json!(n));
    }
    let trial = field(&fields, "trial_days");
    if !trial.is_empty() {
        body["trial_days"] = trial
            .parse::<i64>()
            .map_or_else(|_| json!(trial), |n| json!(n));
    }
    let reply = ctx
        .send(
            Method::POST,
            "/api/subscriptions",
            Some(body),
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        return Ok(done(id, "subscriptions", "subscription-created"));
    }
    refused(
        ctx,
        Some(id),
        "subscriptions",
        "new-subscription",
        entered(&fields),
        reply,
    )
    .await
}

async fn subscription_action(
    mut ctx: Ctx,
    Path((id, subscription, action)): Path<(Uuid, Uuid, String)>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let (method, path, body) = match action.as_str() {
        "pause" | "resume" => (Method::POST, action.as_str(), None),
        "cancel" => (
            Method::POST,
            "cancel",
            Some(json!({ "at_period_end": field(&fields, "when") != "now" })),
        ),
        "remove-discount" => (Method::DELETE, "discount", None),
        _ => return Err(Failure::NotFound),
    };
    let reply = ctx
        .send(
            method,
            format!("/api/subscriptions/{subscription}/{path}"),
            body,
            fields.get("_key").map(String::as_str),
        )
        .await;
    // Only the customer's own subscriptions are acted on from its page.
    if reply.ok() {
        let sub: SubscriptionView = reply.json()?;
        if sub.customer_id != id {
            return Err(Failure::NotFound);
        }
        return Ok(done(id, "subscriptions", &format!("subscription-{action}")));
    }
    refused(ctx, Some(id), "subscriptions", "", BTreeMap::new(), reply).await
}

/// Billing staff redeem a coupon on a subscription from its row (the dialog `discount-{id}`);
/// a refusal reopens the dialog with the reason by the code.
async fn apply_discount(
    mut ctx: Ctx,
    Path((id, subscription)): Path<(Uuid, Uuid)>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let reply = ctx
        .send(
            Method::POST,
            format!("/api/subscriptions/{subscription}/discount"),
            Some(json!({ "coupon": field(&fields, "coupon") })),
            None,
        )
        .await;
    if reply.ok() {
        let sub: SubscriptionView = reply.json()?;
        if sub.customer_id != id {
            return Err(Failure::NotFound);
        }
        return Ok(done(id, "subscriptions", "subscription-discount"));
    }
    let mut form = refusal(&ctx, entered(&fields), &reply)?;
    if reply.status == StatusCode::CONFLICT {
        // A used-up coupon or a discount already running: say which.
        let detail = reply.problem().detail.unwrap_or_default();
        let errors = BTreeMap::from([("coupon".to_owned(), vec![detail])]);
        form.errors = super::auth::field_errors(&ctx.tr(), &errors);
        form.message = None;
    }
    let query = ListQuery {
        tab: "subscriptions".to_owned(),
        dialog: format!("discount-{subscription}"),
        ..ListQuery::default()
    };
    let status = reply.status;
    page(ctx, Some(id), query, None, form, Some(status)).await
}

#[derive(Deserialize)]
pub(crate) struct ChangeQuery {
    #[serde(default)]
    pub plan_id: String,
    #[serde(default)]
    pub quantity: String,
}

pub(crate) fn change_body(plan_id: &str, quantity: &str, preview: bool) -> Value {
    let mut body = json!({ "plan_id": plan_id, "preview": preview });
    if !quantity.trim().is_empty() {
        body["quantity"] = quantity
            .trim()
            .parse::<i64>()
            .map_or_else(|_| json!(quantity), |n| json!(n));
    }
    body
}

/// `GET …/change-plan?plan_id=&quantity=`: the proration the change would invoice now, shown
/// in a dialog with a button that confirms exactly this change.
/// Asks the API what changing `subscription` of `customer` to the plan and seats would cost
/// now (`preview: true` changes nothing). The API's refusal is handed back to show in the form.
pub(crate) async fn preview_for(
    ctx: &mut Ctx,
    customer: Uuid,
    subscription: Uuid,
    change: &ChangeQuery,
) -> Result<Result<Preview, ApiReply>, Failure> {
    let reply = ctx
        .send(
            Method::POST,
            format!("/api/subscriptions/{subscription}/change-plan"),
            Some(change_body(&change.plan_id, &change.quantity, true)),
            None,
        )
        .await;
    if !reply.ok() {
        return Ok(Err(reply));
    }
    let response: ChangePlanResponse = reply.json()?;
    if response.subscription.customer_id != customer {
        return Err(Failure::NotFound);
    }
    let plan: PlanView = ctx.get(format!("/api/plans/{}", change.plan_id)).await?;
    let chrome = ctx.chrome("", None);
    Ok(Ok(Preview {
        subscription_id: subscription,
        plan_id: plan.id,
        plan_name: chrome.plan_name(&plan),
        quantity: change
            .quantity
            .trim()
            .parse()
            .unwrap_or(response.subscription.quantity),
        response,
    }))
}

/// Confirms the change the preview showed (the form repeats its plan and seats).
pub(crate) async fn confirm_change(ctx: &mut Ctx, subscription: Uuid, fields: &Fields) -> ApiReply {
    ctx.send(
        Method::POST,
        format!("/api/subscriptions/{subscription}/change-plan"),
        Some(change_body(
            field(fields, "plan_id"),
            field(fields, "quantity"),
            false,
        )),
        fields.get("_key").map(String::as_str),
    )
    .await
}

async fn preview_change(
    mut ctx: Ctx,
    Path((id, subscription)): Path<(Uuid, Uuid)>,
    Query(change): Query<ChangeQuery>,
) -> Result<Response, Failure> {
    let preview = match preview_for(&mut ctx, id, subscription, &change).await? {
        Ok(preview) => preview,
        Err(reply) => {
            let mut values = BTreeMap::new();
            values.insert("plan_id".to_owned(), change.plan_id.clone());
            values.insert("quantity".to_owned(), change.quantity.clone());
            let dialog = format!("change-{subscription}");
            return refused(ctx, Some(id), "subscriptions", &dialog, values, reply).await;
        }
    };
    let query = ListQuery {
        tab: "subscriptions".to_owned(),
        dialog: "preview".to_owned(),
        ..ListQuery::default()
    };
    page(
        ctx,
        Some(id),
        query,
        Some(preview),
        FormState::default(),
        None,
    )
    .await
}

async fn change_plan(
    mut ctx: Ctx,
    Path((id, subscription)): Path<(Uuid, Uuid)>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let reply = confirm_change(&mut ctx, subscription, &fields).await;
    if reply.ok() {
        return Ok(done(id, "subscriptions", "plan-changed"));
    }
    let dialog = format!("change-{subscription}");
    refused(
        ctx,
        Some(id),
        "subscriptions",
        &dialog,
        entered(&fields),
        reply,
    )
    .await
}

/// The API's credit grant from the dialog `new-credit`, or the fields a person has to correct.
/// The amount is typed in baht; `valid_until` is the last day (Bangkok) the credit may be used.
fn credit_body(ctx: &Ctx, fields: &Fields) -> Result<Value, BTreeMap<String, String>> {
    let tr = ctx.tr();
    let mut errors = BTreeMap::new();
    let mut body = json!({ "type": field(fields, "type") });
    match satang_domain::typed_amount::parse_baht(field(fields, "amount")) {
        Some(minor) => body["amount"] = json!(minor),
        None => {
            errors.insert("amount".to_owned(), tr.t("credit-amount-invalid"));
        }
    }
    let priority = field(fields, "priority");
    if !priority.is_empty() {
        match priority.parse::<i64>() {
            Ok(n) => body["priority"] = json!(n),
            Err(_) => {
                errors.insert("priority".to_owned(), tr.t("credit-priority-invalid"));
            }
        }
    }
    let until = field(fields, "valid_until");
    if !until.is_empty() {
        // The day after, at midnight in Bangkok (17:00 UTC on the last day).
        match chrono::NaiveDate::parse_from_str(until, "%Y-%m-%d") {
            Ok(day) => {
                body["expires_at"] = json!(format!("{day}T17:00:00Z"));
            }
            Err(_) => {
                errors.insert("valid_until".to_owned(), tr.t("credit-date-invalid"));
            }
        }
    }
    let note = field(fields, "note");
    if !note.is_empty() {
        body["note"] = json!(note);
    }
    if errors.is_empty() {
        Ok(body)
    } else {
        Err(errors)
    }
}

/// `POST /customers/{id}/credit-grants`: billing staff grant credit (the dialog `new-credit`);
/// a refusal reopens the dialog with each message by its field.
async fn grant_credit(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let query = ListQuery {
        tab: "credits".to_owned(),
        dialog: "new-credit".to_owned(),
        ..ListQuery::default()
    };
    let body = match credit_body(&ctx, &fields) {
        Ok(body) => body,
        Err(errors) => {
            let form = FormState {
                values: entered(&fields),
                errors,
                message: None,
            };
            let status = Some(StatusCode::UNPROCESSABLE_ENTITY);
            return page(ctx, Some(id), query, None, form, status).await;
        }
    };
    let reply = ctx
        .send(
            Method::POST,
            format!("/api/customers/{id}/credit-grants"),
            Some(body),
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        return Ok(done(id, "credits", "credit-granted"));
    }
    let mut form = refusal(&ctx, entered(&fields), &reply)?;
    // The API names the instant; the dialog asks for the last day.
    if let Some(e) = form.errors.remove("expires_at") {
        form.errors.insert("valid_until".to_owned(), e);
    }
    let status = reply.status;
    page(ctx, Some(id), query, None, form, Some(status)).await
}

/// `POST /customers/{id}/credit-grants/{grant}/void`: what the grant had left is no longer
/// given.
async fn void_credit(
    mut ctx: Ctx,
    Path((id, grant)): Path<(Uuid, Uuid)>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let reply = ctx
        .send(
            Method::POST,
            format!("/api/customers/{id}/credit-grants/{grant}/void"),
            Some(json!({})),
            None,
        )
        .await;
    if reply.ok() {
        return Ok(done(id, "credits", "credit-voided"));
    }
    refused(ctx, Some(id), "credits", "", Fields::new(), reply).await
}
