//! Connections (SPEC §5): a client cannot hold connections open by sending a request head
//! slowly or by sending nothing, nor open more than its share. No storage is involved, so these
//! run on SQLite only.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::{Backend, TestApp, spawn_with};

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: satang.test\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_sent_slowly_is_cut_off() {
    let Some(app) = spawn_with(Backend::Sqlite, |c| {
        c.header_read_timeout = 2;
        c.idle_timeout = 60;
    })
    .await
    else {
        return;
    };
    let mut conn = TcpStream::connect(addr(&app)).await.unwrap();
    let started = Instant::now();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: satang.test\r\n")
        .await
        .unwrap();
    // A header line every half second, never the blank line that ends the head.
    let mut answer = Vec::new();
    let closed_after = loop {
        let mut buf = [0u8; 512];
        tokio::select! {
            read = conn.read(&mut buf) => match read {
                Ok(0) | Err(_) => break started.elapsed(),
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "a head still arriving after 10 s is not cut off (header timeout 2 s)"
                );
                if conn.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    break started.elapsed();
                }
            }
        }
    };
    assert!(
        closed_after >= Duration::from_millis(1500),
        "closed after {closed_after:?}, before the header timeout"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "{answer}"
    );
    // Everyone else is served.
    let mut other = TcpStream::connect(addr(&app)).await.unwrap();
    assert!(request(&mut other).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed() {
    let Some(app) = spawn_with(Backend::Sqlite, |c| {
        c.header_read_timeout = 30;
        c.idle_timeout = 2;
    })
    .await
    else {
        return;
    };
    let mut conn = TcpStream::connect(addr(&app)).await.unwrap();
    // Kept alive: a second request on the same connection is answered.
    for _ in 0..2 {
        let answer = request(&mut conn).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            !answer.to_lowercase().contains("connection: close"),
            "{answer}"
        );
    }
    let answered = Instant::now();
    let closed_after = closed_within(&mut conn, Duration::from_secs(10))
        .await
        .map(|_| answered.elapsed())
        .expect("an idle connection is still open 10 s later (idle timeout 2 s)");
    assert!(
        closed_after >= Duration::from_millis(1500),
        "closed after {closed_after:?}, before the idle timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_per_address_limit_are_closed() {
    let Some(app) = spawn_with(Backend::Sqlite, |c| c.max_connections_per_ip = 3).await else {
        return;
    };
    // The test's own requests come from 127.0.0.1; the greedy client is 127.0.0.2.
    let greedy = "127.0.0.2";
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = connect_from(greedy, addr(&app)).await;
        assert!(request(&mut conn).await.starts_with("HTTP/1.1 200"));
        held.push(conn);
    }
    let mut fourth = connect_from(greedy, addr(&app)).await;
    let _ = fourth.write_all(HEALTHZ).await;
    let answer = closed_within(&mut fourth, Duration::from_secs(5))
        .await
        .expect("a fourth connection from one address is served (limit 3)");
    assert!(answer.is_empty(), "{answer}");

    // Another address is served meanwhile.
    let res = app.client.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // A closed connection makes room (the server notices the close a moment later).
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut conn = connect_from(greedy, addr(&app)).await;
        let _ = conn.write_all(HEALTHZ).await;
        if read_answer(&mut conn).await.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "no room 5 s after a close");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_total_wait_for_a_place() {
    let Some(app) = spawn_with(Backend::Sqlite, |c| {
        c.max_connections = 2;
        c.max_connections_per_ip = 0;
    })
    .await
    else {
        return;
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = TcpStream::connect(addr(&app)).await.unwrap();
        assert!(request(&mut conn).await.starts_with("HTTP/1.1 200"));
        held.push(conn);
    }
    // A third waits to be accepted …
    let mut third = TcpStream::connect(addr(&app)).await.unwrap();
    third.write_all(HEALTHZ).await.unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_secs(1), third.read(&mut byte)).await;
    assert!(early.is_err(), "a third connection was served (limit 2)");
    // … and is served once another closes.
    drop(held.pop());
    let answer = tokio::time::timeout(Duration::from_secs(5), read_answer(&mut third))
        .await
        .expect("served within 5 s of a close");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

fn addr(app: &TestApp) -> SocketAddr {
    app.server.as_ref().unwrap().addr
}

async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Sends `GET /healthz` and reads its answer.
async fn request(conn: &mut TcpStream) -> String {
    conn.write_all(HEALTHZ).await.unwrap();
    read_answer(conn).await
}

/// One response (head and `Content-Length` body), or what came before the connection closed.
async fn read_answer(conn: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                break;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no answer within 10 s: {:?}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Reads until the server closes `conn` and returns what it sent before; `None` when it is still
/// open after `within`.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}
