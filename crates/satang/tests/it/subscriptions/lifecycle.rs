//! The lifecycle: create, pause, resume, change plan (preview, upgrade, downgrade), cancel.

use serde_json::{Value, json};

use super::{act, audit_actions, post};
use crate::common::billing::{insert_customer, set_date};
use crate::common::{Backend, expect_problem, json_of, spawn_with};

both_backends!(
    lifecycle_pause_resume_change_and_cancel,
    trials_pause_without_losing_days_and_prorate_nothing,
);

async fn lifecycle_pause_resume_change_and_cancel(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| c.test_clock = true).await else {
        return;
    };
    let customer = insert_customer(&app, "สหกรณ์การเกษตรบ้านนา", "active").await;
    let admin = set_date(&app, "2030-01-10").await;

    // PRO monthly without a trial: active, the first month from today, billed in advance.
    let sub = json_of(
        post(
            &app,
            &admin,
            "/api/subscriptions",
            json!({"customer_id": customer, "plan_code": "PRO", "trial_days": 0,
                   "collection_method": "send_invoice"}),
        )
        .await,
        201,
    )
    .await;
    let id = sub["id"].as_str().unwrap().to_owned();
    let path = |action: &str| format!("/api/subscriptions/{id}/{action}");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["customer_id"], customer.to_string());
    assert_eq!(sub["plan_code"], "PRO");
    assert_eq!(sub["plan_version"], 1);
    assert_eq!(sub["quantity"], 1);
    assert_eq!(sub["collection_method"], "send_invoice");
    assert_eq!(sub["start_date"], "2030-01-10");
    assert_eq!(sub["trial_end"], Value::Null);
    assert_eq!(sub["current_period_start"], "2030-01-10");
    assert_eq!(sub["current_period_end"], "2030-02-10");
    assert_eq!(sub["next_billing_date"], "2030-02-10");
    assert_eq!(sub["cancel_at_period_end"], false);
    assert_eq!(sub["paused_at"], Value::Null);
    assert_eq!(sub["pending_change"], Value::Null);
    assert_eq!(sub["version"], 1);
    let read = json_of(
        app.get(&format!("/api/subscriptions/{id}"), &admin).await,
        200,
    )
    .await;
    assert_eq!(read, sub);

    // Paused on the 15th, resumed on the 19th: the period ends four days later.
    let admin = set_date(&app, "2030-01-15").await;
    let paused = json_of(act(&app, &admin, &path("pause")).await, 200).await;
    assert_eq!(paused["status"], "paused");
    assert!(
        paused["paused_at"]
            .as_str()
            .unwrap()
            .starts_with("2030-01-15T03:00")
    );
    expect_problem(act(&app, &admin, &path("pause")).await, 409).await;
    let res = post(
        &app,
        &admin,
        &path("change-plan"),
        json!({"plan_code": "TEAM"}),
    )
    .await;
    expect_problem(res, 409).await;
    let admin = set_date(&app, "2030-01-19").await;
    let resumed = json_of(act(&app, &admin, &path("resume")).await, 200).await;
    assert_eq!(resumed["status"], "active");
    assert_eq!(resumed["paused_at"], Value::Null);
    assert_eq!(resumed["current_period_start"], "2030-01-10");
    assert_eq!(resumed["current_period_end"], "2030-02-14");
    assert_eq!(resumed["next_billing_date"], "2030-02-14");
    let problem = expect_problem(act(&app, &admin, &path("resume")).await, 409).await;
    assert!(problem["detail"].as_str().unwrap().contains("resume"));

    // On the 20th, PRO ฿990 → TEAM × 3 seats ฿1,170: 25 of the period's 35 days remain.
    // Credit: 99,000 × 25 / 35 = 70,714.29 → −70,714. Charge: 117,000 × 25 / 35 = 83,571.43 →
    // 83,571. Net 12,857 satang.
    let admin = set_date(&app, "2030-01-20").await;
    let upgrade = json!({"plan_code": "TEAM", "quantity": 3});
    let mut preview_body = upgrade.clone();
    preview_body["preview"] = json!(true);
    let preview = json_of(
        post(&app, &admin, &path("change-plan"), preview_body).await,
        200,
    )
    .await;
    assert_eq!(preview["preview"], true);
    assert_eq!(preview["effective"], "immediately");
    assert_eq!(preview["effective_date"], "2030-01-20");
    let lines = preview["proration"]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    let shape = |l: &Value| {
        (
            l["kind"].as_str().unwrap().to_owned(),
            l["period_start"].as_str().unwrap().to_owned(),
            l["period_end"].as_str().unwrap().to_owned(),
            l["quantity"].as_i64().unwrap(),
            l["unit_amount"].as_i64().unwrap(),
            l["amount"].as_i64().unwrap(),
            l["remaining_days"].as_i64().unwrap(),
            l["days_in_period"].as_i64().unwrap(),
        )
    };
    let expected = [("credit", -70_714), ("charge", 83_571)].map(|(kind, amount)| {
        (
            kind.to_owned(),
            "2030-01-20".to_owned(),
            "2030-02-14".to_owned(),
            1,
            amount,
            amount,
            25,
            35,
        )
    });
    assert_eq!(lines.iter().map(shape).collect::<Vec<_>>(), expected);
    assert!(lines[0]["description"].as_str().unwrap().contains("PRO"));
    assert!(lines[1]["description"].as_str().unwrap().contains("TEAM"));
    assert_eq!(preview["proration"]["total"], 12_857);
    assert_eq!(preview["proration"]["currency"], "THB");
    // A preview changes nothing.
    assert_eq!(preview["subscription"], resumed);
    assert_eq!(
        json_of(
            app.get(&format!("/api/subscriptions/{id}"), &admin).await,
            200
        )
        .await,
        resumed
    );

    let upgraded = json_of(post(&app, &admin, &path("change-plan"), upgrade).await, 200).await;
    assert_eq!(upgraded["preview"], false);
    assert_eq!(upgraded["proration"], preview["proration"]);
    let now_on = &upgraded["subscription"];
    assert_eq!(now_on["plan_code"], "TEAM");
    assert_eq!(now_on["quantity"], 3);
    assert_eq!(now_on["current_period_end"], "2030-02-14");
    assert_eq!(now_on["status"], "active");

    // Fewer seats cost less: that waits for the period end; the later request replaces it.
    let down = json_of(
        post(&app, &admin, &path("change-plan"), json!({"quantity": 2})).await,
        200,
    )
    .await;
    assert_eq!(down["effective"], "period_end");
    assert_eq!(down["effective_date"], "2030-02-14");
    assert_eq!(down["proration"]["lines"], json!([]));
    assert_eq!(down["proration"]["total"], 0);
    assert_eq!(down["subscription"]["quantity"], 3);
    let pending = &down["subscription"]["pending_change"];
    assert_eq!(pending["plan_code"], "TEAM");
    assert_eq!(pending["quantity"], 2);
    assert_eq!(pending["effective_date"], "2030-02-14");
    let to_pro = json_of(
        post(
            &app,
            &admin,
            &path("change-plan"),
            json!({"plan_code": "PRO"}),
        )
        .await,
        200,
    )
    .await;
    let pending = &to_pro["subscription"]["pending_change"];
    assert_eq!(
        (pending["plan_code"].as_str(), pending["quantity"].as_i64()),
        (Some("PRO"), Some(1))
    );
    // Asking for what it has withdraws the pending change; asking again is a 422.
    let kept = json_of(
        post(&app, &admin, &path("change-plan"), json!({"quantity": 3})).await,
        200,
    )
    .await;
    assert_eq!(kept["subscription"]["pending_change"], Value::Null);
    let res = post(&app, &admin, &path("change-plan"), json!({"quantity": 3})).await;
    expect_problem(res, 422).await;

    // Cancel at period end (the default, no body needed), then at once with a prorated credit:
    // on the 25th 20 of 35 days remain, 117,000 × 20 / 35 = 66,857.14 → −66,857.
    let scheduled = json_of(act(&app, &admin, &path("cancel")).await, 200).await;
    assert_eq!(scheduled["status"], "active");
    assert_eq!(scheduled["cancel_at_period_end"], true);
    assert!(scheduled.get("proration").is_none());
    let admin = set_date(&app, "2030-01-25").await;
    let res = post(
        &app,
        &admin,
        &path("cancel"),
        json!({"at_period_end": true, "prorate": true}),
    )
    .await;
    expect_problem(res, 422).await;
    let canceled = json_of(
        post(
            &app,
            &admin,
            &path("cancel"),
            json!({"at_period_end": false, "prorate": true}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(canceled["status"], "canceled");
    assert!(
        canceled["canceled_at"]
            .as_str()
            .unwrap()
            .starts_with("2030-01-25")
    );
    assert_eq!(canceled["cancel_at_period_end"], false);
    assert_eq!(canceled["next_billing_date"], Value::Null);
    let credit = &canceled["proration"];
    assert_eq!(credit["total"], -66_857);
    assert_eq!(credit["lines"][0]["kind"], "credit");
    assert_eq!(credit["lines"][0]["period_start"], "2030-01-25");
    assert_eq!(credit["lines"][0]["remaining_days"], 20);
    // The unused days are the customer's credit now, for the next invoice to consume.
    let customer = json_of(
        app.get(
            &format!(
                "/api/customers/{}",
                canceled["customer_id"].as_str().unwrap()
            ),
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(customer["balance"], 66_857);

    // Canceled is final.
    for action in ["pause", "resume", "cancel"] {
        expect_problem(act(&app, &admin, &path(action)).await, 409).await;
    }
    let res = post(
        &app,
        &admin,
        &path("change-plan"),
        json!({"plan_code": "ENTERPRISE"}),
    )
    .await;
    expect_problem(res, 409).await;

    // Every change is in the audit log, newest first, with before and after.
    let events = audit_actions(&app, &admin, &id).await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "subscription.canceled",
            "subscription.cancel_scheduled",
            "subscription.pending_change_canceled",
            "subscription.plan_change_scheduled",
            "subscription.plan_change_scheduled",
            "subscription.plan_changed",
            "subscription.resumed",
            "subscription.paused",
            "subscription.created",
        ]
    );
    assert_eq!(events[0]["after"]["proration"]["total"], -66_857);
    assert_eq!(events[5]["before"]["plan_code"], "PRO");
    assert_eq!(events[5]["after"]["plan_code"], "TEAM");
    assert_eq!(events[5]["after"]["proration"]["total"], 12_857);
    assert_eq!(events[8]["before"], Value::Null);
}

async fn trials_pause_without_losing_days_and_prorate_nothing(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| c.test_clock = true).await else {
        return;
    };
    let customer = insert_customer(&app, "ไร่ส้มเชียงใหม่", "active").await;
    let admin = set_date(&app, "2030-03-01").await;

    // PRO comes with 14 trial days: the trial is the first period.
    let sub = json_of(
        post(
            &app,
            &admin,
            "/api/subscriptions",
            json!({"customer_id": customer, "plan_code": "PRO"}),
        )
        .await,
        201,
    )
    .await;
    let id = sub["id"].as_str().unwrap().to_owned();
    assert_eq!(sub["status"], "trialing");
    assert_eq!(sub["collection_method"], "charge_automatically");
    assert_eq!(sub["trial_end"], "2030-03-15");
    assert_eq!(sub["current_period_start"], "2030-03-01");
    assert_eq!(sub["current_period_end"], "2030-03-15");
    assert_eq!(sub["next_billing_date"], "2030-03-15");

    // Paused on the 3rd, resumed on the 10th: the free days left are kept.
    let admin = set_date(&app, "2030-03-03").await;
    json_of(
        act(&app, &admin, &format!("/api/subscriptions/{id}/pause")).await,
        200,
    )
    .await;
    let admin = set_date(&app, "2030-03-10").await;
    let resumed = json_of(
        act(&app, &admin, &format!("/api/subscriptions/{id}/resume")).await,
        200,
    )
    .await;
    assert_eq!(resumed["status"], "active");
    assert_eq!(resumed["trial_end"], "2030-03-22");
    assert_eq!(resumed["current_period_end"], "2030-03-22");
    assert_eq!(resumed["next_billing_date"], "2030-03-22");

    // Nothing was paid for the trial: an upgrade applies without proration, and an immediate
    // prorated cancellation credits nothing.
    let changed = json_of(
        post(
            &app,
            &admin,
            &format!("/api/subscriptions/{id}/change-plan"),
            json!({"plan_code": "ENTERPRISE"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(changed["effective"], "immediately");
    assert_eq!(changed["proration"]["lines"], json!([]));
    assert_eq!(changed["subscription"]["plan_code"], "ENTERPRISE");
    let canceled = json_of(
        post(
            &app,
            &admin,
            &format!("/api/subscriptions/{id}/cancel"),
            json!({"at_period_end": false, "prorate": true}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["proration"]["total"], 0);

    // A trial can be declined, or overridden; yearly plans are found by interval.
    let yearly = json_of(
        post(
            &app,
            &admin,
            "/api/subscriptions",
            json!({"customer_id": customer, "plan_code": "TEAM", "interval": "year",
                   "quantity": 5, "trial_days": 30, "start_date": "2030-04-30"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(yearly["status"], "trialing");
    assert_eq!(yearly["start_date"], "2030-04-30");
    assert_eq!(yearly["trial_end"], "2030-05-30");
    assert_eq!(yearly["quantity"], 5);
    assert_eq!(yearly["plan_code"], "TEAM");
    let enterprise = json_of(
        post(
            &app,
            &admin,
            "/api/subscriptions",
            json!({"customer_id": customer, "plan_code": "ENTERPRISE", "interval": "year"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(enterprise["status"], "active");
    assert_eq!(enterprise["current_period_end"], "2031-03-10");
}
