//! Black-box tests of the auth service (SPEC §2.1) and staff users (§2.2), on both databases.

mod common;

use common::{ADMIN_EMAIL, Backend, PASSWORD, expect_problem, spawn};
use serde_json::{Value, json};

both_backends!(signup_login_me);

async fn signup_login_me(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let signed_up = app.signup("Somchai@Farm.test").await;
    assert_eq!(signed_up["token_type"], "Bearer");
    assert_eq!(signed_up["expires_in"], 900);
    assert_eq!(signed_up["user"]["email"], "Somchai@Farm.test");
    assert_eq!(signed_up["user"]["roles"], json!([]));
    assert!(signed_up["refresh_token"].as_str().unwrap().len() >= 40);

    // Emails are case-insensitive for login.
    let login = app.login("somchai@farm.test", PASSWORD).await;
    let token = login["access_token"].as_str().unwrap();
    let me: Value = app.get("/api/auth/me", token).await.json().await.unwrap();
    assert_eq!(me["email"], "Somchai@Farm.test");
    assert_eq!(me["name"], "ทดสอบ ผู้ใช้");
    assert_eq!(me["roles"], json!([]));
    assert_eq!(me["memberships"], json!([]));
    assert_eq!(me["id"], signed_up["user"]["id"]);

    let admin = app.admin_token().await;
    let me: Value = app.get("/api/auth/me", &admin).await.json().await.unwrap();
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["roles"], json!(["admin"]));

    let res = app
        .call(reqwest::Method::GET, "/api/auth/me", None, None)
        .await;
    expect_problem(res, 401).await;
}
