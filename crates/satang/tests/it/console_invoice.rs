//! Black-box tests of the staff invoice page (`/invoices/{id}`) and the one-off invoice of the
//! customer page, on both databases: a browser-like client signs in through `/login`, follows
//! an invoice's number from the lists to its page, confirms each action in its dialog (posting
//! the dialog's form with its CSRF token), and the change is checked through the JSON API. The
//! Thai page is checked for English words: every string it shows comes from the catalogue.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::billing::{member_token, set_date};
use crate::common::process::free_port;
use crate::common::smtp::{aiosmtpd_python, start_smtp};
use crate::common::{ADMIN_EMAIL, Backend, TestApp, json_of, spawn_clocked_on, spawn_with};
use crate::console_pages::{Browser, Page, thb};

/// The day the test clock is set to, at 10:00 in Bangkok.
const TODAY: &str = "2030-03-10";

both_backends!(
    an_invoice_opens_from_its_number_and_is_voided_after_confirming,
    an_invoice_is_marked_uncollectible_and_credited_with_its_tax_document,
    an_invoice_mail_is_sent_again_through_smtp,
    a_one_off_invoice_is_drafted_on_the_customer_page_and_issued,
    members_and_viewers_cannot_act_on_invoices,
);

/// A business customer (tax id, head office) with `email` as its billing address.
async fn business(app: &TestApp, admin: &str, name: &str, email: Option<&str>) -> Uuid {
    let c = json_of(
        app.post(
            "/api/customers",
            Some(admin),
            json!({"name": name, "tax_id": "0105557000126", "branch_code": "00000",
                   "billing_email": email, "locale": "th"}),
        )
        .await,
        201,
    )
    .await;
    c["id"].as_str().unwrap().parse().unwrap()
}

/// An issued invoice of two soil analyses at ฿1,250.00 (฿2,675.00 with VAT), due on `due`.
async fn issued(app: &TestApp, admin: &str, customer: Uuid, due: Option<&str>) -> Value {
    let draft = json_of(
        app.post(
            "/api/invoices",
            Some(admin),
            json!({"customer_id": customer, "due_date": due, "lines": [
                {"description": "ค่าบริการวิเคราะห์ดิน", "quantity": 2, "unit_amount": 125_000}]}),
        )
        .await,
        201,
    )
    .await;
    let id = draft["id"].as_str().unwrap();
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

async fn invoice(app: &TestApp, admin: &str, id: &str) -> Value {
    json_of(app.get(&format!("/api/invoices/{id}"), admin).await, 200).await
}

/// The seller profile the tax documents need (as Settings would hold it).
async fn etax_seller(app: &TestApp, admin: &str) {
    json_of(
        app.patch(
            "/api/settings",
            admin,
            json!({
                "company_name": {"th": "บริษัท ฟาร์มไอคิว จำกัด", "en": "FarmIQ Co., Ltd."},
                "tax_id": "0105557000126",
                "branch_code": "00000",
                "address": {"line1": "1 ถนนพญาไท", "subdistrict": "ทุ่งพญาไท",
                            "district": "ราชเทวี", "province": "กรุงเทพมหานคร",
                            "postal_code": "10400"},
                "etax_subdistrict_code": "103701",
                "tax_point": "payment",
                "receipt_prefix": "RT",
            }),
        )
        .await,
        200,
    )
    .await;
}

/// Words in Latin letters a person reads on a Thai page — its text and the labels assistive
/// technology reads out — other than names, numbers and addresses (the brand, document
/// numbers, e-mail addresses, file formats, the language toggle, which names English, and the
/// `names` of people and things the test made).
fn english_words(html: &str, names: &[&str]) -> Vec<String> {
    const ALLOWED: [&str; 8] = [
        "Satang", "PDF", "XML", "API", "English", "e-Tax", "PKCS#12", "✕",
    ];
    let mut text = String::new();
    let mut rest = html;
    // Text between tags, plus the attributes that are read out.
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        text.push(' ');
        let close = rest[open..].find('>').map_or(rest.len(), |c| open + c + 1);
        let tag = &rest[open..close];
        for attribute in ["aria-label=\"", "placeholder=\"", "title=\""] {
            if let Some(at) = tag.find(attribute) {
                let value = &tag[at + attribute.len()..];
                text.push_str(&value[..value.find('"').unwrap_or(value.len())]);
                text.push(' ');
            }
        }
        rest = &rest[close..];
        // Scripts and styles are not read.
        for skipped in ["script", "style"] {
            if tag.starts_with(&format!("<{skipped}"))
                && let Some(end) = rest.find(&format!("</{skipped}>"))
            {
                rest = &rest[end..];
            }
        }
    }
    text.push_str(rest);
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| c.is_ascii_punctuation() && c != '#' || "·–—←“”()".contains(c))
        })
        .filter(|w| w.chars().any(|c| c.is_ascii_alphabetic()))
        .filter(|w| !w.starts_with('&'))
        .filter(|w| !ALLOWED.contains(w) && !names.contains(w))
        // Document numbers (INV-2030-000001, RT-…, CN-…) and e-mail addresses are data.
        .filter(|w| !w.chars().any(|c| c.is_ascii_digit()) && !w.contains('@'))
        .map(str::to_owned)
        .collect()
}

/// The bootstrap administrator's name (the part of its address before the `@`).
const ADMIN_NAME: &str = "admin";

fn assert_thai_only(page: &Page, what: &str) {
    let words = english_words(&page.body, &[ADMIN_NAME]);
    assert!(
        words.is_empty(),
        "English on the Thai {what}: {words:?}\n{}",
        page.body
    );
}

/// The `_key` a form of the page carries.
fn form_key(body: &str, action: &str) -> String {
    let at = body
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("a form posting to {action}"));
    let marker = "name=\"_key\" value=\"";
    let from = at + body[at..].find(marker).expect("the form's key") + marker.len();
    body[from..from + body[from..].find('"').unwrap()].to_owned()
}

fn dialog_open(body: &str, name: &str) -> bool {
    body.contains(&format!(
        "id=\"dlg-{name}\" aria-labelledby=\"dlg-{name}-h\" open"
    ))
}

async fn an_invoice_opens_from_its_number_and_is_voided_after_confirming(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = business(&app, &admin, "สหกรณ์การเกษตรบ้านนา จำกัด", None).await;
    let inv = issued(&app, &admin, customer, Some(TODAY)).await;
    let id = inv["id"].as_str().unwrap().to_owned();
    let number = inv["number"].as_str().unwrap().to_owned();
    let total = inv["total"].as_i64().unwrap();
    assert_eq!(total, 267_500);
    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;

    // Every list that shows the number links it to the invoice's page.
    let link = format!("<a href=\"/invoices/{id}\" data-testid=\"invoice-link\">{number}</a>");
    for path in [
        format!("/customers/{customer}?tab=invoices"),
        format!("/billing?tab=history&customer={customer}"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(page.body.contains(&link), "{path}: {}", page.body);
    }

    let page = browser.get(&format!("/invoices/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains(&format!("<title>ใบแจ้งหนี้ {number} · Satang</title>"))
    );
    assert!(
        page.body
            .contains("data-testid=\"invoice-status\">รอชำระ</span>")
    );
    assert!(!page.body.contains("data-testid=\"invoice-overdue\""));
    assert!(
        page.body
            .contains(&format!("data-testid=\"invoice-total\">{}<", thb(total)))
    );
    assert!(page.body.contains(&format!(
        "data-testid=\"invoice-vat\">{}<",
        thb(inv["vat_amount"].as_i64().unwrap())
    )));
    assert!(page.body.contains("0105557000126 · สำนักงานใหญ่"));
    assert!(page.body.contains(&format!(
        "href=\"/customers/{customer}?tab=invoices\" data-testid=\"invoice-customer\">สหกรณ์การเกษตรบ้านนา จำกัด</a>"
    )));
    assert!(page.body.contains("ค่าบริการวิเคราะห์ดิน"));
    // Its history: created and issued, by the administrator.
    assert!(page.body.contains("ออกใบแจ้งหนี้</strong>"), "{}", page.body);
    assert_thai_only(&page, "open invoice");

    // The PDF is named by the invoice's number.
    let pdf = browser
        .client
        .get(format!("{}/invoices/{id}/pdf", browser.base))
        .header(reqwest::header::COOKIE, browser.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);
    assert_eq!(
        pdf.headers()[reqwest::header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"{number}.pdf\"").as_str()
    );
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));

    // The day after its due date it is overdue.
    let admin = set_date(&app, "2030-03-11").await;
    let page = browser.get(&format!("/invoices/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("data-testid=\"invoice-overdue\">เกินกำหนดชำระ</span>")
    );

    // Void asks first: its button opens the dialog (rendered open at the button's address).
    assert!(page.body.contains(&format!(
        "href=\"/invoices/{id}?dialog=void\" data-dialog=\"dlg-void\""
    )));
    let dialog = browser.get(&format!("/invoices/{id}?dialog=void")).await;
    assert!(dialog_open(&dialog.body, "void"), "{}", dialog.body);
    assert!(
        dialog
            .body
            .contains(&format!("ยกเลิกใบแจ้งหนี้ {number} หรือไม่"))
    );
    let void_path = format!("/invoices/{id}/void");
    let key = form_key(&dialog.body, &void_path);
    // Without the CSRF token: refused, nothing changes.
    let forged = browser
        .post_raw(&void_path, &[("_key", key.as_str())])
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(invoice(&app, &admin, &id).await["status"], "open");
    let done = browser.post(&void_path, &[("_key", key.as_str())]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("/invoices/{id}?notice=invoice-voided").as_str())
    );
    let after = invoice(&app, &admin, &id).await;
    assert_eq!(after["status"], "void");
    assert_eq!(after["amount_due"], 0);
    let page = browser.get(done.location.as_deref().unwrap()).await;
    assert!(page.body.contains("ยกเลิกใบแจ้งหนี้แล้ว"));
    assert!(
        page.body
            .contains("data-testid=\"invoice-status\">ยกเลิก</span>")
    );
    assert!(!page.body.contains("data-testid=\"invoice-void\""));
    assert!(page.body.contains("ยกเลิกใบแจ้งหนี้</strong>"), "the history");
    // Voiding it again (an old tab): why not, in Thai, at the top of the page.
    let again = browser.post(&void_path, &[]).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("data-testid=\"invoice-refused\""));
    assert!(again.body.contains("ใบนี้มีสถานะ ยกเลิก"), "{}", again.body);
    // Reloading the form's address goes back to the invoice.
    let reload = browser.get(&void_path).await;
    assert_eq!(
        reload.location.as_deref(),
        Some(format!("/invoices/{id}").as_str())
    );

    // An invoice paid in part cannot be voided: the reason in the void dialog, in Thai.
    let paid = issued(&app, &admin, customer, None).await;
    let paid_id = paid["id"].as_str().unwrap();
    json_of(
        app.post(
            &format!("/api/invoices/{paid_id}/payments"),
            Some(&admin),
            json!({"amount": 100_000, "method": "bank_transfer"}),
        )
        .await,
        201,
    )
    .await;
    let refused = browser
        .post(&format!("/invoices/{paid_id}/void"), &[])
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(dialog_open(&refused.body, "void"), "{}", refused.body);
    assert!(
        refused
            .body
            .contains("ใบแจ้งหนี้นี้มีการรับชำระแล้ว จึงยกเลิกไม่ได้ ให้ออกใบลดหนี้แทน")
    );
    assert_eq!(invoice(&app, &admin, paid_id).await["status"], "open");
    // The payment is on the invoice's page and the payments list links back to it.
    let page = browser.get(&format!("/invoices/{paid_id}")).await;
    assert!(page.body.contains("data-testid=\"invoice-payments\""));
    assert!(page.body.contains(&thb(100_000)));
    let history = browser
        .get(&format!("/billing?tab=history&customer={customer}"))
        .await;
    assert!(history.body.contains(&format!(
        "<a href=\"/invoices/{paid_id}\" data-testid=\"payment-invoice-link\">{}</a>",
        paid["number"].as_str().unwrap()
    )));

    // In English, the same page speaks English.
    browser
        .post("/preferences", &[("lang", "en"), ("back", "/")])
        .await;
    let page = browser.get(&format!("/invoices/{paid_id}")).await;
    assert!(page.body.contains(&format!(
        "<title>Invoice {} · Satang</title>",
        paid["number"].as_str().unwrap()
    )));
    assert!(page.body.contains(">Void invoice</a>"));
    assert!(page.body.contains(">Issue credit note</a>"));
    // (The check of the Thai pages sees English where there is some.)
    assert!(english_words(&page.body, &[ADMIN_NAME]).contains(&"Void".to_owned()));
}

async fn an_invoice_is_marked_uncollectible_and_credited_with_its_tax_document(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    etax_seller(&app, &admin).await;
    let customer = business(&app, &admin, "ไร่ชาฉุยฟง", Some("account@choui.test")).await;
    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;

    // Uncollectible, after confirming.
    let written_off = issued(&app, &admin, customer, None).await;
    let off_id = written_off["id"].as_str().unwrap();
    let dialog = browser
        .get(&format!("/invoices/{off_id}?dialog=uncollectible"))
        .await;
    assert!(
        dialog_open(&dialog.body, "uncollectible"),
        "{}",
        dialog.body
    );
    let path = format!("/invoices/{off_id}/mark-uncollectible");
    let key = form_key(&dialog.body, &path);
    let done = browser.post(&path, &[("_key", key.as_str())]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("/invoices/{off_id}?notice=invoice-uncollectible").as_str())
    );
    let after = invoice(&app, &admin, off_id).await;
    assert_eq!(after["status"], "uncollectible");
    let page = browser.get(&format!("/invoices/{off_id}")).await;
    assert!(
        page.body
            .contains("data-testid=\"invoice-status\">เก็บเงินไม่ได้</span>")
    );
    assert!(!page.body.contains("data-testid=\"invoice-uncollectible\""));
    // It can still be paid if the money comes after all: Billing's payment dialog, opened from
    // the invoice, comes back to it.
    let pay_link = format!(
        "/billing?tab=history&#38;customer={customer}&#38;dialog=pay-{off_id}&#38;from=invoice"
    );
    assert!(
        page.body.contains(&format!(
            "href=\"{pay_link}\" data-testid=\"invoice-record-payment\""
        )),
        "{}",
        page.body
    );
    let dialog = browser.get(&pay_link.replace("&#38;", "&")).await;
    assert_eq!(dialog.status, 200);
    assert!(
        dialog_open(&dialog.body, &format!("pay-{off_id}")),
        "{}",
        dialog.body
    );
    assert!(dialog.body.contains("name=\"back_to\" value=\"invoice\""));
    let paid = browser
        .post(
            &format!("/billing/invoices/{off_id}/payments"),
            &[
                ("amount", "2,675.00"),
                ("method", "bank_transfer"),
                ("back_to", "invoice"),
            ],
        )
        .await;
    assert_eq!(paid.status, 303, "{}", paid.body);
    assert_eq!(
        paid.location.as_deref(),
        Some(format!("/invoices/{off_id}?notice=invoice-paid").as_str())
    );
    assert_eq!(invoice(&app, &admin, off_id).await["status"], "paid");

    // A paid invoice is credited with a credit note (ใบลดหนี้) and its tax document.
    let inv = issued(&app, &admin, customer, None).await;
    let id = inv["id"].as_str().unwrap();
    json_of(
        app.post(
            &format!("/api/invoices/{id}/payments"),
            Some(&admin),
            json!({"amount": inv["total"], "method": "bank_transfer"}),
        )
        .await,
        201,
    )
    .await;
    let dialog = browser
        .get(&format!("/invoices/{id}?dialog=credit-note"))
        .await;
    assert!(dialog_open(&dialog.body, "credit-note"), "{}", dialog.body);
    assert!(dialog.body.contains("ลดหนี้ได้อีกไม่เกิน ฿2,675.00"));
    let path = format!("/invoices/{id}/credit-notes");
    let key = form_key(&dialog.body, &path);
    // No reason: refused by its field, in the dialog.
    let refused = browser
        .post(&path, &[("_key", key.as_str()), ("credit_0", "1")])
        .await;
    assert_eq!(refused.status, 422);
    assert!(dialog_open(&refused.body, "credit-note"));
    assert!(refused.body.contains("ใบลดหนี้ต้องระบุเหตุผล"));
    // More of a line than it has.
    let refused = browser
        .post(
            &path,
            &[
                ("_key", key.as_str()),
                ("reason", "ลดราคา"),
                ("credit_0", "3"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("กรอกจำนวนเต็มตั้งแต่ 0 ถึง 2"));
    // More than is left to credit: the API refuses, the dialog says how much is left.
    let refused = browser
        .post(
            &path,
            &[
                ("_key", key.as_str()),
                ("reason", "ลดราคา"),
                ("other_description", "ส่วนลดพิเศษ"),
                ("other_amount", "9,000.00"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(dialog_open(&refused.body, "credit-note"));
    assert!(
        refused
            .body
            .contains("เกินยอดที่ลดหนี้ได้ของใบแจ้งหนี้นี้ (฿2,675.00)"),
        "{}",
        refused.body
    );
    let notes = json_of(
        app.get(&format!("/api/invoices/{id}/credit-notes"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(notes["data"].as_array().unwrap().len(), 0, "{notes}");
    // One analysis credited: ฿1,250.00 + VAT, from the dialog as it came back (with a fresh
    // key: the refused request's key belongs to what it asked).
    let key = form_key(&refused.body, &path);
    let done = browser
        .post(
            &path,
            &[
                ("_key", key.as_str()),
                ("reason", "บริการไม่เป็นไปตามข้อตกลง"),
                ("credit_0", "1"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("/invoices/{id}?notice=credit-note-issued").as_str())
    );
    let notes = json_of(
        app.get(&format!("/api/invoices/{id}/credit-notes"), &admin)
            .await,
        200,
    )
    .await;
    let note = &notes["data"][0];
    assert_eq!(notes["data"].as_array().unwrap().len(), 1, "{notes}");
    assert_eq!(note["reason"], "บริการไม่เป็นไปตามข้อตกลง");
    assert_eq!(note["total"], 133_750);
    let docs = json_of(
        app.get(
            &format!("/api/tax-documents?customer_id={customer}"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    let credit_doc = docs["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["type"] == "credit_note")
        .unwrap_or_else(|| panic!("a credit note document: {docs}"));
    assert_eq!(credit_doc["number"], note["number"]);
    let page = browser.get(done.location.as_deref().unwrap()).await;
    assert!(page.body.contains("ออกใบลดหนี้แล้ว"));
    let number = note["number"].as_str().unwrap();
    assert!(page.body.contains("data-testid=\"invoice-credit-notes\""));
    assert!(page.body.contains(&format!(
        "data-number=\"{number}\"><strong>ใบลดหนี้</strong> {number} · "
    )));
    assert!(page.body.contains(&format!(
        "href=\"/tax-documents/{}/pdf\"",
        credit_doc["id"].as_str().unwrap()
    )));
    assert!(page.body.contains("<strong>ใบเสร็จรับเงิน/ใบกำกับภาษี</strong>"));
    assert!(page.body.contains("ลดหนี้แล้ว (ใบลดหนี้)"));
    assert_thai_only(&page, "credited invoice");
    // What is left to credit shrank by the note.
    let dialog = browser
        .get(&format!("/invoices/{id}?dialog=credit-note"))
        .await;
    assert!(dialog.body.contains("ลดหนี้ได้อีกไม่เกิน ฿1,337.50"));
}

async fn an_invoice_mail_is_sent_again_through_smtp(backend: Backend) {
    let Some(python) = aiosmtpd_python() else {
        return;
    };
    let port = free_port();
    let smtp = start_smtp(&python, port).await;
    let Some(app) = spawn_with(backend, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        c.smtp_from = "ฝ่ายบัญชี Satang <billing@satang.test>".into();
        c.email_interval_ms = 100;
        c.billing_interval = 0;
    })
    .await
    else {
        return;
    };
    let admin = app.admin_token().await;
    let customer = business(&app, &admin, "ไร่ชาดอยตุง", Some("finance@doitung.test")).await;
    let inv = issued(&app, &admin, customer, None).await;
    let id = inv["id"].as_str().unwrap().to_owned();
    let mails = |n: usize| {
        let app = &app;
        let admin = admin.clone();
        let id = id.clone();
        async move {
            let start = std::time::Instant::now();
            loop {
                let list = json_of(
                    app.get(&format!("/api/invoices/{id}/emails"), &admin).await,
                    200,
                )
                .await["data"]
                    .as_array()
                    .unwrap()
                    .clone();
                if list.len() == n && list.iter().all(|m| m["status"] == "sent") {
                    return list;
                }
                assert!(
                    start.elapsed() < std::time::Duration::from_secs(60),
                    "waited for {n} sent mails: {list:#?}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    let first = mails(1).await;
    assert_eq!(first[0]["kind"], "invoice_issued");

    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let page = browser.get(&format!("/invoices/{id}")).await;
    assert!(page.body.contains("data-testid=\"invoice-emails\""));
    assert!(page.body.contains("finance@doitung.test"));
    assert!(page.body.contains("ส่งแล้ว"));
    let dialog = browser.get(&format!("/invoices/{id}?dialog=send")).await;
    assert!(dialog_open(&dialog.body, "send"), "{}", dialog.body);
    assert!(dialog.body.contains("ระบบจะส่งอีเมลถึง finance@doitung.test"));
    let path = format!("/invoices/{id}/send");
    let key = form_key(&dialog.body, &path);
    let done = browser.post(&path, &[("_key", key.as_str())]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("/invoices/{id}?notice=invoice-sent").as_str())
    );
    // The same form posted twice (a double click) sends once.
    let twice = browser.post(&path, &[("_key", key.as_str())]).await;
    assert_eq!(twice.status, 303);
    let sent = mails(2).await;
    assert!(sent.iter().all(|m| m["kind"] == "invoice_issued"));
    let files = smtp.wait_for_message_files(2).await;
    assert_eq!(files.len(), 2, "{files:?}");
    for (mail, file) in sent.iter().zip(&files) {
        let raw = std::fs::read_to_string(file).unwrap();
        assert!(raw.contains("X-RcptTo: finance@doitung.test"), "{raw}");
        let message_id = mail["message_id"].as_str().unwrap();
        assert!(
            files
                .iter()
                .any(|f| std::fs::read_to_string(f).unwrap().contains(message_id)),
            "{message_id} arrived"
        );
    }
    let page = browser.get(&format!("/invoices/{id}")).await;
    assert_eq!(
        page.body.matches("ส่งแล้ว</span>").count(),
        2,
        "{}",
        page.body
    );
    assert!(
        page.body.contains("ส่งใบแจ้งหนี้ถึงลูกค้า</strong>"),
        "the history"
    );
    assert_thai_only(&page, "invoice sent twice");

    // A customer without an address: the dialog says so, nothing is queued.
    let nobody = business(&app, &admin, "สวนส้มบางมด", None).await;
    let inv = issued(&app, &admin, nobody, None).await;
    let other = inv["id"].as_str().unwrap();
    let refused = browser.post(&format!("/invoices/{other}/send"), &[]).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(dialog_open(&refused.body, "send"));
    assert!(refused.body.contains("ลูกค้ายังไม่มีที่อยู่อีเมลสำหรับส่งใบแจ้งหนี้"));
    let list = json_of(
        app.get(&format!("/api/invoices/{other}/emails"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(smtp.message_files().len(), 2);
}

async fn a_one_off_invoice_is_drafted_on_the_customer_page_and_issued(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = business(&app, &admin, "บริษัท ข้าวหอมมะลิ ทุ่งกุลา จำกัด", None).await;
    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let tab = browser
        .get(&format!("/customers/{customer}?tab=invoices"))
        .await;
    assert!(
        tab.body.contains("data-testid=\"new-invoice\""),
        "{}",
        tab.body
    );
    let dialog = browser
        .get(&format!(
            "/customers/{customer}?tab=invoices&dialog=new-invoice"
        ))
        .await;
    assert!(dialog_open(&dialog.body, "new-invoice"), "{}", dialog.body);
    let create = format!("/customers/{customer}/invoices");
    let key = form_key(&dialog.body, &create);

    // A price that is not baht: the dialog again, the reason by the field, nothing created.
    let refused = browser
        .post(
            &create,
            &[
                ("_key", key.as_str()),
                ("description", "ค่าติดตั้งสถานีตรวจอากาศ"),
                ("quantity", "2"),
                ("unit_price", "12,50.00"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(dialog_open(&refused.body, "new-invoice"));
    assert!(refused.body.contains("กรอกจำนวนเงินเป็นบาท"));
    assert!(refused.body.contains("value=\"ค่าติดตั้งสถานีตรวจอากาศ\""));
    let list = json_of(
        app.get(&format!("/api/invoices?customer_id={customer}"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);

    let fields = [
        ("_key", key.as_str()),
        ("description", "ค่าติดตั้งสถานีตรวจอากาศ"),
        ("quantity", "2"),
        ("unit_price", "12,500.00"),
        ("due_date", "2030-04-30"),
    ];
    let done = browser.post(&create, &fields).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let location = done.location.clone().unwrap();
    // The same form again (a double submit): the same draft.
    let again = browser.post(&create, &fields).await;
    assert_eq!(again.location.as_deref(), Some(location.as_str()));
    let list = json_of(
        app.get(&format!("/api/invoices?customer_id={customer}"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    let draft_id = list["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!("/invoices/{draft_id}?notice=draft-created")
    );
    let page = browser.get(&location).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("data-testid=\"invoice-status\">ฉบับร่าง</span>")
    );
    assert!(page.body.contains("data-testid=\"add-line-form\""));
    assert!(page.body.contains("data-testid=\"invoice-finalize\""));
    assert!(!page.body.contains("data-testid=\"invoice-pdf\""));
    assert_thai_only(&page, "draft");

    // Add a line; a quantity that is not a whole number is refused by its field.
    let lines = format!("/invoices/{draft_id}/lines");
    let refused = browser
        .post(
            &lines,
            &[
                ("description", "ค่าเดินทาง"),
                ("quantity", "0"),
                ("unit_price", "1,500"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("กรอกจำนวนเต็มตั้งแต่ 1 ขึ้นไป"));
    let key = form_key(&page.body, &lines);
    let added = browser
        .post(
            &lines,
            &[
                ("_key", key.as_str()),
                ("description", "ค่าเดินทาง"),
                ("quantity", "1"),
                ("unit_price", "1,500"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let draft = invoice(&app, &admin, &draft_id).await;
    assert_eq!(draft["lines"].as_array().unwrap().len(), 2, "{draft}");
    assert_eq!(draft["subtotal"], 2_650_000);
    assert_eq!(draft["vat_amount"], 185_500);
    assert_eq!(draft["total"], 2_835_500);
    // Remove it again, then put it back.
    let line_id = draft["lines"][1]["id"].as_str().unwrap();
    let removed = browser
        .post(&format!("/invoices/{draft_id}/lines/{line_id}/delete"), &[])
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    // A second click on the same button finds it gone: back to the draft, nothing else.
    let twice = browser
        .post(&format!("/invoices/{draft_id}/lines/{line_id}/delete"), &[])
        .await;
    assert_eq!(twice.location, removed.location);
    let draft = invoice(&app, &admin, &draft_id).await;
    assert_eq!(draft["lines"].as_array().unwrap().len(), 1);
    assert_eq!(draft["total"], 2_675_000);
    // The last line stays: a draft keeps one.
    let last = draft["lines"][0]["id"].as_str().unwrap();
    let refused = browser
        .post(&format!("/invoices/{draft_id}/lines/{last}/delete"), &[])
        .await;
    assert_eq!(refused.status, 409);
    assert!(refused.body.contains("ฉบับร่างต้องมีอย่างน้อยหนึ่งรายการ"));
    let page = browser.get(&format!("/invoices/{draft_id}")).await;
    let key = form_key(&page.body, &lines);
    let added = browser
        .post(
            &lines,
            &[
                ("_key", key.as_str()),
                ("description", "ค่าเดินทาง"),
                ("quantity", "1"),
                ("unit_price", "1,500.00"),
            ],
        )
        .await;
    assert_eq!(added.status, 303);

    // Issue it, after confirming.
    let dialog = browser
        .get(&format!("/invoices/{draft_id}?dialog=finalize"))
        .await;
    assert!(dialog_open(&dialog.body, "finalize"), "{}", dialog.body);
    assert!(dialog.body.contains("ยอด ฿28,355.00"));
    let finalize = format!("/invoices/{draft_id}/finalize");
    let key = form_key(&dialog.body, &finalize);
    let done = browser.post(&finalize, &[("_key", key.as_str())]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let issued = invoice(&app, &admin, &draft_id).await;
    assert_eq!(issued["status"], "open");
    assert_eq!(issued["number"], "INV-2030-000001");
    assert_eq!(issued["due_date"], "2030-04-30");
    assert_eq!(issued["total"], 2_835_500);
    let page = browser.get(done.location.as_deref().unwrap()).await;
    assert!(page.body.contains("ออกใบแจ้งหนี้และส่งอีเมลถึงลูกค้าแล้ว"));
    assert!(!page.body.contains("data-testid=\"add-line-form\""));
    // An issued invoice takes no more lines.
    let refused = browser
        .post(
            &lines,
            &[
                ("description", "ค่าเดินทาง"),
                ("quantity", "1"),
                ("unit_price", "1"),
            ],
        )
        .await;
    assert_eq!(refused.status, 409);
    assert!(
        refused
            .body
            .contains("ใบแจ้งหนี้นี้ไม่ใช่ฉบับร่างแล้ว (สถานะ รอชำระ)")
    );

    // And void it from its page.
    let dialog = browser
        .get(&format!("/invoices/{draft_id}?dialog=void"))
        .await;
    let void = format!("/invoices/{draft_id}/void");
    let key = form_key(&dialog.body, &void);
    let done = browser.post(&void, &[("_key", key.as_str())]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(invoice(&app, &admin, &draft_id).await["status"], "void");

    // A draft nobody wants is deleted (after confirming); its number was never taken.
    let dialog = browser
        .get(&format!(
            "/customers/{customer}?tab=invoices&dialog=new-invoice"
        ))
        .await;
    let key = form_key(&dialog.body, &create);
    let done = browser
        .post(
            &create,
            &[
                ("_key", key.as_str()),
                ("description", "ค่าอบรมการใช้งาน"),
                ("unit_price", "3,000"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let second = done
        .location
        .as_deref()
        .unwrap()
        .trim_start_matches("/invoices/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let dialog = browser
        .get(&format!("/invoices/{second}?dialog=delete"))
        .await;
    assert!(dialog_open(&dialog.body, "delete"), "{}", dialog.body);
    let gone = browser
        .post(&format!("/invoices/{second}/delete"), &[])
        .await;
    assert_eq!(gone.status, 303, "{}", gone.body);
    assert_eq!(
        gone.location.as_deref(),
        Some(format!("/customers/{customer}?tab=invoices&notice=draft-deleted").as_str())
    );
    let res = app.get(&format!("/api/invoices/{second}"), &admin).await;
    assert_eq!(res.status(), 404);
    let audit = json_of(
        app.get(
            &format!("/api/audit-events?entity_type=invoice&entity_id={second}"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(audit["data"][0]["action"], "invoice.deleted", "{audit}");
    let page = browser.get(gone.location.as_deref().unwrap()).await;
    assert!(page.body.contains("ลบฉบับร่างแล้ว"));
}

async fn members_and_viewers_cannot_act_on_invoices(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = business(
        &app,
        &admin,
        "สหกรณ์โคนมวังน้ำเย็น",
        Some("milk@wangnamyen.test"),
    )
    .await;
    let inv = issued(&app, &admin, customer, None).await;
    let id = inv["id"].as_str().unwrap();
    let actions = [
        ("void", vec![]),
        ("mark-uncollectible", vec![]),
        ("send", vec![]),
        (
            "credit-notes",
            vec![("reason", "ลดราคา"), ("credit_0", "1")],
        ),
    ];

    member_token(&app, "owner@wangnamyen.test", customer, "owner").await;
    let member = Browser::signed_in(&app, "owner@wangnamyen.test").await;
    assert_eq!(member.get(&format!("/invoices/{id}")).await.status, 403);
    for (action, fields) in &actions {
        let refused = member
            .post(&format!("/invoices/{id}/{action}"), fields)
            .await;
        assert_eq!(refused.status, 403, "{action}");
    }
    let refused = member
        .post(
            &format!("/customers/{customer}/invoices"),
            &[("description", "ค่าบริการ"), ("unit_price", "100")],
        )
        .await;
    assert_eq!(refused.status, 403);

    app.staff_token("viewer@satang.test", &["viewer"]).await;
    let viewer = Browser::signed_in(&app, "viewer@satang.test").await;
    let page = viewer.get(&format!("/invoices/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for button in [
        "invoice-void",
        "invoice-uncollectible",
        "invoice-send",
        "invoice-credit",
        "invoice-record-payment",
    ] {
        assert!(
            !page.body.contains(&format!("data-testid=\"{button}\"")),
            "{button}"
        );
    }
    assert!(page.body.contains("data-testid=\"invoice-pdf\""));
    // No history without the audit right.
    assert!(!page.body.contains("id=\"h-history\""));
    for (action, fields) in &actions {
        let refused = viewer
            .post(&format!("/invoices/{id}/{action}"), fields)
            .await;
        assert_eq!(refused.status, 403, "{action}: {}", refused.body);
        assert!(
            refused.body.contains("data-testid=\"invoice-refused\""),
            "{action}"
        );
    }
    let tab = viewer
        .get(&format!("/customers/{customer}?tab=invoices"))
        .await;
    assert!(!tab.body.contains("data-testid=\"new-invoice\""));
    let refused = viewer
        .post(
            &format!("/customers/{customer}/invoices"),
            &[("description", "ค่าบริการ"), ("unit_price", "100")],
        )
        .await;
    assert_eq!(refused.status, 403);
    let after = invoice(&app, &admin, id).await;
    assert_eq!(after["status"], "open");
    assert_eq!(after["amount_credited"], 0);
    let list = json_of(
        app.get(&format!("/api/invoices?customer_id={customer}"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}
