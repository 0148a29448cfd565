//! The recorder: one record per call on every exit path.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use gatewatch_gateway::RouteConfig;
use gatewatch_model::Outcome;
use http::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Writes a raw request, reads `read_at_least` bytes of the answer, then hangs up.
async fn call_and_hang_up(gw: &Gateway, path: &str, read_at_least: usize, wait: Duration) {
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: test\r\nuser-agent: quitter/1\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    while got < read_at_least {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed early");
        got += n;
    }
    tokio::time::sleep(wait).await;
    drop(s);
}

#[tokio::test]
async fn every_call_gives_exactly_one_record() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col, state) = collector().await;
    let dead = dead_addr().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.upstream_timeout = Duration::from_millis(300);
    c.batch_max_records = 4; // several batches
    c.routes = vec![
        RouteConfig::new("/api", [format!("http://{}", up.addr)]),
        RouteConfig::new("/dead", [format!("http://{dead}")]),
    ];
    let gw = Gateway::start(c).await;

    let mut want: Vec<(Outcome, usize)> = Vec::new();
    for _ in 0..5 {
        assert_eq!(gw.get("/api/echo").await.status, 200);
    }
    for _ in 0..2 {
        let r = gw
            .send(Request::head("/api/echo").body(empty()).unwrap())
            .await;
        assert_eq!(r.status, 200);
    }
    want.push((Outcome::Ok, 7));
    for _ in 0..3 {
        assert_eq!(gw.get("/api/status/404").await.status, 404);
    }
    want.push((Outcome::ClientError, 3));
    for _ in 0..2 {
        assert_eq!(gw.get("/api/status/503").await.status, 503);
    }
    want.push((Outcome::UpstreamError, 2));
    for _ in 0..2 {
        assert_eq!(gw.get("/elsewhere").await.status, 404);
    }
    want.push((Outcome::NoRoute, 2));
    for _ in 0..2 {
        assert_eq!(gw.get("/dead/x").await.status, 502);
    }
    want.push((Outcome::UpstreamUnreachable, 2));
    assert_eq!(gw.get("/api/slow").await.status, 504);
    want.push((Outcome::Timeout, 1));
    // The client leaves in the middle of an endless body.
    call_and_hang_up(&gw, "/api/forever", 100 * 1024, Duration::from_millis(50)).await;
    want.push((Outcome::ClientAborted, 1));
    // The admin port's answers are not calls: never recorded.
    gw.admin_get("/healthz").await;
    gw.admin_get("/metrics").await;

    let total: usize = want.iter().map(|(_, n)| n).sum();
    eventually(20, "all records", || state.records().len() >= total).await;
    // Nothing more comes later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let records = state.records();
    assert_eq!(records.len(), total, "{records:#?}");
    let ids: HashSet<_> = records.iter().map(|r| r.call_id).collect();
    assert_eq!(ids.len(), total, "call ids are unique");
    for (outcome, n) in want {
        let got = records.iter().filter(|r| r.outcome == outcome).count();
        assert_eq!(got, n, "{outcome}");
        assert_eq!(
            gw.metric(&format!(
                "gatewatch_gateway_requests_total{{outcome=\"{outcome}\"}}"
            ))
            .await,
            n as u64
        );
    }
    let aborted = records
        .iter()
        .find(|r| r.outcome == Outcome::ClientAborted)
        .unwrap();
    assert_eq!(aborted.status, 200, "the status the client was given");
    assert!(aborted.response_bytes > 0);
    assert_eq!(aborted.user_agent, "quitter/1");
    assert!(state.record_batches().len() >= 4, "split into batches of 4");
    assert_eq!(
        gw.metric("gatewatch_gateway_records_shipped_total").await,
        total as u64
    );
    assert_eq!(
        gw.metric("gatewatch_gateway_records_queued_total").await,
        total as u64
    );
}

#[tokio::test]
async fn client_leaving_before_the_response_head_is_recorded_once_as_aborted() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col, state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.routes = vec![RouteConfig::new("/api", [format!("http://{}", up.addr)])];
    let gw = Gateway::start(c).await;

    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /api/slow HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(s);

    eventually(20, "the record", || !state.records().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let records = state.records();
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!((r.status, r.outcome), (499, Outcome::ClientAborted));
    assert_eq!(r.response_bytes, 0);
    assert!(
        r.latency_us < 2_000_000,
        "recorded when the client left, not when the upstream answered"
    );
}

#[tokio::test]
async fn client_leaving_mid_upload_is_recorded_once_as_aborted() {
    let signals = Arc::new(StreamSignals::default());
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    *signals.upload_started.lock().unwrap() = Some(started_tx);
    let up = upstream("a", signals).await;
    let (col, state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.routes = vec![RouteConfig::new("/api", [format!("http://{}", up.addr)])];
    let gw = Gateway::start(c).await;

    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /api/upload HTTP/1.1\r\nhost: test\r\ncontent-length: 1000000\r\n\r\n")
        .await
        .unwrap();
    s.write_all(&[b'x'; 64 * 1024]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), started_rx)
        .await
        .expect("upload reached the upstream")
        .unwrap();
    drop(s);

    eventually(20, "the record", || !state.records().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let records = state.records();
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!(
        (r.status, r.outcome),
        (499, Outcome::ClientAborted),
        "{r:#?}"
    );
    assert!(r.error.contains("client"), "{}", r.error);
    assert!(
        r.request_bytes > 0 && r.request_bytes <= 64 * 1024,
        "{}",
        r.request_bytes
    );
}

#[tokio::test]
async fn records_carry_ids_timings_and_the_client() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col, state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.routes = vec![{
        let mut r = RouteConfig::new("/api", [format!("http://{}", up.addr)]);
        r.api_id = "api-1".into();
        r.api_name = "查詢餘額".into();
        r
    }];
    let gw = Gateway::start(c).await;
    let r = gw
        .send(
            Request::post("/api/echo?acct=9")
                .header("user-agent", "tester/2")
                .body(full("0123456789"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
    let body_len = r.body.len() as u64;

    eventually(20, "the record", || !state.records().is_empty()).await;
    let rec = state.records().remove(0);
    assert!(rec.validate().is_ok(), "{:?}", rec.validate());
    assert_eq!(rec.method, "POST");
    assert_eq!(
        (rec.path.as_str(), rec.query.as_str()),
        ("/api/echo", "acct=9")
    );
    assert_eq!(
        (rec.api_id.as_str(), rec.api_name.as_str()),
        ("api-1", "查詢餘額")
    );
    assert_eq!(rec.client_ip, "127.0.0.1");
    assert_eq!(rec.user_agent, "tester/2");
    assert_eq!((rec.request_bytes, rec.response_bytes), (10, body_len));
    assert_eq!(rec.upstream, format!("http://{}", up.addr));
    // The call id's time prefix is the start time, to the millisecond.
    let (secs, nanos) = rec.call_id.get_timestamp().unwrap().to_unix();
    let id_ms = secs as i64 * 1000 + i64::from(nanos / 1_000_000);
    assert_eq!(id_ms, rec.ts_us / 1000);
    assert!(rec.latency_us >= rec.upstream_latency_us);
    assert_eq!(rec.overhead_us, rec.latency_us - rec.upstream_latency_us);
    assert!(rec.upstream_latency_us > 0);
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    assert!(now_us - rec.ts_us < 60_000_000);
}
