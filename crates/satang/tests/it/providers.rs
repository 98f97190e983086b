//! Payment providers (SPEC §2.13) on both databases, against local stand-ins of Opn Payments
//! and Stripe that follow their published APIs (`common::providers`): keys kept secret, an
//! invoice paid by PromptPay through each provider, forged and replayed webhooks changing
//! nothing, concurrent deliveries recording one payment, payment links, cards kept at the
//! provider and charged by automatic collection without a double charge when the provider
//! fails mid-way, and one-off card payments by the token of the provider's script.

use serde_json::{Value, json};

use crate::common::billing::{insert_customer, open_invoice, run_billing, set_clock};
use crate::common::providers::{
    self as standin, OPN_PUBLIC, OPN_SECRET, STRIPE_PUBLISHABLE, STRIPE_SECRET,
    STRIPE_WEBHOOK_SECRET, StandIn,
};
use crate::common::{Backend, TestApp, expect_problem, json_of, ok, spawn_with};

both_backends!(
    promptpay_through_opn_pays_an_invoice_once,
    promptpay_through_stripe_needs_a_valid_signature,
    cards_kept_at_a_provider_are_charged_once,
    a_person_pays_on_the_pay_page_without_signing_in,
    a_card_token_pays_an_invoice_at_once,
);

async fn spawn_providers(backend: Backend, clocked: bool) -> Option<(TestApp, StandIn, StandIn)> {
    let opn = standin::opn().await;
    let stripe = standin::stripe().await;
    let (o, s) = (opn.url.clone(), stripe.url.clone());
    let app = spawn_with(backend, move |c| {
        c.opn_api_url = o;
        c.stripe_api_url = s;
        if clocked {
            c.test_clock = true;
            c.billing_interval = 0;
        }
    })
    .await?;
    Some((app, opn, stripe))
}

async fn configure(app: &TestApp, admin: &str) -> Value {
    ok(app
        .patch(
            "/api/settings",
            admin,
            json!({"providers": {
                "opn": {"public_key": OPN_PUBLIC, "secret_key": OPN_SECRET},
                "stripe": {"secret_key": STRIPE_SECRET, "publishable_key": STRIPE_PUBLISHABLE,
                           "webhook_secret": STRIPE_WEBHOOK_SECRET}}}),
        )
        .await)
    .await
}

async fn payments_of(app: &TestApp, token: &str, invoice: &Value) -> Vec<Value> {
    let id = invoice["id"].as_str().unwrap();
    let page = ok(app
        .get(&format!("/api/payments?invoice_id={id}"), token)
        .await)
    .await;
    page["data"].as_array().unwrap().clone()
}

async fn invoice_now(app: &TestApp, token: &str, invoice: &Value) -> Value {
    let id = invoice["id"].as_str().unwrap();
    ok(app.get(&format!("/api/invoices/{id}"), token).await).await
}

async fn start(
    app: &TestApp,
    token: Option<&str>,
    invoice: &Value,
    provider: &str,
) -> reqwest::Response {
    let id = invoice["id"].as_str().unwrap();
    app.post(
        &format!("/api/invoices/{id}/payment-intents"),
        token,
        json!({"provider": provider, "method": "promptpay"}),
    )
    .await
}

async fn post_raw(
    app: &TestApp,
    path: &str,
    body: Vec<u8>,
    signature: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.at(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(s) = signature {
        req = req.header("Stripe-Signature", s);
    }
    req.send().await.unwrap()
}

async fn opn_webhook(app: &TestApp, event: &Value) -> reqwest::Response {
    post_raw(
        app,
        "/api/providers/opn/webhook",
        serde_json::to_vec(event).unwrap(),
        None,
    )
    .await
}

async fn promptpay_through_opn_pays_an_invoice_once(backend: Backend) {
    let Some((app, opn, _stripe)) = spawn_providers(backend, false).await else {
        return;
    };
    let admin = app.admin_token().await;

    // Keys: shown back as last four characters only, never in the audit log either.
    let settings = configure(&app, &admin).await;
    assert_eq!(settings["providers"]["opn"]["configured"], true);
    assert_eq!(settings["providers"]["opn"]["public_key"], OPN_PUBLIC);
    assert_eq!(settings["providers"]["opn"]["secret_key_last4"], "ndin");
    assert_eq!(
        settings["providers"]["stripe"]["webhook_secret_last4"],
        "cret"
    );
    let shown = ok(app.get("/api/settings", &admin).await).await.to_string();
    let audit = ok(app.get("/api/audit-events?limit=200", &admin).await)
        .await
        .to_string();
    for secret in [OPN_SECRET, STRIPE_SECRET, STRIPE_WEBHOOK_SECRET] {
        assert!(
            !shown.contains(secret) && !audit.contains(secret),
            "{secret} shown"
        );
    }
    assert!(audit.contains("settings.providers_changed"));
    let bad = app
        .patch(
            "/api/settings",
            &admin,
            json!({"providers": {"opn": {"public_key": "nope", "secret_key": OPN_SECRET}}}),
        )
        .await;
    let problem = expect_problem(bad, 422).await;
    assert!(
        problem["errors"]["providers.opn.public_key"].is_array(),
        "{problem}"
    );

    let customer = insert_customer(&app, "ฟาร์มสุขใจ", "active").await;
    let invoice = open_invoice(&app, &admin, customer).await;
    assert_eq!(invoice["amount_due"], 107_000);

    // PromptPay through Opn: a charge with an inline promptpay source, its QR as SVG.
    let intent = json_of(start(&app, Some(&admin), &invoice, "opn").await, 201).await;
    assert_eq!(
        (
            &intent["status"],
            &intent["amount"],
            &intent["currency"],
            &intent["provider"]
        ),
        (
            &json!("pending"),
            &json!(107_000),
            &json!("THB"),
            &json!("opn")
        )
    );
    let charge_id = intent["provider_ref"].as_str().unwrap().to_owned();
    assert!(charge_id.starts_with("chrg_test_"));
    assert!(
        intent["qr_svg"]
            .as_str()
            .unwrap()
            .contains(&format!("PromptPay {charge_id}"))
    );
    let sent = opn.seen("/charges");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].field("amount"), Some("107000"));
    assert_eq!(sent[0].field("currency"), Some("thb"));
    assert_eq!(sent[0].field("source[type]"), Some("promptpay"));
    assert_eq!(
        sent[0].field("metadata[invoice_id]"),
        invoice["id"].as_str()
    );
    assert!(sent[0].idempotency_key.is_some());
    // Asking again hands out the same pending QR.
    let again = json_of(start(&app, Some(&admin), &invoice, "opn").await, 201).await;
    assert_eq!(again["id"], intent["id"]);
    assert_eq!(opn.created("chrg_"), 1);

    // A forged event claiming success: Opn says the charge is still pending → nothing.
    let mut forged = opn.object(&charge_id);
    forged["status"] = json!("successful");
    let res = ok(opn_webhook(&app, &standin::opn_event("evnt_test_forged", &forged)).await).await;
    assert_eq!(res["result"], "ignored");
    let res = opn_webhook(
        &app,
        &standin::opn_event(
            "evnt_test_x",
            &json!({"object": "charge", "id": "chrg_test_nosuch"}),
        ),
    )
    .await;
    expect_problem(res, 400).await;
    expect_problem(
        post_raw(
            &app,
            "/api/providers/opn/webhook",
            b"{not json".to_vec(),
            None,
        )
        .await,
        400,
    )
    .await;
    assert!(payments_of(&app, &admin, &invoice).await.is_empty());
    assert_eq!(invoice_now(&app, &admin, &invoice).await["status"], "open");

    // The customer scans and pays; Opn posts charge.complete.
    let charge = opn.opn_settle(&charge_id, "successful");
    let event = standin::opn_event("evnt_test_paid", &charge);
    let res = ok(opn_webhook(&app, &event).await).await;
    assert_eq!(res["result"], "recorded");
    let paid = invoice_now(&app, &admin, &invoice).await;
    assert_eq!(
        (&paid["status"], &paid["amount_due"]),
        (&json!("paid"), &json!(0))
    );
    let payments = payments_of(&app, &admin, &invoice).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(
        (
            &payments[0]["method"],
            &payments[0]["reference"],
            &payments[0]["amount"]
        ),
        (&json!("promptpay"), &json!(charge_id), &json!(107_000))
    );
    // The replay and a second event about the same charge change nothing.
    assert_eq!(
        ok(opn_webhook(&app, &event).await).await["result"],
        "replayed"
    );
    let other = standin::opn_event("evnt_test_other", &charge);
    assert_eq!(
        ok(opn_webhook(&app, &other).await).await["result"],
        "already_applied"
    );
    assert_eq!(payments_of(&app, &admin, &invoice).await.len(), 1);

    // Eight deliveries at once (distinct event ids, one charge): one payment.
    let second = open_invoice(&app, &admin, customer).await;
    let intent = json_of(start(&app, Some(&admin), &second, "opn").await, 201).await;
    let charge = opn.opn_settle(intent["provider_ref"].as_str().unwrap(), "successful");
    let deliveries = (0..8).map(|i| {
        let event = standin::opn_event(&format!("evnt_test_burst{i}"), &charge);
        let app = &app;
        async move { opn_webhook(app, &event).await.status().as_u16() }
    });
    let statuses = futures::future::join_all(deliveries).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(payments_of(&app, &admin, &second).await.len(), 1);
    assert_eq!(invoice_now(&app, &admin, &second).await["status"], "paid");

    // A burst over six invoices, one of whose charges is in the wrong currency: deliveries
    // arriving together share a transaction, and the bad one fails alone.
    let mut burst = Vec::new();
    for _ in 0..6 {
        let invoice = open_invoice(&app, &admin, customer).await;
        let intent = json_of(start(&app, Some(&admin), &invoice, "opn").await, 201).await;
        let charge = opn.opn_settle(intent["provider_ref"].as_str().unwrap(), "successful");
        burst.push((invoice, charge));
    }
    let bad = burst[3].1["id"].as_str().unwrap().to_owned();
    burst[3].1 = opn.opn_set(&bad, "currency", json!("usd"));
    let deliveries = burst.iter().enumerate().map(|(i, (_, charge))| {
        let event = standin::opn_event(&format!("evnt_test_mixed{i}"), charge);
        let app = &app;
        async move { opn_webhook(app, &event).await.status().as_u16() }
    });
    let statuses = futures::future::join_all(deliveries).await;
    assert_eq!(statuses, [200, 200, 200, 422, 200, 200]);
    for (i, (invoice, _)) in burst.iter().enumerate() {
        let (status, paid) = if i == 3 { ("open", 0) } else { ("paid", 1) };
        assert_eq!(invoice_now(&app, &admin, invoice).await["status"], status);
        assert_eq!(payments_of(&app, &admin, invoice).await.len(), paid);
    }
    // Receipts numbered together at a batch's end: the series stays gapless, in issue order.
    let docs = ok(app.get("/api/tax-documents?limit=200", &admin).await).await;
    let mut receipts: Vec<String> = docs["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["type"] == "receipt_tax_invoice")
        .map(|d| d["number"].as_str().unwrap().to_owned())
        .collect();
    assert!(receipts.len() >= 7, "{receipts:?}");
    let in_issue_order = receipts.clone();
    receipts.sort();
    assert_eq!(
        receipts, in_issue_order,
        "numbers follow the order of issue"
    );
    let sequence: Vec<u32> = receipts
        .iter()
        .map(|n| n.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(sequence, (1..=sequence.len() as u32).collect::<Vec<_>>());

    // A payment link: the public pay page, and PromptPay through it without signing in.
    let third = open_invoice(&app, &admin, customer).await;
    let id = third["id"].as_str().unwrap();
    let (url, token) = standin::payment_link(&app, &admin, &third).await;
    let (url, token) = (url.as_str(), token.as_str());
    assert!(url.starts_with(&format!("{}/pay/", app.url)) || url.contains("/pay/"));
    let page = ok(app
        .client
        .get(app.at(&format!("/api/pay/{token}")))
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(
        (&page["amount_due"], &page["paid"]),
        (&json!(107_000), &json!(false))
    );
    assert_eq!(page["number"], third["number"]);
    assert_eq!(page["providers"][0]["provider"], "opn");
    assert_eq!(page["providers"][0]["public_key"], OPN_PUBLIC);
    let by_link = app
        .client
        .post(app.at(&format!("/api/invoices/{id}/payment-intents")))
        .header("X-Payment-Link", token)
        .json(&json!({"provider": "opn", "method": "promptpay"}))
        .send()
        .await
        .unwrap();
    let intent = json_of(by_link, 201).await;
    // The link opens its own invoice only; a tampered or missing token opens nothing.
    let other_id = second["id"].as_str().unwrap();
    let res = app
        .client
        .post(app.at(&format!("/api/invoices/{other_id}/payment-intents")))
        .header("X-Payment-Link", token)
        .json(&json!({"provider": "opn", "method": "promptpay"}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 404).await;
    let mut tampered = token.to_owned();
    tampered.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
    let res = app
        .client
        .get(app.at(&format!("/api/pay/{tampered}")))
        .send()
        .await
        .unwrap();
    expect_problem(res, 404).await;
    expect_problem(start(&app, None, &third, "opn").await, 401).await;
    let charge = opn.opn_settle(intent["provider_ref"].as_str().unwrap(), "successful");
    ok(opn_webhook(&app, &standin::opn_event("evnt_test_link", &charge)).await).await;
    let page = ok(app
        .client
        .get(app.at(&format!("/api/pay/{token}")))
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(
        (&page["paid"], &page["amount_due"]),
        (&json!(true), &json!(0))
    );

    // Bad requests: an unknown provider, a paid invoice.
    let res = app
        .post(
            &format!("/api/invoices/{id}/payment-intents"),
            Some(&admin),
            json!({"provider": "paypal", "method": "promptpay"}),
        )
        .await;
    expect_problem(res, 422).await;
    expect_problem(start(&app, Some(&admin), &third, "opn").await, 409).await;

    // Opn failing (500): a clear 502 problem, nothing kept; the next try makes the one intent.
    let fourth = open_invoice(&app, &admin, customer).await;
    opn.fail_next_before_acting(1);
    let problem = expect_problem(start(&app, Some(&admin), &fourth, "opn").await, 502).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("answered 500"),
        "{problem}"
    );
    let intent = json_of(start(&app, Some(&admin), &fourth, "opn").await, 201).await;
    assert_eq!(intent["status"], "pending");
}

async fn promptpay_through_stripe_needs_a_valid_signature(backend: Backend) {
    let Some((app, _opn, stripe)) = spawn_providers(backend, false).await else {
        return;
    };
    let admin = app.admin_token().await;
    configure(&app, &admin).await;
    let customer = insert_customer(&app, "ไร่ทองคำ", "active").await;
    let invoice = open_invoice(&app, &admin, customer).await;

    let intent = json_of(start(&app, Some(&admin), &invoice, "stripe").await, 201).await;
    let pi = intent["provider_ref"].as_str().unwrap().to_owned();
    assert!(pi.starts_with("pi_test_"));
    assert_eq!(intent["status"], "pending");
    assert!(
        intent["qr_svg"].as_str().unwrap().starts_with("<?xml")
            || intent["qr_svg"].as_str().unwrap().contains("<svg")
    );
    let sent = stripe.seen("/v1/payment_intents");
    assert_eq!(
        sent.len(),
        1,
        "the stand-in accepted every parameter Satang sent"
    );
    assert_eq!(sent[0].field("payment_method_types[]"), Some("promptpay"));
    assert_eq!(
        sent[0].field("payment_method_data[type]"),
        Some("promptpay")
    );
    assert_eq!(sent[0].field("confirm"), Some("true"));
    assert_eq!(sent[0].field("amount"), Some("107000"));
    assert!(sent[0].idempotency_key.is_some());
    assert_eq!(sent[0].api_version.as_deref(), Some("2024-06-20"));

    // Unsigned, wrongly signed, stale: 400 and nothing changes.
    let paid = stripe.stripe_succeed(&pi);
    let now = chrono::Utc::now().timestamp();
    let (body, signature) = standin::stripe_event(
        "evt_test_1",
        "payment_intent.succeeded",
        &paid,
        STRIPE_WEBHOOK_SECRET,
        now,
    );
    let path = "/api/providers/stripe/webhook";
    expect_problem(post_raw(&app, path, body.clone(), None).await, 400).await;
    let (_, wrong) = standin::stripe_event(
        "evt_test_1",
        "payment_intent.succeeded",
        &paid,
        "whsec_not_ours",
        now,
    );
    expect_problem(post_raw(&app, path, body.clone(), Some(&wrong)).await, 400).await;
    let (old_body, old) = standin::stripe_event(
        "evt_test_1",
        "payment_intent.succeeded",
        &paid,
        STRIPE_WEBHOOK_SECRET,
        now - 301,
    );
    expect_problem(post_raw(&app, path, old_body, Some(&old)).await, 400).await;
    let mut altered = body.clone();
    let at = altered.iter().position(|b| *b == b'7').unwrap();
    altered[at] = b'8';
    expect_problem(post_raw(&app, path, altered, Some(&signature)).await, 400).await;
    assert!(payments_of(&app, &admin, &invoice).await.is_empty());

    // Signed: recorded once; the reference is the charge.
    let res = ok(post_raw(&app, path, body.clone(), Some(&signature)).await).await;
    assert_eq!(res["result"], "recorded");
    assert_eq!(
        ok(post_raw(&app, path, body, Some(&signature)).await).await["result"],
        "replayed"
    );
    let payments = payments_of(&app, &admin, &invoice).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["reference"], paid["latest_charge"]);
    assert_eq!(invoice_now(&app, &admin, &invoice).await["status"], "paid");

    // Money for an invoice settled meanwhile goes to the customer's credit balance.
    let second = open_invoice(&app, &admin, customer).await;
    let intent = json_of(start(&app, Some(&admin), &second, "stripe").await, 201).await;
    let id = second["id"].as_str().unwrap();
    ok(app
        .post(
            &format!("/api/invoices/{id}/payments"),
            Some(&admin),
            json!({"amount": 107_000, "method": "bank_transfer"}),
        )
        .await)
    .await;
    let paid = stripe.stripe_succeed(intent["provider_ref"].as_str().unwrap());
    let (body, signature) = standin::stripe_event(
        "evt_test_2",
        "payment_intent.succeeded",
        &paid,
        STRIPE_WEBHOOK_SECRET,
        chrono::Utc::now().timestamp(),
    );
    assert_eq!(
        ok(post_raw(&app, path, body, Some(&signature)).await).await["result"],
        "recorded"
    );
    let c = ok(app.get(&format!("/api/customers/{customer}"), &admin).await).await;
    assert_eq!(c["balance"], 107_000, "{c}");
    let payments = payments_of(&app, &admin, &second).await;
    assert_eq!(payments.len(), 2);

    // A provider refusing (a revoked key): a clear 502 problem, nothing written.
    ok(app
        .patch("/api/settings", &admin, json!({"providers": {"stripe": {"secret_key": "sk_test_revoked", "publishable_key": STRIPE_PUBLISHABLE}}}))
        .await)
    .await;
    // (Another customer: this one's balance would pay the invoice at finalisation.)
    let other = insert_customer(&app, "สวนผักปลอดภัย", "active").await;
    let third = open_invoice(&app, &admin, other).await;
    let problem = expect_problem(start(&app, Some(&admin), &third, "stripe").await, 502).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Invalid API Key"),
        "{problem}"
    );
    assert!(!problem.to_string().contains("sk_test_revoked"));
}

async fn cards_kept_at_a_provider_are_charged_once(backend: Backend) {
    let Some((app, opn, stripe)) = spawn_providers(backend, true).await else {
        return;
    };
    let admin = set_clock(&app, "2030-01-10T03:00:00Z").await;
    configure(&app, &admin).await;

    // Once a provider is configured a card number never reaches Satang.
    let farm = insert_customer(&app, "ฟาร์มเห็ดบ้านสวน", "active").await;
    let res = app
        .post(
            &format!("/api/customers/{farm}/payment-methods"),
            Some(&admin),
            json!({"type": "card", "gateway": "sandbox", "card_number": "4242424242424242", "exp_month": 12, "exp_year": 2031}),
        )
        .await;
    assert!(expect_problem(res, 422).await["errors"]["card_number"].is_array());
    // Omise.js tokenises in the browser; Satang keeps the card at Opn.
    let token = opn.opn_token("4242424242424242").await;
    let card = json_of(
        app.post(
            &format!("/api/customers/{farm}/payment-methods"),
            Some(&admin),
            json!({"type": "card", "gateway": "opn", "token": token, "is_default": true}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        (&card["gateway"], &card["brand"], &card["last4"]),
        (&json!("opn"), &json!("visa"), &json!("4242"))
    );
    // A used token is refused clearly.
    let res = app
        .post(
            &format!("/api/customers/{farm}/payment-methods"),
            Some(&admin),
            json!({"type": "card", "gateway": "opn", "token": token}),
        )
        .await;
    assert!(expect_problem(res, 422).await["errors"]["token"].is_array());

    let declining = insert_customer(&app, "สหกรณ์โคนม", "active").await;
    json_of(
        app.post(
            &format!("/api/customers/{declining}/payment-methods"),
            Some(&admin),
            json!({"type": "card", "gateway": "stripe", "token": "pm_card_chargeDeclined", "is_default": true}),
        )
        .await,
        201,
    )
    .await;
    for customer in [farm, declining] {
        ok(app
            .post(
                "/api/subscriptions",
                Some(&admin),
                json!({"customer_id": customer, "plan_code": "PRO", "trial_days": 0}),
            )
            .await)
        .await;
    }

    // Opn fails after charging: no answer, so nothing is recorded and no decline counted…
    opn.fail_next_after_acting(1);
    let report = run_billing(&app, &admin).await;
    assert_eq!(
        (
            &report["charged"],
            &report["declined"],
            &report["unanswered"]
        ),
        (&json!(0), &json!(1), &json!(1)),
        "{report}"
    );
    // …and the next pass asks again with the same key: Opn answers the first charge again.
    let report = run_billing(&app, &admin).await;
    assert_eq!(report["charged"], 1, "{report}");
    assert_eq!(opn.created("chrg_"), 1, "charged once");
    let keys: Vec<_> = opn
        .seen("/charges")
        .into_iter()
        .map(|s| s.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);
    let invoices = ok(app
        .get(&format!("/api/invoices?customer_id={farm}"), &admin)
        .await)
    .await;
    let paid = &invoices["data"][0];
    assert_eq!(paid["status"], "paid");
    let payments = payments_of(&app, &admin, paid).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["method"], "card");
    // Opn's webhook about that charge afterwards records nothing more.
    let charge_id = payments[0]["reference"].as_str().unwrap();
    let event = standin::opn_event("evnt_test_card", &opn.object(charge_id));
    assert_eq!(
        ok(opn_webhook(&app, &event).await).await["result"],
        "already_applied"
    );
    assert_eq!(payments_of(&app, &admin, paid).await.len(), 1);

    // Stripe's decline feeds dunning: the subscription is past due.
    let subs = ok(app
        .get(&format!("/api/customers/{declining}/subscriptions"), &admin)
        .await)
    .await;
    assert_eq!(subs["data"][0]["status"], "past_due");
    let sent = stripe.seen("/v1/payment_intents");
    assert!(
        sent.iter()
            .all(|s| s.field("off_session") == Some("true") && s.idempotency_key.is_some())
    );
}

/// The pay page in a real Chromium: no sign-in, PromptPay through Opn on one click, and the page
/// turning to "paid" by itself when Opn's webhook lands.
async fn a_person_pays_on_the_pay_page_without_signing_in(backend: Backend) {
    let Some((app, opn, _stripe)) = spawn_providers(backend, false).await else {
        return;
    };
    let Some(b) = crate::common::browser::Browser::start(1280, 900).await else {
        return;
    };
    let admin = app.admin_token().await;
    configure(&app, &admin).await;
    let customer = insert_customer(&app, "ฟาร์มไก่ไข่บ้านนา", "active").await;
    let invoice = open_invoice(&app, &admin, customer).await;
    let (_, path) = standin::payment_link(&app, &admin, &invoice).await;
    let res = app
        .client
        .get(app.at("/pay/not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    b.goto(&app.at(&format!("/pay/{path}"))).await;
    let text = b.text("[data-testid=pay-page]").await;
    assert!(text.contains("1,070.00"), "{text}");
    assert!(text.contains(invoice["number"].as_str().unwrap()), "{text}");
    b.submit("[data-testid=pay-promptpay-opn]").await;
    assert!(b.exists("[data-testid=pay-qr] svg").await);
    assert!(!b.exists("[data-testid=pay-paid]:not([hidden])").await);
    if let Some(violations) = b.serious_accessibility_violations().await {
        assert!(violations.is_empty(), "{violations:?}");
    }

    let charge_id = opn.ids("chrg_").pop().expect("a charge at Opn");
    let charge = opn.opn_settle(&charge_id, "successful");
    ok(opn_webhook(&app, &standin::opn_event("evnt_test_page", &charge)).await).await;
    b.wait_for("!document.querySelector('[data-pay-paid]').hidden")
        .await;
    assert!(b.exists("[data-pay-open][hidden]").await);
    b.close().await;
}

async fn pay_by_card(
    app: &TestApp,
    link: &str,
    invoice: &Value,
    provider: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let id = invoice["id"].as_str().unwrap();
    let mut body = json!({"provider": provider, "method": "card"});
    if let Some(t) = token {
        body["token"] = json!(t);
    }
    app.client
        .post(app.at(&format!("/api/invoices/{id}/payment-intents")))
        .header("X-Payment-Link", link)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A payer on the pay page: the provider's script made a one-time token of the card; Satang
/// charges it at once, records the payment before answering, and a decline changes nothing but
/// the failed attempt. The webhook that follows the charge finds it applied.
async fn a_card_token_pays_an_invoice_at_once(backend: Backend) {
    let Some((app, opn, stripe)) = spawn_providers(backend, false).await else {
        return;
    };
    let admin = app.admin_token().await;
    configure(&app, &admin).await;
    let customer = insert_customer(&app, "ฟาร์มมะม่วงริมน้ำ", "active").await;

    // Opn: Omise.js's token, charged with the link alone.
    let invoice = open_invoice(&app, &admin, customer).await;
    let link = standin::payment_link(&app, &admin, &invoice).await.1;
    let token = opn.opn_token("4242424242424242").await;
    let missing = pay_by_card(&app, &link, &invoice, "opn", None).await;
    assert!(expect_problem(missing, 422).await["errors"]["token"].is_array());
    let intent = json_of(
        pay_by_card(&app, &link, &invoice, "opn", Some(&token)).await,
        201,
    )
    .await;
    assert_eq!(
        (&intent["status"], &intent["method"], &intent["amount"]),
        (&json!("succeeded"), &json!("card"), &json!(107_000))
    );
    assert!(intent["payment_id"].is_string(), "{intent}");
    let paid_with = token.clone();
    let sent = opn.seen("/charges");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].field("card"), Some(token.as_str()));
    assert_eq!(sent[0].field("amount"), Some("107000"));
    assert!(sent[0].idempotency_key.is_some());
    assert_eq!(invoice_now(&app, &admin, &invoice).await["status"], "paid");
    let payments = payments_of(&app, &admin, &invoice).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["method"], "card");
    let charge_id = intent["provider_ref"].as_str().unwrap();
    assert_eq!(payments[0]["reference"], charge_id);
    // Opn's webhook for the same charge: already applied, still one payment.
    let charge = opn.object(charge_id);
    let res = ok(opn_webhook(&app, &standin::opn_event("evnt_test_card", &charge)).await).await;
    assert_eq!(res["result"], "already_applied");
    assert_eq!(payments_of(&app, &admin, &invoice).await.len(), 1);
    // The invoice is paid: the link takes no second payment.
    let again = opn.opn_token("4242424242424242").await;
    expect_problem(
        pay_by_card(&app, &link, &invoice, "opn", Some(&again)).await,
        409,
    )
    .await;
    assert_eq!(opn.created("chrg_"), 1);

    // Opn declines (insufficient funds): 402 with Opn's reason; the invoice stays open.
    let invoice = open_invoice(&app, &admin, customer).await;
    let link = standin::payment_link(&app, &admin, &invoice).await.1;
    let token = opn.opn_token("4111111111140011").await;
    let declined = expect_problem(
        pay_by_card(&app, &link, &invoice, "opn", Some(&token)).await,
        402,
    )
    .await;
    assert!(
        declined["detail"]
            .as_str()
            .unwrap()
            .contains("insufficient"),
        "{declined}"
    );
    assert_eq!(invoice_now(&app, &admin, &invoice).await["status"], "open");
    assert!(payments_of(&app, &admin, &invoice).await.is_empty());
    // The same token again is the same attempt: the same answer, no second charge.
    expect_problem(
        pay_by_card(&app, &link, &invoice, "opn", Some(&token)).await,
        402,
    )
    .await;
    assert_eq!(opn.created("chrg_"), 2);
    // A token used up on another invoice is the payer's mistake, not a provider failure.
    let used = expect_problem(
        pay_by_card(&app, &link, &invoice, "opn", Some(&paid_with)).await,
        422,
    )
    .await;
    assert!(used["errors"]["token"].is_array(), "{used}");
    let bad = pay_by_card(&app, &link, &invoice, "opn", Some("tokn_<script>")).await;
    assert!(expect_problem(bad, 422).await["errors"]["token"].is_array());

    // Stripe: Stripe.js's PaymentMethod, confirmed at once; the parameters are Stripe's.
    let intent = json_of(
        pay_by_card(&app, &link, &invoice, "stripe", Some("pm_card_visa")).await,
        201,
    )
    .await;
    assert_eq!(intent["status"], "succeeded");
    let sent = stripe.seen("/v1/payment_intents");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].field("payment_method"), Some("pm_card_visa"));
    assert_eq!(sent[0].field("confirm"), Some("true"));
    assert_eq!(invoice_now(&app, &admin, &invoice).await["status"], "paid");
    let invoice = open_invoice(&app, &admin, customer).await;
    let link = standin::payment_link(&app, &admin, &invoice).await.1;
    let declined = pay_by_card(
        &app,
        &link,
        &invoice,
        "stripe",
        Some("pm_card_chargeDeclined"),
    )
    .await;
    let declined = expect_problem(declined, 402).await;
    assert!(
        declined["detail"].as_str().unwrap().contains("declined"),
        "{declined}"
    );
    assert_eq!(invoice_now(&app, &admin, &invoice).await["status"], "open");
}
