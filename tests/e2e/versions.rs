//! API versions end to end (issue 19): a family's versions routed by path, header, query
//! parameter and default to two real upstreams that say which they are; deprecation headers;
//! a retired version's 410; an unknown version's 404; tricks on the version segment and the
//! header; the canary split, sticky per client; the record's `api_version` in ClickHouse.

use crate::helpers::*;
use bytes::Bytes;
use gatewatch_model::secret::hash_secret;
use gatewatch_model::EntityKind::{self, *};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PEPPER: &str = "e2e-versions-pepper-0123456789";

/// An upstream that answers every call with `{name} {method} {target}`.
async fn named(name: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: Request<hyper::body::Incoming>| async move {
                        let body = format!("{name} {} {}", req.method(), req.uri());
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    fn code(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

async fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::get(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Sends `head` (a request head, as bytes) on a raw connection; the status line's code and
/// the rest of what came back.
async fn raw(site: &Site, head: &[u8]) -> (u16, String) {
    let url = site.url("/");
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(head).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

fn site(name: &str) -> Site {
    let tail = format!("[security]\npepper = \"{PEPPER}\"\n");
    Site::new(
        name,
        &gatewatch_migrations::testing::clickhouse_url(),
        &tail,
    )
}

fn version_api(
    family: &str,
    version: &str,
    up: SocketAddr,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut v = json!({"name": format!("{family} {version}"), "prefix": format!("/{family}"),
        "upstreams": [format!("http://{up}")], "family": family, "version": version});
    if let serde_json::Value::Object(m) = extra {
        for (k, x) in m {
            v[k] = x;
        }
    }
    v
}

async fn until_answers(url: &str, headers: &[(&str, &str)], want: &str) {
    for _ in 0..200 {
        if get(url, headers).await.body.starts_with(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered {want:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_route_by_path_header_query_and_default() {
    let (a, b) = (named("a").await, named("b").await);
    let site = site("versions_routing");
    let store = site.migrate().await;
    put_entities(
        &store,
        &[
            change(
                ApiFamily,
                "orders",
                json!({"name": "Orders", "default_version": "v1",
                "select": {"path": true, "header": "accept-version", "query": "version"}}),
            ),
            change(Api, "orders-v1", version_api("orders", "v1", a, json!({}))),
            change(
                Api,
                "orders-v2",
                version_api(
                    "orders",
                    "v2",
                    b,
                    json!({
                "deprecation": {"since": "2026-07-01T00:00:00Z", "sunset": "2027-01-02T03:04:05Z",
                    "link": "https://developer.example/orders/v3"}}),
                ),
            ),
            change(
                Api,
                "orders-v0",
                version_api("orders", "v0", a, json!({"retired": true})),
            ),
            // A plain API with a version label: recorded too.
            change(
                Api,
                "plain",
                json!({"name": "plain", "prefix": "/plain", "version": "2024-01",
                "upstreams": [format!("http://{a}")]}),
            ),
        ],
    )
    .await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    until_answers(&site.url("/orders/x"), &[], "a ").await;

    // 1. the path: the version segment is taken out before the upstream sees the path.
    let r = get(&site.url("/orders/v2/items/7?x=1"), &[]).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "b GET /orders/items/7?x=1")
    );
    // Deprecated: RFC 9745 `@` + Unix seconds, RFC 8594 IMF-fixdate, both links.
    assert_eq!(r.all("deprecation"), ["@1782864000"]);
    assert_eq!(r.all("sunset"), ["Sat, 02 Jan 2027 03:04:05 GMT"]);
    assert_eq!(
        r.all("link"),
        [
            "<https://developer.example/orders/v3>; rel=\"deprecation\"",
            "<https://developer.example/orders/v3>; rel=\"sunset\""
        ]
    );
    assert_eq!(
        get(&site.url("/orders/v1/items"), &[]).await.body,
        "a GET /orders/items"
    );
    assert_eq!(
        get(&site.url("/orders/v2"), &[]).await.body,
        "b GET /orders"
    );
    // 2. the header, then the query parameter (taken out of the forwarded query).
    let r = get(&site.url("/orders/items"), &[("accept-version", "v2")]).await;
    assert_eq!(r.body, "b GET /orders/items");
    assert_eq!(r.all("deprecation"), ["@1782864000"]);
    let r = get(&site.url("/orders/items?a=1&version=v2&b=2"), &[]).await;
    assert_eq!(r.body, "b GET /orders/items?a=1&b=2");
    let r = get(
        &site.url("/orders/items?version=v2"),
        &[("accept-version", "v1")],
    )
    .await;
    assert_eq!(
        r.body, "a GET /orders/items?version=v2",
        "the header comes first"
    );
    let r = get(&site.url("/orders/v1/items"), &[("accept-version", "v2")]).await;
    assert_eq!(r.body, "a GET /orders/items", "the path comes first");
    // 4. the default; not deprecated, no headers.
    let r = get(&site.url("/orders/items"), &[]).await;
    assert_eq!(r.body, "a GET /orders/items");
    assert!(r.all("deprecation").is_empty() && r.all("sunset").is_empty());
    // A resource id is not a version.
    assert_eq!(
        get(&site.url("/orders/123"), &[]).await.body,
        "a GET /orders/123"
    );

    // Retired: 410 without the upstream, however named.
    for (url, h) in [
        (site.url("/orders/v0/items"), vec![]),
        (site.url("/orders/items"), vec![("accept-version", "v0")]),
        (site.url("/orders/items?version=v0"), vec![]),
    ] {
        let r = get(&url, &h).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (410, "retired"),
            "{url} {h:?}"
        );
    }
    // Unknown: 404 unknown_version, however named.
    for (url, h) in [
        (site.url("/orders/v9/items"), vec![]),
        (site.url("/orders/items"), vec![("accept-version", "v9")]),
        (site.url("/orders/items?version=v9"), vec![]),
    ] {
        let r = get(&url, &h).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (404, "unknown_version"),
            "{url} {h:?}"
        );
        assert!(r.body.contains("'v9'"), "{}", r.body);
    }

    // Attacks on the version segment: refused cleanly, or routed as the normalized path says,
    // never to a version the call did not name.
    for path in [
        "/orders/%2e%2e/v2/x",
        "/orders/v2%2F../x",
        "/orders/v2%2f..%2fv1/x",
        "/orders/./v2/../v1/x",
        "/orders/v2/../x",
    ] {
        let r = get(&site.url(path), &[]).await;
        assert!(
            r.status == 400 || r.status == 404 || r.body.starts_with("a "),
            "{path}: {} {}",
            r.status,
            r.body
        );
        assert!(!r.body.starts_with("b "), "{path} reached v2: {}", r.body);
    }
    // An encoded version segment is the version its normal form names.
    let r = get(&site.url("/orders/%76%32/x"), &[]).await;
    assert_eq!(r.body, "b GET /orders/x");
    let r = get(&site.url("/orders/%2e/v2/x"), &[]).await;
    assert_eq!(r.body, "b GET /orders/x");
    let r = get(&site.url("/orders/%2e%2e/orders/v2/x"), &[]).await;
    assert!(
        r.status == 400 || r.body == "b GET /orders/x",
        "{} {}",
        r.status,
        r.body
    );
    // The header named twice, as a list, oddly, or huge: refused, never v2.
    let (code, text) = raw(
        &site,
        b"GET /orders/x HTTP/1.1\r\nHost: gw\r\nAccept-Version: v1\r\nAccept-Version: v2\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("bad_version"), "{text}");
    let r = get(&site.url("/orders/x"), &[("accept-version", "v1, v2")]).await;
    assert_eq!((r.status, r.code().as_str()), (400, "bad_version"));
    let (code, text) = raw(
        &site,
        b"GET /orders/x HTTP/1.1\r\nHost: gw\r\nAccept-Version: v2\x01\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 400, "{text}");
    let (code, text) = raw(
        &site,
        b"GET /orders/x HTTP/1.1\r\nHost: gw\r\nAccept-Version: v\xc3\xa92\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 400, "{text}");
    let huge = format!(
        "GET /orders/x HTTP/1.1\r\nHost: gw\r\nAccept-Version: v2{}\r\nConnection: close\r\n\r\n",
        "9".repeat(200_000)
    );
    let (code, text) = raw(&site, huge.as_bytes()).await;
    assert!(
        code == 431 || code == 400 || code == 0,
        "{code} {text:.200}"
    );
    assert!(!text.contains("b GET"));
    let r = get(&site.url("/orders/x?version=v1&version=v2"), &[]).await;
    assert_eq!((r.status, r.code().as_str()), (400, "bad_version"));

    // The record: N calls → N rows with the answering API's version and id.
    for _ in 0..25 {
        assert_eq!(get(&site.url("/orders/v2/count-me"), &[]).await.status, 200);
    }
    for _ in 0..7 {
        assert_eq!(get(&site.url("/plain/count-me"), &[]).await.status, 200);
    }
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE path = '/orders/v2/count-me' AND api_version = 'v2' AND api_id = 'orders-v2'",
        25,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE path = '/plain/count-me' AND api_version = '2024-01'",
        7,
        30,
    )
    .await;
    // Refusals of a version keep it; an unknown version has none.
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE status = 410 AND api_version = 'v0' AND api_id = 'orders-v0'",
        3,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE position(error, 'unknown_version') = 1 AND api_version = ''",
        3,
        30,
    )
    .await;
}

/// Client ids of the split.
fn client_id(i: usize) -> String {
    format!("client-{i:03}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_split_is_sticky_per_client_within_its_tolerance() {
    const CLIENTS: usize = 500;
    const PERCENT: f64 = 20.0;
    let (a, b) = (named("a").await, named("b").await);
    let site = site("versions_canary");
    let store = site.migrate().await;
    let auth = json!({"auth": ["api_key"]});
    let mut changes = vec![
        change(
            ApiFamily,
            "pay",
            json!({"name": "Payments", "default_version": "v1",
            "canary": {"version": "v2", "percent": PERCENT}}),
        ),
        change(Api, "pay-v1", version_api("pay", "v1", a, auth.clone())),
        change(Api, "pay-v2", version_api("pay", "v2", b, auth.clone())),
        change(
            Group,
            "payers",
            json!({"name": "Payers", "apis": ["pay-v1", "pay-v2"]}),
        ),
        // For a client granted the default version only (it never goes to the canary).
        change(
            Group,
            "v1-only",
            json!({"name": "v1 only", "apis": ["pay-v1"]}),
        ),
    ];
    // A client granted the default version only, whose bucket would take the canary.
    let solo = (0..)
        .map(|j| format!("solo-{j}"))
        .find(|id| {
            gatewatch_model::version::takes_canary(
                gatewatch_model::version::canary_bucket(id),
                PERCENT,
            )
        })
        .unwrap();
    changes.push(change(
        Client,
        &solo,
        json!({"name": solo, "groups": ["v1-only"]}),
    ));
    changes.push(change(
        EntityKind::ApiKey,
        "k-solo",
        json!({"client_id": solo, "hash": hash_secret(PEPPER.as_bytes(), "gwk_solo")}),
    ));
    for i in 0..CLIENTS {
        let id = client_id(i);
        changes.push(change(
            Client,
            &id,
            json!({"name": id, "groups": ["payers"]}),
        ));
        changes.push(change(
            EntityKind::ApiKey,
            &format!("k-{id}"),
            json!({"client_id": id, "hash": hash_secret(PEPPER.as_bytes(), &format!("gwk_{id}"))}),
        ));
    }
    put_entities(&store, &changes).await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    let key0 = format!("gwk_{}", client_id(0));
    until_answers(&site.url("/pay/warmup"), &[("x-api-key", &key0)], "").await;
    for _ in 0..200 {
        if get(&site.url("/pay/warmup"), &[("x-api-key", &key0)])
            .await
            .status
            == 200
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut canary = vec![false; CLIENTS];
    for (i, side) in canary.iter_mut().enumerate() {
        let key = format!("gwk_{}", client_id(i));
        let r = get(&site.url("/pay/x"), &[("x-api-key", &key)]).await;
        assert_eq!(r.status, 200, "{}: {}", client_id(i), r.body);
        *side = r.body.starts_with("b ");
        // The side is the client's bucket, as every gateway computes it.
        let bucket = gatewatch_model::version::canary_bucket(&client_id(i));
        assert_eq!(
            *side,
            gatewatch_model::version::takes_canary(bucket, PERCENT),
            "{}",
            client_id(i)
        );
    }
    // Binomial(500, 0.2): mean 100, standard deviation √(500·0.2·0.8) ≈ 8.9; the split must
    // fall within ±4 standard deviations (64..=136; false alarm odds ~6e-5 for a fair hash).
    let n = canary.iter().filter(|c| **c).count();
    assert!((64..=136).contains(&n), "{n} of {CLIENTS} took the canary");
    // Sticky: the same client lands on the same side on every call.
    for i in (0..CLIENTS).step_by(10) {
        let key = format!("gwk_{}", client_id(i));
        for _ in 0..3 {
            let r = get(&site.url("/pay/x"), &[("x-api-key", &key)]).await;
            assert_eq!(
                r.body.starts_with("b "),
                canary[i],
                "{} moved",
                client_id(i)
            );
        }
    }
    for _ in 0..3 {
        let r = get(&site.url("/pay/solo"), &[("x-api-key", "gwk_solo")]).await;
        assert_eq!(
            r.body, "a GET /pay/solo",
            "stays on the version it may call"
        );
    }
    // A version named explicitly is not split.
    let key = format!("gwk_{}", client_id(canary.iter().position(|c| *c).unwrap()));
    let r = get(&site.url("/pay/v1/x"), &[("x-api-key", &key)]).await;
    assert_eq!(r.body, "a GET /pay/x");
    // Records: the canary's calls are pay-v2's, with its version.
    let sql = "SELECT count() FROM api_calls WHERE api_id = 'pay-v2' AND api_version = 'v2' AND path = '/pay/x'";
    let want = n + 3 * canary.iter().step_by(10).filter(|c| **c).count();
    eventually(&store, sql, want as u64, 30).await;
}
