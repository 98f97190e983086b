//! Servers outside the test's own `TestApp`: the `satang` binary run as a child process, servers
//! started by hand (`satang::Server`), free ports, logs and polling.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Client;
use serde_json::{Value, json};
use tokio::process::Command;

use super::PASSWORD;

/// The `satang` binary with an environment free of the caller's Satang settings (`SATANG_*`,
/// `DATABASE_URL`), logging warnings only, killed when dropped.
pub fn satang_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_satang"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("SATANG_") || name == "DATABASE_URL" {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd.env("SATANG_LOG", "warn").kill_on_drop(true);
    cmd
}

/// A port nobody listens on at the moment.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A child's log file so far (empty when it has not been written yet).
pub fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Polls `check` every 20 ms until it answers `Some`, for at most `limit`.
pub async fn poll<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Signs `email` in (with the tests' password) at the server at `base` and returns the whole
/// auth response.
pub async fn login(http: &Client, base: &str, email: &str) -> Value {
    let res = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "login of {email}");
    res.json().await.unwrap()
}

/// The key id in a token's header.
pub fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}
