//! The customer portal (`/portal`) for members: their subscription and plan change (with the
//! same proration preview as the staff page), invoices with the PDF and a PromptPay QR to pay,
//! payment methods, contacts and members. What a member may see and do is decided by the API:
//! another customer's id answers 404 here exactly as it does there.

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
use satang_api::routes::contacts::ContactView;
use satang_api::routes::customers::CustomerView;
use satang_api::routes::invoices::InvoiceView;
use satang_api::routes::invoices::pdf::PromptPayView;
use satang_api::routes::members::MemberView;
use satang_api::routes::payment_methods::PaymentMethodView;
use satang_api::routes::plans::PlanView;
use satang_api::routes::providers::PayProvider;
use satang_api::routes::subscriptions::SubscriptionView;
use satang_api::routes::tax_documents::TaxDocumentView;

use super::auth::FormState;
use super::customers::{ChangeQuery, Preview, confirm_change, preview_for};
use super::{Chrome, Fields, Me, entered, field, notice_text, refusal};
use crate::session::{CsrfForm, Ctx};
use crate::{Console, Failure, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/portal", get(index))
        .route("/portal/{customer}", get(show))
        .route("/portal/{customer}/invoices/{invoice}", get(invoice))
        .route(
            "/portal/{customer}/subscriptions/{subscription}/change-plan",
            get(preview_change).post(change_plan),
        )
        .route(
            "/portal/{customer}/subscriptions/{subscription}/discount",
            post(apply_promotion_code),
        )
        .route("/portal/{customer}/payment-methods", post(add_method))
        .route("/portal/{customer}/cards/new", get(card_page))
        .route(
            "/portal/{customer}/payment-methods/{method}/delete",
            post(remove_method),
        )
        .route("/portal/{customer}/contacts", post(add_contact))
}

#[derive(Debug, Default, Deserialize)]
struct PortalQuery {
    #[serde(default)]
    dialog: String,
    #[serde(default)]
    notice: String,
}

/// A subscription with its plan, as the portal shows it.
pub struct PortalSubscription {
    pub sub: SubscriptionView,
    pub plan: PlanView,
}

#[derive(Template)]
#[template(path = "portal.html")]
pub struct PortalPage {
    pub c: Chrome,
    pub customer: CustomerView,
    pub role: String,
    pub others: Vec<(Uuid, String)>,
    pub subscriptions: Vec<PortalSubscription>,
    pub plans: Vec<PlanView>,
    pub invoices: Vec<InvoiceView>,
    /// The customer's tax documents, shown beside their invoices.
    pub tax_documents: Vec<TaxDocumentView>,
    pub methods: Vec<PaymentMethodView>,
    pub contacts: Vec<ContactView>,
    pub members: Vec<MemberView>,
    pub dialog: String,
    pub form: FormState,
    pub preview: Option<Preview>,
    /// A payment provider is configured: cards are added on the card page, by its script.
    pub card_page: bool,
}

impl PortalPage {
    /// The tax documents issued for one invoice, oldest first.
    pub fn tax_docs(&self, invoice: impl std::borrow::Borrow<Uuid>) -> Vec<&TaxDocumentView> {
        super::tax_docs_of_invoice(&self.tax_documents, invoice.borrow())
    }

    /// Owners and billing members pay and change the plan (SPEC §2.2).
    pub fn can_pay(&self) -> bool {
        matches!(self.role.as_str(), "owner" | "billing")
    }

    /// Owners and admins edit contacts and members.
    pub fn can_manage(&self) -> bool {
        matches!(self.role.as_str(), "owner" | "admin")
    }

    pub fn dialog_is(&self, name: &str) -> bool {
        self.dialog == name
    }

    /// The promotion-code box of a subscription: for owners and billing members, while the
    /// subscription runs without a discount.
    pub fn takes_promotion_code(&self, ps: &PortalSubscription) -> bool {
        self.can_pay()
            && ps.sub.discount.is_none()
            && ps.sub.status != satang_domain::Status::Canceled
    }

    /// The refusal to show beside the promotion-code box of subscription `id`, if it was that
    /// box's.
    pub fn promotion_error(&self, id: &Uuid) -> Option<String> {
        if self.dialog != format!("promo-{id}") {
            return None;
        }
        self.form
            .error("coupon")
            .map(str::to_owned)
            .or_else(|| self.form.message.clone())
    }

    pub fn link(&self, dialog: &str) -> String {
        if dialog.is_empty() {
            format!("/portal/{}", self.customer.id)
        } else {
            format!("/portal/{}?dialog={dialog}", self.customer.id)
        }
    }
}

/// `/portal`: the member's customer (the first one; others are offered as links).
async fn index(mut ctx: Ctx) -> Result<Response, Failure> {
    let me = ctx.me().await?;
    match me.memberships.first() {
        Some(m) => Ok(Redirect::to(&format!("/portal/{}", m.customer_id)).into_response()),
        None if me.is_staff() => Ok(Redirect::to("/customers").into_response()),
        None => {
            let c = ctx.chrome("portal", Some(me));
            Ok(render(&NoCustomerPage { c }))
        }
    }
}

#[derive(Template)]
#[template(path = "portal_none.html")]
struct NoCustomerPage {
    c: Chrome,
}

/// The member's role at `customer`; not a member → 404, as the API answers.
fn role_at(me: &Me, customer: Uuid) -> Result<String, Failure> {
    me.memberships
        .iter()
        .find(|m| m.customer_id == customer)
        .map(|m| m.role.clone())
        .ok_or(Failure::NotFound)
}

async fn show(
    ctx: Ctx,
    Path(customer): Path<Uuid>,
    Query(query): Query<PortalQuery>,
) -> Result<Response, Failure> {
    page(ctx, customer, query, FormState::default(), None, None).await
}

async fn page(
    mut ctx: Ctx,
    customer_id: Uuid,
    query: PortalQuery,
    form: FormState,
    preview: Option<Preview>,
    status: Option<StatusCode>,
) -> Result<Response, Failure> {
    let me = ctx.me().await?;
    let role = role_at(&me, customer_id)?;
    let customer: CustomerView = ctx.get(format!("/api/customers/{customer_id}")).await?;
    let subs: Page<SubscriptionView> = ctx
        .get(format!(
            "/api/customers/{customer_id}/subscriptions?limit=50"
        ))
        .await?;
    let plans: Vec<PlanView> = ctx
        .get::<Page<PlanView>>("/api/plans?limit=200")
        .await?
        .data;
    let mut subscriptions = Vec::new();
    for sub in subs.data.into_iter().filter(|s| !s.status.is_terminal()) {
        let plan = match plans.iter().find(|p| p.id == sub.plan_id) {
            Some(p) => p.clone(),
            None => ctx.get(format!("/api/plans/{}", sub.plan_id)).await?,
        };
        subscriptions.push(PortalSubscription { sub, plan });
    }
    let invoices: Page<InvoiceView> = ctx
        .get(format!("/api/customers/{customer_id}/invoices?limit=50"))
        .await?;
    let tax_documents = super::tax_documents_of(&mut ctx, customer_id).await?;
    let methods: Page<PaymentMethodView> = ctx
        .get(format!(
            "/api/customers/{customer_id}/payment-methods?limit=200"
        ))
        .await?;
    let methods = methods.data;
    let contacts: Page<ContactView> = ctx
        .get(format!("/api/customers/{customer_id}/contacts?limit=100"))
        .await?;
    let members: Page<MemberView> = ctx
        .get(format!("/api/customers/{customer_id}/members?limit=100"))
        .await?;
    let others = me
        .memberships
        .iter()
        .filter(|m| m.customer_id != customer_id)
        .map(|m| (m.customer_id, m.customer_name.clone()))
        .collect();
    let providers: Vec<PayProvider> = ctx.get("/api/payment-providers").await?;
    let mut c = ctx.chrome("portal", Some(me));
    c.notice = notice_text(&c.tr, &query.notice);
    let mut response = render(&PortalPage {
        c,
        customer,
        role,
        others,
        subscriptions,
        plans,
        invoices: invoices.data,
        tax_documents,
        methods,
        contacts: contacts.data,
        members: members.data,
        dialog: query.dialog,
        form,
        preview,
        card_page: !providers.is_empty(),
    });
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    Ok(response)
}

fn done(customer: Uuid, notice: &str) -> Response {
    Redirect::to(&format!("/portal/{customer}?notice={notice}")).into_response()
}

async fn refused(
    ctx: Ctx,
    customer: Uuid,
    dialog: &str,
    values: Fields,
    reply: crate::client::ApiReply,
) -> Result<Response, Failure> {
    let form = refusal(&ctx, values, &reply)?;
    let query = PortalQuery {
        dialog: dialog.to_owned(),
        notice: String::new(),
    };
    page(ctx, customer, query, form, None, Some(reply.status)).await
}

#[derive(Template)]
#[template(path = "portal_invoice.html")]
pub struct InvoicePage {
    pub c: Chrome,
    pub customer_id: Uuid,
    pub invoice: InvoiceView,
    pub promptpay: Option<PromptPayView>,
    pub qr_svg: String,
    /// The receipts / tax invoices and credit notes issued for the invoice.
    pub tax_documents: Vec<TaxDocumentView>,
}

/// One invoice: its lines and totals, the PDF, and a PromptPay QR for what is still due.
async fn invoice(
    mut ctx: Ctx,
    Path((customer, invoice_id)): Path<(Uuid, Uuid)>,
) -> Result<Response, Failure> {
    let me = ctx.me().await?;
    role_at(&me, customer)?;
    let invoice: InvoiceView = ctx.get(format!("/api/invoices/{invoice_id}")).await?;
    if invoice.customer_id != customer {
        return Err(Failure::NotFound);
    }
    let reply = ctx
        .api(crate::client::ApiRequest::new(
            Method::GET,
            format!("/api/invoices/{invoice_id}/promptpay"),
        ))
        .await;
    // 409: nothing due, or no PromptPay id configured — the page says so instead of a QR.
    let promptpay: Option<PromptPayView> = if reply.ok() {
        Some(reply.json()?)
    } else {
        None
    };
    let qr_svg = promptpay
        .as_ref()
        .and_then(|p| qr_svg(&p.payload))
        .unwrap_or_default();
    let all = super::tax_documents_of(&mut ctx, customer).await?;
    let tax_documents = super::tax_docs_of_invoice(&all, &invoice_id)
        .into_iter()
        .cloned()
        .collect();
    let c = ctx.chrome("portal", Some(me));
    Ok(render(&InvoicePage {
        c,
        customer_id: customer,
        invoice,
        promptpay,
        qr_svg,
        tax_documents,
    }))
}

/// The payload as an SVG QR code (black on white, a quiet zone, error correction M as the
/// Thai banks' apps expect).
fn qr_svg(payload: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

async fn preview_change(
    mut ctx: Ctx,
    Path((customer, subscription)): Path<(Uuid, Uuid)>,
    Query(change): Query<ChangeQuery>,
) -> Result<Response, Failure> {
    let preview = match preview_for(&mut ctx, customer, subscription, &change).await? {
        Ok(preview) => preview,
        Err(reply) => {
            let dialog = format!("change-{subscription}");
            return refused(ctx, customer, &dialog, Fields::new(), reply).await;
        }
    };
    page(
        ctx,
        customer,
        PortalQuery::default(),
        FormState::default(),
        Some(preview),
        None,
    )
    .await
}

async fn change_plan(
    mut ctx: Ctx,
    Path((customer, subscription)): Path<(Uuid, Uuid)>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let reply = confirm_change(&mut ctx, subscription, &fields).await;
    if reply.ok() {
        return Ok(done(customer, "plan-changed"));
    }
    let dialog = format!("change-{subscription}");
    refused(ctx, customer, &dialog, Fields::new(), reply).await
}

/// A promotion code typed by an owner or billing member: the API redeems it, or refuses it
/// (unknown, expired, another plan, used up) with the message shown beside the box.
async fn apply_promotion_code(
    mut ctx: Ctx,
    Path((customer, subscription)): Path<(Uuid, Uuid)>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let reply = ctx
        .send(
            Method::POST,
            format!("/api/subscriptions/{subscription}/discount"),
            Some(json!({"coupon": field(&fields, "coupon")})),
            None,
        )
        .await;
    if reply.ok() {
        return Ok(done(customer, "discount-applied"));
    }
    let mut form = refusal(&ctx, entered(&fields), &reply)?;
    if reply.status == StatusCode::CONFLICT {
        // A used-up coupon or a discount already running: say which, not "reload the page".
        let detail = reply.problem().detail.unwrap_or_default();
        let errors = std::collections::BTreeMap::from([("coupon".to_owned(), vec![detail])]);
        form.errors = super::auth::field_errors(&ctx.tr(), &errors);
        form.message = None;
    }
    let query = PortalQuery {
        dialog: format!("promo-{subscription}"),
        notice: String::new(),
    };
    page(ctx, customer, query, form, None, Some(reply.status)).await
}

async fn add_method(
    mut ctx: Ctx,
    Path(customer): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let reply = super::payments::send_method(&mut ctx, customer, &fields).await;
    if reply.ok() {
        return Ok(done(customer, "method-added"));
    }
    let values = super::payments::method_form_again(&fields);
    refused(ctx, customer, "new-method", values, reply).await
}

/// The card page: the provider's own script (Omise.js, Stripe.js) turns the card into a
/// one-time token in the browser, and only the token is posted here — the card number never
/// reaches Satang. This page alone allows the provider's script origin in its CSP.
#[derive(Template)]
#[template(path = "portal_card.html")]
struct CardPage {
    c: Chrome,
    customer: CustomerView,
    provider: PayProvider,
}

async fn card_page(mut ctx: Ctx, Path(customer): Path<Uuid>) -> Result<Response, Failure> {
    let me = ctx.me().await?;
    let role = role_at(&me, customer)?;
    if !matches!(role.as_str(), "owner" | "billing") {
        return Err(Failure::Forbidden);
    }
    let view: CustomerView = ctx.get(format!("/api/customers/{customer}")).await?;
    let providers: Vec<PayProvider> = ctx.get("/api/payment-providers").await?;
    let Some(provider) = providers.into_iter().next() else {
        // Without a provider, cards go through the built-in gateway's form in the dialog.
        return Ok(Redirect::to(&format!("/portal/{customer}?dialog=new-method")).into_response());
    };
    let name = provider.provider.clone();
    let mut response = render(&CardPage {
        c: ctx.chrome("portal", Some(me)),
        customer: view,
        provider,
    });
    super::allow_provider_script(&mut response, &name);
    Ok(response)
}

async fn remove_method(
    mut ctx: Ctx,
    Path((customer, method)): Path<(Uuid, Uuid)>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let reply = ctx
        .send(
            Method::DELETE,
            format!("/api/customers/{customer}/payment-methods/{method}"),
            None,
            None,
        )
        .await;
    if reply.ok() {
        return Ok(done(customer, "method-removed"));
    }
    refused(ctx, customer, "", Fields::new(), reply).await
}

async fn add_contact(
    mut ctx: Ctx,
    Path(customer): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let optional = |key: &str| {
        let v = field(&fields, key);
        if v.is_empty() {
            serde_json::Value::Null
        } else {
            json!(v)
        }
    };
    let body = json!({
        "name": field(&fields, "name"),
        "email": optional("email"),
        "phone": optional("phone"),
        "role": field(&fields, "role"),
        "is_primary": field(&fields, "is_primary") == "on",
    });
    let reply = ctx
        .send(
            Method::POST,
            format!("/api/customers/{customer}/contacts"),
            Some(body),
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        return Ok(done(customer, "contact-added"));
    }
    refused(ctx, customer, "new-contact", entered(&fields), reply).await
}
