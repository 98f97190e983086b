//! A year in the life of one subscription (SPEC §2.5, §2.6, §2.9), on both databases, driven
//! only through the HTTP API under the test clock: trial → active → upgrade with proration →
//! pause and resume → more seats → downgrade at period end → declined card → dunning →
//! suspension → payment (with an overpayment) → reactivation → the credit consumed → a
//! catch-up run over two periods → a new year's numbering → cancel at period end.
//!
//! Every invoice is checked line by line and to the satang against figures worked out by hand
//! in the comments (VAT 7 %, half-up; proration by whole days, half-up): nothing here calls
//! the engine's own arithmetic. The scheduler is off; runs are `POST /api/billing/run`, which
//! also collects automatic payments. Billing days are at 03:00 UTC (10:00 in Bangkok);
//! dunning retries are looked at from 06:00 UTC, after the retry instant has passed.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::billing::{insert_customer, run_billing, set_clock, set_date};
use crate::common::{Backend, TestApp, expect_problem, ok, spawn_clocked};

both_backends!(
    a_year_of_one_subscription,
    month_end_anchor_then_a_move_to_yearly,
);

const WORKING_CARD: &str = "4242424242424242";
const DECLINING_CARD: &str = "4000000000000002";

/// Runs billing and checks what it reports: invoices created, subscriptions canceled, card
/// charges that succeeded and that were declined, customers suspended.
async fn run_expecting(app: &TestApp, admin: &str, expected: [u64; 5]) {
    let r = run_billing(app, admin).await;
    let actual = [
        "invoices_created",
        "subscriptions_canceled",
        "charged",
        "declined",
        "customers_suspended",
    ]
    .map(|k| r[k].as_u64().unwrap_or_else(|| panic!("{k} missing: {r}")));
    assert_eq!(
        actual, expected,
        "[created, canceled, charged, declined, suspended]: {r}"
    );
}

async fn add_card(app: &TestApp, admin: &str, customer: Uuid, number: &str) {
    let card = ok(app
        .post(
            &format!("/api/customers/{customer}/payment-methods"),
            Some(admin),
            json!({"type": "card", "gateway": "sandbox", "card_number": number,
                   "exp_month": 12, "exp_year": 2035, "is_default": true}),
        )
        .await)
    .await;
    assert_eq!(card["is_default"], true);
}

async fn subscription(app: &TestApp, admin: &str, id: &str) -> Value {
    ok(app.get(&format!("/api/subscriptions/{id}"), admin).await).await
}

async fn customer(app: &TestApp, admin: &str, id: Uuid) -> Value {
    ok(app.get(&format!("/api/customers/{id}"), admin).await).await
}

async fn invoices(app: &TestApp, admin: &str, sub: &str) -> Vec<Value> {
    let page = ok(app
        .get(&format!("/api/invoices?subscription_id={sub}"), admin)
        .await)
    .await;
    assert_eq!(page["next_cursor"], Value::Null);
    page["data"].as_array().unwrap().clone()
}

/// One expected invoice line: kind, covered days `[start, end)`, quantity, unit amount, amount,
/// and a plan code its description must name.
struct L(
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    i64,
    &'static str,
);

/// One expected invoice: number, billing reason, period (`None` for a proration), lines,
/// subtotal, VAT, total, credit applied, amount paid, amount due, status.
struct I {
    number: &'static str,
    reason: &'static str,
    period: Option<(&'static str, &'static str)>,
    lines: Vec<L>,
    subtotal: i64,
    vat: i64,
    total: i64,
    credit: i64,
    paid: i64,
    due: i64,
    status: &'static str,
}

fn check(actual: &Value, e: &I) {
    let n = e.number;
    assert_eq!(actual["number"], n, "{actual}");
    assert_eq!(actual["billing_reason"], e.reason, "{n}");
    assert_eq!(actual["currency"], "THB", "{n}");
    let (start, end) = match e.period {
        Some((s, e)) => (json!(s), json!(e)),
        None => (Value::Null, Value::Null),
    };
    assert_eq!(
        (&actual["period_start"], &actual["period_end"]),
        (&start, &end),
        "{n}"
    );
    let lines = actual["lines"].as_array().unwrap();
    assert_eq!(lines.len(), e.lines.len(), "{n}: {actual}");
    for (line, L(kind, from, to, quantity, unit, amount, code)) in lines.iter().zip(&e.lines) {
        assert_eq!(
            (
                line["kind"].as_str().unwrap(),
                line["period_start"].as_str().unwrap(),
                line["period_end"].as_str().unwrap(),
                line["quantity"].as_i64().unwrap(),
                line["unit_amount"].as_i64().unwrap(),
                line["amount"].as_i64().unwrap(),
            ),
            (*kind, *from, *to, *quantity, *unit, *amount),
            "{n}: {line}"
        );
        assert!(
            line["description"].as_str().unwrap().contains(code),
            "{n}: {line} should name {code}"
        );
    }
    let money = |k: &str| actual[k].as_i64().unwrap();
    assert_eq!(
        [
            money("subtotal"),
            money("discount"),
            money("vat_amount"),
            money("total"),
            money("credit_applied"),
            money("amount_paid"),
            money("amount_due"),
        ],
        [e.subtotal, 0, e.vat, e.total, e.credit, e.paid, e.due],
        "{n}: [subtotal, discount, vat, total, credit, paid, due]"
    );
    assert_eq!(actual["vat_rate_bps"], 700, "{n}");
    assert_eq!(actual["status"], e.status, "{n}");
}

/// A whole period's fee of one plan, fully paid by card.
fn period_paid(number: &'static str, from: &'static str, to: &'static str) -> I {
    // PRO ฿990.00; VAT 7 % = ฿69.30; total ฿1,059.30.
    I {
        number,
        reason: "subscription_cycle",
        period: Some((from, to)),
        lines: vec![L("subscription", from, to, 1, 99_000, 99_000, "PRO")],
        subtotal: 99_000,
        vat: 6_930,
        total: 105_930,
        credit: 0,
        paid: 105_930,
        due: 0,
        status: "paid",
    }
}

/// TEAM × 3 seats for one period, paid by card.
fn team_period_paid(number: &'static str, from: &'static str, to: &'static str) -> I {
    // ฿390.00 × 3 seats = ฿1,170.00; VAT 7 % = ฿81.90; total ฿1,251.90.
    I {
        number,
        reason: "subscription_cycle",
        period: Some((from, to)),
        lines: vec![L("subscription", from, to, 3, 39_000, 117_000, "TEAM")],
        subtotal: 117_000,
        vat: 8_190,
        total: 125_190,
        credit: 0,
        paid: 125_190,
        due: 0,
        status: "paid",
    }
}

async fn a_year_of_one_subscription(backend: Backend) {
    let Some(app) = spawn_clocked(backend).await else {
        return;
    };
    let farm = insert_customer(&app, "สหกรณ์ผู้ปลูกข้าวหอมมะลิ", "active").await;

    // ---- 10 January 2030: PRO with its 14-day trial, a working card on file.
    let admin = set_date(&app, "2030-01-10").await;
    add_card(&app, &admin, farm, WORKING_CARD).await;
    let created = ok(app
        .post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": farm, "plan_code": "PRO"}),
        )
        .await)
    .await;
    let sub = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            &created["status"],
            &created["trial_end"],
            &created["next_billing_date"]
        ),
        (
            &json!("trialing"),
            &json!("2030-01-24"),
            &json!("2030-01-24")
        )
    );
    assert!(
        invoices(&app, &admin, &sub).await.is_empty(),
        "a trial is free"
    );
    let admin = set_date(&app, "2030-01-23").await;
    run_expecting(&app, &admin, [0, 0, 0, 0, 0]).await;

    // ---- 24 January: the trial ends; the first month is invoiced in advance and charged.
    let admin = set_date(&app, "2030-01-24").await;
    run_expecting(&app, &admin, [1, 0, 1, 0, 0]).await;
    let s = subscription(&app, &admin, &sub).await;
    assert_eq!(s["status"], "active");
    assert_eq!(
        (&s["current_period_start"], &s["current_period_end"]),
        (&json!("2030-01-24"), &json!("2030-02-24"))
    );
    let all = invoices(&app, &admin, &sub).await;
    let mut first = period_paid("INV-2030-000001", "2030-01-24", "2030-02-24");
    first.reason = "subscription_create";
    check(&all[0], &first);
    // Issued on the 24th with the customer's 30 days: due 24 January + 30 days = 23 February.
    assert_eq!(all[0]["due_date"], "2030-02-23");
    assert_eq!(all[0]["customer"]["name"], "สหกรณ์ผู้ปลูกข้าวหอมมะลิ");

    // ---- 5 February: upgrade PRO → TEAM × 3 seats, prorated and invoiced at once.
    // The period 24 Jan – 24 Feb has 31 days; from the 5th, 19 remain.
    //   credit PRO:   99,000 × 19 / 31 = 60,677.42 → −60,677
    //   charge TEAM: 117,000 × 19 / 31 = 71,709.68 →  71,710
    //   subtotal 11,033; VAT 7 % = 772.31 → 772; total 11,805.
    let admin = set_date(&app, "2030-02-05").await;
    let changed = ok(app
        .post(
            &format!("/api/subscriptions/{sub}/change-plan"),
            Some(&admin),
            json!({"plan_code": "TEAM", "quantity": 3}),
        )
        .await)
    .await;
    assert_eq!(changed["effective"], "immediately");
    assert_eq!(changed["proration"]["total"], 11_033);
    let upgrade = I {
        number: "INV-2030-000002",
        reason: "proration",
        period: None,
        lines: vec![
            L(
                "proration",
                "2030-02-05",
                "2030-02-24",
                1,
                -60_677,
                -60_677,
                "PRO",
            ),
            L(
                "proration",
                "2030-02-05",
                "2030-02-24",
                1,
                71_710,
                71_710,
                "TEAM",
            ),
        ],
        subtotal: 11_033,
        vat: 772,
        total: 11_805,
        credit: 0,
        paid: 0,
        due: 11_805,
        status: "open",
    };
    check(&invoices(&app, &admin, &sub).await[1], &upgrade);
    // The next run collects it by card.
    run_expecting(&app, &admin, [0, 0, 1, 0, 0]).await;
    let upgrade = I {
        paid: 11_805,
        due: 0,
        status: "paid",
        ..upgrade
    };
    check(&invoices(&app, &admin, &sub).await[1], &upgrade);

    // ---- 24 February: the first full TEAM month.
    let admin = set_date(&app, "2030-02-24").await;
    run_expecting(&app, &admin, [1, 0, 1, 0, 0]).await;
    let all = invoices(&app, &admin, &sub).await;
    check(
        &all[2],
        &team_period_paid("INV-2030-000003", "2030-02-24", "2030-03-24"),
    );

    // ---- Paused on 20 March, over the billing date of the 24th: nothing is invoiced.
    let admin = set_date(&app, "2030-03-20").await;
    let paused = ok(app
        .call(
            Method::POST,
            &format!("/api/subscriptions/{sub}/pause"),
            Some(&admin),
            None,
        )
        .await)
    .await;
    assert_eq!(paused["status"], "paused");
    let admin = set_date(&app, "2030-03-24").await;
    run_expecting(&app, &admin, [0, 0, 0, 0, 0]).await;
    let admin = set_date(&app, "2030-03-28").await;
    run_expecting(&app, &admin, [0, 0, 0, 0, 0]).await;

    // ---- Resumed on 1 April: 20 March → 1 April is 12 days, so the period ends on
    // 24 March + 12 days = 5 April, and later periods are anchored on the 5th.
    let admin = set_date(&app, "2030-04-01").await;
    let resumed = ok(app
        .call(
            Method::POST,
            &format!("/api/subscriptions/{sub}/resume"),
            Some(&admin),
            None,
        )
        .await)
    .await;
    assert_eq!(
        (
            &resumed["status"],
            &resumed["current_period_end"],
            &resumed["next_billing_date"]
        ),
        (&json!("active"), &json!("2030-04-05"), &json!("2030-04-05"))
    );
    run_expecting(&app, &admin, [0, 0, 0, 0, 0]).await;
    let admin = set_date(&app, "2030-04-05").await;
    run_expecting(&app, &admin, [1, 0, 1, 0, 0]).await;
    let admin = set_date(&app, "2030-05-05").await;
    run_expecting(&app, &admin, [1, 0, 1, 0, 0]).await;
    let all = invoices(&app, &admin, &sub).await;
    assert_eq!(all.len(), 5);
    check(
        &all[3],
        &team_period_paid("INV-2030-000004", "2030-04-05", "2030-05-05"),
    );
    check(
        &all[4],
        &team_period_paid("INV-2030-000005", "2030-05-05", "2030-06-05"),
    );

    // ---- 12 May: 3 → 5 seats. The period 5 May – 5 June has 31 days; 24 remain.
    //   credit 3 seats: 117,000 × 24 / 31 =  90,580.65 → −90,581
    //   charge 5 seats: 195,000 × 24 / 31 = 150,967.74 → 150,968
    //   subtotal 60,387; VAT 7 % = 4,227.09 → 4,227; total 64,614.
    let admin = set_date(&app, "2030-05-12").await;
    let seats = ok(app
        .post(
            &format!("/api/subscriptions/{sub}/change-plan"),
            Some(&admin),
            json!({"quantity": 5}),
        )
        .await)
    .await;
    assert_eq!(seats["effective"], "immediately");
    assert_eq!(seats["subscription"]["quantity"], 5);
    run_expecting(&app, &admin, [0, 0, 1, 0, 0]).await;
    check(
        &invoices(&app, &admin, &sub).await[5],
        &I {
            number: "INV-2030-000006",
            reason: "proration",
            period: None,
            lines: vec![
                L(
                    "proration",
                    "2030-05-12",
                    "2030-06-05",
                    1,
                    -90_581,
                    -90_581,
                    "TEAM",
                ),
                L(
                    "proration",
                    "2030-05-12",
                    "2030-06-05",
                    1,
                    150_968,
                    150_968,
                    "TEAM",
                ),
            ],
            subtotal: 60_387,
            vat: 4_227,
            total: 64_614,
            credit: 0,
            paid: 64_614,
            due: 0,
            status: "paid",
        },
    );

    // ---- 20 May: down to PRO (฿990 < ฿1,950): it waits for the period end on 5 June.
    let admin = set_date(&app, "2030-05-20").await;
    let down = ok(app
        .post(
            &format!("/api/subscriptions/{sub}/change-plan"),
            Some(&admin),
            json!({"plan_code": "PRO"}),
        )
        .await)
    .await;
    assert_eq!(
        (&down["effective"], &down["effective_date"]),
        (&json!("period_end"), &json!("2030-06-05"))
    );
    assert_eq!(down["proration"]["lines"], json!([]));
    let pending = &down["subscription"]["pending_change"];
    assert_eq!(
        (&pending["plan_code"], &pending["quantity"]),
        (&json!("PRO"), &json!(1))
    );
    assert_eq!(
        invoices(&app, &admin, &sub).await.len(),
        6,
        "nothing to invoice now"
    );

    // ---- 25 May: the card on file is replaced by one the bank declines.
    let admin = set_date(&app, "2030-05-25").await;
    add_card(&app, &admin, farm, DECLINING_CARD).await;

    // ---- 5 June: the downgrade applies; PRO's month is invoiced; the charge is declined.
    let admin = set_date(&app, "2030-06-05").await;
    run_expecting(&app, &admin, [1, 0, 0, 1, 0]).await;
    let s = subscription(&app, &admin, &sub).await;
    assert_eq!(
        (
            &s["status"],
            &s["plan_code"],
            &s["quantity"],
            &s["pending_change"]
        ),
        (&json!("past_due"), &json!("PRO"), &json!(1), &Value::Null)
    );
    let unpaid = I {
        paid: 0,
        due: 105_930,
        status: "open",
        ..period_paid("INV-2030-000007", "2030-06-05", "2030-07-05")
    };
    check(&invoices(&app, &admin, &sub).await[6], &unpaid);
    // A past-due subscription cannot change plan.
    let res = app
        .post(
            &format!("/api/subscriptions/{sub}/change-plan"),
            Some(&admin),
            json!({"plan_code": "ENTERPRISE"}),
        )
        .await;
    expect_problem(res, 409).await;

    // ---- Dunning: retried 1, 3, 5 and 7 days after the first failure, then no more.
    for (instant, declined) in [
        ("2030-06-06T06:00:00Z", 1),
        ("2030-06-07T06:00:00Z", 0),
        ("2030-06-08T06:00:00Z", 1),
        ("2030-06-09T06:00:00Z", 0),
        ("2030-06-10T06:00:00Z", 1),
        ("2030-06-12T06:00:00Z", 1),
        ("2030-06-14T06:00:00Z", 0),
    ] {
        let admin = set_clock(&app, instant).await;
        run_expecting(&app, &admin, [0, 0, 0, declined, 0]).await;
    }
    // Fourteen days of grace from the first failure (5 June, 10:00 Bangkok): still active on
    // the 18th, suspended on the 19th.
    let admin = set_clock(&app, "2030-06-18T06:00:00Z").await;
    run_expecting(&app, &admin, [0, 0, 0, 0, 0]).await;
    assert_eq!(customer(&app, &admin, farm).await["status"], "active");
    let admin = set_clock(&app, "2030-06-19T06:00:00Z").await;
    run_expecting(&app, &admin, [0, 0, 0, 0, 1]).await;
    assert_eq!(customer(&app, &admin, farm).await["status"], "suspended");
    assert_eq!(subscription(&app, &admin, &sub).await["status"], "past_due");
    // A suspended customer cannot take a new subscription.
    let res = app
        .post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": farm, "plan_code": "ENTERPRISE", "trial_days": 0}),
        )
        .await;
    expect_problem(res, 409).await;

    // ---- 22 June: a bank transfer of ฿1,100.00 against ฿1,059.30 due. The invoice is paid,
    // the ฿40.70 over it (110,000 − 105,930 = 4,070) is the customer's credit, and customer
    // and subscription are active again.
    let admin = set_date(&app, "2030-06-22").await;
    let invoice_id = invoices(&app, &admin, &sub).await[6]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(app
        .post(
            &format!("/api/invoices/{invoice_id}/payments"),
            Some(&admin),
            json!({"amount": 110_000, "method": "bank_transfer", "reference": "KBANK-0622"}),
        )
        .await)
    .await;
    check(
        &invoices(&app, &admin, &sub).await[6],
        &period_paid("INV-2030-000007", "2030-06-05", "2030-07-05"),
    );
    let c = customer(&app, &admin, farm).await;
    assert_eq!(
        (&c["status"], &c["balance"]),
        (&json!("active"), &json!(4_070))
    );
    assert_eq!(subscription(&app, &admin, &sub).await["status"], "active");
    run_expecting(&app, &admin, [0, 0, 0, 0, 0]).await;

    // ---- 25 June: a working card again. 5 July: the credit is consumed first.
    //   total 105,930 − credit 4,070 = 101,860 charged to the card.
    let admin = set_date(&app, "2030-06-25").await;
    add_card(&app, &admin, farm, WORKING_CARD).await;
    let admin = set_date(&app, "2030-07-05").await;
    run_expecting(&app, &admin, [1, 0, 1, 0, 0]).await;
    check(
        &invoices(&app, &admin, &sub).await[7],
        &I {
            credit: 4_070,
            paid: 101_860,
            ..period_paid("INV-2030-000008", "2030-07-05", "2030-08-05")
        },
    );
    assert_eq!(customer(&app, &admin, farm).await["balance"], 0);

    // ---- 5 August as usual; then the clock jumps to 5 October: one run catches up two
    // periods, oldest first, each with its own number.
    let admin = set_date(&app, "2030-08-05").await;
    run_expecting(&app, &admin, [1, 0, 1, 0, 0]).await;
    let admin = set_date(&app, "2030-10-05").await;
    run_expecting(&app, &admin, [2, 0, 2, 0, 0]).await;
    let admin = set_date(&app, "2030-11-05").await;
    run_expecting(&app, &admin, [1, 0, 1, 0, 0]).await;
    let admin = set_date(&app, "2030-12-05").await;
    run_expecting(&app, &admin, [1, 0, 1, 0, 0]).await;
    // ---- 5 January 2031: a new year, a new sequence.
    let admin = set_date(&app, "2031-01-05").await;
    run_expecting(&app, &admin, [1, 0, 1, 0, 0]).await;
    let all = invoices(&app, &admin, &sub).await;
    let months = [
        ("INV-2030-000009", "2030-08-05", "2030-09-05"),
        ("INV-2030-000010", "2030-09-05", "2030-10-05"),
        ("INV-2030-000011", "2030-10-05", "2030-11-05"),
        ("INV-2030-000012", "2030-11-05", "2030-12-05"),
        ("INV-2030-000013", "2030-12-05", "2031-01-05"),
        ("INV-2031-000001", "2031-01-05", "2031-02-05"),
    ];
    assert_eq!(all.len(), 8 + months.len());
    for (invoice, (number, from, to)) in all[8..].iter().zip(months) {
        check(invoice, &period_paid(number, from, to));
    }

    // ---- 20 January 2031: cancel at the period end. It stays active until 5 February, when
    // the run ends it instead of invoicing; after that nothing more happens.
    let admin = set_date(&app, "2031-01-20").await;
    let canceled = ok(app
        .call(
            Method::POST,
            &format!("/api/subscriptions/{sub}/cancel"),
            Some(&admin),
            None,
        )
        .await)
    .await;
    assert_eq!(
        (&canceled["status"], &canceled["cancel_at_period_end"]),
        (&json!("active"), &json!(true))
    );
    let admin = set_date(&app, "2031-02-05").await;
    run_expecting(&app, &admin, [0, 1, 0, 0, 0]).await;
    let s = subscription(&app, &admin, &sub).await;
    assert_eq!(
        (&s["status"], &s["next_billing_date"]),
        (&json!("canceled"), &Value::Null)
    );
    let admin = set_date(&app, "2031-03-05").await;
    run_expecting(&app, &admin, [0, 0, 0, 0, 0]).await;

    // ---- The year in sum: 14 invoices, every one paid, numbers 1–13 in 2030 and 1 in 2031.
    let all = invoices(&app, &admin, &sub).await;
    assert_eq!(all.len(), 14);
    assert!(all.iter().all(|i| i["status"] == "paid"));
    let numbers: Vec<String> = all
        .iter()
        .map(|i| i["number"].as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = (1..=13).map(|n| format!("INV-2030-{n:06}")).collect();
    expected.push("INV-2031-000001".into());
    assert_eq!(numbers, expected);
    // Money received: 13 card charges and one transfer.
    //   PRO periods by card: invoices 1, 9–13 and 2031-1 = 7 × 105,930 = 741,510
    //   invoice 8 by card after the credit:                            101,860
    //   TEAM × 3 periods: invoices 3, 4, 5 = 3 × 125,190               = 375,570
    //   prorations: 11,805 + 64,614                                     =  76,419
    //   bank transfer                                                   = 110,000
    //   sum                                                             = 1,405,359
    let payments = ok(app
        .get(
            &format!("/api/payments?customer_id={farm}&limit=200"),
            &admin,
        )
        .await)
    .await;
    let payments = payments["data"].as_array().unwrap();
    assert_eq!(payments.len(), 14);
    let cards = payments.iter().filter(|p| p["method"] == "card").count();
    assert_eq!(cards, 13);
    let received: i64 = payments.iter().map(|p| p["amount"].as_i64().unwrap()).sum();
    assert_eq!(received, 1_405_359);
    // The lifecycle is in the audit log.
    let events = ok(app
        .get(
            &format!("/api/audit-events?entity_type=subscription&entity_id={sub}&limit=200"),
            &admin,
        )
        .await)
    .await;
    let actions: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "subscription.created",
        "subscription.plan_changed",
        "subscription.paused",
        "subscription.resumed",
        "subscription.plan_change_scheduled",
        "subscription.past_due",
        "subscription.reactivated",
        "subscription.cancel_scheduled",
        "subscription.canceled",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
}

/// A subscription started on 31 January keeps returning to the month's last day, and an
/// upgrade from monthly PRO to yearly ENTERPRISE mid-period starts a new year that day: the
/// unused days are credited and the year is charged once, on one invoice, and renewed a year
/// later.
async fn month_end_anchor_then_a_move_to_yearly(backend: Backend) {
    let Some(app) = spawn_clocked(backend).await else {
        return;
    };
    let farm = insert_customer(&app, "ไร่องุ่นปากช่อง", "active").await;

    // ---- 31 January 2030: PRO without a trial, paid by invoice; the first month is
    // invoiced at once and ends on 28 February (no 31st in February).
    let admin = set_date(&app, "2030-01-31").await;
    let created = ok(app
        .post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": farm, "plan_code": "PRO", "trial_days": 0,
                   "collection_method": "send_invoice"}),
        )
        .await)
    .await;
    let sub = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["current_period_end"], "2030-02-28");
    let open_period = |number, from, to, reason| I {
        reason,
        paid: 0,
        due: 105_930,
        status: "open",
        ..period_paid(number, from, to)
    };
    check(
        &invoices(&app, &admin, &sub).await[0],
        &open_period(
            "INV-2030-000001",
            "2030-01-31",
            "2030-02-28",
            "subscription_create",
        ),
    );

    // ---- 28 February: the next period goes back to the 31st.
    let admin = set_date(&app, "2030-02-28").await;
    run_expecting(&app, &admin, [1, 0, 0, 0, 0]).await;
    check(
        &invoices(&app, &admin, &sub).await[1],
        &open_period(
            "INV-2030-000002",
            "2030-02-28",
            "2030-03-31",
            "subscription_cycle",
        ),
    );

    // ---- 10 March: to ENTERPRISE yearly (฿99,000 a year = ฿8,250 a month > ฿990). A new
    // year starts today. The period 28 Feb – 31 Mar has 31 days; 21 remain.
    //   credit PRO: 99,000 × 21 / 31 = 67,064.52 → −67,065
    //   charge: the whole year 10 Mar 2030 – 10 Mar 2031, 9,900,000
    //   subtotal 9,832,935; VAT 7 % = 688,305.45 → 688,305; total 10,521,240.
    let admin = set_date(&app, "2030-03-10").await;
    let change = json!({"plan_code": "ENTERPRISE", "interval": "year"});
    let mut preview = change.clone();
    preview["preview"] = json!(true);
    let preview = ok(app
        .post(
            &format!("/api/subscriptions/{sub}/change-plan"),
            Some(&admin),
            preview,
        )
        .await)
    .await;
    assert_eq!(preview["proration"]["total"], 9_832_935);
    let changed = ok(app
        .post(
            &format!("/api/subscriptions/{sub}/change-plan"),
            Some(&admin),
            change,
        )
        .await)
    .await;
    assert_eq!(changed["proration"], preview["proration"]);
    let s = &changed["subscription"];
    assert_eq!(
        (
            &s["plan_code"],
            &s["current_period_start"],
            &s["current_period_end"],
            &s["next_billing_date"]
        ),
        (
            &json!("ENTERPRISE"),
            &json!("2030-03-10"),
            &json!("2031-03-10"),
            &json!("2031-03-10")
        )
    );
    // One invoice for the change, not a proration and a period invoice that both charge the
    // year.
    let all = invoices(&app, &admin, &sub).await;
    assert_eq!(all.len(), 3, "the year is invoiced once: {all:#?}");
    check(
        &all[2],
        &I {
            number: "INV-2030-000003",
            reason: "subscription_create",
            period: Some(("2030-03-10", "2031-03-10")),
            lines: vec![
                L(
                    "subscription",
                    "2030-03-10",
                    "2031-03-10",
                    1,
                    9_900_000,
                    9_900_000,
                    "ENTERPRISE",
                ),
                L(
                    "proration",
                    "2030-03-10",
                    "2030-03-31",
                    1,
                    -67_065,
                    -67_065,
                    "PRO",
                ),
            ],
            subtotal: 9_832_935,
            vat: 688_305,
            total: 10_521_240,
            credit: 0,
            paid: 0,
            due: 10_521_240,
            status: "open",
        },
    );
    assert_eq!(customer(&app, &admin, farm).await["balance"], 0);

    // ---- Nothing more until the year is over; then the renewal at the full yearly price:
    // 9,900,000 + VAT 693,000 = 10,593,000.
    for date in ["2030-03-31", "2030-04-10", "2031-03-09"] {
        let admin = set_date(&app, date).await;
        run_expecting(&app, &admin, [0, 0, 0, 0, 0]).await;
    }
    let admin = set_date(&app, "2031-03-10").await;
    run_expecting(&app, &admin, [1, 0, 0, 0, 0]).await;
    let all = invoices(&app, &admin, &sub).await;
    assert_eq!(all.len(), 4);
    check(
        &all[3],
        &I {
            number: "INV-2031-000001",
            reason: "subscription_cycle",
            period: Some(("2031-03-10", "2032-03-10")),
            lines: vec![L(
                "subscription",
                "2031-03-10",
                "2032-03-10",
                1,
                9_900_000,
                9_900_000,
                "ENTERPRISE",
            )],
            subtotal: 9_900_000,
            vat: 693_000,
            total: 10_593_000,
            credit: 0,
            paid: 0,
            due: 10_593_000,
            status: "open",
        },
    );
}
