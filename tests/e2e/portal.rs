//! The developer portal (issue 21, first slice) with the real binary and ClickHouse: only
//! published APIs appear (an unpublished and an unknown id get the same 404 everywhere), the
//! search over name, summary and tags in Latin and Chinese, Markdown attacks come out inert,
//! path tricks answer 404/400 cleanly, the security headers, `[portal] listen` and the portal
//! fields validated naming the field.

use crate::admin::{add_user, Api};
use crate::helpers::*;
use gatewatch_model::EntityKind;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An answer read off a raw connection: status, head (lower case), body.
pub(crate) struct Raw {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// `GET target` sent as written (no client-side normalization), `Connection: close`.
pub(crate) async fn raw_get(addr: SocketAddr, target: &str) -> Raw {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {target} HTTP/1.1\r\nHost: portal\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("the portal answers within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // Bodies here are small and sent whole (content-length), not chunked.
    Raw {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

const DOC: &str = r##"{"openapi": "3.0.3", "info": {"title": "支付 API", "version": "2.0"},
  "paths": {"/pay/orders/{id}": {
     "parameters": [{"name": "id", "in": "path", "description": "訂單編號", "schema": {"type": "string"}}],
     "get": {"summary": "查詢訂單", "parameters": [{"name": "lang", "in": "query", "schema": {"type": "string"}}],
             "responses": {"200": {"description": "訂單", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}, "example": {"id": "A-7", "備註": "<script>alert(9)</script>"}}}}, "404": {"description": "沒有這筆訂單"}}},
     "delete": {"summary": "<img src=x onerror=alert(1)>", "deprecated": true, "responses": {"204": {"description": "gone"}}}}}}"##;

pub(crate) const ATTACKS: &str = "# 支付說明\n\n\
<script>alert('md')</script>\n\n\
[click me](javascript:alert(1)) [also](JaVaScRiPt:alert(2))\n\n\
<img src=x onerror=alert(3)>\n\n\
<a href=\"javascript:alert(4)\" onclick=\"alert(5)\">raw link</a>\n\n\
<iframe src=\"https://evil.example/\"></iframe><svg onload=alert(6)></svg>\n\n\
<div style=\"background:url(javascript:alert(7))\">styled</div>\n\n\
[docs](https://developer.example.tw/pay) and **bold** and `code < 1`\n\n\
| 欄位 | 說明 |\n|---|---|\n| amount | 金額 |\n";

fn api(name: &str, prefix: &str, portal: Value) -> Value {
    json!({"name": name, "prefix": prefix, "upstreams": ["http://127.0.0.1:9"], "portal": portal})
}

/// The catalogue's entities, written straight into the configuration log (as `config apply`
/// would): two published versions of a family, an unpublished API, one without portal fields.
pub(crate) async fn seed(store: &gatewatch_store::Store) {
    let doc: Value = serde_json::from_str(DOC).unwrap();
    let mut v1 = api(
        "支付服務",
        "/pay",
        json!({"published": true, "category": "金融",
        "summary": "收款與退款", "tags": ["金流", "Payments"],
        "description": ATTACKS, "openapi": doc}),
    );
    v1["family"] = json!("payments");
    v1["version"] = json!("v1");
    let mut v2 = api(
        "支付服務",
        "/pay",
        json!({"published": true, "category": "金融",
        "summary": "收款、退款與分期", "tags": ["金流"]}),
    );
    v2["family"] = json!("payments");
    v2["version"] = json!("v2");
    v2["deprecation"] = json!({"since": "2026-01-01T00:00:00Z", "sunset": "2027-01-01T00:00:00Z"});
    put_entities(
        store,
        &[
            change(
                EntityKind::ApiFamily,
                "payments",
                json!({"name": "支付", "default_version": "v1"}),
            ),
            change(EntityKind::Api, "pay-v1", v1),
            change(EntityKind::Api, "pay-v2", v2),
            change(
                EntityKind::Api,
                "secret-pay",
                api("秘密支付 internal", "/secret", json!({"published": false,
                    "summary": "收款", "tags": ["金流"], "openapi": {"openapi": "3.0.0"}})),
            ),
            change(
                EntityKind::Api,
                "plain",
                json!({"name": "Plain 支付", "prefix": "/plain", "upstreams": ["http://127.0.0.1:9"]}),
            ),
        ],
    )
    .await;
}

/// Waits until the portal lists `want` published APIs.
pub(crate) async fn listed(portal: SocketAddr, want: usize) -> Value {
    for _ in 0..100 {
        let r = raw_get(portal, "/portal-api/apis").await;
        if r.status == 200 && r.json()["apis"].as_array().map(Vec::len) == Some(want) {
            return r.json();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the portal never listed {want} APIs");
}

fn ids(v: &Value) -> Vec<String> {
    v["apis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

fn assert_secure(r: &Raw, what: &str) {
    for h in [
        "content-security-policy: default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "x-content-type-options: nosniff",
        "referrer-policy: same-origin",
    ] {
        assert!(r.head.contains(h), "{what}: no {h:?} in\n{}", r.head);
    }
    assert!(!r.head.contains("unsafe-inline"), "{what}: {}", r.head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_shows_only_published_apis_and_finds_them_in_chinese_and_latin() {
    let site = Site::new(
        "portal_catalogue",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    add_user(&site, "admin", "admin", "portal-admin-password-1");
    seed(&store).await;
    let _dash = site.start("dashboards").await;
    let portal = site.start("portal").await;
    let p = site.portal;

    // One published API through the admin API: the portal meets it in the configuration log.
    let admin = Api::login(site.dashboards, "admin", "portal-admin-password-1").await;
    let created = admin
        .post(
            "/api/v1/apis",
            json!({"id": "weather", "name": "Weather forecasts", "prefix": "/weather",
                "upstreams": ["http://127.0.0.1:9"],
                "portal": {"published": true, "category": "Public data",
                    "summary": "Hourly forecasts for Taiwan", "tags": ["氣象", "weather"]}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        created.body["body"]["portal"]["published"], true,
        "{}",
        created.text
    );

    let all = listed(p, 3).await;
    assert_eq!(ids(&all), ["pay-v1", "pay-v2", "weather"]);
    assert_eq!(all["total"], 3);
    let text = all.to_string();
    assert!(
        !text.contains("secret") && !text.contains("秘密") && !text.contains("Plain"),
        "{text}"
    );
    assert_eq!(
        all["categories"],
        json!([{"name": "Public data", "count": 1}, {"name": "金融", "count": 2}])
    );
    let v2 = &all["apis"][1];
    assert_eq!(v2["status"], "deprecated");
    assert_eq!(v2["version"], "v2");
    assert_eq!(v2["family_name"], "支付");
    assert_eq!(all["apis"][0]["status"], "active");

    // Search: name, summary and tags; Chinese as written; Latin in any case; every word.
    for (q, want) in [
        ("支付", vec!["pay-v1", "pay-v2"]),
        ("退款", vec!["pay-v1", "pay-v2"]),
        ("分期", vec!["pay-v2"]),
        ("金流", vec!["pay-v1", "pay-v2"]),
        ("氣象", vec!["weather"]),
        ("WEATHER", vec!["weather"]),
        ("forecasts taiwan", vec!["weather"]),
        ("payments", vec!["pay-v1"]),
        ("支付 weather", vec![]),
        ("秘密", vec![]),
        ("internal", vec![]),
    ] {
        let r = raw_get(p, &format!("/portal-api/apis?q={}", enc(q))).await;
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        assert_eq!(ids(&r.json()), want, "q={q}");
    }
    let r = raw_get(p, &format!("/portal-api/apis?category={}", enc("金融"))).await;
    assert_eq!(ids(&r.json()), ["pay-v1", "pay-v2"]);
    let r = raw_get(
        p,
        &format!("/portal-api/apis?category={}&q=v", enc("Public data")),
    )
    .await;
    assert_eq!(ids(&r.json()), Vec::<String>::new());

    // One API: description sanitized, versions, operations from its document.
    let one = raw_get(p, "/portal-api/apis/pay-v1").await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_secure(&one, "api json");
    let v = one.json();
    let html = v["description_html"].as_str().unwrap();
    assert!(html.contains("<h1>支付說明</h1>"), "{html}");
    assert!(
        html.contains("<table>") && html.contains("<td>金額</td>"),
        "{html}"
    );
    assert!(
        html.contains("href=\"https://developer.example.tw/pay\""),
        "{html}"
    );
    assert!(
        html.contains("rel=\"noopener noreferrer nofollow\""),
        "{html}"
    );
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script",
        "javascript:",
        "onerror",
        "onclick",
        "onload",
        "<iframe",
        "<svg",
        "style=",
    ] {
        assert!(!lower.contains(bad), "{bad} survived: {html}");
    }
    assert_eq!(v["versions"].as_array().unwrap().len(), 1);
    assert_eq!(v["versions"][0]["id"], "pay-v2");
    let ops = v["reference"]["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "{ops:?}");
    let get = ops.iter().find(|o| o["method"] == "GET").unwrap();
    assert_eq!(get["path"], "/pay/orders/{id}");
    assert_eq!(get["summary"], "查詢訂單");
    assert_eq!(get["parameters"][0]["name"], "id");
    assert_eq!(get["parameters"][0]["required"], true);
    assert_eq!(get["parameters"][1]["name"], "lang");
    assert_eq!(get["responses"][1]["description"], "沒有這筆訂單");
    assert_eq!(get["responses"][0]["schema"], "Order");
    let example = get["responses"][0]["example"].as_str().unwrap();
    assert!(
        example.contains("\"備註\": \"<script>alert(9)</script>\""),
        "{example}"
    );
    // Text from the document is text: the UI renders it as such (checked in the browser test).
    let del = ops.iter().find(|o| o["method"] == "DELETE").unwrap();
    assert_eq!(del["deprecated"], true);
    let doc = raw_get(p, "/portal-api/apis/pay-v1/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json()["info"]["title"], "支付 API");
    assert!(doc.head.contains("attachment"), "{}", doc.head);
    let page = raw_get(p, "/apis/pay-v1").await;
    assert_eq!(page.status, 200);
    assert!(page.head.contains("text/html"), "{}", page.head);
    assert_secure(&page, "api page");

    // Unpublished, without portal fields, unknown: one and the same 404, no hint.
    let unknown_json = raw_get(p, "/portal-api/apis/no-such-api").await;
    let unknown_page = raw_get(p, "/apis/no-such-api").await;
    let unknown_doc = raw_get(p, "/portal-api/apis/no-such-api/openapi.json").await;
    assert_eq!(unknown_json.status, 404);
    assert_eq!(unknown_page.status, 404);
    assert_eq!(unknown_doc.status, 404);
    for id in ["secret-pay", "plain", "pay-v2"] {
        let j = raw_get(p, &format!("/portal-api/apis/{id}")).await;
        let pg = raw_get(p, &format!("/apis/{id}")).await;
        let d = raw_get(p, &format!("/portal-api/apis/{id}/openapi.json")).await;
        if id == "pay-v2" {
            // Published, without a document: only the document is missing.
            assert_eq!((j.status, pg.status), (200, 200));
            assert_eq!(
                (d.status, d.body.as_str()),
                (404, unknown_doc.body.as_str())
            );
            continue;
        }
        assert_eq!(
            (j.status, j.body.as_str()),
            (404, unknown_json.body.as_str()),
            "{id}"
        );
        assert_eq!(
            (pg.status, pg.body.as_str()),
            (404, unknown_page.body.as_str()),
            "{id}"
        );
        assert_eq!(
            (d.status, d.body.as_str()),
            (404, unknown_doc.body.as_str()),
            "{id}"
        );
    }

    // Unpublishing takes an API off the portal within moments.
    let mut w = api(
        "Weather forecasts",
        "/weather",
        json!({"published": false, "summary": "x"}),
    );
    w["portal"]["tags"] = json!(["氣象"]);
    put_entity(&store, EntityKind::Api, "weather", &w).await;
    let all = listed(p, 2).await;
    assert_eq!(ids(&all), ["pay-v1", "pay-v2"]);
    assert_eq!(raw_get(p, "/portal-api/apis/weather").await.status, 404);
    let r = raw_get(p, &format!("/portal-api/apis?q={}", enc("氣象"))).await;
    assert_eq!(ids(&r.json()), Vec::<String>::new());

    // Health, readiness and metrics, as on every role.
    assert_eq!(raw_get(p, "/healthz").await.status, 200);
    assert_eq!(raw_get(p, "/readyz").await.status, 200);
    let m = raw_get(p, "/metrics").await;
    assert!(
        m.body.contains("gatewatch_portal_published_apis 2"),
        "{}",
        m.body
    );
    assert!(
        m.body.contains("gatewatch_up{role=\"portal\"} 1"),
        "{}",
        m.body
    );

    // Every page and file carries the security headers, 404s too.
    for target in [
        "/",
        "/apis/pay-v1",
        "/apis/nope",
        "/ui/app.js",
        "/ui/nope.js",
        "/nope",
        "/portal-api/apis",
    ] {
        let r = raw_get(p, target).await;
        assert_secure(&r, target);
    }
    drop(portal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_on_the_portal_answer_404_or_400_cleanly() {
    let site = Site::new(
        "portal_paths",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    seed(&store).await;
    let _portal = site.start("portal").await;
    let p = site.portal;
    listed(p, 2).await;
    let long = "a".repeat(10_000);
    let cases: Vec<(String, u16)> = vec![
        ("/apis/..".into(), 404),
        ("/apis/.".into(), 404),
        ("/apis/%2e%2e".into(), 404),
        ("/apis/..%2Fsecret-pay".into(), 404),
        ("/apis/pay-v1%2F..%2F..%2Fsecret-pay".into(), 404),
        ("/apis/%2Fetc%2Fpasswd".into(), 404),
        ("/apis/pay-v1/../secret-pay".into(), 404),
        ("/apis/secret-pay%00".into(), 404),
        ("/apis/pay-v1%00".into(), 404),
        ("/apis/PAY-V1".into(), 404),
        (format!("/apis/{long}"), 404),
        (format!("/portal-api/apis/{long}"), 404),
        ("/apis/%FF%FE".into(), 400),
        ("/portal-api/apis/%FF".into(), 400),
        ("/portal-api/apis/..%2Fsecret-pay".into(), 404),
        ("/portal-api/apis/../../etc/passwd".into(), 404),
        ("/portal-api/apis/secret-pay/openapi.json".into(), 404),
        ("/portal-api/apis/pay-v1/openapi.json/..".into(), 404),
        ("/ui/../Cargo.toml".into(), 404),
        ("/ui/%2e%2e/Cargo.toml".into(), 404),
        ("/ui/..%2F..%2FCargo.toml".into(), 404),
        ("/ui/%FF".into(), 400),
        (format!("/portal-api/apis?q={}", "x".repeat(201)), 400),
        ("/portal-api/apis?q=a&q=b".into(), 400),
    ];
    for (target, want) in cases {
        let r = raw_get(p, &target).await;
        let short: String = target.chars().take(60).collect();
        assert_eq!(r.status, want, "{short}: {}", r.body);
        assert!(
            !r.body.contains("secret") && !r.body.contains("秘密"),
            "{short}: {}",
            r.body
        );
        assert!(!r.body.contains("[package]"), "{short}: a file leaked");
        assert_secure(&r, &short);
        if want == 400 || r.head.contains("application/json") {
            assert!(r.json()["error"]["code"].is_string(), "{short}: {}", r.body);
        }
    }
    let r = raw_get(p, &format!("/portal-api/apis?q={}", "x".repeat(201))).await;
    assert_eq!(r.json()["error"]["field"], "q");
    // Only reads: a write is refused.
    let mut s = tokio::net::TcpStream::connect(p).await.unwrap();
    s.write_all(b"POST /portal-api/apis HTTP/1.1\r\nHost: p\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        .await
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 405"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_fields_and_listen_are_validated_naming_the_field() {
    let site = Site::new(
        "portal_fields",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    add_user(&site, "admin", "admin", "portal-admin-password-1");
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "admin", "portal-admin-password-1").await;
    let base = || json!({"id": "bad", "name": "Bad", "prefix": "/bad", "upstreams": ["http://127.0.0.1:9"]});
    let big = "x".repeat(600 * 1024);
    for (portal, field) in [
        (json!({"summary": "x".repeat(301)}), "portal.summary"),
        (json!({"summary": "two\nlines"}), "portal.summary"),
        (json!({"category": "c".repeat(65)}), "portal.category"),
        (
            json!({"description": "d".repeat(65_537)}),
            "portal.description",
        ),
        (json!({"tags": ["a", "a"]}), "portal.tags"),
        (json!({"tags": vec!["t"; 21]}), "portal.tags"),
        (json!({"openapi": {"swagger": "2.0"}}), "portal.openapi"),
        (json!({"openapi": {"openapi": "2.0"}}), "portal.openapi"),
        (json!({"openapi": "3.0.0"}), "portal.openapi"),
        (
            json!({"openapi": {"openapi": "3.0.0", "info": {"description": big}}}),
            "portal.openapi",
        ),
        (json!({"published": "yes"}), "portal.published"),
        (json!({"publish": true}), "portal"),
    ] {
        let mut b = base();
        b["portal"] = portal.clone();
        let r = admin.post("/api/v1/apis", b).await;
        assert!(
            r.status == 422 || r.status == 400 || r.status == 413,
            "{portal}: {} {}",
            r.status,
            r.text
        );
        let got = r.body["error"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            got.starts_with(field),
            "{portal}: field {got:?} in {}",
            r.text
        );
    }
    // A good one is taken and read back whole.
    let mut b = base();
    b["portal"] = json!({"published": true, "summary": "好", "tags": ["甲"],
        "openapi": {"openapi": "3.1.0", "paths": {}}});
    let r = admin.post("/api/v1/apis", b).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["body"]["portal"]["openapi"]["openapi"], "3.1.0");

    // `config check` on an entities file names the field too.
    let f = site.dir.path().join("entities.toml");
    std::fs::write(
        &f,
        "[[api]]\nid = \"x\"\nname = \"X\"\nprefix = \"/x\"\nupstreams = [\"http://127.0.0.1:9\"]\n\
         portal = { published = true, tags = [\"a\", \"a\"] }\n",
    )
    .unwrap();
    let out = gatewatch(
        &["config", "check", f.to_str().unwrap()],
        &site.config_path(),
    )
    .output()
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("portal.tags[1]"), "{text}");

    // `[portal] listen`: the file and the environment, each refusal naming the key.
    let cfg = std::fs::read_to_string(site.config_path()).unwrap();
    let cfg = cfg.replace(
        &format!("listen = \"{}\"", site.portal),
        "listen = \"not an address\"",
    );
    std::fs::write(site.config_path(), cfg).unwrap();
    let out = gatewatch(&["portal"], &site.config_path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("portal.listen") && text.contains("not an address"),
        "{text}"
    );
    let out = gatewatch(&["portal"], &site.config_path())
        .env("GATEWATCH_PORTAL_LISTEN", "127.0.0.1:99999")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("portal.listen") && text.contains("99999"),
        "{text}"
    );
    let out = gatewatch(&["config", "show"], &site.config_path())
        .env("GATEWATCH_PORTAL_LISTEN", "127.0.0.1:18094")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("[portal]") && text.contains("listen = \"127.0.0.1:18094\""),
        "{text}"
    );
    let out = gatewatch(&["portal"], &site.config_path())
        .env("GATEWATCH_PORTAL_MAX_CONNECTIONS", "0")
        .env("GATEWATCH_PORTAL_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("portal.max_connections"), "{text}");
}

#[test]
fn the_default_portal_listen_is_8094() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("none.toml");
    std::fs::write(&cfg, "").unwrap();
    let out = gatewatch(&["config", "show"], &cfg)
        .env_remove("GATEWATCH_PORTAL_LISTEN")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let portal = text.split("[portal]").nth(1).unwrap_or_default();
    assert!(portal.contains("listen = \"127.0.0.1:8094\""), "{text}");
}
