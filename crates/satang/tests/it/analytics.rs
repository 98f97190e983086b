//! Analytics (SPEC §2.7) from the real tables, on both databases, against figures computed by
//! hand: three customers subscribe in January 2030, one pays, one adds seats, one gives notice;
//! February's summary shows the expansion, the churn, ARPA, LTV and the overdue invoices.
//!
//! Then the two ways the figures are made must agree: staff read the whole business from the
//! per-day rows the store keeps (`analytics_days`, kept by triggers and the billing run), a
//! member computes from their customers' invoices on every call; a member of *every* customer
//! of the demo's year of history must see exactly what staff see, on every date.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::billing::{insert_customer, member_token, set_date};
use crate::common::{Backend, TestApp, expect_problem, ok, spawn_clocked, spawn_with};

both_backends!(mrr_movements_churn_and_receivables);
both_backends!(business_figures_equal_the_sum_of_every_customer);

async fn subscribe(app: &TestApp, admin: &str, customer: Uuid, body: Value) -> String {
    let mut body = body;
    body["customer_id"] = json!(customer);
    body["trial_days"] = json!(0);
    ok(app.post("/api/subscriptions", Some(admin), body).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn mrr_movements_churn_and_receivables(backend: Backend) {
    let Some(app) = spawn_clocked(backend).await else {
        return;
    };
    let a = insert_customer(&app, "Farm A", "active").await;
    let b = insert_customer(&app, "Farm B", "active").await;
    let c = insert_customer(&app, "Farm C", "active").await;
    let admin = set_date(&app, "2030-01-10").await;
    // PRO ฿990/month; TEAM ฿390 × 3 seats; PRO yearly ฿9,900 (= ฿825/month of MRR).
    let sub_a = subscribe(&app, &admin, a, json!({"plan_code": "PRO"})).await;
    let sub_b = subscribe(&app, &admin, b, json!({"plan_code": "TEAM", "quantity": 3})).await;
    subscribe(
        &app,
        &admin,
        c,
        json!({"plan_code": "PRO", "interval": "year"}),
    )
    .await;

    let admin = set_date(&app, "2030-01-15").await;
    let january = ok(app.get("/api/analytics/summary", &admin).await).await;
    assert_eq!(january["as_of"], "2030-01-15");
    assert_eq!(january["mrr"], 99000 + 117000 + 82500);
    assert_eq!(january["arr"], 298500 * 12);
    assert_eq!(january["new_mrr"], 298500);
    assert_eq!(
        (
            &january["active_subscriptions"],
            &january["active_customers"]
        ),
        (&json!(3), &json!(3))
    );
    assert_eq!(january["arpa"], 99500);
    assert_eq!(
        (
            &january["churned_mrr"],
            &january["customer_churn_rate"],
            &january["ltv"]
        ),
        (&json!(0), &json!(0.0), &Value::Null)
    );
    // Open: ฿1,059.30 + ฿1,251.90 + ฿10,593.00, none past due yet.
    assert_eq!(
        (&january["outstanding"], &january["overdue"]),
        (&json!(1_290_420), &json!(0))
    );

    // A pays in full, B goes to five seats, A gives notice.
    let a_invoice = ok(app
        .get(&format!("/api/invoices?customer_id={a}"), &admin)
        .await)
    .await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(app
        .post(
            &format!("/api/invoices/{a_invoice}/payments"),
            Some(&admin),
            json!({"amount": 105930, "method": "promptpay"}),
        )
        .await)
    .await;
    ok(app
        .post(
            &format!("/api/subscriptions/{sub_b}/change-plan"),
            Some(&admin),
            json!({"quantity": 5}),
        )
        .await)
    .await;
    ok(app
        .post(
            &format!("/api/subscriptions/{sub_a}/cancel"),
            Some(&admin),
            json!({"at_period_end": true}),
        )
        .await)
    .await;
    let january = ok(app.get("/api/analytics/summary", &admin).await).await;
    assert_eq!(january["revenue_this_month"], 105930);

    let admin = set_date(&app, "2030-02-15").await;
    ok(app
        .call(Method::POST, "/api/billing/run", Some(&admin), None)
        .await)
    .await;
    let february = ok(app
        .get("/api/analytics/summary?as_of=2030-02-15", &admin)
        .await)
    .await;
    // B: 5 × ฿390 = ฿1,950; C: ฿825; A ended on 10 February.
    assert_eq!(february["mrr"], 195000 + 82500);
    assert_eq!(february["new_mrr"], 0);
    assert_eq!(february["expansion_mrr"], 195000 - 117000);
    assert_eq!(february["contraction_mrr"], 0);
    assert_eq!(february["churned_mrr"], 99000);
    assert_eq!(
        (
            &february["active_subscriptions"],
            &february["active_customers"]
        ),
        (&json!(2), &json!(2))
    );
    assert_eq!(february["customer_churn_rate"], 0.3333);
    assert_eq!(february["arpa"], 138750);
    // LTV = ARPA ÷ (1 churned of 3) = 138,750 × 3.
    assert_eq!(february["ltv"], 416250);
    assert_eq!(february["revenue_this_month"], 0);
    // B's five seats from 15 January (26 of 31 days left) were invoiced at once:
    // −117,000 × 26/31 = −98,129 and 195,000 × 26/31 = 163,548 → 65,419 + 7 % VAT 4,579
    // = 69,998, due 14 February.
    const PRORATION: i64 = 69_998;
    // B's and C's January invoices fell due on 9 February, the proration on the 14th; B's
    // February invoice (฿2,086.50) not yet.
    assert_eq!(february["overdue"], 125190 + 1_059_300 + PRORATION);
    assert_eq!(
        february["outstanding"],
        125190 + 1_059_300 + PRORATION + 208650
    );

    let revenue = ok(app
        .get(
            "/api/analytics/revenue?from=2030-01-01&to=2030-02-28&interval=month",
            &admin,
        )
        .await)
    .await;
    assert_eq!(
        revenue["months"],
        json!([
            {"month": "2030-01", "paid": 105930, "invoiced": 1_290_420 + PRORATION},
            {"month": "2030-02", "paid": 0, "invoiced": 208650},
        ])
    );
    expect_problem(
        app.get("/api/analytics/revenue?interval=week", &admin)
            .await,
        400,
    )
    .await;
    expect_problem(
        app.get("/api/analytics/summary?as_of=yesterday", &admin)
            .await,
        400,
    )
    .await;

    let plans = ok(app
        .get("/api/analytics/plans?as_of=2030-02-15", &admin)
        .await)
    .await;
    assert_eq!(
        plans["plans"],
        json!([
            {"plan_code": "PRO", "interval": "year", "subscriptions": 1, "trialing": 0, "mrr": 82500},
            {"plan_code": "TEAM", "interval": "month", "subscriptions": 1, "trialing": 0, "mrr": 195000},
        ])
    );

    // A member of B sees B's figures only.
    let member = member_token(&app, "owner@farm-b.test", b, "owner").await;
    let mine = ok(app
        .get("/api/analytics/summary?as_of=2030-02-15", &member)
        .await)
    .await;
    assert_eq!(
        (
            &mine["mrr"],
            &mine["active_customers"],
            &mine["outstanding"]
        ),
        (
            &json!(195000),
            &json!(1),
            &json!(125190 + PRORATION + 208650)
        )
    );
}

async fn business_figures_equal_the_sum_of_every_customer(backend: Backend) {
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
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let everyone = app.signup("auditor@every-customer.test").await;
    let member = everyone["access_token"].as_str().unwrap().to_owned();
    let customers = ok(app.get("/api/customers?limit=200", &admin).await).await;
    let customers = customers["data"].as_array().unwrap();
    assert_eq!(customers.len(), 40);
    for c in customers {
        let res = app
            .post(
                &format!("/api/customers/{}/members", c["id"].as_str().unwrap()),
                Some(&admin),
                json!({"user_id": everyone["user"]["id"], "role": "billing"}),
            )
            .await;
        assert_eq!(res.status(), 201, "add member");
    }
    // A change after the history: an open recurring invoice voided (its period and its amount
    // due leave the figures).
    let open = ok(app.get("/api/invoices?status=open&limit=200", &admin).await).await;
    let recurring = open["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["subscription_id"].is_string())
        .expect("the demo leaves recurring invoices open");
    ok(app
        .post(
            &format!("/api/invoices/{}/void", recurring["id"].as_str().unwrap()),
            Some(&admin),
            json!({}),
        )
        .await)
    .await;

    let today = chrono::Utc::now().date_naive();
    let mut compared = 0;
    let mut saw_movement = false;
    for weeks_back in (0..=56).step_by(4) {
        let date = today - chrono::Days::new(weeks_back * 7);
        let path = format!("/api/analytics/summary?as_of={date}");
        let staff = ok(app.get(&path, &admin).await).await;
        let mine = ok(app.get(&path, &member).await).await;
        assert_eq!(staff, mine, "summary on {date}");
        saw_movement |= staff["new_mrr"] != 0 && staff["churned_mrr"] != 0;
        compared += 1;
    }
    assert!(
        saw_movement,
        "the demo's year has new and churned MRR in some month"
    );
    let path = format!("/api/analytics/revenue?to={today}");
    let staff = ok(app.get(&path, &admin).await).await;
    assert_eq!(staff, ok(app.get(&path, &member).await).await, "revenue");
    assert_eq!(staff["months"].as_array().unwrap().len(), 12);
    assert!(compared > 10);
}
