//! Entitlements (SPEC §2.12) on both databases, asked with an API key as the seller's software
//! would: the features and limits of a customer's live plans with this period's usage; the
//! check flips to `limit_reached` when usage reaches the limit, to `suspended` while the
//! customer is suspended and to `no_subscription` once the subscription is canceled — each on
//! the very next request. Members see only their own customer. And two processes on one
//! PostgreSQL: a change made through one is seen by the other's check within a second.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api_keys::create_key;
use crate::common::billing::{insert_customer, member_token, set_date};
use crate::common::process::{free_port, read_log, satang_command};
use crate::common::{Backend, TestApp, expect_problem, json_of, spawn, spawn_clocked};

both_backends!(
    checks_follow_usage_suspension_and_cancellation,
    members_see_only_their_own_entitlements,
);

/// A plan with a feature, a limit on a metered metric and an unlimited limit.
fn sensor_plan(code: &str) -> Value {
    json!({
        "code": code,
        "name": {"th": "เซนเซอร์", "en": "Sensors"},
        "interval": "month",
        "price": 10_000,
        "trial_days": 0,
        "features": ["crop_planning", "sensor_dashboard"],
        "limits": {"sms_alerts": 10, "farms": null},
        "metered": [{"metric": "sms_alerts", "unit_price": 50, "included_units": 100}]
    })
}

/// A customer subscribed to a fresh sensor plan; returns (customer, subscription).
async fn subscribed(app: &TestApp, admin: &str, code: &str) -> (String, String) {
    json_of(
        app.post("/api/plans", Some(admin), sensor_plan(code)).await,
        201,
    )
    .await;
    let customer = insert_customer(app, "ฟาร์มเซนเซอร์", "active")
        .await
        .to_string();
    let sub = json_of(
        app.post(
            "/api/subscriptions",
            Some(admin),
            json!({"customer_id": customer, "plan_code": code}),
        )
        .await,
        201,
    )
    .await;
    (customer, sub["id"].as_str().unwrap().to_owned())
}

fn usage(sub: &str, quantity: i64, at: &str, key: &str) -> Value {
    json!({"events": [{"subscription_id": sub, "metric": "sms_alerts", "quantity": quantity,
                       "timestamp": at, "idempotency_key": key}]})
}

async fn check(app: &TestApp, key: &str, customer: &str, feature: &str) -> Value {
    json_of(
        app.get(
            &format!("/api/entitlements/check?customer_id={customer}&feature={feature}"),
            key,
        )
        .await,
        200,
    )
    .await
}

async fn checks_follow_usage_suspension_and_cancellation(backend: Backend) {
    let Some(app) = spawn_clocked(backend).await else {
        return;
    };
    let admin = set_date(&app, "2030-01-10").await;
    let (customer, sub) = subscribed(&app, &admin, "SENSOR").await;
    let key = create_key(
        &app,
        &admin,
        "farm-platform",
        &["usage:write", "entitlements:read"],
    )
    .await;
    let key = key["secret"].as_str().unwrap().to_owned();

    let view = json_of(
        app.get(&format!("/api/customers/{customer}/entitlements"), &key)
            .await,
        200,
    )
    .await;
    assert_eq!(view["customer_id"], customer.as_str());
    assert!(
        view["as_of"].as_str().unwrap().starts_with("2030-01-10"),
        "{view}"
    );
    assert_eq!(
        view["features"][0],
        json!({"key": "crop_planning", "source": {"subscription_id": sub, "plan_code": "SENSOR"}})
    );
    assert_eq!(
        view["limits"],
        json!([
            {"key": "farms", "limit": null, "usage": 0, "remaining": null},
            {"key": "sms_alerts", "limit": 10, "usage": 0, "remaining": 10},
        ])
    );

    assert_eq!(
        check(&app, &key, &customer, "sensor_dashboard").await,
        json!({"allowed": true})
    );
    assert_eq!(
        check(&app, &key, &customer, "export").await,
        json!({"allowed": false, "reason": "not_in_plan"})
    );
    assert_eq!(
        check(&app, &key, &customer, "farms").await,
        json!({"allowed": true, "limit": null, "usage": 0})
    );
    assert_eq!(
        check(&app, &key, &customer, "sms_alerts").await,
        json!({"allowed": true, "limit": 10, "usage": 0})
    );

    // Usage counts this period only; the check sees each batch on the next request.
    let report = |body: Value| app.post("/api/usage-events", Some(&key), body);
    json_of(
        report(usage(&sub, 6, "2030-01-10T05:00:00Z", "a")).await,
        200,
    )
    .await;
    json_of(
        report(usage(&sub, 50, "2030-02-11T05:00:00Z", "next-period")).await,
        200,
    )
    .await;
    assert_eq!(
        check(&app, &key, &customer, "sms_alerts").await,
        json!({"allowed": true, "limit": 10, "usage": 6})
    );
    json_of(
        report(usage(&sub, 4, "2030-01-11T05:00:00Z", "b")).await,
        200,
    )
    .await;
    assert_eq!(
        check(&app, &key, &customer, "sms_alerts").await,
        json!({"allowed": false, "reason": "limit_reached", "limit": 10, "usage": 10})
    );
    let view = json_of(
        app.get(&format!("/api/customers/{customer}/entitlements"), &key)
            .await,
        200,
    )
    .await;
    assert_eq!(view["limits"][1]["remaining"], 0, "{view}");
    // The other features are still there.
    assert_eq!(
        check(&app, &key, &customer, "crop_planning").await["allowed"],
        true
    );

    // Suspended: nothing, at once; reactivated: back.
    let path = format!("/api/customers/{customer}");
    json_of(
        app.patch(&path, &admin, json!({"status": "suspended"}))
            .await,
        200,
    )
    .await;
    assert_eq!(
        check(&app, &key, &customer, "crop_planning").await,
        json!({"allowed": false, "reason": "suspended"})
    );
    let view = json_of(
        app.get(&format!("/api/customers/{customer}/entitlements"), &key)
            .await,
        200,
    )
    .await;
    assert_eq!(
        (&view["features"], &view["limits"]),
        (&json!([]), &json!([]))
    );
    json_of(
        app.patch(&path, &admin, json!({"status": "active"})).await,
        200,
    )
    .await;
    assert_eq!(
        check(&app, &key, &customer, "crop_planning").await["allowed"],
        true
    );

    // Paused: nothing; resumed: back.
    let sub_path = format!("/api/subscriptions/{sub}");
    json_of(
        app.post(&format!("{sub_path}/pause"), Some(&admin), json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(
        check(&app, &key, &customer, "crop_planning").await["reason"],
        "no_subscription"
    );
    json_of(
        app.post(&format!("{sub_path}/resume"), Some(&admin), json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(
        check(&app, &key, &customer, "crop_planning").await["allowed"],
        true
    );

    // Canceled now: no subscription.
    json_of(
        app.post(
            &format!("{sub_path}/cancel"),
            Some(&admin),
            json!({"at_period_end": false}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        check(&app, &key, &customer, "crop_planning").await,
        json!({"allowed": false, "reason": "no_subscription"})
    );

    // An unknown customer is 404; a malformed question 400.
    let res = app
        .get(
            &format!(
                "/api/entitlements/check?customer_id={}&feature=x",
                uuid::Uuid::now_v7()
            ),
            &key,
        )
        .await;
    expect_problem(res, 404).await;
    let res = app
        .get(
            &format!("/api/entitlements/check?customer_id={customer}"),
            &key,
        )
        .await;
    expect_problem(res, 400).await;
    let res = app
        .get("/api/entitlements/check?customer_id=nope&feature=x", &key)
        .await;
    expect_problem(res, 400).await;
}

async fn members_see_only_their_own_entitlements(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let (customer, _) = subscribed(&app, &admin, "SENSOR").await;
    let other = insert_customer(&app, "Other farm", "active").await;
    let customer_id = customer.parse().unwrap();
    let own = member_token(&app, "own@farm.test", customer_id, "member").await;
    let stranger = member_token(&app, "other@farm.test", other, "owner").await;

    let view = json_of(
        app.get(&format!("/api/customers/{customer}/entitlements"), &own)
            .await,
        200,
    )
    .await;
    assert_eq!(view["features"][1]["key"], "sensor_dashboard");
    assert_eq!(
        check(&app, &own, &customer, "crop_planning").await["allowed"],
        true
    );

    let res = app
        .get(
            &format!("/api/customers/{customer}/entitlements"),
            &stranger,
        )
        .await;
    expect_problem(res, 404).await;
    let res = app
        .get(
            &format!("/api/entitlements/check?customer_id={customer}&feature=crop_planning"),
            &stranger,
        )
        .await;
    expect_problem(res, 404).await;
    // The stranger's own customer has no subscription.
    assert_eq!(
        check(&app, &stranger, &other.to_string(), "crop_planning").await["reason"],
        "no_subscription"
    );
    // Staff read any customer's.
    let viewer = app.staff_token("viewer@satang.test", &["viewer"]).await;
    assert_eq!(
        check(&app, &viewer, &customer, "crop_planning").await["allowed"],
        true
    );
}

/// Two processes on one PostgreSQL: this test's own server (A) and a `satang serve` child (B).
/// B answers a check (and so remembers it); a change made through A — usage crossing the limit,
/// then a cancellation — is seen by B's check within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_process_reaches_the_others_check_within_a_second() {
    let Some(app) = spawn(Backend::Postgres).await else {
        return;
    };
    let admin = app.admin_token().await;
    let (customer, sub) = subscribed(&app, &admin, "SENSOR").await;
    let key = create_key(
        &app,
        &admin,
        "farm-platform",
        &["usage:write", "entitlements:read"],
    )
    .await;
    let key = key["secret"].as_str().unwrap().to_owned();

    let data_dir = app.db.data_dir().join("b");
    std::fs::create_dir_all(&data_dir).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let log = data_dir.join("serve.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = satang_command()
        .args(["serve", "--addr", &addr])
        .env("DATABASE_URL", app.db.url.as_deref().unwrap())
        .env("SATANG_DATA_DIR", &data_dir)
        .env("SATANG_BILLING_INTERVAL", "0")
        .env("SATANG_DB_MAX_CONNECTIONS", "4")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .stdin(Stdio::null())
        .spawn()
        .expect("satang serve starts");
    let b = format!("http://{addr}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("satang serve exited ({status}): {}", read_log(&log));
        }
        if let Ok(res) = http.get(format!("{b}/readyz")).send().await
            && res.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "B not ready: {}", read_log(&log));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let check_on_b = |feature: &'static str| {
        let (http, b, key, customer) = (http.clone(), b.clone(), key.clone(), customer.clone());
        async move {
            let res = http
                .get(format!(
                    "{b}/api/entitlements/check?customer_id={customer}&feature={feature}"
                ))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    /// Asks B until `want` holds; the time it took from the change.
    async fn seen_within<F, Fut>(
        since: Instant,
        mut ask: F,
        want: impl Fn(&Value) -> bool,
    ) -> Duration
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Value>,
    {
        loop {
            let answer = ask().await;
            if want(&answer) {
                return since.elapsed();
            }
            assert!(
                since.elapsed() < Duration::from_secs(5),
                "B still answers {answer} after 5 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    // B remembers the customer's entitlements.
    assert_eq!(
        check_on_b("sms_alerts").await,
        json!({"allowed": true, "limit": 10, "usage": 0})
    );
    assert_eq!(check_on_b("crop_planning").await["allowed"], true);

    // Usage through A crosses the limit.
    let now = chrono::Utc::now().to_rfc3339();
    let changed = Instant::now();
    json_of(
        app.post(
            "/api/usage-events",
            Some(&key),
            usage(&sub, 10, &now, "all"),
        )
        .await,
        200,
    )
    .await;
    let took = seen_within(
        changed,
        || check_on_b("sms_alerts"),
        |a| a["reason"] == "limit_reached",
    )
    .await;
    assert!(
        took < Duration::from_secs(1),
        "B saw the usage after {took:?}"
    );

    // A cancellation through A.
    let changed = Instant::now();
    json_of(
        app.post(
            &format!("/api/subscriptions/{sub}/cancel"),
            Some(&admin),
            json!({"at_period_end": false}),
        )
        .await,
        200,
    )
    .await;
    let took = seen_within(
        changed,
        || check_on_b("crop_planning"),
        |a| a["reason"] == "no_subscription",
    )
    .await;
    assert!(
        took < Duration::from_secs(1),
        "B saw the cancellation after {took:?}"
    );
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}
