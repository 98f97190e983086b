//! Webhooks (SPEC §2.8) on both databases: an event written with its change is delivered to a
//! local receiver that refuses the first attempts, retried with growing back-off, logged, and
//! signed — the signature checked here by an HMAC written from SHA-256 alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::common::{Backend, expect_problem, spawn_with};

both_backends!(events_are_delivered_signed_with_retries);

type Received = Arc<Mutex<Vec<(Instant, HeaderMap, Vec<u8>)>>>;

/// A receiver on a free port that answers 500 to its first `failures` requests.
async fn receiver(failures: usize) -> (String, Received) {
    let received: Received = Arc::default();
    let log = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let log = log.clone();
            async move {
                let mut log = log.lock().unwrap();
                log.push((Instant::now(), headers, body.to_vec()));
                if log.len() <= failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn events_are_delivered_signed_with_retries(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| {
        c.webhook_interval_ms = 25;
        c.webhook_retry_base_ms = 150;
    })
    .await
    else {
        return;
    };
    let admin = app.admin_token().await;
    let (url, received) = receiver(2).await;
    let secret = "whsec_0123456789abcdef";
    let res = app
        .post(
            "/api/webhook-endpoints",
            Some(&admin),
            json!({"url": url, "events": ["customer.created"], "secret": secret}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let endpoint: Value = res.json().await.unwrap();
    assert_eq!(endpoint["secret"], secret);
    let other = app
        .post(
            "/api/webhook-endpoints",
            Some(&admin),
            json!({"url": format!("{url}?other"), "events": ["invoice.paid"]}),
        )
        .await;
    let other: Value = other.json().await.unwrap();
    assert!(other["secret"].as_str().unwrap().starts_with("whsec_"));
    // Every event, to a port where nothing listens (its deliveries only wait for retries); and
    // an endpoint switched off, which gets nothing.
    let mut wildcard = Vec::new();
    for active in [true, false] {
        let res = app
            .post(
                "/api/webhook-endpoints",
                Some(&admin),
                json!({"url": "http://127.0.0.1:9/hook", "events": ["*"], "active": active}),
            )
            .await;
        assert_eq!(res.status(), 201);
        let endpoint: Value = res.json().await.unwrap();
        wildcard.push(endpoint["id"].as_str().unwrap().to_owned());
    }

    let res = app
        .post(
            "/api/customers",
            Some(&admin),
            json!({"name": "สหกรณ์การเกษตรบ้านนา"}),
        )
        .await;
    let customer: Value = res.json().await.unwrap();

    let deliveries_url = format!(
        "/api/webhook-endpoints/{}/deliveries",
        endpoint["id"].as_str().unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let delivery = loop {
        let page: Value = app.get(&deliveries_url, &admin).await.json().await.unwrap();
        if page["data"][0]["status"] == "succeeded" {
            break page["data"][0].clone();
        }
        assert!(Instant::now() < deadline, "not delivered in time: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["last_status_code"], 200);

    let log = received.lock().unwrap().clone();
    assert_eq!(log.len(), 3, "two refusals, then accepted");
    // Back-off grows: ≥ 150 ms before the second attempt, ≥ 300 ms before the third.
    assert!(log[1].0 - log[0].0 >= Duration::from_millis(150));
    assert!(log[2].0 - log[1].0 >= Duration::from_millis(300));
    let (_, headers, body) = &log[2];
    let event: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["type"], "customer.created");
    assert_eq!(event["data"]["id"], customer["id"]);
    assert_eq!(headers["satang-event-type"], "customer.created");
    let signature = headers["satang-signature"].to_str().unwrap();
    let (t, v1) = signature.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    assert_eq!(
        v1,
        crate::common::hmac_sha256_hex(secret.as_bytes(), &signed)
    );

    // The other endpoint wanted invoice.paid only: nothing for it.
    let others: Value = app
        .get(
            &format!(
                "/api/webhook-endpoints/{}/deliveries",
                other["id"].as_str().unwrap()
            ),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(others["data"], json!([]));
    let deliveries = |id: &str| {
        let url = format!("/api/webhook-endpoints/{id}/deliveries");
        let app = &app;
        let admin = &admin;
        async move {
            let page: Value = app.get(&url, admin).await.json().await.unwrap();
            page["data"].as_array().unwrap().clone()
        }
    };
    let to_all = deliveries(&wildcard[0]).await;
    assert_eq!(
        to_all.len(),
        1,
        "the \"*\" endpoint gets the event: {to_all:?}"
    );
    assert_eq!(to_all[0]["event_id"], delivery["event_id"]);
    assert_eq!(deliveries(&wildcard[1]).await, Vec::<Value>::new());

    // Administration is for admins, and validated.
    let viewer = app.staff_token("viewer@satang.test", &["viewer"]).await;
    expect_problem(app.get("/api/webhook-endpoints", &viewer).await, 403).await;
    for (body, field) in [
        (json!({"url": "ftp://x", "events": ["*"]}), "url"),
        (
            json!({"url": "https://example.test/h", "events": ["customer.deleted_forever"]}),
            "events",
        ),
        (
            json!({"url": "https://example.test/h", "events": ["*"], "secret": "short"}),
            "secret",
        ),
    ] {
        let problem = expect_problem(
            app.post("/api/webhook-endpoints", Some(&admin), body).await,
            422,
        )
        .await;
        assert!(problem["errors"][field].is_array(), "{problem}");
    }
}
