//! Message checks end to end: APIs with `checks` in block and monitor mode in front of a real
//! upstream; attacks in a path segment, a query value, a form field, a JSON string and a
//! chosen header are refused 403 `blocked` before the upstream sees them (block) or proxied
//! with the finding recorded (monitor); ordinary values pass; rows counted in ClickHouse by
//! outcome, with their findings.

use crate::helpers::*;
use bytes::Bytes;
use gatewatch_model::EntityKind::Api;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An upstream that counts the calls it gets and echoes each request's body.
async fn echo_upstream(hits: Arc<AtomicUsize>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let hits = hits.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let hits = hits.clone();
                    async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        Ok::<_, Infallible>(Response::new(Full::new(body)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

struct Answer {
    status: u16,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

async fn call(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer { status, body }
}

fn api(up: SocketAddr, prefix: &str, checks: serde_json::Value) -> serde_json::Value {
    let mut v = json!({"name": prefix, "prefix": prefix, "upstreams": [format!("http://{up}")],
        "strip_prefix": true});
    if let serde_json::Value::Object(m) = checks {
        for (k, x) in m {
            v[k] = x;
        }
    }
    v
}

const JSON: (&str, &str) = ("content-type", "application/json");
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_are_blocked_or_recorded_and_ordinary_values_pass() {
    let hits = Arc::new(AtomicUsize::new(0));
    let up = echo_upstream(hits.clone()).await;
    let site = Site::new(
        "policy_checks",
        &gatewatch_migrations::testing::clickhouse_url(),
        "[security]\npepper = \"e2e-checks-pepper-0123456789\"\n",
    );
    let store = site.migrate().await;
    put_entities(
        &store,
        &[
            change(
                Api,
                "shop",
                api(
                    up,
                    "/shop",
                    json!({"checks": ["sqli", "xss"], "check_headers": ["referer"]}),
                ),
            ),
            change(
                Api,
                "watch",
                api(
                    up,
                    "/watch",
                    json!({"checks": ["sqli", "xss"], "check_mode": "monitor"}),
                ),
            ),
            change(Api, "plain", api(up, "/plain", json!({}))),
        ],
    )
    .await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;

    // The APIs are loaded once a plain call gets through.
    let t0 = Instant::now();
    while call("GET", &site.url("/plain/ready"), &[], "").await.status != 200 {
        assert!(t0.elapsed() < Duration::from_secs(20), "APIs not loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let base_hits = hits.load(Ordering::SeqCst);

    // Ordinary values pass through the blocking API, bodies intact.
    let ordinary_json = json!({"name": "O'Brien", "note": "select a seat", "expr": "3 < 4 > 2",
        "city": "臺北市信義區市府路1號", "quote": "He said \"hi\""})
    .to_string();
    let passed = [
        call(
            "GET",
            &site.url("/shop/items?q=select+a+seat&name=O%27Brien&expr=3+%3C+4"),
            &[],
            "",
        )
        .await,
        call(
            "GET",
            &site.url("/shop/people/O'Brien/%E7%8E%8B%E5%B0%8F%E6%98%8E"),
            &[("referer", "https://example.com/?q=a+b")],
            "",
        )
        .await,
        call("POST", &site.url("/shop/orders"), &[JSON], &ordinary_json).await,
        call(
            "POST",
            &site.url("/shop/login"),
            &[FORM],
            "user=O%27Neil&comment=drop+me+a+line",
        )
        .await,
    ];
    for a in &passed {
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    }
    assert_eq!(
        passed[2].body,
        ordinary_json.as_bytes(),
        "the checked body reaches the upstream whole"
    );

    // Attacks in each place are refused before the upstream sees them.
    let attacks = [
        (call("GET", &site.url("/shop/items/1'%20or%20'1'='1"), &[], "").await, "sqli", "path[2]"),
        (call("GET", &site.url("/shop/items?q=%3Cscript%3Ealert(1)%3C/script%3E"), &[], "").await, "xss", "query.q"),
        (call("POST", &site.url("/shop/login"), &[FORM], "user=admin%27--&password=x").await, "sqli", "body.user"),
        (
            call("POST", &site.url("/shop/orders"), &[JSON],
                r#"{"items":[{"note":"ok"},{"note":"fine"},{"note":"<img src=x onerror=alert(1)>"}]}"#).await,
            "xss",
            "body.items[2].note",
        ),
        (call("GET", &site.url("/shop/items"), &[("referer", "1' UNION SELECT password FROM users--")], "").await, "sqli", "header.referer"),
    ];
    for (a, check, place) in &attacks {
        assert_eq!(
            a.status,
            403,
            "{check} in {place}: {}",
            String::from_utf8_lossy(&a.body)
        );
        let body = a.json();
        assert_eq!(body["error"]["code"], "blocked");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains(&format!("{check} found in {place}")),
            "{message}"
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst) - base_hits,
        passed.len(),
        "no blocked call reached the upstream"
    );

    // Monitor: proxied, the finding recorded. No checks: proxied, nothing recorded.
    let watched = call(
        "GET",
        &site.url("/watch/items?q=1%27%20or%201=1--"),
        &[],
        "",
    )
    .await;
    assert_eq!(watched.status, 200);
    let plain = call(
        "GET",
        &site.url("/plain/items?q=1%27%20or%201=1--"),
        &[],
        "",
    )
    .await;
    assert_eq!(plain.status, 200);
    assert_eq!(hits.load(Ordering::SeqCst) - base_hits, passed.len() + 2);

    // Rows by outcome, with their findings.
    let rows = |api: &str, outcome: &str| {
        format!("SELECT count() FROM api_calls WHERE api_id = '{api}' AND outcome = '{outcome}'")
    };
    eventually(
        &store,
        &rows("shop", "refused_blocked"),
        attacks.len() as u64,
        30,
    )
    .await;
    eventually(&store, &rows("shop", "ok"), passed.len() as u64, 30).await;
    eventually(&store, &rows("watch", "ok"), 1, 30).await;
    for (_, check, place) in &attacks {
        eventually(
            &store,
            &format!(
                "SELECT count() FROM api_calls WHERE api_id = 'shop' AND outcome = 'refused_blocked' \
                 AND status = 403 AND findings = ['{check}:{place}']"
            ),
            1,
            30,
        )
        .await;
    }
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'shop' AND outcome = 'ok' AND length(findings) = 0",
        passed.len() as u64,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'watch' AND outcome = 'ok' AND findings = ['sqli:query.q']",
        1,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'plain' AND length(findings) > 0",
        0,
        10,
    )
    .await;
}
