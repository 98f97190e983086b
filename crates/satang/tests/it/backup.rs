//! `satang backup`: a consistent copy of the SQLite database taken while the server runs, whose
//! search index works when the copy is served; a refusal, touching nothing, when the data
//! directory holds no Satang database; on PostgreSQL, directions for pg_dump.

use std::process::Command;

use crate::common::{Backend, Database, PASSWORD, spawn};
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
        .json(&json!({"email": crate::common::ADMIN_EMAIL, "password": PASSWORD}))
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

/// A mistyped `--data-dir` must not yield an empty "backup" and a new database where there was
/// none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_refuses_a_data_directory_without_a_satang_database() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("no-such-dir");
    let empty = parent.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    // A SQLite database, but not Satang's.
    let foreign = parent.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(foreign.join("satang.db"))
        .create_if_missing(true);
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE notes (text TEXT)")
        .execute(&mut conn)
        .await
        .unwrap();
    <sqlx::SqliteConnection as sqlx::Connection>::close(conn)
        .await
        .unwrap();
    let foreign_bytes = std::fs::read(foreign.join("satang.db")).unwrap();

    let copy = parent.path().join("copy.db");
    for (dir, expected) in [
        (&missing, "no Satang database"),
        (&empty, "no Satang database"),
        (&foreign, "not a Satang database"),
    ] {
        let out = satang(
            &[
                "backup",
                "--to",
                copy.to_str().unwrap(),
                "--data-dir",
                dir.to_str().unwrap(),
            ],
            None,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: {stderr}", dir.display());
        assert!(stderr.contains(expected), "{}: {stderr}", dir.display());
        assert!(stderr.contains(&*dir.to_string_lossy()), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!copy.exists(), "a backup of nothing was written");
    }
    // Nothing was created or changed.
    assert!(!missing.exists());
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    let left: Vec<_> = std::fs::read_dir(&foreign)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["satang.db"]);
    assert_eq!(
        std::fs::read(foreign.join("satang.db")).unwrap(),
        foreign_bytes
    );
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
