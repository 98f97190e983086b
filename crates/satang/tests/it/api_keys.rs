//! API keys (SPEC §2.12) on both databases: an administrator makes a key whose secret is shown
//! once; a program holding only the key reports usage and checks entitlements, is refused
//! (403) on every route its scopes do not name, is named by the audit log, and is refused
//! (401) the moment the key is revoked.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::billing::insert_customer;
use crate::common::process::poll;
use crate::common::{Backend, TestApp, expect_problem, json_of, spawn};

both_backends!(
    a_key_works_where_its_scopes_allow_and_nowhere_else,
    keys_are_validated_and_managed_by_admins_only,
);

/// Creates a key as `token`; returns the whole answer (with its secret).
pub async fn create_key(app: &TestApp, token: &str, name: &str, scopes: &[&str]) -> Value {
    json_of(
        app.post(
            "/api/api-keys",
            Some(token),
            json!({"name": name, "scopes": scopes}),
        )
        .await,
        201,
    )
    .await
}

async fn a_key_works_where_its_scopes_allow_and_nowhere_else(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let customer = insert_customer(&app, "ฟาร์มสุขใจ", "active").await;
    // TEAM prices SMS alerts, so usage of them can be reported.
    let sub = json_of(
        app.post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": customer, "plan_code": "TEAM", "trial_days": 0}),
        )
        .await,
        201,
    )
    .await;
    let sub = sub["id"].as_str().unwrap().to_owned();

    let created = create_key(
        &app,
        &admin,
        "farm-platform",
        &["usage:write", "entitlements:read"],
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sk_") && secret.len() > 40, "{secret}");
    let prefix = created["prefix"].as_str().unwrap();
    assert!(secret.starts_with(prefix) && prefix.len() < 16, "{prefix}");
    assert_eq!(
        created["scopes"],
        json!(["usage:write", "entitlements:read"])
    );
    assert!(created["last_used_at"].is_null());

    // The program holding only the key reports usage and checks an entitlement.
    let now = chrono::Utc::now().to_rfc3339();
    let receipt = json_of(
        app.post(
            "/api/usage-events",
            Some(&secret),
            json!({"events": [{"subscription_id": sub, "metric": "sms_alerts", "quantity": 3,
                               "timestamp": now, "idempotency_key": "k-1"}]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(receipt["accepted"], 1);
    let check = json_of(
        app.get(
            &format!("/api/entitlements/check?customer_id={customer}&feature=crop_planning"),
            &secret,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(check["allowed"], true, "{check}");
    json_of(
        app.get(&format!("/api/customers/{customer}/entitlements"), &secret)
            .await,
        200,
    )
    .await;

    // Everything else is refused with 403, whatever the route itself would check.
    let c = format!("/api/customers/{customer}");
    for (method, path) in [
        (Method::GET, "/api/customers".to_owned()),
        (Method::GET, c.clone()),
        (Method::GET, "/api/invoices".to_owned()),
        (Method::GET, format!("/api/subscriptions/{sub}")),
        (Method::GET, "/api/plans".to_owned()),
        (Method::GET, "/api/auth/me".to_owned()),
        (Method::GET, "/api/api-keys".to_owned()),
        (Method::GET, "/api/audit-events".to_owned()),
        (Method::POST, format!("/api/subscriptions/{sub}/cancel")),
        (Method::POST, "/api/billing/run".to_owned()),
    ] {
        let res = app.call(method.clone(), &path, Some(&secret), None).await;
        assert_eq!(res.status(), 403, "{method} {path}");
        expect_problem(res, 403).await;
    }
    let res = app
        .post(
            "/api/api-keys",
            Some(&secret),
            json!({"name": "x", "scopes": ["usage:write"]}),
        )
        .await;
    expect_problem(res, 403).await;
    // A key with customers:read reads customers, and still may not write them.
    let reader = create_key(&app, &admin, "crm-sync", &["customers:read"]).await;
    let reader = reader["secret"].as_str().unwrap();
    json_of(app.get(&c, reader).await, 200).await;
    let res = app.patch(&c, reader, json!({"name": "Renamed"})).await;
    expect_problem(res, 403).await;

    // Unknown or malformed keys: 401.
    for bogus in ["sk_", "sk_nonsense", &format!("{secret}x")] {
        let res = app.get("/api/customers", bogus).await;
        expect_problem(res, 401).await;
    }

    // The secret is never shown again.
    let res = app.get("/api/api-keys", &admin).await;
    let text = res.text().await.unwrap();
    assert!(!text.contains(&secret), "{text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .expect("the key is listed")
        .clone();
    assert!(listed.get("secret").is_none(), "{listed}");
    assert_eq!(listed["prefix"], prefix);
    assert_eq!(listed["name"], "farm-platform");
    // Its use is recorded (off the request path, so it may take a moment).
    poll(Duration::from_secs(5), "last_used_at", || async {
        let list: Value = app.get("/api/api-keys", &admin).await.json().await.unwrap();
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == key_id.as_str())
            .filter(|k| k["last_used_at"].is_string())
            .map(|_| ())
    })
    .await;

    // The audit log names the key that reported the usage.
    let events = json_of(
        app.get("/api/audit-events?entity_type=usage_batch", &admin)
            .await,
        200,
    )
    .await;
    let event = &events["data"][0];
    assert_eq!(event["actor_api_key_id"], key_id.as_str(), "{event}");
    assert_eq!(event["actor_api_key_name"], "farm-platform");
    assert!(event["actor_id"].is_null());

    // Revoked: refused at once, gone from the list; revoking again is 404.
    let path = format!("/api/api-keys/{key_id}");
    let res = app.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(res.status(), 204);
    let res = app
        .get(
            &format!("/api/entitlements/check?customer_id={customer}&feature=crop_planning"),
            &secret,
        )
        .await;
    expect_problem(res, 401).await;
    let res = app.call(Method::DELETE, &path, Some(&admin), None).await;
    expect_problem(res, 404).await;
    let list: Value = app.get("/api/api-keys", &admin).await.json().await.unwrap();
    assert!(
        !list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == key_id.as_str())
    );
    let revoked = json_of(
        app.get(
            &format!("/api/audit-events?entity_type=api_key&entity_id={key_id}"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(revoked["data"][0]["action"], "api_key.revoked");
}

async fn keys_are_validated_and_managed_by_admins_only(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    for (body, field) in [
        (json!({"name": "", "scopes": ["usage:write"]}), "name"),
        (json!({"name": "   ", "scopes": ["usage:write"]}), "name"),
        (
            json!({"name": "x".repeat(101), "scopes": ["usage:write"]}),
            "name",
        ),
        (json!({"name": "ok", "scopes": []}), "scopes"),
        (
            json!({"name": "ok", "scopes": ["usage:write", "admin"]}),
            "scopes",
        ),
        (json!({"name": "ok", "scopes": "usage:write"}), "scopes"),
        (json!({"scopes": ["usage:write"]}), "name"),
    ] {
        let res = app.post("/api/api-keys", Some(&admin), body.clone()).await;
        let problem = expect_problem(res, 422).await;
        assert!(problem["errors"][field].is_array(), "{body}: {problem}");
    }
    let list = json_of(app.get("/api/api-keys", &admin).await, 200).await;
    assert_eq!(list["data"], json!([]), "a refusal stores nothing");

    // Staff other than admins, and members, may not manage keys.
    let billing = app.staff_token("billing@satang.test", &["billing"]).await;
    let res = app
        .post(
            "/api/api-keys",
            Some(&billing),
            json!({"name": "x", "scopes": ["usage:write"]}),
        )
        .await;
    expect_problem(res, 403).await;
    expect_problem(app.get("/api/api-keys", &billing).await, 403).await;
    let key = create_key(&app, &admin, "x", &["invoices:read"]).await;
    let res = app
        .call(
            Method::DELETE,
            &format!("/api/api-keys/{}", key["id"].as_str().unwrap()),
            Some(&billing),
            None,
        )
        .await;
    expect_problem(res, 403).await;
    let res = app
        .call(
            Method::DELETE,
            &format!("/api/api-keys/{}", uuid::Uuid::now_v7()),
            Some(&admin),
            None,
        )
        .await;
    expect_problem(res, 404).await;
    // A key with invoices:read reads invoices.
    let secret = key["secret"].as_str().unwrap();
    json_of(app.get("/api/invoices", secret).await, 200).await;
    expect_problem(
        app.call(Method::GET, "/api/api-keys", None, None).await,
        401,
    )
    .await;
}
