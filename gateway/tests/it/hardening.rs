//! Attacks on the proxy's edges: path spellings, forged client headers, malformed bodies, and
//! what error answers reveal.

use std::sync::Arc;
use std::time::Duration;

use gatewatch_gateway::RouteConfig;
use gatewatch_model::Outcome;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Writes `raw` on a fresh connection and reads until the peer closes or 5 s pass.
async fn raw_exchange(gw: &Gateway, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                out.extend_from_slice(&buf[..n]);
                // One answer is all we wait for.
                if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn paths_are_normalized_once_routed_and_forwarded_alike_or_refused() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col, state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.routes = vec![
        RouteConfig::new("/public", [format!("http://{}", up.addr)]),
        RouteConfig::new("/inner", [format!("http://{}", up.addr)]).strip_prefix(true),
    ];
    let gw = Gateway::start(c).await;

    // Forwarded as routed: the upstream sees the normal form; the query is untouched.
    for (sent, seen) in [
        ("/public/x/%2e%2e/%41b?q=%2e%2e/x", "/public/Ab?q=%2e%2e/x"),
        ("/public//a/./b/", "/public/a/b/"),
        ("/inner/%2E./public/y", "/public/y"),
        ("/public/../inner/z", "/z"),
        ("/public/caf%c3%a9", "/public/caf%C3%A9"),
    ] {
        let r = gw.get(sent).await;
        assert_eq!(r.status, 200, "{sent}: {:?}", r.body);
        assert_eq!(r.json()["uri"], seen, "{sent}");
    }
    let refused = [
        "/public/..%2finner/x",
        "/public/..%5Cinner",
        "/public/%00",
        "/public/..;/inner",
        "/public/../../inner",
        "/public/%zz",
    ];
    for p in refused {
        let r = gw.get(p).await;
        assert_eq!(r.status, 400, "{p}");
        assert_eq!(r.json()["error"]["code"], "bad_path", "{p}");
        assert!(r.header("x-request-id").is_some());
    }
    // A raw backslash and the asterisk form, which the client library will not send.
    let a = raw_exchange(&gw, b"GET /public/..\\inner HTTP/1.1\r\nhost: t\r\n\r\n").await;
    assert!(a.starts_with("HTTP/1.1 400"), "{a}");
    let a = raw_exchange(&gw, b"OPTIONS * HTTP/1.1\r\nhost: t\r\n\r\n").await;
    assert!(a.starts_with("HTTP/1.1 400"), "{a}");
    assert!(a.contains("bad_path"), "{a}");

    // Each refusal is recorded like the gateway's other refusals, with the path as sent.
    let n = 5 + refused.len() + 2;
    eventually(20, "every record", || state.records().len() >= n).await;
    let records = state.records();
    for p in refused {
        let r = records.iter().find(|r| r.path == p).unwrap();
        assert_eq!(
            (r.status, r.outcome),
            (400, Outcome::RefusedBadRequest),
            "{p}"
        );
        assert!(r.error.starts_with("bad_path: "), "{}", r.error);
        assert_eq!(r.api_id, "");
    }
}

#[tokio::test]
async fn a_client_cannot_forge_the_client_header_even_on_a_public_api() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col, _state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.routes = vec![RouteConfig::new("/api", [format!("http://{}", up.addr)])];
    c.client_header = "X-Caller".into();
    let gw = Gateway::start(c).await;
    let req = http::Request::get("/api/x")
        .header("x-caller", "admin")
        .header("X-Caller", "root")
        .header("x-api-key", "kept on a public API")
        .body(empty())
        .unwrap();
    let r = gw.send(req).await;
    assert_eq!(r.status, 200);
    let headers = r.json()["headers"].as_array().unwrap().clone();
    let names: Vec<&str> = headers.iter().map(|h| h[0].as_str().unwrap()).collect();
    assert!(!names.contains(&"x-caller"), "{names:?}");
    // Nothing authenticated the call: its headers go on as sent.
    assert!(names.contains(&"x-api-key"), "{names:?}");
}

#[tokio::test]
async fn upstream_failures_name_no_upstream_address_but_the_record_does() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col, state) = collector().await;
    let dead = dead_addr().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.upstream_timeout = Duration::from_millis(300);
    c.routes = vec![
        RouteConfig::new("/dead", [format!("http://{dead}")]),
        RouteConfig::new("/slow", [format!("http://{}", up.addr)]),
    ];
    let gw = Gateway::start(c).await;
    let r = gw.get("/dead/x").await;
    assert_eq!(r.status, 502);
    let r2 = gw.get("/slow/slow").await;
    assert_eq!(r2.status, 504);
    for (reply, addr) in [(&r, dead), (&r2, up.addr)] {
        let body = String::from_utf8_lossy(&reply.body);
        assert!(!body.contains("127.0.0.1"), "{body}");
        assert!(!body.contains(&addr.port().to_string()), "{body}");
        assert!(!reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .is_empty());
    }
    eventually(20, "both records", || state.records().len() >= 2).await;
    let records = state.records();
    let d = records.iter().find(|r| r.path == "/dead/x").unwrap();
    assert!(d.error.contains(&dead.to_string()), "{}", d.error);
    let s = records.iter().find(|r| r.path == "/slow/slow").unwrap();
    assert!(s.error.contains(&up.addr.to_string()), "{}", s.error);
}

#[tokio::test]
async fn a_bad_chunk_size_is_answered_400_not_499() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col, state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.routes = vec![RouteConfig::new("/api", [format!("http://{}", up.addr)])];
    let gw = Gateway::start(c).await;
    // `/upload` answers whatever part of the body it got; the echo drops the connection
    // when the body breaks: 400 either way.
    for (path, bad) in [
        ("/api/upload", &b"zz\r\nhello\r\n0\r\n\r\n"[..]),
        ("/api/upload", &b"5\r\nhello\r\nFFFFFFFFFFFFFFFFFF\r\n"[..]),
        ("/api/echo", &b"3\r\nabcXY0\r\n\r\n"[..]),
        ("/api/echo", &b"zz\r\n"[..]),
    ] {
        let mut req =
            format!("POST {path} HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n")
                .into_bytes();
        req.extend_from_slice(bad);
        let a = raw_exchange(&gw, &req).await;
        assert!(a.starts_with("HTTP/1.1 400"), "{a}");
        assert!(a.contains("\"bad_body\""), "{a}");
    }
    eventually(20, "the records", || state.records().len() >= 4).await;
    for r in state.records() {
        assert_eq!(
            (r.status, r.outcome),
            (400, Outcome::RefusedBadRequest),
            "{r:#?}"
        );
        assert!(r.error.starts_with("bad_body: "), "{}", r.error);
    }
}
