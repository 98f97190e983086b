//! The console in a real headless Chromium: a person's flows end to end, the accessibility
//! check, and (ignored by default) the README's screenshots.
//!
//! Run: `cargo test -p satang --test it console_browser` (needs chromium, chromium-driver and
//! fonts-thai-tlwg; CI installs them and sets SATANG_REQUIRE_BROWSER=1).
//! Screenshots: `cargo test -p satang --test it -- --ignored console_browser::screenshots`.

use serde_json::{Value, json};

use crate::common::browser::Browser;
use crate::common::{Backend, PASSWORD, spawn_with};

const GOOD_TAX_ID: &str = "0105560123454";
const BAD_TAX_ID: &str = "0105560123455";

async fn person_flows(backend: Backend) {
    // A fresh install: no administrator yet.
    let Some(app) = spawn_with(backend, |c| {
        c.admin_email = None;
        c.admin_password = None;
    })
    .await
    else {
        return;
    };
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let base = app.url.clone();

    // First run: / leads to the page that creates the first administrator.
    b.goto(&format!("{base}/")).await;
    assert_eq!(b.path().await, "/setup");
    assert!(b.body_text().await.contains("สร้างผู้ดูแลระบบคนแรก"));
    b.fill("#f-name", "สมชาย ใจดี").await;
    b.fill("#f-email", "somchai@farm.test").await;
    b.fill("#f-password", "weak").await;
    b.submit("[data-testid=setup-form] button[type=submit]")
        .await;
    assert!(
        b.exists("#e-password").await,
        "a weak password is refused next to the field"
    );
    b.fill("#f-password", PASSWORD).await;
    b.submit("[data-testid=setup-form] button[type=submit]")
        .await;
    b.wait_for("location.pathname === '/customers'").await;
    assert!(b.body_text().await.contains("ยังไม่มีลูกค้า"));
    // The setup page is gone once an administrator exists.
    b.goto(&format!("{base}/setup")).await;
    assert_eq!(b.path().await, "/login");

    // Sign out and in again.
    b.goto(&format!("{base}/customers")).await;
    b.submit("[data-testid=logout]").await;
    b.wait_for("location.pathname === '/login'").await;
    b.fill("#f-email", "somchai@farm.test").await;
    b.fill("#f-password", "wrong password!").await;
    b.submit("[data-testid=login-form] button[type=submit]")
        .await;
    assert!(b.body_text().await.contains("อีเมลหรือรหัสผ่านไม่ถูกต้อง"));
    b.fill("#f-password", PASSWORD).await;
    b.submit("[data-testid=login-form] button[type=submit]")
        .await;
    b.wait_for("location.pathname === '/customers'").await;

    // Create a customer: a bad tax id first (the dialog stays open with the error), then a good one.
    b.click("[data-testid=new-customer]").await;
    b.wait_for("document.getElementById('dlg-new-customer').open")
        .await;
    b.fill("#dlg-new-customer #f-name", "สหกรณ์การเกษตรบ้านนา")
        .await;
    b.fill("#dlg-new-customer #f-tax_id", BAD_TAX_ID).await;
    b.fill("#dlg-new-customer #f-email", "office@banna.test")
        .await;
    b.submit("[data-testid=customer-form] button[type=submit]")
        .await;
    b.wait_for("document.querySelector('#dlg-new-customer #e-tax_id')")
        .await;
    assert!(
        b.js("return document.getElementById('dlg-new-customer').open")
            .await
            == Value::Bool(true)
    );
    // The name typed is kept; only the tax id needs fixing.
    let kept = b
        .find("#dlg-new-customer #f-name")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("สหกรณ์การเกษตรบ้านนา"));
    b.fill("#dlg-new-customer #f-tax_id", GOOD_TAX_ID).await;
    b.submit("[data-testid=customer-form] button[type=submit]")
        .await;
    b.wait_for("location.pathname.startsWith('/customers/')")
        .await;
    assert_eq!(
        b.text("[data-testid=customer-name]").await,
        "สหกรณ์การเกษตรบ้านนา"
    );
    assert!(b.text(".notice").await.contains("เพิ่มลูกค้าแล้ว"));
    let customer_id = b
        .path()
        .await
        .split('/')
        .nth(2)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();

    // Search as you type finds it by a Thai substring.
    b.fill("#q", "บ้านนา").await;
    b.wait_for("document.querySelectorAll('[data-testid=customer-list] li').length === 1")
        .await;

    // Add a contact.
    b.goto(&format!("{base}/customers/{customer_id}?tab=contacts"))
        .await;
    b.click("[data-testid=new-contact]").await;
    b.fill("#dlg-new-contact #f-name", "คุณมาลี").await;
    b.fill("#dlg-new-contact #f-email", "malee@banna.test")
        .await;
    b.select("#dlg-new-contact #f-contact-role", "billing")
        .await;
    b.submit("[data-testid=contact-form] button[type=submit]")
        .await;
    b.wait_for("document.querySelector('[data-testid=contacts]')")
        .await;
    assert!(b.text("[data-testid=contacts]").await.contains("คุณมาลี"));

    // Subscribe to PRO monthly.
    let token = app.login("somchai@farm.test", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let plans = app
        .get("/api/plans?limit=200", &token)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let plan = |code: &str| -> (String, i64) {
        let p = plans["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["code"] == code && p["interval"] == "month")
            .unwrap_or_else(|| panic!("plan {code}"));
        (
            p["id"].as_str().unwrap().to_owned(),
            p["price"].as_i64().unwrap(),
        )
    };
    let (pro, _) = plan("PRO");
    let (enterprise, _) = plan("ENTERPRISE");
    b.goto(&format!("{base}/customers/{customer_id}?tab=subscriptions"))
        .await;
    b.click("[data-testid=new-subscription]").await;
    b.select("#f-plan", &pro).await;
    b.fill("#f-trial_days", "0").await;
    b.submit("[data-testid=subscription-form] button[type=submit]")
        .await;
    b.wait_for("document.querySelector('[data-testid=subscriptions]')")
        .await;

    // Preview an upgrade, check the figure against the API's own preview, confirm.
    let subs = app
        .get(
            &format!("/api/customers/{customer_id}/subscriptions"),
            &token,
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let sub_id = subs["data"][0]["id"].as_str().unwrap().to_owned();
    let expected = app
        .post(
            &format!("/api/subscriptions/{sub_id}/change-plan"),
            Some(&token),
            json!({ "plan_id": enterprise, "preview": true }),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let expected_total = expected["proration"]["total"].as_i64().unwrap();
    assert!(
        expected_total > 0,
        "an upgrade costs something now: {expected}"
    );
    b.click("[data-testid=change-plan]").await;
    b.select(&format!("#f-change-plan-{sub_id}"), &enterprise)
        .await;
    b.submit(&format!(
        "#dlg-change-{sub_id} [data-testid=preview-change]"
    ))
    .await;
    let shown = b.text("[data-testid=proration-total]").await;
    assert_eq!(
        shown,
        baht(expected_total),
        "the preview shows the API's figure"
    );
    b.submit("[data-testid=confirm-change]").await;
    b.wait_for("location.search.includes('notice=plan-changed')")
        .await;
    let after = app
        .get(&format!("/api/subscriptions/{sub_id}"), &token)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(after["plan_id"], json!(enterprise));

    // The invoices tab lists the proration invoice; its PDF downloads through the session.
    let invoices = app
        .get(&format!("/api/customers/{customer_id}/invoices"), &token)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let issued = invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| !i["number"].is_null())
        .expect("an issued invoice")
        .clone();
    b.goto(&format!("{base}/customers/{customer_id}?tab=invoices"))
        .await;
    assert!(
        b.text("[data-testid=invoices]")
            .await
            .contains(issued["number"].as_str().unwrap())
    );
    let pdf = b
        .js_async(&format!(
            "const done = arguments[arguments.length - 1];
             fetch('/invoices/{}/pdf').then(async r => {{
               const bytes = new Uint8Array(await r.arrayBuffer());
               done([r.status, r.headers.get('content-type'), String.fromCharCode(...bytes.slice(0, 5)), bytes.length]);
             }});",
            issued["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(pdf[0], 200);
    assert_eq!(pdf[1], "application/pdf");
    assert_eq!(pdf[2], "%PDF-");

    // Record the payment of that invoice on the billing page: 3 % withholding tax of the
    // pre-VAT amount and the rest, as the dialog proposes, with the 50 ทวิ certificate number.
    assert_eq!(
        issued["status"], "open",
        "the upgrade's invoice waits for payment: {issued}"
    );
    let invoice_id = issued["id"].as_str().unwrap();
    b.goto(&format!(
        "{base}/billing?tab=history&customer={customer_id}&dialog=pay-{invoice_id}"
    ))
    .await;
    let wht_expected = (issued["subtotal"].as_i64().unwrap() * 3 + 50) / 100;
    let wht_shown = b
        .find(&format!("#pay-wht-{invoice_id}"))
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(wht_shown, baht(wht_expected).trim_start_matches('฿'));
    b.fill(&format!("#pay-cert-{invoice_id}"), "WHT-2569-0042")
        .await;
    b.submit(&format!(
        "#dlg-pay-{invoice_id} [data-testid=confirm-payment]"
    ))
    .await;
    let paid = app
        .get(&format!("/api/invoices/{invoice_id}"), &token)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["withholding_tax"].as_i64().unwrap(), wht_expected);

    // English, then dark.
    b.submit("[data-testid=lang-toggle]").await;
    b.wait_for("document.documentElement.lang === 'en'").await;
    let nav = b.text(".sidenav").await;
    assert!(
        nav.contains("Customers") && nav.contains("Billing"),
        "{nav}"
    );
    b.submit("[data-testid=theme-toggle]").await;
    b.wait_for("document.documentElement.dataset.theme === 'dark'")
        .await;
    let background = b
        .js("return getComputedStyle(document.body).backgroundColor")
        .await;
    assert_eq!(background, "rgb(11, 18, 32)");
    b.submit("[data-testid=logout]").await;
    b.wait_for("location.pathname === '/login'").await;

    // A member sees their customer in the portal, and nothing of another customer.
    let other = app
        .post(
            "/api/customers",
            Some(&token),
            json!({ "name": "ไร่ส้มดอยแม่สลอง" }),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    app.signup("owner@banna.test").await;
    let added = app
        .post(
            &format!("/api/customers/{customer_id}/members"),
            Some(&token),
            json!({ "email": "owner@banna.test", "role": "owner" }),
        )
        .await;
    assert!(added.status().is_success(), "{:?}", added.text().await);
    b.fill("#f-email", "owner@banna.test").await;
    b.fill("#f-password", PASSWORD).await;
    b.submit("[data-testid=login-form] button[type=submit]")
        .await;
    b.wait_for("location.pathname.startsWith('/portal/')").await;
    assert_eq!(
        b.text("[data-testid=portal-customer]").await,
        "สหกรณ์การเกษตรบ้านนา"
    );
    assert!(
        b.text("[data-testid=portal-invoices]")
            .await
            .contains(issued["number"].as_str().unwrap())
    );
    b.goto(&format!("{base}/portal/{}", other["id"].as_str().unwrap()))
        .await;
    assert!(
        b.body_text().await.contains("Not found"),
        "another customer's portal is 404"
    );
    assert!(!b.body_text().await.contains("ไร่ส้มดอยแม่สลอง"));
    b.goto(&format!(
        "{base}/customers/{}",
        other["id"].as_str().unwrap()
    ))
    .await;
    assert!(
        b.body_text().await.contains("Not allowed"),
        "members cannot open staff pages"
    );

    b.close().await;
}

/// `฿1,234.50` for satang, as the console writes it.
fn baht(satang: i64) -> String {
    let whole = (satang / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("฿{grouped}.{:02}", satang % 100)
}

both_backends!(person_flows);

/// The demo's staff pages and a member's portal pass axe-core without serious or critical
/// violations, in Thai and English, light and dark.
async fn accessibility(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| c.demo = true).await else {
        return;
    };
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let base = app.url.clone();
    let token = app.login(crate::common::ADMIN_EMAIL, PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let customers = app
        .get("/api/customers?limit=1", &token)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let customer = customers["data"][0]["id"].as_str().unwrap().to_owned();
    // An open invoice of the demo: its page and its dialogs.
    let open = app
        .get("/api/invoices?status=open&limit=1", &token)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let invoice = open["data"][0]["id"].as_str().unwrap().to_owned();

    let mut failures = Vec::new();
    let mut check = async |b: &Browser, path: &str| {
        b.goto(&format!("{base}{path}")).await;
        if let Some(violations) = b.serious_accessibility_violations().await
            && !violations.is_empty()
        {
            failures.push(format!("{path}: {}", Value::Array(violations)));
        }
    };
    check(&b, "/login").await;
    sign_in(&b, &base, crate::common::ADMIN_EMAIL, PASSWORD).await;
    for theme in ["light", "dark"] {
        set_theme(&b, theme).await;
        for tab in [
            "overview",
            "subscriptions",
            "contacts",
            "users",
            "invoices",
            "credits",
        ] {
            check(&b, &format!("/customers/{customer}?tab={tab}")).await;
        }
        check(&b, "/customers?dialog=new-customer").await;
        check(
            &b,
            &format!("/billing?tab=methods&customer={customer}&dialog=new-method"),
        )
        .await;
        for page in STAFF_PAGES {
            check(&b, page).await;
        }
        check(&b, &format!("/invoices/{invoice}")).await;
        check(&b, &format!("/invoices/{invoice}?dialog=credit-note")).await;
    }
    b.goto(&format!("{base}/customers")).await;
    b.submit("[data-testid=lang-toggle]").await;
    b.wait_for("document.documentElement.lang === 'en'").await;
    check(&b, &format!("/customers/{customer}?tab=subscriptions")).await;
    check(&b, &format!("/invoices/{invoice}")).await;
    b.submit("[data-testid=logout]").await;
    sign_in(&b, &base, DEMO_OWNER, DEMO_PASSWORD).await;
    check(&b, "/portal").await;
    assert!(
        failures.is_empty(),
        "serious accessibility violations:\n{}",
        failures.join("\n")
    );
    b.close().await;
}

const DEMO_OWNER: &str = "owner@banna.coop";
const DEMO_PASSWORD: &str = "Satang-demo-2569";
/// Staff pages other than the customer panel, checked and photographed.
const STAFF_PAGES: &[&str] = &[
    "/billing",
    "/billing?tab=plans",
    "/billing?tab=history",
    "/reports",
    "/imports",
    "/plans",
    "/users",
    "/webhooks",
    "/audit",
    "/settings",
];

async fn sign_in(b: &Browser, base: &str, email: &str, password: &str) {
    b.goto(&format!("{base}/login")).await;
    b.fill("#f-email", email).await;
    b.fill("#f-password", password).await;
    b.submit("[data-testid=login-form] button[type=submit]")
        .await;
    b.wait_for("location.pathname !== '/login'").await;
}

async fn set_theme(b: &Browser, theme: &str) {
    // From a page without an open dialog.
    let url = b.client.current_url().await.expect("url");
    b.goto(&format!("{}://{}/", url.scheme(), url.authority()))
        .await;
    // The toggle offers the other theme; from "system" it offers dark first.
    for _ in 0..2 {
        let before = b.js("return document.documentElement.dataset.theme").await;
        if before == theme {
            return;
        }
        b.submit("[data-testid=theme-toggle]").await;
        b.wait_for(&format!(
            "document.documentElement.dataset.theme !== {before} && document.readyState === 'complete'"
        ))
        .await;
    }
    assert_eq!(
        b.js("return document.documentElement.dataset.theme").await,
        theme
    );
}

/// The README's screenshots: the main pages at 1440 px and 375 px, Thai, light and dark, from
/// the demo data. `cargo test -p satang --test it -- --ignored console_browser::screenshots`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/screenshots; run by hand"]
async fn screenshots() {
    let Some(app) = spawn_with(Backend::Sqlite, |c| c.demo = true).await else {
        return;
    };
    let base = app.url.clone();
    let token = app.login(crate::common::ADMIN_EMAIL, PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let customers = app
        .get("/api/customers?q=banna", &token)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let customer = customers["data"][0]["id"].as_str().unwrap().to_owned();
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&out).unwrap();
    for (width, height) in [(1440, 900), (375, 812)] {
        let Some(b) = Browser::start(width, height).await else {
            return;
        };
        b.goto(&format!("{base}/login")).await;
        b.screenshot(&out.join(format!("login-{width}-light.png")))
            .await;
        sign_in(&b, &base, crate::common::ADMIN_EMAIL, PASSWORD).await;
        for theme in ["light", "dark"] {
            set_theme(&b, theme).await;
            let pages = [
                ("customers", format!("/customers/{customer}?tab=overview")),
                (
                    "subscriptions",
                    format!("/customers/{customer}?tab=subscriptions"),
                ),
                ("billing", "/billing".to_owned()),
            ];
            for (name, path) in pages {
                b.goto(&format!("{base}{path}")).await;
                b.screenshot(&out.join(format!("{name}-{width}-{theme}.png")))
                    .await;
            }
        }
        b.submit("[data-testid=logout]").await;
        sign_in(&b, &base, DEMO_OWNER, DEMO_PASSWORD).await;
        for theme in ["light", "dark"] {
            set_theme(&b, theme).await;
            b.goto(&format!("{base}/portal")).await;
            b.screenshot(&out.join(format!("portal-{width}-{theme}.png")))
                .await;
        }
        b.close().await;
    }
}

both_backends!(accessibility);

/// One coupon, from its creation in Billing › Coupons to a discounted invoice, in the console:
/// created in its dialog, redeemed on a subscription from the customer's subscriptions tab, the
/// upcoming invoice showing the discount, then the billing run's invoice with the same figures
/// on the invoices tab. Then credit granted and voided on the customer's credits tab, and the
/// upcoming invoice in English.
async fn a_coupon_from_creation_to_a_discounted_invoice(backend: Backend) {
    let Some((app, _)) = crate::common::spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let base = app.url.clone();
    let farm = crate::common::billing::insert_customer(&app, "สหกรณ์ข้าวหอมมะลิ", "active").await;
    sign_in(&b, &base, crate::common::ADMIN_EMAIL, PASSWORD).await;

    // Billing › Coupons: 20 % off for three periods.
    b.goto(&format!("{base}/billing?tab=coupons")).await;
    b.click("[data-testid=new-coupon]").await;
    b.wait_for("document.getElementById('dlg-new-coupon').open")
        .await;
    b.fill("#dlg-new-coupon #f-code", "RICE20").await;
    b.fill("#dlg-new-coupon #f-name_th", "ส่วนลดข้าวหอม").await;
    b.fill("#dlg-new-coupon #f-percent_off", "20").await;
    b.select("#dlg-new-coupon #f-duration", "repeating").await;
    b.fill("#dlg-new-coupon #f-duration_in_periods", "3").await;
    b.submit("[data-testid=create-coupon]").await;
    b.wait_for("location.search.includes('notice=coupon-created')")
        .await;
    assert!(
        b.text("[data-testid=billing-coupons]")
            .await
            .contains("RICE20")
    );

    // PRO from today, invoiced by e-mail; then the coupon, typed in lower case, on its row.
    let token = app.admin_token().await;
    let plans = app
        .get("/api/plans?limit=200", &token)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let pro = plans["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "PRO" && p["interval"] == "month")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    b.goto(&format!("{base}/customers/{farm}?tab=subscriptions"))
        .await;
    b.click("[data-testid=new-subscription]").await;
    b.select("#f-plan", &pro).await;
    b.fill("#f-trial_days", "0").await;
    b.select("#f-collection", "send_invoice").await;
    b.submit("[data-testid=subscription-form] button[type=submit]")
        .await;
    b.wait_for("document.querySelector('[data-testid=subscriptions]')")
        .await;
    let subs = app
        .get(&format!("/api/customers/{farm}/subscriptions"), &token)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let sub = subs["data"][0]["id"].as_str().unwrap().to_owned();
    b.click("[data-testid=apply-discount]").await;
    b.wait_for(&format!(
        "document.getElementById('dlg-discount-{sub}').open"
    ))
    .await;
    b.fill(&format!("#f-coupon-{sub}"), "rice20").await;
    b.submit(&format!(
        "#dlg-discount-{sub} [data-testid=confirm-discount]"
    ))
    .await;
    b.wait_for("location.search.includes('notice=subscription-discount')")
        .await;
    assert!(
        b.text("[data-testid=subscription-discount]")
            .await
            .contains("RICE20")
    );

    // The upcoming invoice: ฿990.00 − 20 % (฿198.00) = ฿792.00, VAT ฿55.44, ฿847.44; the
    // same figure as the API's.
    let upcoming = app
        .get(
            &format!("/api/subscriptions/{sub}/upcoming-invoice"),
            &token,
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(upcoming["total"], 84_744, "{upcoming}");
    assert_eq!(b.text("[data-testid=upcoming-total]").await, baht(84_744));
    assert!(
        b.text("[data-testid=upcoming-discount]")
            .await
            .contains("RICE20")
    );

    // The period ends; the run issues the discounted invoice, which the invoices tab lists.
    let admin = crate::common::billing::set_date(&app, "2030-02-10").await;
    let report = crate::common::billing::run_billing(&app, &admin).await;
    assert_eq!(report["invoices_created"], 1, "{report}");
    let invoices = app
        .get(&format!("/api/invoices?subscription_id={sub}"), &admin)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let issued = invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["period_start"] == "2030-02-10")
        .expect("February's invoice")
        .clone();
    assert_eq!(
        (&issued["discount"], &issued["total"]),
        (&json!(19_800), &json!(84_744))
    );
    assert_eq!(issued["discounts"][0]["coupon_code"], "RICE20");
    // A month later the browser's session has expired: sign in again.
    sign_in(&b, &base, crate::common::ADMIN_EMAIL, PASSWORD).await;
    b.goto(&format!("{base}/customers/{farm}?tab=invoices"))
        .await;
    let listed = b.text("[data-testid=invoices]").await;
    assert!(
        listed.contains(issued["number"].as_str().unwrap()) && listed.contains(&baht(84_744)),
        "{listed}"
    );

    // Credits: ฿100.00 of promotional credit until the end of the year, then voided.
    b.goto(&format!("{base}/customers/{farm}?tab=credits"))
        .await;
    b.click("[data-testid=new-credit]").await;
    b.wait_for("document.getElementById('dlg-new-credit').open")
        .await;
    b.select("#f-credit-type", "promotional").await;
    b.fill("#dlg-new-credit #f-amount", "100.00").await;
    b.js("document.getElementById('f-valid_until').value = '2030-12-31'; return 1;")
        .await;
    b.fill("#dlg-new-credit #f-note", "ขอบคุณที่ใช้บริการ").await;
    b.submit("[data-testid=create-credit]").await;
    b.wait_for("location.search.includes('notice=credit-granted')")
        .await;
    let table = b.text("[data-testid=credit-grants]").await;
    assert!(
        table.contains("฿100.00") && table.contains("ขอบคุณที่ใช้บริการ"),
        "{table}"
    );
    let grants = app
        .get(&format!("/api/customers/{farm}/credit-grants"), &admin)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(grants["data"][0]["amount"], 10_000);
    assert_eq!(grants["data"][0]["expires_at"], "2030-12-31T17:00:00Z");
    b.submit("[data-testid=void-credit]").await;
    b.wait_for("location.search.includes('notice=credit-voided')")
        .await;
    assert!(
        b.text("[data-testid=credit-grants]")
            .await
            .contains("ยกเลิกแล้ว")
    );

    // In English, the upcoming invoice (March, the coupon's second period).
    b.submit("[data-testid=lang-toggle]").await;
    b.wait_for("document.documentElement.lang === 'en'").await;
    b.goto(&format!("{base}/customers/{farm}?tab=subscriptions"))
        .await;
    assert!(b.body_text().await.contains("Upcoming invoice"));
    assert_eq!(b.text("[data-testid=upcoming-total]").await, baht(84_744));
    b.close().await;
}

both_backends!(a_coupon_from_creation_to_a_discounted_invoice);
