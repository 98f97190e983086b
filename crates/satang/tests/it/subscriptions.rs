//! Black-box tests of subscriptions (SPEC §2.5), on both databases: the lifecycle under the
//! test clock, input validation, and tenancy. Time is moved with the test clock; billing dates
//! are Bangkok dates, so every clock target is 03:00 UTC (10:00 in Bangkok) to keep UTC and
//! Bangkok on the same day.

mod access;
mod input;
mod lifecycle;

use crate::common::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

pub async fn json_of(res: reqwest::Response, status: u16) -> Value {
    let actual = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(actual, status, "{body}");
    body
}

/// Moves the server's clock to 10:00 Bangkok time on `date` and returns a fresh administrator
/// token (tokens issued before the jump have expired by then).
pub async fn set_date(app: &TestApp, date: &str) -> String {
    let res = app
        .post(
            "/api/test-clock",
            Some(&app.admin_token().await),
            json!({"now": format!("{date}T03:00:00Z")}),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.admin_token().await
}

pub async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.post(path, Some(token), body).await
}

/// POST without a body, as a client calling an action with its defaults would.
pub async fn act(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.call(Method::POST, path, Some(token), None).await
}

pub async fn audit_actions(app: &TestApp, admin: &str, id: &str) -> Vec<Value> {
    let events = json_of(
        app.get(
            &format!("/api/audit-events?entity_type=subscription&entity_id={id}"),
            admin,
        )
        .await,
        200,
    )
    .await;
    events["data"].as_array().unwrap().clone()
}
