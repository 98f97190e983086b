//! `satang backup`: a consistent copy of the SQLite database taken while the server runs, whose
//! search index works when the copy is served; on PostgreSQL, directions for pg_dump.

mod common;

use std::process::Command;

use common::{Backend, Database, PASSWORD, spawn};
use serde_json::{Value, json};

fn satang(args: &[&str], database_url: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_satang"));
    command.args(args).env_remove("DATABASE_URL");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command.output().expect("satang runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_is_consistent_and_searchable() {
    let Some(app) = spawn(Backend::Sqlite).await else {
        return;
    };
    let admin = app.admin_token().await;
    let res = app
        .post(
            "/api/customers",
            Some(&admin),
            json!({"name": "สหกรณ์การเกษตรบ้านนา"}),
        )
        .await;
    assert_eq!(res.status(), 201);

    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("satang.db");
    let data_dir = app.db.data_dir();
    let out = satang(
        &[
            "backup",
            "--to",
            copy.to_str().unwrap(),
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Refuses to overwrite.
    let again = satang(
        &[
            "backup",
            "--to",
            copy.to_str().unwrap(),
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
        None,
    );
    assert!(!again.status.success());

    // Serve the copy (with the original's keys) and find the customer through the index.
    for file in ["jwt-keys.json", "encryption.key"] {
        std::fs::copy(data_dir.join(file), copy_dir.path().join(file)).unwrap();
    }
    let mut config = app.db.config();
    config.data_dir = copy_dir.path().to_path_buf();
    let server = satang::Server::start(&config, satang_api::Services::All)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/api/auth/login", server.url()))
        .json(&json!({"email": common::ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let found: Value = client
        .get(format!(
            "{}/api/customers?q=%E0%B8%AA%E0%B8%AB%E0%B8%81%E0%B8%A3%E0%B8%93%E0%B9%8C",
            server.url()
        ))
        .bearer_auth(login["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["data"][0]["name"], "สหกรณ์การเกษตรบ้านนา", "{found}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_points_to_pg_dump() {
    let Some(db) = Database::create(Backend::Postgres).await else {
        return;
    };
    let out = satang(
        &[
            "backup",
            "--to",
            "/tmp/unused.db",
            "--data-dir",
            db.data_dir().to_str().unwrap(),
        ],
        db.url.as_deref(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("pg_dump"));
}
