//! Credentials stop at the gateway: the key, Basic pair or bearer token that opened a call is
//! not sent upstream (unless the API sets `forward_credentials`), and the upstream learns the
//! caller from `X-Gatewatch-Client`, which no client can set itself.

use crate::helpers::*;
use bytes::Bytes;
use gatewatch_model::secret::hash_secret;
use gatewatch_model::EntityKind;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const PEPPER: &str = "e2e-credentials-pepper-0123456789";
const JWT_SECRET: &str = "e2e-credentials-jwt-0123456789abcdef";
const KEY: &str = "gwk_cred_acme";

/// An upstream that answers with the headers it received: `[[name, value], …]`.
async fn header_echo() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let seen: Vec<(String, String)> = req
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.to_string(),
                                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                )
                            })
                            .collect();
                        let body = serde_json::to_vec(&seen).unwrap();
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn b64(bytes: &[u8], url: bool) -> String {
    use base64::Engine as _;
    if url {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// An HS256 JWT (its signature is the HMAC-SHA256 that `model::secret` computes).
fn jwt(claims: serde_json::Value) -> String {
    let head = b64(br#"{"alg":"HS256","typ":"JWT"}"#, true);
    let input = format!("{head}.{}", b64(claims.to_string().as_bytes(), true));
    let hex = hash_secret(JWT_SECRET.as_bytes(), &input);
    let hex = hex.trim_start_matches("hmac-sha256:");
    let sig: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    format!("{input}.{}", b64(&sig, true))
}

/// Status and the headers the upstream saw (empty unless it answered).
async fn call(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = Request::get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn values<'a>(seen: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    seen.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_stop_at_the_gateway_and_the_client_header_cannot_be_forged() {
    let up = header_echo().await;
    let tail = format!(
        "[security]\npepper = \"{PEPPER}\"\n\n[gateway.jwt]\nhs256_secrets = [\"{JWT_SECRET}\"]\n\n\
         [[routes]]\nprefix = \"/open\"\nupstreams = [\"http://{up}\"]\n"
    );
    let site = Site::new(
        "credentials",
        &gatewatch_migrations::testing::clickhouse_url(),
        &tail,
    );
    let store = site.migrate().await;
    let _gateway = site.start("gateway").await;
    let api = |prefix: &str, forward: bool| {
        json!({"name": prefix, "prefix": prefix, "upstreams": [format!("http://{up}")],
            "auth": ["api_key", "basic", "jwt"], "forward_credentials": forward})
    };
    put_entities(
        &store,
        &[
            change(EntityKind::Api, "strip", api("/strip", false)),
            change(EntityKind::Api, "keep", api("/keep", true)),
            change(
                EntityKind::Group,
                "all",
                json!({"name": "All", "apis": ["strip", "keep"]}),
            ),
            change(
                EntityKind::Client,
                "acme",
                json!({"name": "Acme", "groups": ["all"],
                    "secret_hash": hash_secret(PEPPER.as_bytes(), "acme-secret")}),
            ),
            change(
                EntityKind::ApiKey,
                "k-acme",
                json!({"client_id": "acme", "hash": hash_secret(PEPPER.as_bytes(), KEY)}),
            ),
        ],
    )
    .await;
    let t0 = Instant::now();
    while call(&site.url("/keep/x"), &[("x-api-key", KEY)]).await.0 != 200 {
        assert!(t0.elapsed() < Duration::from_secs(20), "APIs never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let basic = format!("Basic {}", b64(b"acme:acme-secret", false));
    let token = jwt(json!({"sub": "acme", "exp": chrono::Utc::now().timestamp() + 300}));
    let bearer = format!("Bearer {token}");
    let apikey = format!("ApiKey {KEY}");
    let forms: [(&str, &str, &str); 4] = [
        ("x-api-key", KEY, "x-api-key"),
        ("authorization", &apikey, "authorization"),
        ("authorization", &basic, "authorization"),
        ("authorization", &bearer, "authorization"),
    ];
    for (header, value, carried) in forms {
        // A forged client header rides along every time.
        let sent = [(header, value), ("x-gatewatch-client", "root")];
        let (status, seen) = call(&site.url("/strip/x"), &sent).await;
        assert_eq!(status, 200, "{header}: {value}");
        assert!(
            values(&seen, carried).is_empty(),
            "{value} reached the upstream: {seen:?}"
        );
        assert_eq!(values(&seen, "x-gatewatch-client"), ["acme"], "{seen:?}");

        let (status, seen) = call(&site.url("/keep/x"), &sent).await;
        assert_eq!(status, 200);
        assert_eq!(
            values(&seen, carried),
            [value],
            "forward_credentials: {seen:?}"
        );
        assert_eq!(values(&seen, "x-gatewatch-client"), ["acme"], "{seen:?}");
    }

    // A refused call never reaches the upstream; a public API's caller is nobody, whatever it
    // claims, and its headers (nothing authenticated it) go on as sent.
    let (status, _) = call(
        &site.url("/strip/x"),
        &[("x-gatewatch-client", "acme"), ("x-api-key", "gwk_wrong")],
    )
    .await;
    assert_eq!(status, 401);
    let (status, seen) = call(
        &site.url("/open/x"),
        &[
            ("x-gatewatch-client", "acme"),
            ("X-Gatewatch-Client", "root"),
            ("x-api-key", "meant-for-the-upstream"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(values(&seen, "x-gatewatch-client").is_empty(), "{seen:?}");
    assert_eq!(values(&seen, "x-api-key"), ["meant-for-the-upstream"]);
}
