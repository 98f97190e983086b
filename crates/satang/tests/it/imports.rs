//! Customer imports (SPEC §2.14) through `POST /api/imports/customers` and `satang import
//! customers`, on both databases: a Thai and English file checked by a dry run (nothing
//! written), then imported with its events and audit entries; a file with bad rows refused
//! with their line numbers and nothing written, or written in part with `partial`; a re-run
//! creating nothing; a collision with a stored customer; who may import; and the command on the
//! same file.

use std::process::{Output, Stdio};
use std::time::Duration;

use reqwest::Client;
use serde_json::{Value, json};

use crate::common::access::{POST, check_access};
use crate::common::process::{login, satang_command};
use crate::common::{Backend, Database, TestApp, expect_problem, json_of, ok, spawn};
use satang::Server;
use satang_api::Services;

both_backends!(
    a_thai_and_english_file_is_checked_then_imported_once,
    a_bad_row_refuses_the_file_unless_partial,
    only_admins_and_billing_staff_import,
    the_command_imports_the_same_file,
);

/// A valid Thai tax id from its first twelve digits (the check digit computed).
pub(crate) fn tax_id(first_twelve: &str) -> String {
    let digits: Vec<u32> = first_twelve
        .chars()
        .map(|c| c.to_digit(10).unwrap())
        .collect();
    assert_eq!(digits.len(), 12);
    let sum: u32 = digits.iter().zip((2..=13).rev()).map(|(d, w)| d * w).sum();
    format!("{first_twelve}{}", (11 - sum % 11) % 10)
}

/// Three customers, Thai and English, with quoting, a dashed tax id, a branch, an address and
/// metadata; a blank line at the end.
fn book() -> String {
    let farm = tax_id("010553600031");
    let dashed = {
        let t = tax_id("010555912345");
        format!(
            "{}-{}-{}-{}-{}",
            &t[..1],
            &t[1..5],
            &t[5..10],
            &t[10..12],
            &t[12..]
        )
    };
    format!(
        "name,legal_name,tax_id,branch_code,email,phone,address_line1,address_subdistrict,\
         address_district,address_province,address_postal_code,payment_terms_days,locale,metadata\n\
         สหกรณ์การเกษตรบ้านนา,สหกรณ์การเกษตรบ้านนา จำกัด,{farm},,office@banna.co.th,02-123-4567,\
         99 หมู่ 4 ถนนพหลโยธิน,ลำไทร,วังน้อย,พระนครศรีอยุธยา,13170,15,th,\"{{\"\"crm\"\": \"\"A-17\"\"}}\"\n\
         \"Lotus Delta Co., Ltd.\",,{dashed},00002,Billing@LotusDelta.example,,\"12/3 Sukhumvit Rd,\nKhlong Toei\",,,Bangkok,10110,,en,\n\
         นายสมชาย ใจดี,,,,somchai@example.co.th,081 234 5678,,,,,,,,\n\
         \n"
    )
}

async fn import(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.post("/api/imports/customers", Some(token), body).await
}

/// The customers the API lists (none are deleted here), by name.
async fn customer_names(app: &TestApp, token: &str) -> Vec<String> {
    let page = ok(app.get("/api/customers?limit=200", token).await).await;
    let mut names: Vec<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn a_thai_and_english_file_is_checked_then_imported_once(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let csv = book();

    // A dry run checks everything and writes nothing.
    let dry = json_of(
        import(&app, &admin, json!({"csv": csv, "dry_run": true})).await,
        200,
    )
    .await;
    assert_eq!(
        dry,
        json!({"rows": 3, "created": 3, "skipped": [], "errors": [], "dry_run": true})
    );
    assert!(customer_names(&app, &admin).await.is_empty());

    let done = json_of(import(&app, &admin, json!({"csv": csv})).await, 200).await;
    assert_eq!(
        done,
        json!({"rows": 3, "created": 3, "skipped": [], "errors": [], "dry_run": false})
    );
    let page = ok(app.get("/api/customers?limit=200", &admin).await).await;
    let customers = page["data"].as_array().unwrap();
    assert_eq!(customers.len(), 3);
    let by_name = |name: &str| {
        customers
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} was not imported: {page}"))
            .clone()
    };
    let farm = by_name("สหกรณ์การเกษตรบ้านนา");
    assert_eq!(farm["legal_name"], "สหกรณ์การเกษตรบ้านนา จำกัด");
    assert_eq!(farm["tax_id"], tax_id("010553600031"));
    // A tax id without a branch is the head office, as in a create.
    assert_eq!(farm["branch_code"], "00000");
    assert_eq!(farm["payment_terms_days"], 15);
    assert_eq!(farm["metadata"], json!({"crm": "A-17"}));
    assert_eq!(farm["status"], "active");
    assert_eq!(
        farm["address"],
        json!({"line1": "99 หมู่ 4 ถนนพหลโยธิน", "line2": null, "subdistrict": "ลำไทร",
               "district": "วังน้อย", "province": "พระนครศรีอยุธยา", "postal_code": "13170",
               "country": "TH"})
    );
    let lotus = by_name("Lotus Delta Co., Ltd.");
    assert_eq!(lotus["tax_id"], tax_id("010555912345"));
    assert_eq!(lotus["branch_code"], "00002");
    assert_eq!(lotus["email"], "Billing@LotusDelta.example");
    assert_eq!(lotus["address"]["line1"], "12/3 Sukhumvit Rd,\nKhlong Toei");
    assert_eq!(lotus["locale"], "en");
    assert_eq!(lotus["payment_terms_days"], 30);
    let somchai = by_name("นายสมชาย ใจดี");
    assert_eq!(somchai["tax_id"], Value::Null);
    assert_eq!(somchai["address"], Value::Null);
    assert_eq!(somchai["phone"], "081 234 5678");
    // Found by the search, Thai included.
    let found = ok(app.get("/api/customers?q=สมชาย", &admin).await).await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);

    // Every customer has its audit entry, as a create writes it.
    let audit = ok(app
        .get("/api/audit-events?entity_type=customer&limit=200", &admin)
        .await)
    .await;
    let created: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "customer.created")
        .collect();
    assert_eq!(created.len(), 3, "{audit}");
    for entry in &created {
        let id = entry["entity_id"].as_str().unwrap();
        let customer = customers.iter().find(|c| c["id"] == id).unwrap();
        assert_eq!(entry["after"]["name"], customer["name"]);
        assert_eq!(entry["after"]["tax_id"], customer["tax_id"]);
        assert!(entry["actor_id"].is_string(), "{entry}");
    }

    // The same file again creates nothing: every row is reported as already present.
    let again = json_of(import(&app, &admin, json!({"csv": csv})).await, 200).await;
    assert_eq!(again["created"], 0, "{again}");
    assert_eq!(again["errors"], json!([]), "{again}");
    let skipped = again["skipped"].as_array().unwrap();
    let lines: Vec<u64> = skipped
        .iter()
        .map(|s| s["line"].as_u64().unwrap())
        .collect();
    // The Lotus row's quoted address spans lines 3 and 4.
    assert_eq!(lines, vec![2, 3, 5]);
    assert_eq!(skipped[0]["customer_id"], farm["id"]);
    assert_eq!(skipped[1]["customer_id"], lotus["id"]);
    assert_eq!(skipped[2]["customer_id"], somchai["id"]);
    assert_eq!(customer_names(&app, &admin).await.len(), 3);
    let audit = ok(app
        .get("/api/audit-events?entity_type=customer&limit=200", &admin)
        .await)
    .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 3);
}

async fn a_bad_row_refuses_the_file_unless_partial(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    // A customer created before, by hand.
    let stored = json_of(
        app.post(
            "/api/customers",
            Some(&admin),
            json!({"name": "ร้านทองเยาวราช", "email": "gold@yaowarat.example"}),
        )
        .await,
        201,
    )
    .await;
    let good = tax_id("010553600031");
    let wrong_check_digit = {
        let t = tax_id("010555912345");
        let last = (t.as_bytes()[12] - b'0' + 1) % 10;
        format!("{}{last}", &t[..12])
    };
    let csv = format!(
        "name,tax_id,email,address_postal_code\n\
         บริษัท ข้าวหอม จำกัด,{good},rice@khaohom.example,10200\n\
         บริษัท ผิดเลข จำกัด,{wrong_check_digit},wrong@example.co.th,\n\
         ,,noname@example.co.th,\n\
         Rice Again,,RICE@khaohom.example,\n\
         ร้านทองอีกร้าน,,gold@yaowarat.example,\n\
         Mango Sticky Rice,,mango@example.co.th,1011\n\
         Durian House,,durian@example.co.th,\n"
    );
    for dry_run in [true, false] {
        let problem = expect_problem(
            import(&app, &admin, json!({"csv": csv, "dry_run": dry_run})).await,
            422,
        )
        .await;
        assert_eq!(problem["rows"], 7, "{problem}");
        assert_eq!(
            problem["detail"],
            "5 of the file's rows cannot be imported; nothing was written"
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
                (3, "tax_id"),
                (4, "name"),
                (5, "email"),
                (6, "email"),
                (7, "address_postal_code"),
            ],
            "{problem}"
        );
        let messages = &problem["errors"];
        assert!(
            messages[0]["message"]
                .as_str()
                .unwrap()
                .contains("check digit"),
            "{messages}"
        );
        assert_eq!(messages[2]["message"], "the same e-mail as line 2");
        assert!(
            messages[3]["message"]
                .as_str()
                .unwrap()
                .contains(stored["id"].as_str().unwrap()),
            "{messages}"
        );
        // Nothing was written.
        assert_eq!(customer_names(&app, &admin).await, vec!["ร้านทองเยาวราช"]);
    }

    // With `partial` the good rows are written and the bad ones reported.
    let partial = json_of(
        import(&app, &admin, json!({"csv": csv, "partial": true})).await,
        200,
    )
    .await;
    assert_eq!(partial["rows"], 7);
    assert_eq!(partial["created"], 2);
    assert_eq!(partial["errors"].as_array().unwrap().len(), 5);
    assert_eq!(
        customer_names(&app, &admin).await,
        vec!["Durian House", "บริษัท ข้าวหอม จำกัด", "ร้านทองเยาวราช"]
    );
    // Again: the two are present, the bad rows still bad.
    let again = json_of(
        import(&app, &admin, json!({"csv": csv, "partial": true})).await,
        200,
    )
    .await;
    assert_eq!(again["created"], 0);
    assert_eq!(again["skipped"].as_array().unwrap().len(), 2);
    assert_eq!(customer_names(&app, &admin).await.len(), 3);

    // The file as a whole: a header naming no customer column, an empty file.
    let problem = expect_problem(
        import(
            &app,
            &admin,
            json!({"csv": "ชื่อ,email\nก,a@x.th\n", "partial": true}),
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
    assert_eq!(fields, vec!["ชื่อ", "name"], "{problem}");
    assert_eq!(
        problem["detail"],
        "the file cannot be imported; nothing was written"
    );
    assert!(
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["line"] == 1)
    );
    let problem = expect_problem(import(&app, &admin, json!({"csv": ""})).await, 422).await;
    assert_eq!(problem["errors"][0]["field"], "csv");
    // Not an import request at all: the usual field problem.
    let problem = expect_problem(import(&app, &admin, json!({"file": csv})).await, 422).await;
    assert!(problem["errors"].is_object(), "{problem}");
}

async fn only_admins_and_billing_staff_import(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let billing = app.staff_token("billing@satang.test", &["billing"]).await;
    let support = app.staff_token("support@satang.test", &["support"]).await;
    let viewer = app.staff_token("viewer@satang.test", &["viewer"]).await;
    let member = app.signup("member@example.co.th").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body =
        |email: &str| Some(json!({"csv": format!("name,email\nร้านค้า,{email}\n"), "dry_run": true}));
    let path = "/api/imports/customers".to_owned();
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
            ("admin", POST, path.clone(), body("a@x.th"), 200),
            ("billing", POST, path.clone(), body("b@x.th"), 200),
            ("support", POST, path.clone(), body("c@x.th"), 403),
            ("viewer", POST, path.clone(), body("d@x.th"), 403),
            ("member", POST, path.clone(), body("e@x.th"), 403),
        ],
    )
    .await;
    let res = app
        .client
        .post(app.at("/api/imports/customers"))
        .json(&json!({"csv": "name,email\nร้านค้า,f@x.th\n"}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 401).await;
    // A billing user's import is real, and audited as theirs.
    ok(import(&app, &billing, json!({"csv": "name,email\nร้านค้า,b@x.th\n"})).await).await;
    assert_eq!(customer_names(&app, &admin).await, vec!["ร้านค้า"]);
}

/// `satang import KIND` (customers, subscriptions) on `db`.
pub(crate) async fn run_import(
    db: &Database,
    kind: &str,
    file: &std::path::Path,
    flags: &[&str],
) -> Output {
    let mut cmd = satang_command();
    cmd.env("SATANG_ARGON2_MEMORY_KIB", "4096")
        .env("SATANG_ARGON2_ITERATIONS", "1");
    if let Some(url) = &db.url {
        cmd.env("DATABASE_URL", url);
    }
    cmd.args(["import", kind])
        .arg(file)
        .args(flags)
        .arg("--data-dir")
        .arg(db.dir.path())
        .stdin(Stdio::null());
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the import finishes within 60 s")
        .expect("the command runs")
}

pub(crate) fn report_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the report is not JSON ({e}): exit {:?}\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

async fn the_command_imports_the_same_file(backend: Backend) {
    let Some(db) = Database::create(backend).await else {
        return;
    };
    let files = tempfile::tempdir().unwrap();
    let book_file = files.path().join("ลูกค้า.csv");
    std::fs::write(&book_file, format!("\u{feff}{}", book())).unwrap();

    let out = run_import(&db, "customers", &book_file, &["--dry-run"]).await;
    assert!(out.status.success(), "{out:?}");
    let report = report_of(&out);
    assert_eq!(
        report,
        json!({"rows": 3, "created": 3, "skipped": [], "errors": [], "dry_run": true})
    );

    let out = run_import(&db, "customers", &book_file, &[]).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(report_of(&out)["created"], 3);

    let out = run_import(&db, "customers", &book_file, &[]).await;
    assert!(out.status.success(), "{out:?}");
    let report = report_of(&out);
    assert_eq!(report["created"], 0);
    assert_eq!(report["skipped"].as_array().unwrap().len(), 3);

    // A bad row: a non-zero exit, the errors printed, nothing written.
    let bad_file = files.path().join("bad.csv");
    std::fs::write(
        &bad_file,
        "name,tax_id,email\nร้านใหม่,,new@example.co.th\nร้านเลขผิด,0105536000310,x@example.co.th\n",
    )
    .unwrap();
    let out = run_import(&db, "customers", &bad_file, &[]).await;
    assert!(!out.status.success(), "{out:?}");
    let report = report_of(&out);
    assert_eq!(report["errors"][0]["line"], 3, "{report}");
    assert_eq!(report["errors"][0]["field"], "tax_id", "{report}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // What the command wrote is what the API serves, audited without a user.
    let server = Server::start(&db.config(), Services::All).await.unwrap();
    let http = Client::new();
    let admin = login(&http, &server.url(), crate::common::ADMIN_EMAIL).await;
    let token = admin["access_token"].as_str().unwrap();
    let page: Value = http
        .get(format!("{}/api/customers?limit=200", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut names: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "Lotus Delta Co., Ltd.",
            "นายสมชาย ใจดี",
            "สหกรณ์การเกษตรบ้านนา"
        ]
    );
    let audit: Value = http
        .get(format!(
            "{}/api/audit-events?entity_type=customer&limit=200",
            server.url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = audit["data"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{audit}");
    assert!(entries.iter().all(|e| e["action"] == "customer.created"
        && e["actor_id"].is_null()
        && e["request_id"] == "satang-import"));
    server.stop().await.unwrap();
}
