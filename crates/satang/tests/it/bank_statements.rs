//! Bank reconciliation (SPEC §2.13) through the HTTP API, on both databases: a statement read
//! with its column mapping, suggestions by amount (or amount less 3 % withholding tax) ranked by
//! what the description names, a match recording one `bank_transfer` payment, a line applied
//! once (also under concurrency), a re-upload adding nothing, refusals writing nothing, and who
//! may do it. Figures: ฿1,000.00 + 7 % VAT = ฿1,070.00; 3 % withheld of ฿1,000.00 = ฿30.00.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::billing::{insert_customer, open_invoice};
use crate::common::{Backend, TestApp, expect_problem, json_of, ok, spawn_clocked_on};

both_backends!(
    a_statement_is_suggested_matched_and_uploaded_once,
    bad_statements_change_nothing,
    a_line_is_applied_once_under_concurrency,
);

fn upload_body(csv: &str) -> Value {
    json!({"csv": csv, "columns": {"date": "วันที่", "amount": "Amount", "description": "รายละเอียด"},
           "date_format": "%d/%m/%Y"})
}

async fn upload(app: &TestApp, token: &str, csv: &str) -> Value {
    json_of(
        app.post("/api/bank-statements", Some(token), upload_body(csv))
            .await,
        201,
    )
    .await
}

async fn lines(app: &TestApp, token: &str, statement: &Value) -> Vec<Value> {
    let id = statement["id"].as_str().unwrap();
    let page = ok(app
        .get(&format!("/api/bank-statements/{id}/lines?limit=200"), token)
        .await)
    .await;
    page["data"].as_array().unwrap().clone()
}

fn line_path(statement: &Value, line: impl std::fmt::Display, action: &str) -> String {
    format!(
        "/api/bank-statements/{}/lines/{line}/{action}",
        statement["id"].as_str().unwrap()
    )
}

async fn payments_of(app: &TestApp, token: &str, invoice: &Value) -> Vec<Value> {
    let id = invoice["id"].as_str().unwrap();
    let page = ok(app
        .get(&format!("/api/payments?invoice_id={id}"), token)
        .await)
    .await;
    page["data"].as_array().unwrap().clone()
}

async fn a_statement_is_suggested_matched_and_uploaded_once(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-15").await else {
        return;
    };
    let sukjai = insert_customer(&app, "ฟาร์มสุขใจ", "active").await;
    ok(app
        .patch(
            &format!("/api/customers/{sukjai}"),
            &admin,
            json!({"tax_id": "0105551234567"}),
        )
        .await)
    .await;
    let thongkham = insert_customer(&app, "ไร่ทองคำ", "active").await;
    let billing = app.staff_token("recon@satang.test", &["billing"]).await;
    let inv_a = open_invoice(&app, &billing, sukjai).await;
    let inv_b = open_invoice(&app, &billing, thongkham).await;
    assert_eq!(inv_a["amount_due"], 107_000);
    let number_b = inv_b["number"].as_str().unwrap().to_owned();

    // Thai bank export: Buddhist Era dates, quoted amounts with separators, a BOM, CRLF.
    let csv = format!(
        "\u{feff}วันที่,Amount,รายละเอียด,Balance\r\n\
         11/01/2573,\"1,070.00\",โอนจาก ฟาร์มสุขใจ,1\r\n\
         11/01/2573,\"1,070.00\",โอนจาก ฟาร์มสุขใจ,2\r\n\
         11/01/2030,1040,\"ชำระ {number_b}, หัก ณ ที่จ่าย\",3\r\n\
         12/01/2030,-500.00,ค่าไฟฟ้า,4\r\n\
         12/01/2030,1070,TAX 0105551234567,5\r\n"
    );
    let statement = upload(&app, &billing, &csv).await;
    assert_eq!(
        (&statement["lines"], &statement["duplicates"]),
        (&json!(5), &json!(0))
    );
    assert_eq!(statement["unmatched"], 5);
    let all = lines(&app, &billing, &statement).await;
    assert_eq!(all.len(), 5);
    assert_eq!(all[0]["line"], 2, "file line numbers, header = 1");
    assert_eq!(all[0]["date"], "2030-01-11", "Buddhist Era 2573 is 2030");
    assert_eq!(all[0]["amount"], 107_000);
    assert_eq!(all[3]["amount"], -50_000);
    // The amount fits both invoices; the name puts ฟาร์มสุขใจ's first.
    let s = &all[0]["suggestions"];
    assert_eq!(s.as_array().unwrap().len(), 2);
    assert_eq!(s[0]["invoice_id"], inv_a["id"]);
    assert_eq!(s[0]["reasons"], json!(["amount", "customer_name"]));
    assert_eq!(s[1]["invoice_id"], inv_b["id"]);
    // ฿1,040.00 is ฿1,070.00 less ฿30.00 withheld, and names invoice B.
    let s = &all[2]["suggestions"];
    assert_eq!(s[0]["invoice_id"], inv_b["id"]);
    assert_eq!(s[0]["match"], "amount_less_withholding_tax");
    assert_eq!(s[0]["withholding_tax"], 3_000);
    assert_eq!(
        s[0]["reasons"],
        json!(["amount_less_withholding_tax", "invoice_number"])
    );
    assert!(
        all[3]["suggestions"].as_array().unwrap().is_empty(),
        "money paid out"
    );
    assert_eq!(
        all[4]["suggestions"][0]["reasons"],
        json!(["amount", "tax_id"])
    );

    // Uploading it again adds nothing; the two identical transfers of one day stay two.
    let again = upload(&app, &billing, &csv).await;
    assert_eq!(
        (&again["lines"], &again["duplicates"]),
        (&json!(0), &json!(5))
    );
    assert!(lines(&app, &billing, &again).await.is_empty());
    let listed = ok(app.get("/api/bank-statements", &billing).await).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    assert_eq!(listed["data"][0]["id"], again["id"], "newest first");

    // Match by line number: one bank_transfer payment, the invoice paid.
    let matched = json_of(
        app.post(
            &line_path(&statement, 2, "match"),
            Some(&billing),
            json!({"invoice_id": inv_a["id"]}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(matched["line"]["status"], "matched");
    assert_eq!(matched["payment"]["method"], "bank_transfer");
    assert_eq!(matched["payment"]["amount"], 107_000);
    assert_eq!(matched["payment"]["paid_at"], "2030-01-10T17:00:00Z");
    assert_eq!(
        matched["payment"]["reference"],
        format!("bank_statement_line:{}", all[0]["id"].as_str().unwrap())
    );
    assert_eq!(matched["invoice"]["status"], "paid");
    // A line is applied once: again (by id) → 409, nothing recorded.
    let by_id = all[0]["id"].as_str().unwrap();
    expect_problem(
        app.post(
            &line_path(&statement, by_id, "match"),
            Some(&billing),
            json!({"invoice_id": inv_b["id"]}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(payments_of(&app, &billing, &inv_a).await.len(), 1);
    assert!(payments_of(&app, &billing, &inv_b).await.is_empty());

    // Net of withholding tax, with the suggestion's amount: B is paid in full.
    let net = json_of(
        app.post(
            &line_path(&statement, 4, "match"),
            Some(&billing),
            json!({"invoice_id": inv_b["id"], "withholding_tax": 3_000}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(net["invoice"]["status"], "paid");
    assert_eq!(net["invoice"]["withholding_tax"], 3_000);
    assert_eq!(net["line"]["withholding_tax"], 3_000);

    // Money paid out matches nothing; it can be ignored, once, and reopened.
    expect_problem(
        app.post(
            &line_path(&statement, 5, "match"),
            Some(&billing),
            json!({"invoice_id": inv_b["id"]}),
        )
        .await,
        422,
    )
    .await;
    let ignored = ok(app
        .post(
            &line_path(&statement, 5, "ignore"),
            Some(&billing),
            json!({}),
        )
        .await)
    .await;
    assert_eq!(ignored["status"], "ignored");
    expect_problem(
        app.post(
            &line_path(&statement, 5, "ignore"),
            Some(&billing),
            json!({}),
        )
        .await,
        409,
    )
    .await;
    let reopened = ok(app
        .post(
            &line_path(&statement, 5, "reopen"),
            Some(&billing),
            json!({}),
        )
        .await)
    .await;
    assert_eq!(reopened["status"], "unmatched");
    // An unknown invoice, line or statement.
    let problem = expect_problem(
        app.post(
            &line_path(&statement, 6, "match"),
            Some(&billing),
            json!({"invoice_id": Uuid::now_v7()}),
        )
        .await,
        422,
    )
    .await;
    assert!(problem["errors"]["invoice_id"].is_array(), "{problem}");
    expect_problem(
        app.post(
            &line_path(&statement, 99, "match"),
            Some(&billing),
            json!({"invoice_id": inv_a["id"]}),
        )
        .await,
        404,
    )
    .await;
    expect_problem(
        app.get(
            &format!("/api/bank-statements/{}/lines", Uuid::now_v7()),
            &billing,
        )
        .await,
        404,
    )
    .await;

    // Matched lines suggest nothing; the statement counts its lines.
    let after = lines(&app, &billing, &statement).await;
    assert!(after[0]["suggestions"].as_array().unwrap().is_empty());
    let one = ok(app
        .get(
            &format!("/api/bank-statements/{}", statement["id"].as_str().unwrap()),
            &billing,
        )
        .await)
    .await;
    assert_eq!(
        (&one["matched"], &one["unmatched"], &one["ignored"]),
        (&json!(2), &json!(3), &json!(0))
    );

    // Audit and events name the match.
    let audit = ok(app
        .get(
            &format!("/api/audit-events?entity_type=bank_statement_line&entity_id={by_id}"),
            &admin,
        )
        .await)
    .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["bank_statement_line.matched"]);

    // Support and viewer staff, and members, may not reconcile.
    let support = app.staff_token("support@satang.test", &["support"]).await;
    expect_problem(app.get("/api/bank-statements", &support).await, 403).await;
    expect_problem(
        app.post("/api/bank-statements", Some(&support), upload_body(&csv))
            .await,
        403,
    )
    .await;
    let member =
        crate::common::billing::member_token(&app, "o@sukjai.example", sukjai, "owner").await;
    expect_problem(app.get("/api/bank-statements", &member).await, 403).await;
}

async fn bad_statements_change_nothing(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    let header = "วันที่,Amount,รายละเอียด\n";
    for (csv, date_format, field) in [
        (
            format!("{header}11/01/2030,1070,ok\n11/01/2030,\"1,07.00\",x\n"),
            "%d/%m/%Y",
            "lines[3].amount",
        ),
        (
            format!("{header}11/01/2030,10.005,x\n"),
            "%d/%m/%Y",
            "lines[2].amount",
        ),
        (
            format!("{header}2030-01-11,1070,x\n"),
            "%d/%m/%Y",
            "lines[2].date",
        ),
        (
            format!("{header}11/01/2030,1070,\"never closed\n"),
            "%d/%m/%Y",
            "lines[2]",
        ),
        (format!("{header}11/01/2030,1070\n"), "%d/%m/%Y", "lines[2]"),
        (format!("{header}11/01/2030,1070,x\n"), "%Q", "date_format"),
        (
            "วันที่,Credit,รายละเอียด\n11/01/2030,1070,x\n".to_owned(),
            "%d/%m/%Y",
            "columns.amount",
        ),
        (header.to_owned(), "%d/%m/%Y", "csv"),
        (String::new(), "%d/%m/%Y", "csv"),
    ] {
        let mut body = upload_body(&csv);
        body["date_format"] = json!(date_format);
        let problem = expect_problem(
            app.post("/api/bank-statements", Some(&admin), body).await,
            422,
        )
        .await;
        assert!(problem["errors"][field].is_array(), "{field}: {problem}");
    }
    let listed = ok(app.get("/api/bank-statements", &admin).await).await;
    assert!(
        listed["data"].as_array().unwrap().is_empty(),
        "nothing written"
    );
}

async fn a_line_is_applied_once_under_concurrency(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    let farm = insert_customer(&app, "สหกรณ์โคนม", "active").await;
    for round in 0..4 {
        let x = open_invoice(&app, &admin, farm).await;
        let y = open_invoice(&app, &admin, farm).await;
        let csv = format!("วันที่,Amount,รายละเอียด\n10/01/2030,\"1,070.00\",round {round}\n");
        let statement = upload(&app, &admin, &csv).await;
        let path = line_path(&statement, 2, "match");
        let (first, second) = tokio::join!(
            app.post(&path, Some(&admin), json!({"invoice_id": x["id"]})),
            app.post(&path, Some(&admin), json!({"invoice_id": y["id"]})),
        );
        let mut statuses = [first.status().as_u16(), second.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}");
        let paid =
            payments_of(&app, &admin, &x).await.len() + payments_of(&app, &admin, &y).await.len();
        assert_eq!(paid, 1, "round {round}: one payment");
    }
}
