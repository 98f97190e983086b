//! The developer guide `docs/integration.md` runs as written: its `sh` blocks, in order, in
//! `bash` with `curl` and `jq`, against a fresh server, and every answer it shows after `# `
//! (those without an elided `…`) is what the server answered.

use serde_json::json;

use crate::common::billing::insert_customer;
use crate::common::{ADMIN_EMAIL, Backend, PASSWORD, json_of, spawn, tool_missing};

both_backends!(the_integration_guide_runs_as_written);

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
    if !has("curl") || !has("jq") {
        tool_missing("curl and jq", "the integration guide needs curl and jq");
        return;
    }
    let Some(app) = spawn(backend).await else {
        return;
    };
    let admin = app.admin_token().await;
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

    let (script, answers) = guide();
    assert!(answers.len() >= 3, "{answers:?}");
    let out = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("SATANG", &app.url)
        .env("ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", PASSWORD)
        .env("CUSTOMER", customer.to_string())
        .env("SUBSCRIPTION", sub["id"].as_str().unwrap())
        .output()
        .await
        .unwrap();
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
    // The key the guide made is named in the audit log of the usage it reported.
    let events = json_of(
        app.get("/api/audit-events?entity_type=usage_batch", &admin)
            .await,
        200,
    )
    .await;
    assert_eq!(events["data"][0]["actor_api_key_name"], "farm-platform");
}
