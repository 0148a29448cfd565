//! Issue 17's policies through the admin API, as the editors use it: an API with every policy
//! and a client with a deny list and signing keys are stored and read back as sent; every
//! refused policy field comes back 422 naming it (`signature.components[0]`,
//! `cors.origins[1]`, `ip_deny[2]`, `signing_keys[1].public_key`, …) and writes nothing (the
//! version and the history stay as they were); the accepted changes are in the history (by
//! path) and the audit log (by field).

use crate::admin::{add_user, Api};
use crate::helpers::*;
use serde_json::{json, Value};

const PW: &str = "a long policy test password";

pub(crate) const ED25519_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAxjexY1n3cIchMfYgOXpR9lfzOmsSncdsMG1qTIWlsbs=\n-----END PUBLIC KEY-----";
pub(crate) const P256_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWFQ7a/wwYQXk5r1nWr321HvyVMUl\nDloTrmAsoiWQrIfEO2J6A9XTWE8CSzrGzcDQ/yVHlChM5JL8dOTGOmVfVw==\n-----END PUBLIC KEY-----";

/// An API with every policy on.
fn api_body() -> Value {
    json!({
        "name": "Payments", "prefix": "/pay", "upstreams": ["http://127.0.0.1:9"],
        "auth": ["api_key"],
        "checks": ["sqli", "xss"], "check_mode": "monitor", "check_headers": ["user-agent"],
        "signature": {"required": true, "components": ["@method", "@path", "content-digest"],
                      "max_age_secs": 120, "nonce_required": false},
        "idempotency": {"methods": ["POST", "PUT"], "ttl_secs": 3600, "required": true,
                        "max_answer_bytes": 4096},
        "tx_token": {"methods": ["POST"], "ttl_secs": 60},
        "max_body_bytes": 65536,
        "cors": {"origins": ["https://shop.example.com"], "methods": ["GET", "POST"],
                 "headers": ["x-trace"], "expose_headers": ["x-request-id"], "max_age": 600,
                 "credentials": true},
        "ip_deny": ["203.0.113.0/24", "2001:db8::/32"],
        "rate": {"per_second": 50, "burst": 100}
    })
}

/// `body` with `patch`'s top-level fields put over it.
fn with(body: &Value, patch: Value) -> Value {
    let mut b = body.clone();
    for (k, v) in patch.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

async fn put(api: &Api, path: &str, body: &Value, version: u64) -> crate::admin::Answer {
    api.call(
        "PUT",
        path,
        Some(&body.to_string()),
        &[("if-match", &format!("\"{version}\""))],
    )
    .await
}

async fn get(api: &Api, path: &str) -> Value {
    let a = api.call("GET", path, None, &[]).await;
    assert_eq!(a.status, 200, "{path}: {}", a.text);
    a.body
}

/// Each `(patch, field)`: the patched body is refused 422 naming `field`, and nothing is
/// written.
async fn refused(api: &Api, path: &str, body: &Value, version: u64, cases: Vec<(Value, &str)>) {
    for (patch, field) in cases {
        let sent = with(body, patch.clone());
        let a = put(api, path, &sent, version).await;
        assert_eq!(a.status, 422, "{patch}: {}", a.text);
        assert_eq!(a.body["error"]["code"], "invalid", "{patch}: {}", a.text);
        assert_eq!(a.body["error"]["field"], field, "{patch}: {}", a.text);
        assert!(
            !a.body["error"]["message"].as_str().unwrap().is_empty(),
            "{}",
            a.text
        );
    }
    let now = get(api, path).await;
    assert_eq!(now["version"], json!(version), "a refusal wrote: {now}");
    let history = get(api, &format!("{path}/history")).await;
    assert_eq!(
        history["versions"].as_array().unwrap().len() as u64,
        version,
        "{history}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_edited_through_the_admin_api_with_field_errors_history_and_audit() {
    let site = Site::new(
        "policy_ui",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    add_user(&site, "root", "admin", PW);
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "root", PW).await;

    // An API made without policies, then given every one: stored and read back as sent.
    let plain = json!({"name": "Payments", "prefix": "/pay", "upstreams": ["http://127.0.0.1:9"],
                       "auth": ["api_key"]});
    let a = admin
        .post("/api/v1/apis", with(&plain, json!({"id": "payments"})))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let body = api_body();
    let a = put(&admin, "/api/v1/apis/payments", &body, 1).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let stored = &a.body["body"];
    for (k, v) in body.as_object().unwrap() {
        assert_eq!(&stored[k], v, "{k}: {stored}");
    }

    // Each policy field refused, named, and nothing written.
    refused(
        &admin,
        "/api/v1/apis/payments",
        &body,
        2,
        vec![
            (
                json!({"signature": {"components": ["@body"]}}),
                "signature.components[0]",
            ),
            (
                json!({"signature": {"components": ["@method", "Content-Digest"]}}),
                "signature.components[1]",
            ),
            (
                json!({"signature": {"components": []}}),
                "signature.components",
            ),
            (
                json!({"signature": {"max_age_secs": 0}}),
                "signature.max_age_secs",
            ),
            (
                json!({"signature": {"max_age_secs": -1}}),
                "signature.max_age_secs",
            ),
            (
                json!({"signature": {"required": "yes"}}),
                "signature.required",
            ),
            (json!({"signature": {"keys": []}}), "signature.keys"),
            (
                json!({"cors": {"origins": ["https://shop.example.com", "https://evil.example/"]}}),
                "cors.origins[1]",
            ),
            (
                json!({"cors": {"origins": ["*"], "credentials": true}}),
                "cors.origins[0]",
            ),
            (json!({"cors": {"origins": []}}), "cors.origins"),
            (
                json!({"cors": {"origins": ["*"], "methods": ["get"]}}),
                "cors.methods[0]",
            ),
            (
                json!({"cors": {"origins": ["*"], "headers": ["x y"]}}),
                "cors.headers[0]",
            ),
            (
                json!({"cors": {"origins": ["*"], "max_age": 86401}}),
                "cors.max_age",
            ),
            (
                json!({"ip_deny": ["203.0.113.0/24", "::1", "10.0.0.0/33"]}),
                "ip_deny[2]",
            ),
            (
                json!({"ip_deny": ["10.0.0.1; DROP TABLE api_calls"]}),
                "ip_deny[0]",
            ),
            (json!({"ip_deny": "10.0.0.0/8"}), "ip_deny"),
            (json!({"checks": ["sqli", "sqli"]}), "checks[1]"),
            (json!({"checks": ["rce"]}), "checks[0]"),
            (json!({"checks": [], "check_headers": []}), "check_mode"),
            (json!({"check_mode": "log"}), "check_mode"),
            (json!({"check_headers": ["User-Agent"]}), "check_headers[0]"),
            (
                json!({"idempotency": {"methods": ["post"]}}),
                "idempotency.methods[0]",
            ),
            (
                json!({"idempotency": {"ttl_secs": 604801}}),
                "idempotency.ttl_secs",
            ),
            (
                json!({"idempotency": {"max_answer_bytes": 2_000_000}}),
                "idempotency.max_answer_bytes",
            ),
            (json!({"tx_token": {"methods": []}}), "tx_token.methods"),
            (json!({"tx_token": {"ttl_secs": 0}}), "tx_token.ttl_secs"),
            (json!({"max_body_bytes": 0}), "max_body_bytes"),
            (
                json!({"max_body_bytes": 2_000_000_000u64}),
                "max_body_bytes",
            ),
            (json!({"max_body_bytes": "1MB"}), "max_body_bytes"),
            (json!({"rate": {"per_second": 0}}), "rate.per_second"),
            (json!({"rate": {"per_second": 5, "burst": 0}}), "rate.burst"),
            (
                json!({"rate": {"per_second": 4294967296u64}}),
                "rate.per_second",
            ),
            // Signatures and transaction tokens name a client: not on a public API.
            (json!({"auth": [], "tx_token": null}), "signature"),
            (json!({"auth": [], "signature": null}), "tx_token"),
        ],
    )
    .await;

    // A client with a deny list and two signing keys.
    let client = json!({"name": "Acme", "ip_deny": ["198.51.100.7", "2001:db8:1::/48"],
    "signing_keys": [
        {"id": "acme-ed", "alg": "ed25519", "public_key": ED25519_PEM},
        {"id": "acme-ec", "alg": "ecdsa-p256-sha256", "public_key": P256_PEM}
    ]});
    let a = admin
        .post("/api/v1/clients", with(&client, json!({"id": "acme"})))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["body"]["signing_keys"], client["signing_keys"]);
    assert_eq!(a.body["body"]["ip_deny"], client["ip_deny"]);
    let truncated = ED25519_PEM.replace("MCowBQYDK2VwAyEA", "MCowBQYDK2VwAyE");
    let nine: Vec<Value> = (0..9)
        .map(|i| json!({"id": format!("k{i}"), "alg": "ed25519", "public_key": ED25519_PEM}))
        .collect();
    let key = |id: &str, alg: &str, pem: &str| json!({"id": id, "alg": alg, "public_key": pem});
    refused(
        &admin,
        "/api/v1/clients/acme",
        &client,
        1,
        vec![
            (json!({"ip_deny": ["198.51.100.7", "::1", "300.1.1.1"]}), "ip_deny[2]"),
            (
                json!({"signing_keys": [key("a", "ed25519", ED25519_PEM), key("b", "ed25519", "not a key")]}),
                "signing_keys[1].public_key",
            ),
            (
                json!({"signing_keys": [key("a", "ed25519", P256_PEM)]}),
                "signing_keys[0].public_key",
            ),
            (
                json!({"signing_keys": [key("a", "ecdsa-p256-sha256", &truncated)]}),
                "signing_keys[0].public_key",
            ),
            (
                json!({"signing_keys": [key("a b", "ed25519", ED25519_PEM)]}),
                "signing_keys[0].id",
            ),
            (
                json!({"signing_keys": [key("a", "ed25519", ED25519_PEM), key("a", "ecdsa-p256-sha256", P256_PEM)]}),
                "signing_keys[1].id",
            ),
            (
                json!({"signing_keys": [key("a", "rsa-pss-sha512", ED25519_PEM)]}),
                "signing_keys[0].alg",
            ),
            (json!({"signing_keys": nine}), "signing_keys"),
        ],
    )
    .await;

    // A change of the deny list and one key: the history names the paths, the audit the fields.
    let mut changed = client.clone();
    changed["ip_deny"] = json!(["198.51.100.8"]);
    changed["signing_keys"] = json!([key("acme-ed", "ed25519", ED25519_PEM)]);
    let a = put(&admin, "/api/v1/clients/acme", &changed, 1).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let history = get(&admin, "/api/v1/clients/acme/history").await;
    let paths: Vec<&str> = history["versions"][1]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"ip_deny"), "{paths:?}");
    assert!(paths.contains(&"signing_keys"), "{paths:?}");
    let history = get(&admin, "/api/v1/apis/payments/history").await;
    let paths: Vec<&str> = history["versions"][1]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    for p in [
        "checks",
        "signature",
        "cors",
        "ip_deny",
        "rate",
        "max_body_bytes",
    ] {
        assert!(paths.contains(&p), "{p} not in {paths:?}");
    }
    let audit = get(&admin, "/api/v1/audit").await;
    let items = audit["items"].as_array().unwrap();
    let update = |entity: &str, id: &str| {
        items
            .iter()
            .find(|i| i["action"] == "update" && i["entity"] == entity && i["id"] == id)
            .unwrap_or_else(|| panic!("no update of {id}: {audit}"))
    };
    let fields = &update("api", "payments")["detail"]["fields"];
    for f in [
        "checks",
        "check_mode",
        "check_headers",
        "signature",
        "idempotency",
        "tx_token",
        "max_body_bytes",
        "cors",
        "ip_deny",
        "rate",
    ] {
        assert!(
            fields.as_array().unwrap().contains(&json!(f)),
            "{f}: {fields}"
        );
    }
    assert_eq!(
        update("client", "acme")["detail"]["fields"],
        json!(["ip_deny", "signing_keys"])
    );
    // Two updates and two creates in the log, no write for any refusal.
    let rows = store
        .fetch_u64(
            "SELECT count() FROM audit_log WHERE action IN ('create', 'update') AND actor = 'root'",
        )
        .await
        .unwrap();
    assert_eq!(rows, 4);

    // The signing secret is made by its own action, never typed: a typed one is refused, or
    // (where the field is managed) ignored; never stored, never answered.
    let c = get(&admin, "/api/v1/clients/acme").await;
    let mut typed = c["body"].clone();
    typed["signing_secret"] = json!("hunter2");
    let version = c["version"].as_u64().unwrap();
    let a = put(&admin, "/api/v1/clients/acme", &typed, version).await;
    match a.status {
        422 => assert_eq!(a.body["error"]["field"], "signing_secret", "{}", a.text),
        200 => assert!(!a.text.contains("hunter2"), "{}", a.text),
        s => panic!("{s}: {}", a.text),
    }
    let stored = store
        .fetch_u64("SELECT count() FROM config_log WHERE position(body, 'hunter2') > 0")
        .await
        .unwrap();
    assert_eq!(stored, 0);
}
