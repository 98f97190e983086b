//! Black-box tests of the printed invoice and its PromptPay payload (SPEC §2.6, §4), on both
//! databases. The PDF's text is read back with poppler's `pdftotext`, so the Thai checked here
//! is what a reader's PDF viewer extracts, not what we meant to write. Without `pdftotext` the
//! text checks are skipped with a SKIPPED line, unless `SATANG_REQUIRE_TOOLS=1` (CI) makes that
//! a failure.

use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::billing::member_token;
use crate::common::{Backend, TestApp, expect_problem, json_of, spawn_clocked_on, tool_missing};

/// The day the test clock is set to, at 10:00 in Bangkok.
const TODAY: &str = "2030-03-10";

both_backends!(pdf_and_promptpay_of_an_issued_invoice);
both_backends!(with_tax_point_payment_the_invoice_is_not_a_tax_invoice);

async fn create_customer(app: &TestApp, admin: &str, body: Value) -> Uuid {
    let c = json_of(app.post("/api/customers", Some(admin), body).await, 201).await;
    c["id"].as_str().unwrap().parse().unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.call(Method::GET, path, Some(token), None).await
}

/// The text `pdftotext` extracts from `pdf`, or `None` (after printing SKIPPED) when the tool
/// is not installed and CI does not require it.
pub(crate) fn pdf_text(pdf: &[u8]) -> Option<String> {
    pdftotext(pdf, &[])
}

/// The text `pdftotext -layout` extracts: a table's rows stay on their lines, as printed.
pub(crate) fn pdf_layout_text(pdf: &[u8]) -> Option<String> {
    pdftotext(pdf, &["-layout"])
}

fn pdftotext(pdf: &[u8], options: &[&str]) -> Option<String> {
    if Command::new("pdftotext").arg("-v").output().is_err() {
        tool_missing(
            "pdftotext (poppler-utils)",
            "PDF text checks need pdftotext (apt-get install poppler-utils)",
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("invoice.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .args(options)
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success(), "pdftotext failed");
    Some(String::from_utf8(out.stdout).unwrap())
}

/// Text without any whitespace: line breaks and run boundaries may add spaces in extraction.
pub(crate) fn squeezed(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// CRC-16/CCITT-FALSE, written out here to check the server's payload independently.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for byte in data {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The value of top-level EMVCo tag `tag` in `payload`.
fn emv_field(payload: &str, tag: &str) -> Option<String> {
    let mut rest = payload;
    while rest.len() >= 4 {
        let (t, len) = (&rest[..2], rest[2..4].parse::<usize>().ok()?);
        let value = rest.get(4..4 + len)?;
        if t == tag {
            return Some(value.to_owned());
        }
        rest = &rest[4 + len..];
    }
    None
}

async fn pdf_and_promptpay_of_an_issued_invoice(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let res = app
        .patch(
            "/api/settings",
            &admin,
            json!({
                "company_name": {"th": "บริษัท ฟาร์มไอคิว จำกัด", "en": "FarmIQ Co., Ltd."},
                "tax_id": "0105557000126",
                "branch_code": "00000",
                "address": {"line1": "1 ถนนพหลโยธิน", "province": "กรุงเทพมหานคร", "postal_code": "10400"},
                "promptpay_id": "0812345678",
                // The invoice is the tax invoice; the default (`payment`) is tested below.
                "tax_point": "issue",
            }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let customer = create_customer(
        &app,
        &admin,
        json!({"name": "ไร่ผู้ใหญ่น้ำใส", "legal_name": "ห้างหุ้นส่วนจำกัด ไร่ผู้ใหญ่น้ำใส",
               "tax_id": "0503559000004", "branch_code": "00001",
               "address": {"line1": "12 หมู่ 3", "district": "แม่ริม", "province": "เชียงใหม่"}}),
    )
    .await;
    let stranger = create_customer(&app, &admin, json!({"name": "สวนคนอื่น"})).await;

    // 2 × 50.00 + 23.50 = 123.50; VAT 8.65; total 132.15 baht.
    let draft = json_of(
        app.post(
            "/api/invoices",
            Some(&admin),
            json!({"customer_id": customer, "lines": [
                {"description": "ค่าบริการที่ปรึกษาการเกษตร", "quantity": 2, "unit_amount": 5000},
                {"description": "Soil sensor ที่นี่", "quantity": 1, "unit_amount": 2350}]}),
        )
        .await,
        201,
    )
    .await;
    let id = draft["id"].as_str().unwrap().to_owned();
    let pdf_path = format!("/api/invoices/{id}/pdf");
    let pp_path = format!("/api/invoices/{id}/promptpay");
    let problem = expect_problem(get(&app, &admin, &pdf_path).await, 409).await;
    assert!(problem["detail"].as_str().unwrap().contains("finalise"));

    let invoice = json_of(
        app.call(
            Method::POST,
            &format!("/api/invoices/{id}/finalize"),
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (&invoice["total"], &invoice["amount_due"]),
        (&json!(13215), &json!(13215))
    );
    let number = invoice["number"].as_str().unwrap().to_owned();

    // The member of the customer reads it; a member of another customer does not see it.
    let member = member_token(&app, "pdf-member@example.com", customer, "member").await;
    let outsider = member_token(&app, "pdf-outsider@example.com", stranger, "owner").await;
    expect_problem(get(&app, &outsider, &pdf_path).await, 404).await;
    expect_problem(get(&app, &outsider, &pp_path).await, 404).await;

    let res = get(&app, &member, &pdf_path).await;
    assert_eq!(res.status(), 200);
    let header = |name: &str| res.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "application/pdf");
    assert_eq!(
        header("content-disposition"),
        format!("inline; filename=\"{number}.pdf\"")
    );
    let pdf = res.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    if let Some(text) = pdf_text(&pdf) {
        let text = squeezed(&text);
        for expected in [
            "บริษัทฟาร์มไอคิวจำกัด",
            "ห้างหุ้นส่วนจำกัดไร่ผู้ใหญ่น้ำใส",
            "ใบแจ้งหนี้",
            "ใบกำกับภาษี",
            "หนึ่งร้อยสามสิบสองบาทสิบห้าสตางค์",
            "สำนักงานใหญ่",
            "สาขาที่00001",
            "132.15",
            "10มี.ค.2573",
            number.as_str(),
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text}");
        }
    }

    // The PromptPay payload: valid CRC, the amount due in tag 54.
    let pp = json_of(get(&app, &member, &pp_path).await, 200).await;
    assert_eq!(
        (&pp["amount"], &pp["promptpay_id"]),
        (&json!(13215), &json!("0812345678"))
    );
    let payload = pp["payload"].as_str().unwrap();
    let (body, crc) = payload.split_at(payload.len() - 4);
    assert!(body.ends_with("6304"), "{payload}");
    assert_eq!(format!("{:04X}", crc16(body.as_bytes())), crc, "{payload}");
    assert_eq!(emv_field(payload, "54").as_deref(), Some("132.15"));
    assert_eq!(emv_field(payload, "53").as_deref(), Some("764"));

    // Paid in full: a receipt, and nothing left to pay by PromptPay.
    let res = app
        .post(
            &format!("/api/invoices/{id}/payments"),
            Some(&admin),
            json!({"amount": 13215, "method": "promptpay"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    expect_problem(get(&app, &member, &pp_path).await, 409).await;
    let res = get(&app, &admin, &pdf_path).await;
    assert_eq!(res.status(), 200);
    if let Some(text) = pdf_text(&res.bytes().await.unwrap()) {
        assert!(squeezed(&text).contains("ใบเสร็จรับเงิน"), "{text}");
    }
}

/// With the default tax point (`payment`) the invoice is an invoice only (ใบแจ้งหนี้), open or
/// paid: the tax invoice is the receipt each payment issues. An invoice keeps the title it was
/// issued with when the setting changes later.
async fn with_tax_point_payment_the_invoice_is_not_a_tax_invoice(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = create_customer(&app, &admin, json!({"name": "ไร่ชาดอย"})).await;
    let draft = json_of(
        app.post(
            "/api/invoices",
            Some(&admin),
            json!({"customer_id": customer, "lines": [
                {"description": "ค่าบริการรายเดือน", "quantity": 1, "unit_amount": 10000}]}),
        )
        .await,
        201,
    )
    .await;
    let id = draft["id"].as_str().unwrap().to_owned();
    let finalize = format!("/api/invoices/{id}/finalize");
    json_of(
        app.call(Method::POST, &finalize, Some(&admin), None).await,
        200,
    )
    .await;
    let pdf_path = format!("/api/invoices/{id}/pdf");
    let title = |text: &str| {
        let text = squeezed(text);
        assert!(text.contains("ใบแจ้งหนี้"), "{text}");
        assert!(!text.contains("ใบกำกับภาษี"), "{text}");
        assert!(!text.contains("ใบเสร็จรับเงิน"), "{text}");
    };
    let res = get(&app, &admin, &pdf_path).await;
    assert_eq!(res.status(), 200);
    let Some(text) = pdf_text(&res.bytes().await.unwrap()) else {
        return;
    };
    title(&text);
    let res = app
        .patch("/api/settings", &admin, json!({"tax_point": "issue"}))
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(
            &format!("/api/invoices/{id}/payments"),
            Some(&admin),
            json!({"amount": 10700, "method": "promptpay"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = get(&app, &admin, &pdf_path).await;
    title(&pdf_text(&res.bytes().await.unwrap()).unwrap());
}
