//! The admin API of the `dashboards` role, as a client sees it: login, sessions, CSRF,
//! lockout, entity CRUD with versions, keys shown once, the role table, audit rows, OpenAPI.

use crate::helpers::*;
use bytes::Bytes;
use gatewatch_dashboards::access::{self, Access};
use gatewatch_model::{EntityKind, Role};
use gatewatch_store::config_log;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::Stdio;

/// A client of the admin API holding a session cookie, its CSRF token, or a bearer token.
#[derive(Clone)]
pub(crate) struct Api {
    base: SocketAddr,
    cookie: Option<String>,
    csrf: Option<String>,
    bearer: Option<String>,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Api {
    pub(crate) fn anonymous(base: SocketAddr) -> Api {
        Api {
            base,
            cookie: None,
            csrf: None,
            bearer: None,
        }
    }

    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Answer {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.base, path));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c.as_str());
        }
        if let Some(c) = &self.csrf {
            req = req.header("x-csrf-token", c.as_str());
        }
        if let Some(b) = &self.bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
            .unwrap();
        let r = client.request(req).await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None, &[]).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Answer {
        self.call("POST", path, Some(&body.to_string()), &[]).await
    }

    async fn put(&self, path: &str, body: Value, version: &str) -> Answer {
        self.call(
            "PUT",
            path,
            Some(&body.to_string()),
            &[("if-match", version)],
        )
        .await
    }

    /// Logs in; panics unless it works.
    pub(crate) async fn login(base: SocketAddr, user: &str, password: &str) -> Api {
        let a = Api::anonymous(base)
            .post("/api/v1/login", json!({"user": user, "password": password}))
            .await;
        assert_eq!(a.status, 200, "login {user}: {}", a.text);
        let set = a.headers["set-cookie"].to_str().unwrap().to_string();
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(attr), "{set}");
        }
        Api {
            base,
            cookie: Some(set.split(';').next().unwrap().to_string()),
            csrf: Some(a.body["csrf_token"].as_str().unwrap().to_string()),
            bearer: None,
        }
    }
}

pub(crate) fn add_user(site: &Site, name: &str, role: &str, password: &str) {
    let mut child = gatewatch(
        &["user", "add", name, "--role", role, "--password-stdin"],
        &site.config_path(),
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const PW: &str = "a long test password";

/// No answer of the API may carry a stored secret.
fn assert_no_secrets(a: &Answer) {
    for needle in [
        "hmac-sha256",
        "$argon2",
        "password_hash",
        "secret_hash",
        "\"hash\"",
    ] {
        assert!(!a.text.contains(needle), "{needle} in {}", a.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_entities_keys_sessions_and_audit() {
    let site = Site::new(
        "admin_api",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    add_user(&site, "root", "admin", PW);
    let dash = site.start("dashboards").await;
    let base = site.dashboards;
    let anon = Api::anonymous(base);

    // Not logged in, wrong password, and a bad usage of the CLI.
    assert_eq!(anon.get("/api/v1/apis").await.status, 401);
    let bad = anon
        .post(
            "/api/v1/login",
            json!({"user": "root", "password": "nope nope nope"}),
        )
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["error"]["code"], "bad_credentials");
    assert_eq!(
        anon.call("POST", "/api/v1/login", Some("{not json"), &[])
            .await
            .status,
        400
    );
    let out = gatewatch(&["user", "add", "x", "--role", "root"], &site.config_path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let admin = Api::login(base, "root", PW).await;
    // A token that expires in two seconds, checked at the end.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let r = admin
        .post(
            "/api/v1/me/tokens",
            json!({"name": "brief", "expires_at": soon}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let brief = Api {
        bearer: Some(r.body["secret"].as_str().unwrap().to_string()),
        ..Api::anonymous(base)
    };
    assert_eq!(brief.get("/api/v1/me").await.status, 200);
    let brief_ends = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let r = admin
        .post(
            "/api/v1/me/tokens",
            json!({"expires_at": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("expires_at"))
    );
    let r = admin
        .post("/api/v1/me/tokens", json!({"expires": "tomorrow"}))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let me = admin.get("/api/v1/me").await;
    assert_eq!(me.body["role"], "admin");

    // CSRF: a cookie session's unsafe request without the token is refused.
    let no_csrf = Api {
        csrf: None,
        ..admin.clone()
    };
    let r = no_csrf
        .post(
            "/api/v1/groups",
            json!({"id": "g", "name": "g", "apis": ["*"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (403, Some("csrf"))
    );

    // Create, validate, replace with If-Match, history.
    let api = json!({"id": "orders", "name": "訂單", "prefix": "/orders", "upstreams": ["http://127.0.0.1:9"]});
    let r = admin.post("/api/v1/apis", api.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.headers["location"], "/api/v1/apis/orders");
    assert_eq!(r.headers["etag"], "\"1\"");
    assert_eq!(admin.post("/api/v1/apis", api.clone()).await.status, 409);
    assert_eq!(
        admin
            .call("POST", "/api/v1/apis", Some("{\"id\":"), &[])
            .await
            .status,
        400
    );
    let r = admin
        .post(
            "/api/v1/clients",
            json!({"id": "acme", "name": "Acme", "quota": {"per_day": 0}}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["error"]["code"], "invalid");
    assert_eq!(r.body["error"]["field"], "quota.per_day", "{}", r.text);
    let r = admin.post("/api/v1/apis", json!({"id": "x", "name": "x", "prefix": "/x", "upstreams": [{"url": "http://a", "weight": "heavy"}]})).await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("upstreams[0]"))
    );
    let r = admin
        .post(
            "/api/v1/apis",
            json!({"id": "x", "prefix": "/x", "upstreams": ["http://a"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("name")),
        "{}",
        r.text
    );
    let r = anon.post("/api/v1/login", json!({"user": "root"})).await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("password")),
        "{}",
        r.text
    );
    let r = admin
        .post(
            "/api/v1/apis",
            json!({"id": "a/b", "name": "x", "prefix": "/x", "upstreams": ["http://a"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("id"))
    );

    let mut changed = api.clone();
    changed["name"] = json!("訂單 v2");
    assert_eq!(
        admin
            .call(
                "PUT",
                "/api/v1/apis/orders",
                Some(&changed.to_string()),
                &[]
            )
            .await
            .status,
        428
    );
    assert_eq!(
        admin
            .put("/api/v1/apis/orders", changed.clone(), "\"7\"")
            .await
            .status,
        412
    );
    let r = admin
        .put("/api/v1/apis/orders", changed.clone(), "\"1\"")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 2);
    assert_eq!(
        admin
            .put("/api/v1/apis/orders", changed.clone(), "\"1\"")
            .await
            .status,
        412
    );
    let r = admin.get("/api/v1/apis/orders").await;
    assert_eq!(
        (
            r.headers["etag"].to_str().unwrap(),
            r.body["body"]["name"].as_str()
        ),
        ("\"2\"", Some("訂單 v2"))
    );
    let h = admin.get("/api/v1/apis/orders/history").await;
    let versions = h.body["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["changed_by"], "root");
    assert_eq!(versions[0]["body"]["name"], "訂單");
    assert_eq!(admin.get("/api/v1/apis/nope").await.status, 404);

    // Two writers of one version: one wins, the other is told it is stale.
    let (a, b) = tokio::join!(
        admin.put("/api/v1/apis/orders", changed.clone(), "\"2\""),
        admin.put("/api/v1/apis/orders", api.clone(), "\"2\"")
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 412]);

    // A change written by another process shows within the poll interval.
    config_log::write(
        &store,
        "elsewhere",
        "",
        &[config_log::Change {
            kind: EntityKind::Group,
            id: "outside".into(),
            body: json!({"name": "o", "apis": ["*"]}).to_string(),
            deleted: false,
            expected_version: Some(0),
        }],
        chrono::Utc::now().timestamp_micros(),
    )
    .await
    .unwrap();
    let mut seen_outside = false;
    for _ in 0..50 {
        if admin.get("/api/v1/groups/outside").await.status == 200 {
            seen_outside = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        seen_outside,
        "a change by another writer never reached the cache"
    );
    assert_eq!(anon.get("/readyz").await.status, 200);

    // Pagination: keyset by id.
    for i in 0..5 {
        let r = admin
            .post(
                "/api/v1/groups",
                json!({"id": format!("g{i}"), "name": "g", "apis": ["orders*"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let (mut seen, mut cursor, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        let r = admin
            .get(&format!("/api/v1/groups?limit=2&cursor={cursor}"))
            .await;
        assert_eq!(r.status, 200);
        pages += 1;
        for it in r.body["items"].as_array().unwrap() {
            seen.push(it["id"].as_str().unwrap().to_string());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ["g0", "g1", "g2", "g3", "g4", "outside"]);
    assert_eq!(pages, 3);
    let r = admin.get("/api/v1/groups?limit=0").await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("limit"))
    );

    // Delete with If-Match.
    assert_eq!(
        admin
            .call("DELETE", "/api/v1/groups/g4", None, &[])
            .await
            .status,
        428
    );
    assert_eq!(
        admin
            .call(
                "DELETE",
                "/api/v1/groups/g4",
                None,
                &[("if-match", "\"1\"")]
            )
            .await
            .status,
        204
    );
    assert_eq!(admin.get("/api/v1/groups/g4").await.status, 404);

    // Clients, keys shown once, stored as the pepper's HMAC.
    let r = admin
        .post(
            "/api/v1/clients",
            json!({"id": "acme", "name": "Acme", "groups": ["g0"], "secret_hash": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("secret_hash"))
    );
    let r = admin
        .post(
            "/api/v1/clients",
            json!({"id": "acme", "name": "Acme", "groups": ["nope"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("groups[0]"))
    );
    assert_eq!(
        admin
            .post(
                "/api/v1/clients",
                json!({"id": "acme", "name": "Acme", "groups": ["g0"]})
            )
            .await
            .status,
        201
    );
    assert_eq!(
        admin
            .post(
                "/api/v1/products",
                json!({"id": "p-auto", "name": "P", "apis": ["orders"]})
            )
            .await
            .status,
        201
    );
    assert_eq!(
        admin
            .post(
                "/api/v1/products",
                json!({"id": "p-man", "name": "M", "apis": ["*"], "approval": "manual"})
            )
            .await
            .status,
        201
    );
    let r = admin
        .post("/api/v1/clients/acme/keys", json!({"products": ["p-auto"]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = r.body["secret"].as_str().unwrap().to_string();
    let key_id = r.body["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("gwk_") && key.len() == 47, "{key}");
    assert_no_secrets(&r);
    let pepper = std::fs::read(site.dir.path().join("data/secret/pepper")).unwrap();
    let stored = config_log::get(&store, EntityKind::ApiKey, &key_id)
        .await
        .unwrap()
        .unwrap();
    let spec: gatewatch_model::ApiKeySpec = serde_json::from_str(&stored.body).unwrap();
    assert!(gatewatch_model::secret::verify_secret(
        &pepper, &key, &spec.hash
    ));
    assert_eq!(
        spec.products[0].status,
        gatewatch_model::access::GrantStatus::Approved
    );
    for path in [
        format!("/api/v1/api-keys/{key_id}"),
        "/api/v1/api-keys".to_string(),
        format!("/api/v1/api-keys/{key_id}/history"),
    ] {
        let r = admin.get(&path).await;
        assert_eq!(r.status, 200);
        assert!(!r.text.contains(&key), "the key is shown again at {path}");
        assert_no_secrets(&r);
    }
    let r = admin.post("/api/v1/clients/nope/keys", json!({})).await;
    assert_eq!(r.status, 404);
    let r = admin
        .post("/api/v1/clients/acme/keys", json!({"products": ["nope"]}))
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("products[0]"))
    );

    // Grants: manual products wait for approval.
    let r = admin
        .post(
            &format!("/api/v1/api-keys/{key_id}/products"),
            json!({"product": "p-man"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["body"]["products"][1]["status"], "pending");
    let r = admin
        .post(
            &format!("/api/v1/api-keys/{key_id}/products/p-man/approve"),
            json!({}),
        )
        .await;
    assert_eq!(r.body["body"]["products"][1]["status"], "approved");
    let r = admin
        .post(
            &format!("/api/v1/api-keys/{key_id}/products/p-auto/revoke"),
            json!({}),
        )
        .await;
    assert_eq!(r.body["body"]["products"][0]["status"], "revoked");
    assert_eq!(
        admin
            .post(
                &format!("/api/v1/api-keys/{key_id}/products/zzz/approve"),
                json!({})
            )
            .await
            .status,
        404
    );

    // Two actions on one key at once, without If-Match: both land (the loser re-reads).
    for p in ["p3", "p4"] {
        let r = admin
            .post(
                "/api/v1/products",
                json!({"id": p, "name": p, "apis": ["*"]}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let grants = format!("/api/v1/api-keys/{key_id}/products");
    let (a, b) = tokio::join!(
        admin.post(&grants, json!({"product": "p3"})),
        admin.post(&grants, json!({"product": "p4"}))
    );
    assert_eq!((a.status, b.status), (200, 200), "{} {}", a.text, b.text);
    let k = admin.get(&format!("/api/v1/api-keys/{key_id}")).await;
    let names: Vec<&str> = k.body["body"]["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["product"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"p3") && names.contains(&"p4"), "{names:?}");

    // Rotation keeps the old key for the overlap; revocation is immediate.
    let r = admin
        .post(
            &format!("/api/v1/api-keys/{key_id}/rotate"),
            json!({"overlap_secs": 3600}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let new_id = r.body["id"].as_str().unwrap().to_string();
    assert_ne!(r.body["secret"].as_str().unwrap(), key);
    assert_eq!(r.body["entity"]["body"]["replaces"], key_id.as_str());
    let old = admin.get(&format!("/api/v1/api-keys/{key_id}")).await;
    assert!(old.body["body"]["expires_at"].is_string(), "{}", old.text);
    let r = admin
        .post(
            &format!("/api/v1/api-keys/{key_id}/rotate"),
            json!({"overlap_secs": 99999999}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("overlap_secs"))
    );
    let r = admin
        .post(&format!("/api/v1/api-keys/{new_id}/revoke"), json!({}))
        .await;
    assert_eq!(
        (r.status, r.body["body"]["revoked"].as_bool()),
        (200, Some(true))
    );

    // A client secret for HTTP Basic, shown once.
    let r = admin.post("/api/v1/clients/acme/secret", json!({})).await;
    assert_eq!(r.status, 201);
    assert!(r.body["secret"].as_str().unwrap().starts_with("gws_"));
    let c = admin.get("/api/v1/clients/acme").await;
    assert_eq!(c.body["body"]["has_secret"], true);
    assert_no_secrets(&c);
    // GET → PUT round trip keeps the secret.
    let mut body = c.body["body"].clone();
    body["description"] = json!("updated");
    let r = admin
        .put(
            "/api/v1/clients/acme",
            body,
            c.headers["etag"].to_str().unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["body"]["has_secret"], true);

    // What is still named cannot be deleted.
    let v = admin.get("/api/v1/groups/g0").await.headers["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let r = admin
        .call("DELETE", "/api/v1/groups/g0", None, &[("if-match", &v)])
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("client acme"), "{}", r.text);
    let v = admin.get("/api/v1/clients/acme").await.headers["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let r = admin
        .call("DELETE", "/api/v1/clients/acme", None, &[("if-match", &v)])
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains(&key_id), "{}", r.text);
    // A comment in any language, through X-Comment.
    let r = admin
        .call(
            "POST",
            "/api/v1/groups",
            Some(&json!({"id": "tw", "name": "台灣", "apis": ["*"]}).to_string()),
            &[("x-comment", "新增群組")],
        )
        .await;
    assert_eq!(
        (r.status, r.body["comment"].as_str()),
        (201, Some("新增群組")),
        "{}",
        r.text
    );

    // Users: created with a generated password, shown once; never a hash.
    let r = admin
        .post("/api/v1/users", json!({"id": "olive", "role": "ops"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let olive_pw = r.body["password"].as_str().unwrap().to_string();
    assert_no_secrets(&r);
    assert_no_secrets(&admin.get("/api/v1/users").await);
    let r = admin
        .post(
            "/api/v1/users",
            json!({"id": "short", "role": "ops", "password": "short"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("password"))
    );
    assert_no_secrets(&admin.get("/api/v1/users/olive/history").await);
    let olive = Api::login(base, "olive", &olive_pw).await;
    assert_eq!(olive.get("/api/v1/users").await.status, 403);
    assert_eq!(olive.post("/api/v1/apis", json!({})).await.status, 403);
    assert_eq!(
        olive
            .post(
                "/api/v1/alert-rules",
                json!({"id": "cpu", "name": "CPU", "kind": {"type": "node_cpu"}, "threshold": 90})
            )
            .await
            .status,
        201
    );
    // A bad rule is refused naming the field; a silence is ops' to set.
    let r = olive
        .post(
            "/api/v1/alert-rules",
            json!({"id": "cpu2", "name": "CPU", "kind": {"type": "node_cpu"},
                   "threshold": 90, "recovery": 95}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("recovery")),
        "{}",
        r.text
    );
    let r = olive
        .post(
            "/api/v1/silences",
            json!({"id": "upgrade", "rule": "cpu", "from": "2026-11-25T12:00:00Z",
                   "until": "2026-11-25T10:00:00Z", "who": "olive", "why": "upgrade"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("until")),
        "{}",
        r.text
    );
    assert_eq!(
        olive
            .post(
                "/api/v1/silences",
                json!({"id": "upgrade", "rule": "cpu", "from": "2026-11-25T10:00:00Z",
                       "until": "2026-11-25T12:00:00Z", "who": "olive", "why": "upgrade"})
            )
            .await
            .status,
        201
    );

    // Bearer tokens: shown once, no CSRF needed, never listed with a hash.
    let r = admin.post("/api/v1/me/tokens", json!({"name": "ci"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.body["secret"].as_str().unwrap().to_string();
    let script = Api {
        bearer: Some(token.clone()),
        ..Api::anonymous(base)
    };
    assert_eq!(script.get("/api/v1/me").await.body["user"], "root");
    assert_eq!(
        script
            .post(
                "/api/v1/groups",
                json!({"id": "from-ci", "name": "ci", "apis": ["*"]})
            )
            .await
            .status,
        201
    );
    let tokens = admin.get("/api/v1/me/tokens").await;
    assert!(!tokens.text.contains(&token));
    assert_no_secrets(&tokens);
    assert_eq!(
        Api {
            bearer: Some("gwt_nope".into()),
            ..Api::anonymous(base)
        }
        .get("/api/v1/me")
        .await
        .status,
        401
    );

    // A password change ends the user's other sessions; logout ends this one.
    let olive2 = Api::login(base, "olive", &olive_pw).await;
    let r = olive
        .post(
            "/api/v1/me/password",
            json!({"current": "wrong password", "new": "another long password"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("current"))
    );
    let r = olive
        .post(
            "/api/v1/me/password",
            json!({"current": olive_pw, "new": "another long password"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(olive2.get("/api/v1/me").await.status, 401);
    let olive3 = Api::login(base, "olive", "another long password").await;
    assert_eq!(olive3.post("/api/v1/logout", json!({})).await.status, 204);
    assert_eq!(olive3.get("/api/v1/me").await.status, 401);

    // An admin's password reset and disabling end the user's sessions; logout everywhere too.
    let u = admin.get("/api/v1/users/olive").await;
    let mut body = u.body["body"].clone();
    body["password"] = json!("reset by the admin");
    let r = admin
        .put(
            "/api/v1/users/olive",
            body.clone(),
            u.headers["etag"].to_str().unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_no_secrets(&r);
    assert_eq!(olive3.get("/api/v1/me").await.status, 401);
    let olive4 = Api::login(base, "olive", "reset by the admin").await;
    let olive5 = Api::login(base, "olive", "reset by the admin").await;
    assert_eq!(
        olive4
            .post("/api/v1/logout?everywhere=true", json!({}))
            .await
            .status,
        204
    );
    assert_eq!(olive5.get("/api/v1/me").await.status, 401);
    let olive6 = Api::login(base, "olive", "reset by the admin").await;
    let u = admin.get("/api/v1/users/olive").await;
    let mut body = u.body["body"].clone();
    body["disabled"] = json!(true);
    let r = admin
        .put(
            "/api/v1/users/olive",
            body,
            u.headers["etag"].to_str().unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(olive6.get("/api/v1/me").await.status, 401);
    let r = anon
        .post(
            "/api/v1/login",
            json!({"user": "olive", "password": "reset by the admin"}),
        )
        .await;
    assert_eq!(r.status, 401);

    // Audit: changes with their version and author, logins with the IP, failures too.
    let r = admin.get("/api/v1/audit").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.body["items"].as_array().unwrap();
    let has = |actor: &str, action: &str, id: &str| {
        items
            .iter()
            .any(|i| i["actor"] == actor && i["action"] == action && i["id"] == id)
    };
    assert!(has("root", "create", "orders"));
    assert!(has("root", "update", "orders"));
    assert!(has("root", "key.create", &key_id));
    assert!(has("root", "key.rotate", &new_id));
    assert!(has("root", "login", "root"));
    assert!(has("root", "login.failed", "root"));
    assert!(has("olive", "password.change", "olive"));
    let login = items.iter().find(|i| i["action"] == "login").unwrap();
    assert_eq!(login["client_ip"], "127.0.0.1");
    let update = items
        .iter()
        .find(|i| i["action"] == "update" && i["id"] == "orders" && i["detail"]["version"] == 2)
        .unwrap();
    assert_eq!(update["detail"]["version"], 2);
    assert_eq!(update["detail"]["fields"], json!(["name"]));
    assert_eq!(update["entity"], "api");
    let r = admin.get("/api/v1/audit?user=olive").await;
    assert!(r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["actor"] == "olive"));
    let r = admin.get("/api/v1/audit?from=yesterday").await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("from"))
    );
    assert_eq!(olive3.get("/api/v1/audit").await.status, 401);
    let rows = store
        .fetch_u64("SELECT count() FROM audit_log WHERE action = 'login.failed' AND actor = 'root' AND client_ip = '127.0.0.1'")
        .await
        .unwrap();
    assert_eq!(rows, 1);

    tokio::time::sleep_until(brief_ends.into()).await;
    let r = brief.get("/api/v1/me").await;
    assert_eq!(r.status, 401, "an expired token still works: {}", r.text);

    // The OpenAPI document is served and names every route of the table.
    let r = anon.get("/api/openapi.json").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["openapi"], "3.1.0");
    let paths = r.body["paths"].as_object().unwrap();
    for rule in access::rules() {
        // axum's catch-all `{*file}` is `{file}` in OpenAPI.
        let path = rule.path.replace("{*", "{");
        let op = &paths[&path][rule.method.as_str().to_lowercase()];
        assert!(
            op.is_object(),
            "{} {} missing from the OpenAPI document",
            rule.method,
            rule.path
        );
    }
    // Every reference resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    out.push(r.clone());
                }
                o.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&r.body, &mut all);
    assert!(all.len() > 60, "{all:?}");
    for rf in all {
        let name = rf.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            r.body["components"]["schemas"][name].is_object(),
            "{rf} does not resolve"
        );
    }
    // Every link (the report API's too) names an operation of the document.
    let ops: Vec<&Value> = paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .collect();
    let ids: Vec<&str> = ops
        .iter()
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    let mut links = 0;
    for op in &ops {
        for resp in op["responses"].as_object().unwrap().values() {
            for link in resp["links"]
                .as_object()
                .into_iter()
                .flat_map(|l| l.values())
            {
                let target = link["operationId"].as_str().unwrap();
                assert!(ids.contains(&target), "a link names {target}");
                links += 1;
            }
        }
    }
    assert!(links > 40, "{links} links");
    drop(dash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_lock_the_user_from_that_address() {
    let site = Site::new(
        "admin_lockout",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    add_user(&site, "lou", "support", PW);
    let _dash = site.start("dashboards").await;
    let anon = Api::anonymous(site.dashboards);
    for _ in 0..5 {
        let r = anon
            .post(
                "/api/v1/login",
                json!({"user": "lou", "password": "wrong password"}),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    // Now even the right password is refused, with a time to wait.
    let r = anon
        .post("/api/v1/login", json!({"user": "lou", "password": PW}))
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "locked");
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait > 0 && wait <= 900);
    // Another user is not locked.
    add_user(&site, "other", "support", PW);
    Api::login(site.dashboards, "other", PW).await;
    eventually(
        &store,
        "SELECT count() FROM audit_log WHERE action = 'login.locked' AND actor = 'lou'",
        2,
        10,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_site_gets_an_admin_with_a_password_printed_once() {
    let site = Site::new(
        "admin_first",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    let mut dash = site.start("dashboards").await;
    let log = dash.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("created user \"admin\"") && l.contains("with password"))
        .unwrap_or_else(|| panic!("no password line in {log}"));
    let password = line
        .split("with password ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let admin = Api::login(site.dashboards, "admin", password).await;
    assert_eq!(admin.get("/api/v1/users").await.status, 200);
    // `user add` without --password-stdin prints a generated password once.
    let out = gatewatch(
        &["user", "add", "gen", "--role", "ops"],
        &site.config_path(),
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}");
    let generated = stdout.split("(shown once): ").nth(1).unwrap().trim();
    Api::login(site.dashboards, "gen", generated).await;
    let out = gatewatch(
        &["user", "add", "gen", "--role", "ops"],
        &site.config_path(),
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    // A restart does not make another.
    dash.terminate();
    let dash = site.start("dashboards").await;
    assert_eq!(dash.log_text().matches("with password").count(), 1);
}

/// A body that passes validation, per kind, with id `id`.
fn sample(kind: EntityKind, id: &str) -> Value {
    match kind {
        EntityKind::Api => {
            json!({"id": id, "name": "x", "prefix": format!("/{id}"), "upstreams": ["http://127.0.0.1:9"]})
        }
        EntityKind::Client => json!({"id": id, "name": "x"}),
        EntityKind::ApiKey => json!({"client_id": "c1"}),
        EntityKind::Group => json!({"id": id, "name": "x", "apis": ["*"]}),
        EntityKind::Product => json!({"id": id, "name": "x", "apis": ["*"], "approval": "manual"}),
        EntityKind::User => json!({"id": id, "role": "support", "password": PW}),
        EntityKind::AlertRule => json!({
            "id": id, "name": "CPU", "kind": {"type": "node_cpu"}, "threshold": 90,
            "recovery": 80, "for_secs": 180, "repeat_secs": 180,
            "windows": [{"type": "daily", "from": "22:00", "until": "06:00"}],
            "recipients": {"roles": ["ops"]}
        }),
        EntityKind::Silence => json!({
            "id": id, "rule": "*", "node": "gw1", "from": "2026-11-25T10:00:00Z",
            "until": "2026-11-25T12:00:00Z", "who": "olive", "why": "kernel upgrade"
        }),
        EntityKind::Channel => json!({"id": id, "name": "x", "email": {"to": ["ops@example.tw"]}}),
        EntityKind::ReportSubscription => json!({
            "id": id, "name": "Daily usage", "report": "usage", "params": {"range": "yesterday"},
            "cron": "0 8 * * *", "recipients": {"roles": ["manager"]}
        }),
        EntityKind::NotificationPolicy => json!({
            "id": id, "name": "CPU by rule", "matchers": ["kind=node_cpu"], "group_by": ["rule"]
        }),
        EntityKind::InhibitRule => json!({
            "id": id, "name": "silent node", "source_matchers": ["kind=node_silent"],
            "target_matchers": ["kind=~node_cpu|disk"], "equal": ["node"]
        }),
        EntityKind::ApiFamily => json!({"id": id, "name": "Orders", "default_version": "v1"}),
        EntityKind::Release => json!({"id": id, "created_us": 1, "entities": []}),
    }
}

/// Every route of the access table, called by each role with a request that succeeds when the
/// role may make it (own fixtures per role, the current version in `If-Match`): 2xx where
/// the table allows, 403 where it does not, 401 without a login.
/// A bearer-token caller of user `u-<role>` and the id of a spare token of theirs.
async fn tokens_of(base: SocketAddr, role: Role) -> (Api, String) {
    let s = Api::login(base, &format!("u-{role}"), PW).await;
    let r = s.post("/api/v1/me/tokens", json!({"name": "matrix"})).await;
    let bearer = r.body["secret"].as_str().unwrap().to_string();
    let r = s.post("/api/v1/me/tokens", json!({"name": "spare"})).await;
    let spare = r.body["id"].as_str().unwrap().to_string();
    (
        Api {
            bearer: Some(bearer),
            ..Api::anonymous(base)
        },
        spare,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_role_as_the_access_table_says() {
    let site = Site::new(
        "admin_roles",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    for role in Role::ALL {
        add_user(&site, &format!("u-{role}"), role.as_str(), PW);
    }
    // The fixtures' own admin, whose session the matrix's password changes leave alone.
    add_user(&site, "boss", "admin", PW);
    let _dash = site.start("dashboards").await;
    let base = site.dashboards;
    let admin = Api::login(base, "boss", PW).await;
    let created = |r: Answer, what: &str| {
        assert_eq!(r.status, 201, "{what}: {}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    };
    created(
        admin
            .post("/api/v1/clients", sample(EntityKind::Client, "c1"))
            .await,
        "c1",
    );
    created(
        admin
            .post("/api/v1/products", sample(EntityKind::Product, "gp"))
            .await,
        "gp",
    );
    // Per role: `fx` to read, replace and act on; `del` to delete; a token to delete.
    let mut ids: HashMap<(Role, EntityKind, &str), String> = HashMap::new();
    let mut callers = Vec::new();
    for role in Role::ALL {
        for (kind, seg) in access::KINDS {
            for purpose in ["fx", "del"] {
                let id = if kind == EntityKind::ApiKey {
                    let r = admin
                        .post("/api/v1/clients/c1/keys", json!({"products": ["gp"]}))
                        .await;
                    r.body["id"].as_str().unwrap_or_default().to_string()
                } else {
                    let id = format!("{purpose}-{role}");
                    created(
                        admin
                            .post(&format!("/api/v1/{seg}"), sample(kind, &id))
                            .await,
                        &id,
                    )
                };
                ids.insert((role, kind, purpose), id);
            }
        }
        // Each role calls through a bearer token, so that logout ends nothing (a password
        // change ends the tokens: new ones are made after it); a second token is there to be
        // deleted.
        let (caller, spare) = tokens_of(base, role).await;
        ids.insert((role, EntityKind::User, "token"), spare);
        callers.push((role, caller));
    }
    // Each role's rule `fx-<role>` fires for node=gw1, so that its ack and unack succeed.
    let episode = chrono::Utc::now() - chrono::Duration::minutes(10);
    let states: Vec<gatewatch_store::alerts::SavedState> = Role::ALL
        .iter()
        .map(|role| gatewatch_store::alerts::SavedState {
            rule_id: format!("fx-{role}"),
            scope_key: "node=gw1".into(),
            ts_us: episode.timestamp_micros(),
            state: serde_json::to_string(&gatewatch_model::alert::AlertState {
                phase: gatewatch_model::alert::Phase::Firing {
                    since: episode,
                    fired_at: episode,
                    last_sent: None,
                    last_held: None,
                },
                owed_resolved: None,
            })
            .unwrap(),
        })
        .collect();
    gatewatch_store::alerts::save_states(&store, "a1", &states)
        .await
        .unwrap();
    // A release every role's read and (dry-run) rollback can name.
    gatewatch_store::releases::make(
        &store,
        "fx-rel",
        "",
        "root",
        chrono::Utc::now().timestamp_micros(),
    )
    .await
    .unwrap();
    let anon = Api::anonymous(base);
    let (mut allowed_n, mut denied_n) = (0, 0);
    for rule in access::rules() {
        let kind = access::KINDS
            .iter()
            .find(|(_, seg)| {
                rule.path.starts_with(&format!("/api/v1/{seg}/"))
                    || rule.path == format!("/api/v1/{seg}")
            })
            .map(|(k, _)| *k);
        let method = rule.method.as_str();
        let segments = rule.path.matches('/').count();
        for slot in callers.iter_mut() {
            let (role, caller) = (&slot.0, &slot.1);
            let purpose = if method == "DELETE" && segments == 4 {
                "del"
            } else {
                "fx"
            };
            let id = kind
                .map(|k| ids[&(*role, k, purpose)].clone())
                .unwrap_or_default();
            let path = rule
                .path
                .replace("{id}", &id)
                .replace("{product}", "gp")
                .replace("{*file}", "app.js")
                .replace("{name}", "fx-rel")
                .replace("{token_id}", &ids[&(*role, EntityKind::User, "token")]);
            let path = if rule.path == "/api/v1/releases/diff" {
                format!("{path}?from=fx-rel&to=current")
            } else {
                path
            };
            let mut body = match (method, rule.path.as_str()) {
                (_, "/api/v1/login") => json!({"user": format!("u-{role}"), "password": PW}),
                (_, "/api/v1/me/password") => json!({"current": PW, "new": PW}),
                (_, "/api/v1/me/preferences") => {
                    json!({"lang": "zh-TW", "timezone": "Asia/Taipei"})
                }
                (_, "/api/v1/oauth/keys/rotate") => json!({}),
                ("POST", "/api/v1/releases") => json!({"name": format!("rel-{role}")}),
                (_, "/api/v1/releases/{name}/rollback") => json!({"dry_run": true}),
                (_, "/api/v1/oauth/revocations") => {
                    json!({"jti": format!("jti-{role}"), "client_id": "c1"})
                }
                (_, p) if segments > 3 && p.ends_with("/products") => json!({"product": "gp"}),
                (_, p) if p.ends_with("/rotate") => json!({"overlap_secs": 60}),
                (_, "/api/v1/alert-rules/preview") => sample(EntityKind::AlertRule, "draft"),
                (_, "/api/v1/alert-rules/windows/check") => json!({
                    "windows": [{"weekdays": ["monday:friday"]}],
                    "at": ["2026-12-07T10:00:00Z"]
                }),
                (_, "/api/v1/alerts/ack" | "/api/v1/alerts/unack") => json!({
                    "rule": format!("fx-{role}"), "scope_key": "node=gw1",
                    "episode_us": episode.timestamp_micros()
                }),
                ("POST", _) if segments == 3 && kind.is_some() => {
                    sample(kind.unwrap(), &format!("new-{role}"))
                }
                ("PUT", _) => sample(kind.unwrap(), &id),
                _ => json!({}),
            };
            if let Some(o) = body.as_object_mut().filter(|_| method == "PUT") {
                o.remove("id");
            }
            // The version the caller would have read.
            let version = if matches!(method, "PUT" | "DELETE") && kind.is_some() {
                let seg = &rule.path.split('/').nth(3).unwrap();
                let r = admin.get(&format!("/api/v1/{seg}/{id}")).await;
                match r.headers.get("etag") {
                    Some(v) => v.to_str().unwrap().to_string(),
                    None => panic!(
                        "{role} {method} {path}: no version of {seg}/{id}: {}",
                        r.text
                    ),
                }
            } else {
                String::new()
            };
            let if_match = [("if-match", version.as_str())];
            let headers: &[(&str, &str)] = if version.is_empty() { &[] } else { &if_match };
            let r = caller
                .call(method, &path, Some(&body.to_string()), headers)
                .await;
            let allowed = match rule.access {
                Access::Public | Access::Login => true,
                Access::Perm(p) => role.may(p),
            };
            // Test-sends go to the alerter, which this site does not run: 502 saying so
            // counts as allowed (tests/e2e/test_send.rs covers them with a real alerter).
            let alerter_down = rule.path.ends_with("/test")
                && r.status == 502
                && r.body["error"]["code"] == "alerter_unavailable";
            if allowed {
                assert!(
                    (200..300).contains(&r.status) || alerter_down,
                    "{role} {method} {path}: {} {}",
                    r.status,
                    r.text
                );
                allowed_n += 1;
            } else {
                assert_eq!(r.status, 403, "{role} {method} {path}: {}", r.text);
                denied_n += 1;
            }
            if rule.path == "/api/v1/me/password" {
                let role = *role;
                assert_eq!(
                    caller.call("GET", "/api/v1/me", None, &[]).await.status,
                    401,
                    "{role}'s token outlived the password change"
                );
                let (caller, spare) = tokens_of(base, role).await;
                ids.insert((role, EntityKind::User, "token"), spare);
                *slot = (role, caller);
            }
        }
        let r = anon.call(method, &rule.path, Some("{}"), &[]).await;
        if rule.access == Access::Public {
            assert!(
                !matches!(r.status, 401 | 403),
                "anonymous {method} {}: {}",
                rule.path,
                r.text
            );
        } else {
            assert_eq!(
                r.status, 401,
                "anonymous {method} {}: {}",
                rule.path, r.text
            );
        }
    }
    println!(
        "checked {} routes: {allowed_n} allowed (2xx), {denied_n} refused (403)",
        access::rules().len()
    );
}
