//! Coupons, discounts and negotiated prices (SPEC §2.11) through the HTTP API, on both
//! databases: the coupon catalogue and who may touch it; a "three months −20 %" campaign
//! followed on the test clock until it stops; every refusal changing nothing; the last
//! redemption taken exactly once under concurrency; a negotiated ENTERPRISE price on every
//! invoice and in proration. Figures are worked out by hand in the comments (VAT 7 %, half-up).

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::billing::{insert_customer, member_token, run_billing, set_date};
use crate::common::{Backend, TestApp, expect_problem, json_of, ok, spawn_clocked_on};

both_backends!(
    coupons_are_created_read_and_archived_by_the_right_people,
    a_three_month_campaign_stops_after_its_periods,
    refused_coupons_change_nothing,
    the_last_redemption_is_taken_once_under_concurrency,
    a_negotiated_price_is_billed_and_prorated,
    members_type_promotion_codes_but_never_set_prices,
);

async fn create_coupon(app: &TestApp, token: &str, body: Value) -> Value {
    json_of(app.post("/api/coupons", Some(token), body).await, 201).await
}

async fn subscribe(app: &TestApp, token: &str, body: Value) -> Value {
    json_of(app.post("/api/subscriptions", Some(token), body).await, 201).await
}

async fn invoices_of(app: &TestApp, admin: &str, sub: &str) -> Vec<Value> {
    let page = ok(app
        .get(&format!("/api/invoices?subscription_id={sub}"), admin)
        .await)
    .await;
    page["data"].as_array().unwrap().clone()
}

async fn subscription(app: &TestApp, admin: &str, id: &str) -> Value {
    ok(app.get(&format!("/api/subscriptions/{id}"), admin).await).await
}

async fn coupon(app: &TestApp, admin: &str, id: &str) -> Value {
    ok(app.get(&format!("/api/coupons/{id}"), admin).await).await
}

/// The money of an invoice: [subtotal, discount, vat_amount, total].
fn figures(invoice: &Value) -> [i64; 4] {
    ["subtotal", "discount", "vat_amount", "total"].map(|k| invoice[k].as_i64().unwrap())
}

fn problem_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

async fn coupons_are_created_read_and_archived_by_the_right_people(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    let created = create_coupon(
        &app,
        &admin,
        json!({"code": "rice-20", "name": {"th": "ข้าวลด 20%", "en": "Rice 20 % off"},
               "percent_off_bps": 2000, "duration": "repeating", "duration_in_periods": 3,
               "applies_to_plans": ["pro", "TEAM"], "max_redemptions": 100,
               "redeem_by": "2030-12-31T17:00:00Z"}),
    )
    .await;
    assert_eq!(created["code"], "RICE-20", "stored upper-case");
    assert_eq!(
        created["name"],
        json!({"th": "ข้าวลด 20%", "en": "Rice 20 % off"})
    );
    assert_eq!(
        (
            &created["percent_off_bps"],
            &created["duration"],
            &created["duration_in_periods"]
        ),
        (&json!(2000), &json!("repeating"), &json!(3))
    );
    assert!(created.get("amount_off").is_none());
    assert_eq!(created["applies_to_plans"], json!(["PRO", "TEAM"]));
    assert_eq!(
        (
            &created["max_redemptions"],
            &created["active"],
            &created["times_redeemed"]
        ),
        (&json!(100), &json!(true), &json!(0))
    );
    assert_eq!(created["redeem_by"], "2030-12-31T17:00:00Z");
    let id = created["id"].as_str().unwrap().to_owned();

    // Codes are unique case-insensitively.
    expect_problem(
        app.post(
            "/api/coupons",
            Some(&admin),
            json!({"code": "RICE-20", "percent_off_bps": 500, "duration": "once"}),
        )
        .await,
        409,
    )
    .await;

    // Bad input names its field.
    for (body, field) in [
        (
            json!({"code": "X1", "percent_off_bps": 10, "amount_off": 10, "duration": "once"}),
            "percent_off_bps",
        ),
        (json!({"code": "X1", "duration": "once"}), "percent_off_bps"),
        (
            json!({"code": "X1", "percent_off_bps": 10001, "duration": "once"}),
            "percent_off_bps",
        ),
        (
            json!({"code": "X1", "percent_off_bps": 0, "duration": "once"}),
            "percent_off_bps",
        ),
        (
            json!({"code": "X1", "amount_off": -500, "duration": "once"}),
            "amount_off",
        ),
        (
            json!({"code": "X1", "amount_off": 500, "currency": "XXX", "duration": "once"}),
            "currency",
        ),
        (
            json!({"code": "ลดราคา", "percent_off_bps": 10, "duration": "once"}),
            "code",
        ),
        (
            json!({"code": "X1", "percent_off_bps": 10, "duration": "repeating"}),
            "duration_in_periods",
        ),
        (
            json!({"code": "X1", "percent_off_bps": 10, "duration": "weekly"}),
            "duration",
        ),
        (
            json!({"code": "X1", "percent_off_bps": 10, "duration": "once",
                   "max_redemptions": 0}),
            "max_redemptions",
        ),
        (
            json!({"code": "X1", "percent_off_bps": 10, "duration": "once",
                   "redeem_by": "2030-01-01T00:00:00Z"}),
            "redeem_by",
        ),
    ] {
        let problem = expect_problem(
            app.post("/api/coupons", Some(&admin), body.clone()).await,
            422,
        )
        .await;
        assert!(
            problem_fields(&problem).contains(&field.to_owned()),
            "{body} should be refused on {field}: {problem}"
        );
    }

    // An amount off is THB unless said otherwise.
    let fixed = create_coupon(
        &app,
        &admin,
        json!({"code": "HUNDRED", "amount_off": 10_000, "duration": "once"}),
    )
    .await;
    assert_eq!(
        (&fixed["amount_off"], &fixed["currency"]),
        (&json!(10_000), &json!("THB"))
    );
    assert!(fixed.get("percent_off_bps").is_none());
    assert_eq!(fixed["name"], json!({"th": "HUNDRED", "en": "HUNDRED"}));

    // Billing staff create too; support and viewers read; members do not even read.
    let billing = app.staff_token("billing@satang.test", &["billing"]).await;
    create_coupon(
        &app,
        &billing,
        json!({"code": "SONGKRAN", "percent_off_bps": 1000, "duration": "forever"}),
    )
    .await;
    let support = app.staff_token("support@satang.test", &["support"]).await;
    expect_problem(
        app.post(
            "/api/coupons",
            Some(&support),
            json!({"code": "NOPE", "percent_off_bps": 1000, "duration": "forever"}),
        )
        .await,
        403,
    )
    .await;
    expect_problem(
        app.post(
            &format!("/api/coupons/{id}/archive"),
            Some(&support),
            json!({}),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(coupon(&app, &support, &id).await["code"], "RICE-20");
    let farm = insert_customer(&app, "ไร่ทดสอบ", "active").await;
    let member = member_token(&app, "owner@farm.test", farm, "owner").await;
    expect_problem(app.get("/api/coupons", &member).await, 403).await;
    expect_problem(app.get(&format!("/api/coupons/{id}"), &member).await, 403).await;
    expect_problem(
        app.get(&format!("/api/coupons/{}", Uuid::now_v7()), &admin)
            .await,
        404,
    )
    .await;

    // The list pages like every other.
    let page = ok(app.get("/api/coupons?limit=2", &support).await).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let rest = ok(app
        .get(&format!("/api/coupons?limit=2&cursor={cursor}"), &support)
        .await)
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);

    // Archiving is final and idempotent.
    let archived = ok(app
        .post(
            &format!("/api/coupons/{id}/archive"),
            Some(&billing),
            json!({}),
        )
        .await)
    .await;
    assert_eq!(archived["active"], false);
    let again = ok(app
        .post(
            &format!("/api/coupons/{id}/archive"),
            Some(&admin),
            json!({}),
        )
        .await)
    .await;
    assert_eq!(again["active"], false);

    let audit = ok(app
        .get(
            &format!("/api/audit-events?entity_type=coupon&entity_id={id}"),
            &admin,
        )
        .await)
    .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"coupon.created"), "{actions:?}");
    assert!(actions.contains(&"coupon.archived"), "{actions:?}");
}

async fn a_three_month_campaign_stops_after_its_periods(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    let campaign = create_coupon(
        &app,
        &admin,
        json!({"code": "RICE20", "percent_off_bps": 2000, "duration": "repeating",
               "duration_in_periods": 3}),
    )
    .await;
    let farm = insert_customer(&app, "สหกรณ์ข้าวหอมมะลิ", "active").await;
    let created = subscribe(
        &app,
        &admin,
        json!({"customer_id": farm, "plan_code": "PRO", "trial_days": 0, "coupon": "rice20",
               "collection_method": "send_invoice"}),
    )
    .await;
    let sub = created["id"].as_str().unwrap().to_owned();
    // The first month is invoiced at once and uses the first of the three periods.
    let discount = &created["discount"];
    assert_eq!(discount["coupon_code"], "RICE20");
    assert_eq!(discount["percent_off_bps"], 2000);
    assert_eq!(discount["periods_remaining"], 2);
    assert!(discount["starts_at"].is_string());
    // February and March are still to come: the last discounted period ends on 10 April.
    assert_eq!(discount["ends_at"], "2030-04-10");

    // PRO ฿990.00 − 20 % (฿198.00) = ฿792.00; VAT 7 % = ฿55.44; total ฿847.44.
    let discounted = [99_000, 19_800, 5_544, 84_744];
    let first = invoices_of(&app, &admin, &sub).await;
    assert_eq!(first.len(), 1);
    assert_eq!(figures(&first[0]), discounted);
    assert_eq!(
        first[0]["discounts"],
        json!([{"coupon_code": "RICE20", "amount": 19_800}])
    );
    assert_eq!(first[0]["amount_due"], 84_744);
    let id = campaign["id"].as_str().unwrap();
    assert_eq!(coupon(&app, &admin, id).await["times_redeemed"], 1);

    // February and March are discounted by the billing run; the discount then ends.
    for (date, remaining) in [("2030-02-10", json!(1)), ("2030-03-10", Value::Null)] {
        let admin = set_date(&app, date).await;
        assert_eq!(
            run_billing(&app, &admin).await["invoices_created"],
            1,
            "{date}"
        );
        let all = invoices_of(&app, &admin, &sub).await;
        let last = all.last().unwrap();
        assert_eq!(last["period_start"], date);
        assert_eq!(figures(last), discounted, "{date}");
        let s = subscription(&app, &admin, &sub).await;
        if remaining.is_null() {
            assert_eq!(s["discount"], Value::Null, "ended after three periods");
        } else {
            assert_eq!(s["discount"]["periods_remaining"], remaining, "{date}");
            assert_eq!(s["discount"]["ends_at"], "2030-04-10", "{date}");
        }
    }

    // April and May: full price, ฿990.00 + ฿69.30.
    for date in ["2030-04-10", "2030-05-10"] {
        let admin = set_date(&app, date).await;
        assert_eq!(
            run_billing(&app, &admin).await["invoices_created"],
            1,
            "{date}"
        );
        let all = invoices_of(&app, &admin, &sub).await;
        let last = all.last().unwrap();
        assert_eq!(figures(last), [99_000, 0, 6_930, 105_930], "{date}");
        assert_eq!(last["discounts"], json!([]));
    }
    let admin = app.admin_token().await;
    assert_eq!(invoices_of(&app, &admin, &sub).await.len(), 5);

    // The redemption is in the subscription's audit log.
    let audit = ok(app
        .get(
            &format!("/api/audit-events?entity_type=subscription&entity_id={sub}"),
            &admin,
        )
        .await)
    .await;
    assert!(
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "subscription.discount_applied"),
        "{audit}"
    );
}

async fn refused_coupons_change_nothing(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    let farm = insert_customer(&app, "ไร่มันสำปะหลัง", "active").await;
    let coupons = [
        json!({"code": "ARCHIVED", "percent_off_bps": 1000, "duration": "once"}),
        json!({"code": "TEAMONLY", "percent_off_bps": 1000, "duration": "once",
               "applies_to_plans": ["TEAM"]}),
        json!({"code": "DOLLARS", "amount_off": 500, "currency": "USD", "duration": "once"}),
        json!({"code": "SOON-OVER", "percent_off_bps": 1000, "duration": "once",
               "redeem_by": "2030-01-15T00:00:00Z"}),
        json!({"code": "ONE-ONLY", "percent_off_bps": 1000, "duration": "forever",
               "max_redemptions": 1}),
        json!({"code": "FIFTY", "amount_off": 5_000, "duration": "forever"}),
    ];
    let mut ids = Vec::new();
    for body in coupons {
        ids.push(
            create_coupon(&app, &admin, body).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    ok(app
        .post(
            &format!("/api/coupons/{}/archive", ids[0]),
            Some(&admin),
            json!({}),
        )
        .await)
    .await;

    // A subscription with a bad code is not created at all.
    let bad = expect_problem(
        app.post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": farm, "plan_code": "PRO", "trial_days": 0,
                   "coupon": "NO-SUCH"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(problem_fields(&bad), ["coupon"]);
    let none = ok(app
        .get(&format!("/api/customers/{farm}/subscriptions"), &admin)
        .await)
    .await;
    assert_eq!(none["data"], json!([]));

    let sub = subscribe(
        &app,
        &admin,
        json!({"customer_id": farm, "plan_code": "PRO"}),
    )
    .await;
    let sub = sub["id"].as_str().unwrap().to_owned();
    let other = subscribe(
        &app,
        &admin,
        json!({"customer_id": farm, "plan_code": "TEAM"}),
    )
    .await;
    let other = other["id"].as_str().unwrap().to_owned();
    ok(app
        .post(
            &format!("/api/subscriptions/{other}/discount"),
            Some(&admin),
            json!({"coupon": "one-only"}),
        )
        .await)
    .await;

    let admin = set_date(&app, "2030-01-16").await;
    let discount = format!("/api/subscriptions/{sub}/discount");
    for (code, status) in [
        ("NO-SUCH", 422),
        ("not a code!", 422),
        ("ARCHIVED", 422),
        ("TEAMONLY", 422),
        ("DOLLARS", 422),
        ("SOON-OVER", 422),
        ("ONE-ONLY", 409),
    ] {
        let problem = expect_problem(
            app.post(&discount, Some(&admin), json!({"coupon": code}))
                .await,
            status,
        )
        .await;
        if status == 422 {
            assert_eq!(problem_fields(&problem), ["coupon"], "{code}: {problem}");
        }
        assert_eq!(
            subscription(&app, &admin, &sub).await["discount"],
            Value::Null,
            "{code}"
        );
    }
    let redeemed: Vec<i64> = {
        let mut counts = Vec::new();
        for id in &ids {
            counts.push(
                coupon(&app, &admin, id).await["times_redeemed"]
                    .as_i64()
                    .unwrap(),
            );
        }
        counts
    };
    assert_eq!(redeemed, [0, 0, 0, 0, 1, 0]);

    // One discount at a time; removing it makes room for another.
    ok(app
        .post(&discount, Some(&admin), json!({"coupon": "FIFTY"}))
        .await)
    .await;
    expect_problem(
        app.post(&discount, Some(&admin), json!({"coupon": "FIFTY"}))
            .await,
        409,
    )
    .await;
    let removed = ok(app
        .call(Method::DELETE, &discount, Some(&admin), None)
        .await)
    .await;
    assert_eq!(removed["discount"], Value::Null);
    expect_problem(
        app.call(Method::DELETE, &discount, Some(&admin), None)
            .await,
        404,
    )
    .await;
    let again = ok(app
        .post(&discount, Some(&admin), json!({"coupon": "fifty"}))
        .await)
    .await;
    assert_eq!(again["discount"]["amount_off"], 5_000);
    assert_eq!(again["discount"]["currency"], "THB");
    assert_eq!(coupon(&app, &admin, &ids[5]).await["times_redeemed"], 2);
}

async fn the_last_redemption_is_taken_once_under_concurrency(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    let farm = insert_customer(&app, "สหกรณ์โคนม", "active").await;
    for round in 0..4 {
        let code = format!("LAST-{round}");
        let c = create_coupon(
            &app,
            &admin,
            json!({"code": code, "percent_off_bps": 1500, "duration": "once",
                   "max_redemptions": 1}),
        )
        .await;
        let mut subs = Vec::new();
        for _ in 0..2 {
            let s = subscribe(
                &app,
                &admin,
                json!({"customer_id": farm, "plan_code": "PRO"}),
            )
            .await;
            subs.push(s["id"].as_str().unwrap().to_owned());
        }
        let (a, b) = (
            format!("/api/subscriptions/{}/discount", subs[0]),
            format!("/api/subscriptions/{}/discount", subs[1]),
        );
        let (first, second) = tokio::join!(
            app.post(&a, Some(&admin), json!({"coupon": code})),
            app.post(&b, Some(&admin), json!({"coupon": code})),
        );
        let mut statuses = [first.status().as_u16(), second.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}");
        let c = coupon(&app, &admin, c["id"].as_str().unwrap()).await;
        assert_eq!(c["times_redeemed"], 1, "round {round}");
        let mut with_discount = 0;
        for s in &subs {
            if !subscription(&app, &admin, s).await["discount"].is_null() {
                with_discount += 1;
            }
        }
        assert_eq!(with_discount, 1, "round {round}");
    }
}

async fn a_negotiated_price_is_billed_and_prorated(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-01").await else {
        return;
    };
    let agri = insert_customer(&app, "บริษัท เกษตรรุ่งเรือง จำกัด", "active").await;
    let billing = app.staff_token("deals@satang.test", &["billing"]).await;
    // ENTERPRISE is ฿9,900.00 a month; the deal is ฿7,500.00.
    let created = subscribe(
        &app,
        &billing,
        json!({"customer_id": agri, "plan_code": "ENTERPRISE", "unit_price": 750_000,
               "collection_method": "send_invoice"}),
    )
    .await;
    assert_eq!(created["unit_price"], 750_000);
    let sub = created["id"].as_str().unwrap().to_owned();
    let first = invoices_of(&app, &admin, &sub).await;
    assert_eq!(first[0]["lines"][0]["unit_amount"], 750_000);
    // ฿7,500.00 + 7 % = ฿8,025.00.
    assert_eq!(figures(&first[0]), [750_000, 0, 52_500, 802_500]);

    expect_problem(
        app.post(
            "/api/subscriptions",
            Some(&billing),
            json!({"customer_id": agri, "plan_code": "PRO", "unit_price": -1}),
        )
        .await,
        422,
    )
    .await;

    // 17 January: the price goes up to ฿8,000.00 for the rest of the month. Jan 17–31 is 15
    // of 31 days: credit −750,000 × 15/31 = −362,903.2 → −362,903; charge 800,000 × 15/31 =
    // 387,096.8 → 387,097; net 24,194; VAT 1,693.58 → 1,694; total 25,888.
    let admin = set_date(&app, "2030-01-17").await;
    let path = format!("/api/subscriptions/{sub}/change-plan");
    let preview = ok(app
        .post(
            &path,
            Some(&admin),
            json!({"plan_code": "ENTERPRISE", "unit_price": 800_000, "preview": true}),
        )
        .await)
    .await;
    let amounts: Vec<i64> = preview["proration"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [-362_903, 387_097]);
    let changed = ok(app
        .post(
            &path,
            Some(&admin),
            json!({"plan_code": "ENTERPRISE", "unit_price": 800_000}),
        )
        .await)
    .await;
    assert_eq!(changed["subscription"]["unit_price"], 800_000);
    let all = invoices_of(&app, &admin, &sub).await;
    let proration = all.last().unwrap();
    assert_eq!(proration["billing_reason"], "proration");
    assert_eq!(figures(proration), [24_194, 0, 1_694, 25_888]);

    // A change of seats or nothing else keeps the negotiated price; February is billed at it.
    let admin = set_date(&app, "2030-02-01").await;
    assert_eq!(run_billing(&app, &admin).await["invoices_created"], 1);
    let all = invoices_of(&app, &admin, &sub).await;
    assert_eq!(figures(all.last().unwrap()), [800_000, 0, 56_000, 856_000]);
    assert_eq!(
        subscription(&app, &admin, &sub).await["unit_price"],
        800_000
    );

    // Moving to another plan without a price ends the deal: PRO at its own price.
    let moved = ok(app
        .post(&path, Some(&admin), json!({"plan_code": "PRO"}))
        .await)
    .await;
    assert_eq!(moved["effective"], "period_end");
    let admin = set_date(&app, "2030-03-01").await;
    assert_eq!(run_billing(&app, &admin).await["invoices_created"], 1);
    let s = subscription(&app, &admin, &sub).await;
    assert_eq!(
        (&s["plan_code"], &s["unit_price"]),
        (&json!("PRO"), &Value::Null)
    );
    let all = invoices_of(&app, &admin, &sub).await;
    assert_eq!(figures(all.last().unwrap()), [99_000, 0, 6_930, 105_930]);
}

async fn members_type_promotion_codes_but_never_set_prices(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-01-10").await else {
        return;
    };
    let farm = insert_customer(&app, "ไร่ทุเรียนป้าแดง", "active").await;
    create_coupon(
        &app,
        &admin,
        json!({"code": "DURIAN10", "percent_off_bps": 1000, "duration": "forever"}),
    )
    .await;
    let owner = member_token(&app, "owner@durian.test", farm, "owner").await;
    let reader = member_token(&app, "member@durian.test", farm, "member").await;
    expect_problem(
        app.post(
            "/api/subscriptions",
            Some(&owner),
            json!({"customer_id": farm, "plan_code": "PRO", "unit_price": 100}),
        )
        .await,
        403,
    )
    .await;
    let sub = subscribe(
        &app,
        &owner,
        json!({"customer_id": farm, "plan_code": "PRO"}),
    )
    .await;
    let sub = sub["id"].as_str().unwrap().to_owned();
    expect_problem(
        app.post(
            &format!("/api/subscriptions/{sub}/change-plan"),
            Some(&owner),
            json!({"plan_code": "PRO", "unit_price": 100, "preview": true}),
        )
        .await,
        403,
    )
    .await;
    let discount = format!("/api/subscriptions/{sub}/discount");
    expect_problem(
        app.post(&discount, Some(&reader), json!({"coupon": "DURIAN10"}))
            .await,
        403,
    )
    .await;
    let applied = ok(app
        .post(&discount, Some(&owner), json!({"coupon": "durian10"}))
        .await)
    .await;
    assert_eq!(applied["discount"]["coupon_code"], "DURIAN10");
    assert_eq!(applied["discount"]["periods_remaining"], Value::Null);

    // Another customer's member cannot even see the subscription.
    let other = insert_customer(&app, "ไร่อื่น", "active").await;
    let stranger = member_token(&app, "owner@other.test", other, "owner").await;
    expect_problem(
        app.call(Method::DELETE, &discount, Some(&stranger), None)
            .await,
        404,
    )
    .await;

    // The trial ends on 24 January: 10 % off PRO for ever. ฿990.00 − ฿99.00 = ฿891.00, VAT
    // ฿62.37, total ฿953.37.
    let admin = set_date(&app, "2030-01-24").await;
    assert_eq!(run_billing(&app, &admin).await["invoices_created"], 1);
    let all = invoices_of(&app, &admin, &sub).await;
    assert_eq!(figures(&all[0]), [99_000, 9_900, 6_237, 95_337]);
    let pdf = app
        .get(
            &format!("/api/invoices/{}/pdf", all[0]["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(pdf.status(), 200);
    // The printed invoice names the coupon on its discount line (−฿99.00).
    if let Some(text) = crate::invoice_pdf::pdf_text(&pdf.bytes().await.unwrap()) {
        let text = crate::invoice_pdf::squeezed(&text);
        assert!(text.contains("ส่วนลด/Discount(DURIAN10)"), "{text}");
        assert!(text.contains("-99.00"), "{text}");
    }

    // 8 February: up to ENTERPRISE. 24 Jan – 24 Feb is 31 days, 16 of them left: credit
    // −99,000 × 16/31 = −51,096.8 → −51,097; charge 990,000 × 16/31 = 510,967.7 → 510,968;
    // 459,871 less 10 % (45,987.1 → 45,987) = 413,884; VAT 28,971.88 → 28,972; total 442,856.
    // The preview says the same as the invoice.
    let admin = set_date(&app, "2030-02-08").await;
    let path = format!("/api/subscriptions/{sub}/change-plan");
    let preview = ok(app
        .post(
            &path,
            Some(&admin),
            json!({"plan_code": "ENTERPRISE", "preview": true}),
        )
        .await)
    .await;
    assert_eq!(preview["proration"]["total"], 459_871);
    assert_eq!(
        preview["proration"]["discounts"],
        json!([{"coupon_code": "DURIAN10", "amount": 45_987}])
    );
    ok(app
        .post(&path, Some(&admin), json!({"plan_code": "ENTERPRISE"}))
        .await)
    .await;
    let all = invoices_of(&app, &admin, &sub).await;
    let proration = all.last().unwrap();
    assert_eq!(proration["billing_reason"], "proration");
    assert_eq!(figures(proration), [459_871, 45_987, 28_972, 442_856]);
    assert_eq!(
        proration["discounts"],
        json!([{"coupon_code": "DURIAN10", "amount": 45_987}])
    );
}
