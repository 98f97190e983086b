//! Black-box tests of the console's Billing Management and admin pages (SPEC §3), on both
//! databases: a browser-like client signs in through `/login`, keeps its cookies, and reads the
//! pages as HTML; every figure on a page is checked against what the JSON API answers for the
//! same data, and every change made through a page is checked through the API afterwards.
//! The test clock pins the date (10:00 Bangkok on 2030-03-10); the scheduler is off, so only
//! these requests change anything.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::billing::{insert_customer, member_token};
use crate::common::{
    ADMIN_EMAIL, Backend, PASSWORD, TestApp, json_of, spawn, spawn_clocked_on, spawn_with,
};

/// The day the test clock is set to, at 10:00 in Bangkok.
const TODAY: &str = "2030-03-10";

both_backends!(
    billing_page_matches_the_api_and_settles_an_invoice_with_withholding_tax,
    admin_pages_show_and_change_what_the_api_holds,
    members_and_read_only_staff_are_kept_out,
    api_keys_page_creates_shows_the_secret_once_and_revokes,
    the_subscriptions_tab_shows_entitlements,
    csrf_tokens_are_bound_to_the_session,
    session_cookies_are_host_only_over_https,
    a_member_types_a_promotion_code_in_the_portal,
    billing_staff_create_and_archive_coupons_in_the_console,
    billing_staff_apply_and_remove_a_discount_on_the_subscription_tab,
    billing_staff_add_and_delete_usage_alerts_on_the_plans_page,
    billing_staff_upload_and_match_a_bank_statement,
    tax_documents_show_beside_their_invoice_for_staff_and_the_members,
    the_etax_subdistrict_code_is_saved_and_checked_on_the_settings_page,
    a_member_adds_a_card_through_the_providers_script,
    a_payer_pays_by_card_on_the_pay_page,
    the_reports_page_matches_the_api_and_downloads_its_files,
    a_payment_of_last_week_gets_its_certificate_later,
);

/// A browser: keeps cookies and the CSRF token of the last page with a form, does not follow
/// redirects (the tests look at them).
pub(crate) struct Browser {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    cookies: Mutex<BTreeMap<String, String>>,
    csrf: Mutex<Option<String>>,
}

/// A page as the browser got it.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.url.clone(),
            cookies: Mutex::new(BTreeMap::new()),
            csrf: Mutex::new(None),
        }
    }

    /// This browser's session cookies with the pre-session cookie and the CSRF token of `from`
    /// planted in it (as another site able to set cookies could).
    fn with_planted(&self, from: &Browser) -> Browser {
        let mut cookies = self.cookies.lock().unwrap().clone();
        cookies.retain(|name, _| !name.ends_with("satang_csrf"));
        for (name, value) in from.cookies.lock().unwrap().iter() {
            if name.ends_with("satang_csrf") {
                cookies.insert(name.clone(), value.clone());
            }
        }
        Browser {
            client: self.client.clone(),
            base: self.base.clone(),
            cookies: Mutex::new(cookies),
            csrf: Mutex::new(Some(from.csrf())),
        }
    }

    /// Signs in through the login form, as a person would.
    pub(crate) async fn signed_in(app: &TestApp, email: &str) -> Browser {
        let browser = Browser::new(app);
        let login = browser.get("/login").await;
        assert_eq!(login.status, 200, "{}", login.body);
        let done = browser
            .post(
                "/login",
                &[
                    ("email", email),
                    ("password", PASSWORD),
                    ("next", "/billing"),
                ],
            )
            .await;
        assert_eq!(done.status, 303, "sign-in of {email}: {}", done.body);
        assert_eq!(done.location.as_deref(), Some("/billing"));
        // Home, as a browser would go on: its forms carry the new session's CSRF token.
        let mut page = browser.get("/").await;
        while let Some(next) = page.location.clone() {
            page = browser.get(&next).await;
        }
        assert_eq!(page.status, 200, "{}", page.body);
        browser
    }

    pub(crate) fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) fn csrf(&self) -> String {
        self.csrf
            .lock()
            .unwrap()
            .clone()
            .expect("a page with a form was read first")
    }

    pub(crate) async fn read(&self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let mut cookies = self.cookies.lock().unwrap();
            if value.is_empty() {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let page = Page {
            status: response.status(),
            location: response
                .headers()
                .get(header::LOCATION)
                .map(|v| v.to_str().unwrap().to_owned()),
            body: response.text().await.unwrap(),
        };
        let marker = "name=\"_csrf\" value=\"";
        if let Some(at) = page.body.find(marker) {
            let rest = &page.body[at + marker.len()..];
            *self.csrf.lock().unwrap() = Some(rest[..rest.find('"').unwrap()].to_owned());
        }
        page
    }

    pub(crate) async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// A file: its status, media type and bytes.
    async fn download(&self, path: &str) -> (StatusCode, String, Vec<u8>) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (
            response.status(),
            content_type,
            response.bytes().await.unwrap().to_vec(),
        )
    }

    /// Posts a form with the right CSRF token.
    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf();
        let mut all: Vec<(&str, &str)> = vec![("_csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts `multipart/form-data` as a browser sends a form with a file field: exactly these
    /// text fields (the CSRF token among them, or not) and the file `(field, name, bytes)`.
    pub(crate) async fn post_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        (file_field, file_name, file): (&str, &str, &[u8]),
    ) -> Page {
        let boundary = "----SatangFormBoundary7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; \
                 filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// Posts exactly these fields (to leave out or forge the CSRF token).
    pub(crate) async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .form(fields)
            .send()
            .await
            .unwrap();
        self.read(response).await
    }
}

/// A customer's payment methods, as the API lists them to an admin.
async fn methods_of(app: &TestApp, admin: &str, customer: Uuid) -> Value {
    let page = json_of(
        app.get(&format!("/api/customers/{customer}/payment-methods"), admin)
            .await,
        200,
    )
    .await;
    // The list shape of every list (SPEC §2, Lists).
    assert!(page["next_cursor"].is_null(), "{page}");
    page["data"].clone()
}

/// `123450` → `1,234.50`, written here independently of the console's formatter (and of the
/// printed reports').
pub(crate) fn plain_baht(minor: i64) -> String {
    let digits = (minor.abs() / 100).to_string();
    let mut grouped = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(d);
    }
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{grouped}.{:02}", minor.abs() % 100)
}

pub(crate) fn thb(minor: i64) -> String {
    let text = plain_baht(minor);
    match text.strip_prefix('-') {
        Some(rest) => format!("-฿{rest}"),
        None => format!("฿{text}"),
    }
}

fn card(body: &str, testid: &str) -> String {
    let marker = format!("data-testid=\"{testid}\">");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("{testid} on the page"))
        + marker.len();
    body[start..start + body[start..].find('<').unwrap()].to_owned()
}

/// A business customer (with a tax id) on PRO monthly, invoiced by the billing run: its id
/// and the open invoice.
async fn invoiced_business(app: &TestApp, admin: &str) -> (Uuid, Value) {
    let customer = json_of(
        app.post(
            "/api/customers",
            Some(admin),
            json!({"name": "บริษัท ข้าวหอมมะลิ ทุ่งกุลา จำกัด", "tax_id": "0105557000126", "branch_code": "00000"}),
        )
        .await,
        201,
    )
    .await;
    let id: Uuid = customer["id"].as_str().unwrap().parse().unwrap();
    json_of(
        app.post(
            "/api/subscriptions",
            Some(admin),
            json!({"customer_id": id, "plan_code": "PRO", "trial_days": 0, "collection_method": "send_invoice"}),
        )
        .await,
        201,
    )
    .await;
    json_of(
        app.call(reqwest::Method::POST, "/api/billing/run", Some(admin), None)
            .await,
        200,
    )
    .await;
    let invoices = json_of(
        app.get(&format!("/api/invoices?customer_id={id}"), admin)
            .await,
        200,
    )
    .await;
    let invoice = invoices["data"][0].clone();
    assert_eq!(invoice["status"], "open", "{invoices}");
    (id, invoice)
}

async fn billing_page_matches_the_api_and_settles_an_invoice_with_withholding_tax(
    backend: Backend,
) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let (customer, invoice) = invoiced_business(&app, &admin).await;
    let invoice_id = invoice["id"].as_str().unwrap().to_owned();
    let total = invoice["total"].as_i64().unwrap();
    let pre_vat = total - invoice["vat_amount"].as_i64().unwrap();
    let settings = json_of(app.get("/api/settings", &admin).await, 200).await;
    let rate = settings["withholding_tax_rate_bps"].as_i64().unwrap();
    // The seller's rate of the pre-VAT amount, rounded half-up to the satang.
    let wht = (pre_vat * rate * 2 + 10_000) / 20_000;
    assert!(wht > 0 && wht < total);

    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let page = browser.get("/billing").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<title>การเงิน/บิลลิ่ง · Satang</title>"));
    let summary = json_of(app.get("/api/analytics/summary", &admin).await, 200).await;
    assert_eq!(
        card(&page.body, "stat-mrr"),
        thb(summary["mrr"].as_i64().unwrap())
    );
    assert_eq!(
        card(&page.body, "stat-arr"),
        thb(summary["arr"].as_i64().unwrap())
    );
    assert_eq!(
        card(&page.body, "stat-outstanding"),
        thb(summary["outstanding"].as_i64().unwrap())
    );
    assert_eq!(summary["outstanding"].as_i64().unwrap(), total);
    assert!(page.body.contains("<svg class=\"chart\""));
    // Active subscriptions: the customer and its plan.
    assert!(page.body.contains("บริษัท ข้าวหอมมะลิ ทุ่งกุลา จำกัด"));
    assert!(page.body.contains("data-testid=\"billing-subscriptions\""));

    // Available plans: every plan on sale, at the API's prices, features in Thai.
    let plans = json_of(app.get("/api/plans?limit=200", &admin).await, 200).await;
    let page = browser.get("/billing?tab=plans").await;
    assert_eq!(page.status, 200);
    for plan in plans["data"].as_array().unwrap() {
        assert!(page.body.contains(&format!(
            "data-testid=\"plan-{}\"",
            plan["code"].as_str().unwrap()
        )));
        assert!(
            page.body.contains(&thb(plan["price"].as_i64().unwrap())),
            "{plan}"
        );
    }
    assert!(page.body.contains("วางแผนการเพาะปลูก"));

    // Billing history: the invoice, its PDF link and a payment dialog filled in with the tax.
    let page = browser
        .get(&format!("/billing?tab=history&customer={customer}"))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(invoice["number"].as_str().unwrap()));
    assert!(page.body.contains(&format!("/invoices/{invoice_id}/pdf")));
    assert!(
        page.body
            .contains(&format!("value=\"{}\"", plain_baht(wht))),
        "the tax is pre-filled"
    );
    assert!(
        page.body
            .contains(&format!("value=\"{}\"", plain_baht(total - wht))),
        "the amount is pre-filled"
    );

    let pay_path = format!("/billing/invoices/{invoice_id}/payments");
    let amount = plain_baht(total - wht);
    let tax = plain_baht(wht);
    let fields = [
        ("amount", amount.as_str()),
        ("method", "bank_transfer"),
        ("reference", "KBANK-0310"),
        ("withholding_tax_amount", tax.as_str()),
        ("withholding_tax_certificate_no", "50T-2573-0001"),
        ("back_customer", ""),
    ];
    // Without the CSRF token, or with another one: refused, and nothing recorded.
    let forged = browser.post_raw(&pay_path, &fields).await;
    assert_eq!(forged.status, 403);
    let forged_token = "x".repeat(43);
    let mut wrong: Vec<(&str, &str)> = vec![("_csrf", forged_token.as_str())];
    wrong.extend_from_slice(&fields);
    assert_eq!(browser.post_raw(&pay_path, &wrong).await.status, 403);
    // An amount that is not baht: the dialog again, the reason by the field, nothing recorded.
    let refused = browser
        .post(
            &pay_path,
            &[("amount", "1,07.00"), ("method", "bank_transfer")],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("กรอกจำนวนเงินเป็นบาท"));
    assert!(refused.body.contains(&format!(
        "id=\"dlg-pay-{invoice_id}\" aria-labelledby=\"dlg-pay-{invoice_id}-h\" open"
    )));
    let unchanged = json_of(
        app.get(&format!("/api/invoices/{invoice_id}"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(unchanged["status"], "open");
    assert_eq!(unchanged["amount_paid"], 0);
    let payments = json_of(app.get("/api/payments", &admin).await, 200).await;
    assert_eq!(payments["data"].as_array().unwrap().len(), 0);

    // The pre-filled payment, confirmed: the invoice is paid by money and certificate.
    let key = Uuid::new_v4().to_string();
    let mut with_key = fields.to_vec();
    with_key.push(("_key", key.as_str()));
    let paid = browser.post(&pay_path, &with_key).await;
    assert_eq!(paid.status, 303, "{}", paid.body);
    assert!(
        paid.location
            .as_deref()
            .unwrap()
            .contains("notice=invoice-paid")
    );
    let after = json_of(
        app.get(&format!("/api/invoices/{invoice_id}"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(after["status"], "paid");
    assert_eq!(after["withholding_tax"].as_i64().unwrap(), wht);
    assert_eq!(after["amount_paid"].as_i64().unwrap(), total - wht);
    assert_eq!(after["amount_due"], 0);
    // A repeated submission (same key) is one payment.
    assert_eq!(browser.post(&pay_path, &with_key).await.status, 303);
    let payments = json_of(app.get("/api/payments", &admin).await, 200).await;
    assert_eq!(payments["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        payments["data"][0]["withholding_tax"]["certificate_no"],
        "50T-2573-0001"
    );

    // The cards follow: money and certificate are this month's revenue, nothing is outstanding.
    let page = browser.get(&paid.location.unwrap()).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("ใบแจ้งหนี้ชำระครบ"));
    assert!(page.body.contains("50T-2573-0001"));
    let summary = json_of(app.get("/api/analytics/summary", &admin).await, 200).await;
    assert_eq!(summary["revenue_this_month"].as_i64().unwrap(), total);
    assert_eq!(summary["outstanding"], 0);
    assert!(summary["mrr"].as_i64().unwrap() > 0);
    assert_eq!(card(&page.body, "stat-revenue"), thb(total));
    assert_eq!(
        card(&page.body, "stat-mrr"),
        thb(summary["mrr"].as_i64().unwrap())
    );
    assert_eq!(card(&page.body, "stat-outstanding"), thb(0));

    // Payment methods: the card the API keeps, by brand and last four digits.
    json_of(
        app.post(
            &format!("/api/customers/{customer}/payment-methods"),
            Some(&admin),
            json!({"type": "card", "gateway": "sandbox", "card_number": "4242424242424242", "exp_month": 12, "exp_year": 2032, "is_default": true}),
        )
        .await,
        201,
    )
    .await;
    let page = browser
        .get(&format!("/billing?tab=methods&customer={customer}"))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("•••• 4242"));
    assert!(page.body.contains("12/2032"));
    assert!(!page.body.contains("4242424242424242"));
    assert!(page.body.contains("data-testid=\"add-method\""));

    // Staff add a method for the customer on its behalf: a declined-format card is refused with
    // the dialog open again (its number never sent back), a PromptPay method is kept.
    let add_path = format!("/billing/customers/{customer}/payment-methods");
    let bad_card = browser
        .post(
            &add_path,
            &[
                ("type", "card"),
                ("card_number", "1234 5678"),
                ("exp_month", "12"),
                ("exp_year", "2032"),
            ],
        )
        .await;
    assert_eq!(bad_card.status, 422, "{}", bad_card.body);
    assert!(
        bad_card
            .body
            .contains("<dialog id=\"dlg-new-method\" aria-labelledby=\"dlg-new-method-h\" open>")
    );
    assert!(!bad_card.body.contains("1234 5678"));
    let key = Uuid::new_v4().to_string();
    let added = browser
        .post(&add_path, &[("type", "promptpay"), ("_key", key.as_str())])
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let back = added.location.unwrap();
    assert!(
        back.contains("tab=methods") && back.contains("notice=method-added"),
        "{back}"
    );
    let methods = methods_of(&app, &admin, customer).await;
    let types: Vec<&str> = methods
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.len(), 2, "{methods}");
    assert!(types.contains(&"promptpay"), "{methods}");
    let page = browser.get(&back).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("เพิ่มวิธีชำระเงินแล้ว"));

    // Pause from the subscriptions tab: the API says paused.
    let subs = json_of(
        app.get(
            &format!("/api/subscriptions?customer_id={customer}"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    let sub = subs["data"][0]["id"].as_str().unwrap();
    let paused = browser
        .post(&format!("/billing/subscriptions/{sub}/pause"), &[])
        .await;
    assert_eq!(paused.status, 303);
    let sub_after = json_of(
        app.get(&format!("/api/subscriptions/{sub}"), &admin).await,
        200,
    )
    .await;
    assert_eq!(sub_after["status"], "paused");
}

async fn admin_pages_show_and_change_what_the_api_holds(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;

    // Plans: every version the API holds, by code.
    let page = browser.get("/plans").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<title>แพ็กเกจ · Satang</title>"));
    let plans = json_of(
        app.get("/api/plans?include_archived=true&limit=200", &admin)
            .await,
        200,
    )
    .await;
    for plan in plans["data"].as_array().unwrap() {
        assert!(page.body.contains(&format!(
            "data-testid=\"plan-group-{}\"",
            plan["code"].as_str().unwrap()
        )));
    }
    // A new price makes a new version; the old one stays listed as archived.
    let pro = plans["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "PRO" && p["interval"] == "month")
        .unwrap();
    let pro_id = pro["id"].as_str().unwrap();
    let repriced = browser
        .post(&format!("/plans/{pro_id}/price"), &[("price", "1,090.00")])
        .await;
    assert_eq!(repriced.status, 303, "{}", repriced.body);
    let pros = json_of(
        app.get(
            "/api/plans?include_archived=true&code=PRO&limit=200",
            &admin,
        )
        .await,
        200,
    )
    .await;
    let new = pros["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["active"] == true && p["interval"] == "month")
        .unwrap();
    assert_eq!(new["price"], 109_000);
    assert_eq!(new["version"], 2);
    let page = browser.get("/plans").await;
    assert!(page.body.contains("฿1,090.00"));
    assert!(page.body.contains("เก็บถาวร"));

    // Users: invite a billing clerk; the link is shown once and the API has the roles.
    let page = browser.get("/users").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<title>ผู้ใช้งาน · Satang</title>"));
    assert!(page.body.contains(ADMIN_EMAIL));
    let key = Uuid::new_v4().to_string();
    let invited = browser
        .post(
            "/users",
            &[
                ("_key", key.as_str()),
                ("name", "สมศรี บัญชี"),
                ("email", "somsri@satang.test"),
                ("role_billing", "on"),
            ],
        )
        .await;
    assert_eq!(invited.status, 200, "{}", invited.body);
    assert!(invited.body.contains("/invitations/"));
    let users = json_of(app.get("/api/users", &admin).await, 200).await;
    let somsri = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "somsri@satang.test")
        .unwrap();
    assert_eq!(somsri["roles"], json!(["billing"]));
    let somsri_id = somsri["id"].as_str().unwrap();
    let roles = browser
        .post(
            &format!("/users/{somsri_id}/roles"),
            &[("role_billing", "on"), ("role_support", "on")],
        )
        .await;
    assert_eq!(roles.status, 303);
    let disabled = browser
        .post(&format!("/users/{somsri_id}/disable"), &[])
        .await;
    assert_eq!(disabled.status, 303);
    let somsri = json_of(
        app.get(&format!("/api/users/{somsri_id}"), &admin).await,
        200,
    )
    .await;
    assert_eq!(somsri["roles"], json!(["billing", "support"]));
    assert_eq!(somsri["disabled"], true);

    // Webhooks: add an endpoint (secret shown once), then delete it.
    let key = Uuid::new_v4().to_string();
    let created = browser
        .post(
            "/webhooks",
            &[
                ("_key", key.as_str()),
                ("url", "https://erp.example.test/satang"),
                ("event_invoice.paid", "on"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains("whsec_"));
    let endpoints = json_of(app.get("/api/webhook-endpoints", &admin).await, 200).await;
    assert_eq!(endpoints["data"][0]["events"], json!(["invoice.paid"]));
    let endpoint = endpoints["data"][0]["id"].as_str().unwrap();
    let page = browser.get("/webhooks").await;
    assert!(page.body.contains("https://erp.example.test/satang"));
    let deleted = browser
        .post(&format!("/webhooks/{endpoint}/delete"), &[])
        .await;
    assert_eq!(deleted.status, 303);
    let endpoints = json_of(app.get("/api/webhook-endpoints", &admin).await, 200).await;
    assert_eq!(endpoints["data"].as_array().unwrap().len(), 0);

    // Audit log: those changes, newest first, filterable by entity.
    let page = browser.get("/audit").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<title>บันทึกการตรวจสอบ · Satang</title>"));
    let events = json_of(app.get("/api/audit-events?limit=50", &admin).await, 200).await;
    for e in events["data"].as_array().unwrap() {
        assert!(page.body.contains(e["action"].as_str().unwrap()), "{e}");
    }
    let page = browser
        .get(&format!("/audit?entity_type=user&entity_id={somsri_id}"))
        .await;
    assert!(page.body.contains("user.created") && page.body.contains("user.disabled"));
    assert!(!page.body.contains("webhook_endpoint.created"));
    // Sign-ins are named in words, the type and the action alike, never by a message key.
    let page = browser.get("/audit?entity_type=session").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("entity-session"), "{}", page.body);
    assert!(
        page.body.contains("<td class=\"wrap\">การเข้าสู่ระบบ<br>")
            && page
                .body
                .contains("<td>เข้าสู่ระบบ<br><code class=\"muted\">session.started</code></td>"),
        "{}",
        page.body
    );

    // Settings: saved through the form; a bad tax id is shown by its field and changes nothing.
    let page = browser.get("/settings").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<title>ตั้งค่า · Satang</title>"));
    let mut fields = vec![
        ("company_name_th", "บริษัท สตางค์ อะกริเทค จำกัด"),
        ("company_name_en", "Satang Agritech Co., Ltd."),
        ("tax_id", "0105536000313"),
        ("branch_code", "00000"),
        ("address_line1", "99 ถนนพหลโยธิน"),
        ("address_province", "กรุงเทพมหานคร"),
        ("phone", "02 123 4567"),
        ("email", "billing@satang.test"),
        ("vat_rate", "7"),
        ("withholding_tax_rate", "3.00"),
        ("invoice_prefix", "STG"),
        ("promptpay_id", "0105536000313"),
        ("payment_terms_days", "15"),
        ("dunning_retry_days", "1, 3, 5"),
        ("dunning_grace_days", "10"),
        ("timezone", "Asia/Bangkok"),
    ];
    let missing_token = browser.post_raw("/settings", &fields).await;
    assert_eq!(missing_token.status, 403);
    let saved = browser.post("/settings", &fields).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let settings = json_of(app.get("/api/settings", &admin).await, 200).await;
    assert_eq!(settings["company_name"]["th"], "บริษัท สตางค์ อะกริเทค จำกัด");
    assert_eq!(settings["invoice_prefix"], "STG");
    assert_eq!(settings["withholding_tax_rate_bps"], 300);
    assert_eq!(settings["payment_terms_days"], 15);
    assert_eq!(settings["dunning"]["retry_days"], json!([1, 3, 5]));
    assert_eq!(settings["address"]["province"], "กรุงเทพมหานคร");
    fields[2] = ("tax_id", "0105536000314");
    fields[10] = ("invoice_prefix", "NEW");
    let refused = browser.post("/settings", &fields).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("id=\"e-tax_id\""));
    let unchanged = json_of(app.get("/api/settings", &admin).await, 200).await;
    assert_eq!(unchanged, settings);
}

/// A customer's subscriptions tab shows what its live plans grant, with this period's usage.
async fn the_subscriptions_tab_shows_entitlements(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = insert_customer(&app, "ไร่สิทธิ์", "active").await;
    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let path = format!("/customers/{customer}?tab=subscriptions");
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("สิทธิ์การใช้งาน") && !page.body.contains("data-testid=\"entitlements\"")
    );
    json_of(
        app.post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": customer, "plan_code": "TEAM", "trial_days": 0}),
        )
        .await,
        201,
    )
    .await;
    let page = browser.get(&path).await;
    assert!(
        page.body.contains("data-testid=\"entitlements\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("<code>sensor_dashboard</code>"));
    assert!(page.body.contains("<code>farms</code>") && page.body.contains("ไม่จำกัด"));
}

/// API keys (admins): a key made on the page shows its secret once, the list shows its name,
/// prefix and scopes (never the secret), and revoking it refuses the key at once.
async fn api_keys_page_creates_shows_the_secret_once_and_revokes(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let page = browser.get("/api-keys").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<title>คีย์ API · Satang</title>"),
        "{}",
        page.body
    );

    // No scope: refused, nothing stored, the form says which field.
    let key = Uuid::new_v4().to_string();
    let refused = browser
        .post(
            "/api-keys",
            &[("_key", key.as_str()), ("name", "farm-platform")],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let keys = json_of(app.get("/api/api-keys", &admin).await, 200).await;
    assert_eq!(keys["data"], json!([]));

    let key = Uuid::new_v4().to_string();
    let created = browser
        .post(
            "/api-keys",
            &[
                ("_key", key.as_str()),
                ("name", "farm-platform"),
                ("scope_usage:write", "on"),
                ("scope_entitlements:read", "on"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let secret = created
        .body
        .split("sk_")
        .nth(1)
        .map(|rest| format!("sk_{}", &rest[..rest.find('<').unwrap()]))
        .expect("the secret is shown");
    let keys = json_of(app.get("/api/api-keys", &admin).await, 200).await;
    assert_eq!(
        keys["data"][0]["scopes"],
        json!(["usage:write", "entitlements:read"])
    );
    let id = keys["data"][0]["id"].as_str().unwrap().to_owned();
    let page = browser.get("/api-keys").await;
    assert!(page.body.contains("farm-platform"));
    assert!(
        page.body
            .contains(keys["data"][0]["prefix"].as_str().unwrap())
    );
    assert!(
        !page.body.contains(&secret),
        "the secret is shown only once"
    );

    let revoked = browser.post(&format!("/api-keys/{id}/revoke"), &[]).await;
    assert_eq!(revoked.status, 303);
    let customer = insert_customer(&app, "ไร่ทดสอบ", "active").await;
    let res = app
        .get(
            &format!("/api/entitlements/check?customer_id={customer}&feature=x"),
            &secret,
        )
        .await;
    assert_eq!(res.status(), 401);
    let page = browser.get("/audit?entity_type=api_key").await;
    assert!(page.body.contains("api_key.revoked") || page.body.contains("เพิกถอนคีย์ API"));
}

async fn members_and_read_only_staff_are_kept_out(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = insert_customer(&app, "ไร่ชาดอยตุง", "active").await;
    member_token(&app, "owner@doitung.test", customer, "owner").await;
    let member = Browser::signed_in(&app, "owner@doitung.test").await;
    for path in [
        "/billing",
        "/billing?tab=history",
        "/plans",
        "/users",
        "/webhooks",
        "/api-keys",
        "/audit",
        "/settings",
        "/imports",
    ] {
        assert_eq!(member.get(path).await.status, 403, "{path}");
    }

    app.staff_token("viewer@satang.test", &["viewer"]).await;
    let viewer = Browser::signed_in(&app, "viewer@satang.test").await;
    let page = viewer.get("/billing?tab=history").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("data-testid=\"record-payment\""));
    assert_eq!(viewer.get("/users").await.status, 403);
    assert_eq!(viewer.get("/api-keys").await.status, 403);
    assert_eq!(viewer.get("/imports").await.status, 403);
    assert!(!page.body.contains("href=\"/imports\""));
    let page = viewer.get("/settings").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("data-testid=\"settings-form\""));
    // The API refuses a viewer's change even from a forged form: nothing changes.
    let before = json_of(app.get("/api/settings", &admin).await, 200).await;
    let refused = viewer
        .post(
            "/settings",
            &[
                ("company_name_th", "ผู้บุกรุก"),
                ("vat_rate", "0"),
                ("withholding_tax_rate", "0"),
                ("invoice_prefix", "X"),
                ("payment_terms_days", "0"),
                ("dunning_retry_days", "1"),
                ("dunning_grace_days", "0"),
                ("timezone", "Asia/Bangkok"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        json_of(app.get("/api/settings", &admin).await, 200).await,
        before
    );
    // Nor can a viewer add a payment method for a customer: no button, and the API refuses
    // the form.
    let page = viewer
        .get(&format!("/billing?tab=methods&customer={customer}"))
        .await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("data-testid=\"add-method\""));
    let refused = viewer
        .post(
            &format!("/billing/customers/{customer}/payment-methods"),
            &[("type", "promptpay")],
        )
        .await;
    assert_eq!(refused.status, 403);
    let methods = methods_of(&app, &admin, customer).await;
    assert_eq!(methods.as_array().unwrap().len(), 0, "{methods}");
    // The customer's owner adds one in the portal (the same form and API call as Billing's).
    let added = member
        .post(
            &format!("/portal/{customer}/payment-methods"),
            &[("type", "bank_transfer"), ("is_default", "on")],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert_eq!(
        added.location.as_deref(),
        Some(format!("/portal/{customer}?notice=method-added").as_str())
    );
    let methods = methods_of(&app, &admin, customer).await;
    assert_eq!(methods[0]["type"], "bank_transfer", "{methods}");
    assert_eq!(methods[0]["is_default"], true, "{methods}");
}

/// A CSRF token is worth something only in the session it was shown in: a pre-session cookie
/// and token, or another person's token, planted in a signed-in browser are refused, and the
/// token of the sign-in form stops working once signed in.
async fn csrf_tokens_are_bound_to_the_session(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let res = app
        .post(
            "/api/users",
            Some(&admin),
            json!({"email": "clerk@satang.test", "name": "Clerk", "password": PASSWORD, "roles": ["viewer"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let victim = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let other = Browser::signed_in(&app, "clerk@satang.test").await;
    let anonymous = Browser::new(&app);
    assert_eq!(anonymous.get("/login").await.status, 200);

    for (what, planted) in [("anonymous", &anonymous), ("another session", &other)] {
        let attack = victim.with_planted(planted);
        let preferences = attack
            .post("/preferences", &[("lang", "en"), ("back", "/customers")])
            .await;
        assert_eq!(preferences.status, 403, "{what}: {}", preferences.body);
        let logout = attack.post("/logout", &[]).await;
        assert_eq!(logout.status, 403, "{what}: {}", logout.body);
    }
    // The victim is still signed in and their own token works.
    let page = victim.get("/customers").await;
    assert_eq!(page.status, 200);
    let done = victim
        .post("/preferences", &[("lang", "en"), ("back", "/customers")])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);

    // The sign-in form's token is spent by signing in.
    let fresh = Browser::new(&app);
    fresh.get("/login").await;
    let before = fresh.csrf();
    let done = fresh
        .post(
            "/login",
            &[
                ("email", "clerk@satang.test"),
                ("password", PASSWORD),
                ("next", "/customers"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let stale = fresh
        .post_raw(
            "/preferences",
            &[("_csrf", before.as_str()), ("lang", "en")],
        )
        .await;
    assert_eq!(stale.status, 403);
    // Signed out, the session's token is no longer accepted either.
    let page = fresh.get("/customers").await;
    assert_eq!(page.status, 200);
    let signed_in_token = fresh.csrf();
    assert_ne!(signed_in_token, before);
    let out = fresh.post("/logout", &[]).await;
    assert_eq!(out.status, 303);
    let stale = fresh
        .post_raw(
            "/preferences",
            &[("_csrf", signed_in_token.as_str()), ("lang", "en")],
        )
        .await;
    assert_eq!(stale.status, 403);
}

/// Served over https, the session's cookies are `Secure` and `__Host-` prefixed, so a sibling
/// subdomain cannot set them; the console works the same with them.
async fn session_cookies_are_host_only_over_https(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| {
        c.public_url = Some("https://console.satang.test".into());
    })
    .await
    else {
        return;
    };
    let res = app.client.get(app.at("/login")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let set: Vec<String> = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let csrf = set
        .iter()
        .find(|c| c.starts_with("__Host-satang_csrf="))
        .unwrap_or_else(|| panic!("a __Host- pre-session cookie: {set:?}"));
    assert!(csrf.contains("; Secure") && csrf.contains("Path=/") && !csrf.contains("Domain"));

    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let names: Vec<String> = browser.cookies.lock().unwrap().keys().cloned().collect();
    assert!(
        names.contains(&"__Host-satang_at".to_owned())
            && names.contains(&"__Host-satang_rt".to_owned()),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("satang_at") || n.starts_with("satang_rt"))
    );
    let done = browser
        .post("/preferences", &[("lang", "en"), ("back", "/customers")])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
}

/// The portal's promotion-code box (SPEC §2.11): an owner types a code; a refusal is shown
/// beside the box in the person's words and changes nothing; an accepted code shows as the
/// subscription's discount and the box goes away. A read-only member has no box.
async fn a_member_types_a_promotion_code_in_the_portal(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = insert_customer(&app, "ไร่มะม่วงน้ำดอกไม้", "active").await;
    let coupon = json_of(
        app.post(
            "/api/coupons",
            Some(&admin),
            json!({"code": "MANGO15", "percent_off_bps": 1500, "duration": "repeating",
                   "duration_in_periods": 2}),
        )
        .await,
        201,
    )
    .await;
    member_token(&app, "owner@mango.test", customer, "owner").await;
    member_token(&app, "reader@mango.test", customer, "member").await;
    let sub = json_of(
        app.post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": customer, "plan_code": "PRO"}),
        )
        .await,
        201,
    )
    .await;
    let sub = sub["id"].as_str().unwrap().to_owned();

    let reader = Browser::signed_in(&app, "reader@mango.test").await;
    let page = reader.get(&format!("/portal/{customer}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("data-testid=\"portal-promotion-code\""));

    let owner = Browser::signed_in(&app, "owner@mango.test").await;
    let page = owner.get(&format!("/portal/{customer}")).await;
    assert!(page.body.contains("data-testid=\"portal-promotion-code\""));
    let action = format!("/portal/{customer}/subscriptions/{sub}/discount");
    let refused = owner.post(&action, &[("coupon", "NO-SUCH-CODE")]).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("ไม่มีคูปองรหัสนี้") || refused.body.contains("No coupon has this code"),
        "{}",
        refused.body
    );
    let id = coupon["id"].as_str().unwrap();
    let unchanged = json_of(app.get(&format!("/api/coupons/{id}"), &admin).await, 200).await;
    assert_eq!(unchanged["times_redeemed"], 0);

    let applied = owner.post(&action, &[("coupon", "mango15")]).await;
    assert_eq!(applied.status, 303, "{}", applied.body);
    assert_eq!(
        applied.location.as_deref(),
        Some(format!("/portal/{customer}?notice=discount-applied").as_str())
    );
    let page = owner.get(&format!("/portal/{customer}")).await;
    assert!(
        page.body.contains("data-testid=\"portal-discount\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("MANGO15"));
    assert!(!page.body.contains("data-testid=\"portal-promotion-code\""));
    let s = json_of(
        app.get(&format!("/api/subscriptions/{sub}"), &admin).await,
        200,
    )
    .await;
    assert_eq!(s["discount"]["coupon_code"], "MANGO15");
}

/// Billing › Coupons: the list is the API's, a coupon is created from the dialog (a percent
/// typed as a percent), a bad value opens the dialog again with the field named, archiving
/// takes it off sale; a viewer sees the list without the buttons.
async fn billing_staff_create_and_archive_coupons_in_the_console(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let page = browser.get("/billing?tab=coupons").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("data-testid=\"new-coupon\""));

    let refused = browser
        .post(
            "/billing/coupons",
            &[
                ("code", "SONGKRAN"),
                ("percent_off", "twenty"),
                ("duration", "once"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused
            .body
            .contains("dlg-new-coupon\" aria-labelledby=\"dlg-new-coupon-h\" open")
    );
    assert!(refused.body.contains("has-error"));
    let none = json_of(app.get("/api/coupons", &admin).await, 200).await;
    assert_eq!(none["data"], json!([]));

    let created = browser
        .post(
            "/billing/coupons",
            &[
                ("code", "songkran"),
                ("name_th", "สงกรานต์ลด 12.5%"),
                ("percent_off", "12.5"),
                ("duration", "repeating"),
                ("duration_in_periods", "3"),
                ("max_redemptions", "50"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let list = json_of(app.get("/api/coupons", &admin).await, 200).await;
    let coupon = &list["data"][0];
    assert_eq!(coupon["code"], "SONGKRAN");
    assert_eq!(coupon["percent_off_bps"], 1250);
    assert_eq!(coupon["duration_in_periods"], 3);
    assert_eq!(coupon["name"]["th"], "สงกรานต์ลด 12.5%");
    let page = browser.get("/billing?tab=coupons").await;
    assert!(page.body.contains("SONGKRAN"));
    assert!(
        page.body.contains("12.50 %") || page.body.contains("12.5 %"),
        "{}",
        page.body
    );

    let id = coupon["id"].as_str().unwrap();
    let archived = browser
        .post(&format!("/billing/coupons/{id}/archive"), &[])
        .await;
    assert_eq!(archived.status, 303, "{}", archived.body);
    let after = json_of(app.get(&format!("/api/coupons/{id}"), &admin).await, 200).await;
    assert_eq!(after["active"], false);

    app.staff_token("viewer@satang.test", &["viewer"]).await;
    let viewer = Browser::signed_in(&app, "viewer@satang.test").await;
    let page = viewer.get("/billing?tab=coupons").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("SONGKRAN"));
    assert!(!page.body.contains("data-testid=\"new-coupon\""));
}

/// A customer's Subscriptions tab: staff redeem a coupon on a subscription from its row (a
/// refusal reopens the dialog with the reason), see the discount, and remove it.
async fn billing_staff_apply_and_remove_a_discount_on_the_subscription_tab(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let customer = insert_customer(&app, "สหกรณ์ยางพาราบ้านใต้", "active").await;
    json_of(
        app.post(
            "/api/coupons",
            Some(&admin),
            json!({"code": "RUBBER5", "amount_off": 50_000, "duration": "once"}),
        )
        .await,
        201,
    )
    .await;
    let sub = json_of(
        app.post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": customer, "plan_code": "PRO"}),
        )
        .await,
        201,
    )
    .await;
    let sub = sub["id"].as_str().unwrap().to_owned();
    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let tab = format!("/customers/{customer}?tab=subscriptions");
    let page = browser.get(&tab).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("data-testid=\"apply-discount\""));

    let action = format!("/customers/{customer}/subscriptions/{sub}/discount");
    let refused = browser.post(&action, &[("coupon", "RUBBER6")]).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains(&format!(
        "dlg-discount-{sub}\" aria-labelledby=\"dlg-discount-{sub}-h\" open"
    )));
    assert!(refused.body.contains("has-error"));

    let applied = browser.post(&action, &[("coupon", "rubber5")]).await;
    assert_eq!(applied.status, 303, "{}", applied.body);
    let page = browser.get(&tab).await;
    assert!(
        page.body.contains("data-testid=\"subscription-discount\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("RUBBER5"));
    let s = json_of(
        app.get(&format!("/api/subscriptions/{sub}"), &admin).await,
        200,
    )
    .await;
    assert_eq!(s["discount"]["amount_off"], 50_000);

    let removed = browser
        .post(
            &format!("/customers/{customer}/subscriptions/{sub}/remove-discount"),
            &[],
        )
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    let s = json_of(
        app.get(&format!("/api/subscriptions/{sub}"), &admin).await,
        200,
    )
    .await;
    assert_eq!(s["discount"], serde_json::Value::Null);
}

/// The plans page: billing staff see each plan code's usage alerts, add one (a threshold that is
/// not a number is refused next to the field, in Thai or English) and delete it; the API holds
/// the same alerts.
async fn billing_staff_add_and_delete_usage_alerts_on_the_plans_page(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let plans = json_of(app.get("/api/plans?limit=200", &admin).await, 200).await;
    let code = plans["data"][0]["code"].as_str().unwrap().to_owned();
    app.staff_token("billing@satang.test", &["billing"]).await;
    let browser = Browser::signed_in(&app, "billing@satang.test").await;
    let page = browser.get("/plans").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains(&format!("data-testid=\"alert-form-{code}\""))
    );

    let refused = browser
        .post(
            "/plans/alerts",
            &[
                ("plan_code", &code),
                ("metric", "sms_alerts"),
                ("threshold", "many"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("has-error"), "{}", refused.body);
    let none = json_of(app.get("/api/usage-alerts", &admin).await, 200).await;
    assert_eq!(none["data"], json!([]));

    let created = browser
        .post(
            "/plans/alerts",
            &[
                ("plan_code", &code),
                ("metric", "sms_alerts"),
                ("threshold", "1000"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let list = json_of(
        app.get(&format!("/api/usage-alerts?plan_code={code}"), &admin)
            .await,
        200,
    )
    .await;
    let alert = &list["data"][0];
    assert_eq!(alert["metric"], "sms_alerts");
    assert_eq!(alert["threshold"], 1000);
    let page = browser.get("/plans").await;
    assert!(
        page.body
            .contains(&format!("data-testid=\"alerts-{code}\""))
    );
    assert!(page.body.contains("sms_alerts"));

    let id = alert["id"].as_str().unwrap();
    let deleted = browser
        .post(&format!("/plans/alerts/{id}/delete"), &[])
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    let none = json_of(app.get("/api/usage-alerts", &admin).await, 200).await;
    assert_eq!(none["data"], json!([]));

    // Viewers see the plans but not the alerts.
    app.staff_token("viewer@satang.test", &["viewer"]).await;
    let viewer = Browser::signed_in(&app, "viewer@satang.test").await;
    let page = viewer.get("/plans").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("alert-form-"));
}

/// Billing › Bank statements: a refused upload shows the form again with the error, an upload
/// lands on the statement's unmatched lines with the suggested invoice, and its Match button
/// records the payment; read-only staff are kept out.
async fn billing_staff_upload_and_match_a_bank_statement(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let farm = insert_customer(&app, "ฟาร์มเห็ดบ้านสวน", "active").await;
    let draft = json_of(
        app.post(
            "/api/invoices",
            Some(&admin),
            json!({"customer_id": farm, "lines": [
                {"description": "ค่าบริการ", "quantity": 1, "unit_amount": 200_000}]}),
        )
        .await,
        201,
    )
    .await;
    let id = draft["id"].as_str().unwrap();
    let invoice = json_of(
        app.post(
            &format!("/api/invoices/{id}/finalize"),
            Some(&admin),
            json!({}),
        )
        .await,
        200,
    )
    .await;
    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let billing = browser.get("/billing").await;
    assert!(
        billing
            .body
            .contains("data-testid=\"bank-statements-link\"")
    );
    let page = browser.get("/billing/bank-statements").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("data-testid=\"bank-upload-form\""));

    let fields = |csv: &'static str| {
        vec![
            ("csv", csv),
            ("column_date", "Date"),
            ("column_amount", "Amount"),
            ("column_description", "Description"),
            ("date_format", "%d/%m/%Y"),
        ]
    };
    let refused = browser
        .post(
            "/billing/bank-statements",
            &fields("Date,Amount,Description\n09/03/2030,2.140,x\n"),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("has-error"), "{}", refused.body);
    let none = json_of(app.get("/api/bank-statements", &admin).await, 200).await;
    assert_eq!(none["data"], json!([]));

    let uploaded = browser
        .post(
            "/billing/bank-statements",
            &fields("Date,Amount,Description\n09/03/2030,\"2,140.00\",โอนจาก ฟาร์มเห็ดบ้านสวน\n"),
        )
        .await;
    assert_eq!(uploaded.status, 303, "{}", uploaded.body);
    let location = uploaded.location.unwrap();
    let page = browser.get(&location).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(invoice["number"].as_str().unwrap()),
        "{}",
        page.body
    );
    let statement_id = location
        .trim_start_matches("/billing/bank-statements/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let lines = json_of(
        app.get(
            &format!("/api/bank-statements/{statement_id}/lines"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    let line = lines["data"][0]["id"].as_str().unwrap();
    let matched = browser
        .post(
            &format!("/billing/bank-statements/{statement_id}/lines/{line}/match"),
            &[
                ("invoice_id", id),
                ("withholding_tax", "0"),
                ("status", "unmatched"),
            ],
        )
        .await;
    assert_eq!(matched.status, 303, "{}", matched.body);
    let paid = json_of(app.get(&format!("/api/invoices/{id}"), &admin).await, 200).await;
    assert_eq!(paid["status"], "paid");

    app.staff_token("viewer@satang.test", &["viewer"]).await;
    let viewer = Browser::signed_in(&app, "viewer@satang.test").await;
    let page = viewer.get("/billing/bank-statements").await;
    assert_eq!(page.status, 403);
}

/// The seller profile e-Tax documents need (as in tax_documents.rs), with the tax point given.
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

/// A business buyer with a finalised invoice of one line: the customer and the invoice.
async fn invoiced_buyer(app: &TestApp, admin: &str, name: &str) -> (Uuid, Value) {
    let c = json_of(
        app.post(
            "/api/customers",
            Some(admin),
            json!({"name": name, "tax_id": "0503559000004", "branch_code": "00001",
                   "address": {"line1": "12 หมู่ 3", "district": "แม่ริม",
                               "province": "เชียงใหม่", "postal_code": "50180"}}),
        )
        .await,
        201,
    )
    .await;
    let customer: Uuid = c["id"].as_str().unwrap().parse().unwrap();
    let draft = json_of(
        app.post(
            "/api/invoices",
            Some(admin),
            json!({"customer_id": customer, "lines": [
                {"description": "ค่าบริการวิเคราะห์ดิน", "quantity": 2, "unit_amount": 125_000}]}),
        )
        .await,
        201,
    )
    .await;
    let id = draft["id"].as_str().unwrap();
    let invoice = json_of(
        app.post(
            &format!("/api/invoices/{id}/finalize"),
            Some(admin),
            json!({}),
        )
        .await,
        200,
    )
    .await;
    (customer, invoice)
}

/// A paid invoice shows its receipt / tax invoice (number, type, date, total, PDF and XML
/// links that download the API's documents) on the customer's invoices tab and in the portal
/// of its customer's member; another customer's member neither sees nor downloads it; while no
/// signing certificate is configured the invoices tab says the documents are unsigned.
async fn tax_documents_show_beside_their_invoice_for_staff_and_the_members(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    etax_seller(&app, &admin).await;
    let (customer, invoice) = invoiced_buyer(&app, &admin, "สวนทุเรียนป่าละอู").await;
    let (other, _) = invoiced_buyer(&app, &admin, "ไร่ชาฉุยฟง").await;
    let invoice_id = invoice["id"].as_str().unwrap();
    let total = invoice["total"].as_i64().unwrap();
    json_of(
        app.post(
            &format!("/api/invoices/{invoice_id}/payments"),
            Some(&admin),
            json!({"amount": total, "method": "bank_transfer"}),
        )
        .await,
        201,
    )
    .await;
    let docs = json_of(
        app.get(
            &format!("/api/tax-documents?customer_id={customer}"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    let doc = docs["data"][0].clone();
    assert_eq!(docs["data"].as_array().unwrap().len(), 1, "{docs}");
    assert_eq!(doc["type"], "receipt_tax_invoice");
    assert_eq!(doc["invoice_id"], invoice["id"]);
    assert_eq!(doc["signed"], false);
    let doc_id = doc["id"].as_str().unwrap();
    let number = doc["number"].as_str().unwrap();
    let xml = app
        .client
        .get(format!("{}/api/tax-documents/{doc_id}/xml", app.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(xml.status(), 200);
    let xml = xml.text().await.unwrap();
    let pdf_link = format!("href=\"/tax-documents/{doc_id}/pdf\"");
    let xml_link = format!("href=\"/tax-documents/{doc_id}/xml\"");

    let staff = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let page = staff
        .get(&format!("/customers/{customer}?tab=invoices"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let row =
        format!("data-number=\"{number}\"><strong>ใบเสร็จรับเงิน/ใบกำกับภาษี</strong> {number} · ");
    assert!(page.body.contains(&row), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("{number} · 10 มี.ค. 2573 · {}", thb(total)))
    );
    assert!(page.body.contains(&pdf_link) && page.body.contains(&xml_link));
    assert!(page.body.contains("data-testid=\"etax-unsigned\""));
    let downloaded = staff.get(&format!("/tax-documents/{doc_id}/xml")).await;
    assert_eq!(downloaded.status, 200);
    assert_eq!(downloaded.body, xml);
    let downloaded = staff.get(&format!("/tax-documents/{doc_id}/pdf")).await;
    assert_eq!(downloaded.status, 200);
    assert!(downloaded.body.starts_with("%PDF-"));
    // In English, the type is named in English.
    let english = Browser::signed_in(&app, ADMIN_EMAIL).await;
    english
        .post("/preferences", &[("lang", "en"), ("back", "/")])
        .await;
    let page = english
        .get(&format!("/customers/{customer}?tab=invoices"))
        .await;
    assert!(
        page.body.contains("<strong>Receipt / tax invoice</strong>"),
        "{}",
        page.body
    );

    member_token(&app, "owner@durian.test", customer, "owner").await;
    member_token(&app, "owner@tea.test", other, "owner").await;
    let member = Browser::signed_in(&app, "owner@durian.test").await;
    for path in [
        format!("/portal/{customer}"),
        format!("/portal/{customer}/invoices/{invoice_id}"),
    ] {
        let page = member.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.body.contains(&row), "{path}: {}", page.body);
        assert!(page.body.contains(&pdf_link) && page.body.contains(&xml_link));
    }
    let downloaded = member.get(&format!("/tax-documents/{doc_id}/xml")).await;
    assert_eq!(downloaded.status, 200);
    assert_eq!(downloaded.body, xml);
    let downloaded = member.get(&format!("/tax-documents/{doc_id}/pdf")).await;
    assert_eq!(downloaded.status, 200);
    assert!(downloaded.body.starts_with("%PDF-"));

    let stranger = Browser::signed_in(&app, "owner@tea.test").await;
    let page = stranger.get(&format!("/portal/{other}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains(number), "{}", page.body);
    for path in [
        format!("/tax-documents/{doc_id}/pdf"),
        format!("/tax-documents/{doc_id}/xml"),
    ] {
        let refused = stranger.get(&path).await;
        assert_eq!(refused.status, 404, "{path}");
        assert!(!refused.body.contains(number));
    }
    let refused = stranger
        .get(&format!("/portal/{customer}/invoices/{invoice_id}"))
        .await;
    assert!(refused.status.is_client_error(), "{}", refused.status);
    assert!(!refused.body.contains(number));
}

/// Settings: the e-Tax sub-district code is saved through the form, a bad one is refused by
/// its field and changes nothing, and the page warns while documents are issued unsigned.
async fn the_etax_subdistrict_code_is_saved_and_checked_on_the_settings_page(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let page = browser.get("/settings").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-testid=\"etax-unsigned\""));
    assert!(page.body.contains("id=\"f-etax_subdistrict_code\""));
    let mut fields = vec![
        ("company_name_th", "บริษัท ฟาร์มไอคิว จำกัด"),
        ("company_name_en", "FarmIQ Co., Ltd."),
        ("tax_id", "0105557000126"),
        ("branch_code", "00000"),
        ("address_line1", "1 ถนนพญาไท"),
        ("address_subdistrict", "ทุ่งพญาไท"),
        ("address_district", "ราชเทวี"),
        ("address_province", "กรุงเทพมหานคร"),
        ("address_postal_code", "10400"),
        ("vat_rate", "7"),
        ("withholding_tax_rate", "3"),
        ("invoice_prefix", "INV"),
        ("receipt_prefix", "RC"),
        ("tax_point", "issue"),
        ("payment_terms_days", "30"),
        ("dunning_retry_days", "1, 3"),
        ("dunning_grace_days", "7"),
        ("timezone", "Asia/Bangkok"),
        ("etax_subdistrict_code", "103701"),
    ];
    let saved = browser.post("/settings", &fields).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let settings = json_of(app.get("/api/settings", &admin).await, 200).await;
    assert_eq!(settings["etax_subdistrict_code"], "103701");
    assert_eq!(settings["receipt_prefix"], "RC");
    assert_eq!(settings["tax_point"], "issue");
    let page = browser.get("/settings").await;
    assert!(page.body.contains("value=\"103701\""), "{}", page.body);

    let last = fields.len() - 1;
    fields[last] = ("etax_subdistrict_code", "10370");
    fields[12] = ("receipt_prefix", "XX");
    let refused = browser.post("/settings", &fields).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("id=\"e-etax_subdistrict_code\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"10370\""));
    let unchanged = json_of(app.get("/api/settings", &admin).await, 200).await;
    assert_eq!(unchanged, settings);
}

/// The portal's card page with Opn configured: its CSP — and only its — allows Omise.js's
/// origin, the card fields have no `name` (never posted), and what the page posts is the token
/// Omise.js made (here the Opn stand-in's `/tokens`, as the script would call it).
async fn a_member_adds_a_card_through_the_providers_script(backend: Backend) {
    let Some((app, opn, admin)) = crate::common::providers::spawn_with_opn(backend).await else {
        return;
    };
    let customer = insert_customer(&app, "ฟาร์มโคนมบ้านไร่", "active").await;
    member_token(&app, "owner@dairy.test", customer, "owner").await;
    member_token(&app, "reader@dairy.test", customer, "member").await;
    let owner = Browser::signed_in(&app, "owner@dairy.test").await;

    let portal = owner.get(&format!("/portal/{customer}")).await;
    assert!(
        portal
            .body
            .contains(&format!("/portal/{customer}/cards/new"))
    );
    let cookies = owner.cookie_header();
    let csp = async |path: String| {
        let res = app
            .client
            .get(app.at(&path))
            .header(header::COOKIE, cookies.as_str())
            .send()
            .await
            .unwrap();
        res.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let card_csp = csp(format!("/portal/{customer}/cards/new")).await;
    assert!(
        card_csp.contains("script-src 'self' https://cdn.omise.co;"),
        "{card_csp}"
    );
    let portal_csp = csp(format!("/portal/{customer}")).await;
    assert!(!portal_csp.contains("omise"), "{portal_csp}");
    let page = owner.get(&format!("/portal/{customer}/cards/new")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("data-card-provider=\"opn\""));
    assert!(page.body.contains("https://cdn.omise.co/omise.js"));
    assert!(
        !page.body.contains("name=\"card_number\""),
        "card fields are never posted"
    );
    assert!(page.body.contains(crate::common::providers::OPN_PUBLIC));

    // What card.js posts after Omise.js answered: the token, never the number.
    let token = opn.opn_token("4242424242424242").await;
    let done = owner
        .post(
            &format!("/portal/{customer}/payment-methods"),
            &[
                ("type", "card"),
                ("gateway", "opn"),
                ("token", token.as_str()),
                ("is_default", "on"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let methods = methods_of(&app, &admin, customer).await;
    assert_eq!(methods[0]["gateway"], "opn");
    assert_eq!(methods[0]["last4"], "4242");

    // A plain member may not add cards.
    let reader = Browser::signed_in(&app, "reader@dairy.test").await;
    let page = reader.get(&format!("/portal/{customer}/cards/new")).await;
    assert_eq!(page.status, 403);
}

/// The pay page's card form: the provider's script origin allowed on it (and not once the
/// invoice is paid), inputs that are never posted, and what card.js posts after Omise.js
/// answered — the token — paying the invoice at once, without signing in.
async fn a_payer_pays_by_card_on_the_pay_page(backend: Backend) {
    let Some((app, opn, admin)) = crate::common::providers::spawn_with_opn(backend).await else {
        return;
    };
    let customer = insert_customer(&app, "ฟาร์มทุเรียนเขาคิชฌกูฏ", "active").await;
    let invoice = crate::common::billing::open_invoice(&app, &admin, customer).await;
    let id = invoice["id"].as_str().unwrap();
    let (_, token) = crate::common::providers::payment_link(&app, &admin, &invoice).await;
    let path = format!("/pay/{token}");
    let csp_of = async || {
        let res = app.client.get(app.at(&path)).send().await.unwrap();
        res.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let csp = csp_of().await;
    assert!(
        csp.contains("script-src 'self' https://cdn.omise.co;"),
        "{csp}"
    );

    let payer = Browser::new(&app);
    let page = payer.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("data-testid=\"pay-card-form\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-card-provider=\"opn\""));
    assert!(page.body.contains(crate::common::providers::OPN_PUBLIC));
    assert!(page.body.contains("https://cdn.omise.co/omise.js"));
    assert!(page.body.contains("id=\"card-number\""));
    assert!(
        !page.body.contains("name=\"card_number\""),
        "card fields are never posted"
    );

    // A declined card: the provider's reason on the page, the invoice still open.
    let declined = opn.opn_token("4111111111140011").await;
    let page = payer
        .post(
            &path,
            &[
                ("method", "card"),
                ("provider", "opn"),
                ("token", declined.as_str()),
            ],
        )
        .await;
    assert_eq!(page.status, 402, "{}", page.body);
    assert!(page.body.contains("insufficient"), "{}", page.body);

    let token = opn.opn_token("4242424242424242").await;
    let page = payer
        .post(
            &path,
            &[
                ("method", "card"),
                ("provider", "opn"),
                ("token", token.as_str()),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("data-pay-paid>"),
        "shown as paid: {}",
        page.body
    );
    assert!(!page.body.contains("pay-card-form"));
    let now = json_of(app.get(&format!("/api/invoices/{id}"), &admin).await, 200).await;
    assert_eq!(now["status"], "paid");
    assert!(
        !csp_of().await.contains("omise"),
        "no provider script once paid"
    );
}

/// Every `href` on a page that starts with `prefix`, its escaped `&` read back.
fn links(body: &str, prefix: &str) -> Vec<String> {
    let marker = format!("href=\"{prefix}");
    body.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &body[at + "href=\"".len()..];
            rest[..rest.find('"').unwrap()]
                .replace("&amp;", "&")
                .replace("&#38;", "&")
        })
        .collect()
}

/// The Reports page (รายงาน): a March with two receipts (one with withholding tax and its
/// certificate, one paid in full) and a credit note. In April the page opens on March: its
/// output-VAT rows and totals are the API's, the withholding certificates of 2030 likewise,
/// and every download link answers with the file the API writes (CSV with a byte order mark,
/// XLSX a zip, the reports' printed forms a PDF). A customer's member is refused the page and
/// the files.
async fn the_reports_page_matches_the_api_and_downloads_its_files(backend: Backend) {
    use crate::common::billing::{credit_note_of_ten_baht, set_date};
    use crate::tax_documents::{customer, invoice, pay, seller_profile};

    let Some((app, admin)) = spawn_clocked_on(backend, "2030-03-05").await else {
        return;
    };
    seller_profile(&app, &admin, "payment").await;
    let farm = customer(&app, &admin, "ไร่ผู้ใหญ่น้ำใส").await;
    let a = invoice(&app, &admin, farm, &[(1, 10_000)]).await;
    pay(
        &app,
        &admin,
        &a,
        json!({"amount": 10_400, "method": "bank_transfer",
               "withholding_tax": {"amount": 300, "certificate_no": "WHT-2030-0007"}}),
    )
    .await;
    let admin = set_date(&app, "2030-03-20").await;
    credit_note_of_ten_baht(&app, &admin, a["id"].as_str().unwrap()).await;
    let b = invoice(&app, &admin, farm, &[(3, 4550)]).await;
    let b_total = b["total"].as_i64().unwrap();
    pay(
        &app,
        &admin,
        &b,
        json!({"amount": b_total, "method": "promptpay"}),
    )
    .await;
    let admin = set_date(&app, "2030-04-10").await;

    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let page = browser.get("/billing").await;
    assert!(page.body.contains("href=\"/reports\""), "the nav links it");
    let page = browser.get("/reports").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<title>รายงาน · Satang</title>"));
    assert!(
        page.body.contains("value=\"2030-03\""),
        "last month by default"
    );
    assert!(page.body.contains("มี.ค. 2573"));
    let vat = json_of(
        app.get("/api/reports/output-vat?month=2030-03", &admin)
            .await,
        200,
    )
    .await;
    let rows = vat["rows"].as_array().unwrap();
    // A's receipt, its credit note, and B's two receipts (the credit consumed, then the money).
    assert_eq!(rows.len(), 4, "{vat}");
    for row in rows {
        assert!(page.body.contains(row["number"].as_str().unwrap()), "{row}");
        assert!(
            page.body.contains(&thb(row["total"].as_i64().unwrap())),
            "{row}"
        );
    }
    assert!(page.body.contains("20 มี.ค. 2573"), "Buddhist-Era dates");
    assert_eq!(
        card(&page.body, "vat-total-base"),
        thb(vat["total_base"].as_i64().unwrap())
    );
    assert_eq!(
        card(&page.body, "vat-total-vat"),
        thb(vat["total_vat"].as_i64().unwrap())
    );
    assert_eq!(
        card(&page.body, "vat-total"),
        thb(vat["total"].as_i64().unwrap())
    );
    let wht = json_of(
        app.get("/api/reports/withholding-certificates?year=2030", &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(wht["total_withheld"], 300, "{wht}");
    assert!(page.body.contains("WHT-2030-0007"));
    assert!(
        page.body
            .contains("<option value=\"2030\" selected>2573</option>")
    );
    assert_eq!(card(&page.body, "wht-total"), thb(300));
    assert_eq!(
        card(&page.body, "wht-total-base"),
        thb(wht["total_base"].as_i64().unwrap())
    );

    // Another month by the GET form: February has nothing.
    let feb = browser.get("/reports?month=2030-02&year=2030").await;
    assert_eq!(feb.status, 200);
    assert!(!feb.body.contains("data-testid=\"vat-rows\""));
    assert!(feb.body.contains("WHT-2030-0007"));
    // A month that is not one: said by the picker, no figures.
    let bad = browser.get("/reports?month=March").await;
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("id=\"r-month-e\""));

    // Every download link: the API's file with its type.
    let mut files = links(&page.body, "/reports/output-vat?");
    files.extend(links(&page.body, "/reports/withholding-certificates?"));
    files.extend(links(&page.body, "/reports/exports/"));
    assert_eq!(files.len(), 3 + 3 + 4 * 2, "{files:?}");
    for file in &files {
        let (status, content_type, body) = browser.download(file).await;
        assert_eq!(status, 200, "{file}: {}", String::from_utf8_lossy(&body));
        if file.ends_with("format=csv") {
            assert!(
                content_type.starts_with("text/csv"),
                "{file}: {content_type}"
            );
            assert!(body.starts_with(b"\xEF\xBB\xBF"), "{file}: a BOM");
        } else if file.ends_with("format=pdf") {
            assert!(!file.starts_with("/reports/exports/"), "{file}");
            assert_eq!(content_type, "application/pdf", "{file}");
            assert!(body.starts_with(b"%PDF-"), "{file}: a PDF");
        } else {
            assert!(file.ends_with("format=xlsx"), "{file}");
            assert_eq!(
                content_type,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            );
            assert!(body.starts_with(b"PK"), "{file}: a zip");
        }
    }
    // The month's CSV holds the API's rows: the same file as the API's.
    let (_, _, console_csv) = browser
        .download("/reports/output-vat?month=2030-03&format=csv")
        .await;
    let api_csv = app
        .get("/api/reports/output-vat?month=2030-03&format=csv", &admin)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(console_csv, api_csv.to_vec());
    // The printed form through the console: the API's attachment, its name kept.
    let res = browser
        .client
        .get(app.at("/reports/withholding-certificates?year=2030&format=pdf"))
        .header(header::COOKIE, browser.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"withholding-certificates-2030.pdf\""
    );
    // Not a file the API writes: refused (exports have no printed form).
    for file in [
        "/reports/output-vat?month=2030-03&format=json",
        "/reports/exports/invoices?from=2030-03-01&to=2030-03-31&format=pdf",
    ] {
        let (status, _, _) = browser.download(file).await;
        assert_eq!(status, 400, "{file}");
    }

    // In English: Gregorian dates and years.
    let switched = browser
        .post("/preferences", &[("lang", "en"), ("back", "/reports")])
        .await;
    assert_eq!(switched.status, 303);
    let page = browser.get("/reports").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Output VAT report · Mar 2030"),
        "{}",
        page.body
    );
    assert!(page.body.contains("20 Mar 2030"));
    assert!(
        page.body
            .contains("<option value=\"2030\" selected>2030</option>")
    );
    assert_eq!(
        card(&page.body, "vat-total"),
        thb(vat["total"].as_i64().unwrap())
    );

    // A customer's member: neither the page nor a file.
    member_token(&app, "owner@namsai.test", farm, "owner").await;
    let member = Browser::signed_in(&app, "owner@namsai.test").await;
    assert_eq!(member.get("/reports").await.status, 403);
    let mut page = member.get("/portal").await;
    while let Some(next) = page.location.clone() {
        page = member.get(&next).await;
    }
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("href=\"/reports\""));
    for file in &files {
        assert_eq!(member.download(file).await.0, 403, "{file}");
    }
}

/// Issue 28: a transfer received last week is recorded with its withholding tax and no 50 ทวิ
/// certificate yet; a date after today is refused, and reloading the refused form's address
/// opens the dialog again (no 405). The payments list says the certificate is pending, and its
/// form adds the number later, which the API then holds.
async fn a_payment_of_last_week_gets_its_certificate_later(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, TODAY).await else {
        return;
    };
    let (customer, invoice) = invoiced_business(&app, &admin).await;
    let invoice_id = invoice["id"].as_str().unwrap().to_owned();
    let total = invoice["total"].as_i64().unwrap();
    let pre_vat = total - invoice["vat_amount"].as_i64().unwrap();
    let settings = json_of(app.get("/api/settings", &admin).await, 200).await;
    let rate = settings["withholding_tax_rate_bps"].as_i64().unwrap();
    let wht = (pre_vat * rate * 2 + 10_000) / 20_000;

    let browser = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let history = format!("/billing?tab=history&customer={customer}");
    let page = browser.get(&history).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!(
            "name=\"paid_at\" type=\"date\" max=\"{TODAY}\" value=\"{TODAY}\""
        )),
        "the date received, today by default"
    );

    let pay_path = format!("/billing/invoices/{invoice_id}/payments");
    let amount = plain_baht(total - wht);
    let tax = plain_baht(wht);
    // Tomorrow: refused by the date, the dialog open again, nothing recorded.
    let refused = browser
        .post(
            &pay_path,
            &[
                ("amount", amount.as_str()),
                ("method", "bank_transfer"),
                ("paid_at", "2030-03-11"),
                ("withholding_tax_amount", tax.as_str()),
                ("back_customer", &customer.to_string()),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("วันที่ได้รับเงินต้องไม่เกินวันนี้"));
    assert!(
        refused.body.contains("value=\"2030-03-11\""),
        "kept as typed"
    );
    // The browser reloads the address it is on: back to the dialog, not a 405.
    let reloaded = browser.get(&pay_path).await;
    assert_eq!(reloaded.status, 303, "{}", reloaded.body);
    let to = reloaded.location.unwrap();
    assert!(
        to.starts_with("/billing?tab=history") && to.contains(&format!("dialog=pay-{invoice_id}")),
        "{to}"
    );
    let page = browser.get(&to).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!(
        "id=\"dlg-pay-{invoice_id}\" aria-labelledby=\"dlg-pay-{invoice_id}-h\" open"
    )));
    let payments = json_of(app.get("/api/payments", &admin).await, 200).await;
    assert_eq!(payments["data"].as_array().unwrap().len(), 0);

    // Last week, withholding without its certificate: the invoice is paid.
    let key = Uuid::new_v4().to_string();
    let paid = browser
        .post(
            &pay_path,
            &[
                ("amount", amount.as_str()),
                ("method", "bank_transfer"),
                ("reference", "SCB-0303"),
                ("paid_at", "2030-03-03"),
                ("withholding_tax_amount", tax.as_str()),
                ("withholding_tax_certificate_no", ""),
                ("_key", key.as_str()),
            ],
        )
        .await;
    assert_eq!(paid.status, 303, "{}", paid.body);
    let after = json_of(
        app.get(&format!("/api/invoices/{invoice_id}"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(after["status"], "paid", "{after}");
    let payments = json_of(app.get("/api/payments", &admin).await, 200).await;
    let payment = payments["data"][0].clone();
    assert_eq!(payments["data"].as_array().unwrap().len(), 1);
    let paid_at = chrono::DateTime::parse_from_rfc3339(payment["paid_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap());
    assert_eq!(paid_at.date_naive().to_string(), "2030-03-03", "{payment}");
    assert_eq!(payment["withholding_tax"]["amount"].as_i64().unwrap(), wht);
    assert!(
        payment["withholding_tax"]["certificate_no"].is_null(),
        "{payment}"
    );
    let payment_id = payment["id"].as_str().unwrap().to_owned();

    // The list: certificate pending, with its form.
    let page = browser.get(&history).await;
    assert!(page.body.contains("data-testid=\"certificate-pending\""));
    assert!(page.body.contains("3 มี.ค. 2573"), "the date received");
    let cert_path = format!("/billing/payments/{payment_id}/certificate");
    assert!(page.body.contains(&format!("action=\"{cert_path}\"")));
    // Empty: refused beside its form; reloading that address is not a 405 either.
    let empty = browser
        .post(
            &cert_path,
            &[
                ("certificate_no", " "),
                ("back_customer", &customer.to_string()),
            ],
        )
        .await;
    assert_eq!(empty.status, 422, "{}", empty.body);
    assert!(empty.body.contains(&format!("id=\"cert-{payment_id}-e\"")));
    let reloaded = browser.get(&cert_path).await;
    assert_eq!(reloaded.status, 303);
    // Every other form's address, reloaded, leads to the page the form is on.
    for (form, page) in [
        ("/billing/coupons".to_owned(), "/billing".to_owned()),
        ("/plans/alerts".to_owned(), "/plans".to_owned()),
        (
            format!("/customers/{customer}/contacts"),
            format!("/customers/{customer}"),
        ),
        ("/logout".to_owned(), "/".to_owned()),
    ] {
        let reloaded = browser.get(&form).await;
        assert_eq!(reloaded.status, 303, "{form}");
        assert_eq!(reloaded.location.as_deref(), Some(page.as_str()), "{form}");
    }
    // The certificate arrives.
    let attached = browser
        .post(
            &cert_path,
            &[
                ("certificate_no", "50T-2573-0042"),
                ("back_customer", &customer.to_string()),
            ],
        )
        .await;
    assert_eq!(attached.status, 303, "{}", attached.body);
    let back = attached.location.unwrap();
    assert!(back.contains("notice=certificate-recorded"), "{back}");
    let payments = json_of(app.get("/api/payments", &admin).await, 200).await;
    assert_eq!(
        payments["data"][0]["withholding_tax"]["certificate_no"],
        "50T-2573-0042"
    );
    assert_eq!(payments["data"][0]["paid_at"], payment["paid_at"]);
    let page = browser.get(&back).await;
    assert!(page.body.contains("50T-2573-0042"));
    assert!(!page.body.contains("data-testid=\"certificate-pending\""));
    assert!(page.body.contains("บันทึกเลขที่หนังสือรับรองแล้ว"));
}
