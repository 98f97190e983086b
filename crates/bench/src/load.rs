//! The load generator: closed-loop HTTP/1.1 clients, each on its own keep-alive connection to
//! 127.0.0.1, recording every latency in an HDR histogram.
//!
//! Raw hyper connections rather than a pooled client: the load generator shares the machine's
//! cores with the server, so every microsecond it spends is one the server does not get.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

use crate::proc_stats::{CpuClock, NamedCpuSampler};

/// One kind of request, sent again and again: the same path and body, or one of several paths
/// (random ids, cursors, search terms) and bodies, picked at random for each request.
#[derive(Clone)]
pub struct Target {
    pub method: Method,
    /// At least one; each request takes one at random.
    pub paths: Arc<[String]>,
    pub bearer: Option<HeaderValue>,
    /// A `Cookie` header (the console's session).
    pub cookie: Option<HeaderValue>,
    /// JSON bodies; each request takes one at random. Empty: no body.
    pub bodies: Arc<[Bytes]>,
    pub expect: StatusCode,
    /// Set by [`Target::bodies_in_order`]: the next body to send, shared by every connection.
    next_body: Option<Arc<AtomicU64>>,
}

impl Target {
    pub fn get(path: &str) -> Target {
        Target::get_any(vec![path.to_owned()])
    }

    /// GETs of several paths, one picked at random per request.
    pub fn get_any(paths: Vec<String>) -> Target {
        assert!(!paths.is_empty(), "a target needs at least one path");
        Target {
            method: Method::GET,
            paths: paths.into(),
            bearer: None,
            cookie: None,
            bodies: Arc::new([]),
            expect: StatusCode::OK,
            next_body: None,
        }
    }

    pub fn with_bearer(mut self, token: &str) -> anyhow::Result<Target> {
        self.bearer = Some(HeaderValue::from_str(&format!("Bearer {token}"))?);
        Ok(self)
    }

    pub fn with_cookie(mut self, cookie: &str) -> anyhow::Result<Target> {
        self.cookie = Some(HeaderValue::from_str(cookie)?);
        Ok(self)
    }

    pub fn post_json(path: &str, body: &serde_json::Value) -> Target {
        Target::post_json_any(path, vec![body.clone()])
    }

    /// POSTs of several bodies, one picked at random per request.
    pub fn post_json_any(path: &str, bodies: Vec<serde_json::Value>) -> Target {
        assert!(!bodies.is_empty(), "a POST target needs at least one body");
        Target {
            method: Method::POST,
            paths: vec![path.to_owned()].into(),
            bearer: None,
            cookie: None,
            bodies: bodies.iter().map(|b| Bytes::from(b.to_string())).collect(),
            expect: StatusCode::OK,
            next_body: None,
        }
    }

    /// POSTs of ready-made JSON bodies (for bodies too large to build as `serde_json::Value`s).
    pub fn post_json_bytes(path: &str, bodies: Vec<Bytes>) -> Target {
        assert!(!bodies.is_empty(), "a POST target needs at least one body");
        Target {
            method: Method::POST,
            paths: vec![path.to_owned()].into(),
            bearer: None,
            cookie: None,
            bodies: bodies.into(),
            expect: StatusCode::OK,
            next_body: None,
        }
    }

    /// The same request with another method (a `PATCH` of a JSON body).
    pub fn with_method(mut self, method: Method) -> Target {
        self.method = method;
        self
    }

    pub fn expecting(mut self, status: StatusCode) -> Target {
        self.expect = status;
        self
    }

    /// Sends the bodies one after the other across all connections (each once, until they
    /// run out and start again), instead of at random: for bodies that must not repeat, such
    /// as usage batches with their own idempotency keys.
    pub fn bodies_in_order(mut self) -> Target {
        self.next_body = Some(Arc::new(AtomicU64::new(0)));
        self
    }

    /// How many bodies [`Target::bodies_in_order`] has handed out so far.
    pub fn bodies_sent(&self) -> u64 {
        self.next_body
            .as_ref()
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }

    /// The request for the random number `pick` (the first path and body for 0).
    fn request(&self, host: &HeaderValue, pick: u64) -> anyhow::Result<Request<Full<Bytes>>> {
        let path = &self.paths[(pick % self.paths.len() as u64) as usize];
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(path.as_str())
            .header(HOST, host.clone());
        if let Some(bearer) = &self.bearer {
            builder = builder.header(AUTHORIZATION, bearer.clone());
        }
        if let Some(cookie) = &self.cookie {
            builder = builder.header(hyper::header::COOKIE, cookie.clone());
        }
        let body = if self.bodies.is_empty() {
            Bytes::new()
        } else {
            builder = builder.header(CONTENT_TYPE, "application/json");
            // A different draw for the body, so paths and bodies do not pair up.
            let pick = match &self.next_body {
                Some(next) => next.fetch_add(1, Ordering::Relaxed),
                None => pick.rotate_left(32),
            };
            self.bodies[(pick % self.bodies.len() as u64) as usize].clone()
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
        self.send_pick(target, 0).await
    }

    /// Sends the request `pick` selects (see [`Target`]) and reads the whole body.
    pub async fn send_pick(
        &mut self,
        target: &Target,
        pick: u64,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender.ready().await?;
        let response = self
            .sender
            .send_request(target.request(&self.host, pick)?)
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
    /// CPU PostgreSQL's processes used, in cores (0 on SQLite).
    pub database_cores: f64,
    /// CPU the whole machine used, in cores (server, load generator, PostgreSQL, anything else).
    pub machine_cores: f64,
}

impl Outcome {
    /// Two measurements of the same target as one: requests, time and latencies added, cores
    /// averaged over the time.
    pub fn merge(mut self, other: Outcome) -> anyhow::Result<Outcome> {
        let (a, b) = (self.elapsed.as_secs_f64(), other.elapsed.as_secs_f64());
        let weighted = |x: f64, y: f64| (x * a + y * b) / (a + b);
        self.server_cores = weighted(self.server_cores, other.server_cores);
        self.client_cores = weighted(self.client_cores, other.client_cores);
        self.database_cores = weighted(self.database_cores, other.database_cores);
        self.machine_cores = weighted(self.machine_cores, other.machine_cores);
        self.requests += other.requests;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.latencies_us.add(&other.latencies_us)?;
        Ok(self)
    }

    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, q: f64) -> f64 {
        self.latencies_us.value_at_quantile(q) as f64 / 1000.0
    }

    /// Cores busy with something other than the server, its database and the load generator
    /// (someone else's work on the machine).
    pub fn other_cores(&self) -> f64 {
        (self.machine_cores - self.server_cores - self.database_cores - self.client_cores).max(0.0)
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
    for (n, connection) in connections.into_iter().enumerate() {
        let target = target.clone();
        tasks.push(tokio::spawn(worker(
            addr,
            connection,
            target,
            n as u64,
            measure_from,
            until,
        )));
    }
    // The CPU clocks start with the measurement, not the warm-up.
    tokio::time::sleep_until(measure_from.into()).await;
    let server_cpu = CpuClock::of_process(server_pid)?;
    let client_cpu = CpuClock::of_self()?;
    let database_cpu = NamedCpuSampler::start("postgres")?;
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
        database_cores: database_cpu.stop(),
        machine_cores: machine_cpu.cores_since()?,
    })
}

async fn worker(
    addr: SocketAddr,
    connection: Connection,
    target: Arc<Target>,
    worker_number: u64,
    measure_from: Instant,
    until: Instant,
) -> anyhow::Result<WorkerTally> {
    let mut tally = WorkerTally {
        requests: 0,
        errors: 0,
        latencies_us: histogram()?,
    };
    // Each worker draws its own sequence of paths and bodies.
    let mut random = SplitMix64(0x5A7A_4E00 + worker_number);
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
        let result = conn.send_pick(&target, random.next()).await;
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

/// A small, fast pseudo-random sequence (SplitMix64): good enough to pick requests, and
/// reproducible.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
