//! The public pay page (SPEC §2.13): `/pay/{token}` from a payment link shows one invoice —
//! number, seller, amount due — and takes its payment without signing in: PromptPay through a
//! configured provider (the QR appears after one click, so no charge is made at a provider
//! for a page merely opened), or the seller's own PromptPay QR without one. The page turns to
//! "paid" by itself when the payment lands: `app.js` polls the link's JSON while a QR is shown.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use satang_api::routes::providers::{PayPageView, PaymentIntentView};

use super::{Fields, field};
use crate::client::ApiRequest;
use crate::pages::Chrome;
use crate::session::{CsrfForm, Ctx};
use crate::{Console, Failure, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new().route("/pay/{token}", get(pay_page).post(pay_promptpay))
}

#[derive(Template)]
#[template(path = "pay.html")]
struct PayPage {
    c: Chrome,
    token: String,
    page: PayPageView,
    intent: Option<PaymentIntentView>,
    error: Option<String>,
}

async fn load(ctx: &mut Ctx, token: &str) -> Result<PayPageView, Failure> {
    let mut request = ApiRequest::new(Method::GET, format!("/api/pay/{token}"));
    request.payment_link = Some(token.to_owned());
    let reply = ctx.console.api.send(request).await;
    ctx.expect(reply)
}

async fn pay_page(mut ctx: Ctx, Path(token): Path<String>) -> Result<Response, Failure> {
    let page = load(&mut ctx, &token).await?;
    Ok(render(&PayPage {
        c: ctx.chrome("pay", None),
        token,
        page,
        intent: None,
        error: None,
    }))
}

/// "Pay with PromptPay" through the provider chosen: the QR of a payment intent made with the
/// link (never with a session: the link is what allows it).
async fn pay_promptpay(
    mut ctx: Ctx,
    Path(token): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let page = load(&mut ctx, &token).await?;
    let mut request = ApiRequest::new(
        Method::POST,
        format!("/api/invoices/{}/payment-intents", page.invoice_id),
    )
    .json(json!({"provider": field(&fields, "provider"), "method": "promptpay"}));
    request.payment_link = Some(token.clone());
    let reply = ctx.console.api.send(request).await;
    let (intent, error) = if reply.ok() {
        (Some(reply.json::<PaymentIntentView>()?), None)
    } else {
        let problem = reply.problem();
        (None, Some(problem.detail.unwrap_or(problem.title)))
    };
    let mut response = render(&PayPage {
        c: ctx.chrome("pay", None),
        token,
        page,
        intent,
        error,
    });
    if !reply.ok() {
        *response.status_mut() = reply.status;
    }
    Ok(response)
}
