//! Tenancy and roles, lists and their filters, and idempotent creation.

use serde_json::{Value, json};

use super::{act, audit_actions, post};
use crate::common::access::{GET, POST, check_access};
use crate::common::billing::{insert_customer, member_token};
use crate::common::{Backend, expect_problem, json_of, spawn};

both_backends!(
    members_reach_only_their_own_customer,
    lists_filter_and_page,
    idempotent_create_makes_one_subscription,
    a_member_gets_a_plans_trial_once,
);

/// Cancelling and subscribing again is no way to a new free trial: a member's second
/// subscription starts paid (staff may still grant a trial).
async fn a_member_gets_a_plans_trial_once(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let plan = json!({"code": "TRIAL14", "name": {"th": "ทดลอง", "en": "Trial"},
                      "interval": "month", "price": 90000, "trial_days": 14});
    json_of(post(&app, &admin, "/api/plans", plan).await, 201).await;
    let farm = insert_customer(&app, "ไร่ทดลอง", "active").await;
    let owner = member_token(&app, "owner@trial.test", farm, "owner").await;
    let subscribe = |token: String| {
        let app = &app;
        async move {
            let body = json!({"customer_id": farm, "plan_code": "TRIAL14"});
            json_of(post(app, &token, "/api/subscriptions", body).await, 201).await
        }
    };
    let first = subscribe(owner.clone()).await;
    assert_eq!(first["status"], "trialing");
    let id = first["id"].as_str().unwrap();
    let body = json!({"at_period_end": false});
    let path = format!("/api/subscriptions/{id}/cancel");
    json_of(post(&app, &owner, &path, body).await, 200).await;
    let second = subscribe(owner.clone()).await;
    assert_eq!(second["status"], "active", "{second}");
    let third = subscribe(admin.clone()).await;
    assert_eq!(
        third["status"], "trialing",
        "staff subscribe at the plan's terms"
    );
}

async fn members_reach_only_their_own_customer(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let a = insert_customer(&app, "ไร่ A", "active").await;
    let b = insert_customer(&app, "ไร่ B", "active").await;
    let owner_a = member_token(&app, "owner@a.test", a, "owner").await;
    let reader_a = member_token(&app, "reader@a.test", a, "member").await;
    let billing_b = member_token(&app, "billing@b.test", b, "billing").await;
    let sub_b = json_of(
        post(
            &app,
            &admin,
            "/api/subscriptions",
            json!({"customer_id": b, "plan_code": "PRO"}),
        )
        .await,
        201,
    )
    .await;
    let id_b = sub_b["id"].as_str().unwrap();

    // An owner subscribes their own customer and changes its plan.
    let sub_a = json_of(
        post(
            &app,
            &owner_a,
            "/api/subscriptions",
            json!({"customer_id": a, "plan_code": "TEAM", "quantity": 4}),
        )
        .await,
        201,
    )
    .await;
    let id_a = sub_a["id"].as_str().unwrap();
    let res = post(
        &app,
        &owner_a,
        &format!("/api/subscriptions/{id_a}/change-plan"),
        json!({"quantity": 6}),
    )
    .await;
    assert_eq!(json_of(res, 200).await["subscription"]["quantity"], 6);

    // Customer B does not exist for A's members: 404 everywhere, never 403.
    for token in [&owner_a, &reader_a] {
        expect_problem(
            app.get(&format!("/api/subscriptions/{id_b}"), token).await,
            404,
        )
        .await;
        expect_problem(
            app.get(&format!("/api/customers/{b}/subscriptions"), token)
                .await,
            404,
        )
        .await;
        for action in ["pause", "resume", "cancel"] {
            expect_problem(
                act(&app, token, &format!("/api/subscriptions/{id_b}/{action}")).await,
                404,
            )
            .await;
        }
        let res = post(
            &app,
            token,
            &format!("/api/subscriptions/{id_b}/change-plan"),
            json!({"preview": true, "quantity": 1}),
        )
        .await;
        expect_problem(res, 404).await;
        let res = post(
            &app,
            token,
            "/api/subscriptions",
            json!({"customer_id": b, "plan_code": "PRO"}),
        )
        .await;
        expect_problem(res, 404).await;
        let listed = json_of(app.get("/api/subscriptions", token).await, 200).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 1);
        assert_eq!(listed["data"][0]["id"], sub_a["id"]);
        let filtered = json_of(
            app.get(&format!("/api/subscriptions?customer_id={b}"), token)
                .await,
            200,
        )
        .await;
        assert_eq!(filtered["data"], json!([]));
    }

    // A `member` reads and previews, but may not change anything (403).
    let mine = json_of(
        app.get(&format!("/api/customers/{a}/subscriptions"), &reader_a)
            .await,
        200,
    )
    .await;
    assert_eq!(mine["data"][0]["id"], sub_a["id"]);
    let res = post(
        &app,
        &reader_a,
        &format!("/api/subscriptions/{id_a}/change-plan"),
        json!({"quantity": 8, "preview": true}),
    )
    .await;
    assert_eq!(json_of(res, 200).await["preview"], true);
    let viewer = app.staff_token("viewer@satang.test", &["viewer"]).await;
    let billing = app.staff_token("billing@satang.test", &["billing"]).await;
    // Staff viewers read everything.
    let all = json_of(app.get("/api/subscriptions", &viewer).await, 200).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    let cast = [
        ("reader_a", reader_a.as_str()),
        ("billing_b", billing_b.as_str()),
        ("viewer", viewer.as_str()),
        ("billing", billing.as_str()),
    ];
    let (sub_a_, sub_b_) = (
        format!("/api/subscriptions/{id_a}"),
        format!("/api/subscriptions/{id_b}"),
    );
    let subscribe_a = || Some(json!({"customer_id": a, "plan_code": "PRO"}));
    let missing = "01940000-0000-7000-8000-000000000999";
    #[rustfmt::skip]
    check_access(&app, &cast, [
        ("reader_a", GET, sub_a_.clone(), None, 200),
        ("reader_a", POST, format!("{sub_a_}/change-plan"), Some(json!({"quantity": 8})), 403),
        ("reader_a", POST, format!("{sub_a_}/pause"), None, 403),
        ("reader_a", POST, format!("{sub_a_}/cancel"), None, 403),
        ("reader_a", POST, "/api/subscriptions".into(), subscribe_a(), 403),
        // B's billing member acts on B only, and only at the plan's terms: pausing is the
        // operator's (no invoices while paused), so is a trial of its own choosing.
        ("billing_b", POST, format!("{sub_b_}/pause"), None, 403),
        ("billing_b", POST, "/api/subscriptions".into(), Some(json!({"customer_id": b, "plan_code": "PRO", "trial_days": 365})), 403),
        ("billing_b", POST, format!("/api/customers/{b}/payment-methods"), Some(json!({"type": "promptpay"})), 201),
        ("billing_b", GET, sub_a_.clone(), None, 404),
        // Staff: viewers read everything and change nothing; billing staff change.
        ("viewer", POST, format!("{sub_a_}/pause"), None, 403),
        ("viewer", POST, "/api/subscriptions".into(), subscribe_a(), 403),
        ("billing", POST, format!("{sub_b_}/pause"), None, 200),
        ("billing", POST, format!("{sub_b_}/resume"), None, 200),
        ("billing", GET, format!("/api/customers/{missing}/subscriptions"), None, 404),
    ])
    .await;

    // The audit log names who did it.
    let events = audit_actions(&app, &admin, id_a).await;
    let me: Value = app
        .get("/api/auth/me", &owner_a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events[0]["action"], "subscription.plan_changed");
    assert_eq!(events[0]["actor_id"], me["id"]);
}

async fn lists_filter_and_page(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let a = insert_customer(&app, "ไร่ข้าวหอม", "active").await;
    let b = insert_customer(&app, "สวนทุเรียน", "active").await;
    let mut ids = Vec::new();
    for (customer, code, trial) in [
        (a, "PRO", 0),
        (a, "TEAM", 14),
        (b, "PRO", 14),
        (b, "ENTERPRISE", 0),
    ] {
        let body = json!({"customer_id": customer, "plan_code": code, "trial_days": trial});
        let sub = json_of(post(&app, &admin, "/api/subscriptions", body).await, 201).await;
        ids.push(sub["id"].as_str().unwrap().to_owned());
    }
    json_of(
        act(
            &app,
            &admin,
            &format!("/api/subscriptions/{}/pause", ids[3]),
        )
        .await,
        200,
    )
    .await;
    let count = |query: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            let page = json_of(
                app.get(&format!("/api/subscriptions{query}"), admin).await,
                200,
            )
            .await;
            page["data"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("").await, 4);
    assert_eq!(count("?status=trialing").await, 2);
    assert_eq!(count("?status=paused").await, 1);
    assert_eq!(count("?plan_code=pro").await, 2);
    assert_eq!(count("?status=active&plan_code=PRO").await, 1);
    let for_b = json_of(
        app.get(&format!("/api/subscriptions?customer_id={b}"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(for_b["data"].as_array().unwrap().len(), 2);
    let for_a = json_of(
        app.get(
            &format!("/api/customers/{a}/subscriptions?status=active"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(for_a["data"].as_array().unwrap().len(), 1);
    assert_eq!(for_a["data"][0]["id"], ids[0]);

    // Keyset pages in creation order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=3&cursor={c}"),
            None => "?limit=3".to_owned(),
        };
        let page = json_of(
            app.get(&format!("/api/subscriptions{query}"), &admin).await,
            200,
        )
        .await;
        for s in page["data"].as_array().unwrap() {
            seen.push(s["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

async fn idempotent_create_makes_one_subscription(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
    let customer = insert_customer(&app, "ไร่กาแฟดอยช้าง", "active").await;
    let body = json!({"customer_id": customer, "plan_code": "TEAM", "quantity": 3});
    let send = |body: Value| {
        app.client
            .post(app.at("/api/subscriptions"))
            .bearer_auth(&admin)
            .header("idempotency-key", "subscribe-doi-chang-1")
            .json(&body)
            .send()
    };
    let first = send(body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send(body.clone()).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let mut other = body;
    other["quantity"] = json!(4);
    expect_problem(send(other).await.unwrap(), 422).await;
    let page = json_of(app.get("/api/subscriptions", &admin).await, 200).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], first["id"]);
}
