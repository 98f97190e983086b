//! A sales team's deal billed through a year (SPEC §2.11), on both databases, only through the
//! HTTP API under the test clock: a campaign coupon for three months (15 % off, `repeating` 3),
//! a negotiated ENTERPRISE price (`unit_price`), and prepaid credit bought up front.
//!
//! Every invoice is checked to the satang against figures worked out by hand in the comments
//! (VAT 7 % on subtotal − discount, half-up), and each one against the upcoming invoice read
//! the day before it was issued. Billing days are at 03:00 UTC (10:00 in Bangkok).

use serde_json::{Value, json};

use crate::common::billing::{insert_customer, lines_without_ids, run_billing, set_date};
use crate::common::{Backend, TestApp, json_of, ok, spawn_clocked_on};

both_backends!(a_year_of_a_negotiated_deal);

async fn invoices(app: &TestApp, admin: &str, sub: &str) -> Vec<Value> {
    let page = ok(app
        .get(&format!("/api/invoices?subscription_id={sub}"), admin)
        .await)
    .await;
    assert_eq!(page["next_cursor"], Value::Null);
    page["data"].as_array().unwrap().clone()
}

/// One expected invoice: number, billing reason, period, discount, VAT, total, paid, due,
/// status. Every one is ENTERPRISE at the deal's ฿7,500.00 a month.
struct I {
    number: String,
    reason: &'static str,
    period: (String, String),
    discount: i64,
    vat: i64,
    total: i64,
    paid: i64,
    due: i64,
    status: &'static str,
}

const DEAL: i64 = 750_000;

fn check(actual: &Value, e: &I) {
    let n = &e.number;
    assert_eq!(actual["number"], json!(n), "{actual}");
    assert_eq!(actual["billing_reason"], e.reason, "{n}");
    assert_eq!(
        (&actual["period_start"], &actual["period_end"]),
        (&json!(e.period.0), &json!(e.period.1)),
        "{n}"
    );
    let lines = actual["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{n}: no usage, one fee: {actual}");
    let line = &lines[0];
    assert_eq!(
        (
            line["kind"].as_str().unwrap(),
            line["period_start"].as_str().unwrap(),
            line["period_end"].as_str().unwrap(),
            line["quantity"].as_i64().unwrap(),
            line["unit_amount"].as_i64().unwrap(),
            line["amount"].as_i64().unwrap(),
        ),
        ("subscription", &*e.period.0, &*e.period.1, 1, DEAL, DEAL),
        "{n}: {line}"
    );
    assert!(
        line["description"].as_str().unwrap().contains("ENTERPRISE"),
        "{n}: {line}"
    );
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
        [DEAL, e.discount, e.vat, e.total, 0, e.paid, e.due],
        "{n}: [subtotal, discount, vat, total, credit, paid, due]"
    );
    let discounts = if e.discount > 0 {
        json!([{"coupon_code": "SPRING15", "amount": e.discount}])
    } else {
        json!([])
    };
    assert_eq!(actual["discounts"], discounts, "{n}");
    assert_eq!(actual["status"], e.status, "{n}");
}

/// The upcoming invoice read before the run matches the invoice the run issued.
fn same_as_upcoming(upcoming: &Value, issued: &Value) {
    for field in [
        "period_start",
        "period_end",
        "billing_reason",
        "lines",
        "subtotal",
        "discounts",
        "discount",
        "vat_amount",
        "total",
        "amount_paid",
        "amount_due",
        "status",
        "due_date",
    ] {
        let (a, b) = if field == "lines" {
            (lines_without_ids(upcoming), lines_without_ids(issued))
        } else {
            (upcoming[field].clone(), issued[field].clone())
        };
        assert_eq!(a, b, "{field}: upcoming {upcoming} vs issued {issued}");
    }
}

/// `YYYY-MM-01` of the `i`-th month after January 2030 (0: January 2030).
fn first_of(i: u32) -> String {
    format!("{}-{:02}-01", 2030 + i / 12, i % 12 + 1)
}

async fn a_year_of_a_negotiated_deal(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-01").await else {
        return;
    };
    let billing = app.staff_token("deals@satang.test", &["billing"]).await;
    json_of(
        app.post(
            "/api/coupons",
            Some(&billing),
            json!({"code": "SPRING15", "name": {"th": "แคมเปญหน้าฝน", "en": "Spring campaign"},
                   "percent_off_bps": 1500, "duration": "repeating",
                   "duration_in_periods": 3}),
        )
        .await,
        201,
    )
    .await;
    let agri = insert_customer(&app, "บริษัท เกษตรรุ่งเรือง จำกัด", "active").await;
    // ฿20,000.00 of credit bought up front (invoiced with VAT when it was sold).
    let prepaid = json_of(
        app.post(
            &format!("/api/customers/{agri}/credit-grants"),
            Some(&billing),
            json!({"type": "prepaid", "amount": 2_000_000, "note": "prepaid with the deal"}),
        )
        .await,
        201,
    )
    .await;

    // ---- 1 January 2030: ENTERPRISE (฿9,900.00 a month) at the negotiated ฿7,500.00, with
    // the campaign. The first month is invoiced at once:
    //   ฿7,500.00 − 15 % (฿1,125.00) = ฿6,375.00; VAT ฿446.25; total ฿6,821.25, paid by credit.
    let created = json_of(
        app.post(
            "/api/subscriptions",
            Some(&billing),
            json!({"customer_id": agri, "plan_code": "ENTERPRISE", "unit_price": DEAL,
                   "coupon": "SPRING15", "collection_method": "send_invoice"}),
        )
        .await,
        201,
    )
    .await;
    let sub = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["unit_price"], DEAL);
    assert_eq!(created["discount"]["coupon_code"], "SPRING15");

    let campaign = |i: u32, paid: i64| I {
        number: format!("INV-2030-{:06}", i + 1),
        reason: if i == 0 {
            "subscription_create"
        } else {
            "subscription_cycle"
        },
        period: (first_of(i), first_of(i + 1)),
        discount: 112_500,
        vat: 44_625,
        total: 682_125,
        paid,
        due: 682_125 - paid,
        status: if paid == 682_125 { "paid" } else { "open" },
    };
    // After the campaign: ฿7,500.00 + VAT ฿525.00 = ฿8,025.00, nothing left to pay it with.
    let full = |i: u32| I {
        number: format!(
            "INV-{}-{:06}",
            2030 + i / 12,
            if i < 12 { i + 1 } else { i - 11 }
        ),
        reason: "subscription_cycle",
        period: (first_of(i), first_of(i + 1)),
        discount: 0,
        vat: 52_500,
        total: 802_500,
        paid: 0,
        due: 802_500,
        status: "open",
    };
    // January and February are paid in full by the credit (฿20,000.00 − 2 × ฿6,821.25 =
    // ฿6,357.50 left); March takes the rest and leaves ฿463.75 due.
    let expected = |i: u32| match i {
        0 | 1 => campaign(i, 682_125),
        2 => campaign(i, 635_750),
        _ => full(i),
    };
    check(&invoices(&app, &admin, &sub).await[0], &expected(0));

    // ---- Each first of the month to January 2031: the upcoming invoice the day before, the
    // run, and the invoice it issued.
    for i in 1..=12 {
        let eve = format!("{}-{:02}-28", 2030 + (i - 1) / 12, (i - 1) % 12 + 1);
        let admin = set_date(&app, &eve).await;
        let upcoming = ok(app
            .get(
                &format!("/api/subscriptions/{sub}/upcoming-invoice"),
                &admin,
            )
            .await)
        .await;
        let admin = set_date(&app, &first_of(i)).await;
        let report = run_billing(&app, &admin).await;
        assert_eq!(report["invoices_created"], 1, "{}: {report}", first_of(i));
        let all = invoices(&app, &admin, &sub).await;
        assert_eq!(all.len(), i as usize + 1);
        let issued = &all[i as usize];
        check(issued, &expected(i));
        same_as_upcoming(&upcoming, issued);
        let s = ok(app.get(&format!("/api/subscriptions/{sub}"), &admin).await).await;
        assert_eq!(s["unit_price"], DEAL, "{}", first_of(i));
        if i < 2 {
            assert_eq!(s["discount"]["periods_remaining"], 2 - i, "{}", first_of(i));
        } else {
            assert_eq!(s["discount"], Value::Null, "{}: ended", first_of(i));
        }
    }

    // The credit: three `credit` payments, the grant used up to the satang.
    let admin = app.admin_token().await;
    let payments = ok(app
        .get(&format!("/api/payments?customer_id={agri}"), &admin)
        .await)
    .await;
    let mut paid: Vec<(String, i64)> = payments["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["method"], "credit", "{p}");
            (
                p["invoice_id"].as_str().unwrap().to_owned(),
                p["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    paid.sort();
    let all = invoices(&app, &admin, &sub).await;
    let mut expected_paid: Vec<(String, i64)> = all[..3]
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["amount_paid"].as_i64().unwrap(),
            )
        })
        .collect();
    expected_paid.sort();
    assert_eq!(paid, expected_paid);
    assert_eq!(paid.iter().map(|p| p.1).sum::<i64>(), 2_000_000);
    let grants = ok(app
        .get(&format!("/api/customers/{agri}/credit-grants"), &admin)
        .await)
    .await;
    let grant = &grants["data"][0];
    assert_eq!(grant["id"], prepaid["id"]);
    assert_eq!(
        (&grant["remaining"], &grant["status"]),
        (&json!(0), &json!("depleted"))
    );
    // The coupon gave exactly three periods; the year's invoices add up.
    let total: i64 = all.iter().map(|i| i["total"].as_i64().unwrap()).sum();
    assert_eq!(total, 3 * 682_125 + 10 * 802_500);
    let due: i64 = all.iter().map(|i| i["amount_due"].as_i64().unwrap()).sum();
    assert_eq!(due, 46_375 + 10 * 802_500);
}
