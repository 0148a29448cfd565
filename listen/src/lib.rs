//! `gatewatch-listen`: the accept loop every gatewatch HTTP listener runs (the gateway's proxy
//! and admin ports, the collector, the dashboards, the alerter's and the reports' ports), so
//! that none can be held open or flooded by a client.
//!
//! - **Connection cap** ([`Limits::max_connections`], default 10 000 per listener): a
//!   connection accepted while that many are open is closed at once, before anything is read
//!   (the client sees the connection reset or closed), and counted in
//!   [`Stats::refused`]; open connections keep working. A place frees when a connection ends.
//! - **Read-header timeout** ([`Limits::header_read_timeout`], default 10 s): a client must
//!   send a whole request head within that time from when the server starts reading it (the
//!   connection's start, or the end of the previous response on a kept-alive connection), or
//!   the connection is closed. So a slowloris client (half a header, then a byte now and
//!   then) holds a place at most that long, and an idle kept-alive connection is closed after
//!   it too.
//! - HTTP/1.1, keep-alive on, upgrades (a `101` hands the connection to the service); on
//!   TLS, HTTP/2 when ALPN agrees on `h2`; on a plain listener served by [`serve_h2c`], h2c
//!   with prior knowledge (a connection that starts with the h2 preface). `TCP_NODELAY` on
//!   accepted sockets.
//! - HTTP/2 limits (hyper's h2 server): at most [`H2_MAX_CONCURRENT_STREAMS`] streams open
//!   per connection (more are refused one by one with `REFUSED_STREAM`); request headers at
//!   most [`H2_MAX_HEADER_LIST_SIZE`] (which also ends a CONTINUATION flood); frames at most
//!   16 KiB; a client that resets more than [`H2_MAX_PENDING_ACCEPT_RESETS`] streams before
//!   they are taken up (rapid reset, CVE-2023-44487) or makes the server reset more than
//!   [`H2_MAX_LOCAL_ERROR_RESETS`] is sent GOAWAY and closed; a connection must bring its
//!   first request within the read-header timeout, and is closed with GOAWAY (its open
//!   streams finish) when a whole such period (checked once a period: after one to two) goes
//!   by without a new request, as an idle HTTP/1.1 connection is; a client that does not
//!   answer a PING (sent after [`H2_PING_INTERVAL`] without a frame) within
//!   [`H2_PING_TIMEOUT`] is closed.
//! - On shutdown, accepting stops; open connections are asked to close after their current
//!   request (h2: GOAWAY, the open streams finish) and are waited for up to the `drain` time
//!   given.
//!
//! - TLS (feature `tls`, [`serve_tls`]): the same loop; the handshake holds a place and must
//!   end within the read-header timeout. See [`tls`].
//!   [`serve_axum_tls`] (features `axum` and `tls`) serves a `Router` over it.
//!
//! [`serve`] takes any hyper service made per connection (it gets a [`Conn`]: the peer address
//! and, on TLS, what the handshake settled); [`serve_axum`] (feature `axum`) serves an axum
//! `Router` with the peer address as axum's `ConnectInfo<SocketAddr>` (and the [`Conn`] as a
//! request extension).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tracing::{debug, info, warn};

pub mod metrics;
mod process;
#[cfg(feature = "tls")]
pub mod tls;

/// Default [`Limits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default [`Limits::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// h2: streams a client may have open at once on one connection (nginx has 128); one more is
/// refused with `REFUSED_STREAM`, the others go on.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 100;
/// h2: the largest request header list (decoded, as RFC 9113 counts it); a larger one is
/// refused (431) without being kept. Also what bounds a CONTINUATION flood.
pub const H2_MAX_HEADER_LIST_SIZE: u32 = 32 * 1024;
/// h2: the largest frame accepted, the protocol's minimum (16 KiB).
pub const H2_MAX_FRAME_SIZE: u32 = 16 * 1024;
/// h2: streams the client may reset before the server took them up (rapid reset,
/// CVE-2023-44487); past that the connection is closed with GOAWAY `ENHANCE_YOUR_CALM`.
pub const H2_MAX_PENDING_ACCEPT_RESETS: usize = 20;
/// h2: streams the server may reset for the client's errors on one connection before it
/// closes it (RUSTSEC-2024-0003).
pub const H2_MAX_LOCAL_ERROR_RESETS: usize = 1024;
/// h2: a PING goes out after this long without a frame from the client...
pub const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
/// ... and the connection is closed when it is not answered within this.
pub const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// One accepted connection, as the service maker sees it.
#[derive(Debug, Clone)]
pub struct Conn {
    pub peer: SocketAddr,
    /// What the TLS handshake settled; `None` on a plain listener. The maker is called after
    /// the handshake, so this is always known when the service exists.
    pub tls: Option<Arc<TlsInfo>>,
}

impl Conn {
    /// A plain (not TLS) connection from `peer`.
    pub fn plain(peer: SocketAddr) -> Conn {
        Conn { peer, tls: None }
    }
}

/// What a TLS handshake settled, for records and access checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: &'static str,
    /// The cipher suite as rustls names it, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: &'static str,
    /// The protocol agreed by ALPN (`h2`, `http/1.1`), if any.
    pub alpn: Option<Vec<u8>>,
    /// The client's end-entity certificate (DER), when it presented one that the listener's
    /// client verifier accepted.
    pub client_cert: Option<Vec<u8>>,
}

/// What one listener allows its clients (see the crate doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; more are closed as they are accepted. At least 1.
    pub max_connections: usize,
    /// Time a client has to send a request head. Longer than zero.
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

/// Counters of one listener, for its metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections open now.
    pub open: AtomicUsize,
    /// Connections closed at accept because [`Limits::max_connections`] were open.
    pub refused: AtomicU64,
}

impl Stats {
    /// The two counters as `{prefix}_connections_open` and
    /// `{prefix}_connections_refused_total`, for a role's [`metrics::Collector`].
    pub fn encode(&self, prefix: &str, enc: &mut metrics::DescriptorEncoder) -> std::fmt::Result {
        metrics::gauge(
            enc,
            &format!("{prefix}_connections_open"),
            "Client connections open on the listener.",
            self.open.load(Ordering::Relaxed) as u64,
        )?;
        metrics::counter(
            enc,
            &format!("{prefix}_connections_refused"),
            "Connections closed at accept: max_connections were open.",
            self.refused.load(Ordering::Relaxed),
        )
    }
}

/// Serves `make(conn)` on every connection accepted from `listener` until `shutdown`, under
/// `limits`; then waits up to `drain` for open connections to finish. `name` is for the logs.
pub async fn serve<F, S, B>(
    name: &'static str,
    listener: TcpListener,
    limits: Limits,
    stats: Arc<Stats>,
    make: F,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) where
    F: Fn(Conn) -> S + Send + Sync + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    accept_loop(
        name, listener, limits, stats, make, shutdown, drain, None, false,
    )
    .await;
}

/// [`serve`], and a connection that starts with the HTTP/2 preface is served as h2 (h2c with
/// prior knowledge, as `curl --http2-prior-knowledge` sends it). The first bytes are looked
/// at without reading them, within [`Limits::header_read_timeout`].
pub async fn serve_h2c<F, S, B>(
    name: &'static str,
    listener: TcpListener,
    limits: Limits,
    stats: Arc<Stats>,
    make: F,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) where
    F: Fn(Conn) -> S + Send + Sync + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    accept_loop(
        name, listener, limits, stats, make, shutdown, drain, None, true,
    )
    .await;
}

/// [`serve`] over TLS: the same loop, cap and read-header timeout; the TLS handshake runs in
/// the connection's own task (holding its place) and must end within
/// [`Limits::header_read_timeout`], or the connection is closed. Certificates come from `tls`
/// (reloaded by [`tls::Tls::watch`]).
#[cfg(feature = "tls")]
#[allow(clippy::too_many_arguments)]
pub async fn serve_tls<F, S, B>(
    name: &'static str,
    listener: TcpListener,
    limits: Limits,
    stats: Arc<Stats>,
    tls: Arc<tls::Tls>,
    make: F,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) where
    F: Fn(Conn) -> S + Send + Sync + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    accept_loop(
        name,
        listener,
        limits,
        stats,
        make,
        shutdown,
        drain,
        Some(tls.acceptor()),
        false,
    )
    .await;
}

#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type Acceptor = std::convert::Infallible;

#[allow(clippy::too_many_arguments)]
async fn accept_loop<F, S, B>(
    name: &'static str,
    listener: TcpListener,
    limits: Limits,
    stats: Arc<Stats>,
    make: F,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    tls: Option<Acceptor>,
    h2c: bool,
) where
    F: Fn(Conn) -> S + Send + Sync + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let make = Arc::new(make);
    // Connections are asked to close when this turns true (HTTP/1.1: after the response in
    // progress; h2: GOAWAY, then the streams open finish).
    let (stop_tx, stop_rx) = watch::channel(false);
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let protocols = Arc::new(Protocols::new(limits.header_read_timeout));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(place) = places.clone().try_acquire_owned() else {
                        // Closed unread: the cheapest answer, and it holds nothing.
                        let n = stats.refused.fetch_add(1, Ordering::Relaxed);
                        if n.is_power_of_two() {
                            warn!(listener = name, %peer, refused_so_far = n + 1, max_connections = limits.max_connections, "connection refused: too many open");
                        }
                        drop(stream);
                        continue;
                    };
                    // Small responses should leave at once, not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    let stats = stats.clone();
                    stats.open.fetch_add(1, Ordering::Relaxed);
                    let (protocols, make, stop) = (protocols.clone(), make.clone(), stop_rx.clone());
                    let deadline = limits.header_read_timeout;
                    match &tls {
                        None => {
                            tokio::spawn(async move {
                                let proto = if h2c {
                                    sniff_h2c(&stream, deadline).await
                                } else {
                                    Some(Proto::Http1)
                                };
                                match proto {
                                    Some(proto) => {
                                        let service = make(Conn::plain(peer));
                                        if let Err(e) = protocols.serve(stream, proto, service, stop).await {
                                            debug!(listener = name, %peer, error = %chain(&e), "client connection ended with an error");
                                        }
                                    }
                                    None => debug!(listener = name, %peer, "nothing sent in time: closed"),
                                }
                                stats.open.fetch_sub(1, Ordering::Relaxed);
                                drop(place);
                            });
                        }
                        #[cfg(feature = "tls")]
                        Some(acceptor) => {
                            let acceptor = acceptor.clone();
                            tokio::spawn(async move {
                                match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
                                    Ok(Ok(stream)) => {
                                        let info = tls::info(stream.get_ref().1);
                                        // ALPN decides; a client without ALPN speaks HTTP/1.1.
                                        let proto = if info.alpn.as_deref() == Some(b"h2") {
                                            Proto::Http2
                                        } else {
                                            Proto::Http1
                                        };
                                        let service = make(Conn { peer, tls: Some(Arc::new(info)) });
                                        if let Err(e) = protocols.serve(stream, proto, service, stop).await {
                                            debug!(listener = name, %peer, error = %chain(&e), "client connection ended with an error");
                                        }
                                    }
                                    Ok(Err(e)) => debug!(listener = name, %peer, error = %chain(&e), "TLS handshake failed"),
                                    Err(_) => debug!(listener = name, %peer, "TLS handshake not done in time: closed"),
                                }
                                stats.open.fetch_sub(1, Ordering::Relaxed);
                                drop(place);
                            });
                        }
                        #[cfg(not(feature = "tls"))]
                        Some(never) => match *never {},
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    warn!(listener = name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let open = limits.max_connections - places.available_permits();
    if open > 0 {
        info!(
            listener = name,
            connections = open,
            "shutting down: draining open connections"
        );
    }
    // Every place back: every connection has ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(drain, places.acquire_many(all))
        .await
        .is_err()
    {
        warn!(
            listener = name,
            timeout_ms = drain.as_millis() as u64,
            "connections still open after the drain timeout"
        );
    }
}

/// What a connection speaks, decided before it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Http1,
    Http2,
}

/// The start of the HTTP/2 connection preface (RFC 9113 §3.4); no HTTP/1.1 method is `PRI`.
const H2_PREFACE: &[u8] = b"PRI ";

/// Waits (at most `deadline`) for the first bytes of a plain connection, leaving them unread,
/// and tells whether they start the HTTP/2 preface (h2c with prior knowledge). `None`: the
/// client sent nothing in time, or closed.
async fn sniff_h2c(stream: &TcpStream, deadline: Duration) -> Option<Proto> {
    let sniff = async {
        let mut buf = [0u8; H2_PREFACE.len()];
        loop {
            let n = stream.peek(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            if buf[..n] != H2_PREFACE[..n] {
                return Some(Proto::Http1);
            }
            if n == H2_PREFACE.len() {
                return Some(Proto::Http2);
            }
            // Only a prefix of it so far (`P`, `PR`): peek returns at once while those bytes
            // wait, so look again a little later.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(deadline, sniff).await.ok().flatten()
}

/// The HTTP/1.1 and HTTP/2 settings of a listener's connections (see the crate doc).
struct Protocols {
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    /// An h2 connection must bring its first request within this.
    first_request: Duration,
}

impl Protocols {
    fn new(header_read_timeout: Duration) -> Protocols {
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            .keep_alive(true)
            .header_read_timeout(header_read_timeout);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
            .max_header_list_size(H2_MAX_HEADER_LIST_SIZE)
            .max_frame_size(H2_MAX_FRAME_SIZE)
            .max_pending_accept_reset_streams(H2_MAX_PENDING_ACCEPT_RESETS)
            .max_local_error_reset_streams(H2_MAX_LOCAL_ERROR_RESETS)
            .keep_alive_interval(H2_PING_INTERVAL)
            .keep_alive_timeout(H2_PING_TIMEOUT);
        Protocols {
            h1,
            h2,
            first_request: header_read_timeout,
        }
    }

    /// Serves one connection by `proto` until it ends; when `stop` turns true it is asked to
    /// close (HTTP/1.1 after the response in progress, h2 with GOAWAY).
    async fn serve<I, S, B>(
        &self,
        io: I,
        proto: Proto,
        service: S,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), hyper::Error>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match proto {
            Proto::Http1 => {
                // With upgrades: a `101` answer hands the connection to the service's
                // `hyper::upgrade::on` (the gateway's WebSocket pass-through).
                let conn = self
                    .h1
                    .serve_connection(TokioIo::new(io), service)
                    .with_upgrades();
                tokio::pin!(conn);
                tokio::select! {
                    // The connection first: no random pick per wake-up.
                    biased;
                    r = conn.as_mut() => return r,
                    _ = stop.wait_for(|s| *s) => {}
                }
                conn.as_mut().graceful_shutdown();
                conn.await
            }
            Proto::Http2 => {
                let started = Arc::new(AtomicU64::new(0));
                let service = Requests {
                    inner: service,
                    started: started.clone(),
                };
                let conn = self.h2.serve_connection(TokioIo::new(io), service);
                tokio::pin!(conn);
                // Looked at once per period: a period without a new request closes the
                // connection (none yet: at once; else with GOAWAY, the open streams finish).
                let period = self.first_request;
                let idle = tokio::time::sleep(period);
                tokio::pin!(idle);
                let (mut counted, mut closing) = (0, false);
                loop {
                    tokio::select! {
                        biased;
                        r = conn.as_mut() => return r,
                        () = &mut idle, if !closing => {
                            let now = started.load(Ordering::Relaxed);
                            if now == 0 {
                                // No request in time (a silent client, a slow preface):
                                // closed like an HTTP/1.1 connection without a head.
                                return Ok(());
                            }
                            if now == counted {
                                closing = true;
                                conn.as_mut().graceful_shutdown();
                            } else {
                                counted = now;
                                idle.as_mut().reset(tokio::time::Instant::now() + period);
                            }
                        }
                        _ = stop.wait_for(|s| *s), if !closing => {
                            closing = true;
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
        }
    }
}

/// Counts the requests a connection has started (an h2 connection must bring its first
/// within the read-header timeout, and another within each such period after, or it is
/// closed).
struct Requests<S> {
    inner: S,
    started: Arc<AtomicU64>,
}

impl<S, R> Service<R> for Requests<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, req: R) -> S::Future {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.inner.call(req)
    }
}

/// Serves an axum `Router` (see [`serve`]); handlers can extract the peer address as
/// `ConnectInfo<SocketAddr>`.
#[cfg(feature = "axum")]
pub async fn serve_axum(
    name: &'static str,
    listener: TcpListener,
    limits: Limits,
    stats: Arc<Stats>,
    app: axum::Router,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let make = move |conn: Conn| axum_service(app.clone(), conn);
    serve(name, listener, limits, stats, make, shutdown, drain).await;
}

/// `app` as the hyper service of one connection: each request carries the peer address as
/// `ConnectInfo<SocketAddr>` and the [`Conn`] as an extension.
#[cfg(feature = "axum")]
fn axum_service(
    app: axum::Router,
    conn: Conn,
) -> impl Service<
    Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future: Send + 'static,
> + Send
       + 'static {
    hyper::service::service_fn(move |req: Request<Incoming>| {
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(conn.peer));
        req.extensions_mut().insert(conn.clone());
        let mut app = app.clone();
        tower_service::Service::call(&mut app, req)
    })
}

/// An error and its sources on one line: hyper's top-level messages alone are vague. The
/// gateway's proxy, pool and health checks use it too.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// [`serve_axum`] over TLS ([`serve_tls`]): the same `Router`, the peer address as
/// `ConnectInfo<SocketAddr>` and the [`Conn`] (with its [`TlsInfo`]) as an extension (the
/// dashboards' and the collector's TLS listeners).
#[cfg(all(feature = "axum", feature = "tls"))]
#[allow(clippy::too_many_arguments)]
pub async fn serve_axum_tls(
    name: &'static str,
    listener: TcpListener,
    limits: Limits,
    stats: Arc<Stats>,
    tls: Arc<tls::Tls>,
    app: axum::Router,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let make = move |conn: Conn| axum_service(app.clone(), conn);
    serve_tls(name, listener, limits, stats, tls, make, shutdown, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn start(limits: Limits) -> (SocketAddr, Arc<Stats>) {
        start_with(limits, false, std::future::pending()).await
    }

    /// A listener answering `hi` (with `serve_h2c` when `h2c`), until `shutdown`.
    async fn start_with(
        limits: Limits,
        h2c: bool,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> (SocketAddr, Arc<Stats>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let make = |_peer| {
            hyper::service::service_fn(|_req: Request<Incoming>| async {
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                    bytes::Bytes::from_static(b"hi"),
                )))
            })
        };
        tokio::spawn(accept_loop(
            "test",
            listener,
            limits,
            stats.clone(),
            make,
            shutdown,
            Duration::from_secs(1),
            None,
            h2c,
        ));
        (addr, stats)
    }

    /// Reads to the server's close (`true`), or gives up after 10 s (`false`).
    async fn closed(s: &mut TcpStream) -> bool {
        let mut buf = [0u8; 256];
        loop {
            match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }

    async fn answered(s: &mut TcpStream) -> bool {
        if s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .is_err()
        {
            return false;
        }
        let mut buf = [0u8; 256];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await,
            Ok(Ok(n)) if buf[..n].starts_with(b"HTTP/1.1 200")
        )
    }

    #[tokio::test]
    async fn half_a_head_is_cut_after_the_timeout() {
        let (addr, _) = start(Limits {
            max_connections: 10,
            header_read_timeout: Duration::from_millis(200),
        })
        .await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            .await
            .unwrap();
        assert!(closed(&mut slow).await);
        let mut ok = TcpStream::connect(addr).await.unwrap();
        assert!(answered(&mut ok).await);
    }

    #[tokio::test]
    async fn past_the_cap_a_connection_is_closed_and_counted_and_the_open_ones_work() {
        let (addr, stats) = start(Limits {
            max_connections: 2,
            header_read_timeout: Duration::from_secs(30),
        })
        .await;
        let mut a = TcpStream::connect(addr).await.unwrap();
        let mut b = TcpStream::connect(addr).await.unwrap();
        assert!(answered(&mut a).await && answered(&mut b).await);
        let mut c = TcpStream::connect(addr).await.unwrap();
        assert!(closed(&mut c).await);
        assert_eq!(stats.refused.load(Ordering::Relaxed), 1);
        assert_eq!(stats.open.load(Ordering::Relaxed), 2);
        assert!(answered(&mut a).await && answered(&mut b).await);
        #[derive(Debug)]
        struct X(Arc<Stats>);
        impl metrics::Collector for X {
            fn encode(&self, mut enc: metrics::DescriptorEncoder) -> std::fmt::Result {
                self.0.encode("x", &mut enc)
            }
        }
        let text = metrics::text_of(X(stats.clone()));
        assert!(text.contains("x_connections_refused_total 1\n"), "{text}");
    }

    type H2 = hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>;

    /// h2 with prior knowledge on a plain connection.
    async fn h2c(addr: SocketAddr) -> H2 {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (tx, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        tx
    }

    async fn h2_get(tx: &mut H2) -> Result<u16, hyper::Error> {
        let req = Request::get("http://t/")
            .body(http_body_util::Empty::new())
            .unwrap();
        let resp = tx.send_request(req).await?;
        assert_eq!(resp.version(), http::Version::HTTP_2);
        Ok(resp.status().as_u16())
    }

    #[tokio::test]
    async fn h2c_with_prior_knowledge_and_http1_share_the_plain_port() {
        let limits = Limits {
            max_connections: 10,
            header_read_timeout: Duration::from_millis(300),
        };
        let (addr, _) = start_with(limits, true, std::future::pending()).await;
        let mut tx = h2c(addr).await;
        for _ in 0..3 {
            assert_eq!(h2_get(&mut tx).await.unwrap(), 200);
        }
        // HTTP/1.1, a method starting like the preface too.
        let mut ok = TcpStream::connect(addr).await.unwrap();
        assert!(answered(&mut ok).await);
        let mut put = TcpStream::connect(addr).await.unwrap();
        put.write_all(b"PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let n = put.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        // Silence, half a preface, or the preface and no request: closed in time.
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"PR").await.unwrap();
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        assert!(closed(&mut silent).await);
        assert!(closed(&mut half).await);
        assert!(closed(&mut idle).await);
        // An h2 connection without a new request for a whole period is closed (GOAWAY).
        let mut gone = false;
        for _ in 0..100 {
            if tx.is_closed() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(gone, "the idle h2 connection was not closed");
        // Without h2c, the preface is a bad HTTP/1.1 request.
        let (plain, _) = start(limits).await;
        let tcp = TcpStream::connect(plain).await.unwrap();
        let handshake =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await;
        if let Ok((mut tx, conn)) = handshake {
            tokio::spawn(conn);
            assert!(h2_get(&mut tx).await.is_err());
        }
    }

    #[tokio::test]
    async fn shutdown_sends_h2_goaway_and_closes_http1_after_the_drain() {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let limits = Limits {
            max_connections: 10,
            header_read_timeout: Duration::from_secs(30),
        };
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        let (addr, stats) = start_with(limits, true, shutdown).await;
        let mut tx = h2c(addr).await;
        assert_eq!(h2_get(&mut tx).await.unwrap(), 200);
        let mut kept = TcpStream::connect(addr).await.unwrap();
        assert!(answered(&mut kept).await);
        assert_eq!(stats.open.load(Ordering::Relaxed), 2);
        let _ = stop_tx.send(());
        // The idle HTTP/1.1 connection is closed; the h2 one gets GOAWAY, then closes.
        assert!(closed(&mut kept).await);
        let mut gone = false;
        for _ in 0..100 {
            if tx.is_closed() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(gone, "the h2 connection was not closed");
        for _ in 0..100 {
            if stats.open.load(Ordering::Relaxed) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(stats.open.load(Ordering::Relaxed), 0);
    }
}
