//! Billing thresholds (SPEC §2.12) on both databases, on the test clock: a subscription's
//! `billing_threshold` is set by billing staff (bad input → 422 naming the field, support staff
//! → 403); usage reported in concurrent batches, while billing runs race the ingestion, reaches
//! the threshold and the usage so far is invoiced once mid-period; more usage past the threshold
//! again is invoiced once more; the period's end invoice bills only the rest; the usage lines of
//! all the period's invoices add up to the price of the period's whole usage (included units and
//! graduated tiers priced on the whole), and nothing is billed twice.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::billing::{run_billing, set_date, subscription_audit};
use crate::common::{Backend, TestApp, expect_problem, json_of, spawn_clocked};

both_backends!(usage_is_invoiced_at_the_threshold_once_and_the_rest_at_the_period_end);

/// 100 units included, then ฿0.50 each up to 1,000 and ฿0.30 each after.
fn price(units: i64) -> i64 {
    let billable = |from: i64, to: i64| (units.min(to) - from).max(0);
    billable(100, 1_000) * 50 + billable(1_000, i64::MAX) * 30
}

fn batch(sub: &str, quantity: i64, at: &str, key: &str) -> Value {
    json!({"events": [{"subscription_id": sub, "metric": "sms_alerts", "quantity": quantity,
                       "timestamp": at, "idempotency_key": key}]})
}

/// The subscription's invoices, oldest first, with their lines.
async fn invoices(app: &TestApp, admin: &str, sub: &str) -> Vec<Value> {
    let page = json_of(
        app.get(
            &format!("/api/invoices?subscription_id={sub}&limit=100"),
            admin,
        )
        .await,
        200,
    )
    .await;
    let mut all = page["data"].as_array().unwrap().clone();
    all.sort_by_key(|i| i["id"].as_str().unwrap().to_owned());
    all
}

/// The mid-period usage invoices: no period key, usage lines only.
fn threshold_invoices(all: &[Value]) -> Vec<Value> {
    all.iter()
        .filter(|i| {
            i["period_start"].is_null()
                && i["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|l| l["kind"] == "usage")
        })
        .cloned()
        .collect()
}

/// The sum of the usage lines of `invoices`.
fn usage_billed(invoices: &[Value]) -> i64 {
    invoices
        .iter()
        .flat_map(|i| i["lines"].as_array().unwrap().iter())
        .filter(|l| l["kind"] == "usage")
        .map(|l| l["amount"].as_i64().unwrap())
        .sum()
}

async fn usage_is_invoiced_at_the_threshold_once_and_the_rest_at_the_period_end(backend: Backend) {
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
                   "metered": [{"metric": "sms_alerts", "unit_price": 50, "included_units": 100,
                                "tiers": [{"up_to": 1000, "unit_price": 50},
                                          {"up_to": null, "unit_price": 30}]}]}),
        )
        .await,
        201,
    )
    .await;
    let customer = json_of(
        app.post(
            "/api/customers",
            Some(&admin),
            json!({"name": "ไร่ส้มเชียงใหม่", "billing_email": "accounts@farm.test"}),
        )
        .await,
        201,
    )
    .await;
    let sub = json_of(
        app.post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": customer["id"], "plan_code": "METERED"}),
        )
        .await,
        201,
    )
    .await;
    assert!(sub["billing_threshold"].is_null(), "{sub}");
    let sub = sub["id"].as_str().unwrap().to_owned();
    let path = format!("/api/subscriptions/{sub}/billing-threshold");

    // Validation names the field and changes nothing; support staff may not; billing may.
    for bad in [json!(0), json!(-5), json!(1_000_000_000_000_001_i64)] {
        let refused = expect_problem(
            app.call(
                Method::PUT,
                &path,
                Some(&billing),
                Some(json!({ "billing_threshold": bad })),
            )
            .await,
            422,
        )
        .await;
        assert!(
            refused["errors"]["billing_threshold"].is_array(),
            "{refused}"
        );
    }
    expect_problem(
        app.call(
            Method::PUT,
            &path,
            Some(&support),
            Some(json!({"billing_threshold": 20_000})),
        )
        .await,
        403,
    )
    .await;
    // ฿200 of unbilled usage: 400 units past the 100 included.
    let set = json_of(
        app.call(
            Method::PUT,
            &path,
            Some(&billing),
            Some(json!({"billing_threshold": 20_000})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(set["billing_threshold"], 20_000);
    assert_eq!(
        subscription_audit(&app, &admin, &sub, "subscription.billing_threshold_set")
            .await
            .len(),
        1
    );

    // 300 units: ฿100 unbilled, below the threshold.
    json_of(
        app.post(
            "/api/usage-events",
            Some(&billing),
            batch(&sub, 300, "2030-01-10T05:00:00Z", "first"),
        )
        .await,
        200,
    )
    .await;
    assert!(threshold_invoices(&invoices(&app, &admin, &sub).await).is_empty());

    // Twenty batches of 20 units at once (300 → 700, crossing 500 where ฿200 is reached), and
    // billing runs racing them: one threshold invoice, however they interleave (once it is
    // issued at least 500 units are billed, so at most ฿100 is left unbilled).
    let sends = (0..20).map(|i| {
        let body = batch(&sub, 20, "2030-01-11T05:00:00Z", &format!("burst-{i}"));
        let (app, billing) = (&app, &billing);
        async move {
            let res = app.post("/api/usage-events", Some(billing), body).await;
            assert_eq!(res.status(), 200);
        }
    });
    let runs = (0..3).map(|_| {
        let (app, admin) = (&app, &admin);
        async move {
            run_billing(app, admin).await;
        }
    });
    futures::future::join(
        futures::future::join_all(sends),
        futures::future::join_all(runs),
    )
    .await;
    // Whatever the interleaving, a run afterwards finds nothing more to invoice.
    let report = run_billing(&app, &admin).await;
    assert_eq!(report["threshold_invoices"], 0, "{report}");
    assert_eq!(report["invoices_created"], 0, "{report}");
    let first = threshold_invoices(&invoices(&app, &admin, &sub).await);
    assert_eq!(first.len(), 1, "{first:#?}");
    let reached =
        subscription_audit(&app, &admin, &sub, "subscription.billing_threshold_reached").await;
    assert_eq!(reached.len(), 1, "{reached:#?}");
    let counted = reached[0]["after"]["usage"][0]["quantity_to"]
        .as_i64()
        .unwrap();
    assert!((500..=700).contains(&counted), "{reached:#?}");
    let invoice = &first[0];
    assert_eq!(invoice["subtotal"], price(counted), "{invoice}");
    assert_eq!(invoice["status"], "open");
    assert!(invoice["number"].is_string());
    assert_eq!(invoice["billing_reason"], "subscription_cycle");
    // 7 % VAT on top, half-up.
    assert_eq!(
        invoice["total"].as_i64().unwrap(),
        price(counted) + (price(counted) * 7 + 50) / 100
    );

    // 600 more (to 1,300, past the tier at 1,000): at least ฿240 unbilled, a second invoice,
    // priced on the whole period; then 50 more, ฿15, below the threshold.
    json_of(
        app.post(
            "/api/usage-events",
            Some(&billing),
            batch(&sub, 600, "2030-01-20T05:00:00Z", "second"),
        )
        .await,
        200,
    )
    .await;
    json_of(
        app.post(
            "/api/usage-events",
            Some(&billing),
            batch(&sub, 50, "2030-01-25T05:00:00Z", "third"),
        )
        .await,
        200,
    )
    .await;
    let mid = threshold_invoices(&invoices(&app, &admin, &sub).await);
    assert_eq!(mid.len(), 2, "{mid:#?}");
    assert_eq!(mid[1]["subtotal"], price(1_300) - price(counted));
    assert_eq!(usage_billed(&mid), price(1_300));

    // The period ends; the run races more ingestion, dated in the new period. January's
    // invoice bills only the rest (฿15); the new period's usage is not on it.
    let admin = set_date(&app, "2030-02-10").await;
    let billing = admin.clone();
    let (report, _) = futures::future::join(
        run_billing(&app, &admin),
        futures::future::join_all((0..5).map(|i| {
            let body = batch(&sub, 10, "2030-02-10T05:00:00Z", &format!("feb-{i}"));
            let (app, billing) = (&app, &billing);
            async move {
                let res = app.post("/api/usage-events", Some(billing), body).await;
                assert_eq!(res.status(), 200);
            }
        })),
    )
    .await;
    assert_eq!(report["invoices_created"], 1, "{report}");
    let all = invoices(&app, &admin, &sub).await;
    let period = all
        .iter()
        .find(|i| i["period_start"] == "2030-02-10")
        .expect("the period invoice");
    let usage: Vec<&Value> = period["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "usage")
        .collect();
    assert_eq!(usage.len(), 1, "{period}");
    assert_eq!(usage[0]["amount"], price(1_350) - price(1_300));
    let description = usage[0]["description"].as_str().unwrap();
    assert!(
        description.contains("1350 used") && description.contains("1300 invoiced earlier"),
        "{description}"
    );
    // Never twice: January's usage lines, over every invoice, price its whole usage once.
    assert_eq!(usage_billed(&all), price(1_350));
    assert_eq!(threshold_invoices(&all).len(), 2);

    // Nothing more on a second run the same day.
    let again = run_billing(&app, &admin).await;
    assert_eq!(again["invoices_created"], 0, "{again}");
    assert_eq!(again["threshold_invoices"], 0, "{again}");

    // Cleared: usage waits for the period's end again.
    let cleared = json_of(
        app.call(
            Method::PUT,
            &path,
            Some(&admin),
            Some(json!({"billing_threshold": null})),
        )
        .await,
        200,
    )
    .await;
    assert!(cleared["billing_threshold"].is_null());
}
