//! Idempotency keys and transaction tokens (issue 17, point 3) end to end: APIs and clients in
//! the configuration log, a real upstream that counts what reaches it, refusals and replays
//! counted in `api_calls` by outcome, attacks on both headers, and two gateways of one site.

use crate::access::second_gateway;
use crate::helpers::*;
use bytes::Bytes;
use gatewatch_model::secret::hash_secret;
use gatewatch_model::EntityKind::*;
use gatewatch_store::Store;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const PEPPER: &str = "e2e-idem-pepper-0123456789";

/// An upstream that counts the calls reaching each path (and those carrying a `Tx-Token`
/// header): `/charge` answers 201 with the running count (so a replay shows the first count),
/// `/fail` 500, `/big` 201 with 1000 bytes, `/slow` waits until the test lets it go
/// (`release`), then 200.
struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<HashMap<String, u64>>>,
    arrived: Arc<Notify>,
    release: Arc<Notify>,
}

impl Upstream {
    fn seen(&self, path: &str) -> u64 {
        self.seen.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

async fn counting_upstream() -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let arrived = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (s, a, r) = (seen.clone(), arrived.clone(), release.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (seen, arrived, release) = (s.clone(), a.clone(), r.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (seen, arrived, release) = (seen.clone(), arrived.clone(), release.clone());
                    async move {
                        let path = req.uri().path().to_string();
                        let token = req.headers().contains_key("tx-token");
                        let _ = req.into_body().collect().await;
                        let n = {
                            let mut m = seen.lock().unwrap();
                            if token {
                                *m.entry("Tx-Token".into()).or_insert(0) += 1;
                            }
                            let n = m.entry(path.clone()).or_insert(0);
                            *n += 1;
                            *n
                        };
                        let (status, body) = match path.as_str() {
                            "/charge" => (201, format!("{{\"charge\":{n}}}")),
                            "/fail" => (500, "{}".into()),
                            "/big" => (201, "x".repeat(1000)),
                            "/slow" => {
                                arrived.notify_one();
                                release.notified().await;
                                (200, format!("{{\"slow\":{n}}}"))
                            }
                            _ => (200, "{}".into()),
                        };
                        let mut r = Response::new(Full::new(Bytes::from(body)));
                        *r.status_mut() = StatusCode::from_u16(status).unwrap();
                        r.headers_mut()
                            .insert("location", format!("/charges/{n}").parse().unwrap());
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Upstream {
        addr,
        seen,
        arrived,
        release,
    }
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or(serde_json::Value::Null)
    }
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
    fn replayed(&self) -> bool {
        self.headers
            .get("idempotency-replayed")
            .is_some_and(|v| v == "true")
    }
}

/// One call: `headers` as given (an API key, an Idempotency-Key, a Tx-Token), `body` sent.
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
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn site(name: &str) -> Site {
    Site::new(
        name,
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!("[security]\npepper = \"{PEPPER}\"\n"),
    )
}

fn api(
    up: SocketAddr,
    prefix: &str,
    auth: &[&str],
    policy: serde_json::Value,
) -> serde_json::Value {
    let mut v = json!({"name": prefix, "prefix": prefix, "upstreams": [format!("http://{up}")],
        "strip_prefix": true, "auth": auth});
    if let serde_json::Value::Object(m) = policy {
        for (k, x) in m {
            v[k] = x;
        }
    }
    v
}

fn key(client: &str, key: &str) -> serde_json::Value {
    json!({"client_id": client, "hash": hash_secret(PEPPER.as_bytes(), key)})
}

/// Clients `acme` and `evil` (keys `gwk_acme`, `gwk_evil`) granted `apis`; `shop` granted none.
fn clients(apis: &[&str]) -> Vec<gatewatch_store::config_log::Change> {
    vec![
        change(Group, "std", json!({"name": "Standard", "apis": apis})),
        change(Client, "acme", json!({"name": "Acme", "groups": ["std"]})),
        change(Client, "evil", json!({"name": "Evil", "groups": ["std"]})),
        change(Client, "shop", json!({"name": "Shop"})),
        change(ApiKey, "k-acme", key("acme", "gwk_acme")),
        change(ApiKey, "k-evil", key("evil", "gwk_evil")),
        change(ApiKey, "k-shop", key("shop", "gwk_shop")),
    ]
}

/// Waits until `url` answers GET with something else than 404 (the API is routed).
async fn routed(url: &str, headers: &[(&str, &str)]) {
    let t0 = Instant::now();
    while call("GET", url, headers, "").await.status == 404 {
        assert!(t0.elapsed() < Duration::from_secs(20), "{url} never routed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn rows(store: &Store, filter: &str, want: u64) {
    eventually(
        store,
        &format!("SELECT count() FROM api_calls WHERE {filter}"),
        want,
        30,
    )
    .await;
}

const ACME: (&str, &str) = ("x-api-key", "gwk_acme");
const EVIL: (&str, &str) = ("x-api-key", "gwk_evil");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_replay_refuse_and_free_end_to_end() {
    let up = counting_upstream().await;
    let site = site("policy_idem");
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    let idem =
        json!({"idempotency": {"methods": ["POST"], "ttl_secs": 300, "max_answer_bytes": 256}});
    let mut changes = clients(&["pay", "refund"]);
    changes.push(change(
        Api,
        "pay",
        api(up.addr, "/pay", &["api_key"], idem.clone()),
    ));
    changes.push(change(
        Api,
        "refund",
        api(up.addr, "/refund", &["api_key"], idem),
    ));
    changes.push(change(
        Api,
        "open",
        api(
            up.addr,
            "/open",
            &[],
            json!({"idempotency": {"required": true}}),
        ),
    ));
    put_entities(&store, &changes).await;
    for p in ["/pay/x", "/refund/x", "/open/x"] {
        routed(&site.url(p), &[ACME]).await;
    }
    let charge = site.url("/pay/charge");
    let k1 = ("idempotency-key", "\"k1-8e03978e\"");

    // The first call runs; its repeats get its answer, replayed, and the upstream sees one.
    let a = call("POST", &charge, &[ACME, k1], "{\"amount\":5}").await;
    assert_eq!(
        (a.status, a.json()),
        (201, json!({"charge": 1})),
        "{}",
        a.text
    );
    assert!(!a.replayed());
    for _ in 0..2 {
        let r = call("POST", &charge, &[ACME, k1], "{\"amount\":5}").await;
        assert_eq!((r.status, r.json()), (201, json!({"charge": 1})));
        assert!(r.replayed());
        assert_eq!(r.headers["location"], "/charges/1");
        assert_ne!(r.headers["x-request-id"], a.headers["x-request-id"]);
    }
    assert_eq!(up.seen("/charge"), 1);
    // Another body under the same key: 422, not run.
    let r = call("POST", &charge, &[ACME, k1], "{\"amount\":500}").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "idempotency_key_reused")
    );
    // Attacks: another client's key is its own (no answer of acme's leaks to evil); the
    // same key on another API is another key; oversized, malformed and doubled keys.
    let r = call("POST", &charge, &[EVIL, k1], "{\"amount\":5}").await;
    assert_eq!((r.status, r.json()), (201, json!({"charge": 2})));
    assert!(!r.replayed());
    let r = call(
        "POST",
        &site.url("/refund/charge"),
        &[ACME, k1],
        "{\"amount\":5}",
    )
    .await;
    assert_eq!((r.status, r.json()), (201, json!({"charge": 3})));
    assert!(!r.replayed());
    let long = format!("\"{}\"", "k".repeat(256));
    let mut bad = 0;
    for k in [long.as_str(), "\"\"", "two words", "\"a\\nb\""] {
        let r = call("POST", &charge, &[ACME, ("idempotency-key", k)], "{}").await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "bad_idempotency_key"),
            "{k}"
        );
        bad += 1;
    }
    let r = call(
        "POST",
        &charge,
        &[ACME, ("idempotency-key", "a"), ("idempotency-key", "b")],
        "{}",
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "bad_idempotency_key"));
    bad += 1;
    assert_eq!(up.seen("/charge"), 3);

    // A 5xx frees the key: the repeat runs again.
    let k2 = ("idempotency-key", "k2");
    for _ in 0..2 {
        assert_eq!(
            call("POST", &site.url("/pay/fail"), &[ACME, k2], "{}")
                .await
                .status,
            500
        );
    }
    assert_eq!(up.seen("/fail"), 2);
    // An answer past max_answer_bytes is given once; its repeat is refused, not run.
    let k3 = ("idempotency-key", "k3");
    let r = call("POST", &site.url("/pay/big"), &[ACME, k3], "{}").await;
    assert_eq!((r.status, r.text.len()), (201, 1000));
    let r = call("POST", &site.url("/pay/big"), &[ACME, k3], "{}").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (409, "idempotency_answer_not_kept")
    );
    assert_eq!(up.seen("/big"), 1);

    // A repeat while the first still runs: 409; once it is done, its answer.
    let k4 = ("idempotency-key", "k4");
    let slow = site.url("/pay/slow");
    let first = {
        let slow = slow.clone();
        tokio::spawn(async move { call("POST", &slow, &[ACME, k4], "{}").await })
    };
    up.arrived.notified().await;
    let r = call("POST", &slow, &[ACME, k4], "{}").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (409, "idempotency_in_progress")
    );
    up.release.notify_one();
    let f = first.await.unwrap();
    assert_eq!((f.status, f.json()), (200, json!({"slow": 1})));
    let r = call("POST", &slow, &[ACME, k4], "{}").await;
    assert_eq!((r.status, r.json()), (200, json!({"slow": 1})));
    assert!(r.replayed());
    // Methods the policy does not list pass as usual.
    assert_eq!(call("GET", &charge, &[ACME], "").await.status, 201);

    // A public API that requires the key: scoped by API + key.
    let open = site.url("/open/charge");
    let r = call("POST", &open, &[], "{}").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "idempotency_key_required")
    );
    let r = call("POST", &open, &[("idempotency-key", "pub-1")], "{}").await;
    assert_eq!(r.status, 201);
    let again = call("POST", &open, &[("idempotency-key", "pub-1")], "{}").await;
    assert_eq!((again.status, &again.text), (201, &r.text));
    assert!(again.replayed());

    // The records: replays carry the kept status and the policy; refusals by outcome.
    rows(
        &store,
        "api_id = 'pay' AND has(policies, 'idempotency:replayed')",
        3,
    )
    .await;
    rows(
        &store,
        "api_id = 'pay' AND has(policies, 'idempotency:replayed') AND status = 201 AND outcome = 'ok'",
        2,
    )
    .await;
    rows(
        &store,
        "api_id = 'open' AND has(policies, 'idempotency:replayed')",
        1,
    )
    .await;
    rows(
        &store,
        "api_id = 'pay' AND outcome = 'refused_bad_request' AND status = 400 AND position(error, 'bad_idempotency_key') = 1",
        bad,
    )
    .await;
    for (status, code) in [
        (422, "idempotency_key_reused"),
        (409, "idempotency_in_progress"),
        (409, "idempotency_answer_not_kept"),
    ] {
        rows(
            &store,
            &format!("api_id = 'pay' AND outcome = 'refused_bad_request' AND status = {status} AND position(error, '{code}') = 1"),
            1,
        )
        .await;
    }
    rows(
        &store,
        "api_id = 'open' AND outcome = 'refused_bad_request' AND status = 400",
        1,
    )
    .await;
    // Answers from upstream on pay: 2 charges (acme's, evil's), 2 fails, 1 big, 1 slow, the
    // GET and the GET that waited for the route.
    rows(&store, "api_id = 'pay' AND NOT has(policies, 'idempotency:replayed') AND status IN (200, 201, 500)", 8).await;
}

/// A token MACed under the site's key as the gateway derives it (what an attacker with the
/// pepper could do; here to make an expired token that is otherwise valid).
fn mint(api: &str, client: &str, expires: u64) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut k = hmac::Hmac::<sha2::Sha256>::new_from_slice(PEPPER.as_bytes()).unwrap();
    k.update(b"gatewatch tx-token v1");
    let key = k.finalize().into_bytes();
    let mut payload = expires.to_be_bytes().to_vec();
    payload.extend_from_slice(&[7; 16]);
    payload.extend_from_slice(&(api.len() as u16).to_be_bytes());
    payload.extend_from_slice(api.as_bytes());
    payload.extend_from_slice(client.as_bytes());
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    m.update(&payload);
    format!(
        "gwtx1.{}.{}",
        b64.encode(&payload),
        b64.encode(m.finalize().into_bytes())
    )
}

async fn token(site: &Site, api: &str, who: (&str, &str)) -> String {
    let a = call(
        "POST",
        &site.url(&format!("/.gatewatch/tx-token?api={api}")),
        &[who],
        "",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.headers["cache-control"], "no-store");
    assert_eq!(a.json()["api_id"], api);
    a.json()["tx_token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_tokens_are_issued_as_the_api_authenticates_bound_and_used_once() {
    let up = counting_upstream().await;
    let site = site("policy_txtoken");
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    let tx = json!({"tx_token": {"methods": ["POST"], "ttl_secs": 60}});
    let mut changes = clients(&["pay", "refund", "orders", "both"]);
    changes.push(change(
        Api,
        "pay",
        api(up.addr, "/pay", &["api_key"], tx.clone()),
    ));
    changes.push(change(
        Api,
        "refund",
        api(up.addr, "/refund", &["api_key"], tx),
    ));
    changes.push(change(
        Api,
        "orders",
        api(up.addr, "/orders", &["api_key"], json!({})),
    ));
    changes.push(change(
        Api,
        "both",
        api(
            up.addr,
            "/both",
            &["api_key"],
            json!({"tx_token": {}, "idempotency": {}}),
        ),
    ));
    put_entities(&store, &changes).await;
    for p in ["/pay/x", "/refund/x", "/orders/x", "/both/x"] {
        routed(&site.url(p), &[ACME]).await;
    }
    let issue = |q: &str| site.url(&format!("/.gatewatch/tx-token{q}"));

    // The endpoint: POST, an API that takes tokens, the caller authenticated and allowed.
    let r = call("GET", &issue("?api=pay"), &[ACME], "").await;
    assert_eq!(
        (r.status, r.headers["allow"].to_str().unwrap()),
        (405, "POST")
    );
    let r = call("POST", &issue(""), &[ACME], "").await;
    assert_eq!((r.status, r.code().as_str()), (400, "bad_request"));
    for q in ["?api=nope", "?api=orders"] {
        let r = call("POST", &issue(q), &[ACME], "").await;
        assert_eq!((r.status, r.code().as_str()), (404, "unknown_api"), "{q}");
    }
    let r = call("POST", &issue("?api=pay"), &[], "").await;
    assert_eq!((r.status, r.code().as_str()), (401, "auth_required"));
    let r = call(
        "POST",
        &issue("?api=pay"),
        &[("x-api-key", "gwk_wrong")],
        "",
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_credentials"));
    let r = call("POST", &issue("?api=pay"), &[("x-api-key", "gwk_shop")], "").await;
    assert_eq!((r.status, r.code().as_str()), (403, "api_not_granted"));

    // One token, one call.
    let charge = site.url("/pay/charge");
    let r = call("POST", &charge, &[ACME], "{}").await;
    assert_eq!((r.status, r.code().as_str()), (403, "tx_token_required"));
    let t = token(&site, "pay", ACME).await;
    // Attacks before its use: another client, another API, altered, forged elsewhere.
    let r = call("POST", &charge, &[EVIL, ("tx-token", &t)], "{}").await;
    assert_eq!((r.status, r.code().as_str()), (403, "tx_token_invalid"));
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("another client"));
    let r = call(
        "POST",
        &site.url("/refund/charge"),
        &[ACME, ("tx-token", &t)],
        "{}",
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (403, "tx_token_invalid"));
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("another API"));
    let mut altered = t.clone().into_bytes();
    let i = altered.len() / 2;
    altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let expired = mint("pay", "acme", 1);
    let long = "a".repeat(4000);
    for bad in [
        altered.as_str(),
        expired.as_str(),
        "gwtx1.AAAA.AAAA",
        long.as_str(),
    ] {
        let r = call("POST", &charge, &[ACME, ("tx-token", bad)], "{}").await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "tx_token_invalid"),
            "{}",
            r.text
        );
    }
    assert_eq!(up.seen("/charge"), 0);
    let r = call("POST", &charge, &[ACME, ("tx-token", &t)], "{}").await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = call("POST", &charge, &[ACME, ("tx-token", &t)], "{}").await;
    assert_eq!((r.status, r.code().as_str()), (403, "tx_token_used"));
    assert_eq!(up.seen("/charge"), 1);
    // A valid MAC made with the site's key for an unexpired time passes (the key is the
    // pepper's: it must stay secret), once.
    let fresh = mint("pay", "acme", u64::MAX / 2);
    assert_eq!(
        call("POST", &charge, &[ACME, ("tx-token", &fresh)], "{}")
            .await
            .status,
        201
    );
    assert_eq!(
        call("POST", &charge, &[ACME, ("tx-token", &fresh)], "{}")
            .await
            .code(),
        "tx_token_used"
    );
    // GET is not in the policy's methods.
    assert_eq!(call("GET", &charge, &[ACME], "").await.status, 201);
    assert_eq!(up.seen("Tx-Token"), 0, "the token stops at the gateway");

    // With idempotency on the same API, the keyed repeat carries the used token and is
    // replayed; another key with the same token is refused.
    let both = site.url("/both/charge");
    let t = token(&site, "both", ACME).await;
    let k = ("idempotency-key", "\"order-77\"");
    let first = call("POST", &both, &[ACME, k, ("tx-token", &t)], "{}").await;
    assert_eq!(first.status, 201);
    let again = call("POST", &both, &[ACME, k, ("tx-token", &t)], "{}").await;
    assert_eq!(
        (again.status, again.text.as_str(), again.replayed()),
        (201, first.text.as_str(), true)
    );
    let other = call(
        "POST",
        &both,
        &[ACME, ("idempotency-key", "o-78"), ("tx-token", &t)],
        "{}",
    )
    .await;
    assert_eq!(
        (other.status, other.code().as_str()),
        (403, "tx_token_used")
    );

    // Records: the endpoint's under its route, refusals by code, uses noted.
    rows(
        &store,
        "route = '/.gatewatch/tx-token' AND outcome = 'ok' AND client_id = 'acme'",
        2,
    )
    .await;
    rows(
        &store,
        "route = '/.gatewatch/tx-token' AND outcome = 'refused_auth'",
        2,
    )
    .await;
    rows(
        &store,
        "route = '/.gatewatch/tx-token' AND outcome = 'refused_not_allowed' AND client_id = 'shop'",
        1,
    )
    .await;
    rows(
        &store,
        "route = '/.gatewatch/tx-token' AND outcome = 'no_route'",
        3,
    )
    .await;
    for (code, n) in [
        ("tx_token_required", 1),
        ("tx_token_invalid", 6),
        ("tx_token_used", 2),
    ] {
        rows(
            &store,
            &format!("api_id IN ('pay', 'refund') AND outcome = 'refused_not_allowed' AND status = 403 AND position(error, '{code}') = 1"),
            n,
        )
        .await;
    }
    rows(
        &store,
        "api_id = 'pay' AND has(policies, 'tx_token:used') AND status = 201",
        2,
    )
    .await;
    rows(
        &store,
        "api_id = 'both' AND has(policies, 'idempotency:replayed')",
        1,
    )
    .await;
    // No token in any record (they are not secrets, but no record needs them).
    rows(&store, "position(error, 'gwtx1.') > 0", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_two_gateways_keys_are_per_gateway_and_tokens_verify_on_both() {
    let up = counting_upstream().await;
    let a = site("policy_idem_two");
    let store = a.migrate().await;
    let b = second_gateway(&a);
    let _collector = a.start("collector").await;
    let _ga = a.start("gateway").await;
    let _gb = b.start("gateway").await;
    let mut changes = clients(&["pay"]);
    changes.push(change(
        Api,
        "pay",
        api(
            up.addr,
            "/pay",
            &["api_key"],
            json!({"idempotency": {}, "tx_token": {"methods": ["PUT"]}}),
        ),
    ));
    put_entities(&store, &changes).await;
    routed(&a.url("/pay/x"), &[ACME]).await;
    routed(&b.url("/pay/x"), &[ACME]).await;

    // The stated bound: a key's first call runs once per gateway it reaches, each gateway
    // then replays its own first answer.
    let k = ("idempotency-key", "\"two-gw-1\"");
    let on = |s: &Site| s.url("/pay/charge");
    let r = call("POST", &on(&a), &[ACME, k], "{}").await;
    assert_eq!(r.json(), json!({"charge": 1}));
    assert!(call("POST", &on(&a), &[ACME, k], "{}").await.replayed());
    let r = call("POST", &on(&b), &[ACME, k], "{}").await;
    assert_eq!((r.json(), r.replayed()), (json!({"charge": 2}), false));
    let r = call("POST", &on(&b), &[ACME, k], "{}").await;
    assert_eq!((r.json(), r.replayed()), (json!({"charge": 2}), true));
    assert_eq!(up.seen("/charge"), 2);

    // A token issued by one gateway verifies on the other; "once" holds per gateway.
    let t = token(&a, "pay", ACME).await;
    let put = |s: &Site| s.url("/pay/charge");
    let used = |r: &Answer| (r.status, r.code());
    let r = call("PUT", &put(&b), &[ACME, ("tx-token", &t)], "{}").await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = call("PUT", &put(&b), &[ACME, ("tx-token", &t)], "{}").await;
    assert_eq!(used(&r), (403, "tx_token_used".to_string()));
    let r = call("PUT", &put(&a), &[ACME, ("tx-token", &t)], "{}").await;
    assert_eq!(r.status, 201, "the bound: once per gateway");
    let r = call("PUT", &put(&a), &[ACME, ("tx-token", &t)], "{}").await;
    assert_eq!(used(&r), (403, "tx_token_used".to_string()));

    rows(
        &store,
        "api_id = 'pay' AND has(policies, 'idempotency:replayed')",
        2,
    )
    .await;
    rows(
        &store,
        "api_id = 'pay' AND has(policies, 'idempotency:replayed') AND node LIKE 'e2e-b-%'",
        1,
    )
    .await;
    rows(
        &store,
        "api_id = 'pay' AND has(policies, 'tx_token:used')",
        2,
    )
    .await;
    rows(
        &store,
        "api_id = 'pay' AND position(error, 'tx_token_used') = 1",
        2,
    )
    .await;
}
