//! Routing and upstream handling of APIs registered in the configuration log: path patterns
//! and methods, health checks, weighted load balancing, retries and per-API timeouts, seen
//! from the client, from real upstreams and in the rows of `api_calls`.

use crate::helpers::*;
use bytes::Bytes;
use gatewatch_model::EntityKind;
use gatewatch_store::config_log::{self, Change};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// An upstream in the test process that can be stopped and started again on its port.
/// `/health` answers 200; `/sleep/{ms}` answers after that long; anything else answers 200
/// with `{name} {method} {target}` and is counted.
struct Named {
    name: &'static str,
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Named {
    async fn start(name: &'static str) -> Named {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut n = Named {
            name,
            addr: listener.local_addr().unwrap(),
            hits: Arc::default(),
            task: None,
        };
        n.serve(listener);
        n
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (name, hits) = (self.name, self.hits.clone());
        self.task = Some(tokio::spawn(async move {
            // Owned here, so stopping the accept loop closes every open connection too.
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let hits = hits.clone();
                conns.spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let hits = hits.clone();
                            async move {
                                let path = req.uri().path().to_string();
                                let body = if path == "/health" {
                                    "ok".to_string()
                                } else if let Some(ms) = path.strip_prefix("/sleep/") {
                                    let ms = ms.parse().unwrap_or(0);
                                    tokio::time::sleep(Duration::from_millis(ms)).await;
                                    format!("{name} slept")
                                } else {
                                    hits.fetch_add(1, Ordering::SeqCst);
                                    format!("{name} {} {}", req.method(), req.uri())
                                };
                                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }));
    }

    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    async fn restart(&mut self) {
        self.stop();
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An upstream that accepts connections and closes them at once: a failure after the
/// connection was made and (perhaps) the request sent, before any response head.
async fn closer() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            drop(s);
        }
    });
    addr
}

/// A port nothing listens on, and the socket that holds it: bound, never listening, so a
/// connect is refused and no other test's server can be given the port while the test runs
/// (a port only found free could be, and then the "dead" upstream would answer).
fn dead() -> (String, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    (format!("http://127.0.0.1:{port}"), socket)
}

struct Reply {
    status: u16,
    allow: String,
    body: String,
}

async fn send(method: &str, url: &str, body: &'static str) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    match client.request(req).await {
        Ok(r) => {
            let status = r.status().as_u16();
            let allow = r
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let body = r.into_body().collect().await.unwrap().to_bytes();
            Reply {
                status,
                allow,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        }
        Err(_) => Reply {
            status: 0,
            allow: String::new(),
            body: String::new(),
        },
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// Registers `apis` (id, JSON body) in one change of the log.
async fn register(store: &gatewatch_store::Store, apis: &[(&str, serde_json::Value)]) {
    let changes: Vec<Change> = apis
        .iter()
        .map(|(id, body)| Change {
            kind: EntityKind::Api,
            id: id.to_string(),
            body: body.to_string(),
            deleted: false,
            expected_version: Some(0),
        })
        .collect();
    config_log::write(store, "e2e", "routing", &changes, now_us())
        .await
        .unwrap();
}

/// Waits until `GET url` answers `want`.
async fn until_status(url: &str, want: u16) {
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..200 {
        let got = send("GET", url, "").await.status;
        if got == want {
            return;
        }
        *seen.entry(got).or_insert(0u32) += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer {want} within 20 s (answers by status: {seen:?})");
}

/// The value of one series on the gateway's `/metrics`.
async fn metric(site: &Site, series: &str) -> Option<u64> {
    let text = send("GET", &site.admin_url("/metrics"), "").await.body;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn until_metric(site: &Site, series: &str, want: u64) {
    for _ in 0..200 {
        if metric(site, series).await == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{series} did not reach {want} within 20 s: {:?}",
        metric(site, series).await
    );
}

async fn site(name: &str) -> (Site, gatewatch_store::Store) {
    let site = Site::new(name, &gatewatch_migrations::testing::clickhouse_url(), "");
    let store = site.migrate().await;
    (site, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apis_in_the_log_route_by_path_pattern_and_method() {
    let (a, b) = (Named::start("a").await, Named::start("b").await);
    let (site, store) = site("routing_paths").await;
    register(
        &store,
        &[
            (
                "order-read",
                serde_json::json!({"name": "讀取訂單", "path": "/orders/{id}", "methods": ["GET"], "upstreams": [a.url()]}),
            ),
            (
                "order-write",
                serde_json::json!({"name": "write", "path": "/orders/{id}", "methods": ["PUT", "DELETE"], "upstreams": [b.url()]}),
            ),
            (
                "items",
                serde_json::json!({"name": "items", "path": "/orders/{id}/items/**", "strip_prefix": true, "upstreams": [a.url()]}),
            ),
        ],
    )
    .await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    until_status(&site.url("/orders/7"), 200).await;

    assert_eq!(
        send("GET", &site.url("/orders/7?x=1"), "").await.body,
        "a GET /orders/7?x=1"
    );
    assert_eq!(
        send("DELETE", &site.url("/orders/7"), "").await.body,
        "b DELETE /orders/7"
    );
    assert_eq!(
        send("PUT", &site.url("/orders/7"), "{}").await.body,
        "b PUT /orders/7"
    );
    let r = send("POST", &site.url("/orders/7"), "{}").await;
    assert_eq!((r.status, r.allow.as_str()), (405, "GET, PUT, DELETE"));
    let err: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(err["error"]["code"], "method_not_allowed");
    assert_eq!(
        send("GET", &site.url("/orders/7/items/3"), "").await.body,
        "a GET /7/items/3"
    );
    assert_eq!(send("GET", &site.url("/orders"), "").await.status, 404);
    assert_eq!(
        send("GET", &site.url("/orders/7/other"), "").await.status,
        404
    );

    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'order-read' AND status = 405 AND outcome = 'no_route' AND method = 'POST'",
        1,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'items' AND route = '/orders/{id}/items/**' AND status = 200",
        1,
        30,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_upstream_is_taken_out_by_health_checks_and_comes_back_when_restarted() {
    let a = Named::start("a").await;
    let mut b = Named::start("b").await;
    let (site, store) = site("routing_health").await;
    register(
        &store,
        &[(
            "hc",
            serde_json::json!({
                "name": "hc", "prefix": "/hc", "upstreams": [a.url(), b.url()],
                "health_check": {"path": "/health", "interval_ms": 200, "timeout_ms": 200,
                                 "healthy_threshold": 1, "unhealthy_threshold": 2}
            }),
        )],
    )
    .await;
    let _gateway = site.start("gateway").await;
    until_status(&site.url("/hc/x"), 200).await;
    let b_healthy = format!(
        "gatewatch_gateway_upstream_healthy{{api=\"hc\",upstream=\"{}\"}}",
        b.url()
    );
    until_metric(&site, &b_healthy, 1).await;

    b.stop();
    until_metric(&site, &b_healthy, 0).await;
    let before = a.hits();
    let statuses = drive(&site.url("/hc/x"), &[""], 20, 2, Duration::ZERO).await;
    assert_eq!(statuses.get(&200), Some(&20), "{statuses:?}");
    assert_eq!(
        a.hits() - before,
        20,
        "every call went to the healthy upstream"
    );
    let active = format!(
        "gatewatch_gateway_upstream_ejections_total{{api=\"hc\",upstream=\"{}\",kind=\"active\"}}",
        b.url()
    );
    assert_eq!(metric(&site, &active).await, Some(1));

    b.restart().await;
    until_metric(&site, &b_healthy, 1).await;
    let statuses = drive(&site.url("/hc/x"), &[""], 20, 1, Duration::ZERO).await;
    assert_eq!(statuses.get(&200), Some(&20), "{statuses:?}");
    assert_eq!(b.hits(), 10, "round robin again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weighted_api_splits_calls_three_to_one_at_the_upstreams() {
    let (a, b, c) = (
        Named::start("a").await,
        Named::start("b").await,
        Named::start("c").await,
    );
    let (site, store) = site("routing_weighted").await;
    register(
        &store,
        &[
            (
                "w",
                serde_json::json!({"name": "w", "prefix": "/w", "lb": "weighted",
                    "upstreams": [{"url": a.url(), "weight": 3}, {"url": b.url(), "weight": 1}]}),
            ),
            // Polled until the configuration is in, so /w's cycle starts untouched.
            (
                "ready",
                serde_json::json!({"name": "ready", "prefix": "/ready", "upstreams": [c.url()]}),
            ),
        ],
    )
    .await;
    let _gateway = site.start("gateway").await;
    until_status(&site.url("/ready/x"), 200).await;
    let statuses = drive(&site.url("/w/x"), &[""], 400, 4, Duration::ZERO).await;
    assert_eq!(statuses.get(&200), Some(&400), "{statuses:?}");
    assert_eq!((a.hits(), b.hits()), (300, 100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_retries_reach_a_live_upstream_and_bodies_are_never_resent() {
    let live = Named::start("live").await;
    let shut = format!("http://{}", closer().await);
    let (dead, _held) = dead();
    let (site, store) = site("routing_retries").await;
    register(
        &store,
        &[
            (
                "r",
                serde_json::json!({"name": "r", "prefix": "/r", "retries": 2,
                    "upstreams": [dead, shut.clone(), live.url()]}),
            ),
            (
                "r0",
                serde_json::json!({"name": "r0", "prefix": "/r0", "upstreams": [shut, live.url()]}),
            ),
        ],
    )
    .await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    until_status(&site.url("/r/x"), 200).await;

    let statuses = drive(&site.url("/r/x"), &[""], 30, 2, Duration::ZERO).await;
    assert_eq!(statuses.get(&200), Some(&30), "{statuses:?}");
    // Without retries, the closing upstream's share fails.
    let statuses = drive(&site.url("/r0/x"), &[""], 10, 1, Duration::ZERO).await;
    assert_eq!(
        (statuses.get(&200), statuses.get(&502)),
        (Some(&5), Some(&5)),
        "{statuses:?}"
    );
    // A POST whose body may have gone is not resent, whatever `retries` says.
    let mut posts = std::collections::HashMap::new();
    for _ in 0..9 {
        *posts
            .entry(send("POST", &site.url("/r/x"), "{\"n\":1}").await.status)
            .or_insert(0) += 1;
    }
    assert!(posts.get(&502).is_some_and(|n| *n > 0), "{posts:?}");
    assert!(posts.get(&200).is_some_and(|n| *n > 0), "{posts:?}");

    // Each GET's record names the upstream that finally answered.
    let live_url = live.url();
    eventually(
        &store,
        &format!("SELECT count() FROM api_calls WHERE api_id = 'r' AND method = 'GET' AND status = 200 AND upstream = '{live_url}'"),
        31,
        30,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_api_timeout_answers_504_where_the_default_waits() {
    let a = Named::start("a").await;
    let (site, store) = site("routing_timeout").await;
    register(
        &store,
        &[
            (
                "patient",
                serde_json::json!({"name": "patient", "prefix": "/patient", "strip_prefix": true, "upstreams": [a.url()]}),
            ),
            (
                "hasty",
                serde_json::json!({"name": "hasty", "prefix": "/hasty", "strip_prefix": true, "timeout_ms": 150, "upstreams": [a.url()]}),
            ),
        ],
    )
    .await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    until_status(&site.url("/patient/x"), 200).await;
    // The site's default is 1000 ms: 500 ms fits, 150 ms does not.
    assert_eq!(
        send("GET", &site.url("/patient/sleep/500"), "")
            .await
            .status,
        200
    );
    let r = send("GET", &site.url("/hasty/sleep/500"), "").await;
    assert_eq!(r.status, 504, "{}", r.body);
    assert!(r.body.contains("upstream_timeout"), "{}", r.body);
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'hasty' AND outcome = 'timeout' AND status = 504",
        1,
        30,
    )
    .await;
}
