//! The gateway's OAuth 2.0 authorization server in the running binary: RFC 8414 metadata
//! (also on the TLS listener), `client_credentials` tokens by HTTP Basic and in the body
//! (RFC 6749 §4.4, §2.3.1), RFC 6749 §5.2 errors, tokens checked against the published JWKS
//! with `jsonwebtoken`, introspection (RFC 7662) and revocation (RFC 7009) for the owner
//! only, a revocation refused by a second gateway within about a second, `gatewatch keys
//! rotate` keeping old tokens valid, the records of the endpoint calls, and attacks: forged
//! algorithms, tampered, expired and misaddressed tokens, bodies too big or of another type.

use crate::helpers::*;
use base64::Engine as _;
use gatewatch_model::oauth::keys;
use gatewatch_model::secret::hash_secret;
use gatewatch_model::EntityKind::*;
use gatewatch_store::Store;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PEPPER: &str = "e2e-oauth-pepper-0123456789";

fn b64url(b: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Status, headers and JSON body (or null) of one answer.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn form_post(http: &reqwest::Client, url: &str, body: &str) -> reqwest::RequestBuilder {
    http.post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
}

/// A token request with the secret by HTTP Basic.
async fn token_basic(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
    body: &str,
) -> Answer {
    send(form_post(http, &format!("{base}/oauth2/token"), body).basic_auth(id, Some(secret))).await
}

/// Introspection of `token` by `id`.
async fn introspect(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
    token: &str,
) -> Answer {
    let body = format!("token={token}");
    send(form_post(http, &format!("{base}/oauth2/introspect"), &body).basic_auth(id, Some(secret)))
        .await
}

/// Revocation (RFC 7009) of `token` by `id`.
async fn revoke(http: &reqwest::Client, base: &str, id: &str, secret: &str, token: &str) -> Answer {
    let body = format!("token={token}");
    send(form_post(http, &format!("{base}/oauth2/revoke"), &body).basic_auth(id, Some(secret)))
        .await
}

async fn active(http: &reqwest::Client, base: &str, id: &str, secret: &str, token: &str) -> bool {
    let a = introspect(http, base, id, secret, token).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body["active"].as_bool().unwrap()
}

fn site(name: &str, extra: &str) -> Site {
    Site::new(
        name,
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!("[security]\npepper = \"{PEPPER}\"\n{extra}"),
    )
}

/// The key pair of the client `signer` (`private_key_jwt`), made once per test process.
fn signer_key() -> &'static (keys::Signer, Value) {
    static KEY: std::sync::OnceLock<(keys::Signer, Value)> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let k = keys::generate(keys::ES256).unwrap();
        let jwk: Value = serde_json::from_str(&k.public_jwk).unwrap();
        (
            keys::Signer::new(&k.kid, k.alg, &k.pkcs8).unwrap(),
            json!({"keys": [jwk]}),
        )
    })
}

async fn register(store: &Store) {
    put_entities(
        store,
        &[
            change(Product, "writes", json!({"name": "Writes", "apis": ["orders"], "scopes": ["orders.write"]})),
            change(Product, "pending", json!({"name": "Pending", "apis": ["orders"], "scopes": ["admin"]})),
            change(Client, "acme", json!({"name": "Acme", "scopes": ["orders.read"],
                "secret_hash": hash_secret(PEPPER.as_bytes(), "acme secret:1")})),
            change(ApiKey, "k-acme", json!({"client_id": "acme", "hash": hash_secret(PEPPER.as_bytes(), "gwk_acme"),
                "products": [{"product": "writes", "status": "approved"}, {"product": "pending", "status": "pending"}]})),
            change(Client, "other", json!({"name": "Other",
                "secret_hash": hash_secret(PEPPER.as_bytes(), "other-secret")})),
            change(Client, "signer", json!({"name": "Signer", "scopes": ["orders.read"], "jwks": signer_key().1})),
            change(Client, "off", json!({"name": "Off", "status": "suspended",
                "secret_hash": hash_secret(PEPPER.as_bytes(), "off-secret")})),
        ],
    )
    .await;
}

/// Asks for tokens until `other` gets one (the gateway has read the configuration log; `acme`'s
/// requests are counted by the tests).
async fn until_ready(http: &reqwest::Client, base: &str) {
    let t0 = Instant::now();
    loop {
        let a = token_basic(
            http,
            base,
            "other",
            "other-secret",
            "grant_type=client_credentials",
        )
        .await;
        if a.status == 200 {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "never ready: {:?}",
            a.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The published key of `kid` as jsonwebtoken reads it.
async fn decoding_key(http: &reqwest::Client, base: &str, kid: &str) -> jsonwebtoken::DecodingKey {
    let jwks: jsonwebtoken::jwk::JwkSet = http
        .get(format!("{base}/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks.find(kid).expect("the token's kid is published");
    jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_server_follows_the_rfcs() {
    let up = upstream().await;
    let (site, tls, certs) = crate::gateway_tls::tls_site_to("oauth_rfcs", "", up);
    let mut cfg = std::fs::read_to_string(site.config_path()).unwrap();
    cfg.push_str(&format!(
        "\n[security]\npepper = \"{PEPPER}\"\n\n[gateway.oauth]\naudience = \"https://api.e2e\"\ntoken_ttl_secs = 300\n"
    ));
    std::fs::write(site.config_path(), cfg).unwrap();
    let store = site.migrate().await;
    register(&store).await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", site.gateway);
    until_ready(&http, &base).await;
    let mut acme_token_requests = 0u64;

    // RFC 8414 metadata.
    let m = send(http.get(format!("{base}/.well-known/oauth-authorization-server"))).await;
    assert_eq!(m.status, 200);
    assert_eq!(m.body["issuer"], base.as_str());
    assert_eq!(m.body["token_endpoint"], format!("{base}/oauth2/token"));
    assert_eq!(m.body["jwks_uri"], format!("{base}/oauth2/jwks"));
    assert_eq!(
        m.body["introspection_endpoint"],
        format!("{base}/oauth2/introspect")
    );
    assert_eq!(
        m.body["revocation_endpoint"],
        format!("{base}/oauth2/revoke")
    );
    assert_eq!(
        m.body["grant_types_supported"],
        json!(["client_credentials"])
    );
    let auth = json!([
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt"
    ]);
    for k in [
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        assert_eq!(m.body[k], auth, "{k}");
    }
    assert_eq!(
        m.body["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(
        m.body["scopes_supported"],
        json!(["admin", "orders.read", "orders.write"])
    );
    // And on the TLS listener.
    let stream =
        crate::gateway_tls::connect(tls, &[crate::gateway_tls::ca(&certs)], "localhost", &[])
            .await
            .unwrap();
    let mut sender = crate::gateway_tls::http1(stream).await;
    assert_eq!(
        crate::gateway_tls::get(&mut sender, "/.well-known/oauth-authorization-server").await,
        Ok(200)
    );

    // A token by Basic: the client's scopes and its approved product's, not the pending one's.
    let a = token_basic(
        &http,
        &base,
        "acme",
        "acme secret:1",
        "grant_type=client_credentials",
    )
    .await;
    acme_token_requests += 1;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.header("cache-control"), "no-store");
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["expires_in"], 300);
    assert_eq!(a.body["scope"], "orders.read orders.write");
    let token = a.body["access_token"].as_str().unwrap().to_string();

    // It verifies against the published JWKS with an independent JWT library.
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let kid = header.kid.unwrap();
    let key = decoding_key(&http, &base, &kid).await;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&["https://api.e2e"]);
    v.set_issuer(&[base.as_str()]);
    let data = jsonwebtoken::decode::<Value>(&token, &key, &v).unwrap();
    let c = data.claims;
    assert_eq!(
        (c["sub"].as_str(), c["client_id"].as_str()),
        (Some("acme"), Some("acme"))
    );
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);
    assert!(uuid::Uuid::parse_str(c["jti"].as_str().unwrap()).is_ok());
    let jwks = send(http.get(format!("{base}/oauth2/jwks"))).await;
    assert!(jwks.header("cache-control").contains("max-age="));
    assert!(
        !jwks.body.to_string().contains("\"d\""),
        "no private part published"
    );

    // A token by the body, one scope asked; scopes outside → invalid_scope.
    let body = "grant_type=client_credentials&client_id=acme&client_secret=acme+secret%3A1&scope=orders.read";
    let a = send(form_post(&http, &format!("{base}/oauth2/token"), body)).await;
    acme_token_requests += 1;
    assert_eq!(
        (a.status, a.body["scope"].as_str()),
        (200, Some("orders.read")),
        "{:?}",
        a.body
    );
    let a = token_basic(
        &http,
        &base,
        "acme",
        "acme secret:1",
        "grant_type=client_credentials&scope=admin",
    )
    .await;
    acme_token_requests += 1;
    assert_eq!((a.status, a.error()), (400, "invalid_scope"));

    // Wrong secret: 401 invalid_client with a Basic challenge; unknown grant.
    let a = token_basic(
        &http,
        &base,
        "acme",
        "wrong",
        "grant_type=client_credentials",
    )
    .await;
    acme_token_requests += 1;
    assert_eq!((a.status, a.error()), (401, "invalid_client"));
    assert!(a.header("www-authenticate").starts_with("Basic"));
    assert!(a.body["error_description"].is_string());
    let a = token_basic(
        &http,
        &base,
        "acme",
        "acme secret:1",
        "grant_type=password&username=x&password=y",
    )
    .await;
    acme_token_requests += 1;
    assert_eq!((a.status, a.error()), (400, "unsupported_grant_type"));
    let a = token_basic(&http, &base, "acme", "acme secret:1", "scope=orders.read").await;
    acme_token_requests += 1;
    assert_eq!((a.status, a.error()), (400, "invalid_request"));
    let a = token_basic(
        &http,
        &base,
        "off",
        "off-secret",
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!((a.status, a.error()), (400, "unauthorized_client"));
    let a = token_basic(&http, &base, "nobody", "x", "grant_type=client_credentials").await;
    assert_eq!((a.status, a.error()), (401, "invalid_client"));

    // private_key_jwt (RFC 7523): an assertion signed with the client's registered key, once.
    let now = chrono::Utc::now().timestamp();
    let assertion = |aud: &str, jti: &str| {
        signer_key()
            .0
            .sign(
                &json!({"iss": "signer", "sub": "signer", "aud": aud, "exp": now + 60, "jti": jti}),
            )
            .unwrap()
    };
    let token_url = format!("{base}/oauth2/token");
    let jwt_body = |a: String| {
        format!("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={a}")
    };
    let a1 = assertion(&token_url, "a-1");
    let a = send(form_post(&http, &token_url, &jwt_body(a1.clone()))).await;
    assert_eq!(
        (a.status, a.body["scope"].as_str()),
        (200, Some("orders.read")),
        "{:?}",
        a.body
    );
    let replay = send(form_post(&http, &token_url, &jwt_body(a1))).await;
    assert_eq!(
        (replay.status, replay.error()),
        (401, "invalid_client"),
        "a replayed assertion"
    );
    let elsewhere = send(form_post(
        &http,
        &token_url,
        &jwt_body(assertion("https://elsewhere", "a-2")),
    ))
    .await;
    assert_eq!(
        (elsewhere.status, elsewhere.error()),
        (401, "invalid_client")
    );
    let other = keys::generate(keys::ES256).unwrap();
    let same_kid = keys::Signer::new(signer_key().0.kid(), keys::ES256, &other.pkcs8).unwrap();
    let forged = same_kid.sign(&json!({"iss": "signer", "sub": "signer", "aud": token_url, "exp": now + 60, "jti": "a-3"})).unwrap();
    let forged = send(form_post(&http, &token_url, &jwt_body(forged))).await;
    assert_eq!(
        (forged.status, forged.error()),
        (401, "invalid_client"),
        "signed by another key"
    );

    // The request itself: repeated parameter, too big, wrong type, wrong method.
    let a = token_basic(
        &http,
        &base,
        "acme",
        "acme secret:1",
        "grant_type=client_credentials&grant_type=client_credentials",
    )
    .await;
    acme_token_requests += 1;
    assert_eq!((a.status, a.error()), (400, "invalid_request"));
    let big = format!(
        "grant_type=client_credentials&pad={}",
        "x".repeat(17 * 1024)
    );
    let a = send(form_post(&http, &format!("{base}/oauth2/token"), &big)).await;
    assert_eq!((a.status, a.error()), (413, "invalid_request"));
    let a = send(
        http.post(format!("{base}/oauth2/token"))
            .basic_auth("acme", Some("acme secret:1"))
            .header("content-type", "application/json")
            .body(r#"{"grant_type":"client_credentials"}"#),
    )
    .await;
    acme_token_requests += 1;
    assert_eq!((a.status, a.error()), (400, "invalid_request"));
    let a = send(http.get(format!("{base}/oauth2/token"))).await;
    assert_eq!((a.status, a.header("allow")), (405, "POST"));

    // Introspection: the owner sees it active; another client, inactive; garbage, inactive.
    let i = introspect(&http, &base, "acme", "acme secret:1", &token).await;
    assert_eq!(i.body["active"], true, "{:?}", i.body);
    assert_eq!(i.body["client_id"], "acme");
    assert_eq!(i.body["scope"], "orders.read orders.write");
    assert_eq!(i.header("cache-control"), "no-store");
    assert!(!active(&http, &base, "other", "other-secret", &token).await);
    assert!(!active(&http, &base, "acme", "acme secret:1", "not.a.token").await);
    let a = introspect(&http, &base, "acme", "wrong", &token).await;
    assert_eq!((a.status, a.error()), (401, "invalid_client"));

    // Attacks, each answered inactive: alg none, HS256 keyed with the public JWK, a
    // tampered payload, and — signed with the real key, opened here with the pepper —
    // expired, another audience, another issuer.
    let parts: Vec<&str> = token.split('.').collect();
    let none = format!(
        "{}.{}.",
        b64url(json!({"alg":"none","typ":"at+jwt","kid":kid}).to_string()),
        parts[1]
    );
    assert!(!active(&http, &base, "acme", "acme secret:1", &none).await);
    let hs_input = format!(
        "{}.{}",
        b64url(json!({"alg":"HS256","typ":"at+jwt","kid":kid}).to_string()),
        parts[1]
    );
    let jwks_text = jwks.body.to_string();
    let hs_sig = {
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(jwks_text.as_bytes()).unwrap();
        mac.update(hs_input.as_bytes());
        b64url(mac.finalize().into_bytes())
    };
    assert!(
        !active(
            &http,
            &base,
            "acme",
            "acme secret:1",
            &format!("{hs_input}.{hs_sig}")
        )
        .await
    );
    let mut claims = c.clone();
    claims["scope"] = json!("orders.read orders.write admin");
    let tampered = format!("{}.{}.{}", parts[0], b64url(claims.to_string()), parts[2]);
    assert!(!active(&http, &base, "acme", "acme secret:1", &tampered).await);
    let signer = real_signer(&store, &kid).await;
    let now = chrono::Utc::now().timestamp();
    let mut expired = c.clone();
    expired["iat"] = json!(now - 4000);
    expired["exp"] = json!(now - 3700);
    let mut wrong_aud = c.clone();
    wrong_aud["aud"] = json!("https://elsewhere");
    let mut wrong_iss = c.clone();
    wrong_iss["iss"] = json!("https://evil.example");
    let mut control = c.clone();
    control["jti"] = json!(uuid::Uuid::new_v4().to_string());
    assert!(
        active(
            &http,
            &base,
            "acme",
            "acme secret:1",
            &signer.sign(&control).unwrap()
        )
        .await,
        "the forging signer is the real one"
    );
    for bad in [expired, wrong_aud, wrong_iss] {
        let t = signer.sign(&bad).unwrap();
        assert!(
            !active(&http, &base, "acme", "acme secret:1", &t).await,
            "{bad}"
        );
    }

    // Revocation: another client's attempt is a 200 that does nothing; the owner's works.
    let revoke = |id: &'static str, secret: &'static str, token: String| {
        let http = http.clone();
        let url = format!("{base}/oauth2/revoke");
        async move {
            send(
                form_post(
                    &http,
                    &url,
                    &format!("token={token}&token_type_hint=access_token"),
                )
                .basic_auth(id, Some(secret)),
            )
            .await
        }
    };
    assert_eq!(
        revoke("other", "other-secret", token.clone()).await.status,
        200
    );
    assert!(active(&http, &base, "acme", "acme secret:1", &token).await);
    assert_eq!(
        revoke("acme", "acme secret:1", token.clone()).await.status,
        200
    );
    assert!(!active(&http, &base, "acme", "acme secret:1", &token).await);
    assert_eq!(
        revoke("acme", "acme secret:1", "garbage".into())
            .await
            .status,
        200
    );
    eventually(
        &store,
        &format!(
            "SELECT count() FROM oauth_revocations WHERE jti = '{}' AND client_id = 'acme'",
            c["jti"].as_str().unwrap()
        ),
        1,
        10,
    )
    .await;

    // Records: one per token request of acme, with the method and, when issued, the token's
    // jti and scopes; never the token or the secret.
    let sql =
        |w: &str| format!("SELECT count() FROM api_calls WHERE route = '/oauth2/token' AND {w}");
    eventually(&store, &sql("client_id = 'acme'"), acme_token_requests, 30).await;
    eventually(&store, &sql("client_id = 'acme' AND outcome = 'ok' AND status = 200 AND token_jti != '' AND scopes != ''"), 2, 30).await;
    eventually(&store, &sql("client_id = 'acme' AND outcome = 'refused_auth' AND status = 401 AND startsWith(error, 'invalid_client')"), 1, 30).await;
    eventually(
        &store,
        &sql("client_id = 'acme' AND auth_method = 'client_secret_post'"),
        1,
        30,
    )
    .await;
    eventually(
        &store,
        &sql("client_id = 'signer' AND auth_method = 'private_key_jwt' AND outcome = 'ok'"),
        1,
        30,
    )
    .await;
    eventually(
        &store,
        &sql(
            "client_id = 'signer' AND auth_method = 'private_key_jwt' AND outcome = 'refused_auth'",
        ),
        3,
        30,
    )
    .await;
    eventually(
        &store,
        &sql("startsWith(error, 'invalid_scope') AND outcome = 'refused_bad_request'"),
        1,
        30,
    )
    .await;
    eventually(
        &store,
        &sql("startsWith(error, 'unsupported_grant_type')"),
        1,
        30,
    )
    .await;
    eventually(
        &store,
        &sql(&format!(
            "token_jti = '{}' AND scopes = 'orders.read orders.write' AND api_id = ''",
            c["jti"].as_str().unwrap()
        )),
        1,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE route = '/oauth2/revoke' AND client_id = 'acme'",
        2,
        30,
    )
    .await;
    eventually(&store, "SELECT count() FROM api_calls WHERE route = '/.well-known/oauth-authorization-server' AND status = 200", 2, 30).await;
    let sig = parts[2];
    let leaked = store
        .fetch_u64(&format!("SELECT count() FROM api_calls WHERE position(error, '{sig}') > 0 OR position(error, 'acme secret') > 0 OR position(query, 'secret') > 0 OR position(request_body, '{sig}') > 0"))
        .await
        .unwrap();
    assert_eq!(leaked, 0, "no token or secret in the records");
}

/// The site's signing key `kid`, opened with the pepper (what an attacker would need).
async fn real_signer(store: &Store, kid: &str) -> keys::Signer {
    let rows = gatewatch_store::oauth::keys(store).await.unwrap();
    let row = rows.iter().find(|r| r.kid == kid).unwrap();
    let seal = gatewatch_model::sealed::SealKey::from_pepper(PEPPER.as_bytes());
    let der = keys::open_private(&seal, kid, &row.private_sealed).unwrap();
    keys::Signer::new(kid, &row.alg, &der).unwrap()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_and_rotation_reach_every_gateway() {
    // Both gateways issue for one issuer (set, as a site of several gateways must).
    let a = site(
        "oauth_two",
        "\n[gateway.oauth]\nissuer = \"https://gw.e2e\"\n",
    );
    let b = crate::access::second_gateway(&a);
    let store = a.migrate().await;
    register(&store).await;
    let _collector = a.start("collector").await;
    let _ga = a.start("gateway").await;
    let _gb = b.start("gateway").await;
    let http = reqwest::Client::new();
    let (ba, bb) = (
        format!("http://{}", a.gateway),
        format!("http://{}", b.gateway),
    );
    until_ready(&http, &ba).await;
    until_ready(&http, &bb).await;
    let get_token = |base: String| {
        let http = http.clone();
        async move {
            let a = token_basic(
                &http,
                &base,
                "acme",
                "acme secret:1",
                "grant_type=client_credentials",
            )
            .await;
            assert_eq!(a.status, 200, "{:?}", a.body);
            a.body["access_token"].as_str().unwrap().to_string()
        }
    };
    // One key for the site: the second gateway found the first one's.
    let t1 = get_token(ba.clone()).await;
    let t2 = get_token(bb.clone()).await;
    assert_eq!(kid_of(&t1), kid_of(&t2));
    assert!(active(&http, &bb, "acme", "acme secret:1", &t1).await);

    // Revoked at A, refused by B within about a second.
    let r = revoke(&http, &ba, "acme", "acme secret:1", &t1).await;
    assert_eq!(r.status, 200);
    let t0 = Instant::now();
    while active(&http, &bb, "acme", "acme secret:1", &t1).await {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "B never saw the revocation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "revocation reached the second gateway in {} ms",
        t0.elapsed().as_millis()
    );
    assert!(
        active(&http, &bb, "acme", "acme secret:1", &t2).await,
        "only that token"
    );

    // Rotation: new tokens get the new kid at both gateways; old tokens stay valid and their
    // key stays published.
    let old_kid = kid_of(&t2);
    let out = gatewatch(&["keys", "rotate"], &a.config_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains(&format!("retired {old_kid}")), "{said}");
    for base in [&ba, &bb] {
        let t0 = Instant::now();
        loop {
            let t = get_token(base.clone()).await;
            if kid_of(&t) != old_kid {
                assert!(active(&http, &ba, "acme", "acme secret:1", &t).await);
                assert!(active(&http, &bb, "acme", "acme secret:1", &t).await);
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{base} still signs with the old key"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(
        active(&http, &ba, "acme", "acme secret:1", &t2).await,
        "old tokens stay valid"
    );
    let jwks = send(http.get(format!("{bb}/oauth2/jwks"))).await;
    let kids: Vec<&str> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert!(kids.contains(&old_kid.as_str()));
    let out = gatewatch(&["keys", "list"], &a.config_path())
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success());
    assert!(
        list.contains("active") && list.contains("retired") && list.contains(&old_kid),
        "{list}"
    );
    assert!(!list.contains("sealed:"), "never a private part");
}

#[test]
fn bad_oauth_settings_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (lines, key) in [
        ("signing_alg = \"RS256\"", "gateway.oauth.signing_alg"),
        ("signing_alg = \"HS256\"", "gateway.oauth.signing_alg"),
        ("token_ttl_secs = 10", "gateway.oauth.token_ttl_secs"),
        ("token_ttl_secs = 100000", "gateway.oauth.token_ttl_secs"),
        ("issuer = \"ftp://gw\"", "gateway.oauth.issuer"),
        (
            "issuer = \"https://gw.example/?x=1\"",
            "gateway.oauth.issuer",
        ),
        ("issuer = \"https://gw.example/#f\"", "gateway.oauth.issuer"),
        ("issuer = \"gw.example\"", "gateway.oauth.issuer"),
    ] {
        let path = dir.path().join("gatewatch.toml");
        std::fs::write(&path, format!("[gateway.oauth]\n{lines}\n")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatewatch"))
            .args(["config", "check"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{lines}: {err}");
        assert!(err.contains(key), "{lines}: {err}");
    }
    let path = dir.path().join("ok.toml");
    std::fs::write(
        &path,
        "[gateway.oauth]\nissuer = \"https://gw.example\"\naudience = \"https://api.example\"\ntoken_ttl_secs = 600\nsigning_alg = \"ES256\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatewatch"))
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_started_while_clickhouse_is_down_keeps_the_site_keys() {
    let mut ch = PrivateClickHouse::start();
    let site = Site::new(
        "oauth_snapshot",
        &ch.url(),
        &format!("[security]\npepper = \"{PEPPER}\"\n"),
    );
    let store = site.migrate().await;
    register(&store).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", site.gateway);
    let mut gateway = site.start("gateway").await;
    until_ready(&http, &base).await;
    let token = |http: reqwest::Client, base: String| async move {
        let a = token_basic(
            &http,
            &base,
            "acme",
            "acme secret:1",
            "grant_type=client_credentials",
        )
        .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        a.body["access_token"].as_str().unwrap().to_string()
    };
    let before = token(http.clone(), base.clone()).await;
    gateway.kill();
    ch.stop();

    // Keys from data/snapshot/oauth_keys.json: the old token verifies, new ones are signed
    // with the same key.
    let _gateway = site.start("gateway").await;
    assert!(active(&http, &base, "acme", "acme secret:1", &before).await);
    let after = token(http.clone(), base.clone()).await;
    assert_eq!(kid_of(&after), kid_of(&before));
    let snapshot =
        std::fs::read_to_string(site.dir.path().join("data/snapshot/oauth_keys.json")).unwrap();
    assert!(
        snapshot.contains("sealed:v1:"),
        "private parts stay sealed on disk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_list_rotate_and_revoke_through_the_admin_api() {
    use crate::admin::{add_user, Api};
    const PW: &str = "a long test password";
    let site = site("oauth_admin", "");
    let store = site.migrate().await;
    register(&store).await;
    add_user(&site, "root", "admin", PW);
    add_user(&site, "ops1", "ops", PW);
    let _gateway = site.start("gateway").await;
    let _dashboards = site.start("dashboards").await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", site.gateway);
    until_ready(&http, &base).await;
    let admin = Api::login(site.dashboards, "root", PW).await;
    let ops = Api::login(site.dashboards, "ops1", PW).await;

    // Public parts only; every role reads them, admins rotate and revoke.
    let list = admin.call("GET", "/api/v1/oauth/keys", None, &[]).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(
        ops.call("GET", "/api/v1/oauth/keys", None, &[])
            .await
            .status,
        200
    );
    let keys = list.body["items"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["state"], "active");
    assert_eq!(keys[0]["public_jwk"]["kty"], "EC");
    assert!(!list.text.contains("sealed:") && keys[0]["public_jwk"].get("d").is_none());
    let old_kid = keys[0]["kid"].as_str().unwrap().to_string();
    for path in ["/api/v1/oauth/keys/rotate", "/api/v1/oauth/revocations"] {
        let body = Some(r#"{"jti":"x","client_id":"acme"}"#);
        assert_eq!(
            ops.call("POST", path, body, &[]).await.status,
            403,
            "{path}"
        );
    }

    // Revocation by jti: every gateway refuses the token within about a second.
    let a = token_basic(
        &http,
        &base,
        "acme",
        "acme secret:1",
        "grant_type=client_credentials",
    )
    .await;
    let token = a.body["access_token"].as_str().unwrap().to_string();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let jti = claims["jti"].as_str().unwrap();
    let bad = admin
        .post("/api/v1/oauth/revocations", json!({"jti": ""}))
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    let r = admin
        .post(
            "/api/v1/oauth/revocations",
            json!({"jti": jti, "client_id": "acme"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let t0 = Instant::now();
    while active(&http, &base, "acme", "acme secret:1", &token).await {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the revocation never reached the gateway"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Rotation: a new key, the old one retired and still published; new tokens get the new kid.
    let r = admin.post("/api/v1/oauth/keys/rotate", json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let new_kid = r.body["key"]["kid"].as_str().unwrap().to_string();
    let retired: Vec<&str> = r.body["retired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(retired, vec![old_kid.as_str()]);
    let t0 = Instant::now();
    loop {
        let a = token_basic(
            &http,
            &base,
            "acme",
            "acme secret:1",
            "grant_type=client_credentials",
        )
        .await;
        if kid_of(a.body["access_token"].as_str().unwrap()) == new_kid {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the gateway never signed with the new key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list = admin.call("GET", "/api/v1/oauth/keys", None, &[]).await;
    let states: Vec<(&str, &str)> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        vec![(new_kid.as_str(), "active"), (old_kid.as_str(), "retired")]
    );
    eventually(
        &store,
        "SELECT count() FROM audit_log WHERE actor = 'root' AND action IN ('oauth.key.rotate', 'oauth.token.revoke')",
        2,
        10,
    )
    .await;
}

/// A call to an `oauth2` API with `token` (or none): status, `WWW-Authenticate`, error code.
async fn call_api(http: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, String, String) {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let a = send(req).await;
    let code = a.body["error"]["code"].as_str().unwrap_or("").to_string();
    (a.status, a.header("www-authenticate").to_string(), code)
}

/// The whole loop on one gateway: a token from its own token endpoint opens an `oauth2` API
/// whose scopes it carries (a product's scope included), is refused 403 on an API needing a
/// scope it lacks, and 401 `invalid_token` once revoked; the records name the method, the
/// token's `jti` and its scopes; N calls make N records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_tokens_open_oauth2_apis_with_their_scopes_until_revoked() {
    let up = upstream().await;
    let site = site("oauth_own", "");
    let store = site.migrate().await;
    register(&store).await;
    let upstream = format!("http://{up}");
    put_entities(
        &store,
        &[
            change(
                Api,
                "orders",
                json!({"name": "Orders", "prefix": "/orders",
                "upstreams": [upstream], "strip_prefix": true, "auth": ["oauth2"],
                "scopes": ["orders.read", "orders.write"]}),
            ),
            change(
                Api,
                "admin",
                json!({"name": "Admin", "prefix": "/admin",
                "upstreams": [upstream], "strip_prefix": true, "auth": ["oauth2"],
                "scopes": ["admin"]}),
            ),
        ],
    )
    .await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", site.gateway);
    until_ready(&http, &base).await;
    let orders = site.url("/orders/ok");
    let admin = site.url("/admin/ok");

    // The client's own scope and its approved product's: both on the API.
    let a = token_basic(
        &http,
        &base,
        "acme",
        "acme secret:1",
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["scope"], "orders.read orders.write");
    let token = a.body["access_token"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    loop {
        let got = call_api(&http, &orders, Some(&token)).await;
        if got.0 == 200 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..3 {
        assert_eq!(call_api(&http, &orders, Some(&token)).await.0, 200);
    }
    // A scope only a pending product would give: 403 with the RFC 6750 challenge.
    let (status, challenge, code) = call_api(&http, &admin, Some(&token)).await;
    assert_eq!((status, code.as_str()), (403, "insufficient_scope"));
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("admin"),
        "{challenge}"
    );
    // No token: 401 asking for one.
    let (status, challenge, _) = call_api(&http, &orders, None).await;
    assert_eq!((status, challenge.as_str()), (401, "Bearer"));
    // A narrower token lacks orders.write.
    let a = token_basic(
        &http,
        &base,
        "acme",
        "acme secret:1",
        "grant_type=client_credentials&scope=orders.read",
    )
    .await;
    let narrow = a.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(call_api(&http, &orders, Some(&narrow)).await.0, 403);

    // Revoked: refused within about a second (the gateway follows the revocations).
    let r = revoke(&http, &base, "acme", "acme secret:1", &token).await;
    assert_eq!(r.status, 200);
    let t0 = Instant::now();
    loop {
        let (status, challenge, code) = call_api(&http, &orders, Some(&token)).await;
        if status == 401 {
            assert_eq!(code, "invalid_token");
            assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "still served after revocation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let jti = {
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        claims["jti"].as_str().unwrap().to_string()
    };
    eventually(
        &store,
        &format!(
            "SELECT count() FROM api_calls WHERE api_id = 'orders' AND status = 200 \
             AND auth_method = 'oauth2' AND token_jti = '{jti}' \
             AND scopes = 'orders.read orders.write' AND client_id = 'acme'"
        ),
        4,
        30,
    )
    .await;
    eventually(
        &store,
        &format!(
            "SELECT count() FROM api_calls WHERE api_id = 'admin' AND status = 403 \
             AND token_jti = '{jti}' AND error LIKE 'insufficient_scope%'"
        ),
        1,
        30,
    )
    .await;
    eventually(
        &store,
        &format!(
            "SELECT count() FROM api_calls WHERE route = '/oauth2/revoke' AND status = 200 \
             AND token_jti = '{jti}'"
        ),
        1,
        30,
    )
    .await;
}
