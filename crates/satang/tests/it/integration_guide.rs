//! The developer guide `docs/integration.md` runs as written: its `sh` blocks, in order, in
//! `bash` with `curl` and `jq`, against a fresh server, and every answer it shows after `# `
//! (those without an elided `…`) is what the server answered. Its webhook check runs on a
//! delivery a local receiver got from the server, and refuses the same delivery tampered with.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::json;

use crate::common::billing::insert_customer;
use crate::common::{ADMIN_EMAIL, Backend, PASSWORD, json_of, spawn_with, tool_missing};

both_backends!(the_integration_guide_runs_as_written);

type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A webhook endpoint on a free port that keeps what it receives and answers 200.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let log = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push((headers, body.to_vec()));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// The guide's `sh` blocks and the answers it shows.
fn guide() -> (String, Vec<String>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/integration.md");
    let text = std::fs::read_to_string(path).expect("docs/integration.md");
    let (mut script, mut answers) = (String::new(), Vec::new());
    let mut in_block = false;
    for line in text.lines() {
        match (in_block, line.trim_start()) {
            (false, "```sh") => in_block = true,
            (true, "```") => in_block = false,
            (true, l) => {
                if let Some(answer) = l.strip_prefix("# ")
                    && answer.starts_with('{')
                    && !answer.contains('…')
                {
                    answers.push(answer.to_owned());
                }
                script.push_str(line);
                script.push('\n');
            }
            _ => {}
        }
    }
    (script, answers)
}

async fn the_integration_guide_runs_as_written(backend: Backend) {
    let has = |tool: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has("curl") || !has("jq") || !has("openssl") {
        tool_missing(
            "curl, jq and openssl",
            "the integration guide needs curl, jq and openssl",
        );
        return;
    }
    let Some(app) = spawn_with(backend, |c| c.webhook_interval_ms = 25).await else {
        return;
    };
    let admin = app.admin_token().await;
    // The endpoint whose delivery the guide's last step verifies.
    let (url, received) = receiver().await;
    let secret = "whsec_guide0123456789abcdef";
    json_of(
        app.post(
            "/api/webhook-endpoints",
            Some(&admin),
            json!({"url": url, "events": ["subscription.created"], "secret": secret}),
        )
        .await,
        201,
    )
    .await;
    let customer = insert_customer(&app, "ฟาร์มตัวอย่าง", "active").await;
    let sub = json_of(
        app.post(
            "/api/subscriptions",
            Some(&admin),
            json!({"customer_id": customer, "plan_code": "TEAM", "trial_days": 0}),
        )
        .await,
        201,
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let (headers, body) = loop {
        if let Some(first) = received.lock().unwrap().first().cloned() {
            break first;
        }
        assert!(Instant::now() < deadline, "no webhook delivered");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let signature = headers["satang-signature"].to_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let body_file = dir.path().join("delivery.json");
    std::fs::write(&body_file, &body).unwrap();

    let (script, answers) = guide();
    assert!(answers.len() >= 3, "{answers:?}");
    let bash = |script: &str, body_file: &std::path::Path| {
        let mut bash = tokio::process::Command::new("bash");
        bash.args(["-euo", "pipefail", "-c", script])
            .env("SATANG", &app.url)
            .env("ADMIN_EMAIL", ADMIN_EMAIL)
            .env("ADMIN_PASSWORD", PASSWORD)
            .env("CUSTOMER", customer.to_string())
            .env("SUBSCRIPTION", sub["id"].as_str().unwrap())
            .env("WEBHOOK_SECRET", secret)
            .env("WEBHOOK_BODY", body_file)
            .env("SATANG_SIGNATURE", &signature);
        bash
    };
    let out = bash(&script, &body_file).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for answer in &answers {
        assert!(stdout.contains(answer.as_str()), "{answer} not in {stdout}");
    }
    // The last block shows the customer's entitlements.
    assert!(stdout.contains(r#""key":"sensor_dashboard""#), "{stdout}");
    // The webhook step verified the delivery the receiver got.
    assert!(
        stdout.contains("verified: subscription.created"),
        "{stdout}"
    );
    // The same check refuses the delivery with one byte of its body changed.
    let check = &script[script.find("TIMESTAMP=").expect("the webhook check")..];
    let tampered = dir.path().join("tampered.json");
    let text = String::from_utf8(body).unwrap();
    std::fs::write(
        &tampered,
        text.replacen("subscription.created", "subscription.createe", 1),
    )
    .unwrap();
    let refused = bash(check, &tampered).output().await.unwrap();
    assert!(!refused.status.success());
    assert!(!String::from_utf8_lossy(&refused.stdout).contains("verified"));
    // The key the guide made is named in the audit log of the usage it reported.
    let events = json_of(
        app.get("/api/audit-events?entity_type=usage_batch", &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(events["data"][0]["actor_api_key_name"], "farm-platform");
}
