//! The load generator: closed-loop HTTP/1.1 clients, each on its own keep-alive connection to
//! 127.0.0.1, recording every latency in an HDR histogram.
//!
//! Raw hyper connections rather than a pooled client: the load generator shares the machine's
//! cores with the server, so every microsecond it spends is one the server does not get.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::proc_stats::CpuClock;

/// One request, sent again and again.
#[derive(Clone)]
pub struct Target {
    pub method: Method,
    pub path: &'static str,
    pub bearer: Option<HeaderValue>,
    pub json: Option<Bytes>,
    pub expect: StatusCode,
}

impl Target {
    pub fn get(path: &'static str) -> Target {
        Target {
            method: Method::GET,
            path,
            bearer: None,
            json: None,
            expect: StatusCode::OK,
        }
    }

    pub fn with_bearer(mut self, token: &str) -> anyhow::Result<Target> {
        self.bearer = Some(HeaderValue::from_str(&format!("Bearer {token}"))?);
        Ok(self)
    }

    pub fn post_json(path: &'static str, body: &serde_json::Value) -> Target {
        Target {
            method: Method::POST,
            path,
            bearer: None,
            json: Some(Bytes::from(body.to_string())),
            expect: StatusCode::OK,
        }
    }

    fn request(&self, host: &HeaderValue) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path)
            .header(HOST, host.clone());
        if let Some(bearer) = &self.bearer {
            builder = builder.header(AUTHORIZATION, bearer.clone());
        }
        let body = match &self.json {
            Some(json) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                json.clone()
            }
            None => Bytes::new(),
        };
        Ok(builder.body(Full::new(body))?)
    }
}

/// A keep-alive HTTP/1.1 connection.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection {
            sender,
            host: HeaderValue::from_str(&addr.to_string())?,
        })
    }

    /// Sends the request and reads the whole body (so the connection can be reused).
    pub async fn send(&mut self, target: &Target) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender.ready().await?;
        let response = self
            .sender
            .send_request(target.request(&self.host)?)
            .await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// One request on a fresh connection (readiness polls, the login that gets a token).
pub async fn send_once(addr: SocketAddr, target: &Target) -> anyhow::Result<(StatusCode, Bytes)> {
    Connection::open(addr).await?.send(target).await
}

/// How a load phase is run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub concurrency: usize,
    pub warm_up: Duration,
    pub measure: Duration,
}

/// What a load phase measured.
pub struct Outcome {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latencies_us: Histogram<u64>,
    /// CPU the server process used, in cores (1.0 = one core busy throughout).
    pub server_cores: f64,
    /// CPU this load generator used, in cores.
    pub client_cores: f64,
    /// CPU the whole machine used, in cores (server, load generator, PostgreSQL, anything else).
    pub machine_cores: f64,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, q: f64) -> f64 {
        self.latencies_us.value_at_quantile(q) as f64 / 1000.0
    }
}

struct WorkerTally {
    requests: u64,
    errors: u64,
    latencies_us: Histogram<u64>,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs to 60 s at three significant figures.
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

/// Runs `plan.concurrency` closed-loop clients against `target`: each sends a request, waits
/// for the whole answer, and sends the next. Nothing is recorded during the warm-up; after it,
/// every answer's latency is, and any status other than the expected one (or a broken
/// connection) counts as an error.
pub async fn run(
    addr: SocketAddr,
    target: &Target,
    plan: Plan,
    server_pid: u32,
) -> anyhow::Result<Outcome> {
    let target = Arc::new(target.clone());
    let started = Instant::now();
    let measure_from = started + plan.warm_up;
    let until = measure_from + plan.measure;
    let mut connections = Vec::with_capacity(plan.concurrency);
    for _ in 0..plan.concurrency {
        connections.push(
            Connection::open(addr)
                .await
                .with_context(|| format!("cannot connect to {addr}"))?,
        );
    }
    let mut tasks = Vec::with_capacity(plan.concurrency);
    for connection in connections {
        let target = target.clone();
        tasks.push(tokio::spawn(worker(
            addr,
            connection,
            target,
            measure_from,
            until,
        )));
    }
    // The CPU clocks start with the measurement, not the warm-up.
    tokio::time::sleep_until(measure_from.into()).await;
    let server_cpu = CpuClock::of_process(server_pid)?;
    let client_cpu = CpuClock::of_self()?;
    let machine_cpu = CpuClock::of_machine()?;
    let mut total = WorkerTally {
        requests: 0,
        errors: 0,
        latencies_us: histogram()?,
    };
    for task in tasks {
        let tally = task.await??;
        total.requests += tally.requests;
        total.errors += tally.errors;
        total.latencies_us.add(&tally.latencies_us)?;
    }
    let elapsed = measure_from.elapsed();
    Ok(Outcome {
        requests: total.requests,
        errors: total.errors,
        elapsed,
        latencies_us: total.latencies_us,
        server_cores: server_cpu.cores_since()?,
        client_cores: client_cpu.cores_since()?,
        machine_cores: machine_cpu.cores_since()?,
    })
}

async fn worker(
    addr: SocketAddr,
    connection: Connection,
    target: Arc<Target>,
    measure_from: Instant,
    until: Instant,
) -> anyhow::Result<WorkerTally> {
    let mut tally = WorkerTally {
        requests: 0,
        errors: 0,
        latencies_us: histogram()?,
    };
    let mut connection = Some(connection);
    loop {
        let start = Instant::now();
        if start >= until {
            break;
        }
        let measured = start >= measure_from;
        let conn = match connection.as_mut() {
            Some(conn) => conn,
            None => match Connection::open(addr).await {
                Ok(conn) => connection.insert(conn),
                Err(_) => {
                    if measured {
                        tally.errors += 1;
                    }
                    // Do not spin on a refused connection.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let result = conn.send(&target).await;
        let latency = start.elapsed();
        let ok = match result {
            Ok((status, _)) => status == target.expect,
            Err(_) => {
                connection = None;
                false
            }
        };
        if measured {
            tally.requests += 1;
            if !ok {
                tally.errors += 1;
            }
            tally
                .latencies_us
                .saturating_record(latency.as_micros().try_into().unwrap_or(u64::MAX));
        }
    }
    Ok(tally)
}
