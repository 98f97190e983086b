//! Metered usage (SPEC §2.6) on both databases: batches with idempotency keys, validation that
//! stores nothing, and usage summed per period onto the arrears invoice, priced by the plan
//! (included units free, then the unit price), hand-computed to the satang.

use serde_json::{Value, json};

use crate::common::billing::{insert_customer, run_billing, set_date};
use crate::common::{Backend, expect_problem, spawn_clocked};

both_backends!(usage_is_billed_in_arrears_once);

fn event(sub: &str, metric: &str, quantity: i64, at: &str, key: &str) -> Value {
    json!({"subscription_id": sub, "metric": metric, "quantity": quantity,
           "timestamp": at, "idempotency_key": key})
}

async fn usage_is_billed_in_arrears_once(backend: Backend) {
    let Some(app) = spawn_clocked(backend).await else {
        return;
    };
    let customer = insert_customer(&app, "Farm", "active").await;
    let admin = set_date(&app, "2030-01-10").await;
    // TEAM × 2: ฿390 a seat; SMS alerts 500 included, then ฿0.50 each.
    let res = app
        .post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": customer, "plan_code": "TEAM", "quantity": 2, "trial_days": 0}),
        )
        .await;
    let sub: Value = res.json().await.unwrap();
    let sub = sub["id"].as_str().unwrap().to_owned();

    let batch = json!({"events": [
        event(&sub, "sms_alerts", 400, "2030-01-11T08:00:00Z", "a"),
        event(&sub, "sms_alerts", 300, "2030-02-09T16:59:59Z", "b"),
        event(&sub, "sms_alerts", 400, "2030-01-12T08:00:00Z", "a"),
        event(&sub, "sms_alerts", 100, "2030-02-12T08:00:00Z", "next-period"),
    ]});
    let res = app
        .post("/api/usage-events", Some(&admin), batch.clone())
        .await;
    assert_eq!(res.status(), 200);
    let receipt: Value = res.json().await.unwrap();
    assert_eq!(
        (&receipt["accepted"], &receipt["duplicates"]),
        (&json!(3), &json!(1))
    );
    // Sending the same batch again stores nothing new.
    let again: Value = app
        .post("/api/usage-events", Some(&admin), batch)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&again["accepted"], &again["duplicates"]),
        (&json!(0), &json!(4))
    );

    // A bad event refuses the whole batch, naming the field.
    let bad = json!({"events": [
        event(&sub, "sms_alerts", 5, "2030-01-20T08:00:00Z", "c"),
        event(&sub, "rain_gauges", 5, "2030-01-20T08:00:00Z", "d"),
    ]});
    let problem = expect_problem(app.post("/api/usage-events", Some(&admin), bad).await, 422).await;
    assert!(
        problem["errors"]["events[1].metric"].is_array(),
        "{problem}"
    );
    let viewer = app.staff_token("viewer@satang.test", &["viewer"]).await;
    let one = json!({"events": [event(&sub, "sms_alerts", 1, "2030-01-20T08:00:00Z", "v")]});
    expect_problem(app.post("/api/usage-events", Some(&viewer), one).await, 403).await;

    // 10 February: the second period in advance plus January's usage in arrears:
    // 700 alerts − 500 included = 200 × ฿0.50 = ฿100.
    let admin = set_date(&app, "2030-02-10").await;
    run_billing(&app, &admin).await;
    let page: Value = app
        .get(&format!("/api/invoices?subscription_id={sub}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let invoices = page["data"].as_array().unwrap();
    assert_eq!(invoices.len(), 2);
    let feb = &invoices[1];
    let lines = feb["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{feb}");
    assert_eq!(lines[0]["amount"], 78000);
    assert_eq!(lines[1]["amount"], 10000);
    assert!(lines[1]["description"].as_str().unwrap().contains("700"));
    assert_eq!(
        (&feb["subtotal"], &feb["vat_amount"], &feb["total"]),
        (&json!(88000), &json!(6160), &json!(94160))
    );
    // Usage is not recurring revenue.
    let summary: Value = app
        .get("/api/analytics/summary?as_of=2030-02-15", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(summary["mrr"], 78000);
}
