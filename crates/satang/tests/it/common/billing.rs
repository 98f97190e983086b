//! Set-up shared by the billing, plan, invoice and subscription tests, through the public API
//! only: customers and members, the test clock, billing runs.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestApp, json_of};

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

/// Moves the test clock to `instant` (RFC 3339) and returns a fresh administrator token (tokens
/// issued before the jump have expired by then).
pub async fn set_clock(app: &TestApp, instant: &str) -> String {
    let admin = app.admin_token().await;
    let res = app
        .post("/api/test-clock", Some(&admin), json!({ "now": instant }))
        .await;
    assert_eq!(res.status(), 200, "move the clock to {instant}");
    app.admin_token().await
}

/// Moves the clock to 10:00 Bangkok on `date` (03:00 UTC, so UTC and Bangkok agree on the day)
/// and returns a fresh administrator token.
pub async fn set_date(app: &TestApp, date: &str) -> String {
    set_clock(app, &format!("{date}T03:00:00Z")).await
}

/// Runs billing (`POST /api/billing/run`) and returns its report.
pub async fn run_billing(app: &TestApp, admin: &str) -> Value {
    json_of(
        app.call(Method::POST, "/api/billing/run", Some(admin), None)
            .await,
        200,
    )
    .await
}

/// The audit entries of the subscription `sub` whose action is `action`, newest first.
pub async fn subscription_audit(app: &TestApp, admin: &str, sub: &str, action: &str) -> Vec<Value> {
    let page = json_of(
        app.get(
            &format!("/api/audit-events?entity_type=subscription&entity_id={sub}&limit=200"),
            admin,
        )
        .await,
        200,
    )
    .await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

/// A credit note of ฿10.00 (plus VAT) on the invoice `invoice_id`, issued by `admin`.
pub async fn credit_note_of_ten_baht(app: &TestApp, admin: &str, invoice_id: &str) -> Value {
    json_of(
        app.post(
            &format!("/api/invoices/{invoice_id}/credit-notes"),
            Some(admin),
            json!({"lines": [{"description": "ส่วนลดย้อนหลัง", "quantity": 1, "unit_amount": 1000}],
                   "reason": "ลดราคาค่าบริการ"}),
        )
        .await,
        201,
    )
    .await
}

/// An issued invoice of one ฿1,000.00 line (฿1,070.00 with VAT).
pub async fn open_invoice(app: &TestApp, token: &str, customer: Uuid) -> Value {
    let draft = json_of(
        app.post(
            "/api/invoices",
            Some(token),
            json!({"customer_id": customer, "lines": [
                {"description": "ค่าบริการระบบฟาร์ม", "quantity": 1, "unit_amount": 100_000}]}),
        )
        .await,
        201,
    )
    .await;
    let id = draft["id"].as_str().unwrap();
    json_of(
        app.post(
            &format!("/api/invoices/{id}/finalize"),
            Some(token),
            json!({}),
        )
        .await,
        200,
    )
    .await
}

/// An invoice's `lines` without their ids (which only lines written to an issued invoice
/// have), to compare an upcoming invoice with the invoice issued for it.
pub fn lines_without_ids(invoice: &Value) -> Value {
    let mut lines = invoice["lines"].clone();
    if let Some(list) = lines.as_array_mut() {
        for line in list {
            if let Some(fields) = line.as_object_mut() {
                fields.remove("id");
            }
        }
    }
    lines
}
