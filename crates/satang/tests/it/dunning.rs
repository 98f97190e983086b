//! Automatic collection and dunning (SPEC §2.6) on both databases with the sandbox gateway:
//! a declined card puts the subscription past_due and is retried on the dunning days; a working
//! card settles it; past the grace period the customer is suspended, and a payment brings
//! customer and subscription back.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::billing::{insert_customer, member_token, run_billing, set_clock};
use crate::common::{Backend, TestApp, expect_problem, ok, spawn_clocked};

both_backends!(
    declined_card_is_dunned_then_paid,
    grace_period_ends_in_suspension
);

async fn add_card(app: &TestApp, token: &str, customer: Uuid, number: &str) -> Value {
    ok(app
        .post(
            &format!("/api/customers/{customer}/payment-methods"),
            Some(token),
            json!({"type": "card", "gateway": "sandbox", "card_number": number,
                   "exp_month": 12, "exp_year": 2031, "is_default": true}),
        )
        .await)
    .await
}

async fn subscription(app: &TestApp, admin: &str, customer: Uuid) -> Value {
    let page = ok(app
        .get(&format!("/api/customers/{customer}/subscriptions"), admin)
        .await)
    .await;
    page["data"][0].clone()
}

async fn declined_card_is_dunned_then_paid(backend: Backend) {
    let Some(app) = spawn_clocked(backend).await else {
        return;
    };
    let customer = insert_customer(&app, "Farm", "active").await;
    let admin = set_clock(&app, "2030-01-10T03:00:00Z").await;

    // Card checks: a bad number and an expired card are refused; a member may not add cards.
    for (number, year) in [("4242424242424241", 2031), ("4242424242424242", 2029)] {
        let res = app
            .post(
                &format!("/api/customers/{customer}/payment-methods"),
                Some(&admin),
                json!({"type": "card", "card_number": number, "exp_month": 12, "exp_year": year}),
            )
            .await;
        let problem = expect_problem(res, 422).await;
        assert!(problem["errors"]["card_number"].is_array());
    }
    let member = member_token(&app, "member@farm.test", customer, "member").await;
    let res = app
        .post(
            &format!("/api/customers/{customer}/payment-methods"),
            Some(&member),
            json!({"type": "promptpay"}),
        )
        .await;
    expect_problem(res, 403).await;

    let declining = add_card(&app, &admin, customer, "4000 0000 0000 0002").await;
    assert_eq!(
        (&declining["brand"], &declining["last4"]),
        (&json!("visa"), &json!("0002"))
    );
    let created = ok(app
        .post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": customer, "plan_code": "PRO", "trial_days": 0}),
        )
        .await)
    .await;
    assert_eq!(created["collection_method"], "charge_automatically");

    let report = run_billing(&app, &admin).await;
    assert_eq!(
        (&report["charged"], &report["declined"]),
        (&json!(0), &json!(1)),
        "{report}"
    );
    assert_eq!(
        subscription(&app, &admin, customer).await["status"],
        "past_due"
    );

    // Retried one day after the first failure, not before the third day again.
    let admin = set_clock(&app, "2030-01-11T06:00:00Z").await;
    assert_eq!(run_billing(&app, &admin).await["declined"], 1);
    let admin = set_clock(&app, "2030-01-12T06:00:00Z").await;
    assert_eq!(run_billing(&app, &admin).await["declined"], 0);

    // A working card: the third attempt succeeds and everything is back in order.
    let working = add_card(&app, &admin, customer, "4242424242424242").await;
    assert_eq!(working["is_default"], true);
    let methods = ok(app
        .get(
            &format!("/api/customers/{customer}/payment-methods"),
            &admin,
        )
        .await)
    .await;
    assert!(
        !methods.to_string().contains("4242424242424242"),
        "no card number is ever stored"
    );
    let admin = set_clock(&app, "2030-01-13T06:00:00Z").await;
    let report = run_billing(&app, &admin).await;
    assert_eq!(report["charged"], 1, "{report}");
    assert_eq!(
        subscription(&app, &admin, customer).await["status"],
        "active"
    );
    let invoices = ok(app
        .get(&format!("/api/invoices?customer_id={customer}"), &admin)
        .await)
    .await;
    assert_eq!(invoices["data"][0]["status"], "paid");
    let payments = ok(app
        .get(&format!("/api/payments?customer_id={customer}"), &admin)
        .await)
    .await;
    assert_eq!(payments["data"][0]["method"], "card");
    assert_eq!(payments["data"][0]["amount"], 105930);
}

async fn grace_period_ends_in_suspension(backend: Backend) {
    let Some(app) = spawn_clocked(backend).await else {
        return;
    };
    let customer = insert_customer(&app, "Farm", "active").await;
    let admin = set_clock(&app, "2030-01-10T03:00:00Z").await;
    add_card(&app, &admin, customer, "4000000000000002").await;
    ok(app
        .post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": customer, "plan_code": "PRO", "trial_days": 0}),
        )
        .await)
    .await;
    assert_eq!(run_billing(&app, &admin).await["declined"], 1);

    // Fourteen days of grace (the default), then suspension.
    let admin = set_clock(&app, "2030-01-23T06:00:00Z").await;
    assert_eq!(run_billing(&app, &admin).await["customers_suspended"], 0);
    let admin = set_clock(&app, "2030-01-25T06:00:00Z").await;
    assert_eq!(run_billing(&app, &admin).await["customers_suspended"], 1);
    let read = ok(app.get(&format!("/api/customers/{customer}"), &admin).await).await;
    assert_eq!(read["status"], "suspended");

    // A bank transfer settles it: customer and subscription are active again.
    let invoices = ok(app
        .get(
            &format!("/api/invoices?customer_id={customer}&status=open"),
            &admin,
        )
        .await)
    .await;
    let invoice = invoices["data"][0]["id"].as_str().unwrap().to_owned();
    ok(app
        .post(
            &format!("/api/invoices/{invoice}/payments"),
            Some(&admin),
            json!({"amount": 105930, "method": "bank_transfer"}),
        )
        .await)
    .await;
    let read = ok(app.get(&format!("/api/customers/{customer}"), &admin).await).await;
    assert_eq!(read["status"], "active");
    assert_eq!(
        subscription(&app, &admin, customer).await["status"],
        "active"
    );
    let events = ok(app
        .get(
            &format!("/api/audit-events?entity_type=customer&entity_id={customer}"),
            &admin,
        )
        .await)
    .await;
    let actions: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"customer.suspended") && actions.contains(&"customer.reactivated"),
        "{actions:?}"
    );
}
