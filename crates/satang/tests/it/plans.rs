//! Black-box tests of the plan catalog (SPEC §2.4), on both databases.

use crate::common::billing::insert_customer;
use crate::common::{Backend, TestApp, expect_problem, json_of, spawn};
use reqwest::Method;
use serde_json::{Value, json};

async fn plans(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let page = json_of(app.get(&format!("/api/plans{query}"), token).await, 200).await;
    page["data"].as_array().unwrap().clone()
}

fn farmer_plan() -> Value {
    json!({
        "code": "farmer",
        "name": {"th": "เกษตรกร", "en": "Farmer"},
        "description": {"th": "สำหรับเกษตรกรรายย่อย", "en": "For smallholders"},
        "interval": "month",
        "price": 49_000,
        "trial_days": 7,
        "features": ["crop_planning", "weather_forecast"],
        "limits": {"farms": 1, "plots": 10, "sensors": null},
        "metered": [{"metric": "sms_alerts", "unit_price": 50, "included_units": 100,
                     "tiers": [{"up_to": 1000, "unit_price": 50}, {"up_to": null, "unit_price": 30}]}]
    })
}

both_backends!(
    fresh_install_sells_the_seeded_catalog,
    admins_create_and_edit_plans_in_place,
    price_changes_create_versions_and_grandfather_subscriptions,
    archiving_and_roles,
    invalid_plans_are_refused_and_nothing_is_stored,
);

async fn fresh_install_sells_the_seeded_catalog(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    // Any signed-in user reads the catalog, a customer's member included.
    let farmer = app.signup("buyer@farm.test").await;
    let token = farmer["access_token"].as_str().unwrap();
    let all = plans(&app, token, "").await;
    let summary: Vec<(String, String, i64, String)> = all
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap().to_owned(),
                p["interval"].as_str().unwrap().to_owned(),
                p["price"].as_i64().unwrap(),
                p["pricing"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("PRO", "month", 99_000, "flat"),
        ("PRO", "year", 990_000, "flat"),
        ("TEAM", "month", 39_000, "per_seat"),
        ("TEAM", "year", 390_000, "per_seat"),
        ("ENTERPRISE", "month", 990_000, "flat"),
        ("ENTERPRISE", "year", 9_900_000, "flat"),
    ]
    .map(|(c, i, p, s)| (c.to_owned(), i.to_owned(), p, s.to_owned()));
    assert_eq!(summary, expected);
    for plan in &all {
        assert_eq!(plan["currency"], "THB");
        assert_eq!(plan["active"], true);
        assert_eq!(plan["version"], 1);
        assert_eq!(plan["interval_count"], 1);
        assert!(!plan["name"]["th"].as_str().unwrap().is_empty());
        assert!(!plan["name"]["en"].as_str().unwrap().is_empty());
        assert!(plan["description"]["th"].as_str().unwrap().len() > 20);
        assert!(!plan["features"].as_array().unwrap().is_empty());
        assert!(plan["limits"].is_object());
    }
    assert_eq!(all[0]["name"], json!({"th": "โปร", "en": "Pro"}));
    assert_eq!(all[0]["trial_days"], 14);
    assert_eq!(all[4]["limits"]["farms"], Value::Null);
    assert_eq!(all[4]["metered"][0]["metric"], "satellite_images");

    // Filters, paging and one plan by id.
    let team = plans(&app, token, "?code=team").await;
    assert_eq!(team.len(), 2);
    let page = json_of(app.get("/api/plans?limit=4", token).await, 200).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 4);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = plans(&app, token, &format!("?limit=4&cursor={cursor}")).await;
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0]["code"], "ENTERPRISE");
    let one = json_of(
        app.get(
            &format!("/api/plans/{}", team[1]["id"].as_str().unwrap()),
            token,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(one, team[1]);

    expect_problem(app.call(Method::GET, "/api/plans", None, None).await, 401).await;

    // Every route is in the OpenAPI document with its schemas.
    let doc: Value = app
        .client
        .get(app.at("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method) in [
        ("/api/plans", "get"),
        ("/api/plans", "post"),
        ("/api/plans/{id}", "patch"),
        ("/api/plans/{id}/archive", "post"),
        ("/api/subscriptions", "post"),
        ("/api/customers/{id}/subscriptions", "get"),
        ("/api/subscriptions/{id}/pause", "post"),
        ("/api/subscriptions/{id}/resume", "post"),
        ("/api/subscriptions/{id}/cancel", "post"),
        ("/api/subscriptions/{id}/change-plan", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    for schema in [
        "PlanView",
        "CreatePlanRequest",
        "SubscriptionView",
        "ChangePlanResponse",
        "CancelResponse",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    expect_problem(app.get("/api/plans?code=no%20such", token).await, 400).await;
    expect_problem(app.get("/api/plans?limit=0", token).await, 400).await;
    expect_problem(app.get("/api/plans/not-a-uuid", token).await, 400).await;
    expect_problem(
        app.get("/api/plans/01940000-0000-7000-8000-000000000999", token)
            .await,
        404,
    )
    .await;
}

async fn admins_create_and_edit_plans_in_place(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let created = json_of(
        app.post("/api/plans", Some(&admin), farmer_plan()).await,
        201,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["code"], "FARMER");
    assert_eq!(created["interval"], "month");
    assert_eq!(created["interval_count"], 1);
    assert_eq!(created["currency"], "THB");
    assert_eq!(created["pricing"], "flat");
    assert_eq!(created["version"], 1);
    assert_eq!(created["active"], true);
    assert_eq!(
        created["limits"],
        json!({"farms": 1, "plots": 10, "sensors": null})
    );
    assert_eq!(created["metered"], farmer_plan()["metered"]);

    // One active plan per code and interval; the yearly one is a separate plan.
    let res = app.post("/api/plans", Some(&admin), farmer_plan()).await;
    expect_problem(res, 409).await;
    let mut yearly = farmer_plan();
    yearly["interval"] = json!("year");
    yearly["price"] = json!(490_000);
    let yearly = json_of(app.post("/api/plans", Some(&admin), yearly).await, 201).await;
    assert_eq!(yearly["code"], "FARMER");

    // Edits that do not touch the price change the plan itself.
    let edited = json_of(
        app.patch(
            &format!("/api/plans/{id}"),
            &admin,
            json!({"name": {"en": "Smallholder"}, "features": ["crop_planning"],
                   "limits": {"farms": 2}, "trial_days": 30}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(edited["id"], created["id"]);
    assert_eq!(edited["version"], 1);
    assert_eq!(
        edited["name"],
        json!({"th": "เกษตรกร", "en": "Smallholder"})
    );
    assert_eq!(edited["features"], json!(["crop_planning"]));
    assert_eq!(edited["limits"], json!({"farms": 2}));
    assert_eq!(edited["trial_days"], 30);
    assert_eq!(edited["price"], 49_000);

    let events = json_of(
        app.get(
            &format!("/api/audit-events?entity_type=plan&entity_id={id}"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    let actions: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["plan.updated", "plan.created"]);
    let update = &events["data"][0];
    assert_eq!(update["before"]["name"]["en"], "Farmer");
    assert_eq!(update["after"]["name"]["en"], "Smallholder");
}

async fn price_changes_create_versions_and_grandfather_subscriptions(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let customer = insert_customer(&app, "ไร่ทองคำ", "active").await;
    let pro = plans(&app, &admin, "?code=PRO").await[0].clone();
    let old_id = pro["id"].as_str().unwrap().to_owned();
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
    assert_eq!(sub["plan_id"], pro["id"]);

    let v2 = json_of(
        app.patch(
            &format!("/api/plans/{old_id}"),
            &admin,
            json!({"price": 109_000, "name": {"en": "Pro 2030"}}),
        )
        .await,
        200,
    )
    .await;
    let new_id = v2["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, old_id);
    assert_eq!(v2["code"], "PRO");
    assert_eq!(v2["interval"], "month");
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["price"], 109_000);
    assert_eq!(v2["name"]["en"], "Pro 2030");
    assert_eq!(v2["features"], pro["features"]);
    assert_eq!(v2["previous_version_id"], pro["id"]);
    assert_eq!(v2["active"], true);

    // The old version is archived from new sales but still readable.
    let old = json_of(app.get(&format!("/api/plans/{old_id}"), &admin).await, 200).await;
    assert_eq!(old["active"], false);
    assert_eq!(old["price"], 99_000);
    assert!(old["archived_at"].is_string());
    let on_sale: Vec<Value> = plans(&app, &admin, "?code=PRO").await;
    assert_eq!(on_sale.len(), 2);
    assert!(on_sale.iter().all(|p| p["id"] != pro["id"]));
    let everything = plans(&app, &admin, "?code=PRO&include_archived=true").await;
    assert_eq!(everything.len(), 3);

    // The running subscription keeps the version (and price) it bought.
    let kept = json_of(
        app.get(
            &format!("/api/subscriptions/{}", sub["id"].as_str().unwrap()),
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(kept["plan_id"], pro["id"]);
    assert_eq!(kept["plan_version"], 1);

    // New sales by code get the new version; the archived id is no longer sold.
    let newer = json_of(
        app.post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": customer, "plan_code": "pro", "interval": "month"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(newer["plan_id"], v2["id"]);
    assert_eq!(newer["plan_version"], 2);
    let res = app
        .post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": customer, "plan_id": old_id}),
        )
        .await;
    let problem = expect_problem(res, 422).await;
    assert!(problem["errors"]["plan_id"].is_array());

    // An archived version cannot be re-priced (that would fork the code's history).
    let res = app
        .patch(&format!("/api/plans/{old_id}"), &admin, json!({"price": 1}))
        .await;
    expect_problem(res, 409).await;

    // Both sides of the change are in the audit log.
    for (entity, action) in [(&old_id, "plan.archived"), (&new_id, "plan.versioned")] {
        let events = json_of(
            app.get(
                &format!("/api/audit-events?entity_type=plan&entity_id={entity}"),
                &admin,
            )
            .await,
            200,
        )
        .await;
        let event = &events["data"][0];
        assert_eq!(event["action"], action);
        assert_eq!(event["before"]["price"], 99_000);
    }
}

async fn archiving_and_roles(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let billing = app.staff_token("billing@satang.test", &["billing"]).await;
    let member = app.signup("member@farm.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let team_yearly = plans(&app, &admin, "?code=TEAM").await[1].clone();
    let id = team_yearly["id"].as_str().unwrap();

    for token in [&billing, &member] {
        expect_problem(
            app.post("/api/plans", Some(token), farmer_plan()).await,
            403,
        )
        .await;
        let res = app
            .patch(&format!("/api/plans/{id}"), token, json!({"price": 1}))
            .await;
        expect_problem(res, 403).await;
        let res = app
            .post(&format!("/api/plans/{id}/archive"), Some(token), json!({}))
            .await;
        expect_problem(res, 403).await;
    }
    // Archived plans are staff business.
    expect_problem(
        app.get("/api/plans?include_archived=true", &member).await,
        403,
    )
    .await;
    assert_eq!(
        plans(&app, &billing, "?include_archived=true").await.len(),
        6
    );

    let archived = json_of(
        app.call(
            Method::POST,
            &format!("/api/plans/{id}/archive"),
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(archived["active"], false);
    assert_eq!(archived["version"], 1);
    let res = app
        .call(
            Method::POST,
            &format!("/api/plans/{id}/archive"),
            Some(&admin),
            None,
        )
        .await;
    expect_problem(res, 409).await;

    // Members see only what is on sale, but can still open the archived plan by id.
    let listed = plans(&app, &member, "").await;
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|p| p["id"] != team_yearly["id"]));
    let res = app.get(&format!("/api/plans/{id}"), &member).await;
    assert_eq!(json_of(res, 200).await["active"], false);
    assert_eq!(plans(&app, &admin, "?include_archived=true").await.len(), 6);

    // With the yearly TEAM archived, the code can be sold yearly again (version 2).
    let res = app
        .post(
            "/api/plans",
            Some(&admin),
            json!({"code": "TEAM", "name": {"th": "ทีม", "en": "Team"}, "interval": "year",
                   "price": 350_000, "pricing": "per_seat"}),
        )
        .await;
    let again = json_of(res, 201).await;
    assert_eq!(again["version"], 2);
}

async fn invalid_plans_are_refused_and_nothing_is_stored(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let with = |field: &str, value: Value| {
        let mut plan = farmer_plan();
        plan[field] = value;
        plan
    };
    let cases = [
        (with("code", json!("สวน")), "code"),
        (with("code", json!("A".repeat(41))), "code"),
        (with("name", json!({"th": " ", "en": "Farmer"})), "name.th"),
        (
            with("name", json!({"th": "ก".repeat(101), "en": "Farmer"})),
            "name.th",
        ),
        (with("name", json!({"th": "ก"})), "name.en"),
        (
            with("description", json!({"th": "ก".repeat(1001), "en": ""})),
            "description.th",
        ),
        (with("price", json!(-1)), "price"),
        (with("price", json!(1_000_000_000_001_i64)), "price"),
        (with("price", json!("490")), "price"),
        (with("interval", json!("week")), "interval"),
        (with("interval_count", json!(0)), "interval_count"),
        (with("currency", json!("BTC")), "currency"),
        (with("pricing", json!("tiered")), "pricing"),
        (with("trial_days", json!(400)), "trial_days"),
        (with("features", json!(["a", "a"])), "features[1]"),
        (with("features", json!(["x".repeat(101)])), "features[0]"),
        (with("limits", json!({"Farms!": 1})), "limits"),
        (with("limits", json!({"farms": -1})), "limits.farms"),
        (
            with("metered", json!([{"metric": "SMS", "unit_price": 1}])),
            "metered[0].metric",
        ),
        (
            with(
                "metered",
                json!([{"metric": "sms", "unit_price": 1, "tiers": [{"up_to": 5, "unit_price": 1}]}]),
            ),
            "metered[0].tiers[0].up_to",
        ),
        (
            with("metered", json!([{"metric": "sms", "price": 1}])),
            "metered[0]",
        ),
        (with("colour", json!("green")), "colour"),
    ];
    for (body, field) in cases {
        let problem = expect_problem(
            app.post("/api/plans", Some(&admin), body.clone()).await,
            422,
        )
        .await;
        let errors = problem["errors"].as_object().unwrap();
        assert!(
            errors.keys().any(|k| k.starts_with(field)),
            "{body}: expected an error on {field}, got {problem}"
        );
    }
    // Not JSON, or not declared as JSON.
    let res = app
        .client
        .post(app.at("/api/plans"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"code\": ")
        .send()
        .await
        .unwrap();
    expect_problem(res, 400).await;
    let res = app
        .client
        .post(app.at("/api/plans"))
        .bearer_auth(&admin)
        .body(farmer_plan().to_string())
        .send()
        .await
        .unwrap();
    expect_problem(res, 415).await;

    // An invalid edit changes nothing either.
    let pro = plans(&app, &admin, "?code=PRO").await[0].clone();
    let id = pro["id"].as_str().unwrap();
    for body in [
        json!({"price": -5}),
        json!({"code": "NEW"}),
        json!({"name": {"en": ""}}),
    ] {
        expect_problem(
            app.patch(&format!("/api/plans/{id}"), &admin, body).await,
            422,
        )
        .await;
    }
    assert_eq!(
        json_of(app.get(&format!("/api/plans/{id}"), &admin).await, 200).await,
        pro
    );
    expect_problem(
        app.patch(
            "/api/plans/01940000-0000-7000-8000-000000000999",
            &admin,
            json!({}),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(plans(&app, &admin, "?include_archived=true").await.len(), 6);
}
