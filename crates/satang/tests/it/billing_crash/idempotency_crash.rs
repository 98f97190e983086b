//! A keyed request retried after a crash has one effect (SPEC §2, Idempotency), on SQLite and
//! PostgreSQL: the real `satang serve` binary takes thousands of `POST /api/customers`, each
//! with its own `Idempotency-Key`, sixteen at a time, and is killed with SIGKILL in the middle —
//! three times, restarted on the same database after each. Restarted once more, with its clock
//! moved past the minute after which an unfinished claim may be taken again, it is sent every
//! request again with the same key and body. Afterwards there is exactly one customer per key,
//! and every request answered before a crash is answered again with the same customer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Client;
use serde_json::{Value, json};
use tokio::process::Child;

use crate::common::bulk::{count_of, open, satang};
use crate::common::process::free_port;
use crate::common::{ADMIN_EMAIL, Backend, Database, PASSWORD};

both_backends!(keyed_creates_killed_mid_flight_take_effect_once);

const REQUESTS: usize = 2_000;
const IN_FLIGHT: usize = 16;

struct Serve {
    child: Child,
    base: String,
    log: PathBuf,
}

/// Starts `satang serve` on the test's database and data directory (the same keys after a
/// restart), and waits until it is ready.
async fn serve(database: &Database, run: &str) -> Serve {
    let data_dir = database.data_dir();
    let addr = format!("127.0.0.1:{}", free_port());
    let log = data_dir.join(format!("serve-{run}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let mut child = satang(database, &data_dir)
        .args(["serve", "--addr", &addr])
        .env("SATANG_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("SATANG_ADMIN_PASSWORD", PASSWORD)
        .env("SATANG_ARGON2_MEMORY_KIB", "4096")
        .env("SATANG_ARGON2_ITERATIONS", "1")
        .env("SATANG_API_RATE_LIMIT", "0")
        .env("SATANG_DB_MAX_CONNECTIONS", "8")
        .env("SATANG_BILLING_INTERVAL", "0")
        .env("SATANG_WEBHOOK_INTERVAL_MS", "0")
        .env("SATANG_EMAIL_INTERVAL_MS", "0")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .stdin(Stdio::null())
        .spawn()
        .expect("satang serve starts");
    let base = format!("http://{addr}");
    let http = Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "satang serve exited ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if let Ok(res) = http.get(format!("{base}/readyz")).send().await
            && res.status() == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "satang serve not ready after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Serve { child, base, log }
}

async fn admin_token(http: &Client, base: &str) -> String {
    let res = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "admin login");
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// One keyed create: its key and the exact bytes of its body (a replay must repeat both).
struct Keyed {
    key: String,
    body: Vec<u8>,
}

/// What a keyed create was answered: the customer's id, and whether it was a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answer {
    id: uuid::Uuid,
    replayed: bool,
}

/// Sends `request`; `None` when no 201 came back (the server died under it).
async fn create(http: &Client, base: &str, token: &str, request: &Keyed) -> Option<Answer> {
    let res = http
        .post(format!("{base}/api/customers"))
        .bearer_auth(token)
        .header("idempotency-key", &request.key)
        .header("content-type", "application/json")
        .body(request.body.clone())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .ok()?;
    let status = res.status();
    let replayed = res.headers().get("idempotent-replayed").is_some();
    let body: Value = res.json().await.ok()?;
    assert_eq!(status, 201, "{body}");
    Some(Answer {
        id: body["id"].as_str()?.parse().ok()?,
        replayed,
    })
}

/// Sends the requests numbered `pending`, [`IN_FLIGHT`] at a time, to `server` and kills it
/// with SIGKILL once `target` of them are answered. Returns the answers, and the requests not
/// sent because the server was gone.
async fn send_until_killed(
    http: &Client,
    server: &mut Serve,
    token: &str,
    requests: &Arc<Vec<Keyed>>,
    pending: Vec<usize>,
    target: usize,
) -> (HashMap<usize, Answer>, Vec<usize>) {
    let answered = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let sending = tokio::spawn({
        let (http, base, token) = (http.clone(), server.base.clone(), token.to_owned());
        let (requests, answered, killed) = (requests.clone(), answered.clone(), killed.clone());
        async move {
            futures::stream::iter(pending)
                .map(|i| {
                    let (http, base, token) = (&http, &base, &token);
                    let (requests, answered, killed) = (&requests, &answered, &killed);
                    async move {
                        if killed.load(Ordering::SeqCst) {
                            return (i, Err(()));
                        }
                        let answer = create(http, base, token, &requests[i]).await;
                        if answer.is_some() {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        (i, Ok(answer))
                    }
                })
                .buffer_unordered(IN_FLIGHT)
                .collect::<Vec<(usize, Result<Option<Answer>, ()>)>>()
                .await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < target {
        assert!(!sending.is_finished(), "every request sent before the kill");
        assert!(Instant::now() < deadline, "no {target} answers after 60 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    killed.store(true, Ordering::SeqCst);
    server.child.start_kill().unwrap();
    let status = server.child.wait().await.unwrap();
    assert!(!status.success(), "killed, not finished: {status}");
    let mut answers = HashMap::new();
    let mut skipped = Vec::new();
    for (i, outcome) in sending.await.unwrap() {
        match outcome {
            Ok(Some(answer)) => {
                answers.insert(i, answer);
            }
            Ok(None) => {}
            Err(()) => skipped.push(i),
        }
    }
    skipped.sort_unstable();
    (answers, skipped)
}

async fn keyed_creates_killed_mid_flight_take_effect_once(backend: Backend) {
    let Some(database) = Database::create(backend).await else {
        return;
    };
    let started = Instant::now();
    let http = Client::new();
    let requests: Arc<Vec<Keyed>> = Arc::new(
        (0..REQUESTS)
            .map(|i| Keyed {
                key: format!("crash-create-{i:05}"),
                body: serde_json::to_vec(&json!({
                    "name": format!("ร้านข้าวแกง {i:05}"),
                    "email": format!("shop{i:05}@example.co.th"),
                }))
                .unwrap(),
            })
            .collect(),
    );

    // Three servers in turn take the requests sixteen at a time, each killed in the middle of
    // its share: once a quarter, a half and three quarters of all are answered.
    let mut before: HashMap<usize, Answer> = HashMap::new();
    let mut unsent: Vec<usize> = (0..REQUESTS).collect();
    for (run, answered_at_kill) in [REQUESTS / 4, REQUESTS / 2, REQUESTS * 3 / 4]
        .into_iter()
        .enumerate()
    {
        let mut server = serve(&database, &format!("killed-{run}")).await;
        let token = admin_token(&http, &server.base).await;
        let target = answered_at_kill - before.len();
        let (answers, skipped) =
            send_until_killed(&http, &mut server, &token, &requests, unsent, target).await;
        eprintln!(
            "{backend:?}: server {run} killed after {:?} with {} creates answered",
            started.elapsed(),
            answers.len()
        );
        before.extend(answers);
        unsent = skipped;
    }
    assert!(
        !unsent.is_empty(),
        "every request was sent before the last kill"
    );

    // A fourth server, its clock past the minute after which a claim without a response is
    // taken over, is sent every request again.
    let last = serve(&database, "after").await;
    let token = admin_token(&http, &last.base).await;
    let clock: Value = http
        .get(format!("{}/api/test-clock", last.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now: chrono::DateTime<chrono::Utc> = clock["now"].as_str().unwrap().parse().unwrap();
    let res = http
        .post(format!("{}/api/test-clock", last.base))
        .bearer_auth(&token)
        .json(&json!({ "now": now + chrono::TimeDelta::minutes(5) }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "test clock moved");
    let after: HashMap<usize, Answer> = futures::stream::iter(0..REQUESTS)
        .map(|i| {
            let (http, base, token, requests) = (&http, &last.base, &token, &requests);
            async move {
                let answer = create(http, base, token, &requests[i]).await;
                (i, answer.expect("a replay after the restart is answered"))
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;

    let db = open(&database).await;
    let customers = count_of(
        &db,
        satang_store::Sql::new("SELECT COUNT(*) AS n FROM customers"),
    )
    .await;
    let names = count_of(
        &db,
        satang_store::Sql::new("SELECT COUNT(DISTINCT name) AS n FROM customers"),
    )
    .await;
    let replayed = after.values().filter(|a| a.replayed).count();
    let changed = before.iter().filter(|(i, a)| after[*i].id != a.id).count();
    eprintln!(
        "{backend:?}: after the restart {replayed} answers were replays; {customers} customers \
         for {REQUESTS} keys ({names} names); {changed} of the {} answers from before the kill \
         named another customer in the replay; {:?} in all",
        before.len(),
        started.elapsed()
    );
    let log = std::fs::read_to_string(&last.log).unwrap_or_default();
    assert_eq!(
        (customers, names),
        (REQUESTS as i64, REQUESTS as i64),
        "one customer per key\n{log}"
    );
    assert_eq!(changed, 0, "a replay answers the first response");
    for i in before.keys() {
        assert!(
            after[i].replayed,
            "request {i} was answered before, so it is replayed"
        );
    }
}
