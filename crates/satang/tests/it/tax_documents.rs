//! Tax documents (SPEC §4.1, §4.2) through the HTTP API, on both databases: receipts / tax
//! invoices issued by payments (with withholding tax) under the default tax point, their VAT
//! adding up to the invoice's exactly, their own gapless series; the tax invoice and plain
//! receipts under tax point `issue`; credit notes naming what they correct; tenancy; and every
//! document's e-Tax XML checked by two validators nobody here wrote — libxml2's `xmllint`
//! against ETDA's XSD and SaxonC running ETDA's Schematron — plus its PDF; the signing worker
//! signing each document once.
//!
//! ETDA's files are found through `SATANG_ETAX_SCHEMAS` (the `etda-etax-v2.1` folder) and
//! SaxonC in the venv `SATANG_SAXON_VENV`; without them the XML checks skip, unless
//! `SATANG_REQUIRE_TOOLS=1` (CI).

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::billing::{credit_note_of_ten_baht, member_token, run_billing, set_date};
use crate::common::{
    Backend, TestApp, expect_problem, json_of, ok, spawn_clocked_on, spawn_with, tool_missing,
};

both_backends!(
    payments_issue_receipt_tax_invoices_that_add_up,
    issue_tax_point_makes_the_invoice_the_tax_invoice,
    run_invoices_get_their_documents_after_the_run,
    signed_xml_verifies_with_xmlsec1,
    worker_signs_each_document_once,
    scheduler_signs_new_documents,
);

const TODAY: &str = "2030-03-10";

pub(crate) async fn seller_profile(app: &TestApp, admin: &str, tax_point: &str) {
    ok(app
        .patch(
            "/api/settings",
            admin,
            json!({
                "company_name": {"th": "บริษัท ฟาร์มไอคิว จำกัด", "en": "FarmIQ Co., Ltd."},
                "tax_id": "0105557000126",
                "branch_code": "00000",
                "address": {"line1": "1 ถนนพญาไท", "subdistrict": "ทุ่งพญาไท",
                            "district": "ราชเทวี", "province": "กรุงเทพมหานคร",
                            "postal_code": "10400"},
                // แขวงทุ่งพญาไท เขตราชเทวี, for the e-Tax XML's structured seller address.
                "etax_subdistrict_code": "103701",
                "tax_point": tax_point,
                "receipt_prefix": "RT",
            }),
        )
        .await)
    .await;
}

pub(crate) async fn customer(app: &TestApp, admin: &str, name: &str) -> Uuid {
    let c = json_of(
        app.post(
            "/api/customers",
            Some(admin),
            json!({"name": name, "legal_name": format!("ห้างหุ้นส่วนจำกัด {name}"),
                   "tax_id": "0503559000004", "branch_code": "00001",
                   "address": {"line1": "12 หมู่ 3", "district": "แม่ริม",
                               "province": "เชียงใหม่", "postal_code": "50180"}}),
        )
        .await,
        201,
    )
    .await;
    c["id"].as_str().unwrap().parse().unwrap()
}

/// A finalised invoice of `lines` `(quantity, unit_amount)`.
pub(crate) async fn invoice(
    app: &TestApp,
    admin: &str,
    customer: Uuid,
    lines: &[(i64, i64)],
) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(q, u)| json!({"description": "ค่าบริการวิเคราะห์ดิน", "quantity": q, "unit_amount": u}))
        .collect();
    let d = json_of(
        app.post(
            "/api/invoices",
            Some(admin),
            json!({"customer_id": customer, "lines": lines}),
        )
        .await,
        201,
    )
    .await;
    let id = d["id"].as_str().unwrap();
    json_of(
        app.post(
            &format!("/api/invoices/{id}/finalize"),
            Some(admin),
            json!({}),
        )
        .await,
        200,
    )
    .await
}

pub(crate) async fn pay(app: &TestApp, admin: &str, inv: &Value, body: Value) {
    let id = inv["id"].as_str().unwrap();
    json_of(
        app.post(&format!("/api/invoices/{id}/payments"), Some(admin), body)
            .await,
        201,
    )
    .await;
}

pub(crate) async fn list(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let page = ok(app.get(&format!("/api/tax-documents?{query}"), token).await).await;
    page["data"].as_array().unwrap().clone()
}

fn sum(docs: &[Value], field: &str) -> i64 {
    docs.iter().map(|d| d[field].as_i64().unwrap()).sum()
}

async fn payments_issue_receipt_tax_invoices_that_add_up(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    seller_profile(&app, &admin, "payment").await;
    let farm = customer(&app, &admin, "ไร่ผู้ใหญ่น้ำใส").await;
    // 100.00 baht, VAT 7.00, total 107.00.
    let inv = invoice(&app, &admin, farm, &[(1, 10_000)]).await;
    assert_eq!(
        (&inv["vat_amount"], &inv["total"]),
        (&json!(700), &json!(10_700))
    );
    assert!(
        list(&app, &admin, "").await.is_empty(),
        "an invoice under tax point `payment` is not a tax document"
    );
    // Three payments: 33.33, 33.33, then 37.34 with 3.00 withheld (3 % of 100.00).
    pay(
        &app,
        &admin,
        &inv,
        json!({"amount": 3333, "method": "bank_transfer"}),
    )
    .await;
    pay(
        &app,
        &admin,
        &inv,
        json!({"amount": 3333, "method": "promptpay"}),
    )
    .await;
    pay(
        &app,
        &admin,
        &inv,
        json!({"amount": 3734, "method": "bank_transfer",
               "withholding_tax": {"amount": 300, "certificate_no": "WHT-0001"}}),
    )
    .await;
    let receipts = list(
        &app,
        &admin,
        &format!("type=receipt_tax_invoice&customer_id={farm}"),
    )
    .await;
    let numbers: Vec<&str> = receipts
        .iter()
        .map(|d| d["number"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers,
        ["RT-2030-000001", "RT-2030-000002", "RT-2030-000003"]
    );
    assert!(
        receipts
            .iter()
            .all(|d| d["type_code"] == "T03" && d["signed"] == false)
    );
    // VAT 7.00 × 33.33 / 107.00 = 2.1804 → 2.18; × 66.66 / 107.00 = 4.3609 → 4.36, less 2.18
    // = 2.18; the settling payment takes the remainder 7.00 − 4.36 = 2.64.
    let vats: Vec<i64> = receipts
        .iter()
        .map(|d| d["vat_amount"].as_i64().unwrap())
        .collect();
    assert_eq!(vats, [218, 218, 264]);
    assert_eq!(
        sum(&receipts, "vat_amount"),
        700,
        "adds up to the invoice's VAT"
    );
    assert_eq!(sum(&receipts, "total"), 10_700);
    assert_eq!(sum(&receipts, "base_amount"), 10_000);
    assert_eq!(receipts[0]["customer"]["tax_id"], "0503559000004");
    assert_eq!(receipts[0]["invoice_id"], inv["id"]);

    // A credit note on the paid invoice corrects its latest receipt / tax invoice.
    let inv_id = inv["id"].as_str().unwrap();
    credit_note_of_ten_baht(&app, &admin, inv_id).await;
    let notes = list(&app, &admin, "type=credit_note").await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["type_code"], "81");
    assert_eq!(notes[0]["number"], "CN-2030-000001");
    assert_eq!(notes[0]["references_id"], receipts[2]["id"]);
    assert_eq!(
        (&notes[0]["vat_amount"], &notes[0]["total"]),
        (&json!(70), &json!(1070))
    );

    // Dates: all of today's, none of tomorrow's; a bad type or date is a 400.
    assert_eq!(
        list(&app, &admin, &format!("from={TODAY}&to={TODAY}"))
            .await
            .len(),
        4
    );
    assert!(list(&app, &admin, "from=2030-03-11").await.is_empty());
    expect_problem(
        app.get("/api/tax-documents?type=invoice", &admin).await,
        400,
    )
    .await;
    expect_problem(
        app.get("/api/tax-documents?from=10/03/2030", &admin).await,
        400,
    )
    .await;

    // Tenancy: the customer's member sees its documents, another customer's member none.
    let owner = member_token(&app, "owner@farm.example", farm, "owner").await;
    assert_eq!(list(&app, &owner, "").await.len(), 4);
    let other = customer(&app, &admin, "สวนคนอื่น").await;
    let stranger = member_token(&app, "someone@else.example", other, "owner").await;
    assert!(list(&app, &stranger, "").await.is_empty());
    let first = receipts[0]["id"].as_str().unwrap();
    expect_problem(
        app.get(&format!("/api/tax-documents/{first}"), &stranger)
            .await,
        404,
    )
    .await;
    let one = ok(app
        .get(&format!("/api/tax-documents/{first}"), &owner)
        .await)
    .await;
    assert_eq!(one["number"], "RT-2030-000001");

    for doc in receipts.iter().chain(&notes) {
        check_documents(&app, &admin, doc).await;
    }
}

async fn issue_tax_point_makes_the_invoice_the_tax_invoice(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    seller_profile(&app, &admin, "issue").await;
    let farm = customer(&app, &admin, "สหกรณ์ข้าวหอมมะลิ").await;
    // 2 × 50.00 + 23.50 = 123.50; VAT 8.645 → 8.65; total 132.15.
    let inv = invoice(&app, &admin, farm, &[(2, 5000), (1, 2350)]).await;
    let docs = list(&app, &admin, "").await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["type"], "tax_invoice");
    assert_eq!(docs[0]["type_code"], "388");
    assert_eq!(docs[0]["number"], inv["number"]);
    assert_eq!(
        (
            &docs[0]["base_amount"],
            &docs[0]["vat_amount"],
            &docs[0]["total"]
        ),
        (&json!(12_350), &json!(865), &json!(13_215))
    );
    pay(
        &app,
        &admin,
        &inv,
        json!({"amount": 13_215, "method": "cash"}),
    )
    .await;
    let receipts = list(&app, &admin, "type=receipt").await;
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0]["type_code"], "T01");
    assert_eq!(receipts[0]["number"], "RT-2030-000001");
    assert_eq!(
        (&receipts[0]["vat_amount"], &receipts[0]["total"]),
        (&json!(865), &json!(13_215))
    );
    let inv_id = inv["id"].as_str().unwrap();
    json_of(
        app.post(
            &format!("/api/invoices/{inv_id}/credit-notes"),
            Some(&admin),
            json!({"lines": [{"description": "คืนค่าบริการ", "quantity": 1, "unit_amount": 2350}]}),
        )
        .await,
        201,
    )
    .await;
    let notes = list(&app, &admin, "type=credit_note").await;
    assert_eq!(notes.len(), 1);
    assert_eq!(
        notes[0]["references_id"], docs[0]["id"],
        "corrects the tax invoice"
    );
    for doc in docs.iter().chain(&receipts).chain(&notes) {
        check_documents(&app, &admin, doc).await;
    }
}

async fn run_invoices_get_their_documents_after_the_run(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    seller_profile(&app, &admin, "issue").await;
    let farm = customer(&app, &admin, "ไร่ชาดอยแม่สลอง").await;
    json_of(
        app.post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": farm, "plan_code": "PRO", "trial_days": 0,
                   "collection_method": "send_invoice"}),
        )
        .await,
        201,
    )
    .await;
    // The first invoice is finalised on its own: its tax invoice at once.
    assert_eq!(list(&app, &admin, "type=tax_invoice").await.len(), 1);
    let admin = set_date(&app, "2030-02-10").await;
    let report = run_billing(&app, &admin).await;
    assert_eq!(report["invoices_created"], 1, "{report}");
    // The run only queued its invoice (the scheduler's worker is off in this test) …
    assert_eq!(list(&app, &admin, "type=tax_invoice").await.len(), 1);
    let open = ok(app
        .get(
            &format!("/api/invoices?customer_id={farm}&status=open"),
            &admin,
        )
        .await)
    .await;
    let run_invoice = open["data"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|i| i["number"].as_str().unwrap().to_owned())
        .unwrap()
        .clone();
    // … and a payment on it makes its tax invoice first, then the payment's receipt.
    let total = run_invoice["amount_due"].as_i64().unwrap();
    pay(
        &app,
        &admin,
        &run_invoice,
        json!({"amount": total, "method": "bank_transfer"}),
    )
    .await;
    let tax_invoices = list(&app, &admin, "type=tax_invoice").await;
    assert_eq!(tax_invoices.len(), 2);
    assert_eq!(tax_invoices[1]["number"], run_invoice["number"]);
    assert_eq!(tax_invoices[1]["vat_amount"], run_invoice["vat_amount"]);
    let receipts = list(&app, &admin, "type=receipt").await;
    assert_eq!(receipts.last().unwrap()["invoice_id"], run_invoice["id"]);
    assert_eq!(
        receipts.last().unwrap()["vat_amount"],
        run_invoice["vat_amount"]
    );
    check_documents(&app, &admin, &tax_invoices[1]).await;
}

/// The document's PDF is a PDF, and its XML passes ETDA's XSD and Schematron of its kind.
pub(crate) async fn check_documents(app: &TestApp, token: &str, doc: &Value) {
    let id = doc["id"].as_str().unwrap();
    let pdf = app
        .get(&format!("/api/tax-documents/{id}/pdf"), token)
        .await;
    assert_eq!(pdf.status(), 200);
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));
    let res = app
        .get(&format!("/api/tax-documents/{id}/xml"), token)
        .await;
    assert_eq!(res.status(), 200);
    let xml = res.bytes().await.unwrap();
    let text = String::from_utf8(xml.to_vec()).unwrap();
    assert!(text.contains(&format!(
        "<ram:ID>{}</ram:ID>",
        doc["number"].as_str().unwrap()
    )));
    let stem = match doc["type_code"].as_str().unwrap() {
        "388" | "T02" | "T03" => "TaxInvoice",
        "T01" => "Receipt",
        _ => "DebitCreditNote",
    };
    validate_etax(stem, &xml);
}

/// Validates `xml` with `xmllint --schema` and the Schematron under SaxonC; skips (or fails in
/// CI) when ETDA's files or the tools are missing.
fn validate_etax(stem: &str, xml: &[u8]) {
    let Some(schemas) = std::env::var_os("SATANG_ETAX_SCHEMAS").map(PathBuf::from) else {
        tool_missing(
            "SATANG_ETAX_SCHEMAS (ETDA's etda-etax-v2.1 folder)",
            "e-Tax XML validation",
        );
        return;
    };
    let standard = schemas.join("ETDA/data/standard");
    let xsd = standard.join(format!("{stem}_CrossIndustryInvoice_2p1.xsd"));
    let sch = standard.join(format!("{stem}_Schematron_2p1.sch"));
    assert!(
        xsd.is_file() && sch.is_file(),
        "ETDA's files at {}",
        standard.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("document.xml");
    std::fs::write(&file, xml).unwrap();

    match Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(&file)
        .output()
    {
        Err(_) => tool_missing("xmllint (Debian libxml2-utils)", "e-Tax XSD validation"),
        Ok(out) => assert!(
            out.status.success(),
            "{stem} XSD: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(xml)
        ),
    }

    let venv = std::env::var_os("SATANG_SAXON_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/satang-saxon")
        });
    let python = venv.join("bin/python");
    let has_saxon = Command::new(&python)
        .args(["-c", "import saxonche"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_saxon {
        tool_missing(
            "saxonche (PyPI) in SATANG_SAXON_VENV",
            "e-Tax Schematron validation",
        );
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/tools/schematron.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(&sch)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{stem} Schematron: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(xml)
    );
}

/// A self-signed seller certificate (RSA 2048) and its PKCS#12 made by the openssl command line
/// (its defaults: PBES2 / AES-256-CBC, HMAC-SHA256), or None (skipped) without openssl.
pub(crate) fn seller_certificate(dir: &std::path::Path) -> Option<(PathBuf, PathBuf)> {
    let key = dir.join("seller.key");
    let cert = dir.join("seller.pem");
    let p12 = dir.join("seller.p12");
    let req = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-utf8", "-subj",
        ])
        .arg("/C=TH/O=FarmIQ Co., Ltd./CN=FarmIQ e-Tax 0105557000126")
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    let Ok(req) = req else {
        tool_missing("openssl (command line)", "e-Tax signature test");
        return None;
    };
    assert!(
        req.status.success(),
        "{}",
        String::from_utf8_lossy(&req.stderr)
    );
    let export = Command::new("openssl")
        .args(["pkcs12", "-export", "-passout", "pass:ลับ-secret"])
        .arg("-inkey")
        .arg(&key)
        .arg("-in")
        .arg(&cert)
        .arg("-out")
        .arg(&p12)
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    Some((cert, p12))
}

/// `xmlsec1 --verify` of `xml` trusting `cert`: Some(success), None when xmlsec1 is missing.
pub(crate) fn xmlsec1_verifies(cert: &std::path::Path, xml: &[u8]) -> Option<bool> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signed.xml");
    std::fs::write(&file, xml).unwrap();
    let out = Command::new("xmlsec1")
        .arg("--verify")
        .arg("--trusted-pem")
        .arg(cert)
        .args([
            "--id-attr:Id",
            "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
        ])
        .arg(&file)
        .output();
    match out {
        Err(_) => {
            tool_missing("xmlsec1 (Debian xmlsec1)", "e-Tax signature verification");
            None
        }
        Ok(out) => {
            if !out.status.success() {
                eprintln!("xmlsec1: {}", String::from_utf8_lossy(&out.stderr));
            }
            Some(out.status.success())
        }
    }
}

/// With the seller's PKCS#12 configured (`SATANG_ETAX_P12`, `SATANG_ETAX_P12_PASSWORD`), a
/// receipt's XML carries an enveloped XAdES-BES signature that libxmlsec1 verifies against the
/// seller's certificate, still passes ETDA's XSD and Schematron, is stored (the document reads
/// `signed: true` and answers the same bytes again), and fails verification once changed.
async fn signed_xml_verifies_with_xmlsec1(backend: Backend) {
    let certs = tempfile::tempdir().unwrap();
    let Some((cert, p12)) = seller_certificate(certs.path()) else {
        return;
    };
    let Some(app) = spawn_with(backend, |c| {
        c.test_clock = true;
        c.billing_interval = 0;
        c.etax_p12 = Some(p12.clone());
        c.etax_p12_password = "ลับ-secret".to_owned();
    })
    .await
    else {
        return;
    };
    let admin = set_date(&app, TODAY).await;
    seller_profile(&app, &admin, "payment").await;
    let farm = customer(&app, &admin, "ไร่ผู้ใหญ่น้ำใส & บุตร").await;
    let inv = invoice(&app, &admin, farm, &[(2, 12_345)]).await;
    let total = inv["total"].as_i64().unwrap();
    pay(
        &app,
        &admin,
        &inv,
        json!({"amount": total, "method": "bank_transfer"}),
    )
    .await;
    let docs = list(&app, &admin, "").await;
    assert_eq!(docs.len(), 1, "{docs:?}");
    let receipt = &docs[0];
    assert_eq!(receipt["type_code"], "T03");
    let id = receipt["id"].as_str().unwrap();
    assert_eq!(
        receipt["signed"], false,
        "not signed before its XML is made"
    );

    let xml = app
        .get(&format!("/api/tax-documents/{id}/xml"), &admin)
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let text = String::from_utf8(xml.clone()).unwrap();
    assert!(text.contains("<ds:Signature"), "{text}");
    assert!(text.contains("<xades:SigningCertificate>"), "{text}");
    if let Some(verified) = xmlsec1_verifies(&cert, &xml) {
        assert!(verified, "xmlsec1 rejects the signed XML:\n{text}");
    }
    // ETDA's XSD and Schematron accept the signed message too.
    check_documents(&app, &admin, receipt).await;

    let after = ok(app.get(&format!("/api/tax-documents/{id}"), &admin).await).await;
    assert_eq!(after["signed"], true);
    let again = app
        .get(&format!("/api/tax-documents/{id}/xml"), &admin)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        again.as_ref(),
        xml.as_slice(),
        "a signed document never changes"
    );

    // The PDF is a PDF/A-3 carrying exactly these signed bytes.
    let pdf = app
        .get(&format!("/api/tax-documents/{id}/pdf"), &admin)
        .await
        .bytes()
        .await
        .unwrap();
    if let Some((part, attachments)) = pdfa_part_and_attachments(&pdf) {
        assert_eq!(part, "3", "XMP pdfaid:part");
        let name = format!("{}.xml", receipt["number"].as_str().unwrap());
        assert_eq!(attachments.len(), 1, "{:?}", attachments.keys());
        assert_eq!(
            attachments.get(&name).map(Vec::as_slice),
            Some(xml.as_slice()),
            "the embedded file is the /xml answer"
        );
    }

    // One figure changed after signing: the signature no longer verifies.
    let vat = format!(
        "<ram:TaxTotalAmount>{}</ram:TaxTotalAmount>",
        satang_documents::etax::decimal(receipt["vat_amount"].as_i64().unwrap())
    );
    assert!(text.contains(&vat), "{vat} in {text}");
    let tampered = text.replacen(&vat, "<ram:TaxTotalAmount>0.00</ram:TaxTotalAmount>", 1);
    if let Some(verified) = xmlsec1_verifies(&cert, tampered.as_bytes()) {
        assert!(!verified, "a changed document must not verify");
    }
}

/// The PDF's XMP `pdfaid:part` and its embedded files (name → bytes) as pikepdf (PyPI, in
/// `SATANG_PIKEPDF_VENV`) reads them; None (skipped, or failed in CI) without pikepdf.
fn pdfa_part_and_attachments(
    pdf: &[u8],
) -> Option<(String, std::collections::BTreeMap<String, Vec<u8>>)> {
    use base64::Engine;
    let venv = std::env::var_os("SATANG_PIKEPDF_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/satang-pikepdf")
        });
    let python = venv.join("bin/python");
    let has = Command::new(&python)
        .args(["-c", "import pikepdf"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        tool_missing("pikepdf (PyPI) in SATANG_PIKEPDF_VENV", "PDF/A-3 check");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.pdf");
    std::fs::write(&file, pdf).unwrap();
    let script = r#"
import base64, json, sys, pikepdf
pdf = pikepdf.open(sys.argv[1])
part = str(pdf.open_metadata().get('pdfaid:part'))
files = {n: base64.b64encode(f.get_file().read_bytes()).decode() for n, f in pdf.attachments.items()}
print(json.dumps({"part": part, "files": files}))
"#;
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pikepdf: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = v["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, b)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b.as_str().unwrap())
                .unwrap();
            (k.clone(), bytes)
        })
        .collect();
    Some((v["part"].as_str().unwrap().to_owned(), files))
}

/// A server with the seller's certificate (`cert`, `p12`) and the test clock; the scheduler
/// every `interval` seconds (0: off).
async fn signing_app(backend: Backend, p12: &std::path::Path, interval: u64) -> Option<TestApp> {
    let p12 = p12.to_path_buf();
    spawn_with(backend, move |c| {
        c.test_clock = true;
        c.billing_interval = interval;
        c.etax_p12 = Some(p12);
        c.etax_p12_password = "ลับ-secret".to_owned();
    })
    .await
}

/// `n` invoices of one customer, each paid in full: `n` receipts / tax invoices, unsigned.
async fn paid_receipts(app: &TestApp, admin: &str, n: i64) -> Vec<Value> {
    seller_profile(app, admin, "payment").await;
    let farm = customer(app, admin, "สวนทุเรียนป่าละอู").await;
    for i in 0..n {
        let inv = invoice(app, admin, farm, &[(1, 10_000 + i * 100)]).await;
        let total = inv["total"].as_i64().unwrap();
        pay(
            app,
            admin,
            &inv,
            json!({"amount": total, "method": "bank_transfer"}),
        )
        .await;
    }
    let docs = list(app, admin, "").await;
    assert_eq!(docs.len() as i64, n, "{docs:?}");
    docs
}

/// The signing worker (the scheduler's step after the queued documents): two workers at once
/// claim disjoint documents, each unsigned document is signed and stored exactly once, one a
/// request already signed is left as it is, and the stored XML is what `/xml` answers and
/// what xmlsec1 verifies against the seller's certificate.
async fn worker_signs_each_document_once(backend: Backend) {
    let certs = tempfile::tempdir().unwrap();
    let Some((cert, p12)) = seller_certificate(certs.path()) else {
        return;
    };
    let Some(app) = signing_app(backend, &p12, 0).await else {
        return;
    };
    let admin = set_date(&app, TODAY).await;
    let docs = paid_receipts(&app, &admin, 5).await;
    // The first one is signed by a request (the lazy path) before any worker runs.
    let first = docs[0]["id"].as_str().unwrap();
    let lazily = app
        .get(&format!("/api/tax-documents/{first}/xml"), &admin)
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();

    let state = &app.server.as_ref().unwrap().state;
    let signer = state.etax_signers.current().unwrap();
    let now = chrono::Utc::now();
    let (a, b) = tokio::join!(
        satang_billing::tax_documents::sign_unsigned(&state.db, &signer, now, 2),
        satang_billing::tax_documents::sign_unsigned(&state.db, &signer, now, 2),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.failed + b.failed, 0);
    let mut claimed = a.claimed + b.claimed;
    let mut stored = a.stored + b.stored;
    loop {
        let pass = satang_billing::tax_documents::sign_unsigned(&state.db, &signer, now, 2)
            .await
            .unwrap();
        claimed += pass.claimed;
        stored += pass.stored;
        if pass.claimed == 0 {
            break;
        }
    }
    assert_eq!(claimed, 4, "each unsigned document claimed once");
    assert_eq!(stored, 4, "each unsigned document stored once");
    let again = satang_billing::tax_documents::sign_unsigned(&state.db, &signer, now, 10)
        .await
        .unwrap();
    assert_eq!(again.claimed, 0, "nothing left to sign");

    for doc in &docs {
        let id = doc["id"].as_str().unwrap();
        let read = ok(app.get(&format!("/api/tax-documents/{id}"), &admin).await).await;
        assert_eq!(read["signed"], true, "{read}");
        let xml = app
            .get(&format!("/api/tax-documents/{id}/xml"), &admin)
            .await
            .bytes()
            .await
            .unwrap()
            .to_vec();
        let stored = satang_store::tax_documents::get_any(&state.db, id.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .xml
            .unwrap();
        assert_eq!(xml, stored.as_bytes(), "/xml answers the stored bytes");
        if id == first {
            assert_eq!(xml, lazily, "the request's signature stays");
        }
        let text = String::from_utf8(xml.clone()).unwrap();
        assert_eq!(text.matches("<ds:Signature ").count(), 1, "{text}");
        if let Some(verified) = xmlsec1_verifies(&cert, &xml) {
            assert!(verified, "xmlsec1 rejects the worker's XML:\n{text}");
        }
    }
    check_documents(&app, &admin, &docs[1]).await;
}

/// With the scheduler on, documents issued between its runs are signed without a request.
async fn scheduler_signs_new_documents(backend: Backend) {
    let certs = tempfile::tempdir().unwrap();
    let Some((cert, p12)) = seller_certificate(certs.path()) else {
        return;
    };
    let Some(app) = signing_app(backend, &p12, 1).await else {
        return;
    };
    let admin = set_date(&app, TODAY).await;
    let docs = paid_receipts(&app, &admin, 2).await;
    for doc in &docs {
        let id = doc["id"].as_str().unwrap();
        let mut signed = false;
        for _ in 0..100 {
            let read = ok(app.get(&format!("/api/tax-documents/{id}"), &admin).await).await;
            if read["signed"] == true {
                signed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(signed, "{id} not signed by the scheduler within 20 s");
        let state = &app.server.as_ref().unwrap().state;
        let stored = satang_store::tax_documents::get_any(&state.db, id.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .xml
            .unwrap();
        if let Some(verified) = xmlsec1_verifies(&cert, stored.as_bytes()) {
            assert!(verified, "xmlsec1 rejects the scheduler's XML");
        }
    }
}
