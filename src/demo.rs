//! `gatewatch up --demo`: a small built-in upstream, a public demo API in front of it (`/demo`,
//! from the file), a second API that wants an API key (`/shop`, in the configuration log with
//! two demo clients, their group and keys), alert rules (one of which fires on the shop's
//! flaky errors), a weekly report subscription, and a trickle of mixed traffic — GETs, and
//! orders POSTed with a card number the gateway masks — so every page has something to show.
//!
//! The demo keys are kept in `<data_dir>/secret/demo-*-key` (mode 0600) so that every start
//! prints the same working key; the entities are written only when missing, so changes made
//! through the admin API survive a restart.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::Config;
use gatewatch_model::EntityKind;
use gatewatch_store::config_log::{self, Change};
use gatewatch_store::Store;

/// Ids of the demo entities in the configuration log.
pub const DEMO_API: &str = "demo-shop";
pub const DEMO_CLIENT: &str = "demo-client";
pub const DEMO_GROUP: &str = "demo";
pub const DEMO_KEY_ID: &str = "demo-key";
const KEY_FILE: &str = "secret/demo-api-key";
/// A second client, so the per-client reports compare two.
pub const PARTNER_CLIENT: &str = "demo-partner";
const PARTNER_KEY_ID: &str = "demo-partner-key";
const PARTNER_KEY_FILE: &str = "secret/demo-partner-key";

/// The demo keys: the demo client's (printed) and the partner's.
#[derive(Debug, Clone)]
pub struct DemoKeys {
    pub client: String,
    pub partner: String,
}

/// The demo upstream's address.
pub struct DemoUpstream {
    pub addr: SocketAddr,
}

/// Starts the upstream (on 127.0.0.1:9080, or any free port if that is taken) and adds the
/// demo API `/demo` → upstream to the gateway's routes.
pub async fn start_upstream(config: &mut Config) -> anyhow::Result<DemoUpstream> {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:9080").await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("demo upstream: cannot listen")?,
    };
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let post = req.method() == hyper::Method::POST;
                        let path = req.uri().path().to_string();
                        // Read the order to the end, as a real service would.
                        let _ = req.into_body().collect().await;
                        Ok::<_, Infallible>(upstream_answer(&path, post).await)
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    config.gateway.routes.push(gatewatch_gateway::RouteConfig {
        prefix: "/demo".into(),
        upstreams: vec![format!("http://{addr}")],
        strip_prefix: true,
        api_id: "demo".into(),
        api_name: "示範 API (demo)".into(),
        spec: None,
    });
    Ok(DemoUpstream { addr })
}

async fn upstream_answer(path: &str, post: bool) -> Response<Full<Bytes>> {
    let (status, body) = match path {
        "/orders" if post => (
            StatusCode::CREATED,
            format!(
                r#"{{"order":"{}","status":"accepted","card":{{"last4":"1111"}}}}"#,
                1000 + pseudo_random() % 9000
            ),
        ),
        "/hello" => (
            StatusCode::OK,
            r#"{"message":"hello from the demo upstream"}"#.to_string(),
        ),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            (
                StatusCode::OK,
                r#"{"message":"that took a while"}"#.to_string(),
            )
        }
        "/flaky" => {
            if pseudo_random().is_multiple_of(5) {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    r#"{"error":"flaky upstream"}"#.to_string(),
                )
            } else {
                (
                    StatusCode::OK,
                    r#"{"message":"fine this time"}"#.to_string(),
                )
            }
        }
        p if p.starts_with("/orders/") => (
            StatusCode::OK,
            format!(
                r#"{{"order":"{}","status":"shipped"}}"#,
                &p["/orders/".len()..]
            ),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            r#"{"error":"no such demo resource"}"#.to_string(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Registers the demo API that wants a key, the demo clients, their group and keys, alert
/// rules and a report subscription (each only when missing), and returns the keys.
pub async fn register(
    store: &Store,
    config: &Config,
    up: &DemoUpstream,
) -> anyhow::Result<DemoKeys> {
    let upstream = format!("http://{}", up.addr);
    let bodies = [
        (
            EntityKind::Api,
            DEMO_API,
            serde_json::json!({
                "name": "示範商店 API (demo shop, key required)",
                "module": "demo",
                "prefix": "/shop",
                "strip_prefix": true,
                "upstreams": [upstream],
                "auth": ["api_key"],
                "capture": {"mode": "bodies", "max_bytes": 2048},
                "masking": {"json_paths": ["card.number", "card.cvc"]},
                "portal": demo_portal(),
            }),
        ),
        (
            EntityKind::Group,
            DEMO_GROUP,
            serde_json::json!({"name": "示範群組 (demo group)", "apis": ["demo-*"]}),
        ),
        (
            EntityKind::Client,
            DEMO_CLIENT,
            serde_json::json!({
                "name": "示範客戶 (demo client)",
                "tps": {"per_second": 20, "burst": 40},
                "quota": {"per_day": 100000},
                "groups": [DEMO_GROUP],
            }),
        ),
        (
            EntityKind::Client,
            PARTNER_CLIENT,
            serde_json::json!({
                "name": "合作夥伴 (demo partner)",
                "tps": {"per_second": 10, "burst": 20},
                "quota": {"per_day": 50000},
                "groups": [DEMO_GROUP],
            }),
        ),
        // Fires within a few minutes: a fifth of /shop/flaky's answers are 500s, about 4.5 % of
        // the shop's calls; the line at 2 % keeps the early, noisy minutes from resetting it.
        (
            EntityKind::AlertRule,
            "demo-shop-errors",
            serde_json::json!({
                "name": "示範商店錯誤率 (demo shop errors)",
                "severity": "critical",
                "kind": {"type": "api_error_rate", "window_secs": 300, "min_calls": 20},
                "scope": {"api": DEMO_API},
                "threshold": 2, "recovery": 1, "for_secs": 60, "repeat_secs": 3600,
                "recipients": {"roles": ["ops"]},
            }),
        ),
        (
            EntityKind::AlertRule,
            "demo-latency",
            serde_json::json!({
                "name": "示範 API 延遲 (demo p95 latency)",
                "kind": {"type": "api_latency", "quantile": "p95", "window_secs": 300, "min_calls": 20},
                "scope": {"api": "demo"},
                "threshold": 1500, "recovery": 1000, "for_secs": 120, "repeat_secs": 3600,
                "recipients": {"roles": ["ops"]},
            }),
        ),
        (
            EntityKind::AlertRule,
            "node-cpu-high",
            serde_json::json!({
                "name": "節點 CPU 過高 (node CPU)",
                "kind": {"type": "node_cpu"},
                "threshold": 90, "recovery": 80, "for_secs": 180, "repeat_secs": 1800,
                "timezone": "Asia/Taipei",
                "windows": [{"type": "weekly", "days": ["sat", "sun"], "from": "22:00", "until": "06:00"}],
                "recipients": {"roles": ["ops"]},
            }),
        ),
        (
            EntityKind::ReportSubscription,
            "demo-weekly-usage",
            serde_json::json!({
                "name": "每週 API 用量 (weekly usage)",
                "report": "usage",
                "params": {"range": "last_week"},
                "cron": "0 8 * * 1",
                "timezone": "Asia/Taipei",
                "recipients": {"roles": ["manager"]},
            }),
        ),
    ];
    let mut changes = Vec::new();
    for (kind, id, body) in bodies {
        if config_log::get(store, kind, id).await?.is_none() {
            changes.push(Change {
                kind,
                id: id.into(),
                body: body.to_string(),
                deleted: false,
                expected_version: Some(0),
            });
        }
    }

    let client = demo_key(
        store,
        config,
        DEMO_KEY_ID,
        DEMO_CLIENT,
        KEY_FILE,
        &mut changes,
    )
    .await?;
    let partner = demo_key(
        store,
        config,
        PARTNER_KEY_ID,
        PARTNER_CLIENT,
        PARTNER_KEY_FILE,
        &mut changes,
    )
    .await?;
    if !changes.is_empty() {
        let now_us = chrono::Utc::now().timestamp_micros();
        config_log::write(
            store,
            "gatewatch up --demo",
            "demo entities",
            &changes,
            now_us,
        )
        .await
        .context("cannot register the demo entities")?;
    }
    Ok(DemoKeys { client, partner })
}

/// The key `key_id` of `client_id`: the one kept in `file` while the stored key still matches
/// it, else a new one (its entity pushed onto `changes`, the key written to `file`).
async fn demo_key(
    store: &Store,
    config: &Config,
    key_id: &str,
    client_id: &str,
    file: &str,
    changes: &mut Vec<Change>,
) -> anyhow::Result<String> {
    let pepper = &config.gateway.pepper;
    let key_path = config.data_dir.join(file);
    let kept = std::fs::read_to_string(&key_path)
        .ok()
        .map(|k| k.trim().to_string());
    let stored = config_log::get(store, EntityKind::ApiKey, key_id).await?;
    let still_good = match (&kept, &stored) {
        (Some(k), Some(e)) if !e.deleted => {
            let spec: Option<gatewatch_model::ApiKeySpec> = serde_json::from_str(&e.body).ok();
            spec.is_some_and(|s| {
                !s.revoked && gatewatch_model::secret::verify_secret(pepper, k, &s.hash)
            })
        }
        _ => false,
    };
    if let (Some(k), true) = (kept, still_good) {
        return Ok(k);
    }
    let key = new_key()?;
    let spec = serde_json::json!({
        "client_id": client_id,
        "hash": gatewatch_model::secret::hash_secret(pepper, &key),
        "hint": &key[..10],
    });
    changes.push(Change {
        kind: EntityKind::ApiKey,
        id: key_id.into(),
        body: spec.to_string(),
        deleted: false,
        expected_version: None,
    });
    crate::pepper::write_private(&key_path, key.as_bytes())
        .with_context(|| format!("cannot keep the demo key in {}", key_path.display()))?;
    Ok(key)
}

/// What the developer portal shows of the demo shop: published, with a Markdown description
/// and a small OpenAPI document of its two operations.
fn demo_portal() -> serde_json::Value {
    serde_json::json!({
        "published": true,
        "category": "示範 (demo)",
        "summary": "查詢與建立訂單 — orders: look one up, place one (API key required)",
        "tags": ["訂單", "orders", "demo"],
        "description": "# 示範商店 API\n\n\
            Each call needs an API key in `X-API-Key` (the demo prints one). \
            每次呼叫都需要 `X-API-Key` 標頭中的 API 金鑰。\n\n\
            | 操作 | 說明 |\n|---|---|\n\
            | `GET /shop/orders/{id}` | 查詢訂單 (look up an order) |\n\
            | `POST /shop/orders` | 建立訂單；卡號由閘道遮罩 (place an order; the gateway masks the card number) |\n",
        "openapi": {
            "openapi": "3.0.3",
            "info": {"title": "示範商店 API (demo shop)", "version": "1.0"},
            "paths": {
                "/shop/orders/{id}": {"get": {
                    "summary": "查詢訂單 (look up an order)",
                    "parameters": [{"name": "id", "in": "path", "required": true,
                        "description": "訂單編號 (order number)", "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "the order",
                        "content": {"application/json": {}}},
                        "401": {"description": "no or a bad API key"}}}},
                "/shop/orders": {"post": {
                    "summary": "建立訂單 (place an order)",
                    "requestBody": {"required": true, "content": {"application/json": {}}},
                    "responses": {"201": {"description": "created"},
                        "401": {"description": "no or a bad API key"}}}}
            },
            "components": {"securitySchemes": {"apiKey": {"type": "apiKey", "in": "header",
                "name": "X-API-Key"}}},
            "security": [{"apiKey": []}]
        }
    })
}

/// `gwk_` and 32 random bytes, base64url: the shape the admin API gives keys.
fn new_key() -> anyhow::Result<String> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(format!(
        "gwk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Prints where to look.
pub fn announce(config: &Config, up: &DemoUpstream, key: &str) {
    let gw = config.gateway.listen;
    println!();
    println!("gatewatch demo is running");
    println!("  demo upstream      http://{}", up.addr);
    println!("  try the gateway    curl -i http://{gw}/demo/hello");
    println!(
        "                     curl -i http://{gw}/demo/orders/42   (also /demo/slow, /demo/flaky)"
    );
    println!("  an API with a key  curl -i -H 'X-API-Key: {key}' http://{gw}/shop/orders/42");
    println!(
        "                     (client {DEMO_CLIENT}, 20 calls/s, burst 40; without the key: 401)"
    );
    println!(
        "  web UI             http://{}/  (user admin: its password is printed above on the first start; or `gatewatch user add NAME --role admin`)",
        config.dashboards_listen
    );
    println!(
        "  admin API          http://{}/api/v1/  (same login; /api/openapi.json)",
        config.dashboards_listen
    );
    println!(
        "  developer portal   http://{}/  (the published demo shop API and its documentation)",
        config.portal.listen
    );
    println!(
        "  demo alert rules, a weekly report subscription and a second client ({PARTNER_CLIENT}) are registered;"
    );
    println!(
        "                     orders are POSTed to /shop/orders with a card number the gateway masks"
    );
    println!(
        "  gateway metrics    curl -s http://{}/metrics  (the gateway's admin port)",
        config.gateway.admin_listen
    );
    println!(
        "  collector metrics  curl -s http://{}/metrics",
        config.collector.listen
    );
    println!(
        "  calls in ClickHouse  clickhouse-client -q \"SELECT api_name, status, outcome, latency_us FROM {}.api_calls ORDER BY ts DESC LIMIT 10\"",
        config.store.database
    );
    println!("  a trickle of demo traffic (about 5 calls/s) is running; Ctrl-C stops everything");
    println!();
}

/// About five calls a second through the gateway until `stop`: GETs of both APIs, and orders
/// POSTed to `/shop/orders` with a card number (masked by the gateway: look the call up in
/// call search). `/shop` calls carry the demo client's key, a quarter the partner's, and the
/// odd one none (a refusal to look at).
pub async fn trickle(gateway: SocketAddr, keys: DemoKeys, stop: impl Future<Output = ()>) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let header = |k: &str| hyper::header::HeaderValue::from_str(k).ok();
    let (key, partner) = (header(&keys.client), header(&keys.partner));
    let paths = [
        "/demo/hello",
        "/demo/hello",
        "/demo/orders/7",
        "/demo/flaky",
        "/demo/slow",
        "/demo/nope",
        "/shop/orders/7",
        "/shop/hello",
        "/shop/flaky",
        "/shop/orders",
    ];
    let items = ["烏龍茶禮盒", "鳳梨酥", "coffee beans", "月餅 (mooncakes)"];
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => return,
        }
        let path = paths[(pseudo_random() as usize) % paths.len()];
        let Ok(uri) = format!("http://{gateway}{path}").parse::<hyper::Uri>() else {
            continue;
        };
        let order = path == "/shop/orders";
        let mut req = Request::builder()
            .method(if order { "POST" } else { "GET" })
            .uri(uri);
        if path.starts_with("/shop") && !pseudo_random().is_multiple_of(10) {
            let k = if pseudo_random().is_multiple_of(4) {
                &partner
            } else {
                &key
            };
            if let Some(k) = k {
                req = req.header("x-api-key", k.clone());
            }
        }
        let body = if order {
            req = req.header("content-type", "application/json");
            let r = pseudo_random();
            serde_json::json!({
                "item": items[(r as usize) % items.len()],
                "qty": 1 + r % 3,
                "card": {"number": "4111 1111 1111 1111", "cvc": "123", "holder": "王小明"},
            })
            .to_string()
        } else {
            String::new()
        };
        let Ok(req) = req.body(Full::new(Bytes::from(body))) else {
            continue;
        };
        let client = client.clone();
        tokio::spawn(async move {
            if let Ok(resp) = client.request(req).await {
                let _ = resp.into_body().collect().await;
            }
        });
    }
}

/// Good enough for picking demo paths; not for anything else.
fn pseudo_random() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let mut x = STATE.load(Ordering::Relaxed)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x
}
