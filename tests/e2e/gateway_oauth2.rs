//! The `oauth2` auth method in the running binary, with tokens of a trusted issuer
//! (`[[gateway.oauth.trusted_issuers]]`) whose JWKS a server in the test publishes and counts:
//! a valid token is let through and recorded with `auth_method`, `token_jti` and `scopes`; a
//! token lacking a scope is refused 403 `insufficient_scope` with its RFC 6750 challenge; each
//! attack on the token (expired, wrong `aud`/`iss`, `alg: none`, HS256 keyed with the RSA
//! public key, a changed payload, a forged signature, a client gatewatch does not know) is
//! 401 `invalid_token`; the IdP's key rotation takes one JWKS fetch, a flood of made-up `kid`s
//! no more than the rate limit allows, and with the JWKS server down the keys held still
//! verify. N calls make N records.
//!
//! The gateway's own tokens (its token endpoint) are tested with the authorization server.

use crate::helpers::*;
use base64::Engine as _;
use bytes::Bytes;
use gatewatch_model::EntityKind;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ISS: &str = "https://idp.test";
const AUD: &str = "orders-api";
const RSA_KEY: &str = include_str!("../../gateway/src/access/testdata/rs256-test-only.key.pem");
const JWT_SECRET: &str = "e2e-oauth2-jwt-secret-0123456789";
const RSA_PUB: &str = include_str!("../../gateway/src/access/testdata/rs256-test-only.pub.pem");

/// The IdP's JWKS endpoint: serves `keys`, counts GETs, drops connections while `down`.
struct Jwks {
    addr: std::net::SocketAddr,
    keys: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
}

impl Jwks {
    async fn start() -> Jwks {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let keys = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let (k, h, d) = (keys.clone(), hits.clone(), down.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    continue;
                };
                let (k, h, d) = (k.clone(), h.clone(), d.clone());
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    let mut buf = [0u8; 2048];
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    if d.load(Ordering::SeqCst) {
                        return; // dropped: the IdP is down
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let body = json!({ "keys": *k.lock().unwrap() }).to_string();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=3600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                });
            }
        });
        Jwks {
            addr,
            keys,
            hits,
            down,
        }
    }

    fn publish(&self, key: &EncodingKey, alg: Algorithm, kid: &str) {
        let mut j = Jwk::from_encoding_key(key, alg).unwrap();
        j.common.key_id = Some(kid.into());
        self.keys
            .lock()
            .unwrap()
            .push(serde_json::to_value(j).unwrap());
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

fn ec_key(alg: &'static rcgen::SignatureAlgorithm) -> EncodingKey {
    let pair = rcgen::KeyPair::generate_for(alg).unwrap();
    EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap()
}

fn sign(key: &EncodingKey, alg: Algorithm, kid: &str, claims: &Value) -> String {
    let mut h = Header::new(alg);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, claims, key).unwrap()
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Status, `WWW-Authenticate` and error code of one GET; `calls` counts every request sent.
struct Gw {
    calls: AtomicU64,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
}

impl Gw {
    fn new() -> Gw {
        Gw {
            calls: AtomicU64::new(0),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn get(&self, url: &str, token: Option<&str>) -> (u16, String, String) {
        let mut req = hyper::Request::get(url);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        let r = self
            .client
            .request(req.body(Empty::new()).unwrap())
            .await
            .unwrap();
        let status = r.status().as_u16();
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let code = v["error"]["code"].as_str().unwrap_or("").to_string();
        (status, challenge, code)
    }

    /// Calls until the status is `want` (the gateway polls the configuration log).
    async fn until(&self, url: &str, token: &str, want: u16) {
        let t0 = Instant::now();
        loop {
            let got = self.get(url, Some(token)).await;
            if got.0 == want {
                return;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "{url}: {got:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_issuer_tokens_are_verified_scoped_recorded_and_rotated() {
    let up = upstream().await;
    let jwks = Jwks::start().await;
    let rsa = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
    let ec = ec_key(&rcgen::PKCS_ECDSA_P256_SHA256);
    jwks.publish(&rsa, Algorithm::RS256, "rsa-1");
    jwks.publish(&ec, Algorithm::ES256, "ec-1");
    let tail = format!(
        "[gateway.jwt]\nhs256_secrets = [\"{JWT_SECRET}\"]\n[[gateway.oauth.trusted_issuers]]\nissuer = \"{ISS}\"\njwks_uri = \"http://{}/jwks\"\naudience = \"{AUD}\"\n",
        jwks.addr
    );
    let site = Site::new(
        "gateway_oauth2",
        &gatewatch_migrations::testing::clickhouse_url(),
        &tail,
    );
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;

    let upstream = format!("http://{up}");
    use EntityKind::*;
    put_entities(
        &store,
        &[
            change(
                Api,
                "orders",
                json!({"name": "Orders", "prefix": "/orders",
                "upstreams": [upstream], "strip_prefix": true, "auth": ["oauth2"],
                "scopes": ["orders.read"]}),
            ),
            change(
                Api,
                "plain",
                json!({"name": "Plain", "prefix": "/plain",
                "upstreams": [upstream], "strip_prefix": true, "auth": ["oauth2"]}),
            ),
            change(
                Api,
                "both",
                json!({"name": "Both", "prefix": "/both",
                "upstreams": [upstream], "strip_prefix": true, "auth": ["jwt", "oauth2"]}),
            ),
            change(
                Group,
                "std",
                json!({"name": "Standard", "apis": ["plain", "both"]}),
            ),
            change(Client, "acme", json!({"name": "Acme", "groups": ["std"]})),
            change(Client, "beta", json!({"name": "Beta"})),
        ],
    )
    .await;
    let gw = Gw::new();
    let orders = site.url("/orders/ok");
    let plain = site.url("/plain/ok");
    let exp = chrono::Utc::now().timestamp() + 600;
    let claims = |client: &str, jti: &str, scope: &str| {
        json!({"iss": ISS, "aud": AUD, "exp": exp, "client_id": client, "jti": jti,
               "scope": scope, "sub": "someone-else"})
    };

    // Valid: RS256 with `scope` and `client_id`; ES256 with `scp`, `azp` and `aud` an array.
    let good = sign(
        &rsa,
        Algorithm::RS256,
        "rsa-1",
        &claims("acme", "jti-acme", "orders.read orders.write"),
    );
    gw.until(&orders, &good, 200).await;
    let mut n_good = 1u64;
    for _ in 0..4 {
        assert_eq!(gw.get(&orders, Some(&good)).await.0, 200);
        n_good += 1;
    }
    let by_scp = sign(
        &ec,
        Algorithm::ES256,
        "ec-1",
        &json!({"iss": ISS, "aud": ["other", AUD], "exp": exp, "azp": "beta", "jti": "jti-beta",
                "scp": ["orders.read"]}),
    );
    assert_eq!(gw.get(&orders, Some(&by_scp)).await.0, 200);
    let start_hits = jwks.hits();
    assert_eq!(start_hits, 1, "one fetch at start, none for known kids");

    // A token lacking the API's scope: 403 with the scope needed.
    let narrow = sign(
        &rsa,
        Algorithm::RS256,
        "rsa-1",
        &claims("acme", "jti-narrow", "orders.write"),
    );
    assert_eq!(
        gw.get(&orders, Some(&narrow)).await,
        (
            403,
            "Bearer error=\"insufficient_scope\", scope=\"orders.read\"".into(),
            "insufficient_scope".into()
        )
    );
    // No token at all.
    assert_eq!(
        gw.get(&orders, None).await,
        (401, "Bearer".into(), "auth_required".into())
    );
    // An API without scopes: the client's groups grant it (beta has none).
    assert_eq!(gw.get(&plain, Some(&good)).await.0, 200);
    assert_eq!(gw.get(&plain, Some(&by_scp)).await.2, "api_not_granted");

    // `jwt` and `oauth2` on one API: a token of a trusted issuer is `oauth2`, any other Bearer
    // token goes to the `[gateway.jwt]` keys.
    let both = site.url("/both/ok");
    let static_jwt = sign(
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        Algorithm::HS256,
        "any",
        &json!({"sub": "acme", "exp": exp}),
    );
    assert_eq!(gw.get(&both, Some(&static_jwt)).await.0, 200);
    assert_eq!(gw.get(&both, Some(&good)).await.0, 200);
    let foreign = sign(
        &rsa,
        Algorithm::RS256,
        "rsa-1",
        &json!({"iss": "https://evil.test", "aud": AUD, "exp": exp, "client_id": "acme"}),
    );
    assert_eq!(gw.get(&both, Some(&foreign)).await.2, "invalid_credentials");

    // Attacks on the token: each 401 invalid_token with the challenge.
    let c = claims("acme", "j", "orders.read");
    let with = |f: &str, v: Value| {
        let mut x = c.clone();
        x[f] = v;
        x
    };
    let other_secret = EncodingKey::from_secret(b"not the key");
    let tampered = {
        let mut p: Vec<String> = good.split('.').map(String::from).collect();
        p[1] = b64(&claims(
            "acme",
            "jti-acme",
            "orders.read orders.write admin",
        ));
        p.join(".")
    };
    let attacks: Vec<(&str, String)> = vec![
        (
            "expired",
            sign(
                &rsa,
                Algorithm::RS256,
                "rsa-1",
                &with("exp", json!(exp - 3600)),
            ),
        ),
        (
            "wrong aud",
            sign(
                &rsa,
                Algorithm::RS256,
                "rsa-1",
                &with("aud", json!("billing-api")),
            ),
        ),
        (
            "untrusted iss",
            sign(
                &rsa,
                Algorithm::RS256,
                "rsa-1",
                &with("iss", json!("https://evil.test")),
            ),
        ),
        (
            "not yet valid",
            sign(&rsa, Algorithm::RS256, "rsa-1", &with("nbf", json!(exp))),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "kid": "rsa-1"})),
                b64(&c)
            ),
        ),
        (
            "HS256 keyed with the RSA public key",
            sign(
                &EncodingKey::from_secret(RSA_PUB.as_bytes()),
                Algorithm::HS256,
                "rsa-1",
                &c,
            ),
        ),
        (
            "HS256 with another secret",
            sign(&other_secret, Algorithm::HS256, "rsa-1", &c),
        ),
        ("tampered payload", tampered),
        (
            "forged: another EC key under ec-1",
            sign(
                &ec_key(&rcgen::PKCS_ECDSA_P256_SHA256),
                Algorithm::ES256,
                "ec-1",
                &c,
            ),
        ),
        (
            "unknown client",
            sign(
                &rsa,
                Algorithm::RS256,
                "rsa-1",
                &with("client_id", json!("ghost")),
            ),
        ),
        ("not a JWT", "abc.def".into()),
    ];
    for (what, token) in &attacks {
        assert_eq!(
            gw.get(&orders, Some(token)).await,
            (
                401,
                "Bearer error=\"invalid_token\"".into(),
                "invalid_token".into()
            ),
            "{what}"
        );
    }
    assert_eq!(jwks.hits(), start_hits, "known kids never fetch");

    // The IdP rotates to a new key (ES384): its first token costs one fetch, then works.
    let new = ec_key(&rcgen::PKCS_ECDSA_P384_SHA384);
    jwks.publish(&new, Algorithm::ES384, "ec-2");
    let rotated = sign(
        &new,
        Algorithm::ES384,
        "ec-2",
        &claims("acme", "jti-rotated", "orders.read"),
    );
    assert_eq!(gw.get(&orders, Some(&rotated)).await.0, 200);
    assert_eq!(gw.get(&orders, Some(&rotated)).await.0, 200);
    assert_eq!(jwks.hits(), start_hits + 1);

    // A flood of made-up kids: refused, and at most one fetch per 10 s interval.
    let t0 = Instant::now();
    let flood: Vec<_> = (0..40)
        .map(|i| {
            let t = sign(
                &rsa,
                Algorithm::RS256,
                &format!("made-up-{i}"),
                &claims("acme", "f", "orders.read"),
            );
            let (gw, url) = (&gw, orders.clone());
            async move { gw.get(&url, Some(&t)).await }
        })
        .collect();
    for got in futures_join(flood).await {
        assert_eq!((got.0, got.2.as_str()), (401, "invalid_token"));
    }
    let allowed = start_hits + 1 + t0.elapsed().as_secs() / 10 + 1;
    assert!(
        jwks.hits() <= allowed,
        "{} fetches for a flood of unknown kids (allowed {allowed})",
        jwks.hits()
    );

    // The IdP goes down: the keys held still verify; an unknown kid is refused.
    jwks.down.store(true, Ordering::SeqCst);
    assert_eq!(gw.get(&orders, Some(&good)).await.0, 200);
    n_good += 1;
    assert_eq!(gw.get(&orders, Some(&rotated)).await.0, 200);
    let stray = sign(
        &rsa,
        Algorithm::RS256,
        "after-down",
        &claims("acme", "s", "orders.read"),
    );
    assert_eq!(gw.get(&orders, Some(&stray)).await.2, "invalid_token");
    assert_eq!(gw.get(&orders, Some(&by_scp)).await.0, 200);

    // The records: N calls, N records; the token's jti and scopes, never the token.
    let n = gw.calls.load(Ordering::SeqCst);
    eventually(&store, "SELECT count() FROM api_calls", n, 30).await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'orders' AND status = 200 \
         AND client_id = 'acme' AND auth_method = 'oauth2' AND token_jti = 'jti-acme' \
         AND scopes = 'orders.read orders.write'",
        n_good,
        30,
    )
    .await;
    for (method, jti) in [("jwt", ""), ("oauth2", "jti-acme")] {
        eventually(
            &store,
            &format!(
                "SELECT count() FROM api_calls WHERE api_id = 'both' AND status = 200 \
                 AND client_id = 'acme' AND auth_method = '{method}' AND token_jti = '{jti}'"
            ),
            1,
            30,
        )
        .await;
    }
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'orders' AND status = 200 \
         AND client_id = 'beta' AND token_jti = 'jti-beta' AND scopes = 'orders.read'",
        2,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE status = 403 AND outcome = 'refused_not_allowed' \
         AND error LIKE 'insufficient_scope: %orders.read%' AND client_id = 'acme' \
         AND token_jti = 'jti-narrow' AND scopes = 'orders.write' AND auth_method = 'oauth2'",
        1,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE status = 401 AND error LIKE 'invalid_token: %ghost%' \
         AND auth_method = 'oauth2' AND client_id = ''",
        1,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE status = 401 AND error LIKE 'invalid_token: %expired%'",
        1,
        30,
    )
    .await;
    // No token text anywhere in the records.
    let sig = good.rsplit('.').next().unwrap();
    eventually(
        &store,
        &format!(
            "SELECT count() FROM api_calls WHERE position(error, '{sig}') > 0 \
             OR position(token_jti, '.') > 0"
        ),
        0,
        5,
    )
    .await;
}

/// Runs the futures together on this task.
async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::with_capacity(fs.len());
    let mut pinned: Vec<_> = fs.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    for d in done {
        set.push(d.unwrap());
    }
    set
}
