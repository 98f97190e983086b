//! The upcoming invoice (SPEC §2.11) on both databases: `GET /api/subscriptions/{id}/upcoming-
//! invoice` shows what the next billing run will issue — the fee, usage so far, a coupon's
//! discount, promotional and prepaid credit, VAT — without writing anything; when the clock
//! reaches the period end with nothing changed, the real invoice has the same figures, field by
//! field. Who may read it, and when there is none (409).
//! Figures are worked out by hand in the comments (VAT 7 %, half-up).

use serde_json::{Value, json};

use crate::common::billing::{
    insert_customer, lines_without_ids, member_token, run_billing, set_date,
};
use crate::common::{Backend, TestApp, expect_problem, json_of, ok, spawn_clocked_on};

both_backends!(
    the_upcoming_invoice_is_the_invoice_the_run_issues,
    who_sees_an_upcoming_invoice_and_when_there_is_none,
);

fn upcoming_path(sub: &str) -> String {
    format!("/api/subscriptions/{sub}/upcoming-invoice")
}

async fn upcoming(app: &TestApp, token: &str, sub: &str) -> Value {
    ok(app.get(&upcoming_path(sub), token).await).await
}

async fn invoices_of(app: &TestApp, admin: &str, sub: &str) -> Vec<Value> {
    let page = ok(app
        .get(&format!("/api/invoices?subscription_id={sub}"), admin)
        .await)
    .await;
    page["data"].as_array().unwrap().clone()
}

async fn grants_of(app: &TestApp, admin: &str, customer: uuid::Uuid) -> Value {
    ok(app
        .get(&format!("/api/customers/{customer}/credit-grants"), admin)
        .await)
    .await["data"]
        .clone()
}

/// The fields an upcoming invoice shares with the invoice issued for it: all but the issue
/// instant (the run's own moment) and what only an issued invoice has (id, number, snapshots,
/// the ids of its lines).
const SHARED: [&str; 20] = [
    "customer_id",
    "subscription_id",
    "status",
    "currency",
    "period_start",
    "period_end",
    "billing_reason",
    "lines",
    "subtotal",
    "discounts",
    "discount",
    "vat_rate_bps",
    "vat_rate",
    "vat_amount",
    "total",
    "credit_applied",
    "amount_paid",
    "amount_due",
    "prices_include_vat",
    "due_date",
];

fn assert_same(upcoming: &Value, issued: &Value) {
    for field in SHARED {
        let (a, b) = if field == "lines" {
            (lines_without_ids(upcoming), lines_without_ids(issued))
        } else {
            (upcoming[field].clone(), issued[field].clone())
        };
        assert_eq!(a, b, "{field}: upcoming {upcoming} vs issued {issued}");
    }
}

/// [subtotal, discount, vat_amount, total, credit_applied, amount_paid, amount_due].
fn figures(invoice: &Value) -> [i64; 7] {
    [
        "subtotal",
        "discount",
        "vat_amount",
        "total",
        "credit_applied",
        "amount_paid",
        "amount_due",
    ]
    .map(|k| {
        invoice[k]
            .as_i64()
            .unwrap_or_else(|| panic!("{k}: {invoice}"))
    })
}

async fn the_upcoming_invoice_is_the_invoice_the_run_issues(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    json_of(
        app.post(
            "/api/coupons",
            Some(&admin),
            json!({"code": "RICE20", "percent_off_bps": 2000, "duration": "repeating",
                   "duration_in_periods": 3}),
        )
        .await,
        201,
    )
    .await;
    let farm = insert_customer(&app, "สหกรณ์ข้าวหอมมะลิ", "active").await;
    // TEAM × 2 seats (฿390 a seat), SMS alerts metered (500 included, then ฿0.50 each); the
    // coupon's first period is the first invoice, issued now.
    let sub = json_of(
        app.post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": farm, "plan_code": "TEAM", "quantity": 2, "trial_days": 0,
                   "coupon": "RICE20", "collection_method": "send_invoice"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(invoices_of(&app, &admin, &sub).await.len(), 1);
    for body in [
        json!({"type": "promotional", "amount": 5_000}),
        json!({"type": "prepaid", "amount": 20_000}),
    ] {
        json_of(
            app.post(
                &format!("/api/customers/{farm}/credit-grants"),
                Some(&admin),
                body,
            )
            .await,
            201,
        )
        .await;
    }
    let events: Vec<Value> = [(400, "2030-01-15T08:00:00Z"), (300, "2030-02-09T16:59:59Z")]
        .iter()
        .enumerate()
        .map(|(i, (q, at))| {
            json!({"subscription_id": sub, "metric": "sms_alerts", "quantity": q,
                   "timestamp": at, "idempotency_key": format!("u{i}")})
        })
        .collect();
    let res = app
        .post(
            "/api/usage-events",
            Some(&admin),
            json!({ "events": events }),
        )
        .await;
    assert_eq!(res.status(), 200);

    // Mid-period: February's invoice as it stands. Fee ฿780.00 + usage 200 × ฿0.50 = ฿100.00:
    // ฿880.00; coupon 20 % ฿176.00, promotional credit ฿50.00: discount ฿226.00; taxable
    // ฿654.00, VAT ฿45.78, total ฿699.78; prepaid ฿200.00 pays, ฿499.78 due.
    let admin = set_date(&app, "2030-01-25").await;
    let before = upcoming(&app, &admin, &sub).await;
    assert_eq!(
        figures(&before),
        [88_000, 22_600, 4_578, 69_978, 0, 20_000, 49_978]
    );
    assert_eq!(
        (
            &before["period_start"],
            &before["period_end"],
            &before["billing_reason"]
        ),
        (
            &json!("2030-02-10"),
            &json!("2030-03-10"),
            &json!("subscription_cycle")
        )
    );
    assert_eq!(before["status"], "open");
    assert_eq!(before["due_date"], "2030-03-12", "issued 10 Feb, 30 days");
    let lines = before["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{before}");
    assert_eq!(
        (
            &lines[0]["kind"],
            &lines[0]["amount"],
            &lines[0]["quantity"]
        ),
        (&json!("subscription"), &json!(78_000), &json!(2))
    );
    assert_eq!(
        (&lines[1]["kind"], &lines[1]["amount"]),
        (&json!("usage"), &json!(10_000))
    );
    assert_eq!(
        (&lines[1]["period_start"], &lines[1]["period_end"]),
        (&json!("2030-01-10"), &json!("2030-02-10")),
        "usage of the period that ends"
    );
    let discounts = before["discounts"].as_array().unwrap();
    assert_eq!(discounts.len(), 2, "{before}");
    assert_eq!(
        (&discounts[0]["coupon_code"], &discounts[0]["amount"]),
        (&json!("RICE20"), &json!(17_600))
    );
    assert_eq!(
        (&discounts[1]["coupon_code"], &discounts[1]["amount"]),
        (&json!("CREDIT"), &json!(5_000))
    );
    let credits = before["credits"].as_array().unwrap();
    assert_eq!(
        credits
            .iter()
            .map(|c| (c["type"].as_str().unwrap(), c["amount"].as_i64().unwrap()))
            .collect::<Vec<_>>(),
        [("promotional", 5_000), ("prepaid", 20_000)]
    );

    // Nothing was written: no invoice, the grants untouched, the coupon's periods unchanged.
    let grants_before = grants_of(&app, &admin, farm).await;
    let sub_before = ok(app.get(&format!("/api/subscriptions/{sub}"), &admin).await).await;
    assert_eq!(upcoming(&app, &admin, &sub).await, before, "reading twice");
    assert_eq!(invoices_of(&app, &admin, &sub).await.len(), 1);
    assert_eq!(grants_of(&app, &admin, farm).await, grants_before);
    for g in grants_before.as_array().unwrap() {
        assert_eq!(g["remaining"], g["amount"], "{g}");
    }
    let sub_now = ok(app.get(&format!("/api/subscriptions/{sub}"), &admin).await).await;
    assert_eq!(sub_now, sub_before);
    assert_eq!(sub_now["discount"]["periods_remaining"], 2);

    // The period end: the run issues exactly that invoice.
    let admin = set_date(&app, "2030-02-10").await;
    let at_the_end = upcoming(&app, &admin, &sub).await;
    assert_eq!(
        figures(&at_the_end),
        figures(&before),
        "the day itself, before the run"
    );
    assert_eq!(run_billing(&app, &admin).await["invoices_created"], 1);
    let all = invoices_of(&app, &admin, &sub).await;
    assert_eq!(all.len(), 2);
    let issued = all
        .iter()
        .find(|i| i["period_start"] == "2030-02-10")
        .expect("February's invoice");
    assert_same(&before, issued);
    assert_same(&at_the_end, issued);

    // The next one: March, the coupon's third and last period, no credit left but ฿0.00 of
    // promotional and nothing prepaid (both used up): ฿780.00 − ฿156.00 = ฿624.00, VAT ฿43.68,
    // total ฿667.68.
    let march = upcoming(&app, &admin, &sub).await;
    assert_eq!(
        (&march["period_start"], &march["period_end"]),
        (&json!("2030-03-10"), &json!("2030-04-10"))
    );
    assert_eq!(
        figures(&march),
        [78_000, 15_600, 4_368, 66_768, 0, 0, 66_768]
    );
    assert_eq!(march["credits"], json!([]));
    let admin = set_date(&app, "2030-03-10").await;
    assert_eq!(run_billing(&app, &admin).await["invoices_created"], 1);
    let all = invoices_of(&app, &admin, &sub).await;
    let issued = all
        .iter()
        .find(|i| i["period_start"] == "2030-03-10")
        .expect("March's invoice");
    assert_same(&march, issued);

    // April: the coupon has run out.
    let april = upcoming(&app, &admin, &sub).await;
    assert_eq!(figures(&april), [78_000, 0, 5_460, 83_460, 0, 0, 83_460]);
    assert_eq!(april["discounts"], json!([]));
}

async fn who_sees_an_upcoming_invoice_and_when_there_is_none(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    let farm = insert_customer(&app, "สหกรณ์ข้าวหอมมะลิ", "active").await;
    let subscribe = |plan: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            json_of(
                app.post(
                    "/api/subscriptions",
                    Some(&admin),
                    json!({"customer_id": farm, "plan_code": plan, "trial_days": 14}),
                )
                .await,
                201,
            )
            .await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let sub = subscribe("PRO").await;
    // In its trial: the first paid period is the upcoming one (฿990.00 + VAT ฿69.30).
    let first = upcoming(&app, &admin, &sub).await;
    assert_eq!(first["billing_reason"], "subscription_create");
    assert_eq!(first["period_start"], "2030-01-24");
    assert_eq!(first["total"], 105_930);

    // The customer's members read it; another customer's member does not see it.
    let member = member_token(&app, "member@farm.example", farm, "member").await;
    assert_eq!(upcoming(&app, &member, &sub).await, first);
    let other = insert_customer(&app, "ร้านอื่น", "active").await;
    let stranger = member_token(&app, "owner@other.example", other, "owner").await;
    expect_problem(app.get(&upcoming_path(&sub), &stranger).await, 404).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    expect_problem(app.get(&upcoming_path(&unknown), &admin).await, 404).await;

    // Ending at the period end, paused or canceled: none (409).
    let ending = subscribe("PRO").await;
    ok(app
        .post(
            &format!("/api/subscriptions/{ending}/cancel"),
            Some(&admin),
            json!({"at_period_end": true}),
        )
        .await)
    .await;
    expect_problem(app.get(&upcoming_path(&ending), &admin).await, 409).await;
    let canceled = subscribe("PRO").await;
    ok(app
        .post(
            &format!("/api/subscriptions/{canceled}/cancel"),
            Some(&admin),
            json!({"at_period_end": false}),
        )
        .await)
    .await;
    expect_problem(app.get(&upcoming_path(&canceled), &admin).await, 409).await;
}
