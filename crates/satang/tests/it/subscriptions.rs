//! Black-box tests of subscriptions (SPEC §2.5), on both databases: the lifecycle under the
//! test clock, input validation, and tenancy. Time is moved with the test clock; billing dates
//! are Bangkok dates, so every clock target is 03:00 UTC (10:00 in Bangkok) to keep UTC and
//! Bangkok on the same day.

mod access;
mod input;
mod lifecycle;

use crate::common::{TestApp, json_of};
use reqwest::Method;
use serde_json::Value;

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
