//! `gatewatch up --demo`: a small built-in upstream, a public demo API in front of it (`/demo`,
//! from the file), a second API that wants an API key (`/shop`, in the configuration log with
//! a demo client, its group and a key), and a trickle of mixed traffic, so every page has
//! something to show.
//!
//! The demo key is kept in `<data_dir>/secret/demo-api-key` (mode 0600) so that every start
//! prints the same working key; the entities are written only when missing, so changes made
//! through the admin API survive a restart.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
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
                        Ok::<_, Infallible>(upstream_answer(req.uri().path()).await)
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

async fn upstream_answer(path: &str) -> Response<Full<Bytes>> {
    let (status, body) = match path {
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

/// Registers the demo API that wants a key, the demo client, its group and its key (each only
/// when missing), and returns the key.
pub async fn register(store: &Store, config: &Config, up: &DemoUpstream) -> anyhow::Result<String> {
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
                "masking": {"json_paths": ["card.number"]},
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

    let pepper = &config.gateway.pepper;
    let key_path = config.data_dir.join(KEY_FILE);
    let kept = std::fs::read_to_string(&key_path)
        .ok()
        .map(|k| k.trim().to_string());
    let stored = config_log::get(store, EntityKind::ApiKey, DEMO_KEY_ID).await?;
    let still_good = match (&kept, &stored) {
        (Some(k), Some(e)) if !e.deleted => {
            let spec: Option<gatewatch_model::ApiKeySpec> = serde_json::from_str(&e.body).ok();
            spec.is_some_and(|s| {
                !s.revoked && gatewatch_model::secret::verify_secret(pepper, k, &s.hash)
            })
        }
        _ => false,
    };
    let key = match kept {
        Some(k) if still_good => k,
        _ => {
            let key = new_key()?;
            let spec = serde_json::json!({
                "client_id": DEMO_CLIENT,
                "hash": gatewatch_model::secret::hash_secret(pepper, &key),
                "hint": &key[..10],
            });
            changes.push(Change {
                kind: EntityKind::ApiKey,
                id: DEMO_KEY_ID.into(),
                body: spec.to_string(),
                deleted: false,
                expected_version: None,
            });
            crate::pepper::write_private(&key_path, key.as_bytes())
                .with_context(|| format!("cannot keep the demo key in {}", key_path.display()))?;
            key
        }
    };
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
    Ok(key)
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
        "  admin API          http://{}/api/v1/  (first admin's password: printed above on first start; or `gatewatch user add NAME --role admin`)",
        config.dashboards_listen
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

/// About five calls a second through the gateway until `stop`; `/shop` calls carry the demo
/// key, except the odd one without (a refusal to look at).
pub async fn trickle(gateway: SocketAddr, key: String, stop: impl Future<Output = ()>) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let key = hyper::header::HeaderValue::from_str(&key).ok();
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
    ];
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
        let mut req = Request::get(uri);
        if path.starts_with("/shop") && !pseudo_random().is_multiple_of(10) {
            if let Some(k) = &key {
                req = req.header("x-api-key", k.clone());
            }
        }
        let Ok(req) = req.body(Empty::new()) else {
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
