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
//! - HTTP/1.1 only, keep-alive on; `TCP_NODELAY` on accepted sockets.
//! - On shutdown, accepting stops; open connections are asked to close after their current
//!   request and are waited for up to the `drain` time given.
//!
//! - TLS (feature `tls`, [`serve_tls`]): the same loop; the handshake holds a place and must
//!   end within the read-header timeout. See [`tls`].
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
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

#[cfg(feature = "tls")]
pub mod tls;

/// Default [`Limits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default [`Limits::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Prometheus text of the two counters, as `{prefix}_connections_open` and
    /// `{prefix}_connections_refused_total`.
    pub fn render(&self, prefix: &str, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "# HELP {prefix}_connections_open Client connections open on the listener.\n\
             # TYPE {prefix}_connections_open gauge\n\
             {prefix}_connections_open {}\n\
             # HELP {prefix}_connections_refused_total Connections closed at accept: max_connections were open.\n\
             # TYPE {prefix}_connections_refused_total counter\n\
             {prefix}_connections_refused_total {}\n",
            self.open.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        );
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
    accept_loop(name, listener, limits, stats, make, shutdown, drain, None).await;
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
    let graceful = GracefulShutdown::new();
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(limits.header_read_timeout);
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
                    match &tls {
                        None => {
                            let service = make(Conn::plain(peer));
                            let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                            tokio::spawn(async move {
                                if let Err(e) = conn.await {
                                    debug!(listener = name, %peer, error = %chain(&e), "client connection ended with an error");
                                }
                                stats.open.fetch_sub(1, Ordering::Relaxed);
                                drop(place);
                            });
                        }
                        #[cfg(feature = "tls")]
                        Some(acceptor) => {
                            let (acceptor, builder, watcher, make) = (acceptor.clone(), builder.clone(), graceful.watcher(), make.clone());
                            let deadline = limits.header_read_timeout;
                            tokio::spawn(async move {
                                match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
                                    Ok(Ok(stream)) => {
                                        let info = tls::info(stream.get_ref().1);
                                        let service = make(Conn { peer, tls: Some(Arc::new(info)) });
                                        // Only http/1.1 is offered by ALPN today; h2 will be
                                        // served here by the `alpn` of `info`.
                                        let conn = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
                                        if let Err(e) = conn.await {
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
    let open = graceful.count();
    if open > 0 {
        info!(
            listener = name,
            connections = open,
            "shutting down: draining open connections"
        );
    }
    if tokio::time::timeout(drain, graceful.shutdown())
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
    let make = move |conn: Conn| {
        let app = app.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(conn.peer));
            req.extensions_mut().insert(conn.clone());
            let mut app = app.clone();
            tower_service::Service::call(&mut app, req)
        })
    };
    serve(name, listener, limits, stats, make, shutdown, drain).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn start(limits: Limits) -> (SocketAddr, Arc<Stats>) {
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
        tokio::spawn(serve(
            "test",
            listener,
            limits,
            stats.clone(),
            make,
            std::future::pending(),
            Duration::from_secs(1),
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
        let mut text = String::new();
        stats.render("x", &mut text);
        assert!(text.contains("x_connections_refused_total 1\n"), "{text}");
    }
}
