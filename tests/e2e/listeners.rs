//! Every listener of the running binary against clients that hold connections: a slowloris
//! client (half a request head, then a byte now and then) is cut after the read-header
//! timeout, connections past `max_connections` are closed at once while the open ones keep
//! working; and the gateway's own `/healthz`, `/readyz`, `/metrics` live on its admin port
//! while the proxy port routes those paths to an API like any other.

use crate::helpers::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An upstream that answers every path with 200 `upstream saw {path}`.
async fn echo_path_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let text = format!("upstream saw {}", req.uri().path());
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

async fn get(url: &str) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let r = client.get(url.parse().unwrap()).await.unwrap();
    let status = r.status().as_u16();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_port_routes_every_path_and_the_admin_port_serves_the_gateways_own() {
    let up = echo_path_upstream().await;
    let site = Site::new(
        "listeners_admin",
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!("[[routes]]\nprefix = \"/\"\nupstreams = [\"http://{up}\"]\n"),
    );
    site.migrate().await;
    let _gw = site.start("gateway").await;
    // The proxy port: an API with prefix `/` owns `/metrics`, `/healthz` and `/readyz`.
    for path in ["/metrics", "/healthz", "/readyz"] {
        let (status, body) = get(&site.url(path)).await;
        assert_eq!(
            (status, body.as_str()),
            (200, format!("upstream saw {path}").as_str())
        );
    }
    // The admin port: the gateway's own answers.
    let (status, body) = get(&site.admin_url("/healthz")).await;
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, body) = get(&site.admin_url("/readyz")).await;
    assert_eq!((status, body.trim()), (200, "ready"));
    let (status, body) = get(&site.admin_url("/metrics")).await;
    assert_eq!(status, 200);
    // The three proxied calls were counted as calls.
    assert!(
        body.contains("gatewatch_gateway_requests_total{outcome=\"ok\"} 3"),
        "{body}"
    );
    assert!(
        body.contains("gatewatch_gateway_connections_refused_total 0"),
        "{body}"
    );
    let (status, _) = get(&site.admin_url("/anything")).await;
    assert_eq!(status, 404);
}

#[test]
fn config_show_prints_the_admin_port_and_the_listener_limits_at_their_defaults() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatewatch"))
        .args(["config", "show"])
        .env_remove("GATEWATCH_GATEWAY_ADMIN_LISTEN")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for line in [
        "admin_listen = \"127.0.0.1:8081\"",
        "max_connections = 10000",
        "header_read_timeout_ms = 10000",
        "batch_max_bytes = 8388608",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
}

/// Every port `up` opens, by name.
fn ports(site: &Site) -> Vec<(&'static str, SocketAddr)> {
    vec![
        ("gateway", site.gateway),
        ("gateway admin", site.gateway_admin),
        ("collector", site.collector),
        ("dashboards", site.dashboards),
        ("alerter", site.alerter),
        ("reports", site.reports),
        ("portal", site.portal),
    ]
}

/// Sets `lines` in every role's section.
fn tune_all(site: &Site, lines: &str) {
    for section in [
        "gateway",
        "collector",
        "dashboards",
        "alerter",
        "reports",
        "portal",
    ] {
        site.tune(section, lines);
    }
}

/// Reads until the server closes the connection (EOF or reset); `false` if it still holds it
/// after `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or the like before the close is fine: keep reading to the end.
            Ok(Ok(_)) => continue,
        }
    }
}

/// One whole `GET /healthz` on `stream`; the status code of the answer.
async fn healthz_on(stream: &mut TcpStream) -> Option<u16> {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_cut_after_the_header_timeout_on_every_listener() {
    let site = Site::new(
        "listeners_slow",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    tune_all(&site, "header_read_timeout_ms = 1000");
    site.migrate().await;
    let _up = site.start("up").await;
    for (name, addr) in ports(&site) {
        // Half a head, then one byte every 200 ms: the timer runs from the head's start, so
        // trickling does not extend it.
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            .await
            .unwrap();
        let trickle = async {
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if slow.write_all(b"a").await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(20), trickle).await;
        assert!(
            closed_by_server(&mut slow, Duration::from_secs(5)).await,
            "{name} ({addr}) still holds a connection that never finished its head"
        );
        // One that sends nothing at all is cut too.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        assert!(
            closed_by_server(&mut idle, Duration::from_secs(20)).await,
            "{name} ({addr}) still holds a silent connection"
        );
        // And the port still serves whole requests.
        let mut ok = TcpStream::connect(addr).await.unwrap();
        let status = healthz_on(&mut ok).await;
        assert!(
            status.is_some(),
            "{name} ({addr}) no longer answers a whole request"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_while_open_ones_keep_working() {
    let site = Site::new(
        "listeners_cap",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    // Long enough that the held connections are not cut by the header timeout mid-test.
    tune_all(&site, "max_connections = 3\nheader_read_timeout_ms = 60000");
    // No node samples: the gateway's shipper would hold a connection of the collector's three.
    site.tune("gateway", "sample_interval_secs = 3600");
    site.migrate().await;
    let _up = site.start("up").await;
    for (name, addr) in ports(&site) {
        if name == "gateway admin" {
            // Its cap is fixed (256); the proxy port's setting does not apply.
            continue;
        }
        // Three held connections, each proven open by a whole request (keep-alive).
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut c = TcpStream::connect(addr).await.unwrap();
            assert!(healthz_on(&mut c).await.is_some(), "{name}: first three");
            held.push(c);
        }
        // The fourth: accepted by the kernel, closed by the server unread.
        let mut extra = TcpStream::connect(addr).await.unwrap();
        let _ = extra
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .await;
        assert!(
            closed_by_server(&mut extra, Duration::from_secs(10)).await,
            "{name} ({addr}) took a fourth connection past max_connections = 3"
        );
        // The held ones still work.
        for c in &mut held {
            assert!(healthz_on(c).await.is_some(), "{name}: a held connection");
        }
        // A place frees when one closes: a new connection is served again. The server sees
        // the close asynchronously, and another role's shipper may take the freed place first
        // and keep it idle in its pool for up to 5 s (`pool_idle_timeout`): so tries for up to
        // 30 s, well past that.
        drop(held.pop());
        let mut served = false;
        for _ in 0..300 {
            let mut c = TcpStream::connect(addr).await.unwrap();
            if healthz_on(&mut c).await.is_some() {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(served, "{name} ({addr}) never served again after a close");
    }
    // The gateway counted what it refused.
    let (_, metrics) = get(&site.admin_url("/metrics")).await;
    let refused: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gatewatch_gateway_connections_refused_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(refused >= 1, "{metrics}");
}
