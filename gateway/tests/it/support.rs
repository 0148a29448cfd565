//! Shared helpers: in-process upstreams, a fake collector, a gateway under test, a client.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gatewatch_gateway::{GatewayConfig, Running};
use gatewatch_model::{CallRecord, NodeSample};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

pub type TestBody = BoxBody<Bytes, Infallible>;

pub fn full(data: impl Into<Bytes>) -> TestBody {
    Full::new(data.into()).boxed()
}

pub fn empty() -> TestBody {
    Empty::new().boxed()
}

/// A body fed through a channel: lets a test hold a stream open between chunks.
pub struct ChanBody(pub mpsc::Receiver<Bytes>);

impl Body for ChanBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

pub fn chan_body() -> (mpsc::Sender<Bytes>, TestBody) {
    let (tx, rx) = mpsc::channel(4);
    (tx, ChanBody(rx).boxed())
}

type Handler = Arc<
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<TestBody>> + Send>>
        + Send
        + Sync,
>;

/// A tiny hyper server inside the test process. Stopping it closes the listener and every
/// open connection, so the port refuses connections until it is started again.
pub struct Server {
    pub addr: SocketAddr,
    handler: Handler,
    stop: Option<watch::Sender<bool>>,
}

impl Server {
    pub async fn start<F, Fut>(handler: F) -> Server
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<TestBody>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |req| Box::pin(handler(req)));
        let mut s = Server {
            addr: "127.0.0.1:0".parse().unwrap(),
            handler,
            stop: None,
        };
        s.listen().await;
        s
    }

    async fn listen(&mut self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("bind test server");
        self.addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = watch::channel(false);
        self.stop = Some(stop_tx);
        let handler = self.handler.clone();
        tokio::spawn(async move {
            let mut stop = stop_rx.clone();
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let handler = handler.clone();
                        let mut stop = stop_rx.clone();
                        tokio::spawn(async move {
                            let service = service_fn(move |req| {
                                let fut = handler(req);
                                async move { Ok::<_, Infallible>(fut.await) }
                            });
                            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                            tokio::select! {
                                _ = conn => {}
                                _ = stop.changed() => {}
                            }
                        });
                    }
                }
            }
        });
    }

    /// Closes the listener and all connections.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
    }

    /// Listens again on the same address.
    pub async fn restart(&mut self) {
        self.stop();
        // The old accept loop may need a moment to let go of the port.
        for _ in 0..50 {
            if TcpListener::bind(self.addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.listen().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An address nothing listens on.
pub async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Upstream

/// Signals between a streaming test and the upstream's `/upload` and `/download` handlers.
#[derive(Default)]
pub struct StreamSignals {
    /// Fired by the upstream when the first upload bytes arrive.
    pub upload_started: Mutex<Option<oneshot::Sender<()>>>,
    /// Fired by the test when it has the first download bytes.
    pub download_seen: Mutex<Option<oneshot::Receiver<()>>>,
}

pub const MIB: usize = 1 << 20;

/// An upstream named `name`. Paths (after any prefix):
/// - `…/status/<code>`: answers that status;
/// - `…/slow`: answers after 2 s;
/// - `…/upload`: counts the body as it streams, answers the count;
/// - `…/download`: 20 MiB, the first MiB then a wait for the test's signal;
/// - `…/forever`: a body that never ends;
/// - anything else: a JSON echo `{name, method, uri, headers, body_len}` with some
///   hop-by-hop headers of its own on the response.
pub async fn upstream(name: &'static str, signals: Arc<StreamSignals>) -> Server {
    Server::start(move |req: Request<Incoming>| {
        let signals = signals.clone();
        async move {
            let path = req.uri().path().to_string();
            if let Some(code) = path.rsplit_once("/status/").map(|(_, c)| c.to_string()) {
                let mut resp = Response::new(full(format!("status {code}")));
                *resp.status_mut() = StatusCode::from_u16(code.parse().unwrap()).unwrap();
                return resp;
            }
            if path.ends_with("/slow") {
                tokio::time::sleep(Duration::from_secs(2)).await;
                return Response::new(full("slow"));
            }
            if path.ends_with("/upload") {
                let mut body = req.into_body();
                let mut n = 0usize;
                let mut started = signals.upload_started.lock().unwrap().take();
                while let Some(frame) = body.frame().await {
                    // A broken upload (the gateway's client left) just ends the count.
                    let Ok(frame) = frame else { break };
                    if let Ok(d) = frame.into_data() {
                        n += d.len();
                        if let Some(tx) = started.take() {
                            let _ = tx.send(());
                        }
                    }
                }
                return Response::new(full(n.to_string()));
            }
            if path.ends_with("/download") {
                let (tx, body) = chan_body();
                let seen = signals.download_seen.lock().unwrap().take();
                tokio::spawn(async move {
                    let chunk = Bytes::from(vec![b'd'; MIB]);
                    let _ = tx.send(chunk.clone()).await;
                    if let Some(seen) = seen {
                        let _ = seen.await;
                    }
                    for _ in 1..20 {
                        if tx.send(chunk.clone()).await.is_err() {
                            return;
                        }
                    }
                });
                return Response::new(body);
            }
            if path.ends_with("/forever") {
                let (tx, body) = chan_body();
                tokio::spawn(async move {
                    while tx.send(Bytes::from(vec![b'f'; 16 * 1024])).await.is_ok() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                });
                return Response::new(body);
            }
            let method = req.method().to_string();
            let uri = req.uri().to_string();
            let headers: Vec<(String, String)> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string()))
                .collect();
            let body_len = req.into_body().collect().await.unwrap().to_bytes().len();
            let json = serde_json::json!({
                "name": name, "method": method, "uri": uri, "headers": headers, "body_len": body_len,
            });
            let mut resp = Response::new(full(json.to_string()));
            let h = resp.headers_mut();
            h.insert("content-type", "application/json".parse().unwrap());
            h.insert("connection", "x-up-hop".parse().unwrap());
            h.insert("x-up-hop", "1".parse().unwrap());
            h.insert("keep-alive", "timeout=5".parse().unwrap());
            h.insert("proxy-authenticate", "Basic".parse().unwrap());
            h.insert("x-request-id", "from-upstream".parse().unwrap());
            resp
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Collector

/// One batch the fake collector accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub batch_id: String,
    pub replay: bool,
    pub lines: Vec<serde_json::Value>,
}

#[derive(Default)]
pub struct CollectorState {
    /// Batches answered 200, in arrival order.
    pub batches: Mutex<Vec<Received>>,
    /// Every POST: (batch id, replay header, status answered).
    pub attempts: Mutex<Vec<(String, bool, u16)>>,
    /// Status to answer; 200 unless a test changes it.
    pub status: AtomicU16,
    /// More lines than this in a batch: 413 (0: no limit).
    pub max_lines: std::sync::atomic::AtomicUsize,
}

impl CollectorState {
    pub fn set_status(&self, s: u16) {
        self.status.store(s, Ordering::SeqCst);
    }

    pub fn records(&self) -> Vec<CallRecord> {
        self.lines("/v1/records")
            .into_iter()
            .map(|v| serde_json::from_value(v).expect("a CallRecord line"))
            .collect()
    }

    pub fn samples(&self) -> Vec<NodeSample> {
        self.lines("/v1/node-samples")
            .into_iter()
            .map(|v| serde_json::from_value(v).expect("a NodeSample line"))
            .collect()
    }

    fn lines(&self, path: &str) -> Vec<serde_json::Value> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b.path == path)
            .flat_map(|b| b.lines.clone())
            .collect()
    }

    pub fn record_batches(&self) -> Vec<Received> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b.path == "/v1/records")
            .cloned()
            .collect()
    }
}

/// A collector that stores what it is sent, decoding zstd NDJSON.
pub async fn collector() -> (Server, Arc<CollectorState>) {
    let state = Arc::new(CollectorState::default());
    state.set_status(200);
    let st = state.clone();
    let server = Server::start(move |req: Request<Incoming>| {
        let st = st.clone();
        async move {
            let path = req.uri().path().to_string();
            let h = req.headers().clone();
            let header = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_string());
            assert_eq!(header("content-encoding").as_deref(), Some("zstd"));
            assert_eq!(
                header("content-type").as_deref(),
                Some("application/x-ndjson")
            );
            // Every batch, records and samples, carries the collector's ingest token.
            assert_eq!(
                header("authorization").as_deref(),
                Some(format!("Bearer {INGEST_TOKEN}").as_str())
            );
            let batch_id = header(gatewatch_model::BATCH_ID_HEADER).expect("batch id header");
            let replay = header(gatewatch_model::REPLAY_HEADER).as_deref() == Some("1");
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let max_lines = st.max_lines.load(Ordering::SeqCst);
            let too_many = max_lines > 0
                && zstd::stream::decode_all(&body[..])
                    .expect("zstd body")
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count()
                    > max_lines;
            let status = if too_many {
                413
            } else {
                st.status.load(Ordering::SeqCst)
            };
            st.attempts
                .lock()
                .unwrap()
                .push((batch_id.clone(), replay, status));
            if status == 200 {
                let raw = zstd::stream::decode_all(&body[..]).expect("zstd body");
                let lines = raw
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(|l| serde_json::from_slice(l).expect("JSON line"))
                    .collect();
                st.batches.lock().unwrap().push(Received {
                    path,
                    batch_id,
                    replay,
                    lines,
                });
            }
            let mut resp = Response::new(full("{}"));
            *resp.status_mut() = StatusCode::from_u16(status).unwrap();
            resp
        }
    })
    .await;
    (server, state)
}

// ---------------------------------------------------------------------------------------------
// Gateway

/// A gateway config for tests: port 0, short intervals, no sampler.
pub fn config(collector: SocketAddr, spool_dir: &Path) -> GatewayConfig {
    let mut c = GatewayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        "gw-test",
        format!("http://{collector}"),
        spool_dir,
    );
    c.flush_interval = Duration::from_millis(50);
    c.sample_interval = Duration::ZERO;
    c.upstream_connect_timeout = Duration::from_secs(1);
    c.upstream_timeout = Duration::from_secs(5);
    c.collector_timeout = Duration::from_secs(2);
    c.drain_timeout = Duration::from_secs(3);
    c.admin_listen = "127.0.0.1:0".parse().unwrap();
    c.ingest_token = INGEST_TOKEN.into();
    c
}

/// The ingest token test gateways send and the fake collector expects.
pub const INGEST_TOKEN: &str = "gw-test-ingest-token-0123";

pub struct Gateway {
    pub addr: SocketAddr,
    /// The admin port: `/healthz`, `/readyz`, `/metrics`.
    pub admin: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    running: Option<Running>,
}

impl Gateway {
    pub async fn start(config: GatewayConfig) -> Gateway {
        let (tx, rx) = oneshot::channel::<()>();
        let running = gatewatch_gateway::bind(config, async {
            let _ = rx.await;
        })
        .await
        .expect("gateway starts");
        Gateway {
            addr: running.local_addr(),
            admin: running.admin_addr(),
            stop: Some(tx),
            running: Some(running),
        }
    }

    /// Graceful shutdown; returns when the gateway has drained and flushed.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(r) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(30), r.wait())
                .await
                .expect("gateway stops in time")
                .expect("gateway stops cleanly");
        }
    }

    /// A GET on a fresh connection.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Request::get(path).body(empty()).unwrap()).await
    }

    /// Sends `req` on a fresh connection and reads the whole answer.
    pub async fn send(&self, req: Request<TestBody>) -> Reply {
        read_whole(self.send_streaming(req).await).await
    }

    /// Sends `req` and returns the response with its body still streaming.
    pub async fn send_streaming(&self, req: Request<TestBody>) -> Response<Incoming> {
        send_streaming_to(self.addr, req).await
    }

    /// A request to the admin port, read whole.
    pub async fn admin_send(&self, req: Request<TestBody>) -> Reply {
        read_whole(send_streaming_to(self.admin, req).await).await
    }

    /// A GET on the admin port.
    pub async fn admin_get(&self, path: &str) -> Reply {
        self.admin_send(Request::get(path).body(empty()).unwrap())
            .await
    }

    /// The value of one sample line of the admin port's `/metrics`, e.g.
    /// `gatewatch_gateway_records_dropped_total{reason="spool_full"}`.
    pub async fn metric(&self, series: &str) -> u64 {
        let text = String::from_utf8(self.admin_get("/metrics").await.body.to_vec()).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    }
}

/// Sends `req` to `addr` on a fresh connection; the response's body still streams.
pub async fn send_streaming_to(addr: SocketAddr, mut req: Request<TestBody>) -> Response<Incoming> {
    {
        if !req.headers().contains_key("host") {
            req.headers_mut()
                .insert("host", addr.to_string().parse().unwrap());
        }
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        sender.send_request(req).await.expect("response head")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Polls `check` every 20 ms until it is true; panics with `what` after `secs` seconds.
pub async fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Like [`eventually`] for a check that is itself async.
pub async fn eventually_async<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Batch files (not `.tmp`, not `corrupt/`) in a spool directory.
pub fn spool_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".zst"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A response read whole: status, headers and body.
async fn read_whole(resp: Response<Incoming>) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}
