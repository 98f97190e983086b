//! Email notifications (SPEC §2.8) on both databases: invoice issued, payment received, payment
//! failed, trial ending and subscription changed, in the customer's language.
//!
//! Without SMTP the mails land as `.eml` files in `<data dir>/outbox/`. The SMTP tests talk to a
//! real SMTP server, `aiosmtpd` (Python), from the venv `.ci/run` creates at
//! `$HOME/.cache/satang-aiosmtpd`; without it they print SKIPPED, unless
//! `SATANG_REQUIRE_TOOLS=1` (CI) makes that a failure. Mails are read back from the files and
//! the Maildir and decoded here (RFC 2047 subjects, base64 / quoted-printable bodies), so the
//! checks see what a mail client would show.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::process::free_port;
use crate::common::smtp::{SmtpServer, aiosmtpd_python, start_smtp};
use crate::common::{Backend, TestApp, ok, spawn_with};

both_backends!(
    mails_land_in_the_outbox_in_the_customers_language,
    mails_go_through_a_real_smtp_server,
    a_failed_smtp_delivery_is_retried_and_sent_once
);

const DEADLINE: Duration = Duration::from_secs(60);

async fn start(backend: Backend, smtp: Option<String>) -> Option<TestApp> {
    spawn_with(backend, |c| {
        c.smtp_url = smtp;
        c.smtp_from = "ฝ่ายบัญชี Satang <billing@satang.test>".into();
        c.email_interval_ms = 100;
        c.email_retry_base_ms = 300;
        c.billing_interval = 0;
    })
    .await
}

async fn customer(
    app: &TestApp,
    admin: &str,
    name: &str,
    locale: &str,
    email: Option<&str>,
) -> String {
    let body = ok(app
        .post(
            "/api/customers",
            Some(admin),
            json!({"name": name, "locale": locale, "billing_email": email}),
        )
        .await)
    .await;
    body["id"].as_str().unwrap().to_owned()
}

/// A one-off invoice, finalised.
async fn issue_invoice(app: &TestApp, admin: &str, customer: &str, unit_amount: i64) -> Value {
    let draft = ok(app
        .post(
            "/api/invoices",
            Some(admin),
            json!({"customer_id": customer,
                   "lines": [{"description": "ค่าติดตั้งเซนเซอร์ความชื้น", "quantity": 2,
                              "unit_amount": unit_amount}]}),
        )
        .await)
    .await;
    let id = draft["id"].as_str().unwrap();
    ok(app
        .call(
            Method::POST,
            &format!("/api/invoices/{id}/finalize"),
            Some(admin),
            None,
        )
        .await)
    .await
}

async fn pay(app: &TestApp, admin: &str, invoice: &Value, amount: i64) {
    let id = invoice["id"].as_str().unwrap();
    ok(app
        .post(
            &format!("/api/invoices/{id}/payments"),
            Some(admin),
            json!({"amount": amount, "method": "bank_transfer"}),
        )
        .await)
    .await;
}

async fn emails(app: &TestApp, admin: &str, customer: &str) -> Vec<Value> {
    let page = ok(app
        .get(&format!("/api/customers/{customer}/emails"), admin)
        .await)
    .await;
    page["data"].as_array().unwrap().clone()
}

/// Polls the customer's emails until `done` holds for them, or fails at the deadline.
async fn wait_for_emails(
    app: &TestApp,
    admin: &str,
    customer: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let list = emails(app, admin, customer).await;
        if done(&list) {
            return list;
        }
        assert!(start.elapsed() < DEADLINE, "waited for {what}: {list:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn all_sent(n: usize) -> impl Fn(&[Value]) -> bool {
    move |list| list.len() == n && list.iter().all(|m| m["status"] == "sent")
}

fn of_kind<'a>(list: &'a [Value], kind: &str) -> &'a Value {
    list.iter()
        .find(|m| m["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} mail in {list:#?}"))
}

/// `฿1,234.50`: the test's own rendering of an amount in satang.
fn baht(satang: i64) -> String {
    let whole = (satang / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("฿{grouped}.{:02}", satang % 100)
}

/// A mail as a reader sees it: decoded headers and the plain-text body.
#[derive(Debug)]
struct Mail {
    raw: String,
    subject: String,
    to: String,
    text: String,
}

fn read_mail(path: &Path) -> Mail {
    let raw = String::from_utf8(std::fs::read(path).unwrap())
        .unwrap()
        .replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").expect("headers and body");
    let headers = unfold(head);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| decode_words(v))
            .unwrap_or_default()
    };
    Mail {
        subject: header("Subject"),
        to: header("To"),
        text: plain_text(body),
        raw: raw.clone(),
    }
}

fn unfold(head: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push_str(line);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    headers
}

/// RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`); whitespace between two encoded
/// words is dropped.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        if !(last_was_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        let word = &rest[start + 2..];
        let mut parts = word.splitn(3, '?');
        let (_charset, encoding, tail) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let end = tail.find("?=").expect("encoded word ends");
        let text = &tail[..end];
        let bytes = if encoding.eq_ignore_ascii_case("b") {
            STANDARD.decode(text).unwrap()
        } else {
            quoted_printable(&text.replace('_', " "))
        };
        out.push_str(&String::from_utf8(bytes).unwrap());
        rest = &tail[end + 2..];
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

fn quoted_printable(text: &str) -> Vec<u8> {
    let text = text.replace("=\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The decoded `text/plain` part of a MIME body.
fn plain_text(body: &str) -> String {
    let at = body
        .find("Content-Type: text/plain")
        .expect("a text/plain part");
    let part = &body[at..];
    let (part_head, part_body) = part.split_once("\n\n").unwrap();
    let content = part_body.split("\n--").next().unwrap();
    let encoding = unfold(part_head)
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Content-Transfer-Encoding"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    match encoding.as_str() {
        "base64" => String::from_utf8(STANDARD.decode(content.replace('\n', "")).unwrap()).unwrap(),
        "quoted-printable" => String::from_utf8(quoted_printable(content)).unwrap(),
        _ => content.to_owned(),
    }
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
    files.sort();
    files
}

async fn mails_land_in_the_outbox_in_the_customers_language(backend: Backend) {
    let Some(app) = start(backend, None).await else {
        return;
    };
    let admin = app.admin_token().await;
    let th = customer(
        &app,
        &admin,
        "สหกรณ์การเกษตรบ้านนา",
        "th",
        Some("accounts@banna.test"),
    )
    .await;
    let en = customer(
        &app,
        &admin,
        "Golden Durian Export",
        "en",
        Some("ap@durian.test"),
    )
    .await;
    let nobody = customer(&app, &admin, "ไร่ไม่มีอีเมล", "th", None).await;

    // Thai: an invoice, then a partial and a final payment.
    let invoice = issue_invoice(&app, &admin, &th, 50_050).await;
    let number = invoice["number"].as_str().unwrap().to_owned();
    let total = invoice["total"].as_i64().unwrap();
    pay(&app, &admin, &invoice, 10_000).await;
    pay(&app, &admin, &invoice, total - 10_000).await;
    let th_mails = wait_for_emails(&app, &admin, &th, "three Thai mails", all_sent(3)).await;

    // English: a declined card, a subscription charged automatically (invoice, then the failed
    // charge), a second one in a trial ending within three days, and a cancellation.
    ok(app
        .post(
            &format!("/api/customers/{en}/payment-methods"),
            Some(&admin),
            json!({"type": "card", "gateway": "sandbox", "card_number": "4000000000000002",
                   "exp_month": 12, "exp_year": 2040, "is_default": true}),
        )
        .await)
    .await;
    let paid_sub = ok(app
        .post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": en, "plan_code": "PRO", "trial_days": 0}),
        )
        .await)
    .await;
    ok(app
        .post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": en, "plan_code": "TEAM", "trial_days": 2, "quantity": 3}),
        )
        .await)
    .await;
    let report = ok(app
        .call(Method::POST, "/api/billing/run", Some(&admin), None)
        .await)
    .await;
    assert_eq!(
        (&report["declined"], &report["trial_notices"]),
        (&json!(1), &json!(1)),
        "{report}"
    );
    // A second run warns nobody twice.
    let again = ok(app
        .call(Method::POST, "/api/billing/run", Some(&admin), None)
        .await)
    .await;
    assert_eq!(again["trial_notices"], 0, "{again}");
    let sub_id = paid_sub["id"].as_str().unwrap();
    ok(app
        .post(
            &format!("/api/subscriptions/{sub_id}/cancel"),
            Some(&admin),
            json!({"at_period_end": true}),
        )
        .await)
    .await;
    let en_mails = wait_for_emails(&app, &admin, &en, "four English mails", all_sent(4)).await;

    // The customer without an address: its invoice mail is skipped, not failed.
    issue_invoice(&app, &admin, &nobody, 1_000).await;
    let skipped = wait_for_emails(&app, &admin, &nobody, "a skipped mail", |l| {
        l.len() == 1 && l[0]["status"] == "skipped"
    })
    .await;
    assert!(skipped[0]["recipient"].is_null());

    // Every mail sent is one file, named by its delivery, whose decoded subject is the one
    // recorded.
    let outbox = app.db.data_dir().join("outbox");
    let files = eml_files(&outbox);
    assert_eq!(files.len(), th_mails.len() + en_mails.len(), "{files:?}");
    let file_of = |m: &Value| read_mail(&outbox.join(format!("{}.eml", m["id"].as_str().unwrap())));
    for m in th_mails.iter().chain(&en_mails) {
        let mail = file_of(m);
        assert_eq!(mail.subject, m["subject"].as_str().unwrap());
        assert!(
            mail.to.contains(m["recipient"].as_str().unwrap()),
            "{}",
            mail.to
        );
        assert!(
            mail.raw.contains("Content-Type: text/html"),
            "an HTML alternative"
        );
    }

    let issued = file_of(of_kind(&th_mails, "invoice_issued"));
    assert_eq!(
        issued.subject,
        format!("ใบแจ้งหนี้เลขที่ {number} จาก ฝ่ายบัญชี Satang")
    );
    assert!(issued.to.contains("accounts@banna.test"), "{}", issued.to);
    assert!(
        issued.text.starts_with("เรียน สหกรณ์การเกษตรบ้านนา"),
        "{}",
        issued.text
    );
    assert!(issued.text.contains(&baht(total)), "{}", issued.text);
    assert!(
        issued.raw.contains(&format!("filename=\"{number}.pdf\"")),
        "the PDF is attached"
    );
    let receipts: Vec<Mail> = th_mails
        .iter()
        .filter(|m| m["kind"] == "payment_received")
        .map(file_of)
        .collect();
    assert_eq!(receipts.len(), 2);
    assert_eq!(
        receipts[1].subject,
        format!("ได้รับชำระเงิน {} สำหรับใบแจ้งหนี้ {number}", baht(total - 10_000))
    );
    assert!(
        receipts[0].text.contains(&baht(total - 10_000)),
        "still due: {}",
        receipts[0].text
    );
    assert!(
        receipts[1].text.contains("ชำระครบถ้วนแล้ว"),
        "{}",
        receipts[1].text
    );

    let en_issued = file_of(of_kind(&en_mails, "invoice_issued"));
    assert!(
        en_issued.subject.starts_with("Invoice INV-"),
        "{}",
        en_issued.subject
    );
    assert!(
        en_issued.text.starts_with("Dear Golden Durian Export,"),
        "{}",
        en_issued.text
    );
    let failed = file_of(of_kind(&en_mails, "payment_failed"));
    assert!(
        failed.subject.starts_with("Payment for invoice INV-")
            && failed.subject.ends_with(" failed")
    );
    assert!(
        failed.text.contains("We will try again on "),
        "{}",
        failed.text
    );
    let trial = file_of(of_kind(&en_mails, "trial_ending"));
    assert!(trial.subject.contains("trial ends on"), "{}", trial.subject);
    assert!(trial.text.contains("in 2 days"), "{}", trial.text);
    let changed = file_of(of_kind(&en_mails, "subscription_changed"));
    assert!(
        changed.subject.contains("subscription ends on"),
        "{}",
        changed.subject
    );
    for m in &en_mails {
        assert_eq!(m["locale"], "en");
    }
}

/// The mails `smtp` has received, once there are at least `n`.
async fn received(smtp: &SmtpServer, n: usize) -> Vec<Mail> {
    let files = smtp.wait_for_message_files(n).await;
    files.iter().map(|p| read_mail(p)).collect()
}

async fn mails_go_through_a_real_smtp_server(backend: Backend) {
    let Some(python) = aiosmtpd_python() else {
        return;
    };
    let port = free_port();
    let smtp = start_smtp(&python, port).await;
    let Some(app) = start(backend, Some(format!("smtp://127.0.0.1:{port}"))).await else {
        return;
    };
    let admin = app.admin_token().await;
    let th = customer(
        &app,
        &admin,
        "ไร่ชาดอยตุง",
        "th",
        Some("finance@doitung.test"),
    )
    .await;
    let invoice = issue_invoice(&app, &admin, &th, 123_456).await;
    let number = invoice["number"].as_str().unwrap().to_owned();
    let total = invoice["total"].as_i64().unwrap();
    pay(&app, &admin, &invoice, total).await;
    let recorded = wait_for_emails(&app, &admin, &th, "two mails", all_sent(2)).await;

    let messages = received(&smtp, 2).await;
    assert_eq!(messages.len(), 2);
    let issued = messages
        .iter()
        .find(|m| m.subject.starts_with("ใบแจ้งหนี้"))
        .expect("the invoice mail");
    assert_eq!(
        issued.subject,
        format!("ใบแจ้งหนี้เลขที่ {number} จาก ฝ่ายบัญชี Satang")
    );
    assert!(issued.to.contains("finance@doitung.test") && issued.to.contains("ไร่ชาดอยตุง"));
    assert!(issued.text.contains(&baht(total)), "{}", issued.text);
    assert!(
        issued.raw.contains("X-RcptTo: finance@doitung.test"),
        "envelope recipient"
    );
    let receipt = messages
        .iter()
        .find(|m| m.subject.starts_with("ได้รับชำระเงิน"))
        .expect("the receipt mail");
    assert!(
        receipt.subject.contains(&baht(total)),
        "{}",
        receipt.subject
    );
    for m in &recorded {
        let id = m["message_id"].as_str().unwrap();
        assert!(
            messages.iter().any(|mail| mail.raw.contains(id)),
            "{id} arrived"
        );
    }
}

async fn a_failed_smtp_delivery_is_retried_and_sent_once(backend: Backend) {
    let Some(python) = aiosmtpd_python() else {
        return;
    };
    // Nothing listens on the port yet.
    let port = free_port();
    let Some(app) = start(backend, Some(format!("smtp://127.0.0.1:{port}"))).await else {
        return;
    };
    let admin = app.admin_token().await;
    let th = customer(&app, &admin, "ฟาร์มเห็ดบ้านสวน", "th", Some("owner@hed.test")).await;
    let invoice = issue_invoice(&app, &admin, &th, 75_000).await;
    let failed = wait_for_emails(&app, &admin, &th, "a failed attempt", |l| {
        l.len() == 1 && l[0]["attempts"].as_i64() >= Some(1)
    })
    .await;
    assert_eq!(failed[0]["status"], "pending", "retried later: {failed:#?}");
    assert!(failed[0]["last_error"].is_string());

    let smtp = start_smtp(&python, port).await;
    let sent = wait_for_emails(&app, &admin, &th, "the retry", all_sent(1)).await;
    assert!(sent[0]["attempts"].as_i64().unwrap() >= 2);
    // A later mail arrives after the first; by then a duplicate would have arrived too.
    pay(&app, &admin, &invoice, invoice["total"].as_i64().unwrap()).await;
    wait_for_emails(&app, &admin, &th, "the receipt", all_sent(2)).await;
    let messages = received(&smtp, 2).await;
    assert_eq!(messages.len(), 2, "each mail once");
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.subject.starts_with("ใบแจ้งหนี้"))
            .count(),
        1
    );
}
