//! The edge policies of an API end to end (issue 17): the body limit (a declared length and a
//! chunked body, with the upstream never seeing a byte past the limit), CORS preflights
//! answered before authentication, the deny lists of the site, the API and the client, and the
//! API's own rate for every caller together. Each against a real upstream, rows counted in
//! ClickHouse by outcome.

use crate::helpers::*;
use bytes::Bytes;
use gatewatch_model::secret::hash_secret;
use gatewatch_model::EntityKind::{self, *};
use gatewatch_store::Store;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PEPPER: &str = "e2e-edge-pepper-0123456789";

/// A call of the deny-list test: URL, headers, and the status and code it gets.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);

/// What the upstream saw of each request body: bytes read, and whether it ended whole.
#[derive(Default)]
struct Seen {
    bodies: Mutex<Vec<(String, u64, bool)>>,
}

/// An upstream that reads each body frame by frame and notes how much it got; `/acao`
/// answers with its own `Access-Control-Allow-Origin: *`.
async fn counting_upstream() -> (SocketAddr, Arc<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let seen = s.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let mut body = req.into_body();
                        let (mut n, mut whole) = (0u64, true);
                        while let Some(f) = body.frame().await {
                            match f {
                                Ok(f) => n += f.data_ref().map_or(0, |d| d.len() as u64),
                                Err(_) => {
                                    whole = false;
                                    break;
                                }
                            }
                        }
                        seen.bodies.lock().unwrap().push((path.clone(), n, whole));
                        let mut r = Response::new(Full::new(Bytes::from(format!("{n}"))));
                        if path == "/acao" {
                            r.headers_mut()
                                .insert("access-control-allow-origin", "*".parse().unwrap());
                        }
                        r.headers_mut().insert("x-total", "1".parse().unwrap());
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn site(name: &str, gateway_lines: &str) -> Site {
    let site = Site::new(
        name,
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!("[security]\npepper = \"{PEPPER}\"\n"),
    );
    if !gateway_lines.is_empty() {
        site.tune("gateway", gateway_lines);
    }
    site
}

fn api(up: SocketAddr, prefix: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v = json!({"name": prefix, "prefix": prefix, "upstreams": [format!("http://{up}")],
        "strip_prefix": true});
    if let serde_json::Value::Object(m) = extra {
        for (k, x) in m {
            v[k] = x;
        }
    }
    v
}

fn key(client: &str, key: &str) -> serde_json::Value {
    json!({"client_id": client, "hash": hash_secret(PEPPER.as_bytes(), key)})
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: serde_json::Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn call(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::copy_from_slice(body))).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    }
}

async fn until_status(method: &str, url: &str, headers: &[(&str, &str)], status: u16) {
    let t0 = Instant::now();
    loop {
        let a = call(method, url, headers, b"").await;
        if a.status == status {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{url} still answers {} {}, not {status}",
            a.status,
            a.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rows of the site's `api_calls` by outcome (for `api`).
async fn rows(store: &Store, api: &str, outcome: &str, want: u64) {
    let sql =
        format!("SELECT count() FROM api_calls WHERE api_id = '{api}' AND outcome = '{outcome}'");
    eventually(store, &sql, want, 30).await;
}

/// Sends `head` over a raw connection and returns what comes back up to the first blank line.
async fn raw_head(addr: SocketAddr, head: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

/// A chunked upload over a raw connection: `chunks` of `size` bytes, a pause after each;
/// returns the answer's status line and head (read while still writing, so a gateway that
/// answers early and closes is heard).
async fn chunked(addr: SocketAddr, path: &str, chunks: usize, size: usize) -> String {
    chunked_with(addr, path, "", chunks, size).await
}

/// [`chunked`] with more head lines (`"name: value\r\n"`...).
async fn chunked_with(
    addr: SocketAddr,
    path: &str,
    extra_head: &str,
    chunks: usize,
    size: usize,
) -> String {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let reader = tokio::spawn(async move {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(Duration::from_secs(10), rd.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => {
                    out.extend_from_slice(&buf[..n]);
                    if out.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
        String::from_utf8_lossy(&out).to_string()
    });
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: edge\r\ntransfer-encoding: chunked\r\ncontent-type: application/octet-stream\r\n{extra_head}\r\n"
    );
    let _ = wr.write_all(head.as_bytes()).await;
    let chunk = vec![b'a'; size];
    for _ in 0..chunks {
        let mut frame = format!("{size:x}\r\n").into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        if wr.write_all(&frame).await.is_err() {
            break;
        }
        let _ = wr.flush().await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let _ = wr.write_all(b"0\r\n\r\n").await;
    reader.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_past_max_body_bytes_is_refused_413_and_the_upstream_sees_no_byte_past_it() {
    let (up, seen) = counting_upstream().await;
    let site = site("edge_body_limit", "");
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    put_entity(
        &store,
        Api,
        "lim",
        &api(up, "/lim", json!({"max_body_bytes": 1000})),
    )
    .await;
    until_status("GET", &site.url("/lim/ok"), &[], 200).await;
    let before = seen.bodies.lock().unwrap().len();

    // A declared length over the limit: refused before a byte is read, the upstream never
    // called.
    let a = call("POST", &site.url("/lim/count"), &[], &[b'x'; 1001]).await;
    assert_eq!((a.status, a.code()), (413, "body_too_large"), "{}", a.body);
    assert_eq!(seen.bodies.lock().unwrap().len(), before);
    // A client waiting for `100 Continue` is answered 413 instead, and sends nothing.
    let head = raw_head(
        site.gateway,
        "POST /lim/count HTTP/1.1\r\nhost: edge\r\ncontent-length: 5000\r\nexpect: 100-continue\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert_eq!(seen.bodies.lock().unwrap().len(), before);
    // At the limit: passed whole.
    let a = call("POST", &site.url("/lim/count"), &[], &[b'x'; 1000]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, json!(1000));

    // Chunked under the limit: passed.
    let head = chunked(site.gateway, "/lim/count", 3, 300).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Chunked past it: 413, and the upstream got at most the limit, never the whole body.
    let count = seen.bodies.lock().unwrap().len();
    let head = chunked(site.gateway, "/lim/count", 10, 300).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    let t0 = Instant::now();
    while seen.bodies.lock().unwrap().len() == count {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the upstream never saw the call"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last = seen.bodies.lock().unwrap().last().cloned().unwrap();
    // 300-byte chunks: three went through, the fourth would have crossed 1000.
    assert_eq!((last.1, last.2), (900, false), "{last:?}");
    // Past the limit in one chunk: nothing of it is sent.
    let head = chunked(site.gateway, "/lim/count", 1, 1500).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    for (path, n, _) in seen.bodies.lock().unwrap().iter() {
        assert!(*n <= 1000, "{path}: the upstream read {n} bytes");
    }

    rows(&store, "lim", "ok", 3).await;
    rows(&store, "lim", "refused_bad_request", 4).await;
    let sql = "SELECT count() FROM api_calls WHERE api_id = 'lim' AND status = 413 \
               AND error LIKE 'body_too_large%'";
    eventually(&store, sql, 4, 30).await;
}

/// A policy that reads the body whole (here idempotency, which fingerprints it) reads no
/// further than `max_body_bytes`, or 1 MiB where the API sets none: a chunked body past it is
/// 413 and nothing of it reaches the upstream (it was never forwarded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_read_whole_by_a_policy_stops_at_the_limit_and_nothing_reaches_the_upstream() {
    let (up, seen) = counting_upstream().await;
    let site = site("edge_read_whole", "");
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    let idem = json!({"idempotency": {"methods": ["POST"]}});
    let mut capped = idem.clone();
    capped["max_body_bytes"] = json!(1000);
    put_entity(&store, Api, "whole", &api(up, "/whole", capped)).await;
    put_entity(&store, Api, "whole1m", &api(up, "/whole1m", idem)).await;
    until_status("GET", &site.url("/whole/ok"), &[], 200).await;
    until_status("GET", &site.url("/whole1m/ok"), &[], 200).await;
    let before = seen.bodies.lock().unwrap().len();

    let keyed = "idempotency-key: \"k-1\"\r\n";
    let head = chunked_with(site.gateway, "/whole/count", keyed, 3, 300).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(seen.bodies.lock().unwrap().len(), before + 1);
    let keyed = "idempotency-key: \"k-2\"\r\n";
    let head = chunked_with(site.gateway, "/whole/count", keyed, 10, 300).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    // No limit on the API: the 1 MiB a policy reads at most.
    let keyed = "idempotency-key: \"k-3\"\r\n";
    let head = chunked_with(site.gateway, "/whole1m/count", keyed, 11, 100_000).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert_eq!(
        seen.bodies.lock().unwrap().len(),
        before + 1,
        "a refused body was forwarded"
    );
    rows(&store, "whole", "refused_bad_request", 1).await;
    rows(&store, "whole1m", "refused_bad_request", 1).await;
    let sql = "SELECT count() FROM api_calls WHERE api_id LIKE 'whole%' AND status = 413 \
               AND error LIKE 'body_too_large%'";
    eventually(&store, sql, 2, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflights_are_answered_before_authentication_and_other_origins_get_no_cors_headers()
{
    let (up, seen) = counting_upstream().await;
    let site = site("edge_cors", "");
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    put_entities(
        &store,
        &[
            change(
                Api,
                "web",
                api(
                    up,
                    "/web",
                    json!({"auth": ["api_key"], "methods": ["GET", "POST"],
                    "cors": {"origins": ["https://app.example"], "credentials": true,
                             "expose_headers": ["x-total"], "max_age": 600}}),
                ),
            ),
            change(
                EntityKind::Group,
                "g",
                json!({"name": "G", "apis": ["web"]}),
            ),
            change(Client, "acme", json!({"name": "Acme", "groups": ["g"]})),
            change(ApiKey, "k-acme", key("acme", "gwk_acme")),
        ],
    )
    .await;
    let url = site.url("/web/acao");
    let with_key = [("x-api-key", "gwk_acme")];
    until_status("GET", &url, &with_key, 200).await;
    let upstream_calls = seen.bodies.lock().unwrap().len();

    // The preflight: no credentials, answered by the gateway.
    let a = call(
        "OPTIONS",
        &url,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type, authorization, idempotency-key",
            ),
        ],
        b"",
    )
    .await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert_eq!(
        a.header("access-control-allow-origin"),
        "https://app.example"
    );
    assert_eq!(a.header("access-control-allow-credentials"), "true");
    assert_eq!(a.header("access-control-allow-methods"), "GET, POST");
    assert_eq!(
        a.header("access-control-allow-headers"),
        "content-type, authorization, idempotency-key"
    );
    assert_eq!(a.header("access-control-max-age"), "600");
    assert!(a.header("vary").contains("origin"), "{:?}", a.headers);

    // Refused preflights: another origin, a method, a header.
    for (origin, method, headers) in [
        ("https://evil.example", "GET", ""),
        ("https://app.example", "DELETE", ""),
        ("https://app.example", "GET", "x-custom"),
        ("null", "GET", ""),
    ] {
        let mut h = vec![
            ("origin", origin),
            ("access-control-request-method", method),
        ];
        if !headers.is_empty() {
            h.push(("access-control-request-headers", headers));
        }
        let a = call("OPTIONS", &url, &h, b"").await;
        assert_eq!(
            (a.status, a.code()),
            (403, "cors_refused"),
            "{origin} {method} {headers}"
        );
        assert!(!a.headers.contains_key("access-control-allow-origin"));
    }
    // An OPTIONS that is no preflight, on an API without OPTIONS: 405 as before.
    let a = call("OPTIONS", &url, &[("origin", "https://app.example")], b"").await;
    assert_eq!((a.status, a.code()), (405, "method_not_allowed"));
    assert_eq!(a.header("allow"), "GET, POST");
    assert_eq!(
        seen.bodies.lock().unwrap().len(),
        upstream_calls,
        "the upstream saw a preflight"
    );

    // An allowed origin's call: the gateway's CORS headers replace the upstream's own.
    let a = call(
        "GET",
        &url,
        &[("x-api-key", "gwk_acme"), ("origin", "https://app.example")],
        b"",
    )
    .await;
    assert_eq!(a.status, 200);
    let acao: Vec<_> = a
        .headers
        .get_all("access-control-allow-origin")
        .iter()
        .collect();
    assert_eq!(acao, ["https://app.example"], "{:?}", a.headers);
    assert_eq!(a.header("access-control-allow-credentials"), "true");
    assert_eq!(a.header("access-control-expose-headers"), "x-total");
    assert!(a.header("vary").contains("origin"));
    // A refusal is readable by the page too.
    let a = call("GET", &url, &[("origin", "https://app.example")], b"").await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.header("access-control-allow-origin"),
        "https://app.example"
    );
    // Another origin: passed (CORS is the browser's to enforce), but no CORS header at all.
    let a = call(
        "GET",
        &url,
        &[
            ("x-api-key", "gwk_acme"),
            ("origin", "https://evil.example"),
        ],
        b"",
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(
        !a.headers
            .keys()
            .any(|k| k.as_str().starts_with("access-control-")),
        "{:?}",
        a.headers
    );
    assert!(a.header("vary").contains("origin"));

    // until_status's 200s (at least 1) + the allowed and the other origin's call + preflight.
    let sql = "SELECT count() FROM api_calls WHERE api_id = 'web' AND outcome = 'ok' \
               AND has(policies, 'cors:preflight') AND status = 204";
    eventually(&store, sql, 1, 30).await;
    rows(&store, "web", "refused_not_allowed", 4).await;
    rows(&store, "web", "refused_auth", 1).await;
    let sql = "SELECT count() FROM api_calls WHERE api_id = 'web' AND status = 405";
    eventually(&store, sql, 1, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_lists_of_the_site_the_api_and_the_client_refuse_with_refused_ip() {
    let (up, _seen) = counting_upstream().await;
    // The caller's address comes from X-Forwarded-For: the test's own loopback is a trusted
    // proxy, so one machine plays many callers.
    let site = site(
        "edge_deny",
        "trusted_proxies = [\"127.0.0.1/32\"]\nip_deny = [\"203.0.113.0/24\", \"::ffff:100.64.0.0/106\"]",
    );
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    put_entities(
        &store,
        &[
            change(
                Api,
                "shut",
                api(
                    up,
                    "/shut",
                    json!({"auth": ["api_key"], "ip_deny": ["198.51.100.0/24", "2001:db8::/32"]}),
                ),
            ),
            change(Api, "open", api(up, "/open", json!({"auth": ["api_key"]}))),
            change(
                EntityKind::Group,
                "g",
                json!({"name": "G", "apis": ["shut", "open"]}),
            ),
            change(
                Client,
                "acme",
                json!({"name": "Acme", "groups": ["g"], "ip_deny": ["192.0.2.0/24"]}),
            ),
            change(Client, "other", json!({"name": "Other", "groups": ["g"]})),
            change(ApiKey, "k-acme", key("acme", "gwk_acme")),
            change(ApiKey, "k-other", key("other", "gwk_other")),
        ],
    )
    .await;
    let (shut, open) = (site.url("/shut/ok"), site.url("/open/ok"));
    let (nowhere, token) = (site.url("/nowhere"), site.url("/oauth2/token"));
    let (shut, open) = (shut.as_str(), open.as_str());
    let acme = ("x-api-key", "gwk_acme");
    let other = ("x-api-key", "gwk_other");
    until_status("GET", open, &[acme], 200).await;
    let from = |ip: &'static str| ("x-forwarded-for", ip);

    // (url, headers, status, code)
    let cases: Vec<Case> = vec![
        // the site's list: every API, before authentication (no key needed to be refused)
        (open, vec![from("203.0.113.9")], 403, "ip_denied"),
        (shut, vec![from("203.0.113.9"), acme], 403, "ip_denied"),
        (open, vec![from("::ffff:203.0.113.9")], 403, "ip_denied"),
        // a mapped entry catches the IPv4 caller
        (open, vec![from("100.64.1.2")], 403, "ip_denied"),
        // ... before the path is read: no API's path, the gateway's own endpoints
        (&nowhere, vec![from("203.0.113.9")], 403, "ip_denied"),
        (&token, vec![from("203.0.113.9")], 403, "ip_denied"),
        (&nowhere, vec![from("10.1.2.3")], 404, "no_route"),
        // the API's list: that API only, before authentication
        (shut, vec![from("198.51.100.7")], 403, "ip_denied"),
        (
            shut,
            vec![from("::ffff:198.51.100.7"), other],
            403,
            "ip_denied",
        ),
        (shut, vec![from("2001:db8::7"), other], 403, "ip_denied"),
        (open, vec![from("198.51.100.7"), other], 200, ""),
        // the client's list: after authentication, that client only
        (open, vec![from("192.0.2.5")], 401, "auth_required"),
        (open, vec![from("192.0.2.5"), acme], 403, "ip_denied"),
        (shut, vec![from("::ffff:192.0.2.5"), acme], 403, "ip_denied"),
        (open, vec![from("192.0.2.5"), other], 200, ""),
        (open, vec![from("10.1.2.3"), acme], 200, ""),
    ];
    for (url, headers, status, code) in &cases {
        let a = call("GET", url, headers, b"").await;
        assert_eq!(
            (a.status, a.code()),
            (*status, *code),
            "{url} {headers:?}: {}",
            a.body
        );
    }
    let sql = "SELECT count() FROM api_calls WHERE outcome = 'refused_ip' AND status = 403";
    eventually(&store, sql, 11, 30).await;
    let sql = "SELECT count() FROM api_calls WHERE outcome = 'refused_ip' AND api_id = ''";
    eventually(&store, sql, 6, 30).await;
    let sql = "SELECT count() FROM api_calls WHERE outcome = 'refused_ip' AND client_id = 'acme'";
    eventually(&store, sql, 2, 30).await;
    let sql = "SELECT count() FROM api_calls WHERE outcome = 'refused_ip' AND client_id = ''";
    eventually(&store, sql, 9, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_rate_limits_every_caller_together_with_ratelimit_headers_and_survives_reloads() {
    let (up, _seen) = counting_upstream().await;
    let site = site("edge_rate", "");
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    let rated = |burst: u32| {
        api(
            up,
            "/rated",
            json!({"auth": ["api_key"], "rate": {"per_second": 1, "burst": burst}}),
        )
    };
    put_entities(
        &store,
        &[
            change(Api, "rated", rated(4)),
            change(Api, "free", api(up, "/free", json!({"auth": ["api_key"]}))),
            change(
                EntityKind::Group,
                "g",
                json!({"name": "G", "apis": ["rated", "free"]}),
            ),
            change(Client, "a", json!({"name": "A", "groups": ["g"]})),
            change(Client, "b", json!({"name": "B", "groups": ["g"]})),
            change(ApiKey, "k-a", key("a", "gwk_a")),
            change(ApiKey, "k-b", key("b", "gwk_b")),
        ],
    )
    .await;
    let url = site.url("/rated/ok");
    let (a, b) = (("x-api-key", "gwk_a"), ("x-api-key", "gwk_b"));
    until_status("GET", &site.url("/free/ok"), &[a], 200).await;

    // Two clients share one bucket of 4 that refills at 1/s.
    let mut seen: HashMap<u16, u64> = HashMap::new();
    let mut left = Vec::new();
    for i in 0..10 {
        let ans = call("GET", &url, &[if i % 2 == 0 { a } else { b }], b"").await;
        assert_eq!(ans.header("ratelimit-policy"), "\"default\";q=4;w=4");
        if ans.status == 200 {
            left.push(ans.header("ratelimit").to_string());
        } else {
            assert_eq!(
                (ans.status, ans.code()),
                (429, "rate_limited"),
                "{}",
                ans.body
            );
            let retry: u64 = ans.header("retry-after").parse().unwrap();
            assert!((1..=2).contains(&retry), "Retry-After {retry}");
            assert!(
                ans.header("ratelimit").starts_with("\"default\";r=0;t="),
                "{}",
                ans.header("ratelimit")
            );
        }
        *seen.entry(ans.status).or_default() += 1;
    }
    let passed = seen.get(&200).copied().unwrap_or(0);
    // The burst, and a token or two more on a slow machine.
    assert!((4..=6).contains(&passed), "{seen:?}");
    assert!(left[0].starts_with("\"default\";r=3;t="), "{left:?}");
    // The other API is not touched.
    assert_eq!(
        call("GET", &site.url("/free/ok"), &[b], b"").await.status,
        200
    );

    // A reload (a new router) keeps the bucket: a big new burst does not refill it.
    put_entity(&store, Api, "rated", &rated(1000)).await;
    let t0 = Instant::now();
    loop {
        let ans = call("GET", &url, &[a], b"").await;
        let policy = ans.header("ratelimit-policy").to_string();
        if policy.contains("q=1000") {
            // Seconds passed since the bucket ran dry: about that many calls came back, not
            // the 1000 a fresh bucket would hold.
            let r: u64 = ans
                .header("ratelimit")
                .split("r=")
                .nth(1)
                .and_then(|s| s.split(';').next())
                .and_then(|s| s.parse().ok())
                .unwrap();
            assert!(r < 100, "the bucket was refilled by the reload: {r}");
            *seen.entry(ans.status).or_default() += 1;
            break;
        }
        *seen.entry(ans.status).or_default() += 1;
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the new rate never arrived"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ok = seen.get(&200).copied().unwrap_or(0);
    let limited = seen.get(&429).copied().unwrap_or(0);
    rows(&store, "rated", "ok", ok).await;
    rows(&store, "rated", "refused_rate", limited).await;
}
