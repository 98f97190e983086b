//! Usage alerts (SPEC §2.12) on both databases: billing staff create, list and delete alerts
//! (bad input → 422 naming the field; support staff → 403); usage reported in concurrent
//! batches crosses an alert's threshold and `usage.threshold_reached` is emitted exactly once
//! for the subscription, alert and period — as a webhook delivery and a Thai mail to the
//! billing contact — and once more in the next period.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::billing::{run_billing, set_date, subscription_audit};
use crate::common::{Backend, TestApp, expect_problem, json_of, spawn_clocked};

both_backends!(alerts_fire_once_per_subscription_alert_and_period);

const DEADLINE: Duration = Duration::from_secs(20);

fn batch(sub: &str, quantity: i64, at: &str, key: &str) -> Value {
    json!({"events": [{"subscription_id": sub, "metric": "sms_alerts", "quantity": quantity,
                       "timestamp": at, "idempotency_key": key}]})
}

/// The `usage.threshold_reached` audit entries of a subscription (one per event emitted).
async fn reached(app: &TestApp, admin: &str, sub: &str) -> Vec<Value> {
    subscription_audit(app, admin, sub, "usage.threshold_reached").await
}

async fn alerts_fire_once_per_subscription_alert_and_period(backend: Backend) {
    let Some(app) = spawn_clocked(backend).await else {
        return;
    };
    let admin = set_date(&app, "2030-01-10").await;
    let billing = app.staff_token("billing@satang.test", &["billing"]).await;
    let support = app.staff_token("support@satang.test", &["support"]).await;
    json_of(
        app.post(
            "/api/plans",
            Some(&admin),
            json!({"code": "METERED", "name": {"th": "คิดตามการใช้", "en": "Metered"},
                   "interval": "month", "price": 10_000, "trial_days": 0,
                   "metered": [{"metric": "sms_alerts", "unit_price": 50, "included_units": 0}]}),
        )
        .await,
        201,
    )
    .await;
    let customer = json_of(
        app.post(
            "/api/customers",
            Some(&admin),
            json!({"name": "ไร่ส้มเชียงใหม่", "billing_email": "accounts@farm.test",
                   "locale": "th"}),
        )
        .await,
        201,
    )
    .await;
    let customer = customer["id"].as_str().unwrap().to_owned();
    let sub = json_of(
        app.post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": customer, "plan_code": "METERED"}),
        )
        .await,
        201,
    )
    .await;
    let sub = sub["id"].as_str().unwrap().to_owned();
    let endpoint = json_of(
        app.post(
            "/api/webhook-endpoints",
            Some(&admin),
            json!({"url": "http://127.0.0.1:9/hook", "events": ["usage.threshold_reached"],
                   "secret": "whsec_0123456789abcdef"}),
        )
        .await,
        201,
    )
    .await;
    let endpoint = endpoint["id"].as_str().unwrap().to_owned();

    // Validation names each field; support staff may not; billing staff may.
    let refused = expect_problem(
        app.post(
            "/api/usage-alerts",
            Some(&billing),
            json!({"metric": "", "threshold": 0, "plan_code": "NOPE",
                   "customer_id": "0190b1b4-0000-7000-8000-000000000000"}),
        )
        .await,
        422,
    )
    .await;
    for field in ["metric", "threshold", "plan_code", "customer_id"] {
        assert!(refused["errors"][field].is_array(), "{field}: {refused}");
    }
    expect_problem(
        app.post(
            "/api/usage-alerts",
            Some(&support),
            json!({"metric": "sms_alerts", "threshold": 10}),
        )
        .await,
        403,
    )
    .await;
    let plan_alert = json_of(
        app.post(
            "/api/usage-alerts",
            Some(&billing),
            json!({"metric": "sms_alerts", "threshold": 10, "plan_code": "METERED"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(plan_alert["plan_code"], "METERED");
    let customer_alert = json_of(
        app.post(
            "/api/usage-alerts",
            Some(&admin),
            json!({"metric": "sms_alerts", "threshold": 1000, "customer_id": customer}),
        )
        .await,
        201,
    )
    .await;
    let other_plan = json_of(
        app.post(
            "/api/usage-alerts",
            Some(&admin),
            json!({"metric": "sms_alerts", "threshold": 1, "plan_code": "TEAM"}),
        )
        .await,
        201,
    )
    .await;
    let listed = json_of(
        app.get("/api/usage-alerts?plan_code=METERED", &billing)
            .await,
        200,
    )
    .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["data"][0]["id"], plan_alert["id"]);
    assert!(listed["next_cursor"].is_null());

    // Below the threshold: nothing.
    json_of(
        app.post(
            "/api/usage-events",
            Some(&billing),
            batch(&sub, 4, "2030-01-10T05:00:00Z", "first"),
        )
        .await,
        200,
    )
    .await;
    assert!(reached(&app, &admin, &sub).await.is_empty());

    // Twelve batches at once take the usage from 4 to 16, crossing 10: one event.
    let sends = (0..12).map(|i| {
        app.post(
            "/api/usage-events",
            Some(&billing),
            batch(&sub, 1, "2030-01-11T05:00:00Z", &format!("burst-{i}")),
        )
    });
    for res in futures::future::join_all(sends).await {
        assert_eq!(res.status(), 200);
    }
    json_of(
        app.post(
            "/api/usage-events",
            Some(&billing),
            batch(&sub, 5, "2030-01-12T05:00:00Z", "after"),
        )
        .await,
        200,
    )
    .await;
    let events = reached(&app, &admin, &sub).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let fired = &events[0]["after"];
    assert_eq!(fired["alert_id"], plan_alert["id"]);
    assert_eq!(fired["metric"], "sms_alerts");
    assert_eq!(fired["threshold"], 10);
    assert!(fired["usage"].as_i64().unwrap() >= 10, "{fired}");
    assert_eq!(fired["period_start"], "2030-01-10");
    let deliveries = json_of(
        app.get(
            &format!("/api/webhook-endpoints/{endpoint}/deliveries"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(deliveries["data"].as_array().unwrap().len(), 1);

    // The billing contact gets one mail, in Thai.
    let start = Instant::now();
    let mail = loop {
        let page = json_of(
            app.get(&format!("/api/customers/{customer}/emails"), &admin)
                .await,
            200,
        )
        .await;
        let mails: Vec<Value> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == "usage_threshold_reached")
            .cloned()
            .collect();
        if mails.iter().any(|m| m["status"] == "sent") {
            assert_eq!(mails.len(), 1, "{mails:#?}");
            break mails[0].clone();
        }
        assert!(start.elapsed() < DEADLINE, "no usage mail sent: {page:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(mail["recipient"], "accounts@farm.test");
    assert_eq!(mail["locale"], "th");
    let subject = mail["subject"].as_str().unwrap();
    assert!(
        subject.contains("sms_alerts") && subject.contains("10"),
        "{subject}"
    );

    let id = plan_alert["id"].as_str().unwrap();
    let path = format!("/api/usage-alerts/{id}");
    expect_problem(
        app.call(Method::DELETE, &path, Some(&support), None).await,
        403,
    )
    .await;

    // The next period starts the count again: the alert fires once more. (Moving the clock
    // a month on expires the other tokens.)
    let admin = set_date(&app, "2030-02-10").await;
    let billing = admin.clone();
    run_billing(&app, &admin).await;
    let renewed = json_of(
        app.get(&format!("/api/subscriptions/{sub}"), &admin).await,
        200,
    )
    .await;
    assert_eq!(renewed["current_period_start"], "2030-02-10", "{renewed}");
    json_of(
        app.post(
            "/api/usage-events",
            Some(&billing),
            batch(&sub, 10, "2030-02-10T05:00:00Z", "february"),
        )
        .await,
        200,
    )
    .await;
    let events = reached(&app, &admin, &sub).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(
        events
            .iter()
            .any(|e| e["after"]["period_start"] == "2030-02-10")
    );

    // Delete: 204, then 404.
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&billing), None)
            .await
            .status(),
        204
    );
    expect_problem(
        app.call(Method::DELETE, &path, Some(&billing), None).await,
        404,
    )
    .await;
    let listed = json_of(app.get("/api/usage-alerts", &billing).await, 200).await;
    let ids: Vec<&Value> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["id"])
        .collect();
    assert_eq!(ids, vec![&customer_alert["id"], &other_plan["id"]]);
}
