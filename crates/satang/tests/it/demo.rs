//! The demo data set loads once, on both databases, with content for every page.

use crate::common::{Backend, spawn_with};
use serde_json::Value;

both_backends!(demo_loads_once_with_real_content);

async fn demo_loads_once_with_real_content(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| {
        c.demo = true;
        c.admin_email = None;
    })
    .await
    else {
        return;
    };
    let admin = app
        .login(satang::demo::DEMO_ADMIN, satang::demo::DEMO_PASSWORD)
        .await;
    let token = admin["access_token"].as_str().unwrap();
    let customers: Value = app
        .get("/api/customers?limit=200", token)
        .await
        .json()
        .await
        .unwrap();
    let list = customers["data"].as_array().unwrap();
    assert_eq!(list.len(), 40);
    assert!(list.iter().any(|c| c["status"] == "suspended"));
    assert!(
        list.iter()
            .all(|c| c["tax_id"].as_str().is_some_and(|t| t.len() == 13))
    );
    let settings: Value = app.get("/api/settings", token).await.json().await.unwrap();
    assert!(settings["promptpay_id"].is_string());
    assert!(!settings["company_name"]["th"].as_str().unwrap().is_empty());

    let owner = app
        .login("owner@banna.coop", satang::demo::DEMO_PASSWORD)
        .await;
    let me: Value = app
        .get("/api/auth/me", owner["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["memberships"][0]["customer_name"], "สหกรณ์การเกษตรบ้านนา");

    // Twelve months of history made by the billing engine: invoices, payments, some still open.
    let subscriptions: Value = app
        .get("/api/subscriptions?limit=200", token)
        .await
        .json()
        .await
        .unwrap();
    let subscriptions = subscriptions["data"].as_array().unwrap();
    assert_eq!(subscriptions.len(), 40);
    assert!(subscriptions.iter().any(|s| s["status"] == "paused"));
    assert!(
        subscriptions
            .iter()
            .any(|s| s["cancel_at_period_end"] == true || s["status"] == "canceled")
    );
    let list = |status: &'static str| {
        let (app, token) = (&app, token.to_owned());
        async move {
            let page: Value = app
                .get(&format!("/api/invoices?status={status}&limit=200"), &token)
                .await
                .json()
                .await
                .unwrap();
            page["data"].as_array().unwrap().clone()
        }
    };
    let paid = list("paid").await;
    assert!(paid.len() >= 150, "{} paid invoices", paid.len());
    assert!(
        paid.iter()
            .any(|i| i["withholding_tax"].as_i64().unwrap_or(0) > 0)
    );
    let open = list("open").await;
    assert!(
        !open.is_empty() && open.len() < paid.len(),
        "{} open",
        open.len()
    );
    let payments: Value = app
        .get("/api/payments?limit=200", token)
        .await
        .json()
        .await
        .unwrap();
    assert!(payments["data"].as_array().unwrap().len() >= 100);

    // Every payment of the history issued its receipt / tax invoice (the default tax point):
    // for each paid invoice of a customer, its receipts' VAT adds up to the invoice's exactly.
    let customer = paid[0]["customer_id"].as_str().unwrap();
    let receipts: Value = app
        .get(
            &format!(
                "/api/tax-documents?type=receipt_tax_invoice&customer_id={customer}&limit=200"
            ),
            token,
        )
        .await
        .json()
        .await
        .unwrap();
    let receipts = receipts["data"].as_array().unwrap();
    assert!(!receipts.is_empty());
    assert!(
        receipts
            .iter()
            .all(|r| r["number"].as_str().unwrap().starts_with("RT-"))
    );
    for inv in paid.iter().filter(|i| i["customer_id"] == customer) {
        let of_it = receipts.iter().filter(|r| r["invoice_id"] == inv["id"]);
        let (vat, total) = of_it.fold((0, 0), |(v, t), r| {
            (
                v + r["vat_amount"].as_i64().unwrap(),
                t + r["total"].as_i64().unwrap(),
            )
        });
        assert_eq!(
            vat,
            inv["vat_amount"].as_i64().unwrap(),
            "{}",
            inv["number"]
        );
        assert_eq!(total, inv["total"].as_i64().unwrap(), "{}", inv["number"]);
    }
    crate::tax_documents::check_documents(&app, token, &receipts[0]).await;

    // Loading again (a restart with --demo) adds nothing.
    let state = app.server.as_ref().unwrap().state.clone();
    assert!(!satang::demo::load(&state, None).await.unwrap());
    let again: Value = app
        .get("/api/customers?limit=200", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["data"].as_array().unwrap().len(), 40);
}
