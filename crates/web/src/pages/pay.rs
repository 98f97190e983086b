//! The public pay page (SPEC §2.13): `/pay/{token}` from a payment link shows one invoice —
//! number, seller, amount due — and takes its payment without signing in: PromptPay through a
//! configured provider (the QR appears after one click, so no charge is made at a provider
//! for a page merely opened) or a card tokenised by the provider's script and charged at once,
//! or the seller's own PromptPay QR without a provider. The page turns to "paid" by itself when
//! the payment lands: `app.js` polls the link's JSON while a QR is shown.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use satang_api::routes::providers::{PayPageView, PayProvider, PaymentIntentView};

use super::{Fields, field};
use crate::client::ApiRequest;
use crate::pages::Chrome;
use crate::session::{CsrfForm, Ctx};
use crate::{Console, Failure, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new().route("/pay/{token}", get(pay_page).post(pay))
}

#[derive(Template)]
#[template(path = "pay.html")]
struct PayPage {
    c: Chrome,
    token: String,
    page: PayPageView,
    intent: Option<PaymentIntentView>,
    error: Option<String>,
    /// The provider whose card form is shown (the first configured), with its public key.
    card: Option<PayProvider>,
}

impl PayPage {
    fn new(
        c: Chrome,
        token: String,
        page: PayPageView,
        intent: Option<PaymentIntentView>,
        error: Option<String>,
    ) -> PayPage {
        let card = page
            .providers
            .iter()
            .find(|p| !p.public_key.is_empty())
            .cloned();
        PayPage {
            c,
            token,
            page,
            intent,
            error,
            card,
        }
    }

    /// The page as a response: with a card form, the provider's script origin is allowed.
    fn response(&self) -> Response {
        let mut response = render(self);
        if let (Some(card), None, false) = (&self.card, &self.intent, self.page.paid) {
            super::allow_provider_script(&mut response, &card.provider);
        }
        response
    }
}

async fn load(ctx: &mut Ctx, token: &str) -> Result<PayPageView, Failure> {
    let mut request = ApiRequest::new(Method::GET, format!("/api/pay/{token}"));
    request.payment_link = Some(token.to_owned());
    let reply = ctx.console.api.send(request).await;
    ctx.expect(reply)
}

async fn pay_page(mut ctx: Ctx, Path(token): Path<String>) -> Result<Response, Failure> {
    let page = load(&mut ctx, &token).await?;
    Ok(PayPage::new(ctx.chrome("pay", None), token, page, None, None).response())
}

/// "Pay with PromptPay" (the QR of a payment intent) or "Pay by card" (the token Omise.js or
/// Stripe.js made, charged at once) through the provider chosen, made with the link — never
/// with a session: the link is what allows it.
async fn pay(
    mut ctx: Ctx,
    Path(token): Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let page = load(&mut ctx, &token).await?;
    let provider = field(&fields, "provider");
    let body = if field(&fields, "method") == "card" {
        json!({"provider": provider, "method": "card", "token": field(&fields, "token")})
    } else {
        json!({"provider": provider, "method": "promptpay"})
    };
    let mut request = ApiRequest::new(
        Method::POST,
        format!("/api/invoices/{}/payment-intents", page.invoice_id),
    )
    .json(body);
    request.payment_link = Some(token.clone());
    let reply = ctx.console.api.send(request).await;
    let c = ctx.chrome("pay", None);
    if !reply.ok() {
        let problem = reply.problem();
        let error = Some(problem.detail.unwrap_or(problem.title));
        let mut response = PayPage::new(c, token, page, None, error).response();
        *response.status_mut() = reply.status;
        return Ok(response);
    }
    let intent = reply.json::<PaymentIntentView>()?;
    if intent.status == "succeeded" {
        // A card payment is already recorded: the page as it now is, "paid".
        let page = load(&mut ctx, &token).await?;
        return Ok(PayPage::new(c, token, page, None, None).response());
    }
    Ok(PayPage::new(c, token, page, Some(intent), None).response())
}
