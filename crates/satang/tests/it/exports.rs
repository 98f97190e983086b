//! The accountant's exports (SPEC §2.14) and the withholding certificate that arrives after its
//! payment (§2.5), through the HTTP API on both databases.
//!
//! A March with an invoice of ฿1,070.00 paid with ฿30.00 withheld (certificate not yet
//! received) and credited ฿10.70, a customer whose name needs CSV quoting, and an invoice
//! issued in April but paid — by the transfer's date — on the last evening of March. The CSV
//! exports are checked byte for byte and read back by Python's `csv` module; the XLSX export by
//! `calamine` (a reader nobody here wrote); the date filter, bad parameters and who may export.
//! Then the certificate number is added with `PATCH /api/payments/{id}` and shows in the
//! payment, the audit log, the withholding report and the export.

use std::io::{Cursor, Write};
use std::process::{Command, Stdio};

use calamine::{Data, Reader, Xlsx};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api_keys::create_key;
use crate::common::billing::{credit_note_of_ten_baht, member_token, set_clock, set_date};
use crate::common::{
    Backend, TestApp, expect_problem, json_of, ok, spawn_clocked_on, tool_missing,
};
use crate::invoice_pdf::{pdf_text, squeezed};
use crate::reports::parse_csv;
use crate::tax_documents::{customer, invoice, pay, seller_profile};

both_backends!(
    exports_hold_every_record_for_the_accountant,
    a_long_export_pages_through_every_row,
    certificate_numbers_arrive_after_the_payment,
);

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An export's answer: checks the attachment headers and returns the body.
async fn download(
    app: &TestApp,
    token: &str,
    path: &str,
    content_type: &str,
    file: &str,
) -> Vec<u8> {
    let res = app.get(path, token).await;
    assert_eq!(res.status(), 200, "{path}");
    assert_eq!(res.headers()["content-type"], content_type, "{path}");
    assert_eq!(
        res.headers()["content-disposition"],
        format!("attachment; filename=\"{file}\""),
        "{path}"
    );
    res.bytes().await.unwrap().to_vec()
}

/// A CSV export as text without its byte order mark (which must be there).
async fn csv(app: &TestApp, token: &str, path: &str, file: &str) -> String {
    let body = download(app, token, path, "text/csv; charset=utf-8", file).await;
    assert!(body.starts_with(BOM), "{path}: UTF-8 byte order mark");
    String::from_utf8(body[BOM.len()..].to_vec()).expect("UTF-8")
}

fn header(columns: &[&str]) -> String {
    format!("{}\r\n", columns.join(","))
}

const INVOICE_COLUMNS: [&str; 21] = [
    "number",
    "issue_date",
    "due_date",
    "paid_date",
    "status",
    "customer_id",
    "customer_name",
    "customer_tax_id",
    "customer_branch",
    "currency",
    "subtotal",
    "discount",
    "vat_rate_bps",
    "vat_amount",
    "total",
    "withholding_tax",
    "amount_paid",
    "credit_applied",
    "amount_credited",
    "amount_due",
    "id",
];

const PAYMENT_COLUMNS: [&str; 15] = [
    "paid_date",
    "invoice_number",
    "customer_id",
    "customer_name",
    "customer_tax_id",
    "method",
    "reference",
    "currency",
    "amount",
    "withholding_tax",
    "certificate_no",
    "overpayment",
    "status",
    "id",
    "invoice_id",
];

/// The single payment of an invoice.
async fn payment_of(app: &TestApp, token: &str, invoice: &Value) -> Value {
    let id = invoice["id"].as_str().unwrap();
    let page = ok(app
        .get(&format!("/api/payments?invoice_id={id}"), token)
        .await)
    .await;
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{page}");
    data[0].clone()
}

fn text(cell: &Data) -> &str {
    match cell {
        Data::String(s) => s,
        other => panic!("not text: {other:?}"),
    }
}

fn number(cell: &Data) -> f64 {
    match cell {
        Data::Float(f) => *f,
        Data::Int(i) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

fn date(cell: &Data) -> String {
    match cell {
        Data::DateTime(d) => d.as_datetime().unwrap().date().to_string(),
        other => panic!("not a date: {other:?}"),
    }
}

/// The formats of an XLSX file's styles part, read by Python's `zipfile`.
fn number_formats(file: &[u8]) -> Option<String> {
    let script = "import io, sys, zipfile\n\
                  z = zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read()))\n\
                  print(z.read('xl/styles.xml').decode())";
    let Ok(mut child) = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    else {
        tool_missing(
            "python3",
            "the XLSX number formats are not read without python3",
        );
        return None;
    };
    child.stdin.take().unwrap().write_all(file).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3's zipfile refused the XLSX");
    Some(String::from_utf8(out.stdout).unwrap())
}

async fn exports_hold_every_record_for_the_accountant(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-03-05").await else {
        return;
    };
    seller_profile(&app, &admin, "payment").await;
    let farm = customer(&app, &admin, "ไร่ผู้ใหญ่น้ำใส").await;
    let stall = json_of(
        app.post(
            "/api/customers",
            Some(&admin),
            json!({"name": "ร้าน \"ข้าวแกง, ปักษ์ใต้\"", "email": "stall@example.co.th",
                   "phone": "+66 81 234 5678"}),
        )
        .await,
        201,
    )
    .await;
    let mill = customer(&app, &admin, "โรงสีข้าวสันทราย").await;

    // A: 1,000.00 + VAT 70.00 = 1,070.00; 1,040.00 received and 30.00 withheld, the
    // certificate not yet in hand; then 10.00 + VAT credited to the customer's balance.
    let a = invoice(&app, &admin, farm, &[(1, 100_000)]).await;
    assert_eq!(a["total"], 107_000);
    pay(
        &app,
        &admin,
        &a,
        json!({"amount": 104_000, "method": "bank_transfer",
               "withholding_tax": {"amount": 3_000}}),
    )
    .await;
    let admin = set_date(&app, "2030-03-20").await;
    let note = credit_note_of_ten_baht(&app, &admin, a["id"].as_str().unwrap()).await;
    // B, issued on 2 April: 3 × 45.50 = 136.50 + VAT 9.56; the transfer arrived on 31 March
    // at 23:30 Bangkok (16:30 UTC), so the payment is March's.
    let admin = set_date(&app, "2030-04-02").await;
    let b = invoice(&app, &admin, mill, &[(3, 4_550)]).await;
    assert_eq!(b["total"], 14_606);
    pay(
        &app,
        &admin,
        &b,
        json!({"amount": 14_606, "method": "promptpay",
               "paid_at": "2030-03-31T16:30:00Z"}),
    )
    .await;
    let a: Value = ok(app
        .get(
            &format!("/api/invoices/{}", a["id"].as_str().unwrap()),
            &admin,
        )
        .await)
    .await;
    let a_payment = payment_of(&app, &admin, &a).await;
    let b_payment = payment_of(&app, &admin, &b).await;
    assert_eq!(a_payment["withholding_tax"]["certificate_no"], Value::Null);

    // Customers: every one, in order of creation; Thai and quotes intact.
    let customers = csv(&app, &admin, "/api/exports/customers", "customers.csv").await;
    let lines: Vec<&str> = customers.split_inclusive("\r\n").collect();
    assert_eq!(lines.len(), 4, "{customers}");
    assert!(lines[0].starts_with("id,name,legal_name,tax_id,branch_code,"));
    assert_eq!(
        lines[1],
        format!(
            "{farm},ไร่ผู้ใหญ่น้ำใส,ห้างหุ้นส่วนจำกัด ไร่ผู้ใหญ่น้ำใส,0503559000004,00001,,,,\
             12 หมู่ 3,,,แม่ริม,เชียงใหม่,50180,TH,THB,30,active,10.70,2030-03-05\r\n"
        )
    );
    assert_eq!(
        lines[2],
        format!(
            "{},\"ร้าน \"\"ข้าวแกง, ปักษ์ใต้\"\"\",,,,stall@example.co.th,+66 81 234 5678,,\
             ,,,,,,,THB,30,active,0.00,2030-03-05\r\n",
            stall["id"].as_str().unwrap()
        )
    );
    let body = [BOM, customers.as_bytes()].concat();
    if let Some(rows) = parse_csv(&body) {
        assert_eq!(rows[2][1], "ร้าน \"ข้าวแกง, ปักษ์ใต้\"");
        assert_eq!(rows[2][6], "+66 81 234 5678");
    }

    assert!(lines[3].starts_with(&format!("{mill},โรงสีข้าวสันทราย,")));

    // Invoices by issue date: March holds A, April holds B.
    let march = csv(
        &app,
        &admin,
        "/api/exports/invoices?from=2030-03-01&to=2030-03-31",
        "invoices-2030-03-01-2030-03-31.csv",
    )
    .await;
    let a_row = format!(
        "{},2030-03-05,{},2030-03-05,paid,{farm},ห้างหุ้นส่วนจำกัด ไร่ผู้ใหญ่น้ำใส,0503559000004,\
         สาขาที่ 00001,THB,1000.00,0.00,700,70.00,1070.00,30.00,1040.00,0.00,10.70,0.00,{}\r\n",
        a["number"].as_str().unwrap(),
        a["due_date"].as_str().unwrap(),
        a["id"].as_str().unwrap()
    );
    assert_eq!(march, format!("{}{a_row}", header(&INVOICE_COLUMNS)));
    let april = csv(
        &app,
        &admin,
        "/api/exports/invoices?from=2030-04-01",
        "invoices-2030-04-01.csv",
    )
    .await;
    let april_rows: Vec<&str> = april.split_inclusive("\r\n").collect();
    assert_eq!(april_rows.len(), 2, "{april}");
    assert!(april_rows[1].contains(",136.50,0.00,700,9.56,146.06,0.00,146.06,"));
    assert!(april_rows[1].starts_with(&format!("{},2030-04-02,", b["number"].as_str().unwrap())));
    let until_march = csv(
        &app,
        &admin,
        "/api/exports/invoices?to=2030-03-31",
        "invoices-2030-03-31.csv",
    )
    .await;
    assert_eq!(until_march, march);

    // Payments by the day the money arrived: both are March's, none April's.
    let payments = csv(
        &app,
        &admin,
        "/api/exports/payments?from=2030-03-01&to=2030-03-31&format=csv",
        "payments-2030-03-01-2030-03-31.csv",
    )
    .await;
    let name = "ห้างหุ้นส่วนจำกัด ไร่ผู้ใหญ่น้ำใส";
    let mill_name = "ห้างหุ้นส่วนจำกัด โรงสีข้าวสันทราย";
    assert_eq!(
        payments,
        format!(
            "{}{},{farm},{name},0503559000004,bank_transfer,,THB,1040.00,30.00,,0.00,succeeded,{},{}\r\n\
             2030-03-31,{},{mill},{mill_name},0503559000004,promptpay,,THB,146.06,0.00,,0.00,succeeded,{},{}\r\n",
            header(&PAYMENT_COLUMNS),
            format_args!("2030-03-05,{}", a["number"].as_str().unwrap()),
            a_payment["id"].as_str().unwrap(),
            a["id"].as_str().unwrap(),
            b["number"].as_str().unwrap(),
            b_payment["id"].as_str().unwrap(),
            b["id"].as_str().unwrap(),
        )
    );
    let none = csv(
        &app,
        &admin,
        "/api/exports/payments?from=2030-04-01&to=2030-04-30",
        "payments-2030-04-01-2030-04-30.csv",
    )
    .await;
    assert_eq!(none, header(&PAYMENT_COLUMNS));

    // Credit notes.
    let notes = csv(
        &app,
        &admin,
        "/api/exports/credit-notes",
        "credit-notes.csv",
    )
    .await;
    let note_rows: Vec<&str> = notes.split_inclusive("\r\n").collect();
    assert_eq!(note_rows.len(), 2, "{notes}");
    assert_eq!(
        note_rows[1],
        format!(
            "{},2030-03-20,{},{farm},{name},0503559000004,สาขาที่ 00001,THB,ลดราคาค่าบริการ,\
             10.00,0.70,10.70,0.00,10.70,{},{}\r\n",
            note["credit_note"]["number"].as_str().unwrap(),
            a["number"].as_str().unwrap(),
            note["credit_note"]["id"].as_str().unwrap(),
            a["id"].as_str().unwrap()
        )
    );

    // XLSX, read back by calamine: the same rows, money as numbers, dates as dates.
    let file = download(
        &app,
        &admin,
        "/api/exports/invoices?format=xlsx",
        XLSX,
        "invoices.xlsx",
    )
    .await;
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(file.clone())).unwrap();
    assert_eq!(book.sheet_names(), vec!["invoices".to_owned()]);
    let sheet = book.worksheet_range("invoices").unwrap();
    let rows: Vec<&[Data]> = sheet.rows().collect();
    assert_eq!(rows.len(), 3);
    let head: Vec<&str> = rows[0].iter().map(text).collect();
    assert_eq!(head, INVOICE_COLUMNS);
    let row = rows[1];
    assert_eq!(text(&row[0]), a["number"].as_str().unwrap());
    assert_eq!(date(&row[1]), "2030-03-05");
    assert_eq!(date(&row[3]), "2030-03-05");
    assert_eq!(text(&row[6]), name);
    assert_eq!(text(&row[7]), "0503559000004");
    assert_eq!(number(&row[12]), 700.0);
    assert_eq!(number(&row[13]), 70.0);
    assert_eq!(number(&row[14]), 1070.0);
    assert_eq!(number(&row[16]), 1040.0);
    assert_eq!(number(&row[18]), 10.7);
    assert_eq!(date(&rows[2][1]), "2030-04-02");
    assert_eq!(number(&rows[2][13]), 9.56);
    assert_eq!(number(&rows[2][14]), 146.06);
    if let Some(styles) = number_formats(&file) {
        assert!(styles.contains("formatCode=\"#,##0.00\""), "{styles}");
        assert!(styles.contains("formatCode=\"yyyy-mm-dd\""), "{styles}");
    }
    let file = download(
        &app,
        &admin,
        "/api/exports/customers?format=xlsx&from=2030-03-05&to=2030-03-05",
        XLSX,
        "customers-2030-03-05-2030-03-05.xlsx",
    )
    .await;
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(file)).unwrap();
    let sheet = book.worksheet_range("customers").unwrap();
    let rows: Vec<&[Data]> = sheet.rows().collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(text(&rows[2][1]), "ร้าน \"ข้าวแกง, ปักษ์ใต้\"");
    assert_eq!(number(&rows[1][18]), 10.7);
    assert_eq!(date(&rows[1][19]), "2030-03-05");

    // Bad kinds, formats and dates are 400 problems.
    for path in [
        "orders",
        "credit_notes",
        "invoices?format=pdf",
        "invoices?format=json",
        "invoices?from=2030-13-01",
        "invoices?from=03/2030",
        "invoices?to=2030-02-30",
        "payments?from=2030-03-31&to=2030-03-01",
    ] {
        expect_problem(app.get(&format!("/api/exports/{path}"), &admin).await, 400).await;
    }

    // Staff who read billing may export; a customer's member, an API key and no one may not.
    let viewer = app.staff_token("viewer@satang.test", &["viewer"]).await;
    csv(&app, &viewer, "/api/exports/payments", "payments.csv").await;
    let owner = member_token(&app, "owner@farm.example", farm, "owner").await;
    let key = create_key(
        &app,
        &admin,
        "ระบบบัญชี",
        &["invoices:read", "customers:read"],
    )
    .await;
    let key = key["secret"].as_str().unwrap();
    for token in [owner.as_str(), key] {
        for kind in ["customers", "invoices", "payments", "credit-notes"] {
            expect_problem(app.get(&format!("/api/exports/{kind}"), token).await, 403).await;
        }
    }
    let res = app
        .client
        .get(app.at("/api/exports/invoices"))
        .send()
        .await
        .unwrap();
    expect_problem(res, 401).await;
}

/// More customers than one page of the store (1,000), most created in the same instant by one
/// import: every one is in the CSV and the XLSX exactly once, in order, and the date range
/// holds them all or none.
async fn a_long_export_pages_through_every_row(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-06-10").await else {
        return;
    };
    const ROWS: usize = 2_345;
    let mut file = String::from("name,email\n");
    for i in 0..ROWS {
        file.push_str(&format!("ลูกค้าที่ {i},c{i}@example.co.th\n"));
    }
    let done = json_of(
        app.post("/api/imports/customers", Some(&admin), json!({"csv": file}))
            .await,
        200,
    )
    .await;
    assert_eq!(done["created"], ROWS);
    let listed = ok(app.get("/api/customers?limit=200", &admin).await).await;
    let first_id = listed["data"][0]["id"].as_str().unwrap().to_owned();

    let all = csv(&app, &admin, "/api/exports/customers", "customers.csv").await;
    let lines: Vec<&str> = all.split_inclusive("\r\n").collect();
    assert_eq!(lines.len(), 1 + ROWS);
    let ids: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ROWS, "every customer once");
    assert!(
        lines
            .iter()
            .all(|l| l.ends_with(",2030-06-10\r\n") || l.starts_with("id,"))
    );
    assert!(ids.contains(&first_id.as_str()));
    let names: std::collections::HashSet<String> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap().to_owned())
        .collect();
    for i in [0, 999, 1_000, 1_001, ROWS - 1] {
        assert!(names.contains(&format!("ลูกค้าที่ {i}")), "{i}");
    }

    let same_day = csv(
        &app,
        &admin,
        "/api/exports/customers?from=2030-06-10&to=2030-06-10",
        "customers-2030-06-10-2030-06-10.csv",
    )
    .await;
    assert_eq!(same_day, all);
    let before = csv(
        &app,
        &admin,
        "/api/exports/customers?to=2030-06-09",
        "customers-2030-06-09.csv",
    )
    .await;
    assert_eq!(before.split_inclusive("\r\n").count(), 1);

    let file = download(
        &app,
        &admin,
        "/api/exports/customers?format=xlsx",
        XLSX,
        "customers.xlsx",
    )
    .await;
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(file)).unwrap();
    let sheet = book.worksheet_range("customers").unwrap();
    let rows: Vec<&[Data]> = sheet.rows().collect();
    assert_eq!(rows.len(), 1 + ROWS);
    let xlsx_ids: Vec<&str> = rows[1..].iter().map(|r| text(&r[0])).collect();
    assert_eq!(xlsx_ids, ids, "the same rows in the same order");
}

/// The text of the receipt / tax invoice a payment issued (`None` without pdftotext).
async fn receipt_text(app: &TestApp, token: &str, payment: &Value) -> Option<String> {
    let docs = ok(app.get("/api/tax-documents?limit=200", token).await).await;
    let doc = docs["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["payment_id"] == payment["id"])
        .expect("the payment's receipt")
        .clone();
    let res = app
        .get(
            &format!("/api/tax-documents/{}/pdf", doc["id"].as_str().unwrap()),
            token,
        )
        .await;
    assert_eq!(res.status(), 200);
    pdf_text(&res.bytes().await.unwrap())
}

/// The `payment.updated` audit entries of a payment.
async fn certificate_audit(app: &TestApp, admin: &str, id: &str) -> Vec<Value> {
    let page = ok(app
        .get(
            &format!("/api/audit-events?entity_type=payment&entity_id={id}"),
            admin,
        )
        .await)
    .await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "payment.updated")
        .cloned()
        .collect()
}

async fn certificate_numbers_arrive_after_the_payment(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-05-07").await else {
        return;
    };
    seller_profile(&app, &admin, "payment").await;
    let farm = customer(&app, &admin, "ไร่ผู้ใหญ่น้ำใส").await;
    let mill = customer(&app, &admin, "โรงสีข้าวสันทราย").await;
    let a = invoice(&app, &admin, farm, &[(1, 100_000)]).await;
    pay(
        &app,
        &admin,
        &a,
        json!({"amount": 104_000, "method": "bank_transfer",
               "withholding_tax": {"amount": 3_000, "certificate_no": null}}),
    )
    .await;
    let withheld = payment_of(&app, &admin, &a).await;
    let b = invoice(&app, &admin, mill, &[(1, 5_000)]).await;
    pay(&app, &admin, &b, json!({"amount": 5_350, "method": "cash"})).await;
    let plain = payment_of(&app, &admin, &b).await;
    let path = format!("/api/payments/{}", withheld["id"].as_str().unwrap());

    // The receipt shows the tax withheld, and no certificate yet.
    let receipt = receipt_text(&app, &admin, &withheld).await;
    if let Some(text) = &receipt {
        assert!(text.contains("Withholding tax"), "{text}");
        assert!(!text.contains("Certificate no."), "{text}");
    }

    // The certificate arrives three weeks later.
    let admin = set_clock(&app, "2030-05-28T04:00:00Z").await;
    let billing = app.staff_token("billing@satang.test", &["billing"]).await;
    let updated = json_of(
        app.patch(
            &path,
            &billing,
            json!({"certificate_no": " 50ทวิ-2573-0042 "}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(updated["id"], withheld["id"]);
    assert_eq!(
        updated["withholding_tax"],
        json!({"amount": 3_000, "certificate_no": "50ทวิ-2573-0042"})
    );
    assert_eq!(updated["amount"], 104_000);
    assert_eq!(updated["paid_at"], withheld["paid_at"]);
    let listed = payment_of(&app, &admin, &a).await;
    assert_eq!(listed["withholding_tax"], updated["withholding_tax"]);

    // Audited once, with what it was; the same number again changes nothing.
    let id = withheld["id"].as_str().unwrap().to_owned();
    let entries = certificate_audit(&app, &admin, &id).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["before"], json!({"certificate_no": null}));
    assert_eq!(
        entries[0]["after"],
        json!({"certificate_no": "50ทวิ-2573-0042"})
    );
    json_of(
        app.patch(&path, &admin, json!({"certificate_no": "50ทวิ-2573-0042"}))
            .await,
        200,
    )
    .await;
    assert_eq!(certificate_audit(&app, &admin, &id).await.len(), 1);

    // The withholding report and the payments export show it.
    let report = ok(app
        .get("/api/reports/withholding-certificates?year=2030", &admin)
        .await)
    .await;
    assert_eq!(report["rows"][0]["certificate_no"], "50ทวิ-2573-0042");
    let export = csv(&app, &admin, "/api/exports/payments", "payments.csv").await;
    assert!(
        export.contains(",THB,1040.00,30.00,50ทวิ-2573-0042,0.00,succeeded,"),
        "{export}"
    );

    if receipt.is_some() {
        let text = receipt_text(&app, &admin, &withheld).await.unwrap();
        assert!(
            squeezed(&text).contains("Certificateno.50ทวิ-2573-0042"),
            "{text}"
        );
    }

    // A payment without withholding tax has no certificate; an empty number is no number.
    let problem = expect_problem(
        app.patch(
            &format!("/api/payments/{}", plain["id"].as_str().unwrap()),
            &admin,
            json!({"certificate_no": "50ทวิ-2573-0043"}),
        )
        .await,
        422,
    )
    .await;
    assert!(problem["errors"]["certificate_no"].is_array(), "{problem}");
    for body in [
        json!({"certificate_no": "  "}),
        json!({"certificate_no": "x".repeat(101)}),
        json!({}),
        json!({"certificate_no": "1", "amount": 1}),
    ] {
        expect_problem(app.patch(&path, &admin, body).await, 422).await;
    }
    let unknown = format!("/api/payments/{}", Uuid::now_v7());
    expect_problem(
        app.patch(&unknown, &admin, json!({"certificate_no": "1"}))
            .await,
        404,
    )
    .await;
    expect_problem(
        app.patch(
            "/api/payments/not-an-id",
            &admin,
            json!({"certificate_no": "1"}),
        )
        .await,
        400,
    )
    .await;

    // Staff who write billing only: a viewer and the customer's own owner are refused, a
    // member of another customer does not see the payment, nor does an API key get in.
    let viewer = app.staff_token("viewer@satang.test", &["viewer"]).await;
    let owner = member_token(&app, "owner@farm.example", farm, "owner").await;
    let stranger = member_token(&app, "owner@mill.example", mill, "owner").await;
    let key = create_key(&app, &admin, "ระบบบัญชี", &["invoices:read"]).await;
    let key = key["secret"].as_str().unwrap().to_owned();
    for (token, status) in [(&viewer, 403), (&owner, 403), (&stranger, 404), (&key, 403)] {
        expect_problem(
            app.patch(&path, token, json!({"certificate_no": "50ทวิ-2573-0099"}))
                .await,
            status,
        )
        .await;
    }
    assert_eq!(
        payment_of(&app, &admin, &a).await["withholding_tax"]["certificate_no"],
        "50ทวิ-2573-0042"
    );
}
