//! Test harness: every test starts its own real server on a free port with its own database —
//! a fresh SQLite directory, or a fresh PostgreSQL database created for it and dropped after.
//!
//! PostgreSQL is found at `SATANG_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When it is not reachable the PostgreSQL half
//! of a test prints a SKIPPED line and passes — unless `SATANG_REQUIRE_POSTGRES=1` (set by CI),
//! which turns the skip into a failure.
//!
//! Submodules: `access` (role × route tables), `billing` (customers, members, the test clock and billing runs through the API),
//! `bulk` (thousands of due subscriptions and the `satang` binary for the crash tests),
//! `browser` (headless Chromium over WebDriver), `process` (the `satang` binary as a child, free
//! ports, logins at a hand-started server), `smtp` (aiosmtpd).

pub mod access;
pub mod billing;
pub mod browser;
pub mod bulk;
pub mod process;
pub mod providers;
pub mod smtp;

use std::path::PathBuf;

use reqwest::{Client, Method, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Connection;

use satang::{Config, Server};
use satang_api::Services;

pub const PASSWORD: &str = "rice-paddy-Tractor-42";
pub const ADMIN_EMAIL: &str = "admin@satang.test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates a SQLite and a PostgreSQL test for each `async fn name(backend: Backend)`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    )*};
}

pub fn admin_url() -> String {
    std::env::var("SATANG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn postgres_required() -> bool {
    std::env::var("SATANG_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

/// A fresh database for one test; `None` when PostgreSQL is unavailable and not required.
pub struct Database {
    pub url: Option<String>,
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl Database {
    pub async fn create(backend: Backend) -> Option<Database> {
        let dir = tempfile::Builder::new()
            .prefix("satang-test-")
            .tempdir()
            .expect("temp dir");
        if backend == Backend::Sqlite {
            return Some(Database {
                url: None,
                dir,
                pg_name: None,
            });
        }
        let admin = admin_url();
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) if !postgres_required() => {
                eprintln!(
                    "SKIPPED (PostgreSQL half): cannot reach {admin}: {e}. \
                     Set SATANG_REQUIRE_POSTGRES=1 to make this a failure."
                );
                return None;
            }
            Err(e) => {
                panic!("PostgreSQL is required (SATANG_REQUIRE_POSTGRES=1) but {admin} failed: {e}")
            }
        };
        let name = format!("satang_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let url = replace_db_name(&admin, &name);
        Some(Database {
            url: Some(url),
            dir,
            pg_name: Some(name),
        })
    }

    pub fn config(&self) -> Config {
        let mut config = Config::for_data_dir(self.dir.path().to_path_buf());
        config.database_url = self.url.clone();
        config.db_max_connections = 8;
        config.admin_email = Some(ADMIN_EMAIL.into());
        config.admin_password = Some(PASSWORD.into());
        config.jwt_private_key = None;
        config.encryption_key = None;
        config.auth_url = None;
        config.test_clock = false;
        config.log = "warn".into();
        // Real argon2id, lighter parameters: tests sign in hundreds of times.
        config.argon2_memory_kib = 4096;
        config.argon2_iterations = 1;
        config.argon2_parallelism = 1;
        config.api_rate_limit = 0;
        // Tests sign up many people from 127.0.0.1; the per-e-mail limit keeps its default.
        config.signup_attempts_per_ip = 10_000;
        config
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let admin = admin_url();
        // The test's runtime is shutting down; drop the database from a runtime of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

pub fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A running server with its own database, and an HTTP client for it.
pub struct TestApp {
    pub server: Option<Server>,
    pub url: String,
    pub client: Client,
    pub db: Database,
}

pub async fn spawn(backend: Backend) -> Option<TestApp> {
    spawn_with(backend, |_| {}).await
}

/// Starts a server with the test clock on and the billing scheduler off, so only the test's
/// requests (and `POST /api/billing/run`) change anything.
pub async fn spawn_clocked(backend: Backend) -> Option<TestApp> {
    spawn_with(backend, |c| {
        c.test_clock = true;
        c.billing_interval = 0;
    })
    .await
}

/// [`spawn_clocked`], with the clock at 10:00 Bangkok on `date`; returns the app and a fresh
/// administrator token.
pub async fn spawn_clocked_on(backend: Backend, date: &str) -> Option<(TestApp, String)> {
    let app = spawn_clocked(backend).await?;
    let admin = billing::set_date(&app, date).await;
    Some((app, admin))
}

/// Starts a server after letting the test adjust the configuration.
pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let db = Database::create(backend).await?;
    let mut config = db.config();
    adjust(&mut config);
    let server = Server::start(&config, Services::All)
        .await
        .expect("server starts");
    Some(TestApp {
        url: server.url(),
        server: Some(server),
        client: Client::new(),
        db,
    })
}

impl TestApp {
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Sends JSON (or nothing) with an optional bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.at(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Value {
        let res = self
            .post(
                "/api/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(res.status(), 200, "login of {email}");
        res.json().await.unwrap()
    }

    /// The bootstrap administrator's access token.
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Signs up a new user and returns the whole auth response.
    pub async fn signup(&self, email: &str) -> Value {
        let res = self
            .post(
                "/api/auth/signup",
                None,
                json!({"email": email, "password": PASSWORD, "name": "ทดสอบ ผู้ใช้"}),
            )
            .await;
        assert_eq!(res.status(), 201, "signup of {email}");
        res.json().await.unwrap()
    }

    /// Creates a staff user with the given roles and returns their access token.
    pub async fn staff_token(&self, email: &str, roles: &[&str]) -> String {
        let admin = self.admin_token().await;
        let res = self
            .post(
                "/api/users",
                Some(&admin),
                json!({"email": email, "name": "Staff", "password": PASSWORD, "roles": roles}),
            )
            .await;
        assert_eq!(res.status(), 201);
        self.login(email, PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// Asserts a problem+json answer with the given status and returns the document.
pub async fn expect_problem(res: Response, status: u16) -> Value {
    assert_eq!(res.status(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(ct, "application/problem+json");
    let body: Value = res.json().await.expect("problem body");
    assert_eq!(body["status"], status);
    assert!(body["type"].is_string() && body["title"].is_string() && body["detail"].is_string());
    body
}

/// Reads a JSON answer that must have exactly `status`; the body is in the failure message.
pub async fn json_of(res: Response, status: u16) -> Value {
    let actual = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(actual, status, "{body}");
    body
}

/// Reads a JSON answer that must be a success (2xx); status and body are in the failure message.
pub async fn ok(res: Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// An outside tool (pdftotext, aiosmtpd, schemathesis) is missing: a failure naming `tool` (and
/// how to install it) when `SATANG_REQUIRE_TOOLS=1` (CI), otherwise a `SKIPPED: {skipped}` line
/// and the caller returns.
pub fn tool_missing(tool: &str, skipped: &str) {
    assert!(
        std::env::var("SATANG_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{tool} is required when SATANG_REQUIRE_TOOLS=1"
    );
    eprintln!("SKIPPED: {skipped}");
}

/// HMAC-SHA256 per RFC 2104, from the hash function alone (independent of the server's `hmac`).
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    hex::encode(
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize(),
    )
}
