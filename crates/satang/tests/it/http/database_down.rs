//! A database that goes away under a running server (SPEC §6): `/readyz` says so at once, the
//! process stays up, and requests that need the database answer 503 problems with
//! `Retry-After` until it is back. PostgreSQL only: SQLite is a file the process keeps open.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use satang::Server;
use satang_api::Services;

use super::{body_text, problem};
use crate::common::{ADMIN_EMAIL, Backend, Database, PASSWORD, TestApp, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_down_readiness_and_the_api_answer_503() {
    let Some(db) = Database::create(Backend::Postgres).await else {
        return;
    };
    let url = db.url.clone().unwrap();
    let mut proxy = Proxy::start(&url).await;
    let mut config = db.config();
    config.database_url = Some(proxy.url(&url));
    // How long a request waits for a new connection from the pool.
    config.db_connect_timeout = 2;
    let server = Server::start(&config, Services::All).await.unwrap();
    let app = TestApp {
        url: server.url(),
        server: Some(server),
        client: Client::new(),
        db,
    };
    let ready = app.client.get(app.at("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let admin = app.admin_token().await;
    assert_eq!(app.get("/api/customers", &admin).await.status(), 200);

    proxy.stop().await;

    // Not ready, within 2 s, and for the right reason — also once no pooled connection is
    // left to fail fast and a new one must be asked for.
    for _ in 0..3 {
        let asked = Instant::now();
        let res = app.client.get(app.at("/readyz")).send().await.unwrap();
        let took = asked.elapsed();
        assert_eq!(res.status(), 503);
        let body: Value = res.json().await.unwrap();
        assert!(
            took < Duration::from_secs(2),
            "/readyz took {took:?}: {body}"
        );
        assert_eq!(body["status"], "not ready", "{body}");
        assert_eq!(body["database"], "unreachable", "{body}");
        assert_eq!(body["migrations"], "unknown", "{body}");
    }

    // The process is fine; what needs the database is unavailable for now, not broken.
    let res = app.client.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let read = app.get("/api/customers", &admin).await;
    unavailable(read).await;
    let write = app
        .post("/api/customers", Some(&admin), json!({"name": "ฟาร์มทดสอบ"}))
        .await;
    unavailable(write).await;
    let login = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": ADMIN_EMAIL, "password": PASSWORD}),
        )
        .await;
    unavailable(login).await;

    // Back up: ready again, and requests succeed.
    proxy.restart().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = app.client.get(app.at("/readyz")).send().await.unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready 15 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = app.get("/api/customers", &admin).await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            Instant::now() < deadline,
            "still 503 15 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_a_dropped_database() {
    let Some(app) = spawn(Backend::Postgres).await else {
        return;
    };
    let ready = app.client.get(app.at("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let url = app.db.url.clone().unwrap();
    let name = url
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&crate::common::admin_url())
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res = app.client.get(app.at("/readyz")).send().await.unwrap();
        let status = res.status().as_u16();
        let text = body_text(res).await;
        if status == 503 {
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body["database"], "unreachable", "{body}");
            break;
        }
        assert_eq!(status, 200, "{text}");
        assert!(
            Instant::now() < deadline,
            "still ready 30 s after its database was dropped"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The process itself is fine, and requests that need the database fail cleanly.
    let res = app.client.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": ADMIN_EMAIL, "password": PASSWORD}),
        )
        .await;
    unavailable(res).await;
}

/// A 503 problem with `Retry-After`.
async fn unavailable(res: reqwest::Response) {
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let doc = problem(res, 503).await;
    let retry_after: u64 = retry_after
        .unwrap_or_else(|| panic!("a 503 without Retry-After: {doc}"))
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
}

/// A TCP proxy in front of PostgreSQL that the test can stop — its port then refuses
/// connections and the connections through it are cut, as when the database goes down — and
/// start again on the same port.
struct Proxy {
    addr: SocketAddr,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// A proxy to the server of the PostgreSQL URL `url`.
    async fn start(url: &str) -> Proxy {
        let options = PgConnectOptions::from_str(url).unwrap();
        let target = tokio::net::lookup_host((options.get_host(), options.get_port()))
            .await
            .unwrap()
            .next()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            target,
            tasks: Arc::default(),
        };
        proxy.accept(listener);
        proxy
    }

    /// `url` with the proxy's address in place of the server's.
    fn url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let user = authority
            .rsplit_once('@')
            .map(|(user, _)| format!("{user}@"))
            .unwrap_or_default();
        format!("{scheme}://{user}{}{path}", self.addr)
    }

    fn accept(&self, listener: TcpListener) {
        let (target, tasks) = (self.target, self.tasks.clone());
        let acceptor = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let forward = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(forward);
            }
        });
        self.tasks.lock().unwrap().push(acceptor);
    }

    /// Closes the port and cuts every connection through it.
    async fn stop(&mut self) {
        // Until the acceptor is gone it may still add a connection: repeat until none is left.
        loop {
            let tasks: Vec<_> = self.tasks.lock().unwrap().drain(..).collect();
            if tasks.is_empty() {
                return;
            }
            for task in tasks {
                task.abort();
                let _ = task.await;
            }
        }
    }

    async fn restart(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot listen again: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.accept(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}
