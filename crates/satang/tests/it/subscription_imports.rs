//! Subscription imports (SPEC §2.14) through `POST /api/imports/subscriptions` and `satang
//! import subscriptions`, on both databases: a book of running subscriptions (customers by tax
//! id and branch, by e-mail, by id) checked by a dry run, imported once with its events and
//! audit entries, found again by a re-run, and billed by the billing run on their period ends
//! at their plan's (or negotiated) price; bad rows refused by line and column in English and
//! Thai, nothing written unless `partial`; who may import; the command on the same files.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::access::{POST, check_access};
use crate::common::billing::{run_billing, set_date};
use crate::common::{Backend, Database, TestApp, expect_problem, json_of, ok, spawn_clocked_on};
use crate::imports::{report_of, run_import, tax_id};

both_backends!(
    a_subscription_book_is_imported_once_and_billed_on_its_period_ends,
    bad_subscription_rows_are_refused_by_line_in_english_and_thai,
    only_admins_and_billing_staff_import_subscriptions,
    the_command_imports_customers_then_their_subscriptions,
);

const TODAY: &str = "2030-11-24";

/// Three customers: a farm and a company's branch by tax id, a person by e-mail only.
pub(crate) fn customers_csv() -> String {
    format!(
        "name,tax_id,branch_code,email\n\
         สหกรณ์การเกษตรบ้านนา,{},,office@banna.co.th\n\
         \"Lotus Delta Co., Ltd.\",{},00002,billing@lotusdelta.example\n\
         นายสมชาย ใจดี,,,somchai@example.co.th\n",
        tax_id("010553600031"),
        tax_id("010555912345"),
    )
}

/// Their subscriptions: PRO monthly since January 2025 (the period holding today is counted);
/// TEAM for five seats at a negotiated ฿350.00 a seat, billed on the 15th; PRO yearly, invoiced
/// by hand, its year ending 1 February.
pub(crate) fn subscriptions_csv() -> String {
    format!(
        "customer_tax_id,customer_branch_code,customer_email,plan_code,interval,quantity,\
         unit_price,start_date,current_period_end,collection_method\n\
         {},,,pro,,,,2029-01-31,,\n\
         {},00002,,TEAM,month,5,350.00,2028-03-15,2030-12-15,\n\
         ,,SomChai@Example.co.th,PRO,year,,,2030-02-01,2031-02-01,send_invoice\n",
        tax_id("010553600031"),
        tax_id("010555912345"),
    )
}

async fn import(app: &TestApp, token: &str, kind: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/api/imports/{kind}"), Some(token), body)
        .await
}

async fn customer_ids(app: &TestApp, admin: &str) -> (String, String, String) {
    let page = ok(app.get("/api/customers?limit=200", admin).await).await;
    let id = |name: &str| {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {page}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    (
        id("สหกรณ์การเกษตรบ้านนา"),
        id("Lotus Delta Co., Ltd."),
        id("นายสมชาย ใจดี"),
    )
}

async fn subscriptions_of(app: &TestApp, admin: &str, customer: &str) -> Vec<Value> {
    let page = ok(app
        .get(&format!("/api/subscriptions?customer_id={customer}"), admin)
        .await)
    .await;
    page["data"].as_array().unwrap().clone()
}

async fn invoices_of(app: &TestApp, admin: &str, customer: &str) -> Vec<Value> {
    let page = ok(app
        .get(&format!("/api/invoices?customer_id={customer}"), admin)
        .await)
    .await;
    page["data"].as_array().unwrap().clone()
}

async fn a_subscription_book_is_imported_once_and_billed_on_its_period_ends(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customers = json_of(
        import(&app, &admin, "customers", json!({"csv": customers_csv()})).await,
        200,
    )
    .await;
    assert_eq!(customers["created"], 3, "{customers}");
    let (farm, lotus, somchai) = customer_ids(&app, &admin).await;
    let csv = subscriptions_csv();

    // A dry run checks everything and writes nothing.
    let dry = json_of(
        import(
            &app,
            &admin,
            "subscriptions",
            json!({"csv": csv, "dry_run": true}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        dry,
        json!({"rows": 3, "created": 3, "skipped": [], "errors": [], "dry_run": true})
    );
    assert!(subscriptions_of(&app, &admin, &farm).await.is_empty());

    let done = json_of(
        import(&app, &admin, "subscriptions", json!({"csv": csv})).await,
        200,
    )
    .await;
    assert_eq!(
        done,
        json!({"rows": 3, "created": 3, "skipped": [], "errors": [], "dry_run": false})
    );
    let farm_sub = subscriptions_of(&app, &admin, &farm).await.remove(0);
    assert_eq!(farm_sub["plan_code"], "PRO");
    assert_eq!(farm_sub["status"], "active");
    assert_eq!(farm_sub["quantity"], 1);
    assert_eq!(farm_sub["start_date"], "2029-01-31");
    // The month holding today, on the 31st's schedule (November has 30 days).
    assert_eq!(farm_sub["current_period_start"], "2030-10-31");
    assert_eq!(farm_sub["current_period_end"], "2030-11-30");
    assert_eq!(farm_sub["next_billing_date"], "2030-11-30");
    assert_eq!(farm_sub["collection_method"], "charge_automatically");
    let lotus_sub = subscriptions_of(&app, &admin, &lotus).await.remove(0);
    assert_eq!(lotus_sub["plan_code"], "TEAM");
    assert_eq!(lotus_sub["quantity"], 5);
    assert_eq!(lotus_sub["unit_price"], 35_000);
    assert_eq!(lotus_sub["current_period_start"], "2030-11-15");
    assert_eq!(lotus_sub["current_period_end"], "2030-12-15");
    let somchai_sub = subscriptions_of(&app, &admin, &somchai).await.remove(0);
    assert_eq!(somchai_sub["plan_code"], "PRO");
    assert_eq!(somchai_sub["current_period_start"], "2030-02-01");
    assert_eq!(somchai_sub["current_period_end"], "2031-02-01");
    assert_eq!(somchai_sub["collection_method"], "send_invoice");
    // The old system billed the current periods: nothing is invoiced now.
    for customer in [&farm, &lotus, &somchai] {
        assert!(invoices_of(&app, &admin, customer).await.is_empty());
    }
    // Each has its audit entry, as a create writes it.
    let audit = ok(app
        .get(
            "/api/audit-events?entity_type=subscription&limit=200",
            &admin,
        )
        .await)
    .await;
    let created: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "subscription.created")
        .collect();
    assert_eq!(created.len(), 3, "{audit}");
    assert!(
        created.iter().any(|e| e["entity_id"] == farm_sub["id"]
            && e["after"]["current_period_end"] == "2030-11-30")
    );

    // The same file again creates nothing: every row is already present.
    let again = json_of(
        import(&app, &admin, "subscriptions", json!({"csv": csv})).await,
        200,
    )
    .await;
    assert_eq!(again["created"], 0, "{again}");
    assert_eq!(again["errors"], json!([]));
    assert_eq!(
        again["skipped"],
        json!([
            {"line": 2, "customer_id": farm, "subscription_id": farm_sub["id"]},
            {"line": 3, "customer_id": lotus, "subscription_id": lotus_sub["id"]},
            {"line": 4, "customer_id": somchai, "subscription_id": somchai_sub["id"]},
        ])
    );

    // The billing run invoices each on its period's end, the next period in advance.
    let admin = set_date(&app, "2030-11-30").await;
    run_billing(&app, &admin).await;
    let invoices = invoices_of(&app, &admin, &farm).await;
    assert_eq!(invoices.len(), 1, "{invoices:?}");
    let line = &invoices[0]["lines"][0];
    assert_eq!(line["period_start"], "2030-11-30");
    assert_eq!(line["period_end"], "2030-12-31");
    assert_eq!(line["amount"], 99_000);
    assert_eq!(invoices[0]["subtotal"], 99_000);
    assert_eq!(invoices[0]["vat_amount"], 6_930);
    assert!(invoices_of(&app, &admin, &lotus).await.is_empty());
    let farm_sub = subscriptions_of(&app, &admin, &farm).await.remove(0);
    assert_eq!(farm_sub["current_period_end"], "2030-12-31");

    let admin = set_date(&app, "2030-12-15").await;
    run_billing(&app, &admin).await;
    // Again the same day: still one invoice each.
    run_billing(&app, &admin).await;
    let invoices = invoices_of(&app, &admin, &lotus).await;
    assert_eq!(invoices.len(), 1, "{invoices:?}");
    // The seats in advance (the plan's SMS are metered, in arrears: none were used).
    let line = invoices[0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["quantity"] == 5)
        .unwrap_or_else(|| panic!("{invoices:?}"));
    assert_eq!(line["period_start"], "2030-12-15");
    assert_eq!(line["period_end"], "2031-01-15");
    assert_eq!(line["quantity"], 5);
    assert_eq!(line["unit_amount"], 35_000);
    assert_eq!(invoices[0]["subtotal"], 175_000);
    assert_eq!(invoices_of(&app, &admin, &farm).await.len(), 1);
    assert!(invoices_of(&app, &admin, &somchai).await.is_empty());
}

async fn bad_subscription_rows_are_refused_by_line_in_english_and_thai(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    ok(import(&app, &admin, "customers", json!({"csv": customers_csv()})).await).await;
    let (farm, lotus, _) = customer_ids(&app, &admin).await;
    let suspended = ok(app
        .patch(
            &format!("/api/customers/{lotus}"),
            &admin,
            json!({"status": "suspended"}),
        )
        .await)
    .await;
    assert_eq!(suspended["status"], "suspended");
    let farm_tax = tax_id("010553600031");
    let unknown_tax = tax_id("099999999999");
    let csv = format!(
        "customer_tax_id,customer_email,customer_id,plan_code,quantity,start_date,current_period_end\n\
         {farm_tax},,,PRO,,2029-01-31,\n\
         {unknown_tax},,,PRO,,2029-01-31,\n\
         ,,{farm},NOPE,,2029-01-31,\n\
         ,office@banna.co.th,,PRO,3,2029-02-01,\n\
         {farm_tax},,,TEAM,2,2031-01-01,\n\
         {farm_tax},,,TEAM,2,2029-01-01,2030-11-01\n\
         ,OFFICE@banna.co.th,,pro,,2029-01-31,\n\
         ,billing@lotusdelta.example,,PRO,,2029-01-31,\n\
         {farm_tax},,,PRO,,2569-01-31,\n\
         {farm_tax},somchai@example.co.th,,TEAM,,2029-03-01,\n"
    );
    for dry_run in [true, false] {
        let problem = expect_problem(
            import(
                &app,
                &admin,
                "subscriptions",
                json!({"csv": csv, "dry_run": dry_run}),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(problem["rows"], 10, "{problem}");
        assert_eq!(
            problem["detail"],
            "9 of the file's rows cannot be imported; nothing was written"
        );
        let errors: Vec<(u64, &str)> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["line"].as_u64().unwrap(), e["field"].as_str().unwrap()))
            .collect();
        assert_eq!(
            errors,
            vec![
                (3, "customer_tax_id"),
                (4, "plan_code"),
                (5, "quantity"),
                (6, "start_date"),
                (7, "current_period_end"),
                (8, "start_date"),
                (9, "customer_email"),
                (10, "start_date"),
                (11, "customer_email"),
            ],
            "{problem}"
        );
        let message = |line: u64| {
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["line"] == line)
                .unwrap()["message"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(message(4), "no plan with code NOPE is on sale");
        assert_eq!(
            message(5),
            "must be 1 on a flat-priced plan (only per-seat plans have seats)"
        );
        assert_eq!(
            message(8),
            "the same customer, plan and start date as line 2"
        );
        assert!(message(9).contains("is suspended"), "{}", message(9));
        assert!(message(10).contains("(2026)"), "{}", message(10));
        assert!(
            message(11).contains("but customer_tax_id names"),
            "{}",
            message(11)
        );
    }
    assert!(subscriptions_of(&app, &admin, &farm).await.is_empty());

    // In Thai for a person who prefers it.
    let res = app
        .client
        .post(app.at("/api/imports/subscriptions"))
        .bearer_auth(&admin)
        .header(reqwest::header::ACCEPT_LANGUAGE, "th-TH,th;q=0.9,en;q=0.5")
        .json(&json!({"csv": csv, "dry_run": true}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(res, 422).await;
    assert_eq!(problem["detail"], "นำเข้า 9 แถวของไฟล์ไม่ได้ ไม่มีการบันทึกข้อมูลใด");
    assert_eq!(problem["errors"][1]["message"], "ไม่มีแผนรหัส NOPE ที่เปิดขายอยู่");
    assert_eq!(
        problem["errors"][5]["message"],
        "ลูกค้า แผน และวันเริ่มซ้ำกับบรรทัดที่ 2"
    );

    // With `partial` the good row is written and the bad ones reported.
    let partial = json_of(
        import(
            &app,
            &admin,
            "subscriptions",
            json!({"csv": csv, "partial": true}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(partial["created"], 1, "{partial}");
    assert_eq!(partial["errors"].as_array().unwrap().len(), 9);
    let subs = subscriptions_of(&app, &admin, &farm).await;
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["plan_code"], "PRO");

    // A header without the required columns refuses the file on line 1.
    let problem = expect_problem(
        import(
            &app,
            &admin,
            "subscriptions",
            json!({"csv": "customer_email,plan\nx@y.th,PRO\n", "partial": true}),
        )
        .await,
        422,
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["plan", "plan_code", "start_date"], "{problem}");
}

async fn only_admins_and_billing_staff_import_subscriptions(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    ok(import(&app, &admin, "customers", json!({"csv": customers_csv()})).await).await;
    let billing = app.staff_token("billing@satang.test", &["billing"]).await;
    let support = app.staff_token("support@satang.test", &["support"]).await;
    let viewer = app.staff_token("viewer@satang.test", &["viewer"]).await;
    let member = app.signup("member@example.co.th").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = Some(json!({"csv": subscriptions_csv(), "dry_run": true}));
    let path = "/api/imports/subscriptions".to_owned();
    check_access(
        &app,
        &[
            ("admin", admin.as_str()),
            ("billing", billing.as_str()),
            ("support", support.as_str()),
            ("viewer", viewer.as_str()),
            ("member", member.as_str()),
        ],
        [
            ("admin", POST, path.clone(), body.clone(), 200),
            ("billing", POST, path.clone(), body.clone(), 200),
            ("support", POST, path.clone(), body.clone(), 403),
            ("viewer", POST, path.clone(), body.clone(), 403),
            ("member", POST, path.clone(), body.clone(), 403),
        ],
    )
    .await;
    // A billing user's import is real, and audited as theirs.
    let done = ok(import(
        &app,
        &billing,
        "subscriptions",
        json!({"csv": subscriptions_csv()}),
    )
    .await)
    .await;
    assert_eq!(done["created"], 3);
    let audit = ok(app
        .get(
            "/api/audit-events?entity_type=subscription&limit=200",
            &admin,
        )
        .await)
    .await;
    let me = ok(app.get("/api/auth/me", &billing).await).await;
    assert!(
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor_id"] == me["id"]),
        "{audit}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `satang import` on the real clock: subscriptions that began years ago, their current
/// periods counted from the start to today.
async fn the_command_imports_customers_then_their_subscriptions(backend: Backend) {
    let Some(db) = Database::create(backend).await else {
        return;
    };
    let files = tempfile::tempdir().unwrap();
    let customers = write(files.path(), "ลูกค้า.csv", &customers_csv());
    let subscriptions = write(
        files.path(),
        "สมาชิก.csv",
        &format!(
            "\u{feff}customer_tax_id,customer_email,plan_code,quantity,start_date\n\
             {},,PRO,,2020-01-15\n\
             ,somchai@example.co.th,TEAM,4,2021-06-01\n",
            tax_id("010553600031")
        ),
    );
    let out = run_import(&db, "customers", &customers, &[]).await;
    assert!(out.status.success(), "{out:?}");
    let out = run_import(&db, "subscriptions", &subscriptions, &["--dry-run"]).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        report_of(&out),
        json!({"rows": 2, "created": 2, "skipped": [], "errors": [], "dry_run": true})
    );
    let out = run_import(&db, "subscriptions", &subscriptions, &[]).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(report_of(&out)["created"], 2);
    let out = run_import(&db, "subscriptions", &subscriptions, &[]).await;
    assert!(out.status.success(), "{out:?}");
    let report = report_of(&out);
    assert_eq!(report["created"], 0);
    assert_eq!(report["skipped"].as_array().unwrap().len(), 2, "{report}");

    // A bad row in Thai: a non-zero exit, the errors printed, nothing written.
    let bad = write(
        files.path(),
        "bad.csv",
        "customer_email,plan_code,start_date\nnobody@example.co.th,PRO,2028-01-01\n",
    );
    let out = run_import(&db, "subscriptions", &bad, &["--lang", "th"]).await;
    assert!(!out.status.success(), "{out:?}");
    let report = report_of(&out);
    assert_eq!(report["errors"][0]["line"], 2, "{report}");
    assert_eq!(report["errors"][0]["field"], "customer_email");
    assert_eq!(report["errors"][0]["message"], "ไม่มีลูกค้าที่ใช้อีเมลนี้");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(stderr.contains("นำเข้า 1 แถวของไฟล์ไม่ได้"), "{stderr}");
}
