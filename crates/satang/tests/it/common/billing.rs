//! Set-up shared by the plan and subscription tests, through the public API only.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::TestApp;

/// Creates a THB customer (as the bootstrap admin) and moves it to `status` (`active`,
/// `suspended`, `deleted`).
pub async fn insert_customer(app: &TestApp, name: &str, status: &str) -> Uuid {
    let admin = app.admin_token().await;
    let res = app
        .post("/api/customers", Some(&admin), json!({ "name": name }))
        .await;
    assert_eq!(res.status(), 201, "create customer");
    let customer: Value = res.json().await.unwrap();
    let id: Uuid = customer["id"].as_str().unwrap().parse().unwrap();
    let path = format!("/api/customers/{id}");
    match status {
        "active" => {}
        "suspended" => {
            let res = app
                .patch(&path, &admin, json!({ "status": "suspended" }))
                .await;
            assert_eq!(res.status(), 200, "suspend customer");
        }
        "deleted" => {
            let res = app.call(Method::DELETE, &path, Some(&admin), None).await;
            assert_eq!(res.status(), 204, "delete customer");
        }
        other => panic!("unknown customer status {other}"),
    }
    id
}

/// Signs up a user and makes them a member of `customer_id` with `role`; returns their access
/// token.
pub async fn member_token(app: &TestApp, email: &str, customer_id: Uuid, role: &str) -> String {
    let session: Value = app.signup(email).await;
    let admin = app.admin_token().await;
    let res = app
        .post(
            &format!("/api/customers/{customer_id}/members"),
            Some(&admin),
            json!({ "user_id": session["user"]["id"], "role": role }),
        )
        .await;
    assert_eq!(res.status(), 201, "add member");
    session["access_token"].as_str().unwrap().to_owned()
}
