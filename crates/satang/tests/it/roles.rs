//! The role × route table (SPEC §2.2): every role — staff admin, billing, support, viewer;
//! members owner, admin, billing, member; a signed-in stranger; an anonymous caller — against
//! every customer-service route, with the status each must get. Each row runs on a fresh customer
//! so allowed mutations do not disturb the next row.

use crate::common::{Backend, TestApp, spawn};
use reqwest::Method;
use serde_json::{Value, json};

/// Column order of the expected statuses.
const ROLES: [&str; 10] = [
    "admin",
    "billing",
    "support",
    "viewer",
    "owner",
    "m_admin",
    "m_billing",
    "m_member",
    "stranger",
    "anonymous",
];

/// (method, path, body, expected status per role in [`ROLES`] order). `{c}` is the row's
/// customer, `{contact}` one of its contacts, `{owner}`, `{m_admin}`, `{m_billing}` and
/// `{member}` its members, `{sub}` its subscription, `{inv}` an open invoice of 1,070.00,
/// `{plan}` a plan made for the row, `{n}` a unique number.
type Row = (&'static str, &'static str, Option<&'static str>, [u16; 10]);

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // method, path, body, expected: admin billing support viewer | owner m_admin m_billing m_member | stranger anonymous
    ("GET", "/api/customers", None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 401]),
    ("POST", "/api/customers", Some(r#"{"name":"New farm {n}"}"#), [201, 403, 201, 403, 403, 403, 403, 403, 403, 401]),
    ("GET", "/api/customers/{c}", None, [200, 200, 200, 200, 200, 200, 200, 200, 404, 401]),
    ("PATCH", "/api/customers/{c}", Some(r#"{"name":"Renamed {n}"}"#), [200, 403, 200, 403, 200, 200, 403, 403, 404, 401]),
    ("PATCH", "/api/customers/{c}", Some(r#"{"status":"suspended"}"#), [200, 403, 200, 403, 403, 403, 403, 403, 404, 401]),
    ("DELETE", "/api/customers/{c}", None, [204, 403, 204, 403, 403, 403, 403, 403, 404, 401]),
    ("POST", "/api/customers/{c}/restore", Some("{}"), [409, 403, 409, 403, 403, 403, 403, 403, 404, 401]),
    ("GET", "/api/customers/{c}/export", None, [200, 403, 200, 403, 200, 200, 403, 403, 404, 401]),
    ("POST", "/api/customers/{c}/erase", Some("{}"), [200, 403, 200, 403, 403, 403, 403, 403, 404, 401]),
    ("GET", "/api/customers/{c}/contacts", None, [200, 200, 200, 200, 200, 200, 200, 200, 404, 401]),
    ("POST", "/api/customers/{c}/contacts", Some(r#"{"name":"C {n}","role":"ops"}"#), [201, 403, 201, 403, 201, 201, 403, 403, 404, 401]),
    ("GET", "/api/customers/{c}/contacts/{contact}", None, [200, 200, 200, 200, 200, 200, 200, 200, 404, 401]),
    ("PATCH", "/api/customers/{c}/contacts/{contact}", Some(r#"{"phone":"021234567"}"#), [200, 403, 200, 403, 200, 200, 403, 403, 404, 401]),
    ("DELETE", "/api/customers/{c}/contacts/{contact}", None, [204, 403, 204, 403, 204, 204, 403, 403, 404, 401]),
    ("GET", "/api/customers/{c}/members", None, [200, 200, 200, 200, 200, 200, 200, 200, 404, 401]),
    ("POST", "/api/customers/{c}/members", Some(r#"{"email":"invitee{n}@x.test","role":"member"}"#), [201, 403, 201, 403, 201, 201, 403, 403, 404, 401]),
    ("PATCH", "/api/customers/{c}/members/{member}", Some(r#"{"role":"billing"}"#), [200, 403, 200, 403, 200, 200, 403, 403, 404, 401]),
    ("DELETE", "/api/customers/{c}/members/{member}", None, [204, 403, 204, 403, 204, 204, 403, 403, 404, 401]),
    // Only an owner (or staff) grants or takes the owner role; nobody raises their own role.
    ("POST", "/api/customers/{c}/members", Some(r#"{"email":"owner{n}@x.test","role":"owner"}"#), [201, 403, 201, 403, 201, 403, 403, 403, 404, 401]),
    ("PATCH", "/api/customers/{c}/members/{m_admin}", Some(r#"{"role":"owner"}"#), [200, 403, 200, 403, 200, 403, 403, 403, 404, 401]),
    ("PATCH", "/api/customers/{c}/members/{m_admin}", Some(r#"{"role":"billing"}"#), [200, 403, 200, 403, 200, 403, 403, 403, 404, 401]),
    ("PATCH", "/api/customers/{c}/members/{m_billing}", Some(r#"{"role":"admin"}"#), [200, 403, 200, 403, 200, 200, 403, 403, 404, 401]),
    ("PATCH", "/api/customers/{c}/members/{owner}", Some(r#"{"role":"member"}"#), [409, 403, 409, 403, 409, 403, 403, 403, 404, 401]),
    ("DELETE", "/api/customers/{c}/members/{owner}", None, [409, 403, 409, 403, 409, 403, 403, 403, 404, 401]),
    ("GET", "/api/plans", None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 401]),
    ("POST", "/api/plans", Some(r#"{"code":"NEW{n}","name":{"th":"ใหม่","en":"New"},"interval":"month","price":1000}"#), [201, 403, 403, 403, 403, 403, 403, 403, 403, 401]),
    ("GET", "/api/plans/{plan}", None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 401]),
    ("PATCH", "/api/plans/{plan}", Some(r#"{"name":{"en":"Renamed"}}"#), [200, 403, 403, 403, 403, 403, 403, 403, 403, 401]),
    ("POST", "/api/plans/{plan}/archive", Some("{}"), [200, 403, 403, 403, 403, 403, 403, 403, 403, 401]),
    ("GET", "/api/subscriptions", None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 401]),
    ("POST", "/api/subscriptions", Some(r#"{"customer_id":"{c}","plan_code":"PRO"}"#), [201, 201, 403, 403, 201, 403, 201, 403, 404, 401]),
    // A trial other than the plan's is the operator's to grant.
    ("POST", "/api/subscriptions", Some(r#"{"customer_id":"{c}","plan_code":"PRO","trial_days":90}"#), [201, 201, 403, 403, 403, 403, 403, 403, 404, 401]),
    ("GET", "/api/subscriptions/{sub}", None, [200, 200, 200, 200, 200, 200, 200, 200, 404, 401]),
    ("GET", "/api/customers/{c}/subscriptions", None, [200, 200, 200, 200, 200, 200, 200, 200, 404, 401]),
    ("POST", "/api/subscriptions/{sub}/pause", Some("{}"), [200, 200, 403, 403, 403, 403, 403, 403, 404, 401]),
    ("POST", "/api/subscriptions/{sub}/resume", Some("{}"), [409, 409, 403, 403, 403, 403, 403, 403, 404, 401]),
    ("POST", "/api/subscriptions/{sub}/cancel", Some(r#"{"at_period_end":true}"#), [200, 200, 403, 403, 200, 403, 200, 403, 404, 401]),
    // Crediting unused days gives money back: staff only.
    ("POST", "/api/subscriptions/{sub}/cancel", Some(r#"{"at_period_end":false,"prorate":true}"#), [200, 200, 403, 403, 403, 403, 403, 403, 404, 401]),
    ("POST", "/api/subscriptions/{sub}/change-plan", Some(r#"{"plan_code":"TEAM","quantity":2,"preview":true}"#), [200, 200, 200, 200, 200, 200, 200, 200, 404, 401]),
    ("POST", "/api/subscriptions/{sub}/change-plan", Some(r#"{"plan_code":"TEAM","quantity":2}"#), [200, 200, 403, 403, 200, 403, 200, 403, 404, 401]),
    ("GET", "/api/invoices", None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 401]),
    ("GET", "/api/customers/{c}/invoices", None, [200, 200, 200, 200, 200, 200, 200, 200, 404, 401]),
    ("GET", "/api/payments", None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 401]),
    // Recording a payment is a staff act: a member pays through a method that moves money.
    ("POST", "/api/invoices/{inv}/payments", Some(r#"{"amount":100,"method":"cash"}"#), [201, 201, 403, 403, 403, 403, 403, 403, 404, 401]),
    ("POST", "/api/invoices/{inv}/payments", Some(r#"{"amount":1000000,"method":"bank_transfer"}"#), [201, 201, 403, 403, 403, 403, 403, 403, 404, 401]),
    // The invoice's mails and credit notes are read like the invoice; sending it again (the row
    // farm has no address: 409) and editing a draft (this one is issued: 409) are staff acts.
    ("GET", "/api/invoices/{inv}/emails", None, [200, 200, 200, 200, 200, 200, 200, 200, 404, 401]),
    ("GET", "/api/invoices/{inv}/credit-notes", None, [200, 200, 200, 200, 200, 200, 200, 200, 404, 401]),
    ("POST", "/api/invoices/{inv}/send", Some("{}"), [409, 409, 403, 403, 403, 403, 403, 403, 404, 401]),
    ("POST", "/api/invoices/{inv}/lines", Some(r#"{"description":"Extra","quantity":1,"unit_amount":100}"#), [409, 409, 403, 403, 403, 403, 403, 403, 404, 401]),
    ("DELETE", "/api/invoices/{inv}", None, [409, 409, 403, 403, 403, 403, 403, 403, 404, 401]),
    ("POST", "/api/billing/run", Some("{}"), [200, 403, 403, 403, 403, 403, 403, 403, 403, 401]),
    ("GET", "/api/analytics/summary", None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 401]),
    ("GET", "/api/analytics/plans", None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 401]),
    ("GET", "/api/webhook-endpoints", None, [200, 403, 403, 403, 403, 403, 403, 403, 403, 401]),
    ("POST", "/api/webhook-endpoints", Some(r#"{"url":"https://hooks.example.test/{n}","events":["*"]}"#), [201, 403, 403, 403, 403, 403, 403, 403, 403, 401]),
    ("POST", "/api/usage-events", Some(r#"{"events":[]}"#), [422, 422, 403, 403, 403, 403, 403, 403, 403, 401]),
    ("GET", "/api/customers/{c}/payment-methods", None, [200, 200, 200, 200, 200, 200, 200, 200, 404, 401]),
    ("POST", "/api/customers/{c}/payment-methods", Some(r#"{"type":"promptpay"}"#), [201, 201, 403, 403, 201, 403, 201, 403, 404, 401]),
    ("GET", "/api/settings", None, [200, 200, 200, 200, 403, 403, 403, 403, 403, 401]),
    ("PATCH", "/api/settings", Some(r#"{"invoice_prefix":"INV"}"#), [200, 403, 403, 403, 403, 403, 403, 403, 403, 401]),
    // The e-Tax certificate: staff read it (none here: 404), admins change it (a file that is
    // not PKCS#12: 422, nothing stored; none to remove: 404).
    ("GET", "/api/settings/etax-certificate", None, [404, 404, 404, 404, 403, 403, 403, 403, 403, 401]),
    ("PUT", "/api/settings/etax-certificate", Some(r#"{"file":"bm90IGEgcDEy","password":"x"}"#), [422, 403, 403, 403, 403, 403, 403, 403, 403, 401]),
    ("DELETE", "/api/settings/etax-certificate", None, [404, 403, 403, 403, 403, 403, 403, 403, 403, 401]),
    ("GET", "/api/users", None, [200, 403, 403, 403, 403, 403, 403, 403, 403, 401]),
    ("GET", "/api/audit-events", None, [200, 200, 200, 403, 403, 403, 403, 403, 403, 401]),
    ("GET", "/api/auth/me", None, [200, 200, 200, 200, 200, 200, 200, 200, 200, 401]),
];

struct Cast {
    tokens: Vec<Option<String>>,
    /// User ids of the four member roles, in order owner, admin, billing, member.
    members: Vec<String>,
}

async fn cast(app: &TestApp) -> Cast {
    let mut tokens = Vec::new();
    tokens.push(Some(app.admin_token().await));
    for role in ["billing", "support", "viewer"] {
        tokens.push(Some(
            app.staff_token(&format!("{role}@staff.test"), &[role])
                .await,
        ));
    }
    let mut members = Vec::new();
    for role in ["owner", "admin", "billing", "member", "stranger"] {
        let session = app.signup(&format!("{role}@member.test")).await;
        tokens.push(Some(session["access_token"].as_str().unwrap().to_owned()));
        members.push(session["user"]["id"].as_str().unwrap().to_owned());
    }
    tokens.push(None);
    // The stranger belongs to a customer of their own.
    let admin = tokens[0].clone().unwrap();
    let other = app
        .post(
            "/api/customers",
            Some(&admin),
            json!({"name": "Stranger's farm"}),
        )
        .await;
    let other: Value = other.json().await.unwrap();
    let res = app
        .post(
            &format!("/api/customers/{}/members", other["id"].as_str().unwrap()),
            Some(&admin),
            json!({"user_id": members[4], "role": "owner"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    members.truncate(4);
    Cast { tokens, members }
}

/// What a row's placeholders stand for.
struct Fixture {
    customer: String,
    invoice: String,
    contact: String,
    subscription: String,
    plan: String,
}

/// A customer with the four member roles, one contact and a PRO subscription, and a plan of
/// its own.
async fn fixture(app: &TestApp, cast: &Cast, n: usize) -> Fixture {
    let admin = cast.tokens[0].as_deref().unwrap();
    let customer: Value = app
        .post("/api/customers", Some(admin), json!({"name": "Row farm"}))
        .await
        .json()
        .await
        .unwrap();
    let id = customer["id"].as_str().unwrap().to_owned();
    for (user, role) in cast
        .members
        .iter()
        .zip(["owner", "admin", "billing", "member"])
    {
        let res = app
            .post(
                &format!("/api/customers/{id}/members"),
                Some(admin),
                json!({"user_id": user, "role": role}),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let contact: Value = app
        .post(
            &format!("/api/customers/{id}/contacts"),
            Some(admin),
            json!({"name": "Row contact", "role": "billing"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let subscription: Value = app
        .post(
            "/api/subscriptions",
            Some(admin),
            json!({"customer_id": id, "plan_code": "PRO"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let plan: Value = app
        .post(
            "/api/plans",
            Some(admin),
            json!({"code": format!("ROW{n}"), "name": {"th": "แถว", "en": "Row"}, "interval": "month", "price": 50000}),
        )
        .await
        .json()
        .await
        .unwrap();
    let invoice: Value = app
        .post(
            "/api/invoices",
            Some(admin),
            json!({"customer_id": id, "lines": [{"description": "Soil test", "quantity": 1, "unit_amount": 100000}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let invoice = invoice["id"].as_str().expect("invoice created").to_owned();
    let res = app
        .post(
            &format!("/api/invoices/{invoice}/finalize"),
            Some(admin),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200, "finalize");
    Fixture {
        invoice,
        customer: id,
        contact: contact["id"].as_str().unwrap().to_owned(),
        subscription: subscription["id"]
            .as_str()
            .expect("subscription created")
            .to_owned(),
        plan: plan["id"].as_str().expect("plan created").to_owned(),
    }
}

both_backends!(every_role_gets_the_right_status_on_every_route);

async fn every_role_gets_the_right_status_on_every_route(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let cast = cast(&app).await;
    let mut failures = Vec::new();
    let mut n = 0;
    for (method, path, body, expected) in TABLE {
        for (column, role) in ROLES.iter().enumerate() {
            n += 1;
            let f = fixture(&app, &cast, n).await;
            let fill = |s: &str| {
                s.replace("{c}", &f.customer)
                    .replace("{contact}", &f.contact)
                    .replace("{sub}", &f.subscription)
                    .replace("{plan}", &f.plan)
                    .replace("{inv}", &f.invoice)
                    .replace("{owner}", &cast.members[0])
                    .replace("{m_admin}", &cast.members[1])
                    .replace("{m_billing}", &cast.members[2])
                    .replace("{member}", &cast.members[3])
                    .replace("{n}", &n.to_string())
            };
            let body: Option<Value> = body.map(|b| serde_json::from_str(&fill(b)).unwrap());
            let res = app
                .call(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &fill(path),
                    cast.tokens[column].as_deref(),
                    body,
                )
                .await;
            let status = res.status().as_u16();
            if status != expected[column] {
                failures.push(format!(
                    "{method} {path} as {role}: got {status}, want {}",
                    expected[column]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
