//! `gatewatch up --demo`: a small built-in upstream, a demo API in front of it, and a trickle
//! of mixed traffic, so every page has something to show.

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

/// Prints where to look.
pub fn announce(config: &Config, up: &DemoUpstream) {
    let gw = config.gateway.listen;
    println!();
    println!("gatewatch demo is running");
    println!("  demo upstream      http://{}", up.addr);
    println!("  try the gateway    curl -i http://{gw}/demo/hello");
    println!(
        "                     curl -i http://{gw}/demo/orders/42   (also /demo/slow, /demo/flaky)"
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

/// About five calls a second through the gateway until `stop`.
pub async fn trickle(gateway: SocketAddr, stop: impl Future<Output = ()>) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let paths = [
        "/demo/hello",
        "/demo/hello",
        "/demo/orders/7",
        "/demo/flaky",
        "/demo/slow",
        "/demo/nope",
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
        let client = client.clone();
        tokio::spawn(async move {
            if let Ok(resp) = client.get(uri).await {
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
