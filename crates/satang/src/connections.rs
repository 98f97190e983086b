//! Accepting and serving HTTP/1.1 connections, with the limits `axum::serve` has no settings
//! for: how long a client may take to send a request's head, how long a kept-alive connection
//! may wait for its next request, and how many connections one client address and all clients
//! together may hold open. Without them a client could hold thousands of silent or half-sent
//! connections until the process runs out of file descriptors and stops accepting anyone.
//!
//! Handlers see the peer address as `ConnectInfo<SocketAddr>`, as with
//! `into_make_service_with_connect_info`. A shutdown stops accepting, lets every connection
//! finish its request in flight and waits for them to close.
//!
//! With a TLS acceptor (`crate::tls`) every connection first completes a TLS handshake, which
//! a client must finish within the header-read timeout, as if it were part of the first
//! request's head; HTTP is then served over the encrypted stream with the same limits.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::Service;

use crate::Config;

/// Open file descriptors kept for everything but client connections: database connections,
/// SQLite files, logs, outboxes.
const RESERVED_FILES: u64 = 256;

/// The limits on connections, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From a head's first byte (on a new connection: from accepting it) to its end.
    pub header_read_timeout: Option<Duration>,
    /// From the end of a response to the first byte of the next request.
    pub idle_timeout: Option<Duration>,
    /// Open connections per client address; `None`: no limit.
    pub per_address: Option<u32>,
    /// Open connections in all.
    pub total: usize,
}

impl Limits {
    pub fn from_config(config: &Config) -> Limits {
        let seconds = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        let mut total = u64::from(config.max_connections.max(1));
        if let Some(files) = open_file_limit() {
            total = total.min(files.saturating_sub(RESERVED_FILES).max(files / 2).max(1));
        }
        Limits {
            header_read_timeout: seconds(config.header_read_timeout),
            idle_timeout: seconds(config.idle_timeout),
            // Behind a proxy every connection comes from the proxy's address.
            per_address: (config.max_connections_per_ip > 0 && !config.trust_forwarded_for)
                .then_some(config.max_connections_per_ip),
            total: usize::try_from(total).unwrap_or(usize::MAX),
        }
    }
}

/// The soft limit on open files of this process, if it has one.
#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given and nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    #[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every Unix
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `shutdown` resolves, then
/// waits for the open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut shutdown = pin!(shutdown);
    let total = Arc::new(Semaphore::new(limits.total));
    let per_address = limits.per_address.map(OpenPerAddress::new);
    // Every connection holds a receiver; the sender learns when the last one is gone.
    let (closing, closing_rx) = watch::channel(false);
    loop {
        // Past the total, connections wait in the listen queue: they cost no descriptor there.
        let permit = tokio::select! {
            permit = total.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match &per_address {
            Some(open) => match open.admit(peer.ip()) {
                Some(slot) => Some(slot),
                None => {
                    tracing::debug!(%peer, "connection refused: too many from this address");
                    metrics::counter!("http_connections_refused_total", "reason" => "per_address")
                        .increment(1);
                    continue;
                }
            },
            None => None,
        };
        let connection = Connection {
            app: app.clone(),
            peer,
            limits,
            tls: tls.clone(),
            closing: closing_rx.clone(),
            _permit: permit,
            _slot: slot,
        };
        tokio::spawn(connection.serve(stream));
    }
    drop(listener);
    drop(closing_rx);
    let _ = closing.send(true);
    closing.closed().await;
    Ok(())
}

/// Failing to accept is not fatal. A connection that died in the listen queue is nothing;
/// anything else (out of descriptors) is logged, and accepting pauses so the loop does not spin
/// while connections close and free some.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept error");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One accepted connection and what it holds until it closes.
struct Connection {
    app: Router,
    peer: SocketAddr,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    closing: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
    _slot: Option<AddressSlot>,
}

impl Connection {
    async fn serve(mut self, stream: TcpStream) {
        let Some(tls) = self.tls.take() else {
            return self.serve_http(stream).await;
        };
        let limit = self.limits.header_read_timeout;
        let handshake = async {
            match limit {
                Some(limit) => tokio::time::timeout(limit, tls.accept(stream))
                    .await
                    .unwrap_or_else(|_| {
                        Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no TLS handshake within the header-read timeout",
                        ))
                    }),
                None => tls.accept(stream).await,
            }
        };
        let accepted = tokio::select! {
            accepted = handshake => accepted,
            // No request is in flight yet: nothing to finish.
            () = until_closing(&mut self.closing) => return,
        };
        match accepted {
            Ok(stream) => self.serve_http(stream).await,
            Err(e) => {
                tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
                metrics::counter!("http_tls_handshake_failures_total").increment(1);
            }
        }
    }

    async fn serve_http<S>(mut self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let received = Arc::new(AtomicU64::new(0));
        let io = TokioIo::new(CountingReads {
            inner: stream,
            received: received.clone(),
        });
        let (app, peer) = (self.app.clone(), self.peer);
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().call(req.map(Body::new))
        });
        let mut builder = http1::Builder::new();
        let timer = HeadTimer {
            received,
            header: self.limits.header_read_timeout,
            idle: self.limits.idle_timeout,
        };
        // hyper arms its header-read timer whenever the connection waits for a request head;
        // `HeadTimer` decides how long that wait may last.
        let armed = self.limits.header_read_timeout.or(self.limits.idle_timeout);
        builder.timer(timer).header_read_timeout(armed);
        let mut connection = pin!(builder.serve_connection(io, service));
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = until_closing(&mut self.closing) => {
                // Finish the request in flight (if any), then close.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(peer = %self.peer, error = %e, "connection ended");
        }
    }
}

/// Resolves once the server is shutting down.
async fn until_closing(closing: &mut watch::Receiver<bool>) {
    // An error means the server is gone: closing as well.
    let _ = closing.wait_for(|closing| *closing).await;
}

/// The connections open per client address. An IPv6 client is counted by its /64, which one
/// host usually has to itself.
#[derive(Clone)]
struct OpenPerAddress {
    limit: u32,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl OpenPerAddress {
    fn new(limit: u32) -> OpenPerAddress {
        OpenPerAddress {
            limit,
            open: Arc::default(),
        }
    }

    /// A place for one more connection from `ip`, unless it has its limit open already.
    fn admit(&self, ip: IpAddr) -> Option<AddressSlot> {
        let client = client_of(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(client).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            open: self.clone(),
            client,
        })
    }
}

fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// One connection's place in [`OpenPerAddress`], given back when the connection closes.
struct AddressSlot {
    open: OpenPerAddress,
    client: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.open.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// The socket (or the TLS stream over it), counting the bytes read from it so that
/// [`HeadTimer`] can tell an idle connection from one whose request is arriving.
struct CountingReads<S> {
    inner: S,
    received: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingReads<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        if read > 0 {
            self.received.fetch_add(read, Ordering::Relaxed);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingReads<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The timer behind hyper's header-read timeout, which hyper starts whenever a connection waits
/// for a request head — including the wait of a kept-alive connection for its next request, so
/// on its own one setting would bound both. This timer tells them apart (as Go's
/// `ReadHeaderTimeout` and `IdleTimeout` do): a new connection gets the header-read limit from
/// the start; a kept-alive one gets the idle limit until a byte of the next request arrives and
/// the header-read limit from then on. The deadline hyper computes is not used.
#[derive(Clone)]
struct HeadTimer {
    received: Arc<AtomicU64>,
    header: Option<Duration>,
    idle: Option<Duration>,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeadDeadline {
            received: self.received.clone(),
            received_at_start: 0,
            header: None,
            head_started: true,
            sleep: Some(Box::pin(tokio::time::sleep(duration))),
        })
    }

    fn sleep_until(&self, _: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let received = self.received.load(Ordering::Relaxed);
        let new_connection = received == 0;
        let limit = if new_connection {
            self.header
        } else {
            self.idle
        };
        Box::pin(HeadDeadline {
            received: self.received.clone(),
            received_at_start: received,
            header: self.header,
            head_started: new_connection,
            sleep: limit.map(|limit| Box::pin(tokio::time::sleep(limit))),
        })
    }
}

/// Resolves when the wait for a request head has lasted too long. hyper polls it each time a
/// read leaves the head unfinished, so it sees the first byte of a head as it arrives.
struct HeadDeadline {
    received: Arc<AtomicU64>,
    received_at_start: u64,
    header: Option<Duration>,
    head_started: bool,
    /// `None`: no limit for now.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Future for HeadDeadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if !this.head_started && this.received.load(Ordering::Relaxed) != this.received_at_start {
            this.head_started = true;
            this.sleep = this.header.map(|limit| Box::pin(tokio::time::sleep(limit)));
        }
        match &mut this.sleep {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

impl hyper::rt::Sleep for HeadDeadline {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_counted_by_ipv4_address_and_ipv6_prefix() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(client_of(v4), v4);
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(client_of(mapped), v4);
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_of(a), client_of(b));
        assert_ne!(client_of(a), client_of(other));
    }

    #[test]
    fn a_slot_is_given_back_when_its_connection_closes() {
        let open = OpenPerAddress::new(2);
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        let first = open.admit(ip).expect("first");
        let _second = open.admit(ip).expect("second");
        assert!(open.admit(ip).is_none());
        assert!(open.admit("198.51.100.2".parse().unwrap()).is_some());
        drop(first);
        assert!(open.admit(ip).is_some());
    }
}
