//! Black-box tests of the billing run (SPEC §2.6) under the test clock, on both databases:
//! one invoice per subscription and period however often the run is repeated, trials invoiced
//! when they end, per-seat amounts, paused and canceled subscriptions left alone. The
//! scheduler is off; runs are triggered through `POST /api/billing/run`. Clock targets are
//! 03:00 UTC (10:00 in Bangkok), so UTC and Bangkok agree on the date.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::billing::{insert_customer, run_billing, set_date};
use crate::common::{Backend, TestApp, json_of, spawn_clocked};

both_backends!(
    monthly_subscription_is_invoiced_once_per_period,
    trials_seats_pauses_and_cancellations,
    periods_behind_are_invoiced_in_order_with_gapless_numbers,
    run_invoices_carry_their_number_everywhere,
);

async fn subscribe(app: &TestApp, admin: &str, customer: Uuid, body: Value) -> String {
    let mut body = body;
    body["customer_id"] = json!(customer);
    let sub = json_of(app.post("/api/subscriptions", Some(admin), body).await, 201).await;
    sub["id"].as_str().unwrap().to_owned()
}

async fn invoices_of(app: &TestApp, admin: &str, sub: &str) -> Vec<Value> {
    let page = json_of(
        app.get(&format!("/api/invoices?subscription_id={sub}"), admin)
            .await,
        200,
    )
    .await;
    page["data"].as_array().unwrap().clone()
}

async fn monthly_subscription_is_invoiced_once_per_period(backend: Backend) {
    let Some(app) = spawn_clocked(backend).await else {
        return;
    };
    let customer = insert_customer(&app, "สหกรณ์การเกษตรบ้านนา", "active").await;
    let admin = set_date(&app, "2030-01-10").await;
    let sub = subscribe(
        &app,
        &admin,
        customer,
        json!({"plan_code": "PRO", "trial_days": 0}),
    )
    .await;
    // Fees in advance: the first period is invoiced when the subscription starts.
    let first = invoices_of(&app, &admin, &sub).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["number"], "INV-2030-000001");
    assert_eq!(first[0]["billing_reason"], "subscription_create");
    assert_eq!(
        (
            &first[0]["period_start"],
            &first[0]["period_end"],
            &first[0]["total"]
        ),
        (&json!("2030-01-10"), &json!("2030-02-10"), &json!(105930))
    );
    assert_eq!(run_billing(&app, &admin).await["invoices_created"], 0);

    let periods = [
        ("2030-02-10", "2030-03-10"),
        ("2030-03-10", "2030-04-10"),
        ("2030-04-10", "2030-05-10"),
    ];
    for (n, (start, end)) in periods.iter().enumerate() {
        let admin = set_date(&app, start).await;
        let first = run_billing(&app, &admin).await;
        assert_eq!(first["invoices_created"], 1, "{first}");
        let again = run_billing(&app, &admin).await;
        assert_eq!(again["invoices_created"], 0, "{again}");
        let invoices = invoices_of(&app, &admin, &sub).await;
        assert_eq!(invoices.len(), n + 2);
        let inv = &invoices[n + 1];
        assert_eq!(inv["status"], "open");
        assert_eq!(inv["number"], format!("INV-2030-{:06}", n + 2));
        assert_eq!(inv["billing_reason"], "subscription_cycle");
        assert_eq!(
            (&inv["period_start"], &inv["period_end"]),
            (&json!(start), &json!(end))
        );
        // ฿990.00 + 7 % VAT = ฿1,059.30.
        assert_eq!(
            (&inv["subtotal"], &inv["vat_amount"], &inv["total"]),
            (&json!(99000), &json!(6930), &json!(105930))
        );
        assert_eq!(inv["lines"][0]["quantity"], 1);
        let s = json_of(
            app.get(&format!("/api/subscriptions/{sub}"), &admin).await,
            200,
        )
        .await;
        assert_eq!(
            (&s["current_period_start"], &s["next_billing_date"]),
            (&json!(start), &json!(end))
        );
    }
}

async fn trials_seats_pauses_and_cancellations(backend: Backend) {
    let Some(app) = spawn_clocked(backend).await else {
        return;
    };
    let customer = insert_customer(&app, "ไร่สุขใจ", "active").await;
    let admin = set_date(&app, "2030-01-10").await;
    // PRO with its 14-day trial: invoiced when the trial ends on the 24th.
    let trial = subscribe(&app, &admin, customer, json!({"plan_code": "PRO"})).await;
    // TEAM × 3 seats without a trial: invoiced at once, then on 2030-02-10.
    let seats = subscribe(
        &app,
        &admin,
        customer,
        json!({"plan_code": "TEAM", "quantity": 3, "trial_days": 0}),
    )
    .await;
    // Paused, and canceled at period end: their first period (billed at the start), no more.
    let paused = subscribe(
        &app,
        &admin,
        customer,
        json!({"plan_code": "PRO", "trial_days": 0}),
    )
    .await;
    let res = app
        .call(
            Method::POST,
            &format!("/api/subscriptions/{paused}/pause"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let ending = subscribe(
        &app,
        &admin,
        customer,
        json!({"plan_code": "PRO", "trial_days": 0}),
    )
    .await;
    let res = app
        .call(
            Method::POST,
            &format!("/api/subscriptions/{ending}/cancel"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);

    let admin = set_date(&app, "2030-01-20").await;
    assert_eq!(run_billing(&app, &admin).await["invoices_created"], 0);
    let admin = set_date(&app, "2030-01-24").await;
    let report = run_billing(&app, &admin).await;
    assert_eq!(report["invoices_created"], 1, "{report}");
    let invoices = invoices_of(&app, &admin, &trial).await;
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0]["billing_reason"], "subscription_create");
    assert_eq!(invoices[0]["period_start"], "2030-01-24");
    assert_eq!(invoices[0]["period_end"], "2030-02-24");
    let s = json_of(
        app.get(&format!("/api/subscriptions/{trial}"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(s["status"], "active");

    let admin = set_date(&app, "2030-02-10").await;
    let report = run_billing(&app, &admin).await;
    assert_eq!(report["invoices_created"], 1, "{report}");
    assert_eq!(report["subscriptions_canceled"], 1, "{report}");
    let team = invoices_of(&app, &admin, &seats).await;
    assert_eq!(team.len(), 2);
    // ฿390.00 × 3 seats = ฿1,170.00 + 7 % VAT ฿81.90 = ฿1,251.90, each period.
    for invoice in &team {
        assert_eq!(
            (
                &invoice["lines"][0]["quantity"],
                &invoice["lines"][0]["unit_amount"]
            ),
            (&json!(3), &json!(39000))
        );
        assert_eq!(
            (
                &invoice["subtotal"],
                &invoice["vat_amount"],
                &invoice["total"]
            ),
            (&json!(117000), &json!(8190), &json!(125190))
        );
    }
    assert_eq!(team[1]["period_start"], "2030-02-10");
    assert_eq!(invoices_of(&app, &admin, &paused).await.len(), 1);
    assert_eq!(invoices_of(&app, &admin, &ending).await.len(), 1);
    let s = json_of(
        app.get(&format!("/api/subscriptions/{ending}"), &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(
        (&s["status"], &s["next_billing_date"]),
        (&json!("canceled"), &Value::Null)
    );

    // A month later: nothing for the paused or canceled ones, the others once more each.
    let admin = set_date(&app, "2030-03-10").await;
    let report = run_billing(&app, &admin).await;
    assert_eq!(report["invoices_created"], 2, "{report}");
    assert_eq!(invoices_of(&app, &admin, &paused).await.len(), 1);
    assert_eq!(invoices_of(&app, &admin, &ending).await.len(), 1);
    // Members and viewers cannot run billing.
    let viewer = app.staff_token("viewer@satang.test", &["viewer"]).await;
    let res = app
        .call(Method::POST, "/api/billing/run", Some(&viewer), None)
        .await;
    assert_eq!(res.status(), 403);
}

/// Several subscriptions of two customers, three periods behind, billed by one run (one chunk):
/// one invoice per subscription and period, oldest first, numbered without gaps, each with its
/// audit and outbox events; a second run finds nothing.
async fn periods_behind_are_invoiced_in_order_with_gapless_numbers(backend: Backend) {
    let Some(app) = spawn_clocked(backend).await else {
        return;
    };
    let first = insert_customer(&app, "ฟาร์มทุเรียนบ้านนา", "active").await;
    let second = insert_customer(&app, "สหกรณ์การเกษตรแม่แตง", "active").await;
    let admin = set_date(&app, "2030-01-10").await;
    let subs = [
        subscribe(
            &app,
            &admin,
            first,
            json!({"plan_code": "PRO", "trial_days": 0}),
        )
        .await,
        subscribe(
            &app,
            &admin,
            second,
            json!({"plan_code": "PRO", "trial_days": 0}),
        )
        .await,
        subscribe(
            &app,
            &admin,
            second,
            json!({"plan_code": "TEAM", "quantity": 2, "trial_days": 0}),
        )
        .await,
    ];

    let admin = set_date(&app, "2030-04-10").await;
    let report = run_billing(&app, &admin).await;
    assert_eq!(report["invoices_created"], 9, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    let mut numbers = Vec::new();
    for sub in &subs {
        let invoices = invoices_of(&app, &admin, sub).await;
        let periods: Vec<(&Value, &Value)> = invoices
            .iter()
            .map(|i| (&i["period_start"], &i["period_end"]))
            .collect();
        assert_eq!(
            periods,
            [
                (&json!("2030-01-10"), &json!("2030-02-10")),
                (&json!("2030-02-10"), &json!("2030-03-10")),
                (&json!("2030-03-10"), &json!("2030-04-10")),
                (&json!("2030-04-10"), &json!("2030-05-10")),
            ]
        );
        for invoice in &invoices[1..] {
            assert_eq!(invoice["status"], "open");
            assert_eq!(invoice["billing_reason"], "subscription_cycle");
        }
        numbers.extend(
            invoices
                .iter()
                .map(|i| i["number"].as_str().unwrap().to_owned()),
        );
        let audit = json_of(
            app.get(
                &format!("/api/audit-events?entity_type=subscription&entity_id={sub}"),
                &admin,
            )
            .await,
            200,
        )
        .await;
        let renewed = audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "subscription.renewed")
            .count();
        assert_eq!(renewed, 3, "{audit}");
        let s = json_of(
            app.get(&format!("/api/subscriptions/{sub}"), &admin).await,
            200,
        )
        .await;
        assert_eq!(s["next_billing_date"], "2030-05-10");
    }
    numbers.sort();
    let expected: Vec<String> = (1..=12).map(|n| format!("INV-2030-{n:06}")).collect();
    assert_eq!(numbers, expected);

    let again = run_billing(&app, &admin).await;
    assert_eq!(again["invoices_created"], 0, "{again}");
}

#[derive(sqlx::FromRow)]
struct Text {
    t: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Count {
    n: i64,
}

/// An invoice the run issues carries its number in every row that records it — the invoice, its
/// `invoice.finalized` outbox event, its audit entry — and queues its mail and the webhook
/// deliveries of the endpoints that want it (PostgreSQL writes all of these in one statement
/// that takes the number itself: `satang_store::issue`). Also past the sixth digit, where the
/// number grows instead of wrapping.
async fn run_invoices_carry_their_number_everywhere(backend: Backend) {
    let Some(app) = spawn_clocked(backend).await else {
        return;
    };
    let admin = set_date(&app, "2030-01-10").await;
    let mut endpoints = Vec::new();
    for (events, active) in [
        (json!(["invoice.finalized"]), true),
        (json!(["customer.created"]), true),
        (json!(["*"]), false),
    ] {
        let res = app
            .post(
                "/api/webhook-endpoints",
                Some(&admin),
                json!({"url": "http://127.0.0.1:9/hook", "events": events, "active": active}),
            )
            .await;
        endpoints.push(json_of(res, 201).await["id"].as_str().unwrap().to_owned());
    }
    let customer = insert_customer(&app, "สหกรณ์การเกษตรบ้านนา", "active").await;
    let sub = subscribe(
        &app,
        &admin,
        customer,
        json!({"plan_code": "PRO", "trial_days": 0}),
    )
    .await;
    let db = satang::open_db(&app.db.config())
        .await
        .expect("open database");
    db.execute(satang_store::Sql::new(
        "UPDATE document_sequences SET last_value = 999999 WHERE kind = 'invoice'",
    ))
    .await
    .unwrap();

    let admin = set_date(&app, "2030-02-10").await;
    assert_eq!(run_billing(&app, &admin).await["invoices_created"], 1);
    let invoices = invoices_of(&app, &admin, &sub).await;
    let invoice = &invoices[1];
    let (id, number) = (invoice["id"].as_str().unwrap(), "INV-2030-1000000");
    assert_eq!(invoice["number"], number);
    // The seller snapshot a chunk sends once for all its invoices is each invoice's own: the
    // same as that of the invoice the subscription's creation issued (one seller profile).
    assert!(invoice["seller"].is_object(), "{invoice}");
    assert_eq!(invoice["seller"], invoices[0]["seller"]);

    let event = db
        .fetch_one::<Text>(
            satang_store::Sql::new(
                "SELECT payload ->> 'number' AS t FROM outbox_events \
                 WHERE event_type = 'invoice.finalized' AND entity_id = $1",
            )
            .bind(id),
        )
        .await
        .unwrap();
    assert_eq!(event.t.as_deref(), Some(number));
    let payload = db
        .fetch_one::<Text>(
            satang_store::Sql::new(
                "SELECT CAST(payload AS TEXT) AS t FROM outbox_events \
                 WHERE event_type = 'invoice.finalized' AND entity_id = $1",
            )
            .bind(id),
        )
        .await
        .unwrap();
    let payload: Value = serde_json::from_str(payload.t.as_deref().unwrap()).unwrap();
    let audit = json_of(
        app.get(
            &format!("/api/audit-events?entity_type=invoice&entity_id={id}"),
            &admin,
        )
        .await,
        200,
    )
    .await;
    let finalized: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "invoice.finalized")
        .collect();
    assert_eq!(finalized.len(), 1, "{audit}");
    assert_eq!(finalized[0]["after"]["number"], number);
    assert_eq!(finalized[0]["after"]["status"], "open");
    // Issued by the run in one step: no row existed before the entry, which records the
    // invoice as its event does.
    assert_eq!(finalized[0]["before"], Value::Null);
    assert_eq!(finalized[0]["after"], payload);

    let mails = db
        .fetch_one::<Count>(
            satang_store::Sql::new(
                "SELECT COUNT(*) AS n FROM email_deliveries d \
                 JOIN outbox_events e ON e.id = d.event_id \
                 WHERE e.entity_id = $1 AND d.kind = 'invoice_issued'",
            )
            .bind(id),
        )
        .await
        .unwrap();
    assert_eq!(mails.n, 1);
    // Deliveries: the endpoint that wants the event gets it, the others nothing.
    for (endpoint, expected) in endpoints.iter().zip([1, 0, 0]) {
        let n = db
            .fetch_one::<Count>(
                satang_store::Sql::new(
                    "SELECT COUNT(*) AS n FROM webhook_deliveries d \
                     JOIN outbox_events e ON e.id = d.event_id \
                     WHERE e.entity_id = $1 AND d.endpoint_id = $2",
                )
                .bind(id)
                .bind(Uuid::parse_str(endpoint).unwrap()),
            )
            .await
            .unwrap();
        assert_eq!(n.n, expected, "endpoint {endpoint}");
    }

    // The next run's number follows without a gap.
    let admin = set_date(&app, "2030-03-10").await;
    assert_eq!(run_billing(&app, &admin).await["invoices_created"], 1);
    let invoices = invoices_of(&app, &admin, &sub).await;
    assert_eq!(invoices[2]["number"], "INV-2030-1000001");
}
