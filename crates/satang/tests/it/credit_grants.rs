//! Credit grants (SPEC §2.11) through the HTTP API, on both databases: who may grant, list and
//! void them; every refusal naming its field and changing nothing; promotional credit taken
//! after a coupon and before VAT, prepaid credit paying after VAT as a `credit` payment, by the
//! finalisation of a subscription's first invoice and by the billing run; expiry and depletion.
//! Figures are worked out by hand in the comments (VAT 7 %, half-up).

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::billing::{insert_customer, member_token, run_billing, set_date};
use crate::common::{Backend, TestApp, expect_problem, json_of, ok, spawn_clocked_on};

both_backends!(
    grants_are_created_listed_and_voided_by_the_right_people,
    refused_grants_change_nothing,
    invoices_consume_promotional_then_prepaid_credit,
    two_finalisations_at_once_never_overdraw_a_grant,
);

fn grants_path(customer: impl std::fmt::Display) -> String {
    format!("/api/customers/{customer}/credit-grants")
}

async fn grants(app: &TestApp, token: &str, customer: impl std::fmt::Display) -> Vec<Value> {
    let page = ok(app.get(&grants_path(customer), token).await).await;
    page["data"].as_array().unwrap().clone()
}

async fn grant(app: &TestApp, token: &str, customer: impl std::fmt::Display, body: Value) -> Value {
    json_of(
        app.post(&grants_path(customer), Some(token), body).await,
        201,
    )
    .await
}

async fn grants_are_created_listed_and_voided_by_the_right_people(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    let farm = insert_customer(&app, "สหกรณ์ข้าวหอมมะลิ", "active").await;
    let created = grant(
        &app,
        &admin,
        farm,
        json!({"type": "promotional", "amount": 50_000, "note": "launch campaign",
               "expires_at": "2030-06-30T17:00:00Z"}),
    )
    .await;
    assert_eq!(created["type"], "promotional");
    assert_eq!(
        (&created["amount"], &created["remaining"]),
        (&json!(50_000), &json!(50_000))
    );
    assert_eq!(created["priority"], 50, "the default");
    assert_eq!(created["currency"], "THB");
    assert_eq!(created["status"], "active");
    assert_eq!(created["expires_at"], "2030-06-30T17:00:00Z");

    // A member sees the customer's credit but cannot grant or void it.
    let owner = member_token(&app, "owner@farm.example", farm, "owner").await;
    let seen = grants(&app, &owner, farm).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["id"], created["id"]);
    expect_problem(
        app.post(
            &grants_path(farm),
            Some(&owner),
            json!({"type": "prepaid", "amount": 1}),
        )
        .await,
        403,
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let void_path = format!("{}/{id}/void", grants_path(farm));
    expect_problem(app.post(&void_path, Some(&owner), json!({})).await, 403).await;
    // Another customer's member does not even see it.
    let other = insert_customer(&app, "ร้านอื่น", "active").await;
    let stranger = member_token(&app, "owner@other.example", other, "owner").await;
    expect_problem(app.get(&grants_path(farm), &stranger).await, 404).await;

    let voided = ok(app.post(&void_path, Some(&admin), json!({})).await).await;
    assert_eq!(voided["status"], "voided");
    assert_eq!(
        voided["remaining"], 50_000,
        "kept for the record, never given"
    );
    expect_problem(app.post(&void_path, Some(&admin), json!({})).await, 409).await;
    let unknown = format!("{}/{}/void", grants_path(farm), uuid::Uuid::now_v7());
    expect_problem(app.post(&unknown, Some(&admin), json!({})).await, 404).await;
}

async fn refused_grants_change_nothing(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    let farm = insert_customer(&app, "สหกรณ์ข้าวหอมมะลิ", "active").await;
    for (body, field) in [
        (json!({"type": "promotional", "amount": -100}), "amount"),
        (json!({"type": "promotional", "amount": 0}), "amount"),
        (json!({"type": "gift", "amount": 100}), "type"),
        (
            json!({"type": "prepaid", "amount": 100, "priority": 101}),
            "priority",
        ),
        (
            json!({"type": "prepaid", "amount": 100, "priority": -1}),
            "priority",
        ),
        (
            json!({"type": "prepaid", "amount": 100, "currency": "XYZ"}),
            "currency",
        ),
        (
            json!({"type": "prepaid", "amount": 100, "expires_at": "2030-01-01T00:00:00Z"}),
            "expires_at",
        ),
    ] {
        let problem =
            expect_problem(app.post(&grants_path(farm), Some(&admin), body).await, 422).await;
        assert!(problem["errors"].get(field).is_some(), "{field}: {problem}");
    }
    assert!(grants(&app, &admin, farm).await.is_empty());
}

/// The money of an invoice: [subtotal, discount, vat_amount, total, amount_paid, amount_due].
fn figures(invoice: &Value) -> [i64; 6] {
    [
        "subtotal",
        "discount",
        "vat_amount",
        "total",
        "amount_paid",
        "amount_due",
    ]
    .map(|k| invoice[k].as_i64().unwrap())
}

async fn invoices_of(app: &TestApp, admin: &str, sub: &str) -> Vec<Value> {
    let page = ok(app
        .get(&format!("/api/invoices?subscription_id={sub}"), admin)
        .await)
    .await;
    page["data"].as_array().unwrap().clone()
}

async fn invoices_consume_promotional_then_prepaid_credit(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    json_of(
        app.post(
            "/api/coupons",
            Some(&admin),
            json!({"code": "RICE20", "percent_off_bps": 2000, "duration": "forever"}),
        )
        .await,
        201,
    )
    .await;
    let farm = insert_customer(&app, "สหกรณ์ข้าวหอมมะลิ", "active").await;
    // Lower priority first (6,000), then of equal priority the earlier expiry (4,000 before
    // 9,000); the prepaid grant pays after VAT.
    let late = grant(
        &app,
        &admin,
        farm,
        json!({"type": "promotional", "amount": 9_000,
        "priority": 20, "expires_at": "2030-12-31T00:00:00Z"}),
    )
    .await;
    let first = grant(
        &app,
        &admin,
        farm,
        json!({"type": "promotional", "amount": 6_000,
        "priority": 10}),
    )
    .await;
    let soon = grant(
        &app,
        &admin,
        farm,
        json!({"type": "promotional", "amount": 4_000,
        "priority": 20, "expires_at": "2030-01-20T00:00:00Z"}),
    )
    .await;
    let prepaid = grant(
        &app,
        &admin,
        farm,
        json!({"type": "prepaid", "amount": 50_000}),
    )
    .await;
    let sub = json_of(
        app.post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": farm, "plan_code": "PRO", "trial_days": 0, "coupon": "RICE20",
                   "collection_method": "send_invoice"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // PRO ฿990.00 − coupon 20 % (฿198.00) leaves ฿792.00 for promotional credit, which takes
    // all three grants in order: ฿60.00 + ฿40.00 + ฿90.00 = ฿190.00 (discount ฿388.00).
    // Taxable ฿602.00, VAT ฿42.14, total ฿644.14; prepaid ฿500.00 pays, ฿144.14 due.
    let issued = invoices_of(&app, &admin, &sub).await;
    assert_eq!(issued.len(), 1);
    let inv = &issued[0];
    assert_eq!(
        figures(inv),
        [99_000, 38_800, 4_214, 64_414, 50_000, 14_414]
    );
    assert_eq!(
        inv["discounts"],
        json!([
            {"coupon_code": "RICE20", "amount": 19_800},
            {"coupon_code": "CREDIT", "credit_grant_id": first["id"], "amount": 6_000},
            {"coupon_code": "CREDIT", "credit_grant_id": soon["id"], "amount": 4_000},
            {"coupon_code": "CREDIT", "credit_grant_id": late["id"], "amount": 9_000},
        ])
    );
    assert_eq!(inv["status"], "open");
    let payments = ok(app
        .get(&format!("/api/payments?customer_id={farm}"), &admin)
        .await)
    .await;
    let payments = payments["data"].as_array().unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["method"], "credit");
    assert_eq!(payments[0]["amount"], 50_000);
    assert_eq!(payments[0]["invoice_id"], inv["id"]);
    let after: Vec<(Value, Value)> = grants(&app, &admin, farm)
        .await
        .into_iter()
        .map(|g| (g["remaining"].clone(), g["status"].clone()))
        .collect();
    assert_eq!(
        after,
        [
            (json!(0), json!("depleted")),
            (json!(0), json!("depleted")),
            (json!(0), json!("depleted")),
            (json!(0), json!("depleted")),
        ]
    );

    // February: a new promotional grant that expires before the run, and prepaid credit that
    // covers the whole invoice (฿792.00 + VAT ฿55.44 = ฿847.44) with ฿152.56 left.
    let expiring = grant(
        &app,
        &admin,
        farm,
        json!({"type": "promotional", "amount": 10_000,
        "priority": 0, "expires_at": "2030-02-01T00:00:00Z"}),
    )
    .await;
    let topped = grant(
        &app,
        &admin,
        farm,
        json!({"type": "prepaid", "amount": 100_000}),
    )
    .await;
    let admin = set_date(&app, "2030-02-10").await;
    assert_eq!(run_billing(&app, &admin).await["invoices_created"], 1);
    let all = invoices_of(&app, &admin, &sub).await;
    let feb = all.last().unwrap();
    assert_eq!(figures(feb), [99_000, 19_800, 5_544, 84_744, 84_744, 0]);
    assert_eq!(feb["status"], "paid");
    let now: Vec<Value> = grants(&app, &admin, farm).await;
    let by_id = |id: &Value| now.iter().find(|g| &g["id"] == id).unwrap().clone();
    assert_eq!(by_id(&expiring["id"])["status"], "expired");
    assert_eq!(by_id(&expiring["id"])["remaining"], 10_000);
    assert_eq!(by_id(&topped["id"])["remaining"], 15_256);
    assert_eq!(by_id(&topped["id"])["status"], "active");
    let _ = prepaid;

    // The audit log names every grant's life.
    let audit = ok(app
        .get(
            "/api/audit-events?entity_type=credit_grant&limit=200",
            &admin,
        )
        .await)
    .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "credit_grant.created",
        "credit_grant.depleted",
        "credit_grant.expired",
    ] {
        assert!(actions.contains(&action), "{action}: {actions:?}");
    }
}

/// Two invoices of one customer finalised at the same moment, several rounds: the grants are
/// taken one finalisation after the other, never twice, never below 0. Each draft is ฿700.00.
/// Whichever goes first takes the ฿300.00 promotional credit (taxable ฿400.00, VAT ฿28.00,
/// total ฿428.00, paid by prepaid credit); the other gets none of it (฿700.00 + VAT ฿49.00 =
/// ฿749.00) and the ฿572.00 of prepaid credit left, ฿177.00 due.
async fn two_finalisations_at_once_never_overdraw_a_grant(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    for round in 0..4 {
        let farm = insert_customer(&app, &format!("สหกรณ์รอบที่ {round}"), "active").await;
        let promotional = grant(
            &app,
            &admin,
            farm,
            json!({"type": "promotional", "amount": 30_000}),
        )
        .await;
        let prepaid = grant(
            &app,
            &admin,
            farm,
            json!({"type": "prepaid", "amount": 100_000}),
        )
        .await;
        let mut drafts = Vec::new();
        for _ in 0..2 {
            let d = json_of(
                app.post(
                    "/api/invoices",
                    Some(&admin),
                    json!({"customer_id": farm, "lines": [
                        {"description": "ค่าบริการที่ปรึกษา", "quantity": 1, "unit_amount": 70_000}]}),
                )
                .await,
                201,
            )
            .await;
            drafts.push(d["id"].as_str().unwrap().to_owned());
        }
        let (a, b) = (
            format!("/api/invoices/{}/finalize", drafts[0]),
            format!("/api/invoices/{}/finalize", drafts[1]),
        );
        let (first, second) = tokio::join!(
            app.call(Method::POST, &a, Some(&admin), None),
            app.call(Method::POST, &b, Some(&admin), None),
        );
        let mut issued = Vec::new();
        for res in [first, second] {
            issued.push(json_of(res, 200).await);
        }
        issued.sort_by_key(|i| i["total"].as_i64().unwrap());
        assert_eq!(
            issued.iter().map(figures).collect::<Vec<_>>(),
            [
                [70_000, 30_000, 2_800, 42_800, 42_800, 0],
                [70_000, 0, 4_900, 74_900, 57_200, 17_700],
            ],
            "round {round}"
        );
        let now = grants(&app, &admin, farm).await;
        let by_id = |id: &Value| now.iter().find(|g| &g["id"] == id).unwrap().clone();
        assert_eq!(
            (
                &by_id(&promotional["id"])["remaining"],
                &by_id(&promotional["id"])["status"]
            ),
            (&json!(0), &json!("depleted")),
            "round {round}"
        );
        assert_eq!(
            (
                &by_id(&prepaid["id"])["remaining"],
                &by_id(&prepaid["id"])["status"]
            ),
            (&json!(0), &json!("depleted")),
            "round {round}"
        );
        let payments = ok(app
            .get(&format!("/api/payments?customer_id={farm}"), &admin)
            .await)
        .await;
        let credit: i64 = payments["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                assert_eq!(p["method"], "credit");
                p["amount"].as_i64().unwrap()
            })
            .sum();
        assert_eq!(credit, 100_000, "round {round}: exactly the grant, once");
    }
}
