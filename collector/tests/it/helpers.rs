//! A collector on a free port with its own database and log directory, and a small HTTP client.

use bytes::Bytes;
use gatewatch_collector::CollectorConfig;
use gatewatch_model::{CallRecord, Outcome};
use gatewatch_store::Store;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::sync::oneshot;
use uuid::Uuid;

/// The ingest token of every test collector.
pub const TOKEN: &str = "test-ingest-token-0123456789";

pub struct TestCollector {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestCollector {
    pub async fn start(store: &Store, wal_dir: &Path) -> TestCollector {
        TestCollector::start_with(store, wal_dir, |_| {}).await
    }

    /// [`TestCollector::start`], with `change` applied to the configuration first.
    pub async fn start_with(
        store: &Store,
        wal_dir: &Path,
        change: impl FnOnce(&mut CollectorConfig),
    ) -> TestCollector {
        let mut cfg = CollectorConfig::new("127.0.0.1:0".parse().unwrap(), wal_dir, "test");
        cfg.inserter.period = Duration::from_millis(100);
        cfg.max_body_bytes = 1 << 20;
        cfg.max_decoded_bytes = 4 << 20;
        cfg.ingest_token = TOKEN.into();
        change(&mut cfg);
        let running = gatewatch_collector::bind(cfg, store.clone()).await.unwrap();
        let addr = running.local_addr();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            running
                .serve(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        TestCollector {
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops serving and waits until the collector is down (its log stays on disk).
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// POSTs `body` with `headers` and the test token (unless `headers` has an `authorization`).
pub async fn post(
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (u16, serde_json::Value) {
    let (status, _, json) = post_full(url, headers, body).await;
    (status, json)
}

/// [`post`], with the answer's headers.
pub async fn post_full(
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (u16, hyper::HeaderMap, serde_json::Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = hyper::Request::post(url);
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
    {
        req = req.header("authorization", format!("Bearer {TOKEN}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let answer_headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, answer_headers, json)
}

/// GET `url`'s body as text.
pub async fn get_text(url: &str) -> String {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = hyper::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub const NDJSON: (&str, &str) = ("content-type", "application/x-ndjson");

/// Now, in microseconds since the epoch.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// `n` distinct call records of the last minute, with mixed statuses.
pub fn calls(n: usize) -> Vec<CallRecord> {
    let start = now_us() - 60_000_000;
    (0..n)
        .map(|i| {
            let mut r = CallRecord::new(Uuid::now_v7(), start + i as i64, "gw-t", "GET", "/t");
            r.api_id = format!("api-{}", i % 3);
            r.status = [200, 404, 503][i % 3];
            r.outcome = Outcome::from_upstream_status(r.status);
            r
        })
        .collect()
}

pub fn ndjson(records: &[CallRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    gatewatch_model::ndjson::encode_lines(records, &mut out).unwrap();
    out
}

/// Waits until `sql` returns `want` (or fails after 30 s with the last value).
pub async fn eventually_count(store: &Store, sql: &str, want: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = 0;
    while tokio::time::Instant::now() < deadline {
        last = store.fetch_u64(sql).await.unwrap_or(0);
        if last == want {
            // stay a moment to catch a late duplicate
            tokio::time::sleep(Duration::from_millis(300)).await;
            last = store.fetch_u64(sql).await.unwrap_or(0);
            assert_eq!(last, want, "{sql}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{sql}: wanted {want}, have {last}");
}
