//! Proxying: routing, headers, errors, streaming, reserved paths.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gatewatch_gateway::RouteConfig;
use gatewatch_model::Outcome;
use http::Request;
use http_body_util::BodyExt;
use tokio::sync::oneshot;

use crate::support::*;

struct Setup {
    gw: Gateway,
    collector: Arc<CollectorState>,
    dead: std::net::SocketAddr,
    _servers: Vec<Server>,
    _spool: tempfile::TempDir,
}

/// A gateway with routes `/api` → a (prefix kept), `/api/v2` → b (prefix stripped),
/// `/rr` → a and b, `/dead` → nothing, `/half` → nothing then a.
async fn setup(tune: impl FnOnce(&mut gatewatch_gateway::GatewayConfig)) -> Setup {
    let signals = Arc::new(StreamSignals::default());
    setup_with(signals, tune).await
}

async fn setup_with(
    signals: Arc<StreamSignals>,
    tune: impl FnOnce(&mut gatewatch_gateway::GatewayConfig),
) -> Setup {
    let a = upstream("a", signals.clone()).await;
    let b = upstream("b", signals).await;
    let (col, state) = collector().await;
    let dead = dead_addr().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    let (ua, ub, ud) = (
        format!("http://{}", a.addr),
        format!("http://{}", b.addr),
        format!("http://{dead}"),
    );
    c.routes = vec![
        RouteConfig::new("/api", [ua.clone()]),
        RouteConfig::new("/api/v2", [ub.clone()]).strip_prefix(true),
        RouteConfig::new("/rr", [ua.clone(), ub.clone()]).strip_prefix(true),
        RouteConfig::new("/dead", [ud.clone()]),
        RouteConfig::new("/half", [ud, ua]).strip_prefix(true),
    ];
    tune(&mut c);
    let gw = Gateway::start(c).await;
    Setup {
        gw,
        collector: state,
        dead,
        _servers: vec![a, b, col],
        _spool: spool,
    }
}

async fn wait_records(state: &CollectorState, n: usize) -> Vec<gatewatch_model::CallRecord> {
    eventually(20, &format!("{n} records at the collector"), || {
        state.records().len() >= n
    })
    .await;
    state.records()
}

#[tokio::test]
async fn routes_by_longest_prefix_strips_it_and_keeps_the_query() {
    let s = setup(|_| {}).await;
    let r = s.gw.get("/api/users/7?x=1&y=%20z").await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["name"], "a");
    assert_eq!(j["uri"], "/api/users/7?x=1&y=%20z", "prefix kept");

    let j = s.gw.get("/api/v2/users?q=1").await.json();
    assert_eq!(j["name"], "b", "longest prefix wins");
    assert_eq!(j["uri"], "/users?q=1", "prefix stripped, query kept");

    let j = s.gw.get("/api/v2?q=2").await.json();
    assert_eq!(j["uri"], "/?q=2", "the rest always starts with /");

    let j = s.gw.get("/api/v20").await.json();
    assert_eq!(j["name"], "a", "prefixes match at a segment boundary");

    let records = wait_records(&s.collector, 4).await;
    let r = records.iter().find(|r| r.path == "/api/v2/users").unwrap();
    assert_eq!(r.query, "q=1");
    assert_eq!(r.route, "/api/v2/**");
    assert_eq!(
        (r.api_id.as_str(), r.api_name.as_str()),
        ("/api/v2", "/api/v2")
    );
    assert!(r.upstream.starts_with("http://127.0.0.1:"));
    assert_eq!(r.node, "gw-test");
}

#[tokio::test]
async fn round_robin_spreads_calls_over_upstreams() {
    let s = setup(|_| {}).await;
    let mut names = Vec::new();
    for _ in 0..6 {
        names.push(
            s.gw.get("/rr/x").await.json()["name"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(names.iter().filter(|n| *n == "a").count(), 3, "{names:?}");
    assert!(
        names.windows(2).all(|w| w[0] != w[1]),
        "alternates: {names:?}"
    );
    let records = wait_records(&s.collector, 6).await;
    let mut ups: Vec<&str> = records.iter().map(|r| r.upstream.as_str()).collect();
    ups.sort();
    ups.dedup();
    assert_eq!(ups.len(), 2, "records name the upstream chosen");
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_and_forwarding_headers_set_both_ways() {
    let s = setup(|_| {}).await;
    let req = Request::get("/api/echo")
        .header("host", "public.example:8080")
        .header("connection", "keep-alive, x-client-hop")
        .header("x-client-hop", "secret")
        .header("keep-alive", "timeout=5")
        .header("proxy-authorization", "Basic abc")
        .header("te", "trailers")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .header("x-custom", "kept")
        .body(empty())
        .unwrap();
    let r = s.gw.send(req).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    let seen: Vec<(String, String)> = serde_json::from_value(j["headers"].clone()).unwrap();
    let get = |name: &str| {
        seen.iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    for gone in ["x-client-hop", "keep-alive", "proxy-authorization", "te"] {
        assert!(
            get(gone).is_empty(),
            "{gone} must not reach the upstream: {seen:?}"
        );
    }
    // hyper's client may add its own `connection` handling; the client's value must not pass.
    assert!(!get("connection").iter().any(|v| v.contains("x-client-hop")));
    assert_eq!(get("x-custom"), ["kept"]);
    assert_eq!(get("x-forwarded-for"), ["203.0.113.9, 127.0.0.1"]);
    assert_eq!(get("x-forwarded-proto"), ["http"]);
    assert_eq!(get("x-forwarded-host"), ["public.example:8080"]);
    let host = get("host");
    assert_eq!(host.len(), 1);
    assert!(
        host[0].starts_with("127.0.0.1:"),
        "Host is the upstream's: {host:?}"
    );
    let rid = get("x-request-id");
    assert_eq!(rid.len(), 1);

    // On the way back: the upstream's hop-by-hop headers are gone, the request id is ours.
    for gone in ["x-up-hop", "keep-alive", "proxy-authenticate"] {
        assert!(r.header(gone).is_none(), "{gone} must not reach the client");
    }
    assert_ne!(r.header("connection"), Some("x-up-hop"));
    assert_eq!(r.header("x-request-id"), Some(rid[0]));
}

#[tokio::test]
async fn request_id_is_kept_when_valid_and_generated_otherwise() {
    let s = setup(|_| {}).await;
    let send = |rid: Option<String>| {
        let mut req = Request::get("/api/echo");
        if let Some(rid) = rid {
            req = req.header("x-request-id", rid);
        }
        s.gw.send(req.body(empty()).unwrap())
    };
    let r = send(Some("client-id-42".into())).await;
    assert_eq!(r.header("x-request-id"), Some("client-id-42"));
    let seen = r.json()["headers"].to_string();
    assert!(seen.contains("client-id-42"), "passed upstream: {seen}");

    for bad in [Some("x".repeat(129)), None] {
        let r = send(bad).await;
        let rid = r.header("x-request-id").unwrap().to_string();
        let id = uuid::Uuid::parse_str(&rid).expect("a generated UUID");
        assert_eq!(id.get_version_num(), 7);
    }

    // Gateway errors carry it too.
    let r =
        s.gw.send(
            Request::get("/nowhere")
                .header("x-request-id", "err-1")
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("err-1"));

    let records = wait_records(&s.collector, 4).await;
    assert!(records.iter().any(|r| r.request_id == "client-id-42"));
    let generated: Vec<_> = records
        .iter()
        .filter(|r| r.request_id != "client-id-42" && r.request_id != "err-1")
        .collect();
    assert_eq!(generated.len(), 2);
    for r in generated {
        assert_eq!(
            r.request_id,
            r.call_id.to_string(),
            "a generated id is the call id"
        );
    }
}

#[tokio::test]
async fn no_route_answers_404_json() {
    let s = setup(|_| {}).await;
    let r = s.gw.get("/nowhere/x?y=1").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert_eq!(j["error"]["code"], "no_route");
    assert!(j["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/nowhere/x"));
    let rec = &wait_records(&s.collector, 1).await[0];
    assert_eq!((rec.status, rec.outcome), (404, Outcome::NoRoute));
    assert_eq!(rec.api_id, "");
    assert_eq!(rec.upstream, "");
    assert!(rec.error.contains("no route"));
}

#[tokio::test]
async fn dead_upstream_answers_502_after_trying_the_next_one() {
    let s = setup(|_| {}).await;
    let r = s.gw.get("/dead/x").await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"]["code"], "upstream_unreachable");
    assert!(r.header("x-request-id").is_some());

    // `/half` = [dead, a]: every call lands on a, with or without a body. Calls of one kind
    // in a row, so that round robin sends every other one to the dead upstream first.
    for i in 0..4 {
        let r = s.gw.get("/half/x").await;
        assert_eq!(r.status, 200, "GET {i}");
    }
    for i in 0..4 {
        let req = Request::post("/half/upload")
            .header("content-length", "5")
            .body(full("hello"))
            .unwrap();
        let r = s.gw.send(req).await;
        assert_eq!(r.status, 200, "POST {i}");
        assert_eq!(&r.body[..], b"5", "the body survives the retry");
    }
    let records = wait_records(&s.collector, 9).await;
    let dead = records.iter().find(|r| r.path == "/dead/x").unwrap();
    assert_eq!(
        (dead.status, dead.outcome),
        (502, Outcome::UpstreamUnreachable)
    );
    assert!(dead.error.contains("cannot connect"), "{}", dead.error);
    assert!(records
        .iter()
        .filter(|r| r.path.starts_with("/half"))
        .all(|r| r.outcome == Outcome::Ok && r.upstream != format!("http://{}", s.dead)));
    let posts: Vec<_> = records
        .iter()
        .filter(|r| r.path == "/half/upload")
        .collect();
    assert_eq!(posts.len(), 4);
    assert!(posts.iter().all(|r| r.request_bytes == 5));
}

#[tokio::test]
async fn slow_upstream_answers_504() {
    let s = setup(|c| c.upstream_timeout = Duration::from_millis(300)).await;
    let r = s.gw.get("/api/slow").await;
    assert_eq!(r.status, 504);
    assert_eq!(r.json()["error"]["code"], "upstream_timeout");
    let rec = &wait_records(&s.collector, 1).await[0];
    assert_eq!((rec.status, rec.outcome), (504, Outcome::Timeout));
    assert!(
        rec.upstream_latency_us >= 300_000,
        "{}",
        rec.upstream_latency_us
    );
    assert!(rec.latency_us >= rec.upstream_latency_us);
}

#[tokio::test]
async fn large_bodies_stream_both_ways_and_are_counted() {
    let signals = Arc::new(StreamSignals::default());
    let (started_tx, started_rx) = oneshot::channel();
    *signals.upload_started.lock().unwrap() = Some(started_tx);
    let (seen_tx, seen_rx) = oneshot::channel();
    *signals.download_seen.lock().unwrap() = Some(seen_rx);
    let s = setup_with(signals, |_| {}).await;

    // Upload 20 MiB: the upstream must see the first MiB before the client sends the rest,
    // which it cannot if the gateway buffered the body.
    let (tx, body) = chan_body();
    let req = Request::post("/api/upload").body(body).unwrap();
    let gw = &s.gw;
    let sending = async move {
        let chunk = Bytes::from(vec![b'u'; MIB]);
        tx.send(chunk.clone()).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), started_rx)
            .await
            .expect("upstream saw the first bytes while the upload was still open")
            .unwrap();
        for _ in 1..20 {
            tx.send(chunk.clone()).await.unwrap();
        }
    };
    let (reply, ()) = tokio::join!(gw.send(req), sending);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, (20 * MIB).to_string());

    // Download 20 MiB: the upstream holds back after the first MiB until the client has it.
    let resp = gw
        .send_streaming(Request::get("/api/download").body(empty()).unwrap())
        .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut got = 0usize;
    let mut seen_tx = Some(seen_tx);
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("download bytes arrive while the upstream is still sending")
    {
        got += frame.unwrap().into_data().map(|d| d.len()).unwrap_or(0);
        if got >= MIB {
            if let Some(tx) = seen_tx.take() {
                let _ = tx.send(());
            }
        }
    }
    assert_eq!(got, 20 * MIB);

    let records = wait_records(&s.collector, 2).await;
    let up = records.iter().find(|r| r.path == "/api/upload").unwrap();
    assert_eq!(up.request_bytes, (20 * MIB) as u64);
    assert_eq!(up.response_bytes, 8);
    let down = records.iter().find(|r| r.path == "/api/download").unwrap();
    assert_eq!(down.response_bytes, (20 * MIB) as u64);
    assert_eq!(down.request_bytes, 0);
    assert_eq!(down.outcome, Outcome::Ok);
}

#[tokio::test]
async fn the_admin_port_answers_health_and_metrics_and_the_proxy_port_routes_them() {
    let s = setup(|c| {
        // A catch-all API owns every path of the proxy port, `/metrics` included.
        let up = c.routes[0].upstreams.clone();
        c.routes.push(RouteConfig::new("/", up));
    })
    .await;
    // Proxied: the upstream answers, and the calls are recorded.
    for path in ["/metrics", "/healthz", "/readyz"] {
        let r = s.gw.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        let j = r.json();
        assert_eq!(
            (j["name"].as_str(), j["uri"].as_str()),
            (Some("a"), Some(path))
        );
    }
    // The admin port: the gateway's own answers, not recorded.
    let r = s.gw.admin_get("/healthz").await;
    assert_eq!((r.status.as_u16(), r.body.trim_ascii()), (200, &b"ok"[..]));
    let r = s.gw.admin_get("/readyz").await;
    assert_eq!(r.status, 200);
    let r =
        s.gw.admin_send(Request::post("/healthz").body(empty()).unwrap())
            .await;
    assert_eq!(r.status, 405);
    assert_eq!(s.gw.admin_get("/other").await.status, 404);
    let r = s.gw.admin_get("/metrics").await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(text.contains("# TYPE gatewatch_gateway_requests_total counter"));
    assert!(text.contains("gatewatch_gateway_records_dropped_total{reason=\"queue_full\"} 0"));
    assert!(
        text.contains("gatewatch_gateway_connections_refused_total 0"),
        "{text}"
    );
    assert_eq!(
        s.gw.metric("gatewatch_gateway_requests_total{outcome=\"ok\"}")
            .await,
        3
    );
    // The per-API series of the catch-all API: three calls, 2xx, with their latencies.
    let api_line = text
        .lines()
        .find(|l| {
            l.starts_with("gatewatch_gateway_api_requests_total{api=\"")
                && l.ends_with(",outcome=\"ok\",class=\"2xx\"} 3")
        })
        .unwrap_or_else(|| panic!("no per-API counter in\n{text}"));
    let api = api_line.split('"').nth(1).unwrap_or_default().to_string();
    for (name, n) in [
        ("gatewatch_gateway_api_request_duration_seconds_count", 3),
        ("gatewatch_gateway_api_upstream_duration_seconds_count", 3),
        ("gatewatch_gateway_api_overhead_seconds_count", 3),
        ("gatewatch_gateway_api_request_duration_seconds_bucket", 3),
    ] {
        let series = if name.ends_with("_bucket") {
            format!("{name}{{api=\"{api}\",le=\"+Inf\"}}")
        } else {
            format!("{name}{{api=\"{api}\"}}")
        };
        assert_eq!(s.gw.metric(&series).await, n, "{series}");
    }
    assert!(text.contains("# TYPE gatewatch_gateway_api_upstream_duration_seconds histogram\n"));
    assert!(
        text.contains("gatewatch_up{role=\"gateway\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("gatewatch_build_info{version=\""), "{text}");
    assert!(
        text.contains("# TYPE process_resident_memory_bytes gauge\n"),
        "{text}"
    );
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    // OpenMetrics for a scraper that asks for it (Prometheus does).
    let r =
        s.gw.admin_send(
            Request::get("/metrics")
                .header(
                    "accept",
                    "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
                )
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let om = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(
        om.contains("# TYPE gatewatch_gateway_requests counter\n"),
        "{om}"
    );
    assert!(
        om.contains("gatewatch_gateway_requests_total{outcome=\"ok\"} 3\n"),
        "{om}"
    );
    let records = wait_records(&s.collector, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.collector.records().len(), 3, "{records:?}");
    let mut paths: Vec<String> = s.collector.records().into_iter().map(|r| r.path).collect();
    paths.sort();
    assert_eq!(paths, ["/healthz", "/metrics", "/readyz"]);
}
