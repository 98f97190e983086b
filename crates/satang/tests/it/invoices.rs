//! Black-box tests of invoices, payments and credit notes (SPEC §2.6, §4), on both databases.
//! The test clock pins the date (10:00 Bangkok on 2030-03-10), so numbers and due dates are
//! exact; the scheduler is off so only these requests change anything.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::billing::{insert_customer, member_token};
use crate::common::{Backend, TestApp, expect_problem, json_of, spawn_clocked_on};

/// The day the test clock is set to, at 10:00 in Bangkok.
const TODAY: &str = "2030-03-10";

both_backends!(
    drafts_finalise_with_gapless_numbers_vat_and_transitions,
    payments_partial_over_and_credit_balance,
    withholding_tax_settles_an_invoice,
    tenancy_and_roles,
    credit_notes_correct_finalised_invoices,
    idempotent_replay_creates_one_invoice,
    a_draft_takes_and_loses_lines_and_a_one_off_draft_is_deleted,
    an_open_invoice_is_sent_again,
);

/// A draft with the given `(quantity, unit_amount)` lines.
async fn draft(app: &TestApp, token: &str, customer: Uuid, lines: &[(i64, i64)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(q, u)| json!({"description": "ค่าบริการที่ปรึกษาการเกษตร", "quantity": q, "unit_amount": u}))
        .collect();
    json_of(
        app.post(
            "/api/invoices",
            Some(token),
            json!({"customer_id": customer, "lines": lines}),
        )
        .await,
        201,
    )
    .await
}

async fn act(app: &TestApp, token: &str, id: &Value, action: &str) -> reqwest::Response {
    let id = id.as_str().unwrap();
    app.call(
        Method::POST,
        &format!("/api/invoices/{id}/{action}"),
        Some(token),
        None,
    )
    .await
}

async fn issued(app: &TestApp, token: &str, customer: Uuid, lines: &[(i64, i64)]) -> Value {
    let d = draft(app, token, customer, lines).await;
    json_of(act(app, token, &d["id"], "finalize").await, 200).await
}

async fn drafts_finalise_with_gapless_numbers_vat_and_transitions(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = insert_customer(&app, "สหกรณ์การเกษตรบ้านนา", "active").await;
    // 2 × 50.00 + 23.50 = 123.50 baht; VAT 7 % = 8.645 → 8.65 (half-up once on the subtotal).
    let d = draft(&app, &admin, customer, &[(2, 5000), (1, 2350)]).await;
    assert_eq!(d["status"], "draft");
    assert_eq!(d["number"], Value::Null);
    assert_eq!(d["billing_reason"], "manual");
    assert_eq!(d["lines"].as_array().unwrap().len(), 2);
    assert_eq!(d["lines"][0]["amount"], 10000);
    assert_eq!(
        (&d["subtotal"], &d["vat_amount"], &d["total"]),
        (&json!(12350), &json!(865), &json!(13215))
    );
    let first = json_of(act(&app, &admin, &d["id"], "finalize").await, 200).await;
    assert_eq!(first["status"], "open");
    assert_eq!(first["number"], "INV-2030-000001");
    assert_eq!(first["vat_rate_bps"], 700);
    assert_eq!(first["vat_rate"], "7.00");
    assert_eq!(first["amount_due"], 13215);
    assert_eq!(first["due_date"], "2030-04-09");
    assert!(
        first["issued_at"]
            .as_str()
            .unwrap()
            .starts_with("2030-03-10T03:00")
    );
    assert_eq!(first["customer"]["name"], "สหกรณ์การเกษตรบ้านนา");
    assert!(first["seller"].is_object());
    expect_problem(act(&app, &admin, &d["id"], "finalize").await, 409).await;

    // 3 × 333.33 = 999.99; VAT 69.9993 → 70.00.
    let second = issued(&app, &admin, customer, &[(3, 33333)]).await;
    assert_eq!(second["number"], "INV-2030-000002");
    assert_eq!(
        (&second["vat_amount"], &second["total"]),
        (&json!(7000), &json!(106999))
    );

    // A draft cannot be voided; an open invoice can, once.
    let other = draft(&app, &admin, customer, &[(1, 100)]).await;
    expect_problem(act(&app, &admin, &other["id"], "void").await, 409).await;
    expect_problem(
        act(&app, &admin, &other["id"], "mark-uncollectible").await,
        409,
    )
    .await;
    let voided = json_of(act(&app, &admin, &second["id"], "void").await, 200).await;
    assert_eq!(
        (&voided["status"], &voided["amount_due"]),
        (&json!("void"), &json!(0))
    );
    expect_problem(act(&app, &admin, &second["id"], "void").await, 409).await;
    expect_problem(
        act(&app, &admin, &second["id"], "mark-uncollectible").await,
        409,
    )
    .await;
    let bad = json_of(
        act(&app, &admin, &first["id"], "mark-uncollectible").await,
        200,
    )
    .await;
    assert_eq!(bad["status"], "uncollectible");
    // Voiding kept the number: the next one is 000003, no gap, no reuse.
    let third = json_of(act(&app, &admin, &other["id"], "finalize").await, 200).await;
    assert_eq!(third["number"], "INV-2030-000003");

    let list = json_of(
        app.get(
            &format!("/api/invoices?customer_id={customer}&status=open"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let all = json_of(
        app.get(
            &format!("/api/customers/{customer}/invoices?limit=2"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    assert!(all["next_cursor"].is_string());
    expect_problem(app.get("/api/invoices?status=late", &admin).await, 400).await;
    let res = app
        .post("/api/invoices", Some(&admin),
            json!({"customer_id": customer, "lines": [{"description": "", "quantity": 0, "unit_amount": -1}]}))
        .await;
    let problem = expect_problem(res, 422).await;
    assert!(problem["errors"]["lines[0].quantity"].is_array());
}

async fn pay(app: &TestApp, token: &str, invoice: &Value, body: Value) -> reqwest::Response {
    let id = invoice["id"].as_str().unwrap();
    app.post(&format!("/api/invoices/{id}/payments"), Some(token), body)
        .await
}

async fn payments_partial_over_and_credit_balance(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = insert_customer(&app, "ไร่สุขใจ", "active").await;
    let inv = issued(&app, &admin, customer, &[(2, 5000), (1, 2350)]).await;
    let partial = json_of(
        pay(
            &app,
            &admin,
            &inv,
            json!({"amount": 5000, "method": "promptpay", "reference": "PP-1"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(partial["invoice"]["status"], "open");
    assert_eq!(partial["invoice"]["amount_paid"], 5000);
    assert_eq!(partial["invoice"]["amount_due"], 8215);
    assert_eq!(partial["payment"]["overpayment"], 0);
    let full = json_of(
        pay(
            &app,
            &admin,
            &inv,
            json!({"amount": 10000, "method": "bank_transfer"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(full["invoice"]["status"], "paid");
    assert_eq!(full["invoice"]["amount_due"], 0);
    assert_eq!(full["invoice"]["amount_paid"], 13215);
    assert!(full["invoice"]["paid_at"].is_string());
    assert_eq!(full["payment"]["overpayment"], 1785);
    expect_problem(
        pay(&app, &admin, &inv, json!({"amount": 1, "method": "cash"})).await,
        409,
    )
    .await;
    let res = pay(&app, &admin, &inv, json!({"amount": 1, "method": "cheque"})).await;
    expect_problem(res, 422).await;

    let c = json_of(
        app.get(&format!("/api/customers/{customer}"), &admin).await,
        200,
    )
    .await;
    assert_eq!(c["balance"], 1785);
    // The next invoice consumes the balance.
    let next = issued(&app, &admin, customer, &[(1, 10000)]).await;
    assert_eq!(next["total"], 10700);
    assert_eq!(next["credit_applied"], 1785);
    assert_eq!(next["amount_due"], 10700 - 1785);
    let c = json_of(
        app.get(&format!("/api/customers/{customer}"), &admin).await,
        200,
    )
    .await;
    assert_eq!(c["balance"], 0);
    let payments = json_of(
        app.get(&format!("/api/payments?customer_id={customer}"), &admin)
            .await,
        200,
    )
    .await;
    let data = payments["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["method"], "promptpay");
    assert_eq!(data[0]["reference"], "PP-1");
}

async fn withholding_tax_settles_an_invoice(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = insert_customer(&app, "บริษัท เกษตรก้าวหน้า จำกัด", "active").await;
    // 1,000.00 baht + VAT 70.00 = 1,070.00; 3 % withholding on the pre-VAT 1,000.00 = 30.00.
    let inv = issued(&app, &admin, customer, &[(1, 100000)]).await;
    assert_eq!(inv["total"], 107000);
    let too_much = pay(
        &app,
        &admin,
        &inv,
        json!({"amount": 103999, "method": "bank_transfer",
               "withholding_tax": {"amount": 3001, "certificate_no": "WHT-2030-17"}}),
    )
    .await;
    let problem = expect_problem(too_much, 422).await;
    assert!(problem["errors"]["withholding_tax.amount"].is_array());
    let paid = json_of(
        pay(
            &app,
            &admin,
            &inv,
            json!({"amount": 104000, "method": "bank_transfer",
                   "withholding_tax": {"amount": 3000, "certificate_no": "WHT-2030-17"}}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(paid["invoice"]["status"], "paid");
    assert_eq!(paid["invoice"]["withholding_tax"], 3000);
    assert_eq!(paid["invoice"]["amount_paid"], 104000);
    assert_eq!(
        paid["payment"]["withholding_tax"]["certificate_no"],
        "WHT-2030-17"
    );
    assert_eq!(paid["payment"]["overpayment"], 0);
}

async fn tenancy_and_roles(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let ours = insert_customer(&app, "ฟาร์มของเรา", "active").await;
    let theirs = insert_customer(&app, "ฟาร์มของเขา", "active").await;
    let owner = member_token(&app, "owner@ours.test", ours, "owner").await;
    let member = member_token(&app, "member@ours.test", ours, "member").await;
    let stranger = member_token(&app, "owner@theirs.test", theirs, "owner").await;
    let inv = issued(&app, &admin, ours, &[(1, 10000)]).await;
    let id = inv["id"].as_str().unwrap();

    expect_problem(
        app.get(&format!("/api/invoices/{id}"), &stranger).await,
        404,
    )
    .await;
    let res = pay(
        &app,
        &stranger,
        &inv,
        json!({"amount": 100, "method": "cash"}),
    )
    .await;
    expect_problem(res, 404).await;
    let listed = json_of(app.get("/api/invoices", &stranger).await, 200).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 0);
    json_of(app.get(&format!("/api/invoices/{id}"), &member).await, 200).await;
    let res = pay(
        &app,
        &member,
        &inv,
        json!({"amount": 100, "method": "cash"}),
    )
    .await;
    expect_problem(res, 403).await;
    expect_problem(act(&app, &owner, &inv["id"], "void").await, 403).await;
    let res = app
        .post("/api/invoices", Some(&owner),
            json!({"customer_id": ours, "lines": [{"description": "x", "quantity": 1, "unit_amount": 1}]}))
        .await;
    expect_problem(res, 403).await;
    // Recording a payment is a staff act: the owner cannot mark its own invoice paid, nor
    // overpay into a credit balance, by any method.
    for method in ["promptpay", "cash", "bank_transfer", "card", "other"] {
        let res = pay(
            &app,
            &owner,
            &inv,
            json!({"amount": 107000, "method": method}),
        )
        .await;
        expect_problem(res, 403).await;
    }
    let unpaid = json_of(app.get(&format!("/api/invoices/{id}"), &owner).await, 200).await;
    assert_eq!(unpaid["status"], "open");
    assert_eq!(unpaid["amount_paid"], 0);
    let customer = json_of(
        app.get(&format!("/api/customers/{ours}"), &admin).await,
        200,
    )
    .await;
    assert_eq!(customer["balance"], 0);
    let paid = json_of(
        pay(
            &app,
            &admin,
            &inv,
            json!({"amount": 10700, "method": "promptpay"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(paid["invoice"]["status"], "paid");
    let mine = json_of(app.get("/api/payments", &owner).await, 200).await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    let none = json_of(app.get("/api/payments", &stranger).await, 200).await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
}

async fn credit_notes_correct_finalised_invoices(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = insert_customer(&app, "วิสาหกิจชุมชนข้าวหอม", "active").await;
    let inv = issued(&app, &admin, customer, &[(2, 5000), (1, 2350)]).await;
    let id = inv["id"].as_str().unwrap();
    let path = format!("/api/invoices/{id}/credit-notes");
    let line = |u: i64| json!({"lines": [{"description": "ส่วนลดย้อนหลัง", "quantity": 1, "unit_amount": u}], "reason": "goodwill"});
    let cn = json_of(app.post(&path, Some(&admin), line(5000)).await, 201).await;
    assert_eq!(cn["credit_note"]["number"], "CN-2030-000001");
    assert_eq!(
        (
            &cn["credit_note"]["vat_amount"],
            &cn["credit_note"]["total"]
        ),
        (&json!(350), &json!(5350))
    );
    assert_eq!(cn["credit_note"]["applied_to_invoice"], 5350);
    assert_eq!(cn["invoice"]["amount_due"], 13215 - 5350);
    assert_eq!(cn["invoice"]["amount_credited"], 5350);
    // The invoice itself is unchanged: same number, lines and totals.
    assert_eq!(cn["invoice"]["number"], inv["number"]);
    assert_eq!(cn["invoice"]["total"], inv["total"]);
    // More than is left to credit → 422; a draft cannot be credited → 409.
    expect_problem(app.post(&path, Some(&admin), line(8000)).await, 422).await;
    let d = draft(&app, &admin, customer, &[(1, 100)]).await;
    let d_id = d["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/api/invoices/{d_id}/credit-notes"),
            Some(&admin),
            line(10),
        )
        .await;
    expect_problem(res, 409).await;
    let second = json_of(app.post(&path, Some(&admin), line(1000)).await, 201).await;
    assert_eq!(second["credit_note"]["number"], "CN-2030-000002");
}

async fn idempotent_replay_creates_one_invoice(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = insert_customer(&app, "ไร่ชาดอยสูง", "active").await;
    let body = json!({"customer_id": customer,
                      "lines": [{"description": "ติดตั้งเซนเซอร์", "quantity": 1, "unit_amount": 150000}]});
    let send = || {
        app.client
            .post(app.at("/api/invoices"))
            .bearer_auth(&admin)
            .header("Idempotency-Key", "invoice-ไร่ชา-1".replace("ไร่ชา", "tea"))
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let list = json_of(
        app.get(&format!("/api/invoices?customer_id={customer}"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

/// A draft is edited before it is issued: lines added (validated by their own field names) and
/// removed (never the last), totals following each time, every change audited; a one-off draft
/// is deleted without using a number; issued invoices and subscription drafts refuse all this.
async fn a_draft_takes_and_loses_lines_and_a_one_off_draft_is_deleted(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = insert_customer(&app, "ไร่อ้อยบ้านโป่ง", "active").await;
    let d = draft(&app, &admin, customer, &[(2, 50_000)]).await;
    let id = d["id"].as_str().unwrap().to_owned();
    let lines_path = format!("/api/invoices/{id}/lines");
    let bad = expect_problem(
        app.post(
            &lines_path,
            Some(&admin),
            json!({"description": " ", "quantity": 0, "unit_amount": -1}),
        )
        .await,
        422,
    )
    .await;
    for field in ["description", "quantity", "unit_amount"] {
        assert!(bad["errors"][field].is_array(), "{field}: {bad}");
    }
    let added = json_of(
        app.post(
            &lines_path,
            Some(&admin),
            json!({"description": "ค่าขนส่งอุปกรณ์", "quantity": 1, "unit_amount": 30_000}),
        )
        .await,
        200,
    )
    .await;
    let lines = added["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{added}");
    assert_eq!(lines[1]["description"], "ค่าขนส่งอุปกรณ์");
    assert_eq!(added["subtotal"], 130_000);
    assert_eq!(added["vat_amount"], 9_100);
    assert_eq!(added["total"], 139_100);
    assert_eq!(added["amount_due"], 139_100);
    assert_eq!(added["status"], "draft");
    let first = lines[0]["id"].as_str().unwrap().to_owned();
    let second = lines[1]["id"].as_str().unwrap().to_owned();
    // A line of another invoice, or none, is not found.
    let other = draft(&app, &admin, customer, &[(1, 1_000)]).await;
    let foreign = other["lines"][0]["id"].as_str().unwrap();
    let res = app
        .call(
            Method::DELETE,
            &format!("{lines_path}/{foreign}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(res.status(), 404);
    let removed = json_of(
        app.call(
            Method::DELETE,
            &format!("{lines_path}/{first}"),
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(removed["lines"].as_array().unwrap().len(), 1);
    assert_eq!(removed["total"], 32_100);
    expect_problem(
        app.call(
            Method::DELETE,
            &format!("{lines_path}/{second}"),
            Some(&admin),
            None,
        )
        .await,
        409,
    )
    .await;
    let audit = json_of(
        app.get(
            &format!("/api/audit-events?entity_type=invoice&entity_id={id}"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "invoice.line_removed",
            "invoice.line_added",
            "invoice.created"
        ]
    );
    assert_eq!(audit["data"][0]["after"]["line"]["id"], first.as_str());

    // Issued: no more editing, no deleting, and the number is the first of the year.
    let issued = json_of(act(&app, &admin, &d["id"], "finalize").await, 200).await;
    assert_eq!(issued["number"], "INV-2030-000001");
    assert_eq!(issued["total"], 32_100);
    expect_problem(
        app.post(
            &lines_path,
            Some(&admin),
            json!({"description": "x", "quantity": 1, "unit_amount": 1}),
        )
        .await,
        409,
    )
    .await;
    let res = app
        .call(
            Method::DELETE,
            &format!("/api/invoices/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(res.status(), 409);

    // The other draft is deleted: gone, audited, and the next number is not skipped.
    let other_id = other["id"].as_str().unwrap();
    let res = app
        .call(
            Method::DELETE,
            &format!("/api/invoices/{other_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app.get(&format!("/api/invoices/{other_id}"), &admin).await;
    assert_eq!(res.status(), 404);
    let next = issued_one(&app, &admin, customer).await;
    assert_eq!(next["number"], "INV-2030-000002");

    // A member of the customer cannot edit its drafts.
    let member = member_token(&app, "owner@banpong.test", customer, "owner").await;
    let d = draft(&app, &admin, customer, &[(1, 1_000)]).await;
    let d_id = d["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/api/invoices/{d_id}/lines"),
            Some(&member),
            json!({"description": "x", "quantity": 1, "unit_amount": 1}),
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = app
        .call(
            Method::DELETE,
            &format!("/api/invoices/{d_id}"),
            Some(&member),
            None,
        )
        .await;
    assert_eq!(res.status(), 403);
}

async fn issued_one(app: &TestApp, token: &str, customer: Uuid) -> Value {
    issued(app, token, customer, &[(1, 10_000)]).await
}

/// Sending an invoice again: only an open one, only to a customer with an address; it is the
/// event `invoice.sent` (webhooks), an audit entry, and a mail listed under the invoice.
async fn an_open_invoice_is_sent_again(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = insert_customer(&app, "สวนมะม่วงน้ำดอกไม้", "active").await;
    let inv = issued_one(&app, &admin, customer).await;
    // No address yet: refused.
    expect_problem(act(&app, &admin, &inv["id"], "send").await, 409).await;
    json_of(
        app.patch(
            &format!("/api/customers/{customer}"),
            &admin,
            json!({"billing_email": "acc@mango.test"}),
        )
        .await,
        200,
    )
    .await;
    let d = draft(&app, &admin, customer, &[(1, 1_000)]).await;
    expect_problem(act(&app, &admin, &d["id"], "send").await, 409).await;
    let sent = json_of(act(&app, &admin, &inv["id"], "send").await, 200).await;
    assert_eq!(sent["id"], inv["id"]);
    assert_eq!(sent["status"], "open");
    let id = inv["id"].as_str().unwrap();
    let mails = json_of(
        app.get(&format!("/api/invoices/{id}/emails"), &admin).await,
        200,
    )
    .await;
    let mails = mails["data"].as_array().unwrap();
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails.iter().all(|m| m["kind"] == "invoice_issued"));
    // Another invoice's mails are not listed under this one.
    let other = json_of(
        app.get(
            &format!("/api/invoices/{}/emails", d["id"].as_str().unwrap()),
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(other["data"].as_array().unwrap().len(), 0, "{other}");
    let audit = json_of(
        app.get(
            &format!("/api/audit-events?entity_type=invoice&entity_id={id}"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(audit["data"][0]["action"], "invoice.sent", "{audit}");
    // Voided, it is not sent any more.
    json_of(act(&app, &admin, &inv["id"], "void").await, 200).await;
    expect_problem(act(&app, &admin, &inv["id"], "send").await, 409).await;
}
