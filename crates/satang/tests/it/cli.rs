//! Black-box tests of the `satang` binary (SPEC §1, §5, §6): `migrate`, `user add` (with a
//! password, or printing an invitation link), `keys rotate`, usage errors, and `satang serve` as a
//! real process that becomes ready, serves, keeps secrets out of its logs and shuts down gracefully
//! on SIGTERM, finishing a request that is in flight. On SQLite and PostgreSQL (`DATABASE_URL`).

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::common::process::{free_port, kid_of, login, read_log, satang_command};
use crate::common::{ADMIN_EMAIL, Backend, Database, PASSWORD, expect_problem};
use satang::Server;
use satang_api::Services;

both_backends!(
    migrate_runs_and_is_repeatable,
    user_add_with_a_password_signs_in_with_its_role,
    user_add_creates_the_first_administrator,
    user_add_without_a_password_prints_an_invitation,
    user_add_refuses_bad_input_and_stores_nothing,
    keys_rotate_adds_a_signing_key,
    serve_runs_and_shuts_down_gracefully_on_sigterm,
);

async fn migrate_runs_and_is_repeatable(backend: Backend) {
    let Some(db) = Database::create(backend).await else {
        return;
    };
    for _ in 0..2 {
        let out = run(satang(&db)
            .arg("migrate")
            .arg("--data-dir")
            .arg(db.dir.path()))
        .await;
        assert_success(&out, "satang migrate");
    }
    // A server on that database finds every migration done.
    let server = Server::start(&db.config(), Services::All).await.unwrap();
    let res = Client::new()
        .get(format!("{}/readyz", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ready: Value = res.json().await.unwrap();
    assert_eq!(ready["migrations"], "done");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn migrate_refuses_a_database_url_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(satang_env()
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .env("DATABASE_URL", "mysql://root@127.0.0.1/satang"))
    .await;
    assert!(!out.status.success(), "{}", describe(&out));
    let text = describe(&out);
    assert!(text.contains("DATABASE_URL"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

/// An unreachable PostgreSQL is reported with the real cause, not as a pool timeout.
#[tokio::test]
async fn serve_reports_a_refused_postgres_connection() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let started = Instant::now();
    let out = run(satang_env()
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{port}/satang"),
        )
        .env("SATANG_DB_CONNECT_TIMEOUT", "1"))
    .await;
    assert!(!out.status.success(), "{}", describe(&out));
    let text = describe(&out);
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("timed out"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    // It waited SATANG_DB_CONNECT_TIMEOUT for PostgreSQL to come up, not the default 10 s.
    assert!(started.elapsed() < Duration::from_secs(8), "{text}");
}

#[tokio::test]
async fn serve_help_describes_what_it_serves() {
    let out = run(satang_env().args(["serve", "--help"])).await;
    assert_success(&out, "satang serve --help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("console"), "{help}");
    assert!(!help.contains("later"), "{help}");
    for setting in [
        "SATANG_HEADER_READ_TIMEOUT",
        "SATANG_IDLE_TIMEOUT",
        "SATANG_MAX_CONNECTIONS_PER_IP",
        "SATANG_MAX_CONNECTIONS",
        "SATANG_DB_CONNECT_TIMEOUT",
    ] {
        assert!(help.contains(setting), "{setting}: {help}");
    }
}

/// With `SATANG_ADMIN_EMAIL`, the demo adds no administrator of its own, and its start-up line
/// names the configured one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_start_up_names_the_configured_administrator() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let log_path = logs.path().join("demo.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = satang_env()
        .args(["demo", "--addr", &addr, "--data-dir"])
        .arg(dir.path())
        .env("SATANG_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("SATANG_ADMIN_PASSWORD", PASSWORD)
        .env("SATANG_LOG", "info")
        .env("SATANG_BILLING_INTERVAL", "0")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("satang demo starts");
    // The demo loads before the server listens.
    let http = Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("satang demo exited ({status}): {}", read_log(&log_path));
        }
        if let Ok(res) = http.get(format!("http://{addr}/readyz")).send().await
            && res.status() == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready after 120 s: {}",
            read_log(&log_path)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    child.kill().await.unwrap();
    let log = read_log(&log_path);
    let line = log
        .lines()
        .find(|l| l.contains("demo data loaded"))
        .unwrap_or_else(|| panic!("no demo line: {log}"));
    assert!(line.contains(ADMIN_EMAIL), "{line}");
    assert!(!line.contains(satang::demo::DEMO_ADMIN), "{line}");
}

#[tokio::test]
async fn usage_errors_exit_non_zero() {
    let out = run(satang_env().arg("--version")).await;
    assert_success(&out, "satang --version");
    assert!(String::from_utf8_lossy(&out.stdout).contains("satang"));
    let out = run(satang_env().arg("--help")).await;
    assert_success(&out, "satang --help");
    for args in [
        vec!["no-such-command"],
        vec!["user", "add", "--email", "x@satang.test"],
        vec!["serve", "--addr", "not-an-address"],
    ] {
        let out = run(satang_env().args(&args)).await;
        assert!(!out.status.success(), "{args:?}: {}", describe(&out));
        assert!(!describe(&out).contains("panicked"), "{}", describe(&out));
    }
}

#[tokio::test]
async fn switches_read_one_and_zero_from_the_environment() {
    // SPEC §2.9 writes `SATANG_TEST_CLOCK=1`; `true`/`false`, `yes`/`no` work too.
    for value in ["1", "0", "true", "no"] {
        let dir = tempfile::tempdir().unwrap();
        let out = run(satang_env()
            .args(["bill", "--data-dir"])
            .arg(dir.path())
            .env("SATANG_TEST_CLOCK", value))
        .await;
        assert_success(&out, &format!("SATANG_TEST_CLOCK={value} satang bill"));
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run(satang_env()
        .args(["bill", "--data-dir"])
        .arg(dir.path())
        .env("SATANG_TEST_CLOCK", "maybe"))
    .await;
    assert!(!out.status.success(), "{}", describe(&out));
}

#[tokio::test]
async fn rust_log_is_the_log_filter_unless_satang_log_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = |satang_log: Option<&str>| {
        let mut cmd = satang_env();
        cmd.env_remove("SATANG_LOG").env("RUST_LOG", "debug");
        if let Some(filter) = satang_log {
            cmd.env("SATANG_LOG", filter);
        }
        cmd.args(["migrate", "--data-dir"]).arg(dir.path());
        cmd
    };
    let out = run(&mut migrate(None)).await;
    assert_success(&out, "RUST_LOG=debug satang migrate");
    assert!(describe(&out).contains("DEBUG"), "{}", describe(&out));
    let out = run(&mut migrate(Some("warn"))).await;
    assert_success(&out, "SATANG_LOG=warn RUST_LOG=debug satang migrate");
    assert!(!describe(&out).contains("DEBUG"), "{}", describe(&out));
}

async fn user_add_with_a_password_signs_in_with_its_role(backend: Backend) {
    let Some(db) = Database::create(backend).await else {
        return;
    };
    let out = run(satang(&db)
        .args([
            "user",
            "add",
            "--email",
            "ops@x.test",
            "--role",
            "billing",
            "--password-env",
            "PW",
            "--data-dir",
        ])
        .arg(db.dir.path())
        .env("PW", PASSWORD))
    .await;
    assert_success(&out, "satang user add");
    assert!(
        !describe(&out).contains(PASSWORD),
        "the password is echoed: {}",
        describe(&out)
    );

    let server = Server::start(&db.config(), Services::All).await.unwrap();
    let http = Client::new();
    let session = login(&http, &server.url(), "ops@x.test").await;
    assert_eq!(session["user"]["roles"], json!(["billing"]));
    let me: Value = http
        .get(format!("{}/api/auth/me", server.url()))
        .bearer_auth(session["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["billing"]));
    assert_eq!(me["email"], "ops@x.test");

    // Audited like any other creation.
    let admin = login(&http, &server.url(), ADMIN_EMAIL).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let events: Value = http
        .get(format!(
            "{}/api/audit-events?entity_type=user&entity_id={}",
            server.url(),
            me["id"].as_str().unwrap()
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "user.created"),
        "{events}"
    );

    // The same email again is refused, also in another case.
    let out = run(satang(&db)
        .args([
            "user",
            "add",
            "--email",
            "OPS@x.test",
            "--role",
            "viewer",
            "--password-env",
            "PW",
            "--data-dir",
        ])
        .arg(db.dir.path())
        .env("PW", PASSWORD))
    .await;
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(!describe(&out).contains("panicked"), "{}", describe(&out));
    server.stop().await.unwrap();
}

async fn user_add_creates_the_first_administrator(backend: Backend) {
    let Some(db) = Database::create(backend).await else {
        return;
    };
    let out = run(satang(&db)
        .args([
            "user",
            "add",
            "--email",
            "root@x.test",
            "--name",
            "สมศรี ผู้ดูแล",
            "--role",
            "admin",
            "--password-env",
            "PW",
            "--data-dir",
        ])
        .arg(db.dir.path())
        .env("PW", PASSWORD))
    .await;
    assert_success(&out, "satang user add --role admin");

    // A server without SATANG_ADMIN_*: the shell-made administrator runs it.
    let mut config = db.config();
    config.admin_email = None;
    config.admin_password = None;
    let server = Server::start(&config, Services::All).await.unwrap();
    let http = Client::new();
    let session = login(&http, &server.url(), "root@x.test").await;
    assert_eq!(session["user"]["roles"], json!(["admin"]));
    assert_eq!(session["user"]["name"], "สมศรี ผู้ดูแล");
    let res = http
        .get(format!("{}/api/users", server.url()))
        .bearer_auth(session["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let users: Value = res.json().await.unwrap();
    assert_eq!(users["data"].as_array().unwrap().len(), 1, "{users}");
    server.stop().await.unwrap();
}

async fn user_add_without_a_password_prints_an_invitation(backend: Backend) {
    let Some(db) = Database::create(backend).await else {
        return;
    };
    let out = run(satang(&db)
        .args([
            "user",
            "add",
            "--email",
            "invited@x.test",
            "--role",
            "support",
            "--data-dir",
        ])
        .arg(db.dir.path()))
    .await;
    assert_success(&out, "satang user add (invitation)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let link = stdout
        .lines()
        .find(|l| l.contains("invitation"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no invitation link in: {stdout}"));
    assert!(link.starts_with("http"), "{link}");
    let token = link.trim_end_matches('/').rsplit('/').next().unwrap();
    assert!(token.len() >= 32, "{token}");

    let server = Server::start(&db.config(), Services::All).await.unwrap();
    let http = Client::new();
    // No password yet.
    let res = http
        .post(format!("{}/api/auth/login", server.url()))
        .json(&json!({"email": "invited@x.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 401).await;

    let res = http
        .post(format!("{}/api/auth/invitations/accept", server.url()))
        .json(&json!({"token": token, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let session: Value = res.json().await.unwrap();
    assert!(session["access_token"].is_string() && session["refresh_token"].is_string());
    assert_eq!(session["user"]["email"], "invited@x.test");
    assert_eq!(session["user"]["roles"], json!(["support"]));
    login(&http, &server.url(), "invited@x.test").await;

    // The link works once.
    let res = http
        .post(format!("{}/api/auth/invitations/accept", server.url()))
        .json(&json!({"token": token, "password": "another-Rice-field-7"}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 404).await;
    server.stop().await.unwrap();
}

async fn user_add_refuses_bad_input_and_stores_nothing(backend: Backend) {
    let Some(db) = Database::create(backend).await else {
        return;
    };
    // (what, email, role, password, name) — the same rules as `POST /api/users`.
    let long_name = "ก".repeat(201);
    let cases = [
        ("invalid role", "a@x.test", "root", PASSWORD, "A"),
        ("weak password", "b@x.test", "viewer", "password", "B"),
        ("short password", "c@x.test", "viewer", "Ab1-x", "C"),
        ("not an email", "not-an-email", "viewer", PASSWORD, "D"),
        ("two @ signs", "two@@x.test", "viewer", PASSWORD, "E"),
        (
            "a space in the email",
            "sp ace@x.test",
            "viewer",
            PASSWORD,
            "F",
        ),
        (
            "a 201-character name",
            "g@x.test",
            "viewer",
            PASSWORD,
            &long_name,
        ),
        ("an empty name", "h@x.test", "viewer", PASSWORD, " "),
    ];
    let mut accepted = Vec::new();
    for (what, email, role, password, name) in cases {
        let mut cmd = satang(&db);
        cmd.args([
            "user", "add", "--email", email, "--role", role, "--name", name,
        ])
        .args(["--password-env", "PW"])
        .env("PW", password)
        .arg("--data-dir")
        .arg(db.dir.path());
        let out = run(&mut cmd).await;
        if out.status.success() || describe(&out).contains("panicked") {
            accepted.push(format!("{what}: {}", describe(&out)));
        }
    }
    // The variable named by --password-env must be set.
    let out = run(satang(&db)
        .args([
            "user",
            "add",
            "--email",
            "d@x.test",
            "--role",
            "viewer",
            "--password-env",
            "SATANG_TEST_UNSET_PASSWORD",
            "--data-dir",
        ])
        .arg(db.dir.path())
        .env_remove("SATANG_TEST_UNSET_PASSWORD"))
    .await;
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        describe(&out).contains("SATANG_TEST_UNSET_PASSWORD"),
        "{}",
        describe(&out)
    );

    // Only the bootstrap administrator exists.
    let server = Server::start(&db.config(), Services::All).await.unwrap();
    let http = Client::new();
    let admin = login(&http, &server.url(), ADMIN_EMAIL).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let users: Value = http
        .get(format!("{}/api/users", server.url()))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let emails: Vec<&str> = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    server.stop().await.unwrap();
    assert!(
        accepted.is_empty(),
        "bad input was not refused: {accepted:#?}"
    );
    assert_eq!(emails, vec![ADMIN_EMAIL], "refused users were stored");
}

async fn keys_rotate_adds_a_signing_key(backend: Backend) {
    let Some(db) = Database::create(backend).await else {
        return;
    };
    let http = Client::new();
    let server = Server::start(&db.config(), Services::All).await.unwrap();
    let old = login(&http, &server.url(), ADMIN_EMAIL).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    server.stop().await.unwrap();

    let out = run(satang(&db)
        .args(["keys", "rotate", "--data-dir"])
        .arg(db.dir.path()))
    .await;
    assert_success(&out, "satang keys rotate");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();

    let server = Server::start(&db.config(), Services::All).await.unwrap();
    let new = login(&http, &server.url(), ADMIN_EMAIL).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_kid = kid_of(&new);
    assert_ne!(new_kid, kid_of(&old));
    assert!(
        stdout.contains(&new_kid),
        "the new key id is printed: {stdout}"
    );
    let jwks: Value = http
        .get(format!("{}/.well-known/jwks.json", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "{jwks}");
    for token in [&old, &new] {
        let res = http
            .get(format!("{}/api/auth/me", server.url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    server.stop().await.unwrap();
}

async fn serve_runs_and_shuts_down_gracefully_on_sigterm(backend: Backend) {
    let Some(db) = Database::create(backend).await else {
        return;
    };
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let base = format!("http://{addr}");
    let log_path = db.dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = satang(&db)
        .args(["serve", "--addr", &addr, "--data-dir"])
        .arg(db.dir.path())
        .env("SATANG_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("SATANG_ADMIN_PASSWORD", PASSWORD)
        .env("SATANG_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("satang serve starts");

    // Ready within 20 s.
    let http = Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "satang serve exited early ({status}): {}",
                read_log(&log_path)
            );
        }
        if let Ok(res) = http.get(format!("{base}/readyz")).send().await
            && res.status() == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready after 20 s: {}",
            read_log(&log_path)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // It serves: the administrator from the environment signs in.
    let res = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let session: Value = res.json().await.unwrap();
    let access = session["access_token"].as_str().unwrap().to_owned();
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    let res = http
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(http);

    // A request in flight: the server has read its head and asked for the body (100 Continue).
    let body = json!({"email": ADMIN_EMAIL, "password": PASSWORD}).to_string();
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let interim = read_head(&mut conn).await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");

    // SIGTERM; the server stops accepting connections …
    let pid = child.id().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // … but finishes the request in flight …
    conn.write_all(body.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut response))
        .await
        .expect("the in-flight request is answered")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("access_token"), "{response}");

    // … and exits successfully.
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap_or_else(|_| panic!("still running 10 s after SIGTERM"))
        .unwrap();
    let log = read_log(&log_path);
    assert!(status.success(), "exit status {status}: {log}");

    // The log has the requests but no secrets.
    assert!(!log.is_empty());
    for secret in [PASSWORD, access.as_str(), refresh.as_str()] {
        assert!(!log.contains(secret), "a secret is in the log: {log}");
    }
}

// ------------------------------------------------------------------------------------------------
// Helpers

/// The `satang` binary with an environment free of the caller's Satang settings.
fn satang_env() -> Command {
    let mut cmd = satang_command();
    // Real argon2id, lighter parameters (debug builds are slow).
    cmd.env("SATANG_ARGON2_MEMORY_KIB", "4096")
        .env("SATANG_ARGON2_ITERATIONS", "1");
    cmd
}

/// `satang_env` pointed at the test's database (`DATABASE_URL` for PostgreSQL).
fn satang(db: &Database) -> Command {
    let mut cmd = satang_env();
    if let Some(url) = &db.url {
        cmd.env("DATABASE_URL", url);
    }
    cmd
}

async fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null());
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the command finishes within 60 s")
        .expect("the command runs")
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_success(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed: {}", describe(out));
}

/// Reads one response head (up to the blank line) from a raw connection.
async fn read_head(conn: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut byte))
            .await
            .expect("a response head within 10 s")
            .unwrap();
        assert!(
            n == 1,
            "connection closed after {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}
