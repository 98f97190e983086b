//! Test set-up the HTTP API of this branch cannot do yet: customers and their members are
//! written straight into the running server's database through `satang_store`.
//!
//! Until POST /api/customers (and POST /api/customers/{id}/members) lands: then these helpers
//! become two API calls and the tests stay black-box end to end.
#![allow(dead_code)]

use satang_store::Sql;
use serde_json::Value;
use uuid::Uuid;

use crate::common::TestApp;

/// Inserts a THB customer with the given status (`active`, `suspended`, `deleted`).
// until POST /api/customers lands
pub async fn insert_customer(app: &TestApp, name: &str, status: &str) -> Uuid {
    let state = &app.server.as_ref().expect("server").state;
    let id = Uuid::now_v7();
    state
        .db
        .execute(
            Sql::new(
                "INSERT INTO customers (id, name, currency, status, created_at, updated_at) \
                 VALUES ($1, $2, 'THB', $3, $4, $4)",
            )
            .bind(id)
            .bind(name)
            .bind(status)
            .bind(state.clock.now()),
        )
        .await
        .expect("insert customer");
    id
}

/// Signs up a user and makes them a member of `customer_id` with `role`; returns their access
/// token.
// until POST /api/customers/{id}/members lands
pub async fn member_token(app: &TestApp, email: &str, customer_id: Uuid, role: &str) -> String {
    let session: Value = app.signup(email).await;
    let user_id: Uuid = session["user"]["id"].as_str().unwrap().parse().unwrap();
    let state = &app.server.as_ref().expect("server").state;
    state
        .db
        .execute(
            Sql::new(
                "INSERT INTO customer_users (customer_id, user_id, role, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(customer_id)
            .bind(user_id)
            .bind(role)
            .bind(state.clock.now()),
        )
        .await
        .expect("insert membership");
    session["access_token"].as_str().unwrap().to_owned()
}
