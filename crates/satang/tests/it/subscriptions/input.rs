//! Bad input is refused with 400/415/422 (or 404/409 for what it names) and stores nothing.

use serde_json::{Value, json};

use super::{act, audit_actions, post};
use crate::common::billing::{insert_customer, set_date};
use crate::common::{Backend, expect_problem, json_of, spawn_with};

both_backends!(invalid_input_is_refused_and_nothing_is_stored);

async fn invalid_input_is_refused_and_nothing_is_stored(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| c.test_clock = true).await else {
        return;
    };
    let customer = insert_customer(&app, "ฟาร์มไก่ไข่สุพรรณ", "active").await;
    let suspended = insert_customer(&app, "ไร่ที่ถูกระงับ", "suspended").await;
    let deleted = insert_customer(&app, "ไร่ที่ถูกลบ", "deleted").await;
    let admin = set_date(&app, "2030-06-15").await;
    let with = |pairs: Value| {
        let mut body = json!({"customer_id": customer, "plan_code": "TEAM"});
        for (k, v) in pairs.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (with(json!({"plan_code": "NOPE"})), "plan_code"),
        (with(json!({"plan_code": "no such code!"})), "plan_code"),
        (with(json!({"plan_code": "x".repeat(300)})), "plan_code"),
        (
            json!({"customer_id": customer, "plan_id": "01940000-0000-7000-8000-000000000999"}),
            "plan_id",
        ),
        (
            with(json!({"plan_id": "01940000-0000-7000-8000-000000000101"})),
            "plan_id",
        ),
        (json!({"customer_id": customer}), "plan_id"),
        (with(json!({"quantity": 0})), "quantity"),
        (with(json!({"quantity": 100_001})), "quantity"),
        (with(json!({"plan_code": "PRO", "quantity": 2})), "quantity"),
        (with(json!({"trial_days": -1})), "trial_days"),
        (with(json!({"start_date": "2030-06-14"})), "start_date"),
        (with(json!({"start_date": "2031-06-16"})), "start_date"),
        (with(json!({"start_date": "2030-13-01"})), "start_date"),
        (
            with(json!({"collection_method": "cash"})),
            "collection_method",
        ),
        (with(json!({"interval": "week"})), "interval"),
        (with(json!({"colour": "green"})), "colour"),
        (
            json!({"customer_id": "not-a-uuid", "plan_code": "PRO"}),
            "customer_id",
        ),
        (json!({"plan_code": "PRO"}), "customer_id"),
    ];
    for (body, field) in cases {
        let res = post(&app, &admin, "/api/subscriptions", body.clone()).await;
        let problem = expect_problem(res, 422).await;
        assert!(
            problem["errors"][field].is_array(),
            "{body}: expected an error on {field}, got {problem}"
        );
    }
    let unknown =
        json!({"customer_id": "01940000-0000-7000-8000-000000000999", "plan_code": "PRO"});
    expect_problem(post(&app, &admin, "/api/subscriptions", unknown).await, 404).await;
    for customer in [suspended, deleted] {
        let body = json!({"customer_id": customer, "plan_code": "PRO"});
        expect_problem(post(&app, &admin, "/api/subscriptions", body).await, 409).await;
    }
    let res = app
        .client
        .post(app.at("/api/subscriptions"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"customer_id\": ")
        .send()
        .await
        .unwrap();
    expect_problem(res, 400).await;
    let res = app
        .client
        .post(app.at("/api/subscriptions"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body(json!({"customer_id": customer, "plan_code": "PRO"}).to_string())
        .send()
        .await
        .unwrap();
    expect_problem(res, 415).await;
    let page = json_of(app.get("/api/subscriptions", &admin).await, 200).await;
    assert_eq!(page["data"], json!([]));

    // Bad actions on a real subscription change nothing either.
    let sub = json_of(
        post(
            &app,
            &admin,
            "/api/subscriptions",
            with(json!({"quantity": 2})),
        )
        .await,
        201,
    )
    .await;
    let id = sub["id"].as_str().unwrap();
    let change = format!("/api/subscriptions/{id}/change-plan");
    for (body, field) in [
        (
            json!({"plan_code": "PRO", "plan_id": sub["plan_id"]}),
            "plan_id",
        ),
        (json!({"plan_code": "GOLD"}), "plan_code"),
        (json!({"plan_code": "PRO", "quantity": 3}), "quantity"),
        (json!({"quantity": 0}), "quantity"),
        (json!({"interval": "year"}), "interval"),
        (json!({"plan_code": "TEAM", "preview": "yes"}), "preview"),
    ] {
        let problem = expect_problem(post(&app, &admin, &change, body.clone()).await, 422).await;
        assert!(problem["errors"][field].is_array(), "{body}: {problem}");
    }
    let res = post(
        &app,
        &admin,
        &format!("/api/subscriptions/{id}/cancel"),
        json!({"now": true}),
    )
    .await;
    expect_problem(res, 422).await;
    let res = app
        .client
        .post(app.at(&format!("/api/subscriptions/{id}/cancel")))
        .bearer_auth(&admin)
        .body("at_period_end=false")
        .send()
        .await
        .unwrap();
    expect_problem(res, 415).await;
    assert_eq!(
        json_of(
            app.get(&format!("/api/subscriptions/{id}"), &admin).await,
            200
        )
        .await,
        sub
    );
    assert_eq!(audit_actions(&app, &admin, id).await.len(), 1);

    // Bad paths and parameters are 400; unknown ids 404.
    expect_problem(app.get("/api/subscriptions/nope", &admin).await, 400).await;
    let missing = "/api/subscriptions/01940000-0000-7000-8000-000000000999";
    expect_problem(app.get(missing, &admin).await, 404).await;
    expect_problem(act(&app, &admin, &format!("{missing}/pause")).await, 404).await;
    for query in [
        "?status=sleeping",
        "?limit=500",
        "?customer_id=42",
        "?cursor=%%%",
        "?plan_code=a%20b",
    ] {
        expect_problem(
            app.get(&format!("/api/subscriptions{query}"), &admin).await,
            400,
        )
        .await;
    }
}
