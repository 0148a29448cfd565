//! Request signatures (RFC 9421) in the running binary: an API with `signature` put through
//! the admin API, a client with a signing secret made by `POST
//! /api/v1/clients/{id}/signing-secret` (admin only, shown once, audited, never answered
//! again) and two registered public keys (ed25519, ecdsa-p256-sha256). Calls signed by
//! `gatewatch sign` and by each key pass to a real upstream with their body intact; every
//! attack (no signature, a wrong key, an altered body, path, query or method, a replayed
//! nonce, an old `created`, a component left out, malformed fields, another client's keyid)
//! is 401 `bad_signature` with its reason and never reaches the upstream. Rows are counted by
//! outcome, and the passed ones carry `signature:<keyid>` in `policies`.

use crate::admin::{add_user, Api};
use crate::helpers::*;
use bytes::Bytes;
use gatewatch_gateway::request_signing::{self as signing, SigningKey};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PEPPER: &str = "e2e-signature-pepper-0123456789";
const PW: &str = "a long test password";
const ALL: [&str; 4] = ["@method", "@path", "@query", "content-digest"];

/// An upstream that answers every request 200 with its body, and counts them.
async fn counting_upstream() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let h = h.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let h = h.clone();
                        async move {
                            h.fetch_add(1, Ordering::SeqCst);
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(body)))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (addr, hits)
}

/// What it is, where it goes, the headers, the body, the reason the answer must give.
type Attack<'a> = (&'a str, String, Vec<(String, String)>, Vec<u8>, &'a str);

struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: Value,
    text: String,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

async fn send(
    method: &str,
    url: &str,
    api_key: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("x-api-key", api_key);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = client
        .request(req.body(Full::new(Bytes::from(body.to_vec()))).unwrap())
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The signature headers for a request (the library `gatewatch sign` prints from).
fn sign(
    key: &SigningKey,
    keyid: &str,
    (method, url, body): (&str, &str, &[u8]),
    components: &[&str],
    created: i64,
    nonce: Option<&str>,
) -> Vec<(String, String)> {
    let comps: Vec<String> = components.iter().map(|c| c.to_string()).collect();
    let nonce = nonce
        .map(String::from)
        .or_else(|| Some(signing::random_nonce().unwrap()));
    signing::sign(
        &signing::Request {
            method,
            url,
            headers: &[],
            body,
        },
        &signing::Options {
            components: &comps,
            keyid,
            key,
            created,
            nonce,
            label: "sig1",
        },
    )
    .unwrap()
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn set(headers: &mut [(String, String)], name: &str, value: &str) {
    headers
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .unwrap()
        .1 = value.to_string();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_calls_pass_and_every_attack_is_refused_and_recorded() {
    let (up, hits) = counting_upstream().await;
    let site = Site::new(
        "policy_signature",
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!("[security]\npepper = \"{PEPPER}\"\n"),
    );
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _dashboards = site.start("dashboards").await;
    let _gateway = site.start("gateway").await;
    add_user(&site, "root", "admin", PW);
    add_user(&site, "opsy", "ops", PW);
    let admin = Api::login(site.dashboards, "root", PW).await;

    // Keys of team-a: an Ed25519 and a P-256 key pair (the private parts stay here).
    let ed_pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .unwrap()
        .serialize_pem();
    let ec_pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let ed = SigningKey::from_pem(&ed_pem).unwrap();
    let ec = SigningKey::from_pem(&ec_pem).unwrap();

    let r = admin
        .post(
            "/api/v1/apis",
            json!({"id": "orders", "name": "Orders", "prefix": "/orders",
            "upstreams": [format!("http://{up}")], "strip_prefix": true, "auth": ["api_key"],
            "signature": {"components": ALL, "max_age_secs": 60}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for id in ["g-orders"] {
        let r = admin
            .post(
                "/api/v1/groups",
                json!({"id": id, "name": id, "apis": ["orders"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = admin
        .post("/api/v1/clients", json!({"id": "team-a", "name": "Team A", "groups": ["g-orders"],
            "signing_keys": [
                {"id": "ed", "alg": "ed25519", "public_key": ed.public_key_pem().unwrap()},
                {"id": "ec", "alg": "ecdsa-p256-sha256", "public_key": ec.public_key_pem().unwrap()}]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = admin
        .post(
            "/api/v1/clients",
            json!({"id": "team-b", "name": "Team B", "groups": ["g-orders"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key_a = admin
        .post("/api/v1/clients/team-a/keys", json!({}))
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let key_b = admin
        .post("/api/v1/clients/team-b/keys", json!({}))
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_string();

    // The signing secret: admin only, shown once, sealed on the client, audited.
    let ops = Api::login(site.dashboards, "opsy", PW).await;
    assert_eq!(
        ops.post("/api/v1/clients/team-a/signing-secret", json!({}))
            .await
            .status,
        403
    );
    assert_eq!(
        admin
            .post("/api/v1/clients/nobody/signing-secret", json!({}))
            .await
            .status,
        404
    );
    let r = admin
        .post("/api/v1/clients/team-a/signing-secret", json!({}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret_a = r.body["secret"].as_str().unwrap().to_string();
    assert!(
        secret_a.starts_with("gwsig_") && secret_a.len() == 6 + 43,
        "{secret_a}"
    );
    assert_eq!(
        r.body["entity"]["body"]["has_signing_secret"], true,
        "{}",
        r.text
    );
    let r = admin
        .post("/api/v1/clients/team-b/signing-secret", json!({}))
        .await;
    let secret_b = r.body["secret"].as_str().unwrap().to_string();
    for path in [
        "/api/v1/clients/team-a",
        "/api/v1/clients",
        "/api/v1/clients/team-a/history",
        "/api/v1/audit",
    ] {
        let r = admin.call("GET", path, None, &[]).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(
            !r.text.contains(&secret_a) && !r.text.contains("sealed:v1:"),
            "{path}: {}",
            r.text
        );
    }
    let stored = store
        .fetch_u64("SELECT count() FROM config_log WHERE id = 'team-a' AND position(body, 'sealed:v1:') > 0 AND position(body, 'gwsig_') = 0")
        .await
        .unwrap();
    assert!(stored >= 1, "the secret is stored sealed only");
    assert_eq!(
        store.fetch_u64("SELECT count() FROM audit_log WHERE action = 'client.signing_secret' AND actor = 'root'").await.unwrap(),
        2
    );
    // A GET → PUT round trip keeps it.
    let c = admin.call("GET", "/api/v1/clients/team-a", None, &[]).await;
    let mut body = c.body["body"].clone();
    body["description"] = json!("updated");
    let etag = c.headers["etag"].to_str().unwrap().to_string();
    let r = admin
        .call(
            "PUT",
            "/api/v1/clients/team-a",
            Some(&body.to_string()),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(
        (r.status, &r.body["body"]["has_signing_secret"]),
        (200, &json!(true)),
        "{}",
        r.text
    );

    let url = site.url("/orders/items/7?x=1");
    let order = br#"{"item":7,"qty":1}"#;

    // `gatewatch sign` with the secret from the environment; the gateway follows the log.
    let cli = |nonce: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatewatch"))
            .args([
                "sign", "--keyid", "team-a", "-X", "POST", "--url", &url, "--nonce", nonce,
            ])
            .args(["--data", std::str::from_utf8(order).unwrap()])
            .env("GATEWATCH_SIGNING_SECRET", &secret_a)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(": ").unwrap();
                (k.to_string(), v.to_string())
            })
            .collect::<Vec<_>>()
    };
    let t0 = Instant::now();
    let mut n = 0;
    let mut passed = 0;
    loop {
        n += 1;
        let r = send("POST", &url, &key_a, &cli(&format!("cli-{n}")), order).await;
        if r.status == 200 {
            assert_eq!(r.text.as_bytes(), order, "the upstream got the body intact");
            passed += 1;
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "still {} {}",
            r.status,
            r.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let early = n - 1; // calls before the gateway had the API (404) or the secret (401)

    // Each registered key.
    for (key, keyid) in [(&ed, "ed"), (&ec, "ec")] {
        let h = sign(key, keyid, ("POST", &url, order), &ALL, now(), None);
        let r = send("POST", &url, &key_a, &h, order).await;
        assert_eq!(r.status, 200, "{keyid}: {}", r.text);
        passed += 1;
    }
    // A GET with no body signs the empty body's digest.
    let get_url = site.url("/orders/items?page=2");
    let h = sign(&ed, "ed", ("GET", &get_url, b""), &ALL, now(), None);
    assert_eq!(send("GET", &get_url, &key_a, &h, b"").await.status, 200);
    passed += 1;
    let hits_after_passed = hits.load(Ordering::SeqCst);

    // The attacks.
    let hmac_a = SigningKey::HmacSha256(secret_a.clone().into_bytes());
    let hmac_b = SigningKey::HmacSha256(secret_b.clone().into_bytes());
    let good = |nonce: &str| sign(&ed, "ed", ("POST", &url, order), &ALL, now(), Some(nonce));
    let replayed = good("once");
    assert_eq!(
        send("POST", &url, &key_a, &replayed, order).await.status,
        200
    );
    passed += 1;
    let mut attacks: Vec<Attack> = vec![
        (
            "no signature",
            url.clone(),
            vec![],
            order.to_vec(),
            "missing",
        ),
        (
            "wrong secret",
            url.clone(),
            sign(
                &SigningKey::HmacSha256(b"gwsig_guessed".to_vec()),
                "team-a",
                ("POST", &url, order),
                &ALL,
                now(),
                None,
            ),
            order.to_vec(),
            "invalid",
        ),
        (
            "team-b's secret under team-a's keyid",
            url.clone(),
            sign(&hmac_b, "team-a", ("POST", &url, order), &ALL, now(), None),
            order.to_vec(),
            "invalid",
        ),
        (
            "another client's keyid",
            url.clone(),
            sign(&hmac_b, "team-b", ("POST", &url, order), &ALL, now(), None),
            order.to_vec(),
            "unknown key",
        ),
        (
            "altered body",
            url.clone(),
            good("b"),
            br#"{"item":7,"qty":1000}"#.to_vec(),
            "digest mismatch",
        ),
        (
            "altered path",
            site.url("/orders/items/8?x=1"),
            good("p"),
            order.to_vec(),
            "invalid",
        ),
        (
            "altered query",
            site.url("/orders/items/7?x=2"),
            good("q"),
            order.to_vec(),
            "invalid",
        ),
        (
            "replayed nonce",
            url.clone(),
            replayed.clone(),
            order.to_vec(),
            "replayed nonce",
        ),
        (
            "old created",
            url.clone(),
            sign(&ed, "ed", ("POST", &url, order), &ALL, now() - 600, None),
            order.to_vec(),
            "expired",
        ),
        (
            "created in the future",
            url.clone(),
            sign(&ed, "ed", ("POST", &url, order), &ALL, now() + 600, None),
            order.to_vec(),
            "expired",
        ),
        (
            "component left out",
            url.clone(),
            sign(
                &ed,
                "ed",
                ("POST", &url, order),
                &["@method", "@path", "content-digest"],
                now(),
                None,
            ),
            order.to_vec(),
            "not covered",
        ),
        (
            "ed25519 signature as the ecdsa key",
            url.clone(),
            sign(&ed, "ec", ("POST", &url, order), &ALL, now(), None),
            order.to_vec(),
            "unknown key",
        ),
    ];
    for (what, bad) in [
        ("malformed Signature", ("Signature", "sig1=:%%%:")),
        (
            "malformed Signature-Input",
            ("Signature-Input", "sig1=(\"@method\" @path)"),
        ),
        (
            "malformed Content-Digest",
            ("Content-Digest", "sha-256=:AAAA"),
        ),
    ] {
        let mut h = good(what);
        set(&mut h, bad.0, bad.1);
        attacks.push((what, url.clone(), h, order.to_vec(), "malformed"));
    }
    let mut h = good("m");
    h.retain(|(k, _)| k != "Signature");
    attacks.push((
        "Signature-Input alone",
        url.clone(),
        h,
        order.to_vec(),
        "malformed",
    ));
    let mut refused = 0;
    for (what, u, h, body, reason) in &attacks {
        let r = send("POST", u, &key_a, h, body).await;
        assert_eq!(
            (r.status, r.code()),
            (401, "bad_signature"),
            "{what}: {}",
            r.text
        );
        assert_eq!(
            r.headers["accept-signature"], r#"sig1=("@method" "@path" "@query" "content-digest")"#,
            "{what}"
        );
        assert!(
            r.message().contains(reason),
            "{what}: wanted {reason:?} in {}",
            r.message()
        );
        refused += 1;
    }
    // A method other than the one signed; team-b signing with team-a's keyid and key.
    let r = send("PUT", &url, &key_a, &good("put"), order).await;
    assert_eq!((r.status, r.code()), (401, "bad_signature"), "{}", r.text);
    refused += 1;
    let r = send(
        "POST",
        &url,
        &key_b,
        &sign(&hmac_a, "team-a", ("POST", &url, order), &ALL, now(), None),
        order,
    )
    .await;
    assert!(r.message().contains("unknown key"), "{}", r.text);
    refused += 1;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        hits_after_passed + 1,
        "refused calls never reach the upstream"
    );

    // A new secret replaces the old one: once the gateway has it, the old one is refused.
    let r = admin
        .post("/api/v1/clients/team-a/signing-secret", json!({}))
        .await;
    let rotated = SigningKey::HmacSha256(r.body["secret"].as_str().unwrap().as_bytes().to_vec());
    let t0 = Instant::now();
    loop {
        let h = sign(&rotated, "team-a", ("POST", &url, order), &ALL, now(), None);
        let r = send("POST", &url, &key_a, &h, order).await;
        if r.status == 200 {
            passed += 1;
            break;
        }
        refused += 1; // until the gateway has the new secret
        assert!(t0.elapsed() < Duration::from_secs(20), "{}", r.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let h = sign(&hmac_a, "team-a", ("POST", &url, order), &ALL, now(), None);
    let r = send("POST", &url, &key_a, &h, order).await;
    assert!(
        r.message().contains("invalid"),
        "the old secret: {}",
        r.text
    );
    refused += 1;

    // Rows by outcome (the calls while the gateway was catching up are refused_auth or 404s).
    let sql = |outcome: &str| {
        format!("SELECT count() FROM api_calls WHERE api_id = 'orders' AND outcome = '{outcome}' AND position(error, 'bad_signature') > 0")
    };
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'orders' AND outcome = 'ok'",
        passed,
        30,
    )
    .await;
    let early_refused = store.fetch_u64(&sql("refused_auth")).await.unwrap();
    assert!(
        early_refused >= refused && early_refused <= refused + early as u64,
        "{early_refused} refused rows"
    );
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'orders' AND outcome = 'ok' AND has(policies, 'signature:ed')",
        3, // the POST, the GET, the first of the replayed one
        10,
    )
    .await;
    for (keyid, n) in [("team-a", 2), ("ec", 1)] {
        assert_eq!(
            store.fetch_u64(&format!("SELECT count() FROM api_calls WHERE outcome = 'ok' AND has(policies, 'signature:{keyid}')")).await.unwrap(),
            n,
            "{keyid}"
        );
    }
    assert_eq!(
        store.fetch_u64("SELECT count() FROM api_calls WHERE position(error, 'gwsig_') > 0 OR position(request_headers, 'gwsig_') > 0").await.unwrap_or(0),
        0,
        "the secret is in no record"
    );
}
