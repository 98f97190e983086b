//! The seller's e-Tax certificate uploaded in Settings (SPEC §4.2), on both databases: an
//! admin's PKCS#12 upload signs the next tax document at once (xmlsec1 verifies it) and again
//! after a restart; the stored row holds neither the password, the key nor the file in clear;
//! refused uploads (wrong password, not PKCS#12, expired) store nothing; only admins change it;
//! no answer or audit entry shows a secret; removing it makes documents unsigned again; the
//! environment's certificate takes precedence; and the console's Settings page shows it and
//! uploads and removes it through a file form.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, header};
use serde_json::{Value, json};

use crate::common::{
    ADMIN_EMAIL, Backend, PASSWORD, TestApp, expect_problem, ok, spawn_clocked, spawn_with,
};
use crate::console_pages::{Browser, Page};
use crate::tax_documents::{
    customer, invoice, list, pay, seller_certificate, seller_profile, xmlsec1_verifies,
};

both_backends!(
    an_uploaded_certificate_signs_new_documents_without_a_restart,
    the_environments_certificate_takes_precedence,
    the_settings_page_uploads_and_removes_the_certificate,
);

const PATH: &str = "/api/settings/etax-certificate";
/// The password `seller_certificate` exports its PKCS#12 with.
const P12_PASSWORD: &str = "ลับ-secret";

async fn put(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.call(Method::PUT, PATH, Some(token), Some(body)).await
}

async fn delete(app: &TestApp, token: &str) -> reqwest::Response {
    app.call(Method::DELETE, PATH, Some(token), None).await
}

fn upload_body(p12: &[u8], password: &str) -> Value {
    json!({"file": STANDARD.encode(p12), "password": password})
}

/// The private key's DER (PKCS#8), as openssl writes it.
fn key_der(dir: &Path) -> Vec<u8> {
    let der = dir.join("seller.key.der");
    let out = Command::new("openssl")
        .args(["pkey", "-outform", "DER", "-in"])
        .arg(dir.join("seller.key"))
        .arg("-out")
        .arg(&der)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(der).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A paid invoice's receipt / tax invoice: its e-Tax XML as `/xml` answers it.
async fn new_document_xml(app: &TestApp, admin: &str, farm: uuid::Uuid) -> String {
    let before = list(app, admin, "").await.len();
    let inv = invoice(app, admin, farm, &[(1, 12_345)]).await;
    let total = inv["total"].as_i64().unwrap();
    pay(
        app,
        admin,
        &inv,
        json!({"amount": total, "method": "bank_transfer"}),
    )
    .await;
    let docs = list(app, admin, "").await;
    assert_eq!(docs.len(), before + 1, "{docs:?}");
    let id = docs.iter().find(|d| d["invoice_id"] == inv["id"]).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .get(&format!("/api/tax-documents/{id}/xml"), admin)
        .await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

/// The view's fields, exactly: nothing secret can hide in another one.
fn assert_view(view: &Value, source: &str) {
    let mut keys: Vec<&str> = view
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "issuer",
            "not_after",
            "not_before",
            "serial",
            "source",
            "subject"
        ],
        "{view}"
    );
    assert_eq!(view["source"], source);
    assert!(
        view["subject"]
            .as_str()
            .unwrap()
            .contains("CN=FarmIQ e-Tax 0105557000126"),
        "{view}"
    );
    assert!(
        view["serial"]
            .as_str()
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_digit())
    );
}

async fn stored_row(app: &TestApp) -> Option<satang_store::etax_certificates::StoredCertificate> {
    let state = &app.server.as_ref().unwrap().state;
    satang_store::etax_certificates::get(&state.db)
        .await
        .unwrap()
}

async fn an_uploaded_certificate_signs_new_documents_without_a_restart(backend: Backend) {
    let certs = tempfile::tempdir().unwrap();
    let Some((cert, p12_path)) = seller_certificate(certs.path()) else {
        return;
    };
    let p12 = std::fs::read(&p12_path).unwrap();
    let Some(mut app) = spawn_clocked(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let viewer = app.staff_token("viewer@satang.test", &["viewer"]).await;
    let billing = app.staff_token("billing@satang.test", &["billing"]).await;
    seller_profile(&app, &admin, "payment").await;
    let farm = customer(&app, &admin, "ไร่ใบรับรอง").await;

    // None yet: 404, and documents are unsigned.
    expect_problem(app.get(PATH, &viewer).await, 404).await;
    let unsigned = new_document_xml(&app, &admin, farm).await;
    assert!(!unsigned.contains("<ds:Signature"), "{unsigned}");

    // Refusals store nothing: wrong password, not PKCS#12, not base64, lesser staff.
    let wrong = expect_problem(put(&app, &admin, upload_body(&p12, "wrong")).await, 422).await;
    assert!(wrong["errors"]["password"].is_array(), "{wrong}");
    assert!(
        wrong["detail"].as_str().unwrap().contains("password"),
        "a clear message: {wrong}"
    );
    let thai = app
        .client
        .put(app.at(PATH))
        .bearer_auth(&admin)
        .header(header::ACCEPT_LANGUAGE, "th-TH,th;q=0.9,en;q=0.5")
        .json(&upload_body(&p12, "wrong"))
        .send()
        .await
        .unwrap();
    let thai_problem = expect_problem(thai, 422).await;
    assert!(
        thai_problem["detail"]
            .as_str()
            .unwrap()
            .contains("รหัสผ่านไม่ถูกต้อง"),
        "Thai for a Thai caller: {thai_problem}"
    );
    for body in [
        upload_body(b"not a certificate at all", P12_PASSWORD),
        json!({"file": "%%% not base64 %%%", "password": P12_PASSWORD}),
        json!({"file": "", "password": ""}),
    ] {
        let problem = expect_problem(put(&app, &admin, body).await, 422).await;
        assert!(problem["errors"]["file"].is_array(), "{problem}");
    }
    expect_problem(
        put(&app, &admin, json!({"file": STANDARD.encode(&p12)})).await,
        422,
    )
    .await;
    for token in [&viewer, &billing] {
        expect_problem(put(&app, token, upload_body(&p12, P12_PASSWORD)).await, 403).await;
    }
    // Larger than a PKCS#12 can be: refused before it is read.
    let huge = upload_body(&vec![0x30; 200 * 1024], P12_PASSWORD);
    expect_problem(put(&app, &admin, huge).await, 413).await;
    assert!(stored_row(&app).await.is_none(), "nothing stored");
    expect_problem(app.get(PATH, &admin).await, 404).await;

    // The admin's upload: the view, never a secret.
    let res = put(&app, &admin, upload_body(&p12, P12_PASSWORD)).await;
    let text = String::from_utf8(res.bytes().await.unwrap().to_vec()).unwrap();
    let view: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
    assert_view(&view, "settings");
    let read = ok(app.get(PATH, &viewer).await).await;
    assert_eq!(read, view);
    for shown in [&text, &read.to_string()] {
        assert!(
            !shown.contains(P12_PASSWORD) && !shown.contains("password"),
            "{shown}"
        );
        assert!(!shown.contains(&STANDARD.encode(&p12)[..40]), "{shown}");
    }

    // At rest: sealed, neither the password, the key's DER nor the file in the row.
    let row = stored_row(&app).await.expect("stored");
    let key = key_der(certs.path());
    for column in [&row.p12_sealed, &row.password_sealed] {
        assert!(
            !contains(column, P12_PASSWORD.as_bytes()),
            "password in clear"
        );
        assert!(!contains(column, &key[key.len() - 64..]), "key in clear");
        assert!(
            !contains(column, &p12[p12.len() / 2..p12.len() / 2 + 64]),
            "file in clear"
        );
    }
    let secrets = &app.server.as_ref().unwrap().state.secrets;
    assert_eq!(
        secrets.open(&row.p12_sealed).unwrap(),
        p12,
        "sealed, not lost"
    );
    assert_eq!(
        secrets.open(&row.password_sealed).unwrap(),
        P12_PASSWORD.as_bytes()
    );
    assert_eq!(row.subject, view["subject"]);

    // Audited, without a secret.
    let audit = ok(app
        .get(
            "/api/audit-events?entity_type=settings&entity_id=etax_certificate",
            &admin,
        )
        .await)
    .await;
    let events = audit["data"].as_array().unwrap();
    let uploaded = events
        .iter()
        .find(|e| e["action"] == "settings.etax_certificate_uploaded")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(uploaded["after"]["subject"], view["subject"]);
    let audit_text = audit.to_string();
    assert!(!audit_text.contains(P12_PASSWORD), "{audit_text}");
    assert!(!audit_text.contains("sealed"), "{audit_text}");

    // Without a restart, the next document is signed, and xmlsec1 accepts it.
    let signed = new_document_xml(&app, &admin, farm).await;
    assert!(signed.contains("<ds:Signature"), "{signed}");
    assert!(signed.contains("<xades:SigningCertificate>"), "{signed}");
    if let Some(verified) = xmlsec1_verifies(&cert, signed.as_bytes()) {
        assert!(verified, "xmlsec1 rejects the signed XML:\n{signed}");
    }

    // A restart loads the stored certificate.
    let mut config = app.db.config();
    config.test_clock = true;
    config.billing_interval = 0;
    app.server.take().unwrap().stop().await.unwrap();
    let server = satang::Server::start(&config, satang_api::Services::All)
        .await
        .unwrap();
    app.url = server.url();
    app.server = Some(server);
    let admin = app.admin_token().await;
    assert_eq!(ok(app.get(PATH, &admin).await).await, view);
    let after_restart = new_document_xml(&app, &admin, farm).await;
    assert!(after_restart.contains("<ds:Signature"), "{after_restart}");

    // An expired certificate is refused (the test clock moved past its end); the stored one
    // stays.
    crate::common::billing::set_date(&app, "2030-03-10").await;
    let admin = app.admin_token().await;
    let viewer = app.login("viewer@satang.test", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let expired = expect_problem(
        put(&app, &admin, upload_body(&p12, P12_PASSWORD)).await,
        422,
    )
    .await;
    assert!(
        expired["errors"]["file"][0]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{expired}"
    );

    // Removed: only by an admin; documents are unsigned again.
    expect_problem(delete(&app, &viewer).await, 403).await;
    let removed = delete(&app, &admin).await;
    assert_eq!(removed.status(), 204);
    expect_problem(app.get(PATH, &admin).await, 404).await;
    expect_problem(delete(&app, &admin).await, 404).await;
    assert!(stored_row(&app).await.is_none());
    let unsigned_again = new_document_xml(&app, &admin, farm).await;
    assert!(
        !unsigned_again.contains("<ds:Signature"),
        "{unsigned_again}"
    );
    let audit = ok(app
        .get(
            "/api/audit-events?entity_type=settings&entity_id=etax_certificate",
            &admin,
        )
        .await)
    .await;
    assert!(
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "settings.etax_certificate_removed"),
        "{audit}"
    );
}

/// With `SATANG_ETAX_P12` set, its certificate signs and is shown as `environment`; an upload
/// is 409 and the console offers no upload form.
async fn the_environments_certificate_takes_precedence(backend: Backend) {
    let certs = tempfile::tempdir().unwrap();
    let Some((_, p12_path)) = seller_certificate(certs.path()) else {
        return;
    };
    let p12 = std::fs::read(&p12_path).unwrap();
    let Some(app) = spawn_with(backend, |c| {
        c.billing_interval = 0;
        c.etax_p12 = Some(p12_path.clone());
        c.etax_p12_password = P12_PASSWORD.to_owned();
    })
    .await
    else {
        return;
    };
    let admin = app.admin_token().await;
    let view = ok(app.get(PATH, &admin).await).await;
    assert_view(&view, "environment");
    let conflict = expect_problem(
        put(&app, &admin, upload_body(&p12, P12_PASSWORD)).await,
        409,
    )
    .await;
    assert!(
        conflict["detail"]
            .as_str()
            .unwrap()
            .contains("SATANG_ETAX_P12"),
        "{conflict}"
    );
    assert!(stored_row(&app).await.is_none());
    expect_problem(delete(&app, &admin).await, 404).await;

    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let page = browser.get("/settings").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("data-testid=\"etax-cert-environment\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("data-testid=\"etax-cert-form\""));
    assert!(!page.body.contains("data-testid=\"etax-unsigned\""));
}

/// The upload form posted with its CSRF field and password.
async fn post_file(browser: &Browser, path: &str, csrf: &str, password: &str, file: &[u8]) -> Page {
    browser
        .post_multipart(
            path,
            &[("_csrf", csrf), ("password", password)],
            ("file", "seller.p12", file),
        )
        .await
}

/// The Settings page: the unsigned warning and the upload form while there is no certificate;
/// a refused upload shown on the form in the person's language (Thai by default); an upload
/// through the file form shows the certificate and signs; a viewer sees it without the form;
/// a form without the CSRF token is refused; removing it brings the warning back.
async fn the_settings_page_uploads_and_removes_the_certificate(backend: Backend) {
    let certs = tempfile::tempdir().unwrap();
    let Some((cert, p12_path)) = seller_certificate(certs.path()) else {
        return;
    };
    let p12 = std::fs::read(&p12_path).unwrap();
    let Some(app) = spawn_clocked(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    seller_profile(&app, &admin, "payment").await;
    let farm = customer(&app, &admin, "สวนคอนโซล").await;
    app.staff_token("viewer@satang.test", &["viewer"]).await;

    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let page = browser.get("/settings").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for marker in ["etax-certificate", "etax-unsigned", "etax-cert-form"] {
        assert!(
            page.body.contains(&format!("data-testid=\"{marker}\"")),
            "{marker}: {}",
            page.body
        );
    }
    assert!(page.body.contains("enctype=\"multipart/form-data\""));

    // Without the CSRF token: refused, nothing stored.
    let forged = post_file(
        &browser,
        "/settings/etax-certificate",
        "forged",
        P12_PASSWORD,
        &p12,
    )
    .await;
    assert_eq!(forged.status, 403);
    assert!(stored_row(&app).await.is_none());

    // A wrong password: the form again, the message in Thai, the password not echoed.
    let csrf = browser.csrf();
    let refused = post_file(
        &browser,
        "/settings/etax-certificate",
        &csrf,
        "ผิด-wrong",
        &p12,
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("รหัสผ่านไม่ถูกต้อง"), "{}", refused.body);
    assert!(!refused.body.contains("ผิด-wrong"));
    assert!(stored_row(&app).await.is_none());
    // No file chosen.
    let csrf = browser.csrf();
    let empty = post_file(&browser, "/settings/etax-certificate", &csrf, "", b"").await;
    assert_eq!(empty.status, 422, "{}", empty.body);

    // The upload.
    let csrf = browser.csrf();
    let done = post_file(
        &browser,
        "/settings/etax-certificate",
        &csrf,
        P12_PASSWORD,
        &p12,
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("/settings?notice=etax-certificate-uploaded")
    );
    let view = ok(app.get(PATH, &admin).await).await;
    assert_view(&view, "settings");
    let page = browser
        .get("/settings?notice=etax-certificate-uploaded")
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("FarmIQ e-Tax 0105557000126"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("data-testid=\"etax-unsigned\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-testid=\"etax-cert-remove\""));
    assert!(!page.body.contains(P12_PASSWORD));
    let signed = new_document_xml(&app, &admin, farm).await;
    assert!(signed.contains("<ds:Signature"), "{signed}");
    if let Some(verified) = xmlsec1_verifies(&cert, signed.as_bytes()) {
        assert!(verified, "xmlsec1 rejects the signed XML:\n{signed}");
    }

    // A viewer sees the certificate, not the forms.
    let viewer = Browser::signed_in(&app, "viewer@satang.test").await;
    let page = viewer.get("/settings").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("FarmIQ e-Tax 0105557000126"));
    assert!(!page.body.contains("data-testid=\"etax-cert-form\""));
    assert!(!page.body.contains("data-testid=\"etax-cert-remove\""));

    // Removed through the console: unsigned again, and the warning is back.
    browser.get("/settings").await;
    let removed = browser.post("/settings/etax-certificate/remove", &[]).await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    expect_problem(app.get(PATH, &admin).await, 404).await;
    let page = browser.get("/settings").await;
    assert!(page.body.contains("data-testid=\"etax-unsigned\""));
    let unsigned = new_document_xml(&app, &admin, farm).await;
    assert!(!unsigned.contains("<ds:Signature"), "{unsigned}");
}
